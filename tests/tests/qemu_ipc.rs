//! QEMU IPC scenarios (issue 5 groundwork): `ping` and `pong` boot
//! programs exchange messages through the kernel. Checks sendrec round trips
//! with content, notify coalescing, `sendnb` to a busy peer, and the
//! dead-peer error after the server exits. Same harness rules as
//! `qemu_boot.rs`: under `CI=true` a missing QEMU fails, otherwise skips.

use system_tests::qemu::{assert_in_order, boot};

#[test]
fn qemu_ipc_ping_pong_notify_and_dead_peer() {
    let Some(r) = boot("pong,ping 4", "strict") else {
        return;
    };
    let log = &r.serial;
    assert_in_order(
        log,
        &[
            "[ping] round 1: ok",
            "[ping] round 2: ok",
            "[ping] round 3: ok",
            "[ping] round 4: ok",
            "[ping] sendnb to busy pong: Err(NotReady)",
        ],
    );
    // Three notifies: the first wakes pong, the other two coalesce.
    assert_eq!(log.matches("[pong] notification from 0x3").count(), 2);
    assert_in_order(
        log,
        &[
            "[pong] served 4 requests, 2 notifications",
            "kernel: process 'pong' exited with code 0",
            "[ping] quit: Ok(()), reply type 4",
            "[ping] after quit: sendrec Err(DeadSrcDst), whois Err(DeadSrcDst)",
            "[ping] ipc checks: 0 failed",
            "kernel: process 'ping' exited with code 0",
        ],
    );
    assert!(!log.contains("WRONG"));
    assert!(!log.contains("KERNEL PANIC"));
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_ipc_server_fault_wakes_blocked_client() {
    // The client blocks in sendrec on a server that faults instead of
    // answering: the kernel must wake the client with the dead-peer error.
    let Some(r) = boot("pong crash,ping 2", "") else {
        return;
    };
    assert_in_order(
        &r.serial,
        &[
            "[pong] crashing instead of answering",
            "kernel: process 'pong' killed: general protection fault",
            "[ping] round 1: failed: DeadSrcDst",
            "[ping] round 2: failed: DeadSrcDst",
            "kernel: process 'ping' exited with code 1",
        ],
    );
    assert!(!r.serial.contains("KERNEL PANIC"));
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_ipc_lookup_of_dead_server_fails() {
    // pong (slot 0) runs first and faults before ping looks it up.
    let Some(r) = boot("fault:pong gp,ping 1", "") else {
        return;
    };
    assert!(
        r.serial
            .contains("kernel: process 'pong' killed: general protection fault")
    );
    assert!(r.serial.contains("[ping] whois(pong) failed: DeadSrcDst"));
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_grants_copy_check_and_revoke() {
    let Some(r) = boot(
        "grants:gserver server,grants:gdriver driver,grants:gclient client",
        "strict",
    ) else {
        return;
    };
    let log = &r.serial;
    for check in [
        "[gserver] check copy from client: ok",
        "[gserver] check client text: ok",
        "[gserver] check copy to client: ok",
        "[gserver] check write via read-only grant refused: ok",
        "[gserver] check out-of-range copy refused: ok",
        "[gserver] check indirect grant: ok",
        "[gdriver] check write via indirect grant: ok",
        "[gdriver] check indirect grant is write-only: ok",
        "[gdriver] check client grant is not for the driver: ok",
        "[gclient] check server wrote: ok",
        "[gclient] check driver wrote: ok",
        "[gclient] check revoke: ok",
        "[gserver] check revoked grant refused: ok",
        "[gclient] check server saw revoked grant fail: ok",
    ] {
        assert!(log.contains(check), "missing {check:?}");
    }
    assert!(!log.contains("WRONG"));
    for name in ["gserver", "gdriver", "gclient"] {
        assert!(log.contains(&format!("kernel: process '{name}' exited with code 0")));
    }
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_clock_alarms_and_irq_notifications() {
    // Both timer programs block waiting for the clock, so the kernel must
    // idle (hlt with interrupts on) and wake them from the timer interrupt.
    let Some(r) = boot("timer alarm 7,timer:irqs irq 4,hello", "strict") else {
        return;
    };
    let log = &r.serial;
    assert_eq!(
        log.matches("[timer] check notification from CLOCK: ok")
            .count(),
        3
    );
    assert_eq!(log.matches("[timer] check alarm not early: ok").count(), 3);
    assert!(log.contains("[irqs] check IRQ notifications: ok"));
    assert!(log.contains("[irqs] irq notifications: 4"));
    assert!(!log.contains("WRONG"));
    for name in ["timer", "irqs", "hello"] {
        assert!(log.contains(&format!("kernel: process '{name}' exited with code 0")));
    }
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_privileges_deny_sends_and_kernel_calls() {
    let Some(r) = boot(
        "privs:boss boss,privs:victim victim,privs:other other",
        "strict",
    ) else {
        return;
    };
    let log = &r.serial;
    for check in [
        "[boss] check restrict victim: ok",
        "[victim] check send to other denied: ok",
        "[victim] check notify other denied: ok",
        "[victim] check kernel call set_alarm denied: ok",
        "[victim] check kernel call grant denied: ok",
        "[victim] check kernel call set_priv denied: ok",
        "[victim] check reply to boss allowed: ok",
        "[boss] check victim saw no surprises: ok",
        "[other] check bye from boss: ok",
    ] {
        assert!(log.contains(check), "missing {check:?}");
    }
    assert!(!log.contains("WRONG"));
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_faulted_server_is_restarted_under_its_old_endpoint() {
    // pong faults on its first request; the kernel keeps it and notifies its
    // signal manager, which spawns a fresh pong and lets it take over the
    // old endpoint. ping, which kept that endpoint, gets the dead-peer error,
    // retries, and reaches the new instance.
    let Some(r) = boot("sigmgr pong,pong crash,ping 3 retry", "") else {
        return;
    };
    assert_in_order(
        &r.serial,
        &[
            "[sigmgr] managing pong (0x3)",
            "[pong] crashing instead of answering",
            "kernel: process 'pong' killed: general protection fault",
            "kernel: fault reported to signal manager 0x2",
            "[ping] round 1: pong is dead, retrying",
            "[sigmgr] pong faulted; restarting it",
            "took over endpoint 0x3",
            "[ping] round 1: ok",
            "[ping] round 3: ok",
            "[pong] served 3 requests, 2 notifications",
            "[ping] ipc checks: 0 failed",
            "kernel: process 'ping' exited with code 0",
        ],
    );
    assert!(!r.serial.contains("KERNEL PANIC"));
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_sendrec_cycle_is_refused_not_hung() {
    // a blocks in sendrec to b; b's sendrec to a would close the cycle and
    // must fail with Locked, after which b serves a's request.
    let Some(r) = boot("ping:a cycle b,ping:b cycle a", "strict") else {
        return;
    };
    assert_in_order(
        &r.serial,
        &[
            "[b] sendrec to a: Locked",
            "kernel: process 'b' exited with code 0",
            "[a] sendrec to b: reply 42",
            "kernel: process 'a' exited with code 0",
        ],
    );
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_higher_priority_process_runs_first() {
    // Both spin for 30 ticks of wall-clock time. bg starts first; fg raises
    // itself to priority 0 at its first quantum and then keeps the CPU, so
    // it must finish first (with equal priorities bg would).
    let Some(r) = boot("timer:bg spin 30,timer:fg spin 30 prio 0", "strict") else {
        return;
    };
    assert_in_order(
        &r.serial,
        &[
            "[fg] check set priority: ok",
            "[fg] spun 30 ticks",
            "[bg] spun 30 ticks",
        ],
    );
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_port_io_needs_a_port_range_privilege() {
    let Some(r) = boot("privs:io io", "strict") else {
        return;
    };
    for check in [
        "[io] check port I/O refused before SetIoPriv: ok",
        "[io] check grant scratch port: ok",
        "[io] check scratch reads back: ok",
        "[io] check other port still refused: ok",
        "[io] check string port I/O refused before SetIoPriv: ok",
        "[io] check string write: ok",
        "[io] check string write left its last byte: ok",
        "[io] check string read: ok",
        "[io] check string word access past the range refused: ok",
        "[io] check string length of 0 or over the limit refused: ok",
        "[io] check string write from unmapped memory refused, port untouched: ok",
        "[io] check string read into read-only memory refused: ok",
    ] {
        assert!(r.serial.contains(check), "missing {check:?}");
    }
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_kill_stops_a_blocked_process() {
    let Some(r) = boot("pong,privs:killer killer pong", "") else {
        return;
    };
    assert_in_order(
        &r.serial,
        &[
            "kernel: process 'pong' killed: kill request",
            "[killer] check kill: ok",
            "[killer] check target gone: ok",
            "[killer] check second kill refused: ok",
            "1 exited (0 nonzero), 1 killed",
        ],
    );
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_asynchronous_sends_are_answered_or_bounced() {
    let Some(r) = boot("pong,ping async pong", "strict") else {
        return;
    };
    assert_in_order(
        &r.serial,
        &[
            "[ping] sent 3 asynchronous requests",
            "[ping] reply 2 (ok)",
            "[ping] reply 4 (ok)",
            "[ping] reply 6 (ok)",
            "kernel: process 'ping' exited with code 0",
        ],
    );
    assert!(r.passed(), "{}", r.describe());
    // The receiver exits without receiving: every request bounces.
    let Some(r) = boot("ping async victim,hello:victim", "strict") else {
        return;
    };
    assert_in_order(
        &r.serial,
        &[
            "[ping] sent 3 asynchronous requests",
            "kernel: process 'victim' exited with code 0",
            "[ping] bounce for request 1 (ok)",
            "[ping] bounce for request 2 (ok)",
            "[ping] bounce for request 3 (ok)",
            "kernel: process 'ping' exited with code 0",
        ],
    );
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_map_pages_grows_an_address_space() {
    let Some(r) = boot("privs:vm vm", "strict") else {
        return;
    };
    for check in [
        "[vm] check map 4 pages: ok",
        "[vm] check fresh pages are zero: ok",
        "[vm] check pages keep data: ok",
        "[vm] check map over the kernel refused: ok",
        "[vm] check misaligned map refused: ok",
    ] {
        assert!(r.serial.contains(check), "missing {check:?}");
    }
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_irq_unhook_and_boot_module_list() {
    let Some(r) = boot("timer:irqs irq 3,hello modules", "strict") else {
        return;
    };
    assert_in_order(
        &r.serial,
        &[
            "[hello] boot module: irqs irq 3",
            "[hello] boot module: hello modules",
        ],
    );
    assert!(r.serial.contains("[irqs] check unhook IRQ 0: ok"));
    assert!(
        r.serial
            .contains("[irqs] check no notification after unhook: ok")
    );
    assert!(r.passed(), "{}", r.describe());
}

#[test]
fn qemu_plain_user_may_only_talk_to_pm_vfs_vm() {
    let Some(r) = boot("pong:vfs,privs:sh plain,hello:other", "user=sh strict") else {
        return;
    };
    for check in [
        "[sh] check request to vfs allowed: ok",
        "[sh] check send to other denied: ok",
        "[sh] check kernel call denied: ok",
        "[sh] check quit vfs: ok",
    ] {
        assert!(r.serial.contains(check), "missing {check:?}");
    }
    assert!(r.passed(), "{}", r.describe());
}
