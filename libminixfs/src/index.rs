//! The block index and replacement order of the cache's buffer slots,
//! behind one trait so two implementations can be measured against each
//! other (`cargo bench -p libminixfs`):
//!
//! * [`Intrusive`]: hash chains and an intrusive doubly-linked LRU list of
//!   the unreferenced slots, both in one compact node array indexed by slot;
//! * `LruCrate` (feature `lru-crate`): `lru::LruCache` keyed by (device,
//!   block), every cached block in it, promoted when its last reference
//!   goes; referenced blocks are skipped when a victim is chosen.
//!
//! Measured (see the crate README), the `lru` crate costs far more than the
//! 10% the design allows on the hit path (two hash look-ups per get + put,
//! and its boxed nodes miss the cache), so the intrusive index is the one
//! servers use, and `LruCrate` stays only to keep the comparison measurable.
//!
//! The cache tells the index every change of a slot's identity and every
//! first reference and last release (MINIX rule: only unreferenced blocks
//! may be evicted). The index is volatile: it is rebuilt when a
//! [`crate::CacheRegion`] is adopted, never stored in it.

use alloc::vec;
use alloc::vec::Vec;

use crate::{BlockNo, Dev, NO_DEV};

/// (device, block) of a cached block.
pub type Key = (Dev, BlockNo);

mod sealed {
    pub trait Sealed {}
}

/// Finds the slot holding a (device, block) and orders the unreferenced
/// slots for replacement. Implemented by [`Intrusive`] and [`LruCrate`]
/// only; the methods are called by the cache, never by its users.
pub trait BlockIndex: sealed::Sealed {
    /// An empty index for a cache of `capacity` buffers and `slots` slots.
    fn new(capacity: usize, slots: usize) -> Self;
    /// One more slot exists (its number is the previous slot count).
    fn add_slot(&mut self);
    /// The cache now holds up to `capacity` buffers.
    fn resize(&mut self, capacity: usize);
    /// The slot holding `key`.
    fn lookup(&self, key: Key) -> Option<u32>;
    /// Referenced `slot` now holds `key` (absent before).
    fn insert(&mut self, key: Key, slot: u32);
    /// `slot` no longer holds `key`. An `unreferenced` slot keeps its memory
    /// and becomes the first candidate for reuse.
    fn remove(&mut self, key: Key, slot: u32, unreferenced: bool);
    /// Unreferenced `slot` (holding `key`, or no block) is taken: first
    /// reference, reuse as a victim, or retirement. It stops being a
    /// replacement candidate.
    fn acquire(&mut self, key: Option<Key>, slot: u32);
    /// The last reference of `slot` went: it becomes the most recently used
    /// candidate, or the first one if it holds no block.
    fn release(&mut self, key: Option<Key>, slot: u32);
    /// The first slot in replacement order (next victim first) for which
    /// `pred` holds. May offer referenced slots: `pred` must refuse them.
    fn find(&self, pred: impl FnMut(u32) -> bool) -> Option<u32>;
    /// Number of keys.
    fn len(&self) -> usize;
    /// True if no key is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Structural checks, given which slots are referenced.
    fn check(&self, referenced: &dyn Fn(u32) -> bool) -> Result<(), &'static str>;
}

/// "No slot" in the intrusive links.
const NIL: u32 = u32::MAX;
/// `prev` of a slot that is not on the LRU list.
const OFF: u32 = u32::MAX - 1;

/// Hash chain and LRU links of one slot, with its key, so a hit and its
/// release touch one node of the slot plus its list neighbours.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct Node {
    block: BlockNo,
    dev: Dev,
    chain: u32,
    prev: u32,
    next: u32,
}

impl Node {
    const EMPTY: Node = Node {
        block: 0,
        dev: NO_DEV,
        chain: NIL,
        prev: OFF,
        next: NIL,
    };
}

/// Hash chains plus an intrusive LRU list of the unreferenced slots.
pub struct Intrusive {
    buckets: Vec<u32>,
    hash_bits: u32,
    nodes: Vec<Node>,
    /// Least recently used (next victim).
    head: u32,
    /// Most recently used.
    tail: u32,
    keys: usize,
}

fn bucket_bits(capacity: usize) -> u32 {
    capacity.max(16).next_power_of_two().trailing_zeros()
}

impl Intrusive {
    #[inline]
    fn bucket(&self, (dev, block): Key) -> usize {
        let h = (block ^ ((dev as u64) << 40) ^ dev as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> (64 - self.hash_bits)) as usize
    }

    fn chain_insert(&mut self, slot: u32) {
        let n = self.nodes[slot as usize];
        let b = self.bucket((n.dev, n.block));
        self.nodes[slot as usize].chain = self.buckets[b];
        self.buckets[b] = slot;
    }

    #[inline]
    fn unlink(&mut self, i: u32) {
        let Node { prev, next, .. } = self.nodes[i as usize];
        if prev == OFF {
            return;
        }
        self.nodes[i as usize].prev = OFF;
        self.nodes[i as usize].next = NIL;
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
    }

    #[inline]
    fn push_back(&mut self, i: u32) {
        let t = self.tail;
        self.nodes[i as usize].prev = t;
        self.nodes[i as usize].next = NIL;
        if t == NIL {
            self.head = i;
        } else {
            self.nodes[t as usize].next = i;
        }
        self.tail = i;
    }

    fn push_front(&mut self, i: u32) {
        let h = self.head;
        self.nodes[i as usize].prev = NIL;
        self.nodes[i as usize].next = h;
        if h == NIL {
            self.tail = i;
        } else {
            self.nodes[h as usize].prev = i;
        }
        self.head = i;
    }
}

impl sealed::Sealed for Intrusive {}

impl BlockIndex for Intrusive {
    fn new(capacity: usize, slots: usize) -> Self {
        let bits = bucket_bits(capacity);
        Intrusive {
            buckets: vec![NIL; 1 << bits],
            hash_bits: bits,
            nodes: vec![Node::EMPTY; slots],
            head: NIL,
            tail: NIL,
            keys: 0,
        }
    }

    fn add_slot(&mut self) {
        self.nodes.push(Node::EMPTY);
    }

    fn resize(&mut self, capacity: usize) {
        let bits = bucket_bits(capacity);
        if bits == self.hash_bits {
            return;
        }
        self.hash_bits = bits;
        self.buckets = vec![NIL; 1 << bits];
        for i in 0..self.nodes.len() {
            if self.nodes[i].dev != NO_DEV {
                self.chain_insert(i as u32);
            }
        }
    }

    #[inline]
    fn lookup(&self, key: Key) -> Option<u32> {
        let mut i = self.buckets[self.bucket(key)];
        while i != NIL {
            let n = &self.nodes[i as usize];
            if n.block == key.1 && n.dev == key.0 {
                return Some(i);
            }
            i = n.chain;
        }
        None
    }

    fn insert(&mut self, key: Key, slot: u32) {
        let n = &mut self.nodes[slot as usize];
        n.dev = key.0;
        n.block = key.1;
        self.keys += 1;
        self.chain_insert(slot);
    }

    fn remove(&mut self, key: Key, slot: u32, unreferenced: bool) {
        let b = self.bucket(key);
        let next = self.nodes[slot as usize].chain;
        if self.buckets[b] == slot {
            self.buckets[b] = next;
        } else {
            let mut p = self.buckets[b];
            while p != NIL {
                let pn = self.nodes[p as usize].chain;
                if pn == slot {
                    self.nodes[p as usize].chain = next;
                    break;
                }
                p = pn;
            }
        }
        let n = &mut self.nodes[slot as usize];
        n.chain = NIL;
        n.dev = NO_DEV;
        n.block = 0;
        self.keys -= 1;
        if unreferenced {
            self.unlink(slot);
            self.push_front(slot);
        }
    }

    #[inline]
    fn acquire(&mut self, _key: Option<Key>, slot: u32) {
        self.unlink(slot);
    }

    #[inline]
    fn release(&mut self, key: Option<Key>, slot: u32) {
        if key.is_some() {
            self.push_back(slot);
        } else {
            self.push_front(slot);
        }
    }

    fn find(&self, mut pred: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut i = self.head;
        while i != NIL {
            if pred(i) {
                return Some(i);
            }
            i = self.nodes[i as usize].next;
        }
        None
    }

    fn len(&self) -> usize {
        self.keys
    }

    fn check(&self, referenced: &dyn Fn(u32) -> bool) -> Result<(), &'static str> {
        let mut i = self.head;
        let mut prev = NIL;
        let mut n = 0;
        while i != NIL {
            if self.nodes[i as usize].prev != prev {
                return Err("broken LRU links");
            }
            if referenced(i) {
                return Err("referenced slot on the LRU list");
            }
            n += 1;
            if n > self.nodes.len() {
                return Err("LRU cycle");
            }
            prev = i;
            i = self.nodes[i as usize].next;
        }
        if self.tail != prev {
            return Err("LRU tail wrong");
        }
        let listed = self.nodes.iter().filter(|n| n.prev != OFF).count();
        if listed != n {
            return Err("slot marked listed but not on the LRU list");
        }
        Ok(())
    }
}

/// `lru::LruCache` over every cached block (referenced or not), plus the
/// unreferenced slots that hold memory but no block, reused first. Only with
/// the `lru-crate` feature (the benchmark and the tests turn it on).
#[cfg(feature = "lru-crate")]
pub struct LruCrate {
    map: lru::LruCache<Key, u32>,
    /// Slots without a block, last pushed reused first.
    loose: Vec<u32>,
}

#[cfg(feature = "lru-crate")]
impl sealed::Sealed for LruCrate {}

#[cfg(feature = "lru-crate")]
impl BlockIndex for LruCrate {
    fn new(_capacity: usize, _slots: usize) -> Self {
        // Unbounded: a bounded `LruCache` would evict on its own, and the
        // cache may hold more blocks than its capacity while they are
        // referenced.
        LruCrate {
            map: lru::LruCache::unbounded(),
            loose: Vec::new(),
        }
    }

    fn add_slot(&mut self) {}

    fn resize(&mut self, _capacity: usize) {}

    #[inline]
    fn lookup(&self, key: Key) -> Option<u32> {
        self.map.peek(&key).copied()
    }

    fn insert(&mut self, key: Key, slot: u32) {
        self.map.put(key, slot);
    }

    fn remove(&mut self, key: Key, slot: u32, unreferenced: bool) {
        self.map.pop(&key);
        if unreferenced {
            self.loose.push(slot);
        }
    }

    #[inline]
    fn acquire(&mut self, key: Option<Key>, slot: u32) {
        // A block stays in the map while referenced; only a slot without a
        // block leaves the candidates.
        if key.is_none()
            && let Some(k) = self.loose.iter().rposition(|&s| s == slot)
        {
            self.loose.swap_remove(k);
        }
    }

    #[inline]
    fn release(&mut self, key: Option<Key>, slot: u32) {
        match key {
            Some(k) => {
                self.map.promote(&k);
            }
            None => self.loose.push(slot),
        }
    }

    fn find(&self, mut pred: impl FnMut(u32) -> bool) -> Option<u32> {
        self.loose
            .iter()
            .rev()
            .copied()
            .chain(self.map.iter().rev().map(|(_, &s)| s))
            .find(|&s| pred(s))
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn check(&self, referenced: &dyn Fn(u32) -> bool) -> Result<(), &'static str> {
        if self.loose.iter().any(|&s| referenced(s)) {
            return Err("referenced slot among the loose ones");
        }
        let mut loose = self.loose.clone();
        loose.sort_unstable();
        if loose.windows(2).any(|w| w[0] == w[1]) {
            return Err("loose slot listed twice");
        }
        if self.map.iter().any(|(_, s)| loose.binary_search(s).is_ok()) {
            return Err("slot both loose and holding a block");
        }
        Ok(())
    }
}
