//! The vault protocol: memory that outlives a process instance, for
//! [`sys::Sys::preserve`]. The kernel frees a dead instance's memory when its
//! successor takes over the endpoint, so a small boot server (`servers/vault`)
//! keeps one blob per endpoint instead. Blobs are keyed by the sender's
//! endpoint as the kernel stamps it, so only the same endpoint — the
//! instance itself or a successor that took it over — can read or replace
//! one. Both directions copy through a grant of the client's buffer. The
//! only place these numbers live.

use alloc::vec::Vec;
use sys::proto::wire::{StatusValue, messages};
use sys::{Endpoint, Errno, GrantAccess, Message, Sys};
use zerocopy::little_endian::{I32, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Store the granted bytes as the sender's blob (replaces the old one).
pub const PUT: u32 = 0xC00;
/// Copy the sender's blob into the granted buffer.
pub const GET: u32 = 0xC01;
/// Answer to [`PUT`] / [`GET`].
pub const REPLY: u32 = 0xC80;

/// Largest blob (a SEF state blob is at most 64 KiB plus its seal).
pub const MAX_BLOB: usize = 64 * 1024 + 64;
/// Process name the runtime looks the vault up by.
pub const NAME: &str = "vault";

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct ReqP {
    id: U64,
    grant: U32,
    len: U32,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct ReplyP {
    id: U64,
    status: I32,
    len: U32,
}

messages! {
    /// A decoded vault request.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum VaultRequest in ReqP, unknown EBADCALL {
        /// Keep `len` bytes of grant `grant`.
        Put = PUT {
            /// Request id.
            id: u64 => id,
            /// The client's read grant.
            grant: u32 => grant,
            /// Bytes to keep.
            len: u32 => len,
        },
        /// Copy the blob into grant `grant` of `len` bytes.
        Get = GET {
            /// Request id.
            id: u64 => id,
            /// The client's write grant.
            grant: u32 => grant,
            /// Room in it.
            len: u32 => len,
        },
    }
}

messages! {
    /// The vault's answer.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct VaultReply in ReplyP = REPLY, unknown EBADCALL {
        id: u64 => id,
        result: Result<u32, Errno> => (status, len) via StatusValue,
    }
}

/// The vault's answer: bytes stored or copied, or why not.
pub fn reply_message(id: u64, result: Result<u32, Errno>) -> Message {
    VaultReply { id, result }.to_message()
}

/// Decode an answer.
pub fn parse_reply(m: &Message) -> Result<u32, Errno> {
    VaultReply::try_from(m)?.result
}

/// Hands `blob` to the vault at `vault`; gives the buffer back either way.
pub fn put(sys: &mut dyn Sys, vault: Endpoint, blob: Vec<u8>) -> (Vec<u8>, Result<(), Errno>) {
    let len = blob.len() as u32;
    let gid = match sys.grant_create(vault, GrantAccess::READ, blob) {
        Ok(g) => g,
        // The buffer went with the failed call only if the runtime kept it.
        Err(e) => return (Vec::new(), Err(e)),
    };
    let req = VaultRequest::Put {
        id: 0,
        grant: gid.0,
        len,
    };
    let r = sys
        .sendrec(vault, req.to_message())
        .and_then(|m| parse_reply(&m))
        .map(drop);
    let blob = sys.grant_revoke(gid).unwrap_or_default();
    (blob, r)
}

/// The blob the vault keeps for this endpoint (`ESRCH`: none).
pub fn get(sys: &mut dyn Sys, vault: Endpoint) -> Result<Vec<u8>, Errno> {
    let gid = sys.grant_create(vault, GrantAccess::WRITE, alloc::vec![0u8; MAX_BLOB])?;
    let req = VaultRequest::Get {
        id: 0,
        grant: gid.0,
        len: MAX_BLOB as u32,
    };
    let r = sys
        .sendrec(vault, req.to_message())
        .and_then(|m| parse_reply(&m));
    let mut buf = sys.grant_revoke(gid)?;
    buf.truncate(r? as usize);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use sys::proto::wire::hex;

    const GOLDEN: &[&str] = &[
        "c00:07000000000000000300000064",
        "c01:080000000000000004000000400001",
        "c80:0100000000000000000000002a",
        "c80:0200000000000000fdffffff",
        "c80:03",
    ];

    /// One instance of each request (round trip and golden bytes).
    fn sample_requests() -> Vec<VaultRequest> {
        alloc::vec![
            VaultRequest::Put {
                id: 7,
                grant: 3,
                len: 100,
            },
            VaultRequest::Get {
                id: 8,
                grant: 4,
                len: MAX_BLOB as u32,
            },
        ]
    }

    /// One reply of each kind.
    fn sample_replies() -> Vec<(u64, Result<u32, Errno>)> {
        alloc::vec![(1, Ok(42)), (2, Err(Errno::ESRCH)), (3, Ok(0))]
    }

    #[test]
    fn requests_and_replies_round_trip() {
        for req in sample_requests() {
            assert_eq!(VaultRequest::try_from(&req.to_message()), Ok(req));
        }
        for (id, r) in sample_replies() {
            let m = reply_message(id, r);
            assert_eq!(m.request_id(), id);
            assert_eq!(parse_reply(&m), r);
        }
    }

    /// Malformed messages decode to errors: unknown types, a positive
    /// status.
    #[test]
    fn malformed_messages_are_errors() {
        assert_eq!(
            VaultRequest::try_from(&Message::new(REPLY)),
            Err(Errno::EBADCALL)
        );
        assert_eq!(parse_reply(&Message::new(PUT)), Err(Errno::EBADCALL));
        let mut m = reply_message(1, Ok(5));
        m.payload_mut()[8] = 1;
        assert_eq!(parse_reply(&m), Err(Errno::EBADCALL));
    }

    /// The wire bytes of each message, fixed from the hand-written encoder
    /// this module had before it was declared with `messages!`.
    #[test]
    fn golden_wire_bytes() {
        let got: Vec<String> = sample_requests()
            .iter()
            .map(|r| hex(&r.to_message()))
            .chain(
                sample_replies()
                    .into_iter()
                    .map(|(id, r)| hex(&reply_message(id, r))),
            )
            .collect();
        assert_eq!(got, GOLDEN);
    }
}
