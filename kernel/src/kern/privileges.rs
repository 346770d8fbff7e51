//! Privileges: plain users and the server slots they may reach, IRQ,
//! memory and I/O-port privileges, port I/O, and `SetPriv`.

use crate::arch::cpu;
use crate::arch::trap::TrapFrame;
use abi::{Errno, Syscall};
use kernel_core::frame::FRAME_SIZE;
use kernel_core::ipc::Privileges;
use kernel_core::process::{Endpoint, USER_SERVERS};
use kernel_core::range::AddrRange;

use super::memory::{prepare_write, write_to};
use super::start::boot_privileges;
use super::{Ctx, Kernel, live_slot};

/// Whether the process in `slot` is a plain user (`Privileges::servers`).
pub(super) fn is_plain_user(k: &Kernel, slot: usize) -> bool {
    k.ipc.privileges(slot).is_some_and(|p| p.servers)
}

/// The live process named `name` for a lookup (`WhoIs`, the server
/// slots): a system process before a plain user of the same name, then
/// the lowest slot.
pub(super) fn find_named<'a>(
    k: &'a Kernel,
    name: &str,
) -> Option<&'a kernel_core::process::Process<Ctx>> {
    k.procs.find_preferring(name, |s| is_plain_user(k, s))
}

/// Tells IPC which slots the live processes named in [`USER_SERVERS`]
/// occupy now: plain users (`Privileges::servers`) may send there. Called
/// whenever the set of live processes or their names change (start, fork,
/// death, `Update`, `SetName`), so services RS starts or replaces later
/// are reachable and a dead one's slot is not. A plain user never counts
/// as a server, whatever its name.
pub(super) fn refresh_servers(k: &mut Kernel) {
    let slots = USER_SERVERS
        .iter()
        .filter_map(|n| find_named(k, n))
        .filter(|p| !is_plain_user(k, p.endpoint.slot()))
        .fold(0u64, |m, p| m | 1u64 << p.endpoint.slot());
    k.ipc.set_server_slots(slots);
}

/// `SetIrqPriv`: replaces the IRQ lines a process may hook; lines it
/// hooked and may no longer use are unhooked.
pub(super) fn set_irq_priv(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
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
pub(super) fn set_mem_priv(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
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

/// `SetIoPriv`: adds a port range to a live process's privileges.
pub(super) fn set_io_priv(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
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

/// The port and access width (bytes) of a `DevIo` or `DevIoRep` call, if
/// every byte of the access lies in one of the caller's port ranges.
fn allowed_port(k: &Kernel, slot: usize, f: &TrapFrame) -> Result<(u16, u32), Errno> {
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
    Ok((port, width))
}

fn port_read(port: u16, width: u32) -> u32 {
    match width {
        1 => u32::from(cpu::inb(port)),
        2 => u32::from(cpu::inw(port)),
        _ => cpu::inl(port),
    }
}

fn port_write(port: u16, width: u32, v: u32) {
    match width {
        1 => cpu::outb(port, v as u8),
        2 => cpu::outw(port, v as u16),
        _ => cpu::outl(port, v),
    }
}

/// `DevIo`: one port access, if every byte of it lies in one of the
/// caller's port ranges.
pub(super) fn dev_io(k: &Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let (port, width) = allowed_port(k, slot, f)?;
    if f.rdx & abi::DEVIO_WRITE != 0 {
        port_write(port, width, f.rsi as u32);
        Ok(0)
    } else {
        Ok(u64::from(port_read(port, width)))
    }
}

/// `DevIoRep`: `r10` bytes between a port and the caller's buffer at
/// `rsi`, one access per `width` bytes (little-endian, as `rep ins`/`outs`
/// lay them out). The buffer is checked whole before the port is touched.
pub(super) fn dev_io_rep(k: &mut Kernel, slot: usize, f: &TrapFrame) -> Result<u64, Errno> {
    let (port, width) = allowed_port(k, slot, f)?;
    let len = f.r10;
    if len == 0 || len > abi::DEVIO_REP_MAX || !len.is_multiple_of(u64::from(width)) {
        return Err(Errno::Inval);
    }
    let mut buf = [0u8; abi::DEVIO_REP_MAX as usize];
    let buf = &mut buf[..len as usize];
    let w = width as usize;
    if f.rdx & abi::DEVIO_WRITE != 0 {
        let space = &k.procs.get(slot).ok_or(Errno::Inval)?.ctx.space;
        space.read_user(f.rsi, buf).ok_or(Errno::Fault)?;
        for c in buf.chunks_exact(w) {
            let mut v = [0u8; 4];
            v[..w].copy_from_slice(c);
            port_write(port, width, u32::from_le_bytes(v));
        }
    } else {
        // Writable (copy-on-write broken) before any device data is
        // consumed: the copy out below cannot fail then.
        prepare_write(k, slot, f.rsi, len)?;
        for c in buf.chunks_exact_mut(w) {
            c.copy_from_slice(&port_read(port, width).to_le_bytes()[..w]);
        }
        write_to(k, slot, f.rsi, buf)?;
    }
    Ok(0)
}

/// `MapPages` by a process on itself inside the preserved window needs no
/// call-mask bit: any service (not a plain user) may grow the memory it
/// keeps across restarts (bounded by the window's size).
pub(super) fn own_window_map(k: &Kernel, slot: usize, call: Syscall, f: &TrapFrame) -> bool {
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

/// `SetPriv`: replaces another live process's privilege record. The kernel
/// tasks' bits can never be granted as send targets (they do not receive).
/// With `PRIV_USER_SERVERS` in `r10` it may also send to PM, VFS, VM and
/// RS wherever they run (the plain-user rule).
pub(super) fn set_priv(k: &mut Kernel, f: &TrapFrame) -> Result<u64, Errno> {
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
