//! A tiny little-endian encoder/decoder for the state blob. Decoding is
//! bounds-checked: a short or malformed blob is `EINVAL`, never a panic.

use alloc::vec::Vec;
use sys::Errno;

/// Appends little-endian fields.
#[derive(Debug, Default)]
pub struct Enc {
    out: Vec<u8>,
}

impl Enc {
    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }
    /// A `u32`.
    pub fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    /// A `u64`.
    pub fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    /// Raw bytes (length known from context).
    pub fn raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }
    /// Length-prefixed (u32) bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.raw(b);
    }
    /// The encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// Reads little-endian fields.
#[derive(Debug)]
pub struct Dec<'a> {
    b: &'a [u8],
}

impl<'a> Dec<'a> {
    /// Decode `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Dec { b }
    }
    /// `n` raw bytes.
    pub fn raw(&mut self, n: usize) -> Result<&'a [u8], Errno> {
        if n > self.b.len() {
            return Err(Errno::EINVAL);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    /// One byte.
    pub fn u8(&mut self) -> Result<u8, Errno> {
        Ok(self.raw(1)?[0])
    }
    /// A `u32`.
    pub fn u32(&mut self) -> Result<u32, Errno> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.raw(4)?);
        Ok(u32::from_le_bytes(a))
    }
    /// A `u64`.
    pub fn u64(&mut self) -> Result<u64, Errno> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.raw(8)?);
        Ok(u64::from_le_bytes(a))
    }
    /// A `u64` that must fit a `usize`.
    pub fn usize(&mut self) -> Result<usize, Errno> {
        usize::try_from(self.u64()?).map_err(|_| Errno::EINVAL)
    }
    /// Length-prefixed (u32) bytes.
    pub fn bytes(&mut self) -> Result<&'a [u8], Errno> {
        let n = self.u32()? as usize;
        self.raw(n)
    }
    /// Require that everything was consumed.
    pub fn end(&self) -> Result<(), Errno> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(Errno::EINVAL)
        }
    }
}
