//! `/bin/test85 seed=N [seq=2,3] MINOR:SIZE...`: MINIX test85 (end-of-file handling
//! on block devices) as a disk program, with all four of its sequences:
//! (0) reads, writes, reads; (1) writes, reads; (2) peeks, writes, peeks;
//! (3) writes, peeks. `/dev/c0dMINOR` is a disk of SIZE bytes that the
//! host filled with `test85_cases::fill` tag `MINOR << 16`. Each pass runs
//! the six cases around the end of the device once, in random order; the
//! device is closed after each sequence (the last close writes the cached
//! blocks back), and read whole at the end. `seq=` runs only the listed
//! sequences (the peek-only negative control of the QEMU test).
//!
//! * read / write: lseek, then the count must be exactly the expected one
//!   (never an error) and the bytes read must be the device's.
//! * peek (test85's `io_peek`): `mmap(PROT_READ, MAP_PRIVATE)` of the
//!   case's range rounded to pages (`ulib::mem::mmap_file`: VM asks VFS,
//!   which reads through the root file server's cache). It may fail only
//!   when the range reaches past `roundup(size, page)`, and then only with
//!   `ENXIO`; otherwise the first `expected` bytes are the device's, the
//!   rest of that page is zero, and every page of the mapping is readable
//!   exactly when it lies below `roundup(size, page)` — probed, as test85
//!   does, by `write(pipe, page, 1)`: 1 (and the byte read back from the
//!   pipe is the page's) or `EFAULT` (VFS could not copy from it).
//!   Peeks run only if the root file system's block size is a multiple of
//!   the page size (as in MINIX).
//!
//! Every accepted write is printed as `test85: w c0dN TAG POS COUNT` (its
//! bytes are `fill(TAG, offset)`) and the final contents as a crc32, so
//! the host can rebuild the expected disk. Prints `test85: ok` and exits
//! 0 only if every check held; otherwise `test85: FAILED: reason`, exit 1.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use sys::GrantId;
use sys::message::Message;
use sys::proto::fs::Buf;
use sys::proto::vfs::oflag::{O_RDONLY, O_RDWR};
use sys::proto::vfs::{VfsAnswer, VfsCall, VfsReply};
use test85_cases::{NAMES, PeekCheck, Rng, case, fill, shuffle};
use ulib::errno::strerror;
use ulib::fd::{self, Fd, SEEK_SET};
use ulib::{Errno, fs, mem, println};
use zerocopy::{FromBytes, IntoBytes};

ulib::main!(main);

type Check = Result<(), String>;

const PAGE: u64 = mem::PAGE;

fn e(what: &str, err: Errno) -> String {
    format!("{what}: {}", strerror(err))
}

fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Check {
    if cond { Ok(()) } else { Err(msg()) }
}

/// The pipe the page probes write into, and read back from.
struct Probe {
    r: Fd,
    w: Fd,
    vfs: u32,
}

impl Probe {
    /// test85's `is_readable`: `write(pipe, addr, 1)` with the byte at
    /// `addr` (granted to VFS by address: the page may not be mapped, so
    /// no Rust reference to it is made). `Some(byte)` if VFS copied it,
    /// `None` on `EFAULT`; anything else is a failure.
    fn readable(&self, addr: u64) -> Result<Option<u8>, String> {
        let g = rt::grant::direct(self.vfs, addr as *const u8, 1, rt::grant::READ)
            .map_err(|err| format!("grant of {addr:#x}: {err:?}"))?;
        let id = 0x8500_0000 + addr;
        let call = VfsCall::Write {
            id,
            fd: self.w,
            buf: Buf {
                grant: GrantId(g),
                len: 1,
            },
        };
        let mut raw = [0u8; rt::abi::MESSAGE_SIZE];
        raw.copy_from_slice(call.to_message().as_bytes());
        let sent = rt::ipc::sendrec(self.vfs, &mut raw);
        let _ = rt::grant::revoke(g);
        sent.map_err(|err| format!("write to the pipe: {err:?}"))?;
        let reply = Message::read_from_bytes(&raw[..])
            .ok()
            .and_then(|m| VfsReply::try_from(&m).ok())
            .ok_or("write to the pipe: a reply that is not VFS's")?;
        match reply.result {
            Ok(VfsAnswer::Value(1)) if reply.id == id => {
                let mut b = [0u8; 1];
                let n = fd::read(self.r, &mut b).map_err(|err| e("read from the pipe", err))?;
                ensure(n == 1, || "the probe byte did not come back".into())?;
                Ok(Some(b[0]))
            }
            Err(Errno::EFAULT) => Ok(None),
            other => Err(format!(
                "write(pipe, {addr:#x}, 1) gave {other:?}: expected 1 or EFAULT"
            )),
        }
    }
}

struct Disk {
    name: String,
    size: u64,
    reference: Vec<u8>,
    next_tag: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Peek,
}

impl Disk {
    fn pass(&mut self, fd: Fd, op: Op, rng: &mut Rng, probe: &Probe) -> Check {
        for k in shuffle(rng) {
            let (pos, len, want) = case(k, self.size, rng);
            let opname = match op {
                Op::Read => "read",
                Op::Write => "write",
                Op::Peek => "peek",
            };
            let what = format!("{} {opname} {} pos {pos} len {len}", self.name, NAMES[k]);
            match op {
                Op::Read | Op::Write => {
                    let at = fd::lseek(fd, pos as i64, SEEK_SET).map_err(|err| e("lseek", err))?;
                    ensure(at == pos, || format!("lseek to {pos} gave {at}"))?;
                    let got = if op == Op::Write {
                        self.write(fd, pos, len, want, &what)?
                    } else {
                        self.read(fd, pos, len, want, &what)?
                    };
                    println!("test85: {what} -> {got}");
                    ensure(got == want, || {
                        format!("{what}: {got} bytes, expected {want}")
                    })?;
                }
                Op::Peek => self.peek(fd, pos, len, &what, probe)?,
            }
        }
        Ok(())
    }

    fn write(&mut self, fd: Fd, pos: u64, len: u64, want: u64, what: &str) -> Result<u64, String> {
        let tag = self.next_tag;
        self.next_tag += 1;
        let data: Vec<u8> = (0..len).map(|i| fill(tag, pos + i)).collect();
        let n = fd::write(fd, &data).map_err(|err| e(what, err))? as u64;
        if n > 0 && n <= want {
            println!("test85: w {} {tag} {pos} {n}", self.name);
            self.reference[pos as usize..(pos + n) as usize].copy_from_slice(&data[..n as usize]);
        }
        Ok(n)
    }

    fn read(&self, fd: Fd, pos: u64, len: u64, want: u64, what: &str) -> Result<u64, String> {
        let mut buf = vec![0u8; len as usize];
        let n = fd::read(fd, &mut buf).map_err(|err| e(what, err))? as u64;
        if n == want
            && n > 0
            && buf[..n as usize] != self.reference[pos as usize..(pos + n) as usize]
        {
            return Err(format!("{what}: the bytes read differ from the disk's"));
        }
        Ok(n)
    }

    /// test85's `io_peek`.
    fn peek(&self, fd: Fd, pos: u64, len: u64, what: &str, probe: &Probe) -> Check {
        let c = PeekCheck::new(pos, len, self.size, PAGE);
        let what = format!("{what} (mmap {} +{})", c.pos, c.len);
        let m = match mem::mmap_file(fd, c.pos, c.len) {
            Ok(m) => m,
            Err(err) => {
                ensure(c.may_fail(), || {
                    format!(
                        "{what}: mmap failed ({}) inside the device's pages",
                        strerror(err)
                    )
                })?;
                ensure(err == Errno::ENXIO, || {
                    format!("{what}: mmap failed with {}, not ENXIO", strerror(err))
                })?;
                println!("test85: {what} -> ENXIO");
                return Ok(());
            }
        };
        let mut mapped = 0;
        if c.pos < self.size {
            let valid = c.expected as usize;
            let page_end = valid.div_ceil(PAGE as usize) * PAGE as usize;
            let b = m.bytes();
            ensure(b.len() >= page_end, || {
                format!("{what}: {} bytes mapped, {page_end} needed", b.len())
            })?;
            let at = c.pos as usize;
            ensure(b[..valid] == self.reference[at..at + valid], || {
                format!("{what}: the mapped bytes differ from the disk's")
            })?;
            ensure(b[valid..page_end].iter().all(|&x| x == 0), || {
                format!("{what}: the rest of the last page is not zero")
            })?;
        }
        // Every page: readable exactly below roundup(size, page).
        for n in (c.pos..c.pos + c.len).step_by(PAGE as usize) {
            let addr = m.addr() + (n - c.pos);
            let got = probe.readable(addr)?;
            ensure(got.is_some() == c.readable(n), || {
                format!(
                    "{what}: page at device offset {n} is {}readable (mapped size {})",
                    if got.is_some() { "" } else { "not " },
                    c.mapped_size
                )
            })?;
            if let Some(byte) = got {
                let want = self.reference.get(n as usize).copied().unwrap_or(0);
                ensure(byte == want, || {
                    format!(
                        "{what}: byte at device offset {n} read through the pipe is {byte}, not {want}"
                    )
                })?;
                mapped += 1;
            }
        }
        println!(
            "test85: {what} -> {} bytes, {mapped} of {} pages mapped",
            c.expected,
            c.len / PAGE
        );
        drop(m);
        Ok(())
    }
}

fn one_disk(minor: u32, size: u64, seed: u64, run: &[bool; 4], probe: &Probe) -> Check {
    let name = format!("c0d{minor}");
    let path = format!("/dev/{name}");
    let mut d = Disk {
        name: name.clone(),
        size,
        reference: (0..size).map(|o| fill(minor << 16, o)).collect(),
        next_tag: (minor << 16) + 1,
    };
    let mut rng = Rng(seed ^ (u64::from(minor) << 32) | 1);
    use Op::*;
    let sequences: [&[Op]; 4] = [
        &[Read, Write, Read],
        &[Write, Read],
        &[Peek, Write, Peek],
        &[Write, Peek],
    ];
    for (seq, ops) in sequences.iter().enumerate() {
        if !run[seq] {
            continue;
        }
        let fd = fs::open_fd(&path, O_RDWR, 0).map_err(|err| e(&path, err))?;
        for &op in *ops {
            d.pass(fd, op, &mut rng, probe)?;
        }
        fd::close(fd).map_err(|err| e("close", err))?;
        println!("test85: {name}: sequence {seq} done, closed");
    }
    // Everything from the disk in one read after the last close.
    let fd = fs::open_fd(&path, O_RDONLY, 0).map_err(|err| e(&path, err))?;
    let mut all = vec![0u8; size as usize + 4096];
    let n = fd::read(fd, &mut all).map_err(|err| e("whole-device read", err))?;
    fd::close(fd).map_err(|err| e("close", err))?;
    ensure(n as u64 == size, || {
        format!("{name}: whole-device read gave {n} of {size} bytes")
    })?;
    ensure(all[..n] == d.reference[..], || {
        format!("{name}: the disk differs from what was written")
    })?;
    println!(
        "test85: {name}: {size} bytes, crc32 {:08x}",
        crc32fast::hash(&d.reference)
    );
    Ok(())
}

fn run(args: &[String]) -> Check {
    let mut seed = 1u64;
    let mut disks = Vec::new();
    let mut run = [true; 4];
    for a in args.iter().skip(1) {
        if let Some(s) = a.strip_prefix("seed=") {
            seed = s.parse().map_err(|_| format!("bad seed '{s}'"))?;
        } else if let Some(list) = a.strip_prefix("seq=") {
            run = [false; 4];
            for n in list.split(',') {
                let i: usize = n.parse().map_err(|_| format!("bad sequence '{n}'"))?;
                *run.get_mut(i).ok_or(format!("no sequence {i}"))? = true;
            }
        } else {
            let (m, s) = a.split_once(':').ok_or(format!("bad disk '{a}'"))?;
            let minor: u32 = m.parse().map_err(|_| format!("bad minor '{m}'"))?;
            let size: u64 = s.parse().map_err(|_| format!("bad size '{s}'"))?;
            ensure(size >= 2, || format!("disk '{a}' too small"))?;
            disks.push((minor, size));
        }
    }
    let v = fs::statvfs("/").map_err(|err| e("statvfs /", err))?;
    let peeks = u64::from(v.bsize).is_multiple_of(PAGE);
    if !peeks {
        run[2] = false;
        run[3] = false;
    }
    println!(
        "test85: root block size {}, page size {PAGE}: peeks {}",
        v.bsize,
        if peeks { "on" } else { "off" }
    );
    let (r, w) = fd::pipe().map_err(|err| e("pipe", err))?;
    let vfs = rt::ipc::whois("vfs").map_err(|err| format!("vfs: {err:?}"))?;
    let probe = Probe { r, w, vfs };
    for (minor, size) in disks {
        one_disk(minor, size, seed, &run, &probe)?;
    }
    Ok(())
}

fn main(args: &[String]) -> i32 {
    match run(args) {
        Ok(()) => {
            println!("test85: ok");
            0
        }
        Err(why) => {
            println!("test85: FAILED: {why}");
            1
        }
    }
}
