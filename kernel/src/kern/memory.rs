//! Address spaces and user memory: copies to user space, DMA memory,
//! mapping pages, physical ranges and modules, protection, sharing,
//! clearing and cloning spaces.

use crate::arch::cpu;
use crate::arch::paging::{AddressSpace, MapError};
use crate::arch::trap::TrapFrame;
use abi::Errno;
use alloc::vec::Vec;
use kernel_core::frame::{FRAME_SIZE, FrameError};
use kernel_core::grant::{GrantId, resolve};
use kernel_core::process::Endpoint;
use kernel_core::range::AddrRange;

use super::grant::access_of;
use super::start::is_data_module;
use super::{FRAMES, Kernel, LiveGrants, live_slot};

/// Copies `data` into the user memory of the process in `slot`, breaking
/// copy-on-write first (`Fault` if the range is not writable there).
pub(super) fn write_to(k: &mut Kernel, slot: usize, addr: u64, data: &[u8]) -> Result<(), Errno> {
    let space = &mut k.procs.get_mut(slot).ok_or(Errno::Inval)?.ctx.space;
    FRAMES
        .with(|fa| space.write_user(fa, addr, data))
        .ok_or(Errno::Fault)
}

/// Encodes `words` as little-endian bytes.
pub(super) fn le_words<const N: usize>(words: [u64; N]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Makes `len` bytes at `addr` of `slot`'s space writable for a copy the
/// kernel is about to do (breaking copy-on-write); `Fault` if they are not
/// all mapped writable or copy-on-write, `NoMem` without a frame to copy.
pub(super) fn prepare_write(k: &mut Kernel, slot: usize, addr: u64, len: u64) -> Result<(), Errno> {
    let space = &mut k.procs.get_mut(slot).ok_or(Errno::Inval)?.ctx.space;
    FRAMES
        .with(|fa| space.prepare_write(fa, addr, len))
        .map_err(|e| match e {
            MapError::Frames(FrameError::OutOfMemory) => Errno::NoMem,
            _ => Errno::Fault,
        })
}

/// `BootModules`: the boot module list as text, for RS.
pub(super) fn boot_modules(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let mut text = alloc::string::String::new();
    for m in &k.modules {
        text.push_str(m.name());
        if !m.args().is_empty() {
            text.push(' ');
            text.push_str(m.args());
        }
        text.push('\n');
    }
    let n = text.len().min(usize::try_from(f.rsi).unwrap_or(usize::MAX));
    write_to(k, slot, f.rdi, &text.as_bytes()[..n])?;
    Ok(text.len() as u64)
}

/// `DmaAlloc`: fresh zeroed, physically contiguous frames at unmapped user
/// pages of the caller; returns the physical base.
pub(super) fn dma_alloc(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let (start, count) = (f.rdi, f.rsi);
    if start % FRAME_SIZE != 0 || count == 0 || count > abi::MAX_DMA_PAGES {
        return Err(Errno::Inval);
    }
    let range = AddrRange::from_len(start, count * FRAME_SIZE).ok_or(Errno::Fault)?;
    let area = AddrRange::new(abi::USER_BASE, abi::USER_STACK_BOTTOM - FRAME_SIZE);
    if !area.contains_range(&range) {
        return Err(Errno::Fault);
    }
    let space = &mut k.procs.get_mut(slot).ok_or(Errno::Inval)?.ctx.space;
    if (range.start..range.end)
        .step_by(FRAME_SIZE as usize)
        .any(|page| space.translate(page).is_some())
    {
        return Err(Errno::Inval);
    }
    let mapped = FRAMES.with(|fa| {
        let base = fa.alloc_contiguous(count, 1).map_err(|_| Errno::Inval)?;
        for i in 0..count {
            let frame = base + i * FRAME_SIZE;
            if space
                .map_owned_frame(fa, start + i * FRAME_SIZE, frame)
                .is_err()
            {
                // Frames not yet taken by the space go back; the pages mapped
                // so far belong to the process (freed with it).
                for j in i..count {
                    let _ = fa.free(base + j * FRAME_SIZE);
                }
                return Err(Errno::Inval);
            }
        }
        Ok(base)
    });
    if let Some(p) = k.procs.get(slot) {
        cpu::write_cr3(p.ctx.space.root());
    }
    mapped
}

/// `UMap`: the physical address of a contiguous range of the caller.
pub(super) fn umap(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    if f.rdx & !(abi::GRANT_READ | abi::GRANT_WRITE) != 0 {
        return Err(Errno::Inval);
    }
    let write = f.rdx & abi::GRANT_WRITE != 0;
    if write && f.rsi <= kernel_core::dma::MAX_UMAP_LEN {
        // A device will write there: its own frames, not shared ones.
        // Errors show up in the check below.
        let _ = prepare_write(k, slot, f.rdi, f.rsi);
    }
    let space = &k.procs.get(slot).ok_or(Errno::Inval)?.ctx.space;
    kernel_core::dma::contiguous(f.rdi, f.rsi, |va| space.translate_for(va, write))
        .map_err(|e| e.errno())
}

/// `UMapGrant`: the physical address of granted bytes, checked as a
/// safecopy of the same range would be.
pub(super) fn umap_grant(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let want = access_of(f.r8)?;
    if !want.read && !want.write {
        return Err(Errno::Inval);
    }
    if f.r10 == 0 || f.r10 > kernel_core::dma::MAX_UMAP_LEN {
        return Err(Errno::Inval);
    }
    let me = k.procs.get(slot).ok_or(Errno::Inval)?.endpoint;
    let r = resolve(
        &LiveGrants(&k.procs),
        Endpoint(f.rdi as u32),
        GrantId(f.rsi as u32),
        me,
        f.rdx,
        f.r10,
        want,
    )
    .map_err(|e| e.errno())?;
    if want.write {
        // As in `umap`: the device must write the granter's own frames.
        let _ = prepare_write(k, r.owner.slot(), r.addr, f.r10);
    }
    let owner = &k
        .procs
        .get(r.owner.slot())
        .ok_or(Errno::DeadSrcDst)?
        .ctx
        .space;
    kernel_core::dma::contiguous(r.addr, f.r10, |va| owner.translate_for(va, want.write))
        .map_err(|e| e.errno())
}

/// `MapPages`: fresh zeroed pages in a live process's user space.
pub(super) fn map_pages(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let (start, count) = (f.rsi, f.rdx);
    if start % FRAME_SIZE != 0 || count == 0 || count > abi::MAX_MAP_PAGES {
        return Err(Errno::Inval);
    }
    let len = count.checked_mul(FRAME_SIZE).ok_or(Errno::Inval)?;
    let range = AddrRange::from_len(start, len).ok_or(Errno::Fault)?;
    // Up to the top of the stack: VM maps exec'd programs' stacks here.
    let heap_area = AddrRange::new(abi::USER_BASE, abi::USER_STACK_TOP);
    if !heap_area.contains_range(&range) {
        return Err(Errno::Fault);
    }
    let writable = f.r10 != 0;
    let space = &mut k.procs.get_mut(target).ok_or(Errno::Inval)?.ctx.space;
    let mapped = FRAMES.with(|fa| {
        (range.start..range.end)
            .step_by(FRAME_SIZE as usize)
            .try_for_each(|page| space.map_user_page(fa, page, writable).map(drop))
    });
    // New mappings only replace non-present entries, but reload CR3 when
    // the target is running so no stale paging-structure cache survives.
    if k.procs.current() == Some(target)
        && let Some(p) = k.procs.get(target)
    {
        cpu::write_cr3(p.ctx.space.root());
    }
    match mapped {
        Ok(()) => Ok(0),
        // Pages mapped before running out of memory stay mapped (they
        // belong to the process and are freed with it).
        Err(MapError::Frames(_)) => Err(Errno::NoMem),
        Err(_) => Err(Errno::Inval),
    }
}

/// `MemMap`: the boot memory map as little-endian records.
pub(super) fn mem_map(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let mut bytes = Vec::with_capacity(k.memmap.len() * abi::MEMMAP_RECORD);
    for &(start, end, kind) in &k.memmap {
        for w in [start, end, kind] {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
    }
    let room = usize::try_from(f.rsi).unwrap_or(usize::MAX);
    let n = bytes
        .len()
        .min(room / abi::MEMMAP_RECORD * abi::MEMMAP_RECORD);
    write_to(k, slot, f.rdi, &bytes[..n])?;
    Ok(bytes.len() as u64)
}

/// The page-aligned user range of `count` pages at `start` below the top
/// of the stack (where VM may map and unmap), checked.
fn user_pages(start: u64, count: u64) -> Result<AddrRange, Errno> {
    if !start.is_multiple_of(FRAME_SIZE) || count == 0 || count > abi::MAX_MAP_PAGES {
        return Err(Errno::Inval);
    }
    let range = AddrRange::from_len(start, count * FRAME_SIZE).ok_or(Errno::Fault)?;
    let area = AddrRange::new(abi::USER_BASE, abi::USER_STACK_TOP);
    if !area.contains_range(&range) {
        return Err(Errno::Fault);
    }
    Ok(range)
}

/// Reloads CR3 when `slot` is running, after its mappings changed.
fn reload_if_current(k: &Kernel, slot: usize) {
    if k.procs.current() == Some(slot)
        && let Some(p) = k.procs.get(slot)
    {
        cpu::write_cr3(p.ctx.space.root());
    }
}

/// `MapPhys`: maps physical memory from the target's memory ranges.
pub(super) fn map_phys(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let range = user_pages(f.rsi, f.r10)?;
    if !f.rdx.is_multiple_of(FRAME_SIZE) {
        return Err(Errno::Inval);
    }
    let phys = AddrRange::from_len(f.rdx, range.len()).ok_or(Errno::Inval)?;
    let ctx = &mut k.procs.get_mut(target).ok_or(Errno::Inval)?.ctx;
    ctx.hw.may_map(&phys).map_err(|e| e.errno())?;
    let pages = (range.start..range.end).step_by(FRAME_SIZE as usize);
    if pages.clone().any(|va| ctx.space.translate(va).is_some()) {
        return Err(Errno::Fault);
    }
    let writable = f.r8 != 0;
    let space = &mut ctx.space;
    let mapped = FRAMES.with(|fa| {
        pages
            .zip((phys.start..).step_by(FRAME_SIZE as usize))
            .try_for_each(|(va, pa)| space.map_foreign_page(fa, va, pa, writable))
    });
    reload_if_current(k, target);
    mapped.map(|()| 0).map_err(|_| Errno::Inval)
}

/// `ModuleMap`: maps a data module's pages into the caller, not owned.
pub(super) fn module_map(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    if f.rsi > 64 || !f.rdx.is_multiple_of(FRAME_SIZE) {
        return Err(Errno::Inval);
    }
    let mut name = [0u8; 64];
    let name = &mut name[..f.rsi as usize];
    let ctx = &mut k.procs.get_mut(slot).ok_or(Errno::Inval)?.ctx;
    ctx.space.read_user(f.rdi, name).ok_or(Errno::Fault)?;
    let name = core::str::from_utf8(name).map_err(|_| Errno::Inval)?;
    let module = k
        .modules
        .iter()
        .find(|m| m.name() == name && is_data_module(m))
        .ok_or(Errno::Inval)?;
    let size = module.range.len();
    // QEMU places modules on page boundaries; anything else cannot be
    // mapped without exposing a neighbour's bytes.
    if size == 0 || !module.range.start.is_multiple_of(FRAME_SIZE) {
        return Err(Errno::Inval);
    }
    let pages = size.div_ceil(FRAME_SIZE);
    let range = AddrRange::from_len(f.rdx, pages * FRAME_SIZE).ok_or(Errno::Fault)?;
    let area = AddrRange::new(abi::USER_BASE, abi::USER_STACK_BOTTOM - FRAME_SIZE);
    if !area.contains_range(&range) {
        return Err(Errno::Fault);
    }
    let vas = (range.start..range.end).step_by(FRAME_SIZE as usize);
    if vas.clone().any(|va| ctx.space.translate(va).is_some()) {
        return Err(Errno::Fault);
    }
    let phys = module.range.start;
    let space = &mut ctx.space;
    let mapped = FRAMES.with(|fa| {
        vas.zip((phys..).step_by(FRAME_SIZE as usize))
            .try_for_each(|(va, pa)| space.map_foreign_page(fa, va, pa, true))
    });
    reload_if_current(k, slot);
    mapped.map(|()| size).map_err(|_| Errno::Inval)
}

/// `Unmap`: removes pages from a process's user space.
pub(super) fn unmap(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let range = user_pages(f.rsi, f.rdx)?;
    let space = &mut k.procs.get_mut(target).ok_or(Errno::Inval)?.ctx.space;
    let n = FRAMES.with(|fa| space.unmap_pages(fa, range.start, f.rdx));
    reload_if_current(k, target);
    // Only a page table shared by a fork that cannot be copied fails.
    n.map_err(|_| Errno::NoMem)
}

/// `Protect`: changes the write permission of mapped user pages.
pub(super) fn protect(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let range = user_pages(f.rsi, f.rdx)?;
    let writable = f.r10 != 0;
    let space = &mut k.procs.get_mut(target).ok_or(Errno::Inval)?.ctx.space;
    // Reloads CR3 itself when the space is loaded and lost rights.
    FRAMES
        .with(|fa| space.protect(fa, range.start, f.rdx, writable))
        .map_err(|e| match e {
            MapError::ReadOnly(_) => Errno::Perm,
            MapError::Frames(_) => Errno::NoMem,
            _ => Errno::Fault,
        })
}

/// `SharePages`: the frames of `rdi`'s pages at `rsi` mapped read-only
/// at `rdx`'s unmapped pages at `r10`, `r8` pages, each frame gaining a
/// reference.
pub(super) fn share_pages(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let src = live_slot(k, Endpoint(f.rdi as u32))?;
    let dst = live_slot(k, Endpoint(f.rdx as u32))?;
    if src == dst {
        return Err(Errno::Inval);
    }
    let (from, to) = (user_pages(f.rsi, f.r8)?, user_pages(f.r10, f.r8)?);
    // Take the destination out so both spaces can be borrowed.
    let mut space = core::mem::replace(
        &mut k.procs.get_mut(dst).ok_or(Errno::Inval)?.ctx.space,
        AddressSpace::empty(),
    );
    let r = match k.procs.get_mut(src) {
        Some(p) => FRAMES.with(|fa| {
            p.ctx
                .space
                .share_pages_with(fa, from.start, &mut space, to.start, f.r8)
        }),
        None => Err(MapError::NotMapped(from.start)),
    };
    if let Some(p) = k.procs.get_mut(dst) {
        p.ctx.space = space;
    }
    reload_if_current(k, dst);
    r.map_err(|e| match e {
        MapError::Frames(_) => Errno::NoMem,
        _ => Errno::Fault,
    })
}

/// `ClearSpace`: tears down a process's whole user space.
pub(super) fn clear_space(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let space = &mut k.procs.get_mut(target).ok_or(Errno::Inval)?.ctx.space;
    let n = FRAMES.with(|fa| space.clear(fa));
    reload_if_current(k, target);
    Ok(n)
}

/// `CloneSpace`: `rsi`'s user space becomes a copy of `rdi`'s.
pub(super) fn clone_space(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let src = live_slot(k, Endpoint(f.rdi as u32))?;
    let dst = live_slot(k, Endpoint(f.rsi as u32))?;
    if src == dst {
        return Err(Errno::Inval);
    }
    // Take the destination out so both spaces can be borrowed.
    let mut space = core::mem::replace(
        &mut k.procs.get_mut(dst).ok_or(Errno::Inval)?.ctx.space,
        AddressSpace::empty(),
    );
    let from = &k.procs.get(src).ok_or(Errno::Inval)?.ctx.space;
    let r = FRAMES.with(|fa| space.clone_from(fa, from));
    if let Some(p) = k.procs.get_mut(dst) {
        p.ctx.space = space;
    }
    reload_if_current(k, dst);
    r.map(|()| 0).map_err(|_| Errno::Inval)
}
