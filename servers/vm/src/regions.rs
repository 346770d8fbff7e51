//! Per-process region bookkeeping: plain Rust, no kernel calls, host-tested.
//!
//! A [`Space`] is one process's address space as VM sees it: the regions
//! of its executable image (text, data, bss; from the ELF segments), the
//! brk heap (`HEAP_BASE..` the break, rounded up to a page), anonymous
//! mmap regions in `MMAP_BASE..MMAP_END`, and the stack under
//! `USER_STACK_TOP` (a reservation of [`STACK_MAX`] of which the top
//! `EXEC_STACK_SIZE` is mapped eagerly and the rest on demand). Every
//! operation that changes the mapping first *plans* (pure, nothing
//! changed), the caller makes the kernel calls, and only then *commits*,
//! so a refused kernel call leaves the bookkeeping as it was.

use alloc::vec::Vec;
use sys::Errno;
use sys::proto::vm::prot;

/// Page size.
pub const PAGE: u64 = 4096;
/// Most regions per process (image segments, mmap regions and the fixed
/// ones); a request that would need more is `ENOMEM`.
pub const MAX_REGIONS: usize = 128;
/// The stack reservation under `USER_STACK_TOP`: the top
/// `abi::EXEC_STACK_SIZE` is mapped at exec, pages below are mapped when
/// touched, and below the reservation a fault kills the process.
pub const STACK_MAX: u64 = 8 << 20;
/// Lowest address of the stack reservation.
pub const STACK_LOW: u64 = abi::USER_STACK_TOP - STACK_MAX;

const _: () = assert!(STACK_LOW > abi::DATA_MODULE_END);
const _: () = assert!(abi::HEAP_END <= abi::MMAP_BASE);

/// Round `x` up to a page (saturating at the top page).
pub fn page_up(x: u64) -> u64 {
    x.checked_add(PAGE - 1)
        .map_or(!(PAGE - 1), |v| v & !(PAGE - 1))
}

/// Round `x` down to a page.
pub fn page_down(x: u64) -> u64 {
    x & !(PAGE - 1)
}

/// What a region holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A loadable ELF segment (text, rodata, data, bss).
    Image,
    /// Anonymous memory from `mmap`.
    Mmap,
    /// A read-only private mapping of a block device (`MmapFile`): the
    /// pages holding device bytes are mapped, read-only; the pages after
    /// them (wholly beyond the device end) are not, and a fault there
    /// fails. Nothing is mapped on demand.
    File,
    /// The stack reservation.
    Stack,
    /// Memory of a process VM did not build (a boot process, or one known
    /// only from before a VM restart): its image area and stack, whatever
    /// is mapped there. Nothing is mapped on demand in it.
    Adopted,
}

/// One region: page-aligned `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First byte (page-aligned).
    pub start: u64,
    /// One past the last byte (page-aligned).
    pub end: u64,
    /// What it holds.
    pub kind: Kind,
    /// `prot` bits (`sys::proto::vm::prot`).
    pub prot: u32,
}

impl Region {
    /// Whether `addr` lies inside.
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// Whether `start..end` meets this region.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start < end && start < self.end
    }

    /// Whether a page fault on a page of it that is not mapped is answered
    /// with a fresh zeroed page.
    pub fn on_demand(&self) -> bool {
        matches!(self.kind, Kind::Mmap | Kind::Stack)
    }

    /// Pages.
    pub fn pages(&self) -> u64 {
        (self.end - self.start) / PAGE
    }

    /// Whether `munmap` may remove (part of) it: mmap and file regions.
    pub fn unmappable(&self) -> bool {
        matches!(self.kind, Kind::Mmap | Kind::File)
    }
}

/// CPU page-fault error code bits.
pub mod fault_bits {
    /// The page was present (a protection fault).
    pub const PRESENT: u64 = 1;
    /// The access was a write.
    pub const WRITE: u64 = 2;
    /// The access was an instruction fetch.
    pub const FETCH: u64 = 16;
}

/// How VM answers a page fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Break copy-on-write at the address (a write to a present page of a
    /// writable region) and resume.
    Cow,
    /// Map a fresh zeroed page at `page` (writable or not) and resume.
    MapZero {
        /// The page.
        page: u64,
        /// Map it writable.
        writable: bool,
    },
    /// Fail the fault: the kernel stops the process (SIGSEGV to PM).
    Fail,
}

/// A change of the break: pages to map (growth) or unmap (shrink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrkPlan {
    /// The new break.
    pub brk: u64,
    /// Pages `from..from + count * PAGE` to map (true) or unmap (false).
    pub grow: bool,
    /// First page to change.
    pub from: u64,
    /// Pages to change (0: nothing to do in the kernel).
    pub count: u64,
}

/// One process's address space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Space {
    /// Regions other than the heap, sorted by start, disjoint.
    regions: Vec<Region>,
    /// The program break (`HEAP_BASE..=HEAP_END`).
    brk: u64,
}

impl Space {
    /// A space with only the given regions (sorted here) and the break at
    /// `HEAP_BASE`. `ENOEXEC` if they overlap each other, the heap or the
    /// mmap area, or are not page-aligned and in the user area.
    pub fn with_regions(mut regions: Vec<Region>) -> Result<Space, Errno> {
        if regions.len() > MAX_REGIONS {
            return Err(Errno::ENOMEM);
        }
        regions.sort_by_key(|r| r.start);
        for r in &regions {
            let aligned = r.start.is_multiple_of(PAGE) && r.end.is_multiple_of(PAGE);
            if !aligned
                || r.start >= r.end
                || r.start < abi::USER_BASE
                || r.end > abi::USER_STACK_TOP
                || r.overlaps(abi::HEAP_BASE, abi::MMAP_END)
            {
                return Err(Errno::ENOEXEC);
            }
        }
        if regions.windows(2).any(|w| w[0].end > w[1].start) {
            return Err(Errno::ENOEXEC);
        }
        Ok(Space {
            regions,
            brk: abi::HEAP_BASE,
        })
    }

    /// The conservative space of a process VM did not build: its image
    /// area (everything below the heap) and the boot stack, read-write,
    /// nothing mapped on demand; heap break at `HEAP_BASE`.
    pub fn adopted() -> Space {
        let image = Region {
            start: abi::USER_BASE,
            end: abi::HEAP_BASE,
            kind: Kind::Adopted,
            prot: prot::READ | prot::WRITE | prot::EXEC,
        };
        let stack = Region {
            start: STACK_LOW,
            end: abi::USER_STACK_TOP,
            kind: Kind::Adopted,
            prot: prot::READ | prot::WRITE,
        };
        Space {
            regions: alloc::vec![image, stack],
            brk: abi::HEAP_BASE,
        }
    }

    /// The stack reservation region (top `EXEC_STACK_SIZE` mapped at exec).
    pub fn stack_region() -> Region {
        Region {
            start: STACK_LOW,
            end: abi::USER_STACK_TOP,
            kind: Kind::Stack,
            prot: prot::READ | prot::WRITE,
        }
    }

    /// The regions other than the heap, sorted.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The program break.
    pub fn brk(&self) -> u64 {
        self.brk
    }

    /// The heap as a region (`HEAP_BASE..page_up(brk)`), if not empty.
    pub fn heap(&self) -> Option<Region> {
        let end = page_up(self.brk);
        (end > abi::HEAP_BASE).then_some(Region {
            start: abi::HEAP_BASE,
            end,
            kind: Kind::Mmap,
            prot: prot::READ | prot::WRITE,
        })
    }

    /// The region holding `addr`, the heap included.
    pub fn find(&self, addr: u64) -> Option<Region> {
        if let Some(h) = self.heap()
            && h.contains(addr)
        {
            return Some(h);
        }
        // Sorted and disjoint: the last region starting at or below addr.
        let i = self.regions.partition_point(|r| r.start <= addr);
        i.checked_sub(1)
            .map(|i| self.regions[i])
            .filter(|r| r.contains(addr))
    }

    /// How to answer a page fault at `addr` with CPU error code `error`.
    pub fn fault(&self, addr: u64, error: u64) -> FaultAction {
        use fault_bits::*;
        let Some(r) = self.find(addr) else {
            return FaultAction::Fail;
        };
        let write = error & WRITE != 0;
        let writable = r.prot & prot::WRITE != 0;
        if write && !writable {
            return FaultAction::Fail;
        }
        if error & PRESENT != 0 {
            // A write to a present page of a writable region: the page is
            // copy-on-write (shared after a fork). Anything else on a
            // present page (a fetch from a no-execute page, a reserved
            // bit) is a real fault.
            if write && error & FETCH == 0 {
                FaultAction::Cow
            } else {
                FaultAction::Fail
            }
        } else if r.on_demand() {
            FaultAction::MapZero {
                page: page_down(addr),
                writable,
            }
        } else {
            FaultAction::Fail
        }
    }

    /// Plans moving the break to `addr` (0: only ask, no change).
    /// `ENOMEM` outside `HEAP_BASE..=HEAP_END`.
    pub fn plan_brk(&self, addr: u64) -> Result<BrkPlan, Errno> {
        if addr == 0 {
            return Ok(BrkPlan {
                brk: self.brk,
                grow: true,
                from: page_up(self.brk),
                count: 0,
            });
        }
        if !(abi::HEAP_BASE..=abi::HEAP_END).contains(&addr) {
            return Err(Errno::ENOMEM);
        }
        let (old, new) = (page_up(self.brk), page_up(addr));
        Ok(if new >= old {
            BrkPlan {
                brk: addr,
                grow: true,
                from: old,
                count: (new - old) / PAGE,
            }
        } else {
            BrkPlan {
                brk: addr,
                grow: false,
                from: new,
                count: (old - new) / PAGE,
            }
        })
    }

    /// Takes the break of a plan whose kernel calls were made.
    pub fn commit_brk(&mut self, plan: &BrkPlan) {
        self.brk = plan.brk;
    }

    /// Plans an anonymous mapping of `len` bytes: the lowest free range
    /// in `MMAP_BASE..MMAP_END` (first fit) -> (address, pages). `EINVAL`
    /// for a zero length or unknown `prot` bits, `ENOMEM` when no range
    /// is free or the region table is full.
    pub fn plan_mmap(&self, len: u64, prot_bits: u32) -> Result<(u64, u64), Errno> {
        if len == 0 || prot_bits & !prot::ALL != 0 {
            return Err(Errno::EINVAL);
        }
        if len > abi::MMAP_END - abi::MMAP_BASE {
            return Err(Errno::ENOMEM);
        }
        if self.regions.len() >= MAX_REGIONS {
            return Err(Errno::ENOMEM);
        }
        let size = page_up(len);
        let mut at = abi::MMAP_BASE;
        for r in self
            .regions
            .iter()
            .filter(|r| r.overlaps(abi::MMAP_BASE, abi::MMAP_END))
        {
            if r.start >= at && r.start - at >= size {
                break;
            }
            at = at.max(r.end);
        }
        if abi::MMAP_END - at < size {
            return Err(Errno::ENOMEM);
        }
        Ok((at, size / PAGE))
    }

    /// Records an mmap region planned with [`Space::plan_mmap`] and mapped.
    pub fn commit_mmap(&mut self, addr: u64, pages: u64, prot_bits: u32) {
        self.insert(Region {
            start: addr,
            end: addr + pages * PAGE,
            kind: Kind::Mmap,
            prot: prot_bits,
        });
    }

    /// Records a block-device mapping of `pages` pages planned with
    /// [`Space::plan_mmap`] (its leading pages mapped and filled).
    pub fn commit_file(&mut self, addr: u64, pages: u64, prot_bits: u32) {
        self.insert(Region {
            start: addr,
            end: addr + pages * PAGE,
            kind: Kind::File,
            prot: prot_bits,
        });
    }

    fn insert(&mut self, r: Region) {
        let i = self.regions.partition_point(|x| x.start < r.start);
        self.regions.insert(i, r);
    }

    fn check_range(addr: u64, len: u64) -> Result<(u64, u64), Errno> {
        if !addr.is_multiple_of(PAGE) || len == 0 {
            return Err(Errno::EINVAL);
        }
        let end = addr.checked_add(page_up(len)).ok_or(Errno::EINVAL)?;
        if addr < abi::MMAP_BASE || end > abi::MMAP_END || page_up(len) < len {
            return Err(Errno::EINVAL);
        }
        Ok((addr, end))
    }

    /// Plans `munmap(addr, len)`: the page ranges of mmap and file regions
    /// inside it (what the kernel must unmap; holes are skipped, as POSIX
    /// allows, and so are a file region's pages that were never mapped).
    /// `EINVAL` for an unaligned address, a zero length, a range outside
    /// the mmap area, or a split the region table has no room for.
    pub fn plan_munmap(&self, addr: u64, len: u64) -> Result<Vec<(u64, u64)>, Errno> {
        let (start, end) = Self::check_range(addr, len)?;
        let splits = self
            .regions
            .iter()
            .filter(|r| r.start < start && end < r.end)
            .count();
        if self.regions.len() + splits > MAX_REGIONS {
            return Err(Errno::ENOMEM);
        }
        Ok(self
            .regions
            .iter()
            .filter(|r| r.unmappable() && r.overlaps(start, end))
            .map(|r| (r.start.max(start), r.end.min(end)))
            .collect())
    }

    /// Removes `addr..addr+len` from the mmap and file regions (after the
    /// kernel unmapped it), splitting a region that spans it.
    pub fn commit_munmap(&mut self, addr: u64, len: u64) {
        let (start, end) = (addr, addr.saturating_add(page_up(len)));
        let mut out = Vec::with_capacity(self.regions.len() + 1);
        for r in self.regions.drain(..) {
            if !r.unmappable() || !r.overlaps(start, end) {
                out.push(r);
                continue;
            }
            if r.start < start {
                out.push(Region { end: start, ..r });
            }
            if end < r.end {
                out.push(Region { start: end, ..r });
            }
        }
        self.regions = out;
    }

    /// Plans `mprotect(addr, len, prot)`: the range must be covered by mmap
    /// regions without a hole (`ENOMEM` otherwise, as POSIX says for
    /// unmapped pages); `EINVAL` for bad arguments or unknown bits.
    /// Returns the page ranges that *gain* write access and those that
    /// *lose* it (the kernel changes only those).
    #[allow(clippy::type_complexity)]
    pub fn plan_mprotect(
        &self,
        addr: u64,
        len: u64,
        prot_bits: u32,
    ) -> Result<(Vec<(u64, u64)>, Vec<(u64, u64)>), Errno> {
        if prot_bits & !prot::ALL != 0 {
            return Err(Errno::EINVAL);
        }
        let (start, end) = Self::check_range(addr, len)?;
        let mut at = start;
        let (mut gain, mut lose) = (Vec::new(), Vec::new());
        for r in self.regions.iter().filter(|r| r.overlaps(start, end)) {
            if r.kind != Kind::Mmap || r.start > at {
                return Err(Errno::ENOMEM);
            }
            let piece = (r.start.max(start), r.end.min(end));
            let (was, will) = (r.prot & prot::WRITE != 0, prot_bits & prot::WRITE != 0);
            if will && !was {
                gain.push(piece);
            } else if was && !will {
                lose.push(piece);
            }
            at = piece.1;
        }
        if at < end {
            return Err(Errno::ENOMEM);
        }
        // Up to two splits at the ends.
        if self.regions.len() + 2 > MAX_REGIONS {
            return Err(Errno::ENOMEM);
        }
        Ok((gain, lose))
    }

    /// Sets `prot` on `addr..addr+len` (planned with
    /// [`Space::plan_mprotect`]), splitting regions at the ends.
    pub fn commit_mprotect(&mut self, addr: u64, len: u64, prot_bits: u32) {
        let (start, end) = (addr, addr.saturating_add(page_up(len)));
        let mut out = Vec::with_capacity(self.regions.len() + 2);
        for r in self.regions.drain(..) {
            if r.kind != Kind::Mmap || !r.overlaps(start, end) {
                out.push(r);
                continue;
            }
            if r.start < start {
                out.push(Region { end: start, ..r });
            }
            out.push(Region {
                start: r.start.max(start),
                end: r.end.min(end),
                prot: prot_bits,
                ..r
            });
            if end < r.end {
                out.push(Region { start: end, ..r });
            }
        }
        self.regions = out;
    }

    /// Pages VM mapped eagerly for this space (image, heap, mmap, the
    /// exec stack): a figure for logs and limits.
    pub fn eager_pages(&self) -> u64 {
        let regions: u64 = self
            .regions
            .iter()
            .map(|r| match r.kind {
                Kind::Stack => abi::EXEC_STACK_SIZE / PAGE,
                Kind::Adopted => 0,
                _ => r.pages(),
            })
            .sum();
        regions + self.heap().map_or(0, |h| h.pages())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const RW: u32 = prot::READ | prot::WRITE;
    const RX: u32 = prot::READ | prot::EXEC;

    fn image_space() -> Space {
        Space::with_regions(vec![
            Space::stack_region(),
            Region {
                start: abi::USER_BASE,
                end: abi::USER_BASE + 4 * PAGE,
                kind: Kind::Image,
                prot: RX,
            },
            Region {
                start: abi::USER_BASE + 4 * PAGE,
                end: abi::USER_BASE + 6 * PAGE,
                kind: Kind::Image,
                prot: RW,
            },
        ])
        .unwrap()
    }

    #[test]
    fn regions_are_sorted_and_overlaps_refused() {
        let s = image_space();
        assert!(s.regions().windows(2).all(|w| w[0].end <= w[1].start));
        let overlapping = vec![
            Region {
                start: abi::USER_BASE,
                end: abi::USER_BASE + 2 * PAGE,
                kind: Kind::Image,
                prot: RX,
            },
            Region {
                start: abi::USER_BASE + PAGE,
                end: abi::USER_BASE + 3 * PAGE,
                kind: Kind::Image,
                prot: RW,
            },
        ];
        assert_eq!(Space::with_regions(overlapping), Err(Errno::ENOEXEC));
        let in_heap = vec![Region {
            start: abi::HEAP_BASE,
            end: abi::HEAP_BASE + PAGE,
            kind: Kind::Image,
            prot: RW,
        }];
        assert_eq!(Space::with_regions(in_heap), Err(Errno::ENOEXEC));
        let unaligned = vec![Region {
            start: abi::USER_BASE + 1,
            end: abi::USER_BASE + PAGE,
            kind: Kind::Image,
            prot: RW,
        }];
        assert_eq!(Space::with_regions(unaligned), Err(Errno::ENOEXEC));
    }

    #[test]
    fn brk_grows_and_shrinks_by_pages_within_the_heap_window() {
        let mut s = image_space();
        assert_eq!(s.plan_brk(0).unwrap().brk, abi::HEAP_BASE);
        let p = s.plan_brk(abi::HEAP_BASE + 1).unwrap();
        assert_eq!((p.grow, p.from, p.count), (true, abi::HEAP_BASE, 1));
        s.commit_brk(&p);
        assert_eq!(s.brk(), abi::HEAP_BASE + 1);
        // Within the same page: nothing for the kernel.
        let p = s.plan_brk(abi::HEAP_BASE + 100).unwrap();
        assert_eq!(p.count, 0);
        s.commit_brk(&p);
        let p = s.plan_brk(abi::HEAP_BASE + 5 * PAGE).unwrap();
        assert_eq!((p.grow, p.from, p.count), (true, abi::HEAP_BASE + PAGE, 4));
        s.commit_brk(&p);
        assert_eq!(s.heap().unwrap().pages(), 5);
        let p = s.plan_brk(abi::HEAP_BASE + 2 * PAGE - 1).unwrap();
        assert_eq!(
            (p.grow, p.from, p.count),
            (false, abi::HEAP_BASE + 2 * PAGE, 3)
        );
        s.commit_brk(&p);
        let p = s.plan_brk(abi::HEAP_BASE).unwrap();
        assert_eq!((p.grow, p.from, p.count), (false, abi::HEAP_BASE, 2));
        s.commit_brk(&p);
        assert_eq!(s.heap(), None);
        // Out of the window.
        assert_eq!(s.plan_brk(abi::HEAP_BASE - 1), Err(Errno::ENOMEM));
        assert_eq!(s.plan_brk(abi::HEAP_END + 1), Err(Errno::ENOMEM));
        assert_eq!(s.plan_brk(u64::MAX), Err(Errno::ENOMEM));
        assert!(s.plan_brk(abi::HEAP_END).is_ok());
    }

    #[test]
    fn mmap_is_first_fit_and_munmap_splits() {
        let mut s = image_space();
        let (a, n) = s.plan_mmap(3 * PAGE, RW).unwrap();
        assert_eq!((a, n), (abi::MMAP_BASE, 3));
        s.commit_mmap(a, n, RW);
        let (b, n) = s.plan_mmap(1, RW).unwrap();
        assert_eq!((b, n), (abi::MMAP_BASE + 3 * PAGE, 1));
        s.commit_mmap(b, n, RW);
        // A hole in the middle of the first region.
        let un = s.plan_munmap(a + PAGE, PAGE).unwrap();
        assert_eq!(un, vec![(a + PAGE, a + 2 * PAGE)]);
        s.commit_munmap(a + PAGE, PAGE);
        let mm: Vec<_> = s
            .regions()
            .iter()
            .filter(|r| r.kind == Kind::Mmap)
            .map(|r| (r.start, r.end))
            .collect();
        assert_eq!(
            mm,
            vec![(a, a + PAGE), (a + 2 * PAGE, a + 3 * PAGE), (b, b + PAGE)]
        );
        // The hole is reused by a fitting request, a larger one goes after.
        assert_eq!(s.plan_mmap(PAGE, RW).unwrap(), (a + PAGE, 1));
        assert_eq!(s.plan_mmap(2 * PAGE, RW).unwrap(), (b + PAGE, 2));
        // Unmapping across regions and holes: only mapped pieces.
        let un = s.plan_munmap(a, 5 * PAGE).unwrap();
        assert_eq!(
            un,
            vec![(a, a + PAGE), (a + 2 * PAGE, a + 3 * PAGE), (b, b + PAGE)]
        );
        s.commit_munmap(a, 5 * PAGE);
        assert!(s.regions().iter().all(|r| r.kind != Kind::Mmap));
        // Bad arguments.
        assert_eq!(s.plan_mmap(0, RW), Err(Errno::EINVAL));
        assert_eq!(s.plan_mmap(PAGE, 8), Err(Errno::EINVAL));
        assert_eq!(s.plan_munmap(a + 1, PAGE), Err(Errno::EINVAL));
        assert_eq!(s.plan_munmap(a, 0), Err(Errno::EINVAL));
        assert_eq!(s.plan_munmap(abi::HEAP_BASE, PAGE), Err(Errno::EINVAL));
        assert_eq!(
            s.plan_munmap(abi::MMAP_END - PAGE, 2 * PAGE),
            Err(Errno::EINVAL)
        );
        assert_eq!(s.plan_munmap(a, u64::MAX), Err(Errno::EINVAL));
    }

    #[test]
    fn mmap_runs_out_of_room_and_of_regions() {
        let mut s = image_space();
        let all = abi::MMAP_END - abi::MMAP_BASE;
        assert_eq!(s.plan_mmap(all + 1, RW), Err(Errno::ENOMEM));
        assert_eq!(s.plan_mmap(u64::MAX, RW), Err(Errno::ENOMEM));
        let (a, n) = s.plan_mmap(all - PAGE, RW).unwrap();
        s.commit_mmap(a, n, RW);
        assert_eq!(s.plan_mmap(2 * PAGE, RW), Err(Errno::ENOMEM));
        assert!(s.plan_mmap(PAGE, RW).is_ok());
        let mut t = image_space();
        while t.regions().len() < MAX_REGIONS {
            let (a, n) = t.plan_mmap(PAGE, RW).unwrap();
            t.commit_mmap(a, n, if a % (2 * PAGE) == 0 { RW } else { RX });
        }
        assert_eq!(t.plan_mmap(PAGE, RW), Err(Errno::ENOMEM));
    }

    #[test]
    fn mprotect_splits_and_reports_write_changes() {
        let mut s = image_space();
        let (a, n) = s.plan_mmap(4 * PAGE, RW).unwrap();
        s.commit_mmap(a, n, RW);
        let (gain, lose) = s.plan_mprotect(a + PAGE, 2 * PAGE, prot::READ).unwrap();
        assert!(gain.is_empty());
        assert_eq!(lose, vec![(a + PAGE, a + 3 * PAGE)]);
        s.commit_mprotect(a + PAGE, 2 * PAGE, prot::READ);
        assert_eq!(s.find(a).unwrap().prot, RW);
        assert_eq!(s.find(a + PAGE).unwrap().prot, prot::READ);
        assert_eq!(s.find(a + 3 * PAGE).unwrap().prot, RW);
        // Faults follow the new protection.
        assert_eq!(s.fault(a + PAGE, 3), FaultAction::Fail);
        assert_eq!(s.fault(a, 3), FaultAction::Cow);
        // Back to writable over the whole range: only the middle gains.
        let (gain, lose) = s.plan_mprotect(a, 4 * PAGE, RW).unwrap();
        assert_eq!(gain, vec![(a + PAGE, a + 3 * PAGE)]);
        assert!(lose.is_empty());
        // Holes and other regions are not mprotect's.
        assert_eq!(s.plan_mprotect(a, 5 * PAGE, RW), Err(Errno::ENOMEM));
        assert_eq!(
            s.plan_mprotect(abi::USER_BASE, PAGE, RW),
            Err(Errno::EINVAL)
        );
        assert_eq!(s.plan_mprotect(a, PAGE, 0x10), Err(Errno::EINVAL));
    }

    #[test]
    fn faults_break_cow_map_on_demand_or_fail() {
        use fault_bits::*;
        let mut s = image_space();
        let text = abi::USER_BASE;
        let data = abi::USER_BASE + 4 * PAGE;
        // Write to a present writable page: copy-on-write.
        assert_eq!(s.fault(data + 8, PRESENT | WRITE), FaultAction::Cow);
        // Write to text, reads of present pages, fetches: real faults.
        assert_eq!(s.fault(text, PRESENT | WRITE), FaultAction::Fail);
        assert_eq!(s.fault(text, PRESENT), FaultAction::Fail);
        assert_eq!(s.fault(data, PRESENT | FETCH), FaultAction::Fail);
        // Not present in an image region: the image is mapped eagerly.
        assert_eq!(s.fault(data, WRITE), FaultAction::Fail);
        // Stack below the mapped part: a fresh page.
        let deep = abi::USER_STACK_TOP - abi::EXEC_STACK_SIZE - 10;
        assert_eq!(
            s.fault(deep, WRITE),
            FaultAction::MapZero {
                page: page_down(deep),
                writable: true
            }
        );
        // Below the reservation, in the gaps, at null, in the kernel half.
        assert_eq!(s.fault(STACK_LOW - 1, WRITE), FaultAction::Fail);
        assert_eq!(s.fault(0, 0), FaultAction::Fail);
        assert_eq!(s.fault(abi::MMAP_BASE, WRITE), FaultAction::Fail);
        assert_eq!(s.fault(u64::MAX, WRITE), FaultAction::Fail);
        // The heap up to the break.
        let p = s.plan_brk(abi::HEAP_BASE + 2 * PAGE).unwrap();
        s.commit_brk(&p);
        assert_eq!(
            s.fault(abi::HEAP_BASE + PAGE, WRITE),
            FaultAction::MapZero {
                page: abi::HEAP_BASE + PAGE,
                writable: true
            }
        );
        assert_eq!(s.fault(abi::HEAP_BASE + 2 * PAGE, WRITE), FaultAction::Fail);
    }

    #[test]
    fn adopted_spaces_never_map_on_demand() {
        use fault_bits::*;
        let s = Space::adopted();
        assert_eq!(s.brk(), abi::HEAP_BASE);
        assert_eq!(s.fault(abi::USER_BASE, PRESENT | WRITE), FaultAction::Cow);
        assert_eq!(s.fault(abi::USER_BASE, WRITE), FaultAction::Fail);
        assert_eq!(
            s.fault(abi::USER_STACK_TOP - 8, PRESENT | WRITE),
            FaultAction::Cow
        );
        assert_eq!(s.fault(abi::USER_STACK_TOP - 8, WRITE), FaultAction::Fail);
        assert_eq!(s.eager_pages(), 0);
    }

    #[test]
    fn page_rounding_saturates() {
        assert_eq!(page_up(0), 0);
        assert_eq!(page_up(1), PAGE);
        assert_eq!(page_up(PAGE), PAGE);
        assert_eq!(page_up(u64::MAX), !(PAGE - 1));
        assert_eq!(page_down(PAGE + 5), PAGE);
    }
}
