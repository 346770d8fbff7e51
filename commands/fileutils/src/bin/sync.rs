//! `sync`: writes every file system's changed blocks to the disks.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use ulib::{cli, fs};

ulib::main!(main);

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "sync");
    match fs::sync() {
        Ok(()) => cli::EXIT_OK,
        Err(e) => {
            cli::error(prog, ulib::errno::strerror(e));
            cli::EXIT_FAIL
        }
    }
}
