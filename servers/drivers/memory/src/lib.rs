//! The memory driver's logic: a RAM disk (block protocol, minor 0) over a
//! byte slice, plus `/dev/null` and `/dev/zero` (character protocol). See
//! the README. Talks only to its clients, through `sys::Sys`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use sys::proto::bdev::{self, BdevReply, BdevRequest, IoVec};
use sys::proto::cdev::{self, CdevReply, CdevRequest};
use sys::proto::kernel::is_notify;
use sys::{Ctx, Endpoint, Errno, InitInfo, Message, Service};
use zerocopy::FromBytes;

/// Block minor of the RAM disk.
pub const RAMDISK_MINOR: u32 = 0;
/// Character minor of `/dev/null` (MINIX `NULL_DEV`).
pub const NULL_MINOR: u32 = 3;
/// Character minor of `/dev/zero` (MINIX `ZERO_DEV`).
pub const ZERO_MINOR: u32 = 5;
/// Largest transfer copied in one piece (bounds the bounce buffer of
/// `/dev/zero` reads).
const CHUNK: usize = 64 * 1024;

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Block requests answered.
    pub block_requests: u64,
    /// Character requests answered.
    pub char_requests: u64,
    /// Requests refused as malformed or unknown.
    pub bad: u64,
}

/// The RAM disk's bytes: natively the mapped data module; in tests any
/// shared buffer (a restarted instance must see the same bytes).
pub trait Disk {
    /// Size in bytes.
    fn len(&self) -> usize;
    /// Runs `f` on the bytes.
    fn with_bytes<R>(&mut self, f: impl FnOnce(&mut [u8]) -> R) -> R;
    /// True for no RAM disk.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Disk for &'static mut [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }
    fn with_bytes<R>(&mut self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        f(self)
    }
}

/// The memory driver.
pub struct Memory<D: Disk> {
    disk: D,
    /// Opens of the RAM disk by this instance.
    opens: u32,
    /// Identifies this instance in block replies (nonzero).
    instance: u64,
    stats: MemoryStats,
}

impl<D: Disk> Memory<D> {
    /// A driver whose RAM disk is `disk` (empty: no RAM disk), answering
    /// as instance `instance` (nonzero; new for every started instance).
    pub fn new(disk: D, instance: u64) -> Self {
        Memory {
            disk,
            opens: 0,
            instance: instance.max(1),
            stats: MemoryStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> MemoryStats {
        self.stats
    }

    /// The span `[pos, pos + len)` clipped at the end of the disk.
    fn span(&self, pos: u64, len: u64) -> (usize, usize) {
        let size = self.disk.len() as u64;
        let start = pos.min(size);
        let end = pos.saturating_add(len).min(size);
        (start as usize, (end - start) as usize)
    }

    fn block(&mut self, cx: &mut Ctx<'_>, from: Endpoint, req: BdevRequest) -> Result<u64, Errno> {
        if req.minor() != RAMDISK_MINOR || self.disk.is_empty() {
            return Err(Errno::ENXIO);
        }
        let opened = self.opens > 0;
        match req {
            BdevRequest::Open { .. } => {
                self.opens += 1;
                return Ok(0);
            }
            BdevRequest::Close { .. } => {
                self.opens = self.opens.checked_sub(1).ok_or(Errno::EINVAL)?;
                return Ok(0);
            }
            _ if !opened => {
                // Opened with a previous instance: the client must reopen.
                return Err(Errno::ERESTART);
            }
            _ => {}
        }
        match req {
            BdevRequest::Size { .. } => Ok(self.disk.len() as u64),
            BdevRequest::Flush { .. } => Ok(0),
            BdevRequest::Read {
                pos, grant, len, ..
            } => {
                let (start, n) = self.span(pos, u64::from(len));
                self.disk
                    .with_bytes(|d| cx.sys.safecopy_to(from, grant, 0, &d[start..start + n]))?;
                Ok(n as u64)
            }
            BdevRequest::Write {
                pos, grant, len, ..
            } => {
                let (start, n) = self.span(pos, u64::from(len));
                self.disk.with_bytes(|d| {
                    cx.sys
                        .safecopy_from(from, grant, 0, &mut d[start..start + n])
                })?;
                Ok(n as u64)
            }
            BdevRequest::Gather {
                pos, iovec, count, ..
            }
            | BdevRequest::Scatter {
                pos, iovec, count, ..
            } => {
                let write = matches!(req, BdevRequest::Scatter { .. });
                let mut raw = vec![0u8; count as usize * IoVec::SIZE];
                cx.sys.safecopy_from(from, iovec, 0, &mut raw)?;
                let segs: Vec<IoVec> = raw
                    .chunks_exact(IoVec::SIZE)
                    .filter_map(|c| IoVec::read_from_bytes(c).ok())
                    .collect();
                let mut done = 0u64;
                for seg in segs {
                    let (start, n) = self.span(pos.saturating_add(done), u64::from(seg.len()));
                    if n == 0 {
                        break;
                    }
                    self.disk.with_bytes(|d| {
                        let part = &mut d[start..start + n];
                        if write {
                            cx.sys.safecopy_from(from, seg.grant(), 0, part)
                        } else {
                            cx.sys.safecopy_to(from, seg.grant(), 0, part)
                        }
                    })?;
                    done += n as u64;
                    if n < seg.len() as usize {
                        break;
                    }
                }
                Ok(done)
            }
            BdevRequest::Open { .. } | BdevRequest::Close { .. } => Ok(0),
        }
    }

    fn character(
        &mut self,
        cx: &mut Ctx<'_>,
        from: Endpoint,
        req: CdevRequest,
    ) -> Option<CdevReply> {
        let minor = match req {
            CdevRequest::Open { minor, .. }
            | CdevRequest::Close { minor, .. }
            | CdevRequest::Read { minor, .. }
            | CdevRequest::Write { minor, .. }
            | CdevRequest::Cancel { minor, .. }
            | CdevRequest::Select { minor, .. }
            | CdevRequest::Ioctl { minor, .. } => minor,
        };
        let known = minor == NULL_MINOR || minor == ZERO_MINOR;
        Some(match req {
            CdevRequest::Select { id, minor, ops, .. } => CdevReply::Select {
                id,
                minor,
                result: if known {
                    Ok(ops & (cdev::sel::READ | cdev::sel::WRITE))
                } else {
                    Err(Errno::ENXIO)
                },
            },
            // Nothing ever suspends here, so there is nothing to cancel.
            CdevRequest::Cancel { .. } => return None,
            _ if !known => CdevReply::Done {
                id: req_id(&req),
                result: Err(Errno::ENXIO),
            },
            CdevRequest::Open { id, .. } | CdevRequest::Close { id, .. } => {
                CdevReply::Done { id, result: Ok(0) }
            }
            // Not a terminal: no device controls.
            CdevRequest::Ioctl { id, .. } => CdevReply::Done {
                id,
                result: Err(Errno::ENOTTY),
            },
            CdevRequest::Write { id, size, .. } => CdevReply::Done {
                id,
                result: Ok(size),
            },
            CdevRequest::Read {
                id, grant, size, ..
            } => {
                let result = if minor == NULL_MINOR {
                    Ok(0)
                } else {
                    zero_fill(cx, from, grant, size as usize).map(|()| size)
                };
                CdevReply::Done { id, result }
            }
        })
    }
}

fn req_id(req: &CdevRequest) -> u64 {
    match *req {
        CdevRequest::Open { id, .. }
        | CdevRequest::Close { id, .. }
        | CdevRequest::Read { id, .. }
        | CdevRequest::Write { id, .. }
        | CdevRequest::Cancel { id, .. }
        | CdevRequest::Select { id, .. }
        | CdevRequest::Ioctl { id, .. } => id,
    }
}

fn zero_fill(
    cx: &mut Ctx<'_>,
    from: Endpoint,
    grant: sys::GrantId,
    size: usize,
) -> Result<(), Errno> {
    let zeros = vec![0u8; size.min(CHUNK)];
    let mut off = 0;
    while off < size {
        let n = (size - off).min(CHUNK);
        cx.sys.safecopy_to(from, grant, off, &zeros[..n])?;
        off += n;
    }
    Ok(())
}

impl<D: Disk + 'static> Service for Memory<D> {
    fn init(&mut self, _cx: &mut Ctx<'_>, _info: InitInfo) -> Result<(), Errno> {
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        if is_notify(&msg) {
            return None;
        }
        let from = msg.source();
        if bdev::is_request(msg.mtype()) {
            self.stats.block_requests += 1;
            let id = bdev::request_id(&msg).unwrap_or(0);
            let result = match BdevRequest::try_from(&msg) {
                Ok(req) => self.block(cx, from, req),
                Err(e) => {
                    self.stats.bad += 1;
                    Err(e)
                }
            };
            return Some(
                BdevReply {
                    id,
                    instance: self.instance,
                    result,
                }
                .to_message(),
            );
        }
        if cdev::is_request(msg.mtype()) {
            self.stats.char_requests += 1;
            return match CdevRequest::try_from(&msg) {
                Ok(req) => self.character(cx, from, req).map(|r| r.to_message()),
                Err(e) => {
                    self.stats.bad += 1;
                    Some(
                        CdevReply::Done {
                            id: msg.request_id(),
                            result: Err(e),
                        }
                        .to_message(),
                    )
                }
            };
        }
        // Not a request of either protocol.
        self.stats.bad += 1;
        Some(
            BdevReply {
                id: msg.request_id(),
                instance: self.instance,
                result: Err(Errno::ENOSYS),
            }
            .to_message(),
        )
    }
}
