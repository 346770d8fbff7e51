//! One pass of the checker (optionally repairing as it goes).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use libbdev::BlockDevice;

use super::report::{Finding, FindingKind, Report, Severity};
use super::view;
use crate::format::{self, DiskInode, Geometry, NR_DZONES};

/// Past this many findings of one kind only a summary is kept, so a wrecked
/// image gives a readable report in bounded memory.
const MAX_PER_KIND: usize = 50;
/// Paths longer than this are shortened to `…/name` in findings.
const MAX_PATH: usize = 1024;
/// Most orphans one repair reconnects (the rest are released), so a
/// wrecked image cannot make repair run for ever.
const MAX_RECONNECT: usize = 10_000;

/// After a repair left no errors: mark the superblock clean so MINIX
/// mounts the file system read-write again. Returns a finding if it did.
pub(super) fn mark_clean<D: BlockDevice + ?Sized>(dev: &mut D) -> Option<Finding> {
    let mut disk = Disk::new(dev);
    let (message, repaired) = match view::mark_clean(&mut disk) {
        Ok(false) => return None,
        Ok(true) => ("marked the file system clean".to_string(), true),
        Err(e) => (format!("could not mark the file system clean: {e}"), false),
    };
    Some(Finding {
        kind: FindingKind::Superblock,
        severity: Severity::Warning,
        ino: None,
        path: None,
        message,
        repaired,
        leak: false,
    })
}

/// Run one pass over `dev`.
pub(super) fn run<D: BlockDevice + ?Sized>(dev: &mut D, repair: bool) -> Report {
    let mut disk = Disk::new(dev);
    let (sb, geo) = match view::read_geometry(&mut disk) {
        Ok(g) => g,
        Err(msg) => {
            return Report {
                fatal: Some(msg),
                ..Report::default()
            };
        }
    };
    let mut c = Checker::new(disk, geo, repair);
    if sb.version != format::Version::V3 && sb.firstdatazone_field == 0 {
        // V1/V2 have no "0 means computed" rule: MINIX and util-linux take
        // the field as it is, so every zone would look out of range.
        let want = view::meta_end(&geo);
        let fix = repair && u16::try_from(want).is_ok();
        let done = fix && view::set_first_data_zone(&mut c.disk, want as u16).is_ok();
        c.err(
            FindingKind::Superblock,
            None,
            format!(
                "the first-data-zone field is 0; the layout puts the first data zone at {want}"
            ),
            done,
        );
    }
    if !sb.is_clean() {
        c.note(
            FindingKind::Superblock,
            Severity::Warning,
            None,
            None,
            "the file system is not marked clean (MINIX would mount it read-only)".to_string(),
            false,
        );
    }
    c.check_all();
    c.finish()
}

/// Block access with an overlay of changed blocks, written back at the end.
pub(crate) struct Disk<'d, D: BlockDevice + ?Sized> {
    dev: &'d mut D,
    /// Bytes on the device (0 if it could not be asked).
    pub(crate) size: u64,
    dirty: BTreeMap<u64, Vec<u8>>,
}

impl<'d, D: BlockDevice + ?Sized> Disk<'d, D> {
    fn new(dev: &'d mut D) -> Self {
        let size = dev.size().unwrap_or(0);
        Disk {
            dev,
            size,
            dirty: BTreeMap::new(),
        }
    }

    /// Read `len` bytes at byte `pos`; an error if any of it is missing.
    pub(crate) fn read_at(&mut self, pos: u64, len: usize) -> Result<Vec<u8>, String> {
        let end = pos.checked_add(len as u64).ok_or("position overflow")?;
        if end > self.size {
            return Err(format!(
                "bytes {pos}..{end} lie past the end of the image ({} bytes)",
                self.size
            ));
        }
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            let n = self
                .dev
                .read_vectored(pos + done as u64, &mut [&mut buf[done..]])
                .map_err(|e| format!("read at byte {}: {e}", pos + done as u64))?;
            if n == 0 {
                return Err(format!("short read at byte {}", pos + done as u64));
            }
            done += n;
        }
        Ok(buf)
    }

    fn read_block(&mut self, bs: u32, blk: u64) -> Result<Vec<u8>, String> {
        if let Some(b) = self.dirty.get(&blk) {
            return Ok(b.clone());
        }
        let pos = blk
            .checked_mul(u64::from(bs))
            .ok_or("block number overflow")?;
        self.read_at(pos, bs as usize)
            .map_err(|e| format!("block {blk}: {e}"))
    }

    /// Write `data` at byte `pos` straight to the device.
    pub(crate) fn write_at(&mut self, pos: u64, data: &[u8]) -> Result<(), String> {
        let mut done = 0;
        while done < data.len() {
            let n = self
                .dev
                .write_vectored(pos + done as u64, &[&data[done..]])
                .map_err(|e| format!("write at byte {}: {e}", pos + done as u64))?;
            if n == 0 {
                return Err(format!("short write at byte {}", pos + done as u64));
            }
            done += n;
        }
        self.dev.flush().map_err(|e| format!("flush: {e}"))
    }

    fn write_block(&mut self, blk: u64, data: Vec<u8>) {
        self.dirty.insert(blk, data);
    }

    fn flush(&mut self, bs: u32) -> Result<(), String> {
        let dirty = core::mem::take(&mut self.dirty);
        for (blk, data) in dirty {
            let pos = blk * u64::from(bs);
            let mut done = 0;
            while done < data.len() {
                let n = self
                    .dev
                    .write_vectored(pos + done as u64, &[&data[done..]])
                    .map_err(|e| format!("write of block {blk}: {e}"))?;
                if n == 0 {
                    return Err(format!("short write of block {blk}"));
                }
                done += n;
            }
        }
        self.dev.flush().map_err(|e| format!("flush: {e}"))
    }
}

/// A growable bit set.
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: u64) -> Self {
        Bits(vec![0; (n / 64 + 1) as usize])
    }
    fn get(&self, i: u64) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    /// Set bit `i`; returns whether it was already set.
    fn set(&mut self, i: u64) -> bool {
        match self.0.get_mut((i / 64) as usize) {
            Some(w) => {
                let was = *w & (1 << (i % 64)) != 0;
                *w |= 1 << (i % 64);
                was
            }
            None => false,
        }
    }
}

/// A set of inode numbers that grows with what the walk reaches, not with
/// the inode count the superblock claims.
#[derive(Default)]
struct SparseBits(alloc::collections::BTreeSet<u64>);

impl SparseBits {
    fn get(&self, i: u64) -> bool {
        self.0.contains(&i)
    }
    /// Set bit `i`; returns whether it was already set.
    fn set(&mut self, i: u64) -> bool {
        !self.0.insert(i)
    }
}

/// The first set bit of an on-disk bitmap at or after `from`, skipping
/// zero words quickly (a huge, mostly empty bitmap costs little).
fn map_next(map: &[u8], from: u64) -> Option<u64> {
    let mut i = from;
    let nbits = (map.len() as u64) * 8;
    while i < nbits {
        let byte = (i / 8) as usize;
        if i.is_multiple_of(64) && byte + 8 <= map.len() && map[byte..byte + 8] == [0; 8] {
            i += 64;
            continue;
        }
        if map[byte] == 0 && i.is_multiple_of(8) {
            i += 8;
            continue;
        }
        if map[byte] & (1 << (i % 8)) != 0 {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Bit `i` of an on-disk bitmap (LSB-first bytes).
fn map_get(map: &[u8], i: u64) -> bool {
    map.get((i / 8) as usize)
        .is_some_and(|b| b & (1 << (i % 8)) != 0)
}

fn map_put(map: &mut [u8], i: u64, on: bool) {
    if let Some(b) = map.get_mut((i / 8) as usize) {
        if on {
            *b |= 1 << (i % 8);
        } else {
            *b &= !(1 << (i % 8));
        }
    }
}

/// What reached a zone pointer: the data block index it maps, or that it
/// is an indirect block covering indices from `first` on.
#[derive(Clone, Copy)]
enum Slot {
    Data(u64),
    Indirect { level: u32, first: u64 },
}

struct Checker<'d, D: BlockDevice + ?Sized> {
    disk: Disk<'d, D>,
    geo: Geometry,
    repair: bool,
    findings: Vec<Finding>,
    per_kind: BTreeMap<FindingKind, usize>,
    imap: Vec<u8>,
    zmap: Vec<u8>,
    /// Directory entries naming each inode (`.` and `..` included). Sparse,
    /// so memory grows with the entries read, not with `s_ninodes`.
    links: BTreeMap<u32, u32>,
    /// Inodes whose zones have been scanned.
    scanned: SparseBits,
    /// Directories already reached (so a second parent is a loop).
    dir_seen: SparseBits,
    /// Each walked directory's parent.
    parents: BTreeMap<u32, u32>,
    /// Files already queued for scanning.
    queued: SparseBits,
    /// Files named by the walk, scanned after the directories.
    files: Vec<(u32, String)>,
    /// Zones referenced so far, by zone number − first data zone.
    zone_used: Bits,
    /// One path per inode for messages (first found).
    paths: BTreeMap<u32, String>,
    modified: bool,
    /// Second references to data zones found by a repairing walk.
    shared: Vec<Shared>,
    /// The walk could not start (bad root): skip count checks that would
    /// only repeat that.
    no_walk: bool,
    /// The root directory's data zones (from the walk), for reconnecting.
    root_blocks: Vec<Option<u32>>,
    /// Orphans to be named in the root once zones can be allocated.
    pending: Vec<u32>,
    /// Next zone to try when allocating (below it all are taken).
    alloc_cursor: u32,
}

impl<'d, D: BlockDevice + ?Sized> Checker<'d, D> {
    fn new(disk: Disk<'d, D>, geo: Geometry, repair: bool) -> Self {
        let nzones = u64::from(geo.zones.saturating_sub(geo.first_data_zone));
        Checker {
            disk,
            repair,
            findings: Vec::new(),
            per_kind: BTreeMap::new(),
            imap: Vec::new(),
            zmap: Vec::new(),
            links: BTreeMap::new(),
            scanned: SparseBits::default(),
            dir_seen: SparseBits::default(),
            queued: SparseBits::default(),
            parents: BTreeMap::new(),
            files: Vec::new(),
            zone_used: Bits::new(nzones),
            paths: BTreeMap::new(),
            modified: false,
            shared: Vec::new(),
            no_walk: false,
            root_blocks: Vec::new(),
            pending: Vec::new(),
            alloc_cursor: geo.first_data_zone,
            geo,
        }
    }

    fn note(
        &mut self,
        kind: FindingKind,
        severity: Severity,
        ino: Option<u32>,
        path: Option<String>,
        message: String,
        repaired: bool,
    ) {
        self.note_leak(kind, severity, ino, path, message, repaired, false);
    }

    /// [`Checker::note`], saying whether the problem is only a leak.
    #[allow(clippy::too_many_arguments)]
    fn note_leak(
        &mut self,
        kind: FindingKind,
        severity: Severity,
        ino: Option<u32>,
        path: Option<String>,
        message: String,
        repaired: bool,
        leak: bool,
    ) {
        let n = self.per_kind.entry(kind).or_insert(0);
        *n += 1;
        if *n > MAX_PER_KIND {
            // Still an error for the exit code; keep one summary line,
            // a leak only while every problem it stands for is one.
            if *n == MAX_PER_KIND + 1 {
                self.findings.push(Finding {
                    kind,
                    severity,
                    ino: None,
                    path: None,
                    message: format!("more {} problems not listed", kind.name()),
                    repaired,
                    leak,
                });
            } else if !leak
                && let Some(f) = self
                    .findings
                    .iter_mut()
                    .rev()
                    .find(|f| f.kind == kind && f.ino.is_none() && f.path.is_none())
            {
                f.leak = false;
            }
            return;
        }
        self.findings.push(Finding {
            kind,
            severity,
            ino,
            path,
            message,
            repaired,
            leak,
        });
    }

    /// An error that is only a leak ([`Finding::leak`]).
    fn leak(&mut self, kind: FindingKind, ino: Option<u32>, message: String, repaired: bool) {
        let path = ino.and_then(|i| self.paths.get(&i).cloned());
        self.note_leak(kind, Severity::Error, ino, path, message, repaired, true);
    }

    fn err(&mut self, kind: FindingKind, ino: Option<u32>, message: String, repaired: bool) {
        let path = ino.and_then(|i| self.paths.get(&i).cloned());
        self.note(kind, Severity::Error, ino, path, message, repaired);
    }

    fn err_at(&mut self, kind: FindingKind, ino: u32, path: &str, message: String, repaired: bool) {
        self.note(
            kind,
            Severity::Error,
            Some(ino),
            Some(path.to_string()),
            message,
            repaired,
        );
    }

    fn finish(mut self) -> Report {
        if self.repair && !self.disk.dirty.is_empty() {
            self.modified = true;
            if let Err(e) = self.disk.flush(self.geo.block_size) {
                self.err(
                    FindingKind::Io,
                    None,
                    format!("writing repairs: {e}"),
                    false,
                );
            }
        }
        let remaining = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error && !f.repaired)
            .count()
            // Summarised findings past MAX_PER_KIND count too.
            + self
                .per_kind
                .values()
                .map(|n| n.saturating_sub(MAX_PER_KIND + 1))
                .sum::<usize>();
        Report {
            findings: self.findings,
            fatal: None,
            remaining_errors: remaining,
            modified: self.modified,
        }
    }

    // ---- block helpers ----------------------------------------------------

    fn read_block(&mut self, blk: u64) -> Result<Vec<u8>, String> {
        self.disk.read_block(self.geo.block_size, blk)
    }

    fn inode_location(&self, ino: u32) -> (u64, usize) {
        let (blk, off) = self.geo.inode_location(ino);
        (u64::from(blk), off)
    }

    fn read_inode(&mut self, ino: u32) -> Result<DiskInode, String> {
        let (blk, off) = self.inode_location(ino);
        let b = self.read_block(blk)?;
        DiskInode::decode(self.geo.version, b.get(off..).unwrap_or(&[]))
            .ok_or_else(|| format!("inode {ino} lies outside its block"))
    }

    fn write_inode(&mut self, ino: u32, inode: &DiskInode) {
        let (blk, off) = self.inode_location(ino);
        if let Ok(mut b) = self.read_block(blk) {
            let ok = b
                .get_mut(off..)
                .is_some_and(|slot| inode.encode(self.geo.version, slot).is_ok());
            if ok {
                self.disk.write_block(blk, b);
            }
        }
    }

    fn links_of(&self, ino: u32) -> u32 {
        self.links.get(&ino).copied().unwrap_or(0)
    }

    /// The next inode at or after `from` that is marked in use, named by
    /// an entry, or the root: the only ones worth looking at, found without
    /// stepping through every number up to `s_ninodes`.
    fn next_candidate(&self, from: u32, include_linked: bool) -> Option<u32> {
        if from > self.geo.ninodes {
            return None;
        }
        let by_map = map_next(&self.imap, u64::from(from))
            .and_then(|i| u32::try_from(i).ok())
            .filter(|&i| i <= self.geo.ninodes);
        let by_link = if include_linked {
            self.links.range(from..).next().map(|(&i, _)| i)
        } else {
            None
        };
        let root = (from <= 1 && include_linked).then_some(1);
        [by_map, by_link, root].into_iter().flatten().min()
    }

    fn zone_ok(&self, z: u32) -> bool {
        z >= self.geo.first_data_zone && z < self.geo.zones
    }

    // ---- the pass -----------------------------------------------------------

    fn check_all(&mut self) {
        self.check_layout();
        if !self.load_maps() {
            return;
        }
        self.walk();
        self.scan_files();
        if self.repair && !self.no_walk {
            self.adopt_orphans();
        }
        self.clone_shared();
        self.name_adopted();
        if !self.no_walk {
            self.check_inodes();
            self.check_zones();
        }
    }

    fn check_layout(&mut self) {
        let g = self.geo;
        let expect = view::meta_end(&g);
        if u64::from(g.first_data_zone) != expect {
            self.err(
                FindingKind::Superblock,
                None,
                format!(
                    "first data zone is {} but the layout puts it at {expect}",
                    g.first_data_zone
                ),
                false,
            );
        }
        let need = u64::from(g.zones) * u64::from(g.block_size);
        if self.disk.size < need {
            self.err(
                FindingKind::ShortImage,
                None,
                format!(
                    "the file system has {} zones ({need} bytes) but the image holds only {} bytes",
                    g.zones, self.disk.size
                ),
                false,
            );
        }
    }

    fn load_maps(&mut self) -> bool {
        let bs = u64::from(self.geo.block_size);
        let ipos = u64::from(self.geo.imap_start) * bs;
        let ilen = u64::from(self.geo.imap_blocks) * bs;
        let zlen = u64::from(self.geo.zmap_blocks) * bs;
        match (
            self.disk.read_at(ipos, ilen as usize),
            self.disk.read_at(ipos + ilen, zlen as usize),
        ) {
            (Ok(i), Ok(z)) => {
                self.imap = i;
                self.zmap = z;
                true
            }
            (Err(e), _) | (_, Err(e)) => {
                self.err(
                    FindingKind::Io,
                    None,
                    format!("reading the bitmaps: {e}"),
                    false,
                );
                self.no_walk = true;
                false
            }
        }
    }

    /// Walk the tree from the root with an explicit stack.
    fn walk(&mut self) {
        let root = match self.read_inode(1) {
            Ok(r) => r,
            Err(e) => {
                self.err(
                    FindingKind::Io,
                    Some(1),
                    format!("reading the root inode: {e}"),
                    false,
                );
                self.no_walk = true;
                return;
            }
        };
        if !root.is_dir() {
            self.err(
                FindingKind::Root,
                Some(1),
                format!("the root inode is not a directory (mode {:o})", root.mode),
                false,
            );
            self.no_walk = true;
            return;
        }
        self.paths.insert(1, "/".to_string());
        self.dir_seen.set(1);
        // (directory, its parent, its path)
        let mut stack: Vec<(u32, u32, String)> = vec![(1, 1, String::new())];
        while let Some((dir, parent, path)) = stack.pop() {
            self.walk_dir(dir, parent, &path, &mut stack);
        }
    }

    fn child_path(path: &str, name: &str) -> String {
        if path.len() > MAX_PATH {
            format!("…/{name}")
        } else {
            format!("{path}/{name}")
        }
    }

    fn walk_dir(&mut self, dir: u32, parent: u32, path: &str, stack: &mut Vec<(u32, u32, String)>) {
        let shown = if path.is_empty() { "/" } else { path };
        let mut inode = match self.read_inode(dir) {
            Ok(i) => i,
            Err(e) => {
                self.err_at(FindingKind::Io, dir, shown, e, false);
                return;
            }
        };
        self.parents.insert(dir, parent);
        let blocks = self.scan_inode(dir, &mut inode, shown);
        if dir == 1 {
            self.root_blocks.clone_from(&blocks);
        }
        let des = self.geo.dirent_size;
        let size = u64::from(inode.size);
        if size % u64::from(des) != 0 {
            self.err_at(
                FindingKind::DirStructure,
                dir,
                shown,
                format!("directory size {size} is not a multiple of {des}"),
                false,
            );
        }
        let nslots = size / u64::from(des);
        if nslots < 2 {
            self.err_at(
                FindingKind::DirStructure,
                dir,
                shown,
                format!("directory size {size} is too small for . and .."),
                false,
            );
        }
        let per_block = u64::from(self.geo.block_size / des);
        let mut slot: u64 = 0;
        for (bi, zone) in blocks.iter().enumerate() {
            if slot >= nslots {
                break;
            }
            let Some(z) = *zone else {
                if self
                    .shared
                    .iter()
                    .any(|s| s.ino == dir && s.index == bi as u64)
                {
                    // A block another directory reached first: this one
                    // gets a fresh, empty block (see `clone_shared`).
                    slot += per_block;
                    continue;
                }
                self.err_at(
                    FindingKind::DirStructure,
                    dir,
                    shown,
                    format!("directory has a hole at block {bi}"),
                    false,
                );
                slot += per_block;
                continue;
            };
            let mut data = match self.read_block(u64::from(z)) {
                Ok(d) => d,
                Err(e) => {
                    self.err_at(FindingKind::Io, dir, shown, e, false);
                    slot += per_block;
                    continue;
                }
            };
            let mut changed = false;
            for k in 0..per_block {
                if slot >= nslots {
                    break;
                }
                let off = (k * u64::from(des)) as usize;
                let ent = &mut data[off..off + des as usize];
                if self.check_entry(dir, parent, path, slot, ent, stack) {
                    changed = true;
                }
                slot += 1;
            }
            if changed {
                self.disk.write_block(u64::from(z), data);
            }
        }
        if slot < nslots && slot >= 2 {
            // Blocks are missing past the end of the zone list: the size
            // claims more than the zones hold.
            self.err_at(
                FindingKind::FileSize,
                dir,
                shown,
                format!("directory size {size} is larger than its zones"),
                false,
            );
        }
        if slot < 2 && nslots >= 2 {
            self.err_at(
                FindingKind::DirStructure,
                dir,
                shown,
                "directory has no data zone for . and ..".to_string(),
                false,
            );
        }
    }

    /// Check one directory entry; returns whether `ent` was changed.
    fn check_entry(
        &mut self,
        dir: u32,
        parent: u32,
        path: &str,
        slot: u64,
        ent: &mut [u8],
        stack: &mut Vec<(u32, u32, String)>,
    ) -> bool {
        let shown = if path.is_empty() { "/" } else { path };
        let ino = format::dirent_ino(&self.geo, ent);
        let name = format::dirent_name(&self.geo, ent).to_vec();
        let name_str = String::from_utf8_lossy(&name).into_owned();
        if slot < 2 {
            let (want_name, want_ino, kind) = if slot == 0 {
                (".", dir, FindingKind::DirStructure)
            } else {
                ("..", parent, FindingKind::BadParent)
            };
            if name.as_slice() != want_name.as_bytes() {
                self.err_at(
                    FindingKind::DirStructure,
                    dir,
                    shown,
                    format!("entry {slot} is {name_str:?}, not {want_name:?}"),
                    false,
                );
                if ino != 0 && ino <= self.geo.ninodes {
                    *self.links.entry(ino).or_insert(0) += 1;
                }
                return false;
            }
            if ino != want_ino {
                let fix = self.repair;
                self.err_at(
                    kind,
                    dir,
                    shown,
                    format!("{want_name:?} names inode {ino}, should be {want_ino}"),
                    fix,
                );
                if fix {
                    view::set_dirent_ino(&self.geo, ent, want_ino);
                    *self.links.entry(want_ino).or_insert(0) += 1;
                    return true;
                }
                if ino != 0 && ino <= self.geo.ninodes {
                    *self.links.entry(ino).or_insert(0) += 1;
                }
                return false;
            }
            *self.links.entry(want_ino).or_insert(0) += 1;
            return false;
        }
        if ino == 0 {
            return false;
        }
        let cpath = Self::child_path(path, &name_str);
        let bad_name = name.is_empty() || name.contains(&b'/') || name == b"." || name == b"..";
        if bad_name || ino > self.geo.ninodes {
            let why = if bad_name {
                format!("bad name {name_str:?}")
            } else {
                format!(
                    "inode number {ino} is beyond the last inode {}",
                    self.geo.ninodes
                )
            };
            let fix = self.repair;
            self.err_at(
                FindingKind::BadEntry,
                dir,
                &cpath,
                format!("entry {slot}: {why}"),
                fix,
            );
            if fix {
                view::set_dirent_ino(&self.geo, ent, 0);
                return true;
            }
            if ino > self.geo.ninodes {
                return false;
            }
        }
        let inode = match self.read_inode(ino) {
            Ok(i) => i,
            Err(e) => {
                self.err_at(FindingKind::Io, ino, &cpath, e, false);
                return false;
            }
        };
        if inode.mode == 0 {
            let fix = self.repair;
            self.err_at(
                FindingKind::BadEntry,
                ino,
                &cpath,
                "entry names a free inode (mode 0)".to_string(),
                fix,
            );
            if fix {
                view::set_dirent_ino(&self.geo, ent, 0);
                return true;
            }
            *self.links.entry(ino).or_insert(0) += 1;
            return false;
        }
        if inode.is_dir() {
            if self.dir_seen.set(u64::from(ino)) {
                let first = self.paths.get(&ino).cloned().unwrap_or_default();
                let fix = self.repair;
                self.err_at(
                    FindingKind::DirectoryLoop,
                    ino,
                    &cpath,
                    format!("directory already reached as {first:?} (loop or directory hard link)"),
                    fix,
                );
                if fix {
                    view::set_dirent_ino(&self.geo, ent, 0);
                    return true;
                }
                *self.links.entry(ino).or_insert(0) += 1;
                return false;
            }
            *self.links.entry(ino).or_insert(0) += 1;
            self.paths.insert(ino, cpath.clone());
            stack.push((ino, dir, cpath));
            return false;
        }
        *self.links.entry(ino).or_insert(0) += 1;
        if !self.scanned.get(u64::from(ino)) && !self.queued.set(u64::from(ino)) {
            self.paths.insert(ino, cpath.clone());
            if !view::known_type(inode.mode) {
                self.note(
                    FindingKind::UnknownMode,
                    Severity::Warning,
                    Some(ino),
                    Some(cpath.clone()),
                    format!("unknown file type in mode {:o}", inode.mode),
                    false,
                );
            }
            // Scanned once every directory has claimed its blocks, so a
            // block a file shares with a directory stays the directory's
            // and the file gets the copy (see `scan_files`).
            self.files.push((ino, cpath));
        }
        false
    }

    /// Scan the zones of the files the walk found, after the directories.
    fn scan_files(&mut self) {
        let files = core::mem::take(&mut self.files);
        for (ino, path) in files {
            if let Ok(mut i) = self.read_inode(ino) {
                self.scan_inode(ino, &mut i, &path);
            }
        }
    }

    /// Check and mark the zones of one inode (once). Returns, for
    /// directories, the zone of each data block in order (`None` = hole).
    fn scan_inode(&mut self, ino: u32, inode: &mut DiskInode, path: &str) -> Vec<Option<u32>> {
        if self.scanned.set(u64::from(ino)) {
            return Vec::new();
        }
        if !inode.has_data_zones() {
            return Vec::new();
        }
        let is_dir = inode.is_dir();
        let bs = u64::from(self.geo.block_size);
        let size = u64::from(inode.size);
        let nblocks = size.div_ceil(bs);
        let max = self.geo.max_blocks_mapped();
        if nblocks > max {
            self.err_at(
                FindingKind::FileSize,
                ino,
                path,
                format!("size {size} is more than the zones can map ({max} blocks)"),
                false,
            );
        }
        if inode.is_symlink() && (size == 0 || size >= bs) {
            // MINIX keeps a link's target in one block, shorter than it.
            self.err_at(
                FindingKind::FileSize,
                ino,
                path,
                format!("symbolic link size {size} is not in 1..{bs}"),
                false,
            );
        }
        let mut blocks: Vec<Option<u32>> = Vec::new();
        if is_dir {
            // Bounded by the data area, so a huge bogus size cannot exhaust memory.
            let cap = nblocks.min(u64::from(self.geo.zones));
            blocks = vec![None; cap as usize];
        }
        let mut changed = false;
        let mut past_eof = false;
        let nd = NR_DZONES;
        let n = u64::from(self.geo.ptrs_per_block);
        let mut first: u64 = nd as u64;
        for i in 0..self.geo.nr_tzones {
            let slot = if i < nd {
                Slot::Data(i as u64)
            } else {
                let level = (i - nd + 1) as u32;
                let s = Slot::Indirect { level, first };
                first = first.saturating_add(n.saturating_pow(level));
                s
            };
            let z = inode.zone[i];
            if z == 0 {
                continue;
            }
            match self.visit_zone(ino, path, z, slot, nblocks, &mut blocks, &mut past_eof) {
                Visit::Keep => {}
                Visit::Clear => {
                    inode.zone[i] = 0;
                    changed = true;
                }
                Visit::Shared => self.shared.push(Shared {
                    holder: Holder::Inode(ino, i),
                    zone: z,
                    ino,
                    index: i as u64,
                    path: path.to_string(),
                }),
            }
        }
        if past_eof {
            // Space nothing can read: a leak (what a power cut between an
            // indirect block's new pointer and the inode's new size leaves).
            let fix = self.repair;
            self.note_leak(
                FindingKind::FileSize,
                Severity::Error,
                Some(ino),
                Some(path.to_string()),
                format!("zones allocated past the end of the file (size {size})"),
                fix,
                true,
            );
        }
        if changed {
            self.write_inode(ino, inode);
        }
        blocks
    }

    /// Check one zone pointer and what hangs below it.
    #[allow(clippy::too_many_arguments)]
    fn visit_zone(
        &mut self,
        ino: u32,
        path: &str,
        z: u32,
        slot: Slot,
        nblocks: u64,
        blocks: &mut [Option<u32>],
        past_eof: &mut bool,
    ) -> Visit {
        if !self.zone_ok(z) {
            let fix = self.repair;
            self.err_at(
                FindingKind::ZoneOutOfRange,
                ino,
                path,
                format!(
                    "zone {z} is outside the data area [{}, {})",
                    self.geo.first_data_zone, self.geo.zones
                ),
                fix,
            );
            return if fix { Visit::Clear } else { Visit::Keep };
        }
        let start = match slot {
            Slot::Data(i) => i,
            Slot::Indirect { first, .. } => first,
        };
        if start >= nblocks {
            *past_eof = true;
            if self.repair {
                return Visit::Clear;
            }
        }
        if let (Slot::Data(i), false) = (slot, self.repair) {
            // Checking only: a shared directory block is still read, so its
            // entries are judged (and not reported as a hole).
            if let Some(b) = blocks.get_mut(i as usize) {
                *b = Some(z);
            }
        }
        if self.zone_used.set(u64::from(z - self.geo.first_data_zone)) {
            if self.repair && matches!(slot, Slot::Data(_)) {
                // A shared data zone gets a private copy once the walk
                // knows which zones are really free (see `clone_shared`).
                return Visit::Shared;
            }
            self.err_at(
                FindingKind::DuplicateZone,
                ino,
                path,
                format!("zone {z} is already used by another file or block"),
                false,
            );
            // Do not descend twice into a shared indirect block: that keeps
            // the work bounded on hostile images.
            return Visit::Keep;
        }
        match slot {
            Slot::Data(i) => {
                if let Some(b) = blocks.get_mut(i as usize) {
                    *b = Some(z);
                }
            }
            Slot::Indirect { level, first } => {
                let mut data = match self.read_block(u64::from(z)) {
                    Ok(d) => d,
                    Err(e) => {
                        self.err_at(FindingKind::Io, ino, path, e, false);
                        return Visit::Keep;
                    }
                };
                let n = u64::from(self.geo.ptrs_per_block);
                let span = n.saturating_pow(level - 1);
                let mut changed = false;
                for e in 0..n {
                    let child = format::ind_get(&self.geo, &data, e as usize);
                    if child == 0 {
                        continue;
                    }
                    let cfirst = first.saturating_add(e.saturating_mul(span));
                    let cslot = if level == 1 {
                        Slot::Data(cfirst)
                    } else {
                        Slot::Indirect {
                            level: level - 1,
                            first: cfirst,
                        }
                    };
                    match self.visit_zone(ino, path, child, cslot, nblocks, blocks, past_eof) {
                        Visit::Keep => {}
                        Visit::Clear => {
                            format::ind_set(&self.geo, &mut data, e as usize, 0);
                            changed = true;
                        }
                        Visit::Shared => self.shared.push(Shared {
                            holder: Holder::Indirect(z, e as usize),
                            zone: child,
                            ino,
                            index: cfirst,
                            path: path.to_string(),
                        }),
                    }
                }
                if changed {
                    self.disk.write_block(u64::from(z), data);
                }
            }
        }
        Visit::Keep
    }

    /// Give each second reference to a data zone a copy of the zone in a
    /// zone no reachable file uses, so both files keep their contents.
    fn clone_shared(&mut self) {
        let shared = core::mem::take(&mut self.shared);
        for s in shared {
            let free = self.free_zone();
            let is_dir = self.read_inode(s.ino).is_ok_and(|i| i.is_dir());
            let copied = match free {
                // A directory block two directories claim holds the entries
                // of the one that reached it first; the other gets an empty
                // block (its own lost entries come back as orphans).
                Some(_) if is_dir => Some(self.fresh_dir_block(&s)),
                Some(_) => self.read_block(u64::from(s.zone)).ok(),
                None => None,
            };
            let (Some(new), Some(data)) = (free, copied) else {
                self.err_at(
                    FindingKind::DuplicateZone,
                    s.ino,
                    &s.path,
                    format!(
                        "zone {} is already used by another file (no free zone to copy it to)",
                        s.zone
                    ),
                    false,
                );
                continue;
            };
            self.zone_used
                .set(u64::from(new - self.geo.first_data_zone));
            self.disk.write_block(u64::from(new), data);
            match s.holder {
                Holder::Inode(ino, slot) => {
                    if let Ok(mut i) = self.read_inode(ino) {
                        i.zone[slot] = new;
                        self.write_inode(ino, &i);
                    }
                }
                Holder::Indirect(blk, idx) => {
                    if let Ok(mut b) = self.read_block(u64::from(blk)) {
                        format::ind_set(&self.geo, &mut b, idx, new);
                        self.disk.write_block(u64::from(blk), b);
                    }
                }
            }
            self.err_at(
                FindingKind::DuplicateZone,
                s.ino,
                &s.path,
                format!("zone {} was also used by another file; this file now has its own copy in zone {new}", s.zone),
                true,
            );
        }
    }

    /// An empty directory block for `s`: with `.` and `..` if it is the
    /// directory's first.
    fn fresh_dir_block(&mut self, s: &Shared) -> Vec<u8> {
        let mut b = vec![0u8; self.geo.block_size as usize];
        if s.index == 0 {
            let des = self.geo.dirent_size as usize;
            let parent = self.parents.get(&s.ino).copied().unwrap_or(1);
            format::dirent_write(&self.geo, &mut b[..des], s.ino, b".");
            format::dirent_write(&self.geo, &mut b[des..2 * des], parent, b"..");
            *self.links.entry(s.ino).or_insert(0) += 1;
            *self.links.entry(parent).or_insert(0) += 1;
        }
        b
    }

    /// A zone no reachable file uses and the image holds (not yet marked).
    fn free_zone(&mut self) -> Option<u32> {
        let fd = self.geo.first_data_zone;
        let bs = u64::from(self.geo.block_size);
        while self.alloc_cursor < self.geo.zones {
            let z = self.alloc_cursor;
            if !self.zone_used.get(u64::from(z - fd)) && (u64::from(z) + 1) * bs <= self.disk.size {
                return Some(z);
            }
            self.alloc_cursor += 1;
        }
        None
    }

    /// Repair: orphans that still look like live files (a known type and
    /// a link count) are kept rather than released. Orphan directories are
    /// walked as children of the root, so their subtrees count as reached;
    /// the rest have their zones claimed. All are named `#<inode>` in the
    /// root by [`Checker::name_adopted`] once zone copies are placed.
    fn adopt_orphans(&mut self) {
        let mut dirs = Vec::new();
        let mut files = Vec::new();
        let mut next = self.next_candidate(2, false);
        while let Some(ino) = next {
            next = ino
                .checked_add(1)
                .and_then(|n| self.next_candidate(n, false));
            if dirs.len() + files.len() >= MAX_RECONNECT {
                break;
            }
            if self.links_of(ino) > 0
                || self.dir_seen.get(u64::from(ino))
                || !map_get(&self.imap, u64::from(ino))
            {
                continue;
            }
            let Ok(i) = self.read_inode(ino) else {
                continue;
            };
            if i.nlinks == 0 || !view::known_type(i.mode) {
                continue;
            }
            if i.is_dir() {
                dirs.push(ino);
            } else {
                files.push(ino);
            }
        }
        // Directories whose `..` names another lost directory hang below
        // it: adopt the top ones first so subtrees stay whole.
        let lost: alloc::collections::BTreeSet<u32> = dirs.iter().copied().collect();
        let (mut tops, rest): (Vec<u32>, Vec<u32>) = dirs.into_iter().partition(|&d| {
            let up = self.dotdot_of(d);
            up == d || !lost.contains(&up)
        });
        tops.extend(rest);
        for d in tops {
            if self.dir_seen.get(u64::from(d)) {
                continue; // reached below an adopted directory
            }
            self.dir_seen.set(u64::from(d));
            let path = format!("/#{d}");
            self.paths.insert(d, path.clone());
            let mut stack = vec![(d, 1, path)];
            while let Some((dir, parent, p)) = stack.pop() {
                self.walk_dir(dir, parent, &p, &mut stack);
            }
            self.pending.push(d);
        }
        self.scan_files();
        for f in files {
            if self.links_of(f) > 0 {
                continue; // named inside an adopted directory
            }
            let path = format!("/#{f}");
            self.paths.insert(f, path.clone());
            if let Ok(mut i) = self.read_inode(f) {
                self.scan_inode(f, &mut i, &path);
            }
            self.pending.push(f);
        }
    }

    /// The inode a directory's `..` entry names (0 if unreadable).
    fn dotdot_of(&mut self, dir: u32) -> u32 {
        let Ok(i) = self.read_inode(dir) else {
            return 0;
        };
        let z = i.zone[0];
        if !self.zone_ok(z) {
            return 0;
        }
        let des = self.geo.dirent_size as usize;
        match self.read_block(u64::from(z)) {
            Ok(b) => b
                .get(des..2 * des)
                .map_or(0, |e| format::dirent_ino(&self.geo, e)),
            Err(_) => 0,
        }
    }

    /// Name each adopted orphan `#<inode>` in the root directory.
    fn name_adopted(&mut self) {
        let pending = core::mem::take(&mut self.pending);
        for ino in pending {
            let name = format!("#{ino}");
            let ok = self.add_root_entry(name.as_bytes(), ino);
            if ok {
                *self.links.entry(ino).or_insert(0) += 1;
            }
            self.leak(
                FindingKind::Orphan,
                Some(ino),
                if ok {
                    format!("inode was not named by any directory entry; reconnected as /{name}")
                } else {
                    "inode is not named by any directory entry (no room in / to reconnect it)"
                        .to_string()
                },
                ok,
            );
        }
    }

    /// Put entry `name` -> `ino` in the root: in a free slot, after the last
    /// entry, or in a new direct zone.
    fn add_root_entry(&mut self, name: &[u8], ino: u32) -> bool {
        let Ok(mut root) = self.read_inode(1) else {
            return false;
        };
        let des = self.geo.dirent_size;
        let per = u64::from(self.geo.block_size / des);
        let size = u64::from(root.size);
        if size % u64::from(des) != 0 {
            return false;
        }
        let nslots = size / u64::from(des);
        // A free slot inside the directory.
        for slot in 2..nslots {
            let Some(Some(z)) = self.root_blocks.get((slot / per) as usize).copied() else {
                continue;
            };
            let Ok(mut b) = self.read_block(u64::from(z)) else {
                continue;
            };
            let off = ((slot % per) * u64::from(des)) as usize;
            if format::dirent_ino(&self.geo, &b[off..off + des as usize]) == 0 {
                format::dirent_write(&self.geo, &mut b[off..off + des as usize], ino, name);
                self.disk.write_block(u64::from(z), b);
                return true;
            }
        }
        // Append, in the last block or a new direct zone.
        let blk = (nslots / per) as usize;
        let z = match self.root_blocks.get(blk).copied().flatten() {
            Some(z) => z,
            None if blk < NR_DZONES && root.zone[blk] == 0 => {
                let Some(z) = self.free_zone() else {
                    return false;
                };
                self.zone_used.set(u64::from(z - self.geo.first_data_zone));
                self.disk
                    .write_block(u64::from(z), vec![0; self.geo.block_size as usize]);
                root.zone[blk] = z;
                if self.root_blocks.len() <= blk {
                    self.root_blocks.resize(blk + 1, None);
                }
                self.root_blocks[blk] = Some(z);
                z
            }
            None => return false,
        };
        let Ok(mut b) = self.read_block(u64::from(z)) else {
            return false;
        };
        let off = ((nslots % per) * u64::from(des)) as usize;
        format::dirent_write(&self.geo, &mut b[off..off + des as usize], ino, name);
        self.disk.write_block(u64::from(z), b);
        root.size += des;
        self.write_inode(1, &root);
        true
    }

    /// Compare every inode with the bitmap and the links found.
    fn check_inodes(&mut self) {
        let mut imap_changed = false;
        if !map_get(&self.imap, 0) {
            let fix = self.repair;
            self.err(
                FindingKind::InodeBitmap,
                None,
                "bit 0 of the inode bitmap is clear".into(),
                fix,
            );
            if fix {
                map_put(&mut self.imap, 0, true);
                imap_changed = true;
            }
        }
        let mut next = self.next_candidate(1, true);
        while let Some(ino) = next {
            next = ino
                .checked_add(1)
                .and_then(|n| self.next_candidate(n, true));
            let used = map_get(&self.imap, u64::from(ino));
            let found = self.links_of(ino);
            let reached = found > 0 || ino == 1;
            if !reached && !used {
                continue;
            }
            let mut inode = match self.read_inode(ino) {
                Ok(i) => i,
                Err(e) => {
                    self.err(FindingKind::Io, Some(ino), e, false);
                    continue;
                }
            };
            if reached && !used {
                let fix = self.repair;
                self.err(
                    FindingKind::InodeBitmap,
                    Some(ino),
                    "inode in use but marked free in the inode bitmap".into(),
                    fix,
                );
                if fix {
                    map_put(&mut self.imap, u64::from(ino), true);
                    imap_changed = true;
                }
            }
            if !reached && used {
                let fix = self.repair;
                if inode.mode != 0 {
                    self.leak(
                        FindingKind::Orphan,
                        Some(ino),
                        format!(
                            "inode (mode {:o}, {} links, size {}) is not named by any directory entry",
                            inode.mode, inode.nlinks, inode.size
                        ),
                        fix,
                    );
                    if fix {
                        // Release it; its zones are freed by the zone-bitmap
                        // rebuild since nothing reachable uses them.
                        self.write_inode(ino, &DiskInode::default());
                    }
                } else {
                    self.leak(
                        FindingKind::InodeBitmap,
                        Some(ino),
                        "free inode marked in use in the inode bitmap".into(),
                        fix,
                    );
                }
                if fix {
                    map_put(&mut self.imap, u64::from(ino), false);
                    imap_changed = true;
                }
                continue;
            }
            if reached && inode.mode != 0 && u32::from(inode.nlinks) != found {
                let fix = self.repair && found <= u32::from(self.geo.link_max);
                let msg = format!(
                    "link count is {} but {found} directory entries name it",
                    inode.nlinks
                );
                if u32::from(inode.nlinks) > found {
                    self.leak(FindingKind::LinkCount, Some(ino), msg, fix);
                } else {
                    self.err(FindingKind::LinkCount, Some(ino), msg, fix);
                }
                if fix {
                    inode.nlinks = found as u16;
                    self.write_inode(ino, &inode);
                }
            }
        }
        if imap_changed {
            self.write_map(u64::from(self.geo.imap_start), self.imap.clone());
        }
    }

    /// Compare the zone bitmap with the zones the walk found in use.
    fn check_zones(&mut self) {
        let fd = self.geo.first_data_zone;
        let mut changed = false;
        if !map_get(&self.zmap, 0) {
            let fix = self.repair;
            self.err(
                FindingKind::ZoneBitmap,
                None,
                "bit 0 of the zone bitmap is clear".into(),
                fix,
            );
            if fix {
                map_put(&mut self.zmap, 0, true);
                changed = true;
            }
        }
        for z in fd..self.geo.zones {
            let bit = u64::from(z - fd) + 1;
            let on = map_get(&self.zmap, bit);
            let used = self.zone_used.get(u64::from(z - fd));
            if on == used {
                continue;
            }
            let fix = self.repair;
            let msg = if used {
                format!("zone {z} is in use but marked free in the zone bitmap")
            } else {
                format!("zone {z} is marked in use but no file uses it")
            };
            if used {
                self.err(FindingKind::ZoneBitmap, None, msg, fix);
            } else {
                self.leak(FindingKind::ZoneBitmap, None, msg, fix);
            }
            if fix {
                map_put(&mut self.zmap, bit, used);
                changed = true;
            }
        }
        if changed {
            let start = u64::from(self.geo.zmap_start);
            self.write_map(start, self.zmap.clone());
        }
    }

    fn write_map(&mut self, start: u64, map: Vec<u8>) {
        let bs = self.geo.block_size as usize;
        for (i, chunk) in map.chunks(bs).enumerate() {
            let blk = start + i as u64;
            let same = self.read_block(blk).is_ok_and(|b| b == chunk);
            if !same {
                self.disk.write_block(blk, chunk.to_vec());
            }
        }
    }
}

enum Visit {
    Keep,
    Clear,
    /// A data zone some earlier pointer already claimed (repair mode).
    Shared,
}

/// Where a zone pointer lives: inode slot, or entry of an indirect block.
enum Holder {
    Inode(u32, usize),
    Indirect(u32, usize),
}

/// A second reference to a data zone, to be given its own copy.
struct Shared {
    holder: Holder,
    zone: u32,
    ino: u32,
    /// The file block the pointer maps.
    index: u64,
    path: String,
}
