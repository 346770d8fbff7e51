//! Signals, through PM: [`sigaction`] with handlers that run in user
//! space, [`sigprocmask`], [`sigsuspend`], [`sigpending`], [`pause`],
//! [`raise`].
//!
//! Delivery: PM stops the process, pushes a `SigFrame` (the interrupted
//! registers, the mask to restore, the signal) on its stack and restarts
//! it at this library's trampoline with `rdi` = signal, `rsi` = handler,
//! `rdx` = the frame's address. The trampoline aligns the stack, calls the
//! handler, and sends PM `Sigreturn { frame }`; PM puts the registers back
//! and the program goes on where it was (a call it was blocked in answers
//! `EINTR`).

use crate::errno::{Errno, Result};
use crate::ipc::{self, Server};
use crate::process::{Pid, pm_call};
use sys::proto::pm::PmCall;

pub use sys::proto::pm::sig::*;

/// What to do with a signal.
#[derive(Clone, Copy, Debug)]
pub enum Handler {
    /// The default action (`SIG_DFL`).
    Default,
    /// Ignore it (`SIG_IGN`).
    Ignore,
    /// Run this function with the signal number.
    Catch(fn(u32)),
}

impl Handler {
    fn raw(self) -> u64 {
        match self {
            Handler::Default => SIG_DFL,
            Handler::Ignore => SIG_IGN,
            Handler::Catch(f) => f as usize as u64,
        }
    }
}

/// A signal's previous disposition, as PM reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action {
    /// `SIG_DFL`, `SIG_IGN` or a handler's address.
    pub handler: u64,
    /// Signals blocked while the handler runs.
    pub mask: u64,
    /// `SA_*` flags.
    pub flags: u32,
}

/// The trampoline PM starts a handler through: entered with `rdi` =
/// signal, `rsi` = handler, `rdx` = frame, and the stack pointer anywhere
/// below the frame. It aligns the stack as a call expects and never
/// returns.
#[unsafe(naked)]
extern "C" fn trampoline() -> ! {
    core::arch::naked_asm!("and rsp, -16", "call {entry}", "ud2", entry = sym signal_entry);
}

extern "C" fn signal_entry(signo: u64, handler: u64, frame: u64) -> ! {
    if handler > SIG_IGN {
        // SAFETY: PM hands back the handler value this program registered
        // with `sigaction`, which only ever registers `fn(u32)` pointers
        // (`Handler::Catch`); PM is the only process that may set this
        // program's registers.
        let f = unsafe { core::mem::transmute::<usize, fn(u32)>(handler as usize) };
        f(signo as u32);
    }
    let id = ipc::next_id();
    let _ = ipc::call(Server::Pm, &PmCall::Sigreturn { id, frame }.to_message());
    // PM restores the interrupted registers and never answers; reaching
    // this point means it refused the frame.
    rt::println!("sigreturn for signal {signo} refused: exiting");
    rt::sys::exit(128 + signo as i32)
}

/// The trampoline's address (what [`sigaction`] registers).
pub fn trampoline_addr() -> u64 {
    trampoline as *const () as usize as u64
}

/// sigaction(2): sets the disposition of `sig`; `mask` is blocked while
/// the handler runs, `flags` are `SA_*`. Returns the previous one.
/// `EINVAL` for SIGKILL and SIGSTOP (unless `Default`) and bad numbers.
pub fn sigaction(sig: u32, handler: Handler, mask: u64, flags: u32) -> Result<Action> {
    let id = ipc::next_id();
    let (v, e) = pm_call(
        id,
        PmCall::Sigaction {
            id,
            sig,
            handler: handler.raw(),
            trampoline: trampoline_addr(),
            mask,
            flags,
        },
    )?;
    Ok(Action {
        handler: v as u64,
        mask: e[0] as u64,
        flags: e[1] as u32,
    })
}

/// signal(3): [`sigaction`] with no extra mask or flags.
pub fn signal(sig: u32, handler: Handler) -> Result<Action> {
    sigaction(sig, handler, 0, 0)
}

/// The current disposition of `sig`, unchanged.
pub fn action(sig: u32) -> Result<Action> {
    let id = ipc::next_id();
    let (v, e) = pm_call(
        id,
        PmCall::Sigaction {
            id,
            sig,
            handler: 0,
            trampoline: trampoline_addr(),
            mask: 0,
            flags: sys::proto::pm::SIGACTION_QUERY,
        },
    )?;
    Ok(Action {
        handler: v as u64,
        mask: e[0] as u64,
        flags: e[1] as u32,
    })
}

/// sigprocmask(2): `how` = `SIG_BLOCK`, `SIG_UNBLOCK` or `SIG_SETMASK`;
/// returns the previous mask.
pub fn sigprocmask(how: u32, set: u64) -> Result<u64> {
    let id = ipc::next_id();
    pm_call(id, PmCall::Sigprocmask { id, how, set }).map(|(v, _)| v as u64)
}

/// sigsuspend(2): waits with `mask` in force until a handler has run;
/// returns its error (`EINTR`).
pub fn sigsuspend(mask: u64) -> Errno {
    let id = ipc::next_id();
    match pm_call(id, PmCall::Sigsuspend { id, mask }) {
        Ok(_) => Errno::EINTR,
        Err(e) => e,
    }
}

/// pause(2): waits until a handler has run (`EINTR`).
pub fn pause() -> Errno {
    match sigprocmask(SIG_BLOCK, 0) {
        Ok(mask) => sigsuspend(mask),
        Err(e) => e,
    }
}

/// sigpending(2): blocked signals waiting to be delivered.
pub fn sigpending() -> Result<u64> {
    let id = ipc::next_id();
    pm_call(id, PmCall::Sigpending { id }).map(|(v, _)| v as u64)
}

/// raise(3): signal this process.
pub fn raise(sig: u32) -> Result<()> {
    crate::process::kill(crate::process::getpid() as Pid, sig)
}
