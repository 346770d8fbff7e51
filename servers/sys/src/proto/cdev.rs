//! Character-device protocol (VFS -> character driver), after MINIX's CDEV
//! protocol: open, close, read, write, cancel, select, ioctl. Data moves through a
//! grant from the requester. A read or write that cannot complete yet is
//! suspended by the driver and answered later (or with `EINTR` when
//! cancelled); a select with `notify` set that finds nothing ready is
//! answered at once ([`CdevReply::Select`]) and again, unprompted, when an
//! op becomes ready ([`CdevReply::SelectReady`], MINIX `CDEV_SEL2_REPLY`).

use crate::errno::Errno;
use crate::ipc::GrantId;
use crate::message::Message;
use zerocopy::little_endian::{I32, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

const OPEN: u32 = 0x800;
const CLOSE: u32 = 0x801;
const READ: u32 = 0x802;
const WRITE: u32 = 0x803;
const CANCEL: u32 = 0x804;
const SELECT: u32 = 0x805;
const IOCTL: u32 = 0x806;
const REPLY: u32 = 0x880;
const SEL_REPLY: u32 = 0x881;
const SEL_READY: u32 = 0x882;

/// Select operation bits.
pub mod sel {
    /// Readable.
    pub const READ: u32 = 1;
    /// Writable.
    pub const WRITE: u32 = 2;
    /// Exceptional condition.
    pub const EXCEPT: u32 = 4;
}

/// Open access bits.
pub mod access {
    /// Read.
    pub const READ: u32 = 1;
    /// Write.
    pub const WRITE: u32 = 2;
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct P {
    id: U64,
    minor: U32,
    a: U32,
    b: U32,
    c: U32,
    status: I32,
}

impl P {
    fn new(id: u64, minor: u32) -> Self {
        P {
            id: U64::new(id),
            minor: U32::new(minor),
            a: U32::new(0),
            b: U32::new(0),
            c: U32::new(0),
            status: I32::new(0),
        }
    }
}

const _: () = assert!(core::mem::size_of::<P>() <= 56);

/// A request to a character driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdevRequest {
    /// Open a minor (`access` bits).
    Open {
        /// Request id.
        id: u64,
        /// Minor.
        minor: u32,
        /// Access bits.
        access: u32,
    },
    /// Close a minor.
    Close {
        /// Request id.
        id: u64,
        /// Minor.
        minor: u32,
    },
    /// Read up to `size` bytes into the requester's grant.
    Read {
        /// Request id.
        id: u64,
        /// Minor.
        minor: u32,
        /// Grant (write access for the driver).
        grant: GrantId,
        /// Bytes wanted.
        size: u32,
        /// Fail with `EAGAIN` instead of suspending.
        nonblock: bool,
    },
    /// Write `size` bytes from the requester's grant.
    Write {
        /// Request id.
        id: u64,
        /// Minor.
        minor: u32,
        /// Grant (read access for the driver).
        grant: GrantId,
        /// Bytes.
        size: u32,
        /// Fail with `EAGAIN` instead of suspending.
        nonblock: bool,
    },
    /// Cancel the suspended request `id`: it is answered with `EINTR`.
    Cancel {
        /// The suspended request's id.
        id: u64,
        /// Minor.
        minor: u32,
    },
    /// Which of `ops` are ready now; with `notify`, report later readiness.
    Select {
        /// Request id.
        id: u64,
        /// Minor.
        minor: u32,
        /// [`sel`] bits.
        ops: u32,
        /// Send [`CdevReply::SelectReady`] when one becomes ready.
        notify: bool,
    },
    /// Device control request `req` (for terminals the numbers of
    /// [`crate::proto::tty::req`]); its argument or result moves through
    /// `grant` (`len` bytes), answered with [`CdevReply::Done`] (0 or an
    /// errno). May be suspended (TCSETSW) and cancelled like a read.
    Ioctl {
        /// Request id.
        id: u64,
        /// Minor.
        minor: u32,
        /// Request number.
        req: u32,
        /// Grant (read or write access, per request).
        grant: GrantId,
        /// Bytes in the grant.
        len: u32,
    },
}

impl CdevRequest {
    /// Encode.
    pub fn to_message(&self) -> Message {
        let (t, p) = match *self {
            CdevRequest::Open { id, minor, access } => {
                let mut p = P::new(id, minor);
                p.a = U32::new(access);
                (OPEN, p)
            }
            CdevRequest::Close { id, minor } => (CLOSE, P::new(id, minor)),
            CdevRequest::Read {
                id,
                minor,
                grant,
                size,
                nonblock,
            }
            | CdevRequest::Write {
                id,
                minor,
                grant,
                size,
                nonblock,
            } => {
                let mut p = P::new(id, minor);
                p.a = U32::new(grant.0);
                p.b = U32::new(size);
                p.c = U32::new(u32::from(nonblock));
                (
                    if matches!(self, CdevRequest::Read { .. }) {
                        READ
                    } else {
                        WRITE
                    },
                    p,
                )
            }
            CdevRequest::Cancel { id, minor } => (CANCEL, P::new(id, minor)),
            CdevRequest::Select {
                id,
                minor,
                ops,
                notify,
            } => {
                let mut p = P::new(id, minor);
                p.a = U32::new(ops);
                p.c = U32::new(u32::from(notify));
                (SELECT, p)
            }
            CdevRequest::Ioctl {
                id,
                minor,
                req,
                grant,
                len,
            } => {
                let mut p = P::new(id, minor);
                p.a = U32::new(req);
                p.b = U32::new(grant.0);
                p.c = U32::new(len);
                (IOCTL, p)
            }
        };
        Message::with(t, &p)
    }
}

impl TryFrom<&Message> for CdevRequest {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        let p: P = m.payload_as()?;
        let (id, minor) = (p.id.get(), p.minor.get());
        let flag = |v: U32| match v.get() {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Errno::EINVAL),
        };
        Ok(match m.mtype() {
            OPEN => CdevRequest::Open {
                id,
                minor,
                access: p.a.get(),
            },
            CLOSE => CdevRequest::Close { id, minor },
            READ => CdevRequest::Read {
                id,
                minor,
                grant: GrantId(p.a.get()),
                size: p.b.get(),
                nonblock: flag(p.c)?,
            },
            WRITE => CdevRequest::Write {
                id,
                minor,
                grant: GrantId(p.a.get()),
                size: p.b.get(),
                nonblock: flag(p.c)?,
            },
            CANCEL => CdevRequest::Cancel { id, minor },
            SELECT => CdevRequest::Select {
                id,
                minor,
                ops: p.a.get(),
                notify: flag(p.c)?,
            },
            IOCTL => CdevRequest::Ioctl {
                id,
                minor,
                req: p.a.get(),
                grant: GrantId(p.b.get()),
                len: p.c.get(),
            },
            // An unknown request type: the server answers ENOSYS.
            _ => return Err(Errno::ENOSYS),
        })
    }
}

/// A character driver's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdevReply {
    /// Result of open/close/read/write/cancelled request: bytes moved (read,
    /// write) or 0.
    Done {
        /// Request id.
        id: u64,
        /// Result.
        result: Result<u32, Errno>,
    },
    /// Immediate select answer: ready ops (subset of those asked).
    Select {
        /// Request id.
        id: u64,
        /// Minor.
        minor: u32,
        /// Ready [`sel`] bits, or why select failed.
        result: Result<u32, Errno>,
    },
    /// Later readiness of a minor selected with `notify` (no request id:
    /// VFS matches it by minor).
    SelectReady {
        /// Minor.
        minor: u32,
        /// Ready [`sel`] bits.
        ops: u32,
    },
}

impl CdevReply {
    /// Encode.
    pub fn to_message(&self) -> Message {
        let status = |r: Result<u32, Errno>| match r {
            Ok(v) => v as i32,
            Err(e) => -e.code(),
        };
        match *self {
            CdevReply::Done { id, result } => {
                let mut p = P::new(id, 0);
                p.status = I32::new(status(result));
                Message::with(REPLY, &p)
            }
            CdevReply::Select { id, minor, result } => {
                let mut p = P::new(id, minor);
                p.status = I32::new(status(result));
                Message::with(SEL_REPLY, &p)
            }
            CdevReply::SelectReady { minor, ops } => {
                let mut p = P::new(0, minor);
                p.a = U32::new(ops);
                Message::with(SEL_READY, &p)
            }
        }
    }
}

impl TryFrom<&Message> for CdevReply {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        let p: P = m.payload_as()?;
        let s = p.status.get();
        let result = if s >= 0 {
            Ok(s as u32)
        } else {
            Err(Errno::from_code(s.wrapping_neg()).unwrap_or(Errno::EGENERIC))
        };
        Ok(match m.mtype() {
            REPLY => CdevReply::Done {
                id: p.id.get(),
                result,
            },
            SEL_REPLY => CdevReply::Select {
                id: p.id.get(),
                minor: p.minor.get(),
                result,
            },
            SEL_READY => CdevReply::SelectReady {
                minor: p.minor.get(),
                ops: p.a.get(),
            },
            _ => return Err(Errno::EBADCALL),
        })
    }
}

/// Whether `mtype` is a cdev request.
pub fn is_request(mtype: u32) -> bool {
    (OPEN..=IOCTL).contains(&mtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrips() {
        for r in [
            CdevRequest::Open {
                id: 1,
                minor: 2,
                access: access::READ | access::WRITE,
            },
            CdevRequest::Close { id: 2, minor: 2 },
            CdevRequest::Read {
                id: 3,
                minor: 0,
                grant: GrantId(9),
                size: 100,
                nonblock: true,
            },
            CdevRequest::Write {
                id: 4,
                minor: 0,
                grant: GrantId(8),
                size: 7,
                nonblock: false,
            },
            CdevRequest::Cancel { id: 3, minor: 0 },
            CdevRequest::Select {
                id: 5,
                minor: 1,
                ops: sel::READ | sel::WRITE,
                notify: true,
            },
            CdevRequest::Ioctl {
                id: 6,
                minor: 128,
                req: 2,
                grant: GrantId(11),
                len: 44,
            },
        ] {
            let m = r.to_message();
            assert!(is_request(m.mtype()));
            assert_eq!(CdevRequest::try_from(&m).unwrap(), r);
        }
        for r in [
            CdevReply::Done {
                id: 1,
                result: Ok(12),
            },
            CdevReply::Done {
                id: 2,
                result: Err(Errno::EINTR),
            },
            CdevReply::Select {
                id: 3,
                minor: 4,
                result: Ok(sel::WRITE),
            },
            CdevReply::SelectReady {
                minor: 4,
                ops: sel::READ,
            },
        ] {
            assert_eq!(CdevReply::try_from(&r.to_message()).unwrap(), r);
        }
        let mut bad = CdevRequest::Read {
            id: 3,
            minor: 0,
            grant: GrantId(9),
            size: 1,
            nonblock: true,
        }
        .to_message();
        bad.payload_mut()[20] = 7;
        assert_eq!(CdevRequest::try_from(&bad), Err(Errno::EINVAL));
    }

    #[test]
    fn ioctl_wire_number_and_fields() {
        let m = CdevRequest::Ioctl {
            id: 0x1234,
            minor: 192,
            req: 7,
            grant: GrantId(3),
            len: 8,
        }
        .to_message();
        assert_eq!(m.mtype(), 0x806);
        assert!(is_request(0x806));
        assert!(!is_request(0x807));
        // An ioctl reply is the usual REPLY with a status.
        let r = CdevReply::Done {
            id: 0x1234,
            result: Err(Errno::ENOTTY),
        };
        assert_eq!(r.to_message().mtype(), 0x880);
        assert_eq!(CdevReply::try_from(&r.to_message()).unwrap(), r);
        let mut other = Message::new(0x807);
        other.payload_mut().copy_from_slice(m.payload());
        assert_eq!(CdevRequest::try_from(&other), Err(Errno::ENOSYS));
    }
}
