//! `pong`: the server half of the IPC test. Receives from anyone; answers
//! `PING` (1) with `PONG` (2) carrying twice the request's value, counts
//! notifications, and on `QUIT` (3) answers `QUIT_ACK` (4) and exits 0.
//! With argument `crash` it faults (privileged instruction) on the first
//! request instead of answering, to test that the blocked client is woken
//! with the dead-peer error.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use rt::ipc;

const PING: u32 = 1;
const PONG: u32 = 2;
const QUIT: u32 = 3;
const QUIT_ACK: u32 = 4;

rt::entry!(main);

fn main(args: &str) -> i32 {
    let crash = args.split_ascii_whitespace().any(|w| w == "crash");
    let mut served = 0u64;
    let mut notifications = 0u64;
    loop {
        let m = match ipc::receive(ipc::ANY) {
            Ok(m) => m,
            Err(e) => {
                rt::println!("receive failed: {e:?}");
                return 1;
            }
        };
        let from = ipc::source(&m);
        let reply = match ipc::mtype(&m) {
            PING if crash => {
                rt::println!("crashing instead of answering");
                rt::fault::privileged_instruction();
                continue;
            }
            PING => {
                served += 1;
                let mut r = ipc::message(PONG);
                ipc::set(&mut r, 0, ipc::get(&m, 0).wrapping_mul(2));
                r
            }
            QUIT => ipc::message(QUIT_ACK),
            t if t == rt::abi::NOTIFY_MTYPE => {
                notifications += 1;
                rt::println!("notification from {from:#x}");
                continue;
            }
            t => {
                rt::println!("unexpected message type {t:#x} from {from:#x}");
                continue;
            }
        };
        if let Err(e) = ipc::send(from, &reply) {
            rt::println!("reply to {from:#x} failed: {e:?}");
        }
        if ipc::mtype(&reply) == QUIT_ACK {
            break;
        }
    }
    rt::println!("served {served} requests, {notifications} notifications");
    0
}
