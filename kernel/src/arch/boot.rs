//! Multiboot 1 header and the 32-bit trampoline into long mode.
//!
//! QEMU's `-kernel` loader enters `_start` in 32-bit protected mode with
//! paging off, EAX = multiboot magic and EBX = physical address of the
//! multiboot info. The trampoline zeroes `.bss`, identity-maps the first GiB
//! with 2 MiB pages (supervisor-only: no U bit), enables PAE + long mode +
//! paging, loads a minimal GDT, jumps to 64-bit code and calls
//! `kmain(magic, mbi)`. Symbols are used as absolute 32-bit addresses, which
//! works because the kernel is linked and loaded at 1 MiB with
//! `-C relocation-model=static`.
//!
//! Hand-written because it runs in 32-bit protected mode, before long mode
//! exists: the `x86_64` crate's registers, tables and page-table types are
//! 64-bit Rust code and cannot run here.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .multiboot, "a"
    .balign 4
    .long 0x1BADB002            /* magic */
    .long 0x00000003            /* flags: page-align modules, memory info */
    .long -(0x1BADB002 + 0x00000003)

    .section .boot32, "ax"
    .code32
    .global _start
_start:
    cli
    cld
    movl %eax, %ebp             /* multiboot magic; EBX (MBI) is kept as is */

    /* Zero .bss (boot stack and page tables live there). */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    rep stosb

    movl $boot_stack_top, %esp

    /* PML4[0] -> PDPT, PDPT[0] -> PD. */
    movl $boot_pdpt, %eax
    orl $0x3, %eax
    movl %eax, boot_pml4
    movl $boot_pd, %eax
    orl $0x3, %eax
    movl %eax, boot_pdpt

    /* PD[i] = i * 2 MiB | present | writable | huge. */
    xorl %ecx, %ecx
1:
    movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax
    movl %eax, boot_pd(,%ecx,8)
    movl $0, boot_pd+4(,%ecx,8)
    incl %ecx
    cmpl $512, %ecx
    jne 1b

    movl $boot_pml4, %eax
    movl %eax, %cr3

    movl %cr4, %eax
    orl $0x20, %eax             /* PAE */
    movl %eax, %cr4

    movl $0xC0000080, %ecx      /* EFER */
    rdmsr
    orl $0x100, %eax            /* LME */
    wrmsr

    movl %cr0, %eax
    orl $0x80000001, %eax       /* PG | PE */
    movl %eax, %cr0

    lgdt boot_gdt_ptr
    ljmp $0x08, $boot_long_mode

    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF    /* 0x08: 64-bit kernel code */
    .quad 0x00CF92000000FFFF    /* 0x10: kernel data */
boot_gdt_end:
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

    .code64
boot_long_mode:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movl $boot_stack_top, %esp
    movl %ebp, %edi             /* zero-extends: magic */
    movl %ebx, %esi             /* zero-extends: MBI */
    call kmain
2:
    cli
    hlt
    jmp 2b

    .section .bss.boot, "aw", @nobits
    .balign 4096
    .global boot_pml4
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
    .global boot_pd
boot_pd:
    .skip 4096
boot_stack:
    .skip 65536
boot_stack_top:
    "#,
    options(att_syntax)
);

unsafe extern "C" {
    /// The boot PML4 (identity map of the first GiB), used by the kernel
    /// when no process runs.
    static boot_pml4: u8;
    /// The boot page directory: 512 supervisor-only 2 MiB identity pages,
    /// shared by every process's address space.
    static boot_pd: u8;
    /// First byte of the kernel image.
    static __kernel_start: u8;
    /// One past the last byte of the kernel image (including `.bss`).
    static __kernel_end: u8;
}

/// Physical address of the boot PML4.
pub fn boot_pml4_phys() -> u64 {
    // Taking the address of a linker-defined symbol is safe; it is never read.
    core::ptr::addr_of!(boot_pml4) as u64
}

/// Physical address of the shared kernel page directory.
pub fn kernel_pd_phys() -> u64 {
    core::ptr::addr_of!(boot_pd) as u64
}

/// Physical range of the kernel image, `[start, end)`.
pub fn kernel_image() -> (u64, u64) {
    (
        core::ptr::addr_of!(__kernel_start) as u64,
        core::ptr::addr_of!(__kernel_end) as u64,
    )
}
