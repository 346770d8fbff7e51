//! `grep [-EFGchHilnqvx] [-e pattern ...] [pattern] [file ...]`: the lines
//! matching a POSIX basic regular expression (`-E` extended, `-F` a fixed
//! string; groups and back-references are not supported), any of several,
//! from files or standard input. Exit 0 if a line was selected, 1 if none,
//! 2 on an error.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use sysutils::text::{GrepOpts, LineSplitter, Matcher, chomp, grep_status};
use ulib::cli::{self, Opts};
use ulib::{io, println};

ulib::main!(main);

const USAGE: &str = "grep [-EFGcHhilnqvx] [-e pattern] ... [pattern] [file ...]";

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "grep");
    let o = match Opts::parse(args, "EFGcilnqvxHhe:") {
        Ok(o) => o,
        Err(e) => {
            ulib::eprintln!("{prog}: {e}");
            return cli::usage(USAGE);
        }
    };
    let mut operands: &[String] = o.operands();
    let mut patterns: Vec<&str> = o.values('e').collect();
    if patterns.is_empty() {
        let Some((p, rest)) = operands.split_first() else {
            return cli::usage(USAGE);
        };
        patterns.push(p);
        operands = rest;
    }
    let m = match Matcher::new(
        &patterns,
        GrepOpts {
            ignore_case: o.has('i'),
            invert: o.has('v'),
            whole_line: o.has('x'),
            fixed: o.has('F'),
            extended: o.has('E'),
        },
    ) {
        Ok(m) => m,
        Err(e) => {
            ulib::eprintln!("{prog}: {e}");
            return 2;
        }
    };
    let paths = sysutils::inputs(operands);
    let prefix = (paths.len() > 1 || o.has('H')) && !o.has('h');
    let (count, list, quiet, number) = (o.has('c'), o.has('l'), o.has('q'), o.has('n'));
    let out = io::stdout();
    let mut selected_any = false;
    let mut error = false;
    for path in &paths {
        let name = sysutils::display_name(path);
        let mut selected = 0u64;
        let mut lineno = 0u64;
        let mut split = LineSplitter::default();
        let mut on_line = |l: &[u8]| {
            lineno += 1;
            if !m.selects(chomp(l)) {
                return;
            }
            selected += 1;
            if quiet || count || list {
                return;
            }
            if prefix {
                out.write_all(name.as_bytes());
                out.write_all(b":");
            }
            if number {
                out.write_all(alloc::format!("{lineno}:").as_bytes());
            }
            out.write_all(chomp(l));
            out.write_all(b"\n");
        };
        if !sysutils::feed(prog, path, |d| split.push(d, &mut on_line)) {
            error = true;
        }
        split.finish(&mut on_line);
        selected_any |= selected > 0;
        if quiet && selected_any {
            break;
        }
        if count && !quiet {
            if prefix {
                println!("{name}:{selected}");
            } else {
                println!("{selected}");
            }
        }
        if list && !quiet && selected > 0 {
            println!("{name}");
        }
    }
    io::flush();
    grep_status(selected_any, error, quiet)
}
