//! `/bin/pmcheck [N] [halt]`: PM keeps its process table across N
//! restarts (see the crate README). Run from `/etc/rc` with the boot
//! module `pmcrash`; `halt` ends the run with this program's verdict.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use ulib::errno::strerror;
use ulib::fs;
use ulib::process::{self, Pid};
use ulib::signal::{self, Handler, SIGUSR1};
use ulib::{Errno, println, time};

ulib::main!(main);

/// Exit code of the child when SIGUSR1 reaches its (inherited) handler.
const CHILD_CODE: i32 = 42;
/// Polls of the done file (20 ms apart) before giving up.
const POLLS: u32 = 3000;

fn on_usr1(_: u32) {
    process::exit(CHILD_CODE)
}

fn e(what: &str, err: Errno) -> String {
    format!("{what}: {}", strerror(err))
}

fn main(args: &[String]) -> i32 {
    let crashes: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let halt = args.iter().any(|a| a == "halt");
    let ok = match run(crashes) {
        Ok(()) => {
            println!("pmcheck: ok");
            true
        }
        Err(why) => {
            println!("pmcheck: FAILED: {why}");
            false
        }
    };
    if halt {
        // The verdict is this program's: init's own calls may have been
        // cut off by the crashes.
        let how = if ok {
            process::REBOOT_HALT
        } else {
            process::REBOOT_FAIL
        };
        if let Err(err) = retry(|| process::reboot(how)) {
            println!("pmcheck: reboot: {}", strerror(err));
        }
    }
    if ok { 0 } else { 1 }
}

/// Asks PM again while it restarts (a call cut off by the crash fails
/// with the dead-peer error).
fn retry<T>(mut f: impl FnMut() -> Result<T, Errno>) -> Result<T, Errno> {
    let mut n = 0;
    loop {
        match f() {
            Err(Errno::EDEADSRCDST(_)) if n < 100 => {
                n += 1;
                let _ = time::sleep_ms(20);
            }
            r => return r,
        }
    }
}

fn run(crashes: u32) -> Result<(), String> {
    let (me, parent) = process::getpids().map_err(|err| e("getpid", err))?;
    signal::signal(SIGUSR1, Handler::Catch(on_usr1)).map_err(|err| e("sigaction", err))?;
    let child: Pid = match process::fork().map_err(|err| e("fork", err))? {
        0 => loop {
            signal::pause();
        },
        pid => pid,
    };
    process::alarm(1000).map_err(|err| e("alarm", err))?;
    for i in 1..=crashes {
        let go = format!("/tmp/pmcrash.go.{i}");
        let done = format!("/tmp/pmcrash.done.{i}");
        fs::File::create(&go).map_err(|err| e("create the go file", err))?;
        let mut polls = 0;
        while !fs::exists(&done) {
            polls += 1;
            if polls > POLLS {
                return Err(format!("no {done}: is the boot module pmcrash there?"));
            }
            let _ = time::sleep_ms(20);
        }
        // PM restarted: it must still know this process as it was.
        let ids = retry(process::getpids).map_err(|err| e("getpid after the restart", err))?;
        if ids != (me, parent) {
            return Err(format!(
                "pid/parent {ids:?} after restart {i}, was ({me}, {parent})"
            ));
        }
        let left = retry(|| process::alarm(1000)).map_err(|err| e("alarm after", err))?;
        if left == 0 || left > 1000 {
            return Err(format!("alarm after restart {i}: {left} s left"));
        }
        let table = retry(process::ps).map_err(|err| e("ps after", err))?;
        if !table.iter().any(|p| p.pid == child && p.ppid == me) {
            return Err(format!(
                "child {child} not listed as ours after restart {i}"
            ));
        }
        println!(
            "pmcheck: restart {i}: pid {me}, parent {parent}, alarm ({left} s left) and child {child} kept"
        );
    }
    retry(|| process::kill(child, SIGUSR1)).map_err(|err| e("kill the child", err))?;
    let st = loop {
        match retry(|| process::waitpid(child, 0)) {
            Ok((_, st)) => break st,
            Err(Errno::EINTR) => {}
            Err(err) => return Err(e("waitpid", err)),
        }
    };
    if st.code() != Some(CHILD_CODE) {
        return Err(format!("child: {st}, expected exit {CHILD_CODE}"));
    }
    let _ = process::alarm(0);
    println!("pmcheck: the child's handler ran (exit {CHILD_CODE}) and its status came back");
    Ok(())
}
