//! `/etc/mtab`, the list of mounted file systems `mount` keeps (as MINIX's
//! mount does: VFS itself has no call that lists mounts), one line per
//! mount: `device directory type options`. And the file server a disk
//! device needs: MFS instance `mfs` serves minor 0 of the disk driver
//! (major 3, `/dev/c0d0`), `mfsN` serves minor N-1.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// The path of the mount table.
pub const MTAB: &str = "/etc/mtab";
/// Major number of the disk driver (`/dev/c0dN`).
pub const DISK_MAJOR: u32 = 3;

/// One mounted file system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Device (or label) it was mounted from.
    pub dev: String,
    /// Mount point.
    pub dir: String,
    /// File-system type (`mfs`).
    pub fstype: String,
    /// Options (`rw`).
    pub opts: String,
}

impl Entry {
    /// The entry as an mtab line (without the newline).
    pub fn line(&self) -> String {
        format!("{} {} {} {}", self.dev, self.dir, self.fstype, self.opts)
    }

    /// The entry as `mount` lists it.
    pub fn describe(&self) -> String {
        format!(
            "{} on {} type {} ({})",
            self.dev, self.dir, self.fstype, self.opts
        )
    }
}

/// The entries of mtab text; malformed lines and `#` comments are
/// skipped.
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, dir) = (f.next()?, f.next()?);
            Some(Entry {
                dev: dev.into(),
                dir: dir.into(),
                fstype: f.next().unwrap_or("mfs").into(),
                opts: f.next().unwrap_or("rw").into(),
            })
        })
        .collect()
}

/// The text of `entries`.
pub fn format(entries: &[Entry]) -> String {
    let mut s = String::new();
    for e in entries {
        s.push_str(&e.line());
        s.push('\n');
    }
    s
}

/// `entries` without the (last) mount on `dir`; `None` if none is there.
pub fn remove(entries: &[Entry], dir: &str) -> Option<Vec<Entry>> {
    let at = entries.iter().rposition(|e| e.dir == dir)?;
    let mut out = entries.to_vec();
    out.remove(at);
    Some(out)
}

/// The label of the MFS instance that serves block device
/// (`major`, `minor`), if any does.
pub fn label_for_device(major: u32, minor: u32) -> Option<String> {
    match (major, minor) {
        (DISK_MAJOR, 0) => Some("mfs".into()),
        (DISK_MAJOR, m) if m < 255 => Some(format!("mfs{}", m + 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_removal() {
        let text = "# mounts\n/dev/c0d0 / mfs rw\n/dev/c0d1 /mnt mfs rw\nbroken\n";
        let e = parse(text);
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].dir, "/mnt");
        assert_eq!(e[1].describe(), "/dev/c0d1 on /mnt type mfs (rw)");
        assert_eq!(format(&e), "/dev/c0d0 / mfs rw\n/dev/c0d1 /mnt mfs rw\n");
        let left = remove(&e, "/mnt").unwrap();
        assert_eq!(format(&left), "/dev/c0d0 / mfs rw\n");
        assert_eq!(remove(&e, "/nowhere"), None);
        let short = parse("mfs2 /x\n");
        assert_eq!(short[0].line(), "mfs2 /x mfs rw");
    }

    #[test]
    fn labels_for_disks() {
        assert_eq!(label_for_device(3, 0).as_deref(), Some("mfs"));
        assert_eq!(label_for_device(3, 1).as_deref(), Some("mfs2"));
        assert_eq!(label_for_device(3, 3).as_deref(), Some("mfs4"));
        assert_eq!(label_for_device(1, 0), None);
        assert_eq!(label_for_device(4, 0), None);
    }
}
