//! test85-style suite for `bio` (reference §5.1): device sizes just under,
//! at and just over a multiple of the block size, the six EOF positions in a
//! seeded random order, for read, write and peek; after each sequence the
//! device must equal the reference.

use alloc::vec;
use alloc::vec::Vec;

use crate::testdev::TestDev;
use crate::*;

const D: Dev = 5;
const PAGE: u64 = 4096;

/// xorshift64*: deterministic, seedable, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in lo..=hi.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// The names of test85's cases.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy)]
enum Case {
    BeforeEof,
    UptoEof,
    AcrossEof,
    OnepastEof,
    FromEof,
    BeyondEof,
}

const CASES: [Case; 6] = [
    Case::BeforeEof,
    Case::UptoEof,
    Case::AcrossEof,
    Case::OnepastEof,
    Case::FromEof,
    Case::BeyondEof,
];

/// (pos, len, expected bytes) for a case on a device of `s` bytes.
fn params(case: Case, s: u64, rng: &mut Rng) -> (u64, u64, u64) {
    match case {
        Case::BeforeEof => {
            let n = rng.range(1, s - 1);
            (s - n - 1, n, n)
        }
        Case::UptoEof => {
            let n = rng.range(1, s);
            (s - n, n, n)
        }
        Case::AcrossEof => {
            let start = rng.range(1, s - 1);
            let len = rng.range(s - start + 1, s);
            (start, len, s - start)
        }
        Case::OnepastEof => {
            let n = rng.range(1, s - 1);
            (s - n + 1, n, n - 1)
        }
        Case::FromEof => (s, rng.range(1, s), 0),
        Case::BeyondEof => (rng.range(s + 1, 2 * s), rng.range(1, s), 0),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Read,
    Write,
    Peek,
}

struct Env {
    cache: Cache,
    dev: TestDev,
    reference: Vec<u8>,
    s: u64,
}

fn do_io(env: &mut Env, op: Op, rng: &mut Rng) {
    let mut order = CASES;
    for i in (1..order.len()).rev() {
        order.swap(i, rng.range(0, i as u64) as usize);
    }
    for case in order {
        let (pos, len, expected) = params(case, env.s, rng);
        let ctx = (case, env.s, pos, len);
        match op {
            Op::Read => {
                let mut buf = vec![0u8; len as usize];
                let r = bio::read(&env.cache, D, pos, &mut buf).unwrap();
                assert_eq!(r as u64, expected, "{ctx:?}");
                if r > 0 {
                    assert_eq!(
                        &buf[..r],
                        &env.reference[pos as usize..pos as usize + r],
                        "{ctx:?}"
                    );
                }
            }
            Op::Write => {
                let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                let r = bio::write(&env.cache, D, pos, &data).unwrap();
                assert_eq!(r as u64, expected, "{ctx:?}");
                if r > 0 {
                    env.reference[pos as usize..pos as usize + r].copy_from_slice(&data[..r]);
                }
            }
            Op::Peek => {
                // test85 maps whole pages.
                let ppos = pos / PAGE * PAGE;
                let plen = (pos + len).div_ceil(PAGE) * PAGE - ppos;
                let expected = if ppos < env.s {
                    (env.s - ppos).min(plen)
                } else {
                    0
                };
                let r = bio::peek(&env.cache, D, ppos, plen as usize).unwrap();
                assert_eq!(r as u64, expected, "{ctx:?}");
                if r == 0 {
                    continue;
                }
                // What was peeked is in the cache and right.
                let reads = env.dev.reads();
                let mut buf = vec![0u8; r];
                assert_eq!(bio::read(&env.cache, D, ppos, &mut buf).unwrap(), r);
                assert_eq!(env.dev.reads(), reads, "peeked blocks are cached");
                assert_eq!(
                    &buf[..],
                    &env.reference[ppos as usize..ppos as usize + r],
                    "{ctx:?}"
                );
            }
        }
    }
}

fn run_sequence(bs: usize, s: u64, seq: &[Op], rng: &mut Rng, nr_bufs: usize) {
    let dev = TestDev::new(s as usize);
    let reference = dev.bytes(0, s as usize);
    let cache = Cache::new(nr_bufs);
    cache.attach(D, dev.boxed(), bs).unwrap();
    let mut env = Env {
        cache,
        dev,
        reference,
        s,
    };
    for &op in seq {
        do_io(&mut env, op, rng);
    }
    // "close": REQ_FLUSH, then the image must equal the reference.
    bio::flush(&env.cache, D).unwrap();
    assert_eq!(env.cache.dirty_count(D), 0);
    assert!(
        env.dev.bytes(0, s as usize) == env.reference,
        "device differs, bs {bs} size {s}"
    );
    env.cache.check_invariants().unwrap();
}

#[test]
fn test85_eof_suite() {
    let mut rng = Rng(0x85_85_85_85);
    let seqs: [&[Op]; 4] = [
        &[Op::Read, Op::Write, Op::Read],
        &[Op::Write, Op::Read],
        &[Op::Peek, Op::Write, Op::Peek],
        &[Op::Write, Op::Peek],
    ];
    let mut runs = 0;
    for bs in [1024usize, 4096] {
        for _iteration in 0..3 {
            for b in [1u64, 4, 3, 5, 2] {
                for s in [b * bs as u64 + 512, b * bs as u64, b * bs as u64 - 512] {
                    for seq in seqs {
                        // A roomy cache and a tiny one (evictions mid-sequence).
                        run_sequence(bs, s, seq, &mut rng, 64);
                        run_sequence(bs, s, seq, &mut rng, MIN_BUFS);
                        runs += 2;
                    }
                }
            }
        }
    }
    assert_eq!(runs, 2 * 3 * 5 * 3 * 4 * 2);
}

#[test]
fn partial_and_full_last_block_never_coexist() {
    let bs = 1024;
    let dev = TestDev::new(3 * bs + 512);
    let c = Cache::new(16);
    c.attach(D, dev.boxed(), bs).unwrap();
    let mut buf = vec![0u8; 100];
    assert_eq!(
        bio::read(&c, D, 3 * bs as u64 + 400, &mut buf).unwrap(),
        100
    );
    // The partial block 3 (512 bytes) is cached; a full block 3 is refused.
    assert_eq!(
        c.get_block(D, 3, How::Normal).unwrap_err(),
        CacheError::SizeMismatch
    );
    assert_eq!(
        c.get_block(D, 3, How::NoRead).unwrap_err(),
        CacheError::SizeMismatch
    );
    assert_eq!(c.get_block_sized(D, 3, How::Peek, 512).unwrap().len(), 512);
    // The other way round: a full block 3 first makes bio fail on it.
    c.invalidate(D);
    let full = c.get_block(D, 3, How::NoRead).unwrap();
    drop(full);
    assert_eq!(
        bio::read(&c, D, 3 * bs as u64, &mut buf).unwrap_err(),
        CacheError::SizeMismatch
    );
    // A transfer that gets through some blocks first returns the short count.
    let mut big = vec![0u8; 2 * bs];
    assert_eq!(bio::read(&c, D, 2 * bs as u64, &mut big).unwrap(), bs);
    // A full-block read of the partial block is a short read: EIO, not cached.
    c.invalidate(D);
    assert_eq!(
        c.get_block(D, 3, How::Normal).unwrap_err(),
        CacheError::Short
    );
    assert!(!c.is_cached(D, 3));
}

#[test]
fn bio_argument_edges() {
    let dev = TestDev::new(4096);
    let c = Cache::new(16);
    c.attach(D, dev.boxed(), 1024).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        bio::read(&c, NO_DEV, 0, &mut buf).unwrap_err(),
        CacheError::Invalid
    );
    assert_eq!(bio::read(&c, D, 0, &mut []).unwrap(), 0);
    assert_eq!(
        bio::read(&c, D, i64::MAX as u64, &mut buf).unwrap_err(),
        CacheError::Invalid
    );
    assert_eq!(bio::read(&c, D, i64::MAX as u64 - 7, &mut buf).unwrap(), 0);
    assert_eq!(
        bio::write(&c, 9, 0, &buf).unwrap_err(),
        CacheError::NoDevice
    );
    assert_eq!(bio::peek(&c, D, 4000, 1000).unwrap(), 96);
}

#[test]
fn bio_whole_block_write_does_not_read() {
    let bs = 1024;
    let dev = TestDev::new(4 * bs + 512);
    let c = Cache::new(16);
    c.attach(D, dev.boxed(), bs).unwrap();
    // Blocks 1, 2 and the partial block 4 overwritten whole: no reads.
    assert_eq!(
        bio::write(&c, D, bs as u64, &vec![7u8; 2 * bs]).unwrap(),
        2 * bs
    );
    assert_eq!(
        bio::write(&c, D, 4 * bs as u64, &vec![8u8; 600]).unwrap(),
        512
    );
    assert_eq!(dev.reads(), 0);
    // A partial overwrite reads the block first.
    assert_eq!(bio::write(&c, D, 10, &[1, 2, 3]).unwrap(), 3);
    assert_eq!(dev.reads(), 1);
    bio::flush(&c, D).unwrap();
    assert_eq!(dev.bytes(4 * bs, 512), vec![8u8; 512]);
    assert_eq!(dev.bytes(10, 3), vec![1, 2, 3]);
    assert!(
        !c.is_cached(D, 1),
        "bflush empties the cache of that device"
    );
}

#[test]
fn bio_large_read_prefetches_in_few_requests() {
    let bs = 4096;
    let dev = TestDev::new(200 * bs + 512);
    let c = Cache::new(512);
    c.attach(D, dev.boxed(), bs).unwrap();
    let mut buf = vec![0u8; 201 * bs];
    assert_eq!(bio::read(&c, D, 0, &mut buf).unwrap(), 200 * bs + 512);
    assert_eq!(&buf[..200 * bs + 512], &dev.bytes(0, 200 * bs + 512)[..]);
    // 201 blocks in runs of at most 64.
    assert_eq!(dev.reads(), 4);
}

#[test]
fn bio_sequential_small_reads_read_ahead_across_calls() {
    let bs = 4096;
    let size = 300 * bs + 512;
    let dev = TestDev::new(size);
    let c = Cache::new(512);
    c.attach(D, dev.boxed(), bs).unwrap();
    let mut buf = vec![0u8; 6000]; // not block aligned on purpose
    let mut pos = 0usize;
    loop {
        let n = bio::read(&c, D, pos as u64, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert_eq!(&buf[..n], &dev.bytes(pos, n)[..]);
        pos += n;
    }
    assert_eq!(pos, size);
    // 301 blocks at 64 per request after a short ramp-up, not one per call.
    assert!(dev.reads() <= 12, "{} reads", dev.reads());
    // The partial last block is cached with its real size.
    assert_eq!(
        c.get_block_sized(D, 300, How::Peek, 512).unwrap().len(),
        512
    );
    // Random small reads do not read ahead.
    let c = Cache::new(512);
    c.attach(D, dev.boxed(), bs).unwrap();
    let before = dev.reads();
    for p in [100 * bs, 7 * bs, 250 * bs] {
        assert_eq!(bio::read(&c, D, p as u64, &mut buf[..100]).unwrap(), 100);
    }
    assert_eq!(dev.reads(), before + 3);
    let cnt = c.counters();
    assert_eq!(cnt.blocks_read, 3);
    assert_eq!(cnt.prefetched, cnt.prefetch_used);
}

#[test]
fn bio_device_size_asked_only_near_the_end() {
    let bs = 1024;
    let dev = TestDev::new(8 * bs);
    let c = Cache::new(16);
    c.attach(D, dev.boxed(), bs).unwrap();
    let mut buf = vec![0u8; 100];
    assert_eq!(bio::read(&c, D, 0, &mut buf).unwrap(), 100);
    // The device grows: a transfer past the known end asks again.
    dev.0.borrow_mut().data.resize(9 * bs + 512, 0xab);
    assert_eq!(bio::read(&c, D, 9 * bs as u64, &mut buf).unwrap(), 100);
    assert_eq!(bio::read(&c, D, 9 * bs as u64 + 500, &mut buf).unwrap(), 12);
    assert_eq!(buf[0], 0xab);
    // Shrinks are seen after the last close (bflush).
    bio::flush(&c, D).unwrap();
    dev.0.borrow_mut().data.truncate(2 * bs);
    assert_eq!(bio::read(&c, D, 3 * bs as u64, &mut buf).unwrap(), 0);
}
