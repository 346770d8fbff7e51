//! Arguments and environment.
//!
//! A program started by exec gets the *exec block*: its argv strings, each
//! NUL-terminated, then one empty string, then the environment strings
//! `K=V`, each NUL-terminated (VM puts it on the new stack; `rt` passes
//! its address and length to `_start`). A boot module gets its plain
//! argument string instead (no NUL): its words become `args()[1..]`, with
//! an empty `args()[0]`. [`build_exec_block`] makes the block that
//! [`crate::process::exec`] hands to the next program.

use crate::errno::{Errno, Result};
use crate::global::Global;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Largest exec block (`rt::MAX_START_BLOCK`: the new program refuses
/// longer ones).
pub const MAX_EXEC_BLOCK: usize = rt::MAX_START_BLOCK;

/// Arguments and environment of a program.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartBlock {
    /// argv (`args[0]` is the program's path; empty for a boot module).
    pub args: Vec<String>,
    /// Environment variables in order, `(name, value)`.
    pub vars: Vec<(String, String)>,
}

fn split_var(s: &str) -> (String, String) {
    match s.split_once('=') {
        Some((k, v)) => (k.to_string(), v.to_string()),
        None => (s.to_string(), String::new()),
    }
}

/// Decodes the start block: an exec block if it contains a NUL, else a
/// boot module's plain argument string. Bytes that are not UTF-8 are
/// replaced (`U+FFFD`).
pub fn parse_start_block(b: &[u8]) -> StartBlock {
    if !b.contains(&0) {
        let text = String::from_utf8_lossy(b);
        let mut args = alloc::vec![String::new()];
        args.extend(text.split_ascii_whitespace().map(String::from));
        return StartBlock {
            args,
            vars: Vec::new(),
        };
    }
    // Strings end at each NUL; a trailing piece without one still counts.
    let mut strings: Vec<&[u8]> = b.split(|&c| c == 0).collect();
    if b.last() == Some(&0) {
        strings.pop();
    }
    let mut it = strings.into_iter();
    let mut out = StartBlock::default();
    for s in it.by_ref() {
        if s.is_empty() {
            break;
        }
        out.args.push(String::from_utf8_lossy(s).into_owned());
    }
    for s in it {
        if !s.is_empty() {
            out.vars.push(split_var(&String::from_utf8_lossy(s)));
        }
    }
    out
}

/// The exec block for `argv` and `envp` (`K=V` strings). `EINVAL` if a
/// string is empty (an empty string ends argv in the block) or contains a
/// NUL, `E2BIG` if
/// the block exceeds [`MAX_EXEC_BLOCK`].
pub fn build_exec_block<A: AsRef<str>, E: AsRef<str>>(argv: &[A], envp: &[E]) -> Result<Vec<u8>> {
    let mut b = Vec::new();
    for a in argv {
        let a = a.as_ref();
        if a.is_empty() || a.contains('\0') {
            return Err(Errno::EINVAL);
        }
        b.extend_from_slice(a.as_bytes());
        b.push(0);
        if b.len() > MAX_EXEC_BLOCK {
            return Err(Errno::E2BIG);
        }
    }
    b.push(0);
    for e in envp {
        let e = e.as_ref();
        if e.is_empty() || e.contains('\0') {
            return Err(Errno::EINVAL);
        }
        b.extend_from_slice(e.as_bytes());
        b.push(0);
        if b.len() > MAX_EXEC_BLOCK {
            return Err(Errno::E2BIG);
        }
    }
    if b.len() > MAX_EXEC_BLOCK {
        return Err(Errno::E2BIG);
    }
    Ok(b)
}

static STATE: Global<StartBlock> = Global::new(StartBlock {
    args: Vec::new(),
    vars: Vec::new(),
});

/// Records the program's start block (done by [`crate::main!`]).
pub fn init(block: &[u8]) {
    let parsed = parse_start_block(block);
    STATE.with(|s| *s = parsed);
}

/// The program's arguments (`args()[0]` is its path).
pub fn args() -> Vec<String> {
    STATE.with(|s| s.args.clone()).unwrap_or_default()
}

/// The value of environment variable `name`.
pub fn var(name: &str) -> Option<String> {
    STATE
        .with(|s| {
            s.vars
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
        .flatten()
}

/// All environment variables, in order.
pub fn vars() -> Vec<(String, String)> {
    STATE.with(|s| s.vars.clone()).unwrap_or_default()
}

/// Sets `name` to `value` (for this program and the programs it execs
/// with [`crate::process::exec_env`]). `EINVAL` for a name that is empty
/// or contains `=` or NUL, or a value with a NUL.
pub fn set_var(name: &str, value: &str) -> Result<()> {
    if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
        return Err(Errno::EINVAL);
    }
    STATE
        .with(|s| {
            s.vars.retain(|(k, _)| k != name);
            s.vars.push((name.to_string(), value.to_string()));
        })
        .ok_or(Errno::EAGAIN)
}

/// Removes `name` from the environment.
pub fn remove_var(name: &str) {
    STATE.with(|s| s.vars.retain(|(k, _)| k != name));
}

/// The environment as `K=V` strings (what exec passes on).
pub fn envp() -> Vec<String> {
    vars()
        .into_iter()
        .map(|(k, v)| alloc::format!("{k}={v}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_block_round_trips() {
        let b = build_exec_block(&["/bin/child", "a b"], &["HOME=/", "X=1=2"]).unwrap();
        assert_eq!(b, b"/bin/child\0a b\0\0HOME=/\0X=1=2\0");
        // An empty argument would end argv early: refused.
        assert_eq!(
            build_exec_block(&["/bin/child", ""], &["A=1"]),
            Err(Errno::EINVAL)
        );
        let b = build_exec_block(&["/bin/child", "x"], &["HOME=/", "X=1=2"]).unwrap();
        let p = parse_start_block(&b);
        assert_eq!(p.args, ["/bin/child", "x"]);
        assert_eq!(
            p.vars,
            [
                ("HOME".to_string(), "/".to_string()),
                ("X".to_string(), "1=2".to_string())
            ]
        );
    }

    #[test]
    fn empty_argv_and_env() {
        let b = build_exec_block::<&str, &str>(&[], &[]).unwrap();
        assert_eq!(b, b"\0");
        assert_eq!(parse_start_block(&b), StartBlock::default());
    }

    #[test]
    fn boot_module_string_is_words() {
        let p = parse_start_block(b"  exec /sbin/init  now");
        assert_eq!(p.args, ["", "exec", "/sbin/init", "now"]);
        assert!(p.vars.is_empty());
        assert_eq!(parse_start_block(b"").args, [""]);
    }

    #[test]
    fn unterminated_last_string_still_counts() {
        let p = parse_start_block(b"prog\0\0A=1\0B=2");
        assert_eq!(p.args, ["prog"]);
        assert_eq!(p.vars.len(), 2);
        assert_eq!(p.vars[1], ("B".to_string(), "2".to_string()));
    }

    #[test]
    fn bad_strings_are_refused() {
        assert_eq!(build_exec_block(&["a\0b"], &[""; 0]), Err(Errno::EINVAL));
        assert_eq!(build_exec_block(&["a"], &[""]), Err(Errno::EINVAL));
        let big = "x".repeat(MAX_EXEC_BLOCK);
        assert_eq!(
            build_exec_block(&[big.as_str()], &[""; 0]),
            Err(Errno::E2BIG)
        );
    }
}
