//! QEMU tests: the `sysfuzz` boot program makes thousands of system calls
//! with random numbers and hostile arguments (see tests/programs/sysfuzz); the
//! kernel must answer each with a result or an errno, never panic or hang.
//! Bugs it found: `DebugPrint` with a buffer in the last page of the
//! address space overflowed the kernel's page arithmetic (pinned down by
//! `sysfuzz edges`, independent of the random stream), and seed 29 ran the
//! kernel heap out (large blocks were never reused), and seed 86 made the
//! kernel copy to physical page 0 mapped with `MapPhys`. Same harness rules as
//! `qemu_boot.rs`: under `CI=true` a missing QEMU fails, otherwise the test
//! skips with a note.

use system_tests::qemu::boot;

/// System calls per run.
const CALLS: u64 = 20_000;
/// System calls in the longer heap regression run.
const LONG_CALLS: u64 = 50_000;

/// Boots `sysfuzz SEED CALLS` (not `strict`: the fuzzer kills and faults
/// its own children on purpose) and checks it finished, the kernel did not
/// panic, and the run passed (QEMU exit 33).
fn fuzz(seed: u64, calls: u64) {
    let Some(r) = boot(&format!("sysfuzz {seed} {calls}"), "") else {
        return;
    };
    let done = format!("[sysfuzz] sysfuzz: {calls} calls, seed {seed}, done");
    assert!(r.serial.contains(&done), "missing {done:?}");
    assert!(!r.serial.contains("KERNEL PANIC"), "kernel panicked");
    assert!(
        r.serial.contains("kernel: run PASSED"),
        "run did not pass: {}",
        r.describe()
    );
    assert!(r.passed(), "QEMU exit 33 expected: {}", r.describe());
}

#[test]
fn qemu_kernel_fuzz_seed_1() {
    fuzz(1, CALLS);
}

/// The seed that first found the `DebugPrint` overflow.
#[test]
fn qemu_kernel_fuzz_seed_2() {
    fuzz(2, CALLS);
}

#[test]
fn qemu_kernel_fuzz_seed_3() {
    fuzz(3, CALLS);
}

/// Regression: forked and spawned processes with large page lists used to
/// leak kernel heap blocks over 4 KiB (never reused) until an allocation
/// failed, a kernel panic after some 20 000 calls of this seed.
#[test]
fn qemu_kernel_fuzz_seed_29_long_run_does_not_exhaust_the_kernel_heap() {
    fuzz(29, LONG_CALLS);
}

/// Regression, independent of the fuzzer's random stream: calls with
/// buffers in the last page of the address space (one made `DebugPrint`
/// overflow in the kernel) or in physical page 0 mapped with `MapPhys`
/// (a kernel copy there asserted: seed 86) all fail with `Fault` (-14).
#[test]
fn qemu_kernel_calls_at_the_top_of_the_address_space_fail_cleanly() {
    let Some(r) = boot("sysfuzz edges", "strict") else {
        return;
    };
    let edges: Vec<&str> = r
        .serial
        .lines()
        .filter(|l| l.starts_with("[sysfuzz] sysfuzz: edge "))
        .collect();
    assert_eq!(edges.len(), 11, "one line per edge case: {edges:?}");
    for line in &edges {
        assert!(line.ends_with(": -14"), "expected Fault: {line}");
    }
    // Physical page 0 really was mapped, so its edge cases test the copy
    // path and not merely an unmapped address.
    for setup in ["mem priv page 0", "map page 0"] {
        let line = format!("[sysfuzz] sysfuzz: setup {setup}: 0");
        assert!(r.serial.contains(&line), "missing {line:?}");
    }
    assert!(r.serial.contains("[sysfuzz] sysfuzz: edges done"));
    assert!(!r.serial.contains("KERNEL PANIC"), "kernel panicked");
    assert!(r.passed(), "QEMU exit 33 expected: {}", r.describe());
}
