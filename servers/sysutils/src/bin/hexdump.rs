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
use ulib::{io, print};

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
    let mut limit = match num('n') {
        None => u64::MAX,
        Some(Some(n)) => n,
        Some(None) => return cli::usage(USAGE),
    };
    let mut dump = Dump::canonical(o.has('v'), skip);
    let mut to_skip = skip;
    let mut status = cli::EXIT_OK;
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
