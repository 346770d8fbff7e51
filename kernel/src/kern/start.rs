//! The boot sequence: frame allocator, kernel tasks and boot options, and
//! loading boot modules (ELF executables) into processes.

use crate::arch::paging::{AddressSpace, MapError};
use crate::arch::phys::{self, IdentityMem};
use crate::arch::trap::{self, TrapFrame};
use crate::arch::{boot, cpu, serial};
use crate::kprintln;
use alloc::vec::Vec;
use kernel_core::elf::{ElfError, ElfImage, LoadPolicy};
use kernel_core::frame::{FRAME_SIZE, FrameAllocator};
use kernel_core::hwpriv::{HwPrivileges, TscRate};
use kernel_core::ipc::{Ipc, Privileges};
use kernel_core::multiboot::{BootInfo, BootModule};
use kernel_core::options::Options;
use kernel_core::process::{CLOCK_SLOT, Endpoint, ProcessTable, SYSTEM_SLOT};
use kernel_core::profile::Profile;
use kernel_core::range::AddrRange;
use kernel_core::sched::RunQueues;

use super::privileges::refresh_servers;
use super::sched::{finish_run, make_runnable};
use super::{
    Ctx, DEFAULT_PRIORITY, FRAME_WORDS, FRAMES, KERNEL, Kernel, QUANTUM_TICKS, USER_RFLAGS,
};

/// Why a boot module could not become a process.
#[derive(Debug)]
pub(super) enum LoadError {
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
pub(super) fn boot_privileges() -> Privileges {
    Privileges {
        send_to: !((1u64 << SYSTEM_SLOT) | (1u64 << CLOCK_SLOT)),
        calls: u64::MAX,
        servers: false,
    }
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
pub(super) fn load_program(
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

/// Whether a boot module is data (listed, never started).
pub(super) fn is_data_module(m: &BootModule) -> bool {
    m.args().split_ascii_whitespace().next() == Some(abi::DATA_MODULE_ARG)
}
