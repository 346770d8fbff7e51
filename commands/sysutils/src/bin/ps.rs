//! `ps`: the process table from PM: pid, parent, user, state, CPU time,
//! name.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use sysutils::proc::{PS_HEADER, ps_line};
use ulib::cli::{self, Opts};
use ulib::{println, process, time};

ulib::main!(main);

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "ps");
    // -a, -e, -x, -l: accepted; every process is always listed.
    if let Err(e) = Opts::parse(args, "aelx") {
        return cli::usage_error(prog, &e, "ps [-aelx]");
    }
    let mut procs = match process::ps() {
        Ok(p) => p,
        Err(e) => return cli::fail(prog, "process table", e),
    };
    procs.sort_by_key(|p| p.pid);
    println!("{PS_HEADER}");
    for p in &procs {
        println!("{}", ps_line(p, time::HZ));
    }
    cli::EXIT_OK
}
