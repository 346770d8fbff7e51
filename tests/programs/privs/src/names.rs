//! `privs setname` / `privs plainname`: `SetName`. Booted as
//! `pong:vfs,privs:namer setname,privs:sh plainname,privs:other other`
//! with `user=sh critical=rs` (no `rs` runs; the name is only reserved).
//!
//! * namer (a system process): the plain user `sh` may not be named
//!   `pm`, `vfs`, `vm` or `rs` (critical) — `Perm`; bad names (empty, 16
//!   bytes, a space, a newline, an unreadable buffer) and dead endpoints
//!   are refused; `sh` renamed `other` does not hide the system process
//!   `other` from `WhoIs`; renamed `shell` it is found by that name and no
//!   longer as `sh`; namer renames itself `renamer` (its later lines carry
//!   `[renamer]`), sends `sh` the go message and `other` its bye.
//! * sh (a plain user): `SetName` is not open to it (`Perm`); after the go
//!   message (its lines now carry `[shell]`) `WhoIs("shell")` is itself
//!   and its request to `vfs` still reaches pong (the server slots did not
//!   follow any rename).

use rt::abi::{self, Errno, Syscall};
use rt::{ipc, sys};

use crate::{BYE, GO};

/// The system side (see the module documentation).
pub fn namer(check: &mut impl FnMut(&str, bool)) {
    let who = |n: &str| ipc::whois(n).unwrap_or(ipc::ANY);
    let (sh, other, me) = (who("sh"), who("other"), who(""));
    check(
        "plain user not named pm, vfs or vm",
        ["pm", "vfs", "vm"]
            .iter()
            .all(|n| sys::set_name(sh, n) == Err(Errno::Perm)),
    );
    check(
        "plain user not named after a critical process",
        sys::set_name(sh, "rs") == Err(Errno::Perm),
    );
    let raw = |ep: u32, ptr: u64, len: u64| {
        let r = sys::raw_syscall6(Syscall::SetName as u64, [u64::from(ep), ptr, len, 0, 0, 0]);
        Errno::from_return(r).map(drop)
    };
    check(
        "bad names refused",
        ["", "sixteen-bytes...", "two words", "line\n", "nul\0"]
            .iter()
            .all(|n| sys::set_name(sh, n) == Err(Errno::Inval))
            && raw(sh, 0, 3) == Err(Errno::Fault)
            && raw(sh, b"sh".as_ptr() as u64, u64::MAX) == Err(Errno::Inval),
    );
    check(
        "dead endpoints refused",
        sys::set_name(abi::SYSTEM_ENDPOINT, "x") == Err(Errno::DeadSrcDst)
            && sys::set_name(abi::ENDPOINT_NONE, "x") == Err(Errno::DeadSrcDst),
    );
    check(
        "still named sh",
        ipc::whois("sh") == Ok(sh) && ipc::whois("pm").is_err(),
    );
    // Now two processes are named "other": the system one is found.
    check("rename the user other", sys::set_name(sh, "other").is_ok());
    check(
        "whois prefers the system process",
        ipc::whois("other") == Ok(other),
    );
    check("rename the user shell", sys::set_name(sh, "shell").is_ok());
    check(
        "whois finds the new name only",
        ipc::whois("shell") == Ok(sh) && ipc::whois("sh").is_err(),
    );
    check("rename itself", sys::set_name(me, "renamer").is_ok());
    // From here on this process's lines carry `[renamer]`.
    check(
        "whois finds itself renamed",
        ipc::whois("renamer") == Ok(me),
    );
    check("go to the user", ipc::send(sh, &ipc::message(GO)).is_ok());
    check("tell other", ipc::send(other, &ipc::message(BYE)).is_ok());
}

/// The plain-user side (see the module documentation).
pub fn plain(check: &mut impl FnMut(&str, bool)) {
    let me = ipc::whois("").unwrap_or(ipc::ANY);
    let vfs = ipc::whois("vfs").unwrap_or(ipc::ANY);
    // Nothing printed before the go message: the prefix changes meanwhile.
    let denied = sys::set_name(me, "x") == Err(Errno::Perm);
    let go = ipc::receive(ipc::ANY).is_ok_and(|m| ipc::mtype(&m) == GO);
    check("go from namer", go);
    check("set name denied", denied);
    check("whois finds its new name", ipc::whois("shell") == Ok(me));
    let mut m = ipc::message(1); // pong's PING
    ipc::set(&mut m, 0, 5);
    check(
        "request to vfs allowed",
        ipc::sendrec(vfs, &mut m).is_ok() && ipc::get(&m, 0) == 10,
    );
    let mut q = ipc::message(3); // pong's QUIT
    check("quit vfs", ipc::sendrec(vfs, &mut q).is_ok());
}
