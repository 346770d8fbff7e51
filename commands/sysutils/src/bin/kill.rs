//! `kill [-s signal | -signal] pid ...` and `kill -l [status]`: sends a
//! signal (TERM by default; a name or number) to processes, or to a
//! process group with a negative pid (after `--`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use sysutils::proc::{parse_signal, signal_list};
use ulib::cli;
use ulib::signal::{SIGTERM, name};
use ulib::{println, process};

ulib::main!(main);

const USAGE: &str = "kill [-s signal | -signal] pid ... | kill -l [exit_status]";

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "kill");
    let mut words = args.get(1..).unwrap_or(&[]);
    let mut sig = SIGTERM;
    match words.first().map(String::as_str) {
        Some("-l") => {
            return match words.get(1) {
                None => {
                    println!("{}", signal_list());
                    cli::EXIT_OK
                }
                Some(s) => match parse_signal(s, true) {
                    Some(n) if n > 0 => {
                        println!("{}", &name(n)[3..]);
                        cli::EXIT_OK
                    }
                    _ => cli::error(prog, &alloc::format!("{s}: invalid signal")),
                },
            };
        }
        Some("-s") => {
            let Some(s) = words.get(1) else {
                return cli::usage(USAGE);
            };
            match parse_signal(s, false) {
                Some(n) => sig = n,
                None => return cli::error(prog, &alloc::format!("{s}: invalid signal")),
            }
            words = &words[2..];
        }
        Some("--") => words = &words[1..],
        Some(w) if w.starts_with('-') && w.len() > 1 => {
            // -9 and -KILL; a negative number after a signal is a group.
            match parse_signal(&w[1..], false) {
                Some(n) => sig = n,
                None => return cli::error(prog, &alloc::format!("{}: invalid signal", &w[1..])),
            }
            words = &words[1..];
        }
        _ => {}
    }
    if words.first().is_some_and(|w| w == "--") {
        words = &words[1..];
    }
    if words.is_empty() {
        return cli::usage(USAGE);
    }
    let mut status = cli::EXIT_OK;
    for w in words {
        let Ok(pid) = w.parse::<i32>() else {
            status = cli::error(prog, &alloc::format!("{w}: not a process id"));
            continue;
        };
        if let Err(e) = process::kill(pid, sig) {
            status = cli::fail(prog, w, e);
        }
    }
    status
}
