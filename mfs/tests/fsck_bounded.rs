//! fsck's memory is bounded by what the device holds, not by superblock
//! fields (issue 14, reproducer 6): a superblock claiming 2.1 billion
//! inodes on a huge sparse device must not make fsck allocate gigabytes
//! (a `u32` link count per claimed inode was 8.4 GB).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use libbdev::BlockDevice;
use mfs::format::{SUPER_AREA, SUPER_OFFSET, SuperBlock, Version};
use mfs::fsck::{Options, fsck};
use mfs::mkfs::{MkfsOptions, mkfs_to_vec};

struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed straight to the system allocator; only
// byte counters are kept on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let n = NOW.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(n, Ordering::Relaxed);
        // SAFETY: the caller's layout contract is forwarded unchanged.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let n = NOW.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(n, Ordering::Relaxed);
        // SAFETY: the caller's layout contract is forwarded unchanged.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        NOW.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` came from `System` with this layout (alloc above).
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// A device of `size` bytes that stores only the blocks written to it.
struct Sparse {
    size: u64,
    bs: u64,
    blocks: BTreeMap<u64, Vec<u8>>,
}

impl BlockDevice for Sparse {
    fn read_vectored(&mut self, pos: u64, bufs: &mut [&mut [u8]]) -> libbdev::Result<usize> {
        let mut p = pos;
        for b in bufs.iter_mut() {
            let mut done = 0;
            while done < b.len() && p < self.size {
                let off = (p % self.bs) as usize;
                let n = (b.len() - done)
                    .min(self.bs as usize - off)
                    .min((self.size - p) as usize);
                let dst = &mut b[done..done + n];
                match self.blocks.get(&(p / self.bs)) {
                    Some(blk) => dst.copy_from_slice(&blk[off..off + n]),
                    None => dst.fill(0),
                }
                done += n;
                p += n as u64;
            }
        }
        Ok((p - pos) as usize)
    }
    fn write_vectored(&mut self, pos: u64, bufs: &[&[u8]]) -> libbdev::Result<usize> {
        let mut p = pos;
        for b in bufs {
            for &byte in b.iter() {
                let bs = self.bs as usize;
                self.blocks
                    .entry(p / self.bs)
                    .or_insert_with(|| vec![0; bs])[(p % self.bs) as usize] = byte;
                p += 1;
            }
        }
        Ok((p - pos) as usize)
    }
    fn size(&mut self) -> libbdev::Result<u64> {
        Ok(self.size)
    }
    fn flush(&mut self) -> libbdev::Result<()> {
        Ok(())
    }
}

#[test]
fn two_billion_inodes_on_a_sparse_device_stay_small() {
    let bs: u64 = 4096;
    let mut o = MkfsOptions::for_version(Version::V3, 1024);
    o.block_size = bs as u32;
    let img = mkfs_to_vec(&o).unwrap();
    let mut sb = SuperBlock::parse(&img[SUPER_OFFSET..SUPER_OFFSET + SUPER_AREA]).unwrap();
    let old = sb.geometry();
    let n: u64 = 2_100_000_000;
    let imap = (n + 1).div_ceil(bs * 8);
    let itab = n.div_ceil(bs / 64);
    let mut zmap = 1;
    let zones = loop {
        let meta = 2 + imap + zmap + itab;
        let zones = meta + 1000;
        let need = (zones - meta + 1).div_ceil(bs * 8);
        if need <= zmap {
            break zones;
        }
        zmap = need;
    };
    sb.ninodes = n as u32;
    sb.imap_blocks = imap as u32;
    sb.zmap_blocks = zmap as u32;
    sb.zones = zones as u32;
    sb.firstdatazone_field = 0;
    let mut dev = Sparse {
        size: zones * bs,
        bs,
        blocks: BTreeMap::new(),
    };
    // The old bitmaps and the inode table's first block, moved to where the
    // new layout puts them (the root's zones now fall inside metadata).
    let block = |b: u64| img[(b * bs) as usize..((b + 1) * bs) as usize].to_vec();
    let g = sb.geometry();
    dev.blocks.insert(0, block(0));
    dev.blocks
        .insert(u64::from(g.imap_start), block(u64::from(old.imap_start)));
    dev.blocks
        .insert(u64::from(g.zmap_start), block(u64::from(old.zmap_start)));
    dev.blocks.insert(
        u64::from(g.inode_table_start),
        block(u64::from(old.inode_table_start)),
    );
    let mut area = block(0)[SUPER_OFFSET..SUPER_OFFSET + SUPER_AREA].to_vec();
    sb.encode(&mut area).unwrap();
    dev.blocks.get_mut(&0).unwrap()[SUPER_OFFSET..SUPER_OFFSET + SUPER_AREA].copy_from_slice(&area);

    let before = NOW.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let r = fsck(&mut dev, Options { repair: false });
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert_ne!(r.exit_code(), 0, "{r:?}");
    // The on-disk inode bitmap alone is imap * bs = 262 MB; one link count
    // per claimed inode would add 8.4 GB.
    let bound = 2 * imap * bs + (64 << 20);
    assert!(
        (peak as u64) < bound,
        "fsck allocated {peak} bytes at peak (bound {bound})"
    );
}
