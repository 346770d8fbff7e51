//! In-memory name index of large directories (issue 15 item 2).
//!
//! MINIX directories are linear lists of fixed-size entries, so finding a
//! name, or learning that it is absent before a create, reads every entry:
//! filling one directory with n files costs O(n²). The core keeps, for
//! directories of at least [`DirIndexLimits::min_slots`] entry slots, an
//! index built from disk on first use and kept up to date by every change
//! the core makes to an entry: (hash of the name, slot) pairs and the set
//! of free slots. The on-disk format does not change.
//!
//! The index says where to look, never what is there: a name it points at
//! is read from the directory block and compared (a slot that does not
//! hold a name of that hash means the index is stale: it is dropped and
//! the linear scan answers), and a free slot it offers is checked to be
//! free before use. Absence is trusted, guarded by a fingerprint of the
//! directory inode (size and zone pointers) taken at every change: an
//! index whose directory inode changed behind the core's back is rebuilt.
//! Candidates are tried lowest slot first, so among duplicate names (a
//! damaged directory) the first in scan order wins, as in the linear scan,
//! and the first free slot is the lowest one: indexed and linear runs
//! write identical images (`tests/dirindex.rs`).
//!
//! Memory is bounded ([`DirIndexLimits`]): at most `max_dirs` directories
//! and `max_slots` slots over all of them (each slot costs a B-tree key of
//! 8 bytes or 4), least recently used evicted first. Nothing survives an
//! unmount or a server restart: indexes are rebuilt lazily from disk. A
//! directory whose build meets an error (a hole, a bad zone pointer) is
//! not indexed and gives the linear scan's errors; the failed build
//! leaves no trace (the core restores its inconsistency state), and is
//! not retried until the directory inode changes.

use alloc::collections::{BTreeMap, BTreeSet};

use crate::format::{DiskInode, V2_NR_TZONES};

/// Bounds on the indexes kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirIndexLimits {
    /// Directories with fewer entry slots are scanned (a few blocks).
    pub min_slots: u32,
    /// Most slots indexed over all directories.
    pub max_slots: usize,
    /// Most directories indexed.
    pub max_dirs: usize,
}

impl DirIndexLimits {
    /// No index: every search is the linear scan.
    pub const OFF: DirIndexLimits = DirIndexLimits {
        min_slots: u32::MAX,
        max_slots: 0,
        max_dirs: 0,
    };

    fn enabled(&self) -> bool {
        self.max_dirs > 0 && self.max_slots > 0
    }
}

impl Default for DirIndexLimits {
    /// 128 slots (two 4 KiB blocks of 64-byte entries); 128 Ki slots over
    /// 64 directories: a few MiB at most.
    fn default() -> Self {
        DirIndexLimits {
            min_slots: 128,
            max_slots: 128 * 1024,
            max_dirs: 64,
        }
    }
}

/// Counters (tests and benchmarks look at them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirIndexStats {
    /// Directories indexed now.
    pub dirs: usize,
    /// Slots indexed now.
    pub slots: usize,
    /// Indexes built from disk.
    pub builds: u64,
    /// Builds that met an error (the directory stays unindexed).
    pub failed_builds: u64,
    /// Indexes evicted to stay within the limits.
    pub evictions: u64,
    /// Indexes found stale (disk disagreed) and dropped.
    pub stale: u64,
    /// Searches answered by an index.
    pub indexed_finds: u64,
}

/// What identifies a directory's contents as the index last saw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    size: u32,
    zone: [u32; V2_NR_TZONES],
}

impl Fingerprint {
    pub(crate) fn of(dir: &DiskInode) -> Fingerprint {
        Fingerprint {
            size: dir.size,
            zone: dir.zone,
        }
    }
}

/// What a slot held before or holds after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Past the end of the directory (an append).
    Absent,
    Free,
    /// A name with this hash.
    Used(u32),
}

/// FNV-1a: names are short and the index re-checks every hit on disk.
pub(crate) fn name_hash(name: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in name {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The index of one directory.
#[derive(Debug, Default)]
pub(crate) struct DirIndex {
    names: BTreeSet<(u32, u32)>,
    free: BTreeSet<u32>,
    used: u64,
    fp: Option<Fingerprint>,
}

impl DirIndex {
    pub(crate) fn new() -> DirIndex {
        DirIndex::default()
    }

    /// Records slot `slot` as scanned from disk.
    pub(crate) fn add_scanned(&mut self, slot: u32, state: Slot) {
        match state {
            Slot::Used(h) => {
                self.names.insert((h, slot));
            }
            Slot::Free => {
                self.free.insert(slot);
            }
            Slot::Absent => {}
        }
    }

    fn held(&self) -> usize {
        self.names.len() + self.free.len()
    }

    /// Slots whose name has hash `h`, lowest first.
    pub(crate) fn candidates(&self, h: u32) -> impl Iterator<Item = u32> + '_ {
        self.names.range((h, 0)..=(h, u32::MAX)).map(|&(_, s)| s)
    }

    pub(crate) fn first_free(&self) -> Option<u32> {
        self.free.first().copied()
    }

    /// Applies one slot change; false if the index did not hold what the
    /// disk held (stale).
    fn change(&mut self, slot: u32, old: Slot, new: Slot) -> bool {
        let ok = match old {
            Slot::Absent => true,
            Slot::Free => self.free.remove(&slot),
            Slot::Used(h) => self.names.remove(&(h, slot)),
        };
        match new {
            Slot::Used(h) => {
                self.names.insert((h, slot));
            }
            Slot::Free => {
                self.free.insert(slot);
            }
            Slot::Absent => {}
        }
        ok
    }
}

/// Most directories remembered as failing to build.
const FAILED_MAX: usize = 64;

/// Every index of one mounted file system.
#[derive(Debug, Default)]
pub(crate) struct DirIndexes {
    limits: Option<DirIndexLimits>,
    dirs: BTreeMap<u32, DirIndex>,
    /// Slots held by all indexes.
    held: usize,
    tick: u64,
    failed: BTreeMap<u32, Fingerprint>,
    pub(crate) stats: DirIndexStats,
}

impl DirIndexes {
    pub(crate) fn limits(&self) -> DirIndexLimits {
        self.limits.unwrap_or_default()
    }

    pub(crate) fn set_limits(&mut self, limits: DirIndexLimits) {
        self.limits = Some(limits);
        self.clear();
    }

    pub(crate) fn clear(&mut self) {
        self.dirs.clear();
        self.failed.clear();
        self.held = 0;
    }

    pub(crate) fn stats(&self) -> DirIndexStats {
        DirIndexStats {
            dirs: self.dirs.len(),
            slots: self.held,
            ..self.stats
        }
    }

    /// Whether a directory of `slots` slots with no index should get one.
    pub(crate) fn wants(&self, ino: u32, slots: u64, fp: &Fingerprint) -> bool {
        let l = self.limits();
        l.enabled()
            && slots >= u64::from(l.min_slots)
            && slots <= l.max_slots as u64
            && self.failed.get(&ino) != Some(fp)
    }

    pub(crate) fn build_failed(&mut self, ino: u32, fp: Fingerprint) {
        if self.failed.len() >= FAILED_MAX {
            self.failed.clear();
        }
        self.failed.insert(ino, fp);
        self.stats.failed_builds += 1;
    }

    /// The index of `ino` if it matches the directory inode as it is now
    /// (one that does not is dropped).
    pub(crate) fn get(&mut self, ino: u32, fp: &Fingerprint) -> Option<&DirIndex> {
        let ok = self.dirs.get(&ino)?.fp.as_ref() == Some(fp);
        if !ok {
            self.stale(ino);
            return None;
        }
        self.tick += 1;
        let t = self.tick;
        let ix = self.dirs.get_mut(&ino)?;
        ix.used = t;
        Some(ix)
    }

    pub(crate) fn insert(&mut self, ino: u32, mut ix: DirIndex, fp: Fingerprint) {
        self.forget(ino);
        self.failed.remove(&ino);
        self.tick += 1;
        ix.used = self.tick;
        ix.fp = Some(fp);
        self.held += ix.held();
        self.dirs.insert(ino, ix);
        self.stats.builds += 1;
        self.fit(ino);
    }

    /// Evicts least recently used indexes (never `keep` unless it alone is
    /// over the limit) until within the limits.
    fn fit(&mut self, keep: u32) {
        let l = self.limits();
        while self.dirs.len() > l.max_dirs || self.held > l.max_slots {
            let victim = self
                .dirs
                .iter()
                .filter(|&(&i, _)| i != keep)
                .min_by_key(|(_, ix)| ix.used)
                .map(|(&i, _)| i)
                .unwrap_or(keep);
            self.forget(victim);
            self.stats.evictions += 1;
            if victim == keep {
                break;
            }
        }
    }

    pub(crate) fn forget(&mut self, ino: u32) {
        if let Some(ix) = self.dirs.remove(&ino) {
            self.held -= ix.held();
        }
    }

    fn stale(&mut self, ino: u32) {
        if self.dirs.contains_key(&ino) {
            self.forget(ino);
            self.stats.stale += 1;
        }
    }

    /// The disk contradicted the index of `ino`.
    pub(crate) fn contradicted(&mut self, ino: u32) {
        self.stale(ino);
    }

    /// The core changed slot changes of directory `ino`, whose inode was
    /// `before` and is now `after`: applied if the index matched `before`,
    /// else the index is dropped.
    pub(crate) fn changed(
        &mut self,
        ino: u32,
        before: &Fingerprint,
        after: Fingerprint,
        changes: &[(u32, Slot, Slot)],
    ) {
        let Some(ix) = self.dirs.get_mut(&ino) else {
            return;
        };
        if ix.fp.as_ref() != Some(before) {
            self.stale(ino);
            return;
        }
        let was = ix.held();
        let mut ok = true;
        for &(slot, old, new) in changes {
            ok &= ix.change(slot, old, new);
        }
        ix.fp = Some(after);
        let now = ix.held();
        self.held = self.held - was + now;
        if !ok {
            self.stale(ino);
            return;
        }
        if now > was {
            self.fit(ino);
        }
    }
}
