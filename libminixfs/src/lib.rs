//! libminixfs: the block cache every block-based file server stands on.
//!
//! A file server (MFS, ISO 9660, the root FS doing raw block-device I/O)
//! keeps one [`Cache`]. The cache talks to block devices only through
//! [`libbdev::BlockDevice`] (byte-addressed vectored reads and writes, with
//! libbdev's retries and driver-restart recovery underneath), and to the file
//! server through this API:
//!
//! * [`Cache::get_block`] / [`BlockRef`]: a referenced block, released on
//!   drop, with [`How::Normal`] / [`How::NoRead`] / [`How::Peek`]; dirty
//!   marking; [`Cache::flush_dev`] / [`Cache::flush_all`] (sorted,
//!   coalesced vectored writes of unreferenced dirty blocks);
//!   [`Cache::order`]: write-ordering constraints between blocks, honoured
//!   by every write-back (flush, eviction) in layers separated by device
//!   flushes, so a file server can keep its image consistent across a
//!   power cut;
//!   [`Cache::invalidate`], [`Cache::free_block`], [`Cache::zero_block`],
//!   [`Cache::resize`]; LRU replacement of unreferenced blocks, with the
//!   block index and LRU order behind [`BlockIndex`] ([`Intrusive`] by
//!   default; `LruCrate` over the `lru` crate with the `lru-crate`
//!   feature, for the benchmark; see [`index`]).
//! * [`Cache::prefetch`] by block numbers, and sequential read-ahead.
//! * [`bio`]: byte-granular I/O on block-special files, exact at a device
//!   end that is not a multiple of the block size.
//! * Block usage for `statvfs` ([`Cache::stats`]) and event [`Counters`].
//! * Crash survival: all blocks and metadata live in a [`CacheRegion`]; a new
//!   cache [`Cache::adopt`]s the region of a dead owner after validating it
//!   (crc32 per block), keeping every block that checks out.
//!
//! Errors are values ([`CacheError`], each with a MINIX errno); the library
//! never panics on device errors or on a corrupt region. It follows MINIX 3's
//! `libminixfs` (see the project's `minix-behaviour.md` §1); each function's
//! doc says where it differs.
//!
//! Single-threaded by design (one cache per server process): `Cache` uses
//! interior mutability and is neither `Send` nor `Sync`.
#![no_std]
#![deny(missing_docs)]

extern crate alloc;

pub mod bio;
mod cache;
mod error;
pub mod index;
mod mem;
mod region;

pub use cache::{BlockRef, BlockUsage, Cache, Counters, How};
pub use error::{CacheError, Result};
#[cfg(feature = "lru-crate")]
pub use index::LruCrate;
pub use index::{BlockIndex, Intrusive};
pub use libbdev::{BdevError, BlockDevice, MAX_SEGMENTS};
pub use region::{AdoptReport, CacheRegion, DropReason, DroppedBlock, RegionDev, RegionEntry};

/// A device number (MINIX `dev_t`).
pub type Dev = u32;
/// A block number in units of the device's block size.
pub type BlockNo = u64;

/// The "no device" number; never a valid device.
pub const NO_DEV: Dev = 0;
/// Smallest cache (MINIX `MINBUFS`).
pub const MIN_BUFS: usize = 6;
/// Smallest block size accepted.
pub const MIN_BLOCK_SIZE: usize = 512;
/// Largest block size accepted.
pub const MAX_BLOCK_SIZE: usize = 65536;

/// Block sizes the cache accepts: powers of two in
/// [`MIN_BLOCK_SIZE`]..=[`MAX_BLOCK_SIZE`].
pub const fn valid_block_size(bs: usize) -> bool {
    bs.is_power_of_two() && bs >= MIN_BLOCK_SIZE && bs <= MAX_BLOCK_SIZE
}

#[cfg(test)]
mod bio_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod testdev;
#[cfg(test)]
mod tests;
