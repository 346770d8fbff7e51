//! System-call dispatch: checks the caller may make the call and runs it;
//! small calls are handled inline, the others in the modules by concern.

use crate::arch::phys;
use crate::arch::trap::TrapFrame;
use crate::arch::{boot, cpu, serial};
use crate::kprintln;
use abi::{Errno, Syscall};
use alloc::vec::Vec;
use kernel_core::frame::FRAME_SIZE;
use kernel_core::grant::GrantId;
use kernel_core::ipc::Completion;
use kernel_core::process::Endpoint;
use kernel_core::range::AddrRange;

use super::fault::{
    check_critical, kill, page_faults, page_fix, report_to_manager, set_pager, set_sigmgr,
    sig_pending, sig_send,
};
use super::grant::{grant_create, safecopy, vircopy};
use super::ipc::{apply_wakes, ipc_call};
use super::memory::{
    boot_modules, clear_space, clone_space, dma_alloc, le_words, map_pages, map_phys, mem_map,
    module_map, protect, share_pages, umap, umap_grant, unmap, write_to,
};
use super::privileges::{
    dev_io, dev_io_rep, is_plain_user, own_window_map, set_io_priv, set_irq_priv, set_mem_priv,
    set_priv,
};
use super::process::{
    fork, get_regs, proc_fork, proc_info, process_gone, set_entry, set_name, set_regs, spawn, stop,
    times, update, whois,
};
use super::sched::{finish_run, make_runnable, switch_away};
use super::{FRAMES, Kernel, current, live_slot};

pub(super) fn syscall(k: &mut Kernel, frame: &mut TrapFrame) {
    let slot = current(k);
    let call = match Syscall::try_from(frame.rax) {
        Ok(call) => call,
        Err(e) => {
            frame.rax = e.to_return();
            return;
        }
    };
    if call.is_kernel_call()
        && !k
            .ipc
            .privileges(slot)
            .is_some_and(|p| p.may_call(call as u32))
        && !own_window_map(k, slot, call, frame)
    {
        frame.rax = Errno::Perm.to_return();
        return;
    }
    let result = match call {
        Syscall::DebugPrint => debug_print(k, slot, frame.rdi, frame.rsi),
        Syscall::Exit => {
            let code = frame.rdi as i32;
            let p = k.procs.get(slot).expect("current slot");
            // A plain user with a manager (PM) is reported there, as every
            // exit of a shell command is: a console line each would land in
            // the middle of the user's terminal session.
            if !(is_plain_user(k, slot) && p.ctx.signal_manager.is_some()) {
                let name = &p.name;
                kprintln!("kernel: process '{name}' exited with code {code}");
            }
            if code != 0 && k.options.strict {
                k.failed = true;
            }
            check_critical(k, slot);
            // Kept for a signal manager: the registers at the exit.
            if let Some(p) = k.procs.get_mut(slot) {
                p.ctx.frame = *frame;
            }
            // Plain user processes always report to PM: their exits are
            // routine (one console line each; the serial port costs
            // microseconds per byte under QEMU).
            let plain = is_plain_user(k, slot);
            k.procs.exit(slot, code).expect("current slot");
            k.rq.remove(slot);
            process_gone(k, slot);
            // A managed process is kept and reported like a faulted one.
            let kept = report_to_manager(k, slot, abi::SIG_EXIT);
            if kept && !plain {
                kprintln!("kernel: exit reported to signal manager");
            }
            // A plain user's memory is of no use to its manager (PM needs
            // its registers and exit code; `Update` of a kept space is for
            // services): it is freed now, not at `Release`, so the pages
            // its parent shares stop being shared at once (the parent's
            // next writes need no copy) and the memory is free before the
            // parent's `wait` returns. Its page tables stay until `Release`.
            if kept
                && plain
                && let Some(p) = k.procs.get_mut(slot)
            {
                FRAMES.with(|fa| p.ctx.space.clear(fa));
            }
            switch_away(k, frame);
            return;
        }
        Syscall::Send | Syscall::SendNb | Syscall::SendRec | Syscall::Receive | Syscall::SendA => {
            match ipc_call(k, slot, call, frame.rdi, frame.rsi, frame.rdx) {
                Ok(Some(Completion::Blocked)) => {
                    k.procs.set_blocked(slot, true).expect("current slot");
                    k.rq.dequeue(slot);
                    switch_away(k, frame);
                    return;
                }
                Ok(_) => Ok(0),
                Err(e) => Err(e),
            }
        }
        Syscall::Notify => {
            let mut wakes = Vec::new();
            let r = k
                .ipc
                .notify(slot, Endpoint(frame.rdi as u32), k.ticks, &mut wakes)
                .map(|()| 0)
                .map_err(|e| e.errno());
            apply_wakes(k, wakes);
            r
        }
        Syscall::WhoIs => whois(k, slot, frame.rdi, frame.rsi),
        Syscall::GrantCreate => grant_create(k, slot, frame),
        Syscall::GrantRevoke => match k.procs.get_mut(slot) {
            Some(p) => p
                .ctx
                .grants
                .revoke(GrantId(frame.rdi as u32))
                .map(|()| 0)
                .map_err(|e| e.errno()),
            None => Err(Errno::Inval),
        },
        Syscall::SafeCopyFrom | Syscall::SafeCopyTo => {
            safecopy(k, slot, frame, call == Syscall::SafeCopyTo)
        }
        Syscall::SetAlarm => {
            let ticks = k.ticks;
            match k.procs.get_mut(slot) {
                Some(p) => {
                    p.ctx.alarm = (frame.rdi != 0).then(|| ticks.saturating_add(frame.rdi));
                    Ok(0)
                }
                None => Err(Errno::Inval),
            }
        }
        Syscall::Uptime => Ok(k.ticks),
        Syscall::BootTime => Ok(k.boot_time),
        Syscall::IrqHook => match k.procs.get(slot).map(|p| p.ctx.hw.may_hook(frame.rdi)) {
            Some(Ok(line))
                if frame.rsi & !abi::IRQ_HOOK_MASK_ON_FIRE != 0
                    || (line == 0 && frame.rsi != 0) =>
            {
                Err(Errno::Inval)
            }
            Some(Ok(line)) => {
                k.irq_hooks[usize::from(line)] |= 1 << slot;
                if frame.rsi & abi::IRQ_HOOK_MASK_ON_FIRE != 0 {
                    k.irq_mask_on_fire[usize::from(line)] |= 1 << slot;
                    cpu::set_level_triggered(line);
                } else {
                    k.irq_mask_on_fire[usize::from(line)] &= !(1u64 << slot);
                }
                cpu::unmask_irq(line);
                Ok(0)
            }
            Some(Err(e)) => Err(e.errno()),
            None => Err(Errno::Inval),
        },
        Syscall::SetPriv => set_priv(k, frame),
        Syscall::Spawn => spawn(k, slot, frame),
        Syscall::SetSigMgr => set_sigmgr(k, frame),
        Syscall::Update => update(k, frame),
        Syscall::SetPriority => {
            let target = live_slot(k, Endpoint(frame.rdi as u32));
            match target {
                Ok(t) => match usize::try_from(frame.rsi) {
                    Ok(prio) => {
                        k.rq.configure(t, prio, u32::try_from(frame.rdx).unwrap_or(u32::MAX))
                            .map(|()| 0)
                            .map_err(|_| Errno::Inval)
                    }
                    Err(_) => Err(Errno::Inval),
                },
                Err(e) => Err(e),
            }
        }
        Syscall::SetIoPriv => set_io_priv(k, frame),
        Syscall::DevIo => dev_io(k, slot, frame),
        Syscall::DevIoRep => dev_io_rep(k, slot, frame),
        Syscall::Kill => {
            let r = kill(k, slot, frame);
            if k.procs.current() != Some(slot) {
                // The caller killed itself; `frame` now belongs to the next
                // process and must not get this call's result.
                return;
            }
            r
        }
        Syscall::MapPages => map_pages(k, frame),
        Syscall::IrqUnhook => match u8::try_from(frame.rdi) {
            Ok(line) if line < 16 => {
                k.irq_mask_on_fire[usize::from(line)] &= !(1u64 << slot);
                let hooks = &mut k.irq_hooks[usize::from(line)];
                *hooks &= !(1u64 << slot);
                if *hooks == 0 {
                    cpu::mask_irq(line);
                }
                Ok(0)
            }
            _ => Err(Errno::Inval),
        },
        Syscall::BootModules => boot_modules(k, slot, frame),
        Syscall::Times => times(k, slot, frame),
        Syscall::MemMap => mem_map(k, slot, frame),
        Syscall::SetIrqPriv => set_irq_priv(k, frame),
        Syscall::SetMemPriv => set_mem_priv(k, frame),
        Syscall::MapPhys => map_phys(k, frame),
        Syscall::Unmap => unmap(k, frame),
        Syscall::ClearSpace => clear_space(k, frame),
        Syscall::CloneSpace => clone_space(k, frame),
        Syscall::Fork => fork(k, slot, frame),
        Syscall::SetEntry => set_entry(k, slot, frame),
        Syscall::SigSend => sig_send(k, slot, frame),
        Syscall::SigPending => sig_pending(k, slot, frame),
        Syscall::ProcInfo => proc_info(k, slot, frame),
        Syscall::DmaAlloc => dma_alloc(k, slot, frame),
        Syscall::UMap => umap(k, slot, frame),
        Syscall::UMapGrant => umap_grant(k, slot, frame),
        Syscall::ModuleMap => module_map(k, slot, frame),
        Syscall::IrqCtl => match u8::try_from(frame.rdi) {
            Ok(line)
                if line > 0
                    && line < 16
                    && k.irq_hooks[usize::from(line)] & (1u64 << slot) != 0 =>
            {
                match frame.rsi {
                    0 => {
                        cpu::mask_irq(line);
                        Ok(0)
                    }
                    1 => {
                        cpu::unmask_irq(line);
                        Ok(0)
                    }
                    _ => Err(Errno::Inval),
                }
            }
            _ => Err(Errno::Inval),
        },
        Syscall::Release => {
            let ep = Endpoint(frame.rdi as u32);
            match k.procs.get(ep.slot()) {
                Some(p) if p.endpoint == ep && p.is_alive() => Err(Errno::Inval),
                Some(p) if p.endpoint == ep && ep.slot() != slot => {
                    // Dead and kept (an unkept dead process is already
                    // freed); never current, so its tables are not loaded.
                    if let Some(old) = k.procs.release(ep.slot()) {
                        FRAMES.with(|fa| old.ctx.space.destroy(fa));
                    }
                    Ok(0)
                }
                _ => Err(Errno::DeadSrcDst),
            }
        }
        Syscall::VirCopy => vircopy(k, slot, frame),
        Syscall::ProcFork => proc_fork(k, slot, frame),
        Syscall::Stop => stop(k, slot, frame),
        Syscall::Resume => live_slot(k, Endpoint(frame.rdi as u32)).map(|target| {
            if let Some(p) = k.procs.get_mut(target) {
                p.ctx.stopped = false;
                // A `SigSend` hold ends once the manager took the signals;
                // one raised since keeps it held until that is taken too.
                if p.ctx.pending_sigs == 0 {
                    p.ctx.sig_held = false;
                }
            }
            make_runnable(k, target);
            0
        }),
        Syscall::GetRegs => get_regs(k, slot, frame),
        Syscall::SetRegs => set_regs(k, slot, frame),
        Syscall::SetPager => set_pager(k, frame),
        Syscall::PageFaults => page_faults(k, slot, frame),
        Syscall::PageFix => page_fix(k, slot, frame),
        Syscall::Protect => protect(k, frame),
        Syscall::SetName => set_name(k, slot, frame),
        Syscall::SharePages => share_pages(k, frame),
        Syscall::MemStats => {
            // Pages mapped through page tables a fork shares count as
            // shared (their own count is 1), the shared tables themselves
            // do not (only user pages are counted).
            let st = FRAMES.with(|fa| {
                let mut seen = Vec::new();
                let mut st = fa.stats();
                for s in 0..kernel_core::process::NR_PROCS {
                    if let Some(p) = k.procs.get(s) {
                        st.shared += p.ctx.space.pages_in_shared_tables(fa, &mut seen);
                    }
                }
                st.shared = st.shared.saturating_sub(seen.len() as u64);
                st
            });
            let words = [st.total, st.free, st.shared, st.cow_copies, st.cow_reuses];
            let words: [u64; abi::MEMSTATS_WORDS] = words;
            write_to(k, slot, frame.rdi, &le_words(words)).map(|()| 0)
        }
        Syscall::SlotOwner => {
            let ep = Endpoint(frame.rdi as u32);
            match k.procs.get(ep.slot()) {
                Some(p) if p.is_alive() && ep.slot() >= kernel_core::process::FIRST_USER_SLOT => {
                    Ok(u64::from(p.endpoint.0))
                }
                _ => Err(Errno::DeadSrcDst),
            }
        }
        Syscall::Shutdown => {
            let name = &k.procs.get(slot).expect("current slot").name;
            kprintln!(
                "kernel: shutdown requested by '{name}' (verdict {})",
                frame.rdi
            );
            if frame.rdi != 0 {
                k.failed = true;
            }
            cpu::write_cr3(boot::boot_pml4_phys());
            finish_run(k);
        }
    };
    frame.rax = match result {
        Ok(v) => v,
        Err(e) => e.to_return(),
    };
}

/// Prints the caller's buffer, each line prefixed with `[name] `. The
/// whole buffer is checked before anything is printed.
fn debug_print(k: &Kernel, slot: usize, addr: u64, len: u64) -> Result<u64, Errno> {
    let p = k.procs.get(slot).ok_or(Errno::Inval)?;
    if len > abi::MAX_DEBUG_PRINT as u64 {
        return Err(Errno::Inval);
    }
    let range = AddrRange::from_len(addr, len).ok_or(Errno::Fault)?;
    let pages = range.page_aligned(FRAME_SIZE);
    for page in (pages.start..pages.end).step_by(FRAME_SIZE as usize) {
        p.ctx.space.translate(page).ok_or(Errno::Fault)?;
    }
    let mut at_line_start = true;
    let mut va = range.start;
    while va < range.end {
        // Saturating: a range in the last page of the address space (which
        // `page_aligned` cannot cover, so it was not pre-checked) fails in
        // `translate` below instead of overflowing here.
        let chunk_end = (va | (FRAME_SIZE - 1)).saturating_add(1);
        let n = (chunk_end.min(range.end) - va) as usize;
        let pa = p.ctx.space.translate(va).ok_or(Errno::Fault)?;
        for &b in phys::read(pa, n) {
            if at_line_start {
                serial::write_bytes(b"[");
                serial::write_bytes(p.name.as_bytes());
                serial::write_bytes(b"] ");
            }
            serial::write_byte(b);
            at_line_start = b == b'\n';
        }
        va += n as u64;
    }
    if !at_line_start {
        serial::write_byte(b'\n');
    }
    Ok(len)
}
