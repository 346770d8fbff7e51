//! The user heap: power-of-two size classes with free lists (16 bytes to
//! 64 MiB, every class reused), carved first from a static arena and then
//! from the heap-growth window (`abi::HEAP_BASE..abi::HEAP_END`), whose
//! pages are mapped on demand with `MapPages` on the process itself. A
//! process without that kernel call (a plain user) keeps to the static
//! arena. The allocator's own state sits behind a `spin::Mutex`: programs
//! are single-threaded, so it is never contended, but it makes every use of
//! the state exclusive without hand-made `Sync` promises (an allocation
//! re-entered from inside an allocation would hang on it rather than
//! corrupt the free lists).
//!
//! Power-of-two classes waste up to half of a large block, but they make
//! every free O(1) and let a file server's cache buffers and per-request
//! transfer buffers be reused forever without fragmentation. Blocks above
//! the largest class are carved and never reused.
//!
//! **Preserved heap** (opt-in, [`StaticHeap::start_preserved`]; typed API
//! in `rt::persist`): every allocation from then on is carved from the
//! preserved window (`abi::PRESERVE_BASE..PRESERVE_END`), whose pages the
//! kernel moves to a restarted instance. The allocator's own state (free
//! lists, carving pointer, bytes in use) lives in a [`Header`] in the
//! window's first page, with a magic number, a layout version, a *busy*
//! word that is set while an allocation or free is under way (an instance
//! killed there leaves it set, and its successor refuses the heap) and a
//! root slot. A restarted instance of the same program that finds a valid,
//! idle header adopts the heap: the free lists go on being used, the object
//! registered as root is taken back, and whatever else the dead instance
//! had allocated stays allocated (it leaks; [`Usage`] counts it). Blocks
//! from the static arena or the heap window (allocated before the switch)
//! are still freed to their own lists: a free is routed by address.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::{Ordering, compiler_fence};

/// Bytes in the static arena.
pub const HEAP_SIZE: usize = 256 * 1024;
const MIN_CLASS: usize = 16;
/// Classes 16 B ..= 64 MiB.
const CLASSES: usize = 23;
/// Pages mapped per `MapPages` call at most (the kernel's bound).
const MAP_CHUNK: usize = abi::MAX_MAP_PAGES as usize * 4096;
/// Smallest growth step of the window, to keep system calls rare.
const GROW_STEP: usize = 256 * 1024;

/// Magic number of a preserved heap header ("RTPHEAP\0").
pub const PRESERVED_MAGIC: u64 = 0x0050_4145_4850_5452;
/// Layout version of [`Header`] (and of [`State`] inside it).
pub const PRESERVED_VERSION: u32 = 1;
/// Bytes before the first block of the preserved heap (the header page).
pub const HEADER_BYTES: usize = 4096;
/// Bytes at the end of the preserved window kept out of the heap: the
/// carry area, where an instance that asks for a fresh heap
/// ([`StaticHeap::request_reset`]) leaves bytes for its successor.
pub const CARRY_BYTES: usize = 512 * 1024;

#[repr(C, align(4096))]
struct Arena([u8; HEAP_SIZE]);

/// The static arena of a [`StaticHeap`], a static of its own: all zero,
/// so it lies in `.bss` and costs a program file nothing (inside the
/// heap's static, whose other fields are not zero, it would be 256 KiB of
/// zeros in `.data`, read and copied by every exec).
pub struct ArenaCell(UnsafeCell<Arena>);

// SAFETY: the arena is raw memory, never read or written through the cell:
// only the one heap given it carves blocks from it, under that heap's lock,
// and each block is handed out once until freed.
unsafe impl Sync for ArenaCell {}

impl ArenaCell {
    /// A zeroed arena.
    pub const fn new() -> Self {
        ArenaCell(UnsafeCell::new(Arena([0; HEAP_SIZE])))
    }
}

impl Default for ArenaCell {
    fn default() -> Self {
        Self::new()
    }
}

/// Maps `len` bytes (page multiple) at `addr`; true on success.
pub type MapFn = fn(usize, usize) -> bool;

/// Allocator state of one heap: plain words, so that it can live in the
/// preserved window.
#[repr(C)]
#[derive(Clone, Copy)]
struct State {
    /// Carving offset in the static arena (volatile heap only).
    next: usize,
    free: [usize; CLASSES],
    /// Carving pointer and mapped end inside the growth window.
    win_next: usize,
    win_mapped: usize,
    /// Bytes in blocks handed out and not freed (class sizes).
    in_use: usize,
    /// Allocations and frees made.
    ops: u64,
}

impl State {
    const fn new(win: usize) -> State {
        State {
            next: 0,
            free: [0; CLASSES],
            win_next: win,
            win_mapped: win,
            in_use: 0,
            ops: 0,
        }
    }
}

/// The preserved heap's header, at the start of the preserved window.
#[repr(C)]
struct Header {
    magic: u64,
    version: u32,
    /// Nonzero while an allocation or free is changing `state`.
    busy: u32,
    /// Instances that have used this heap (1 for the first).
    generation: u64,
    /// Times the heap was started afresh over a previous one (damaged,
    /// foreign or discarded with [`StaticHeap::rebuild_preserved`]).
    resets: u64,
    /// Registered root object and its type tag (0: none).
    root: usize,
    root_tag: u64,
    /// Bytes in use when the current instance adopted the heap.
    in_use_at_adoption: usize,
    /// Nonzero: the previous instance asked for a fresh heap, leaving
    /// `carry_len` bytes with crc32 `carry_crc` in the carry area.
    reset_requested: u32,
    carry_crc: u32,
    carry_len: usize,
    state: State,
}

/// Why a preserved heap was started empty rather than adopted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreshReason {
    /// Nothing there (a first start, or the window was not kept).
    Empty,
    /// The previous instance died inside an allocation or free.
    Busy,
    /// Not a header of this layout version (garbage or another program).
    Foreign,
    /// The previous instance asked for it ([`StaticHeap::request_reset`]);
    /// what it carried across is in [`StaticHeap::take_carry`].
    Requested,
}

/// What [`StaticHeap::start_preserved`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The previous instance's heap, adopted.
    Adopted(Usage),
    /// A new, empty heap.
    Fresh(FreshReason),
}

/// Why the preserved heap cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreserveError {
    /// This heap has no preserved window.
    NoWindow,
    /// The volatile heap was used before the switch, or the switch was made
    /// already (it must come first in `main`).
    TooLate,
    /// The window's first page could not be mapped.
    MapFailed,
    /// Not started.
    NotNow,
    /// More than [`CARRY_BYTES`] to carry.
    TooBig,
}

/// Figures of the preserved heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Bytes in blocks now allocated.
    pub in_use: usize,
    /// Bytes in use when this instance adopted the heap (the dead
    /// instances' live blocks, most of them leaked).
    pub in_use_at_adoption: usize,
    /// Bytes of the window mapped for blocks.
    pub mapped: usize,
    /// Bytes the window can hold (header excluded).
    pub capacity: usize,
    /// Instances that used this heap, this one included.
    pub generation: u64,
    /// Fresh starts over an earlier heap.
    pub resets: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Everything in the static arena and the heap window.
    Volatile,
    /// New blocks come from the preserved window.
    Preserved,
    /// Preserved heap started, new blocks temporarily volatile (rebuild).
    Suspended,
}

/// The volatile heap's state and the mode, under the heap's lock.
struct Local {
    state: State,
    control: Control,
}

struct Control {
    mode: Mode,
    /// `state.ops` of the preserved heap when this instance started it.
    ops_at_start: u64,
    /// Bytes the previous instance carried across a requested reset (in
    /// the carry area), until taken.
    carry: Option<(usize, u32)>,
}

/// A heap over its own static arena plus a growth window, optionally
/// switching to a preserved window.
pub struct StaticHeap {
    arena: &'static ArenaCell,
    /// Held by every call; also serialises the use of the preserved
    /// header, which is plain memory in the window.
    local: spin::Mutex<Local>,
    win_base: usize,
    win_end: usize,
    map: MapFn,
    pres_base: usize,
    pres_end: usize,
    pres_map: MapFn,
}

fn no_map(_: usize, _: usize) -> bool {
    false
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

/// Carves `size` bytes aligned to `align` from the window part of `st`
/// (ending at `end`), mapping more of it with `map` as needed.
fn carve_window(
    st: &mut State,
    end_limit: usize,
    map: MapFn,
    size: usize,
    align: usize,
) -> *mut u8 {
    let start = st.win_next.next_multiple_of(align);
    let Some(end) = start.checked_add(size) else {
        return ptr::null_mut();
    };
    if end > end_limit {
        return ptr::null_mut();
    }
    if end > st.win_mapped {
        let want = (end - st.win_mapped)
            .max(GROW_STEP)
            .next_multiple_of(4096)
            .min(end_limit - st.win_mapped);
        let mut done = 0;
        while done < want {
            let n = (want - done).min(MAP_CHUNK);
            if !map(st.win_mapped + done, n) {
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

impl StaticHeap {
    /// A heap with only its static arena.
    pub const fn new(arena: &'static ArenaCell) -> Self {
        Self::with_window(arena, 0, 0, no_map)
    }

    /// A heap that grows into `base..end` (page-aligned, unmapped until
    /// `map` maps it) when the static arena is used up.
    pub const fn with_window(
        arena: &'static ArenaCell,
        base: usize,
        end: usize,
        map: MapFn,
    ) -> Self {
        Self::with_windows(arena, base, end, map, 0, 0, no_map)
    }

    /// Like [`StaticHeap::with_window`], and able to switch to a preserved
    /// heap in `pres_base..pres_end` (page-aligned; pages mapped with
    /// `pres_map`, which must leave pages already there as they are).
    pub const fn with_windows(
        arena: &'static ArenaCell,
        base: usize,
        end: usize,
        map: MapFn,
        pres_base: usize,
        pres_end: usize,
        pres_map: MapFn,
    ) -> Self {
        Self {
            arena,
            local: spin::Mutex::new(Local {
                state: State::new(base),
                control: Control {
                    mode: Mode::Volatile,
                    ops_at_start: 0,
                    carry: None,
                },
            }),
            win_base: base,
            win_end: end,
            map,
            pres_base,
            pres_end,
            pres_map,
        }
    }

    /// Bytes mapped in the growth window so far.
    pub fn window_mapped(&self) -> usize {
        self.local.lock().state.win_mapped - self.win_base
    }

    fn header(&self) -> *mut Header {
        self.pres_base as *mut Header
    }

    fn in_preserved(&self, p: usize) -> bool {
        self.pres_base != 0 && (self.pres_base..self.pres_end).contains(&p)
    }

    /// Sets or clears the header's busy word, ordered against the state
    /// changes it brackets (a kill can strike at any instruction). Called
    /// with the heap's lock held.
    fn set_busy(&self, on: bool) {
        compiler_fence(Ordering::SeqCst);
        // SAFETY: the header page is mapped once the preserved heap has
        // been started (only then is this called); the caller holds the
        // heap's lock, so no other reference to the header is in use.
        unsafe { ptr::write_volatile(&raw mut (*self.header()).busy, u32::from(on)) };
        compiler_fence(Ordering::SeqCst);
    }

    fn fresh_header(&self, generation: u64, resets: u64, mapped: Option<usize>) {
        let data = self.pres_base + HEADER_BYTES;
        let mut state = State::new(data);
        if let Some(m) = mapped {
            state.win_mapped = m;
        }
        let h = Header {
            magic: 0,
            version: PRESERVED_VERSION,
            busy: 0,
            generation,
            resets,
            root: 0,
            root_tag: 0,
            in_use_at_adoption: 0,
            reset_requested: 0,
            carry_crc: 0,
            carry_len: 0,
            state,
        };
        // SAFETY: the header page is mapped and writable (mapped by
        // `start_preserved` before this is called, with the heap's lock
        // held, so nothing else uses the header). The magic is written
        // last, so a kill in between leaves no valid header.
        unsafe {
            ptr::write_volatile(self.header(), h);
            compiler_fence(Ordering::SeqCst);
            ptr::write_volatile(&raw mut (*self.header()).magic, PRESERVED_MAGIC);
        }
        compiler_fence(Ordering::SeqCst);
    }

    /// Switches every later allocation to the preserved window, adopting the
    /// heap a previous instance left there if its header is valid and was
    /// not left busy. Must come before the program allocates anything.
    pub fn start_preserved(&self) -> Result<Start, PreserveError> {
        if self.pres_base == 0 || self.pres_end < self.pres_base + 2 * HEADER_BYTES + CARRY_BYTES {
            return Err(PreserveError::NoWindow);
        }
        let mut local = self.local.lock();
        let Local {
            state: st,
            control: ctl,
        } = &mut *local;
        if ctl.mode != Mode::Volatile || st.next != 0 || st.win_next != self.win_base {
            return Err(PreserveError::TooLate);
        }
        if !(self.pres_map)(self.pres_base, HEADER_BYTES) {
            return Err(PreserveError::MapFailed);
        }
        // SAFETY: the header page was just mapped; the heap's lock is held,
        // and no reference into the header is held elsewhere.
        let h = unsafe { &mut *self.header() };
        let data = self.pres_base + HEADER_BYTES;
        let heap_end = self.heap_end();
        let valid_state = |s: &State| {
            (data..=heap_end).contains(&s.win_next)
                && (data..=heap_end).contains(&s.win_mapped)
                && s.win_next <= s.win_mapped
                && s.win_mapped.is_multiple_of(4096)
                && s.free
                    .iter()
                    .all(|&f| f == 0 || (data..s.win_next).contains(&f))
        };
        let start = if h.magic == PRESERVED_MAGIC && h.version == PRESERVED_VERSION {
            if h.reset_requested != 0 && h.busy == 0 && h.carry_len <= CARRY_BYTES {
                let (g, r, m) = (h.generation, h.resets, h.state.win_mapped);
                let carry = (h.carry_len, h.carry_crc);
                let m = valid_state(&h.state).then_some(m);
                self.fresh_header(g + 1, r + 1, m);
                ctl.carry = Some(carry);
                Start::Fresh(FreshReason::Requested)
            } else if h.busy != 0 || !valid_state(&h.state) {
                let (g, r) = (h.generation, h.resets);
                self.fresh_header(g + 1, r + 1, None);
                Start::Fresh(FreshReason::Busy)
            } else {
                h.generation += 1;
                h.in_use_at_adoption = h.state.in_use;
                Start::Adopted(self.usage_of(h))
            }
        } else if h.magic == 0 {
            self.fresh_header(1, 0, None);
            Start::Fresh(FreshReason::Empty)
        } else {
            self.fresh_header(1, 1, None);
            Start::Fresh(FreshReason::Foreign)
        };
        // SAFETY: as above.
        ctl.ops_at_start = unsafe { (*self.header()).state.ops };
        ctl.mode = Mode::Preserved;
        Ok(start)
    }

    fn usage_of(&self, h: &Header) -> Usage {
        let data = self.pres_base + HEADER_BYTES;
        Usage {
            in_use: h.state.in_use,
            in_use_at_adoption: h.in_use_at_adoption,
            mapped: h.state.win_mapped - data,
            capacity: self.heap_end() - data,
            generation: h.generation,
            resets: h.resets,
        }
    }

    /// Figures of the preserved heap, once started.
    pub fn preserved_usage(&self) -> Option<Usage> {
        let local = self.local.lock();
        if local.control.mode == Mode::Volatile {
            return None;
        }
        // SAFETY: started, so the header page is mapped; the heap's lock
        // is held.
        Some(self.usage_of(unsafe { &*self.header() }))
    }

    /// The registered root (address, type tag), if any.
    pub fn preserved_root(&self) -> Option<(usize, u64)> {
        let local = self.local.lock();
        if local.control.mode == Mode::Volatile {
            return None;
        }
        // SAFETY: started, so the header page is mapped; the heap's lock
        // is held.
        let h = unsafe { &*self.header() };
        (h.root != 0).then_some((h.root, h.root_tag))
    }

    /// Registers `addr` (a block of the preserved heap) as the root with
    /// type tag `tag`; false if not started or `addr` is outside it.
    pub fn set_preserved_root(&self, addr: usize, tag: u64) -> bool {
        let local = self.local.lock();
        if local.control.mode != Mode::Preserved
            || !self.in_preserved(addr)
            || addr < self.pres_base + HEADER_BYTES
        {
            return false;
        }
        self.set_busy(true);
        // SAFETY: started, so the header page is mapped; the heap's lock
        // is held.
        unsafe {
            (*self.header()).root = addr;
            (*self.header()).root_tag = tag;
        }
        self.set_busy(false);
        true
    }

    /// Whether this instance has allocated or freed nothing in the
    /// preserved heap since starting it.
    pub fn preserved_untouched(&self) -> bool {
        let local = self.local.lock();
        let ctl = &local.control;
        // SAFETY: the header is mapped when the mode is not volatile (the
        // read is only made then); the heap's lock is held.
        ctl.mode == Mode::Preserved && unsafe { (*self.header()).state.ops } == ctl.ops_at_start
    }

    /// Allocations go to the volatile heap (`true`) or back to the
    /// preserved one (`false`); only while the preserved heap is started.
    pub fn suspend_preserved(&self, on: bool) {
        let mut local = self.local.lock();
        let ctl = &mut local.control;
        ctl.mode = match (ctl.mode, on) {
            (Mode::Preserved, true) => Mode::Suspended,
            (Mode::Suspended, false) => Mode::Preserved,
            (m, _) => m,
        };
    }

    fn heap_end(&self) -> usize {
        self.pres_end - CARRY_BYTES
    }

    /// Asks the next instance to start the preserved heap empty, handing it
    /// `carry` (at most [`CARRY_BYTES`]) through the carry area. The
    /// caller must die right after (`rt::persist::restart_fresh`): its own
    /// blocks stay valid until then, since nothing is reset now.
    pub fn request_reset(&self, carry: &[u8]) -> Result<(), PreserveError> {
        let local = self.local.lock();
        if local.control.mode == Mode::Volatile {
            return Err(PreserveError::NotNow);
        }
        if carry.len() > CARRY_BYTES {
            return Err(PreserveError::TooBig);
        }
        let at = self.heap_end();
        let len = carry.len().next_multiple_of(4096).max(4096);
        let mut done = 0;
        while done < len {
            let n = (len - done).min(MAP_CHUNK);
            if !(self.pres_map)(at + done, n) {
                return Err(PreserveError::MapFailed);
            }
            done += n;
        }
        // SAFETY: the carry area lies outside every heap block and was just
        // mapped writable for `carry.len()` bytes; the header page is mapped
        // (started); the heap's lock is held.
        unsafe {
            ptr::copy_nonoverlapping(carry.as_ptr(), at as *mut u8, carry.len());
            let h = self.header();
            (*h).carry_len = carry.len();
            (*h).carry_crc = crc32(carry);
            compiler_fence(Ordering::SeqCst);
            ptr::write_volatile(&raw mut (*h).reset_requested, 1);
        }
        compiler_fence(Ordering::SeqCst);
        Ok(())
    }

    /// What the previous instance carried across a requested reset, once
    /// (`None` if there was none or it fails its crc32), copied out of the
    /// carry area into a new block.
    pub fn take_carry(&self) -> Option<alloc::vec::Vec<u8>> {
        // The lock is released before `to_vec` allocates.
        let (len, crc) = self.local.lock().control.carry.take()?;
        // SAFETY: `start_preserved` found these bytes in the carry area,
        // which the previous instance mapped (its pages were moved here)
        // and which no heap block overlaps.
        let bytes = unsafe { core::slice::from_raw_parts(self.heap_end() as *const u8, len) };
        (crc32(bytes) == crc).then(|| bytes.to_vec())
    }

    fn alloc_in(&self, st: &mut State, layout: Layout, volatile: bool) -> *mut u8 {
        let (size, align) = match class_of(&layout) {
            Some((idx, size, align)) => {
                let head = st.free[idx];
                if head != 0 {
                    // SAFETY: `head` is a freed block of this class whose
                    // first word links to the next one.
                    st.free[idx] = unsafe { ptr::read(head as *const usize) };
                    st.in_use += size;
                    st.ops += 1;
                    return head as *mut u8;
                }
                (size, align)
            }
            None => (layout.size(), layout.align()),
        };
        let p = if volatile {
            let base = self.arena.0.get() as usize;
            let start = (base + st.next).next_multiple_of(align);
            match start.checked_add(size) {
                Some(end) if end <= base + HEAP_SIZE => {
                    st.next = end - base;
                    start as *mut u8
                }
                _ => carve_window(st, self.win_end, self.map, size, align),
            }
        } else {
            carve_window(st, self.heap_end(), self.pres_map, size, align)
        };
        if !p.is_null() {
            st.in_use += size;
            st.ops += 1;
        }
        p
    }

    fn dealloc_in(st: &mut State, p: *mut u8, layout: Layout) {
        match class_of(&layout) {
            Some((idx, size, _)) => {
                // SAFETY: `p` is a free block of this class (the heap's lock
                // is held), at least 16 bytes and 16-aligned, so it can hold
                // the link.
                unsafe { ptr::write(p as *mut usize, st.free[idx]) };
                st.free[idx] = p as usize;
                st.in_use -= size.min(st.in_use);
            }
            None => st.in_use -= layout.size().min(st.in_use),
        }
        st.ops += 1;
    }
}

/// CRC-32 (IEEE), bitwise: the carry area's seal.
fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

// SAFETY: blocks come from the arena or the mapped part of a window, are
// aligned to at least the requested alignment, never overlap (carving
// pointers only grow; a freed block returns to the list of its own class in
// the heap its address belongs to, and a class's blocks all have its size)
// and are handed out once until freed.
unsafe impl GlobalAlloc for StaticHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut local = self.local.lock();
        if local.control.mode != Mode::Preserved {
            // The volatile heap: static arena, then heap window.
            return self.alloc_in(&mut local.state, layout, true);
        }
        self.set_busy(true);
        // SAFETY: the preserved heap is started, so its header page is
        // mapped; the heap's lock is held, so no other reference to the
        // header lives across this call.
        let st = unsafe { &mut (*self.header()).state };
        let p = self.alloc_in(st, layout, false);
        self.set_busy(false);
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        let mut local = self.local.lock();
        if local.control.mode != Mode::Volatile && self.in_preserved(p as usize) {
            self.set_busy(true);
            // SAFETY: as in `alloc`: the block belongs to the preserved
            // heap, whose header is mapped; the heap's lock is held.
            let st = unsafe { &mut (*self.header()).state };
            Self::dealloc_in(st, p, layout);
            self.set_busy(false);
        } else {
            // The block came from the volatile heap.
            Self::dealloc_in(&mut local.state, p, layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// A fresh arena for one test heap (leaked: heaps live for the test).
    fn arena() -> &'static ArenaCell {
        Box::leak(Box::new(ArenaCell::new()))
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_reused() {
        let heap = Box::new(StaticHeap::new(arena()));
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
        let heap = Box::new(StaticHeap::new(arena()));
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
        let heap = Box::new(StaticHeap::with_window(arena(), base, end, map_ok));
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
        let heap = Box::new(StaticHeap::with_window(
            arena(),
            0x4800_0000,
            0x6000_0000,
            refuse,
        ));
        let l = Layout::from_size_align(HEAP_SIZE + 1, 8).unwrap();
        // SAFETY: nonzero size.
        assert!(unsafe { heap.alloc(l) }.is_null());
    }

    /// A host buffer standing in for the preserved window (already
    /// "mapped"; the kernel would move its pages to the next instance).
    fn pres_window(bytes: usize) -> (usize, usize) {
        let w = vec![0u8; bytes + 4096].leak();
        let base = (w.as_ptr() as usize).next_multiple_of(4096);
        (base, base + bytes)
    }

    fn pheap(base: usize, end: usize) -> Box<StaticHeap> {
        Box::new(StaticHeap::with_windows(
            arena(),
            0,
            0,
            no_map,
            base,
            end,
            map_ok,
        ))
    }

    #[test]
    fn a_preserved_heap_is_adopted_by_the_next_instance_with_its_root() {
        let (base, end) = pres_window(4 << 20);
        let first = pheap(base, end);
        assert_eq!(
            first.start_preserved(),
            Ok(Start::Fresh(FreshReason::Empty))
        );
        let l = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: nonzero size.
        let keep = unsafe { first.alloc(l) };
        // SAFETY: nonzero size.
        let leak = unsafe { first.alloc(l) };
        // SAFETY: nonzero size.
        let freed = unsafe { first.alloc(l) };
        assert!((base + HEADER_BYTES..end).contains(&(keep as usize)));
        // SAFETY: `freed` came from this heap with layout `l`.
        unsafe { first.dealloc(freed, l) };
        // SAFETY: `keep` is a 100-byte block.
        unsafe { keep.write_bytes(0x5a, 100) };
        assert!(first.set_preserved_root(keep as usize, 77));
        assert!(
            !first.set_preserved_root(0x1000, 77),
            "root outside the window"
        );
        let used = first.preserved_usage().unwrap().in_use;
        assert_eq!(used, 2 * 128);
        // The instance dies; a new one starts over the same window.
        let second = pheap(base, end);
        let Ok(Start::Adopted(u)) = second.start_preserved() else {
            panic!("not adopted")
        };
        assert_eq!(u.generation, 2);
        assert_eq!(u.in_use_at_adoption, used);
        assert_eq!(second.preserved_root(), Some((keep as usize, 77)));
        // SAFETY: the root block is 100 bytes the first instance wrote.
        let root = unsafe { core::slice::from_raw_parts(keep, 100) };
        assert!(root.iter().all(|&b| b == 0x5a));
        assert!(second.preserved_untouched());
        // The free list is adopted: the freed block comes back first.
        // SAFETY: nonzero size.
        assert_eq!(unsafe { second.alloc(l) }, freed);
        assert!(!second.preserved_untouched());
        // SAFETY: nonzero size.
        let fresh = unsafe { second.alloc(l) };
        assert!(fresh != keep && fresh != leak && fresh != freed);
    }

    #[test]
    fn a_heap_left_busy_or_foreign_is_not_adopted() {
        let (base, end) = pres_window(2 << 20);
        let first = pheap(base, end);
        first.start_preserved().unwrap();
        let l = Layout::from_size_align(64, 8).unwrap();
        // SAFETY: nonzero size.
        let p = unsafe { first.alloc(l) };
        assert!(first.set_preserved_root(p as usize, 1));
        // Killed inside an allocation: the busy word is left set.
        first.set_busy(true);
        let second = pheap(base, end);
        assert_eq!(
            second.start_preserved(),
            Ok(Start::Fresh(FreshReason::Busy))
        );
        assert_eq!(second.preserved_root(), None);
        let u = second.preserved_usage().unwrap();
        assert_eq!((u.in_use, u.resets, u.generation), (0, 1, 2));
        // Garbage in the header page.
        // SAFETY: the window is a live host buffer.
        unsafe { (base as *mut u64).write(0xdead_beef) };
        let third = pheap(base, end);
        assert_eq!(
            third.start_preserved(),
            Ok(Start::Fresh(FreshReason::Foreign))
        );
    }

    #[test]
    fn the_switch_must_come_first_and_frees_are_routed_by_address() {
        let (base, end) = pres_window(2 << 20);
        let h = Box::new(StaticHeap::with_windows(
            arena(),
            0,
            0,
            no_map,
            base,
            end,
            map_ok,
        ));
        let l = Layout::from_size_align(32, 8).unwrap();
        // SAFETY: nonzero size.
        let early = unsafe { h.alloc(l) };
        assert_eq!(h.start_preserved(), Err(PreserveError::TooLate));
        let h2 = pheap(base, end);
        h2.start_preserved().unwrap();
        assert_eq!(h2.start_preserved(), Err(PreserveError::TooLate));
        assert_eq!(
            StaticHeap::new(arena()).start_preserved(),
            Err(PreserveError::NoWindow)
        );
        // A volatile block freed after the switch goes to the volatile
        // lists, never into the preserved heap.
        let h3 = Box::new(StaticHeap::with_windows(
            arena(),
            0,
            0,
            no_map,
            base,
            end,
            map_ok,
        ));
        h3.suspend_preserved(true); // no effect before the start
        h3.start_preserved().unwrap();
        h3.suspend_preserved(true);
        // SAFETY: nonzero size.
        let v = unsafe { h3.alloc(l) };
        assert!(
            !(base..end).contains(&(v as usize)),
            "suspended: volatile block"
        );
        h3.suspend_preserved(false);
        let before = h3.preserved_usage().unwrap().in_use;
        // SAFETY: `v` came from this heap with layout `l`.
        unsafe { h3.dealloc(v, l) };
        assert_eq!(h3.preserved_usage().unwrap().in_use, before);
        // SAFETY: nonzero size.
        let p = unsafe { h3.alloc(l) };
        assert!((base..end).contains(&(p as usize)));
        assert_ne!(p, v);
        let _ = early;
    }

    #[test]
    fn a_requested_reset_starts_the_next_heap_empty_with_the_carried_bytes() {
        let (base, end) = pres_window(3 << 20);
        let h = pheap(base, end);
        h.start_preserved().unwrap();
        let l = Layout::from_size_align(4096, 8).unwrap();
        for _ in 0..10 {
            // SAFETY: nonzero size.
            assert!(!unsafe { h.alloc(l) }.is_null());
        }
        let mapped = h.preserved_usage().unwrap().mapped;
        let carry: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(
            h.request_reset(&vec![0; CARRY_BYTES + 1]),
            Err(PreserveError::TooBig)
        );
        h.request_reset(&carry).unwrap();
        // The instance dies; the next one starts afresh with the carry.
        let next = pheap(base, end);
        assert_eq!(
            next.start_preserved(),
            Ok(Start::Fresh(FreshReason::Requested))
        );
        let u = next.preserved_usage().unwrap();
        assert_eq!(
            (u.in_use, u.resets, u.mapped, u.generation),
            (0, 1, mapped, 2)
        );
        assert_eq!(next.take_carry().as_deref(), Some(&carry[..]));
        assert_eq!(next.take_carry(), None, "taken once");
        // A damaged carry is refused, the reset still happens.
        next.request_reset(b"carried").unwrap();
        // SAFETY: the carry area is part of the live host buffer.
        unsafe { *((end - CARRY_BYTES) as *mut u8) ^= 1 };
        let third = pheap(base, end);
        assert_eq!(
            third.start_preserved(),
            Ok(Start::Fresh(FreshReason::Requested))
        );
        assert_eq!(third.take_carry(), None);
        // Exhaustion of the preserved heap is an allocation failure, never
        // a block in the carry area.
        let big = Layout::from_size_align(3 << 20, 8).unwrap();
        // SAFETY: nonzero size.
        assert!(unsafe { third.alloc(big) }.is_null());
    }
}
