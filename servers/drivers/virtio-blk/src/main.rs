//! `virtio-blk`: the block driver for QEMU's virtio disks, a SEF service that
//! RS starts (label `virtio-blk`) and restarts, serving `sys::proto::bdev`.
//!
//! At init it takes the PCI configuration ports, finds every virtio-blk
//! function on bus 0 (vendor 0x1af4, device 0x1001: legacy / transitional),
//! and for each one (minor N = the Nth disk in slot order) takes its BAR0
//! ports, resets it, negotiates features (only `FLUSH` and `RO` are looked
//! at), sets up virtqueue 0 in DMA memory (`DmaAlloc`) and hooks its IRQ
//! line with `IRQ_HOOK_MASK_ON_FIRE` (PCI lines are level-triggered).
//!
//! Requests are put on the queue and answered when the device finishes
//! (several in flight; later ones wait when the queue is full): a chain of
//! the request header, the data — the client's granted pages themselves,
//! resolved page by page with `UMapGrant`, so the device reads or writes
//! the client's buffer directly — and the status byte. An interrupt (a
//! notification from SYSTEM) is acknowledged by reading each device's ISR,
//! the finished chains are answered, and the line is enabled again with
//! `IrqCtl`. A slow clock poll covers a missed interrupt.
//!
//! Positions and transfer lengths must be multiples of 512 (the sector
//! size); transfers reaching the end of the disk are cut there (0 bytes at
//! or past it), so a disk whose size is not a multiple of the file
//! system's block size works (`native::blockdriver` checks and cuts).
//!
//! Partitions (`libbdev::mbr`): minor `128 + N*4 + P` is primary partition
//! P of disk N (`/dev/c0dNpP`), its transfers moved by the partition's
//! start and cut at its end. The MBR is read (a request of the driver's
//! own into a DMA page, the open answered when it is back) when a
//! partition minor is opened while no partition of the disk is open and
//! either the whole disk is not open or sector 0 was written since the
//! last read; an entry that is unused or lies outside the disk leaves
//! its minor `ENXIO`. Unknown requests get `ENOSYS`, malformed
//! ones `EINVAL`; nothing a client sends makes it panic.
//!
//! Listed as a boot module with the argument `image` so `Spawn` finds the
//! image (that copy exits at once).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod pci;
mod virtq;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use libbdev::mbr::{self, MinorKind, Partition};
use native::blockdriver::{self, BlockDriver, Geometry, Started, Transfer};
use rt::abi::{self, DEVIO_BYTE, DEVIO_LONG, DEVIO_WORD};
use rt::dma::DmaRegion;
use rt::sys::{port_in, port_out};
use sys::proto::bdev::{BdevReply, access};
use sys::{Ctx, Endpoint, Errno, InitInfo};
use virtq::{Buf, Queue};
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

rt::entry!(main);

const VENDOR: u16 = 0x1af4;
const DEVICE_LEGACY_BLK: u16 = 0x1001;
const SECTOR: u64 = 512;
/// Legacy virtio I/O registers (offsets in BAR0).
const REG_HOST_FEATURES: u16 = 0x00;
const REG_GUEST_FEATURES: u16 = 0x04;
const REG_QUEUE_PFN: u16 = 0x08;
const REG_QUEUE_SIZE: u16 = 0x0c;
const REG_QUEUE_SELECT: u16 = 0x0e;
const REG_QUEUE_NOTIFY: u16 = 0x10;
const REG_STATUS: u16 = 0x12;
const REG_ISR: u16 = 0x13;
const REG_CONFIG: u16 = 0x14;
/// Device status bits.
const STATUS_ACK: u32 = 1;
const STATUS_DRIVER: u32 = 2;
const STATUS_DRIVER_OK: u32 = 4;
const STATUS_FAILED: u32 = 128;
/// Feature bits.
const F_RO: u32 = 1 << 5;
const F_FLUSH: u32 = 1 << 9;
/// Request types.
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
/// Clock ticks between polls of the used rings while requests are out.
const POLL_TICKS: u64 = 20;

/// `struct virtio_blk_outhdr`.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct ReqHeader {
    kind: U32,
    reserved: U32,
    sector: U64,
}

/// What a finished chain answers.
struct InFlight {
    client: Endpoint,
    id: u64,
    /// Bytes reported on success.
    bytes: u64,
    /// The driver's own read of the MBR (no client to answer).
    mbr: bool,
}

/// Offset of the MBR sector's page in a disk's DMA region.
const MBR_PAGE: usize = 8192;

/// A request waiting for free descriptors.
struct Waiting {
    client: Endpoint,
    id: u64,
    minor: usize,
    kind: u32,
    sector: u64,
    data: Vec<Buf>,
    bytes: u64,
    mbr: bool,
}

/// A partition open waiting for the MBR.
struct PendingOpen {
    client: Endpoint,
    id: u64,
    part: usize,
}

/// One virtio-blk device.
struct Disk {
    io: u16,
    irq: Option<u8>,
    sectors: u64,
    read_only: bool,
    flush: bool,
    queue: Queue,
    /// Request headers (16 bytes per descriptor head), status bytes
    /// (page 1, one per head) and the MBR sector (page 2).
    hdrs: DmaRegion,
    inflight: BTreeMap<u16, InFlight>,
    /// Opens of all its minors (0: not opened with this instance).
    opens: u32,
    /// Opens of the whole disk and of each partition.
    whole_opens: u32,
    part_opens: [u32; mbr::ENTRIES],
    /// The partitions as last read; `stale` until read, and after a write
    /// to sector 0.
    table: [Option<Partition>; mbr::ENTRIES],
    stale: bool,
    /// Opens waiting for the MBR read in flight.
    pending: Vec<PendingOpen>,
}

impl Disk {
    fn reg_in(&self, reg: u16, width: u64) -> Result<u32, Errno> {
        port_in(self.io + reg, width).map_err(native::errno)
    }

    fn reg_out(&self, reg: u16, width: u64, v: u32) -> Result<(), Errno> {
        port_out(self.io + reg, width, v).map_err(native::errno)
    }

    fn size(&self) -> u64 {
        self.sectors.saturating_mul(SECTOR)
    }

    /// The partition table from the MBR page, after the read.
    fn take_table(&mut self) {
        let mut sector = [0u8; SECTOR as usize];
        self.table = match self.hdrs.read(MBR_PAGE, &mut sector) {
            Ok(()) => mbr::parse(&sector, self.sectors).unwrap_or([None; mbr::ENTRIES]),
            Err(_) => [None; mbr::ENTRIES],
        };
        self.stale = false;
    }

    /// Answers an open of partition `part` from the table.
    fn open_part(&mut self, part: usize) -> Result<u64, Errno> {
        match self.table.get(part) {
            Some(Some(_)) => {
                self.opens = self.opens.saturating_add(1);
                self.part_opens[part] = self.part_opens[part].saturating_add(1);
                Ok(0)
            }
            _ => Err(Errno::ENXIO),
        }
    }

    /// Puts one request on the queue and tells the device.
    fn submit(&mut self, w: &Waiting) -> Result<(), Errno> {
        // The header and status slots are indexed by the chain's head.
        let mut bufs = Vec::with_capacity(w.data.len() + 2);
        bufs.push(Buf {
            phys: 0,
            len: 16,
            device_writes: false,
        });
        bufs.extend_from_slice(&w.data);
        bufs.push(Buf {
            phys: 0,
            len: 1,
            device_writes: true,
        });
        // The next head is the last free descriptor (a stack).
        let head = self.queue.peek_head().ok_or(Errno::EAGAIN)?;
        let h = usize::from(head);
        bufs[0].phys = self.hdrs.phys(16 * h);
        let last = bufs.len() - 1;
        bufs[last].phys = self.hdrs.phys(4096 + h);
        let hdr = ReqHeader {
            kind: U32::new(w.kind),
            reserved: U32::new(0),
            sector: U64::new(w.sector),
        };
        self.hdrs
            .write(16 * h, hdr.as_bytes())
            .map_err(native::errno)?;
        self.hdrs.write(4096 + h, &[0xff]).map_err(native::errno)?;
        let got = self.queue.submit(&bufs).map_err(native::errno)?;
        if got != head {
            return Err(Errno::EIO);
        }
        self.inflight.insert(
            head,
            InFlight {
                client: w.client,
                id: w.id,
                bytes: w.bytes,
                mbr: w.mbr,
            },
        );
        self.reg_out(REG_QUEUE_NOTIFY, DEVIO_WORD, 0)
    }
}

struct VirtioBlk {
    disks: Vec<Disk>,
    /// Requests waiting for queue space, per disk, in arrival order.
    waiting: VecDeque<Waiting>,
    /// This instance's id in every reply.
    instance: u64,
    lines: Vec<u8>,
    irqs_seen: u64,
    polls_found: u64,
    alarm_set: bool,
}

fn set_up(bdf: pci::Bdf) -> Result<Disk, Errno> {
    let e = native::errno;
    let (io, size) = pci::io_bar(bdf, 0).map_err(e)?.ok_or(Errno::ENODEV)?;
    let me = rt::ipc::whois("").map_err(e)?;
    rt::sys::set_io_priv(me, io, size).map_err(e)?;
    pci::enable_io_and_dma(bdf).map_err(e)?;
    let irq = pci::irq_line(bdf).map_err(e)?;
    let port = |reg: u16| io + reg;
    // Reset: stops whatever a previous instance left running (DMA too).
    port_out(port(REG_STATUS), DEVIO_BYTE, 0).map_err(e)?;
    port_out(port(REG_STATUS), DEVIO_BYTE, STATUS_ACK).map_err(e)?;
    port_out(port(REG_STATUS), DEVIO_BYTE, STATUS_ACK | STATUS_DRIVER).map_err(e)?;
    let host = port_in(port(REG_HOST_FEATURES), DEVIO_LONG).map_err(e)?;
    let guest = host & (F_RO | F_FLUSH);
    port_out(port(REG_GUEST_FEATURES), DEVIO_LONG, guest).map_err(e)?;
    port_out(port(REG_QUEUE_SELECT), DEVIO_WORD, 0).map_err(e)?;
    let qsize = port_in(port(REG_QUEUE_SIZE), DEVIO_WORD).map_err(e)? as u16;
    let queue = match Queue::new(qsize) {
        Ok(q) => q,
        Err(err) => {
            let _ = port_out(port(REG_STATUS), DEVIO_BYTE, STATUS_FAILED);
            return Err(native::errno(err));
        }
    };
    let hdrs = DmaRegion::alloc(3).map_err(e)?;
    port_out(port(REG_QUEUE_PFN), DEVIO_LONG, queue.pfn()).map_err(e)?;
    let lo = port_in(port(REG_CONFIG), DEVIO_LONG).map_err(e)?;
    let hi = port_in(port(REG_CONFIG + 4), DEVIO_LONG).map_err(e)?;
    port_out(
        port(REG_STATUS),
        DEVIO_BYTE,
        STATUS_ACK | STATUS_DRIVER | STATUS_DRIVER_OK,
    )
    .map_err(e)?;
    Ok(Disk {
        io,
        irq,
        sectors: u64::from(lo) | (u64::from(hi) << 32),
        read_only: guest & F_RO != 0,
        flush: guest & F_FLUSH != 0,
        queue,
        hdrs,
        inflight: BTreeMap::new(),
        opens: 0,
        whole_opens: 0,
        part_opens: [0; mbr::ENTRIES],
        table: [None; mbr::ENTRIES],
        stale: true,
        pending: Vec::new(),
    })
}

impl VirtioBlk {
    /// The disk of `minor`, its index and its partition (if it names one).
    fn resolve(&mut self, minor: u32) -> Result<(usize, Option<usize>), Errno> {
        mbr::locate(minor, self.disks.len()).ok_or(Errno::ENXIO)
    }

    /// The open disk of `minor`, its index, and the partition's
    /// placement (`None`: the whole disk).
    fn disk(&mut self, minor: u32) -> Result<(usize, Option<Partition>), Errno> {
        let (n, part) = self.resolve(minor)?;
        let d = &self.disks[n];
        // Not opened with this instance: it restarted since the open.
        let opened = match part {
            None => d.whole_opens > 0,
            Some(p) => d.part_opens[p] > 0,
        };
        if d.opens == 0 || !opened {
            return Err(Errno::ERESTART);
        }
        match part {
            None => Ok((n, None)),
            Some(p) => d.table[p].map(|t| (n, Some(t))).ok_or(Errno::ENXIO),
        }
    }

    /// Starts the driver's own read of disk `n`'s MBR into its DMA page;
    /// the opens waiting for it are answered when it is back.
    fn read_mbr(&mut self, n: usize) -> Result<(), Errno> {
        let d = &self.disks[n];
        let w = Waiting {
            client: Endpoint(0),
            id: 0,
            minor: n,
            kind: T_IN,
            sector: 0,
            data: alloc::vec![Buf {
                phys: d.hdrs.phys(MBR_PAGE),
                len: SECTOR as u32,
                device_writes: true,
            }],
            bytes: SECTOR,
            mbr: true,
        };
        self.start(w).inspect_err(|_| self.disks[n].pending.clear())
    }

    /// Submits now, or queues behind earlier waiting requests.
    fn start(&mut self, w: Waiting) -> Result<(), Errno> {
        let fits = self
            .disks
            .get(w.minor)
            .is_some_and(|d| d.queue.free() >= w.data.len() + 2);
        if fits && !self.waiting.iter().any(|o| o.minor == w.minor) {
            let d = self.disks.get_mut(w.minor).ok_or(Errno::ENXIO)?;
            d.submit(&w)?;
            if !self.alarm_set {
                rt::sys::set_alarm(POLL_TICKS).map_err(native::errno)?;
                self.alarm_set = true;
            }
        } else {
            self.waiting.push_back(w);
        }
        Ok(())
    }

    /// Answers every finished chain of every disk; starts waiting requests.
    fn complete(&mut self, cx: &mut Ctx<'_>) -> u64 {
        let mut found = 0;
        let instance = self.instance;
        for d in &mut self.disks {
            while let Ok(Some((head, _))) = d.queue.pop_used() {
                found += 1;
                let Some(f) = d.inflight.remove(&head) else {
                    continue;
                };
                let mut status = [0xffu8];
                let ok =
                    d.hdrs.read(4096 + usize::from(head), &mut status).is_ok() && status[0] == 0;
                if f.mbr {
                    if ok {
                        d.take_table();
                    }
                    for p in core::mem::take(&mut d.pending) {
                        let result = if ok {
                            d.open_part(p.part)
                        } else {
                            Err(Errno::EIO)
                        };
                        let m = BdevReply {
                            id: p.id,
                            instance,
                            result,
                        }
                        .to_message();
                        let _ = cx.sys.send(p.client, m);
                    }
                    continue;
                }
                let result = if ok { Ok(f.bytes) } else { Err(Errno::EIO) };
                let m = BdevReply {
                    id: f.id,
                    instance,
                    result,
                }
                .to_message();
                // The client may have died meanwhile; nothing to do then.
                let _ = cx.sys.send(f.client, m);
            }
        }
        // Start what now fits, in order per disk.
        let mut still = VecDeque::new();
        while let Some(w) = self.waiting.pop_front() {
            let blocked = still.iter().any(|o: &Waiting| o.minor == w.minor);
            match self.disks.get_mut(w.minor) {
                Some(d) if !blocked && d.queue.free() >= w.data.len() + 2 => {
                    if let Err(e) = d.submit(&w) {
                        if w.mbr {
                            let pending = core::mem::take(&mut d.pending);
                            for p in pending {
                                let _ = cx.sys.send(p.client, self.reply(p.id, Err(e)));
                            }
                        } else {
                            let _ = cx.sys.send(w.client, self.reply(w.id, Err(e)));
                        }
                    }
                }
                _ => still.push_back(w),
            }
        }
        self.waiting = still;
        found
    }
}

impl BlockDriver for VirtioBlk {
    fn instance(&self) -> u64 {
        self.instance
    }

    fn init(&mut self, _cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno> {
        let e = native::errno;
        let me = rt::ipc::whois("").map_err(e)?;
        rt::sys::set_io_priv(me, pci::CONFIG_PORT, pci::CONFIG_PORTS).map_err(|err| {
            rt::println!("cannot get the PCI configuration ports: {err:?}");
            e(err)
        })?;
        let found = pci::scan().map_err(|err| {
            rt::println!("PCI scan failed: {err:?}");
            e(err)
        })?;
        for f in found
            .iter()
            .filter(|f| f.vendor == VENDOR && f.device == DEVICE_LEGACY_BLK)
        {
            match set_up(f.bdf) {
                Ok(d) => {
                    rt::println!(
                        "disk {} at {:02x}.{}: io {:#x}, irq {:?}, {} sectors ({} bytes){}{}",
                        self.disks.len(),
                        f.bdf.dev,
                        f.bdf.func,
                        d.io,
                        d.irq,
                        d.sectors,
                        d.size(),
                        if d.read_only { ", read-only" } else { "" },
                        if d.flush { ", flush" } else { "" },
                    );
                    self.disks.push(d);
                }
                Err(err) => rt::println!(
                    "device at {:02x}.{} not usable: {err}",
                    f.bdf.dev,
                    f.bdf.func
                ),
            }
        }
        for d in &self.disks {
            if let Some(line) = d.irq
                && !self.lines.contains(&line)
            {
                rt::sys::irq_hook_flags(line, abi::IRQ_HOOK_MASK_ON_FIRE).map_err(e)?;
                self.lines.push(line);
            }
        }
        rt::println!(
            "init {:?} (restart count {}): {} disk(s), instance {:#x}",
            info.kind,
            info.restarts,
            self.disks.len(),
            self.instance
        );
        Ok(())
    }

    fn open(&mut self, _: &mut Ctx<'_>, client: Endpoint, id: u64, minor: u32, a: u32) -> Started {
        let (n, part) = self.resolve(minor)?;
        let d = &mut self.disks[n];
        if a & access::WRITE != 0 && d.read_only {
            return Err(Errno::EROFS);
        }
        let Some(part) = part else {
            d.opens = d.opens.saturating_add(1);
            d.whole_opens = d.whole_opens.saturating_add(1);
            return Ok(Some(0));
        };
        let parts_open = d.part_opens.iter().any(|&c| c > 0);
        let reread = !parts_open && (d.whole_opens == 0 || d.stale);
        if !reread && d.pending.is_empty() {
            return d.open_part(part).map(Some);
        }
        let first = d.pending.is_empty();
        d.pending.push(PendingOpen { client, id, part });
        if first {
            self.read_mbr(n)?;
        }
        Ok(None)
    }

    fn close(&mut self, minor: u32) -> Result<(), Errno> {
        let (n, part) = self.disk(minor)?;
        let d = &mut self.disks[n];
        d.opens -= 1;
        match part {
            None => d.whole_opens -= 1,
            Some(_) => {
                if let MinorKind::Partition { part, .. } = mbr::split_minor(minor) {
                    d.part_opens[part] -= 1;
                }
            }
        }
        Ok(())
    }

    fn geometry(&mut self, minor: u32) -> Result<Geometry, Errno> {
        let (n, part) = self.disk(minor)?;
        let d = &self.disks[n];
        Ok(Geometry {
            device: n,
            size: d.size(),
            part,
            read_only: d.read_only,
        })
    }

    /// Puts the transfer on its disk's queue: the client's granted pages
    /// themselves are the data.
    fn transfer(&mut self, _cx: &mut Ctx<'_>, t: Transfer) -> Started {
        let Transfer {
            client,
            id,
            device: disk_n,
            pos,
            bytes: n,
            write,
            segs,
        } = t;
        let d = self.disks.get_mut(disk_n).ok_or(Errno::ENXIO)?;
        if write && pos < SECTOR {
            // The partition table may change: read it again at the next
            // partition open.
            d.stale = true;
        }
        let queue_size = usize::from(d.queue.size());
        // The device writes memory on a read.
        let access = if write {
            abi::GRANT_READ
        } else {
            abi::GRANT_WRITE
        };
        let mut data = Vec::new();
        let mut left = n;
        for (grant, len) in segs {
            let mut off = 0u64;
            while off < u64::from(len) && left > 0 {
                // One page of the client's buffer at a time: each is
                // physically contiguous.
                let phys = rt::sys::umap_grant(client.0, grant.0, off, 1, access)
                    .map_err(native::errno)?;
                let in_page = 4096 - (phys & 0xfff);
                let chunk = in_page.min(u64::from(len) - off).min(left);
                // Checks the whole chunk (rights, contiguity) once more.
                rt::sys::umap_grant(client.0, grant.0, off, chunk, access)
                    .map_err(native::errno)?;
                data.push(Buf {
                    phys,
                    len: chunk as u32,
                    device_writes: !write,
                });
                off += chunk;
                left -= chunk;
            }
        }
        if data.len() + 2 > queue_size {
            return Err(Errno::EINVAL);
        }
        self.start(Waiting {
            client,
            id,
            minor: disk_n,
            kind: if write { T_OUT } else { T_IN },
            sector: pos / SECTOR,
            data,
            bytes: n,
            mbr: false,
        })?;
        Ok(None)
    }

    fn flush(&mut self, _cx: &mut Ctx<'_>, client: Endpoint, id: u64, n: usize) -> Started {
        if !self.disks.get(n).is_some_and(|d| d.flush) {
            return Ok(Some(0));
        }
        self.start(Waiting {
            client,
            id,
            minor: n,
            kind: T_FLUSH,
            sector: 0,
            data: Vec::new(),
            bytes: 0,
            mbr: false,
        })?;
        Ok(None)
    }

    fn interrupt(&mut self, cx: &mut Ctx<'_>) {
        self.irqs_seen += 1;
        if self.irqs_seen == 1 {
            rt::println!("first interrupt");
        }
        // Reading the ISR acknowledges (deasserts) the device's interrupt.
        for d in &self.disks {
            let _ = d.reg_in(REG_ISR, DEVIO_BYTE);
        }
        self.complete(cx);
        for &line in &self.lines {
            let _ = rt::sys::irq_ctl(line, true);
        }
    }

    fn poll(&mut self, cx: &mut Ctx<'_>) {
        self.alarm_set = false;
        let found = self.complete(cx);
        if found > 0 {
            self.polls_found += found;
            if self.polls_found == found {
                rt::println!("poll found {found} finished request(s) (interrupt missed?)");
            }
        }
        let busy = self.disks.iter().any(|d| !d.inflight.is_empty()) || !self.waiting.is_empty();
        if busy && rt::sys::set_alarm(POLL_TICKS).is_ok() {
            self.alarm_set = true;
        }
    }
}

fn main(args: &str) -> i32 {
    blockdriver::main(args, || VirtioBlk {
        disks: Vec::new(),
        waiting: VecDeque::new(),
        instance: rt::ipc::rdtsc() | 1,
        lines: Vec::new(),
        irqs_seen: 0,
        polls_found: 0,
        alarm_set: false,
    })
}
