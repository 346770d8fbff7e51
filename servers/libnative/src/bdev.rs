//! The native libbdev back end: [`IpcDriver`] implements [`libbdev::Driver`]
//! with `sys::proto::bdev` requests to a block driver server, found by its
//! DS label.
//!
//! * Every request is a blocking `SendRec` to the driver's endpoint; its
//!   reply carries the request id (checked) and the driver instance's id
//!   ([`libbdev::Driver::instance_id`], so libbdev notices a restart that
//!   kept the endpoint).
//! * Buffers are granted to the driver directly (`rt::grant::direct`, no
//!   copies): a plain read/write grants the one buffer; a vectored one also
//!   grants the I/O vector of (grant, length) entries. Every grant is
//!   revoked before the call returns, whatever happened.
//! * The endpoint comes from DS (`sys::ds::retrieve_label`), looked up at the
//!   first request. A failed `SendRec` (the driver died: `EDEADSRCDST`) is
//!   [`BdevError::DeadDriver`]; [`libbdev::Driver::reconnect`] then polls DS
//!   until the label names a live process (MINIX `bdev_update`; up to
//!   [`LOOKUP_TRIES`] lookups [`LOOKUP_TICKS`] apart) — the same endpoint
//!   after an RS restart in place, or a new one.
//!
//! A server opens a device by label as
//! `BdevDevice::open(&Bdev::shared(IpcDriver::new("virtio-blk")), minor,
//! Access::RW)` and gets libbdev's retries and driver-restart recovery.
//!
//! Limits: the driver keeps its own [`NativeSys`]; the few messages the
//! runtime may set aside during its calls (a notification from the driver
//! or DS) and those arriving while `reconnect` sleeps are not seen by the
//! owning server's loop, and the sleep uses the process's alarm.

use crate::NativeSys;
use alloc::string::String;
use alloc::vec::Vec;
use libbdev::{Access, BdevError, Driver, Minor, Result};
use rt::abi;
use sys::proto::bdev::{BdevReply, BdevRequest, IoVec, MAX_IOVEC, access};
use sys::{Endpoint, Errno, GrantId, Sys};
use zerocopy::IntoBytes;

/// DS lookups one [`Driver::reconnect`] makes before giving up (MINIX
/// `DS_NR_TRIES`).
pub const LOOKUP_TRIES: u32 = 100;
/// Clock ticks between two lookups.
pub const LOOKUP_TICKS: u64 = 2;

/// A block driver server reached by IPC (see the module doc).
pub struct IpcDriver {
    sys: NativeSys,
    label: String,
    ep: Option<Endpoint>,
    next_id: u64,
    instance: Option<u64>,
}

/// Revokes the grants it holds when dropped.
struct Grants(Vec<u32>);

impl Grants {
    fn add(&mut self, grantee: Endpoint, buf: &[u8], access: u64) -> Result<GrantId> {
        let id = rt::grant::direct(grantee.0, buf.as_ptr(), buf.len(), access)
            .map_err(|_| BdevError::Invalid)?;
        self.0.push(id);
        Ok(GrantId(id))
    }
}

impl Drop for Grants {
    fn drop(&mut self) {
        for &id in &self.0 {
            // Our own live grants: revoking cannot fail.
            let _ = rt::grant::revoke(id);
        }
    }
}

/// A driver's error status → libbdev's error.
pub fn bdev_error(e: Errno) -> BdevError {
    match e {
        Errno::ERESTART => BdevError::Restart,
        Errno::ENXIO | Errno::ENODEV => BdevError::NoDevice,
        Errno::EINVAL => BdevError::Invalid,
        Errno::EROFS => BdevError::ReadOnly,
        Errno::ENFILE | Errno::EMFILE => BdevError::TooManyOpen,
        e if e.is_dead_peer() => BdevError::DeadDriver,
        _ => BdevError::Io,
    }
}

impl IpcDriver {
    /// A transport to the driver published in DS under `label`; nothing is
    /// looked up until the first request.
    pub fn new(label: &str) -> Self {
        IpcDriver {
            sys: NativeSys::new(),
            label: label.into(),
            ep: None,
            next_id: 1,
            instance: None,
        }
    }

    /// A transport to the driver at a known endpoint (`label` is still used
    /// by [`Driver::reconnect`]).
    pub fn with_endpoint(label: &str, ep: Endpoint) -> Self {
        let mut d = Self::new(label);
        d.ep = Some(ep);
        d
    }

    /// The driver's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The endpoint requests go to, once known.
    pub fn endpoint(&self) -> Option<Endpoint> {
        self.ep
    }

    /// One DS lookup: the label's endpoint if it names a live process.
    fn lookup(&mut self) -> Option<Endpoint> {
        let ep = sys::ds::retrieve_label(&mut self.sys, &self.label).ok()?;
        (rt::sys::slot_owner(ep.0) == Ok(ep.0)).then_some(ep)
    }

    fn driver_ep(&mut self) -> Result<Endpoint> {
        if let Some(ep) = self.ep {
            return Ok(ep);
        }
        let ep = self.lookup().ok_or(BdevError::DeadDriver)?;
        self.ep = Some(ep);
        Ok(ep)
    }

    /// Sends one request (built from its id) and decodes the reply.
    fn call(&mut self, ep: Endpoint, req: impl FnOnce(u64) -> BdevRequest) -> Result<u64> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let reply = self
            .sys
            .sendrec(ep, req(id).to_message())
            .map_err(|_| BdevError::DeadDriver)?;
        let reply = BdevReply::try_from(&reply).map_err(|_| BdevError::Io)?;
        if reply.id != id {
            return Err(BdevError::Io);
        }
        self.instance = Some(reply.instance);
        reply.result.map_err(bdev_error)
    }

    /// A read or write of `segs` (already granted) at `pos`.
    fn transfer(
        &mut self,
        ep: Endpoint,
        grants: &mut Grants,
        minor: Minor,
        pos: u64,
        segs: &[(GrantId, u32)],
        write: bool,
    ) -> Result<usize> {
        let n = match *segs {
            [] => return Ok(0),
            [(grant, len)] => self.call(ep, |id| {
                if write {
                    BdevRequest::Write {
                        id,
                        minor,
                        pos,
                        grant,
                        len,
                    }
                } else {
                    BdevRequest::Read {
                        id,
                        minor,
                        pos,
                        grant,
                        len,
                    }
                }
            })?,
            _ => {
                let vec: Vec<IoVec> = segs.iter().map(|&(g, l)| IoVec::new(g, l)).collect();
                let iovec = grants.add(ep, vec.as_bytes(), abi::GRANT_READ)?;
                let count = segs.len() as u32;
                let n = self.call(ep, |id| {
                    if write {
                        BdevRequest::Scatter {
                            id,
                            minor,
                            pos,
                            iovec,
                            count,
                        }
                    } else {
                        BdevRequest::Gather {
                            id,
                            minor,
                            pos,
                            iovec,
                            count,
                        }
                    }
                })?;
                drop(vec);
                n
            }
        };
        let total: u64 = segs.iter().map(|&(_, l)| u64::from(l)).sum();
        if n > total {
            return Err(BdevError::Io);
        }
        Ok(n as usize)
    }
}

fn seg_len(len: usize) -> Result<u32> {
    u32::try_from(len).map_err(|_| BdevError::Invalid)
}

impl Driver for IpcDriver {
    fn open(&mut self, minor: Minor, a: Access) -> Result<()> {
        let bits = if a.read { access::READ } else { 0 } | if a.write { access::WRITE } else { 0 };
        if bits == 0 {
            return Err(BdevError::Invalid);
        }
        let ep = self.driver_ep()?;
        self.call(ep, |id| BdevRequest::Open {
            id,
            minor,
            access: bits,
        })
        .map(drop)
    }

    fn close(&mut self, minor: Minor) -> Result<()> {
        let ep = self.driver_ep()?;
        self.call(ep, |id| BdevRequest::Close { id, minor })
            .map(drop)
    }

    fn gather(&mut self, minor: Minor, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize> {
        let ep = self.driver_ep()?;
        let nonempty = bufs.iter().filter(|b| !b.is_empty()).count();
        if nonempty > MAX_IOVEC as usize {
            return Err(BdevError::Invalid);
        }
        let mut grants = Grants(Vec::with_capacity(nonempty + 1));
        let mut segs = Vec::with_capacity(nonempty);
        for b in bufs.iter().filter(|b| !b.is_empty()) {
            // The driver (and its device, by DMA) writes into the buffer
            // while this call blocks; nothing else touches it meanwhile.
            let g = grants.add(ep, b, abi::GRANT_WRITE)?;
            segs.push((g, seg_len(b.len())?));
        }
        self.transfer(ep, &mut grants, minor, pos, &segs, false)
    }

    fn scatter(&mut self, minor: Minor, pos: u64, bufs: &[&[u8]]) -> Result<usize> {
        let ep = self.driver_ep()?;
        let nonempty = bufs.iter().filter(|b| !b.is_empty()).count();
        if nonempty > MAX_IOVEC as usize {
            return Err(BdevError::Invalid);
        }
        let mut grants = Grants(Vec::with_capacity(nonempty + 1));
        let mut segs = Vec::with_capacity(nonempty);
        for b in bufs.iter().filter(|b| !b.is_empty()) {
            let g = grants.add(ep, b, abi::GRANT_READ)?;
            segs.push((g, seg_len(b.len())?));
        }
        self.transfer(ep, &mut grants, minor, pos, &segs, true)
    }

    fn size(&mut self, minor: Minor) -> Result<u64> {
        let ep = self.driver_ep()?;
        self.call(ep, |id| BdevRequest::Size { id, minor })
    }

    fn flush(&mut self, minor: Minor) -> Result<()> {
        let ep = self.driver_ep()?;
        self.call(ep, |id| BdevRequest::Flush { id, minor })
            .map(drop)
    }

    fn reconnect(&mut self) -> Result<()> {
        for _ in 0..LOOKUP_TRIES {
            if let Some(ep) = self.lookup() {
                self.ep = Some(ep);
                return Ok(());
            }
            self.sys.sleep(LOOKUP_TICKS);
        }
        Err(BdevError::DeadDriver)
    }

    fn instance_id(&self) -> Option<u64> {
        self.instance
    }

    fn backoff(&mut self) {
        self.sys.sleep(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_errors_map_to_libbdev_errors() {
        assert_eq!(bdev_error(Errno::ERESTART), BdevError::Restart);
        assert_eq!(bdev_error(Errno::EIO), BdevError::Io);
        assert_eq!(bdev_error(Errno::ENXIO), BdevError::NoDevice);
        assert_eq!(bdev_error(Errno::EINVAL), BdevError::Invalid);
        assert_eq!(bdev_error(Errno::EROFS), BdevError::ReadOnly);
        assert_eq!(bdev_error(Errno::EDEADSRCDST(None)), BdevError::DeadDriver);
        assert_eq!(bdev_error(Errno::ENOSYS), BdevError::Io);
    }
}
