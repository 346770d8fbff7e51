//! test77 d, e, f: controlling terminals, SIGHUP on hang-up, and select
//! on `/dev/tty`. Each forks a child that becomes a session leader.

use crate::{close_or, get, get_pty, make_raw, open_or, put};
use alloc::format;
use core::sync::atomic::{AtomicU32, Ordering};
use minixtest::Subtest;
use ulib::Errno;
use ulib::fd::{self, Fd, FdSets};
use ulib::fs::{self, O_NOCTTY, O_RDWR};
use ulib::process;
use ulib::signal::{self, Handler, SIG_BLOCK, SIG_SETMASK, SIGALRM, SIGHUP, SIGUSR1};

/// Seconds the waits for a signal in `e` last at most (not in MINIX).
const SIGNAL_GUARD: u32 = 10;

/// Waits for the child; error `n` unless it exited 0 (MINIX `waitchild`).
fn waitchild(s: &mut Subtest, n: u32) {
    loop {
        match process::wait() {
            Ok((_, st)) => {
                s.check(st.success(), n, || format!("child: {st}"));
                return;
            }
            Err(Errno::EINTR) => {}
            Err(err) => return s.fail(n, "wait", err),
        }
    }
}

/// Forks; the child runs `f` and exits with its error count.
fn fork_child(s: &mut Subtest, n: u32, f: impl FnOnce(&mut Subtest)) -> bool {
    match process::fork() {
        Ok(0) => {
            let mut c = s.fresh();
            f(&mut c);
            c.finish()
        }
        Ok(_) => true,
        Err(err) => {
            s.fail(n, "fork", err);
            false
        }
    }
}

/// Opening the slave with and without `O_NOCTTY`.
pub fn test77d(s: &mut Subtest) {
    let _ = process::setsid();
    let (m, names) = get_pty(s, 10);
    let slave = names.slave.clone();
    if fork_child(s, 30, |c| {
        close_or(c, 31, m);
        if let Err(err) = process::setsid() {
            c.fail(32, "setsid", err);
        }
        let _sl = open_or(c, 33, &slave, O_NOCTTY);
        let r = fs::open_fd("/dev/tty", O_RDWR, 0);
        c.check(r == Err(Errno::ENXIO), 34, || {
            format!("/dev/tty after an O_NOCTTY open: {r:?}, expected ENXIO")
        });
    }) {
        waitchild(s, 35);
    }
    close_or(s, 36, m);

    let (m, names) = get_pty(s, 40);
    let slave = names.slave.clone();
    if fork_child(s, 60, |c| {
        close_or(c, 61, m);
        if let Err(err) = process::setsid() {
            c.fail(62, "setsid", err);
        }
        let _sl = open_or(c, 63, &slave, 0);
        let r = fs::open_fd("/dev/tty", O_RDWR, 0);
        c.check(r.is_ok(), 64, || {
            format!("/dev/tty after opening the slave: {r:?}")
        });
    }) {
        waitchild(s, 65);
    }
    close_or(s, 66, m);
}

static SIGHUPS: AtomicU32 = AtomicU32::new(0);
static ALARMS: AtomicU32 = AtomicU32::new(0);

fn signal_handler(sig: u32) {
    match sig {
        SIGHUP => SIGHUPS.fetch_add(1, Ordering::SeqCst),
        SIGALRM => ALARMS.fetch_add(1, Ordering::SeqCst),
        _ => 0,
    };
}

/// Waits (mask `oset` in force) for a handler, at most [`SIGNAL_GUARD`]
/// seconds; error `n` if the guard's alarm was what ended the wait.
fn suspend(s: &mut Subtest, n: u32, oset: u64, what: &str) {
    let alarms = ALARMS.load(Ordering::SeqCst);
    let _ = process::alarm(SIGNAL_GUARD);
    let r = signal::sigsuspend(oset);
    let _ = process::alarm(0);
    s.check(r == Errno::EINTR, n, || format!("sigsuspend: {r:?}"));
    s.check(ALARMS.load(Ordering::SeqCst) == alarms, n, || {
        format!("no {what} within {SIGNAL_GUARD} s")
    });
}

/// SIGHUP to the session leader when the master is closed.
pub fn test77e(s: &mut Subtest) {
    for sig in [SIGHUP, SIGUSR1, SIGALRM] {
        if let Err(err) = signal::signal(sig, Handler::Catch(signal_handler)) {
            s.fail(1, "signal", err);
        }
    }
    let set = signal::bit(SIGHUP) | signal::bit(SIGUSR1);
    let oset = match signal::sigprocmask(SIG_BLOCK, set) {
        Ok(o) => o,
        Err(err) => return s.fail(2, "sigprocmask", err),
    };
    SIGHUPS.store(0, Ordering::SeqCst);
    let _ = process::setsid();
    let (m, names) = get_pty(s, 10);
    let slave = names.slave.clone();
    let parent = process::getpid();
    let forked = fork_child(s, 30, |c| {
        close_or(c, 31, m);
        if let Err(err) = process::setsid() {
            c.fail(32, "setsid", err);
        }
        let _sl = open_or(c, 33, &slave, 0);
        // Tell the parent we are ready.
        if let Err(err) = process::kill(parent, SIGUSR1) {
            c.fail(34, "kill", err);
        }
        // Now a SIGHUP must come.
        suspend(c, 35, oset, "SIGHUP");
        let n = SIGHUPS.load(Ordering::SeqCst);
        c.check(n == 1, 36, || format!("{n} SIGHUPs, expected 1"));
    });
    if !forked {
        return;
    }
    // Wait for the child's SIGUSR1.
    suspend(s, 37, oset, "SIGUSR1 from the child");
    // Closing the master must send the child a SIGHUP.
    close_or(s, 38, m);
    waitchild(s, 39);
    if let Err(err) = signal::sigprocmask(SIG_SETMASK, oset) {
        s.fail(40, "sigprocmask", err);
    }
}

fn bit(fd: Fd) -> u64 {
    1u64 << fd
}

/// select for reading on `fds`, as MINIX's calls: (count, read set).
fn sel_read(fds: u64, timeout: Option<(i64, i64)>) -> Result<(i64, u64), Errno> {
    let nfds = 64 - fds.leading_zeros() as i32;
    let sets = FdSets {
        read: fds,
        ..FdSets::default()
    };
    fd::select(nfds, sets, timeout).map(|(n, r)| (n, r.read))
}

/// The child of `f`: a session leader with the slave as its controlling
/// terminal, selecting on `/dev/tty`.
fn f_child(c: &mut Subtest, master: Fd, slave: &str) {
    close_or(c, 20, master);
    if let Err(err) = process::setsid() {
        c.fail(21, "setsid", err);
    }
    let Some(slavefd) = open_or(c, 22, slave, 0) else {
        return;
    };
    let Some(fd) = open_or(c, 23, "/dev/tty", 0) else {
        return;
    };
    make_raw(c, 24, fd);
    let poll = Some((0, 0));

    // Without input, /dev/tty is not readable.
    let r = sel_read(bit(fd), poll);
    c.check(r == Ok((0, 0)), 25, || format!("poll: {r:?}, expected 0"));
    let r = sel_read(bit(fd), Some((0, 10_000)));
    c.check(r == Ok((0, 0)), 26, || format!("10 ms: {r:?}, expected 0"));
    // It is writable, though.
    let sets = FdSets {
        write: bit(fd),
        ..FdSets::default()
    };
    let r = fd::select(fd + 1, sets, None);
    c.check(r == Ok((1, sets)), 27, || {
        format!("write select: {r:?}, expected 1")
    });
    // Two descriptors of the same terminal.
    let both = bit(fd) | bit(slavefd);
    let r = sel_read(both, Some((0, 10_000)));
    c.check(r == Ok((0, 0)), 28, || {
        format!("/dev/tty and the slave: {r:?}, expected 0")
    });

    // The parent's answer must wake the select.
    put(c, 29, slavefd, b'A');
    let r = sel_read(bit(fd), None);
    c.check(r == Ok((1, bit(fd))), 30, || {
        format!("woken by the master's write: {r:?}")
    });
    // Still readable...
    let r = sel_read(bit(fd), poll);
    c.check(r == Ok((1, bit(fd))), 31, || {
        format!("still readable: {r:?}")
    });
    // ... until the byte is read.
    get(c, 32, slavefd, b'B');
    let r = sel_read(bit(fd), poll);
    c.check(r == Ok((0, 0)), 33, || format!("after the read: {r:?}"));

    // Ask the parent to close the master: EOF is readable, twice.
    put(c, 34, slavefd, b'C');
    for n in [35, 36] {
        let r = sel_read(bit(fd), None);
        c.check(r == Ok((1, bit(fd))), n, || {
            format!("after the master's close: {r:?}")
        });
    }
    let mut b = [0u8; 1];
    let r = fd::read(slavefd, &mut b);
    c.check(r == Ok(0), 37, || {
        format!("read at hang-up: {r:?}, expected 0")
    });
}

/// select on `/dev/tty`.
pub fn test77f(s: &mut Subtest) {
    if let Err(err) = signal::signal(SIGHUP, Handler::Ignore) {
        s.fail(1, "signal(SIGHUP, SIG_IGN)", err);
    }
    let (m, names) = get_pty(s, 100);
    // get_pty opened and closed the slave, so until the child opens it the
    // master reads end of file (MINIX TTY_CLOSED): close and reopen the
    // master to start fresh, as test77c does for old-style pairs (MINIX's
    // get_pty takes a Unix98 pair here and never meets this).
    close_or(s, 3, m);
    let Some(m) = open_or(s, 4, &names.master, O_NOCTTY) else {
        return;
    };
    let slave = names.slave.clone();
    if !fork_child(s, 40, |c| f_child(c, m, &slave)) {
        return;
    }
    // Wait for the child to write something to the slave.
    let r = sel_read(bit(m), None);
    s.check(r == Ok((1, bit(m))), 41, || format!("master select: {r:?}"));
    get(s, 42, m, b'A');
    // Answer once the child is blocked in its select.
    let r = sel_read(bit(m), Some((1, 0)));
    s.check(r == Ok((0, 0)), 43, || format!("1 s on the master: {r:?}"));
    put(s, 44, m, b'B');
    // The child asks for the master's close.
    get(s, 45, m, b'C');
    // Close it once the child is blocked in its select.
    let _ = fd::select(0, FdSets::default(), Some((1, 0)));
    close_or(s, 46, m);
    waitchild(s, 47);
}
