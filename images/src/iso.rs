//! The bootable installation ISO (`images iso OUT.iso`), like MINIX's CD:
//! the system tree of the root disk (`images::rootdisk`: the same
//! programs, `/etc` and `/dev`), plus `/boot/kernel` (the multiboot
//! kernel), `/boot/modules/*` (the boot modules, each named after its
//! process) and `/boot/grub/grub.cfg` (`setup_core::grub_cfg` of
//! `setup_core::ISO_MODULES`: the root is the ISO itself, through isofs),
//! made bootable by `grub-mkrescue` (El Torito for `-cdrom`, and a hybrid
//! MBR so that the image also boots as a disk).
//!
//! Owners, modes and device nodes. `grub-mkrescue` runs `xorriso -as
//! mkisofs -r`, which makes every file root's and readable by all; a
//! wrapper given as `--xorriso` turns `-r` into `-R`, so Rock Ridge records
//! the tree as it is on the host: set-uid bits, `/home/user` of uid 1000,
//! `/tmp` 1777 and the device nodes of `/dev` (Rock Ridge PN entries,
//! which isofs serves). xorriso has no command that makes a device node in
//! the image, so the nodes must exist in the host tree: as root the script
//! that builds the image makes them with `mknod` and sets the owners with
//! `chown`; as an ordinary user the same script runs under `fakeroot`,
//! whose `mknod` and `chown` are recorded in its own table and reported to
//! xorriso's `lstat` (nothing is made on the host). Without root or
//! `fakeroot` the tool refuses with a message saying so.

use crate::build::BuildOutput;
use crate::mfstool::tree::{Attr, Kind, Node, parse_proto};
use crate::rootdisk::{self, DiskFile};
use anyhow::{Context, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// GRUB's BIOS platform files (grub-pc-bin).
pub const GRUB_I386_PC: &str = "/usr/lib/grub/i386-pc";
/// The ISO's volume identifier.
pub const VOLUME_ID: &str = "MINIXRS_INSTALL";

/// The `/etc/rc` of the ISO: the root is read-only, so init runs nothing
/// that writes; the installer is a command away.
pub const ISO_RC: &str = "\
# /etc/rc of the installation ISO: the root file system is the ISO itself
# (isofs, read-only). Install onto a disk with 'setup /dev/c0d0'.
";

/// Shell-quotes `s` for the build script.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Copies the proto tree `nodes` into `dir` (files, directories,
/// symbolic links, hard links) and appends to `script` the commands that
/// need privileges or must come last: device nodes and FIFOs, owners, and
/// modes (directories after their contents).
fn materialize(nodes: &[Node], dir: &Path, root: &Path, script: &mut String) -> anyhow::Result<()> {
    for n in nodes {
        let name = std::str::from_utf8(&n.name)
            .with_context(|| format!("non-UTF-8 name in {}", dir.display()))?;
        let path = dir.join(name);
        let p = sh_quote(&path.to_string_lossy());
        match &n.kind {
            Kind::File(host) => {
                std::fs::copy(host, &path)
                    .with_context(|| format!("copying {} to {}", host.display(), path.display()))?;
            }
            Kind::Dir(children) => {
                std::fs::create_dir(&path).with_context(|| format!("making {}", path.display()))?;
                materialize(children, &path, root, script)?;
            }
            Kind::Symlink(target) => {
                let t = std::str::from_utf8(target).context("non-UTF-8 symlink target")?;
                std::os::unix::fs::symlink(t, &path)
                    .with_context(|| format!("making symlink {}", path.display()))?;
            }
            Kind::HardLink(other) => {
                let o = std::str::from_utf8(other).context("non-UTF-8 link path")?;
                std::fs::hard_link(root.join(o.trim_start_matches('/')), &path)
                    .with_context(|| format!("linking {}", path.display()))?;
                // Owner and mode are the first name's.
                continue;
            }
            Kind::Char(ma, mi) => writeln!(script, "mknod {p} c {ma} {mi}")?,
            Kind::Block(ma, mi) => writeln!(script, "mknod {p} b {ma} {mi}")?,
            Kind::Fifo => writeln!(script, "mkfifo {p}")?,
            Kind::Socket => bail!("{}: sockets cannot go on an ISO", path.display()),
        }
        if matches!(n.kind, Kind::Symlink(_)) {
            // chmod would follow the link; a link's own mode is not used.
            writeln!(script, "chown -h {}:{} {p}", n.attr.uid, n.attr.gid)?;
        } else {
            attrs(&n.attr, &p, script)?;
        }
    }
    Ok(())
}

fn attrs(a: &Attr, p: &str, script: &mut String) -> anyhow::Result<()> {
    writeln!(script, "chown -h {}:{} {p}", a.uid, a.gid)?;
    writeln!(script, "chmod {:o} {p}", a.perm)?;
    Ok(())
}

/// The boot modules of the ISO as (process name, host file) pairs.
pub fn boot_module_files(out: &BuildOutput) -> Vec<(String, PathBuf)> {
    setup_core::modules(setup_core::ISO_MODULES)
        .map(|m| (m.name.to_string(), out.program(m.program)))
        .collect()
}

/// How the build script gets the privileges that device nodes and owners
/// need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privilege {
    /// Running as root: `mknod` and `chown` for real in the temporary tree.
    Root,
    /// `fakeroot`: recorded and reported to xorriso, nothing made.
    Fakeroot,
}

fn privilege() -> anyhow::Result<Privilege> {
    if nix::unistd::geteuid().is_root() {
        return Ok(Privilege::Root);
    }
    let fakeroot = Command::new("fakeroot")
        .arg("true")
        .status()
        .is_ok_and(|s| s.success());
    if fakeroot {
        Ok(Privilege::Fakeroot)
    } else {
        bail!(
            "the ISO's /dev needs device nodes, which only root can make: run as root, or \
             install fakeroot (scripts/setup.sh does) to build the image as an ordinary user"
        )
    }
}

/// Checks that `grub-mkrescue` and GRUB's BIOS files are there.
pub fn check_tools() -> anyhow::Result<()> {
    let ok = Command::new("grub-mkrescue")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        bail!(
            "grub-mkrescue is missing: install grub-common, grub-pc-bin, xorriso and mtools \
             (scripts/setup.sh does)"
        );
    }
    if !Path::new(GRUB_I386_PC).join("cdboot.img").is_file() {
        bail!("{GRUB_I386_PC} has no cdboot.img: install grub-pc-bin (scripts/setup.sh does)");
    }
    Ok(())
}

/// Makes the installation ISO `iso` from the built system `out` with
/// `rc` as `/etc/rc` (usually [`ISO_RC`]) and `extra` files added to the
/// tree (as on the root disk).
pub fn make_iso(out: &BuildOutput, iso: &Path, rc: &str, extra: &[DiskFile]) -> anyhow::Result<()> {
    check_tools()?;
    let privilege = privilege()?;
    let work = tempfile::tempdir().context("making a temporary directory")?;
    let mut files = rootdisk::user_programs(out);
    let mtab = work.path().join("mtab");
    std::fs::write(&mtab, setup_core::iso_mtab())?;
    files.push(DiskFile {
        path: "/etc/mtab".into(),
        host: mtab,
        perm: 0o644,
        uid: 0,
        gid: 0,
    });
    files.extend_from_slice(extra);
    let proto_file = rootdisk::write_proto(&work.path().join("system"), &files, rc)?;
    let text = std::fs::read_to_string(&proto_file)?;
    let proto = parse_proto(&text).with_context(|| format!("{}", proto_file.display()))?;

    let tree = work.path().join("tree");
    std::fs::create_dir(&tree)?;
    let mut script = String::from("set -e\n");
    materialize(&proto.entries, &tree, &tree, &mut script)?;
    attrs(&proto.root, &sh_quote(&tree.to_string_lossy()), &mut script)?;

    // /boot: the kernel, the modules, GRUB's configuration.
    let modules = tree.join("boot/modules");
    std::fs::create_dir_all(&modules)?;
    std::fs::create_dir_all(tree.join("boot/grub"))?;
    std::fs::copy(&out.kernel32, tree.join("boot/kernel"))
        .with_context(|| format!("copying {}", out.kernel32.display()))?;
    for (name, host) in boot_module_files(out) {
        // Stripped: symbols are of no use to the kernel and would make
        // GRUB read megabytes more from the CD.
        let st = Command::new("objcopy")
            .arg("--strip-all")
            .arg(&host)
            .arg(modules.join(&name))
            .status()
            .context("running objcopy")?;
        if !st.success() {
            bail!("objcopy --strip-all {} failed", host.display());
        }
    }
    let cfg = setup_core::grub_cfg(&setup_core::BootEntry {
        title: "MINIX-rs installation ISO",
        append: setup_core::APPEND,
        modules: setup_core::ISO_MODULES,
    })
    .map_err(|e| anyhow::anyhow!("grub.cfg: {}", e.0))?;
    std::fs::write(tree.join("boot/grub/grub.cfg"), cfg)?;
    writeln!(
        script,
        "chown -R 0:0 {}",
        sh_quote(&tree.join("boot").to_string_lossy())
    )?;

    // grub-mkrescue's xorriso call, with -R for -r (see the module doc).
    let wrapper = work.path().join("xorriso-R");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n\
             # grub-mkrescue's xorriso with Rock Ridge as in the tree (-R, not -r)\n\
             for a; do shift; [ \"$a\" = -r ] && a=-R; set -- \"$@\" \"$a\"; done\n\
             exec xorriso \"$@\" -V {VOLUME_ID}\n"
        ),
    )?;
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let iso_abs = if iso.is_absolute() {
        iso.to_path_buf()
    } else {
        std::env::current_dir()?.join(iso)
    };
    let _ = std::fs::remove_file(&iso_abs);
    writeln!(
        script,
        "grub-mkrescue --xorriso={} -o {} {} 2>{}",
        sh_quote(&wrapper.to_string_lossy()),
        sh_quote(&iso_abs.to_string_lossy()),
        sh_quote(&tree.to_string_lossy()),
        sh_quote(&work.path().join("grub-mkrescue.log").to_string_lossy()),
    )?;
    let script_file = work.path().join("build.sh");
    std::fs::write(&script_file, &script)?;
    let mut cmd = match privilege {
        Privilege::Root => Command::new("sh"),
        Privilege::Fakeroot => {
            let mut c = Command::new("fakeroot");
            c.arg("sh");
            c
        }
    };
    let status = cmd
        .arg(&script_file)
        .status()
        .context("running the ISO build script")?;
    if !status.success() {
        let log =
            std::fs::read_to_string(work.path().join("grub-mkrescue.log")).unwrap_or_default();
        bail!("building the ISO failed ({status}):\n{log}");
    }
    if !iso_abs.is_file() {
        bail!("grub-mkrescue made no {}", iso_abs.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn materialize_copies_files_and_scripts_devices_and_owners() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("h");
        std::fs::write(&host, b"data").unwrap();
        let text = format!(
            "boot\n0 0\nd--755 0 0\n  etc d--755 0 0\n    motd ---644 0 0 {}\n  $\n  dev d--755 0 0\n    c0d0 b--600 0 0 3 0\n    null c--666 0 0 1 3\n  $\n  home d--755 0 0\n    user d--700 1000 1000\n    $\n  $\n$\n",
            host.display()
        );
        let p = parse_proto(&text).unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        let mut script = String::new();
        materialize(&p.entries, &tree, &tree, &mut script).unwrap();
        assert_eq!(std::fs::read(tree.join("etc/motd")).unwrap(), b"data");
        let t = tree.display();
        assert!(
            script.contains(&format!("mknod '{t}/dev/c0d0' b 3 0\n")),
            "{script}"
        );
        assert!(
            script.contains(&format!("mknod '{t}/dev/null' c 1 3\n")),
            "{script}"
        );
        assert!(script.contains(&format!("chown -h 1000:1000 '{t}/home/user'\n")));
        assert!(script.contains(&format!("chmod 700 '{t}/home/user'\n")));
        // A directory's mode comes after its contents are made.
        let mk = script.find("/dev/c0d0' b").unwrap();
        let dev_mode = script.find(&format!("chmod 755 '{t}/dev'\n")).unwrap();
        assert!(mk < dev_mode);
    }
}
