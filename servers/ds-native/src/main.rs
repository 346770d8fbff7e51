//! `ds`: the data store (`servers/ds`) as a boot program, wrapped in SEF.
//! Must be the second boot module (slot 3 = `sys::Endpoint::DS`); RS adopts
//! it and sends its init. Runs on the kernel through `native`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

rt::entry!(main);

fn main(_args: &str) -> i32 {
    // DS keeps its store in preserved memory: natively in the `vault` boot
    // server if one runs (see servers/libnative/README.md).
    native::run(sys::Sef::new(ds::Ds::new(), sys::StateStore::Preserved))
}
