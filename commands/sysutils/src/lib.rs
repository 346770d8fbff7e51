//! `sysutils`: the text and system utilities of `/bin` and `/sbin`, one
//! small program each (`src/bin/*.rs`) on the user runtime `ulib`, which
//! talks to VFS (files, devices), PM (process table, signals, reboot) and
//! the kernel (uptime, boot time). The pure parts are in `sysutils-core`
//! (re-exported here) and tested on the host; this library adds what
//! touches the system: reading inputs ([`Input`], [`feed`]), the block
//! device for `mkfs.mfs` / `fsck.mfs` ([`device::FileDevice`]) and
//! powering off ([`power_off`]).
//!
//! Errors go to standard error as `prog: what: reason`; exit codes are 0
//! (success), 1 (failure) and 2 (bad usage), except where POSIX says
//! otherwise (`grep`: 1 for no match, 2 for errors; `fsck.mfs`: 0/1/4/8;
//! `env`: 126/127).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod device;

pub use sysutils_core::{
    cksum, count_shorthand, date, disk, display_name, dump, inputs, proc, text,
};
use ulib::Errno;
use ulib::fs::File;

/// Where a utility reads from: a named file, or standard input for `-`.
#[derive(Debug)]
pub enum Input {
    /// An open file.
    File(File),
    /// Descriptor 0.
    Stdin,
}

impl Input {
    /// Opens `path` (`-` is standard input).
    pub fn open(path: &str) -> Result<Input, Errno> {
        if path == "-" {
            Ok(Input::Stdin)
        } else {
            File::open(path).map(Input::File)
        }
    }

    /// read(2), retried after a signal.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Errno> {
        loop {
            let r = match self {
                Input::File(f) => f.read(buf),
                Input::Stdin => ulib::fd::read(ulib::fd::STDIN, buf),
            };
            if r != Err(Errno::EINTR) {
                return r;
            }
        }
    }

    /// Calls `f` with each chunk until the end of the input.
    pub fn each_chunk(&mut self, mut f: impl FnMut(&[u8])) -> Result<(), Errno> {
        let mut buf = alloc::vec![0u8; 16 * 1024];
        loop {
            let n = self.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            f(&buf[..n]);
        }
    }
}

/// Opens and reads all of `path` chunk by chunk into `f`; on failure
/// prints `prog: path: reason` and returns false.
pub fn feed(prog: &str, path: &str, f: impl FnMut(&[u8])) -> bool {
    let r = Input::open(path).and_then(|mut i| i.each_chunk(f));
    match r {
        Ok(()) => true,
        Err(e) => {
            ulib::cli::report(prog, display_name(path), e);
            false
        }
    }
}

/// The directory `device` is mounted on, if `/etc/mtab` lists it
/// (`mkfs.mfs` and `fsck.mfs -r` refuse such a device).
pub fn mounted_on(device: &str) -> Option<alloc::string::String> {
    let mtab = ulib::fs::read_to_string("/etc/mtab").ok()?;
    sysutils_core::disk::mount_point(&mtab, device).map(alloc::string::String::from)
}

/// `halt` / `poweroff`: syncs, then asks PM to power off (PM syncs
/// through VFS once more and the kernel ends the run). Returns only on
/// failure (not root: `EPERM`), with the exit code.
pub fn power_off(prog: &str) -> i32 {
    if let Err(e) = ulib::fs::sync() {
        ulib::cli::report(prog, "sync", e);
    }
    match ulib::process::reboot(ulib::process::REBOOT_HALT) {
        // PM answered and is shutting the machine down: wait for it.
        Ok(()) => loop {
            let _ = ulib::time::sleep(1);
        },
        Err(e) => ulib::cli::fail(prog, "power off", e),
    }
}

/// `od` / `hexdump`: the inputs named by `operands` (standard input when
/// none) as one stream, `skip` bytes skipped and at most `limit` dumped
/// through `dump`; returns the exit code (1 if an input failed).
pub fn dump_inputs(
    prog: &str,
    operands: &[alloc::string::String],
    mut dump: dump::Dump,
    skip: u64,
    mut limit: u64,
) -> i32 {
    let mut to_skip = skip;
    let mut status = ulib::cli::EXIT_OK;
    for path in inputs(operands) {
        if limit == 0 {
            break;
        }
        let ok = feed(prog, &path, |mut d| {
            let s = (to_skip.min(d.len() as u64)) as usize;
            to_skip -= s as u64;
            d = &d[s..];
            let take = (limit.min(d.len() as u64)) as usize;
            limit -= take as u64;
            ulib::print!("{}", dump.push(&d[..take]));
        });
        if !ok {
            status = ulib::cli::EXIT_FAIL;
        }
    }
    ulib::print!("{}", dump.finish());
    ulib::io::flush();
    status
}
