//! t40d: FIFOs (named pipes) and pipes.
//!
//! MINIX's part, with a child: a FIFO opened read-only is writable at once
//! (the write would fail) but not readable until the sleeping writer
//! writes; the reverse on a second FIFO; an anonymous pipe is writable, a
//! 1 s read select on it times out after a second, and a later one is
//! woken by the child's write.
//!
//! Then, in this process and a second child: end-of-file is readable once
//! the write end is closed, also when the last writer goes away while the
//! reader waits; with the readers gone the write end is writable and in
//! error; a full pipe is not writable until something is read; and of 16
//! pipes exactly the written ones are readable, every write end writable,
//! and a blocking select over the empty ones is woken by a write to one.

use crate::{bit, near, now, pause_secs, select, sets};
use alloc::format;
use alloc::vec::Vec;
use minixtest::Subtest;
use ulib::fd::{self, F_GETFL, F_SETFL, Fd, FdSets};
use ulib::fs::{self, O_NONBLOCK, O_RDONLY, O_WRONLY, S_IFIFO};
use ulib::process::{self, Pid};
use ulib::{Errno, signal};

const NAMEDPIPE1: &str = "selecttestd-1";
const NAMEDPIPE2: &str = "selecttestd-2";
const SENDSTRING: &[u8] = b"minixrocks";
const DO_HANDLEDATA: i64 = 1;
const DO_PAUSE: i64 = 3;
const DO_TIMEOUT: Option<(i64, i64)> = Some((7, 0));
const POLL: Option<(i64, i64)> = Some((0, 0));

fn child(ap_w: Fd) -> ! {
    let Ok(np1) = fs::open_fd(NAMEDPIPE1, O_WRONLY, 0) else {
        process::exit(100)
    };
    pause_secs(DO_HANDLEDATA);
    let _ = fd::write(np1, SENDSTRING);
    pause_secs(DO_HANDLEDATA);
    let _ = fd::close(np1);
    pause_secs(DO_HANDLEDATA);
    let Ok(np2) = fs::open_fd(NAMEDPIPE2, O_RDONLY, 0) else {
        process::exit(101)
    };
    pause_secs(DO_HANDLEDATA);
    let _ = fd::close(np2);
    // Let the parent do its tests on the anonymous pipe first.
    pause_secs(DO_PAUSE);
    if fd::write(ap_w, SENDSTRING).is_err() {
        process::exit(102)
    }
    process::exit(0)
}

fn wait_child(s: &mut Subtest, n: u32, pid: Pid) {
    match process::waitpid(pid, 0) {
        Ok((_, st)) => s.check(st.success(), n, || format!("child: {st}")),
        Err(err) => s.fail(n, "waitpid", err),
    }
}

/// MINIX's t40d proper.
fn minix_part(s: &mut Subtest) {
    let (ap_r, ap_w) = match fd::pipe() {
        Ok(p) => p,
        Err(err) => return s.fail(1, "pipe", err),
    };
    for p in [NAMEDPIPE1, NAMEDPIPE2] {
        if let Err(err) = fs::mknod(p, S_IFIFO | 0o600, 0) {
            return s.fail(1, p, err);
        }
    }
    let pid = match process::fork() {
        Ok(0) => child(ap_w),
        Ok(pid) => pid,
        Err(err) => return s.fail(1, "fork", err),
    };

    // Waits for the writer.
    let np1 = match fs::open_fd(NAMEDPIPE1, O_RDONLY, 0) {
        Ok(fd) => fd,
        Err(err) => return s.fail(1, "open fifo 1 for reading", err),
    };
    let b = bit(np1);
    let r = select(sets(b, b, 0), DO_TIMEOUT);
    s.check(r == Ok((1, sets(0, b, 0))), 2, || {
        format!("read-only FIFO, empty: only write should be set: {r:?}")
    });
    // The writer wakes up and writes.
    let r = select(sets(b, 0, 0), DO_TIMEOUT);
    s.check(r == Ok((1, sets(b, 0, 0))), 4, || {
        format!("read should be set once the writer wrote: {r:?}")
    });
    let mut buf = [0u8; 20];
    if let Err(err) = fd::read(np1, &mut buf) {
        s.fail(5, "read", err);
    }
    let _ = fd::close(np1);
    pause_secs(DO_HANDLEDATA);

    // The reverse: this end writes, the child reads.
    let np2 = match fs::open_fd(NAMEDPIPE2, O_WRONLY, 0) {
        Ok(fd) => fd,
        Err(err) => return s.fail(6, "open fifo 2 for writing", err),
    };
    let b = bit(np2);
    let r = select(sets(b, b, b), DO_TIMEOUT);
    s.check(r == Ok((2, sets(b, b, 0))), 7, || {
        format!("write-only FIFO: read and write set, error not: {r:?}")
    });
    let r = select(sets(0, b, 0), DO_TIMEOUT);
    s.check(r == Ok((1, sets(0, b, 0))), 11, || {
        format!("write-only FIFO, write set: {r:?}")
    });

    // The anonymous pipe.
    let r = select(sets(0, bit(ap_w), 0), DO_TIMEOUT);
    s.check(r == Ok((1, sets(0, bit(ap_w), 0))), 13, || {
        format!("pipe write end: {r:?}")
    });
    let t0 = now();
    let r = select(sets(bit(ap_r), 0, 0), Some((1, 0)));
    let el = now() - t0;
    s.check(r == Ok((0, FdSets::default())), 15, || {
        format!("we should have timed out: {r:?}")
    });
    s.check(near(el, 1), 16, || {
        format!("time out is not 1 second but {el} ticks")
    });
    // The child writes.
    let r = select(sets(bit(ap_r), 0, 0), DO_TIMEOUT);
    s.check(r == Ok((1, sets(bit(ap_r), 0, 0))), 17, || {
        format!("the child's write: {r:?}")
    });
    wait_child(s, 18, pid);
    let _ = fd::close(np2);
    for f in [ap_r, ap_w] {
        let _ = fd::close(f);
    }
    for p in [NAMEDPIPE1, NAMEDPIPE2] {
        if let Err(err) = fs::unlink(p) {
            s.fail(19, p, err);
        }
    }
}

/// End-of-file, writers and readers gone.
fn ends(s: &mut Subtest) {
    // EOF: the write end closed.
    let Ok((r, w)) = fd::pipe() else {
        return s.e(20, "pipe");
    };
    let _ = fd::close(w);
    let res = select(sets(bit(r), 0, 0), None);
    s.check(res == Ok((1, sets(bit(r), 0, 0))), 21, || {
        format!("EOF should be readable: {res:?}")
    });
    let mut b = [0u8; 4];
    let got = fd::read(r, &mut b);
    s.check(got == Ok(0), 22, || format!("read at EOF: {got:?}"));
    let _ = fd::close(r);

    // The last writer goes away while the reader waits.
    let Ok((r, w)) = fd::pipe() else {
        return s.e(23, "pipe");
    };
    let pid = match process::fork() {
        Ok(0) => {
            let _ = fd::close(r);
            pause_secs(1);
            process::exit(0)
        }
        Ok(pid) => pid,
        Err(err) => return s.fail(23, "fork", err),
    };
    let _ = fd::close(w);
    let res = select(sets(bit(r), 0, 0), None);
    s.check(res == Ok((1, sets(bit(r), 0, 0))), 24, || {
        format!("writer gone: EOF should wake the select: {res:?}")
    });
    let got = fd::read(r, &mut b);
    s.check(got == Ok(0), 25, || {
        format!("read after the writer left: {got:?}")
    });
    wait_child(s, 26, pid);
    let _ = fd::close(r);

    // Readers gone: a write would fail at once (writable, and in error).
    let Ok((r, w)) = fd::pipe() else {
        return s.e(27, "pipe");
    };
    let _ = fd::close(r);
    let res = select(sets(0, bit(w), bit(w)), None);
    s.check(res == Ok((2, sets(0, bit(w), bit(w)))), 28, || {
        format!("no readers: write and error should be set: {res:?}")
    });
    let _ = signal::signal(signal::SIGPIPE, signal::Handler::Ignore);
    let got = fd::write(w, b"x");
    s.check(got == Err(Errno::EPIPE), 29, || {
        format!("write without readers: {got:?}")
    });
    let _ = fd::close(w);
}

/// A full pipe is not writable until something is read.
fn full(s: &mut Subtest) {
    let Ok((r, w)) = fd::pipe() else {
        return s.e(30, "pipe");
    };
    let fl = fd::fcntl(w, F_GETFL, 0).unwrap_or(0);
    if let Err(err) = fd::fcntl(w, F_SETFL, fl | i64::from(O_NONBLOCK)) {
        return s.fail(30, "O_NONBLOCK", err);
    }
    let mut total = 0usize;
    for chunk in [512usize, 1] {
        let data = alloc::vec![b'f'; chunk];
        loop {
            match fd::write(w, &data) {
                Ok(n) => total += n,
                Err(Errno::EAGAIN) => break,
                Err(err) => return s.fail(31, "write", err),
            }
            if total > 1 << 20 {
                return s.e(31, "a pipe that takes a megabyte never fills");
            }
        }
    }
    let res = select(sets(bit(r), bit(w), 0), POLL);
    s.check(res == Ok((1, sets(bit(r), 0, 0))), 32, || {
        format!("full pipe ({total} bytes): readable, not writable: {res:?}")
    });
    let mut b = [0u8; 512];
    if let Err(err) = fd::read(r, &mut b) {
        s.fail(33, "read", err);
    }
    let res = select(sets(0, bit(w), 0), POLL);
    s.check(res == Ok((1, sets(0, bit(w), 0))), 34, || {
        format!("writable again after a read: {res:?}")
    });
    let _ = fd::close(r);
    let _ = fd::close(w);
}

/// Many pipes at once.
fn many(s: &mut Subtest) {
    const N: usize = 16;
    let mut pipes: Vec<(Fd, Fd)> = Vec::new();
    for _ in 0..N {
        match fd::pipe() {
            Ok(p) => pipes.push(p),
            Err(err) => return s.fail(40, "pipe", err),
        }
    }
    let reads: u64 = pipes.iter().map(|p| bit(p.0)).fold(0, |a, b| a | b);
    let writes: u64 = pipes.iter().map(|p| bit(p.1)).fold(0, |a, b| a | b);
    let mut written = 0u64;
    for (i, &(r, w)) in pipes.iter().enumerate() {
        if i % 4 == 1 {
            if fd::write(w, b"x") != Ok(1) {
                s.e(41, "write");
            }
            written |= bit(r);
        }
    }
    let res = select(sets(reads, 0, 0), None);
    s.check(res == Ok((4, sets(written, 0, 0))), 42, || {
        format!("{N} pipes, 4 written: {res:?}, expected {written:#x}")
    });
    let res = select(sets(reads, writes, 0), POLL);
    s.check(
        res == Ok((4 + N as i64, sets(written, writes, 0))),
        43,
        || format!("{N} pipes, read and write sets: {res:?}"),
    );
    // A child writes one of the empty ones while this process waits.
    let (r7, w7) = pipes[7];
    let pid = match process::fork() {
        Ok(0) => {
            pause_secs(1);
            let _ = fd::write(w7, b"y");
            process::exit(0)
        }
        Ok(pid) => pid,
        Err(err) => return s.fail(44, "fork", err),
    };
    let empty = reads & !written;
    let res = select(sets(empty, 0, 0), Some((30, 0)));
    s.check(res == Ok((1, sets(bit(r7), 0, 0))), 45, || {
        format!("woken by the write to pipe 7 (fd {r7}): {res:?}")
    });
    wait_child(s, 46, pid);
    for (r, w) in pipes {
        let _ = fd::close(r);
        let _ = fd::close(w);
    }
}

pub fn run(s: &mut Subtest) {
    minix_part(s);
    ends(s);
    full(s);
    many(s);
}
