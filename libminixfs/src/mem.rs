//! Block memory. Blocks whose size is a multiple of 4 KiB live in
//! page-aligned allocations (one allocation never straddles more pages than
//! the block needs, and copies run on aligned cache lines); other sizes
//! (1 KiB, 2 KiB blocks, a partial last block) in plain byte boxes.

use alloc::boxed::Box;
use alloc::vec;

use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

/// Alignment and granule of page-backed blocks.
pub(crate) const PAGE: usize = 4096;

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C, align(4096))]
pub(crate) struct Page([u8; PAGE]);

/// The bytes of one cached block.
pub(crate) enum BlockMem {
    Pages(Box<[Page]>),
    Bytes(Box<[u8]>),
}

impl BlockMem {
    /// `size` zero bytes; `None` if memory is exhausted.
    pub(crate) fn zeroed(size: usize) -> Option<BlockMem> {
        if size >= PAGE && size.is_multiple_of(PAGE) {
            <[Page]>::new_box_zeroed_with_elems(size / PAGE)
                .ok()
                .map(BlockMem::Pages)
        } else {
            Some(BlockMem::Bytes(vec![0u8; size].into_boxed_slice()))
        }
    }

    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            BlockMem::Pages(p) => p.as_bytes(),
            BlockMem::Bytes(b) => b,
        }
    }

    #[inline]
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            BlockMem::Pages(p) => p.as_mut_bytes(),
            BlockMem::Bytes(b) => b,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            BlockMem::Pages(p) => p.len() * PAGE,
            BlockMem::Bytes(b) => b.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_blocks_are_aligned_and_zero() {
        for size in [4096, 8192, 65536] {
            let m = BlockMem::zeroed(size).unwrap();
            assert_eq!(m.len(), size);
            assert_eq!(m.bytes().as_ptr() as usize % PAGE, 0);
            assert!(m.bytes().iter().all(|&b| b == 0));
        }
        let mut m = BlockMem::zeroed(1536).unwrap();
        assert!(matches!(m, BlockMem::Bytes(_)));
        m.bytes_mut()[1535] = 1;
        assert_eq!(m.bytes()[1535], 1);
    }
}
