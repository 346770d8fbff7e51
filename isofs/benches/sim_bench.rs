//! Sequential read throughput through the simulated stack: a client reads
//! the same 32 MiB file (1 MiB requests) through VFS from ISOFS and from
//! MFS, each on a simulated disk (libbdev `SimDriver`, no added latency:
//! the figure is the host CPU cost of the whole path: VFS, the file
//! server, libminixfs, libbdev). Both servers skip the crc32 of clean
//! blocks, as they run natively. Every round builds a fresh world, so
//! both read with a cold cache; best of three rounds each. Prints MiB/s
//! and the ratio ISOFS / MFS. Run: `cargo bench -p isofs --bench
//! sim_bench`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use isofs::server::{DeviceOpener, IsoConfig, IsoServer};
use libbdev::{Access, BdevDevice, SimDriver};
use libminixfs::BlockDevice;
use mfs::mkfs::{MkfsOptions, mkfs};
use mfs::server::{MfsConfig, MfsMemory, MfsServer};
use rs::{Rs, RsConfig, ServiceConfig};
use sim::devices::SharedDriver;
use sim::{Sim, SimConfig};
use sys::proto::service::Policy;
use sys::proto::vfs::oflag::O_RDONLY;
use sys::{Endpoint, Errno, HZ, Message, Privileges, Process, Sef, StateStore, Sys};
use vfs::client::Client;
use vfs::{MountSpec, Vfs};

const MIB: usize = 32;

fn data(n: usize) -> Vec<u8> {
    let mut s = 7u64;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let z = (s ^ (s >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        v.extend_from_slice(&(z ^ (z >> 27)).to_le_bytes());
    }
    v.truncate(n);
    v
}

fn disk_with(bytes: &[u8]) -> SharedDriver {
    let drv = SharedDriver::new(SimDriver::disk(bytes.len() as u64));
    let mut d = BdevDevice::open_new(drv.clone(), 0, Access::RW).unwrap();
    d.write_vectored(0, &[bytes]).unwrap();
    drv
}

fn opener_of(drv: &SharedDriver) -> DeviceOpener {
    let d2 = drv.clone();
    Rc::new(move || {
        BdevDevice::open_new(d2.clone(), 0, Access::RW)
            .map(|d| Box::new(d) as Box<dyn BlockDevice>)
            .map_err(|_| Errno::EIO)
    })
}

fn svc(label: &str, policy: Policy) -> ServiceConfig {
    let mut c = sim::system::service(label, label, policy, HZ);
    c.no_backoff = true;
    c
}

type ScriptFn = Box<dyn FnOnce(&mut dyn Sys, &mut Client)>;

struct Script {
    f: Option<ScriptFn>,
    vfs: Endpoint,
}

impl Process for Script {
    fn start(&mut self, sys: &mut dyn Sys) {
        if let Some(f) = self.f.take() {
            let mut c = Client::new(self.vfs);
            f(sys, &mut c);
        }
    }
    fn receive(&mut self, _sys: &mut dyn Sys, _msg: Message) {}
}

fn world(iso: &[u8], file: &[u8]) -> (Sim, Endpoint) {
    let mut sim = Sim::new(SimConfig::new(1));
    sim::system::register_programs(&mut sim);
    let mut table = vec![sim::system::ds_service()];
    let root = SharedDriver::new(SimDriver::disk(((MIB + 16) << 20) as u64));
    {
        let mut raw = BdevDevice::open_new(root.clone(), 0, Access::RW).unwrap();
        let mut o = MkfsOptions::new(((MIB + 16) << 20) as u64 / 4096);
        o.block_size = 4096;
        o.root_perm = 0o755;
        mkfs(&mut raw, &o).unwrap();
        let dev = Box::new(BdevDevice::open_new(root.clone(), 0, Access::RW).unwrap());
        let mut fs = mfs::FileSystem::mount_device(dev, 256, Default::default()).unwrap();
        fs.mkdir_path(b"/mnt", 0o755, 0).unwrap();
        let r = fs.root();
        let ino = fs.create(r, b"big.bin", 0o644, 0, 0, 0).unwrap();
        for (k, c) in file.chunks(1 << 20).enumerate() {
            fs.write(ino, (k << 20) as u64, c, 0).unwrap();
        }
        fs.unmount().unwrap();
    }
    let mem = MfsMemory::default();
    let ro = opener_of(&root);
    sim.register("mfs", move || {
        Box::new(Sef::new(
            MfsServer::new(
                MfsConfig {
                    checksum_clean: false,
                    ..MfsConfig::default()
                },
                mem.clone(),
                ro.clone(),
            ),
            StateStore::None,
        ))
    });
    table.push(svc("mfs", Policy::Stateful));
    let cd = disk_with(iso);
    let op = opener_of(&cd);
    sim.register("isofs", move || {
        Box::new(Sef::new(
            IsoServer::new(IsoConfig::default(), op.clone()),
            StateStore::Ds,
        ))
    });
    table.push(svc("isofs", Policy::Stateful));
    assert!(
        sim.start_rs(Box::new(Rs::new(RsConfig::with_table(table))))
            .is_ok()
    );
    assert!(sim.run_until(100 * HZ, |s| {
        s.with_process::<Rs, _>("rs", |rs| rs.booted())
            .unwrap_or(false)
    }));
    let specs = vec![MountSpec {
        label: "mfs".into(),
        ep: sim.endpoint_of("mfs").unwrap(),
        path: "/".into(),
    }];
    let vfs = sim
        .spawn_user_with("vfs", Box::new(Vfs::new(specs)), Privileges::service())
        .unwrap();
    assert!(sim.run_until(100 * HZ, |s| {
        s.with_process::<Vfs, _>("vfs", |v| v.is_ready())
            .unwrap_or(false)
    }));
    (sim, vfs)
}

/// Reads `path` whole in 1 MiB requests; wall time and bytes.
fn timed_read(sim: &mut Sim, vfs: Endpoint, mount: bool, path: &'static str) -> (Duration, usize) {
    let out: Rc<RefCell<Option<(Duration, usize)>>> = Rc::new(RefCell::new(None));
    let o2 = out.clone();
    let f: ScriptFn = Box::new(move |s: &mut dyn Sys, c: &mut Client| {
        if mount {
            c.mount(s, "/mnt", "isofs").unwrap();
        }
        let t = Instant::now();
        let fd = c.open(s, path, O_RDONLY, 0).unwrap();
        let mut n = 0;
        loop {
            let d = c.read(s, fd, 1 << 20).unwrap();
            if d.is_empty() {
                break;
            }
            n += d.len();
        }
        c.close(s, fd).unwrap();
        o2.borrow_mut().replace((t.elapsed(), n));
    });
    sim.spawn_user("reader", Box::new(Script { f: Some(f), vfs }))
        .unwrap();
    assert!(sim.run_until(100_000 * HZ, |_| out.borrow().is_some()));
    out.borrow_mut().take().unwrap()
}

fn main() {
    let file = data(MIB << 20);
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("big.bin"), &file).unwrap();
    let iso_path = t.path().join("b.iso");
    let st = std::process::Command::new("xorriso")
        .args(["-as", "mkisofs", "-R", "-quiet", "-o"])
        .arg(&iso_path)
        .arg(&src)
        .status()
        .expect("xorriso");
    assert!(st.success());
    let iso = std::fs::read(&iso_path).unwrap();
    let (mut best_iso, mut best_mfs) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        let (mut sim, vfs) = world(&iso, &file);
        let (ti, ni) = timed_read(&mut sim, vfs, true, "/mnt/big.bin");
        let (tm, nm) = timed_read(&mut sim, vfs, false, "/big.bin");
        assert_eq!((ni, nm), (file.len(), file.len()));
        best_iso = best_iso.min(ti);
        best_mfs = best_mfs.min(tm);
    }
    let mbps = |t: Duration| MIB as f64 / t.as_secs_f64();
    println!(
        "simulated stack (client -> VFS -> file server -> libminixfs -> SimDriver), {MIB} MiB file, 1 MiB reads, cold server cache, best of 3"
    );
    println!("  isofs: {:8.1} MiB/s ({best_iso:?})", mbps(best_iso));
    println!("  mfs:   {:8.1} MiB/s ({best_mfs:?})", mbps(best_mfs));
    println!(
        "  ratio isofs / mfs: {:.2}",
        mbps(best_iso) / mbps(best_mfs)
    );
}
