//! `echoclient [fi|refresh|down|dscrash|segv|bounce|hang|exit]`: the
//! end-to-end check of native crash recovery. `segv`, `hang` and `exit`
//! crash echo with a request that makes it page-fault, spin (RS kills it
//! for missed pings) or exit on its own (the kernel reports the exit);
//! `bounce` sends the page-faulting request asynchronously
//! (`Sys::request`) and must get the kernel's dead-peer bounce for it,
//! although echo had received it before dying;
//! `counter` checks the stateful counter across a crash and a live update. With `down` it checks `service down` instead: echo exits,
//! RS notices, echo is unreachable and its DS label is gone. With `dscrash`
//! DS itself is crashed: it must come back at its endpoint with its store
//! (echo's label) intact, kept across the crash by the vault.
//! Otherwise it finds the echo service through DS, calls it, subscribes to its DS label,
//! asks RS for a controlled crash (`service fi echo`, the default) or a
//! `service refresh echo` (RS kills and restarts it), waits until RS reports
//! the restart and DS notifies the republished label, then calls echo again
//! at the endpoint it kept and checks the answer, the unchanged endpoint, the
//! restart count and the DS label. Ends the run with
//! `Shutdown` (pass = QEMU 33, fail = 35). Talks to DS, RS and echo through
//! the `native` runtime.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use native::NativeSys;
use native::sample::{EXIT_PREFIX, FAULT_PREFIX, HANG_PREFIX};
use sys::proto::ds::{DsFlags, DsType};
use sys::proto::sample::{ECHO_LEN, SampleReply, SampleRequest};
use sys::proto::service::{Policy, RunState, ServiceReply, ServiceRequest, ServiceStatus};
use sys::{Endpoint, Errno, Sys};

rt::entry!(main);

const LABEL: &str = "echo";
/// Polls (of [`POLL_TICKS`]) before giving up on a state that should come.
const MAX_POLLS: u32 = 2000;
const POLL_TICKS: u64 = 2;

/// How the client has RS take echo down.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `service fi`: SEF crashes the service (a panic).
    Fi,
    /// `service refresh`: RS kills the service and starts it again.
    Refresh,
    /// `service down`: the service exits on SIGTERM and stays down.
    Down,
    /// `service fi ds`: DS crashes and must come back with its store.
    DsCrash,
    /// A request that makes echo page-fault.
    Segv,
    /// The same request sent with `Sys::request`: a bounce must come.
    Bounce,
    /// A request that makes echo hang: RS's heartbeat must catch it.
    Hang,
    /// A request that makes echo exit: reported at once, restarted.
    Exit,
    /// `service up counter`, then a crash and a live update of the
    /// stateful counter: its value must come through both exactly (and
    /// its preserved window, which the `counter` label keeps).
    Counter,
    /// The same under the label `counter-plain`, whose preserved window is
    /// not kept (the negative control).
    CounterPlain,
}

fn main(args: &str) -> i32 {
    let mode = match args.split_ascii_whitespace().next() {
        None | Some("fi") => Mode::Fi,
        Some("refresh") => Mode::Refresh,
        Some("down") => Mode::Down,
        Some("dscrash") => Mode::DsCrash,
        Some("segv") => Mode::Segv,
        Some("bounce") => Mode::Bounce,
        Some("hang") => Mode::Hang,
        Some("exit") => Mode::Exit,
        Some("counter") => Mode::Counter,
        Some("counterplain") => Mode::CounterPlain,
        Some(other) => {
            rt::println!(
                "FAIL: unknown mode {other:?} (fi, refresh, down, dscrash, segv, bounce, hang, exit, counter or counterplain)"
            );
            rt::sys::shutdown(1)
        }
    };
    let mut sys = NativeSys::new();
    let r = if mode == Mode::Counter {
        check_counter(&mut sys, "counter")
    } else if mode == Mode::CounterPlain {
        check_counter(&mut sys, "counter-plain")
    } else {
        check(&mut sys, mode)
    };
    match r {
        Ok(()) => {
            rt::println!("PASS");
            rt::sys::shutdown(0)
        }
        Err(why) => {
            rt::println!("FAIL: {why}");
            rt::sys::shutdown(1)
        }
    }
}

fn check(sys: &mut NativeSys, mode: Mode) -> Result<(), String> {
    let ep = wait_for(sys, |sys| sys::ds::retrieve_label(sys, LABEL).ok())
        .ok_or("echo never appeared in DS")?;
    let before = wait_for(sys, |sys| {
        status(sys).ok().filter(|s| s.state == RunState::Running)
    })
    .ok_or("echo never reached Running")?;
    rt::println!(
        "echo is at {:#x} (restarts {})",
        before.endpoint.0,
        before.restarts
    );
    if before.endpoint != ep {
        return Err(alloc::format!(
            "DS says {:#x}, RS says {:#x}",
            ep.0,
            before.endpoint.0
        ));
    }
    echo(sys, ep, 1).map_err(|e| alloc::format!("echo before the crash: {e}"))?;
    rt::println!("echo answered before the crash");

    sys::ds::subscribe(sys, LABEL, DsType::Label.bit(), DsFlags::NONE)
        .map_err(|e| alloc::format!("DS subscribe: {e}"))?;
    // Nothing is published while echo runs; drop whatever came before.
    while let Ok(Some(_)) = sys::ds::check(sys) {}

    let id = 100;
    let label = LABEL.into();
    let crashed_at = sys.now();
    match mode {
        Mode::Fi => {
            let r = rs_call(sys, ServiceRequest::Fi { id, label })
                .map_err(|e| alloc::format!("fault injection refused: {e}"))?;
            rt::println!("fault injection requested (echo at {:#x})", r.endpoint.0);
        }
        Mode::Refresh => {
            // RS answers once the new instance has finished its init.
            let r = rs_call(sys, ServiceRequest::Refresh { id, label })
                .map_err(|e| alloc::format!("refresh refused: {e}"))?;
            rt::println!(
                "refresh done (echo at {:#x}, restarts {})",
                r.endpoint.0,
                r.restarts
            );
        }
        Mode::Segv | Mode::Hang | Mode::Exit => {
            let prefix = match mode {
                Mode::Segv => FAULT_PREFIX,
                Mode::Exit => EXIT_PREFIX,
                _ => HANG_PREFIX,
            };
            let mut data = [0u8; ECHO_LEN];
            data[..prefix.len()].copy_from_slice(prefix);
            // Blocks until echo dies (at once for the fault; after RS's
            // heartbeat gives up for the hang).
            match sys.sendrec(ep, SampleRequest::Echo { id, data }.to_message()) {
                Err(Errno::EDEADSRCDST(_)) => rt::println!("echo died on the request"),
                other => return Err(alloc::format!("crash request answered: {other:?}")),
            }
        }
        Mode::Bounce => {
            let mut data = [0u8; ECHO_LEN];
            data[..FAULT_PREFIX.len()].copy_from_slice(FAULT_PREFIX);
            sys.request(ep, SampleRequest::Echo { id, data }.to_message())
                .map_err(|e| alloc::format!("request refused: {e}"))?;
            wait_for_bounce(sys, ep, id)?;
        }
        Mode::Down => return check_down(sys, ep),
        Mode::Counter | Mode::CounterPlain => return Err("counter mode".into()),
        Mode::DsCrash => return check_ds_crash(sys, ep),
    }

    let after = wait_for(sys, |sys| {
        status(sys)
            .ok()
            .filter(|s| s.restarts > before.restarts && s.state == RunState::Running)
    })
    .ok_or("RS never reported echo running again")?;
    rt::println!(
        "echo is running again at {:#x} (restarts {})",
        after.endpoint.0,
        after.restarts
    );
    // RS republished the label; DS tells its subscribers.
    let change = wait_for(sys, |sys| {
        sys::ds::check(sys)
            .ok()
            .flatten()
            .filter(|c| c.key == LABEL && !c.deleted)
    })
    .ok_or("DS never notified the republished echo label")?;
    rt::println!("DS notified: echo -> {:#x}", change.value);
    if change.value != ep.0 {
        return Err(alloc::format!("DS notified {:#x}", change.value));
    }
    // The client kept `ep`; the new instance must answer there.
    echo(sys, ep, 2).map_err(|e| alloc::format!("echo after the restart: {e}"))?;
    rt::println!(
        "echo answered after the restart at the kept endpoint {:#x}",
        ep.0
    );
    let ds_ep = sys::ds::retrieve_label(sys, LABEL).map_err(|e| alloc::format!("DS: {e}"))?;
    if after.endpoint != ep || ds_ep != ep || after.restarts != before.restarts + 1 {
        return Err(alloc::format!(
            "after the restart: RS {:#x}, DS {:#x}, restarts {} (want {:#x}, {})",
            after.endpoint.0,
            ds_ep.0,
            after.restarts,
            ep.0,
            before.restarts + 1
        ));
    }
    rt::println!(
        "echo restarted: endpoint {:#x} unchanged (DS agrees), restarts {}",
        ep.0,
        after.restarts
    );
    report_costs(sys, ep, crashed_at)
}

/// Waits (at most 5 s) for the kernel's bounce of request `id` to `ep`.
fn wait_for_bounce(sys: &mut NativeSys, ep: Endpoint, id: u64) -> Result<(), String> {
    use sys::proto::kernel::DeadPeer;
    sys.set_alarm(500);
    loop {
        let m = sys
            .receive(Endpoint::ANY)
            .map_err(|e| alloc::format!("receive: {e}"))?;
        if let Ok(b) = DeadPeer::try_from(&m) {
            if b.dead != ep || b.request_id() != id {
                return Err(alloc::format!(
                    "bounce for {:#x} id {}",
                    b.dead.0,
                    b.request_id()
                ));
            }
            sys.set_alarm(0);
            rt::println!(
                "echo died on the request: bounced (id {id}, type {:#x})",
                b.mtype
            );
            return Ok(());
        }
        if m.source() == Endpoint::CLOCK {
            return Err("no bounce for the request echo died on".into());
        }
        // Anything else (a DS notification): not what we wait for.
    }
}

/// Figures for the report (never checked against a threshold): clock ticks
/// from the crash request until echo answered again (within the polling
/// step), and the mean cost of a native echo round trip in TSC cycles.
fn report_costs(sys: &mut NativeSys, ep: Endpoint, crashed_at: sys::Ticks) -> Result<(), String> {
    const ROUNDS: u64 = 200;
    let back = sys.now().saturating_sub(crashed_at);
    let t0 = rt::ipc::rdtsc();
    for i in 0..ROUNDS {
        echo(sys, ep, 1000 + i).map_err(|e| alloc::format!("echo round {i}: {e}"))?;
    }
    let per = (rt::ipc::rdtsc() - t0) / ROUNDS;
    rt::println!(
        "figures: back within {back} ticks of the crash request; echo round trip {per} TSC cycles (mean of {ROUNDS})"
    );
    Ok(())
}

/// `service down echo`: RS answers once echo is gone (it exits on SIGTERM;
/// the kernel does not report exits, RS's runtime finds it by probing).
fn check_down(sys: &mut NativeSys, ep: Endpoint) -> Result<(), String> {
    let r = rs_call(
        sys,
        ServiceRequest::Down {
            id: 200,
            label: LABEL.into(),
        },
    )
    .map_err(|e| alloc::format!("down refused: {e}"))?;
    rt::println!("down done (state {:?})", r.state);
    if r.state != RunState::Down {
        return Err(alloc::format!("state after down: {:?}", r.state));
    }
    match echo(sys, ep, 3) {
        Err(Errno::EDEADSRCDST(_)) => rt::println!("echo at {:#x} is gone", ep.0),
        other => return Err(alloc::format!("echo after down: {other:?}")),
    }
    // RS deletes the label asynchronously; DS notifies the subscriber.
    let change = wait_for(sys, |sys| {
        sys::ds::check(sys)
            .ok()
            .flatten()
            .filter(|c| c.key == LABEL && c.deleted)
    })
    .ok_or("DS never notified the deleted echo label")?;
    rt::println!("DS notified: {} deleted", change.key);
    match sys::ds::retrieve_label(sys, LABEL) {
        Err(e) => rt::println!("DS has no echo label ({e})"),
        Ok(e) => return Err(alloc::format!("DS still has echo at {:#x}", e.0)),
    }
    Ok(())
}

/// `service fi ds`: DS panics, RS restarts it at `Endpoint::DS`, and the new
/// instance must still know echo (its store came back from the vault).
fn check_ds_crash(sys: &mut NativeSys, ep: Endpoint) -> Result<(), String> {
    let before = status_of(sys, "ds").map_err(|e| alloc::format!("ds status: {e}"))?;
    rs_call(
        sys,
        ServiceRequest::Fi {
            id: 300,
            label: "ds".into(),
        },
    )
    .map_err(|e| alloc::format!("fault injection refused: {e}"))?;
    rt::println!("fault injection requested for ds");
    let after = wait_for(sys, |sys| {
        status_of(sys, "ds")
            .ok()
            .filter(|s| s.restarts > before.restarts && s.state == RunState::Running)
    })
    .ok_or("RS never reported ds running again")?;
    rt::println!(
        "ds is running again at {:#x} (restarts {})",
        after.endpoint.0,
        after.restarts
    );
    if after.endpoint != Endpoint::DS || after.restarts != before.restarts + 1 {
        return Err(alloc::format!("ds after restart: {after:?}"));
    }
    // Nobody republishes echo's label: only DS's restored store has it.
    let got = sys::ds::retrieve_label(sys, LABEL)
        .map_err(|e| alloc::format!("DS lost echo's label: {e}"))?;
    if got != ep {
        return Err(alloc::format!("DS has echo at {:#x}", got.0));
    }
    rt::println!("DS still has echo -> {:#x} after its restart", ep.0);
    echo(sys, ep, 4).map_err(|e| alloc::format!("echo after the DS restart: {e}"))?;
    rt::println!("echo answered after the DS restart");
    Ok(())
}

/// The stateful counter: started with `service up`, two additions, a
/// crash (`service fi`), then a live update (`service update`); the value
/// must survive both exactly, at the same endpoint.
fn check_counter(sys: &mut NativeSys, label: &str) -> Result<(), String> {
    let c = label;
    let up = rs_call(
        sys,
        ServiceRequest::Up {
            id: 400,
            label: c.into(),
            program: "counter".into(),
            policy: Policy::Stateful,
            period: sys::HZ as u32,
            flags: 0,
        },
    )
    .map_err(|e| alloc::format!("service up {c}: {e}"))?;
    let st = wait_for(sys, |sys| {
        status_of(sys, c)
            .ok()
            .filter(|s| s.state == RunState::Running)
    })
    .ok_or("counter never reached Running")?;
    let ep = st.endpoint;
    rt::println!("counter is up at {:#x} (up answered {:?})", ep.0, up.state);
    let v1 = counter(sys, ep, SampleRequest::Add { id: 1, delta: 5 })?;
    let v2 = counter(sys, ep, SampleRequest::Add { id: 2, delta: 37 })?;
    if (v1, v2) != (5, 42) {
        return Err(alloc::format!("additions gave {v1}, {v2}"));
    }
    rt::println!("counter at 42");

    rs_call(
        sys,
        ServiceRequest::Fi {
            id: 401,
            label: c.into(),
        },
    )
    .map_err(|e| alloc::format!("fault injection refused: {e}"))?;
    let after = wait_for(sys, |sys| {
        status_of(sys, c)
            .ok()
            .filter(|s| s.restarts == st.restarts + 1 && s.state == RunState::Running)
    })
    .ok_or("RS never reported counter running again")?;
    let v = counter(sys, ep, SampleRequest::Get { id: 3 })?;
    rt::println!(
        "counter restarted at {:#x} (restarts {}) with value {v}",
        after.endpoint.0,
        after.restarts
    );
    if v != 42 || after.endpoint != ep {
        return Err(alloc::format!(
            "after the crash: {v} at {:#x}",
            after.endpoint.0
        ));
    }
    let v = counter(sys, ep, SampleRequest::Add { id: 4, delta: 1 })?;
    if v != 43 {
        return Err(alloc::format!("addition after the restart gave {v}"));
    }

    // Live update: the old instance hands its state over; RS answers once
    // the new one has finished its init.
    let lu = rs_call(
        sys,
        ServiceRequest::Update {
            id: 402,
            label: c.into(),
            program: "counter".into(),
        },
    )
    .map_err(|e| alloc::format!("service update counter: {e}"))?;
    let v = counter(sys, ep, SampleRequest::Get { id: 5 })?;
    rt::println!(
        "counter live-updated at {:#x} with value {v}",
        lu.endpoint.0
    );
    if v != 43 || lu.endpoint != ep {
        return Err(alloc::format!(
            "after the update: {v} at {:#x}",
            lu.endpoint.0
        ));
    }
    Ok(())
}

/// One counter request; its value or the error as text.
fn counter(sys: &mut NativeSys, ep: Endpoint, req: SampleRequest) -> Result<u64, String> {
    let reply = sys
        .sendrec(ep, req.to_message())
        .map_err(|e| alloc::format!("counter call: {e}"))?;
    match SampleReply::try_from(&reply) {
        Ok(SampleReply::Value { result: Ok(v), .. }) => Ok(v),
        other => Err(alloc::format!("counter answered {other:?}")),
    }
}

/// Polls `f` until it yields a value, sleeping between tries.
fn wait_for<T>(sys: &mut NativeSys, mut f: impl FnMut(&mut NativeSys) -> Option<T>) -> Option<T> {
    for _ in 0..MAX_POLLS {
        if let Some(v) = f(sys) {
            return Some(v);
        }
        sys.sleep(POLL_TICKS);
    }
    None
}

fn rs_call(sys: &mut NativeSys, req: ServiceRequest) -> Result<ServiceStatus, Errno> {
    let reply = sys.sendrec(Endpoint::RS, req.to_message()?)?;
    ServiceReply::try_from(&reply)?.result
}

fn status(sys: &mut NativeSys) -> Result<ServiceStatus, Errno> {
    status_of(sys, LABEL)
}

fn status_of(sys: &mut NativeSys, label: &str) -> Result<ServiceStatus, Errno> {
    rs_call(
        sys,
        ServiceRequest::Status {
            id: 1,
            label: label.into(),
        },
    )
}

/// One echo round trip; the answer must carry the same id and bytes.
fn echo(sys: &mut NativeSys, ep: Endpoint, id: u64) -> Result<(), Errno> {
    let mut data = [0u8; ECHO_LEN];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i as u64 * 7 + id) as u8;
    }
    let reply = sys.sendrec(ep, SampleRequest::Echo { id, data }.to_message())?;
    match SampleReply::try_from(&reply)? {
        SampleReply::Echo {
            id: rid,
            data: rdata,
        } if rid == id && rdata == data => Ok(()),
        _ => Err(Errno::EIO),
    }
}
