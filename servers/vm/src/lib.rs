//! The VM server: owns the address spaces of user processes (MINIX VM).
//!
//! * [`regions`]: per-process region bookkeeping (image segments, brk
//!   heap, anonymous mmap regions, stack), plain Rust.
//! * [`exec`]: ELF validation with the kernel's checks and the layout of
//!   a new image, before the target is touched.
//! * [`textcache`]: the read-only image pages kept and shared between
//!   execs of the same program.
//! * [`server`]: the protocol (`sys::proto::vm`) over a [`server::Kernel`]
//!   trait of memory kernel calls; `main.rs` implements it natively.
//!
//! Talks to: the kernel (memory calls, pager calls), DS (who is `pm`),
//! its callers (users about their own space, PM about fork/exec/exit).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod exec;
pub mod regions;
pub mod server;
pub mod textcache;

pub use server::{Kernel, Table, Vm};
