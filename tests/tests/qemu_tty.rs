//! QEMU: the terminal driver (`servers/drivers/tty`, issue 12 item 1). Boots the
//! process system with the `tty` driver; `/etc/rc` runs `/bin/ttytest`,
//! whose cases go through VFS to the pty pairs (both directions, termios,
//! select, ^C and SIGHUP to the foreground group through PM, `/dev/tty`),
//! then crashes the driver with `service fi tty` and checks that the
//! console's settings survived the restart. Each case prints
//! `ttytest <case>: ok` or `... FAILED: why`; init powers off with a pass
//! only if every command exited 0. Same harness rules as the other
//! `qemu_*` tests: under `CI=true` a missing QEMU fails.

use std::time::Duration;
use system_tests::proc::{PROC_APPEND, PROC_MODULES, root_disk_with};
use system_tests::qemu::{assert_in_order, boot_with_disks};

const TIMEOUT: Duration = Duration::from_secs(600);

/// The process system's modules with the TTY driver.
fn modules() -> String {
    if PROC_MODULES.split(',').any(|m| m.trim().starts_with("tty")) {
        PROC_MODULES.to_string()
    } else {
        format!("{PROC_MODULES},tty image")
    }
}

#[test]
fn qemu_tty_ptys_termios_signals_and_a_restart_through_vfs() {
    let rc = "/bin/ttytest\n\
              /bin/ttytest keep-set\n\
              /bin/service fi tty\n\
              /bin/ttytest keep-check pty termios\n\
              shutdown\n";
    let (_dir, img) = root_disk_with(rc);
    let Some(r) = boot_with_disks(&modules(), PROC_APPEND, &[&img], TIMEOUT) else {
        return;
    };
    let log = &r.serial;
    assert!(!log.contains("KERNEL PANIC"), "{log}");
    assert!(!log.contains("FAILED"), "a check failed:\n{log}");
    assert_in_order(
        log,
        &[
            "tty: init Fresh",
            "ttytest pty: ok",
            "ttytest termios: ok",
            "ttytest select: ok",
            "ttytest intr: ok",
            "ttytest hangup: ok",
            "ttytest ctty: ok",
            "ttytest keep-set: ok",
            // The restarted driver took its saved state back.
            "settings and input restored",
            "ttytest keep-check: ok",
            "ttytest pty: ok",
            "ttytest termios: ok",
            "init: all done (4 commands, 0 failed)",
        ],
    );
    assert_eq!(r.status, Some(33), "{}\n{log}", r.describe());
}
