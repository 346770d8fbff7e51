//! MFS core vs the host file system, same workload, same run; and MFS with
//! its write ordering (power-cut safety, issue 14 item 5) on and off.
//!
//! Through the core library on a file-backed V3 image (4 KiB blocks,
//! libbdev `FileDriver` under the libminixfs cache): create 10,000 files in
//! one directory, create 10,000 files in a tree (100 directories x 100
//! files), write a 256 MiB file sequentially (1 MiB writes, then sync), read
//! it back sequentially. The same on the host file system in a temporary
//! directory (with fsync after the write). Prints each time and the ratio
//! MFS/host. Run: `cargo bench -p mfs --bench fs_bench` (env
//! `MFS_BENCH_MIB` changes the big-file size; `MFS_BENCH_ORDERING` = `on`
//! (default), `off`, or `both`, which runs the MFS workloads with write
//! ordering on and then off on fresh images and prints the on/off ratio).

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use libbdev::file::FileDriver;
use mfs::format::ROOT_INO;
use mfs::mkfs::{MkfsOptions, mkfs};
use mfs::{CachedDevice, FileSystem, MountOptions};

const FILES: u32 = 10_000;
const CHUNK: usize = 1 << 20;
const CACHE_BUFS: usize = 8192;
const NOW: u32 = 1_700_000_000;

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

fn mount(img: &Path, ordering: bool) -> FileSystem<CachedDevice> {
    let dev = Box::new(FileDriver::open(img).expect("open image"));
    let mut m = FileSystem::mount_device(dev, CACHE_BUFS, MountOptions::default()).expect("mount");
    m.set_write_ordering(ordering).expect("write ordering");
    m
}

/// A fresh image with room for the big file, 20,000 files and their directories.
fn make_image(img: &Path, big: usize) {
    let blocks = (big / 4096 + 64 * 1024) as u64;
    let f = File::create(img).unwrap();
    f.set_len(0).unwrap();
    f.set_len(blocks * 4096).unwrap();
    drop(f);
    let mut opts = MkfsOptions::new(blocks);
    opts.inodes = Some(32 * 1024);
    let mut drv = FileDriver::open(img).unwrap();
    mkfs(&mut drv, &opts).expect("mkfs");
}

/// The four MFS workloads on a fresh image; their times, the cache's
/// device flushes (barriers) and the flushes write ordering forced.
fn run_mfs(img: &Path, big: usize, chunk: &[u8], ordering: bool) -> (Vec<Duration>, u64, u64) {
    make_image(img, big);
    let mut times = Vec::new();
    // 1. 10,000 files in one directory.
    let mut m = mount(img, ordering);
    let (_, t) = time(|| {
        let d = m.mkdir(ROOT_INO, b"flat", 0o755, 0, 0, NOW).unwrap();
        for i in 0..FILES {
            m.create(d, format!("file{i:05}").as_bytes(), 0o644, 0, 0, NOW)
                .unwrap();
        }
        m.sync().unwrap();
    });
    times.push(t);
    let b1 = m.io().cache().counters().barriers;
    // 2. 10,000 files in a tree of 100 directories.
    let (_, t) = time(|| {
        let top = m.mkdir(ROOT_INO, b"tree", 0o755, 0, 0, NOW).unwrap();
        for d in 0..100 {
            let dir = m
                .mkdir(top, format!("d{d:03}").as_bytes(), 0o755, 0, 0, NOW)
                .unwrap();
            for i in 0..FILES / 100 {
                m.create(dir, format!("f{i:03}").as_bytes(), 0o644, 0, 0, NOW)
                    .unwrap();
            }
        }
        m.sync().unwrap();
    });
    times.push(t);
    let b2 = m.io().cache().counters().barriers;
    // 3. Sequential write of the big file (through to the image file).
    let (ino, t) = time(|| {
        let ino = m.create(ROOT_INO, b"big", 0o644, 0, 0, NOW).unwrap();
        let mut off = 0u64;
        while (off as usize) < big {
            assert_eq!(m.write(ino, off, chunk, NOW).unwrap(), CHUNK);
            off += CHUNK as u64;
        }
        m.sync().unwrap();
        ino
    });
    times.push(t);
    let c1 = m.io().cache().counters();
    // 4. Sequential read after a remount (empty cache).
    let io = m.unmount().unwrap();
    drop(io.into_parts().unwrap());
    let mut m = mount(img, ordering);
    let mut buf = vec![0u8; CHUNK];
    let (_, t) = time(|| {
        let mut off = 0u64;
        while (off as usize) < big {
            assert_eq!(m.read(ino, off, &mut buf).unwrap(), CHUNK);
            off += CHUNK as u64;
        }
    });
    assert_eq!(buf, chunk, "data read back");
    times.push(t);
    let c = m.io().cache().counters();
    println!(
        "mfs, write ordering {}: read requests {} for {} blocks (prefetched {}); device flushes (workloads 1, 2, 3) {}, {}, {}; {} forced by ordering",
        if ordering { "on" } else { "off" },
        c.read_requests,
        c.blocks_read,
        c.prefetched,
        b1,
        b2 - b1,
        c1.barriers - b2,
        c1.order_flushes
    );
    let io = m.unmount().unwrap();
    drop(io.into_parts().unwrap());
    (times, c1.barriers, c1.order_flushes)
}

fn run_host(host: &Path, big: usize, chunk: &[u8]) -> Vec<Duration> {
    let mut times = Vec::new();
    let (_, t) = time(|| {
        let d = host.join("flat");
        fs::create_dir(&d).unwrap();
        for i in 0..FILES {
            File::create(d.join(format!("file{i:05}"))).unwrap();
        }
    });
    times.push(t);
    let (_, t) = time(|| {
        let top = host.join("tree");
        fs::create_dir(&top).unwrap();
        for d in 0..100 {
            let dir = top.join(format!("d{d:03}"));
            fs::create_dir(&dir).unwrap();
            for i in 0..FILES / 100 {
                File::create(dir.join(format!("f{i:03}"))).unwrap();
            }
        }
    });
    times.push(t);
    let (_, t) = time(|| {
        let mut f = File::create(host.join("big")).unwrap();
        for _ in 0..big / CHUNK {
            f.write_all(chunk).unwrap();
        }
        f.sync_all().unwrap();
    });
    times.push(t);
    let mut buf = vec![0u8; CHUNK];
    let (_, t) = time(|| {
        let mut f = File::open(host.join("big")).unwrap();
        for _ in 0..big / CHUNK {
            f.read_exact(&mut buf).unwrap();
        }
    });
    times.push(t);
    times
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let mib: usize = std::env::var("MFS_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let modes: Vec<bool> = match std::env::var("MFS_BENCH_ORDERING").as_deref() {
        Ok("off") => vec![false],
        Ok("both") => vec![true, false],
        _ => vec![true],
    };
    let big = mib * CHUNK;
    let tmp = tempfile::tempdir().expect("tempdir");
    let img = tmp.path().join("bench.img");
    let host = tmp.path().join("host");
    fs::create_dir(&host).unwrap();
    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i * 131 % 251) as u8).collect();

    let runs: Vec<(bool, Vec<Duration>)> = modes
        .iter()
        .map(|&o| (o, run_mfs(&img, big, &chunk, o).0))
        .collect();
    let host_t = run_host(&host, big, &chunk);
    let names = [
        "create 10,000 files in one directory",
        "create 10,000 files in a tree (100 x 100)",
        "write big file sequentially (+sync)",
        "read big file sequentially (cold cache)",
    ];

    println!(
        "MFS core (V3, 4 KiB blocks, {CACHE_BUFS}-buffer cache, FileDriver image) vs host FS, big file {mib} MiB"
    );
    let mut head = format!("{:<44}", "workload");
    for (o, _) in &runs {
        head += &format!(" {:>14}", if *o { "mfs ordered" } else { "mfs unordered" });
    }
    head += &format!(" {:>12} {:>9}", "host", "mfs/host");
    if runs.len() == 2 {
        head += &format!(" {:>8}", "on/off");
    }
    println!("{head}");
    for (k, what) in names.iter().enumerate() {
        let mut row = format!("{what:<44}");
        for (_, t) in &runs {
            row += &format!(" {:>12.1}ms", ms(t[k]));
        }
        row += &format!(
            " {:>10.1}ms {:>8.2}x",
            ms(host_t[k]),
            runs[0].1[k].as_secs_f64() / host_t[k].as_secs_f64().max(1e-9)
        );
        if runs.len() == 2 {
            row += &format!(
                " {:>7.2}x",
                runs[0].1[k].as_secs_f64() / runs[1].1[k].as_secs_f64().max(1e-9)
            );
        }
        println!("{row}");
    }
    let mb = big as f64 / (1 << 20) as f64;
    for (o, t) in &runs {
        println!(
            "throughput (ordering {}): mfs write {:.0} MiB/s, read {:.0} MiB/s",
            if *o { "on" } else { "off" },
            mb / t[2].as_secs_f64(),
            mb / t[3].as_secs_f64(),
        );
    }
}
