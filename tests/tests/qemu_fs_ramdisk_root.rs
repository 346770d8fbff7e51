//! QEMU: the root file system on the RAM disk, with no virtio disk at all
//! (`images run --ramdisk IMAGE`: the image is the boot data module
//! `ramdisk`, which the memory driver maps as its block minor 0; MFS
//! mounts it because the boot image has no virtio-blk driver). A 64 MiB
//! MFS image made by the host with the root proto; `fstest ramroot` lists
//! `/`, reads `/etc/motd`, writes and reads back a small and a 3 MiB file,
//! checks `statvfs` covers all 64 MiB, and unmounts. Negative control: a
//! RAM disk of zeros is refused with MFS's reason and the check fails.

use std::path::Path;
use std::time::Duration;
use system_tests::qemu::{assert_in_order, boot_with_ramdisk};

const MODULES: &str = "rs-native:rs,ds-native:ds,vault,memory image,mfs-native:mfs image,\
                       pfs-native:pfs image,vfs-native:vfs image,fstest ramroot 65536";

fn mkfs(path: &Path) {
    let st = std::process::Command::new(env!("CARGO"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["run", "-q", "-p", "images", "--bin", "mfs", "--", "mkfs"])
        .args(["--size", "64M", "--proto", "images/rootfs.proto"])
        .arg(path)
        .status()
        .expect("running mfs mkfs");
    assert!(st.success(), "mkfs failed");
}

#[test]
fn qemu_fs_ramdisk_root_of_64_mib_without_a_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let img = dir.path().join("root.mfs");
    mkfs(&img);
    let Some(r) = boot_with_ramdisk(MODULES, "critical=rs", &img, Duration::from_secs(180)) else {
        return;
    };
    let log = r.serial;
    assert!(!log.contains("KERNEL PANIC"));
    assert_eq!(r.status, Some(33), "run failed");
    assert!(!log.contains("[virtio-blk]"), "a virtio driver ran");
    assert_in_order(
        &log,
        &[
            "kernel: data module 'ramdisk' (65536 KiB), not started",
            "[memory] RAM disk: data module 'ramdisk', 65536 KiB",
            "[mfs] mfs: mfs memory minor 0: MINIX V3, 4096-byte blocks, 16384 blocks (65536 KiB)",
            "[fstest] ls /: . .. etc home dev tmp mnt",
            "[fstest] /etc/motd: Welcome",
            "[fstest] wrote and read back /tmp/ram.txt and a 3 MiB /tmp/big.bin",
            "[fstest] df /: 65536 KiB total",
            "[fstest] synced and unmounted /",
            "[fstest] PASS: ramroot",
        ],
    );
}

/// Negative control: the same boot with a RAM disk of zeros: MFS refuses
/// it and says why, and `ramroot` fails.
#[test]
fn qemu_fs_ramdisk_of_zeros_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let img = dir.path().join("zeros.img");
    std::fs::write(&img, vec![0u8; 4 << 20]).expect("image");
    let Some(r) = boot_with_ramdisk(MODULES, "critical=rs", &img, Duration::from_secs(120)) else {
        return;
    };
    assert_eq!(r.status, Some(35), "the check must fail");
    assert_in_order(
        &r.serial,
        &[
            "[mfs] mfs: mfs: cannot mount memory minor 0: EINVAL (22): not a MINIX file system",
            "[fstest] FAIL: ramroot",
        ],
    );
}
