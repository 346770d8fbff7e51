//! `cat [file ...]`: writes the files (`-` or none: standard input) to
//! standard output.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use fileutils::{Tool, write_out};
use ulib::fd;
use ulib::fs::File;

ulib::main!(main);

fn main(args: &[String]) -> i32 {
    let mut tool = Tool::new(args, "cat");
    let opts = match tool.options(args, "u", "cat [-u] [file ...]") {
        Ok(o) => o,
        Err(code) => return code,
    };
    let mut files: alloc::vec::Vec<String> = opts.operands().to_vec();
    if files.is_empty() {
        files.push(String::from("-"));
    }
    let mut buf = alloc::vec![0u8; 32 * 1024];
    for name in &files {
        let mut file = None;
        if name != "-" {
            match File::open(name) {
                Ok(f) => file = Some(f),
                Err(e) => {
                    tool.fail(name, e);
                    continue;
                }
            }
        }
        loop {
            let r = match &mut file {
                Some(f) => f.read(&mut buf),
                None => fd::read(fd::STDIN, &mut buf),
            };
            match r {
                Ok(0) => break,
                Ok(n) => write_out(&buf[..n]),
                Err(e) => {
                    tool.fail(if name == "-" { "stdin" } else { name }, e);
                    break;
                }
            }
        }
    }
    ulib::io::flush();
    tool.status
}
