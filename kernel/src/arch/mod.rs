//! The architecture layer: everything that touches the CPU, page tables or
//! physical memory directly. This is the only place with `unsafe` (each
//! block carries a `// SAFETY:` comment); it offers safe functions to
//! `crate::kern`.

pub mod boot;
pub mod cpu;
pub mod paging;
pub mod phys;
pub mod rtc;
pub mod serial;
pub mod trap;
