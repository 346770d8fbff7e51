//! `hello`: the smallest useful boot program. Prints its arguments and a
//! few numbered lines (through the kernel's debug print, using the heap for
//! formatting to exercise `alloc`), then exits with code 0. With argument
//! `exit=N` it exits with code N instead; with `modules` it first lists
//! the boot modules (kernel call `BootModules`); with `shutdown=N` it powers the
//! system off with verdict N (0 = pass) instead of exiting.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::vec::Vec;

/// Number of numbered lines printed.
const LINES: usize = 5;

rt::entry!(main);

fn main(args: &str) -> i32 {
    rt::println!("hello from user space, args '{args}'");
    if args.split_ascii_whitespace().any(|w| w == "modules") {
        let mut buf = [0u8; 512];
        if let Ok(n) = rt::sys::boot_modules(&mut buf) {
            for line in core::str::from_utf8(&buf[..n.min(buf.len())])
                .unwrap_or("")
                .lines()
            {
                rt::println!("boot module: {line}");
            }
        }
    }
    let lines: Vec<_> = (1..=LINES).map(|i| format!("line {i}/{LINES}")).collect();
    for line in &lines {
        rt::println!("{line}");
    }
    let code = args
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("exit="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if let Some(v) = args
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("shutdown="))
        .and_then(|n| n.parse().ok())
    {
        rt::println!("shutting down with verdict {v}");
        rt::sys::shutdown(v);
    }
    rt::println!("done, exiting with {code}");
    code
}
