//! The seam between the file-system core and its blocks.
//!
//! The core reads 2 KiB blocks only through [`BlockAccess`]. The product
//! implementation is [`CachedBlocks`]: libminixfs's cache over a libbdev
//! device, with prefetch hints turned into one vectored read (the same
//! configuration as MFS). [`MemImage`] is a plain in-memory image without a
//! cache, for tests; [`MemDevice`] is an in-memory [`BlockDevice`] to put
//! under a cache (tests and the benchmark).

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;

use libbdev::BdevError;
use libminixfs::{BlockDevice, BlockNo, Cache, Dev, How};

use crate::error::{IsoError, Result};
use crate::format::BLOCK;

/// Read access to 2 KiB blocks of one device.
pub trait BlockAccess {
    /// Reads block `block` and lets `f` look at it (exactly [`BLOCK`]
    /// bytes). A block beyond the device end is a device error.
    fn read<R>(&self, block: u64, f: impl FnOnce(&[u8]) -> R) -> Result<R>;
    /// Hint: these blocks will be read soon; the first is needed now.
    fn prefetch(&self, blocks: &[u64]) {
        let _ = blocks;
    }
    /// Device size in bytes.
    fn size(&self) -> Result<u64>;
}

/// An image in memory, no cache.
#[derive(Debug, Clone)]
pub struct MemImage {
    data: Vec<u8>,
}

impl MemImage {
    /// Wraps an image.
    pub fn new(data: Vec<u8>) -> Self {
        MemImage { data }
    }
    /// The image bytes.
    pub fn image(&self) -> &[u8] {
        &self.data
    }
}

impl BlockAccess for MemImage {
    fn read<R>(&self, block: u64, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let start = usize::try_from(block)
            .ok()
            .and_then(|b| b.checked_mul(BLOCK))
            .ok_or(IsoError::Device(5))?;
        let bytes = self
            .data
            .get(start..start.saturating_add(BLOCK))
            .filter(|s| s.len() == BLOCK)
            .ok_or(IsoError::Device(5))?;
        Ok(f(bytes))
    }
    fn size(&self) -> Result<u64> {
        Ok(self.data.len() as u64)
    }
}

/// Device number of the file system's device in a cache of its own.
pub const ISO_DEV: Dev = 1;

/// The file system's device behind a libminixfs [`Cache`] with 2 KiB
/// blocks (shared through an `Rc`, so a server can keep it across a
/// restart or share it with other devices).
pub struct CachedBlocks {
    cache: Rc<Cache>,
    dev: Dev,
}

impl core::fmt::Debug for CachedBlocks {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CachedBlocks")
            .field("dev", &self.dev)
            .field("cache", &self.cache)
            .finish()
    }
}

impl CachedBlocks {
    /// A cache of `nr_bufs` buffers holding `device` as [`ISO_DEV`].
    pub fn new(device: Box<dyn BlockDevice>, nr_bufs: usize) -> Result<Self> {
        Self::attach(Rc::new(Cache::new(nr_bufs)), ISO_DEV, device)
    }

    /// Attaches `device` as `dev` (2 KiB blocks) to an existing cache.
    pub fn attach(cache: Rc<Cache>, dev: Dev, device: Box<dyn BlockDevice>) -> Result<Self> {
        cache.attach(dev, device, BLOCK)?;
        Ok(CachedBlocks { cache, dev })
    }

    /// The cache (counters, statistics).
    pub fn cache(&self) -> &Rc<Cache> {
        &self.cache
    }

    /// The device number in the cache.
    pub fn dev(&self) -> Dev {
        self.dev
    }
}

impl BlockAccess for CachedBlocks {
    fn read<R>(&self, block: u64, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let b = self
            .cache
            .get_block(self.dev, block as BlockNo, How::Normal)?;
        let d = b.data();
        if d.len() != BLOCK {
            return Err(IsoError::Device(5));
        }
        Ok(f(&d))
    }
    fn prefetch(&self, blocks: &[u64]) {
        // A failed prefetch only loses a hint: the read that needs the
        // block reports the error.
        let _ = self.cache.prefetch(self.dev, blocks);
    }
    fn size(&self) -> Result<u64> {
        Ok(self.cache.device_size(self.dev)?)
    }
}

/// A read-only [`BlockDevice`] over bytes in memory (writes fail).
#[derive(Debug, Clone)]
pub struct MemDevice {
    data: Rc<Vec<u8>>,
}

impl MemDevice {
    /// A device holding `data`.
    pub fn new(data: Vec<u8>) -> Self {
        MemDevice {
            data: Rc::new(data),
        }
    }
    /// A device sharing `data` with others.
    pub fn shared(data: Rc<Vec<u8>>) -> Self {
        MemDevice { data }
    }
}

impl BlockDevice for MemDevice {
    fn read_vectored(
        &mut self,
        pos: u64,
        bufs: &mut [&mut [u8]],
    ) -> core::result::Result<usize, BdevError> {
        let mut at = usize::try_from(pos).map_err(|_| BdevError::Invalid)?;
        let mut n = 0;
        for b in bufs.iter_mut() {
            let avail = self.data.len().saturating_sub(at);
            let k = avail.min(b.len());
            b[..k].copy_from_slice(&self.data[at..at + k]);
            n += k;
            at += k;
            if k < b.len() {
                break;
            }
        }
        Ok(n)
    }
    fn write_vectored(
        &mut self,
        _pos: u64,
        _bufs: &[&[u8]],
    ) -> core::result::Result<usize, BdevError> {
        Err(BdevError::ReadOnly)
    }
    fn size(&mut self) -> core::result::Result<u64, BdevError> {
        Ok(self.data.len() as u64)
    }
    fn flush(&mut self) -> core::result::Result<(), BdevError> {
        Ok(())
    }
}
