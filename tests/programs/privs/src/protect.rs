//! `privs cow`, second part: `Protect`, the write permission of mapped
//! pages (VM's `mprotect`). The manager forks a worker P (eager `Fork`),
//! becomes its signal manager and pager, and drives it through writes
//! into its page [`PROT`]:
//!
//! * argument errors; a range with an unmapped page fails with nothing
//!   changed; physical pages become writable again only if they were
//!   mapped writable;
//! * read-only: `VirCopy` into the page fails, P's write faults to the
//!   pager (the page keeps its old value, `PageFix` COW is refused); made
//!   writable again, the held write goes through (`PageFix` RETRY);
//! * after a `ProcFork` of P (child Q, no pager) the copy-on-write page
//!   made read-only refuses kernel copies but stays shared; made writable
//!   it is copy-on-write again: Q's write copies it, P keeps its value;
//! * a second child R without a pager writes its page made read-only: a
//!   real fault (`SIGSEGV`), not resolved as copy-on-write by the kernel;
//! * P's page, its frame's last reference now, made writable is written
//!   without a fault held for the pager.

use alloc::collections::VecDeque;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use rt::abi::{self, Errno};
use rt::{ipc, sys};

/// Worker -> manager: ready / wrote (word 0: the value read back).
const P_READY: u32 = 60;
const P_WROTE: u32 = 61;
/// Manager -> worker: write word 0 of [`PROT`] (value in word 0).
const P_WRITE: u32 = 62;
/// Manager -> worker: exit.
const P_EXIT: u32 = 63;

/// Written by P before anything else.
const FIRST: u64 = 0x1234;
/// A page P maps for the range checks (the one after it stays unmapped).
const SPARE: u64 = 0x6400_0000;
/// Physical page for the `MapPhys` checks (conventional memory below the
/// kernel's allocator that nothing uses after boot) and where P maps it.
const PHYS: u64 = 0x5000;
const PHYS_VA: u64 = 0x6500_0000;

#[repr(C, align(4096))]
struct Page([AtomicU64; 512]);

/// P's page.
static PROT: Page = Page([const { AtomicU64::new(0) }; 512]);
static MANAGER: AtomicU32 = AtomicU32::new(0);

fn prot() -> u64 {
    &PROT as *const Page as u64
}

/// P (and, resumed from the same `SendRec`, its `ProcFork` children):
/// writes what it is told and reports the value read back.
fn worker() -> ! {
    let mgr = MANAGER.load(Ordering::SeqCst);
    PROT.0[0].store(FIRST, Ordering::SeqCst);
    let mut m = ipc::message(P_READY);
    loop {
        if ipc::sendrec(mgr, &mut m).is_err() {
            sys::exit(2);
        }
        if ipc::mtype(&m) != P_WRITE {
            sys::exit(0);
        }
        PROT.0[0].store(ipc::get(&m, 0), Ordering::SeqCst);
        m = ipc::message(P_WROTE);
        ipc::set(&mut m, 0, PROT.0[0].load(Ordering::SeqCst));
    }
}

fn write_msg(value: u64) -> ipc::Message {
    let mut m = ipc::message(P_WRITE);
    ipc::set(&mut m, 0, value);
    m
}

fn read_word(ep: u32, addr: u64) -> Option<u64> {
    let me = ipc::whois("").ok()?;
    let mut b = [0u8; 8];
    sys::vircopy(ep, addr, me, b.as_mut_ptr() as u64, 8).ok()?;
    Some(u64::from_le_bytes(b))
}

/// Whether the kernel copies 8 bytes into `addr` of `ep`.
fn kernel_writes(ep: u32, addr: u64) -> Result<u64, Errno> {
    let me = ipc::whois("")?;
    let b = 0xabcd_u64.to_le_bytes();
    sys::vircopy(me, b.as_ptr() as u64, ep, addr, 8)
}

/// Starts a stopped `ProcFork` child waiting in a `SendRec` with `reply`
/// at its saved `rsi`, `rax` = 0, resumed (as PM does).
fn start_child(child: u32, reply: &ipc::Message) -> bool {
    let Ok(me) = ipc::whois("") else { return false };
    let Ok(mut regs) = sys::get_regs(child) else {
        return false;
    };
    let copied = sys::vircopy(me, reply.as_ptr() as u64, child, regs[abi::REG_RSI], 64);
    regs[abi::REG_RAX] = 0;
    copied == Ok(64) && sys::set_regs(child, &regs).is_ok() && sys::resume(child).is_ok()
}

/// What the manager waits for.
#[derive(Debug)]
enum Event {
    Msg(u32, ipc::Message),
    /// A fault on [`PROT`], left held.
    ProtFault(sys::PageFault),
    Signals(u32, u64),
}

/// The manager's receive loop: copy-on-write faults elsewhere (P's stack
/// after the `ProcFork`s) are fixed on the spot, everything else queued.
struct Mgr {
    events: VecDeque<Event>,
    other_faults_failed: u32,
}

impl Mgr {
    fn next(&mut self) -> Option<Event> {
        while self.events.is_empty() {
            let m = ipc::receive(ipc::ANY).ok()?;
            let from = ipc::source(&m);
            if from != abi::SYSTEM_ENDPOINT {
                self.events.push_back(Event::Msg(from, m));
                continue;
            }
            while let Ok(Some(pf)) = sys::page_faults() {
                if pf.addr & !0xfff == prot() {
                    self.events.push_back(Event::ProtFault(pf));
                } else if sys::page_fix(pf.endpoint, pf.addr, abi::PAGEFIX_COW).is_err() {
                    rt::println!("failing fault {pf:?}");
                    self.other_faults_failed += 1;
                    let _ = sys::page_fix(pf.endpoint, pf.addr, abi::PAGEFIX_FAIL);
                }
            }
            while let Ok(Some((ep, sigs))) = sys::sig_pending() {
                self.events.push_back(Event::Signals(ep, sigs));
            }
        }
        self.events.pop_front()
    }

    /// The next event, expected to be a message from `ep`: its type and
    /// word 0.
    fn message_from(&mut self, ep: u32) -> Option<(u32, u64)> {
        match self.next()? {
            Event::Msg(from, m) if from == ep => Some((ipc::mtype(&m), ipc::get(&m, 0))),
            e => {
                rt::println!("expected a message from {ep:#x}, got {e:?}");
                None
            }
        }
    }

    /// Waits for `ep`'s exit (or other signals) and releases it.
    fn reap(&mut self, ep: u32) -> Option<u64> {
        match self.next()? {
            Event::Signals(from, sigs) if from == ep => sys::release(ep).is_ok().then_some(sigs),
            e => {
                rt::println!("expected signals for {ep:#x}, got {e:?}");
                None
            }
        }
    }
}

/// `Protect` checks (see the module comment).
pub fn checks(check: &mut impl FnMut(&str, bool)) {
    let Ok(me) = ipc::whois("") else {
        check("whois", false);
        return;
    };
    MANAGER.store(me, Ordering::SeqCst);
    let p = match sys::fork() {
        Ok(None) => worker(),
        Ok(Some(p)) => p,
        Err(_) => {
            check("fork the protect worker", false);
            return;
        }
    };
    let mut mgr = Mgr {
        events: VecDeque::new(),
        other_faults_failed: 0,
    };
    check(
        "protect worker ready",
        mgr.message_from(p) == Some((P_READY, 0)),
    );
    check(
        "manage and page the protect worker",
        sys::set_sigmgr(p, me).is_ok() && sys::set_pager(p, me).is_ok(),
    );
    argument_checks(check, p);
    phys_checks(check, p);

    // Read-only: refused to the kernel, a write by P held for the pager.
    check(
        "protect read-only",
        sys::protect(p, prot(), 1, false) == Ok(1),
    );
    check(
        "protect again changes nothing",
        sys::protect(p, prot(), 1, false) == Ok(0),
    );
    check(
        "kernel copy into a read-only page refused",
        kernel_writes(p, prot()) == Err(Errno::Fault) && read_word(p, prot()) == Some(FIRST),
    );
    check(
        "tell the worker to write",
        ipc::send(p, &write_msg(0x5555)).is_ok(),
    );
    let pf = match mgr.next() {
        Some(Event::ProtFault(pf)) => Some(pf),
        e => {
            rt::println!("expected the write fault, got {e:?}");
            None
        }
    };
    check(
        "write to a read-only page reached the pager",
        pf.is_some_and(|pf| pf.endpoint == p && pf.addr == prot() && pf.error & 0b111 == 0b111)
            && read_word(p, prot()) == Some(FIRST),
    );
    check(
        "page_fix COW of a read-only page refused",
        sys::page_fix(p, prot(), abi::PAGEFIX_COW) == Err(Errno::Fault),
    );
    check(
        "protect writable",
        sys::protect(p, prot(), 1, true) == Ok(1),
    );
    check(
        "retry the held write",
        sys::page_fix(p, prot(), abi::PAGEFIX_RETRY).is_ok(),
    );
    check(
        "the write went through",
        mgr.message_from(p) == Some((P_WROTE, 0x5555)),
    );

    // P waits for its reply: fork it copy-on-write.
    let Ok(q) = sys::proc_fork(p) else {
        check("proc_fork the protect worker", false);
        return;
    };
    let s1 = sys::mem_stats();
    check(
        "protect a copy-on-write page read-only",
        sys::set_pager(q, abi::ENDPOINT_NONE).is_ok() && sys::protect(q, prot(), 1, false) == Ok(1),
    );
    let s2 = sys::mem_stats();
    check(
        "read-only copy-on-write page refuses kernel copies",
        kernel_writes(q, prot()) == Err(Errno::Fault),
    );
    // No page is copied; the one frame it may take is the page table the
    // fork shared, which becomes the child's own.
    check(
        "its frame stays shared",
        s1.is_ok_and(|s1| {
            s2.is_ok_and(|s2| {
                s2.shared == s1.shared && s2.free + 1 >= s1.free && s2.cow_copies == s1.cow_copies
            })
        }),
    );
    check(
        "protect the shared page writable",
        sys::protect(q, prot(), 1, true) == Ok(1),
    );
    check("start the child", start_child(q, &write_msg(0x6666)));
    check(
        "the child wrote its own value",
        mgr.message_from(q) == Some((P_WROTE, 0x6666)),
    );
    check(
        "a shared page made writable was copied",
        read_word(p, prot()) == Some(0x5555) && read_word(q, prot()) == Some(0x6666),
    );

    // R: read-only copy-on-write page, no pager: a real fault.
    let Ok(r) = sys::proc_fork(p) else {
        check("second proc_fork of the protect worker", false);
        return;
    };
    check(
        "protect the second child's page read-only",
        sys::set_pager(r, abi::ENDPOINT_NONE).is_ok() && sys::protect(r, prot(), 1, false) == Ok(1),
    );
    check("start the second child", start_child(r, &write_msg(0x7777)));
    let sigs = mgr.reap(r);
    check(
        "a read-only copy-on-write page faults without a pager",
        sigs.is_some_and(|s| s & (1 << abi::SIGSEGV) != 0) && read_word(p, prot()) == Some(0x5555),
    );

    // P holds its frame's last reference now: writable in place, so its
    // write is not held for the pager (a fault on the page would come
    // before the report).
    check(
        "protect the last reference writable",
        sys::protect(p, prot(), 1, true) == Ok(1),
    );
    check(
        "tell the worker to write again",
        ipc::send(p, &write_msg(0x8888)).is_ok(),
    );
    check(
        "written without a fault",
        mgr.message_from(p) == Some((P_WROTE, 0x8888)),
    );
    rt::println!("protect memstats: {s1:?} {s2:?}");
    let exit = ipc::message(P_EXIT);
    check(
        "protect workers exit",
        ipc::send(q, &exit).is_ok()
            && mgr.reap(q).is_some_and(|s| s & (1 << abi::SIG_EXIT) != 0)
            && ipc::send(p, &exit).is_ok()
            && mgr.reap(p).is_some_and(|s| s & (1 << abi::SIG_EXIT) != 0),
    );
    check("no other fault failed", mgr.other_faults_failed == 0);
}

/// Bad arguments, and a range with an unmapped page (nothing changes).
fn argument_checks(check: &mut impl FnMut(&str, bool), p: u32) {
    check(
        "protect arguments refused",
        sys::protect(p, prot() + 8, 1, false) == Err(Errno::Inval)
            && sys::protect(p, prot(), 0, false) == Err(Errno::Inval)
            && sys::protect(p, prot(), abi::MAX_MAP_PAGES + 1, false) == Err(Errno::Inval)
            && sys::protect(p, 0x10_0000, 1, false) == Err(Errno::Fault)
            && sys::protect(p, abi::USER_STACK_TOP, 1, false) == Err(Errno::Fault)
            && sys::protect(0x7fff_0030, prot(), 1, false) == Err(Errno::DeadSrcDst),
    );
    check(
        "protect a range with a hole refused",
        sys::map_pages(p, SPARE, 1, true).is_ok()
            && sys::protect(p, SPARE, 2, false) == Err(Errno::Fault)
            && kernel_writes(p, SPARE) == Ok(8)
            && sys::protect(p, SPARE + 0x1000, 1, true) == Err(Errno::Fault),
    );
    check(
        "protect a mapped range",
        sys::protect(p, SPARE, 1, false) == Ok(1)
            && kernel_writes(p, SPARE) == Err(Errno::Fault)
            && sys::unmap(p, SPARE, 1) == Ok(1),
    );
}

/// Physical pages: writable again only if mapped writable.
fn phys_checks(check: &mut impl FnMut(&str, bool), p: u32) {
    let (ro, rw) = (PHYS_VA, PHYS_VA + 0x1000);
    check(
        "map a physical page twice",
        sys::set_mem_priv(p, PHYS, 4096).is_ok()
            && sys::map_phys(p, ro, PHYS, 1, false).is_ok()
            && sys::map_phys(p, rw, PHYS, 1, true).is_ok(),
    );
    check(
        "protect a writable physical page read-only",
        sys::protect(p, rw, 1, false) == Ok(1) && kernel_writes(p, rw) == Err(Errno::Fault),
    );
    check(
        "a read-only physical page cannot become writable",
        sys::protect(p, ro, 2, true) == Err(Errno::Perm)
            && kernel_writes(p, rw) == Err(Errno::Fault)
            && sys::protect(p, ro, 1, true) == Err(Errno::Perm),
    );
    check(
        "a writable physical page becomes writable again",
        sys::protect(p, rw, 1, true) == Ok(1)
            && kernel_writes(p, rw) == Ok(8)
            && read_word(p, ro) == Some(0xabcd),
    );
    check(
        "unmap the physical pages",
        sys::unmap(p, ro, 2) == Ok(2) && sys::set_mem_priv(p, 0, 0).is_ok(),
    );
}
