//! The user heap: power-of-two size classes with free lists over a static
//! arena, plus first-come carving for larger blocks (not reused). Programs
//! are single-threaded and never interrupted by their own code, so no
//! locking is needed.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;

/// Bytes in the static heap.
pub const HEAP_SIZE: usize = 256 * 1024;
const MIN_CLASS: usize = 16;
const CLASSES: usize = 9; // 16 .. 4096

#[repr(C, align(4096))]
struct Arena([u8; HEAP_SIZE]);

struct State {
    next: usize,
    free: [usize; CLASSES],
}

/// A heap over its own static arena.
pub struct StaticHeap {
    arena: UnsafeCell<Arena>,
    state: UnsafeCell<State>,
}

// SAFETY: user programs are single-threaded; allocation calls never
// overlap.
unsafe impl Sync for StaticHeap {}

impl Default for StaticHeap {
    fn default() -> Self {
        Self::new()
    }
}

impl StaticHeap {
    /// An empty heap.
    pub const fn new() -> Self {
        Self {
            arena: UnsafeCell::new(Arena([0; HEAP_SIZE])),
            state: UnsafeCell::new(State {
                next: 0,
                free: [0; CLASSES],
            }),
        }
    }
}

fn class_of(layout: &Layout) -> Option<(usize, usize)> {
    let size = layout
        .size()
        .max(layout.align())
        .max(MIN_CLASS)
        .next_power_of_two();
    let idx = (size.trailing_zeros() - MIN_CLASS.trailing_zeros()) as usize;
    (idx < CLASSES).then_some((idx, size))
}

// SAFETY: blocks come from the arena, are aligned to at least the requested
// alignment, never overlap (the carving offset only grows; a freed block
// returns to the list of its own class) and are handed out once until freed.
unsafe impl GlobalAlloc for StaticHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: no concurrent calls (single-threaded program).
        let st = unsafe { &mut *self.state.get() };
        let (size, align) = match class_of(&layout) {
            Some((idx, size)) => {
                let head = st.free[idx];
                if head != 0 {
                    // SAFETY: `head` is a freed block of this class whose
                    // first word links to the next one.
                    st.free[idx] = unsafe { ptr::read(head as *const usize) };
                    return head as *mut u8;
                }
                (size, size)
            }
            None => (layout.size(), layout.align()),
        };
        let base = self.arena.get() as usize;
        let start = (base + st.next).next_multiple_of(align);
        match start.checked_add(size) {
            Some(end) if end <= base + HEAP_SIZE => {
                st.next = end - base;
                start as *mut u8
            }
            _ => ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if let Some((idx, _)) = class_of(&layout) {
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
    fn exhaustion_returns_null() {
        let heap = Box::new(StaticHeap::new());
        let big = Layout::from_size_align(HEAP_SIZE / 2 + 1, 8).unwrap();
        // SAFETY: nonzero size.
        assert!(!unsafe { heap.alloc(big) }.is_null());
        // SAFETY: nonzero size.
        assert!(unsafe { heap.alloc(big) }.is_null());
    }
}
