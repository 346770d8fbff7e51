//! The preserved heap, typed: a program that opts in keeps its whole heap
//! in the preserved window (`abi::PRESERVE_BASE..PRESERVE_END`, moved by
//! the kernel to a restarted instance when its manager asks), and a
//! restarted instance of the same program takes back the object the dead
//! one registered as root. See the module doc of [`crate::heap`] for the
//! allocator side (header, busy word, free lists).
//!
//! Use: call [`start`] first thing in `main`, before anything allocates;
//! then either [`take_root`] (the predecessor's state, if the heap was
//! adopted) or build the state afresh and [`register_root`] it. Everything
//! allocated after [`start`] lives in the window, so objects reachable
//! from the root never point into memory that dies with an instance
//! (static data and code are the same: it is the same program image).
//! Whatever else a dead instance had allocated leaks; [`usage`] measures
//! it, and [`restart_fresh`] ends the instance so that its successor
//! starts the heap over, carrying some bytes across (a program's failover
//! when the window fills up).

use alloc::rc::Rc;
use alloc::vec::Vec;

pub use crate::heap::{FreshReason, PreserveError, Start, Usage};

use crate::ALLOCATOR;

/// Switches the heap to the preserved window and adopts what a previous
/// instance left there (see [`crate::heap::StaticHeap::start_preserved`]).
/// `TooLate` if anything was allocated before.
pub fn start() -> Result<Start, PreserveError> {
    ALLOCATOR.start_preserved()
}

/// Figures of the preserved heap (bytes in use, leaked at adoption,
/// mapped, capacity, generation, resets), once started.
pub fn usage() -> Option<Usage> {
    ALLOCATOR.preserved_usage()
}

/// Tag of a root of type `T`: its type name, size and alignment, and where
/// this program image keeps that name (another program would keep it
/// elsewhere, or not at all).
fn tag_of<T: 'static>() -> u64 {
    let name = core::any::type_name::<T>();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |b: u64| {
        h ^= b;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    for &b in name.as_bytes() {
        mix(u64::from(b));
    }
    mix(core::mem::size_of::<T>() as u64);
    mix(core::mem::align_of::<T>() as u64);
    mix(name.as_ptr() as u64);
    h | 1
}

/// Registers `rc` as the root a restarted instance takes back with
/// [`take_root`]. The root keeps one strong reference for ever. False if
/// the preserved heap is not started or `rc` does not live in it.
pub fn register_root<T: 'static>(rc: &Rc<T>) -> bool {
    let p = Rc::into_raw(rc.clone());
    if ALLOCATOR.set_preserved_root(p as usize, tag_of::<T>()) {
        return true;
    }
    // SAFETY: `p` came from `Rc::into_raw` just above and was not
    // registered: give its strong reference back.
    drop(unsafe { Rc::from_raw(p) });
    false
}

/// The root of type `T` a previous instance registered, if the heap was
/// adopted and the root has that type.
pub fn take_root<T: 'static>() -> Option<Rc<T>> {
    let (addr, tag) = ALLOCATOR.preserved_root()?;
    if tag != tag_of::<T>() || !addr.is_multiple_of(core::mem::align_of::<T>()) {
        return None;
    }
    let p = addr as *const T;
    // SAFETY: the root was set only by `register_root::<T>` (same tag:
    // same type name, size, alignment and image) with a pointer from
    // `Rc::into_raw` of an `Rc<T>` allocated in the preserved heap, which
    // was adopted only because it was left idle (no allocation or free cut
    // short) and whose pages the kernel moved unchanged; the registered
    // strong reference is never given back, so the allocation is alive.
    // Taking a new reference leaves that one in place. Objects reachable
    // from it lie in the same heap (allocated after `start`) or in the
    // program's static image, which is the same.
    unsafe {
        Rc::increment_strong_count(p);
        Some(Rc::from_raw(p))
    }
}

/// Ends this instance, asking its successor to start the preserved heap
/// empty and hand it `carry` (at most `heap::CARRY_BYTES`; see
/// [`take_carry`]): the way out when the heap fills up with what dead
/// instances leaked. The process exits with `code` (its manager restarts
/// it, keeping the window); only a failure to leave the bytes returns.
pub fn restart_fresh(carry: &[u8], code: i32) -> PreserveError {
    match ALLOCATOR.request_reset(carry) {
        Ok(()) => crate::sys::exit(code),
        Err(e) => e,
    }
}

/// The bytes the previous instance left with [`restart_fresh`], once
/// (`None` if it did not, or they fail their crc32).
pub fn take_carry() -> Option<Vec<u8>> {
    ALLOCATOR.take_carry()
}
