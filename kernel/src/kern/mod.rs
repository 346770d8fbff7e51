//! The safe kernel core on the hardware side: boot sequence, loading boot
//! modules into processes, system-call dispatch (IPC, grants, clock,
//! privileges, restarts, port I/O, memory), user fault handling and fault
//! forwarding, and scheduling on the priority run queues. Uses the `arch`
//! layer for everything unsafe and `kernel_core` for the
//! hardware-independent state machines.
//!
//! This file holds the kernel's state (`Kernel`, each process's `Ctx`),
//! the trap entry and the slot look-ups; the rest is by concern: `start`
//! (boot sequence, loading modules), `syscall` (dispatch), `ipc`
//! (send/receive), `grant` (grants and copies), `memory` (address spaces
//! and user memory), `process` (fork, spawn, update, registers, names),
//! `privileges` (plain users, hardware privileges, port I/O), `interrupt`
//! (IRQs and the clock), `fault` (faults, the pager, signal managers) and
//! `sched` (run queues, switching, the end of the run).

mod fault;
mod grant;
mod interrupt;
mod ipc;
mod memory;
mod privileges;
mod process;
mod sched;
mod start;
mod syscall;

use crate::arch::cpu;
use crate::arch::paging::AddressSpace;
use crate::arch::phys::IDENTITY_LIMIT;
use crate::arch::trap::TrapFrame;
use crate::global::Global;
use abi::Errno;
use alloc::vec::Vec;
use kernel_core::fault::Fault;
use kernel_core::frame::{FRAME_SIZE, FrameAllocator};
use kernel_core::grant::{GrantLookup, GrantTable};
use kernel_core::hwpriv::{CpuTimes, HwPrivileges, TscRate};
use kernel_core::ipc::Ipc;
use kernel_core::multiboot::BootModule;
use kernel_core::options::Options;
use kernel_core::process::{Endpoint, ProcessTable};
use kernel_core::profile::Profile;
use kernel_core::sched::RunQueues;

use fault::{kernel_fault, user_fault};
use interrupt::irq;
pub use start::boot;
use syscall::syscall;

/// Bitmap words covering the identity-mapped GiB.
const FRAME_WORDS: usize = (IDENTITY_LIMIT / FRAME_SIZE / 64) as usize;
/// User RFLAGS: reserved bit 1 and IF (the clock preempts user code);
/// IOPL 0 makes `cli`/`hlt`/port I/O fault in ring 3.
const USER_RFLAGS: u64 = 0x202;
/// Clock ticks a process may run before the next runnable one of the same
/// priority gets the CPU.
const QUANTUM_TICKS: u32 = 5;
/// Priority of boot programs and spawned processes (0 = highest).
const DEFAULT_PRIORITY: usize = 7;

static FRAMES: Global<FrameAllocator<FRAME_WORDS>> = Global::new(FrameAllocator::new());
static KERNEL: Global<Option<Kernel>> = Global::new(None);

/// Architecture context of a process.
#[derive(Debug)]
pub struct Ctx {
    /// Saved user registers (valid while the process is not running).
    frame: TrapFrame,
    /// Page tables and owned frames.
    space: AddressSpace,
    /// While blocked in receive/sendrec: where the message goes.
    recv_buf: Option<u64>,
    /// Memory this process lets others read or write.
    grants: GrantTable,
    /// Clock tick at which its alarm fires.
    alarm: Option<u64>,
    /// Told about this process's faults; while set, a faulted process is
    /// kept (not freed) until the manager replaces it.
    signal_manager: Option<Endpoint>,
    /// I/O port ranges `[start, end)` this process may use with `DevIo`.
    io_ranges: Vec<(u16, u32)>,
    /// IRQ lines and physical memory it may use (`IrqHook`, `MapPhys`).
    hw: HwPrivileges,
    /// User ticks and system cycles (`Times`).
    times: CpuTimes,
    /// Signals raised for it and not yet taken by its signal manager.
    pending_sigs: u64,
    /// Stopped by `Stop` (or a `ProcFork` child not yet resumed): never
    /// scheduled, whatever its IPC state.
    stopped: bool,
    /// Held by `SigSend` (plain users only): not scheduled, whatever its
    /// IPC state, until its signal manager has taken the signals
    /// (`SigPending`) and calls `Resume` (MINIX's `RTS_SIG_PENDING`).
    sig_held: bool,
    /// Gets its page faults (`SetPager`) while alive.
    pager: Option<Endpoint>,
    /// A page fault held for the pager: not runnable until `PageFix`.
    held: Option<HeldFault>,
}

/// A page fault waiting for the process's pager.
#[derive(Clone, Copy, Debug)]
struct HeldFault {
    fault: Fault,
    /// Already handed to the pager by `PageFaults`.
    reported: bool,
}

impl Ctx {
    /// A process with registers `frame` and space `space` and nothing else
    /// (no grants, alarm, managers, ports or hardware).
    fn new(frame: TrapFrame, space: AddressSpace, hw: HwPrivileges) -> Self {
        Self {
            frame,
            space,
            recv_buf: None,
            grants: GrantTable::new(),
            alarm: None,
            signal_manager: None,
            io_ranges: Vec::new(),
            hw,
            times: CpuTimes::default(),
            pending_sigs: 0,
            stopped: false,
            sig_held: false,
            pager: None,
            held: None,
        }
    }
}

/// Grant tables of live processes, by endpoint.
struct LiveGrants<'a>(&'a ProcessTable<Ctx>);

impl GrantLookup for LiveGrants<'_> {
    fn table(&self, ep: Endpoint) -> Option<&GrantTable> {
        self.0
            .get(ep.slot())
            .filter(|p| p.endpoint == ep && p.is_alive())
            .map(|p| &p.ctx.grants)
    }
}

struct Kernel {
    procs: ProcessTable<Ctx>,
    ipc: Ipc,
    options: Options,
    /// Set when something makes the run a failure (refused module, or in
    /// `strict` mode a nonzero exit or a fault).
    failed: bool,
    refused: usize,
    /// Clock ticks since boot.
    ticks: u64,
    /// Wall-clock time at boot (Unix seconds from the RTC, 0 if unreadable).
    boot_time: u64,
    /// Run queues: exactly the runnable processes, by priority.
    rq: RunQueues,
    /// Per IRQ line: bit `s` set when slot `s` hooked it.
    irq_hooks: [u64; 16],
    /// Per IRQ line: bit `s` set when slot `s` hooked it with
    /// `IRQ_HOOK_MASK_ON_FIRE` (level-triggered: masked when it fires until
    /// the driver enables it with `IrqCtl`).
    irq_mask_on_fire: [u64; 16],
    /// The boot modules (their memory stays reserved), for `Spawn`.
    modules: Vec<BootModule>,
    /// The boot memory map as `MemMap` records (start, end, kind).
    memmap: Vec<(u64, u64, u64)>,
    /// Measured TSC cycles per clock tick.
    tsc: TscRate,
    /// `profile=NAME`: user-mode samples of that process.
    profile: Option<Profile>,
}

/// Safe trap dispatcher, called by the `arch::trap` shim.
pub fn handle_trap(frame: &mut TrapFrame) {
    let irq_vectors = u64::from(cpu::IRQ_BASE)..u64::from(cpu::IRQ_BASE) + 16;
    if irq_vectors.contains(&frame.vector) {
        irq(frame, (frame.vector - u64::from(cpu::IRQ_BASE)) as u8);
        return;
    }
    if !frame.is_user() || frame.vector == 8 {
        kernel_fault(frame);
    }
    KERNEL.with(|slot| {
        let k = slot
            .as_mut()
            .expect("user trap before the kernel started a process");
        let (t0, caller) = (cpu::rdtsc(), k.procs.current());
        if frame.vector == u64::from(abi::SYSCALL_VECTOR) {
            syscall(k, frame);
        } else {
            user_fault(k, frame);
        }
        // System time: the kernel's work on this trap, charged to the
        // process that made it (if it still exists).
        if let Some(p) = caller.and_then(|s| k.procs.get_mut(s)) {
            p.ctx.times.sys_cycles += cpu::rdtsc().wrapping_sub(t0);
        }
    });
}

fn current(k: &Kernel) -> usize {
    k.procs
        .current()
        .expect("a trap from ring 3 implies a current process")
}

/// The slot of live endpoint `ep`.
fn live_slot(k: &Kernel, ep: Endpoint) -> Result<usize, Errno> {
    match k.procs.get(ep.slot()) {
        Some(p) if p.endpoint == ep && p.is_alive() => Ok(ep.slot()),
        _ => Err(Errno::DeadSrcDst),
    }
}

/// A process's target endpoint: `ENDPOINT_SELF` is the caller.
fn target_slot(k: &Kernel, caller: usize, raw: u64) -> Result<usize, Errno> {
    if raw as u32 == abi::ENDPOINT_SELF {
        Ok(caller)
    } else {
        live_slot(k, Endpoint(raw as u32))
    }
}
