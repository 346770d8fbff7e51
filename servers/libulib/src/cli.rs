//! Command-line conventions for the utilities: a small `getopt(3)`-style
//! parser for short options, error messages in the usual
//! `prog: what: strerror` shape, and the exit codes.
//!
//! Options are described by a spec string as for `getopt`: each letter is
//! a flag, a letter followed by `:` takes a value (`"rfm:"`: `-r`, `-f`,
//! `-m MODE`). Flags combine (`-rf`), a value follows its letter in the
//! same word or in the next one (`-m755`, `-m 755`), `--` ends the
//! options, a lone `-` is an operand (standard input by convention), and
//! the first operand ends the options (POSIX: `rm -r dir -f` removes a
//! file named `-f`).
//!
//! ```ignore
//! use ulib::cli::{self, Opts};
//! fn main(args: &[String]) -> i32 {
//!     let prog = cli::prog_name(args, "rm");
//!     let opts = match Opts::parse(args, "rf") {
//!         Ok(o) => o,
//!         Err(e) => return cli::usage_error(prog, &e, "rm [-rf] file ..."),
//!     };
//!     for path in opts.operands() {
//!         if let Err(e) = ulib::fs::unlink(path) {
//!             if !opts.has('f') { cli::report(prog, path, e); }
//!         }
//!     }
//!     cli::EXIT_OK
//! }
//! ```
//!
//! Exit codes: [`EXIT_OK`] (0) success, [`EXIT_FAIL`] (1) an operation
//! failed, [`EXIT_USAGE`] (2) bad options or operands.

use crate::errno::{Errno, strerror};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Exit code: everything worked.
pub const EXIT_OK: i32 = 0;
/// Exit code: an operation failed (a missing file, a refused call).
pub const EXIT_FAIL: i32 = 1;
/// Exit code: the command line was wrong (unknown option, missing operand).
pub const EXIT_USAGE: i32 = 2;

/// What is wrong with a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliError {
    /// An option letter the spec does not list.
    Unknown(char),
    /// An option that takes a value came last, without one.
    MissingValue(char),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Unknown(c) => write!(f, "unknown option -- {c}"),
            CliError::MissingValue(c) => write!(f, "option requires an argument -- {c}"),
        }
    }
}

/// A parsed command line: the options in the order given (with their
/// values) and the operands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Opts {
    opts: Vec<(char, Option<String>)>,
    operands: Vec<String>,
}

impl Opts {
    /// Parses `args` (`args[0]` is the program name and is skipped)
    /// against `spec` (see the module documentation).
    pub fn parse(args: &[String], spec: &str) -> Result<Opts, CliError> {
        Self::parse_words(args.get(1..).unwrap_or(&[]), spec)
    }

    /// Parses `words` (no program name) against `spec`.
    pub fn parse_words(words: &[String], spec: &str) -> Result<Opts, CliError> {
        let mut out = Opts::default();
        let mut i = 0;
        while i < words.len() {
            let w = &words[i];
            i += 1;
            if w == "--" {
                break;
            }
            if w == "-" || !w.starts_with('-') {
                i -= 1;
                break;
            }
            for (at, c) in w[1..].char_indices() {
                match takes_value(spec, c) {
                    None => return Err(CliError::Unknown(c)),
                    Some(false) => out.opts.push((c, None)),
                    Some(true) => {
                        let rest = &w[1 + at + c.len_utf8()..];
                        let value = if !rest.is_empty() {
                            String::from(rest)
                        } else if i < words.len() {
                            i += 1;
                            words[i - 1].clone()
                        } else {
                            return Err(CliError::MissingValue(c));
                        };
                        out.opts.push((c, Some(value)));
                        break;
                    }
                }
            }
        }
        out.operands.extend(words[i..].iter().cloned());
        Ok(out)
    }

    /// Whether flag `c` was given.
    pub fn has(&self, c: char) -> bool {
        self.opts.iter().any(|(o, _)| *o == c)
    }

    /// How many times flag `c` was given (`-vv`).
    pub fn count(&self, c: char) -> usize {
        self.opts.iter().filter(|(o, _)| *o == c).count()
    }

    /// The value of option `c` given last.
    pub fn value(&self, c: char) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(o, _)| *o == c)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Every value of option `c`, in order.
    pub fn values(&self, c: char) -> impl Iterator<Item = &str> {
        self.opts
            .iter()
            .filter(move |(o, _)| *o == c)
            .filter_map(|(_, v)| v.as_deref())
    }

    /// The options in the order given.
    pub fn options(&self) -> &[(char, Option<String>)] {
        &self.opts
    }

    /// The operands (words after the options).
    pub fn operands(&self) -> &[String] {
        &self.operands
    }
}

/// `Some(true)` if option `c` takes a value, `Some(false)` if it is a
/// flag, `None` if `spec` does not list it.
fn takes_value(spec: &str, c: char) -> Option<bool> {
    if c == ':' {
        return None;
    }
    let mut it = spec.chars().peekable();
    while let Some(s) = it.next() {
        let val = it.peek() == Some(&':');
        if val {
            it.next();
        }
        if s == c {
            return Some(val);
        }
    }
    None
}

/// The program's name for messages: the last component of `args[0]`, or
/// `default` when there is none (a boot module has an empty `args[0]`).
pub fn prog_name<'a>(args: &'a [String], default: &'a str) -> &'a str {
    match args.first().map(|a| crate::path::file_name(a)) {
        Some(n) if !n.is_empty() => n,
        _ => default,
    }
}

/// The message `prog: what: strerror(e)`.
pub fn message(prog: &str, what: &str, e: Errno) -> String {
    format!("{prog}: {what}: {}", strerror(e))
}

/// Prints `prog: what: strerror(e)` on standard error.
pub fn report(prog: &str, what: &str, e: Errno) {
    crate::eprintln!("{}", message(prog, what, e));
}

/// [`report`] and [`EXIT_FAIL`]: `return cli::fail(prog, path, e);`.
pub fn fail(prog: &str, what: &str, e: Errno) -> i32 {
    report(prog, what, e);
    EXIT_FAIL
}

/// Prints `prog: msg` on standard error and returns [`EXIT_FAIL`].
pub fn error(prog: &str, msg: &str) -> i32 {
    crate::eprintln!("{prog}: {msg}");
    EXIT_FAIL
}

/// Prints `usage: synopsis` on standard error and returns [`EXIT_USAGE`].
pub fn usage(synopsis: &str) -> i32 {
    crate::eprintln!("usage: {synopsis}");
    EXIT_USAGE
}

/// A bad command line: prints `prog: <e>` and the usage line, returns
/// [`EXIT_USAGE`].
pub fn usage_error(prog: &str, e: &CliError, synopsis: &str) -> i32 {
    crate::eprintln!("{prog}: {e}");
    usage(synopsis)
}

/// Parses a decimal number, or octal with `base` 8; `None` on anything
/// else (empty, signs, overflow, stray characters).
pub fn parse_num(s: &str, base: u32) -> Option<u64> {
    if s.is_empty() || s.starts_with(['+', '-']) {
        return None;
    }
    u64::from_str_radix(s, base).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(|w| w.to_string()).collect()
    }

    fn parse(s: &str, spec: &str) -> Result<Opts, CliError> {
        Opts::parse(&words(s), spec)
    }

    #[test]
    fn combined_flags_and_operands() {
        let o = parse("rm -rf a b", "rf").unwrap();
        assert!(o.has('r') && o.has('f'));
        assert!(!o.has('x'));
        assert_eq!(o.operands(), &words("a b")[..]);
    }

    #[test]
    fn values_in_the_same_or_the_next_word() {
        let o = parse("mkdir -pm755 d", "pm:").unwrap();
        assert!(o.has('p'));
        assert_eq!(o.value('m'), Some("755"));
        assert_eq!(o.operands(), &words("d")[..]);
        let o = parse("mkdir -m 700 -p d e", "pm:").unwrap();
        assert_eq!(o.value('m'), Some("700"));
        assert_eq!(o.operands(), &words("d e")[..]);
        // A value may look like an option.
        let o = parse("x -m -r", "m:r").unwrap();
        assert_eq!(o.value('m'), Some("-r"));
        assert!(!o.has('r'));
    }

    #[test]
    fn double_dash_and_lone_dash() {
        let o = parse("rm -f -- -r x", "rf").unwrap();
        assert!(o.has('f') && !o.has('r'));
        assert_eq!(o.operands(), &words("-r x")[..]);
        let o = parse("cat - -n", "n").unwrap();
        assert!(!o.has('n'));
        assert_eq!(o.operands(), &words("- -n")[..]);
    }

    #[test]
    fn the_first_operand_ends_the_options() {
        let o = parse("ls dir -l", "l").unwrap();
        assert!(!o.has('l'));
        assert_eq!(o.operands(), &words("dir -l")[..]);
    }

    #[test]
    fn errors_name_the_letter() {
        assert_eq!(parse("ls -lz", "l"), Err(CliError::Unknown('z')));
        assert_eq!(parse("mkdir -m", "m:"), Err(CliError::MissingValue('m')));
        assert_eq!(parse("x -:", "a:"), Err(CliError::Unknown(':')));
        assert_eq!(
            CliError::Unknown('z').to_string(),
            "unknown option -- z".to_string()
        );
        assert_eq!(
            CliError::MissingValue('m').to_string(),
            "option requires an argument -- m".to_string()
        );
    }

    #[test]
    fn counts_repeated_values_and_order() {
        let o = parse("x -vv -e a -e b -v", "ve:").unwrap();
        assert_eq!(o.count('v'), 3);
        assert_eq!(o.values('e').collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(o.value('e'), Some("b"));
        assert_eq!(o.options().len(), 5);
        assert!(o.operands().is_empty());
    }

    #[test]
    fn empty_and_missing_program_name() {
        let o = Opts::parse(&[], "a").unwrap();
        assert!(o.operands().is_empty());
        assert_eq!(prog_name(&[], "ls"), "ls");
        assert_eq!(prog_name(&words("/bin/ls -l"), "x"), "ls");
        assert_eq!(prog_name(&[String::new()], "cat"), "cat");
    }

    #[test]
    fn messages_and_numbers() {
        assert_eq!(
            message("ls", "/nope", Errno::ENOENT),
            "ls: /nope: No such file or directory"
        );
        assert_eq!(parse_num("755", 8), Some(0o755));
        assert_eq!(parse_num("12", 10), Some(12));
        assert_eq!(parse_num("8", 8), None);
        assert_eq!(parse_num("", 10), None);
        assert_eq!(parse_num("-1", 10), None);
        assert_eq!(parse_num("+1", 10), None);
        assert_eq!(parse_num("1x", 10), None);
    }
}
