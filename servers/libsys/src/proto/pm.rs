//! The user <-> PM protocol (process manager: fork, exec, wait, ids,
//! process groups, signals, alarm, times, `ps`, reboot), numbers 0xcxx.
//!
//! Every call starts with a `u64` request id, echoed in the reply
//! ([`PmReply`]: a number or an errno, plus up to four more numbers; what
//! each call answers is in its variant's doc). Signals use the
//! Linux/MINIX-style numbering of [`sig`] (the kernel's fault signals in
//! `abi` agree); a signal set is a `u64` with bit n = signal n. Wait
//! statuses are encoded as POSIX/MINIX do ([`w_exited`], [`wifexited`]...).
//!
//! Exec's buffers are granted to VM, not PM: PM forwards them. A handler
//! runs on a [`SigFrame`] that PM pushes on the user stack; the program's
//! trampoline calls the handler and then sends [`PmCall::Sigreturn`].

use crate::errno::Errno;
use crate::ipc::GrantId;
use crate::message::Message;
use crate::proto::fs::Buf;
use crate::proto::wire::{Codec, Le, StatusValue, messages};
use zerocopy::little_endian::{I32, I64, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

const FORK: u32 = 0xc00;
const EXEC: u32 = 0xc01;
const WAIT: u32 = 0xc02;
const GETPID: u32 = 0xc03;
const GETIDS: u32 = 0xc04;
const SETUID: u32 = 0xc05;
const SETGID: u32 = 0xc06;
const SETEUID: u32 = 0xc07;
const SETEGID: u32 = 0xc08;
const SETSID: u32 = 0xc09;
const GETPGRP: u32 = 0xc0a;
const SETPGID: u32 = 0xc0b;
const KILL: u32 = 0xc0c;
const SIGACTION: u32 = 0xc0d;
const SIGPROCMASK: u32 = 0xc0e;
const SIGSUSPEND: u32 = 0xc0f;
const SIGPENDING: u32 = 0xc10;
const SIGRETURN: u32 = 0xc11;
const ALARM: u32 = 0xc12;
const TIMES: u32 = 0xc13;
const PROCLIST: u32 = 0xc14;
const REBOOT: u32 = 0xc15;
const SIGGROUP: u32 = 0xc16;
const GETCRED: u32 = 0xc17;

const REPLY: u32 = 0xc80;

/// Signal numbers (one table for the whole system; the kernel's fault
/// signals in `abi` use the same numbers). Valid signals are
/// `1..NSIG`.
pub mod sig {
    /// Hangup.
    pub const SIGHUP: u32 = 1;
    /// Interrupt (^C).
    pub const SIGINT: u32 = 2;
    /// Quit.
    pub const SIGQUIT: u32 = 3;
    /// Illegal instruction.
    pub const SIGILL: u32 = 4;
    /// Trace trap.
    pub const SIGTRAP: u32 = 5;
    /// Abort.
    pub const SIGABRT: u32 = 6;
    /// Bus error (the kernel's `abi::SIGBUS`).
    pub const SIGBUS: u32 = 7;
    /// Arithmetic fault.
    pub const SIGFPE: u32 = 8;
    /// Kill (cannot be caught, blocked or ignored).
    pub const SIGKILL: u32 = 9;
    /// User signal 1.
    pub const SIGUSR1: u32 = 10;
    /// Segmentation fault.
    pub const SIGSEGV: u32 = 11;
    /// User signal 2.
    pub const SIGUSR2: u32 = 12;
    /// Write on a pipe with no reader.
    pub const SIGPIPE: u32 = 13;
    /// Alarm clock.
    pub const SIGALRM: u32 = 14;
    /// Termination request.
    pub const SIGTERM: u32 = 15;
    /// A child stopped or terminated.
    pub const SIGCHLD: u32 = 17;
    /// Continue if stopped.
    pub const SIGCONT: u32 = 18;
    /// Stop (cannot be caught, blocked or ignored).
    pub const SIGSTOP: u32 = 19;
    /// Terminal stop.
    pub const SIGTSTP: u32 = 20;
    /// Background read from the terminal.
    pub const SIGTTIN: u32 = 21;
    /// Background write to the terminal.
    pub const SIGTTOU: u32 = 22;
    /// Urgent data on a socket.
    pub const SIGURG: u32 = 23;
    /// CPU time limit.
    pub const SIGXCPU: u32 = 24;
    /// File size limit.
    pub const SIGXFSZ: u32 = 25;
    /// Virtual timer.
    pub const SIGVTALRM: u32 = 26;
    /// Profiling timer.
    pub const SIGPROF: u32 = 27;
    /// Window size change.
    pub const SIGWINCH: u32 = 28;
    /// I/O possible.
    pub const SIGIO: u32 = 29;
    /// Power failure.
    pub const SIGPWR: u32 = 30;
    /// Bad system call.
    pub const SIGSYS: u32 = 31;
    /// One more than the largest signal number.
    pub const NSIG: u32 = 32;

    /// Handler value: the default action.
    pub const SIG_DFL: u64 = 0;
    /// Handler value: ignore the signal.
    pub const SIG_IGN: u64 = 1;

    /// sigaction flag: restart interrupted calls (accepted, not acted on:
    /// interrupted calls answer EINTR).
    pub const SA_RESTART: u32 = 0x2;
    /// sigaction flag: reset the handler to `SIG_DFL` when it is delivered.
    pub const SA_RESETHAND: u32 = 0x4;
    /// sigaction flag: no SIGCHLD when a child stops.
    pub const SA_NOCLDSTOP: u32 = 0x8;
    /// sigaction flag: do not block the signal while its handler runs.
    pub const SA_NODEFER: u32 = 0x10;

    /// sigprocmask: add `set` to the mask.
    pub const SIG_BLOCK: u32 = 0;
    /// sigprocmask: remove `set` from the mask.
    pub const SIG_UNBLOCK: u32 = 1;
    /// sigprocmask: the mask becomes `set`.
    pub const SIG_SETMASK: u32 = 2;

    /// The bit of signal `s` in a signal set (0 for numbers outside 1..NSIG).
    pub const fn bit(s: u32) -> u64 {
        if s >= 1 && s < NSIG { 1u64 << s } else { 0 }
    }

    /// Every valid signal.
    pub const ALL: u64 = ((1u64 << NSIG) - 1) & !1;

    /// Signals that can be neither caught, blocked nor ignored.
    pub const UNCATCHABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

    /// What a signal does when its handler is `SIG_DFL`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum DefaultAction {
        /// The process terminates; the wait status names the signal.
        Terminate,
        /// Nothing happens.
        Ignore,
        /// The process stops until SIGCONT.
        Stop,
        /// A stopped process continues (else nothing happens).
        Continue,
    }

    /// The default action of signal `s` (POSIX).
    pub const fn default_action(s: u32) -> DefaultAction {
        match s {
            SIGCHLD | SIGURG | SIGWINCH | SIGPWR => DefaultAction::Ignore,
            SIGCONT => DefaultAction::Continue,
            SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
            _ => DefaultAction::Terminate,
        }
    }

    /// The name of a signal ("SIGSEGV"), or "SIG?" for unknown numbers.
    pub const fn name(s: u32) -> &'static str {
        match s {
            SIGHUP => "SIGHUP",
            SIGINT => "SIGINT",
            SIGQUIT => "SIGQUIT",
            SIGILL => "SIGILL",
            SIGTRAP => "SIGTRAP",
            SIGABRT => "SIGABRT",
            SIGBUS => "SIGBUS",
            SIGFPE => "SIGFPE",
            SIGKILL => "SIGKILL",
            SIGUSR1 => "SIGUSR1",
            SIGSEGV => "SIGSEGV",
            SIGUSR2 => "SIGUSR2",
            SIGPIPE => "SIGPIPE",
            SIGALRM => "SIGALRM",
            SIGTERM => "SIGTERM",
            SIGCHLD => "SIGCHLD",
            SIGCONT => "SIGCONT",
            SIGSTOP => "SIGSTOP",
            SIGTSTP => "SIGTSTP",
            SIGTTIN => "SIGTTIN",
            SIGTTOU => "SIGTTOU",
            SIGURG => "SIGURG",
            SIGXCPU => "SIGXCPU",
            SIGXFSZ => "SIGXFSZ",
            SIGVTALRM => "SIGVTALRM",
            SIGPROF => "SIGPROF",
            SIGWINCH => "SIGWINCH",
            SIGIO => "SIGIO",
            SIGPWR => "SIGPWR",
            SIGSYS => "SIGSYS",
            _ => "SIG?",
        }
    }
}

/// wait/waitpid option: do not wait if no child has changed state.
pub const WNOHANG: u32 = 1;
/// wait/waitpid option: also report stopped children.
pub const WUNTRACED: u32 = 2;

/// Wait status of a child that exited with `code` (only its low 8 bits).
pub const fn w_exited(code: i32) -> i32 {
    (code & 0xff) << 8
}

/// Wait status of a child terminated by signal `s`.
pub const fn w_signaled(s: u32) -> i32 {
    (s & 0x7f) as i32
}

/// Wait status of a child stopped by signal `s`.
pub const fn w_stopped(s: u32) -> i32 {
    (((s & 0xff) as i32) << 8) | 0x7f
}

/// The child exited (WIFEXITED).
pub const fn wifexited(status: i32) -> bool {
    status & 0x7f == 0
}

/// Its exit code (WEXITSTATUS).
pub const fn wexitstatus(status: i32) -> i32 {
    (status >> 8) & 0xff
}

/// The child was terminated by a signal (WIFSIGNALED).
pub const fn wifsignaled(status: i32) -> bool {
    let low = status & 0x7f;
    low != 0 && low != 0x7f
}

/// The terminating signal (WTERMSIG).
pub const fn wtermsig(status: i32) -> u32 {
    (status & 0x7f) as u32
}

/// The child is stopped (WIFSTOPPED).
pub const fn wifstopped(status: i32) -> bool {
    status & 0xff == 0x7f
}

/// The stopping signal (WSTOPSIG).
pub const fn wstopsig(status: i32) -> u32 {
    ((status >> 8) & 0xff) as u32
}

/// Reboot: halt, the run passes (QEMU exit status 33).
pub const REBOOT_HALT: u32 = 0;
/// Reboot: power off with the failure verdict.
pub const REBOOT_FAIL: u32 = 1;

/// Registers in a [`SigFrame`] and in the kernel's GetRegs/SetRegs buffer,
/// in this order.
pub mod reg {
    /// rax.
    pub const RAX: usize = 0;
    /// rbx.
    pub const RBX: usize = 1;
    /// rcx.
    pub const RCX: usize = 2;
    /// rdx.
    pub const RDX: usize = 3;
    /// rsi.
    pub const RSI: usize = 4;
    /// rdi.
    pub const RDI: usize = 5;
    /// rbp.
    pub const RBP: usize = 6;
    /// r8.
    pub const R8: usize = 7;
    /// r9.
    pub const R9: usize = 8;
    /// r10.
    pub const R10: usize = 9;
    /// r11.
    pub const R11: usize = 10;
    /// r12.
    pub const R12: usize = 11;
    /// r13.
    pub const R13: usize = 12;
    /// r14.
    pub const R14: usize = 13;
    /// r15.
    pub const R15: usize = 14;
    /// rip.
    pub const RIP: usize = 15;
    /// rsp.
    pub const RSP: usize = 16;
    /// rflags.
    pub const RFLAGS: usize = 17;
    /// Number of registers.
    pub const COUNT: usize = 18;
}

/// The frame PM pushes on the user stack before running a handler: the
/// interrupted registers (the kernel's GetRegs layout, [`reg`]), the signal
/// mask to restore, and the signal number. The trampoline is entered with
/// `rdi` = signo, `rsi` = handler, `rdx` = address of this frame, `rsp`
/// 16-byte aligned below it; it sends `Sigreturn { frame: rdx }` after the
/// handler returns.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct SigFrame {
    /// Saved registers.
    pub regs: [U64; reg::COUNT],
    /// Signal mask in force before delivery (restored by sigreturn).
    pub mask: U64,
    /// The signal.
    pub signo: U64,
}

/// Bytes of a [`SigFrame`].
pub const SIGFRAME_LEN: usize = core::mem::size_of::<SigFrame>();
const _: () = assert!(SIGFRAME_LEN == 160);

impl SigFrame {
    /// A frame from plain values.
    pub fn new(regs: [u64; reg::COUNT], mask: u64, signo: u32) -> Self {
        SigFrame {
            regs: regs.map(U64::new),
            mask: U64::new(mask),
            signo: U64::new(u64::from(signo)),
        }
    }

    /// The saved registers as plain values.
    pub fn regs(&self) -> [u64; reg::COUNT] {
        self.regs.map(|r| r.get())
    }
}

/// Process states in a [`ProcRecord`].
pub mod state {
    /// Running or runnable (or blocked on a server other than PM).
    pub const RUNNING: u32 = 0;
    /// Waiting for a child (wait/waitpid).
    pub const WAITING: u32 = 1;
    /// In sigsuspend.
    pub const SIGSUSPENDED: u32 = 2;
    /// Stopped by a signal.
    pub const STOPPED: u32 = 3;
    /// Exited, not yet waited for.
    pub const ZOMBIE: u32 = 4;
    /// Being created or replaced (fork, exec in progress).
    pub const BUSY: u32 = 5;
}

/// One process in a [`PmCall::ProcList`] answer (for `ps`).
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct ProcRecord {
    /// Process id.
    pub pid: I32,
    /// Parent's pid (0 for init).
    pub ppid: I32,
    /// Process group.
    pub pgrp: I32,
    /// Real user id.
    pub uid: U32,
    /// Effective user id.
    pub euid: U32,
    /// [`state`] value.
    pub state: U32,
    /// User time in clock ticks.
    pub user_ticks: U64,
    /// System time in clock ticks.
    pub sys_ticks: U64,
    /// Program name (zero-padded).
    pub name: [u8; 16],
}

/// Bytes of a [`ProcRecord`].
pub const PROC_RECORD_LEN: usize = core::mem::size_of::<ProcRecord>();
const _: () = assert!(PROC_RECORD_LEN == 56);

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
struct CallP {
    id: U64,
    a: I32,
    b: I32,
    c: U32,
    d: U32,
    x: U64,
    y: U64,
    z: U64,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
struct ReplyP {
    id: U64,
    status: I32,
    value: I64,
    extra: [I64; 4],
}

/// A [`Buf`] with its length widened to 64 bits; a length that does not
/// fit a `u32` is refused (`EINVAL`) rather than cut.
struct Buf64;

impl Codec<Buf, (U32, U64)> for Buf64 {
    fn enc(b: Buf) -> (U32, U64) {
        (U32::new(b.grant.0), U64::new(u64::from(b.len)))
    }
    fn dec((grant, len): (U32, U64)) -> Result<Buf, Errno> {
        Ok(Buf {
            grant: GrantId(grant.get()),
            len: u32::try_from(len.get()).map_err(|_| Errno::EINVAL)?,
        })
    }
}

impl Codec<[i64; 4], [I64; 4]> for Le {
    fn enc(v: [i64; 4]) -> [I64; 4] {
        v.map(I64::new)
    }
    fn dec(w: [I64; 4]) -> Result<[i64; 4], Errno> {
        Ok(w.map(|v| v.get()))
    }
}

messages! {
    /// A call to PM. Answers are [`PmReply`]; `value` / `extra` below.
    #[allow(missing_docs)] // field names are the POSIX argument names
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum PmCall in CallP, unknown ENOSYS {
        /// fork() -> the child's pid in the parent; the child's reply says 0.
        Fork = FORK {
            id: u64 => id,
        },
        /// execve: `image` (the whole file, read through `fd`) and `block`
        /// (the exec block: argv strings, an empty string, environment
        /// strings, each NUL-terminated) are granted read-only to VM. No reply
        /// on success; Err(ENOEXEC / ENOMEM / EACCES / E2BIG) leaves the
        /// caller intact.
        Exec = EXEC {
            id: u64 => id,
            fd: i32 => a,
            image: Buf => (c, x) via Buf64,
            block: Buf => (d, y) via Buf64,
        },
        /// waitpid(pid, options): pid > 0 that child, -1 any, 0 own group,
        /// < -1 group -pid -> value = pid (0 with WNOHANG and nothing to
        /// report), extra[0] = status.
        Wait = WAIT {
            id: u64 => id,
            pid: i32 => a,
            options: u32 => c,
        },
        /// -> value = pid, extra[0] = ppid.
        Getpid = GETPID {
            id: u64 => id,
        },
        /// -> value = uid, extra = [euid, gid, egid].
        GetIds = GETIDS {
            id: u64 => id,
        },
        /// setuid: root sets all user ids, others only to their real id.
        Setuid = SETUID {
            id: u64 => id,
            uid: u32 => c,
        },
        /// setgid: as setuid.
        Setgid = SETGID {
            id: u64 => id,
            gid: u32 => c,
        },
        /// seteuid: root any, others to their real id.
        Seteuid = SETEUID {
            id: u64 => id,
            uid: u32 => c,
        },
        /// setegid: as seteuid.
        Setegid = SETEGID {
            id: u64 => id,
            gid: u32 => c,
        },
        /// setsid() -> the new session (= process group) id.
        Setsid = SETSID {
            id: u64 => id,
        },
        /// getpgrp() -> the process group.
        Getpgrp = GETPGRP {
            id: u64 => id,
        },
        /// setpgid(pid, pgid) -> 0 (pid 0 = self, pgid 0 = pid).
        Setpgid = SETPGID {
            id: u64 => id,
            pid: i32 => a,
            pgid: i32 => b,
        },
        /// kill(pid, sig) -> 0: pid > 0 that process, 0 the caller's group,
        /// -1 every process the caller may signal except init and itself
        /// (Linux), < -1 group -pid. sig 0 only checks. ESRCH if none matched,
        /// EPERM if it may signal none of them.
        Kill = KILL {
            id: u64 => id,
            pid: i32 => a,
            sig: u32 => c,
        },
        /// sigaction -> value = old handler, extra = [old mask, old flags].
        /// `handler` [`sig::SIG_DFL`], [`sig::SIG_IGN`] or an address;
        /// `trampoline` is where handlers are entered from (see [`SigFrame`]).
        /// A `sig` with the top bit of `flags` set ([`SIGACTION_QUERY`]) only
        /// reads.
        Sigaction = SIGACTION {
            id: u64 => id,
            sig: u32 => c,
            handler: u64 => x,
            trampoline: u64 => y,
            mask: u64 => z,
            flags: u32 => d,
        },
        /// sigprocmask(how, set) -> value = old mask ([`sig::SIG_BLOCK`]...).
        Sigprocmask = SIGPROCMASK {
            id: u64 => id,
            how: u32 => c,
            set: u64 => x,
        },
        /// sigsuspend(mask) -> Err(EINTR) after a handler ran.
        Sigsuspend = SIGSUSPEND {
            id: u64 => id,
            mask: u64 => x,
        },
        /// sigpending() -> value = set of blocked pending signals.
        Sigpending = SIGPENDING {
            id: u64 => id,
        },
        /// Return from a handler: `frame` is the [`SigFrame`]'s address. No
        /// reply: PM restores the registers (and mask) from the frame.
        Sigreturn = SIGRETURN {
            id: u64 => id,
            frame: u64 => x,
        },
        /// alarm(seconds) -> value = seconds left of the previous alarm
        /// (rounded up), 0 cancels.
        Alarm = ALARM {
            id: u64 => id,
            seconds: u32 => c,
        },
        /// times() -> value = user ticks, extra = [system ticks, children's
        /// user ticks, children's system ticks, uptime ticks].
        Times = TIMES {
            id: u64 => id,
        },
        /// Process table for `ps`: fills `buf` with [`ProcRecord`]s of the
        /// processes with table index >= `index` -> value = records written,
        /// extra[0] = the index to ask next (or -1 when there are no more).
        ProcList = PROCLIST {
            id: u64 => id,
            buf: Buf => (c, x) via Buf64,
            index: u32 => d,
        },
        /// reboot(how) -> root only ([`REBOOT_HALT`], [`REBOOT_FAIL`]).
        Reboot = REBOOT {
            id: u64 => id,
            how: u32 => c,
        },
        /// The credentials of the user process at endpoint `ep` -> value =
        /// pid, extra = [uid, euid, gid, egid]; `ESRCH` if PM does not know it
        /// (a system process or boot program). System processes only (RS
        /// authorises `service` requests with it); a user process asking gets
        /// `EPERM`.
        GetCred = GETCRED {
            id: u64 => id,
            ep: u32 => c,
        },
        /// Signal every process of group `pgrp` with `sig` (the terminal
        /// driver: ^C, ^\\, SIGHUP when a pty master closes) -> value = how
        /// many were signalled; `ESRCH` if none is in the group, `EINVAL` for
        /// a bad signal or pgrp. Accepted only from the process DS names
        /// `tty` (`EPERM` for anyone else).
        SigGroup = SIGGROUP {
            id: u64 => id,
            pgrp: i32 => a,
            sig: u32 => c,
        },
    }
}

/// A Sigaction `flags` bit: read the current action without changing it.
pub const SIGACTION_QUERY: u32 = 0x8000_0000;

impl PmCall {
    /// The request id.
    pub fn id(&self) -> u64 {
        self.to_message().request_id()
    }

    /// Whether `m` carries a PM call number.
    pub fn is_pm_call(m: &Message) -> bool {
        (FORK..=GETCRED).contains(&m.mtype())
    }
}

messages! {
    /// PM's answer to a call: a number or an errno, plus up to four more
    /// numbers (see each [`PmCall`] variant).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PmReply in ReplyP = REPLY, unknown EBADCALL {
        /// The call's id.
        id: u64 => id,
        /// The main value or the error.
        result: Result<i64, Errno> => (status, value) via StatusValue,
        /// Further values (zero when unused).
        extra: [i64; 4] => extra,
    }
}

impl PmReply {
    /// A reply with one value.
    pub fn value(id: u64, v: i64) -> Self {
        PmReply {
            id,
            result: Ok(v),
            extra: [0; 4],
        }
    }

    /// An error reply.
    pub fn error(id: u64, e: Errno) -> Self {
        PmReply {
            id,
            result: Err(e),
            extra: [0; 4],
        }
    }

    /// A reply with a value and extra values.
    pub fn with_extra(id: u64, v: i64, extra: [i64; 4]) -> Self {
        PmReply {
            id,
            result: Ok(v),
            extra,
        }
    }

    /// Whether `m` is a PM reply.
    pub fn is_pm_reply(m: &Message) -> bool {
        m.mtype() == REPLY
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::hex;
    use alloc::string::String;
    use alloc::vec::Vec;

    const GOLDEN: &[&str] = &[
        "c00:01",
        "c01:0200000000000000050000000000000003000000040000007011010000000000ffffffff",
        "c02:0300000000000000ffffffff0000000001",
        "c02:0400000000000000d6ffffff",
        "c03:05",
        "c04:06",
        "c05:07000000000000000000000000000000e803",
        "c06:0800000000000000000000000000000064",
        "c07:09",
        "c08:0a00000000000000000000000000000007",
        "c09:0b",
        "c0a:0c",
        "c0b:0d00000000000000000000004d",
        "c0c:0e00000000000000ffffffff000000000f",
        "c0d:0f0000000000000000000000000000000a00000010000080341200400000000078560040000000000010",
        "c0e:100000000000000000000000000000000200000000000000ffffffffffffffff",
        "c0f:11000000000000000000000000000000000000000000000006",
        "c10:12",
        "c11:13000000000000000000000000000000000000000000000000e0ff7f",
        "c12:1400000000000000000000000000000003",
        "c13:15",
        "c14:1600000000000000000000000000000009000000110000000010",
        "c15:1700000000000000000000000000000001",
        "c17:18000000000000000000000000000000110003",
        "c16:19000000000000002a0000000000000002",
        "c80:010000000000000000000000feffffffffffffff",
        "c80:0300000000000000f6ffffff",
        "c80:88776655443322110000000000000000000100000100000000000000ffffffffffffffffffffffffffffff7f0000000000000080",
    ];
    use zerocopy::FromBytes;

    fn b(g: u32, l: u32) -> Buf {
        Buf {
            grant: GrantId(g),
            len: l,
        }
    }

    /// One instance of each call: the round trip and the golden wire
    /// bytes use the same list.
    fn sample_calls() -> alloc::vec::Vec<PmCall> {
        use PmCall::*;
        alloc::vec![
            Fork { id: 1 },
            Exec {
                id: 2,
                fd: 5,
                image: b(3, 70_000),
                block: b(4, u32::MAX),
            },
            Wait {
                id: 3,
                pid: -1,
                options: WNOHANG,
            },
            Wait {
                id: 4,
                pid: -42,
                options: 0,
            },
            Getpid { id: 5 },
            GetIds { id: 6 },
            Setuid { id: 7, uid: 1000 },
            Setgid { id: 8, gid: 100 },
            Seteuid { id: 9, uid: 0 },
            Setegid { id: 10, gid: 7 },
            Setsid { id: 11 },
            Getpgrp { id: 12 },
            Setpgid {
                id: 13,
                pid: 0,
                pgid: 77,
            },
            Kill {
                id: 14,
                pid: -1,
                sig: sig::SIGTERM,
            },
            Sigaction {
                id: 15,
                sig: sig::SIGUSR1,
                handler: 0x4000_1234,
                trampoline: 0x4000_5678,
                mask: sig::bit(sig::SIGUSR2),
                flags: sig::SA_NODEFER | SIGACTION_QUERY,
            },
            Sigprocmask {
                id: 16,
                how: sig::SIG_SETMASK,
                set: u64::MAX,
            },
            Sigsuspend { id: 17, mask: 6 },
            Sigpending { id: 18 },
            Sigreturn {
                id: 19,
                frame: 0x7fff_e000,
            },
            Alarm { id: 20, seconds: 3 },
            Times { id: 21 },
            ProcList {
                id: 22,
                buf: b(9, 4096),
                index: 17,
            },
            Reboot {
                id: 23,
                how: REBOOT_FAIL,
            },
            GetCred {
                id: 24,
                ep: 0x0003_0011,
            },
            SigGroup {
                id: 25,
                pgrp: 42,
                sig: sig::SIGINT,
            },
        ]
    }

    #[test]
    fn calls_roundtrip() {
        let calls = sample_calls();
        for c in calls {
            let m = c.to_message();
            assert!(PmCall::is_pm_call(&m), "{c:?}");
            assert!(!PmReply::is_pm_reply(&m));
            assert_eq!(PmCall::try_from(&m).unwrap(), c);
            assert_eq!(c.id(), m.request_id());
        }
        let sg = PmCall::SigGroup {
            id: 1,
            pgrp: 7,
            sig: sig::SIGHUP,
        };
        assert_eq!(sg.to_message().mtype(), 0xc16);
        assert_eq!(PmCall::try_from(&Message::new(0xc7f)), Err(Errno::ENOSYS));
        assert!(!PmCall::is_pm_call(&Message::new(REPLY)));
    }

    #[test]
    fn oversized_buffer_lengths_are_refused() {
        let mut m = PmCall::ProcList {
            id: 1,
            buf: b(1, 1),
            index: 0,
        }
        .to_message();
        // x holds the length at payload offset 24.
        m.payload_mut()[24..32].copy_from_slice(&(1u64 << 32).to_le_bytes());
        assert_eq!(PmCall::try_from(&m), Err(Errno::EINVAL));
    }

    #[test]
    fn replies_roundtrip() {
        for r in [
            PmReply::value(1, 42),
            PmReply::value(2, -1),
            PmReply::error(3, Errno::ECHILD),
            PmReply::error(4, Errno::EINTR),
            PmReply::with_extra(5, 7, [w_exited(3) as i64, i64::MIN, 0, i64::MAX]),
        ] {
            let m = r.to_message();
            assert!(PmReply::is_pm_reply(&m));
            assert_eq!(PmReply::try_from(&m).unwrap(), r);
        }
        assert_eq!(PmReply::try_from(&Message::new(FORK)), Err(Errno::EBADCALL));
    }

    #[test]
    fn wait_status_encoding_matches_posix() {
        let s = w_exited(3);
        assert_eq!(s, 0x300);
        assert!(wifexited(s) && !wifsignaled(s) && !wifstopped(s));
        assert_eq!(wexitstatus(s), 3);
        // Only the low 8 bits of the code survive, as in POSIX.
        assert_eq!(wexitstatus(w_exited(-1)), 255);
        assert_eq!(wexitstatus(w_exited(256)), 0);
        let k = w_signaled(sig::SIGSEGV);
        assert_eq!(k, 11);
        assert!(wifsignaled(k) && !wifexited(k) && !wifstopped(k));
        assert_eq!(wtermsig(k), sig::SIGSEGV);
        let st = w_stopped(sig::SIGSTOP);
        assert!(wifstopped(st) && !wifexited(st) && !wifsignaled(st));
        assert_eq!(wstopsig(st), sig::SIGSTOP);
        assert_eq!(w_exited(0), 0);
        assert!(wifexited(0));
    }

    #[test]
    fn signal_table() {
        use sig::*;
        assert_eq!(bit(0), 0);
        assert_eq!(bit(NSIG), 0);
        assert_eq!(bit(SIGKILL), 1 << 9);
        assert_eq!(ALL & 1, 0);
        assert_eq!(ALL.count_ones(), NSIG - 1);
        assert_eq!(UNCATCHABLE, (1 << 9) | (1 << 19));
        assert_eq!(default_action(SIGCHLD), DefaultAction::Ignore);
        assert_eq!(default_action(SIGCONT), DefaultAction::Continue);
        assert_eq!(default_action(SIGSTOP), DefaultAction::Stop);
        for s in [
            SIGINT, SIGTERM, SIGKILL, SIGPIPE, SIGSEGV, SIGALRM, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT,
            SIGABRT, SIGBUS, SIGFPE, SIGILL,
        ] {
            assert_eq!(default_action(s), DefaultAction::Terminate, "{}", name(s));
        }
        // The kernel's fault signals use the same numbers.
        assert_eq!(SIGSEGV, 11);
        assert_eq!(SIGBUS, 7);
        assert_eq!(SIGILL, 4);
        assert_eq!(SIGFPE, 8);
        assert_eq!(SIGTRAP, 5);
        assert_eq!(name(SIGSEGV), "SIGSEGV");
        assert_eq!(name(99), "SIG?");
    }

    #[test]
    fn frames_and_records_have_fixed_layouts() {
        let mut regs = [0u64; reg::COUNT];
        for (i, r) in regs.iter_mut().enumerate() {
            *r = 0x1000 + i as u64;
        }
        let f = SigFrame::new(regs, 0xf0, sig::SIGUSR1);
        let bytes = f.as_bytes();
        assert_eq!(bytes.len(), SIGFRAME_LEN);
        // rip at index 15, mask and signo after the 18 registers.
        assert_eq!(&bytes[15 * 8..16 * 8], &0x100fu64.to_le_bytes());
        assert_eq!(&bytes[144..152], &0xf0u64.to_le_bytes());
        assert_eq!(&bytes[152..160], &10u64.to_le_bytes());
        let back = SigFrame::read_from_bytes(bytes).unwrap();
        assert_eq!(back.regs(), regs);
        let r = ProcRecord {
            pid: I32::new(5),
            name: *b"init\0\0\0\0\0\0\0\0\0\0\0\0",
            ..ProcRecord::default()
        };
        assert_eq!(r.as_bytes().len(), PROC_RECORD_LEN);
        assert_eq!(&r.as_bytes()[..4], &5i32.to_le_bytes());
    }

    /// The wire bytes of one instance of each message, fixed from the
    /// hand-written encoder this module had before it was declared with
    /// `messages!`.
    #[test]
    fn golden_wire_bytes() {
        let calls = sample_calls();
        let replies = [
            PmReply::value(1, -2),
            PmReply::error(3, Errno::ECHILD),
            PmReply::with_extra(0x1122_3344_5566_7788, 1 << 40, [1, -1, i64::MAX, i64::MIN]),
        ];
        let got: Vec<String> = calls
            .iter()
            .map(|c| hex(&c.to_message()))
            .chain(replies.iter().map(|r| hex(&r.to_message())))
            .collect();
        assert_eq!(got, GOLDEN);
    }
}
