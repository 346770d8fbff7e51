//! `/etc/mtab`, the list of mounted file systems `mount` keeps (as MINIX's
//! mount does: VFS itself has no call that lists mounts), one line per
//! mount: `device directory type options`. And the file server a disk
//! device needs (`sys::devname`): MFS instance `mfs` serves minor 0 of the
//! virtio-blk driver (major 3, `/dev/c0d0`), `mfsN` minor N-1, `mfs-c1d0`
//! the IDE disk `/dev/c1d0` (major 8); ISOFS instances likewise
//! (`isofs2`, `isofs-c1d2`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// The path of the mount table.
pub const MTAB: &str = "/etc/mtab";

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

/// File-system types `mount -t` knows: the program RS runs for each.
pub const FS_TYPES: &[&str] = &["mfs", "isofs"];

/// The label of the instance of file server `fs` (`mfs`, `isofs`) that
/// serves block device (`major`, `minor`), if it is a disk.
pub fn label_for_device(fs: &str, major: u32, minor: u32) -> Option<String> {
    let disk = sys::devname::DiskName::from_device(major, minor)?;
    Some(sys::devname::instance_label(fs, disk))
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
        assert_eq!(label_for_device("mfs", 3, 0).as_deref(), Some("mfs"));
        assert_eq!(label_for_device("mfs", 3, 1).as_deref(), Some("mfs2"));
        assert_eq!(label_for_device("mfs", 3, 3).as_deref(), Some("mfs4"));
        assert_eq!(label_for_device("isofs", 3, 1).as_deref(), Some("isofs2"));
        assert_eq!(
            label_for_device("isofs", 8, 2).as_deref(),
            Some("isofs-c1d2")
        );
        assert_eq!(label_for_device("mfs", 8, 0).as_deref(), Some("mfs-c1d0"));
        assert_eq!(label_for_device("mfs", 8, 4), None);
        assert_eq!(label_for_device("mfs", 1, 0), None);
        assert_eq!(label_for_device("mfs", 4, 0), None);
    }
}
