//! `od` and `hexdump -C` output, fed in chunks: 16 bytes a line, a line
//! equal to the one before shown once as `*` (unless verbose), the
//! address after the last byte on a line of its own. The formats are GNU
//! `od`'s: `-c` characters, `-b` octal bytes, `-o` octal words (the
//! default), `-x` hexadecimal words, `-d` unsigned decimal words (words are
//! two bytes, little-endian, a last odd byte padded with zero). With more
//! than one format each line of bytes is shown once per format, the
//! columns aligned.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// Bytes per output line.
pub const LINE: usize = 16;

/// One `od` output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fmt {
    /// `-c`: printable characters, C escapes, else three octal digits.
    Char,
    /// `-b`: octal bytes.
    OctByte,
    /// `-o`: octal two-byte words.
    OctWord,
    /// `-x`: hexadecimal two-byte words.
    HexWord,
    /// `-d`: unsigned decimal two-byte words.
    DecWord,
}

impl Fmt {
    fn size(self) -> usize {
        match self {
            Fmt::Char | Fmt::OctByte => 1,
            _ => 2,
        }
    }

    /// Natural width of a field, its leading blank included.
    fn width(self) -> usize {
        match self {
            Fmt::Char | Fmt::OctByte => 4,
            Fmt::OctWord => 7,
            Fmt::HexWord => 5,
            Fmt::DecWord => 6,
        }
    }

    fn field(self, b: &[u8]) -> String {
        let word = || u16::from(b[0]) | u16::from(b.get(1).copied().unwrap_or(0)) << 8;
        match self {
            Fmt::Char => match b[0] {
                0 => "\\0".into(),
                7 => "\\a".into(),
                8 => "\\b".into(),
                b'\t' => "\\t".into(),
                b'\n' => "\\n".into(),
                0x0b => "\\v".into(),
                0x0c => "\\f".into(),
                b'\r' => "\\r".into(),
                c @ 0x20..=0x7e => String::from(c as char),
                c => alloc::format!("{c:03o}"),
            },
            Fmt::OctByte => alloc::format!("{:03o}", b[0]),
            Fmt::OctWord => alloc::format!("{:06o}", word()),
            Fmt::HexWord => alloc::format!("{:04x}", word()),
            Fmt::DecWord => alloc::format!("{:5}", word()),
        }
    }
}

/// How addresses are shown (`-A`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Radix {
    /// Seven octal digits (the default).
    Oct,
    /// Seven decimal digits.
    Dec,
    /// Six hexadecimal digits.
    Hex,
    /// None.
    None,
}

impl Radix {
    /// From `-A`'s letter.
    pub fn from_letter(s: &str) -> Option<Radix> {
        match s {
            "o" => Some(Radix::Oct),
            "d" => Some(Radix::Dec),
            "x" => Some(Radix::Hex),
            "n" => Some(Radix::None),
            _ => None,
        }
    }

    fn addr(self, a: u64) -> String {
        match self {
            Radix::Oct => alloc::format!("{a:07o}"),
            Radix::Dec => alloc::format!("{a:07}"),
            Radix::Hex => alloc::format!("{a:06x}"),
            Radix::None => String::new(),
        }
    }
}

/// Which program's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Style {
    Od(Vec<Fmt>, Radix),
    /// `hexdump -C`.
    Canonical,
}

/// A dump in progress.
#[derive(Debug)]
pub struct Dump {
    style: Style,
    verbose: bool,
    addr: u64,
    pending: Vec<u8>,
    prev: Option<Vec<u8>>,
    starred: bool,
}

impl Dump {
    /// `od` with `fmts` (none: `-o`), addresses in `radix`, starting at
    /// address `start` (after `-j`).
    pub fn od(fmts: &[Fmt], radix: Radix, verbose: bool, start: u64) -> Self {
        let fmts = if fmts.is_empty() {
            alloc::vec![Fmt::OctWord]
        } else {
            fmts.to_vec()
        };
        Self::new(Style::Od(fmts, radix), verbose, start)
    }

    /// `hexdump -C`.
    pub fn canonical(verbose: bool, start: u64) -> Self {
        Self::new(Style::Canonical, verbose, start)
    }

    fn new(style: Style, verbose: bool, start: u64) -> Self {
        Dump {
            style,
            verbose,
            addr: start,
            pending: Vec::new(),
            prev: None,
            starred: false,
        }
    }

    /// Adds `data`; returns the text of the lines it completed.
    pub fn push(&mut self, data: &[u8]) -> String {
        let mut out = String::new();
        self.pending.extend_from_slice(data);
        let full = self.pending.len() / LINE * LINE;
        if full == 0 {
            return out;
        }
        let lines: Vec<u8> = self.pending.drain(..full).collect();
        for line in lines.chunks(LINE) {
            if !self.verbose && self.prev.as_deref() == Some(line) {
                if !self.starred {
                    out.push_str("*\n");
                    self.starred = true;
                }
            } else {
                self.starred = false;
                self.line(&mut out, line);
                self.prev = Some(line.to_vec());
            }
            self.addr += LINE as u64;
        }
        out
    }

    /// The rest: a last short line and the final address.
    pub fn finish(mut self) -> String {
        let mut out = String::new();
        let rest = core::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.line(&mut out, &rest);
            self.addr += rest.len() as u64;
        }
        match &self.style {
            Style::Od(_, Radix::None) => {}
            Style::Od(_, r) => {
                out.push_str(&r.addr(self.addr));
                out.push('\n');
            }
            Style::Canonical => {
                let _ = writeln!(out, "{:08x}", self.addr);
            }
        }
        out
    }

    fn line(&self, out: &mut String, bytes: &[u8]) {
        match &self.style {
            Style::Canonical => {
                let _ = write!(out, "{:08x} ", self.addr);
                let mut hex = String::new();
                for (i, b) in bytes.iter().enumerate() {
                    if i % 8 == 0 {
                        hex.push(' ');
                    }
                    let _ = write!(hex, "{b:02x} ");
                }
                let text: String = bytes
                    .iter()
                    .map(|&b| {
                        if (0x20..0x7f).contains(&b) {
                            b as char
                        } else {
                            '.'
                        }
                    })
                    .collect();
                let _ = writeln!(out, "{hex:<51}|{text}|");
            }
            Style::Od(fmts, radix) => {
                // One column width per byte for all formats together.
                let per_byte = if fmts.len() > 1 {
                    fmts.iter()
                        .map(|f| f.width().div_ceil(f.size()))
                        .max()
                        .unwrap_or(4)
                } else {
                    0
                };
                let blank = " ".repeat(radix.addr(0).len());
                for (i, f) in fmts.iter().enumerate() {
                    if i == 0 {
                        out.push_str(&radix.addr(self.addr));
                    } else {
                        out.push_str(&blank);
                    }
                    let w = if per_byte > 0 {
                        per_byte * f.size()
                    } else {
                        f.width()
                    };
                    for chunk in bytes.chunks(f.size()) {
                        let _ = write!(out, "{:>w$}", f.field(chunk));
                    }
                    out.push('\n');
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn od(data: &[u8], fmts: &[Fmt], radix: Radix) -> String {
        let mut d = Dump::od(fmts, radix, false, 0);
        let mut s = d.push(data);
        s.push_str(&d.finish());
        s
    }

    // Expected texts are GNU coreutils od / util-linux hexdump output.
    #[test]
    fn od_formats_like_gnu() {
        assert_eq!(
            od(b"abc\n", &[Fmt::Char], Radix::Oct),
            "0000000   a   b   c  \\n\n0000004\n"
        );
        assert_eq!(
            od(b"abc\n", &[Fmt::HexWord], Radix::Oct),
            "0000000 6261 0a63\n0000004\n"
        );
        assert_eq!(
            od(b"abc", &[Fmt::HexWord], Radix::Oct),
            "0000000 6261 0063\n0000003\n"
        );
        assert_eq!(
            od(b"abc\n", &[], Radix::Oct),
            "0000000 061141 005143\n0000004\n"
        );
        assert_eq!(
            od(b"abc\n", &[Fmt::OctByte], Radix::Oct),
            "0000000 141 142 143 012\n0000004\n"
        );
        assert_eq!(
            od(b"abc\n", &[Fmt::DecWord], Radix::Oct),
            "0000000 25185  2659\n0000004\n"
        );
        assert_eq!(
            od(b"abc\n", &[Fmt::HexWord], Radix::Hex),
            "000000 6261 0a63\n000004\n"
        );
        assert_eq!(
            od(b"abc\n", &[Fmt::Char], Radix::None),
            "   a   b   c  \\n\n"
        );
        assert_eq!(
            od(b"abc\n\x01\xff", &[Fmt::Char], Radix::Oct),
            "0000000   a   b   c  \\n 001 377\n0000006\n"
        );
        assert_eq!(
            od(b"abc\t\r\x0b\x0c\x08\x07\0x", &[Fmt::Char], Radix::Oct),
            "0000000   a   b   c  \\t  \\r  \\v  \\f  \\b  \\a  \\0   x\n0000013\n"
        );
    }

    #[test]
    fn od_repeats_and_several_formats() {
        let zeros = [0u8; 40];
        assert_eq!(
            od(&zeros, &[Fmt::HexWord], Radix::Oct),
            "0000000 0000 0000 0000 0000 0000 0000 0000 0000\n*\n\
             0000040 0000 0000 0000 0000\n0000050\n"
        );
        assert_eq!(
            od(&zeros, &[Fmt::Char, Fmt::HexWord], Radix::Oct),
            "0000000  \\0  \\0  \\0  \\0  \\0  \\0  \\0  \\0  \\0  \\0  \\0  \\0  \\0  \\0  \\0  \\0\n\
             \x20          0000    0000    0000    0000    0000    0000    0000    0000\n*\n\
             0000040  \\0  \\0  \\0  \\0  \\0  \\0  \\0  \\0\n\
             \x20          0000    0000    0000    0000\n0000050\n"
        );
        // Chunk boundaries do not matter.
        let data: Vec<u8> = (0..100u8).collect();
        let mut d = Dump::od(&[Fmt::HexWord], Radix::Oct, false, 0);
        let mut s = String::new();
        for c in data.chunks(7) {
            s.push_str(&d.push(c));
        }
        s.push_str(&d.finish());
        assert_eq!(s, od(&data, &[Fmt::HexWord], Radix::Oct));
    }

    #[test]
    fn hexdump_canonical() {
        let mut d = Dump::canonical(false, 0);
        let mut s = d.push(b"abc\n");
        s.push_str(&d.finish());
        assert_eq!(
            s,
            "00000000  61 62 63 0a                                       |abc.|\n00000004\n"
        );
        let data: Vec<u8> = (0x41..0x41 + 20).collect();
        let mut d = Dump::canonical(false, 0);
        let mut s = d.push(&data);
        s.push_str(&d.finish());
        assert_eq!(
            s,
            "00000000  41 42 43 44 45 46 47 48  49 4a 4b 4c 4d 4e 4f 50  |ABCDEFGHIJKLMNOP|\n\
             00000010  51 52 53 54                                       |QRST|\n00000014\n"
        );
    }
}
