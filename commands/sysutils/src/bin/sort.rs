//! `sort [-fnru] [-o output] [file ...]`: the lines of the files (or
//! standard input) in order.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use sysutils::text::{LineSplitter, SortOpts, chomp, sort_lines};
use ulib::cli::{self, Opts};
use ulib::io;

ulib::main!(main);

const USAGE: &str = "sort [-fnru] [-o output] [file ...]";

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "sort");
    let o = match Opts::parse(args, "fnruo:") {
        Ok(o) => o,
        Err(e) => return cli::usage_error(prog, &e, USAGE),
    };
    let opts = SortOpts {
        numeric: o.has('n'),
        reverse: o.has('r'),
        unique: o.has('u'),
        fold: o.has('f'),
    };
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for path in sysutils::inputs(o.operands()) {
        let mut split = LineSplitter::default();
        let mut add = |l: &[u8]| lines.push(chomp(l).to_vec());
        if !sysutils::feed(prog, &path, |d| split.push(d, &mut add)) {
            return cli::EXIT_FAIL;
        }
        split.finish(&mut add);
    }
    sort_lines(&mut lines, &opts);
    let mut text = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in &lines {
        text.extend_from_slice(l);
        text.push(b'\n');
    }
    match o.value('o') {
        Some(path) => match ulib::fs::write(path, &text) {
            Ok(()) => cli::EXIT_OK,
            Err(e) => cli::fail(prog, path, e),
        },
        None => {
            io::stdout().write_all(&text);
            io::flush();
            cli::EXIT_OK
        }
    }
}
