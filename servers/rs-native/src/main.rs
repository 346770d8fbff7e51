//! `rs`: the reincarnation server (`servers/rs`) as a boot program. Must be
//! the first boot module (slot 2 = `sys::Endpoint::RS`). It starts the
//! services of its table (`rs::services`) — adopting DS, which must be the
//! second boot module (slot 3 = `Endpoint::DS`), and spawning the others from
//! their boot-module images — becomes their signal manager, pings them, and
//! restarts them by policy. Everything it does goes through `native`.
//!
//! The boot image decides what starts (as in MINIX): a table row marked
//! for boot whose program is not among the boot modules is only known, for
//! a later `service up`, so one table serves every test image.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

rt::entry!(main);

/// Names of the boot modules (the process name: first word of each line).
fn boot_module_names() -> Vec<alloc::string::String> {
    let mut buf = vec![0u8; 8192];
    let Ok(n) = rt::sys::boot_modules(&mut buf) else {
        return Vec::new();
    };
    let text = core::str::from_utf8(&buf[..n.min(buf.len())]).unwrap_or("");
    text.lines()
        .filter_map(|l| l.split_ascii_whitespace().next())
        .map(alloc::string::String::from)
        .collect()
}

fn main(_args: &str) -> i32 {
    let mut cfg = rs::RsConfig::system();
    let modules = boot_module_names();
    if !modules.is_empty() {
        for s in cfg.services.iter_mut().filter(|s| s.boot) {
            if !modules.contains(&s.program) {
                s.boot = false;
            }
        }
    }
    native::run(rs::Rs::new(cfg))
}
