//! select(2) through VFS: regular files always ready, pipes asked of PFS,
//! timeouts NULL / zero / finite in simulated time (t40f: a 3 s and a
//! {2, 999999} timeout both expire after 300 ticks at HZ = 100), invalid
//! timevals are EINVAL, a blocked select is woken by another process's
//! write and by the last writer's close (EOF is readable), EBADF.

mod common;

use common::*;
use mfs::server::MfsConfig;
use sys::Errno::*;
use sys::proto::service::Policy;
use sys::proto::vfs::oflag::*;
use sys::{Endpoint, HZ, Message, Process, Sys};
use vfs::client::Client;

fn w() -> World {
    let mut w = world(41, 1, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    w
}

#[test]
fn immediate_readiness_and_errors() {
    let mut w = w();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        let f = c.open(s, "/f", O_CREAT | O_RDWR, 0o644).unwrap();
        let (r, wr) = c.pipe(s).unwrap();
        let bit = |fd: i32| 1u64 << fd;
        // Regular file: ready for everything asked.
        let (n, sets) = c
            .select(s, f + 1, [bit(f), bit(f), 0], Some((0, 0)))
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(sets, [bit(f), bit(f), 0]);
        // Empty pipe: not readable, writable.
        let (n, sets) = c
            .select(s, wr + 1, [bit(r), bit(wr), 0], Some((0, 0)))
            .unwrap();
        assert_eq!((n, sets), (1, [0, bit(wr), 0]));
        c.write(s, wr, b"x").unwrap();
        let (n, sets) = c.select(s, wr + 1, [bit(r), 0, 0], None).unwrap();
        assert_eq!((n, sets), (1, [bit(r), 0, 0]));
        // Invalid timevals (t40f).
        for t in [(0, 3_000_000), (0, 1_000_000), (0, -1), (-1, 0)] {
            assert_eq!(c.select(s, wr + 1, [bit(r), 0, 0], Some(t)), Err(EINVAL));
        }
        assert_eq!(c.select(s, -1, [0; 3], Some((0, 0))), Err(EINVAL));
        assert_eq!(c.select(s, 65, [0; 3], Some((0, 0))), Err(EINVAL));
        assert_eq!(c.select(s, 40, [bit(30), 0, 0], Some((0, 0))), Err(EBADF));
        c.mkdir(s, "/d", 0o755).unwrap();
        let d = c.open(s, "/d", O_RDONLY, 0).unwrap();
        assert_eq!(c.select(s, d + 1, [bit(d), 0, 0], Some((0, 0))), Err(EBADF));
        // Nothing asked, zero timeout: 0.
        assert_eq!(c.select(s, 0, [0; 3], Some((0, 0))).unwrap().0, 0);
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
}

#[test]
fn timeouts_in_simulated_time() {
    let mut w = w();
    let done = slot::<Vec<u64>>();
    let d2 = done.clone();
    w.run(move |s, c| {
        let (r, _wr) = c.pipe(s).unwrap();
        let mut el = Vec::new();
        for t in [(3, 0), (2, 999_999), (0, 10_000)] {
            let t0 = s.now();
            let (n, sets) = c.select(s, r + 1, [1 << r, 0, 0], Some(t)).unwrap();
            assert_eq!((n, sets), (0, [0; 3]));
            el.push(s.now() - t0);
        }
        d2.borrow_mut().replace(el);
    });
    let el = done.borrow_mut().take().unwrap();
    // 3 s and {2, 999999} round up to 300 ticks; 10 ms is one tick. The
    // wake-up can lag the deadline by the alarm's own tick.
    for (got, want) in el.iter().zip([3 * HZ, 3 * HZ, 1]) {
        assert!(
            *got >= want && *got <= want + 2,
            "elapsed {got}, want {want}"
        );
    }
}

struct Writer {
    c: Client,
    fd: i32,
    step: u32,
}

impl Process for Writer {
    fn start(&mut self, s: &mut dyn Sys) {
        s.set_alarm(1);
    }
    fn receive(&mut self, s: &mut dyn Sys, msg: Message) {
        if msg.source() != Endpoint::CLOCK {
            return;
        }
        match self.step {
            0 => self.fd = self.c.open(s, "/fifo", O_WRONLY, 0).unwrap(),
            1 => assert_eq!(self.c.write(s, self.fd, b"W").unwrap(), 1),
            _ => {
                self.c.close(s, self.fd).unwrap();
                return;
            }
        }
        self.step += 1;
        s.set_alarm(50);
    }
}

#[test]
fn blocked_select_is_woken_by_a_write_and_by_eof() {
    let mut w = w();
    let setup = slot::<bool>();
    let s2 = setup.clone();
    w.run(move |s, c| {
        c.mknod(s, "/fifo", sys::proto::vfs::mode::S_IFIFO | 0o666, 0)
            .unwrap();
        s2.borrow_mut().replace(true);
    });
    assert_eq!(*setup.borrow(), Some(true));
    // The writer opens the FIFO (rendezvous with the reader), writes 50
    // ticks later, closes 50 ticks after that: one step per alarm, so the
    // reader runs in between.
    w.sim
        .spawn_user(
            "writer",
            Box::new(Writer {
                c: Client::new(w.vfs),
                fd: -1,
                step: 0,
            }),
        )
        .unwrap();
    let out = slot::<Vec<(i64, u64)>>();
    let o2 = out.clone();
    w.run(move |s, c| {
        let fd = c.open(s, "/fifo", O_RDONLY, 0).unwrap();
        let mut log = Vec::new();
        let t0 = s.now();
        // Blocks (no timeout) until the write.
        let (n, sets) = c.select(s, fd + 1, [1 << fd, 0, 0], None).unwrap();
        log.push((n, s.now() - t0));
        assert_eq!(sets[0], 1 << fd);
        assert_eq!(c.read(s, fd, 10).unwrap(), b"W");
        // Poll: nothing more.
        assert_eq!(
            c.select(s, fd + 1, [1 << fd, 0, 0], Some((0, 0)))
                .unwrap()
                .0,
            0
        );
        // Blocks until the writer closes: EOF is readable.
        let (n, _) = c.select(s, fd + 1, [1 << fd, 0, 0], Some((10, 0))).unwrap();
        log.push((n, s.now() - t0));
        assert_eq!(c.read(s, fd, 10).unwrap(), b"");
        c.close(s, fd).unwrap();
        o2.borrow_mut().replace(log);
    });
    let log = out.borrow_mut().take().expect("reader finished");
    assert_eq!(log[0].0, 1);
    assert!(
        log[0].1 >= 40,
        "woken by the write, after {} ticks",
        log[0].1
    );
    assert_eq!(log[1].0, 1);
    assert!(
        log[1].1 >= 90 && log[1].1 < 10 * HZ,
        "woken by EOF after {}",
        log[1].1
    );
    let st = w
        .sim
        .with_process::<vfs::Vfs, _>("vfs", |v| v.in_flight())
        .unwrap();
    assert_eq!(st, (0, 0, 0), "nothing left in flight");
}

/// The MINIX fix: the driver answers the initial query only after the
/// timeout has passed; select then finishes as though non-blocking with
/// what the driver reported, instead of waiting again or hanging.
#[test]
fn driver_answering_after_the_timeout() {
    for ready in [0u32, sys::proto::cdev::sel::READ] {
        // Minor 0: reports `ready` (both outcomes on one minor).
        let slow = slowdev::SlowDev::new(50).reporting(ready);
        let mut w = world_full(
            43,
            1,
            MfsConfig::default(),
            Policy::Stateful,
            None,
            4096,
            vec![(7, "slowdev".into(), Box::new(slow))],
        );
        w.wait_ready();
        let out = slot::<(i64, [u64; 3], u64)>();
        let o2 = out.clone();
        w.run(move |s, c| {
            c.mknod(s, "/slow", sys::proto::vfs::mode::S_IFCHR | 0o666, 7 << 8)
                .unwrap();
            let fd = c.open(s, "/slow", O_RDONLY, 0).unwrap();
            let t0 = s.now();
            // 10 ms timeout; the driver answers after 50 ticks.
            let (n, sets) = c
                .select(s, fd + 1, [1 << fd, 0, 0], Some((0, 10_000)))
                .unwrap();
            o2.borrow_mut().replace((n, sets, s.now() - t0));
        });
        let (n, sets, el) = out.borrow_mut().take().expect("select returned");
        if ready == 0 {
            assert_eq!((n, sets), (0, [0; 3]));
        } else {
            assert_eq!(n, 1);
            assert_eq!(sets[0], 1);
        }
        assert!((50..60).contains(&el), "returned after {el} ticks");
    }
}
