//! The root disk of a system with processes: the tree of
//! `images/rootfs.proto` plus the user programs ([`DISK_PROGRAMS`]:
//! `/sbin/init`, `/bin/proctest`, ...) and `/etc/rc`, the list of commands
//! init runs. Made with the `mfs` tool's library ([`make_image`]) from a
//! generated proto file.

use crate::build::{BuildOutput, DISK_PROGRAMS, workspace_root};
use crate::mfstool::{Contents, make_image};
use anyhow::{Context, bail};
use mfs::mkfs::MkfsOptions;
use std::path::{Path, PathBuf};

/// A regular file to put on the disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskFile {
    /// Absolute path on the disk, one directory deep (`/bin/child`).
    pub path: String,
    /// The host file with its contents.
    pub host: PathBuf,
    /// Permission bits (set-uid 04000 and set-gid 02000 included).
    pub perm: u16,
    /// Owner.
    pub uid: u16,
    /// Group.
    pub gid: u16,
}

/// The `/etc/rc` of `scripts/boot.sh`: nothing to run, so the system
/// comes straight to init's console shell; the process demonstration and
/// benchmarks are a command away (`proctest forkexec 10 cow signals`,
/// `procbench secs=2`).
pub const DEFAULT_RC: &str = "\
# /etc/rc: the commands init runs at boot, one per line (program and
# arguments), before it starts the shell on the console; a last line
# 'shutdown' powers off when all are done instead.
";

/// The built user programs as disk files (root-owned, mode 0755).
pub fn user_programs(out: &BuildOutput) -> Vec<DiskFile> {
    DISK_PROGRAMS
        .iter()
        .map(|(_, bin, path)| DiskFile {
            path: path.to_string(),
            host: out.disk_dir().join(bin),
            perm: 0o755,
            uid: 0,
            gid: 0,
        })
        .collect()
}

fn mode_field(perm: u16) -> String {
    format!(
        "-{}{}{:03o}",
        if perm & 0o4000 != 0 { 'u' } else { '-' },
        if perm & 0o2000 != 0 { 'g' } else { '-' },
        perm & 0o777
    )
}

/// `rootfs` (a proto file's text) with `files` added: each goes into its
/// top-level directory, which is made (0755, root) when the proto has
/// none. Host paths must be absolute and free of blanks.
pub fn proto_with(rootfs: &str, files: &[DiskFile]) -> anyhow::Result<String> {
    let mut lines: Vec<String> = rootfs.lines().map(String::from).collect();
    for f in files {
        let host = f.host.to_string_lossy();
        if !f.host.is_absolute() || host.contains(char::is_whitespace) {
            bail!(
                "{}: host path must be absolute without blanks",
                f.host.display()
            );
        }
        let rest = f
            .path
            .strip_prefix('/')
            .with_context(|| format!("{}: not an absolute path", f.path))?;
        let (dir, name) = rest
            .split_once('/')
            .with_context(|| format!("{}: not in a directory", f.path))?;
        if dir.is_empty() || name.is_empty() || name.contains('/') {
            bail!("{}: only files one directory deep", f.path);
        }
        let entry = format!(
            "    {name} {} {} {} {host}",
            mode_field(f.perm),
            f.uid,
            f.gid
        );
        // The directory's line inside the root: two blanks of indent.
        let at = lines.iter().position(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            l.starts_with("  ")
                && !l.starts_with("   ")
                && t.first() == Some(&dir)
                && t.get(1).is_some_and(|m| m.starts_with('d'))
        });
        match at {
            Some(i) => {
                // Last in the directory: before its closing `$`.
                let close = lines[i + 1..]
                    .iter()
                    .position(|l| l.trim_end() == "  $")
                    .with_context(|| format!("directory {dir} is not closed"))?;
                lines.insert(i + 1 + close, entry);
            }
            None => {
                let end = lines
                    .iter()
                    .rposition(|l| l.trim() == "$")
                    .context("the proto file has no closing $")?;
                lines.splice(
                    end..end,
                    [format!("  {dir} d--755 0 0"), entry, "  $".to_string()],
                );
            }
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    Ok(text)
}

/// `images/rootfs.proto` with its host paths made absolute.
pub fn rootfs_proto() -> anyhow::Result<String> {
    let root = workspace_root();
    let path = root.join("images/rootfs.proto");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.replace(" images/", &format!(" {}/images/", root.display())))
}

/// Writes the proto file of the system tree (the rootfs tree, `files`,
/// and `rc` as `/etc/rc`) as `BASE.proto`, with the rc text in `BASE.rc`,
/// and returns the proto file's path. The root disk and the installation
/// ISO (`images::iso`) are made from it.
pub fn write_proto(base: &Path, files: &[DiskFile], rc: &str) -> anyhow::Result<PathBuf> {
    let rc_file = absolute(&base.with_extension("rc"))?;
    std::fs::write(&rc_file, rc).with_context(|| format!("writing {}", rc_file.display()))?;
    let mut all = files.to_vec();
    all.push(DiskFile {
        path: "/etc/rc".into(),
        host: rc_file,
        perm: 0o644,
        uid: 0,
        gid: 0,
    });
    for f in &all {
        if !f.host.is_file() {
            bail!("{} (for {}) does not exist", f.host.display(), f.path);
        }
    }
    let proto = base.with_extension("proto");
    std::fs::write(&proto, proto_with(&rootfs_proto()?, &all)?)
        .with_context(|| format!("writing {}", proto.display()))?;
    Ok(proto)
}

/// Makes the root disk `img` (`size` bytes, 4 KiB blocks): the rootfs
/// tree, `files`, and `rc` as `/etc/rc`. The proto file and rc text are
/// written beside `img` (`IMG.proto`, `IMG.rc`).
pub fn make_root_disk(img: &Path, size: u64, files: &[DiskFile], rc: &str) -> anyhow::Result<()> {
    let proto = write_proto(img, files, rc)?;
    let _ = std::fs::remove_file(img);
    let mut o = MkfsOptions::new(0);
    o.blocks = size / u64::from(o.block_size);
    o.time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0);
    make_image(img, &o, Contents::Proto(&proto))?;
    Ok(())
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mfstool::tree::{Kind, parse_proto};

    fn file(path: &str, host: &str, perm: u16) -> DiskFile {
        DiskFile {
            path: path.into(),
            host: host.into(),
            perm,
            uid: 0,
            gid: 0,
        }
    }

    #[test]
    fn files_go_into_existing_and_new_directories() {
        let base = "boot\n0 0\nd--755 0 0\n  etc d--755 0 0\n    motd ---644 0 0 /m\n  $\n$\n";
        let text = proto_with(
            base,
            &[
                file("/etc/rc", "/h/rc", 0o644),
                file("/bin/child", "/h/child", 0o755),
                file("/bin/su", "/h/su", 0o4755),
                file("/sbin/init", "/h/init", 0o755),
            ],
        )
        .unwrap();
        let p = parse_proto(&text).unwrap();
        let names = |n: &crate::mfstool::tree::Node| match &n.kind {
            Kind::Dir(v) => v
                .iter()
                .map(|c| String::from_utf8_lossy(&c.name).into_owned())
                .collect::<Vec<_>>(),
            _ => vec![],
        };
        let top: Vec<String> = p
            .entries
            .iter()
            .map(|n| String::from_utf8_lossy(&n.name).into_owned())
            .collect();
        assert_eq!(top, ["etc", "bin", "sbin"]);
        assert_eq!(names(&p.entries[0]), ["motd", "rc"]);
        assert_eq!(names(&p.entries[1]), ["child", "su"]);
        let Kind::Dir(bin) = &p.entries[1].kind else {
            panic!("bin is a directory")
        };
        assert_eq!(bin[1].attr.perm, 0o4755);
        assert_eq!(bin[0].kind, Kind::File("/h/child".into()));
    }

    #[test]
    fn bad_paths_are_refused() {
        let base = "boot\n0 0\nd--755 0 0\n$\n";
        assert!(proto_with(base, &[file("/a/b/c", "/h", 0o644)]).is_err());
        assert!(proto_with(base, &[file("/top", "/h", 0o644)]).is_err());
        assert!(proto_with(base, &[file("/bin/x", "rel", 0o644)]).is_err());
        assert!(proto_with(base, &[file("/bin/x", "/a b", 0o644)]).is_err());
    }

    #[test]
    fn makes_a_root_disk_with_programs_and_rc() {
        let dir = tempfile::tempdir().unwrap();
        let prog = dir.path().join("prog");
        std::fs::write(&prog, b"\x7fELF program bytes").unwrap();
        let img = dir.path().join("root.mfs");
        make_root_disk(
            &img,
            16 << 20,
            &[file("/bin/prog", prog.to_str().unwrap(), 0o755)],
            "/bin/prog a b\nshutdown\n",
        )
        .unwrap();
        let run = |args: &[&str]| {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = crate::mfstool::run_with(
                std::iter::once("mfs").chain(args.iter().copied()),
                &mut out,
                &mut err,
            );
            assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
            String::from_utf8_lossy(&out).into_owned()
        };
        let img_s = img.to_str().unwrap();
        assert_eq!(run(&["cat", img_s, "/etc/rc"]), "/bin/prog a b\nshutdown\n");
        assert_eq!(run(&["cat", img_s, "/bin/prog"]), "\x7fELF program bytes");
        let ls = run(&["ls", "-l", img_s, "/bin"]);
        assert!(ls.contains("-rwxr-xr-x"), "{ls}");
        assert!(run(&["ls", img_s, "/etc"]).contains("motd"));
    }
}
