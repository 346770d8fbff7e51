//! The installation ISO (`images iso`, issue 13 item 3) in QEMU, booted
//! as a PC boots it: SeaBIOS → GRUB (grub-mkrescue's image) → the kernel
//! and the boot modules from the ISO → the root on the ISO through isofs
//! → init's shell prompt, with no `-kernel`; then the installer
//! (`/bin/setup`) onto a blank disk, checked on the host (MBR, core.img,
//! `mfs fsck`, every file byte-equal to the ISO's), with negative
//! controls (a missing disk, a disk too small left untouched, no
//! confirmation).

use images::qemu::QemuConfig;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;
use system_tests::qemu::built;
use system_tests::shell::{Shell, boot_firmware_shell};

/// The ISO of the built system, in `dir`.
fn make_iso(dir: &Path) -> PathBuf {
    let iso = dir.join("sys.iso");
    images::iso::make_iso(built(), &iso, images::iso::ISO_RC, &[]).expect("making the ISO");
    iso
}

/// `isofs ARGS...` (the host viewer) on the ISO; its output.
fn host_iso(args: &[&str]) -> String {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = images::isotool::run_with(
        std::iter::once("isofs").chain(args.iter().copied()),
        &mut out,
        &mut err,
    );
    assert_eq!(code, 0, "isofs {args:?}: {}", String::from_utf8_lossy(&err));
    String::from_utf8_lossy(&out).into_owned()
}

fn names(listing: &str) -> BTreeSet<String> {
    listing.split_whitespace().map(String::from).collect()
}

/// Boots the ISO from QEMU's CD-ROM drive (`-cdrom`: the secondary IDE
/// master, `/dev/c1d2` through `at_wini`), the only drive.
fn boot_iso(iso: &Path) -> Option<(Shell, f64)> {
    let mut cfg = QemuConfig::firmware(PathBuf::new());
    cfg.cdrom = Some(iso.to_path_buf());
    let t = Instant::now();
    let sh = boot_firmware_shell(cfg, iso.to_path_buf())?;
    Some((sh, t.elapsed().as_secs_f64()))
}

#[test]
fn qemu_iso_boots_with_its_root_on_the_iso() {
    let dir = tempfile::tempdir().expect("temp dir");
    let iso = make_iso(dir.path());
    let Some((mut sh, secs)) = boot_iso(&iso) else {
        return;
    };
    eprintln!("ISO boot (SeaBIOS, GRUB, kernel, servers) to the prompt: {secs:.1} s");

    // The root is the ISO through isofs, read-only.
    let mounts = sh.ok("mount");
    assert!(
        mounts.contains("/dev/c1d2 on / type isofs (ro,label=isofs)"),
        "{mounts}"
    );
    assert_eq!(
        names(&sh.ok("ls /")),
        names(&host_iso(&["ls", iso.to_str().unwrap(), "/"])),
        "ls / in the guest against the host's listing of the ISO"
    );
    assert_eq!(
        names(&sh.ok("ls /boot/modules")),
        names(&host_iso(&["ls", iso.to_str().unwrap(), "/boot/modules"])),
    );
    assert_eq!(
        sh.ok("cat /etc/motd"),
        host_iso(&["cat", iso.to_str().unwrap(), "/etc/motd"])
    );
    // Device nodes from Rock Ridge PN entries, owners from PX.
    let dev = sh.ok("ls -l /dev/c0d0p0 /dev/null /home");
    assert!(dev.contains("brw-------"), "{dev}");
    assert!(dev.contains("crw-rw-rw-"), "{dev}");
    // Nothing can be written on the ISO.
    let (out, st) = sh.run("echo x > /etc/new");
    assert_ne!(st, 0, "writing on the ISO must fail: {out}");
    assert!(out.contains("Read-only file system"), "{out}");

    let halted = sh.shutdown();
    assert!(halted.passed(), "{}", halted.describe());
}

/// A disk image of `len` bytes holding a byte pattern (so that "left
/// untouched" means something).
fn patterned(path: &Path, len: usize) -> Vec<u8> {
    let bytes: Vec<u8> = (0..len).map(|i| (i as u8) ^ ((i >> 9) as u8)).collect();
    std::fs::write(path, &bytes).expect("writing a disk image");
    bytes
}

#[test]
fn qemu_iso_installs_onto_a_disk_that_then_boots() {
    let dir = tempfile::tempdir().expect("temp dir");
    let iso = make_iso(dir.path());
    // The ISO in the CD-ROM drive (/dev/c1d2), the target the first
    // virtio disk /dev/c0d0, a disk too small /dev/c0d1, no /dev/c0d2.
    let target = dir.path().join("disk.img");
    std::fs::File::create(&target)
        .and_then(|f| f.set_len(128 << 20))
        .expect("blank disk");
    let small = dir.path().join("small.img");
    let small_bytes = patterned(&small, 16 << 20);
    let mut cfg = QemuConfig::firmware(PathBuf::new());
    cfg.cdrom = Some(iso.clone());
    cfg.disks = vec![target.clone(), small.clone()];
    let Some(mut sh) = boot_firmware_shell(cfg, target.clone()) else {
        return;
    };
    // Negative controls first: a missing disk, a disk too small, no
    // confirmation.
    let (out, st) = sh.run("setup -y /dev/c0d2");
    assert_ne!(st, 0, "{out}");
    assert!(out.contains("no such disk"), "{out}");
    let (out, st) = sh.run("setup -y /dev/c0d1");
    assert_ne!(st, 0, "{out}");
    assert!(out.contains("at least") && out.contains("needed"), "{out}");
    let (out, st) = sh.run("echo no | setup /dev/c0d0");
    assert_ne!(st, 0, "{out}");
    assert!(out.contains("not confirmed; nothing was written"), "{out}");

    let t = Instant::now();
    let out = sh.run_timeout("setup -y /dev/c0d0", std::time::Duration::from_secs(1200));
    let install_secs = t.elapsed().as_secs_f64();
    eprintln!("setup output:\n{}\ninstall took {install_secs:.1} s", out.0);
    assert_eq!(out.1, 0, "{}", out.0);
    let halted = sh.shutdown();
    assert!(halted.passed(), "{}", halted.describe());
    assert_eq!(
        std::fs::read(&small).expect("small disk"),
        small_bytes,
        "the disk too small is untouched"
    );
    eprintln!("install under TCG: {install_secs:.1} s");
    check_installed_disk(&iso, &target, dir.path());

    // The installed disk alone: SeaBIOS → GRUB from its MBR → the kernel
    // and modules from the MFS partition → MFS on c0d0p0 as the root.
    let mut cfg = QemuConfig::firmware(PathBuf::new());
    cfg.disks = vec![target.clone()];
    let t = Instant::now();
    let Some(mut sh) = boot_firmware_shell(cfg, target.clone()) else {
        return;
    };
    eprintln!(
        "boot from the installed disk to the prompt: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let df = sh.ok("df /");
    assert!(df.contains('/'), "{df}");
    let (out, st) = sh.run("echo x > /etc/new; cat /etc/new");
    assert_eq!((out.as_str(), st), ("x\n", 0), "the root is writable now");
    sh.ok("echo written on the installed disk > /home/user/note.txt");
    assert_eq!(
        sh.ok("cat /etc/motd"),
        host_iso(&["cat", iso.to_str().unwrap(), "/etc/motd"])
    );
    let halted = sh.shutdown();
    assert!(halted.passed(), "{}", halted.describe());
    let img = std::fs::read(&target).expect("disk");
    let part = dir.path().join("part-after.mfs");
    std::fs::write(&part, &img[2048 * 512..]).expect("partition image");
    let part_s = part.to_str().unwrap();
    let (code, out) = host_mfs(&["fsck", part_s]);
    assert_eq!(
        code,
        0,
        "mfs fsck after the boot: {}",
        String::from_utf8_lossy(&out)
    );
    let (code, note) = host_mfs(&["cat", part_s, "/home/user/note.txt"]);
    assert_eq!(code, 0);
    assert_eq!(note, b"written on the installed disk\n");
}

/// `mfs ARGS...` (the host tool); exit code and output.
fn host_mfs(args: &[&str]) -> (i32, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = images::mfstool::run_with(
        std::iter::once("mfs").chain(args.iter().copied()),
        &mut out,
        &mut err,
    );
    out.extend_from_slice(&err);
    (code, out)
}

/// Every regular file under `dir` (host paths relative to it).
fn files_under(dir: &Path, rel: &str, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir.join(rel.trim_start_matches('/'))).expect("read_dir") {
        let e = e.expect("entry");
        let name = format!("{rel}/{}", e.file_name().to_string_lossy());
        let t = e.file_type().expect("type");
        if t.is_dir() {
            files_under(dir, &name, out);
        } else if t.is_file() {
            out.push(name);
        }
    }
}

/// Checks on the host what setup wrote: the MBR (GRUB's boot code, one
/// active MINIX partition from sector 2048 to the end), core.img in
/// sectors 1.., a clean MFS on the partition, and every file of the ISO
/// byte-equal on it (but the CD's own /etc/mtab and GRUB files).
fn check_installed_disk(iso: &Path, disk: &Path, dir: &Path) {
    let img = std::fs::read(disk).expect("disk");
    let sectors = img.len() as u64 / 512;
    let boot = std::fs::read("/usr/lib/grub/i386-pc/boot.img").expect("boot.img");
    assert_eq!(img[..440], boot[..440], "GRUB's boot code in the MBR");
    let t = libbdev::mbr::parse(&img[..512], sectors).expect("an MBR");
    let p = t[0].expect("partition 1");
    assert_eq!(
        (p.kind, p.active, p.start, p.sectors),
        (0x81, true, 2048, sectors - 2048)
    );
    assert!(t[1..].iter().all(Option::is_none), "one partition only");
    let iso_s = iso.to_str().unwrap();
    let tree = dir.join("iso-tree");
    host_iso(&["get", iso_s, "/", tree.to_str().unwrap()]);
    let core = std::fs::read(tree.join("boot/setup/core.img")).expect("core.img");
    assert_eq!(
        &img[512..512 + core.len()],
        &core[..],
        "core.img at sector 1"
    );
    let part = dir.join("part.mfs");
    std::fs::write(&part, &img[2048 * 512..]).expect("partition image");
    let part_s = part.to_str().unwrap();
    let (code, out) = host_mfs(&["fsck", part_s]);
    assert_eq!(code, 0, "mfs fsck: {}", String::from_utf8_lossy(&out));
    let mut files = Vec::new();
    files_under(&tree, "", &mut files);
    let mut compared = 0;
    for f in &files {
        if f == "/etc/mtab" || f.starts_with("/boot/grub/") || f == "/boot.catalog" {
            continue;
        }
        let (code, bytes) = host_mfs(&["cat", part_s, f]);
        assert_eq!(
            code,
            0,
            "{f} on the disk: {}",
            String::from_utf8_lossy(&bytes)
        );
        assert!(
            bytes == std::fs::read(tree.join(f.trim_start_matches('/'))).expect("ISO file"),
            "{f} differs"
        );
        compared += 1;
    }
    assert!(compared >= 70, "only {compared} files compared");
    let (code, cfg) = host_mfs(&["cat", part_s, "/boot/grub/grub.cfg"]);
    assert_eq!(code, 0);
    assert_eq!(
        String::from_utf8_lossy(&cfg),
        images::iso::disk_grub_cfg().expect("grub.cfg")
    );
    let (code, dev) = host_mfs(&["ls", "-l", part_s, "/dev"]);
    let dev = String::from_utf8_lossy(&dev);
    assert_eq!(code, 0);
    assert!(dev.contains("c0d0p0") && dev.contains("console"), "{dev}");
}
