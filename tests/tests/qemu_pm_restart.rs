//! QEMU: PM keeps its process table across a restart. The processes
//! boot (PM, VM, bootinit, the MFS root disk) plus the boot module
//! `pmcrash`, which asks RS to crash PM (`service fi pm`) each time
//! `/bin/pmcheck` (run from `/etc/rc`) is ready; after each restart
//! pmcheck checks that PM still knows it (pid, parent, alarm, child) and
//! at the end that its child's handler and exit status come back; init,
//! waiting for pmcheck in PM at every crash, reports it passed. The
//! negative control boots PM with `volatile` (its table in the ordinary
//! heap): init's child is lost. Same harness rules as the other `qemu_*`
//! tests: under `CI=true` a missing QEMU fails.

use std::time::Duration;
use system_tests::proc::{PROC_APPEND, PROC_MODULES, root_disk_with};
use system_tests::qemu::{assert_in_order, boot_with_disks};

const TIMEOUT: Duration = Duration::from_secs(600);

fn boot(pm_volatile: bool, crashes: u32, rc: &str) -> Option<images::qemu::RunResult> {
    let (_dir, img) = root_disk_with(rc);
    let modules = if pm_volatile {
        PROC_MODULES.replace("pm image", "pm image volatile")
    } else {
        PROC_MODULES.to_string()
    };
    assert_ne!(modules.contains("volatile"), !pm_volatile);
    // pmcrash is a second binary of the pmcheck crate: staged by path.
    let crasher = system_tests::qemu::built().program("pmcrash");
    let modules = format!("{modules},{}:pmcrash crashes={crashes}", crasher.display());
    boot_with_disks(&modules, PROC_APPEND, &[&img], TIMEOUT)
}

#[test]
fn qemu_pm_restart_keeps_the_process_table() {
    // init waits for pmcheck in PM during every crash: its wait, cut off,
    // is repeated by ulib, and its verdict ends the run.
    let Some(r) = boot(false, 3, "/bin/pmcheck 3\nshutdown\n") else {
        return;
    };
    let log = &r.serial;
    assert!(!log.contains("KERNEL PANIC"), "{log}");
    assert!(!log.contains("FAILED"), "{log}");
    let mut lines = Vec::new();
    for i in 1..=3 {
        lines.push("rs: pm".to_string());
        lines.push(format!("pmcrash: PM crashed and restarted ({i})"));
        lines.push(format!("pmcheck: restart {i}: pid "));
    }
    lines.push("pmcheck: the child's handler ran (exit 42) and its status came back".into());
    lines.push("pmcheck: ok".into());
    lines.push("init: /bin/pmcheck 3: exit 0".into());
    lines.push("init: all done (1 commands, 0 failed)".into());
    lines.push("pm: reboot: halting".into());
    assert_in_order(log, &lines);
    assert!(log.contains("pm: recovered the process table"), "{log}");
    assert_eq!(r.status, Some(33), "{}\n{log}", r.describe());
}

#[test]
fn qemu_pm_restart_without_the_table_loses_the_processes() {
    // Negative control: a PM that keeps its table in the ordinary heap.
    // After the crash it adopts init again but knows nothing of init's
    // child: init's wait for pmcheck says ECHILD and the run fails.
    // pmcheck halts with its own verdict if it gets that far.
    let Some(r) = boot(true, 1, "/bin/pmcheck 1 halt\nshutdown\n") else {
        return;
    };
    let log = &r.serial;
    assert!(!log.contains("KERNEL PANIC"), "{log}");
    assert_in_order(
        log,
        &[
            "pm: volatile",
            "rs: pm",
            "pm: restarted (restart 1) without its table",
            "pm: adopted init as pid 1",
            "init: /bin/pmcheck 1 halt: No child processes",
        ],
    );
    assert!(!log.contains("pm: recovered the process table"), "{log}");
    assert!(!log.contains("pmcheck: ok"), "{log}");
    assert_ne!(r.status, Some(33), "{}\n{log}", r.describe());
}
