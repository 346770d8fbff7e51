//! `ulib`: the user runtime, a small std-like library for programs that run
//! as processes (started by exec from the file system, or as a user-mode
//! boot module). It sits on `rt` (which keeps `_start`, the allocator, the
//! kernel's debug print, IPC and grants) and talks to four servers only:
//! VFS (files, directories, pipes, select), PM (processes, signals, ids,
//! times), VM (memory) and RS (the `service` verbs, root only), each found
//! by name and spoken to with the typed messages of `sys::proto`.
//!
//! A program:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! extern crate alloc;
//! use alloc::string::String;
//! use ulib::println;
//!
//! ulib::main!(main);
//! fn main(args: &[String]) -> i32 {
//!     println!("hello from {}", args[0]);
//!     0
//! }
//! ```
//!
//! Modules: [`env`] (arguments, environment, exec blocks), [`fs`] (files,
//! directories, paths), [`fd`] (raw descriptors, pipes, select), [`io`]
//! (buffered stdio), [`process`] (fork, exec, wait, ids, kill, ...),
//! [`signal`], [`service`] (RS's `service` verbs), [`mem`], [`time`],
//! [`path`], [`errno`], [`cli`] (option
//! parsing, error messages and exit codes for utilities). Every call returns
//! `Result<_, Errno>`.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod cli;
pub mod env;
pub mod errno;
pub mod fd;
pub mod fs;
mod global;
pub mod io;
mod ipc;
pub mod mem;
pub mod path;
pub mod process;
pub mod service;
pub mod signal;
pub mod term;
pub mod time;

pub use errno::{Errno, Result};
pub use rt;

/// Runs a program's `main` (called by the `_start` of [`main!`]): records
/// the start block (arguments and environment), makes the heap grow
/// through VM, and returns `main`'s exit code after writing out buffered
/// output.
pub fn run_main(block: &'static [u8], main: fn(&[alloc::string::String]) -> i32) -> i32 {
    rt::set_heap_grower(mem::grow_heap);
    env::init(block);
    let args = env::args();
    let code = main(&args);
    io::flush();
    code
}

/// Defines the program entry `_start` for `fn main(args: &[String]) ->
/// i32`: `args[0]` is the program's path (empty for a boot module), the
/// environment is in [`env`], and the return value is the exit code
/// (buffered output is written out first).
#[macro_export]
macro_rules! main {
    ($main:path) => {
        #[unsafe(no_mangle)]
        #[unsafe(link_section = ".text._start")]
        extern "C" fn _start(block: *const u8, len: usize) -> ! {
            fn run(block: &'static [u8]) -> i32 {
                $crate::run_main(block, $main)
            }
            // SAFETY: the kernel (boot module) or VM (exec) enters
            // `_start` with the start block's address and length; the
            // block lies above the initial stack pointer and is never
            // written.
            unsafe { $crate::rt::start_bytes(block, len, run) }
        }
    };
}
