//! Buffered standard output and error, and standard input.
//!
//! Output goes to descriptors 1 and 2 through VFS. Where one is not open
//! (a program started at boot, or whose parent had no console descriptor)
//! the text goes to the kernel console instead (`rt`'s debug print, one
//! call per line, which the kernel prefixes with the process name). Which
//! of the two applies is found out by the first write and remembered until
//! the descriptor is closed or replaced ([`crate::fd::dup2`]).
//!
//! Standard output is line-buffered: [`print!`](crate::print) keeps text
//! until a newline; [`flush`] (and [`crate::process::exit`], fork and
//! exec) write out the rest. Standard error is written at each call.

use crate::errno::{Errno, Result};
use crate::fd;
use crate::global::Global;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sink {
    /// Not tried yet.
    Unknown,
    /// The descriptor works.
    Fd,
    /// The descriptor is not open: the kernel console.
    Console,
}

struct Out {
    fd: fd::Fd,
    buf: Vec<u8>,
    sink: Sink,
}

impl Out {
    const fn new(fd: fd::Fd) -> Self {
        Out {
            fd,
            buf: Vec::new(),
            sink: Sink::Unknown,
        }
    }

    /// Writes out `self.buf[..n]`.
    fn emit(&mut self, n: usize) {
        let data: Vec<u8> = self.buf.drain(..n).collect();
        if self.sink != Sink::Console {
            match fd::write_all(self.fd, &data) {
                Ok(()) => {
                    self.sink = Sink::Fd;
                    return;
                }
                Err(Errno::EBADF | Errno::ENOSYS) if self.sink == Sink::Unknown => {
                    self.sink = Sink::Console;
                }
                // A descriptor that stopped working (a closed pipe):
                // the text is lost, as with write(2).
                Err(_) => return,
            }
        }
        console(&data);
    }

    /// Writes out every complete line (or everything with `all`).
    fn flush(&mut self, all: bool) {
        let n = if all {
            self.buf.len()
        } else {
            match self.buf.iter().rposition(|&b| b == b'\n') {
                Some(i) => i + 1,
                None => return,
            }
        };
        if n > 0 {
            self.emit(n);
        }
    }
}

/// The pieces `data` is printed in on the kernel console: one per line,
/// without its newline (the kernel ends each print with one), at most
/// `max` bytes each; an empty line becomes a blank.
fn console_pieces(data: &[u8], max: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data.strip_suffix(b"\n").unwrap_or(data);
    if rest.is_empty() && !data.is_empty() {
        out.push(&b" "[..]);
    }
    while !rest.is_empty() {
        let max = rest.len().min(max.max(1));
        let n = rest[..max]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(max, |i| i + 1);
        let line = rest[..n].strip_suffix(b"\n").unwrap_or(&rest[..n]);
        out.push(if line.is_empty() { &b" "[..] } else { line });
        rest = &rest[n..];
    }
    out
}

/// Prints `data` on the kernel console.
fn console(data: &[u8]) {
    for piece in console_pieces(data, rt::abi::MAX_DEBUG_PRINT) {
        let _ = rt::sys::debug_print(piece);
    }
}

static STDOUT: Global<Out> = Global::new(Out::new(fd::STDOUT));
static STDERR: Global<Out> = Global::new(Out::new(fd::STDERR));

struct Collect<'a>(&'a mut Vec<u8>);

impl fmt::Write for Collect<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn print_to(which: &Global<Out>, args: fmt::Arguments<'_>, line_end: bool, all: bool) {
    use fmt::Write as _;
    let done = which.with(|o| {
        let _ = Collect(&mut o.buf).write_fmt(args);
        if line_end {
            o.buf.push(b'\n');
        }
        o.flush(all);
    });
    if done.is_none() {
        // In use by the code a signal handler interrupted: print directly.
        rt::print::print_fmt(args);
    }
}

/// Formats `args` onto standard output (for [`print!`](crate::print)).
pub fn print_fmt(args: fmt::Arguments<'_>, newline: bool) {
    print_to(&STDOUT, args, newline, false);
}

/// Formats `args` onto standard error (for [`eprint!`](crate::eprint)).
pub fn eprint_fmt(args: fmt::Arguments<'_>, newline: bool) {
    print_to(&STDERR, args, newline, true);
}

/// Writes out what standard output and error hold.
pub fn flush() {
    STDOUT.with(|o| o.flush(true));
    STDERR.with(|o| o.flush(true));
}

/// Descriptor `fd` was closed or replaced: standard output or error finds
/// out again where its text goes.
pub(crate) fn descriptor_changed(fd: fd::Fd) {
    for g in [&STDOUT, &STDERR] {
        g.with(|o| {
            if o.fd == fd {
                o.flush(true);
                o.sink = Sink::Unknown;
            }
        });
    }
}

/// A handle on standard output (`write!` and `writeln!` work on it).
#[derive(Debug, Clone, Copy)]
pub struct Stdout;

/// Standard output.
pub fn stdout() -> Stdout {
    Stdout
}

impl fmt::Write for Stdout {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        print_fmt(format_args!("{s}"), false);
        Ok(())
    }
}

impl Stdout {
    /// Writes out buffered text.
    pub fn flush(&self) {
        STDOUT.with(|o| o.flush(true));
    }

    /// Appends raw bytes.
    pub fn write_all(&self, data: &[u8]) {
        STDOUT.with(|o| {
            o.buf.extend_from_slice(data);
            o.flush(false);
        });
    }
}

/// Standard input, read through an internal buffer.
#[derive(Debug)]
pub struct Stdin {
    buf: Vec<u8>,
    eof: bool,
}

/// A reader of standard input (descriptor 0).
pub fn stdin() -> Stdin {
    Stdin {
        buf: Vec::new(),
        eof: false,
    }
}

impl Stdin {
    /// read(2) on descriptor 0 (buffered bytes first).
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize> {
        if !self.buf.is_empty() {
            let n = out.len().min(self.buf.len());
            out[..n].copy_from_slice(&self.buf[..n]);
            self.buf.drain(..n);
            return Ok(n);
        }
        fd::read(fd::STDIN, out)
    }

    /// The next line without its newline; `None` at the end of input.
    pub fn read_line(&mut self) -> Result<Option<String>> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Ok(Some(
                    String::from_utf8_lossy(&line[..line.len() - 1]).into_owned(),
                ));
            }
            if self.eof {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let line = core::mem::take(&mut self.buf);
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            let mut chunk = [0u8; 512];
            let n = fd::read(fd::STDIN, &mut chunk)?;
            if n == 0 {
                self.eof = true;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Prints to standard output (line-buffered).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::io::print_fmt(format_args!($($arg)*), false) };
}

/// Prints a line to standard output.
#[macro_export]
macro_rules! println {
    () => { $crate::io::print_fmt(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::io::print_fmt(format_args!($($arg)*), true) };
}

/// Prints to standard error.
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::io::eprint_fmt(format_args!($($arg)*), false) };
}

/// Prints a line to standard error.
#[macro_export]
macro_rules! eprintln {
    () => { $crate::io::eprint_fmt(format_args!(""), true) };
    ($($arg:tt)*) => { $crate::io::eprint_fmt(format_args!($($arg)*), true) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_prints_line_by_line() {
        let p = console_pieces(b"one\n\nthree\n", 100);
        assert_eq!(p, [&b"one"[..], b" ", b"three"]);
        assert_eq!(console_pieces(b"no newline", 100), [&b"no newline"[..]]);
        assert_eq!(
            console_pieces(b"abcdefg\nh", 3),
            [&b"abc"[..], b"def", b"g", b"h"]
        );
        assert!(console_pieces(b"", 10).is_empty());
        assert_eq!(console_pieces(b"\n", 10), [&b" "[..]]);
    }
}
