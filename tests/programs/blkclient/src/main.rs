//! `blkclient [basic|restart]`: the end-to-end check of the virtio-blk
//! driver. It asks RS to start the driver (`service up virtio-blk`), opens
//! its disks through libbdev (`Bdev` + `native::bdev::IpcDriver`, found by
//! the DS label) and checks what the host test expects:
//!
//! * `basic` (default): reads the pattern the host wrote (plain and
//!   gathered), writes new patterns (plain and scattered, from unaligned
//!   heap buffers), runs several raw requests in flight at once, reads the
//!   sizes, and on the second disk (size not a multiple of 4096) reads and
//!   writes across and past its end. The host then checks the image bytes.
//! * `partitions`: disk 0 carries an MBR the host wrote (partition 0 at
//!   sector 2048, 1000 sectors; partition 2 from sector 1900 past the end
//!   of the disk); opens minors 128 (p0), 129 (p1: unused, ENXIO) and 130
//!   (p2: cut at the end of the disk), reads and writes at p0's start and
//!   end and past it, then writes a new MBR through minor 0 that adds p1
//!   and opens it once the partitions are closed (the table is read
//!   again after a write to sector 0).
//! * `restart`: writes a run of blocks while RS crashes the driver
//!   (`service fi virtio-blk`) in the middle; libbdev must reconnect,
//!   reopen and resend, and every block must read back right.
//!
//! Disk contents follow [`pat`] (the test computes the same bytes). Ends
//! the run with `Shutdown` (pass = QEMU 33, fail = 35).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use libbdev::{Access, Bdev, BdevDevice, BlockDevice};
use native::NativeSys;
use native::bdev::IpcDriver;
use sys::proto::bdev::{BdevReply, BdevRequest};
use sys::proto::service::{Policy, RunState, ServiceReply, ServiceRequest, ServiceStatus};
use sys::{Endpoint, Errno, GrantId, Sys};
use zerocopy::{FromBytes, IntoBytes};

rt::entry!(main);

const LABEL: &str = "virtio-blk";
const MAX_POLLS: u32 = 2000;

/// Byte `off` of a disk written with `seed` (the host test has a copy).
fn pat(seed: u8, off: u64) -> u8 {
    (off as u8) ^ ((off >> 8) as u8).wrapping_mul(3) ^ ((off >> 16) as u8).wrapping_mul(5) ^ seed
}

fn fill(seed: u8, pos: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pat(seed, pos + i as u64);
    }
}

fn check(what: &str, seed: u8, pos: u64, buf: &[u8]) -> Result<(), String> {
    match buf
        .iter()
        .enumerate()
        .find(|&(i, &b)| b != pat(seed, pos + i as u64))
    {
        None => Ok(()),
        Some((i, &b)) => Err(format!(
            "{what}: byte {} is {b:#x}, want {:#x}",
            pos + i as u64,
            pat(seed, pos + i as u64)
        )),
    }
}

type Client = Rc<RefCell<Bdev<IpcDriver>>>;

fn main(args: &str) -> i32 {
    let mode = args.split_ascii_whitespace().next().unwrap_or("basic");
    let mut sys = NativeSys::new();
    let r = start_driver(&mut sys).and_then(|()| {
        let client = Bdev::shared(IpcDriver::new(LABEL));
        match mode {
            "basic" => basic(&client),
            "restart" => restart(&mut sys, &client),
            "partitions" => partitions(&client),
            other => Err(format!(
                "unknown mode {other:?} (basic, partitions or restart)"
            )),
        }
    });
    match r {
        Ok(()) => {
            rt::println!("PASS");
            rt::sys::shutdown(0)
        }
        Err(why) => {
            rt::println!("FAIL: {why}");
            rt::sys::shutdown(1)
        }
    }
}

fn rs_call(sys: &mut NativeSys, req: ServiceRequest) -> Result<ServiceStatus, Errno> {
    let reply = sys.sendrec(Endpoint::RS, req.to_message()?)?;
    ServiceReply::try_from(&reply)?.result
}

fn status(sys: &mut NativeSys) -> Result<ServiceStatus, Errno> {
    rs_call(
        sys,
        ServiceRequest::Status {
            id: 1,
            label: LABEL.into(),
        },
    )
}

fn wait_running(sys: &mut NativeSys, restarts: u32) -> Result<ServiceStatus, String> {
    for _ in 0..MAX_POLLS {
        if let Ok(s) = status(sys)
            && s.state == RunState::Running
            && s.restarts >= restarts
        {
            return Ok(s);
        }
        sys.sleep(2);
    }
    Err("virtio-blk never reached Running".into())
}

/// RS starts the driver at boot when its image is in the boot image (a
/// boot row of the service table); otherwise `service up` starts it.
fn start_driver(sys: &mut NativeSys) -> Result<(), String> {
    if status(sys).is_ok() {
        let s = wait_running(sys, 0)?;
        rt::println!("{LABEL} is up at {:#x}", s.endpoint.0);
        return Ok(());
    }
    rs_call(
        sys,
        ServiceRequest::Up {
            id: 1,
            label: LABEL.into(),
            program: LABEL.into(),
            policy: Policy::Restart,
            period: sys::HZ as u32,
            flags: 0,
        },
    )
    // RS starts the driver at boot when its image is in the boot image;
    // then the label is taken already.
    .map(drop)
    .or_else(|e| if e == Errno::EBUSY { Ok(()) } else { Err(e) })
    .map_err(|e| format!("service up {LABEL}: {e}"))?;
    let s = wait_running(sys, 0)?;
    rt::println!("{LABEL} is up at {:#x}", s.endpoint.0);
    Ok(())
}

fn open(client: &Client, minor: u32) -> Result<BdevDevice<IpcDriver>, String> {
    BdevDevice::open(client, minor, Access::RW).map_err(|e| format!("open minor {minor}: {e}"))
}

fn partitions(client: &Client) -> Result<(), String> {
    use libbdev::mbr;
    let mut p0 = open(client, 128)?;
    let size = p0.size().map_err(|e| format!("size p0: {e}"))?;
    if size != 1000 * 512 {
        return Err(format!("p0 is {size} bytes, want {}", 1000 * 512));
    }
    match BdevDevice::open(client, 129, Access::RW) {
        Err(e) if e.errno() == Errno::ENXIO.code() => {}
        Err(e) => return Err(format!("open p1 (unused): {e}, want ENXIO")),
        Ok(_) => return Err("open p1 (unused) succeeded".into()),
    }
    let mut p2 = open(client, 130)?;
    let s2 = p2.size().map_err(|e| format!("size p2: {e}"))?;
    rt::println!("p0 {size} bytes, p1 absent, p2 {s2} bytes");
    // Byte 0 of p0 is byte 2048*512 of the disk.
    let mut buf = vec![0u8; 4096];
    p0.read_vectored(0, &mut [&mut buf])
        .map_err(|e| format!("read p0: {e}"))?;
    check("p0 start", 0x11, 2048 * 512, &buf)?;
    // The last sector of p0, and nothing after it.
    let mut w = vec![0u8; 4096];
    fill(0x66, 0, &mut w);
    let n = p0
        .write_vectored(size - 512, &[&w])
        .map_err(|e| format!("write p0 end: {e}"))?;
    let past = p0
        .write_vectored(size, &[&w])
        .map_err(|e| format!("write past p0: {e}"))?;
    rt::println!("p0: wrote {n} bytes at its end, {past} past it");
    p0.flush().map_err(|e| format!("flush: {e}"))?;
    drop(p0);
    drop(p2);
    // A new table through the whole disk: p1 at 3000, 100 sectors.
    let mut d0 = open(client, 0)?;
    let mut sector = vec![0u8; 512];
    d0.read_vectored(0, &mut [&mut sector])
        .map_err(|e| format!("read MBR: {e}"))?;
    mbr::set_entry(
        &mut sector,
        1,
        &mbr::Partition {
            kind: mbr::TYPE_MINIX,
            active: false,
            start: 3000,
            sectors: 100,
        },
    )
    .ok_or("set_entry")?;
    d0.write_vectored(0, &[&sector])
        .map_err(|e| format!("write MBR: {e}"))?;
    let mut p1 = open(client, 129)?;
    let s1 = p1.size().map_err(|e| format!("size p1: {e}"))?;
    rt::println!("after the new MBR: p1 {s1} bytes");
    drop(p1);
    drop(d0);
    Ok(())
}

fn basic(client: &Client) -> Result<(), String> {
    let mut d0 = open(client, 0)?;
    let mut d1 = open(client, 1)?;
    let (s0, s1) = (
        d0.size().map_err(|e| format!("size 0: {e}"))?,
        d1.size().map_err(|e| format!("size 1: {e}"))?,
    );
    rt::println!("sizes: disk 0 {s0} bytes, disk 1 {s1} bytes");

    // The host's pattern, plain and gathered (unequal segments).
    let mut buf = vec![0u8; 8192];
    let n = d0
        .read_vectored(0, &mut [&mut buf])
        .map_err(|e| format!("read: {e}"))?;
    if n != 8192 {
        return Err(format!("read returned {n}"));
    }
    check("read", 0x11, 0, &buf)?;
    let (mut a, mut b, mut c) = (vec![0u8; 512], vec![0u8; 4096], vec![0u8; 3584]);
    let n = d0
        .read_vectored(12288, &mut [&mut a, &mut b, &mut c])
        .map_err(|e| format!("gather: {e}"))?;
    if n != 8192 {
        return Err(format!("gather returned {n}"));
    }
    check("gather a", 0x11, 12288, &a)?;
    check("gather b", 0x11, 12288 + 512, &b)?;
    check("gather c", 0x11, 12288 + 4608, &c)?;
    rt::println!("read the host's pattern (plain and gathered)");

    // New patterns: plain, and scattered from heap buffers that straddle
    // pages (the driver maps each page of the grants for the device).
    let mut w = vec![0u8; 4096];
    fill(0x22, 65536, &mut w);
    let n = d0
        .write_vectored(65536, &[&w])
        .map_err(|e| format!("write: {e}"))?;
    if n != 4096 {
        return Err(format!("write returned {n}"));
    }
    let mut segs = [vec![0u8; 4096 + 100], vec![0u8; 4096], vec![0u8; 1024]];
    let seg_data: Vec<&[u8]> = {
        // The first segment starts 100 bytes into its allocation.
        let mut pos = 131072;
        let mut out: Vec<&[u8]> = Vec::new();
        for (i, s) in segs.iter_mut().enumerate() {
            let body = if i == 0 { &mut s[100..] } else { &mut s[..] };
            fill(0x33, pos, body);
            pos += body.len() as u64;
        }
        for (i, s) in segs.iter().enumerate() {
            out.push(if i == 0 { &s[100..] } else { &s[..] });
        }
        out
    };
    let n = d0
        .write_vectored(131072, &seg_data)
        .map_err(|e| format!("scatter: {e}"))?;
    if n != 9216 {
        return Err(format!("scatter returned {n}"));
    }
    let mut back = vec![0u8; 9216];
    d0.read_vectored(131072, &mut [&mut back])
        .map_err(|e| format!("read back: {e}"))?;
    check("scatter read back", 0x33, 131072, &back)?;
    rt::println!("wrote new patterns (plain and scattered)");

    in_flight(client)?;

    // Disk 1 ends 1536 bytes into a 4 KiB block.
    let end = s1 - s1 % 4096;
    let mut tail = vec![0u8; 4096];
    let n = d1
        .read_vectored(end, &mut [&mut tail])
        .map_err(|e| format!("tail read: {e}"))?;
    if n as u64 != s1 - end {
        return Err(format!("tail read returned {n}, want {}", s1 - end));
    }
    check("tail read", 0x44, end, &tail[..n])?;
    let n = d1
        .read_vectored(s1, &mut [&mut tail])
        .map_err(|e| format!("read at the end: {e}"))?;
    if n != 0 {
        return Err(format!("read at the end returned {n}"));
    }
    fill(0x55, end, &mut tail);
    let n = d1
        .write_vectored(end, &[&tail])
        .map_err(|e| format!("tail write: {e}"))?;
    if n as u64 != s1 - end {
        return Err(format!("tail write returned {n}, want {}", s1 - end));
    }
    let n = d1
        .write_vectored(s1 + 4096, &[&tail])
        .map_err(|e| format!("write past the end: {e}"))?;
    if n != 0 {
        return Err(format!("write past the end returned {n}"));
    }
    rt::println!(
        "disk 1: read {} and wrote {} bytes at its end, 0 past it",
        s1 - end,
        s1 - end
    );
    d0.flush().map_err(|e| format!("flush 0: {e}"))?;
    d1.flush().map_err(|e| format!("flush 1: {e}"))?;
    d1.close().map_err(|e| format!("close 1: {e}"))?;
    d0.close().map_err(|e| format!("close 0: {e}"))?;
    rt::println!("flushed and closed");
    Ok(())
}

/// Several raw requests at once: asynchronous sends, answers in any order.
fn in_flight(client: &Client) -> Result<(), String> {
    const N: usize = 6;
    let ep = client
        .borrow()
        .driver()
        .endpoint()
        .ok_or("no driver endpoint")?;
    let mut bufs: Vec<Vec<u8>> = (0..N).map(|_| vec![0u8; 4096]).collect();
    let mut grants = Vec::new();
    for (i, b) in bufs.iter_mut().enumerate() {
        let g = rt::grant::direct(ep.0, b.as_ptr(), b.len(), rt::abi::GRANT_WRITE)
            .map_err(|e| format!("grant: {e:?}"))?;
        grants.push(g);
        let req = BdevRequest::Read {
            id: 1000 + i as u64,
            minor: 0,
            pos: 4096 * i as u64,
            grant: GrantId(g),
            len: 4096,
        };
        let mut m = [0u8; rt::abi::MESSAGE_SIZE];
        m.copy_from_slice(req.to_message().as_bytes());
        rt::ipc::senda(ep.0, &m).map_err(|e| format!("senda: {e:?}"))?;
    }
    let mut done = [false; N];
    let mut order = Vec::new();
    while done.iter().any(|d| !d) {
        let m = rt::ipc::receive(ep.0).map_err(|e| format!("receive: {e:?}"))?;
        let m = sys::Message::read_from_bytes(&m[..]).map_err(|_| "short message")?;
        let Ok(r) = BdevReply::try_from(&m) else {
            continue;
        };
        let i =
            r.id.checked_sub(1000)
                .map(|i| i as usize)
                .filter(|&i| i < N && !done[i])
                .ok_or(format!("unexpected reply id {}", r.id))?;
        if r.result != Ok(4096) {
            return Err(format!("in-flight read {i}: {:?}", r.result));
        }
        done[i] = true;
        order.push(i);
    }
    for g in grants {
        let _ = rt::grant::revoke(g);
    }
    for (i, b) in bufs.iter().enumerate() {
        check("in-flight read", 0x11, 4096 * i as u64, b)?;
    }
    rt::println!("{N} reads in flight at once, answered in order {order:?}");
    Ok(())
}

fn restart(sys: &mut NativeSys, client: &Client) -> Result<(), String> {
    const BASE: u64 = 262144;
    const BLOCKS: u64 = 32;
    const CRASH_AT: u64 = 10;
    let mut d0 = open(client, 0)?;
    let before = status(sys).map_err(|e| format!("status: {e}"))?;
    let mut w = vec![0u8; 4096];
    for blk in 0..BLOCKS {
        if blk == CRASH_AT {
            rs_call(
                sys,
                ServiceRequest::Fi {
                    id: 2,
                    label: LABEL.into(),
                },
            )
            .map_err(|e| format!("fault injection refused: {e}"))?;
            rt::println!("fault injection requested at block {blk}");
        }
        let pos = BASE + blk * 4096;
        fill(0x66, pos, &mut w);
        let n = d0
            .write_vectored(pos, &[&w])
            .map_err(|e| format!("write of block {blk}: {e}"))?;
        if n != 4096 {
            return Err(format!("write of block {blk} returned {n}"));
        }
    }
    let after = wait_running(sys, before.restarts + 1)?;
    let stats = client.borrow().stats();
    rt::println!(
        "driver restarted (restarts {} -> {}, endpoint {:#x} -> {:#x}); libbdev: {stats:?}",
        before.restarts,
        after.restarts,
        before.endpoint.0,
        after.endpoint.0
    );
    let mut r = vec![0u8; 4096 * BLOCKS as usize];
    let mut segs: Vec<&mut [u8]> = r.chunks_mut(4096).collect();
    let n = d0
        .read_vectored(BASE, &mut segs)
        .map_err(|e| format!("read back: {e}"))?;
    if n != r.len() {
        return Err(format!("read back returned {n}"));
    }
    check("after restart", 0x66, BASE, &r)?;
    if stats.reconnects == 0 {
        return Err("libbdev never reconnected".into());
    }
    rt::println!("all {BLOCKS} blocks read back right after the restart");
    d0.flush().map_err(|e| format!("flush: {e}"))?;
    Ok(())
}
