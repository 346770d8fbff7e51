//! Memory grants and safe copies (kernel calls `GrantCreate`,
//! `GrantRevoke`, `SafeCopyFrom`, `SafeCopyTo`; see `abi`).
//!
//! A grant lets one endpoint (or anyone) read and/or write a byte range of
//! the caller's memory; the grantee copies with [`copy_from`] / [`copy_to`]
//! naming the granter and the grant id. The buffer must stay alive and
//! unmoved until the grant is revoked.

use crate::sys::raw_syscall6;
use abi::{Errno, Syscall};

/// The grantee may read.
pub const READ: u64 = abi::GRANT_READ;
/// The grantee may write.
pub const WRITE: u64 = abi::GRANT_WRITE;

fn call(c: Syscall, a: [u64; 6]) -> Result<u64, Errno> {
    Errno::from_return(raw_syscall6(c as u64, a))
}

/// Grants `grantee` (`rt::ipc::ANY` for anyone) `access` to `len` bytes at
/// `addr` in the caller's memory. Returns the grant id.
pub fn direct(grantee: u32, addr: *const u8, len: usize, access: u64) -> Result<u32, Errno> {
    let a = [
        abi::GRANT_DIRECT,
        u64::from(grantee),
        access,
        addr as u64,
        len as u64,
        0,
    ];
    call(Syscall::GrantCreate, a).map(|id| id as u32)
}

/// Passes `len` bytes at `offset` of grant `id` (made by `from` for the
/// caller) on to `grantee` with `access`. Returns the new grant id.
pub fn indirect(
    grantee: u32,
    from: u32,
    id: u32,
    offset: u64,
    len: u64,
    access: u64,
) -> Result<u32, Errno> {
    let packed = (u64::from(from) << 32) | u64::from(id);
    let a = [
        abi::GRANT_INDIRECT,
        u64::from(grantee),
        access,
        offset,
        len,
        packed,
    ];
    call(Syscall::GrantCreate, a).map(|id| id as u32)
}

/// Revokes the caller's grant `id`; later copies through it fail.
pub fn revoke(id: u32) -> Result<(), Errno> {
    call(Syscall::GrantRevoke, [u64::from(id), 0, 0, 0, 0, 0]).map(drop)
}

/// Copies `dst.len()` bytes starting `offset` bytes into grant `id` of
/// `granter` into `dst`, in pieces of at most `abi::MAX_SAFECOPY` bytes
/// (the kernel's bound on one copy, which keeps its interrupt latency
/// short). Returns the bytes copied; a failing piece fails the call.
pub fn copy_from(granter: u32, id: u32, offset: u64, dst: &mut [u8]) -> Result<usize, Errno> {
    let mut done = 0;
    for piece in dst.chunks_mut(abi::MAX_SAFECOPY as usize) {
        let a = [
            u64::from(granter),
            u64::from(id),
            offset + done as u64,
            piece.as_mut_ptr() as u64,
            piece.len() as u64,
            0,
        ];
        done += call(Syscall::SafeCopyFrom, a)? as usize;
    }
    Ok(done)
}

/// Copies `src` into grant `id` of `granter`, `offset` bytes into it, in
/// pieces like [`copy_from`].
pub fn copy_to(granter: u32, id: u32, offset: u64, src: &[u8]) -> Result<usize, Errno> {
    let mut done = 0;
    for piece in src.chunks(abi::MAX_SAFECOPY as usize) {
        let a = [
            u64::from(granter),
            u64::from(id),
            offset + done as u64,
            piece.as_ptr() as u64,
            piece.len() as u64,
            0,
        ];
        done += call(Syscall::SafeCopyTo, a)? as usize;
    }
    Ok(done)
}
