//! `/bin/sh`: the shell program (see the library's docs and README.md).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod exec;

#[cfg(target_os = "none")]
ulib::main!(exec::main);

#[cfg(not(target_os = "none"))]
fn main() {}
