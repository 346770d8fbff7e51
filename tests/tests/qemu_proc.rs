//! QEMU: processes (issue "Processes: PM and VM, fork and exec from the
//! file system, signals"). Each test boots the file-system stack with PM,
//! VM and `bootinit`; bootinit execs `/sbin/init` from the MFS root disk,
//! init runs the disk's `/etc/rc` (made by `images::rootdisk` for the
//! test) and, after its last line `shutdown`, powers off with a pass only
//! if every command exited 0. The in-guest checks are `/bin/proctest`'s
//! cases; each prints `proctest <case>: ok` or `... FAILED: reason`.
//! Same harness rules as the other `qemu_*` tests: under `CI=true` a
//! missing QEMU fails.

use std::time::Duration;
use system_tests::proc::boot_rc;
use system_tests::qemu::assert_in_order;

const TIMEOUT: Duration = Duration::from_secs(600);

/// Boots with `rc`, asserts a clean pass and `lines` in order; the log.
fn run(rc: &str, lines: &[&str]) -> Option<String> {
    let (_dir, r) = boot_rc(rc, TIMEOUT)?;
    let log = r.serial.clone();
    assert!(!log.contains("KERNEL PANIC"), "{log}");
    assert!(!log.contains("FAILED"), "a check failed:\n{log}");
    assert_in_order(&log, lines);
    assert_eq!(r.status, Some(33), "{}\n{log}", r.describe());
    Some(log)
}

#[test]
fn qemu_proc_init_runs_etc_rc_from_the_disk() {
    let Some(log) = run(
        "# comment\n\n/bin/true\n/bin/child exit 0\ntrue\nshutdown\n",
        &[
            "init: process 1 started from /sbin/init",
            "init: running /bin/true",
            "init: /bin/true: exit 0",
            "init: running /bin/child exit 0",
            "init: /bin/child exit 0: exit 0",
            // A name without a slash is found in PATH (/bin:/sbin).
            "init: running true",
            "init: true: exit 0",
            "init: all done (3 commands, 0 failed)",
        ],
    ) else {
        return;
    };
    assert!(!log.contains("bootinit: cannot exec"), "{log}");
    // PM renames a process after the program it execs (kernel SetName),
    // so console lines and kernel messages carry the program's name, not
    // the boot module's it was forked from.
    assert!(
        log.contains("[init] init: process 1 started from /sbin/init"),
        "{log}"
    );
    assert!(!log.contains("[bootinit] init:"), "{log}");
    // Exits of processes PM manages are PM's business: no kernel console
    // line each (they would land in a terminal session).
    for name in ["true", "child", "bootinit"] {
        let exit = format!("kernel: process '{name}' exited");
        assert!(!log.contains(&exit), "{exit:?} printed: {log}");
    }
}

#[test]
fn qemu_proc_init_reports_a_failing_command_as_a_failed_run() {
    // The verdict is real: a command exiting 3 makes init power off with
    // the failure code.
    let Some((_dir, r)) = boot_rc("/bin/child exit 3\n/bin/true\nshutdown\n", TIMEOUT) else {
        return;
    };
    let log = &r.serial;
    assert_in_order(
        log,
        &[
            "init: /bin/child exit 3: exit 3",
            "init: /bin/true: exit 0",
            "init: all done (2 commands, 1 failed)",
        ],
    );
    assert_ne!(r.status, Some(33), "{}\n{log}", r.describe());
}

#[test]
fn qemu_proc_fork_exec_wait_100_children() {
    let Some(log) = run(
        "/bin/proctest forkexec 100\nshutdown\n",
        &[
            "child: argv [\"/bin/child\", \"check\", \"1\", \"token-0\", \"show\"]",
            "child: CHILD_TOKEN=Some(\"token-0\")",
            "proctest forkexec: 100 children exec'd /bin/child, every exit code came back, no zombie left",
            "proctest forkexec: orphan adopted by init (pid 1)",
            "proctest forkexec: ok",
            "init: all done (1 commands, 0 failed)",
        ],
    ) else {
        return;
    };
    // init reaped the orphan (before its final report).
    let done = log.find("init: all done").expect("all done");
    assert!(log[..done].contains("init: reaped orphan"), "{log}");
}

#[test]
fn qemu_proc_copy_on_write() {
    run(
        "/bin/proctest cow\nshutdown\n",
        &[
            "proctest cow: parent and child each see their own heap and stack writes",
            "proctest cow: 64 MiB touched (16384 pages): fork used",
            "proctest cow: no page copied by the fork of a 64 MiB process; one per page written",
            "proctest cow: ok",
            "init: all done (1 commands, 0 failed)",
        ],
    );
}

#[test]
fn qemu_proc_signals() {
    run(
        "/bin/proctest signals\nshutdown\n",
        &[
            "proctest signals: SIGUSR1 handler ran and returned",
            "proctest signals: sigaction(SIGKILL) -> EINVAL; kill -9 killed the child (killed by SIGKILL)",
            "proctest signals: broken pipe -> writer killed by SIGPIPE; with SIGPIPE ignored -> EPIPE",
            "proctest signals: null dereference -> killed by SIGSEGV (forked) and killed by SIGSEGV (exec'd); the parent goes on",
            "proctest signals: select interrupted by SIGALRM -> EINTR",
            "proctest signals: ok",
            "init: all done (1 commands, 0 failed)",
        ],
    );
}

#[test]
fn qemu_proc_bad_executables() {
    run(
        "/bin/proctest badexec\nshutdown\n",
        &[
            "proctest badexec: not an ELF file -> ENOEXEC; the caller goes on",
            "proctest badexec: truncated ELF -> ENOEXEC; the caller goes on",
            "proctest badexec: overlapping segments -> ENOEXEC; the caller goes on",
            "proctest badexec: 768 MiB bss -> ",
            "MiB bss with ",
            "frames free -> ENOMEM; the caller goes on",
            "proctest badexec: /bin/true still runs (exit 0)",
            "proctest badexec: ok",
            "init: all done (1 commands, 0 failed)",
        ],
    );
}

#[test]
fn qemu_proc_fork_bomb() {
    run(
        "/bin/proctest forkbomb\nshutdown\n",
        &[
            "proctest forkbomb: ",
            "then fork -> EAGAIN",
            "killed and reaped; fork+exec works again",
            "proctest forkbomb: ok",
            "init: all done (1 commands, 0 failed)",
        ],
    );
}

#[test]
fn qemu_proc_bench_runs() {
    // The benchmark's steps work (figures in scripts/bench-proc.sh).
    run(
        "/bin/procbench secs=1\nshutdown\n",
        &[
            "procbench: fork+exec+wait of /bin/true: ",
            "procbench: fork+wait of a 16 MiB process: ",
            "procbench: done",
            "init: all done (1 commands, 0 failed)",
        ],
    );
}

#[test]
fn qemu_proc_user_runtime() {
    // ulib over VFS, PM and VM, from a program on the disk.
    run(
        "/bin/proctest ulib\nshutdown\n",
        &[
            "proctest ulib: files, links, symlinks, directories, chmod, truncate, umask",
            "proctest ulib: cwd /tmp/ulibcwd inherited by exec; FD_CLOEXEC honoured; a child's stdout through a pipe",
            "proctest ulib: ok",
            "init: all done (1 commands, 0 failed)",
        ],
    );
}

#[test]
fn qemu_proc_ids_groups_and_default_actions() {
    run(
        "/bin/proctest ids\nshutdown\n",
        &[
            "proctest ids: setsid made a child session and group leader",
            "proctest ids: uid 1000 cannot setuid(0), signal init or write root's file (EPERM, EACCES)",
            "proctest ids: kill(-",
            ", SIGTERM) ended the group [",
            "proctest ids: alarm(1) and pause -> killed by SIGALRM",
            "proctest ids: ok",
            "init: all done (1 commands, 0 failed)",
        ],
    );
}
