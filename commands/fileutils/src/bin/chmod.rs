//! `chmod [-R] mode file ...`: sets permission bits; the mode is octal
//! (`755`) or symbolic (`u+x`, `go-w`, `a=rX`, several joined by commas).
//! `-R` walks directories (symbolic links are not followed).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use fileutils::{Tool, chmod, current_umask};
use ulib::{cli, fs};

ulib::main!(main);

const USAGE: &str = "chmod [-R] mode file ...";

fn change(tool: &mut Tool, spec: &str, umask: u16, path: &str, recursive: bool) {
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
    let Some(new) = chmod::apply(spec, m.permissions(), m.is_dir(), umask) else {
        return tool.error(&alloc::format!("invalid mode '{spec}'"));
    };
    if let Err(e) = fs::chmod(path, new) {
        tool.fail(path, e);
    }
    if recursive && m.is_dir() {
        fileutils::for_each_child(tool, path, |t, child| change(t, spec, umask, child, true));
    }
}

fn main(args: &[String]) -> i32 {
    let mut tool = Tool::new(args, "chmod");
    // Modes like -w look like options: only -R is one.
    let mut words = args.get(1..).unwrap_or(&[]);
    let mut recursive = false;
    while let Some(w) = words.first() {
        match w.as_str() {
            "-R" => recursive = true,
            "--" => {
                words = &words[1..];
                break;
            }
            _ => break,
        }
        words = &words[1..];
    }
    if words.len() < 2 {
        return cli::usage(USAGE);
    }
    let spec = &words[0];
    let umask = current_umask();
    if chmod::apply(spec, 0, false, umask).is_none() {
        cli::error(&tool.prog, &alloc::format!("invalid mode '{spec}'"));
        return cli::EXIT_USAGE;
    }
    for p in &words[1..] {
        change(&mut tool, spec, umask, p, recursive);
    }
    tool.status
}
