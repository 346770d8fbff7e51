//! `counter`: the sample counter service (`sys::proto::sample`) as a SEF
//! service on the kernel. Stateful: it saves its value through SEF (in DS,
//! `sef.st.<label>`) before answering each addition, so an instance that RS
//! restarts (policy *stateful*) or live-updates continues from the exact
//! value. Started by RS on `service up`; listed as a boot module with the
//! argument `image` only so that `Spawn` finds its image.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;
use sys::proto::sample::{SampleReply, SampleRequest};
use sys::{Ctx, Errno, InitInfo, Message, Service};

rt::entry!(main);

struct Counter {
    value: u64,
}

impl Service for Counter {
    fn init(&mut self, _cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno> {
        self.value = match info.state.as_deref() {
            Some(st) => u64::from_le_bytes(st.try_into().map_err(|_| Errno::EINVAL)?),
            None => 0,
        };
        rt::println!(
            "init {:?} (restart count {}), value {}",
            info.kind,
            info.restarts,
            self.value
        );
        check_window();
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        let (id, result) = match SampleRequest::try_from(&msg) {
            Ok(SampleRequest::Add { id, delta }) => {
                let new = self.value.wrapping_add(u64::from(delta));
                // Applied only once saved, so a crash never loses an
                // acknowledged addition.
                let r = match cx.save_state(&new.to_le_bytes()) {
                    Ok(()) => {
                        self.value = new;
                        Ok(new)
                    }
                    Err(_) => Err(Errno::EAGAIN),
                };
                (id, r)
            }
            Ok(SampleRequest::Get { id }) => (id, Ok(self.value)),
            Ok(SampleRequest::Echo { id, .. }) => (id, Err(Errno::ENOSYS)),
            Err(_) => return None,
        };
        Some(SampleReply::Value { id, result }.to_message())
    }

    fn prepare_update(&mut self, _cx: &mut Ctx<'_>) -> Result<Option<Vec<u8>>, Errno> {
        Ok(Some(self.value.to_le_bytes().to_vec()))
    }
}

/// Pages of the preserved window the counter uses (a 16-byte header, then
/// a pattern).
const WINDOW_PAGES: u64 = 64;
const WINDOW_MAGIC: u64 = 0x4556_5245_5345_5250; // "PRESERVE"

/// Reports what the preserved window holds (a pattern from a previous
/// instance kept by the kernel, or nothing) and writes the pattern with
/// its crc32 if it is not intact, so the next instance can check it.
fn check_window() {
    let w = match rt::sys::preserved_window(WINDOW_PAGES) {
        Ok(w) => w,
        Err(e) => {
            rt::println!("window unavailable: {e:?}");
            return;
        }
    };
    let (head, data) = w.split_at_mut(16);
    let pattern = |i: usize| (i.wrapping_mul(31) ^ (i >> 9)) as u8;
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    let stored = word(&head[8..16]);
    let crc = u64::from(crc32(data));
    let intact = word(&head[..8]) == WINDOW_MAGIC
        && stored == crc
        && data.iter().enumerate().all(|(i, &b)| b == pattern(i));
    if intact {
        rt::println!(
            "window kept: {} bytes, crc32 {crc:#010x} intact",
            data.len()
        );
        return;
    }
    if head.iter().chain(data.iter()).all(|&b| b == 0) {
        rt::println!("window empty");
    } else {
        rt::println!("window damaged (crc32 {crc:#010x}, stored {stored:#010x})");
    }
    for (i, b) in data.iter_mut().enumerate() {
        *b = pattern(i);
    }
    let crc = u64::from(crc32(data));
    head[..8].copy_from_slice(&WINDOW_MAGIC.to_le_bytes());
    head[8..].copy_from_slice(&crc.to_le_bytes());
    rt::println!("window written: {} bytes, crc32 {crc:#010x}", data.len());
}

/// CRC-32 (IEEE, as zlib), bitwise.
fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn main(args: &str) -> i32 {
    if native::is_image_only(args) {
        rt::println!("boot image only; RS starts the service");
        return 0;
    }
    native::run(sys::Sef::new(Counter { value: 0 }, sys::StateStore::Ds))
}
