//! QEMU: the VM server under RS, driven by a plain user process without
//! PM (`vmtest user`, booted with `user=vmuser`): its heap grows by 4 MiB
//! through rt's allocator, which is refused `MapPages` and asks VM to move
//! the break; brk, mmap, munmap, mprotect, bad requests, the PM-only rule
//! (`EPERM`) and `Info` (kernel `MemStats`) answered natively. `vmtest
//! driver` ends the run once the user process is gone. Negative control:
//! without VM in the boot image the same program never gets an answer and
//! fails. And VM's table across a crash (`vmtest restart`): kept in the
//! preserved window, forgotten with the `volatile` option.

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

/// VM crashed by RS (`service fi vm`) takes its table back from the
/// preserved window: the break and the mmap region of `vmtest restart`
/// are known to the restarted instance (a page unmapped from the region
/// is the next first fit).
#[test]
fn qemu_vm_keeps_its_table_across_a_crash() {
    let modules = format!("{BASE},vm image,vmtest restart");
    let Some(r) = boot_with_timeout(&modules, "critical=rs", Duration::from_secs(180)) else {
        return;
    };
    let log = r.serial;
    assert!(!log.contains("FAIL"), "{log}");
    assert_eq!(r.status, Some(33), "run failed:\n{log}");
    assert_in_order(
        &log,
        &[
            "[vm] vm: Fresh start (restart 0), 0 address spaces known",
            "[vm] panic: controlled crash (fault injection)",
            "[vm] preserved heap adopted (generation 2): 1 address spaces",
            "[vm] vm: Restart start (restart 1), 1 address spaces known",
            "[vmtest] VM restarted",
            "[vmtest] after the restart: break 0x48003007 (was 0x48003007), one page mmap'd at +0x1000 (region at +0x0)",
            "[vmtest] PASS",
        ],
    );
}

/// Negative control: with the table in the ordinary heap (`volatile`)
/// the restarted VM adopts the process afresh: break at `HEAP_BASE`, no
/// region, the new page at the start of the mmap area.
#[test]
fn qemu_vm_volatile_forgets_its_table_across_a_crash() {
    let modules = format!("{BASE},vm image volatile,vmtest restart");
    let Some(r) = boot_with_timeout(&modules, "critical=rs", Duration::from_secs(180)) else {
        return;
    };
    let log = r.serial;
    assert_in_order(
        &log,
        &[
            "[vm] vm: Restart start (restart 1), 0 address spaces known",
            "[vmtest] after the restart: break 0x48000000 (was 0x48003007), one page mmap'd at +0x0 (region at +0x0)",
        ],
    );
}
