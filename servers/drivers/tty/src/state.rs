//! What a restarted TTY takes back (SEF state in DS): for every line its
//! termios, foreground process group, window size and unread input (ready
//! chunks and the line being edited), and for pty pairs whether the master
//! is open, the line hung up and the slave closed under an open master.
//! Output in flight and suspended requests are not kept: VFS sends its
//! outstanding requests again.
//!
//! Layout (little-endian): magic `u32`, line count `u8`, then per line:
//! flags `u8` (bit 0 master open, bit 1 hung up, bit 2 slave closed),
//! termios (44 bytes), pgrp `u32`, winsize (8 bytes), slave opens `u32`,
//! chunk count `u16`, each chunk: complete `u8`, length `u16`, bytes; then
//! the edit line: length `u16`, bytes. Decoding checks every length.

use crate::line::{Chunk, Line, MAX_INPUT};
use alloc::vec::Vec;
use sys::Errno;
use sys::proto::tty::{TERMIOS_LEN, Termios, WINSIZE_LEN, Winsize};

const MAGIC: u32 = 0x5454_5931; // "TTY1"

/// The saved part of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineState {
    /// Pty master open (always false for the console).
    pub master_open: bool,
    /// Hung up (pty master closed).
    pub hungup: bool,
    /// The pty slave was closed while its master stayed open.
    pub slave_closed: bool,
    /// Settings.
    pub termios: Termios,
    /// Foreground process group.
    pub pgrp: u32,
    /// Window size.
    pub winsize: Winsize,
    /// Opens of the pty slave (console: of the console).
    pub opens: u32,
    /// Ready input.
    pub ready: Vec<Chunk>,
    /// The line being edited.
    pub edit: Vec<u8>,
}

impl LineState {
    /// The saved part of `l`.
    pub fn of(l: &Line, master_open: bool, opens: u32) -> Self {
        LineState {
            master_open,
            hungup: l.hungup,
            slave_closed: false,
            termios: l.termios,
            pgrp: l.pgrp,
            winsize: l.winsize,
            opens,
            ready: l.ready.iter().cloned().collect(),
            edit: l.edit.clone(),
        }
    }

    /// A line with this state (empty output).
    pub fn to_line(&self) -> Line {
        let mut l = Line::new();
        l.termios = self.termios;
        l.pgrp = self.pgrp;
        l.winsize = self.winsize;
        l.hungup = self.hungup;
        l.ready = self.ready.iter().cloned().collect();
        l.edit = self.edit.clone();
        l.recount();
        l
    }
}

/// Encode every line's state.
pub fn encode(lines: &[LineState]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&MAGIC.to_le_bytes());
    v.push(lines.len() as u8);
    for l in lines {
        v.push(u8::from(l.master_open) | u8::from(l.hungup) << 1 | u8::from(l.slave_closed) << 2);
        v.extend_from_slice(&l.termios.to_bytes());
        v.extend_from_slice(&l.pgrp.to_le_bytes());
        v.extend_from_slice(&l.winsize.to_bytes());
        v.extend_from_slice(&l.opens.to_le_bytes());
        v.extend_from_slice(&(l.ready.len() as u16).to_le_bytes());
        for c in &l.ready {
            v.push(u8::from(c.complete));
            v.extend_from_slice(&(c.data.len() as u16).to_le_bytes());
            v.extend(c.data.iter());
        }
        v.extend_from_slice(&(l.edit.len() as u16).to_le_bytes());
        v.extend_from_slice(&l.edit);
    }
    v
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Errno> {
        if self.b.len() < n {
            return Err(Errno::EINVAL);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, Errno> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<usize, Errno> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_le_bytes([b[0], b[1]])))
    }
    fn u32(&mut self) -> Result<u32, Errno> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Decode a saved state; `EINVAL` for anything malformed (a wrong magic,
/// a length past the end, more input than a line holds, trailing bytes).
pub fn decode(b: &[u8]) -> Result<Vec<LineState>, Errno> {
    let mut r = Reader { b };
    if r.u32()? != MAGIC {
        return Err(Errno::EINVAL);
    }
    let n = r.u8()?;
    let mut lines = Vec::new();
    for _ in 0..n {
        let flags = r.u8()?;
        let termios = Termios::from_bytes(r.take(TERMIOS_LEN)?).ok_or(Errno::EINVAL)?;
        let pgrp = r.u32()?;
        let winsize = Winsize::from_bytes(r.take(WINSIZE_LEN)?).ok_or(Errno::EINVAL)?;
        let opens = r.u32()?;
        let chunks = r.u16()?;
        let mut ready = Vec::new();
        let mut total = 0;
        for _ in 0..chunks {
            let complete = r.u8()? != 0;
            let len = r.u16()?;
            total += len;
            ready.push(Chunk {
                data: r.take(len)?.iter().copied().collect(),
                complete,
            });
        }
        let elen = r.u16()?;
        let edit = r.take(elen)?.to_vec();
        if total + elen > MAX_INPUT || chunks > MAX_INPUT {
            return Err(Errno::EINVAL);
        }
        lines.push(LineState {
            master_open: flags & 1 != 0,
            hungup: flags & 2 != 0,
            slave_closed: flags & 4 != 0,
            termios,
            pgrp,
            winsize,
            opens,
            ready,
            edit,
        });
    }
    if !r.b.is_empty() {
        return Err(Errno::EINVAL);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use sys::proto::tty::lflag;

    fn sample() -> Vec<LineState> {
        let mut a = Line::new();
        a.termios.lflag &= !lflag::ECHO;
        a.pgrp = 42;
        a.winsize = Winsize {
            row: 24,
            col: 80,
            xpixel: 0,
            ypixel: 0,
        };
        a.input(b"one\ntwo\n\x04half", 0);
        let mut b = Line::new();
        let mut raw = b.termios;
        raw.make_raw();
        b.set_termios(raw);
        b.input(b"\x00\xff raw", 0);
        b.hungup = true;
        let mut closed = LineState::of(&Line::new(), true, 0);
        closed.slave_closed = true;
        vec![
            LineState::of(&a, false, 2),
            LineState::of(&b, true, 1),
            LineState::of(&Line::new(), false, 0),
            closed,
        ]
    }

    #[test]
    fn save_and_restore_roundtrip() {
        let s = sample();
        let blob = encode(&s);
        let back = decode(&blob).unwrap();
        assert_eq!(back, s);
        // The restored line reads what the saved one would have.
        let mut l = back[0].to_line();
        assert_eq!(l.pgrp, 42);
        assert_eq!(l.winsize.col, 80);
        assert_eq!(l.termios.lflag & lflag::ECHO, 0);
        assert_eq!(
            l.poll_read(100, 0, 0),
            crate::line::ReadPoll::Data(b"one\n".to_vec())
        );
        assert_eq!(
            l.poll_read(100, 0, 0),
            crate::line::ReadPoll::Data(b"two\n".to_vec())
        );
        assert_eq!(
            l.poll_read(100, 0, 0),
            crate::line::ReadPoll::Data(Vec::new())
        );
        l.input(b"!\n", 0);
        assert_eq!(
            l.poll_read(100, 0, 0),
            crate::line::ReadPoll::Data(b"half!\n".to_vec())
        );
        let mut r = back[1].to_line();
        assert!(r.hungup && back[1].master_open);
        assert_eq!(
            r.poll_read(100, 0, 0),
            crate::line::ReadPoll::Data(b"\x00\xff raw".to_vec())
        );
    }

    #[test]
    fn malformed_blobs_are_refused_not_panicked_on() {
        let blob = encode(&sample());
        // Every truncation fails cleanly.
        for n in 0..blob.len() {
            assert_eq!(decode(&blob[..n]), Err(Errno::EINVAL), "cut at {n}");
        }
        let mut extra = blob.clone();
        extra.push(0);
        assert_eq!(decode(&extra), Err(Errno::EINVAL));
        let mut bad = blob.clone();
        bad[0] ^= 1;
        assert_eq!(decode(&bad), Err(Errno::EINVAL));
        // Flipping any single byte never panics.
        for i in 0..blob.len() {
            let mut f = blob.clone();
            f[i] = f[i].wrapping_add(0x55);
            let _ = decode(&f);
        }
        // A line claiming more input than a line holds.
        let mut big = Line::new();
        big.ready.push_back(Chunk {
            data: vec![b'x'; MAX_INPUT + 1].into(),
            complete: true,
        });
        let blob = encode(&[LineState::of(&big, false, 0)]);
        assert_eq!(decode(&blob), Err(Errno::EINVAL));
    }
}
