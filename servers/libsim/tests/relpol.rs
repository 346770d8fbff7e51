//! testrelpol-style checks, one per restart policy: after a crash the
//! restart counter is +1 and the endpoint is kept (restart, stateful) or
//! changed (reset); a stateful restart hands the state over intact; a
//! corrupted state blob is refused with a fresh start, not a crash loop.

mod common;

use common::*;
use sim::system::{boot, ds_service, service};
use sim::{SimConfig, seeded};
use sys::proto::ds::DsType;
use sys::proto::rs::InitKind;
use sys::proto::service::{Policy, RunState, ServiceRequest};
use sys::{Endpoint, HZ, Sef};

fn fi(sim: &mut sim::Sim, label: &str) {
    let st = sim
        .service_request(ServiceRequest::Fi {
            id: 1,
            label: label.into(),
        })
        .expect("fi accepted");
    assert_eq!(st.state, RunState::Running);
}

#[test]
fn restart_policy_keeps_endpoint() {
    seeded("relpol-restart", 11, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![ds_service(), service("echo", "echo", Policy::Restart, HZ)],
        );
        let pre = sim.rs_service("echo").unwrap();
        fi(&mut sim, "echo");
        assert!(wait_running(&mut sim, "echo", pre.restarts + 1, TEN_S));
        let post = sim.rs_service("echo").unwrap();
        assert_eq!(post.restarts, pre.restarts + 1);
        assert_eq!(
            post.endpoint, pre.endpoint,
            "restart policy must keep the endpoint"
        );
        assert_eq!(ds_label(&mut sim, "echo"), Ok(pre.endpoint));
        let kind = sim
            .with_process::<Sef<sim::samples::Echo>, _>("echo", |p| p.service().kind)
            .flatten();
        assert_eq!(kind, Some(InitKind::Restart));
        echo(&mut sim, post.endpoint, 77).unwrap();
        let recs = sim.crash_records("echo");
        assert_eq!(recs.len(), 1);
        assert_eq!(
            recs[0].cause,
            rs::CrashCause::Panic,
            "fi is a controlled panic"
        );
        assert_eq!(recs[0].restarts, 0);
    });
}

#[test]
fn reset_policy_changes_endpoint() {
    seeded("relpol-reset", 12, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![ds_service(), service("echo", "echo", Policy::Reset, HZ)],
        );
        let pre = sim.rs_service("echo").unwrap();
        fi(&mut sim, "echo");
        assert!(wait_running(&mut sim, "echo", pre.restarts + 1, TEN_S));
        let post = sim.rs_service("echo").unwrap();
        assert_eq!(post.restarts, pre.restarts + 1);
        assert_ne!(
            post.endpoint, pre.endpoint,
            "reset policy must change the endpoint"
        );
        assert_eq!(
            post.endpoint,
            pre.endpoint.next_generation(),
            "same slot, next generation"
        );
        assert_eq!(
            ds_label(&mut sim, "echo"),
            Ok(post.endpoint),
            "DS has the new endpoint"
        );
        // The old endpoint is dead and the error names the new one.
        assert_eq!(
            echo(&mut sim, pre.endpoint, 1),
            Err(sys::Errno::EDEADSRCDST(Some(post.endpoint)))
        );
        echo(&mut sim, post.endpoint, 2).unwrap();
    });
}

#[test]
fn restart_init_answering_erestart_is_a_reset() {
    seeded("relpol-erestart", 13, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![
                ds_service(),
                service("echo", "echo_reset", Policy::Restart, HZ),
            ],
        );
        let pre = sim.rs_service("echo").unwrap();
        assert!(sim.crash_now("echo"));
        assert!(wait_running(&mut sim, "echo", 1, TEN_S));
        let post = sim.rs_service("echo").unwrap();
        assert_eq!(
            post.restarts, 1,
            "the reset after ERESTART is not counted twice"
        );
        assert_ne!(post.endpoint, pre.endpoint);
        let kind = sim
            .with_process::<Sef<sim::samples::Echo>, _>("echo", |p| p.service().kind)
            .flatten();
        assert_eq!(kind, Some(InitKind::Fresh));
        echo(&mut sim, post.endpoint, 3).unwrap();
    });
}

#[test]
fn stateful_policy_hands_state_over() {
    seeded("relpol-stateful", 14, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![
                ds_service(),
                service("counter", "counter", Policy::Stateful, HZ),
            ],
        );
        let mut expect = 0;
        for d in [5u32, 17, 1000, 3] {
            expect += u64::from(d);
            assert_eq!(counter_add(&mut sim, "counter", d), Ok(expect));
        }
        let pre = sim.rs_service("counter").unwrap();
        fi(&mut sim, "counter");
        assert!(wait_running(&mut sim, "counter", pre.restarts + 1, TEN_S));
        let post = sim.rs_service("counter").unwrap();
        assert_eq!(post.restarts, pre.restarts + 1);
        assert_eq!(post.endpoint, pre.endpoint);
        assert_eq!(post.state_refusals, 0);
        assert_eq!(counter_get(&mut sim, "counter"), Ok(expect), "state intact");
        let restored = sim
            .with_process::<Sef<sim::samples::Counter>, _>("counter", |p| p.service().restored)
            .flatten();
        assert_eq!(restored, Some(expect));
        // And again, with a crash that is not controlled.
        assert_eq!(counter_add(&mut sim, "counter", 1), Ok(expect + 1));
        assert!(sim.crash_now("counter"));
        assert!(wait_running(&mut sim, "counter", pre.restarts + 2, TEN_S));
        assert_eq!(counter_get(&mut sim, "counter"), Ok(expect + 1));
    });
}

#[test]
fn corrupted_state_blob_gives_fresh_start_without_crash_loop() {
    seeded("relpol-corrupt", 15, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![
                ds_service(),
                service("counter", "counter", Policy::Stateful, HZ),
            ],
        );
        assert_eq!(counter_add(&mut sim, "counter", 42), Ok(42));
        // Flip one byte of the saved blob inside DS.
        let flipped = sim
            .with_process_mut::<Sef<ds::Ds>, _>("ds", |d| {
                match d
                    .service_mut()
                    .entry_value_mut("sef.st.counter", DsType::Mem)
                {
                    Some(ds::Value::Mem(m)) => {
                        let last = m.len() - 1;
                        m[last] ^= 0x01;
                        true
                    }
                    _ => false,
                }
            })
            .unwrap_or(false);
        assert!(flipped, "the counter's blob is in DS");
        let pre = sim.rs_service("counter").unwrap();
        fi(&mut sim, "counter");
        assert!(wait_running(&mut sim, "counter", pre.restarts + 1, TEN_S));
        let post = sim.rs_service("counter").unwrap();
        assert_eq!(post.restarts, pre.restarts + 1);
        assert_eq!(
            post.state_refusals, 1,
            "RS learned that the blob was refused"
        );
        let info = sim
            .with_process::<Sef<sim::samples::Counter>, _>("counter", |p| p.init_info().cloned())
            .flatten()
            .unwrap();
        assert!(info.state_refused);
        assert_eq!(info.kind, InitKind::Fresh);
        assert_eq!(counter_get(&mut sim, "counter"), Ok(0), "fresh start");
        // No crash loop: it stays up, answers pings, and works.
        sim.run_for(60 * HZ);
        let later = sim.rs_service("counter").unwrap();
        assert_eq!(later.restarts, post.restarts);
        assert_eq!(later.state, RunState::Running);
        assert_eq!(sim.crash_records("counter").len(), 1);
        assert_eq!(counter_add(&mut sim, "counter", 8), Ok(8));
        assert_eq!(later.endpoint, pre.endpoint);
        assert_ne!(later.endpoint, Endpoint::NONE);
    });
}
