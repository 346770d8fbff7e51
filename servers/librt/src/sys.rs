//! System-call wrappers (`syscall` instruction; numbers and conventions in
//! `abi`). The kernel also accepts `int 0x80` with the same registers.

use abi::{Errno, Syscall};

/// Raw system call with up to two arguments.
fn syscall2(call: Syscall, a0: u64, a1: u64) -> u64 {
    raw_syscall(call as u64, a0, a1)
}

/// A system call by raw number, for testing how the kernel treats unknown
/// numbers and bad arguments. Returns the raw `rax` value.
pub fn raw_syscall(number: u64, a0: u64, a1: u64) -> u64 {
    let ret: u64;
    // SAFETY: `syscall` enters the kernel, which reads rax/rdi/rsi, returns
    // its result in rax and preserves every register except rcx and r11
    // (which the instruction itself overwrites). Pointer arguments are
    // checked by the kernel, so a bad one is an error value.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") number => ret,
            in("rdi") a0,
            in("rsi") a1,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    ret
}

/// A system call with up to six arguments (`rdi`, `rsi`, `rdx`, `r10`,
/// `r8`, `r9`). Returns the raw `rax` value.
pub fn raw_syscall6(number: u64, a: [u64; 6]) -> u64 {
    let ret: u64;
    // SAFETY: as for `raw_syscall`, with the extra arguments in the
    // registers the kernel reads; it preserves all of them.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") number => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    ret
}

/// The same as [`raw_syscall`] through the `int 0x80` gate (kept for
/// tests of that entry path).
pub fn raw_int80(number: u64, a0: u64, a1: u64) -> u64 {
    let ret: u64;
    // SAFETY: as for `raw_syscall`; the gate preserves every register but
    // rax.
    unsafe {
        core::arch::asm!(
            "int 0x80",
            inlateout("rax") number => ret,
            in("rdi") a0,
            in("rsi") a1,
            options(nostack),
        );
    }
    ret
}

/// Prints `text` on the kernel console, prefixed with the program's name.
pub fn debug_print(text: &[u8]) -> Result<usize, Errno> {
    Errno::from_return(syscall2(
        Syscall::DebugPrint,
        text.as_ptr() as u64,
        text.len() as u64,
    ))
    .map(|n| n as usize)
}

/// Ends the program with `code`.
pub fn exit(code: i32) -> ! {
    syscall2(Syscall::Exit, code as u32 as u64, 0);
    // The kernel never returns from exit; if it did, fault rather than run on.
    loop {
        core::hint::spin_loop();
    }
}

/// Arms the caller's alarm `ticks` clock ticks from now (0 cancels); a
/// notification from `abi::CLOCK_ENDPOINT` arrives when it expires.
pub fn set_alarm(ticks: u64) -> Result<(), Errno> {
    Errno::from_return(raw_syscall(Syscall::SetAlarm as u64, ticks, 0)).map(drop)
}

/// Clock ticks since boot (`abi::CLOCK_HZ` per second).
pub fn uptime() -> u64 {
    raw_syscall(Syscall::Uptime as u64, 0, 0)
}

/// Wall-clock time at boot: Unix seconds (UTC) from the CMOS clock, 0 if
/// the kernel could not read it. Open to every process.
pub fn boot_time() -> u64 {
    raw_syscall(Syscall::BootTime as u64, 0, 0)
}

/// Hooks IRQ line `line`: each interrupt becomes a notification from
/// `abi::SYSTEM_ENDPOINT`.
pub fn irq_hook(line: u8) -> Result<(), Errno> {
    Errno::from_return(raw_syscall(Syscall::IrqHook as u64, u64::from(line), 0)).map(drop)
}

/// Sets the privileges of `target`: slots it may send to (bit set) and
/// kernel calls it may make (bit `n` = `abi::Syscall` number `n`).
pub fn set_priv(target: u32, send_to: u64, calls: u64) -> Result<(), Errno> {
    let a = [u64::from(target), send_to, calls, 0, 0, 0];
    Errno::from_return(raw_syscall6(Syscall::SetPriv as u64, a)).map(drop)
}

/// Starts a new process from the boot module called `module` with argument
/// string `args`; returns its endpoint.
pub fn spawn(module: &str, args: &str) -> Result<u32, Errno> {
    spawn_with(module, args, 0)
}

/// Like [`spawn`], but the new process does not run until [`update`] moves
/// it into an old endpoint (so it cannot block in IPC before the takeover).
pub fn spawn_stopped(module: &str, args: &str) -> Result<u32, Errno> {
    spawn_with(module, args, crate::abi::SPAWN_STOPPED)
}

fn spawn_with(module: &str, args: &str, flags: u64) -> Result<u32, Errno> {
    let a = [
        module.as_ptr() as u64,
        module.len() as u64,
        args.as_ptr() as u64,
        args.len() as u64,
        flags,
        0,
    ];
    Errno::from_return(raw_syscall6(Syscall::Spawn as u64, a)).map(|e| e as u32)
}

/// Makes `manager` the signal manager of `target`: a fault of `target`
/// keeps it for the manager and notifies the manager (from SYSTEM).
pub fn set_sigmgr(target: u32, manager: u32) -> Result<(), Errno> {
    let a = [u64::from(target), u64::from(manager), 0, 0, 0, 0];
    Errno::from_return(raw_syscall6(Syscall::SetSigMgr as u64, a)).map(drop)
}

/// Lets live process `new` take over endpoint `old` (whose process died
/// and was kept for its manager).
pub fn update(old: u32, new: u32) -> Result<(), Errno> {
    let a = [u64::from(old), u64::from(new), 0, 0, 0, 0];
    Errno::from_return(raw_syscall6(Syscall::Update as u64, a)).map(drop)
}

/// Like [`update`], and the pages `old`'s dead instance had mapped in the
/// preserved window (`abi::PRESERVE_BASE..PRESERVE_END`) move into `new`
/// at the same addresses (`new` must have nothing mapped there).
pub fn update_keep_window(old: u32, new: u32) -> Result<(), Errno> {
    let a = [
        u64::from(old),
        u64::from(new),
        abi::UPDATE_KEEP_WINDOW,
        0,
        0,
        0,
    ];
    Errno::from_return(raw_syscall6(Syscall::Update as u64, a)).map(drop)
}

/// Maps `count` pages at page-aligned `addr` inside this process's
/// preserved window (`abi::PRESERVE_BASE..PRESERVE_END`), writable: fresh
/// zeroed pages where nothing is mapped, pages already there (kept from a
/// previous instance by [`update_keep_window`]) left as they are. Needs no
/// kernel-call privilege.
pub fn map_preserved(addr: u64, count: u64) -> Result<(), Errno> {
    let me = crate::ipc::whois("")?;
    map_pages(me, addr, count, true)
}

/// The first `pages` pages of this process's preserved window, mapped
/// (see [`map_preserved`]) and handed out once per process as a byte
/// slice: kept pages show what the previous instance left there, fresh
/// ones are zero. `Inval` if asked twice or for more than the window.
pub fn preserved_window(pages: u64) -> Result<&'static mut [u8], Errno> {
    use core::sync::atomic::{AtomicBool, Ordering};
    static TAKEN: AtomicBool = AtomicBool::new(false);
    let len = pages.checked_mul(4096).ok_or(Errno::Inval)?;
    if pages == 0 || len > abi::PRESERVE_END - abi::PRESERVE_BASE {
        return Err(Errno::Inval);
    }
    let mut done = 0;
    while done < pages {
        let n = (pages - done).min(abi::MAX_MAP_PAGES);
        map_preserved(abi::PRESERVE_BASE + done * 4096, n)?;
        done += n;
    }
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Err(Errno::Inval);
    }
    // SAFETY: the kernel just mapped `len` bytes at PRESERVE_BASE writable
    // for this process; nothing else in the program uses the preserved
    // window (the heap, stack and images lie elsewhere), the pages are
    // never unmapped by the runtime, and `TAKEN` makes this the only
    // reference ever handed out, so the `'static mut` slice is unaliased.
    Ok(unsafe { core::slice::from_raw_parts_mut(abi::PRESERVE_BASE as *mut u8, len as usize) })
}

/// Ends the whole run: `verdict` 0 = pass, anything else = fail.
pub fn shutdown(verdict: u64) -> ! {
    raw_syscall(Syscall::Shutdown as u64, verdict, 0);
    // Only a process without the Shutdown privilege gets here.
    exit(abi::EXIT_PANIC)
}

/// Sets the scheduling priority (0 = highest .. 15) and quantum (clock
/// ticks) of `target`.
pub fn set_priority(target: u32, priority: u64, quantum: u64) -> Result<(), Errno> {
    let a = [u64::from(target), priority, quantum, 0, 0, 0];
    Errno::from_return(raw_syscall6(Syscall::SetPriority as u64, a)).map(drop)
}

/// Allows `target` port I/O on `count` ports from `first`.
pub fn set_io_priv(target: u32, first: u16, count: u32) -> Result<(), Errno> {
    let a = [
        u64::from(target),
        u64::from(first),
        u64::from(count),
        0,
        0,
        0,
    ];
    Errno::from_return(raw_syscall6(Syscall::SetIoPriv as u64, a)).map(drop)
}

/// Writes the byte `value` to `port` (needs the port in the caller's
/// privileges).
pub fn outb(port: u16, value: u8) -> Result<(), Errno> {
    let a = [
        u64::from(port),
        u64::from(value),
        abi::DEVIO_WRITE | abi::DEVIO_BYTE,
        0,
        0,
        0,
    ];
    Errno::from_return(raw_syscall6(Syscall::DevIo as u64, a)).map(drop)
}

/// Reads a byte from `port` (needs the port in the caller's privileges).
pub fn inb(port: u16) -> Result<u8, Errno> {
    let a = [u64::from(port), 0, abi::DEVIO_BYTE, 0, 0, 0];
    Errno::from_return(raw_syscall6(Syscall::DevIo as u64, a)).map(|v| v as u8)
}

/// Stops process `target` as if it had faulted.
pub fn kill(target: u32) -> Result<(), Errno> {
    let a = [u64::from(target), 0, 0, 0, 0, 0];
    Errno::from_return(raw_syscall6(Syscall::Kill as u64, a)).map(drop)
}

/// Maps `count` fresh zeroed pages at page-aligned `addr` in `target`'s
/// address space (the VM server's heap-growth primitive).
pub fn map_pages(target: u32, addr: u64, count: u64, writable: bool) -> Result<(), Errno> {
    let a = [u64::from(target), addr, count, u64::from(writable), 0, 0];
    Errno::from_return(raw_syscall6(Syscall::MapPages as u64, a)).map(drop)
}

/// Undoes [`irq_hook`] for `line`.
pub fn irq_unhook(line: u8) -> Result<(), Errno> {
    Errno::from_return(raw_syscall(Syscall::IrqUnhook as u64, u64::from(line), 0)).map(drop)
}

/// Writes the boot module list (`name args` lines) into `buf`; returns the
/// full length of the list.
pub fn boot_modules(buf: &mut [u8]) -> Result<usize, Errno> {
    Errno::from_return(raw_syscall(
        Syscall::BootModules as u64,
        buf.as_mut_ptr() as u64,
        buf.len() as u64,
    ))
    .map(|n| n as usize)
}

/// Runs `f` on the boot-module line (`name args`) of the module whose
/// process name is `name`, or `None` if the boot image has none. Reads the
/// list into a stack buffer (no heap: usable before the allocator is set
/// up, e.g. before `rt::persist::start`).
pub fn boot_module_line<R>(name: &str, f: impl FnOnce(Option<&str>) -> R) -> Result<R, Errno> {
    let mut buf = [0u8; 8192];
    let n = boot_modules(&mut buf)?.min(buf.len());
    let text = core::str::from_utf8(&buf[..n]).unwrap_or("");
    Ok(f(text
        .lines()
        .find(|l| l.split_ascii_whitespace().next() == Some(name))))
}

/// Whether the boot image has a module whose process name is `name` (RS
/// starts only the services whose images it has). False if the list cannot
/// be read.
pub fn in_boot_image(name: &str) -> bool {
    boot_module_line(name, |l| l.is_some()).unwrap_or(false)
}

fn call6(call: Syscall, a: [u64; 6]) -> Result<u64, Errno> {
    Errno::from_return(raw_syscall6(call as u64, a))
}

/// Process times of `target` (`abi::ENDPOINT_SELF` for the caller):
/// `[user ticks, system ticks, system TSC cycles, uptime ticks]`.
pub fn times(target: u32) -> Result<[u64; abi::TIMES_WORDS], Errno> {
    let mut buf = [0u8; abi::TIMES_WORDS * 8];
    call6(
        Syscall::Times,
        [u64::from(target), buf.as_mut_ptr() as u64, 0, 0, 0, 0],
    )?;
    let mut out = [0u64; abi::TIMES_WORDS];
    for (w, chunk) in out.iter_mut().zip(buf.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
    Ok(out)
}

/// One record of the boot memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemRegion {
    /// First physical address.
    pub start: u64,
    /// One past the last physical address.
    pub end: u64,
    /// `abi::MEM_AVAILABLE`, `MEM_RESERVED`, `MEM_MODULE` or `MEM_KERNEL`.
    pub kind: u64,
}

/// Reads the boot memory map into `buf` (whole records of
/// `abi::MEMMAP_RECORD` bytes); returns the full length of the map in
/// bytes. Decode the records with [`mem_regions`].
pub fn mem_map(buf: &mut [u8]) -> Result<usize, Errno> {
    call6(
        Syscall::MemMap,
        [buf.as_mut_ptr() as u64, buf.len() as u64, 0, 0, 0, 0],
    )
    .map(|n| n as usize)
}

/// Decodes the records [`mem_map`] wrote (a trailing partial record is
/// ignored).
pub fn mem_regions(bytes: &[u8]) -> impl Iterator<Item = MemRegion> + '_ {
    bytes.chunks_exact(abi::MEMMAP_RECORD).map(|r| {
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&r[i * 8..i * 8 + 8]);
            u64::from_le_bytes(b)
        };
        MemRegion {
            start: word(0),
            end: word(1),
            kind: word(2),
        }
    })
}

/// Replaces the IRQ lines `target` may hook (bit `n` = line `n`).
pub fn set_irq_priv(target: u32, lines: u64) -> Result<(), Errno> {
    call6(Syscall::SetIrqPriv, [u64::from(target), lines, 0, 0, 0, 0]).map(drop)
}

/// Adds physical memory `start .. start + len` to what `target` may have
/// mapped (`len` = 0 clears its ranges).
pub fn set_mem_priv(target: u32, start: u64, len: u64) -> Result<(), Errno> {
    call6(
        Syscall::SetMemPriv,
        [u64::from(target), start, len, 0, 0, 0],
    )
    .map(drop)
}

/// Maps `count` pages of physical memory at `phys` at user address `addr`
/// of `target` (within its memory ranges).
pub fn map_phys(
    target: u32,
    addr: u64,
    phys: u64,
    count: u64,
    writable: bool,
) -> Result<(), Errno> {
    let a = [u64::from(target), addr, phys, count, u64::from(writable), 0];
    call6(Syscall::MapPhys, a).map(drop)
}

/// Makes the `count` mapped pages at page-aligned `addr` of `target`
/// read-only or writable (`Protect`; a page whose frame is still shared
/// becomes copy-on-write, not writable in place). `Fault` if any page is
/// not mapped (nothing changed), `Perm` for a physical page mapped
/// read-only. Returns the number of pages whose mapping changed.
pub fn protect(target: u32, addr: u64, count: u64, writable: bool) -> Result<u64, Errno> {
    let a = [u64::from(target), addr, count, u64::from(writable), 0, 0];
    call6(Syscall::Protect, a)
}

/// Shares the frames of the `count` mapped pages at page-aligned `addr` of
/// `src` with `dst`, mapped read-only at its unmapped pages at `dst_addr`
/// (`SharePages`; each frame gains a reference, a writable source page
/// becomes copy-on-write). `Fault` if a source page is not mapped (or
/// physical) or a destination page is mapped (nothing changed), `Inval`
/// for the same endpoint twice, `NoMem` without frames for page tables.
/// Returns the number of pages shared.
pub fn share_pages(src: u32, addr: u64, dst: u32, dst_addr: u64, count: u64) -> Result<u64, Errno> {
    let a = [u64::from(src), addr, u64::from(dst), dst_addr, count, 0];
    call6(Syscall::SharePages, a)
}

/// Renames live process `target` (`SetName`; PM after an exec): 1 to
/// `abi::MAX_PROC_NAME` bytes of printable ASCII without spaces, else
/// `Inval`. The name shows in `[name]` console prefixes and kernel messages
/// and is what `WhoIs` finds. `Perm` for a plain user process and the
/// names `pm`, `vfs`, `vm`, `rs` or a `critical=` one (and for callers without
/// the call).
pub fn set_name(target: u32, name: &str) -> Result<(), Errno> {
    let a = [
        u64::from(target),
        name.as_ptr() as u64,
        name.len() as u64,
        0,
        0,
        0,
    ];
    call6(Syscall::SetName, a).map(drop)
}

/// Unmaps `count` pages at `addr` of `target`; returns how many were mapped.
pub fn unmap(target: u32, addr: u64, count: u64) -> Result<u64, Errno> {
    call6(Syscall::Unmap, [u64::from(target), addr, count, 0, 0, 0])
}

/// Tears down `target`'s whole user address space; returns the page count.
pub fn clear_space(target: u32) -> Result<u64, Errno> {
    call6(Syscall::ClearSpace, [u64::from(target), 0, 0, 0, 0, 0])
}

/// Makes `dst`'s user address space a copy of `src`'s.
pub fn clone_space(src: u32, dst: u32) -> Result<(), Errno> {
    call6(
        Syscall::CloneSpace,
        [u64::from(src), u64::from(dst), 0, 0, 0, 0],
    )
    .map(drop)
}

/// Forks the caller: `Ok(Some(child))` in the parent, `Ok(None)` in the
/// child.
pub fn fork() -> Result<Option<u32>, Errno> {
    call6(Syscall::Fork, [0; 6]).map(|e| (e != 0).then_some(e as u32))
}

/// Starts `target` afresh at `rip` with stack `rsp` and `rdi`/`rsi` =
/// `a0`/`a1` (all other registers zero) and makes it runnable.
pub fn set_entry(target: u32, rip: u64, rsp: u64, a0: u64, a1: u64) -> Result<(), Errno> {
    call6(Syscall::SetEntry, [u64::from(target), rip, rsp, a0, a1, 0]).map(drop)
}

/// Copies `len` bytes from `src_addr` of `src` to `dst_addr` of `dst`
/// without a grant (VM/PM only); returns the byte count.
pub fn vircopy(src: u32, src_addr: u64, dst: u32, dst_addr: u64, len: u64) -> Result<u64, Errno> {
    let a = [u64::from(src), src_addr, u64::from(dst), dst_addr, 0, len];
    call6(Syscall::VirCopy, a)
}

/// The endpoint that now holds the slot of (possibly stale) endpoint `ep`.
pub fn slot_owner(ep: u32) -> Result<u32, Errno> {
    call6(Syscall::SlotOwner, [u64::from(ep), 0, 0, 0, 0, 0]).map(|e| e as u32)
}

/// Frees `target`, a stopped process kept for its signal manager.
pub fn release(target: u32) -> Result<(), Errno> {
    call6(Syscall::Release, [u64::from(target), 0, 0, 0, 0, 0]).map(drop)
}

/// Raises signal `signo` for `target`; its signal manager is notified.
pub fn sig_send(target: u32, signo: u64) -> Result<(), Errno> {
    call6(Syscall::SigSend, [u64::from(target), signo, 0, 0, 0, 0]).map(drop)
}

/// For a signal manager: `Some((endpoint, signal bit set))` of one managed
/// process with pending signals (taken), or `None`.
pub fn sig_pending() -> Result<Option<(u32, u64)>, Errno> {
    let mut buf = [0u8; 16];
    let n = call6(
        Syscall::SigPending,
        [buf.as_mut_ptr() as u64, 0, 0, 0, 0, 0],
    )?;
    if n == 0 {
        return Ok(None);
    }
    let mut ep = [0u8; 8];
    let mut sigs = [0u8; 8];
    ep.copy_from_slice(&buf[..8]);
    sigs.copy_from_slice(&buf[8..]);
    Ok(Some((
        u64::from_le_bytes(ep) as u32,
        u64::from_le_bytes(sigs),
    )))
}

/// `target`'s state and registers: `[state, stop signal, rip, rsp, fault
/// address, error code]` (see `abi::Syscall::ProcInfo`).
pub fn proc_info(target: u32) -> Result<[u64; abi::PROCINFO_WORDS], Errno> {
    let mut buf = [0u8; abi::PROCINFO_WORDS * 8];
    call6(
        Syscall::ProcInfo,
        [u64::from(target), buf.as_mut_ptr() as u64, 0, 0, 0, 0],
    )?;
    let mut out = [0u64; abi::PROCINFO_WORDS];
    for (w, chunk) in out.iter_mut().zip(buf.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
    Ok(out)
}

/// Disables (`enable` false) or re-enables a hooked IRQ line (not the
/// clock); a disabled line's interrupt stays pending until re-enabled.
pub fn irq_ctl(line: u8, enable: bool) -> Result<(), Errno> {
    let a = [u64::from(line), u64::from(enable), 0, 0, 0, 0];
    call6(Syscall::IrqCtl, a).map(drop)
}

/// Hooks IRQ `line` with flags (`abi::IRQ_HOOK_MASK_ON_FIRE` for a
/// level-triggered PCI line: masked when it fires until [`irq_ctl`]
/// enables it again).
pub fn irq_hook_flags(line: u8, flags: u64) -> Result<(), Errno> {
    Errno::from_return(raw_syscall(Syscall::IrqHook as u64, u64::from(line), flags)).map(drop)
}

/// Maps `count` fresh zeroed, physically contiguous frames writable at the
/// page-aligned unmapped address `addr` of the caller; returns the
/// physical address of the first (DMA memory).
pub fn dma_alloc(addr: u64, count: u64) -> Result<u64, Errno> {
    Errno::from_return(raw_syscall(Syscall::DmaAlloc as u64, addr, count))
}

/// Physical address of the caller's `len` bytes at `addr`, which must be
/// mapped (writable if `device_writes`) and physically contiguous.
pub fn umap(addr: u64, len: u64, device_writes: bool) -> Result<u64, Errno> {
    let access = if device_writes {
        abi::GRANT_WRITE
    } else {
        abi::GRANT_READ
    };
    let a = [addr, len, access, 0, 0, 0];
    Errno::from_return(raw_syscall6(Syscall::UMap as u64, a))
}

/// Physical address of `len` bytes at `offset` in grant `id` of `granter`,
/// granted to the caller with `access` (`abi::GRANT_READ`: the device
/// reads them; `abi::GRANT_WRITE`: it writes them), mapped and physically
/// contiguous.
pub fn umap_grant(granter: u32, id: u32, offset: u64, len: u64, access: u64) -> Result<u64, Errno> {
    let a = [u64::from(granter), u64::from(id), offset, len, access, 0];
    Errno::from_return(raw_syscall6(Syscall::UMapGrant as u64, a))
}

/// Reads `port` with width `abi::DEVIO_BYTE` / `DEVIO_WORD` / `DEVIO_LONG`
/// (needs the port in the caller's privileges).
pub fn port_in(port: u16, width: u64) -> Result<u32, Errno> {
    let a = [u64::from(port), 0, width, 0, 0, 0];
    Errno::from_return(raw_syscall6(Syscall::DevIo as u64, a)).map(|v| v as u32)
}

/// Writes `value` to `port` with width `abi::DEVIO_BYTE` / `DEVIO_WORD` /
/// `DEVIO_LONG`.
pub fn port_out(port: u16, width: u64, value: u32) -> Result<(), Errno> {
    let a = [
        u64::from(port),
        u64::from(value),
        abi::DEVIO_WRITE | width,
        0,
        0,
        0,
    ];
    Errno::from_return(raw_syscall6(Syscall::DevIo as u64, a)).map(drop)
}

/// String port I/O, the raw call: `len` bytes between `port` and the
/// memory at `addr`, `flags` as for [`port_in`]/[`port_out`] widths plus
/// `abi::DEVIO_WRITE` (see `abi::Syscall::DevIoRep`; at most
/// `abi::DEVIO_REP_MAX` bytes).
pub fn dev_io_rep(port: u16, flags: u64, addr: u64, len: u64) -> Result<(), Errno> {
    let a = [u64::from(port), addr, flags, len, 0, 0];
    Errno::from_return(raw_syscall6(Syscall::DevIoRep as u64, a)).map(drop)
}

/// Fills `buf` from `port`, one access of `width` bytes (`abi::DEVIO_*`)
/// per `width` bytes of it, in as few kernel calls as the size limit
/// allows.
pub fn port_in_rep(port: u16, width: u64, buf: &mut [u8]) -> Result<(), Errno> {
    for c in buf.chunks_mut(abi::DEVIO_REP_MAX as usize) {
        dev_io_rep(port, width, c.as_mut_ptr() as u64, c.len() as u64)?;
    }
    Ok(())
}

/// Writes `buf` to `port`, one access of `width` bytes per `width` bytes.
pub fn port_out_rep(port: u16, width: u64, buf: &[u8]) -> Result<(), Errno> {
    for c in buf.chunks(abi::DEVIO_REP_MAX as usize) {
        dev_io_rep(
            port,
            abi::DEVIO_WRITE | width,
            c.as_ptr() as u64,
            c.len() as u64,
        )?;
    }
    Ok(())
}

/// Maps the data module `name` (a boot module with the argument
/// [`abi::DATA_MODULE_ARG`]) writable at page-aligned `addr` of this
/// process; returns its size in bytes.
pub fn module_map(name: &str, addr: u64) -> Result<u64, Errno> {
    let a = [name.as_ptr() as u64, name.len() as u64, addr, 0, 0, 0];
    Errno::from_return(raw_syscall6(Syscall::ModuleMap as u64, a))
}

/// Forks `parent` copy-on-write (VM): returns the child's endpoint. The
/// child is stopped, with the parent's saved registers, until [`resume`].
pub fn proc_fork(parent: u32) -> Result<u32, Errno> {
    call6(Syscall::ProcFork, [u64::from(parent), 0, 0, 0, 0, 0]).map(|e| e as u32)
}

/// Stops `target` (not the caller); returns the endpoint it is blocked on
/// in IPC, `abi::ENDPOINT_ANY` for a receive from anyone, or
/// `abi::ENDPOINT_NONE` when it is not in IPC.
pub fn stop(target: u32) -> Result<u32, Errno> {
    call6(Syscall::Stop, [u64::from(target), 0, 0, 0, 0, 0]).map(|e| e as u32)
}

/// Lets a stopped process run again.
pub fn resume(target: u32) -> Result<(), Errno> {
    call6(Syscall::Resume, [u64::from(target), 0, 0, 0, 0, 0]).map(drop)
}

fn words<const N: usize>(bytes: &[u8]) -> [u64; N] {
    let mut out = [0u64; N];
    for (w, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
    out
}

/// Saved registers of `target` (layout `rax rbx rcx rdx rsi rdi rbp r8
/// r9 r10 r11 r12 r13 r14 r15 rip rsp rflags`; indices `abi::REG_*`).
pub fn get_regs(target: u32) -> Result<[u64; abi::REGS_WORDS], Errno> {
    let mut buf = [0u8; abi::REGS_WORDS * 8];
    call6(
        Syscall::GetRegs,
        [u64::from(target), buf.as_mut_ptr() as u64, 0, 0, 0, 0],
    )?;
    Ok(words(&buf))
}

/// Replaces the registers of the stopped process `target` (sanitized by
/// the kernel; a pending IPC call of it is abandoned).
pub fn set_regs(target: u32, regs: &[u64; abi::REGS_WORDS]) -> Result<(), Errno> {
    let mut buf = [0u8; abi::REGS_WORDS * 8];
    for (chunk, w) in buf.chunks_exact_mut(8).zip(regs) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    call6(
        Syscall::SetRegs,
        [u64::from(target), buf.as_ptr() as u64, 0, 0, 0, 0],
    )
    .map(drop)
}

/// Makes `pager` (or `abi::ENDPOINT_NONE`: nobody) the pager of `target`.
pub fn set_pager(target: u32, pager: u32) -> Result<(), Errno> {
    call6(
        Syscall::SetPager,
        [u64::from(target), u64::from(pager), 0, 0, 0, 0],
    )
    .map(drop)
}

/// One page fault held for a pager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFault {
    /// The faulting process.
    pub endpoint: u32,
    /// The address it touched.
    pub addr: u64,
    /// The CPU error code (bit 0 present, bit 1 write, bit 2 user, bit 4
    /// instruction fetch).
    pub error: u64,
    /// The faulting instruction.
    pub rip: u64,
}

/// For a pager: one page fault held for it and not yet taken, if any.
pub fn page_faults() -> Result<Option<PageFault>, Errno> {
    let mut buf = [0u8; abi::PAGEFAULT_WORDS * 8];
    let n = call6(
        Syscall::PageFaults,
        [buf.as_mut_ptr() as u64, 0, 0, 0, 0, 0],
    )?;
    if n == 0 {
        return Ok(None);
    }
    let w: [u64; abi::PAGEFAULT_WORDS] = words(&buf);
    Ok(Some(PageFault {
        endpoint: w[0] as u32,
        addr: w[1],
        error: w[2],
        rip: w[3],
    }))
}

/// For a pager: resolves the fault held for `target` with `action`
/// (`abi::PAGEFIX_RETRY`, `PAGEFIX_COW` at `addr`, or `PAGEFIX_FAIL`).
pub fn page_fix(target: u32, addr: u64, action: u64) -> Result<(), Errno> {
    call6(Syscall::PageFix, [u64::from(target), addr, action, 0, 0, 0]).map(drop)
}

/// Memory statistics (`abi::MEMSTATS_WORDS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemStats {
    /// Frames the kernel manages.
    pub total: u64,
    /// Free frames.
    pub free: u64,
    /// Frames shared by more than one address space (copy-on-write).
    pub shared: u64,
    /// Copy-on-write breaks that copied a frame.
    pub cow_copies: u64,
    /// Copy-on-write breaks of a last reference (made writable, no copy).
    pub cow_reuses: u64,
}

/// The kernel's memory statistics.
pub fn mem_stats() -> Result<MemStats, Errno> {
    let mut buf = [0u8; abi::MEMSTATS_WORDS * 8];
    call6(Syscall::MemStats, [buf.as_mut_ptr() as u64, 0, 0, 0, 0, 0])?;
    let w: [u64; abi::MEMSTATS_WORDS] = words(&buf);
    Ok(MemStats {
        total: w[0],
        free: w[1],
        shared: w[2],
        cow_copies: w[3],
        cow_reuses: w[4],
    })
}

/// Gives `target` plain-user privileges: IPC only to the live processes
/// named `pm`, `vfs`, `vm` and `rs` (followed by the kernel as they start and
/// restart) and the kernel calls open to users (`GrantCreate`,
/// `GrantRevoke`, `Uptime`, `Times`, `MemStats`).
pub fn set_user_priv(target: u32) -> Result<(), Errno> {
    call6(
        Syscall::SetPriv,
        [
            u64::from(target),
            0,
            abi::USER_CALLS,
            abi::PRIV_USER_SERVERS,
            0,
            0,
        ],
    )
    .map(drop)
}
