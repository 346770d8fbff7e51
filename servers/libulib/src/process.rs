//! Processes, through PM: fork, exec (done here, in user space: the
//! program file is read through VFS and handed to VM with the exec block),
//! exit, wait, ids, sessions and groups, kill, alarm, times, the process
//! table, reboot, and spawn helpers.

use crate::errno::{Errno, Result};
use crate::fd;
use crate::fs::{File, O_CLOEXEC, O_RDONLY};
use crate::ipc::{self, Grant, Server};
use crate::mem::AnonMap;
use alloc::string::String;
use alloc::vec::Vec;
use sys::proto::pm::{self, PmCall, PmReply};

pub use sys::proto::pm::{REBOOT_FAIL, REBOOT_HALT, WNOHANG, WUNTRACED, state};

/// A process id.
pub type Pid = i32;

/// Sends `call` (id `id`) to PM: the reply's value and extra numbers.
pub(crate) fn pm_call(id: u64, call: PmCall) -> Result<(i64, [i64; 4])> {
    let m = ipc::call(Server::Pm, &call.to_message())?;
    let r = PmReply::try_from(&m)?;
    if r.id != id {
        return Err(Errno::EBADCALL);
    }
    r.result.map(|v| (v, r.extra))
}

fn pm_value(call: impl FnOnce(u64) -> PmCall) -> Result<i64> {
    let id = ipc::next_id();
    pm_call(id, call(id)).map(|(v, _)| v)
}

/// fork(2): `Ok(0)` in the child, the child's pid in the parent. Buffered
/// output is written out first, so it is not printed twice.
pub fn fork() -> Result<Pid> {
    crate::io::flush();
    pm_value(|id| PmCall::Fork { id }).map(|v| v as Pid)
}

/// Ends the program with `code` after writing out buffered output.
pub fn exit(code: i32) -> ! {
    crate::io::flush();
    rt::sys::exit(code)
}

/// A wait status (POSIX encoding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(pub i32);

impl Status {
    /// The child exited normally.
    pub fn exited(self) -> bool {
        pm::wifexited(self.0)
    }
    /// Its exit code, if it exited.
    pub fn code(self) -> Option<i32> {
        self.exited().then(|| pm::wexitstatus(self.0))
    }
    /// The child was terminated by a signal.
    pub fn signaled(self) -> bool {
        pm::wifsignaled(self.0)
    }
    /// The signal that terminated it.
    pub fn signal(self) -> Option<u32> {
        self.signaled().then(|| pm::wtermsig(self.0))
    }
    /// The child is stopped.
    pub fn stopped(self) -> bool {
        pm::wifstopped(self.0)
    }
    /// Exited with code 0.
    pub fn success(self) -> bool {
        self.code() == Some(0)
    }
}

impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if let Some(c) = self.code() {
            write!(f, "exit {c}")
        } else if let Some(s) = self.signal() {
            write!(f, "killed by {}", pm::sig::name(s))
        } else if self.stopped() {
            write!(f, "stopped by {}", pm::sig::name(pm::wstopsig(self.0)))
        } else {
            write!(f, "status {:#x}", self.0)
        }
    }
}

/// waitpid(2): `pid` > 0 that child, -1 any, 0 the caller's group, < -1
/// group `-pid`. Returns `(pid, status)`; with [`WNOHANG`] `(0, _)` when
/// no child has changed state. `ECHILD` without children, `EINTR` when a
/// signal handler ran.
pub fn waitpid(pid: Pid, options: u32) -> Result<(Pid, Status)> {
    let id = ipc::next_id();
    let (v, extra) = pm_call(id, PmCall::Wait { id, pid, options })?;
    Ok((v as Pid, Status(extra[0] as i32)))
}

/// wait(2): any child.
pub fn wait() -> Result<(Pid, Status)> {
    waitpid(-1, 0)
}

/// (pid, parent's pid).
pub fn getpids() -> Result<(Pid, Pid)> {
    let id = ipc::next_id();
    let (v, extra) = pm_call(id, PmCall::Getpid { id })?;
    Ok((v as Pid, extra[0] as Pid))
}

/// getpid(2).
pub fn getpid() -> Pid {
    getpids().map_or(-1, |p| p.0)
}

/// getppid(2).
pub fn getppid() -> Pid {
    getpids().map_or(-1, |p| p.1)
}

/// User and group ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    /// Real user id.
    pub uid: u32,
    /// Effective user id.
    pub euid: u32,
    /// Real group id.
    pub gid: u32,
    /// Effective group id.
    pub egid: u32,
}

/// getuid/geteuid/getgid/getegid in one call.
pub fn ids() -> Result<Ids> {
    let id = ipc::next_id();
    let (v, e) = pm_call(id, PmCall::GetIds { id })?;
    Ok(Ids {
        uid: v as u32,
        euid: e[0] as u32,
        gid: e[1] as u32,
        egid: e[2] as u32,
    })
}

/// setuid(2).
pub fn setuid(uid: u32) -> Result<()> {
    pm_value(|id| PmCall::Setuid { id, uid }).map(drop)
}

/// setgid(2).
pub fn setgid(gid: u32) -> Result<()> {
    pm_value(|id| PmCall::Setgid { id, gid }).map(drop)
}

/// seteuid(2).
pub fn seteuid(uid: u32) -> Result<()> {
    pm_value(|id| PmCall::Seteuid { id, uid }).map(drop)
}

/// setegid(2).
pub fn setegid(gid: u32) -> Result<()> {
    pm_value(|id| PmCall::Setegid { id, gid }).map(drop)
}

/// setsid(2): the new session id.
pub fn setsid() -> Result<Pid> {
    pm_value(|id| PmCall::Setsid { id }).map(|v| v as Pid)
}

/// getpgrp(2).
pub fn getpgrp() -> Result<Pid> {
    pm_value(|id| PmCall::Getpgrp { id }).map(|v| v as Pid)
}

/// setpgid(2).
pub fn setpgid(pid: Pid, pgid: Pid) -> Result<()> {
    pm_value(|id| PmCall::Setpgid { id, pid, pgid }).map(drop)
}

/// kill(2).
pub fn kill(pid: Pid, sig: u32) -> Result<()> {
    pm_value(|id| PmCall::Kill { id, pid, sig }).map(drop)
}

/// alarm(2): SIGALRM in `seconds` (0 cancels); the seconds left of the
/// previous alarm.
pub fn alarm(seconds: u32) -> Result<u32> {
    pm_value(|id| PmCall::Alarm { id, seconds }).map(|v| v as u32)
}

/// Process times in clock ticks ([`crate::time::HZ`] per second).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Times {
    /// User time.
    pub user: u64,
    /// System time.
    pub system: u64,
    /// Waited-for children's user time.
    pub children_user: u64,
    /// Waited-for children's system time.
    pub children_system: u64,
    /// Ticks since boot.
    pub uptime: u64,
}

/// times(2).
pub fn times() -> Result<Times> {
    let id = ipc::next_id();
    let (v, e) = pm_call(id, PmCall::Times { id })?;
    Ok(Times {
        user: v as u64,
        system: e[0] as u64,
        children_user: e[1] as u64,
        children_system: e[2] as u64,
        uptime: e[3] as u64,
    })
}

/// One process of the table (for `ps`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcInfo {
    /// Process id.
    pub pid: Pid,
    /// Parent.
    pub ppid: Pid,
    /// Process group.
    pub pgrp: Pid,
    /// Real user id.
    pub uid: u32,
    /// Effective user id.
    pub euid: u32,
    /// `sys::proto::pm::state` value.
    pub state: u32,
    /// User ticks.
    pub user_ticks: u64,
    /// System ticks.
    pub sys_ticks: u64,
    /// Program name.
    pub name: String,
}

/// The process table.
pub fn ps() -> Result<Vec<ProcInfo>> {
    use zerocopy::FromBytes;
    let mut out = Vec::new();
    let mut index = 0u32;
    let mut buf = alloc::vec![0u8; pm::PROC_RECORD_LEN * 32];
    loop {
        let (n, next) = {
            let g = Grant::write(Server::Pm, &mut buf)?;
            let id = ipc::next_id();
            let (n, e) = pm_call(
                id,
                PmCall::ProcList {
                    id,
                    buf: g.buf()?,
                    index,
                },
            )?;
            (n.max(0) as usize, e[0])
        };
        for rec in buf.chunks_exact(pm::PROC_RECORD_LEN).take(n) {
            let Ok(r) = pm::ProcRecord::read_from_bytes(rec) else {
                continue;
            };
            let end = r.name.iter().position(|&b| b == 0).unwrap_or(r.name.len());
            out.push(ProcInfo {
                pid: r.pid.get(),
                ppid: r.ppid.get(),
                pgrp: r.pgrp.get(),
                uid: r.uid.get(),
                euid: r.euid.get(),
                state: r.state.get(),
                user_ticks: r.user_ticks.get(),
                sys_ticks: r.sys_ticks.get(),
                name: String::from_utf8_lossy(&r.name[..end]).into_owned(),
            });
        }
        if next < 0 || n == 0 {
            return Ok(out);
        }
        index = u32::try_from(next).map_err(|_| Errno::EBADCALL)?;
    }
}

/// reboot(2): ends the run ([`REBOOT_HALT`]: pass, [`REBOOT_FAIL`]:
/// fail). Root only. Buffered output is written out first.
pub fn reboot(how: u32) -> Result<()> {
    crate::io::flush();
    pm_value(|id| PmCall::Reboot { id, how }).map(drop)
}

/// execve(2), in user space: opens `path` through VFS, reads it whole,
/// builds the exec block from `argv` and `envp` (`K=V` strings), grants
/// both to VM read-only and asks PM to replace this program. Returns only
/// on failure (`ENOENT`, `EACCES`, `ENOEXEC`, `ENOMEM`, `E2BIG`...), with
/// the caller intact. `PWD` is added to the environment when missing.
/// A file starting with `#!` is a script: its interpreter is exec'd with
/// `[interpreter, optional argument, path, argv[1..]...]` (up to 4 levels
/// of scripts naming scripts, `ELOOP` beyond; see [`parse_shebang`]).
pub fn exec<A: AsRef<str>, E: AsRef<str>>(path: &str, argv: &[A], envp: &[E]) -> Errno {
    match try_exec(path, argv, envp) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

/// [`exec`] with this program's environment ([`crate::env::envp`]).
pub fn exec_env<A: AsRef<str>>(path: &str, argv: &[A]) -> Errno {
    exec(path, argv, &crate::env::envp())
}

/// execvp(3): [`exec`] of `name` found through the `PATH` in `envp`
/// (else this program's, else `/bin:/sbin`) when it has no `/`. Returns
/// the error of the last try (`ENOENT` unless a candidate existed).
pub fn execvp<A: AsRef<str>, E: AsRef<str>>(name: &str, argv: &[A], envp: &[E]) -> Errno {
    let path_var = envp
        .iter()
        .find_map(|e| e.as_ref().strip_prefix("PATH=").map(String::from))
        .or_else(|| crate::env::var("PATH"));
    let mut err = Errno::ENOENT;
    for cand in crate::path::search(name, path_var.as_deref()) {
        match exec(&cand, argv, envp) {
            // Not there: go on; anything else means it was found.
            Errno::ENOENT | Errno::ENOTDIR => {}
            e => err = e,
        }
    }
    err
}

enum Never {}

/// Interpreter levels followed (`#!` naming a script naming a script...).
const MAX_INTERPRETERS: u32 = 4;

/// The interpreter and its optional argument from a `#!` first line
/// (`#!/bin/sh -e` gives `("/bin/sh", Some("-e"))`): `None` if `image`
/// does not start with `#!`, `Some(Err(ENOEXEC))` if no interpreter is
/// named. Everything after the interpreter's name, blanks trimmed, is one
/// argument (as Linux and MINIX do); the line is read up to 255 bytes.
pub fn parse_shebang(image: &[u8]) -> Option<Result<(String, Option<String>)>> {
    let rest = image.strip_prefix(b"#!")?;
    let end = rest
        .iter()
        .take(255)
        .position(|&b| b == b'\n')
        .unwrap_or(rest.len().min(255));
    let line = String::from_utf8_lossy(&rest[..end]);
    let line = line.trim_matches([' ', '\t', '\r']);
    let (interp, arg) = match line.split_once([' ', '\t']) {
        Some((i, a)) => (i, Some(a.trim_matches([' ', '\t']))),
        None => (line, None),
    };
    if interp.is_empty() {
        return Some(Err(Errno::ENOEXEC));
    }
    let arg = arg.filter(|a| !a.is_empty()).map(String::from);
    Some(Ok((String::from(interp), arg)))
}

/// Whether the caller may execute the file `meta` describes (the check PM
/// makes for a program, made here for a `#!` script, which PM never sees).
fn may_execute(meta: &crate::fs::Metadata) -> Result<()> {
    let perm = meta.permissions();
    let ids = ids()?;
    let ok = if ids.euid == 0 {
        perm & 0o111 != 0
    } else if u32::from(meta.uid()) == ids.euid {
        perm & 0o100 != 0
    } else if u32::from(meta.gid()) == ids.egid {
        perm & 0o010 != 0
    } else {
        perm & 0o001 != 0
    };
    if !meta.is_file() || !ok {
        return Err(Errno::EACCES);
    }
    Ok(())
}

fn try_exec<A: AsRef<str>, E: AsRef<str>>(path: &str, argv: &[A], envp: &[E]) -> Result<Never> {
    try_exec_at(path, argv, envp, 0)
}

fn try_exec_at<A: AsRef<str>, E: AsRef<str>>(
    path: &str,
    argv: &[A],
    envp: &[E],
    level: u32,
) -> Result<Never> {
    let mut env: Vec<&str> = envp.iter().map(|e| e.as_ref()).collect();
    let pwd;
    if !env.iter().any(|e| e.starts_with("PWD=")) {
        pwd = alloc::format!("PWD={}", crate::fs::getcwd());
        env.push(&pwd);
    }
    let block = crate::env::build_exec_block(argv, &env)?;
    // The program file is closed by exec itself.
    let mut file = File::from_fd(crate::fs::open_fd(path, O_RDONLY | O_CLOEXEC, 0)?);
    let (image, len) = read_program(&mut file)?;
    if len == 0 {
        return Err(Errno::ENOEXEC);
    }
    // A script: exec its interpreter with [interpreter, optional
    // argument, script path, the original arguments after argv[0]].
    if let Some(shebang) = parse_shebang(&image.bytes()[..len.min(257)]) {
        let (interp, arg) = shebang?;
        may_execute(&file.metadata()?)?;
        drop(image);
        drop(file);
        if level >= MAX_INTERPRETERS {
            return Err(Errno::ELOOP);
        }
        let mut args: Vec<String> = alloc::vec![interp.clone()];
        args.extend(arg);
        args.push(String::from(path));
        args.extend(argv.iter().skip(1).map(|a| String::from(a.as_ref())));
        return try_exec_at(&interp, &args, envp, level + 1);
    }
    crate::io::flush();
    let gi = Grant::read(Server::Vm, &image.bytes()[..len])?;
    let gb = Grant::read(Server::Vm, &block)?;
    let id = ipc::next_id();
    let r = pm_call(
        id,
        PmCall::Exec {
            id,
            fd: file.fd(),
            image: gi.buf()?,
            block: gb.buf()?,
        },
    );
    match r {
        // PM never answers a successful exec: this program is gone.
        Ok(_) => Err(Errno::EBADCALL),
        Err(e) => Err(e),
    }
}

/// Bytes a program file is first read with: small programs take one read
/// (a regular file's read is short only at its end), larger ones an fstat
/// for the size and one more read.
const FIRST_READ: usize = 128 * 1024;

/// Reads the program file whole into a fresh anonymous mapping (not the
/// heap: after a fork its pages are shared copy-on-write with the parent,
/// and filling them would take a page fault per page); the mapping and
/// the length read.
fn read_program(file: &mut File) -> Result<(AnonMap, usize)> {
    let mut image = AnonMap::new(FIRST_READ as u64)?;
    let n = file.read(&mut image.bytes_mut()[..FIRST_READ])?;
    if n < FIRST_READ {
        return Ok((image, n));
    }
    let size = usize::try_from(file.metadata()?.len()).map_err(|_| Errno::ENOMEM)?;
    let mut all = AnonMap::new(size.max(n) as u64)?;
    all.bytes_mut()[..n].copy_from_slice(&image.bytes()[..n]);
    drop(image);
    let end = size.max(n);
    let m = file.read_full(&mut all.bytes_mut()[n..end])?;
    Ok((all, n + m))
}

/// Forks a child that execs `path` (searched in `PATH` when it has no
/// `/`, see [`execvp`]) with `argv` and `envp`; returns its pid. A child
/// whose exec fails prints why and exits with 127.
pub fn spawn<A: AsRef<str>, E: AsRef<str>>(path: &str, argv: &[A], envp: &[E]) -> Result<Pid> {
    match fork()? {
        0 => {
            let e = execvp(path, argv, envp);
            crate::eprintln!("exec {path}: {}", crate::errno::strerror(e));
            exit(127)
        }
        pid => Ok(pid),
    }
}

/// Runs `path` with `argv` and this program's environment and waits for
/// it.
pub fn run<A: AsRef<str>>(path: &str, argv: &[A]) -> Result<Status> {
    let pid = spawn(path, argv, &crate::env::envp())?;
    loop {
        match waitpid(pid, 0) {
            Ok((_, st)) => return Ok(st),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Closes every descriptor from `first` up to 63 that is open (for
/// programs that start children with a clean table).
pub fn close_from(first: fd::Fd) {
    for f in first..64 {
        let _ = fd::close(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn shebang_lines_name_an_interpreter_and_one_argument() {
        let p = |s: &[u8]| parse_shebang(s);
        assert_eq!(p(b"\x7fELF..."), None);
        assert_eq!(
            p(b"#!/bin/sh\necho hi\n"),
            Some(Ok(("/bin/sh".to_string(), None)))
        );
        assert_eq!(
            p(b"#!  /bin/sh   -e -x  \r\nexit 0"),
            Some(Ok(("/bin/sh".to_string(), Some("-e -x".to_string()))))
        );
        assert_eq!(p(b"#!/bin/sh"), Some(Ok(("/bin/sh".to_string(), None))));
        assert_eq!(p(b"#!\n"), Some(Err(Errno::ENOEXEC)));
        assert_eq!(p(b"#!   \t\n"), Some(Err(Errno::ENOEXEC)));
        // Only the first 255 bytes of the line count.
        let mut long = b"#!/".to_vec();
        long.extend(core::iter::repeat_n(b'a', 400));
        let (interp, _) = p(&long).unwrap().unwrap();
        assert_eq!(interp.len(), 255);
    }

    #[test]
    fn status_decodes_exits_and_signals() {
        let s = Status(pm::w_exited(3));
        assert!(s.exited() && !s.signaled() && !s.success());
        assert_eq!((s.code(), s.signal()), (Some(3), None));
        assert_eq!(s.to_string(), "exit 3");
        let k = Status(pm::w_signaled(pm::sig::SIGSEGV));
        assert_eq!((k.code(), k.signal()), (None, Some(11)));
        assert_eq!(k.to_string(), "killed by SIGSEGV");
        assert!(Status(0).success());
        assert_eq!(
            Status(pm::w_stopped(pm::sig::SIGSTOP)).to_string(),
            "stopped by SIGSTOP"
        );
    }
}
