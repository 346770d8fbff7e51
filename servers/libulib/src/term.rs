//! Terminals (POSIX termios): attributes, the foreground process group,
//! the window size, `isatty` and raw mode. Each call is an ioctl
//! ([`crate::fd::ioctl`], request codes of `sys::proto::tty`) on the
//! terminal's descriptor, which VFS passes on to the terminal driver
//! (`tty`); on anything but a terminal they fail with `ENOTTY`.

use crate::errno::{Errno, Result};
use crate::fd::{Fd, ioctl};
use crate::process::Pid;
use sys::proto::tty::req;

pub use sys::proto::tty::{
    NCCS, TCIFLUSH, TCIOFLUSH, TCOFLUSH, Termios, VDISABLE, Winsize, cc, cflag, ctrl, iflag, lflag,
    oflag,
};

/// `tcsetattr` at once.
pub const TCSANOW: u32 = 0;
/// `tcsetattr` once the output written so far has gone out.
pub const TCSADRAIN: u32 = 1;
/// `tcsetattr` once the output has gone out, discarding unread input.
pub const TCSAFLUSH: u32 = 2;

/// The ioctl request of `tcsetattr(.., when, ..)`: TCSETS, TCSETSW or
/// TCSETSF; `EINVAL` for another `when`.
pub fn set_request(when: u32) -> Result<u32> {
    match when {
        TCSANOW => Ok(req::TCSETS),
        TCSADRAIN => Ok(req::TCSETSW),
        TCSAFLUSH => Ok(req::TCSETSF),
        _ => Err(Errno::EINVAL),
    }
}

/// tcgetattr(3): the terminal's attributes.
pub fn tcgetattr(fd: Fd) -> Result<Termios> {
    let mut b = Termios::default().to_bytes();
    ioctl(fd, req::TCGETS, &mut b)?;
    Termios::from_bytes(&b).ok_or(Errno::EIO)
}

/// tcsetattr(3): set the attributes, `when` = [`TCSANOW`],
/// [`TCSADRAIN`] or [`TCSAFLUSH`].
pub fn tcsetattr(fd: Fd, when: u32, t: &Termios) -> Result<()> {
    let r = set_request(when)?;
    let mut b = t.to_bytes();
    ioctl(fd, r, &mut b).map(drop)
}

/// cfmakeraw(3): no input or output processing, no echo, no signals,
/// byte-at-a-time reads.
pub fn cfmakeraw(t: &mut Termios) {
    t.make_raw();
}

/// tcgetpgrp(3): the terminal's foreground process group (0: none).
pub fn tcgetpgrp(fd: Fd) -> Result<Pid> {
    let mut b = [0u8; 4];
    ioctl(fd, req::TIOCGPGRP, &mut b)?;
    Pid::try_from(u32::from_le_bytes(b)).map_err(|_| Errno::EIO)
}

/// tcsetpgrp(3): make `pgrp` the terminal's foreground process group
/// (the one ^C and ^\ signal).
pub fn tcsetpgrp(fd: Fd, pgrp: Pid) -> Result<()> {
    let v = u32::try_from(pgrp).map_err(|_| Errno::EINVAL)?;
    let mut b = v.to_le_bytes();
    ioctl(fd, req::TIOCSPGRP, &mut b).map(drop)
}

/// isatty(3): whether `fd` is a terminal (its attributes can be read).
pub fn isatty(fd: Fd) -> bool {
    tcgetattr(fd).is_ok()
}

/// The terminal's window size (TIOCGWINSZ).
pub fn get_winsize(fd: Fd) -> Result<Winsize> {
    let mut b = Winsize::default().to_bytes();
    ioctl(fd, req::TIOCGWINSZ, &mut b)?;
    Winsize::from_bytes(&b).ok_or(Errno::EIO)
}

/// Set the terminal's window size (TIOCSWINSZ).
pub fn set_winsize(fd: Fd, w: &Winsize) -> Result<()> {
    let mut b = w.to_bytes();
    ioctl(fd, req::TIOCSWINSZ, &mut b).map(drop)
}

/// tcflush(3): discard unread input ([`TCIFLUSH`]), unwritten output
/// ([`TCOFLUSH`]) or both ([`TCIOFLUSH`]).
pub fn tcflush(fd: Fd, queue: u32) -> Result<()> {
    let mut b = queue.to_le_bytes();
    ioctl(fd, req::TCFLSH, &mut b).map(drop)
}

/// Bytes waiting to be read (FIONREAD).
pub fn pending_input(fd: Fd) -> Result<usize> {
    let mut b = [0u8; 4];
    ioctl(fd, req::FIONREAD, &mut b)?;
    Ok(u32::from_le_bytes(b) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_maps_to_the_set_requests() {
        assert_eq!(set_request(TCSANOW), Ok(req::TCSETS));
        assert_eq!(set_request(TCSADRAIN), Ok(req::TCSETSW));
        assert_eq!(set_request(TCSAFLUSH), Ok(req::TCSETSF));
        assert_eq!(set_request(3), Err(Errno::EINVAL));
    }

    #[test]
    fn cfmakeraw_turns_off_the_line_discipline() {
        let mut t = Termios::default();
        assert_ne!(t.lflag & lflag::ICANON, 0);
        cfmakeraw(&mut t);
        assert_eq!(t.lflag & (lflag::ICANON | lflag::ECHO | lflag::ISIG), 0);
        assert_eq!(t.iflag & iflag::ICRNL, 0);
        assert_eq!(t.oflag & oflag::OPOST, 0);
        assert_eq!((t.cc[cc::VMIN], t.cc[cc::VTIME]), (1, 0));
    }
}
