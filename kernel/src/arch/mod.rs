//! The architecture layer: everything that touches the CPU, page tables or
//! physical memory directly. This is the only place with `unsafe` (each
//! block carries a `// SAFETY:` comment); it offers safe functions to
//! `crate::kern`. Registers, descriptor tables, the TSS, IDT entries,
//! page-table entries and port I/O are the `x86_64` crate's types and
//! instructions; only the 32-bit trampoline (`boot`) and the trap and
//! SYSCALL entry stubs (`trap`) are hand-written assembly.

pub mod boot;
pub mod cpu;
pub mod paging;
pub mod phys;
pub mod rtc;
pub mod serial;
pub mod trap;
