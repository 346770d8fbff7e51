//! `stat [-L] file ...`: every attribute of each file (of the link itself
//! unless `-L`): type, size, mode, owner, inode, links, device numbers,
//! times.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use fileutils::{Tool, mode, size};
use ulib::{cli, fs, println};

ulib::main!(main);

fn main(args: &[String]) -> i32 {
    let mut tool = Tool::new(args, "stat");
    let opts = match tool.options(args, "L", "stat [-L] file ...") {
        Ok(o) => o,
        Err(code) => return code,
    };
    if opts.operands().is_empty() {
        return cli::usage("stat [-L] file ...");
    }
    for p in opts.operands() {
        let r = if opts.has('L') {
            fs::stat(p)
        } else {
            fs::lstat(p)
        };
        let m = match r {
            Ok(m) => m,
            Err(e) => {
                tool.fail(p, e);
                continue;
            }
        };
        let link = if m.is_symlink() {
            fs::readlink(p)
                .map(|t| alloc::format!(" -> {t}"))
                .unwrap_or_default()
        } else {
            String::new()
        };
        println!("  File: {p}{link}");
        println!("  Size: {}  Type: {}", m.len(), mode::type_name(m.mode()));
        println!(
            "  Mode: {:04o} ({})  Uid: {}  Gid: {}",
            m.permissions(),
            mode::mode_string(m.mode()),
            m.uid(),
            m.gid()
        );
        if mode::is_device(m.mode()) {
            let (maj, min) = mode::dev_split(m.0.rdev);
            println!(
                " Inode: {}  Links: {}  Device: {maj},{min}",
                m.ino(),
                m.0.nlinks
            );
        } else {
            println!(" Inode: {}  Links: {}", m.ino(), m.0.nlinks);
        }
        println!("Access: {}", size::date_time(u64::from(m.0.atime)));
        println!("Modify: {}", size::date_time(u64::from(m.0.mtime)));
        println!("Change: {}", size::date_time(u64::from(m.0.ctime)));
    }
    tool.status
}
