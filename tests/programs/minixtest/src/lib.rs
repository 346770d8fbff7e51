//! `minixtest`: the conventions of MINIX's test programs (`common.c`) for
//! the disk test programs `/bin/test40` and `/bin/test77` (on `ulib`).
//!
//! * A test has lettered subtests ([`Case`]); each runs in a forked child
//!   (as MINIX's test40 runs `t40a`..`t40f` as separate programs), inside
//!   the scratch directory `/tmp/DIR_NN`, with an alarm as a guard against
//!   a hang (a child killed by it counts as an error).
//! * A subtest records numbered errors with [`Subtest::e`], each printed as
//!   `Subtest N, error M: what` (MINIX `e()`); past [`MAX_ERROR`] it gives
//!   up ("Too many errors; test aborted"). Its exit code is its error count
//!   (MINIX `exit(errct)`); [`Subtest::skip`] exits with [`SKIP`] after
//!   printing why the system cannot run it.
//! * The runner prints one line per subtest and at the end
//!   `Test NN ... ok` (exit 0) or `Test NN ... FAILED, K errors` (exit 1).
//!   A child that dies, or exits with a code that is neither an error count
//!   nor [`SKIP`], counts as one error (MINIX's test40 would ignore it).
#![cfg_attr(not(test), no_std)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Display;
use ulib::errno::strerror;
use ulib::process::{self, Status};
use ulib::{Errno, fs, println};

/// Errors a subtest records before it gives up (MINIX `MAX_ERROR`).
pub const MAX_ERROR: u32 = 5;

/// Exit code of a subtest the system cannot run ([`Subtest::skip`]).
pub const SKIP: i32 = 77;

/// Seconds a subtest may run before its alarm ends it.
pub const TIME_LIMIT: u32 = 60;

/// A subtest: its letter (`a`..), what it covers, and the code.
#[derive(Clone, Copy)]
pub struct Case {
    /// The letter (MINIX `t40a`, `test77a`, ...).
    pub letter: char,
    /// What it covers, for the report line.
    pub what: &'static str,
    /// The subtest; it records errors in the [`Subtest`].
    pub run: fn(&mut Subtest),
}

/// The error recorder of one subtest (in the child running it).
#[derive(Debug)]
pub struct Subtest {
    /// MINIX's subtest number: 1 for `a`, 2 for `b`, ...
    pub nr: u32,
    errct: u32,
}

impl Subtest {
    /// The recorder of subtest `letter`.
    pub fn new(letter: char) -> Self {
        Subtest {
            nr: subtest_nr(letter),
            errct: 0,
        }
    }

    /// A fresh recorder for the same subtest, for a child it forks (which
    /// exits with its own error count).
    pub fn fresh(&self) -> Subtest {
        Subtest {
            nr: self.nr,
            errct: 0,
        }
    }

    /// Records error `n` (MINIX `e(n)`), printing what went wrong; ends the
    /// subtest once more than [`MAX_ERROR`] errors were recorded.
    pub fn e(&mut self, n: u32, what: impl Display) {
        println!("Subtest {}, error {n}: {what}", self.nr);
        self.errct += 1;
        if self.errct > MAX_ERROR {
            println!("Too many errors; test aborted");
            process::exit(self.errct as i32);
        }
    }

    /// Records error `n` unless `ok`; `what` is only built on failure.
    pub fn check<D: Display>(&mut self, ok: bool, n: u32, what: impl FnOnce() -> D) {
        if !ok {
            self.e(n, what());
        }
    }

    /// Records error `n` for a call that failed with `err` (`what: error`).
    pub fn fail(&mut self, n: u32, what: &str, err: Errno) {
        self.e(n, format_args!("{what}: {}", strerror(err)));
    }

    /// Errors recorded so far.
    pub fn errors(&self) -> u32 {
        self.errct
    }

    /// Ends the subtest as not runnable on this system, saying why.
    pub fn skip(&self, why: impl Display) -> ! {
        println!("Subtest {}: skipped: {why}", self.nr);
        process::exit(SKIP)
    }

    /// Ends the subtest with its error count as the exit code.
    pub fn finish(&self) -> ! {
        process::exit(self.errct as i32)
    }
}

/// MINIX's subtest number of a letter: `a` = 1, `b` = 2, ...
pub fn subtest_nr(letter: char) -> u32 {
    (letter as u32).saturating_sub('a' as u32) + 1
}

/// What became of one subtest, from its child's wait status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No errors.
    Ok,
    /// This many errors.
    Errors(u32),
    /// The system cannot run it ([`SKIP`]).
    Skipped,
    /// It died or exited strangely: counts as one error.
    Died(String),
}

impl Verdict {
    /// The verdict of a subtest child that ended with `st`.
    pub fn of(st: Status) -> Verdict {
        match st.code() {
            Some(0) => Verdict::Ok,
            Some(SKIP) => Verdict::Skipped,
            Some(n) if n > 0 && n as u32 <= MAX_ERROR + 1 => Verdict::Errors(n as u32),
            _ => Verdict::Died(format!("{st}")),
        }
    }

    /// Errors it adds to the test's total.
    pub fn errors(&self) -> u32 {
        match self {
            Verdict::Ok | Verdict::Skipped => 0,
            Verdict::Errors(n) => *n,
            Verdict::Died(_) => 1,
        }
    }
}

/// The subtests `args` select: every case when no argument names letters,
/// else the cases whose letters appear in the first argument that is not
/// a `key=value` setting (`test40 bdf`).
pub fn selected<'a>(cases: &'a [Case], args: &[String]) -> Vec<&'a Case> {
    let pick = args.iter().skip(1).find(|a| !a.contains('='));
    cases
        .iter()
        .filter(|c| pick.is_none_or(|p| p.contains(c.letter)))
        .collect()
}

/// The value of setting `key=` in `args` (after the program name).
pub fn setting<'a>(args: &'a [String], key: &str) -> Option<&'a str> {
    args.iter()
        .skip(1)
        .find_map(|a| a.strip_prefix(key)?.strip_prefix('='))
}

/// The last line of a test: MINIX's `ok`, or the error count (`test` is
/// the number, or a name for a program that is not a numbered MINIX test).
pub fn summary(test: impl Display, errors: u32) -> String {
    if errors == 0 {
        format!("Test {test} ... ok")
    } else {
        format!("Test {test} ... FAILED, {errors} errors")
    }
}

/// The scratch directory of test `test` (MINIX `DIR_NN`).
pub fn scratch_dir(test: u32) -> String {
    format!("/tmp/DIR_{test:02}")
}

/// Removes `dir` and the files in it (the tests create no subdirectories).
fn remove_dir(dir: &str) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries {
            if e.name != "." && e.name != ".." {
                let _ = fs::unlink(&format!("{dir}/{}", e.name));
            }
        }
    }
    let _ = fs::rmdir(dir);
}

/// Runs subtest `case` in a forked child; its verdict.
fn run_case(test: u32, case: &Case) -> Verdict {
    match process::fork() {
        Ok(0) => {
            let mut s = Subtest::new(case.letter);
            if let Err(err) = process::alarm(TIME_LIMIT) {
                s.fail(900, "alarm", err);
            }
            (case.run)(&mut s);
            s.finish()
        }
        Ok(pid) => loop {
            match process::waitpid(pid, 0) {
                Ok((_, st)) => return Verdict::of(st),
                Err(Errno::EINTR) => {}
                Err(err) => return Verdict::Died(format!("waitpid: {}", strerror(err))),
            }
        },
        Err(err) => {
            println!("test{test}: fork: {}", strerror(err));
            Verdict::Died(String::from("not started"))
        }
    }
}

/// Runs test `test`: the selected `cases` (see [`selected`]), `iterations`
/// times, each in a child in the scratch directory; prints a line per
/// subtest and the summary. Returns the exit code (0 only if no errors).
pub fn run(test: u32, cases: &[Case], args: &[String], iterations: u32) -> i32 {
    let dir = scratch_dir(test);
    remove_dir(&dir);
    let mut errors = 0u32;
    if let Err(err) = fs::mkdir(&dir, 0o777).and_then(|()| fs::chdir(&dir)) {
        println!("test{test}: {dir}: {}", strerror(err));
        errors += 1;
    }
    let picked = selected(cases, args);
    for i in 0..iterations {
        for case in &picked {
            let v = run_case(test, case);
            let what = match &v {
                Verdict::Ok => String::from("ok"),
                Verdict::Errors(n) => format!("{n} errors"),
                Verdict::Skipped => String::from("skipped"),
                Verdict::Died(how) => format!("died ({how}): 1 error"),
            };
            let round = if iterations > 1 {
                format!(" (iteration {})", i + 1)
            } else {
                String::new()
            };
            println!(
                "test{test}: subtest {} ({}){round}: {what}",
                case.letter, case.what
            );
            errors += v.errors();
        }
    }
    let _ = fs::chdir("/");
    remove_dir(&dir);
    println!("{}", summary(test, errors));
    i32::from(errors != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nop(_: &mut Subtest) {}

    const CASES: [Case; 3] = [
        Case {
            letter: 'a',
            what: "one",
            run: nop,
        },
        Case {
            letter: 'b',
            what: "two",
            run: nop,
        },
        Case {
            letter: 'f',
            what: "six",
            run: nop,
        },
    ];

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| String::from(*s)).collect()
    }

    fn letters(v: Vec<&Case>) -> String {
        v.iter().map(|c| c.letter).collect()
    }

    #[test]
    fn subtest_numbers_follow_the_letters() {
        assert_eq!(subtest_nr('a'), 1);
        assert_eq!(subtest_nr('f'), 6);
        assert_eq!(Subtest::new('c').nr, 3);
    }

    #[test]
    fn selection_by_letters_ignores_settings() {
        assert_eq!(letters(selected(&CASES, &args(&["t"]))), "abf");
        assert_eq!(letters(selected(&CASES, &args(&["t", "fb"]))), "bf");
        assert_eq!(letters(selected(&CASES, &args(&["t", "n=3"]))), "abf");
        assert_eq!(letters(selected(&CASES, &args(&["t", "n=3", "a"]))), "a");
        assert_eq!(letters(selected(&CASES, &args(&["t", "z"]))), "");
        assert_eq!(setting(&args(&["t", "a", "n=3"]), "n"), Some("3"));
        assert_eq!(setting(&args(&["t", "nn=3"]), "n"), None);
        assert_eq!(setting(&args(&["n=3"]), "n"), None);
    }

    #[test]
    fn verdicts_from_wait_statuses() {
        // POSIX encoding: exit code in bits 8..16, a signal in bits 0..7.
        assert_eq!(Verdict::of(Status(0)), Verdict::Ok);
        assert_eq!(Verdict::of(Status(3 << 8)), Verdict::Errors(3));
        assert_eq!(Verdict::of(Status(6 << 8)), Verdict::Errors(6));
        assert_eq!(Verdict::of(Status(SKIP << 8)), Verdict::Skipped);
        let died = Verdict::of(Status(14));
        assert!(matches!(died, Verdict::Died(_)), "{died:?}");
        assert_eq!(died.errors(), 1);
        // An exit code that is not an error count (exit(-1)) is a death.
        assert_eq!(Verdict::of(Status(255 << 8)).errors(), 1);
        assert_eq!(Verdict::Skipped.errors(), 0);
        assert_eq!(Verdict::Errors(4).errors(), 4);
    }

    #[test]
    fn summary_lines() {
        assert_eq!(summary(40, 0), "Test 40 ... ok");
        assert_eq!(summary(77, 3), "Test 77 ... FAILED, 3 errors");
        assert_eq!(scratch_dir(40), "/tmp/DIR_40");
        assert_eq!(summary("crashload", 0), "Test crashload ... ok");
    }
}
