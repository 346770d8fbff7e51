//! The pipe-specific requests VFS sends to PFS, on top of the VFS<->FS
//! protocol (`sys::proto::fs`). Replies are ordinary [`FsReply`]s.
//!
//! `sys::proto::fs` covers what every file server does (`NewNode` creates an
//! anonymous pipe, `Read`/`Write` with `O_NONBLOCK` in `flags`, `Stat`,
//! `Putnode`); pipes additionally need per-end reference counts (EOF and
//! EPIPE depend on them), the FIFO open rendezvous, select and cancellation
//! of suspended requests. These live here, numbered inside the FS range
//! (0x640..0x64f, unused by `proto::fs`), and are meant to be merged into
//! `sys::proto::fs` by its owner; the numbers are defined only in this module.
//!
//! Conventions, as in `proto::fs`: a `u64` request id first; every request
//! gets exactly one answer, possibly much later (a suspended read, write,
//! FIFO open or select); EPIPE from a write means "deliver SIGPIPE".
//!
//! [`FsReply`]: sys::proto::fs::FsReply

use crate::pipe::{Access, SEL_ERR, SEL_RD, SEL_WR};
use sys::proto::wire::{Bit, Codec, messages};
use sys::{Errno, Message};
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

const OPEN: u32 = 0x640;
const CLOSE: u32 = 0x641;
const SELECT: u32 = 0x642;
const CANCEL: u32 = 0x643;

/// `O_NONBLOCK` as VFS passes it in `FsRequest::Read`/`Write` `flags`
/// (the MINIX/NetBSD open-flag value, as in `sys::proto::vfs::oflag`).
pub const O_NONBLOCK: u32 = 0x4;

/// File-type bits of a FIFO (`S_IFIFO`).
pub const S_IFIFO: u16 = 0o010000;
/// File-type mask (`S_IFMT`).
pub const S_IFMT: u16 = 0o170000;

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
struct PipeP {
    id: U64,
    arg: U64,
    ino: U32,
    access: u8,
    ops: u8,
    flags: u8,
    pad: u8,
}

const _: () = assert!(core::mem::size_of::<PipeP>() <= 56);

const F_NONBLOCK: u32 = 1;
const F_BLOCK: u32 = 2;

messages! {
    /// Pipe requests from VFS to PFS.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum PipeRequest in PipeP, unknown ENOSYS {
        /// Open FIFO `key` (VFS's name for the FIFO inode, e.g. `dev << 32 | ino`)
        /// for `access`; the pipe is created on first open. Answer
        /// `FsAnswer::Node` (ino = the pipe), possibly suspended until the other
        /// side opens; `ENXIO` for a non-blocking write open without readers.
        Open = OPEN {
            /// Request id.
            id: u64 => id,
            /// FIFO key.
            key: u64 => arg,
            /// Which ends.
            access: Access => access via AccessCode,
            /// `O_NONBLOCK`.
            nonblock: bool => flags via Bit<F_NONBLOCK>,
        },
        /// Close one end (VFS dropped the last reference to an open file of
        /// that end). Answer `FsAnswer::Done`; the pipe is freed when no ends remain.
        Close = CLOSE {
            /// Request id.
            id: u64 => id,
            /// The pipe.
            ino: u32 => ino,
            /// Which ends.
            access: Access => access via AccessCode,
        },
        /// Select on a pipe: answer `FsAnswer::Count { n: ready ops, pos: 0 }`
        /// (bits `SEL_RD`/`SEL_WR`/`SEL_ERR`). With `block` and nothing ready,
        /// the answer is withheld until an op becomes ready (or the request is
        /// cancelled: `n = 0`).
        Select = SELECT {
            /// Request id.
            id: u64 => id,
            /// The pipe.
            ino: u32 => ino,
            /// Ops wanted.
            ops: u8 => ops via SelOps,
            /// Wait for readiness.
            block: bool => flags via Bit<F_BLOCK>,
        },
        /// Cancel suspended request `target` (signal, select finished, caller
        /// gone): `target` is answered first (`EINTR`, a partial write's count,
        /// or a select's `n = 0`), then this with `Done`; `ESRCH` if `target`
        /// is not suspended (it was answered already).
        Cancel = CANCEL {
            /// Request id.
            id: u64 => id,
            /// The request to cancel.
            target: u64 => arg,
        },
    }
}

impl PipeRequest {
    /// The request id.
    pub fn id(&self) -> u64 {
        match *self {
            PipeRequest::Open { id, .. }
            | PipeRequest::Close { id, .. }
            | PipeRequest::Select { id, .. }
            | PipeRequest::Cancel { id, .. } => id,
        }
    }

    /// Whether `m` carries one of these request numbers.
    pub fn is_pipe_request(m: &Message) -> bool {
        (OPEN..=CANCEL).contains(&m.mtype())
    }
}

/// Which ends, as 1 (read), 2 (write) or 3 (both); anything else is
/// `EINVAL`.
struct AccessCode;

impl Codec<Access, u8> for AccessCode {
    fn enc(a: Access) -> u8 {
        match a {
            Access::Read => 1,
            Access::Write => 2,
            Access::ReadWrite => 3,
        }
    }
    fn dec(c: u8) -> Result<Access, Errno> {
        Ok(match c {
            1 => Access::Read,
            2 => Access::Write,
            3 => Access::ReadWrite,
            _ => return Err(Errno::EINVAL),
        })
    }
}

/// Select ops: bits outside `SEL_RD | SEL_WR | SEL_ERR` are `EINVAL`.
struct SelOps;

impl Codec<u8, u8> for SelOps {
    fn enc(ops: u8) -> u8 {
        ops
    }
    fn dec(ops: u8) -> Result<u8, Errno> {
        if ops & !(SEL_RD | SEL_WR | SEL_ERR) != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec::Vec;
    use sys::proto::wire::hex;

    const GOLDEN: &[&str] = &[
        "640:0100000000000000070000003412000000000000020001",
        "640:050000000000000007000000000000000000000001",
        "641:020000000000000000000000000000000900000003",
        "642:0300000000000000000000000000000004000000000502",
        "642:06000000000000000000000000000000040000000002",
        "643:040000000000000003",
    ];

    /// One instance of each request (round trip and golden bytes).
    fn sample_requests() -> Vec<PipeRequest> {
        alloc::vec![
            PipeRequest::Open {
                id: 1,
                key: 0x1234_0000_0007,
                access: Access::Write,
                nonblock: true,
            },
            PipeRequest::Open {
                id: 5,
                key: 7,
                access: Access::Read,
                nonblock: false,
            },
            PipeRequest::Close {
                id: 2,
                ino: 9,
                access: Access::ReadWrite,
            },
            PipeRequest::Select {
                id: 3,
                ino: 4,
                ops: SEL_RD | SEL_ERR,
                block: true,
            },
            PipeRequest::Select {
                id: 6,
                ino: 4,
                ops: SEL_WR,
                block: false,
            },
            PipeRequest::Cancel { id: 4, target: 3 },
        ]
    }

    #[test]
    fn roundtrip() {
        for r in sample_requests() {
            let m = r.to_message();
            assert!(PipeRequest::is_pipe_request(&m));
            assert_eq!(m.request_id(), r.id());
            assert_eq!(PipeRequest::try_from(&m), Ok(r));
        }
    }

    /// Malformed requests decode to errors: an unknown type, a bad access
    /// code, select ops outside the known bits.
    #[test]
    fn malformed_requests_are_errors() {
        let reqs = sample_requests();
        let mut bad = reqs[2].to_message();
        bad.payload_mut()[20] = 9;
        assert_eq!(PipeRequest::try_from(&bad), Err(Errno::EINVAL));
        let mut bad = reqs[0].to_message();
        bad.payload_mut()[20] = 0;
        assert_eq!(PipeRequest::try_from(&bad), Err(Errno::EINVAL));
        let mut bad = reqs[3].to_message();
        bad.payload_mut()[21] = 0x80;
        assert_eq!(PipeRequest::try_from(&bad), Err(Errno::EINVAL));
        assert_eq!(
            PipeRequest::try_from(&Message::new(0x644)),
            Err(Errno::ENOSYS)
        );
    }

    /// The wire bytes of one instance of each request, fixed from the
    /// hand-written encoder this module had before it was declared with
    /// `messages!`.
    #[test]
    fn golden_wire_bytes() {
        let got: Vec<String> = sample_requests()
            .iter()
            .map(|r| hex(&r.to_message()))
            .collect();
        assert_eq!(got, GOLDEN);
    }
}
