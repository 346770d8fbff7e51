//! The safe kernel core on the hardware side: boot sequence, loading boot
//! modules into processes, system-call dispatch (IPC, grants, clock,
//! privileges, restarts, port I/O, memory), user fault handling and fault
//! forwarding, and scheduling on the priority run queues. Uses the `arch`
//! layer for everything unsafe and `kernel_core` for the
//! hardware-independent state machines.

use crate::arch::paging::{AddressSpace, CowBreak, MapError};
use crate::arch::phys::{self, IDENTITY_LIMIT, IdentityMem};
use crate::arch::trap::{self, TrapFrame};
use crate::arch::{boot, cpu, serial};
use crate::global::Global;
use crate::kprintln;
use abi::{Errno, Syscall};
use alloc::vec::Vec;
use kernel_core::elf::{ElfError, ElfImage, LoadPolicy};
use kernel_core::fault::{Fault, FaultKind};
use kernel_core::frame::{FRAME_SIZE, FrameAllocator, FrameError};
use kernel_core::grant::{
    Access, Grant, GrantId, GrantKind, GrantLookup, GrantTable, Grantee, resolve,
};
use kernel_core::hwpriv::{CpuTimes, HwPrivileges, TscRate};
use kernel_core::ipc::{Completion, Ipc, Privileges, Source, Wake};
use kernel_core::multiboot::{BootInfo, BootModule};
use kernel_core::options::Options;
use kernel_core::process::{
    CLOCK_SLOT, Endpoint, ProcState, ProcessTable, SYSTEM_SLOT, USER_SERVERS,
};
use kernel_core::profile::Profile;
use kernel_core::range::AddrRange;
use kernel_core::sched::RunQueues;

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

/// Why a boot module could not become a process.
#[derive(Debug)]
enum LoadError {
    Unreadable,
    ArgsTooLong(usize),
    Elf(ElfError),
    Map(MapError),
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Unreadable => f.write_str("module memory is not readable"),
            Self::ArgsTooLong(n) => write!(f, "argument string too long ({n} bytes)"),
            Self::Elf(e) => write!(f, "bad ELF executable: {e:?}"),
            Self::Map(e) => write!(f, "cannot map memory: {e:?}"),
        }
    }
}

impl From<ElfError> for LoadError {
    fn from(e: ElfError) -> Self {
        Self::Elf(e)
    }
}

impl From<MapError> for LoadError {
    fn from(e: MapError) -> Self {
        Self::Map(e)
    }
}

/// Entry from the boot trampoline.
pub fn boot(magic: u32, mbi: u32) -> ! {
    serial::init();
    cpu::init();
    crate::arch::paging::unmap_null_page();
    kprintln!("kernel: booting (multiboot info at {mbi:#x})");

    let info = match BootInfo::parse(&IdentityMem, magic, u64::from(mbi)) {
        Ok(info) => info,
        Err(e) => panic!("unusable boot information: {e:?}"),
    };
    let (kstart, kend) = boot::kernel_image();
    let kernel_range = AddrRange::new(kstart, kend);
    if let Err(e) = info.check_overlaps(kernel_range) {
        panic!("boot image overlap: {e:?}");
    }
    let free = FRAMES.with(|fa| {
        // The reference counts of shared (copy-on-write) frames: allocated
        // once, so a fork never allocates kernel heap for them.
        fa.enable_sharing();
        for region in info.memory.iter().filter(|r| r.available) {
            fa.add_free(region.range);
        }
        // Real-mode structures, BIOS data and frame 0 (null) stay unused.
        fa.reserve(AddrRange::new(0, 0x10_0000));
        fa.reserve(kernel_range);
        for m in &info.modules {
            fa.reserve(m.range);
        }
        for r in &info.reserved {
            fa.reserve(*r);
        }
        fa.free_frames()
    });
    kprintln!(
        "kernel: image {kstart:#x}..{kend:#x}, {} modules, {} KiB free",
        info.modules.len(),
        free * FRAME_SIZE / 1024
    );

    let options = Options::parse(info.kernel_args());
    for word in &options.unknown {
        kprintln!("kernel: ignoring unknown option '{word}'");
    }
    let mut k = Kernel {
        procs: ProcessTable::new(),
        ipc: Ipc::new(),
        options,
        failed: false,
        refused: 0,
        ticks: 0,
        boot_time: crate::arch::rtc::boot_seconds(),
        rq: RunQueues::new(kernel_core::process::NR_PROCS),
        irq_hooks: [0; 16],
        irq_mask_on_fire: [0; 16],
        modules: info.modules.clone(),
        memmap: memory_map(&info, kernel_range),
        tsc: TscRate::default(),
        profile: None,
    };
    k.profile = k.options.profile.as_deref().map(Profile::new);
    // The kernel tasks exist for IPC as notification sources only.
    for task in [SYSTEM_SLOT, CLOCK_SLOT] {
        if let Err(e) = k.ipc.add(Endpoint::new(task as u16, 0), Privileges::ALL) {
            panic!("cannot register kernel task {task}: {e:?}");
        }
    }
    for m in &info.modules {
        start_module(&mut k, m);
    }
    restrict_plain_users(&mut k);
    if k.options.panic_test {
        panic!("panic requested by the kernel command line (panic_test)");
    }
    if k.options.fault_test {
        kprintln!("kernel: fault_test: reading unmapped memory in ring 0");
        let v = cpu::provoke_kernel_page_fault();
        panic!("fault_test: read {v} from unmapped memory without a fault");
    }

    let first = KERNEL.with(|slot| {
        let k = slot.insert(k);
        match k.rq.pick() {
            Some(n) => {
                k.procs.set_current(Some(n));
                let ctx = &k.procs.get(n).expect("runnable slot is occupied").ctx;
                cpu::write_cr3(ctx.space.root());
                Some(ctx.frame)
            }
            None => None,
        }
    });
    match first {
        Some(frame) => trap::return_to_user(&frame),
        None => KERNEL.with(|slot| finish_run(slot.as_mut().expect("kernel state set above"))),
    }
}

/// The memory map for `MemMap`: the loader's regions, then the modules and
/// the kernel image.
fn memory_map(info: &BootInfo, kernel: AddrRange) -> Vec<(u64, u64, u64)> {
    let mut map: Vec<(u64, u64, u64)> = info
        .memory
        .iter()
        .map(|r| {
            let kind = if r.available {
                abi::MEM_AVAILABLE
            } else {
                abi::MEM_RESERVED
            };
            (r.range.start, r.range.end, kind)
        })
        .collect();
    map.extend(
        info.modules
            .iter()
            .map(|m| (m.range.start, m.range.end, abi::MEM_MODULE)),
    );
    map.push((kernel.start, kernel.end, abi::MEM_KERNEL));
    map
}

/// Boot programs are trusted system processes for now: every kernel call
/// and every process, but not the kernel tasks, which never receive
/// (a send to them could never complete).
fn boot_privileges() -> Privileges {
    Privileges {
        send_to: !((1u64 << SYSTEM_SLOT) | (1u64 << CLOCK_SLOT)),
        calls: u64::MAX,
        servers: false,
    }
}

/// Whether the process in `slot` is a plain user (`Privileges::servers`).
fn is_plain_user(k: &Kernel, slot: usize) -> bool {
    k.ipc.privileges(slot).is_some_and(|p| p.servers)
}

/// The live process named `name` for a lookup (`WhoIs`, the server
/// slots): a system process before a plain user of the same name, then
/// the lowest slot.
fn find_named<'a>(k: &'a Kernel, name: &str) -> Option<&'a kernel_core::process::Process<Ctx>> {
    k.procs.find_preferring(name, |s| is_plain_user(k, s))
}

/// Tells IPC which slots the live processes named in [`USER_SERVERS`]
/// occupy now: plain users (`Privileges::servers`) may send there. Called
/// whenever the set of live processes or their names change (start, fork,
/// death, `Update`, `SetName`), so services RS starts or replaces later
/// are reachable and a dead one's slot is not. A plain user never counts
/// as a server, whatever its name.
fn refresh_servers(k: &mut Kernel) {
    let slots = USER_SERVERS
        .iter()
        .filter_map(|n| find_named(k, n))
        .filter(|p| !is_plain_user(k, p.endpoint.slot()))
        .fold(0u64, |m, p| m | 1u64 << p.endpoint.slot());
    k.ipc.set_server_slots(slots);
}

/// Gives the boot processes named in `user=` plain-user privileges: IPC
/// only to the live processes named in [`USER_SERVERS`] (wherever they run,
/// now or later), only the kernel calls in `abi::USER_CALLS`, no IRQ lines
/// or memory ranges. Their faults go to PM (the process named `pm`, as
/// signal manager) when it exists at boot; without PM they are reported
/// and stopped.
fn restrict_plain_users(k: &mut Kernel) {
    refresh_servers(k);
    let pm = k.procs.find("pm").map(|p| p.endpoint);
    let users: Vec<usize> = (0..kernel_core::process::NR_PROCS)
        .filter(|&s| {
            k.procs
                .get(s)
                .is_some_and(|p| k.options.users.contains(&p.name))
        })
        .collect();
    for slot in users {
        if let Some(p) = k.procs.get_mut(slot) {
            p.ctx.hw = HwPrivileges::none();
            p.ctx.signal_manager = pm;
        }
        if k.ipc.set_privileges(slot, Privileges::user()).is_err() {
            panic!("IPC table out of step with the process table");
        }
    }
}

fn start_module(k: &mut Kernel, m: &BootModule) {
    let name = m.name();
    if is_data_module(m) {
        kprintln!(
            "kernel: data module '{name}' ({} KiB), not started",
            m.range.len() / 1024
        );
        return;
    }
    if !k.procs.has_free_slot() {
        kprintln!("kernel: module '{name}' refused: process table full");
        k.failed = true;
        k.refused += 1;
        return;
    }
    let loaded = FRAMES.with(|fa| load_module(fa, m));
    match loaded {
        Ok(ctx) => {
            let entry = ctx.frame.rip;
            let frames = ctx.space.frame_count();
            match k.procs.spawn(name, ctx) {
                Ok(ep) => {
                    // Boot programs are trusted system processes for now;
                    // privilege records arrive with the process manager.
                    if let Err(e) = k.ipc.add(ep, boot_privileges()) {
                        panic!("IPC table out of step with the process table: {e:?}");
                    }
                    if let Err(e) = k.rq.configure(ep.slot(), DEFAULT_PRIORITY, QUANTUM_TICKS) {
                        panic!("run queues out of step with the process table: {e:?}");
                    }
                    make_runnable(k, ep.slot());
                    kprintln!(
                        "kernel: loaded '{name}' as slot {} (entry {entry:#x}, {frames} frames)",
                        ep.slot()
                    )
                }
                Err(e) => {
                    kprintln!("kernel: module '{name}' refused: {e:?}");
                    k.failed = true;
                    k.refused += 1;
                }
            }
        }
        Err(e) => {
            kprintln!("kernel: module '{name}' refused: {e}");
            k.failed = true;
            k.refused += 1;
        }
    }
}

/// Validates the module's ELF, builds its address space, stack and
/// arguments, and returns its initial context. Nothing is mapped unless the
/// ELF passed every check; a failure after that frees what was built.
fn load_module(fa: &mut FrameAllocator<FRAME_WORDS>, m: &BootModule) -> Result<Ctx, LoadError> {
    load_program(fa, m.range, m.args().as_bytes())
}

/// Loads the ELF executable in module memory `range` with argument string
/// `args` into a fresh address space.
fn load_program(
    fa: &mut FrameAllocator<FRAME_WORDS>,
    range: AddrRange,
    args: &[u8],
) -> Result<Ctx, LoadError> {
    let bytes = phys::module_bytes(range).ok_or(LoadError::Unreadable)?;
    if args.len() > abi::MAX_ARGS_LEN {
        return Err(LoadError::ArgsTooLong(args.len()));
    }
    let guard = abi::USER_STACK_BOTTOM - FRAME_SIZE;
    let stack_area = [AddrRange::new(guard, abi::USER_END)];
    let policy = LoadPolicy {
        allowed: AddrRange::new(abi::USER_BASE, abi::USER_END),
        reserved: &stack_area,
    };
    let image = ElfImage::parse(bytes, &policy)?;
    let mut space = AddressSpace::new(fa)?;
    match populate(fa, &mut space, &image, bytes, args) {
        Ok(frame) => Ok(Ctx::new(frame, space, HwPrivileges::boot())),
        Err(e) => {
            space.destroy(fa);
            Err(e.into())
        }
    }
}

fn populate(
    fa: &mut FrameAllocator<FRAME_WORDS>,
    space: &mut AddressSpace,
    image: &ElfImage,
    file: &[u8],
    args: &[u8],
) -> Result<TrapFrame, MapError> {
    for seg in &image.segments {
        let data = seg.file_bytes(file);
        let file_end = seg.vaddr + seg.filesz;
        let pages = seg.range().page_aligned(FRAME_SIZE);
        for page in (pages.start..pages.end).step_by(FRAME_SIZE as usize) {
            let frame = space.map_user_page(fa, page, seg.writable)?;
            let lo = page.max(seg.vaddr);
            let hi = (page + FRAME_SIZE).min(file_end);
            if lo < hi {
                let src = &data[(lo - seg.vaddr) as usize..(hi - seg.vaddr) as usize];
                phys::copy_to(frame + (lo - page), src);
            }
        }
    }
    for page in (abi::USER_STACK_BOTTOM..abi::USER_STACK_TOP).step_by(FRAME_SIZE as usize) {
        space.map_user_page(fa, page, true)?;
    }
    // Argument string at the top of the stack, 16-aligned; rsp = 8 mod 16
    // below it, as after a `call`.
    let args_addr = (abi::USER_STACK_TOP - args.len() as u64) & !15;
    for (i, chunk) in args.chunks(16).enumerate() {
        let va = args_addr + (i * 16) as u64;
        // 16-byte chunks at a 16-aligned address never cross a page.
        let pa = space.translate(va).ok_or(MapError::NotUser(va))?;
        phys::copy_to(pa, chunk);
    }
    Ok(TrapFrame {
        rip: image.entry,
        cs: cpu::USER_CS,
        rflags: USER_RFLAGS,
        rsp: args_addr - 8,
        ss: cpu::USER_DS,
        rdi: args_addr,
        rsi: args.len() as u64,
        ..TrapFrame::default()
    })
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

/// A hardware interrupt. Hooked lines notify their processes (from
/// SYSTEM); the clock (IRQ 0) also counts ticks, fires alarms (notify from
/// CLOCK) and preempts the running process when its quantum is used up. In
/// the idle context it switches to whatever became runnable.
fn irq(frame: &mut TrapFrame, irq: u8) {
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

fn kernel_fault(frame: &TrapFrame) -> ! {
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

fn current(k: &Kernel) -> usize {
    k.procs
        .current()
        .expect("a trap from ring 3 implies a current process")
}

fn syscall(k: &mut Kernel, frame: &mut TrapFrame) {
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

/// Send/receive family. `Ok(Some(Blocked))` means the caller must block;
/// a message received at once has already been copied to the caller.
/// `flags` is `SendA`'s third argument (ignored by the other calls).
fn ipc_call(
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
fn apply_wakes(k: &mut Kernel, wakes: Vec<Wake>) {
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

/// Puts a live, unblocked process on the run queues (no effect if it is
/// already there, or if it is stopped, held for its signal manager or
/// waits for its pager).
fn make_runnable(k: &mut Kernel, slot: usize) {
    if k.procs.get(slot).is_some_and(|p| {
        p.state == ProcState::Runnable && !p.ctx.stopped && !p.ctx.sig_held && p.ctx.held.is_none()
    }) {
        // AlreadyQueued is fine: the process is runnable either way.
        let _ = k.rq.enqueue(slot);
    }
}

/// A process finished: drop it from IPC, waking everyone blocked on it.
fn process_gone(k: &mut Kernel, slot: usize) {
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

fn access_of(bits: u64) -> Result<Access, Errno> {
    if bits & !(abi::GRANT_READ | abi::GRANT_WRITE) != 0 {
        return Err(Errno::Inval);
    }
    Ok(Access {
        read: bits & abi::GRANT_READ != 0,
        write: bits & abi::GRANT_WRITE != 0,
    })
}

/// `GrantCreate`: records a direct or indirect grant in the caller's table.
/// A direct grant must lie in user space; whether it is mapped is checked
/// at copy time, when it matters.
fn grant_create(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let grantee = if f.rsi as u32 == abi::ENDPOINT_ANY {
        Grantee::Any
    } else {
        Grantee::Ep(Endpoint(f.rsi as u32))
    };
    let access = access_of(f.rdx)?;
    let kind = match f.rdi {
        abi::GRANT_DIRECT => {
            let r = AddrRange::from_len(f.r10, f.r8).ok_or(Errno::Inval)?;
            if !AddrRange::new(abi::USER_BASE, abi::USER_END).contains_range(&r) {
                return Err(Errno::Fault);
            }
            GrantKind::Direct {
                base: f.r10,
                len: f.r8,
            }
        }
        abi::GRANT_INDIRECT => GrantKind::Indirect {
            from: Endpoint((f.r9 >> 32) as u32),
            id: GrantId(f.r9 as u32),
            offset: f.r10,
            len: f.r8,
        },
        _ => return Err(Errno::Inval),
    };
    // Plain users get a small table: they may fork up to every free slot.
    let limit = if k.ipc.privileges(slot).is_some_and(|p| p.servers) {
        abi::MAX_USER_GRANTS
    } else {
        abi::MAX_GRANTS
    };
    let p = k.procs.get_mut(slot).ok_or(Errno::Inval)?;
    let grant = Grant {
        grantee,
        access,
        kind,
    };
    let id = p
        .ctx
        .grants
        .try_create(grant, limit)
        .map_err(|e| e.errno())?;
    Ok(u64::from(id.0))
}

/// `SafeCopyFrom` / `SafeCopyTo`: checks the grant chain, both address
/// ranges, then copies between the two address spaces in chunks.
fn safecopy(k: &mut Kernel, slot: usize, f: &TrapFrame, to_grant: bool) -> Result<u64, Errno> {
    let len = f.r8;
    if len > abi::MAX_SAFECOPY {
        return Err(Errno::Inval);
    }
    let me = k.procs.get(slot).ok_or(Errno::Inval)?.endpoint;
    let want = if to_grant {
        Access::WRITE
    } else {
        Access::READ
    };
    let granter = Endpoint(f.rdi as u32);
    let r = resolve(
        &LiveGrants(&k.procs),
        granter,
        GrantId(f.rsi as u32),
        me,
        f.rdx,
        len,
        want,
    )
    .map_err(|e| e.errno())?;
    let owner_slot = r.owner.slot();
    k.procs.get(owner_slot).ok_or(Errno::DeadSrcDst)?;
    // The destination is about to be written: break copy-on-write there
    // first (harmless if the copy then fails).
    let (dst_slot, dst_addr) = if to_grant {
        (owner_slot, r.addr)
    } else {
        (slot, f.r10)
    };
    prepare_write(k, dst_slot, dst_addr, len)?;
    let owner = &k.procs.get(owner_slot).ok_or(Errno::DeadSrcDst)?.ctx.space;
    let mine = &k.procs.get(slot).ok_or(Errno::Inval)?.ctx.space;
    let (src, src_addr, dst) = if to_grant {
        (mine, f.r10, owner)
    } else {
        (owner, r.addr, mine)
    };
    // Validate every page of both ranges before copying anything.
    let check = |space: &AddressSpace, addr: u64, write: bool| -> Result<(), Errno> {
        let range = AddrRange::from_len(addr, len).ok_or(Errno::Fault)?;
        let pages = range.page_aligned(FRAME_SIZE);
        for page in (pages.start..pages.end).step_by(FRAME_SIZE as usize) {
            space.translate_for(page, write).ok_or(Errno::Fault)?;
        }
        Ok(())
    };
    check(src, src_addr, false)?;
    check(dst, dst_addr, true)?;
    src.copy_to_space(src_addr, dst, dst_addr, len)
        .ok_or(Errno::Fault)?;
    Ok(len)
}

/// Copies `data` into the user memory of the process in `slot`, breaking
/// copy-on-write first (`Fault` if the range is not writable there).
fn write_to(k: &mut Kernel, slot: usize, addr: u64, data: &[u8]) -> Result<(), Errno> {
    let space = &mut k.procs.get_mut(slot).ok_or(Errno::Inval)?.ctx.space;
    FRAMES
        .with(|fa| space.write_user(fa, addr, data))
        .ok_or(Errno::Fault)
}

/// Encodes `words` as little-endian bytes.
fn le_words<const N: usize>(words: [u64; N]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Makes `len` bytes at `addr` of `slot`'s space writable for a copy the
/// kernel is about to do (breaking copy-on-write); `Fault` if they are not
/// all mapped writable or copy-on-write, `NoMem` without a frame to copy.
fn prepare_write(k: &mut Kernel, slot: usize, addr: u64, len: u64) -> Result<(), Errno> {
    let space = &mut k.procs.get_mut(slot).ok_or(Errno::Inval)?.ctx.space;
    FRAMES
        .with(|fa| space.prepare_write(fa, addr, len))
        .map_err(|e| match e {
            MapError::Frames(FrameError::OutOfMemory) => Errno::NoMem,
            _ => Errno::Fault,
        })
}

/// The slot of live endpoint `ep`.
fn live_slot(k: &Kernel, ep: Endpoint) -> Result<usize, Errno> {
    match k.procs.get(ep.slot()) {
        Some(p) if p.endpoint == ep && p.is_alive() => Ok(ep.slot()),
        _ => Err(Errno::DeadSrcDst),
    }
}

/// `BootModules`: the boot module list as text, for RS.
fn boot_modules(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let mut text = alloc::string::String::new();
    for m in &k.modules {
        text.push_str(m.name());
        if !m.args().is_empty() {
            text.push(' ');
            text.push_str(m.args());
        }
        text.push('\n');
    }
    let n = text.len().min(usize::try_from(f.rsi).unwrap_or(usize::MAX));
    write_to(k, slot, f.rdi, &text.as_bytes()[..n])?;
    Ok(text.len() as u64)
}

/// `DmaAlloc`: fresh zeroed, physically contiguous frames at unmapped user
/// pages of the caller; returns the physical base.
fn dma_alloc(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let (start, count) = (f.rdi, f.rsi);
    if start % FRAME_SIZE != 0 || count == 0 || count > abi::MAX_DMA_PAGES {
        return Err(Errno::Inval);
    }
    let range = AddrRange::from_len(start, count * FRAME_SIZE).ok_or(Errno::Fault)?;
    let area = AddrRange::new(abi::USER_BASE, abi::USER_STACK_BOTTOM - FRAME_SIZE);
    if !area.contains_range(&range) {
        return Err(Errno::Fault);
    }
    let space = &mut k.procs.get_mut(slot).ok_or(Errno::Inval)?.ctx.space;
    if (range.start..range.end)
        .step_by(FRAME_SIZE as usize)
        .any(|page| space.translate(page).is_some())
    {
        return Err(Errno::Inval);
    }
    let mapped = FRAMES.with(|fa| {
        let base = fa.alloc_contiguous(count, 1).map_err(|_| Errno::Inval)?;
        for i in 0..count {
            let frame = base + i * FRAME_SIZE;
            if space
                .map_owned_frame(fa, start + i * FRAME_SIZE, frame)
                .is_err()
            {
                // Frames not yet taken by the space go back; the pages mapped
                // so far belong to the process (freed with it).
                for j in i..count {
                    let _ = fa.free(base + j * FRAME_SIZE);
                }
                return Err(Errno::Inval);
            }
        }
        Ok(base)
    });
    if let Some(p) = k.procs.get(slot) {
        cpu::write_cr3(p.ctx.space.root());
    }
    mapped
}

/// `UMap`: the physical address of a contiguous range of the caller.
fn umap(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    if f.rdx & !(abi::GRANT_READ | abi::GRANT_WRITE) != 0 {
        return Err(Errno::Inval);
    }
    let write = f.rdx & abi::GRANT_WRITE != 0;
    if write && f.rsi <= kernel_core::dma::MAX_UMAP_LEN {
        // A device will write there: its own frames, not shared ones.
        // Errors show up in the check below.
        let _ = prepare_write(k, slot, f.rdi, f.rsi);
    }
    let space = &k.procs.get(slot).ok_or(Errno::Inval)?.ctx.space;
    kernel_core::dma::contiguous(f.rdi, f.rsi, |va| space.translate_for(va, write))
        .map_err(|e| e.errno())
}

/// `UMapGrant`: the physical address of granted bytes, checked as a
/// safecopy of the same range would be.
fn umap_grant(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let want = access_of(f.r8)?;
    if !want.read && !want.write {
        return Err(Errno::Inval);
    }
    if f.r10 == 0 || f.r10 > kernel_core::dma::MAX_UMAP_LEN {
        return Err(Errno::Inval);
    }
    let me = k.procs.get(slot).ok_or(Errno::Inval)?.endpoint;
    let r = resolve(
        &LiveGrants(&k.procs),
        Endpoint(f.rdi as u32),
        GrantId(f.rsi as u32),
        me,
        f.rdx,
        f.r10,
        want,
    )
    .map_err(|e| e.errno())?;
    if want.write {
        // As in `umap`: the device must write the granter's own frames.
        let _ = prepare_write(k, r.owner.slot(), r.addr, f.r10);
    }
    let owner = &k
        .procs
        .get(r.owner.slot())
        .ok_or(Errno::DeadSrcDst)?
        .ctx
        .space;
    kernel_core::dma::contiguous(r.addr, f.r10, |va| owner.translate_for(va, want.write))
        .map_err(|e| e.errno())
}

/// `MapPages`: fresh zeroed pages in a live process's user space.
fn map_pages(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let (start, count) = (f.rsi, f.rdx);
    if start % FRAME_SIZE != 0 || count == 0 || count > abi::MAX_MAP_PAGES {
        return Err(Errno::Inval);
    }
    let len = count.checked_mul(FRAME_SIZE).ok_or(Errno::Inval)?;
    let range = AddrRange::from_len(start, len).ok_or(Errno::Fault)?;
    // Up to the top of the stack: VM maps exec'd programs' stacks here.
    let heap_area = AddrRange::new(abi::USER_BASE, abi::USER_STACK_TOP);
    if !heap_area.contains_range(&range) {
        return Err(Errno::Fault);
    }
    let writable = f.r10 != 0;
    let space = &mut k.procs.get_mut(target).ok_or(Errno::Inval)?.ctx.space;
    let mapped = FRAMES.with(|fa| {
        (range.start..range.end)
            .step_by(FRAME_SIZE as usize)
            .try_for_each(|page| space.map_user_page(fa, page, writable).map(drop))
    });
    // New mappings only replace non-present entries, but reload CR3 when
    // the target is running so no stale paging-structure cache survives.
    if k.procs.current() == Some(target)
        && let Some(p) = k.procs.get(target)
    {
        cpu::write_cr3(p.ctx.space.root());
    }
    match mapped {
        Ok(()) => Ok(0),
        // Pages mapped before running out of memory stay mapped (they
        // belong to the process and are freed with it).
        Err(MapError::Frames(_)) => Err(Errno::NoMem),
        Err(_) => Err(Errno::Inval),
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

/// `Times`: user ticks, system ticks, system cycles and uptime.
fn times(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
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

/// `MemMap`: the boot memory map as little-endian records.
fn mem_map(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let mut bytes = Vec::with_capacity(k.memmap.len() * abi::MEMMAP_RECORD);
    for &(start, end, kind) in &k.memmap {
        for w in [start, end, kind] {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
    }
    let room = usize::try_from(f.rsi).unwrap_or(usize::MAX);
    let n = bytes
        .len()
        .min(room / abi::MEMMAP_RECORD * abi::MEMMAP_RECORD);
    write_to(k, slot, f.rdi, &bytes[..n])?;
    Ok(bytes.len() as u64)
}

/// `SetIrqPriv`: replaces the IRQ lines a process may hook; lines it
/// hooked and may no longer use are unhooked.
fn set_irq_priv(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let hw = &mut k.procs.get_mut(target).ok_or(Errno::Inval)?.ctx.hw;
    hw.set_irq_lines(f.rsi).map_err(|e| e.errno())?;
    let allowed = hw.irq_lines();
    for (line, hooks) in k.irq_hooks.iter_mut().enumerate() {
        if allowed & (1 << line) == 0 && *hooks & (1u64 << target) != 0 {
            *hooks &= !(1u64 << target);
            if *hooks == 0 {
                cpu::mask_irq(line as u8);
            }
        }
    }
    Ok(0)
}

/// `SetMemPriv`: adds (or with length 0 clears) physical memory ranges.
fn set_mem_priv(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let hw = &mut k.procs.get_mut(target).ok_or(Errno::Inval)?.ctx.hw;
    if f.rdx == 0 {
        hw.clear_mem();
        return Ok(0);
    }
    // Memory the kernel owns or hands out (RAM above 1 MiB, the kernel
    // image, boot modules) is never mapped raw: that would bypass address
    // space isolation. Low memory and device memory are fine.
    let r = AddrRange::from_len(f.rsi, f.rdx).ok_or(Errno::Inval)?;
    let managed = k.memmap.iter().any(|&(start, end, kind)| {
        let start = if kind == abi::MEM_AVAILABLE {
            start.max(0x10_0000)
        } else {
            start
        };
        kind != abi::MEM_RESERVED && AddrRange::new(start, end).overlaps(&r)
    });
    if managed {
        return Err(Errno::Perm);
    }
    let hw = &mut k.procs.get_mut(target).ok_or(Errno::Inval)?.ctx.hw;
    hw.add_mem(f.rsi, f.rdx, abi::MAX_MEM_RANGES)
        .map(|()| 0)
        .map_err(|e| e.errno())
}

/// The page-aligned user range of `count` pages at `start` below the top
/// of the stack (where VM may map and unmap), checked.
fn user_pages(start: u64, count: u64) -> Result<AddrRange, Errno> {
    if !start.is_multiple_of(FRAME_SIZE) || count == 0 || count > abi::MAX_MAP_PAGES {
        return Err(Errno::Inval);
    }
    let range = AddrRange::from_len(start, count * FRAME_SIZE).ok_or(Errno::Fault)?;
    let area = AddrRange::new(abi::USER_BASE, abi::USER_STACK_TOP);
    if !area.contains_range(&range) {
        return Err(Errno::Fault);
    }
    Ok(range)
}

/// Reloads CR3 when `slot` is running, after its mappings changed.
fn reload_if_current(k: &Kernel, slot: usize) {
    if k.procs.current() == Some(slot)
        && let Some(p) = k.procs.get(slot)
    {
        cpu::write_cr3(p.ctx.space.root());
    }
}

/// `MapPhys`: maps physical memory from the target's memory ranges.
fn map_phys(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let range = user_pages(f.rsi, f.r10)?;
    if !f.rdx.is_multiple_of(FRAME_SIZE) {
        return Err(Errno::Inval);
    }
    let phys = AddrRange::from_len(f.rdx, range.len()).ok_or(Errno::Inval)?;
    let ctx = &mut k.procs.get_mut(target).ok_or(Errno::Inval)?.ctx;
    ctx.hw.may_map(&phys).map_err(|e| e.errno())?;
    let pages = (range.start..range.end).step_by(FRAME_SIZE as usize);
    if pages.clone().any(|va| ctx.space.translate(va).is_some()) {
        return Err(Errno::Fault);
    }
    let writable = f.r8 != 0;
    let space = &mut ctx.space;
    let mapped = FRAMES.with(|fa| {
        pages
            .zip((phys.start..).step_by(FRAME_SIZE as usize))
            .try_for_each(|(va, pa)| space.map_foreign_page(fa, va, pa, writable))
    });
    reload_if_current(k, target);
    mapped.map(|()| 0).map_err(|_| Errno::Inval)
}

/// Whether a boot module is data (listed, never started).
fn is_data_module(m: &BootModule) -> bool {
    m.args().split_ascii_whitespace().next() == Some(abi::DATA_MODULE_ARG)
}

/// `ModuleMap`: maps a data module's pages into the caller, not owned.
fn module_map(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    if f.rsi > 64 || !f.rdx.is_multiple_of(FRAME_SIZE) {
        return Err(Errno::Inval);
    }
    let mut name = [0u8; 64];
    let name = &mut name[..f.rsi as usize];
    let ctx = &mut k.procs.get_mut(slot).ok_or(Errno::Inval)?.ctx;
    ctx.space.read_user(f.rdi, name).ok_or(Errno::Fault)?;
    let name = core::str::from_utf8(name).map_err(|_| Errno::Inval)?;
    let module = k
        .modules
        .iter()
        .find(|m| m.name() == name && is_data_module(m))
        .ok_or(Errno::Inval)?;
    let size = module.range.len();
    // QEMU places modules on page boundaries; anything else cannot be
    // mapped without exposing a neighbour's bytes.
    if size == 0 || !module.range.start.is_multiple_of(FRAME_SIZE) {
        return Err(Errno::Inval);
    }
    let pages = size.div_ceil(FRAME_SIZE);
    let range = AddrRange::from_len(f.rdx, pages * FRAME_SIZE).ok_or(Errno::Fault)?;
    let area = AddrRange::new(abi::USER_BASE, abi::USER_STACK_BOTTOM - FRAME_SIZE);
    if !area.contains_range(&range) {
        return Err(Errno::Fault);
    }
    let vas = (range.start..range.end).step_by(FRAME_SIZE as usize);
    if vas.clone().any(|va| ctx.space.translate(va).is_some()) {
        return Err(Errno::Fault);
    }
    let phys = module.range.start;
    let space = &mut ctx.space;
    let mapped = FRAMES.with(|fa| {
        vas.zip((phys..).step_by(FRAME_SIZE as usize))
            .try_for_each(|(va, pa)| space.map_foreign_page(fa, va, pa, true))
    });
    reload_if_current(k, slot);
    mapped.map(|()| size).map_err(|_| Errno::Inval)
}

/// `Unmap`: removes pages from a process's user space.
fn unmap(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let range = user_pages(f.rsi, f.rdx)?;
    let space = &mut k.procs.get_mut(target).ok_or(Errno::Inval)?.ctx.space;
    let n = FRAMES.with(|fa| space.unmap_pages(fa, range.start, f.rdx));
    reload_if_current(k, target);
    // Only a page table shared by a fork that cannot be copied fails.
    n.map_err(|_| Errno::NoMem)
}

/// `Protect`: changes the write permission of mapped user pages.
fn protect(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let range = user_pages(f.rsi, f.rdx)?;
    let writable = f.r10 != 0;
    let space = &mut k.procs.get_mut(target).ok_or(Errno::Inval)?.ctx.space;
    // Reloads CR3 itself when the space is loaded and lost rights.
    FRAMES
        .with(|fa| space.protect(fa, range.start, f.rdx, writable))
        .map_err(|e| match e {
            MapError::ReadOnly(_) => Errno::Perm,
            MapError::Frames(_) => Errno::NoMem,
            _ => Errno::Fault,
        })
}

/// `SharePages`: the frames of `rdi`'s pages at `rsi` mapped read-only
/// at `rdx`'s unmapped pages at `r10`, `r8` pages, each frame gaining a
/// reference.
fn share_pages(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let src = live_slot(k, Endpoint(f.rdi as u32))?;
    let dst = live_slot(k, Endpoint(f.rdx as u32))?;
    if src == dst {
        return Err(Errno::Inval);
    }
    let (from, to) = (user_pages(f.rsi, f.r8)?, user_pages(f.r10, f.r8)?);
    // Take the destination out so both spaces can be borrowed.
    let mut space = core::mem::replace(
        &mut k.procs.get_mut(dst).ok_or(Errno::Inval)?.ctx.space,
        AddressSpace::empty(),
    );
    let r = match k.procs.get_mut(src) {
        Some(p) => FRAMES.with(|fa| {
            p.ctx
                .space
                .share_pages_with(fa, from.start, &mut space, to.start, f.r8)
        }),
        None => Err(MapError::NotMapped(from.start)),
    };
    if let Some(p) = k.procs.get_mut(dst) {
        p.ctx.space = space;
    }
    reload_if_current(k, dst);
    r.map_err(|e| match e {
        MapError::Frames(_) => Errno::NoMem,
        _ => Errno::Fault,
    })
}

/// `ClearSpace`: tears down a process's whole user space.
fn clear_space(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let space = &mut k.procs.get_mut(target).ok_or(Errno::Inval)?.ctx.space;
    let n = FRAMES.with(|fa| space.clear(fa));
    reload_if_current(k, target);
    Ok(n)
}

/// `CloneSpace`: `rsi`'s user space becomes a copy of `rdi`'s.
fn clone_space(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let src = live_slot(k, Endpoint(f.rdi as u32))?;
    let dst = live_slot(k, Endpoint(f.rsi as u32))?;
    if src == dst {
        return Err(Errno::Inval);
    }
    // Take the destination out so both spaces can be borrowed.
    let mut space = core::mem::replace(
        &mut k.procs.get_mut(dst).ok_or(Errno::Inval)?.ctx.space,
        AddressSpace::empty(),
    );
    let from = &k.procs.get(src).ok_or(Errno::Inval)?.ctx.space;
    let r = FRAMES.with(|fa| space.clone_from(fa, from));
    if let Some(p) = k.procs.get_mut(dst) {
        p.ctx.space = space;
    }
    reload_if_current(k, dst);
    r.map(|()| 0).map_err(|_| Errno::Inval)
}

/// `Fork`: a copy of the caller in a new slot; the child gets 0.
fn fork(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
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
fn proc_fork(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
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
fn stop(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
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
fn get_regs(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
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
fn set_regs(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
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

/// `SetPager`: live `rsi` (or nobody) becomes the pager of live `rdi`. A
/// fault held for the previous pager fails.
fn set_pager(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
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
fn page_faults(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
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
fn page_fix(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
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
fn sig_send(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
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
fn sig_pending(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
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

/// `ProcInfo`: state, stop signal and registers of a live or kept process.
fn proc_info(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
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
fn set_entry(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
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

/// `VirCopy`: copies between two live processes' memory without a grant.
fn vircopy(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let len = f.r9;
    if len > abi::MAX_SAFECOPY {
        return Err(Errno::Inval);
    }
    let src = target_slot(k, slot, f.rdi)?;
    let dst = target_slot(k, slot, f.rdx)?;
    prepare_write(k, dst, f.r10, len)?;
    let space = |s: usize| k.procs.get(s).map(|p| &p.ctx.space).ok_or(Errno::Inval);
    let (from, to) = (space(src)?, space(dst)?);
    // Check both ranges completely before copying anything.
    let check = |sp: &AddressSpace, addr: u64, write: bool| -> Result<(), Errno> {
        let range = AddrRange::from_len(addr, len).ok_or(Errno::Fault)?;
        let pages = range.page_aligned(FRAME_SIZE);
        for page in (pages.start..pages.end).step_by(FRAME_SIZE as usize) {
            sp.translate_for(page, write).ok_or(Errno::Fault)?;
        }
        Ok(())
    };
    check(from, f.rsi, false)?;
    check(to, f.r10, true)?;
    from.copy_to_space(f.rsi, to, f.r10, len)
        .ok_or(Errno::Fault)?;
    Ok(len)
}

/// `SetIoPriv`: adds a port range to a live process's privileges.
fn set_io_priv(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let start = u16::try_from(f.rsi).map_err(|_| Errno::Inval)?;
    let end = f
        .rsi
        .checked_add(f.rdx)
        .filter(|&e| e <= 0x1_0000 && f.rdx > 0);
    let end = end.ok_or(Errno::Inval)? as u32;
    let ranges = &mut k.procs.get_mut(target).ok_or(Errno::Inval)?.ctx.io_ranges;
    if ranges.len() >= abi::MAX_IO_RANGES {
        return Err(Errno::Inval);
    }
    ranges.push((start, end));
    Ok(0)
}

/// `DevIo`: one port access, if every byte of it lies in one of the
/// caller's port ranges.
fn dev_io(k: &Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let port = u16::try_from(f.rdi).map_err(|_| Errno::Inval)?;
    let width: u32 = match f.rdx & !abi::DEVIO_WRITE {
        abi::DEVIO_BYTE => 1,
        abi::DEVIO_WORD => 2,
        abi::DEVIO_LONG => 4,
        _ => return Err(Errno::Inval),
    };
    let ranges = &k.procs.get(slot).ok_or(Errno::Inval)?.ctx.io_ranges;
    let (lo, hi) = (u32::from(port), u32::from(port) + width);
    if !ranges.iter().any(|&(s, e)| u32::from(s) <= lo && hi <= e) {
        return Err(Errno::Perm);
    }
    let write = f.rdx & abi::DEVIO_WRITE != 0;
    Ok(match (width, write) {
        (1, true) => {
            cpu::outb(port, f.rsi as u8);
            0
        }
        (2, true) => {
            cpu::outw(port, f.rsi as u16);
            0
        }
        (_, true) => {
            cpu::outl(port, f.rsi as u32);
            0
        }
        (1, false) => u64::from(cpu::inb(port)),
        (2, false) => u64::from(cpu::inw(port)),
        (_, false) => u64::from(cpu::inl(port)),
    })
}

/// `SetSigMgr`: live `rsi` becomes the signal manager of live `rdi`.
fn set_sigmgr(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = live_slot(k, Endpoint(f.rdi as u32))?;
    let mgr = Endpoint(f.rsi as u32);
    live_slot(k, mgr)?;
    if let Some(p) = k.procs.get_mut(target) {
        p.ctx.signal_manager = Some(mgr);
    }
    Ok(0)
}

/// `Spawn`: a new process from a boot module, by module name.
fn spawn(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
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

/// `MapPages` by a process on itself inside the preserved window needs no
/// call-mask bit: any service (not a plain user) may grow the memory it
/// keeps across restarts (bounded by the window's size).
fn own_window_map(k: &Kernel, slot: usize, call: Syscall, f: &TrapFrame) -> bool {
    let own = k.procs.get(slot).map(|p| p.endpoint.0);
    let window = AddrRange::new(abi::PRESERVE_BASE, abi::PRESERVE_END);
    // Services only: plain users get their memory from VM.
    let plain = k.ipc.privileges(slot).is_some_and(|p| p.servers);
    call == Syscall::MapPages
        && !plain
        && own == Some(f.rdi as u32)
        && f.rdx <= abi::MAX_MAP_PAGES
        && f.rdx
            .checked_mul(FRAME_SIZE)
            .and_then(|len| AddrRange::from_len(f.rsi, len))
            .is_some_and(|r| window.contains_range(&r))
}

/// `Update`: the live process `rsi` takes over endpoint `rdi`, whose
/// process died and was kept for its manager; with `UPDATE_KEEP_WINDOW`
/// the dead one's preserved window moves into the new one.
fn update(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
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

/// `SetPriv`: replaces another live process's privilege record. The kernel
/// tasks' bits can never be granted as send targets (they do not receive).
/// With `PRIV_USER_SERVERS` in `r10` it may also send to PM, VFS, VM and
/// RS wherever they run (the plain-user rule).
fn set_priv(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
    let target = Endpoint(f.rdi as u32);
    let p = k.procs.get(target.slot()).ok_or(Errno::DeadSrcDst)?;
    if p.endpoint != target || !p.is_alive() {
        return Err(Errno::DeadSrcDst);
    }
    if f.r10 & !abi::PRIV_USER_SERVERS != 0 {
        return Err(Errno::Inval);
    }
    let privileges = Privileges {
        send_to: f.rsi & boot_privileges().send_to,
        calls: f.rdx,
        servers: f.r10 & abi::PRIV_USER_SERVERS != 0,
    };
    k.ipc
        .set_privileges(target.slot(), privileges)
        .map(|()| 0)
        .map_err(|e| e.errno())
}

/// Looks up a live process by name.
fn whois(k: &Kernel, slot: usize, addr: u64, len: u64) -> Result<u64, Errno> {
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
fn set_name(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
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

/// Page-fault error code bits: a protection violation on a present page,
/// a write, from user mode.
const PF_PRESENT_WRITE_USER: u64 = 0b111;

fn user_fault(k: &mut Kernel, frame: &mut TrapFrame) {
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
fn stop_other(k: &mut Kernel, slot: usize, fault: Fault) {
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
fn report_to_manager(k: &mut Kernel, slot: usize, signal: u64) -> bool {
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
fn kill(k: &mut Kernel, caller: usize, frame: &mut TrapFrame) -> Result<u64, Errno> {
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
fn check_critical(k: &Kernel, slot: usize) {
    if let Some(p) = k.procs.get(slot)
        && k.options.critical.contains(&p.name)
    {
        panic!("critical process '{}' died", p.name);
    }
}

/// Leaves the current process: saves it if it can still run, loads the next
/// runnable process into `frame` (or ends the run), and frees the old
/// process if it has finished.
fn switch_away(k: &mut Kernel, frame: &mut TrapFrame) {
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

fn finish_run(k: &mut Kernel) -> ! {
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
