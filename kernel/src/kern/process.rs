//! Process slots: fork, spawn and update (restarts), stop, registers,
//! entry, information, times, names, and the end of a process.

use crate::arch::cpu;
use crate::arch::paging::AddressSpace;
use crate::arch::trap::TrapFrame;
use crate::kprintln;
use abi::Errno;
use alloc::vec::Vec;
use kernel_core::fault::Fault;
use kernel_core::ipc::Source;
use kernel_core::process::{Endpoint, ProcState};

use super::fault::stop_other;
use super::ipc::apply_wakes;
use super::memory::{le_words, write_to};
use super::privileges::{find_named, is_plain_user, refresh_servers};
use super::sched::make_runnable;
use super::start::{boot_privileges, load_program};
use super::{
    Ctx, DEFAULT_PRIORITY, FRAMES, Kernel, QUANTUM_TICKS, USER_RFLAGS, live_slot, target_slot,
};

/// A process finished: drop it from IPC, waking everyone blocked on it.
pub(super) fn process_gone(k: &mut Kernel, slot: usize) {
    // A plain user never counts as a server: its end changes nothing.
    let server_slots_change = !is_plain_user(k, slot);
    let bit = 1u64 << slot;
    for line in 0..16u8 {
        let had = k.irq_hooks[usize::from(line)] & bit != 0;
        k.irq_hooks[usize::from(line)] &= !bit;
        k.irq_mask_on_fire[usize::from(line)] &= !bit;
        // As `IrqUnhook`: a line nobody hooks any more is masked, or a
        // level-triggered device the dead driver left asserting (a request
        // completing after the crash) would storm until a new instance
        // hooks the line again, and nothing else would run.
        if had && k.irq_hooks[usize::from(line)] == 0 {
            cpu::mask_irq(line);
        }
    }
    let mut wakes = Vec::new();
    // The slot was registered when the process was spawned.
    if k.ipc.remove(slot, &mut wakes).is_ok() {
        apply_wakes(k, wakes);
    }
    // Faults held for it as a pager can never be fixed: they fail like
    // ordinary page faults.
    if let Some(dead) = k.procs.get(slot).map(|p| p.endpoint) {
        let orphans: Vec<(usize, Fault)> = (0..kernel_core::process::NR_PROCS)
            .filter(|&s| s != slot)
            .filter_map(|s| k.procs.get(s).map(|p| (s, p)))
            .filter(|(_, p)| p.is_alive() && p.ctx.pager == Some(dead))
            .filter_map(|(s, p)| p.ctx.held.map(|h| (s, h.fault)))
            .collect();
        for (s, fault) in orphans {
            stop_other(k, s, fault);
        }
        // `SigSend` holds wait for a manager that is gone: they end (a
        // restarted manager takes what is still pending and resumes).
        let held: Vec<usize> = (0..kernel_core::process::NR_PROCS)
            .filter(|&s| s != slot)
            .filter(|&s| {
                k.procs
                    .get(s)
                    .is_some_and(|p| p.ctx.sig_held && p.ctx.signal_manager == Some(dead))
            })
            .collect();
        for s in held {
            if let Some(p) = k.procs.get_mut(s) {
                p.ctx.sig_held = false;
            }
            make_runnable(k, s);
        }
    }
    if server_slots_change {
        refresh_servers(k);
    }
}

/// `Times`: user ticks, system ticks, system cycles and uptime.
pub(super) fn times(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let target = target_slot(k, slot, f.rdi)?;
    let t = k.procs.get(target).ok_or(Errno::Inval)?.ctx.times;
    let words = [
        t.user_ticks,
        t.sys_ticks(k.tsc.per_tick()),
        t.sys_cycles,
        k.ticks,
    ];
    let out: [u64; abi::TIMES_WORDS] = words;
    write_to(k, slot, f.rsi, &le_words(out))?;
    Ok(0)
}

/// `Fork`: a copy of the caller in a new slot; the child gets 0.
pub(super) fn fork(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    if !k.procs.has_free_slot() {
        return Err(Errno::Inval);
    }
    let parent = k.procs.get(slot).ok_or(Errno::Inval)?;
    let child_space = FRAMES.with(|fa| {
        let mut space = AddressSpace::new(fa)?;
        match space.clone_from(fa, &parent.ctx.space) {
            Ok(()) => Ok(space),
            Err(e) => {
                space.destroy(fa);
                Err(e)
            }
        }
    });
    let space = child_space.map_err(|_| Errno::Inval)?;
    let ctx = Ctx {
        signal_manager: parent.ctx.signal_manager,
        io_ranges: parent.ctx.io_ranges.clone(),
        pager: parent.ctx.pager,
        ..Ctx::new(TrapFrame { rax: 0, ..*f }, space, parent.ctx.hw.clone())
    };
    let name = parent.name.clone();
    let privileges = k.ipc.privileges(slot).unwrap_or_else(boot_privileges);
    let ep = match k.procs.spawn(&name, ctx) {
        Ok(ep) => ep,
        Err(_) => return Err(Errno::Inval),
    };
    if let Err(e) = k.ipc.add(ep, privileges) {
        panic!("IPC table out of step with the process table: {e:?}");
    }
    if k.rq
        .configure(ep.slot(), DEFAULT_PRIORITY, QUANTUM_TICKS)
        .is_err()
    {
        return Err(Errno::Inval);
    }
    make_runnable(k, ep.slot());
    refresh_servers(k);
    kprintln!("kernel: '{name}' forked as slot {}", ep.slot());
    Ok(u64::from(ep.0))
}

/// `ProcFork`: a copy-on-write child of live `rdi`, stopped, with the
/// parent's saved registers (the caller's own registers when it forks
/// itself).
pub(super) fn proc_fork(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let parent = live_slot(k, Endpoint(f.rdi as u32))?;
    if !k.procs.has_free_slot() {
        return Err(Errno::Again);
    }
    let mut child_space = FRAMES.with(AddressSpace::new).map_err(|_| Errno::NoMem)?;
    let p = k.procs.get_mut(parent).ok_or(Errno::Inval)?;
    // The parent's page tables become shared with the child (read-only in
    // both directories); `share_into` reloads CR3 when the parent is the
    // running caller.
    let shared = FRAMES.with(|fa| p.ctx.space.share_into(fa, &mut child_space));
    if shared.is_err() {
        FRAMES.with(|fa| child_space.destroy(fa));
        return Err(Errno::NoMem);
    }
    let p = k.procs.get(parent).ok_or(Errno::Inval)?;
    let regs = if parent == slot { *f } else { p.ctx.frame };
    let ctx = Ctx {
        signal_manager: p.ctx.signal_manager,
        io_ranges: p.ctx.io_ranges.clone(),
        pager: p.ctx.pager,
        stopped: true,
        ..Ctx::new(regs, child_space, p.ctx.hw.clone())
    };
    let name = p.name.clone();
    let privileges = k.ipc.privileges(parent).unwrap_or_else(boot_privileges);
    let ep = match k.procs.spawn(&name, ctx) {
        Ok(ep) => ep,
        // Checked above; the space is in the refused context, gone with it.
        Err(_) => return Err(Errno::Again),
    };
    if let Err(e) = k.ipc.add(ep, privileges) {
        panic!("IPC table out of step with the process table: {e:?}");
    }
    if let Err(e) = k.rq.configure(ep.slot(), DEFAULT_PRIORITY, QUANTUM_TICKS) {
        panic!("run queues out of step with the process table: {e:?}");
    }
    // A plain user never counts as a server: its fork changes nothing.
    if !privileges.servers {
        refresh_servers(k);
    }
    Ok(u64::from(ep.0))
}

/// `Stop`: live `rdi` (not the caller) is no longer scheduled; returns
/// whom it is blocked on in IPC.
pub(super) fn stop(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    if target == slot {
        return Err(Errno::Inval);
    }
    if let Some(p) = k.procs.get_mut(target) {
        p.ctx.stopped = true;
    }
    k.rq.dequeue(target);
    Ok(u64::from(match k.ipc.blocked_on(target) {
        None => abi::ENDPOINT_NONE,
        Some(Source::Any) => abi::ENDPOINT_ANY,
        Some(Source::Ep(ep)) => ep.0,
    }))
}

/// The `GetRegs` words of a register frame.
fn regs_of(t: &TrapFrame) -> [u64; abi::REGS_WORDS] {
    [
        t.rax, t.rbx, t.rcx, t.rdx, t.rsi, t.rdi, t.rbp, t.r8, t.r9, t.r10, t.r11, t.r12, t.r13,
        t.r14, t.r15, t.rip, t.rsp, t.rflags,
    ]
}

/// RFLAGS bits a process may set through `SetRegs`: CF, PF, AF, ZF, SF,
/// DF and OF (no TF, IOPL, AC, ...).
const USER_SET_FLAGS: u64 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x400 | 0x800;

/// `GetRegs`: the saved registers of live `rdi` (the caller's own live
/// registers if it names itself).
pub(super) fn get_regs(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let target = target_slot(k, slot, f.rdi)?;
    let regs = if target == slot {
        regs_of(f)
    } else {
        regs_of(&k.procs.get(target).ok_or(Errno::Inval)?.ctx.frame)
    };
    write_to(k, slot, f.rsi, &le_words(regs))?;
    Ok(0)
}

/// `SetRegs`: new registers for stopped `rdi`, sanitized; a pending IPC
/// call of it is abandoned and a held page fault dropped.
pub(super) fn set_regs(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    if target == slot || !k.procs.get(target).is_some_and(|p| p.ctx.stopped) {
        return Err(Errno::Inval);
    }
    let mut bytes = [0u8; abi::REGS_WORDS * 8];
    let space = &k.procs.get(slot).ok_or(Errno::Inval)?.ctx.space;
    space.read_user(f.rsi, &mut bytes).ok_or(Errno::Fault)?;
    let mut w = [0u64; abi::REGS_WORDS];
    for (w, chunk) in w.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
    let (rip, rsp) = (w[abi::REG_RIP], w[abi::REG_RSP]);
    if !(abi::USER_BASE..abi::USER_END).contains(&rip)
        || !(abi::USER_BASE..=abi::USER_END).contains(&rsp)
    {
        return Err(Errno::Inval);
    }
    if k.ipc.cancel(target).map_err(|e| e.errno())? {
        k.procs
            .set_blocked(target, false)
            .map_err(|_| Errno::Inval)?;
    }
    let p = k.procs.get_mut(target).ok_or(Errno::Inval)?;
    p.ctx.frame = TrapFrame {
        rax: w[0],
        rbx: w[1],
        rcx: w[2],
        rdx: w[3],
        rsi: w[4],
        rdi: w[5],
        rbp: w[6],
        r8: w[7],
        r9: w[8],
        r10: w[9],
        r11: w[10],
        r12: w[11],
        r13: w[12],
        r14: w[13],
        r15: w[14],
        rip,
        rsp,
        rflags: (w[abi::REG_RFLAGS] & USER_SET_FLAGS) | USER_RFLAGS,
        cs: cpu::USER_CS,
        ss: cpu::USER_DS,
        vector: 0,
        error: 0,
    };
    p.ctx.recv_buf = None;
    p.ctx.held = None;
    Ok(0)
}

/// `ProcInfo`: state, stop signal and registers of a live or kept process.
pub(super) fn proc_info(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let ep = Endpoint(f.rdi as u32);
    let p = k
        .procs
        .get(ep.slot())
        .filter(|p| p.endpoint == ep)
        .ok_or(Errno::DeadSrcDst)?;
    let (state, signal, addr, error) = match p.state {
        ProcState::Runnable => (abi::PROC_RUNNABLE, 0, 0, 0),
        ProcState::Blocked => (abi::PROC_BLOCKED, 0, 0, 0),
        ProcState::Killed(fault) => (
            abi::PROC_STOPPED,
            fault.kind.signal(),
            fault.addr.unwrap_or(0),
            fault.error_code,
        ),
        // Kept for its manager (an unmanaged exited process is freed).
        ProcState::Exited(code) => (abi::PROC_EXITED, 0, 0, i64::from(code) as u64),
    };
    let rip = match p.state {
        ProcState::Killed(fault) => fault.rip,
        _ => p.ctx.frame.rip,
    };
    let words: [u64; abi::PROCINFO_WORDS] = [state, signal, rip, p.ctx.frame.rsp, addr, error];
    write_to(k, slot, f.rsi, &le_words(words))?;
    Ok(0)
}

/// `SetEntry`: fresh registers for another live process, which becomes
/// runnable; an IPC call it was blocked in (an exec request to PM, say) is
/// abandoned.
pub(super) fn set_entry(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    if target == slot {
        return Err(Errno::Inval);
    }
    if k.ipc.cancel(target).map_err(|e| e.errno())? {
        k.procs
            .set_blocked(target, false)
            .map_err(|_| Errno::Inval)?;
    }
    let p = k.procs.get_mut(target).ok_or(Errno::Inval)?;
    p.ctx.frame = TrapFrame {
        rip: f.rsi,
        cs: cpu::USER_CS,
        rflags: USER_RFLAGS,
        rsp: f.rdx,
        ss: cpu::USER_DS,
        rdi: f.r10,
        rsi: f.r8,
        ..TrapFrame::default()
    };
    p.ctx.recv_buf = None;
    // A page fault held for the pager belonged to the old registers.
    p.ctx.held = None;
    make_runnable(k, target);
    Ok(0)
}

/// `Spawn`: a new process from a boot module, by module name.
pub(super) fn spawn(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    if f.rsi > 64 || f.r10 > abi::MAX_ARGS_LEN as u64 || f.r8 & !abi::SPAWN_STOPPED != 0 {
        return Err(Errno::Inval);
    }
    let space = &k.procs.get(slot).ok_or(Errno::Inval)?.ctx.space;
    let mut name = [0u8; 64];
    let mut args = [0u8; abi::MAX_ARGS_LEN];
    let (name, args) = (&mut name[..f.rsi as usize], &mut args[..f.r10 as usize]);
    space.read_user(f.rdi, name).ok_or(Errno::Fault)?;
    space.read_user(f.rdx, args).ok_or(Errno::Fault)?;
    let name = core::str::from_utf8(name).map_err(|_| Errno::Inval)?;
    let range = k
        .modules
        .iter()
        .find(|m| m.name() == name)
        .map(|m| m.range)
        .ok_or(Errno::Inval)?;
    if !k.procs.has_free_slot() {
        return Err(Errno::Inval);
    }
    let ctx = FRAMES
        .with(|fa| load_program(fa, range, args))
        .map_err(|e| {
            kprintln!("kernel: spawn of '{name}' failed: {e}");
            Errno::Inval
        })?;
    let ep = k.procs.spawn(name, ctx).map_err(|_| Errno::Inval)?;
    if let Err(e) = k.ipc.add(ep, boot_privileges()) {
        panic!("IPC table out of step with the process table: {e:?}");
    }
    if k.rq
        .configure(ep.slot(), DEFAULT_PRIORITY, QUANTUM_TICKS)
        .is_err()
    {
        return Err(Errno::Inval);
    }
    let stopped = f.r8 & abi::SPAWN_STOPPED != 0;
    if !stopped {
        make_runnable(k, ep.slot());
    }
    refresh_servers(k);
    kprintln!(
        "kernel: spawned '{name}' as slot {}{}",
        ep.slot(),
        if stopped { " (stopped)" } else { "" }
    );
    Ok(u64::from(ep.0))
}

/// `Update`: the live process `rsi` takes over endpoint `rdi`, whose
/// process died and was kept for its manager; with `UPDATE_KEEP_WINDOW`
/// the dead one's preserved window moves into the new one.
pub(super) fn update(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let old = Endpoint(f.rdi as u32);
    let new = Endpoint(f.rsi as u32);
    if f.rdx & !abi::UPDATE_KEEP_WINDOW != 0 {
        return Err(Errno::Inval);
    }
    let keep = f.rdx & abi::UPDATE_KEEP_WINDOW != 0;
    let old_slot = old.slot();
    match k.procs.get(old_slot) {
        Some(p) if p.endpoint == old && !p.is_alive() && p.ctx.signal_manager.is_some() => {}
        _ => return Err(Errno::DeadSrcDst),
    }
    let new_slot = live_slot(k, new)?;
    if k.ipc.is_blocked(new_slot) || k.procs.current() == Some(new_slot) {
        return Err(Errno::NotReady);
    }
    if keep
        && k.procs.get(new_slot).is_some_and(|p| {
            p.ctx
                .space
                .any_mapped(abi::PRESERVE_BASE, abi::PRESERVE_END)
        })
    {
        return Err(Errno::Inval);
    }
    let privileges = k.ipc.privileges(new_slot).unwrap_or_else(boot_privileges);
    process_gone(k, new_slot);
    k.rq.remove(new_slot);
    let dead = k
        .procs
        .take_over(old_slot, new_slot)
        .map_err(|_| Errno::Inval)?;
    let mut dead_space = dead.ctx.space;
    let moved = match k.procs.get_mut(old_slot) {
        // Neither space is loaded: the dead one is stopped and the new one
        // is not current (checked above).
        Some(p) if keep => FRAMES.with(|fa| {
            dead_space.move_pages_to(fa, &mut p.ctx.space, abi::PRESERVE_BASE, abi::PRESERVE_END)
        }),
        _ => Ok(0),
    };
    FRAMES.with(|fa| dead_space.destroy(fa));
    match moved {
        Ok(n) if keep => kprintln!("kernel: update kept {n} preserved pages"),
        Ok(_) => {}
        // Out of memory for page tables: the rest of the window is lost.
        Err(e) => kprintln!("kernel: update could not keep the preserved window: {e:?}"),
    }
    if let Err(e) = k.ipc.add(old, privileges) {
        panic!("IPC table out of step after update: {e:?}");
    }
    if k.rq
        .configure(old_slot, DEFAULT_PRIORITY, QUANTUM_TICKS)
        .is_err()
    {
        return Err(Errno::Inval);
    }
    make_runnable(k, old_slot);
    refresh_servers(k);
    let name = &k.procs.get(old_slot).expect("just moved in").name;
    kprintln!(
        "kernel: '{name}' (was slot {new_slot}) took over endpoint {:#x}",
        old.0
    );
    Ok(0)
}

/// Looks up a live process by name.
pub(super) fn whois(k: &Kernel, slot: usize, addr: u64, len: u64) -> Result<u64, Errno> {
    if len == 0 {
        // The empty name means the caller itself.
        return Ok(u64::from(k.procs.get(slot).ok_or(Errno::Inval)?.endpoint.0));
    }
    if len > 64 {
        return Err(Errno::Inval);
    }
    let mut name = [0u8; 64];
    let space = &k.procs.get(slot).ok_or(Errno::Inval)?.ctx.space;
    space
        .read_user(addr, &mut name[..len as usize])
        .ok_or(Errno::Fault)?;
    let name = core::str::from_utf8(&name[..len as usize]).map_err(|_| Errno::Inval)?;
    find_named(k, name)
        .map(|p| u64::from(p.endpoint.0))
        .ok_or(Errno::DeadSrcDst)
}

/// `SetName`: live process `rdi` gets the name in the `rdx` bytes at
/// `rsi` (PM: the program name after an exec). A plain user may not take
/// the name of a server plain users reach or of a `critical=` process.
pub(super) fn set_name(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let len = usize::try_from(f.rdx)
        .ok()
        .filter(|n| (1..=abi::MAX_PROC_NAME).contains(n))
        .ok_or(Errno::Inval)?;
    let mut buf = [0u8; abi::MAX_PROC_NAME];
    let space = &k.procs.get(slot).ok_or(Errno::Inval)?.ctx.space;
    space
        .read_user(f.rsi, &mut buf[..len])
        .ok_or(Errno::Fault)?;
    let name = kernel_core::process::valid_name(&buf[..len]).ok_or(Errno::Inval)?;
    if is_plain_user(k, target)
        && !kernel_core::process::plain_user_may_take(name, &k.options.critical)
    {
        return Err(Errno::Perm);
    }
    k.procs.rename(target, name).map_err(|_| Errno::Inval)?;
    refresh_servers(k);
    Ok(0)
}
