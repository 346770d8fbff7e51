//! What the installer writes, made on the host (`images installed-disk`,
//! `images::iso::make_installed_disk`): GRUB's boot.img code and one
//! MINIX partition in the MBR, core.img in the gap (loading itself from
//! sector 2), and a clean MFS V3 file system on the partition with the
//! system and `/boot`. The QEMU side boots it (`qemu_iso_install`).

use system_tests::qemu::built;

/// `mfs ARGS` in-process: the exit code and its output and errors together.
fn mfs(args: &[&str]) -> (i32, String) {
    let (code, out, err) = system_tests::mfs::run(args);
    (code, out + &err)
}

#[test]
fn installed_disk_has_grub_a_minix_partition_and_a_clean_mfs() {
    if std::process::Command::new("grub-mkimage")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            !system_tests::qemu::in_ci(),
            "CI is set but grub-mkimage is missing (scripts/setup.sh installs grub-pc-bin)"
        );
        eprintln!("note: grub-mkimage missing; skipping");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = dir.path().join("disk.img");
    let size = 96u64 << 20;
    let at = images::iso::make_installed_disk(built(), &disk, size, "").expect("installed disk");
    assert_eq!(at, 2048 * 512);
    let img = std::fs::read(&disk).expect("disk");
    assert_eq!(img.len() as u64, size);
    let boot = std::fs::read("/usr/lib/grub/i386-pc/boot.img").expect("boot.img");
    assert_eq!(img[..440], boot[..440], "boot.img's code in the MBR");
    let t = libbdev::mbr::parse(&img[..512], size / 512).expect("an MBR");
    let p = t[0].expect("partition 1");
    assert_eq!((p.kind, p.active, p.start), (0x81, true, 2048));
    assert_eq!(p.sectors, size / 512 - 2048);
    assert!(t[1..].iter().all(Option::is_none));
    // diskboot.img (core.img's first sector) at sector 1: its block list
    // loads the rest from sector 2, all before the partition.
    let bl = &img[1024 - 12..1024];
    assert_eq!(u64::from_le_bytes(bl[..8].try_into().unwrap()), 2);
    let len = u16::from_le_bytes([bl[8], bl[9]]);
    assert!(
        len > 0 && u64::from(len) + 2 <= 2048,
        "core.img sectors: {len}"
    );
    let boot_sector = u64::from_le_bytes(img[0x5c..0x64].try_into().unwrap());
    assert_eq!(boot_sector, 1, "boot.img loads sector 1");
    let part = dir.path().join("part.mfs");
    std::fs::write(&part, &img[at as usize..]).expect("partition");
    let part_s = part.to_str().unwrap();
    let (code, out) = mfs(&["fsck", part_s]);
    assert_eq!(code, 0, "fsck: {out}");
    let (code, cfg) = mfs(&["cat", part_s, "/boot/grub/grub.cfg"]);
    assert_eq!(code, 0, "{cfg}");
    assert!(
        cfg.contains("module /boot/modules/mfs /boot/modules/mfs image dev=c0d0p0"),
        "{cfg}"
    );
    let (code, ls) = mfs(&["ls", part_s, "/boot/modules"]);
    assert_eq!(code, 0, "{ls}");
    for m in setup_core::modules(setup_core::DISK_MODULES) {
        assert!(
            ls.split_whitespace().any(|n| n == m.name),
            "{} in {ls}",
            m.name
        );
    }
    let (code, k) = mfs(&["stat", part_s, "/boot/kernel"]);
    assert_eq!(code, 0, "{k}");
    assert!(mfs(&["ls", part_s, "/bin/sh"]).0 == 0);
}
