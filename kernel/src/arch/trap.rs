//! Trap entry: the assembly stubs for exceptions 0-31, hardware IRQs
//! 32-47, the `int 0x80` system-call gate and the SYSCALL entry, the saved register frame, and the thin unsafe shim
//! that hands the frame to the safe dispatcher in `crate::kern`.
//!
//! Every stub pushes a uniform frame (a dummy error code where the CPU pushes
//! none, then the vector, then all general-purpose registers) on the trap
//! stack (TSS.RSP0) and calls `trap_entry`. Whatever the dispatcher leaves in
//! the frame is restored by `iretq`, so switching processes means replacing
//! the frame contents and CR3.
//!
//! The stubs stay assembly: they build the frame before any Rust code
//! runs, and the `x86_64` crate's handler types need the nightly-only
//! `x86-interrupt` ABI (the IDT entries themselves are the crate's, in
//! `cpu`).

use core::arch::global_asm;

/// Registers saved on every trap, in stack order (lowest address first).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rax: u64,
    /// Vector number pushed by the stub.
    pub vector: u64,
    /// CPU error code, or 0.
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

impl TrapFrame {
    /// True when the trap came from ring 3.
    pub fn is_user(&self) -> bool {
        self.cs & 3 == 3
    }
}

global_asm!(
    r#"
    .section .text.trap, "ax"
    .macro STUB_NOERR num
    trap_stub_\num:
        push 0
        push \num
        jmp trap_common
    .endm
    .macro STUB_ERR num
    trap_stub_\num:
        push \num
        jmp trap_common
    .endm

    STUB_NOERR 0
    STUB_NOERR 1
    STUB_NOERR 2
    STUB_NOERR 3
    STUB_NOERR 4
    STUB_NOERR 5
    STUB_NOERR 6
    STUB_NOERR 7
    STUB_ERR 8
    STUB_NOERR 9
    STUB_ERR 10
    STUB_ERR 11
    STUB_ERR 12
    STUB_ERR 13
    STUB_ERR 14
    STUB_NOERR 15
    STUB_NOERR 16
    STUB_ERR 17
    STUB_NOERR 18
    STUB_NOERR 19
    STUB_NOERR 20
    STUB_ERR 21
    STUB_NOERR 22
    STUB_NOERR 23
    STUB_NOERR 24
    STUB_NOERR 25
    STUB_NOERR 26
    STUB_NOERR 27
    STUB_NOERR 28
    STUB_ERR 29
    STUB_ERR 30
    STUB_NOERR 31
    STUB_NOERR 32
    STUB_NOERR 33
    STUB_NOERR 34
    STUB_NOERR 35
    STUB_NOERR 36
    STUB_NOERR 37
    STUB_NOERR 38
    STUB_NOERR 39
    STUB_NOERR 40
    STUB_NOERR 41
    STUB_NOERR 42
    STUB_NOERR 43
    STUB_NOERR 44
    STUB_NOERR 45
    STUB_NOERR 46
    STUB_NOERR 47
    STUB_NOERR 128

    trap_common:
        push rax
        push rcx
        push rdx
        push rbx
        push rbp
        push rsi
        push rdi
        push r8
        push r9
        push r10
        push r11
        push r12
        push r13
        push r14
        push r15
        mov rdi, rsp
        cld
        call {entry}
    .global trap_return
    trap_return:
        pop r15
        pop r14
        pop r13
        pop r12
        pop r11
        pop r10
        pop r9
        pop r8
        pop rdi
        pop rsi
        pop rbp
        pop rbx
        pop rdx
        pop rcx
        pop rax
        add rsp, 16
        iretq

    /* SYSCALL entry (LSTAR). RCX = user RIP, R11 = user RFLAGS, RSP is
       still the user stack; IF is clear (FMASK). Switch to the trap stack
       and build the same frame an `int 0x80` would, so the rest of the
       path (and the return with iretq) is shared. */
    .global syscall_entry
    syscall_entry:
        mov [rip + syscall_user_rsp], rsp
        mov rsp, [rip + syscall_kernel_rsp]
        push 0x1b
        push qword ptr [rip + syscall_user_rsp]
        push r11
        push 0x23
        push rcx
        push 0
        push 0x80
        jmp trap_common

    /* The idle context: runs in ring 0 on its own stack with interrupts
       on, until the clock makes something runnable. */
    .global idle_loop
    idle_loop:
        sti
        hlt
        jmp idle_loop

    /* enter_user(frame: *const TrapFrame): restore a frame and iretq. */
    .global enter_user
    enter_user:
        mov rsp, rdi
        jmp trap_return

    .section .data.syscall, "aw"
    .balign 8
    syscall_user_rsp:
        .quad 0
    .global syscall_kernel_rsp
    syscall_kernel_rsp:
        .quad 0

    .section .rodata.trap, "a"
    .balign 8
    .global trap_stub_table
    trap_stub_table:
        .quad trap_stub_0, trap_stub_1, trap_stub_2, trap_stub_3
        .quad trap_stub_4, trap_stub_5, trap_stub_6, trap_stub_7
        .quad trap_stub_8, trap_stub_9, trap_stub_10, trap_stub_11
        .quad trap_stub_12, trap_stub_13, trap_stub_14, trap_stub_15
        .quad trap_stub_16, trap_stub_17, trap_stub_18, trap_stub_19
        .quad trap_stub_20, trap_stub_21, trap_stub_22, trap_stub_23
        .quad trap_stub_24, trap_stub_25, trap_stub_26, trap_stub_27
        .quad trap_stub_28, trap_stub_29, trap_stub_30, trap_stub_31
        .quad trap_stub_32, trap_stub_33, trap_stub_34, trap_stub_35
        .quad trap_stub_36, trap_stub_37, trap_stub_38, trap_stub_39
        .quad trap_stub_40, trap_stub_41, trap_stub_42, trap_stub_43
        .quad trap_stub_44, trap_stub_45, trap_stub_46, trap_stub_47
        .quad trap_stub_128
    "#,
    entry = sym trap_entry,
);

#[repr(C, align(16))]
struct IdleStack(core::cell::UnsafeCell<[u8; 4096]>);

// SAFETY: Rust code never reads or writes the idle stack; only the CPU
// pushes interrupt frames on it while the idle loop runs.
unsafe impl Sync for IdleStack {}

/// Stack of the idle context (writable memory, so `.bss`).
static IDLE_STACK: IdleStack = IdleStack(core::cell::UnsafeCell::new([0; 4096]));

/// A frame that, restored by `iretq`, runs the idle loop in ring 0 with
/// interrupts enabled. A clock interrupt taken there sees a kernel-mode
/// frame, which the dispatcher may replace with a user process's frame.
pub fn idle_frame() -> TrapFrame {
    TrapFrame {
        rip: idle_loop as *const () as u64,
        cs: u64::from(super::cpu::KERNEL_CS),
        rflags: 0x202,
        rsp: IDLE_STACK.0.get() as u64 + 4096,
        ss: u64::from(super::cpu::KERNEL_DS),
        ..TrapFrame::default()
    }
}

unsafe extern "C" {
    fn idle_loop();
    static trap_stub_table: [u64; 49];
    fn enter_user(frame: *const TrapFrame) -> !;
    fn syscall_entry();
    static mut syscall_kernel_rsp: u64;
}

/// Address of the SYSCALL entry point (for LSTAR).
pub fn syscall_entry_addr() -> u64 {
    syscall_entry as *const () as u64
}

/// Sets the stack the SYSCALL entry switches to (the trap stack top).
pub fn set_syscall_stack(top: u64) {
    // SAFETY: written once during start-up, before any process runs; the
    // entry stub only reads it with interrupts off on the only CPU.
    unsafe { core::ptr::addr_of_mut!(syscall_kernel_rsp).write(top) }
}

/// Addresses of the stubs for exceptions 0-31.
pub fn exception_stubs() -> [u64; 32] {
    // SAFETY: the table is immutable data defined in the assembly above.
    let table = unsafe { &trap_stub_table };
    let mut out = [0; 32];
    out.copy_from_slice(&table[..32]);
    out
}

/// Addresses of the stubs for the legacy PIC's IRQ vectors 32-47.
pub fn irq_stubs() -> [u64; 16] {
    // SAFETY: the table is immutable data defined in the assembly above.
    let table = unsafe { &trap_stub_table };
    let mut out = [0; 16];
    out.copy_from_slice(&table[32..48]);
    out
}

/// Address of the system-call stub.
pub fn syscall_stub() -> u64 {
    // SAFETY: as above.
    unsafe { trap_stub_table[48] }
}

/// Called by `trap_common` with a pointer to the frame on the trap stack.
extern "C" fn trap_entry(frame: *mut TrapFrame) {
    // SAFETY: `trap_common` passes the frame it just pushed; it is valid,
    // aligned and not aliased for the duration of this call.
    let frame = unsafe { &mut *frame };
    crate::kern::handle_trap(frame);
}

/// Drops to ring 3 with the registers in `frame` (whose CS/SS must be the
/// user selectors and whose CR3 is already loaded).
pub fn return_to_user(frame: &TrapFrame) -> ! {
    debug_assert!(frame.is_user());
    // SAFETY: the frame describes a user context built by the loader; the
    // trap stack in the TSS catches the next trap. `enter_user` copies from
    // the frame before `iretq`, so a frame on the current stack is fine.
    unsafe { enter_user(frame) }
}
