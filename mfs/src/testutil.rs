//! A minimal in-test formatter (independent of `mkfs`, so the core's tests
//! do not depend on the tool's code): superblock, bitmaps with bit 0 and the
//! tail bits set, and a root directory with "." and "..".

use alloc::vec;
use alloc::vec::Vec;

use crate::blockio::MemBlocks;
use crate::format::{self, DiskInode, ROOT_INO, SUPER_OFFSET, SuperBlock, Version, mode};

/// Formats an image of `blocks` blocks in memory.
pub fn format_image(
    version: Version,
    name_len: usize,
    bs: u32,
    ninodes: u32,
    blocks: u32,
) -> Vec<u8> {
    let sb = SuperBlock::layout(version, name_len, bs, ninodes, blocks).expect("valid test layout");
    let g = sb.geometry();
    let bsz = bs as usize;
    let mut img = vec![0u8; blocks as usize * bsz];
    sb.encode(&mut img[SUPER_OFFSET..])
        .expect("superblock fits");
    let set_bits = |img: &mut [u8], start: u32, nblocks: u32, used: u64| {
        let area = &mut img[start as usize * bsz..(start + nblocks) as usize * bsz];
        for bit in 0..(nblocks as usize * bsz * 8) {
            // Bit 0 reserved; bits past the map's end are set like util-linux.
            if bit == 0 || bit as u64 >= used {
                format::bit_set(area, bit, true);
            }
        }
    };
    set_bits(&mut img, g.imap_start, g.imap_blocks, g.imap_bits());
    set_bits(&mut img, g.zmap_start, g.zmap_blocks, g.zmap_bits());
    // Root: inode 1, first data zone.
    let zone = g.first_data_zone;
    let izone = g.imap_start as usize * bsz;
    format::bit_set(&mut img[izone..], ROOT_INO as usize, true);
    let zmap = g.zmap_start as usize * bsz;
    format::bit_set(&mut img[zmap..], 1, true);
    let es = g.dirent_size as usize;
    let zoff = zone as usize * bsz;
    format::dirent_write(&g, &mut img[zoff..zoff + es], ROOT_INO, b".");
    format::dirent_write(&g, &mut img[zoff + es..zoff + 2 * es], ROOT_INO, b"..");
    let mut root = DiskInode {
        mode: mode::S_IFDIR | 0o755,
        nlinks: 2,
        size: 2 * g.dirent_size,
        ..DiskInode::default()
    };
    root.zone[0] = zone;
    let (blk, off) = g.inode_location(ROOT_INO);
    let o = blk as usize * bsz + off;
    root.encode(version, &mut img[o..o + g.inode_size as usize])
        .expect("root inode");
    img
}

/// A formatted in-memory block store.
pub fn mem_fs(version: Version, name_len: usize, bs: u32, ninodes: u32, blocks: u32) -> MemBlocks {
    MemBlocks::new(format_image(version, name_len, bs, ninodes, blocks))
}
