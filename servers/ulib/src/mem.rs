//! Memory, through VM: the break (`brk`/`sbrk`), anonymous `mmap`,
//! `munmap`, `mprotect`, and the system's memory figures. The heap
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
