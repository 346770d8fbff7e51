//! Single, placed MFS crashes: a request held across a restart, what a
//! stateful restart keeps (unflushed acknowledged writes, open files), and
//! what the stateless policy loses (documented MINIX-like behaviour).

mod common;

use common::*;
use mfs::server::MfsConfig;
use sys::Errno::*;
use sys::proto::service::{Policy, RunState};
use sys::proto::vfs::oflag::*;
use vfs::Vfs;

fn restarts(w: &World) -> u32 {
    w.sim.rs_service("mfs").map(|i| i.restarts).unwrap_or(0)
}

#[test]
fn request_held_while_mfs_is_down_is_resent() {
    let mut w = world(21, 1, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    // MFS dies on the next message it receives: the client's first request.
    w.sim.crash_at("mfs", 1);
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        let fd = c.open(s, "/held", O_CREAT | O_RDWR, 0o644).unwrap();
        assert_eq!(c.write(s, fd, b"after the crash").unwrap(), 15);
        c.lseek(s, fd, 0, 0).unwrap();
        assert_eq!(c.read(s, fd, 100).unwrap(), b"after the crash");
        c.close(s, fd).unwrap();
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
    assert_eq!(restarts(&w), 1);
    let st = w.sim.with_process::<Vfs, _>("vfs", |v| v.stats()).unwrap();
    assert!(st.bounced >= 1 && st.resent >= 1, "{st:?}");
}

fn write_then_crash(stateful: bool) -> (Option<Vec<u8>>, Option<Vec<u8>>, bool) {
    let cfg = MfsConfig {
        stateful,
        ..MfsConfig::default()
    };
    let policy = if stateful {
        Policy::Stateful
    } else {
        Policy::Restart
    };
    let mut w = world(22, 1, cfg, policy);
    w.wait_ready();
    w.run(move |s, c| {
        let fd = c.open(s, "/kept", O_CREAT | O_WRONLY, 0o644).unwrap();
        c.write(s, fd, b"synced").unwrap();
        c.fsync(s, fd).unwrap();
        c.close(s, fd).unwrap();
        let fd = c.open(s, "/unsynced", O_CREAT | O_RDWR, 0o644).unwrap();
        c.write(s, fd, b"only in the cache").unwrap();
    });
    assert!(w.sim.crash_now("mfs"));
    assert!(w.sim.run_until(100 * sys::HZ, |s| {
        s.rs_service("mfs")
            .map(|i| i.restarts == 1)
            .unwrap_or(false)
            && s.is_alive("mfs")
    }));
    let out = slot::<(Option<Vec<u8>>, Option<Vec<u8>>, bool)>();
    let o2 = out.clone();
    w.run(move |s, c| {
        let mut read = |p: &str| {
            let fd = c.open(s, p, O_RDONLY, 0).ok()?;
            let d = c.read(s, fd, 100).ok();
            c.close(s, fd).ok()?;
            d
        };
        let kept = read("/kept");
        let unsynced = read("/unsynced");
        o2.borrow_mut().replace((kept, unsynced, false));
    });
    let (kept, unsynced, _) = out.borrow_mut().take().unwrap();
    // The descriptor left open across the crash is still referenced in MFS
    // only when the restart was stateful.
    let refs = w.fss[0].mem.borrow().durable.refs().len();
    (kept, unsynced, refs == 1)
}

#[test]
fn stateful_restart_keeps_unflushed_writes() {
    let (kept, unsynced, ok) = write_then_crash(true);
    assert_eq!(kept.as_deref(), Some(&b"synced"[..]));
    assert_eq!(unsynced.as_deref(), Some(&b"only in the cache"[..]));
    assert!(ok);
}

#[test]
fn stateless_restart_loses_unflushed_writes() {
    let (kept, unsynced, ok) = write_then_crash(false);
    // fsync'ed data is on the device; the rest died with the cache.
    assert_eq!(kept.as_deref(), Some(&b"synced"[..]));
    assert_eq!(unsynced, None);
    // Open references died with the instance.
    assert!(!ok);
}

/// A kill that strikes inside a request (natively: RS killing an MFS that
/// missed its pings while it waited on the disk) leaves the memory marked
/// busy: the successor trusts none of it and starts stateless, saying so,
/// rather than adopting a half-changed cache.
#[test]
fn memory_left_inside_a_request_is_not_adopted() {
    let mut w = world(24, 1, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    w.run(move |s, c| {
        let fd = c.open(s, "/unsynced", O_CREAT | O_RDWR, 0o644).unwrap();
        c.write(s, fd, b"only in the cache").unwrap();
    });
    let adoptions = w.fss[0].mem.borrow().adoptions;
    // As if the instance had been cut off in the middle of a handler.
    w.fss[0].mem.borrow_mut().busy = true;
    assert!(w.sim.crash_now("mfs"));
    assert!(w.sim.run_until(100 * sys::HZ, |s| {
        s.rs_service("mfs")
            .is_some_and(|i| i.restarts == 1 && i.state == RunState::Running)
    }));
    let m = w.fss[0].mem.borrow();
    assert_eq!(m.adoptions, adoptions, "the cache was adopted");
    assert!(!m.busy, "the new instance cleared the mark");
    assert!(m.durable.refs().is_empty(), "open references kept");
    drop(m);
    let said = w.sim.trace().iter().any(|e| {
        matches!(e, sim::Event::Log { text, .. }
            if text.contains("died inside a request") && text.contains("starting stateless"))
    });
    assert!(said, "no log line about the stateless start");
    let out = slot::<Option<Vec<u8>>>();
    let o2 = out.clone();
    w.run(move |s, c| {
        let got = c
            .open(s, "/unsynced", O_RDONLY, 0)
            .ok()
            .and_then(|fd| c.read(s, fd, 100).ok());
        o2.borrow_mut().replace(got);
    });
    assert_eq!(
        out.borrow_mut().take(),
        Some(None),
        "the unflushed file survived"
    );
}

#[test]
fn open_file_survives_a_stateful_restart() {
    let mut w = world(23, 1, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        let fd = c.open(s, "/f", O_CREAT | O_RDWR, 0o644).unwrap();
        c.write(s, fd, b"before").unwrap();
        c.fsync(s, fd).unwrap();
        // Left open: its MFS reference must survive the restart below.
        d2.borrow_mut().replace(fd == 0);
    });
    assert_eq!(*done.borrow(), Some(true));
    // MFS dies on the third request of the next script, mid-way.
    let done = slot::<bool>();
    let d2 = done.clone();
    w.sim.crash_at("mfs", 3);
    w.run(move |s, c| {
        let fd = c.open(s, "/f", O_RDWR | O_APPEND, 0).unwrap();
        for _ in 0..5 {
            c.write(s, fd, b"+").unwrap();
        }
        c.close(s, fd).unwrap();
        let fd = c.open(s, "/f", O_RDONLY, 0).unwrap();
        assert_eq!(c.read(s, fd, 100).unwrap(), b"before+++++");
        c.close(s, fd).unwrap();
        assert_eq!(c.stat(s, "/nope"), Err(ENOENT));
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
    assert_eq!(restarts(&w), 1);
    // The reference the first script left open is still counted by MFS
    // after the restart (durable refs), plus none leaked by the second.
    let refs: usize = w.fss[0]
        .mem
        .borrow()
        .durable
        .refs()
        .values()
        .map(|&n| n as usize)
        .sum();
    assert_eq!(refs, 1);
}

fn dir_index(w: &World) -> mfs::DirIndexStats {
    w.sim
        .with_process::<sys::Sef<mfs::server::MfsServer>, _>("mfs", |s| {
            s.service().dir_index_stats()
        })
        .flatten()
        .expect("mfs mounted")
}

/// A directory large enough for MFS's name index (300 names), changed
/// while MFS crashes mid-way: the restarted server has no index, builds
/// it again from disk on first use, and every name resolves as written.
#[test]
fn a_large_directory_stays_right_across_a_restart() {
    let mut w = world(24, 1, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    w.run(move |s, c| {
        c.mkdir(s, "/big", 0o755).unwrap();
        for i in 0..300 {
            let fd = c
                .open(s, &format!("/big/f{i}"), O_CREAT | O_EXCL | O_WRONLY, 0o644)
                .unwrap();
            c.close(s, fd).unwrap();
        }
    });
    let before = dir_index(&w);
    assert!(before.dirs >= 1 && before.indexed_finds > 0, "{before:?}");
    // Dies on the 40th request of the script below.
    w.sim.crash_at("mfs", 40);
    w.run(move |s, c| {
        for i in (0..300).step_by(3) {
            c.unlink(s, &format!("/big/f{i}")).unwrap();
        }
        for i in (1..300).step_by(3) {
            c.rename(s, &format!("/big/f{i}"), &format!("/big/r{i}"))
                .unwrap();
        }
        for i in 300..340 {
            let fd = c
                .open(s, &format!("/big/f{i}"), O_CREAT | O_EXCL | O_WRONLY, 0o644)
                .unwrap();
            c.close(s, fd).unwrap();
        }
    });
    assert_eq!(restarts(&w), 1);
    let after = dir_index(&w);
    assert!(after.builds >= 1 && after.indexed_finds > 0, "{after:?}");
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        for i in 0..340 {
            let (f, r) = (
                c.stat(s, &format!("/big/f{i}")),
                c.stat(s, &format!("/big/r{i}")),
            );
            let want = if i >= 300 || i % 3 == 2 {
                (true, false)
            } else if i % 3 == 1 {
                (false, true)
            } else {
                (false, false)
            };
            assert_eq!((f.is_ok(), r.is_ok()), want, "{i}");
            for x in [f, r] {
                assert!(matches!(x, Ok(_) | Err(ENOENT)), "{i}: {x:?}");
            }
        }
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
}

/// Sends RS `service down LABEL` when its alarm fires (a process of its
/// own, so it acts while a client is blocked in VFS).
struct Downer {
    label: &'static str,
    after: u64,
}

impl sys::Process for Downer {
    fn start(&mut self, sys: &mut dyn sys::Sys) {
        sys.set_alarm(self.after);
    }
    fn receive(&mut self, sys: &mut dyn sys::Sys, msg: sys::Message) {
        if msg.source() == sys::Endpoint::CLOCK {
            let req = sys::proto::service::ServiceRequest::Down {
                id: 7,
                label: self.label.into(),
            };
            let _ = sys.send(sys::Endpoint::RS, req.to_message().unwrap());
        }
    }
}

#[test]
fn a_file_server_taken_down_for_good_fails_held_and_later_requests_with_eio() {
    let mut w = world(24, 2, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    let before = slot::<bool>();
    let b2 = before.clone();
    w.run(move |s, c| {
        let fd = c.open(s, "/mnt2/f", O_CREAT | O_WRONLY, 0o644).unwrap();
        c.close(s, fd).unwrap();
        b2.borrow_mut().replace(true);
    });
    assert_eq!(*before.borrow(), Some(true));
    // From now on mfs2 dies at every message, so a request to it is held;
    // then RS is told to take it down for good.
    w.sim.faults_randomly(&["mfs2"], 1_000_000, 0);
    w.sim
        .spawn_user(
            "downer",
            Box::new(Downer {
                label: "mfs2",
                after: 20,
            }),
        )
        .unwrap();
    let out = slot::<(
        Result<u64, sys::Errno>,
        Result<u64, sys::Errno>,
        Result<u64, sys::Errno>,
    )>();
    let o2 = out.clone();
    w.run(move |s, c| {
        // Held while mfs2 crashes over and over, failed once it is down.
        let held = c.stat(s, "/mnt2/f").map(|st| st.size);
        // Later requests fail at once; the root file system still works.
        let later = c.stat(s, "/mnt2/f").map(|st| st.size);
        let root = c.stat(s, "/").map(|st| u64::from(st.ino));
        o2.borrow_mut().replace((held, later, root));
    });
    let (held, later, root) = out.borrow_mut().take().expect("the client was answered");
    assert_eq!(held, Err(EIO));
    assert_eq!(later, Err(EIO));
    assert!(root.is_ok(), "the root file system still answers: {root:?}");
    let st = w.sim.with_process::<Vfs, _>("vfs", |v| v.stats()).unwrap();
    assert!(st.bounced >= 1, "the request was held first: {st:?}");
}
