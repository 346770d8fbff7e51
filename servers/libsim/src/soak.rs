//! The soak scenario: a few echo and counter services under steady request
//! load from several clients while the fault injector crashes (and now and
//! then hangs) them and DS at random. Shared by the soak and determinism
//! tests and the `soak` binary.

use crate::samples::{LoadClient, LoadStats, Target};
use crate::system::{boot_with, ds_service, service};
use crate::{Sim, SimConfig};
use rs::RsConfig;
use sys::proto::service::{Policy, RunState};
use sys::{Errno, HZ};

/// Parameters.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// Seed.
    pub seed: u64,
    /// Stop injecting after this many injected crashes.
    pub crashes: u64,
    /// Crash probability per delivery to a target, per million.
    pub crash_ppm: u32,
    /// Hang probability per delivery to a target, per million.
    pub hang_ppm: u32,
    /// Keep the full trace.
    pub keep_trace: bool,
}

/// What a soak run measured.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// Crashes injected.
    pub crashes_injected: u64,
    /// Hangs injected.
    pub hangs_injected: u64,
    /// Crashes RS recorded (injected ones plus hang kills and init retries).
    pub crashes_recorded: u64,
    /// Client totals.
    pub load: LoadStats,
    /// Requests still unanswered after the quiet period (must be 0).
    pub outstanding: usize,
    /// Per counter: (label, acknowledged sum, value the service reports).
    pub counters: Vec<(String, u64, Result<u64, Errno>)>,
    /// Messages delivered.
    pub deliveries: u64,
    /// Simulated ticks.
    pub ticks: u64,
    /// Trace hash.
    pub trace_hash: u64,
    /// Services not running at the end.
    pub not_running: Vec<String>,
}

const SERVICES: [&str; 4] = ["echo1", "echo2", "counter1", "counter2"];

/// Build the soak system (services booted, clients started, faults armed).
pub fn setup(c: &SoakConfig) -> Sim {
    let mut table = vec![ds_service()];
    for (l, p, pol) in [
        ("echo1", "echo", Policy::Restart),
        ("echo2", "echo", Policy::Reset),
        ("counter1", "counter", Policy::Stateful),
        ("counter2", "counter", Policy::Stateful),
    ] {
        let mut s = service(l, p, pol, HZ);
        // A short back-off keeps crash cycles dense in simulated time.
        s.no_backoff = true;
        table.push(s);
    }
    let mut rs_cfg = RsConfig::with_table(table);
    rs_cfg.delta = HZ / 10;
    let mut cfg = SimConfig::new(c.seed);
    cfg.keep_trace = c.keep_trace;
    let mut sim = boot_with(cfg, rs_cfg);
    let echo = |l: &str| Target {
        label: l.into(),
        counter: false,
    };
    let counter = |l: &str| Target {
        label: l.into(),
        counter: true,
    };
    let clients = [
        vec![echo("echo1"), echo("echo2"), counter("counter1")],
        vec![echo("echo1"), echo("echo2"), counter("counter2")],
        vec![echo("echo1"), echo("echo2")],
        vec![echo("echo2"), echo("echo1")],
    ];
    for (i, t) in clients.into_iter().enumerate() {
        let r = sim.spawn_user(
            &format!("client{i}"),
            Box::new(LoadClient::new(t, 1, c.seed ^ (i as u64 + 1))),
        );
        assert!(r.is_ok(), "client spawn: {r:?}");
    }
    let mut targets: Vec<&str> = SERVICES.to_vec();
    targets.push("ds");
    sim.faults_randomly(&targets, c.crash_ppm, c.hang_ppm);
    sim
}

fn client_stats(sim: &Sim) -> (LoadStats, usize) {
    let mut t = LoadStats::default();
    let mut out = 0;
    for i in 0..4 {
        if let Some((s, o)) =
            sim.with_process::<LoadClient, _>(&format!("client{i}"), |c| (c.stats, c.outstanding()))
        {
            t.sent += s.sent;
            t.ok += s.ok;
            t.failed += s.failed;
            t.wrong += s.wrong;
            t.unexpected += s.unexpected;
            out += o;
        }
    }
    (t, out)
}

/// Run the scenario to the end and measure it.
pub fn run(c: &SoakConfig) -> SoakReport {
    let mut sim = setup(c);
    while sim.stats().crashes_injected < c.crashes {
        if !sim.step() {
            break;
        }
        assert!(sim.fatal().is_none(), "{:?}", sim.fatal());
    }
    // Quiet period: no more faults, no new requests; everything in flight
    // must be answered or bounced, and every service must come back.
    sim.faults_randomly(&[], 0, 0);
    for i in 0..4 {
        sim.with_process_mut::<LoadClient, _>(&format!("client{i}"), |cl| cl.stopped = true);
    }
    // A service hung before the faults stopped is found out by its pings
    // within two periods and a tick; give RS that long first.
    sim.run_for(3 * HZ);
    sim.run_until(600 * HZ, |s| {
        client_stats(s).1 == 0
            && SERVICES.iter().chain(["ds"].iter()).all(|l| {
                s.is_alive(l)
                    && s.rs_service(l)
                        .map(|i| i.state == RunState::Running)
                        .unwrap_or(false)
            })
    });
    let (load, outstanding) = client_stats(&sim);
    let mut counters = Vec::new();
    for (ci, label) in [(0usize, "counter1"), (1, "counter2")] {
        let acked = sim
            .with_process::<LoadClient, _>(&format!("client{ci}"), |cl| cl.acked[2])
            .unwrap_or(0);
        let got = get(&mut sim, label);
        counters.push((label.to_string(), acked, got));
    }
    let not_running = SERVICES
        .iter()
        .chain(["ds"].iter())
        .filter(|l| {
            sim.rs_service(l)
                .map(|i| i.state != RunState::Running)
                .unwrap_or(true)
        })
        .map(|l| l.to_string())
        .collect();
    SoakReport {
        crashes_injected: sim.stats().crashes_injected,
        hangs_injected: sim.stats().hangs_injected,
        crashes_recorded: sim.total_crashes(),
        load,
        outstanding,
        counters,
        deliveries: sim.stats().deliveries,
        ticks: sim.now(),
        trace_hash: sim.trace_hash(),
        not_running,
    }
}

fn get(sim: &mut Sim, label: &str) -> Result<u64, Errno> {
    use sys::proto::sample::{SampleReply, SampleRequest};
    let ep = sim.endpoint_of(label).ok_or(Errno::ESRCH)?;
    let r = sim.call(ep, SampleRequest::Get { id: u64::MAX }.to_message())?;
    match SampleReply::try_from(&r)? {
        SampleReply::Value { result, .. } => result,
        _ => Err(Errno::EBADCALL),
    }
}
