//! Memory, through VM: the break (`brk`/`sbrk`), anonymous `mmap`,
//! `munmap`, `mprotect`, read-only mappings of block devices
//! ([`mmap_file`]), and the system's memory figures. The heap
//! allocator (`rt`'s) owns the break window for `alloc`: programs that
//! use [`brk`] themselves should use [`mmap`] instead.

use crate::errno::{Errno, Result};
use crate::ipc::{self, Server};
use sys::proto::vm::{VmAnswer, VmCall, VmReply};

pub use sys::proto::vm::MemInfo;
pub use sys::proto::vm::prot::{EXEC as PROT_EXEC, READ as PROT_READ, WRITE as PROT_WRITE};

/// Bytes in a page.
pub const PAGE: u64 = 4096;

fn vm(id: u64, call: VmCall) -> Result<VmAnswer> {
    let m = ipc::call(Server::Vm, &call.to_message())?;
    let r = VmReply::try_from(&m)?;
    if r.id != id {
        return Err(Errno::EBADCALL);
    }
    r.result
}

fn vm_value(id: u64, call: VmCall) -> Result<u64> {
    match vm(id, call)? {
        VmAnswer::Value(v) => Ok(v),
        _ => Err(Errno::EBADCALL),
    }
}

/// brk(2): moves the break to `addr` (0 only asks); the break now.
pub fn brk(addr: u64) -> Result<u64> {
    let id = ipc::next_id();
    vm_value(id, VmCall::Brk { id, addr })
}

/// sbrk(2): moves the break by `incr` bytes; the previous break.
pub fn sbrk(incr: i64) -> Result<u64> {
    let old = brk(0)?;
    if incr == 0 {
        return Ok(old);
    }
    let new = old.checked_add_signed(incr).ok_or(Errno::ENOMEM)?;
    let now = brk(new)?;
    if now != new {
        return Err(Errno::ENOMEM);
    }
    Ok(old)
}

/// mmap(2), anonymous and private: `len` bytes (rounded up to pages),
/// zeroed, with protection `prot`; the address.
pub fn mmap(len: u64, prot: u32) -> Result<u64> {
    let id = ipc::next_id();
    vm_value(id, VmCall::Mmap { id, len, prot })
}

/// munmap(2).
pub fn munmap(addr: u64, len: u64) -> Result<()> {
    let id = ipc::next_id();
    vm_value(id, VmCall::Munmap { id, addr, len }).map(drop)
}

/// mprotect(2).
pub fn mprotect(addr: u64, len: u64, prot: u32) -> Result<()> {
    let id = ipc::next_id();
    vm_value(
        id,
        VmCall::Mprotect {
            id,
            addr,
            len,
            prot,
        },
    )
    .map(drop)
}

/// The system's memory figures (frames in use, shared, copy-on-write
/// copies made).
pub fn info() -> Result<MemInfo> {
    let id = ipc::next_id();
    match vm(id, VmCall::Info { id })? {
        VmAnswer::Info(i) => Ok(i),
        _ => Err(Errno::EBADCALL),
    }
}

/// The heap allocator's growth (registered with `rt::set_heap_grower`
/// by [`crate::main!`]): moves the break to cover `addr .. addr + len`.
/// Allocates nothing.
pub fn grow_heap(addr: usize, len: usize) -> bool {
    let Some(end) = addr.checked_add(len) else {
        return false;
    };
    brk(end as u64).is_ok_and(|b| b >= end as u64)
}

/// A private anonymous read-write mapping ([`mmap`]): fresh zeroed pages
/// mapped at once (no page faults when they are first written, unlike
/// heap memory shared copy-on-write after a fork), unmapped when dropped.
#[derive(Debug)]
pub struct AnonMap {
    addr: u64,
    len: u64,
}

impl AnonMap {
    /// `len` bytes (at least one page, rounded up to pages).
    pub fn new(len: u64) -> Result<AnonMap> {
        let len = len
            .max(1)
            .checked_next_multiple_of(PAGE)
            .ok_or(Errno::ENOMEM)?;
        let addr = mmap(len, PROT_READ | PROT_WRITE)?;
        Ok(AnonMap { addr, len })
    }

    /// Its length (whole pages).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it is empty (never: a mapping has at least one page).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: VM answered that `len` bytes from `addr` are mapped in
        // this process, readable and writable, for as long as the mapping
        // exists; it exists until `self` is dropped (only `Drop` unmaps
        // it), and the returned slice borrows `self`.
        unsafe { core::slice::from_raw_parts(self.addr as *const u8, self.len as usize) }
    }

    /// The mapped bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `bytes`; the mapping is this value's alone (no
        // other reference to it exists while `self` is borrowed mutably).
        unsafe { core::slice::from_raw_parts_mut(self.addr as *mut u8, self.len as usize) }
    }
}

impl Drop for AnonMap {
    fn drop(&mut self) {
        // Fails only if the range is not ours any more; nothing to do then.
        let _ = munmap(self.addr, self.len);
    }
}

/// A read-only private mapping of a block device ([`mmap_file`]),
/// unmapped when dropped. The pages holding device bytes are mapped
/// ([`FileMap::bytes`]: the device's bytes, then zeros to the end of the
/// last such page); the pages after them, wholly beyond the end of the
/// device, are reserved but not mapped (reading them faults).
#[derive(Debug)]
pub struct FileMap {
    addr: u64,
    len: u64,
    readable: u64,
}

impl FileMap {
    /// The first byte of the mapping.
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// Its length (the requested length rounded up to pages).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it is empty (never: a mapping has at least one page).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The mapped part, from the start: whole pages.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: VM answered that `readable` bytes from `addr` are mapped
        // in this process, read-only, for as long as the mapping exists;
        // it exists until `self` is dropped (only `Drop` unmaps it), and
        // the returned slice borrows `self`.
        unsafe { core::slice::from_raw_parts(self.addr as *const u8, self.readable as usize) }
    }
}

impl Drop for FileMap {
    fn drop(&mut self) {
        // Fails only if the range is not ours any more; nothing to do then.
        let _ = munmap(self.addr, self.len);
    }
}

/// mmap(2) of `len` bytes from byte `offset` (page-aligned) of the block
/// device open on `fd`, `PROT_READ` and `MAP_PRIVATE`. VM gets the bytes
/// from VFS (the file server's cache). Errors: `ENXIO` when `offset` is at
/// or past the end of the device, `ENODEV` if `fd` is not a block device,
/// `EBADF`, `EACCES` (open write-only), `EINVAL` (zero length, unaligned
/// offset), `ENOMEM`.
pub fn mmap_file(fd: crate::fd::Fd, offset: u64, len: u64) -> Result<FileMap> {
    let id = ipc::next_id();
    let call = VmCall::MmapFile {
        id,
        fd,
        offset,
        len,
        prot: PROT_READ,
    };
    match vm(id, call)? {
        VmAnswer::Mapped { addr, readable } => {
            let len = len.div_ceil(PAGE) * PAGE;
            if readable > len || !readable.is_multiple_of(PAGE) {
                // Not what VM promises: give the range back.
                let _ = munmap(addr, len);
                return Err(Errno::EBADCALL);
            }
            Ok(FileMap {
                addr,
                len,
                readable,
            })
        }
        _ => Err(Errno::EBADCALL),
    }
}
