//! `/bin/child`: the program the process tests exec. Modes (`argv[1]`):
//!
//! - `check CODE TOKEN [show]`: exits with CODE if `argv[3]` equals the
//!   environment variable `CHILD_TOKEN` (so arguments and environment both
//!   arrived), else prints what differs and exits 99; `show` prints its
//!   argv and environment first.
//! - `exit CODE`: exits with CODE.
//! - `fault`: reads through a null pointer (killed by SIGSEGV).
//! - `sleep MS`: sleeps MS milliseconds, exits 0.
//! - `pause`: waits for signals for ever (killed by the test).
//! - `write FD`: writes to descriptor FD until an error; exits with 32
//!   for `EPIPE` (when SIGPIPE does not kill it first).
//! - `exists PATH`: exits 0 if PATH (relative to the working directory it
//!   inherited) exists, else 1.
//! - `fd FD`: exits 0 if descriptor FD is open, 1 if not (`EBADF`).
//! - `orphan FILE`: forks a grandchild and exits at once; the grandchild
//!   waits until init has adopted it (its parent becomes 1), writes
//!   `adopted by 1` to FILE and exits 0.
//! - `asuser UID PROGRAM ARGS...`: gives up root (setuid UID) and execs
//!   PROGRAM (a name is looked up in PATH) with ARGS; 127 if that fails.
//! - `read PATH`: opens PATH, reads up to 4 KiB, prints
//!   `child: read N bytes from PATH` and exits 0 (1 on an error).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use ulib::errno::strerror;
use ulib::{Errno, env, fd, fs, println, process, signal, time};

ulib::main!(main);

fn num(s: Option<&String>) -> i32 {
    s.and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn check(args: &[String]) -> i32 {
    let code = num(args.get(2));
    let token = args.get(3).cloned().unwrap_or_default();
    if args.get(4).is_some_and(|s| s == "show") {
        println!("child: argv {:?}", args);
        println!("child: CHILD_TOKEN={:?}", env::var("CHILD_TOKEN"));
    }
    match env::var("CHILD_TOKEN") {
        Some(t) if t == token => code,
        other => {
            println!("child: argv[3] {token:?} but CHILD_TOKEN {other:?}");
            99
        }
    }
}

fn orphan(file: &str) -> i32 {
    match process::fork() {
        Ok(0) => {
            let start = time::uptime();
            while process::getppid() != 1 {
                if time::uptime() - start > 30 * time::HZ {
                    println!(
                        "child: orphan never adopted (parent {})",
                        process::getppid()
                    );
                    return 1;
                }
                let _ = time::sleep_ms(10);
            }
            match fs::write(file, b"adopted by 1\n") {
                Ok(()) => 0,
                Err(e) => {
                    println!("child: {file}: {}", strerror(e));
                    1
                }
            }
        }
        Ok(_) => 0,
        Err(e) => {
            println!("child: fork: {}", strerror(e));
            1
        }
    }
}

fn as_user(uid: u32, argv: &[String]) -> i32 {
    if let Err(e) = process::setuid(uid) {
        println!("child: setuid {uid}: {}", strerror(e));
        return 1;
    }
    let e = process::execvp(&argv[0], argv, &env::envp());
    println!("child: {}: {}", argv[0], strerror(e));
    127
}

fn read(path: &str) -> i32 {
    let mut buf = [0u8; 4096];
    match fs::File::open(path).and_then(|mut f| f.read(&mut buf)) {
        Ok(n) => {
            println!("child: read {n} bytes from {path}");
            0
        }
        Err(e) => {
            println!("child: {path}: {}", strerror(e));
            1
        }
    }
}

fn main(args: &[String]) -> i32 {
    match args.get(1).map(String::as_str) {
        Some("check") => check(args),
        Some("exit") => num(args.get(2)),
        Some("fault") => i32::from(rt::fault::null_pointer_read()),
        Some("sleep") => {
            let _ = time::sleep_ms(num(args.get(2)) as u64);
            0
        }
        Some("pause") => loop {
            signal::pause();
        },
        Some("write") => {
            let f = num(args.get(2));
            loop {
                match fd::write(f, b"data for a pipe nobody reads\n") {
                    Ok(_) => {}
                    Err(Errno::EPIPE) => return 32,
                    Err(e) => {
                        println!("child: write: {}", strerror(e));
                        return 1;
                    }
                }
            }
        }
        Some("exists") => i32::from(!fs::exists(args.get(2).map_or("", String::as_str))),
        Some("fd") => match fd::fstat(num(args.get(2))) {
            Ok(_) => 0,
            Err(Errno::EBADF) => 1,
            Err(e) => {
                println!("child: fstat: {}", strerror(e));
                2
            }
        },
        Some("orphan") => orphan(args.get(2).map_or("/tmp/orphan", String::as_str)),
        Some("asuser") if args.len() > 3 => as_user(num(args.get(2)) as u32, &args[3..]),
        Some("read") if args.len() == 3 => read(&args[2]),
        _ => {
            println!(
                "child: usage: child check|exit|fault|sleep|pause|write|exists|fd|orphan|asuser|read ..."
            );
            2
        }
    }
}
