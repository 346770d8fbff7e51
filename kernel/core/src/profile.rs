//! A statistical profiler for one process (kernel option `profile=NAME`,
//! after MINIX's `sprofile`): at every clock tick that finds the named
//! process running in user mode, its instruction pointer is counted. At
//! the end of the run the kernel prints the hottest addresses, which the
//! host maps to functions with `addr2line -f -e target/os/.../NAME`.
//!
//! Bounded: at most [`MAX_SITES`] distinct addresses are kept; samples at
//! new addresses beyond that are only counted as dropped.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

/// Distinct addresses kept.
pub const MAX_SITES: usize = 8192;

/// Samples of one process.
#[derive(Debug, Default, Clone)]
pub struct Profile {
    /// Name of the profiled process (every instance with this name).
    pub target: String,
    samples: BTreeMap<u64, u32>,
    /// Samples taken.
    pub total: u64,
    /// Samples at new addresses once the table was full.
    pub dropped: u64,
}

impl Profile {
    /// A profile of the processes named `target`.
    pub fn new(target: &str) -> Self {
        Profile {
            target: String::from(target),
            ..Profile::default()
        }
    }

    /// Counts one sample at `rip`.
    pub fn record(&mut self, rip: u64) {
        self.total += 1;
        if let Some(n) = self.samples.get_mut(&rip) {
            *n = n.saturating_add(1);
        } else if self.samples.len() < MAX_SITES {
            self.samples.insert(rip, 1);
        } else {
            self.dropped += 1;
        }
    }

    /// The `n` addresses with the most samples, most first (ties: lower
    /// address first).
    pub fn top(&self, n: usize) -> Vec<(u64, u32)> {
        let mut v: Vec<(u64, u32)> = self.samples.iter().map(|(&a, &c)| (a, c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_ranks_and_bounds() {
        let mut p = Profile::new("vfs");
        for rip in [0x10, 0x20, 0x10, 0x30, 0x10, 0x20] {
            p.record(rip);
        }
        assert_eq!(p.total, 6);
        assert_eq!(p.top(2), [(0x10, 3), (0x20, 2)]);
        let mut full = Profile::new("x");
        for rip in 0..(MAX_SITES as u64 + 5) {
            full.record(rip);
        }
        full.record(0);
        assert_eq!(full.dropped, 5);
        assert_eq!(full.top(1), [(0, 2)]);
        assert_eq!(full.total, MAX_SITES as u64 + 6);
    }
}
