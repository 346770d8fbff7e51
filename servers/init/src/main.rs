//! `/sbin/init`: process 1, exec'd by `bootinit` from the root file
//! system. It runs each command line of `/etc/rc` in order (a program path,
//! or a name found in `/bin` or `/sbin`, and its arguments, words
//! separated by blanks; empty lines and `#` comments are skipped) with fork + exec + wait, reaping any orphan that
//! ends meanwhile. When the list is done it reaps until no child is left
//! and prints `init: all done`. A last line `shutdown` then ends the run:
//! a pass if every command exited 0, a failure otherwise; without it init
//! stays, reaping the orphans it adopts.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use ulib::errno::strerror;
use ulib::process::{self, Pid, Status};
use ulib::signal::{self, Handler, SIGCHLD};
use ulib::{Errno, fs, println};

ulib::main!(main);

/// The commands of an rc file, and whether it ends with `shutdown`.
fn parse_rc(text: &str) -> (Vec<Vec<String>>, bool) {
    let mut cmds = Vec::new();
    let mut shutdown = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line == "shutdown" {
            shutdown = true;
            continue;
        }
        cmds.push(line.split_ascii_whitespace().map(String::from).collect());
    }
    (cmds, shutdown)
}

fn reaped(pid: Pid, st: Status) {
    println!("init: reaped orphan {pid} ({st})");
}

/// Waits for `pid`, reaping (and reporting) other children meanwhile.
fn wait_for(pid: Pid) -> Result<Status, Errno> {
    loop {
        match process::waitpid(-1, 0) {
            Ok((p, st)) if p == pid => return Ok(st),
            Ok((p, st)) => reaped(p, st),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

fn on_sigchld(_: u32) {}

fn main(_args: &[String]) -> i32 {
    let me = process::getpid();
    println!("init: process {me} started from /sbin/init");
    // A handler (rather than the default "ignore") makes pause() return
    // when an adopted orphan ends.
    let _ = signal::signal(SIGCHLD, Handler::Catch(on_sigchld));
    let (cmds, shutdown) = match fs::read_to_string("/etc/rc") {
        Ok(t) => parse_rc(&t),
        Err(e) => {
            println!("init: /etc/rc: {}", strerror(e));
            (Vec::new(), false)
        }
    };
    let env = ["HOME=/", "PATH=/bin:/sbin", "PWD=/", "INIT=1"];
    let mut failures = 0;
    for argv in &cmds {
        let line = argv.join(" ");
        println!("init: running {line}");
        let st = process::spawn(&argv[0], argv, &env).and_then(wait_for);
        match st {
            Ok(st) => {
                println!("init: {line}: {st}");
                if !st.success() {
                    failures += 1;
                }
            }
            Err(e) => {
                println!("init: {line}: {}", strerror(e));
                failures += 1;
            }
        }
    }
    // Orphans still running: reap them all.
    loop {
        match process::waitpid(-1, 0) {
            Ok((p, st)) => reaped(p, st),
            Err(Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    println!(
        "init: all done ({} commands, {failures} failed)",
        cmds.len()
    );
    if shutdown {
        let how = if failures == 0 {
            process::REBOOT_HALT
        } else {
            process::REBOOT_FAIL
        };
        if let Err(e) = process::reboot(how) {
            println!("init: reboot: {}", strerror(e));
        }
    }
    // Stay, reaping adopted orphans: SIGCHLD is blocked except inside
    // sigsuspend, so one that ends between the reaping and the wait is
    // not missed.
    let mask = signal::sigprocmask(signal::SIG_BLOCK, signal::bit(SIGCHLD)).unwrap_or(0);
    loop {
        while let Ok((p, st)) = process::waitpid(-1, process::WNOHANG) {
            if p <= 0 {
                break;
            }
            reaped(p, st);
        }
        signal::sigsuspend(mask & !signal::bit(SIGCHLD));
    }
}
