//! The microkernel binary.
//!
//! Booted by QEMU's multiboot loader (`-kernel kernel32.elf -initrd
//! "prog args,..."`): a 32-bit trampoline (`arch::boot`) enters long mode and
//! calls [`kmain`], which sets up GDT/TSS/IDT, SYSCALL, the PIC and clock and
//! COM1, builds the frame allocator from the multiboot memory map minus every
//! reserved range, and loads each boot module that is an ELF64 executable
//! into its own address space in ring 3. Processes are scheduled by priority
//! with a quantum; they use the system calls listed in the `abi` crate
//! (debug print, exit, MINIX-style IPC, grants and safe copies, alarms, IRQ
//! hooks, privileges, spawn/update for restarts, port I/O, page mapping).
//! A faulting program is stopped and reported (or handed to its signal
//! manager); a kernel fault or panic prints `KERNEL PANIC:` and exits QEMU
//! with the fail code. When nothing can run any more the kernel prints a
//! summary and exits QEMU with the pass code (status 33) unless the run was
//! marked failed.
//!
//! Layout: `arch` (all `unsafe`: trampoline, CPU tables, traps, paging,
//! physical memory, serial), `kern` (safe boot/syscall/fault/scheduling
//! logic), `global` and `heap` (kernel-wide state and allocator).
//! Hardware-independent logic (IPC, grants, run queues, frame allocator, ELF
//! and multiboot parsing, process table) lives in the `kernel-core` crate
//! and is tested on the host.
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
