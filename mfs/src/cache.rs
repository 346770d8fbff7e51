//! [`BlockAccess`] over libminixfs's block cache: the product configuration
//! (MFS server and host tool). One device of the cache is the file system's.

use alloc::boxed::Box;
use alloc::vec::Vec;

use libminixfs::{BlockDevice, BlockNo, Cache, CacheError, Dev, How};

use crate::blockio::BlockAccess;
use crate::errno::{Errno, Result};

/// Device number the file system's device gets in a cache of its own.
pub const FS_DEV: Dev = 1;

/// Default number of cache buffers for [`CachedDevice::new`].
pub const DEFAULT_BUFS: usize = 1024;

fn err(e: CacheError) -> Errno {
    Errno::from_code(e.errno())
}

/// The file system's device behind a libminixfs [`Cache`].
pub struct CachedDevice {
    cache: Cache,
    dev: Dev,
    block_size: usize,
}

impl core::fmt::Debug for CachedDevice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CachedDevice")
            .field("dev", &self.dev)
            .field("block_size", &self.block_size)
            .field("cache", &self.cache)
            .finish()
    }
}

impl CachedDevice {
    /// A cache of `nr_bufs` buffers holding `device` as [`FS_DEV`].
    pub fn new(device: Box<dyn BlockDevice>, nr_bufs: usize) -> Result<CachedDevice> {
        CachedDevice::with_cache(Cache::new(nr_bufs), FS_DEV, device)
    }

    /// Attaches `device` as `dev` to an existing cache (shared with other
    /// devices, or adopted after a restart). Starts with 1024-byte blocks,
    /// the unit in which the superblock is found.
    pub fn with_cache(
        cache: Cache,
        dev: Dev,
        device: Box<dyn BlockDevice>,
    ) -> Result<CachedDevice> {
        cache.attach(dev, device, 1024).map_err(err)?;
        Ok(CachedDevice {
            cache,
            dev,
            block_size: 1024,
        })
    }

    /// The cache (statistics, counters, region hand-over).
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The device number in the cache.
    pub fn dev(&self) -> Dev {
        self.dev
    }

    /// Flushes and detaches the device; returns it and the cache.
    pub fn into_parts(self) -> Result<(Box<dyn BlockDevice>, Cache)> {
        let dev = self.cache.detach(self.dev).map_err(err)?;
        Ok((dev, self.cache))
    }
}

impl BlockAccess for CachedDevice {
    fn set_block_size(&mut self, block_size: u32) -> Result<()> {
        let bs = block_size as usize;
        if bs == self.block_size {
            return Ok(());
        }
        // The cache keys blocks by number in the device's block size:
        // reattach so nothing cached under the old size survives.
        let device = self.cache.detach(self.dev).map_err(err)?;
        match self.cache.attach(self.dev, device, bs) {
            Ok(()) => {
                self.block_size = bs;
                Ok(())
            }
            Err(e) => Err(err(e)),
        }
    }

    fn device_size(&mut self) -> Result<u64> {
        self.cache.device_size(self.dev).map_err(err)
    }

    fn read<R>(&mut self, block: u32, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let b = self
            .cache
            .get_block(self.dev, BlockNo::from(block), How::Normal)
            .map_err(err)?;
        let d = b.data();
        Ok(f(&d))
    }

    fn modify<R>(&mut self, block: u32, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        let mut b = self
            .cache
            .get_block(self.dev, BlockNo::from(block), How::Normal)
            .map_err(err)?;
        let mut d = b.data_mut();
        Ok(f(&mut d))
    }

    fn overwrite<R>(&mut self, block: u32, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        let mut b = self
            .cache
            .zero_block(self.dev, BlockNo::from(block))
            .map_err(err)?;
        let mut d = b.data_mut();
        Ok(f(&mut d))
    }

    fn replace(&mut self, block: u32, src: &[u8]) -> Result<()> {
        self.cache
            .replace_block(self.dev, BlockNo::from(block), src)
            .map_err(err)?;
        Ok(())
    }

    fn prefetch(&mut self, blocks: &[u32]) {
        let v: Vec<BlockNo> = blocks.iter().map(|&b| BlockNo::from(b)).collect();
        // A failed prefetch is only a lost hint: the read that needs the
        // block reports the error.
        let _ = self.cache.prefetch(self.dev, &v);
    }

    fn set_usage(&mut self, total: u64, used: u64) {
        // Only fails for used > total, which validation rules out.
        let _ = self.cache.set_blockusage(total, used);
    }

    fn change_usage(&mut self, delta: i64) {
        self.cache.change_blockusage(delta);
    }

    fn used_blocks(&self) -> Option<u64> {
        Some(self.cache.stats().used)
    }

    fn flush(&mut self) -> Result<()> {
        self.cache.flush_dev(self.dev).map(|_| ()).map_err(err)
    }

    fn order(&mut self, before: u32, after: u32) -> Result<()> {
        self.cache
            .order(self.dev, BlockNo::from(before), BlockNo::from(after))
            .map(|_| ())
            .map_err(err)
    }

    fn write_epoch(&self) -> Option<u64> {
        Some(self.cache.counters().blocks_written)
    }
}

impl crate::fs::FileSystem<CachedDevice> {
    /// Mounts `device` behind a fresh cache of `nr_bufs` buffers.
    pub fn mount_device(
        device: Box<dyn BlockDevice>,
        nr_bufs: usize,
        opts: crate::fs::MountOptions,
    ) -> core::result::Result<Self, crate::fs::MountError> {
        let io = CachedDevice::new(device, nr_bufs).map_err(crate::fs::MountError::Io)?;
        crate::fs::FileSystem::mount(io, opts)
    }
}
