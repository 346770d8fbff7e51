//! t40f: timeouts, with the current MINIX rules (a `tv_usec` of a million
//! or more is `EINVAL`, since 2015). The parent selects for reading on an
//! empty pipe it shares with a child: {3, 0} returns 0 after 3 s;
//! {0, 3000000}, {0, 1000000} and {0, ~0} are `EINVAL` at once;
//! {2, 999999} returns 0 after 3 s; and a {7, 0} select is interrupted by
//! the SIGUSR1 the child sends 7 s after its start (about a second into
//! it): -1 with `EINTR`, more than half a second before 7 s, the handler
//! having run. Elapsed times are clock ticks, within half a second.

use crate::{bit, near, now, select, sets};
use alloc::format;
use core::sync::atomic::{AtomicBool, Ordering};
use minixtest::Subtest;
use ulib::Errno;
use ulib::fd::{self, FdSets};
use ulib::process;
use ulib::signal::{self, Handler, SIGUSR1};
use ulib::time::HZ;

const DO_PAUSE: i64 = 3;
const DO_TIMEOUT: i64 = 7;

static GOT_SIGNAL: AtomicBool = AtomicBool::new(false);

fn catch_signal(_: u32) {
    GOT_SIGNAL.store(true, Ordering::SeqCst);
}

fn child() -> ! {
    // The parent's first selects take DO_PAUSE + DO_PAUSE seconds; the
    // signal lands about a second into its DO_TIMEOUT one.
    let _ = fd::select(0, FdSets::default(), Some((DO_PAUSE + DO_PAUSE + 1, 0)));
    if let Err(err) = process::kill(process::getppid(), SIGUSR1) {
        ulib::println!("t40f child: kill: {}", ulib::errno::strerror(err));
        process::exit(1)
    }
    process::exit(0)
}

pub fn run(s: &mut Subtest) {
    let (r, _w) = match fd::pipe() {
        Ok(p) => p,
        Err(err) => return s.fail(1, "pipe", err),
    };
    if let Err(err) = signal::signal(SIGUSR1, Handler::Catch(catch_signal)) {
        return s.fail(1, "signal", err);
    }
    let pid = match process::fork() {
        Ok(0) => child(),
        Ok(pid) => pid,
        Err(err) => return s.fail(1, "fork", err),
    };
    let want = sets(bit(r), 0, 0);

    // DO_PAUSE seconds.
    let t0 = now();
    let res = select(want, Some((DO_PAUSE, 0)));
    let el = now() - t0;
    s.check(matches!(res, Ok((0, _))), 1, || {
        format!("should have timed out: {res:?}")
    });
    s.check(near(el, DO_PAUSE as u64), 2, || {
        format!("time difference too large: {el} ticks for {DO_PAUSE} s ({HZ} Hz)")
    });

    // The same as microseconds: invalid, at once.
    for (n, usec) in [(3, DO_PAUSE * 1_000_000), (4, 1_000_000), (5, !0i64)] {
        let t0 = now();
        let res = select(want, Some((0, usec)));
        let el = now() - t0;
        s.check(res == Err(Errno::EINVAL), n, || {
            format!("timeout (0, {usec}): {res:?}, expected EINVAL")
        });
        s.check(el * 2 < HZ, n, || {
            format!("timeout (0, {usec}) took {el} ticks")
        });
    }

    // DO_PAUSE seconds as seconds and microseconds.
    let t0 = now();
    let res = select(want, Some((DO_PAUSE - 1, 999_999)));
    let el = now() - t0;
    s.check(matches!(res, Ok((0, _))), 5, || {
        format!("should have timed out: {res:?}")
    });
    s.check(near(el, DO_PAUSE as u64), 6, || {
        format!(
            "time difference too large: {el} ticks for ({}, 999999)",
            DO_PAUSE - 1
        )
    });

    // Interrupted by the child's signal.
    let t0 = now();
    let res = select(want, Some((DO_TIMEOUT, 0)));
    let el = now() - t0;
    s.check(res == Err(Errno::EINTR), 7, || {
        format!("should have been interrupted: {res:?}")
    });
    s.check(!near(el, DO_TIMEOUT as u64), 8, || {
        format!("failed to get interrupted by a signal: returned after {el} ticks")
    });
    s.check(
        GOT_SIGNAL.load(Ordering::SeqCst),
        9,
        || "the SIGUSR1 handler did not run",
    );

    match process::waitpid(pid, 0) {
        Ok((_, st)) => s.check(st.success(), 10, || format!("child: {st}")),
        Err(err) => s.fail(10, "waitpid", err),
    }
}
