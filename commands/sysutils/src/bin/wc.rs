//! `wc [-lwc] [file ...]`: counts lines, words and bytes of each file (or
//! standard input), with a total line for several files.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use sysutils::text::{Counts, WcColumns, digits};
use ulib::cli::{self, Opts};
use ulib::println;

ulib::main!(main);

const USAGE: &str = "wc [-clw] [file ...]";

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "wc");
    let o = match Opts::parse(args, "lwcm") {
        Ok(o) => o,
        Err(e) => return cli::usage_error(prog, &e, USAGE),
    };
    let cols = WcColumns::new(o.has('l'), o.has('w'), o.has('c') || o.has('m'));
    let mut status = cli::EXIT_OK;
    let mut results: Vec<(Counts, Option<&str>)> = Vec::new();
    let mut total = Counts::default();
    for path in sysutils::inputs(o.operands()) {
        let mut c = Counts::default();
        if !sysutils::feed(prog, &path, |d| c.update(d)) {
            status = cli::EXIT_FAIL;
            continue;
        }
        total.add(&c);
        let name = o
            .operands()
            .iter()
            .find(|p| **p == path)
            .map(String::as_str);
        results.push((c, name));
    }
    let several = o.operands().len() > 1;
    // Standard input alone: GNU's fixed width 7; else the widest number.
    let width = if o.operands().is_empty() {
        if cols.lines as u8 + cols.words as u8 + cols.bytes as u8 == 1 {
            1
        } else {
            7
        }
    } else {
        digits(total.bytes.max(total.lines).max(total.words))
    };
    for (c, name) in &results {
        println!("{}", cols.format(c, width, *name));
    }
    if several {
        println!("{}", cols.format(&total, width, Some("total")));
    }
    status
}
