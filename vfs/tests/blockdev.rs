//! Block-special files (MINIX test85 through VFS): I/O on a block device
//! node goes to the file server hosting the node and through libminixfs
//! `bio`; devices of `b*bs ± 512` bytes; reads and writes at the six EOF
//! positions in random order (the cases of `test85_cases`, shared with the
//! in-guest runners); after close the backing bytes equal the reference.

mod common;

use common::*;
use libbdev::{Access, BdevDevice, SimDriver};
use libminixfs::BlockDevice;
use mfs::server::MfsConfig;
use sim::devices::SharedDriver;
use std::cell::RefCell;
use std::rc::Rc;
use sys::proto::service::Policy;
use sys::proto::vfs::{mode, oflag::*, whence::SEEK_SET};
use test85_cases::{Rng, case, shuffle};

const BS: u64 = 4096;
const RDEV: u32 = 0x0e00;

/// Random bytes from the shared generator.
fn bytes(r: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| r.next_u64() as u8).collect()
}

fn device_bytes(drv: &SharedDriver, size: u64) -> Vec<u8> {
    let mut d = BdevDevice::open_new(drv.clone(), 0, Access::RW).unwrap();
    let mut v = vec![0u8; size as usize];
    let n = d.read_vectored(0, &mut [&mut v[..]]).unwrap();
    assert_eq!(n as u64, size);
    v
}

fn one_image(size: u64, seq: usize, seed: u64) {
    let mut rng = Rng(seed | 1);
    let drv = SharedDriver::new(SimDriver::disk(size));
    let reference = bytes(&mut rng, size as usize);
    {
        let mut d = BdevDevice::open_new(drv.clone(), 0, Access::RW).unwrap();
        d.write_vectored(0, &[&reference[..]]).unwrap();
    }
    let mut w = world_with(
        seed,
        1,
        MfsConfig::default(),
        Policy::Stateful,
        Some((RDEV, drv.clone())),
        4096,
    );
    w.wait_ready();
    let reference = Rc::new(RefCell::new(reference));
    let r2 = reference.clone();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        c.mknod(s, "/vnd0", mode::S_IFBLK | 0o600, RDEV).unwrap();
        let fd = c.open(s, "/vnd0", O_RDWR, 0).unwrap();
        let passes: &[bool] = match seq {
            0 => &[false, true, false],
            _ => &[true, false],
        };
        for &write in passes {
            // Random order of the six cases (caching effects).
            for k in shuffle(&mut rng) {
                let (pos, len, want) = case(k, size, &mut rng);
                assert_eq!(c.lseek(s, fd, pos as i64, SEEK_SET).unwrap(), pos as i64);
                if write {
                    let data = bytes(&mut rng, len as usize);
                    let n = c.write(s, fd, &data).unwrap();
                    assert_eq!(n as u64, want, "write case {k} pos {pos} len {len}");
                    if want > 0 {
                        let mut rf = r2.borrow_mut();
                        rf[pos as usize..(pos + want) as usize]
                            .copy_from_slice(&data[..want as usize]);
                    }
                } else {
                    let d = c.read(s, fd, len as usize).unwrap();
                    assert_eq!(d.len() as u64, want, "read case {k} pos {pos} len {len}");
                    if want > 0 {
                        assert_eq!(&d[..], &r2.borrow()[pos as usize..(pos + want) as usize]);
                    }
                }
            }
        }
        c.close(s, fd).unwrap();
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
    // Flushed on close: the backing bytes equal the reference.
    assert!(
        device_bytes(&drv, size) == *reference.borrow(),
        "size {size} seq {seq}"
    );
}

#[test]
fn test85_block_special_eof_handling() {
    let mut seed = 1;
    for blocks in [1u64, 4, 3, 5, 2] {
        for size in [blocks * BS + 512, blocks * BS, blocks * BS - 512] {
            for seq in 0..2 {
                one_image(size, seq, seed);
                seed += 1;
            }
        }
    }
}

#[test]
fn unknown_device_is_enxio() {
    let mut w = world(2, 1, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        c.mknod(s, "/nodev", mode::S_IFBLK | 0o600, 0x0700).unwrap();
        let fd = c.open(s, "/nodev", O_RDWR, 0).unwrap();
        assert_eq!(c.read(s, fd, 10), Err(sys::Errno::ENXIO));
        assert_eq!(c.write(s, fd, b"x"), Err(sys::Errno::ENXIO));
        c.close(s, fd).unwrap();
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
}
