//! The installed disk's layout, as MINIX's `setup` and GRUB's
//! `grub-install` make it on a BIOS disk:
//!
//! ```text
//! sector 0          MBR: GRUB's boot.img code (bytes 0..440), one
//!                   active MINIX partition (type 0x81), 0x55 0xaa
//! sectors 1..2048   GRUB's core.img (diskboot.img + the kernel and its
//!                   modules: biosdisk part_msdos minix3 multiboot ...)
//! sector 2048..end  the partition: MFS V3 with the system, /boot included
//! ```
//!
//! boot.img loads the sector its "kernel sector" field names (0x5c,
//! default 1) — diskboot.img, core.img's first sector — which loads the
//! rest from its block list (at the end of its sector: start default 2,
//! the length grub-mkimage fills in). So core.img works unchanged at
//! sector 1; [`check_boot`] and [`check_core`] verify exactly that.

use libbdev::mbr::{self, Partition};

/// Sector size.
pub const SECTOR: usize = 512;
/// First sector of the partition (1 MiB, as partitioning tools align).
pub const PART_START: u64 = 2048;
/// Sectors core.img may take: 1..PART_START.
pub const CORE_MAX_SECTORS: u64 = PART_START - 1;
/// The smallest disk the installer accepts: the gap plus 32 MiB.
pub const MIN_DISK_SECTORS: u64 = PART_START + (32 << 20) / SECTOR as u64;
/// boot.img's field with the LBA of core.img's first sector.
const BOOT_KERNEL_SECTOR: usize = 0x5c;
/// Bytes of boot.img copied into the MBR (the rest is the disk
/// signature, the partition table and the boot signature).
const BOOT_CODE: usize = 440;
/// diskboot.img's block list: the last 12 bytes of its sector (start
/// u64, length u16, segment u16).
const BLOCKLIST: usize = SECTOR - 12;

/// Why the GRUB images or the disk do not fit the layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// boot.img is not one sector with the boot signature.
    BadBootImg,
    /// boot.img does not load core.img from sector 1.
    BootSector(u64),
    /// core.img is empty or larger than the gap before the partition.
    CoreSize(usize),
    /// diskboot's block list does not continue at sector 2 with the rest
    /// of core.img.
    CoreBlocklist {
        /// Start sector in the block list.
        start: u64,
        /// Sectors in the block list.
        len: u16,
        /// Sectors core.img has after its first.
        want: u64,
    },
    /// The disk is smaller than [`MIN_DISK_SECTORS`].
    TooSmall(u64),
}

impl core::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadBootImg => write!(f, "boot.img is not a 512-byte boot sector"),
            Self::BootSector(s) => {
                write!(f, "boot.img loads core.img from sector {s}, not 1")
            }
            Self::CoreSize(n) => write!(
                f,
                "core.img is {n} bytes; it must fit in sectors 1..{PART_START}"
            ),
            Self::CoreBlocklist { start, len, want } => write!(
                f,
                "core.img's block list reads {len} sectors from sector {start}, want {want} from 2"
            ),
            Self::TooSmall(s) => write!(
                f,
                "the disk has {s} sectors ({} MiB); at least {MIN_DISK_SECTORS} ({} MiB) are needed",
                (s * SECTOR as u64) >> 20,
                (MIN_DISK_SECTORS * SECTOR as u64) >> 20
            ),
        }
    }
}

/// Checks that `boot` is GRUB's boot.img loading its next stage from
/// sector 1.
pub fn check_boot(boot: &[u8]) -> Result<(), LayoutError> {
    if boot.len() != SECTOR || boot[510..512] != mbr::SIGNATURE {
        return Err(LayoutError::BadBootImg);
    }
    let mut f = [0u8; 8];
    f.copy_from_slice(&boot[BOOT_KERNEL_SECTOR..BOOT_KERNEL_SECTOR + 8]);
    match u64::from_le_bytes(f) {
        1 => Ok(()),
        s => Err(LayoutError::BootSector(s)),
    }
}

/// Checks that `core` fits sectors 1..[`PART_START`] and that its block
/// list loads the rest of it from sector 2.
pub fn check_core(core: &[u8]) -> Result<(), LayoutError> {
    let sectors = core.len().div_ceil(SECTOR) as u64;
    if core.len() < SECTOR || sectors > CORE_MAX_SECTORS {
        return Err(LayoutError::CoreSize(core.len()));
    }
    let b = &core[BLOCKLIST..SECTOR];
    let mut s = [0u8; 8];
    s.copy_from_slice(&b[..8]);
    let start = u64::from_le_bytes(s);
    let len = u16::from_le_bytes([b[8], b[9]]);
    if start != 2 || u64::from(len) != sectors - 1 {
        return Err(LayoutError::CoreBlocklist {
            start,
            len,
            want: sectors - 1,
        });
    }
    Ok(())
}

/// The partition of a disk of `disk_sectors` sectors: MINIX, active,
/// from [`PART_START`] to the end.
pub fn partition(disk_sectors: u64) -> Result<Partition, LayoutError> {
    if disk_sectors < MIN_DISK_SECTORS {
        return Err(LayoutError::TooSmall(disk_sectors));
    }
    Ok(Partition {
        kind: mbr::TYPE_MINIX,
        active: true,
        start: PART_START,
        // 32-bit LBA: a larger disk gets a 2 TiB partition.
        sectors: (disk_sectors - PART_START).min(u64::from(u32::MAX)),
    })
}

/// The MBR for a disk of `disk_sectors` sectors: boot.img's code, the
/// table with [`partition`] as entry 0, the boot signature.
pub fn mbr_sector(boot: &[u8], disk_sectors: u64) -> Result<[u8; SECTOR], LayoutError> {
    check_boot(boot)?;
    let p = partition(disk_sectors)?;
    let mut s = [0u8; SECTOR];
    s[..BOOT_CODE].copy_from_slice(&boot[..BOOT_CODE]);
    mbr::set_entry(&mut s, 0, &p).ok_or(LayoutError::TooSmall(disk_sectors))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn boot_img() -> [u8; SECTOR] {
        let mut b = [0x90u8; SECTOR];
        b[BOOT_KERNEL_SECTOR..BOOT_KERNEL_SECTOR + 8].copy_from_slice(&1u64.to_le_bytes());
        b[510] = 0x55;
        b[511] = 0xaa;
        b
    }

    fn core_img(bytes: usize) -> alloc::vec::Vec<u8> {
        let mut c = vec![0xccu8; bytes];
        let sectors = bytes.div_ceil(SECTOR) as u16;
        c[BLOCKLIST..BLOCKLIST + 8].copy_from_slice(&2u64.to_le_bytes());
        c[BLOCKLIST + 8..BLOCKLIST + 10].copy_from_slice(&(sectors - 1).to_le_bytes());
        c
    }

    #[test]
    fn mbr_has_boot_code_one_minix_partition_and_signature() {
        let disk = 256 << 11; // 256 MiB
        let s = mbr_sector(&boot_img(), disk).unwrap();
        assert_eq!(s[..BOOT_CODE], boot_img()[..BOOT_CODE]);
        assert!(s[BOOT_CODE..446].iter().all(|&b| b == 0));
        let t = mbr::parse(&s, disk).unwrap();
        assert_eq!(
            t[0],
            Some(Partition {
                kind: 0x81,
                active: true,
                start: 2048,
                sectors: disk - 2048
            })
        );
        assert!(t[1..].iter().all(Option::is_none));
    }

    #[test]
    fn too_small_disks_and_wrong_images_are_refused() {
        assert_eq!(
            mbr_sector(&boot_img(), MIN_DISK_SECTORS - 1),
            Err(LayoutError::TooSmall(MIN_DISK_SECTORS - 1))
        );
        assert!(mbr_sector(&boot_img(), MIN_DISK_SECTORS).is_ok());
        let mut b = boot_img();
        b[BOOT_KERNEL_SECTOR] = 5;
        assert_eq!(check_boot(&b), Err(LayoutError::BootSector(5)));
        assert_eq!(check_boot(&b[..100]), Err(LayoutError::BadBootImg));
        assert!(check_core(&core_img(145_157)).is_ok());
        assert_eq!(
            check_core(&core_img(2048 * 512)),
            Err(LayoutError::CoreSize(2048 * 512))
        );
        let mut c = core_img(4096);
        c[BLOCKLIST + 8] = 3;
        assert_eq!(
            check_core(&c),
            Err(LayoutError::CoreBlocklist {
                start: 2,
                len: 3,
                want: 7
            })
        );
    }
}
