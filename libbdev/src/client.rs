//! The block-device client: open bookkeeping, retries and driver recovery.
//!
//! [`Bdev`] owns one [`Driver`] (the connection to one block driver, i.e. one
//! major) and runs every request through the rules of MINIX's libbdev
//! (`minix/lib/libbdev`), with the numbers of its `const.h`:
//!
//! * **Transfer retries** ([`TRANSFER_TRIES`] = 5): a read, write, gather or
//!   scatter that fails with [`BdevError::Io`] is sent again, up to
//!   `TRANSFER_TRIES` attempts in all; the fifth failure is returned as `Io`.
//!   Other requests (open, close, size, flush) never retry on `Io`.
//! * **Driver death** ([`BdevError::DeadDriver`], MINIX `EDEADSRCDST`): the
//!   client *recovers* — [`Driver::reconnect`], then reopens every minor it
//!   has open, once per recorded open, with the recorded access bits — and
//!   then resends the request. A write cut short by the crash is resent
//!   whole, so whatever prefix the dead driver wrote is overwritten with the
//!   same bytes and the final state is the requested one.
//! * **Restart replies** ([`BdevError::Restart`], MINIX `ERESTART`): the
//!   driver answering has not got the minor open, so it restarted behind the
//!   client's back (for example a restart that kept its endpoint, which MINIX
//!   cannot pick up). The client calls [`Driver::backoff`], reopens the
//!   minors as above (without reconnecting), and resends.
//! * **Silent restarts** ([`Driver::instance_id`]): when the transport reports
//!   which driver instance answered, a change the client did not cause by
//!   reconnecting means the driver restarted in place. Every open is then
//!   treated as lost and reopened — even when the revealing reply was a
//!   successful open, which a restarted driver accepts without `Restart`.
//!   Such reopens happen before the call returns, so when a call succeeds
//!   the live driver instance has each minor open exactly as often as the
//!   client does.
//! * **Bounds** ([`DRIVER_TRIES`] = 10, [`RECOVER_TRIES`] = 2): one request
//!   is attempted at most `DRIVER_TRIES` times across driver deaths and
//!   restart replies, then fails with `DeadDriver`. One recovery makes at
//!   most `RECOVER_TRIES` rounds (a round = reconnect + reopen all; a driver
//!   death during the reopens starts the next round); if every round fails,
//!   or the reconnect finds no driver, or a reopen fails with anything other
//!   than `DeadDriver`, recovery gives up and the request fails with
//!   `DeadDriver`. The `Io` and driver counters are independent: whichever
//!   reaches its limit first ends the request.
//!
//! Where we beat MINIX:
//! * After a failed recovery MINIX forgets the driver and fails every later
//!   request until a new driver is announced. Here the client remembers which
//!   opens the current driver instance has not seen yet and completes the
//!   reopen before the next request, so a driver that comes back is used.
//! * MINIX tracks at most 4 open minors (`NR_OPEN_DEVS`) and silently stops
//!   tracking more (they are then never reopened). Here up to
//!   [`MAX_OPEN_MINORS`] are tracked and an open of one more fails with
//!   [`BdevError::TooManyOpen`] before it reaches the driver.
//! * MINIX cannot recover a driver restart that keeps its endpoint (its DS
//!   poll waits for a *different* endpoint). Here [`Driver::reconnect`]
//!   accepts any live instance, and restarts nobody reported are caught by
//!   `Restart` answers and instance ids (above).
//! * Requests on a minor the client has not opened fail at once with
//!   [`BdevError::NoDevice`], writes on a minor opened without write access
//!   with [`BdevError::ReadOnly`], and vectors of more than
//!   [`MAX_SEGMENTS`] segments with [`BdevError::Invalid`] (MINIX's
//!   `bdev_gather`/`bdev_scatter` also reject more than `NR_IOREQS`).
//!
//! [`BdevDevice`] is one open minor of a client shared as
//! `Rc<RefCell<Bdev<D>>>`, and implements [`BlockDevice`].

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::{Access, BdevError, BlockDevice, Driver, MAX_SEGMENTS, Minor, Result};

/// Attempts per transfer when the device answers `Io` (MINIX `TRANSFER_TRIES`).
pub const TRANSFER_TRIES: u32 = 5;
/// Attempts per request across driver deaths and restart replies (MINIX
/// `DRIVER_TRIES`).
pub const DRIVER_TRIES: u32 = 10;
/// Reconnect-and-reopen rounds in one recovery (MINIX `RECOVER_TRIES`).
pub const RECOVER_TRIES: u32 = 2;
/// Most distinct minors one client tracks (MINIX `NR_OPEN_DEVS` is 4).
pub const MAX_OPEN_MINORS: usize = 32;

impl Access {
    /// Write-only access.
    pub const W: Access = Access {
        read: false,
        write: true,
    };

    /// Both sets of bits together.
    pub const fn union(self, other: Access) -> Access {
        Access {
            read: self.read || other.read,
            write: self.write || other.write,
        }
    }

    /// Whether at least one bit is set (an open must ask for something).
    pub const fn is_valid(self) -> bool {
        self.read || self.write
    }
}

/// Counters kept by a [`Bdev`] client. All only ever grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BdevStats {
    /// Requests made through the client API (open, close, transfers, size, flush).
    pub requests: u64,
    /// Requests sent to the driver, first tries and retries (reopens excluded).
    pub attempts: u64,
    /// Transfers resent after an `Io` answer.
    pub io_retries: u64,
    /// Requests resent after a `Restart` answer.
    pub restart_retries: u64,
    /// Recoveries started (after `DeadDriver`, a `Restart` answer, or a
    /// reopen left unfinished by an earlier failed recovery).
    pub recoveries: u64,
    /// Recoveries that gave up.
    pub recovery_failures: u64,
    /// Successful [`Driver::reconnect`] calls.
    pub reconnects: u64,
    /// Opens resent to a driver instance during recovery.
    pub reopens: u64,
}

/// One tracked minor.
#[derive(Debug, Clone, Copy)]
struct OpenMinor {
    minor: Minor,
    /// Successful opens minus closes by this client.
    count: u32,
    /// Union of the access bits of every open (MINIX keeps the same).
    access: Access,
    /// How many of those opens the current driver instance has seen. Less
    /// than `count` only between a driver restart and the end of a recovery.
    live: u32,
}

/// What kind of request is running, for the retry rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// read/write/gather/scatter: retried on `Io`.
    Transfer,
    /// open/close/size/flush: never retried on `Io`.
    Control,
}

/// A block-device client for one driver: open bookkeeping, retries and
/// driver recovery (see the [module doc](self) for the exact rules).
///
/// Positions are byte offsets. Transfers may be short only at the end of the
/// device; a transfer starting at or past the end returns 0.
#[derive(Debug)]
pub struct Bdev<D: Driver> {
    driver: D,
    opens: Vec<OpenMinor>,
    stats: BdevStats,
    /// [`Driver::instance_id`] of the last reply, when the driver reports one.
    instance: Option<u64>,
    /// Rounds one recovery may make ([`RECOVER_TRIES`] unless set).
    recover_tries: u32,
}

impl<D: Driver> Bdev<D> {
    /// A client for `driver`, with no minor open.
    pub fn new(driver: D) -> Self {
        Bdev {
            driver,
            opens: Vec::new(),
            stats: BdevStats::default(),
            instance: None,
            recover_tries: RECOVER_TRIES,
        }
    }

    /// Allow `rounds` reconnect-and-reopen rounds per recovery instead of
    /// MINIX's [`RECOVER_TRIES`] (at least 1): for a driver that may die
    /// again while its clients are still reopening (a crash test that
    /// restarts it back to back). The bound on attempts per request,
    /// [`DRIVER_TRIES`], still holds.
    pub fn with_recover_tries(mut self, rounds: u32) -> Self {
        self.recover_tries = rounds.max(1);
        self
    }

    /// A client wrapped for sharing between [`BdevDevice`] handles.
    pub fn shared(driver: D) -> Rc<RefCell<Self>> {
        Rc::new(RefCell::new(Self::new(driver)))
    }

    /// The driver (for inspection in tests and tools).
    pub fn driver(&self) -> &D {
        &self.driver
    }

    /// The driver, mutably (e.g. to inject faults into a [`crate::SimDriver`]).
    /// Requests sent directly bypass the bookkeeping.
    pub fn driver_mut(&mut self) -> &mut D {
        &mut self.driver
    }

    /// Give the driver back. Open minors are not closed.
    pub fn into_driver(self) -> D {
        self.driver
    }

    /// The client's counters.
    pub fn stats(&self) -> BdevStats {
        self.stats
    }

    /// How many times `minor` is open through this client (0 if not open).
    pub fn open_count(&self, minor: Minor) -> u32 {
        self.find(minor).map_or(0, |i| self.opens[i].count)
    }

    /// The union of the access bits `minor` was opened with, if open.
    pub fn open_access(&self, minor: Minor) -> Option<Access> {
        self.find(minor).map(|i| self.opens[i].access)
    }

    /// The open minors, ascending, with their open counts.
    pub fn open_minors(&self) -> Vec<(Minor, u32)> {
        let mut v: Vec<_> = self.opens.iter().map(|o| (o.minor, o.count)).collect();
        v.sort_unstable();
        v
    }

    /// Open `minor` with `access` (at least one bit). Each successful open is
    /// recorded and must be matched by a [`close`](Self::close); after a
    /// driver restart the minor is reopened as many times as it is open.
    ///
    /// Errors: `Invalid` for empty access; `TooManyOpen` when
    /// [`MAX_OPEN_MINORS`] other minors are open; the driver's answer
    /// otherwise. An `Io` answer is not retried; `DeadDriver` and `Restart`
    /// are handled as for every request.
    pub fn open(&mut self, minor: Minor, access: Access) -> Result<()> {
        self.stats.requests += 1;
        if !access.is_valid() {
            return Err(BdevError::Invalid);
        }
        let slot = self.find(minor);
        if slot.is_none() && self.opens.len() >= MAX_OPEN_MINORS {
            return Err(BdevError::TooManyOpen);
        }
        self.run(Kind::Control, |d| d.open(minor, access))?;
        match self.find(minor) {
            Some(i) => {
                let o = &mut self.opens[i];
                o.count += 1;
                o.live += 1;
                o.access = o.access.union(access);
            }
            None => self.opens.push(OpenMinor {
                minor,
                count: 1,
                access,
                live: 1,
            }),
        }
        self.settle();
        Ok(())
    }

    /// Close one open of `minor`. The record is dropped only when the driver
    /// accepted the close (as in MINIX); `Io` is not retried.
    ///
    /// Errors: `NoDevice` if the minor is not open through this client.
    pub fn close(&mut self, minor: Minor) -> Result<()> {
        self.stats.requests += 1;
        if self.find(minor).is_none() {
            return Err(BdevError::NoDevice);
        }
        self.run(Kind::Control, |d| d.close(minor))?;
        if let Some(i) = self.find(minor) {
            let o = &mut self.opens[i];
            o.count -= 1;
            o.live = o.live.saturating_sub(1);
            if o.count == 0 {
                self.opens.swap_remove(i);
            }
        }
        self.settle();
        Ok(())
    }

    /// Read `buf.len()` bytes at byte `pos`; returns bytes read (short only
    /// at the end of the device, 0 at or past it).
    pub fn read(&mut self, minor: Minor, pos: u64, buf: &mut [u8]) -> Result<usize> {
        self.gather(minor, pos, &mut [buf])
    }

    /// Write `buf` at byte `pos`; returns bytes written (short only at the
    /// end of the device, 0 at or past it).
    pub fn write(&mut self, minor: Minor, pos: u64, buf: &[u8]) -> Result<usize> {
        self.scatter(minor, pos, &[buf])
    }

    /// Read into up to [`MAX_SEGMENTS`] segments in order starting at `pos`.
    /// Returns bytes read. An empty vector returns 0 without a request.
    ///
    /// Errors: `Invalid` for more than `MAX_SEGMENTS` segments or a range
    /// past `u64::MAX`; `NoDevice` if the minor is not open; after the retry
    /// rules, the driver's last answer.
    pub fn gather(&mut self, minor: Minor, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize> {
        self.stats.requests += 1;
        self.check_transfer(minor, pos, bufs.iter().map(|b| b.len()), bufs.len(), false)?;
        if bufs.is_empty() {
            return Ok(0);
        }
        let n = self.run(Kind::Transfer, |d| d.gather(minor, pos, bufs))?;
        self.settle();
        Ok(n)
    }

    /// Write up to [`MAX_SEGMENTS`] segments in order starting at `pos`.
    /// Returns bytes written. An empty vector returns 0 without a request.
    ///
    /// Errors: as [`gather`](Self::gather), plus `ReadOnly` if the minor was
    /// not opened with write access.
    pub fn scatter(&mut self, minor: Minor, pos: u64, bufs: &[&[u8]]) -> Result<usize> {
        self.stats.requests += 1;
        self.check_transfer(minor, pos, bufs.iter().map(|b| b.len()), bufs.len(), true)?;
        if bufs.is_empty() {
            return Ok(0);
        }
        let n = self.run(Kind::Transfer, |d| d.scatter(minor, pos, bufs))?;
        self.settle();
        Ok(n)
    }

    /// Size of `minor` in bytes (MINIX asks with the `DIOCGETP` ioctl, so
    /// `Io` is not retried).
    pub fn size(&mut self, minor: Minor) -> Result<u64> {
        self.stats.requests += 1;
        self.require_open(minor)?;
        let n = self.run(Kind::Control, |d| d.size(minor))?;
        self.settle();
        Ok(n)
    }

    /// Make written data of `minor` durable (an ioctl-like request: `Io` is
    /// not retried).
    pub fn flush(&mut self, minor: Minor) -> Result<()> {
        self.stats.requests += 1;
        self.require_open(minor)?;
        self.run(Kind::Control, |d| d.flush(minor))?;
        self.settle();
        Ok(())
    }

    fn find(&self, minor: Minor) -> Option<usize> {
        self.opens.iter().position(|o| o.minor == minor)
    }

    fn require_open(&self, minor: Minor) -> Result<Access> {
        self.find(minor)
            .map(|i| self.opens[i].access)
            .ok_or(BdevError::NoDevice)
    }

    fn check_transfer(
        &self,
        minor: Minor,
        pos: u64,
        mut lens: impl Iterator<Item = usize>,
        nsegs: usize,
        write: bool,
    ) -> Result<()> {
        // Order: unknown minor, then malformed request, then access.
        let access = self.require_open(minor)?;
        if nsegs > MAX_SEGMENTS {
            return Err(BdevError::Invalid);
        }
        let total = lens.try_fold(0u64, |acc, l| acc.checked_add(u64::try_from(l).ok()?));
        if total.and_then(|t| pos.checked_add(t)).is_none() {
            return Err(BdevError::Invalid);
        }
        if write && !access.write {
            return Err(BdevError::ReadOnly);
        }
        Ok(())
    }

    /// After a successful request (and its bookkeeping): if its reply
    /// revealed a silent restart (see `note_instance`), reopen now so the
    /// instance matches our records when the call returns. A failure here is
    /// not the request's; the reopen is retried before the next request.
    fn settle(&mut self) {
        if self.reopen_pending() {
            let _ = self.recover(false);
        }
    }

    /// Whether the current driver instance misses some of our opens.
    fn reopen_pending(&self) -> bool {
        self.opens.iter().any(|o| o.live < o.count)
    }

    /// Send one request under the retry rules of the module doc.
    fn run<T>(&mut self, kind: Kind, mut send: impl FnMut(&mut D) -> Result<T>) -> Result<T> {
        let mut driver_tries = 0u32;
        let mut transfer_tries = 0u32;
        loop {
            if self.reopen_pending() {
                // A Restart answer, or an earlier recovery that gave up part
                // way: finish reopening before sending anything.
                self.recover(false)?;
            }
            self.stats.attempts += 1;
            let reply = send(&mut self.driver);
            if !matches!(reply, Err(BdevError::DeadDriver)) {
                self.note_instance();
            }
            match reply {
                Err(BdevError::DeadDriver) => {
                    // Like MINIX, recover before counting, so the client is
                    // left with a live driver even when this request gives up.
                    self.recover(true)?;
                    driver_tries += 1;
                    if driver_tries >= DRIVER_TRIES {
                        return Err(BdevError::DeadDriver);
                    }
                }
                Err(BdevError::Restart) => {
                    driver_tries += 1;
                    if driver_tries >= DRIVER_TRIES {
                        return Err(BdevError::DeadDriver);
                    }
                    self.stats.restart_retries += 1;
                    self.driver.backoff();
                    if !self.reopen_pending() {
                        // Every open was live by our records, so the instance
                        // restarted and lost them all.
                        for o in &mut self.opens {
                            o.live = 0;
                        }
                    }
                }
                Err(BdevError::Io) if kind == Kind::Transfer => {
                    transfer_tries += 1;
                    if transfer_tries >= TRANSFER_TRIES {
                        return Err(BdevError::Io);
                    }
                    self.stats.io_retries += 1;
                }
                other => return other,
            }
        }
    }

    /// Bring the driver instance up to date with our opens: optionally
    /// reconnect first, then reopen each minor `count - live` times. At most
    /// [`RECOVER_TRIES`] rounds (or as set with
    /// [`Bdev::with_recover_tries`]); every round after the first
    /// reconnects.
    fn recover(&mut self, reconnect_first: bool) -> Result<()> {
        self.stats.recoveries += 1;
        for round in 0..self.recover_tries {
            if reconnect_first || round > 0 {
                if self.driver.reconnect().is_err() {
                    break;
                }
                self.stats.reconnects += 1;
                // A new instance has none of our opens. If the driver reports
                // instance ids and the id did not change, the driver did not
                // restart (e.g. only the transport failed): keep the opens it
                // has instead of opening everything twice.
                let id = self.driver.instance_id();
                if id.is_none() || id != self.instance {
                    for o in &mut self.opens {
                        o.live = 0;
                    }
                }
                self.instance = id;
            }
            match self.reopen_all() {
                Ok(()) => return Ok(()),
                Err(BdevError::DeadDriver) => continue,
                Err(_) => break,
            }
        }
        self.stats.recovery_failures += 1;
        Err(BdevError::DeadDriver)
    }

    fn reopen_all(&mut self) -> Result<()> {
        for i in 0..self.opens.len() {
            while self.opens[i].live < self.opens[i].count {
                let OpenMinor { minor, access, .. } = self.opens[i];
                self.stats.reopens += 1;
                self.driver.open(minor, access)?;
                if self.note_instance() {
                    // Yet another instance took this open: the reopens so far
                    // went to its predecessor. Count it as a death so the
                    // next round starts over (bounded by recover_tries).
                    self.opens[i].live = 1;
                    return Err(BdevError::DeadDriver);
                }
                self.opens[i].live += 1;
            }
        }
        Ok(())
    }

    /// Compare the driver's instance id with the last one seen. A change
    /// means the driver restarted without the client noticing: the new
    /// instance has none of our opens, so all are marked not live (the reply
    /// that revealed it is the caller's to account for). Returns whether the
    /// instance changed.
    fn note_instance(&mut self) -> bool {
        let Some(id) = self.driver.instance_id() else {
            return false;
        };
        let changed = self.instance.is_some_and(|old| old != id);
        self.instance = Some(id);
        if changed {
            for o in &mut self.opens {
                o.live = 0;
            }
        }
        changed
    }
}

/// One open of one minor on a shared client: the [`BlockDevice`] file
/// servers and libminixfs use. Dropping the handle closes the open (errors
/// ignored); [`close`](Self::close) reports them.
///
/// Several handles (for the same or different minors) may share one client,
/// so a driver restart is recovered once for all of them.
#[derive(Debug)]
pub struct BdevDevice<D: Driver> {
    client: Rc<RefCell<Bdev<D>>>,
    minor: Minor,
    open: bool,
}

impl<D: Driver> BdevDevice<D> {
    /// Open `minor` with `access` on a shared client.
    pub fn open(client: &Rc<RefCell<Bdev<D>>>, minor: Minor, access: Access) -> Result<Self> {
        client.borrow_mut().open(minor, access)?;
        Ok(BdevDevice {
            client: Rc::clone(client),
            minor,
            open: true,
        })
    }

    /// Open `minor` of `driver` on a client of its own (reach it with
    /// [`client`](Self::client)).
    pub fn open_new(driver: D, minor: Minor, access: Access) -> Result<Self> {
        Self::open(&Bdev::shared(driver), minor, access)
    }

    /// The shared client (e.g. to open more minors, read counters, or reach
    /// the driver).
    pub fn client(&self) -> &Rc<RefCell<Bdev<D>>> {
        &self.client
    }

    /// The minor this handle has open.
    pub fn minor(&self) -> Minor {
        self.minor
    }

    /// Run `f` on the driver (inspection, fault injection).
    pub fn with_driver<R>(&self, f: impl FnOnce(&mut D) -> R) -> R {
        f(self.client.borrow_mut().driver_mut())
    }

    /// Close this open and report the driver's answer.
    pub fn close(mut self) -> Result<()> {
        self.open = false;
        self.client.borrow_mut().close(self.minor)
    }
}

impl<D: Driver> Drop for BdevDevice<D> {
    fn drop(&mut self) {
        if self.open {
            // Errors cannot be reported from drop; `close` reports them.
            if let Ok(mut c) = self.client.try_borrow_mut() {
                let _ = c.close(self.minor);
            }
        }
    }
}

impl<D: Driver> BlockDevice for BdevDevice<D> {
    fn read_vectored(&mut self, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize> {
        self.client.borrow_mut().gather(self.minor, pos, bufs)
    }
    fn write_vectored(&mut self, pos: u64, bufs: &[&[u8]]) -> Result<usize> {
        self.client.borrow_mut().scatter(self.minor, pos, bufs)
    }
    fn size(&mut self) -> Result<u64> {
        self.client.borrow_mut().size(self.minor)
    }
    fn flush(&mut self) -> Result<()> {
        self.client.borrow_mut().flush(self.minor)
    }
}

/// [`BlockDevice`] straight over a [`Driver`] minor: one attempt per call,
/// no open bookkeeping, no retries, no recovery. For host tools working on
/// a [`crate::MemDriver`] or `FileDriver` that cannot fail that way. It
/// still rejects vectors of more than [`MAX_SEGMENTS`] segments.
#[derive(Debug)]
pub struct RawDevice<D: Driver> {
    driver: D,
    minor: Minor,
}

impl<D: Driver> RawDevice<D> {
    /// Use `minor` of `driver` as a device (it is not opened).
    pub fn new(driver: D, minor: Minor) -> Self {
        RawDevice { driver, minor }
    }
    /// The driver.
    pub fn driver(&self) -> &D {
        &self.driver
    }
    /// The driver, mutably.
    pub fn driver_mut(&mut self) -> &mut D {
        &mut self.driver
    }
    /// Give the driver back.
    pub fn into_driver(self) -> D {
        self.driver
    }
}

impl<D: Driver> BlockDevice for RawDevice<D> {
    fn read_vectored(&mut self, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize> {
        if bufs.len() > MAX_SEGMENTS {
            return Err(BdevError::Invalid);
        }
        self.driver.gather(self.minor, pos, bufs)
    }
    fn write_vectored(&mut self, pos: u64, bufs: &[&[u8]]) -> Result<usize> {
        if bufs.len() > MAX_SEGMENTS {
            return Err(BdevError::Invalid);
        }
        self.driver.scatter(self.minor, pos, bufs)
    }
    fn size(&mut self) -> Result<u64> {
        self.driver.size(self.minor)
    }
    fn flush(&mut self) -> Result<()> {
        self.driver.flush(self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemDriver;
    use alloc::boxed::Box;
    use alloc::vec;

    /// A call as the scripted driver saw it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Call {
        Open(Minor, Access),
        Close(Minor),
        Gather(Minor),
        Scatter(Minor),
        Size(Minor),
        Flush(Minor),
        Reconnect,
    }

    type Plan = Box<dyn FnMut(&Call, usize) -> Option<BdevError>>;

    /// A MemDriver behind a plan that may fail any call; `usize` is the
    /// index of the call in the log.
    struct Scripted {
        mem: MemDriver,
        log: Vec<Call>,
        plan: Plan,
        id: Option<u64>,
    }

    impl Scripted {
        fn new(plan: impl FnMut(&Call, usize) -> Option<BdevError> + 'static) -> Self {
            let mut mem = MemDriver::new();
            mem.add_minor(0, vec![0; 4096]);
            mem.add_minor(1, vec![0; 1000]);
            Scripted {
                mem,
                log: Vec::new(),
                plan: Box::new(plan),
                id: None,
            }
        }
        fn call(&mut self, c: Call) -> Result<()> {
            let i = self.log.len();
            self.log.push(c);
            match (self.plan)(&c, i) {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
        fn count(&self, f: impl Fn(&Call) -> bool) -> usize {
            self.log.iter().filter(|c| f(c)).count()
        }
    }

    impl Driver for Scripted {
        fn open(&mut self, minor: Minor, access: Access) -> Result<()> {
            self.call(Call::Open(minor, access))?;
            self.mem.open(minor, access)
        }
        fn close(&mut self, minor: Minor) -> Result<()> {
            self.call(Call::Close(minor))?;
            self.mem.close(minor)
        }
        fn gather(&mut self, minor: Minor, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize> {
            self.call(Call::Gather(minor))?;
            self.mem.gather(minor, pos, bufs)
        }
        fn scatter(&mut self, minor: Minor, pos: u64, bufs: &[&[u8]]) -> Result<usize> {
            self.call(Call::Scatter(minor))?;
            self.mem.scatter(minor, pos, bufs)
        }
        fn size(&mut self, minor: Minor) -> Result<u64> {
            self.call(Call::Size(minor))?;
            self.mem.size(minor)
        }
        fn flush(&mut self, minor: Minor) -> Result<()> {
            self.call(Call::Flush(minor))?;
            self.mem.flush(minor)
        }
        fn reconnect(&mut self) -> Result<()> {
            self.call(Call::Reconnect)
        }
        fn instance_id(&self) -> Option<u64> {
            self.id
        }
    }

    fn is_gather(c: &Call) -> bool {
        matches!(c, Call::Gather(_))
    }
    fn is_scatter(c: &Call) -> bool {
        matches!(c, Call::Scatter(_))
    }

    /// Fails the first `n` calls matching `pred` with `err`.
    fn fail_first(
        n: usize,
        pred: fn(&Call) -> bool,
        err: BdevError,
    ) -> impl FnMut(&Call, usize) -> Option<BdevError> {
        let mut left = n;
        move |c, _| {
            if pred(c) && left > 0 {
                left -= 1;
                Some(err)
            } else {
                None
            }
        }
    }

    #[test]
    fn transient_io_is_retried_until_success() {
        let mut b = Bdev::new(Scripted::new(fail_first(4, is_gather, BdevError::Io)));
        b.open(0, Access::RW).unwrap();
        b.driver_mut().mem.data_mut(0).unwrap()[10] = 7;
        let mut buf = [0u8; 16];
        assert_eq!(b.read(0, 0, &mut buf), Ok(16));
        assert_eq!(buf[10], 7);
        assert_eq!(b.driver().count(is_gather), 5);
        assert_eq!(b.stats().io_retries, 4);
    }

    #[test]
    fn permanent_io_fails_after_exactly_five_attempts() {
        let mut b = Bdev::new(Scripted::new(|c, _| {
            (is_gather(c) || is_scatter(c)).then_some(BdevError::Io)
        }));
        b.open(0, Access::RW).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(b.read(0, 0, &mut buf), Err(BdevError::Io));
        assert_eq!(b.driver().count(is_gather), TRANSFER_TRIES as usize);
        assert_eq!(b.write(0, 0, &buf), Err(BdevError::Io));
        assert_eq!(b.driver().count(is_scatter), 5);
        let mut seg = [0u8; 4];
        assert_eq!(
            b.gather(0, 0, &mut [&mut seg, &mut buf]),
            Err(BdevError::Io)
        );
        assert_eq!(b.driver().count(is_gather), 10);
    }

    #[test]
    fn open_close_size_flush_never_retry_on_io() {
        let mut b = Bdev::new(Scripted::new(|c, _| {
            (!matches!(c, Call::Gather(_) | Call::Scatter(_))).then_some(BdevError::Io)
        }));
        assert_eq!(b.open(0, Access::R), Err(BdevError::Io));
        assert_eq!(b.driver().log.len(), 1);
        assert_eq!(b.open_count(0), 0);
        // Let one open through, then close/size/flush fail once each.
        b.driver_mut().plan = Box::new(|c, _| {
            (!matches!(c, Call::Open(..) | Call::Gather(_) | Call::Scatter(_)))
                .then_some(BdevError::Io)
        });
        b.open(0, Access::R).unwrap();
        assert_eq!(b.close(0), Err(BdevError::Io));
        assert_eq!(b.open_count(0), 1, "a failed close keeps the record");
        assert_eq!(b.size(0), Err(BdevError::Io));
        assert_eq!(b.flush(0), Err(BdevError::Io));
        assert_eq!(b.driver().log.len(), 5);
    }

    #[test]
    fn crash_reopens_each_minor_as_often_as_opened_then_resends() {
        let crashed = core::cell::Cell::new(false);
        let mut once = Some(());
        let plan = move |c: &Call, _| {
            if is_scatter(c) && once.take().is_some() {
                crashed.set(true);
                Some(BdevError::DeadDriver)
            } else {
                None
            }
        };
        let mut b = Bdev::new(Scripted::new(plan));
        b.open(0, Access::R).unwrap();
        b.open(0, Access::W).unwrap();
        b.open(1, Access::R).unwrap();
        b.open(1, Access::RW).unwrap();
        b.open(1, Access::R).unwrap();
        b.driver_mut().log.clear();
        assert_eq!(b.write(0, 100, &[5; 10]), Ok(10));
        assert_eq!(
            b.driver().log,
            vec![
                Call::Scatter(0),
                Call::Reconnect,
                Call::Open(0, Access::RW),
                Call::Open(0, Access::RW),
                Call::Open(1, Access::RW),
                Call::Open(1, Access::RW),
                Call::Open(1, Access::RW),
                Call::Scatter(0),
            ]
        );
        assert_eq!(&b.driver().mem.data(0).unwrap()[100..110], &[5; 10]);
        let s = b.stats();
        assert_eq!((s.recoveries, s.reconnects, s.reopens), (1, 1, 5));
        assert_eq!(b.open_count(1), 3);
    }

    #[test]
    fn driver_dying_on_every_request_gives_dead_driver_after_ten_attempts() {
        let mut b = Bdev::new(Scripted::new(|c, _| {
            is_gather(c).then_some(BdevError::DeadDriver)
        }));
        b.open(0, Access::R).unwrap();
        b.open(1, Access::R).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(b.read(1, 0, &mut buf), Err(BdevError::DeadDriver));
        let d = b.driver();
        assert_eq!(d.count(is_gather), DRIVER_TRIES as usize);
        // MINIX recovers before counting: one recovery per death.
        assert_eq!(d.count(|c| *c == Call::Reconnect), 10);
        assert_eq!(d.count(|c| matches!(c, Call::Open(..))), 2 + 2 * 10);
    }

    #[test]
    fn restart_replies_reopen_and_retry_up_to_the_limit() {
        // A restart that kept the endpoint: no DeadDriver, only Restart
        // answers. One Restart: reopen all without reconnecting, resend.
        let mut b = Bdev::new(Scripted::new(fail_first(1, is_gather, BdevError::Restart)));
        b.open(0, Access::R).unwrap();
        b.open(0, Access::R).unwrap();
        b.driver_mut().log.clear();
        let mut buf = [0u8; 8];
        assert_eq!(b.read(0, 0, &mut buf), Ok(8));
        assert_eq!(
            b.driver().log,
            vec![
                Call::Gather(0),
                Call::Open(0, Access::R),
                Call::Open(0, Access::R),
                Call::Gather(0)
            ]
        );
        // Restart forever: exactly DRIVER_TRIES attempts, then DeadDriver.
        b.driver_mut().plan = Box::new(|c, _| is_gather(c).then_some(BdevError::Restart));
        b.driver_mut().log.clear();
        assert_eq!(b.read(0, 0, &mut buf), Err(BdevError::DeadDriver));
        assert_eq!(b.driver().count(is_gather), 10);
        assert_eq!(b.driver().count(|c| *c == Call::Reconnect), 0);
    }

    #[test]
    fn more_recovery_rounds_outlast_a_driver_that_dies_twice_during_the_reopen() {
        // The first two reopens meet a dying driver; the third round works.
        let opens = core::cell::Cell::new(0u32);
        let mut b = Bdev::new(Scripted::new(move |c, i| match c {
            Call::Gather(_) if i == 1 => Some(BdevError::DeadDriver),
            Call::Open(..) if i > 1 => {
                opens.set(opens.get() + 1);
                (opens.get() <= 2).then_some(BdevError::DeadDriver)
            }
            _ => None,
        }))
        .with_recover_tries(4);
        b.open(0, Access::R).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(b.read(0, 0, &mut buf), Ok(8));
        assert_eq!(b.driver().count(|c| *c == Call::Reconnect), 3);
        assert_eq!(b.stats().recovery_failures, 0);
    }

    #[test]
    fn too_many_restarts_during_recovery_gives_dead_driver() {
        // The driver dies again during every reopen: RECOVER_TRIES rounds,
        // then the request fails after its single attempt.
        let mut b = Bdev::new(Scripted::new(|c, i| {
            (i >= 1 && matches!(c, Call::Open(..) | Call::Gather(_)))
                .then_some(BdevError::DeadDriver)
        }));
        b.open(0, Access::R).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(b.read(0, 0, &mut buf), Err(BdevError::DeadDriver));
        let d = b.driver();
        assert_eq!(d.count(is_gather), 1);
        assert_eq!(d.count(|c| *c == Call::Reconnect), RECOVER_TRIES as usize);
        assert_eq!(b.stats().recovery_failures, 1);
        // The driver comes back: the next request finishes the reopen first.
        b.driver_mut().plan = Box::new(|_, _| None);
        b.driver_mut().log.clear();
        assert_eq!(b.read(0, 0, &mut buf), Ok(8));
        assert_eq!(
            b.driver().log,
            vec![Call::Open(0, Access::R), Call::Gather(0)]
        );
    }

    #[test]
    fn no_driver_found_gives_dead_driver_at_once() {
        let mut b = Bdev::new(Scripted::new(|c, _| {
            matches!(c, Call::Gather(_) | Call::Reconnect).then_some(BdevError::DeadDriver)
        }));
        b.open(0, Access::R).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(b.read(0, 0, &mut buf), Err(BdevError::DeadDriver));
        assert_eq!(b.driver().count(is_gather), 1);
        assert_eq!(b.driver().count(|c| *c == Call::Reconnect), 1);
    }

    #[test]
    fn reopen_failing_with_io_gives_up_without_another_round() {
        let mut dead_once = Some(());
        let mut b = Bdev::new(Scripted::new(move |c, i| match c {
            Call::Gather(_) if dead_once.take().is_some() => Some(BdevError::DeadDriver),
            Call::Open(..) if i > 0 => Some(BdevError::Io),
            _ => None,
        }));
        b.open(0, Access::R).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(b.read(0, 0, &mut buf), Err(BdevError::DeadDriver));
        assert_eq!(b.driver().count(|c| *c == Call::Reconnect), 1);
    }

    #[test]
    fn io_and_driver_counters_are_independent() {
        // 4 Io answers and 9 deaths in one request still succeed.
        let mut b = Bdev::new(Scripted::new(|_, _| None));
        b.open(0, Access::R).unwrap();
        let mut n = 0usize;
        b.driver_mut().plan = Box::new(move |c, _| {
            if !is_gather(c) {
                return None;
            }
            n += 1;
            match n {
                1..=4 => Some(BdevError::Io),
                5..=13 => Some(BdevError::DeadDriver),
                _ => None,
            }
        });
        let mut buf = [0u8; 8];
        assert_eq!(b.read(0, 0, &mut buf), Ok(8));
        assert_eq!(b.driver().count(is_gather), 14);
    }

    #[test]
    fn segment_limit_and_argument_checks() {
        let mut b = Bdev::new(Scripted::new(|_, _| None));
        let mut buf = [0u8; 4];
        assert_eq!(b.read(0, 0, &mut buf), Err(BdevError::NoDevice));
        assert_eq!(b.size(0), Err(BdevError::NoDevice));
        assert_eq!(b.close(0), Err(BdevError::NoDevice));
        assert_eq!(b.open(0, Access::default()), Err(BdevError::Invalid));
        b.open(0, Access::R).unwrap();
        assert_eq!(b.write(0, 0, &buf), Err(BdevError::ReadOnly));
        b.open(0, Access::W).unwrap();
        assert_eq!(b.write(0, 0, &buf), Ok(4));

        let mut store = [[0u8; 8]; MAX_SEGMENTS + 1];
        let before = b.driver().log.len();
        {
            let mut segs: Vec<&mut [u8]> = store.iter_mut().map(|s| &mut s[..]).collect();
            assert_eq!(b.gather(0, 0, &mut segs), Err(BdevError::Invalid));
            assert_eq!(b.gather(0, 0, &mut segs[..MAX_SEGMENTS]), Ok(512));
        }
        let segs: Vec<&[u8]> = store.iter().map(|s| &s[..]).collect();
        assert_eq!(b.scatter(0, 0, &segs), Err(BdevError::Invalid));
        assert_eq!(b.scatter(0, 0, &segs[..MAX_SEGMENTS]), Ok(512));
        assert_eq!(b.driver().log.len(), before + 2);
        assert_eq!(b.gather(0, 0, &mut []), Ok(0));
        assert_eq!(b.read(0, u64::MAX, &mut buf), Err(BdevError::Invalid));
        assert_eq!(b.read(0, u64::MAX - 4, &mut buf), Ok(0));
    }

    #[test]
    fn short_transfers_at_end_of_device() {
        // Minor 1 is 1000 bytes: not a multiple of 512.
        let mut b = Bdev::new(Scripted::new(|_, _| None));
        b.open(1, Access::RW).unwrap();
        assert_eq!(b.size(1), Ok(1000));
        let mut buf = [0u8; 512];
        assert_eq!(b.read(1, 512, &mut buf), Ok(488));
        assert_eq!(b.read(1, 1000, &mut buf), Ok(0));
        assert_eq!(b.read(1, 4000, &mut buf), Ok(0));
        assert_eq!(b.write(1, 990, &[1; 20]), Ok(10));
        assert_eq!(b.write(1, 1000, &[1; 20]), Ok(0));
        let mut a = [0u8; 6];
        let mut c = [0u8; 6];
        assert_eq!(b.gather(1, 992, &mut [&mut a, &mut c]), Ok(8));
        assert_eq!(a, [1; 6]);
        assert_eq!(
            c,
            [1, 1, 0, 0, 0, 0],
            "only 2 bytes left for the second segment"
        );
    }

    #[test]
    fn too_many_open_minors() {
        let mut mem = MemDriver::new();
        for m in 0..=MAX_OPEN_MINORS as Minor {
            mem.add_minor(m, vec![0; 512]);
        }
        let mut b = Bdev::new(mem);
        for m in 0..MAX_OPEN_MINORS as Minor {
            b.open(m, Access::R).unwrap();
        }
        assert_eq!(
            b.open(MAX_OPEN_MINORS as Minor, Access::R),
            Err(BdevError::TooManyOpen)
        );
        assert_eq!(b.driver().open_count(MAX_OPEN_MINORS as Minor), 0);
        // A further open of a tracked minor is fine.
        b.open(0, Access::R).unwrap();
        assert_eq!(b.open_count(0), 2);
    }

    #[test]
    fn device_handles_share_a_client_and_close_on_drop() {
        let mut mem = MemDriver::new();
        mem.add_minor(0, vec![0; 2048]);
        mem.add_minor(1, vec![0; 1536]);
        let client = Bdev::shared(mem);
        let mut d0 = BdevDevice::open(&client, 0, Access::RW).unwrap();
        let mut d1 = BdevDevice::open(&client, 1, Access::RW).unwrap();
        let d1b = BdevDevice::open(&client, 1, Access::R).unwrap();
        assert_eq!(client.borrow().open_minors(), vec![(0, 1), (1, 2)]);
        assert_eq!(d0.write_vectored(0, &[&[1, 2], &[3]]), Ok(3));
        assert_eq!(d1.size(), Ok(1536));
        assert_eq!(d0.size(), Ok(2048));
        let mut buf = [0u8; 3];
        assert_eq!(d0.read_vectored(0, &mut [&mut buf]), Ok(3));
        assert_eq!(buf, [1, 2, 3]);
        assert_eq!(d1.flush(), Ok(()));
        drop(d1b);
        assert_eq!(client.borrow().open_count(1), 1);
        assert_eq!(d1.close(), Ok(()));
        assert_eq!(d0.with_driver(|d| d.open_count(1)), 0);
        drop(d0);
        assert!(client.borrow().open_minors().is_empty());
    }

    #[test]
    fn raw_device_over_mem_driver() {
        let mut raw = RawDevice::new(MemDriver::with_size(1000), 0);
        assert_eq!(raw.write_vectored(996, &[&[1, 2, 3, 4, 5]]), Ok(4));
        assert_eq!(raw.size(), Ok(1000));
        let mut b = [0u8; 8];
        assert_eq!(raw.read_vectored(992, &mut [&mut b]), Ok(8));
        assert_eq!(b, [0, 0, 0, 0, 1, 2, 3, 4]);
        let segs = vec![&[0u8][..]; MAX_SEGMENTS + 1];
        assert_eq!(raw.write_vectored(0, &segs), Err(BdevError::Invalid));
        assert_eq!(raw.flush(), Ok(()));
    }

    #[test]
    fn dead_driver_with_unchanged_instance_id_is_not_reopened() {
        // The transport failed but the same driver instance is still there:
        // reconnecting reports the same id, so nothing is reopened twice.
        let mut d = Scripted::new(fail_first(1, is_gather, BdevError::DeadDriver));
        d.id = Some(5);
        let mut b = Bdev::new(d);
        b.open(0, Access::R).unwrap();
        b.driver_mut().log.clear();
        let mut buf = [0u8; 8];
        assert_eq!(b.read(0, 0, &mut buf), Ok(8));
        assert_eq!(
            b.driver().log,
            vec![Call::Gather(0), Call::Reconnect, Call::Gather(0)]
        );
        // A different id after the reconnect: a new instance, reopen.
        b.driver_mut().plan = Box::new(fail_first(1, is_gather, BdevError::DeadDriver));
        b.driver_mut().log.clear();
        b.driver_mut().id = Some(6);
        assert_eq!(b.read(0, 0, &mut buf), Ok(8));
        assert_eq!(
            b.driver().log,
            vec![
                Call::Gather(0),
                Call::Reconnect,
                Call::Open(0, Access::R),
                Call::Gather(0)
            ]
        );
        assert_eq!(
            b.driver().mem.open_count(0),
            2,
            "the scripted driver never lost the first"
        );
    }
}
