//! Soak: many injected crashes under steady load. Every request is answered
//! correctly or fails with the documented error (EDEADSRCDST: the service
//! died; EAGAIN: a counter could not save its state and did not apply the
//! addition), nothing is left unanswered, and each stateful counter ends
//! exactly at the sum of its acknowledged additions.
//!
//! The 100,000-crash run is part of the default test run: the root
//! `Cargo.toml` optimises the simulated stack (sim, sys, rs, ds) even in the
//! dev/test profile, which brings it to seconds. Figures are printed with
//! `cargo test -p sim --test soak -- --nocapture`.

use sim::seeded;
use sim::soak::{SoakConfig, SoakReport, run};
use std::time::Instant;

fn check(r: &SoakReport, want: u64) {
    assert!(r.crashes_injected >= want, "{r:?}");
    assert_eq!(r.load.wrong, 0, "wrong answers: {r:?}");
    assert_eq!(r.load.unexpected, 0, "unexpected answers: {r:?}");
    assert_eq!(r.outstanding, 0, "requests left unanswered: {r:?}");
    assert_eq!(r.load.ok + r.load.failed, r.load.sent, "{r:?}");
    assert!(
        r.load.ok > r.load.sent / 10,
        "the load made progress: {r:?}"
    );
    assert!(r.not_running.is_empty(), "services down at the end: {r:?}");
    for (label, acked, got) in &r.counters {
        assert_eq!(
            *got,
            Ok(*acked),
            "{label}: final state must equal the acknowledged sum"
        );
        assert!(*acked > 0, "{label} made progress");
    }
}

fn soak(name: &str, default_seed: u64, crashes: u64) {
    soak_at(name, default_seed, crashes, 20_000, 200);
}

fn soak_at(name: &str, default_seed: u64, crashes: u64, crash_ppm: u32, hang_ppm: u32) {
    seeded(name, default_seed, |seed| {
        let cfg = SoakConfig {
            seed,
            crashes,
            crash_ppm,
            hang_ppm,
            keep_trace: false,
        };
        let t0 = Instant::now();
        let r = run(&cfg);
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "soak {name}: {} crashes injected ({} hangs, {} recorded by RS) in {:.2} s wall = {:.0} crashes/s; \
             {} deliveries, {} simulated s; requests sent {} ok {} failed(documented) {}",
            r.crashes_injected,
            r.hangs_injected,
            r.crashes_recorded,
            secs,
            r.crashes_injected as f64 / secs,
            r.deliveries,
            r.ticks / sys::HZ,
            r.load.sent,
            r.load.ok,
            r.load.failed
        );
        check(&r, crashes);
    });
}

#[test]
fn soak_100k_crashes() {
    soak("soak-100k", 0x50a4, 100_000);
}

#[test]
fn soak_10k_crashes_other_seeds() {
    soak("soak-10k-a", 7, 10_000);
    soak("soak-10k-b", 0xdead_beef, 10_000);
}

#[test]
fn soak_harsh_rates() {
    // One delivery in ten crashes its receiver, one in two hundred hangs it:
    // inits are interrupted again and again, and services that ran before
    // must still come back with exact state.
    soak_at("soak-harsh", 3, 10_000, 100_000, 5_000);
}
