//! [`SimDriver`]: a simulated block device for failure tests and benchmarks.
//!
//! What it simulates:
//!
//! * **Time**: every request that reaches a live driver costs a fixed latency
//!   plus, with a bandwidth limit, `bytes / bandwidth`. The cost is added to
//!   a [`SimClock`] (a shared nanosecond counter tests and benchmarks read)
//!   and, with [`WallPacing::Sleep`] or [`WallPacing::Spin`] (`std` only),
//!   also spent in wall time so a criterion benchmark sees it.
//! * **Storage**: each minor has a size (any byte count; real disks use
//!   multiples of 512) and sparse contents in 4 KiB chunks, so a large
//!   device costs nothing until written. Unwritten bytes read as zero.
//!   Transfers are cut short at the end of the minor.
//! * **I/O errors** ([`Fault`]): a transfer that overlaps a faulty byte range
//!   transfers the bytes before the range and then fails with
//!   [`BdevError::Io`]. Permanent faults fail every time; transient ones
//!   fail a given number of times and then disappear.
//! * **Driver crashes**: now, at the Nth request from now, or in the middle
//!   of a transfer after a given number of bytes (a crashed write may have
//!   written that prefix). After a crash every request fails with
//!   [`BdevError::DeadDriver`] until [`Driver::reconnect`] starts a new
//!   instance. Like libblockdriver, an instance answers
//!   [`BdevError::Restart`] to any request other than open on a minor it has
//!   not had opened, so a new instance refuses work until the client reopens.
//!   [`SimDriver::restart_in_place`] simulates a restart that keeps its
//!   endpoint (no `DeadDriver`, only `Restart` answers).
//! * **Counters** ([`SimStats`]): requests, bytes, injected errors, crashes.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::segs::{clip, total_len};
use crate::{Access, BdevError, Driver, Minor, Result};

/// A simulated clock: a shared count of nanoseconds. Clones share the count.
#[derive(Debug, Clone, Default)]
pub struct SimClock(Arc<AtomicU64>);

impl SimClock {
    /// A clock at 0 ns.
    pub fn new() -> Self {
        Self::default()
    }
    /// Nanoseconds since the clock was made.
    pub fn now_ns(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    /// Move the clock forward by `ns`.
    pub fn advance(&self, ns: u64) {
        self.0.fetch_add(ns, Ordering::Relaxed);
    }
}

/// Whether simulated device time is also spent in wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WallPacing {
    /// Only the [`SimClock`] advances (fast; the default).
    #[default]
    None,
    /// Sleep for each request's cost (`std` only; cheap on CPU, but the OS
    /// rounds short sleeps up, typically by tens of µs).
    Sleep,
    /// Busy-wait for each request's cost (`std` only; precise, burns a CPU).
    Spin,
}

/// How often a [`Fault`] fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Fails every transfer that touches it.
    Permanent,
    /// Fails this many more transfers, then disappears.
    Transient {
        /// Failures left.
        failures: u32,
    },
}

/// Which transfers a [`Fault`] affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOps {
    /// Reads (gather) only.
    Read,
    /// Writes (scatter) only.
    Write,
    /// Both.
    Both,
}

/// An injected I/O error on a byte range of one minor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The minor.
    pub minor: Minor,
    /// Faulty bytes (end exclusive).
    pub bytes: Range<u64>,
    /// Permanent or transient.
    pub kind: FaultKind,
    /// Which transfers it affects.
    pub ops: FaultOps,
}

/// Counters of a [`SimDriver`]. All only ever grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Every request received, including those refused while dead.
    pub requests: u64,
    /// Gather requests a live instance handled (including failed ones).
    pub reads: u64,
    /// Scatter requests a live instance handled (including failed ones).
    pub writes: u64,
    /// Bytes delivered to readers.
    pub bytes_read: u64,
    /// Bytes stored by writers (including prefixes of failed writes).
    pub bytes_written: u64,
    /// Successful opens.
    pub opens: u64,
    /// Successful closes.
    pub closes: u64,
    /// Transfers failed by an injected [`Fault`].
    pub errors_injected: u64,
    /// Crashes (including [`SimDriver::restart_in_place`]).
    pub crashes: u64,
    /// Requests refused with `DeadDriver` because the driver was dead.
    pub dead_replies: u64,
    /// Requests answered `Restart` (minor not opened on this instance).
    pub restart_replies: u64,
    /// Successful reconnects that started a new instance.
    pub reconnects: u64,
}

const CHUNK: usize = 4096;

/// Sparse byte store in `CHUNK`-byte pieces; absent pieces are zero.
#[derive(Debug, Clone, Default)]
struct Sparse {
    chunks: BTreeMap<u64, Box<[u8]>>,
}

impl Sparse {
    fn read(&self, pos: u64, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            let p = pos + done as u64;
            let (idx, off) = (p / CHUNK as u64, (p % CHUNK as u64) as usize);
            let n = (CHUNK - off).min(buf.len() - done);
            match self.chunks.get(&idx) {
                Some(c) => buf[done..done + n].copy_from_slice(&c[off..off + n]),
                None => buf[done..done + n].fill(0),
            }
            done += n;
        }
    }

    fn write(&mut self, pos: u64, buf: &[u8]) {
        let mut done = 0;
        while done < buf.len() {
            let p = pos + done as u64;
            let (idx, off) = (p / CHUNK as u64, (p % CHUNK as u64) as usize);
            let n = (CHUNK - off).min(buf.len() - done);
            let c = self
                .chunks
                .entry(idx)
                .or_insert_with(|| vec![0u8; CHUNK].into_boxed_slice());
            c[off..off + n].copy_from_slice(&buf[done..done + n]);
            done += n;
        }
    }
}

#[derive(Debug, Clone)]
struct SimMinor {
    size: u64,
    data: Sparse,
    read_only: bool,
}

/// A planned crash.
#[derive(Debug, Clone, Copy)]
struct CrashPlan {
    /// Crash while handling the request with this `served` number.
    at: u64,
    /// For a transfer: bytes moved before dying.
    after_bytes: usize,
}

/// A simulated block driver (see the [module doc](self)).
#[derive(Debug, Clone)]
pub struct SimDriver {
    clock: SimClock,
    latency_ns: u64,
    bandwidth: Option<u64>,
    pacing: WallPacing,
    alignment: Option<u64>,
    minors: BTreeMap<Minor, SimMinor>,
    faults: Vec<Fault>,
    alive: bool,
    generation: u64,
    /// Opens minus closes on the current instance.
    opened: BTreeMap<Minor, u32>,
    /// Requests handled by live instances.
    served: u64,
    crash: Option<CrashPlan>,
    unstable: Option<u64>,
    reconnect_failures: u32,
    stats: SimStats,
}

impl SimDriver {
    /// A live driver with no minors, no latency and no faults, on `clock`.
    pub fn new(clock: SimClock) -> Self {
        SimDriver {
            clock,
            latency_ns: 0,
            bandwidth: None,
            pacing: WallPacing::None,
            alignment: None,
            minors: BTreeMap::new(),
            faults: Vec::new(),
            alive: true,
            generation: 0,
            opened: BTreeMap::new(),
            served: 0,
            crash: None,
            unstable: None,
            reconnect_failures: 0,
            stats: SimStats::default(),
        }
    }

    /// A driver on a fresh clock with minor 0 of `size` bytes (zero-filled,
    /// costs no memory until written).
    pub fn disk(size: u64) -> Self {
        Self::new(SimClock::new()).with_minor(0, size)
    }

    /// Add (or replace) `minor` with `size` zero bytes.
    pub fn with_minor(mut self, minor: Minor, size: u64) -> Self {
        self.add_minor(minor, size);
        self
    }

    /// Add (or replace) `minor` with `size` zero bytes.
    pub fn add_minor(&mut self, minor: Minor, size: u64) -> &mut Self {
        self.minors.insert(
            minor,
            SimMinor {
                size,
                data: Sparse::default(),
                read_only: false,
            },
        );
        self
    }

    /// Fixed cost of every request, in ns.
    pub fn with_latency_ns(mut self, ns: u64) -> Self {
        self.latency_ns = ns;
        self
    }

    /// Bandwidth limit in bytes per second (`None`: unlimited). A transfer
    /// of `n` bytes costs `n * 1e9 / bytes_per_sec` ns on top of the latency.
    pub fn with_bandwidth(mut self, bytes_per_sec: Option<u64>) -> Self {
        self.bandwidth = bytes_per_sec.filter(|&b| b > 0);
        self
    }

    /// Spend simulated time in wall time too (see [`WallPacing`]).
    pub fn with_pacing(mut self, pacing: WallPacing) -> Self {
        self.pacing = pacing;
        self
    }

    /// Require positions and segment lengths to be multiples of `align`
    /// bytes (like a disk driver's sector size); others fail with `Invalid`.
    pub fn with_alignment(mut self, align: Option<u64>) -> Self {
        self.alignment = align.filter(|&a| a > 1);
        self
    }

    /// Make `minor` read-only (opens for write and writes fail `ReadOnly`).
    pub fn set_read_only(&mut self, minor: Minor, read_only: bool) -> &mut Self {
        if let Some(m) = self.minors.get_mut(&minor) {
            m.read_only = read_only;
        }
        self
    }

    /// The clock this driver charges.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// The counters.
    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// What one transfer of `bytes` costs in simulated ns.
    pub fn request_cost_ns(&self, bytes: u64) -> u64 {
        let xfer = self.bandwidth.map_or(0, |bw| {
            u64::try_from(u128::from(bytes) * 1_000_000_000 / u128::from(bw)).unwrap_or(u64::MAX)
        });
        self.latency_ns.saturating_add(xfer)
    }

    /// Add a fault.
    pub fn inject(&mut self, fault: Fault) -> &mut Self {
        self.faults.push(fault);
        self
    }

    /// Fail transfers touching `bytes` of `minor`.
    pub fn fail_bytes(
        &mut self,
        minor: Minor,
        bytes: Range<u64>,
        kind: FaultKind,
        ops: FaultOps,
    ) -> &mut Self {
        self.inject(Fault {
            minor,
            bytes,
            kind,
            ops,
        })
    }

    /// Fail transfers touching blocks `blocks` (of `block_size` bytes) of `minor`.
    pub fn fail_blocks(
        &mut self,
        minor: Minor,
        block_size: u64,
        blocks: Range<u64>,
        kind: FaultKind,
        ops: FaultOps,
    ) -> &mut Self {
        let bytes = blocks.start.saturating_mul(block_size)..blocks.end.saturating_mul(block_size);
        self.fail_bytes(minor, bytes, kind, ops)
    }

    /// The faults still active.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// Remove every fault.
    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    /// Crash now: every request fails with `DeadDriver` until a reconnect.
    pub fn crash_now(&mut self) {
        if self.alive {
            self.alive = false;
            self.stats.crashes += 1;
        }
        self.crash = None;
    }

    /// Crash while handling the `n`th request a live instance receives from
    /// now (`n` >= 1; 1 = the next one). That request does nothing and fails
    /// with `DeadDriver`.
    pub fn crash_at_request(&mut self, n: u64) {
        self.crash_mid_transfer(n, 0);
    }

    /// Like [`crash_at_request`](Self::crash_at_request), but if that request
    /// is a transfer, first move `after_bytes` bytes of it (a write stores
    /// them), then die. Non-transfer requests just die.
    pub fn crash_mid_transfer(&mut self, n: u64, after_bytes: usize) {
        self.crash = Some(CrashPlan {
            at: self.served + n.max(1),
            after_bytes,
        });
    }

    /// Forget a planned crash.
    pub fn cancel_crash(&mut self) {
        self.crash = None;
    }

    /// Restart in place, keeping the endpoint: the client sees no
    /// `DeadDriver`, only `Restart` answers until it reopens its minors.
    pub fn restart_in_place(&mut self) {
        self.stats.crashes += 1;
        self.alive = true;
        self.new_instance();
    }

    /// A driver that keeps crashing: with `Some(k)`, every instance started
    /// from now on (by reconnect or [`restart_in_place`](Self::restart_in_place))
    /// dies while handling its `k`th request (`k` >= 1). `None` stops it;
    /// a crash already planned stays planned.
    pub fn set_unstable(&mut self, k: Option<u64>) {
        self.unstable = k.map(|k| k.max(1));
    }

    /// Make the next `n` reconnects fail (no driver found in DS).
    pub fn fail_reconnects(&mut self, n: u32) {
        self.reconnect_failures = n;
    }

    /// Whether the current instance is alive.
    pub fn is_alive(&self) -> bool {
        self.alive
    }

    /// Instance number: 0 for the first, +1 per restart.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Opens minus closes of `minor` on the current instance.
    pub fn open_count(&self, minor: Minor) -> u32 {
        self.opened.get(&minor).copied().unwrap_or(0)
    }

    /// Size of `minor`, if it exists (no request, no cost).
    pub fn minor_size(&self, minor: Minor) -> Option<u64> {
        self.minors.get(&minor).map(|m| m.size)
    }

    /// Read contents directly (no request, no cost, no faults), cut at the
    /// end of the minor. Returns bytes read.
    pub fn read_raw(&self, minor: Minor, pos: u64, buf: &mut [u8]) -> usize {
        let Some(m) = self.minors.get(&minor) else {
            return 0;
        };
        let n = clip(pos, buf.len(), m.size);
        m.data.read(pos, &mut buf[..n]);
        n
    }

    /// Write contents directly (no request, no cost, no faults), cut at the
    /// end of the minor. Returns bytes written.
    pub fn write_raw(&mut self, minor: Minor, pos: u64, buf: &[u8]) -> usize {
        let Some(m) = self.minors.get_mut(&minor) else {
            return 0;
        };
        let n = clip(pos, buf.len(), m.size);
        m.data.write(pos, &buf[..n]);
        n
    }

    /// The whole contents of `minor` (for small test devices).
    pub fn contents(&self, minor: Minor) -> Option<Vec<u8>> {
        let m = self.minors.get(&minor)?;
        let mut v = vec![0u8; usize::try_from(m.size).ok()?];
        m.data.read(0, &mut v);
        Some(v)
    }

    fn new_instance(&mut self) {
        self.generation += 1;
        self.opened.clear();
        if let Some(k) = self.unstable {
            self.crash_at_request(k);
        }
    }

    fn charge(&self, bytes: u64) {
        let ns = self.request_cost_ns(bytes);
        self.clock.advance(ns);
        #[cfg(feature = "std")]
        if ns > 0 {
            let d = std::time::Duration::from_nanos(ns);
            match self.pacing {
                WallPacing::None => {}
                WallPacing::Sleep => std::thread::sleep(d),
                WallPacing::Spin => {
                    let start = std::time::Instant::now();
                    while start.elapsed() < d {
                        core::hint::spin_loop();
                    }
                }
            }
        }
    }

    /// Common entry of every request. `Ok(Some(after_bytes))` means this
    /// request is the one planned to crash.
    fn enter(&mut self) -> Result<Option<usize>> {
        self.stats.requests += 1;
        if !self.alive {
            self.stats.dead_replies += 1;
            return Err(BdevError::DeadDriver);
        }
        self.served += 1;
        match self.crash {
            Some(plan) if plan.at == self.served => {
                self.crash = None;
                Ok(Some(plan.after_bytes))
            }
            _ => Ok(None),
        }
    }

    fn die(&mut self) -> BdevError {
        self.alive = false;
        self.stats.crashes += 1;
        BdevError::DeadDriver
    }

    /// Checks shared by every request except open: the minor exists and is
    /// open on this instance.
    fn check_opened(&mut self, minor: Minor) -> Result<()> {
        if !self.minors.contains_key(&minor) {
            return Err(BdevError::NoDevice);
        }
        if self.open_count(minor) == 0 {
            self.stats.restart_replies += 1;
            return Err(BdevError::Restart);
        }
        Ok(())
    }

    fn check_alignment(&self, pos: u64, lens: impl Iterator<Item = usize>) -> Result<()> {
        if let Some(a) = self.alignment {
            let mut all = core::iter::once(pos).chain(lens.map(|l| l as u64));
            if all.any(|v| v % a != 0) {
                return Err(BdevError::Invalid);
            }
        }
        Ok(())
    }

    /// How far a transfer of `len` bytes at `pos` on `minor` gets before an
    /// active fault stops it: `Some(bytes before the fault)` if one does
    /// (the fault is charged), `None` if none.
    fn fault_cut(&mut self, minor: Minor, pos: u64, len: usize, write: bool) -> Option<usize> {
        if len == 0 {
            return None;
        }
        let end = pos + len as u64;
        let hit = self
            .faults
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                f.minor == minor
                    && match f.ops {
                        FaultOps::Read => !write,
                        FaultOps::Write => write,
                        FaultOps::Both => true,
                    }
                    && f.bytes.start < end
                    && pos < f.bytes.end
                    && !f.bytes.is_empty()
            })
            .min_by_key(|(_, f)| f.bytes.start)
            .map(|(i, f)| (i, f.bytes.start))?;
        let (i, start) = hit;
        self.stats.errors_injected += 1;
        if let FaultKind::Transient { failures } = &mut self.faults[i].kind {
            *failures = failures.saturating_sub(1);
            if *failures == 0 {
                self.faults.remove(i);
            }
        }
        Some(usize::try_from(start.saturating_sub(pos)).unwrap_or(len))
    }
}

impl Driver for SimDriver {
    fn open(&mut self, minor: Minor, access: Access) -> Result<()> {
        let crash = self.enter()?;
        self.charge(0);
        if crash.is_some() {
            return Err(self.die());
        }
        let m = self.minors.get(&minor).ok_or(BdevError::NoDevice)?;
        if !access.is_valid() {
            return Err(BdevError::Invalid);
        }
        if access.write && m.read_only {
            return Err(BdevError::ReadOnly);
        }
        *self.opened.entry(minor).or_insert(0) += 1;
        self.stats.opens += 1;
        Ok(())
    }

    fn close(&mut self, minor: Minor) -> Result<()> {
        let crash = self.enter()?;
        self.charge(0);
        if crash.is_some() {
            return Err(self.die());
        }
        self.check_opened(minor)?;
        if let Some(c) = self.opened.get_mut(&minor) {
            *c -= 1;
            if *c == 0 {
                self.opened.remove(&minor);
            }
        }
        self.stats.closes += 1;
        Ok(())
    }

    fn gather(&mut self, minor: Minor, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize> {
        let crash = self.enter()?;
        if crash.is_none() {
            self.check_opened(minor)?;
        } else if !self.minors.contains_key(&minor) {
            self.charge(0);
            return Err(self.die());
        }
        self.check_alignment(pos, bufs.iter().map(|b| b.len()))?;
        self.stats.reads += 1;
        let size = self.minors.get(&minor).map_or(0, |m| m.size);
        let want = clip(pos, total_len(bufs), size);
        let fault = if crash.is_none() {
            self.fault_cut(minor, pos, want, false)
        } else {
            None
        };
        let n = match (crash, fault) {
            (Some(after), _) => want.min(after),
            (None, Some(cut)) => want.min(cut),
            (None, None) => want,
        };
        if let Some(m) = self.minors.get(&minor) {
            let mut done = 0;
            for buf in bufs.iter_mut() {
                if done == n {
                    break;
                }
                let k = buf.len().min(n - done);
                m.data.read(pos + done as u64, &mut buf[..k]);
                done += k;
            }
        }
        self.charge(n as u64);
        if crash.is_some() {
            return Err(self.die());
        }
        if fault.is_some() {
            return Err(BdevError::Io);
        }
        self.stats.bytes_read += n as u64;
        Ok(n)
    }

    fn scatter(&mut self, minor: Minor, pos: u64, bufs: &[&[u8]]) -> Result<usize> {
        let crash = self.enter()?;
        if crash.is_none() {
            self.check_opened(minor)?;
        } else if !self.minors.contains_key(&minor) {
            self.charge(0);
            return Err(self.die());
        }
        self.check_alignment(pos, bufs.iter().map(|b| b.len()))?;
        self.stats.writes += 1;
        let (size, read_only) = self
            .minors
            .get(&minor)
            .map_or((0, false), |m| (m.size, m.read_only));
        if read_only && crash.is_none() {
            self.charge(0);
            return Err(BdevError::ReadOnly);
        }
        let want = clip(pos, total_len(bufs), size);
        let fault = if crash.is_none() {
            self.fault_cut(minor, pos, want, true)
        } else {
            None
        };
        let n = match (crash, fault) {
            (Some(after), _) => want.min(after),
            (None, Some(cut)) => want.min(cut),
            (None, None) => want,
        };
        if let Some(m) = self.minors.get_mut(&minor) {
            let mut done = 0;
            for buf in bufs {
                if done == n {
                    break;
                }
                let k = buf.len().min(n - done);
                m.data.write(pos + done as u64, &buf[..k]);
                done += k;
            }
        }
        self.stats.bytes_written += n as u64;
        self.charge(n as u64);
        if crash.is_some() {
            return Err(self.die());
        }
        if fault.is_some() {
            return Err(BdevError::Io);
        }
        Ok(n)
    }

    fn size(&mut self, minor: Minor) -> Result<u64> {
        let crash = self.enter()?;
        self.charge(0);
        if crash.is_some() {
            return Err(self.die());
        }
        self.check_opened(minor)?;
        Ok(self.minors.get(&minor).map_or(0, |m| m.size))
    }

    fn flush(&mut self, minor: Minor) -> Result<()> {
        let crash = self.enter()?;
        self.charge(0);
        if crash.is_some() {
            return Err(self.die());
        }
        self.check_opened(minor)
    }

    fn reconnect(&mut self) -> Result<()> {
        if self.reconnect_failures > 0 {
            self.reconnect_failures -= 1;
            return Err(BdevError::DeadDriver);
        }
        if !self.alive {
            self.alive = true;
            self.new_instance();
            self.stats.reconnects += 1;
        }
        Ok(())
    }

    fn instance_id(&self) -> Option<u64> {
        Some(self.generation)
    }

    fn backoff(&mut self) {
        // MINIX sleeps 1000 µs before resending after ERESTART; charge the
        // same on the simulated clock (never in wall time).
        self.clock.advance(1_000_000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bdev, BdevDevice, BlockDevice};

    fn opened(mut d: SimDriver) -> SimDriver {
        let minors: Vec<Minor> = d.minors.keys().copied().collect();
        for m in minors {
            d.open(m, Access::RW).unwrap();
        }
        d
    }

    #[test]
    fn latency_and_bandwidth_on_the_sim_clock() {
        let clock = SimClock::new();
        let mut d = opened(
            SimDriver::new(clock.clone())
                .with_minor(0, 1 << 20)
                .with_latency_ns(200_000)
                .with_bandwidth(Some(100_000_000)),
        );
        // The open cost one latency.
        assert_eq!(clock.now_ns(), 200_000);
        let mut buf = vec![0u8; 4096];
        assert_eq!(d.gather(0, 0, &mut [&mut buf]), Ok(4096));
        assert_eq!(clock.now_ns(), 400_000 + 40_960);
        assert_eq!(d.request_cost_ns(1_000_000), 200_000 + 10_000_000);
        // A short read at the end is charged for what moved.
        let before = clock.now_ns();
        assert_eq!(d.gather(0, (1 << 20) - 100, &mut [&mut buf]), Ok(100));
        assert_eq!(clock.now_ns() - before, 200_000 + 1000);
        let s = d.stats();
        assert_eq!((s.requests, s.reads, s.bytes_read), (3, 2, 4196));
    }

    #[cfg(feature = "std")]
    #[test]
    fn wall_pacing_spends_at_least_the_simulated_time() {
        for pacing in [WallPacing::Spin, WallPacing::Sleep] {
            let mut d = opened(
                SimDriver::disk(4096)
                    .with_latency_ns(50_000)
                    .with_pacing(pacing),
            );
            let start = std::time::Instant::now();
            let mut buf = [0u8; 512];
            d.gather(0, 0, &mut [&mut buf]).unwrap();
            // A lower bound that holds by construction, not a timing threshold.
            assert!(start.elapsed() >= std::time::Duration::from_micros(50));
            assert_eq!(d.clock().now_ns(), 100_000);
        }
    }

    #[test]
    fn sparse_storage_sizes_and_short_transfers() {
        // 3 * 4096 + 512: not a multiple of the 4 KiB chunk, and a huge one.
        let mut d = opened(SimDriver::disk(3 * 4096 + 512).with_minor(1, 1 << 40));
        let data: Vec<u8> = (0..6000).map(|i| (i % 253) as u8).collect();
        assert_eq!(d.scatter(0, 4000, &[&data[..100], &data[100..]]), Ok(6000));
        let mut out = vec![0u8; 6000];
        let (a, b) = out.split_at_mut(3000);
        assert_eq!(d.gather(0, 4000, &mut [a, b]), Ok(6000));
        assert_eq!(out, data);
        assert_eq!(d.scatter(0, 3 * 4096, &[&[9u8; 1000]]), Ok(512));
        let mut tail = [0u8; 1000];
        assert_eq!(d.gather(0, 3 * 4096 + 500, &mut [&mut tail]), Ok(12));
        assert_eq!(d.gather(0, 3 * 4096 + 512, &mut [&mut tail]), Ok(0));
        assert_eq!(Driver::size(&mut d, 1), Ok(1 << 40));
        assert_eq!(d.scatter(1, (1 << 40) - 2, &[&[5, 6, 7]]), Ok(2));
        let mut two = [0u8; 2];
        assert_eq!(d.read_raw(1, (1 << 40) - 2, &mut two), 2);
        assert_eq!(two, [5, 6]);
        assert_eq!(d.contents(0).unwrap()[4000..10000], data[..]);
    }

    #[test]
    fn transient_and_permanent_faults() {
        let mut d = opened(SimDriver::disk(64 * 1024));
        d.fail_blocks(
            0,
            4096,
            2..3,
            FaultKind::Transient { failures: 2 },
            FaultOps::Read,
        );
        d.fail_bytes(0, 40_000..40_001, FaultKind::Permanent, FaultOps::Write);
        let mut buf = vec![0u8; 8192];
        assert_eq!(d.gather(0, 4096, &mut [&mut buf]), Err(BdevError::Io));
        assert_eq!(d.gather(0, 4096, &mut [&mut buf]), Err(BdevError::Io));
        assert_eq!(d.gather(0, 4096, &mut [&mut buf]), Ok(8192));
        assert!(d.faults().iter().all(|f| f.kind == FaultKind::Permanent));
        // Reads of the permanently write-faulty byte are fine.
        assert_eq!(d.gather(0, 36_864, &mut [&mut buf]), Ok(8192));
        // A failing write stores the bytes before the fault.
        let data = vec![3u8; 8192];
        for _ in 0..3 {
            assert_eq!(d.scatter(0, 36_864, &[&data]), Err(BdevError::Io));
        }
        let c = d.contents(0).unwrap();
        assert!(c[36_864..40_000].iter().all(|&b| b == 3));
        assert!(c[40_000..45_056].iter().all(|&b| b == 0));
        assert_eq!(d.stats().errors_injected, 5);
        // Writes that avoid the range work.
        assert_eq!(d.scatter(0, 40_001, &[&data[..10]]), Ok(10));
        d.clear_faults();
        assert_eq!(d.scatter(0, 36_864, &[&data]), Ok(8192));
    }

    #[test]
    fn crash_now_then_dead_until_reconnect_then_restart_until_reopened() {
        let mut d = opened(SimDriver::disk(4096).with_minor(1, 4096));
        d.crash_now();
        let mut buf = [0u8; 16];
        assert_eq!(d.gather(0, 0, &mut [&mut buf]), Err(BdevError::DeadDriver));
        assert_eq!(d.open(0, Access::R), Err(BdevError::DeadDriver));
        assert_eq!(d.stats().dead_replies, 2);
        d.fail_reconnects(1);
        assert_eq!(d.reconnect(), Err(BdevError::DeadDriver));
        assert_eq!(d.reconnect(), Ok(()));
        assert_eq!(d.generation(), 1);
        assert_eq!(d.gather(0, 0, &mut [&mut buf]), Err(BdevError::Restart));
        assert_eq!(Driver::flush(&mut d, 1), Err(BdevError::Restart));
        assert_eq!(d.open(0, Access::R), Ok(()));
        assert_eq!(d.gather(0, 0, &mut [&mut buf]), Ok(16));
        assert_eq!(Driver::size(&mut d, 1), Err(BdevError::Restart));
        assert_eq!(d.stats().restart_replies, 3);
        // Reconnecting to a live driver changes nothing.
        assert_eq!(d.reconnect(), Ok(()));
        assert_eq!(d.generation(), 1);
        assert_eq!(d.open_count(0), 1);
    }

    #[test]
    fn crash_at_the_nth_request() {
        let mut d = opened(SimDriver::disk(4096));
        d.crash_at_request(3);
        let mut buf = [0u8; 16];
        assert_eq!(d.gather(0, 0, &mut [&mut buf]), Ok(16));
        assert_eq!(Driver::size(&mut d, 0), Ok(4096));
        assert!(d.is_alive());
        assert_eq!(d.gather(0, 0, &mut [&mut buf]), Err(BdevError::DeadDriver));
        assert!(!d.is_alive());
        assert_eq!(d.stats().crashes, 1);
    }

    #[test]
    fn crash_mid_scatter_writes_a_prefix() {
        let mut d = opened(SimDriver::disk(8192));
        d.crash_mid_transfer(1, 1000);
        let a = [1u8; 600];
        let b = [2u8; 600];
        assert_eq!(d.scatter(0, 100, &[&a, &b]), Err(BdevError::DeadDriver));
        let c = d.contents(0).unwrap();
        assert!(c[100..700].iter().all(|&x| x == 1));
        assert!(c[700..1100].iter().all(|&x| x == 2));
        assert!(c[1100..1300].iter().all(|&x| x == 0));
        assert_eq!(d.stats().bytes_written, 1000);
    }

    #[test]
    fn alignment_requirement() {
        let mut d = opened(SimDriver::disk(8192).with_alignment(Some(512)));
        let mut buf = [0u8; 512];
        let mut odd = [0u8; 100];
        assert_eq!(d.gather(0, 512, &mut [&mut buf]), Ok(512));
        assert_eq!(d.gather(0, 100, &mut [&mut buf]), Err(BdevError::Invalid));
        assert_eq!(
            d.gather(0, 0, &mut [&mut buf, &mut odd]),
            Err(BdevError::Invalid)
        );
    }

    // Client over the simulated driver: the failure tests of issue 3.

    #[test]
    fn client_recovers_a_crash_mid_scatter_and_the_resend_fixes_the_data() {
        let mut sim = SimDriver::disk(16 * 1024).with_minor(7, 4096);
        sim.write_raw(0, 0, &[0xEE; 16 * 1024]);
        let client = Bdev::shared(sim);
        let mut dev = BdevDevice::open(&client, 0, Access::RW).unwrap();
        let _d7a = BdevDevice::open(&client, 7, Access::R).unwrap();
        let _d7b = BdevDevice::open(&client, 7, Access::R).unwrap();
        dev.with_driver(|d| d.crash_mid_transfer(1, 3000));
        let segs: Vec<Vec<u8>> = (0..8).map(|i| vec![i as u8; 1024]).collect();
        let refs: Vec<&[u8]> = segs.iter().map(|s| &s[..]).collect();
        assert_eq!(dev.write_vectored(2048, &refs), Ok(8192));
        let c = client.borrow();
        let d = c.driver();
        let contents = d.contents(0).unwrap();
        for (i, s) in segs.iter().enumerate() {
            assert_eq!(&contents[2048 + i * 1024..3072 + i * 1024], &s[..]);
        }
        assert!(contents[..2048].iter().all(|&b| b == 0xEE));
        assert!(contents[10_240..].iter().all(|&b| b == 0xEE));
        assert_eq!(d.generation(), 1);
        assert_eq!(d.open_count(0), 1);
        assert_eq!(d.open_count(7), 2);
        let s = c.stats();
        assert_eq!(
            (s.recoveries, s.reconnects, s.reopens, s.attempts),
            (1, 1, 3, 3 + 2)
        );
    }

    #[test]
    fn client_recovers_a_restart_that_kept_its_endpoint() {
        let client = Bdev::shared(SimDriver::disk(4096));
        let mut dev = BdevDevice::open(&client, 0, Access::RW).unwrap();
        dev.write_vectored(0, &[&[4u8; 10]]).unwrap();
        dev.with_driver(|d| d.restart_in_place());
        let mut buf = [0u8; 10];
        assert_eq!(dev.read_vectored(0, &mut [&mut buf]), Ok(10));
        assert_eq!(buf, [4u8; 10]);
        let c = client.borrow();
        assert_eq!(c.driver().stats().restart_replies, 1);
        assert_eq!(c.driver().stats().reconnects, 0);
        assert_eq!(c.driver().open_count(0), 1);
        assert_eq!(c.stats().restart_retries, 1);
    }

    #[test]
    fn client_transient_fault_recovered_permanent_returned() {
        let mut sim = SimDriver::disk(64 * 1024);
        sim.fail_blocks(
            0,
            4096,
            3..4,
            FaultKind::Transient { failures: 4 },
            FaultOps::Both,
        );
        sim.fail_blocks(0, 4096, 9..10, FaultKind::Permanent, FaultOps::Both);
        let mut dev = BdevDevice::open_new(sim, 0, Access::RW).unwrap();
        let mut buf = vec![0u8; 4096];
        assert_eq!(dev.read_vectored(3 * 4096, &mut [&mut buf]), Ok(4096));
        assert_eq!(
            dev.read_vectored(9 * 4096, &mut [&mut buf]),
            Err(BdevError::Io)
        );
        let s = dev.with_driver(|d| d.stats());
        assert_eq!(s.reads, 4 + 1 + 5);
        assert_eq!(s.errors_injected, 4 + 5);
    }

    #[test]
    fn client_gives_up_when_the_driver_keeps_dying_during_recovery() {
        let client = Bdev::shared(SimDriver::disk(4096));
        let mut dev = BdevDevice::open(&client, 0, Access::RW).unwrap();
        dev.with_driver(|d| {
            d.crash_now();
            d.set_unstable(Some(1));
        });
        let mut buf = [0u8; 8];
        // The read finds the driver dead; both recovery rounds reconnect and
        // die during the reopen: RECOVER_TRIES restarts, then DeadDriver.
        assert_eq!(
            dev.read_vectored(0, &mut [&mut buf]),
            Err(BdevError::DeadDriver)
        );
        {
            let c = client.borrow();
            let s = c.driver().stats();
            assert_eq!((s.reads, s.reconnects, s.crashes), (0, 2, 3));
            assert_eq!(c.stats().attempts, 2, "the open and the one read attempt");
            assert_eq!(c.stats().recovery_failures, 1);
        }
        // The driver becomes stable: the next request completes the reopen
        // (dead -> second round reconnects) and goes through.
        dev.with_driver(|d| d.set_unstable(None));
        assert_eq!(dev.read_vectored(0, &mut [&mut buf]), Ok(8));
        let c = client.borrow();
        assert_eq!(c.driver().open_count(0), 1);
        assert_eq!(c.driver().stats().reconnects, 3);
    }

    #[test]
    fn client_gives_up_after_driver_tries_when_every_instance_dies_on_the_transfer() {
        let client = Bdev::shared(SimDriver::disk(4096));
        let mut dev = BdevDevice::open(&client, 0, Access::RW).unwrap();
        // Every new instance survives the reopen and dies on the next request.
        dev.with_driver(|d| {
            d.crash_at_request(1);
            d.set_unstable(Some(2));
        });
        assert_eq!(
            dev.write_vectored(0, &[&[1u8; 8]]),
            Err(BdevError::DeadDriver)
        );
        let c = client.borrow();
        let s = c.driver().stats();
        assert_eq!(s.writes, u64::from(crate::DRIVER_TRIES));
        assert_eq!(s.reconnects, u64::from(crate::DRIVER_TRIES));
        assert_eq!(s.opens, 1 + u64::from(crate::DRIVER_TRIES));
    }

    #[test]
    fn client_notices_a_silent_restart_revealed_by_an_open() {
        // The restarted instance accepts the open (no Restart answer); only
        // its instance id changed. The client must reopen the rest at once.
        let mut b = Bdev::new(SimDriver::disk(4096).with_minor(1, 4096));
        b.open(0, Access::RW).unwrap();
        b.open(1, Access::R).unwrap();
        b.open(1, Access::R).unwrap();
        b.driver_mut().restart_in_place();
        b.open(0, Access::R).unwrap();
        let d = b.driver();
        assert_eq!((d.open_count(0), d.open_count(1)), (2, 2));
        assert_eq!(d.stats().restart_replies, 0);
        assert_eq!(b.stats().reopens, 3);
        assert_eq!(b.open_access(0), Some(Access::RW));
    }

    #[test]
    fn client_recovers_repeated_in_place_restarts() {
        // Each in-place restart is noticed by the Restart answer (and the
        // instance id), the minor reopened once, and the read resent.
        let mut b = Bdev::new(SimDriver::disk(4096));
        b.open(0, Access::RW).unwrap();
        let mut buf = [0u8; 4];
        for _ in 0..3 {
            b.driver_mut().restart_in_place();
            assert_eq!(b.read(0, 0, &mut buf), Ok(4));
        }
        assert_eq!(b.driver().open_count(0), 1);
        assert_eq!(b.driver().generation(), 3);
    }
}
