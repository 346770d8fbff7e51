//! Physical frame allocator.
//!
//! A pair of bitmaps over the first `WORDS * 64` frames of 4 KiB: one bit
//! says "free", the other "handed out by [`FrameAllocator::alloc`]". Memory
//! starts out unusable; the boot code adds the RAM regions from the memory
//! map with [`FrameAllocator::add_free`] and then removes everything that must
//! never be handed out (kernel image, boot modules, boot information, the
//! first MiB) with [`FrameAllocator::reserve`]. Freeing a frame that was not
//! handed out (double free, reserved frame, bad address) is an error value,
//! so a kernel bug cannot silently corrupt the free set.
//!
//! Frames can be shared between address spaces (copy-on-write after a
//! fork): [`FrameAllocator::share`] adds a reference to a handed-out frame,
//! [`FrameAllocator::release`] drops one and frees the frame with the last.
//! The count lives in one byte per frame (references beyond the first), so
//! the table costs one byte per frame and a frame can be shared by at most
//! 256 spaces (far more than there are process slots). The allocator also
//! keeps the copy-on-write counters reported by `MemStats`.

use crate::range::AddrRange;
use alloc::vec::Vec;

/// Size of a frame in bytes.
pub const FRAME_SIZE: u64 = 4096;

/// Why an allocator operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// No free frame is left.
    OutOfMemory,
    /// The address is not a multiple of [`FRAME_SIZE`].
    Unaligned(u64),
    /// The address lies beyond the memory this allocator manages.
    OutOfRange(u64),
    /// The frame is not currently allocated (double free, or a frame that
    /// was reserved or never free).
    NotAllocated(u64),
    /// `free` of a frame other spaces still share (use `release`).
    Shared(u64),
    /// The frame already has the most references a count can hold.
    TooShared(u64),
}

/// Memory statistics (`MemStats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemStats {
    /// Frames the allocator manages (free plus handed out).
    pub total: u64,
    /// Free frames.
    pub free: u64,
    /// Frames with more than one reference.
    pub shared: u64,
    /// Copy-on-write breaks that copied a frame.
    pub cow_copies: u64,
    /// Copy-on-write breaks of a frame's last reference (no copy).
    pub cow_reuses: u64,
}

/// Bitmap frame allocator over physical addresses `[0, WORDS * 64 * 4096)`.
pub struct FrameAllocator<const WORDS: usize> {
    free: [u64; WORDS],
    allocated: [u64; WORDS],
    /// Word index where the next search starts (all words before it are
    /// known to have no free bit), to keep allocation roughly O(1).
    hint: usize,
    /// Per frame: references beyond the first. Empty until sharing is
    /// enabled (one byte per managed frame).
    extra: Vec<u8>,
    /// Frames with at least one extra reference.
    shared: u64,
    cow_copies: u64,
    cow_reuses: u64,
}

impl<const WORDS: usize> Default for FrameAllocator<WORDS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const WORDS: usize> FrameAllocator<WORDS> {
    /// An allocator with no usable memory.
    pub const fn new() -> Self {
        Self {
            free: [0; WORDS],
            allocated: [0; WORDS],
            hint: 0,
            extra: Vec::new(),
            shared: 0,
            cow_copies: 0,
            cow_reuses: 0,
        }
    }

    /// Allocates the reference-count table (one byte per managed frame),
    /// so sharing never allocates later. Done by the kernel at boot;
    /// [`Self::share`] does it on first use otherwise.
    pub fn enable_sharing(&mut self) {
        if self.extra.is_empty() {
            self.extra = alloc::vec![0; Self::capacity_frames() as usize];
        }
    }

    /// The frame number of a handed-out frame `addr`.
    fn allocated_frame(&self, addr: u64) -> Result<u64, FrameError> {
        if !addr.is_multiple_of(FRAME_SIZE) {
            return Err(FrameError::Unaligned(addr));
        }
        let frame = addr / FRAME_SIZE;
        if frame >= Self::capacity_frames() {
            return Err(FrameError::OutOfRange(addr));
        }
        let (w, b) = Self::index(frame);
        if self.allocated[w] & b == 0 {
            return Err(FrameError::NotAllocated(addr));
        }
        Ok(frame)
    }

    fn extra_of(&self, frame: u64) -> u8 {
        self.extra.get(frame as usize).copied().unwrap_or(0)
    }

    /// Adds a reference to the handed-out frame `addr` (another address
    /// space maps it); returns its new reference count.
    pub fn share(&mut self, addr: u64) -> Result<u32, FrameError> {
        let frame = self.allocated_frame(addr)?;
        self.enable_sharing();
        let e = &mut self.extra[frame as usize];
        if *e == u8::MAX {
            return Err(FrameError::TooShared(addr));
        }
        *e += 1;
        if *e == 1 {
            self.shared += 1;
        }
        Ok(u32::from(*e) + 1)
    }

    /// Drops one reference to the handed-out frame `addr`; the last one
    /// frees it. Returns whether it was freed.
    pub fn release(&mut self, addr: u64) -> Result<bool, FrameError> {
        let frame = self.allocated_frame(addr)?;
        if self.extra_of(frame) > 0 {
            let e = &mut self.extra[frame as usize];
            *e -= 1;
            if *e == 0 {
                self.shared -= 1;
            }
            return Ok(false);
        }
        self.free(addr).map(|()| true)
    }

    /// References to frame `addr`: 0 if it is not handed out.
    pub fn refcount(&self, addr: u64) -> u32 {
        match self.allocated_frame(addr) {
            Ok(frame) => u32::from(self.extra_of(frame)) + 1,
            Err(_) => 0,
        }
    }

    /// Number of frames with more than one reference.
    pub fn shared_frames(&self) -> u64 {
        self.shared
    }

    /// Counts a copy-on-write break: `copied` when a new frame was filled
    /// with a copy, otherwise the last reference was just made writable.
    pub fn record_cow(&mut self, copied: bool) {
        if copied {
            self.cow_copies += 1;
        } else {
            self.cow_reuses += 1;
        }
    }

    /// Totals for `MemStats`.
    pub fn stats(&self) -> MemStats {
        let free = self.free_frames();
        MemStats {
            total: free + self.allocated_frames(),
            free,
            shared: self.shared,
            cow_copies: self.cow_copies,
            cow_reuses: self.cow_reuses,
        }
    }

    /// Number of frames this allocator can manage.
    pub const fn capacity_frames() -> u64 {
        (WORDS as u64) * 64
    }

    /// The physical range this allocator can manage.
    pub const fn managed_range() -> AddrRange {
        AddrRange::new(0, Self::capacity_frames() * FRAME_SIZE)
    }

    /// Marks every frame lying *entirely* inside `range` as free (usable
    /// RAM). Parts beyond the managed range are ignored.
    pub fn add_free(&mut self, range: AddrRange) {
        let first = range.start.div_ceil(FRAME_SIZE);
        let last = (range.end / FRAME_SIZE).min(Self::capacity_frames());
        for frame in first..last {
            let (w, b) = Self::index(frame);
            if self.allocated[w] & b == 0 {
                self.free[w] |= b;
            }
        }
        self.hint = 0;
    }

    /// Marks every frame that *touches* `range` as unusable. Call this for
    /// each reserved range after [`Self::add_free`] and before the first
    /// [`Self::alloc`].
    pub fn reserve(&mut self, range: AddrRange) {
        if range.is_empty() {
            return;
        }
        let first = range.start / FRAME_SIZE;
        let last = range.end.div_ceil(FRAME_SIZE).min(Self::capacity_frames());
        for frame in first..last {
            let (w, b) = Self::index(frame);
            self.free[w] &= !b;
        }
    }

    /// Hands out one free frame and returns its physical address.
    pub fn alloc(&mut self) -> Result<u64, FrameError> {
        for w in self.hint..WORDS {
            let bits = self.free[w];
            if bits != 0 {
                let bit = bits.trailing_zeros() as u64;
                let mask = 1u64 << bit;
                self.free[w] &= !mask;
                self.allocated[w] |= mask;
                self.hint = w;
                return Ok(((w as u64) * 64 + bit) * FRAME_SIZE);
            }
        }
        self.hint = WORDS;
        Err(FrameError::OutOfMemory)
    }

    /// Hands out `count` (at least 1) physically contiguous free frames
    /// whose first frame lies at a multiple of `align` frames (a power of
    /// two, at least 1), and returns the physical address of the first.
    /// Each frame is then freed on its own with [`Self::free`]. For DMA
    /// memory (virtqueues) the device reads with physical addresses.
    pub fn alloc_contiguous(&mut self, count: u64, align: u64) -> Result<u64, FrameError> {
        if count == 0 || count > Self::capacity_frames() || !align.is_power_of_two() {
            return Err(FrameError::OutOfMemory);
        }
        let cap = Self::capacity_frames();
        let mut start = 0u64;
        while start + count <= cap {
            // The first frame in `start..start + count` that is not free.
            match (start..start + count).find(|&f| {
                let (w, b) = Self::index(f);
                self.free[w] & b == 0
            }) {
                Some(busy) => start = (busy + 1).next_multiple_of(align),
                None => {
                    for f in start..start + count {
                        let (w, b) = Self::index(f);
                        self.free[w] &= !b;
                        self.allocated[w] |= b;
                    }
                    return Ok(start * FRAME_SIZE);
                }
            }
        }
        Err(FrameError::OutOfMemory)
    }

    /// Returns a frame obtained from [`Self::alloc`] that nobody else
    /// shares ([`FrameError::Shared`] otherwise: use [`Self::release`]).
    pub fn free(&mut self, addr: u64) -> Result<(), FrameError> {
        let frame = self.allocated_frame(addr)?;
        if self.extra_of(frame) > 0 {
            return Err(FrameError::Shared(addr));
        }
        let (w, b) = Self::index(frame);
        self.allocated[w] &= !b;
        self.free[w] |= b;
        self.hint = self.hint.min(w);
        Ok(())
    }

    /// Number of frames currently free.
    pub fn free_frames(&self) -> u64 {
        self.free.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Number of frames currently handed out.
    pub fn allocated_frames(&self) -> u64 {
        self.allocated
            .iter()
            .map(|w| u64::from(w.count_ones()))
            .sum()
    }

    fn index(frame: u64) -> (usize, u64) {
        ((frame / 64) as usize, 1u64 << (frame % 64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;

    type Small = FrameAllocator<4>; // 256 frames = 1 MiB

    fn mib() -> AddrRange {
        AddrRange::new(0, 0x10_0000)
    }

    #[test]
    fn starts_empty() {
        let mut a = Small::new();
        assert_eq!(a.free_frames(), 0);
        assert_eq!(a.alloc(), Err(FrameError::OutOfMemory));
    }

    #[test]
    fn allocations_are_aligned_unique_and_exhaust() {
        let mut a = Small::new();
        a.add_free(mib());
        let mut seen = BTreeSet::new();
        while let Ok(f) = a.alloc() {
            assert_eq!(f % FRAME_SIZE, 0, "frame {f:#x} not aligned");
            assert!(seen.insert(f), "frame {f:#x} handed out twice");
        }
        assert_eq!(seen.len(), 256);
        assert_eq!(a.alloc(), Err(FrameError::OutOfMemory));
        assert_eq!(a.allocated_frames(), 256);
    }

    #[test]
    fn reserved_ranges_are_never_handed_out() {
        let mut a = Small::new();
        a.add_free(mib());
        // Unaligned reservations widen to whole frames.
        let kernel = AddrRange::new(0x1_0800, 0x3_0001); // frames 0x10..=0x30
        let module = AddrRange::new(0x8_0000, 0x8_1000); // frame 0x80
        a.reserve(kernel);
        a.reserve(module);
        assert_eq!(a.free_frames(), 256 - 0x21 - 1);
        while let Ok(f) = a.alloc() {
            let fr = AddrRange::new(f, f + FRAME_SIZE);
            assert!(!fr.overlaps(&kernel), "{f:#x} overlaps kernel");
            assert!(!fr.overlaps(&module), "{f:#x} overlaps module");
        }
    }

    #[test]
    fn partial_ram_frames_are_not_used() {
        let mut a = Small::new();
        a.add_free(AddrRange::new(0x800, 0x3800)); // only frames 1 and 2 whole
        assert_eq!(a.free_frames(), 2);
        assert_eq!(a.alloc(), Ok(0x1000));
        assert_eq!(a.alloc(), Ok(0x2000));
        assert_eq!(a.alloc(), Err(FrameError::OutOfMemory));
    }

    #[test]
    fn memory_beyond_capacity_is_ignored() {
        let mut a = Small::new();
        a.add_free(AddrRange::new(0xF_F000, 0x100_0000));
        assert_eq!(a.free_frames(), 1);
    }

    #[test]
    fn free_rejects_bad_frames_and_double_free() {
        let mut a = Small::new();
        a.add_free(mib());
        a.reserve(AddrRange::new(0, 0x1000));
        let f = a.alloc().unwrap();
        assert_eq!(a.free(f + 1), Err(FrameError::Unaligned(f + 1)));
        assert_eq!(a.free(0x10_0000), Err(FrameError::OutOfRange(0x10_0000)));
        assert_eq!(
            a.free(0),
            Err(FrameError::NotAllocated(0)),
            "reserved frame"
        );
        assert_eq!(a.free(f), Ok(()));
        assert_eq!(a.free(f), Err(FrameError::NotAllocated(f)), "double free");
        // The freed frame is reused.
        assert_eq!(a.alloc(), Ok(f));
    }

    #[test]
    fn contiguous_allocations_skip_holes_and_respect_alignment() {
        let mut a = Small::new();
        a.add_free(mib());
        a.reserve(AddrRange::new(0, 0x1000)); // frame 0
        a.reserve(AddrRange::new(0x5000, 0x6000)); // frame 5
        // Frames 1-4 are too short a run for 5; 6-10 is the first fit.
        assert_eq!(a.alloc_contiguous(5, 1), Ok(0x6000));
        // Aligned to 8 frames: 16 is the first free multiple of 8 with 3 free.
        assert_eq!(a.alloc_contiguous(3, 8), Ok(0x10000));
        // Every frame of a run is handed out and freed on its own.
        assert_eq!(a.allocated_frames(), 8);
        for f in (0x6000..0xB000).step_by(0x1000) {
            assert_eq!(a.free(f), Ok(()));
        }
        assert_eq!(a.alloc_contiguous(5, 1), Ok(0x6000));
        // Single frames come from the holes left.
        assert_eq!(a.alloc(), Ok(0x1000));
    }

    #[test]
    fn contiguous_allocation_refuses_bad_requests_and_exhaustion() {
        let mut a = Small::new();
        a.add_free(mib());
        assert_eq!(a.alloc_contiguous(0, 1), Err(FrameError::OutOfMemory));
        assert_eq!(a.alloc_contiguous(1, 3), Err(FrameError::OutOfMemory));
        assert_eq!(a.alloc_contiguous(257, 1), Err(FrameError::OutOfMemory));
        assert_eq!(
            a.alloc_contiguous(u64::MAX, 1),
            Err(FrameError::OutOfMemory)
        );
        assert_eq!(a.alloc_contiguous(256, 1), Ok(0));
        assert_eq!(a.alloc_contiguous(1, 1), Err(FrameError::OutOfMemory));
        assert_eq!(a.alloc(), Err(FrameError::OutOfMemory));
        // Fragmented memory: every other frame free, no run of two.
        for f in (0..256u64).step_by(2) {
            a.free(f * FRAME_SIZE).unwrap();
        }
        assert_eq!(a.alloc_contiguous(2, 1), Err(FrameError::OutOfMemory));
        assert_eq!(a.alloc_contiguous(1, 1), Ok(0));
    }

    #[test]
    fn shared_frames_are_freed_with_the_last_reference() {
        let mut a = Small::new();
        a.add_free(mib());
        let before = a.free_frames();
        let f = a.alloc().unwrap();
        assert_eq!(a.refcount(f), 1);
        assert_eq!(a.shared_frames(), 0);
        assert_eq!(a.share(f), Ok(2));
        assert_eq!(a.share(f), Ok(3));
        assert_eq!(a.shared_frames(), 1, "one frame, three references");
        assert_eq!(a.free(f), Err(FrameError::Shared(f)), "still shared");
        assert_eq!(a.release(f), Ok(false));
        assert_eq!(a.release(f), Ok(false));
        assert_eq!(a.shared_frames(), 0);
        assert_eq!(a.refcount(f), 1);
        assert_eq!(a.free_frames(), before - 1);
        assert_eq!(a.release(f), Ok(true), "the last reference frees it");
        assert_eq!(a.free_frames(), before);
        assert_eq!(a.refcount(f), 0);
        assert_eq!(a.release(f), Err(FrameError::NotAllocated(f)));
        assert_eq!(a.share(f), Err(FrameError::NotAllocated(f)));
        // A reused frame starts with one reference again.
        assert_eq!(a.alloc(), Ok(f));
        assert_eq!(a.refcount(f), 1);
        assert_eq!(a.free(f), Ok(()));
    }

    #[test]
    fn reference_counts_saturate_with_an_error() {
        let mut a = Small::new();
        a.add_free(mib());
        let f = a.alloc().unwrap();
        for n in 2..=256 {
            assert_eq!(a.share(f), Ok(n));
        }
        assert_eq!(a.share(f), Err(FrameError::TooShared(f)));
        assert_eq!(a.refcount(f), 256);
        for _ in 0..255 {
            assert_eq!(a.release(f), Ok(false));
        }
        assert_eq!(a.release(f), Ok(true));
        assert_eq!(a.allocated_frames(), 0);
        assert_eq!(a.share(f + 1), Err(FrameError::Unaligned(f + 1)));
        assert_eq!(a.release(0x10_0000), Err(FrameError::OutOfRange(0x10_0000)));
    }

    #[test]
    fn stats_count_frames_sharing_and_cow_breaks() {
        let mut a = Small::new();
        a.add_free(AddrRange::new(0, 0x1_0000)); // 16 frames
        let (f, g) = (a.alloc().unwrap(), a.alloc().unwrap());
        a.share(f).unwrap();
        a.share(g).unwrap();
        a.share(g).unwrap();
        a.record_cow(true);
        a.record_cow(false);
        a.record_cow(false);
        assert_eq!(
            a.stats(),
            MemStats {
                total: 16,
                free: 14,
                shared: 2,
                cow_copies: 1,
                cow_reuses: 2
            }
        );
    }

    #[test]
    fn add_free_does_not_resurrect_allocated_frames() {
        let mut a = Small::new();
        a.add_free(mib());
        let f = a.alloc().unwrap();
        a.add_free(mib());
        let mut seen = BTreeSet::new();
        while let Ok(g) = a.alloc() {
            assert_ne!(g, f);
            seen.insert(g);
        }
        assert_eq!(seen.len(), 255);
    }
}
