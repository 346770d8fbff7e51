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
//! what was written), and a port outside the range is still refused.
//!
//! `privs plain` runs as a plain user process (kernel option
//! `user=<its name>`): a request to `vfs` works, a send to `other` and any
//! kernel call are refused.
//!
//! `privs vm` maps four pages for itself with `MapPages`, checks they read
//! as zero and keep what is written, and that mapping outside user space
//! or misaligned is refused.
//!
//! `privs killer NAME` kills the process NAME (e.g. a pong blocked in
//! receive), then checks that it is gone and that a second kill fails.
//!
//! Prints `check <name>: ok|WRONG`; exit code = number of wrong checks.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use rt::abi::Errno;
use rt::{grant, ipc, sys};

const GO: u32 = 30;
const REPORT: u32 = 31;
const BYE: u32 = 32;

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
            let mut q = ipc::message(3); // pong's QUIT
            check("quit vfs", ipc::sendrec(vfs, &mut q).is_ok());
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
