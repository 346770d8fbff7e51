//! `uname [-amnrsv]`: the system's name (`-s`, the default), node name
//! (`-n`, from `/etc/hostname`, else `minix`), release (`-r`), version
//! (`-v`) and machine (`-m`); `-a` all of them.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use ulib::cli::{self, Opts};
use ulib::{fs, println};

ulib::main!(main);

/// The system's name.
const SYSNAME: &str = "Minix-rs";
/// The release: the workspace version.
const RELEASE: &str = env!("CARGO_PKG_VERSION");
/// The version string.
const VERSION: &str = "#1";
/// The machine.
const MACHINE: &str = "x86_64";

fn nodename() -> String {
    fs::read_to_string("/etc/hostname")
        .ok()
        .and_then(|s| s.lines().next().map(|l| String::from(l.trim())))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| String::from("minix"))
}

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "uname");
    let o = match Opts::parse(args, "amnrsvp") {
        Ok(o) => o,
        Err(e) => return cli::usage_error(prog, &e, "uname [-amnrsv]"),
    };
    if !o.operands().is_empty() {
        return cli::usage("uname [-amnrsv]");
    }
    let all = o.has('a');
    let mut fields: Vec<String> = Vec::new();
    let none = !["m", "n", "r", "s", "v", "p"]
        .iter()
        .any(|c| o.has(c.chars().next().unwrap_or('s')));
    if all || o.has('s') || none {
        fields.push(SYSNAME.into());
    }
    if all || o.has('n') {
        fields.push(nodename());
    }
    if all || o.has('r') {
        fields.push(RELEASE.into());
    }
    if all || o.has('v') {
        fields.push(VERSION.into());
    }
    if all || o.has('m') || o.has('p') {
        fields.push(MACHINE.into());
    }
    println!("{}", fields.join(" "));
    cli::EXIT_OK
}
