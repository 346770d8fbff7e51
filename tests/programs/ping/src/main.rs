//! `ping`: the client half of the IPC test. Arguments:
//! `[rounds] [retry] [bench N]`.
//!
//! 1. Looks up `pong` by name, then does `rounds` (default 5) `sendrec`
//!    round trips, checking the reply's type, source and content.
//! 2. With `bench N`, times N more round trips with `rdtsc` and prints the
//!    median, min and max in TSC cycles.
//! 3. Notifies pong three times in a row (pong sees two notifications: the
//!    first wakes it, the other two coalesce), then checks that `sendnb`
//!    to the busy pong fails with `NotReady`.
//! 4. Sends `QUIT`, then checks that a further `sendrec` and `whois` fail
//!    with `DeadSrcDst`.
//!
//! With `cycle PEER` instead, it only does a `sendrec` to `PEER` (run two
//! instances naming each other): the second one must get `Locked`
//! (deadlock refused), then serves the first one's request.
//!
//! With `async NAME`: three `senda` requests to NAME; if NAME is `pong`
//! the three replies are checked, otherwise NAME is expected to die
//! without receiving and each request must come back as a dead-peer bounce
//! from SYSTEM naming NAME, the lost type and the request id.
//!
//! With `retry`, a round that finds pong dead waits (alarm) and retries
//! with the same endpoint, for the restart-by-manager test.
//!
//! Exits 0 when every check passed, 1 otherwise.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;
use rt::abi::Errno;
use rt::ipc;

const PING: u32 = 1;
const PONG: u32 = 2;
const QUIT: u32 = 3;
const QUIT_ACK: u32 = 4;

rt::entry!(main);

fn main(args: &str) -> i32 {
    if let Some(peer) = args.strip_prefix("cycle ") {
        return cycle(peer.trim());
    }
    if let Some(target) = args.strip_prefix("async ") {
        return async_sends(target.trim());
    }
    let mut words = args.split_ascii_whitespace();
    let rounds: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(5);
    let rest: Vec<&str> = words.collect();
    let retry = rest.contains(&"retry");
    let bench: usize = rest
        .iter()
        .position(|w| *w == "bench")
        .and_then(|i| rest.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let pong = match ipc::whois("pong") {
        Ok(ep) => ep,
        Err(e) => {
            rt::println!("whois(pong) failed: {e:?}");
            return 1;
        }
    };
    let mut failures = 0;
    for i in 1..=rounds {
        let mut m = ipc::message(PING);
        ipc::set(&mut m, 0, i);
        let mut result = ipc::sendrec(pong, &mut m);
        // With `retry`, a dead server is waited for: its manager restarts
        // it under the same endpoint, which we keep using.
        let mut tries = 0;
        while retry && result == Err(Errno::DeadSrcDst) && tries < 50 {
            rt::println!("round {i}: pong is dead, retrying");
            tries += 1;
            let _ = rt::sys::set_alarm(2);
            let _ = ipc::receive(ipc::ANY);
            m = ipc::message(PING);
            ipc::set(&mut m, 0, i);
            result = ipc::sendrec(pong, &mut m);
        }
        if let Err(e) = result {
            failures += 1;
            rt::println!("round {i}: failed: {e:?}");
            continue;
        }
        let ok = ipc::mtype(&m) == PONG && ipc::source(&m) == pong && ipc::get(&m, 0) == 2 * i;
        if !ok {
            failures += 1;
        }
        rt::println!("round {i}: {}", if ok { "ok" } else { "WRONG REPLY" });
    }
    if bench > 0 {
        let mut cycles = Vec::with_capacity(bench);
        for i in 0..bench as u64 {
            let mut m = ipc::message(PING);
            ipc::set(&mut m, 0, i);
            let t0 = ipc::rdtsc();
            let r = ipc::sendrec(pong, &mut m);
            let t1 = ipc::rdtsc();
            if r.is_err() || ipc::get(&m, 0) != 2 * i {
                failures += 1;
            }
            cycles.push(t1.wrapping_sub(t0));
        }
        cycles.sort_unstable();
        rt::println!(
            "bench: sendrec round trip median {} cycles over {bench} rounds (min {}, max {})",
            cycles[bench / 2],
            cycles[0],
            cycles[bench - 1]
        );
    }
    for _ in 0..3 {
        if let Err(e) = ipc::notify(pong) {
            rt::println!("notify failed: {e:?}");
            failures += 1;
        }
    }
    let busy = ipc::sendnb(pong, &ipc::message(PING));
    rt::println!("sendnb to busy pong: {busy:?}");
    if busy != Err(Errno::NotReady) {
        failures += 1;
    }
    let mut q = ipc::message(QUIT);
    let quit = ipc::sendrec(pong, &mut q);
    rt::println!("quit: {quit:?}, reply type {}", ipc::mtype(&q));
    if quit.is_err() || ipc::mtype(&q) != QUIT_ACK {
        failures += 1;
    }
    let mut m = ipc::message(PING);
    let after = ipc::sendrec(pong, &mut m);
    let who = ipc::whois("pong");
    rt::println!("after quit: sendrec {after:?}, whois {who:?}");
    if after != Err(Errno::DeadSrcDst) || who != Err(Errno::DeadSrcDst) {
        failures += 1;
    }
    rt::println!("ipc checks: {failures} failed");
    i32::from(failures != 0)
}

/// `cycle PEER`: sendrec to the peer; if that would deadlock, serve the
/// peer's pending request instead.
fn cycle(peer: &str) -> i32 {
    let Ok(peer_ep) = ipc::whois(peer) else {
        rt::println!("no {peer}");
        return 1;
    };
    let mut m = ipc::message(PING);
    ipc::set(&mut m, 0, 21);
    match ipc::sendrec(peer_ep, &mut m) {
        Ok(()) => {
            rt::println!("sendrec to {peer}: reply {}", ipc::get(&m, 0));
            i32::from(ipc::get(&m, 0) != 42)
        }
        Err(e) => {
            rt::println!("sendrec to {peer}: {e:?}");
            let Ok(req) = ipc::receive(ipc::ANY) else {
                return 1;
            };
            let mut reply = ipc::message(PONG);
            ipc::set(&mut reply, 0, ipc::get(&req, 0) * 2);
            let sent = ipc::send(ipc::source(&req), &reply);
            i32::from(e != Errno::Locked || sent.is_err())
        }
    }
}

/// `async NAME`: asynchronous sends and their replies or bounces.
fn async_sends(name: &str) -> i32 {
    let Ok(target) = ipc::whois(name) else {
        rt::println!("no {name}");
        return 1;
    };
    let mut wrong = 0;
    for id in 1..=3u64 {
        let mut m = ipc::message(PING);
        ipc::set(&mut m, 0, id);
        if let Err(e) = ipc::senda(target, &m) {
            rt::println!("senda {id}: {e:?}");
            wrong += 1;
        }
    }
    rt::println!("sent 3 asynchronous requests");
    for _ in 1..=3 {
        let Ok(r) = ipc::receive(ipc::ANY) else {
            wrong += 1;
            continue;
        };
        if ipc::mtype(&r) == rt::abi::DEAD_PEER_MTYPE {
            let ok = ipc::source(&r) == rt::abi::SYSTEM_ENDPOINT
                && ipc::get32(&r, 0) == target
                && ipc::get32(&r, 8) == PING;
            rt::println!(
                "bounce for request {} ({})",
                ipc::get(&r, 12),
                if ok { "ok" } else { "WRONG" }
            );
            wrong += i32::from(!ok);
        } else {
            let ok = ipc::mtype(&r) == PONG && ipc::source(&r) == target;
            rt::println!(
                "reply {} ({})",
                ipc::get(&r, 0),
                if ok { "ok" } else { "WRONG" }
            );
            wrong += i32::from(!ok);
        }
    }
    if name == "pong" {
        let mut q = ipc::message(QUIT);
        wrong += i32::from(ipc::sendrec(target, &mut q).is_err());
    }
    wrong
}
