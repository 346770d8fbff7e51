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

/// Copies the boot modules, stripped (symbols are of no use to the kernel
/// and would make GRUB read megabytes more), into `dir` under their
/// process names.
fn stage_boot_modules(out: &BuildOutput, dir: &Path) -> anyhow::Result<()> {
    for (name, host) in boot_module_files(out) {
        let st = Command::new("objcopy")
            .arg("--strip-all")
            .arg(&host)
            .arg(dir.join(&name))
            .status()
            .context("running objcopy")?;
        if !st.success() {
            bail!("objcopy --strip-all {} failed", host.display());
        }
    }
    Ok(())
}

/// The GRUB modules built into the installed disk's core.img: the BIOS
/// disk, MBR partitions, the MINIX file system (V3), multiboot, and what
/// grub.cfg uses.
pub const CORE_MODULES: &[&str] = &[
    "biosdisk",
    "part_msdos",
    "minix3",
    "multiboot",
    "boot",
    "configfile",
    "normal",
    "serial",
    "terminal",
];

/// Makes GRUB's core.img for an installed disk (`grub-mkimage -O
/// i386-pc`) at `dst`: [`CORE_MODULES`] and an embedded configuration
/// that sets the root to the first partition of the boot disk, where
/// `normal` finds `/boot/grub/grub.cfg`. Checked against the layout the
/// installer writes (`setup_core::layout::check_core`).
pub fn grub_core_img(dst: &Path) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let embed = dir.path().join("embed.cfg");
    std::fs::write(
        &embed,
        "set root=(hd0,msdos1)\nset prefix=(hd0,msdos1)/boot/grub\n",
    )?;
    let st = Command::new("grub-mkimage")
        .args(["-O", "i386-pc", "-o"])
        .arg(dst)
        .arg("-c")
        .arg(&embed)
        .args(["-p", "(hd0,msdos1)/boot/grub"])
        .args(CORE_MODULES)
        .status()
        .context("running grub-mkimage (install grub-pc-bin)")?;
    if !st.success() {
        bail!("grub-mkimage failed ({st})");
    }
    let core = std::fs::read(dst)?;
    setup_core::layout::check_core(&core).map_err(|e| anyhow::anyhow!("core.img: {e}"))?;
    Ok(())
}

/// The installed disk's `grub.cfg`: the disk's boot modules
/// (`setup_core::DISK_MODULES`, MFS on the first partition as the root).
pub fn disk_grub_cfg() -> anyhow::Result<String> {
    setup_core::grub_cfg(&setup_core::BootEntry {
        title: "MINIX-rs",
        append: setup_core::APPEND,
        modules: setup_core::DISK_MODULES,
    })
    .map_err(|e| anyhow::anyhow!("grub.cfg: {}", e.0))
}

/// Makes on the host what `/bin/setup` makes in the guest: a disk image
/// `disk` of `size` bytes with the MBR (boot.img's code, one MINIX
/// partition from sector 2048 to the end), core.img in sectors 1..2048
/// and an MFS V3 file system on the partition holding the root disk's
/// tree (with `rc` as `/etc/rc`) plus `/boot` (kernel, modules,
/// grub.cfg). Returns the partition's offset in bytes.
pub fn make_installed_disk(
    out: &BuildOutput,
    disk: &Path,
    size: u64,
    rc: &str,
) -> anyhow::Result<u64> {
    use setup_core::layout::{self, PART_START, SECTOR};
    let sectors = size / SECTOR as u64;
    let boot = std::fs::read(Path::new(GRUB_I386_PC).join("boot.img"))
        .context("reading GRUB's boot.img (install grub-pc-bin)")?;
    let mbr = layout::mbr_sector(&boot, sectors).map_err(|e| anyhow::anyhow!("{e}"))?;
    let part = layout::partition(sectors).map_err(|e| anyhow::anyhow!("{e}"))?;
    let work = tempfile::tempdir()?;
    let core_img = work.path().join("core.img");
    grub_core_img(&core_img)?;
    let fs = work.path().join("part.mfs");
    rootdisk::make_root_disk(&fs, part.size(), &rootdisk::user_programs(out), rc)?;
    let boot_dir = work.path().join("boot");
    std::fs::create_dir_all(boot_dir.join("modules"))?;
    stage_boot_modules(out, &boot_dir.join("modules"))?;
    std::fs::write(boot_dir.join("grub.cfg"), disk_grub_cfg()?)?;
    let fs_s = fs.to_string_lossy().into_owned();
    let mut cmds: Vec<Vec<String>> = ["/boot", "/boot/modules", "/boot/grub"]
        .iter()
        .map(|d| vec!["mkdir".into(), fs_s.clone(), d.to_string()])
        .collect();
    cmds.push(vec![
        "put".into(),
        fs_s.clone(),
        out.kernel32.to_string_lossy().into_owned(),
        "/boot/kernel".into(),
    ]);
    cmds.push(vec![
        "put".into(),
        fs_s.clone(),
        boot_dir.join("grub.cfg").to_string_lossy().into_owned(),
        "/boot/grub/grub.cfg".into(),
    ]);
    for (name, _) in boot_module_files(out) {
        cmds.push(vec![
            "put".into(),
            fs_s.clone(),
            boot_dir
                .join("modules")
                .join(&name)
                .to_string_lossy()
                .into_owned(),
            format!("/boot/modules/{name}"),
        ]);
    }
    for c in cmds {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let code = crate::mfstool::run_with(
            std::iter::once("mfs".to_string()).chain(c.iter().cloned()),
            &mut o,
            &mut e,
        );
        if code != 0 {
            bail!("mfs {}: {}", c.join(" "), String::from_utf8_lossy(&e));
        }
    }
    let mut image = vec![0u8; (PART_START as usize) * SECTOR];
    image[..SECTOR].copy_from_slice(&mbr);
    let core = std::fs::read(&core_img)?;
    image[SECTOR..SECTOR + core.len()].copy_from_slice(&core);
    image.extend_from_slice(&std::fs::read(&fs)?);
    image.resize(size as usize, 0);
    std::fs::write(disk, &image).with_context(|| format!("writing {}", disk.display()))?;
    Ok(PART_START * SECTOR as u64)
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
    stage_boot_modules(out, &modules)?;
    let setup = tree.join("boot/setup");
    std::fs::create_dir_all(&setup)?;
    std::fs::copy(
        Path::new(GRUB_I386_PC).join("boot.img"),
        setup.join("boot.img"),
    )
    .context("copying GRUB's boot.img")?;
    grub_core_img(&setup.join("core.img"))?;
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
