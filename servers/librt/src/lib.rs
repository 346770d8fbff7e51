//! The user runtime for programs on our microkernel (the "native" runtime).
//!
//! A program is a `#![no_std] #![no_main]` binary for `x86_64-unknown-none`
//! that depends on this crate, links with `user.ld` (via the shared build
//! script `servers/librt/link-user.rs`, see `tests/programs/hello`) and
//! names its main function with [`entry!`]:
//!
//! ```ignore
//! rt::entry!(main);
//! fn main(args: &str) -> i32 { rt::println!("hi {args}"); 0 }
//! ```
//!
//! It provides `_start` (receives the argument string from the kernel, see
//! `abi`), system-call wrappers ([`sys`]), [`println!`] through the kernel's
//! debug-print call, a panic handler that prints the message and exits with
//! [`abi::EXIT_PANIC`], IPC ([`ipc`]: send, receive, sendrec, notify,
//! whois), and a global allocator over a static heap (growing into the
//! heap window with `MapPages` where allowed; a plain user process, which
//! may not map pages itself, asks VM to move its break instead) so
//! programs can use `alloc`. Deliberate faults for tests live in [`fault`].
//! It talks to the kernel, through `syscall`, and to VM for heap growth.
//!
//! Target-only items (`_start` glue, panic handler, allocator registration)
//! are compiled for `target_os = "none"`; the rest is host-testable.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod dma;
pub mod fault;
pub mod grant;
pub mod heap;
pub mod ipc;
pub mod module;
#[cfg(target_os = "none")]
pub mod persist;
pub mod print;
pub mod sys;

pub use abi;

/// Defines the program entry `_start`, which calls `main(args) -> i32` and
/// exits with its return value.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text._start")]
        extern "C" fn _start(args: *const u8, len: usize) -> ! {
            // SAFETY: the kernel enters `_start` with the argument string's
            // address and length (see `abi`).
            unsafe { $crate::start(args, len, $main) }
        }
    };
}

/// Runtime start-up: turns the kernel's (pointer, length) into `&str` and
/// runs `main`. Called by the `_start` that [`entry!`] defines.
///
/// # Safety
///
/// `args` must point to `len` readable bytes that stay unchanged for the
/// program's life (the kernel guarantees this for the initial stack).
pub unsafe fn start(args: *const u8, len: usize, main: fn(&str) -> i32) -> ! {
    let args = if args.is_null() || len > abi::MAX_ARGS_LEN {
        ""
    } else {
        // SAFETY: the kernel placed `len` bytes of the argument string at
        // `args`, on the initial stack, which stays mapped for the program's
        // life and is never written again (it lies above the initial rsp).
        let bytes = unsafe { core::slice::from_raw_parts(args, len) };
        core::str::from_utf8(bytes).unwrap_or("")
    };
    let code = main(args);
    sys::exit(code)
}

/// Largest start block [`start_bytes`] accepts (an exec block of argument
/// and environment strings lies on the new program's stack).
pub const MAX_START_BLOCK: usize = 128 * 1024;

/// Runtime start-up for programs that take their start block as bytes (the
/// exec block of argv and environment strings, NUL-separated, or a boot
/// module's plain argument string): runs `main` and exits with its value.
/// A block longer than [`MAX_START_BLOCK`] is treated as empty.
///
/// # Safety
///
/// `args` must point to `len` readable bytes that stay unchanged for the
/// program's life (the kernel and VM place them above the initial stack
/// pointer, which the program never writes).
pub unsafe fn start_bytes(args: *const u8, len: usize, main: fn(&'static [u8]) -> i32) -> ! {
    let block: &'static [u8] = if args.is_null() || len > MAX_START_BLOCK {
        &[]
    } else {
        // SAFETY: the caller guarantees `len` readable bytes at `args`
        // that stay unchanged for the program's life.
        unsafe { core::slice::from_raw_parts(args, len) }
    };
    let code = main(block);
    sys::exit(code)
}

/// How the heap window grows once the static arena is used up: a function
/// that makes `len` bytes at `addr` (page multiples, in
/// `abi::HEAP_BASE..abi::HEAP_END`) usable, true on success.
pub type HeapGrower = fn(usize, usize) -> bool;

static HEAP_GROWER: spin::Once<HeapGrower> = spin::Once::new();

/// Replaces the heap window's growth (by default `MapPages` on the
/// process itself, which plain user processes may not call): user
/// programs ask VM to move their break instead (`ulib`, at start). Set
/// once: later calls are ignored.
pub fn set_heap_grower(f: HeapGrower) {
    HEAP_GROWER.call_once(|| f);
}

/// The grower set with [`set_heap_grower`], if any.
pub fn heap_grower() -> Option<HeapGrower> {
    HEAP_GROWER.get().copied()
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    crate::println!("panic: {}", info);
    sys::exit(abi::EXIT_PANIC)
}

/// The allocator's static arena, in `.bss` (zero bytes in the program
/// file).
#[cfg(target_os = "none")]
static ARENA: heap::ArenaCell = heap::ArenaCell::new();

#[cfg(target_os = "none")]
#[global_allocator]
static ALLOCATOR: heap::StaticHeap = heap::StaticHeap::with_windows(
    &ARENA,
    abi::HEAP_BASE as usize,
    abi::HEAP_END as usize,
    map_heap_window,
    abi::PRESERVE_BASE as usize,
    abi::PRESERVE_END as usize,
    map_preserved_window,
);

/// Maps pages of the preserved window for the preserved heap (pages the
/// kernel kept from a previous instance are left as they are).
#[cfg(target_os = "none")]
fn map_preserved_window(addr: usize, len: usize) -> bool {
    sys::map_preserved(addr as u64, (len / 4096) as u64).is_ok()
}

/// Grows the heap: fresh pages in this process's own heap window.
#[cfg(target_os = "none")]
fn map_heap_window(addr: usize, len: usize) -> bool {
    if let Some(grow) = heap_grower() {
        return grow(addr, len);
    }
    let Ok(me) = ipc::whois("") else {
        return false;
    };
    match sys::map_pages(me, addr as u64, (len / 4096) as u64, true) {
        Ok(()) => true,
        // A plain user process may not map pages itself: VM moves its break.
        Err(abi::Errno::Perm) => addr.checked_add(len).is_some_and(vm_brk),
        Err(_) => false,
    }
}

/// Asks VM to move this process's break to `end` (`proto::vm` Brk);
/// true if the break now covers it. Allocates nothing.
#[cfg(target_os = "none")]
fn vm_brk(end: usize) -> bool {
    use ::sys::proto::vm::{VmCall, VmReply};
    let Ok(vm) = ipc::whois("vm") else {
        return false;
    };
    let call = VmCall::Brk {
        id: 0,
        addr: end as u64,
    }
    .to_message();
    let mut m = ipc::message(call.mtype());
    m[abi::MSG_PAYLOAD_OFFSET..].copy_from_slice(call.payload());
    if ipc::sendrec(vm, &mut m).is_err() {
        return false;
    }
    let mut reply = ::sys::Message::new(ipc::mtype(&m));
    reply
        .payload_mut()
        .copy_from_slice(&m[abi::MSG_PAYLOAD_OFFSET..]);
    VmReply::try_from(&reply)
        .and_then(|r| r.value())
        .is_ok_and(|b| b >= end as u64)
}

#[cfg(test)]
mod tests {
    fn grow_ok(_: usize, _: usize) -> bool {
        true
    }

    #[test]
    fn heap_grower_round_trips() {
        assert!(super::heap_grower().is_none());
        super::set_heap_grower(grow_ok);
        let g = super::heap_grower().expect("set");
        assert!(g(0, 4096));
    }
}
