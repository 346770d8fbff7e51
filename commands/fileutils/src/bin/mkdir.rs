//! `mkdir [-p] [-m mode] dir ...`: makes directories; `-p` makes missing
//! parents too and accepts existing directories; `-m` sets the mode
//! (octal or symbolic, relative to `a=rwx`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use fileutils::{Tool, chmod, current_umask, is_dir};
use ulib::{Errno, cli, fs};

ulib::main!(main);

const USAGE: &str = "mkdir [-p] [-m mode] dir ...";

fn make_parents(tool: &mut Tool, path: &str) -> bool {
    let comps: alloc::vec::Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    for i in 0..comps.len().saturating_sub(1) {
        let mut at = String::from(if path.starts_with('/') { "/" } else { "" });
        at.push_str(&comps[..=i].join("/"));
        match fs::mkdir(&at, 0o777) {
            Ok(()) => {}
            Err(Errno::EEXIST) if is_dir(&at) => {}
            Err(Errno::EEXIST) => {
                tool.fail(&at, Errno::ENOTDIR);
                return false;
            }
            Err(e) => {
                tool.fail(&at, e);
                return false;
            }
        }
    }
    true
}

fn main(args: &[String]) -> i32 {
    let mut tool = Tool::new(args, "mkdir");
    let opts = match tool.options(args, "pm:", USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if opts.operands().is_empty() {
        return cli::usage(USAGE);
    }
    let umask = current_umask();
    let mode = match opts.value('m') {
        Some(spec) => match chmod::apply(spec, 0o777, true, umask) {
            Some(m) => Some(m),
            None => {
                cli::error(&tool.prog, &alloc::format!("invalid mode '{spec}'"));
                return cli::EXIT_USAGE;
            }
        },
        None => None,
    };
    for d in opts.operands() {
        if opts.has('p') && !make_parents(&mut tool, d) {
            continue;
        }
        match fs::mkdir(d, mode.unwrap_or(0o777)) {
            Ok(()) => {
                // The umask applied to mkdir's mode; -m means exactly it.
                if let Some(m) = mode
                    && let Err(e) = fs::chmod(d, m)
                {
                    tool.fail(d, e);
                }
            }
            Err(Errno::EEXIST) if opts.has('p') && is_dir(d) => {}
            Err(e) => tool.fail(d, e),
        }
    }
    tool.status
}
