//! Kernel command-line options (`-append` in QEMU).
//!
//! Words are separated by blanks; unknown words are kept and reported by the
//! kernel, never fatal.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Options the kernel understands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `strict`: a process that exits nonzero or is killed by a fault marks
    /// the run as failed (QEMU then exits with the fail code).
    pub strict: bool,
    /// `panic_test`: panic deliberately once boot is done, to prove that a
    /// kernel panic is reported and fails the run.
    pub panic_test: bool,
    /// `fault_test`: touch unmapped memory in ring 0 once boot is done, to
    /// prove that a kernel-mode CPU exception is reported as a kernel panic.
    pub fault_test: bool,
    /// `critical=NAME[,NAME...]`: processes whose death (exit or fault)
    /// is a kernel panic, as RS's would be.
    pub critical: Vec<String>,
    /// `user=NAME[,NAME...]`: boot processes that get plain-user
    /// privileges (IPC only to the processes named pm, vfs and vm; no
    /// kernel calls), the MINIX rule for ordinary programs.
    pub users: Vec<String>,
    /// `profile=NAME`: sample the user-mode instruction pointer of the
    /// processes named NAME at every clock tick; the hottest addresses are
    /// printed at the end of the run (see `profile`).
    pub profile: Option<String>,
    /// Words that were not recognised.
    pub unknown: Vec<String>,
}

impl Options {
    /// Parses the kernel arguments (without the kernel file name).
    pub fn parse(args: &str) -> Self {
        let mut o = Self::default();
        for word in args.split_ascii_whitespace() {
            match word {
                "strict" => o.strict = true,
                "panic_test" => o.panic_test = true,
                "fault_test" => o.fault_test = true,
                w if w.starts_with("critical=") => o.critical.extend(
                    w["critical=".len()..]
                        .split(',')
                        .filter(|n| !n.is_empty())
                        .map(ToString::to_string),
                ),
                w if w.starts_with("user=") => o.users.extend(
                    w["user=".len()..]
                        .split(',')
                        .filter(|n| !n.is_empty())
                        .map(ToString::to_string),
                ),
                w if w.starts_with("profile=") && w.len() > "profile=".len() => {
                    o.profile = Some(w["profile=".len()..].to_string());
                }
                other => o.unknown.push(other.to_string()),
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_and_keeps_unknown_words() {
        assert_eq!(Options::parse(""), Options::default());
        let o = Options::parse("  strict  bogus panic_test ");
        assert!(o.strict && o.panic_test && !o.fault_test);
        assert_eq!(o.unknown, ["bogus"]);
        assert!(Options::parse("fault_test").fault_test);
        let o = Options::parse("critical=rs,ds critical=vm");
        assert_eq!(o.critical, ["rs", "ds", "vm"]);
        assert_eq!(Options::parse("user=sh,cat").users, ["sh", "cat"]);
        assert_eq!(
            Options::parse("profile=vfs").profile.as_deref(),
            Some("vfs")
        );
        assert_eq!(Options::parse("profile=").unknown, ["profile="]);
        assert!(o.unknown.is_empty());
    }
}
