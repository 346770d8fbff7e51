//! `/bin/procbench`: process benchmarks, each run for a fixed time
//! (`secs=N`, default 5) and reported per second with the ratio to Linux
//! 6.1 in the same QEMU under TCG (`../shared/reference/anchors.md`):
//!
//! - fork + exec + wait of `/bin/true` (Linux: 374 per second);
//! - fork + wait of a process with 16 MiB of touched heap, the child
//!   exiting at once (Linux: 1,188 per second).
//!
//! Then the parts of fork+exec+wait, each per second: fork + wait of this
//! small program (the child exits at once), and what exec does in the
//! program before it asks PM (open, close-on-exec, fstat, read of
//! `/bin/true`, close); the rest of the time is PM, VM and VFS building and
//! starting the new image, and its exit.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use ulib::errno::strerror;
use ulib::{println, process, time};

ulib::main!(main);

/// Linux 6.1 under TCG: fork+exec+wait per second.
const LINUX_FORK_EXEC: u64 = 374;
/// Linux 6.1 under TCG: fork+wait of a 16 MiB process per second.
const LINUX_FORK_16M: u64 = 1188;

/// Runs `one` until `secs` seconds have passed; (count, ticks).
fn timed(secs: u64, mut one: impl FnMut() -> Result<(), String>) -> Result<(u64, u64), String> {
    let start = time::uptime();
    let mut n = 0;
    loop {
        one()?;
        n += 1;
        let t = time::uptime() - start;
        if t >= secs * time::HZ {
            return Ok((n, t));
        }
    }
}

fn report(what: &str, n: u64, ticks: u64, linux: u64) {
    // Rates in hundredths, integer arithmetic.
    let rate100 = n * 100 * time::HZ / ticks.max(1);
    let ratio100 = rate100 * 100 / (linux * 100);
    println!(
        "procbench: {what}: {n} in {} ms = {}.{:02}/s (Linux 6.1 TCG {linux}/s, ratio {}.{:02})",
        ticks * 1000 / time::HZ,
        rate100 / 100,
        rate100 % 100,
        ratio100 / 100,
        ratio100 % 100
    );
}

fn wait_ok(pid: process::Pid) -> Result<(), String> {
    match process::waitpid(pid, 0) {
        Ok((_, st)) if st.success() => Ok(()),
        Ok((_, st)) => Err(alloc::format!("child {pid}: {st}")),
        Err(e) => Err(alloc::format!("waitpid: {}", strerror(e))),
    }
}

fn fork_exec() -> Result<(), String> {
    match process::fork() {
        Ok(0) => {
            let e = process::exec("/bin/true", &["/bin/true"], &[] as &[&str]);
            println!("procbench: exec /bin/true: {}", strerror(e));
            process::exit(127)
        }
        Ok(pid) => wait_ok(pid),
        Err(e) => Err(alloc::format!("fork: {}", strerror(e))),
    }
}

fn fork_only() -> Result<(), String> {
    match process::fork() {
        Ok(0) => rt::sys::exit(0),
        Ok(pid) => wait_ok(pid),
        Err(e) => Err(alloc::format!("fork: {}", strerror(e))),
    }
}

/// The user-space part of exec: open, FD_CLOEXEC, fstat, one read, close.
fn read_program() -> Result<(), String> {
    let mut f = ulib::fs::OpenOptions::new()
        .read(true)
        .cloexec(true)
        .open("/bin/true")
        .map_err(|e| alloc::format!("open: {}", strerror(e)))?;
    let len = f
        .metadata()
        .map_err(|e| alloc::format!("fstat: {}", strerror(e)))?
        .len();
    let mut image = vec![0u8; len as usize];
    f.read_full(&mut image)
        .map_err(|e| alloc::format!("read: {}", strerror(e)))?;
    f.close()
        .map_err(|e| alloc::format!("close: {}", strerror(e)))
}

fn report_part(what: &str, n: u64, ticks: u64) {
    let rate100 = n * 100 * time::HZ / ticks.max(1);
    let us = ticks * 1_000_000 / time::HZ / n.max(1);
    println!(
        "procbench: part: {what}: {}.{:02}/s ({us} us each)",
        rate100 / 100,
        rate100 % 100
    );
}

fn main(args: &[String]) -> i32 {
    let secs = args
        .iter()
        .find_map(|a| a.strip_prefix("secs=").and_then(|v| v.parse().ok()))
        .unwrap_or(5u64);
    // `only=exec` or `only=fork16`: just that benchmark (and no parts).
    let only = args.iter().find_map(|a| a.strip_prefix("only="));
    let run = |name: &str| only.is_none_or(|o| o == name);
    if run("exec") {
        match timed(secs, fork_exec) {
            Ok((n, t)) => report("fork+exec+wait of /bin/true", n, t, LINUX_FORK_EXEC),
            Err(m) => {
                println!("procbench: fork+exec+wait FAILED: {m}");
                return 1;
            }
        }
    }
    if only.is_none() {
        match timed(secs, fork_only) {
            Ok((n, t)) => report_part("fork+wait of this small program", n, t),
            Err(m) => {
                println!("procbench: fork+wait FAILED: {m}");
                return 1;
            }
        }
        match timed(secs, read_program) {
            Ok((n, t)) => report_part("exec's reading of /bin/true in the program", n, t),
            Err(m) => {
                println!("procbench: reading /bin/true FAILED: {m}");
                return 1;
            }
        }
    }
    if run("fork16") {
        let mut heap = vec![0u8; 16 << 20];
        for page in heap.chunks_mut(4096) {
            page[0] = 1;
        }
        let r = timed(secs, fork_only);
        core::hint::black_box(&heap);
        match r {
            Ok((n, t)) => report("fork+wait of a 16 MiB process", n, t, LINUX_FORK_16M),
            Err(m) => {
                println!("procbench: fork+wait FAILED: {m}");
                return 1;
            }
        }
    }
    println!("procbench: done");
    0
}
