//! The send/receive family on the IPC state machine, and finishing the
//! calls of processes it woke.

use abi::{Errno, Syscall};
use alloc::vec::Vec;
use kernel_core::ipc::{Completion, Source, Wake};
use kernel_core::process::Endpoint;

use super::memory::{prepare_write, write_to};
use super::sched::make_runnable;
use super::{FRAMES, Kernel};

/// Send/receive family. `Ok(Some(Blocked))` means the caller must block;
/// a message received at once has already been copied to the caller.
/// `flags` is `SendA`'s third argument (ignored by the other calls).
pub(super) fn ipc_call(
    k: &mut Kernel,
    slot: usize,
    call: Syscall,
    ep: u64,
    buf: u64,
    flags: u64,
) -> Result<Option<Completion>, Errno> {
    if call == Syscall::SendA && flags & !abi::SENDA_REQUEST != 0 {
        return Err(Errno::Inval);
    }
    let mut msg = [0u8; abi::MESSAGE_SIZE];
    let receives = matches!(call, Syscall::Receive | Syscall::SendRec);
    if receives {
        // Check the reply buffer before anything happens, so a bad buffer
        // is an error and never a lost message (copy-on-write is broken
        // now; a fork while blocked makes it copy-on-write again, which the
        // delivery breaks).
        prepare_write(k, slot, buf, abi::MESSAGE_SIZE as u64).map_err(|_| Errno::Fault)?;
    }
    let space = &k.procs.get(slot).ok_or(Errno::Inval)?.ctx.space;
    if call != Syscall::Receive {
        space.read_user(buf, &mut msg).ok_or(Errno::Fault)?;
    }
    let to = Endpoint(ep as u32);
    let mut wakes = Vec::new();
    let r = match call {
        Syscall::Send => k.ipc.send(slot, to, msg, &mut wakes),
        Syscall::SendNb => k.ipc.sendnb(slot, to, msg, &mut wakes),
        Syscall::SendRec => k.ipc.sendrec(slot, to, msg, &mut wakes),
        Syscall::SendA if flags & abi::SENDA_REQUEST != 0 => {
            k.ipc.senda_request(slot, to, msg, &mut wakes)
        }
        Syscall::SendA => k.ipc.senda(slot, to, msg, &mut wakes),
        _ => {
            let from = if ep as u32 == abi::ENDPOINT_ANY {
                Source::Any
            } else {
                Source::Ep(to)
            };
            k.ipc.receive(slot, from, k.ticks, &mut wakes)
        }
    };
    apply_wakes(k, wakes);
    let completion = r.map_err(|e| e.errno())?;
    match completion {
        Completion::Received(m) => write_to(k, slot, buf, &m)?,
        Completion::Blocked if receives => {
            k.procs.get_mut(slot).ok_or(Errno::Inval)?.ctx.recv_buf = Some(buf);
        }
        _ => {}
    }
    Ok(Some(completion))
}

/// Finishes the blocked calls of woken processes: result in their saved
/// `rax`, received message in their buffer, and makes them runnable.
pub(super) fn apply_wakes(k: &mut Kernel, wakes: Vec<Wake>) {
    for w in wakes {
        let Some(p) = k.procs.get_mut(w.slot) else {
            continue;
        };
        let rax = match w.result {
            Ok(Some(m)) => match p.ctx.recv_buf {
                Some(buf)
                    if FRAMES
                        .with(|fa| p.ctx.space.write_user(fa, buf, &m))
                        .is_some() =>
                {
                    0
                }
                _ => Errno::Fault.to_return(),
            },
            Ok(None) => 0,
            Err(e) => e.errno().to_return(),
        };
        p.ctx.frame.rax = rax;
        p.ctx.recv_buf = None;
        k.procs
            .set_blocked(w.slot, false)
            .expect("woken slot exists");
        make_runnable(k, w.slot);
    }
}
