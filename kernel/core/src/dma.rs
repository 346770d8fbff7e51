//! DMA address checks (`UMap`, `UMapGrant`): where a user range lives in
//! physical memory, and whether a device can reach it with one address.

use crate::frame::FRAME_SIZE;

/// Longest range one `UMap` / `UMapGrant` call resolves (bytes).
pub const MAX_UMAP_LEN: u64 = 4 * 1024 * 1024;

/// Why a range cannot be given to a device as one physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaError {
    /// Empty, too long, or wrapping around.
    BadLength,
    /// Some page is not mapped (or not with the rights asked for).
    Unmapped,
    /// The pages are mapped but not physically contiguous.
    NotContiguous,
}

impl DmaError {
    /// The errno a system call returns for it.
    pub fn errno(self) -> abi::Errno {
        match self {
            DmaError::BadLength | DmaError::NotContiguous => abi::Errno::Inval,
            DmaError::Unmapped => abi::Errno::Fault,
        }
    }
}

/// The physical address of user address `addr`, provided the `len` bytes
/// from there are all mapped (`translate` gives the physical address of a
/// user address, `None` when unmapped) and physically contiguous.
pub fn contiguous(
    addr: u64,
    len: u64,
    translate: impl Fn(u64) -> Option<u64>,
) -> Result<u64, DmaError> {
    if len == 0 || len > MAX_UMAP_LEN {
        return Err(DmaError::BadLength);
    }
    let end = addr.checked_add(len).ok_or(DmaError::BadLength)?;
    let base = translate(addr).ok_or(DmaError::Unmapped)?;
    let mut page = (addr & !(FRAME_SIZE - 1)) + FRAME_SIZE;
    while page < end {
        let pa = translate(page).ok_or(DmaError::Unmapped)?;
        if Some(pa) != base.checked_add(page - addr) {
            return Err(DmaError::NotContiguous);
        }
        page += FRAME_SIZE;
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages 0x1000.. map to 0x80000.. except page 0x4000 (to 0x90000) and
    /// page 0x6000 (unmapped).
    fn pt(va: u64) -> Option<u64> {
        let (page, off) = (va & !0xFFF, va & 0xFFF);
        match page {
            0x6000 => None,
            0x4000 => Some(0x90000 + off),
            0x1000..0x10000 => Some(0x80000 + (page - 0x1000) + off),
            _ => None,
        }
    }

    #[test]
    fn contiguous_ranges_resolve() {
        assert_eq!(contiguous(0x1010, 1, pt), Ok(0x80010));
        assert_eq!(contiguous(0x1ff0, 0x20, pt), Ok(0x80ff0));
        assert_eq!(contiguous(0x1000, 0x3000, pt), Ok(0x80000));
        // Exactly up to the page before the remapped one.
        assert_eq!(contiguous(0x3800, 0x800, pt), Ok(0x82800));
    }

    #[test]
    fn bad_ranges_are_errors() {
        assert_eq!(contiguous(0x1000, 0, pt), Err(DmaError::BadLength));
        assert_eq!(
            contiguous(0x1000, MAX_UMAP_LEN + 1, pt),
            Err(DmaError::BadLength)
        );
        assert_eq!(contiguous(u64::MAX, 2, pt), Err(DmaError::BadLength));
        assert_eq!(contiguous(0x3800, 0x801, pt), Err(DmaError::NotContiguous));
        assert_eq!(contiguous(0x5000, 0x1001, pt), Err(DmaError::Unmapped));
        assert_eq!(contiguous(0x20000, 1, pt), Err(DmaError::Unmapped));
        assert_eq!(DmaError::Unmapped.errno(), abi::Errno::Fault);
    }
}
