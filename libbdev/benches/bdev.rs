//! libbdev benchmark (a plain bench binary: `cargo bench -p libbdev`).
//!
//! Reports, without asserting anything:
//! 1. Client overhead: a cached 4 KiB read through `Bdev` / `BdevDevice` over a
//!    `MemDriver`, against the driver called directly and a plain memcpy.
//! 2. A 64-segment (256 KiB) gather through the client.
//! 3. Simulated time of reading 64 MiB sequentially from a `SimDriver` with
//!    200 µs per request and a 400 MB/s limit, in 4 KiB requests and in
//!    64 x 4 KiB vectored requests, as a fraction of the bandwidth limit
//!    (deterministic figures from the simulated clock).
//! 4. How closely wall pacing (`Spin`, `Sleep`) follows a 200 µs request.

use std::hint::black_box;
use std::time::Instant;

use libbdev::{Access, Bdev, BdevDevice, BlockDevice, Driver, MemDriver, SimDriver, WallPacing};

const KIB4: usize = 4096;

/// Best of 5 timed runs of `iters` calls, after a warm-up (the machine is
/// shared; the minimum is the least disturbed run).
fn per_op(iters: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters / 10 {
        f();
    }
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(iters)
        })
        .fold(f64::INFINITY, f64::min)
}

fn overhead() {
    // 1 MiB fits in cache, so the copy costs the same everywhere and the
    // difference between the rows is the code around it.
    const SIZE: usize = 1 << 20;
    let iters = 200_000;
    let blocks = (SIZE / KIB4) as u64;
    let mut buf = vec![0u8; KIB4];
    let mut i = 0u64;
    let mut next = move || {
        // A cheap scattered block sequence.
        i = (i + 7919) % blocks;
        i * KIB4 as u64
    };

    let src = vec![1u8; SIZE];
    let memcpy = per_op(iters, || {
        let p = next() as usize;
        buf.copy_from_slice(&src[p..p + KIB4]);
        black_box(&buf);
    });
    drop(src);

    let mut mem = MemDriver::with_size(SIZE);
    // Real bytes: untouched zero pages would all share one cached page.
    if let Some(d) = mem.data_mut(0) {
        d.fill(1);
    }
    let direct = per_op(iters, || {
        let p = next();
        black_box(mem.gather(0, p, &mut [&mut buf]).unwrap());
    });

    let mut client = Bdev::new(mem);
    client.open(0, Access::RW).unwrap();
    let via_client = per_op(iters, || {
        let p = next();
        black_box(client.read(0, p, &mut buf).unwrap());
    });

    let mut dev = BdevDevice::open_new(client.into_driver(), 0, Access::RW).unwrap();
    let via_device = per_op(iters, || {
        let p = next();
        black_box(dev.read_vectored(p, &mut [&mut buf]).unwrap());
    });

    println!("4 KiB random read from a 1 MiB (cache-resident) device, ns/op, best of 5:");
    println!("  memcpy                      {memcpy:8.1}");
    println!("  MemDriver::gather (direct)  {direct:8.1}");
    println!("  Bdev::read                  {via_client:8.1}");
    println!("  BdevDevice::read_vectored   {via_device:8.1}");
    println!(
        "  client overhead over direct: {:.1} ns",
        via_device - direct
    );

    let mut segs = vec![vec![0u8; KIB4]; 64];
    let gather = per_op(20_000, || {
        let p = next() % ((SIZE - 64 * KIB4) as u64);
        let mut refs: Vec<&mut [u8]> = segs.iter_mut().map(|s| &mut s[..]).collect();
        black_box(dev.read_vectored(p, &mut refs).unwrap());
    });
    println!(
        "64 x 4 KiB gather through BdevDevice: {gather:.0} ns/op ({:.2} GB/s)",
        (64 * KIB4) as f64 / gather
    );
}

fn simulated_sequential() {
    const SIZE: u64 = 64 << 20;
    const BW: u64 = 400_000_000;
    println!("64 MiB sequential read, SimDriver 200 us/request, 400 MB/s limit (simulated):");
    for per_req in [1usize, 8, 64] {
        let sim = SimDriver::disk(SIZE)
            .with_latency_ns(200_000)
            .with_bandwidth(Some(BW));
        let clock = sim.clock().clone();
        let mut dev = BdevDevice::open_new(sim, 0, Access::R).unwrap();
        let t0 = clock.now_ns();
        let mut segs = vec![vec![0u8; KIB4]; per_req];
        let wall = Instant::now();
        let mut pos = 0u64;
        while pos < SIZE {
            let mut refs: Vec<&mut [u8]> = segs.iter_mut().map(|s| &mut s[..]).collect();
            pos += dev.read_vectored(pos, &mut refs).unwrap() as u64;
        }
        let ns = clock.now_ns() - t0;
        let secs = ns as f64 / 1e9;
        let rate = SIZE as f64 / secs;
        println!(
            "  {per_req:2} x 4 KiB per request: {:6} requests, {secs:7.3} s simulated, \
             {:6.1} MB/s = {:5.1}% of the limit (host time {:.0} ms)",
            SIZE / (per_req * KIB4) as u64,
            rate / 1e6,
            100.0 * rate / BW as f64,
            wall.elapsed().as_secs_f64() * 1e3
        );
    }
}

fn pacing() {
    println!("wall pacing of a 200 us request (mean over 200 requests):");
    for pacing in [WallPacing::Spin, WallPacing::Sleep] {
        let mut sim = SimDriver::disk(1 << 20)
            .with_latency_ns(200_000)
            .with_pacing(pacing);
        sim.open(0, Access::R).unwrap();
        let mut buf = [0u8; 512];
        let start = Instant::now();
        for i in 0..200u64 {
            sim.gather(0, (i * 512) % (1 << 20), &mut [&mut buf])
                .unwrap();
        }
        let mean = start.elapsed().as_nanos() as f64 / 200.0 / 1e3;
        println!("  {pacing:?}: {mean:.1} us per request");
    }
}

fn main() {
    // `cargo test --benches` runs bench binaries with no arguments too;
    // keep that quick by only doing the full run under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("libbdev bench: run with `cargo bench -p libbdev`");
        return;
    }
    overhead();
    simulated_sequential();
    pacing();
}
