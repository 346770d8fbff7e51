//! `cksum [file ...]`: the POSIX CRC and byte count of each file (or
//! standard input), as `crc bytes name`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use sysutils::cksum::Cksum;
use ulib::cli::{self, Opts};
use ulib::println;

ulib::main!(main);

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "cksum");
    let o = match Opts::parse(args, "") {
        Ok(o) => o,
        Err(e) => return cli::usage_error(prog, &e, "cksum [file ...]"),
    };
    let mut status = cli::EXIT_OK;
    for path in sysutils::inputs(o.operands()) {
        let mut c = Cksum::new();
        if !sysutils::feed(prog, &path, |d| c.update(d)) {
            status = cli::EXIT_FAIL;
            continue;
        }
        let (crc, len) = c.finish();
        if o.operands().is_empty() {
            println!("{crc} {len}");
        } else {
            println!("{crc} {len} {path}");
        }
    }
    status
}
