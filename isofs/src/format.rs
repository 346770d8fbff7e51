//! The on-disk format: every ISO 9660, Joliet, SUSP and Rock Ridge
//! structure this crate reads, as `zerocopy` types, and every offset and
//! constant. Nothing else in the crate knows a byte position.
//!
//! ISO 9660 stores most numbers "both-endian" (a little-endian copy then a
//! big-endian copy, ECMA-119 7.2.3 / 7.3.3); like Linux we read the
//! little-endian half.

use zerocopy::big_endian::{U16 as BeU16, U32 as BeU32};
use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Logical block (sector) size: the only one supported (as Linux, which
/// refuses others for CD images in practice).
pub const BLOCK: usize = 2048;
/// Log2 of [`BLOCK`].
pub const BLOCK_SHIFT: u32 = 11;
/// First volume descriptor sector (after the 32 KiB system area).
pub const FIRST_VD_SECTOR: u64 = 16;
/// Most volume descriptors examined before the terminator must appear.
pub const MAX_VDS: u64 = 64;
/// Standard identifier of every volume descriptor.
pub const STD_ID: &[u8; 5] = b"CD001";

/// Volume descriptor types.
pub mod vd_type {
    /// Boot record (El Torito).
    pub const BOOT: u8 = 0;
    /// Primary volume descriptor.
    pub const PRIMARY: u8 = 1;
    /// Supplementary (Joliet) or enhanced volume descriptor.
    pub const SUPPLEMENTARY: u8 = 2;
    /// Volume partition descriptor.
    pub const PARTITION: u8 = 3;
    /// Set terminator.
    pub const TERMINATOR: u8 = 255;
}

/// Joliet escape sequences (in [`VolDesc::escape`]): UCS-2 levels 1, 2, 3.
pub const JOLIET_ESCAPES: [&[u8; 3]; 3] = [b"%/@", b"%/C", b"%/E"];

/// A both-endian 32-bit number.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct Both32 {
    /// Little-endian copy (the one read).
    pub le: U32,
    /// Big-endian copy.
    pub be: BeU32,
}

impl Both32 {
    /// The value.
    pub fn get(&self) -> u32 {
        self.le.get()
    }
    /// Both halves set to `v` (image builders in tests).
    pub fn new(v: u32) -> Self {
        Both32 {
            le: U32::new(v),
            be: BeU32::new(v),
        }
    }
}

/// A both-endian 16-bit number.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct Both16 {
    /// Little-endian copy (the one read).
    pub le: U16,
    /// Big-endian copy.
    pub be: BeU16,
}

impl Both16 {
    /// The value.
    pub fn get(&self) -> u16 {
        self.le.get()
    }
    /// Both halves set to `v`.
    pub fn new(v: u16) -> Self {
        Both16 {
            le: U16::new(v),
            be: BeU16::new(v),
        }
    }
}

/// A primary or supplementary volume descriptor (ECMA-119 8.4, 8.5), one
/// whole sector.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct VolDesc {
    /// [`vd_type`].
    pub vd_type: u8,
    /// [`STD_ID`].
    pub id: [u8; 5],
    /// 1.
    pub version: u8,
    /// Volume flags (supplementary only).
    pub flags: u8,
    /// System identifier.
    pub system_id: [u8; 32],
    /// Volume identifier.
    pub volume_id: [u8; 32],
    /// Unused.
    pub unused1: [u8; 8],
    /// Blocks in the volume.
    pub space_size: Both32,
    /// Escape sequences (Joliet: [`JOLIET_ESCAPES`]).
    pub escape: [u8; 32],
    /// Volume set size.
    pub set_size: Both16,
    /// Volume sequence number.
    pub seq_num: Both16,
    /// Logical block size.
    pub block_size: Both16,
    /// Path table size.
    pub path_table_size: Both32,
    /// Type L path table.
    pub l_path: U32,
    /// Optional type L path table.
    pub opt_l_path: U32,
    /// Type M path table.
    pub m_path: BeU32,
    /// Optional type M path table.
    pub opt_m_path: BeU32,
    /// The root directory record (34 bytes, name = 0x00).
    pub root: [u8; ROOT_RECORD_LEN],
    /// Identifiers, dates and application use (not read).
    pub rest: [u8; BLOCK - 190],
}

const _: () = assert!(core::mem::size_of::<VolDesc>() == BLOCK);

/// Length of the root directory record in a volume descriptor.
pub const ROOT_RECORD_LEN: usize = 34;

/// The fixed part of a directory record (ECMA-119 9.1), followed by the
/// file identifier, a pad byte if the identifier length is even, and the
/// system use area (SUSP / Rock Ridge).
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct DirRecord {
    /// Length of the whole record (0: no more records in this sector).
    pub len: u8,
    /// Extended attribute record length in blocks (precedes the data).
    pub ext_attr_len: u8,
    /// First block of the extent.
    pub extent: Both32,
    /// Data length in bytes.
    pub size: Both32,
    /// Recording date and time ([`ShortDate`]).
    pub date: [u8; 7],
    /// [`file_flags`].
    pub flags: u8,
    /// Interleave unit size.
    pub unit_size: u8,
    /// Interleave gap size.
    pub gap_size: u8,
    /// Volume sequence number.
    pub vol_seq: Both16,
    /// File identifier length.
    pub name_len: u8,
}

/// Bytes of [`DirRecord`]: a record is at least this plus its name.
pub const DIR_RECORD_HEAD: usize = 33;
const _: () = assert!(core::mem::size_of::<DirRecord>() == DIR_RECORD_HEAD);

/// Directory record flags (ECMA-119 9.1.6).
pub mod file_flags {
    /// Existence: hidden from the user (shown, as Linux does).
    pub const HIDDEN: u8 = 1;
    /// A directory.
    pub const DIRECTORY: u8 = 2;
    /// An associated file (hidden, as Linux without `showassoc`).
    pub const ASSOCIATED: u8 = 4;
    /// Record format in the extended attributes.
    pub const RECORD: u8 = 8;
    /// Protection in the extended attributes.
    pub const PROTECTION: u8 = 16;
    /// Not the final record of the file: another extent follows.
    pub const MULTI_EXTENT: u8 = 128;
}

/// A type L path table record (ECMA-119 9.4), followed by the directory
/// identifier and a pad byte if its length is odd.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct PathRecord {
    /// Length of the directory identifier.
    pub name_len: u8,
    /// Extended attribute record length.
    pub ext_attr_len: u8,
    /// First block of the directory.
    pub extent: U32,
    /// Number of the parent directory (the root is 1, its own parent).
    pub parent: U16,
}

/// Bytes of [`PathRecord`].
pub const PATH_RECORD_HEAD: usize = 8;
const _: () = assert!(core::mem::size_of::<PathRecord>() == PATH_RECORD_HEAD);
/// Largest path table read.
pub const MAX_PATH_TABLE: usize = 16 << 20;

/// Identifier of the "." record.
pub const NAME_DOT: u8 = 0;
/// Identifier of the ".." record.
pub const NAME_DOTDOT: u8 = 1;

/// Offset of the system use area in a record with a `name_len`-byte
/// identifier (the identifier is padded to an even record position).
pub const fn system_use_offset(name_len: usize) -> usize {
    DIR_RECORD_HEAD + name_len + (name_len + 1) % 2
}

/// A 7-byte directory record date (ECMA-119 9.1.5): years since 1900,
/// month, day, hour, minute, second, offset from GMT in 15-minute units.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct ShortDate {
    /// Years since 1900.
    pub year: u8,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59.
    pub second: u8,
    /// Offset from GMT in 15-minute intervals (signed).
    pub gmt_off: i8,
}

/// Length of a long-form (ASCII digits) date: "YYYYMMDDHHMMSScc" + offset.
pub const LONG_DATE_LEN: usize = 17;

/// Header of a SUSP system use entry (IEEE P1281).
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct SuspHead {
    /// Signature (two ASCII letters).
    pub sig: [u8; 2],
    /// Length of the whole entry.
    pub len: u8,
    /// Entry version.
    pub version: u8,
}

/// Bytes of [`SuspHead`].
pub const SUSP_HEAD: usize = 4;

/// SUSP and Rock Ridge signatures.
pub mod sig {
    /// SUSP indicator (first entry of the root's "." record).
    pub const SP: [u8; 2] = *b"SP";
    /// Continuation area.
    pub const CE: [u8; 2] = *b"CE";
    /// Terminator.
    pub const ST: [u8; 2] = *b"ST";
    /// Padding.
    pub const PD: [u8; 2] = *b"PD";
    /// Extensions reference.
    pub const ER: [u8; 2] = *b"ER";
    /// POSIX attributes.
    pub const PX: [u8; 2] = *b"PX";
    /// POSIX device number.
    pub const PN: [u8; 2] = *b"PN";
    /// Symbolic link.
    pub const SL: [u8; 2] = *b"SL";
    /// Alternate (long) name.
    pub const NM: [u8; 2] = *b"NM";
    /// Child link (a relocated directory's placeholder).
    pub const CL: [u8; 2] = *b"CL";
    /// Parent link (in a relocated directory's "..").
    pub const PL: [u8; 2] = *b"PL";
    /// Relocated directory (hidden where it physically is).
    pub const RE: [u8; 2] = *b"RE";
    /// Time stamps.
    pub const TF: [u8; 2] = *b"TF";
    /// Rock Ridge in use (RRIP 1.09).
    pub const RR: [u8; 2] = *b"RR";
}

/// SP body: check bytes and the number of bytes to skip in every system
/// use area.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct SpBody {
    /// [`SP_CHECK`].
    pub check: [u8; 2],
    /// LEN_SKP.
    pub skip: u8,
}

/// SP check bytes.
pub const SP_CHECK: [u8; 2] = [0xbe, 0xef];

/// CE body: where the continuation area is.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct CeBody {
    /// Block of the continuation area.
    pub block: Both32,
    /// Offset in the block.
    pub offset: Both32,
    /// Length in bytes.
    pub len: Both32,
}

/// Most continuation areas followed for one record (Linux: 32).
pub const MAX_CE: usize = 32;

/// PX body (RRIP 1.10: 32 bytes; 1.12 adds a 8-byte serial number).
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct PxBody {
    /// st_mode (type and permission bits, POSIX values).
    pub mode: Both32,
    /// st_nlink.
    pub nlinks: Both32,
    /// st_uid.
    pub uid: Both32,
    /// st_gid.
    pub gid: Both32,
}

/// PN body: device number high and low halves.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct PnBody {
    /// High half (Linux: the major).
    pub high: Both32,
    /// Low half (Linux: the minor).
    pub low: Both32,
}

/// CL / PL body: a directory's location.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct LinkBody {
    /// Block of the directory's extent.
    pub block: Both32,
}

/// NM flags (the byte after the SUSP header).
pub mod nm_flags {
    /// The name continues in the next NM entry.
    pub const CONTINUE: u8 = 1;
    /// The name is ".".
    pub const CURRENT: u8 = 2;
    /// The name is "..".
    pub const PARENT: u8 = 4;
}

/// SL component record flags.
pub mod sl_flags {
    /// The component continues in the next component record.
    pub const CONTINUE: u8 = 1;
    /// ".".
    pub const CURRENT: u8 = 2;
    /// "..".
    pub const PARENT: u8 = 4;
    /// "/" (the root).
    pub const ROOT: u8 = 8;
}

/// TF flags: which stamps follow, in this order.
pub mod tf_flags {
    /// Creation.
    pub const CREATION: u8 = 1;
    /// Modification.
    pub const MODIFY: u8 = 2;
    /// Access.
    pub const ACCESS: u8 = 4;
    /// Attribute change.
    pub const ATTRIBUTES: u8 = 8;
    /// Backup.
    pub const BACKUP: u8 = 16;
    /// Expiration.
    pub const EXPIRATION: u8 = 32;
    /// Effective.
    pub const EFFECTIVE: u8 = 64;
    /// Stamps are 17-byte long-form dates instead of 7-byte ones.
    pub const LONG_FORM: u8 = 128;
}

/// POSIX file type and permission bits (as Rock Ridge PX stores them and
/// as this system's `stat` reports them).
pub mod mode {
    /// Type mask.
    pub const S_IFMT: u32 = 0o170000;
    /// Socket.
    pub const S_IFSOCK: u32 = 0o140000;
    /// Symbolic link.
    pub const S_IFLNK: u32 = 0o120000;
    /// Regular file.
    pub const S_IFREG: u32 = 0o100000;
    /// Block device.
    pub const S_IFBLK: u32 = 0o060000;
    /// Directory.
    pub const S_IFDIR: u32 = 0o040000;
    /// Character device.
    pub const S_IFCHR: u32 = 0o020000;
    /// FIFO.
    pub const S_IFIFO: u32 = 0o010000;
}

/// Mode of files and directories without Rock Ridge: r-x for everyone
/// (Linux's default: the disc may carry executables of any system).
pub const DEFAULT_PERM: u32 = 0o555;

/// Converts a calendar date (UTC) to seconds since 1970 (0 for dates
/// before 1970, saturated at `u32::MAX`).
pub fn unix_time(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    gmt_off_15: i32,
) -> u32 {
    let month = month.clamp(1, 12) as i64;
    let day = day.clamp(1, 31) as i64;
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400
        + i64::from(hour.min(23)) * 3600
        + i64::from(min.min(59)) * 60
        + i64::from(sec.min(60))
        - i64::from(gmt_off_15) * 15 * 60;
    secs.clamp(0, i64::from(u32::MAX)) as u32
}

impl ShortDate {
    /// Seconds since 1970.
    pub fn unix(&self) -> u32 {
        if self.month == 0 {
            return 0;
        }
        unix_time(
            1900 + i64::from(self.year),
            u32::from(self.month),
            u32::from(self.day),
            u32::from(self.hour),
            u32::from(self.minute),
            u32::from(self.second),
            i32::from(self.gmt_off),
        )
    }
}

/// A long-form date ("YYYYMMDDHHMMSScc" digits + a GMT offset byte) as
/// seconds since 1970; 0 if the digits are not digits.
pub fn long_date_unix(b: &[u8; LONG_DATE_LEN]) -> u32 {
    let num = |r: core::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let f = || -> Option<u32> {
        let year = num(0..4)?;
        if year == 0 {
            return Some(0);
        }
        Some(unix_time(
            i64::from(year),
            num(4..6)?,
            num(6..8)?,
            num(8..10)?,
            num(10..12)?,
            num(12..14)?,
            i32::from(b[16] as i8),
        ))
    };
    f().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(unix_time(1970, 1, 1, 0, 0, 0, 0), 0);
        assert_eq!(unix_time(2000, 3, 1, 12, 30, 15, 0), 951_913_815);
        // GMT+1 (4 quarter hours): an hour earlier in UTC.
        assert_eq!(unix_time(2000, 3, 1, 12, 30, 15, 4), 951_910_215);
        assert_eq!(unix_time(1960, 1, 1, 0, 0, 0, 0), 0);
        let d = ShortDate {
            year: 100,
            month: 3,
            day: 1,
            hour: 12,
            minute: 30,
            second: 15,
            gmt_off: 0,
        };
        assert_eq!(d.unix(), 951_913_815);
        assert_eq!(long_date_unix(b"2000030112301500\0"), 951_913_815);
        assert_eq!(long_date_unix(b"0000000000000000\0"), 0);
        assert_eq!(long_date_unix(b"20x0030112301500\0"), 0);
    }

    #[test]
    fn system_use_follows_the_padded_name() {
        assert_eq!(system_use_offset(1), 34);
        assert_eq!(system_use_offset(2), 36);
        assert_eq!(system_use_offset(9), 42);
    }
}
