//! Deliberate CPU faults, for testing that the kernel stops a faulting
//! program and reports it. Each function never returns normally.

/// An address no program has mapped (third GiB, outside user space).
pub const BAD_ADDRESS: u64 = 0xdead_beef;

/// Reads from an unmapped address: page fault.
pub fn bad_pointer_read() -> u8 {
    let p = core::hint::black_box(BAD_ADDRESS) as *const u8;
    // SAFETY: deliberately unsound: the read faults and the kernel stops
    // the program before any value is produced.
    unsafe { core::ptr::read_volatile(p) }
}

/// Reads through a null pointer (address 0, never mapped): page fault.
pub fn null_pointer_read() -> u8 {
    let p = core::hint::black_box(0u64) as *const u8;
    // SAFETY: deliberately unsound: the read faults and the kernel stops
    // the program (or hands the fault to its pager, which refuses it)
    // before any value is produced.
    unsafe { core::ptr::read_volatile(p) }
}

/// Executes `hlt` in ring 3: general protection fault.
pub fn privileged_instruction() {
    // SAFETY: `hlt` has no memory effects; in ring 3 it raises #GP.
    unsafe { core::arch::asm!("hlt", options(nomem, nostack)) }
}

/// Divides by zero with the `div` instruction (Rust's `/` would panic
/// before dividing): divide error.
pub fn divide_by_zero() -> u64 {
    let divisor = core::hint::black_box(0u64);
    let quotient: u64;
    // SAFETY: `div` only touches the named registers; a zero divisor
    // raises #DE, which the kernel handles by stopping the program.
    unsafe {
        core::arch::asm!(
            "div {d}",
            d = in(reg) divisor,
            inout("rax") 1u64 => quotient,
            inout("rdx") 0u64 => _,
            options(nomem, nostack),
        );
    }
    quotient
}

/// Executes `ud2`: invalid opcode.
pub fn invalid_opcode() {
    // SAFETY: `ud2` always raises #UD; no memory effects.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack)) }
}
