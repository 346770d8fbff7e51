//! Access to physical memory through the boot identity map (virtual ==
//! physical for the first GiB, supervisor-only, present in every address
//! space). Every function checks that the range lies inside that window
//! and off page 0, which is left unmapped to catch null pointers.

use kernel_core::multiboot::PhysMemory;
use kernel_core::range::AddrRange;

/// End of the identity-mapped window.
pub const IDENTITY_LIMIT: u64 = 1 << 30;

fn in_window(addr: u64, len: usize) -> bool {
    AddrRange::from_len(addr, len as u64).is_some_and(|r| r.end <= IDENTITY_LIMIT && r.start != 0)
}

/// Reads boot-loader structures (MBI, module list, memory map, strings).
pub struct IdentityMem;

impl PhysMemory for IdentityMem {
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        if !in_window(addr, len) {
            return None;
        }
        // SAFETY: the range is inside the identity map, which is always
        // mapped; boot-loader data is not written while the kernel reads it
        // (its frames are reserved in the frame allocator).
        Some(unsafe { core::slice::from_raw_parts(addr as *const u8, len) })
    }
}

/// The bytes of a boot module, which stay reserved (never allocated or
/// written) for the kernel's lifetime.
pub fn module_bytes(range: AddrRange) -> Option<&'static [u8]> {
    let len = usize::try_from(range.len()).ok()?;
    if len == 0 {
        return Some(&[]);
    }
    if !in_window(range.start, len) {
        return None;
    }
    // SAFETY: inside the identity map; module frames are reserved, so
    // nothing ever writes them.
    Some(unsafe { core::slice::from_raw_parts(range.start as *const u8, len) })
}

/// Fills the frame at `phys` with zeros.
///
/// Word by word, not `memset`: that is `rep stosq`, which QEMU's TCG runs
/// one iteration at a time (about twice as slow as plain stores); the
/// volatile writes keep the compiler from turning the loop back into it.
pub fn zero_frame(phys: u64) {
    assert!(
        in_window(phys, 4096),
        "frame {phys:#x} outside identity map"
    );
    let words = phys as *mut u64;
    for i in 0..512 {
        // SAFETY: the frame lies in the identity map (checked above) and
        // was handed to the caller by the frame allocator, so no one else
        // uses it; `i < 512` keeps every 8-byte write inside it.
        unsafe { core::ptr::write_volatile(words.add(i), 0) }
    }
}

/// Copies `bytes` to physical address `phys`.
pub fn copy_to(phys: u64, bytes: &[u8]) {
    assert!(
        in_window(phys, bytes.len()),
        "copy to {phys:#x} outside identity map"
    );
    // SAFETY: destination is inside the identity map and owned by the
    // caller (a frame it allocated); source and destination cannot overlap
    // because modules and allocated frames are disjoint.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), phys as *mut u8, bytes.len()) }
}

/// Reads the `len` bytes at `phys` (a frame belonging to a process).
pub fn read(phys: u64, len: usize) -> &'static [u8] {
    assert!(
        in_window(phys, len),
        "read of {phys:#x} outside identity map"
    );
    // SAFETY: inside the identity map; the caller only reads frames of the
    // calling process, which cannot run (and so cannot write them) while the
    // kernel is in a system call on a single CPU. The slice is used before
    // returning to user mode.
    unsafe { core::slice::from_raw_parts(phys as *const u8, len) }
}

/// Copies `len` bytes from physical `src` to physical `dst` (user frames,
/// for a safecopy between address spaces); false, copying nothing, if
/// either range leaves the identity map.
pub fn copy(src: u64, dst: u64, len: usize) -> bool {
    if !in_window(src, len) || !in_window(dst, len) {
        return false;
    }
    // SAFETY: both ranges lie inside the identity map and belong to user
    // frames the caller checked (mapped for the user, the destination
    // writable); no process runs during the system call on a single CPU,
    // and `copy` allows the ranges to overlap (a process copying within
    // its own memory).
    unsafe { core::ptr::copy(src as *const u8, dst as *mut u8, len) };
    true
}

/// Copies the whole frame at `src` into the frame at `dst` (copy-on-write).
pub fn copy_frame(src: u64, dst: u64) {
    assert!(
        in_window(src, 4096) && in_window(dst, 4096) && src != dst,
        "frame copy {src:#x} -> {dst:#x} outside identity map"
    );
    // Word by word rather than `memcpy` (`rep movsq`), as `zero_frame`.
    let (from, to) = (src as *const u64, dst as *mut u64);
    for i in 0..512 {
        // SAFETY: both frames lie inside the identity map; `dst` was just
        // handed out by the frame allocator (no one else uses it) and
        // differs from `src`, so the ranges do not overlap; no process
        // runs during the kernel's work on a single CPU; `i < 512` keeps
        // every access inside the frames.
        unsafe { core::ptr::write_volatile(to.add(i), core::ptr::read_volatile(from.add(i))) }
    }
}

/// Reads entry `index` of the page table at `table`.
pub fn read_entry(table: u64, index: usize) -> u64 {
    assert!(index < 512 && in_window(table, 4096));
    // SAFETY: page tables are frames inside the identity map, 8-aligned
    // entries, owned by the address space being edited.
    unsafe { core::ptr::read_volatile((table as *const u64).add(index)) }
}

/// Writes entry `index` of the page table at `table`.
pub fn write_entry(table: u64, index: usize, value: u64) {
    assert!(index < 512 && in_window(table, 4096));
    // SAFETY: as for `read_entry`.
    unsafe { core::ptr::write_volatile((table as *mut u64).add(index), value) }
}
