//! `hexdump -C [-v] [-s skip] [-n count] [file ...]`: the canonical
//! hex+ASCII dump (util-linux layout), 16 bytes a line. Only the
//! canonical format exists, so `-C` may be left out.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use sysutils::dump::Dump;
use ulib::cli::{self, Opts};

ulib::main!(main);

const USAGE: &str = "hexdump [-Cv] [-s skip] [-n count] [file ...]";

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "hexdump");
    let o = match Opts::parse(args, "Cvs:n:") {
        Ok(o) => o,
        Err(e) => return cli::usage_error(prog, &e, USAGE),
    };
    let num = |c: char| o.value(c).map(|v| cli::parse_num(v, 10));
    let skip = match num('s') {
        None => 0,
        Some(Some(n)) => n,
        Some(None) => return cli::usage(USAGE),
    };
    let limit = match num('n') {
        None => u64::MAX,
        Some(Some(n)) => n,
        Some(None) => return cli::usage(USAGE),
    };
    let dump = Dump::canonical(o.has('v'), skip);
    sysutils::dump_inputs(prog, o.operands(), dump, skip, limit)
}
