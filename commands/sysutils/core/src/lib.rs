//! The pure parts of the text and system utilities (`commands/sysutils`),
//! tested on the host:
//!
//! - [`cksum`]: the POSIX `cksum` CRC.
//! - [`text`]: `wc` counts, `grep` matching (fixed strings or [`regex`]:
//!   POSIX basic/extended expressions without groups), `sort` ordering,
//!   `head`/`tail` line keeping.
//! - [`dump`]: `od` and `hexdump -C` layouts.
//! - [`date`]: `date`'s `strftime` subset (UTC).
//! - [`proc`]: signal names (`kill`), durations (`sleep`), `ps` lines.
//! - [`disk`]: the command lines of `mkfs.mfs` / `fsck.mfs` and the block
//!   device size probe.
//!
//! It uses `ulib` for its types only (dates, signal numbers, the process
//! record, option parsing) and `mfs` for the mkfs options; nothing here
//! talks to a server.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod cksum;
pub mod date;
pub mod disk;
pub mod dump;
pub mod proc;
pub mod regex;
pub mod text;

use alloc::string::String;
use alloc::vec::Vec;

/// The operands, or `-` (standard input) when there are none.
pub fn inputs(operands: &[String]) -> Vec<String> {
    if operands.is_empty() {
        alloc::vec![String::from("-")]
    } else {
        operands.to_vec()
    }
}

/// How an input is named in messages (`-` is "standard input").
pub fn display_name(path: &str) -> &str {
    if path == "-" { "standard input" } else { path }
}

/// `head`/`tail`'s old `-N` (N digits) as `-nN`; `args[0]` and the value
/// of a `-n` are kept.
pub fn count_shorthand(args: &[String]) -> Vec<String> {
    args.iter()
        .enumerate()
        .map(|(i, a)| match a.strip_prefix('-') {
            Some(n)
                if i > 0
                    && args[i - 1] != "-n"
                    && !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit()) =>
            {
                alloc::format!("-n{n}")
            }
            _ => a.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_default_to_stdin() {
        assert_eq!(inputs(&[]), ["-"]);
        let two = [String::from("a"), String::from("b")];
        assert_eq!(inputs(&two), ["a", "b"]);
        assert_eq!(display_name("-"), "standard input");
        assert_eq!(display_name("/x"), "/x");
    }

    #[test]
    fn old_style_counts() {
        let a: Vec<String> = ["head", "-5", "-n", "-3", "-x", "-"]
            .iter()
            .map(|s| String::from(*s))
            .collect();
        assert_eq!(count_shorthand(&a), ["head", "-n5", "-n", "-3", "-x", "-"]);
    }
}
