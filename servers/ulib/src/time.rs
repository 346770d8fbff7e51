//! Time: clock ticks since boot and sleeping (a `select` with no
//! descriptors and a timeout, answered by VFS).

use crate::errno::Result;

/// Clock ticks per second.
pub const HZ: u64 = rt::abi::CLOCK_HZ;

/// Clock ticks since boot.
pub fn uptime() -> u64 {
    rt::sys::uptime()
}

/// Milliseconds since boot (at tick resolution).
pub fn uptime_ms() -> u64 {
    uptime() * 1000 / HZ
}

/// Sleeps `ms` milliseconds (at least one tick). `EINTR` when a signal
/// handler ran meanwhile.
pub fn sleep_ms(ms: u64) -> Result<()> {
    let us = ms.saturating_mul(1000);
    let secs = (us / 1_000_000) as i64;
    let rest = (us % 1_000_000) as i64;
    crate::fd::select(0, crate::fd::FdSets::default(), Some((secs, rest))).map(drop)
}

/// Sleeps `secs` seconds.
pub fn sleep(secs: u64) -> Result<()> {
    sleep_ms(secs.saturating_mul(1000))
}
