//! QEMU: the server framework running natively (issue 6, "Native"). RS
//! (`rs-native`, slot 2), DS (`ds-native` staged as `ds`, slot 3) and the
//! echo service boot on the kernel; RS adopts DS, spawns echo from its boot
//! image, publishes its label in DS; `echoclient` calls echo, has RS crash
//! it (`service fi`) or refresh it (`service refresh`: RS kills it), and
//! calls it again at the endpoint it kept. Same
//! harness rules as `qemu_ipc.rs`: under `CI=true` a missing QEMU fails,
//! otherwise the test skips with a note.

use system_tests::qemu::{assert_in_order, boot};

/// The value after `prefix` on the first line containing it, up to `end`.
fn field<'a>(log: &'a str, prefix: &str, end: char) -> &'a str {
    let at = log
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} missing"))
        + prefix.len();
    let rest = &log[at..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

#[test]
fn qemu_rs_restarts_crashed_echo_under_its_old_endpoint() {
    // RS must die with the system (critical), as in MINIX.
    let Some(r) = boot(
        "rs-native:rs,ds-native:ds,echo image,echoclient",
        "critical=rs",
    ) else {
        return;
    };
    let log = &r.serial;
    let ep = field(log, "[echoclient] echo is at ", ' ').to_string();
    assert!(ep.starts_with("0x"), "endpoint {ep:?}");
    assert_in_order(
        log,
        &[
            "[echo] boot image only; RS starts the service",
            "kernel: spawned 'echo'",
            "[echo] init Fresh (restart count 0)",
            // The table's privileges: no process management for echo.
            "[echo] spawn refused: Perm",
            &format!("[echoclient] echo is at {ep} (restarts 0)"),
            "[echo] answered request 1 (1 by this instance)",
            "[echoclient] echo answered before the crash",
            // The client's "fault injection requested" line may come before
            // or after the crash: RS answers and crashes echo in one handler.
            "[echo] panic: controlled crash (fault injection)",
            "kernel: process 'echo' killed",
            "kernel: fault reported to signal manager 0x2",
            // RS's crash record: the panic raised SIGABRT before the self-kill.
            "[rs] rs: echo (",
            "died: Panic, restarts 0",
            "kernel: spawned 'echo'",
            "(stopped)",
            &format!("took over endpoint {ep}"),
            "[echo] init Restart (restart count 1)",
            "[echo] spawn refused: Perm",
            &format!("[echoclient] echo is running again at {ep} (restarts 1)"),
            &format!("[echoclient] DS notified: echo -> {ep}"),
            // A fresh instance: its first request.
            "[echo] answered request 2 (1 by this instance)",
            &format!("[echoclient] echo answered after the restart at the kept endpoint {ep}"),
            &format!(
                "[echoclient] echo restarted: endpoint {ep} unchanged (DS agrees), restarts 1"
            ),
            "[echoclient] PASS",
        ],
    );
    assert!(log.contains(&format!(
        "[echoclient] fault injection requested (echo at {ep})"
    )));
    assert!(!log.contains("spawn allowed"));
    assert!(!log.contains("FAIL"), "client failed");
    assert!(!log.contains("KERNEL PANIC"));
    assert_eq!(r.status, Some(33), "{}", r.describe());
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_rs_refresh_kills_and_restarts_echo_under_its_old_endpoint() {
    let Some(r) = boot(
        "rs-native:rs,ds-native:ds,echo image,echoclient refresh",
        "critical=rs",
    ) else {
        return;
    };
    let log = &r.serial;
    let ep = field(log, "[echoclient] echo is at ", ' ').to_string();
    assert_in_order(
        log,
        &[
            &format!("[echoclient] echo is at {ep} (restarts 0)"),
            "[echoclient] echo answered before the crash",
            // RS's kill, reported back to RS as the death it caused.
            "kernel: process 'echo' killed: kill request",
            "kernel: fault reported to signal manager 0x2",
            &format!("took over endpoint {ep}"),
            "[echo] init Restart (restart count 1)",
            &format!("[echoclient] refresh done (echo at {ep}, restarts 1)"),
            &format!("[echoclient] DS notified: echo -> {ep}"),
            &format!("[echoclient] echo answered after the restart at the kept endpoint {ep}"),
            &format!(
                "[echoclient] echo restarted: endpoint {ep} unchanged (DS agrees), restarts 1"
            ),
            "[echoclient] PASS",
        ],
    );
    // A refresh is not a crash: RS keeps no crash record for it.
    assert!(!log.contains("died:"), "refresh recorded as a crash");
    assert!(!log.contains("FAIL"), "client failed");
    assert_eq!(r.status, Some(33), "{}", r.describe());
}

#[test]
fn qemu_rs_down_stops_echo_and_its_exit_is_reported() {
    // SEF exits on RS's SIGTERM; the kernel keeps the exited echo for RS,
    // its manager, and notifies it at once.
    let Some(r) = boot(
        "rs-native:rs,ds-native:ds,echo image,echoclient down",
        "critical=rs",
    ) else {
        return;
    };
    let log = &r.serial;
    let ep = field(log, "[echoclient] echo is at ", ' ').to_string();
    assert_in_order(
        log,
        &[
            &format!("[echoclient] echo is at {ep} (restarts 0)"),
            "[echoclient] echo answered before the crash",
            "kernel: process 'echo' exited with code 0",
            "kernel: exit reported to signal manager",
            "[echoclient] down done (state Down)",
            &format!("[echoclient] echo at {ep} is gone"),
            "[echoclient] DS notified: echo deleted",
            "[echoclient] DS has no echo label",
            "[echoclient] PASS",
        ],
    );
    // Not restarted, not killed by RS's SIGKILL fallback.
    assert_eq!(log.matches("kernel: spawned 'echo'").count(), 1);
    assert!(!log.contains("kernel: process 'echo' killed"));
    assert!(!log.contains("FAIL"), "client failed");
    assert_eq!(r.status, Some(33), "{}", r.describe());
}

#[test]
fn qemu_rs_restarts_crashed_ds_with_its_store_from_the_vault() {
    // DS keeps its store in preserved memory; natively the vault holds it
    // across DS's death, so echo's label (published once, before the crash)
    // is still there after RS restarted DS at its fixed endpoint.
    let Some(r) = boot(
        "rs-native:rs,ds-native:ds,vault,echo image,echoclient dscrash",
        "critical=rs",
    ) else {
        return;
    };
    let log = &r.serial;
    let ep = field(log, "[echoclient] echo is at ", ' ').to_string();
    assert_in_order(
        log,
        &[
            &format!("[echoclient] echo is at {ep} (restarts 0)"),
            "[echoclient] echo answered before the crash",
            "[ds] panic: controlled crash (fault injection)",
            "kernel: process 'ds' killed",
            "[rs] rs: ds (3.0) died: Panic, restarts 0",
            "took over endpoint 0x3",
            "[vault] handed ",
            " bytes back to 0x3",
            "[echoclient] ds is running again at 0x3 (restarts 1)",
            &format!("[echoclient] DS still has echo -> {ep} after its restart"),
            "[echoclient] echo answered after the DS restart",
            "[echoclient] PASS",
        ],
    );
    assert!(!log.contains("FAIL"), "client failed");
    assert!(!log.contains("vault refused"));
    assert_eq!(r.status, Some(33), "{}", r.describe());
}

/// Boots the native system with `echoclient MODE` and checks that echo,
/// after dying the way MODE makes it die, is back at its old endpoint.
fn crash_and_restart(mode: &str, death: &[&str], record: &str) -> Option<String> {
    let r = boot(
        &format!("rs-native:rs,ds-native:ds,echo image,echoclient {mode}"),
        "critical=rs",
    )?;
    let log = r.serial.clone();
    let ep = field(&log, "[echoclient] echo is at ", ' ').to_string();
    let mut lines = vec![
        format!("[echoclient] echo is at {ep} (restarts 0)"),
        "[echoclient] echo answered before the crash".to_string(),
    ];
    lines.extend(death.iter().map(|s| s.to_string()));
    lines.extend([
        record.to_string(),
        format!("took over endpoint {ep}"),
        "[echo] init Restart (restart count 1)".to_string(),
        format!("[echoclient] echo is running again at {ep} (restarts 1)"),
        format!("[echoclient] echo answered after the restart at the kept endpoint {ep}"),
        format!("[echoclient] echo restarted: endpoint {ep} unchanged (DS agrees), restarts 1"),
        "[echoclient] PASS".to_string(),
    ]);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_in_order(&log, &lines);
    // The client wakes with EDEADSRCDST some time after the death.
    assert!(log.contains("[echoclient] echo died on the request"));
    assert!(!log.contains("FAIL"), "client failed");
    assert_eq!(r.status, Some(33), "{}", r.describe());
    Some(log)
}

#[test]
fn qemu_rs_restarts_echo_after_a_page_fault_with_the_signal_recorded() {
    crash_and_restart(
        "segv",
        &[
            "[echo] faulting on request",
            "kernel: process 'echo' killed: page fault at 0xdeadbeef",
            "kernel: fault reported to signal manager 0x2",
        ],
        // SIGSEGV, from the kernel's pending signals.
        "died: Fault(11), restarts 0",
    );
}

#[test]
fn qemu_rs_request_received_by_a_crashing_echo_bounces_to_the_client() {
    // `Sys::request` (SendA with SENDA_REQUEST): echo receives the request
    // and page-faults before answering; the kernel still owes the client an
    // answer, so the dead-peer bounce comes from SYSTEM.
    let Some(log) = crash_and_restart(
        "bounce",
        &[
            "[echo] faulting on request",
            "kernel: process 'echo' killed: page fault at 0xdeadbeef",
        ],
        "died: Fault(11), restarts 0",
    ) else {
        return;
    };
    // After the death; whether before or after RS's crash record depends
    // on scheduling, so that order is not asserted.
    assert_in_order(
        &log,
        &[
            "kernel: process 'echo' killed: page fault at 0xdeadbeef",
            "[echoclient] echo died on the request: bounced (id 100",
        ],
    );
}

#[test]
fn qemu_rs_restarts_echo_after_an_exit_reported_with_its_code() {
    // The kernel keeps a managed process that exits, notifies RS at once
    // and shows the code (SigPending bit 0 + ProcInfo): RS records
    // Exit(7) and restarts it under its old endpoint (`Update` of the kept
    // exited instance).
    crash_and_restart(
        "exit",
        &[
            "[echo] exiting on request",
            "kernel: process 'echo' exited with code 7",
            "kernel: exit reported to signal manager",
        ],
        "died: Exit(7), restarts 0",
    );
}

#[test]
fn qemu_rs_kills_and_restarts_a_hung_echo_after_missed_pings() {
    if let Some(log) = crash_and_restart(
        "hang",
        &[
            "[echo] hanging on request",
            // RS's heartbeat: no ping reply for two periods, so RS kills it.
            "kernel: process 'echo' killed: kill request",
        ],
        "died: NoPingReply, restarts 0",
    ) {
        assert!(!log.contains("page fault"));
    }
}

#[test]
fn qemu_rs_stateful_counter_keeps_its_value_across_a_crash_and_a_live_update() {
    let Some(r) = boot(
        "rs-native:rs,ds-native:ds,vault,echo image,counter image,echoclient counter",
        "critical=rs",
    ) else {
        return;
    };
    let log = &r.serial;
    let ep = field(log, "[echoclient] counter is up at ", ' ').to_string();
    assert_in_order(
        log,
        &[
            "[counter] boot image only; RS starts the service",
            "kernel: spawned 'counter'",
            "[counter] init Fresh (restart count 0), value 0",
            "[counter] window empty",
            "[counter] window written: 262128 bytes, crc32 ",
            &format!("[echoclient] counter is up at {ep}"),
            "[echoclient] counter at 42",
            "[counter] panic: controlled crash (fault injection)",
            "[rs] rs: counter (",
            "died: Panic, restarts 0",
            // The label keeps its preserved window: its 64 pages move.
            "kernel: update kept 64 preserved pages",
            &format!("took over endpoint {ep}"),
            // Stateful: the saved value comes back through SEF and DS.
            "[counter] init Restart (restart count 1), value 42",
            "[counter] window kept: 262128 bytes, crc32 ",
            &format!("[echoclient] counter restarted at {ep} (restarts 1) with value 42"),
            "kernel: update kept 64 preserved pages",
            &format!("took over endpoint {ep}"),
            "[counter] init LiveUpdate (restart count 1), value 43",
            "[counter] window kept: 262128 bytes, crc32 ",
            &format!("[echoclient] counter live-updated at {ep} with value 43"),
            "[echoclient] PASS",
        ],
    );
    // The same crc32 in every instance.
    let crc = field(log, "[counter] window written: 262128 bytes, crc32 ", '\n');
    assert_eq!(
        log.matches(&format!("window kept: 262128 bytes, crc32 {crc} intact"))
            .count(),
        2
    );
    assert_eq!(
        log.matches("window empty").count(),
        1,
        "only the first instance starts empty"
    );
    assert!(!log.contains("FAIL"), "client failed");
    assert_eq!(r.status, Some(33), "{}", r.describe());
}

#[test]
fn qemu_rs_counter_without_keep_memory_restarts_with_an_empty_window() {
    // Negative control: the same program under a label that does not keep
    // its preserved window; after the crash and the live update the new
    // instances find the window empty (the dead one's pages were freed).
    let Some(r) = boot(
        "rs-native:rs,ds-native:ds,vault,echo image,counter image,echoclient counterplain",
        "critical=rs",
    ) else {
        return;
    };
    let log = &r.serial;
    assert_in_order(
        log,
        &[
            "[counter] init Fresh (restart count 0), value 0",
            "[counter] window empty",
            "[counter] window written: 262128 bytes, crc32 ",
            "[counter] panic: controlled crash (fault injection)",
            "[counter] init Restart (restart count 1), value 42",
            "[counter] window empty",
            "[counter] init LiveUpdate (restart count 1), value 43",
            "[counter] window empty",
            "[echoclient] PASS",
        ],
    );
    assert!(!log.contains("window kept"));
    assert!(!log.contains("preserved pages"));
    assert!(!log.contains("FAIL"), "client failed");
    assert_eq!(r.status, Some(33), "{}", r.describe());
}
