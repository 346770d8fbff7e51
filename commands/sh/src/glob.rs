//! Shell pattern matching for `case`: `*`, `?`, bracket expressions
//! (`[abc]`, `[a-z]`, `[!x]` / `[^x]`) and `\` escapes. Matching
//! backtracks only to the last `*`, so it is linear-ish in the text and
//! never exponential.

use alloc::string::String;
use alloc::vec::Vec;

/// `s` with the pattern characters escaped (quoted text in a pattern).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[derive(Debug)]
enum Pat {
    Char(char),
    Any,
    Star,
    /// (negated, ranges)
    Class(bool, Vec<(char, char)>),
}

fn compile(p: &str) -> Vec<Pat> {
    let c: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '\\' if i + 1 < c.len() => {
                out.push(Pat::Char(c[i + 1]));
                i += 2;
            }
            '*' => {
                if !matches!(out.last(), Some(Pat::Star)) {
                    out.push(Pat::Star);
                }
                i += 1;
            }
            '?' => {
                out.push(Pat::Any);
                i += 1;
            }
            '[' => match class(&c, i + 1) {
                Some((pat, next)) => {
                    out.push(pat);
                    i = next;
                }
                None => {
                    out.push(Pat::Char('['));
                    i += 1;
                }
            },
            ch => {
                out.push(Pat::Char(ch));
                i += 1;
            }
        }
    }
    out
}

/// A bracket expression starting after `[` at `i`: the class and the index
/// after its `]`, or `None` when there is no closing `]`.
fn class(c: &[char], mut i: usize) -> Option<(Pat, usize)> {
    let neg = matches!(c.get(i), Some('!' | '^'));
    if neg {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let mut ch = *c.get(i)?;
        if ch == ']' && !first {
            return Some((Pat::Class(neg, ranges), i + 1));
        }
        first = false;
        if ch == '\\' {
            i += 1;
            ch = *c.get(i)?;
        }
        if c.get(i + 1) == Some(&'-') && c.get(i + 2).is_some_and(|&e| e != ']') {
            let mut end_i = i + 2;
            let mut end = c[end_i];
            if end == '\\' {
                end_i += 1;
                end = *c.get(end_i)?;
            }
            ranges.push((ch, end));
            i = end_i + 1;
        } else {
            ranges.push((ch, ch));
            i += 1;
        }
    }
}

fn one(p: &Pat, ch: char) -> bool {
    match p {
        Pat::Char(c) => *c == ch,
        Pat::Any => true,
        Pat::Star => false,
        Pat::Class(neg, ranges) => ranges.iter().any(|(a, b)| *a <= ch && ch <= *b) != *neg,
    }
}

/// Whether `text` matches the shell pattern `pattern` as a whole.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p = compile(pattern);
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            if let Pat::Star = p[pi] {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            if one(&p[pi], t[ti]) {
                pi += 1;
                ti += 1;
                continue;
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|x| matches!(x, Pat::Star))
}

/// Whether `pattern` (escaped as [`escape`] does) has an unescaped `*`,
/// `?` or `[`: a word that needs pathname expansion.
pub fn has_magic(pattern: &str) -> bool {
    let mut esc = false;
    for c in pattern.chars() {
        if esc {
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if matches!(c, '*' | '?' | '[') {
            return true;
        }
    }
    false
}

/// `pattern` without its escapes.
pub fn unescape(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut esc = false;
    for c in pattern.chars() {
        if !esc && c == '\\' {
            esc = true;
            continue;
        }
        esc = false;
        out.push(c);
    }
    out
}

/// Most paths one pattern expands to.
pub const MAX_MATCHES: usize = 10_000;

/// Pathname expansion: the paths matching `pattern` (components split at
/// `/`; a component with `*`, `?` or `[` is matched against the names
/// `list(dir)` gives, others are taken as they are), sorted. Names
/// starting with `.` match only a component starting with `.`. `list`
/// answers `None` for what is not a readable directory. Empty when nothing
/// matches (the caller keeps the word).
pub fn expand_path(
    pattern: &str,
    list: &mut dyn FnMut(&str) -> Option<Vec<String>>,
) -> Vec<String> {
    let (start, rest) = match pattern.strip_prefix('/') {
        Some(r) => (String::from("/"), r),
        None => (String::new(), pattern),
    };
    let comps: Vec<&str> = rest.split('/').collect();
    let mut out = Vec::new();
    walk(&start, &comps, list, &mut out);
    out.sort();
    out
}

fn walk(
    prefix: &str,
    comps: &[&str],
    list: &mut dyn FnMut(&str) -> Option<Vec<String>>,
    out: &mut Vec<String>,
) {
    let Some((first, rest)) = comps.split_first() else {
        if out.len() < MAX_MATCHES {
            out.push(String::from(prefix));
        }
        return;
    };
    let join = |name: &str| {
        let mut p = String::from(prefix);
        if !p.is_empty() && !p.ends_with('/') {
            p.push('/');
        }
        p.push_str(name);
        p
    };
    if first.is_empty() {
        // `a//b` or a trailing `/`.
        let mut p = String::from(prefix);
        p.push('/');
        walk(&p, rest, list, out);
        return;
    }
    if !has_magic(first) {
        let name = unescape(first);
        if rest.is_empty() {
            // The last component must exist.
            let dir = if prefix.is_empty() { "." } else { prefix };
            if list(dir).is_some_and(|names| names.contains(&name)) {
                walk(&join(&name), rest, list, out);
            }
        } else {
            walk(&join(&name), rest, list, out);
        }
        return;
    }
    let dir = if prefix.is_empty() { "." } else { prefix };
    let Some(mut names) = list(dir) else {
        return;
    };
    names.sort();
    let dot_ok = first.starts_with('.') || first.starts_with("\\.");
    for n in names {
        if n == "." || n == ".." || (n.starts_with('.') && !dot_ok) {
            continue;
        }
        if matches(first, &n) {
            walk(&join(&n), rest, list, out);
            if out.len() >= MAX_MATCHES {
                return;
            }
        }
    }
}
