//! `/bin/test77 [LETTERS] [iterations=N]`: MINIX test77 (pseudo terminals)
//! as a disk program on `ulib`, for the old-style (BSD) pairs this system
//! has: masters `/dev/ptypN`, slaves `/dev/ttypN` (N = 0..3). As MINIX, the
//! subtests run `iterations` times (default 10), each in a forked child
//! (`minixtest`):
//!
//! * `a` — orders of opening and closing: slave first or master first,
//!   reopening either side, a slave opened and closed with no master.
//! * `b` — a second open of a master fails with `EIO`; a slave can be
//!   opened twice, and both talk to the master.
//! * `c` — half-open pairs: master writes wait for a slave; once the slave
//!   is closed a master write is `EIO`; slave writes wait for a master;
//!   once the master is closed a slave write is `EIO` and a read is EOF.
//! * `d` — opening the slave with `O_NOCTTY` does not make it the
//!   controlling terminal (`/dev/tty` → `ENXIO`), without it it does.
//! * `e` — closing the master sends exactly one SIGHUP to the session
//!   leader that has the slave as its controlling terminal.
//! * `f` — select on `/dev/tty`: not readable without input (poll and a
//!   10 ms timeout), writable, the slave and `/dev/tty` descriptors both
//!   not readable; woken by the master's write, still readable until the
//!   byte is read; the master's close makes it readable (EOF), twice, and
//!   the read gives 0.
//! * `g`, `h` — Unix98 ptys (`/dev/ptmx`, `/dev/pts`): skipped, the system
//!   has only old-style pairs.
//!
//! Guards MINIX does not have: the waits for a signal in `e` end after
//! 10 s (an alarm), so a missing SIGHUP is an error, not a hang.
//!
//! Prints a line per subtest and `Test 77 ... ok` (exit 0) or
//! `Test 77 ... FAILED, N errors` (exit 1).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod open;
mod session;

use alloc::format;
use alloc::string::String;
use minixtest::{Case, Subtest};
use ulib::fd::{self, Fd};
use ulib::fs::{self, O_NOCTTY, O_RDWR};
use ulib::term;

ulib::main!(main);

/// Pseudo terminal pairs of the system.
pub const PTYS: u32 = 4;

/// MINIX's `ITERATIONS`.
const ITERATIONS: u32 = 10;

fn unix98(s: &mut Subtest) {
    s.skip("no Unix98 pseudo terminals (/dev/ptmx, /dev/pts): only old-style /dev/ptypN pairs")
}

const CASES: [Case; 8] = [
    Case {
        letter: 'a',
        what: "open and close orders",
        run: open::test77a,
    },
    Case {
        letter: 'b',
        what: "opening a side twice",
        run: open::test77b,
    },
    Case {
        letter: 'c',
        what: "half-open pairs",
        run: open::test77c,
    },
    Case {
        letter: 'd',
        what: "O_NOCTTY and the controlling terminal",
        run: session::test77d,
    },
    Case {
        letter: 'e',
        what: "SIGHUP on master close",
        run: session::test77e,
    },
    Case {
        letter: 'f',
        what: "select on /dev/tty",
        run: session::test77f,
    },
    Case {
        letter: 'g',
        what: "Unix98 ptys and /dev/pts",
        run: unix98,
    },
    Case {
        letter: 'h',
        what: "old-style and Unix98 exclusion",
        run: unix98,
    },
];

fn main(args: &[String]) -> i32 {
    let n = minixtest::setting(args, "iterations")
        .and_then(|v| v.parse().ok())
        .unwrap_or(ITERATIONS);
    minixtest::run(77, &CASES, args, n)
}

/// A pair's master and slave names.
#[derive(Clone)]
pub struct Names {
    /// `/dev/ptypN`.
    pub master: String,
    /// `/dev/ttypN`.
    pub slave: String,
}

/// `open(path, O_RDWR | O_NOCTTY)`.
pub fn open_noctty(path: &str) -> Result<Fd, ulib::Errno> {
    fs::open_fd(path, O_RDWR | O_NOCTTY, 0)
}

/// Opens `path` (`O_RDWR` plus `flags`), recording error `n` on failure.
pub fn open_or(s: &mut Subtest, n: u32, path: &str, flags: u32) -> Option<Fd> {
    match fs::open_fd(path, O_RDWR | flags, 0) {
        Ok(fd) => Some(fd),
        Err(err) => {
            s.fail(n, path, err);
            None
        }
    }
}

/// Closes `fd`, recording error `n` on failure.
pub fn close_or(s: &mut Subtest, n: u32, fd: Fd) {
    if let Err(err) = fd::close(fd) {
        s.fail(n, "close", err);
    }
}

/// MINIX's `make_raw`: the terminal of `fd` in raw mode.
pub fn make_raw(s: &mut Subtest, n: u32, fd: Fd) {
    match term::tcgetattr(fd) {
        Ok(mut t) => {
            term::cfmakeraw(&mut t);
            if let Err(err) = term::tcsetattr(fd, term::TCSANOW, &t) {
                s.fail(n, "tcsetattr", err);
            }
        }
        Err(err) => s.fail(n, "tcgetattr", err),
    }
}

/// Writes the byte `c` on `fd`; error `n` unless exactly one went.
pub fn put(s: &mut Subtest, n: u32, fd: Fd, c: u8) {
    let r = fd::write(fd, &[c]);
    s.check(r == Ok(1), n, || format!("write {:?}: {r:?}", c as char));
}

/// Reads one byte from `fd` and checks it is `c`; error `n` otherwise.
pub fn get(s: &mut Subtest, n: u32, fd: Fd, c: u8) {
    let mut b = [0u8; 1];
    let r = fd::read(fd, &mut b);
    s.check(r == Ok(1) && b[0] == c, n, || {
        format!("read: {r:?} {:?}, expected {:?}", b[0] as char, c as char)
    });
}

/// MINIX's `test_comm`: the slave in raw mode, then 'A' master → slave,
/// 'B' slave → master, 'C', 'D'. Errors are numbered from `n`.
pub fn test_comm(s: &mut Subtest, n: u32, master: Fd, slave: Fd) {
    make_raw(s, n, slave);
    put(s, n + 1, master, b'A');
    get(s, n + 2, slave, b'A');
    put(s, n + 3, slave, b'B');
    get(s, n + 4, master, b'B');
    put(s, n + 5, master, b'C');
    get(s, n + 6, slave, b'C');
    put(s, n + 7, slave, b'D');
    get(s, n + 8, master, b'D');
}

/// MINIX's `get_pty` for old-style pairs (its `openpty` path): the first
/// master that opens, its slave opened, `test_comm`, the slave closed.
/// Returns the master's descriptor and the pair's names; a failure is
/// error `n` and ends the subtest.
pub fn get_pty(s: &mut Subtest, n: u32) -> (Fd, Names) {
    for i in 0..PTYS {
        let names = Names {
            master: format!("/dev/ptyp{i}"),
            slave: format!("/dev/ttyp{i}"),
        };
        let Ok(m) = open_noctty(&names.master) else {
            continue;
        };
        let sl = match open_noctty(&names.slave) {
            Ok(sl) => sl,
            Err(err) => {
                s.fail(n, &names.slave, err);
                let _ = fd::close(m);
                continue;
            }
        };
        test_comm(s, n + 10, m, sl);
        close_or(s, n + 1, sl);
        return (m, names);
    }
    s.e(n, "no pseudo terminal could be opened (/dev/ptyp0..3)");
    s.finish()
}
