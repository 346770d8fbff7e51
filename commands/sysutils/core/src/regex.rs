//! A small regular-expression matcher for `grep`: POSIX basic expressions
//! (BRE) and the extended ones (ERE, `grep -E`) without groups or
//! back-references. Supported: literal characters, `.`, bracket
//! expressions (`[a-z]`, `[^...]`, `[[:digit:]]` and the other POSIX
//! classes), `*`, `^` and `$` anchors, `\` escapes; with ERE also `+`,
//! `?` and `|` (alternatives of the whole expression). Matching is
//! backtracking over bytes (lines need not be UTF-8), with ASCII case
//! folding for `grep -i`.

use alloc::string::String;
use alloc::vec::Vec;

/// Which syntax a pattern is written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Syntax {
    /// POSIX basic regular expressions (`grep`).
    #[default]
    Basic,
    /// POSIX extended regular expressions (`grep -E`).
    Extended,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Atom {
    Byte(u8),
    Any,
    Set(Box256),
}

/// A set of bytes (one bit each).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Box256([u64; 4]);

impl Box256 {
    fn new() -> Self {
        Box256([0; 4])
    }
    fn add(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }
    fn has(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }
    fn invert(&mut self) {
        for w in &mut self.0 {
            *w = !*w;
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Piece {
    atom: Atom,
    min: u8,
    /// `false`: at most once more than `min` (`?`); `true`: unbounded.
    many: bool,
    max_one: bool,
}

/// One alternative: anchors and pieces.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Branch {
    start: bool,
    end: bool,
    pieces: Vec<Piece>,
}

/// A compiled expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regex {
    branches: Vec<Branch>,
    icase: bool,
}

fn class(name: &[u8]) -> Option<fn(u8) -> bool> {
    Some(match name {
        b"alpha" => |b: u8| b.is_ascii_alphabetic(),
        b"digit" => |b: u8| b.is_ascii_digit(),
        b"alnum" => |b: u8| b.is_ascii_alphanumeric(),
        b"upper" => |b: u8| b.is_ascii_uppercase(),
        b"lower" => |b: u8| b.is_ascii_lowercase(),
        b"space" => |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c),
        b"blank" => |b: u8| b == b' ' || b == b'\t',
        b"punct" => |b: u8| b.is_ascii_punctuation(),
        b"xdigit" => |b: u8| b.is_ascii_hexdigit(),
        b"cntrl" => |b: u8| b.is_ascii_control(),
        b"print" => |b: u8| (0x20..0x7f).contains(&b),
        b"graph" => |b: u8| b.is_ascii_graphic(),
        _ => return None,
    })
}

/// Parses a bracket expression starting after `[`; returns the set and
/// the index after `]`.
fn bracket(p: &[u8], mut i: usize) -> Result<(Box256, usize), String> {
    let mut set = Box256::new();
    let neg = p.get(i) == Some(&b'^');
    if neg {
        i += 1;
    }
    let mut first = true;
    loop {
        let Some(&c) = p.get(i) else {
            return Err("unterminated [".into());
        };
        if c == b']' && !first {
            i += 1;
            break;
        }
        first = false;
        if c == b'[' && p.get(i + 1) == Some(&b':') {
            let rest = &p[i + 2..];
            let end = rest
                .windows(2)
                .position(|w| w == b":]")
                .ok_or_else(|| String::from("unterminated [:class:]"))?;
            let f = class(&rest[..end]).ok_or_else(|| {
                alloc::format!(
                    "unknown class [:{}:]",
                    String::from_utf8_lossy(&rest[..end])
                )
            })?;
            for b in 0..=255u8 {
                if f(b) {
                    set.add(b);
                }
            }
            i += 2 + end + 2;
            continue;
        }
        if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&e| e != b']') {
            let hi = p[i + 2];
            if hi < c {
                return Err("invalid range end".into());
            }
            for b in c..=hi {
                set.add(b);
            }
            i += 3;
        } else {
            set.add(c);
            i += 1;
        }
    }
    if neg {
        set.invert();
        set.0[0] &= !(1 << b'\n');
    }
    Ok((set, i))
}

fn branch(p: &[u8], syntax: Syntax) -> Result<Branch, String> {
    let mut b = Branch {
        start: false,
        end: false,
        pieces: Vec::new(),
    };
    let mut i = 0;
    if p.first() == Some(&b'^') {
        b.start = true;
        i = 1;
    }
    let ere = syntax == Syntax::Extended;
    while i < p.len() {
        let c = p[i];
        let atom = match c {
            b'$' if i + 1 == p.len() => {
                b.end = true;
                i += 1;
                continue;
            }
            b'.' => {
                i += 1;
                Atom::Any
            }
            b'[' => {
                let (set, next) = bracket(p, i + 1)?;
                i = next;
                Atom::Set(set)
            }
            b'\\' => {
                let Some(&e) = p.get(i + 1) else {
                    return Err("trailing backslash".into());
                };
                if (!ere && matches!(e, b'(' | b')' | b'{' | b'}'))
                    || (e.is_ascii_digit() && e != b'0')
                {
                    return Err("groups, intervals and back-references are not supported".into());
                }
                i += 2;
                Atom::Byte(e)
            }
            b'*' if b.pieces.is_empty() => {
                // A leading `*` is an ordinary character.
                i += 1;
                Atom::Byte(b'*')
            }
            b'(' | b')' | b'{' if ere => {
                return Err("groups and intervals are not supported".into());
            }
            b'+' | b'?' | b'*' if ere && b.pieces.is_empty() => {
                return Err(alloc::format!("nothing to repeat before {}", c as char));
            }
            _ => {
                i += 1;
                Atom::Byte(c)
            }
        };
        let mut piece = Piece {
            atom,
            min: 1,
            many: false,
            max_one: false,
        };
        // Repetition operators after the atom.
        while let Some(&op) = p.get(i) {
            match op {
                b'*' => {
                    piece.min = 0;
                    piece.many = true;
                }
                b'+' if ere => piece.many = true,
                b'?' if ere => {
                    piece.min = 0;
                    piece.max_one = !piece.many;
                }
                _ => break,
            }
            i += 1;
        }
        b.pieces.push(piece);
    }
    Ok(b)
}

/// Splits an ERE at its top-level `|` (outside brackets, unescaped).
fn alternatives(p: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut i, mut start) = (0, 0);
    while i < p.len() {
        match p[i] {
            b'\\' => i += 1,
            b'[' => {
                // Skip to the closing bracket (a leading `]` or `^]` is a member).
                let mut j = i + 1;
                if p.get(j) == Some(&b'^') {
                    j += 1;
                }
                if p.get(j) == Some(&b']') {
                    j += 1;
                }
                while j < p.len() && p[j] != b']' {
                    if p[j] == b'[' && p.get(j + 1) == Some(&b':') {
                        j += 2;
                        while j + 1 < p.len() && &p[j..j + 2] != b":]" {
                            j += 1;
                        }
                        j += 1;
                    }
                    j += 1;
                }
                i = j;
            }
            b'|' => {
                out.push(&p[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&p[start.min(p.len())..]);
    out
}

impl Regex {
    /// Compiles `pattern`; `icase` folds ASCII case.
    pub fn new(pattern: &[u8], syntax: Syntax, icase: bool) -> Result<Regex, String> {
        let parts = match syntax {
            Syntax::Basic => alloc::vec![pattern],
            Syntax::Extended => alternatives(pattern),
        };
        let mut branches = Vec::new();
        for part in parts {
            branches.push(branch(part, syntax)?);
        }
        Ok(Regex { branches, icase })
    }

    fn atom_matches(&self, a: &Atom, c: u8) -> bool {
        match a {
            Atom::Any => c != b'\n',
            Atom::Byte(b) if self.icase => b.eq_ignore_ascii_case(&c),
            Atom::Byte(b) => *b == c,
            Atom::Set(s) if self.icase => {
                s.has(c) || s.has(c.to_ascii_lowercase()) || s.has(c.to_ascii_uppercase())
            }
            Atom::Set(s) => s.has(c),
        }
    }

    /// Whether `pieces` match `text` from its start (to its end if `end`).
    fn here(&self, pieces: &[Piece], text: &[u8], end: bool) -> bool {
        let Some((p, rest)) = pieces.split_first() else {
            return !end || text.is_empty();
        };
        let min = usize::from(p.min);
        let max = if p.many {
            text.len()
        } else if p.max_one {
            1
        } else {
            min
        };
        // The longest run of matching bytes up to `max`, then back off.
        let mut n = 0;
        while n < max && n < text.len() && self.atom_matches(&p.atom, text[n]) {
            n += 1;
        }
        if n < min {
            return false;
        }
        (min..=n).rev().any(|k| self.here(rest, &text[k..], end))
    }

    /// Whether the expression matches somewhere in `line`.
    pub fn is_match(&self, line: &[u8]) -> bool {
        self.branches.iter().any(|b| {
            if b.start {
                self.here(&b.pieces, line, b.end)
            } else {
                (0..=line.len()).any(|s| self.here(&b.pieces, &line[s..], b.end))
            }
        })
    }

    /// Whether the expression matches all of `line` (`grep -x`).
    pub fn is_full_match(&self, line: &[u8]) -> bool {
        self.branches
            .iter()
            .any(|b| self.here(&b.pieces, line, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Regex::new(p.as_bytes(), Syntax::Basic, false)
            .unwrap()
            .is_match(s.as_bytes())
    }

    fn e(p: &str, s: &str) -> bool {
        Regex::new(p.as_bytes(), Syntax::Extended, false)
            .unwrap()
            .is_match(s.as_bytes())
    }

    #[test]
    fn basic_expressions() {
        assert!(m("abc", "xxabcxx"));
        assert!(!m("abd", "xxabcxx"));
        assert!(m("^root:", "root:x:0:0"));
        assert!(!m("^root:", "xroot:"));
        assert!(m("sh$", "/bin/sh"));
        assert!(!m("sh$", "/bin/shell"));
        assert!(m("^$", ""));
        assert!(!m("^$", "x"));
        assert!(m("a.c", "abc") && !m("a.c", "ac"));
        assert!(m("ab*c", "ac") && m("ab*c", "abbbc") && !m("ab*c", "adc"));
        assert!(m("^a*$", "aaaa") && !m("^a*$", "aaba"));
        assert!(m(".*", ""));
        // A leading * is literal; \. and \* are literal.
        assert!(m("*a", "x*a") && !m("*a", "xa"));
        assert!(m("a\\.b", "a.b") && !m("a\\.b", "axb"));
        assert!(m("2\\*3", "2*3"));
        // BRE: + ? | ( ) are ordinary.
        assert!(m("a+b", "a+b") && !m("a+b", "aab"));
        assert!(m("a|b", "a|b") && !m("a|b", "a"));
        // Backtracking: the star gives back.
        assert!(m("^a.*b.*c$", "a-b-b-c"));
        assert!(m("x*y*z", "z"));
    }

    #[test]
    fn brackets() {
        assert!(m("[abc]x", "bx") && !m("[abc]x", "dx"));
        assert!(m("^[0-9][0-9]*$", "2026") && !m("^[0-9][0-9]*$", "20a6"));
        assert!(m("[^a-z]", "abc1") && !m("[^a-z]", "abc"));
        assert!(m("[]x]", "]") && m("[^]x]", "a") && !m("^[^]x]$", "]"));
        assert!(m("[[:digit:]]", "a1") && !m("[[:digit:]]", "ab"));
        assert!(m("^[[:upper:][:digit:]]*$", "AB12") && !m("^[[:upper:]]*$", "Ab"));
        assert!(m("[a-]", "-"));
        for bad in ["[abc", "[[:nope:]]", "[z-a]", "a\\", "\\(a\\)", "\\1"] {
            assert!(
                Regex::new(bad.as_bytes(), Syntax::Basic, false).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn extended_expressions() {
        assert!(e("ab+c", "abbc") && !e("ab+c", "ac"));
        assert!(e("^ab?c$", "ac") && e("^ab?c$", "abc") && !e("^ab?c$", "abbc"));
        assert!(e("cat|dog", "hotdog") && e("cat|dog", "cats") && !e("cat|dog", "cow"));
        assert!(Regex::new(b"(a)", Syntax::Extended, false).is_err());
        assert!(Regex::new(b"+a", Syntax::Extended, false).is_err());
        assert!(e("[|]", "|") && !e("[|]", "a"));
        assert!(e("^a|b$", "ax") && e("^a|b$", "xb") && !e("^a|b$", "xax"));
    }

    #[test]
    fn case_folding_and_whole_lines() {
        let r = Regex::new(b"^hello [a-c]", Syntax::Basic, true).unwrap();
        assert!(r.is_match(b"HeLLo B"));
        assert!(!r.is_match(b"HeLLo D"));
        let r = Regex::new(b"a.c", Syntax::Basic, false).unwrap();
        assert!(r.is_full_match(b"abc") && !r.is_full_match(b"abcd"));
        assert!(r.is_match(b"abcd"));
    }
}
