//! Soak runner: `cargo run -p sim --release --bin soak -- [crashes] [seed] [crash_ppm] [hang_ppm]`.
//! Prints the figures of one soak run (crashes per second of wall time,
//! request outcomes, final counter states) and exits non-zero if any
//! invariant failed.

use sim::soak::{SoakConfig, run};
use std::time::Instant;

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let cfg = SoakConfig {
        crashes: arg(1, 100_000),
        seed: arg(2, 0x50a4),
        crash_ppm: arg(3, 20_000) as u32,
        hang_ppm: arg(4, 200) as u32,
        keep_trace: false,
    };
    let t0 = Instant::now();
    let r = run(&cfg);
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "seed {}  crashes injected {}  hangs {}  RS crash records {}",
        cfg.seed, r.crashes_injected, r.hangs_injected, r.crashes_recorded
    );
    println!(
        "wall {:.2} s  => {:.0} crashes/s, {:.0} deliveries/s",
        secs,
        r.crashes_injected as f64 / secs,
        r.deliveries as f64 / secs
    );
    println!(
        "simulated {} s, {} deliveries",
        r.ticks / sys::HZ,
        r.deliveries
    );
    println!(
        "requests sent {}  ok {}  failed (EDEADSRCDST/EAGAIN) {}  wrong {}  unexpected {}  unanswered {}",
        r.load.sent, r.load.ok, r.load.failed, r.load.wrong, r.load.unexpected, r.outstanding
    );
    let mut good = r.load.wrong == 0
        && r.load.unexpected == 0
        && r.outstanding == 0
        && r.not_running.is_empty();
    for (label, acked, got) in &r.counters {
        println!("{label}: acknowledged sum {acked}, service value {got:?}");
        good &= *got == Ok(*acked);
    }
    println!("trace hash {:#018x}", r.trace_hash);
    if !good {
        eprintln!("INVARIANT VIOLATED (replay with seed {})", cfg.seed);
        std::process::exit(1);
    }
}
