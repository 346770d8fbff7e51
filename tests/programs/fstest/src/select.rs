//! select(2) in the OS (MINIX t40f and the readiness rules of
//! `vfs/tests/select.rs`). Times are clock ticks (`Uptime`, HZ = 100),
//! checked only as lower bounds: a select with a timeout must not return
//! before it, and must return.
//!
//! One process: an empty pipe whose write end is open is never readable
//! (zero, 10 ms, {3, 0} and {2, 999999} timeouts all give 0, the last two
//! after at least 300 ticks), is readable once written (one pipe used by
//! one process), its write end is writable; `/dev/zero` is always readable
//! (NULL timeout returns at once with it, even beside the empty pipe) and
//! `/dev/null` writable; invalid timevals are EINVAL.
//!
//! Two processes (`fifo`): this instance and `fstest selwriter` meet at
//! `/tmp/sel.fifo` (data) and `/tmp/ack.fifo` (go-ahead). The reader checks
//! the FIFO is not readable, tells the writer to go, and blocks in a select
//! without timeout; the writer waits, prints the tick of its write, writes
//! one byte and later closes. The reader prints the tick it woke at (the
//! host checks it is not before the write), reads the byte, and sees EOF
//! become readable when the writer closes.

use crate::{Check, ensure, err, now};
use alloc::format;
use native::NativeSys;
use sys::Errno;
use sys::proto::vfs::mode::S_IFIFO;
use sys::proto::vfs::oflag::{O_RDONLY, O_WRONLY};
use vfs::client::Client;

const FIFO: &str = "/tmp/sel.fifo";
const ACK: &str = "/tmp/ack.fifo";

fn bit(fd: i32) -> u64 {
    1u64 << fd
}

/// A select for reading `fd` alone with `timeout`; (count, read set, ticks).
fn sel_read(
    sys: &mut NativeSys,
    c: &mut Client,
    fd: i32,
    timeout: Option<(i64, i64)>,
) -> Result<(i64, u64, u64), Errno> {
    let t0 = now();
    let (n, sets) = c.select(sys, fd + 1, [bit(fd), 0, 0], timeout)?;
    Ok((n, sets[0], now() - t0))
}

fn timeouts(sys: &mut NativeSys, c: &mut Client) -> Check {
    let (r, w) = c.pipe(sys).map_err(|e| err("pipe", e))?;
    // Poll: not readable, and the write end is writable.
    let (n, set, _) = sel_read(sys, c, r, Some((0, 0))).map_err(|e| err("poll", e))?;
    ensure(n == 0 && set == 0, || {
        format!("empty pipe polled ready: {n} {set:#x}")
    })?;
    let (n, sets) = c
        .select(sys, w + 1, [bit(r), bit(w), 0], Some((0, 0)))
        .map_err(|e| err("poll write end", e))?;
    ensure(n == 1 && sets == [0, bit(w), 0], || {
        format!("write end: {n} {sets:x?}")
    })?;
    rt::println!("empty pipe: poll gives 0, write end writable");
    // Finite timeouts: 0 ready, not before the timeout (ticks rounded up).
    for (t, min) in [
        ((0, 10_000), 1),
        ((0, 100_000), 10),
        ((3, 0), 300),
        ((2, 999_999), 300),
    ] {
        let (n, set, el) = sel_read(sys, c, r, Some(t)).map_err(|e| err("select", e))?;
        rt::println!("timeout {t:?} on the empty pipe: {n} after {el} ticks");
        ensure(n == 0 && set == 0, || format!("timeout {t:?}: {n} ready"))?;
        ensure(el >= min, || {
            format!("timeout {t:?} returned after {el} ticks, before {min}")
        })?;
    }
    // Invalid timevals (t40f: usec 3000000, 1000000, ~0) and a negative sec.
    for t in [(0, 3_000_000), (0, 1_000_000), (0, -1), (-1, 0)] {
        let r = c.select(sys, r + 1, [bit(r), 0, 0], Some(t));
        ensure(r == Err(Errno::EINVAL), || format!("timeout {t:?}: {r:?}"))?;
    }
    rt::println!("invalid timevals: EINVAL");
    // One process writes its own pipe: readable, then empty again.
    ensure(c.write(sys, w, b"x") == Ok(1), || "pipe write".into())?;
    let (n, set, _) = sel_read(sys, c, r, None).map_err(|e| err("select", e))?;
    ensure(n == 1 && set == bit(r), || {
        format!("written pipe: {n} {set:#x}")
    })?;
    ensure(c.read(sys, r, 10).as_deref() == Ok(b"x"), || {
        "pipe read".into()
    })?;
    let (n, _, _) = sel_read(sys, c, r, Some((0, 0))).map_err(|e| err("poll", e))?;
    ensure(n == 0, || "drained pipe still ready".into())?;
    rt::println!("own pipe: readable after a write, not after the read");
    // Character devices: /dev/zero readable, /dev/null writable.
    let z = c
        .open(sys, "/dev/zero", O_RDONLY, 0)
        .map_err(|e| err("/dev/zero", e))?;
    let nul = c
        .open(sys, "/dev/null", O_WRONLY, 0)
        .map_err(|e| err("/dev/null", e))?;
    let (n, set, el) = sel_read(sys, c, z, None).map_err(|e| err("select zero", e))?;
    rt::println!("/dev/zero, NULL timeout: {n} after {el} ticks");
    ensure(n == 1 && set == bit(z), || {
        format!("/dev/zero: {n} {set:#x}")
    })?;
    let (n, set, _) = sel_read(sys, c, z, Some((5, 0))).map_err(|e| err("select zero", e))?;
    ensure(n == 1 && set == bit(z), || {
        format!("/dev/zero 5 s: {n} {set:#x}")
    })?;
    let (n, sets) = c
        .select(sys, nul + 1, [0, bit(nul), 0], Some((0, 0)))
        .map_err(|e| err("select null", e))?;
    ensure(n == 1 && sets == [0, bit(nul), 0], || {
        format!("/dev/null: {n} {sets:x?}")
    })?;
    // The empty pipe and /dev/zero together, no timeout: only zero.
    let top = r.max(z) + 1;
    let (n, sets) = c
        .select(sys, top, [bit(r) | bit(z), 0, 0], None)
        .map_err(|e| err("select pipe+zero", e))?;
    ensure(n == 1 && sets == [bit(z), 0, 0], || {
        format!("pipe + zero: {n} {sets:x?}")
    })?;
    rt::println!("devices: /dev/zero readable, /dev/null writable, empty pipe beside them not");
    for fd in [r, w, z, nul] {
        c.close(sys, fd).map_err(|e| err("close", e))?;
    }
    Ok(())
}

fn fifo_reader(sys: &mut NativeSys, c: &mut Client) -> Check {
    for p in [FIFO, ACK] {
        c.mknod(sys, p, S_IFIFO | 0o666, 0).map_err(|e| err(p, e))?;
    }
    let fd = c.open(sys, FIFO, O_RDONLY, 0).map_err(|e| err(FIFO, e))?;
    let ack = c.open(sys, ACK, O_WRONLY, 0).map_err(|e| err(ACK, e))?;
    let (n, _, _) = sel_read(sys, c, fd, Some((0, 0))).map_err(|e| err("poll", e))?;
    ensure(n == 0, || "FIFO ready before anything was written".into())?;
    ensure(c.write(sys, ack, b"g") == Ok(1), || "go-ahead write".into())?;
    let (n, set, el) = sel_read(sys, c, fd, None).map_err(|e| err("select", e))?;
    rt::println!(
        "fifo: woken at tick {} with {n} ready after {el} ticks",
        now()
    );
    ensure(n == 1 && set == bit(fd), || {
        format!("woken with {n} {set:#x}")
    })?;
    let d = c.read(sys, fd, 10).map_err(|e| err("read", e))?;
    ensure(d == b"W", || format!("read {d:?}"))?;
    let (n, _, _) = sel_read(sys, c, fd, Some((0, 0))).map_err(|e| err("poll", e))?;
    ensure(n == 0, || "FIFO still ready after the read".into())?;
    // The writer closes: EOF is readable.
    let (n, set, _) = sel_read(sys, c, fd, Some((30, 0))).map_err(|e| err("select", e))?;
    rt::println!("fifo: {n} ready at tick {} (writer closed)", now());
    ensure(n == 1 && set == bit(fd), || format!("EOF select gave {n}"))?;
    let d = c.read(sys, fd, 10).map_err(|e| err("read at EOF", e))?;
    ensure(d.is_empty(), || format!("read at EOF gave {d:?}"))?;
    c.close(sys, fd).map_err(|e| err("close", e))?;
    c.close(sys, ack).map_err(|e| err("close", e))?;
    Ok(())
}

/// `selwriter`: the other end of the FIFO test.
pub fn writer(sys: &mut NativeSys, c: &mut Client) -> Check {
    let mut tries = 0;
    while c.stat(sys, ACK).is_err() {
        tries += 1;
        ensure(tries < 3000, || "the FIFOs never appeared".into())?;
        sys.sleep(1);
    }
    let w = c.open(sys, FIFO, O_WRONLY, 0).map_err(|e| err(FIFO, e))?;
    let ack = c.open(sys, ACK, O_RDONLY, 0).map_err(|e| err(ACK, e))?;
    let go = c.read(sys, ack, 1).map_err(|e| err("go-ahead", e))?;
    ensure(go == b"g", || format!("go-ahead {go:?}"))?;
    // Let the reader block in its select first.
    sys.sleep(20);
    rt::println!("selwriter: writing at tick {}", now());
    ensure(c.write(sys, w, b"W") == Ok(1), || "FIFO write".into())?;
    sys.sleep(20);
    rt::println!("selwriter: closing at tick {}", now());
    // The go-ahead FIFO first: once the data FIFO's EOF wakes the reader,
    // it unmounts `/`, which must find nothing of ours open.
    c.close(sys, ack).map_err(|e| err("close", e))?;
    c.close(sys, w).map_err(|e| err("close", e))
}

/// MINIX's early-alarm case, with the `slowdev` test driver (major 7),
/// which answers select queries 50 ticks late: a 10 ms select times out
/// before the driver has answered the initial query, and must then finish
/// as though non-blocking with what the driver reports (minor 0: nothing,
/// minor 1: readable) — not hang, not wait again. The host checks in the
/// log that the driver's late answer came before the select returned.
fn early_alarm(sys: &mut NativeSys, c: &mut Client) -> Check {
    use sys::proto::vfs::mode::S_IFCHR;
    for (minor, want) in [(0u32, 0i64), (1, 1)] {
        let path = format!("/tmp/slow{minor}");
        match c.mknod(sys, &path, S_IFCHR | 0o666, 7 << 8 | minor) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(err("mknod", e)),
        }
        let fd = c.open(sys, &path, O_RDONLY, 0).map_err(|e| err(&path, e))?;
        rt::println!("early alarm: select on minor {minor} with a 10 ms timeout");
        let (n, set, el) = sel_read(sys, c, fd, Some((0, 10_000))).map_err(|e| err("select", e))?;
        rt::println!("early alarm: minor {minor}: {n} ready after {el} ticks");
        ensure(
            n == want && set == if want == 1 { bit(fd) } else { 0 },
            || format!("minor {minor}: {n} ready ({set:#x}), the driver reported {want}"),
        )?;
        c.close(sys, fd).map_err(|e| err("close", e))?;
        c.unlink(sys, &path).map_err(|e| err("unlink", e))?;
    }
    Ok(())
}

/// `select [fifo] [earlyalarm]`.
pub fn run(sys: &mut NativeSys, c: &mut Client, args: &[&str]) -> Check {
    timeouts(sys, c)?;
    if args.contains(&"fifo") {
        fifo_reader(sys, c)?;
    }
    if args.contains(&"earlyalarm") {
        early_alarm(sys, c)?;
    }
    crate::unmount_root(sys, c)
}
