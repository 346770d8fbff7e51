//! Copy-on-write page-table entries: the bits the kernel's page tables use
//! for user pages and the rules for sharing a page at a fork and breaking
//! the sharing at a write. Pure functions on entry values, so the
//! bookkeeping (with [`crate::frame::FrameAllocator`]'s reference counts)
//! is tested on the host; the arch layer applies them to real tables.
//!
//! Rules:
//! * A fork shares every present user page. A *foreign* page (physical
//!   memory mapped with `MapPhys`, not owned) keeps its entry and gains no
//!   reference. An owned page gains a reference; if it was writable (or
//!   already copy-on-write) both spaces get it read-only with [`COW`] set.
//!   A read-only owned page (program text) is shared read-only as it is:
//!   a write to it is a real protection fault.
//! * A write to a [`COW`] page breaks the sharing: with other references
//!   left the frame is copied into a fresh one mapped writable (the old
//!   frame loses this space's reference); with none left the page is just
//!   made writable again.
//! * `Protect` ([`protect`]) changes the write permission of a present
//!   page without ever giving write access to a shared frame: read-only
//!   clears both [`WRITABLE`] and [`COW`] (a write is then a real
//!   protection fault, and kernel copies into the page fail), keeping the
//!   frame's references; writable sets [`WRITABLE`] on a frame this space
//!   alone uses and [`COW`] on one still shared (the next write copies
//!   it). A foreign page may be made writable again only if it was mapped
//!   writable ([`MAY_WRITE`]).

use x86_64::structures::paging::PageTableFlags;

/// Present.
pub const PRESENT: u64 = PageTableFlags::PRESENT.bits();
/// Writable.
pub const WRITABLE: u64 = PageTableFlags::WRITABLE.bits();
/// User-accessible.
pub const USER: u64 = PageTableFlags::USER_ACCESSIBLE.bits();
/// Software bit: physical memory the space does not own (`MapPhys`,
/// data modules): never freed, copied or counted.
pub const FOREIGN: u64 = PageTableFlags::BIT_9.bits();
/// Software bit: an owned page shared copy-on-write (mapped read-only; it
/// was writable).
pub const COW: u64 = PageTableFlags::BIT_10.bits();
/// Software bit: a foreign page that was mapped writable, so `Protect` may
/// make it writable again after making it read-only.
pub const MAY_WRITE: u64 = PageTableFlags::BIT_11.bits();
/// Physical address bits of an entry.
pub const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;

/// How a fork shares one present entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shared {
    /// The entry both spaces get.
    pub pte: u64,
    /// Whether the frame is owned (gains a reference).
    pub owned: bool,
}

/// The entry a fork gives both spaces for present entry `pte`.
pub const fn share(pte: u64) -> Shared {
    if pte & FOREIGN != 0 {
        return Shared { pte, owned: false };
    }
    let pte = if pte & (WRITABLE | COW) != 0 {
        (pte & !WRITABLE) | COW
    } else {
        pte
    };
    Shared { pte, owned: true }
}

/// What a write to a page with entry `pte` needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Nothing mapped.
    NotPresent,
    /// Already writable.
    Writable,
    /// Copy-on-write: break the sharing first.
    Cow,
    /// Read-only for real: the write is refused.
    ReadOnly,
}

/// Classifies a write to a page mapped by `pte`.
pub const fn write_check(pte: u64) -> Write {
    if pte & PRESENT == 0 {
        Write::NotPresent
    } else if pte & WRITABLE != 0 {
        Write::Writable
    } else if pte & COW != 0 && pte & FOREIGN == 0 {
        Write::Cow
    } else {
        Write::ReadOnly
    }
}

/// How a copy-on-write break is done for a frame with `refcount`
/// references: copy when others still use it, else reuse it.
pub const fn must_copy(refcount: u32) -> bool {
    refcount > 1
}

/// The entry after breaking copy-on-write entry `pte`: writable, no
/// [`COW`], mapping `frame` (the fresh copy, or the old frame when it was
/// the last reference).
pub const fn broken(pte: u64, frame: u64) -> u64 {
    (frame & ADDR_MASK) | (pte & !ADDR_MASK & !COW) | WRITABLE
}

/// Why [`protect`] refuses an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Nothing mapped.
    NotPresent,
    /// Write access to a foreign page that was mapped read-only.
    Perm,
}

/// The entry `Protect` gives present entry `pte` (its frame has
/// `refcount` references; ignored for a foreign page) when the page is
/// made writable or read-only (see the module rules). Equal to `pte` when
/// nothing changes.
pub const fn protect(pte: u64, writable: bool, refcount: u32) -> Result<u64, Refused> {
    if pte & PRESENT == 0 {
        return Err(Refused::NotPresent);
    }
    if !writable {
        return Ok(pte & !(WRITABLE | COW));
    }
    if pte & FOREIGN != 0 {
        return if pte & MAY_WRITE != 0 {
            Ok(pte | WRITABLE)
        } else if pte & WRITABLE != 0 {
            Ok(pte)
        } else {
            Err(Refused::Perm)
        };
    }
    if pte & WRITABLE != 0 {
        Ok(pte)
    } else if must_copy(refcount) {
        Ok(pte | COW)
    } else {
        Ok((pte & !COW) | WRITABLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{FRAME_SIZE, FrameAllocator};
    use crate::range::AddrRange;
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;

    type Alloc = FrameAllocator<4>;

    /// A host model of an address space: entries by page, and a byte of
    /// "contents" per frame in `mem`.
    #[derive(Default)]
    struct Space {
        ptes: BTreeMap<u64, u64>,
    }

    struct World {
        fa: Alloc,
        mem: BTreeMap<u64, u8>,
    }

    impl World {
        fn new() -> Self {
            let mut fa = Alloc::new();
            fa.add_free(AddrRange::new(0x1000, 0x10_0000));
            Self {
                fa,
                mem: BTreeMap::new(),
            }
        }

        fn map(&mut self, s: &mut Space, va: u64, writable: bool, value: u8) {
            let f = self.fa.alloc().unwrap();
            self.mem.insert(f, value);
            let w = if writable { WRITABLE } else { 0 };
            s.ptes.insert(va, f | PRESENT | USER | w);
        }

        fn fork(&mut self, parent: &mut Space) -> Space {
            let mut child = Space::default();
            for (va, pte) in parent.ptes.iter_mut() {
                let sh = share(*pte);
                if sh.owned {
                    self.fa.share(*pte & ADDR_MASK).unwrap();
                }
                *pte = sh.pte;
                child.ptes.insert(*va, sh.pte);
            }
            child
        }

        /// A write of `value` at `va`, breaking copy-on-write as the
        /// kernel does. `Err` for a refused write.
        fn write(&mut self, s: &mut Space, va: u64, value: u8) -> Result<(), Write> {
            let pte = s.ptes.get(&va).copied().unwrap_or(0);
            match write_check(pte) {
                Write::Writable => {}
                Write::Cow => {
                    let old = pte & ADDR_MASK;
                    let frame = if must_copy(self.fa.refcount(old)) {
                        let new = self.fa.alloc().unwrap();
                        let v = self.mem[&old];
                        self.mem.insert(new, v);
                        self.fa.release(old).unwrap();
                        self.fa.record_cow(true);
                        new
                    } else {
                        self.fa.record_cow(false);
                        old
                    };
                    s.ptes.insert(va, broken(pte, frame));
                }
                e => return Err(e),
            }
            let f = s.ptes[&va] & ADDR_MASK;
            self.mem.insert(f, value);
            Ok(())
        }

        /// `Protect` of one page, as the kernel applies it.
        fn protect(&mut self, s: &mut Space, va: u64, writable: bool) -> Result<bool, Refused> {
            let pte = s.ptes.get(&va).copied().unwrap_or(0);
            let new = protect(pte, writable, self.fa.refcount(pte & ADDR_MASK))?;
            s.ptes.insert(va, new);
            Ok(new != pte)
        }

        fn read(&self, s: &Space, va: u64) -> u8 {
            self.mem[&(s.ptes[&va] & ADDR_MASK)]
        }

        fn destroy(&mut self, s: Space) {
            for pte in s.ptes.into_values() {
                if pte & FOREIGN == 0 && self.fa.release(pte & ADDR_MASK).unwrap() {
                    self.mem.remove(&(pte & ADDR_MASK));
                }
            }
        }
    }

    #[test]
    fn fork_shares_owned_pages_and_marks_writable_ones() {
        let rw = 0x5000 | PRESENT | USER | WRITABLE;
        assert_eq!(
            share(rw),
            Shared {
                pte: 0x5000 | PRESENT | USER | COW,
                owned: true
            }
        );
        let ro = 0x6000 | PRESENT | USER;
        assert_eq!(
            share(ro),
            Shared {
                pte: ro,
                owned: true
            },
            "text stays"
        );
        let dev = 0xfee0_0000 | PRESENT | USER | WRITABLE | FOREIGN;
        assert_eq!(
            share(dev),
            Shared {
                pte: dev,
                owned: false
            }
        );
        // Sharing again (a fork of a fork) keeps it copy-on-write.
        assert_eq!(share(share(rw).pte), share(rw));
    }

    #[test]
    fn write_checks() {
        assert_eq!(write_check(0), Write::NotPresent);
        assert_eq!(write_check(PRESENT | WRITABLE), Write::Writable);
        assert_eq!(write_check(PRESENT | COW), Write::Cow);
        assert_eq!(write_check(PRESENT), Write::ReadOnly);
        assert_eq!(write_check(PRESENT | COW | FOREIGN), Write::ReadOnly);
        let b = broken(0x7000 | PRESENT | USER | COW, 0x9000);
        assert_eq!(b, 0x9000 | PRESENT | USER | WRITABLE);
        assert!(must_copy(2) && !must_copy(1));
    }

    #[test]
    fn parent_and_child_see_their_own_writes_and_frames_come_back() {
        let mut w = World::new();
        let free0 = w.fa.free_frames();
        let mut parent = Space::default();
        w.map(&mut parent, 0x4000_0000, false, 7); // text
        w.map(&mut parent, 0x4000_1000, true, 1); // data
        w.map(&mut parent, 0x4000_2000, true, 2); // data, never written
        let mut child = w.fork(&mut parent);
        assert_eq!(w.fa.shared_frames(), 3, "every owned page shared");
        assert_eq!(w.fa.free_frames(), free0 - 3, "no copy at fork");

        // The child writes first: it gets a copy, the parent keeps the
        // frame (now its last reference).
        w.write(&mut child, 0x4000_1000, 10).unwrap();
        assert_eq!(w.fa.stats().cow_copies, 1);
        assert_eq!(
            (w.read(&parent, 0x4000_1000), w.read(&child, 0x4000_1000)),
            (1, 10)
        );
        // The parent's write then needs no copy.
        w.write(&mut parent, 0x4000_1000, 20).unwrap();
        assert_eq!(w.fa.stats().cow_reuses, 1);
        assert_eq!(w.fa.stats().cow_copies, 1);
        assert_eq!(
            (w.read(&parent, 0x4000_1000), w.read(&child, 0x4000_1000)),
            (20, 10)
        );
        assert_eq!(w.fa.shared_frames(), 2);
        // Text stays read-only in both.
        assert_eq!(w.write(&mut child, 0x4000_0000, 0), Err(Write::ReadOnly));
        assert_eq!(w.write(&mut child, 0x4000_9000, 0), Err(Write::NotPresent));
        // The untouched page is still one shared frame.
        assert_eq!(
            parent.ptes[&0x4000_2000] & ADDR_MASK,
            child.ptes[&0x4000_2000] & ADDR_MASK
        );

        w.destroy(child);
        assert_eq!(w.fa.shared_frames(), 0);
        assert_eq!(w.fa.free_frames(), free0 - 3, "the parent's three remain");
        w.destroy(parent);
        assert_eq!(w.fa.free_frames(), free0, "every frame back");
        assert!(w.mem.is_empty());
    }

    #[test]
    fn protect_entries() {
        let rw = 0x5000 | PRESENT | USER | WRITABLE;
        let ro = 0x5000 | PRESENT | USER;
        let cow = 0x5000 | PRESENT | USER | COW;
        // Read-only: write permission and copy-on-write both go.
        assert_eq!(protect(rw, false, 1), Ok(ro));
        assert_eq!(protect(cow, false, 2), Ok(ro));
        assert_eq!(protect(ro, false, 3), Ok(ro));
        // Writable: only a frame this space alone uses gets the bit.
        assert_eq!(protect(ro, true, 1), Ok(rw));
        assert_eq!(protect(ro, true, 2), Ok(cow), "shared: copy on write");
        assert_eq!(protect(cow, true, 2), Ok(cow), "stays copy-on-write");
        assert_eq!(protect(cow, true, 1), Ok(rw), "last reference");
        assert_eq!(protect(rw, true, 1), Ok(rw));
        assert_eq!(protect(0, true, 0), Err(Refused::NotPresent));
        assert_eq!(protect(0, false, 0), Err(Refused::NotPresent));
        // Foreign pages: back to writable only if mapped writable.
        let dev_rw = 0xfee0_0000 | PRESENT | USER | FOREIGN | MAY_WRITE | WRITABLE;
        let dev_was_rw = dev_rw & !WRITABLE;
        let dev_ro = 0xfee0_0000 | PRESENT | USER | FOREIGN;
        assert_eq!(protect(dev_rw, false, 0), Ok(dev_was_rw));
        assert_eq!(protect(dev_was_rw, true, 0), Ok(dev_rw));
        assert_eq!(protect(dev_ro, true, 0), Err(Refused::Perm));
        assert_eq!(protect(dev_ro, false, 0), Ok(dev_ro));
        // A fork shares a read-only foreign page as it is (no count).
        assert_eq!(share(dev_was_rw).pte, dev_was_rw);
    }

    #[test]
    fn protected_pages_never_give_a_shared_frame_write_access() {
        let mut w = World::new();
        let free0 = w.fa.free_frames();
        let mut parent = Space::default();
        let va = 0x4000_1000;
        w.map(&mut parent, va, true, 1);
        let mut child = w.fork(&mut parent);
        assert_eq!(write_check(child.ptes[&va]), Write::Cow);

        // Read-only: the copy-on-write page refuses writes (the kernel
        // would resolve a COW page), the frame stays shared.
        assert_eq!(w.protect(&mut child, va, false), Ok(true));
        assert_eq!(w.protect(&mut child, va, false), Ok(false), "no change");
        assert_eq!(w.write(&mut child, va, 9), Err(Write::ReadOnly));
        assert_eq!(w.fa.shared_frames(), 1);
        assert_eq!(w.read(&parent, va), 1);

        // Writable again while shared: copy-on-write, so the write copies
        // and the parent keeps its value.
        assert_eq!(w.protect(&mut child, va, true), Ok(true));
        assert_eq!(write_check(child.ptes[&va]), Write::Cow);
        w.write(&mut child, va, 2).unwrap();
        assert_eq!(w.fa.stats().cow_copies, 1);
        assert_eq!((w.read(&parent, va), w.read(&child, va)), (1, 2));
        assert_eq!(w.fa.shared_frames(), 0);

        // The parent, now the only user of its frame: read-only, then
        // writable for real (no copy-on-write left).
        assert_eq!(w.protect(&mut parent, va, false), Ok(true));
        assert_eq!(w.write(&mut parent, va, 3), Err(Write::ReadOnly));
        assert_eq!(w.protect(&mut parent, va, true), Ok(true));
        assert_eq!(write_check(parent.ptes[&va]), Write::Writable);
        w.write(&mut parent, va, 4).unwrap();
        assert_eq!((w.read(&parent, va), w.read(&child, va)), (4, 2));
        let s = w.fa.stats();
        assert_eq!((s.cow_copies, s.cow_reuses), (1, 0));

        // Text shared read-only by a fork and made writable in one space
        // is copied on the write too.
        let text = 0x4000_0000;
        w.map(&mut parent, text, false, 7);
        let mut child2 = w.fork(&mut parent);
        assert_eq!(w.protect(&mut child2, text, true), Ok(true));
        w.write(&mut child2, text, 8).unwrap();
        assert_eq!((w.read(&parent, text), w.read(&child2, text)), (7, 8));
        assert_eq!(w.write(&mut parent, text, 0), Err(Write::ReadOnly));

        for s in [parent, child, child2] {
            w.destroy(s);
        }
        assert_eq!(w.fa.free_frames(), free0, "every frame back");
    }

    #[test]
    fn three_way_sharing_copies_until_the_last_reference() {
        let mut w = World::new();
        let free0 = w.fa.free_frames();
        let mut a = Space::default();
        w.map(&mut a, 0x4000_0000, true, 5);
        let mut b = w.fork(&mut a);
        let mut c = w.fork(&mut b);
        let frame = a.ptes[&0x4000_0000] & ADDR_MASK;
        assert_eq!(w.fa.refcount(frame), 3);
        w.write(&mut a, 0x4000_0000, 1).unwrap();
        w.write(&mut b, 0x4000_0000, 2).unwrap();
        w.write(&mut c, 0x4000_0000, 3).unwrap();
        let s = w.fa.stats();
        assert_eq!((s.cow_copies, s.cow_reuses, s.shared), (2, 1, 0));
        assert_eq!(c.ptes[&0x4000_0000] & ADDR_MASK, frame, "last one kept it");
        let got: Vec<u8> = [&a, &b, &c]
            .iter()
            .map(|s| w.read(s, 0x4000_0000))
            .collect();
        assert_eq!(got, [1, 2, 3]);
        for s in [a, b, c] {
            w.destroy(s);
        }
        assert_eq!(w.fa.free_frames(), free0);
    }

    #[test]
    fn freeing_a_sharer_before_any_write_leaves_the_other_a_reuse() {
        let mut w = World::new();
        let free0 = w.fa.free_frames();
        let mut parent = Space::default();
        w.map(&mut parent, 0x4000_0000, true, 9);
        let child = w.fork(&mut parent);
        w.destroy(child);
        assert_eq!(w.fa.shared_frames(), 0);
        w.write(&mut parent, 0x4000_0000, 4).unwrap();
        assert_eq!(w.fa.stats().cow_copies, 0, "no copy for the last reference");
        assert_eq!(w.fa.stats().cow_reuses, 1);
        assert_eq!(w.fa.free_frames(), free0 - 1);
        assert_eq!(FRAME_SIZE, 4096);
        w.destroy(parent);
        assert_eq!(w.fa.free_frames(), free0);
    }
}
