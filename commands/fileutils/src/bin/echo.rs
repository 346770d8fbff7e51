//! `echo [-n] [arg ...]`: prints the arguments separated by blanks and a
//! newline (none with `-n`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;

ulib::main!(main);

fn main(args: &[String]) -> i32 {
    let mut words = args.get(1..).unwrap_or(&[]);
    let newline = words.first().is_none_or(|w| w != "-n");
    if !newline {
        words = &words[1..];
    }
    let mut line = words.join(" ");
    if newline {
        line.push('\n');
    }
    fileutils::write_out(line.as_bytes());
    ulib::io::flush();
    0
}
