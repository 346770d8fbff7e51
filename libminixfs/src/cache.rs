//! The buffer cache: buffer slots in a [`CacheRegion`], a block index keyed
//! by (device, block) with the replacement order of unreferenced slots
//! ([`crate::index`]), the device table, write-back, prefetch and read-ahead.
//!
//! Invariants (checked by the property test):
//! * a slot is in the index iff its device is not [`NO_DEV`];
//! * a slot is a replacement candidate iff its reference count is 0 and it
//!   holds memory; referenced slots are never evicted, retired or written back;
//! * at most one slot holds a given (device, block), whatever its size.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, Ref, RefCell, RefMut};

use libbdev::{BdevError, BlockDevice, MAX_SEGMENTS};

use crate::error::{CacheError, Result};
use crate::index::{BlockIndex, Intrusive, Key};
use crate::mem::BlockMem;
use crate::region::{self, AdoptReport, Buf, CacheRegion, RegionDev, RegionEntry, Slot};
use crate::{BlockNo, Dev, MIN_BUFS, NO_DEV, valid_block_size};

/// How [`Cache::get_block`] treats a block that is not cached (a cached
/// block is returned as it is for every `How`; a hit never does I/O).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Read the block from the device (MINIX `NORMAL`). May read ahead when
    /// the access is sequential (see [`Cache::set_readahead`]).
    Normal,
    /// The caller overwrites the whole block: no read; the buffer is zeroed
    /// (MINIX `NO_READ`, which leaves it undefined).
    NoRead,
    /// Return the block only if cached, else [`CacheError::NotCached`]; no
    /// I/O, no memory taken (MINIX `PEEK`).
    Peek,
}

/// Event counters since the cache was created (not kept across adoption).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// `get_block` calls served from the cache.
    pub hits: u64,
    /// `get_block` calls that found the block absent (any `How`).
    pub misses: u64,
    /// Read requests sent to devices (one vectored read counts once).
    pub read_requests: u64,
    /// Blocks read from devices and kept.
    pub blocks_read: u64,
    /// Write requests sent to devices.
    pub write_requests: u64,
    /// Blocks written to devices.
    pub blocks_written: u64,
    /// Cached blocks evicted to make room (free slots reused are not counted).
    pub evictions: u64,
    /// Blocks read by prefetch or read-ahead that nobody had asked for yet.
    pub prefetched: u64,
    /// Of those, blocks later returned by a `get_block` hit.
    pub prefetch_used: u64,
    /// Write requests issued by flushes (explicit, on eviction, on resize).
    pub flush_requests: u64,
    /// `change_blockusage` calls that had to clamp.
    pub usage_clamps: u64,
    /// Device flushes (barriers) sent by write-back: one per ordering
    /// layer of a flush.
    pub barriers: u64,
    /// Flushes forced by [`Cache::order`] because the new constraint
    /// closed a cycle.
    pub order_flushes: u64,
}

/// Most blocks [`Cache::order`] visits looking for a cycle before it
/// flushes instead.
const ORDER_SEARCH_LIMIT: usize = 4096;

/// File-system block usage as last told by the file server
/// ([`Cache::set_blockusage`], [`Cache::change_blockusage`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockUsage {
    /// Blocks in the file system.
    pub total: u64,
    /// Blocks in use.
    pub used: u64,
    /// `total - used`.
    pub free: u64,
}

struct DevHandle {
    dev: Dev,
    device: Box<dyn BlockDevice>,
    /// Block a sequential reader would ask for next.
    ra_next: BlockNo,
    /// Current sequential read-ahead window in blocks.
    ra_window: usize,
    /// Device size last reported by the device.
    size: Option<u64>,
}

pub(crate) struct Inner<I: BlockIndex> {
    region: CacheRegion,
    /// Slots holding memory.
    nr_live: usize,
    /// Slots holding no memory, for reuse.
    retired: Vec<u32>,
    /// Block index and replacement order.
    index: I,
    /// Slots with a reference count > 0.
    in_use: usize,
    handles: Vec<DevHandle>,
    counters: Counters,
    usage: BlockUsage,
    readahead: bool,
    /// Checksum blocks as they are read (see [`Cache::set_checksum_clean`]).
    checksum_clean: bool,
    /// Checksum modified blocks at [`Cache::seal`] instead of at every
    /// release (see [`Cache::set_deferred_checksums`]).
    defer_checksums: bool,
    /// Slots modified since the last seal.
    stale: Vec<u32>,
    /// Write-ordering constraints: (dev, block) -> blocks of that device
    /// that must be written (and flushed) before it.
    edges: BTreeMap<(Dev, BlockNo), BTreeSet<BlockNo>>,
    /// The same constraints from the other end: (dev, block) -> blocks that
    /// wait for it.
    succ: BTreeMap<(Dev, BlockNo), BTreeSet<BlockNo>>,
}

/// The block cache of one file server. Single-threaded: interior
/// mutability lets several [`BlockRef`]s be held at once while the cache is
/// shared by `&Cache`.
pub struct Cache<I: BlockIndex = Intrusive> {
    inner: RefCell<Inner<I>>,
}

impl<I: BlockIndex> core::fmt::Debug for Cache<I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.inner.try_borrow() {
            Ok(g) => f
                .debug_struct("Cache")
                .field("capacity", &g.region.capacity)
                .field("live", &g.nr_live)
                .field("in_use", &g.in_use)
                .field("counters", &g.counters)
                .finish(),
            Err(_) => f.write_str("Cache { <busy> }"),
        }
    }
}

/// A referenced cached block. While it lives the block is neither evicted
/// nor written back; dropping it (or [`BlockRef::put`]) releases the
/// reference (MINIX `lmfs_put_block`). Several `BlockRef`s, to the same or
/// different blocks, may be held at once.
pub struct BlockRef<'c, I: BlockIndex = Intrusive> {
    cache: &'c Cache<I>,
    slot: u32,
    dev: Dev,
    block: BlockNo,
    buf: Buf,
    /// Contents changed or dirtiness set through this reference: the crc
    /// is refreshed on release.
    touched: Cell<bool>,
}

impl<I: BlockIndex> core::fmt::Debug for BlockRef<'_, I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BlockRef")
            .field("dev", &self.dev)
            .field("block", &self.block)
            .field("slot", &self.slot)
            .finish()
    }
}

impl<I: BlockIndex> BlockRef<'_, I> {
    /// Device of the block.
    pub fn dev(&self) -> Dev {
        self.dev
    }

    /// Block number.
    pub fn block(&self) -> BlockNo {
        self.block
    }

    /// Size of the block in bytes (the device's block size, or less for the
    /// partial last block of a device obtained through [`crate::bio`]).
    pub fn len(&self) -> usize {
        self.buf.borrow().len()
    }

    /// Never true for a block obtained from the cache; present for clippy.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Read access to the contents.
    ///
    /// Panics if a [`BlockRef::data_mut`] borrow of the same block (through
    /// another `BlockRef`) is alive: that is a caller bug, the same rule as
    /// `RefCell`.
    pub fn data(&self) -> Ref<'_, [u8]> {
        Ref::map(self.buf.borrow(), |b| b.bytes())
    }

    /// Write access to the contents; marks the block dirty (MINIX
    /// `lmfs_markdirty`). Nothing is written until the block is released
    /// and flushed. Panics like [`BlockRef::data`] on a conflicting borrow.
    pub fn data_mut(&mut self) -> RefMut<'_, [u8]> {
        self.mark_dirty();
        RefMut::map(self.buf.borrow_mut(), |b| b.bytes_mut())
    }

    /// Mark the block dirty without changing it (MINIX `lmfs_markdirty`).
    /// Ignored if the block was invalidated or freed while held.
    pub fn mark_dirty(&self) {
        self.touched.set(true);
        self.cache
            .inner
            .borrow_mut()
            .set_dirty(self.slot, self.dev, true);
    }

    /// Mark the block clean: its changes will not be written (MINIX
    /// `lmfs_markclean`).
    pub fn mark_clean(&self) {
        self.touched.set(true);
        self.cache
            .inner
            .borrow_mut()
            .set_dirty(self.slot, self.dev, false);
    }

    /// Whether the block is dirty (MINIX `!lmfs_isclean`). False once the
    /// block was invalidated or freed while held.
    pub fn is_dirty(&self) -> bool {
        let g = self.cache.inner.borrow();
        let m = &g.region.slots[self.slot as usize].meta;
        m.dev == self.dev && m.dev != NO_DEV && m.dirty
    }

    /// Fill the block with zeros and mark it dirty (MFS `zero_block`).
    pub fn zero(&mut self) {
        self.data_mut().fill(0);
    }

    /// Release the reference now (same as dropping it).
    pub fn put(self) {}
}

impl<I: BlockIndex> Drop for BlockRef<'_, I> {
    fn drop(&mut self) {
        let mut g = self.cache.inner.borrow_mut();
        g.release(self.slot, self.touched.get());
    }
}

impl<I: BlockIndex> Inner<I> {
    fn empty(region: CacheRegion) -> Inner<I> {
        Inner {
            index: I::new(region.capacity, region.slots.len()),
            region,
            nr_live: 0,
            retired: Vec::new(),
            in_use: 0,
            handles: Vec::new(),
            counters: Counters::default(),
            usage: BlockUsage::default(),
            readahead: true,
            checksum_clean: true,
            defer_checksums: false,
            stale: Vec::new(),
            edges: BTreeMap::new(),
            succ: BTreeMap::new(),
        }
    }

    #[inline]
    fn lookup(&self, dev: Dev, block: BlockNo) -> Option<u32> {
        self.index.lookup((dev, block))
    }

    /// The block slot `i` holds, if any.
    #[inline]
    fn key(&self, i: u32) -> Option<Key> {
        let m = &self.region.slots[i as usize].meta;
        (m.dev != NO_DEV).then_some((m.dev, m.block))
    }

    /// The first unreferenced slot holding memory, in replacement order,
    /// for which `pred` holds.
    fn first_unreferenced(&self, mut pred: impl FnMut(u32, &Slot) -> bool) -> Option<u32> {
        let (slots, bufs) = (&self.region.slots, &self.region.bufs);
        self.index.find(|i| {
            let s = &slots[i as usize];
            s.meta.refcount == 0 && bufs[i as usize].is_some() && pred(i, s)
        })
    }

    /// The unreferenced slots holding memory for which `pred` holds, next
    /// victim first.
    fn unreferenced(&self, mut pred: impl FnMut(&Slot) -> bool) -> Vec<u32> {
        let mut v = Vec::new();
        self.first_unreferenced(|i, s| {
            if pred(s) {
                v.push(i);
            }
            false
        });
        v
    }

    #[inline]
    fn block_size(&self, dev: Dev) -> Option<usize> {
        self.region
            .devs
            .iter()
            .find(|d| d.dev == dev)
            .map(|d| d.block_size as usize)
    }

    fn handle_idx(&self, dev: Dev) -> Option<usize> {
        self.handles.iter().position(|h| h.dev == dev)
    }

    fn readahead_limit(&self) -> usize {
        let free = self.region.capacity.saturating_sub(self.in_use);
        (free / 2).clamp(1, MAX_SEGMENTS)
    }

    fn set_dirty(&mut self, slot: u32, dev: Dev, dirty: bool) {
        let m = &mut self.region.slots[slot as usize].meta;
        if m.dev == dev && dev != NO_DEV {
            m.dirty = dirty;
        }
    }

    /// Take a reference on slot `i` (a hit).
    #[inline(always)]
    fn take_ref(&mut self, i: u32) -> Result<()> {
        let rc = self.region.slots[i as usize].meta.refcount;
        if rc == u32::MAX {
            return Err(CacheError::Busy);
        }
        if rc == 0 {
            let key = self.key(i);
            self.index.acquire(key, i);
            self.in_use += 1;
        }
        self.region.slots[i as usize].meta.refcount = rc + 1;
        Ok(())
    }

    fn seal(&mut self) {
        let list = core::mem::take(&mut self.stale);
        for i in list {
            let clean_too = self.checksum_clean;
            let s = &mut self.region.slots[i as usize];
            s.stale = false;
            if s.meta.dev == NO_DEV {
                continue;
            }
            let Some(buf) = self.region.bufs[i as usize].as_ref() else {
                continue;
            };
            match buf.try_borrow() {
                Ok(b) => {
                    if s.meta.dirty || clean_too {
                        s.meta.crc = crc32fast::hash(b.bytes());
                        s.meta.checked = true;
                    }
                }
                Err(_) => {
                    s.stale = true;
                    self.stale.push(i);
                }
            }
        }
    }

    /// Drop one reference of slot `i`; refresh its crc if it was touched.
    #[inline]
    fn release(&mut self, i: u32, touched: bool) {
        let s = &mut self.region.slots[i as usize];
        if touched && s.meta.dev != NO_DEV && self.defer_checksums {
            // Checked no more until the next seal.
            s.meta.checked = false;
            if !s.stale {
                s.stale = true;
                self.stale.push(i);
            }
        } else if touched
            && s.meta.dev != NO_DEV
            && let Some(buf) = self.region.bufs[i as usize].as_ref()
            && let Ok(b) = buf.try_borrow()
        {
            // Another holder with a live write borrow refreshes it on its release.
            s.meta.crc = crc32fast::hash(b.bytes());
            s.meta.checked = true;
        }
        if s.meta.refcount == 0 {
            return;
        }
        s.meta.refcount -= 1;
        if s.meta.refcount > 0 {
            return;
        }
        self.in_use -= 1;
        self.region.clock += 1;
        self.region.slots[i as usize].meta.stamp = self.region.clock;
        let key = self.key(i);
        self.index.release(key, i);
        if self.nr_live > self.region.capacity {
            self.trim();
        }
    }

    /// Detach slot `i` from its block: contents dropped, dirty data lost.
    /// A referenced slot stays with its holders until released.
    fn forget(&mut self, i: u32) {
        if let Some(key) = self.key(i) {
            let s = &self.region.slots[i as usize];
            let unreferenced = s.meta.refcount == 0 && self.region.bufs[i as usize].is_some();
            self.index.remove(key, i, unreferenced);
        }
        let s = &mut self.region.slots[i as usize];
        s.meta.dev = NO_DEV;
        s.meta.dirty = false;
        s.prefetched = false;
    }

    /// Free the memory of unreferenced slot `i`.
    fn retire(&mut self, i: u32) {
        let key = self.key(i);
        self.index.acquire(key, i);
        if let Some(key) = key {
            self.index.remove(key, i, false);
        }
        let s = &mut self.region.slots[i as usize];
        s.meta = RegionEntry::FREE;
        s.prefetched = false;
        self.region.bufs[i as usize] = None;
        self.nr_live -= 1;
        self.retired.push(i);
    }

    /// Retire clean unreferenced slots, least recently used first, while the
    /// cache holds more slots than its capacity.
    fn trim(&mut self) {
        for i in self.unreferenced(|s| !s.meta.dirty) {
            if self.nr_live <= self.region.capacity {
                break;
            }
            self.retire(i);
        }
    }

    /// A slot with a buffer of `size` bytes, referenced once, not in the
    /// hash, device [`NO_DEV`]. The buffer is zeroed if `zero`; otherwise
    /// a reused one keeps its old bytes, for a caller about to replace
    /// them all (a device read, a whole-block write). Evicts the least recently used
    /// unreferenced block if the cache is full; a dirty victim first makes
    /// its whole device flush (as MINIX does), and if it still cannot be
    /// written the first clean unreferenced block is taken instead.
    fn alloc_slot(&mut self, size: usize, zero: bool) -> Result<u32> {
        let i = if self.nr_live < self.region.capacity {
            let i = match self.retired.pop() {
                Some(i) => i,
                None => {
                    self.region.slots.push(Slot::new());
                    self.region.bufs.push(None);
                    self.index.add_slot();
                    (self.region.slots.len() - 1) as u32
                }
            };
            let mem = BlockMem::zeroed(size).ok_or(CacheError::NoBuffers)?;
            self.region.bufs[i as usize] = Some(Rc::new(RefCell::new(mem)));
            self.nr_live += 1;
            i
        } else {
            let mut v = self
                .first_unreferenced(|_, _| true)
                .ok_or(CacheError::NoBuffers)?;
            if self.region.slots[v as usize].meta.dirty {
                let dev = self.region.slots[v as usize].meta.dev;
                let r = self.flush_dev(dev);
                if self.region.bufs[v as usize].is_none() {
                    // Over capacity (a shrink around held blocks), the
                    // flush trimmed the cache and retired the victim
                    // itself: start again. Each round has fewer live
                    // buffers, so this ends.
                    return self.alloc_slot(size, zero);
                }
                if self.region.slots[v as usize].meta.dirty {
                    v = match self.first_unreferenced(|_, s| !s.meta.dirty) {
                        Some(c) => c,
                        None => return Err(r.err().unwrap_or(CacheError::Short)),
                    };
                }
            }
            let key = self.key(v);
            self.index.acquire(key, v);
            if let Some(key) = key {
                self.index.remove(key, v, false);
                self.counters.evictions += 1;
            }
            let reuse = match self.region.bufs[v as usize].as_mut() {
                Some(b) if b.borrow().len() == size && Rc::strong_count(b) == 1 => {
                    if zero {
                        b.borrow_mut().bytes_mut().fill(0);
                    }
                    true
                }
                _ => false,
            };
            if !reuse {
                // On failure the victim stays evicted as a retired slot.
                self.region.bufs[v as usize] = None;
                self.region.slots[v as usize].meta = RegionEntry::FREE;
                self.nr_live -= 1;
                self.retired.push(v);
                let mem = BlockMem::zeroed(size).ok_or(CacheError::NoBuffers)?;
                self.region.bufs[v as usize] = Some(Rc::new(RefCell::new(mem)));
                self.retired.pop();
                self.nr_live += 1;
            }
            v
        };
        let s = &mut self.region.slots[i as usize];
        s.meta = RegionEntry {
            bytes: size as u32,
            refcount: 1,
            ..RegionEntry::FREE
        };
        s.prefetched = false;
        self.in_use += 1;
        Ok(i)
    }

    /// Give slot `i` (fresh from `alloc_slot`) its identity.
    fn assign(&mut self, i: u32, dev: Dev, block: BlockNo) {
        let m = &mut self.region.slots[i as usize].meta;
        m.dev = dev;
        m.block = block;
        self.index.insert((dev, block), i);
    }

    /// Drop the reference `alloc_slot`/`fill_range` took on slot `i`.
    fn unref(&mut self, i: u32) {
        self.release(i, false);
    }

    /// The buffer of referenced slot `i`.
    #[inline]
    fn buf(&self, i: u32) -> Buf {
        self.region.bufs[i as usize]
            .clone()
            .expect("a referenced slot holds memory")
    }

    /// Get (dev, block) of `size` bytes with a reference taken, and its buffer.
    fn get(
        &mut self,
        dev: Dev,
        block: BlockNo,
        how: How,
        size: usize,
        bs: usize,
        zero: bool,
    ) -> Result<(u32, Buf)> {
        // Same as block > u64::MAX / bs, without a division on the hot path.
        if block.checked_mul(bs as u64).is_none() {
            return Err(CacheError::Invalid);
        }
        if let Some(i) = self.lookup(dev, block) {
            // Take the buffer handle first: on a hit its cache line, and the
            // slot's, are the misses; this way they overlap.
            let buf = self.buf(i);
            if self.region.slots[i as usize].meta.bytes as usize != size {
                return Err(CacheError::SizeMismatch);
            }
            self.take_ref(i)?;
            self.counters.hits += 1;
            let s = &mut self.region.slots[i as usize];
            if s.prefetched {
                s.prefetched = false;
                self.counters.prefetch_used += 1;
            }
            if how == How::Normal
                && let Some(h) = self.handles.iter_mut().find(|h| h.dev == dev)
            {
                h.ra_next = block.wrapping_add(1);
            }
            return Ok((i, buf));
        }
        self.counters.misses += 1;
        match how {
            How::Peek => Err(CacheError::NotCached),
            How::NoRead => {
                if self.handle_idx(dev).is_none() {
                    return Err(CacheError::NoDevice);
                }
                let i = self.alloc_slot(size, zero)?;
                self.assign(i, dev, block);
                Ok((i, self.buf(i)))
            }
            How::Normal => {
                let limit = self.readahead_limit();
                let readahead = self.readahead;
                let h = self
                    .handles
                    .iter_mut()
                    .find(|h| h.dev == dev)
                    .ok_or(CacheError::NoDevice)?;
                let n = if readahead && size == bs && block == h.ra_next {
                    h.ra_window = (h.ra_window * 2).max(8).min(limit);
                    h.ra_window
                } else {
                    h.ra_window = 1;
                    1
                };
                h.ra_next = block.wrapping_add(1);
                let last = if n == 1 { size } else { bs };
                let (_, held) = match self.fill_range(dev, block, n, last, Some(block)) {
                    // A bad block further on must not fail this read: retry
                    // without read-ahead.
                    Err(CacheError::Device(_)) if n > 1 => {
                        if let Some(h) = self.handles.iter_mut().find(|h| h.dev == dev) {
                            h.ra_window = 1;
                        }
                        self.fill_range(dev, block, 1, size, Some(block))?
                    }
                    r => r?,
                };
                let i = held.ok_or(CacheError::Short)?;
                Ok((i, self.buf(i)))
            }
        }
    }

    /// Read the absent blocks of `start .. start+n` (at most
    /// [`MAX_SEGMENTS`]; the last is `last_size` bytes, the others the block
    /// size) with one vectored read spanning the first to the last absent
    /// block. Blocks cached already are never overwritten: their range is
    /// read into scratch memory. If `hold` names an absent block of the
    /// range, it is returned referenced and its failure is an error; other
    /// failures only mean fewer blocks were read. Returns blocks read.
    fn fill_range(
        &mut self,
        dev: Dev,
        start: BlockNo,
        n: usize,
        last_size: usize,
        hold: Option<BlockNo>,
    ) -> Result<(usize, Option<u32>)> {
        let bs = self.block_size(dev).ok_or(CacheError::NoDevice)?;
        let hidx = self.handle_idx(dev).ok_or(CacheError::NoDevice)?;
        let n = n.min(MAX_SEGMENTS);
        if n == 0 {
            return Ok((0, None));
        }
        let max_block = u64::MAX / bs as u64;
        let mut plan: Vec<Option<u32>> = Vec::with_capacity(n);
        let mut pinned: Vec<u32> = Vec::new();
        for k in 0..n {
            let b = start + k as u64;
            if b > max_block {
                break;
            }
            let size = if k == n - 1 { last_size } else { bs };
            if let Some(i) = self.lookup(dev, b) {
                // Pin it so making room for the others cannot evict it.
                if self.take_ref(i).is_ok() {
                    pinned.push(i);
                }
                plan.push(None);
                continue;
            }
            // The read replaces every byte; a failed one forgets the slot.
            match self.alloc_slot(size, false) {
                Ok(i) => {
                    self.assign(i, dev, b);
                    plan.push(Some(i));
                }
                Err(e) => {
                    if hold == Some(b) {
                        for i in plan.iter().flatten() {
                            self.forget(*i);
                            self.unref(*i);
                        }
                        for i in pinned {
                            self.unref(i);
                        }
                        return Err(e);
                    }
                    break;
                }
            }
        }
        for i in pinned {
            self.unref(i);
        }
        let Some(first) = plan.iter().position(|p| p.is_some()) else {
            return Ok((0, None));
        };
        let last = plan.iter().rposition(|p| p.is_some()).unwrap_or(first);
        let seg_len = |k: usize| if k == n - 1 { last_size } else { bs };
        let bufs: Vec<Buf> = plan[first..=last]
            .iter()
            .flatten()
            .map(|i| {
                self.region.bufs[*i as usize]
                    .clone()
                    .expect("allocated slot has memory")
            })
            .collect();
        let scratch_len: usize = (first..=last)
            .filter(|k| plan[*k].is_none())
            .map(seg_len)
            .sum();
        let result = {
            let mut guards: Vec<RefMut<'_, BlockMem>> =
                bufs.iter().map(|b| b.borrow_mut()).collect();
            let mut scratch = vec![0u8; scratch_len];
            let mut gi = guards.iter_mut();
            let mut rest: &mut [u8] = &mut scratch;
            let mut segs: Vec<&mut [u8]> = Vec::with_capacity(last - first + 1);
            for (k, p) in plan.iter().enumerate().take(last + 1).skip(first) {
                if p.is_some() {
                    match gi.next() {
                        Some(g) => segs.push(g.bytes_mut()),
                        None => break,
                    }
                } else {
                    let (a, b) = core::mem::take(&mut rest).split_at_mut(seg_len(k));
                    segs.push(a);
                    rest = b;
                }
            }
            self.counters.read_requests += 1;
            let pos = (start + first as u64) * bs as u64;
            self.handles[hidx].device.read_vectored(pos, &mut segs)
        };
        let (mut avail, err) = match result {
            Ok(n) => (n, None),
            Err(e) => (0, Some(CacheError::Device(e))),
        };
        let mut nread = 0;
        let mut held = None;
        let mut failed = false;
        for (k, p) in plan.iter().enumerate().take(last + 1).skip(first) {
            let len = seg_len(k);
            let ok = !failed && avail >= len;
            if ok {
                avail -= len;
            } else {
                failed = true;
            }
            let Some(i) = *p else { continue };
            let b = start + k as u64;
            if ok {
                nread += 1;
                self.counters.blocks_read += 1;
                let s = &mut self.region.slots[i as usize];
                if let Some(buf) = self.region.bufs[i as usize].as_ref()
                    && self.checksum_clean
                {
                    s.meta.crc = crc32fast::hash(buf.borrow().bytes());
                    s.meta.checked = true;
                }
                if hold == Some(b) {
                    held = Some(i);
                } else {
                    s.prefetched = true;
                    self.counters.prefetched += 1;
                    self.unref(i);
                }
            } else {
                self.forget(i);
                self.unref(i);
            }
        }
        // Slots allocated past `last` cannot exist: `last` is the last absent one.
        if let Some(h) = hold
            && h >= start
            && h < start + plan.len() as u64
            && plan[(h - start) as usize].is_some()
            && held.is_none()
        {
            return Err(err.unwrap_or(CacheError::Short));
        }
        if let Some(e) = err {
            return Err(e);
        }
        Ok((nread, held))
    }

    /// Whether (dev, block) is cached and dirty.
    fn dirty(&self, dev: Dev, block: BlockNo) -> bool {
        self.lookup(dev, block)
            .is_some_and(|i| self.region.slots[i as usize].meta.dirty)
    }

    /// Write back every unreferenced dirty block of `dev` in ordering
    /// layers: a layer is every writable block whose ordering predecessors
    /// ([`Cache::order`]) are all clean; each layer is written sorted by
    /// block number, consecutive blocks coalesced into one vectored write of
    /// at most [`MAX_SEGMENTS`] blocks, and ended by the device's `flush`
    /// (a barrier). Without ordering constraints there is one layer.
    /// Blocks waiting for a block that cannot be written (referenced) stay
    /// dirty. Returns blocks written.
    fn flush_dev(&mut self, dev: Dev) -> Result<usize> {
        self.flush_some(dev, None)
    }

    /// [`Inner::flush_dev`], limited to the blocks in `only` if given.
    fn flush_some(&mut self, dev: Dev, only: Option<&BTreeSet<BlockNo>>) -> Result<usize> {
        let mut total = 0;
        loop {
            // Without constraints one layer writes everything writable.
            let constrained = self.edges.keys().any(|(d, _)| *d == dev);
            let n = self.flush_layer(dev, only)?;
            total += n;
            if n == 0 || !constrained {
                break;
            }
        }
        // Every edge of a device with nothing dirty left is satisfied.
        if !self.edges.is_empty()
            && !self
                .region
                .slots
                .iter()
                .any(|s| s.meta.dev == dev && s.meta.dirty)
        {
            self.edges.retain(|(d, _), _| *d != dev);
            self.succ.retain(|(d, _), _| *d != dev);
        }
        Ok(total)
    }

    /// One layer of [`Inner::flush_dev`]: writes the dirty unreferenced
    /// blocks of `dev` with no dirty predecessor, then flushes the device.
    /// Returns blocks written (0: nothing was writable, no flush sent).
    fn flush_layer(&mut self, dev: Dev, only: Option<&BTreeSet<BlockNo>>) -> Result<usize> {
        let bs = self.block_size(dev).ok_or(CacheError::NoDevice)?;
        let mut list: Vec<(BlockNo, u32)> = self
            .region
            .slots
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                s.meta.dev == dev
                    && s.meta.dirty
                    && s.meta.refcount == 0
                    && self.region.bufs[*i].is_some()
                    && only.is_none_or(|o| o.contains(&s.meta.block))
            })
            .map(|(i, s)| (s.meta.block, i as u32))
            .collect();
        if !self.edges.is_empty() {
            list.retain(|(b, _)| {
                self.edges
                    .get(&(dev, *b))
                    .is_none_or(|before| before.iter().all(|p| !self.dirty(dev, *p)))
            });
        }
        if list.is_empty() {
            return Ok(0);
        }
        let hidx = self.handle_idx(dev).ok_or(CacheError::NoDevice)?;
        list.sort_unstable();
        let mut written = 0;
        let mut first_err = None;
        let mut i = 0;
        while i < list.len() {
            let first = list[i].0;
            let mut j = i + 1;
            while j < list.len()
                && j - i < MAX_SEGMENTS
                && list[j].0 == first + (j - i) as u64
                && self.region.slots[list[j - 1].1 as usize].meta.bytes as usize == bs
            {
                j += 1;
            }
            let bufs: Vec<Buf> = list[i..j]
                .iter()
                .filter_map(|(_, s)| self.region.bufs[*s as usize].clone())
                .collect();
            let result = {
                let refs: Vec<Ref<'_, BlockMem>> = bufs.iter().map(|b| b.borrow()).collect();
                let segs: Vec<&[u8]> = refs.iter().map(|r| r.bytes()).collect();
                self.counters.write_requests += 1;
                self.counters.flush_requests += 1;
                self.handles[hidx]
                    .device
                    .write_vectored(first * bs as u64, &segs)
            };
            let (mut avail, err) = match result {
                Ok(n) => (n, CacheError::Short),
                Err(BdevError::Io) if j - i > 1 => {
                    // The device refused the run but says nothing of how far
                    // it got: write its blocks one by one so every good block
                    // still reaches the disk, and report the first failure.
                    let e = self.flush_singly(hidx, bs, &list[i..j]);
                    written += e.0;
                    if let Some(err) = e.1 {
                        first_err.get_or_insert(err);
                    }
                    i = j;
                    continue;
                }
                Err(e) => (0, CacheError::Device(e)),
            };
            let mut progressed = 0;
            for &(_, s) in &list[i..j] {
                let len = self.region.slots[s as usize].meta.bytes as usize;
                if avail < len {
                    break;
                }
                avail -= len;
                self.region.slots[s as usize].meta.dirty = false;
                progressed += 1;
            }
            written += progressed;
            self.counters.blocks_written += progressed as u64;
            if progressed == 0 {
                // Unlike MINIX the block is kept dirty (not dropped) and the
                // error goes to the caller.
                return Err(err);
            }
            i += progressed;
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        self.handles[hidx].device.flush()?;
        self.counters.barriers += 1;
        if !self.edges.is_empty() {
            for &(b, _) in &list {
                self.drop_edges_of(dev, b);
            }
        }
        if self.nr_live > self.region.capacity {
            self.trim();
        }
        Ok(written)
    }

    /// Forget the ordering edges into and out of (dev, b): it was written.
    fn drop_edges_of(&mut self, dev: Dev, b: BlockNo) {
        if let Some(before) = self.edges.remove(&(dev, b)) {
            for p in before {
                if let Some(s) = self.succ.get_mut(&(dev, p)) {
                    s.remove(&b);
                    if s.is_empty() {
                        self.succ.remove(&(dev, p));
                    }
                }
            }
        }
        if let Some(after) = self.succ.remove(&(dev, b)) {
            for a in after {
                if let Some(s) = self.edges.get_mut(&(dev, a)) {
                    s.remove(&b);
                    if s.is_empty() {
                        self.edges.remove(&(dev, a));
                    }
                }
            }
        }
    }

    /// Whether a chain of edges leads from `from` to `to` through dirty
    /// blocks of `dev` (true as well when the search grows past a bound:
    /// the caller then flushes rather than risk a cycle).
    fn reaches(&self, dev: Dev, from: BlockNo, to: BlockNo) -> bool {
        let mut stack = vec![from];
        let mut seen = BTreeSet::new();
        while let Some(b) = stack.pop() {
            if b == to {
                return true;
            }
            if !seen.insert(b) {
                continue;
            }
            if seen.len() > ORDER_SEARCH_LIMIT {
                return true;
            }
            if let Some(next) = self.succ.get(&(dev, b)) {
                stack.extend(next.iter().copied().filter(|&n| self.dirty(dev, n)));
            }
        }
        false
    }

    /// `b` and every dirty block it waits for, directly or not.
    fn predecessors(&self, dev: Dev, b: BlockNo) -> BTreeSet<BlockNo> {
        let mut set = BTreeSet::new();
        let mut stack = vec![b];
        while let Some(x) = stack.pop() {
            if !set.insert(x) {
                continue;
            }
            if let Some(before) = self.edges.get(&(dev, x)) {
                stack.extend(before.iter().copied().filter(|&p| self.dirty(dev, p)));
            }
        }
        set
    }

    fn order(&mut self, dev: Dev, before: BlockNo, after: BlockNo) -> Result<bool> {
        if before == after || !self.dirty(dev, before) {
            return Ok(false);
        }
        if self
            .edges
            .get(&(dev, after))
            .is_some_and(|s| s.contains(&before))
        {
            return Ok(false);
        }
        if self.reaches(dev, after, before) {
            // `after` must already precede `before`: write `before` now,
            // with everything it waits for, in order, so it is durable
            // and no edge is needed.
            let closure = self.predecessors(dev, before);
            self.flush_some(dev, Some(&closure))?;
            if self.dirty(dev, before) {
                return Err(CacheError::Busy);
            }
            return Ok(true);
        }
        self.edges.entry((dev, after)).or_default().insert(before);
        self.succ.entry((dev, before)).or_default().insert(after);
        Ok(false)
    }

    /// Write `blocks` (sorted (block, slot) pairs) with one request each,
    /// marking the written ones clean. Returns (blocks written, first error);
    /// a device that stopped answering (not `Io`) ends the walk.
    fn flush_singly(
        &mut self,
        hidx: usize,
        bs: usize,
        blocks: &[(BlockNo, u32)],
    ) -> (usize, Option<CacheError>) {
        let mut written = 0;
        let mut first_err = None;
        for &(b, s) in blocks {
            let Some(buf) = self.region.bufs[s as usize].clone() else {
                continue;
            };
            let len = buf.borrow().len();
            self.counters.write_requests += 1;
            self.counters.flush_requests += 1;
            let r = self.handles[hidx]
                .device
                .write_vectored(b * bs as u64, &[buf.borrow().bytes()]);
            match r {
                Ok(n) if n >= len => {
                    self.region.slots[s as usize].meta.dirty = false;
                    self.counters.blocks_written += 1;
                    written += 1;
                }
                Ok(_) => {
                    first_err.get_or_insert(CacheError::Short);
                }
                Err(BdevError::Io) => {
                    first_err.get_or_insert(CacheError::Device(BdevError::Io));
                }
                Err(e) => {
                    first_err.get_or_insert(CacheError::Device(e));
                    break;
                }
            }
        }
        (written, first_err)
    }

    fn flush_all(&mut self) -> Result<usize> {
        let devs: Vec<Dev> = self.handles.iter().map(|h| h.dev).collect();
        let mut total = 0;
        let mut first_err = None;
        for dev in devs {
            match self.flush_dev(dev) {
                Ok(n) => total += n,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }
}

impl Cache {
    /// An empty cache of `nr_bufs` buffers (at least [`MIN_BUFS`]; fewer are
    /// raised to it). Buffers are allocated on first use.
    pub fn new(nr_bufs: usize) -> Cache {
        Cache::with_index(nr_bufs)
    }

    /// Take over the region of a dead cache owner: see
    /// [`Cache::adopt_with_index`].
    pub fn adopt(region: CacheRegion) -> (Cache, AdoptReport) {
        Cache::adopt_with_index(region)
    }
}

impl<I: BlockIndex> Cache<I> {
    /// [`Cache::new`] with the block index `I` (the benchmark compares
    /// them; see [`crate::index`]).
    pub fn with_index(nr_bufs: usize) -> Cache<I> {
        let region = CacheRegion::new(nr_bufs.max(MIN_BUFS));
        Cache {
            inner: RefCell::new(Inner::empty(region)),
        }
    }

    /// Take over the region of a dead cache owner. Every slot is validated
    /// (header, device table, size, block-number range, duplicates, crc32 of
    /// the contents); valid blocks are kept with their dirty bit and
    /// reference count 0, everything else is dropped and listed in the
    /// report. A dropped block is never written. Devices must be attached
    /// again ([`Cache::attach`], same block size) before cached blocks of
    /// them can be flushed or missed blocks read; hits work at once.
    /// Counters start from zero; block usage is kept if valid
    /// ([`AdoptReport::usage_kept`]).
    pub fn adopt_with_index(mut region: CacheRegion) -> (Cache<I>, AdoptReport) {
        let report = region::validate(&mut region);
        region.capacity = region.capacity.max(MIN_BUFS);
        let (total, used) = region.usage;
        let mut inner: Inner<I> = Inner::empty(region);
        inner.usage = BlockUsage {
            total,
            used,
            free: total - used,
        };
        let mut valid: Vec<(u64, u32)> = Vec::new();
        for i in 0..inner.region.slots.len() {
            let s = &inner.region.slots[i];
            if inner.region.bufs[i].is_none() {
                inner.retired.push(i as u32);
                continue;
            }
            inner.nr_live += 1;
            if s.meta.dev == NO_DEV {
                inner.index.release(None, i as u32);
            } else {
                valid.push((s.meta.stamp, i as u32));
            }
        }
        valid.sort_unstable();
        inner.index.resize(inner.region.capacity.max(inner.nr_live));
        for &(_, i) in &valid {
            let m = inner.region.slots[i as usize].meta;
            inner.index.insert((m.dev, m.block), i);
            inner.index.release(Some((m.dev, m.block)), i);
        }
        if inner.nr_live > inner.region.capacity {
            inner.trim();
        }
        (
            Cache {
                inner: RefCell::new(inner),
            },
            report,
        )
    }

    /// The owner dies: give up the region as it is, writing nothing, with
    /// reference counts and stale checksums of blocks being modified left
    /// in place. Devices are dropped (a new owner reopens them).
    pub fn crash(self) -> CacheRegion {
        self.inner.into_inner().region
    }

    /// [`Cache::crash`] for a cache the dead owner's leftovers still share
    /// (a heap kept across a restart, where the dead instance's objects
    /// holding the cache are never dropped): the region is taken out and
    /// this cache is left empty, with no devices. `None` if the cache was
    /// in use (borrowed) when its owner died: a cache cut off in the middle
    /// of an operation is not handed over.
    pub fn crash_shared(&self) -> Option<CacheRegion> {
        let mut g = self.inner.try_borrow_mut().ok()?;
        let cap = g.region.capacity;
        let old = core::mem::replace(&mut *g, Inner::empty(CacheRegion::new(cap)));
        Some(old.region)
    }

    /// Orderly hand-over: flush every device (errors ignored: blocks that
    /// could not be written stay dirty in the region), then give up the region.
    pub fn into_region(self) -> CacheRegion {
        let mut inner = self.inner.into_inner();
        let _ = inner.flush_all();
        inner.region
    }

    /// Attach `device` as device number `dev` with blocks of `block_size`
    /// bytes (a power of two, 512..=65536). Errors: `Invalid` for `dev ==
    /// NO_DEV`, a bad block size, or cached blocks of `dev` (left by an
    /// adopted region) with another block size; `Busy` if `dev` is attached.
    pub fn attach(&self, dev: Dev, device: Box<dyn BlockDevice>, block_size: usize) -> Result<()> {
        if dev == NO_DEV || !valid_block_size(block_size) {
            return Err(CacheError::Invalid);
        }
        let mut g = self.inner.borrow_mut();
        if g.handle_idx(dev).is_some() {
            return Err(CacheError::Busy);
        }
        match g.region.devs.iter().position(|d| d.dev == dev) {
            Some(k) => {
                if g.region.devs[k].block_size as usize != block_size {
                    let has_blocks = g.region.slots.iter().any(|s| s.meta.dev == dev);
                    if has_blocks {
                        return Err(CacheError::Invalid);
                    }
                    g.region.devs[k].block_size = block_size as u32;
                }
            }
            None => g.region.devs.push(RegionDev {
                dev,
                block_size: block_size as u32,
            }),
        }
        g.handles.push(DevHandle {
            dev,
            device,
            ra_next: 0,
            ra_window: 1,
            size: None,
        });
        Ok(())
    }

    /// Detach `dev`: flush its dirty blocks, drop its cached blocks, and
    /// return the device. Errors: `NoDevice` if not attached, `Busy` if a
    /// block of it is referenced, a flush error (then nothing changes).
    pub fn detach(&self, dev: Dev) -> Result<Box<dyn BlockDevice>> {
        let mut g = self.inner.borrow_mut();
        let k = g.handle_idx(dev).ok_or(CacheError::NoDevice)?;
        if g.region
            .slots
            .iter()
            .any(|s| s.meta.dev == dev && s.meta.refcount > 0)
        {
            return Err(CacheError::Busy);
        }
        g.flush_dev(dev)?;
        for i in 0..g.region.slots.len() {
            if g.region.slots[i].meta.dev == dev {
                g.forget(i as u32);
            }
        }
        g.region.devs.retain(|d| d.dev != dev);
        g.edges.retain(|(d, _), _| *d != dev);
        g.succ.retain(|(d, _), _| *d != dev);
        Ok(g.handles.remove(k).device)
    }

    /// Block size of `dev`, if attached or known from an adopted region.
    pub fn block_size(&self, dev: Dev) -> Option<usize> {
        self.inner.borrow().block_size(dev)
    }

    /// Size of `dev` in bytes, asked of the device every time (MINIX does
    /// not cache it: repartitioning is invisible to the file server).
    pub fn device_size(&self, dev: Dev) -> Result<u64> {
        let mut g = self.inner.borrow_mut();
        let k = g.handle_idx(dev).ok_or(CacheError::NoDevice)?;
        let size = g.handles[k].device.size()?;
        g.handles[k].size = Some(size);
        Ok(size)
    }

    /// For `bio`: the device size, asked of the device unless a transfer
    /// ending at byte `end` lies within the size last reported.
    pub(crate) fn known_size(&self, dev: Dev, end: u64) -> Result<u64> {
        {
            let g = self.inner.borrow();
            let k = g.handle_idx(dev).ok_or(CacheError::NoDevice)?;
            if let Some(s) = g.handles[k].size
                && end <= s
            {
                return Ok(s);
            }
        }
        self.device_size(dev)
    }

    /// Get block `block` of `dev` with a reference (MINIX `lmfs_get_block`).
    ///
    /// * Hit (cached, any `how`): no I/O; the reference count goes up and an
    ///   unreferenced block leaves the LRU list. A block cached with another
    ///   size (a partial last block from [`crate::bio`]) gives `SizeMismatch`.
    /// * Miss: `Peek` → `NotCached` (nothing allocated); `NoRead` → a
    ///   zero-filled buffer, nothing read; `Normal` → the block is read (with
    ///   read-ahead if the access is sequential, see
    ///   [`Cache::set_readahead`]); a failed or short read gives the error
    ///   and caches nothing.
    /// * Making room evicts the least recently used unreferenced block; a
    ///   dirty victim makes its device flush first. `NoBuffers` if every
    ///   buffer is referenced (MINIX panics).
    ///
    /// Other errors: `Invalid` (dev 0, block * block size overflows),
    /// `NoDevice` (dev unknown, or not attached on a miss).
    pub fn get_block(&self, dev: Dev, block: BlockNo, how: How) -> Result<BlockRef<'_, I>> {
        self.acquire(dev, block, how, None, true)
    }

    /// The getters' shared body: `size` `None` is the whole block; `zero`
    /// as for `alloc_slot`.
    #[inline]
    fn acquire(
        &self,
        dev: Dev,
        block: BlockNo,
        how: How,
        size: Option<usize>,
        zero: bool,
    ) -> Result<BlockRef<'_, I>> {
        if dev == NO_DEV {
            return Err(CacheError::Invalid);
        }
        let mut g = self.inner.borrow_mut();
        let bs = g.block_size(dev).ok_or(CacheError::NoDevice)?;
        let size = match size {
            None => bs,
            Some(s) if s != 0 && s <= bs => s,
            Some(_) => return Err(CacheError::Invalid),
        };
        let (i, buf) = g.get(dev, block, how, size, bs, zero)?;
        Ok(BlockRef {
            cache: self,
            slot: i,
            dev,
            block,
            buf,
            touched: Cell::new(false),
        })
    }

    /// [`Cache::get_block`] with an explicit byte size: less than the block
    /// size only for the partial last block of a device (MINIX
    /// `lmfs_get_partial_block`). The device offset is `block * block_size`
    /// whatever the size.
    pub fn get_block_sized(
        &self,
        dev: Dev,
        block: BlockNo,
        how: How,
        size: usize,
    ) -> Result<BlockRef<'_, I>> {
        self.acquire(dev, block, how, Some(size), true)
    }

    /// Get block `block` of `dev` for overwriting: no read, zero-filled,
    /// marked dirty (MFS `zero_block` after a `NO_READ` get).
    pub fn zero_block(&self, dev: Dev, block: BlockNo) -> Result<BlockRef<'_, I>> {
        let mut b = self.get_unfilled(dev, block)?;
        b.zero();
        Ok(b)
    }

    /// A whole block of `dev` for its bytes to be replaced: `NoRead`, and
    /// on a miss a reused buffer is not zeroed (the caller fills it all).
    fn get_unfilled(&self, dev: Dev, block: BlockNo) -> Result<BlockRef<'_, I>> {
        self.acquire(dev, block, How::NoRead, None, false)
    }

    /// Get block `block` of `dev` with every byte replaced by `src` (which
    /// must be a whole block): no read and no zero-fill first, marked dirty.
    /// The fast form of [`Cache::zero_block`] followed by a full copy.
    pub fn replace_block(&self, dev: Dev, block: BlockNo, src: &[u8]) -> Result<BlockRef<'_, I>> {
        if self.block_size(dev) != Some(src.len()) {
            return Err(CacheError::Invalid);
        }
        let mut b = self.get_unfilled(dev, block)?;
        b.data_mut().copy_from_slice(src);
        Ok(b)
    }

    /// Release a reference (MINIX `lmfs_put_block`); same as dropping it.
    /// The block goes to the most-recently-used end of the LRU list when its
    /// last reference goes, or to the front if it was invalidated meanwhile.
    pub fn put_block(&self, block: BlockRef<'_, I>) {
        drop(block);
    }

    /// True if (dev, block) is cached (any size). No reference, no counters.
    pub fn is_cached(&self, dev: Dev, block: BlockNo) -> bool {
        self.inner.borrow().lookup(dev, block).is_some()
    }

    /// Write back every unreferenced dirty block of `dev` (MINIX
    /// `lmfs_flushdev`): sorted by block number, each run of consecutive
    /// blocks one vectored write of at most 64 blocks, then the device's
    /// `flush`. Blocks under ordering constraints ([`Cache::order`]) are
    /// written in layers, each ended by the device's `flush`. Referenced blocks are never written (the file server may be
    /// half-way through changing them). A short write marks the fully
    /// written blocks clean and retries from the first unwritten block; a
    /// write that makes no progress stops the flush and is returned as the
    /// error, with that block and all later ones kept dirty (MINIX drops the
    /// block and only prints). Returns blocks written.
    pub fn flush_dev(&self, dev: Dev) -> Result<usize> {
        self.inner.borrow_mut().flush_dev(dev)
    }

    /// Write ordering (not in MINIX): the current contents of `before`
    /// must be written, and the device flushed, before `after` is written
    /// at all. Call it before changing `after` in a way that depends on
    /// `before`. Nothing is recorded when `before` is clean (already
    /// durable) or is `after` itself (one block is written whole). Every
    /// write-back ([`Cache::flush_dev`], eviction, detach) honours the
    /// constraints, writing in layers with a device flush between them;
    /// a constraint is forgotten once `before` is written.
    ///
    /// If `after` must already precede `before` (directly or through other
    /// constraints) the new one would close a cycle: `before` is written
    /// at once, after the blocks it waits for (in layers, each ended by a
    /// device flush), so it is durable and nothing needs recording; other
    /// dirty blocks stay cached. Returns whether that write happened. Errors: the flush's error;
    /// `Busy` if `before` could not be written (it is referenced).
    pub fn order(&self, dev: Dev, before: BlockNo, after: BlockNo) -> Result<bool> {
        let mut g = self.inner.borrow_mut();
        let flushed = g.order(dev, before, after)?;
        if flushed {
            g.counters.order_flushes += 1;
        }
        Ok(flushed)
    }

    /// Ordering constraints currently recorded for `dev` (pairs
    /// `(before, after)`), for tests and statistics.
    pub fn order_constraints(&self, dev: Dev) -> Vec<(BlockNo, BlockNo)> {
        let g = self.inner.borrow();
        g.edges
            .iter()
            .filter(|((d, _), _)| *d == dev)
            .flat_map(|((_, a), before)| before.iter().map(move |b| (*b, *a)))
            .collect()
    }

    /// [`Cache::flush_dev`] for every attached device (MINIX
    /// `lmfs_flushall`). Every device is tried; the first error is returned.
    /// Dirty blocks of devices not attached (after adoption) stay dirty.
    pub fn flush_all(&self) -> Result<usize> {
        self.inner.borrow_mut().flush_all()
    }

    /// Drop every cached block of `dev`, dirty or not, referenced or not
    /// (MINIX `lmfs_invalidate`). Holders keep their (now detached) buffer
    /// until they release it; changes to it are never written. Also
    /// forgets the device's read-ahead state and remembered size.
    pub fn invalidate(&self, dev: Dev) {
        let mut g = self.inner.borrow_mut();
        for i in 0..g.region.slots.len() {
            if g.region.slots[i].meta.dev == dev && dev != NO_DEV {
                g.forget(i as u32);
            }
        }
        if let Some(h) = g.handles.iter_mut().find(|h| h.dev == dev) {
            h.ra_next = 0;
            h.ra_window = 1;
            h.size = None;
        }
        g.edges.retain(|(d, _), _| *d != dev);
        g.succ.retain(|(d, _), _| *d != dev);
    }

    /// The file system freed `block`: forget it if cached, even if
    /// referenced or dirty (MINIX `lmfs_free_block`), so it is never
    /// written. Not a TRIM hook.
    pub fn free_block(&self, dev: Dev, block: BlockNo) {
        let mut g = self.inner.borrow_mut();
        if let Some(i) = g.lookup(dev, block) {
            g.forget(i);
        }
    }

    /// Change the number of buffers at run time (MINIX `lmfs_buf_pool`, which
    /// flushes and empties the whole cache and panics if a block is in use).
    /// Here cached blocks are kept: growing only raises the limit; shrinking
    /// writes back dirty blocks (like `flush_all`) and frees the least
    /// recently used unreferenced buffers. Referenced buffers cannot go:
    /// the cache then stays over its new size until they are released.
    /// Errors: `Invalid` if `nr_bufs < MIN_BUFS`; a flush error (the new size
    /// is in force anyway).
    pub fn resize(&self, nr_bufs: usize) -> Result<()> {
        if nr_bufs < MIN_BUFS {
            return Err(CacheError::Invalid);
        }
        let mut g = self.inner.borrow_mut();
        g.region.capacity = nr_bufs;
        let n = nr_bufs.max(g.nr_live);
        g.index.resize(n);
        let mut res = Ok(());
        if g.nr_live > nr_bufs {
            g.trim();
            if g.nr_live > nr_bufs {
                res = g.flush_all().map(|_| ());
                g.trim();
            }
        }
        res
    }

    /// Buffer limit.
    pub fn capacity(&self) -> usize {
        self.inner.borrow().region.capacity
    }

    /// Buffers currently holding memory (may exceed the capacity only while
    /// referenced or dirty blocks keep a shrink from completing).
    pub fn live_buffers(&self) -> usize {
        self.inner.borrow().nr_live
    }

    /// Buffers with a reference count above 0 (MINIX `bufs_in_use`).
    pub fn in_use(&self) -> usize {
        self.inner.borrow().in_use
    }

    /// Dirty blocks of `dev` (all devices for [`NO_DEV`]).
    pub fn dirty_count(&self, dev: Dev) -> usize {
        let g = self.inner.borrow();
        g.region
            .slots
            .iter()
            .filter(|s| {
                s.meta.dev != NO_DEV && s.meta.dirty && (dev == NO_DEV || s.meta.dev == dev)
            })
            .count()
    }

    /// Checksum modified blocks at the next [`Cache::seal`] rather than at
    /// every release (default off). The owner seals at its stable points
    /// (MFS: after each request, before it answers): a block modified
    /// several times in one request is checksummed once, and one written
    /// back before the seal is not checksummed at all when clean blocks
    /// need none ([`Cache::set_checksum_clean`] off). Until sealed, a
    /// modified block carries no valid checksum, so an owner that dies
    /// before sealing has its successor drop it on adoption, as for a
    /// block modified at the moment of a crash.
    pub fn set_deferred_checksums(&self, on: bool) {
        let mut g = self.inner.borrow_mut();
        g.defer_checksums = on;
        if !on {
            g.seal();
        }
    }

    /// Computes the checksums of the blocks modified since the last seal
    /// (deferred checksums): dirty blocks always, clean ones only when
    /// [`Cache::set_checksum_clean`] is on. A block still borrowed for
    /// writing stays listed for the next seal.
    pub fn seal(&self) {
        self.inner.borrow_mut().seal();
    }

    /// Whether blocks read from a device get a crc32 at once (default on).
    /// Off, only modified blocks are checksummed, and an adopting successor
    /// drops the clean blocks ([`crate::DropReason::Unchecked`]) and reads
    /// them again when needed: reads stop paying a crc32 per block, at the
    /// price of a colder cache after a crash. Dirty blocks are always
    /// checksummed, so no acknowledged write is ever lost or trusted
    /// unchecked.
    pub fn set_checksum_clean(&self, on: bool) {
        self.inner.borrow_mut().checksum_clean = on;
    }

    /// Turn sequential read-ahead on `Normal` misses on or off (on by
    /// default). When on, a miss on the block right after the previous
    /// `Normal` access of the same device reads a window of following
    /// blocks in the same request: 8 blocks at first, doubling on each
    /// further sequential miss up to [`Cache::readahead_limit`]; any other
    /// miss reads just the block and resets the window.
    pub fn set_readahead(&self, on: bool) {
        self.inner.borrow_mut().readahead = on;
    }

    /// Most blocks one prefetch or read-ahead reads: half the unreferenced
    /// buffers, between 1 and 64 ([`MAX_SEGMENTS`]) whatever the block size.
    /// MINIX uses min(64 / (bs / 4096), nr_bufs < 50 ? 18 : nr_bufs − 4),
    /// which can exceed a small pool; here one segment carries a whole block
    /// and a prefetch never evicts more than half the free buffers.
    pub fn readahead_limit(&self) -> usize {
        self.inner.borrow().readahead_limit()
    }

    /// The file server expects to need `blocks` of `dev` soon (MINIX
    /// `lmfs_prefetch`); `blocks[0]` is needed now. The set may be unordered
    /// and hold duplicates. From `blocks[0]` = base, the run of consecutive
    /// numbers present in the set below base (`nr_before`) and above it
    /// (`nr_after`) is found (entries more than 64 away are ignored); of the
    /// span `nr_before + 1 + nr_after`, `nr = min(span, readahead_limit())`
    /// blocks are read starting at `base - min(nr_before, nr - 1)`, so base
    /// is always in range. Blocks already cached are skipped (never
    /// overwritten); the absent ones are read with one vectored read.
    /// Prefetched blocks go to the LRU rear unreferenced. Returns the number
    /// of blocks read; a device error is returned (nothing cached for the
    /// failed part); a short read at the device end is not an error.
    pub fn prefetch(&self, dev: Dev, blocks: &[BlockNo]) -> Result<usize> {
        let Some(&base) = blocks.first() else {
            return Ok(0);
        };
        if dev == NO_DEV {
            return Err(CacheError::Invalid);
        }
        let mut before: u64 = 0;
        let mut after: u64 = 0;
        for &b in &blocks[1..] {
            if b < base && base - b <= 64 {
                before |= 1 << (base - b - 1);
            } else if b > base && b - base <= 64 {
                after |= 1 << (b - base - 1);
            }
        }
        let nr_before = before.trailing_ones() as usize;
        let nr_after = after.trailing_ones() as usize;
        let mut g = self.inner.borrow_mut();
        let bs = g.block_size(dev).ok_or(CacheError::NoDevice)?;
        if base > u64::MAX / bs as u64 {
            return Err(CacheError::Invalid);
        }
        let span = nr_before + 1 + nr_after;
        let nr = span.min(g.readahead_limit());
        let start = base - nr_before.min(nr - 1) as u64;
        let (n, _) = g.fill_range(dev, start, nr, bs, None)?;
        Ok(n)
    }

    /// For `bio`: a byte transfer starts at `block`. If it continues the
    /// previous one sequentially (and read-ahead is on), grow and return the
    /// device's read-ahead window (blocks to read from `block` on, possibly
    /// past the end of this transfer); else reset it and return 0.
    pub(crate) fn seq_window(&self, dev: Dev, block: BlockNo) -> usize {
        let mut g = self.inner.borrow_mut();
        let limit = g.readahead_limit();
        let on = g.readahead;
        let Some(h) = g.handles.iter_mut().find(|h| h.dev == dev) else {
            return 0;
        };
        // A transfer may resume inside the block the previous one ended in.
        if on && (block == h.ra_next || block.wrapping_add(1) == h.ra_next) {
            h.ra_window = (h.ra_window * 2).max(8).min(limit);
            h.ra_window
        } else {
            h.ra_window = 1;
            0
        }
    }

    /// Internal helper for `bio`: read blocks `start .. start+n` that are
    /// absent, the last `last_size` bytes.
    pub(crate) fn fill_range(
        &self,
        dev: Dev,
        start: BlockNo,
        n: usize,
        last_size: usize,
    ) -> Result<usize> {
        self.inner
            .borrow_mut()
            .fill_range(dev, start, n, last_size, None)
            .map(|(n, _)| n)
    }

    /// Record the file system's block usage (MINIX `lmfs_set_blockusage`).
    /// `Invalid` if `used > total`.
    pub fn set_blockusage(&self, total: u64, used: u64) -> Result<()> {
        if used > total {
            return Err(CacheError::Invalid);
        }
        let mut g = self.inner.borrow_mut();
        g.usage = BlockUsage {
            total,
            used,
            free: total - used,
        };
        g.region.usage = (total, used);
        Ok(())
    }

    /// Add `delta` (negative: subtract) to the used blocks (MINIX
    /// `lmfs_change_blockusage`), clamped to `0..=total`; a clamp is counted
    /// in [`Counters::usage_clamps`]. Returns the new usage.
    pub fn change_blockusage(&self, delta: i64) -> BlockUsage {
        let mut g = self.inner.borrow_mut();
        let u = g.usage;
        let used = if delta >= 0 {
            let d = delta as u64;
            if d > u.free {
                g.counters.usage_clamps += 1;
            }
            u.used + d.min(u.free)
        } else {
            let d = delta.unsigned_abs();
            if d > u.used {
                g.counters.usage_clamps += 1;
            }
            u.used - d.min(u.used)
        };
        g.usage = BlockUsage {
            total: u.total,
            used,
            free: u.total - used,
        };
        g.region.usage = (u.total, used);
        g.usage
    }

    /// Block usage for `statvfs`, without asking the file system. Kept in
    /// the region, so it survives an owner crash.
    pub fn stats(&self) -> BlockUsage {
        self.inner.borrow().usage
    }

    /// Event counters.
    pub fn counters(&self) -> Counters {
        self.inner.borrow().counters
    }

    /// (dev, block) of the unreferenced cached blocks, next victim first.
    #[cfg(test)]
    pub(crate) fn lru_order(&self) -> Vec<(Dev, BlockNo)> {
        let g = self.inner.borrow();
        g.unreferenced(|s| s.meta.dev != NO_DEV)
            .into_iter()
            .map(|i| {
                let m = &g.region.slots[i as usize].meta;
                (m.dev, m.block)
            })
            .collect()
    }

    /// Reference count of a cached block.
    #[cfg(test)]
    pub(crate) fn refcount(&self, dev: Dev, block: BlockNo) -> Option<u32> {
        let g = self.inner.borrow();
        g.lookup(dev, block)
            .map(|i| g.region.slots[i as usize].meta.refcount)
    }

    /// Check the internal invariants; a description of the first violation.
    /// For tests and debugging; O(buffers).
    pub fn check_invariants(&self) -> core::result::Result<(), &'static str> {
        let g = self.inner.borrow();
        let slots = &g.region.slots;
        g.index
            .check(&|i| slots.get(i as usize).is_none_or(|s| s.meta.refcount > 0))?;
        let mut candidates = g.unreferenced(|_| true);
        candidates.sort_unstable();
        if candidates.windows(2).any(|w| w[0] == w[1]) {
            return Err("slot twice in the replacement order");
        }
        let bufs = &g.region.bufs;
        if bufs.len() != slots.len() {
            return Err("buffer table length wrong");
        }
        let unreferenced = slots
            .iter()
            .zip(bufs)
            .filter(|(s, b)| s.meta.refcount == 0 && b.is_some())
            .count();
        if candidates.len() != unreferenced {
            return Err("unreferenced slot missing from the replacement order");
        }
        let keyed = slots.iter().filter(|s| s.meta.dev != NO_DEV).count();
        if keyed != g.index.len() {
            return Err("index holds stale keys");
        }
        let mut live = 0;
        let mut used = 0;
        for (k, (s, buf)) in slots.iter().zip(bufs).enumerate() {
            if buf.is_some() {
                live += 1;
            }
            if s.meta.refcount > 0 {
                used += 1;
            }
            if s.meta.dev != NO_DEV {
                if g.lookup(s.meta.dev, s.meta.block) != Some(k as u32) {
                    return Err("slot missing from hash");
                }
                if buf
                    .as_ref()
                    .is_none_or(|b| b.borrow().len() != s.meta.bytes as usize)
                {
                    return Err("size mismatch");
                }
            }
        }
        if live != g.nr_live || used != g.in_use {
            return Err("counts wrong");
        }
        Ok(())
    }
}
