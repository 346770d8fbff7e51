//! `at_wini`: MINIX's IDE/ATA driver for the two legacy channels of a PIIX
//! IDE controller (QEMU `-drive if=ide`, `-cdrom`), a SEF service that RS
//! starts (label `at_wini`) and restarts, serving `sys::proto::bdev`.
//!
//! Minor N is drive N: 0 primary master, 1 primary slave, 2 secondary
//! master, 3 secondary slave (`/dev/c1dN`, major 8). At init it takes the
//! channels' ports (0x1f0-0x1f7 + 0x3f6, 0x170-0x177 + 0x376) and IRQ
//! lines 14 and 15 and probes the four drives with IDENTIFY DEVICE (ATA
//! disks: LBA28 / LBA48) and IDENTIFY PACKET DEVICE (ATAPI: CD-ROMs, whose
//! capacity READ CAPACITY gives; read-only).
//!
//! Transfers are PIO. Each channel runs one command at a time (a state
//! machine per channel, requests queue behind it); the device's interrupt
//! (a notification from SYSTEM) moves it on, and a clock poll every tick
//! while a command is out covers a missed interrupt. A command the device
//! does not finish within `TIMEOUT_TICKS` gets `EIO` and the channel is
//! reset, so a dead device never hangs the driver. Reads collect whole
//! device sectors in a buffer and copy the requested bytes to the client's
//! grants at the end; writes copy the client's data in first, so a bad
//! grant is an error before the device is touched.
//!
//! Positions and lengths are multiples of 512; on a CD (2048-byte sectors)
//! a read need not be sector-aligned (the covering sectors are read).
//! Transfers reaching the end of the drive are cut there, 0 bytes at or
//! past it (`native::blockdriver` checks and cuts). CD errors (no medium, bad sector) are `EIO`, writes to a CD
//! `EROFS`. Stateless: a restarted instance probes again, and libbdev
//! reopens and resends.
//!
//! Listed as a boot module with the argument `image` so `Spawn` finds the
//! image (that copy exits at once).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod ata;

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use ata::*;
use libbdev::mbr::{self, Partition};
use native::blockdriver::{self, BlockDriver, Geometry, Started, Transfer};
use rt::abi::{DEVIO_BYTE, DEVIO_LONG, DEVIO_WORD};
use rt::sys::{port_in, port_in_rep, port_out, port_out_rep};
use sys::proto::bdev::access;
use sys::{Ctx, Endpoint, Errno, GrantId, InitInfo};

rt::entry!(main);

/// Most sectors per ATA command (a count of 0 means 256 with LBA28).
const ATA_CHUNK: u64 = 256;
/// Most 2048-byte blocks per READ(10) (64 KiB).
const ATAPI_CHUNK: u64 = 32;
/// ATAPI byte count limit per DRQ block (a multiple of 2048 below 64 KiB).
const ATAPI_BYTE_LIMIT: u16 = 0xf800;
/// A command that shows no progress for this long fails (3 s).
const TIMEOUT_TICKS: u64 = 300;
/// Clock ticks to wait after a soft reset (ATA: 2 ms at least).
const RESET_SETTLE_TICKS: u64 = 1;
/// Ticks between polls while a command is out (a missed interrupt).
const POLL_TICKS: u64 = 1;
/// READ CAPACITY attempts (the first after a reset or a media change gets
/// UNIT ATTENTION).
const CAPACITY_TRIES: u32 = 4;

fn e(err: rt::abi::Errno) -> Errno {
    native::errno(err)
}

fn inb(port: u16) -> Result<u8, Errno> {
    port_in(port, DEVIO_BYTE).map(|v| v as u8).map_err(e)
}

fn outb(port: u16, v: u8) -> Result<(), Errno> {
    port_out(port, DEVIO_BYTE, u32::from(v)).map_err(e)
}

/// What a drive is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ata { lba48: bool },
    Atapi,
}

struct Drive {
    kind: Kind,
    /// Device sectors (512 bytes on ATA disks, 2048 on CDs); 0 for a CD
    /// without a medium.
    sectors: u64,
    model: String,
    /// Opens of the whole drive and of each partition.
    opens: u32,
    part_opens: [u32; mbr::ENTRIES],
    /// The partitions as read when the first of them was opened.
    table: [Option<Partition>; mbr::ENTRIES],
}

impl Drive {
    fn new(kind: Kind, sectors: u64, model: String) -> Drive {
        Drive {
            kind,
            sectors,
            model,
            opens: 0,
            part_opens: [0; mbr::ENTRIES],
            table: [None; mbr::ENTRIES],
        }
    }

    fn sector_size(&self) -> u64 {
        match self.kind {
            Kind::Ata { .. } => 512,
            Kind::Atapi => 2048,
        }
    }

    fn size(&self) -> u64 {
        self.sectors.saturating_mul(self.sector_size())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Flush,
    /// READ CAPACITY; answers an open (`client` set) or feeds the probe.
    Capacity {
        tries: u32,
    },
    /// REQUEST SENSE before a retried READ CAPACITY; no answer.
    Sense,
    /// Sector 0 of an ATA disk for its partition table; answers the open
    /// of partition `part`.
    Mbr {
        part: usize,
    },
}

/// One request of a channel's queue.
struct Job {
    /// Who gets the answer (`None`: internal, no answer).
    client: Option<Endpoint>,
    id: u64,
    /// The drive (channel `drive / 2`, unit `drive % 2`).
    drive: usize,
    op: Op,
    segs: Vec<(GrantId, u32)>,
    /// First device sector and device sectors in all.
    lba: u64,
    count: u64,
    /// Bytes to drop in front (a CD read not on a 2048-byte boundary) and
    /// bytes the answer reports.
    skip: usize,
    bytes: u64,
    /// Read: whole device sectors as they come; write: the client's data.
    buf: Vec<u8>,
    /// Device sectors (CD: bytes for packet commands) done so far.
    done: u64,
}

/// Where a channel's command stands.
#[derive(Clone, Copy)]
enum Phase {
    /// Waiting for DRQ to send the packet.
    Packet(Packet),
    /// ATAPI data blocks until the command ends.
    PacketData,
    /// ATA read: sectors left in the current command.
    AtaRead { left: u64 },
    /// ATA write: sectors written and in the current command.
    AtaWrite { written: u64, count: u64 },
    /// A command without data (flush).
    NoData,
}

struct Active {
    job: Job,
    phase: Phase,
    /// Device sectors of the current command.
    chunk: u64,
    /// `job.done` when the current command started.
    chunk_start: u64,
    /// Uptime at which the command counts as dead.
    deadline: u64,
}

struct Channel {
    base: u16,
    ctl: u16,
    irq: u8,
    queue: VecDeque<Job>,
    active: Option<Active>,
}

/// How a step of a channel ended.
enum Step {
    /// Waiting for the device.
    Wait,
    /// The job finished with this result.
    Done(Job, Result<u64, Errno>),
}

impl Channel {
    fn reg(&self, r: u16) -> u16 {
        self.base + r
    }

    /// Reads the alternate status four times: the 400 ns a device needs
    /// after a select or a command before its status is valid.
    fn delay(&self) -> Result<u8, Errno> {
        let mut st = 0;
        for _ in 0..4 {
            st = inb(self.ctl)?;
        }
        Ok(st)
    }

    fn select(&self, unit: u8, extra: u8) -> Result<(), Errno> {
        outb(self.reg(REG_DEVICE), DEV_OBSOLETE | (unit << 4) | extra)?;
        self.delay().map(drop)
    }

    /// Reads a data block: 32-bit accesses, then a 16-bit one for an odd
    /// word, each run in one kernel call per 4 KiB.
    fn read_data(&self, out: &mut [u8]) -> Result<(), Errno> {
        let port = self.reg(REG_DATA);
        let longs = out.len() & !3;
        let (body, tail) = out.split_at_mut(longs);
        if !body.is_empty() {
            port_in_rep(port, DEVIO_LONG, body).map_err(e)?;
        }
        if !tail.is_empty() {
            let mut words = [0u8; 4];
            let n = tail.len().next_multiple_of(2);
            port_in_rep(port, DEVIO_WORD, &mut words[..n]).map_err(e)?;
            tail.copy_from_slice(&words[..tail.len()]);
        }
        Ok(())
    }

    /// Writes a data block, as [`Self::read_data`] reads one (an odd last
    /// byte goes out padded with 0).
    fn write_data(&self, data: &[u8]) -> Result<(), Errno> {
        let port = self.reg(REG_DATA);
        let longs = data.len() & !3;
        let (body, tail) = data.split_at(longs);
        if !body.is_empty() {
            port_out_rep(port, DEVIO_LONG, body).map_err(e)?;
        }
        if !tail.is_empty() {
            let mut words = [0u8; 4];
            words[..tail.len()].copy_from_slice(tail);
            let n = tail.len().next_multiple_of(2);
            port_out_rep(port, DEVIO_WORD, &words[..n]).map_err(e)?;
        }
        Ok(())
    }

    /// Discards `n` bytes of a data block (more than was asked for).
    fn drain(&self, n: usize) -> Result<(), Errno> {
        let mut scratch = [0u8; 512];
        let mut left = n.next_multiple_of(2);
        while left > 0 {
            let k = left.min(scratch.len());
            port_in_rep(self.reg(REG_DATA), DEVIO_WORD, &mut scratch[..k]).map_err(e)?;
            left -= k;
        }
        Ok(())
    }

    /// Soft reset of both drives (after a timeout): stops what they do.
    fn reset(&self) {
        let _ = outb(self.ctl, CTL_SRST);
        let _ = self.delay();
        let _ = outb(self.ctl, 0);
        // ATA wants at least 2 ms after SRST clears before the status
        // means anything: QEMU finishes the reset later, in its own time,
        // and a command sent before that is lost in it (a CD probed too
        // soon looked absent).
        let end = rt::sys::uptime() + RESET_SETTLE_TICKS;
        while rt::sys::uptime() <= end {
            let _ = self.delay();
        }
    }

    /// Busy-waits (init only) for BSY clear; the status, or `None` after
    /// `ticks`.
    fn wait_not_busy(&self, ticks: u64) -> Result<Option<u8>, Errno> {
        let end = rt::sys::uptime() + ticks;
        loop {
            let st = inb(self.reg(REG_STATUS))?;
            if st & ST_BSY == 0 {
                return Ok(Some(st));
            }
            if rt::sys::uptime() > end {
                return Ok(None);
            }
        }
    }

    /// IDENTIFY (PACKET) DEVICE of `unit` by polling (at init).
    fn probe(&self, unit: u8) -> Result<Option<Drive>, Errno> {
        self.select(unit, 0)?;
        // 0xff: a floating bus, no drives. (A status of 0 is not yet
        // absence: an ATAPI device reads 0 after a reset.)
        if inb(self.reg(REG_STATUS))? == 0xff {
            return Ok(None);
        }
        // A device still busy (QEMU finishes a soft reset later, in its
        // own time) ignores commands: wait until this one is not.
        if self.wait_not_busy(200)?.is_none() {
            rt::println!("drive unit {unit} at {:#x}: busy, not probed", self.base);
            return Ok(None);
        }
        for r in [REG_COUNT, REG_LBA0, REG_LBA1, REG_LBA2] {
            outb(self.reg(r), 0)?;
        }
        outb(self.reg(REG_COMMAND), CMD_IDENTIFY)?;
        // Still 0 after a command: no such drive (QEMU, an absent slave).
        if self.delay()? == 0 {
            return Ok(None);
        }
        let Some(mut st) = self.wait_not_busy(100)? else {
            return Ok(None);
        };
        let atapi = is_atapi_signature(inb(self.reg(REG_LBA1))?, inb(self.reg(REG_LBA2))?);
        if atapi {
            outb(self.reg(REG_COMMAND), CMD_IDENTIFY_PACKET)?;
            self.delay()?;
            match self.wait_not_busy(100)? {
                Some(s) => st = s,
                None => return Ok(None),
            }
        }
        if st & ST_ERR != 0 || st & ST_DRQ == 0 {
            return Ok(None);
        }
        let mut raw = [0u8; 512];
        self.read_data(&mut raw)?;
        let mut words = [0u16; 256];
        for (w, c) in words.iter_mut().zip(raw.chunks_exact(2)) {
            *w = u16::from_le_bytes([c[0], c[1]]);
        }
        let id = Identify(words);
        let model = id.model();
        let kind = if atapi {
            if !id.atapi_ok() {
                rt::println!("drive {unit}: '{model}': unsupported ATAPI packet size");
                return Ok(None);
            }
            Kind::Atapi
        } else {
            match id.ata_geometry() {
                Some((lba48, sectors)) => {
                    return Ok(Some(Drive::new(Kind::Ata { lba48 }, sectors, model)));
                }
                None => {
                    rt::println!("drive {unit}: '{model}': no LBA (CHS only), not supported");
                    return Ok(None);
                }
            }
        };
        Ok(Some(Drive::new(kind, 0, model)))
    }

    /// Issues the (next) command of the active job.
    fn issue(&mut self, drive: &Drive) -> Result<(), Errno> {
        let Some(a) = self.active.as_mut() else {
            return Ok(());
        };
        let unit = (a.job.drive % 2) as u8;
        a.deadline = rt::sys::uptime() + TIMEOUT_TICKS;
        a.chunk_start = a.job.done;
        let job = &a.job;
        match (drive.kind, job.op) {
            (Kind::Atapi, op) => {
                let packet = match op {
                    Op::Read => {
                        // `done` counts bytes on a CD.
                        let sectors = job.done / 2048;
                        let lba = job.lba + sectors;
                        a.chunk = (job.count - sectors).min(ATAPI_CHUNK);
                        let lba = u32::try_from(lba).map_err(|_| Errno::EIO)?;
                        read10(lba, a.chunk as u16)
                    }
                    Op::Capacity { .. } => read_capacity(),
                    Op::Sense => request_sense(),
                    Op::Write | Op::Flush | Op::Mbr { .. } => return Err(Errno::EROFS),
                };
                a.phase = Phase::Packet(packet);
                let limit = ATAPI_BYTE_LIMIT.to_le_bytes();
                let base = self.base;
                self.select(unit, 0)?;
                outb(base + REG_FEATURES, 0)?;
                outb(base + REG_LBA1, limit[0])?;
                outb(base + REG_LBA2, limit[1])?;
                outb(base + REG_COMMAND, CMD_PACKET)?;
            }
            (Kind::Ata { lba48 }, op) => {
                let op = if matches!(op, Op::Mbr { .. }) {
                    Op::Read
                } else {
                    op
                };
                let (lba, count) = match op {
                    Op::Read | Op::Write => {
                        (job.lba + job.done, (job.count - job.done).min(ATA_CHUNK))
                    }
                    _ => (0, 0),
                };
                a.chunk = count;
                let ext = lba48 && (lba + count > 1 << 28 || op == Op::Flush);
                let cmd = match (op, ext) {
                    (Op::Read, false) => CMD_READ,
                    (Op::Read, true) => CMD_READ_EXT,
                    (Op::Write, false) => CMD_WRITE,
                    (Op::Write, true) => CMD_WRITE_EXT,
                    (Op::Flush, false) => CMD_FLUSH,
                    (Op::Flush, true) => CMD_FLUSH_EXT,
                    _ => return Err(Errno::EINVAL),
                };
                a.phase = match op {
                    Op::Read => Phase::AtaRead { left: count },
                    Op::Write => Phase::AtaWrite { written: 0, count },
                    _ => Phase::NoData,
                };
                if !ext && lba + count > 1 << 28 {
                    return Err(Errno::EIO);
                }
                let base = self.base;
                let l = lba.to_le_bytes();
                if ext {
                    self.select(unit, DEV_LBA)?;
                    // High-order bytes first, then low-order ones.
                    outb(base + REG_COUNT, (count >> 8) as u8)?;
                    outb(base + REG_LBA0, l[3])?;
                    outb(base + REG_LBA1, l[4])?;
                    outb(base + REG_LBA2, l[5])?;
                } else {
                    self.select(unit, DEV_LBA | (l[3] & 0x0f))?;
                }
                // 256 sectors is a count of 0 with LBA28.
                outb(base + REG_COUNT, count as u8)?;
                outb(base + REG_LBA0, l[0])?;
                outb(base + REG_LBA1, l[1])?;
                outb(base + REG_LBA2, l[2])?;
                outb(base + REG_COMMAND, cmd)?;
            }
        }
        self.delay().map(drop)
    }

    /// Moves the active command on as far as the device lets it.
    fn step(&mut self, drive: &Drive) -> Step {
        match self.step_inner(drive) {
            Ok(None) => Step::Wait,
            Ok(Some(r)) => self.finish(r),
            Err(err) => {
                // Whatever the device was doing is abandoned.
                self.reset();
                self.finish(Err(err))
            }
        }
    }

    fn finish(&mut self, r: Result<u64, Errno>) -> Step {
        match self.active.take() {
            Some(a) => Step::Done(a.job, r),
            None => Step::Wait,
        }
    }

    /// `Ok(Some(result))` when the job is over.
    fn step_inner(&mut self, drive: &Drive) -> Result<Option<Result<u64, Errno>>, Errno> {
        loop {
            let base = self.base;
            let Some(a) = self.active.as_mut() else {
                return Ok(None);
            };
            // Reading the status register acknowledges the interrupt.
            let st = inb(base + REG_STATUS)?;
            if st & ST_BSY != 0 {
                if rt::sys::uptime() > a.deadline {
                    rt::println!(
                        "drive {}: timeout (status {st:#x}); channel reset",
                        a.job.drive
                    );
                    self.reset();
                    return Ok(Some(Err(Errno::EIO)));
                }
                return Ok(None);
            }
            let failed = st & (ST_ERR | ST_DF) != 0;
            match a.phase {
                Phase::Packet(p) => {
                    if failed {
                        return Ok(Some(Err(Errno::EIO)));
                    }
                    if st & ST_DRQ == 0 {
                        if rt::sys::uptime() > a.deadline {
                            self.reset();
                            return Ok(Some(Err(Errno::EIO)));
                        }
                        return Ok(None);
                    }
                    a.phase = Phase::PacketData;
                    port_out_rep(base + REG_DATA, DEVIO_WORD, &p).map_err(e)?;
                    self.delay()?;
                }
                Phase::PacketData => {
                    if st & ST_DRQ != 0 {
                        let n = usize::from(inb(base + REG_LBA1)?)
                            | usize::from(inb(base + REG_LBA2)?) << 8;
                        if n == 0 {
                            return Ok(Some(Err(Errno::EIO)));
                        }
                        let at = a.job.done as usize;
                        let room = a.job.buf.len().saturating_sub(at);
                        let take = n.min(room) & !1;
                        let mut tmp = core::mem::take(&mut a.job.buf);
                        let r = self.read_data(&mut tmp[at..at + take]);
                        let a = self.active.as_mut().ok_or(Errno::EIO)?;
                        a.job.buf = tmp;
                        r?;
                        a.job.done += take as u64;
                        a.deadline = rt::sys::uptime() + TIMEOUT_TICKS;
                        if n > take {
                            self.drain(n - take)?;
                        }
                        continue;
                    }
                    // The command is over.
                    if failed {
                        return Ok(Some(Err(Errno::EIO)));
                    }
                    if a.job.op != Op::Read {
                        return Ok(Some(Ok(a.job.done)));
                    }
                    // A short data phase is a device error.
                    if a.job.done != a.chunk_start + a.chunk * 2048 {
                        return Ok(Some(Err(Errno::EIO)));
                    }
                    if a.job.done >= a.job.count * 2048 {
                        return Ok(Some(Ok(a.job.bytes)));
                    }
                    self.issue(drive)?;
                }
                Phase::AtaRead { left } => {
                    if failed {
                        return Ok(Some(Err(Errno::EIO)));
                    }
                    if st & ST_DRQ == 0 {
                        if rt::sys::uptime() > a.deadline {
                            self.reset();
                            return Ok(Some(Err(Errno::EIO)));
                        }
                        return Ok(None);
                    }
                    let at = (a.job.done * 512) as usize;
                    let mut tmp = core::mem::take(&mut a.job.buf);
                    let r = self.read_data(&mut tmp[at..at + 512]);
                    let a = self.active.as_mut().ok_or(Errno::EIO)?;
                    a.job.buf = tmp;
                    r?;
                    a.job.done += 1;
                    a.deadline = rt::sys::uptime() + TIMEOUT_TICKS;
                    a.phase = Phase::AtaRead { left: left - 1 };
                    if left == 1 {
                        if a.job.done >= a.job.count {
                            return Ok(Some(Ok(a.job.bytes)));
                        }
                        self.issue(drive)?;
                    }
                }
                Phase::AtaWrite { written, count } => {
                    if failed {
                        return Ok(Some(Err(Errno::EIO)));
                    }
                    if written < count {
                        if st & ST_DRQ == 0 {
                            if rt::sys::uptime() > a.deadline {
                                self.reset();
                                return Ok(Some(Err(Errno::EIO)));
                            }
                            return Ok(None);
                        }
                        let at = ((a.job.done + written) * 512) as usize;
                        let buf = core::mem::take(&mut a.job.buf);
                        let r = self.write_data(&buf[at..at + 512]);
                        let a = self.active.as_mut().ok_or(Errno::EIO)?;
                        a.job.buf = buf;
                        r?;
                        a.deadline = rt::sys::uptime() + TIMEOUT_TICKS;
                        a.phase = Phase::AtaWrite {
                            written: written + 1,
                            count,
                        };
                        self.delay()?;
                        continue;
                    }
                    // The last sector is on the disk.
                    a.job.done += count;
                    if a.job.done >= a.job.count {
                        return Ok(Some(Ok(a.job.bytes)));
                    }
                    self.issue(drive)?;
                }
                Phase::NoData => {
                    if failed {
                        return Ok(Some(Err(Errno::EIO)));
                    }
                    return Ok(Some(Ok(0)));
                }
            }
        }
    }
}

struct AtWini {
    channels: Vec<Channel>,
    /// Drive N is minor N (channel N / 2, unit N % 2).
    drives: [Option<Drive>; 4],
    /// This instance's id in every reply.
    instance: u64,
    alarm_set: bool,
    irqs_seen: u64,
    polls_found: u64,
}

/// A finished job's answer, sent by [`AtWini::send_all`] (which copies a
/// read's data to the client's grants first).
struct Answer {
    client: Endpoint,
    id: u64,
    result: Result<u64, Errno>,
    /// A read's data, copied out before the answer.
    read: Option<ReadOut>,
}

/// A finished read: the client's segments, the device sectors read and
/// the bytes in front of the requested ones.
struct ReadOut {
    segs: Vec<(GrantId, u32)>,
    buf: Vec<u8>,
    skip: usize,
}

impl AtWini {
    /// The drive of `minor` (an index into `drives`) and its partition,
    /// if the minor names one; `ENXIO` for no such drive.
    fn split(minor: u32) -> Result<(usize, Option<usize>), Errno> {
        mbr::locate(minor, 4).ok_or(Errno::ENXIO)
    }

    /// A drive or partition this instance has open: the drive's index and
    /// the partition.
    fn opened(&mut self, minor: u32) -> Result<(usize, Option<Partition>), Errno> {
        let (n, part) = Self::split(minor)?;
        let d = self.drives[n].as_mut().ok_or(Errno::ENXIO)?;
        // Not opened with this instance: it restarted since the open.
        match part {
            None if d.opens > 0 => Ok((n, None)),
            Some(p) if d.part_opens[p] > 0 => Ok((n, Some(d.table[p].ok_or(Errno::EIO)?))),
            _ => Err(Errno::ERESTART),
        }
    }

    /// Queues `job` on its channel and starts the channel if it is idle.
    fn submit(&mut self, job: Job) -> Vec<Answer> {
        let c = job.drive / 2;
        self.channels[c].queue.push_back(job);
        let out = self.pump(c);
        self.arm();
        out
    }

    /// Keeps the poll alarm set while a command is out.
    fn arm(&mut self) {
        let busy = self.channels.iter().any(|c| c.active.is_some());
        if busy && !self.alarm_set && rt::sys::set_alarm(POLL_TICKS).is_ok() {
            self.alarm_set = true;
        }
    }

    /// Runs channel `c` as far as the devices let it: steps the active
    /// command, answers finished jobs, starts queued ones.
    fn pump(&mut self, c: usize) -> Vec<Answer> {
        let mut out = Vec::new();
        loop {
            let ch = &mut self.channels[c];
            if ch.active.is_none() {
                let Some(job) = ch.queue.pop_front() else {
                    break;
                };
                let Some(drive) = self.drives[job.drive].as_ref() else {
                    out.extend(self.complete(job, Err(Errno::ENXIO)));
                    continue;
                };
                let ch = &mut self.channels[c];
                ch.active = Some(Active {
                    job,
                    phase: Phase::NoData,
                    chunk: 0,
                    chunk_start: 0,
                    deadline: 0,
                });
                if let Err(err) = ch.issue(drive) {
                    ch.reset();
                    if let Some(a) = ch.active.take() {
                        out.extend(self.complete(a.job, Err(err)));
                    }
                    continue;
                }
            }
            let ch = &mut self.channels[c];
            let Some(minor) = ch.active.as_ref().map(|a| a.job.drive) else {
                continue;
            };
            let Some(drive) = self.drives[minor].as_ref() else {
                ch.active = None;
                continue;
            };
            match ch.step(drive) {
                Step::Wait => break,
                Step::Done(job, r) => out.extend(self.complete(job, r)),
            }
        }
        out
    }

    /// A finished job: its answer, if it has a client.
    fn complete(&mut self, mut job: Job, r: Result<u64, Errno>) -> Option<Answer> {
        let result = match job.op {
            Op::Read => {
                let client = job.client?;
                let ok = r.is_ok();
                return Some(Answer {
                    client,
                    id: job.id,
                    result: r,
                    read: ok.then_some(ReadOut {
                        segs: job.segs,
                        buf: job.buf,
                        skip: job.skip,
                    }),
                });
            }
            Op::Write | Op::Flush => r,
            Op::Sense => return None,
            Op::Mbr { part } => match self.drives[job.drive].as_mut() {
                Some(d) => {
                    d.table = match r {
                        Ok(_) => mbr::parse(&job.buf, d.sectors).unwrap_or([None; mbr::ENTRIES]),
                        Err(_) => [None; mbr::ENTRIES],
                    };
                    r.and_then(|_| {
                        d.table[part].ok_or(Errno::ENXIO)?;
                        d.part_opens[part] = d.part_opens[part].saturating_add(1);
                        Ok(0)
                    })
                }
                None => Err(Errno::ENXIO),
            },
            Op::Capacity { tries } => {
                let got = r.ok().and_then(|_| parse_capacity(&job.buf));
                match (got, self.drives[job.drive].as_mut()) {
                    (Some(blocks), Some(d)) => {
                        d.sectors = blocks;
                        if job.client.is_some() {
                            d.opens = d.opens.saturating_add(1);
                        }
                        Ok(0)
                    }
                    (None, Some(d)) if tries + 1 < CAPACITY_TRIES => {
                        // Clear a UNIT ATTENTION, then ask again.
                        d.sectors = 0;
                        let c = job.drive / 2;
                        job.op = Op::Capacity { tries: tries + 1 };
                        job.done = 0;
                        job.buf = vec![0; 8];
                        let sense = Job {
                            client: None,
                            op: Op::Sense,
                            buf: vec![0; 18],
                            ..job.internal_copy()
                        };
                        self.channels[c].queue.push_front(job);
                        self.channels[c].queue.push_front(sense);
                        return None;
                    }
                    (_, Some(d)) => {
                        d.sectors = 0;
                        Err(Errno::EIO)
                    }
                    (_, None) => Err(Errno::ENXIO),
                }
            }
        };
        Some(Answer {
            client: job.client?,
            id: job.id,
            result,
            read: None,
        })
    }

    /// Runs the queued jobs of channel `c` to their end by polling (init).
    fn run_sync(&mut self, c: usize) {
        while self.channels[c].active.is_some() || !self.channels[c].queue.is_empty() {
            let _ = self.pump(c);
        }
    }

    fn send_all(&self, cx: &mut Ctx<'_>, answers: Vec<Answer>) {
        for a in answers {
            let mut result = a.result;
            if let (Ok(n), Some(ReadOut { segs, buf, skip })) = (result, a.read) {
                let data = buf.get(skip..skip + n as usize).unwrap_or(&[]);
                let mut off = 0;
                for (g, len) in segs {
                    if off >= data.len() {
                        break;
                    }
                    let take = (len as usize).min(data.len() - off);
                    if let Err(err) = cx.sys.safecopy_to(a.client, g, 0, &data[off..off + take]) {
                        result = Err(err);
                        break;
                    }
                    off += take;
                }
            }
            // The client may have died meanwhile; nothing to do then.
            let _ = cx.sys.send(a.client, self.reply(a.id, result));
        }
    }
}

impl BlockDriver for AtWini {
    fn instance(&self) -> u64 {
        self.instance
    }

    fn init(&mut self, _cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno> {
        let me = rt::ipc::whois("").map_err(e)?;
        for (i, &(base, ctl, irq)) in CHANNELS.iter().enumerate() {
            rt::sys::set_io_priv(me, base, CMD_PORTS).map_err(e)?;
            rt::sys::set_io_priv(me, ctl, 1).map_err(e)?;
            let ch = Channel {
                base,
                ctl,
                irq,
                queue: VecDeque::new(),
                active: None,
            };
            // A crashed predecessor may have left a command half done (a
            // device with data pending ignores new commands): reset the
            // channel first, which also turns interrupts on (nIEN clear).
            if inb(base + REG_STATUS)? != 0xff {
                ch.reset();
                if ch.wait_not_busy(200)?.is_none() {
                    rt::println!("channel {i}: still busy after a reset");
                }
            }
            outb(ctl, 0)?;
            for unit in 0..2u8 {
                let minor = i * 2 + usize::from(unit);
                match ch.probe(unit) {
                    Ok(Some(d)) => self.drives[minor] = Some(d),
                    Ok(None) => {}
                    Err(err) => rt::println!("drive {minor}: probe failed: {err}"),
                }
            }
            self.channels.push(ch);
        }
        for minor in 0..4 {
            if self.drives[minor]
                .as_ref()
                .is_some_and(|d| d.kind == Kind::Atapi)
            {
                let c = minor / 2;
                self.channels[c].queue.push_back(Job::internal(
                    minor,
                    Op::Capacity { tries: 0 },
                    8,
                ));
                self.run_sync(c);
            }
        }
        for (minor, d) in self.drives.iter().enumerate() {
            let Some(d) = d else { continue };
            match d.kind {
                Kind::Ata { lba48 } => rt::println!(
                    "drive {minor} (c1d{minor}): ATA disk '{}', {} sectors ({} bytes){}",
                    d.model,
                    d.sectors,
                    d.size(),
                    if lba48 { ", LBA48" } else { "" }
                ),
                Kind::Atapi if d.sectors > 0 => rt::println!(
                    "drive {minor} (c1d{minor}): ATAPI CD-ROM '{}', {} blocks of 2048 bytes ({} bytes)",
                    d.model,
                    d.sectors,
                    d.size()
                ),
                Kind::Atapi => rt::println!(
                    "drive {minor} (c1d{minor}): ATAPI CD-ROM '{}', no medium",
                    d.model
                ),
            }
        }
        for ch in &self.channels {
            if let Err(err) = rt::sys::irq_hook(ch.irq) {
                rt::println!("IRQ {} not hooked ({err:?}): polling only", ch.irq);
            }
        }
        rt::println!(
            "init {:?} (restart count {}): {} drive(s), instance {:#x}",
            info.kind,
            info.restarts,
            self.drives.iter().flatten().count(),
            self.instance
        );
        Ok(())
    }

    fn open(&mut self, cx: &mut Ctx<'_>, client: Endpoint, id: u64, minor: u32, a: u32) -> Started {
        let (m, part) = Self::split(minor)?;
        let d = self.drives[m].as_mut().ok_or(Errno::ENXIO)?;
        if let Some(part) = part {
            // CDs have no partition table.
            if d.kind == Kind::Atapi {
                return Err(Errno::ENXIO);
            }
            if d.part_opens.iter().any(|&n| n > 0) {
                d.table[part].ok_or(Errno::ENXIO)?;
                d.part_opens[part] += 1;
                return Ok(Some(0));
            }
            // The first partition open reads the table (it may
            // have been written through the whole disk since).
            let job = Job {
                client: Some(client),
                id,
                lba: 0,
                count: 1,
                bytes: 512,
                ..Job::internal(m, Op::Mbr { part }, 512)
            };
            let answers = self.submit(job);
            self.send_all(cx, answers);
            return Ok(None);
        }
        if d.kind == Kind::Atapi {
            if a & access::WRITE != 0 {
                return Err(Errno::EROFS);
            }
            if d.opens == 0 {
                // The medium may have changed: its capacity again.
                let job = Job::internal(m, Op::Capacity { tries: 0 }, 8);
                let answers = self.submit(Job {
                    client: Some(client),
                    id,
                    ..job
                });
                self.send_all(cx, answers);
                return Ok(None);
            }
        }
        d.opens = d.opens.saturating_add(1);
        Ok(Some(0))
    }

    fn close(&mut self, minor: u32) -> Result<(), Errno> {
        let (n, part) = Self::split(minor)?;
        self.opened(minor)?;
        let d = self.drives[n].as_mut().ok_or(Errno::ENXIO)?;
        match part {
            Some(p) => d.part_opens[p] -= 1,
            None => d.opens -= 1,
        }
        Ok(())
    }

    fn geometry(&mut self, minor: u32) -> Result<Geometry, Errno> {
        let (n, part) = self.opened(minor)?;
        let d = self.drives[n].as_ref().ok_or(Errno::ENXIO)?;
        Ok(Geometry {
            device: n,
            size: d.size(),
            part,
            read_only: d.kind == Kind::Atapi,
        })
    }

    /// Queues the transfer as a job of whole device sectors (on a CD the
    /// covering 2048-byte ones).
    fn transfer(&mut self, cx: &mut Ctx<'_>, t: Transfer) -> Started {
        let d = self
            .drives
            .get(t.device)
            .and_then(Option::as_ref)
            .ok_or(Errno::ENXIO)?;
        let (pos, n) = (t.pos, t.bytes);
        let ss = d.sector_size();
        let lba = pos / ss;
        let count = (pos + n).div_ceil(ss) - lba;
        let skip = (pos % ss) as usize;
        let buf = if t.write {
            // The data first: a bad grant fails before the disk is touched.
            let mut buf = vec![0u8; n as usize];
            let mut off = 0usize;
            for &(g, len) in &t.segs {
                if off >= buf.len() {
                    break;
                }
                let take = (len as usize).min(buf.len() - off);
                cx.sys
                    .safecopy_from(t.client, g, 0, &mut buf[off..off + take])?;
                off += take;
            }
            buf
        } else {
            vec![0u8; (count * ss) as usize]
        };
        let answers = self.submit(Job {
            client: Some(t.client),
            id: t.id,
            drive: t.device,
            op: if t.write { Op::Write } else { Op::Read },
            segs: t.segs,
            lba,
            count,
            skip,
            bytes: n,
            buf,
            done: 0,
        });
        self.send_all(cx, answers);
        Ok(None)
    }

    fn flush(&mut self, cx: &mut Ctx<'_>, client: Endpoint, id: u64, n: usize) -> Started {
        if self
            .drives
            .get(n)
            .and_then(Option::as_ref)
            .is_none_or(|d| d.kind == Kind::Atapi)
        {
            return Ok(Some(0));
        }
        let job = Job::internal(n, Op::Flush, 0);
        let answers = self.submit(Job {
            client: Some(client),
            id,
            ..job
        });
        self.send_all(cx, answers);
        Ok(None)
    }

    fn interrupt(&mut self, cx: &mut Ctx<'_>) {
        self.irqs_seen += 1;
        if self.irqs_seen == 1 {
            rt::println!("first interrupt");
        }
        for c in 0..self.channels.len() {
            let answers = self.pump(c);
            self.send_all(cx, answers);
        }
        self.arm();
    }

    fn poll(&mut self, cx: &mut Ctx<'_>) {
        self.alarm_set = false;
        for c in 0..self.channels.len() {
            let answers = self.pump(c);
            if !answers.is_empty() {
                self.polls_found += 1;
                if self.polls_found == 1 {
                    rt::println!("poll found a finished command (interrupt missed?)");
                }
            }
            self.send_all(cx, answers);
        }
        self.arm();
    }
}

impl Job {
    /// A job of the driver's own (no client yet) with a `len`-byte buffer.
    fn internal(drive: usize, op: Op, len: usize) -> Job {
        Job {
            client: None,
            id: 0,
            drive,
            op,
            segs: Vec::new(),
            lba: 0,
            count: 0,
            skip: 0,
            bytes: 0,
            buf: vec![0; len],
            done: 0,
        }
    }

    fn internal_copy(&self) -> Job {
        Job::internal(self.drive, self.op, 0)
    }
}

fn main(args: &str) -> i32 {
    blockdriver::main(args, || AtWini {
        channels: Vec::new(),
        drives: [None, None, None, None],
        instance: rt::ipc::rdtsc() | 1,
        alarm_set: false,
        irqs_seen: 0,
        polls_found: 0,
    })
}
