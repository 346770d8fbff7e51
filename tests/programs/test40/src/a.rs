//! t40a: descriptor sets and argument errors.

use crate::{bit, sets};
use alloc::format;
use minixtest::Subtest;
use ulib::Errno;
use ulib::fd::{self, FdSets};
use ulib::fs::{self, O_CREAT, O_DIRECTORY, O_RDONLY, O_RDWR};

const FILE: &str = "selecttesta-1";
/// The highest descriptor (`OPEN_MAX` - 1).
const LAST: i32 = 63;
/// A descriptor this subtest keeps closed.
const CLOSED: i32 = 40;
const POLL: Option<(i64, i64)> = Some((0, 0));

pub fn run(s: &mut Subtest) {
    // nfds outside 0..=OPEN_MAX.
    for (n, nfds) in [(1, -1), (2, 65), (3, i32::MIN), (4, 256)] {
        let r = fd::select(nfds, FdSets::default(), POLL);
        s.check(r == Err(Errno::EINVAL), n, || {
            format!("nfds {nfds}: {r:?}, expected EINVAL")
        });
    }
    let r = fd::select(64, FdSets::default(), POLL);
    s.check(r == Ok((0, FdSets::default())), 5, || {
        format!("nfds 64, empty sets: {r:?}")
    });

    let f = match fs::open_fd(FILE, O_RDWR | O_CREAT, 0o644) {
        Ok(f) => f,
        Err(err) => {
            s.fail(6, FILE, err);
            return;
        }
    };
    // The last descriptor, in every set, beside another ready one.
    if let Err(err) = fd::dup2(f, LAST) {
        s.fail(7, "dup2 to 63", err);
    }
    let want = sets(bit(LAST) | bit(f), bit(LAST), bit(LAST));
    let r = fd::select(64, want, POLL);
    s.check(r == Ok((4, want)), 8, || {
        format!("fd 63 in every set and {f} in the read set: {r:?}")
    });
    // Bits at or past nfds are not looked at.
    let r = fd::select(LAST, sets(bit(LAST), bit(LAST), 0), POLL);
    s.check(matches!(r, Ok((0, _))), 9, || {
        format!("fd 63 with nfds 63: {r:?}, expected 0")
    });
    let r = fd::select(0, sets(bit(f), bit(f), bit(f)), POLL);
    s.check(matches!(r, Ok((0, _))), 10, || {
        format!("nfds 0 with bits set: {r:?}, expected 0")
    });

    // Closed descriptors: EBADF in any set, also beside a ready one.
    let _ = fd::close(CLOSED);
    for (n, set) in [
        (11, sets(bit(CLOSED), 0, 0)),
        (12, sets(0, bit(CLOSED), 0)),
        (13, sets(0, 0, bit(CLOSED))),
        (14, sets(bit(f) | bit(CLOSED), bit(f), 0)),
    ] {
        let r = fd::select(CLOSED + 1, set, POLL);
        s.check(r.is_err_and(|e| e == Errno::EBADF), n, || {
            format!("closed fd {CLOSED} in {set:x?}: {r:?}, expected EBADF")
        });
    }
    // ... but not when it lies past nfds.
    let r = fd::select(CLOSED, sets(bit(f) | bit(CLOSED), 0, 0), POLL);
    s.check(r == Ok((1, sets(bit(f), 0, 0))), 15, || {
        format!("closed fd {CLOSED} past nfds: {r:?}")
    });
    // A descriptor closed after use.
    if fd::close(LAST).is_err() {
        s.e(16, "close of fd 63");
    }
    let r = fd::select(64, sets(bit(LAST), 0, 0), POLL);
    s.check(r == Err(Errno::EBADF), 17, || {
        format!("fd 63 after its close: {r:?}, expected EBADF")
    });

    // A directory has no select type: EBADF.
    match fs::open_fd(".", O_RDONLY | O_DIRECTORY, 0) {
        Ok(d) => {
            let r = fd::select(d + 1, sets(bit(d), 0, 0), POLL);
            s.check(r == Err(Errno::EBADF), 18, || {
                format!("a directory: {r:?}, expected EBADF")
            });
            let _ = fd::close(d);
        }
        Err(err) => s.fail(19, "open .", err),
    }

    // Bad timevals: EINVAL, even with a ready descriptor, and before a bad
    // descriptor is noticed.
    for (n, t) in [
        (20, (0, 3_000_000)),
        (21, (0, 1_000_000)),
        (22, (0, -1)),
        (23, (-1, 0)),
        (24, (-1, -1)),
    ] {
        let r = fd::select(f + 1, sets(bit(f), bit(f), 0), Some(t));
        s.check(r == Err(Errno::EINVAL), n, || {
            format!("timeout {t:?} with a ready file: {r:?}, expected EINVAL")
        });
        let r = fd::select(CLOSED + 1, sets(bit(CLOSED), 0, 0), Some(t));
        s.check(r == Err(Errno::EINVAL), n + 10, || {
            format!("timeout {t:?} with a closed fd: {r:?}, expected EINVAL")
        });
    }
    // A valid timeout beside the bad ones: the largest usec.
    let r = fd::select(f + 1, sets(bit(f), 0, 0), Some((0, 999_999)));
    s.check(r == Ok((1, sets(bit(f), 0, 0))), 35, || {
        format!("timeout (0, 999999) with a ready file: {r:?}")
    });

    let _ = fd::close(f);
    if let Err(err) = fs::unlink(FILE) {
        s.fail(36, "unlink", err);
    }
}
