//! A legacy split virtqueue in DMA memory (virtio 0.9.5 / 1.0 legacy
//! layout): the descriptor table, the driver's available ring and,
//! 4096-aligned after them, the device's used ring. Every ring entry is a
//! `zerocopy` struct read and written through [`DmaRegion`].

use alloc::vec::Vec;
use rt::abi::Errno;
use rt::dma::DmaRegion;
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Descriptor flag: the chain continues at `next`.
pub const DESC_NEXT: u16 = 1;
/// Descriptor flag: the device writes this buffer.
pub const DESC_WRITE: u16 = 2;
/// Largest queue this driver sets up.
pub const MAX_QUEUE: u16 = 256;
const ALIGN: usize = 4096;

/// One descriptor (`struct virtq_desc`).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct Desc {
    /// Physical address of the buffer.
    pub addr: U64,
    /// Its length.
    pub len: U32,
    /// `DESC_*` flags.
    pub flags: U16,
    /// Next descriptor of the chain.
    pub next: U16,
}

/// One used-ring element (`struct virtq_used_elem`).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct UsedElem {
    /// Head descriptor of the finished chain.
    pub id: U32,
    /// Bytes the device wrote.
    pub len: U32,
}

/// A buffer of a chain: physical address, length, device writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buf {
    /// Physical address.
    pub phys: u64,
    /// Length in bytes.
    pub len: u32,
    /// The device writes (true) or reads (false) it.
    pub device_writes: bool,
}

/// Byte offsets of the three parts for a queue of `n` entries, and the
/// pages the whole queue takes.
pub fn layout(n: u16) -> (usize, usize, usize) {
    let n = usize::from(n);
    let avail = 16 * n;
    let used = (avail + 6 + 2 * n).next_multiple_of(ALIGN);
    let total = (used + 6 + 8 * n).next_multiple_of(ALIGN);
    (avail, used, total / ALIGN)
}

/// One split virtqueue.
pub struct Queue {
    mem: DmaRegion,
    size: u16,
    avail: usize,
    used: usize,
    free: Vec<u16>,
    avail_idx: u16,
    last_used: u16,
}

fn read<T: FromBytes>(mem: &DmaRegion, off: usize) -> Result<T, Errno> {
    let mut b = [0u8; 16];
    let n = core::mem::size_of::<T>();
    let buf = b.get_mut(..n).ok_or(Errno::Inval)?;
    mem.read(off, buf)?;
    T::read_from_bytes(buf).map_err(|_| Errno::Inval)
}

impl Queue {
    /// A zeroed queue of `size` entries (a power of two, at most
    /// [`MAX_QUEUE`]) in fresh DMA memory.
    pub fn new(size: u16) -> Result<Queue, Errno> {
        if size == 0 || !size.is_power_of_two() || size > MAX_QUEUE {
            return Err(Errno::Inval);
        }
        let (avail, used, pages) = layout(size);
        let mem = DmaRegion::alloc(pages as u64)?;
        Ok(Queue {
            mem,
            size,
            avail,
            used,
            free: (0..size).rev().collect(),
            avail_idx: 0,
            last_used: 0,
        })
    }

    /// Physical page number of the queue (for the legacy `QUEUE_PFN`).
    pub fn pfn(&self) -> u32 {
        (self.mem.phys(0) >> 12) as u32
    }

    /// Entries in the queue.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Descriptors free now.
    pub fn free(&self) -> usize {
        self.free.len()
    }

    /// The head the next [`Self::submit`] will use.
    pub fn peek_head(&self) -> Option<u16> {
        self.free.last().copied()
    }

    /// Puts a chain of `bufs` in the descriptor table and makes it
    /// available; returns its head. The caller then notifies the device.
    pub fn submit(&mut self, bufs: &[Buf]) -> Result<u16, Errno> {
        if bufs.is_empty() || bufs.len() > self.free.len() {
            return Err(Errno::Inval);
        }
        let ids: Vec<u16> = (0..bufs.len()).filter_map(|_| self.free.pop()).collect();
        for (i, (b, &id)) in bufs.iter().zip(&ids).enumerate() {
            let next = ids.get(i + 1).copied();
            let flags = if next.is_some() { DESC_NEXT } else { 0 }
                | if b.device_writes { DESC_WRITE } else { 0 };
            let d = Desc {
                addr: U64::new(b.phys),
                len: U32::new(b.len),
                flags: U16::new(flags),
                next: U16::new(next.unwrap_or(0)),
            };
            self.mem.write(16 * usize::from(id), d.as_bytes())?;
        }
        let head = ids[0];
        let slot = self.avail + 4 + 2 * usize::from(self.avail_idx % self.size);
        self.mem.write(slot, &head.to_le_bytes())?;
        // The entry must be visible before the index that publishes it
        // (`DmaRegion::write` fences after each write).
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.mem
            .write(self.avail + 2, &self.avail_idx.to_le_bytes())?;
        Ok(head)
    }

    /// The next chain the device finished, if any: (head, bytes written).
    /// Its descriptors are free again.
    pub fn pop_used(&mut self) -> Result<Option<(u16, u32)>, Errno> {
        let idx: U16 = read(&self.mem, self.used + 2)?;
        if idx.get() == self.last_used {
            return Ok(None);
        }
        let off = self.used + 4 + 8 * usize::from(self.last_used % self.size);
        let e: UsedElem = read(&self.mem, off)?;
        self.last_used = self.last_used.wrapping_add(1);
        let head = u16::try_from(e.id.get())
            .ok()
            .filter(|h| *h < self.size)
            .ok_or(Errno::Inval)?;
        // Free the chain.
        let mut id = head;
        for _ in 0..self.size {
            let d: Desc = read(&self.mem, 16 * usize::from(id))?;
            self.free.push(id);
            if d.flags.get() & DESC_NEXT == 0 {
                break;
            }
            id = d.next.get() % self.size;
        }
        Ok(Some((head, e.len.get())))
    }
}
