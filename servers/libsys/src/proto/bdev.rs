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
use crate::proto::wire::{Codec, messages};
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

/// The payload of every request; each request names the slots it uses.
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

/// The reply payload.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct Rep {
    id: U64,
    value: U64,
    instance: U64,
    status: I32,
}

/// Open access bits: at least one of [`access`], no others (`EINVAL`).
struct Access;

impl Codec<u32, U32> for Access {
    fn enc(v: u32) -> U32 {
        U32::new(v)
    }
    fn dec(w: U32) -> Result<u32, Errno> {
        let a = w.get();
        if a == 0 || a & !(access::READ | access::WRITE) != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(a)
    }
}

/// I/O vector entries: 1 to [`MAX_IOVEC`] (`EINVAL`).
struct IovCount;

impl Codec<u32, U32> for IovCount {
    fn enc(v: u32) -> U32 {
        U32::new(v)
    }
    fn dec(w: U32) -> Result<u32, Errno> {
        let n = w.get();
        if (1..=MAX_IOVEC).contains(&n) {
            Ok(n)
        } else {
            Err(Errno::EINVAL)
        }
    }
}

/// A reply's result: `Ok(value)` with status 0, or `Err` as a negative
/// status (an unknown code is `EGENERIC`); a positive status is `EBADCALL`.
struct ValueStatus;

impl Codec<Result<u64, Errno>, (U64, I32)> for ValueStatus {
    fn enc(v: Result<u64, Errno>) -> (U64, I32) {
        match v {
            Ok(v) => (U64::new(v), I32::new(0)),
            Err(e) => (U64::new(0), I32::new(-e.code())),
        }
    }
    fn dec((value, status): (U64, I32)) -> Result<Result<u64, Errno>, Errno> {
        match status.get() {
            0 => Ok(Ok(value.get())),
            s if s < 0 => Ok(Err(
                Errno::from_code(s.wrapping_neg()).unwrap_or(Errno::EGENERIC)
            )),
            _ => Err(Errno::EBADCALL),
        }
    }
}

messages! {
    /// A request to a block driver.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum BdevRequest in Req, unknown EBADCALL {
        /// Open a minor with [`access`] bits (at least one, no others).
        Open = OPEN {
            /// Request id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
            /// [`access`] bits.
            access: u32 => a via Access,
        },
        /// Close one open of a minor.
        Close = CLOSE {
            /// Request id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
        },
        /// Read `len` bytes at `pos` into the requester's grant (write access
        /// for the driver).
        Read = READ {
            /// Request id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
            /// Byte position.
            pos: u64 => pos,
            /// Grant of at least `len` bytes.
            grant: GrantId => a,
            /// Bytes.
            len: u32 => n,
        },
        /// Write `len` bytes at `pos` from the requester's grant (read access
        /// for the driver).
        Write = WRITE {
            /// Request id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
            /// Byte position.
            pos: u64 => pos,
            /// Grant of at least `len` bytes.
            grant: GrantId => a,
            /// Bytes.
            len: u32 => n,
        },
        /// Read at `pos` into the segments of an I/O vector, in order.
        Gather = GATHER {
            /// Request id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
            /// Byte position.
            pos: u64 => pos,
            /// Grant (read access) of `count` [`IoVec`] entries.
            iovec: GrantId => a,
            /// Entries (1 to [`MAX_IOVEC`]).
            count: u32 => n via IovCount,
        },
        /// Write the segments of an I/O vector at `pos`, in order.
        Scatter = SCATTER {
            /// Request id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
            /// Byte position.
            pos: u64 => pos,
            /// Grant (read access) of `count` [`IoVec`] entries.
            iovec: GrantId => a,
            /// Entries (1 to [`MAX_IOVEC`]).
            count: u32 => n via IovCount,
        },
        /// Size of the minor in bytes (MINIX `DIOCGETP`).
        Size = SIZE {
            /// Request id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
        },
        /// Make written data durable.
        Flush = FLUSH {
            /// Request id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
        },
    }
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
}

/// The id a request message carries, if it is one of this protocol (a
/// driver answers a request it cannot decode with this id and the error).
pub fn request_id(m: &Message) -> Option<u64> {
    if !is_request(m.mtype()) {
        return None;
    }
    m.payload_as::<Req>().ok().map(|p| p.id.get())
}

messages! {
    /// A block driver's answer to every request.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct BdevReply in Rep = REPLY, unknown EBADCALL {
        /// The request's id.
        id: u64 => id,
        /// The answering driver instance (nonzero, new for each started
        /// instance).
        instance: u64 => instance,
        /// Bytes transferred (read, write, gather, scatter), the size in bytes
        /// (size), or 0 (open, close, flush); or the error.
        result: Result<u64, Errno> => (value, status) via ValueStatus,
    }
}

/// Whether `mtype` is a bdev request.
pub fn is_request(mtype: u32) -> bool {
    (OPEN..=FLUSH).contains(&mtype)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::hex;
    use alloc::string::String;
    use alloc::vec::Vec;

    const GOLDEN: &[&str] = &[
        "900:01000000000000000200000003",
        "901:020000000000000002",
        "902:0300000000000000000000000900000000000000000100000010",
        "903:040000000000000001000000080000000002000000000000ffffffff",
        "904:05000000000000000000000007000000000000000000000001",
        "905:ffffffffffffffffffffffff06000000ffffffffffffffff40",
        "906:070000000000000003",
        "907:08",
        "980:88776655443322110807060504030201cdab",
        "980:88776655443322110000000000000000cdab000000000000fbffffff",
    ];

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

    /// The wire bytes of one instance of each message, fixed from the
    /// hand-written encoder this module had before it was declared with
    /// `messages!`.
    #[test]
    fn golden_wire_bytes() {
        let mut got: Vec<String> = requests().iter().map(|r| hex(&r.to_message())).collect();
        for result in [Ok(0x0102_0304_0506_0708), Err(Errno::EIO)] {
            let r = BdevReply {
                id: 0x1122_3344_5566_7788,
                instance: 0xabcd,
                result,
            };
            got.push(hex(&r.to_message()));
        }
        assert_eq!(got, GOLDEN);
    }
}
