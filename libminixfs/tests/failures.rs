//! Failure tests through libbdev's client on a SimDriver: transient I/O
//! errors recovered by libbdev's retries, permanent errors returned as
//! values, driver crashes in the middle of a flush recovered with nothing
//! lost, and a cache owner crash combined with a driver crash.

use std::cell::RefCell;
use std::rc::Rc;

use libbdev::{Access, Bdev, BdevDevice, BdevError, FaultKind, FaultOps, SimClock, SimDriver};
use libminixfs::{BlockDevice, Cache, CacheError, How, bio};

const BS: usize = 4096;
const DEV: u32 = 7;
const NBLOCKS: u64 = 256;

type Client = Rc<RefCell<Bdev<SimDriver>>>;

fn sim() -> Client {
    let d = SimDriver::new(SimClock::new())
        .with_minor(0, NBLOCKS * BS as u64)
        .with_latency_ns(200_000);
    Bdev::shared(d)
}

fn handle(client: &Client) -> Box<dyn BlockDevice> {
    Box::new(BdevDevice::open(client, 0, Access::RW).unwrap())
}

fn setup() -> (Cache, Client) {
    let client = sim();
    // Recognisable contents: block b is filled with b.
    {
        let mut c = client.borrow_mut();
        for b in 0..NBLOCKS {
            c.driver_mut().write_raw(0, b * BS as u64, &[b as u8; BS]);
        }
    }
    let cache = Cache::new(128);
    cache.attach(DEV, handle(&client), BS).unwrap();
    (cache, client)
}

fn device_block(client: &Client, b: u64) -> Vec<u8> {
    let mut v = vec![0u8; BS];
    client.borrow().driver().read_raw(0, b * BS as u64, &mut v);
    v
}

fn dirty(cache: &Cache, b: u64, v: u8) {
    cache.zero_block(DEV, b).unwrap().data_mut().fill(v);
}

#[test]
fn transient_read_and_write_errors_are_retried() {
    let (cache, client) = setup();
    client.borrow_mut().driver_mut().fail_blocks(
        0,
        BS as u64,
        10..11,
        FaultKind::Transient { failures: 3 },
        FaultOps::Both,
    );
    let b = cache.get_block(DEV, 10, How::Normal).unwrap();
    assert_eq!(b.data()[0], 10);
    drop(b);
    client.borrow_mut().driver_mut().fail_blocks(
        0,
        BS as u64,
        20..22,
        FaultKind::Transient { failures: 4 },
        FaultOps::Write,
    );
    dirty(&cache, 20, 0xaa);
    dirty(&cache, 21, 0xbb);
    assert_eq!(cache.flush_all().unwrap(), 2);
    assert_eq!(device_block(&client, 21), vec![0xbb; BS]);
    assert!(client.borrow().stats().io_retries >= 7);
    assert_eq!(cache.counters().flush_requests, 1);
}

#[test]
fn permanent_read_error_is_returned() {
    let (cache, client) = setup();
    client.borrow_mut().driver_mut().fail_blocks(
        0,
        BS as u64,
        30..31,
        FaultKind::Permanent,
        FaultOps::Read,
    );
    assert_eq!(
        cache.get_block(DEV, 30, How::Normal).unwrap_err(),
        CacheError::Device(BdevError::Io)
    );
    assert!(!cache.is_cached(DEV, 30));
    // A prefetch over the bad block fails as a whole, caching nothing...
    assert_eq!(
        cache.prefetch(DEV, &[28, 29, 30, 31]).unwrap_err(),
        CacheError::Device(BdevError::Io)
    );
    assert!(!cache.is_cached(DEV, 28));
    // ...but the good blocks can still be read one by one.
    assert_eq!(cache.get_block(DEV, 29, How::Normal).unwrap().data()[0], 29);
    // bio reports the error only when nothing was transferred.
    let mut buf = vec![0u8; 3 * BS];
    assert_eq!(
        bio::read(&cache, DEV, 29 * BS as u64, &mut buf).unwrap(),
        BS
    );
    assert_eq!(
        bio::read(&cache, DEV, 30 * BS as u64, &mut buf).unwrap_err(),
        CacheError::Device(BdevError::Io)
    );
}

#[test]
fn permanent_write_error_returned_block_kept_dirty() {
    let (cache, client) = setup();
    client.borrow_mut().driver_mut().fail_blocks(
        0,
        BS as u64,
        41..42,
        FaultKind::Permanent,
        FaultOps::Write,
    );
    for b in 40..44 {
        dirty(&cache, b, 0xc0 + b as u8);
    }
    let err = cache.flush_dev(DEV).unwrap_err();
    assert_eq!(err, CacheError::Device(BdevError::Io));
    // The run failed; written block by block, only the bad block is left.
    for b in [40, 42, 43] {
        assert_eq!(device_block(&client, b), vec![0xc0 + b as u8; BS]);
    }
    assert_eq!(cache.dirty_count(DEV), 1);
    assert_eq!(cache.counters().flush_requests, 5);
    client.borrow_mut().driver_mut().clear_faults();
    assert_eq!(cache.flush_dev(DEV).unwrap(), 1);
    for b in 40..44 {
        assert_eq!(device_block(&client, b), vec![0xc0 + b as u8; BS]);
    }
}

#[test]
fn driver_crash_mid_flush_loses_nothing() {
    let (cache, client) = setup();
    for b in (0..200).step_by(3).chain(100..180) {
        dirty(&cache, b, (b as u8).wrapping_mul(3) ^ 0x5a);
    }
    let expected: Vec<(u64, u8)> = (0..200)
        .filter(|b| b % 3 == 0 || (100..180).contains(b))
        .map(|b| (b, (b as u8).wrapping_mul(3) ^ 0x5a))
        .collect();
    // The driver dies in the third write request, after 5000 bytes.
    client.borrow_mut().driver_mut().crash_mid_transfer(3, 5000);
    let n = cache.flush_all();
    // Eviction may already have flushed some; every block is on the device now.
    assert!(n.is_ok(), "{n:?}");
    assert_eq!(cache.dirty_count(DEV), 0);
    for (b, v) in &expected {
        assert_eq!(device_block(&client, *b), vec![*v; BS], "block {b}");
    }
    let st = client.borrow().driver().stats();
    assert_eq!(st.crashes, 1);
    assert_eq!(st.reconnects, 1);
}

#[test]
fn driver_gone_for_good_then_back() {
    let (cache, client) = setup();
    dirty(&cache, 5, 0x55);
    {
        let mut c = client.borrow_mut();
        c.driver_mut().crash_now();
        c.driver_mut().fail_reconnects(100);
    }
    assert_eq!(
        cache.flush_all().unwrap_err(),
        CacheError::Device(BdevError::DeadDriver)
    );
    assert_eq!(cache.dirty_count(DEV), 1);
    client.borrow_mut().driver_mut().fail_reconnects(0);
    assert_eq!(cache.flush_all().unwrap(), 1);
    assert_eq!(device_block(&client, 5), vec![0x55; BS]);
}

#[test]
fn owner_crash_and_driver_crash_together() {
    let (cache, client) = setup();
    for b in 60..70 {
        dirty(&cache, b, 0x60);
    }
    let region = cache.crash();
    // The driver dies too; the new owner opens the device again.
    client.borrow_mut().driver_mut().crash_now();
    let (cache, report) = Cache::adopt(region);
    assert_eq!(report.kept_dirty, 10);
    cache.attach(DEV, handle(&client), BS).unwrap();
    assert_eq!(cache.flush_all().unwrap(), 10);
    for b in 60..70 {
        assert_eq!(device_block(&client, b), vec![0x60; BS]);
    }
}

#[test]
fn sim_device_size_not_multiple_of_block_size() {
    let client: Client =
        Bdev::shared(SimDriver::new(SimClock::new()).with_minor(0, 3 * BS as u64 + 512));
    let cache = Cache::new(16);
    cache.attach(DEV, handle(&client), BS).unwrap();
    let data = vec![0x33u8; 2 * BS];
    assert_eq!(
        bio::write(&cache, DEV, 2 * BS as u64, &data).unwrap(),
        BS + 512
    );
    assert_eq!(
        bio::write(&cache, DEV, 3 * BS as u64 + 512, &data).unwrap(),
        0
    );
    bio::flush(&cache, DEV).unwrap();
    let all = client.borrow().driver().contents(0).unwrap();
    assert!(all[2 * BS..].iter().all(|&x| x == 0x33));
    let mut buf = vec![0u8; 2 * BS];
    assert_eq!(
        bio::read(&cache, DEV, 3 * BS as u64 + 100, &mut buf).unwrap(),
        412
    );
}

#[test]
fn bad_block_ahead_does_not_fail_sequential_reads() {
    let (cache, client) = setup();
    client.borrow_mut().driver_mut().fail_blocks(
        0,
        BS as u64,
        50..51,
        FaultKind::Permanent,
        FaultOps::Read,
    );
    for b in 0..50 {
        let blk = cache.get_block(DEV, b, How::Normal).unwrap();
        assert_eq!(blk.data()[0], b as u8);
    }
    assert_eq!(
        cache.get_block(DEV, 50, How::Normal).unwrap_err(),
        CacheError::Device(BdevError::Io)
    );
    for b in 51..120 {
        assert_eq!(
            cache.get_block(DEV, b, How::Normal).unwrap().data()[0],
            b as u8
        );
    }
    // Sequential bio reads across the bad block stop short of it.
    let mut buf = vec![0u8; 64 * BS];
    cache.invalidate(DEV);
    assert_eq!(bio::read(&cache, DEV, 0, &mut buf).unwrap(), 50 * BS);
}
