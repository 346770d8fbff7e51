//! t40c: (pseudo) terminal devices. A child writes "minixrocks" on the
//! slave `/dev/ttypN` (opened write-only) after 2 s and again a second
//! later; the parent selects on the master `/dev/ptypN` (opened
//! read-only): at first only writable (a write would fail at once), then
//! readable once the child wrote, and two descriptors of the same master
//! are both reported, at once and after a blocking wait. Before that, the
//! write-only slave must be "readable" at once (the read would fail).

use crate::{bit, pause_secs, select, sets};
use alloc::format;
use minixtest::Subtest;
use ulib::errno::strerror;
use ulib::fd::{self, Fd};
use ulib::fs::{self, O_RDONLY, O_WRONLY};
use ulib::process;

const SENDSTRING: &[u8] = b"minixrocks";

/// The first free pair, as MINIX's `open_terminal`: (slave opened
/// write-only for the child, master opened read-only for the parent).
/// The master is opened first: MINIX opens the slave first, which
/// old-style ptys allow, but that order is test77's business (a, c);
/// this subtest is about select.
fn open_terminal(s: &mut Subtest) -> (Fd, Fd) {
    let mut why = None;
    for n in (0..4).rev() {
        let slave = format!("/dev/ttyp{n}");
        let master = format!("/dev/ptyp{n}");
        if !fs::exists(&master) {
            continue;
        }
        let r = match fs::open_fd(&master, O_RDONLY, 0) {
            Ok(r) => r,
            Err(err) => {
                why = Some(format!("{master}: {}", strerror(err)));
                continue;
            }
        };
        match fs::open_fd(&slave, O_WRONLY, 0) {
            Ok(w) => return (w, r),
            Err(err) => {
                why = Some(format!("{slave}: {}", strerror(err)));
                let _ = fd::close(r);
            }
        }
    }
    match why {
        None => s.skip("no pseudo terminals (/dev/ptyp0..3)"),
        Some(why) => s.e(
            1,
            format!("no pseudo terminal pair could be opened ({why})"),
        ),
    }
    s.finish()
}

fn child(terminal: Fd) -> ! {
    pause_secs(2);
    let _ = fd::write(terminal, SENDSTRING);
    pause_secs(1);
    let _ = fd::write(terminal, SENDSTRING);
    pause_secs(1);
    let _ = fd::close(terminal);
    process::exit(0)
}

pub fn run(s: &mut Subtest) {
    let (w, terminal) = open_terminal(s);
    // The write-only slave is "readable" at once: a read on it fails at
    // once (MINIX's VFS answers this without asking the driver).
    let r = select(sets(bit(w), 0, 0), Some((0, 0)));
    s.check(r == Ok((1, sets(bit(w), 0, 0))), 15, || {
        format!("read on the write-only slave: {r:?}, expected ready")
    });
    let pid = match process::fork() {
        Ok(0) => child(w),
        Ok(pid) => pid,
        Err(err) => return s.fail(2, "fork", err),
    };
    let _ = fd::close(w);

    // Read-only master: writable at once, not readable (the child waits).
    let t = bit(terminal);
    let r = select(sets(t, t, t), None);
    s.check(r == Ok((1, sets(0, t, 0))), 3, || {
        format!("only write should be set: {r:?}")
    });
    // Block until the child wrote.
    let r = select(sets(t, 0, t), None);
    s.check(r == Ok((1, sets(t, 0, 0))), 5, || {
        format!("read should be set once the child wrote: {r:?}")
    });
    let r = select(sets(0, t, 0), None);
    s.check(r == Ok((1, sets(0, t, 0))), 8, || {
        format!("write on a read-only fd: {r:?}")
    });

    // Two descriptors of the same master: both ready, at once.
    let terminal2 = match fd::dup(terminal) {
        Ok(t2) => t2,
        Err(err) => return s.fail(9, "dup", err),
    };
    let both = bit(terminal) | bit(terminal2);
    let r = select(sets(both, 0, 0), None);
    s.check(r == Ok((2, sets(both, 0, 0))), 10, || {
        format!("both fds should be set: {r:?}")
    });
    let mut buf = [0u8; 256];
    match fd::read(terminal, &mut buf) {
        Ok(n) if n > 0 => {}
        other => s.e(13, format!("unable to read data: {other:?}")),
    }
    // Again, now after a wait for the child's second write.
    let r = select(sets(both, 0, 0), None);
    s.check(r == Ok((2, sets(both, 0, 0))), 11, || {
        format!("both fds should be set after the wait: {r:?}")
    });

    let _ = fd::close(terminal2);
    let _ = fd::close(terminal);
    match process::waitpid(pid, 0) {
        Ok((_, st)) => s.check(st.success(), 14, || format!("child: {st}")),
        Err(err) => s.fail(14, "waitpid", err),
    }
}
