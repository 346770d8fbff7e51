//! Property test: random sequences of get/put/dirty/flush/invalidate/
//! resize/prefetch/"owner crashes and a new cache adopts the region"
//! against a model device.
//!
//! Checked after every step: every read returns the last written data; a
//! referenced block stays cached; the cache's internal invariants hold.
//! After a flush the device equals the model for every unreferenced block;
//! at the end (all released, flushed) the device equals the model.
//! Across a crash: a block dropped by adoption must be one that was being
//! modified under a reference when the owner died (its checksum is stale);
//! every other write survives.

use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use crate::testdev::TestDev;
use crate::*;

const BS: usize = 512;
const NBLOCKS: u64 = 40;
const D: Dev = 2;
const MAX_HELD: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Read(u64),
    Peek(u64),
    /// Overwrite a whole block (NO_READ) with a byte value.
    WriteFull(u64, u8),
    /// Change a few bytes (read-modify-write).
    WritePart(u64, u8),
    Hold(u64),
    /// Change a held block through its reference.
    HeldWrite(usize, u8),
    /// Mark a held block dirty without changing it.
    HeldMarkDirty(usize),
    Release(usize),
    Flush,
    /// Flush then invalidate (bflush); only with nothing held.
    FlushInvalidate,
    /// Invalidate without flushing: dirty data is dropped; only with nothing held.
    Invalidate,
    FreeBlock(u64),
    Resize(usize),
    Prefetch(Vec<u64>),
    Readahead(bool),
    /// `bio::read` of `len` bytes at byte `pos` (may cross the end).
    BioRead(u64, usize),
    /// `bio::write` of `len` bytes of value `v` at byte `pos`.
    BioWrite(u64, usize, u8),
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    let b = 0..NBLOCKS;
    prop_oneof![
        4 => b.clone().prop_map(Op::Read),
        1 => b.clone().prop_map(Op::Peek),
        3 => (b.clone(), any::<u8>()).prop_map(|(b, v)| Op::WriteFull(b, v)),
        3 => (b.clone(), any::<u8>()).prop_map(|(b, v)| Op::WritePart(b, v)),
        2 => b.clone().prop_map(Op::Hold),
        2 => (0..MAX_HELD, any::<u8>()).prop_map(|(i, v)| Op::HeldWrite(i, v)),
        1 => (0..MAX_HELD).prop_map(Op::HeldMarkDirty),
        2 => (0..MAX_HELD).prop_map(Op::Release),
        1 => Just(Op::Flush),
        1 => Just(Op::FlushInvalidate),
        1 => Just(Op::Invalidate),
        1 => b.clone().prop_map(Op::FreeBlock),
        1 => (MIN_BUFS..24usize).prop_map(Op::Resize),
        2 => proptest::collection::vec(b, 1..8).prop_map(Op::Prefetch),
        1 => any::<bool>().prop_map(Op::Readahead),
        2 => (0..NBLOCKS * BS as u64 + 600, 1..3000usize).prop_map(|(p, l)| Op::BioRead(p, l)),
        2 => (0..NBLOCKS * BS as u64 + 600, 1..3000usize, any::<u8>())
            .prop_map(|(p, l, v)| Op::BioWrite(p, l, v)),
        1 => Just(Op::Crash),
    ]
}

struct Held<'c, I: BlockIndex> {
    r: BlockRef<'c, I>,
    touched: bool,
}

fn device_block(dev: &TestDev, b: u64) -> Vec<u8> {
    dev.bytes(b as usize * BS, BS)
}

fn run<I: BlockIndex>(ops: Vec<Op>, nr_bufs: usize) {
    let dev = TestDev::new(NBLOCKS as usize * BS);
    let mut model: Vec<Vec<u8>> = (0..NBLOCKS).map(|b| device_block(&dev, b)).collect();
    let mut cache = Cache::<I>::with_index(nr_bufs);
    cache.attach(D, dev.boxed(), BS).unwrap();
    let mut ops = ops.into_iter();
    loop {
        // Blocks modified under a reference when the owner died.
        let mut in_flight: Vec<u64> = Vec::new();
        let mut crashed = false;
        {
            let c = &cache;
            let mut held: Vec<Held<'_, I>> = Vec::new();
            for op in ops.by_ref() {
                match op {
                    Op::Read(b) => {
                        let r = c.get_block(D, b, How::Normal).unwrap();
                        assert_eq!(&r.data()[..], &model[b as usize][..], "read {b}");
                    }
                    Op::Peek(b) => match c.get_block(D, b, How::Peek) {
                        Ok(r) => assert_eq!(&r.data()[..], &model[b as usize][..], "peek {b}"),
                        Err(e) => assert_eq!(e, CacheError::NotCached),
                    },
                    Op::WriteFull(b, v) => {
                        let mut r = c.get_block(D, b, How::NoRead).unwrap();
                        r.data_mut().fill(v);
                        model[b as usize].fill(v);
                    }
                    Op::WritePart(b, v) => {
                        let mut r = c.get_block(D, b, How::Normal).unwrap();
                        let off = (b as usize * 37 + v as usize) % (BS - 4);
                        r.data_mut()[off..off + 4].fill(v);
                        model[b as usize][off..off + 4].fill(v);
                    }
                    Op::Hold(b) => {
                        if held.len() < MAX_HELD {
                            let r = c.get_block(D, b, How::Normal).unwrap();
                            assert_eq!(&r.data()[..], &model[b as usize][..]);
                            held.push(Held { r, touched: false });
                        }
                    }
                    Op::HeldWrite(i, v) => {
                        if !held.is_empty() {
                            let h = i % held.len();
                            let b = held[h].r.block();
                            let off = (v as usize * 3) % BS;
                            held[h].r.data_mut()[off] = v;
                            held[h].touched = true;
                            model[b as usize][off] = v;
                        }
                    }
                    Op::HeldMarkDirty(i) => {
                        if !held.is_empty() {
                            let h = i % held.len();
                            held[h].r.mark_dirty();
                            held[h].touched = true;
                        }
                    }
                    Op::Release(i) => {
                        if !held.is_empty() {
                            let h = held.swap_remove(i % held.len());
                            c.put_block(h.r);
                        }
                    }
                    Op::Flush => {
                        c.flush_all().unwrap();
                        for b in 0..NBLOCKS {
                            if !held.iter().any(|h| h.r.block() == b) {
                                assert_eq!(device_block(&dev, b), model[b as usize], "flushed {b}");
                            }
                        }
                    }
                    Op::FlushInvalidate => {
                        if held.is_empty() {
                            bio::flush(c, D).unwrap();
                            for b in 0..NBLOCKS {
                                assert!(!c.is_cached(D, b));
                                assert_eq!(device_block(&dev, b), model[b as usize]);
                            }
                        }
                    }
                    Op::Invalidate => {
                        if held.is_empty() {
                            c.invalidate(D);
                            for b in 0..NBLOCKS {
                                model[b as usize] = device_block(&dev, b);
                            }
                        }
                    }
                    Op::FreeBlock(b) => {
                        if !held.iter().any(|h| h.r.block() == b) {
                            c.free_block(D, b);
                            model[b as usize] = device_block(&dev, b);
                        }
                    }
                    Op::Resize(n) => c.resize(n).unwrap(),
                    Op::Prefetch(list) => {
                        c.prefetch(D, &list).unwrap();
                        assert!(c.is_cached(D, list[0]));
                    }
                    Op::Readahead(on) => c.set_readahead(on),
                    Op::BioRead(pos, len) => {
                        let size = NBLOCKS * BS as u64;
                        let want = if pos >= size {
                            0
                        } else {
                            (size - pos).min(len as u64) as usize
                        };
                        let mut buf = vec![0u8; len];
                        assert_eq!(bio::read(c, D, pos, &mut buf).unwrap(), want);
                        for (k, &byte) in buf[..want].iter().enumerate() {
                            let p = pos as usize + k;
                            assert_eq!(byte, model[p / BS][p % BS], "bio read at {p}");
                        }
                    }
                    Op::BioWrite(pos, len, v) => {
                        let size = NBLOCKS * BS as u64;
                        let want = if pos >= size {
                            0
                        } else {
                            (size - pos).min(len as u64) as usize
                        };
                        assert_eq!(bio::write(c, D, pos, &vec![v; len]).unwrap(), want);
                        for k in 0..want {
                            let p = pos as usize + k;
                            model[p / BS][p % BS] = v;
                        }
                    }
                    Op::Crash => {
                        for h in held.drain(..) {
                            if h.touched {
                                in_flight.push(h.r.block());
                            }
                            core::mem::forget(h.r);
                        }
                        crashed = true;
                        break;
                    }
                }
                c.check_invariants().unwrap();
                for h in &held {
                    assert!(
                        c.is_cached(D, h.r.block()),
                        "a referenced block was evicted"
                    );
                }
            }
            drop(held);
        }
        if !crashed {
            break;
        }
        let writes_before = dev.writes().len();
        let (c, report) = Cache::<I>::adopt_with_index(cache.crash());
        assert_eq!(
            dev.writes().len(),
            writes_before,
            "crash and adoption write nothing"
        );
        for d in &report.dropped {
            assert_eq!(d.reason, DropReason::Checksum);
            assert!(
                in_flight.contains(&d.block),
                "valid block {} dropped",
                d.block
            );
            model[d.block as usize] = device_block(&dev, d.block);
        }
        c.check_invariants().unwrap();
        assert_eq!(c.in_use(), 0);
        c.attach(D, dev.boxed(), BS).unwrap();
        cache = c;
    }
    cache.flush_all().unwrap();
    for b in 0..NBLOCKS {
        assert_eq!(device_block(&dev, b), model[b as usize], "final {b}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn cache_matches_model(ops in proptest::collection::vec(op(), 1..160), nr_bufs in MIN_BUFS..20usize) {
        run::<Intrusive>(ops, nr_bufs);
    }

    #[test]
    fn cache_matches_model_lru_crate(ops in proptest::collection::vec(op(), 1..160), nr_bufs in MIN_BUFS..20usize) {
        run::<LruCrate>(ops, nr_bufs);
    }
}

#[test]
fn model_smoke_sequence() {
    run::<Intrusive>(
        vec![
            Op::WriteFull(3, 1),
            Op::Hold(3),
            Op::HeldWrite(0, 9),
            Op::Crash,
            Op::Read(3),
            Op::WritePart(4, 2),
            Op::Flush,
            Op::Crash,
            Op::Read(4),
        ],
        MIN_BUFS,
    );
}
