//! Error values of the cache. Every error maps to a MINIX errno so a file
//! server can pass it on unchanged.

use libbdev::BdevError;

/// Why a cache operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The block device failed the request (after libbdev's own retries).
    #[error("block device error: {0}")]
    Device(#[from] BdevError),
    /// A transfer came back short: the block lies (partly) beyond the end of
    /// the device, or a write made no progress (EIO).
    #[error("short transfer")]
    Short,
    /// `How::Peek` found the block not cached (ENOENT).
    #[error("block not cached")]
    NotCached,
    /// The block is cached with a different byte size than requested: a
    /// partial last block and a full block with the same number (EIO).
    #[error("cached block has a different size")]
    SizeMismatch,
    /// The device number is not attached to this cache (ENXIO).
    #[error("device not attached")]
    NoDevice,
    /// Every buffer is referenced, none can be evicted (ENOMEM). MINIX panics
    /// here ("all buffers in use").
    #[error("all buffers in use")]
    NoBuffers,
    /// A malformed argument: device 0, block number overflow, bad block size,
    /// pool smaller than [`crate::MIN_BUFS`] (EINVAL).
    #[error("invalid argument")]
    Invalid,
    /// The operation needs blocks that are referenced or a device that is
    /// attached already (EBUSY).
    #[error("busy")]
    Busy,
}

impl CacheError {
    /// The MINIX errno value (positive, as userland sees it; servers negate).
    pub const fn errno(self) -> i32 {
        match self {
            CacheError::Device(e) => e.errno(),
            CacheError::Short | CacheError::SizeMismatch => 5,
            CacheError::NotCached => 2,
            CacheError::NoDevice => 6,
            CacheError::NoBuffers => 12,
            CacheError::Invalid => 22,
            CacheError::Busy => 16,
        }
    }
}

/// Result of a cache operation.
pub type Result<T> = core::result::Result<T, CacheError>;
