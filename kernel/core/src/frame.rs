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

use crate::range::AddrRange;

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
}

/// Bitmap frame allocator over physical addresses `[0, WORDS * 64 * 4096)`.
pub struct FrameAllocator<const WORDS: usize> {
    free: [u64; WORDS],
    allocated: [u64; WORDS],
    /// Word index where the next search starts (all words before it are
    /// known to have no free bit), to keep allocation roughly O(1).
    hint: usize,
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

    /// Returns a frame obtained from [`Self::alloc`].
    pub fn free(&mut self, addr: u64) -> Result<(), FrameError> {
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
