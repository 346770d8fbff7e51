//! `/bin/true`: exits 0 (also the small static program of the fork+exec
//! benchmark).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;

ulib::main!(main);

fn main(_args: &[String]) -> i32 {
    0
}
