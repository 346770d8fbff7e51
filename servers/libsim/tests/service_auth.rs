//! Who may use the `service` verbs: RS asks PM (`PmCall::GetCred`) about a
//! caller that is not one of its services and serves root (euid 0) and
//! senders PM does not know, refuses other users with `EPERM`, answers
//! `EAGAIN` when PM dies before it answers, and keeps working while it
//! waits. PM here is a fake labelled `pm` in RS's table whose answers the
//! test sets; the caller is the simulator's harness.

mod common;

use common::*;
use rs::{Rs, RsConfig};
use sim::system::{ds_service, register_programs, service};
use sim::{Sim, SimConfig, seeded};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use sys::proto::pm::{PmCall, PmReply};
use sys::proto::service::{
    Policy, RunState, ServiceEntry, ServiceListReply, ServiceReply, ServiceRequest,
};
use sys::{Ctx, Endpoint, Errno, HZ, InitInfo, Message, Sef, Service, StateStore};

/// What the fake PM knows and does.
#[derive(Default)]
struct Creds {
    /// Endpoint -> euid of the user processes it knows.
    euid: BTreeMap<u32, u32>,
    /// Keep GetCred questions unanswered until any other message arrives.
    hold: bool,
    held: Vec<(u64, u32)>,
    /// Panic when asked.
    crash_on_ask: bool,
    /// GetCred questions received.
    asked: u32,
}

impl Creds {
    fn answer(&self, id: u64, ep: u32) -> Message {
        match self.euid.get(&ep) {
            Some(&e) => PmReply::with_extra(id, 42, [1000, i64::from(e), 5, 5]),
            None => PmReply::error(id, Errno::ESRCH),
        }
        .to_message()
    }
}

struct FakePm(Rc<RefCell<Creds>>);

impl Service for FakePm {
    fn init(&mut self, _cx: &mut Ctx<'_>, _info: InitInfo) -> Result<(), Errno> {
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        let mut c = self.0.borrow_mut();
        if let Ok(PmCall::GetCred { id, ep }) = PmCall::try_from(&msg) {
            assert_eq!(msg.source(), Endpoint::RS, "only RS asks");
            c.asked += 1;
            if c.crash_on_ask {
                cx.sys.panic("fake pm: asked");
                return None;
            }
            if c.hold {
                c.held.push((id, ep));
                return None;
            }
            return Some(c.answer(id, ep));
        }
        // Anything else releases the held questions.
        for (id, ep) in std::mem::take(&mut c.held) {
            let _ = cx.sys.send(Endpoint::RS, c.answer(id, ep));
        }
        None
    }
}

/// DS, echo and the fake PM under RS; the harness's euid is `harness_euid`
/// (`None`: PM does not know it).
fn boot(seed: u64, harness_euid: Option<u32>) -> (Sim, Rc<RefCell<Creds>>) {
    let mut sim = Sim::new(SimConfig::new(seed));
    register_programs(&mut sim);
    let creds = Rc::new(RefCell::new(Creds::default()));
    if let Some(e) = harness_euid {
        creds.borrow_mut().euid.insert(sim.harness().0, e);
    }
    let c = creds.clone();
    sim.register("fakepm", move || {
        Box::new(Sef::new(FakePm(c.clone()), StateStore::None))
    });
    let table = vec![
        ds_service(),
        service("echo", "echo", Policy::Restart, HZ),
        service(rs::PM_LABEL, "fakepm", Policy::Restart, HZ),
    ];
    let started = sim.start_rs(Box::new(Rs::new(RsConfig::with_table(table))));
    assert!(started.is_ok(), "{started:?}");
    assert!(sim.run_until(100 * HZ, |s| {
        s.with_process::<Rs, _>("rs", |rs| rs.booted())
            .unwrap_or(false)
    }));
    (sim, creds)
}

fn status(sim: &mut Sim, label: &str) -> Result<RunState, Errno> {
    sim.service_request(ServiceRequest::Status {
        id: 7,
        label: label.into(),
    })
    .map(|s| s.state)
}

fn list_entry(sim: &mut Sim, index: u32) -> Result<ServiceEntry, Errno> {
    let m = ServiceRequest::List { id: 8, index }.to_message()?;
    let r = sim.call(Endpoint::RS, m)?;
    ServiceListReply::try_from(&r)?.result
}

fn pending(sim: &Sim) -> usize {
    sim.with_process::<Rs, _>("rs", |rs| rs.pending_cred_checks())
        .unwrap()
}

#[test]
fn root_is_served_after_pm_vouches() {
    seeded("svc-auth-root", 61, |seed| {
        let (mut sim, creds) = boot(seed, Some(0));
        assert_eq!(status(&mut sim, "echo"), Ok(RunState::Running));
        assert_eq!(creds.borrow().asked, 1, "RS asked PM once");
        // The verbs work, late replies included: fi, then refresh.
        sim.service_request(ServiceRequest::Fi {
            id: 1,
            label: "echo".into(),
        })
        .unwrap();
        assert!(wait_running(&mut sim, "echo", 1, 10 * HZ));
        let st = sim
            .service_request(ServiceRequest::Refresh {
                id: 2,
                label: "echo".into(),
            })
            .unwrap();
        assert_eq!((st.state, st.restarts), (RunState::Running, 2));
        // list walks the table in order and ends with ESRCH.
        let labels: Vec<(String, String)> = (0..3)
            .map(|i| {
                let e = list_entry(&mut sim, i).unwrap();
                assert_eq!(e.status.state, RunState::Running);
                (e.label, e.program)
            })
            .collect();
        assert_eq!(
            labels,
            [("ds", "ds"), ("echo", "echo"), ("pm", "fakepm")]
                .map(|(l, p)| (l.to_string(), p.to_string()))
        );
        assert_eq!(list_entry(&mut sim, 3), Err(Errno::ESRCH));
        assert_eq!(list_entry(&mut sim, u32::MAX), Err(Errno::ESRCH));
        assert_eq!(
            list_entry(&mut sim, 1).unwrap().status,
            sim.service_request(ServiceRequest::Status {
                id: 3,
                label: "echo".into()
            })
            .unwrap()
        );
        assert_eq!(pending(&sim), 0);
    });
}

#[test]
fn a_user_that_is_not_root_gets_eperm_and_changes_nothing() {
    seeded("svc-auth-user", 62, |seed| {
        let (mut sim, creds) = boot(seed, Some(1000));
        let before = sim.rs_service("echo").unwrap();
        for req in [
            ServiceRequest::Fi {
                id: 1,
                label: "echo".into(),
            },
            ServiceRequest::Down {
                id: 2,
                label: "echo".into(),
            },
            ServiceRequest::Refresh {
                id: 3,
                label: "echo".into(),
            },
            ServiceRequest::Up {
                id: 4,
                label: "echo2".into(),
                program: "echo".into(),
                policy: Policy::Restart,
                period: HZ as u32,
                flags: 0,
            },
            ServiceRequest::Status {
                id: 5,
                label: "nosuch".into(),
            },
        ] {
            assert_eq!(
                sim.service_request(req.clone()),
                Err(Errno::EPERM),
                "{req:?}"
            );
        }
        // list's refusal comes in list's reply type.
        assert_eq!(list_entry(&mut sim, 0), Err(Errno::EPERM));
        assert_eq!(creds.borrow().asked, 6);
        sim.run_for(5 * HZ);
        let after = sim.rs_service("echo").unwrap();
        assert_eq!(
            (after.state, after.restarts, after.endpoint),
            (RunState::Running, before.restarts, before.endpoint)
        );
        assert!(sim.rs_service("echo2").is_none(), "nothing started");
        assert!(sim.crash_records("echo").is_empty());
        // Root again (seteuid 0): served.
        creds.borrow_mut().euid.insert(sim.harness().0, 0);
        assert_eq!(status(&mut sim, "echo"), Ok(RunState::Running));
    });
}

#[test]
fn a_sender_pm_does_not_know_is_served_and_so_is_everyone_without_pm() {
    seeded("svc-auth-unknown", 63, |seed| {
        let (mut sim, creds) = boot(seed, None);
        assert_eq!(status(&mut sim, "echo"), Ok(RunState::Running));
        assert_eq!(status(&mut sim, "nosuch"), Err(Errno::ESRCH));
        assert_eq!(creds.borrow().asked, 2);
        // PM taken down: nobody to ask, so even a known non-root user is
        // served (as before PM existed).
        let st = sim
            .service_request(ServiceRequest::Down {
                id: 1,
                label: "pm".into(),
            })
            .unwrap();
        assert_eq!(st.state, RunState::Down);
        creds.borrow_mut().euid.insert(sim.harness().0, 1000);
        assert_eq!(status(&mut sim, "echo"), Ok(RunState::Running));
        assert_eq!(creds.borrow().asked, 3, "not asked while down");
        // Back up: asked again, and refused.
        sim.service_request(ServiceRequest::Restart {
            id: 2,
            label: "pm".into(),
        })
        .unwrap();
        assert_eq!(status(&mut sim, "echo"), Err(Errno::EPERM));
        assert_eq!(creds.borrow().asked, 4);
    });
}

#[test]
fn pm_dying_before_it_answers_is_eagain_and_rs_recovers() {
    seeded("svc-auth-pm-dies", 64, |seed| {
        let (mut sim, creds) = boot(seed, Some(0));
        creds.borrow_mut().crash_on_ask = true;
        assert_eq!(status(&mut sim, "echo"), Err(Errno::EAGAIN));
        assert_eq!(pending(&sim), 0);
        creds.borrow_mut().crash_on_ask = false;
        assert!(wait_running(&mut sim, "pm", 1, 10 * HZ), "PM restarted");
        assert_eq!(status(&mut sim, "echo"), Ok(RunState::Running));
    });
}

#[test]
fn rs_keeps_supervising_while_pm_has_not_answered() {
    seeded("svc-auth-async", 65, |seed| {
        let (mut sim, creds) = boot(seed, Some(0));
        creds.borrow_mut().hold = true;
        let req = ServiceRequest::Status {
            id: 99,
            label: "echo".into(),
        };
        sim.send_request(Endpoint::RS, req.to_message().unwrap())
            .unwrap();
        sim.run_for(2 * HZ);
        assert_eq!(pending(&sim), 1, "waiting for PM");
        assert!(sim.harness_inbox().is_empty(), "not answered yet");
        // RS is not blocked: a crash is noticed and restarted meanwhile.
        assert!(sim.crash_now("echo"));
        assert!(wait_running(&mut sim, "echo", 1, 10 * HZ));
        assert_eq!(pending(&sim), 1);
        // PM answers: the caller gets its reply.
        let pm = sim.endpoint_of("pm").unwrap();
        sim.send_plain(pm, Message::new(1)).unwrap();
        let r = sim.wait_reply(Endpoint::RS, 99).unwrap();
        let st = ServiceReply::try_from(&r).unwrap().result.unwrap();
        assert_eq!((st.state, st.restarts), (RunState::Running, 1));
        assert_eq!(pending(&sim), 0);
    });
}
