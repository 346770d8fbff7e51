//! The line discipline of one terminal line: input processing (CR/NL
//! mapping, signals, start/stop, canonical editing with ERASE, WERASE,
//! KILL, REPRINT, LNEXT, EOF), echo, output processing (ONLCR), the input
//! queue that reads take from (canonical lines or raw bytes with VMIN and
//! VTIME), and the per-line settings (termios, foreground process group,
//! window size). Pure: no hardware, no IPC; time is passed in as ticks.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use sys::HZ;
use sys::proto::pm::sig;
use sys::proto::tty::{TCIFLUSH, TCIOFLUSH, TCOFLUSH, Termios, VDISABLE, Winsize, cc, iflag};
use sys::proto::tty::{lflag, oflag};

/// Most unread input bytes a line holds (an end-of-file mark counts as
/// one); further input is dropped. Large enough for a 10,000-character
/// command line typed or pasted at a prompt.
pub const MAX_INPUT: usize = 16384;
/// Most bytes of one canonical line (the rest of a longer line is
/// dropped, keeping room for its terminator).
pub const MAX_CANON: usize = MAX_INPUT;
/// Output bytes a line queues before writers wait.
pub const OUT_CAP: usize = 8192;
/// Output bytes beyond which input is no longer echoed.
pub const ECHO_CAP: usize = 2 * OUT_CAP;

/// One piece of ready input: a canonical line (with its `\n` or EOL, or
/// none when ^D ended it; an empty one is an end of file), or raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The bytes.
    pub data: VecDeque<u8>,
    /// Complete (a canonical line, or an EOF mark when empty); raw input
    /// is appended to an incomplete last chunk.
    pub complete: bool,
}

/// What a read finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadPoll {
    /// These bytes (possibly none: a VMIN 0 read that timed out, or an
    /// end of file).
    Data(Vec<u8>),
    /// Nothing yet; try again when input arrives or at the deadline (in
    /// ticks), if any.
    Wait(Option<u64>),
}

/// The line: settings, input and output queues.
#[derive(Debug, Clone)]
pub struct Line {
    /// Settings.
    pub termios: Termios,
    /// Foreground process group (0: none; no signals are sent).
    pub pgrp: u32,
    /// Window size.
    pub winsize: Winsize,
    /// Ready input, oldest first.
    pub ready: VecDeque<Chunk>,
    /// The canonical line being edited.
    pub edit: Vec<u8>,
    /// Processed output waiting for the device (or the pty master).
    pub out: VecDeque<u8>,
    /// Output stopped by ^S (IXON) until ^Q.
    pub stopped: bool,
    /// The next input byte is taken literally (after ^V).
    lnext: bool,
    /// Tick of the last input byte (VTIME's inter-byte timer).
    last_rx: u64,
    /// The other side is gone (pty master closed): reads see EOF.
    pub hungup: bool,
    /// Σ max(len, 1) over `ready` (kept as bytes arrive, recounted after
    /// reads and wholesale changes), so the per-byte bound check is cheap.
    held: usize,
}

impl Default for Line {
    fn default() -> Self {
        Line::new()
    }
}

/// Ticks of `vtime` tenths of a second, rounded up.
pub fn vtime_ticks(vtime: u8) -> u64 {
    (u64::from(vtime) * HZ).div_ceil(10)
}

fn is_char(t: &Termios, i: usize, c: u8) -> bool {
    t.cc[i] != VDISABLE && t.cc[i] == c
}

impl Line {
    /// A line with default settings.
    pub fn new() -> Self {
        Line {
            termios: Termios::default(),
            pgrp: 0,
            winsize: Winsize::default(),
            ready: VecDeque::new(),
            edit: Vec::new(),
            out: VecDeque::new(),
            stopped: false,
            lnext: false,
            last_rx: 0,
            hungup: false,
            held: 0,
        }
    }

    fn lflag(&self, f: u32) -> bool {
        self.termios.lflag & f != 0
    }

    /// Canonical mode.
    pub fn canonical(&self) -> bool {
        self.lflag(lflag::ICANON)
    }

    /// Unread bytes a read could take now: whole lines in canonical mode,
    /// everything in raw mode (FIONREAD).
    pub fn available(&self) -> usize {
        self.ready
            .iter()
            .filter(|c| c.complete || !self.canonical())
            .map(|c| c.data.len())
            .sum()
    }

    /// Unread input held, an end-of-file mark counting as one byte (so
    /// marks cannot pile up without bound either).
    pub fn queued(&self) -> usize {
        self.held + self.edit.len()
    }

    /// Recount [`Line::queued`] after `ready` was changed from outside.
    pub fn recount(&mut self) {
        self.held = self.ready.iter().map(|c| c.data.len().max(1)).sum();
    }

    /// Whether a read would return at once (select's "readable").
    pub fn readable(&self) -> bool {
        if self.hungup {
            return true;
        }
        if self.canonical() {
            self.ready.iter().any(|c| c.complete)
        } else {
            self.ready.iter().any(|c| !c.data.is_empty())
        }
    }

    /// Whether a write would be taken at once (select's "writable").
    pub fn writable(&self) -> bool {
        self.out.len() < OUT_CAP
    }

    /// Output room before writers wait.
    pub fn out_room(&self) -> usize {
        OUT_CAP.saturating_sub(self.out.len())
    }

    // ---- output ----

    /// Queue one byte of output, processed (OPOST/ONLCR).
    fn put(&mut self, c: u8) {
        let t = &self.termios;
        if c == b'\n' && t.oflag & oflag::OPOST != 0 && t.oflag & oflag::ONLCR != 0 {
            self.out.push_back(b'\r');
        }
        self.out.push_back(c);
    }

    /// A process writes `bytes`: processed into the output queue, up to
    /// the room there is. Returns how many were taken.
    pub fn write(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.out_room());
        for &c in &bytes[..n] {
            self.put(c);
        }
        n
    }

    /// Echo width of an input byte: control characters show as `^X`.
    fn echo_width(c: u8) -> usize {
        if c < 0x20 && c != b'\t' && c != b'\n' || c == 0x7f {
            2
        } else {
            1
        }
    }

    fn echo(&mut self, c: u8) {
        if Line::echo_width(c) == 2 {
            self.out.push_back(b'^');
            self.out.push_back(if c == 0x7f { b'?' } else { c + b'@' });
        } else {
            self.put(c);
        }
    }

    /// Rub out the last character of the edit line (if any) on screen.
    fn rub_out(&mut self) -> bool {
        let Some(c) = self.edit.pop() else {
            return false;
        };
        if self.lflag(lflag::ECHO) {
            if self.lflag(lflag::ECHOE) {
                for _ in 0..Line::echo_width(c) {
                    self.out.extend(b"\x08 \x08");
                }
            } else {
                let e = self.termios.cc[cc::VERASE];
                self.echo(e);
            }
        }
        true
    }

    // ---- input ----

    /// Drop all unread input (ready and being edited).
    pub fn flush_input(&mut self) {
        self.ready.clear();
        self.held = 0;
        self.edit.clear();
        self.lnext = false;
    }

    /// TCFLSH with queue selector `which`.
    pub fn flush(&mut self, which: u32) -> Result<(), sys::Errno> {
        match which {
            TCIFLUSH => self.flush_input(),
            TCOFLUSH => self.out.clear(),
            TCIOFLUSH => {
                self.flush_input();
                self.out.clear();
            }
            _ => return Err(sys::Errno::EINVAL),
        }
        Ok(())
    }

    fn push_line(&mut self, mut line: Vec<u8>, term: Option<u8>) {
        line.extend(term);
        // A raw tail left by a mode change is finished by this line.
        if let Some(last) = self.ready.back_mut()
            && !last.complete
        {
            let before = last.data.len().max(1);
            last.data.extend(line);
            last.complete = true;
            self.held += last.data.len().max(1) - before;
            return;
        }
        self.held += line.len().max(1);
        self.ready.push_back(Chunk {
            data: line.into(),
            complete: true,
        });
    }

    fn push_raw(&mut self, c: u8) {
        match self.ready.back_mut() {
            Some(last) if !last.complete => {
                let before = last.data.len().max(1);
                last.data.push_back(c);
                self.held += last.data.len() - before;
            }
            _ => {
                self.held += 1;
                self.ready.push_back(Chunk {
                    data: VecDeque::from([c]),
                    complete: false,
                });
            }
        }
    }

    /// Process input bytes arriving at tick `now`. Returns the signals to
    /// send to the foreground process group (^C, ^\), in order.
    pub fn input(&mut self, bytes: &[u8], now: u64) -> Vec<u32> {
        let mut sigs = Vec::new();
        if !bytes.is_empty() {
            self.last_rx = now;
        }
        for &b in bytes {
            if let Some(s) = self.input_byte(b) {
                sigs.push(s);
            }
        }
        sigs
    }

    fn input_byte(&mut self, mut c: u8) -> Option<u32> {
        let t = self.termios;
        let canon = self.canonical();
        // Echo stops piling up when nobody takes the output (a pty master
        // that is written to and never read).
        let echo = self.lflag(lflag::ECHO) && self.out.len() < ECHO_CAP;
        if self.lnext {
            self.lnext = false;
            self.store(c, canon, echo);
            return None;
        }
        if c == b'\r' {
            if t.iflag & iflag::IGNCR != 0 {
                return None;
            }
            if t.iflag & iflag::ICRNL != 0 {
                c = b'\n';
            }
        } else if c == b'\n' && t.iflag & iflag::INLCR != 0 {
            c = b'\r';
        }
        if t.lflag & lflag::ISIG != 0 {
            let s = if is_char(&t, cc::VINTR, c) {
                Some(sig::SIGINT)
            } else if is_char(&t, cc::VQUIT, c) {
                Some(sig::SIGQUIT)
            } else {
                None
            };
            if let Some(s) = s {
                if t.lflag & lflag::NOFLSH == 0 {
                    self.flush_input();
                }
                if echo {
                    self.echo(c);
                    self.put(b'\n');
                }
                return Some(s);
            }
            if is_char(&t, cc::VSUSP, c) {
                // No job control: recognised and dropped.
                return None;
            }
        }
        if t.iflag & iflag::IXON != 0 {
            if is_char(&t, cc::VSTOP, c) {
                self.stopped = true;
                return None;
            }
            if is_char(&t, cc::VSTART, c) {
                self.stopped = false;
                return None;
            }
        }
        if canon {
            let ext = t.lflag & lflag::IEXTEN != 0;
            if is_char(&t, cc::VERASE, c) || (ext && c == 0x08) {
                self.rub_out();
                return None;
            }
            if ext && is_char(&t, cc::VWERASE, c) {
                while self.edit.last().is_some_and(|b| b.is_ascii_whitespace()) {
                    self.rub_out();
                }
                while self.edit.last().is_some_and(|b| !b.is_ascii_whitespace()) {
                    self.rub_out();
                }
                return None;
            }
            if is_char(&t, cc::VKILL, c) {
                if echo && t.lflag & lflag::ECHOE == 0 {
                    self.echo(c);
                    if t.lflag & lflag::ECHOK != 0 {
                        self.put(b'\n');
                    }
                    self.edit.clear();
                } else {
                    while self.rub_out() {}
                }
                return None;
            }
            if ext && is_char(&t, cc::VREPRINT, c) {
                if echo {
                    self.echo(c);
                    self.put(b'\n');
                    let line = self.edit.clone();
                    for b in line {
                        self.echo(b);
                    }
                }
                return None;
            }
            if ext && is_char(&t, cc::VLNEXT, c) {
                self.lnext = true;
                return None;
            }
            if is_char(&t, cc::VEOF, c) {
                // The line so far is ready without the ^D; at the start of
                // a line it is an end of file (an empty line).
                if self.edit.is_empty() && self.queued() >= MAX_INPUT {
                    return None;
                }
                let line = core::mem::take(&mut self.edit);
                self.push_line(line, None);
                return None;
            }
            if c == b'\n' || is_char(&t, cc::VEOL, c) {
                if self.edit.is_empty() && self.queued() >= MAX_INPUT {
                    return None;
                }
                let line = core::mem::take(&mut self.edit);
                if echo || (c == b'\n' && t.lflag & lflag::ECHONL != 0) {
                    self.echo(c);
                }
                self.push_line(line, Some(c));
                return None;
            }
        }
        self.store(c, canon, echo);
        None
    }

    /// Keep an ordinary input byte (the edit line or the raw queue).
    fn store(&mut self, c: u8, canon: bool, echo: bool) {
        if canon {
            if self.edit.len() + 1 >= MAX_CANON || self.queued() >= MAX_INPUT {
                return;
            }
            self.edit.push(c);
        } else {
            if self.queued() >= MAX_INPUT {
                return;
            }
            self.push_raw(c);
        }
        if echo {
            self.echo(c);
        }
    }

    // ---- settings ----

    /// New settings (TCSETS*). Leaving canonical mode makes the line being
    /// edited ready as raw input; entering it keeps raw input as the
    /// start of the next line.
    pub fn set_termios(&mut self, t: Termios) {
        let was = self.canonical();
        self.termios = t;
        let now = self.canonical();
        if was && !now && !self.edit.is_empty() {
            let e = core::mem::take(&mut self.edit);
            for c in e {
                self.push_raw(c);
            }
        } else if !was
            && now
            && let Some(last) = self.ready.back()
            && !last.complete
        {
            // An incomplete raw tail becomes the line being edited.
            if let Some(last) = self.ready.pop_back() {
                self.edit = last.data.into_iter().collect();
            }
        }
        if t.iflag & iflag::IXON == 0 {
            self.stopped = false;
        }
        self.recount();
    }

    // ---- reads ----

    /// Try to satisfy a read of up to `want` bytes that started at tick
    /// `started`, at tick `now` (POSIX canonical and VMIN/VTIME rules).
    pub fn poll_read(&mut self, want: usize, started: u64, now: u64) -> ReadPoll {
        if want == 0 {
            return ReadPoll::Data(Vec::new());
        }
        if self.canonical() {
            if let Some(first) = self.ready.front_mut()
                && first.complete
            {
                let n = want.min(first.data.len());
                let out: Vec<u8> = first.data.drain(..n).collect();
                if first.data.is_empty() {
                    self.ready.pop_front();
                }
                self.recount();
                return ReadPoll::Data(out);
            }
            return if self.hungup {
                ReadPoll::Data(Vec::new())
            } else {
                ReadPoll::Wait(None)
            };
        }
        let avail = self.available();
        let min = usize::from(self.termios.cc[cc::VMIN]);
        let time = vtime_ticks(self.termios.cc[cc::VTIME]);
        let take = |l: &mut Line| ReadPoll::Data(l.take_raw(want));
        if self.hungup && avail == 0 {
            return ReadPoll::Data(Vec::new());
        }
        match (min, time) {
            (0, 0) => take(self),
            (0, t) => {
                if avail > 0 || now >= started + t {
                    take(self)
                } else {
                    ReadPoll::Wait(Some(started + t))
                }
            }
            (m, 0) => {
                if avail >= m.min(want) {
                    take(self)
                } else {
                    ReadPoll::Wait(None)
                }
            }
            (m, t) => {
                if avail >= m.min(want) {
                    take(self)
                } else if avail > 0 {
                    let deadline = self.last_rx.max(started) + t;
                    if now >= deadline {
                        take(self)
                    } else {
                        ReadPoll::Wait(Some(deadline))
                    }
                } else {
                    ReadPoll::Wait(None)
                }
            }
        }
    }

    /// The tick a suspended raw read of `want` bytes started at `started`
    /// must be looked at again (its VTIME timer), if it has one.
    pub fn read_deadline(&self, want: usize, started: u64) -> Option<u64> {
        if self.canonical() || want == 0 || self.hungup {
            return None;
        }
        let min = usize::from(self.termios.cc[cc::VMIN]);
        let time = vtime_ticks(self.termios.cc[cc::VTIME]);
        let avail = self.available();
        match (min, time) {
            (_, 0) => None,
            (0, t) => Some(started + t),
            (m, t) => (avail > 0 && avail < m.min(want)).then(|| self.last_rx.max(started) + t),
        }
    }

    /// Up to `want` raw bytes (EOF marks left by canonical mode are
    /// dropped).
    fn take_raw(&mut self, want: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while out.len() < want {
            let Some(first) = self.ready.front_mut() else {
                break;
            };
            let n = (want - out.len()).min(first.data.len());
            out.extend(first.data.drain(..n));
            if first.data.is_empty() {
                self.ready.pop_front();
            }
        }
        self.recount();
        out
    }

    /// Take up to `max` bytes of output (to the device or pty master);
    /// none while stopped by ^S.
    pub fn take_output(&mut self, max: usize) -> Vec<u8> {
        if self.stopped {
            return Vec::new();
        }
        let n = max.min(self.out.len());
        self.out.drain(..n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn out(l: &mut Line) -> Vec<u8> {
        l.out.drain(..).collect()
    }

    fn read(l: &mut Line, n: usize) -> ReadPoll {
        l.poll_read(n, 0, 0)
    }

    fn data(v: &[u8]) -> ReadPoll {
        ReadPoll::Data(v.to_vec())
    }

    #[test]
    fn canonical_read_waits_for_a_whole_line_and_echoes() {
        let mut l = Line::new();
        assert!(l.input(b"ls -l", 1).is_empty());
        assert_eq!(read(&mut l, 100), ReadPoll::Wait(None));
        assert!(!l.readable());
        assert_eq!(l.available(), 0);
        assert_eq!(out(&mut l), b"ls -l");
        // CR from the terminal becomes NL (ICRNL), echoed as CR NL (ONLCR).
        l.input(b"\r", 2);
        assert_eq!(out(&mut l), b"\r\n");
        assert!(l.readable());
        assert_eq!(l.available(), 6);
        // One line per read, split by the read size.
        l.input(b"pwd\n", 3);
        assert_eq!(read(&mut l, 3), data(b"ls "));
        assert_eq!(read(&mut l, 100), data(b"-l\n"));
        assert_eq!(read(&mut l, 100), data(b"pwd\n"));
        assert_eq!(read(&mut l, 100), ReadPoll::Wait(None));
        assert_eq!(read(&mut l, 0), data(b""));
    }

    #[test]
    fn erase_kill_and_werase_edit_the_line() {
        let mut l = Line::new();
        l.input(b"cat\x7f\x7fp", 0);
        // "\b \b" per erased character.
        assert_eq!(out(&mut l), b"cat\x08 \x08\x08 \x08p");
        // Backspace (^H) erases too (IEXTEN).
        l.input(b"x\x08", 0);
        assert_eq!(out(&mut l), b"x\x08 \x08");
        l.input(b"\n", 0);
        assert_eq!(read(&mut l, 100), data(b"cp\n"));
        assert_eq!(out(&mut l), b"\r\n");
        // Erase at the start of a line does nothing.
        l.input(b"\x7f", 0);
        assert_eq!(out(&mut l), b"");
        // ^W erases the last word and the blanks after it.
        l.input(b"echo hello world  \x17", 0);
        out(&mut l);
        assert_eq!(l.edit, b"echo hello ");
        l.input(b"\x17\x17", 0);
        assert_eq!(l.edit, b"");
        assert_eq!(out(&mut l), b"\x08 \x08".repeat(11));
        // ^U erases the line, visually.
        l.input(b"abc\x15", 0);
        assert_eq!(out(&mut l), b"abc\x08 \x08\x08 \x08\x08 \x08");
        l.input(b"ok\n", 0);
        assert_eq!(read(&mut l, 100), data(b"ok\n"));
        // Without ECHOE: the kill character and a newline (ECHOK).
        l.termios.lflag &= !lflag::ECHOE;
        out(&mut l);
        l.input(b"zz\x15", 0);
        assert_eq!(out(&mut l), b"zz^U\r\n");
        assert!(l.edit.is_empty());
        // An erased control character takes two columns.
        l.termios.lflag |= lflag::ECHOE;
        l.input(b"\x01\x7f", 0);
        assert_eq!(out(&mut l), b"^A\x08 \x08\x08 \x08");
    }

    #[test]
    fn intr_and_quit_signal_and_flush_input() {
        let mut l = Line::new();
        l.input(b"first\nhalf", 0);
        out(&mut l);
        assert_eq!(l.input(b"\x03", 0), vec![sig::SIGINT]);
        assert_eq!(out(&mut l), b"^C\r\n");
        assert_eq!(l.available(), 0);
        assert!(l.edit.is_empty());
        assert_eq!(l.input(b"x\x1c", 0), vec![sig::SIGQUIT]);
        assert!(l.edit.is_empty());
        // NOFLSH keeps the input.
        l.termios.lflag |= lflag::NOFLSH;
        l.input(b"keep\n", 0);
        assert_eq!(l.input(b"\x03", 0), vec![sig::SIGINT]);
        assert_eq!(read(&mut l, 100), data(b"keep\n"));
        // Without ISIG ^C is an ordinary character.
        l.termios.lflag &= !lflag::ISIG;
        assert!(l.input(b"\x03\n", 0).is_empty());
        assert_eq!(read(&mut l, 100), data(b"\x03\n"));
        // Several in one batch, in order.
        l.termios.lflag |= lflag::ISIG;
        assert_eq!(l.input(b"\x1c\x03", 0), vec![sig::SIGQUIT, sig::SIGINT]);
    }

    #[test]
    fn eof_at_line_start_and_mid_line() {
        let mut l = Line::new();
        // ^D mid-line ends the line without a newline and without itself.
        l.input(b"abc\x04", 0);
        assert_eq!(read(&mut l, 100), data(b"abc"));
        // ^D at the start of a line: a read of 0 bytes (end of file), once.
        l.input(b"\x04", 0);
        assert!(l.readable());
        assert_eq!(read(&mut l, 100), data(b""));
        assert_eq!(read(&mut l, 100), ReadPoll::Wait(None));
        // Queued lines and EOFs come in order.
        l.input(b"x\n\x04y\n", 0);
        assert_eq!(read(&mut l, 100), data(b"x\n"));
        assert_eq!(read(&mut l, 100), data(b""));
        assert_eq!(read(&mut l, 100), data(b"y\n"));
        // ^D echoes nothing.
        assert_eq!(out(&mut l), b"abcx\r\ny\r\n");
    }

    #[test]
    fn input_and_output_mapping() {
        let mut l = Line::new();
        l.termios.lflag &= !lflag::ECHO;
        l.input(b"a\r", 0);
        assert_eq!(read(&mut l, 10), data(b"a\n"));
        // Without ICRNL a CR is an ordinary character.
        l.termios.iflag &= !iflag::ICRNL;
        l.input(b"b\r\n", 0);
        assert_eq!(read(&mut l, 10), data(b"b\r\n"));
        // IGNCR drops it.
        l.termios.iflag |= iflag::IGNCR;
        l.input(b"c\r\n", 0);
        assert_eq!(read(&mut l, 10), data(b"c\n"));
        // INLCR: NL becomes CR (an ordinary character in canonical mode).
        l.termios.iflag = iflag::INLCR;
        l.input(b"d\n\x04", 0);
        assert_eq!(read(&mut l, 10), data(b"d\r"));
        // Output: ONLCR with OPOST; nothing without.
        assert_eq!(l.write(b"x\ny"), 3);
        assert_eq!(out(&mut l), b"x\r\ny");
        l.termios.oflag &= !oflag::OPOST;
        l.write(b"x\ny");
        assert_eq!(out(&mut l), b"x\ny");
        // ECHONL echoes a newline even without ECHO.
        l.termios.lflag |= lflag::ECHONL;
        l.termios.oflag |= oflag::OPOST;
        l.termios.iflag = 0;
        l.input(b"q\n", 0);
        assert_eq!(out(&mut l), b"\r\n");
    }

    #[test]
    fn raw_reads_follow_vmin_and_vtime() {
        let mut l = Line::new();
        let mut t = l.termios;
        t.make_raw();
        l.set_termios(t);
        // VMIN 1, VTIME 0: any byte; no echo, no processing.
        assert_eq!(l.poll_read(10, 0, 0), ReadPoll::Wait(None));
        l.input(b"\x03\r", 5);
        assert_eq!(out(&mut l), b"");
        assert_eq!(l.poll_read(10, 0, 5), data(b"\x03\r"));
        // VMIN 3: waits for three (or fewer if fewer are wanted).
        l.termios.cc[cc::VMIN] = 3;
        l.input(b"ab", 6);
        assert_eq!(l.poll_read(10, 0, 6), ReadPoll::Wait(None));
        assert_eq!(l.poll_read(2, 0, 6), data(b"ab"));
        l.input(b"cde", 7);
        assert_eq!(l.poll_read(10, 0, 7), data(b"cde"));
        // VMIN 0, VTIME 0: a poll, possibly empty.
        l.termios.cc[cc::VMIN] = 0;
        assert_eq!(l.poll_read(10, 0, 8), data(b""));
        // VMIN 0, VTIME 5 (half a second): a byte or the timeout.
        l.termios.cc[cc::VTIME] = 5;
        let t5 = vtime_ticks(5);
        assert!(t5 > 0);
        assert_eq!(l.poll_read(10, 100, 100), ReadPoll::Wait(Some(100 + t5)));
        assert_eq!(l.poll_read(10, 100, 100 + t5), data(b""));
        l.input(b"z", 101);
        assert_eq!(l.poll_read(10, 100, 101), data(b"z"));
        // VMIN 2, VTIME 5: the timer runs from the last byte once one came.
        l.termios.cc[cc::VMIN] = 2;
        assert_eq!(l.poll_read(10, 200, 200), ReadPoll::Wait(None));
        assert_eq!(l.read_deadline(10, 200), None);
        l.input(b"y", 210);
        assert_eq!(l.poll_read(10, 200, 210), ReadPoll::Wait(Some(210 + t5)));
        assert_eq!(l.read_deadline(10, 200), Some(210 + t5));
        assert_eq!(l.poll_read(10, 200, 210 + t5), data(b"y"));
        l.input(b"vw", 300);
        assert_eq!(l.poll_read(10, 200, 300), data(b"vw"));
    }

    #[test]
    fn mode_changes_keep_pending_input() {
        let mut l = Line::new();
        l.input(b"done\npart", 0);
        let mut raw = l.termios;
        raw.make_raw();
        l.set_termios(raw);
        // Both the finished line and the one being edited are raw input.
        assert_eq!(l.available(), 9);
        assert_eq!(l.poll_read(100, 0, 0), data(b"done\npart"));
        l.input(b"xy", 1);
        let mut canon = raw;
        canon.lflag |= lflag::ICANON | lflag::ECHO;
        canon.iflag |= iflag::ICRNL;
        l.set_termios(canon);
        assert_eq!(l.poll_read(100, 0, 1), ReadPoll::Wait(None));
        l.input(b"z\r", 2);
        assert_eq!(l.poll_read(100, 0, 2), data(b"xyz\n"));
    }

    #[test]
    fn ixon_stops_and_starts_output() {
        let mut l = Line::new();
        l.write(b"hello");
        l.input(b"\x13", 0);
        assert!(l.stopped);
        assert_eq!(l.take_output(100), b"");
        l.input(b"\x11", 0);
        assert_eq!(l.take_output(3), b"hel");
        assert_eq!(l.take_output(100), b"lo");
        // Neither control character reached the input.
        l.input(b"\n", 0);
        assert_eq!(l.poll_read(10, 0, 0), data(b"\n"));
    }

    #[test]
    fn lnext_and_reprint() {
        let mut l = Line::new();
        l.input(b"a\x16\x03b", 0);
        assert_eq!(l.edit, b"a\x03b");
        out(&mut l);
        l.input(b"\x12", 0);
        assert_eq!(out(&mut l), b"^R\r\na^Cb");
        l.input(b"\n", 0);
        assert_eq!(l.poll_read(10, 0, 0), data(b"a\x03b\n"));
    }

    #[test]
    fn queues_are_bounded() {
        let mut l = Line::new();
        l.termios.lflag &= !lflag::ECHO;
        let long = vec![b'x'; MAX_CANON + 100];
        l.input(&long, 0);
        assert_eq!(l.edit.len(), MAX_CANON - 1);
        l.input(b"\n", 0);
        assert_eq!(l.available(), MAX_CANON);
        // Output: writes take only the room there is.
        let big = vec![b'o'; OUT_CAP + 10];
        assert_eq!(l.write(&big), OUT_CAP);
        assert!(!l.writable());
        assert_eq!(l.write(b"more"), 0);
        l.take_output(10);
        assert!(l.writable());
        assert_eq!(l.flush(TCOFLUSH), Ok(()));
        assert!(l.out.is_empty());
        assert_eq!(l.flush(TCIFLUSH), Ok(()));
        assert_eq!(l.available(), 0);
        assert_eq!(l.flush(7), Err(sys::Errno::EINVAL));
        // Echo into output nobody takes stops at ECHO_CAP.
        let mut e = Line::new();
        e.termios.lflag &= !lflag::ICANON;
        for _ in 0..(ECHO_CAP / 100 + 10) {
            e.input(&[b'e'; 100], 0);
            e.take_raw(100);
        }
        assert_eq!(e.out.len(), ECHO_CAP);
    }

    #[test]
    fn a_ten_thousand_character_line_comes_through_whole() {
        let mut l = Line::new();
        let long = vec![b'a'; 10_000];
        l.input(&long, 0);
        l.input(b"\r", 0);
        let mut got = Vec::new();
        while let ReadPoll::Data(d) = l.poll_read(512, 0, 0) {
            got.extend(d);
            if got.ends_with(b"\n") {
                break;
            }
        }
        assert_eq!(got.len(), 10_001);
        assert!(got[..10_000].iter().all(|&b| b == b'a'));
        // The echo too.
        assert_eq!(l.out.len(), 10_002);
    }

    #[test]
    fn end_of_file_marks_are_bounded() {
        let mut l = Line::new();
        l.input(&vec![0x04; MAX_INPUT + 50], 0);
        assert_eq!(l.ready.len(), MAX_INPUT);
        assert_eq!(l.queued(), MAX_INPUT);
        assert_eq!(l.poll_read(10, 0, 0), data(b""));
        // Empty lines likewise.
        let mut l = Line::new();
        l.input(&vec![b'\n'; MAX_INPUT + 50], 0);
        assert_eq!(l.queued(), MAX_INPUT);
    }

    /// The running count behind `queued` agrees with a recount through
    /// any mix of input, reads, mode changes and flushes.
    #[test]
    fn the_input_count_stays_exact() {
        let mut l = Line::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"ab \r\n\x04\x7f\x15\x17\x03\x16";
        for step in 0..20_000 {
            match next() % 10 {
                0..=5 => {
                    let c = alphabet[(next() % alphabet.len() as u64) as usize];
                    l.input(&[c], step);
                }
                6 | 7 => {
                    let _ = l.poll_read((next() % 7) as usize, 0, step);
                }
                8 => {
                    let mut t = l.termios;
                    if next() % 2 == 0 {
                        t.make_raw();
                        t.cc[cc::VMIN] = 0;
                    } else {
                        t = Termios::default();
                    }
                    l.set_termios(t);
                }
                _ => {
                    if next() % 8 == 0 {
                        l.flush_input();
                    }
                    l.out.clear();
                }
            }
            let held = l.held;
            l.recount();
            assert_eq!(held, l.held, "step {step}");
            assert!(l.queued() <= MAX_INPUT + 1, "step {step}");
        }
    }

    #[test]
    fn hangup_reads_eof() {
        let mut l = Line::new();
        l.input(b"last\n", 0);
        l.hungup = true;
        assert_eq!(l.poll_read(10, 0, 0), data(b"last\n"));
        assert_eq!(l.poll_read(10, 0, 0), data(b""));
        assert!(l.readable());
        let mut t = l.termios;
        t.make_raw();
        l.set_termios(t);
        assert_eq!(l.poll_read(10, 0, 0), data(b""));
    }
}
