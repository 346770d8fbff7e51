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

fn main(args: &str) -> i32 {
    if native::is_image_only(args) {
        rt::println!("boot image only; RS starts the service");
        return 0;
    }
    native::run(sys::Sef::new(Counter { value: 0 }, sys::StateStore::Ds))
}
