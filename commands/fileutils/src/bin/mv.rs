//! `mv [-f] source target` / `mv [-f] source ... directory`: renames;
//! across file systems (`EXDEV`) copies (owner, mode and times kept) and
//! removes the source.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use fileutils::{CopyOpts, Tool, absolute, copy, is_dir, paths, remove_tree};
use ulib::{Errno, cli, fs};

ulib::main!(main);

const USAGE: &str = "mv [-f] source target | mv [-f] source ... directory";

fn main(args: &[String]) -> i32 {
    let mut tool = Tool::new(args, "mv");
    let opts = match tool.options(args, "fi", USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let ops = opts.operands();
    if ops.len() < 2 {
        return cli::usage(USAGE);
    }
    let (sources, dst) = ops.split_at(ops.len() - 1);
    let dst = &dst[0];
    let into_dir = is_dir(dst);
    if sources.len() > 1 && !into_dir {
        tool.fail(dst, Errno::ENOTDIR);
        return tool.status;
    }
    for src in sources {
        let target = paths::target(src, dst, into_dir);
        let src_dir = match fs::lstat(src) {
            Ok(m) => m.is_dir(),
            Err(e) => {
                tool.fail(src, e);
                continue;
            }
        };
        if src_dir && paths::is_within(&absolute(src), &absolute(&target)) {
            tool.error(&alloc::format!("cannot move {src} into itself ({target})"));
            continue;
        }
        match fs::rename(src, &target) {
            Ok(()) => {}
            Err(Errno::EXDEV) => {
                let o = CopyOpts {
                    recursive: true,
                    preserve: true,
                };
                if copy(&mut tool, src, &target, o) {
                    remove_tree(&mut tool, src, false);
                }
            }
            Err(e) => tool.fail(&alloc::format!("{src} -> {target}"), e),
        }
    }
    tool.status
}
