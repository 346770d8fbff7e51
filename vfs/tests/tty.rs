//! Terminals through VFS, with a fake terminal driver (major 6, two
//! minors, supervised by RS): ioctl forwarded with its argument moving
//! through the caller's grant (ENOTTY for anything but a character
//! device); the controlling terminal (a session leader's first terminal
//! opened without O_NOCTTY, inherited across fork, dropped by setsid,
//! `/dev/tty` = major 5 remapped to it, ENXIO without one); reads, ioctls
//! and selects the driver held when it died are asked again of the new
//! instance.

mod common;

use common::puppets::*;
use common::*;
use std::collections::VecDeque;
use sys::Errno::*;
use sys::proto::cdev::{CdevReply, CdevRequest, sel};
use sys::proto::service::ServiceRequest;
use sys::proto::tty::{Termios, lflag, req::*};
use sys::proto::vfs::fcntl::F_GETFL;
use sys::proto::vfs::{VfsAnswer, VfsCall, VfsPmCall, VfsReply, mode, oflag::*};
use sys::{
    Ctx, Endpoint, Errno, GrantAccess, GrantId, HZ, InitInfo, Message, Process, Sef, Service,
    StateStore,
};

const MAJOR: u32 = 6;
const TERM0: u32 = MAJOR << 8;
const TERM1: u32 = (MAJOR << 8) | 1;
const DEV_TTY: u32 = vfs::CTTY_MAJOR << 8;
/// A request only the fake knows: held until its minor has input, then
/// answered with the number of bytes waiting (nothing consumed).
const WAIT_INPUT: u32 = 0x7e00;
/// A write starting with these bytes is taken in and never answered.
const STALL: &[u8] = b"STALL";

#[derive(Default)]
struct Line {
    termios: Termios,
    pgrp: u32,
    input: VecDeque<u8>,
    opens: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Wait,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    src: Endpoint,
    id: u64,
    minor: u32,
    kind: Kind,
    grant: GrantId,
    size: u32,
}

/// The fake terminal: what is written to a minor becomes its input
/// (like a line in loopback); reads of an empty line and `WAIT_INPUT`
/// ioctls are held; termios, foreground group and FIONREAD per minor.
/// Stateless across restarts.
#[derive(Default)]
struct FakeTty {
    lines: [Line; 2],
    held: Vec<Held>,
    selectors: Vec<(Endpoint, u32, u32)>,
    /// Ioctl requests received.
    ioctls: u32,
    /// Writes taken in and held (they start with [`STALL`]).
    stalled: Vec<Vec<u8>>,
}

fn fake_tty() -> Box<dyn Process> {
    Box::new(Sef::new(FakeTty::default(), StateStore::None))
}

fn done(src: Endpoint, id: u64, result: Result<u32, Errno>, cx: &mut Ctx<'_>) {
    let _ = cx
        .sys
        .send(src, CdevReply::Done { id, result }.to_message());
}

impl FakeTty {
    fn ready(&self, minor: u32) -> u32 {
        let mut r = sel::WRITE;
        if !self.lines[minor as usize].input.is_empty() {
            r |= sel::READ;
        }
        r
    }

    /// Answer what the new input lets through: waits first (they consume
    /// nothing), then reads; then tell selectors.
    fn progress(&mut self, cx: &mut Ctx<'_>, minor: u32) {
        let line = minor as usize;
        let mut keep = Vec::new();
        let mut held = std::mem::take(&mut self.held);
        held.sort_by_key(|h| h.kind == Kind::Read);
        for h in held {
            let input = &mut self.lines[line].input;
            if h.minor != minor || input.is_empty() {
                keep.push(h);
                continue;
            }
            match h.kind {
                Kind::Wait => {
                    let n = input.len() as u32;
                    let r = cx.sys.safecopy_to(h.src, h.grant, 0, &n.to_le_bytes());
                    done(h.src, h.id, r.map(|()| n), cx);
                }
                Kind::Read => {
                    let n = (h.size as usize).min(input.len());
                    let bytes: Vec<u8> = input.drain(..n).collect();
                    let r = cx.sys.safecopy_to(h.src, h.grant, 0, &bytes);
                    done(h.src, h.id, r.map(|()| n as u32), cx);
                }
            }
        }
        self.held = keep;
        let ready = self.ready(minor);
        let mut left = Vec::new();
        for (ep, m, ops) in std::mem::take(&mut self.selectors) {
            if m == minor && ops & ready != 0 {
                let r = CdevReply::SelectReady {
                    minor,
                    ops: ops & ready,
                };
                let _ = cx.sys.send(ep, r.to_message());
            } else {
                left.push((ep, m, ops));
            }
        }
        self.selectors = left;
    }

    /// An ioctl's answer, or `None` if it is held.
    fn ioctl(&mut self, cx: &mut Ctx<'_>, h: Held, req: u32) -> Option<Result<u32, Errno>> {
        let line = &mut self.lines[h.minor as usize];
        let (sys, src, g) = (&mut *cx.sys, h.src, h.grant);
        Some(match req {
            TCGETS => sys
                .safecopy_to(src, g, 0, &line.termios.to_bytes())
                .map(|()| 0),
            TCSETS | TCSETSW | TCSETSF => {
                let mut b = [0u8; sys::proto::tty::TERMIOS_LEN];
                sys.safecopy_from(src, g, 0, &mut b).map(|()| {
                    line.termios = Termios::from_bytes(&b).unwrap_or_default();
                    if req == TCSETSF {
                        line.input.clear();
                    }
                    0
                })
            }
            TIOCGPGRP => sys
                .safecopy_to(src, g, 0, &line.pgrp.to_le_bytes())
                .map(|()| 0),
            TIOCSPGRP => {
                let mut b = [0u8; 4];
                sys.safecopy_from(src, g, 0, &mut b).map(|()| {
                    line.pgrp = u32::from_le_bytes(b);
                    0
                })
            }
            WAIT_INPUT if line.input.is_empty() => {
                self.held.push(h);
                return None;
            }
            FIONREAD | WAIT_INPUT => {
                let n = line.input.len() as u32;
                let v = if req == WAIT_INPUT { n } else { 0 };
                sys.safecopy_to(src, g, 0, &n.to_le_bytes()).map(|()| v)
            }
            _ => Err(Errno::ENOTTY),
        })
    }
}

impl Service for FakeTty {
    fn init(&mut self, _cx: &mut Ctx<'_>, _info: InitInfo) -> Result<(), Errno> {
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        let src = msg.source();
        let Ok(req) = CdevRequest::try_from(&msg) else {
            return None;
        };
        let reply = |id, result| Some(CdevReply::Done { id, result }.to_message());
        let minor = match req {
            CdevRequest::Open { minor, .. }
            | CdevRequest::Close { minor, .. }
            | CdevRequest::Read { minor, .. }
            | CdevRequest::Write { minor, .. }
            | CdevRequest::Cancel { minor, .. }
            | CdevRequest::Select { minor, .. }
            | CdevRequest::Ioctl { minor, .. } => minor,
        };
        if minor > 1 {
            return reply(msg.request_id(), Err(Errno::ENXIO));
        }
        let line = minor as usize;
        match req {
            CdevRequest::Open { id, .. } => {
                self.lines[line].opens += 1;
                reply(id, Ok(0))
            }
            CdevRequest::Close { id, .. } => {
                self.lines[line].opens = self.lines[line].opens.saturating_sub(1);
                reply(id, Ok(0))
            }
            CdevRequest::Read {
                id,
                grant,
                size,
                nonblock,
                ..
            } => {
                if self.lines[line].input.is_empty() {
                    if nonblock {
                        return reply(id, Err(Errno::EAGAIN));
                    }
                    self.held.push(Held {
                        src,
                        id,
                        minor,
                        kind: Kind::Read,
                        grant,
                        size,
                    });
                    return None;
                }
                self.held.push(Held {
                    src,
                    id,
                    minor,
                    kind: Kind::Read,
                    grant,
                    size,
                });
                self.progress(cx, minor);
                None
            }
            CdevRequest::Write {
                id, grant, size, ..
            } => {
                let mut b = vec![0u8; size as usize];
                if let Err(e) = cx.sys.safecopy_from(src, grant, 0, &mut b) {
                    return reply(id, Err(e));
                }
                if b.starts_with(STALL) {
                    // Taken in, never answered (an output queue that does
                    // not drain).
                    self.stalled.push(b);
                    return None;
                }
                self.lines[line].input.extend(b);
                self.progress(cx, minor);
                reply(id, Ok(size))
            }
            CdevRequest::Cancel { id, .. } => {
                if let Some(i) = self.held.iter().position(|h| h.id == id && h.src == src) {
                    self.held.remove(i);
                    return reply(id, Err(Errno::EINTR));
                }
                None
            }
            CdevRequest::Select {
                id, ops, notify, ..
            } => {
                let r = self.ready(minor) & ops;
                if r == 0 && notify {
                    self.selectors.push((src, minor, ops));
                }
                Some(
                    CdevReply::Select {
                        id,
                        minor,
                        result: Ok(r),
                    }
                    .to_message(),
                )
            }
            CdevRequest::Ioctl {
                id,
                req,
                grant,
                len,
                ..
            } => {
                self.ioctls += 1;
                let h = Held {
                    src,
                    id,
                    minor,
                    kind: Kind::Wait,
                    grant,
                    size: len,
                };
                self.ioctl(cx, h, req).and_then(|r| reply(id, r))
            }
        }
    }
}

fn world(seed: u64) -> T {
    let mut t = T::with_world(world_drivers(
        seed,
        vec![(MAJOR, "faketty", fake_tty)],
        MAJOR,
    ));
    let setup = t.puppet("setup");
    t.on(&setup, |s, c| {
        let m = mode::S_IFCHR | 0o666;
        c.mknod(s, "/term0", m, TERM0).unwrap();
        c.mknod(s, "/term1", m, TERM1).unwrap();
        c.mknod(s, "/tty", m, DEV_TTY).unwrap();
    });
    t
}

fn setsid(t: &mut T, p: &P) {
    let ep = p.ep;
    assert_eq!(t.pm_value(|id| VfsPmCall::SetSid { id, ep }), Ok(0));
}

fn ctty(t: &T, p: &P) -> Option<u32> {
    t.vfs(|v| v.ctty(p.ep))
}

fn fake<X>(t: &T, f: impl FnOnce(&FakeTty) -> X) -> X {
    t.w.sim
        .with_process::<Sef<FakeTty>, _>("faketty", |s| f(s.service()))
        .unwrap()
}

fn u32_arg(v: u32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

#[test]
fn ioctl_moves_its_argument_through_the_callers_grant() {
    let mut t = world(81);
    let p = t.puppet("p");
    t.on(&p, |s, c| {
        let fd = c.open(s, "/term0", O_RDWR, 0).unwrap();
        let other = c.open(s, "/term1", O_RDWR, 0).unwrap();
        let tlen = sys::proto::tty::TERMIOS_LEN;
        // Get: the driver writes the caller's buffer.
        let (v, b) = c.ioctl(s, fd, TCGETS, &vec![0; tlen]).unwrap();
        assert_eq!(v, 0);
        let mut tio = Termios::from_bytes(&b).unwrap();
        assert_eq!(tio, Termios::default());
        // Set: the driver reads it.
        tio.lflag &= !(lflag::ECHO | lflag::ICANON);
        assert_eq!(c.ioctl(s, fd, TCSETS, &tio.to_bytes()).unwrap().0, 0);
        let (_, b) = c.ioctl(s, fd, TCGETS, &vec![0; tlen]).unwrap();
        assert_eq!(Termios::from_bytes(&b), Some(tio));
        // Per minor.
        let (_, b) = c.ioctl(s, other, TCGETS, &vec![0; tlen]).unwrap();
        assert_eq!(Termios::from_bytes(&b), Some(Termios::default()));
        assert_eq!(c.ioctl(s, fd, TIOCSPGRP, &u32_arg(42)).unwrap().0, 0);
        let (_, b) = c.ioctl(s, fd, TIOCGPGRP, &u32_arg(0)).unwrap();
        assert_eq!(b, u32_arg(42));
        assert_eq!(c.write(s, fd, b"abc").unwrap(), 3);
        let (_, b) = c.ioctl(s, fd, FIONREAD, &u32_arg(0)).unwrap();
        assert_eq!(b, u32_arg(3));
        // A request the driver does not know: its answer.
        assert_eq!(c.ioctl(s, fd, 99, &[]), Err(ENOTTY));
        // A set request with a read-only grant (VFS passes a set's
        // argument read-only, a get's write-only).
        let g = s
            .grant_create(c.vfs, GrantAccess::READ, u32_arg(7))
            .unwrap();
        let call = VfsCall::Ioctl {
            id: 900,
            fd,
            req: TIOCSPGRP,
            grant: g,
            len: 4,
        };
        let m = s.sendrec(c.vfs, call.to_message()).unwrap();
        s.grant_revoke(g).unwrap();
        assert_eq!(
            VfsReply::try_from(&m).unwrap().result,
            Ok(VfsAnswer::Value(0))
        );
        let (_, b) = c.ioctl(s, fd, TIOCGPGRP, &u32_arg(0)).unwrap();
        assert_eq!(b, u32_arg(7));
    });
    let (tio, pgrp) = fake(&t, |f| (f.lines[0].termios, f.lines[0].pgrp));
    assert_eq!(tio.lflag & lflag::ECHO, 0);
    assert_eq!(pgrp, 7);
}

#[test]
fn ioctl_on_anything_but_a_character_device_is_enotty() {
    let mut t = world(82);
    let p = t.puppet("p");
    t.on(&p, |s, c| {
        let f = c.open(s, "/file", O_CREAT | O_RDWR, 0o644).unwrap();
        let d = c.open(s, "/", O_RDONLY, 0).unwrap();
        let (r, w) = c.pipe(s).unwrap();
        for fd in [f, d, r, w] {
            assert_eq!(c.ioctl(s, fd, TCGETS, &[0; 44]), Err(ENOTTY), "fd {fd}");
        }
        assert_eq!(c.ioctl(s, 40, TCGETS, &[0; 44]), Err(EBADF));
    });
    assert_eq!(fake(&t, |f| f.ioctls), 0);
}

#[test]
fn a_session_leader_acquires_its_first_terminal() {
    let mut t = world(83);
    let p = t.puppet("p");
    // Not a session leader: no controlling terminal, /dev/tty is ENXIO.
    t.on(&p, |s, c| {
        let fd = c.open(s, "/term0", O_RDWR, 0).unwrap();
        c.close(s, fd).unwrap();
        assert_eq!(c.open(s, "/tty", O_RDWR, 0), Err(ENXIO));
    });
    assert_eq!(ctty(&t, &p), None);
    setsid(&mut t, &p);
    // O_NOCTTY: still none (and the flag is not kept on the file).
    t.on(&p, |s, c| {
        let fd = c.open(s, "/term0", O_RDWR | O_NOCTTY, 0).unwrap();
        assert_eq!(c.fcntl(s, fd, F_GETFL, 0).unwrap(), i64::from(O_RDWR));
        assert_eq!(c.open(s, "/tty", O_RDWR, 0), Err(ENXIO));
    });
    assert_eq!(ctty(&t, &p), None);
    // A device that is not a terminal: none.
    t.on(&p, |s, c| {
        c.mknod(s, "/loop", mode::S_IFCHR | 0o666, 4 << 8).unwrap();
        c.open(s, "/loop", O_RDWR, 0).unwrap();
    });
    assert_eq!(ctty(&t, &p), None);
    // The first terminal opened without O_NOCTTY; a later one does not
    // replace it.
    let fd1 = t.get(&p, |s, c| c.open(s, "/term1", O_RDWR, 0).unwrap());
    assert_eq!(ctty(&t, &p), Some(TERM1));
    t.on(&p, |s, c| {
        c.open(s, "/term0", O_RDWR, 0).unwrap();
    });
    assert_eq!(ctty(&t, &p), Some(TERM1));
    // /dev/tty is term1: bytes written there are term1's input.
    t.on(&p, move |s, c| {
        let tty = c.open(s, "/tty", O_RDWR, 0).unwrap();
        assert_eq!(c.fstat(s, tty).unwrap().rdev, DEV_TTY, "the node's");
        assert_eq!(c.write(s, tty, b"via tty").unwrap(), 7);
        assert_eq!(c.read(s, fd1, 20).unwrap(), b"via tty");
        assert_eq!(c.ioctl(s, fd1, TIOCSPGRP, &u32_arg(5)).unwrap().0, 0);
        let (_, b) = c.ioctl(s, tty, TIOCGPGRP, &u32_arg(0)).unwrap();
        assert_eq!(b, u32_arg(5));
    });
    assert_eq!(
        fake(&t, |f| (f.lines[0].input.len(), f.lines[1].pgrp)),
        (0, 5)
    );
}

#[test]
fn fork_inherits_the_controlling_terminal_and_setsid_drops_it() {
    let mut t = world(84);
    let parent = t.puppet("parent");
    let child = t.puppet("child");
    setsid(&mut t, &parent);
    t.on(&parent, |s, c| {
        c.open(s, "/term0", O_RDWR, 0).unwrap();
    });
    assert_eq!(ctty(&t, &parent), Some(TERM0));
    t.fork(&parent, &child);
    assert_eq!(ctty(&t, &child), Some(TERM0));
    t.on(&child, |s, c| {
        let tty = c.open(s, "/tty", O_WRONLY, 0).unwrap();
        assert_eq!(c.write(s, tty, b"k").unwrap(), 1);
        c.close(s, tty).unwrap();
        // Not a session leader itself: another terminal changes nothing.
        c.open(s, "/term1", O_RDWR, 0).unwrap();
    });
    assert_eq!(ctty(&t, &child), Some(TERM0));
    assert_eq!(fake(&t, |f| f.lines[0].input.len()), 1);
    // Its own session: no terminal until it opens one.
    setsid(&mut t, &child);
    assert_eq!(ctty(&t, &child), None);
    t.on(&child, |s, c| {
        assert_eq!(c.open(s, "/tty", O_RDWR, 0), Err(ENXIO));
        c.open(s, "/term1", O_RDWR, 0).unwrap();
    });
    assert_eq!(ctty(&t, &child), Some(TERM1));
    assert_eq!(ctty(&t, &parent), Some(TERM0), "the parent's is its own");
    t.exit(&child);
    assert!(!t.vfs(|v| v.knows(child.ep)));
}

#[test]
fn a_select_on_dev_tty_waits_on_the_terminal() {
    let mut t = world(85);
    let p = t.puppet("p");
    let q = t.puppet("q");
    setsid(&mut t, &p);
    let fd = t.get(&p, |s, c| {
        c.open(s, "/term0", O_RDWR, 0).unwrap();
        c.open(s, "/tty", O_RDONLY, 0).unwrap()
    });
    let id = t.id();
    t.start(&p, select_call(id, fd, None));
    t.w.sim.run_for(HZ);
    assert!(p.inbox.borrow().is_empty(), "nothing to read yet");
    t.on(&q, |s, c| {
        let fd = c.open(s, "/term0", O_WRONLY, 0).unwrap();
        assert_eq!(c.write(s, fd, b"x").unwrap(), 1);
    });
    assert_eq!(t.answer(&p, id), Ok(VfsAnswer::Value(1)));
}

/// A read, an ioctl and a select the driver holds when it dies are asked
/// again of the new instance (files reopened there first) and answered
/// by it; nothing fails.
#[test]
fn requests_held_by_a_dying_terminal_driver_are_resent() {
    let mut t = world(86);
    let reader = t.puppet("reader");
    let waiter = t.puppet("waiter");
    let selector = t.puppet("selector");
    let writer = t.puppet("writer");
    let rfd = t.get(&reader, |s, c| c.open(s, "/term0", O_RDONLY, 0).unwrap());
    let wfd = t.get(&waiter, |s, c| c.open(s, "/term0", O_RDONLY, 0).unwrap());
    let sfd = t.get(&selector, |s, c| c.open(s, "/term1", O_RDONLY, 0).unwrap());
    let rid = t.id();
    t.start(&reader, read_call(rid, rfd, 16));
    let wid = t.id();
    t.start(&waiter, move |s, vfs| {
        let g = s.grant_create(vfs, GrantAccess::RW, vec![0; 4]).unwrap();
        VfsCall::Ioctl {
            id: wid,
            fd: wfd,
            req: WAIT_INPUT,
            grant: g,
            len: 4,
        }
    });
    let sid = t.id();
    t.start(&selector, select_call(sid, sfd, None));
    t.w.sim.run_for(HZ);
    assert_eq!(fake(&t, |f| (f.held.len(), f.selectors.len())), (2, 1));
    t.w.sim
        .service_request(ServiceRequest::Fi {
            id: 1,
            label: "faketty".into(),
        })
        .unwrap();
    t.w.sim.run_for(2 * HZ);
    assert_eq!(t.w.sim.rs_service("faketty").unwrap().restarts, 1);
    for p in [&reader, &waiter, &selector] {
        assert!(p.inbox.borrow().is_empty(), "still waiting after the crash");
    }
    // The new instance holds them all again, on reopened files.
    let (held, selectors, opens) = fake(&t, |f| {
        (
            f.held.len(),
            f.selectors.len(),
            (f.lines[0].opens, f.lines[1].opens),
        )
    });
    assert_eq!((held, selectors), (2, 1));
    assert_eq!(opens, (2, 1));
    t.on(&writer, |s, c| {
        let a = c.open(s, "/term0", O_WRONLY, 0).unwrap();
        assert_eq!(c.write(s, a, b"hello").unwrap(), 5);
        let b = c.open(s, "/term1", O_WRONLY, 0).unwrap();
        assert_eq!(c.write(s, b, b"!").unwrap(), 1);
    });
    assert_eq!(t.answer(&waiter, wid), Ok(VfsAnswer::Value(5)));
    assert_eq!(t.answer(&reader, rid), Ok(VfsAnswer::Value(5)));
    assert_eq!(t.answer(&selector, sid), Ok(VfsAnswer::Value(1)));
    assert_eq!(t.vfs(|v| v.in_flight()), (0, 0, 0));
}

/// ^C while a call waits for a dead driver to come back: EINTR.
#[test]
fn a_resent_read_is_interrupted_by_a_signal() {
    let mut t = world(87);
    let p = t.puppet("p");
    let fd = t.get(&p, |s, c| c.open(s, "/term0", O_RDONLY, 0).unwrap());
    let id = t.id();
    t.start(&p, read_call(id, fd, 8));
    t.w.sim.run_for(HZ);
    t.w.sim
        .service_request(ServiceRequest::Fi {
            id: 1,
            label: "faketty".into(),
        })
        .unwrap();
    t.w.sim.run_for(2 * HZ);
    assert_eq!(fake(&t, |f| f.held.len()), 1, "held by the new instance");
    assert_eq!(t.unpause(&p), 1);
    assert_eq!(t.answer(&p, id), Err(EINTR));
    t.w.sim.run_for(HZ);
    assert_eq!(fake(&t, |f| f.held.len()), 0, "cancelled in the driver");
    assert_eq!(t.vfs(|v| v.in_flight()), (0, 0, 0));
}

/// Calls made while the driver is dead (before it is back) wait for the
/// new instance instead of failing: an open, a write and an ioctl.
#[test]
fn calls_to_a_dead_driver_wait_for_the_new_instance() {
    let mut t = world(88);
    let p = t.puppet("p");
    let fd = t.get(&p, |s, c| c.open(s, "/term0", O_RDWR, 0).unwrap());
    let before = t.vfs(|v| v.stats());
    assert!(t.w.sim.crash_now("faketty"));
    t.on(&p, move |s, c| {
        assert_eq!(c.write(s, fd, b"still").unwrap(), 5);
        let (_, b) = c.ioctl(s, fd, FIONREAD, &u32_arg(0)).unwrap();
        assert_eq!(b, u32_arg(5), "written to the new instance");
        let g = c.open(s, "/term1", O_RDWR, 0).unwrap();
        assert_eq!(c.write(s, g, b"x").unwrap(), 1);
    });
    let after = t.vfs(|v| v.stats());
    assert!(
        after.cdev_unreached > before.cdev_unreached,
        "the write found the driver dead"
    );
    assert_eq!(t.w.sim.rs_service("faketty").unwrap().restarts, 1);
    assert_eq!(fake(&t, |f| (f.lines[0].opens, f.lines[1].opens)), (1, 1));
}

/// A write the driver took in and died with is not repeated: it fails
/// with EIO and the new instance never sees it; the descriptor goes on
/// working.
#[test]
fn a_write_the_driver_took_is_not_repeated() {
    let mut t = world(89);
    let p = t.puppet("p");
    let fd = t.get(&p, |s, c| c.open(s, "/term0", O_RDWR, 0).unwrap());
    let id = t.id();
    t.start(&p, move |s, vfs| {
        let g = s
            .grant_create(vfs, GrantAccess::READ, b"STALL me".to_vec())
            .unwrap();
        VfsCall::Write {
            id,
            fd,
            buf: sys::proto::fs::Buf { grant: g, len: 8 },
        }
    });
    t.w.sim.run_for(HZ);
    assert_eq!(fake(&t, |f| f.stalled.len()), 1, "taken in");
    t.w.sim
        .service_request(ServiceRequest::Fi {
            id: 1,
            label: "faketty".into(),
        })
        .unwrap();
    assert_eq!(t.answer(&p, id), Err(EIO));
    t.w.sim.run_for(HZ);
    assert_eq!(fake(&t, |f| f.stalled.len()), 0, "not sent again");
    t.on(&p, move |s, c| {
        assert_eq!(c.write(s, fd, b"ok").unwrap(), 2);
        assert_eq!(c.read(s, fd, 8).unwrap(), b"ok");
    });
    assert_eq!(t.w.sim.rs_service("faketty").unwrap().restarts, 1);
}
