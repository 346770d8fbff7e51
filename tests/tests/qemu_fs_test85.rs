//! QEMU: MINIX test85 (EOF handling on block devices) in the OS, the
//! native counterpart of `vfs/tests/blockdev.rs`. The root MFS (4 KiB or
//! 1 KiB blocks: its block size is the granularity of block-special I/O)
//! is on virtio disk 0; disks 1-3 are `b·bs − 512`, `b·bs` and `b·bs + 512`
//! bytes of a known pattern. `fstest test85` opens each as `/dev/c0dN`
//! (VFS → root MFS → libminixfs `bio` → libbdev → virtio-blk), runs the six
//! read and write cases around the end of the device in sequences (reads,
//! writes, reads; writes, reads), checks every count and every byte read,
//! and reports each accepted write. Afterwards the host rebuilds the
//! expected disk from those reports and compares it with the image bytes
//! (and the guest's crc32). Negative control: told a size 512 bytes larger
//! than the disk, the guest must catch the wrong counts at the end.

use std::path::Path;
use std::time::Duration;
use system_tests::qemu::{assert_in_order, boot_with_disks};
use system_tests::test85::{self, initial};

fn mkfs(path: &Path, bs: u32) {
    let st = std::process::Command::new(env!("CARGO"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["run", "-q", "-p", "images", "--bin", "mfs", "--", "mkfs"])
        .args(["--size", "16M", "--block-size", &bs.to_string()])
        .args(["--proto", "images/rootfs.proto"])
        .arg(path)
        .status()
        .expect("running mfs mkfs");
    assert!(st.success(), "mkfs failed");
}

/// Boots with a root of block size `bs` and three disks of `b·bs − 512`,
/// `b·bs`, `b·bs + 512` bytes; the guest is told each size plus `lie`.
/// Returns the log, the status and the three disks' bytes.
fn run(bs: u64, b: u64, seed: u64, lie: u64) -> Option<(String, Option<i32>, Vec<Vec<u8>>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root.mfs");
    mkfs(&root, bs as u32);
    let sizes = [b * bs - 512, b * bs, b * bs + 512];
    let mut paths = Vec::new();
    let mut args = format!("seed={seed}");
    for (i, &size) in sizes.iter().enumerate() {
        let minor = i as u32 + 1;
        let p = dir.path().join(format!("d{minor}.img"));
        std::fs::write(&p, initial(minor, size)).expect("writing a disk");
        args.push_str(&format!(" {minor}:{}", size + lie));
        paths.push(p);
    }
    let disks: Vec<&Path> = std::iter::once(root.as_path())
        .chain(paths.iter().map(|p| p.as_path()))
        .collect();
    let r = boot_with_disks(
        &format!(
            "rs-native:rs,ds-native:ds,vault,virtio-blk image,memory image,mfs-native:mfs image,\
             pfs-native:pfs image,vfs-native:vfs image,fstest test85 {args}"
        ),
        "critical=rs",
        &disks,
        Duration::from_secs(180),
    )?;
    assert!(!r.serial.contains("KERNEL PANIC"));
    let imgs = paths
        .iter()
        .map(|p| std::fs::read(p).expect("disk"))
        .collect();
    Some((r.serial, r.status, imgs))
}

/// Checks the disks against the guest's write reports (two write passes)
/// and that every disk was written.
fn check_disks(log: &str, bs: u64, b: u64, imgs: &[Vec<u8>]) {
    let sizes = [b * bs - 512, b * bs, b * bs + 512];
    test85::check_disks(log, "[fstest]", &sizes, imgs, 2);
    for (i, img) in imgs.iter().enumerate() {
        let minor = i + 1;
        assert_ne!(
            img,
            &initial(minor as u32, img.len() as u64),
            "c0d{minor} unchanged"
        );
    }
}

fn pass(bs: u64, b: u64, seed: u64) {
    let Some((log, status, imgs)) = run(bs, b, seed, 0) else {
        return;
    };
    assert_eq!(status, Some(33), "run failed");
    assert_in_order(
        &log,
        &[
            format!("[mfs] mfs: mfs virtio-blk minor 0: MINIX V3, {bs}-byte blocks"),
            format!("[fstest] root block size {bs}: bio works in blocks of that size"),
            "[fstest] c0d1: sequence 0 done, closed".into(),
            "[fstest] c0d1: sequence 1 done, closed".into(),
            "[fstest] c0d2: sequence 1 done, closed".into(),
            "[fstest] c0d3: sequence 1 done, closed".into(),
            "[fstest] PASS: test85".into(),
        ],
    );
    // Every case ran in every pass: 5 passes of 6 cases on 3 disks.
    let cases = log.lines().filter(|l| l.contains("_EOF pos ")).count();
    assert_eq!(cases, 3 * 5 * 6);
    check_disks(&log, bs, b, &imgs);
}

#[test]
fn qemu_fs_test85_4k_blocks_one_block() {
    pass(4096, 1, 11);
}

#[test]
fn qemu_fs_test85_4k_blocks_five_blocks() {
    pass(4096, 5, 12);
}

#[test]
fn qemu_fs_test85_1k_blocks_one_block() {
    pass(1024, 1, 13);
}

#[test]
fn qemu_fs_test85_1k_blocks_four_blocks() {
    pass(1024, 4, 14);
}

/// Negative control: the guest believes each disk is 512 bytes larger, so
/// the counts at the real end differ from what it expects; it must say so
/// and fail the run, and nothing may be written past the real end.
#[test]
fn qemu_fs_test85_wrong_size_is_caught() {
    let Some((log, status, imgs)) = run(4096, 3, 15, 512) else {
        return;
    };
    assert_eq!(status, Some(35), "the run must fail");
    assert!(
        log.contains("[fstest] FAIL: test85: c0d1 "),
        "no failure report"
    );
    assert!(log.contains("expected"), "no count mismatch reported");
    let sizes = [3 * 4096 - 512, 3 * 4096, 3 * 4096 + 512];
    for (img, size) in imgs.iter().zip(sizes) {
        assert_eq!(img.len() as u64, size, "a disk grew");
    }
}
