//! The block-access seam between the file-system core and its block cache.
//!
//! The core touches blocks only through [`BlockAccess`]: read a block, modify
//! a block (read, change, mark dirty), overwrite a block without reading it,
//! hand prefetch hints, keep the cache's block-usage counters in step, and
//! flush. The product implementation is libminixfs's cache (see
//! `crate::cache`); [`MemBlocks`] is a plain in-memory image without any
//! caching, used by tests and by fuzzing where the cache would only hide bugs.

use alloc::vec;
use alloc::vec::Vec;

use crate::errno::{Errno, Result};

/// Block-granular access to one device, in units of the file system's block size.
pub trait BlockAccess {
    /// Switches to `block_size`-byte blocks (called once the superblock is
    /// known; the superblock itself is read with 1024-byte blocks).
    fn set_block_size(&mut self, block_size: u32) -> Result<()>;
    /// Device size in bytes.
    fn device_size(&mut self) -> Result<u64>;
    /// Reads block `block` and lets `f` look at it.
    fn read<R>(&mut self, block: u32, f: impl FnOnce(&[u8]) -> R) -> Result<R>;
    /// Reads block `block`, lets `f` change it, and marks it dirty.
    fn modify<R>(&mut self, block: u32, f: impl FnOnce(&mut [u8]) -> R) -> Result<R>;
    /// Gets block `block` without reading the device, hands `f` a zero-filled
    /// buffer, and marks it dirty (the whole block is being replaced).
    fn overwrite<R>(&mut self, block: u32, f: impl FnOnce(&mut [u8]) -> R) -> Result<R>;
    /// Replaces block `block` with `src` (a whole block) and marks it
    /// dirty: [`BlockAccess::overwrite`] without the zero-fill first.
    fn replace(&mut self, block: u32, src: &[u8]) -> Result<()> {
        self.overwrite(block, |d| d.copy_from_slice(src))
    }
    /// Hint: these blocks will be read soon (the first is needed now).
    fn prefetch(&mut self, blocks: &[u32]);
    /// Sets the block-usage counters (total blocks, used blocks) for statvfs.
    fn set_usage(&mut self, total: u64, used: u64);
    /// Adjusts the used-block counter by `delta`.
    fn change_usage(&mut self, delta: i64);
    /// Used blocks as the cache counts them, if it keeps the count
    /// (statvfs then reports the cache's figure, as MINIX does).
    fn used_blocks(&self) -> Option<u64> {
        None
    }
    /// Writes every dirty block and makes it durable.
    fn flush(&mut self) -> Result<()>;
    /// Write ordering: block `before`, as it is now, must be durable before
    /// block `after` is written (called before `after` is changed). A
    /// store that writes through at once, or keeps no order at all, needs
    /// nothing (the default).
    fn order(&mut self, before: u32, after: u32) -> Result<()> {
        let _ = (before, after);
        Ok(())
    }
    /// A number that changes whenever any block is written to the device
    /// (`None`: the store cannot tell). Lets the core know that nothing
    /// reached the disk between two points.
    fn write_epoch(&self) -> Option<u64> {
        None
    }
}

/// An image held in memory, accessed block by block with no cache.
#[derive(Debug, Clone)]
pub struct MemBlocks {
    data: Vec<u8>,
    block_size: u32,
    /// Used-block counter as the file system last set it.
    pub used: u64,
    /// Total-block counter as the file system last set it.
    pub total: u64,
}

impl MemBlocks {
    /// Wraps an image.
    pub fn new(data: Vec<u8>) -> MemBlocks {
        MemBlocks {
            data,
            block_size: 1024,
            used: 0,
            total: 0,
        }
    }

    /// A zero-filled image of `bytes` bytes.
    pub fn zeroed(bytes: usize) -> MemBlocks {
        MemBlocks::new(vec![0; bytes])
    }

    /// The image bytes.
    pub fn image(&self) -> &[u8] {
        &self.data
    }

    /// The image bytes, mutably (tests corrupt images through this).
    pub fn image_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Gives the image back.
    pub fn into_image(self) -> Vec<u8> {
        self.data
    }

    fn range(&self, block: u32) -> Result<core::ops::Range<usize>> {
        let bs = self.block_size as usize;
        let start = (block as usize).checked_mul(bs).ok_or(Errno::EIO)?;
        let end = start.checked_add(bs).ok_or(Errno::EIO)?;
        if end > self.data.len() {
            return Err(Errno::EIO);
        }
        Ok(start..end)
    }
}

impl BlockAccess for MemBlocks {
    fn set_block_size(&mut self, block_size: u32) -> Result<()> {
        if block_size == 0 {
            return Err(Errno::EINVAL);
        }
        self.block_size = block_size;
        Ok(())
    }

    fn device_size(&mut self) -> Result<u64> {
        Ok(self.data.len() as u64)
    }

    fn read<R>(&mut self, block: u32, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let r = self.range(block)?;
        Ok(f(&self.data[r]))
    }

    fn modify<R>(&mut self, block: u32, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        let r = self.range(block)?;
        Ok(f(&mut self.data[r]))
    }

    fn overwrite<R>(&mut self, block: u32, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        let r = self.range(block)?;
        let buf = &mut self.data[r];
        buf.fill(0);
        Ok(f(buf))
    }

    fn prefetch(&mut self, _blocks: &[u32]) {}

    fn set_usage(&mut self, total: u64, used: u64) {
        self.total = total;
        self.used = used;
    }

    fn change_usage(&mut self, delta: i64) {
        self.used = self.used.saturating_add_signed(delta);
    }

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}
