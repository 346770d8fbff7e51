//! `privs`: test program for privilege records. Run as three processes:
//! `privs:boss boss`, `privs:victim victim`, `privs:other other`.
//!
//! * boss: restricts `victim` to sending only to boss and to no kernel
//!   calls, then tells it to go and waits for its report.
//! * victim: waits for the go message, then checks that sending to or
//!   notifying `other` and making kernel calls (alarm, grant, set_priv) are
//!   denied with `Perm`, while replying to boss still works.
//! * other: waits for boss's final message and exits.
//!
//! `privs io` alone checks port I/O privileges: a port access is refused
//! before `SetIoPriv`, works after it (COM1's scratch register reads back
//! what was written), and a port outside the range is still refused. String
//! port I/O (`DevIoRep`) follows the same rule, moves a run of bytes in one
//! call, refuses bad lengths, and refuses a bad buffer before it touches
//! the port.
//!
//! `privs plain` runs as a plain user process (kernel option
//! `user=<its name>`): a request to `vfs` works, a send to `other` and
//! kernel calls other than the user ones are refused. `privs plain late`
//! also waits for a `vm` started after boot (`privs:vm latevm` spawns
//! `vm vmserve` in a new slot and exits) and sends it a request.
//!
//! `privs vm` maps four pages for itself with `MapPages`, checks they read
//! as zero and keep what is written, and that mapping outside user space
//! or misaligned is refused.
//!
//! `privs killer NAME` kills the process NAME (e.g. a pong blocked in
//! receive), then checks that it is gone and that a second kill fails.
//!
//! `privs hw` checks the IRQ-line and physical-memory parts of the
//! privilege record: `IrqHook` only on lines given with `SetIrqPriv`,
//! `MapPhys` only inside ranges given with `SetMemPriv` (two mappings of
//! one physical page see each other's writes; a read-only one refuses
//! writes), and `Unmap` removes a page.
//!
//! `privs times` spins for a few clock ticks and checks `Times` (user
//! ticks counted, system time measured); `privs memmap` checks the `MemMap`
//! boot memory map (RAM, modules, kernel image, cut at whole records).
//!
//! `privs fork` checks `Fork` (the child sees a copy of the parent's
//! memory; its writes do not reach the parent), `CloneSpace` argument
//! errors, and `ClearSpace` on a child blocked in receive (it is woken with
//! `Fault`, then faults on its vanished code and dies).
//!
//! `privs exec` builds a process the way PM/VM would for an exec: it
//! spawns a stopped process, tears its space down, clones its own image
//! into it, maps a fresh page, fills it with `VirCopy`, and starts it with
//! `SetEntry` at [`exec_entry`]. It also checks `SlotOwner` on a stale
//! endpoint whose slot was reused. (`privs idle` is the spawned program's
//! argument; it never runs.)
//!
//! `privs select` checks `receive` from one endpoint: two forked children
//! both block sending to the parent; receiving from the second one first
//! gets its message although the first one's was waiting longer.
//!
//! `privs reap` plays PM for a forked child: it becomes the child's signal
//! manager, raises a signal for it (`SigSend`, collected with
//! `SigPending`), kills it (as a fault would stop it: pending `SIGKILL`),
//! gets the notifications, and frees the kept child with `Release`. A
//! second child tears its own address space down and so faults on its next
//! instruction: pending `SIGSEGV`, and `ProcInfo` shows the kept state.
//!
//! `privs irqctl` drives a real device interrupt: it hooks COM1's IRQ 4,
//! disables the line, turns on the UART's transmitter-empty interrupt,
//! checks that nothing arrives while the line is disabled (an alarm comes
//! first), then enables the line and gets the pending interrupt as a
//! notification from SYSTEM.
//!
//! `privs pmwatch` plays PM for plain user processes (kernel option
//! `user=NAME` with a process named `pm`): it waits for a user process's
//! fault, collects the `SIGSEGV` and the fault address with `SigPending`
//! and `ProcInfo`, and releases the process.
//!
//! `privs cow` checks copy-on-write `ProcFork`, `Stop`/`Resume`,
//! `GetRegs`/`SetRegs`, pagers (`SetPager`, `PageFaults`, `PageFix`) and
//! `MemStats` (see `cow.rs`), then `Protect` (see `protect.rs`).
//!
//! `privs setname` (a system process) and `privs plainname` (a plain
//! user) check `SetName` (see `names.rs`).
//!
//! `privs share` checks `SharePages` (see `share.rs`).
//!
//! `privs badcalls` passes bad pointers, ranges and numbers to the newer
//! kernel calls and expects error values.
//!
//! Prints `check <name>: ok|WRONG`; exit code = number of wrong checks.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod cow;
mod names;
mod protect;
mod share;

use rt::abi::{DEVIO_BYTE, DEVIO_REP_MAX, DEVIO_WORD, DEVIO_WRITE, Errno, Syscall};
use rt::{grant, ipc, sys};

const GO: u32 = 30;
const REPORT: u32 = 31;
const BYE: u32 = 32;
const FORKED: u32 = 33;
const EXEC_REQ: u32 = 34;
const VM_READY: u32 = 35;
const VM_ASK: u32 = 36;
const VM_ANSWER: u32 = 37;

rt::entry!(main);

fn main(args: &str) -> i32 {
    let mut wrong = 0;
    let mut check = |name: &str, ok: bool| {
        rt::println!("check {name}: {}", if ok { "ok" } else { "WRONG" });
        if !ok {
            wrong += 1;
        }
    };
    let who = |n: &str| ipc::whois(n).unwrap_or(ipc::ANY);
    match args.split_ascii_whitespace().next() {
        Some("boss") => {
            let (victim, other) = (who("victim"), who("other"));
            let boss_slot = ipc::whois("boss").map_or(64, |e| e & 0xffff);
            check(
                "restrict victim",
                sys::set_priv(victim, 1u64 << boss_slot, 0).is_ok(),
            );
            let mut m = ipc::message(GO);
            check("victim reports", ipc::sendrec(victim, &mut m).is_ok());
            check("report type", ipc::mtype(&m) == REPORT);
            check("victim saw no surprises", ipc::get(&m, 0) == 0);
            check("tell other", ipc::send(other, &ipc::message(BYE)).is_ok());
        }
        Some("victim") => {
            let (boss, other) = (who("boss"), who("other"));
            let Ok(m) = ipc::receive(ipc::ANY) else {
                check("receive go", false);
                return wrong;
            };
            let mut surprises = 0u64;
            let mut expect_perm = |name: &str, r: Result<(), Errno>| {
                let ok = r == Err(Errno::Perm);
                rt::println!("check {name} denied: {}", if ok { "ok" } else { "WRONG" });
                if !ok {
                    surprises += 1;
                }
            };
            expect_perm("send to other", ipc::sendnb(other, &ipc::message(1)));
            expect_perm("notify other", ipc::notify(other));
            expect_perm("kernel call set_alarm", sys::set_alarm(5));
            expect_perm(
                "kernel call grant",
                grant::direct(boss, [0u8; 4].as_ptr(), 4, grant::READ).map(drop),
            );
            expect_perm(
                "kernel call set_priv",
                sys::set_priv(other, u64::MAX, u64::MAX),
            );
            let mut r = ipc::message(REPORT);
            ipc::set(&mut r, 0, surprises);
            check(
                "reply to boss allowed",
                ipc::send(ipc::source(&m), &r).is_ok(),
            );
            check("no surprises", surprises == 0);
        }
        Some("io") => {
            const SCRATCH: u16 = 0x3ff; // COM1 scratch register
            let me = ipc::whois("").unwrap_or(ipc::ANY);
            check(
                "port I/O refused before SetIoPriv",
                sys::inb(SCRATCH) == Err(Errno::Perm),
            );
            let mut run = [0u8; 3];
            check(
                "string port I/O refused before SetIoPriv",
                sys::port_in_rep(SCRATCH, DEVIO_BYTE, &mut run) == Err(Errno::Perm),
            );
            check(
                "grant scratch port",
                sys::set_io_priv(me, SCRATCH, 1).is_ok(),
            );
            check("write scratch", sys::outb(SCRATCH, 0x5a).is_ok());
            check("scratch reads back", sys::inb(SCRATCH) == Ok(0x5a));
            check(
                "other port still refused",
                sys::inb(0x3fe) == Err(Errno::Perm),
            );
            // String I/O: one kernel call, one access per byte; the
            // register keeps the last byte written.
            check(
                "string write",
                sys::port_out_rep(SCRATCH, DEVIO_BYTE, &[1, 2, 0x77]).is_ok(),
            );
            check(
                "string write left its last byte",
                sys::inb(SCRATCH) == Ok(0x77),
            );
            check(
                "string read",
                sys::port_in_rep(SCRATCH, DEVIO_BYTE, &mut run).is_ok() && run == [0x77; 3],
            );
            check(
                "string word access past the range refused",
                sys::port_in_rep(SCRATCH, DEVIO_WORD, &mut [0u8; 2]) == Err(Errno::Perm),
            );
            let ok_addr = run.as_mut_ptr() as u64;
            check(
                "string length of 0 or over the limit refused",
                sys::dev_io_rep(SCRATCH, DEVIO_BYTE, ok_addr, 0) == Err(Errno::Inval)
                    && sys::dev_io_rep(SCRATCH, DEVIO_BYTE, ok_addr, DEVIO_REP_MAX + 1)
                        == Err(Errno::Inval),
            );
            // A bad buffer is refused before the port is touched: the
            // write from unmapped memory leaves the register as it was,
            // the read into a read-only static writes nothing there.
            check(
                "string write from unmapped memory refused, port untouched",
                sys::dev_io_rep(SCRATCH, DEVIO_BYTE | DEVIO_WRITE, 0x10, 2) == Err(Errno::Fault)
                    && sys::inb(SCRATCH) == Ok(0x77),
            );
            static READ_ONLY: [u8; 4] = [9, 8, 7, 6];
            check(
                "string read into read-only memory refused",
                sys::dev_io_rep(SCRATCH, DEVIO_BYTE, READ_ONLY.as_ptr() as u64, 4)
                    == Err(Errno::Fault)
                    && core::hint::black_box(&READ_ONLY) == &[9, 8, 7, 6],
            );
        }
        Some("plain") => {
            let (vfs, other) = (who("vfs"), who("other"));
            let mut m = ipc::message(1); // pong's PING
            ipc::set(&mut m, 0, 5);
            check(
                "request to vfs allowed",
                ipc::sendrec(vfs, &mut m).is_ok() && ipc::get(&m, 0) == 10,
            );
            check(
                "send to other denied",
                ipc::sendnb(other, &ipc::message(1)) == Err(Errno::Perm),
            );
            check("kernel call denied", sys::set_alarm(1) == Err(Errno::Perm));
            let uptime = sys::raw_syscall(Syscall::Uptime as u64, 0, 0);
            check(
                "user kernel calls allowed",
                sys::mem_stats().is_ok_and(|s| s.free > 0 && s.total >= s.free)
                    && sys::times(rt::abi::ENDPOINT_SELF).is_ok()
                    && Errno::from_return(uptime).is_ok(),
            );
            check(
                "process calls denied",
                sys::proc_fork(vfs) == Err(Errno::Perm)
                    && sys::stop(vfs) == Err(Errno::Perm)
                    && sys::page_faults() == Err(Errno::Perm)
                    && sys::protect(vfs, rt::abi::USER_BASE, 1, false) == Err(Errno::Perm),
            );
            if args.split_ascii_whitespace().nth(1) == Some("late") {
                // A process named vm started after boot, in another slot
                // (see `latevm`), is reachable too.
                let m = ipc::receive(ipc::ANY);
                let late = m.map(|m| ipc::source(&m)).unwrap_or(ipc::ANY);
                // The boot instance's endpoint comes in the payload.
                let boot_vm = m.map(|m| ipc::get(&m, 0)).unwrap_or(0) as u32;
                check(
                    "vm started later in another slot",
                    m.is_ok_and(|m| ipc::mtype(&m) == VM_READY)
                        && late & 0xffff != boot_vm & 0xffff,
                );
                let mut q = ipc::message(VM_ASK);
                check(
                    "request to the later vm allowed",
                    ipc::sendrec(late, &mut q).is_ok() && ipc::mtype(&q) == VM_ANSWER,
                );
            }
            let mut q = ipc::message(3); // pong's QUIT
            check("quit vfs", ipc::sendrec(vfs, &mut q).is_ok());
        }
        Some("latevm") => {
            // The boot instance: start another `vm` (a new slot), then exit.
            let me = ipc::whois("").unwrap_or(ipc::ANY);
            let args = alloc::format!("vmserve {me}");
            check("spawn a later vm", sys::spawn("vm", &args).is_ok());
        }
        Some("vmserve") => {
            let me = ipc::whois("").unwrap_or(ipc::ANY);
            // Wait for the boot instance to be gone: then this is "vm".
            while ipc::whois("vm") != Ok(me) {
                if sys::set_alarm(1).is_err() || ipc::receive(rt::abi::CLOCK_ENDPOINT).is_err() {
                    check("wait for the boot vm to exit", false);
                    return wrong;
                }
            }
            let sh = who("sh");
            let boot_vm: u64 = args
                .split_ascii_whitespace()
                .nth(1)
                .and_then(|w| w.parse().ok())
                .unwrap_or(0);
            let mut ready = ipc::message(VM_READY);
            ipc::set(&mut ready, 0, boot_vm);
            check("tell the user", ipc::send(sh, &ready).is_ok());
            let asked = ipc::receive(sh).is_ok_and(|m| ipc::mtype(&m) == VM_ASK);
            check("user asks", asked);
            check(
                "answer the user",
                ipc::send(sh, &ipc::message(VM_ANSWER)).is_ok(),
            );
        }
        Some("vm") => {
            const HEAP: u64 = 0x6000_0000;
            let me = ipc::whois("").unwrap_or(ipc::ANY);
            check("map 4 pages", sys::map_pages(me, HEAP, 4, true).is_ok());
            let mut buf = [0xffu8; 16];
            // Read and write the new pages through a grant to ourselves,
            // which goes through the kernel's checked copy path.
            let g = grant::direct(me, HEAP as *const u8, 4 * 4096, grant::READ | grant::WRITE);
            let g = g.unwrap_or(u32::MAX);
            check("fresh pages are zero", {
                let ok = grant::copy_from(me, g, 3 * 4096, &mut buf).is_ok();
                ok && buf == [0u8; 16]
            });
            check(
                "pages keep data",
                grant::copy_to(me, g, 4096 + 8, b"vm pages work!!!").is_ok() && {
                    let mut back = [0u8; 16];
                    grant::copy_from(me, g, 4096 + 8, &mut back).is_ok()
                        && &back == b"vm pages work!!!"
                },
            );
            check(
                "map over the kernel refused",
                sys::map_pages(me, 0x10_0000, 1, true) == Err(Errno::Fault),
            );
            check(
                "misaligned map refused",
                sys::map_pages(me, HEAP + 1, 1, true) == Err(Errno::Inval),
            );
        }
        Some("hw") => hw_checks(&mut check),
        Some("times") => {
            let start = sys::uptime();
            while sys::uptime() < start + 5 {
                core::hint::spin_loop();
            }
            match sys::times(rt::abi::ENDPOINT_SELF) {
                Ok([user, sys_ticks, sys_cycles, uptime]) => {
                    rt::println!(
                        "times: user {user} ticks, system {sys_ticks} ticks ({sys_cycles} cycles), uptime {uptime}"
                    );
                    check("user ticks counted", user >= 1 && user <= uptime);
                    check("system time measured", sys_cycles > 0);
                    check("uptime matches", uptime >= start + 5);
                }
                Err(e) => {
                    rt::println!("times failed: {e:?}");
                    check("times", false);
                }
            }
            check(
                "times of a dead endpoint refused",
                sys::times(0x7fff_0030) == Err(Errno::DeadSrcDst),
            );
        }
        Some("badcalls") => {
            // New calls with bad pointers and numbers: errors, never a
            // kernel panic.
            let me = u64::from(ipc::whois("").unwrap_or(ipc::ANY));
            let fault = Errno::Fault.to_return();
            let raw = |n: Syscall, a: [u64; 6]| sys::raw_syscall6(n as u64, a);
            let kernel_addr = 0x10_0000;
            check(
                "times into kernel memory",
                raw(Syscall::Times, [me, kernel_addr, 0, 0, 0, 0]) == fault,
            );
            check(
                "memmap into unmapped memory",
                raw(Syscall::MemMap, [0x7000_0000, 4096, 0, 0, 0, 0]) == fault,
            );
            check(
                "procinfo into a null pointer",
                raw(Syscall::ProcInfo, [me, 0, 0, 0, 0, 0]) == fault,
            );
            check(
                "vircopy from kernel memory",
                raw(Syscall::VirCopy, [me, kernel_addr, me, 0x7000_0000, 0, 8]) == fault,
            );
            check(
                "unmap a wrapping range",
                raw(Syscall::Unmap, [me, u64::MAX - 4095, 2, 0, 0, 0]) == fault,
            );
            check(
                "map phys with a huge count",
                raw(Syscall::MapPhys, [me, 0x6000_0000, 0, u64::MAX, 1, 0])
                    == Errno::Inval.to_return(),
            );
            check(
                "unused call numbers",
                [1000u64, 1 << 40]
                    .iter()
                    .all(|&n| sys::raw_syscall6(n, [0; 6]) == Errno::NoSys.to_return()),
            );
        }
        Some("irqctl") => {
            const COM1: u16 = 0x3f8;
            let me = ipc::whois("").unwrap_or(ipc::ANY);
            let from = |m: Result<ipc::Message, Errno>| m.map(|m| ipc::source(&m)).ok();
            check("COM1 ports", sys::set_io_priv(me, COM1, 8).is_ok());
            check(
                "ctl of an unhooked line refused",
                sys::irq_ctl(4, false) == Err(Errno::Inval),
            );
            check("hook IRQ 4", sys::irq_hook(4).is_ok());
            check(
                "clock cannot be disabled",
                sys::irq_ctl(0, false) == Err(Errno::Inval),
            );
            check("disable IRQ 4", sys::irq_ctl(4, false).is_ok());
            // IER bit 1: interrupt while the transmit register is empty
            // (it is, so the UART raises its line at once).
            check("enable THRE interrupt", sys::outb(COM1 + 1, 0x02).is_ok());
            check(
                "nothing while disabled",
                sys::set_alarm(3).is_ok()
                    && from(ipc::receive(ipc::ANY)) == Some(rt::abi::CLOCK_ENDPOINT),
            );
            check("enable IRQ 4", sys::irq_ctl(4, true).is_ok());
            check(
                "pending interrupt arrives",
                from(ipc::receive(ipc::ANY)) == Some(rt::abi::SYSTEM_ENDPOINT),
            );
            // Quiet the UART again: no interrupts, acknowledge by reading IIR.
            check("disable THRE interrupt", sys::outb(COM1 + 1, 0).is_ok());
            check("read IIR", sys::inb(COM1 + 2).is_ok());
            check("unhook IRQ 4", sys::irq_unhook(4).is_ok());
        }
        Some("pmwatch") => {
            let note = ipc::receive(ipc::ANY);
            check(
                "fault notification",
                note.is_ok_and(|m| ipc::source(&m) == rt::abi::SYSTEM_ENDPOINT),
            );
            match sys::sig_pending() {
                Ok(Some((user, sigs))) => {
                    check("SIGSEGV pending", sigs == 1 << rt::abi::SIGSEGV);
                    let info = sys::proc_info(user);
                    check(
                        "fault address",
                        info.is_ok_and(|i| i[0] == rt::abi::PROC_STOPPED && i[4] == 0xdead_beef),
                    );
                    check("release the user process", sys::release(user).is_ok());
                }
                _ => check("SIGSEGV pending", false),
            }
        }
        Some("memmap") => {
            let mut buf = [0u8; 1024];
            let total = sys::mem_map(&mut buf).unwrap_or(0);
            check(
                "memmap whole records",
                total > 0 && total.is_multiple_of(rt::abi::MEMMAP_RECORD) && total <= buf.len(),
            );
            let regions = || sys::mem_regions(&buf[..total.min(buf.len())]);
            for r in regions() {
                rt::println!("memmap: {:#x}..{:#x} kind {}", r.start, r.end, r.kind);
            }
            check(
                "memmap has RAM above 1 MiB",
                regions().any(|r| r.kind == rt::abi::MEM_AVAILABLE && r.end > 0x10_0000),
            );
            check(
                "memmap has this module",
                regions().any(|r| r.kind == rt::abi::MEM_MODULE && r.start < r.end),
            );
            check(
                "memmap has the kernel",
                regions().any(|r| r.kind == rt::abi::MEM_KERNEL && r.start >= 0x10_0000),
            );
            let mut one = [0u8; rt::abi::MEMMAP_RECORD + 5];
            check(
                "memmap cut at a record",
                sys::mem_map(&mut one) == Ok(total) && one[rt::abi::MEMMAP_RECORD..] == [0; 5],
            );
        }
        Some("fork") => fork_checks(&mut check),
        Some("exec") => exec_checks(&mut check),
        Some("select") => select_checks(&mut check),
        Some("reap") => reap_checks(&mut check),
        Some("cow") => {
            cow::checks(&mut check);
            protect::checks(&mut check);
        }
        Some("killer") => {
            let name = args.split_ascii_whitespace().nth(1).unwrap_or("pong");
            let target = who(name);
            check("kill", sys::kill(target).is_ok());
            check("target gone", ipc::whois(name) == Err(Errno::DeadSrcDst));
            check(
                "second kill refused",
                sys::kill(target) == Err(Errno::DeadSrcDst),
            );
        }
        Some("setname") => names::namer(&mut check),
        Some("share") => share::checks(&mut check),
        Some("plainname") => names::plain(&mut check),
        Some("other") => {
            let m = ipc::receive(ipc::ANY);
            check("bye from boss", m.is_ok_and(|m| ipc::mtype(&m) == BYE));
        }
        _ => {
            rt::println!("usage: privs boss|victim|other");
            return 2;
        }
    }
    wrong
}

/// `privs hw`: IRQ lines and physical memory ranges.
fn hw_checks(check: &mut impl FnMut(&str, bool)) {
    // A conventional-memory page below the kernel's allocator (it reserves
    // the first MiB) that nothing uses after boot.
    const PHYS: u64 = 0x5000;
    const VA: u64 = 0x6000_0000;
    let me = ipc::whois("").unwrap_or(ipc::ANY);
    check("narrow IRQ lines", sys::set_irq_priv(me, 1 << 4).is_ok());
    check("hook IRQ 3 denied", sys::irq_hook(3) == Err(Errno::Perm));
    check("hook IRQ 4 allowed", sys::irq_hook(4).is_ok());
    check("unhook IRQ 4", sys::irq_unhook(4).is_ok());
    check("bad IRQ line", sys::irq_hook(16) == Err(Errno::Inval));
    check(
        "bad IRQ mask",
        sys::set_irq_priv(me, 1 << 16) == Err(Errno::Inval),
    );
    check(
        "map phys without a range denied",
        sys::map_phys(me, VA, PHYS, 1, true) == Err(Errno::Perm),
    );
    check(
        "kernel image range refused",
        sys::set_mem_priv(me, 0x20_0000, 4096) == Err(Errno::Perm),
    );
    check(
        "allocator RAM range refused",
        sys::set_mem_priv(me, 0x100_0000, 4096) == Err(Errno::Perm),
    );
    check(
        "give memory range",
        sys::set_mem_priv(me, PHYS, 4096).is_ok(),
    );
    check(
        "unaligned memory range refused",
        sys::set_mem_priv(me, PHYS + 1, 4096) == Err(Errno::Inval),
    );
    check(
        "map phys writable",
        sys::map_phys(me, VA, PHYS, 1, true).is_ok(),
    );
    check(
        "map phys read-only",
        sys::map_phys(me, VA + 0x1000, PHYS, 1, false).is_ok(),
    );
    check(
        "map phys outside the range denied",
        sys::map_phys(me, VA + 0x2000, PHYS + 0x1000, 1, true) == Err(Errno::Perm),
    );
    check(
        "map phys over a mapped page refused",
        sys::map_phys(me, VA, PHYS, 1, true) == Err(Errno::Fault),
    );
    check(
        "map phys unaligned refused",
        sys::map_phys(me, VA + 0x2000, PHYS + 8, 1, true) == Err(Errno::Inval),
    );
    check(
        "map phys into the kernel refused",
        sys::map_phys(me, 0x10_0000, PHYS, 1, true) == Err(Errno::Fault),
    );
    let rw = grant::direct(me, VA as *const u8, 8192, grant::READ | grant::WRITE);
    let g = rw.unwrap_or(u32::MAX);
    check(
        "both mappings show one page",
        grant::copy_to(me, g, 16, b"physical memory!").is_ok() && {
            let mut back = [0u8; 16];
            grant::copy_from(me, g, 4096 + 16, &mut back).is_ok() && &back == b"physical memory!"
        },
    );
    check(
        "read-only mapping refuses writes",
        grant::copy_to(me, g, 4096, b"x") == Err(Errno::Fault),
    );
    check("unmap one page", sys::unmap(me, VA, 1) == Ok(1));
    let mut b = [0u8; 1];
    check(
        "unmapped page is gone",
        grant::copy_from(me, g, 0, &mut b) == Err(Errno::Fault),
    );
    check("unmap the other", sys::unmap(me, VA, 2) == Ok(1));
}

/// `privs fork`: fork, clone errors, tearing down a blocked child.
fn fork_checks(check: &mut impl FnMut(&str, bool)) {
    const HEAP: u64 = 0x6000_0000;
    let me = ipc::whois("").unwrap_or(ipc::ANY);
    check("map heap", sys::map_pages(me, HEAP, 1, true).is_ok());
    let g = grant::direct(me, HEAP as *const u8, 4096, grant::READ | grant::WRITE);
    let g = g.unwrap_or(u32::MAX);
    check("write heap", grant::copy_to(me, g, 0, b"parent").is_ok());
    match sys::fork() {
        Ok(None) => {
            // The child: same memory contents, but its own copy.
            let child = ipc::whois("").unwrap_or(ipc::ANY);
            let g = grant::direct(child, HEAP as *const u8, 4096, grant::READ | grant::WRITE);
            let g = g.unwrap_or(u32::MAX);
            let mut b = [0u8; 6];
            let saw = grant::copy_from(child, g, 0, &mut b).is_ok() && &b == b"parent";
            let wrote = grant::copy_to(child, g, 0, b"child!").is_ok();
            let mut m = ipc::message(FORKED);
            ipc::set(&mut m, 0, u64::from(saw && wrote));
            let sent = ipc::send(me, &m).is_ok();
            rt::println!("child: saw parent memory {saw}, reported {sent}");
            sys::exit(if saw && wrote && sent { 0 } else { 1 });
        }
        Ok(Some(child)) => {
            check("child is another process", child != me);
            let m = ipc::receive(child);
            check(
                "child saw a copy",
                m.is_ok_and(|m| ipc::mtype(&m) == FORKED && ipc::get(&m, 0) == 1),
            );
            let mut b = [0u8; 6];
            check(
                "parent memory unchanged",
                grant::copy_from(me, g, 0, &mut b).is_ok() && &b == b"parent",
            );
            check(
                "clone onto itself refused",
                sys::clone_space(me, me) == Err(Errno::Inval),
            );
            check(
                "clone of a dead endpoint refused",
                sys::clone_space(me, 0x7fff_0030) == Err(Errno::DeadSrcDst),
            );
        }
        Err(e) => {
            rt::println!("fork failed: {e:?}");
            check("fork", false);
            return;
        }
    }
    match sys::fork() {
        Ok(None) => {
            // Second child: waits, and is torn down while waiting.
            let r = ipc::receive(me);
            // Not reached: the code is gone once the call returns.
            rt::println!("second child woke with {:?}", r.map(drop));
            sys::exit(3);
        }
        Ok(Some(child)) => {
            // Sleep so the child runs and blocks in receive first.
            let slept = sys::set_alarm(3).is_ok() && ipc::receive(rt::abi::CLOCK_ENDPOINT).is_ok();
            check("sleep", slept);
            check(
                "clear child space",
                sys::clear_space(child).is_ok_and(|n| n > 0),
            );
            let mut m = ipc::message(1);
            check(
                "torn-down child dies",
                ipc::sendrec(child, &mut m) == Err(Errno::DeadSrcDst),
            );
        }
        Err(_) => check("second fork", false),
    }
}

/// Where `privs exec` maps the started process's data page.
const EXEC_PAGE: u64 = 0x6100_0000;
/// What `privs exec` copies into it.
const EXEC_TEXT: &[u8; 16] = b"copied by VM!!!!";

/// `privs exec`: spawn stopped, clear, clone, map, copy, set entry.
fn exec_checks(check: &mut impl FnMut(&str, bool)) {
    let me = ipc::whois("").unwrap_or(ipc::ANY);
    let Ok(child) = sys::spawn_stopped("ex", "idle") else {
        check("spawn stopped", false);
        return;
    };
    check(
        "clear its space",
        sys::clear_space(child).is_ok_and(|n| n > 0),
    );
    check(
        "clone my image into it",
        sys::clone_space(me, child).is_ok(),
    );
    check(
        "map its data page",
        sys::map_pages(child, EXEC_PAGE, 2, true).is_ok(),
    );
    let text = *EXEC_TEXT;
    check(
        "vircopy into it",
        sys::vircopy(
            rt::abi::ENDPOINT_SELF,
            text.as_ptr() as u64,
            child,
            EXEC_PAGE,
            16,
        ) == Ok(16),
    );
    check(
        "vircopy to unmapped memory refused",
        sys::vircopy(me, text.as_ptr() as u64, child, 0x6200_0000, 16) == Err(Errno::Fault),
    );
    check(
        "vircopy too long refused",
        sys::vircopy(me, text.as_ptr() as u64, child, EXEC_PAGE, 1 << 20) == Err(Errno::Inval),
    );
    check(
        "set entry of itself refused",
        sys::set_entry(me, 0, 0, 0, 0) == Err(Errno::Inval),
    );
    let entry = exec_entry as *const () as u64;
    // The stack is the top of the fresh second page; rsp = 8 mod 16 as
    // after a call.
    let rsp = EXEC_PAGE + 2 * 4096 - 8;
    check(
        "set entry",
        sys::set_entry(child, entry, rsp, 7, u64::from(me)).is_ok(),
    );
    // The started process reports back.
    let m = ipc::receive(child);
    check(
        "started process reports",
        m.is_ok_and(|m| ipc::mtype(&m) == FORKED && ipc::get(&m, 0) == 1),
    );
    // Exec of a process blocked in its request to us (as PM sees it): the
    // request is abandoned and the process starts at the new entry.
    match sys::fork() {
        Ok(None) => {
            let mut req = ipc::message(EXEC_REQ);
            let r = ipc::sendrec(me, &mut req);
            rt::println!("exec request returned: {:?}", r);
            sys::exit(7);
        }
        Ok(Some(child)) => {
            let req = ipc::receive(child);
            check(
                "exec request received",
                req.is_ok_and(|m| ipc::mtype(&m) == EXEC_REQ),
            );
            let text = *EXEC_TEXT;
            let prepared = sys::map_pages(child, EXEC_PAGE, 2, true).is_ok()
                && sys::vircopy(me, text.as_ptr() as u64, child, EXEC_PAGE, 16) == Ok(16);
            check("prepare blocked child", prepared);
            check(
                "set entry of a blocked process",
                sys::set_entry(child, entry, rsp, 7, u64::from(me)).is_ok(),
            );
            let m = ipc::receive(child);
            check(
                "blocked process restarted",
                m.is_ok_and(|m| ipc::mtype(&m) == FORKED && ipc::get(&m, 0) == 1),
            );
        }
        Err(_) => check("fork for exec", false),
    }
    // SlotOwner: a stale endpoint names whoever holds its slot now.
    let Ok(a) = sys::spawn_stopped("ex", "idle") else {
        check("spawn a", false);
        return;
    };
    check("slot owner of a live endpoint", sys::slot_owner(a) == Ok(a));
    check("kill a", sys::kill(a).is_ok());
    check(
        "slot owner of an empty slot",
        sys::slot_owner(a) == Err(Errno::DeadSrcDst),
    );
    match sys::spawn_stopped("ex", "idle") {
        Ok(b) if b & 0xffff == a & 0xffff => {
            check(
                "stale endpoint is refused",
                ipc::sendnb(a, &ipc::message(1)) == Err(Errno::DeadSrcDst),
            );
            check("slot owner names the new one", sys::slot_owner(a) == Ok(b));
            check("kill b", sys::kill(b).is_ok());
        }
        _ => check("slot reused", false),
    }
}

/// Where `privs exec` starts its prepared process (`a` = 7, `b` = the
/// starter's endpoint): checks its registers
/// and the copied page, reports to the process that started it, exits.
extern "C" fn exec_entry(a: u64, b: u64) -> ! {
    let me = ipc::whois("").unwrap_or(ipc::ANY);
    let g = grant::direct(me, EXEC_PAGE as *const u8, 16, grant::READ).unwrap_or(u32::MAX);
    let mut back = [0u8; 16];
    let copied = grant::copy_from(me, g, 0, &mut back).is_ok() && &back == EXEC_TEXT;
    let ok = a == 7 && copied;
    rt::println!("exec entry: args {a} {b}, copied page {copied}");
    // The second argument is the starter's endpoint.
    let starter = b as u32;
    let mut m = ipc::message(FORKED);
    ipc::set(&mut m, 0, u64::from(ok));
    let sent = ipc::send(starter, &m).is_ok();
    sys::exit(if ok && sent { 0 } else { 1 })
}

/// `privs select`: receive from a specific endpoint skips other senders.
fn select_checks(check: &mut impl FnMut(&str, bool)) {
    let me = ipc::whois("").unwrap_or(ipc::ANY);
    let mut children = [0u32; 2];
    for (i, c) in children.iter_mut().enumerate() {
        match sys::fork() {
            Ok(None) => {
                let mut m = ipc::message(FORKED);
                ipc::set(&mut m, 0, i as u64 + 1);
                let sent = ipc::send(me, &m).is_ok();
                sys::exit(if sent { 0 } else { 1 });
            }
            Ok(Some(child)) => *c = child,
            Err(_) => {
                check("fork", false);
                return;
            }
        }
    }
    // Sleep so both children block in send, the first one first.
    let slept = sys::set_alarm(3).is_ok() && ipc::receive(rt::abi::CLOCK_ENDPOINT).is_ok();
    check("sleep", slept);
    let second = ipc::receive(children[1]);
    check(
        "receive from the second child first",
        second.is_ok_and(|m| ipc::source(&m) == children[1] && ipc::get(&m, 0) == 2),
    );
    let first = ipc::receive(ipc::ANY);
    check(
        "then the first child's message",
        first.is_ok_and(|m| ipc::source(&m) == children[0] && ipc::get(&m, 0) == 1),
    );
}

/// `privs reap`: signal manager, stop, notification, release.
fn reap_checks(check: &mut impl FnMut(&str, bool)) {
    let me = ipc::whois("").unwrap_or(ipc::ANY);
    let child = match sys::fork() {
        Ok(None) => {
            // Wait for a message that never comes.
            let _ = ipc::receive(me);
            sys::exit(5);
        }
        Ok(Some(child)) => child,
        Err(_) => {
            check("fork", false);
            return;
        }
    };
    check(
        "release of a live process refused",
        sys::release(child) == Err(Errno::Inval),
    );
    check(
        "signal without a manager refused",
        sys::sig_send(child, 15) == Err(Errno::Inval),
    );
    check("become signal manager", sys::set_sigmgr(child, me).is_ok());
    check("raise SIGTERM", sys::sig_send(child, 15).is_ok());
    check(
        "bad signal number refused",
        sys::sig_send(child, 64) == Err(Errno::Inval),
    );
    let from_system = |m: Result<ipc::Message, Errno>| {
        m.is_ok_and(|m| ipc::source(&m) == rt::abi::SYSTEM_ENDPOINT)
    };
    check("signal notification", from_system(ipc::receive(ipc::ANY)));
    check(
        "SIGTERM pending",
        sys::sig_pending() == Ok(Some((child, 1 << 15))),
    );
    check("taken once", sys::sig_pending() == Ok(None));
    check("stop the child", sys::kill(child).is_ok());
    check("notified by SYSTEM", from_system(ipc::receive(ipc::ANY)));
    check(
        "SIGKILL pending",
        sys::sig_pending() == Ok(Some((child, 1 << rt::abi::SIGKILL))),
    );
    check(
        "kept child inspected",
        sys::proc_info(child)
            .is_ok_and(|i| i[0] == rt::abi::PROC_STOPPED && i[1] == rt::abi::SIGKILL),
    );
    check("release the kept child", sys::release(child).is_ok());
    check(
        "released once only",
        sys::release(child) == Err(Errno::DeadSrcDst),
    );
    check(
        "slot is empty",
        sys::slot_owner(child) == Err(Errno::DeadSrcDst),
    );
    // A real fault: the child removes its own code, but only once the
    // parent has become its manager (the child may run first).
    let faulty = match sys::fork() {
        Ok(None) => {
            let _ = ipc::receive(me);
            let own = ipc::whois("").unwrap_or(ipc::ANY);
            let _ = sys::clear_space(own);
            sys::exit(6);
        }
        Ok(Some(c)) => c,
        Err(_) => {
            check("second fork", false);
            return;
        }
    };
    check(
        "manage the second child",
        sys::set_sigmgr(faulty, me).is_ok(),
    );
    check(
        "live before its fault",
        sys::proc_info(faulty)
            .is_ok_and(|i| i[0] == rt::abi::PROC_RUNNABLE || i[0] == rt::abi::PROC_BLOCKED),
    );
    check(
        "tell the child to fault",
        ipc::send(faulty, &ipc::message(1)).is_ok(),
    );
    check("fault notification", from_system(ipc::receive(ipc::ANY)));
    check(
        "SIGSEGV pending",
        sys::sig_pending() == Ok(Some((faulty, 1 << rt::abi::SIGSEGV))),
    );
    match sys::proc_info(faulty) {
        Ok(i) => {
            rt::println!(
                "fault info: state {} signal {} rip {:#x} rsp {:#x} addr {:#x} error {:#x}",
                i[0],
                i[1],
                i[2],
                i[3],
                i[4],
                i[5]
            );
            check(
                "fault state kept",
                i[0] == rt::abi::PROC_STOPPED
                    && i[1] == rt::abi::SIGSEGV
                    && i[2] == i[4]
                    && i[2] >= rt::abi::USER_BASE
                    && i[3] >= rt::abi::USER_STACK_BOTTOM,
            );
        }
        Err(_) => check("fault state kept", false),
    }
    check("release the faulted child", sys::release(faulty).is_ok());
}
