//! Crash-under-load soak: 8 clients run the mixed workload of
//! `tests/crash.rs` while MFS is killed (at message boundaries and after
//! applying a request) and the block driver crashes, seed after seed, until
//! at least `VFS_SOAK_CRASHES` (default 10,000) crashes were survived. Every
//! run must end with every acknowledged write reading back exactly, no
//! duplicate application, no hung client and a clean fsck; the binary
//! exits non-zero otherwise. Prints crashes survived and the workload's
//! throughput with and without crash injection.
//! Run: `cargo bench -p vfs --bench vfs_soak`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::workload::{Faults, run};
use std::time::Instant;

fn main() {
    let want: u64 = std::env::var("VFS_SOAK_CRASHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (clients, ops) = (8, 400);
    let t = Instant::now();
    let base = run(
        1,
        clients,
        ops,
        Faults {
            crash_ppm: 0,
            die_ppm: 0,
            dev_ppm: 0,
            bs: 0,
        },
        true,
    );
    let base_rate = base.ops as f64 / t.elapsed().as_secs_f64();
    assert!(base.errors.is_empty(), "{:?}", base.errors);
    let mut crashes = 0;
    let mut dev = 0;
    let mut pfs = 0;
    let mut chr = 0;
    let mut replayed = 0;
    let mut ops_done = 0;
    let mut seed = 100;
    let t = Instant::now();
    while crashes < want {
        let r = run(
            seed,
            clients,
            ops,
            Faults {
                crash_ppm: 30_000,
                die_ppm: 20_000,
                dev_ppm: 100_000,
                bs: 0,
            },
            true,
        );
        if !r.errors.is_empty() || r.fsck_errors > 0 {
            eprintln!(
                "seed {seed} failed: {:#?}",
                &r.errors[..r.errors.len().min(20)]
            );
            std::process::exit(1);
        }
        crashes += r.crashes;
        dev += r.dev_crashes;
        pfs += r.pfs_restarts;
        chr += r.loopdev_restarts;
        replayed += r.replayed;
        ops_done += r.ops;
        seed += 1;
    }
    let el = t.elapsed().as_secs_f64();
    println!(
        "soak: {} runs, {crashes} MFS+PFS+char-driver crashes ({pfs} of PFS, {chr} of the char driver) + {dev} block-driver crashes survived, {replayed} resends answered from the record, {ops_done} client ops verified in {el:.1} s",
        seed - 100
    );
    println!(
        "workload throughput: {base_rate:.0} ops/s without faults, {:.0} ops/s under crash injection",
        ops_done as f64 / el
    );
}
