//! Half-open address ranges `[start, end)`.

/// A half-open range of addresses `[start, end)`. Empty when `start >= end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrRange {
    /// First address in the range.
    pub start: u64,
    /// One past the last address in the range.
    pub end: u64,
}

impl AddrRange {
    /// The range `[start, end)`.
    pub const fn new(start: u64, end: u64) -> Self {
        Self { start, end }
    }

    /// The range of `len` bytes at `start`, or `None` if it wraps around.
    pub fn from_len(start: u64, len: u64) -> Option<Self> {
        start.checked_add(len).map(|end| Self { start, end })
    }

    /// True when the range holds no address.
    pub const fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// Number of bytes in the range.
    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// True when the two ranges share at least one address.
    pub const fn overlaps(&self, other: &AddrRange) -> bool {
        !self.is_empty() && !other.is_empty() && self.start < other.end && other.start < self.end
    }

    /// True when `other` lies entirely inside `self` (an empty `other` is
    /// contained anywhere).
    pub const fn contains_range(&self, other: &AddrRange) -> bool {
        other.is_empty() || (self.start <= other.start && other.end <= self.end)
    }

    /// The range widened to whole pages of `page` bytes (a power of two).
    pub const fn page_aligned(&self, page: u64) -> AddrRange {
        let start = self.start & !(page - 1);
        let end = match self.end.checked_add(page - 1) {
            Some(e) => e & !(page - 1),
            None => !(page - 1),
        };
        AddrRange { start, end }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_rules() {
        let a = AddrRange::new(0x1000, 0x2000);
        assert!(a.overlaps(&AddrRange::new(0x1fff, 0x3000)));
        assert!(!a.overlaps(&AddrRange::new(0x2000, 0x3000)));
        assert!(!a.overlaps(&AddrRange::new(0x1800, 0x1800)));
        assert!(a.contains_range(&AddrRange::new(0x1000, 0x2000)));
        assert!(!a.contains_range(&AddrRange::new(0x1000, 0x2001)));
        assert_eq!(AddrRange::from_len(u64::MAX, 2), None);
        assert_eq!(
            AddrRange::new(0x1001, 0x2001).page_aligned(0x1000),
            AddrRange::new(0x1000, 0x3000)
        );
    }
}
