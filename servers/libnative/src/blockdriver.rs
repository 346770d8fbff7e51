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
    /// Who asked (the owner of the grants), and its request id.
    pub client: Endpoint,
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
    ) -> Result<Option<u64>, Errno>;
    /// Closes one open of `minor`.
    fn close(&mut self, minor: u32) -> Result<(), Errno>;
    /// The geometry of `minor`, which this instance has open (`ERESTART`
    /// if it has not: it restarted since the open).
    fn geometry(&mut self, minor: u32) -> Result<Geometry, Errno>;
    /// Starts a checked transfer; `Ok(Some)` is an immediate answer,
    /// `Ok(None)` one the driver sends when the device is done.
    fn transfer(&mut self, cx: &mut Ctx<'_>, t: Transfer) -> Result<Option<u64>, Errno>;
    /// Makes the written data of `device` durable (answers as `transfer`).
    fn flush(
        &mut self,
        cx: &mut Ctx<'_>,
        client: Endpoint,
        id: u64,
        device: usize,
    ) -> Result<Option<u64>, Errno>;
    /// An interrupt notification (from SYSTEM).
    fn interrupt(&mut self, cx: &mut Ctx<'_>);
    /// A clock alarm (from CLOCK): the poll that covers a missed interrupt.
    fn poll(&mut self, cx: &mut Ctx<'_>);

    /// Decodes and starts one request of `client`; `Ok(Some)` is an
    /// immediate answer, `Ok(None)` one the driver sends later. Transfers
    /// go through [`bounds`]; the gather/scatter I/O vector is read first.
    fn request(
        &mut self,
        cx: &mut Ctx<'_>,
        client: Endpoint,
        req: BdevRequest,
    ) -> Result<Option<u64>, Errno> {
        let (id, minor, pos, segs) = match req {
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
                id,
                minor,
                pos,
                grant,
                len,
            }
            | BdevRequest::Write {
                id,
                minor,
                pos,
                grant,
                len,
            } => (id, minor, pos, alloc::vec![(grant, len)]),
            BdevRequest::Gather {
                id,
                minor,
                pos,
                iovec,
                count,
            }
            | BdevRequest::Scatter {
                id,
                minor,
                pos,
                iovec,
                count,
            } => (id, minor, pos, segments(cx, client, iovec, count)?),
        };
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
