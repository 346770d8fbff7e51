//! QEMU boot scenarios for the kernel (issue 2): user programs print in
//! order, exit normally, faulting programs are stopped and named, and the
//! harness tells pass from every kind of failure.
//!
//! The OS is built once per test binary through `images::build` (into
//! `target/os`, so it does not contend for the outer cargo lock). Under
//! `CI=true` a missing QEMU is a failure; otherwise the tests print a note
//! and skip.

use images::qemu::{self, Outcome};
use std::time::Duration;
use system_tests::qemu::{assert_in_order, boot_with_timeout as boot};

const GENEROUS: Duration = qemu::DEFAULT_TIMEOUT;

/// Byte offset of `needle` in `hay`, with a readable failure.
fn find(hay: &str, needle: &str) -> usize {
    hay.find(needle)
        .unwrap_or_else(|| panic!("serial log lacks {needle:?}"))
}

fn hello_lines(name: &str, args: &str, code: i32) -> Vec<String> {
    let mut v = vec![format!("[{name}] hello from user space, args '{args}'")];
    v.extend((1..=5).map(|i| format!("[{name}] line {i}/5\n")));
    v.push(format!("[{name}] done, exiting with {code}"));
    v.push(format!("kernel: process '{name}' exited with code {code}"));
    v
}

/// Free memory reported at boot and at the end ("... N KiB free").
fn free_kib(log: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|l| l.strip_suffix(" KiB free"))
        .filter_map(|l| l.rsplit(' ').next())
        .filter_map(|n| n.parse().ok())
        .collect()
}

#[test]
fn qemu_boot_runs_programs_and_reports_faults() {
    let Some(r) = boot(
        "hello,hello:hello2 second,fault:fault_pf pf,fault:fault_gp gp,fault:fault_de de,fault:fault_ud ud",
        "",
        GENEROUS,
    ) else {
        return;
    };
    let log = &r.serial;
    assert!(!log.contains("KERNEL PANIC"), "kernel panicked");
    assert_in_order(log, &hello_lines("hello", "", 0));
    assert_in_order(log, &hello_lines("hello2", "second", 0));
    for (name, kind) in [
        ("fault_pf", "page fault at 0xdeadbeef"),
        ("fault_gp", "general protection fault"),
        ("fault_de", "divide error"),
        ("fault_ud", "invalid opcode"),
    ] {
        let which = &name[6..];
        assert_in_order(
            log,
            &[
                format!("[{name}] about to fault: {which}"),
                format!("kernel: process '{name}' killed: {kind}"),
            ],
        );
        let after = &log[find(log, &format!("killed: {kind}"))..];
        assert!(
            !after.contains(&format!("[{name}]")),
            "{name} ran on after its fault"
        );
    }
    assert!(!log.contains("did not fault") && !log.contains("no divide error"));
    assert!(log.contains("no runnable process left: 2 exited (0 nonzero), 4 killed, 0 refused"));
    let free = free_kib(log);
    assert_eq!(free.len(), 2, "boot and summary report free memory");
    assert_eq!(free[0], free[1], "every process frame was freed");
    assert!(log.contains("kernel: run PASSED"));
    assert_eq!(r.status, Some(33));
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_kernel_panic_fails_the_run() {
    let Some(r) = boot("hello", "panic_test", GENEROUS) else {
        return;
    };
    assert!(r.serial.contains("KERNEL PANIC: panic requested"));
    assert_eq!(r.status, Some(35));
    assert_eq!(r.outcome, Outcome::KernelFail);
    assert!(!r.passed());
    assert!(r.describe().contains("kernel panic"), "{}", r.describe());
    assert!(
        !r.serial.contains("[hello]"),
        "no program runs after a panic"
    );
}

#[test]
fn qemu_strict_mode_turns_a_user_fault_into_failure() {
    let Some(r) = boot("hello,fault:fault_gp gp", "strict", GENEROUS) else {
        return;
    };
    assert!(
        r.serial
            .contains("kernel: process 'fault_gp' killed: general protection fault")
    );
    assert!(r.serial.contains("kernel: run FAILED"));
    assert!(
        !r.serial.contains("KERNEL PANIC"),
        "a user fault never panics the kernel"
    );
    assert_eq!(r.outcome, Outcome::KernelFail);
    assert!(!r.passed());
}

#[test]
fn qemu_non_elf_module_is_refused_and_others_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not an executable\n").expect("write module");
    let Some(r) = boot(&format!("{},hello", notes.display()), "", GENEROUS) else {
        return;
    };
    assert!(
        r.serial
            .contains("kernel: module 'notes.txt' refused: bad ELF executable")
    );
    assert_in_order(&r.serial, &hello_lines("hello", "", 0));
    assert!(r.serial.contains("1 refused"));
    assert_eq!(
        r.outcome,
        Outcome::KernelFail,
        "a refused module fails the run"
    );
}

#[test]
fn qemu_user_panic_and_exit_codes_are_reported() {
    let Some(r) = boot("fault:fault_panic panic,hello exit=7", "", GENEROUS) else {
        return;
    };
    assert_in_order(
        &r.serial,
        &[
            "[fault_panic] panic: ".to_string(),
            "deliberate panic".to_string(),
            "kernel: process 'fault_panic' exited with code 101".to_string(),
        ],
    );
    assert_in_order(&r.serial, &hello_lines("hello", "exit=7", 7));
    assert!(r.serial.contains("2 exited (2 nonzero), 0 killed"));
    assert!(
        r.passed(),
        "nonzero exits pass unless strict: {}",
        r.describe()
    );
}

#[test]
fn qemu_hung_guest_is_a_timeout_failure() {
    let Some(r) = boot("fault:fault_hang hang", "", Duration::from_secs(3)) else {
        return;
    };
    assert!(r.serial.contains("[fault_hang] about to fault: hang"));
    assert_eq!(r.outcome, Outcome::Timeout);
    assert!(!r.passed());
    assert!(r.describe().contains("timed out"));
}

#[test]
fn qemu_kernel_mode_fault_is_a_kernel_panic() {
    let Some(r) = boot("hello", "fault_test", GENEROUS) else {
        return;
    };
    assert!(
        r.serial.contains("KERNEL PANIC: page fault at 0x100000000"),
        "kernel fault reported with its kind and address"
    );
    assert!(r.serial.contains("in kernel mode (vector 14)"));
    assert_eq!(r.outcome, Outcome::KernelFail);
    assert!(!r.passed());
}

#[test]
fn qemu_bad_system_calls_return_errors() {
    let Some(r) = boot("fault:fault_sys syscalls,hello", "strict", GENEROUS) else {
        return;
    };
    assert_in_order(
        &r.serial,
        &[
            "[fault_sys] printed through int 0x80".to_string(),
            "[fault_sys] int 0x80 gate: Ok(24) (ok)".to_string(),
            "[fault_sys] kernel pointer: Err(Fault) (ok)".to_string(),
            "[fault_sys] unmapped pointer: Err(Fault) (ok)".to_string(),
            "[fault_sys] buffer too long: Err(Inval) (ok)".to_string(),
            "[fault_sys] wrapping range: Err(Fault) (ok)".to_string(),
            "[fault_sys] unknown call: Err(NoSys) (ok)".to_string(),
            "kernel: process 'fault_sys' exited with code 0".to_string(),
        ],
    );
    assert_in_order(&r.serial, &hello_lines("hello", "", 0));
    assert!(r.passed(), "strict run passes: {}", r.describe());
}

#[test]
fn qemu_clock_preempts_a_spinning_process() {
    // `fault_hang` (slot 0) never yields; the clock must still give `hello`
    // the CPU. The run then ends by the harness timeout, as hang never exits.
    let Some(r) = boot("fault:fault_hang hang,hello", "", Duration::from_secs(8)) else {
        return;
    };
    assert!(r.serial.contains("[fault_hang] about to fault: hang"));
    assert_in_order(&r.serial, &hello_lines("hello", "", 0));
    assert_eq!(r.outcome, Outcome::Timeout);
    assert!(!r.serial.contains("KERNEL PANIC"));
}

#[test]
fn qemu_shutdown_call_ends_the_run_with_its_verdict() {
    // `hello shutdown=0` powers off while `fault_hang` would spin forever.
    let Some(r) = boot("fault:fault_hang hang,hello shutdown=0", "", GENEROUS) else {
        return;
    };
    assert!(
        r.serial
            .contains("kernel: shutdown requested by 'hello' (verdict 0)")
    );
    assert!(r.passed(), "{}", r.describe());
    let Some(r) = boot("hello shutdown=3", "", GENEROUS) else {
        return;
    };
    assert!(r.serial.contains("kernel: run FAILED"));
    assert_eq!(r.outcome, Outcome::KernelFail);
}

#[test]
fn qemu_death_of_a_critical_process_is_a_kernel_panic() {
    let Some(r) = boot("hello,fault:rs gp", "critical=rs", GENEROUS) else {
        return;
    };
    assert!(
        r.serial
            .contains("KERNEL PANIC: critical process 'rs' died")
    );
    assert_eq!(r.outcome, Outcome::KernelFail);
}
