//! t40b: regular files. "File descriptors associated with regular files
//! shall always select true for ready to read, ready to write, and error
//! conditions" (POSIX): at once, although a 3 s timeout is given.

use crate::{bit, now, select, sets};
use alloc::format;
use minixtest::Subtest;
use ulib::fd;
use ulib::fs::{self, O_CREAT, O_RDONLY, O_WRONLY};
use ulib::time::HZ;

const FILE: &str = "selecttestb-1";
const TIME: Option<(i64, i64)> = Some((3, 0));

pub fn run(s: &mut Subtest) {
    let fd1 = match fs::open_fd(FILE, O_WRONLY | O_CREAT, 0o644) {
        Ok(fd) => fd,
        Err(err) => return s.fail(1, "open for writing", err),
    };
    let fd2 = match fs::open_fd(FILE, O_RDONLY, 0) {
        Ok(fd) => fd,
        Err(err) => return s.fail(2, "open for reading", err),
    };

    // 1 read + 1 write + 2 errors, at once.
    let want = sets(bit(fd2), bit(fd1), bit(fd1) | bit(fd2));
    let t0 = now();
    let r = select(want, TIME);
    let el = now() - t0;
    s.check(r == Ok((4, want)), 3, || {
        format!("four fds should be set: {r:?}")
    });
    s.check(el * 2 < HZ, 8, || {
        format!("time spent blocking is not 0 but {el} ticks")
    });

    // Read on the write-only descriptor: ready at once (the read would fail).
    let want = sets(bit(fd1), 0, bit(fd1) | bit(fd2));
    let r = select(want, TIME);
    s.check(r == Ok((3, want)), 9, || {
        format!("read on O_WRONLY and two errors: {r:?}")
    });

    // Write on the read-only one, likewise.
    let want = sets(0, bit(fd2), bit(fd1) | bit(fd2));
    let r = select(want, TIME);
    s.check(r == Ok((3, want)), 13, || {
        format!("write on O_RDONLY and two errors: {r:?}")
    });

    // No timeout at all: still at once.
    let want = sets(bit(fd1) | bit(fd2), bit(fd1) | bit(fd2), 0);
    let r = select(want, None);
    s.check(r == Ok((4, want)), 17, || {
        format!("both in read and write, no timeout: {r:?}")
    });

    for f in [fd1, fd2] {
        if let Err(err) = fd::close(f) {
            s.fail(18, "close", err);
        }
    }
    if let Err(err) = fs::unlink(FILE) {
        s.fail(19, "unlink", err);
    }
}
