//! The kernel heap: size classes over a static arena.
//!
//! Blocks are rounded to a power of two and recycled through per-class
//! free lists (blocks up to 4 KiB aligned to their size, larger ones to 4
//! KiB: page-frame lists of address spaces grow at run time, so large
//! blocks must be reused or user processes could exhaust the heap). Only
//! blocks aligned to more than 4 KiB are carved from the arena and not
//! reused. The state sits behind a `spin::Mutex` (single CPU, interrupts
//! off: never contended).

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;
use spin::Mutex;

const ARENA_SIZE: usize = 4 << 20;
const MIN_CLASS: usize = 16;
const CLASSES: usize = 19; // 16 .. 4 MiB
/// Largest alignment a class block has (blocks up to this size are aligned
/// to their size).
const CLASS_ALIGN: usize = 4096;

#[repr(C, align(4096))]
struct Arena([u8; ARENA_SIZE]);

struct State {
    next: usize,
    free: [usize; CLASSES],
}

/// The kernel's global allocator.
pub struct KernelHeap {
    arena: UnsafeCell<Arena>,
    state: Mutex<State>,
}

// SAFETY: the arena is only reached through blocks handed out under the
// `state` lock, each to one owner at a time.
unsafe impl Sync for KernelHeap {}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap {
    arena: UnsafeCell::new(Arena([0; ARENA_SIZE])),
    state: Mutex::new(State {
        next: 0,
        free: [0; CLASSES],
    }),
};

fn class_of(layout: &Layout) -> Option<(usize, usize)> {
    let size = layout
        .size()
        .max(layout.align())
        .max(MIN_CLASS)
        .next_power_of_two();
    let idx = (size.trailing_zeros() - MIN_CLASS.trailing_zeros()) as usize;
    (idx < CLASSES && layout.align() <= CLASS_ALIGN).then_some((idx, size))
}

// SAFETY: blocks come from the arena, are aligned to at least the requested
// alignment, never overlap (bump pointer only grows; freed blocks go back to
// the list of their own size) and are handed out once until freed.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut st = self.state.lock();
        let base = self.arena.get() as usize;
        let (size, align) = match class_of(&layout) {
            Some((idx, size)) => {
                let head = st.free[idx];
                if head != 0 {
                    // SAFETY: `head` is a freed block of this class; its
                    // first word holds the next free block.
                    st.free[idx] = unsafe { ptr::read(head as *const usize) };
                    return head as *mut u8;
                }
                // Align to the block size (at most CLASS_ALIGN) so every
                // class block also satisfies any alignment of its class.
                (size, size.min(CLASS_ALIGN))
            }
            None => (layout.size(), layout.align()),
        };
        let start = (base + st.next).next_multiple_of(align);
        let end = match start.checked_add(size) {
            Some(e) if e <= base + ARENA_SIZE => e,
            _ => return ptr::null_mut(),
        };
        st.next = end - base;
        start as *mut u8
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if let Some((idx, _)) = class_of(&layout) {
            let mut st = self.state.lock();
            // SAFETY: `p` was a block of this class and is at least 16
            // bytes, 16-aligned, so it can hold the link.
            unsafe { ptr::write(p as *mut usize, st.free[idx]) };
            st.free[idx] = p as usize;
        }
        // Large blocks are boot-time only and are not reused.
    }
}
