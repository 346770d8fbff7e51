//! The loopback character device under the cdev protocol: blocking and
//! non-blocking reads and writes, suspension and completion, cancel, select
//! with later readiness, and a driver crash while a read is suspended.

mod common;

use common::*;
use sim::system::{boot, ds_service, service};
use sim::{Sim, SimConfig, seeded};
use sys::proto::cdev::{CdevReply, CdevRequest, sel};
use sys::proto::service::Policy;
use sys::{Endpoint, Errno, GrantAccess, HZ, Message};

fn setup(seed: u64) -> (Sim, Endpoint) {
    let sim = boot(
        SimConfig::new(seed),
        vec![ds_service(), service("tty", "loopdev", Policy::Restart, HZ)],
    );
    let ep = sim.endpoint_of("tty").unwrap();
    (sim, ep)
}

fn done(m: Result<Message, Errno>) -> Result<u32, Errno> {
    match CdevReply::try_from(&m?)? {
        CdevReply::Done { result, .. } => result,
        other => panic!("unexpected {other:?}"),
    }
}

fn write(sim: &mut Sim, ep: Endpoint, id: u64, data: &[u8], nonblock: bool) -> Result<u32, Errno> {
    let g = sim
        .harness_grant(ep, GrantAccess::READ, data.to_vec())
        .unwrap();
    let r = done(
        sim.call(
            ep,
            CdevRequest::Write {
                id,
                minor: 0,
                grant: g,
                size: data.len() as u32,
                nonblock,
            }
            .to_message(),
        ),
    );
    sim.harness_revoke(g).unwrap();
    r
}

#[test]
fn read_write_nonblock_and_suspension() {
    seeded("cdev-rw", 71, |seed| {
        let (mut sim, ep) = setup(seed);
        assert_eq!(
            done(
                sim.call(
                    ep,
                    CdevRequest::Open {
                        id: 1,
                        minor: 0,
                        access: 3
                    }
                    .to_message()
                )
            ),
            Ok(0)
        );
        assert_eq!(
            done(
                sim.call(
                    ep,
                    CdevRequest::Open {
                        id: 2,
                        minor: 5,
                        access: 3
                    }
                    .to_message()
                )
            ),
            Err(Errno::ENXIO)
        );
        // Non-blocking read of an empty FIFO.
        let g = sim
            .harness_grant(ep, GrantAccess::WRITE, vec![0; 16])
            .unwrap();
        let rd = |id, nonblock| {
            CdevRequest::Read {
                id,
                minor: 0,
                grant: g,
                size: 16,
                nonblock,
            }
            .to_message()
        };
        assert_eq!(done(sim.call(ep, rd(3, true))), Err(Errno::EAGAIN));
        // A blocking read is suspended, then completed by a write.
        sim.send_request(ep, rd(4, false)).unwrap();
        sim.run_for(HZ);
        assert!(
            sim.harness_inbox().iter().all(|m| m.request_id() != 4),
            "read must wait"
        );
        assert_eq!(write(&mut sim, ep, 5, b"hello", false), Ok(5));
        assert_eq!(done(sim.wait_reply(ep, 4)), Ok(5));
        assert_eq!(&sim.harness_revoke(g).unwrap()[..5], b"hello");
        // A write to a full FIFO: partial, then EAGAIN / suspended.
        assert_eq!(write(&mut sim, ep, 6, &[7u8; 100], true), Ok(64));
        assert_eq!(write(&mut sim, ep, 7, b"x", true), Err(Errno::EAGAIN));
        let wg = sim
            .harness_grant(ep, GrantAccess::READ, b"late".to_vec())
            .unwrap();
        sim.send_request(
            ep,
            CdevRequest::Write {
                id: 8,
                minor: 0,
                grant: wg,
                size: 4,
                nonblock: false,
            }
            .to_message(),
        )
        .unwrap();
        sim.run_for(HZ);
        let rg = sim
            .harness_grant(ep, GrantAccess::WRITE, vec![0; 64])
            .unwrap();
        assert_eq!(
            done(
                sim.call(
                    ep,
                    CdevRequest::Read {
                        id: 9,
                        minor: 0,
                        grant: rg,
                        size: 64,
                        nonblock: true
                    }
                    .to_message()
                )
            ),
            Ok(64)
        );
        assert_eq!(
            done(sim.wait_reply(ep, 8)),
            Ok(4),
            "the suspended write completed"
        );
        assert_eq!(sim.harness_revoke(rg).unwrap(), vec![7u8; 64]);
    });
}

#[test]
fn cancel_and_select() {
    seeded("cdev-select", 72, |seed| {
        let (mut sim, ep) = setup(seed);
        let g = sim
            .harness_grant(ep, GrantAccess::WRITE, vec![0; 8])
            .unwrap();
        sim.send_request(
            ep,
            CdevRequest::Read {
                id: 10,
                minor: 0,
                grant: g,
                size: 8,
                nonblock: false,
            }
            .to_message(),
        )
        .unwrap();
        sim.run_for(10);
        sim.send_plain(ep, CdevRequest::Cancel { id: 10, minor: 0 }.to_message())
            .unwrap();
        assert_eq!(done(sim.wait_reply(ep, 10)), Err(Errno::EINTR));
        // Select: writable now, readable later.
        let sel_req = CdevRequest::Select {
            id: 11,
            minor: 0,
            ops: sel::READ | sel::WRITE,
            notify: true,
        };
        let r = CdevReply::try_from(&sim.call(ep, sel_req.to_message()).unwrap()).unwrap();
        assert_eq!(
            r,
            CdevReply::Select {
                id: 11,
                minor: 0,
                result: Ok(sel::WRITE)
            }
        );
        let sel_read = CdevRequest::Select {
            id: 12,
            minor: 0,
            ops: sel::READ,
            notify: true,
        };
        let r = CdevReply::try_from(&sim.call(ep, sel_read.to_message()).unwrap()).unwrap();
        assert_eq!(
            r,
            CdevReply::Select {
                id: 12,
                minor: 0,
                result: Ok(0)
            }
        );
        sim.harness_inbox();
        assert_eq!(write(&mut sim, ep, 13, b"z", false), Ok(1));
        sim.run_for(10);
        let later: Vec<CdevReply> = sim
            .harness_inbox()
            .iter()
            .filter_map(|m| CdevReply::try_from(m).ok())
            .collect();
        assert_eq!(
            later,
            vec![CdevReply::SelectReady {
                minor: 0,
                ops: sel::READ
            }]
        );
    });
}

#[test]
fn driver_crash_bounces_suspended_read_and_driver_comes_back() {
    seeded("cdev-crash", 73, |seed| {
        let (mut sim, ep) = setup(seed);
        let g = sim
            .harness_grant(ep, GrantAccess::WRITE, vec![0; 8])
            .unwrap();
        sim.send_request(
            ep,
            CdevRequest::Read {
                id: 20,
                minor: 0,
                grant: g,
                size: 8,
                nonblock: false,
            }
            .to_message(),
        )
        .unwrap();
        sim.run_for(10);
        assert!(sim.crash_now("tty"));
        assert_eq!(done(sim.wait_reply(ep, 20)), Err(Errno::EDEADSRCDST(None)));
        assert!(wait_running(&mut sim, "tty", 1, TEN_S));
        assert_eq!(
            sim.endpoint_of("tty"),
            Some(ep),
            "restart policy keeps the endpoint"
        );
        assert_eq!(write(&mut sim, ep, 21, b"ok", true), Ok(2));
    });
}
