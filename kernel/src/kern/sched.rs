//! Scheduling: the run queues, switching away from the current process,
//! and the end of the run.

use crate::arch::trap::{self, TrapFrame};
use crate::arch::{boot, cpu};
use crate::kprintln;
use kernel_core::frame::FRAME_SIZE;
use kernel_core::process::ProcState;

use super::{FRAMES, Kernel};

/// Puts a live, unblocked process on the run queues (no effect if it is
/// already there, or if it is stopped, held for its signal manager or
/// waits for its pager).
pub(super) fn make_runnable(k: &mut Kernel, slot: usize) {
    if k.procs.get(slot).is_some_and(|p| {
        p.state == ProcState::Runnable && !p.ctx.stopped && !p.ctx.sig_held && p.ctx.held.is_none()
    }) {
        // AlreadyQueued is fine: the process is runnable either way.
        let _ = k.rq.enqueue(slot);
    }
}

/// Leaves the current process: saves it if it can still run, loads the next
/// runnable process into `frame` (or ends the run), and frees the old
/// process if it has finished.
pub(super) fn switch_away(k: &mut Kernel, frame: &mut TrapFrame) {
    let prev = k.procs.current();
    if let Some(p) = prev.and_then(|s| k.procs.get_mut(s))
        && p.is_alive()
    {
        p.ctx.frame = *frame;
    }
    let next = k.rq.pick();
    k.procs.set_current(next);
    match next {
        Some(n) => {
            let ctx = &k.procs.get(n).expect("runnable slot is occupied").ctx;
            // The same process again keeps its address space loaded: a CR3
            // write flushes the TLB (and, under TCG, QEMU's whole soft TLB).
            if prev != Some(n) {
                cpu::write_cr3(ctx.space.root());
            }
            *frame = ctx.frame;
        }
        None => cpu::write_cr3(boot::boot_pml4_phys()),
    }
    let idle = next.is_none() && can_be_woken(k, prev);
    if let Some(p) = prev
        && k.procs
            .get(p)
            .is_some_and(|p| !p.is_alive() && p.ctx.signal_manager.is_none())
        && let Some(old) = k.procs.release(p)
    {
        FRAMES.with(|fa| old.ctx.space.destroy(fa));
    }
    if idle {
        *frame = trap::idle_frame();
    } else if next.is_none() {
        finish_run(k);
    }
}

/// True when some live process (other than `leaving`, which is finishing)
/// is blocked but could still be woken by an interrupt: it has an alarm
/// armed or a hooked IRQ line.
fn can_be_woken(k: &Kernel, leaving: Option<usize>) -> bool {
    let hooked = k.irq_hooks.iter().fold(0u64, |a, h| a | h);
    (0..kernel_core::process::NR_PROCS)
        .filter(|&s| Some(s) != leaving || k.procs.get(s).is_some_and(|p| p.is_alive()))
        .filter_map(|s| k.procs.get(s).map(|p| (s, p)))
        .any(|(s, p)| p.is_alive() && (p.ctx.alarm.is_some() || hooked & (1u64 << s) != 0))
}

/// Prints the `profile=NAME` samples: the hottest user addresses.
fn print_profile(k: &Kernel) {
    let Some(p) = k.profile.as_ref() else { return };
    kprintln!(
        "kernel: profile of '{}': {} samples ({} dropped); hottest addresses (addr2line -f -e <binary>):",
        p.target,
        p.total,
        p.dropped
    );
    for (rip, n) in p.top(40) {
        kprintln!("kernel: profile {rip:#x} {n}");
    }
}

pub(super) fn finish_run(k: &mut Kernel) -> ! {
    print_profile(k);
    let s = k.procs.summary();
    let free = FRAMES.with(|fa| fa.free_frames());
    kprintln!(
        "kernel: no runnable process left: {} exited ({} nonzero), {} killed, {} refused, {} blocked; {} KiB free",
        s.exited,
        s.nonzero,
        s.killed,
        k.refused,
        k.procs.blocked(),
        free * FRAME_SIZE / 1024
    );
    if k.failed {
        kprintln!("kernel: run FAILED");
        cpu::qemu_exit(abi::QEMU_EXIT_FAIL)
    }
    kprintln!("kernel: run PASSED");
    cpu::qemu_exit(abi::QEMU_EXIT_PASS)
}
