//! QEMU: the VM server under RS, driven by a plain user process without
//! PM (`vmtest user`, booted with `user=vmuser`): its heap grows by 4 MiB
//! through rt's allocator, which is refused `MapPages` and asks VM to move
//! the break; brk, mmap, munmap, mprotect, bad requests, the PM-only rule
//! (`EPERM`) and `Info` (kernel `MemStats`) answered natively. `vmtest
//! driver` ends the run once the user process is gone. Negative control:
//! without VM in the boot image the same program never gets an answer and
//! fails.

use std::time::Duration;
use system_tests::qemu::{assert_in_order, boot_with_timeout};

const BASE: &str = "rs-native:rs,ds-native:ds,vault";

#[test]
fn qemu_vm_answers_a_plain_user_process() {
    let modules = format!("{BASE},vm image,vmtest:vmuser user,vmtest driver vmuser");
    let Some(r) = boot_with_timeout(
        &modules,
        "critical=rs user=vmuser",
        Duration::from_secs(180),
    ) else {
        return;
    };
    let log = r.serial;
    assert!(!log.contains("KERNEL PANIC"), "{log}");
    assert!(!log.contains("FAIL"), "{log}");
    assert_eq!(r.status, Some(33), "run failed:\n{log}");
    assert_in_order(
        &log,
        &[
            "[vmuser] VM answers",
            "[vmuser] heap grew by 4 MiB through VM",
            "[vmuser] mmap 64 KiB at 0x60000000",
            "[vmuser] munmap and mprotect done",
            "[vmuser] bad requests refused",
            "[vmuser] memory: ",
            "[vmuser] PASS",
            "kernel: process 'vmuser' exited with code 0",
            "[vmtest] vmuser is gone; shutting down",
        ],
    );
}

/// Without VM in the boot image the same program fails.
#[test]
fn qemu_vm_absent_the_plain_user_check_fails() {
    let modules = format!("{BASE},vmtest:vmuser user,vmtest driver vmuser");
    let Some(r) = boot_with_timeout(
        &modules,
        "critical=rs user=vmuser",
        Duration::from_secs(180),
    ) else {
        return;
    };
    let log = r.serial;
    assert!(log.contains("[vmuser] FAIL: VM never answered"), "{log}");
    assert!(!log.contains("[vmuser] PASS"), "{log}");
}
