//! Operations per second of the simulated VFS + MFS stack (wall clock of
//! the host running the simulator): small-file create/read/unlink cycles,
//! sequential 1 MiB writes and reads, and the cost of the exactly-once
//! machinery (MFS result records on vs off, same workload, same run).
//! Run: `cargo bench -p vfs --bench vfs_bench`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use mfs::server::MfsConfig;
use std::time::Instant;
use sys::proto::service::Policy;
use sys::proto::vfs::oflag::*;

fn small_files(exactly_once: bool, n: usize) -> f64 {
    let cfg = MfsConfig {
        exactly_once,
        ..MfsConfig::default()
    };
    let mut w = world(1, 1, cfg, Policy::Stateful);
    w.wait_ready();
    let t = Instant::now();
    w.run(move |s, c| {
        for i in 0..n {
            let p = format!("/f{}", i % 200);
            let fd = c.open(s, &p, O_CREAT | O_WRONLY | O_TRUNC, 0o644).unwrap();
            c.write(s, fd, &[i as u8; 100]).unwrap();
            c.close(s, fd).unwrap();
            let fd = c.open(s, &p, O_RDONLY, 0).unwrap();
            assert_eq!(c.read(s, fd, 200).unwrap().len(), 100);
            c.close(s, fd).unwrap();
            c.unlink(s, &p).unwrap();
        }
    });
    // One cycle = create (open+write+close) + read (open+read+close) + unlink.
    n as f64 / t.elapsed().as_secs_f64()
}

fn sequential(mib: usize) -> (f64, f64) {
    let mut w = world(2, 1, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    let chunk = vec![0x5au8; 64 * 1024];
    let times = slot::<(f64, f64)>();
    let t2 = times.clone();
    w.run(move |s, c| {
        let t = Instant::now();
        for k in 0..mib {
            let fd = c
                .open(
                    s,
                    &format!("/big{}", k % 4),
                    O_CREAT | O_WRONLY | O_TRUNC,
                    0o644,
                )
                .unwrap();
            for _ in 0..16 {
                c.write(s, fd, &chunk).unwrap();
            }
            c.close(s, fd).unwrap();
        }
        let wt = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for k in 0..mib {
            let fd = c.open(s, &format!("/big{}", k % 4), O_RDONLY, 0).unwrap();
            let mut got = 0;
            loop {
                let d = c.read(s, fd, 64 * 1024).unwrap();
                if d.is_empty() {
                    break;
                }
                got += d.len();
            }
            assert_eq!(got, 1 << 20);
            c.close(s, fd).unwrap();
        }
        t2.borrow_mut().replace((wt, t.elapsed().as_secs_f64()));
    });
    let (wt, rt) = times.borrow().unwrap();
    (mib as f64 / wt, mib as f64 / rt)
}

fn main() {
    let n = 5000;
    // Interleave on/off runs so machine noise hits both alike.
    let mut on = Vec::new();
    let mut off = Vec::new();
    for _ in 0..5 {
        on.push(small_files(true, n));
        off.push(small_files(false, n));
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (on_m, off_m) = (med(&mut on), med(&mut off));
    println!("small-file cycles/s (create+write, open+read, unlink), exactly-once on : {on_m:.0}");
    println!("small-file cycles/s (create+write, open+read, unlink), exactly-once off: {off_m:.0}");
    println!("exactly-once cost: {:.1}%", (off_m - on_m) / off_m * 100.0);
    let (w, r) = sequential(32);
    println!("sequential 1 MiB files: write {w:.1} MiB/s, read {r:.1} MiB/s");
}
