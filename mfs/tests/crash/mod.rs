//! CrashMonkey-style crash states for MFS (OSDI 2018: record the block
//! writes of a workload, rebuild the disk as a power cut could have left
//! it, check it).
//!
//! * [`RecordingDevice`]: a block device over an in-memory image that logs
//!   every block write (split into file-system blocks, each written whole
//!   or not at all) and every flush barrier.
//! * [`CrashStates`]: from a log, the states a power cut can leave: at
//!   every barrier (everything before it durable), and at points between
//!   barriers, where any subset of the current epoch's writes up to the cut
//!   may have reached the disk, in any order.
//! * [`examine`]: runs fsck on a state (check, then repair if needed, then
//!   an independent re-check) and reads back the files fsync'd before the
//!   cut; [`Tally`] counts the outcomes.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use libbdev::{BdevError, BlockDevice};
use mfs::fsck::{self, EXIT_CLEAN, EXIT_CORRECTED, FindingKind, Options};
use mfs::mkfs::VecDevice;
use mfs::{FileSystem, MemBlocks, MountOptions};

/// One recorded device request.
#[derive(Debug, Clone)]
pub enum Op {
    /// A whole block written at byte `pos`.
    Write { pos: usize, data: Vec<u8> },
    /// A flush: everything before it is durable.
    Barrier,
}

/// The log and the live image behind a [`RecordingDevice`].
#[derive(Debug, Default)]
pub struct Log {
    /// The image as the device holds it (every write applied).
    pub image: Vec<u8>,
    /// Every write and barrier since recording started.
    pub ops: Vec<Op>,
    /// Unit in which writes are split (and atomic).
    pub unit: usize,
}

/// A block device that records writes and barriers.
#[derive(Clone)]
pub struct RecordingDevice(pub Rc<RefCell<Log>>);

impl RecordingDevice {
    /// Records writes to `image`, block-atomic in `unit` bytes.
    pub fn new(image: Vec<u8>, unit: usize) -> RecordingDevice {
        RecordingDevice(Rc::new(RefCell::new(Log {
            image,
            ops: Vec::new(),
            unit,
        })))
    }

    /// Number of log entries so far (a position in the log).
    pub fn pos(&self) -> usize {
        self.0.borrow().ops.len()
    }
}

impl BlockDevice for RecordingDevice {
    fn read_vectored(&mut self, pos: u64, bufs: &mut [&mut [u8]]) -> libbdev::Result<usize> {
        let log = self.0.borrow();
        let mut p = usize::try_from(pos).map_err(|_| BdevError::Invalid)?;
        let mut total = 0;
        for b in bufs.iter_mut() {
            let n = b.len().min(log.image.len().saturating_sub(p));
            b[..n].copy_from_slice(&log.image[p..p + n]);
            total += n;
            p += n;
            if n < b.len() {
                break;
            }
        }
        Ok(total)
    }

    fn write_vectored(&mut self, pos: u64, bufs: &[&[u8]]) -> libbdev::Result<usize> {
        let mut log = self.0.borrow_mut();
        let mut p = usize::try_from(pos).map_err(|_| BdevError::Invalid)?;
        let mut total = 0;
        let unit = log.unit;
        for b in bufs {
            if p + b.len() > log.image.len() {
                break;
            }
            log.image[p..p + b.len()].copy_from_slice(b);
            for (k, chunk) in b.chunks(unit).enumerate() {
                log.ops.push(Op::Write {
                    pos: p + k * unit,
                    data: chunk.to_vec(),
                });
            }
            p += b.len();
            total += b.len();
        }
        Ok(total)
    }

    fn size(&mut self) -> libbdev::Result<u64> {
        Ok(self.0.borrow().image.len() as u64)
    }

    fn flush(&mut self) -> libbdev::Result<()> {
        self.0.borrow_mut().ops.push(Op::Barrier);
        Ok(())
    }
}

/// A small deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (any seed, 0 included).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    /// Next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
}

/// One crash state: the image and where in the log the cut fell.
pub struct CrashState {
    /// The disk as the cut left it.
    pub image: Vec<u8>,
    /// Every log entry before this position was durable (a barrier
    /// followed it).
    pub durable: usize,
    /// The cut: no write at or after this position reached the disk.
    pub cut: usize,
    /// Made at a barrier (not a reordering inside an epoch).
    pub at_barrier: bool,
}

/// Builds the crash states of a log over `base`: one at every barrier and
/// `per_epoch` random ones inside each epoch (a random cut, then a random
/// subset of the epoch's writes before it, applied in random order).
pub fn crash_states(
    base: &[u8],
    ops: &[Op],
    per_epoch: usize,
    rng: &mut Rng,
    mut visit: impl FnMut(CrashState),
) {
    let mut durable = base.to_vec();
    let mut start = 0;
    let apply = |img: &mut Vec<u8>, op: &Op| {
        if let Op::Write { pos, data } = op {
            img[*pos..*pos + data.len()].copy_from_slice(data);
        }
    };
    for (i, op) in ops.iter().enumerate() {
        if !matches!(op, Op::Barrier) {
            continue;
        }
        let epoch: Vec<usize> = (start..i).collect();
        if !epoch.is_empty() {
            // Inside the epoch: a cut, and any subset of the writes before
            // it, in any order.
            for _ in 0..per_epoch {
                let cut = start + 1 + rng.below(epoch.len());
                let mut chosen: Vec<usize> = (start..cut).filter(|_| rng.chance(50)).collect();
                for k in (1..chosen.len()).rev() {
                    chosen.swap(k, rng.below(k + 1));
                }
                let mut img = durable.clone();
                for &w in &chosen {
                    apply(&mut img, &ops[w]);
                }
                visit(CrashState {
                    image: img,
                    durable: start,
                    cut,
                    at_barrier: false,
                });
            }
        }
        for &w in &epoch {
            apply(&mut durable, &ops[w]);
        }
        start = i + 1;
        visit(CrashState {
            image: durable.clone(),
            durable: start,
            cut: start,
            at_barrier: true,
        });
    }
}

/// A file made durable by fsync: where, what, and for which cuts it holds.
#[derive(Debug, Clone)]
pub struct Synced {
    /// Its path when fsync returned.
    pub path: String,
    /// Its contents then.
    pub data: Vec<u8>,
    /// Log position when fsync returned.
    pub at: usize,
    /// Log position of the first later operation that changed the file or
    /// its path (from there on the cut may show either state).
    pub until: usize,
}

/// How one crash state came out.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Error findings of the check, by kind, and whether each was a leak.
    pub findings: Vec<(FindingKind, bool, String)>,
    /// The repair exited with errors left, or the re-check was not clean.
    pub repair_failed: Option<String>,
    /// fsync'd files that did not read back as synced.
    pub lost: Vec<String>,
}

impl Outcome {
    /// The check found a problem that is not a leak.
    pub fn damaged(&self) -> bool {
        self.findings.iter().any(|f| !f.1)
    }
}

/// Checks one crash state: fsck check; if it finds errors, repair and an
/// independent re-check; then every file in `synced` (those valid for
/// this cut) must read back with its synced contents.
pub fn examine(state: &CrashState, synced: &[Synced]) -> Outcome {
    let mut out = Outcome::default();
    let mut dev = VecDevice::new(state.image.clone());
    let r = fsck::fsck(&mut dev, Options { repair: false });
    if let Some(f) = &r.fatal {
        out.repair_failed = Some(format!("cannot check: {f}"));
        return out;
    }
    for f in r.errors() {
        out.findings.push((f.kind, f.leak, f.to_string()));
    }
    let image = if r.exit_code() == EXIT_CLEAN {
        dev.into_inner()
    } else {
        let mut dev = VecDevice::new(state.image.clone());
        let rep = fsck::fsck(&mut dev, Options { repair: true });
        if rep.exit_code() != EXIT_CORRECTED && rep.exit_code() != EXIT_CLEAN {
            out.repair_failed = Some(format!(
                "repair exit {}: {:?}",
                rep.exit_code(),
                rep.findings
            ));
        }
        let img = dev.into_inner();
        let again = fsck::check_bytes(&img);
        if again.exit_code() != EXIT_CLEAN {
            out.repair_failed = Some(format!("re-check after repair: {:?}", again.findings));
        }
        img
    };
    let live: Vec<&Synced> = synced
        .iter()
        .filter(|s| s.at <= state.durable && state.cut <= s.until)
        .collect();
    if live.is_empty() {
        return out;
    }
    let opts = MountOptions {
        read_only: true,
        force_rw_unclean: false,
    };
    let mut fs = match FileSystem::mount(MemBlocks::new(image), opts) {
        Ok(fs) => fs,
        Err(e) => {
            out.lost.push(format!("mount after repair: {e}"));
            return out;
        }
    };
    for s in live {
        match fs.read_path(s.path.as_bytes()) {
            Ok(d) if d == s.data => {}
            Ok(d) => out.lost.push(format!(
                "{}: {} bytes read back, {} synced",
                s.path,
                d.len(),
                s.data.len()
            )),
            Err(e) => out.lost.push(format!("{}: {e:?}", s.path)),
        }
    }
    out
}

/// Counts over many crash states.
#[derive(Debug, Default)]
pub struct Tally {
    /// States examined.
    pub states: usize,
    /// Of those, made at a barrier.
    pub at_barrier: usize,
    /// States the check found clean.
    pub clean: usize,
    /// States that needed only a leak repair.
    pub leak_only: usize,
    /// States with a problem that is not a leak.
    pub damaged: usize,
    /// States whose repair failed or left a re-check unclean.
    pub repair_failed: usize,
    /// States that lost fsync'd data.
    pub lost: usize,
    /// fsync'd files checked, summed over states.
    pub synced_checked: usize,
    /// Findings by kind: (leak, not leak).
    pub kinds: BTreeMap<&'static str, (usize, usize)>,
    /// A few examples of damage, for the report.
    pub examples: Vec<String>,
}

impl Tally {
    /// Adds one state's outcome.
    pub fn add(&mut self, state: &CrashState, synced: &[Synced], o: &Outcome) {
        self.states += 1;
        self.at_barrier += usize::from(state.at_barrier);
        self.synced_checked += synced
            .iter()
            .filter(|s| s.at <= state.durable && state.cut <= s.until)
            .count();
        if o.findings.is_empty() {
            self.clean += 1;
        } else if o.damaged() {
            self.damaged += 1;
        } else {
            self.leak_only += 1;
        }
        for (k, leak, _) in &o.findings {
            let e = self.kinds.entry(k.name()).or_default();
            if *leak {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
        self.repair_failed += usize::from(o.repair_failed.is_some());
        self.lost += usize::from(!o.lost.is_empty());
        if (o.damaged() || o.repair_failed.is_some() || !o.lost.is_empty())
            && self.examples.len() < 6
        {
            let mut s = format!(
                "cut at {} (durable to {}{}):",
                state.cut,
                state.durable,
                if state.at_barrier { ", barrier" } else { "" }
            );
            for (_, _, f) in o.findings.iter().filter(|f| !f.1).take(3) {
                s += &format!("\n    {f}");
            }
            if let Some(r) = &o.repair_failed {
                s += &format!("\n    repair: {}", &r[..r.len().min(1500)]);
            }
            for l in o.lost.iter().take(3) {
                s += &format!("\n    lost {l}");
            }
            self.examples.push(s);
        }
    }

    /// A printable summary.
    pub fn summary(&self, what: &str) -> String {
        let mut s = format!(
            "{what}: {} crash states ({} at barriers, {} inside epochs): {} clean, {} needed a leak-only repair, {} damaged beyond leaks, {} failed repair, {} lost fsync'd data ({} fsync'd files checked)",
            self.states,
            self.at_barrier,
            self.states - self.at_barrier,
            self.clean,
            self.leak_only,
            self.damaged,
            self.repair_failed,
            self.lost,
            self.synced_checked
        );
        for (k, (leak, other)) in &self.kinds {
            s += &format!("\n  {k}: {leak} leak findings, {other} other");
        }
        for e in &self.examples {
            s += &format!("\n  example {e}");
        }
        s
    }
}
