//! Per-process address spaces.
//!
//! Each process gets its own PML4 -> PDPT. PDPT[0] points at the kernel's
//! shared boot page directory (identity map of the first GiB, 2 MiB pages,
//! supervisor-only), so the kernel runs unchanged in every address space.
//! PDPT[1] points at a private page directory covering the user GiB
//! (`abi::USER_BASE..abi::USER_END`) with 4 KiB pages marked U/S. The
//! page-table frames are recorded in a short list (at most 515); the user
//! pages a space owns are exactly its present entries without the
//! `FOREIGN` bit, so they need no list on the kernel heap (whose use then
//! does not grow with memory or forks). A space holds one reference to
//! every owned frame it maps, so frames shared copy-on-write after a fork
//! (`share_into`) are freed with their last space. A write to a copy-on-write page breaks the
//! sharing (`make_writable`: the kernel's own writes into user memory go
//! through `write_user`/`prepare_write`, which do it first).
//!
//! A fork shares the page *tables*, not each page (`share_into`): every
//! user page table gains a reference and both spaces map it through a
//! page-directory entry without write permission, so the fork costs one
//! step per 2 MiB instead of one per page, and so does the end of a space
//! that never wrote (a child exiting at once). A space's first write
//! through a shared table makes it its own (`own_table`): if another space
//! still uses the table it is copied, and only then does every owned frame
//! it maps gain a reference and every writable entry become copy-on-write
//! (in both copies); if none does, the directory entry just regains write
//! permission and the pages stay as they were. Invariant: a page table with
//! more than one reference is only mapped by read-only directory entries,
//! so its entries never change while shared; every change of an entry goes
//! through `own_table` first.

use super::{boot, cpu, phys};
use alloc::vec::Vec;
use kernel_core::cow::{self, ADDR_MASK, COW, FOREIGN, MAY_WRITE, PRESENT, USER, WRITABLE};
use kernel_core::frame::{FrameAllocator, FrameError};
use x86_64::PhysAddr;
use x86_64::structures::paging::{PageTable, PageTableFlags};
/// Pages in the user GiB.
const USER_PAGES: u64 = (abi::USER_END - abi::USER_BASE) / 4096;
/// Page-directory entry bits of a user page table this space alone uses.
const TABLE_OWNED: u64 = PRESENT | WRITABLE | USER;
/// Page-directory entry bits of a user page table shared by a fork
/// (read-only until a space makes it its own).
const TABLE_SHARED: u64 = PRESENT | USER;

/// Page table that splits the first 2 MiB of the identity map into 4 KiB
/// pages so page 0 can stay unmapped: a kernel null-pointer access then
/// faults (and becomes a kernel panic) instead of reading low memory.
static LOW_TABLE: crate::global::Global<PageTable> = crate::global::Global::new(PageTable::new());

/// Unmaps physical page 0 from the shared kernel identity map. Call once,
/// before any process exists.
pub fn unmap_null_page() {
    LOW_TABLE.with(|t| {
        let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE;
        for (i, e) in t.iter_mut().enumerate().skip(1) {
            e.set_addr(PhysAddr::new(i as u64 * 4096), flags);
        }
        t[0].set_unused();
        // The kernel image is linked in the identity map, so the table's
        // virtual address is its physical address.
        let table = core::ptr::from_ref(t) as u64;
        phys::write_entry(boot::kernel_pd_phys(), 0, table | flags.bits());
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
    /// Nothing is mapped at the address.
    NotMapped(u64),
    /// The page is read-only (not copy-on-write).
    ReadOnly(u64),
}

/// What [`AddressSpace::make_writable`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CowBreak {
    /// The page was writable already.
    Writable,
    /// Copy-on-write page of its frame's last reference: made writable.
    Reused,
    /// Copy-on-write page of a shared frame: copied into a fresh frame.
    Copied,
}

impl From<FrameError> for MapError {
    fn from(e: FrameError) -> Self {
        Self::Frames(e)
    }
}

/// A process's page tables; it owns them and the frames its non-foreign
/// user entries map.
#[derive(Debug)]
pub struct AddressSpace {
    pml4: u64,
    user_pd: u64,
    /// Which entries of the user page directory are present (bit `i` of
    /// word `i / 64`), so walks over the space (fork, teardown) visit only
    /// its page tables, not all 512 entries.
    dir: [u64; 8],
    /// Page-table frames (PML4, PDPT, user PD, page tables).
    tables: Vec<u64>,
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
                dir: [0; 8],
                tables: frames,
            }),
            Err(e) => {
                release_frames(fa, &frames);
                Err(e.into())
            }
        }
    }

    /// A placeholder owning nothing, to hold a slot's place while its real
    /// space is briefly taken out; never loaded or used for mapping.
    pub const fn empty() -> Self {
        Self {
            pml4: 0,
            user_pd: 0,
            dir: [0; 8],
            tables: Vec::new(),
        }
    }

    /// The present entries of the user page directory, in order.
    fn dir_indices(&self) -> impl Iterator<Item = usize> + use<> {
        let dir = self.dir;
        (0..8).flat_map(move |w| {
            let mut bits = dir[w];
            core::iter::from_fn(move || {
                let b = bits.trailing_zeros() as usize;
                bits &= bits.wrapping_sub(1);
                (b < 64).then_some(w * 64 + b)
            })
        })
    }

    /// Records whether user directory entry `i` is present.
    fn set_dir(&mut self, i: usize, present: bool) {
        if present {
            self.dir[i / 64] |= 1 << (i % 64);
        } else {
            self.dir[i / 64] &= !(1 << (i % 64));
        }
    }

    /// Physical address of the PML4 (the CR3 value).
    pub fn root(&self) -> u64 {
        self.pml4
    }

    /// Number of frames owned (tables and pages).
    pub fn frame_count(&self) -> usize {
        let pages = self
            .user_pages_in(abi::USER_BASE, abi::USER_END)
            .filter(|&(.., pte)| pte & FOREIGN == 0)
            .count();
        self.tables.len() + pages
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
        let pt_index = ((vaddr >> 12) & 511) as usize;
        let pt = self.table_for(fa, vaddr)?;
        let pte = phys::read_entry(pt, pt_index);
        let w = if writable { WRITABLE } else { 0 };
        if pte & PRESENT != 0 {
            // A physical mapping keeps the rights it was mapped with; an
            // owned page asked to be writable gets the `Protect` rule: a
            // frame still shared (copy-on-write, or read-only text after a
            // fork) becomes copy-on-write, never writable in place.
            if writable
                && pte & FOREIGN == 0
                && let Ok(new) = cow::protect(pte, true, fa.refcount(pte & ADDR_MASK))
                && new != pte
            {
                phys::write_entry(pt, pt_index, new);
            }
            return Ok(pte & ADDR_MASK);
        }
        let page = fa.alloc()?;
        phys::zero_frame(page);
        phys::write_entry(pt, pt_index, page | PRESENT | USER | w);
        Ok(page)
    }

    /// Maps the frame `frame`, handed out by the allocator to this space
    /// (now owned: freed with it or by `unmap_pages`), writable at the
    /// unmapped user page `vaddr`. On an error the frame is not taken.
    pub fn map_owned_frame<const W: usize>(
        &mut self,
        fa: &mut FrameAllocator<W>,
        vaddr: u64,
        frame: u64,
    ) -> Result<(), MapError> {
        if !(abi::USER_BASE..abi::USER_END).contains(&vaddr)
            || self.leaf(vaddr).is_some_and(|e| e & PRESENT != 0)
        {
            return Err(MapError::NotUser(vaddr));
        }
        let pt = self.table_for(fa, vaddr)?;
        phys::zero_frame(frame);
        let entry = (frame & ADDR_MASK) | PRESENT | USER | WRITABLE;
        phys::write_entry(pt, ((vaddr >> 12) & 511) as usize, entry);
        Ok(())
    }

    /// Maps physical page `phys` (not owned: never freed or copied) at the
    /// unmapped user page `vaddr`. Fails with `NotUser` if `vaddr` is
    /// outside user space or already mapped.
    pub fn map_foreign_page<const W: usize>(
        &mut self,
        fa: &mut FrameAllocator<W>,
        vaddr: u64,
        phys: u64,
        writable: bool,
    ) -> Result<(), MapError> {
        if !(abi::USER_BASE..abi::USER_END).contains(&vaddr)
            || self.leaf(vaddr).is_some_and(|e| e & PRESENT != 0)
        {
            return Err(MapError::NotUser(vaddr));
        }
        let pt = self.table_for(fa, vaddr)?;
        // `MAY_WRITE` remembers the right for `Protect`.
        let w = if writable { WRITABLE | MAY_WRITE } else { 0 };
        let entry = (phys & ADDR_MASK) | PRESENT | USER | FOREIGN | w;
        phys::write_entry(pt, ((vaddr >> 12) & 511) as usize, entry);
        Ok(())
    }

    /// The page table covering `vaddr`, this space's own (see
    /// [`Self::own_table`]), allocated if missing.
    fn table_for<const W: usize>(
        &mut self,
        fa: &mut FrameAllocator<W>,
        vaddr: u64,
    ) -> Result<u64, MapError> {
        let pd_index = ((vaddr >> 21) & 511) as usize;
        if let Some(pt) = self.own_table(fa, pd_index)? {
            return Ok(pt);
        }
        let pt = alloc_zeroed(fa, &mut self.tables)?;
        phys::write_entry(self.user_pd, pd_index, pt | TABLE_OWNED);
        self.set_dir(pd_index, true);
        Ok(pt)
    }

    /// Makes the user page table of directory entry `pd_index` this
    /// space's own so its entries may change: a table shared by a fork
    /// (read-only directory entry) that other spaces still use is copied
    /// (every owned frame it maps gains a reference, writable entries
    /// become copy-on-write in both copies; the other spaces keep the old
    /// table, still read-only for them), one no other space uses any more
    /// just regains write permission. `None` if there is no table. Running
    /// out of frames (or references) changes nothing.
    fn own_table<const W: usize>(
        &mut self,
        fa: &mut FrameAllocator<W>,
        pd_index: usize,
    ) -> Result<Option<u64>, MapError> {
        let pde = phys::read_entry(self.user_pd, pd_index);
        if pde & PRESENT == 0 {
            return Ok(None);
        }
        let mut pt = pde & ADDR_MASK;
        if pde & WRITABLE != 0 {
            return Ok(Some(pt));
        }
        if fa.refcount(pt) > 1 {
            if let Some(e) = (0..512).map(|i| phys::read_entry(pt, i)).find(|&e| {
                e & (PRESENT | FOREIGN) == PRESENT
                    && fa.refcount(e & ADDR_MASK) > u32::from(u8::MAX)
            }) {
                return Err(MapError::Frames(FrameError::TooShared(e & ADDR_MASK)));
            }
            let copy = fa.alloc()?;
            for i in 0..512 {
                let e = phys::read_entry(pt, i);
                let mut out = e;
                if e & PRESENT != 0 {
                    let shared = cow::share(e);
                    if shared.owned {
                        // Checked above: the count has room.
                        fa.share(e & ADDR_MASK)?;
                    }
                    if shared.pte != e {
                        // The other spaces map it read-only (their
                        // directory entry): no stale writable translation.
                        phys::write_entry(pt, i, shared.pte);
                    }
                    out = shared.pte;
                }
                phys::write_entry(copy, i, out);
            }
            // The other spaces keep the old table.
            let _ = fa.release(pt);
            if let Some(t) = self.tables.iter_mut().find(|t| **t == pt) {
                *t = copy;
            }
            pt = copy;
        }
        phys::write_entry(self.user_pd, pd_index, pt | TABLE_OWNED);
        // The directory entry changed: one `invlpg` in its range drops the
        // cached directory entries (all paging-structure caches) and that
        // page's translation, without the full flush of a CR3 reload
        // (which under QEMU TCG empties the whole soft TLB). Translations
        // of other pages in the range may stay cached, but never with more
        // rights than the new entries give (they were read-only, and a
        // copied table maps the same frames): at worst a spurious write
        // fault, which `resolve_write_fault` retries.
        if self.is_loaded() {
            cpu::invlpg(abi::USER_BASE + ((pd_index as u64) << 21));
        }
        Ok(Some(pt))
    }

    /// A user write fault at `vaddr` that the kernel resolves itself,
    /// without the pager, because no page needs a copy: the page table is
    /// one a fork shares (made this space's own, [`Self::own_table`]) and
    /// the page is writable or copy-on-write, and/or the page is
    /// copy-on-write but its frame has no other reference any more (made
    /// writable in place, counted as a break without a copy). Returns
    /// whether it changed anything (the write is then retried; a
    /// copy-on-write page whose frame is still shared faults again and
    /// goes to the pager, which has every copy made). A write fault on a
    /// page already writable (a stale translation) is retried too.
    pub fn resolve_write_fault<const W: usize>(
        &mut self,
        fa: &mut FrameAllocator<W>,
        vaddr: u64,
    ) -> bool {
        if !(abi::USER_BASE..abi::USER_END).contains(&vaddr) {
            return false;
        }
        let pd_index = ((vaddr >> 21) & 511) as usize;
        let idx = ((vaddr >> 12) & 511) as usize;
        let pde = phys::read_entry(self.user_pd, pd_index);
        if pde & PRESENT == 0
            || !matches!(
                cow::write_check(phys::read_entry(pde & ADDR_MASK, idx)),
                cow::Write::Writable | cow::Write::Cow
            )
        {
            return false;
        }
        let table_changed = pde & WRITABLE == 0;
        let Ok(Some(pt)) = self.own_table(fa, pd_index) else {
            return false;
        };
        let pte = phys::read_entry(pt, idx);
        if !table_changed && pte & WRITABLE != 0 {
            // Writable already: a stale read-only translation (see
            // `own_table`); drop it and retry.
            if self.is_loaded() {
                cpu::invlpg(vaddr);
            }
            return true;
        }
        if cow::write_check(pte) == cow::Write::Cow && fa.refcount(pte & ADDR_MASK) == 1 {
            phys::write_entry(pt, idx, cow::broken(pte, pte & ADDR_MASK));
            fa.record_cow(false);
            if self.is_loaded() {
                cpu::invlpg(vaddr);
            }
            return true;
        }
        table_changed
    }

    /// Unmaps the user pages `vaddr .. vaddr + count * 4096` (page-aligned),
    /// freeing owned frames; returns how many pages were mapped. Page tables
    /// stay (they are freed with the space). The space must be reloaded in
    /// CR3 afterwards if it is the current one. Fails only when a page
    /// table shared by a fork cannot be copied (pages before it are
    /// unmapped).
    pub fn unmap_pages<const W: usize>(
        &mut self,
        fa: &mut FrameAllocator<W>,
        vaddr: u64,
        count: u64,
    ) -> Result<u64, MapError> {
        let mut unmapped = 0;
        for i in 0..count.min(USER_PAGES) {
            let va = vaddr + i * 4096;
            if !(abi::USER_BASE..abi::USER_END).contains(&va) {
                break;
            }
            if self.leaf(va).is_none_or(|pte| pte & PRESENT == 0) {
                continue;
            }
            let Some(pt) = self.own_table(fa, ((va >> 21) & 511) as usize)? else {
                continue;
            };
            let idx = ((va >> 12) & 511) as usize;
            let pte = phys::read_entry(pt, idx);
            phys::write_entry(pt, idx, 0);
            unmapped += 1;
            // A shared frame loses this space's reference; the last one
            // frees it.
            if pte & FOREIGN == 0 {
                release_frame(fa, pte & ADDR_MASK);
            }
        }
        Ok(unmapped)
    }

    /// Replaces this (non-current) space's user mappings with a copy of
    /// `src`'s: owned pages are copied into fresh frames (a copy-on-write
    /// page becomes a private writable copy), foreign (physical) mappings
    /// are shared. On running out of memory this space keeps what was
    /// copied so far (freed with it).
    pub fn clone_from<const W: usize>(
        &mut self,
        fa: &mut FrameAllocator<W>,
        src: &AddressSpace,
    ) -> Result<(), MapError> {
        self.clear(fa);
        for (va, _, _, pte) in src.user_pages_in(abi::USER_BASE, abi::USER_END) {
            let writable = pte & (WRITABLE | COW) != 0;
            if pte & FOREIGN != 0 {
                // Shared as it is (with its current and original rights).
                let pt = self.table_for(fa, va)?;
                phys::write_entry(pt, ((va >> 12) & 511) as usize, pte);
            } else {
                let page = self.map_user_page(fa, va, writable)?;
                phys::copy_to(page, phys::read(pte & ADDR_MASK, 4096));
            }
        }
        Ok(())
    }

    /// Shares this space's user pages with `child`, a fresh space with no
    /// user pages (fork), by sharing the page tables: every user page
    /// table gains a reference and both spaces map it read-only in their
    /// page directory (see the module notes: the pages themselves gain
    /// references and become copy-on-write only when a space writes
    /// through the table while the other still uses it). Nothing changes
    /// on an error. Returns the number of page tables shared.
    pub fn share_into<const W: usize>(
        &mut self,
        fa: &mut FrameAllocator<W>,
        child: &mut AddressSpace,
    ) -> Result<u64, MapError> {
        let tables = || {
            self.dir_indices()
                .map(|i| (i, phys::read_entry(self.user_pd, i) & ADDR_MASK))
        };
        // A count that cannot grow any more fails before anything changes
        // (not reachable with 64 process slots).
        if let Some((_, pt)) = tables().find(|&(_, pt)| fa.refcount(pt) > u32::from(u8::MAX)) {
            return Err(MapError::Frames(FrameError::TooShared(pt)));
        }
        let shared: Vec<(usize, u64)> = tables().collect();
        child.tables.reserve(shared.len());
        for &(i, pt) in &shared {
            fa.share(pt)?;
            let pde = pt | TABLE_SHARED;
            phys::write_entry(self.user_pd, i, pde);
            phys::write_entry(child.user_pd, i, pde);
            child.set_dir(i, true);
            child.tables.push(pt);
        }
        // Pages of this space lost write permission: drop stale
        // translations if it is loaded (a process forking itself).
        if self.is_loaded() {
            cpu::write_cr3(self.pml4);
        }
        Ok(shared.len() as u64)
    }

    /// Owned pages mapped through page tables that more than one space
    /// uses (shared by a fork) whose frames have a single reference: the
    /// frames shared that way, for `MemStats`. Tables listed in `seen` are
    /// skipped, and each one counted is added to it (a table is seen from
    /// every space that shares it).
    pub fn pages_in_shared_tables<const W: usize>(
        &self,
        fa: &FrameAllocator<W>,
        seen: &mut Vec<u64>,
    ) -> u64 {
        if self.pml4 == 0 {
            return 0;
        }
        let mut n = 0;
        for i in self.dir_indices() {
            let pde = phys::read_entry(self.user_pd, i);
            let pt = pde & ADDR_MASK;
            if pde & (PRESENT | WRITABLE) != PRESENT || fa.refcount(pt) < 2 || seen.contains(&pt) {
                continue;
            }
            seen.push(pt);
            n += (0..512)
                .map(|j| phys::read_entry(pt, j))
                .filter(|&e| e & (PRESENT | FOREIGN) == PRESENT && fa.refcount(e & ADDR_MASK) == 1)
                .count() as u64;
        }
        n
    }

    /// Whether this space is the one loaded in CR3.
    fn is_loaded(&self) -> bool {
        self.pml4 != 0 && cpu::read_cr3() == self.pml4
    }

    /// Makes the user page at `vaddr` writable if it is a copy-on-write
    /// page: with other references left, its frame is copied into a fresh
    /// one (this space's reference moves to the copy); with none, the page
    /// is just made writable. Errors: nothing mapped (`NotMapped`), a
    /// read-only page (`ReadOnly`), no free frame (`Frames`).
    pub fn make_writable<const W: usize>(
        &mut self,
        fa: &mut FrameAllocator<W>,
        vaddr: u64,
    ) -> Result<CowBreak, MapError> {
        if !(abi::USER_BASE..abi::USER_END).contains(&vaddr) {
            return Err(MapError::NotUser(vaddr));
        }
        let pde = phys::read_entry(self.user_pd, ((vaddr >> 21) & 511) as usize);
        if pde & PRESENT == 0 {
            return Err(MapError::NotMapped(vaddr));
        }
        let idx = ((vaddr >> 12) & 511) as usize;
        match cow::write_check(phys::read_entry(pde & ADDR_MASK, idx)) {
            cow::Write::NotPresent => return Err(MapError::NotMapped(vaddr)),
            cow::Write::ReadOnly => return Err(MapError::ReadOnly(vaddr)),
            cow::Write::Writable | cow::Write::Cow => {}
        }
        // A table shared by a fork becomes this space's own first (its
        // entries may turn copy-on-write then).
        let pt = self
            .own_table(fa, ((vaddr >> 21) & 511) as usize)?
            .ok_or(MapError::NotMapped(vaddr))?;
        let pte = phys::read_entry(pt, idx);
        match cow::write_check(pte) {
            cow::Write::NotPresent => return Err(MapError::NotMapped(vaddr)),
            cow::Write::ReadOnly => return Err(MapError::ReadOnly(vaddr)),
            cow::Write::Writable => return Ok(CowBreak::Writable),
            cow::Write::Cow => {}
        }
        let old = pte & ADDR_MASK;
        let result = if cow::must_copy(fa.refcount(old)) {
            let new = fa.alloc()?;
            phys::copy_frame(old, new);
            // Others keep the old frame.
            let _ = fa.release(old);
            phys::write_entry(pt, idx, cow::broken(pte, new));
            CowBreak::Copied
        } else {
            phys::write_entry(pt, idx, cow::broken(pte, old));
            CowBreak::Reused
        };
        fa.record_cow(result == CowBreak::Copied);
        if self.is_loaded() {
            cpu::invlpg(vaddr);
        }
        Ok(result)
    }

    /// Shares the frames of this space's `count` user pages at
    /// page-aligned `src_va` with `dst`, mapped read-only at its unmapped
    /// pages at `dst_va` (`SharePages`): each frame gains a reference, a
    /// writable source page becomes copy-on-write (as after a fork), the
    /// destination's pages are read-only (made writable later, they are
    /// copy-on-write). Every page is checked first, so on these errors
    /// nothing changes: `NotMapped` for a source page not mapped or
    /// physical (`FOREIGN`), `NotUser` for a destination page mapped or a
    /// range outside the user area. Running out of frames for page tables
    /// (or references) leaves the pages shared before shared. Returns the
    /// count. Neither space may be loaded in CR3 if its mappings must take
    /// effect at once: the caller reloads it.
    pub fn share_pages_with<const W: usize>(
        &mut self,
        fa: &mut FrameAllocator<W>,
        src_va: u64,
        dst: &mut AddressSpace,
        dst_va: u64,
        count: u64,
    ) -> Result<u64, MapError> {
        let in_user = |va: u64| {
            count
                .checked_mul(4096)
                .and_then(|len| va.checked_add(len))
                .is_some_and(|end| va >= abi::USER_BASE && end <= abi::USER_END)
        };
        if !in_user(src_va) {
            return Err(MapError::NotUser(src_va));
        }
        if !in_user(dst_va) {
            return Err(MapError::NotUser(dst_va));
        }
        for i in 0..count {
            let (s, d) = (src_va + i * 4096, dst_va + i * 4096);
            match self.leaf(s) {
                Some(e) if e & PRESENT != 0 && e & FOREIGN == 0 => {}
                _ => return Err(MapError::NotMapped(s)),
            }
            if dst.leaf(d).is_some_and(|e| e & PRESENT != 0) {
                return Err(MapError::NotUser(d));
            }
        }
        let mut lost_write = false;
        for i in 0..count {
            let (s, d) = (src_va + i * 4096, dst_va + i * 4096);
            // This space's own table (a fork may share it) before its
            // entry changes.
            let spt = self.table_for(fa, s)?;
            let sidx = ((s >> 12) & 511) as usize;
            let e = phys::read_entry(spt, sidx);
            let dpt = dst.table_for(fa, d)?;
            let shared = cow::share(e);
            fa.share(e & ADDR_MASK)?;
            if shared.pte != e {
                phys::write_entry(spt, sidx, shared.pte);
                lost_write = true;
            }
            let ro = shared.pte & !(WRITABLE | COW);
            phys::write_entry(dpt, ((d >> 12) & 511) as usize, ro);
        }
        if lost_write && self.is_loaded() {
            cpu::write_cr3(self.pml4);
        }
        Ok(count)
    }

    /// Changes the write permission of the `count` user pages at
    /// page-aligned `vaddr` by the `cow::protect` rule (never write access
    /// to a shared frame: such a page stays or becomes copy-on-write).
    /// Every page is checked first, so on an error nothing changes:
    /// `NotMapped` for a page not mapped, `ReadOnly` for a physical page
    /// mapped read-only that was to be made writable. Returns the number
    /// of pages whose entry changed.
    pub fn protect<const W: usize>(
        &mut self,
        fa: &mut FrameAllocator<W>,
        vaddr: u64,
        count: u64,
        writable: bool,
    ) -> Result<u64, MapError> {
        let end = count
            .checked_mul(4096)
            .and_then(|len| vaddr.checked_add(len))
            .filter(|&end| vaddr >= abi::USER_BASE && end <= abi::USER_END)
            .ok_or(MapError::NotUser(vaddr))?;
        let entry = |va: u64| -> Result<(u64, usize, u64), MapError> {
            let pde = phys::read_entry(self.user_pd, ((va >> 21) & 511) as usize);
            let (pt, idx) = (pde & ADDR_MASK, ((va >> 12) & 511) as usize);
            if pde & PRESENT == 0 {
                return Err(MapError::NotMapped(va));
            }
            let pte = phys::read_entry(pt, idx);
            let refs = if pte & FOREIGN == 0 {
                fa.refcount(pte & ADDR_MASK)
            } else {
                0
            };
            match cow::protect(pte, writable, refs) {
                Ok(new) => Ok((pt, idx, new)),
                Err(cow::Refused::NotPresent) => Err(MapError::NotMapped(va)),
                Err(cow::Refused::Perm) => Err(MapError::ReadOnly(va)),
            }
        };
        let pages = (vaddr..end).step_by(4096);
        for va in pages.clone() {
            entry(va)?;
        }
        // Tables shared by a fork become this space's own (no visible
        // change, so running out of frames here changes nothing).
        if end > vaddr {
            for pd_index in ((vaddr >> 21) & 511)..=(((end - 1) >> 21) & 511) {
                self.own_table(fa, pd_index as usize)?;
            }
        }
        let entry = |va: u64| -> Result<(u64, usize, u64), MapError> {
            let pde = phys::read_entry(self.user_pd, ((va >> 21) & 511) as usize);
            let (pt, idx) = (pde & ADDR_MASK, ((va >> 12) & 511) as usize);
            let pte = phys::read_entry(pt, idx);
            let refs = if pte & FOREIGN == 0 {
                fa.refcount(pte & ADDR_MASK)
            } else {
                0
            };
            cow::protect(pte, writable, refs)
                .map(|new| (pt, idx, new))
                .map_err(|_| MapError::NotMapped(va))
        };
        let mut changed = 0;
        for va in pages {
            let (pt, idx, new) = entry(va)?;
            if new != phys::read_entry(pt, idx) {
                phys::write_entry(pt, idx, new);
                changed += 1;
            }
        }
        // Pages may have lost write permission: drop stale translations.
        if changed > 0 && self.is_loaded() {
            cpu::write_cr3(self.pml4);
        }
        Ok(changed)
    }

    /// Breaks copy-on-write on every page of `vaddr .. vaddr + len` (the
    /// kernel is about to write there); fails if a page is not mapped
    /// writable or copy-on-write. Pages before a failure stay broken
    /// (invisible to the process).
    pub fn prepare_write<const W: usize>(
        &mut self,
        fa: &mut FrameAllocator<W>,
        vaddr: u64,
        len: u64,
    ) -> Result<(), MapError> {
        if len == 0 {
            return Ok(());
        }
        let end = vaddr.checked_add(len).ok_or(MapError::NotUser(vaddr))?;
        let mut page = vaddr & !0xFFF;
        while page < end {
            self.make_writable(fa, page)?;
            page += 4096;
        }
        Ok(())
    }

    /// Unmaps every user page (freeing owned frames); returns the count.
    pub fn clear<const W: usize>(&mut self, fa: &mut FrameAllocator<W>) -> u64 {
        let mut n = 0;
        for i in self.dir_indices() {
            let pde = phys::read_entry(self.user_pd, i);
            let pt = pde & ADDR_MASK;
            let entries = (0..512).filter(|&j| phys::read_entry(pt, j) & PRESENT != 0);
            if pde & WRITABLE == 0 && fa.refcount(pt) > 1 {
                // A table other spaces still use: this space just lets go
                // of it.
                n += entries.count() as u64;
                phys::write_entry(self.user_pd, i, 0);
                self.set_dir(i, false);
                release_frame(fa, pt);
                self.tables.retain(|&t| t != pt);
                continue;
            }
            for j in entries {
                let pte = phys::read_entry(pt, j);
                phys::write_entry(pt, j, 0);
                if pte & FOREIGN == 0 {
                    release_frame(fa, pte & ADDR_MASK);
                }
                n += 1;
            }
            phys::write_entry(self.user_pd, i, pt | TABLE_OWNED);
        }
        n
    }

    /// Physical address backing user address `vaddr`, if mapped (and
    /// writable when `write`).
    pub fn translate_for(&self, vaddr: u64, write: bool) -> Option<u64> {
        let pa = self.translate(vaddr)?;
        let pte = self.leaf(vaddr)?;
        // A page in a table shared by a fork is not writable until the
        // table is this space's own.
        let pde = phys::read_entry(self.user_pd, ((vaddr >> 21) & 511) as usize);
        (!write || pte & pde & WRITABLE != 0).then_some(pa)
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

    /// Copies `data` to user memory at `vaddr`, breaking copy-on-write
    /// first; `None` (nothing written) if any byte is not mapped writable
    /// (or copy-on-write) for the user, or no frame is left for a copy.
    pub fn write_user<const W: usize>(
        &mut self,
        fa: &mut FrameAllocator<W>,
        vaddr: u64,
        data: &[u8],
    ) -> Option<()> {
        self.prepare_write(fa, vaddr, data.len() as u64).ok()?;
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

    /// Copies `len` bytes from user address `src_va` of this space to
    /// user address `dst_va` of `dst` (possibly this space), frame to frame
    /// through the identity map, without a bounce buffer. `None` if a page
    /// is not mapped (writable, for `dst`) or lies outside the identity map;
    /// callers check every page first, so a failure copies nothing.
    pub fn copy_to_space(
        &self,
        src_va: u64,
        dst: &AddressSpace,
        dst_va: u64,
        len: u64,
    ) -> Option<()> {
        let mut done = 0u64;
        while done < len {
            let (s, d) = (src_va.checked_add(done)?, dst_va.checked_add(done)?);
            let n = (len - done).min(4096 - (s & 0xFFF)).min(4096 - (d & 0xFFF));
            let ps = self.translate_for(s, false)?;
            let pd = dst.translate_for(d, true)?;
            if !phys::copy(ps, pd, n as usize) {
                return None;
            }
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
        // Physical mappings above the kernel's identity map (device
        // memory) or of physical page 0 (left out of it to catch null
        // pointers) cannot be reached by kernel copies.
        let pa = pte & ADDR_MASK;
        if pte & FOREIGN != 0 && (pa >= phys::IDENTITY_LIMIT || pa == 0) {
            return None;
        }
        Some((pte & ADDR_MASK) | (vaddr & 0xFFF))
    }

    /// Whether any user page in `start..end` is mapped.
    pub fn any_mapped(&self, start: u64, end: u64) -> bool {
        self.user_pages_in(start, end).next().is_some()
    }

    /// Present user pages in `start..end` (2 MiB-aligned bounds inside the
    /// user GiB): (virtual address, page-table frame, index, PTE).
    fn user_pages_in(
        &self,
        start: u64,
        end: u64,
    ) -> impl Iterator<Item = (u64, u64, usize, u64)> + '_ {
        let first = (start.max(abi::USER_BASE) - abi::USER_BASE) >> 21;
        let last = (end.clamp(abi::USER_BASE, abi::USER_END) - abi::USER_BASE) >> 21;
        let dir = self.dir;
        (first..last)
            .filter(move |&i| dir[i as usize / 64] & (1 << (i % 64)) != 0)
            .flat_map(move |pd_index| {
                let pde = phys::read_entry(self.user_pd, pd_index as usize);
                let pt = pde & ADDR_MASK;
                (0..512u64)
                    .filter(move |_| pde & PRESENT != 0)
                    .filter_map(move |i| {
                        let pte = phys::read_entry(pt, i as usize);
                        let va = abi::USER_BASE + (pd_index << 21) + (i << 12);
                        (pte & PRESENT != 0).then_some((va, pt, i as usize, pte))
                    })
            })
    }

    /// Moves every page mapped in `start..end` (2 MiB-aligned) from this
    /// space to `dst` at the same addresses, with its frame's ownership
    /// (remapped, not copied); `dst` must have nothing mapped there. Page
    /// tables `dst` needs are allocated first, so running out of memory
    /// moves nothing. Neither space may be loaded in CR3. Returns the
    /// number of pages moved.
    pub fn move_pages_to<const W: usize>(
        &mut self,
        fa: &mut FrameAllocator<W>,
        dst: &mut AddressSpace,
        start: u64,
        end: u64,
    ) -> Result<u64, MapError> {
        // Tables shared by a fork become this space's own first.
        for va in (start.max(abi::USER_BASE)..end.min(abi::USER_END)).step_by(1 << 21) {
            self.own_table(fa, ((va >> 21) & 511) as usize)?;
        }
        let pages: Vec<(u64, u64, usize, u64)> = self.user_pages_in(start, end).collect();
        for &(va, ..) in &pages {
            dst.table_for(fa, va)?;
        }
        // Ownership (and the reference) moves with the entry.
        for &(va, pt, idx, pte) in &pages {
            let dst_pt = dst.table_for(fa, va)?;
            phys::write_entry(dst_pt, ((va >> 12) & 511) as usize, pte);
            phys::write_entry(pt, idx, 0);
        }
        Ok(pages.len() as u64)
    }

    /// Frees every frame of this space (dropping its reference to shared
    /// ones). The space must not be loaded in CR3.
    pub fn destroy<const W: usize>(self, fa: &mut FrameAllocator<W>) {
        if self.pml4 != 0 {
            for i in self.dir_indices() {
                let pde = phys::read_entry(self.user_pd, i);
                let pt = pde & ADDR_MASK;
                // A table other spaces still use keeps its pages (its
                // reference is dropped with the tables below).
                if pde & PRESENT == 0 || fa.refcount(pt) > 1 {
                    continue;
                }
                for j in 0..512 {
                    let pte = phys::read_entry(pt, j);
                    if pte & (PRESENT | FOREIGN) == PRESENT {
                        release_frame(fa, pte & ADDR_MASK);
                    }
                }
            }
        }
        release_frames(fa, &self.tables);
    }
}

fn release_frames<const W: usize>(fa: &mut FrameAllocator<W>, frames: &[u64]) {
    for &f in frames {
        release_frame(fa, f);
    }
}

/// Drops a space's reference to frame `f` (freed with the last one). A
/// frame the allocator does not know as handed out would be a kernel bug.
fn release_frame<const W: usize>(fa: &mut FrameAllocator<W>, f: u64) {
    if let Err(e) = fa.release(f) {
        panic!("address space frame {f:#x} could not be freed: {e:?}");
    }
}
