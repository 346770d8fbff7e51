//! A simulated system for VFS tests: RS, DS, one or two MFS servers on
//! simulated block devices (libbdev `SimDriver`), VFS, and scripted clients
//! that make blocking POSIX calls.
#![allow(dead_code)]

pub mod puppets;
pub mod workload;

use libbdev::{Access, BdevDevice, SimDriver};
use libminixfs::BlockDevice;
use mfs::mkfs::{MkfsOptions, mkfs};
use mfs::server::{DeviceOpener, MfsConfig, MfsMemory, MfsServer};
use rs::{Rs, RsConfig, ServiceConfig};
use sim::devices::SharedDriver;
use sim::{Sim, SimConfig};
use std::cell::RefCell;
use std::rc::Rc;
use sys::proto::service::Policy;
use sys::{Endpoint, Errno, HZ, Message, Privileges, Process, Sef, StateStore, Sys};
use vfs::client::Client;
use vfs::{MountSpec, Vfs};

/// Blocks of 4096 bytes per test device.
pub const BLOCKS: u64 = 2048;

/// One file server and its device.
pub struct Fs {
    pub label: String,
    pub drv: SharedDriver,
    pub mem: MfsMemory,
}

pub struct World {
    pub sim: Sim,
    pub vfs: Endpoint,
    pub fss: Vec<Fs>,
}

/// A device of `bytes` bytes holding a fresh V3 file system with blocks
/// of `bs` bytes.
pub fn make_device(bytes: u64, bs: u32) -> SharedDriver {
    let blocks = bytes / u64::from(bs);
    let drv = SharedDriver::new(SimDriver::disk(bytes));
    let mut raw = BdevDevice::open_new(drv.clone(), 0, Access::RW).expect("open");
    let mut opts = MkfsOptions::new(blocks);
    opts.block_size = bs;
    opts.root_perm = 0o755;
    mkfs(&mut raw, &opts).expect("mkfs on a fresh device");
    drv
}

fn svc(label: &str, policy: Policy) -> ServiceConfig {
    let mut c = sim::system::service(label, label, policy, HZ);
    // Crash tests restart MFS thousands of times.
    c.no_backoff = true;
    c
}

/// Boot RS + DS + `n_fs` MFS servers ("mfs", "mfs2", ...; the second is
/// mounted on /mnt, which is created on the first) + VFS.
pub fn world(seed: u64, n_fs: usize, cfg: MfsConfig, policy: Policy) -> World {
    world_with(seed, n_fs, cfg, policy, None, 4096)
}

/// An opener for minor 0 of `drv` through libbdev.
pub fn opener_of(drv: &SharedDriver) -> DeviceOpener {
    let d2 = drv.clone();
    Rc::new(move || {
        BdevDevice::open_new(d2.clone(), 0, Access::RW)
            .map(|d| Box::new(d) as Box<dyn BlockDevice>)
            .map_err(|_| Errno::EIO)
    })
}

/// [`world`], with `bdev` = (device number, driver) served by the root MFS
/// through block-special nodes, and file systems of `bs`-byte blocks.
pub fn world_with(
    seed: u64,
    n_fs: usize,
    cfg: MfsConfig,
    policy: Policy,
    bdev: Option<(u32, SharedDriver)>,
    bs: u32,
) -> World {
    world_full(seed, n_fs, cfg, policy, bdev, bs, Vec::new())
}

/// An extra character driver: (major, label, process), spawned unsupervised.
pub type ExtraDriver = (u32, String, Box<dyn Process>);

/// A character driver RS supervises (restarted in place after a crash,
/// stateless): (major, label, program).
pub type SupervisedDriver = (u32, &'static str, fn() -> Box<dyn Process>);

/// [`world_with`] plus extra character drivers.
pub fn world_full(
    seed: u64,
    n_fs: usize,
    cfg: MfsConfig,
    policy: Policy,
    bdev: Option<(u32, SharedDriver)>,
    bs: u32,
    extra: Vec<ExtraDriver>,
) -> World {
    world_build(seed, n_fs, cfg, policy, bdev, bs, extra, Vec::new(), None)
}

/// One stateful MFS (and PFS, the loopback device) plus `drivers` under
/// RS; VFS treats devices of major `tty_major` as terminals. Ready.
pub fn world_drivers(seed: u64, drivers: Vec<SupervisedDriver>, tty_major: u32) -> World {
    let mut w = world_build(
        seed,
        1,
        MfsConfig::default(),
        Policy::Stateful,
        None,
        4096,
        Vec::new(),
        drivers,
        Some(tty_major),
    );
    w.wait_ready();
    w
}

#[allow(clippy::too_many_arguments)]
fn world_build(
    seed: u64,
    n_fs: usize,
    cfg: MfsConfig,
    policy: Policy,
    bdev: Option<(u32, SharedDriver)>,
    bs: u32,
    extra: Vec<ExtraDriver>,
    supervised: Vec<SupervisedDriver>,
    tty_major: Option<u32>,
) -> World {
    let mut sim = Sim::new(SimConfig::new(seed));
    sim::system::register_programs(&mut sim);
    let mut fss = Vec::new();
    let mut table = vec![sim::system::ds_service()];
    for i in 0..n_fs {
        let label = if i == 0 {
            "mfs".to_string()
        } else {
            format!("mfs{}", i + 1)
        };
        let drv = make_device(BLOCKS * 4096, bs);
        if i == 0 {
            // Mount points for the other file systems.
            let dev = Box::new(BdevDevice::open_new(drv.clone(), 0, Access::RW).unwrap());
            let mut fs = mfs::FileSystem::mount_device(dev, 64, Default::default()).unwrap();
            for k in 1..n_fs {
                fs.mkdir_path(format!("/mnt{}", k + 1).as_bytes(), 0o755, 0)
                    .unwrap();
            }
            fs.unmount().unwrap();
        }
        sim.add_device(&format!("blk{i}"), drv.handle());
        let mem = MfsMemory::default();
        let d2 = drv.clone();
        let opener: DeviceOpener = Rc::new(move || {
            BdevDevice::open_new(d2.clone(), 0, Access::RW)
                .map(|d| Box::new(d) as Box<dyn BlockDevice>)
                .map_err(|_| Errno::EIO)
        });
        let m2 = mem.clone();
        let bd = if i == 0 {
            bdev.as_ref().map(|(r, d)| (*r, opener_of(d)))
        } else {
            None
        };
        sim.register(&label, move || {
            let mut srv = MfsServer::new(cfg, m2.clone(), opener.clone());
            if let Some((rdev, o)) = &bd {
                srv = srv.with_block_device(*rdev, o.clone());
            }
            Box::new(Sef::new(srv, StateStore::None))
        });
        table.push(svc(&label, policy));
        fss.push(Fs { label, drv, mem });
    }
    // The pipe server, stateful like MFS.
    sim.register("pfs", || {
        pfs::server::program(pfs::server::Config::default())
    });
    table.push(svc("pfs", Policy::Stateful));
    // A character driver (loopback, 64-byte FIFO, stateless) as major 4.
    table.push(svc("loopdev", Policy::Restart));
    for &(_, label, program) in &supervised {
        sim.register(label, move || program());
        table.push(svc(label, Policy::Restart));
    }
    let started = sim.start_rs(Box::new(Rs::new(RsConfig::with_table(table))));
    assert!(started.is_ok());
    let ok = sim.run_until(100 * HZ, |s| {
        s.with_process::<Rs, _>("rs", |rs| rs.booted())
            .unwrap_or(false)
    });
    assert!(ok, "boot");
    let mut specs = Vec::new();
    for (i, f) in fss.iter().enumerate() {
        specs.push(MountSpec {
            label: f.label.clone(),
            ep: sim.endpoint_of(&f.label).unwrap(),
            path: if i == 0 {
                "/".into()
            } else {
                format!("/mnt{}", i + 1)
            },
        });
    }
    let mut v = Vfs::new(specs)
        .with_pipe_server("pfs", sim.endpoint_of("pfs").unwrap())
        .with_char_driver(4, "loopdev", sim.endpoint_of("loopdev").unwrap());
    for (major, label, p) in extra {
        let ep = sim.spawn_user(&label, p).unwrap();
        v = v.with_char_driver(major, &label, ep);
    }
    for (major, label, _) in supervised {
        v = v.with_char_driver(major, label, sim.endpoint_of(label).unwrap());
    }
    if let Some(m) = tty_major {
        v = v.with_tty_major(m);
    }
    let vfs = sim
        .spawn_user_with("vfs", Box::new(v), Privileges::service())
        .unwrap();
    World { sim, vfs, fss }
}

/// Runs `script` once as a user process (blocking calls through [`Client`]).
/// A client script.
pub type ScriptFn = Box<dyn FnOnce(&mut dyn Sys, &mut Client)>;

pub struct Script {
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

impl World {
    /// Run `f` as a new user process labelled `label`; returns its endpoint.
    pub fn run_as(
        &mut self,
        label: &str,
        f: impl FnOnce(&mut dyn Sys, &mut Client) + 'static,
    ) -> Endpoint {
        self.sim
            .spawn_user(
                label,
                Box::new(Script {
                    f: Some(Box::new(f)),
                    vfs: self.vfs,
                }),
            )
            .unwrap()
    }

    /// Run `f` as root.
    pub fn run(&mut self, f: impl FnOnce(&mut dyn Sys, &mut Client) + 'static) {
        self.run_as("script", f);
    }

    pub fn wait_ready(&mut self) {
        let ok = self.sim.run_until(100 * HZ, |s| {
            s.with_process::<Vfs, _>("vfs", |v| v.is_ready())
                .unwrap_or(false)
        });
        let err = self.sim.with_process::<Vfs, _>("vfs", |v| v.mount_error());
        assert!(ok, "vfs mounted: {err:?}");
    }

    pub fn set_cred(&mut self, ep: Endpoint, uid: u16, gid: u16) {
        self.sim.with_process_mut::<Vfs, _>("vfs", |v| {
            v.set_cred(ep, sys::proto::fs::Cred { uid, gid })
        });
    }
}

/// A shared result slot for scripts.
pub fn slot<T: 'static>() -> Rc<RefCell<Option<T>>> {
    Rc::new(RefCell::new(None))
}
