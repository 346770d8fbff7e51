//! `date [-u] [-r seconds | -d @seconds] [+format]`: the wall-clock time
//! (the kernel's boot time from the CMOS clock plus the uptime) in UTC,
//! like `date -u`; `+%s` gives Unix seconds. `-r`/`-d @` show another
//! time. Setting the clock is not supported.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use sysutils::date::{DEFAULT_FORMAT, format};
use ulib::cli::{self, Opts};
use ulib::{println, time};

ulib::main!(main);

const USAGE: &str = "date [-u] [-r seconds | -d @seconds] [+format]";

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "date");
    let o = match Opts::parse(args, "ur:d:") {
        Ok(o) => o,
        Err(e) => return cli::usage_error(prog, &e, USAGE),
    };
    let given = o
        .value('r')
        .or_else(|| o.value('d').map(|d| d.strip_prefix('@').unwrap_or("")));
    let secs: i64 = match given {
        Some(v) => match v.parse() {
            Ok(s) => s,
            Err(_) => return cli::error(prog, &alloc::format!("invalid date '{v}'")),
        },
        None => time::now() as i64,
    };
    let fmt = match o.operands() {
        [] => DEFAULT_FORMAT,
        [f] => match f.strip_prefix('+') {
            Some(f) => f,
            None => return cli::error(prog, "setting the time is not supported"),
        },
        _ => return cli::usage(USAGE),
    };
    println!("{}", format(secs, fmt));
    cli::EXIT_OK
}
