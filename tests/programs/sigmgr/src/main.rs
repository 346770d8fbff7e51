//! `sigmgr NAME`: a minimal signal manager (what RS will do). Becomes the
//! signal manager of the process `NAME`, waits for the kernel's fault
//! notification, starts a fresh instance from the boot module `NAME`, and
//! lets it take over the old endpoint (`update`), so clients that kept the
//! endpoint reach the new instance. Exits 0 after one restart.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use rt::abi::{NOTIFY_MTYPE, SYSTEM_ENDPOINT};
use rt::{ipc, sys};

rt::entry!(main);

fn main(args: &str) -> i32 {
    let Some(name) = args.split_ascii_whitespace().next() else {
        rt::println!("usage: sigmgr NAME");
        return 2;
    };
    let (Ok(target), Ok(me)) = (ipc::whois(name), ipc::whois("sigmgr")) else {
        rt::println!("cannot find {name} or myself");
        return 1;
    };
    if let Err(e) = sys::set_sigmgr(target, me) {
        rt::println!("set_sigmgr failed: {e:?}");
        return 1;
    }
    rt::println!("managing {name} ({target:#x})");
    loop {
        match ipc::receive(ipc::ANY) {
            Ok(m) if ipc::mtype(&m) == NOTIFY_MTYPE && ipc::source(&m) == SYSTEM_ENDPOINT => break,
            Ok(m) => rt::println!("ignoring message {:#x}", ipc::mtype(&m)),
            Err(e) => {
                rt::println!("receive failed: {e:?}");
                return 1;
            }
        }
    }
    rt::println!("{name} faulted; restarting it");
    // Stopped until the update: a new instance that ran first could block
    // in receive and could then not take over the old endpoint.
    let new = match sys::spawn_stopped(name, "") {
        Ok(ep) => ep,
        Err(e) => {
            rt::println!("spawn failed: {e:?}");
            return 1;
        }
    };
    match sys::update(target, new) {
        Ok(()) => {
            rt::println!("new {name} took over {target:#x}");
            0
        }
        Err(e) => {
            rt::println!("update failed: {e:?}");
            1
        }
    }
}
