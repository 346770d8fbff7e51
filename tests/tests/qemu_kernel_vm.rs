//! QEMU tests of the kernel calls a user-space memory manager and the
//! process manager need (issue 5): hardware privileges (IRQ lines,
//! physical memory ranges), `MapPhys`/`Unmap`, `Times`, the boot memory
//! map, `Fork`, `CloneSpace` and `ClearSpace`. The `privs` boot program
//! runs the checks and prints `check NAME: ok|WRONG`. Same harness rules as
//! `qemu_boot.rs`: under `CI=true` a missing QEMU fails, otherwise skips.

use system_tests::qemu::{assert_in_order, boot};

fn assert_checks(log: &str, name: &str, checks: &[&str]) {
    for c in checks {
        let line = format!("[{name}] check {c}: ok");
        assert!(log.contains(&line), "missing {line:?}");
    }
    assert!(!log.contains("WRONG"), "a check failed");
    assert!(!log.contains("KERNEL PANIC"));
}

/// Free memory after loading and at the end of the run must match: every
/// frame of every process (forked, cloned, torn down) was given back.
fn assert_no_frames_leaked(log: &str) {
    let free = |marker: &str| -> u64 {
        let at = log
            .find(marker)
            .unwrap_or_else(|| panic!("{marker:?} missing"))
            + marker.len();
        let digits: String = log[at..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().expect("KiB figure")
    };
    assert_eq!(free("modules, "), free("blocked; "), "frames leaked");
}

#[test]
fn qemu_kernel_irq_and_memory_privileges() {
    let Some(r) = boot("privs:hw hw", "strict") else {
        return;
    };
    assert_checks(
        &r.serial,
        "hw",
        &[
            "narrow IRQ lines",
            "hook IRQ 3 denied",
            "hook IRQ 4 allowed",
            "unhook IRQ 4",
            "bad IRQ line",
            "bad IRQ mask",
            "map phys without a range denied",
            "kernel image range refused",
            "allocator RAM range refused",
            "give memory range",
            "unaligned memory range refused",
            "map phys writable",
            "map phys read-only",
            "map phys outside the range denied",
            "map phys over a mapped page refused",
            "map phys unaligned refused",
            "map phys into the kernel refused",
            "both mappings show one page",
            "read-only mapping refuses writes",
            "unmap one page",
            "unmapped page is gone",
            "unmap the other",
        ],
    );
    assert!(r.serial.contains("kernel: process 'hw' exited with code 0"));
    assert_no_frames_leaked(&r.serial);
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_kernel_times_and_memory_map() {
    let Some(r) = boot("privs:tm times,privs:mm memmap", "strict") else {
        return;
    };
    assert_checks(
        &r.serial,
        "tm",
        &[
            "user ticks counted",
            "system time measured",
            "uptime matches",
            "times of a dead endpoint refused",
        ],
    );
    assert_checks(
        &r.serial,
        "mm",
        &[
            "memmap whole records",
            "memmap has RAM above 1 MiB",
            "memmap has this module",
            "memmap has the kernel",
            "memmap cut at a record",
        ],
    );
    assert_no_frames_leaked(&r.serial);
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_kernel_fork_clone_and_clear() {
    // Not strict: the torn-down child is meant to fault.
    let Some(r) = boot("privs:fk fork", "") else {
        return;
    };
    assert_checks(
        &r.serial,
        "fk",
        &[
            "map heap",
            "write heap",
            "child is another process",
            "child saw a copy",
            "parent memory unchanged",
            "clone onto itself refused",
            "clone of a dead endpoint refused",
            "sleep",
            "clear child space",
            "torn-down child dies",
        ],
    );
    let log = &r.serial;
    assert!(log.contains("[fk] child: saw parent memory true, reported true"));
    assert_eq!(log.matches("kernel: 'fk' forked as slot").count(), 2);
    assert!(
        log.contains("killed: page fault"),
        "the torn-down child faults"
    );
    assert!(!log.contains("second child woke"));
    assert_eq!(
        log.matches("kernel: process 'fk' exited with code 0")
            .count(),
        2,
        "parent and first child exit cleanly"
    );
    assert_no_frames_leaked(&r.serial);
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_kernel_exec_path_and_slot_owner() {
    // Not strict: the test kills two stopped processes on purpose.
    let Some(r) = boot("privs:ex exec", "") else {
        return;
    };
    assert_checks(
        &r.serial,
        "ex",
        &[
            "clear its space",
            "clone my image into it",
            "map its data page",
            "vircopy into it",
            "vircopy to unmapped memory refused",
            "vircopy too long refused",
            "set entry of itself refused",
            "set entry",
            "started process reports",
            "exec request received",
            "prepare blocked child",
            "set entry of a blocked process",
            "blocked process restarted",
            "slot owner of a live endpoint",
            "kill a",
            "slot owner of an empty slot",
            "stale endpoint is refused",
            "slot owner names the new one",
            "kill b",
        ],
    );
    assert_in_order(
        &r.serial,
        &[
            "[ex] check set entry: ok",
            "[ex] exec entry: args 7 2, copied page true",
            "[ex] check started process reports: ok",
        ],
    );
    assert!(
        !r.serial.contains("exec request returned"),
        "the abandoned request must not return"
    );
    assert_eq!(
        r.serial
            .matches("kernel: process 'ex' exited with code 0")
            .count(),
        3
    );
    assert_no_frames_leaked(&r.serial);
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_kernel_receive_from_a_specific_endpoint() {
    let Some(r) = boot("privs:sel select", "strict") else {
        return;
    };
    assert_checks(
        &r.serial,
        "sel",
        &[
            "sleep",
            "receive from the second child first",
            "then the first child's message",
        ],
    );
    assert_eq!(
        r.serial
            .matches("kernel: process 'sel' exited with code 0")
            .count(),
        3
    );
    assert_no_frames_leaked(&r.serial);
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_kernel_signal_manager_releases_a_stopped_process() {
    // Not strict: the kill is deliberate.
    let Some(r) = boot("privs:pm reap", "") else {
        return;
    };
    assert_checks(
        &r.serial,
        "pm",
        &[
            "release of a live process refused",
            "signal without a manager refused",
            "become signal manager",
            "raise SIGTERM",
            "bad signal number refused",
            "signal notification",
            "SIGTERM pending",
            "taken once",
            "stop the child",
            "notified by SYSTEM",
            "SIGKILL pending",
            "kept child inspected",
            "release the kept child",
            "released once only",
            "slot is empty",
            "manage the second child",
            "live before its fault",
            "tell the child to fault",
            "fault notification",
            "SIGSEGV pending",
            "fault state kept",
            "release the faulted child",
        ],
    );
    assert!(
        r.serial
            .contains("kernel: fault reported to signal manager")
    );
    assert_no_frames_leaked(&r.serial);
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_kernel_new_calls_refuse_malformed_arguments() {
    let Some(r) = boot("privs:bad badcalls", "strict") else {
        return;
    };
    assert_checks(
        &r.serial,
        "bad",
        &[
            "times into kernel memory",
            "memmap into unmapped memory",
            "procinfo into a null pointer",
            "vircopy from kernel memory",
            "unmap a wrapping range",
            "map phys with a huge count",
            "unused call numbers",
        ],
    );
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_kernel_serial_irq_is_held_while_disabled() {
    let Some(r) = boot("privs:uart irqctl", "strict") else {
        return;
    };
    assert_checks(
        &r.serial,
        "uart",
        &[
            "COM1 ports",
            "ctl of an unhooked line refused",
            "hook IRQ 4",
            "clock cannot be disabled",
            "disable IRQ 4",
            "enable THRE interrupt",
            "nothing while disabled",
            "enable IRQ 4",
            "pending interrupt arrives",
            "disable THRE interrupt",
            "read IIR",
            "unhook IRQ 4",
        ],
    );
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_kernel_user_fault_goes_to_pm() {
    // Not strict: the user process faults on purpose.
    let Some(r) = boot("privs:pm pmwatch,fault:u pf", "user=u") else {
        return;
    };
    assert_checks(
        &r.serial,
        "pm",
        &[
            "fault notification",
            "SIGSEGV pending",
            "fault address",
            "release the user process",
        ],
    );
    assert_in_order(
        &r.serial,
        &[
            "kernel: process 'u' killed: page fault at 0xdeadbeef",
            "kernel: fault reported to signal manager 0x2",
            "kernel: process 'pm' exited with code 0",
        ],
    );
    assert_no_frames_leaked(&r.serial);
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_kernel_cow_fork_pager_stop_and_registers() {
    // Not strict: the worker's last fault is failed on purpose.
    let Some(r) = boot("privs:cw cow", "") else {
        return;
    };
    assert_checks(
        &r.serial,
        "cw",
        &[
            "worker ready",
            "stop of the caller refused",
            "no page faults yet",
            "manage the worker",
            "own pager refused",
            "become the worker's pager",
            "child is a new process",
            "fork shares frames instead of copying",
            "no copy at fork",
            "proc_fork of a dead endpoint refused",
            "second child without a pager",
            "child has the parent's registers",
            "set_regs of a process not stopped refused",
            "page_fix without a held fault refused",
            "page_fix by a process that is not the pager refused",
            "start child C",
            "start child D",
            "answer the worker",
            "stop returns the IPC peer",
            "stop twice",
            "reply to a stopped process",
            "reply deposited",
            "stopped process did not run",
            "kernel rip refused",
            "rsp outside user space refused",
            "flags sanitized",
            "set registers",
            "registers read back",
            "child exited with 0",
            "parent and children see their own values",
            "write faults reached the pager while held",
            "PageFix COW resolved them",
            "a process without a pager is resolved by the kernel",
            "the crash reached the pager",
            "PageFix FAIL gave SIGSEGV",
            "redirected child ran with the new registers",
            "writes copied shared frames",
            "no frame shared any more",
            "victim gets a pager that will die",
            "start the victim",
            "fault held for the other pager",
            "pager death fails the held fault",
            "release the victim",
            // Protect (tests/programs/privs/src/protect.rs).
            "protect worker ready",
            "manage and page the protect worker",
            "protect arguments refused",
            "protect a range with a hole refused",
            "protect a mapped range",
            "map a physical page twice",
            "protect a writable physical page read-only",
            "a read-only physical page cannot become writable",
            "a writable physical page becomes writable again",
            "unmap the physical pages",
            "protect read-only",
            "protect again changes nothing",
            "kernel copy into a read-only page refused",
            "tell the worker to write",
            "write to a read-only page reached the pager",
            "page_fix COW of a read-only page refused",
            "protect writable",
            "retry the held write",
            "the write went through",
            "protect a copy-on-write page read-only",
            "read-only copy-on-write page refuses kernel copies",
            "its frame stays shared",
            "protect the shared page writable",
            "start the child",
            "the child wrote its own value",
            "a shared page made writable was copied",
            "protect the second child's page read-only",
            "start the second child",
            "a read-only copy-on-write page faults without a pager",
            "protect the last reference writable",
            "tell the worker to write again",
            "written without a fault",
            "protect workers exit",
            "no other fault failed",
        ],
    );
    let log = &r.serial;
    assert_eq!(
        log.matches("[cw] check child exited with 0: ok").count(),
        2,
        "both children exit cleanly"
    );
    assert!(log.contains("kernel: process 'cw' killed: page fault at 0xdeadbeef"));
    // The second protect child's write to its read-only page (a protection
    // fault on a present page: error 0x7).
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("kernel: process 'cw' killed: page fault at")
                && !l.contains("0xdeadbeef")
                && l.contains("error 0x7"))
            .count(),
        1,
        "the write to a read-only page faulted"
    );
    assert!(log.contains("kernel: process 'cw' exited with code 0"));
    assert_no_frames_leaked(log);
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_kernel_plain_user_reaches_a_vm_started_later() {
    // `vm` at boot spawns another `vm` (a new slot) and exits: the plain
    // user's right to talk to VM follows the name, not the boot-time slot.
    let Some(r) = boot(
        "pong:vfs,privs:sh plain late,privs:other other,privs:vm latevm",
        "user=sh strict",
    ) else {
        return;
    };
    assert_checks(
        &r.serial,
        "sh",
        &[
            "request to vfs allowed",
            "send to other denied",
            "kernel call denied",
            "user kernel calls allowed",
            "process calls denied",
            "vm started later in another slot",
            "request to the later vm allowed",
            "quit vfs",
        ],
    );
    assert_checks(
        &r.serial,
        "vm",
        &[
            "spawn a later vm",
            "tell the user",
            "user asks",
            "answer the user",
        ],
    );
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_kernel_set_name_renames_and_keeps_server_names() {
    // `sh` is a plain user: never renamed after a server plain users reach
    // (pm, vfs, vm) or a critical process, never preferred by WhoIs over a
    // system process of the same name; renames show in the console
    // prefixes and kernel messages (see tests/programs/privs/src/names.rs).
    let Some(r) = boot(
        "pong:vfs,privs:namer setname,privs:sh plainname,privs:other other",
        "user=sh critical=rs strict",
    ) else {
        return;
    };
    assert_checks(
        &r.serial,
        "namer",
        &[
            "plain user not named pm, vfs or vm",
            "plain user not named after a critical process",
            "bad names refused",
            "dead endpoints refused",
            "still named sh",
            "rename the user other",
            "whois prefers the system process",
            "rename the user shell",
            "whois finds the new name only",
        ],
    );
    assert_checks(
        &r.serial,
        "renamer",
        &[
            // Printed after the rename.
            "rename itself",
            "whois finds itself renamed",
            "go to the user",
            "tell other",
        ],
    );
    assert_checks(
        &r.serial,
        "shell",
        &[
            "go from namer",
            "set name denied",
            "whois finds its new name",
            "request to vfs allowed",
            "quit vfs",
        ],
    );
    assert_checks(&r.serial, "other", &["bye from boss"]);
    assert!(!r.serial.contains("[sh] "), "sh printed under its old name");
    for name in ["shell", "renamer", "other"] {
        let exit = format!("kernel: process '{name}' exited with code 0");
        assert!(r.serial.contains(&exit), "missing {exit:?}");
    }
    assert!(r.passed(), "{}", r.describe());
}
