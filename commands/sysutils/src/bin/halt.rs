//! `halt` and `poweroff` (one program installed under both names): syncs
//! the file systems and powers the machine off (PM's reboot: PM syncs
//! again through VFS, then the kernel ends the run). Root only.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;

ulib::main!(main);

fn main(args: &[String]) -> i32 {
    sysutils::power_off(ulib::cli::prog_name(args, "halt"))
}
