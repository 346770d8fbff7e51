//! Sequential read throughput of ISOFS against MFS for the same files, both
//! through their core libraries over libminixfs's cache (4 MiB of buffers,
//! cold at the start of every round) on an in-memory device, so the figure
//! compares the file systems' read paths and not the medium.
//!
//! The files (16 x 4 MiB of pseudo-random bytes by default; env
//! `ISO_BENCH_MIB` sets the total) are written to a host directory, made
//! into an ISO by xorriso (Rock Ridge) and into a MINIX V3 image (4 KiB
//! blocks) by the mfs crate. Both caches skip the crc32 of clean blocks,
//! as the servers do natively. Each round mounts afresh and reads every file
//! start to end in 128 KiB requests, copying the bytes out block by block
//! as the servers do into a client's grant. Prints the best of five rounds
//! for each and the ratio ISOFS / MFS. Run: `cargo bench -p isofs`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use isofs::{CachedBlocks, IsoFs, MemDevice, MountOptions};
use libbdev::BdevError;
use libminixfs::BlockDevice;
use mfs::mkfs::{MkfsOptions, mkfs};
use mfs::{BlockAccess, CachedDevice, FileSystem};

const FILE_MIB: usize = 4;
const CHUNK: usize = 128 * 1024;
const CACHE_BYTES: usize = 4 << 20;
const ROUNDS: usize = 5;

/// A writable in-memory device whose bytes stay reachable.
#[derive(Clone)]
struct VecDev(Rc<RefCell<Vec<u8>>>);

impl BlockDevice for VecDev {
    fn read_vectored(&mut self, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize, BdevError> {
        let d = self.0.borrow();
        let mut at = pos as usize;
        let mut n = 0;
        for b in bufs.iter_mut() {
            let k = d.len().saturating_sub(at).min(b.len());
            b[..k].copy_from_slice(&d[at..at + k]);
            n += k;
            at += k;
        }
        Ok(n)
    }
    fn write_vectored(&mut self, pos: u64, bufs: &[&[u8]]) -> Result<usize, BdevError> {
        let mut d = self.0.borrow_mut();
        let mut at = pos as usize;
        let mut n = 0;
        for b in bufs {
            let k = d.len().saturating_sub(at).min(b.len());
            d[at..at + k].copy_from_slice(&b[..k]);
            n += k;
            at += k;
        }
        Ok(n)
    }
    fn size(&mut self) -> Result<u64, BdevError> {
        Ok(self.0.borrow().len() as u64)
    }
    fn flush(&mut self) -> Result<(), BdevError> {
        Ok(())
    }
}

fn data(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let z = (s ^ (s >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        v.extend_from_slice(&(z ^ (z >> 27)).to_le_bytes());
    }
    v.truncate(n);
    v
}

fn mfs_image(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let total: usize = files.iter().map(|(_, d)| d.len()).sum();
    let blocks = (total / 4096 + 16_384) as u64;
    let dev = VecDev(Rc::new(RefCell::new(vec![0u8; blocks as usize * 4096])));
    let mut opts = MkfsOptions::new(blocks);
    opts.block_size = 4096;
    mkfs(&mut dev.clone(), &opts).expect("mkfs");
    let io = CachedDevice::new(Box::new(dev.clone()), 1024).expect("cache");
    let mut fs = FileSystem::mount(io, mfs::MountOptions::default()).expect("mount");
    let root = fs.root();
    for (name, d) in files {
        let ino = fs
            .create(root, name.as_bytes(), 0o644, 0, 0, 0)
            .expect("create");
        let mut off = 0;
        while off < d.len() {
            let end = (off + (1 << 20)).min(d.len());
            fs.write(ino, off as u64, &d[off..end], 0).expect("write");
            off = end;
        }
    }
    fs.unmount().expect("unmount").flush().expect("flush");
    dev.0.borrow().clone()
}

fn iso_image(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let t = tempfile::tempdir().expect("tempdir");
    let src = t.path().join("tree");
    std::fs::create_dir(&src).unwrap();
    for (name, d) in files {
        std::fs::write(src.join(name), d).unwrap();
    }
    let iso = t.path().join("b.iso");
    let st = std::process::Command::new("xorriso")
        .args(["-as", "mkisofs", "-R", "-quiet", "-o"])
        .arg(&iso)
        .arg(&src)
        .status()
        .expect("xorriso");
    assert!(st.success());
    std::fs::read(&iso).unwrap()
}

/// Best round time and bytes read per round.
fn bench(mut round: impl FnMut(&mut Vec<u8>) -> u64) -> (Duration, u64) {
    let mut best = Duration::MAX;
    let mut bytes = 0;
    let mut out = vec![0u8; CHUNK];
    for _ in 0..ROUNDS {
        let t = Instant::now();
        bytes = round(&mut out);
        best = best.min(t.elapsed());
    }
    (best, bytes)
}

fn main() {
    let total_mib: usize = std::env::var("ISO_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let n = (total_mib / FILE_MIB).max(1);
    let files: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| (format!("file{i:02}.bin"), data(i as u64, FILE_MIB << 20)))
        .collect();
    let names: Vec<Vec<u8>> = files.iter().map(|(n, _)| n.as_bytes().to_vec()).collect();
    let want: u64 = files.iter().map(|(_, d)| d.len() as u64).sum();
    let iso = Rc::new(iso_image(&files));
    let mfs_img = Rc::new(mfs_image(&files));
    drop(files);

    let (iso_t, iso_bytes) = bench(|out| {
        let dev = MemDevice::shared(iso.clone());
        let io = CachedBlocks::new(Box::new(dev), CACHE_BYTES / 2048).unwrap();
        io.cache().set_checksum_clean(false);
        let fs = IsoFs::mount(io, MountOptions::default()).unwrap();
        let mut got = 0u64;
        for name in &names {
            let ino = fs.lookup(fs.root(), name).unwrap();
            let mut pos = 0u64;
            loop {
                let n = fs
                    .read_with(ino, pos, CHUNK, |at, b| {
                        out[at..at + b.len()].copy_from_slice(b);
                        Ok(())
                    })
                    .unwrap();
                if n == 0 {
                    break;
                }
                pos += n as u64;
            }
            got += pos;
        }
        got
    });
    let (mfs_t, mfs_bytes) = bench(|out| {
        // Read-only: the mount writes nothing, so the image is shared.
        let dev = MemDevice::shared(mfs_img.clone());
        let io = CachedDevice::new(Box::new(dev), CACHE_BYTES / 4096).unwrap();
        io.cache().set_checksum_clean(false);
        let opts = mfs::MountOptions {
            read_only: true,
            force_rw_unclean: false,
        };
        let mut fs = FileSystem::mount(io, opts).unwrap();
        let mut got = 0u64;
        for name in &names {
            let root = fs.root();
            let ino = fs.lookup(root, name).unwrap();
            let mut pos = 0u64;
            loop {
                let n = fs
                    .read_with(ino, pos, CHUNK, |at, b| {
                        out[at..at + b.len()].copy_from_slice(b);
                        Ok(())
                    })
                    .unwrap();
                if n == 0 {
                    break;
                }
                pos += n as u64;
            }
            got += pos;
        }
        got
    });
    assert_eq!(iso_bytes, want);
    assert_eq!(mfs_bytes, want);
    let mbps = |b: u64, t: Duration| b as f64 / (1 << 20) as f64 / t.as_secs_f64();
    let (i, m) = (mbps(iso_bytes, iso_t), mbps(mfs_bytes, mfs_t));
    println!(
        "sequential read, {} files of {FILE_MIB} MiB, {} KiB requests, 4 MiB cold cache, in-memory device, best of {ROUNDS}",
        names.len(),
        CHUNK / 1024
    );
    println!(
        "  isofs (2 KiB blocks, Rock Ridge):  {i:8.1} MiB/s  ({:?} per round)",
        iso_t
    );
    println!(
        "  mfs   (V3, 4 KiB blocks):          {m:8.1} MiB/s  ({:?} per round)",
        mfs_t
    );
    println!("  ratio isofs / mfs: {:.2}", i / m);
}
