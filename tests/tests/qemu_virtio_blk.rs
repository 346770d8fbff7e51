//! QEMU: the native virtio-blk driver (`servers/drivers/virtio-blk`) and the block
//! device protocol (`sys::proto::bdev`) end to end. RS starts the driver
//! (`service up virtio-blk`, from `blkclient`), which finds the two virtio
//! disks the host made, and `blkclient` uses them through libbdev's `Bdev`
//! over `native::bdev::IpcDriver`: it reads the host's pattern, writes new
//! ones (plain and vectored), runs several requests in flight, reads and
//! writes across the end of a disk whose size is not a multiple of 4096,
//! and (restart case) keeps writing while RS crashes the driver. The host
//! then checks the image bytes. Same harness rules as the other `qemu_*`
//! tests: under `CI=true` a missing QEMU fails, otherwise the test skips.

use std::path::Path;
use std::time::Duration;
use system_tests::qemu::{assert_in_order, boot_with_disks};

/// Disk 0: 1 MiB. Disk 1: 64 KiB + 1536 bytes (not a multiple of 4096).
const SIZE0: usize = 1 << 20;
const SIZE1: usize = 65536 + 1536;

/// Byte `off` of a disk written with `seed` (`blkclient` has the same).
fn pat(seed: u8, off: u64) -> u8 {
    (off as u8) ^ ((off >> 8) as u8).wrapping_mul(3) ^ ((off >> 16) as u8).wrapping_mul(5) ^ seed
}

fn image(path: &Path, seed: u8, len: usize) {
    let bytes: Vec<u8> = (0..len as u64).map(|o| pat(seed, o)).collect();
    std::fs::write(path, bytes).expect("writing a disk image");
}

/// Asserts that `img[range]` holds the pattern `seed`.
fn assert_pattern(img: &[u8], seed: u8, range: std::ops::Range<usize>, what: &str) {
    for o in range {
        assert_eq!(img[o], pat(seed, o as u64), "{what}: byte {o}");
    }
}

fn run(mode: &str) -> Option<(String, Vec<u8>, Vec<u8>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (d0, d1) = (dir.path().join("disk0.img"), dir.path().join("disk1.img"));
    image(&d0, 0x11, SIZE0);
    image(&d1, 0x44, SIZE1);
    let r = boot_with_disks(
        &format!("rs-native:rs,ds-native:ds,vault,virtio-blk image,blkclient {mode}"),
        "critical=rs",
        &[&d0, &d1],
        Duration::from_secs(120),
    )?;
    let log = r.serial.clone();
    assert!(!log.contains("FAIL"), "client failed");
    assert!(!log.contains("KERNEL PANIC"));
    assert_eq!(r.status, Some(33), "{}", r.describe());
    Some((
        log,
        std::fs::read(&d0).expect("disk 0"),
        std::fs::read(&d1).expect("disk 1"),
    ))
}

#[test]
fn qemu_virtio_blk_reads_writes_vectors_and_device_end() {
    let Some((log, img0, img1)) = run("basic") else {
        return;
    };
    assert_in_order(
        &log,
        &[
            "[virtio-blk] boot image only; RS starts the service",
            "[virtio-blk] disk 0 at",
            "1048576 bytes",
            "[virtio-blk] disk 1 at",
            "67072 bytes",
            "[virtio-blk] init",
            "2 disk(s)",
            "[blkclient] virtio-blk is up at",
            "[blkclient] sizes: disk 0 1048576 bytes, disk 1 67072 bytes",
            "[blkclient] read the host's pattern (plain and gathered)",
            "[blkclient] wrote new patterns (plain and scattered)",
            "[blkclient] 6 reads in flight at once",
            "[blkclient] disk 1: read 1536 and wrote 1536 bytes at its end, 0 past it",
            "[blkclient] flushed and closed",
            "[blkclient] PASS",
        ],
    );
    // Interrupts, not the fallback poll, finished the requests.
    assert!(log.contains("[virtio-blk] first interrupt"));
    assert!(!log.contains("interrupt missed"), "interrupts were missed");
    // Disk 0: the host's pattern except the two regions written.
    assert_eq!(img0.len(), SIZE0);
    assert_pattern(&img0, 0x11, 0..65536, "disk 0 head");
    assert_pattern(&img0, 0x22, 65536..69632, "plain write");
    assert_pattern(&img0, 0x11, 69632..131072, "disk 0 between");
    assert_pattern(&img0, 0x33, 131072..131072 + 9216, "scattered write");
    assert_pattern(&img0, 0x11, 131072 + 9216..SIZE0, "disk 0 rest");
    // Disk 1: not grown; its last 1536 bytes rewritten.
    assert_eq!(img1.len(), SIZE1);
    assert_pattern(&img1, 0x44, 0..65536, "disk 1 head");
    assert_pattern(&img1, 0x55, 65536..SIZE1, "disk 1 tail");
}

#[test]
fn qemu_virtio_blk_driver_crash_during_io_is_recovered_by_libbdev() {
    let Some((log, img0, img1)) = run("restart") else {
        return;
    };
    assert_in_order(
        &log,
        &[
            "[virtio-blk] init Fresh (restart count 0)",
            // The client's "fault injection requested" line may come before
            // or after the crash: RS answers and crashes it in one handler.
            "[virtio-blk] panic: controlled crash (fault injection)",
            "[virtio-blk] init Restart (restart count 1)",
            "[blkclient] driver restarted (restarts 0 -> 1",
            "[blkclient] all 32 blocks read back right after the restart",
            "[blkclient] PASS",
        ],
    );
    assert!(log.contains("[blkclient] fault injection requested at block 10"));
    assert_pattern(&img0, 0x11, 0..262144, "disk 0 head");
    assert_pattern(
        &img0,
        0x66,
        262144..262144 + 32 * 4096,
        "blocks written across the crash",
    );
    assert_pattern(&img0, 0x11, 262144 + 32 * 4096..SIZE0, "disk 0 rest");
    assert_pattern(&img1, 0x44, 0..SIZE1, "disk 1 untouched");
}

#[test]
fn qemu_virtio_blk_partitions_from_the_mbr() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d0 = dir.path().join("disk0.img");
    // 2 MiB = 4096 sectors: p0 2048..3048, p2 from 1900 running past the end.
    let mut bytes: Vec<u8> = (0..(2usize << 20) as u64).map(|o| pat(0x11, o)).collect();
    for b in &mut bytes[446..512] {
        *b = 0;
    }
    let entry = |kind: u8, start: u32, n: u32| {
        let mut e = [0u8; 16];
        e[4] = kind;
        e[8..12].copy_from_slice(&start.to_le_bytes());
        e[12..16].copy_from_slice(&n.to_le_bytes());
        e
    };
    bytes[446..462].copy_from_slice(&entry(0x81, 2048, 1000));
    bytes[478..494].copy_from_slice(&entry(0x81, 1900, 100_000));
    bytes[510] = 0x55;
    bytes[511] = 0xaa;
    std::fs::write(&d0, &bytes).expect("disk 0");
    let Some(r) = boot_with_disks(
        "rs-native:rs,ds-native:ds,vault,virtio-blk image,blkclient partitions",
        "critical=rs",
        &[&d0],
        Duration::from_secs(120),
    ) else {
        return;
    };
    assert!(!r.serial.contains("FAIL"), "{}", r.serial);
    assert_eq!(r.status, Some(33), "{}", r.describe());
    assert_in_order(
        &r.serial,
        &[
            &format!(
                "[blkclient] p0 {} bytes, p1 absent, p2 {} bytes",
                1000 * 512,
                (4096 - 1900) * 512
            ),
            "[blkclient] p0: wrote 512 bytes at its end, 0 past it",
            "[blkclient] after the new MBR: p1 51200 bytes",
            "[blkclient] PASS",
        ],
    );
    let img = std::fs::read(&d0).expect("disk 0");
    // The write landed in p0's last sector (disk sector 3047), nothing after.
    let end = 3048 * 512;
    for (i, &b) in img[end - 512..end].iter().enumerate() {
        assert_eq!(b, pat(0x66, i as u64), "p0's last sector, byte {i}");
    }
    assert_pattern(&img, 0x11, end..img.len(), "after p0");
    assert_pattern(&img, 0x11, 512..end - 512, "before p0's last sector");
    // The new entry 1 in the MBR.
    assert_eq!(img[462 + 4], 0x81);
    assert_eq!(&img[462 + 8..462 + 12], &3000u32.to_le_bytes());
}
