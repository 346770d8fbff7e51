//! `echo`: the sample echo service (`sys::proto::sample`) as a SEF service on
//! the kernel. RS starts it from its service table and restarts it under
//! the same endpoint when it dies; `service fi` (RS's fault-injection
//! request) makes SEF crash it; echo data starting with
//! `native::sample::{FAULT_PREFIX, HANG_PREFIX, EXIT_PREFIX}` makes it
//! page-fault, hang or exit,
//! for tests of RS's fault and heartbeat handling. Listed as a boot module with the argument
//! `image` only so that `Spawn` finds its image: that boot copy exits at once.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use native::sample::{EXIT_CODE, EXIT_PREFIX, FAULT_PREFIX, HANG_PREFIX};
use sys::proto::sample::{SampleReply, SampleRequest};
use sys::{Ctx, Errno, InitInfo, Message, Service};

rt::entry!(main);

/// Answers echo requests; counter requests are not this service's.
struct Echo {
    handled: u64,
}

impl Service for Echo {
    fn init(&mut self, _cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno> {
        rt::println!("init {:?} (restart count {})", info.kind, info.restarts);
        // Sandbox self-check: the table gives echo no process management,
        // so RS must have taken the process calls away before this init.
        match rt::sys::spawn("echo", native::IMAGE_ONLY_ARG) {
            Err(e) => rt::println!("spawn refused: {e:?}"),
            Ok(ep) => rt::println!("spawn allowed (started {ep:#x})"),
        }
        Ok(())
    }

    fn handle(&mut self, _cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        match SampleRequest::try_from(&msg) {
            Ok(SampleRequest::Echo { data, .. }) if data.starts_with(FAULT_PREFIX) => {
                rt::println!("faulting on request");
                rt::fault::bad_pointer_read();
                None
            }
            Ok(SampleRequest::Echo { data, .. }) if data.starts_with(EXIT_PREFIX) => {
                rt::println!("exiting on request");
                rt::sys::exit(EXIT_CODE)
            }
            Ok(SampleRequest::Echo { data, .. }) if data.starts_with(HANG_PREFIX) => {
                rt::println!("hanging on request");
                loop {
                    core::hint::spin_loop();
                }
            }
            Ok(SampleRequest::Echo { id, data }) => {
                self.handled += 1;
                // The first few only: clients may measure many round trips.
                if self.handled <= 3 {
                    rt::println!("answered request {id} ({} by this instance)", self.handled);
                }
                Some(SampleReply::Echo { id, data }.to_message())
            }
            Ok(SampleRequest::Add { id, .. } | SampleRequest::Get { id }) => Some(
                SampleReply::Value {
                    id,
                    result: Err(Errno::ENOSYS),
                }
                .to_message(),
            ),
            // Not a request of ours: nobody to answer meaningfully.
            Err(_) => None,
        }
    }
}

fn main(args: &str) -> i32 {
    if native::is_image_only(args) {
        rt::println!("boot image only; RS starts the service");
        return 0;
    }
    native::run(sys::Sef::new(Echo { handled: 0 }, sys::StateStore::None))
}
