//! `vault`: memory that outlives a process instance (the native backing of
//! `sys::Sys::preserve`, protocol in `native::vault`). Keeps one blob per
//! endpoint, keyed by the kernel-stamped source, so a successor that took
//! over the endpoint (RS's *restart*/*stateful* policies) reads what its
//! predecessor kept — DS keeps its whole store this way. Never blocks on
//! anyone: copies go through the caller's grant while the caller waits in
//! `sendrec`. A `sys::Process` run by the native runtime.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use native::vault::{self, MAX_BLOB, VaultRequest};
use sys::{Endpoint, Errno, GrantId, Message, Process, Sys};

rt::entry!(main);

/// All blobs together stay below this (the runtime heap is 256 KiB).
const MAX_TOTAL: usize = 160 * 1024;
/// Bytes per safe copy (the kernel's limit).
const CHUNK: usize = rt::abi::MAX_SAFECOPY as usize;

#[derive(Default)]
struct Vault {
    blobs: BTreeMap<Endpoint, Vec<u8>>,
}

impl Vault {
    fn total(&self) -> usize {
        self.blobs.values().map(Vec::len).sum()
    }

    fn put(
        &mut self,
        sys: &mut dyn Sys,
        src: Endpoint,
        grant: u32,
        len: u32,
    ) -> Result<u32, Errno> {
        let len = len as usize;
        let others = self.total() - self.blobs.get(&src).map_or(0, Vec::len);
        if len > MAX_BLOB || others + len > MAX_TOTAL {
            return Err(Errno::ENOMEM);
        }
        let mut buf = Vec::new();
        buf.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
        buf.resize(len, 0);
        for (i, chunk) in buf.chunks_mut(CHUNK).enumerate() {
            sys.safecopy_from(src, GrantId(grant), i * CHUNK, chunk)?;
        }
        self.blobs.insert(src, buf);
        Ok(len as u32)
    }

    fn get(&self, sys: &mut dyn Sys, src: Endpoint, grant: u32, len: u32) -> Result<u32, Errno> {
        let blob = self.blobs.get(&src).ok_or(Errno::ESRCH)?;
        if blob.len() > len as usize {
            return Err(Errno::EOVERFLOW);
        }
        for (i, chunk) in blob.chunks(CHUNK).enumerate() {
            sys.safecopy_to(src, GrantId(grant), i * CHUNK, chunk)?;
        }
        rt::println!("handed {} bytes back to {:#x}", blob.len(), src.0);
        Ok(blob.len() as u32)
    }
}

impl Process for Vault {
    fn receive(&mut self, sys: &mut dyn Sys, msg: Message) {
        let src = msg.source();
        let (id, result) = match VaultRequest::try_from(&msg) {
            Ok(VaultRequest::Put { id, grant, len }) => (id, self.put(sys, src, grant, len)),
            Ok(VaultRequest::Get { id, grant, len }) => (id, self.get(sys, src, grant, len)),
            // Notifications and strangers' messages get no answer.
            Err(_) => return,
        };
        // A caller that died meanwhile needs no answer.
        let _ = sys.send(src, vault::reply_message(id, result));
    }
}

fn main(_args: &str) -> i32 {
    native::run(Vault::default())
}
