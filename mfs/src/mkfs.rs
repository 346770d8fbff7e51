//! `mkfs`: makes an empty MINIX V1, V2 or V3 file system.
//!
//! The layout is [`SuperBlock::layout`]'s (MINIX `mkfs.mfs` rules); this
//! module adds the inode-count rule, writes the superblock, both bitmaps
//! (bit 0 reserved and set, bits past the end of each map set, as
//! util-linux does, so no allocator can hand them out), the zeroed inode
//! table and the root directory (inode 1, one zone, `.` and `..`).
//! Populating the new file system (`--from`, `--proto`) is done by the host
//! tool through the file-system operations.

use alloc::vec;
use alloc::vec::Vec;

use libbdev::{BdevError, BlockDevice};

use crate::format::{
    self, DiskInode, ROOT_INO, SUPER_OFFSET, SuperBlock, SuperError, Version, mode,
};

/// Why `mkfs` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MkfsError {
    /// The requested layout is impossible (bad block size, too many inodes, …).
    #[error("{0}")]
    Layout(#[from] SuperError),
    /// A V1/V2 name length other than 14 or 30.
    #[error("name length must be 14 or 30 for V1/V2 (V3 always uses 60), not {0}")]
    NameLength(usize),
    /// The version cannot have that block size.
    #[error(
        "block size {0} is not possible for this version (V1/V2: 1024; V3: power of two 1024..=32768)"
    )]
    BlockSize(u32),
    /// Too few blocks for the metadata and a root directory.
    #[error("{0} blocks are too few for a file system")]
    TooSmall(u64),
    /// More blocks than the version can address.
    #[error("{blocks} blocks are more than a {version:?} file system can address ({max})")]
    TooBig {
        /// Requested blocks.
        blocks: u64,
        /// Version asked for.
        version: Version,
        /// Most blocks it can address.
        max: u64,
    },
    /// More inodes than the version can number.
    #[error("{inodes} inodes are more than this version allows ({max})")]
    TooManyInodes {
        /// Requested inodes.
        inodes: u64,
        /// Most inodes allowed.
        max: u64,
    },
    /// The device is smaller than the file system asked for.
    #[error("the device holds {have} bytes, the file system needs {need}")]
    DeviceTooSmall {
        /// Bytes needed.
        need: u64,
        /// Bytes the device has.
        have: u64,
    },
    /// The device failed.
    #[error("device error: {0}")]
    Io(#[from] BdevError),
}

/// What to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MkfsOptions {
    /// Format generation (MINIX default: V3).
    pub version: Version,
    /// Longest name: 14 or 30 on V1/V2 (util-linux default 30); 60 on V3.
    pub name_len: usize,
    /// Block size in bytes (V3 default 4096; V1/V2 must be 1024).
    pub block_size: u32,
    /// Size of the file system in blocks.
    pub blocks: u64,
    /// Inode count; `None` = MINIX mkfs.mfs's rule ([`default_inodes`]).
    pub inodes: Option<u32>,
    /// Permission bits of the root directory (default 0755 as util-linux;
    /// MINIX's mkfs.mfs uses 0777 when there is no proto file).
    pub root_perm: u16,
    /// Owner of the root directory.
    pub root_uid: u16,
    /// Group of the root directory.
    pub root_gid: u16,
    /// Timestamp for the root directory (seconds since the epoch).
    pub time: u32,
}

impl MkfsOptions {
    /// MINIX mkfs.mfs defaults (V3, 4096-byte blocks) for `blocks` blocks.
    pub fn new(blocks: u64) -> Self {
        MkfsOptions {
            version: Version::V3,
            name_len: format::V3_NAME_LEN,
            block_size: format::DEFAULT_V3_BLOCK_SIZE,
            blocks,
            inodes: None,
            root_perm: 0o755,
            root_uid: 0,
            root_gid: 0,
            time: 0,
        }
    }

    /// Same, for `version`, with that version's usual name length and block
    /// size (1024 for V1/V2, 4096 for V3).
    pub fn for_version(version: Version, blocks: u64) -> Self {
        let mut o = MkfsOptions::new(blocks);
        o.version = version;
        if version != Version::V3 {
            o.name_len = 30;
            o.block_size = format::V1V2_BLOCK_SIZE;
        }
        o
    }
}

/// MINIX mkfs.mfs's inode count for `blocks` blocks of `block_size`:
/// one inode per 2 KiB, thinning out on big devices (per 4 KiB from
/// 100 MB, 6 KiB from 1 GB, 8, 10, 12 KiB from 10, 100, 1000 GB),
/// rounded up to fill the last inode-table block. V1/V2 are capped at
/// 65535 (a u16 field).
pub fn default_inodes(version: Version, block_size: u32, blocks: u64) -> u32 {
    let kb = blocks.saturating_mul(u64::from(block_size)) / 1024;
    let per = match kb {
        k if k >= 1_000_000_000 => 12,
        k if k >= 100_000_000 => 10,
        k if k >= 10_000_000 => 8,
        k if k >= 1_000_000 => 6,
        k if k >= 100_000 => 4,
        _ => 2,
    };
    let inode_size = if version == Version::V1 {
        format::V1_INODE_SIZE
    } else {
        format::V2_INODE_SIZE
    };
    let ipb = u64::from((block_size / inode_size).max(1));
    let n = (kb / per).max(1).div_ceil(ipb) * ipb;
    let cap = if version == Version::V3 {
        u64::from(u32::MAX - 1)
    } else {
        u64::from(u16::MAX)
    };
    n.min(cap) as u32
}

/// Compute (and validate) the superblock `opts` describes, without writing.
pub fn plan(opts: &MkfsOptions) -> Result<SuperBlock, MkfsError> {
    let name_len = match opts.version {
        Version::V3 => format::V3_NAME_LEN,
        _ if opts.name_len == 14 || opts.name_len == 30 => opts.name_len,
        _ => return Err(MkfsError::NameLength(opts.name_len)),
    };
    let bs = opts.block_size;
    let bs_ok = match opts.version {
        Version::V1 | Version::V2 => bs == format::V1V2_BLOCK_SIZE,
        Version::V3 => {
            bs.is_power_of_two() && (format::MIN_BLOCK_SIZE..=format::MAX_BLOCK_SIZE).contains(&bs)
        }
    };
    if !bs_ok {
        return Err(MkfsError::BlockSize(bs));
    }
    let max_blocks = if opts.version == Version::V1 {
        u64::from(u16::MAX)
    } else {
        u64::from(u32::MAX)
    };
    if opts.blocks > max_blocks {
        return Err(MkfsError::TooBig {
            blocks: opts.blocks,
            version: opts.version,
            max: max_blocks,
        });
    }
    // Boot, superblock area, two bitmaps, an inode block and a root zone.
    if opts.blocks < 6 {
        return Err(MkfsError::TooSmall(opts.blocks));
    }
    let inodes = match opts.inodes {
        Some(n) => n,
        None => default_inodes(opts.version, bs, opts.blocks),
    };
    let max_inodes = if opts.version == Version::V3 {
        u64::from(u32::MAX - 1)
    } else {
        u64::from(u16::MAX)
    };
    if u64::from(inodes) > max_inodes {
        return Err(MkfsError::TooManyInodes {
            inodes: u64::from(inodes),
            max: max_inodes,
        });
    }
    // The root directory takes inode 1, so at least one inode.
    let inodes = inodes.max(1);
    let sb = SuperBlock::layout(opts.version, name_len, bs, inodes, opts.blocks as u32)?;
    Ok(sb)
}

/// Make a file system on `dev` as `opts` says. Returns its superblock.
pub fn mkfs<D: BlockDevice + ?Sized>(
    dev: &mut D,
    opts: &MkfsOptions,
) -> Result<SuperBlock, MkfsError> {
    let sb = plan(opts)?;
    let g = sb.geometry();
    let bs = g.block_size as usize;
    let need = u64::from(g.zones) * bs as u64;
    let have = dev.size()?;
    if have < need {
        return Err(MkfsError::DeviceTooSmall { need, have });
    }

    // Blocks 0 and 1: boot area and superblock (block 1 is unused when bs > 1024).
    let mut head = vec![0u8; 2 * bs];
    sb.encode(&mut head[SUPER_OFFSET..])?;
    write_all(dev, 0, &head)?;

    // Inode bitmap: bit 0 reserved, bit 1 the root, bits past ninodes set.
    let mut imap = vec![0u8; g.imap_blocks as usize * bs];
    fill_map(&mut imap, g.imap_bits());
    format::bit_set(&mut imap, ROOT_INO as usize, true);
    write_all(dev, u64::from(g.imap_start) * bs as u64, &imap)?;

    // Zone bitmap: bit 0 reserved, bit 1 the root directory's zone.
    let mut zmap = vec![0u8; g.zmap_blocks as usize * bs];
    fill_map(&mut zmap, g.zmap_bits());
    format::bit_set(&mut zmap, 1, true);
    write_all(dev, u64::from(g.zmap_start) * bs as u64, &zmap)?;

    // Inode table: zeroes except the root inode.
    let root_zone = g.first_data_zone;
    let root = DiskInode {
        mode: mode::S_IFDIR | (opts.root_perm & mode::PERM_MASK),
        nlinks: 2,
        uid: opts.root_uid,
        gid: if opts.version == Version::V1 {
            opts.root_gid.min(255)
        } else {
            opts.root_gid
        },
        size: 2 * g.dirent_size,
        atime: opts.time,
        mtime: opts.time,
        ctime: opts.time,
        zone: {
            let mut z = [0u32; format::V2_NR_TZONES];
            z[0] = root_zone;
            z
        },
    };
    let table_start = u64::from(g.inode_table_start) * bs as u64;
    let zero = vec![0u8; bs];
    for i in 0..u64::from(g.inode_table_blocks) {
        let pos = table_start + i * bs as u64;
        if i == 0 {
            let mut b = zero.clone();
            let (_, off) = g.inode_location(ROOT_INO);
            // Only V1 can refuse (gid/zone too big) and both were bounded above.
            root.encode(g.version, &mut b[off..])
                .map_err(|_| MkfsError::TooBig {
                    blocks: opts.blocks,
                    version: opts.version,
                    max: u64::from(u16::MAX),
                })?;
            write_all(dev, pos, &b)?;
        } else {
            write_all(dev, pos, &zero)?;
        }
    }

    // Root directory zone: "." and "..", both the root itself.
    let mut dir = zero;
    let des = g.dirent_size as usize;
    format::dirent_write(&g, &mut dir[..des], ROOT_INO, b".");
    format::dirent_write(&g, &mut dir[des..2 * des], ROOT_INO, b"..");
    write_all(dev, u64::from(root_zone) * bs as u64, &dir)?;
    dev.flush()?;
    Ok(sb)
}

/// Make a file system in a fresh in-memory image of exactly the right size.
pub fn mkfs_to_vec(opts: &MkfsOptions) -> Result<Vec<u8>, MkfsError> {
    let bytes = opts.blocks.saturating_mul(u64::from(opts.block_size));
    // Refuse before allocating absurd amounts.
    plan(opts)?;
    let mut dev = VecDevice::new(vec![0u8; bytes as usize]);
    mkfs(&mut dev, opts)?;
    Ok(dev.into_inner())
}

/// Set bit 0 and every bit from `bits` to the end of `map`.
fn fill_map(map: &mut [u8], bits: u64) {
    format::bit_set(map, 0, true);
    let total = map.len() as u64 * 8;
    let mut b = bits;
    while b < total && !b.is_multiple_of(8) {
        format::bit_set(map, b as usize, true);
        b += 1;
    }
    if let Some(rest) = map.get_mut((b / 8) as usize..) {
        rest.fill(0xff);
    }
}

fn write_all<D: BlockDevice + ?Sized>(dev: &mut D, pos: u64, data: &[u8]) -> Result<(), MkfsError> {
    let mut done = 0;
    while done < data.len() {
        let n = dev.write_vectored(pos + done as u64, &[&data[done..]])?;
        if n == 0 {
            return Err(MkfsError::DeviceTooSmall {
                need: pos + data.len() as u64,
                have: pos + done as u64,
            });
        }
        done += n;
    }
    Ok(())
}

/// A block device over a byte vector (fixed size), for in-memory images.
#[derive(Debug, Clone, Default)]
pub struct VecDevice {
    data: Vec<u8>,
}

impl VecDevice {
    /// Wrap `data`; the device is exactly that long.
    pub fn new(data: Vec<u8>) -> Self {
        VecDevice { data }
    }

    /// The bytes.
    pub fn into_inner(self) -> Vec<u8> {
        self.data
    }

    /// The bytes, borrowed.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }
}

impl BlockDevice for VecDevice {
    fn read_vectored(&mut self, pos: u64, bufs: &mut [&mut [u8]]) -> libbdev::Result<usize> {
        let mut p = usize::try_from(pos).map_err(|_| BdevError::Invalid)?;
        let mut total = 0;
        for b in bufs.iter_mut() {
            let avail = self.data.len().saturating_sub(p);
            let n = b.len().min(avail);
            b[..n].copy_from_slice(&self.data[p..p + n]);
            total += n;
            p += n;
            if n < b.len() {
                break;
            }
        }
        Ok(total)
    }

    fn write_vectored(&mut self, pos: u64, bufs: &[&[u8]]) -> libbdev::Result<usize> {
        let mut p = usize::try_from(pos).map_err(|_| BdevError::Invalid)?;
        let mut total = 0;
        for b in bufs {
            let avail = self.data.len().saturating_sub(p);
            let n = b.len().min(avail);
            self.data[p..p + n].copy_from_slice(&b[..n]);
            total += n;
            p += n;
            if n < b.len() {
                break;
            }
        }
        Ok(total)
    }

    fn size(&mut self) -> libbdev::Result<u64> {
        Ok(self.data.len() as u64)
    }

    fn flush(&mut self) -> libbdev::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::SUPER_AREA;
    use crate::fsck;

    fn sb_of(img: &[u8]) -> SuperBlock {
        SuperBlock::parse(&img[SUPER_OFFSET..SUPER_OFFSET + SUPER_AREA]).unwrap()
    }

    #[test]
    fn minix_inode_rule() {
        // 16 MiB: 16384 KiB / 2, already a multiple of 64 per 4 KiB block.
        assert_eq!(default_inodes(Version::V3, 4096, 4096), 8192);
        // 200 MB -> kb/4.
        assert_eq!(default_inodes(Version::V3, 4096, 51_200), 51_200);
        // 2 GB -> kb/6, rounded up to 64.
        let kb = 524_288u64 * 4;
        assert_eq!(
            u64::from(default_inodes(Version::V3, 4096, 524_288)),
            (kb / 6).div_ceil(64) * 64
        );
        // Rounded up to a whole inode block: 100 KiB / 2 = 50 -> 64.
        assert_eq!(default_inodes(Version::V3, 4096, 25), 64);
        // V1 inodes are 32 bytes: 32 per 1 KiB block.
        assert_eq!(default_inodes(Version::V1, 1024, 100), 64);
        // V1/V2 capped by the u16 field.
        assert_eq!(default_inodes(Version::V2, 1024, 1_000_000), 65_535);
    }

    #[test]
    fn every_version_makes_a_clean_file_system() {
        for (v, n, bs, blocks) in [
            (Version::V1, 14, 1024, 2048),
            (Version::V1, 30, 1024, 65_535),
            (Version::V2, 14, 1024, 2048),
            (Version::V2, 30, 1024, 4096),
            (Version::V3, 60, 1024, 2048),
            (Version::V3, 60, 4096, 1024),
            (Version::V3, 60, 32768, 64),
        ] {
            let mut o = MkfsOptions::for_version(v, blocks);
            o.name_len = n;
            o.block_size = bs;
            let img = mkfs_to_vec(&o).unwrap();
            let sb = sb_of(&img);
            assert_eq!(sb.version, v);
            assert!(sb.is_clean());
            let g = sb.geometry();
            assert_eq!(g.name_len as usize, if v == Version::V3 { 60 } else { n });
            let r = fsck::check_bytes(&img);
            assert_eq!(r.exit_code(), 0, "{v:?}/{n}/{bs}: {:?}", r.findings);
            // Root inode, bits and entries.
            let (blk, off) = g.inode_location(ROOT_INO);
            let p = blk as usize * bs as usize + off;
            let root = DiskInode::decode(v, &img[p..]).unwrap();
            assert!(root.is_dir());
            assert_eq!(root.nlinks, 2);
            assert_eq!(root.size, 2 * g.dirent_size);
            assert_eq!(root.zone[0], g.first_data_zone);
            let imap = &img[2 * bs as usize..];
            assert!(
                format::bit_get(imap, 0) && format::bit_get(imap, 1) && !format::bit_get(imap, 2)
            );
            let zmap = &img[g.zmap_start as usize * bs as usize..];
            assert!(
                format::bit_get(zmap, 0) && format::bit_get(zmap, 1) && !format::bit_get(zmap, 2)
            );
            // Bits past the map's end are set.
            let zbits = g.zmap_blocks as usize * bs as usize * 8;
            if g.zmap_bits() < zbits as u64 {
                assert!(format::bit_get(zmap, g.zmap_bits() as usize));
                assert!(!format::bit_get(zmap, g.zmap_bits() as usize - 1));
            }
        }
    }

    #[test]
    fn rejects_impossible_requests() {
        let mut o = MkfsOptions::for_version(Version::V2, 1000);
        o.name_len = 20;
        assert_eq!(plan(&o), Err(MkfsError::NameLength(20)));
        let mut o = MkfsOptions::for_version(Version::V1, 1000);
        o.block_size = 4096;
        assert_eq!(plan(&o), Err(MkfsError::BlockSize(4096)));
        let o = MkfsOptions::for_version(Version::V1, 70_000);
        assert!(matches!(plan(&o), Err(MkfsError::TooBig { .. })));
        let mut o = MkfsOptions::new(1000);
        o.block_size = 3000;
        assert_eq!(plan(&o), Err(MkfsError::BlockSize(3000)));
        assert!(matches!(
            plan(&MkfsOptions::new(3)),
            Err(MkfsError::TooSmall(3))
        ));
        // Metadata fills the device: no room for the root zone.
        let mut o = MkfsOptions::for_version(Version::V3, 10);
        o.block_size = 1024;
        o.inodes = Some(10_000);
        assert!(matches!(plan(&o), Err(MkfsError::Layout(_))));
        let mut o = MkfsOptions::for_version(Version::V2, 1000);
        o.inodes = Some(70_000);
        assert!(matches!(plan(&o), Err(MkfsError::TooManyInodes { .. })));
    }

    #[test]
    fn device_must_hold_the_file_system() {
        let o = MkfsOptions::new(100);
        let mut dev = VecDevice::new(vec![0; 99 * 4096]);
        assert!(matches!(
            mkfs(&mut dev, &o),
            Err(MkfsError::DeviceTooSmall { .. })
        ));
    }

    #[test]
    fn explicit_inode_count_and_root_attributes() {
        let mut o = MkfsOptions::for_version(Version::V3, 2048);
        o.block_size = 1024;
        o.inodes = Some(100);
        o.root_perm = 0o700;
        o.root_uid = 12;
        o.root_gid = 34;
        o.time = 1_700_000_000;
        let img = mkfs_to_vec(&o).unwrap();
        let g = sb_of(&img).geometry();
        assert_eq!(g.ninodes, 100);
        let (blk, off) = g.inode_location(ROOT_INO);
        let root = DiskInode::decode(Version::V3, &img[blk as usize * 1024 + off..]).unwrap();
        assert_eq!(root.mode, mode::S_IFDIR | 0o700);
        assert_eq!((root.uid, root.gid, root.mtime), (12, 34, 1_700_000_000));
    }
}
