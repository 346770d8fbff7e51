//! QEMU: `/bin/service` (issue 12, "MINIX's own tools"). One boot of the
//! process system (file-system stack, PM, VM, init from the root disk)
//! whose `/etc/rc` lists RS's services, crashes MFS with `service fi` and
//! reads a file through the healed file server, takes the memory driver
//! down and brings it back with `service up` (then reads `/dev/zero`
//! through it), asks for a label RS does not know, and tries `service` as
//! uid 1000 (`child asuser`), which RS refuses after asking PM. Init
//! counts the commands that exit non-zero: the four expected failures
//! (bad label, two non-root attempts, a bad command line) make the run a
//! failure, so the verdict is checked as that count. Same harness rules
//! as the other `qemu_*` tests: under `CI=true` a missing QEMU fails.

use std::time::Duration;
use system_tests::proc::boot_rc;
use system_tests::qemu::assert_in_order;

const RC: &str = "\
/bin/service list
/bin/service status mfs
/bin/service fi mfs
/bin/child read /etc/rc
/bin/service status mfs
/bin/service down memory
/bin/service status memory
/bin/service up memory
/bin/service status memory
/bin/child read /dev/zero
/bin/service status nosuch
/bin/child asuser 1000 /bin/service list
/bin/child asuser 1000 /bin/service fi mfs
/bin/service bogus
/bin/service status mfs
@TRUES@/bin/service status vfs
shutdown
";

/// The first line of `log` after `from` that contains every one of `parts`.
fn line_with<'a>(log: &'a str, from: &str, parts: &[&str]) -> &'a str {
    let start = log.find(from).unwrap_or_else(|| panic!("{from:?} missing"));
    log[start..]
        .lines()
        .find(|l| parts.iter().all(|p| l.contains(p)))
        .unwrap_or_else(|| panic!("no line with {parts:?} after {from:?}:\n{log}"))
}

#[test]
fn qemu_service_list_fi_down_up_status_and_root_only() {
    // Forty commands more before the last `service`: every exec leaves PM
    // an unanswered sendrec, and RS's request to PM must still get in.
    let rc = RC.replace("@TRUES@", &"/bin/true\n".repeat(40));
    let Some((_dir, r)) = boot_rc(&rc, Duration::from_secs(600)) else {
        return;
    };
    let log = &r.serial;
    assert!(!log.contains("KERNEL PANIC"), "{log}");
    assert_in_order(
        log,
        &[
            "init: running /bin/service list",
            "LABEL",
            "ENDPOINT",
            "STATE",
            "RESTARTS",
            "POLICY",
            "PROGRAM",
            "init: /bin/service list: exit 0",
            "init: running /bin/service status mfs",
            "mfs: running, endpoint ",
            ", restarts 0, policy stateful",
            "init: /bin/service status mfs: exit 0",
            "init: running /bin/service fi mfs",
            // MFS crashed on request and RS restarted it (its record may
            // come before or after `service` exits)...
            "[rs] rs: mfs (",
            "died: Panic, restarts 0",
            // ...and the file server healed: a file reads through it.
            "child: read ",
            " bytes from /etc/rc",
            "init: /bin/child read /etc/rc: exit 0",
            ", restarts 1, policy stateful",
            "init: /bin/service status mfs: exit 0",
            "init: /bin/service down memory: exit 0",
            "memory: down, endpoint ",
            "init: /bin/service status memory: exit 0",
            "init: /bin/service up memory: exit 0",
            "memory: running, endpoint ",
            "init: /bin/service status memory: exit 0",
            // The new instance serves the character devices.
            "child: read 4096 bytes from /dev/zero",
            "init: /bin/child read /dev/zero: exit 0",
            "service: no such service: nosuch",
            "init: /bin/service status nosuch: exit 1",
            "service: Operation not permitted",
            "init: /bin/child asuser 1000 /bin/service list: exit 1",
            "service: Operation not permitted",
            "init: /bin/child asuser 1000 /bin/service fi mfs: exit 1",
            "service: unknown command \"bogus\"",
            "usage: service up <program>",
            "init: /bin/service bogus: exit 2",
            // The refused fi did nothing: still one restart.
            ", restarts 1, policy stateful",
            "init: /bin/service status mfs: exit 0",
            "init: /bin/service status vfs: exit 0",
            "init: all done (56 commands, 4 failed)",
        ],
    );
    assert_in_order(
        log,
        &[
            "init: /bin/service fi mfs: exit 0",
            "init: running /bin/child read /etc/rc",
        ],
    );
    // The table has a row per service RS knows, with its state: the
    // running file server, and echo, known but not in this boot image.
    let from = "init: running /bin/service list";
    let mfs = line_with(log, from, &["mfs ", "running", "stateful"]);
    assert!(mfs.trim_end().ends_with("mfs"), "{mfs}");
    line_with(log, from, &["pm ", "running", "restart", " pm"]);
    line_with(log, from, &["echo ", "NONE", "down", "echo"]);
    // The memory driver came back at a new endpoint (a fresh instance).
    let before = line_with(log, from, &["memory ", "running"]);
    let mut words = before.split_whitespace().skip_while(|w| *w != "memory");
    let ep_before = words.nth(1).unwrap_or_default();
    assert!(ep_before.contains('.'), "{before}");
    let after = line_with(
        log,
        "init: running /bin/service up memory",
        &["memory: running, endpoint "],
    );
    assert!(
        !after.contains(&format!("endpoint {ep_before},")),
        "{before} / {after}"
    );
    // Exactly one MFS crash: the non-root fi was refused by RS.
    assert_eq!(log.matches("[rs] rs: mfs (").count(), 1, "{log}");
    assert_ne!(r.status, Some(33), "{}\n{log}", r.describe());
}
