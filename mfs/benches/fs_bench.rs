//! MFS core vs the host file system, same workload, same run.
//!
//! Through the core library on a file-backed V3 image (4 KiB blocks,
//! libbdev `FileDriver` under the libminixfs cache): create 10,000 files in
//! one directory, create 10,000 files in a tree (100 directories x 100
//! files), write a 256 MiB file sequentially (1 MiB writes, then sync), read
//! it back sequentially. The same on the host file system in a temporary
//! directory (with fsync after the write). Prints each time and the ratio
//! MFS/host. Run: `cargo bench -p mfs --bench fs_bench` (env
//! `MFS_BENCH_MIB` changes the big-file size).

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

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

fn mount(img: &Path) -> FileSystem<CachedDevice> {
    let dev = Box::new(FileDriver::open(img).expect("open image"));
    FileSystem::mount_device(dev, CACHE_BUFS, MountOptions::default()).expect("mount")
}

fn main() {
    let mib: usize = std::env::var("MFS_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let big = mib * CHUNK;
    let tmp = tempfile::tempdir().expect("tempdir");
    let img = tmp.path().join("bench.img");
    let host = tmp.path().join("host");
    fs::create_dir(&host).unwrap();

    // Image: room for the big file, 20,000 files and their directories.
    let blocks = (big / 4096 + 64 * 1024) as u64;
    let f = File::create(&img).unwrap();
    f.set_len(blocks * 4096).unwrap();
    drop(f);
    let mut opts = MkfsOptions::new(blocks);
    opts.inodes = Some(32 * 1024);
    let mut drv = FileDriver::open(&img).unwrap();
    mkfs(&mut drv, &opts).expect("mkfs");
    drop(drv);

    let now = 1_700_000_000;
    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i * 131 % 251) as u8).collect();
    let mut rows: Vec<(&str, Duration, Duration)> = Vec::new();

    // 1. 10,000 files in one directory.
    let mut m = mount(&img);
    let (_, t_mfs) = time(|| {
        let d = m.mkdir(ROOT_INO, b"flat", 0o755, 0, 0, now).unwrap();
        for i in 0..FILES {
            m.create(d, format!("file{i:05}").as_bytes(), 0o644, 0, 0, now)
                .unwrap();
        }
        m.sync().unwrap();
    });
    let (_, t_host) = time(|| {
        let d = host.join("flat");
        fs::create_dir(&d).unwrap();
        for i in 0..FILES {
            File::create(d.join(format!("file{i:05}"))).unwrap();
        }
    });
    rows.push(("create 10,000 files in one directory", t_mfs, t_host));

    // 2. 10,000 files in a tree of 100 directories.
    let (_, t_mfs) = time(|| {
        let top = m.mkdir(ROOT_INO, b"tree", 0o755, 0, 0, now).unwrap();
        for d in 0..100 {
            let dir = m
                .mkdir(top, format!("d{d:03}").as_bytes(), 0o755, 0, 0, now)
                .unwrap();
            for i in 0..FILES / 100 {
                m.create(dir, format!("f{i:03}").as_bytes(), 0o644, 0, 0, now)
                    .unwrap();
            }
        }
        m.sync().unwrap();
    });
    let (_, t_host) = time(|| {
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
    rows.push(("create 10,000 files in a tree (100 x 100)", t_mfs, t_host));

    // 3. Sequential write of the big file (through to the image file).
    let (ino, t_mfs) = time(|| {
        let ino = m.create(ROOT_INO, b"big", 0o644, 0, 0, now).unwrap();
        let mut off = 0u64;
        while (off as usize) < big {
            assert_eq!(m.write(ino, off, &chunk, now).unwrap(), CHUNK);
            off += CHUNK as u64;
        }
        m.sync().unwrap();
        ino
    });
    let (_, t_host) = time(|| {
        let mut f = File::create(host.join("big")).unwrap();
        for _ in 0..big / CHUNK {
            f.write_all(&chunk).unwrap();
        }
        f.sync_all().unwrap();
    });
    rows.push(("write big file sequentially (+sync)", t_mfs, t_host));

    // 4. Sequential read after a remount (empty cache).
    let io = m.unmount().unwrap();
    drop(io.into_parts().unwrap());
    let mut m = mount(&img);
    let mut buf = vec![0u8; CHUNK];
    let (_, t_mfs) = time(|| {
        let mut off = 0u64;
        while (off as usize) < big {
            assert_eq!(m.read(ino, off, &mut buf).unwrap(), CHUNK);
            off += CHUNK as u64;
        }
    });
    assert_eq!(buf, chunk, "data read back");
    let (_, t_host) = time(|| {
        let mut f = File::open(host.join("big")).unwrap();
        for _ in 0..big / CHUNK {
            f.read_exact(&mut buf).unwrap();
        }
    });
    rows.push(("read big file sequentially (cold cache)", t_mfs, t_host));
    let c = m.io().cache().counters();
    let io = m.unmount().unwrap();
    drop(io.into_parts().unwrap());

    println!(
        "MFS core (V3, 4 KiB blocks, {CACHE_BUFS}-buffer cache, FileDriver image) vs host FS, big file {mib} MiB"
    );
    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        "workload", "mfs", "host", "ratio"
    );
    for (what, a, b) in &rows {
        println!(
            "{:<44} {:>10.1}ms {:>10.1}ms {:>7.2}x",
            what,
            a.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3,
            a.as_secs_f64() / b.as_secs_f64().max(1e-9)
        );
    }
    let mb = big as f64 / (1 << 20) as f64;
    println!(
        "throughput: mfs write {:.0} MiB/s, read {:.0} MiB/s; read requests {} for {} blocks (prefetched {})",
        mb / rows[2].1.as_secs_f64(),
        mb / rows[3].1.as_secs_f64(),
        c.read_requests,
        c.blocks_read,
        c.prefetched
    );
}
