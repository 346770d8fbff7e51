//! DMA memory for drivers: physically contiguous, zeroed pages from the
//! kernel (`DmaAlloc`) at addresses in the DMA window, read and written with
//! volatile accesses because a device changes them behind the program's
//! back (virtqueue rings, request headers, status bytes).

use abi::Errno;
use core::sync::atomic::{AtomicU64, Ordering, fence};

/// Start of the user window DMA regions are mapped in (above the heap
/// window `abi::HEAP_BASE..abi::HEAP_END`, below the stack).
pub const DMA_BASE: u64 = 0x6800_0000;
/// One past the end of the DMA window.
pub const DMA_END: u64 = 0x7000_0000;
const PAGE: u64 = 4096;

/// Next free address in the DMA window (regions are never given back).
static NEXT: AtomicU64 = AtomicU64::new(DMA_BASE);

/// A physically contiguous region of DMA memory, mapped for the program.
#[derive(Debug)]
pub struct DmaRegion {
    addr: u64,
    len: usize,
    phys: u64,
}

impl DmaRegion {
    /// `pages` fresh zeroed pages (at most `abi::MAX_DMA_PAGES`).
    pub fn alloc(pages: u64) -> Result<DmaRegion, Errno> {
        if pages == 0 || pages > abi::MAX_DMA_PAGES {
            return Err(Errno::Inval);
        }
        let len = pages * PAGE;
        let addr = NEXT
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |a| {
                a.checked_add(len).filter(|end| *end <= DMA_END)
            })
            .map_err(|_| Errno::Inval)?;
        let phys = crate::sys::dma_alloc(addr, pages)?;
        Ok(DmaRegion {
            addr,
            len: len as usize,
            phys,
        })
    }

    /// Physical address of byte `offset` (for the device).
    pub fn phys(&self, offset: usize) -> u64 {
        self.phys + offset as u64
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty region (never: regions have at least one page).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check(&self, offset: usize, n: usize) -> Result<(), Errno> {
        match offset.checked_add(n) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(Errno::Inval),
        }
    }

    /// Copies `buf.len()` bytes at `offset` out of the region (volatile).
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), Errno> {
        self.check(offset, buf.len())?;
        fence(Ordering::SeqCst);
        let base = (self.addr as usize + offset) as *const u8;
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: `offset + i < len` was checked; the region's pages were
            // mapped writable for this process by `DmaAlloc` and are never
            // unmapped; volatile because the device writes them.
            *b = unsafe { core::ptr::read_volatile(base.add(i)) };
        }
        Ok(())
    }

    /// Copies `data` into the region at `offset` (volatile).
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), Errno> {
        self.check(offset, data.len())?;
        let base = (self.addr as usize + offset) as *mut u8;
        for (i, b) in data.iter().enumerate() {
            // SAFETY: as in `read`; no Rust reference to this memory exists,
            // so writing through the raw pointer aliases nothing.
            unsafe { core::ptr::write_volatile(base.add(i), *b) };
        }
        fence(Ordering::SeqCst);
        Ok(())
    }
}
