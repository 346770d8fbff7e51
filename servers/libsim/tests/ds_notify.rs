//! DS: subscriptions notified of publish / delete and of endpoint changes
//! across restarts (of the publisher, the subscriber, and DS itself); the
//! store survives DS's own restart; identity and permission rules.

mod common;

use common::*;
use sim::samples::Watcher;
use sim::system::{boot, ds_service, service};
use sim::{SimConfig, seeded};
use sys::ds::Change;
use sys::proto::ds::{DsFlags, DsRequest, DsType, PubValue};
use sys::proto::service::{Policy, ServiceRequest};
use sys::{Endpoint, Errno, GrantId, HZ, Sef};

fn seen(sim: &sim::Sim) -> Vec<Change> {
    sim.with_process::<Sef<Watcher>, _>("watcher", |w| {
        w.service().seen.iter().map(|(_, c)| c.clone()).collect()
    })
    .unwrap_or_default()
}

fn table() -> Vec<rs::ServiceConfig> {
    vec![
        ds_service(),
        service("watcher", "watcher", Policy::Restart, HZ),
        service("echo", "echo", Policy::Reset, HZ),
        service("counter", "counter", Policy::Stateful, HZ),
    ]
}

#[test]
fn subscribers_see_publish_delete_and_endpoint_changes() {
    seeded("ds-notify", 31, |seed| {
        let mut sim = boot(SimConfig::new(seed), table());
        sim.run_for(HZ);
        let echo0 = sim.endpoint_of("echo").unwrap();
        // Labels published after the watcher subscribed were reported.
        let s = seen(&sim);
        assert!(
            s.iter().any(|c| c.key == "echo"
                && c.ty == DsType::Label
                && !c.deleted
                && c.value == echo0.0),
            "{s:?}"
        );
        assert!(
            s.iter()
                .any(|c| c.key == "counter" && c.ty == DsType::Label)
        );

        // Publish (a counter saving its state) is reported.
        assert_eq!(counter_add(&mut sim, "counter", 3), Ok(3));
        sim.run_for(HZ);
        assert!(
            seen(&sim)
                .iter()
                .any(|c| c.key == "sef.st.counter" && c.ty == DsType::Mem && !c.deleted)
        );

        // An endpoint change across a reset restart is reported.
        let n = seen(&sim).len();
        assert!(sim.crash_now("echo"));
        assert!(wait_running(&mut sim, "echo", 1, TEN_S));
        sim.run_for(HZ);
        let echo1 = sim.endpoint_of("echo").unwrap();
        assert_ne!(echo1, echo0);
        let after: Vec<Change> = seen(&sim)[n..].to_vec();
        assert!(
            after
                .iter()
                .any(|c| c.key == "echo" && !c.deleted && Endpoint(c.value) == echo1),
            "new endpoint reported: {after:?}"
        );

        // Delete: `down counter` removes its label and everything it owned.
        let n = seen(&sim).len();
        sim.service_request(ServiceRequest::Down {
            id: 1,
            label: "counter".into(),
        })
        .unwrap();
        sim.run_for(HZ);
        let after: Vec<Change> = seen(&sim)[n..].to_vec();
        assert!(
            after
                .iter()
                .any(|c| c.key == "counter" && c.ty == DsType::Label && c.deleted),
            "{after:?}"
        );
        assert!(
            after.iter().any(|c| c.key == "sef.st.counter" && c.deleted),
            "{after:?}"
        );
    });
}

#[test]
fn restarted_subscriber_keeps_its_subscription() {
    seeded("ds-subscriber-restart", 32, |seed| {
        let mut sim = boot(SimConfig::new(seed), table());
        assert!(sim.crash_now("watcher"));
        assert!(wait_running(&mut sim, "watcher", 1, TEN_S));
        let kind = sim
            .with_process::<Sef<Watcher>, _>("watcher", |w| w.init_info().map(|i| i.kind))
            .flatten();
        assert_eq!(
            kind,
            Some(sys::proto::rs::InitKind::Restart),
            "a new instance"
        );
        let before = seen(&sim).len();
        assert!(sim.crash_now("echo"));
        assert!(wait_running(&mut sim, "echo", 1, TEN_S));
        sim.run_for(HZ);
        let echo1 = sim.endpoint_of("echo").unwrap();
        assert!(
            seen(&sim)[before..]
                .iter()
                .any(|c| c.key == "echo" && Endpoint(c.value) == echo1)
        );
    });
}

#[test]
fn ds_keeps_its_store_across_its_own_restart() {
    seeded("ds-restart", 33, |seed| {
        let mut sim = boot(SimConfig::new(seed), table());
        assert_eq!(counter_add(&mut sim, "counter", 11), Ok(11));
        let echo0 = sim.endpoint_of("echo").unwrap();
        let entries = sim
            .with_process::<Sef<ds::Ds>, _>("ds", |d| d.service().store().clone())
            .unwrap();
        assert!(sim.crash_now("ds"));
        assert!(wait_running(&mut sim, "ds", 1, TEN_S));
        let after = sim
            .with_process::<Sef<ds::Ds>, _>("ds", |d| d.service().store().clone())
            .unwrap();
        assert_eq!(after.entries, entries.entries, "entries survive");
        assert_eq!(after.subs, entries.subs, "subscriptions survive");
        assert_eq!(ds_label(&mut sim, "echo"), Ok(echo0));
        // Stateful services still find their state after DS restarted.
        assert!(sim.crash_now("counter"));
        assert!(wait_running(&mut sim, "counter", 1, TEN_S));
        assert_eq!(counter_get(&mut sim, "counter"), Ok(11));
        // And subscribers are still notified.
        let n = seen(&sim).len();
        assert!(sim.crash_now("echo"));
        assert!(wait_running(&mut sim, "echo", 1, TEN_S));
        sim.run_for(HZ);
        let echo1 = sim.endpoint_of("echo").unwrap();
        assert!(
            seen(&sim)[n..]
                .iter()
                .any(|c| c.key == "echo" && Endpoint(c.value) == echo1)
        );
    });
}

#[test]
fn identity_permissions_and_lookups() {
    seeded("ds-perm", 34, |seed| {
        let mut sim = boot(SimConfig::new(seed), table());
        let echo = sim.endpoint_of("echo").unwrap();
        // The harness has no label: it may read but not publish or delete.
        let publish = DsRequest::Publish {
            id: 1,
            key: "x".into(),
            value: PubValue::U32(1),
            flags: DsFlags::NONE,
        };
        assert_eq!(ds_call(&mut sim, publish), Err(Errno::EPERM));
        let del = DsRequest::Delete {
            id: 2,
            key: "echo".into(),
            ty: DsType::Label,
        };
        assert_eq!(ds_call(&mut sim, del), Err(Errno::EPERM));
        let name = ds_call(
            &mut sim,
            DsRequest::LabelName {
                id: 3,
                endpoint: echo,
            },
        )
        .unwrap();
        assert_eq!(name.key, "echo");
        let missing = DsRequest::Retrieve {
            id: 4,
            key: "nope".into(),
            ty: DsType::U32,
            grant: None,
        };
        assert_eq!(ds_call(&mut sim, missing), Err(Errno::ESRCH));
        // A state blob is owner-only.
        assert_eq!(counter_add(&mut sim, "counter", 1), Ok(1));
        let blob = DsRequest::Retrieve {
            id: 5,
            key: "sef.st.counter".into(),
            ty: DsType::Mem,
            grant: Some((GrantId(1), 64)),
        };
        assert_eq!(ds_call(&mut sim, blob), Err(Errno::EPERM));
        // Unlabelled subscribers work; INITIAL reports current matches.
        let sub = DsRequest::Subscribe {
            id: 6,
            pattern: "ec?o".into(),
            type_mask: 0,
            flags: DsFlags::INITIAL,
        };
        ds_call(&mut sim, sub.clone()).unwrap();
        assert_eq!(ds_call(&mut sim, sub), Err(Errno::EEXIST));
        let c = ds_call(&mut sim, DsRequest::Check { id: 7 }).unwrap();
        assert_eq!(
            (c.key.as_str(), c.ty, c.deleted, c.value),
            ("echo", Some(DsType::Label), false, echo.0)
        );
        assert_eq!(
            ds_call(&mut sim, DsRequest::Check { id: 8 }),
            Err(Errno::ENOENT)
        );
        // The harness received DS's notification.
        assert!(
            sim.harness_inbox()
                .iter()
                .any(|m| m.source() == Endpoint::DS)
        );
    });
}
