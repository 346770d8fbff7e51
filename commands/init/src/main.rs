//! `/sbin/init`: process 1, exec'd by `bootinit` from the root file
//! system. It runs each command line of `/etc/rc` in order (a program path,
//! or a name found in `/bin` or `/sbin`, and its arguments, words
//! separated by blanks; empty lines and `#` comments are skipped) with fork + exec + wait, reaping any orphan that
//! ends meanwhile. When the list is done it reaps until no child is left
//! and prints `init: all done`. A last line `shutdown` then ends the run:
//! a pass if every command exited 0, a failure otherwise. Without it init
//! stays, reaping the orphans it adopts, and, when the console can be
//! opened and `/bin/sh` exists, runs a login shell on it: the child becomes
//! a session leader, opens `/dev/console` as descriptors 0, 1 and 2 (its
//! controlling terminal), makes itself the terminal's foreground process
//! group and execs `/bin/sh -i`; when that shell ends, init starts another.
//!
//! The rc commands' output stays on the kernel console (`[name] text`
//! lines): init keeps no descriptors open itself.
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

/// The environment of the commands init starts.
const ENV: [&str; 4] = ["HOME=/", "PATH=/bin:/sbin", "PWD=/", "INIT=1"];
/// The console device and the shell run on it.
const CONSOLE: &str = "/dev/console";
const SHELL: &str = "/bin/sh";
/// A shell that ends within this many clock ticks of its start is
/// restarted only after a pause, so a broken shell does not spin.
const QUICK_EXIT_TICKS: u64 = 2 * 100;

/// Whether a console shell can run: the TTY driver answers the console
/// and the shell is on the disk.
fn console_usable() -> bool {
    if !fs::exists(SHELL) {
        return false;
    }
    match fs::open_fd(CONSOLE, fs::O_RDWR | fs::O_NOCTTY, 0) {
        Ok(fd) => {
            let _ = ulib::fd::close(fd);
            true
        }
        Err(e) => {
            println!("init: {CONSOLE}: {}; no console shell", strerror(e));
            false
        }
    }
}

/// Starts the console shell; returns its pid.
fn start_console_shell() -> Result<Pid, Errno> {
    match process::fork()? {
        0 => process::exit(console_child()),
        pid => Ok(pid),
    }
}

/// In the child: a new session on the console, then the shell.
fn console_child() -> i32 {
    // init blocks SIGCHLD while it waits; the shell must not inherit that.
    let _ = signal::sigprocmask(signal::SIG_SETMASK, 0);
    let _ = signal::signal(SIGCHLD, Handler::Default);
    if let Err(e) = process::setsid() {
        println!("init: setsid: {}", strerror(e));
        return 1;
    }
    let fd = match fs::open_fd(CONSOLE, fs::O_RDWR, 0) {
        Ok(fd) => fd,
        Err(e) => {
            println!("init: {CONSOLE}: {}", strerror(e));
            return 1;
        }
    };
    for target in 0..3 {
        if fd != target && ulib::fd::dup2(fd, target).is_err() {
            return 1;
        }
    }
    if fd > 2 {
        let _ = ulib::fd::close(fd);
    }
    if let Err(e) = ulib::term::tcsetpgrp(0, process::getpid()) {
        println!("init: tcsetpgrp on {CONSOLE}: {}", strerror(e));
    }
    let e = process::exec(SHELL, &["sh", "-i"], &ENV);
    println!("init: {SHELL}: {}", strerror(e));
    127
}

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
    let env = ENV;
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
    // Stay, reaping adopted orphans (and running the console shell):
    // SIGCHLD is blocked except inside sigsuspend, so one that ends between
    // the reaping and the wait is not missed.
    let mask = signal::sigprocmask(signal::SIG_BLOCK, signal::bit(SIGCHLD)).unwrap_or(0);
    let mut shell = None;
    if console_usable() {
        shell = launch_shell();
    }
    loop {
        while let Ok((p, st)) = process::waitpid(-1, process::WNOHANG) {
            if p <= 0 {
                break;
            }
            match shell {
                Some((pid, started)) if pid == p => {
                    println!("init: console shell {p} ended ({st}); starting another");
                    if ulib::time::uptime().saturating_sub(started) < QUICK_EXIT_TICKS {
                        let _ = ulib::time::sleep(2);
                    }
                    shell = launch_shell();
                }
                // Orphans of the shell's commands end here all the time;
                // only say so while no shell shares the console.
                Some(_) => {}
                None => reaped(p, st),
            }
        }
        signal::sigsuspend(mask & !signal::bit(SIGCHLD));
    }
}

/// Starts a console shell, remembering when.
fn launch_shell() -> Option<(Pid, u64)> {
    match start_console_shell() {
        Ok(pid) => {
            println!("init: console shell {pid} on {CONSOLE}");
            Some((pid, ulib::time::uptime()))
        }
        Err(e) => {
            println!("init: starting the console shell: {}", strerror(e));
            None
        }
    }
}
