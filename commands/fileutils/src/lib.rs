//! The code the file utilities share: error bookkeeping ([`Tool`]),
//! copying and removing trees (`cp`, `mv`, `rm`), writing raw bytes to
//! standard output, and starting / stopping a file server through RS
//! (`mount`, `umount`). The pure parts (modes, operands, paths, mtab) are
//! in `fileutils-core`, re-exported here.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
pub use fileutils_core::{chmod, columns, dd, mode, mtab, owner, paths, size};
use ulib::cli;
use ulib::fs::{self, File, Metadata, OpenOptions};
use ulib::{Errno, Result};

/// A running utility: its name for messages and its exit code so far.
#[derive(Debug)]
pub struct Tool {
    /// The program name.
    pub prog: String,
    /// The exit code: [`cli::EXIT_OK`] until something fails.
    pub status: i32,
}

impl Tool {
    /// A tool named after `args[0]` (or `default`).
    pub fn new(args: &[String], default: &str) -> Tool {
        Tool {
            prog: String::from(cli::prog_name(args, default)),
            status: cli::EXIT_OK,
        }
    }

    /// Reports `prog: what: strerror(e)` and remembers the failure.
    pub fn fail(&mut self, what: &str, e: Errno) {
        cli::report(&self.prog, what, e);
        self.status = cli::EXIT_FAIL;
    }

    /// Reports `prog: msg` and remembers the failure.
    pub fn error(&mut self, msg: &str) {
        cli::error(&self.prog, msg);
        self.status = cli::EXIT_FAIL;
    }

    /// Parses the command line; on a bad one prints the error and usage
    /// and returns the usage exit code.
    pub fn options(
        &self,
        args: &[String],
        spec: &str,
        synopsis: &str,
    ) -> core::result::Result<cli::Opts, i32> {
        cli::Opts::parse(args, spec).map_err(|e| cli::usage_error(&self.prog, &e, synopsis))
    }
}

/// Writes raw bytes to standard output (the kernel console when
/// descriptor 1 is not open).
pub fn write_out(data: &[u8]) {
    ulib::io::stdout().write_all(data);
}

/// Which side of a copy failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Reading the source.
    Read,
    /// Writing the destination.
    Write,
}

/// Copies everything `from` still holds to `to`, in 32 KiB pieces.
pub fn copy_data(from: &mut File, to: &mut File) -> core::result::Result<u64, (Side, Errno)> {
    let mut buf = alloc::vec![0u8; 32 * 1024];
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf).map_err(|e| (Side::Read, e))?;
        if n == 0 {
            return Ok(total);
        }
        to.write_all(&buf[..n]).map_err(|e| (Side::Write, e))?;
        total += n as u64;
    }
}

/// How [`copy`] works.
#[derive(Clone, Copy, Debug, Default)]
pub struct CopyOpts {
    /// Copy directories with their contents; symbolic links are copied as
    /// links, special files made anew.
    pub recursive: bool,
    /// Keep owner, group and times (and set-uid/set-gid bits).
    pub preserve: bool,
}

/// Sets owner and times of `dst` as `m` has them (`cp -p`, `mv`).
fn preserve(tool: &mut Tool, dst: &str, m: &Metadata) {
    if let Err(e) = fs::chown(dst, m.uid(), m.gid()) {
        tool.fail(dst, e);
    }
    // Owner changes clear set-uid/set-gid bits: set the mode again.
    if !m.is_symlink() {
        let _ = fs::chmod(dst, m.permissions());
        if let Err(e) = fs::utimes(dst, m.0.atime, m.0.mtime) {
            tool.fail(dst, e);
        }
    }
}

/// Copies `src` to `dst` (the final name, not a directory to copy into);
/// errors are reported through `tool`. Returns whether all went well.
pub fn copy(tool: &mut Tool, src: &str, dst: &str, o: CopyOpts) -> bool {
    let before = tool.status;
    copy_inner(tool, src, dst, o);
    tool.status == before
}

fn copy_inner(tool: &mut Tool, src: &str, dst: &str, o: CopyOpts) {
    let m = match if o.recursive {
        fs::lstat(src)
    } else {
        fs::stat(src)
    } {
        Ok(m) => m,
        Err(e) => return tool.fail(src, e),
    };
    let perm = m.permissions() & if o.preserve { 0o7777 } else { 0o1777 };
    if m.is_dir() {
        if !o.recursive {
            return tool.error(&alloc::format!("{src}: is a directory (not copied)"));
        }
        match fs::stat(dst) {
            Ok(d) if d.is_dir() => {}
            Ok(_) => return tool.fail(dst, Errno::ENOTDIR),
            // Writable by us while it fills; the mode is set at the end.
            Err(Errno::ENOENT) => {
                if let Err(e) = fs::mkdir(dst, perm | 0o700) {
                    return tool.fail(dst, e);
                }
            }
            Err(e) => return tool.fail(dst, e),
        }
        let mut names: Vec<String> = match fs::read_dir(src) {
            Ok(v) => v
                .into_iter()
                .map(|e| e.name)
                .filter(|n| !paths::is_dot(n))
                .collect(),
            Err(e) => return tool.fail(src, e),
        };
        names.sort();
        for n in names {
            copy_inner(tool, &paths::join(src, &n), &paths::join(dst, &n), o);
        }
        if let Err(e) = fs::chmod(dst, perm) {
            tool.fail(dst, e);
        }
    } else if m.is_symlink() {
        let target = match fs::readlink(src) {
            Ok(t) => t,
            Err(e) => return tool.fail(src, e),
        };
        if fs::lstat(dst).is_ok() {
            let _ = fs::unlink(dst);
        }
        if let Err(e) = fs::symlink(&target, dst) {
            return tool.fail(dst, e);
        }
    } else if m.is_file() || !o.recursive {
        let mut from = match File::open(src) {
            Ok(f) => f,
            Err(e) => return tool.fail(src, e),
        };
        let mut to = match OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(perm)
            .open(dst)
        {
            Ok(f) => f,
            Err(e) => return tool.fail(dst, e),
        };
        match copy_data(&mut from, &mut to) {
            Ok(_) => {}
            Err((Side::Read, e)) => return tool.fail(src, e),
            Err((Side::Write, e)) => return tool.fail(dst, e),
        }
        if let Err(e) = to.close() {
            return tool.fail(dst, e);
        }
    } else {
        // A device or a pipe: made anew.
        if let Err(e) = fs::mknod(dst, m.mode(), m.0.rdev) {
            return tool.fail(dst, e);
        }
    }
    if o.preserve {
        preserve(tool, dst, &m);
    }
}

/// Removes `path`, with everything below it when it is a directory
/// (`rm -r`); with `force` a missing path is no error. Errors are
/// reported through `tool`; returns whether all went well.
pub fn remove_tree(tool: &mut Tool, path: &str, force: bool) -> bool {
    let before = tool.status;
    remove_inner(tool, path, force);
    tool.status == before
}

fn remove_inner(tool: &mut Tool, path: &str, force: bool) {
    let m = match fs::lstat(path) {
        Ok(m) => m,
        Err(Errno::ENOENT) if force => return,
        Err(e) => return tool.fail(path, e),
    };
    if !m.is_dir() {
        if let Err(e) = fs::unlink(path) {
            tool.fail(path, e);
        }
        return;
    }
    match fs::read_dir(path) {
        Ok(entries) => {
            for e in entries {
                if !paths::is_dot(&e.name) {
                    remove_inner(tool, &paths::join(path, &e.name), force);
                }
            }
        }
        Err(e) => return tool.fail(path, e),
    }
    if let Err(e) = fs::rmdir(path) {
        tool.fail(path, e);
    }
}

/// Whether `path` names a directory (following links).
pub fn is_dir(path: &str) -> bool {
    fs::stat(path).is_ok_and(|m| m.is_dir())
}

/// `path` absolute and normalised against the working directory.
pub fn absolute(path: &str) -> String {
    paths::normalize(&fs::getcwd(), path)
}

/// The process's file-creation mask (read by setting it and back).
pub fn current_umask() -> u16 {
    match fs::umask(0o022) {
        Ok(m) => {
            let _ = fs::umask(m);
            m
        }
        Err(_) => 0o022,
    }
}

/// Talking to RS for `mount` / `umount` (through `ulib::service`): start
/// an MFS instance for a disk, stop it again.
pub mod rs {
    use super::*;
    use sys::proto::service::{Policy, RunState, ServiceRequest};

    /// The ping period RS uses for file servers (5 s, as the boot table's
    /// `mfs`).
    const FS_PING_TICKS: u32 = 5 * ulib::time::HZ as u32;

    /// Whether RS runs a service labelled `label` (the process itself is
    /// named after its program, so the kernel's name look-up cannot
    /// tell).
    pub fn running(label: &str) -> Result<bool> {
        match ulib::service::request(ServiceRequest::Status {
            id: 0,
            label: label.into(),
        }) {
            Ok(s) => Ok(s.state == RunState::Running),
            Err(Errno::ESRCH) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Has RS start the file-server program `program` (`mfs`, `isofs`) as
    /// `label` (stateful restarts, as the root's `mfs`); RS answers once
    /// the new instance has initialised.
    pub fn start_fs(program: &str, label: &str) -> Result<()> {
        match ulib::service::request(ServiceRequest::Up {
            id: 0,
            label: label.into(),
            program: program.into(),
            policy: Policy::Stateful,
            period: FS_PING_TICKS,
            flags: 0,
        }) {
            // Started meanwhile by someone else.
            Ok(_) | Err(Errno::EBUSY) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Has RS stop service `label`.
    pub fn stop(label: &str) -> Result<()> {
        ulib::service::request(ServiceRequest::Down {
            id: 0,
            label: label.into(),
        })
        .map(drop)
    }
}

/// Calls `f` with the path of every entry of directory `path` but `.` and
/// `..` (`chmod -R`, `chown -R`); a directory that cannot be read is
/// reported through `tool`.
pub fn for_each_child(tool: &mut Tool, path: &str, mut f: impl FnMut(&mut Tool, &str)) {
    match fs::read_dir(path) {
        Ok(v) => {
            for e in v.iter().filter(|e| !paths::is_dot(&e.name)) {
                f(tool, &paths::join(path, &e.name));
            }
        }
        Err(e) => tool.fail(path, e),
    }
}
