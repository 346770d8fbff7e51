//! PFS in the simulator: pipe I/O through the server from a client (the
//! sim harness playing VFS), suspended requests answered later, FIFO opens,
//! select and cancel, and crashes: a stateful restart keeps every buffered
//! byte and the suspended requests (re-attached when the client resends);
//! a stateless restart loses the pipes.

use pfs::Access;
use pfs::pipe::{SEL_RD, SEL_WR};
use pfs::proto::{O_NONBLOCK, PipeRequest, S_IFIFO};
use pfs::server::{Config, Pfs};
use rs::{Rs, RsConfig};
use sim::system::{ds_service, register_programs, service};
use sim::{Sim, SimConfig, seeded};
use sys::proto::fs::{Buf, Cred, FsAnswer, FsReply, FsRequest};
use sys::proto::service::{Policy, RunState};
use sys::{Endpoint, Errno, GrantAccess, HZ, Message, Sef};

fn boot(seed: u64, stateful: bool) -> Sim {
    let mut sim = Sim::new(SimConfig::new(seed));
    register_programs(&mut sim);
    let cfg = Config {
        capacity: 1024,
        stateful,
        ..Config::default()
    };
    sim.register("pfs", move || pfs::server::program(cfg));
    let policy = if stateful {
        Policy::Stateful
    } else {
        Policy::Restart
    };
    let table = vec![ds_service(), service("pfs", "pfs", policy, HZ)];
    sim.start_rs(Box::new(Rs::new(RsConfig::with_table(table))))
        .expect("rs starts");
    let booted = sim.run_until(100 * HZ, |s| {
        s.with_process::<Rs, _>("rs", |rs| rs.booted())
            .unwrap_or(false)
    });
    assert!(booted, "boot finished");
    sim
}

/// PFS's endpoint as RS knows it (stable across stateful restarts, known
/// even while PFS is down).
fn pfs_ep(sim: &Sim) -> Endpoint {
    sim.rs_service("pfs").expect("pfs in the table").endpoint
}

fn running(sim: &mut Sim, restarts: u32) -> bool {
    sim.run_until(200 * HZ, |s| {
        s.rs_service("pfs")
            .map(|i| i.state == RunState::Running && i.restarts >= restarts)
            .unwrap_or(false)
    })
}

fn reply(m: Message) -> Result<FsAnswer, Errno> {
    FsReply::try_from(&m)?.result
}

fn call(sim: &mut Sim, m: Message) -> Result<FsAnswer, Errno> {
    let ep = pfs_ep(sim);
    reply(sim.call(ep, m)?)
}

fn new_pipe(sim: &mut Sim, id: u64) -> u32 {
    let m = FsRequest::NewNode {
        id,
        mode: S_IFIFO | 0o600,
        rdev: 0,
        cred: Cred { uid: 7, gid: 8 },
    }
    .to_message();
    match call(sim, m) {
        Ok(FsAnswer::Node(n)) => {
            assert_eq!((n.mode, n.uid, n.gid), (S_IFIFO | 0o600, 7, 8));
            n.ino
        }
        other => panic!("newnode: {other:?}"),
    }
}

fn flags(nonblock: bool) -> u32 {
    if nonblock { O_NONBLOCK } else { 0 }
}

fn write_msg(sim: &mut Sim, id: u64, ino: u32, data: &[u8], nonblock: bool) -> (Message, Buf) {
    let ep = pfs_ep(sim);
    let grant = sim
        .harness_grant(ep, GrantAccess::READ, data.to_vec())
        .expect("grant");
    let buf = Buf {
        grant,
        len: data.len() as u32,
    };
    let m = FsRequest::Write {
        id,
        ino,
        pos: 0,
        buf,
        flags: flags(nonblock),
    }
    .to_message();
    (m, buf)
}

fn read_msg(sim: &mut Sim, id: u64, ino: u32, n: usize, nonblock: bool) -> (Message, Buf) {
    let ep = pfs_ep(sim);
    let grant = sim
        .harness_grant(ep, GrantAccess::WRITE, vec![0; n])
        .expect("grant");
    let buf = Buf {
        grant,
        len: n as u32,
    };
    let m = FsRequest::Read {
        id,
        ino,
        pos: 0,
        buf,
        flags: flags(nonblock),
    }
    .to_message();
    (m, buf)
}

fn count(a: Result<FsAnswer, Errno>) -> Result<usize, Errno> {
    match a? {
        FsAnswer::Count { n, .. } => Ok(n as usize),
        other => panic!("expected a count, got {other:?}"),
    }
}

fn write(sim: &mut Sim, id: u64, ino: u32, data: &[u8], nonblock: bool) -> Result<usize, Errno> {
    let (m, buf) = write_msg(sim, id, ino, data, nonblock);
    let r = call(sim, m);
    sim.harness_revoke(buf.grant).expect("revoke");
    count(r)
}

fn read(sim: &mut Sim, id: u64, ino: u32, n: usize, nonblock: bool) -> Result<Vec<u8>, Errno> {
    let (m, buf) = read_msg(sim, id, ino, n, nonblock);
    let r = call(sim, m);
    let back = sim.harness_revoke(buf.grant).expect("revoke");
    let k = count(r)?;
    Ok(back[..k].to_vec())
}

fn close(sim: &mut Sim, id: u64, ino: u32, access: Access) -> Result<FsAnswer, Errno> {
    call(sim, PipeRequest::Close { id, ino, access }.to_message())
}

#[test]
fn pipe_io_through_the_server() {
    seeded("pfs-io", 1, |seed| {
        let mut sim = boot(seed, true);
        let p = new_pipe(&mut sim, 1);
        assert_eq!(write(&mut sim, 2, p, b"hello, pipe", false), Ok(11));
        assert_eq!(read(&mut sim, 3, p, 5, false).unwrap(), b"hello");
        assert_eq!(read(&mut sim, 4, p, 100, false).unwrap(), b", pipe");
        let saves = |sim: &Sim| {
            sim.with_process::<Sef<Pfs>, _>("pfs", |s| s.service().stats().saves)
                .unwrap()
        };
        let before = saves(&sim);
        assert_eq!(read(&mut sim, 5, p, 10, true), Err(Errno::EAGAIN));
        assert_eq!(
            saves(&sim),
            before,
            "a request that changed nothing is not saved"
        );
        // Fill it: atomic write that does not fit → EAGAIN; big ones are partial.
        assert_eq!(write(&mut sim, 6, p, &[1; 1000], true), Ok(1000));
        assert_eq!(write(&mut sim, 7, p, &[2; 100], true), Err(Errno::EAGAIN));
        assert_eq!(write(&mut sim, 8, p, &[3; 600], true), Ok(24));
        match call(&mut sim, FsRequest::Stat { id: 9, ino: p }.to_message()) {
            Ok(FsAnswer::Stat(s)) => assert_eq!(s.size, 1024),
            other => panic!("stat: {other:?}"),
        }
        let all = read(&mut sim, 10, p, 4096, false).unwrap();
        assert_eq!(all.len(), 1024);
        assert!(all[..1000].iter().all(|&b| b == 1) && all[1000..].iter().all(|&b| b == 3));
        // Writers gone: EOF. Readers gone: EPIPE.
        assert_eq!(close(&mut sim, 11, p, Access::Write), Ok(FsAnswer::Done));
        assert_eq!(read(&mut sim, 12, p, 10, false).unwrap(), b"");
        let q = new_pipe(&mut sim, 13);
        close(&mut sim, 14, q, Access::Read).unwrap();
        assert_eq!(write(&mut sim, 15, q, b"x", false), Err(Errno::EPIPE));
        // Unknown pipe, bad close.
        assert_eq!(read(&mut sim, 16, 999, 1, false), Err(Errno::EBADF));
        assert_eq!(close(&mut sim, 17, q, Access::Read), Err(Errno::EBADF));
        let stats = sim
            .with_process::<Sef<Pfs>, _>("pfs", |s| s.service().stats())
            .unwrap();
        assert_eq!(stats.requests, 17);
    });
}

#[test]
fn suspended_requests_are_answered_later() {
    seeded("pfs-suspend", 2, |seed| {
        let mut sim = boot(seed, true);
        let ep = pfs_ep(&sim);
        let p = new_pipe(&mut sim, 1);
        // A blocking read waits; a write answers it.
        let (rm, rbuf) = read_msg(&mut sim, 2, p, 8, false);
        sim.send_request(ep, rm).unwrap();
        sim.run_for(HZ);
        assert_eq!(
            sim.with_process::<Sef<Pfs>, _>("pfs", |s| s.service().suspended()),
            Some(1)
        );
        assert_eq!(write(&mut sim, 3, p, b"wake up!", false), Ok(8));
        assert_eq!(count(reply(sim.wait_reply(ep, 2).unwrap())), Ok(8));
        assert_eq!(sim.harness_revoke(rbuf.grant).unwrap(), b"wake up!");
        // A blocking write larger than the pipe completes as it is drained.
        let big: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
        let (wm, wbuf) = write_msg(&mut sim, 4, p, &big, false);
        sim.send_request(ep, wm).unwrap();
        let mut got = Vec::new();
        let mut id = 10;
        while got.len() < big.len() {
            got.extend(read(&mut sim, id, p, 700, false).unwrap());
            id += 1;
        }
        assert_eq!(got, big);
        assert_eq!(count(reply(sim.wait_reply(ep, 4).unwrap())), Ok(3000));
        sim.harness_revoke(wbuf.grant).unwrap();
        // Blocking select answers when readable; cancel interrupts a read.
        let sel = PipeRequest::Select {
            id: 50,
            ino: p,
            ops: SEL_RD | SEL_WR,
            block: true,
        };
        assert_eq!(
            count(call(&mut sim, sel.to_message())),
            Ok(usize::from(SEL_WR))
        );
        let sel = PipeRequest::Select {
            id: 51,
            ino: p,
            ops: SEL_RD,
            block: true,
        };
        sim.send_request(ep, sel.to_message()).unwrap();
        assert_eq!(write(&mut sim, 52, p, b"!", false), Ok(1));
        assert_eq!(
            count(reply(sim.wait_reply(ep, 51).unwrap())),
            Ok(usize::from(SEL_RD))
        );
        assert_eq!(read(&mut sim, 53, p, 1, false).unwrap(), b"!");
        let (rm, rbuf) = read_msg(&mut sim, 54, p, 8, false);
        sim.send_request(ep, rm).unwrap();
        let c = PipeRequest::Cancel { id: 55, target: 54 };
        assert_eq!(call(&mut sim, c.to_message()), Ok(FsAnswer::Done));
        assert_eq!(
            count(reply(sim.wait_reply(ep, 54).unwrap())),
            Err(Errno::EINTR)
        );
        sim.harness_revoke(rbuf.grant).unwrap();
        let c = PipeRequest::Cancel { id: 56, target: 54 };
        assert_eq!(call(&mut sim, c.to_message()), Err(Errno::ESRCH));
    });
}

#[test]
fn fifo_open_rendezvous_through_the_server() {
    seeded("pfs-fifo", 3, |seed| {
        let mut sim = boot(seed, true);
        let ep = pfs_ep(&sim);
        let open = |id, access, nonblock| {
            PipeRequest::Open {
                id,
                key: 0x0001_0000_0042,
                access,
                nonblock,
            }
            .to_message()
        };
        assert_eq!(
            call(&mut sim, open(1, Access::Write, true)),
            Err(Errno::ENXIO)
        );
        sim.send_request(ep, open(2, Access::Read, false)).unwrap();
        sim.run_for(HZ);
        let w = match call(&mut sim, open(3, Access::Write, true)) {
            Ok(FsAnswer::Node(n)) => n.ino,
            other => panic!("write open: {other:?}"),
        };
        match reply(sim.wait_reply(ep, 2).unwrap()) {
            Ok(FsAnswer::Node(n)) => assert_eq!(n.ino, w, "both ends on one pipe"),
            other => panic!("read open: {other:?}"),
        }
        assert_eq!(write(&mut sim, 4, w, b"fifo", false), Ok(4));
        assert_eq!(read(&mut sim, 5, w, 10, false).unwrap(), b"fifo");
        close(&mut sim, 6, w, Access::Write).unwrap();
        close(&mut sim, 7, w, Access::Read).unwrap();
        assert_eq!(
            sim.with_process::<Sef<Pfs>, _>("pfs", |s| s.service().pipes().len()),
            Some(0),
            "last close frees the FIFO's pipe"
        );
    });
}

#[test]
fn stateful_restart_keeps_bytes_and_suspended_requests() {
    seeded("pfs-crash", 4, |seed| {
        let mut sim = boot(seed, true);
        let ep = pfs_ep(&sim);
        let p = new_pipe(&mut sim, 1);
        let q = new_pipe(&mut sim, 2);
        assert_eq!(write(&mut sim, 3, p, b"survives", false), Ok(8));
        // A read suspended on q when PFS dies.
        let (rm, rbuf) = read_msg(&mut sim, 4, q, 16, false);
        sim.send_request(ep, rm).unwrap();
        sim.run_for(HZ);
        assert!(sim.crash_now("pfs"));
        assert!(sim.wait_reply(ep, 4).unwrap_err().is_dead_peer(), "bounced");
        assert!(running(&mut sim, 1));
        assert_eq!(pfs_ep(&sim), ep, "stateful restart keeps the endpoint");
        assert_eq!(
            sim.with_process::<Sef<Pfs>, _>("pfs", |s| s.service().stats().restored),
            Some(1)
        );
        // The resent read is re-attached, not queued twice; a write answers it.
        sim.send_request(ep, rm).unwrap();
        assert_eq!(write(&mut sim, 5, q, b"after crash", false), Ok(11));
        assert_eq!(count(reply(sim.wait_reply(ep, 4).unwrap())), Ok(11));
        assert_eq!(
            &sim.harness_revoke(rbuf.grant).unwrap()[..11],
            b"after crash"
        );
        // Bytes written before the crash are all there.
        assert_eq!(read(&mut sim, 6, p, 100, false).unwrap(), b"survives");

        // An orphan that completes before its resend: the answer is parked.
        let (rm, rbuf) = read_msg(&mut sim, 7, q, 16, false);
        sim.send_request(ep, rm).unwrap();
        sim.run_for(HZ);
        assert!(sim.crash_now("pfs"));
        assert!(sim.wait_reply(ep, 7).unwrap_err().is_dead_peer());
        assert!(running(&mut sim, 2));
        assert_eq!(write(&mut sim, 8, q, b"parked", false), Ok(6));
        sim.send_request(ep, rm).unwrap();
        assert_eq!(count(reply(sim.wait_reply(ep, 7).unwrap())), Ok(6));
        assert_eq!(&sim.harness_revoke(rbuf.grant).unwrap()[..6], b"parked");
        // A resent write that was already answered is answered again, not re-applied.
        let (wm, wbuf) = write_msg(&mut sim, 9, q, b"once", false);
        assert_eq!(count(reply(sim.call(ep, wm).unwrap())), Ok(4));
        assert_eq!(count(reply(sim.call(ep, wm).unwrap())), Ok(4));
        sim.harness_revoke(wbuf.grant).unwrap();
        assert_eq!(read(&mut sim, 10, q, 100, true).unwrap(), b"once");
        let st = sim
            .with_process::<Sef<Pfs>, _>("pfs", |s| s.service().stats())
            .unwrap();
        // Counters are per instance: this one replayed the parked read and
        // the duplicate write (the re-attach happened in the previous one).
        assert_eq!((st.reattached, st.replayed), (0, 2));
    });
}

#[test]
fn stateless_restart_loses_pipes() {
    seeded("pfs-stateless", 5, |seed| {
        let mut sim = boot(seed, false);
        let p = new_pipe(&mut sim, 1);
        assert_eq!(write(&mut sim, 2, p, b"gone", false), Ok(4));
        assert!(sim.crash_now("pfs"));
        assert!(running(&mut sim, 1));
        assert_eq!(read(&mut sim, 3, p, 10, true), Err(Errno::EBADF));
        let q = new_pipe(&mut sim, 4);
        assert_eq!(write(&mut sim, 5, q, b"new", false), Ok(3));
        assert_eq!(read(&mut sim, 6, q, 10, true).unwrap(), b"new");
    });
}

/// Send `m` until it is answered, resending (same id) whenever PFS dies
/// first; returns the answer and how many resends it took.
fn robust(sim: &mut Sim, m: Message) -> (Result<FsAnswer, Errno>, u32) {
    let mut resends = 0;
    loop {
        assert!(
            sim.run_until(200 * HZ, |s| s.is_alive("pfs")
                && s.rs_service("pfs")
                    .is_some_and(|i| i.state == RunState::Running)),
            "pfs back up"
        );
        let ep = pfs_ep(sim);
        match sim.call(ep, m) {
            Ok(r) => return (reply(r), resends),
            Err(e) if e.is_dead_peer() => {
                resends += 1;
                // Let RS notice the death before looking again.
                sim.run_for(1);
            }
            Err(e) => panic!("call failed: {e}"),
        }
    }
}

#[test]
fn random_crashes_lose_no_bytes() {
    seeded("pfs-random-crash", 6, |seed| {
        let mut sim = boot(seed, true);
        let p = new_pipe(&mut sim, 1);
        sim.faults_randomly(&["pfs"], 50_000, 0);
        let mut rng = sim::rng::Rng::new(seed ^ 0x5eed);
        let (mut written, mut read_back) = (Vec::new(), Vec::new());
        let mut id = 100;
        let mut resends = 0;
        for step in 0..600 {
            id += 1;
            if std::env::var("PFS_TRACE").is_ok() {
                eprintln!(
                    "step {step} t={} crashes={}",
                    sim.now(),
                    sim.crash_records("pfs").len()
                );
            }
            if rng.below(2) == 0 {
                let n = (rng.next_u64() % 700) as usize + 1;
                let chunk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                let (m, buf) = write_msg(&mut sim, id, p, &chunk, true);
                let (r, k) = robust(&mut sim, m);
                resends += k;
                sim.harness_revoke(buf.grant).unwrap();
                match count(r) {
                    Ok(w) => written.extend(&chunk[..w]),
                    Err(e) => assert_eq!(e, Errno::EAGAIN),
                }
            } else {
                let n = (rng.next_u64() % 900) as usize + 1;
                let (m, buf) = read_msg(&mut sim, id, p, n, true);
                let (r, k) = robust(&mut sim, m);
                resends += k;
                let back = sim.harness_revoke(buf.grant).unwrap();
                match count(r) {
                    Ok(got) => read_back.extend(&back[..got]),
                    Err(e) => assert_eq!(e, Errno::EAGAIN),
                }
            }
        }
        sim.faults_randomly(&["pfs"], 0, 0);
        drain(&mut sim, &mut id, p, &mut read_back);
        let crashes = sim.crash_records("pfs").len();
        println!(
            "pfs random crashes: {crashes} crashes, {resends} resends, {} bytes",
            written.len()
        );
        assert!(crashes >= 5, "the injector crashed PFS ({crashes})");
        assert_eq!(read_back.len(), written.len(), "no byte lost or duplicated");
        assert!(read_back == written, "bytes in order");
    });
}

/// Random crashes while a blocking read is suspended most of the time: the
/// client (playing VFS) resends its outstanding read after every restart,
/// as VFS must; every byte arrives once, in order.
#[test]
fn random_crashes_with_suspended_reads_lose_no_bytes() {
    seeded("pfs-random-suspended", 7, |seed| {
        let mut sim = boot(seed, true);
        let p = new_pipe(&mut sim, 1);
        sim.faults_randomly(&["pfs"], 40_000, 0);
        let mut rng = sim::rng::Rng::new(seed ^ 0xb10c);
        let (mut written, mut read_back) = (Vec::new(), Vec::new());
        let mut id = 1000;
        let mut resends = 0;
        // The outstanding blocking read: (request, grant, restarts when sent).
        let mut outstanding: Option<(Message, Buf, u32)> = None;
        let restarts = |s: &Sim| s.rs_service("pfs").map_or(0, |i| i.restarts);
        for _ in 0..400 {
            if outstanding.is_none() {
                id += 1;
                let n = (rng.below(600) + 1) as usize;
                let (m, buf) = read_msg(&mut sim, id, p, n, false);
                robust_send(&mut sim, m);
                outstanding = Some((m, buf, restarts(&sim)));
            }
            id += 1;
            let n = (rng.below(300) + 1) as usize;
            let chunk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            let (m, buf) = write_msg(&mut sim, id, p, &chunk, true);
            let (r, k) = robust(&mut sim, m);
            resends += k;
            sim.harness_revoke(buf.grant).unwrap();
            match count(r) {
                Ok(w) => written.extend(&chunk[..w]),
                Err(e) => assert_eq!(e, Errno::EAGAIN),
            }
            sim.run_for(1);
            // Pick up the read's answer, or resend it after a restart.
            let Some((rm, rbuf, sent_at)) = outstanding else {
                continue;
            };
            let ep = pfs_ep(&sim);
            let got = sim
                .harness_inbox()
                .into_iter()
                .find(|m| m.source() == ep && m.request_id() == rm.request_id());
            if let Some(ans) = got {
                let back = sim.harness_revoke(rbuf.grant).unwrap();
                let k = count(reply(ans)).expect("blocking read answered with data");
                read_back.extend(&back[..k]);
                outstanding = None;
            } else if restarts(&sim) != sent_at {
                resends += 1;
                robust_send(&mut sim, rm);
                outstanding = Some((rm, rbuf, restarts(&sim)));
            }
        }
        sim.faults_randomly(&["pfs"], 0, 0);
        // Finish: let the outstanding read complete, then drain.
        sim.run_for(HZ);
        assert!(sim.run_until(200 * HZ, |s| {
            s.is_alive("pfs")
                && s.rs_service("pfs")
                    .is_some_and(|i| i.state == RunState::Running)
        }));
        if let Some((rm, rbuf, sent_at)) = outstanding {
            if restarts(&sim) != sent_at {
                robust_send(&mut sim, rm);
            }
            id += 1;
            let (m, buf) = write_msg(&mut sim, id, p, b"#", false);
            let (r, _) = robust(&mut sim, m);
            sim.harness_revoke(buf.grant).unwrap();
            assert_eq!(count(r), Ok(1));
            written.push(b'#');
            let ep = pfs_ep(&sim);
            let k = count(reply(sim.wait_reply(ep, rm.request_id()).unwrap())).unwrap();
            read_back.extend(&sim.harness_revoke(rbuf.grant).unwrap()[..k]);
        }
        drain(&mut sim, &mut id, p, &mut read_back);
        let crashes = sim.crash_records("pfs").len();
        println!(
            "pfs random crashes with suspended reads: {crashes} crashes, {resends} resends, {} bytes",
            written.len()
        );
        assert!(crashes >= 5, "the injector crashed PFS ({crashes})");
        assert_eq!(read_back.len(), written.len(), "no byte lost or duplicated");
        assert!(read_back == written, "bytes in order");
    });
}

/// Send a request that may stay suspended; retry while PFS is down.
fn robust_send(sim: &mut Sim, m: Message) {
    loop {
        assert!(
            sim.run_until(200 * HZ, |s| s.is_alive("pfs")
                && s.rs_service("pfs")
                    .is_some_and(|i| i.state == RunState::Running)),
            "pfs back up"
        );
        let ep = pfs_ep(sim);
        match sim.send_request(ep, m) {
            Ok(()) => return,
            Err(e) if e.is_dead_peer() => sim.run_for(1),
            Err(e) => panic!("send failed: {e}"),
        }
    }
}

/// Read (non-blocking, resending across crashes) until the pipe is empty.
fn drain(sim: &mut Sim, id: &mut u64, p: u32, out: &mut Vec<u8>) {
    loop {
        *id += 1;
        let (m, buf) = read_msg(sim, *id, p, 4096, true);
        let (r, _) = robust(sim, m);
        let back = sim.harness_revoke(buf.grant).unwrap();
        match count(r) {
            Ok(k) => out.extend(&back[..k]),
            Err(e) => {
                assert_eq!(e, Errno::EAGAIN);
                return;
            }
        }
    }
}

#[test]
fn blocking_select_survives_a_crash_and_putnode_releases() {
    seeded("pfs-select-crash", 8, |seed| {
        let mut sim = boot(seed, true);
        let ep = pfs_ep(&sim);
        let p = new_pipe(&mut sim, 1);
        let sel = PipeRequest::Select {
            id: 2,
            ino: p,
            ops: SEL_RD,
            block: true,
        }
        .to_message();
        sim.send_request(ep, sel).unwrap();
        sim.run_for(HZ);
        assert!(sim.crash_now("pfs"));
        assert!(sim.wait_reply(ep, 2).unwrap_err().is_dead_peer());
        assert!(running(&mut sim, 1));
        // Resent select is re-attached; data wakes it.
        sim.send_request(ep, sel).unwrap();
        assert_eq!(write(&mut sim, 3, p, b"z", false), Ok(1));
        assert_eq!(
            count(reply(sim.wait_reply(ep, 2).unwrap())),
            Ok(usize::from(SEL_RD))
        );
        // Putnode drops the pipe: a suspended read on it fails, later use is EBADF.
        assert_eq!(read(&mut sim, 4, p, 1, false).unwrap(), b"z");
        let (rm, rbuf) = read_msg(&mut sim, 5, p, 4, false);
        sim.send_request(ep, rm).unwrap();
        let put = FsRequest::Putnode {
            id: 6,
            ino: p,
            count: 1,
        };
        assert_eq!(call(&mut sim, put.to_message()), Ok(FsAnswer::Done));
        assert_eq!(
            count(reply(sim.wait_reply(ep, 5).unwrap())),
            Err(Errno::EBADF)
        );
        sim.harness_revoke(rbuf.grant).unwrap();
        assert_eq!(write(&mut sim, 7, p, b"x", false), Err(Errno::EBADF));
        // Requests a pipe server cannot do are refused, not ignored.
        let st = FsRequest::Statvfs { id: 8 };
        assert_eq!(call(&mut sim, st.to_message()), Err(Errno::ENOSYS));
        let bad = FsRequest::NewNode {
            id: 9,
            mode: 0o100644,
            rdev: 0,
            cred: Cred::ROOT,
        };
        assert_eq!(call(&mut sim, bad.to_message()), Err(Errno::EINVAL));
    });
}

#[test]
fn suspended_fifo_open_survives_a_crash() {
    seeded("pfs-fifo-crash", 9, |seed| {
        let mut sim = boot(seed, true);
        let ep = pfs_ep(&sim);
        let open = |id, access, nonblock| {
            PipeRequest::Open {
                id,
                key: 77,
                access,
                nonblock,
            }
            .to_message()
        };
        let rd = open(1, Access::Read, false);
        sim.send_request(ep, rd).unwrap();
        sim.run_for(HZ);
        assert!(sim.crash_now("pfs"));
        assert!(sim.wait_reply(ep, 1).unwrap_err().is_dead_peer());
        assert!(running(&mut sim, 1));
        sim.send_request(ep, rd).unwrap();
        // The waiting reader survived the crash: a non-blocking writer finds it.
        let w = match call(&mut sim, open(2, Access::Write, true)) {
            Ok(FsAnswer::Node(n)) => n.ino,
            other => panic!("write open: {other:?}"),
        };
        match reply(sim.wait_reply(ep, 1).unwrap()) {
            Ok(FsAnswer::Node(n)) => assert_eq!(n.ino, w),
            other => panic!("read open: {other:?}"),
        }
        assert_eq!(write(&mut sim, 3, w, b"ok", false), Ok(2));
        assert_eq!(read(&mut sim, 4, w, 8, false).unwrap(), b"ok");
    });
}
