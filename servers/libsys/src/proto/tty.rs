//! Terminal types shared by the TTY driver, VFS, the user runtime and the
//! programs that set terminal modes: [`Termios`] (a POSIX termios subset),
//! [`Winsize`], and the ioctl request numbers carried by
//! [`CdevRequest::Ioctl`](crate::proto::cdev::CdevRequest::Ioctl) and VFS's
//! ioctl call.
//!
//! An ioctl's argument travels through a grant of [`ioctl_len`] bytes:
//! [`Termios`] for `TCGETS`/`TCSETS*`, [`Winsize`] for the window size, a
//! little-endian `u32` for a process group, a byte count (`FIONREAD`) or a
//! queue selector (`TCFLSH`). [`ioctl_dir`] says which way the bytes go.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Number of control characters in [`Termios::cc`].
pub const NCCS: usize = 20;

/// A disabled control character (never matches input).
pub const VDISABLE: u8 = 0xff;

/// Input flags ([`Termios::iflag`]).
pub mod iflag {
    /// Translate NL to CR on input.
    pub const INLCR: u32 = 0o100;
    /// Ignore CR on input.
    pub const IGNCR: u32 = 0o200;
    /// Translate CR to NL on input.
    pub const ICRNL: u32 = 0o400;
    /// Enable start/stop output control (^S/^Q).
    pub const IXON: u32 = 0o2000;
}

/// Output flags ([`Termios::oflag`]).
pub mod oflag {
    /// Post-process output.
    pub const OPOST: u32 = 0o1;
    /// Map NL to CR-NL on output (with `OPOST`).
    pub const ONLCR: u32 = 0o4;
}

/// Control flags ([`Termios::cflag`]).
pub mod cflag {
    /// Character size mask.
    pub const CSIZE: u32 = 0o60;
    /// Eight bits per character.
    pub const CS8: u32 = 0o60;
    /// Enable the receiver.
    pub const CREAD: u32 = 0o200;
}

/// Local flags ([`Termios::lflag`]).
pub mod lflag {
    /// INTR, QUIT and SUSP generate signals.
    pub const ISIG: u32 = 0o1;
    /// Canonical (line-by-line) input.
    pub const ICANON: u32 = 0o2;
    /// Echo input.
    pub const ECHO: u32 = 0o10;
    /// ERASE erases the previous character on the screen ("\b \b").
    pub const ECHOE: u32 = 0o20;
    /// Echo NL after KILL.
    pub const ECHOK: u32 = 0o40;
    /// Echo NL even without ECHO.
    pub const ECHONL: u32 = 0o100;
    /// Do not flush input on INTR/QUIT.
    pub const NOFLSH: u32 = 0o200;
    /// Extensions: WERASE, LNEXT, REPRINT, and BS as a second ERASE.
    pub const IEXTEN: u32 = 0o100000;
}

/// Indices in [`Termios::cc`].
pub mod cc {
    /// End of file (^D).
    pub const VEOF: usize = 0;
    /// Additional end of line.
    pub const VEOL: usize = 1;
    /// Erase a character.
    pub const VERASE: usize = 2;
    /// Interrupt (^C -> SIGINT).
    pub const VINTR: usize = 3;
    /// Erase the line (^U).
    pub const VKILL: usize = 4;
    /// Raw mode: minimum bytes for a read.
    pub const VMIN: usize = 5;
    /// Quit (^\ -> SIGQUIT).
    pub const VQUIT: usize = 6;
    /// Suspend (^Z; no job control: recognised, not acted on).
    pub const VSUSP: usize = 7;
    /// Raw mode: timeout in tenths of a second.
    pub const VTIME: usize = 8;
    /// Resume output (^Q).
    pub const VSTART: usize = 9;
    /// Stop output (^S).
    pub const VSTOP: usize = 10;
    /// Erase a word (^W).
    pub const VWERASE: usize = 11;
    /// Take the next character literally (^V).
    pub const VLNEXT: usize = 12;
    /// Reprint the line (^R).
    pub const VREPRINT: usize = 13;
}

/// ioctl request numbers (the `req` of a cdev/VFS ioctl).
pub mod req {
    /// Get the [`Termios`](super::Termios) (out).
    pub const TCGETS: u32 = 1;
    /// Set the termios now (in).
    pub const TCSETS: u32 = 2;
    /// Set the termios after output drains (in).
    pub const TCSETSW: u32 = 3;
    /// Set the termios after output drains, flushing input (in).
    pub const TCSETSF: u32 = 4;
    /// Get the foreground process group (out, `u32`; 0 = none).
    pub const TIOCGPGRP: u32 = 5;
    /// Set the foreground process group (in, `u32`; 0 = none).
    pub const TIOCSPGRP: u32 = 6;
    /// Get the [`Winsize`](super::Winsize) (out).
    pub const TIOCGWINSZ: u32 = 7;
    /// Set the window size (in).
    pub const TIOCSWINSZ: u32 = 8;
    /// Bytes readable now (out, `u32`).
    pub const FIONREAD: u32 = 9;
    /// Flush queues (in, `u32`: [`TCIFLUSH`](super::TCIFLUSH)...).
    pub const TCFLSH: u32 = 10;
    /// VFS to the driver: the terminal became the controlling terminal of
    /// the session whose leader is at this endpoint (in, `u32`); the
    /// driver makes that session its foreground group (the leader's pid,
    /// from PM) unless a TIOCSPGRP comes first. Sent after the open that
    /// acquired it.
    pub const TIOCSCTTY: u32 = 11;
}

/// TCFLSH: flush unread input.
pub const TCIFLUSH: u32 = 0;
/// TCFLSH: flush unwritten output.
pub const TCOFLUSH: u32 = 1;
/// TCFLSH: both.
pub const TCIOFLUSH: u32 = 2;

/// Which way an ioctl's bytes move through its grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoctlDir {
    /// The driver reads the argument (grant readable by the driver).
    In,
    /// The driver writes the result (grant writable by the driver).
    Out,
}

/// Direction of request `r`, `None` for an unknown request.
pub fn ioctl_dir(r: u32) -> Option<IoctlDir> {
    match r {
        req::TCGETS | req::TIOCGPGRP | req::TIOCGWINSZ | req::FIONREAD => Some(IoctlDir::Out),
        req::TCSETS
        | req::TCSETSW
        | req::TCSETSF
        | req::TIOCSPGRP
        | req::TIOCSWINSZ
        | req::TCFLSH
        | req::TIOCSCTTY => Some(IoctlDir::In),
        _ => None,
    }
}

/// Bytes of request `r`'s argument, `None` for an unknown request.
pub fn ioctl_len(r: u32) -> Option<usize> {
    match r {
        req::TCGETS | req::TCSETS | req::TCSETSW | req::TCSETSF => Some(TERMIOS_LEN),
        req::TIOCGWINSZ | req::TIOCSWINSZ => Some(WINSIZE_LEN),
        req::TIOCGPGRP | req::TIOCSPGRP | req::FIONREAD | req::TCFLSH | req::TIOCSCTTY => Some(4),
        _ => None,
    }
}

/// Terminal attributes (POSIX `struct termios` subset). Native-endian
/// `u32`s: every party runs on the same x86_64 machine.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Termios {
    /// [`iflag`] bits.
    pub iflag: u32,
    /// [`oflag`] bits.
    pub oflag: u32,
    /// [`cflag`] bits.
    pub cflag: u32,
    /// [`lflag`] bits.
    pub lflag: u32,
    /// Control characters, indexed by [`cc`] constants.
    pub cc: [u8; NCCS],
    /// Input speed (baud; informational).
    pub ispeed: u32,
    /// Output speed (baud; informational).
    pub ospeed: u32,
}

/// Bytes of a [`Termios`].
pub const TERMIOS_LEN: usize = core::mem::size_of::<Termios>();
const _: () = assert!(TERMIOS_LEN == 44);

/// Control-key value: `ctrl(b'C')` = 3.
pub const fn ctrl(c: u8) -> u8 {
    c & 0x1f
}

impl Default for Termios {
    /// A fresh terminal: canonical, echoing, signals on, CR->NL in,
    /// NL->CR-NL out, 115200 baud.
    fn default() -> Self {
        let mut c = [VDISABLE; NCCS];
        c[cc::VEOF] = ctrl(b'D');
        c[cc::VERASE] = 0x7f;
        c[cc::VINTR] = ctrl(b'C');
        c[cc::VKILL] = ctrl(b'U');
        c[cc::VMIN] = 1;
        c[cc::VQUIT] = 0x1c;
        c[cc::VSUSP] = ctrl(b'Z');
        c[cc::VTIME] = 0;
        c[cc::VSTART] = ctrl(b'Q');
        c[cc::VSTOP] = ctrl(b'S');
        c[cc::VWERASE] = ctrl(b'W');
        c[cc::VLNEXT] = ctrl(b'V');
        c[cc::VREPRINT] = ctrl(b'R');
        Termios {
            iflag: iflag::ICRNL | iflag::IXON,
            oflag: oflag::OPOST | oflag::ONLCR,
            cflag: cflag::CS8 | cflag::CREAD,
            lflag: lflag::ISIG
                | lflag::ICANON
                | lflag::ECHO
                | lflag::ECHOE
                | lflag::ECHOK
                | lflag::IEXTEN,
            cc: c,
            ispeed: 115_200,
            ospeed: 115_200,
        }
    }
}

impl Termios {
    /// `cfmakeraw`: no input or output processing, no echo, no signals,
    /// byte-at-a-time reads (VMIN 1, VTIME 0).
    pub fn make_raw(&mut self) {
        self.iflag &= !(iflag::INLCR | iflag::IGNCR | iflag::ICRNL | iflag::IXON);
        self.oflag &= !oflag::OPOST;
        self.lflag &= !(lflag::ECHO
            | lflag::ECHONL
            | lflag::ICANON
            | lflag::ISIG
            | lflag::IEXTEN
            | lflag::ECHOE
            | lflag::ECHOK);
        self.cflag = (self.cflag & !cflag::CSIZE) | cflag::CS8;
        self.cc[cc::VMIN] = 1;
        self.cc[cc::VTIME] = 0;
    }

    /// The bytes of this termios (for a grant).
    pub fn to_bytes(&self) -> [u8; TERMIOS_LEN] {
        let mut b = [0u8; TERMIOS_LEN];
        b.copy_from_slice(self.as_bytes());
        b
    }

    /// A termios from the first [`TERMIOS_LEN`] bytes of `b`, `None` if
    /// `b` is shorter.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        Termios::read_from_prefix(b).ok().map(|(t, _)| t)
    }
}

/// Window size (`struct winsize`).
#[derive(
    FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
#[repr(C)]
pub struct Winsize {
    /// Rows.
    pub row: u16,
    /// Columns.
    pub col: u16,
    /// Width in pixels (unused).
    pub xpixel: u16,
    /// Height in pixels (unused).
    pub ypixel: u16,
}

/// Bytes of a [`Winsize`].
pub const WINSIZE_LEN: usize = core::mem::size_of::<Winsize>();
const _: () = assert!(WINSIZE_LEN == 8);

impl Winsize {
    /// The bytes of this window size (for a grant).
    pub fn to_bytes(&self) -> [u8; WINSIZE_LEN] {
        let mut b = [0u8; WINSIZE_LEN];
        b.copy_from_slice(self.as_bytes());
        b
    }

    /// A window size from the first [`WINSIZE_LEN`] bytes of `b`.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        Winsize::read_from_prefix(b).ok().map(|(w, _)| w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn termios_bytes_roundtrip() {
        let mut t = Termios::default();
        t.lflag &= !lflag::ECHO;
        t.cc[cc::VMIN] = 5;
        let b = t.to_bytes();
        assert_eq!(b.len(), 44);
        assert_eq!(&b[12..16], &t.lflag.to_le_bytes());
        assert_eq!(b[16 + cc::VMIN], 5);
        assert_eq!(Termios::from_bytes(&b), Some(t));
        assert_eq!(Termios::from_bytes(&b[..43]), None);
        let w = Winsize {
            row: 24,
            col: 80,
            xpixel: 0,
            ypixel: 0,
        };
        assert_eq!(Winsize::from_bytes(&w.to_bytes()), Some(w));
        assert_eq!(Winsize::from_bytes(&[1, 2, 3]), None);
    }

    #[test]
    fn make_raw_clears_processing() {
        let mut t = Termios::default();
        t.make_raw();
        assert_eq!(t.lflag & (lflag::ICANON | lflag::ECHO | lflag::ISIG), 0);
        assert_eq!(t.iflag & iflag::ICRNL, 0);
        assert_eq!(t.oflag & oflag::OPOST, 0);
        assert_eq!((t.cc[cc::VMIN], t.cc[cc::VTIME]), (1, 0));
        assert_eq!(t.cflag & cflag::CSIZE, cflag::CS8);
    }

    #[test]
    fn ioctl_table() {
        for r in 1..=11 {
            assert!(ioctl_dir(r).is_some() && ioctl_len(r).is_some(), "{r}");
        }
        assert_eq!(ioctl_dir(0), None);
        assert_eq!(ioctl_len(12), None);
        assert_eq!(ioctl_dir(req::TCGETS), Some(IoctlDir::Out));
        assert_eq!(ioctl_dir(req::TIOCSPGRP), Some(IoctlDir::In));
        assert_eq!(ioctl_len(req::TCSETSF), Some(TERMIOS_LEN));
        assert_eq!(ioctl_len(req::TIOCGWINSZ), Some(WINSIZE_LEN));
    }
}
