//! QEMU: the in-guest file-system benchmark (`tests/programs/fsbench`) runs to the
//! end on a smaller workload (8 MiB, 200 files; the full one is
//! `scripts/bench-fs.sh`), printing every figure with its ratio to the
//! Linux anchor and where each phase's CPU ticks went. It checks that each
//! step worked (the file read back is the file written, creates and
//! unlinks all succeed), never how fast: no timing thresholds.

use std::time::Duration;
use system_tests::mfs;
use system_tests::qemu::{assert_in_order, boot_with_disks};

#[test]
fn qemu_fs_bench_runs_every_step_and_reports_ratios() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (root, disk) = (dir.path().join("root.mfs"), dir.path().join("bench.mfs"));
    mfs::root_image(&root, "32M", 4096);
    mfs::ok(&["mkfs", "--size", "32M", &disk.to_string_lossy()]);
    let Some(r) = boot_with_disks(
        "rs-native:rs,ds-native:ds,vault,virtio-blk image,memory image,mfs-native:mfs image,\
         pfs-native:pfs image,vfs-native:vfs image,fsbench 8 200",
        "critical=rs",
        &[&root, &disk],
        Duration::from_secs(600),
    ) else {
        return;
    };
    let log = &r.serial;
    assert_eq!(r.status, Some(33), "{}\n{log}", r.describe());
    assert!(!log.contains("FAIL"), "{log}");
    assert_in_order(
        log,
        &[
            "fsbench: cpu ticks during the write: vfs user",
            "fsbench: sequential 8 MiB write + fsync: ",
            "fsbench: cold sequential 8 MiB read: ",
            "fsbench: create + 100-byte write, 200 files in one directory: ",
            "fsbench: unlink of those 200 files: ",
            "fsbench: done",
        ],
    );
    for l in log.lines().filter(|l| l.contains(" ratio ")) {
        assert!(l.contains("Linux minix.ko in the same QEMU"), "{l}");
    }
    // The benchmark cleaned up after itself and unmounted: the disk is
    // clean and its root holds nothing.
    mfs::assert_clean(&disk);
    let listing = mfs::ok(&["ls", &disk.to_string_lossy(), "/"]);
    assert!(
        !listing.contains("big") && !listing.contains(" d\n"),
        "{listing}"
    );
}
