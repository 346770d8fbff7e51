//! `bootinit`: the one user program in the boot image. The kernel starts
//! it as a plain user process (`user=bootinit`); PM adopts it as process 1
//! when PM starts. It waits until VFS has mounted the root file system
//! (retrying `stat` of the program with short sleeps), then execs it:
//! `/sbin/init` unless its boot arguments name another program (and that
//! program's arguments). If that cannot be done it says why and exits 1.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use ulib::errno::strerror;
use ulib::{Errno, fs, println, process, time};

ulib::main!(main);

/// How long to wait for the root file system and PM (clock ticks).
const PATIENCE: u64 = 120 * time::HZ;

/// Waits a little: through VFS's select once VFS runs, else by spinning
/// (a plain user process has no alarm of its own).
fn pause_briefly() {
    if time::sleep_ms(50).is_err() {
        let until = time::uptime() + 5;
        while time::uptime() < until {
            core::hint::spin_loop();
        }
    }
}

fn main(args: &[String]) -> i32 {
    let argv: Vec<String> = match args.get(1) {
        Some(_) => args[1..].to_vec(),
        None => alloc::vec![String::from("/sbin/init")],
    };
    let path = argv[0].clone();
    let start = time::uptime();
    let mut last = Errno::ENOENT;
    let mut announced = false;
    while time::uptime() - start < PATIENCE {
        match fs::stat(&path) {
            Ok(m) if m.is_file() => {
                let env = ["HOME=/", "PATH=/bin:/sbin", "PWD=/"];
                last = process::exec(&path, &argv, &env);
                // PM may not have adopted this process yet: try again.
                if matches!(last, Errno::ENOEXEC | Errno::EACCES | Errno::E2BIG) {
                    break;
                }
            }
            Ok(_) => {
                last = Errno::EACCES;
                break;
            }
            Err(e) => last = e,
        }
        if !announced {
            println!("bootinit: waiting for {path} ({})", strerror(last));
            announced = true;
        }
        pause_briefly();
    }
    println!("bootinit: cannot exec {path}: {}", strerror(last));
    1
}
