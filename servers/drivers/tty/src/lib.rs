//! The terminal driver (label `tty`, character major 4): the serial
//! console on COM1 and four pseudo-terminal pairs, with a POSIX line
//! discipline. See the README.
//!
//! - [`line`]: the line discipline of one line (pure, host-tested);
//! - [`state`]: what a restart keeps, encoded for SEF's state store;
//! - [`driver`]: the `sys::proto::cdev` service over the lines (suspended
//!   reads and writes, select, ioctl, pty pairs, signals through PM),
//!   generic over the [`driver::Serial`] device, so the simulator tests
//!   run it with a fake UART; `src/main.rs` gives it the 16550.
//!
//! Talks to its clients (VFS) over `cdev`, to PM (`SigGroup`), and to DS
//! (PM's endpoint, the saved state).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod driver;
pub mod line;
pub mod state;

pub use driver::{Dev, Serial, Tty, TtyStats};
