//! `print!`/`println!` for user programs.
//!
//! Text is collected in a [`LineBuffer`] on the stack and handed to the
//! kernel's debug-print call in one piece per call (or per full buffer), so
//! the kernel prefixes each line once.

use core::fmt;

/// Buffer size for one print call.
pub const LINE_BUFFER: usize = 512;

/// A fixed buffer that calls `flush` when full and on [`LineBuffer::finish`].
pub struct LineBuffer<F: FnMut(&[u8])> {
    buf: [u8; LINE_BUFFER],
    len: usize,
    flush: F,
}

impl<F: FnMut(&[u8])> LineBuffer<F> {
    /// An empty buffer that hands full chunks to `flush`.
    pub fn new(flush: F) -> Self {
        Self {
            buf: [0; LINE_BUFFER],
            len: 0,
            flush,
        }
    }

    /// Flushes what is left.
    pub fn finish(mut self) {
        if self.len > 0 {
            (self.flush)(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl<F: FnMut(&[u8])> fmt::Write for LineBuffer<F> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == LINE_BUFFER {
                (self.flush)(&self.buf);
                self.len = 0;
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// Formats `args` and prints them through the kernel.
pub fn print_fmt(args: fmt::Arguments<'_>) {
    use fmt::Write as _;
    let mut lb = LineBuffer::new(|bytes| {
        // Nothing useful to do if the console refuses the text.
        let _ = crate::sys::debug_print(bytes);
    });
    let _ = lb.write_fmt(args);
    lb.finish();
}

/// Prints formatted text (the kernel ends each call with a newline).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::print::print_fmt(format_args!($($arg)*)) };
}

/// Prints a formatted line.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => { $crate::print::print_fmt(format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use fmt::Write as _;

    #[test]
    fn flushes_in_order_and_in_chunks() {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut lb = LineBuffer::new(|b: &[u8]| out.push(b.to_vec()));
        let long = "x".repeat(LINE_BUFFER + 10);
        write!(lb, "{long}!").unwrap();
        lb.finish();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len(), LINE_BUFFER);
        assert_eq!(out[1], b"xxxxxxxxxx!");
    }

    #[test]
    fn empty_buffer_flushes_nothing() {
        let mut calls = 0;
        LineBuffer::new(|_: &[u8]| calls += 1).finish();
        assert_eq!(calls, 0);
    }
}
