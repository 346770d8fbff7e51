//! Per-process address spaces.
//!
//! Each process gets its own PML4 -> PDPT. PDPT[0] points at the kernel's
//! shared boot page directory (identity map of the first GiB, 2 MiB pages,
//! supervisor-only), so the kernel runs unchanged in every address space.
//! PDPT[1] points at a private page directory covering the user GiB
//! (`abi::USER_BASE..abi::USER_END`) with 4 KiB pages marked U/S. Every frame
//! the space uses (tables and pages) is recorded so it can be freed when the
//! process ends.

use super::{boot, phys};
use alloc::vec::Vec;
use kernel_core::frame::{FrameAllocator, FrameError};

const PRESENT: u64 = 1;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// Page table that splits the first 2 MiB of the identity map into 4 KiB
/// pages so page 0 can stay unmapped: a kernel null-pointer access then
/// faults (and becomes a kernel panic) instead of reading low memory.
#[repr(C, align(4096))]
struct LowTable([u64; 512]);

static LOW_TABLE: crate::global::Global<LowTable> = crate::global::Global::new(LowTable([0; 512]));

/// Unmaps physical page 0 from the shared kernel identity map. Call once,
/// before any process exists.
pub fn unmap_null_page() {
    LOW_TABLE.with(|t| {
        for (i, e) in t.0.iter_mut().enumerate().skip(1) {
            *e = (i as u64 * 4096) | PRESENT | WRITABLE;
        }
        t.0[0] = 0;
        let table = t.0.as_ptr() as u64;
        // The kernel image is linked in the identity map, so the table's
        // virtual address is its physical address.
        phys::write_entry(boot::kernel_pd_phys(), 0, table | PRESENT | WRITABLE);
    });
    // Reloading CR3 flushes the stale 2 MiB translation.
    super::cpu::write_cr3(boot::boot_pml4_phys());
}

/// Why a mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// Out of physical memory.
    Frames(FrameError),
    /// The address is not in the user range.
    NotUser(u64),
}

impl From<FrameError> for MapError {
    fn from(e: FrameError) -> Self {
        Self::Frames(e)
    }
}

/// A process's page tables and the frames they own.
#[derive(Debug)]
pub struct AddressSpace {
    pml4: u64,
    user_pd: u64,
    frames: Vec<u64>,
}

fn alloc_zeroed<const W: usize>(
    fa: &mut FrameAllocator<W>,
    owned: &mut Vec<u64>,
) -> Result<u64, FrameError> {
    let f = fa.alloc()?;
    phys::zero_frame(f);
    owned.push(f);
    Ok(f)
}

impl AddressSpace {
    /// A new address space with the kernel mapping and an empty user GiB.
    pub fn new<const W: usize>(fa: &mut FrameAllocator<W>) -> Result<Self, MapError> {
        let mut frames = Vec::new();
        let built = (|| {
            let pml4 = alloc_zeroed(fa, &mut frames)?;
            let pdpt = alloc_zeroed(fa, &mut frames)?;
            let user_pd = alloc_zeroed(fa, &mut frames)?;
            phys::write_entry(pml4, 0, pdpt | PRESENT | WRITABLE | USER);
            phys::write_entry(pdpt, 0, boot::kernel_pd_phys() | PRESENT | WRITABLE);
            phys::write_entry(pdpt, 1, user_pd | PRESENT | WRITABLE | USER);
            Ok::<_, FrameError>((pml4, user_pd))
        })();
        match built {
            Ok((pml4, user_pd)) => Ok(Self {
                pml4,
                user_pd,
                frames,
            }),
            Err(e) => {
                release_frames(fa, &frames);
                Err(e.into())
            }
        }
    }

    /// Physical address of the PML4 (the CR3 value).
    pub fn root(&self) -> u64 {
        self.pml4
    }

    /// Number of frames owned (tables and pages).
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }

    /// Maps the user page containing `vaddr` (allocating a zeroed frame if it
    /// is not mapped yet, and adding write permission if asked) and returns
    /// the page's physical address.
    pub fn map_user_page<const W: usize>(
        &mut self,
        fa: &mut FrameAllocator<W>,
        vaddr: u64,
        writable: bool,
    ) -> Result<u64, MapError> {
        if !(abi::USER_BASE..abi::USER_END).contains(&vaddr) {
            return Err(MapError::NotUser(vaddr));
        }
        let pd_index = ((vaddr >> 21) & 511) as usize;
        let pt_index = ((vaddr >> 12) & 511) as usize;
        let mut pde = phys::read_entry(self.user_pd, pd_index);
        if pde & PRESENT == 0 {
            let pt = alloc_zeroed(fa, &mut self.frames)?;
            pde = pt | PRESENT | WRITABLE | USER;
            phys::write_entry(self.user_pd, pd_index, pde);
        }
        let pt = pde & ADDR_MASK;
        let pte = phys::read_entry(pt, pt_index);
        let w = if writable { WRITABLE } else { 0 };
        if pte & PRESENT != 0 {
            phys::write_entry(pt, pt_index, pte | w);
            return Ok(pte & ADDR_MASK);
        }
        let page = alloc_zeroed(fa, &mut self.frames)?;
        phys::write_entry(pt, pt_index, page | PRESENT | USER | w);
        Ok(page)
    }

    /// Physical address backing user address `vaddr`, if mapped (and
    /// writable when `write`).
    pub fn translate_for(&self, vaddr: u64, write: bool) -> Option<u64> {
        let pa = self.translate(vaddr)?;
        let pte = self.leaf(vaddr)?;
        (!write || pte & WRITABLE != 0).then_some(pa)
    }

    fn leaf(&self, vaddr: u64) -> Option<u64> {
        let pde = phys::read_entry(self.user_pd, ((vaddr >> 21) & 511) as usize);
        if pde & PRESENT == 0 {
            return None;
        }
        Some(phys::read_entry(
            pde & ADDR_MASK,
            ((vaddr >> 12) & 511) as usize,
        ))
    }

    /// Copies user memory at `vaddr` into `buf`; `None` if any byte is not
    /// mapped for the user.
    pub fn read_user(&self, vaddr: u64, buf: &mut [u8]) -> Option<()> {
        let mut done = 0;
        while done < buf.len() {
            let va = vaddr.checked_add(done as u64)?;
            let n = ((4096 - (va & 0xFFF)) as usize).min(buf.len() - done);
            let pa = self.translate_for(va, false)?;
            buf[done..done + n].copy_from_slice(phys::read(pa, n));
            done += n;
        }
        Some(())
    }

    /// Copies `data` to user memory at `vaddr`; `None` (nothing written) if
    /// any byte is not mapped writable for the user.
    pub fn write_user(&self, vaddr: u64, data: &[u8]) -> Option<()> {
        let end = vaddr.checked_add(data.len() as u64)?;
        let mut va = vaddr & !0xFFF;
        while va < end {
            self.translate_for(va, true)?;
            va += 4096;
        }
        let mut done = 0;
        while done < data.len() {
            let va = vaddr + done as u64;
            let n = ((4096 - (va & 0xFFF)) as usize).min(data.len() - done);
            let pa = self.translate_for(va, true)?;
            phys::copy_to(pa, &data[done..done + n]);
            done += n;
        }
        Some(())
    }

    /// Physical address backing user address `vaddr`, if mapped.
    pub fn translate(&self, vaddr: u64) -> Option<u64> {
        if !(abi::USER_BASE..abi::USER_END).contains(&vaddr) {
            return None;
        }
        let pde = phys::read_entry(self.user_pd, ((vaddr >> 21) & 511) as usize);
        if pde & PRESENT == 0 {
            return None;
        }
        let pte = phys::read_entry(pde & ADDR_MASK, ((vaddr >> 12) & 511) as usize);
        if pte & PRESENT == 0 || pte & USER == 0 {
            return None;
        }
        Some((pte & ADDR_MASK) | (vaddr & 0xFFF))
    }

    /// Frees every frame of this space. The space must not be loaded in CR3.
    pub fn destroy<const W: usize>(self, fa: &mut FrameAllocator<W>) {
        release_frames(fa, &self.frames);
    }
}

fn release_frames<const W: usize>(fa: &mut FrameAllocator<W>, frames: &[u64]) {
    for &f in frames {
        if let Err(e) = fa.free(f) {
            panic!("address space frame {f:#x} could not be freed: {e:?}");
        }
    }
}
