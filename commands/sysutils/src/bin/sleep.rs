//! `sleep duration ...`: waits for the sum of the durations (seconds,
//! fractions allowed, suffixes s m h d).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use sysutils::proc::parse_duration_ms;
use ulib::cli;
use ulib::time;

ulib::main!(main);

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "sleep");
    let words = args.get(1..).unwrap_or(&[]);
    if words.is_empty() {
        return cli::usage("sleep seconds ...");
    }
    let mut total: u64 = 0;
    for w in words {
        match parse_duration_ms(w) {
            Some(ms) => total = total.saturating_add(ms),
            None => {
                ulib::eprintln!("{prog}: invalid time interval '{w}'");
                return cli::usage("sleep seconds ...");
            }
        }
    }
    // Sleep until the deadline even if a caught signal cuts a sleep short.
    let end = time::uptime_ms().saturating_add(total);
    loop {
        let now = time::uptime_ms();
        if now >= end {
            return cli::EXIT_OK;
        }
        let _ = time::sleep_ms(end - now);
    }
}
