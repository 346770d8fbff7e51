//! Faults and signals: kernel and user faults, the pager (held page
//! faults), stopping and killing processes, and reporting them to their
//! signal manager.

use crate::arch::cpu;
use crate::arch::paging::{CowBreak, MapError};
use crate::arch::trap::TrapFrame;
use crate::kprintln;
use abi::Errno;
use alloc::vec::Vec;
use kernel_core::fault::{Fault, FaultKind};
use kernel_core::process::{Endpoint, SYSTEM_SLOT};

use super::ipc::apply_wakes;
use super::memory::{le_words, write_to};
use super::process::process_gone;
use super::sched::{make_runnable, switch_away};
use super::{FRAMES, HeldFault, Kernel, current, live_slot};

pub(super) fn kernel_fault(frame: &TrapFrame) -> ! {
    let fault = describe(frame);
    panic!("{fault} in kernel mode (vector {})", frame.vector);
}

fn describe(frame: &TrapFrame) -> Fault {
    let kind =
        FaultKind::from_vector(frame.vector).unwrap_or(FaultKind::Reserved(frame.vector as u8));
    Fault {
        kind,
        error_code: frame.error,
        rip: frame.rip,
        addr: (kind == FaultKind::PageFault).then(cpu::read_cr2),
    }
}

/// `SetPager`: live `rsi` (or nobody) becomes the pager of live `rdi`. A
/// fault held for the previous pager fails.
pub(super) fn set_pager(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let pager = if f.rsi as u32 == abi::ENDPOINT_NONE {
        None
    } else {
        let ep = Endpoint(f.rsi as u32);
        if live_slot(k, ep)? == target {
            return Err(Errno::Inval);
        }
        Some(ep)
    };
    let p = k.procs.get_mut(target).ok_or(Errno::Inval)?;
    if p.ctx.pager == pager {
        return Ok(0);
    }
    p.ctx.pager = pager;
    if let Some(h) = p.ctx.held.take() {
        stop_other(k, target, h.fault);
    }
    Ok(0)
}

/// `PageFaults`: hands the caller one fault held for it, not yet given.
pub(super) fn page_faults(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let me = k.procs.get(slot).ok_or(Errno::Inval)?.endpoint;
    let found = (0..kernel_core::process::NR_PROCS).find(|&s| {
        k.procs.get(s).is_some_and(|p| {
            p.is_alive() && p.ctx.pager == Some(me) && p.ctx.held.is_some_and(|h| !h.reported)
        })
    });
    let Some(s) = found else { return Ok(0) };
    let p = k.procs.get(s).ok_or(Errno::Inval)?;
    let Some(h) = p.ctx.held else { return Ok(0) };
    let words: [u64; abi::PAGEFAULT_WORDS] = [
        u64::from(p.endpoint.0),
        h.fault.addr.unwrap_or(0),
        h.fault.error_code,
        h.fault.rip,
    ];
    write_to(k, slot, f.rdi, &le_words(words))?;
    if let Some(h) = k.procs.get_mut(s).and_then(|p| p.ctx.held.as_mut()) {
        h.reported = true;
    }
    Ok(1)
}

/// `PageFix`: the pager resolves the fault held for `rdi`.
pub(super) fn page_fix(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let me = k.procs.get(slot).ok_or(Errno::Inval)?.endpoint;
    let p = k.procs.get_mut(target).ok_or(Errno::Inval)?;
    if p.ctx.pager != Some(me) {
        return Err(Errno::Perm);
    }
    let Some(held) = p.ctx.held else {
        return Err(Errno::Inval);
    };
    match f.rdx {
        abi::PAGEFIX_RETRY => {}
        abi::PAGEFIX_COW => {
            let broken = FRAMES.with(|fa| p.ctx.space.make_writable(fa, f.rsi));
            match broken {
                Ok(CowBreak::Writable | CowBreak::Reused | CowBreak::Copied) => {}
                Err(MapError::Frames(_)) => return Err(Errno::NoMem),
                Err(_) => return Err(Errno::Fault),
            }
        }
        abi::PAGEFIX_FAIL => {
            p.ctx.held = None;
            stop_other(k, target, held.fault);
            return Ok(0);
        }
        _ => return Err(Errno::Inval),
    }
    if let Some(p) = k.procs.get_mut(target) {
        p.ctx.held = None;
    }
    make_runnable(k, target);
    Ok(0)
}

/// `SigSend`: a signal becomes pending and the manager is told. A plain
/// user process (not the caller) is also held, not scheduled whatever its
/// IPC state, until the manager has taken its signals and `Resume`s it (or
/// kills it), so it cannot run on past the signal (VFS answers a write
/// `EPIPE` right after raising `SIGPIPE`). System processes are never held.
pub(super) fn sig_send(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    if !(1..64).contains(&f.rsi) {
        return Err(Errno::Inval);
    }
    let p = k.procs.get_mut(target).ok_or(Errno::Inval)?;
    let mgr = p.ctx.signal_manager.ok_or(Errno::Inval)?;
    p.ctx.pending_sigs |= 1 << f.rsi;
    let mut wakes = Vec::new();
    let r = k.ipc.notify(SYSTEM_SLOT, mgr, k.ticks, &mut wakes);
    apply_wakes(k, wakes);
    r.map_err(|e| e.errno())?;
    let plain_user = k.ipc.privileges(target).is_some_and(|p| p.servers);
    if plain_user
        && target != slot
        && let Some(p) = k.procs.get_mut(target)
    {
        p.ctx.sig_held = true;
        k.rq.dequeue(target);
    }
    Ok(0)
}

/// `SigPending`: hands one managed process's pending signals to its
/// manager (the caller).
pub(super) fn sig_pending(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let me = k.procs.get(slot).ok_or(Errno::Inval)?.endpoint;
    let found = (0..kernel_core::process::NR_PROCS).find(|&s| {
        k.procs
            .get(s)
            .is_some_and(|p| p.ctx.signal_manager == Some(me) && p.ctx.pending_sigs != 0)
    });
    let Some(s) = found else { return Ok(0) };
    let p = k.procs.get(s).ok_or(Errno::Inval)?;
    let out = le_words([u64::from(p.endpoint.0), p.ctx.pending_sigs]);
    write_to(k, slot, f.rdi, &out)?;
    if let Some(p) = k.procs.get_mut(s) {
        p.ctx.pending_sigs = 0;
    }
    Ok(1)
}

/// `SetSigMgr`: live `rsi` becomes the signal manager of live `rdi`.
pub(super) fn set_sigmgr(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let mgr = Endpoint(f.rsi as u32);
    live_slot(k, mgr)?;
    if let Some(p) = k.procs.get_mut(target) {
        p.ctx.signal_manager = Some(mgr);
    }
    Ok(0)
}

/// Page-fault error code bits: a protection violation on a present page,
/// a write, from user mode.
const PF_PRESENT_WRITE_USER: u64 = 0b111;

pub(super) fn user_fault(k: &mut Kernel, frame: &mut TrapFrame) {
    let slot = current(k);
    // Keep the registers at the fault for the signal manager (`ProcInfo`).
    if let Some(p) = k.procs.get_mut(slot) {
        p.ctx.frame = *frame;
    }
    let fault = describe(frame);
    if fault.kind == FaultKind::PageFault {
        // A write that needs no copy — through a page table a fork
        // shares (made this process's own), or to a copy-on-write page
        // whose frame no other space uses any more (made writable in
        // place) — is resolved here and runs again; a page that still
        // needs a copy goes to the pager (`PageFix` COW).
        if frame.error & PF_PRESENT_WRITE_USER == PF_PRESENT_WRITE_USER
            && let Some(addr) = fault.addr
            && let Some(p) = k.procs.get_mut(slot)
            && FRAMES.with(|fa| p.ctx.space.resolve_write_fault(fa, addr))
        {
            return;
        }
        if let Some(pager) = live_pager(k, slot) {
            hold_for_pager(k, slot, fault, pager);
            switch_away(k, frame);
            return;
        }
        // No pager: a write to a copy-on-write page is resolved here and
        // the instruction runs again.
        if frame.error & PF_PRESENT_WRITE_USER == PF_PRESENT_WRITE_USER
            && let Some(addr) = fault.addr
            && let Some(p) = k.procs.get_mut(slot)
            && FRAMES
                .with(|fa| p.ctx.space.make_writable(fa, addr))
                .is_ok()
        {
            return;
        }
    }
    terminate(k, slot, fault);
    switch_away(k, frame);
}

/// The pager of the process in `slot`, if it has one that is alive.
fn live_pager(k: &Kernel, slot: usize) -> Option<Endpoint> {
    let pager = k.procs.get(slot)?.ctx.pager?;
    live_slot(k, pager).ok().map(|_| pager)
}

/// Holds the process in `slot` (not current any more, or about to be
/// switched away from) with `fault` for its live `pager`: it stays alive
/// and in IPC as it was, is not scheduled, and the pager is notified from
/// SYSTEM. If the notification cannot be made the fault is ordinary.
fn hold_for_pager(k: &mut Kernel, slot: usize, fault: Fault, pager: Endpoint) {
    if let Some(p) = k.procs.get_mut(slot) {
        p.ctx.held = Some(HeldFault {
            fault,
            reported: false,
        });
    }
    k.rq.dequeue(slot);
    let mut wakes = Vec::new();
    let told = k
        .ipc
        .notify(SYSTEM_SLOT, pager, k.ticks, &mut wakes)
        .is_ok();
    apply_wakes(k, wakes);
    if !told {
        if let Some(p) = k.procs.get_mut(slot) {
            p.ctx.held = None;
        }
        terminate(k, slot, fault);
    }
}

/// Stops a process other than the current one (`terminate`) and frees it
/// at once unless its signal manager keeps it.
pub(super) fn stop_other(k: &mut Kernel, slot: usize, fault: Fault) {
    terminate(k, slot, fault);
    if k.procs.current() != Some(slot)
        && k.procs
            .get(slot)
            .is_some_and(|p| p.ctx.signal_manager.is_none())
        && let Some(old) = k.procs.release(slot)
    {
        // Not current, so its page tables are not loaded.
        FRAMES.with(|fa| old.ctx.space.destroy(fa));
    }
}

/// Stops the process in `slot` (a fault, or a `Kill`): reports it, takes it
/// off the run queues and out of IPC (waking its peers), and, if it has a
/// live signal manager, keeps it and notifies the manager. The caller
/// frees an unkept process (`switch_away` for the current one).
fn terminate(k: &mut Kernel, slot: usize, fault: Fault) {
    let name = &k.procs.get(slot).expect("live slot").name;
    kprintln!("kernel: process '{name}' killed: {fault}");
    if k.options.strict {
        k.failed = true;
    }
    check_critical(k, slot);
    k.procs.kill(slot, fault).expect("live slot");
    if let Some(p) = k.procs.get_mut(slot) {
        p.ctx.held = None;
    }
    k.rq.remove(slot);
    process_gone(k, slot);
    if report_to_manager(k, slot, fault.kind.signal())
        && let Some(mgr) = k.procs.get(slot).and_then(|p| p.ctx.signal_manager)
    {
        kprintln!("kernel: fault reported to signal manager {:#x}", mgr.0);
    }
}

/// A process in `slot` stopped (fault, `Kill`, or `Exit`: `signal` is
/// then `abi::SIG_EXIT`): the signal becomes pending, and if it has a
/// live signal manager it is kept for it and the manager is told
/// (notification from SYSTEM). Returns whether a manager was told; if
/// not, the process is not kept (the caller frees it).
pub(super) fn report_to_manager(k: &mut Kernel, slot: usize, signal: u64) -> bool {
    let manager = k.procs.get(slot).and_then(|p| p.ctx.signal_manager);
    if let Some(p) = k.procs.get_mut(slot) {
        p.ctx.pending_sigs |= 1 << signal;
    }
    let Some(mgr) = manager else { return false };
    let mut wakes = Vec::new();
    let told = k.ipc.notify(SYSTEM_SLOT, mgr, k.ticks, &mut wakes).is_ok();
    if !told && let Some(p) = k.procs.get_mut(slot) {
        p.ctx.signal_manager = None; // manager gone: nothing to keep it for
    }
    apply_wakes(k, wakes);
    told
}

/// `Kill`: stops another process (or the caller itself).
pub(super) fn kill(k: &mut Kernel, caller: usize, frame: &mut TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(frame.rdi as u32))?;
    let fault = Fault {
        kind: FaultKind::Killed,
        error_code: 0,
        rip: k.procs.get(target).map_or(0, |p| p.ctx.frame.rip),
        addr: None,
    };
    terminate(k, target, fault);
    if target == caller {
        switch_away(k, frame);
        return Ok(0);
    }
    if k.procs
        .get(target)
        .is_some_and(|p| p.ctx.signal_manager.is_none())
        && let Some(old) = k.procs.release(target)
    {
        // Not the current process, so its page tables are not loaded.
        FRAMES.with(|fa| old.ctx.space.destroy(fa));
    }
    Ok(0)
}

/// The death of a process named in `critical=` is fatal for the system.
pub(super) fn check_critical(k: &Kernel, slot: usize) {
    if let Some(p) = k.procs.get(slot)
        && k.options.critical.contains(&p.name)
    {
        panic!("critical process '{}' died", p.name);
    }
}
