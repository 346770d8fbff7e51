//! `privs share`: `SharePages` (VM keeps program text and maps it into
//! the next exec of the same program). The manager M forks a worker W
//! (eager `Fork`: W's memory is a copy, W waits in a `Receive`), becomes
//! its signal manager and shares its own page [`SRC`] with W at the
//! unmapped [`DST`]:
//!
//! * argument errors (same endpoint, counts, alignment, the user area, a
//!   dead endpoint); a source page not mapped and a destination page
//!   mapped fail with nothing changed;
//! * W sees M's bytes, the frame counts as shared, kernel copies into W's
//!   page are refused (read-only);
//! * M's page was writable, so it became copy-on-write: M's write (no
//!   pager: the kernel breaks it) copies the frame, W keeps the old bytes
//!   and nothing is shared any more;
//! * W's page, the frame's last reference now, made writable takes a
//!   kernel copy; W exits and every frame comes back (the test compares
//!   the free memory at the end).

use core::sync::atomic::{AtomicU64, Ordering};
use rt::abi::{self, Errno};
use rt::{ipc, sys};

/// Manager -> worker: exit.
const W_EXIT: u32 = 70;

/// Where W gets M's page (nothing is mapped there in either).
const DST: u64 = 0x6600_0000;
/// A page M never maps.
const UNMAPPED: u64 = 0x6700_0000;

#[repr(C, align(4096))]
struct Page([AtomicU64; 512]);

/// M's page.
static SRC: Page = Page([const { AtomicU64::new(0) }; 512]);

fn src() -> u64 {
    &SRC as *const Page as u64
}

fn read_word(ep: u32, addr: u64) -> Option<u64> {
    let me = ipc::whois("").ok()?;
    let mut b = [0u8; 8];
    sys::vircopy(ep, addr, me, b.as_mut_ptr() as u64, 8).ok()?;
    Some(u64::from_le_bytes(b))
}

fn kernel_writes(ep: u32, addr: u64) -> Result<u64, Errno> {
    let me = ipc::whois("")?;
    let b = 0xabcd_u64.to_le_bytes();
    sys::vircopy(me, b.as_ptr() as u64, ep, addr, 8)
}

fn shared() -> u64 {
    sys::mem_stats().map_or(u64::MAX, |s| s.shared)
}

/// Waits for `ep`'s exit and releases it.
fn reap(ep: u32) -> bool {
    for _ in 0..100 {
        if ipc::receive(ipc::ANY).is_err() {
            return false;
        }
        while let Ok(Some((from, sigs))) = sys::sig_pending() {
            if from == ep {
                return sigs & (1 << abi::SIG_EXIT) != 0 && sys::release(ep).is_ok();
            }
        }
    }
    false
}

/// `SharePages` checks (see the module comment).
pub fn checks(check: &mut impl FnMut(&str, bool)) {
    let Ok(me) = ipc::whois("") else {
        check("whois", false);
        return;
    };
    SRC.0[0].store(0x5eed, Ordering::SeqCst);
    let w = match sys::fork() {
        Ok(None) => loop {
            if ipc::receive(ipc::ANY).is_ok_and(|m| ipc::mtype(&m) == W_EXIT) {
                sys::exit(0);
            }
        },
        Ok(Some(w)) => w,
        Err(_) => {
            check("fork the share worker", false);
            return;
        }
    };
    check("manage the share worker", sys::set_sigmgr(w, me).is_ok());
    let share = sys::share_pages;
    check(
        "share arguments refused",
        share(me, src(), me, DST, 1) == Err(Errno::Inval)
            && share(me, src(), w, DST, 0) == Err(Errno::Inval)
            && share(me, src(), w, DST, abi::MAX_MAP_PAGES + 1) == Err(Errno::Inval)
            && share(me, src() + 8, w, DST, 1) == Err(Errno::Inval)
            && share(me, src(), w, DST + 8, 1) == Err(Errno::Inval)
            && share(me, src(), w, 0x10_0000, 1) == Err(Errno::Fault)
            && share(me, src(), w, abi::USER_STACK_TOP, 1) == Err(Errno::Fault)
            && share(me, src(), 0x7fff_0030, DST, 1) == Err(Errno::DeadSrcDst),
    );
    let before = shared();
    check(
        "an unmapped source or a mapped destination refused",
        share(me, UNMAPPED, w, DST, 1) == Err(Errno::Fault)
            && share(me, src(), w, src(), 1) == Err(Errno::Fault)
            // One page of M mapped at UNMAPPED, the next not: nothing
            // shared.
            && sys::map_pages(me, UNMAPPED, 1, true).is_ok()
            && share(me, UNMAPPED, w, DST, 2) == Err(Errno::Fault)
            && read_word(w, DST).is_none()
            && sys::unmap(me, UNMAPPED, 1).is_ok()
            && shared() == before,
    );
    check("share a page", share(me, src(), w, DST, 1) == Ok(1));
    check("the frame is shared", shared() == before + 1);
    check(
        "the worker sees the bytes",
        read_word(w, DST) == Some(0x5eed),
    );
    check(
        "sharing onto a mapped page refused",
        share(me, src(), w, DST, 1) == Err(Errno::Fault),
    );
    check(
        "kernel copy into the shared page refused",
        kernel_writes(w, DST) == Err(Errno::Fault) && read_word(w, DST) == Some(0x5eed),
    );
    // M's own write: copy-on-write, broken by the kernel (M has no pager).
    SRC.0[0].store(0x7777, Ordering::SeqCst);
    check(
        "the sharer's write copied the frame",
        SRC.0[0].load(Ordering::SeqCst) == 0x7777
            && read_word(w, DST) == Some(0x5eed)
            && shared() == before,
    );
    check(
        "the last reference made writable takes kernel copies",
        sys::protect(w, DST, 1, true).is_ok()
            && kernel_writes(w, DST) == Ok(8)
            && read_word(w, DST) == Some(0xabcd),
    );
    check(
        "share worker exits",
        ipc::send(w, &ipc::message(W_EXIT)).is_ok() && reap(w),
    );
}
