//! The console shell and the terminal through VFS, in QEMU: init's shell
//! has `/dev/console` as its controlling terminal (`/dev/tty` reaches it),
//! and it survives `service fi tty` while it is blocked reading the
//! console: VFS sends the read it was waiting in again to the restarted
//! driver, so the next line typed is read and run as if nothing happened.
//! Same harness rules as the other `qemu_*` tests: under `CI=true` a
//! missing QEMU fails.

use std::time::Duration;
use system_tests::shell::boot_shell;

#[test]
fn qemu_shell_survives_a_tty_crash_while_reading_the_console() {
    let Some(mut sh) = boot_shell("", &[], &[]) else {
        return;
    };
    // The controlling terminal: /dev/tty is the console.
    assert_eq!(sh.ok("echo via-dev-tty > /dev/tty"), "via-dev-tty\n");
    // Something only this shell knows: a new one would not.
    sh.ok("MARK=same-shell");
    // Crash the driver a few seconds from now, in the background: by then
    // the shell is back at its prompt, blocked reading the console.
    sh.ok("sh -c 'sleep 3; /bin/service fi tty' &");
    // The restarted driver says so on the kernel console.
    sh.expect("settings and input restored", Duration::from_secs(120));
    // The read the shell was blocked in was sent again to the new
    // instance: what is typed now is read and run.
    // (A descriptor's first use after the restart reopens it on the new
    // instance first, so the prompt on stderr may come after the echo of
    // the next line typed: a leading prompt is not output.)
    let out = sh.ok("echo alive $MARK");
    if out.strip_prefix("# ").unwrap_or(&out) != "alive same-shell\n" {
        sh.fail(&format!("after the restart: {out:?}"));
    }
    let out = sh.ok("echo via-dev-tty > /dev/tty");
    if out.strip_prefix("# ").unwrap_or(&out) != "via-dev-tty\n" {
        sh.fail(&format!("/dev/tty after the restart: {out:?}"));
    }
    let r = sh.shutdown();
    assert!(r.passed(), "{}", r.describe());
    assert_eq!(
        r.serial.matches("init: console shell").count(),
        1,
        "init never had to start another shell"
    );
}
