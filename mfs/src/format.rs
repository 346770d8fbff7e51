//! The MINIX file-system on-disk format, V1, V2 and V3, in one place.
//!
//! Every on-disk constant, offset and structure used by the file-system core,
//! `mkfs` and `fsck` lives here. Structures are `zerocopy` types with
//! little-endian fields (MINIX and Linux both use the host order of x86, and
//! current MFS never byte-swaps). The superblock is parsed into a validated
//! [`SuperBlock`] whose derived [`Geometry`] tells every other module where
//! things are; nothing outside this module computes a disk offset from raw
//! superblock fields.
//!
//! Layout (all versions): bytes 0..1024 boot area, superblock at byte 1024
//! whatever the block size, inode bitmap from block 2, then the zone bitmap,
//! the inode table, and data zones from `firstdatazone` to `zones - 1`.

use bitvec::prelude::{BitSlice, Lsb0};
use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Byte offset of the superblock on the device, for every block size.
pub const SUPER_OFFSET: usize = 1024;
/// Bytes reserved for the superblock area (MINIX writes 1024 at offset 1024).
pub const SUPER_AREA: usize = 1024;
/// First block of the inode bitmap, for every version and block size.
pub const START_BLOCK: u32 = 2;
/// The root directory's inode number.
pub const ROOT_INO: u32 = 1;
/// Block size of V1 and V2 file systems (and of every util-linux image).
pub const V1V2_BLOCK_SIZE: u32 = 1024;
/// Smallest V3 block size we accept (util-linux makes 1024; MINIX wants 4096).
pub const MIN_BLOCK_SIZE: u32 = 1024;
/// Largest V3 block size (the on-disk field is a u16).
pub const MAX_BLOCK_SIZE: u32 = 32768;
/// Block size MINIX's own mkfs.mfs uses for V3.
pub const DEFAULT_V3_BLOCK_SIZE: u32 = 4096;

/// V1 magic, 14-character names.
pub const MAGIC_V1: u16 = 0x137F;
/// V1 magic, 30-character names (Linux extension).
pub const MAGIC_V1L: u16 = 0x138F;
/// V2 magic, 14-character names.
pub const MAGIC_V2: u16 = 0x2468;
/// V2 magic, 30-character names (Linux extension).
pub const MAGIC_V2L: u16 = 0x2478;
/// V3 magic.
pub const MAGIC_V3: u16 = 0x4D5A;

/// Byte offset of the magic in a V1/V2 superblock.
pub const V1V2_MAGIC_OFFSET: usize = 16;
/// Byte offset of the magic in a V3 superblock.
pub const V3_MAGIC_OFFSET: usize = 24;

/// V3 `s_flags` bit 0: the file system was cleanly unmounted (MINIX).
pub const MFSFLAG_CLEAN: u16 = 0x0001;
/// V3 `s_flags` bits naming mandatory features; any set bit is unsupported.
pub const MFSFLAG_MANDATORY_MASK: u16 = 0xff00;
/// V1/V2 `s_state` bit: cleanly unmounted (Linux `MINIX_VALID_FS`).
pub const STATE_VALID: u16 = 0x0001;
/// V1/V2 `s_state` bit: errors were detected (Linux `MINIX_ERROR_FS`).
pub const STATE_ERROR: u16 = 0x0002;

/// Direct zones in every inode version.
pub const NR_DZONES: usize = 7;
/// Zone slots in a V1 inode (7 direct, single, double indirect).
pub const V1_NR_TZONES: usize = 9;
/// Zone slots in a V2/V3 inode (7 direct, single, double, triple indirect).
pub const V2_NR_TZONES: usize = 10;
/// Slot of the single-indirect zone.
pub const ZONE_IND: usize = 7;
/// Slot of the double-indirect zone.
pub const ZONE_DIND: usize = 8;
/// Slot of the triple-indirect zone (V2/V3 only; MINIX never uses it, Linux does).
pub const ZONE_TIND: usize = 9;

/// Size of a V1 disk inode.
pub const V1_INODE_SIZE: u32 = 32;
/// Size of a V2/V3 disk inode.
pub const V2_INODE_SIZE: u32 = 64;

/// Most links to one inode on V1 (`i_nlinks` is a u8; Linux stops at 250).
pub const V1_LINK_MAX: u16 = 250;
/// Most links to one inode on V2/V3 (MINIX `LINK_MAX`; Linux allows 65530).
pub const V2_LINK_MAX: u16 = 32767;

/// Longest name in a V3 directory entry (also `statvfs.f_namemax` in MINIX).
pub const V3_NAME_LEN: usize = 60;

/// File-type bits of `i_mode`.
pub mod mode {
    /// Mask of the file-type bits.
    pub const S_IFMT: u16 = 0o170000;
    /// Socket.
    pub const S_IFSOCK: u16 = 0o140000;
    /// Symbolic link.
    pub const S_IFLNK: u16 = 0o120000;
    /// Regular file.
    pub const S_IFREG: u16 = 0o100000;
    /// Block special.
    pub const S_IFBLK: u16 = 0o060000;
    /// Directory.
    pub const S_IFDIR: u16 = 0o040000;
    /// Character special.
    pub const S_IFCHR: u16 = 0o020000;
    /// FIFO.
    pub const S_IFIFO: u16 = 0o010000;
    /// Permission and set-id bits (everything but the type).
    pub const PERM_MASK: u16 = 0o7777;
}

/// Which format generation an image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// 16-bit zone numbers, 32-byte inodes, 1 KiB blocks.
    V1,
    /// 32-bit zones, 64-byte inodes, 1 KiB blocks, u16 inode numbers in directories.
    V2,
    /// 32-bit zones, 64-byte inodes, 1..32 KiB blocks, 64-byte directory entries.
    V3,
}

impl Version {
    /// The version's number (1, 2 or 3).
    pub const fn number(self) -> u8 {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

// ---------------------------------------------------------------------------
// Raw on-disk structures.

/// V1/V2 superblock as Linux and util-linux lay it out (24 bytes at byte 1024).
/// V1 uses `s_nzones`; V2 uses `s_zones`. `s_state` is Linux's clean/error word.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawSuperV1V2 {
    /// Usable inodes.
    pub s_ninodes: U16,
    /// V1 zone count.
    pub s_nzones: U16,
    /// Inode bitmap blocks.
    pub s_imap_blocks: U16,
    /// Zone bitmap blocks.
    pub s_zmap_blocks: U16,
    /// First data zone.
    pub s_firstdatazone: U16,
    /// log2(blocks per zone); must be 0.
    pub s_log_zone_size: U16,
    /// Largest file in bytes.
    pub s_max_size: U32,
    /// Magic number.
    pub s_magic: U16,
    /// [`STATE_VALID`] / [`STATE_ERROR`].
    pub s_state: U16,
    /// V2 zone count.
    pub s_zones: U32,
}

/// V3 superblock (32 bytes at byte 1024). MINIX reads the first 31 bytes;
/// byte 14 is MINIX's `s_flags` (Linux calls it padding).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawSuperV3 {
    /// Usable inodes.
    pub s_ninodes: U32,
    /// Unused (V1 zone count slot), written as 0.
    pub s_pad0: U16,
    /// Inode bitmap blocks.
    pub s_imap_blocks: U16,
    /// Zone bitmap blocks.
    pub s_zmap_blocks: U16,
    /// First data zone, 0 = "did not fit; compute it".
    pub s_firstdatazone: U16,
    /// log2(blocks per zone); must be 0.
    pub s_log_zone_size: U16,
    /// [`MFSFLAG_CLEAN`] and mandatory feature bits.
    pub s_flags: U16,
    /// Largest file in bytes.
    pub s_max_size: U32,
    /// Zone count.
    pub s_zones: U32,
    /// Magic number.
    pub s_magic: U16,
    /// Padding.
    pub s_pad2: U16,
    /// Block size in bytes.
    pub s_block_size: U16,
    /// Always 0.
    pub s_disk_version: u8,
    /// Padding.
    pub s_pad3: u8,
}

/// V1 disk inode (32 bytes): one timestamp, u8 gid and link count, u16 zones.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawInodeV1 {
    /// Type and permissions.
    pub i_mode: U16,
    /// Owner.
    pub i_uid: U16,
    /// Size in bytes.
    pub i_size: U32,
    /// Modification time (the only one).
    pub i_mtime: U32,
    /// Group.
    pub i_gid: u8,
    /// Link count.
    pub i_nlinks: u8,
    /// 7 direct, single indirect, double indirect.
    pub i_zone: [U16; V1_NR_TZONES],
}

/// V2/V3 disk inode (64 bytes).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawInodeV2 {
    /// Type and permissions.
    pub i_mode: U16,
    /// Link count.
    pub i_nlinks: U16,
    /// Owner.
    pub i_uid: U16,
    /// Group.
    pub i_gid: U16,
    /// Size in bytes.
    pub i_size: U32,
    /// Access time.
    pub i_atime: U32,
    /// Modification time.
    pub i_mtime: U32,
    /// Status-change time.
    pub i_ctime: U32,
    /// 7 direct, single, double, triple indirect.
    pub i_zone: [U32; V2_NR_TZONES],
}

/// V1/V2 directory entry with 14-character names (16 bytes).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawDirent14 {
    /// Inode number, 0 = free slot.
    pub d_ino: U16,
    /// NUL-padded name, no terminator at full length.
    pub d_name: [u8; 14],
}

/// V1/V2 directory entry with 30-character names (32 bytes).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawDirent30 {
    /// Inode number, 0 = free slot.
    pub d_ino: U16,
    /// NUL-padded name.
    pub d_name: [u8; 30],
}

/// V3 directory entry (64 bytes).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawDirentV3 {
    /// Inode number, 0 = free slot.
    pub d_ino: U32,
    /// NUL-padded name.
    pub d_name: [u8; V3_NAME_LEN],
}

// ---------------------------------------------------------------------------
// Superblock parsing and validation.

/// Why a superblock was rejected. Each names the offending field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SuperError {
    /// Fewer bytes than a superblock were given.
    #[error("superblock area too short ({0} bytes)")]
    TooShort(usize),
    /// No MINIX magic at offset 16 (V1/V2) or 24 (V3).
    #[error("bad magic number in superblock (0x{v1v2:04x} at 16, 0x{v3:04x} at 24)")]
    BadMagic {
        /// Value at the V1/V2 magic offset.
        v1v2: u16,
        /// Value at the V3 magic offset.
        v3: u16,
    },
    /// No MINIX magic, and the area is recognisably something else: an
    /// ext2/3/4 superblock (magic 0xEF53 at offset 56) or all zeros.
    #[error("not a MINIX file system: {0}")]
    NotMinix(&'static str),
    /// Zones bigger than blocks are not supported.
    #[error(
        "block and zone sizes are different (log_zone_size {0}); only zone size == block size is supported"
    )]
    ZoneSizeMismatch(u16),
    /// Block size not a power of two in 1024..=32768 (V3), or not 1024 (V1/V2).
    #[error("unsupported block size {0}")]
    BadBlockSize(u32),
    /// Mandatory-feature bits set in the V3 flags.
    #[error("unsupported feature flags 0x{0:04x}")]
    UnsupportedFeatures(u16),
    /// `s_disk_version` is not 0.
    #[error("unsupported disk version {0}")]
    BadDiskVersion(u8),
    /// Zero inodes, or more than the inode number field can hold.
    #[error("bad inode count {0}")]
    BadInodeCount(u32),
    /// Zero zones (or fewer than the metadata needs).
    #[error("bad zone count {0}")]
    BadZoneCount(u32),
    /// The inode bitmap cannot hold `ninodes + 1` bits.
    #[error("inode bitmap has {have} blocks, needs at least {need}")]
    ImapBlocks {
        /// Blocks the superblock claims.
        have: u32,
        /// Blocks `ninodes + 1` bits need.
        need: u32,
    },
    /// The zone bitmap cannot hold a bit per data zone.
    #[error("zone bitmap has {have} blocks, needs at least {need}")]
    ZmapBlocks {
        /// Blocks the superblock claims.
        have: u32,
        /// Blocks the data zones need.
        need: u32,
    },
    /// The first data zone overlaps the metadata or lies beyond the device.
    #[error("first data zone {first} out of range (metadata ends at {meta_end}, zones {zones})")]
    FirstDataZone {
        /// First data zone (field or computed).
        first: u32,
        /// First block after bitmaps and inode table.
        meta_end: u32,
        /// Zone count.
        zones: u32,
    },
    /// `s_max_size` is zero.
    #[error("bad maximum file size {0}")]
    BadMaxSize(u32),
    /// The file system claims more blocks than the device holds.
    #[error("file system needs {need} bytes but the device has {have}")]
    DeviceTooSmall {
        /// Bytes the superblock claims.
        need: u64,
        /// Bytes the device has.
        have: u64,
    },
}

/// A parsed, validated superblock: the raw field values that matter, in
/// version-independent form. Build one with [`SuperBlock::parse`] or
/// [`SuperBlock::layout`]; write it back with [`SuperBlock::encode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuperBlock {
    /// Format generation.
    pub version: Version,
    /// The magic number found (tells 14/30/60-character names apart).
    pub magic: u16,
    /// True for MINIX's `mkfs.mfs3v2` layout: V3 superblock and 64-byte
    /// directory entries, but magic 0x2468 at offset 24 and 1 KiB blocks.
    pub v3_layout_v2_magic: bool,
    /// Usable inodes (inode 0 exists but is never used).
    pub ninodes: u32,
    /// Total zones (= blocks) on the device.
    pub zones: u32,
    /// Inode bitmap blocks.
    pub imap_blocks: u32,
    /// Zone bitmap blocks.
    pub zmap_blocks: u32,
    /// The on-disk `s_firstdatazone` field (0 on V3 means "compute it").
    pub firstdatazone_field: u16,
    /// log2(blocks per zone); always 0 after validation.
    pub log_zone_size: u16,
    /// `s_max_size` as stored.
    pub max_size: u32,
    /// Block size in bytes.
    pub block_size: u32,
    /// V3 `s_flags` or V1/V2 `s_state`, as stored.
    pub flags: u16,
}

fn div_ceil(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

impl SuperBlock {
    /// Parses and validates a superblock from the bytes starting at device
    /// byte [`SUPER_OFFSET`] (at least 32 bytes).
    pub fn parse(area: &[u8]) -> Result<SuperBlock, SuperError> {
        let (v3, _) =
            RawSuperV3::read_from_prefix(area).map_err(|_| SuperError::TooShort(area.len()))?;
        let (v12, _) =
            RawSuperV1V2::read_from_prefix(area).map_err(|_| SuperError::TooShort(area.len()))?;
        let sb = if v3.s_magic.get() == MAGIC_V3 || v3.s_magic.get() == MAGIC_V2 {
            if v3.s_disk_version != 0 {
                return Err(SuperError::BadDiskVersion(v3.s_disk_version));
            }
            let mfs3v2 = v3.s_magic.get() == MAGIC_V2;
            // A genuine V2 image has its magic at 16 and whatever at 24; only
            // take the mfs3v2 reading when offset 16 is not a V1/V2 magic.
            if mfs3v2 && is_v1v2_magic(v12.s_magic.get()) {
                Self::from_v1v2(&v12)?
            } else {
                SuperBlock {
                    version: Version::V3,
                    magic: v3.s_magic.get(),
                    v3_layout_v2_magic: mfs3v2,
                    ninodes: v3.s_ninodes.get(),
                    zones: v3.s_zones.get(),
                    imap_blocks: u32::from(v3.s_imap_blocks.get()),
                    zmap_blocks: u32::from(v3.s_zmap_blocks.get()),
                    firstdatazone_field: v3.s_firstdatazone.get(),
                    log_zone_size: v3.s_log_zone_size.get(),
                    max_size: v3.s_max_size.get(),
                    block_size: u32::from(v3.s_block_size.get()),
                    flags: v3.s_flags.get(),
                }
            }
        } else if is_v1v2_magic(v12.s_magic.get()) {
            Self::from_v1v2(&v12)?
        } else if area.len() >= 58 && area[56..58] == [0x53, 0xef] {
            return Err(SuperError::NotMinix(
                "an ext2/ext3/ext4 superblock (magic 0xef53 at offset 56)",
            ));
        } else if area.iter().all(|&b| b == 0) {
            return Err(SuperError::NotMinix(
                "the superblock area is all zeros (no file system)",
            ));
        } else {
            return Err(SuperError::BadMagic {
                v1v2: v12.s_magic.get(),
                v3: v3.s_magic.get(),
            });
        };
        sb.validate()?;
        Ok(sb)
    }

    fn from_v1v2(r: &RawSuperV1V2) -> Result<SuperBlock, SuperError> {
        let magic = r.s_magic.get();
        let version = if magic == MAGIC_V1 || magic == MAGIC_V1L {
            Version::V1
        } else {
            Version::V2
        };
        Ok(SuperBlock {
            version,
            magic,
            v3_layout_v2_magic: false,
            ninodes: u32::from(r.s_ninodes.get()),
            zones: if version == Version::V1 {
                u32::from(r.s_nzones.get())
            } else {
                r.s_zones.get()
            },
            imap_blocks: u32::from(r.s_imap_blocks.get()),
            zmap_blocks: u32::from(r.s_zmap_blocks.get()),
            firstdatazone_field: r.s_firstdatazone.get(),
            log_zone_size: r.s_log_zone_size.get(),
            max_size: r.s_max_size.get(),
            block_size: V1V2_BLOCK_SIZE,
            flags: r.s_state.get(),
        })
    }

    /// Checks every field; on success [`SuperBlock::geometry`] is safe to use
    /// for any disk address computation.
    pub fn validate(&self) -> Result<(), SuperError> {
        if self.log_zone_size != 0 {
            return Err(SuperError::ZoneSizeMismatch(self.log_zone_size));
        }
        let bs = self.block_size;
        let bs_ok = match self.version {
            Version::V1 | Version::V2 => bs == V1V2_BLOCK_SIZE,
            Version::V3 if self.v3_layout_v2_magic => bs == V1V2_BLOCK_SIZE,
            Version::V3 => bs.is_power_of_two() && (MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&bs),
        };
        if !bs_ok {
            return Err(SuperError::BadBlockSize(bs));
        }
        if self.version == Version::V3 && self.flags & MFSFLAG_MANDATORY_MASK != 0 {
            return Err(SuperError::UnsupportedFeatures(
                self.flags & MFSFLAG_MANDATORY_MASK,
            ));
        }
        // Inode numbers must fit the directory entry's inode field, and the
        // bitmap bit `ninodes` must be addressable.
        let max_inodes = if self.has_v3_dirents() {
            u32::MAX - 1
        } else {
            u32::from(u16::MAX)
        };
        if self.ninodes == 0 || self.ninodes > max_inodes {
            return Err(SuperError::BadInodeCount(self.ninodes));
        }
        if self.zones == 0 {
            return Err(SuperError::BadZoneCount(self.zones));
        }
        let bits_per_block = u64::from(bs) * 8;
        let imap_need = div_ceil(u64::from(self.ninodes) + 1, bits_per_block) as u32;
        if self.imap_blocks < imap_need {
            return Err(SuperError::ImapBlocks {
                have: self.imap_blocks,
                need: imap_need,
            });
        }
        let meta_end = self.meta_end();
        let first = self.first_data_zone();
        if u64::from(first) < meta_end || first >= self.zones {
            return Err(SuperError::FirstDataZone {
                first,
                meta_end: u32::try_from(meta_end).unwrap_or(u32::MAX),
                zones: self.zones,
            });
        }
        let zmap_bits = u64::from(self.zones - first) + 1;
        let zmap_need = div_ceil(zmap_bits, bits_per_block) as u32;
        if self.zmap_blocks < zmap_need {
            return Err(SuperError::ZmapBlocks {
                have: self.zmap_blocks,
                need: zmap_need,
            });
        }
        if self.max_size == 0 {
            return Err(SuperError::BadMaxSize(self.max_size));
        }
        Ok(())
    }

    /// True when directory entries are the 64-byte V3 kind.
    pub fn has_v3_dirents(&self) -> bool {
        self.version == Version::V3
    }

    fn inode_size(&self) -> u32 {
        if self.version == Version::V1 {
            V1_INODE_SIZE
        } else {
            V2_INODE_SIZE
        }
    }

    /// First block after the bitmaps and the inode table.
    fn meta_end(&self) -> u64 {
        let ipb = u64::from(self.block_size / self.inode_size());
        u64::from(START_BLOCK)
            + u64::from(self.imap_blocks)
            + u64::from(self.zmap_blocks)
            + div_ceil(u64::from(self.ninodes), ipb)
    }

    /// The first data zone: the on-disk field, or computed when it is 0.
    pub fn first_data_zone(&self) -> u32 {
        if self.firstdatazone_field != 0 {
            u32::from(self.firstdatazone_field)
        } else {
            u32::try_from(self.meta_end()).unwrap_or(u32::MAX)
        }
    }

    /// True when the superblock says the file system was cleanly unmounted.
    pub fn is_clean(&self) -> bool {
        match self.version {
            Version::V3 => self.flags & MFSFLAG_CLEAN != 0,
            Version::V1 | Version::V2 => {
                self.flags & STATE_VALID != 0 && self.flags & STATE_ERROR == 0
            }
        }
    }

    /// Sets or clears the clean mark (V3 `s_flags` bit 0, V1/V2 `s_state`).
    pub fn set_clean(&mut self, clean: bool) {
        let bit = if self.version == Version::V3 {
            MFSFLAG_CLEAN
        } else {
            STATE_VALID
        };
        if clean {
            self.flags |= bit;
        } else {
            self.flags &= !bit;
        }
    }

    /// Checks that the device (of `device_bytes` bytes) holds every zone.
    pub fn check_device_size(&self, device_bytes: u64) -> Result<(), SuperError> {
        let need = u64::from(self.zones) * u64::from(self.block_size);
        if need > device_bytes {
            return Err(SuperError::DeviceTooSmall {
                need,
                have: device_bytes,
            });
        }
        Ok(())
    }

    /// Writes the superblock into `area` (the bytes at device offset 1024,
    /// at least 32 bytes). Bytes of `area` beyond the structure are left as
    /// they are; MINIX zeroes the rest of the 1 KiB area, callers may too.
    pub fn encode(&self, area: &mut [u8]) -> Result<(), SuperError> {
        if self.version == Version::V3 {
            let raw = RawSuperV3 {
                s_ninodes: U32::new(self.ninodes),
                s_pad0: U16::new(0),
                s_imap_blocks: U16::new(u16_field(self.imap_blocks)),
                s_zmap_blocks: U16::new(u16_field(self.zmap_blocks)),
                s_firstdatazone: U16::new(self.firstdatazone_field),
                s_log_zone_size: U16::new(self.log_zone_size),
                s_flags: U16::new(self.flags),
                s_max_size: U32::new(self.max_size),
                s_zones: U32::new(self.zones),
                s_magic: U16::new(self.magic),
                s_pad2: U16::new(0),
                s_block_size: U16::new(u16_field(self.block_size)),
                s_disk_version: 0,
                s_pad3: 0,
            };
            raw.write_to_prefix(area)
                .map_err(|_| SuperError::TooShort(area.len()))
        } else {
            let v1 = self.version == Version::V1;
            let raw = RawSuperV1V2 {
                s_ninodes: U16::new(u16_field(self.ninodes)),
                s_nzones: U16::new(if v1 { u16_field(self.zones) } else { 0 }),
                s_imap_blocks: U16::new(u16_field(self.imap_blocks)),
                s_zmap_blocks: U16::new(u16_field(self.zmap_blocks)),
                s_firstdatazone: U16::new(self.firstdatazone_field),
                s_log_zone_size: U16::new(self.log_zone_size),
                s_max_size: U32::new(self.max_size),
                s_magic: U16::new(self.magic),
                s_state: U16::new(self.flags),
                s_zones: U32::new(if v1 { 0 } else { self.zones }),
            };
            raw.write_to_prefix(area)
                .map_err(|_| SuperError::TooShort(area.len()))
        }
    }

    /// Computes a fresh layout the way MINIX's mkfs.mfs does: bitmap sizes
    /// from the counts, first data zone right after the inode table, and the
    /// largest file the zone mapping reaches (clamped to `i32::MAX`). The
    /// result is validated and marked clean. `name_len` is 14 or 30 for V1/V2
    /// and ignored for V3.
    pub fn layout(
        version: Version,
        name_len: usize,
        block_size: u32,
        ninodes: u32,
        zones: u32,
    ) -> Result<SuperBlock, SuperError> {
        let magic = match (version, name_len) {
            (Version::V1, 14) => MAGIC_V1,
            (Version::V1, _) => MAGIC_V1L,
            (Version::V2, 14) => MAGIC_V2,
            (Version::V2, _) => MAGIC_V2L,
            (Version::V3, _) => MAGIC_V3,
        };
        let bits = u64::from(block_size) * 8;
        if bits == 0 {
            return Err(SuperError::BadBlockSize(block_size));
        }
        let imap_blocks = u32::try_from(div_ceil(u64::from(ninodes) + 1, bits))
            .map_err(|_| SuperError::BadInodeCount(ninodes))?;
        let zmap_blocks = u32::try_from(div_ceil(u64::from(zones), bits))
            .map_err(|_| SuperError::BadZoneCount(zones))?;
        let mut sb = SuperBlock {
            version,
            magic,
            v3_layout_v2_magic: false,
            ninodes,
            zones,
            imap_blocks,
            zmap_blocks,
            firstdatazone_field: 0,
            log_zone_size: 0,
            max_size: 0,
            block_size,
            flags: 0,
        };
        if version != Version::V3 && block_size != V1V2_BLOCK_SIZE {
            return Err(SuperError::BadBlockSize(block_size));
        }
        if block_size == 0 || !block_size.is_multiple_of(sb.inode_size()) {
            return Err(SuperError::BadBlockSize(block_size));
        }
        let first = sb.meta_end();
        match u16::try_from(first) {
            Ok(f) => sb.firstdatazone_field = f,
            // Only V3 can leave the field 0 ("compute it"); V1/V2 readers
            // (Linux included) take the field literally.
            Err(_) if version == Version::V3 => sb.firstdatazone_field = 0,
            Err(_) => {
                return Err(SuperError::FirstDataZone {
                    first: u32::try_from(first).unwrap_or(u32::MAX),
                    meta_end: u32::try_from(first).unwrap_or(u32::MAX),
                    zones,
                });
            }
        }
        if version == Version::V1 && zones > u32::from(u16::MAX) {
            return Err(SuperError::BadZoneCount(zones));
        }
        if imap_blocks > u32::from(u16::MAX) || zmap_blocks > u32::from(u16::MAX) {
            return Err(SuperError::BadZoneCount(zones));
        }
        let reach = sb.geometry_unchecked().max_blocks_mapped();
        let max = reach
            .saturating_mul(u64::from(block_size))
            .min(i32::MAX as u64);
        sb.max_size = max as u32;
        sb.set_clean(true);
        sb.validate()?;
        Ok(sb)
    }

    /// The derived geometry. Only meaningful after validation.
    pub fn geometry(&self) -> Geometry {
        self.geometry_unchecked()
    }

    fn geometry_unchecked(&self) -> Geometry {
        let bs = self.block_size;
        let inode_size = self.inode_size();
        let (dirent_size, name_len, dirent_ino_size) = if self.has_v3_dirents() {
            (64, V3_NAME_LEN as u32, 4)
        } else if self.magic == MAGIC_V1 || self.magic == MAGIC_V2 {
            (16, 14, 2)
        } else {
            (32, 30, 2)
        };
        let zone_entry_size = if self.version == Version::V1 { 2 } else { 4 };
        let first = self.first_data_zone();
        Geometry {
            version: self.version,
            block_size: bs,
            inode_size,
            inodes_per_block: bs / inode_size,
            dirent_size,
            dirent_ino_size,
            name_len,
            zone_entry_size,
            ptrs_per_block: bs / zone_entry_size,
            nr_tzones: if self.version == Version::V1 {
                V1_NR_TZONES
            } else {
                V2_NR_TZONES
            },
            ninodes: self.ninodes,
            zones: self.zones,
            imap_start: START_BLOCK,
            imap_blocks: self.imap_blocks,
            zmap_start: START_BLOCK + self.imap_blocks,
            zmap_blocks: self.zmap_blocks,
            inode_table_start: START_BLOCK + self.imap_blocks + self.zmap_blocks,
            inode_table_blocks: (div_ceil(u64::from(self.ninodes), u64::from(bs / inode_size)))
                as u32,
            first_data_zone: first,
            link_max: if self.version == Version::V1 {
                V1_LINK_MAX
            } else {
                V2_LINK_MAX
            },
            max_size: self.max_size.min(i32::MAX as u32),
        }
    }
}

fn is_v1v2_magic(m: u16) -> bool {
    matches!(m, MAGIC_V1 | MAGIC_V1L | MAGIC_V2 | MAGIC_V2L)
}

/// Narrows a value already validated to fit a u16 field.
fn u16_field(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

/// Where everything is on a validated file system, in blocks and bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Format generation.
    pub version: Version,
    /// Block (= zone) size in bytes.
    pub block_size: u32,
    /// Disk inode size (32 or 64).
    pub inode_size: u32,
    /// Inodes per inode-table block.
    pub inodes_per_block: u32,
    /// Directory entry size (16, 32 or 64).
    pub dirent_size: u32,
    /// Bytes of the inode number at the start of an entry (2 or 4).
    pub dirent_ino_size: u32,
    /// Longest name (14, 30 or 60).
    pub name_len: u32,
    /// Bytes per zone number in inodes and indirect blocks (2 or 4).
    pub zone_entry_size: u32,
    /// Zone numbers per indirect block.
    pub ptrs_per_block: u32,
    /// Zone slots in an inode (9 or 10).
    pub nr_tzones: usize,
    /// Usable inodes; valid inode numbers are 1..=ninodes.
    pub ninodes: u32,
    /// Total zones; data zones are first_data_zone..zones.
    pub zones: u32,
    /// First inode-bitmap block.
    pub imap_start: u32,
    /// Inode-bitmap blocks.
    pub imap_blocks: u32,
    /// First zone-bitmap block.
    pub zmap_start: u32,
    /// Zone-bitmap blocks.
    pub zmap_blocks: u32,
    /// First inode-table block.
    pub inode_table_start: u32,
    /// Inode-table blocks.
    pub inode_table_blocks: u32,
    /// First data zone.
    pub first_data_zone: u32,
    /// Most links to one inode.
    pub link_max: u16,
    /// Largest file size in bytes (`s_max_size` clamped to `i32::MAX`).
    pub max_size: u32,
}

impl Geometry {
    /// Bits in the inode bitmap that map real inodes (bit 0 is reserved).
    pub fn imap_bits(&self) -> u64 {
        u64::from(self.ninodes) + 1
    }

    /// Bits in the zone bitmap that map real zones (bit 0 is reserved).
    pub fn zmap_bits(&self) -> u64 {
        u64::from(self.zones - self.first_data_zone) + 1
    }

    /// Bits held by one bitmap block.
    pub fn bits_per_block(&self) -> u64 {
        u64::from(self.block_size) * 8
    }

    /// Zone represented by zone-bitmap bit `bit` (bit 1 = first data zone).
    pub fn zone_of_bit(&self, bit: u64) -> u32 {
        (bit + u64::from(self.first_data_zone) - 1) as u32
    }

    /// Zone-bitmap bit of `zone`, which must be a data zone.
    pub fn bit_of_zone(&self, zone: u32) -> u64 {
        u64::from(zone - self.first_data_zone) + 1
    }

    /// True when `zone` is a data zone (the only zones an inode may name).
    pub fn is_data_zone(&self, zone: u32) -> bool {
        zone >= self.first_data_zone && zone < self.zones
    }

    /// True when `ino` is a usable inode number.
    pub fn is_valid_ino(&self, ino: u32) -> bool {
        ino >= 1 && ino <= self.ninodes
    }

    /// Block and byte offset in it of inode `ino` (must be valid).
    pub fn inode_location(&self, ino: u32) -> (u32, usize) {
        let idx = ino - 1;
        let block = self.inode_table_start + idx / self.inodes_per_block;
        let off = (idx % self.inodes_per_block) * self.inode_size;
        (block, off as usize)
    }

    /// True when inode slot `slot` can be triple indirect (V2/V3).
    pub fn has_triple_indirect(&self) -> bool {
        self.nr_tzones > ZONE_TIND
    }

    /// File blocks the zone mapping can reach (direct + single + double
    /// [+ triple] indirect).
    pub fn max_blocks_mapped(&self) -> u64 {
        let n = u64::from(self.ptrs_per_block);
        let mut total = NR_DZONES as u64 + n + n * n;
        if self.has_triple_indirect() {
            total += n * n * n;
        }
        total
    }

    /// Largest file size in bytes: `s_max_size`, the mapping's reach and
    /// `i32::MAX` (i_size is signed 32-bit in MINIX), whichever is least.
    pub fn max_file_size(&self) -> u64 {
        let reach = self
            .max_blocks_mapped()
            .saturating_mul(u64::from(self.block_size));
        reach.min(u64::from(self.max_size)).min(i32::MAX as u64)
    }

    /// Directory entries per block.
    pub fn dirents_per_block(&self) -> u32 {
        self.block_size / self.dirent_size
    }
}

// ---------------------------------------------------------------------------
// Inodes.

/// A disk inode in version-independent form. V1 has one timestamp (stored
/// into all three here) and no triple-indirect slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiskInode {
    /// Type and permissions.
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
    /// Zone slots; V1 uses the first 9.
    pub zone: [u32; V2_NR_TZONES],
}

/// A value does not fit the version's inode fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InodeEncodeError {
    /// V1 stores gid and link count in one byte and zones in 16 bits.
    #[error("field {0} does not fit this format version")]
    FieldTooLarge(&'static str),
}

impl DiskInode {
    /// Decodes an inode of `version` from `bytes` (at least the inode size).
    /// Returns `None` only if `bytes` is too short.
    pub fn decode(version: Version, bytes: &[u8]) -> Option<DiskInode> {
        if version == Version::V1 {
            let (r, _) = RawInodeV1::read_from_prefix(bytes).ok()?;
            let mut zone = [0u32; V2_NR_TZONES];
            for (z, rz) in zone.iter_mut().zip(r.i_zone.iter()) {
                *z = u32::from(rz.get());
            }
            Some(DiskInode {
                mode: r.i_mode.get(),
                nlinks: u16::from(r.i_nlinks),
                uid: r.i_uid.get(),
                gid: u16::from(r.i_gid),
                size: r.i_size.get(),
                atime: r.i_mtime.get(),
                mtime: r.i_mtime.get(),
                ctime: r.i_mtime.get(),
                zone,
            })
        } else {
            let (r, _) = RawInodeV2::read_from_prefix(bytes).ok()?;
            let mut zone = [0u32; V2_NR_TZONES];
            for (z, rz) in zone.iter_mut().zip(r.i_zone.iter()) {
                *z = rz.get();
            }
            Some(DiskInode {
                mode: r.i_mode.get(),
                nlinks: r.i_nlinks.get(),
                uid: r.i_uid.get(),
                gid: r.i_gid.get(),
                size: r.i_size.get(),
                atime: r.i_atime.get(),
                mtime: r.i_mtime.get(),
                ctime: r.i_ctime.get(),
                zone,
            })
        }
    }

    /// Encodes into `bytes` (at least the inode size) for `version`.
    pub fn encode(&self, version: Version, bytes: &mut [u8]) -> Result<(), InodeEncodeError> {
        if version == Version::V1 {
            let gid = u8::try_from(self.gid).map_err(|_| InodeEncodeError::FieldTooLarge("gid"))?;
            let nlinks =
                u8::try_from(self.nlinks).map_err(|_| InodeEncodeError::FieldTooLarge("nlinks"))?;
            let mut zone = [U16::new(0); V1_NR_TZONES];
            for (rz, z) in zone.iter_mut().zip(self.zone.iter()) {
                *rz = U16::new(
                    u16::try_from(*z).map_err(|_| InodeEncodeError::FieldTooLarge("zone"))?,
                );
            }
            if self.zone[ZONE_TIND] != 0 {
                return Err(InodeEncodeError::FieldTooLarge("zone"));
            }
            let r = RawInodeV1 {
                i_mode: U16::new(self.mode),
                i_uid: U16::new(self.uid),
                i_size: U32::new(self.size),
                i_mtime: U32::new(self.mtime),
                i_gid: gid,
                i_nlinks: nlinks,
                i_zone: zone,
            };
            r.write_to_prefix(bytes)
                .map_err(|_| InodeEncodeError::FieldTooLarge("buffer"))
        } else {
            let mut zone = [U32::new(0); V2_NR_TZONES];
            for (rz, z) in zone.iter_mut().zip(self.zone.iter()) {
                *rz = U32::new(*z);
            }
            let r = RawInodeV2 {
                i_mode: U16::new(self.mode),
                i_nlinks: U16::new(self.nlinks),
                i_uid: U16::new(self.uid),
                i_gid: U16::new(self.gid),
                i_size: U32::new(self.size),
                i_atime: U32::new(self.atime),
                i_mtime: U32::new(self.mtime),
                i_ctime: U32::new(self.ctime),
                i_zone: zone,
            };
            r.write_to_prefix(bytes)
                .map_err(|_| InodeEncodeError::FieldTooLarge("buffer"))
        }
    }

    /// The file-type bits.
    pub fn file_type(&self) -> u16 {
        self.mode & mode::S_IFMT
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == mode::S_IFDIR
    }

    /// True for a regular file.
    pub fn is_reg(&self) -> bool {
        self.file_type() == mode::S_IFREG
    }

    /// True for a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.file_type() == mode::S_IFLNK
    }

    /// True for block or character specials (device number in zone 0).
    pub fn is_device(&self) -> bool {
        matches!(self.file_type(), mode::S_IFBLK | mode::S_IFCHR)
    }

    /// True when the inode's zones hold data (files, directories, symlinks);
    /// devices, FIFOs and sockets use no zones (zone 0 of a device is rdev).
    pub fn has_data_zones(&self) -> bool {
        matches!(
            self.file_type(),
            mode::S_IFREG | mode::S_IFDIR | mode::S_IFLNK
        )
    }
}

// ---------------------------------------------------------------------------
// Directory entries.

/// Inode number of the directory entry in `entry` (one entry's bytes).
pub fn dirent_ino(geom: &Geometry, entry: &[u8]) -> u32 {
    if geom.dirent_ino_size == 4 {
        U32::read_from_prefix(entry)
            .map(|(v, _)| v.get())
            .unwrap_or(0)
    } else {
        U16::read_from_prefix(entry)
            .map(|(v, _)| u32::from(v.get()))
            .unwrap_or(0)
    }
}

/// Name bytes of the entry (up to the first NUL, at most `name_len`).
pub fn dirent_name<'a>(geom: &Geometry, entry: &'a [u8]) -> &'a [u8] {
    let start = geom.dirent_ino_size as usize;
    let end = (start + geom.name_len as usize).min(entry.len());
    let raw = entry.get(start..end).unwrap_or(&[]);
    let len = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    &raw[..len]
}

/// True when the entry's name is exactly `name` (the fast test used by
/// directory searches: no scan for the terminating NUL).
pub fn dirent_name_is(geom: &Geometry, entry: &[u8], name: &[u8]) -> bool {
    let start = geom.dirent_ino_size as usize;
    let nl = geom.name_len as usize;
    if name.len() > nl {
        return false;
    }
    match entry.get(start..start + nl) {
        Some(field) => field.starts_with(name) && (name.len() == nl || field[name.len()] == 0),
        None => false,
    }
}

/// Writes an entry (inode number and NUL-padded name) into `entry`.
/// The caller has checked `name.len() <= name_len` and that `ino` fits.
pub fn dirent_write(geom: &Geometry, entry: &mut [u8], ino: u32, name: &[u8]) {
    let isz = geom.dirent_ino_size as usize;
    if isz == 4 {
        entry[..4].copy_from_slice(U32::new(ino).as_bytes());
    } else {
        entry[..2].copy_from_slice(U16::new(u16_field(ino)).as_bytes());
    }
    let nl = geom.name_len as usize;
    let field = &mut entry[isz..isz + nl];
    field.fill(0);
    let n = name.len().min(nl);
    field[..n].copy_from_slice(&name[..n]);
}

/// Clears an entry's inode number (frees the slot; the name stays, as MINIX does).
pub fn dirent_clear(geom: &Geometry, entry: &mut [u8]) {
    entry[..geom.dirent_ino_size as usize].fill(0);
}

// ---------------------------------------------------------------------------
// Zone numbers in indirect blocks.

/// Zone number at index `idx` of an indirect block.
pub fn ind_get(geom: &Geometry, block: &[u8], idx: usize) -> u32 {
    let sz = geom.zone_entry_size as usize;
    let off = idx * sz;
    match block.get(off..off + sz) {
        Some(b) if sz == 4 => U32::read_from_bytes(b).map(|v| v.get()).unwrap_or(0),
        Some(b) => U16::read_from_bytes(b)
            .map(|v| u32::from(v.get()))
            .unwrap_or(0),
        None => 0,
    }
}

/// Stores zone number `zone` at index `idx` of an indirect block.
pub fn ind_set(geom: &Geometry, block: &mut [u8], idx: usize, zone: u32) {
    let sz = geom.zone_entry_size as usize;
    let off = idx * sz;
    if let Some(b) = block.get_mut(off..off + sz) {
        if sz == 4 {
            b.copy_from_slice(U32::new(zone).as_bytes());
        } else {
            b.copy_from_slice(U16::new(u16_field(zone)).as_bytes());
        }
    }
}

// ---------------------------------------------------------------------------
// Bitmaps: bit k is bit k%8 of byte k/8 (LSB first), the same as MINIX's u32
// chunks on a little-endian disk.

/// Reads bit `bit` of a bitmap block.
pub fn bit_get(block: &[u8], bit: usize) -> bool {
    BitSlice::<u8, Lsb0>::from_slice(block)
        .get(bit)
        .is_some_and(|b| *b)
}

/// Sets or clears bit `bit` of a bitmap block (no-op past the end).
pub fn bit_set(block: &mut [u8], bit: usize, value: bool) {
    if let Some(mut b) = BitSlice::<u8, Lsb0>::from_slice_mut(block).get_mut(bit) {
        *b = value;
    }
}

/// First clear bit in `block` at index `from..limit` (limit clamped to the block).
pub fn bit_find_zero(block: &[u8], from: usize, limit: usize) -> Option<usize> {
    let bits = BitSlice::<u8, Lsb0>::from_slice(block);
    let limit = limit.min(bits.len());
    if from >= limit {
        return None;
    }
    bits[from..limit].first_zero().map(|i| i + from)
}

/// Number of clear bits in `block[..limit]`.
pub fn bit_count_zeros(block: &[u8], limit: usize) -> usize {
    let bits = BitSlice::<u8, Lsb0>::from_slice(block);
    let limit = limit.min(bits.len());
    bits[..limit].count_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(sb: &SuperBlock) -> [u8; 64] {
        let mut a = [0u8; 64];
        sb.encode(&mut a).unwrap();
        a
    }

    #[test]
    fn raw_sizes() {
        assert_eq!(core::mem::size_of::<RawSuperV1V2>(), 24);
        assert_eq!(core::mem::size_of::<RawSuperV3>(), 32);
        assert_eq!(core::mem::size_of::<RawInodeV1>(), 32);
        assert_eq!(core::mem::size_of::<RawInodeV2>(), 64);
        assert_eq!(core::mem::size_of::<RawDirent14>(), 16);
        assert_eq!(core::mem::size_of::<RawDirent30>(), 32);
        assert_eq!(core::mem::size_of::<RawDirentV3>(), 64);
    }

    #[test]
    fn layout_matches_util_linux_16m_v3() {
        // util-linux: 16 MiB V3, 5472 inodes -> imap 1, zmap 2, firstdatazone 347.
        let sb = SuperBlock::layout(Version::V3, 60, 1024, 5472, 16384).unwrap();
        assert_eq!(sb.imap_blocks, 1);
        assert_eq!(sb.zmap_blocks, 2);
        assert_eq!(sb.first_data_zone(), 347);
        assert!(sb.is_clean());
        let g = sb.geometry();
        assert_eq!(g.inode_table_start, 5);
        assert_eq!(g.dirent_size, 64);
        assert_eq!(g.ptrs_per_block, 256);
    }

    #[test]
    fn max_sizes_like_minix_mkfs() {
        let v1 = SuperBlock::layout(Version::V1, 14, 1024, 100, 1000).unwrap();
        assert_eq!(v1.max_size, 268_966_912);
        assert_eq!(v1.geometry().max_file_size(), 268_966_912);
        // With triple indirect, the V2 1 KiB reach exceeds i32::MAX.
        let v2 = SuperBlock::layout(Version::V2, 30, 1024, 100, 1000).unwrap();
        assert_eq!(v2.max_size, i32::MAX as u32);
        let v3 = SuperBlock::layout(Version::V3, 60, 4096, 100, 1000).unwrap();
        assert_eq!(v3.max_size, i32::MAX as u32);
    }

    #[test]
    fn round_trip_all_versions() {
        for (v, n, bs) in [
            (Version::V1, 14, 1024),
            (Version::V1, 30, 1024),
            (Version::V2, 14, 1024),
            (Version::V2, 30, 1024),
            (Version::V3, 60, 1024),
            (Version::V3, 60, 4096),
            (Version::V3, 60, 32768),
        ] {
            let sb = SuperBlock::layout(v, n, bs, 480, 2000).unwrap();
            let back = SuperBlock::parse(&area(&sb)).unwrap();
            assert_eq!(sb, back, "{v:?} {n} {bs}");
            let g = back.geometry();
            assert_eq!(g.name_len as usize, if v == Version::V3 { 60 } else { n });
        }
    }

    #[test]
    fn magic_values_and_offsets() {
        let sb = SuperBlock::layout(Version::V1, 14, 1024, 32, 100).unwrap();
        let a = area(&sb);
        assert_eq!(u16::from_le_bytes([a[16], a[17]]), MAGIC_V1);
        assert_eq!(u16::from_le_bytes([a[2], a[3]]), 100);
        let sb = SuperBlock::layout(Version::V2, 30, 1024, 32, 100).unwrap();
        let a = area(&sb);
        assert_eq!(u16::from_le_bytes([a[16], a[17]]), MAGIC_V2L);
        assert_eq!(u32::from_le_bytes([a[20], a[21], a[22], a[23]]), 100);
        let sb = SuperBlock::layout(Version::V3, 60, 4096, 64, 100).unwrap();
        let a = area(&sb);
        assert_eq!(u16::from_le_bytes([a[24], a[25]]), MAGIC_V3);
        assert_eq!(u16::from_le_bytes([a[28], a[29]]), 4096);
    }

    fn v3_base() -> SuperBlock {
        SuperBlock::layout(Version::V3, 60, 4096, 640, 4000).unwrap()
    }

    fn mutate_v3(f: impl FnOnce(&mut RawSuperV3)) -> Result<SuperBlock, SuperError> {
        let mut a = area(&v3_base());
        let (r, _) = RawSuperV3::mut_from_prefix(&mut a).unwrap();
        f(r);
        SuperBlock::parse(&a)
    }

    #[test]
    fn names_foreign_and_empty_superblocks() {
        let mut a = [0u8; 1024];
        assert!(
            matches!(SuperBlock::parse(&a), Err(SuperError::NotMinix(w)) if w.contains("all zeros"))
        );
        a[56] = 0x53;
        a[57] = 0xef;
        assert!(
            matches!(SuperBlock::parse(&a), Err(SuperError::NotMinix(w)) if w.contains("ext2"))
        );
        // Anything else without a magic stays BadMagic.
        a[56] = 0x54;
        assert!(matches!(
            SuperBlock::parse(&a),
            Err(SuperError::BadMagic { .. })
        ));
    }

    #[test]
    fn rejects_each_bad_v3_field() {
        assert!(mutate_v3(|_| {}).is_ok());
        assert!(matches!(
            mutate_v3(|r| r.s_magic = U16::new(0x1234)),
            Err(SuperError::BadMagic { .. })
        ));
        assert_eq!(
            mutate_v3(|r| r.s_log_zone_size = U16::new(1)),
            Err(SuperError::ZoneSizeMismatch(1))
        );
        for bad in [0u16, 512, 3000, 6144] {
            assert_eq!(
                mutate_v3(|r| r.s_block_size = U16::new(bad)),
                Err(SuperError::BadBlockSize(u32::from(bad)))
            );
        }
        assert_eq!(
            mutate_v3(|r| r.s_flags = U16::new(0x0101)),
            Err(SuperError::UnsupportedFeatures(0x0100))
        );
        assert_eq!(
            mutate_v3(|r| r.s_disk_version = 3),
            Err(SuperError::BadDiskVersion(3))
        );
        assert_eq!(
            mutate_v3(|r| r.s_ninodes = U32::new(0)),
            Err(SuperError::BadInodeCount(0))
        );
        assert_eq!(
            mutate_v3(|r| r.s_zones = U32::new(0)),
            Err(SuperError::BadZoneCount(0))
        );
        assert!(matches!(
            mutate_v3(|r| r.s_imap_blocks = U16::new(0)),
            Err(SuperError::ImapBlocks { .. })
        ));
        // Many more inodes than the bitmap block can map.
        assert!(matches!(
            mutate_v3(|r| r.s_ninodes = U32::new(40_000)),
            Err(SuperError::ImapBlocks { .. })
        ));
        assert!(matches!(
            mutate_v3(|r| r.s_zmap_blocks = U16::new(0)),
            Err(SuperError::ZmapBlocks { .. })
        ));
        assert!(matches!(
            mutate_v3(|r| r.s_zones = U32::new(100_000)),
            Err(SuperError::ZmapBlocks { .. })
        ));
        assert!(matches!(
            mutate_v3(|r| r.s_firstdatazone = U16::new(3)),
            Err(SuperError::FirstDataZone { .. })
        ));
        assert!(matches!(
            mutate_v3(|r| r.s_firstdatazone = U16::new(4000)),
            Err(SuperError::FirstDataZone { .. })
        ));
        assert_eq!(
            mutate_v3(|r| r.s_max_size = U32::new(0)),
            Err(SuperError::BadMaxSize(0))
        );
        assert!(matches!(
            SuperBlock::parse(&[0u8; 10]),
            Err(SuperError::TooShort(10))
        ));
    }

    #[test]
    fn firstdatazone_zero_means_computed() {
        let sb = mutate_v3(|r| r.s_firstdatazone = U16::new(0)).unwrap();
        assert_eq!(sb.first_data_zone(), v3_base().first_data_zone());
    }

    #[test]
    fn rejects_bad_v1v2_fields() {
        let base = SuperBlock::layout(Version::V2, 30, 1024, 320, 2000).unwrap();
        let mut a = area(&base);
        let (r, _) = RawSuperV1V2::mut_from_prefix(&mut a).unwrap();
        r.s_log_zone_size = U16::new(2);
        assert_eq!(SuperBlock::parse(&a), Err(SuperError::ZoneSizeMismatch(2)));
        let mut a = area(&base);
        let (r, _) = RawSuperV1V2::mut_from_prefix(&mut a).unwrap();
        r.s_zones = U32::new(10);
        assert!(matches!(
            SuperBlock::parse(&a),
            Err(SuperError::FirstDataZone { .. })
        ));
        let mut a = area(&base);
        let (r, _) = RawSuperV1V2::mut_from_prefix(&mut a).unwrap();
        r.s_magic = U16::new(0x7f13);
        assert!(matches!(
            SuperBlock::parse(&a),
            Err(SuperError::BadMagic { .. })
        ));
    }

    #[test]
    fn clean_flags_per_version() {
        let mut v2 = SuperBlock::layout(Version::V2, 30, 1024, 32, 100).unwrap();
        assert!(v2.is_clean());
        v2.set_clean(false);
        assert!(!v2.is_clean());
        let a = area(&v2);
        assert_eq!(u16::from_le_bytes([a[18], a[19]]) & STATE_VALID, 0);
        v2.set_clean(true);
        v2.flags |= STATE_ERROR;
        assert!(!v2.is_clean());
        let mut v3 = v3_base();
        v3.set_clean(false);
        let a = area(&v3);
        assert_eq!(u16::from_le_bytes([a[14], a[15]]), 0);
        assert!(!SuperBlock::parse(&a).unwrap().is_clean());
    }

    #[test]
    fn mfs3v2_layout_detected() {
        let mut sb = SuperBlock::layout(Version::V3, 60, 1024, 64, 500).unwrap();
        sb.magic = MAGIC_V2;
        sb.v3_layout_v2_magic = true;
        let back = SuperBlock::parse(&area(&sb)).unwrap();
        assert!(back.v3_layout_v2_magic);
        assert_eq!(back.geometry().dirent_size, 64);
    }

    #[test]
    fn device_size_check() {
        let sb = v3_base();
        assert!(sb.check_device_size(4000 * 4096).is_ok());
        assert!(matches!(
            sb.check_device_size(4000 * 4096 - 1),
            Err(SuperError::DeviceTooSmall { .. })
        ));
    }

    #[test]
    fn inode_round_trip_and_v1_limits() {
        let mut ino = DiskInode {
            mode: mode::S_IFREG | 0o644,
            nlinks: 3,
            uid: 1000,
            gid: 200,
            size: 123_456,
            atime: 7,
            mtime: 8,
            ctime: 9,
            zone: [10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
        };
        let mut buf = [0u8; 64];
        ino.encode(Version::V2, &mut buf).unwrap();
        assert_eq!(DiskInode::decode(Version::V3, &buf), Some(ino));
        assert!(
            ino.encode(Version::V1, &mut buf).is_err(),
            "triple indirect has no V1 slot"
        );
        ino.zone[ZONE_TIND] = 0;
        ino.encode(Version::V1, &mut buf).unwrap();
        let back = DiskInode::decode(Version::V1, &buf).unwrap();
        assert_eq!(back.mtime, 8);
        assert_eq!(back.atime, 8);
        assert_eq!(back.zone, ino.zone);
        ino.gid = 300;
        assert!(ino.encode(Version::V1, &mut buf).is_err());
        ino.gid = 1;
        ino.zone[0] = 70_000;
        assert!(ino.encode(Version::V1, &mut buf).is_err());
    }

    #[test]
    fn dirents_all_formats() {
        for (v, n) in [(Version::V1, 14), (Version::V2, 30), (Version::V3, 60)] {
            let g = SuperBlock::layout(v, n, 1024, 64, 500).unwrap().geometry();
            let mut e = [0xffu8; 64];
            let name = [b'x'; 60];
            dirent_write(&g, &mut e, 42, &name[..n]);
            assert_eq!(dirent_ino(&g, &e), 42);
            assert_eq!(
                dirent_name(&g, &e).len(),
                n,
                "full-length name has no terminator"
            );
            assert!(dirent_name_is(&g, &e, &name[..n]));
            assert!(!dirent_name_is(&g, &e, &name[..n - 1]));
            dirent_write(&g, &mut e, 7, b"ab");
            assert_eq!(dirent_name(&g, &e), b"ab");
            assert!(dirent_name_is(&g, &e, b"ab"));
            assert!(!dirent_name_is(&g, &e, b"a"));
            assert!(!dirent_name_is(&g, &e, b"abc"));
            dirent_clear(&g, &mut e);
            assert_eq!(dirent_ino(&g, &e), 0);
        }
    }

    #[test]
    fn indirect_entries_by_version() {
        let g1 = SuperBlock::layout(Version::V1, 14, 1024, 64, 500)
            .unwrap()
            .geometry();
        let g3 = SuperBlock::layout(Version::V3, 60, 1024, 64, 500)
            .unwrap()
            .geometry();
        assert_eq!(g1.ptrs_per_block, 512);
        assert_eq!(g3.ptrs_per_block, 256);
        let mut b = [0u8; 1024];
        ind_set(&g1, &mut b, 511, 0x1234);
        assert_eq!(ind_get(&g1, &b, 511), 0x1234);
        assert_eq!(&b[1022..], &[0x34, 0x12]);
        ind_set(&g3, &mut b, 3, 0x0102_0304);
        assert_eq!(ind_get(&g3, &b, 3), 0x0102_0304);
        assert_eq!(ind_get(&g3, &b, 9999), 0, "out of range reads as a hole");
    }

    #[test]
    fn bitmap_helpers_lsb_first() {
        let mut b = [0u8; 8];
        bit_set(&mut b, 0, true);
        bit_set(&mut b, 9, true);
        assert_eq!(b[0], 1);
        assert_eq!(b[1], 2);
        assert!(bit_get(&b, 9));
        assert!(!bit_get(&b, 10));
        assert_eq!(bit_find_zero(&b, 0, 64), Some(1));
        b[0] = 0xff;
        assert_eq!(bit_find_zero(&b, 0, 64), Some(8));
        assert_eq!(bit_find_zero(&b, 0, 8), None);
        assert_eq!(bit_count_zeros(&b, 16), 7);
        bit_set(&mut b, 1000, true); // past the end: ignored
        assert!(!bit_get(&b, 1000));
    }
}
