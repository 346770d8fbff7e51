//! The read-only image pages VM keeps: the bytes of a program's read-only
//! regions (text, rodata) as built by an exec stay in frames mapped in
//! VM's own space (a slot each), and the next exec of the same bytes at
//! the same address maps those frames read-only (kernel `SharePages`)
//! instead of fresh pages filled again. Besides the copying, a program's
//! code then stays in the same physical frames: an emulator (QEMU TCG)
//! keeps its translations, and no freed code frame is written again.
//!
//! An entry matches only bytes equal to its own, compared whole, so what a
//! process gets is exactly what it would have been given built afresh.
//! Plain Rust bookkeeping (slots, least recently used eviction); the
//! kernel calls are the server's.

use crate::regions::PAGE;
use alloc::vec::Vec;

/// Entries (slots) kept at most.
pub const SLOTS: usize = 16;
/// Pages of the largest region kept (a slot's size).
pub const SLOT_PAGES: u64 = 64;
/// Where the slots lie in VM's own space (its unused mmap area).
pub const BASE: u64 = abi::MMAP_BASE;

const _: () = assert!(BASE + SLOTS as u64 * SLOT_PAGES * PAGE <= abi::MMAP_END);

/// One kept region.
#[derive(Debug)]
struct Entry {
    slot: usize,
    /// Its address in the programs.
    start: u64,
    /// Its bytes (whole pages).
    bytes: Vec<u8>,
    /// Last use (the cache's clock).
    used: u64,
}

/// The kept regions.
#[derive(Debug, Default)]
pub struct TextCache {
    entries: Vec<Entry>,
    clock: u64,
}

/// VM's address of slot `slot`.
pub fn slot_addr(slot: usize) -> u64 {
    BASE + slot as u64 * SLOT_PAGES * PAGE
}

impl TextCache {
    /// Regions kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a region of `bytes` may be kept (whole pages, at most a
    /// slot).
    pub fn fits(bytes: &[u8]) -> bool {
        !bytes.is_empty()
            && (bytes.len() as u64).is_multiple_of(PAGE)
            && bytes.len() as u64 <= SLOT_PAGES * PAGE
    }

    /// VM's address of the kept pages holding exactly `bytes` at `start`.
    pub fn find(&mut self, start: u64, bytes: &[u8]) -> Option<u64> {
        self.clock += 1;
        let now = self.clock;
        let e = self
            .entries
            .iter_mut()
            .find(|e| e.start == start && e.bytes == bytes)?;
        e.used = now;
        Some(slot_addr(e.slot))
    }

    /// Keeps `bytes` (a region at `start`): the address of the slot the
    /// caller fills (a free one, else the least recently used one's,
    /// which is forgotten; whatever is mapped there must be unmapped
    /// first). `None` if they do not fit a slot.
    pub fn insert(&mut self, start: u64, bytes: Vec<u8>) -> Option<u64> {
        if !Self::fits(&bytes) {
            return None;
        }
        self.clock += 1;
        let slot = match (0..SLOTS).find(|s| self.entries.iter().all(|e| e.slot != *s)) {
            Some(s) => s,
            None => {
                let (i, _) = self
                    .entries
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, e)| e.used)?;
                self.entries.swap_remove(i).slot
            }
        };
        self.entries.push(Entry {
            slot,
            start,
            bytes,
            used: self.clock,
        });
        Some(slot_addr(slot))
    }

    /// Forgets the entry of the slot at `addr` (filling it failed).
    pub fn remove(&mut self, addr: u64) {
        self.entries.retain(|e| slot_addr(e.slot) != addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn equal_bytes_at_the_same_address_are_found() {
        let mut c = TextCache::default();
        let a = vec![1u8; PAGE as usize];
        let at = c.insert(abi::USER_BASE, a.clone()).unwrap();
        assert_eq!(at, BASE);
        assert_eq!(c.find(abi::USER_BASE, &a), Some(at));
        // Other bytes, or the same bytes elsewhere, are not.
        let mut b = a.clone();
        b[100] = 2;
        assert_eq!(c.find(abi::USER_BASE, &b), None);
        assert_eq!(c.find(abi::USER_BASE + PAGE, &a), None);
        assert_eq!(c.find(abi::USER_BASE, &a[..PAGE as usize / 2]), None);
        let at2 = c.insert(abi::USER_BASE, b.clone()).unwrap();
        assert_ne!(at2, at);
        assert_eq!(c.find(abi::USER_BASE, &b), Some(at2));
        assert_eq!(c.len(), 2);
        c.remove(at);
        assert_eq!(c.find(abi::USER_BASE, &a), None);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn only_whole_pages_up_to_a_slot_are_kept() {
        let mut c = TextCache::default();
        assert_eq!(c.insert(abi::USER_BASE, vec![]), None);
        assert_eq!(c.insert(abi::USER_BASE, vec![0; 100]), None);
        let big = vec![0; ((SLOT_PAGES + 1) * PAGE) as usize];
        assert_eq!(c.insert(abi::USER_BASE, big), None);
        let max = vec![0; (SLOT_PAGES * PAGE) as usize];
        assert!(c.insert(abi::USER_BASE, max).is_some());
        assert!(c.len() == 1 && !c.is_empty());
    }

    #[test]
    fn the_least_recently_used_slot_is_reused_when_full() {
        let mut c = TextCache::default();
        let page = |v: u8| vec![v; PAGE as usize];
        let addrs: Vec<u64> = (0..SLOTS as u8)
            .map(|v| c.insert(abi::USER_BASE, page(v)).unwrap())
            .collect();
        // Every slot distinct and inside the area.
        for (i, a) in addrs.iter().enumerate() {
            assert_eq!(*a, slot_addr(i));
            assert!(*a + SLOT_PAGES * PAGE <= abi::MMAP_END);
        }
        // Slot 0 used again: slot 1 is the oldest now.
        assert_eq!(c.find(abi::USER_BASE, &page(0)), Some(addrs[0]));
        let at = c.insert(abi::USER_BASE, page(200)).unwrap();
        assert_eq!(at, addrs[1]);
        assert_eq!(c.find(abi::USER_BASE, &page(1)), None);
        assert_eq!(c.find(abi::USER_BASE, &page(0)), Some(addrs[0]));
        assert_eq!(c.find(abi::USER_BASE, &page(200)), Some(at));
        assert_eq!(c.len(), SLOTS);
    }
}
