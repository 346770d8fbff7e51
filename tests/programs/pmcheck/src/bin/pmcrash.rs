//! `pmcrash [crashes=N]`: boot module beside `/bin/pmcheck` (see the crate
//! README): for each i, waits for `/tmp/pmcrash.go.<i>`, asks RS to crash
//! PM (`service fi pm`), waits until RS runs it again, then creates
//! `/tmp/pmcrash.done.<i>`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use native::NativeSys;
use sys::proto::service::{RunState, ServiceReply, ServiceRequest, ServiceStatus};
use sys::proto::vfs::oflag;
use sys::{Endpoint, Errno, Sys};
use vfs::client::Client;

rt::entry!(main);

/// Ticks to wait for each step before giving up.
const WAIT_TICKS: u64 = 60 * 100;

fn rs_call(sys: &mut NativeSys, req: ServiceRequest) -> Result<ServiceStatus, Errno> {
    let reply = sys.sendrec(Endpoint::RS, req.to_message()?)?;
    ServiceReply::try_from(&reply)?.result
}

fn pm_status(sys: &mut NativeSys) -> Result<ServiceStatus, Errno> {
    rs_call(
        sys,
        ServiceRequest::Status {
            id: 1,
            label: "pm".into(),
        },
    )
}

fn arg(args: &str, key: &str, default: u32) -> u32 {
    args.split_ascii_whitespace()
        .filter_map(|w| w.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(default)
}

fn crash_once(sys: &mut NativeSys, c: &mut Client, i: u32) -> Result<(), &'static str> {
    let go = format!("/tmp/pmcrash.go.{i}");
    let mut waited = 0;
    while c.stat(sys, &go).is_err() {
        waited += 1;
        if waited > WAIT_TICKS {
            return Err("pmcheck never got ready");
        }
        sys.sleep(1);
    }
    let before = pm_status(sys).map_err(|_| "status of pm")?.restarts;
    let fi = ServiceRequest::Fi {
        id: u64::from(i) + 1,
        label: "pm".into(),
    };
    rs_call(sys, fi).map_err(|_| "service fi pm")?;
    let mut waited = 0;
    loop {
        match pm_status(sys) {
            Ok(st) if st.state == RunState::Running && st.restarts > before => break,
            _ if waited > WAIT_TICKS => return Err("PM did not come back"),
            _ => {}
        }
        sys.sleep(1);
        waited += 1;
    }
    rt::println!("pmcrash: PM crashed and restarted ({i})");
    let done = format!("/tmp/pmcrash.done.{i}");
    let fd = c
        .open(sys, &done, oflag::O_CREAT | oflag::O_WRONLY, 0o644)
        .map_err(|_| "create the done file")?;
    let _ = c.close(sys, fd);
    Ok(())
}

fn main(args: &str) -> i32 {
    let crashes = arg(args, "crashes", 1);
    let mut sys = NativeSys::new();
    let Some(vfs) = sys.wait_for_label("vfs", WAIT_TICKS) else {
        rt::println!("pmcrash: FAILED: no VFS");
        return 1;
    };
    let mut c = Client::new(vfs);
    for i in 1..=crashes {
        if let Err(why) = crash_once(&mut sys, &mut c, i) {
            rt::println!("pmcrash: FAILED: {why}");
            return 1;
        }
    }
    0
}
