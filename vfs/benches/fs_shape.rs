//! The in-guest benchmark's workload (`tests/programs/fsbench`) in the simulator,
//! for profiling the servers' own code on the host (`perf record` on this
//! binary): 1,000 creates + 100-byte writes in one directory, their
//! unlinks, and a sequential write in 1 MiB calls (6 MiB: the simulated disk is small). Prints the host
//! wall-clock rates. Run: `cargo bench -p vfs --bench fs_shape`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use mfs::server::MfsConfig;
use std::time::Instant;
use sys::proto::service::Policy;
use sys::proto::vfs::oflag::*;

/// 1,000 (the simulated disk holds no more): the per-file cost is what counts.
const FILES: usize = 1000;

fn main() {
    let mut w = world(3, 1, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    w.run(move |s, c| {
        c.mkdir(s, "/d", 0o755).unwrap();
        let t = Instant::now();
        for i in 0..FILES {
            let fd = c
                .open(
                    s,
                    &format!("/d/f{i:05}"),
                    O_CREAT | O_EXCL | O_WRONLY,
                    0o644,
                )
                .unwrap();
            c.write(s, fd, &[b'x'; 100]).unwrap();
            c.close(s, fd).unwrap();
        }
        println!(
            "creates: {:.0} files/s",
            FILES as f64 / t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        for i in 0..FILES {
            c.unlink(s, &format!("/d/f{i:05}")).unwrap();
        }
        println!(
            "unlinks: {:.0} files/s",
            FILES as f64 / t.elapsed().as_secs_f64()
        );
        let chunk = vec![0x5au8; 1 << 20];
        let t = Instant::now();
        let fd = c
            .open(s, "/big", O_CREAT | O_WRONLY | O_TRUNC, 0o644)
            .unwrap();
        // The simulated disk is 8 MiB: 6 MiB of the 64.
        for _ in 0..6 {
            c.write(s, fd, &chunk).unwrap();
        }
        c.fsync(s, fd).unwrap();
        c.close(s, fd).unwrap();
        println!("write: {:.1} MiB/s", 6.0 / t.elapsed().as_secs_f64());
    });
}
