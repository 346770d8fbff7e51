//! `env [-i] [-u name] [name=value ...] [command [arg ...]]`: prints the
//! environment, or runs a command (found in `PATH`) with a changed one.
//! Exit 127 if the command is not found, 126 if it cannot be run. (The
//! runtime's exec adds `PWD` to an environment without one, `-i` too.)
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use ulib::cli::{self, Opts};
use ulib::errno::strerror;
use ulib::{Errno, env, println, process};

ulib::main!(main);

const USAGE: &str = "env [-i] [-u name] [name=value ...] [command [arg ...]]";

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "env");
    // A lone `-` is the old spelling of -i.
    let words: Vec<String> = args
        .get(1..)
        .unwrap_or(&[])
        .iter()
        .map(|w| {
            if w == "-" {
                String::from("-i")
            } else {
                w.clone()
            }
        })
        .collect();
    let o = match Opts::parse_words(&words, "iu:") {
        Ok(o) => o,
        Err(e) => return cli::usage_error(prog, &e, USAGE),
    };
    let mut vars: Vec<(String, String)> = if o.has('i') { Vec::new() } else { env::vars() };
    for name in o.values('u') {
        vars.retain(|(k, _)| k != name);
    }
    let mut rest = o.operands();
    while let Some((w, tail)) = rest.split_first() {
        let Some((k, v)) = w.split_once('=') else {
            break;
        };
        if k.is_empty() {
            return cli::error(prog, &alloc::format!("{w}: invalid assignment"));
        }
        vars.retain(|(name, _)| name != k);
        vars.push((k.into(), v.into()));
        rest = tail;
    }
    if rest.is_empty() {
        for (k, v) in &vars {
            println!("{k}={v}");
        }
        return cli::EXIT_OK;
    }
    let envp: Vec<String> = vars
        .iter()
        .map(|(k, v)| alloc::format!("{k}={v}"))
        .collect();
    let e = process::execvp(&rest[0], rest, &envp);
    ulib::eprintln!("{prog}: {}: {}", rest[0], strerror(e));
    if matches!(e, Errno::ENOENT | Errno::ENOTDIR) {
        127
    } else {
        126
    }
}
