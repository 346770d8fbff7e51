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

const F_NONBLOCK: u8 = 1;
const F_BLOCK: u8 = 2;

/// Pipe requests from VFS to PFS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeRequest {
    /// Open FIFO `key` (VFS's name for the FIFO inode, e.g. `dev << 32 | ino`)
    /// for `access`; the pipe is created on first open. Answer
    /// `FsAnswer::Node` (ino = the pipe), possibly suspended until the other
    /// side opens; `ENXIO` for a non-blocking write open without readers.
    Open {
        /// Request id.
        id: u64,
        /// FIFO key.
        key: u64,
        /// Which ends.
        access: Access,
        /// `O_NONBLOCK`.
        nonblock: bool,
    },
    /// Close one end (VFS dropped the last reference to an open file of
    /// that end). Answer `FsAnswer::Done`; the pipe is freed when no ends remain.
    Close {
        /// Request id.
        id: u64,
        /// The pipe.
        ino: u32,
        /// Which ends.
        access: Access,
    },
    /// Select on a pipe: answer `FsAnswer::Count { n: ready ops, pos: 0 }`
    /// (bits `SEL_RD`/`SEL_WR`/`SEL_ERR`). With `block` and nothing ready,
    /// the answer is withheld until an op becomes ready (or the request is
    /// cancelled: `n = 0`).
    Select {
        /// Request id.
        id: u64,
        /// The pipe.
        ino: u32,
        /// Ops wanted.
        ops: u8,
        /// Wait for readiness.
        block: bool,
    },
    /// Cancel suspended request `target` (signal, select finished, caller
    /// gone): `target` is answered first (`EINTR`, a partial write's count,
    /// or a select's `n = 0`), then this with `Done`; `ESRCH` if `target`
    /// is not suspended (it was answered already).
    Cancel {
        /// Request id.
        id: u64,
        /// The request to cancel.
        target: u64,
    },
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

    /// Encode.
    pub fn to_message(&self) -> Message {
        let mut p = PipeP {
            id: U64::new(self.id()),
            ..PipeP::default()
        };
        let t = match *self {
            PipeRequest::Open {
                key,
                access,
                nonblock,
                ..
            } => {
                p.arg = U64::new(key);
                p.access = access_code(access);
                p.flags = if nonblock { F_NONBLOCK } else { 0 };
                OPEN
            }
            PipeRequest::Close { ino, access, .. } => {
                p.ino = U32::new(ino);
                p.access = access_code(access);
                CLOSE
            }
            PipeRequest::Select {
                ino, ops, block, ..
            } => {
                p.ino = U32::new(ino);
                p.ops = ops;
                p.flags = if block { F_BLOCK } else { 0 };
                SELECT
            }
            PipeRequest::Cancel { target, .. } => {
                p.arg = U64::new(target);
                CANCEL
            }
        };
        Message::with(t, &p)
    }

    /// Whether `m` carries one of these request numbers.
    pub fn is_pipe_request(m: &Message) -> bool {
        (OPEN..=CANCEL).contains(&m.mtype())
    }
}

fn access_code(a: Access) -> u8 {
    match a {
        Access::Read => 1,
        Access::Write => 2,
        Access::ReadWrite => 3,
    }
}

fn access_from(c: u8) -> Result<Access, Errno> {
    Ok(match c {
        1 => Access::Read,
        2 => Access::Write,
        3 => Access::ReadWrite,
        _ => return Err(Errno::EINVAL),
    })
}

impl TryFrom<&Message> for PipeRequest {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        let p: PipeP = m.payload_as()?;
        let id = p.id.get();
        Ok(match m.mtype() {
            OPEN => PipeRequest::Open {
                id,
                key: p.arg.get(),
                access: access_from(p.access)?,
                nonblock: p.flags & F_NONBLOCK != 0,
            },
            CLOSE => PipeRequest::Close {
                id,
                ino: p.ino.get(),
                access: access_from(p.access)?,
            },
            SELECT => {
                if p.ops & !(SEL_RD | SEL_WR | SEL_ERR) != 0 {
                    return Err(Errno::EINVAL);
                }
                PipeRequest::Select {
                    id,
                    ino: p.ino.get(),
                    ops: p.ops,
                    block: p.flags & F_BLOCK != 0,
                }
            }
            CANCEL => PipeRequest::Cancel {
                id,
                target: p.arg.get(),
            },
            // An unknown request type: the server answers ENOSYS.
            _ => return Err(Errno::ENOSYS),
        })
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
