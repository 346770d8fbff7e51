//! The pure parts of the `printf`, `echo` and `getopts` builtins (the
//! executor's `exec/builtins.rs` runs them).
//!
//! `printf` formatting (POSIX): escapes `\n \t \\ \a \b \f
//! \r \v \0NNN`, conversions `%s %b %c %d %i %u %o %x %X %%` with flags
//! `-`, `0`, `+`, blank, width and precision (also `*`). The format is
//! used again while arguments remain; missing arguments are empty / 0.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// What `printf` prints, and the errors met (bad numbers: the number is
/// taken as 0 and the status is 1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// The text.
    pub text: String,
    /// Messages for standard error.
    pub errors: Vec<String>,
    /// `\c` in a `%b` argument: stop printing.
    pub stopped: bool,
}

/// Appends the escape at `c[*i]` (after the backslash) to `out`; `in_b`:
/// the `%b` rules (`\0NNN`, `\c`). Returns false for `\c` in `%b`.
fn escape(c: &[char], i: &mut usize, out: &mut String, in_b: bool) -> bool {
    let Some(&e) = c.get(*i) else {
        out.push('\\');
        return true;
    };
    *i += 1;
    let simple = match e {
        'n' => Some('\n'),
        't' => Some('\t'),
        '\\' => Some('\\'),
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'f' => Some('\x0c'),
        'r' => Some('\r'),
        'v' => Some('\x0b'),
        '"' if !in_b => Some('"'),
        _ => None,
    };
    if let Some(ch) = simple {
        out.push(ch);
        return true;
    }
    if e == 'c' && in_b {
        return false;
    }
    if e.is_digit(8) {
        // \NNN in the format, \0NNN in %b: up to three octal digits.
        let mut v: u32 = if in_b && e == '0' {
            0
        } else {
            e as u32 - '0' as u32
        };
        let mut n = if in_b && e == '0' { 0 } else { 1 };
        while n < 3 {
            match c.get(*i).and_then(|d| d.to_digit(8)) {
                Some(d) => {
                    v = v * 8 + d;
                    *i += 1;
                    n += 1;
                }
                None => break,
            }
        }
        out.push(char::from_u32(v & 0xff).unwrap_or('?'));
        return true;
    }
    out.push('\\');
    out.push(e);
    true
}

fn number(arg: &str, errors: &mut Vec<String>) -> i64 {
    let t = arg.trim();
    if let Some(ch) = t.strip_prefix(['\'', '"']) {
        return ch.chars().next().map_or(0, |c| c as i64);
    }
    if t.is_empty() {
        return 0;
    }
    let (neg, d) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = if let Some(h) = d.strip_prefix("0x").or_else(|| d.strip_prefix("0X")) {
        i64::from_str_radix(h, 16)
    } else if d.len() > 1 && d.starts_with('0') {
        i64::from_str_radix(&d[1..], 8)
    } else {
        d.parse::<i64>()
    };
    match v {
        Ok(v) => {
            if neg {
                v.wrapping_neg()
            } else {
                v
            }
        }
        Err(_) => {
            errors.push(alloc::format!("{arg}: invalid number"));
            0
        }
    }
}

fn pad(s: &str, width: usize, left: bool, zero: bool) -> String {
    let len = s.chars().count();
    if len >= width {
        return s.to_string();
    }
    let fill = width - len;
    if left {
        let mut o = s.to_string();
        o.extend(core::iter::repeat_n(' ', fill));
        o
    } else if zero {
        // Zeros go after the sign.
        let (sign, digits) = match s.strip_prefix(['-', '+', ' ']) {
            Some(d) => (&s[..1], d),
            None => ("", s),
        };
        let mut o = String::from(sign);
        o.extend(core::iter::repeat_n('0', fill));
        o.push_str(digits);
        o
    } else {
        let mut o: String = core::iter::repeat_n(' ', fill).collect();
        o.push_str(s);
        o
    }
}

/// The `echo` builtin: leading words made of `-n`, `-e`, `-E` are options
/// (`-n`: no newline; `-e`: backslash escapes as `printf %b`, `\c` ends
/// the output; `-E`: none, the default). The text to print.
pub fn echo(args: &[String]) -> String {
    let (mut newline, mut escapes) = (true, false);
    let mut rest = args;
    while let Some(first) = rest.first() {
        let Some(flags) = first.strip_prefix('-') else {
            break;
        };
        if flags.is_empty() || !flags.chars().all(|c| matches!(c, 'n' | 'e' | 'E')) {
            break;
        }
        for c in flags.chars() {
            match c {
                'n' => newline = false,
                'e' => escapes = true,
                _ => escapes = false,
            }
        }
        rest = &rest[1..];
    }
    let mut out = rest.join(" ");
    if escapes {
        let o = printf("%b", &[out]);
        if o.stopped {
            return o.text;
        }
        out = o.text;
    }
    if newline {
        out.push('\n');
    }
    out
}

/// Formats `args` with `format`.
pub fn printf(format: &str, args: &[String]) -> Output {
    let c: Vec<char> = format.chars().collect();
    let mut out = Output::default();
    let mut next = 0usize;
    loop {
        let start_next = next;
        let mut i = 0;
        while i < c.len() {
            let ch = c[i];
            i += 1;
            if ch == '\\' {
                escape(&c, &mut i, &mut out.text, false);
                continue;
            }
            if ch != '%' {
                out.text.push(ch);
                continue;
            }
            if c.get(i) == Some(&'%') {
                i += 1;
                out.text.push('%');
                continue;
            }
            let (mut left, mut zero, mut plus, mut blank) = (false, false, false, false);
            while let Some(&f) = c.get(i) {
                match f {
                    '-' => left = true,
                    '0' => zero = true,
                    '+' => plus = true,
                    ' ' => blank = true,
                    '#' => {}
                    _ => break,
                }
                i += 1;
            }
            let take_num = |i: &mut usize, next: &mut usize, out: &mut Output| -> usize {
                if c.get(*i) == Some(&'*') {
                    *i += 1;
                    let a = args.get(*next).map(String::as_str).unwrap_or("");
                    *next += 1;
                    let v = number(a, &mut out.errors);
                    return usize::try_from(v).unwrap_or(0).min(4096);
                }
                let mut v: usize = 0;
                while let Some(d) = c.get(*i).and_then(|d| d.to_digit(10)) {
                    v = (v * 10 + d as usize).min(4096);
                    *i += 1;
                }
                v
            };
            let width = take_num(&mut i, &mut next, &mut out);
            let prec = if c.get(i) == Some(&'.') {
                i += 1;
                Some(take_num(&mut i, &mut next, &mut out))
            } else {
                None
            };
            let Some(&conv) = c.get(i) else {
                out.text.push('%');
                break;
            };
            i += 1;
            let arg = args.get(next).map(String::as_str);
            if "sbcdiuoxX".contains(conv) {
                next += 1;
            }
            let arg_s = arg.unwrap_or("");
            let body = match conv {
                's' => {
                    let s: String = match prec {
                        Some(p) => arg_s.chars().take(p).collect(),
                        None => arg_s.to_string(),
                    };
                    pad(&s, width, left, false)
                }
                'b' => {
                    let a: Vec<char> = arg_s.chars().collect();
                    let mut s = String::new();
                    let mut j = 0;
                    let mut stop = false;
                    while j < a.len() {
                        let ch = a[j];
                        j += 1;
                        if ch == '\\' {
                            if !escape(&a, &mut j, &mut s, true) {
                                stop = true;
                                break;
                            }
                        } else {
                            s.push(ch);
                        }
                    }
                    out.text.push_str(&pad(&s, width, left, false));
                    if stop {
                        out.stopped = true;
                        return out;
                    }
                    continue;
                }
                'c' => pad(
                    &arg_s.chars().next().map(String::from).unwrap_or_default(),
                    width,
                    left,
                    false,
                ),
                'd' | 'i' => {
                    let v = number(arg_s, &mut out.errors);
                    let mut digits = v.unsigned_abs().to_string();
                    if let Some(p) = prec
                        && digits.len() < p
                    {
                        digits = "0".repeat(p - digits.len()) + &digits;
                    }
                    let sign = if v < 0 {
                        "-"
                    } else if plus {
                        "+"
                    } else if blank {
                        " "
                    } else {
                        ""
                    };
                    pad(
                        &(String::from(sign) + &digits),
                        width,
                        left,
                        zero && prec.is_none(),
                    )
                }
                'u' | 'o' | 'x' | 'X' => {
                    let v = number(arg_s, &mut out.errors) as u64;
                    let mut digits = match conv {
                        'u' => v.to_string(),
                        'o' => alloc::format!("{v:o}"),
                        'x' => alloc::format!("{v:x}"),
                        _ => alloc::format!("{v:X}"),
                    };
                    if let Some(p) = prec
                        && digits.len() < p
                    {
                        digits = "0".repeat(p - digits.len()) + &digits;
                    }
                    pad(&digits, width, left, zero && prec.is_none())
                }
                other => {
                    out.errors
                        .push(alloc::format!("%{other}: invalid directive"));
                    continue;
                }
            };
            out.text.push_str(&body);
        }
        // Again while arguments remain (and the format used some).
        if next >= args.len() || next == start_next {
            return out;
        }
    }
}

/// One `getopts` step's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Getopt {
    /// The value for the name variable: the option letter, `?` or `:`.
    pub name: char,
    /// `OPTARG` (`None`: unset it).
    pub optarg: Option<String>,
    /// 0 while options remain, 1 at their end.
    pub status: i32,
    /// A message for standard error (not in silent mode).
    pub error: Option<String>,
}

/// `getopts OPTSTRING NAME [ARGS]` (POSIX): the option at `args[*optind
/// - 1]`, character `*pos` (1 after the `-`); both are advanced. A
/// leading `:` in `optstring` is silent mode (errors reported through
/// `NAME`/`OPTARG` only).
pub fn getopts(optstring: &str, args: &[String], optind: &mut usize, pos: &mut usize) -> Getopt {
    let silent = optstring.starts_with(':');
    let spec = optstring.strip_prefix(':').unwrap_or(optstring);
    let end = Getopt {
        name: '?',
        optarg: None,
        status: 1,
        error: None,
    };
    if *optind == 0 {
        *optind = 1;
    }
    let Some(word) = args.get(*optind - 1) else {
        return end;
    };
    let chars: Vec<char> = word.chars().collect();
    if *pos <= 1 {
        if word == "--" {
            *optind += 1;
            *pos = 1;
            return end;
        }
        if chars.len() < 2 || chars[0] != '-' {
            return end;
        }
        *pos = 1;
    }
    let Some(&c) = chars.get(*pos) else {
        // Stale position: start on the next word.
        *optind += 1;
        *pos = 1;
        return getopts(optstring, args, optind, pos);
    };
    *pos += 1;
    let at_end = *pos >= chars.len();
    let advance = |optind: &mut usize, pos: &mut usize| {
        *optind += 1;
        *pos = 1;
    };
    let known = c != ':' && spec.contains(c);
    if !known {
        if at_end {
            advance(optind, pos);
        }
        return Getopt {
            name: '?',
            optarg: silent.then(|| c.to_string()),
            status: 0,
            error: (!silent).then(|| alloc::format!("illegal option -- {c}")),
        };
    }
    let takes_arg = spec
        .char_indices()
        .find(|&(_, x)| x == c)
        .is_some_and(|(i, _)| spec[i + c.len_utf8()..].starts_with(':'));
    if !takes_arg {
        if at_end {
            advance(optind, pos);
        }
        return Getopt {
            name: c,
            optarg: None,
            status: 0,
            error: None,
        };
    }
    if !at_end {
        let arg: String = chars[*pos..].iter().collect();
        advance(optind, pos);
        return Getopt {
            name: c,
            optarg: Some(arg),
            status: 0,
            error: None,
        };
    }
    advance(optind, pos);
    match args.get(*optind - 1) {
        Some(a) => {
            *optind += 1;
            Getopt {
                name: c,
                optarg: Some(a.clone()),
                status: 0,
                error: None,
            }
        }
        None => Getopt {
            name: if silent { ':' } else { '?' },
            optarg: silent.then(|| c.to_string()),
            status: 0,
            error: (!silent).then(|| alloc::format!("option requires an argument -- {c}")),
        },
    }
}
