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
use ulib::{io, print};

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
    let mut limit = match num('N') {
        None => u64::MAX,
        Some(Some(n)) => n,
        Some(None) => return cli::usage(USAGE),
    };
    let mut dump = Dump::od(&fmts, radix, o.has('v'), skip);
    let mut to_skip = skip;
    let mut status = cli::EXIT_OK;
    // The inputs are one stream, as in od.
    for path in sysutils::inputs(o.operands()) {
        if limit == 0 {
            break;
        }
        let ok = sysutils::feed(prog, &path, |mut d| {
            let s = (to_skip.min(d.len() as u64)) as usize;
            to_skip -= s as u64;
            d = &d[s..];
            let take = (limit.min(d.len() as u64)) as usize;
            limit -= take as u64;
            print!("{}", dump.push(&d[..take]));
        });
        if !ok {
            status = cli::EXIT_FAIL;
        }
    }
    print!("{}", dump.finish());
    io::flush();
    status
}
