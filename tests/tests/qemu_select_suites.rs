//! QEMU: MINIX's select suites as disk programs run by init from `/etc/rc`
//! on the process system (PM, VM, `bootinit`): `/bin/test40` (select on
//! descriptor sets and bad arguments, regular files, pseudo terminals,
//! FIFOs and pipes, timeouts). Each prints a line per subtest and MINIX's
//! `Test NN ... ok` only if every check held (its timing checks are the
//! program's own, in guest clock ticks, as MINIX's are); the host checks
//! those lines and that init saw every command exit 0.

use images::qemu::RunResult;
use std::time::Duration;
use system_tests::proc::{PROC_APPEND, PROC_MODULES, root_disk_with};
use system_tests::qemu::{assert_in_order, boot_with_disks};

/// Boots the process system with the terminal driver (`tty image`: the
/// console and the pseudo terminals `/dev/ptypN`, `/dev/ttypN`) and an
/// `/etc/rc` of `rc`; `None` when QEMU is missing outside CI.
fn boot_with_tty(rc: &str) -> Option<RunResult> {
    let (_dir, img) = root_disk_with(rc);
    let modules = PROC_MODULES.replace(",bootinit", ",tty image,bootinit");
    assert_ne!(modules, PROC_MODULES, "no bootinit in {PROC_MODULES}");
    boot_with_disks(&modules, PROC_APPEND, &[&img], Duration::from_secs(900))
}

#[test]
fn qemu_select_suites_test40_passes() {
    let Some(r) = boot_with_tty("/bin/test40\nshutdown\n") else {
        return;
    };
    let log = r.serial;
    assert!(!log.contains("KERNEL PANIC"), "{log}");
    assert!(!log.contains("FAILED"), "{log}");
    assert_in_order(
        &log,
        &[
            "test40: subtest a (descriptor sets and argument errors): ok",
            "test40: subtest b (regular files): ok",
            "test40: subtest c (pseudo terminals): ok",
            "test40: subtest d (FIFOs and pipes): ok",
            "test40: subtest e (sockets): skipped",
            "test40: subtest f (timeouts): ok",
            "Test 40 ... ok",
            "init: all done (1 commands, 0 failed)",
        ],
    );
    assert_eq!(r.status, Some(33), "{log}");
}
