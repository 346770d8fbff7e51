//! The crash-under-load workload shared by `tests/crash.rs` and the soak
//! bench: clients run exclusive creates, checksummed writes, appends,
//! read-verify, renames, unlinks and fsyncs against a model of their own
//! directory while faults are injected; at the end each client verifies
//! every file and its directory listing, and the image is fsck'ed.

use super::*;
use libbdev::{Access, BdevDevice};
use libminixfs::BlockDevice;
use mfs::server::MfsConfig;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use sys::proto::service::Policy;
use sys::proto::vfs::oflag::*;
use sys::{Endpoint, Message, Process, Sys};
use vfs::Vfs;
use vfs::client::Client;

fn content(client: usize, n: u64, len: usize) -> Vec<u8> {
    let mut x = (client as u64) << 40 ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[derive(Default)]
struct Shared {
    errors: Vec<String>,
    ops: u64,
    finished: usize,
}

struct Worker {
    id: usize,
    c: Client,
    rng: u64,
    next: u64,
    left: u64,
    model: BTreeMap<String, Vec<u8>>,
    sh: Rc<RefCell<Shared>>,
}

impl Worker {
    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn err(&self, what: String) {
        self.sh
            .borrow_mut()
            .errors
            .push(format!("client {}: {what}", self.id));
    }

    fn path(&self, name: &str) -> String {
        format!("/w{}/{name}", self.id)
    }

    fn read_all(&mut self, s: &mut dyn Sys, path: &str) -> Result<Vec<u8>, sys::Errno> {
        let fd = self.c.open(s, path, O_RDONLY, 0)?;
        let mut v = Vec::new();
        loop {
            match self.c.read(s, fd, 3000) {
                Ok(d) if d.is_empty() => break,
                Ok(d) => v.extend(d),
                Err(e) => {
                    let _ = self.c.close(s, fd);
                    return Err(e);
                }
            }
        }
        self.c.close(s, fd)?;
        Ok(v)
    }

    fn pick(&mut self) -> Option<String> {
        if self.model.is_empty() {
            return None;
        }
        let k = (self.rand() % self.model.len() as u64) as usize;
        self.model.keys().nth(k).cloned()
    }

    fn step(&mut self, s: &mut dyn Sys) {
        let r = self.rand() % 100;
        let victim = self.pick();
        match (r, victim) {
            (0..30, _) | (_, None) => {
                self.next += 1;
                let name = format!("f{}", self.next);
                let len = (self.rand() % 9000) as usize + 1;
                let data = content(self.id, self.next, len);
                let p = self.path(&name);
                match self.c.open(s, &p, O_CREAT | O_EXCL | O_WRONLY, 0o644) {
                    Ok(fd) => {
                        match self.c.write(s, fd, &data) {
                            Ok(n) if n == len => {}
                            r => self.err(format!("write {p}: {r:?}")),
                        }
                        if let Err(e) = self.c.close(s, fd) {
                            self.err(format!("close {p}: {e:?}"));
                        }
                        self.model.insert(name, data);
                    }
                    Err(e) => self.err(format!("create {p}: {e:?}")),
                }
            }
            (30..50, Some(name)) => {
                let p = self.path(&name);
                self.next += 1;
                let extra = content(self.id, self.next, (self.rand() % 700) as usize + 1);
                match self.c.open(s, &p, O_WRONLY | O_APPEND, 0) {
                    Ok(fd) => {
                        match self.c.write(s, fd, &extra) {
                            Ok(n) if n == extra.len() => {
                                if let Some(m) = self.model.get_mut(&name) {
                                    m.extend_from_slice(&extra);
                                }
                            }
                            r => self.err(format!("append {p}: {r:?}")),
                        }
                        if let Err(e) = self.c.close(s, fd) {
                            self.err(format!("close {p}: {e:?}"));
                        }
                    }
                    Err(e) => self.err(format!("open {p}: {e:?}")),
                }
            }
            (50..72, Some(name)) => {
                let p = self.path(&name);
                match self.read_all(s, &p) {
                    Ok(v) => {
                        if Some(&v) != self.model.get(&name) {
                            self.err(format!(
                                "{p} reads back {} bytes, expected {}",
                                v.len(),
                                self.model.get(&name).map(|m| m.len()).unwrap_or(0)
                            ));
                        }
                    }
                    Err(e) => self.err(format!("read {p}: {e:?}")),
                }
            }
            (72..84, Some(name)) => {
                self.next += 1;
                let new = format!("f{}", self.next);
                match self.c.rename(s, &self.path(&name), &self.path(&new)) {
                    Ok(()) => {
                        if let Some(d) = self.model.remove(&name) {
                            self.model.insert(new, d);
                        }
                    }
                    Err(e) => self.err(format!("rename {name}: {e:?}")),
                }
            }
            (84..94, Some(name)) => match self.c.unlink(s, &self.path(&name)) {
                Ok(()) => {
                    self.model.remove(&name);
                }
                Err(e) => self.err(format!("unlink {name}: {e:?}")),
            },
            (94..96, _) => self.pipe_round(s),
            (96..97, _) => self.device_round(s),
            (_, Some(name)) => {
                let p = self.path(&name);
                match self.c.open(s, &p, O_RDONLY, 0) {
                    Ok(fd) => {
                        if let Err(e) = self.c.fsync(s, fd) {
                            self.err(format!("fsync {p}: {e:?}"));
                        }
                        let _ = self.c.close(s, fd);
                    }
                    Err(e) => self.err(format!("open {p}: {e:?}")),
                }
            }
        }
        self.sh.borrow_mut().ops += 1;
    }

    /// pipe(), a checksummed message through it, EOF after the writer
    /// closes.
    fn pipe_round(&mut self, s: &mut dyn Sys) {
        self.next += 1;
        let data = content(self.id, self.next, (self.rand() % 3000) as usize + 1);
        let (r, wr) = match self.c.pipe(s) {
            Ok(p) => p,
            Err(e) => return self.err(format!("pipe: {e:?}")),
        };
        match self.c.write(s, wr, &data) {
            Ok(n) if n == data.len() => {}
            x => self.err(format!("pipe write: {x:?}")),
        }
        if let Err(e) = self.c.close(s, wr) {
            self.err(format!("pipe close w: {e:?}"));
        }
        let mut got = Vec::new();
        loop {
            match self.c.read(s, r, 1000) {
                Ok(d) if d.is_empty() => break,
                Ok(d) => got.extend(d),
                Err(e) => {
                    self.err(format!("pipe read: {e:?}"));
                    break;
                }
            }
        }
        if got != data {
            self.err(format!(
                "pipe gave {} bytes, sent {}",
                got.len(),
                data.len()
            ));
        }
        if let Err(e) = self.c.close(s, r) {
            self.err(format!("pipe close r: {e:?}"));
        }
    }

    /// Write to and read from the loopback character device. Its driver
    /// is stateless and shared by all clients, so only the error contract
    /// is checked: a call fails with EIO when the driver died under it
    /// (EAGAIN when the FIFO is empty or full), never hangs or errs
    /// otherwise.
    fn device_round(&mut self, s: &mut dyn Sys) {
        let ok = |r: Result<(), sys::Errno>| {
            matches!(r, Ok(()) | Err(sys::Errno::EIO) | Err(sys::Errno::EAGAIN))
        };
        let fd = match self.c.open(s, "/loop", O_RDWR | O_NONBLOCK, 0) {
            Ok(fd) => fd,
            Err(sys::Errno::EIO) => return,
            Err(e) => return self.err(format!("open /loop: {e:?}")),
        };
        let w = self.c.write(s, fd, b"ping");
        if !ok(w.map(|_| ())) {
            self.err(format!("device write: {w:?}"));
        }
        let r = self.c.read(s, fd, 16);
        if !ok(r.as_ref().map(|_| ()).map_err(|e| *e)) {
            self.err(format!("device read: {r:?}"));
        }
        if let Err(e) = self.c.close(s, fd) {
            self.err(format!("device close: {e:?}"));
        }
    }

    fn verify_all(&mut self, s: &mut dyn Sys) {
        let names: Vec<String> = self.model.keys().cloned().collect();
        for name in names {
            let p = self.path(&name);
            match self.read_all(s, &p) {
                Ok(v) if Some(&v) == self.model.get(&name) => {}
                r => self.err(format!("final check {p}: {:?}", r.map(|v| v.len()))),
            }
        }
        match self.c.list_dir(s, &format!("/w{}", self.id)) {
            Ok(mut l) => {
                l.retain(|n| n != b"." && n != b"..");
                l.sort();
                let want: Vec<Vec<u8>> = self.model.keys().map(|k| k.as_bytes().to_vec()).collect();
                if l != want {
                    self.err(format!(
                        "directory has {} names, model {}",
                        l.len(),
                        want.len()
                    ));
                }
            }
            Err(e) => self.err(format!("list: {e:?}")),
        }
    }
}

impl Process for Worker {
    fn start(&mut self, s: &mut dyn Sys) {
        if let Err(e) = self.c.mkdir(s, &format!("/w{}", self.id), 0o755) {
            self.err(format!("mkdir: {e:?}"));
        }
        s.set_alarm(1);
    }

    fn receive(&mut self, s: &mut dyn Sys, msg: Message) {
        if msg.source() != Endpoint::CLOCK {
            return;
        }
        if self.left > 0 {
            self.left -= 1;
            self.step(s);
            s.set_alarm(1);
        } else if self.left == 0 {
            self.verify_all(s);
            self.sh.borrow_mut().finished += 1;
            self.left = u64::MAX;
        }
    }
}

pub struct Run {
    pub errors: Vec<String>,
    pub ops: u64,
    pub crashes: u64,
    pub deaths_after_apply: u64,
    pub replayed: u64,
    pub adoptions: u64,
    pub resent: u64,
    pub fsck_errors: usize,
    pub dev_crashes: u64,
    pub pfs_restarts: u32,
    pub loopdev_restarts: u32,
    /// Inode references MFS still holds after every client closed
    /// everything (a lost or doubled open/close would leave some).
    pub leaked_refs: usize,
    /// The device's bytes after the final sync.
    pub image: Vec<u8>,
}

pub struct Faults {
    pub crash_ppm: u32,
    pub die_ppm: u32,
    pub dev_ppm: u32,
    /// File-system block size (4096 if 0; 1024 makes an image util-linux
    /// fsck.minix can check too).
    pub bs: u32,
}

pub fn run(seed: u64, clients: usize, ops: u64, f: Faults, exactly_once: bool) -> Run {
    let Faults {
        crash_ppm,
        die_ppm,
        dev_ppm,
        bs,
    } = f;
    let cfg = MfsConfig {
        exactly_once,
        die_after_apply_ppm: die_ppm,
        ..MfsConfig::default()
    };
    let bs = if bs == 0 { 4096 } else { bs };
    let mut w = world_with(seed, 1, cfg, Policy::Stateful, None, bs);
    w.wait_ready();
    let made = slot::<bool>();
    let m2 = made.clone();
    w.run(move |s, c| {
        let r = c.mknod(s, "/loop", sys::proto::vfs::mode::S_IFCHR | 0o666, 4 << 8);
        m2.borrow_mut().replace(r.is_ok());
    });
    assert_eq!(*made.borrow(), Some(true), "mknod /loop");
    let sh: Rc<RefCell<Shared>> = Rc::default();
    for i in 0..clients {
        let worker = Worker {
            id: i,
            c: Client::new(w.vfs),
            rng: seed.wrapping_mul(31).wrapping_add(i as u64 * 7919 + 1) | 1,
            next: 0,
            left: ops,
            model: BTreeMap::new(),
            sh: sh.clone(),
        };
        w.sim
            .spawn_user(&format!("client{i}"), Box::new(worker))
            .unwrap();
    }
    if crash_ppm > 0 {
        w.sim
            .faults_randomly(&["mfs", "pfs", "loopdev"], crash_ppm, 0);
    }
    if dev_ppm > 0 {
        w.sim.device_faults_randomly(dev_ppm);
    }
    let ok = w
        .sim
        .run_until(10_000_000, |_| sh.borrow().finished == clients);
    w.sim.faults_randomly(&["mfs", "pfs", "loopdev"], 0, 0);
    w.sim.device_faults_randomly(0);
    let dev_crashes = w.sim.device_crashes();
    let mut errors = std::mem::take(&mut sh.borrow_mut().errors);
    if !ok {
        errors.push(format!(
            "clients hung: {} of {clients} finished",
            sh.borrow().finished
        ));
    }
    // Flush through VFS, then check the image.
    let synced = slot::<bool>();
    let s2 = synced.clone();
    w.run(move |s, c| {
        s2.borrow_mut().replace(c.sync(s).is_ok());
    });
    assert_eq!(*synced.borrow(), Some(true), "sync");
    let mut dev = BdevDevice::open_new(w.fss[0].drv.clone(), 0, Access::RW).unwrap();
    let size = dev.size().unwrap();
    let mut image = vec![0u8; size as usize];
    dev.read_vectored(0, &mut [&mut image[..]]).unwrap();
    let report = mfs::fsck::fsck(&mut dev, mfs::fsck::Options::default());
    let fsck_errors = report.remaining_errors + usize::from(report.fatal.is_some());
    if fsck_errors > 0 {
        for f in report.errors().take(5) {
            errors.push(format!("fsck: {f:?}"));
        }
    }
    let stats = w.sim.stats();
    let m = w.fss[0].mem.borrow();
    let resent = w
        .sim
        .with_process::<Vfs, _>("vfs", |v| v.stats().resent)
        .unwrap_or(0);
    Run {
        errors,
        ops: sh.borrow().ops,
        crashes: stats.crashes_injected + m.injected_deaths,
        deaths_after_apply: m.injected_deaths,
        replayed: m.replayed,
        adoptions: m.adoptions,
        resent,
        fsck_errors,
        dev_crashes,
        pfs_restarts: w.sim.rs_service("pfs").map(|i| i.restarts).unwrap_or(0),
        loopdev_restarts: w.sim.rs_service("loopdev").map(|i| i.restarts).unwrap_or(0),
        leaked_refs: m.durable.refs().values().map(|&n| n as usize).sum(),
        image,
    }
}
