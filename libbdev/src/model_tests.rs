//! Property test: random request sequences through [`Bdev`] over a
//! [`SimDriver`] that injects transient and permanent errors, crashes (now,
//! at the Nth request, mid-transfer, during recovery) and in-place restarts,
//! checked against a plain byte-vector model of each minor.
//!
//! Checked after every step: the call's result is exactly what the retry
//! rules promise (success with the EOF-clipped byte count when every
//! disturbance is recoverable; `Io` after exactly 5 attempts on a permanent
//! fault; `Invalid` for more than 64 segments), read data equals the model,
//! the device equals the model byte for byte, the live driver instance has
//! each minor open exactly as often as the client does, and the client's
//! bookkeeping matches the model's open counts.

use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use crate::segs::clip;
use crate::{
    Access, Bdev, BdevError, Driver, FaultKind, FaultOps, MAX_SEGMENTS, Minor, SimDriver,
    TRANSFER_TRIES,
};

/// What goes wrong during one step.
#[derive(Debug, Clone)]
enum Disturb {
    None,
    /// A transient fault at `at` (fraction of the transfer, in 1/256) failing
    /// `failures` (1..=4) times: always recovered.
    Transient {
        at: u8,
        len: u16,
        failures: u32,
    },
    /// A permanent fault inside the transfer: the transfer fails with Io
    /// after exactly TRANSFER_TRIES attempts, writes keep their prefix.
    Permanent {
        at: u8,
        len: u16,
    },
    /// The driver is dead before the step.
    CrashNow,
    /// The driver dies at its `k`th request from now (may hit a retry, a
    /// reopen during recovery, or a later step).
    CrashAt {
        k: u64,
    },
    /// The driver dies in the step's first request after moving `bytes`.
    CrashMid {
        bytes: usize,
    },
    /// Dead now, and the first instance after it dies in its first request
    /// (the reopen): recovery needs its second round.
    CrashTwice,
    /// Restart keeping the endpoint: only Restart answers.
    RestartInPlace,
    /// A transient fault and a mid-transfer crash in the same step.
    TransientAndCrash {
        at: u8,
        failures: u32,
        bytes: usize,
    },
}

#[derive(Debug, Clone)]
enum Op {
    Read {
        minor: Minor,
        pos: u64,
        len: usize,
    },
    Write {
        minor: Minor,
        pos: u64,
        len: usize,
        seed: u8,
    },
    Gather {
        minor: Minor,
        pos: u64,
        lens: Vec<usize>,
    },
    Scatter {
        minor: Minor,
        pos: u64,
        lens: Vec<usize>,
        seed: u8,
    },
    TooManySegments {
        minor: Minor,
        write: bool,
    },
    Size {
        minor: Minor,
    },
    Flush {
        minor: Minor,
    },
    Open {
        minor: Minor,
    },
    Close {
        minor: Minor,
    },
}

fn disturb() -> impl Strategy<Value = Disturb> {
    prop_oneof![
        6 => Just(Disturb::None),
        3 => (any::<u8>(), 1u16..600, 1u32..TRANSFER_TRIES)
            .prop_map(|(at, len, failures)| Disturb::Transient { at, len, failures }),
        1 => (any::<u8>(), 1u16..600).prop_map(|(at, len)| Disturb::Permanent { at, len }),
        1 => Just(Disturb::CrashNow),
        2 => (1u64..5).prop_map(|k| Disturb::CrashAt { k }),
        2 => (0usize..4000).prop_map(|bytes| Disturb::CrashMid { bytes }),
        1 => Just(Disturb::CrashTwice),
        1 => Just(Disturb::RestartInPlace),
        1 => (any::<u8>(), 1u32..TRANSFER_TRIES, 0usize..4000)
            .prop_map(|(at, failures, bytes)| Disturb::TransientAndCrash { at, failures, bytes }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let minor = 0u32..2;
    let pos = 0u64..10_000;
    let lens = prop::collection::vec(0usize..1500, 1..8);
    prop_oneof![
        3 => (minor.clone(), pos.clone(), 0usize..3000)
            .prop_map(|(minor, pos, len)| Op::Read { minor, pos, len }),
        3 => (minor.clone(), pos.clone(), 0usize..3000, any::<u8>())
            .prop_map(|(minor, pos, len, seed)| Op::Write { minor, pos, len, seed }),
        3 => (minor.clone(), pos.clone(), lens.clone())
            .prop_map(|(minor, pos, lens)| Op::Gather { minor, pos, lens }),
        3 => (minor.clone(), pos, lens, any::<u8>())
            .prop_map(|(minor, pos, lens, seed)| Op::Scatter { minor, pos, lens, seed }),
        1 => (minor.clone(), any::<bool>())
            .prop_map(|(minor, write)| Op::TooManySegments { minor, write }),
        1 => minor.clone().prop_map(|minor| Op::Size { minor }),
        1 => minor.clone().prop_map(|minor| Op::Flush { minor }),
        1 => minor.clone().prop_map(|minor| Op::Open { minor }),
        1 => minor.prop_map(|minor| Op::Close { minor }),
    ]
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8) | 1)
        .collect()
}

/// Byte range of a transfer after clipping at the device end.
fn span(op: &Op, sizes: &[u64; 2]) -> Option<(Minor, u64, usize)> {
    let (minor, pos, len) = match op {
        Op::Read { minor, pos, len }
        | Op::Write {
            minor, pos, len, ..
        } => (*minor, *pos, *len),
        Op::Gather { minor, pos, lens }
        | Op::Scatter {
            minor, pos, lens, ..
        } => (*minor, *pos, lens.iter().sum()),
        _ => return None,
    };
    Some((minor, pos, clip(pos, len, sizes[minor as usize])))
}

fn is_write(op: &Op) -> bool {
    matches!(op, Op::Write { .. } | Op::Scatter { .. })
}

struct Harness {
    bdev: Bdev<SimDriver>,
    model: [Vec<u8>; 2],
    sizes: [u64; 2],
    opens: [u32; 2],
    /// Whether some open asked for write access (the union of access bits).
    writable: [bool; 2],
}

impl Harness {
    fn new(size0_sectors: u64, size1: u64, opens0: u32, opens1: u32) -> Self {
        let sizes = [size0_sectors * 512, size1];
        let sim = SimDriver::disk(sizes[0]).with_minor(1, sizes[1]);
        let mut bdev = Bdev::new(sim);
        for _ in 0..opens0 {
            bdev.open(0, Access::RW).unwrap();
        }
        for i in 0..opens1 {
            // Mixed access bits: reopen must use their union.
            bdev.open(1, if i == 0 { Access::R } else { Access::RW })
                .unwrap();
        }
        Harness {
            bdev,
            model: [vec![0; sizes[0] as usize], vec![0; sizes[1] as usize]],
            sizes,
            opens: [opens0, opens1],
            writable: [true, opens1 > 1],
        }
    }

    fn driver(&mut self) -> &mut SimDriver {
        self.bdev.driver_mut()
    }

    /// Set up the step's disturbance; returns the permanent fault's start
    /// if the transfer must fail with Io.
    fn disturb(&mut self, d: &Disturb, op: &Op) -> Option<u64> {
        let span = span(op, &self.sizes);
        let fault_at = |at: u8| {
            span.filter(|s| s.2 > 0)
                .map(|(m, pos, len)| (m, pos + (len as u64 * u64::from(at)) / 256))
        };
        let ops = if is_write(op) {
            FaultOps::Write
        } else {
            FaultOps::Read
        };
        match *d {
            Disturb::None => {}
            Disturb::Transient { at, len, failures } => {
                if let Some((m, start)) = fault_at(at) {
                    let kind = FaultKind::Transient { failures };
                    self.driver()
                        .fail_bytes(m, start..start + u64::from(len), kind, ops);
                }
            }
            Disturb::Permanent { at, len } => {
                if let Some((m, start)) = fault_at(at) {
                    // Exact attempt counting needs no crash in between.
                    self.driver().cancel_crash();
                    self.driver().fail_bytes(
                        m,
                        start..start + u64::from(len),
                        FaultKind::Permanent,
                        ops,
                    );
                    return Some(start);
                }
            }
            Disturb::CrashNow => self.driver().crash_now(),
            Disturb::CrashAt { k } => self.driver().crash_at_request(k),
            Disturb::CrashMid { bytes } => self.driver().crash_mid_transfer(1, bytes),
            Disturb::CrashTwice => {
                // The plan counts requests of live instances: it hits the
                // first reopen after the reconnect.
                self.driver().crash_now();
                self.driver().crash_at_request(1);
            }
            Disturb::RestartInPlace => self.driver().restart_in_place(),
            Disturb::TransientAndCrash {
                at,
                failures,
                bytes,
            } => {
                if let Some((m, start)) = fault_at(at) {
                    let kind = FaultKind::Transient { failures };
                    self.driver().fail_bytes(m, start..start + 64, kind, ops);
                }
                self.driver().crash_mid_transfer(1, bytes);
            }
        }
        None
    }

    fn step(&mut self, op: &Op, d: &Disturb) -> core::result::Result<(), TestCaseError> {
        let mut io_at = self.disturb(d, op);
        if let Some((m, ..)) = span(op, &self.sizes)
            && is_write(op)
            && !self.writable[m as usize]
        {
            // Refused before any request: the fault never fires.
            io_at = None;
        }
        let reads_before = self.bdev.driver().stats().reads + self.bdev.driver().stats().writes;
        let requests_before = self.bdev.driver().stats().requests;
        match op {
            Op::Read { minor, pos, len } => {
                let mut buf = vec![0u8; *len];
                let r = self.bdev.read(*minor, *pos, &mut buf);
                self.check_read(*minor, *pos, *len, io_at, r, &buf)?;
            }
            Op::Gather { minor, pos, lens } => {
                let mut store: Vec<Vec<u8>> = lens.iter().map(|&l| vec![0u8; l]).collect();
                let r = {
                    let mut segs: Vec<&mut [u8]> = store.iter_mut().map(|s| &mut s[..]).collect();
                    self.bdev.gather(*minor, *pos, &mut segs)
                };
                let flat: Vec<u8> = store.concat();
                self.check_read(*minor, *pos, flat.len(), io_at, r, &flat)?;
            }
            Op::Write {
                minor,
                pos,
                len,
                seed,
            } => {
                let data = pattern(*seed, *len);
                let r = self.bdev.write(*minor, *pos, &data);
                self.check_write(*minor, *pos, &data, io_at, r)?;
            }
            Op::Scatter {
                minor,
                pos,
                lens,
                seed,
            } => {
                let total: usize = lens.iter().sum();
                let data = pattern(*seed, total);
                let mut segs: Vec<&[u8]> = Vec::new();
                let mut off = 0;
                for &l in lens {
                    segs.push(&data[off..off + l]);
                    off += l;
                }
                let r = self.bdev.scatter(*minor, *pos, &segs);
                self.check_write(*minor, *pos, &data, io_at, r)?;
            }
            Op::TooManySegments { minor, write } => {
                let r = if *write {
                    let seg = [1u8; 3];
                    let segs = vec![&seg[..]; MAX_SEGMENTS + 1];
                    self.bdev.scatter(*minor, 0, &segs)
                } else {
                    let mut store = [[0u8; 3]; MAX_SEGMENTS + 1];
                    let mut segs: Vec<&mut [u8]> = store.iter_mut().map(|s| &mut s[..]).collect();
                    self.bdev.gather(*minor, 0, &mut segs)
                };
                prop_assert_eq!(r, Err(BdevError::Invalid));
            }
            Op::Size { minor } => {
                prop_assert_eq!(self.bdev.size(*minor), Ok(self.sizes[*minor as usize]));
            }
            Op::Flush { minor } => prop_assert_eq!(self.bdev.flush(*minor), Ok(())),
            Op::Open { minor } => {
                prop_assert_eq!(self.bdev.open(*minor, Access::RW), Ok(()));
                self.opens[*minor as usize] += 1;
                self.writable[*minor as usize] = true;
            }
            Op::Close { minor } => {
                // Keep every minor open at least once so transfers stay valid.
                if self.opens[*minor as usize] > 1 {
                    prop_assert_eq!(self.bdev.close(*minor), Ok(()));
                    self.opens[*minor as usize] -= 1;
                }
            }
        }
        if io_at.is_some() {
            let s = self.bdev.driver().stats();
            prop_assert_eq!(
                s.reads + s.writes - reads_before,
                u64::from(TRANSFER_TRIES),
                "a permanent fault costs exactly TRANSFER_TRIES attempts"
            );
        }
        // Transient faults the step did not use must not leak into the next.
        self.driver().clear_faults();
        let requested = self.bdev.driver().stats().requests != requests_before;
        self.check_state(requested)
    }

    fn check_read(
        &self,
        minor: Minor,
        pos: u64,
        len: usize,
        io_at: Option<u64>,
        r: crate::Result<usize>,
        buf: &[u8],
    ) -> core::result::Result<(), TestCaseError> {
        if io_at.is_some() {
            prop_assert_eq!(r, Err(BdevError::Io));
            return Ok(());
        }
        let n = clip(pos, len, self.sizes[minor as usize]);
        prop_assert_eq!(r, Ok(n));
        if n > 0 {
            let m = &self.model[minor as usize];
            prop_assert!(
                buf[..n] == m[pos as usize..pos as usize + n],
                "read data differs"
            );
        }
        Ok(())
    }

    fn check_write(
        &mut self,
        minor: Minor,
        pos: u64,
        data: &[u8],
        io_at: Option<u64>,
        r: crate::Result<usize>,
    ) -> core::result::Result<(), TestCaseError> {
        if !self.writable[minor as usize] {
            // Refused by the client before any request.
            prop_assert_eq!(r, Err(BdevError::ReadOnly));
            return Ok(());
        }
        let n = clip(pos, data.len(), self.sizes[minor as usize]);
        let stored = match io_at {
            Some(start) => {
                prop_assert_eq!(r, Err(BdevError::Io));
                // The device stored the bytes before the fault.
                (start - pos) as usize
            }
            None => {
                prop_assert_eq!(r, Ok(n));
                n
            }
        };
        if stored > 0 {
            let p = pos as usize;
            self.model[minor as usize][p..p + stored].copy_from_slice(&data[..stored]);
        }
        Ok(())
    }

    /// `requested`: the step sent at least one request, so the client had a
    /// chance to notice any restart.
    fn check_state(&self, requested: bool) -> core::result::Result<(), TestCaseError> {
        let d = self.bdev.driver();
        for m in 0..2u32 {
            let contents = d.contents(m).unwrap();
            prop_assert!(contents == self.model[m as usize], "minor {} differs", m);
            prop_assert_eq!(self.bdev.open_count(m), self.opens[m as usize]);
        }
        if d.is_alive() {
            for m in 0..2u32 {
                let live = d.open_count(m);
                let want = self.opens[m as usize];
                // After a request the live instance holds exactly our opens;
                // a restart with no request since may not be noticed yet.
                prop_assert!(
                    live == want || (!requested && live == 0),
                    "instance has minor {} open {} times, client {} (requested: {})",
                    m,
                    live,
                    want,
                    requested
                );
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn random_requests_with_faults_and_crashes_match_the_model(
        size0 in 1u64..20,
        size1 in 1u64..9000,
        opens0 in 1u32..4,
        opens1 in 1u32..3,
        steps in prop::collection::vec((op(), disturb()), 1..40),
    ) {
        let mut h = Harness::new(size0, size1, opens0, opens1);
        for (op, d) in &steps {
            h.step(op, d)?;
        }
        // Close everything: the final instance ends with no opens.
        for m in 0..2u32 {
            h.driver().cancel_crash();
            for _ in 0..h.opens[m as usize] {
                prop_assert_eq!(h.bdev.close(m), Ok(()));
            }
            prop_assert_eq!(h.bdev.driver().open_count(m), 0);
        }
        prop_assert!(h.bdev.open_minors().is_empty());
    }
}

#[test]
fn driver_trait_is_object_safe_for_boxed_back_ends() {
    let mut b: Bdev<alloc::boxed::Box<dyn Driver>> =
        Bdev::new(alloc::boxed::Box::new(SimDriver::disk(1024)));
    b.open(0, Access::RW).unwrap();
    assert_eq!(b.write(0, 1000, &[1; 100]), Ok(24));
    assert_eq!(b.size(0), Ok(1024));
}

/// Back-end equivalence (FileDriver needs `std`).
#[cfg(feature = "std")]
mod backends {
    use super::*;

    /// One transfer for the back-end equivalence test.
    #[derive(Debug, Clone)]
    enum Xfer {
        Read {
            pos: u64,
            lens: Vec<usize>,
        },
        Write {
            pos: u64,
            lens: Vec<usize>,
            seed: u8,
        },
    }

    fn xfer() -> impl Strategy<Value = Xfer> {
        let lens = prop::collection::vec(0usize..3000, 1..6);
        prop_oneof![
            (0u64..24_000, lens.clone()).prop_map(|(pos, lens)| Xfer::Read { pos, lens }),
            (0u64..24_000, lens, any::<u8>()).prop_map(|(pos, lens, seed)| Xfer::Write {
                pos,
                lens,
                seed
            }),
        ]
    }

    /// Run one transfer on a device; returns the result and the bytes read.
    fn run_xfer(dev: &mut dyn crate::BlockDevice, x: &Xfer) -> (crate::Result<usize>, Vec<u8>) {
        match x {
            Xfer::Read { pos, lens } => {
                let mut store: Vec<Vec<u8>> = lens.iter().map(|&l| vec![0xAA; l]).collect();
                let r = {
                    let mut segs: Vec<&mut [u8]> = store.iter_mut().map(|s| &mut s[..]).collect();
                    dev.read_vectored(*pos, &mut segs)
                };
                (r, store.concat())
            }
            Xfer::Write { pos, lens, seed } => {
                let data = pattern(*seed, lens.iter().sum());
                let mut segs: Vec<&[u8]> = Vec::new();
                let mut off = 0;
                for &l in lens {
                    segs.push(&data[off..off + l]);
                    off += l;
                }
                (dev.write_vectored(*pos, &segs), Vec::new())
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// MemDriver, SimDriver and FileDriver agree byte for byte on every
        /// transfer (EOF clipping included) for any device size.
        #[test]
        fn back_ends_agree(size in 1u64..20_000, xfers in prop::collection::vec(xfer(), 1..30)) {
            use crate::{FileDriver, MemDriver, RawDevice};
            let file = tempfile::tempfile().unwrap();
            file.set_len(size).unwrap();
            let mut mem = RawDevice::new(MemDriver::with_size(size as usize), 0);
            let mut sim = SimDriver::disk(size);
            sim.open(0, Access::RW).unwrap();
            let mut sim = RawDevice::new(sim, 0);
            let mut fdev = RawDevice::new(FileDriver::from_file(file, false), 0);
            for x in &xfers {
                let expect = run_xfer(&mut mem, x);
                let n = match x {
                    Xfer::Read { pos, lens } | Xfer::Write { pos, lens, .. } => {
                        clip(*pos, lens.iter().sum(), size)
                    }
                };
                prop_assert_eq!(expect.0, Ok(n));
                prop_assert_eq!(&run_xfer(&mut sim, x), &expect);
                prop_assert_eq!(&run_xfer(&mut fdev, x), &expect);
            }
            let mut all = vec![0u8; size as usize];
            let contents = mem.driver().data(0).unwrap().to_vec();
            prop_assert_eq!(sim.driver().contents(0).unwrap(), contents.clone());
            prop_assert_eq!(crate::BlockDevice::read_vectored(&mut fdev, 0, &mut [&mut all]), Ok(size as usize));
            prop_assert_eq!(all, contents);
        }
    }
}
