//! Hardware interrupts and the clock: hooked lines notify their drivers,
//! the clock counts ticks, fires alarms and preempts.

use crate::arch::cpu;
use crate::arch::trap::TrapFrame;
use alloc::vec::Vec;
use kernel_core::process::{CLOCK_SLOT, Endpoint, SYSTEM_SLOT};

use super::KERNEL;
use super::ipc::apply_wakes;
use super::sched::switch_away;

/// A hardware interrupt. Hooked lines notify their processes (from
/// SYSTEM); the clock (IRQ 0) also counts ticks, fires alarms (notify from
/// CLOCK) and preempts the running process when its quantum is used up. In
/// the idle context it switches to whatever became runnable.
pub(super) fn irq(frame: &mut TrapFrame, irq: u8) {
    // A level-triggered line that a driver hooked with
    // `IRQ_HOOK_MASK_ON_FIRE` stays asserted until the driver clears the
    // device's interrupt status: mask it before the EOI so it cannot storm;
    // the driver enables it again with `IrqCtl`.
    let mask_on_fire = KERNEL.with(|slot| {
        slot.as_ref().is_some_and(|k| {
            k.irq_mask_on_fire[usize::from(irq & 15)] & k.irq_hooks[usize::from(irq & 15)] != 0
        })
    });
    if mask_on_fire {
        cpu::mask_irq(irq);
    }
    if !cpu::ack_irq(irq) {
        if mask_on_fire {
            // Spurious: nothing fired, so the line stays as the driver left it.
            cpu::unmask_irq(irq);
        }
        return;
    }
    KERNEL.with(|slot| {
        let Some(k) = slot.as_mut() else { return };
        let mut wakes = Vec::new();
        let hooked = k.irq_hooks[usize::from(irq)];
        for s in (0..64).filter(|s| hooked & (1u64 << s) != 0) {
            if let Some(ep) = k.procs.get(s).map(|p| p.endpoint) {
                // A notification to a live process cannot fail.
                let _ = k.ipc.notify(SYSTEM_SLOT, ep, k.ticks, &mut wakes);
            }
        }
        if irq == 0 {
            k.tsc.tick(cpu::rdtsc());
            if frame.is_user()
                && let Some(p) = k.procs.current().and_then(|s| k.procs.get_mut(s))
            {
                p.ctx.times.user_ticks += 1;
                if let Some(prof) = k.profile.as_mut()
                    && prof.target == p.name
                {
                    prof.record(frame.rip);
                }
            }
            k.ticks += 1;
            let now = k.ticks;
            let due: Vec<(usize, Endpoint)> = (0..kernel_core::process::NR_PROCS)
                .filter_map(|s| k.procs.get(s).map(|p| (s, p)))
                .filter(|(_, p)| p.is_alive() && p.ctx.alarm.is_some_and(|t| t <= now))
                .map(|(s, p)| (s, p.endpoint))
                .collect();
            for (s, ep) in due {
                if let Some(p) = k.procs.get_mut(s) {
                    p.ctx.alarm = None;
                }
                let _ = k.ipc.notify(CLOCK_SLOT, ep, now, &mut wakes);
            }
        }
        apply_wakes(k, wakes);
        if !frame.is_user() {
            // Idle: run whatever became runnable.
            if let Some(n) = k.rq.pick() {
                k.procs.set_current(Some(n));
                let ctx = &k.procs.get(n).expect("runnable slot is occupied").ctx;
                cpu::write_cr3(ctx.space.root());
                *frame = ctx.frame;
            }
            return;
        }
        if irq == 0
            && let Some(cur) = k.procs.current()
        {
            // Preempt at the end of the quantum, or at once when a process
            // of higher priority became runnable.
            let expired = k.rq.tick(cur);
            if expired || k.rq.pick() != Some(cur) {
                switch_away(k, frame);
            }
        }
    });
}
