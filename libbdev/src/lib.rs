//! libbdev: the block-device client library every block file server uses.
//!
//! It talks to one block driver per major through the [`Driver`] trait (the
//! raw request/reply transport, one attempt per call) and adds what MINIX's
//! libbdev adds on top: open-minor bookkeeping, retries of failed transfers,
//! and recovery after a driver restart (reopen every minor as often as it was
//! opened, then resend what was in flight). File servers and `libminixfs` see
//! a device through the [`BlockDevice`] trait.
//!
//! `no_std` + `alloc` at its core; the `std` feature adds host back ends.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

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
    pub const R: Access = Access { read: true, write: false };
    /// Read-write access.
    pub const RW: Access = Access { read: true, write: true };
}

/// The raw transport to one block driver: one attempt per call, no retries.
///
/// The native back end sends BDEV requests to a driver server; the test back
/// ends live in this crate. Positions and segment lengths are byte counts;
/// transfers may come back short at the end of the device.
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
