//! `od [-bcdovx] [-A o|d|x|n] [-j skip] [-N count] [file ...]`: the bytes
//! of the files (or standard input) as characters, octal, hexadecimal or
//! decimal, 16 a line (GNU layout; repeated lines as `*` unless `-v`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use sysutils::dump::{Dump, Fmt, Radix};
use ulib::cli::{self, Opts};

ulib::main!(main);

const USAGE: &str = "od [-bcdovx] [-A o|d|x|n] [-j skip] [-N count] [file ...]";

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "od");
    let o = match Opts::parse(args, "bcdoxvA:j:N:") {
        Ok(o) => o,
        Err(e) => return cli::usage_error(prog, &e, USAGE),
    };
    let fmts: Vec<Fmt> = o
        .options()
        .iter()
        .filter_map(|(c, _)| match c {
            'b' => Some(Fmt::OctByte),
            'c' => Some(Fmt::Char),
            'd' => Some(Fmt::DecWord),
            'o' => Some(Fmt::OctWord),
            'x' => Some(Fmt::HexWord),
            _ => None,
        })
        .collect();
    let radix = match o.value('A').map(Radix::from_letter) {
        None => Radix::Oct,
        Some(Some(r)) => r,
        Some(None) => return cli::usage(USAGE),
    };
    let num = |c: char| o.value(c).map(|v| cli::parse_num(v, 10));
    let skip = match num('j') {
        None => 0,
        Some(Some(n)) => n,
        Some(None) => return cli::usage(USAGE),
    };
    let limit = match num('N') {
        None => u64::MAX,
        Some(Some(n)) => n,
        Some(None) => return cli::usage(USAGE),
    };
    let dump = Dump::od(&fmts, radix, o.has('v'), skip);
    sysutils::dump_inputs(prog, o.operands(), dump, skip, limit)
}
