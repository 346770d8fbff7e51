//! PM, the process manager: pids, parent/child, fork/exec/exit/wait, user
//! and group ids, process groups and sessions, signals with handlers in
//! user space, alarms, times, the process list and reboot.
//!
//! [`table`] is the process table as plain Rust (host tests). [`server`]
//! is the SEF service: it talks to the kernel through the [`server::Kernel`]
//! trait (natively `src/main.rs` over `rt::sys`), and to VM and VFS with
//! asynchronous requests only (`Sys::request`), so PM never blocks on a
//! server that could be waiting for PM.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod server;
pub mod table;
