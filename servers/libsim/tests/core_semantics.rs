//! Transport semantics of the simulator, process by process: blocking and
//! deadlock, dead peers and bounces, grants, privileges, alarms, notify
//! coalescing, targeted fault injection, deferred kills.

mod common;

use common::*;
use sim::system::{boot, ds_service, service};
use sim::{Event, Sim, SimConfig, seeded};
use std::cell::RefCell;
use std::rc::Rc;
use sys::proto::kernel::{DeadPeer, is_notify};
use sys::proto::sample::SampleRequest;
use sys::proto::service::Policy;
use sys::{Endpoint, Errno, GrantAccess, HZ, IpcTargets, Message, Privileges, Process, Sys};

type Log = Rc<RefCell<Vec<String>>>;
type Step = Box<dyn FnMut(&mut dyn Sys, Option<Message>, &Log)>;

/// A process driven by a closure (None at start).
struct Script {
    f: Step,
    log: Log,
}

impl Process for Script {
    fn start(&mut self, sys: &mut dyn Sys) {
        (self.f)(sys, None, &self.log)
    }
    fn receive(&mut self, sys: &mut dyn Sys, msg: Message) {
        (self.f)(sys, Some(msg), &self.log)
    }
}

fn script(f: impl FnMut(&mut dyn Sys, Option<Message>, &Log) + 'static) -> (Box<Script>, Log) {
    let log: Log = Rc::default();
    (
        Box::new(Script {
            f: Box::new(f),
            log: log.clone(),
        }),
        log,
    )
}

fn bare(seed: u64) -> Sim {
    Sim::new(SimConfig::new(seed))
}

#[test]
fn sendrec_cycle_is_elocked_and_replies_route_to_the_waiter() {
    seeded("elocked", 51, |seed| {
        let mut sim = bare(seed);
        // B: on a request, sendrec back to its caller (a cycle), then answer.
        let (b, blog) = script(|sys, m, log| {
            if let Some(m) = m
                && m.mtype() == 0x7001
            {
                let r = sys.sendrec(m.source(), Message::new(0x7002));
                log.borrow_mut().push(format!("{r:?}"));
                let _ = sys.send(m.source(), Message::new(0x7003));
            }
        });
        let bep = sim.spawn_user("b", b).unwrap();
        let (a, alog) = script(move |sys, m, log| {
            if m.is_none() {
                sys.set_alarm(1);
            } else if let Some(m) = m
                && m.source() == Endpoint::CLOCK
            {
                let r = sys.sendrec(bep, Message::new(0x7001));
                log.borrow_mut().push(format!("{:?}", r.map(|m| m.mtype())));
            }
        });
        sim.spawn_user("a", a).unwrap();
        sim.run_for(10);
        assert_eq!(*blog.borrow(), vec!["Err(ELOCKED)".to_string()]);
        assert_eq!(
            *alog.borrow(),
            vec![format!("{:?}", Ok::<u32, Errno>(0x7003))]
        );
    });
}

#[test]
fn requests_to_a_dying_server_are_bounced_with_their_id() {
    seeded("bounce", 52, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![ds_service(), service("echo", "echo", Policy::Restart, HZ)],
        );
        let echo = sim.endpoint_of("echo").unwrap();
        // The next message echo receives kills it; the request is bounced.
        sim.crash_at("echo", 1);
        assert_eq!(
            sim.call(
                echo,
                SampleRequest::Echo {
                    id: 4242,
                    data: [1; 40]
                }
                .to_message()
            ),
            Err(Errno::EDEADSRCDST(None))
        );
        // A client using asynchronous requests gets the bounce as a message.
        let (c, clog) = script(move |sys, m, log| match m {
            None => {
                let _ = sys.request(
                    echo,
                    SampleRequest::Echo {
                        id: 99,
                        data: [2; 40],
                    }
                    .to_message(),
                );
            }
            Some(m) => {
                if let Ok(b) = DeadPeer::try_from(&m) {
                    log.borrow_mut().push(format!(
                        "bounce {} {:?} {:?}",
                        b.request_id(),
                        b.dead,
                        b.errno()
                    ));
                } else if !is_notify(&m) {
                    log.borrow_mut().push("reply".into());
                }
            }
        });
        assert!(wait_running(&mut sim, "echo", 1, TEN_S));
        sim.hang_now("echo");
        sim.spawn_user("client", c).unwrap();
        // The hung echo swallows the request; RS kills it after two periods
        // and the owed answer becomes a bounce.
        sim.run_for(5 * HZ);
        assert_eq!(
            *clog.borrow(),
            vec![format!("bounce 99 {echo:?} {:?}", Errno::EDEADSRCDST(None))]
        );
        // Sending to a dead or stale endpoint fails at once.
        assert_eq!(
            sim.call(Endpoint::new(999, 0), Message::new(1)),
            Err(Errno::EDEADSRCDST(None))
        );
    });
}

#[test]
fn crash_at_nth_message_and_hang_at() {
    seeded("crash-at", 53, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![ds_service(), service("echo", "echo", Policy::Restart, HZ)],
        );
        let echo = sim.endpoint_of("echo").unwrap();
        sim.crash_at("echo", 3);
        echo_ok(&mut sim, echo, 1);
        echo_ok(&mut sim, echo, 2);
        assert_eq!(
            sim.call(
                echo,
                SampleRequest::Echo {
                    id: 3,
                    data: [0; 40]
                }
                .to_message()
            ),
            Err(Errno::EDEADSRCDST(None))
        );
        assert!(wait_running(&mut sim, "echo", 1, TEN_S));
        assert_eq!(sim.stats().crashes_injected, 1);
        sim.hang_at("echo", 1);
        sim.run_for(5 * HZ);
        let recs = sim.crash_records("echo");
        assert_eq!(
            recs.last().map(|r| r.cause),
            Some(rs::CrashCause::NoPingReply)
        );
        assert!(
            sim.trace()
                .iter()
                .any(|e| matches!(e, Event::Hang { label, .. } if label == "echo"))
        );
    });
}

fn echo_ok(sim: &mut Sim, ep: Endpoint, id: u64) {
    echo(sim, ep, id).unwrap();
}

#[test]
fn grants_are_checked() {
    seeded("grants", 54, |seed| {
        let mut sim = bare(seed);
        let owner_ep: Rc<RefCell<Option<(Endpoint, u32)>>> = Rc::default();
        let shared = owner_ep.clone();
        // Owner: grants 8 bytes to "reader" (looked up at start: slot order).
        let (owner, olog) = script(move |sys, m, log| match m {
            None => {
                let me = sys.self_endpoint();
                let reader = Endpoint::new(me.slot() + 1, 0);
                let g = sys
                    .grant_create(reader, GrantAccess::RW, b"abcdefgh".to_vec())
                    .unwrap();
                *shared.borrow_mut() = Some((me, g.0));
            }
            Some(m) if m.mtype() == 0x7100 => {
                let g = sys::GrantId(m.request_id() as u32);
                log.borrow_mut().push(format!(
                    "{:?}",
                    sys.grant_revoke(g).map(|b| String::from_utf8(b).unwrap())
                ));
                log.borrow_mut()
                    .push(format!("{:?}", sys.grant_revoke(g).err()));
            }
            _ => {}
        });
        sim.spawn_user("owner", owner).unwrap();
        let (o, g) = owner_ep.borrow().unwrap();
        let (reader, rlog) = script(move |sys, m, log| {
            if m.is_none() {
                let gid = sys::GrantId(g);
                let mut b = [0u8; 4];
                log.borrow_mut().push(format!(
                    "{:?}",
                    sys.safecopy_from(o, gid, 2, &mut b).map(|()| b)
                ));
                log.borrow_mut()
                    .push(format!("{:?}", sys.safecopy_from(o, gid, 6, &mut b)));
                log.borrow_mut()
                    .push(format!("{:?}", sys.safecopy_to(o, gid, 0, b"XY")));
                log.borrow_mut().push(format!(
                    "{:?}",
                    sys.safecopy_from(o, sys::GrantId(g + 7), 0, &mut b)
                ));
                let mut m = Message::new(0x7100);
                m.payload_mut()[..8].copy_from_slice(&u64::from(g).to_le_bytes());
                let _ = sys.send(o, m);
            }
        });
        let rep = sim.spawn_user("reader", reader).unwrap();
        assert_eq!(rep.slot(), o.slot() + 1);
        // A third process is not the grantee.
        let (thief, tlog) = script(move |sys, m, log| {
            if m.is_none() {
                let mut b = [0u8; 1];
                log.borrow_mut().push(format!(
                    "{:?}",
                    sys.safecopy_from(o, sys::GrantId(g), 0, &mut b)
                ));
            }
        });
        // Spawned before the owner revokes (the reader's message is still queued).
        sim.spawn_user("thief", thief).unwrap();
        sim.run_for(5);
        assert_eq!(
            *rlog.borrow(),
            vec![
                format!("{:?}", Ok::<[u8; 4], Errno>(*b"cdef")),
                format!("{:?}", Err::<(), Errno>(Errno::EINVAL)),
                "Ok(())".to_string(),
                format!("{:?}", Err::<(), Errno>(Errno::EPERM)),
            ]
        );
        assert_eq!(
            *tlog.borrow(),
            vec![format!("{:?}", Err::<(), Errno>(Errno::EPERM))]
        );
        assert_eq!(
            *olog.borrow(),
            vec![
                format!("{:?}", Ok::<String, Errno>("XYcdefgh".into())),
                format!("{:?}", Some(Errno::EINVAL))
            ]
        );
    });
}

#[test]
fn indirect_grants_reach_the_original_bytes_and_never_widen() {
    let mut sim = bare(55);
    let cell: Rc<RefCell<Option<(Endpoint, u32)>>> = Rc::default();
    // Owner: grants its 8 bytes, read-only, to the next slot ("middle").
    let c1 = cell.clone();
    let (owner, _) = script(move |sys, m, _| {
        if m.is_none() {
            let me = sys.self_endpoint();
            let middle = Endpoint::new(me.slot() + 1, 0);
            let g = sys
                .grant_create(middle, GrantAccess::READ, b"abcdefgh".to_vec())
                .unwrap();
            *c1.borrow_mut() = Some((me, g.0));
        }
    });
    let o = sim.spawn_user("owner", owner).unwrap();
    let (_, og) = cell.borrow().unwrap();
    // Middle: passes bytes 2..6 on to the slot after it; wider access and
    // a range past the grant are refused.
    let passed: Rc<RefCell<Option<(Endpoint, u32)>>> = Rc::default();
    let p2 = passed.clone();
    let (middle, mlog) = script(move |sys, m, log| {
        if m.is_none() {
            let me = sys.self_endpoint();
            let user = Endpoint::new(me.slot() + 1, 0);
            let g = sys::GrantId(og);
            log.borrow_mut().push(format!(
                "{:?}",
                sys.grant_indirect(user, GrantAccess::RW, o, g, 2, 4).err()
            ));
            log.borrow_mut().push(format!(
                "{:?}",
                sys.grant_indirect(user, GrantAccess::READ, o, g, 4, 8)
                    .err()
            ));
            let ig = sys
                .grant_indirect(user, GrantAccess::READ, o, g, 2, 4)
                .unwrap();
            *p2.borrow_mut() = Some((me, ig.0));
        }
    });
    sim.spawn_user("middle", middle).unwrap();
    let (m_ep, ig) = passed.borrow().unwrap();
    let (user, ulog) = script(move |sys, m, log| {
        if m.is_none() {
            let g = sys::GrantId(ig);
            let mut b = [0u8; 4];
            log.borrow_mut().push(format!(
                "{:?}",
                sys.safecopy_from(m_ep, g, 0, &mut b).map(|()| b)
            ));
            let mut two = [0u8; 2];
            log.borrow_mut()
                .push(format!("{:?}", sys.safecopy_from(m_ep, g, 3, &mut two)));
            log.borrow_mut()
                .push(format!("{:?}", sys.safecopy_to(m_ep, g, 0, b"zz")));
            // The owner's grant itself is not the user's.
            log.borrow_mut().push(format!(
                "{:?}",
                sys.safecopy_from(o, sys::GrantId(og), 0, &mut two)
            ));
        }
    });
    sim.spawn_user("user", user).unwrap();
    sim.run_for(5);
    assert_eq!(
        *mlog.borrow(),
        vec![
            format!("{:?}", Some(Errno::EPERM)),
            format!("{:?}", Some(Errno::EINVAL)),
        ]
    );
    assert_eq!(
        *ulog.borrow(),
        vec![
            format!("{:?}", Ok::<[u8; 4], Errno>(*b"cdef")),
            format!("{:?}", Err::<(), Errno>(Errno::EINVAL)),
            format!("{:?}", Err::<(), Errno>(Errno::EPERM)),
            format!("{:?}", Err::<(), Errno>(Errno::EPERM)),
        ]
    );
}

#[test]
fn ipc_privileges_allow_replies_but_not_other_targets() {
    seeded("privileges", 55, |seed| {
        let mut sim = bare(seed);
        let (sink, slog) = script(|_sys, m, log| {
            if let Some(m) = m
                && !is_notify(&m)
            {
                log.borrow_mut().push(format!("{:x}", m.mtype()));
            }
        });
        let sink_ep = sim.spawn_user("sink", sink).unwrap();
        let (limited, llog) = script(move |sys, m, log| {
            if let Some(m) = m
                && m.mtype() == 0x7200
            {
                log.borrow_mut()
                    .push(format!("{:?}", sys.send(sink_ep, Message::new(0x7201))));
                log.borrow_mut()
                    .push(format!("{:?}", sys.send(m.source(), Message::new(0x7202))));
            }
        });
        let lim = sim
            .spawn_user_with(
                "limited",
                limited,
                Privileges {
                    process_mgmt: false,
                    ipc: IpcTargets::Labels(vec!["other".into()]),
                    hardware: false,
                },
            )
            .unwrap();
        let r = sim.call(lim, Message::new(0x7200)).unwrap();
        assert_eq!(r.mtype(), 0x7202, "a reply to the requester is allowed");
        assert_eq!(
            *llog.borrow(),
            vec!["Err(EPERM)".to_string(), "Ok(())".to_string()]
        );
        assert!(slog.borrow().is_empty());
    });
}

#[test]
fn alarms_notify_coalescing_and_receive_from() {
    seeded("alarms", 56, |seed| {
        let mut sim = bare(seed);
        let (p, log) = script(|sys, m, log| match m {
            None => {
                sys.set_alarm(50);
                sys.set_alarm(20); // replaces the first
            }
            Some(m) if m.source() == Endpoint::CLOCK => {
                log.borrow_mut().push(format!("alarm at {}", sys.now()));
                let me = sys.self_endpoint();
                // Three notifies to ourselves coalesce into one.
                for _ in 0..3 {
                    sys.notify(me).unwrap();
                }
                // receive(from) picks the queued notify from ourselves.
                let r = sys.receive(me).map(|m| (m.source() == me, is_notify(&m)));
                log.borrow_mut().push(format!("{r:?}"));
            }
            Some(m) if is_notify(&m) => log.borrow_mut().push("extra notify".into()),
            Some(_) => {}
        });
        sim.spawn_user("p", p).unwrap();
        sim.run_for(100);
        assert_eq!(
            *log.borrow(),
            vec!["alarm at 20".to_string(), "Ok((true, true))".to_string()]
        );
    });
}

#[test]
fn sigterm_exit_is_reported_as_exit_not_crash() {
    seeded("exit", 57, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![ds_service(), service("echo", "echo", Policy::Restart, HZ)],
        );
        let ep = sim.endpoint_of("echo").unwrap();
        // Ask RS to stop echo, but it dies on its own first: that is a stop, not a crash.
        sim.service_request(sys::proto::service::ServiceRequest::Down {
            id: 1,
            label: "echo".into(),
        })
        .unwrap();
        assert!(sim.trace().iter().any(|e| matches!(e, Event::Died { ep: e2, cause: sys::proto::kernel::Cause::Exit(0), .. } if *e2 == ep)));
        assert!(sim.crash_records("echo").is_empty());
    });
}

#[test]
fn rs_death_is_a_system_failure() {
    seeded("rs-death", 58, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![ds_service(), service("echo", "echo", Policy::Restart, HZ)],
        );
        // The injector never picks RS.
        assert!(!sim.crash_now("rs"));
        assert!(!sim.hang_now("rs"));
        let (killer, klog) = script(|sys, m, log| {
            if m.is_none() {
                log.borrow_mut()
                    .push(format!("{:?}", sys.kill(Endpoint::RS)));
            }
        });
        let privileged = Privileges {
            process_mgmt: true,
            ipc: IpcTargets::Any,
            hardware: false,
        };
        sim.spawn_user_with("killer", killer, privileged).unwrap();
        assert_eq!(*klog.borrow(), vec!["Ok(())".to_string()]);
        assert!(sim.fatal().unwrap_or("").contains("RS died"));
        assert!(!sim.step(), "the run stops");
        // Without the privilege, kill is refused.
        let (k2, k2log) = script(|sys, m, log| {
            if m.is_none() {
                log.borrow_mut()
                    .push(format!("{:?}", sys.kill(Endpoint::DS)));
            }
        });
        sim.spawn_user("k2", k2).unwrap();
        assert_eq!(*k2log.borrow(), vec!["Err(EPERM)".to_string()]);
    });
}
