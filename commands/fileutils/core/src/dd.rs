//! `dd` operands and its record counts.
//!
//! Operands: `if=FILE` (default standard input), `of=FILE` (default
//! standard output), `bs=N` (both block sizes), `ibs=N`, `obs=N` (default
//! 512), `count=N` input blocks, `skip=N` input blocks, `seek=N` output
//! blocks, `conv=notrunc`. Numbers take a suffix `b` (×512), `k` (×1024),
//! `M` (×1 MiB), `w` (×2), and `x` multiplies (`2x512`).

use alloc::format;
use alloc::string::String;
use core::fmt;

/// The parsed operands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operands {
    /// Input file (`None`: standard input).
    pub input: Option<String>,
    /// Output file (`None`: standard output).
    pub output: Option<String>,
    /// Input block size.
    pub ibs: usize,
    /// Output block size.
    pub obs: usize,
    /// Input blocks to copy (`None`: to the end).
    pub count: Option<u64>,
    /// Input blocks to skip first.
    pub skip: u64,
    /// Output blocks to seek over first.
    pub seek: u64,
    /// `conv=notrunc`: do not truncate the output.
    pub notrunc: bool,
}

impl Default for Operands {
    fn default() -> Self {
        Operands {
            input: None,
            output: None,
            ibs: DEFAULT_BS,
            obs: DEFAULT_BS,
            count: None,
            skip: 0,
            seek: 0,
            notrunc: false,
        }
    }
}

/// The default block size.
pub const DEFAULT_BS: usize = 512;
/// The largest block size accepted (the buffer is allocated).
pub const MAX_BS: u64 = 16 << 20;

/// A number with `dd`'s suffixes and `x` products; `None` if malformed or
/// too large.
pub fn parse_size(s: &str) -> Option<u64> {
    let mut total: u64 = 1;
    for part in s.split('x') {
        let (digits, mult) = match part.as_bytes().last()? {
            b'b' => (&part[..part.len() - 1], 512),
            b'k' | b'K' => (&part[..part.len() - 1], 1024),
            b'M' | b'm' => (&part[..part.len() - 1], 1 << 20),
            b'w' => (&part[..part.len() - 1], 2),
            _ => (part, 1),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u64 = digits.parse().ok()?;
        total = total.checked_mul(n.checked_mul(mult)?)?;
    }
    Some(total)
}

fn block_size(key: &str, v: &str) -> Result<usize, String> {
    match parse_size(v) {
        Some(n) if (1..=MAX_BS).contains(&n) => Ok(n as usize),
        _ => Err(format!("{key}: bad block size '{v}'")),
    }
}

fn number(key: &str, v: &str) -> Result<u64, String> {
    parse_size(v).ok_or_else(|| format!("{key}: bad number '{v}'"))
}

impl Operands {
    /// Parses the `key=value` words (no program name).
    pub fn parse<S: AsRef<str>>(words: &[S]) -> Result<Operands, String> {
        let mut o = Operands::default();
        for w in words {
            let w = w.as_ref();
            let Some((key, v)) = w.split_once('=') else {
                return Err(format!("unknown operand '{w}'"));
            };
            match key {
                "if" if !v.is_empty() => o.input = Some(String::from(v)),
                "of" if !v.is_empty() => o.output = Some(String::from(v)),
                "bs" => {
                    o.ibs = block_size(key, v)?;
                    o.obs = o.ibs;
                }
                "ibs" => o.ibs = block_size(key, v)?,
                "obs" => o.obs = block_size(key, v)?,
                "count" => o.count = Some(number(key, v)?),
                "skip" => o.skip = number(key, v)?,
                "seek" => o.seek = number(key, v)?,
                "conv" => {
                    for c in v.split(',') {
                        match c {
                            "notrunc" => o.notrunc = true,
                            _ => return Err(format!("unknown conversion '{c}'")),
                        }
                    }
                }
                _ => return Err(format!("unknown operand '{w}'")),
            }
        }
        Ok(o)
    }

    /// Byte offset the output starts at.
    pub fn seek_bytes(&self) -> Option<u64> {
        self.seek.checked_mul(self.obs as u64)
    }

    /// Byte offset the input starts at.
    pub fn skip_bytes(&self) -> Option<u64> {
        self.skip.checked_mul(self.ibs as u64)
    }
}

/// Whole and partial records, shown `N+M`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Records {
    /// Records of the full block size.
    pub full: u64,
    /// Shorter records.
    pub partial: u64,
}

impl Records {
    /// Counts one record of `n` bytes for block size `bs`.
    pub fn add(&mut self, n: usize, bs: usize) {
        if n >= bs {
            self.full += 1;
        } else if n > 0 {
            self.partial += 1;
        }
    }
}

impl fmt::Display for Records {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{}", self.full, self.partial)
    }
}

/// Collects input bytes into output blocks of `obs` bytes: what `dd`
/// writes when `ibs` and `obs` differ.
#[derive(Debug)]
pub struct Reblock {
    obs: usize,
    buf: alloc::vec::Vec<u8>,
}

impl Reblock {
    /// An empty collector for output blocks of `obs` bytes.
    pub fn new(obs: usize) -> Reblock {
        Reblock {
            obs,
            buf: alloc::vec::Vec::new(),
        }
    }

    /// Adds `data`; calls `out` for every full output block.
    pub fn push<E>(
        &mut self,
        data: &[u8],
        mut out: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.buf.extend_from_slice(data);
        let mut at = 0;
        while self.buf.len() - at >= self.obs {
            out(&self.buf[at..at + self.obs])?;
            at += self.obs;
        }
        self.buf.drain(..at);
        Ok(())
    }

    /// The last, short block (empty if none).
    pub fn rest(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn sizes_with_suffixes_and_products() {
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("4k"), Some(4096));
        assert_eq!(parse_size("2b"), Some(1024));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("3w"), Some(6));
        assert_eq!(parse_size("2x512"), Some(1024));
        assert_eq!(parse_size("2x2k"), Some(4096));
        assert_eq!(parse_size("0"), Some(0));
        for bad in [
            "",
            "k",
            "x",
            "1x",
            "-1",
            "1.5",
            "12q",
            "99999999999999999999",
        ] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
        assert_eq!(parse_size("18446744073709551615x2"), None);
    }

    #[test]
    fn operands() {
        let o =
            Operands::parse(&["if=/dev/zero", "of=/tmp/x", "bs=1k", "count=3", "seek=2"]).unwrap();
        assert_eq!(o.input.as_deref(), Some("/dev/zero"));
        assert_eq!(o.output.as_deref(), Some("/tmp/x"));
        assert_eq!((o.ibs, o.obs), (1024, 1024));
        assert_eq!(o.count, Some(3));
        assert_eq!((o.skip, o.seek), (0, 2));
        assert_eq!(o.seek_bytes(), Some(2048));
        assert!(!o.notrunc);
        let o = Operands::parse(&["ibs=100", "obs=30", "skip=1", "conv=notrunc"]).unwrap();
        assert_eq!((o.ibs, o.obs, o.skip), (100, 30, 1));
        assert_eq!(o.skip_bytes(), Some(100));
        assert!(o.notrunc);
        assert_eq!(o.input, None);
        assert_eq!(Operands::parse::<&str>(&[]).unwrap(), Operands::default());
    }

    #[test]
    fn bad_operands_are_named() {
        assert_eq!(
            Operands::parse(&["bs=0"]).unwrap_err(),
            "bs: bad block size '0'"
        );
        assert_eq!(
            Operands::parse(&["count=lots"]).unwrap_err(),
            "count: bad number 'lots'"
        );
        assert_eq!(
            Operands::parse(&["foo"]).unwrap_err(),
            "unknown operand 'foo'"
        );
        assert_eq!(
            Operands::parse(&["colour=blue"]).unwrap_err(),
            "unknown operand 'colour=blue'"
        );
        assert_eq!(
            Operands::parse(&["conv=sync"]).unwrap_err(),
            "unknown conversion 'sync'"
        );
        assert!(Operands::parse(&["if="]).is_err());
        assert!(Operands::parse(&["bs=32M"]).is_err());
    }

    #[test]
    fn records_and_reblocking() {
        let mut r = Records::default();
        for n in [512, 512, 100, 0] {
            r.add(n, 512);
        }
        assert_eq!(alloc::format!("{r}"), "2+1");
        let mut rb = Reblock::new(3);
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        rb.push::<()>(b"abcd", |b| {
            blocks.push(b.to_vec());
            Ok(())
        })
        .unwrap();
        rb.push::<()>(b"efghij", |b| {
            blocks.push(b.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(blocks, [b"abc".to_vec(), b"def".to_vec(), b"ghi".to_vec()]);
        assert_eq!(rb.rest(), b"j");
        assert_eq!(rb.push(b"", |_| Err("no block expected")), Ok(()));
    }
}
