//! RS supervision: heartbeats, back-off, and the `service` verbs.

mod common;

use common::*;
use rs::CrashCause;
use sim::system::{boot, ds_service, service};
use sim::{Event, SimConfig, seeded};
use sys::proto::service::{Policy, RunState, ServiceRequest};
use sys::{Errno, HZ};

#[test]
fn hung_service_is_killed_after_two_periods_and_restarted() {
    seeded("hang", 21, |seed| {
        let period = 2 * HZ;
        let mut sim = boot(
            SimConfig::new(seed),
            vec![
                ds_service(),
                service("echo", "echo", Policy::Restart, period),
            ],
        );
        sim.run_for(5 * HZ);
        let pre = sim.rs_service("echo").unwrap();
        assert!(pre.pings_sent > 0, "pings are sent");
        assert!(sim.hang_now("echo"));
        let hung_at = sim.now();
        assert!(wait_running(&mut sim, "echo", 1, 20 * HZ));
        let recs = sim.crash_records("echo");
        assert_eq!(recs.len(), 1);
        let r = &recs[0];
        assert_eq!(r.cause, CrashCause::NoPingReply);
        // Killed once no ping reply came for more than two periods, at the
        // first RS tick (1 s) after that.
        let silent = r.time - r.last_alive;
        assert!(
            silent > 2 * period && silent <= 2 * period + HZ,
            "silent for {silent} ticks"
        );
        assert!(r.last_alive <= hung_at);
        assert!(
            r.time >= hung_at + period,
            "not killed before a full ping period passed"
        );
        let post = sim.rs_service("echo").unwrap();
        assert_eq!(post.endpoint, pre.endpoint);
        echo(&mut sim, post.endpoint, 9).unwrap();
    });
}

#[test]
fn backoff_grows_on_repeated_crashes_and_is_capped() {
    seeded("backoff", 22, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![ds_service(), service("echo", "echo", Policy::Restart, HZ)],
        );
        for n in 1..=7u32 {
            assert!(sim.crash_now("echo"), "crash {n}");
            assert!(wait_running(&mut sim, "echo", n, 100 * HZ), "restart {n}");
        }
        let backoffs: Vec<u64> = sim
            .crash_records("echo")
            .iter()
            .map(|r| r.backoff.unwrap())
            .collect();
        assert_eq!(
            backoffs,
            vec![0, 2 * HZ, 4 * HZ, 8 * HZ, 16 * HZ, 30 * HZ, 30 * HZ]
        );
        // The restarts really waited that long (restart at the first RS tick
        // after the back-off expired).
        let mut died = None;
        let mut gaps = Vec::new();
        for e in sim.trace() {
            match e {
                Event::Died { t, label, .. } if label == "echo" => died = Some(*t),
                Event::Spawn { t, label, .. } if label == "echo" => {
                    if let Some(d) = died.take() {
                        gaps.push(t - d);
                    }
                }
                _ => {}
            }
        }
        assert_eq!(gaps.len(), 7);
        for (g, b) in gaps.iter().zip(&backoffs) {
            assert!(*g >= *b && *g <= *b + HZ, "gap {g} for back-off {b}");
        }
        assert_eq!(sim.rs_service("echo").unwrap().restarts, 7);
    });
}

#[test]
fn controlled_crashes_restart_at_once_without_raising_the_backoff() {
    seeded("backoff-fi", 24, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![ds_service(), service("echo", "echo", Policy::Restart, HZ)],
        );
        for n in 1..=5u32 {
            sim.service_request(ServiceRequest::Fi {
                id: u64::from(n),
                label: "echo".into(),
            })
            .expect("fi accepted");
            assert!(wait_running(&mut sim, "echo", n, 10 * HZ), "restart {n}");
        }
        let backoffs: Vec<u64> = sim
            .crash_records("echo")
            .iter()
            .map(|r| r.backoff.unwrap())
            .collect();
        assert_eq!(
            backoffs,
            vec![0; 5],
            "service fi crashes are not a crash loop"
        );
        // A crash of its own afterwards backs off from level 0 as usual.
        assert!(sim.crash_now("echo"));
        assert!(wait_running(&mut sim, "echo", 6, 100 * HZ));
        let last = sim.crash_records("echo").last().unwrap().backoff;
        assert_eq!(last, Some(0));
        assert!(sim.crash_now("echo"));
        assert!(wait_running(&mut sim, "echo", 7, 100 * HZ));
        let last = sim.crash_records("echo").last().unwrap().backoff;
        assert_eq!(last, Some(2 * HZ));
    });
}

#[test]
fn backoff_level_decays_after_a_stable_period() {
    seeded("backoff-decay", 23, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![ds_service(), service("echo", "echo", Policy::Restart, HZ)],
        );
        for n in 1..=3u32 {
            assert!(sim.crash_now("echo"));
            assert!(wait_running(&mut sim, "echo", n, 100 * HZ));
        }
        sim.run_for((rs::BACKOFF_RESET_TICKS + 1) * HZ);
        assert!(sim.crash_now("echo"));
        assert!(wait_running(&mut sim, "echo", 4, 100 * HZ));
        let last = sim.crash_records("echo").last().unwrap().clone();
        assert_eq!(
            last.backoff,
            Some(0),
            "a service that stayed up restarts at once again"
        );
    });
}

#[test]
fn down_stops_pings_and_restarts_then_restart_brings_it_back() {
    seeded("down", 24, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![ds_service(), service("echo", "echo", Policy::Restart, HZ)],
        );
        sim.run_for(3 * HZ);
        let ep = sim.endpoint_of("echo").unwrap();
        let st = sim
            .service_request(ServiceRequest::Down {
                id: 4,
                label: "echo".into(),
            })
            .unwrap();
        assert_eq!(st.state, RunState::Down);
        assert!(!sim.is_alive("echo"));
        let down_at = sim.now();
        let pings = sim.rs_service("echo").unwrap().pings_sent;
        assert_eq!(
            ds_label(&mut sim, "echo"),
            Err(Errno::ESRCH),
            "label unpublished"
        );
        sim.run_for(60 * HZ);
        let info = sim.rs_service("echo").unwrap();
        assert_eq!(info.state, RunState::Down);
        assert_eq!(info.pings_sent, pings, "no pings after down");
        assert_eq!(info.restarts, 0, "no restarts after down");
        let respawned = sim
            .trace()
            .iter()
            .any(|e| matches!(e, Event::Spawn { t, label, .. } if label == "echo" && *t > down_at));
        assert!(!respawned);
        let pinged = sim
            .trace()
            .iter()
            .any(|e| matches!(e, Event::Deliver { t, dst, src, .. } if *t > down_at && *dst == ep && *src == sys::Endpoint::RS));
        assert!(!pinged);
        assert!(
            sim.crash_records("echo").is_empty(),
            "a down is not a crash"
        );
        // `restart` brings a stopped service back.
        let st = sim
            .service_request(ServiceRequest::Restart {
                id: 5,
                label: "echo".into(),
            })
            .unwrap();
        assert_eq!(st.state, RunState::Running);
        echo(&mut sim, st.endpoint, 1).unwrap();
        assert_eq!(ds_label(&mut sim, "echo"), Ok(st.endpoint));
    });
}

#[test]
fn verbs_up_refresh_update_status_and_errors() {
    seeded("verbs", 25, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![ds_service(), service("echo", "echo", Policy::Restart, HZ)],
        );
        // up a new service
        let up = ServiceRequest::Up {
            id: 1,
            label: "count2".into(),
            program: "counter".into(),
            policy: Policy::Stateful,
            period: HZ as u32,
            flags: 0,
        };
        let st = sim.service_request(up.clone()).unwrap();
        assert_eq!(st.state, RunState::Running);
        assert_eq!(st.policy, Policy::Stateful);
        assert_eq!(ds_label(&mut sim, "count2"), Ok(st.endpoint));
        assert_eq!(sim.service_request(up), Err(Errno::EBUSY));
        assert_eq!(counter_add(&mut sim, "count2", 10), Ok(10));
        // refresh: restart on request
        let st2 = sim
            .service_request(ServiceRequest::Refresh {
                id: 2,
                label: "count2".into(),
            })
            .unwrap();
        assert_eq!(st2.restarts, 1);
        assert_eq!(st2.endpoint, st.endpoint);
        assert_eq!(counter_get(&mut sim, "count2"), Ok(10));
        assert!(
            sim.crash_records("count2").is_empty(),
            "a refresh is not a crash"
        );
        // live update: state handed over, restart count unchanged
        assert_eq!(counter_add(&mut sim, "count2", 5), Ok(15));
        let st3 = sim
            .service_request(ServiceRequest::Update {
                id: 3,
                label: "count2".into(),
                program: "counter".into(),
            })
            .unwrap();
        assert_eq!(st3.restarts, 1);
        assert_eq!(st3.endpoint, st.endpoint);
        assert_eq!(counter_get(&mut sim, "count2"), Ok(15));
        let kind = sim
            .with_process::<sys::Sef<sim::samples::Counter>, _>("count2", |p| {
                p.init_info().map(|i| i.kind)
            })
            .flatten();
        assert_eq!(kind, Some(sys::proto::rs::InitKind::LiveUpdate));
        // errors
        assert_eq!(
            sim.service_request(ServiceRequest::Status {
                id: 4,
                label: "nope".into()
            }),
            Err(Errno::ESRCH)
        );
        assert_eq!(
            sim.service_request(ServiceRequest::Restart {
                id: 5,
                label: "echo".into()
            }),
            Err(Errno::EBUSY)
        );
        assert_eq!(
            sim.service_request(ServiceRequest::Down {
                id: 6,
                label: "nope".into()
            }),
            Err(Errno::ESRCH)
        );
        let bad_up = ServiceRequest::Up {
            id: 7,
            label: "x".into(),
            program: "no-such-program".into(),
            policy: Policy::Restart,
            period: 0,
            flags: 0,
        };
        assert_eq!(sim.service_request(bad_up), Err(Errno::ENOENT));
        let st = sim
            .service_request(ServiceRequest::Status {
                id: 8,
                label: "echo".into(),
            })
            .unwrap();
        assert_eq!(st.state, RunState::Running);
        assert_eq!(Some(st.endpoint), sim.endpoint_of("echo"));
    });
}

#[test]
fn failing_init_is_not_restarted_forever() {
    seeded("init-fail", 26, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![ds_service(), service("echo", "echo", Policy::Restart, HZ)],
        );
        let up = |label: &str, program: &str| ServiceRequest::Up {
            id: 1,
            label: label.into(),
            program: program.into(),
            policy: Policy::Restart,
            period: HZ as u32,
            flags: 0,
        };
        // Init answers an error: killed, recorded, not restarted.
        assert_eq!(
            sim.service_request(up("bad1", "broken_fail")),
            Err(Errno::EGENERIC)
        );
        let recs = sim.crash_records("bad1");
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].cause, CrashCause::InitFailed(Errno::EINVAL));
        assert_eq!(recs[0].backoff, None);
        // Init crashes every time: retried with back-off, then given up.
        assert_eq!(
            sim.service_request(up("bad2", "broken_crash")),
            Err(Errno::EGENERIC)
        );
        let n = sim.crash_records("bad2").len() as u32;
        assert_eq!(n, rs::MAX_INIT_FAILURES + 1);
        sim.run_for(120 * HZ);
        for l in ["bad1", "bad2"] {
            assert_eq!(sim.rs_service(l).unwrap().state, RunState::Down);
            assert!(!sim.is_alive(l));
        }
        assert_eq!(
            sim.crash_records("bad2").len() as u32,
            n,
            "no more restarts"
        );
        assert_eq!(ds_label(&mut sim, "bad2"), Err(Errno::ESRCH));
    });
}

#[test]
fn failed_live_update_rolls_back_with_state() {
    seeded("lu-rollback", 27, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![
                ds_service(),
                service("counter", "counter", Policy::Stateful, HZ),
            ],
        );
        assert_eq!(counter_add(&mut sim, "counter", 21), Ok(21));
        let pre = sim.rs_service("counter").unwrap();
        let r = sim.service_request(ServiceRequest::Update {
            id: 9,
            label: "counter".into(),
            program: "broken_fail".into(),
        });
        assert_eq!(r, Err(Errno::EINVAL));
        assert!(wait_running(&mut sim, "counter", 0, TEN_S));
        let post = sim.rs_service("counter").unwrap();
        assert_eq!(
            post.config.program, "counter",
            "rolled back to the old program"
        );
        assert_eq!(post.endpoint, pre.endpoint);
        assert_eq!(post.restarts, pre.restarts);
        assert_eq!(
            counter_get(&mut sim, "counter"),
            Ok(21),
            "state survived the failed update"
        );
    });
}
