//! The storage region: every cached block and its metadata, as one owned
//! value standing in for memory that outlives the file-server process.
//!
//! A [`crate::Cache`] keeps all its state that matters for recovery here:
//! the per-device block-size table, and per buffer slot the block identity,
//! dirty bit and a crc32 of the contents. Links (hash chains, LRU order) are
//! volatile: they are rebuilt on adoption, never trusted.
//!
//! Checksum rule: a slot's `crc` is brought up to date at every *stable
//! point* — after a block has been read from the device, and when a
//! reference through which the contents were changed or marked dirty is
//! released. Between those points (a block held and being modified) the
//! checksum is stale on purpose: if the owner dies there, the block is
//! half-modified and [`crate::Cache::adopt`] drops it rather than write it.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::mem::BlockMem;
use crate::{BlockNo, Dev, NO_DEV};

/// Magic number at the start of a valid region ("LMFS").
pub(crate) const REGION_MAGIC: u32 = 0x4c4d_4653;
/// Layout version of the region.
pub(crate) const REGION_VERSION: u32 = 1;

/// The shared block buffer of one slot. A [`crate::BlockRef`] holds a clone
/// so it can reach the bytes without borrowing the cache.
pub(crate) type Buf = Rc<RefCell<BlockMem>>;

/// Metadata of one buffer slot as stored in the region. Public so tests and
/// recovery tools can inspect, and scribble on, a region left by a dead
/// owner ([`CacheRegion::entry_mut`]); [`crate::Cache::adopt`] validates all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionEntry {
    /// Device the block belongs to; [`NO_DEV`] marks a free slot.
    pub dev: Dev,
    /// Block number in units of the device's block size.
    pub block: BlockNo,
    /// Valid bytes (the block size, or less for a partial last block).
    pub bytes: u32,
    /// Contents differ from the device.
    pub dirty: bool,
    /// References held when the owner stopped (ignored on adoption: the
    /// holders died with the owner).
    pub refcount: u32,
    /// crc32 of the contents as of the last stable point.
    pub crc: u32,
    /// `crc` was computed: a block the cache read without checksumming it
    /// (clean blocks, when [`crate::Cache::set_checksum_clean`] is off) has
    /// none and is dropped on adoption — it can be read again, so nothing
    /// is lost, and the cache saves a crc32 per block read.
    pub checked: bool,
    /// Recency stamp (larger = used more recently); rebuilds LRU order.
    pub stamp: u64,
}

impl RegionEntry {
    pub(crate) const FREE: RegionEntry = RegionEntry {
        dev: NO_DEV,
        block: 0,
        bytes: 0,
        dirty: false,
        refcount: 0,
        crc: 0,
        checked: false,
        stamp: 0,
    };
}

/// One buffer slot's metadata (its buffer is in [`CacheRegion::bufs`]).
pub(crate) struct Slot {
    pub(crate) meta: RegionEntry,
    /// Read by prefetch/read-ahead and not yet asked for.
    pub(crate) prefetched: bool,
    /// Modified since its checksum was last computed, and listed for the
    /// next [`crate::Cache::seal`] (deferred checksums only).
    pub(crate) stale: bool,
}

impl Slot {
    pub(crate) fn new() -> Slot {
        Slot {
            meta: RegionEntry::FREE,
            prefetched: false,
            stale: false,
        }
    }
}

/// Block size of one device, as recorded in the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionDev {
    /// Device number.
    pub dev: Dev,
    /// Block size in bytes used for that device.
    pub block_size: u32,
}

/// All the state of a cache that survives its owner: see the module doc.
/// Obtained from [`crate::Cache::crash`] (owner dies, nothing is written)
/// or [`crate::Cache::into_region`]; consumed by [`crate::Cache::adopt`].
pub struct CacheRegion {
    pub(crate) magic: u32,
    pub(crate) version: u32,
    pub(crate) capacity: usize,
    pub(crate) clock: u64,
    /// Block usage (total, used) as last told by the file server.
    pub(crate) usage: (u64, u64),
    pub(crate) devs: Vec<RegionDev>,
    pub(crate) slots: Vec<Slot>,
    /// The buffer of each slot (`None`: retired, holds no memory). Apart
    /// from the slots so that a hit reaches the buffer through this dense,
    /// cache-resident table rather than waiting for its slot's cache line.
    pub(crate) bufs: Vec<Option<Buf>>,
}

impl core::fmt::Debug for CacheRegion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CacheRegion")
            .field("capacity", &self.capacity)
            .field("devs", &self.devs)
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl CacheRegion {
    pub(crate) fn new(capacity: usize) -> CacheRegion {
        CacheRegion {
            magic: REGION_MAGIC,
            version: REGION_VERSION,
            capacity,
            clock: 0,
            usage: (0, 0),
            devs: Vec::new(),
            slots: Vec::new(),
            bufs: Vec::new(),
        }
    }

    /// Number of slots (free, retired or holding a block).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if the region has no slots.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The stored metadata of slot `i`.
    pub fn entry(&self, i: usize) -> Option<RegionEntry> {
        self.slots.get(i).map(|s| s.meta)
    }

    /// Mutable metadata of slot `i`, for fault injection: a dead owner may
    /// have left anything here.
    pub fn entry_mut(&mut self, i: usize) -> Option<&mut RegionEntry> {
        self.slots.get_mut(i).map(|s| &mut s.meta)
    }

    /// Mutable contents of slot `i` (None if it holds no memory), for fault
    /// injection.
    pub fn data_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        let buf = self.bufs.get_mut(i)?.as_mut()?;
        Rc::get_mut(buf).map(|c| c.get_mut().bytes_mut())
    }

    /// The per-device block-size table.
    pub fn devices(&self) -> &[RegionDev] {
        &self.devs
    }

    /// Overwrite the region header with garbage, for fault injection.
    pub fn corrupt_header(&mut self) {
        self.magic = !REGION_MAGIC;
    }

    /// Mutable stored block usage (total, used), for fault injection.
    pub fn usage_mut(&mut self) -> &mut (u64, u64) {
        &mut self.usage
    }

    /// Slots holding a valid block: (slot, entry).
    pub fn blocks(&self) -> impl Iterator<Item = (usize, RegionEntry)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(i, s)| s.meta.dev != NO_DEV && self.bufs[*i].is_some())
            .map(|(i, s)| (i, s.meta))
    }
}

/// Why adoption dropped a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The region header (magic, version) is not valid: nothing is trusted.
    BadHeader,
    /// The slot names a device that has no block size in the region table.
    UnknownDevice,
    /// `bytes` is 0, larger than the block size, or differs from the buffer.
    BadSize,
    /// The byte offset `block * block_size` overflows.
    BadBlockNumber,
    /// Another slot claims the same (device, block).
    Duplicate,
    /// The contents do not match the stored crc32.
    Checksum,
    /// A clean block read without a checksum (cheaper to read again).
    Unchecked,
}

/// One block adoption refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DroppedBlock {
    /// Slot index in the region.
    pub slot: usize,
    /// Device as recorded (may itself be garbage).
    pub dev: Dev,
    /// Block number as recorded.
    pub block: BlockNo,
    /// The slot claimed to be dirty: dropping it loses a write.
    pub dirty: bool,
    /// Why it was dropped.
    pub reason: DropReason,
}

/// What [`crate::Cache::adopt`] kept and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdoptReport {
    /// Clean blocks kept (valid checksum).
    pub kept_clean: usize,
    /// Dirty blocks kept (valid checksum); they will be written by the next flush.
    pub kept_dirty: usize,
    /// Blocks dropped, in slot order. Never written to a device.
    pub dropped: Vec<DroppedBlock>,
    /// The block usage (total, used) was valid and is kept; otherwise it
    /// was reset to 0/0 and must be set again.
    pub usage_kept: bool,
}

impl AdoptReport {
    /// Dropped blocks that were dirty (writes lost).
    pub fn lost_writes(&self) -> usize {
        self.dropped.iter().filter(|d| d.dirty).count()
    }
}

/// Validate `region` in place: every slot either keeps a valid block (refcount
/// reset, links cleared) or becomes free. Returns the report.
pub(crate) fn validate(region: &mut CacheRegion) -> AdoptReport {
    let mut report = AdoptReport::default();
    let header_ok = region.magic == REGION_MAGIC && region.version == REGION_VERSION;
    report.usage_kept = header_ok && region.usage.1 <= region.usage.0;
    if !report.usage_kept {
        region.usage = (0, 0);
    }
    if !header_ok {
        region.devs.clear();
        region.magic = REGION_MAGIC;
        region.version = REGION_VERSION;
    }
    // A device table with duplicates or absurd sizes is trusted for none of
    // the offending devices.
    let mut devs: Vec<RegionDev> = Vec::new();
    for d in region.devs.iter() {
        let sane = d.dev != NO_DEV && crate::valid_block_size(d.block_size as usize);
        let dup = region.devs.iter().filter(|e| e.dev == d.dev).count() > 1;
        if sane && !dup {
            devs.push(*d);
        }
    }
    region.devs = devs;

    let mut seen: Vec<(Dev, BlockNo, usize)> = Vec::new();
    for (i, (slot, buf)) in region.slots.iter_mut().zip(&region.bufs).enumerate() {
        slot.prefetched = false;
        slot.stale = false;
        slot.meta.refcount = 0;
        let m = slot.meta;
        if m.dev == NO_DEV {
            slot.meta = RegionEntry::FREE;
            continue;
        }
        let Some(buf) = buf.as_ref() else {
            slot.meta = RegionEntry::FREE;
            continue;
        };
        let reason = if !header_ok {
            Some(DropReason::BadHeader)
        } else if let Some(d) = region.devs.iter().find(|d| d.dev == m.dev) {
            let bs = d.block_size as u64;
            let len = buf.borrow().len();
            if m.bytes == 0 || m.bytes as u64 > bs || len != m.bytes as usize {
                Some(DropReason::BadSize)
            } else if m.block > u64::MAX / bs {
                Some(DropReason::BadBlockNumber)
            } else if !m.checked {
                Some(DropReason::Unchecked)
            } else if crc32fast::hash(buf.borrow().bytes()) != m.crc {
                Some(DropReason::Checksum)
            } else {
                None
            }
        } else {
            Some(DropReason::UnknownDevice)
        };
        match reason {
            Some(reason) => {
                report.dropped.push(DroppedBlock {
                    slot: i,
                    dev: m.dev,
                    block: m.block,
                    dirty: m.dirty,
                    reason,
                });
                slot.meta = RegionEntry::FREE;
            }
            None => seen.push((m.dev, m.block, i)),
        }
    }
    // Two slots claiming one block: neither can be trusted to be the newer.
    seen.sort_unstable();
    let mut k = 0;
    while k < seen.len() {
        let mut e = k + 1;
        while e < seen.len() && seen[e].0 == seen[k].0 && seen[e].1 == seen[k].1 {
            e += 1;
        }
        if e - k > 1 {
            for &(dev, block, i) in &seen[k..e] {
                let dirty = region.slots[i].meta.dirty;
                report.dropped.push(DroppedBlock {
                    slot: i,
                    dev,
                    block,
                    dirty,
                    reason: DropReason::Duplicate,
                });
                region.slots[i].meta = RegionEntry::FREE;
            }
        } else {
            let i = seen[k].2;
            if region.slots[i].meta.dirty {
                report.kept_dirty += 1;
            } else {
                report.kept_clean += 1;
            }
        }
        k = e;
    }
    report.dropped.sort_by_key(|d| d.slot);
    report
}
