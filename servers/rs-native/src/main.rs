//! `rs`: the reincarnation server (`servers/rs`) as a boot program. Must be
//! the first boot module (slot 2 = `sys::Endpoint::RS`). It starts the
//! services of its table (`rs::services`) — adopting DS, which must be the
//! second boot module (slot 3 = `Endpoint::DS`), and spawning the others from
//! their boot-module images — becomes their signal manager, pings them, and
//! restarts them by policy. Everything it does goes through `native`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

rt::entry!(main);

fn main(_args: &str) -> i32 {
    native::run(rs::Rs::new(rs::RsConfig::system()))
}
