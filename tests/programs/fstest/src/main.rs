//! `fstest`: file-system tests run inside the OS through VFS (the
//! `vfs::client` library over `native::NativeSys`), each mode the native
//! counterpart of a simulator test in `vfs/tests/`. A boot program: it
//! waits for VFS (label `vfs` in DS), runs the mode its first argument
//! names, prints what it saw, and shuts the machine down with a pass only
//! if every check held (the `selwriter` helper just exits).
//!
//! Modes:
//! - `test85 seed=N MINOR:SIZE...`: MINIX test85 on `/dev/c0dMINOR`, a
//!   disk of SIZE bytes (see [`t85`]).
//! - `select [fifo]`: t40f-style select timeouts on pipes and on
//!   `/dev/zero` and `/dev/null`; with `fifo`, readiness after another
//!   process's write (a second instance started as `fstest selwriter`).
//! - `selwriter`: that second instance.
//! - `nomount`: the root could not be mounted (bad disk): VFS answers with
//!   the mount error, the memory driver and RS keep working.
//! - `ramroot KIB`: the root is the RAM disk of KIB KiB: ls, read, write.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod nomount;
mod ramroot;
mod select;
mod t85;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use native::NativeSys;
use sys::proto::vfs::oflag::{O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY};
use sys::{Endpoint, Errno};
use vfs::client::Client;

rt::entry!(main);

/// A check's outcome: the reason on failure.
pub type Check = Result<(), String>;

/// `what: errno` as a failure reason.
pub fn err(what: &str, e: Errno) -> String {
    format!("{what}: {e}")
}

/// Fails with `msg` unless `cond`.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Check {
    if cond { Ok(()) } else { Err(msg()) }
}

/// Polls DS for `label` (RS publishes it once the service is up).
pub fn find(sys: &mut NativeSys, label: &str) -> Option<Endpoint> {
    for _ in 0..2000 {
        if let Ok(ep) = sys::ds::retrieve_label(sys, label) {
            return Some(ep);
        }
        sys.sleep(1);
    }
    None
}

/// Clock ticks since boot.
pub fn now() -> u64 {
    rt::sys::uptime()
}

/// The whole contents of a file.
pub fn read_all(sys: &mut NativeSys, c: &mut Client, path: &str) -> Result<Vec<u8>, String> {
    let fd = c.open(sys, path, O_RDONLY, 0).map_err(|e| err(path, e))?;
    let mut data = Vec::new();
    loop {
        let chunk = c.read(sys, fd, 65536).map_err(|e| err("read", e))?;
        if chunk.is_empty() {
            break;
        }
        data.extend_from_slice(&chunk);
    }
    c.close(sys, fd).map_err(|e| err("close", e))?;
    Ok(data)
}

/// Creates or truncates `path` and writes `data` to it.
pub fn write_file(sys: &mut NativeSys, c: &mut Client, path: &str, data: &[u8]) -> Check {
    let fd = c
        .open(sys, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        .map_err(|e| err(path, e))?;
    // In pieces: VFS takes at most `vfs::MAX_IO` bytes per call (EINVAL above).
    for piece in data.chunks(256 * 1024) {
        let n = c.write(sys, fd, piece).map_err(|e| err("write", e))?;
        ensure(n == piece.len(), || {
            format!("short write {n} of {}", piece.len())
        })?;
    }
    c.fsync(sys, fd).map_err(|e| err("fsync", e))?;
    c.close(sys, fd).map_err(|e| err("close", e))
}

/// Syncs and unmounts `/` (the disk is clean for the host's checks).
pub fn unmount_root(sys: &mut NativeSys, c: &mut Client) -> Check {
    c.sync(sys).map_err(|e| err("sync", e))?;
    c.umount(sys, "/").map_err(|e| err("umount /", e))?;
    rt::println!("synced and unmounted /");
    Ok(())
}

fn main(args: &str) -> i32 {
    let mut words = args.split_ascii_whitespace();
    let mode = words.next().unwrap_or("");
    let rest: Vec<&str> = words.collect();
    let mut sys = NativeSys::new();
    let Some(vfs) = find(&mut sys, "vfs") else {
        rt::println!("FAIL: VFS never came up");
        rt::sys::shutdown(1);
    };
    rt::println!("{mode}: VFS is at {vfs}");
    let mut c = Client::new(vfs);
    let r = match mode {
        "test85" => t85::run(&mut sys, &mut c, &rest),
        "select" => select::run(&mut sys, &mut c, &rest),
        "selwriter" => {
            return match select::writer(&mut sys, &mut c) {
                Ok(()) => {
                    rt::println!("selwriter: done");
                    0
                }
                Err(e) => {
                    rt::println!("FAIL: selwriter: {e}");
                    rt::sys::shutdown(1)
                }
            };
        }
        "nomount" => nomount::run(&mut sys, &mut c),
        "ramroot" => ramroot::run(&mut sys, &mut c, &rest),
        other => Err(format!("unknown mode '{other}'")),
    };
    match r {
        Ok(()) => {
            rt::println!("PASS: {mode}");
            rt::sys::shutdown(0)
        }
        Err(e) => {
            rt::println!("FAIL: {mode}: {e}");
            rt::sys::shutdown(1)
        }
    }
}
