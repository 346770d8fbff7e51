//! QEMU: kernel call `SharePages` (VM keeps the read-only text of exec'd
//! programs and maps its frames into the next exec of the same program),
//! driven by `privs share` (tests/programs/privs/src/share.rs).

use system_tests::qemu::boot;

/// Free memory after loading and at the end of the run must match: every
/// frame was given back.
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
fn qemu_kernel_share_pages_maps_frames_read_only_and_counts_references() {
    let Some(r) = boot("privs:sh share", "strict") else {
        return;
    };
    let log = &r.serial;
    for c in [
        "manage the share worker",
        "share arguments refused",
        "an unmapped source or a mapped destination refused",
        "share a page",
        "the frame is shared",
        "the worker sees the bytes",
        "sharing onto a mapped page refused",
        "kernel copy into the shared page refused",
        "the sharer's write copied the frame",
        "the last reference made writable takes kernel copies",
        "share worker exits",
    ] {
        let line = format!("[sh] check {c}: ok");
        assert!(log.contains(&line), "missing {line:?}\n{log}");
    }
    assert!(!log.contains("WRONG"), "a check failed\n{log}");
    assert!(!log.contains("KERNEL PANIC"), "{log}");
    assert!(
        log.contains("kernel: process 'sh' exited with code 0"),
        "{log}"
    );
    assert_no_frames_leaked(log);
    assert!(r.passed(), "{}", r.describe());
}
