//! `tail [-n [+]N] [file ...]` (also `-N`): the last N lines (10 by
//! default) of each file or standard input (a pipe too: only the last N
//! lines are kept while reading); `-n +N` starts at line N.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use sysutils::text::{LineSplitter, Tail};
use ulib::cli::{self, Opts};
use ulib::{io, println};

ulib::main!(main);

const USAGE: &str = "tail [-n [+]lines] [file ...]";

enum Count {
    Last(usize),
    From(u64),
}

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "tail");
    let args = sysutils::count_shorthand(args);
    let o = match Opts::parse(&args, "n:") {
        Ok(o) => o,
        Err(e) => return cli::usage_error(prog, &e, USAGE),
    };
    let count = match o.value('n') {
        None => Count::Last(10),
        Some(v) => match v.strip_prefix('+') {
            Some(n) => match cli::parse_num(n, 10) {
                Some(n) => Count::From(n.max(1)),
                None => return cli::error(prog, "bad line count"),
            },
            None => match cli::parse_num(v.trim_start_matches('-'), 10) {
                Some(n) => Count::Last(n as usize),
                None => return cli::error(prog, "bad line count"),
            },
        },
    };
    let out = io::stdout();
    let mut status = cli::EXIT_OK;
    let paths = sysutils::inputs(o.operands());
    for (i, path) in paths.iter().enumerate() {
        if paths.len() > 1 {
            if i > 0 {
                println!();
            }
            println!("==> {} <==", sysutils::display_name(path));
        }
        let ok = match count {
            Count::Last(n) => {
                let mut t = Tail::new(n);
                let ok = sysutils::feed(prog, path, |d| t.push(d));
                for line in t.finish() {
                    out.write_all(&line);
                }
                ok
            }
            Count::From(first) => {
                let mut line = 1u64;
                let mut split = LineSplitter::default();
                let mut emit = |l: &[u8]| {
                    if line >= first {
                        out.write_all(l);
                    }
                    line += 1;
                };
                let ok = sysutils::feed(prog, path, |d| split.push(d, &mut emit));
                split.finish(&mut emit);
                ok
            }
        };
        if !ok {
            status = cli::EXIT_FAIL;
        }
    }
    io::flush();
    status
}
