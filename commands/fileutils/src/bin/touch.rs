//! `touch [-acm] [-t seconds] file ...`: creates missing files (not with
//! `-c`) and sets their access and modification times (only one with
//! `-a` / `-m`) to now, or to `-t` Unix seconds.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use fileutils::Tool;
use ulib::fs::{self, OpenOptions};
use ulib::{Errno, cli};

ulib::main!(main);

const USAGE: &str = "touch [-acm] [-t seconds] file ...";

fn main(args: &[String]) -> i32 {
    let mut tool = Tool::new(args, "touch");
    let opts = match tool.options(args, "acmt:", USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if opts.operands().is_empty() {
        return cli::usage(USAGE);
    }
    let when = match opts.value('t') {
        Some(t) => match cli::parse_num(t, 10).and_then(|t| u32::try_from(t).ok()) {
            Some(t) => t,
            None => {
                cli::error(&tool.prog, &alloc::format!("bad time '{t}'"));
                return cli::EXIT_USAGE;
            }
        },
        None => u32::try_from(ulib::time::now()).unwrap_or(u32::MAX),
    };
    // Neither -a nor -m: both.
    let (set_a, set_m) = match (opts.has('a'), opts.has('m')) {
        (false, false) => (true, true),
        x => x,
    };
    for p in opts.operands() {
        let m = match fs::stat(p) {
            Ok(m) => m,
            Err(Errno::ENOENT) if opts.has('c') => continue,
            Err(Errno::ENOENT) => {
                match OpenOptions::new()
                    .write(true)
                    .create(true)
                    .mode(0o666)
                    .open(p)
                    .and_then(|f| {
                        let m = f.metadata();
                        f.close()?;
                        m
                    }) {
                    Ok(m) => m,
                    Err(e) => {
                        tool.fail(p, e);
                        continue;
                    }
                }
            }
            Err(e) => {
                tool.fail(p, e);
                continue;
            }
        };
        let atime = if set_a { when } else { m.0.atime };
        let mtime = if set_m { when } else { m.0.mtime };
        if let Err(e) = fs::utimes(p, atime, mtime) {
            tool.fail(p, e);
        }
    }
    tool.status
}
