//! The select core driven the way VFS drives it, in the simulator with
//! simulated time: a client process runs one `select` over pipes served by
//! PFS and over a slow simulated "driver", arming its alarm for the timeout.
//! In the spirit of t40f (timeouts, EINVAL for bad timevals) and test77 part
//! f (poll / NULL timeout / wake-up by data / EOF readable), plus the early
//! alarm (the driver answers the initial query after the timeout) and a
//! driver that dies (its descriptor reports ready).
//!
//! How a VFS talks to PFS for select (no unsolicited messages, one answer
//! per request): the initial query is `Select { block: false }` (answered at
//! once); if the core wants the query armed and nothing was ready, a second
//! `Select { block: true }` is sent, whose (late) answer is the notification;
//! at the end armed queries are cancelled with `Cancel`.

use pfs::Access;
use pfs::pipe::{SEL_RD, SEL_WR};
use pfs::proto::{PipeRequest, S_IFIFO};
use pfs::select::{FdClass, FdSet, Select, SelectResult, Step, Timeval};
use pfs::server::Config;
use rs::{Rs, RsConfig};
use sim::system::{ds_service, register_programs, service};
use sim::{Sim, SimConfig, seeded};
use std::collections::BTreeMap;
use sys::proto::fs::{Buf, Cred, FsAnswer, FsReply, FsRequest};
use sys::proto::kernel::{DeadPeer, is_notify};
use sys::proto::service::Policy;
use sys::{Endpoint, Errno, GrantAccess, HZ, Message, Process, Sys, Ticks};

fn boot(seed: u64) -> Sim {
    let mut sim = Sim::new(SimConfig::new(seed));
    register_programs(&mut sim);
    sim.register("pfs", || pfs::server::program(Config::default()));
    let table = vec![ds_service(), service("pfs", "pfs", Policy::Stateful, HZ)];
    sim.start_rs(Box::new(Rs::new(RsConfig::with_table(table))))
        .expect("rs starts");
    assert!(sim.run_until(100 * HZ, |s| {
        s.with_process::<Rs, _>("rs", |rs| rs.booted())
            .unwrap_or(false)
    }));
    sim
}

fn call(sim: &mut Sim, m: Message) -> Result<FsAnswer, Errno> {
    let ep = sim.endpoint_of("pfs").unwrap();
    FsReply::try_from(&sim.call(ep, m)?)?.result
}

fn new_pipe(sim: &mut Sim, id: u64) -> u32 {
    let m = FsRequest::NewNode {
        id,
        mode: S_IFIFO | 0o600,
        rdev: 0,
        cred: Cred::ROOT,
    }
    .to_message();
    match call(sim, m) {
        Ok(FsAnswer::Node(n)) => n.ino,
        other => panic!("newnode: {other:?}"),
    }
}

fn write(sim: &mut Sim, id: u64, ino: u32, data: &[u8]) {
    let ep = sim.endpoint_of("pfs").unwrap();
    let grant = sim
        .harness_grant(ep, GrantAccess::READ, data.to_vec())
        .unwrap();
    let m = FsRequest::Write {
        id,
        ino,
        pos: 0,
        buf: Buf {
            grant,
            len: data.len() as u32,
        },
        flags: 0,
    }
    .to_message();
    assert!(matches!(call(sim, m), Ok(FsAnswer::Count { .. })));
    sim.harness_revoke(grant).unwrap();
}

/// A "driver" that answers every query `delay` ticks late with `ops`.
struct SlowDriver {
    delay: Ticks,
    ops: u8,
    waiting: Vec<(Endpoint, u64)>,
}

impl Process for SlowDriver {
    fn receive(&mut self, sys: &mut dyn Sys, msg: Message) {
        if msg.source() == Endpoint::CLOCK && is_notify(&msg) {
            for (ep, id) in self.waiting.drain(..) {
                let r = FsReply {
                    id,
                    result: Ok(FsAnswer::Count {
                        n: u64::from(self.ops),
                        pos: 0,
                    }),
                };
                let _ = sys.send(ep, r.to_message());
            }
        } else {
            self.waiting.push((msg.source(), msg.request_id()));
            sys.set_alarm(self.delay);
        }
    }
}

/// One descriptor of the client's table.
#[derive(Clone, Copy)]
enum Fd {
    /// A pipe end on PFS.
    Pipe { ino: u32, access: Access },
    /// A device served by the slow driver.
    Slow,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Initial,
    Armed,
}

/// A client running one select call the way VFS would.
struct Client {
    pfs: Endpoint,
    slow: Endpoint,
    fds: Vec<Fd>,
    nfds: i32,
    read: Option<FdSet>,
    write: Option<FdSet>,
    timeout: Option<Timeval>,
    call: Option<Select>,
    queries: BTreeMap<u64, (usize, Phase, bool)>,
    next_id: u64,
    started: Ticks,
    result: Option<(Result<SelectResult, Errno>, Ticks)>,
}

impl Client {
    fn target(&self, fd: usize) -> Endpoint {
        match self.fds[fd] {
            Fd::Pipe { .. } => self.pfs,
            Fd::Slow => self.slow,
        }
    }

    fn query(&mut self, sys: &mut dyn Sys, fd: usize, ops: u8, phase: Phase, arm: bool) {
        self.next_id += 1;
        let id = self.next_id;
        let msg = match self.fds[fd] {
            Fd::Pipe { ino, .. } => PipeRequest::Select {
                id,
                ino,
                ops,
                block: phase == Phase::Armed,
            }
            .to_message(),
            Fd::Slow => {
                let mut m = Message::new(0x7ff);
                m.payload_mut()[..8].copy_from_slice(&id.to_le_bytes());
                m
            }
        };
        self.queries.insert(id, (fd, phase, arm));
        let _ = sys.request(self.target(fd), msg);
    }

    fn step(&mut self, sys: &mut dyn Sys, step: Step) {
        if let Step::Finish(r) = step {
            sys.set_alarm(0);
            if let Ok(res) = &r {
                // Cancel queries still armed with PFS.
                for &(fd, _) in &res.cancel {
                    let armed: Vec<u64> = self
                        .queries
                        .iter()
                        .filter(|(_, q)| q.0 == fd && q.1 == Phase::Armed)
                        .map(|(&id, _)| id)
                        .collect();
                    for target in armed {
                        if let Fd::Pipe { .. } = self.fds[fd] {
                            self.next_id += 1;
                            let c = PipeRequest::Cancel {
                                id: self.next_id,
                                target,
                            };
                            let _ = sys.request(self.pfs, c.to_message());
                        }
                    }
                }
            }
            self.result = Some((r, sys.now() - self.started));
        }
    }
}

impl Process for Client {
    fn start(&mut self, sys: &mut dyn Sys) {
        self.started = sys.now();
        let fds = self.fds.clone();
        let (pfs, slow) = (self.pfs, self.slow);
        let (call, queries, step) = Select::start(
            self.nfds,
            self.read.clone(),
            self.write.clone(),
            None,
            self.timeout,
            HZ,
            |fd| match fds.get(fd) {
                None => FdClass::Bad,
                Some(Fd::Pipe { access, .. }) => FdClass::Queried {
                    readable: *access != Access::Write,
                    writable: *access != Access::Read,
                    target: pfs.0,
                },
                Some(Fd::Slow) => FdClass::Queried {
                    readable: true,
                    writable: true,
                    target: slow.0,
                },
            },
        );
        let ticks = call.timer_ticks();
        self.call = Some(call);
        for q in queries {
            self.query(sys, q.fd, q.ops, Phase::Initial, q.block);
        }
        if step == Step::Wait {
            if let Some(t) = ticks {
                sys.set_alarm(t);
            }
        } else {
            self.step(sys, step);
        }
    }

    fn receive(&mut self, sys: &mut dyn Sys, msg: Message) {
        let Some(mut call) = self.call.take() else {
            return;
        };
        let step = if msg.source() == Endpoint::CLOCK && is_notify(&msg) {
            call.timer()
        } else if let Ok(b) = DeadPeer::try_from(&msg) {
            call.target_died(b.dead.0)
        } else if let Ok(r) = FsReply::try_from(&msg) {
            match self.queries.remove(&r.id) {
                None => Step::Wait,
                Some((fd, phase, arm)) => {
                    let ready = match r.result {
                        Ok(FsAnswer::Count { n, .. }) => Ok(n as u8),
                        Ok(_) => Err(Errno::EIO),
                        Err(e) => Err(e),
                    };
                    match phase {
                        Phase::Initial => {
                            let s = call.initial_reply(fd, ready);
                            if s == Step::Wait && arm && ready == Ok(0) && !call.is_finished() {
                                let ops = [SEL_RD, SEL_WR]
                                    .into_iter()
                                    .filter(|&b| {
                                        (b == SEL_RD
                                            && self.read.as_ref().is_some_and(|s| s.is_set(fd)))
                                            || (b == SEL_WR
                                                && self
                                                    .write
                                                    .as_ref()
                                                    .is_some_and(|s| s.is_set(fd)))
                                    })
                                    .fold(0, |a, b| a | b);
                                if let Fd::Pipe { .. } = self.fds[fd] {
                                    self.query(sys, fd, ops, Phase::Armed, true);
                                }
                            }
                            s
                        }
                        Phase::Armed => call.notify(fd, ready),
                    }
                }
            }
        } else {
            Step::Wait
        };
        self.call = Some(call);
        self.step(sys, step);
    }
}

fn set(fds: &[usize]) -> Option<FdSet> {
    let mut s = FdSet::new(8);
    for &fd in fds {
        s.set(fd);
    }
    Some(s)
}

struct Spec {
    fds: Vec<Fd>,
    read: Option<FdSet>,
    write: Option<FdSet>,
    timeout: Option<Timeval>,
}

fn run_select(sim: &mut Sim, label: &str, slow: Endpoint, spec: Spec) {
    let client = Client {
        pfs: sim.endpoint_of("pfs").unwrap(),
        slow,
        nfds: spec.fds.len() as i32,
        fds: spec.fds,
        read: spec.read,
        write: spec.write,
        timeout: spec.timeout,
        call: None,
        queries: BTreeMap::new(),
        next_id: 0,
        started: 0,
        result: None,
    };
    sim.spawn_user(label, Box::new(client)).unwrap();
}

fn result(sim: &mut Sim, label: &str, max: Ticks) -> (Result<SelectResult, Errno>, Ticks) {
    let l = label.to_string();
    assert!(
        sim.run_until(max, |s| s
            .with_process::<Client, _>(&l, |c| c.result.is_some())
            .unwrap_or(false)),
        "select {label} finished"
    );
    sim.with_process::<Client, _>(label, |c| c.result.clone().unwrap())
        .unwrap()
}

fn tv(sec: i64, usec: i64) -> Option<Timeval> {
    Some(Timeval { sec, usec })
}

fn rd(ino: u32) -> Fd {
    Fd::Pipe {
        ino,
        access: Access::Read,
    }
}

#[test]
fn t40f_timeouts_on_an_empty_pipe() {
    seeded("select-t40f", 31, |seed| {
        let mut sim = boot(seed);
        let p = new_pipe(&mut sim, 1);
        let none = Endpoint::NONE;
        for (i, (t, want)) in [(tv(3, 0), 3 * HZ), (tv(2, 999_999), 3 * HZ)]
            .into_iter()
            .enumerate()
        {
            let label = format!("t40f-{i}");
            let spec = Spec {
                fds: vec![rd(p)],
                read: set(&[0]),
                write: None,
                timeout: t,
            };
            run_select(&mut sim, &label, none, spec);
            let (r, elapsed) = result(&mut sim, &label, 10 * HZ);
            let r = r.unwrap();
            assert_eq!(r.count, 0);
            assert!(!r.read.unwrap().is_set(0), "bit cleared");
            // Simulated time: the timeout, plus at most the scheduler's delay
            // in delivering the alarm and the last query answer.
            assert!(
                (want..=want + 2).contains(&elapsed),
                "elapsed {elapsed} ticks for {t:?}"
            );
        }
        for (i, (sec, usec)) in [(0, 3_000_000), (0, 1_000_000), (0, !0)]
            .into_iter()
            .enumerate()
        {
            let label = format!("t40f-inval-{i}");
            let spec = Spec {
                fds: vec![rd(p)],
                read: set(&[0]),
                write: None,
                timeout: tv(sec, usec),
            };
            run_select(&mut sim, &label, none, spec);
            let (r, elapsed) = result(&mut sim, &label, HZ);
            assert_eq!(r, Err(Errno::EINVAL));
            assert_eq!(elapsed, 0, "fails immediately");
        }
        // Nothing is left armed with PFS after the timeouts (cancelled).
        sim.run_for(HZ);
        let armed = sim
            .with_process::<sys::Sef<pfs::server::Pfs>, _>("pfs", |s| s.service().suspended())
            .unwrap();
        assert_eq!(armed, 0);
    });
}

#[test]
fn test77f_style_poll_block_wakeup_and_eof() {
    seeded("select-77f", 32, |seed| {
        let mut sim = boot(seed);
        let p = new_pipe(&mut sim, 1);
        let none = Endpoint::NONE;
        let wr = Fd::Pipe {
            ino: p,
            access: Access::Write,
        };
        // 1. poll for read: 0. 2. short timeout: 0. 3. write, NULL timeout: 1.
        run_select(
            &mut sim,
            "a",
            none,
            Spec {
                fds: vec![rd(p)],
                read: set(&[0]),
                write: None,
                timeout: tv(0, 0),
            },
        );
        assert_eq!(result(&mut sim, "a", HZ).0.unwrap().count, 0);
        run_select(
            &mut sim,
            "b",
            none,
            Spec {
                fds: vec![rd(p)],
                read: set(&[0]),
                write: None,
                timeout: tv(0, 10_000),
            },
        );
        assert_eq!(result(&mut sim, "b", HZ).0.unwrap().count, 0);
        run_select(
            &mut sim,
            "c",
            none,
            Spec {
                fds: vec![wr],
                read: None,
                write: set(&[0]),
                timeout: None,
            },
        );
        let r = result(&mut sim, "c", HZ).0.unwrap();
        assert_eq!(r.count, 1);
        assert!(r.write.unwrap().is_set(0));
        // 5. A blocking read select is woken by data written later.
        run_select(
            &mut sim,
            "d",
            none,
            Spec {
                fds: vec![rd(p)],
                read: set(&[0]),
                write: None,
                timeout: None,
            },
        );
        sim.run_for(2 * HZ);
        assert!(
            sim.with_process::<Client, _>("d", |c| c.result.is_none())
                .unwrap(),
            "still blocked without data"
        );
        write(&mut sim, 2, p, b"A");
        let r = result(&mut sim, "d", HZ).0.unwrap();
        assert_eq!(r.count, 1);
        assert!(r.read.unwrap().is_set(0));
        // 6. EOF is readable: drain, close the write end, select again.
        let ep = sim.endpoint_of("pfs").unwrap();
        let grant = sim
            .harness_grant(ep, GrantAccess::WRITE, vec![0; 4])
            .unwrap();
        let m = FsRequest::Read {
            id: 3,
            ino: p,
            pos: 0,
            buf: Buf { grant, len: 4 },
            flags: 0,
        }
        .to_message();
        assert!(matches!(
            call(&mut sim, m),
            Ok(FsAnswer::Count { n: 1, .. })
        ));
        run_select(
            &mut sim,
            "e",
            none,
            Spec {
                fds: vec![rd(p)],
                read: set(&[0]),
                write: None,
                timeout: None,
            },
        );
        sim.run_for(HZ);
        let c = PipeRequest::Close {
            id: 4,
            ino: p,
            access: Access::Write,
        };
        assert_eq!(call(&mut sim, c.to_message()), Ok(FsAnswer::Done));
        assert_eq!(result(&mut sim, "e", HZ).0.unwrap().count, 1);
    });
}

#[test]
fn early_alarm_finishes_when_the_late_driver_answers() {
    seeded("select-early-alarm", 33, |seed| {
        let mut sim = boot(seed);
        let slow = sim
            .spawn_user(
                "slowdrv",
                Box::new(SlowDriver {
                    delay: 50,
                    ops: 0,
                    waiting: Vec::new(),
                }),
            )
            .unwrap();
        // 10 ms timeout (1 tick); the driver answers its initial query after 50.
        run_select(
            &mut sim,
            "s",
            slow,
            Spec {
                fds: vec![Fd::Slow],
                read: set(&[0]),
                write: None,
                timeout: tv(0, 10_000),
            },
        );
        let (r, elapsed) = result(&mut sim, "s", 10 * HZ);
        assert_eq!(r.unwrap().count, 0);
        // Not at the alarm (1 tick; the answer was outstanding), but when the
        // answer came: 50 ticks after the query reached the driver, plus at
        // most the scheduler's delivery delay of the query and the answer.
        assert!((50..=52).contains(&elapsed), "elapsed {elapsed}");
        // A late answer that reports readiness is returned.
        sim.with_process_mut::<SlowDriver, _>("slowdrv", |d| d.ops = SEL_RD)
            .unwrap();
        run_select(
            &mut sim,
            "s2",
            slow,
            Spec {
                fds: vec![Fd::Slow],
                read: set(&[0]),
                write: None,
                timeout: tv(0, 10_000),
            },
        );
        let r = result(&mut sim, "s2", 10 * HZ).0.unwrap();
        assert_eq!(r.count, 1);
    });
}

#[test]
fn dead_driver_reports_ready() {
    seeded("select-dead-driver", 34, |seed| {
        let mut sim = boot(seed);
        let p = new_pipe(&mut sim, 1);
        let slow = sim
            .spawn_user(
                "slowdrv",
                Box::new(SlowDriver {
                    delay: 1000,
                    ops: 0,
                    waiting: Vec::new(),
                }),
            )
            .unwrap();
        run_select(
            &mut sim,
            "s",
            slow,
            Spec {
                fds: vec![rd(p), Fd::Slow],
                read: set(&[0, 1]),
                write: set(&[1]),
                timeout: None,
            },
        );
        sim.run_for(HZ);
        assert!(sim.crash_now("slowdrv"));
        let r = result(&mut sim, "s", HZ).0.unwrap();
        assert_eq!(r.count, 2, "the dead driver's fd: read and write");
        assert!(r.read.as_ref().unwrap().is_set(1) && !r.read.unwrap().is_set(0));
        assert!(r.write.unwrap().is_set(1));
    });
}
