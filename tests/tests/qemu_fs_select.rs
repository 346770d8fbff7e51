//! QEMU: select(2) in the OS, the native counterpart of
//! `vfs/tests/select.rs` (MINIX t40f). `fstest select fifo` runs on a
//! booted file-system stack: zero, 10 ms, 100 ms, {3, 0} and {2, 999999}
//! timeouts on an empty pipe (0 ready, never before the timeout: times are
//! clock ticks and only lower bounds are checked), invalid timevals
//! (EINVAL), a pipe written by its own process (ready, then not after the
//! read: the negative control of the empty pipe), `/dev/zero` and
//! `/dev/null` through the memory driver (ready at once, also beside the
//! empty pipe with no timeout), and a select without timeout woken by
//! another process (`fstest selwriter`) writing a FIFO, then by its close
//! (EOF readable). The host checks the wake-ups did not come before the
//! writer's write and close.
//!
//! Not covered natively: MINIX's early-alarm rule (the timeout fires before
//! a driver answered the initial query) needs a character driver slower
//! than a clock tick; the only native one (memory) answers at once. The
//! simulator test `driver_answering_after_the_timeout` covers it.

use std::time::Duration;
use system_tests::qemu::{assert_in_order, boot_with_disks};

/// The number after `prefix` on the line that has it.
fn tick(log: &str, prefix: &str) -> u64 {
    let line = log
        .lines()
        .find_map(|l| l.split_once(prefix).map(|(_, r)| r))
        .unwrap_or_else(|| panic!("no line with {prefix:?}"));
    line.split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number after {prefix:?}"))
}

#[test]
fn qemu_fs_select_timeouts_devices_and_a_fifo_written_by_another_process() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root.mfs");
    let st = std::process::Command::new(env!("CARGO"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["run", "-q", "-p", "images", "--bin", "mfs", "--", "mkfs"])
        .args(["--size", "8M", "--proto", "images/rootfs.proto"])
        .arg(&root)
        .status()
        .expect("running mfs mkfs");
    assert!(st.success());
    let Some(r) = boot_with_disks(
        "rs-native:rs,ds-native:ds,vault,virtio-blk image,memory image,mfs-native:mfs image,\
         pfs-native:pfs image,vfs-native:vfs image,fstest select fifo,fstest:selwriter selwriter",
        "critical=rs",
        &[&root],
        Duration::from_secs(180),
    ) else {
        return;
    };
    let log = r.serial;
    assert!(!log.contains("KERNEL PANIC"));
    assert_eq!(r.status, Some(33), "run failed");
    assert_in_order(
        &log,
        &[
            "[fstest] empty pipe: poll gives 0, write end writable",
            "[fstest] timeout (0, 10000) on the empty pipe: 0 after",
            "[fstest] timeout (0, 100000) on the empty pipe: 0 after",
            "[fstest] timeout (3, 0) on the empty pipe: 0 after",
            "[fstest] timeout (2, 999999) on the empty pipe: 0 after",
            "[fstest] invalid timevals: EINVAL",
            "[fstest] own pipe: readable after a write, not after the read",
            "[fstest] /dev/zero, NULL timeout: 1 after",
            "[fstest] devices: /dev/zero readable, /dev/null writable, empty pipe beside them not",
            "[selwriter] selwriter: writing at tick",
            "[fstest] fifo: woken at tick",
            "[selwriter] selwriter: closing at tick",
            "[fstest] fifo: 1 ready at tick",
            "[fstest] PASS: select",
        ],
    );
    // Not before the timeout (ticks at HZ = 100, rounded up).
    for (t, min) in [
        ("(0, 10000)", 1),
        ("(0, 100000)", 10),
        ("(3, 0)", 300),
        ("(2, 999999)", 300),
    ] {
        let el = tick(&log, &format!("timeout {t} on the empty pipe: 0 after "));
        assert!(el >= min, "timeout {t} returned after {el} ticks");
    }
    // Woken by the write and by the close, not before them.
    let wrote = tick(&log, "selwriter: writing at tick ");
    let woke = tick(&log, "fifo: woken at tick ");
    assert!(woke >= wrote, "woken at {woke}, written at {wrote}");
    let closed = tick(&log, "selwriter: closing at tick ");
    let eof = tick(&log, "fifo: 1 ready at tick ");
    assert!(eof >= closed, "EOF seen at {eof}, closed at {closed}");
}

/// MINIX's early-alarm case natively: `slowdev` (major 7) answers select
/// queries 50 ticks late, after the 10 ms timeout has fired; the select
/// then finishes as though non-blocking with what the driver reported
/// (minor 0: nothing; minor 1: readable) instead of hanging or waiting
/// again. The driver's late answer comes before the select returns.
#[test]
fn qemu_fs_select_early_alarm_finishes_with_the_late_drivers_answer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root.mfs");
    system_tests::mfs::root_image(&root, "16M", 4096);
    let Some(r) = boot_with_disks(
        "rs-native:rs,ds-native:ds,vault,virtio-blk image,memory image,slowdev image,\
         mfs-native:mfs image,pfs-native:pfs image,vfs-native:vfs image,fstest select earlyalarm",
        "critical=rs",
        &[&root],
        Duration::from_secs(180),
    ) else {
        return;
    };
    let log = r.serial;
    assert_eq!(r.status, Some(33), "run failed\n{log}");
    assert_in_order(
        &log,
        &[
            "[fstest] early alarm: select on minor 0 with a 10 ms timeout",
            "[slowdev] slowdev: answered select of minor 0 50 ticks late",
            "[fstest] early alarm: minor 0: 0 ready after",
            "[fstest] early alarm: select on minor 1 with a 10 ms timeout",
            "[slowdev] slowdev: answered select of minor 1 50 ticks late",
            "[fstest] early alarm: minor 1: 1 ready after",
            "[fstest] PASS: select",
        ],
    );
    // It waited for the driver's answer (50 ticks of guest time after the
    // query), past its own 10 ms timeout: a lower bound, never flaky.
    for minor in [0, 1] {
        let el = tick(
            &log,
            &format!("early alarm: minor {minor}: {minor} ready after "),
        );
        assert!(el >= 50, "minor {minor}: returned after {el} ticks");
    }
}
