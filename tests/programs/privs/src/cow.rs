//! `privs cow`: the kernel calls VM and PM use for fork, paging and
//! signals. The manager forks a worker (eager `Fork`), becomes its signal
//! manager and pager, and `ProcFork`s it twice while it waits in a
//! `SendRec`: child C keeps the manager as pager, child D gets none. It
//! starts both children as PM would (reply written with `VirCopy` at the
//! address in their saved `rsi`, `rax` = 0 with `SetRegs`, `Resume`) and
//! answers the worker. Then:
//!
//! * worker, C and D each write their own value into one shared page:
//!   everyone reads back its own value; a write fault that needs a copy
//!   reaches the manager (held: the page still shows the old value) and
//!   `PageFix` COW resolves it — of the worker's and C's at least one
//!   needs a copy (three spaces share the frame, only the last writer
//!   finds it unshared, which the kernel then makes writable in place);
//!   D's is resolved by the kernel alone;
//! * `MemStats`: the fork shares frames without copying; the writes copy;
//!   in the end no frame is shared any more;
//! * C, stopped while it waits in a `SendRec` to the manager, gets its
//!   reply deposited but does not run; `GetRegs` shows the completed call;
//!   `SetRegs` (sanitized) redirects it to [`redirected`], which reports
//!   and exits;
//! * the worker reads an unmapped address; the manager fails the fault
//!   with `PageFix` FAIL and gets `SIGSEGV` for it as signal manager;
//! * a fault held for a pager that then exits is failed (the faulting
//!   process is not left hanging): `SIGSEGV` again.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use rt::abi::{self, Errno};
use rt::{ipc, sys};

const READY: u32 = 40;
const PARENT: u32 = 41;
const CHILD: u32 = 42;
const CHILD2: u32 = 43;
const REPORT: u32 = 44;
const CRASH: u32 = 45;
const CONT: u32 = 46;
const REDIRECTED: u32 = 47;
const DONE: u32 = 48;
const GO: u32 = 49;
const SAW_FAULT: u32 = 50;

/// What the worker writes before the fork.
const BEFORE: u64 = 0x1111;
/// Passed to [`redirected`] in `rdi`.
const MAGIC: u64 = 0x5eed_f00d;

/// One page of its own (copy-on-write after the fork): word 0 is the
/// value each process writes, word 1 is set by C only if it ever runs past
/// its stopped `SendRec`.
#[repr(C, align(4096))]
struct Page([AtomicU64; 512]);

static PAGE: Page = Page([const { AtomicU64::new(0) }; 512]);
/// The manager's endpoint (set before the worker is forked).
static MANAGER: AtomicU32 = AtomicU32::new(0);

fn page_addr() -> u64 {
    &PAGE as *const Page as u64
}

/// Where C is sent by `SetRegs`: report the magic and word 1, exit.
extern "C" fn redirected(magic: u64) -> ! {
    let mut m = ipc::message(REDIRECTED);
    ipc::set(&mut m, 0, magic);
    ipc::set(&mut m, 8, PAGE.0[1].load(Ordering::SeqCst));
    let sent = ipc::send(MANAGER.load(Ordering::SeqCst), &m).is_ok();
    sys::exit(if sent { 0 } else { 7 })
}

/// The worker, and after the `ProcFork`s its children too (they resume
/// from the same `SendRec`).
fn worker() -> ! {
    let mgr = MANAGER.load(Ordering::SeqCst);
    PAGE.0[0].store(BEFORE, Ordering::SeqCst);
    let mut m = ipc::message(READY);
    if ipc::sendrec(mgr, &mut m).is_err() {
        sys::exit(2);
    }
    let role = ipc::mtype(&m);
    let value = match role {
        PARENT => 111,
        CHILD => 222,
        CHILD2 => 333,
        _ => sys::exit(3),
    };
    let before = PAGE.0[0].load(Ordering::SeqCst);
    PAGE.0[0].store(value, Ordering::SeqCst);
    let mut r = ipc::message(REPORT);
    ipc::set(&mut r, 0, before);
    ipc::set(&mut r, 8, PAGE.0[0].load(Ordering::SeqCst));
    ipc::set(&mut r, 16, u64::from(role));
    if ipc::sendrec(mgr, &mut r).is_err() {
        sys::exit(4);
    }
    match ipc::mtype(&r) {
        CRASH => {
            rt::fault::bad_pointer_read();
            sys::exit(5)
        }
        CONT => {
            // Only if C ran on after its reply while stopped (wrong).
            PAGE.0[1].store(1, Ordering::SeqCst);
            let mut again = ipc::message(REPORT);
            let _ = ipc::sendrec(mgr, &mut again);
            sys::exit(6)
        }
        _ => sys::exit(0),
    }
}

fn read_word(ep: u32, addr: u64) -> Option<u64> {
    let me = ipc::whois("").ok()?;
    let mut b = [0u8; 8];
    sys::vircopy(ep, addr, me, b.as_mut_ptr() as u64, 8).ok()?;
    Some(u64::from_le_bytes(b))
}

/// Starts a stopped `ProcFork` child waiting in a `SendRec` as PM would:
/// the reply of type `role` at its saved `rsi`, `rax` = 0, resumed.
fn start_child(child: u32, role: u32) -> bool {
    let Ok(me) = ipc::whois("") else { return false };
    let Ok(mut regs) = sys::get_regs(child) else {
        return false;
    };
    let reply = ipc::message(role);
    let copied = sys::vircopy(me, reply.as_ptr() as u64, child, regs[abi::REG_RSI], 64);
    regs[abi::REG_RAX] = 0;
    copied == Ok(64) && sys::set_regs(child, &regs).is_ok() && sys::resume(child).is_ok()
}

fn sleep(ticks: u64) -> bool {
    sys::set_alarm(ticks).is_ok() && ipc::receive(abi::CLOCK_ENDPOINT).is_ok()
}

/// Faults and signals seen by the manager.
#[derive(Default)]
struct Seen {
    /// Per process (worker, C, D): a write fault on [`PAGE`] reached the
    /// manager while the page still showed [`BEFORE`].
    held_on_page: [bool; 3],
    /// Page faults held for the manager that were not write faults on a
    /// present page (only the worker's crash is expected).
    failed: u32,
    crash_addr: u64,
    cow_fix_errors: u32,
    /// Faults from D, which has no pager (should stay 0).
    faults_from_d: u32,
    segv: bool,
    released: u32,
}

/// `privs cow` (see the module comment).
pub fn checks(check: &mut impl FnMut(&str, bool)) {
    let Ok(me) = ipc::whois("") else {
        check("whois", false);
        return;
    };
    MANAGER.store(me, Ordering::SeqCst);
    let w = match sys::fork() {
        Ok(None) => worker(),
        Ok(Some(w)) => w,
        Err(_) => {
            check("fork the worker", false);
            return;
        }
    };
    check(
        "worker ready",
        ipc::receive(w).is_ok_and(|m| ipc::mtype(&m) == READY),
    );
    check(
        "stop of the caller refused",
        sys::stop(me) == Err(Errno::Inval),
    );
    check("no page faults yet", sys::page_faults() == Ok(None));
    check("manage the worker", sys::set_sigmgr(w, me).is_ok());
    check(
        "own pager refused",
        sys::set_pager(w, w) == Err(Errno::Inval),
    );
    check("become the worker's pager", sys::set_pager(w, me).is_ok());

    let s0 = sys::mem_stats().unwrap_or(sys::MemStats {
        total: 0,
        free: 0,
        shared: 0,
        cow_copies: 0,
        cow_reuses: 0,
    });
    let c = sys::proc_fork(w);
    let s1 = sys::mem_stats().unwrap_or(s0);
    rt::println!("memstats before fork: {s0:?}; after: {s1:?}; child {:?}", c);
    let Ok(c) = c else {
        check("proc_fork", false);
        return;
    };
    check("child is a new process", c != w && c != me);
    let shared = s1.shared.saturating_sub(s0.shared);
    let used = s0.free.saturating_sub(s1.free);
    check(
        "fork shares frames instead of copying",
        shared >= 16 && shared > used,
    );
    check(
        "no copy at fork",
        s1.cow_copies == s0.cow_copies && s1.cow_reuses == s0.cow_reuses,
    );
    check(
        "proc_fork of a dead endpoint refused",
        sys::proc_fork(0x7fff_0030) == Err(Errno::DeadSrcDst),
    );
    let Ok(d) = sys::proc_fork(w) else {
        check("second proc_fork", false);
        return;
    };
    check(
        "second child without a pager",
        sys::set_pager(d, abi::ENDPOINT_NONE).is_ok(),
    );
    let (wregs, cregs) = (sys::get_regs(w), sys::get_regs(c));
    check(
        "child has the parent's registers",
        wregs.is_ok()
            && wregs == cregs
            && cregs.is_ok_and(|r| r[abi::REG_RAX] == abi::Syscall::SendRec as u64),
    );
    check(
        "set_regs of a process not stopped refused",
        wregs.is_ok_and(|r| sys::set_regs(w, &r) == Err(Errno::Inval)),
    );
    check(
        "page_fix without a held fault refused",
        sys::page_fix(c, 0, abi::PAGEFIX_RETRY) == Err(Errno::Inval),
    );
    check(
        "page_fix by a process that is not the pager refused",
        sys::page_fix(d, 0, abi::PAGEFIX_RETRY) == Err(Errno::Perm),
    );
    check("start child C", start_child(c, CHILD));
    check("start child D", start_child(d, CHILD2));
    check(
        "answer the worker",
        ipc::send(w, &ipc::message(PARENT)).is_ok(),
    );

    let mut seen = Seen::default();
    let mut values = [None::<(u64, u64)>; 3];
    let mut redirect = None;
    let who = |ep: u32| [w, c, d].iter().position(|&e| e == ep);
    while seen.released < 3 {
        let Ok(m) = ipc::receive(ipc::ANY) else {
            check("receive", false);
            return;
        };
        let from = ipc::source(&m);
        if from == abi::SYSTEM_ENDPOINT {
            handle_faults(&mut seen, &who, w, d);
            handle_signals(&mut seen, check, w, c, d);
            continue;
        }
        match (who(from), ipc::mtype(&m)) {
            (Some(i), REPORT) => {
                values[i] = Some((ipc::get(&m, 0), ipc::get(&m, 8)));
                let answer = match i {
                    0 => ipc::send(w, &ipc::message(CRASH)).is_ok(),
                    1 => redirect_c(check, me, c),
                    _ => ipc::send(d, &ipc::message(DONE)).is_ok(),
                };
                if !answer {
                    check("answer a report", false);
                }
            }
            (Some(1), REDIRECTED) => redirect = Some((ipc::get(&m, 0), ipc::get(&m, 8))),
            (_, t) => rt::println!("unexpected message {t} from {from:#x}"),
        }
    }
    rt::println!("values {values:?}, redirect {redirect:?}");
    check(
        "parent and children see their own values",
        values
            == [
                Some((BEFORE, 111)),
                Some((BEFORE, 222)),
                Some((BEFORE, 333)),
            ],
    );
    check(
        "write faults reached the pager while held",
        seen.held_on_page[0] || seen.held_on_page[1],
    );
    check("PageFix COW resolved them", seen.cow_fix_errors == 0);
    check(
        "a process without a pager is resolved by the kernel",
        seen.faults_from_d == 0 && !seen.held_on_page[2],
    );
    check(
        "the crash reached the pager",
        seen.failed == 1 && seen.crash_addr == rt::fault::BAD_ADDRESS,
    );
    check("PageFix FAIL gave SIGSEGV", seen.segv);
    check(
        "redirected child ran with the new registers",
        redirect == Some((MAGIC, 0)),
    );
    let s2 = sys::mem_stats().unwrap_or(s1);
    rt::println!("memstats at the end: {s2:?}");
    check(
        "writes copied shared frames",
        s2.cow_copies >= s1.cow_copies + 2 && s2.cow_reuses > s1.cow_reuses,
    );
    check("no frame shared any more", s2.shared == s0.shared);
    pager_death(check, me);
}

/// A pager takes a held fault and exits without fixing it: the fault
/// fails and the manager gets `SIGSEGV`.
fn pager_death(check: &mut impl FnMut(&str, bool), me: u32) {
    let pager = match sys::fork() {
        Ok(None) => {
            // Wait for the fault notification, look at it, report, exit.
            let _ = ipc::receive(ipc::ANY);
            let pf = sys::page_faults();
            let mut m = ipc::message(SAW_FAULT);
            if let Ok(Some(pf)) = pf {
                ipc::set(&mut m, 0, u64::from(pf.endpoint));
                ipc::set(&mut m, 8, pf.addr);
            }
            let _ = ipc::send(me, &m);
            sys::exit(0)
        }
        Ok(Some(p)) => p,
        Err(_) => {
            check("fork a pager", false);
            return;
        }
    };
    let victim = match sys::fork() {
        Ok(None) => {
            let _ = ipc::receive(me);
            rt::fault::bad_pointer_read();
            sys::exit(9)
        }
        Ok(Some(v)) => v,
        Err(_) => {
            check("fork a victim", false);
            return;
        }
    };
    check(
        "victim gets a pager that will die",
        sys::set_sigmgr(victim, me).is_ok() && sys::set_pager(victim, pager).is_ok(),
    );
    check(
        "start the victim",
        ipc::send(victim, &ipc::message(GO)).is_ok(),
    );
    let (mut saw, mut segv) = (false, false);
    while !segv {
        let Ok(m) = ipc::receive(ipc::ANY) else {
            check("receive", false);
            return;
        };
        if ipc::source(&m) == pager && ipc::mtype(&m) == SAW_FAULT {
            saw = true;
            check(
                "fault held for the other pager",
                ipc::get(&m, 0) == u64::from(victim) && ipc::get(&m, 8) == rt::fault::BAD_ADDRESS,
            );
        } else if ipc::source(&m) == abi::SYSTEM_ENDPOINT {
            while let Ok(Some((ep, sigs))) = sys::sig_pending() {
                if ep == victim && sigs & (1 << abi::SIGSEGV) != 0 {
                    segv = true;
                    // The pager saw the fault held, then exited.
                    check("pager death fails the held fault", saw);
                    check("release the victim", sys::release(victim).is_ok());
                }
            }
        }
    }
}

/// Takes every page fault held for the manager: write faults on present
/// pages are copy-on-write breaks (checked against [`PAGE`]), anything
/// else fails.
fn handle_faults(seen: &mut Seen, who: &impl Fn(u32) -> Option<usize>, w: u32, d: u32) {
    while let Ok(Some(pf)) = sys::page_faults() {
        if pf.endpoint == d {
            seen.faults_from_d += 1;
        }
        let present_write = pf.error & 0b11 == 0b11;
        if present_write {
            if pf.addr & !0xfff == page_addr()
                && let Some(i) = who(pf.endpoint)
            {
                seen.held_on_page[i] = read_word(pf.endpoint, page_addr()) == Some(BEFORE);
            }
            if sys::page_fix(pf.endpoint, pf.addr, abi::PAGEFIX_COW).is_err() {
                seen.cow_fix_errors += 1;
                let _ = sys::page_fix(pf.endpoint, pf.addr, abi::PAGEFIX_FAIL);
            }
        } else {
            rt::println!(
                "failing fault of {:#x} at {:#x} (error {:#x}, rip {:#x})",
                pf.endpoint,
                pf.addr,
                pf.error,
                pf.rip
            );
            seen.failed += 1;
            if pf.endpoint == w {
                seen.crash_addr = pf.addr;
            }
            let _ = sys::page_fix(pf.endpoint, pf.addr, abi::PAGEFIX_FAIL);
        }
    }
}

/// Takes the signals of the managed processes: the worker's SIGSEGV, the
/// children's exits; releases each.
fn handle_signals(seen: &mut Seen, check: &mut impl FnMut(&str, bool), w: u32, c: u32, d: u32) {
    while let Ok(Some((ep, sigs))) = sys::sig_pending() {
        if ep == w && sigs & (1 << abi::SIGSEGV) != 0 {
            seen.segv = sys::proc_info(ep).is_ok_and(|i| {
                i[0] == abi::PROC_STOPPED && i[1] == abi::SIGSEGV && i[4] == rt::fault::BAD_ADDRESS
            });
        } else if (ep == c || ep == d) && sigs & (1 << abi::SIG_EXIT) != 0 {
            check(
                "child exited with 0",
                sys::proc_info(ep).is_ok_and(|i| i[0] == abi::PROC_EXITED && i[5] == 0),
            );
        } else {
            rt::println!("unexpected signals {sigs:#x} for {ep:#x}");
            continue;
        }
        if sys::release(ep).is_ok() {
            seen.released += 1;
        }
    }
}

/// C waits in a `SendRec` to the manager: stop it, reply (deposited, it
/// does not run), then redirect it with `SetRegs` and resume it.
fn redirect_c(check: &mut impl FnMut(&str, bool), me: u32, c: u32) -> bool {
    check("stop returns the IPC peer", sys::stop(c) == Ok(me));
    check("stop twice", sys::stop(c) == Ok(me));
    check(
        "reply to a stopped process",
        ipc::send(c, &ipc::message(CONT)).is_ok(),
    );
    let regs = sys::get_regs(c);
    check("reply deposited", regs.is_ok_and(|r| r[abi::REG_RAX] == 0));
    check("sleep", sleep(3));
    check(
        "stopped process did not run",
        read_word(c, page_addr() + 8) == Some(0),
    );
    let Ok(mut regs) = regs else { return false };
    let mut bad = regs;
    bad[abi::REG_RIP] = 0x1000;
    check(
        "kernel rip refused",
        sys::set_regs(c, &bad) == Err(Errno::Inval),
    );
    let mut bad = regs;
    bad[abi::REG_RSP] = abi::USER_END + 0x1000;
    check(
        "rsp outside user space refused",
        sys::set_regs(c, &bad) == Err(Errno::Inval),
    );
    let entry = redirected as extern "C" fn(u64) -> ! as usize as u64;
    regs[abi::REG_RIP] = entry;
    regs[abi::REG_RDI] = MAGIC;
    regs[abi::REG_RSP] = ((regs[abi::REG_RSP] - 512) & !15) - 8;
    // CF and DF are kept; TF, IOPL and AC are not; IF is forced on.
    let mut flags = regs;
    flags[abi::REG_RFLAGS] = 0x1 | 0x400 | 0x100 | 0x3000 | 0x4_0000;
    check(
        "flags sanitized",
        sys::set_regs(c, &flags).is_ok()
            && sys::get_regs(c).is_ok_and(|r| r[abi::REG_RFLAGS] == 0x1 | 0x400 | 0x202),
    );
    // The real redirect: DF clear, as the Rust ABI expects.
    regs[abi::REG_RFLAGS] = 0x202;
    check("set registers", sys::set_regs(c, &regs).is_ok());
    check(
        "registers read back",
        sys::get_regs(c).is_ok_and(|r| {
            r[abi::REG_RFLAGS] == 0x202 && r[abi::REG_RIP] == entry && r[abi::REG_RDI] == MAGIC
        }),
    );
    sys::resume(c).is_ok()
}
