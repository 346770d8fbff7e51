//! MINIX test85 (end-of-file handling on block devices), the parts every
//! runner shares: `fstest test85` (a boot program), `/bin/test85` (a disk
//! program with the peek sequences) and the host tests that rebuild the
//! expected disks (`tests/tests/qemu_fs_test85.rs`,
//! `tests/tests/qemu_proc_test85.rs`). Plain Rust, no I/O.
//!
//! * [`fill`]: the data pattern (byte `off` of data tagged `tag`).
//! * [`Rng`], [`shuffle`]: the deterministic choices.
//! * [`case`], [`NAMES`]: the six cases around the end of a device of `s`
//!   bytes: (position, length, expected count).
//! * [`PeekCheck`]: what a peek (`mmap(PROT_READ, MAP_PRIVATE)` of the
//!   device) must show.
#![no_std]
#![forbid(unsafe_code)]

/// Byte `off` of data tagged `tag`.
pub fn fill(tag: u32, off: u64) -> u8 {
    let mut x = off ^ (u64::from(tag) << 40) ^ 0x9e37_79b9_7f4a_7c15;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    (x >> 29) as u8
}

/// A small deterministic generator (xorshift64). The state must not be 0.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// The cases' names, by number.
pub const NAMES: [&str; 6] = [
    "BEFORE_EOF",
    "UPTO_EOF",
    "ACROSS_EOF",
    "ONEPAST_EOF",
    "FROM_EOF",
    "BEYOND_EOF",
];

/// Case `k` (0..6, see [`NAMES`]) on a device of `s` bytes (`s >= 2`):
/// (position, length, expected count), as test85's `do_one_io`.
pub fn case(k: usize, s: u64, r: &mut Rng) -> (u64, u64, u64) {
    match k {
        0 => {
            let n = r.range(1, s - 1);
            (s - n - 1, n, n)
        }
        1 => {
            let n = r.range(1, s);
            (s - n, n, n)
        }
        2 => {
            let start = r.range(1, s - 1);
            (start, r.range(s - start + 1, s), s - start)
        }
        3 => {
            let n = r.range(1, s - 1);
            (s - n + 1, n, n - 1)
        }
        4 => (s, r.range(1, s), 0),
        _ => (r.range(s + 1, 2 * s), r.range(1, s), 0),
    }
}

/// The six cases in a random order (test85's `scramble`).
pub fn shuffle(r: &mut Rng) -> [usize; 6] {
    let mut order = [0usize, 1, 2, 3, 4, 5];
    for i in (1..order.len()).rev() {
        order.swap(i, (r.next_u64() % (i as u64 + 1)) as usize);
    }
    order
}

/// What a peek of a case must show (test85's `io_peek`): the case's
/// position rounded down and length rounded up to pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeekCheck {
    /// Mapping offset (page-aligned).
    pub pos: u64,
    /// Mapping length (whole pages).
    pub len: u64,
    /// Device bytes at the start of the mapping: `min(size - pos, len)`,
    /// 0 from the end on. The rest of that page must be zero.
    pub expected: u64,
    /// `roundup(size, page)`: a page of the mapping at device offset `n`
    /// is readable exactly when `n < mapped_size`.
    pub mapped_size: u64,
}

impl PeekCheck {
    /// The check for (position, length) on a device of `size` bytes with
    /// pages of `page` bytes.
    pub fn new(pos: u64, len: u64, size: u64, page: u64) -> PeekCheck {
        let delta = pos % page;
        let pos = pos - delta;
        let len = (len + delta).div_ceil(page) * page;
        let expected = if pos < size { (size - pos).min(len) } else { 0 };
        PeekCheck {
            pos,
            len,
            expected,
            mapped_size: size.div_ceil(page) * page,
        }
    }

    /// Whether mmap may fail (then only with `ENXIO`): the mapping reaches
    /// past `mapped_size`.
    pub fn may_fail(&self) -> bool {
        self.pos + self.len > self.mapped_size
    }

    /// Whether the page at device offset `n` of the mapping must be
    /// readable.
    pub fn readable(&self, n: u64) -> bool {
        n < self.mapped_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_match_test85() {
        let mut r = Rng(7);
        for s in [3584u64, 4096, 4608, 20_992] {
            for _ in 0..200 {
                for (k, name) in NAMES.iter().enumerate() {
                    let (pos, len, want) = case(k, s, &mut r);
                    assert!(
                        len >= 1 && len <= s && want <= len,
                        "{k} {pos} {len} {want}"
                    );
                    // The expected count is the part before the end.
                    assert_eq!(want, s.saturating_sub(pos).min(len), "{name}");
                    match k {
                        0 => assert_eq!(pos + len, s - 1),
                        1 => assert_eq!(pos + len, s),
                        2 => assert!(pos < s && pos + len > s),
                        3 => assert_eq!(pos + len, s + 1),
                        4 => assert_eq!(pos, s),
                        _ => assert!(pos > s && pos <= 2 * s),
                    }
                }
            }
        }
        let mut seen = [false; 6];
        for k in shuffle(&mut r) {
            seen[k] = true;
        }
        assert_eq!(seen, [true; 6]);
    }

    #[test]
    fn peek_checks_round_to_pages() {
        // 3 pages minus a sector: 3584 bytes in the last page.
        let s = 3 * 4096 - 512;
        let c = PeekCheck::new(5000, 100, s, 4096);
        assert_eq!(
            (c.pos, c.len, c.expected, c.mapped_size),
            (4096, 4096, 4096, 12_288)
        );
        assert!(!c.may_fail());
        let c = PeekCheck::new(8192 + 10, 5000, s, 4096);
        assert_eq!((c.pos, c.len, c.expected), (8192, 8192, 3584));
        assert!(c.may_fail());
        assert!(c.readable(8192) && !c.readable(12_288));
        // From the end on: nothing expected, and the mapping is past
        // mapped_size.
        let c = PeekCheck::new(s, 1, s, 4096);
        assert_eq!((c.pos, c.expected), (8192, 3584));
        let c = PeekCheck::new(s + 600, 1, s, 4096);
        assert_eq!((c.pos, c.expected), (12_288, 0));
        assert!(c.may_fail());
        // A whole-page device: the end is a page boundary.
        let c = PeekCheck::new(4096, 4096, 8192, 4096);
        assert_eq!(
            (c.expected, c.mapped_size, c.may_fail()),
            (4096, 8192, false)
        );
    }

    #[test]
    fn the_pattern_depends_on_tag_and_offset() {
        let a: [u8; 64] = core::array::from_fn(|o| fill(1, o as u64));
        let b: [u8; 64] = core::array::from_fn(|o| fill(2, o as u64));
        assert_ne!(a, b);
        assert!(a.iter().any(|&x| x != a[0]));
    }
}
