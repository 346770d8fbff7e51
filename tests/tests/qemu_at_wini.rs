//! QEMU: the IDE/ATA driver `at_wini` (`servers/drivers/at_wini`) on a PIIX3 IDE
//! function's legacy channels, used as a person would from the shell.
//!
//! An ISO made by xorriso (`-R -J`) from a host tree (a file over 1 MiB,
//! one larger than ISOFS's cache, subdirectories) is the CD on the
//! secondary master (`/dev/c1d2`); a blank MFS image is the IDE disk on the
//! primary master (`/dev/c1d0`). From the shell: `mount -t isofs
//! /dev/c1d2 /mnt` (ISOFS through at_wini's ATAPI path), `ls -R` shows the
//! tree, `cksum` of every file equals the host's; writes to the CD are
//! refused (EROFS), a drive that is not there is ENXIO, a read past the
//! end of the CD is 0 bytes; `service fi at_wini` in the middle of a loop
//! reading the large file gives the same checksums and RS a restarted
//! driver; the IDE disk is mounted as MFS, files are written on it (ATA
//! PIO writes), and after `halt` the host reads them back with the `mfs`
//! library and fsck finds it clean. A second IDE disk (primary slave)
//! has an MBR whose partition 0 holds another MFS: `mount /dev/c1d1p0`
//! reads the table through the driver and every transfer lands inside the
//! partition (checked on the host: the bytes around it are untouched).

use std::path::Path;
use std::process::Command;
use system_tests::mfs;
use system_tests::qemu::Ide;
use system_tests::shell::{boot_shell_ide, restarts};

fn bytes(seed: u32, n: usize) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8)
        .collect()
}

/// Files of the CD (paths below its root) and their contents.
fn tree() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("hello.txt", b"Hello from the IDE CD.\n".to_vec()),
        ("big.bin", bytes(1, 1_500_001)),
        // Larger than ISOFS's 4 MiB cache: every pass reads the drive.
        ("large.bin", bytes(2, 5 << 20)),
        ("sub/data.bin", bytes(3, 12_345)),
        ("sub/deeper/note.txt", b"two levels down\n".to_vec()),
    ]
}

fn host_cksum(path: &Path) -> (String, String) {
    let o = Command::new("cksum").arg(path).output().expect("cksum");
    let line = String::from_utf8(o.stdout).unwrap();
    let mut it = line.split_whitespace();
    (it.next().unwrap().into(), it.next().unwrap().into())
}

#[test]
fn qemu_at_wini_cd_and_disk_from_the_shell() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    for (p, d) in tree() {
        let path = src.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, d).unwrap();
    }
    let iso = t.path().join("cd.iso");
    let st = Command::new("xorriso")
        .args([
            "-as", "mkisofs", "-R", "-J", "-quiet", "-V", "ATWINICD", "-o",
        ])
        .arg(&iso)
        .arg(&src)
        .status()
        .expect("xorriso runs (the setup script installs it)");
    assert!(st.success());
    let disk = t.path().join("ide.mfs");
    mfs::ok(&["mkfs", "--size", "16M", &disk.to_string_lossy()]);
    // The slave: sector 0 an MBR, 1 MiB of 0x5a, partition 0 an 8 MiB MFS
    // from sector 2048 (1 MiB), 1 MiB of 0x5a after it.
    let part_img = t.path().join("part.mfs");
    mfs::ok(&["mkfs", "--size", "8M", &part_img.to_string_lossy()]);
    let mut slave = vec![0x5au8; 10 << 20];
    slave[..512].fill(0);
    let part = libbdev::mbr::Partition {
        kind: libbdev::mbr::TYPE_MINIX,
        active: false,
        start: 2048,
        sectors: (8 << 20) / 512,
    };
    libbdev::mbr::set_entry(&mut slave[..512], 0, &part).unwrap();
    slave[1 << 20..9 << 20].copy_from_slice(&std::fs::read(&part_img).unwrap());
    let slave_img = t.path().join("slave.img");
    std::fs::write(&slave_img, &slave).unwrap();
    let ide = Ide {
        cdrom: Some(iso.clone()),
        disks: vec![(0, disk.clone()), (1, slave_img.clone())],
    };
    let Some(mut sh) = boot_shell_ide("", &[], &[], &ide) else {
        return;
    };

    let out = sh.ok("mount -t isofs /dev/c1d2 /mnt");
    assert!(out.contains("/dev/c1d2 is mounted on /mnt"), "{out}");
    let out = sh.ok("mount");
    assert!(
        out.contains("/dev/c1d2 on /mnt type isofs (ro,label=isofs-c1d2)"),
        "{out}"
    );
    assert_eq!(
        sh.ok("ls -R /mnt"),
        "/mnt:\nbig.bin    hello.txt  large.bin  sub\n\n/mnt/sub:\ndata.bin  deeper\n\n\
         /mnt/sub/deeper:\nnote.txt\n"
    );
    for (p, _) in tree() {
        let (crc, size) = host_cksum(&src.join(p));
        let out = sh.ok(&format!("cksum /mnt/{p}"));
        assert_eq!(out.trim(), format!("{crc} {size} /mnt/{p}"), "{p}");
    }
    assert_eq!(sh.ok("cat /mnt/hello.txt"), "Hello from the IDE CD.\n");

    // Errors, not hangs or crashes: a write to the CD, a drive that is not
    // there, a read past the end of the CD.
    let (out, st) = sh.run("touch /mnt/new");
    assert_ne!(st, 0);
    assert!(out.contains("Read-only file system"), "{out}");
    let (out, st) = sh.run("dd if=/dev/c1d3 of=/tmp/x bs=512 count=1");
    assert_ne!(st, 0);
    assert!(out.contains("Device not configured"), "{out}");
    // To /dev/null: dd must not try to cut a device to length (that
    // request once hung in VFS).
    let out = sh.ok("dd if=/dev/c1d2 of=/dev/null bs=2048 count=4");
    assert!(out.contains("4+0 records out"), "{out}");
    let cd_blocks = std::fs::metadata(&iso).unwrap().len() / 2048;
    let out = sh.ok(&format!(
        "dd if=/dev/c1d2 of=/tmp/x bs=2048 skip={} count=4; cksum /tmp/x",
        cd_blocks + 10
    ));
    assert!(
        out.contains("4294967295 0 /tmp/x"),
        "read past the end: {out}"
    );
    // The primary volume descriptor, read through the node.
    let pvd = &std::fs::read(&iso).unwrap()[16 * 2048..17 * 2048];
    let pvd_path = t.path().join("pvd");
    std::fs::write(&pvd_path, pvd).unwrap();
    let (crc, size) = host_cksum(&pvd_path);
    let out = sh.ok("dd if=/dev/c1d2 of=/tmp/pvd bs=2048 skip=16 count=1; cksum /tmp/pvd");
    assert!(
        out.contains(&format!("{crc} {size} /tmp/pvd")),
        "volume descriptor: {out}"
    );

    // The driver crashes while a loop reads the large file.
    let (crc, size) = host_cksum(&src.join("large.bin"));
    let before = restarts(&sh.ok("service status at_wini"));
    sh.ok("sh -c 'for i in 1 2 3; do cksum /mnt/large.bin; done' > /tmp/loop.out 2>&1 &");
    sh.ok("sleep 2");
    let fi = sh.ok("service fi at_wini");
    let waited = sh.ok("wait");
    let out = sh.ok("cat /tmp/loop.out");
    eprintln!("service fi: {fi}\nwait: {waited}\nloop: {out}");
    let want = format!("{crc} {size} /mnt/large.bin");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![want.as_str(); 3],
        "{out}"
    );
    let after = restarts(&sh.ok("service status at_wini"));
    assert!(after > before, "at_wini restarts {before} -> {after}");

    // The IDE disk: MFS over ATA PIO reads and writes.
    sh.ok("mkdir /ide");
    let out = sh.ok("mount /dev/c1d0 /ide");
    assert!(out.contains("/dev/c1d0 is mounted on /ide"), "{out}");
    sh.ok("cp /mnt/big.bin /ide/big.bin");
    sh.ok("mkdir /ide/d && cp /mnt/sub/data.bin /ide/d/data.bin");
    sh.ok("echo written over ATA > /ide/note.txt");
    let (crc, size) = host_cksum(&src.join("big.bin"));
    assert_eq!(
        sh.ok("cksum /ide/big.bin").trim(),
        format!("{crc} {size} /ide/big.bin")
    );
    sh.ok("umount /ide");

    // The partition of the slave.
    let out = sh.ok("mount /dev/c1d1p0 /ide");
    assert!(out.contains("/dev/c1d1p0 is mounted on /ide"), "{out}");
    sh.ok("cp /mnt/sub/data.bin /ide/in-partition.bin");
    let out = sh.ok("df /ide");
    assert!(out.contains("8192"), "an 8 MiB file system: {out}");
    sh.ok("umount /ide");
    let (out, st) = sh.run("mount /dev/c1d1p1 /ide");
    assert_ne!(st, 0, "an unused partition entry mounts nothing: {out}");
    let r = sh.shutdown();
    assert!(r.passed(), "{}", r.describe());
    assert!(!r.serial.contains("panicked"), "a process panicked");
    assert!(r.serial.contains("[at_wini] drive 0 (c1d0): ATA disk"));
    assert!(r.serial.contains("[at_wini] drive 2 (c1d2): ATAPI CD-ROM"));
    assert!(r.serial.contains("[at_wini] init Restart"));

    mfs::assert_clean(&disk);
    let files = tree();
    assert_eq!(
        mfs::cat(&disk, "/big.bin"),
        files[1].1,
        "big.bin on the IDE disk"
    );
    assert_eq!(
        mfs::cat(&disk, "/d/data.bin"),
        files[3].1,
        "d/data.bin on the IDE disk"
    );
    assert_eq!(mfs::cat(&disk, "/note.txt"), b"written over ATA\n");

    let slave_after = std::fs::read(&slave_img).unwrap();
    assert_eq!(&slave_after[..512], &slave[..512], "the MBR is untouched");
    assert!(
        slave_after[512..1 << 20].iter().all(|&b| b == 0x5a)
            && slave_after[9 << 20..].iter().all(|&b| b == 0x5a),
        "nothing written outside the partition"
    );
    std::fs::write(&part_img, &slave_after[1 << 20..9 << 20]).unwrap();
    mfs::assert_clean(&part_img);
    assert_eq!(mfs::cat(&part_img, "/in-partition.bin"), files[3].1);
}
