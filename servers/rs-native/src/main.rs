//! `rs`: the reincarnation server (`servers/rs`) as a boot program. Must be
//! the first boot module (slot 2 = `sys::Endpoint::RS`). It starts the
//! services of its table (`rs::services`) — adopting DS, which must be the
//! second boot module (slot 3 = `Endpoint::DS`), and spawning the others from
//! their boot-module images — becomes their signal manager, pings them, and
//! restarts them by policy. Everything it does goes through `native`.
//!
//! The boot image decides what starts (as in MINIX): a table row marked
//! for boot whose program is not among the boot modules is only known, for
//! a later `service up`, so one table serves every test image. A module
//! line with the word `noboot` (`mfs-native:mfs image noboot`) puts the
//! program in the image for `service up` only: the installation ISO has
//! MFS for `mount` and the installer but no MFS root.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

rt::entry!(main);

fn main(_args: &str) -> i32 {
    let mut cfg = rs::RsConfig::system();
    // Without a readable module list nothing is filtered.
    if rt::sys::boot_modules(&mut [0u8; 1]).is_ok() {
        for s in cfg.services.iter_mut().filter(|s| s.boot) {
            s.boot = rt::sys::boot_module_line(&s.program, |l| {
                l.is_some_and(|l| !l.split_ascii_whitespace().any(|w| w == "noboot"))
            })
            .unwrap_or(false);
        }
    }
    native::run(rs::Rs::new(cfg))
}
