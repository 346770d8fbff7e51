//! Character devices through VFS: a device node opens the driver's minor;
//! read/write/select go to the driver; when the driver dies, a read or
//! select it held is asked again of the new instance, and files opened
//! before are reopened there at their next use.

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

/// truncate(2) and ftruncate(2) of a character device are EINVAL at once,
/// as on Linux (the request once went to the driver, which never answered:
/// `dd of=/dev/null` hung), and the device works on afterwards.
#[test]
fn truncating_a_device_is_einval() {
    let mut w = w(56);
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        c.mknod(s, "/loop", mode::S_IFCHR | 0o666, LOOP).unwrap();
        assert_eq!(c.truncate(s, "/loop", 0), Err(EINVAL));
        let fd = c.open(s, "/loop", O_RDWR, 0).unwrap();
        assert_eq!(c.ftruncate(s, fd, 0), Err(EINVAL));
        assert_eq!(c.write(s, fd, b"xy").unwrap(), 2);
        assert_eq!(c.read(s, fd, 10).unwrap(), b"xy");
        c.close(s, fd).unwrap();
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
}

/// MINIX (select.c): a descriptor not open for reading is ready for
/// reading at once (the read would fail at once), and one not open for
/// writing ready for writing, whatever the driver would say: an empty
/// device opened write-only is readable at once, while its read-only
/// descriptor is not.
#[test]
fn a_direction_a_device_is_not_open_for_is_ready_at_once() {
    let mut w = w(55);
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        c.mknod(s, "/loop", mode::S_IFCHR | 0o666, LOOP).unwrap();
        let rd = c.open(s, "/loop", O_RDONLY, 0).unwrap();
        let wr = c.open(s, "/loop", O_WRONLY, 0).unwrap();
        let (r, wb) = (1u64 << rd, 1u64 << wr);
        let top = rd.max(wr) + 1;
        // Empty: only the write-only descriptor is "readable"; no timeout
        // is needed for the answer.
        assert_eq!(
            c.select(s, top, [r | wb, 0, 0], None).unwrap(),
            (1, [wb, 0, 0])
        );
        assert_eq!(
            c.select(s, top, [r, 0, 0], Some((0, 0))).unwrap(),
            (0, [0; 3])
        );
        // Both writable: the read-only one because a write fails at once.
        assert_eq!(
            c.select(s, top, [0, r | wb, 0], Some((0, 0))).unwrap(),
            (2, [0, r | wb, 0])
        );
        c.close(s, rd).unwrap();
        c.close(s, wr).unwrap();
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

/// A read suspended in the driver when it dies is sent again to the new
/// instance (the file reopened there first) instead of failing: it is
/// answered by a write made after the restart.
#[test]
fn driver_crash_resends_the_held_read() {
    let mut w = w(52);
    let setup = slot::<bool>();
    let s2 = setup.clone();
    w.run(move |s, c| {
        c.mknod(s, "/loop", mode::S_IFCHR | 0o666, LOOP).unwrap();
        s2.borrow_mut().replace(true);
    });
    assert_eq!(*setup.borrow(), Some(true));
    // 20 ticks from now, while the script below waits in read(), the
    // driver is crashed on purpose; 40 ticks from now another process
    // writes to the new instance.
    w.sim
        .spawn_user("crasher", Box::new(Crasher { label: "loopdev" }))
        .unwrap();
    let vfs = w.vfs;
    w.sim
        .spawn_user("late", Box::new(LateWriter::new(vfs, 40)))
        .unwrap();
    let done = slot::<u64>();
    let d2 = done.clone();
    w.run(move |s, c| {
        let fd = c.open(s, "/loop", O_RDWR, 0).unwrap();
        assert_eq!(c.write(s, fd, b"q").unwrap(), 1);
        assert_eq!(c.read(s, fd, 10).unwrap(), b"q");
        let t0 = s.now();
        // Empty FIFO: the read is suspended in the driver, which dies;
        // the new instance answers it with the late writer's bytes.
        assert_eq!(c.read(s, fd, 10).unwrap(), b"late");
        let el = s.now() - t0;
        // The same descriptor goes on working.
        assert_eq!(c.write(s, fd, b"after").unwrap(), 5);
        assert_eq!(c.read(s, fd, 10).unwrap(), b"after");
        c.close(s, fd).unwrap();
        d2.borrow_mut().replace(el);
    });
    let el = done.borrow_mut().take().expect("reader finished");
    assert!(el >= 30, "answered after {el} ticks, before the late write");
    assert_eq!(w.sim.rs_service("loopdev").unwrap().restarts, 1);
    let (jobs, pending, held) = w
        .sim
        .with_process::<vfs::Vfs, _>("vfs", |v| v.in_flight())
        .unwrap();
    assert_eq!((jobs, pending, held), (0, 0, 0));
}

/// A select blocked on a device whose driver dies with nothing in flight
/// (the driver only holds the select's notify registration) is asked
/// again of the new instance once VFS learns of the restart from DS: it
/// does not return at the crash but when the new instance has data.
#[test]
fn select_survives_a_driver_restart() {
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
    let vfs = w.vfs;
    w.sim
        .spawn_user("late", Box::new(LateWriter::new(vfs, 40)))
        .unwrap();
    let out = slot::<(i64, u64)>();
    let o2 = out.clone();
    w.run(move |s, c| {
        let fd = c.open(s, "/loop", O_RDONLY | O_NONBLOCK, 0).unwrap();
        let t0 = s.now();
        // Nothing to read and no timeout: only the late write ends it.
        let (n, sets) = c.select(s, fd + 1, [1 << fd, 0, 0], None).unwrap();
        assert_eq!(sets[0], 1 << fd);
        // Reopened on the new instance, which holds the late bytes.
        assert_eq!(c.read(s, fd, 10).unwrap(), b"late");
        c.close(s, fd).unwrap();
        o2.borrow_mut().replace((n, s.now() - t0));
    });
    let (n, el) = out.borrow_mut().take().expect("select returned");
    assert_eq!(n, 1);
    assert!(el >= 30, "returned after {el} ticks, before the late write");
    assert_eq!(w.sim.rs_service("loopdev").unwrap().restarts, 1);
}

/// Writes to the loopback device on its first alarm (`at` ticks after
/// it starts).
struct LateWriter {
    c: vfs::client::Client,
    at: u64,
}

impl LateWriter {
    fn new(vfs: Endpoint, at: u64) -> Self {
        LateWriter {
            c: vfs::client::Client::new(vfs),
            at,
        }
    }
}

impl Process for LateWriter {
    fn start(&mut self, s: &mut dyn Sys) {
        s.set_alarm(self.at);
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
        .spawn_user("late", Box::new(LateWriter::new(vfs, 30)))
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
