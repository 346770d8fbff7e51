//! [`MemDriver`]: an in-memory block driver for tests and host tools.
//!
//! Each minor is a byte vector of any length (a multiple of 512 like a real
//! disk, or not). Transfers are byte-granular and cut short at the end of
//! the minor. The driver never dies, so [`Driver::reconnect`] keeps its
//! default. It does not require minors to be opened before use, but counts
//! opens so tests can check the client's bookkeeping.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use crate::segs::{clip, copy_in, copy_out, total_len};
use crate::{Access, BdevError, Driver, Minor, Result};

#[derive(Debug, Clone)]
struct MemMinor {
    data: Vec<u8>,
    read_only: bool,
    opens: u32,
}

/// An in-memory driver with any number of minors.
#[derive(Debug, Clone, Default)]
pub struct MemDriver {
    minors: BTreeMap<Minor, MemMinor>,
    requests: u64,
}

impl MemDriver {
    /// A driver with no minors.
    pub fn new() -> Self {
        Self::default()
    }

    /// A driver whose minor 0 is `size` zero bytes.
    pub fn with_size(size: usize) -> Self {
        let mut d = Self::new();
        d.add_minor(0, vec![0; size]);
        d
    }

    /// Add (or replace) `minor` with the given contents; its size is
    /// `data.len()`.
    pub fn add_minor(&mut self, minor: Minor, data: Vec<u8>) -> &mut Self {
        self.minors.insert(
            minor,
            MemMinor {
                data,
                read_only: false,
                opens: 0,
            },
        );
        self
    }

    /// Make `minor` read-only: opens asking for write access fail with
    /// `ReadOnly`, and so do writes. Unknown minors are ignored.
    pub fn set_read_only(&mut self, minor: Minor, read_only: bool) -> &mut Self {
        if let Some(m) = self.minors.get_mut(&minor) {
            m.read_only = read_only;
        }
        self
    }

    /// Contents of `minor`.
    pub fn data(&self, minor: Minor) -> Option<&[u8]> {
        self.minors.get(&minor).map(|m| m.data.as_slice())
    }

    /// Contents of `minor`, mutably (the size cannot change through this).
    pub fn data_mut(&mut self, minor: Minor) -> Option<&mut [u8]> {
        self.minors.get_mut(&minor).map(|m| m.data.as_mut_slice())
    }

    /// Remove `minor` and return its contents.
    pub fn take_minor(&mut self, minor: Minor) -> Option<Vec<u8>> {
        self.minors.remove(&minor).map(|m| m.data)
    }

    /// Opens minus closes the driver has seen for `minor`.
    pub fn open_count(&self, minor: Minor) -> u32 {
        self.minors.get(&minor).map_or(0, |m| m.opens)
    }

    /// Requests handled so far (every trait call counts).
    pub fn requests(&self) -> u64 {
        self.requests
    }

    fn get(&mut self, minor: Minor) -> Result<&mut MemMinor> {
        self.requests += 1;
        self.minors.get_mut(&minor).ok_or(BdevError::NoDevice)
    }
}

impl Driver for MemDriver {
    fn open(&mut self, minor: Minor, access: Access) -> Result<()> {
        let m = self.get(minor)?;
        if access.write && m.read_only {
            return Err(BdevError::ReadOnly);
        }
        m.opens += 1;
        Ok(())
    }

    fn close(&mut self, minor: Minor) -> Result<()> {
        let m = self.get(minor)?;
        m.opens = m.opens.saturating_sub(1);
        Ok(())
    }

    fn gather(&mut self, minor: Minor, pos: u64, bufs: &mut [&mut [u8]]) -> Result<usize> {
        let m = self.get(minor)?;
        Ok(copy_out(&m.data, pos, bufs, usize::MAX))
    }

    fn scatter(&mut self, minor: Minor, pos: u64, bufs: &[&[u8]]) -> Result<usize> {
        let m = self.get(minor)?;
        if m.read_only {
            return Err(BdevError::ReadOnly);
        }
        let n = clip(pos, total_len(bufs), m.data.len() as u64);
        Ok(copy_in(&mut m.data, pos, bufs, n))
    }

    fn size(&mut self, minor: Minor) -> Result<u64> {
        Ok(self.get(minor)?.data.len() as u64)
    }

    fn flush(&mut self, minor: Minor) -> Result<()> {
        self.get(minor).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_granular_and_short_at_end() {
        let mut d = MemDriver::new();
        d.add_minor(3, vec![0; 1000]);
        assert_eq!(d.size(3), Ok(1000));
        assert_eq!(d.scatter(3, 998, &[&[1, 2, 3, 4]]), Ok(2));
        let mut a = [0u8; 2];
        let mut b = [9u8; 3];
        assert_eq!(d.gather(3, 997, &mut [&mut a, &mut b]), Ok(3));
        assert_eq!(a, [0, 1]);
        assert_eq!(b, [2, 9, 9]);
        assert_eq!(d.gather(3, 1000, &mut [&mut a]), Ok(0));
        assert_eq!(d.scatter(3, 5000, &[&[1]]), Ok(0));
        assert_eq!(d.size(4), Err(BdevError::NoDevice));
    }

    #[test]
    fn read_only_minor() {
        let mut d = MemDriver::with_size(512);
        d.set_read_only(0, true);
        assert_eq!(d.open(0, Access::RW), Err(BdevError::ReadOnly));
        assert_eq!(d.open(0, Access::R), Ok(()));
        assert_eq!(d.scatter(0, 0, &[&[1]]), Err(BdevError::ReadOnly));
        assert_eq!(d.open_count(0), 1);
    }
}
