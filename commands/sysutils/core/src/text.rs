//! The pure parts of the text utilities: `wc` counting, `grep` matching,
//! `sort` ordering, and the line keeping of `head` and `tail`. Everything
//! works on bytes (lines need not be UTF-8) and on input arriving in
//! chunks.

use crate::regex::{Regex, Syntax};
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;

/// Whitespace for `wc`'s words (the C locale's `isspace`).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Counts of `wc`: lines (newlines), words, bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Newline characters.
    pub lines: u64,
    /// Maximal runs of non-whitespace.
    pub words: u64,
    /// Bytes.
    pub bytes: u64,
    in_word: bool,
}

impl Counts {
    /// Counts `data`, continuing from earlier chunks (a word may span two).
    pub fn update(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        for &b in data {
            if b == b'\n' {
                self.lines += 1;
            }
            if is_space(b) {
                self.in_word = false;
            } else if !self.in_word {
                self.in_word = true;
                self.words += 1;
            }
        }
    }

    /// Adds another file's counts (the `total` line).
    pub fn add(&mut self, o: &Counts) {
        self.lines += o.lines;
        self.words += o.words;
        self.bytes += o.bytes;
    }
}

/// Which `wc` columns to print (all three when none is asked for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WcColumns {
    /// `-l`.
    pub lines: bool,
    /// `-w`.
    pub words: bool,
    /// `-c`.
    pub bytes: bool,
}

impl WcColumns {
    /// From the flags; none given means all.
    pub fn new(lines: bool, words: bool, bytes: bool) -> Self {
        if !(lines || words || bytes) {
            WcColumns {
                lines: true,
                words: true,
                bytes: true,
            }
        } else {
            WcColumns {
                lines,
                words,
                bytes,
            }
        }
    }

    /// One output line: the chosen counts right-aligned in `width`
    /// columns, separated by a blank, then the name if any.
    pub fn format(&self, c: &Counts, width: usize, name: Option<&str>) -> alloc::string::String {
        use core::fmt::Write;
        let mut s = alloc::string::String::new();
        for (on, v) in [
            (self.lines, c.lines),
            (self.words, c.words),
            (self.bytes, c.bytes),
        ] {
            if on {
                if !s.is_empty() {
                    s.push(' ');
                }
                let _ = write!(s, "{v:>width$}");
            }
        }
        if let Some(n) = name {
            s.push(' ');
            s.push_str(n);
        }
        s
    }
}

/// Digits of `v` in decimal.
pub fn digits(v: u64) -> usize {
    let mut n = 1;
    let mut v = v / 10;
    while v > 0 {
        n += 1;
        v /= 10;
    }
    n
}

/// Splits a stream into lines (each with its newline, the last possibly
/// without): push chunks, take complete lines, then the rest at the end.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Adds `data`; calls `f` for every line it completes.
    pub fn push(&mut self, mut data: &[u8], mut f: impl FnMut(&[u8])) {
        while let Some(i) = data.iter().position(|&b| b == b'\n') {
            if self.pending.is_empty() {
                f(&data[..=i]);
            } else {
                self.pending.extend_from_slice(&data[..=i]);
                f(&self.pending);
                self.pending.clear();
            }
            data = &data[i + 1..];
        }
        self.pending.extend_from_slice(data);
    }

    /// The last line if it had no newline.
    pub fn finish(&mut self, mut f: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            f(&self.pending);
            self.pending.clear();
        }
    }
}

/// `line` without its trailing newline.
pub fn chomp(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

/// `tail -n N`: keeps the last `n` lines of a stream (memory bounded by
/// those lines).
#[derive(Debug)]
pub struct Tail {
    n: usize,
    lines: VecDeque<Vec<u8>>,
    split: LineSplitter,
}

impl Tail {
    /// Keeps the last `n` lines.
    pub fn new(n: usize) -> Self {
        Tail {
            n,
            lines: VecDeque::new(),
            split: LineSplitter::default(),
        }
    }

    fn keep(lines: &mut VecDeque<Vec<u8>>, n: usize, line: &[u8]) {
        if n == 0 {
            return;
        }
        if lines.len() == n {
            lines.pop_front();
        }
        lines.push_back(line.to_vec());
    }

    /// Adds a chunk.
    pub fn push(&mut self, data: &[u8]) {
        let (lines, n) = (&mut self.lines, self.n);
        self.split.push(data, |l| Self::keep(lines, n, l));
    }

    /// The kept lines, in order, at the end of the stream.
    pub fn finish(mut self) -> Vec<Vec<u8>> {
        let (lines, n) = (&mut self.lines, self.n);
        self.split.finish(|l| Self::keep(lines, n, l));
        self.lines.into_iter().collect()
    }
}

/// Options of `grep`.
#[derive(Clone, Debug, Default)]
pub struct GrepOpts {
    /// `-i`: ignore ASCII case.
    pub ignore_case: bool,
    /// `-v`: select the lines that do not match.
    pub invert: bool,
    /// `-x`: the whole line must equal a pattern.
    pub whole_line: bool,
    /// `-F`: fixed strings, not regular expressions.
    pub fixed: bool,
    /// `-E`: extended regular expressions (else basic ones).
    pub extended: bool,
}

/// Patterns, any of which selects a line: fixed strings or regular
/// expressions ([`crate::regex`]).
#[derive(Clone, Debug)]
pub struct Matcher {
    patterns: Vec<Vec<u8>>,
    regexes: Vec<Regex>,
    opts: GrepOpts,
}

impl Matcher {
    /// Patterns given as `-e` or the first operand; a pattern with
    /// newlines is several patterns (as in POSIX grep). An invalid
    /// regular expression is an error (its reason).
    pub fn new<P: AsRef<[u8]>>(patterns: &[P], opts: GrepOpts) -> Result<Self, String> {
        let icase = opts.ignore_case;
        let fold = |p: &[u8]| -> Vec<u8> {
            if icase {
                p.to_ascii_lowercase()
            } else {
                p.to_vec()
            }
        };
        let split: Vec<&[u8]> = patterns
            .iter()
            .flat_map(|p| p.as_ref().split(|&b| b == b'\n'))
            .collect();
        let mut m = Matcher {
            patterns: Vec::new(),
            regexes: Vec::new(),
            opts,
        };
        if m.opts.fixed {
            m.patterns = split.into_iter().map(fold).collect();
        } else {
            let syntax = if m.opts.extended {
                Syntax::Extended
            } else {
                Syntax::Basic
            };
            for p in split {
                m.regexes.push(Regex::new(p, syntax, m.opts.ignore_case)?);
            }
        }
        Ok(m)
    }

    fn matches_one(&self, line: &[u8], p: &[u8]) -> bool {
        let eq = |a: &[u8], b: &[u8]| {
            if self.opts.ignore_case {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        if self.opts.whole_line {
            return eq(line, p);
        }
        p.is_empty() || line.windows(p.len()).any(|w| eq(w, p))
    }

    /// Whether `line` (without its newline) is selected.
    pub fn selects(&self, line: &[u8]) -> bool {
        let hit = self.patterns.iter().any(|p| self.matches_one(line, p))
            || self.regexes.iter().any(|r| {
                if self.opts.whole_line {
                    r.is_full_match(line)
                } else {
                    r.is_match(line)
                }
            });
        hit != self.opts.invert
    }
}

/// `grep`'s exit code: 0 if a line was selected, 1 if none, 2 on an error
/// (unless `-q` found a line: POSIX lets a match win).
pub fn grep_status(selected: bool, error: bool, quiet: bool) -> i32 {
    match (selected, error) {
        (true, false) => 0,
        (true, true) if quiet => 0,
        (_, true) => 2,
        (false, false) => 1,
    }
}

/// Options of `sort`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SortOpts {
    /// `-n`: compare leading numbers.
    pub numeric: bool,
    /// `-r`: reverse.
    pub reverse: bool,
    /// `-u`: keep one line of each run of equal keys.
    pub unique: bool,
    /// `-f`: fold lower case to upper case.
    pub fold: bool,
}

/// The leading number of `s` as (negative, integer digits without leading
/// zeros, fraction digits without trailing zeros); blanks before it are
/// skipped; no number is zero.
fn number(s: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut i = 0;
    while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
        i += 1;
    }
    let neg = s.get(i) == Some(&b'-');
    if neg {
        i += 1;
    }
    let start = i;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    let mut int = &s[start..i];
    while let [b'0', rest @ ..] = int {
        int = rest;
    }
    let mut frac: &[u8] = &[];
    if s.get(i) == Some(&b'.') {
        let f0 = i + 1;
        let mut j = f0;
        while j < s.len() && s[j].is_ascii_digit() {
            j += 1;
        }
        frac = &s[f0..j];
        while let [rest @ .., b'0'] = frac {
            frac = rest;
        }
    }
    let zero = int.is_empty() && frac.is_empty();
    (neg && !zero, int, frac)
}

/// Compares the leading numbers of two lines (`sort -n`).
pub fn numeric_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let (na, ia, fa) = number(a);
    let (nb, ib, fb) = number(b);
    let mag = ia
        .len()
        .cmp(&ib.len())
        .then_with(|| ia.cmp(ib))
        .then_with(|| fa.cmp(fb));
    match (na, nb) {
        (false, false) => mag,
        (true, true) => mag.reverse(),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
    }
}

fn key_cmp(a: &[u8], b: &[u8], o: &SortOpts) -> Ordering {
    if o.numeric {
        numeric_cmp(a, b)
    } else if o.fold {
        a.iter()
            .map(u8::to_ascii_uppercase)
            .cmp(b.iter().map(u8::to_ascii_uppercase))
    } else {
        a.cmp(b)
    }
}

/// Sorts `lines` (without newlines) as `sort` does: by key, ties by bytes
/// (except with `-u`, where lines with equal keys are one line: the first
/// of them is kept), everything reversed with `-r`.
pub fn sort_lines(lines: &mut Vec<Vec<u8>>, o: &SortOpts) {
    let cmp = |a: &Vec<u8>, b: &Vec<u8>| {
        let k = key_cmp(a, b, o);
        let c = if o.unique || k != Ordering::Equal {
            k
        } else {
            a.cmp(b)
        };
        if o.reverse { c.reverse() } else { c }
    };
    // Stable: with -u the first of equal lines (in input order) survives.
    lines.sort_by(cmp);
    if o.unique {
        lines.dedup_by(|b, a| key_cmp(a, b, o) == Ordering::Equal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn wc(data: &[u8]) -> (u64, u64, u64) {
        let mut c = Counts::default();
        c.update(data);
        (c.lines, c.words, c.bytes)
    }

    #[test]
    fn wc_counts() {
        assert_eq!(wc(b""), (0, 0, 0));
        assert_eq!(wc(b"hello world\n"), (1, 2, 12));
        assert_eq!(wc(b"  a\tb\n\nc"), (2, 3, 8));
        assert_eq!(wc(b"no newline"), (0, 2, 10));
        // A word split across chunks counts once.
        let mut c = Counts::default();
        c.update(b"hel");
        c.update(b"lo wor");
        c.update(b"ld\n");
        assert_eq!((c.lines, c.words, c.bytes), (1, 2, 12));
    }

    #[test]
    fn wc_format() {
        let c = Counts {
            lines: 3,
            words: 12,
            bytes: 100,
            in_word: false,
        };
        let all = WcColumns::new(false, false, false);
        assert_eq!(all.format(&c, 3, Some("f")), "  3  12 100 f");
        assert_eq!(WcColumns::new(true, false, false).format(&c, 1, None), "3");
        assert_eq!(
            WcColumns::new(false, true, true).format(&c, 4, Some("x")),
            "  12  100 x"
        );
        assert_eq!(digits(0), 1);
        assert_eq!(digits(9), 1);
        assert_eq!(digits(10), 2);
        assert_eq!(digits(u64::MAX), 20);
    }

    #[test]
    fn line_splitting_across_chunks() {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        s.push(b"ab", |l| out.push(l.to_vec()));
        s.push(b"c\nd\n\ne", |l| out.push(l.to_vec()));
        s.finish(|l| out.push(l.to_vec()));
        assert_eq!(
            out,
            vec![
                b"abc\n".to_vec(),
                b"d\n".to_vec(),
                b"\n".to_vec(),
                b"e".to_vec()
            ]
        );
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let mut t = Tail::new(2);
        for chunk in [&b"1\n2\n3"[..], b"\n4\n5"] {
            t.push(chunk);
        }
        assert_eq!(t.finish(), vec![b"4\n".to_vec(), b"5".to_vec()]);
        let mut t = Tail::new(10);
        t.push(b"a\nb\n");
        assert_eq!(t.finish(), vec![b"a\n".to_vec(), b"b\n".to_vec()]);
        let mut t = Tail::new(0);
        t.push(b"a\nb\n");
        assert!(t.finish().is_empty());
    }

    fn fixed() -> GrepOpts {
        GrepOpts {
            fixed: true,
            ..Default::default()
        }
    }

    #[test]
    fn grep_fixed_strings() {
        let m = Matcher::new(&["lo w"], fixed()).unwrap();
        assert!(m.selects(b"hello world"));
        assert!(!m.selects(b"Hello"));
        let m = Matcher::new(
            &["HELLO"],
            GrepOpts {
                ignore_case: true,
                ..fixed()
            },
        )
        .unwrap();
        assert!(m.selects(b"say hello"));
        let m = Matcher::new(
            &["x"],
            GrepOpts {
                invert: true,
                ..fixed()
            },
        )
        .unwrap();
        assert!(m.selects(b"abc"));
        assert!(!m.selects(b"axc"));
        // Several patterns (-e a -e b, or a newline in one).
        let m = Matcher::new(&["one\ntwo"], fixed()).unwrap();
        assert!(m.selects(b"two") && m.selects(b"one") && !m.selects(b"three"));
        // An empty pattern matches every line.
        assert!(Matcher::new(&[""], fixed()).unwrap().selects(b"anything"));
        // -F: regular-expression characters are ordinary.
        let m = Matcher::new(&["a.c"], fixed()).unwrap();
        assert!(m.selects(b"xa.c") && !m.selects(b"abc"));
        let m = Matcher::new(
            &["ab"],
            GrepOpts {
                whole_line: true,
                ..fixed()
            },
        )
        .unwrap();
        assert!(m.selects(b"ab") && !m.selects(b"abc"));
    }

    #[test]
    fn grep_regular_expressions() {
        let m = Matcher::new(&["^ap*le$"], GrepOpts::default()).unwrap();
        assert!(m.selects(b"apple") && m.selects(b"ale") && !m.selects(b"apples"));
        let m = Matcher::new(
            &["^APP"],
            GrepOpts {
                ignore_case: true,
                invert: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!m.selects(b"apple") && m.selects(b"pineapple"));
        let m = Matcher::new(
            &["fig|date"],
            GrepOpts {
                extended: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(m.selects(b"date") && m.selects(b"fig and banana") && !m.selects(b"grape"));
        let m = Matcher::new(
            &["[0-9]*"],
            GrepOpts {
                whole_line: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(m.selects(b"123") && m.selects(b"") && !m.selects(b"12a"));
        assert!(Matcher::new(&["[oops"], GrepOpts::default()).is_err());
    }

    #[test]
    fn grep_exit_codes() {
        assert_eq!(grep_status(true, false, false), 0);
        assert_eq!(grep_status(false, false, false), 1);
        assert_eq!(grep_status(false, true, false), 2);
        assert_eq!(grep_status(true, true, false), 2);
        assert_eq!(grep_status(true, true, true), 0);
    }

    fn sorted(input: &[&str], o: SortOpts) -> Vec<alloc::string::String> {
        let mut v: Vec<Vec<u8>> = input.iter().map(|s| s.as_bytes().to_vec()).collect();
        sort_lines(&mut v, &o);
        v.into_iter()
            .map(|l| alloc::string::String::from_utf8(l).unwrap())
            .collect()
    }

    #[test]
    fn sort_orders() {
        let o = SortOpts::default();
        assert_eq!(
            sorted(&["b", "a", "B", "c", "a"], o),
            ["B", "a", "a", "b", "c"]
        );
        let r = SortOpts { reverse: true, ..o };
        assert_eq!(sorted(&["b", "a", "c"], r), ["c", "b", "a"]);
        let u = SortOpts { unique: true, ..o };
        assert_eq!(sorted(&["b", "a", "b", "a"], u), ["a", "b"]);
        let f = SortOpts { fold: true, ..o };
        assert_eq!(sorted(&["b", "A", "a", "B"], f), ["A", "a", "B", "b"]);
    }

    #[test]
    fn sort_numeric() {
        let n = SortOpts {
            numeric: true,
            ..Default::default()
        };
        assert_eq!(
            sorted(
                &["10", "9", "-3", "100", "2.5", "2.25", "x", " 7", "-10", "0"],
                n
            ),
            ["-10", "-3", "0", "x", "2.25", "2.5", " 7", "9", "10", "100"]
        );
        // Big numbers compare exactly.
        assert_eq!(
            sorted(&["123456789012345678901", "123456789012345678900"], n),
            ["123456789012345678900", "123456789012345678901"]
        );
        let nr = SortOpts { reverse: true, ..n };
        assert_eq!(sorted(&["1", "3", "2"], nr), ["3", "2", "1"]);
        // -nu: 1 and 01 are the same number; the first is kept.
        let nu = SortOpts { unique: true, ..n };
        assert_eq!(sorted(&["01", "2", "1", "002"], nu), ["01", "2"]);
        assert_eq!(numeric_cmp(b"-0", b"0"), Ordering::Equal);
        assert_eq!(numeric_cmp(b"1.50", b"1.5"), Ordering::Equal);
    }
}
