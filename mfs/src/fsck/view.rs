//! The checker's view of the on-disk format, all through [`crate::format`].

use alloc::format;
use alloc::string::{String, ToString};

use libbdev::BlockDevice;

use super::check::Disk;
use crate::format::{self, Geometry, SUPER_AREA, SUPER_OFFSET, SuperBlock, mode};

/// Read and validate the superblock; an `Err` means "cannot check" (exit 8).
///
/// Besides the field checks of [`SuperBlock::parse`], the bitmaps and the
/// inode table must lie inside the image: everything the checker allocates
/// is sized from them, so this bounds its memory by the image size.
pub(super) fn read_geometry<D: BlockDevice + ?Sized>(
    disk: &mut Disk<'_, D>,
) -> Result<(SuperBlock, Geometry), String> {
    let area = disk
        .read_at(SUPER_OFFSET as u64, SUPER_AREA)
        .map_err(|e| format!("cannot read the superblock: {e}"))?;
    let sb =
        SuperBlock::parse(&area).map_err(|e| format!("not a usable MINIX file system: {e}"))?;
    let g = sb.geometry();
    let meta_end = u64::from(g.inode_table_start) + u64::from(g.inode_table_blocks);
    let meta_bytes = meta_end * u64::from(g.block_size);
    if meta_bytes > disk.size {
        return Err(format!(
            "the bitmaps and inode table need {meta_bytes} bytes but the image holds only {}",
            disk.size
        ));
    }
    Ok((sb, g))
}

/// Mark the superblock clean (V3 `s_flags`, V1/V2 `s_state` valid and no
/// error bit). Returns whether anything had to change.
pub(super) fn mark_clean<D: BlockDevice + ?Sized>(disk: &mut Disk<'_, D>) -> Result<bool, String> {
    let mut area = disk.read_at(SUPER_OFFSET as u64, SUPER_AREA)?;
    let mut sb = SuperBlock::parse(&area).map_err(|e| e.to_string())?;
    if sb.is_clean() {
        return Ok(false);
    }
    sb.set_clean(true);
    if sb.version != format::Version::V3 {
        sb.flags &= !format::STATE_ERROR;
    }
    sb.encode(&mut area).map_err(|e| e.to_string())?;
    disk.write_at(SUPER_OFFSET as u64, &area)?;
    Ok(true)
}

/// Write `first` into the superblock's `s_firstdatazone` field.
pub(super) fn set_first_data_zone<D: BlockDevice + ?Sized>(
    disk: &mut Disk<'_, D>,
    first: u16,
) -> Result<(), String> {
    let mut area = disk.read_at(SUPER_OFFSET as u64, SUPER_AREA)?;
    let mut sb = SuperBlock::parse(&area).map_err(|e| e.to_string())?;
    sb.firstdatazone_field = first;
    sb.encode(&mut area).map_err(|e| e.to_string())?;
    disk.write_at(SUPER_OFFSET as u64, &area)
}

/// First block after the inode table: where the first data zone belongs.
pub(super) fn meta_end(g: &Geometry) -> u64 {
    u64::from(g.inode_table_start) + u64::from(g.inode_table_blocks)
}

/// A mode whose type bits name a known file type.
pub(super) fn known_type(m: u16) -> bool {
    matches!(
        m & mode::S_IFMT,
        mode::S_IFREG
            | mode::S_IFDIR
            | mode::S_IFLNK
            | mode::S_IFCHR
            | mode::S_IFBLK
            | mode::S_IFIFO
            | mode::S_IFSOCK
    )
}

/// Point an entry at `ino`, keeping its name; 0 frees the slot.
pub(super) fn set_dirent_ino(g: &Geometry, entry: &mut [u8], ino: u32) {
    if ino == 0 {
        format::dirent_clear(g, entry);
    } else {
        let name: alloc::vec::Vec<u8> = format::dirent_name(g, entry).to_vec();
        format::dirent_write(g, entry, ino, &name);
    }
}
