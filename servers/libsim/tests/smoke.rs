use sim::system::{boot, ds_service, service};
use sim::{SimConfig, seeded};
use sys::HZ;
use sys::proto::sample::{SampleReply, SampleRequest};
use sys::proto::service::{Policy, RunState};

#[test]
fn boot_echo_crash_restart() {
    seeded("smoke", 1, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![ds_service(), service("echo", "echo", Policy::Restart, HZ)],
        );
        let ep = sim.endpoint_of("echo").expect("echo up");
        let data = [7u8; 40];
        let r = sim
            .call(ep, SampleRequest::Echo { id: 5, data }.to_message())
            .unwrap();
        assert_eq!(
            SampleReply::try_from(&r).unwrap(),
            SampleReply::Echo { id: 5, data }
        );
        assert!(sim.crash_now("echo"));
        assert!(sim.run_until(10 * HZ, |s| {
            s.rs_service("echo")
                .map(|i| i.state == RunState::Running && i.restarts == 1)
                .unwrap_or(false)
        }));
        assert_eq!(sim.endpoint_of("echo"), Some(ep));
        let r = sim
            .call(ep, SampleRequest::Echo { id: 6, data }.to_message())
            .unwrap();
        assert_eq!(
            SampleReply::try_from(&r).unwrap(),
            SampleReply::Echo { id: 6, data }
        );
    });
}

#[test]
fn trace_tail_lists_recent_events() {
    let mut sim = boot(
        SimConfig::new(2),
        vec![ds_service(), service("echo", "echo", Policy::Restart, HZ)],
    );
    assert!(sim.crash_now("echo"));
    let tail = sim.trace_tail(3);
    assert_eq!(tail.lines().count(), 3);
    assert!(tail.contains("Died"), "{tail}");
    assert!(sim.trace().len() > 3);
}
