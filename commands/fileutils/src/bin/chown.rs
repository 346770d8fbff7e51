//! `chown [-R] owner[:group] file ...`: sets owner and group (numbers, or
//! names from `/etc/passwd` and `/etc/group`); `:group` alone sets only
//! the group. `-R` walks directories (links themselves are not changed).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use fileutils::{Tool, owner};
use ulib::{cli, fs};

ulib::main!(main);

const USAGE: &str = "chown [-R] owner[:group] file ...";

fn change(tool: &mut Tool, uid: Option<u16>, gid: Option<u16>, path: &str, recursive: bool) {
    let m = match if recursive {
        fs::lstat(path)
    } else {
        fs::stat(path)
    } {
        Ok(m) => m,
        Err(e) => return tool.fail(path, e),
    };
    if m.is_symlink() {
        return;
    }
    if let Err(e) = fs::chown(path, uid.unwrap_or(m.uid()), gid.unwrap_or(m.gid())) {
        tool.fail(path, e);
    }
    if recursive && m.is_dir() {
        fileutils::for_each_child(tool, path, |t, child| change(t, uid, gid, child, true));
    }
}

fn main(args: &[String]) -> i32 {
    let tool = Tool::new(args, "chown");
    let opts = match tool.options(args, "R", USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let mut tool = tool;
    let ops = opts.operands();
    if ops.len() < 2 {
        return cli::usage(USAGE);
    }
    let (u, g) = owner::split(&ops[0]);
    let uid = match u {
        Some(u) => match owner::resolve(u, fs::read_to_string("/etc/passwd").ok().as_deref()) {
            Some(id) => Some(id),
            None => {
                cli::error(&tool.prog, &alloc::format!("unknown user '{u}'"));
                return cli::EXIT_FAIL;
            }
        },
        None => None,
    };
    let gid = match g {
        Some(g) => match owner::resolve(g, fs::read_to_string("/etc/group").ok().as_deref()) {
            Some(id) => Some(id),
            None => {
                cli::error(&tool.prog, &alloc::format!("unknown group '{g}'"));
                return cli::EXIT_FAIL;
            }
        },
        None => None,
    };
    if uid.is_none() && gid.is_none() {
        return cli::usage(USAGE);
    }
    for p in &ops[1..] {
        change(&mut tool, uid, gid, p, opts.has('R'));
    }
    tool.status
}
