//! QEMU: booting with a root disk MFS cannot mount. Four bad disks: random
//! bytes, a truncated image (the superblock claims 32 MiB, the disk has
//! 8 MiB), an ext2 file system and a zero-filled disk. Each time the system
//! must boot, MFS must log why it could not mount (`cannot mount ...:
//! <errno>: <reason>`), VFS that `/` could not be mounted, and `fstest
//! nomount` must verify that VFS answers calls with the mount error, that
//! the memory driver answers and that RS reports MFS, VFS and the memory
//! driver running without restarts, then pass. Nothing may be written to
//! the bad disk: the host compares its bytes before and after.
//!
//! MINIX V1/V2 images are not bad disks here: the native MFS mounts all
//! three versions. A good V3 image is the negative control: `nomount` must
//! fail there because `/` answers.

use std::path::Path;
use std::time::Duration;
use system_tests::qemu::{assert_in_order, boot_with_disks};

const SIZE: usize = 8 << 20;

fn mfs_tool(args: &[&str], image: &Path) {
    let st = std::process::Command::new(env!("CARGO"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["run", "-q", "-p", "images", "--bin", "mfs", "--"])
        .args(args)
        .arg(image)
        .status()
        .expect("running the mfs tool");
    assert!(st.success(), "mfs {args:?} failed");
}

/// Boots with `disk` as the root disk and `fstest nomount`; returns the
/// log, the status and the first byte of the disk that changed, if any.
fn boot_nomount(disk: &Path) -> Option<(String, Option<i32>, Option<usize>)> {
    let before = std::fs::read(disk).expect("disk");
    let r = boot_with_disks(
        "rs-native:rs,ds-native:ds,vault,virtio-blk image,memory image,mfs-native:mfs image,\
         pfs-native:pfs image,vfs-native:vfs image,fstest nomount",
        "critical=rs",
        &[disk],
        Duration::from_secs(120),
    )?;
    assert!(!r.serial.contains("KERNEL PANIC"));
    let after = std::fs::read(disk).expect("disk");
    assert_eq!(after.len(), before.len(), "the disk changed size");
    let changed = after.iter().zip(&before).position(|(a, b)| a != b);
    Some((r.serial, r.status, changed))
}

fn expect_refused(disk: &Path, errno: &str, reason: &str) {
    let Some((log, status, changed)) = boot_nomount(disk) else {
        return;
    };
    assert_eq!(changed, None, "the guest wrote to the bad disk");
    assert_eq!(status, Some(33), "the run must pass");
    assert_in_order(
        &log,
        &[
            format!("[mfs] mfs: mfs: cannot mount virtio-blk minor 0: {errno}: {reason}"),
            format!("[vfs] mounting / from 'mfs' failed: {errno}; no root file system"),
            format!("[fstest] VFS answers every call with the mount error {errno}"),
            "[fstest] the memory driver at".into(),
            "[fstest] RS: mfs at".into(),
            "[fstest] verified: no root, the rest of the system works".into(),
            "[fstest] PASS: nomount".into(),
        ],
    );
}

#[test]
fn qemu_fs_bad_disk_random_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = dir.path().join("random.img");
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(&disk, bytes).expect("disk");
    expect_refused(&disk, "EINVAL (22)", "bad magic number in superblock");
}

#[test]
fn qemu_fs_bad_disk_truncated_image() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = dir.path().join("truncated.img");
    mfs_tool(
        &["mkfs", "--size", "32M", "--proto", "images/rootfs.proto"],
        &disk,
    );
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&disk)
        .expect("disk");
    f.set_len(SIZE as u64).expect("truncating");
    expect_refused(
        &disk,
        "EIO (5)",
        "bad superblock: file system needs 33554432 bytes but the device has 8388608",
    );
}

#[test]
fn qemu_fs_bad_disk_zero_filled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = dir.path().join("zero.img");
    std::fs::write(&disk, vec![0u8; SIZE]).expect("disk");
    expect_refused(
        &disk,
        "EINVAL (22)",
        "not a MINIX file system: the superblock area is all zeros",
    );
}

/// An ext2 superblock: by `mkfs.ext2` when it is installed, else the
/// fields that identify one written by hand (magic 0xef53 at 1024 + 56).
#[test]
fn qemu_fs_bad_disk_ext2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = dir.path().join("ext2.img");
    std::fs::write(&disk, vec![0u8; SIZE]).expect("disk");
    let made = std::process::Command::new("mkfs.ext2")
        .args(["-q", "-F"])
        .arg(&disk)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        eprintln!("note: mkfs.ext2 not found; writing an ext2 superblock by hand");
        let mut b = std::fs::read(&disk).expect("disk");
        let sb = 1024;
        b[sb..sb + 4].copy_from_slice(&2048u32.to_le_bytes()); // inodes
        b[sb + 4..sb + 8].copy_from_slice(&8192u32.to_le_bytes()); // blocks
        b[sb + 56..sb + 58].copy_from_slice(&0xef53u16.to_le_bytes());
        std::fs::write(&disk, b).expect("disk");
    }
    let img = std::fs::read(&disk).expect("disk");
    assert_eq!(&img[1024 + 56..1024 + 58], &[0x53, 0xef], "no ext2 magic");
    expect_refused(
        &disk,
        "EINVAL (22)",
        "not a MINIX file system: an ext2/ext3/ext4 superblock",
    );
}

/// Negative control: a good root is mounted, so `nomount` finds `/`
/// answering and fails the run; MFS logs the mount instead of a refusal,
/// and the byte comparison sees the write a read-write mount makes (the
/// superblock's clean flag cleared; nothing unmounts it again).
#[test]
fn qemu_fs_good_disk_fails_the_nomount_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = dir.path().join("good.img");
    mfs_tool(
        &["mkfs", "--size", "8M", "--proto", "images/rootfs.proto"],
        &disk,
    );
    let Some((log, status, changed)) = boot_nomount(&disk) else {
        return;
    };
    assert_eq!(status, Some(35), "nomount must fail with a root mounted");
    let at = changed.expect("the mount's superblock write is seen");
    assert!((1024..2048).contains(&at), "first change at byte {at}");
    assert!(log.contains("[mfs] mfs: mfs virtio-blk minor 0: MINIX V3"));
    assert!(!log.contains("cannot mount"));
    assert!(log.contains("[fstest] FAIL: nomount: stat / succeeded without a root"));
}
