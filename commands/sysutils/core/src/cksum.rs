//! POSIX `cksum`: the CRC of IEEE 802.3 (polynomial 0x04C11DB7), taken
//! most significant bit first, over the data followed by its length (as
//! few bytes as it needs, least significant first), complemented. This is
//! not the reflected CRC-32 of zlib/`crc32fast`: `printf abc | cksum`
//! prints `1219131554 3`.

const POLY: u32 = 0x04c1_1db7;

const fn make_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ POLY
            } else {
                c << 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static TABLE: [u32; 256] = make_table();

/// A running POSIX checksum.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cksum {
    crc: u32,
    len: u64,
}

impl Cksum {
    /// A checksum of nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn byte(crc: u32, b: u8) -> u32 {
        (crc << 8) ^ TABLE[((crc >> 24) as u8 ^ b) as usize]
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        let mut crc = self.crc;
        for &b in data {
            crc = Self::byte(crc, b);
        }
        self.crc = crc;
        self.len += data.len() as u64;
    }

    /// The checksum and the byte count.
    pub fn finish(&self) -> (u32, u64) {
        let mut crc = self.crc;
        let mut n = self.len;
        while n != 0 {
            crc = Self::byte(crc, n as u8);
            n >>= 8;
        }
        (!crc, self.len)
    }
}

/// The checksum and length of `data` in one go.
pub fn cksum(data: &[u8]) -> (u32, u64) {
    let mut c = Cksum::new();
    c.update(data);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Values from GNU coreutils `cksum`.
        assert_eq!(cksum(b""), (4_294_967_295, 0));
        assert_eq!(cksum(b"abc"), (1_219_131_554, 3));
        assert_eq!(cksum(b"a"), (1_220_704_766, 1));
        assert_eq!(cksum(b"123456789"), (930_766_865, 9));
        assert_eq!(cksum(b"hello\n"), (3_015_617_425, 6));
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: alloc::vec::Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut c = Cksum::new();
        for chunk in data.chunks(4093) {
            c.update(chunk);
        }
        assert_eq!(c.finish(), cksum(&data));
        // GNU cksum of the same bytes (a three-byte length).
        assert_eq!(c.finish(), (720_179_608, 70_000));
    }
}
