//! Block-device protocol (file server / libbdev -> block driver), after
//! MINIX's BDEV protocol: open, close, read, write, vectored gather
//! (read) and scatter (write), size (MINIX `DIOCGETP` ioctl) and flush.
//!
//! Data moves through grants of the requester: a plain read or write names
//! one grant of `len` bytes; a gather or scatter names a grant of `count`
//! [`IoVec`] entries (each a grant and a length), MINIX `iovec_s_t`.
//! Positions and lengths are bytes; a read or write that reaches the end of
//! the device comes back short (the bytes up to the end), one at or past
//! the end transfers 0 bytes (as libbdev's back ends do); nothing beyond
//! the end is ever written.
//!
//! Every request carries a u64 id that its reply echoes, and every reply
//! carries the driver instance's identifier (`instance`, chosen afresh by
//! each started instance), so a client notices a restart that kept the
//! endpoint. A driver instance that does not have the minor open (it
//! restarted since the open) answers `ERESTART`.

use crate::errno::Errno;
use crate::ipc::GrantId;
use crate::message::Message;
use zerocopy::little_endian::{I32, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

const OPEN: u32 = 0x900;
const CLOSE: u32 = 0x901;
const READ: u32 = 0x902;
const WRITE: u32 = 0x903;
const GATHER: u32 = 0x904;
const SCATTER: u32 = 0x905;
const SIZE: u32 = 0x906;
const FLUSH: u32 = 0x907;
const REPLY: u32 = 0x980;

/// Most entries of one I/O vector (MINIX `NR_IOREQS`, libbdev's
/// `MAX_SEGMENTS`).
pub const MAX_IOVEC: u32 = 64;

/// Open access bits.
pub mod access {
    /// Read (MINIX `BDEV_R_BIT`).
    pub const READ: u32 = 1;
    /// Write (MINIX `BDEV_W_BIT`).
    pub const WRITE: u32 = 2;
}

/// One entry of an I/O vector, as it lies in the requester's memory (read
/// by the driver through the vector's grant).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned,
)]
#[repr(C)]
pub struct IoVec {
    grant: U32,
    len: U32,
}

impl IoVec {
    /// Bytes per entry.
    pub const SIZE: usize = 8;

    /// An entry for `len` bytes of grant `grant`.
    pub fn new(grant: GrantId, len: u32) -> Self {
        IoVec {
            grant: U32::new(grant.0),
            len: U32::new(len),
        }
    }

    /// The segment's grant.
    pub fn grant(&self) -> GrantId {
        GrantId(self.grant.get())
    }

    /// The segment's length in bytes.
    pub fn len(&self) -> u32 {
        self.len.get()
    }

    /// True for a zero-length segment.
    pub fn is_empty(&self) -> bool {
        self.len.get() == 0
    }
}

const _: () = assert!(core::mem::size_of::<IoVec>() == IoVec::SIZE);

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct Req {
    id: U64,
    minor: U32,
    /// Access bits (open), grant (read/write/gather/scatter).
    a: U32,
    pos: U64,
    /// Bytes (read/write) or entries (gather/scatter).
    n: U32,
}

impl Req {
    fn new(id: u64, minor: u32) -> Self {
        Req {
            id: U64::new(id),
            minor: U32::new(minor),
            a: U32::new(0),
            pos: U64::new(0),
            n: U32::new(0),
        }
    }
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct Rep {
    id: U64,
    value: U64,
    instance: U64,
    status: I32,
}

const _: () = assert!(core::mem::size_of::<Req>() <= 56);
const _: () = assert!(core::mem::size_of::<Rep>() <= 56);

/// A request to a block driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BdevRequest {
    /// Open a minor with [`access`] bits (at least one, no others).
    Open {
        /// Request id.
        id: u64,
        /// Minor.
        minor: u32,
        /// [`access`] bits.
        access: u32,
    },
    /// Close one open of a minor.
    Close {
        /// Request id.
        id: u64,
        /// Minor.
        minor: u32,
    },
    /// Read `len` bytes at `pos` into the requester's grant (write access
    /// for the driver).
    Read {
        /// Request id.
        id: u64,
        /// Minor.
        minor: u32,
        /// Byte position.
        pos: u64,
        /// Grant of at least `len` bytes.
        grant: GrantId,
        /// Bytes.
        len: u32,
    },
    /// Write `len` bytes at `pos` from the requester's grant (read access
    /// for the driver).
    Write {
        /// Request id.
        id: u64,
        /// Minor.
        minor: u32,
        /// Byte position.
        pos: u64,
        /// Grant of at least `len` bytes.
        grant: GrantId,
        /// Bytes.
        len: u32,
    },
    /// Read at `pos` into the segments of an I/O vector, in order.
    Gather {
        /// Request id.
        id: u64,
        /// Minor.
        minor: u32,
        /// Byte position.
        pos: u64,
        /// Grant (read access) of `count` [`IoVec`] entries.
        iovec: GrantId,
        /// Entries (1 to [`MAX_IOVEC`]).
        count: u32,
    },
    /// Write the segments of an I/O vector at `pos`, in order.
    Scatter {
        /// Request id.
        id: u64,
        /// Minor.
        minor: u32,
        /// Byte position.
        pos: u64,
        /// Grant (read access) of `count` [`IoVec`] entries.
        iovec: GrantId,
        /// Entries (1 to [`MAX_IOVEC`]).
        count: u32,
    },
    /// Size of the minor in bytes (MINIX `DIOCGETP`).
    Size {
        /// Request id.
        id: u64,
        /// Minor.
        minor: u32,
    },
    /// Make written data durable.
    Flush {
        /// Request id.
        id: u64,
        /// Minor.
        minor: u32,
    },
}

impl BdevRequest {
    /// The request id.
    pub fn id(&self) -> u64 {
        match *self {
            BdevRequest::Open { id, .. }
            | BdevRequest::Close { id, .. }
            | BdevRequest::Read { id, .. }
            | BdevRequest::Write { id, .. }
            | BdevRequest::Gather { id, .. }
            | BdevRequest::Scatter { id, .. }
            | BdevRequest::Size { id, .. }
            | BdevRequest::Flush { id, .. } => id,
        }
    }

    /// The minor the request is for.
    pub fn minor(&self) -> u32 {
        match *self {
            BdevRequest::Open { minor, .. }
            | BdevRequest::Close { minor, .. }
            | BdevRequest::Read { minor, .. }
            | BdevRequest::Write { minor, .. }
            | BdevRequest::Gather { minor, .. }
            | BdevRequest::Scatter { minor, .. }
            | BdevRequest::Size { minor, .. }
            | BdevRequest::Flush { minor, .. } => minor,
        }
    }

    /// Encode.
    pub fn to_message(&self) -> Message {
        let (t, p) = match *self {
            BdevRequest::Open { id, minor, access } => {
                let mut p = Req::new(id, minor);
                p.a = U32::new(access);
                (OPEN, p)
            }
            BdevRequest::Close { id, minor } => (CLOSE, Req::new(id, minor)),
            BdevRequest::Size { id, minor } => (SIZE, Req::new(id, minor)),
            BdevRequest::Flush { id, minor } => (FLUSH, Req::new(id, minor)),
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
            }
            | BdevRequest::Gather {
                id,
                minor,
                pos,
                iovec: grant,
                count: len,
            }
            | BdevRequest::Scatter {
                id,
                minor,
                pos,
                iovec: grant,
                count: len,
            } => {
                let mut p = Req::new(id, minor);
                p.a = U32::new(grant.0);
                p.pos = U64::new(pos);
                p.n = U32::new(len);
                let t = match self {
                    BdevRequest::Read { .. } => READ,
                    BdevRequest::Write { .. } => WRITE,
                    BdevRequest::Gather { .. } => GATHER,
                    _ => SCATTER,
                };
                (t, p)
            }
        };
        Message::with(t, &p)
    }
}

impl TryFrom<&Message> for BdevRequest {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        let t = m.mtype();
        if !is_request(t) {
            return Err(Errno::EBADCALL);
        }
        let p: Req = m.payload_as()?;
        let (id, minor, a, pos, n) = (p.id.get(), p.minor.get(), p.a.get(), p.pos.get(), p.n.get());
        let count = || {
            if (1..=MAX_IOVEC).contains(&n) {
                Ok(n)
            } else {
                Err(Errno::EINVAL)
            }
        };
        Ok(match t {
            OPEN => {
                if a == 0 || a & !(access::READ | access::WRITE) != 0 {
                    return Err(Errno::EINVAL);
                }
                BdevRequest::Open {
                    id,
                    minor,
                    access: a,
                }
            }
            CLOSE => BdevRequest::Close { id, minor },
            SIZE => BdevRequest::Size { id, minor },
            FLUSH => BdevRequest::Flush { id, minor },
            READ => BdevRequest::Read {
                id,
                minor,
                pos,
                grant: GrantId(a),
                len: n,
            },
            WRITE => BdevRequest::Write {
                id,
                minor,
                pos,
                grant: GrantId(a),
                len: n,
            },
            GATHER => BdevRequest::Gather {
                id,
                minor,
                pos,
                iovec: GrantId(a),
                count: count()?,
            },
            _ => BdevRequest::Scatter {
                id,
                minor,
                pos,
                iovec: GrantId(a),
                count: count()?,
            },
        })
    }
}

/// The id a request message carries, if it is one of this protocol (a
/// driver answers a request it cannot decode with this id and the error).
pub fn request_id(m: &Message) -> Option<u64> {
    if !is_request(m.mtype()) {
        return None;
    }
    m.payload_as::<Req>().ok().map(|p| p.id.get())
}

/// A block driver's answer to every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BdevReply {
    /// The request's id.
    pub id: u64,
    /// The answering driver instance (nonzero, new for each started
    /// instance).
    pub instance: u64,
    /// Bytes transferred (read, write, gather, scatter), the size in bytes
    /// (size), or 0 (open, close, flush); or the error.
    pub result: Result<u64, Errno>,
}

impl BdevReply {
    /// Encode.
    pub fn to_message(&self) -> Message {
        let (value, status) = match self.result {
            Ok(v) => (v, 0),
            Err(e) => (0, -e.code()),
        };
        Message::with(
            REPLY,
            &Rep {
                id: U64::new(self.id),
                value: U64::new(value),
                instance: U64::new(self.instance),
                status: I32::new(status),
            },
        )
    }
}

impl TryFrom<&Message> for BdevReply {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        if m.mtype() != REPLY {
            return Err(Errno::EBADCALL);
        }
        let p: Rep = m.payload_as()?;
        let s = p.status.get();
        let result = match s {
            0 => Ok(p.value.get()),
            s if s < 0 => Err(Errno::from_code(s.wrapping_neg()).unwrap_or(Errno::EGENERIC)),
            _ => return Err(Errno::EBADCALL),
        };
        Ok(BdevReply {
            id: p.id.get(),
            instance: p.instance.get(),
            result,
        })
    }
}

/// Whether `mtype` is a bdev request.
pub fn is_request(mtype: u32) -> bool {
    (OPEN..=FLUSH).contains(&mtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests() -> [BdevRequest; 8] {
        [
            BdevRequest::Open {
                id: 1,
                minor: 2,
                access: access::READ | access::WRITE,
            },
            BdevRequest::Close { id: 2, minor: 2 },
            BdevRequest::Read {
                id: 3,
                minor: 0,
                pos: 1 << 40,
                grant: GrantId(9),
                len: 4096,
            },
            BdevRequest::Write {
                id: 4,
                minor: 1,
                pos: 512,
                grant: GrantId(8),
                len: u32::MAX,
            },
            BdevRequest::Gather {
                id: 5,
                minor: 0,
                pos: 0,
                iovec: GrantId(7),
                count: 1,
            },
            BdevRequest::Scatter {
                id: u64::MAX,
                minor: u32::MAX,
                pos: u64::MAX,
                iovec: GrantId(6),
                count: MAX_IOVEC,
            },
            BdevRequest::Size { id: 7, minor: 3 },
            BdevRequest::Flush { id: 8, minor: 0 },
        ]
    }

    #[test]
    fn requests_round_trip() {
        for r in requests() {
            let m = r.to_message();
            assert!(is_request(m.mtype()));
            assert_eq!(BdevRequest::try_from(&m), Ok(r));
            assert_eq!(request_id(&m), Some(r.id()));
        }
    }

    #[test]
    fn replies_round_trip() {
        for result in [
            Ok(0),
            Ok(4096),
            Ok(u64::MAX),
            Err(Errno::EIO),
            Err(Errno::ERESTART),
            Err(Errno::ENXIO),
            Err(Errno::EINVAL),
        ] {
            let r = BdevReply {
                id: 77,
                instance: 0xabcd,
                result,
            };
            assert_eq!(BdevReply::try_from(&r.to_message()), Ok(r));
        }
    }

    #[test]
    fn malformed_messages_are_errors() {
        // Unknown types, either way.
        assert_eq!(
            BdevRequest::try_from(&Message::new(0x9ff)),
            Err(Errno::EBADCALL)
        );
        assert_eq!(
            BdevRequest::try_from(&Message::new(REPLY)),
            Err(Errno::EBADCALL)
        );
        assert_eq!(request_id(&Message::new(0x123)), None);
        assert_eq!(
            BdevReply::try_from(&Message::new(OPEN)),
            Err(Errno::EBADCALL)
        );
        // Bad access bits.
        for access in [0, 4, 7, u32::MAX] {
            let m = BdevRequest::Open {
                id: 1,
                minor: 0,
                access,
            }
            .to_message();
            assert_eq!(BdevRequest::try_from(&m), Err(Errno::EINVAL));
        }
        // Vector lengths out of range.
        for count in [0, MAX_IOVEC + 1, u32::MAX] {
            let m = BdevRequest::Gather {
                id: 1,
                minor: 0,
                pos: 0,
                iovec: GrantId(1),
                count,
            }
            .to_message();
            assert_eq!(BdevRequest::try_from(&m), Err(Errno::EINVAL));
        }
        // A positive status is not a valid reply.
        let mut m = BdevReply {
            id: 1,
            instance: 1,
            result: Ok(0),
        }
        .to_message();
        m.payload_mut()[24] = 5;
        assert_eq!(BdevReply::try_from(&m), Err(Errno::EBADCALL));
        // An unknown negative status decodes to a generic error.
        m.payload_mut()[24..28].copy_from_slice(&(-9999i32).to_le_bytes());
        assert_eq!(
            BdevReply::try_from(&m).map(|r| r.result),
            Ok(Err(Errno::EGENERIC))
        );
    }

    #[test]
    fn random_payloads_never_panic() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..20_000u32 {
            let mut m = Message::new(0x900 + (i % 0x90));
            for b in m.payload_mut().iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            if let Ok(r) = BdevRequest::try_from(&m) {
                assert_eq!(BdevRequest::try_from(&r.to_message()), Ok(r));
            }
            let _ = BdevReply::try_from(&m);
            let _ = request_id(&m);
        }
    }
}
