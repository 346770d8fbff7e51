//! Hardware-independent parts of the microkernel, kept apart from the
//! `kernel` binary (Hubris `kerncore` style) so they are unit-tested on the
//! host with a plain `cargo test -p kernel-core`.
//!
//! * [`range`]: physical/virtual address ranges and overlap checks.
//! * [`frame`]: the physical frame allocator (bitmap, reserved ranges,
//!   contiguous runs for DMA, reference counts of shared frames).
//! * [`cow`]: copy-on-write page-table entries (sharing at fork, breaking
//!   at a write).
//! * [`dma`]: physical contiguity checks for `UMap` / `UMapGrant`.
//! * [`multiboot`]: parsing the multiboot 1 information structure through
//!   zerocopy structs, from any [`multiboot::PhysMemory`].
//! * [`elf`]: validating an ELF64 executable before anything is loaded.
//! * [`fault`]: naming CPU exceptions for fault reports.
//! * [`process`]: the process table (slots, endpoints, round-robin choice).
//! * [`options`]: kernel command-line flags.
//! * [`grant`]: memory grants and the safecopy check (direct, indirect, revoke).
//! * [`rtc`]: the CMOS clock's registers as Unix seconds (BCD, 12-hour,
//!   century; `BootTime`).
//! * [`sched`]: priority run queues with round-robin quantum.
//! * [`hwpriv`]: IRQ-line and physical-memory privileges, process times.
//! * [`ipc`]: the IPC state machine (send/receive/sendrec/notify/sendnb,
//!   deadlock detection, dead-peer wakeups, send privileges).
//!
//! The crate is `no_std` + `alloc` and contains no `unsafe`: the kernel's
//! arch layer is the only place that touches hardware or raw memory.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod cow;
pub mod dma;
pub mod elf;
pub mod fault;
pub mod frame;
pub mod grant;
pub mod hwpriv;
pub mod ipc;
pub mod multiboot;
pub mod options;
pub mod process;
pub mod profile;
pub mod range;
pub mod rtc;
pub mod sched;
