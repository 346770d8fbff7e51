//! The memory driver in the simulator, under RS: RAM-disk reads and writes
//! (plain, vectored, clipped at the end of the disk), the size, the
//! restart rule (a new instance answers ERESTART until reopened, and the
//! disk's bytes survive the crash), /dev/null and /dev/zero, and malformed
//! or unknown requests.

use memory::{Disk, Memory, NULL_MINOR, ZERO_MINOR};
use sim::system::{boot_rs, ds_service, register_programs, service};
use sim::{Sim, SimConfig};
use std::cell::RefCell;
use std::rc::Rc;
use sys::proto::bdev::{BdevReply, BdevRequest, IoVec, access};
use sys::proto::cdev::{CdevReply, CdevRequest, sel};
use sys::proto::service::Policy;
use sys::{Endpoint, Errno, GrantAccess, HZ, Message, Sef, StateStore};
use zerocopy::IntoBytes;

/// A disk shared by every instance, as the mapped module is natively.
#[derive(Clone)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Disk for Shared {
    fn len(&self) -> usize {
        self.0.borrow().len()
    }
    fn with_bytes<R>(&mut self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }
}

/// 10 000 bytes: not a multiple of any block size.
const SIZE: usize = 10_000;

fn setup() -> (Sim, Endpoint, Shared) {
    let disk = Shared(Rc::new(RefCell::new(
        (0..SIZE).map(|i| (i % 251) as u8).collect(),
    )));
    let mut sim = Sim::new(SimConfig::new(7));
    register_programs(&mut sim);
    let d = disk.clone();
    let instance = Rc::new(RefCell::new(0u64));
    sim.register("memory", move || {
        *instance.borrow_mut() += 1;
        let n = *instance.borrow();
        Box::new(Sef::new(Memory::new(d.clone(), n), StateStore::None))
    });
    let table = vec![
        ds_service(),
        service("memory", "memory", Policy::Restart, HZ),
    ];
    boot_rs(&mut sim, rs::RsConfig::with_table(table));
    let ep = sim.endpoint_of("memory").unwrap();
    (sim, ep, disk)
}

fn bcall(sim: &mut Sim, ep: Endpoint, req: BdevRequest) -> (u64, Result<u64, Errno>) {
    let r = BdevReply::try_from(&sim.call(ep, req.to_message()).unwrap()).unwrap();
    assert_eq!(r.id, req.id());
    (r.instance, r.result)
}

fn read(sim: &mut Sim, ep: Endpoint, pos: u64, len: usize) -> (Result<u64, Errno>, Vec<u8>) {
    let g = sim
        .harness_grant(ep, GrantAccess::WRITE, vec![0; len])
        .unwrap();
    let req = BdevRequest::Read {
        id: 10,
        minor: 0,
        pos,
        grant: g,
        len: len as u32,
    };
    let (_, r) = bcall(sim, ep, req);
    (r, sim.harness_revoke(g).unwrap())
}

fn open(sim: &mut Sim, ep: Endpoint) -> Result<u64, Errno> {
    bcall(
        sim,
        ep,
        BdevRequest::Open {
            id: 1,
            minor: 0,
            access: access::READ | access::WRITE,
        },
    )
    .1
}

#[test]
fn ramdisk_reads_writes_and_clips_at_the_end() {
    let (mut sim, ep, disk) = setup();
    // Not open yet with this instance: must reopen.
    assert_eq!(read(&mut sim, ep, 0, 16).0, Err(Errno::ERESTART));
    assert_eq!(open(&mut sim, ep), Ok(0));
    assert_eq!(
        bcall(&mut sim, ep, BdevRequest::Size { id: 2, minor: 0 }).1,
        Ok(SIZE as u64)
    );
    let (r, data) = read(&mut sim, ep, 100, 50);
    assert_eq!(r, Ok(50));
    assert_eq!(
        data,
        (100..150).map(|i| (i % 251) as u8).collect::<Vec<_>>()
    );
    // Across the end: the bytes up to it; at the end: nothing.
    assert_eq!(read(&mut sim, ep, SIZE as u64 - 10, 4096).0, Ok(10));
    assert_eq!(read(&mut sim, ep, SIZE as u64, 4096).0, Ok(0));
    // A write, then a vectored write of two segments, read back on the disk.
    let g = sim
        .harness_grant(ep, GrantAccess::READ, vec![0xAB; 20])
        .unwrap();
    let w = BdevRequest::Write {
        id: 3,
        minor: 0,
        pos: 5,
        grant: g,
        len: 20,
    };
    assert_eq!(bcall(&mut sim, ep, w).1, Ok(20));
    sim.harness_revoke(g).unwrap();
    let a = sim
        .harness_grant(ep, GrantAccess::READ, vec![1; 8])
        .unwrap();
    let b = sim
        .harness_grant(ep, GrantAccess::READ, vec![2; 8])
        .unwrap();
    let vec: Vec<u8> = [IoVec::new(a, 8), IoVec::new(b, 8)]
        .iter()
        .flat_map(|v| v.as_bytes().to_vec())
        .collect();
    let iv = sim.harness_grant(ep, GrantAccess::READ, vec).unwrap();
    let sc = BdevRequest::Scatter {
        id: 4,
        minor: 0,
        pos: SIZE as u64 - 12,
        iovec: iv,
        count: 2,
    };
    // Clipped: 8 + 4 bytes fit before the end.
    assert_eq!(bcall(&mut sim, ep, sc).1, Ok(12));
    let bytes = disk.0.borrow().clone();
    assert_eq!(&bytes[5..25], &[0xAB; 20]);
    assert_eq!(&bytes[SIZE - 12..SIZE - 4], &[1; 8]);
    assert_eq!(&bytes[SIZE - 4..], &[2; 4]);
    assert_eq!(bytes[4], 4, "byte before the write untouched");
}

#[test]
fn a_crashed_driver_comes_back_with_the_same_disk_and_asks_for_a_reopen() {
    let (mut sim, ep, _disk) = setup();
    assert_eq!(open(&mut sim, ep), Ok(0));
    let g = sim
        .harness_grant(ep, GrantAccess::READ, vec![0x5A; 64])
        .unwrap();
    let w = BdevRequest::Write {
        id: 3,
        minor: 0,
        pos: 1000,
        grant: g,
        len: 64,
    };
    let (before, r) = bcall(&mut sim, ep, w);
    assert_eq!(r, Ok(64));
    sim.harness_revoke(g).unwrap();
    assert!(sim.crash_now("memory"));
    let ok = sim.run_until(sim.now() + 10 * HZ, |s| {
        s.with_process::<rs::Rs, _>("rs", |rs| {
            rs.service("memory").is_some_and(|i| {
                i.restarts >= 1 && i.state == sys::proto::service::RunState::Running
            })
        })
        .unwrap_or(false)
    });
    assert!(ok, "RS restarted the driver");
    let (instance, r) = bcall(&mut sim, ep, BdevRequest::Size { id: 5, minor: 0 });
    assert_eq!(r, Err(Errno::ERESTART), "the new instance wants a reopen");
    assert_ne!(instance, before, "a new instance says so");
    assert_eq!(open(&mut sim, ep), Ok(0));
    let (r, data) = read(&mut sim, ep, 1000, 64);
    assert_eq!(r, Ok(64));
    assert_eq!(data, vec![0x5A; 64], "the disk survived the crash");
}

fn cdone(m: Message) -> Result<u32, Errno> {
    match CdevReply::try_from(&m).unwrap() {
        CdevReply::Done { result, .. } => result,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn null_and_zero() {
    let (mut sim, ep, _) = setup();
    let g = sim
        .harness_grant(ep, GrantAccess::WRITE, vec![7; 300])
        .unwrap();
    let rd = |minor| CdevRequest::Read {
        id: 9,
        minor,
        grant: g,
        size: 300,
        nonblock: false,
    };
    assert_eq!(
        cdone(sim.call(ep, rd(NULL_MINOR).to_message()).unwrap()),
        Ok(0)
    );
    assert_eq!(
        sim.harness_revoke(g).unwrap(),
        vec![7; 300],
        "null reads nothing"
    );
    let g = sim
        .harness_grant(ep, GrantAccess::WRITE, vec![7; 300])
        .unwrap();
    let rd = CdevRequest::Read {
        id: 9,
        minor: ZERO_MINOR,
        grant: g,
        size: 300,
        nonblock: false,
    };
    assert_eq!(cdone(sim.call(ep, rd.to_message()).unwrap()), Ok(300));
    assert_eq!(
        sim.harness_revoke(g).unwrap(),
        vec![0; 300],
        "zero reads zeros"
    );
    let g = sim
        .harness_grant(ep, GrantAccess::READ, vec![1; 50])
        .unwrap();
    let wr = CdevRequest::Write {
        id: 11,
        minor: NULL_MINOR,
        grant: g,
        size: 50,
        nonblock: false,
    };
    assert_eq!(cdone(sim.call(ep, wr.to_message()).unwrap()), Ok(50));
    let sl = CdevRequest::Select {
        id: 12,
        minor: ZERO_MINOR,
        ops: sel::READ | sel::WRITE | sel::EXCEPT,
        notify: false,
    };
    match CdevReply::try_from(&sim.call(ep, sl.to_message()).unwrap()).unwrap() {
        CdevReply::Select { result, .. } => assert_eq!(result, Ok(sel::READ | sel::WRITE)),
        other => panic!("unexpected {other:?}"),
    }
    let op = CdevRequest::Open {
        id: 13,
        minor: 4,
        access: 1,
    };
    assert_eq!(
        cdone(sim.call(ep, op.to_message()).unwrap()),
        Err(Errno::ENXIO)
    );
}

#[test]
fn unknown_and_malformed_requests_get_errors_and_the_driver_lives_on() {
    let (mut sim, ep, _) = setup();
    let mut m = Message::new(0x9ff);
    m.payload_mut()[..8].copy_from_slice(&77u64.to_le_bytes());
    let r = sim.call(ep, m).unwrap();
    assert_eq!(BdevReply::try_from(&r).unwrap().result, Err(Errno::ENOSYS));
    // A read with a grant the driver may not use: EPERM-like, no crash.
    let bad = BdevRequest::Read {
        id: 78,
        minor: 0,
        pos: 0,
        grant: sys::GrantId(4242),
        len: 16,
    };
    assert_eq!(open(&mut sim, ep), Ok(0));
    assert!(bcall(&mut sim, ep, bad).1.is_err());
    assert_eq!(
        bcall(
            &mut sim,
            ep,
            BdevRequest::Open {
                id: 79,
                minor: 1,
                access: 1
            }
        )
        .1,
        Err(Errno::ENXIO)
    );
    // Still serving.
    assert_eq!(read(&mut sim, ep, 0, 8).0, Ok(8));
}
