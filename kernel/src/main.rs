//! The microkernel binary.
//!
//! Booted by QEMU's multiboot loader (`-kernel kernel32.elf -initrd
//! "prog args,..."`): a 32-bit trampoline (`arch::boot`) enters long mode and
//! calls [`kmain`], which sets up GDT/TSS/IDT and COM1, builds the frame
//! allocator from the multiboot memory map minus every reserved range, loads
//! each boot module that is an ELF64 executable into its own address space
//! and runs them in ring 3 one after another (round-robin on exit or fault).
//! User programs talk to the kernel through `int 0x80` (see the `abi`
//! crate): debug print and exit. A faulting program is stopped and reported;
//! a kernel fault or panic prints `KERNEL PANIC:` and exits QEMU with the fail
//! code. When nothing is left to run the kernel prints a summary and exits
//! QEMU with the pass code (status 33) unless the run was marked failed.
//!
//! Layout: `arch` (all `unsafe`: trampoline, CPU tables, traps, paging,
//! physical memory, serial), `kern` (safe boot/syscall/fault logic), `global`
//! and `heap` (kernel-wide state and allocator). Hardware-independent logic
//! lives in the `kernel-core` crate and is tested on the host.
#![no_std]
#![no_main]

extern crate alloc;

mod arch;
mod global;
mod heap;
mod kern;

/// Rust entry point, called by the trampoline in long mode with the
/// multiboot magic and the physical address of the multiboot info.
#[unsafe(no_mangle)]
pub extern "C" fn kmain(magic: u32, mbi: u32) -> ! {
    kern::boot(magic, mbi)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    match info.location() {
        Some(loc) => kprintln!(
            "KERNEL PANIC: {} ({}:{})",
            info.message(),
            loc.file(),
            loc.line()
        ),
        None => kprintln!("KERNEL PANIC: {}", info.message()),
    }
    arch::cpu::qemu_exit(abi::QEMU_EXIT_FAIL)
}
