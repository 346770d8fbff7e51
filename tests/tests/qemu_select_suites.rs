//! QEMU: MINIX's select suites as disk programs run by init from `/etc/rc`
//! on the process system (PM, VM, `bootinit`) with the terminal driver:
//! `/bin/test40` (select on descriptor sets and bad arguments, regular
//! files, pseudo terminals, FIFOs and pipes, timeouts) and `/bin/test77`
//! (old-style pseudo terminals: open/close orders, second opens, half-open
//! pairs, controlling terminals, SIGHUP on hang-up, select on `/dev/tty`;
//! ten iterations as MINIX). Each prints a line per subtest and MINIX's
//! `Test NN ... ok` only if every check held (the timing checks are the
//! programs' own, in guest clock ticks, as MINIX's are); the host checks
//! those lines and that init saw both commands exit 0. Subtests the system
//! cannot run (sockets, Unix98 ptys) must say "skipped", and only those.
//! The second test runs both from the console shell, as a person would
//! (test77 with two iterations), and checks their pass lines and status.

use images::qemu::RunResult;
use std::time::Duration;
use system_tests::proc::{PROC_APPEND, PROC_MODULES, root_disk_with};
use system_tests::qemu::{assert_in_order, boot_with_disks};
use system_tests::shell::boot_shell;

/// Boots the process system with the terminal driver (`tty image`: the
/// console and the pseudo terminals `/dev/ptypN`, `/dev/ttypN`) and an
/// `/etc/rc` of `rc`; `None` when QEMU is missing outside CI.
fn boot_with_tty(rc: &str) -> Option<RunResult> {
    let (_dir, img) = root_disk_with(rc);
    let modules = PROC_MODULES.replace(",bootinit", ",tty image,bootinit");
    assert_ne!(modules, PROC_MODULES, "no bootinit in {PROC_MODULES}");
    boot_with_disks(&modules, PROC_APPEND, &[&img], Duration::from_secs(1200))
}

/// Lines of `log` from `prog` that report a subtest's verdict `what`.
fn verdicts(log: &str, prog: &str, what: &str) -> usize {
    let tag = format!("{prog}: subtest ");
    log.lines()
        .filter(|l| l.contains(&tag) && l.trim_end().ends_with(what))
        .count()
}

#[test]
fn qemu_select_suites_test40_and_test77_pass() {
    let Some(r) = boot_with_tty("/bin/test40\n/bin/test77\nshutdown\n") else {
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
            "test77: subtest a (open and close orders) (iteration 1): ok",
            "test77: subtest e (SIGHUP on master close) (iteration 1): ok",
            "test77: subtest f (select on /dev/tty) (iteration 1): ok",
            "test77: subtest g (Unix98 ptys and /dev/pts) (iteration 1): skipped",
            "test77: subtest f (select on /dev/tty) (iteration 10): ok",
            "test77: subtest h (old-style and Unix98 exclusion) (iteration 10): skipped",
            "Test 77 ... ok",
            "init: all done (2 commands, 0 failed)",
        ],
    );
    // Every subtest ran: test40 a-d and f, test77 a-f ten times; only the
    // sockets and Unix98 ones were skipped.
    assert_eq!(verdicts(&log, "test40", ": ok"), 5, "{log}");
    assert_eq!(verdicts(&log, "test40", ": skipped"), 1, "{log}");
    assert_eq!(verdicts(&log, "test77", ": ok"), 6 * 10, "{log}");
    assert_eq!(verdicts(&log, "test77", ": skipped"), 2 * 10, "{log}");
    assert_eq!(r.status, Some(33), "{log}");
}

#[test]
fn qemu_select_suites_run_from_the_shell() {
    let Some(mut sh) = boot_shell("", &[], &[]) else {
        return;
    };
    for (cmd, pass) in [
        ("test40", "Test 40 ... ok"),
        ("test77 iterations=2", "Test 77 ... ok"),
    ] {
        let (out, status) = sh.run_timeout(cmd, Duration::from_secs(900));
        if status != 0 || !out.contains(pass) || out.contains("FAILED") {
            sh.fail(&format!("{cmd} at the prompt: status {status}\n{out}"));
        }
    }
    let r = sh.shutdown();
    assert!(r.passed(), "{}", r.describe());
}
