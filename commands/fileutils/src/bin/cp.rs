//! `cp [-pr] source target` / `cp [-pr] source ... directory`: copies
//! files (into the directory under their own names when the target is
//! one). `-r` (`-R`) copies directories with their contents, symbolic
//! links as links and special files anew; `-p` keeps owner, group, mode
//! and times.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use fileutils::{CopyOpts, Tool, absolute, copy, is_dir, paths};
use ulib::cli;

ulib::main!(main);

const USAGE: &str = "cp [-pr] source target | cp [-pr] source ... directory";

fn main(args: &[String]) -> i32 {
    let mut tool = Tool::new(args, "cp");
    let opts = match tool.options(args, "prRf", USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let o = CopyOpts {
        recursive: opts.has('r') || opts.has('R'),
        preserve: opts.has('p'),
    };
    let ops = opts.operands();
    if ops.len() < 2 {
        return cli::usage(USAGE);
    }
    let (sources, dst) = ops.split_at(ops.len() - 1);
    let dst = &dst[0];
    let into_dir = is_dir(dst);
    if sources.len() > 1 && !into_dir {
        tool.fail(dst, ulib::Errno::ENOTDIR);
        return tool.status;
    }
    for src in sources {
        let target = paths::target(src, dst, into_dir);
        let (a, b) = (absolute(src), absolute(&target));
        if a == b {
            tool.error(&alloc::format!("{src} and {target} are the same file"));
            continue;
        }
        if o.recursive && is_dir(src) && paths::is_within(&a, &b) {
            tool.error(&alloc::format!(
                "cannot copy directory {src} into itself ({target})"
            ));
            continue;
        }
        copy(&mut tool, src, &target, o);
    }
    tool.status
}
