//! The user heap: power-of-two size classes with free lists (16 bytes to
//! 64 MiB, every class reused), carved first from a static arena and then
//! from the heap-growth window (`abi::HEAP_BASE..abi::HEAP_END`), whose
//! pages are mapped on demand with `MapPages` on the process itself. A
//! process without that kernel call (a plain user) keeps to the static
//! arena. Programs are single-threaded and never interrupted by their own
//! code, so no locking is needed.
//!
//! Power-of-two classes waste up to half of a large block, but they make
//! every free O(1) and let a file server's cache buffers and per-request
//! transfer buffers be reused forever without fragmentation. Blocks above
//! the largest class are carved and never reused.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;

/// Bytes in the static arena.
pub const HEAP_SIZE: usize = 256 * 1024;
const MIN_CLASS: usize = 16;
/// Classes 16 B ..= 64 MiB.
const CLASSES: usize = 23;
/// Pages mapped per `MapPages` call at most (the kernel's bound).
const MAP_CHUNK: usize = abi::MAX_MAP_PAGES as usize * 4096;
/// Smallest growth step of the window, to keep system calls rare.
const GROW_STEP: usize = 256 * 1024;

#[repr(C, align(4096))]
struct Arena([u8; HEAP_SIZE]);

/// Maps `len` bytes (page multiple) at `addr`; true on success.
pub type MapFn = fn(usize, usize) -> bool;

struct State {
    /// Carving offset in the static arena.
    next: usize,
    free: [usize; CLASSES],
    /// Carving pointer and mapped end inside the growth window.
    win_next: usize,
    win_mapped: usize,
}

/// A heap over its own static arena plus a growth window.
pub struct StaticHeap {
    arena: UnsafeCell<Arena>,
    state: UnsafeCell<State>,
    win_base: usize,
    win_end: usize,
    map: MapFn,
}

// SAFETY: user programs are single-threaded; allocation calls never
// overlap.
unsafe impl Sync for StaticHeap {}

fn no_map(_: usize, _: usize) -> bool {
    false
}

impl Default for StaticHeap {
    fn default() -> Self {
        Self::new()
    }
}

impl StaticHeap {
    /// A heap with only its static arena.
    pub const fn new() -> Self {
        Self::with_window(0, 0, no_map)
    }

    /// A heap that grows into `base..end` (page-aligned, unmapped until
    /// `map` maps it) when the static arena is used up.
    pub const fn with_window(base: usize, end: usize, map: MapFn) -> Self {
        Self {
            arena: UnsafeCell::new(Arena([0; HEAP_SIZE])),
            state: UnsafeCell::new(State {
                next: 0,
                free: [0; CLASSES],
                win_next: base,
                win_mapped: base,
            }),
            win_base: base,
            win_end: end,
            map,
        }
    }

    /// Bytes mapped in the growth window so far.
    pub fn window_mapped(&self) -> usize {
        // SAFETY: single-threaded; a plain read of the state.
        let st = unsafe { &*self.state.get() };
        st.win_mapped - self.win_base
    }

    /// Carves `size` bytes aligned to `align`: static arena first, then the
    /// window (mapping more of it as needed). Null when both are full.
    fn carve(&self, st: &mut State, size: usize, align: usize) -> *mut u8 {
        let base = self.arena.get() as usize;
        let start = (base + st.next).next_multiple_of(align);
        if let Some(end) = start.checked_add(size)
            && end <= base + HEAP_SIZE
        {
            st.next = end - base;
            return start as *mut u8;
        }
        let start = st.win_next.next_multiple_of(align);
        let Some(end) = start.checked_add(size) else {
            return ptr::null_mut();
        };
        if end > self.win_end {
            return ptr::null_mut();
        }
        if end > st.win_mapped {
            let want = (end - st.win_mapped)
                .max(GROW_STEP)
                .next_multiple_of(4096)
                .min(self.win_end - st.win_mapped);
            let mut done = 0;
            while done < want {
                let n = (want - done).min(MAP_CHUNK);
                if !(self.map)(st.win_mapped + done, n) {
                    break;
                }
                done += n;
            }
            st.win_mapped += done;
            if end > st.win_mapped {
                return ptr::null_mut();
            }
        }
        st.win_next = end;
        start as *mut u8
    }
}

/// (class index, block size, block alignment) of a layout, or `None` above
/// the largest class.
fn class_of(layout: &Layout) -> Option<(usize, usize, usize)> {
    let size = layout
        .size()
        .max(layout.align())
        .max(MIN_CLASS)
        .checked_next_power_of_two()?;
    let idx = (size.trailing_zeros() - MIN_CLASS.trailing_zeros()) as usize;
    (idx < CLASSES).then_some((idx, size, size.min(4096).max(layout.align())))
}

// SAFETY: blocks come from the arena or the mapped part of the window, are
// aligned to at least the requested alignment, never overlap (carving
// pointers only grow; a freed block returns to the list of its own class,
// and a class's blocks all have its size) and are handed out once until
// freed.
unsafe impl GlobalAlloc for StaticHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: no concurrent calls (single-threaded program).
        let st = unsafe { &mut *self.state.get() };
        match class_of(&layout) {
            Some((idx, size, align)) => {
                let head = st.free[idx];
                if head != 0 {
                    // SAFETY: `head` is a freed block of this class whose
                    // first word links to the next one.
                    st.free[idx] = unsafe { ptr::read(head as *const usize) };
                    return head as *mut u8;
                }
                self.carve(st, size, align)
            }
            None => self.carve(st, layout.size(), layout.align()),
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if let Some((idx, _, _)) = class_of(&layout) {
            // SAFETY: single-threaded; `p` is a block of this class, at
            // least 16 bytes and 16-aligned, so it can hold the link.
            let st = unsafe { &mut *self.state.get() };
            // SAFETY: as above.
            unsafe { ptr::write(p as *mut usize, st.free[idx]) };
            st.free[idx] = p as usize;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn blocks_are_aligned_disjoint_and_reused() {
        let heap = Box::new(StaticHeap::new());
        let mut live = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, size) in [1usize, 8, 24, 100, 4096, 5000, 33]
            .iter()
            .cycle()
            .take(40)
            .enumerate()
        {
            let align = 1 << (i % 6);
            let layout = Layout::from_size_align(*size, align).unwrap();
            // SAFETY: nonzero size.
            let p = unsafe { heap.alloc(layout) };
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0);
            for &(q, l) in &live {
                let (a, b) = (p as usize, q as usize);
                let l: Layout = l;
                assert!(a + size <= b || b + l.size() <= a, "blocks overlap");
            }
            seen.insert(p as usize);
            live.push((p, layout));
        }
        let (p, l) = live.pop().unwrap();
        // SAFETY: p came from this heap with layout l.
        unsafe { heap.dealloc(p, l) };
        // SAFETY: same layout again.
        let q = unsafe { heap.alloc(l) };
        assert_eq!(p, q, "freed block is reused");
    }

    #[test]
    fn exhaustion_without_a_window_returns_null() {
        let heap = Box::new(StaticHeap::new());
        let big = Layout::from_size_align(HEAP_SIZE / 2 + 1, 8).unwrap();
        // SAFETY: nonzero size.
        assert!(!unsafe { heap.alloc(big) }.is_null());
        // SAFETY: nonzero size.
        assert!(unsafe { heap.alloc(big) }.is_null());
    }

    fn map_ok(_: usize, _: usize) -> bool {
        true
    }

    #[test]
    fn large_blocks_grow_into_the_window_and_are_reused() {
        // A host buffer stands in for the window (already "mapped").
        let window = vec![0u8; 8 << 20].leak();
        let base = (window.as_ptr() as usize).next_multiple_of(4096);
        let end = base + (6 << 20);
        let heap = Box::new(StaticHeap::with_window(base, end, map_ok));
        let l = Layout::from_size_align(1 << 20, 8).unwrap();
        let mut got = Vec::new();
        for _ in 0..4 {
            // SAFETY: nonzero size.
            let p = unsafe { heap.alloc(l) };
            assert!(!p.is_null());
            assert!((base..end).contains(&(p as usize)), "block from the window");
            got.push(p);
        }
        assert!(heap.window_mapped() >= 4 << 20);
        // The window is nearly full; a freed MiB comes back, not new space.
        for &p in &got {
            // SAFETY: p came from this heap with layout l.
            unsafe { heap.dealloc(p, l) };
        }
        for _ in 0..4 {
            // SAFETY: nonzero size.
            let p = unsafe { heap.alloc(l) };
            assert!(got.contains(&p), "freed large block reused");
        }
        // Beyond the window: null, never a block outside it.
        let huge = Layout::from_size_align(4 << 20, 8).unwrap();
        // SAFETY: nonzero size.
        assert!(unsafe { heap.alloc(huge) }.is_null());
    }

    #[test]
    fn a_refused_mapping_is_an_allocation_failure() {
        fn refuse(_: usize, _: usize) -> bool {
            false
        }
        let heap = Box::new(StaticHeap::with_window(0x4800_0000, 0x6000_0000, refuse));
        let l = Layout::from_size_align(HEAP_SIZE + 1, 8).unwrap();
        // SAFETY: nonzero size.
        assert!(unsafe { heap.alloc(l) }.is_null());
    }
}
