//! Malformed-message robustness of VFS, the MFS server and PFS: thousands of
//! seeded random and near-valid requests (each protocol's types with random
//! payloads: bad lengths, huge offsets, bad grant ids, grants too small or
//! with the wrong rights, out-of-range inode numbers, unterminated names,
//! spoofed replies). No server may crash, every request that cannot
//! legitimately suspend gets an answer, and afterwards a client still
//! creates, writes and reads back a file through VFS.

mod common;

use common::*;
use mfs::server::MfsConfig;
use std::collections::HashMap;
use sys::proto::service::Policy;
use sys::proto::vfs::oflag::{O_CREAT, O_RDWR};
use sys::proto::vfs::whence::SEEK_SET;
use sys::{Endpoint, GrantAccess, HZ, Message};

/// Tiny SplitMix64 so the test's choices are independent of the simulator's.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn u32(&mut self) -> u32 {
        self.next() as u32
    }
    /// A length biased towards edge cases.
    fn len(&mut self) -> u32 {
        let r = self.u32();
        self.pick(&[0, 1, 2, 7, 8, 63, 64, 255, 256, 4096, 65_536, u32::MAX, r])
    }
    /// An offset biased towards edge cases.
    fn off(&mut self) -> u64 {
        let r = self.next();
        self.pick(&[
            0,
            1,
            4095,
            4096,
            1 << 31,
            1 << 40,
            i64::MAX as u64,
            u64::MAX,
            r,
        ])
    }
    /// An inode number: small (likely valid), out of range, or random.
    fn ino(&mut self) -> u32 {
        let r = self.u32();
        self.pick(&[0, 1, 1, 2, 3, 5, 17, 2047, 2048, 65_535, u32::MAX, r])
    }
}

// Raw request types (they mirror sys::proto's numbers, kept here in one place).
const VFS_FIRST: u32 = 0xa00;
const VFS_LAST: u32 = 0xa21;
/// VFS calls that may legitimately wait: read/write (pipes, devices),
/// open (FIFOs), select, pipe.
const VFS_MAY_WAIT: [u32; 5] = [0xa00, 0xa02, 0xa03, 0xa1b, 0xa1d];
const FS_FIRST: u32 = 0x600;
const FS_LAST: u32 = 0x618;
const FS_UNMOUNT: u32 = 0x601;
const FS_READ: u32 = 0x60c;
const FS_WRITE: u32 = 0x60d;
const PIPE_TYPES: [u32; 4] = [0x640, 0x641, 0x642, 0x643];
/// Replies other servers send VFS (FS, cdev, DS): spoofed from the harness.
const SPOOFED_REPLIES: [u32; 9] = [
    0x680, 0x681, 0x682, 0x683, 0x687, 0x880, 0x881, 0x882, 0x480,
];

fn put32(m: &mut Message, off: usize, v: u32) {
    m.payload_mut()[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn put64(m: &mut Message, off: usize, v: u64) {
    m.payload_mut()[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

fn random_msg(rng: &mut Rng, mtype: u32, id: u64) -> Message {
    let mut m = Message::new(mtype);
    for b in m.payload_mut().iter_mut() {
        *b = rng.next() as u8;
    }
    put64(&mut m, 0, id);
    m
}

/// Buffers handed out as grants: paths (valid, unterminated, with NUL,
/// empty, very long, invalid UTF-8), and plain buffers of many sizes.
fn grant_contents() -> Vec<Vec<u8>> {
    vec![
        b"/".to_vec(),
        b"/g".to_vec(),
        b"/g/h".to_vec(),
        b"/mnt2".to_vec(),
        b"/g\0x".to_vec(),
        b"g/../../..".to_vec(),
        vec![b'a'; 300],
        vec![b'/'; 5000],
        vec![0xff, 0xfe, b'/'],
        Vec::new(),
        vec![0; 64],
        vec![7; 4096],
        b"pfs".to_vec(),
        b"loopdev".to_vec(),
    ]
}

/// Grant every content to `grantee` with each of read-only, write-only and
/// read-write rights; add ids that were never granted.
fn grants_for(w: &mut World, grantee: Endpoint) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for c in grant_contents() {
        for acc in [GrantAccess::READ, GrantAccess::WRITE, GrantAccess::RW] {
            let len = c.len() as u32;
            let g = w.sim.harness_grant(grantee, acc, c.clone()).expect("grant");
            v.push((g.0, len));
        }
    }
    v.extend([(0, 8), (999_999, 8), (u32::MAX, 8), (0x8000_0000, 0)]);
    v
}

/// A buffer (grant, len): the grant's own length, one more, smaller, or huge.
fn buf(rng: &mut Rng, grants: &[(u32, u32)]) -> (u32, u32) {
    let (g, l) = rng.pick(grants);
    let len = match rng.below(4) {
        0 => l,
        1 => l.saturating_add(1),
        2 => l / 2,
        _ => rng.len(),
    };
    (g, len)
}

fn vfs_msg(rng: &mut Rng, id: u64, grants: &[(u32, u32)]) -> Message {
    let mtype = VFS_FIRST + rng.below(u64::from(VFS_LAST - VFS_FIRST + 2)) as u32;
    let mut m = random_msg(rng, mtype, id);
    if rng.below(5) != 0 {
        let r = rng.u32() as i32;
        let fd = rng.pick(&[0, 1, 2, 3, -1, i32::MAX, i32::MIN, 64, r]);
        put32(&mut m, 8, fd as u32);
        let fd2 = rng.pick(&[0, 1, -1, 1000, i32::MAX]);
        put32(&mut m, 12, fd2 as u32);
        let (g, l) = buf(rng, grants);
        put32(&mut m, 16, g);
        put32(&mut m, 20, l);
        let (g, l) = buf(rng, grants);
        put32(&mut m, 24, g);
        put32(&mut m, 28, l);
        let off = rng.off();
        put64(&mut m, 32, off);
        let r = rng.u32();
        let flags = rng.pick(&[0, 1, 2, 0x200, 0x202, 0x600, 0xa00, 0x20_0000, r]);
        put32(&mut m, 40, flags);
        let r = rng.u32();
        let mode = rng.pick(&[0, 0o644, 0o10644, 0o20644, 0o60644, 0xffff, r]);
        put32(&mut m, 44, mode);
    }
    m
}

fn fs_msg(rng: &mut Rng, mtype: u32, id: u64, grants: &[(u32, u32)]) -> Message {
    let mut m = random_msg(rng, mtype, id);
    if rng.below(5) != 0 {
        let ino = rng.ino();
        put32(&mut m, 8, ino);
        let ino2 = rng.ino();
        put32(&mut m, 12, ino2);
        let (g, l) = buf(rng, grants);
        put32(&mut m, 16, g);
        put32(&mut m, 20, l);
        let (g, l) = buf(rng, grants);
        put32(&mut m, 24, g);
        put32(&mut m, 28, l);
        let pos = rng.off();
        put64(&mut m, 32, pos);
        let r = rng.u32();
        let mode = rng.pick(&[0, 0o100644, 0o40755, 0o10644, 0o20644, 0o120777, r]);
        put32(&mut m, 40, mode);
        let r = rng.u32();
        let uid = rng.pick(&[0u32, 0x0001_0001, r]);
        put32(&mut m, 44, uid);
        let r = rng.u32();
        let flags = rng.pick(&[0, 1, 2, 4, 0xffff_ffff, r]);
        put32(&mut m, 48, flags);
        let r = rng.u32();
        let extra = rng.pick(&[0, 1, 1 << 20, r]);
        put32(&mut m, 52, extra);
    }
    m
}

/// Drain the harness inbox into `got`, keyed by (source, request id).
fn drain(w: &mut World, got: &mut HashMap<(u32, u64), Message>) {
    for m in w.sim.harness_inbox() {
        got.insert((m.source().0, m.request_id()), m);
    }
}

/// Wait (up to `ticks`) for the answer from `dest` to request `id`.
fn answer(
    w: &mut World,
    got: &mut HashMap<(u32, u64), Message>,
    dest: Endpoint,
    id: u64,
    ticks: u64,
) -> Option<Message> {
    let end = w.sim.now() + ticks;
    loop {
        drain(w, got);
        if let Some(m) = got.remove(&(dest.0, id)) {
            return Some(m);
        }
        if w.sim.now() >= end {
            return None;
        }
        w.sim.run_for(1);
    }
}

/// Requests sent and not yet checked: (index, destination, message, id,
/// may legitimately wait).
type Inflight = Vec<(u64, Endpoint, Message, u64, bool)>;

/// Check every in-flight request got its answer (or may wait).
fn settle(
    w: &mut World,
    got: &mut HashMap<(u32, u64), Message>,
    inflight: &mut Inflight,
    answered: &mut u64,
    waiting: &mut u64,
) {
    for (i, dest, msg, id, may_wait) in inflight.drain(..) {
        match answer(w, got, dest, id, if may_wait { 2 } else { 20 * HZ }) {
            Some(r) => {
                assert_ne!(r.mtype(), 0, "#{i}: empty answer");
                *answered += 1;
            }
            None if may_wait => *waiting += 1,
            None => panic!(
                "#{i}: {msg:?} to {dest:?}: no answer\n{}",
                w.sim
                    .trace_tail(3000)
                    .lines()
                    .filter(|l| !l.contains("mtype: 256"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }
}

fn assert_healthy(w: &World, what: &str) {
    assert_healthy_in(w, what, &["ds", "mfs", "mfs2", "pfs", "loopdev", "vfs"]);
}

fn assert_healthy_in(w: &World, what: &str, labels: &[&str]) {
    assert!(w.sim.fatal().is_none(), "{what}: fatal {:?}", w.sim.fatal());
    assert_eq!(
        w.sim.total_crashes(),
        0,
        "{what}: a server crashed: {:?}\n{}",
        labels
            .iter()
            .map(|l| (l, w.sim.crash_records(l)))
            .collect::<Vec<_>>(),
        w.sim.trace_tail(20)
    );
    for &l in labels {
        assert!(w.sim.is_alive(l), "{what}: {l} died");
        assert!(w.sim.crash_records(l).is_empty(), "{what}: {l} crashed");
    }
}

#[test]
fn garbage_to_vfs_mfs_pfs() {
    sim::seeded("vfs_garbage_messages", 0x0bad_f00d, |seed| garbage(seed, 1));
}

/// The same with up to 6 requests in flight at once (VFS, MFS and PFS
/// interleave them).
#[test]
fn garbage_bursts_to_vfs_mfs_pfs() {
    sim::seeded("vfs_garbage_bursts", 0xb0b5, |seed| garbage(seed, 6));
}

/// Send 3000 garbage messages, `burst` requests at a time, then check a
/// normal client.
fn garbage(seed: u64, burst: usize) {
    let mut w = world(seed, 2, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    let mut rng = Rng(seed);
    let ep_vfs = w.vfs;
    let ep_mfs = w.sim.endpoint_of("mfs2").unwrap();
    let ep_pfs = w.sim.endpoint_of("pfs").unwrap();
    let g_vfs = grants_for(&mut w, ep_vfs);
    let g_mfs = grants_for(&mut w, ep_mfs);
    let g_pfs = grants_for(&mut w, ep_pfs);
    let mut got = HashMap::new();
    let mut inflight = Vec::new();

    const N: u64 = 3000;
    let (mut answered, mut waiting, mut oneway) = (0u64, 0u64, 0u64);
    for i in 0..N {
        // High ids, so answers are told apart from VFS's own (aliasing of
        // ids is covered by `stranger_ids_do_not_alias_vfs_records`).
        let id = 0xfee0_0000_0000_0000 + i;
        let (dest, msg, may_wait) = match rng.below(8) {
            0..=2 => {
                let m = vfs_msg(&mut rng, id, &g_vfs);
                let t = m.mtype();
                (ep_vfs, m, VFS_MAY_WAIT.contains(&t))
            }
            3 | 4 => {
                // The second MFS (mounted on /mnt2) straight from a
                // stranger; unmount excluded: MFS does not authenticate
                // VFS, so it would legitimately detach the file system.
                let t = loop {
                    let t = FS_FIRST + rng.below(u64::from(FS_LAST - FS_FIRST + 1)) as u32;
                    if t != FS_UNMOUNT {
                        break t;
                    }
                };
                (ep_mfs, fs_msg(&mut rng, t, id, &g_mfs), false)
            }
            5 => {
                let t = if rng.below(2) == 0 {
                    rng.pick(&PIPE_TYPES)
                } else {
                    FS_FIRST + rng.below(u64::from(FS_LAST - FS_FIRST + 1)) as u32
                };
                let mut m = fs_msg(&mut rng, t, id, &g_pfs);
                if PIPE_TYPES.contains(&t) && rng.below(2) == 0 {
                    // Near-valid PipeP: small key/ino, access 1..3, ops, flags.
                    put64(&mut m, 8, rng.below(4));
                    put32(&mut m, 16, rng.below(4) as u32);
                    let a = rng.below(5) as u32
                        | (rng.below(8) as u32) << 8
                        | (rng.below(4) as u32) << 16;
                    put32(&mut m, 20, a);
                }
                // Opens, selects, reads and writes may wait for the other end.
                let w8 = [0x640, 0x642, FS_READ, FS_WRITE].contains(&t);
                (ep_pfs, m, w8)
            }
            6 => {
                // Spoofed replies to VFS (FS, cdev, DS answers) with ids
                // VFS may have in flight: must be ignored.
                let t = rng.pick(&SPOOFED_REPLIES);
                let small = rng.below(64);
                let m = random_msg(&mut rng, t, small);
                let _ = w.sim.send_plain(ep_vfs, m);
                oneway += 1;
                continue;
            }
            _ => {
                // Wholly random type, one-way, to any of them.
                let t = rng.u32();
                let m = random_msg(&mut rng, t, id);
                let d = rng.pick(&[ep_vfs, ep_mfs, ep_pfs]);
                let _ = w.sim.send_plain(d, m);
                oneway += 1;
                continue;
            }
        };
        w.sim.send_request(dest, msg).expect("send");
        inflight.push((i, dest, msg, id, may_wait));
        if inflight.len() >= burst {
            settle(&mut w, &mut got, &mut inflight, &mut answered, &mut waiting);
        }
        if i % 128 == 0 {
            assert_healthy(&w, &format!("after #{i}"));
        }
    }
    settle(&mut w, &mut got, &mut inflight, &mut answered, &mut waiting);
    w.sim.run_for(HZ);
    assert_healthy(&w, "end");
    println!(
        "garbage: {answered} answered, {waiting} legitimately waiting, {oneway} one-way (of {N})"
    );
    assert!(answered > N / 2, "too few answers: {answered}");

    // A normal client still works, on both file systems.
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        // Root may have unmounted /mnt2 (and renamed or removed it):
        // then mfs2 is mounted again elsewhere.
        c.mkdir(s, "/chk2", 0o755).unwrap();
        let second = match c.mount(s, "/chk2", "mfs2") {
            Ok(()) => "/chk2/after-garbage",
            Err(_) => "/mnt2/after-garbage",
        };
        for path in ["/after-garbage", second] {
            let fd = c
                .open(s, path, O_CREAT | O_RDWR, 0o644)
                .unwrap_or_else(|e| panic!("open {path}: {e:?}"));
            assert_eq!(c.write(s, fd, b"still here").unwrap(), 10);
            assert_eq!(c.lseek(s, fd, 0, SEEK_SET).unwrap(), 0);
            assert_eq!(c.read(s, fd, 100).unwrap(), b"still here");
            c.close(s, fd).unwrap();
        }
        let (r, wr) = c.pipe(s).unwrap();
        assert_eq!(c.write(s, wr, b"pipe").unwrap(), 4);
        assert_eq!(c.read(s, r, 10).unwrap(), b"pipe");
        *d2.borrow_mut() = Some(true);
    });
    w.sim.run_until(100 * HZ, |_| done.borrow().is_some());
    assert_eq!(*done.borrow(), Some(true), "normal client after garbage");
    assert_healthy(&w, "after the normal client");
}

/// Found by the garbage run (seed 1): after `umount /mnt2` the detached
/// mount-table entry made every later `sync` wait forever for a server that
/// is no longer there.
#[test]
fn sync_after_umount_answers() {
    let mut w = world(3, 2, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        c.umount(s, "/mnt2").unwrap();
        c.sync(s).unwrap();
        let fd = c.open(s, "/mnt2/x", O_CREAT | O_RDWR, 0o644).unwrap();
        assert_eq!(c.write(s, fd, b"x").unwrap(), 1);
        c.close(s, fd).unwrap();
        c.sync(s).unwrap();
        *d2.borrow_mut() = Some(true);
    });
    w.sim.run_until(100 * HZ, |_| done.borrow().is_some());
    assert_eq!(*done.borrow(), Some(true), "sync after umount");
}

/// Found by the garbage run (seed 18): renaming a mount point, or renaming
/// a directory onto one, succeeded and left the mounted file system
/// unreachable. Both are `EBUSY`, as in MINIX.
#[test]
fn mount_point_cannot_be_renamed() {
    let mut w = world(3, 2, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        use sys::Errno::EBUSY;
        assert_eq!(c.rename(s, "/mnt2", "/zz"), Err(EBUSY));
        c.mkdir(s, "/d", 0o755).unwrap();
        assert_eq!(c.rename(s, "/d", "/mnt2"), Err(EBUSY));
        assert_eq!(c.rmdir(s, "/mnt2"), Err(EBUSY));
        let fd = c.open(s, "/mnt2/f", O_CREAT | O_RDWR, 0o644).unwrap();
        c.close(s, fd).unwrap();
        c.umount(s, "/mnt2").unwrap();
        // Not a mount point any more: an ordinary directory.
        c.rename(s, "/mnt2", "/zz").unwrap();
        *d2.borrow_mut() = Some(true);
    });
    w.sim.run_until(100 * HZ, |_| done.borrow().is_some());
    assert_eq!(*done.borrow(), Some(true), "mount point renames");
}

/// Forged driver answers: while a read of an empty pipe waits in PFS, a
/// stranger sends VFS character-driver replies (`Done`) for every small
/// request id. VFS must ignore them (they do not come from the server the
/// request went to): the read still gets exactly the bytes written later.
#[test]
fn forged_driver_replies_are_ignored() {
    use sys::proto::cdev::CdevReply;
    use sys::proto::vfs::{VfsAnswer, VfsCall, VfsReply, split_pipe_fds};
    let mut w = world(5, 1, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    let vfs = w.vfs;
    let r = w
        .sim
        .call(vfs, VfsCall::Pipe { id: 1 }.to_message())
        .unwrap();
    let Ok(VfsAnswer::Value(v)) = VfsReply::try_from(&r).unwrap().result else {
        panic!("pipe: {r:?}");
    };
    let (rfd, wfd) = split_pipe_fds(v);
    let rg = w
        .sim
        .harness_grant(vfs, GrantAccess::WRITE, vec![0; 16])
        .unwrap();
    let read = VfsCall::Read {
        id: 2,
        fd: rfd,
        buf: sys::proto::fs::Buf { grant: rg, len: 16 },
    };
    w.sim.send_request(vfs, read.to_message()).unwrap();
    w.sim.run_for(HZ);
    assert!(
        w.sim.harness_inbox().iter().all(|m| m.request_id() != 2),
        "the read of an empty pipe waits"
    );
    for id in 0..256 {
        let forged = CdevReply::Done { id, result: Ok(16) };
        w.sim.send_plain(vfs, forged.to_message()).unwrap();
        if id % 4 == 0 {
            // In batches: a flood would only starve RS's pings.
            w.sim.run_for(1);
        }
    }
    w.sim.run_for(HZ);
    assert!(
        w.sim.harness_inbox().iter().all(|m| m.request_id() != 2),
        "a forged reply completed the read"
    );
    let wg = w
        .sim
        .harness_grant(vfs, GrantAccess::READ, b"real".to_vec())
        .unwrap();
    let write = VfsCall::Write {
        id: 3,
        fd: wfd,
        buf: sys::proto::fs::Buf { grant: wg, len: 4 },
    };
    let r = w.sim.call(vfs, write.to_message()).unwrap();
    assert_eq!(
        VfsReply::try_from(&r).unwrap().result,
        Ok(VfsAnswer::Value(4))
    );
    let r = w.sim.wait_reply(vfs, 2).unwrap();
    assert_eq!(
        VfsReply::try_from(&r).unwrap().result,
        Ok(VfsAnswer::Value(4))
    );
    assert_eq!(&w.sim.harness_revoke(rg).unwrap()[..4], b"real");
    assert_healthy_in(
        &w,
        "forged replies",
        &["ds", "mfs", "pfs", "loopdev", "vfs"],
    );
}

/// A stranger's request ids must not alias VFS's: MFS answers a resent
/// request from its record, and a record made for another process's
/// request with the same id would be handed to VFS instead of applying
/// VFS's request.
#[test]
fn stranger_ids_do_not_alias_vfs_records() {
    let mut w = world(6, 1, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    let mfs = w.sim.endpoint_of("mfs").unwrap();
    for id in 0..48u64 {
        // A side-effecting request (chmod of a nonexistent inode): its
        // answer, an error, is recorded under `id`.
        let m = sys::proto::fs::FsRequest::Chmod {
            id,
            ino: 60_000,
            mode: 0o777,
            cred: sys::proto::fs::Cred::ROOT,
        }
        .to_message();
        assert!(w.sim.call(mfs, m).is_ok(), "chmod answered");
    }
    assert_eq!(w.fss[0].mem.borrow().durable.record_count(), 48);
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        for i in 0..20 {
            let path = format!("/f{i}");
            let fd = c.open(s, &path, O_CREAT | O_RDWR, 0o644).unwrap();
            assert_eq!(c.write(s, fd, b"mine").unwrap(), 4);
            c.close(s, fd).unwrap();
            c.chmod(s, &path, 0o600).unwrap();
            assert_eq!(c.stat(s, &path).unwrap().mode & 0o777, 0o600);
        }
        *d2.borrow_mut() = Some(true);
    });
    w.sim.run_until(100 * HZ, |_| done.borrow().is_some());
    assert_eq!(*done.borrow(), Some(true), "VFS's requests were applied");
}

/// Found by the garbage run (seed 413): mounting a label that is a
/// character driver, not a file server, must fail, not wait forever for
/// an answer of the wrong protocol.
#[test]
fn mount_of_a_driver_fails() {
    let mut w = world(7, 1, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        c.mkdir(s, "/m", 0o755).unwrap();
        // Answered by VFS (not the client's own timeout).
        let r = c.mount(s, "/m", "loopdev");
        assert!(
            matches!(r, Err(e) if e != sys::Errno::ETIMEDOUT),
            "mount: {r:?}"
        );
        let fd = c.open(s, "/m/f", O_CREAT | O_RDWR, 0o644).unwrap();
        c.close(s, fd).unwrap();
        *d2.borrow_mut() = Some(true);
    });
    w.sim.run_until(100 * HZ, |_| done.borrow().is_some());
    assert_eq!(*done.borrow(), Some(true), "mount of a driver answered");
}
