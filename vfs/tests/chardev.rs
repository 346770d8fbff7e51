//! Character devices through VFS: a device node opens the driver's minor;
//! read/write/select go to the driver; when the driver dies, a request it
//! held fails with EIO, and files opened before are reopened on the new
//! instance at their next use.

mod common;

use common::*;
use mfs::server::MfsConfig;
use sys::Errno::*;
use sys::proto::service::Policy;
use sys::proto::service::ServiceRequest;
use sys::proto::vfs::{mode, oflag::*};
use sys::{Endpoint, Message, Process, Sys};

const LOOP: u32 = 4 << 8;

fn w(seed: u64) -> World {
    let mut w = world(seed, 1, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    w
}

#[test]
fn loopback_device_read_write_select() {
    let mut w = w(51);
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        c.mknod(s, "/loop", mode::S_IFCHR | 0o666, LOOP).unwrap();
        c.mknod(s, "/none", mode::S_IFCHR | 0o666, 9 << 8).unwrap();
        assert_eq!(c.open(s, "/none", O_RDWR, 0), Err(ENXIO));
        let fd = c.open(s, "/loop", O_RDWR | O_NONBLOCK, 0).unwrap();
        assert_eq!(c.fstat(s, fd).unwrap().rdev, LOOP);
        assert_eq!(c.read(s, fd, 10), Err(EAGAIN));
        let bit = 1u64 << fd;
        assert_eq!(
            c.select(s, fd + 1, [bit, bit, 0], Some((0, 0))).unwrap(),
            (1, [0, bit, 0])
        );
        assert_eq!(c.write(s, fd, b"abc").unwrap(), 3);
        assert_eq!(
            c.select(s, fd + 1, [bit, 0, 0], None).unwrap(),
            (1, [bit, 0, 0])
        );
        assert_eq!(c.read(s, fd, 10).unwrap(), b"abc");
        c.close(s, fd).unwrap();
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
}

/// Asks RS for a controlled crash of `label` (`service fi`) on its first
/// alarm, i.e. while another process is blocked.
struct Crasher {
    label: &'static str,
}

impl Process for Crasher {
    fn start(&mut self, s: &mut dyn Sys) {
        s.set_alarm(20);
    }
    fn receive(&mut self, s: &mut dyn Sys, msg: Message) {
        if msg.source() == Endpoint::CLOCK {
            let req = ServiceRequest::Fi {
                id: 1,
                label: self.label.into(),
            };
            let r = s.sendrec(Endpoint::RS, req.to_message().unwrap());
            assert!(r.is_ok(), "service fi: {r:?}");
        }
    }
}

#[test]
fn driver_crash_fails_the_held_read_and_reopens() {
    let mut w = w(52);
    let setup = slot::<bool>();
    let s2 = setup.clone();
    w.run(move |s, c| {
        c.mknod(s, "/loop", mode::S_IFCHR | 0o666, LOOP).unwrap();
        s2.borrow_mut().replace(true);
    });
    assert_eq!(*setup.borrow(), Some(true));
    // 20 ticks from now, while the script below waits in read(), the
    // driver is crashed on purpose.
    w.sim
        .spawn_user("crasher", Box::new(Crasher { label: "loopdev" }))
        .unwrap();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        let fd = c.open(s, "/loop", O_RDWR, 0).unwrap();
        assert_eq!(c.write(s, fd, b"q").unwrap(), 1);
        assert_eq!(c.read(s, fd, 10).unwrap(), b"q");
        // Empty FIFO: the read is suspended in the driver, which dies.
        assert_eq!(c.read(s, fd, 10), Err(EIO));
        // Once the driver is back, the same descriptor works again
        // (reopened on the new instance; its FIFO started empty).
        let mut tries = 0;
        loop {
            match c.write(s, fd, b"after") {
                Ok(n) => {
                    assert_eq!(n, 5);
                    break;
                }
                Err(e) => {
                    assert_eq!(e, EIO);
                    tries += 1;
                    assert!(tries < 100, "driver never came back");
                    c.select(s, 0, [0; 3], Some((0, 100_000))).unwrap();
                }
            }
        }
        assert_eq!(c.read(s, fd, 10).unwrap(), b"after");
        c.close(s, fd).unwrap();
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
    assert!(w.sim.rs_service("loopdev").unwrap().restarts >= 1);
}

/// A select blocked on a device whose driver dies with nothing in flight
/// (the driver only holds the select's notify registration) reports the
/// file ready once VFS learns of the restart from DS; the file is then
/// reopened on the new instance.
#[test]
fn select_on_a_dead_driver_reports_ready() {
    let mut w = w(53);
    let setup = slot::<bool>();
    let s2 = setup.clone();
    w.run(move |s, c| {
        c.mknod(s, "/loop", mode::S_IFCHR | 0o666, LOOP).unwrap();
        s2.borrow_mut().replace(true);
    });
    assert_eq!(*setup.borrow(), Some(true));
    w.sim
        .spawn_user("crasher", Box::new(Crasher { label: "loopdev" }))
        .unwrap();
    let out = slot::<(i64, u64)>();
    let o2 = out.clone();
    w.run(move |s, c| {
        let fd = c.open(s, "/loop", O_RDONLY | O_NONBLOCK, 0).unwrap();
        let t0 = s.now();
        // Nothing to read and no timeout: only the driver's death ends it.
        let (n, sets) = c.select(s, fd + 1, [1 << fd, 0, 0], None).unwrap();
        assert_eq!(sets[0], 1 << fd);
        // Reopened on the new instance: its FIFO is empty.
        assert_eq!(c.read(s, fd, 4), Err(EAGAIN));
        c.close(s, fd).unwrap();
        o2.borrow_mut().replace((n, s.now() - t0));
    });
    let (n, el) = out.borrow_mut().take().expect("select returned");
    assert_eq!(n, 1);
    assert!(el >= 10, "returned after {el} ticks, before the crash");
    assert!(w.sim.rs_service("loopdev").unwrap().restarts >= 1);
}

/// Writes to the loopback device on its first alarm.
struct LateWriter {
    c: vfs::client::Client,
}

impl Process for LateWriter {
    fn start(&mut self, s: &mut dyn Sys) {
        s.set_alarm(30);
    }
    fn receive(&mut self, s: &mut dyn Sys, msg: Message) {
        if msg.source() == Endpoint::CLOCK {
            let fd = self.c.open(s, "/loop", O_WRONLY, 0).unwrap();
            assert_eq!(self.c.write(s, fd, b"late").unwrap(), 4);
            self.c.close(s, fd).unwrap();
        }
    }
}

/// test77 f in spirit: a select with no timeout on an empty device is
/// woken by the driver's later readiness notice (another process wrote);
/// a poll then still reports readable, and after the read not.
#[test]
fn blocked_select_is_woken_by_the_drivers_notice() {
    let mut w = w(54);
    let setup = slot::<bool>();
    let s2 = setup.clone();
    w.run(move |s, c| {
        c.mknod(s, "/loop", mode::S_IFCHR | 0o666, LOOP).unwrap();
        s2.borrow_mut().replace(true);
    });
    assert_eq!(*setup.borrow(), Some(true));
    let vfs = w.vfs;
    w.sim
        .spawn_user(
            "late",
            Box::new(LateWriter {
                c: vfs::client::Client::new(vfs),
            }),
        )
        .unwrap();
    let out = slot::<u64>();
    let o2 = out.clone();
    w.run(move |s, c| {
        let fd = c.open(s, "/loop", O_RDONLY | O_NONBLOCK, 0).unwrap();
        let bit = 1u64 << fd;
        assert_eq!(c.select(s, fd + 1, [bit, 0, 0], Some((0, 0))).unwrap().0, 0);
        let t0 = s.now();
        assert_eq!(
            c.select(s, fd + 1, [bit, 0, 0], None).unwrap(),
            (1, [bit, 0, 0])
        );
        let el = s.now() - t0;
        assert_eq!(c.select(s, fd + 1, [bit, 0, 0], Some((0, 0))).unwrap().0, 1);
        assert_eq!(c.read(s, fd, 10).unwrap(), b"late");
        assert_eq!(c.select(s, fd + 1, [bit, 0, 0], Some((0, 0))).unwrap().0, 0);
        c.close(s, fd).unwrap();
        o2.borrow_mut().replace(el);
    });
    let el = out.borrow_mut().take().expect("reader finished");
    assert!(el >= 20, "woken after {el} ticks, before the write");
}
