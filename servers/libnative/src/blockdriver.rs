//! What every block driver does alike (MINIX libblockdriver's part): the
//! message dispatch of a `sys::proto::bdev` server, the decoding and
//! bounds checks of its transfers, and its `main`.
//!
//! A driver implements [`BlockDriver`] (init, opens, closes, flushes, the
//! [`Geometry`] of an open minor, the device I/O of a checked
//! [`Transfer`], interrupts and clock polls) and [`main`] runs it as a SEF
//! service: a notification from SYSTEM is an interrupt, one from CLOCK a
//! poll; any other message is a request, answered at once when
//! [`BlockDriver::request`] returns a value or an error (an unknown
//! protocol gets `ENOSYS` with id 0, malformed requests `EINVAL` from the
//! decoder), later by the driver when it returns `Ok(None)`.
//!
//! Reads, writes, gathers and scatters are checked here, once for every
//! driver ([`bounds`]): a write to a read-only device is `EROFS`; a
//! position or length that is not a multiple of 512 bytes, or a transfer
//! over [`MAX_TRANSFER`], is `EINVAL`; a partition's transfer is moved by
//! the partition's start; one reaching the end of the partition or the
//! device is cut there, and one at or past it is answered 0 at once.

use alloc::vec::Vec;
use libbdev::mbr::{Partition, SECTOR};
use sys::proto::bdev::{BdevReply, BdevRequest, IoVec, MAX_IOVEC, request_id};
use sys::proto::kernel::is_notify;
use sys::{Ctx, Endpoint, Errno, GrantId, InitInfo, Message, Service};
use zerocopy::FromBytes;

/// Most bytes of one transfer.
pub const MAX_TRANSFER: u64 = 1 << 20;

/// A request started: answered now (`Ok(Some(value))`), later by the
/// driver when the device is done (`Ok(None)`), or refused.
pub type Started = Result<Option<u64>, Errno>;

/// Where an open minor lies: what the shared checks need of a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// The device (the driver's own index), passed back in [`Transfer`].
    pub device: usize,
    /// Bytes of the whole device.
    pub size: u64,
    /// The partition the minor names (`None`: the whole device).
    pub part: Option<Partition>,
    /// Writes are refused (`EROFS`).
    pub read_only: bool,
}

impl Geometry {
    /// Bytes of the minor: its partition's or the whole device's.
    pub fn minor_size(&self) -> u64 {
        self.part.map_or(self.size, |p| p.size())
    }
}

/// A read or write that passed [`bounds`], for the driver to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Who asked (the owner of the grants).
    pub client: Endpoint,
    /// The request's id.
    pub id: u64,
    /// [`Geometry::device`] of the minor.
    pub device: usize,
    /// Byte position on the whole device (a multiple of 512).
    pub pos: u64,
    /// Bytes to move: more than 0, a multiple of 512, at most the
    /// segments' total (the first bytes of them, in order).
    pub bytes: u64,
    /// A write (the device reads the segments) or a read.
    pub write: bool,
    /// The client's (grant, length) segments.
    pub segs: Vec<(GrantId, u32)>,
}

/// A transfer of `total` bytes at byte `pos` of a minor with geometry `g`:
/// its position on the whole device and the bytes of it before the end of
/// the partition or device (0 at or past it).
pub fn bounds(g: &Geometry, pos: u64, total: u64, write: bool) -> Result<(u64, u64), Errno> {
    if write && g.read_only {
        return Err(Errno::EROFS);
    }
    if !pos.is_multiple_of(SECTOR) || !total.is_multiple_of(SECTOR) || total > MAX_TRANSFER {
        return Err(Errno::EINVAL);
    }
    match g.part {
        // The position may overflow there: EINVAL too.
        Some(p) => p.map(pos, total).ok_or(Errno::EINVAL),
        None => Ok((pos, total.min(g.size.saturating_sub(pos)))),
    }
}

/// The device-specific part of a block driver.
pub trait BlockDriver {
    /// This instance's id, in every reply (clients notice a restart by it).
    fn instance(&self) -> u64;
    /// Finds and sets up the devices (SEF init: at start and after a
    /// restart).
    fn init(&mut self, cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno>;
    /// Opens `minor` with [`sys::proto::bdev::access`] bits; `Ok(Some)`
    /// is an immediate answer, `Ok(None)` one the driver sends later (as
    /// after reading the partition table).
    fn open(
        &mut self,
        cx: &mut Ctx<'_>,
        client: Endpoint,
        id: u64,
        minor: u32,
        access: u32,
    ) -> Started;
    /// Closes one open of `minor`.
    fn close(&mut self, minor: u32) -> Result<(), Errno>;
    /// The geometry of `minor`, which this instance has open (`ERESTART`
    /// if it has not: it restarted since the open).
    fn geometry(&mut self, minor: u32) -> Result<Geometry, Errno>;
    /// Starts a checked transfer; `Ok(Some)` is an immediate answer,
    /// `Ok(None)` one the driver sends when the device is done.
    fn transfer(&mut self, cx: &mut Ctx<'_>, t: Transfer) -> Started;
    /// Makes the written data of `device` durable (answers as `transfer`).
    fn flush(&mut self, cx: &mut Ctx<'_>, client: Endpoint, id: u64, device: usize) -> Started;
    /// An interrupt notification (from SYSTEM).
    fn interrupt(&mut self, cx: &mut Ctx<'_>);
    /// A clock alarm (from CLOCK): the poll that covers a missed interrupt.
    fn poll(&mut self, cx: &mut Ctx<'_>);

    /// Decodes and starts one request of `client`; `Ok(Some)` is an
    /// immediate answer, `Ok(None)` one the driver sends later. Transfers
    /// go through [`bounds`]; the gather/scatter I/O vector is read first.
    fn request(&mut self, cx: &mut Ctx<'_>, client: Endpoint, req: BdevRequest) -> Started {
        let (pos, segs) = match req {
            BdevRequest::Open { id, minor, access } => {
                return self.open(cx, client, id, minor, access);
            }
            BdevRequest::Close { minor, .. } => return self.close(minor).map(|()| Some(0)),
            BdevRequest::Size { minor, .. } => {
                return self.geometry(minor).map(|g| Some(g.minor_size()));
            }
            BdevRequest::Flush { id, minor } => {
                let device = self.geometry(minor)?.device;
                return self.flush(cx, client, id, device);
            }
            BdevRequest::Read {
                pos, grant, len, ..
            }
            | BdevRequest::Write {
                pos, grant, len, ..
            } => (pos, alloc::vec![(grant, len)]),
            BdevRequest::Gather {
                pos, iovec, count, ..
            }
            | BdevRequest::Scatter {
                pos, iovec, count, ..
            } => (pos, segments(cx, client, iovec, count)?),
        };
        let (id, minor) = (req.id(), req.minor());
        let write = matches!(req, BdevRequest::Write { .. } | BdevRequest::Scatter { .. });
        let g = self.geometry(minor)?;
        let total = segs.iter().map(|&(_, l)| u64::from(l)).sum();
        let (pos, bytes) = bounds(&g, pos, total, write)?;
        if bytes == 0 {
            return Ok(Some(0));
        }
        self.transfer(
            cx,
            Transfer {
                client,
                id,
                device: g.device,
                pos,
                bytes,
                write,
                segs,
            },
        )
    }

    /// The answer to request `id`.
    fn reply(&self, id: u64, result: Result<u64, Errno>) -> Message {
        BdevReply {
            id,
            instance: self.instance(),
            result,
        }
        .to_message()
    }
}

/// A [`BlockDriver`] as a SEF service.
struct Driver<D>(D);

impl<D: BlockDriver + 'static> Service for Driver<D> {
    fn init(&mut self, cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno> {
        self.0.init(cx, info)
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        handle(&mut self.0, cx, msg)
    }
}

/// The message dispatch: interrupts, polls and requests.
fn handle<D: BlockDriver>(d: &mut D, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
    if is_notify(&msg) {
        if msg.source() == Endpoint::SYSTEM {
            d.interrupt(cx);
        } else if msg.source() == Endpoint::CLOCK {
            d.poll(cx);
        }
        return None;
    }
    let Some(id) = request_id(&msg) else {
        // Not this protocol: answer in it anyway (the id is unknown).
        return Some(d.reply(0, Err(Errno::ENOSYS)));
    };
    let client = msg.source();
    match BdevRequest::try_from(&msg).and_then(|r| d.request(cx, client, r)) {
        Ok(Some(v)) => Some(d.reply(id, Ok(v))),
        Ok(None) => None,
        Err(err) => Some(d.reply(id, Err(err))),
    }
}

/// The (grant, length) segments of a gather/scatter request: `count` (at
/// most [`MAX_IOVEC`]) `IoVec` entries copied from the client's grant `iovec`.
pub fn segments(
    cx: &mut Ctx<'_>,
    client: Endpoint,
    iovec: GrantId,
    count: u32,
) -> Result<Vec<(GrantId, u32)>, Errno> {
    let count = count.min(MAX_IOVEC) as usize;
    let mut raw = alloc::vec![0u8; count * IoVec::SIZE];
    cx.sys.safecopy_from(client, iovec, 0, &mut raw)?;
    Ok(raw
        .chunks_exact(IoVec::SIZE)
        .filter_map(|c| IoVec::read_from_bytes(c).ok())
        .map(|v| (v.grant(), v.len()))
        .collect())
}

/// A block driver's `main`: the boot image's copy exits at once (RS starts
/// the service), otherwise the driver `make` builds runs as a SEF service.
pub fn main<D: BlockDriver + 'static>(args: &str, make: impl FnOnce() -> D) -> i32 {
    if crate::is_image_only(args) {
        rt::println!("boot image only; RS starts the service");
        return 0;
    }
    crate::run(sys::Sef::new(Driver(make()), sys::StateStore::None))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1 MiB + 4 KiB disk (2056 sectors).
    const DISK: u64 = 2056 * SECTOR;

    fn disk(read_only: bool) -> Geometry {
        Geometry {
            device: 1,
            size: DISK,
            part: None,
            read_only,
        }
    }

    /// Partition of 8 sectors at sector 100.
    fn part() -> Geometry {
        Geometry {
            part: Some(Partition {
                kind: 0x81,
                active: false,
                start: 100,
                sectors: 8,
            }),
            ..disk(false)
        }
    }

    #[test]
    fn writes_to_a_read_only_device_are_erofs_reads_are_not() {
        let ro = disk(true);
        assert_eq!(bounds(&ro, 0, 512, true), Err(Errno::EROFS));
        // Before the alignment check: a bad write is still EROFS.
        assert_eq!(bounds(&ro, 1, 3, true), Err(Errno::EROFS));
        assert_eq!(bounds(&ro, 0, 512, false), Ok((0, 512)));
        assert_eq!(bounds(&disk(false), 0, 512, true), Ok((0, 512)));
    }

    #[test]
    fn misaligned_or_oversized_transfers_are_einval() {
        let d = disk(false);
        assert_eq!(bounds(&d, 256, 512, false), Err(Errno::EINVAL));
        assert_eq!(bounds(&d, 512, 1000, true), Err(Errno::EINVAL));
        assert_eq!(
            bounds(&d, 0, MAX_TRANSFER + SECTOR, false),
            Err(Errno::EINVAL)
        );
        assert_eq!(bounds(&d, 0, MAX_TRANSFER, false), Ok((0, MAX_TRANSFER)));
        // A misaligned read of a read-only device: EINVAL, not EROFS.
        assert_eq!(bounds(&disk(true), 3, 512, false), Err(Errno::EINVAL));
    }

    #[test]
    fn transfers_are_cut_at_the_end_of_the_device() {
        let d = disk(false);
        assert_eq!(
            bounds(&d, DISK - 1024, 4096, false),
            Ok((DISK - 1024, 1024))
        );
        assert_eq!(bounds(&d, DISK - 4096, 4096, true), Ok((DISK - 4096, 4096)));
        // At or past the end: nothing to move.
        assert_eq!(bounds(&d, DISK, 4096, false), Ok((DISK, 0)));
        assert_eq!(bounds(&d, DISK + 8192, 512, true), Ok((DISK + 8192, 0)));
        assert_eq!(bounds(&d, 0, 0, false), Ok((0, 0)));
    }

    #[test]
    fn partition_transfers_are_moved_and_cut_at_the_partition_end() {
        let g = part();
        let start = 100 * SECTOR;
        assert_eq!(bounds(&g, 0, 1024, false), Ok((start, 1024)));
        // 8 sectors: 2 left at sector 6, none at 8 or beyond, even though
        // the disk goes on.
        assert_eq!(bounds(&g, 6 * SECTOR, 4096, true), Ok((start + 3072, 1024)));
        assert_eq!(bounds(&g, 8 * SECTOR, 512, false), Ok((start + 4096, 0)));
        assert_eq!(bounds(&g, 64 * SECTOR, 512, false), Ok((start + 32768, 0)));
        assert_eq!(g.minor_size(), 4096);
        assert_eq!(disk(false).minor_size(), DISK);
        // A position past what u64 holds on the disk.
        let far = u64::MAX - u64::MAX % SECTOR;
        assert_eq!(bounds(&g, far, 512, false), Err(Errno::EINVAL));
    }
}

/// The provided request decoding, with a RAM-disk driver under RS in the
/// simulator: what reaches the driver's `transfer` and what the client gets.
#[cfg(test)]
mod sim_tests {
    use super::*;
    use alloc::boxed::Box;
    use alloc::collections::BTreeSet;
    use alloc::rc::Rc;
    use core::cell::RefCell;
    use sim::system::{boot_rs, ds_service, register_programs, service};
    use sim::{Sim, SimConfig};
    use sys::proto::bdev::access;
    use sys::proto::service::Policy;
    use sys::{GrantAccess, HZ, Sef, StateStore};
    use zerocopy::IntoBytes;

    type Disks = Rc<RefCell<[Vec<u8>; 2]>>;
    /// What `transfer` was given: (device, pos, bytes, write, segments).
    type Log = Rc<RefCell<Vec<(usize, u64, u64, bool, usize)>>>;
    type Flushed = Rc<RefCell<Vec<usize>>>;

    /// Device 0: 10 sectors, writable, partition 0 (minor 128) at sectors
    /// 4..8; device 1 (minor 1): 2 sectors, read-only.
    struct Ram {
        disks: Disks,
        log: Log,
        flushed: Flushed,
        open: BTreeSet<u32>,
    }

    const PART: Partition = Partition {
        kind: 0x81,
        active: false,
        start: 4,
        sectors: 4,
    };

    impl BlockDriver for Ram {
        fn instance(&self) -> u64 {
            7
        }
        fn init(&mut self, _: &mut Ctx<'_>, _: InitInfo) -> Result<(), Errno> {
            Ok(())
        }
        fn open(&mut self, _: &mut Ctx<'_>, _: Endpoint, _: u64, minor: u32, _: u32) -> Started {
            if ![0, 1, 128].contains(&minor) {
                return Err(Errno::ENXIO);
            }
            self.open.insert(minor);
            Ok(Some(0))
        }
        fn close(&mut self, minor: u32) -> Result<(), Errno> {
            self.open
                .remove(&minor)
                .then_some(())
                .ok_or(Errno::ERESTART)
        }
        fn geometry(&mut self, minor: u32) -> Result<Geometry, Errno> {
            if !self.open.contains(&minor) {
                return Err(Errno::ERESTART);
            }
            let device = usize::from(minor == 1);
            Ok(Geometry {
                device,
                size: self.disks.borrow()[device].len() as u64,
                part: (minor == 128).then_some(PART),
                read_only: device == 1,
            })
        }
        fn transfer(&mut self, cx: &mut Ctx<'_>, t: Transfer) -> Started {
            self.log
                .borrow_mut()
                .push((t.device, t.pos, t.bytes, t.write, t.segs.len()));
            let mut disks = self.disks.borrow_mut();
            let bytes = &mut disks[t.device][t.pos as usize..(t.pos + t.bytes) as usize];
            let mut off = 0;
            for (g, len) in t.segs {
                let take = (len as usize).min(bytes.len() - off);
                let part = &mut bytes[off..off + take];
                if t.write {
                    cx.sys.safecopy_from(t.client, g, 0, part)?;
                } else {
                    cx.sys.safecopy_to(t.client, g, 0, part)?;
                }
                off += take;
            }
            Ok(Some(t.bytes))
        }
        fn flush(&mut self, _: &mut Ctx<'_>, _: Endpoint, _: u64, device: usize) -> Started {
            self.flushed.borrow_mut().push(device);
            Ok(Some(0))
        }
        fn interrupt(&mut self, _: &mut Ctx<'_>) {}
        fn poll(&mut self, _: &mut Ctx<'_>) {}
    }

    fn setup() -> (Sim, Endpoint, Disks, Log, Flushed) {
        let disks = Rc::new(RefCell::new([
            (0..5120).map(|i| (i / 512) as u8).collect(),
            alloc::vec![0xEE; 1024],
        ]));
        let log: Log = Rc::default();
        let flushed = Rc::new(RefCell::new(Vec::new()));
        let mut sim = Sim::new(SimConfig::new(3));
        register_programs(&mut sim);
        let (d, l, f) = (disks.clone(), log.clone(), flushed.clone());
        sim.register("ram", move || {
            let ram = Ram {
                disks: d.clone(),
                log: l.clone(),
                flushed: f.clone(),
                open: BTreeSet::new(),
            };
            Box::new(Sef::new(Driver(ram), StateStore::None))
        });
        let table = alloc::vec![ds_service(), service("ram", "ram", Policy::Restart, HZ)];
        boot_rs(&mut sim, rs::RsConfig::with_table(table));
        let ep = sim.endpoint_of("ram").unwrap();
        (sim, ep, disks, log, flushed)
    }

    fn call(sim: &mut Sim, ep: Endpoint, req: BdevRequest) -> Result<u64, Errno> {
        let r = BdevReply::try_from(&sim.call(ep, req.to_message()).unwrap()).unwrap();
        assert_eq!((r.id, r.instance), (req.id(), 7));
        r.result
    }

    fn open(sim: &mut Sim, ep: Endpoint, minor: u32) {
        let req = BdevRequest::Open {
            id: 1,
            minor,
            access: access::READ,
        };
        assert_eq!(call(sim, ep, req), Ok(0));
    }

    /// A READ (or WRITE of `data`) of `len` bytes at `pos` of `minor`: the
    /// answer and the client's buffer after it.
    fn rw(
        sim: &mut Sim,
        ep: Endpoint,
        minor: u32,
        pos: u64,
        len: usize,
        data: Option<u8>,
    ) -> (Result<u64, Errno>, Vec<u8>) {
        let (rights, fill) = match data {
            Some(b) => (GrantAccess::READ, b),
            None => (GrantAccess::WRITE, 0),
        };
        let g = sim
            .harness_grant(ep, rights, alloc::vec![fill; len])
            .unwrap();
        let (id, grant, len) = (2, g, len as u32);
        let req = match data {
            Some(_) => BdevRequest::Write {
                id,
                minor,
                pos,
                grant,
                len,
            },
            None => BdevRequest::Read {
                id,
                minor,
                pos,
                grant,
                len,
            },
        };
        let r = call(sim, ep, req);
        (r, sim.harness_revoke(g).unwrap())
    }

    /// A grant of the I/O vector of `segs`, `len` bytes each.
    fn iovec(sim: &mut Sim, ep: Endpoint, segs: &[GrantId], len: u32) -> GrantId {
        let iov: Vec<u8> = segs
            .iter()
            .flat_map(|&g| IoVec::new(g, len).as_bytes().to_vec())
            .collect();
        sim.harness_grant(ep, GrantAccess::READ, iov).unwrap()
    }

    #[test]
    fn reads_and_writes_are_checked_cut_and_handed_on_once() {
        let (mut sim, ep, disks, log, _) = setup();
        // Not opened with this instance.
        assert_eq!(rw(&mut sim, ep, 0, 0, 512, None).0, Err(Errno::ERESTART));
        open(&mut sim, ep, 0);
        let (r, data) = rw(&mut sim, ep, 0, 1024, 1024, None);
        assert_eq!(r, Ok(1024));
        assert_eq!(data[..512], [2; 512]);
        assert_eq!(data[512..], [3; 512]);
        assert_eq!(log.borrow().last(), Some(&(0, 1024, 1024, false, 1)));
        // Refused before the driver: misaligned position and length.
        let seen = log.borrow().len();
        assert_eq!(rw(&mut sim, ep, 0, 100, 512, None).0, Err(Errno::EINVAL));
        assert_eq!(rw(&mut sim, ep, 0, 0, 600, Some(9)).0, Err(Errno::EINVAL));
        // At or past the end: 0 at once.
        assert_eq!(rw(&mut sim, ep, 0, 5120, 512, None).0, Ok(0));
        assert_eq!(rw(&mut sim, ep, 0, 1 << 40, 512, Some(9)).0, Ok(0));
        assert_eq!(log.borrow().len(), seen, "the driver saw none of them");
        // Across the end: cut there.
        let (r, data) = rw(&mut sim, ep, 0, 4096, 2048, Some(0xAB));
        assert_eq!(r, Ok(1024));
        assert_eq!(data.len(), 2048);
        assert_eq!(log.borrow().last(), Some(&(0, 4096, 1024, true, 1)));
        assert_eq!(disks.borrow()[0][4096..], [0xAB; 1024]);
        assert_eq!(disks.borrow()[0][4095], 7, "before the write untouched");
        // A read-only device: reads go through, writes are EROFS.
        open(&mut sim, ep, 1);
        assert_eq!(rw(&mut sim, ep, 1, 0, 512, Some(1)).0, Err(Errno::EROFS));
        assert_eq!(disks.borrow()[1], [0xEE; 1024]);
        let (r, data) = rw(&mut sim, ep, 1, 512, 512, None);
        assert_eq!((r, data), (Ok(512), alloc::vec![0xEE; 512]));
        assert_eq!(log.borrow().last(), Some(&(1, 512, 512, false, 1)));
    }

    #[test]
    fn partitions_sizes_vectors_flush_and_close() {
        let (mut sim, ep, disks, log, flushed) = setup();
        open(&mut sim, ep, 128);
        let size = BdevRequest::Size { id: 3, minor: 128 };
        assert_eq!(call(&mut sim, ep, size), Ok(2048));
        open(&mut sim, ep, 0);
        assert_eq!(
            call(&mut sim, ep, BdevRequest::Size { id: 3, minor: 0 }),
            Ok(5120)
        );
        // Moved by the partition's start (sector 4), cut at its end (8).
        let (r, data) = rw(&mut sim, ep, 128, 1536, 1024, None);
        assert_eq!(r, Ok(512));
        assert_eq!(data[..512], [7; 512]);
        assert_eq!(log.borrow().last(), Some(&(0, 3584, 512, false, 1)));
        assert_eq!(rw(&mut sim, ep, 128, 2048, 512, None).0, Ok(0));
        // A scatter of two segments, the second cut at the partition end.
        let a = sim.harness_grant(ep, GrantAccess::READ, alloc::vec![1; 1024]);
        let b = sim.harness_grant(ep, GrantAccess::READ, alloc::vec![2; 1024]);
        let sc = BdevRequest::Scatter {
            id: 4,
            minor: 128,
            pos: 512,
            iovec: iovec(&mut sim, ep, &[a.unwrap(), b.unwrap()], 1024),
            count: 2,
        };
        assert_eq!(call(&mut sim, ep, sc), Ok(1536));
        assert_eq!(log.borrow().last(), Some(&(0, 2560, 1536, true, 2)));
        assert_eq!(disks.borrow()[0][2560..3584], [1; 1024]);
        assert_eq!(disks.borrow()[0][3584..4096], [2; 512]);
        assert_eq!(disks.borrow()[0][4096], 8, "after the partition untouched");
        // A gather reads into both segments in order.
        let c = sim.harness_grant(ep, GrantAccess::WRITE, alloc::vec![0; 512]);
        let d = sim.harness_grant(ep, GrantAccess::WRITE, alloc::vec![0; 512]);
        let (c, d) = (c.unwrap(), d.unwrap());
        let ga = BdevRequest::Gather {
            id: 5,
            minor: 0,
            pos: 0,
            iovec: iovec(&mut sim, ep, &[c, d], 512),
            count: 2,
        };
        assert_eq!(call(&mut sim, ep, ga), Ok(1024));
        assert_eq!(sim.harness_revoke(c).unwrap(), [0; 512]);
        assert_eq!(sim.harness_revoke(d).unwrap(), [1; 512]);
        // Flush names the minor's device; close ends the open.
        assert_eq!(
            call(&mut sim, ep, BdevRequest::Flush { id: 6, minor: 128 }),
            Ok(0)
        );
        assert_eq!(*flushed.borrow(), [0]);
        assert_eq!(
            call(&mut sim, ep, BdevRequest::Close { id: 7, minor: 128 }),
            Ok(0)
        );
        assert_eq!(call(&mut sim, ep, size), Err(Errno::ERESTART));
        assert_eq!(
            call(&mut sim, ep, BdevRequest::Flush { id: 8, minor: 128 }),
            Err(Errno::ERESTART)
        );
        assert_eq!(*flushed.borrow(), [0], "no flush of a closed minor");
    }
}
