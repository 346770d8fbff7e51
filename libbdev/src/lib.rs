//! libbdev: the block-device client library every block file server uses.
//!
//! It talks to one block driver per major through the [`Driver`] trait (the
//! raw request/reply transport, one attempt per call) and adds what MINIX's
//! libbdev adds on top: open-minor bookkeeping, retries of failed transfers,
//! and recovery after a driver restart (reopen every minor as often as it was
//! opened, then resend what was in flight). File servers and `libminixfs` see
//! a device through the [`BlockDevice`] trait.
//!
//! # Pieces
//!
//! * [`Bdev`]: the client. Owns one [`Driver`], tracks open minors, and runs
//!   every request through the retry and recovery rules (see the [`client`]
//!   module doc for the exact rules and the MINIX constants they follow:
//!   [`TRANSFER_TRIES`], [`DRIVER_TRIES`], [`RECOVER_TRIES`]).
//! * [`BdevDevice`]: one open minor of a shared client
//!   (`Rc<RefCell<Bdev<D>>>`), implementing [`BlockDevice`]. Several minors
//!   share one driver connection, so one driver restart reopens all of them.
//! * [`RawDevice`]: [`BlockDevice`] straight over a [`Driver`], one attempt per
//!   call, for host tools that need no recovery.
//! * Back ends: [`MemDriver`] (in-memory), [`SimDriver`] (simulated device
//!   with latency, bandwidth, injected errors and crashes, on a [`SimClock`]),
//!   and with the `std` feature `FileDriver` (a host image file).
//!
//! The native back end (BDEV messages to a driver server) plugs in behind the
//! same [`Driver`] trait.
//!
//! `no_std` + `alloc` at its core; the `std` feature (on by default) adds the
//! host back ends and wall-clock pacing of the simulated device.
//!
//! # Example
//!
//! ```
//! use libbdev::{Access, Bdev, BdevDevice, BlockDevice, FaultKind, FaultOps, SimDriver};
//!
//! // A 1 MiB simulated disk, 200 µs per request, whose block 3 fails twice.
//! let mut sim = SimDriver::disk(1 << 20).with_latency_ns(200_000);
//! sim.fail_blocks(0, 4096, 3..4, FaultKind::Transient { failures: 2 }, FaultOps::Read);
//! let clock = sim.clock().clone();
//! let client = Bdev::shared(sim);
//! let mut dev = BdevDevice::open(&client, 0, Access::RW)?;
//!
//! dev.write_vectored(0, &[&[7u8; 4096], &[8u8; 4096]])?;
//! client.borrow_mut().driver_mut().crash_now();
//! let mut buf = [0u8; 4096];
//! // Retried twice on Io, recovered from the crash, and answered.
//! assert_eq!(dev.read_vectored(3 * 4096, &mut [&mut buf])?, 4096);
//! assert_eq!(client.borrow().stats().reconnects, 1);
//! assert!(clock.now_ns() > 0);
//! # Ok::<(), libbdev::BdevError>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod client;
#[cfg(feature = "std")]
pub mod file;
pub mod mbr;
pub mod mem;
mod segs;

#[cfg(test)]
mod model_tests;
pub mod sim;

pub use client::{
    Bdev, BdevDevice, BdevStats, DRIVER_TRIES, MAX_OPEN_MINORS, RECOVER_TRIES, RawDevice,
    TRANSFER_TRIES,
};
#[cfg(feature = "std")]
pub use file::FileDriver;
pub use mem::MemDriver;
pub use sim::{Fault, FaultKind, FaultOps, SimClock, SimDriver, SimStats, WallPacing};

/// A minor device number on one driver.
pub type Minor = u32;

/// Errors a block-device request can end with. Each maps to an errno-like
/// code so servers can pass it on unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BdevError {
    /// The device reported an I/O error (EIO).
    #[error("I/O error")]
    Io,
    /// The driver is dead and recovery gave up, or there is no driver (EDEADSRCDST).
    #[error("block driver is dead")]
    DeadDriver,
    /// The driver restarted and this minor has not been reopened yet (ERESTART).
    #[error("driver restarted; request must be repeated")]
    Restart,
    /// The minor is not open or does not exist (ENXIO).
    #[error("no such device")]
    NoDevice,
    /// A malformed request: bad alignment, too many segments, bad access (EINVAL).
    #[error("invalid request")]
    Invalid,
    /// The device is read-only (EROFS).
    #[error("device is read-only")]
    ReadOnly,
    /// Too many open minors to track (ENFILE-like).
    #[error("too many open devices")]
    TooManyOpen,
}

impl BdevError {
    /// The MINIX errno value (positive, as userland sees it).
    pub const fn errno(self) -> i32 {
        match self {
            BdevError::Io => 5,
            BdevError::DeadDriver => 202,
            BdevError::Restart => 200,
            BdevError::NoDevice => 6,
            BdevError::Invalid => 22,
            BdevError::ReadOnly => 30,
            BdevError::TooManyOpen => 23,
        }
    }
}

/// Result of a block-device request.
pub type Result<T> = core::result::Result<T, BdevError>;

/// Most segments one vectored request may carry (MINIX `NR_IOREQS`).
pub const MAX_SEGMENTS: usize = 64;

/// Access bits for [`Driver::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access {
    /// Open for reading.
    pub read: bool,
    /// Open for writing.
    pub write: bool,
}

impl Access {
    /// Read-only access.
    pub const R: Access = Access {
        read: true,
        write: false,
    };
    /// Read-write access.
    pub const RW: Access = Access {
        read: true,
        write: true,
    };
}

/// The raw transport to one block driver: one attempt per call, no retries.
///
/// The native back end sends BDEV requests to a driver server; the test back
/// ends live in this crate. Positions and segment lengths are byte counts;
/// transfers may come back short at the end of the device.
///
/// Error conventions the client ([`Bdev`]) relies on:
/// * [`BdevError::DeadDriver`]: the request could not be delivered or its
///   reply never came because the driver died (MINIX: IPC result
///   `EDEADSRCDST`). A write that fails this way may have written any prefix
///   of its data. The client answers with [`Driver::reconnect`] and reopens.
/// * [`BdevError::Restart`]: the driver instance answering does not have this
///   minor open, because it restarted since the minor was opened (MINIX:
///   reply status `ERESTART` from libblockdriver). Nothing was transferred.
/// * [`BdevError::Io`]: the device failed the transfer; it may have
///   transferred a prefix. Transfers are retried.
pub trait Driver {
    /// Open `minor` with the given access.
    fn open(&mut self, minor: Minor, access: Access) -> Result<()>;
    /// Close one open of `minor`.
    fn close(&mut self, minor: Minor) -> Result<()>;
    /// Read into the segments in order starting at byte `pos`; returns bytes read.
    fn gather(&mut self, minor: Minor, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize>;
    /// Write the segments in order starting at byte `pos`; returns bytes written.
    fn scatter(&mut self, minor: Minor, pos: u64, bufs: &[&[u8]]) -> Result<usize>;
    /// Size of `minor` in bytes.
    fn size(&mut self, minor: Minor) -> Result<u64>;
    /// Make written data durable.
    fn flush(&mut self, minor: Minor) -> Result<()>;

    /// Find the current driver instance after [`BdevError::DeadDriver`]
    /// (MINIX: poll DS for the label's endpoint, `bdev_update`). `Ok` means a
    /// live instance is reachable — a new endpoint or the same one: unlike
    /// MINIX, which only accepts an endpoint different from the old one, a
    /// restart that keeps its endpoint is fine. The client then reopens
    /// every minor, unless [`Driver::instance_id`] reports the same instance
    /// as before (the driver did not restart, only the transport failed). `Err(DeadDriver)` means no driver could
    /// be found (MINIX gives up after `DS_NR_TRIES`=100 lookups).
    ///
    /// The default is for transports that cannot lose their driver.
    fn reconnect(&mut self) -> Result<()> {
        Ok(())
    }

    /// An identifier of the driver instance that sent the most recent reply,
    /// if the transport knows one (e.g. a boot counter the driver publishes,
    /// or the endpoint's generation). The client compares it across replies
    /// to notice a restart that kept the endpoint even when the first request
    /// the new instance sees is an open (which it accepts, so no
    /// [`BdevError::Restart`] answer would reveal the restart). `None` (the
    /// default) disables the check.
    fn instance_id(&self) -> Option<u64> {
        None
    }

    /// Called before a request answered with [`BdevError::Restart`] is sent
    /// again (MINIX sleeps 1000 µs there to let the restarted driver settle).
    /// The default does not wait.
    fn backoff(&mut self) {}
}

impl<T: Driver + ?Sized> Driver for &mut T {
    fn open(&mut self, minor: Minor, access: Access) -> Result<()> {
        (**self).open(minor, access)
    }
    fn close(&mut self, minor: Minor) -> Result<()> {
        (**self).close(minor)
    }
    fn gather(&mut self, minor: Minor, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize> {
        (**self).gather(minor, pos, bufs)
    }
    fn scatter(&mut self, minor: Minor, pos: u64, bufs: &[&[u8]]) -> Result<usize> {
        (**self).scatter(minor, pos, bufs)
    }
    fn size(&mut self, minor: Minor) -> Result<u64> {
        (**self).size(minor)
    }
    fn flush(&mut self, minor: Minor) -> Result<()> {
        (**self).flush(minor)
    }
    fn reconnect(&mut self) -> Result<()> {
        (**self).reconnect()
    }
    fn instance_id(&self) -> Option<u64> {
        (**self).instance_id()
    }
    fn backoff(&mut self) {
        (**self).backoff()
    }
}

impl<T: Driver + ?Sized> Driver for alloc::boxed::Box<T> {
    fn open(&mut self, minor: Minor, access: Access) -> Result<()> {
        (**self).open(minor, access)
    }
    fn close(&mut self, minor: Minor) -> Result<()> {
        (**self).close(minor)
    }
    fn gather(&mut self, minor: Minor, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize> {
        (**self).gather(minor, pos, bufs)
    }
    fn scatter(&mut self, minor: Minor, pos: u64, bufs: &[&[u8]]) -> Result<usize> {
        (**self).scatter(minor, pos, bufs)
    }
    fn size(&mut self, minor: Minor) -> Result<u64> {
        (**self).size(minor)
    }
    fn flush(&mut self, minor: Minor) -> Result<()> {
        (**self).flush(minor)
    }
    fn reconnect(&mut self) -> Result<()> {
        (**self).reconnect()
    }
    fn instance_id(&self) -> Option<u64> {
        (**self).instance_id()
    }
    fn backoff(&mut self) {
        (**self).backoff()
    }
}

/// One open block device as a file server's cache sees it: byte-addressed
/// vectored I/O with retries and driver recovery already applied.
pub trait BlockDevice {
    /// Read into the segments in order starting at byte `pos`; returns bytes
    /// read (short only at the end of the device).
    fn read_vectored(&mut self, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize>;
    /// Write the segments in order starting at byte `pos`; returns bytes
    /// written (short only at the end of the device).
    fn write_vectored(&mut self, pos: u64, bufs: &[&[u8]]) -> Result<usize>;
    /// Size of the device in bytes.
    fn size(&mut self) -> Result<u64>;
    /// Make written data durable.
    fn flush(&mut self) -> Result<()>;
}

impl<T: BlockDevice + ?Sized> BlockDevice for &mut T {
    fn read_vectored(&mut self, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize> {
        (**self).read_vectored(pos, bufs)
    }
    fn write_vectored(&mut self, pos: u64, bufs: &[&[u8]]) -> Result<usize> {
        (**self).write_vectored(pos, bufs)
    }
    fn size(&mut self) -> Result<u64> {
        (**self).size()
    }
    fn flush(&mut self) -> Result<()> {
        (**self).flush()
    }
}

impl<T: BlockDevice + ?Sized> BlockDevice for alloc::boxed::Box<T> {
    fn read_vectored(&mut self, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize> {
        (**self).read_vectored(pos, bufs)
    }
    fn write_vectored(&mut self, pos: u64, bufs: &[&[u8]]) -> Result<usize> {
        (**self).write_vectored(pos, bufs)
    }
    fn size(&mut self) -> Result<u64> {
        (**self).size()
    }
    fn flush(&mut self) -> Result<()> {
        (**self).flush()
    }
}
