//! Grants and copies between address spaces: `GrantCreate`, the safe
//! copies through grants, and `VirCopy`.

use crate::arch::paging::AddressSpace;
use crate::arch::trap::TrapFrame;
use abi::Errno;
use kernel_core::frame::FRAME_SIZE;
use kernel_core::grant::{Access, Grant, GrantId, GrantKind, Grantee, resolve};
use kernel_core::process::Endpoint;
use kernel_core::range::AddrRange;

use super::memory::prepare_write;
use super::{Kernel, LiveGrants, target_slot};

pub(super) fn access_of(bits: u64) -> Result<Access, Errno> {
    if bits & !(abi::GRANT_READ | abi::GRANT_WRITE) != 0 {
        return Err(Errno::Inval);
    }
    Ok(Access {
        read: bits & abi::GRANT_READ != 0,
        write: bits & abi::GRANT_WRITE != 0,
    })
}

/// `GrantCreate`: records a direct or indirect grant in the caller's table.
/// A direct grant must lie in user space; whether it is mapped is checked
/// at copy time, when it matters.
pub(super) fn grant_create(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let grantee = if f.rsi as u32 == abi::ENDPOINT_ANY {
        Grantee::Any
    } else {
        Grantee::Ep(Endpoint(f.rsi as u32))
    };
    let access = access_of(f.rdx)?;
    let kind = match f.rdi {
        abi::GRANT_DIRECT => {
            let r = AddrRange::from_len(f.r10, f.r8).ok_or(Errno::Inval)?;
            if !AddrRange::new(abi::USER_BASE, abi::USER_END).contains_range(&r) {
                return Err(Errno::Fault);
            }
            GrantKind::Direct {
                base: f.r10,
                len: f.r8,
            }
        }
        abi::GRANT_INDIRECT => GrantKind::Indirect {
            from: Endpoint((f.r9 >> 32) as u32),
            id: GrantId(f.r9 as u32),
            offset: f.r10,
            len: f.r8,
        },
        _ => return Err(Errno::Inval),
    };
    // Plain users get a small table: they may fork up to every free slot.
    let limit = if k.ipc.privileges(slot).is_some_and(|p| p.servers) {
        abi::MAX_USER_GRANTS
    } else {
        abi::MAX_GRANTS
    };
    let p = k.procs.get_mut(slot).ok_or(Errno::Inval)?;
    let grant = Grant {
        grantee,
        access,
        kind,
    };
    let id = p
        .ctx
        .grants
        .try_create(grant, limit)
        .map_err(|e| e.errno())?;
    Ok(u64::from(id.0))
}

/// `SafeCopyFrom` / `SafeCopyTo`: checks the grant chain, both address
/// ranges, then copies between the two address spaces in chunks.
pub(super) fn safecopy(
    k: &mut Kernel,
    slot: usize,
    f: &TrapFrame,
    to_grant: bool,
) -> Result<u64, Errno> {
    let len = f.r8;
    if len > abi::MAX_SAFECOPY {
        return Err(Errno::Inval);
    }
    let me = k.procs.get(slot).ok_or(Errno::Inval)?.endpoint;
    let want = if to_grant {
        Access::WRITE
    } else {
        Access::READ
    };
    let granter = Endpoint(f.rdi as u32);
    let r = resolve(
        &LiveGrants(&k.procs),
        granter,
        GrantId(f.rsi as u32),
        me,
        f.rdx,
        len,
        want,
    )
    .map_err(|e| e.errno())?;
    let owner_slot = r.owner.slot();
    k.procs.get(owner_slot).ok_or(Errno::DeadSrcDst)?;
    // The destination is about to be written: break copy-on-write there
    // first (harmless if the copy then fails).
    let (dst_slot, dst_addr) = if to_grant {
        (owner_slot, r.addr)
    } else {
        (slot, f.r10)
    };
    prepare_write(k, dst_slot, dst_addr, len)?;
    let owner = &k.procs.get(owner_slot).ok_or(Errno::DeadSrcDst)?.ctx.space;
    let mine = &k.procs.get(slot).ok_or(Errno::Inval)?.ctx.space;
    let (src, src_addr, dst) = if to_grant {
        (mine, f.r10, owner)
    } else {
        (owner, r.addr, mine)
    };
    // Validate every page of both ranges before copying anything.
    let check = |space: &AddressSpace, addr: u64, write: bool| -> Result<(), Errno> {
        let range = AddrRange::from_len(addr, len).ok_or(Errno::Fault)?;
        let pages = range.page_aligned(FRAME_SIZE);
        for page in (pages.start..pages.end).step_by(FRAME_SIZE as usize) {
            space.translate_for(page, write).ok_or(Errno::Fault)?;
        }
        Ok(())
    };
    check(src, src_addr, false)?;
    check(dst, dst_addr, true)?;
    src.copy_to_space(src_addr, dst, dst_addr, len)
        .ok_or(Errno::Fault)?;
    Ok(len)
}

/// `VirCopy`: copies between two live processes' memory without a grant.
pub(super) fn vircopy(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let len = f.r9;
    if len > abi::MAX_SAFECOPY {
        return Err(Errno::Inval);
    }
    let src = target_slot(k, slot, f.rdi)?;
    let dst = target_slot(k, slot, f.rdx)?;
    prepare_write(k, dst, f.r10, len)?;
    let space = |s: usize| k.procs.get(s).map(|p| &p.ctx.space).ok_or(Errno::Inval);
    let (from, to) = (space(src)?, space(dst)?);
    // Check both ranges completely before copying anything.
    let check = |sp: &AddressSpace, addr: u64, write: bool| -> Result<(), Errno> {
        let range = AddrRange::from_len(addr, len).ok_or(Errno::Fault)?;
        let pages = range.page_aligned(FRAME_SIZE);
        for page in (pages.start..pages.end).step_by(FRAME_SIZE as usize) {
            sp.translate_for(page, write).ok_or(Errno::Fault)?;
        }
        Ok(())
    };
    check(from, f.rsi, false)?;
    check(to, f.r10, true)?;
    from.copy_to_space(f.rsi, to, f.r10, len)
        .ok_or(Errno::Fault)?;
    Ok(len)
}
