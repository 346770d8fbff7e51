//! MBR partition tables (the PC's sector 0), for the block drivers'
//! partition minors and the installer.
//!
//! Minors: `0..128` are whole disks (the driver's drive number); minor
//! [`PARTITION_BASE`] `+ drive * 4 + p` is partition `p` (0..4) of drive
//! `drive` (MINIX's `/dev/c0dNpM`). [`parse`] reads the four primary
//! entries of a sector 0 through zerocopy and checks each against the
//! disk's size; a driver maps a partition minor's transfers with
//! [`Partition::map`], which enforces the bounds.

use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Bytes per sector of an MBR disk.
pub const SECTOR: u64 = 512;
/// Offset of the partition table in sector 0.
pub const TABLE_OFFSET: usize = 446;
/// Primary partitions per table.
pub const ENTRIES: usize = 4;
/// The boot signature at bytes 510..512.
pub const SIGNATURE: [u8; 2] = [0x55, 0xaa];
/// The MINIX partition type.
pub const TYPE_MINIX: u8 = 0x81;
/// First minor of the partitions.
pub const PARTITION_BASE: u32 = 128;
/// Drives whose partitions have minors.
pub const MAX_DRIVES: u32 = (256 - PARTITION_BASE) / ENTRIES as u32;

/// One 16-byte partition table entry, as on disk.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct RawEntry {
    /// 0x80: active (bootable).
    pub status: u8,
    /// CHS of the first sector (unused here: LBA only).
    pub chs_first: [u8; 3],
    /// Partition type; 0 = unused.
    pub kind: u8,
    /// CHS of the last sector.
    pub chs_last: [u8; 3],
    /// First sector (LBA).
    pub lba_first: U32,
    /// Number of sectors.
    pub sectors: U32,
}

const _: () = assert!(core::mem::size_of::<RawEntry>() == 16);

/// A partition: its type and where it lies, in sectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Partition type byte.
    pub kind: u8,
    /// Marked active.
    pub active: bool,
    /// First sector.
    pub start: u64,
    /// Length in sectors (never past the end of the disk).
    pub sectors: u64,
}

impl Partition {
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.sectors * SECTOR
    }

    /// A transfer of `len` bytes at byte `pos` inside the partition as a
    /// position on the disk and the bytes of it inside the partition (cut
    /// at its end, 0 at or past it); `None` if the position overflows.
    pub fn map(&self, pos: u64, len: u64) -> Option<(u64, u64)> {
        let disk_pos = self.start.checked_mul(SECTOR)?.checked_add(pos)?;
        Some((disk_pos, len.min(self.size().saturating_sub(pos))))
    }
}

/// Why a sector 0 holds no usable table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MbrError {
    /// Shorter than a sector.
    Short,
    /// No 0x55 0xaa signature.
    NoSignature,
}

/// The partitions of a sector 0 on a disk of `disk_sectors` sectors:
/// unused entries (type 0 or no sectors) and entries starting at or past
/// the end of the disk are `None`; an entry running past the end is cut
/// there; a start at sector 0 (it would cover the table) is refused.
pub fn parse(sector0: &[u8], disk_sectors: u64) -> Result<[Option<Partition>; ENTRIES], MbrError> {
    let s = sector0.get(..SECTOR as usize).ok_or(MbrError::Short)?;
    if s[510..512] != SIGNATURE {
        return Err(MbrError::NoSignature);
    }
    let mut out = [None; ENTRIES];
    let table = &s[TABLE_OFFSET..TABLE_OFFSET + ENTRIES * 16];
    for (slot, raw) in out.iter_mut().zip(table.chunks_exact(16)) {
        let Ok(e) = RawEntry::read_from_bytes(raw) else {
            continue;
        };
        let start = u64::from(e.lba_first.get());
        let sectors = u64::from(e.sectors.get());
        if e.kind == 0 || sectors == 0 || start == 0 || start >= disk_sectors {
            continue;
        }
        *slot = Some(Partition {
            kind: e.kind,
            active: e.status & 0x80 != 0,
            start,
            sectors: sectors.min(disk_sectors - start),
        });
    }
    Ok(out)
}

/// Writes entry `index` of the table in `sector0` (LBA only: the CHS
/// fields say "beyond CHS", as large disks' do) and the signature.
pub fn set_entry(sector0: &mut [u8], index: usize, p: &Partition) -> Option<()> {
    if index >= ENTRIES || sector0.len() < SECTOR as usize {
        return None;
    }
    let e = RawEntry {
        status: if p.active { 0x80 } else { 0 },
        chs_first: [0xfe, 0xff, 0xff],
        kind: p.kind,
        chs_last: [0xfe, 0xff, 0xff],
        lba_first: U32::new(u32::try_from(p.start).ok()?),
        sectors: U32::new(u32::try_from(p.sectors).ok()?),
    };
    let at = TABLE_OFFSET + index * 16;
    sector0[at..at + 16].copy_from_slice(e.as_bytes());
    sector0[510..512].copy_from_slice(&SIGNATURE);
    Some(())
}

/// What a minor names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MinorKind {
    /// The whole of drive N.
    Whole(u32),
    /// Partition `part` of drive `drive`.
    Partition {
        /// The drive.
        drive: u32,
        /// 0..4.
        part: usize,
    },
}

/// What `minor` names.
pub fn split_minor(minor: u32) -> MinorKind {
    if minor < PARTITION_BASE {
        MinorKind::Whole(minor)
    } else {
        let n = minor - PARTITION_BASE;
        MinorKind::Partition {
            drive: n / ENTRIES as u32,
            part: (n % ENTRIES as u32) as usize,
        }
    }
}

/// The drive index and partition (`None`: the whole drive) that `minor`
/// names for a driver with `drives` drives; `None` when it names no drive
/// of it (drivers answer `ENXIO`).
pub fn locate(minor: u32, drives: usize) -> Option<(usize, Option<usize>)> {
    let (drive, part) = match split_minor(minor) {
        MinorKind::Whole(d) => (d, None),
        MinorKind::Partition { drive, part } => (drive, Some(part)),
    };
    let drive = usize::try_from(drive).ok()?;
    (drive < drives).then_some((drive, part))
}

/// The minor of partition `part` of `drive`.
pub fn partition_minor(drive: u32, part: usize) -> Option<u32> {
    (drive < MAX_DRIVES && part < ENTRIES)
        .then(|| PARTITION_BASE + drive * ENTRIES as u32 + part as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mbr(entries: &[(usize, u8, u32, u32)]) -> [u8; 512] {
        let mut s = [0u8; 512];
        for &(i, kind, start, n) in entries {
            set_entry(
                &mut s,
                i,
                &Partition {
                    kind,
                    active: i == 0,
                    start: u64::from(start),
                    sectors: u64::from(n),
                },
            )
            .unwrap();
        }
        s
    }

    #[test]
    fn reads_what_set_entry_wrote() {
        let s = mbr(&[(0, TYPE_MINIX, 2048, 10_000), (2, 0x83, 20_000, 100)]);
        assert_eq!(&s[510..], &SIGNATURE);
        assert_eq!(s[446], 0x80);
        assert_eq!(s[446 + 4], TYPE_MINIX);
        assert_eq!(&s[446 + 8..446 + 12], &2048u32.to_le_bytes());
        assert_eq!(&s[446 + 12..446 + 16], &10_000u32.to_le_bytes());
        let t = parse(&s, 1 << 20).unwrap();
        assert_eq!(
            t[0],
            Some(Partition {
                kind: TYPE_MINIX,
                active: true,
                start: 2048,
                sectors: 10_000
            })
        );
        assert_eq!(t[1], None);
        assert_eq!(t[2].unwrap().start, 20_000);
        assert_eq!(t[3], None);
    }

    #[test]
    fn a_disk_made_by_sfdisk_layout_parses() {
        // An entry as util-linux writes it (CHS filled in), type 0x81.
        let mut s = [0u8; 512];
        s[446..462].copy_from_slice(&[
            0x80, 0x20, 0x21, 0x00, 0x81, 0x3f, 0x20, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x38,
            0x00, 0x00,
        ]);
        s[510] = 0x55;
        s[511] = 0xaa;
        let t = parse(&s, 16384).unwrap();
        assert_eq!(t[0].unwrap().start, 2048);
        assert_eq!(t[0].unwrap().sectors, 14336);
        assert!(t[0].unwrap().active);
    }

    #[test]
    fn bounds_are_enforced() {
        // Past the end: cut; starting past it, or at sector 0: ignored.
        let s = mbr(&[
            (0, TYPE_MINIX, 2048, 100_000),
            (1, TYPE_MINIX, 50_000, 10),
            (2, TYPE_MINIX, 0, 10),
        ]);
        let t = parse(&s, 10_000).unwrap();
        assert_eq!(t[0].unwrap().sectors, 10_000 - 2048);
        assert_eq!(t[1], None);
        assert_eq!(t[2], None);
        let p = t[0].unwrap();
        assert_eq!(p.map(0, 4096), Some((2048 * 512, 4096)));
        // The last sector, and nothing after it.
        let end = p.size();
        assert_eq!(p.map(end - 512, 4096), Some((2048 * 512 + end - 512, 512)));
        assert_eq!(p.map(end, 512).unwrap().1, 0);
        assert_eq!(p.map(u64::MAX, 512), None);
    }

    #[test]
    fn no_signature_or_short_is_no_table() {
        assert_eq!(parse(&[0u8; 512], 100), Err(MbrError::NoSignature));
        assert_eq!(parse(&[0u8; 100], 100), Err(MbrError::Short));
        assert!(
            set_entry(
                &mut [0u8; 512],
                4,
                &Partition {
                    kind: 1,
                    active: false,
                    start: 1,
                    sectors: 1
                }
            )
            .is_none()
        );
        // Beyond what 32-bit LBA can say.
        assert!(
            set_entry(
                &mut [0u8; 512],
                0,
                &Partition {
                    kind: 1,
                    active: false,
                    start: 1 << 33,
                    sectors: 1
                }
            )
            .is_none()
        );
    }

    #[test]
    fn minors_name_drives_and_partitions() {
        assert_eq!(split_minor(0), MinorKind::Whole(0));
        assert_eq!(split_minor(3), MinorKind::Whole(3));
        assert_eq!(split_minor(128), MinorKind::Partition { drive: 0, part: 0 });
        assert_eq!(
            split_minor(128 + 4 + 3),
            MinorKind::Partition { drive: 1, part: 3 }
        );
        assert_eq!(partition_minor(1, 3), Some(135));
        assert_eq!(partition_minor(0, 4), None);
        assert_eq!(partition_minor(MAX_DRIVES, 0), None);
        for m in 128..256 {
            let MinorKind::Partition { drive, part } = split_minor(m) else {
                panic!()
            };
            assert_eq!(partition_minor(drive, part), Some(m));
        }
    }

    #[test]
    fn locate_bounds_the_drive() {
        assert_eq!(locate(0, 1), Some((0, None)));
        assert_eq!(locate(1, 1), None);
        assert_eq!(locate(3, 4), Some((3, None)));
        assert_eq!(locate(4, 4), None);
        assert_eq!(locate(128 + 4 + 2, 2), Some((1, Some(2))));
        assert_eq!(locate(128 + 8, 2), None);
        assert_eq!(locate(0, 0), None);
    }
}
