//! The file-system core: mount (volume descriptors, naming scheme), inode
//! numbers, nodes, directories, lookups, reads.
//!
//! Inode numbers. An inode number names the directory record that
//! describes a file: `block << 6 | offset >> 5` (records are at least 34
//! bytes long, so two records of one block never share `offset >> 5`); a
//! directory is named by its own "." record, the first of its extent
//! (`extent << 6`), so it has one number however it is reached (by name,
//! as ".", as a child's ".."). Everything about a file can be found again
//! from its number alone, which is why a restarted server needs no table of
//! inodes: the state worth keeping is the mount. Blocks must fit 26 bits
//! (volumes up to 128 GiB).
//!
//! Bounds. Every loop over on-disk data advances by at least one record or
//! one block and is capped: directory scans by the directory's size (itself
//! inside the volume), a multi-extent chain by [`MAX_EXTENTS`], Rock Ridge
//! continuation areas by [`crate::format::MAX_CE`]. A record that runs past
//! its sector, an extent past the volume, a directory without its "."
//! record: [`IsoError::Corrupt`], never a panic.

use alloc::vec::Vec;
use zerocopy::FromBytes;

use crate::block::BlockAccess;
use crate::error::{Corruption, IsoError, Result};
use crate::format::{
    BLOCK, BLOCK_SHIFT, DEFAULT_PERM, DIR_RECORD_HEAD, DirRecord, FIRST_VD_SECTOR, JOLIET_ESCAPES,
    MAX_PATH_TABLE, MAX_VDS, NAME_DOT, NAME_DOTDOT, PATH_RECORD_HEAD, PathRecord, STD_ID,
    ShortDate, VolDesc, file_flags, mode, system_use_offset, vd_type,
};
use crate::names;
use crate::rrip::{self, Rr};

/// Most extents of one multi-extent file.
pub const MAX_EXTENTS: usize = 1 << 16;
/// Largest block an inode number can name.
pub const MAX_BLOCKS: u64 = 1 << 26;
/// Longest name reported by `statvfs`.
pub const NAME_MAX: u32 = 255;

/// How names (and attributes) are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// Rock Ridge on the primary tree: POSIX names, modes, owners, links,
    /// devices, times.
    RockRidge,
    /// The Joliet tree: UCS-2 names, default modes.
    Joliet,
    /// The primary tree with plain ISO 9660 names, default modes.
    Plain,
}

/// Mount options (Linux's `norock`, `nojoliet`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MountOptions {
    /// Ignore Rock Ridge.
    pub norock: bool,
    /// Ignore Joliet.
    pub nojoliet: bool,
}

/// What the mount found: enough to mount again without looking at the
/// volume descriptors (a restarted server's state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Volume {
    /// The naming scheme in use.
    pub naming: Naming,
    /// Blocks in the volume.
    pub blocks: u32,
    /// First block of the root directory of the tree in use.
    pub root_extent: u32,
    /// SUSP LEN_SKP.
    pub susp_skip: u8,
    /// A Joliet tree exists.
    pub has_joliet: bool,
    /// Rock Ridge was found.
    pub has_rock_ridge: bool,
    /// The volume identifier (space-padded d-characters).
    pub volume_id: [u8; 32],
    /// First block of the tree's type L path table.
    pub path_table: u32,
    /// Bytes in the path table.
    pub path_table_size: u32,
}

/// Attributes of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Inode number.
    pub ino: u32,
    /// Type and permission bits.
    pub mode: u16,
    /// Links.
    pub nlinks: u16,
    /// Owner.
    pub uid: u16,
    /// Group.
    pub gid: u16,
    /// Size in bytes (a symlink: its target's length).
    pub size: u64,
    /// Device number (device nodes).
    pub rdev: u32,
    /// Access time.
    pub atime: u32,
    /// Modification time.
    pub mtime: u32,
    /// Attribute change time.
    pub ctime: u32,
}

/// A file: attributes, where its data is, and a link's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Attributes.
    pub stat: Stat,
    /// Data extents in order: (first block, bytes).
    pub extents: Vec<(u32, u32)>,
    /// A symlink's target.
    pub target: Option<Vec<u8>>,
}

impl Node {
    /// Whether the node is a directory.
    pub fn is_dir(&self) -> bool {
        u32::from(self.stat.mode) & mode::S_IFMT == mode::S_IFDIR
    }
    /// Whether the node is a regular file.
    pub fn is_reg(&self) -> bool {
        u32::from(self.stat.mode) & mode::S_IFMT == mode::S_IFREG
    }
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Inode number.
    pub ino: u32,
    /// Name as the naming scheme shows it.
    pub name: Vec<u8>,
    /// Position of the next entry (for `getdents`).
    pub next_pos: u64,
}

/// File-system statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatVfs {
    /// Block size.
    pub bsize: u32,
    /// Blocks in the volume.
    pub blocks: u64,
    /// Longest name.
    pub namemax: u32,
}

/// A directory record as found in a block.
#[derive(Debug, Clone)]
struct Rec {
    block: u32,
    offset: usize,
    head: DirRecord,
    id: Vec<u8>,
    su: Vec<u8>,
}

impl Rec {
    fn is_dir(&self) -> bool {
        self.head.flags & file_flags::DIRECTORY != 0
    }
    fn is_dot(&self) -> bool {
        self.id == [NAME_DOT]
    }
    fn is_dotdot(&self) -> bool {
        self.id == [NAME_DOTDOT]
    }
    fn multi(&self) -> bool {
        self.head.flags & file_flags::MULTI_EXTENT != 0
    }
    fn ino(&self) -> u32 {
        ino_of(self.block, self.offset)
    }
    /// First data block (after any extended attribute record).
    fn data_start(&self) -> u32 {
        self.head
            .extent
            .get()
            .saturating_add(u32::from(self.head.ext_attr_len))
    }
}

fn ino_of(block: u32, offset: usize) -> u32 {
    (block << 6) | (offset as u32 >> 5)
}

/// Parses the records of one block, from byte `from`, up to byte `end`.
/// `f` returns false to stop.
fn records(
    block: u32,
    data: &[u8],
    from: usize,
    end: usize,
    mut f: impl FnMut(Rec) -> Result<bool>,
) -> Result<()> {
    let mut off = from;
    while off < end {
        let len = usize::from(data[off]);
        if len == 0 {
            // No more records in this block.
            return Ok(());
        }
        let o16 = off as u16;
        if off + len > end {
            return Err(Corruption::RecordPastSector { block, offset: o16 }.into());
        }
        let raw = &data[off..off + len];
        let (head, _) = DirRecord::read_from_prefix(raw)
            .map_err(|_| Corruption::RecordTooShort { block, offset: o16 })?;
        let nl = usize::from(head.name_len);
        if nl == 0 || DIR_RECORD_HEAD + nl > len {
            return Err(Corruption::RecordTooShort { block, offset: o16 }.into());
        }
        let id = raw[DIR_RECORD_HEAD..DIR_RECORD_HEAD + nl].to_vec();
        let su = raw.get(system_use_offset(nl)..).unwrap_or(&[]).to_vec();
        if !f(Rec {
            block,
            offset: off,
            head,
            id,
            su,
        })? {
            return Ok(());
        }
        off += len;
    }
    Ok(())
}

/// A directory's extent.
#[derive(Debug, Clone, Copy)]
struct DirExtent {
    start: u32,
    size: u32,
}

/// A mounted ISO 9660 file system over `B`.
#[derive(Debug)]
pub struct IsoFs<B: BlockAccess> {
    io: B,
    vol: Volume,
}

/// What the mount needs of a volume descriptor (kept small: the whole
/// sector never goes on the stack).
#[derive(Debug, Clone, Copy)]
struct Desc {
    vd_type: u8,
    id: [u8; 5],
    version: u8,
    escape: [u8; 3],
    space_size: u32,
    block_size: u16,
    root: [u8; crate::format::ROOT_RECORD_LEN],
    volume_id: [u8; 32],
    l_path: u32,
    path_table_size: u32,
}

fn read_desc<B: BlockAccess>(io: &B, sector: u64) -> Result<Desc> {
    io.read(sector, |d| {
        VolDesc::ref_from_bytes(d).ok().map(|v| Desc {
            vd_type: v.vd_type,
            id: v.id,
            version: v.version,
            escape: [v.escape[0], v.escape[1], v.escape[2]],
            space_size: v.space_size.get(),
            block_size: v.block_size.get(),
            root: v.root,
            volume_id: v.volume_id,
            l_path: v.l_path.get(),
            path_table_size: v.path_table_size.get(),
        })
    })?
    .ok_or(IsoError::Device(5))
}

fn root_record(vd: &Desc, vol_blocks: u64) -> Result<DirRecord> {
    let (r, _) = DirRecord::read_from_prefix(&vd.root[..]).map_err(|_| Corruption::BadRoot)?;
    if usize::from(r.len) < DIR_RECORD_HEAD + 1
        || r.flags & file_flags::DIRECTORY == 0
        || r.size.get() == 0
        || u64::from(r.extent.get()) >= vol_blocks
    {
        return Err(Corruption::BadRoot.into());
    }
    Ok(r)
}

impl<B: BlockAccess> IsoFs<B> {
    /// Mounts the volume on `io`: reads the volume descriptors from sector
    /// 16 to the terminator, picks the naming scheme (Rock Ridge if the
    /// primary root's "." record starts with SUSP's SP, else Joliet if a
    /// Joliet descriptor exists, else plain; `opts` can rule the first two
    /// out), and checks the root directory.
    pub fn mount(io: B, opts: MountOptions) -> Result<Self> {
        let dev_blocks = io.size()? / BLOCK as u64;
        let mut primary: Option<Desc> = None;
        let mut joliet: Option<Desc> = None;
        let mut terminated = false;
        for i in 0..MAX_VDS {
            let sector = FIRST_VD_SECTOR + i;
            if sector >= dev_blocks {
                if i == 0 {
                    return Err(Corruption::NoVolumeDescriptor.into());
                }
                break;
            }
            let vd = read_desc(&io, sector)?;
            if &vd.id != STD_ID {
                return Err(if i == 0 {
                    Corruption::NoVolumeDescriptor
                } else {
                    Corruption::BadDescriptor(sector)
                }
                .into());
            }
            match vd.vd_type {
                vd_type::PRIMARY if primary.is_none() => primary = Some(vd),
                vd_type::SUPPLEMENTARY
                    if joliet.is_none()
                        && vd.version == 1
                        && JOLIET_ESCAPES.iter().any(|e| vd.escape == **e) =>
                {
                    joliet = Some(vd)
                }
                vd_type::TERMINATOR => {
                    terminated = true;
                    break;
                }
                _ => {}
            }
        }
        let pvd = primary.ok_or(Corruption::NoPrimary)?;
        if !terminated {
            return Err(Corruption::NoTerminator.into());
        }
        let bs = pvd.block_size;
        if usize::from(bs) != BLOCK {
            return Err(IsoError::Unsupported("logical block size other than 2048"));
        }
        let blocks = u64::from(pvd.space_size);
        if blocks > dev_blocks {
            return Err(Corruption::Truncated {
                volume_blocks: blocks,
                device_blocks: dev_blocks,
            }
            .into());
        }
        if blocks >= MAX_BLOCKS {
            return Err(IsoError::Unsupported("volumes over 128 GiB"));
        }
        let proot = root_record(&pvd, blocks)?;
        let mut vol = Volume {
            naming: Naming::Plain,
            blocks: blocks as u32,
            root_extent: proot.extent.get(),
            susp_skip: 0,
            has_joliet: joliet.is_some(),
            has_rock_ridge: false,
            volume_id: pvd.volume_id,
            path_table: pvd.l_path,
            path_table_size: pvd.path_table_size,
        };
        let mut fs = IsoFs { io, vol };
        // Rock Ridge: SUSP's SP opens the system use area of the root's ".".
        let dot = fs.first_record(proot.extent.get())?;
        if dot.su.len() >= 7 && dot.su[..2] == *b"SP" && dot.su[4..6] == crate::format::SP_CHECK {
            vol.has_rock_ridge = true;
            vol.susp_skip = dot.su[6];
        }
        if vol.has_rock_ridge && !opts.norock {
            vol.naming = Naming::RockRidge;
        } else if let Some(j) = joliet.as_ref().filter(|_| !opts.nojoliet) {
            let jroot = root_record(j, blocks)?;
            vol.naming = Naming::Joliet;
            vol.root_extent = jroot.extent.get();
            vol.path_table = j.l_path;
            vol.path_table_size = j.path_table_size;
        }
        fs.vol = vol;
        let root = fs.node(fs.root())?;
        if !root.is_dir() {
            return Err(Corruption::BadRoot.into());
        }
        Ok(fs)
    }

    /// Mounts with what an earlier mount found ([`IsoFs::volume`]) instead
    /// of reading the volume descriptors again (a restarted server). The
    /// root directory is checked; a volume that changed meanwhile fails.
    pub fn remount(io: B, vol: Volume) -> Result<Self> {
        let dev_blocks = io.size()? / BLOCK as u64;
        if u64::from(vol.blocks) > dev_blocks {
            return Err(Corruption::Truncated {
                volume_blocks: u64::from(vol.blocks),
                device_blocks: dev_blocks,
            }
            .into());
        }
        let fs = IsoFs { io, vol };
        if !fs.node(fs.root())?.is_dir() {
            return Err(Corruption::BadRoot.into());
        }
        Ok(fs)
    }

    /// What the mount found.
    pub fn volume(&self) -> Volume {
        self.vol
    }

    /// The block access (cache statistics).
    pub fn io(&self) -> &B {
        &self.io
    }

    /// Gives the block access back.
    pub fn into_io(self) -> B {
        self.io
    }

    /// The root directory's inode number.
    pub fn root(&self) -> u32 {
        self.vol.root_extent << 6
    }

    /// Statistics.
    pub fn statvfs(&self) -> StatVfs {
        StatVfs {
            bsize: BLOCK as u32,
            blocks: u64::from(self.vol.blocks),
            namemax: NAME_MAX,
        }
    }

    fn check_extent(&self, start: u32, bytes: u64) -> Result<()> {
        let end = u64::from(start) + bytes.div_ceil(BLOCK as u64);
        if end > u64::from(self.vol.blocks) {
            return Err(Corruption::ExtentPastEnd(start).into());
        }
        Ok(())
    }

    /// The first record of the extent at `block` (a directory's ".").
    fn first_record(&self, block: u32) -> Result<Rec> {
        if u64::from(block) >= u64::from(self.vol.blocks) {
            return Err(Corruption::ExtentPastEnd(block).into());
        }
        let mut found = None;
        self.io.read(u64::from(block), |d| {
            records(block, d, 0, BLOCK, |r| {
                found = Some(r);
                Ok(false)
            })
        })??;
        match found {
            Some(r) if r.is_dot() && r.is_dir() => Ok(r),
            _ => Err(Corruption::NotADirectory(block).into()),
        }
    }

    fn rock(&self, r: &Rec) -> Result<Option<Rr>> {
        if self.vol.naming != Naming::RockRidge {
            return Ok(None);
        }
        rrip::parse(
            &self.io,
            u64::from(self.vol.blocks),
            r.block,
            &r.su,
            usize::from(self.vol.susp_skip),
        )
        .map(Some)
    }

    /// The record an inode number names.
    fn record_of(&self, ino: u32) -> Result<Rec> {
        let block = ino >> 6;
        let slot = (ino & 63) as usize;
        if ino == 0 || u64::from(block) >= u64::from(self.vol.blocks) {
            return Err(IsoError::Invalid);
        }
        let mut found = None;
        self.io.read(u64::from(block), |d| {
            records(block, d, 0, BLOCK, |r| {
                let s = r.offset >> 5;
                if s == slot {
                    found = Some(r);
                }
                Ok(s < slot)
            })
        })??;
        found.ok_or(IsoError::Invalid)
    }

    /// The extents of a file whose first record is `first`: its own, and
    /// for a multi-extent file those of the records that follow (same name,
    /// possibly in the next blocks of the directory).
    fn extents(&self, first: &Rec) -> Result<Vec<(u32, u32)>> {
        let mut out = Vec::new();
        let size = first.head.size.get();
        if size > 0 {
            self.check_extent(first.data_start(), u64::from(size))?;
        }
        out.push((first.data_start(), size));
        if !first.multi() {
            return Ok(out);
        }
        let broken = || IsoError::from(Corruption::MultiExtent(first.block));
        let mut block = first.block;
        let mut from = first.offset + usize::from(first.head.len);
        let mut more = true;
        while more {
            if out.len() >= MAX_EXTENTS {
                return Err(broken());
            }
            let mut next: Option<Rec> = None;
            self.io.read(u64::from(block), |d| {
                records(block, d, from, BLOCK, |r| {
                    next = Some(r);
                    Ok(false)
                })
            })??;
            match next {
                Some(r) => {
                    if r.id != first.id || r.is_dir() {
                        return Err(broken());
                    }
                    let sz = r.head.size.get();
                    if sz > 0 {
                        self.check_extent(r.data_start(), u64::from(sz))?;
                    }
                    out.push((r.data_start(), sz));
                    more = r.multi();
                    from = r.offset + usize::from(r.head.len);
                }
                None if from == 0 => return Err(broken()),
                None => {
                    // The rest of this block is padding: the directory goes
                    // on at the start of the next block.
                    block = block.checked_add(1).ok_or_else(broken)?;
                    if u64::from(block) >= u64::from(self.vol.blocks) {
                        return Err(broken());
                    }
                    from = 0;
                }
            }
        }
        Ok(out)
    }

    /// The node `ino` names.
    pub fn node(&self, ino: u32) -> Result<Node> {
        let r = self.record_of(ino)?;
        if r.is_dotdot() || (r.is_dir() && !r.is_dot()) {
            // Directories are named by their "." record only.
            return Err(IsoError::Invalid);
        }
        let rr = self.rock(&r)?;
        if rr.as_ref().is_some_and(|rr| rr.child_link.is_some()) {
            return Err(IsoError::Invalid);
        }
        let date = ShortDate::read_from_bytes(&r.head.date[..])
            .map(|d| d.unix())
            .unwrap_or(0);
        let rr = rr.unwrap_or_default();
        let perm_default = DEFAULT_PERM;
        let (mut m, nl, uid, gid) = match rr.px {
            Some((m, nl, u, g)) => (m, nl, u, g),
            None if r.is_dir() => (mode::S_IFDIR | perm_default, 2, 0, 0),
            None => (mode::S_IFREG | perm_default, 1, 0, 0),
        };
        if r.is_dir() {
            m = mode::S_IFDIR | (m & 0o7777);
        } else if m & mode::S_IFMT == mode::S_IFDIR || m & mode::S_IFMT == 0 {
            m = mode::S_IFREG | (m & 0o7777);
        }
        let ftype = m & mode::S_IFMT;
        let sat16 = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        let mut node = Node {
            stat: Stat {
                ino,
                mode: m as u16,
                nlinks: sat16(nl.max(1)),
                uid: sat16(uid),
                gid: sat16(gid),
                size: 0,
                rdev: 0,
                atime: rr.atime.unwrap_or(date),
                mtime: rr.mtime.unwrap_or(date),
                ctime: rr.ctime.unwrap_or(date),
            },
            extents: Vec::new(),
            target: None,
        };
        match ftype {
            mode::S_IFDIR | mode::S_IFREG => {
                node.extents = self.extents(&r)?;
                node.stat.size = node.extents.iter().map(|&(_, n)| u64::from(n)).sum();
            }
            mode::S_IFLNK => {
                let t = rr.target.unwrap_or_default();
                node.stat.size = t.len() as u64;
                node.target = Some(t);
            }
            mode::S_IFCHR | mode::S_IFBLK => node.stat.rdev = rr.rdev.unwrap_or(0),
            _ => {}
        }
        Ok(node)
    }

    /// Attributes of `ino`.
    pub fn stat(&self, ino: u32) -> Result<Stat> {
        self.node(ino).map(|n| n.stat)
    }

    fn dir_extent(&self, ino: u32) -> Result<(DirExtent, Node)> {
        let n = self.node(ino)?;
        if !n.is_dir() {
            return Err(IsoError::NotDir);
        }
        let (start, size) = n.extents.first().copied().ok_or(IsoError::NotDir)?;
        Ok((DirExtent { start, size }, n))
    }

    /// Walks the records of a directory from byte `pos`; `f` gets each
    /// record and the position after it, and returns false to stop.
    fn scan(
        &self,
        d: DirExtent,
        pos: u64,
        mut f: impl FnMut(Rec, u64) -> Result<bool>,
    ) -> Result<()> {
        let size = u64::from(d.size);
        let mut pos = pos;
        while pos < size {
            let bi = pos >> BLOCK_SHIFT;
            let block = d.start + bi as u32;
            let bstart = bi << BLOCK_SHIFT;
            let end = (size - bstart).min(BLOCK as u64) as usize;
            let from = (pos - bstart) as usize;
            let mut go = true;
            self.io.read(u64::from(block), |data| {
                records(block, data, from, end, |r| {
                    let next = bstart + (r.offset + usize::from(r.head.len)) as u64;
                    go = f(r, next)?;
                    Ok(go)
                })
            })??;
            if !go {
                return Ok(());
            }
            pos = bstart + BLOCK as u64;
        }
        Ok(())
    }

    /// The name a record shows and the inode number of what it names
    /// (`None`: the record is hidden: associated, relocated, or a
    /// continuation of a multi-extent file).
    fn entry_of(&self, r: &Rec) -> Result<Option<(Vec<u8>, u32)>> {
        if r.head.flags & file_flags::ASSOCIATED != 0 {
            return Ok(None);
        }
        let rr = self.rock(r)?;
        if rr.as_ref().is_some_and(|rr| rr.relocated) {
            return Ok(None);
        }
        let name = match (&self.vol.naming, rr.as_ref().and_then(|rr| rr.name.clone())) {
            (Naming::RockRidge, Some(n)) => n,
            (Naming::Joliet, _) => names::joliet(&r.id),
            _ => names::plain(&r.id),
        };
        if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
            return Ok(None);
        }
        let ino = if let Some(cl) = rr.as_ref().and_then(|rr| rr.child_link) {
            self.first_record(cl)?;
            cl << 6
        } else if r.is_dir() {
            let e = r.data_start();
            self.check_extent(e, u64::from(r.head.size.get()))?;
            e << 6
        } else {
            r.ino()
        };
        Ok(Some((name, ino)))
    }

    /// The parent of directory `ino` (the root is its own parent).
    pub fn parent(&self, ino: u32) -> Result<u32> {
        if ino == self.root() {
            return Ok(ino);
        }
        let (d, _) = self.dir_extent(ino)?;
        let mut found = None;
        self.scan(d, 0, |r, _| {
            if r.is_dotdot() {
                found = Some(r);
                return Ok(false);
            }
            Ok(r.is_dot())
        })?;
        let r = found.ok_or(Corruption::NotADirectory(d.start))?;
        let rr = self.rock(&r)?;
        let block = match rr.and_then(|rr| rr.parent_link) {
            Some(pl) => pl,
            None => r.data_start(),
        };
        if block == d.start {
            // A ".." naming its own directory (some writers' Joliet trees):
            // the path table knows the parent.
            return self.parent_from_path_table(d.start);
        }
        self.first_record(block)?;
        Ok(block << 6)
    }

    /// The parent of the directory whose extent starts at `extent`, from
    /// the path table (ECMA-119 9.4: records in order, numbered from 1,
    /// each naming its parent's number).
    fn parent_from_path_table(&self, extent: u32) -> Result<u32> {
        let size = self.vol.path_table_size as usize;
        let start = self.vol.path_table;
        let bad = || IsoError::from(Corruption::PathTable(start));
        if size > MAX_PATH_TABLE || size == 0 {
            return Err(bad());
        }
        self.check_extent(start, size as u64)?;
        let mut table = Vec::with_capacity(size);
        for b in 0..size.div_ceil(BLOCK) {
            self.io
                .read(u64::from(start) + b as u64, |d| table.extend_from_slice(d))?;
        }
        table.truncate(size);
        // Extents of the directories numbered so far, and their parents.
        let mut dirs: Vec<(u32, u16)> = Vec::new();
        let mut off = 0usize;
        while off + PATH_RECORD_HEAD <= size {
            let (rec, _) = PathRecord::read_from_prefix(&table[off..]).map_err(|_| bad())?;
            let nl = usize::from(rec.name_len);
            if nl == 0 {
                break;
            }
            dirs.push((rec.extent.get(), rec.parent.get()));
            off += PATH_RECORD_HEAD + nl + nl % 2;
        }
        let &(_, parent) = dirs.iter().find(|(e, _)| *e == extent).ok_or_else(bad)?;
        let &(pext, _) = dirs
            .get(usize::from(parent).checked_sub(1).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        self.first_record(pext)?;
        Ok(pext << 6)
    }

    /// Looks `name` up in directory `dir`.
    pub fn lookup(&self, dir: u32, name: &[u8]) -> Result<u32> {
        if name.len() > NAME_MAX as usize * 4 {
            return Err(IsoError::NameTooLong);
        }
        let (d, _) = self.dir_extent(dir)?;
        match name {
            b"." | b"" => return Ok(dir),
            b".." => return self.parent(dir),
            _ => {}
        }
        let mut found = None;
        let mut cont = false;
        self.scan(d, 0, |r, _| {
            let skip = cont || r.is_dot() || r.is_dotdot();
            cont = r.multi();
            if skip {
                return Ok(true);
            }
            if let Some((n, ino)) = self.entry_of(&r)?
                && n == name
            {
                found = Some(ino);
                return Ok(false);
            }
            Ok(true)
        })?;
        found.ok_or(IsoError::NotFound)
    }

    /// Up to `max` entries of directory `dir` from position `pos` (0: the
    /// start; then an entry's `next_pos`), "." and ".." included.
    pub fn getdents(&self, dir: u32, pos: u64, max: usize) -> Result<Vec<DirEntry>> {
        let (d, _) = self.dir_extent(dir)?;
        let mut out = Vec::new();
        let mut cont = false;
        let mut pending: Option<(Vec<u8>, u32)> = None;
        let mut parent = None;
        self.scan(d, pos, |r, next| {
            if out.len() >= max {
                return Ok(false);
            }
            if cont {
                // A continuation record of a multi-extent file.
                cont = r.multi();
                if !cont && let Some((name, ino)) = pending.take() {
                    out.push(DirEntry {
                        ino,
                        name,
                        next_pos: next,
                    });
                }
                return Ok(true);
            }
            cont = r.multi();
            let e = if r.is_dot() {
                Some((b".".to_vec(), dir))
            } else if r.is_dotdot() {
                let p = match parent {
                    Some(p) => p,
                    None => {
                        let p = self.parent(dir)?;
                        parent = Some(p);
                        p
                    }
                };
                Some((b"..".to_vec(), p))
            } else {
                self.entry_of(&r)?
            };
            if cont {
                pending = e;
            } else if let Some((name, ino)) = e {
                out.push(DirEntry {
                    ino,
                    name,
                    next_pos: next,
                });
            }
            Ok(true)
        })?;
        Ok(out)
    }

    /// Every entry of directory `dir` but "." and "..".
    pub fn list(&self, dir: u32) -> Result<Vec<DirEntry>> {
        let mut v = self.getdents(dir, 0, usize::MAX)?;
        v.retain(|e| e.name != b"." && e.name != b"..");
        Ok(v)
    }

    /// A symlink's target.
    pub fn readlink(&self, ino: u32) -> Result<Vec<u8>> {
        self.node(ino)?.target.ok_or(IsoError::Invalid)
    }

    /// Reads up to `len` bytes of regular file `ino` at `pos`, handing
    /// them to `sink(offset in the request, bytes)` block by block straight
    /// from the cache; returns the bytes read (0 at or past the end).
    /// Sequential runs are prefetched (one vectored read per run).
    pub fn read_with(
        &self,
        ino: u32,
        pos: u64,
        len: usize,
        mut sink: impl FnMut(usize, &[u8]) -> Result<()>,
    ) -> Result<usize> {
        let n = self.node(ino)?;
        if n.is_dir() {
            return Err(IsoError::IsDir);
        }
        if !n.is_reg() {
            return Err(IsoError::Invalid);
        }
        let end = n.stat.size.min(pos.saturating_add(len as u64));
        let mut done = 0usize;
        let mut ext_start = 0u64;
        let mut cur = pos;
        for &(block0, bytes) in &n.extents {
            let ext_end = ext_start + u64::from(bytes);
            if cur >= end {
                break;
            }
            if cur < ext_end {
                let stop = end.min(ext_end);
                let first = (cur - ext_start) >> BLOCK_SHIFT;
                let last = (stop - 1 - ext_start) >> BLOCK_SHIFT;
                let mut fetched_to = first;
                for bi in first..=last {
                    if bi >= fetched_to {
                        // Prefetch the rest of this run (the cache caps it).
                        let upto = (last + 1).min(bi + 64);
                        let v: Vec<u64> = (bi..upto).map(|b| u64::from(block0) + b).collect();
                        self.io.prefetch(&v);
                        fetched_to = upto;
                    }
                    let bstart = ext_start + (bi << BLOCK_SHIFT);
                    let from = cur.max(bstart) - bstart;
                    let to = stop.min(bstart + BLOCK as u64) - bstart;
                    let at = done;
                    self.io.read(u64::from(block0) + bi, |d| {
                        sink(at, &d[from as usize..to as usize])
                    })??;
                    done += (to - from) as usize;
                    cur = bstart + to;
                }
            }
            ext_start = ext_end;
        }
        Ok(done)
    }

    /// Reads into `buf` at `pos`; returns the bytes read.
    pub fn read(&self, ino: u32, pos: u64, buf: &mut [u8]) -> Result<usize> {
        let len = buf.len();
        self.read_with(ino, pos, len, |at, b| {
            buf[at..at + b.len()].copy_from_slice(b);
            Ok(())
        })
    }

    /// A whole regular file.
    pub fn read_all(&self, ino: u32) -> Result<Vec<u8>> {
        let size = self.stat(ino)?.size;
        let mut v = alloc::vec![0u8; usize::try_from(size).map_err(|_| IsoError::Invalid)?];
        let n = self.read(ino, 0, &mut v)?;
        v.truncate(n);
        Ok(v)
    }
}
