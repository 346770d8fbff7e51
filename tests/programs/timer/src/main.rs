//! `timer`: test program for the clock. Arguments:
//!
//! * `alarm N`: three times, arms an alarm N ticks ahead and waits for the
//!   notification from CLOCK; checks that at least N ticks passed.
//! * `irq K`: hooks IRQ 0 (the clock) and waits for K notifications from
//!   SYSTEM.
//! * `spin N [prio P]`: optionally sets its own priority to P, then
//!   busy-waits until N clock ticks have passed and prints `spun N ticks`
//!   (for preemption and priority tests).
//!
//! While it waits nothing else may be runnable, so this also exercises the
//! kernel's idle loop. Prints `check <name>: ok|WRONG`; exits with the
//! number of wrong checks.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use rt::abi::{CLOCK_ENDPOINT, NOTIFY_MTYPE, SYSTEM_ENDPOINT};
use rt::{ipc, sys};

rt::entry!(main);

fn main(args: &str) -> i32 {
    let mut words = args.split_ascii_whitespace();
    let mode = words.next().unwrap_or("");
    let n: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(3);
    let mut wrong = 0;
    let mut check = |name: &str, ok: bool| {
        rt::println!("check {name}: {}", if ok { "ok" } else { "WRONG" });
        if !ok {
            wrong += 1;
        }
    };
    match mode {
        "alarm" => {
            for round in 1..=3 {
                let start = sys::uptime();
                check("set alarm", sys::set_alarm(n).is_ok());
                let m = ipc::receive(ipc::ANY);
                let waited = sys::uptime().saturating_sub(start);
                let from_clock = m.as_ref().is_ok_and(|m| {
                    ipc::mtype(m) == NOTIFY_MTYPE && ipc::source(m) == CLOCK_ENDPOINT
                });
                check("notification from CLOCK", from_clock);
                check("alarm not early", waited >= n);
                rt::println!("alarm {round}: woke after {waited} ticks");
            }
        }
        "irq" => {
            check("hook IRQ 0", sys::irq_hook(0).is_ok());
            let mut got = 0;
            while got < n {
                match ipc::receive(ipc::ANY) {
                    Ok(m)
                        if ipc::mtype(&m) == NOTIFY_MTYPE && ipc::source(&m) == SYSTEM_ENDPOINT =>
                    {
                        got += 1
                    }
                    other => {
                        rt::println!("unexpected: {other:?}");
                        break;
                    }
                }
            }
            check("IRQ notifications", got == n);
            rt::println!("irq notifications: {got}");
            check("unhook IRQ 0", sys::irq_unhook(0).is_ok());
            // No more IRQ notifications: apart from at most one raised before
            // the unhook (coalesced), the alarm is the next thing to come.
            let _ = sys::set_alarm(3);
            let mut stale = 0;
            let mut alarm = false;
            for _ in 0..3 {
                match ipc::receive(ipc::ANY) {
                    Ok(m) if ipc::source(&m) == CLOCK_ENDPOINT => {
                        alarm = true;
                        break;
                    }
                    Ok(_) => stale += 1,
                    Err(_) => break,
                }
            }
            check("no notification after unhook", alarm && stale <= 1);
        }
        "spin" => {
            let prio = match (words.next(), words.next()) {
                (Some("prio"), Some(p)) => p.parse().ok(),
                _ => None,
            };
            if let Some(p) = prio {
                let me = ipc::whois("").unwrap_or(ipc::ANY);
                check("set priority", sys::set_priority(me, p, 5).is_ok());
            }
            let start = sys::uptime();
            while sys::uptime().saturating_sub(start) < n {
                core::hint::spin_loop();
            }
            rt::println!("spun {n} ticks");
        }
        _ => {
            rt::println!("usage: timer alarm N | timer irq K | timer spin N [prio P]");
            return 2;
        }
    }
    wrong
}
