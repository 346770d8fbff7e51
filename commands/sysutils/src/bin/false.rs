//! `/bin/false`: exits 1.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;

ulib::main!(main);

fn main(_args: &[String]) -> i32 {
    1
}
