//! `rm [-fr] file ...`: removes files; `-r` (`-R`) directories with their
//! contents; `-f` says nothing about missing files (and exits 0 for
//! them).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use fileutils::{Tool, paths, remove_tree};
use ulib::{Errno, cli, fs};

ulib::main!(main);

const USAGE: &str = "rm [-fr] file ...";

fn main(args: &[String]) -> i32 {
    let mut tool = Tool::new(args, "rm");
    let opts = match tool.options(args, "frRi", USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let force = opts.has('f');
    let recursive = opts.has('r') || opts.has('R');
    if opts.operands().is_empty() {
        return if force {
            cli::EXIT_OK
        } else {
            cli::usage(USAGE)
        };
    }
    for p in opts.operands() {
        if paths::is_dot(paths::basename(p)) {
            tool.error(&alloc::format!("\".\" and \"..\" may not be removed: {p}"));
            continue;
        }
        let m = match fs::lstat(p) {
            Ok(m) => m,
            Err(Errno::ENOENT) if force => continue,
            Err(e) => {
                tool.fail(p, e);
                continue;
            }
        };
        if m.is_dir() {
            if !recursive {
                tool.fail(p, Errno::EISDIR);
            } else {
                remove_tree(&mut tool, p, force);
            }
        } else if let Err(e) = fs::unlink(p) {
            tool.fail(p, e);
        }
    }
    tool.status
}
