//! `rmdir [-p] dir ...`: removes empty directories; `-p` then each parent
//! named in the path too.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use fileutils::{Tool, paths};
use ulib::{cli, fs};

ulib::main!(main);

const USAGE: &str = "rmdir [-p] dir ...";

fn main(args: &[String]) -> i32 {
    let mut tool = Tool::new(args, "rmdir");
    let opts = match tool.options(args, "p", USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if opts.operands().is_empty() {
        return cli::usage(USAGE);
    }
    for d in opts.operands() {
        let mut cur = String::from(d.trim_end_matches('/'));
        loop {
            if let Err(e) = fs::rmdir(&cur) {
                tool.fail(&cur, e);
                break;
            }
            if !opts.has('p') {
                break;
            }
            let parent = paths::dirname(&cur);
            if parent == "." || parent == "/" || parent == cur {
                break;
            }
            cur = String::from(parent);
        }
    }
    tool.status
}
