//! `ln [-fs] target [link]` / `ln [-fs] target ... directory`: makes hard
//! links, or symbolic links with `-s`; `-f` replaces an existing link
//! name. Without a link name the link goes into the working directory
//! under the target's name.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use fileutils::{Tool, is_dir, paths};
use ulib::{Errno, cli, fs};

ulib::main!(main);

const USAGE: &str = "ln [-fs] target [link] | ln [-fs] target ... directory";

fn main(args: &[String]) -> i32 {
    let mut tool = Tool::new(args, "ln");
    let opts = match tool.options(args, "fs", USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let ops = opts.operands();
    let (targets, dst) = match ops.len() {
        0 => return cli::usage(USAGE),
        1 => (ops, String::from(".")),
        n => (&ops[..n - 1], ops[n - 1].clone()),
    };
    let into_dir = is_dir(&dst);
    if targets.len() > 1 && !into_dir {
        tool.fail(&dst, Errno::ENOTDIR);
        return tool.status;
    }
    for t in targets {
        let name = paths::target(t, &dst, into_dir);
        if opts.has('f')
            && let Ok(m) = fs::lstat(&name)
        {
            if m.is_dir() {
                tool.fail(&name, Errno::EISDIR);
                continue;
            }
            if let Err(e) = fs::unlink(&name) {
                tool.fail(&name, e);
                continue;
            }
        }
        let r = if opts.has('s') {
            fs::symlink(t, &name)
        } else {
            fs::link(t, &name)
        };
        if let Err(e) = r {
            tool.fail(&name, e);
        }
    }
    tool.status
}
