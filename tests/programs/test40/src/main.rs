//! `/bin/test40 [LETTERS]`: MINIX test40 (select(2)) as a disk program on
//! `ulib`, with MINIX's subtest letters, each run in a forked child
//! (`minixtest`), in `/tmp/DIR_40`:
//!
//! * `a` — descriptor sets and argument errors (MINIX's t40a checks the
//!   `FD_*` macros; here the sets are 64-bit masks, `OPEN_MAX` = 64): the
//!   last descriptor (63), bits at or past `nfds` not looked at, `nfds`
//!   out of 0..=64 → `EINVAL`, closed descriptors in any set → `EBADF`
//!   (also beside a ready one), a directory → `EBADF`, bad timevals →
//!   `EINVAL` (checked before the descriptors, as MINIX does).
//! * `b` — regular files (t40b): always ready for read, write and error,
//!   at once although a 3 s timeout is given.
//! * `c` — pseudo terminals (t40c): a child writes on `/dev/ttypN`, the
//!   parent selects on `/dev/ptypN` (opened read-only: ready for write at
//!   once, readable only after the child wrote), two descriptors of the
//!   same master both reported, also after a blocking wait.
//! * `d` — FIFOs and pipes (t40d) with a child, then end-of-file, a writer
//!   that goes away while the reader waits, readers gone (writable and
//!   error), a full pipe (not writable until read) and many pipes at once.
//! * `e` — sockets (t40e): skipped, the system has none.
//! * `f` — timeouts (t40f, current MINIX rules): {3, 0} → 0 after 3 s;
//!   {0, 3000000}, {0, 1000000}, {0, ~0} → `EINVAL`; {2, 999999} → 0
//!   after 3 s; a {7, 0} select interrupted by a child's SIGUSR1 about a
//!   second in → `EINTR`, well before 7 s, the handler having run.
//!
//! Times are compared in clock ticks, as MINIX does: within half a second
//! of the expected time. Prints a line per subtest and `Test 40 ... ok`
//! (exit 0) or `Test 40 ... FAILED, N errors` (exit 1).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod a;
mod b;
mod c;
mod d;
mod f;

use alloc::string::String;
use minixtest::{Case, Subtest};
use ulib::Errno;
use ulib::fd::{self, Fd, FdSets};
use ulib::time;

ulib::main!(main);

/// t40e: select on sockets.
fn t40e(s: &mut Subtest) {
    s.skip("this system has no sockets")
}

const CASES: [Case; 6] = [
    Case {
        letter: 'a',
        what: "descriptor sets and argument errors",
        run: a::run,
    },
    Case {
        letter: 'b',
        what: "regular files",
        run: b::run,
    },
    Case {
        letter: 'c',
        what: "pseudo terminals",
        run: c::run,
    },
    Case {
        letter: 'd',
        what: "FIFOs and pipes",
        run: d::run,
    },
    Case {
        letter: 'e',
        what: "sockets",
        run: t40e,
    },
    Case {
        letter: 'f',
        what: "timeouts",
        run: f::run,
    },
];

fn main(args: &[String]) -> i32 {
    minixtest::run(40, &CASES, args, 1)
}

/// The set bit of descriptor `fd`.
pub fn bit(fd: Fd) -> u64 {
    1u64 << fd
}

/// Sets of `read`, `write` and `except` masks.
pub fn sets(read: u64, write: u64, except: u64) -> FdSets {
    FdSets {
        read,
        write,
        except,
    }
}

/// select(2) with the highest descriptor in any set + 1 as `nfds`.
pub fn select(s: FdSets, timeout: Option<(i64, i64)>) -> Result<(i64, FdSets), Errno> {
    let all = s.read | s.write | s.except;
    let nfds = 64 - all.leading_zeros() as i32;
    fd::select(nfds, s, timeout)
}

/// Sleeps `secs` seconds with an empty select (MINIX's children do the
/// same); an interruption just ends the sleep.
pub fn pause_secs(secs: i64) {
    let _ = fd::select(0, FdSets::default(), Some((secs, 0)));
}

/// Clock ticks since boot.
pub fn now() -> u64 {
    time::uptime()
}

/// Whether `ticks` lies within half a second of `secs` seconds (t40f's
/// `compute_diff(...) <= DO_DELTA`, in ticks).
pub fn near(ticks: u64, secs: u64) -> bool {
    ticks.abs_diff(secs * time::HZ) * 2 <= time::HZ
}
