//! The file-system core: every operation a VFS needs, by inode number.
//!
//! [`FileSystem`] is mounted on anything implementing [`BlockAccess`] (in the
//! product, libminixfs's block cache over a libbdev device). Operations take
//! and return inode numbers like MINIX's VFS<->FS protocol; `crate::path`
//! adds path-based helpers on top. The caller supplies the current time
//! (`now`, seconds since the epoch) to every operation that stamps inodes.
//!
//! Robustness rule: every value read from disk is checked before use. A zone
//! number outside the data area, an inode number out of range, a directory
//! whose size is not a multiple of the entry size or that has a hole, a V1
//! field overflow: each is an error value ([`Errno::EIO`] for corrupt disk
//! data), never a panic and never an out-of-bounds access.
//!
//! Disk inodes are written through to the block cache at the end of every
//! operation that changes them; the in-core inode table only tracks open
//! references, so an unlinked file stays readable until its last
//! [`FileSystem::put`].
//!
//! Write ordering (power cuts; on by default, [`FileSystem::set_write_ordering`]).
//! Before a block is changed in a way that depends on another, the core
//! tells the cache ([`BlockAccess::order`]) that the other must be durable
//! first; every write-back (flush, eviction) honours that, in layers with
//! a device flush between. The rules:
//!
//! - a new block (data, indirect, directory) and its bitmap bit before the
//!   block that points at it;
//! - an inode and its bitmap bit before the directory entry naming it; a
//!   raised link count (link, rename of a file across blocks, a parent's
//!   count for a new subdirectory's "..") before the name that needs it;
//! - a name removed before the link count drops or the inode is freed; a
//!   pointer removed before its bit is cleared, and before the freed zone
//!   is written again if it is reused;
//! - an indirect block's cleared entries before the inode's smaller size;
//! - a directory moving to another block loses its old name first (a cut
//!   leaves it unnamed, which fsck reconnects, never named twice); its
//!   ".." changes after that and before the new name appears; a rename
//!   within one block is one write.
//!
//! A constraint that would close a cycle makes the cache write its first
//! block (with what that waits for) at once. One exception avoids a cycle
//! per `mkdir`: a directory block just allocated for a direct slot, with
//! nothing written since, is unreachable on disk, so inodes in the
//! directory's own inode block need no ordering before names in it. An
//! image cut at any point then needs at most a leak-only repair (blocks or
//! inodes marked in use that nothing names, link counts above the names,
//! blocks past the end of a file), and [`FileSystem::fsync`] (an ordered
//! flush) makes a file and its path durable. Server restarts that adopt
//! the cache region (`server.rs`) keep the dirty blocks but not the
//! constraints: the first write-back after one is unordered.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;

use crate::blockio::BlockAccess;
use crate::dirindex::{
    self, DirIndex, DirIndexLimits, DirIndexStats, DirIndexes, Fingerprint, Slot,
};
use crate::errno::{Errno, Result};
use crate::format::{
    self, DiskInode, Geometry, NR_DZONES, ROOT_INO, SUPER_OFFSET, SuperBlock, SuperError, Version,
    ZONE_DIND, ZONE_IND, ZONE_TIND, mode,
};

/// How to mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MountOptions {
    /// Mount read-only.
    pub read_only: bool,
    /// Mount read-write even if the superblock is not marked clean (for
    /// tools that have just checked the image, and for util-linux V3 images,
    /// whose superblock has no clean flag at all).
    pub force_rw_unclean: bool,
}

/// Something the caller should tell the user about a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountWarning {
    /// The file system was not cleanly unmounted; it was mounted read-only.
    UncleanReadOnly,
    /// Not cleanly unmounted, mounted read-write because the caller forced it.
    UncleanForced,
}

impl core::fmt::Display for MountWarning {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MountWarning::UncleanReadOnly => f.write_str("file system unclean, mounting read-only"),
            MountWarning::UncleanForced => {
                f.write_str("file system unclean, mounted read-write as requested")
            }
        }
    }
}

/// Why a mount failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    /// The superblock is invalid.
    #[error("bad superblock: {0}")]
    Super(#[from] SuperError),
    /// The root inode is missing or not a directory.
    #[error("root inode is not a directory")]
    BadRoot,
    /// Reading or writing the device failed.
    #[error("device error: {0}")]
    Io(Errno),
}

/// Inode attributes as `stat` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Inode number.
    pub ino: u32,
    /// Type and permission bits.
    pub mode: u16,
    /// Link count.
    pub nlinks: u16,
    /// Owner.
    pub uid: u16,
    /// Group.
    pub gid: u16,
    /// Size in bytes.
    pub size: u32,
    /// Access time.
    pub atime: u32,
    /// Modification time.
    pub mtime: u32,
    /// Status-change time.
    pub ctime: u32,
    /// Device number of a block/character special (zone 0), else 0.
    pub rdev: u32,
    /// Preferred I/O size (the block size).
    pub blksize: u32,
}

/// File-system statistics (`statvfs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatVfs {
    /// Block size.
    pub bsize: u32,
    /// Fragment size (= block size).
    pub frsize: u32,
    /// Total blocks (zones), metadata included.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Free blocks for unprivileged users (same as `bfree`).
    pub bavail: u64,
    /// Total inodes.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// Free inodes for unprivileged users.
    pub favail: u64,
    /// Longest file name.
    pub namemax: u32,
}

/// One directory entry from [`FileSystem::getdents`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Inode number.
    pub ino: u32,
    /// Name bytes.
    pub name: Vec<u8>,
    /// Position to pass to `getdents` to continue after this entry.
    pub next_pos: u64,
}

/// Where a path walk stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Walk {
    /// The whole path was resolved.
    Found {
        /// The inode the path names.
        ino: u32,
        /// The directory holding the last component (the start for an empty path).
        parent: u32,
    },
    /// A symbolic link was reached and must be resolved by the caller.
    Symlink {
        /// The link's inode.
        ino: u32,
        /// Directory containing the link (relative targets start here).
        dir: u32,
        /// Index of the component that is the link (0-based).
        component: usize,
        /// The rest of the path after the link (no leading '/').
        rest: Vec<u8>,
    },
    /// A directory on which something is mounted was reached.
    MountPoint {
        /// The mount point's inode.
        ino: u32,
        /// Index of the component that is the mount point.
        component: usize,
        /// The rest of the path after it.
        rest: Vec<u8>,
    },
    /// ".." at this file system's root: the path leaves the file system.
    LeaveRoot {
        /// Index of the ".." component.
        component: usize,
        /// The rest of the path starting at that "..".
        rest: Vec<u8>,
    },
}

/// Options of [`FileSystem::walk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WalkFlags {
    /// Hand back a symlink even when it is the last component.
    pub follow_last: bool,
    /// Hand back ".." at the root as [`Walk::LeaveRoot`] (a mounted FS);
    /// otherwise the root's ".." entry (itself) is used.
    pub leave_at_root: bool,
}

/// A mounted MINIX file system.
pub struct FileSystem<B: BlockAccess> {
    io: B,
    sb: SuperBlock,
    g: Geometry,
    read_only: bool,
    warning: Option<MountWarning>,
    /// Open references per inode (the in-core inode table).
    open: BTreeMap<u32, u32>,
    /// Inodes with links gone but still open: freed at the last put.
    orphans: BTreeSet<u32>,
    mountpoints: BTreeSet<u32>,
    /// Inode-bitmap search hint (bit number).
    isearch: u64,
    /// Zone-bitmap search hint (bit number).
    zsearch: u64,
    /// Zones in use, metadata included (as MINIX's `used_zones`).
    used_zones: u64,
    /// The first inconsistency found while mounted: the file system went
    /// read-only (as ext4's errors=remount-ro).
    inconsistency: Option<&'static str>,
    /// The inconsistency has been handed out by [`FileSystem::take_inconsistency`].
    inconsistency_told: bool,
    /// Write ordering on (the default): see the module docs.
    ordered: bool,
    /// Bits freed by the current step, cleared by
    /// [`FileSystem::commit_frees`] once the blocks that dropped the
    /// pointers to them are changed: (inode map?, bit).
    pending_free: Vec<(bool, u64)>,
    /// Zones freed since the last full flush -> the blocks whose pointer
    /// removal must be durable before the zone is written again.
    recent_free: BTreeMap<u32, Vec<u32>>,
    /// Directory blocks allocated for a direct slot -> the device's write
    /// epoch then (see `dir_put`).
    fresh_dir: BTreeMap<u32, u64>,
    /// Name indexes of large directories (see `crate::dirindex`).
    dindex: DirIndexes,
}

impl<B: BlockAccess> core::fmt::Debug for FileSystem<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FileSystem")
            .field("sb", &self.sb)
            .field("read_only", &self.read_only)
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

/// Most zones remembered as freed since the last flush before a sync
/// writes everything (write ordering).
const RECENT_FREE_MAX: usize = 1 << 16;

/// Most new directory blocks remembered (write ordering; forgetting one
/// only costs an ordering constraint).
const FRESH_DIR_MAX: usize = 4096;

/// Most file blocks mapped and handed to prefetch at once (MINIX `NR_IOREQS`).
pub const PREFETCH_BLOCKS: u64 = 64;

/// Most symbolic links followed while resolving one path.
pub const SYMLOOP_MAX: usize = 16;

/// Result of a directory search: (position, inode) of the name if
/// present, and the first free slot seen.
type DirFind = (Option<(u64, u32)>, Option<u64>);

/// Indices of one file block in the zone tree: the inode slot, the depth
/// below it (0 direct, 1..3 indirect) and the entry index at each level.
#[derive(Debug, Clone, Copy)]
struct BlockPath {
    slot: usize,
    depth: usize,
    idx: [usize; 3],
}

impl<B: BlockAccess> FileSystem<B> {
    // -----------------------------------------------------------------------
    // Mount, unmount, sync.

    /// Reads and validates the superblock and the root inode. An unclean file
    /// system is mounted read-only (unless forced) and a warning is returned
    /// in [`FileSystem::warning`]. A read-write mount marks the superblock
    /// unclean until [`FileSystem::unmount`].
    pub fn mount(mut io: B, opts: MountOptions) -> core::result::Result<FileSystem<B>, MountError> {
        io.set_block_size(1024).map_err(MountError::Io)?;
        let mut area = [0u8; 64];
        io.read(1, |d| area.copy_from_slice(&d[..64]))
            .map_err(MountError::Io)?;
        let sb = SuperBlock::parse(&area)?;
        sb.check_device_size(io.device_size().map_err(MountError::Io)?)?;
        io.set_block_size(sb.block_size).map_err(MountError::Io)?;
        let g = sb.geometry();
        let mut read_only = opts.read_only;
        let mut warning = None;
        if !read_only && !sb.is_clean() {
            if opts.force_rw_unclean {
                warning = Some(MountWarning::UncleanForced);
            } else {
                warning = Some(MountWarning::UncleanReadOnly);
                read_only = true;
            }
        }
        let mut fs = FileSystem {
            io,
            sb,
            g,
            read_only,
            warning,
            open: BTreeMap::new(),
            orphans: BTreeSet::new(),
            mountpoints: BTreeSet::new(),
            isearch: 1,
            zsearch: 1,
            used_zones: 0,
            inconsistency: None,
            inconsistency_told: false,
            ordered: true,
            pending_free: Vec::new(),
            recent_free: BTreeMap::new(),
            fresh_dir: BTreeMap::new(),
            dindex: DirIndexes::default(),
        };
        let root = fs.load(ROOT_INO).map_err(|_| MountError::BadRoot)?;
        if !root.is_dir() {
            return Err(MountError::BadRoot);
        }
        let free = fs.count_free_bits(false).map_err(MountError::Io)?;
        fs.used_zones = u64::from(g.zones).saturating_sub(free);
        fs.io.set_usage(u64::from(g.zones), fs.used_zones);
        if !fs.read_only {
            fs.sb.set_clean(false);
            fs.write_super().map_err(MountError::Io)?;
            fs.io.flush().map_err(MountError::Io)?;
        }
        Ok(fs)
    }

    /// Formats nothing: a convenience for tests and tools that mount with
    /// default options.
    pub fn mount_rw(io: B) -> core::result::Result<FileSystem<B>, MountError> {
        FileSystem::mount(io, MountOptions::default())
    }

    /// Frees orphaned inodes, flushes, marks the superblock clean (read-write
    /// mounts) and gives the block store back.
    pub fn unmount(mut self) -> Result<B> {
        if !self.read_only {
            let orphans: Vec<u32> = self.orphans.iter().copied().collect();
            for ino in orphans {
                self.free_inode_now(ino)?;
            }
            self.orphans.clear();
            // Everything else is durable before the clean flag is.
            self.sync()?;
            self.sb.set_clean(true);
            self.write_super()?;
        }
        self.io.flush()?;
        Ok(self.io)
    }

    /// Writes every dirty block to the device (in order, with write
    /// ordering on).
    pub fn sync(&mut self) -> Result<()> {
        self.io.flush()?;
        self.recent_free.clear();
        self.fresh_dir.clear();
        Ok(())
    }

    /// Makes file `ino` durable: its data, its inode and the directory
    /// entries that lead to it from the root. With write ordering on this
    /// is one ordered flush of every dirty block (a superset of what the
    /// file depends on). Without ordering it is a plain flush.
    pub fn fsync(&mut self, ino: u32) -> Result<()> {
        self.load(ino)?;
        self.sync()
    }

    /// Turns write ordering on or off (on by default; off only to measure
    /// what it costs, or to show what a power cut does without it).
    /// Switching syncs first, so every constraint recorded is met.
    pub fn set_write_ordering(&mut self, on: bool) -> Result<()> {
        if on != self.ordered && !self.read_only {
            self.sync()?;
        }
        self.ordered = on;
        Ok(())
    }

    /// Whether write ordering is on.
    pub fn write_ordering(&self) -> bool {
        self.ordered
    }

    /// Write ordering: block `before` (as it is now) must be durable before
    /// block `after` is written. Called before `after` is changed.
    fn dep(&mut self, before: u32, after: u32) -> Result<()> {
        if self.ordered && before != after {
            self.io.order(before, after)?;
        }
        Ok(())
    }

    /// The inode-table block holding inode `ino`.
    fn inode_block(&self, ino: u32) -> u32 {
        self.g.inode_location(ino).0
    }

    /// The inode-bitmap block holding the bit of inode `ino`.
    fn imap_block(&self, ino: u32) -> u32 {
        self.g.imap_start + (u64::from(ino) / self.g.bits_per_block()) as u32
    }

    /// The zone-bitmap block holding the bit of data zone `zone`.
    fn zmap_block(&self, zone: u32) -> u32 {
        self.g.zmap_start + (self.g.bit_of_zone(zone) / self.g.bits_per_block()) as u32
    }

    /// What a directory entry naming `ino` waits for: the inode and its
    /// bitmap bit.
    fn name_deps(&self, ino: u32) -> [u32; 2] {
        [self.inode_block(ino), self.imap_block(ino)]
    }

    /// Clears the bits freed by the step that has just changed `holders`
    /// (the blocks that dropped the pointers to them): each bitmap block
    /// is written only after those blocks, and a freed zone written again
    /// (reused) only after them too.
    fn commit_frees(&mut self, holders: &[u32]) -> Result<()> {
        let list = core::mem::take(&mut self.pending_free);
        let mut res = Ok(());
        for (imap, bit) in list {
            if res.is_err() {
                // Not cleared: a leak, never a bit cleared too early.
                continue;
            }
            let (start, _, _) = self.map_geometry(imap);
            let blk = start + (bit / self.g.bits_per_block()) as u32;
            for &h in holders {
                if let Err(e) = self.dep(h, blk) {
                    res = Err(e);
                }
            }
            if res.is_ok() {
                res = self.clear_bit(imap, bit);
            }
            if !imap && res.is_ok() {
                let zone = self.g.zone_of_bit(bit);
                let e = self.recent_free.entry(zone).or_default();
                for &h in holders {
                    if !e.contains(&h) {
                        e.push(h);
                    }
                }
            }
        }
        if self.recent_free.len() > RECENT_FREE_MAX {
            self.sync()?;
        }
        res
    }

    /// The warning of the mount, if any (print it).
    pub fn warning(&self) -> Option<MountWarning> {
        self.warning
    }

    /// True when mounted read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The validated superblock.
    pub fn superblock(&self) -> &SuperBlock {
        &self.sb
    }

    /// The derived geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.g
    }

    /// The root directory's inode number.
    pub fn root(&self) -> u32 {
        ROOT_INO
    }

    /// The block store (for statistics).
    pub fn io(&self) -> &B {
        &self.io
    }

    /// The block store, mutably.
    pub fn io_mut(&mut self) -> &mut B {
        &mut self.io
    }

    fn write_super(&mut self) -> Result<()> {
        let sb = self.sb;
        let (block, off) = if self.g.block_size == 1024 {
            (1, 0)
        } else {
            (0, SUPER_OFFSET)
        };
        self.io
            .modify(block, |d| sb.encode(&mut d[off..]))?
            .map_err(|_| Errno::EIO)
    }

    /// The first inconsistency found on disk while mounted, if any: the file
    /// system has gone read-only since.
    pub fn inconsistency(&self) -> Option<&'static str> {
        self.inconsistency
    }

    /// The inconsistency, the first time only (for a one-time log line).
    pub fn take_inconsistency(&mut self) -> Option<&'static str> {
        if self.inconsistency_told {
            return None;
        }
        let i = self.inconsistency?;
        self.inconsistency_told = true;
        Some(i)
    }

    /// Records an on-disk inconsistency: the file system goes read-only
    /// (later modifying operations fail with EROFS; the superblock stays
    /// unclean) and the current operation fails with EIO.
    fn inconsistent(&mut self, what: &'static str) -> Errno {
        if self.inconsistency.is_none() {
            self.inconsistency = Some(what);
        }
        self.read_only = true;
        Errno::EIO
    }

    /// Before any change: EROFS on a read-only mount; EIO (and read-only)
    /// when a bitmap's reserved bit 0 is clear, a sign the map was zeroed
    /// and cannot be trusted, so nothing is changed at all.
    fn check_rw(&mut self) -> Result<()> {
        if self.read_only {
            return Err(Errno::EROFS);
        }
        for imap in [true, false] {
            let (start, _, _) = self.map_geometry(imap);
            if !self.io.read(start, |d| format::bit_get(d, 0))? {
                return Err(self.inconsistent(if imap {
                    "inode bitmap damaged (bit 0 clear)"
                } else {
                    "zone bitmap damaged (bit 0 clear)"
                }));
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Inodes.

    /// Reads inode `ino` from disk; the inode must be in use.
    fn load(&mut self, ino: u32) -> Result<DiskInode> {
        let inode = self.load_raw(ino)?;
        if inode.mode == 0 {
            return Err(Errno::EIO);
        }
        Ok(inode)
    }

    fn load_raw(&mut self, ino: u32) -> Result<DiskInode> {
        if !self.g.is_valid_ino(ino) {
            return Err(Errno::EINVAL);
        }
        let (block, off) = self.g.inode_location(ino);
        let version = self.g.version;
        let size = self.g.inode_size as usize;
        self.io
            .read(block, |d| DiskInode::decode(version, &d[off..off + size]))?
            .ok_or(Errno::EIO)
    }

    fn store(&mut self, ino: u32, inode: &DiskInode) -> Result<()> {
        if !self.g.is_valid_ino(ino) {
            return Err(Errno::EINVAL);
        }
        let (block, off) = self.g.inode_location(ino);
        let version = self.g.version;
        let size = self.g.inode_size as usize;
        // Encode first so an overflow leaves the disk untouched.
        let mut buf = [0u8; 64];
        inode.encode(version, &mut buf).map_err(|_| Errno::EINVAL)?;
        self.io
            .modify(block, |d| d[off..off + size].copy_from_slice(&buf[..size]))
    }

    /// Takes an open reference on `ino` (VFS "get"): the inode stays
    /// allocated until the last [`FileSystem::put`], even if unlinked.
    pub fn get(&mut self, ino: u32) -> Result<()> {
        let inode = self.load(ino)?;
        // An allocated inode without links can only be held open: after a
        // file server restart the new instance re-takes the open references
        // of the old one, and such an inode must still be freed at its last
        // put (or at unmount).
        if inode.nlinks == 0 {
            self.orphans.insert(ino);
        }
        *self.open.entry(ino).or_insert(0) += 1;
        Ok(())
    }

    /// Drops an open reference; frees the inode if it was the last one and
    /// the inode has no links left.
    pub fn put(&mut self, ino: u32) -> Result<()> {
        let count = self.open.get_mut(&ino).ok_or(Errno::EINVAL)?;
        *count -= 1;
        if *count == 0 {
            self.open.remove(&ino);
            if self.orphans.remove(&ino) && !self.read_only {
                self.free_inode_now(ino)?;
            }
        }
        Ok(())
    }

    /// Open references on `ino`.
    pub fn open_count(&self, ino: u32) -> u32 {
        self.open.get(&ino).copied().unwrap_or(0)
    }

    /// Marks or unmarks `ino` as a mount point (walks stop there).
    pub fn set_mountpoint(&mut self, ino: u32, on: bool) -> Result<()> {
        let inode = self.load(ino)?;
        if !inode.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if on {
            self.mountpoints.insert(ino);
        } else {
            self.mountpoints.remove(&ino);
        }
        Ok(())
    }

    /// Drops one link, whose name was removed in directory block
    /// `name_block` (the lower count is written only after that block);
    /// frees the inode now or at its last put.
    fn drop_link(
        &mut self,
        ino: u32,
        inode: &mut DiskInode,
        name_block: u32,
        now: u32,
    ) -> Result<()> {
        inode.nlinks = inode.nlinks.saturating_sub(1);
        inode.ctime = now;
        self.dep(name_block, self.inode_block(ino))?;
        self.store(ino, inode)?;
        if inode.nlinks == 0 {
            if self.open_count(ino) > 0 {
                self.orphans.insert(ino);
            } else {
                self.free_inode_now(ino)?;
            }
        }
        Ok(())
    }

    fn free_inode_now(&mut self, ino: u32) -> Result<()> {
        self.dindex.forget(ino);
        let mut inode = self.load_raw(ino)?;
        let holder = self.inode_block(ino);
        if inode.has_data_zones()
            && let Err(e) = self.free_from(&mut inode, 0, holder)
        {
            // Corrupt zone tree: keep the inode, minus what was freed, so
            // no freed zone stays referenced.
            self.store(ino, &inode)?;
            self.commit_frees(&[holder])?;
            return Err(e);
        }
        self.store(ino, &DiskInode::default())?;
        self.free_bit(true, u64::from(ino))?;
        self.commit_frees(&[holder])
    }

    fn alloc_inode(
        &mut self,
        mode_bits: u16,
        uid: u16,
        gid: u16,
        now: u32,
    ) -> Result<(u32, DiskInode)> {
        if self.g.version == Version::V1 && gid > 255 {
            return Err(Errno::EINVAL);
        }
        let bit = self.alloc_bit(true, self.isearch)?;
        let ino = u32::try_from(bit).map_err(|_| Errno::EIO)?;
        self.isearch = bit;
        // A directory of that number was freed: its index is gone already,
        // but a reused number must never meet an old index.
        self.dindex.forget(ino);
        let inode = DiskInode {
            mode: mode_bits,
            nlinks: 0,
            uid,
            gid,
            size: 0,
            atime: now,
            mtime: now,
            ctime: now,
            zone: [0; format::V2_NR_TZONES],
        };
        Ok((ino, inode))
    }

    // -----------------------------------------------------------------------
    // Bitmaps.

    fn map_geometry(&self, imap: bool) -> (u32, u32, u64) {
        if imap {
            (self.g.imap_start, self.g.imap_blocks, self.g.imap_bits())
        } else {
            (self.g.zmap_start, self.g.zmap_blocks, self.g.zmap_bits())
        }
    }

    /// First-fit allocation from `hint`, wrapping once; bit 0 is never handed out.
    fn alloc_bit(&mut self, imap: bool, hint: u64) -> Result<u64> {
        let (start, nblocks, nbits) = self.map_geometry(imap);
        let bpb = self.g.bits_per_block();
        let hint = if hint == 0 || hint >= nbits { 1 } else { hint };
        // Scan [hint, nbits) then [1, hint).
        for (lo, hi) in [(hint, nbits), (1, hint)] {
            let mut bit = lo;
            while bit < hi {
                let blk = bit / bpb;
                if blk >= u64::from(nblocks) {
                    break;
                }
                let in_blk = (bit % bpb) as usize;
                let limit = (hi - blk * bpb).min(bpb) as usize;
                let found = self.io.read(start + blk as u32, |d| {
                    format::bit_find_zero(d, in_blk, limit)
                })?;
                if let Some(i) = found {
                    let b = blk * bpb + i as u64;
                    self.check_free_bit(imap, b)?;
                    self.io
                        .modify(start + blk as u32, |d| format::bit_set(d, i, true))?;
                    return Ok(b);
                }
                bit = (blk + 1) * bpb;
            }
        }
        Err(Errno::ENOSPC)
    }

    /// Before handing out `bit`, checks what the bitmap claims: bit 0 of
    /// the map is set (a zeroed map has it clear), an inode is free on disk,
    /// a zone lies in the data area. Nothing is changed before this passes.
    fn check_free_bit(&mut self, imap: bool, bit: u64) -> Result<()> {
        let (start, _, _) = self.map_geometry(imap);
        if !self.io.read(start, |d| format::bit_get(d, 0))? {
            return Err(self.inconsistent(if imap {
                "inode bitmap damaged (bit 0 clear)"
            } else {
                "zone bitmap damaged (bit 0 clear)"
            }));
        }
        if imap {
            let ino = u32::try_from(bit).map_err(|_| Errno::EIO)?;
            let inode = self.load_raw(ino)?;
            if inode.mode != 0 || inode.nlinks != 0 {
                return Err(self.inconsistent("inode bitmap marks an in-use inode free"));
            }
        } else if !self.g.is_data_zone(self.g.zone_of_bit(bit)) {
            return Err(self.inconsistent("zone bitmap hands out a zone outside the data area"));
        }
        Ok(())
    }

    /// Frees a bit. With write ordering on it is only noted; the step
    /// that drops the pointers to it clears it once they are changed
    /// ([`FileSystem::commit_frees`]).
    fn free_bit(&mut self, imap: bool, bit: u64) -> Result<()> {
        let (_, _, nbits) = self.map_geometry(imap);
        if bit == 0 || bit >= nbits {
            return Err(Errno::EIO);
        }
        if !self.ordered {
            return self.clear_bit(imap, bit);
        }
        if !self.pending_free.contains(&(imap, bit)) {
            self.pending_free.push((imap, bit));
        }
        Ok(())
    }

    /// Clears a bit in the bitmap now.
    fn clear_bit(&mut self, imap: bool, bit: u64) -> Result<()> {
        let (start, _, nbits) = self.map_geometry(imap);
        if bit == 0 || bit >= nbits {
            return Err(Errno::EIO);
        }
        let bpb = self.g.bits_per_block();
        let blk = start + (bit / bpb) as u32;
        let i = (bit % bpb) as usize;
        let was = self.io.modify(blk, |d| {
            let was = format::bit_get(d, i);
            format::bit_set(d, i, false);
            was
        })?;
        if imap {
            self.isearch = self.isearch.min(bit);
        } else {
            self.zsearch = self.zsearch.min(bit);
            if was {
                self.used_zones = self.used_zones.saturating_sub(1);
                self.io.change_usage(-1);
            }
        }
        Ok(())
    }

    fn count_free_bits(&mut self, imap: bool) -> Result<u64> {
        let (start, nblocks, nbits) = self.map_geometry(imap);
        let bpb = self.g.bits_per_block();
        let mut free = 0u64;
        for b in 0..nblocks {
            let first = u64::from(b) * bpb;
            if first >= nbits {
                break;
            }
            let limit = (nbits - first).min(bpb) as usize;
            free += self
                .io
                .read(start + b, |d| format::bit_count_zeros(d, limit))? as u64;
        }
        // Bit 0 is reserved and always set; a corrupt clear bit 0 is not free space.
        if self.io.read(start, |d| !format::bit_get(d, 0))? {
            free = free.saturating_sub(1);
        }
        Ok(free)
    }

    /// Allocates a data zone near `near` (a zone number, 0 = anywhere) and
    /// zero-fills it. `holder` is the block that will point at it: it is
    /// written only after the zone and its bitmap bit.
    /// Allocates a zone near `near`, for `holder` to point at, filled with
    /// `content` (a whole block) or zeros.
    fn alloc_zone(&mut self, near: u32, holder: u32, content: Option<&[u8]>) -> Result<u32> {
        let hint = if self.g.is_data_zone(near) {
            self.g.bit_of_zone(near)
        } else {
            self.zsearch
        };
        let bit = self.alloc_bit(false, hint)?;
        self.zsearch = bit;
        let zone = self.g.zone_of_bit(bit);
        if !self.g.is_data_zone(zone) {
            return Err(self.inconsistent("zone bitmap hands out a zone outside the data area"));
        }
        self.used_zones += 1;
        self.io.change_usage(1);
        // A zone freed since the last flush is written again only after
        // the blocks that dropped the old pointers to it.
        if let Some(holders) = self.recent_free.remove(&zone) {
            for h in holders {
                self.dep(h, zone)?;
            }
        }
        match content {
            Some(src) => self.io.replace(zone, src)?,
            None => self.io.overwrite(zone, |_| ())?,
        }
        self.dep(self.zmap_block(zone), holder)?;
        self.dep(zone, holder)?;
        Ok(zone)
    }

    fn free_zone(&mut self, zone: u32) -> Result<()> {
        if !self.g.is_data_zone(zone) {
            return Err(Errno::EIO);
        }
        self.free_bit(false, self.g.bit_of_zone(zone))
    }

    /// A zone number read from disk: 0 (hole) or a data zone. Anything
    /// else is an inconsistency: EIO, and the file system goes read-only.
    fn checked_zone(&mut self, z: u32) -> Result<u32> {
        if z == 0 || self.g.is_data_zone(z) {
            Ok(z)
        } else {
            Err(self.inconsistent("block pointer outside the data area"))
        }
    }

    /// Whether bit `bit` of the inode (`imap`) or zone bitmap is set.
    fn bit_is_set(&mut self, imap: bool, bit: u64) -> Result<bool> {
        let (start, _, nbits) = self.map_geometry(imap);
        if bit >= nbits {
            return Err(Errno::EIO);
        }
        let bpb = self.g.bits_per_block();
        let blk = start + (bit / bpb) as u32;
        self.io
            .read(blk, |d| format::bit_get(d, (bit % bpb) as usize))
    }

    /// Checks, before anything is changed, every zone that freeing file
    /// blocks `>= first` of `inode` would touch: each pointer must lie in
    /// the data area and each zone to be freed must be marked in use. A
    /// failure is an inconsistency (EIO, read-only), so an unlink, rmdir,
    /// rename or truncate either completes or leaves the tree as it was.
    fn check_free_from(&mut self, inode: &DiskInode, first: u64) -> Result<()> {
        if !inode.has_data_zones() {
            return Ok(());
        }
        for slot in 0..NR_DZONES {
            if slot as u64 >= first && inode.zone[slot] != 0 {
                let z = self.checked_zone(inode.zone[slot])?;
                self.check_in_use(z)?;
            }
        }
        let n = u64::from(self.g.ptrs_per_block);
        let mut base = NR_DZONES as u64;
        let mut span = n;
        for (slot, depth) in [(ZONE_IND, 1u32), (ZONE_DIND, 2), (ZONE_TIND, 3)] {
            if slot >= self.g.nr_tzones {
                break;
            }
            let z = self.checked_zone(inode.zone[slot])?;
            if z != 0 && base + span > first {
                self.check_in_use(z)?;
                self.check_tree(z, depth, base, first)?;
            }
            base += span;
            span = span.saturating_mul(n);
        }
        Ok(())
    }

    /// [`FileSystem::check_free_from`] below indirect block `z`.
    fn check_tree(&mut self, z: u32, depth: u32, base: u64, first: u64) -> Result<()> {
        let g = self.g;
        let n = u64::from(g.ptrs_per_block);
        let child_span = n.pow(depth - 1);
        let entries: Vec<u32> = self.io.read(z, |d| {
            (0..n as usize).map(|i| format::ind_get(&g, d, i)).collect()
        })?;
        for (i, &e) in entries.iter().enumerate() {
            let child_base = base + i as u64 * child_span;
            if e == 0 || child_base + child_span <= first {
                continue;
            }
            let child = self.checked_zone(e)?;
            self.check_in_use(child)?;
            if depth > 1 {
                self.check_tree(child, depth - 1, child_base, first)?;
            }
        }
        Ok(())
    }

    /// A zone a file points at must be marked in use in the zone bitmap.
    fn check_in_use(&mut self, zone: u32) -> Result<()> {
        if self.bit_is_set(false, self.g.bit_of_zone(zone))? {
            Ok(())
        } else {
            Err(self.inconsistent("a file's block is free in the zone bitmap"))
        }
    }

    /// Before dropping the last link of `inode` (`ino`): its zones must be
    /// sound to free (see [`FileSystem::check_free_from`]). An inode still
    /// open is freed only at its last put; it is checked then.
    fn check_last_link(&mut self, ino: u32, inode: &DiskInode, dropped: u16) -> Result<()> {
        if inode.nlinks <= dropped && self.open_count(ino) == 0 {
            self.check_free_from(inode, 0)?;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Zone mapping.

    fn block_path(&self, fblock: u64) -> Result<BlockPath> {
        let n = u64::from(self.g.ptrs_per_block);
        if fblock < NR_DZONES as u64 {
            return Ok(BlockPath {
                slot: fblock as usize,
                depth: 0,
                idx: [0; 3],
            });
        }
        let mut e = fblock - NR_DZONES as u64;
        if e < n {
            return Ok(BlockPath {
                slot: ZONE_IND,
                depth: 1,
                idx: [e as usize, 0, 0],
            });
        }
        e -= n;
        if e < n * n {
            return Ok(BlockPath {
                slot: ZONE_DIND,
                depth: 2,
                idx: [(e / n) as usize, (e % n) as usize, 0],
            });
        }
        e -= n * n;
        if self.g.has_triple_indirect() && e < n * n * n {
            return Ok(BlockPath {
                slot: ZONE_TIND,
                depth: 3,
                idx: [
                    (e / (n * n)) as usize,
                    ((e / n) % n) as usize,
                    (e % n) as usize,
                ],
            });
        }
        Err(Errno::EFBIG)
    }

    /// Zone holding file block `fblock`, 0 for a hole.
    fn bmap(&mut self, inode: &DiskInode, fblock: u64) -> Result<u32> {
        let p = match self.block_path(fblock) {
            Ok(p) => p,
            Err(_) => return Ok(0),
        };
        let mut z = self.checked_zone(inode.zone[p.slot])?;
        for level in 0..p.depth {
            if z == 0 {
                return Ok(0);
            }
            let g = self.g;
            let idx = p.idx[level];
            let e = self.io.read(z, |d| format::ind_get(&g, d, idx))?;
            z = self.checked_zone(e)?;
        }
        Ok(z)
    }

    /// Zone for file block `fblock`, allocating it (and indirect blocks) if
    /// it is a hole. Returns the zone and whether it is new: then it holds
    /// `content` if given (a whole block), else zeros.
    fn bmap_alloc(
        &mut self,
        ino: u32,
        inode: &mut DiskInode,
        fblock: u64,
        near: u32,
        content: Option<&[u8]>,
    ) -> Result<(u32, bool, u32)> {
        let p = self.block_path(fblock)?;
        let mut z = self.checked_zone(inode.zone[p.slot])?;
        let mut new = false;
        let mut holder = self.inode_block(ino);
        // Only the data zone (the last level) gets `content`.
        let fill = |level: usize| if level == p.depth { content } else { None };
        if z == 0 {
            z = self.alloc_zone(near, holder, fill(0))?;
            inode.zone[p.slot] = z;
            new = true;
        }
        for level in 0..p.depth {
            let g = self.g;
            let idx = p.idx[level];
            let e = self.io.read(z, |d| format::ind_get(&g, d, idx))?;
            let mut child = self.checked_zone(e)?;
            let parent_new = new;
            new = false;
            if child == 0 {
                child = self.alloc_zone(z, z, fill(level + 1))?;
                self.io.modify(z, |d| format::ind_set(&g, d, idx, child))?;
                if parent_new {
                    // A new indirect block changed after its allocation
                    // (a write-back may have come between): still before
                    // the block that points at it.
                    self.dep(z, holder)?;
                }
                new = true;
            }
            holder = z;
            z = child;
        }
        Ok((z, new, holder))
    }

    /// Frees every zone of file blocks `>= first` and indirect blocks that
    /// no longer map anything. `holder` is the inode's block: indirect
    /// blocks that keep some pointers are written before it.
    fn free_from(&mut self, inode: &mut DiskInode, first: u64, holder: u32) -> Result<()> {
        for slot in 0..NR_DZONES {
            if slot as u64 >= first && inode.zone[slot] != 0 {
                let z = self.checked_zone(inode.zone[slot])?;
                self.free_zone(z)?;
                inode.zone[slot] = 0;
            }
        }
        let n = u64::from(self.g.ptrs_per_block);
        let mut base = NR_DZONES as u64;
        let mut span = n;
        for (slot, depth) in [(ZONE_IND, 1u32), (ZONE_DIND, 2), (ZONE_TIND, 3)] {
            if slot >= self.g.nr_tzones {
                break;
            }
            let z = self.checked_zone(inode.zone[slot])?;
            if z != 0 && self.free_tree(z, depth, base, first, holder)? {
                self.free_zone(z)?;
                inode.zone[slot] = 0;
            }
            base += span;
            span = span.saturating_mul(n);
        }
        Ok(())
    }

    /// Frees, under indirect block `z` of `depth` covering file blocks from
    /// `base`, everything at or past `first`. Returns true when `z` itself
    /// maps nothing any more (the caller frees it, and it is not written);
    /// otherwise its cleared entries are written before `holder`.
    fn free_tree(
        &mut self,
        z: u32,
        depth: u32,
        base: u64,
        first: u64,
        holder: u32,
    ) -> Result<bool> {
        let g = self.g;
        let n = u64::from(g.ptrs_per_block);
        let child_span = n.pow(depth - 1);
        let entries: Vec<u32> = self.io.read(z, |d| {
            (0..n as usize).map(|i| format::ind_get(&g, d, i)).collect()
        })?;
        let mut cleared = Vec::new();
        let mut all_empty = true;
        for (i, &e) in entries.iter().enumerate() {
            let child_base = base + i as u64 * child_span;
            if e == 0 {
                continue;
            }
            let child = self.checked_zone(e)?;
            let drop = if child_base + child_span <= first {
                false
            } else if depth == 1 {
                child_base >= first
            } else {
                self.free_tree(child, depth - 1, child_base, first, holder)?
            };
            if drop {
                self.free_zone(child)?;
                cleared.push(i);
            } else {
                all_empty = false;
            }
        }
        if !all_empty && !cleared.is_empty() {
            self.io.modify(z, |d| {
                for &i in &cleared {
                    format::ind_set(&g, d, i, 0);
                }
            })?;
            self.dep(z, holder)?;
        }
        Ok(all_empty)
    }

    // -----------------------------------------------------------------------
    // Data.

    /// Reads file data of `inode` at `off` into `buf`; returns bytes read.
    fn read_data(&mut self, inode: &DiskInode, off: u64, buf: &mut [u8]) -> Result<usize> {
        let len = buf.len();
        self.read_data_with(inode, off, len, |at, bytes| {
            buf[at..at + bytes.len()].copy_from_slice(bytes);
            Ok(())
        })
    }

    /// Reads up to `len` bytes at `off`, handing each piece (within one
    /// block) to `sink` with its offset from `off`, straight out of the
    /// cache; returns the bytes read. A `sink` error stops the read.
    fn read_data_with(
        &mut self,
        inode: &DiskInode,
        off: u64,
        len: usize,
        mut sink: impl FnMut(usize, &[u8]) -> Result<()>,
    ) -> Result<usize> {
        /// Holes read as zeros, a piece at a time.
        static ZEROS: [u8; 4096] = [0; 4096];
        let size = u64::from(inode.size);
        if off >= size || len == 0 {
            return Ok(0);
        }
        let n = (len as u64).min(size - off) as usize;
        let bs = u64::from(self.g.block_size);
        let mut done = 0usize;
        let last_needed = (off + n as u64 - 1) / bs;
        // Zones of file blocks window_start.., mapped once for both the
        // prefetch hint and the reads.
        let mut window: Vec<u32> = Vec::new();
        let mut window_start = 0u64;
        while done < n {
            let pos = off + done as u64;
            let fb = pos / bs;
            if fb >= window_start + window.len() as u64 {
                window = self.map_window(inode, fb, last_needed)?;
                window_start = fb;
            }
            let in_blk = (pos % bs) as usize;
            let chunk = (bs as usize - in_blk).min(n - done);
            let z = window[(fb - window_start) as usize];
            if z == 0 {
                let mut at = 0;
                while at < chunk {
                    let k = (chunk - at).min(ZEROS.len());
                    sink(done + at, &ZEROS[..k])?;
                    at += k;
                }
            } else {
                self.io
                    .read(z, |d| sink(done, &d[in_blk..in_blk + chunk]))??;
            }
            done += chunk;
        }
        Ok(n)
    }

    /// Maps file blocks `fb..=last` (at most [`PREFETCH_BLOCKS`]) to zones (0
    /// for holes) and hands the allocated ones to the cache's prefetch, the
    /// block needed now first.
    fn map_window(&mut self, inode: &DiskInode, fb: u64, last: u64) -> Result<Vec<u32>> {
        let end = (fb + PREFETCH_BLOCKS).min(last + 1);
        let mut zones = Vec::with_capacity((end - fb) as usize);
        for b in fb..end {
            zones.push(self.bmap(inode, b)?);
        }
        let wanted: Vec<u32> = zones.iter().copied().filter(|&z| z != 0).collect();
        if wanted.len() > 1 {
            self.io.prefetch(&wanted);
        }
        Ok(zones)
    }

    /// Writes `data` at `off`, allocating zones; updates size (not times).
    /// Returns bytes written; a short count only when space ran out midway.
    fn write_data(
        &mut self,
        ino: u32,
        inode: &mut DiskInode,
        off: u64,
        data: &[u8],
    ) -> Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let end = off.checked_add(data.len() as u64).ok_or(Errno::EFBIG)?;
        if end > self.g.max_file_size() {
            return Err(Errno::EFBIG);
        }
        let bs = u64::from(self.g.block_size);
        let mut done = 0usize;
        let mut near = 0u32;
        let mut result = Ok(());
        while done < data.len() {
            let pos = off + done as u64;
            let fb = pos / bs;
            let in_blk = (pos % bs) as usize;
            let chunk = (bs as usize - in_blk).min(data.len() - done);
            let src = &data[done..done + chunk];
            let whole = chunk == bs as usize;
            let (z, new, holder) = match self.bmap_alloc(ino, inode, fb, near, whole.then_some(src))
            {
                Ok(v) => v,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            near = z;
            if whole && !new {
                self.io.replace(z, src)?;
            } else if !whole {
                self.io
                    .modify(z, |d| d[in_blk..in_blk + chunk].copy_from_slice(src))?;
            }
            if new {
                // New data before the pointer to it (again: a write-back
                // since the allocation may have taken the edge).
                self.dep(z, holder)?;
            }
            done += chunk;
        }
        let new_end = off + done as u64;
        if new_end > u64::from(inode.size) {
            inode.size = new_end as u32;
        }
        match result {
            Err(e) if done == 0 => Err(e),
            _ => Ok(done),
        }
    }

    /// Sets the size of `inode` to `size`, freeing or zeroing as needed.
    fn truncate_inode(&mut self, ino: u32, inode: &mut DiskInode, size: u64) -> Result<()> {
        if size > self.g.max_file_size() {
            return Err(Errno::EFBIG);
        }
        let bs = u64::from(self.g.block_size);
        let old = u64::from(inode.size);
        if size < old {
            let first_free = size.div_ceil(bs);
            let holder = self.inode_block(ino);
            self.free_from(inode, first_free, holder)?;
            // Zero the tail of the last kept block so a later grow reads zeros.
            let tail = (size % bs) as usize;
            if tail != 0 {
                let z = self.bmap(inode, size / bs)?;
                if z != 0 {
                    self.io.modify(z, |d| d[tail..].fill(0))?;
                }
            }
        }
        inode.size = size as u32;
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Public data operations.

    /// Reads up to `buf.len()` bytes at `off` from a file, directory or
    /// symlink; returns the bytes read (0 at or past the end). Holes read as
    /// zeros. atime is not updated (as on a `noatime` mount).
    pub fn read(&mut self, ino: u32, off: u64, buf: &mut [u8]) -> Result<usize> {
        let inode = self.load(ino)?;
        if !inode.has_data_zones() {
            return Err(Errno::EINVAL);
        }
        self.read_data(&inode, off, buf)
    }

    /// Like [`FileSystem::read`], but hands the bytes to `sink` piece by
    /// piece (offset from `off`, bytes within one block) straight from the
    /// cache, without a buffer: a file server copies them to its client.
    pub fn read_with(
        &mut self,
        ino: u32,
        off: u64,
        len: usize,
        sink: impl FnMut(usize, &[u8]) -> Result<()>,
    ) -> Result<usize> {
        let inode = self.load(ino)?;
        if !inode.has_data_zones() {
            return Err(Errno::EINVAL);
        }
        self.read_data_with(&inode, off, len, sink)
    }

    /// Writes `data` at `off` into a regular file; returns bytes written
    /// (short only if the device filled up midway). EFBIG past the maximum size.
    pub fn write(&mut self, ino: u32, off: u64, data: &[u8], now: u32) -> Result<usize> {
        self.check_rw()?;
        let mut inode = self.load(ino)?;
        if inode.is_dir() {
            return Err(Errno::EISDIR);
        }
        if !inode.is_reg() {
            return Err(Errno::EINVAL);
        }
        let r = self.write_data(ino, &mut inode, off, data);
        if matches!(r, Ok(n) if n > 0) {
            inode.mtime = now;
            inode.ctime = now;
        }
        self.store(ino, &inode)?;
        r
    }

    /// Zone holding file block `fblock` of `ino` (0 for a hole): for tools
    /// and tests that look at the layout.
    pub fn zone_of(&mut self, ino: u32, fblock: u64) -> Result<u32> {
        let inode = self.load(ino)?;
        self.bmap(&inode, fblock)
    }

    /// Sets a regular file's size (grows with a hole, shrinks freeing zones).
    pub fn truncate(&mut self, ino: u32, size: u64, now: u32) -> Result<()> {
        self.check_rw()?;
        let mut inode = self.load(ino)?;
        if inode.is_dir() {
            return Err(Errno::EISDIR);
        }
        if !inode.is_reg() {
            return Err(Errno::EINVAL);
        }
        if size < u64::from(inode.size) {
            // Checked whole first, so a damaged tree changes nothing.
            let first_free = size.div_ceil(u64::from(self.g.block_size));
            self.check_free_from(&inode, first_free)?;
        }
        let r = self.truncate_inode(ino, &mut inode, size);
        inode.mtime = now;
        inode.ctime = now;
        // Stored even after a failure midway: zones freed so far are no
        // longer referenced.
        self.store(ino, &inode)?;
        self.commit_frees(&[self.inode_block(ino)])?;
        r
    }

    // -----------------------------------------------------------------------
    // Attributes.

    /// Attributes of `ino`.
    pub fn stat(&mut self, ino: u32) -> Result<Stat> {
        let inode = self.load(ino)?;
        Ok(Stat {
            ino,
            mode: inode.mode,
            nlinks: inode.nlinks,
            uid: inode.uid,
            gid: inode.gid,
            size: inode.size,
            atime: inode.atime,
            mtime: inode.mtime,
            ctime: inode.ctime,
            rdev: if inode.is_device() { inode.zone[0] } else { 0 },
            blksize: self.g.block_size,
        })
    }

    /// Changes the permission bits (the file type stays).
    pub fn chmod(&mut self, ino: u32, perm: u16, now: u32) -> Result<()> {
        self.check_rw()?;
        let mut inode = self.load(ino)?;
        inode.mode = (inode.mode & mode::S_IFMT) | (perm & mode::PERM_MASK);
        inode.ctime = now;
        self.store(ino, &inode)
    }

    /// Changes owner and group (EINVAL if the group does not fit V1's byte).
    pub fn chown(&mut self, ino: u32, uid: u16, gid: u16, now: u32) -> Result<()> {
        self.check_rw()?;
        let mut inode = self.load(ino)?;
        inode.uid = uid;
        inode.gid = gid;
        inode.ctime = now;
        self.store(ino, &inode)
    }

    /// Sets access and modification times (V1 keeps only `mtime`).
    pub fn utimes(&mut self, ino: u32, atime: u32, mtime: u32, now: u32) -> Result<()> {
        self.check_rw()?;
        let mut inode = self.load(ino)?;
        inode.atime = atime;
        inode.mtime = mtime;
        inode.ctime = now;
        if self.g.version == Version::V1 {
            // One timestamp on disk: it is the modification time.
            inode.ctime = mtime;
        }
        self.store(ino, &inode)
    }

    /// File-system statistics; block counts come from the cache's usage
    /// counters, free inodes from a scan of the inode bitmap.
    pub fn statvfs(&mut self) -> Result<StatVfs> {
        let ffree = self.count_free_bits(true)?;
        let used = self.io.used_blocks().unwrap_or(self.used_zones);
        let bfree = u64::from(self.g.zones).saturating_sub(used);
        Ok(StatVfs {
            bsize: self.g.block_size,
            frsize: self.g.block_size,
            blocks: u64::from(self.g.zones),
            bfree,
            bavail: bfree,
            files: u64::from(self.g.ninodes),
            ffree,
            favail: ffree,
            namemax: self.g.name_len,
        })
    }

    // -----------------------------------------------------------------------
    // Directories.

    fn check_name(&self, name: &[u8]) -> Result<()> {
        if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
            return Err(Errno::EINVAL);
        }
        if name.len() > self.g.name_len as usize {
            return Err(Errno::ENAMETOOLONG);
        }
        Ok(())
    }

    fn load_dir(&mut self, ino: u32) -> Result<DiskInode> {
        let inode = self.load(ino)?;
        if !inode.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if inode.size % self.g.dirent_size != 0 {
            return Err(Errno::EIO);
        }
        Ok(inode)
    }

    /// Visits every entry slot of a directory in order: `f(pos, entry)`
    /// returns `true` to stop. Returns the position where it stopped.
    fn dir_scan(
        &mut self,
        dir: &DiskInode,
        from: u64,
        mut f: impl FnMut(u64, &[u8]) -> bool,
    ) -> Result<Option<u64>> {
        let g = self.g;
        let bs = u64::from(g.block_size);
        let es = u64::from(g.dirent_size);
        let size = u64::from(dir.size);
        let mut fb = from / bs;
        while fb * bs < size {
            let z = self.bmap(dir, fb)?;
            if z == 0 {
                // Directories have no holes.
                return Err(Errno::EIO);
            }
            let block_start = fb * bs;
            let first = from.max(block_start);
            let end = size.min(block_start + bs);
            let stop = self.io.read(z, |d| {
                let mut pos = first;
                while pos < end {
                    let o = (pos - block_start) as usize;
                    let e = &d[o..o + es as usize];
                    if f(pos, e) {
                        return Some(pos);
                    }
                    pos += es;
                }
                None
            })?;
            if stop.is_some() {
                return Ok(stop);
            }
            fb += 1;
        }
        Ok(None)
    }

    /// Finds `name` in directory `dir_ino` (inode `dir`): (position, inode)
    /// if present, and the first free slot before it. Large directories
    /// answer from their name index (`crate::dirindex`), with the same
    /// result as the scan.
    fn dir_find(&mut self, dir_ino: u32, dir: &DiskInode, name: &[u8]) -> Result<DirFind> {
        if let Some(r) = self.indexed_find(dir_ino, dir, name) {
            return Ok(r);
        }
        self.linear_find(dir, name)
    }

    /// The scan: every slot up to the name.
    fn linear_find(&mut self, dir: &DiskInode, name: &[u8]) -> Result<DirFind> {
        let mut free = None;
        let mut found = None;
        let g = self.g;
        self.dir_scan(dir, 0, |pos, e| {
            let ino = format::dirent_ino(&g, e);
            if ino == 0 {
                if free.is_none() {
                    free = Some(pos);
                }
                false
            } else if format::dirent_name_is(&g, e, name) {
                found = Some((pos, ino));
                true
            } else {
                false
            }
        })?;
        if let Some((_, ino)) = found
            && !self.g.is_valid_ino(ino)
        {
            return Err(Errno::EIO);
        }
        Ok((found, free))
    }

    /// [`FileSystem::dir_find`] through the index of `dir_ino`, built
    /// first if the directory is large enough. `None`: the scan must answer
    /// (no index, or the disk disagreed with it; the attempt then left no
    /// trace: the inconsistency state is as it was, so errors and their
    /// effects are exactly the scan's).
    fn indexed_find(&mut self, dir_ino: u32, dir: &DiskInode, name: &[u8]) -> Option<DirFind> {
        if name.is_empty() || name.contains(&0) {
            return None;
        }
        let fp = Fingerprint::of(dir);
        let es = u64::from(self.g.dirent_size);
        let saved = (self.inconsistency, self.read_only);
        if self.dindex.get(dir_ino, &fp).is_none() {
            if !self.dindex.wants(dir_ino, u64::from(dir.size) / es, &fp) {
                return None;
            }
            match self.build_index(dir) {
                Ok(ix) => self.dindex.insert(dir_ino, ix, fp),
                Err(_) => {
                    (self.inconsistency, self.read_only) = saved;
                    self.dindex.build_failed(dir_ino, fp);
                    return None;
                }
            }
        }
        let r = self.indexed_find_in(dir_ino, dir, name, &fp);
        if r.is_none() {
            (self.inconsistency, self.read_only) = saved;
            self.dindex.contradicted(dir_ino);
        } else {
            self.dindex.stats.indexed_finds += 1;
        }
        r
    }

    /// The search itself, every answer checked on disk; `None` when the
    /// disk disagrees or cannot be read.
    fn indexed_find_in(
        &mut self,
        dir_ino: u32,
        dir: &DiskInode,
        name: &[u8],
        fp: &Fingerprint,
    ) -> Option<DirFind> {
        let es = u64::from(self.g.dirent_size);
        let h = dirindex::name_hash(name);
        let (cands, first_free): (Vec<u32>, Option<u32>) = {
            let ix = self.dindex.get(dir_ino, fp)?;
            (ix.candidates(h).collect(), ix.first_free())
        };
        let mut found = None;
        for slot in cands {
            let pos = u64::from(slot) * es;
            let (ino, is, hh) = self.read_slot(dir, pos, name).ok()?;
            if ino == 0 || hh != h {
                return None;
            }
            if is {
                found = Some((pos, ino));
                break;
            }
        }
        if let Some((_, ino)) = found
            && !self.g.is_valid_ino(ino)
        {
            // The scan says EIO.
            return None;
        }
        let mut free = None;
        if let Some(slot) = first_free {
            let pos = u64::from(slot) * es;
            if found.is_none_or(|(p, _)| pos < p) {
                if pos >= u64::from(dir.size) || self.read_slot(dir, pos, name).ok()?.0 != 0 {
                    return None;
                }
                free = Some(pos);
            }
        }
        Some((found, free))
    }

    /// The entry slot at `pos` of `dir`: its inode number, whether it is
    /// named `name`, and the hash of its name.
    fn read_slot(&mut self, dir: &DiskInode, pos: u64, name: &[u8]) -> Result<(u32, bool, u32)> {
        let g = self.g;
        let bs = u64::from(g.block_size);
        let es = g.dirent_size as usize;
        let z = self.dir_block(dir, pos)?;
        let o = (pos % bs) as usize;
        self.io.read(z, |d| {
            let e = &d[o..o + es];
            (
                format::dirent_ino(&g, e),
                format::dirent_name_is(&g, e, name),
                dirindex::name_hash(format::dirent_name(&g, e)),
            )
        })
    }

    /// Scans a whole directory into a new index.
    fn build_index(&mut self, dir: &DiskInode) -> Result<DirIndex> {
        let g = self.g;
        let es = u64::from(g.dirent_size);
        let mut ix = DirIndex::new();
        self.dir_scan(dir, 0, |pos, e| {
            let slot = (pos / es) as u32;
            if format::dirent_ino(&g, e) == 0 {
                ix.add_scanned(slot, Slot::Free);
            } else {
                ix.add_scanned(
                    slot,
                    Slot::Used(dirindex::name_hash(format::dirent_name(&g, e))),
                );
            }
            false
        })?;
        Ok(ix)
    }

    /// What slot bytes `e` hold, for the index.
    fn slot_state(g: &Geometry, e: &[u8]) -> Slot {
        if format::dirent_ino(g, e) == 0 {
            Slot::Free
        } else {
            Slot::Used(dirindex::name_hash(format::dirent_name(g, e)))
        }
    }

    /// Bounds on the directory name indexes (default
    /// [`DirIndexLimits::default`]; [`DirIndexLimits::OFF`] turns them
    /// off). Drops every index.
    pub fn set_dir_index_limits(&mut self, limits: DirIndexLimits) {
        self.dindex.set_limits(limits);
    }

    /// The directory name indexes' counters.
    pub fn dir_index_stats(&self) -> DirIndexStats {
        self.dindex.stats()
    }

    /// Drops every directory name index (they are rebuilt from disk on
    /// use): for callers that changed directory blocks behind the core.
    pub fn forget_dir_indexes(&mut self) {
        self.dindex.clear();
    }

    /// Writes entry (`ino`, `name`) at byte `pos` of directory `dir`.
    fn dir_put(
        &mut self,
        dir_ino: u32,
        dir: &mut DiskInode,
        pos: u64,
        ino: u32,
        name: &[u8],
        before: &[u32],
    ) -> Result<u32> {
        let fp = Fingerprint::of(dir);
        match self.dir_put_inner(dir_ino, dir, pos, ino, name, before) {
            Ok((z, old)) => {
                let es = u64::from(self.g.dirent_size);
                let new = if ino == 0 {
                    Slot::Free
                } else {
                    Slot::Used(dirindex::name_hash(name))
                };
                let change = [((pos / es) as u32, old, new)];
                self.dindex
                    .changed(dir_ino, &fp, Fingerprint::of(dir), &change);
                Ok(z)
            }
            Err(e) => {
                self.dindex.forget(dir_ino);
                Err(e)
            }
        }
    }

    /// [`FileSystem::dir_put`] without the index: also returns what the
    /// slot held.
    fn dir_put_inner(
        &mut self,
        dir_ino: u32,
        dir: &mut DiskInode,
        pos: u64,
        ino: u32,
        name: &[u8],
        before: &[u32],
    ) -> Result<(u32, Slot)> {
        let g = self.g;
        let mut e = vec![0u8; self.g.dirent_size as usize];
        format::dirent_write(&self.g, &mut e, ino, name);
        let bs = u64::from(self.g.block_size);
        let o = (pos % bs) as usize;
        let mut grown = None;
        let mut new_direct = false;
        let appended = pos >= u64::from(dir.size);
        let z = if !appended {
            let z = self.bmap(dir, pos / bs)?;
            if z == 0 {
                return Err(Errno::EIO);
            }
            z
        } else {
            let end = pos + e.len() as u64;
            if end > self.g.max_file_size() {
                return Err(Errno::EFBIG);
            }
            // A new slot at the end: entries never straddle blocks.
            let (z, new, holder) = self.bmap_alloc(dir_ino, dir, pos / bs, 0, None)?;
            dir.size = end as u32;
            if new {
                grown = Some(holder);
                new_direct = pos / bs < NR_DZONES as u64;
            }
            z
        };
        // A directory block allocated for a direct slot, with nothing
        // written to the device since, is unreachable on disk (the inode's
        // old copy does not point at it): an inode in the directory's own
        // inode block needs no ordering before the name, it reaches the
        // disk together with the pointer. (A new directory's first
        // children share its inode block; ordering them would force a
        // write for every mkdir.)
        let epoch = self.io.write_epoch();
        if new_direct && let Some(e) = epoch {
            if self.fresh_dir.len() >= FRESH_DIR_MAX {
                self.fresh_dir.clear();
            }
            self.fresh_dir.insert(z, e);
        }
        let unreached = self.ordered
            && pos / bs < NR_DZONES as u64
            && epoch.is_some()
            && self.fresh_dir.get(&z).copied() == epoch;
        for &b in before {
            if !(unreached && b == self.inode_block(dir_ino)) {
                self.dep(b, z)?;
            }
        }
        let old = self.io.modify(z, |d| {
            let old = if appended {
                Slot::Absent
            } else {
                Self::slot_state(&g, &d[o..o + e.len()])
            };
            d[o..o + e.len()].copy_from_slice(&e);
            old
        })?;
        if let Some(holder) = grown {
            // A new block: the entry is in before the block that maps it
            // (a write-back since the allocation may have taken the edge).
            // A slot appended in a block already mapped needs nothing: past
            // the old size it is invisible, and a larger size shows it empty.
            self.dep(z, holder)?;
        }
        Ok((z, old))
    }

    /// The block holding the entry slot at `pos` of `dir` (which exists).
    fn dir_block(&mut self, dir: &DiskInode, pos: u64) -> Result<u32> {
        let bs = u64::from(self.g.block_size);
        let z = self.bmap(dir, pos / bs)?;
        if z == 0 {
            return Err(Errno::EIO);
        }
        Ok(z)
    }

    /// Changes the inode number of the entry at `pos` (name kept), after
    /// the blocks `before`. Returns the directory block changed.
    fn dir_set_ino(
        &mut self,
        dir_ino: u32,
        dir: &DiskInode,
        pos: u64,
        ino: u32,
        before: &[u32],
    ) -> Result<u32> {
        let g = self.g;
        let bs = u64::from(g.block_size);
        let es = g.dirent_size as usize;
        let r = self.dir_block(dir, pos).and_then(|z| {
            for &b in before {
                self.dep(b, z)?;
            }
            let o = (pos % bs) as usize;
            let isz = g.dirent_ino_size as usize;
            self.io.modify(z, |d| {
                let old = Self::slot_state(&g, &d[o..o + es]);
                if isz == 4 {
                    d[o..o + 4].copy_from_slice(&ino.to_le_bytes());
                } else {
                    d[o..o + 2].copy_from_slice(&(ino as u16).to_le_bytes());
                }
                (z, old, Self::slot_state(&g, &d[o..o + es]))
            })
        });
        match r {
            Ok((z, old, new)) => {
                let fp = Fingerprint::of(dir);
                let change = [((pos / es as u64) as u32, old, new)];
                self.dindex.changed(dir_ino, &fp, fp, &change);
                Ok(z)
            }
            Err(e) => {
                self.dindex.forget(dir_ino);
                Err(e)
            }
        }
    }

    /// Adds `name` -> `ino` to directory `dir_ino` (EEXIST if present),
    /// written after the blocks `before` (the named inode, its bitmap bit,
    /// a raised link count). Returns the directory block changed.
    fn dir_add(
        &mut self,
        dir_ino: u32,
        dir: &mut DiskInode,
        name: &[u8],
        ino: u32,
        before: &[u32],
        now: u32,
    ) -> Result<u32> {
        let (found, free) = self.dir_find(dir_ino, dir, name)?;
        if found.is_some() {
            return Err(Errno::EEXIST);
        }
        let pos = free.unwrap_or(u64::from(dir.size));
        let z = self.dir_put(dir_ino, dir, pos, ino, name, before)?;
        dir.mtime = now;
        dir.ctime = now;
        self.store(dir_ino, dir)?;
        Ok(z)
    }

    /// True when a directory holds nothing but "." and "..".
    fn dir_is_empty(&mut self, dir: &DiskInode) -> Result<bool> {
        let mut empty = true;
        let g = self.g;
        self.dir_scan(dir, 0, |_, e| {
            let n = format::dirent_name(&g, e);
            if format::dirent_ino(&g, e) != 0 && n != b"." && n != b".." {
                empty = false;
                true
            } else {
                false
            }
        })?;
        Ok(empty)
    }

    /// Looks up one component in directory `dir`.
    pub fn lookup(&mut self, dir: u32, name: &[u8]) -> Result<u32> {
        let d = self.load_dir(dir)?;
        if name.is_empty() {
            return Err(Errno::ENOENT);
        }
        if name.len() > self.g.name_len as usize {
            return Err(Errno::ENAMETOOLONG);
        }
        match self.dir_find(dir, &d, name)?.0 {
            Some((_, ino)) => Ok(ino),
            None => Err(Errno::ENOENT),
        }
    }

    /// Walks `path` (components separated by '/', empty ones skipped) from
    /// directory `start`. Stops and hands back at symlinks, mount points and
    /// ".." at the root as [`WalkFlags`] asks.
    pub fn walk(&mut self, start: u32, path: &[u8], flags: WalkFlags) -> Result<Walk> {
        let comps: Vec<(usize, &[u8])> = split_components(path);
        let mut cur = start;
        let mut parent = start;
        let trailing_slash = path.last() == Some(&b'/');
        for (k, &(offset, comp)) in comps.iter().enumerate() {
            let last = k + 1 == comps.len();
            let dir = self.load(cur)?;
            if !dir.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            if comp == b".." && cur == ROOT_INO && flags.leave_at_root {
                return Ok(Walk::LeaveRoot {
                    component: k,
                    rest: path[offset..].to_vec(),
                });
            }
            let child = self.lookup(cur, comp)?;
            let cinode = self.load(child)?;
            let rest_start = offset + comp.len();
            let rest = trim_leading_slashes(&path[rest_start..]).to_vec();
            if cinode.is_symlink() && (!last || flags.follow_last || trailing_slash) {
                return Ok(Walk::Symlink {
                    ino: child,
                    dir: cur,
                    component: k,
                    rest,
                });
            }
            if self.mountpoints.contains(&child) {
                return Ok(Walk::MountPoint {
                    ino: child,
                    component: k,
                    rest,
                });
            }
            parent = cur;
            cur = child;
        }
        if trailing_slash && !comps.is_empty() && !self.load(cur)?.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(Walk::Found { ino: cur, parent })
    }

    /// Reads directory entries from byte position `pos` (a multiple of the
    /// entry size, else ENOENT as MINIX), at most `max` entries; free slots
    /// are skipped. An empty result means the end of the directory.
    pub fn getdents(&mut self, dir: u32, pos: u64, max: usize) -> Result<Vec<DirEntry>> {
        let d = self.load_dir(dir)?;
        let es = u64::from(self.g.dirent_size);
        if !pos.is_multiple_of(es) {
            return Err(Errno::ENOENT);
        }
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        let g = self.g;
        self.dir_scan(&d, pos, |p, e| {
            let ino = format::dirent_ino(&g, e);
            if ino != 0 {
                out.push(DirEntry {
                    ino,
                    name: format::dirent_name(&g, e).to_vec(),
                    next_pos: p + es,
                });
            }
            out.len() >= max
        })?;
        Ok(out)
    }

    /// Every entry of a directory, "." and ".." included.
    pub fn read_dir(&mut self, dir: u32) -> Result<Vec<DirEntry>> {
        self.getdents(dir, 0, usize::MAX)
    }

    // -----------------------------------------------------------------------
    // Creating and removing names.

    fn new_node(
        &mut self,
        dir_ino: u32,
        name: &[u8],
        mode_bits: u16,
        uid: u16,
        gid: u16,
        now: u32,
    ) -> Result<(DiskInode, u32, DiskInode)> {
        self.check_rw()?;
        self.check_name(name)?;
        let dir = self.load_dir(dir_ino)?;
        if dir.nlinks == 0 {
            // Creating in a removed directory.
            return Err(Errno::ENOENT);
        }
        // EEXIST is found by `dir_add` in the same scan that finds a free
        // slot; the inode allocated here is given back then.
        let (ino, inode) = self.alloc_inode(mode_bits, uid, gid, now)?;
        Ok((dir, ino, inode))
    }

    /// Undo of an inode allocation after a later step failed.
    fn abandon_inode(&mut self, ino: u32, inode: &mut DiskInode) {
        self.dindex.forget(ino);
        if inode.has_data_zones() {
            let holder = self.inode_block(ino);
            let _ = self.free_from(inode, 0, holder);
        }
        let _ = self.store(ino, &DiskInode::default());
        let _ = self.free_bit(true, u64::from(ino));
        let _ = self.commit_frees(&[self.inode_block(ino)]);
    }

    /// Creates a regular file `name` in `dir` with permission bits `perm`.
    pub fn create(
        &mut self,
        dir: u32,
        name: &[u8],
        perm: u16,
        uid: u16,
        gid: u16,
        now: u32,
    ) -> Result<u32> {
        self.make_node(
            dir,
            name,
            mode::S_IFREG | (perm & mode::PERM_MASK),
            uid,
            gid,
            0,
            now,
        )
    }

    /// Creates a special file: `mode_bits` carries the type (S_IFCHR,
    /// S_IFBLK, S_IFIFO, S_IFSOCK or S_IFREG) and permissions; `rdev` is
    /// stored in zone 0 for devices.
    #[allow(clippy::too_many_arguments)]
    pub fn mknod(
        &mut self,
        dir: u32,
        name: &[u8],
        mode_bits: u16,
        uid: u16,
        gid: u16,
        rdev: u32,
        now: u32,
    ) -> Result<u32> {
        match mode_bits & mode::S_IFMT {
            mode::S_IFCHR | mode::S_IFBLK | mode::S_IFIFO | mode::S_IFSOCK | mode::S_IFREG => {}
            _ => return Err(Errno::EINVAL),
        }
        self.make_node(dir, name, mode_bits, uid, gid, rdev, now)
    }

    #[allow(clippy::too_many_arguments)]
    fn make_node(
        &mut self,
        dir_ino: u32,
        name: &[u8],
        mode_bits: u16,
        uid: u16,
        gid: u16,
        rdev: u32,
        now: u32,
    ) -> Result<u32> {
        let is_dev = matches!(mode_bits & mode::S_IFMT, mode::S_IFCHR | mode::S_IFBLK);
        if is_dev && self.g.version == Version::V1 && rdev > u32::from(u16::MAX) {
            return Err(Errno::EINVAL);
        }
        let (mut dir, ino, mut inode) = self.new_node(dir_ino, name, mode_bits, uid, gid, now)?;
        inode.nlinks = 1;
        if is_dev {
            inode.zone[0] = rdev;
        }
        let before = self.name_deps(ino);
        if let Err(e) = self
            .store(ino, &inode)
            .and_then(|_| self.dir_add(dir_ino, &mut dir, name, ino, &before, now))
        {
            self.abandon_inode(ino, &mut inode);
            return Err(e);
        }
        Ok(ino)
    }

    /// Creates directory `name` in `dir` with "." and "..".
    pub fn mkdir(
        &mut self,
        dir_ino: u32,
        name: &[u8],
        perm: u16,
        uid: u16,
        gid: u16,
        now: u32,
    ) -> Result<u32> {
        let parent = self.load_dir(dir_ino)?;
        if parent.nlinks >= self.g.link_max {
            return Err(Errno::EMLINK);
        }
        let (mut dir, ino, mut inode) = self.new_node(
            dir_ino,
            name,
            mode::S_IFDIR | (perm & mode::PERM_MASK),
            uid,
            gid,
            now,
        )?;
        inode.nlinks = 2;
        // "." and ".." in the new directory's own block need nothing
        // before them: that block is reachable only through the new inode.
        // The parent's link count for ".." goes up before the name appears.
        let [iblk, mblk] = self.name_deps(ino);
        let before = [iblk, mblk, self.inode_block(dir_ino)];
        let mut raised = false;
        let r = self
            .dir_put(ino, &mut inode, 0, ino, b".", &[])
            .and_then(|_| {
                let pos = u64::from(inode.size);
                self.dir_put(ino, &mut inode, pos, dir_ino, b"..", &[])
            })
            .and_then(|_| self.store(ino, &inode))
            .and_then(|_| {
                dir.nlinks += 1;
                raised = true;
                self.store(dir_ino, &dir)
            })
            .and_then(|_| self.dir_add(dir_ino, &mut dir, name, ino, &before, now));
        if let Err(e) = r {
            self.abandon_inode(ino, &mut inode);
            if raised && let Ok(mut d) = self.load_dir(dir_ino) {
                d.nlinks = d.nlinks.saturating_sub(1);
                let _ = self.store(dir_ino, &d);
            }
            return Err(e);
        }
        Ok(ino)
    }

    /// Creates symbolic link `name` -> `target` (stored in one data block;
    /// ENAMETOOLONG if it does not fit).
    pub fn symlink(
        &mut self,
        dir_ino: u32,
        name: &[u8],
        target: &[u8],
        uid: u16,
        gid: u16,
        now: u32,
    ) -> Result<u32> {
        if target.is_empty() || target.contains(&0) {
            return Err(Errno::EINVAL);
        }
        if target.len() >= self.g.block_size as usize {
            return Err(Errno::ENAMETOOLONG);
        }
        let (mut dir, ino, mut inode) =
            self.new_node(dir_ino, name, mode::S_IFLNK | 0o777, uid, gid, now)?;
        inode.nlinks = 1;
        let before = self.name_deps(ino);
        let r = self
            .write_data(ino, &mut inode, 0, target)
            .and_then(|n| {
                if n == target.len() {
                    Ok(())
                } else {
                    Err(Errno::ENOSPC)
                }
            })
            .and_then(|_| self.store(ino, &inode))
            .and_then(|_| self.dir_add(dir_ino, &mut dir, name, ino, &before, now))
            .map(|_| ());
        if let Err(e) = r {
            self.abandon_inode(ino, &mut inode);
            return Err(e);
        }
        Ok(ino)
    }

    /// The target of symbolic link `ino`.
    pub fn readlink(&mut self, ino: u32) -> Result<Vec<u8>> {
        let inode = self.load(ino)?;
        if !inode.is_symlink() {
            return Err(Errno::EINVAL);
        }
        if inode.size as usize > self.g.block_size as usize {
            return Err(Errno::EIO);
        }
        let mut buf = vec![0u8; inode.size as usize];
        let n = self.read_data(&inode, 0, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Adds a hard link `name` in `dir` to `ino` (not a directory).
    pub fn link(&mut self, dir_ino: u32, name: &[u8], ino: u32, now: u32) -> Result<()> {
        self.check_rw()?;
        self.check_name(name)?;
        let mut inode = self.load(ino)?;
        if inode.is_dir() {
            return Err(Errno::EPERM);
        }
        if inode.nlinks >= self.g.link_max {
            return Err(Errno::EMLINK);
        }
        if inode.nlinks == 0 {
            return Err(Errno::ENOENT);
        }
        let mut dir = self.load_dir(dir_ino)?;
        if dir.nlinks == 0 {
            return Err(Errno::ENOENT);
        }
        // The count goes up before the second name can reach the disk.
        let old = inode;
        inode.nlinks += 1;
        inode.ctime = now;
        self.store(ino, &inode)?;
        // The inode's bitmap bit too: it may still be on its way to the disk.
        let before = self.name_deps(ino);
        if let Err(e) = self.dir_add(dir_ino, &mut dir, name, ino, &before, now) {
            let _ = self.store(ino, &old);
            return Err(e);
        }
        Ok(())
    }

    /// Removes name `name` (not a directory: EISDIR) from `dir`.
    pub fn unlink(&mut self, dir_ino: u32, name: &[u8], now: u32) -> Result<()> {
        self.check_rw()?;
        self.check_name(name)?;
        let mut dir = self.load_dir(dir_ino)?;
        let (pos, ino) = self.dir_find(dir_ino, &dir, name)?.0.ok_or(Errno::ENOENT)?;
        let mut inode = self.load(ino)?;
        if inode.is_dir() {
            return Err(Errno::EISDIR);
        }
        self.check_last_link(ino, &inode, 1)?;
        let blk = self.dir_set_ino(dir_ino, &dir, pos, 0, &[])?;
        dir.mtime = now;
        dir.ctime = now;
        self.store(dir_ino, &dir)?;
        self.drop_link(ino, &mut inode, blk, now)
    }

    /// Removes empty directory `name` from `dir`.
    pub fn rmdir(&mut self, dir_ino: u32, name: &[u8], now: u32) -> Result<()> {
        self.check_rw()?;
        if name == b"." {
            return Err(Errno::EINVAL);
        }
        if name == b".." {
            return Err(Errno::ENOTEMPTY);
        }
        self.check_name(name)?;
        let mut dir = self.load_dir(dir_ino)?;
        let (pos, ino) = self.dir_find(dir_ino, &dir, name)?.0.ok_or(Errno::ENOENT)?;
        let mut inode = self.load(ino)?;
        if !inode.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if ino == ROOT_INO || self.mountpoints.contains(&ino) {
            return Err(Errno::EBUSY);
        }
        if inode.size % self.g.dirent_size != 0 {
            return Err(Errno::EIO);
        }
        if !self.dir_is_empty(&inode)? {
            return Err(Errno::ENOTEMPTY);
        }
        // A directory's links are its entry and its "."; both go.
        self.check_last_link(ino, &inode, inode.nlinks)?;
        let blk = self.dir_set_ino(dir_ino, &dir, pos, 0, &[])?;
        dir.nlinks = dir.nlinks.saturating_sub(1);
        dir.mtime = now;
        dir.ctime = now;
        // The parent's count for ".." drops after the name is gone.
        self.dep(blk, self.inode_block(dir_ino))?;
        self.store(dir_ino, &dir)?;
        // The entry and "." both go.
        inode.nlinks = 1;
        self.drop_link(ino, &mut inode, blk, now)
    }

    /// True if directory `ino` is `anc` or lies below it (walks "..").
    fn is_under(&mut self, mut ino: u32, anc: u32) -> Result<bool> {
        let mut steps = 0u64;
        loop {
            if ino == anc {
                return Ok(true);
            }
            if ino == ROOT_INO {
                return Ok(false);
            }
            steps += 1;
            if steps > u64::from(self.g.ninodes) {
                // A ".." loop: the tree is corrupt.
                return Err(Errno::EIO);
            }
            ino = self.lookup(ino, b"..")?;
        }
    }

    /// Renames `old_dir/old_name` to `new_dir/new_name`, replacing an
    /// existing target (a file by a file, an empty directory by a
    /// directory); refuses to move a directory into itself (EINVAL).
    pub fn rename(
        &mut self,
        old_dir: u32,
        old_name: &[u8],
        new_dir: u32,
        new_name: &[u8],
        now: u32,
    ) -> Result<()> {
        self.check_rw()?;
        for n in [old_name, new_name] {
            if n == b"." || n == b".." {
                return Err(Errno::EINVAL);
            }
            self.check_name(n)?;
        }
        let odir = self.load_dir(old_dir)?;
        let ndir = self.load_dir(new_dir)?;
        let (opos, ino) = self
            .dir_find(old_dir, &odir, old_name)?
            .0
            .ok_or(Errno::ENOENT)?;
        let inode = self.load(ino)?;
        let is_dir = inode.is_dir();
        if is_dir && self.mountpoints.contains(&ino) {
            return Err(Errno::EBUSY);
        }
        if ndir.nlinks == 0 {
            return Err(Errno::ENOENT);
        }
        if is_dir && old_dir != new_dir && self.is_under(new_dir, ino)? {
            return Err(Errno::EINVAL);
        }
        let (target, nfree) = self.dir_find(new_dir, &ndir, new_name)?;
        if let Some((_, tino)) = target {
            if tino == ino {
                // Two names of one inode: POSIX says do nothing.
                return Ok(());
            }
            let t = self.load(tino)?;
            if is_dir {
                if !t.is_dir() {
                    return Err(Errno::ENOTDIR);
                }
                if self.mountpoints.contains(&tino) {
                    return Err(Errno::EBUSY);
                }
                if !self.dir_is_empty(&t)? {
                    return Err(Errno::ENOTEMPTY);
                }
            } else if t.is_dir() {
                return Err(Errno::EISDIR);
            }
            let dropped = if t.is_dir() { t.nlinks } else { 1 };
            self.check_last_link(tino, &t, dropped)?;
        }
        let moving_dir_across = is_dir && old_dir != new_dir;
        let replacing_dir = target.is_some() && is_dir;
        if moving_dir_across && !replacing_dir && ndir.nlinks >= self.g.link_max {
            return Err(Errno::EMLINK);
        }

        let bs = u64::from(self.g.block_size);
        let new_pos = match target {
            Some((tpos, _)) => tpos,
            None => nfree.unwrap_or(u64::from(ndir.size)),
        };
        let ix = self.inode_block(ino);
        if old_dir == new_dir && new_pos < u64::from(ndir.size) && new_pos / bs == opos / bs {
            // Both names in one block: one write changes both.
            let blk = self.dir_block(&odir, opos)?;
            let g = self.g;
            let es = g.dirent_size as usize;
            let isz = g.dirent_ino_size as usize;
            let (o_new, o_old) = ((new_pos % bs) as usize, (opos % bs) as usize);
            let mut e = vec![0u8; es];
            format::dirent_write(&g, &mut e, ino, new_name);
            let r = self.io.modify(blk, |d| {
                let was = (
                    Self::slot_state(&g, &d[o_new..o_new + es]),
                    Self::slot_state(&g, &d[o_old..o_old + es]),
                );
                d[o_new..o_new + es].copy_from_slice(&e);
                d[o_old..o_old + isz].fill(0);
                was
            });
            let fp = Fingerprint::of(&odir);
            match r {
                Ok((was_new, was_old)) => {
                    let es64 = es as u64;
                    let changes = [
                        (
                            (new_pos / es64) as u32,
                            was_new,
                            Slot::Used(dirindex::name_hash(new_name)),
                        ),
                        ((opos / es64) as u32, was_old, Slot::Free),
                    ];
                    self.dindex.changed(old_dir, &fp, fp, &changes);
                }
                Err(e) => {
                    self.dindex.forget(old_dir);
                    return Err(e);
                }
            }
            let mut dir = self.load_dir(new_dir)?;
            dir.mtime = now;
            dir.ctime = now;
            if let Some((_, tino)) = target {
                let mut t = self.load(tino)?;
                if t.is_dir() {
                    // The replaced directory's ".." no longer counts.
                    dir.nlinks = dir.nlinks.saturating_sub(1);
                    self.dep(blk, self.inode_block(new_dir))?;
                    t.nlinks = 1;
                }
                self.store(new_dir, &dir)?;
                self.drop_link(tino, &mut t, blk, now)?;
            } else {
                self.store(new_dir, &dir)?;
            }
            let mut inode = self.load(ino)?;
            inode.ctime = now;
            return self.store(ino, &inode);
        }
        if is_dir {
            self.rename_dir(
                old_dir, &odir, opos, ino, new_dir, new_name, new_pos, target, now,
            )
        } else {
            // A file: its count goes up before the second name can reach
            // the disk and down only after the old name has left it.
            let mut x = inode;
            let raised = x.nlinks < self.g.link_max;
            if raised {
                x.nlinks += 1;
                self.store(ino, &x)?;
            }
            let mut dir = self.load_dir(new_dir)?;
            let names = self.name_deps(ino);
            let new_blk = match target {
                Some((tpos, _)) => self.dir_set_ino(new_dir, &dir, tpos, ino, &names)?,
                None => self.dir_put(new_dir, &mut dir, new_pos, ino, new_name, &names)?,
            };
            dir.mtime = now;
            dir.ctime = now;
            self.store(new_dir, &dir)?;
            if let Some((_, tino)) = target {
                let mut t = self.load(tino)?;
                self.drop_link(tino, &mut t, new_blk, now)?;
            }
            let mut odir = self.load_dir(old_dir)?;
            let old_blk = self.dir_set_ino(old_dir, &odir, opos, 0, &[new_blk])?;
            odir.mtime = now;
            odir.ctime = now;
            self.store(old_dir, &odir)?;
            let mut x = self.load(ino)?;
            if raised {
                x.nlinks = x.nlinks.saturating_sub(1);
            }
            x.ctime = now;
            self.dep(old_blk, ix)?;
            self.store(ino, &x)
        }
    }

    /// [`FileSystem::rename`] of a directory whose two names are in
    /// different blocks. The old name goes first (a cut in between leaves
    /// the directory unnamed, a leak fsck reconnects, never named twice),
    /// then its ".." is changed, then the new name appears; parents' link
    /// counts rise before and fall after the names that count.
    #[allow(clippy::too_many_arguments)]
    fn rename_dir(
        &mut self,
        old_dir: u32,
        odir: &DiskInode,
        opos: u64,
        ino: u32,
        new_dir: u32,
        new_name: &[u8],
        new_pos: u64,
        target: Option<(u64, u32)>,
        now: u32,
    ) -> Result<()> {
        let across = old_dir != new_dir;
        let pnew = self.inode_block(new_dir);
        if across && target.is_none() {
            // The moved directory's ".." will count on new_dir.
            let mut d = self.load_dir(new_dir)?;
            d.nlinks += 1;
            self.store(new_dir, &d)?;
        }
        let old_blk = self.dir_set_ino(old_dir, odir, opos, 0, &[])?;
        let mut d = self.load_dir(old_dir)?;
        d.mtime = now;
        d.ctime = now;
        self.store(old_dir, &d)?;
        let mut before = vec![old_blk, pnew];
        before.extend(self.name_deps(ino));
        if across {
            let moved = self.load_dir(ino)?;
            let mut dotdot = None;
            let g = self.g;
            self.dir_scan(&moved, 0, |pos, e| {
                if format::dirent_ino(&g, e) != 0 && format::dirent_name_is(&g, e, b"..") {
                    dotdot = Some(pos);
                    true
                } else {
                    false
                }
            })?;
            let pos = dotdot.ok_or(Errno::EIO)?;
            before.push(self.dir_set_ino(ino, &moved, pos, new_dir, &[old_blk])?);
        }
        let mut ndir = self.load_dir(new_dir)?;
        let new_blk = match target {
            Some((tpos, _)) => self.dir_set_ino(new_dir, &ndir, tpos, ino, &before)?,
            None => self.dir_put(new_dir, &mut ndir, new_pos, ino, new_name, &before)?,
        };
        ndir.mtime = now;
        ndir.ctime = now;
        if target.is_some() && !across {
            // The replaced directory's ".." no longer counts.
            ndir.nlinks = ndir.nlinks.saturating_sub(1);
            self.dep(new_blk, pnew)?;
        }
        self.store(new_dir, &ndir)?;
        if let Some((_, tino)) = target {
            let mut t = self.load(tino)?;
            t.nlinks = 1;
            self.drop_link(tino, &mut t, new_blk, now)?;
        }
        if across {
            let mut d = self.load_dir(old_dir)?;
            d.nlinks = d.nlinks.saturating_sub(1);
            self.dep(old_blk, self.inode_block(old_dir))?;
            self.store(old_dir, &d)?;
        }
        let mut inode = self.load(ino)?;
        inode.ctime = now;
        self.store(ino, &inode)
    }
}

/// Splits a path into (byte offset, component) pairs, skipping empty ones.
fn split_components(path: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in path
        .iter()
        .enumerate()
        .chain(core::iter::once((path.len(), &b'/')))
    {
        if b == b'/' {
            if i > start {
                out.push((start, &path[start..i]));
            }
            start = i + 1;
        }
    }
    out
}

fn trim_leading_slashes(p: &[u8]) -> &[u8] {
    let n = p.iter().take_while(|&&b| b == b'/').count();
    &p[n..]
}
