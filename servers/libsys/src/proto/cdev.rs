//! Character-device protocol (VFS -> character driver), after MINIX's CDEV
//! protocol: open, close, read, write, cancel, select, ioctl. Data moves through a
//! grant from the requester. A read or write that cannot complete yet is
//! suspended by the driver and answered later (or with `EINTR` when
//! cancelled); a select with `notify` set that finds nothing ready is
//! answered at once ([`CdevReply::Select`]) and again, unprompted, when an
//! op becomes ready ([`CdevReply::SelectReady`], MINIX `CDEV_SEL2_REPLY`).

use crate::errno::Errno;
use crate::ipc::GrantId;
use crate::proto::wire::{Flag, Status, messages};
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

/// The payload of every cdev message; each message names the slots it uses.
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

messages! {
    /// A request to a character driver.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum CdevRequest in P, unknown ENOSYS {
        /// Open a minor (`access` bits).
        Open = OPEN {
            /// Request id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
            /// Access bits.
            access: u32 => a,
        },
        /// Close a minor.
        Close = CLOSE {
            /// Request id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
        },
        /// Read up to `size` bytes into the requester's grant.
        Read = READ {
            /// Request id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
            /// Grant (write access for the driver).
            grant: GrantId => a,
            /// Bytes wanted.
            size: u32 => b,
            /// Fail with `EAGAIN` instead of suspending.
            nonblock: bool => c via Flag,
        },
        /// Write `size` bytes from the requester's grant.
        Write = WRITE {
            /// Request id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
            /// Grant (read access for the driver).
            grant: GrantId => a,
            /// Bytes.
            size: u32 => b,
            /// Fail with `EAGAIN` instead of suspending.
            nonblock: bool => c via Flag,
        },
        /// Cancel the suspended request `id`: it is answered with `EINTR`.
        Cancel = CANCEL {
            /// The suspended request's id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
        },
        /// Which of `ops` are ready now; with `notify`, report later readiness.
        Select = SELECT {
            /// Request id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
            /// [`sel`] bits.
            ops: u32 => a,
            /// Send [`CdevReply::SelectReady`] when one becomes ready.
            notify: bool => c via Flag,
        },
        /// Device control request `req` (for terminals the numbers of
        /// [`crate::proto::tty::req`]); its argument or result moves through
        /// `grant` (`len` bytes), answered with [`CdevReply::Done`] (0 or an
        /// errno). May be suspended (TCSETSW) and cancelled like a read.
        Ioctl = IOCTL {
            /// Request id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
            /// Request number.
            req: u32 => a,
            /// Grant (read or write access, per request).
            grant: GrantId => b,
            /// Bytes in the grant.
            len: u32 => c,
        },
    }
}

messages! {
    /// A character driver's answer.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum CdevReply in P, unknown EBADCALL {
        /// Result of open/close/read/write/cancelled request: bytes moved (read,
        /// write) or 0.
        Done = REPLY {
            /// Request id.
            id: u64 => id,
            /// Result.
            result: Result<u32, Errno> => status via Status,
        },
        /// Immediate select answer: ready ops (subset of those asked).
        Select = SEL_REPLY {
            /// Request id.
            id: u64 => id,
            /// Minor.
            minor: u32 => minor,
            /// Ready [`sel`] bits, or why select failed.
            result: Result<u32, Errno> => status via Status,
        },
        /// Later readiness of a minor selected with `notify` (no request id:
        /// VFS matches it by minor).
        SelectReady = SEL_READY {
            /// Minor.
            minor: u32 => minor,
            /// Ready [`sel`] bits.
            ops: u32 => a,
        },
    }
}

/// Whether `mtype` is a cdev request.
pub fn is_request(mtype: u32) -> bool {
    (OPEN..=IOCTL).contains(&mtype)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::proto::wire::hex;
    use alloc::string::String;
    use alloc::vec::Vec;

    const GOLDEN: &[&str] = &[
        "800:88776655443322119900000003",
        "801:020000000000000003",
        "802:03000000000000000400000004030201bbaa000001",
        "803:0400000000000000050000000403020107",
        "804:050000000000000006",
        "805:060000000000000007000000050000000000000001",
        "806:07000000000000000800000009000000040302010a",
        "880:0800000000000000000000000000000000000000000000003412",
        "880:090000000000000000000000000000000000000000000000fcffffff",
        "881:0a000000000000000b00000000000000000000000000000002",
        "882:00000000000000000c00000001",
    ];

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

    /// The wire bytes of one instance of each message, fixed from the
    /// hand-written encoder this module had before it was declared with
    /// `messages!`.
    #[test]
    fn golden_wire_bytes() {
        let g = GrantId(0x0102_0304);
        let reqs = [
            CdevRequest::Open {
                id: 0x1122_3344_5566_7788,
                minor: 0x99,
                access: access::READ | access::WRITE,
            },
            CdevRequest::Close { id: 2, minor: 3 },
            CdevRequest::Read {
                id: 3,
                minor: 4,
                grant: g,
                size: 0xaabb,
                nonblock: true,
            },
            CdevRequest::Write {
                id: 4,
                minor: 5,
                grant: g,
                size: 7,
                nonblock: false,
            },
            CdevRequest::Cancel { id: 5, minor: 6 },
            CdevRequest::Select {
                id: 6,
                minor: 7,
                ops: sel::READ | sel::EXCEPT,
                notify: true,
            },
            CdevRequest::Ioctl {
                id: 7,
                minor: 8,
                req: 9,
                grant: g,
                len: 10,
            },
        ];
        let reps = [
            CdevReply::Done {
                id: 8,
                result: Ok(0x1234),
            },
            CdevReply::Done {
                id: 9,
                result: Err(Errno::EINTR),
            },
            CdevReply::Select {
                id: 10,
                minor: 11,
                result: Ok(sel::WRITE),
            },
            CdevReply::SelectReady {
                minor: 12,
                ops: sel::READ,
            },
        ];
        let got: Vec<String> = reqs
            .iter()
            .map(|r| hex(&r.to_message()))
            .chain(reps.iter().map(|r| hex(&r.to_message())))
            .collect();
        assert_eq!(got, GOLDEN);
    }
}
