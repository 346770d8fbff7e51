//! Unit tests: the MINIX test vectors (reference §1.13) and every edge of
//! the cache API.

use alloc::vec;
use alloc::vec::Vec;

use crate::testdev::{Req, TestDev};
use crate::*;

const BS: usize = 1024;
const D: Dev = 3;

fn setup(nr_bufs: usize, blocks: usize) -> (Cache, TestDev) {
    setup_with(nr_bufs, blocks)
}

fn setup_with<I: BlockIndex>(nr_bufs: usize, blocks: usize) -> (Cache<I>, TestDev) {
    let dev = TestDev::new(blocks * BS);
    let c = Cache::with_index(nr_bufs);
    c.attach(D, dev.boxed(), BS).unwrap();
    c.set_readahead(false);
    (c, dev)
}

fn fill<I: BlockIndex>(c: &Cache<I>, block: BlockNo, v: u8) {
    let mut b = c.get_block(D, block, How::NoRead).unwrap();
    b.data_mut().fill(v);
}

#[test]
fn vector_get_twice_put_twice_one_read_lru_rear() {
    get_twice_put_twice_one_read_lru_rear::<Intrusive>();
    get_twice_put_twice_one_read_lru_rear::<LruCrate>();
}

fn get_twice_put_twice_one_read_lru_rear<I: BlockIndex>() {
    let (c, dev) = setup_with::<I>(16, 64);
    fill(&c, 1, 1);
    let a = c.get_block(D, 5, How::Normal).unwrap();
    let b = c.get_block(D, 5, How::Normal).unwrap();
    assert_eq!(dev.reads(), 1);
    assert_eq!(c.refcount(D, 5), Some(2));
    assert_eq!(c.in_use(), 2 - 1);
    drop(a);
    assert_eq!(c.refcount(D, 5), Some(1));
    c.put_block(b);
    assert_eq!(c.refcount(D, 5), Some(0));
    assert_eq!(c.in_use(), 0);
    assert_eq!(c.lru_order(), vec![(D, 1), (D, 5)]);
    assert_eq!(
        &c.get_block(D, 5, How::Normal).unwrap().data()[..],
        &dev.bytes(5 * BS, BS)[..]
    );
    c.check_invariants().unwrap();
}

#[test]
fn vector_partial_then_full_is_size_mismatch() {
    let (c, _dev) = setup(16, 64);
    let p = c.get_block_sized(D, 9, How::Normal, 512).unwrap();
    assert_eq!(p.len(), 512);
    assert_eq!(
        c.get_block(D, 9, How::Normal).unwrap_err(),
        CacheError::SizeMismatch
    );
    assert_eq!(
        c.get_block(D, 9, How::Peek).unwrap_err(),
        CacheError::SizeMismatch
    );
    drop(p);
    assert_eq!(
        c.get_block(D, 9, How::NoRead).unwrap_err(),
        CacheError::SizeMismatch
    );
    assert_eq!(CacheError::SizeMismatch.errno(), 5);
}

#[test]
fn vector_peek_miss_no_io_no_memory() {
    let (c, dev) = setup(16, 64);
    let e = c.get_block(D, 7, How::Peek).unwrap_err();
    assert_eq!(e, CacheError::NotCached);
    assert_eq!(e.errno(), 2);
    assert_eq!(dev.reads(), 0);
    assert_eq!(c.live_buffers(), 0);
    assert!(!c.is_cached(D, 7));
}

#[test]
fn vector_held_dirty_block_not_flushed_until_released() {
    let (c, dev) = setup(16, 64);
    let mut b = c.get_block(D, 4, How::Normal).unwrap();
    b.data_mut()[0] = 0xee;
    assert!(b.is_dirty());
    assert_eq!(c.flush_dev(D).unwrap(), 0);
    assert!(dev.writes().is_empty());
    drop(b);
    assert_eq!(c.flush_dev(D).unwrap(), 1);
    assert_eq!(dev.writes(), vec![(4 * BS as u64, 1)]);
    assert_eq!(dev.bytes(4 * BS, 1), vec![0xee]);
}

#[test]
fn vector_flush_sorted_and_coalesced() {
    let (c, dev) = setup(16, 64);
    for b in [7, 3, 4, 5, 9] {
        fill(&c, b, b as u8);
    }
    assert_eq!(c.flush_dev(D).unwrap(), 5);
    assert_eq!(
        dev.writes(),
        vec![(3 * BS as u64, 3), (7 * BS as u64, 1), (9 * BS as u64, 1)]
    );
    assert_eq!(c.counters().flush_requests, 3);
    assert_eq!(c.counters().blocks_written, 5);
    assert_eq!(dev.bytes(4 * BS, BS), vec![4; BS]);
    assert_eq!(c.dirty_count(D), 0);
}

#[test]
fn vector_short_write_retries_then_keeps_dirty() {
    let (c, dev) = setup(16, 64);
    for b in [3, 4, 5] {
        fill(&c, b, 0x40 + b as u8);
    }
    // 1.5 blocks, then no progress.
    dev.0.borrow_mut().write_script = vec![Ok(BS + BS / 2), Ok(0)];
    assert_eq!(c.flush_dev(D).unwrap_err(), CacheError::Short);
    assert_eq!(dev.writes(), vec![(3 * BS as u64, 3), (4 * BS as u64, 2)]);
    assert!(!c.get_block(D, 3, How::Peek).unwrap().is_dirty());
    // MINIX drops block 4 here; we keep it dirty so nothing is lost.
    assert!(c.get_block(D, 4, How::Peek).unwrap().is_dirty());
    assert!(c.get_block(D, 5, How::Peek).unwrap().is_dirty());
    assert_eq!(c.flush_dev(D).unwrap(), 2);
    assert_eq!(dev.bytes(4 * BS, BS), vec![0x44; BS]);
    assert_eq!(dev.bytes(5 * BS, BS), vec![0x45; BS]);
}

#[test]
fn write_error_returned_block_stays_dirty() {
    let (c, dev) = setup(16, 64);
    fill(&c, 8, 8);
    dev.0.borrow_mut().write_script = vec![Err(BdevError::Io)];
    assert_eq!(
        c.flush_all().unwrap_err(),
        CacheError::Device(BdevError::Io)
    );
    assert_eq!(c.dirty_count(D), 1);
    assert_eq!(c.flush_all().unwrap(), 1);
    assert_eq!(dev.bytes(8 * BS, BS), vec![8; BS]);
}

#[test]
fn flush_splits_runs_at_64_segments() {
    let (c, dev) = setup(200, 200);
    for b in 0..130 {
        fill(&c, b, 1);
    }
    assert_eq!(c.flush_dev(D).unwrap(), 130);
    assert_eq!(
        dev.writes(),
        vec![(0, 64), (64 * BS as u64, 64), (128 * BS as u64, 2)]
    );
}

#[test]
fn hit_never_does_io_for_any_how() {
    let (c, dev) = setup(16, 64);
    drop(c.get_block(D, 2, How::Normal).unwrap());
    for how in [How::Normal, How::NoRead, How::Peek] {
        let b = c.get_block(D, 2, how).unwrap();
        assert_eq!(&b.data()[..], &dev.bytes(2 * BS, BS)[..]);
    }
    assert_eq!(dev.reads(), 1);
    assert_eq!(c.counters().hits, 3);
    assert_eq!(c.counters().misses, 1);
}

#[test]
fn noread_gives_zeroed_buffer_without_io() {
    let (c, dev) = setup(6, 64);
    for b in 0..6 {
        drop(c.get_block(D, b, How::Normal).unwrap());
    }
    let b = c.get_block(D, 40, How::NoRead).unwrap();
    assert!(b.data().iter().all(|&x| x == 0));
    assert_eq!(dev.reads(), 6);
    assert!(!b.is_dirty());
}

#[test]
fn read_error_returned_nothing_cached() {
    let (c, dev) = setup(16, 64);
    dev.0.borrow_mut().bad_read = Some((10 * BS as u64, 11 * BS as u64));
    assert_eq!(
        c.get_block(D, 10, How::Normal).unwrap_err(),
        CacheError::Device(BdevError::Io)
    );
    assert!(!c.is_cached(D, 10));
    assert_eq!(c.in_use(), 0);
    c.check_invariants().unwrap();
    // Beyond the end: short read is EIO.
    assert_eq!(
        c.get_block(D, 64, How::Normal).unwrap_err(),
        CacheError::Short
    );
    assert_eq!(CacheError::Short.errno(), 5);
    assert!(!c.is_cached(D, 64));
}

#[test]
fn bad_arguments_are_errors() {
    let (c, _dev) = setup(16, 64);
    assert_eq!(
        c.get_block(NO_DEV, 1, How::Normal).unwrap_err(),
        CacheError::Invalid
    );
    assert_eq!(
        c.get_block(99, 1, How::Normal).unwrap_err(),
        CacheError::NoDevice
    );
    assert_eq!(
        c.get_block(D, u64::MAX, How::NoRead).unwrap_err(),
        CacheError::Invalid
    );
    assert_eq!(
        c.get_block_sized(D, 1, How::Normal, 0).unwrap_err(),
        CacheError::Invalid
    );
    assert_eq!(
        c.get_block_sized(D, 1, How::Normal, BS + 1).unwrap_err(),
        CacheError::Invalid
    );
    let other = TestDev::new(BS);
    assert_eq!(
        c.attach(D, other.boxed(), BS).unwrap_err(),
        CacheError::Busy
    );
    assert_eq!(
        c.attach(NO_DEV, other.boxed(), BS).unwrap_err(),
        CacheError::Invalid
    );
    assert_eq!(
        c.attach(5, other.boxed(), 1000).unwrap_err(),
        CacheError::Invalid
    );
    assert_eq!(c.resize(MIN_BUFS - 1).unwrap_err(), CacheError::Invalid);
    assert_eq!(c.set_blockusage(1, 2).unwrap_err(), CacheError::Invalid);
}

#[test]
fn referenced_blocks_never_evicted_no_buffers_error() {
    referenced_blocks_never_evicted::<Intrusive>();
    referenced_blocks_never_evicted::<LruCrate>();
}

fn referenced_blocks_never_evicted<I: BlockIndex>() {
    let (c, _dev) = setup_with::<I>(6, 64);
    let held: Vec<_> = (0..6)
        .map(|b| c.get_block(D, b, How::Normal).unwrap())
        .collect();
    assert_eq!(
        c.get_block(D, 20, How::Normal).unwrap_err(),
        CacheError::NoBuffers
    );
    assert_eq!(
        c.get_block(D, 20, How::NoRead).unwrap_err(),
        CacheError::NoBuffers
    );
    for b in 0..6 {
        assert!(c.is_cached(D, b));
    }
    drop(held);
    assert!(c.get_block(D, 20, How::Normal).is_ok());
    assert_eq!(c.counters().evictions, 1);
    assert!(
        !c.is_cached(D, 0),
        "LRU victim is the least recently released"
    );
}

#[test]
fn dirty_victim_flushes_its_device() {
    let (c, dev) = setup(6, 64);
    for b in 0..6 {
        fill(&c, b, 9);
    }
    drop(c.get_block(D, 30, How::Normal).unwrap());
    // Evicting block 0 wrote every unreferenced dirty block in one request.
    assert_eq!(dev.writes(), vec![(0, 6)]);
    assert_eq!(c.dirty_count(D), 0);
    assert_eq!(dev.bytes(5 * BS, BS), vec![9; BS]);
}

#[test]
fn unwritable_dirty_victim_is_skipped_for_a_clean_one() {
    let (c, dev) = setup(6, 64);
    fill(&c, 0, 1);
    for b in 1..6 {
        drop(c.get_block(D, b, How::Normal).unwrap());
    }
    dev.0.borrow_mut().write_script = vec![Err(BdevError::Io); 8];
    drop(c.get_block(D, 30, How::Normal).unwrap());
    assert!(c.is_cached(D, 0));
    assert!(!c.is_cached(D, 1));
    assert_eq!(c.dirty_count(D), 1);
    // All dirty and unwritable: the write error comes back.
    let (c, dev) = setup(6, 64);
    for b in 0..6 {
        fill(&c, b, 1);
    }
    dev.0.borrow_mut().write_script = vec![Err(BdevError::Io); 8];
    assert_eq!(
        c.get_block(D, 30, How::Normal).unwrap_err(),
        CacheError::Device(BdevError::Io)
    );
    assert_eq!(c.dirty_count(D), 6);
}

#[test]
fn invalidate_drops_everything_even_held() {
    let (c, dev) = setup(16, 64);
    fill(&c, 1, 1);
    let mut held = c.get_block(D, 2, How::Normal).unwrap();
    held.data_mut()[0] = 0x77;
    c.invalidate(D);
    assert!(!c.is_cached(D, 1) && !c.is_cached(D, 2));
    assert!(!held.is_dirty());
    held.data_mut()[1] = 1; // the detached buffer is still usable
    drop(held);
    assert_eq!(c.flush_all().unwrap(), 0);
    assert!(dev.writes().is_empty());
    c.check_invariants().unwrap();
    // A new get reads the device again.
    let b = c.get_block(D, 2, How::Normal).unwrap();
    assert_eq!(&b.data()[..], &dev.bytes(2 * BS, BS)[..]);
}

#[test]
fn free_block_forgets_dirty_block() {
    let (c, dev) = setup(16, 64);
    fill(&c, 6, 6);
    c.free_block(D, 6);
    c.free_block(D, 7); // not cached: no-op
    assert!(!c.is_cached(D, 6));
    assert_eq!(c.flush_all().unwrap(), 0);
    assert!(dev.writes().is_empty());
    c.check_invariants().unwrap();
}

#[test]
fn zero_block_is_zero_and_dirty() {
    let (c, dev) = setup(16, 64);
    drop(c.get_block(D, 3, How::Normal).unwrap());
    let b = c.zero_block(D, 3).unwrap();
    assert!(b.data().iter().all(|&x| x == 0));
    assert!(b.is_dirty());
    drop(b);
    c.flush_all().unwrap();
    assert_eq!(dev.bytes(3 * BS, BS), vec![0; BS]);
    let mut b = c.get_block(D, 4, How::Normal).unwrap();
    b.zero();
    assert!(b.is_dirty());
    b.mark_clean();
    assert!(!b.is_dirty());
}

/// Fills a 2-buffer cache with written-back blocks of 0xAA, so the next
/// allocations reuse buffers that still hold those bytes.
fn stale_buffers() -> (Cache, TestDev) {
    let (c, dev) = setup(2, 64);
    fill(&c, 1, 0xAA);
    fill(&c, 2, 0xAA);
    c.flush_all().unwrap();
    (c, dev)
}

#[test]
fn replace_block_takes_src_whole_without_a_read() {
    let (c, dev) = stale_buffers();
    let reads = dev.reads();
    let src: Vec<u8> = (0..BS).map(|i| i as u8).collect();
    let b = c.replace_block(D, 9, &src).unwrap();
    assert_eq!(&b.data()[..], &src[..]);
    assert!(b.is_dirty());
    drop(b);
    assert_eq!(dev.reads(), reads, "no device read");
    // A hit is replaced too.
    let b = c.replace_block(D, 9, &[7; BS]).unwrap();
    assert!(b.data().iter().all(|&x| x == 7));
    drop(b);
    c.flush_all().unwrap();
    assert_eq!(dev.bytes(9 * BS, BS), vec![7; BS]);
    assert_eq!(
        c.replace_block(D, 9, &[0; BS - 1]).unwrap_err(),
        CacheError::Invalid
    );
    c.check_invariants().unwrap();
}

#[test]
fn zero_block_on_a_reused_buffer_is_zero() {
    let (c, _dev) = stale_buffers();
    let b = c.zero_block(D, 5).unwrap();
    assert!(b.data().iter().all(|&x| x == 0), "stale bytes showed");
    drop(b);
    let b = c.get_block(D, 6, How::NoRead).unwrap();
    assert!(b.data().iter().all(|&x| x == 0), "NoRead gives zeros");
}

#[test]
fn a_failed_read_into_a_reused_buffer_caches_nothing() {
    let (c, dev) = stale_buffers();
    // Past the end: the read into a reused (not zeroed) buffer is short.
    assert_eq!(
        c.get_block(D, 64, How::Normal).unwrap_err(),
        CacheError::Short
    );
    assert!(!c.is_cached(D, 64));
    // A good read overwrites every stale byte.
    let b = c.get_block(D, 7, How::Normal).unwrap();
    assert_eq!(&b.data()[..], &dev.bytes(7 * BS, BS)[..]);
    c.check_invariants().unwrap();
}

#[test]
fn resize_shrinks_lazily_around_held_blocks_and_grows() {
    let (c, dev) = setup(32, 64);
    for b in 0..32 {
        fill(&c, b, b as u8);
    }
    let held: Vec<_> = (0..8)
        .map(|b| c.get_block(D, b, How::Normal).unwrap())
        .collect();
    c.resize(6).unwrap();
    assert_eq!(c.capacity(), 6);
    // Dirty blocks were written, the unreferenced ones freed; 8 held stay.
    assert_eq!(c.live_buffers(), 8);
    assert_eq!(dev.bytes(31 * BS, BS), vec![31; BS]);
    for b in 0..8 {
        assert!(c.is_cached(D, b));
    }
    c.check_invariants().unwrap();
    drop(held);
    // The held blocks are dirty: they go once written.
    assert_eq!(c.live_buffers(), 8);
    assert_eq!(c.flush_all().unwrap(), 8);
    assert_eq!(c.live_buffers(), 6);
    c.check_invariants().unwrap();
    c.resize(100).unwrap();
    for b in 0..100 {
        drop(c.get_block(D, b % 64, How::Normal).unwrap());
    }
    assert_eq!(c.live_buffers(), 64);
    c.check_invariants().unwrap();
}

#[test]
fn block_usage_stats_and_clamping() {
    let (c, _dev) = setup(16, 64);
    c.set_blockusage(1000, 100).unwrap();
    assert_eq!(
        c.stats(),
        BlockUsage {
            total: 1000,
            used: 100,
            free: 900
        }
    );
    assert_eq!(c.change_blockusage(50).used, 150);
    assert_eq!(c.change_blockusage(-20).free, 870);
    assert_eq!(c.change_blockusage(10_000).used, 1000);
    assert_eq!(c.change_blockusage(-5000).used, 0);
    assert_eq!(c.counters().usage_clamps, 2);
    assert_eq!(
        c.change_blockusage(0),
        BlockUsage {
            total: 1000,
            used: 0,
            free: 1000
        }
    );
}

#[test]
fn prefetch_minix_example_range() {
    let (c, dev) = setup(256, 256);
    let n = c.prefetch(D, &[100, 101, 102, 99, 98, 150, 101]).unwrap();
    assert_eq!(n, 5);
    let log = dev.0.borrow().log.clone();
    assert_eq!(
        log,
        vec![Req::Read {
            pos: 98 * BS as u64,
            segs: vec![BS; 5]
        }]
    );
    for b in 98..=102 {
        assert!(c.is_cached(D, b));
    }
    assert!(!c.is_cached(D, 150));
    assert_eq!(c.counters().prefetched, 5);
    drop(c.get_block(D, 100, How::Normal).unwrap());
    assert_eq!(c.counters().prefetch_used, 1);
    assert_eq!(dev.reads(), 1);
}

#[test]
fn prefetch_limited_starts_low_but_includes_base() {
    let (c, dev) = setup(6, 256);
    // Hold 2 of 6 buffers: limit = 4 / 2 = 2.
    let _h: Vec<_> = (0..2)
        .map(|b| c.get_block(D, 200 + b, How::Normal).unwrap())
        .collect();
    assert_eq!(c.readahead_limit(), 2);
    assert_eq!(c.prefetch(D, &[100, 99, 98, 97]).unwrap(), 2);
    assert!(c.is_cached(D, 99) && c.is_cached(D, 100));
    assert!(!c.is_cached(D, 98));
    assert_eq!(
        dev.0.borrow().log.last().cloned(),
        Some(Req::Read {
            pos: 99 * BS as u64,
            segs: vec![BS; 2]
        })
    );
}

#[test]
fn prefetch_unordered_duplicates_skips_cached_one_request() {
    let (c, dev) = setup(256, 256);
    fill(&c, 12, 0xd1); // dirty and cached: must not be overwritten
    drop(c.get_block(D, 14, How::Normal).unwrap());
    let before = dev.reads();
    let n = c
        .prefetch(D, &[10, 15, 13, 13, 11, 12, 14, 11, 90])
        .unwrap();
    assert_eq!(n, 4); // 10, 11, 13, 15
    assert_eq!(dev.reads(), before + 1);
    assert_eq!(c.get_block(D, 12, How::Peek).unwrap().data()[0], 0xd1);
    for b in 10..=15 {
        let blk = c.get_block(D, b, How::Peek).unwrap();
        if b != 12 {
            assert_eq!(&blk.data()[..], &dev.bytes(b as usize * BS, BS)[..]);
        }
    }
    // All cached: nothing read.
    assert_eq!(c.prefetch(D, &[10, 11]).unwrap(), 0);
    assert_eq!(dev.reads(), before + 1);
    assert_eq!(c.prefetch(D, &[]).unwrap(), 0);
    // Base alone is always read.
    assert_eq!(c.prefetch(D, &[40, 200]).unwrap(), 1);
    assert!(c.is_cached(D, 40));
}

#[test]
fn prefetch_at_device_end_keeps_what_was_read() {
    let (c, _dev) = setup(256, 64);
    assert_eq!(c.prefetch(D, &[62, 63, 64, 65]).unwrap(), 2);
    assert!(c.is_cached(D, 63) && !c.is_cached(D, 64));
    c.check_invariants().unwrap();
}

#[test]
fn sequential_readahead_cuts_requests() {
    let (c, dev) = setup(256, 1024);
    c.set_readahead(true);
    for b in 0..1024 {
        let blk = c.get_block(D, b, How::Normal).unwrap();
        assert_eq!(blk.data()[5], dev.bytes(b as usize * BS + 5, 1)[0]);
    }
    let reqs = dev.reads();
    assert!(reqs <= 1024 / 64 + 4, "{reqs} read requests");
    let cnt = c.counters();
    assert_eq!(cnt.prefetched, cnt.prefetch_used);
    // Random access does not read ahead.
    let (c, dev) = setup(256, 1024);
    c.set_readahead(true);
    for b in [500u64, 20, 700, 3] {
        drop(c.get_block(D, b, How::Normal).unwrap());
    }
    assert_eq!(dev.reads(), 4);
    assert_eq!(c.counters().prefetched, 0);
}

#[test]
fn several_blocks_held_at_once() {
    let (c, dev) = setup(16, 64);
    let mut inode = c.get_block(D, 2, How::Normal).unwrap();
    let ind = c.get_block(D, 9, How::Normal).unwrap();
    let mut data = c.get_block(D, 20, How::NoRead).unwrap();
    let idx = ind.data()[0] as usize;
    data.data_mut()[idx] = 42;
    inode.data_mut()[0] = 1;
    let same = c.get_block(D, 2, How::Peek).unwrap();
    assert_eq!(same.data()[0], 1);
    drop((inode, ind, data, same));
    assert_eq!(c.flush_all().unwrap(), 2);
    assert_eq!(dev.bytes(20 * BS + idx, 1), vec![42]);
}

#[test]
fn detach_flushes_and_returns_device() {
    let (c, dev) = setup(16, 64);
    fill(&c, 1, 0x31);
    let h = c.get_block(D, 2, How::Normal).unwrap();
    assert_eq!(c.detach(D).err(), Some(CacheError::Busy));
    drop(h);
    let _d = c.detach(D).unwrap();
    assert_eq!(dev.bytes(BS, BS), vec![0x31; BS]);
    assert!(!c.is_cached(D, 1));
    assert_eq!(
        c.get_block(D, 1, How::Normal).unwrap_err(),
        CacheError::NoDevice
    );
    assert_eq!(c.detach(D).err(), Some(CacheError::NoDevice));
}

// ---- crash survival: region adoption ----

fn reattach(c: &Cache, dev: &TestDev) {
    c.attach(D, dev.boxed(), BS).unwrap();
    c.set_readahead(false);
}

#[test]
fn without_clean_checksums_adoption_drops_clean_blocks_and_keeps_dirty_ones() {
    let (c, dev) = setup(16, 64);
    c.set_checksum_clean(false);
    for b in [1, 2] {
        fill(&c, b, 0x20 + b as u8);
    }
    // Read, not modified: no checksum was paid for it.
    drop(c.get_block(D, 9, How::Normal).unwrap());
    let (c, report) = Cache::adopt(c.crash());
    assert_eq!(
        report.kept_dirty, 2,
        "modified blocks are always checksummed"
    );
    assert_eq!(report.kept_clean, 0);
    assert_eq!(report.dropped.len(), 1);
    assert_eq!(report.dropped[0].block, 9);
    assert_eq!(report.dropped[0].reason, crate::DropReason::Unchecked);
    assert!(!report.dropped[0].dirty);
    // Nothing acknowledged was lost: the dirty blocks reach the device.
    reattach(&c, &dev);
    c.flush_all().unwrap();
    assert_eq!(dev.bytes(BS, BS), vec![0x21; BS]);
    assert_eq!(dev.bytes(2 * BS, BS), vec![0x22; BS]);
    // The dropped block is simply read again.
    assert!(c.get_block(D, 9, How::Normal).is_ok());
}

#[test]
fn deferred_checksums_are_computed_at_the_seal_and_only_for_dirty_blocks() {
    let (c, dev) = setup(16, 64);
    c.set_checksum_clean(false);
    c.set_deferred_checksums(true);
    fill(&c, 1, 0x41);
    fill(&c, 2, 0x42);
    c.seal();
    // Modified again after the seal: no valid checksum until the next one.
    fill(&c, 2, 0x52);
    let (c2, report) = Cache::adopt(c.crash());
    assert_eq!(report.kept_dirty, 1, "block 1 was sealed");
    let dropped: Vec<(u64, crate::DropReason)> =
        report.dropped.iter().map(|d| (d.block, d.reason)).collect();
    assert!(
        dropped.contains(&(2, crate::DropReason::Unchecked)),
        "{dropped:?}"
    );
    reattach(&c2, &dev);
    c2.flush_all().unwrap();
    assert_eq!(dev.bytes(BS, BS), vec![0x41; BS]);

    // Sealed after a write-back: the clean block pays no checksum, the
    // dirty one does, and both survive adoption as they should.
    let (c, dev) = setup(16, 64);
    c.set_checksum_clean(false);
    c.set_deferred_checksums(true);
    fill(&c, 3, 0x43);
    c.flush_all().unwrap();
    fill(&c, 4, 0x44);
    c.seal();
    let (c3, report) = Cache::adopt(c.crash());
    assert_eq!(report.kept_dirty, 1);
    assert!(
        report.dropped.iter().all(|d| !d.dirty),
        "no dirty block dropped: {:?}",
        report.dropped
    );
    reattach(&c3, &dev);
    c3.flush_all().unwrap();
    assert_eq!(dev.bytes(3 * BS, BS), vec![0x43; BS]);
    assert_eq!(dev.bytes(4 * BS, BS), vec![0x44; BS]);
}

#[test]
fn adopt_keeps_clean_and_dirty_blocks() {
    let (c, dev) = setup(16, 64);
    for b in [1, 2, 3] {
        fill(&c, b, 0x10 + b as u8);
    }
    drop(c.get_block(D, 9, How::Normal).unwrap());
    let region = c.crash();
    assert!(dev.writes().is_empty(), "a crash writes nothing");
    let (c, report) = Cache::adopt(region);
    assert_eq!(report.kept_dirty, 3);
    assert_eq!(report.kept_clean, 1);
    assert!(report.dropped.is_empty());
    // Hits work before the device is back; misses need it.
    assert_eq!(c.get_block(D, 2, How::Normal).unwrap().data()[0], 0x12);
    assert_eq!(
        c.get_block(D, 30, How::Normal).unwrap_err(),
        CacheError::NoDevice
    );
    assert_eq!(
        c.flush_all().unwrap(),
        0,
        "unattached devices are not flushed"
    );
    reattach(&c, &dev);
    let reads = dev.reads();
    assert_eq!(
        &c.get_block(D, 9, How::Normal).unwrap().data()[..],
        &dev.bytes(9 * BS, BS)[..]
    );
    assert_eq!(dev.reads(), reads);
    assert_eq!(c.flush_all().unwrap(), 3);
    assert_eq!(dev.writes(), vec![(BS as u64, 3)]);
    assert_eq!(dev.bytes(3 * BS, BS), vec![0x13; BS]);
    c.check_invariants().unwrap();
}

#[test]
fn crash_shared_takes_the_region_from_a_cache_others_still_hold() {
    let (c, dev) = setup(16, 64);
    fill(&c, 2, 0x22);
    let c = alloc::rc::Rc::new(c);
    // A dead owner's leftovers keep their handle for ever.
    let leftover = c.clone();
    let region = c.crash_shared().expect("idle cache");
    assert!(dev.writes().is_empty(), "a crash writes nothing");
    let (adopted, report) = Cache::adopt(region);
    assert_eq!(report.kept_dirty, 1);
    // The shared cache is left empty and without devices.
    assert_eq!(
        leftover.get_block(D, 2, How::Normal).unwrap_err(),
        CacheError::NoDevice
    );
    reattach(&adopted, &dev);
    assert_eq!(adopted.flush_all().unwrap(), 1);
    assert_eq!(dev.bytes(2 * BS, BS), vec![0x22; BS]);
    // What is left behind gives nothing more.
    let rest = Cache::adopt(leftover.crash_shared().unwrap()).1;
    assert_eq!((rest.kept_dirty, rest.kept_clean), (0, 0));
}

#[test]
fn adopt_drops_corrupt_dirty_block_and_never_writes_it() {
    let (c, dev) = setup(16, 64);
    fill(&c, 4, 0x44);
    fill(&c, 5, 0x55);
    let mut region = c.crash();
    let slot = region.blocks().find(|(_, e)| e.block == 4).unwrap().0;
    region.data_mut(slot).unwrap()[100] ^= 1;
    let (c, report) = Cache::adopt(region);
    assert_eq!(report.kept_dirty, 1);
    assert_eq!(report.lost_writes(), 1);
    assert_eq!(report.dropped[0].block, 4);
    assert_eq!(report.dropped[0].reason, DropReason::Checksum);
    reattach(&c, &dev);
    let old4 = dev.bytes(4 * BS, BS);
    assert_eq!(c.flush_all().unwrap(), 1);
    assert_eq!(dev.bytes(4 * BS, BS), old4);
    assert_eq!(dev.bytes(5 * BS, BS), vec![0x55; BS]);
    c.check_invariants().unwrap();
}

#[test]
fn adopt_drops_block_being_modified_at_crash() {
    let (c, dev) = setup(16, 64);
    fill(&c, 7, 0x70);
    {
        let mut b = c.get_block(D, 7, How::Normal).unwrap();
        b.data_mut()[0] = 0x71; // half-way through a change...
        let mut clean = c.get_block(D, 8, How::Normal).unwrap();
        let _ = &mut clean; // held but unchanged: its checksum stays valid
        core::mem::forget(clean);
        core::mem::forget(b); // ...when the owner dies
    }
    let region = c.crash();
    let (c, report) = Cache::adopt(region);
    assert_eq!(report.dropped.len(), 1);
    assert_eq!(report.dropped[0].block, 7);
    assert!(report.dropped[0].dirty);
    assert_eq!(report.kept_clean, 1);
    assert_eq!(c.in_use(), 0, "holders died with the owner");
    reattach(&c, &dev);
    assert_eq!(c.flush_all().unwrap(), 0);
    assert!(dev.writes().is_empty());
    c.check_invariants().unwrap();
}

#[test]
fn adopt_refreshed_checksum_after_release_is_valid() {
    let (c, dev) = setup(16, 64);
    let mut b = c.get_block(D, 7, How::Normal).unwrap();
    b.data_mut()[0] = 0x71;
    drop(b);
    let b = c.get_block(D, 7, How::Normal).unwrap();
    b.mark_dirty();
    core::mem::forget(b);
    let (c, report) = Cache::adopt(c.crash());
    assert_eq!(report.kept_dirty, 1);
    reattach(&c, &dev);
    assert_eq!(c.flush_all().unwrap(), 1);
    assert_eq!(dev.bytes(7 * BS, 1), vec![0x71]);
}

#[test]
fn adopt_validates_metadata() {
    let (c, dev) = setup(16, 64);
    for b in 0..6 {
        fill(&c, b, b as u8);
    }
    let mut region = c.crash();
    let slots: Vec<usize> = region.blocks().map(|(i, _)| i).collect();
    region.entry_mut(slots[0]).unwrap().bytes = 4096; // larger than the block size
    region.entry_mut(slots[1]).unwrap().dev = 77; // unknown device
    region.entry_mut(slots[2]).unwrap().block = u64::MAX; // offset overflows
    let b4 = region.entry(slots[4]).unwrap().block;
    let e3 = region.entry_mut(slots[3]).unwrap();
    e3.block = b4; // two slots claim one block
    let (c, report) = Cache::adopt(region);
    let reasons: Vec<DropReason> = report.dropped.iter().map(|d| d.reason).collect();
    assert_eq!(
        reasons,
        vec![
            DropReason::BadSize,
            DropReason::UnknownDevice,
            DropReason::BadBlockNumber,
            DropReason::Duplicate,
            DropReason::Duplicate
        ]
    );
    assert_eq!(report.kept_dirty, 1);
    reattach(&c, &dev);
    assert_eq!(c.flush_all().unwrap(), 1);
    assert_eq!(dev.writes(), vec![(5 * BS as u64, 1)]);
    c.check_invariants().unwrap();
}

#[test]
fn adopt_bad_header_drops_everything() {
    let (c, dev) = setup(16, 64);
    fill(&c, 1, 1);
    drop(c.get_block(D, 2, How::Normal).unwrap());
    let mut region = c.crash();
    region.corrupt_header();
    let (c, report) = Cache::adopt(region);
    assert_eq!(report.dropped.len(), 2);
    assert!(
        report
            .dropped
            .iter()
            .all(|d| d.reason == DropReason::BadHeader)
    );
    assert_eq!(report.lost_writes(), 1);
    reattach(&c, &dev);
    assert_eq!(c.flush_all().unwrap(), 0);
    assert!(!c.is_cached(D, 2));
    c.check_invariants().unwrap();
}

#[test]
fn adopt_then_attach_with_other_block_size_refused() {
    let (c, dev) = setup(16, 64);
    fill(&c, 1, 1);
    let (c, _) = Cache::adopt(c.crash());
    assert_eq!(
        c.attach(D, dev.boxed(), 4096).unwrap_err(),
        CacheError::Invalid
    );
    c.invalidate(D);
    c.attach(D, dev.boxed(), 4096).unwrap();
    assert_eq!(c.block_size(D), Some(4096));
}

#[test]
fn adopt_keeps_lru_order_and_capacity() {
    adopt_keeps_lru_order::<Intrusive>();
    adopt_keeps_lru_order::<LruCrate>();
}

fn adopt_keeps_lru_order<I: BlockIndex>() {
    let (c, _dev) = setup_with::<I>(8, 64);
    for b in [5, 3, 9] {
        drop(c.get_block(D, b, How::Normal).unwrap());
    }
    let (c, _) = Cache::<I>::adopt_with_index(c.crash());
    assert_eq!(c.capacity(), 8);
    assert_eq!(c.lru_order(), vec![(D, 5), (D, 3), (D, 9)]);
}

#[test]
fn into_region_flushes_first() {
    let (c, dev) = setup(8, 64);
    fill(&c, 2, 0x22);
    let region = c.into_region();
    assert_eq!(dev.bytes(2 * BS, BS), vec![0x22; BS]);
    assert_eq!(region.blocks().filter(|(_, e)| e.dirty).count(), 0);
}

#[test]
fn prefetch_never_evicts_cached_blocks_of_its_range() {
    prefetch_keeps_cached_blocks_of_its_range::<Intrusive>();
    prefetch_keeps_cached_blocks_of_its_range::<LruCrate>();
}

fn prefetch_keeps_cached_blocks_of_its_range<I: BlockIndex>() {
    let (c, _dev) = setup_with::<I>(6, 64);
    fill(&c, 17, 0x17);
    for b in 30..35 {
        drop(c.get_block(D, b, How::Normal).unwrap());
    }
    // 17 is the LRU victim, but it is in the prefetch range: it stays.
    assert_eq!(c.lru_order()[0], (D, 17));
    assert_eq!(c.prefetch(D, &[17, 18]).unwrap(), 1);
    assert!(c.is_cached(D, 17) && c.is_cached(D, 18));
    assert_eq!(c.get_block(D, 17, How::Peek).unwrap().data()[0], 0x17);
    c.check_invariants().unwrap();
}

#[test]
fn tiny_pool_prefetch_and_readahead_never_run_out() {
    // MINIX's limit (18 with < 50 buffers) exceeds a 6-buffer pool and can
    // panic "all buffers in use"; ours follows the free buffers.
    let (c, dev) = setup(6, 256);
    c.set_readahead(true);
    let held: Vec<_> = (0..5)
        .map(|b| c.get_block(D, 100 + b, How::Normal).unwrap())
        .collect();
    assert_eq!(c.readahead_limit(), 1);
    let list: Vec<u64> = (0..64).collect();
    assert_eq!(c.prefetch(D, &list).unwrap(), 1);
    for b in 1..40 {
        let blk = c.get_block(D, b, How::Normal).unwrap();
        assert_eq!(&blk.data()[..], &dev.bytes(b as usize * BS, BS)[..]);
    }
    drop(held);
    c.check_invariants().unwrap();
}

#[test]
fn counters_count_requests_and_evictions() {
    let (c, _dev) = setup(8, 64);
    for b in 0..10 {
        drop(c.get_block(D, b, How::Normal).unwrap());
    }
    drop(c.get_block(D, 9, How::Normal).unwrap());
    let _ = c.get_block(D, 50, How::Peek);
    let n = c.counters();
    assert_eq!(n.misses, 11);
    assert_eq!(n.hits, 1);
    assert_eq!(n.read_requests, 10);
    assert_eq!(n.blocks_read, 10);
    assert_eq!(n.evictions, 2);
    assert_eq!(n.write_requests, 0);
}

#[test]
fn adopt_keeps_block_usage_and_partial_dirty_blocks() {
    let dev = TestDev::new(5 * BS + 512);
    let c = Cache::new(16);
    c.attach(D, dev.boxed(), BS).unwrap();
    c.set_blockusage(500, 120).unwrap();
    c.change_blockusage(5);
    assert_eq!(
        bio::write(&c, D, 5 * BS as u64 + 10, &[0x5a; 100]).unwrap(),
        100
    );
    let (c, report) = Cache::adopt(c.crash());
    assert!(report.usage_kept);
    assert_eq!(report.kept_dirty, 1);
    assert_eq!(
        c.stats(),
        BlockUsage {
            total: 500,
            used: 125,
            free: 375
        }
    );
    c.attach(D, dev.boxed(), BS).unwrap();
    assert_eq!(c.flush_all().unwrap(), 1);
    assert_eq!(dev.bytes(5 * BS + 10, 100), vec![0x5a; 100]);
    // Garbage usage is reset, not trusted.
    let mut region = c.crash();
    *region.usage_mut() = (10, 20);
    let (c, report) = Cache::adopt(region);
    assert!(!report.usage_kept);
    assert_eq!(c.stats(), BlockUsage::default());
}

/// The device requests of `dev` as (write position in blocks | flush).
fn write_log(dev: &TestDev) -> Vec<Option<u64>> {
    dev.0
        .borrow()
        .log
        .iter()
        .filter_map(|r| match r {
            Req::Write { pos, .. } => Some(Some(pos / BS as u64)),
            Req::Flush => Some(None),
            Req::Read { .. } => None,
        })
        .collect()
}

#[test]
fn order_writes_in_layers_with_a_flush_between() {
    let (c, dev) = setup(16, 64);
    fill(&c, 9, 9);
    fill(&c, 3, 3);
    fill(&c, 5, 5);
    // 9 before 3, 3 before 5: three layers despite block order.
    assert!(!c.order(D, 9, 3).unwrap());
    assert!(!c.order(D, 3, 5).unwrap());
    assert_eq!(c.order_constraints(D).len(), 2);
    assert_eq!(c.flush_dev(D).unwrap(), 3);
    assert_eq!(
        write_log(&dev),
        vec![Some(9), None, Some(3), None, Some(5), None]
    );
    assert!(c.order_constraints(D).is_empty());
    assert_eq!(c.counters().barriers, 3);
    // Without constraints: one sorted layer, one flush.
    dev.0.borrow_mut().log.clear();
    fill(&c, 9, 1);
    fill(&c, 3, 1);
    assert_eq!(c.flush_dev(D).unwrap(), 2);
    assert_eq!(write_log(&dev), vec![Some(3), Some(9), None]);
}

#[test]
fn order_on_a_clean_block_or_itself_records_nothing() {
    let (c, _dev) = setup(16, 64);
    fill(&c, 2, 2);
    c.get_block(D, 4, How::Normal).unwrap();
    assert!(!c.order(D, 4, 2).unwrap());
    assert!(!c.order(D, 2, 2).unwrap());
    assert!(c.order_constraints(D).is_empty());
}

#[test]
fn order_closing_a_cycle_flushes_first() {
    let (c, dev) = setup(16, 64);
    fill(&c, 1, 1);
    fill(&c, 2, 2);
    fill(&c, 7, 7);
    c.order(D, 1, 2).unwrap();
    // 2 before 1 would close the cycle: 2 is written now, after 1; the
    // unrelated block 7 stays dirty.
    assert!(c.order(D, 2, 1).unwrap());
    assert_eq!(write_log(&dev), vec![Some(1), None, Some(2), None]);
    assert_eq!(c.dirty_count(D), 1);
    assert_eq!(c.counters().order_flushes, 1);
    assert!(c.order_constraints(D).is_empty());
}

#[test]
fn eviction_honours_order() {
    let (c, dev) = setup(6, 64);
    for b in 10..16 {
        fill(&c, b, b as u8);
    }
    // Each block waits for the next one up.
    for b in 10..15 {
        c.order(D, b + 1, b).unwrap();
    }
    // A miss evicts: the whole device is written back in order.
    c.get_block(D, 40, How::Normal).unwrap();
    let log = write_log(&dev);
    let order: Vec<u64> = log.iter().flatten().copied().collect();
    assert_eq!(order, vec![15, 14, 13, 12, 11, 10]);
    assert_eq!(log.iter().filter(|e| e.is_none()).count(), 6);
    c.check_invariants().unwrap();
}

#[test]
fn a_referenced_predecessor_holds_back_its_successors() {
    let (c, dev) = setup(16, 64);
    fill(&c, 1, 1);
    fill(&c, 2, 2);
    fill(&c, 3, 3);
    c.order(D, 1, 2).unwrap();
    let held = c.get_block(D, 1, How::Normal).unwrap();
    assert_eq!(c.flush_dev(D).unwrap(), 1);
    assert_eq!(write_log(&dev), vec![Some(3), None]);
    drop(held);
    assert_eq!(c.flush_dev(D).unwrap(), 2);
    assert_eq!(
        write_log(&dev),
        vec![Some(3), None, Some(1), None, Some(2), None]
    );
}

#[test]
fn a_dirty_victim_retired_by_its_own_flush_is_not_reused() {
    dirty_victim_retired_by_its_flush::<Intrusive>();
    dirty_victim_retired_by_its_flush::<LruCrate>();
}

/// Over its capacity (a shrink around held dirty blocks), a miss picks the
/// dirty LRU block as victim; the flush that cleans it also trims the
/// cache back to its capacity, retiring that very block. The miss must
/// take another buffer, not the retired slot.
fn dirty_victim_retired_by_its_flush<I: BlockIndex>() {
    let (c, dev) = setup_with::<I>(8, 64);
    let held: Vec<_> = (0..8)
        .map(|b| {
            let mut r = c.get_block(D, b, How::NoRead).unwrap();
            r.data_mut().fill(b as u8);
            r
        })
        .collect();
    c.resize(6).unwrap();
    drop(held);
    assert_eq!(c.live_buffers(), 8);
    assert_eq!(c.dirty_count(D), 8);
    let b = c.get_block(D, 40, How::Normal).unwrap();
    assert_eq!(&b.data()[..], &dev.bytes(40 * BS, BS)[..]);
    drop(b);
    assert_eq!(dev.bytes(7 * BS, BS), vec![7; BS]);
    assert_eq!(c.live_buffers(), 6);
    c.check_invariants().unwrap();
    for b in 0..20 {
        drop(c.get_block(D, b, How::Normal).unwrap());
        c.check_invariants().unwrap();
    }
    assert_eq!(c.live_buffers(), 6);
}
