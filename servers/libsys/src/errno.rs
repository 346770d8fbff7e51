//! One errno type with MINIX (NetBSD-numbered) codes. Servers return these as
//! values; replies carry the code as a negative `i32` (MINIX `_SYSTEM`
//! convention), userland sees the positive number.
//!
//! `EDEADSRCDST` carries the peer's new endpoint when the transport knows it
//! (the slot was reused by a restarted instance), so a caller can retry
//! without a DS lookup.

use crate::endpoint::Endpoint;

/// Error codes. The numbers are MINIX's (`sys/sys/errno.h`).
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Errno {
    /// Operation not permitted (1).
    EPERM,
    /// No such file or directory / no such key (2).
    ENOENT,
    /// No such process / entry (3).
    ESRCH,
    /// Interrupted (4).
    EINTR,
    /// I/O error (5).
    EIO,
    /// No such device (6).
    ENXIO,
    /// Argument list too long (7).
    E2BIG,
    /// Exec format error (8).
    ENOEXEC,
    /// Bad file descriptor (9).
    EBADF,
    /// No child processes (10).
    ECHILD,
    /// Out of memory / table full (12).
    ENOMEM,
    /// Permission denied (13).
    EACCES,
    /// Bad address / grant (14).
    EFAULT,
    /// Busy (16).
    EBUSY,
    /// Exists (17).
    EEXIST,
    /// Cross-device link (18).
    EXDEV,
    /// No such device (19).
    ENODEV,
    /// Not a directory (20).
    ENOTDIR,
    /// Is a directory (21).
    EISDIR,
    /// Invalid argument (22).
    EINVAL,
    /// Too many open files in system (23).
    ENFILE,
    /// Too many open files (24).
    EMFILE,
    /// Not a tty (25).
    ENOTTY,
    /// File too large (27).
    EFBIG,
    /// No space (28).
    ENOSPC,
    /// Illegal seek (29).
    ESPIPE,
    /// Read-only file system (30).
    EROFS,
    /// Too many links (31).
    EMLINK,
    /// Broken pipe (32).
    EPIPE,
    /// Result out of range (34).
    ERANGE,
    /// Try again (35).
    EAGAIN,
    /// Timed out (60).
    ETIMEDOUT,
    /// Too many symlinks (62).
    ELOOP,
    /// Name too long (63).
    ENAMETOOLONG,
    /// Directory not empty (66).
    ENOTEMPTY,
    /// Function not implemented (78).
    ENOSYS,
    /// Value too large (84).
    EOVERFLOW,
    /// Service restarted; repeat the request / ask for a reset (200).
    ERESTART,
    /// Not ready (201).
    ENOTREADY,
    /// Source or destination is not alive (202); carries the new endpoint
    /// of the peer's slot when known.
    EDEADSRCDST(Option<Endpoint>),
    /// Pseudo code: the handler will reply later (203).
    EDONTREPLY,
    /// Generic error (204).
    EGENERIC,
    /// IPC would deadlock (208).
    ELOCKED,
    /// Bad call number (209).
    EBADCALL,
    /// Dead endpoint (215).
    EDEADEPT,
    /// Bad endpoint (216).
    EBADEPT,
}

impl Errno {
    /// The positive MINIX number.
    pub const fn code(self) -> i32 {
        use Errno::*;
        match self {
            EPERM => 1,
            ENOENT => 2,
            ESRCH => 3,
            EINTR => 4,
            EIO => 5,
            ENXIO => 6,
            E2BIG => 7,
            ENOEXEC => 8,
            EBADF => 9,
            ECHILD => 10,
            ENOMEM => 12,
            EACCES => 13,
            EFAULT => 14,
            EBUSY => 16,
            EEXIST => 17,
            EXDEV => 18,
            ENODEV => 19,
            ENOTDIR => 20,
            EISDIR => 21,
            EINVAL => 22,
            ENFILE => 23,
            EMFILE => 24,
            ENOTTY => 25,
            EFBIG => 27,
            ENOSPC => 28,
            ESPIPE => 29,
            EROFS => 30,
            EMLINK => 31,
            EPIPE => 32,
            ERANGE => 34,
            EAGAIN => 35,
            ETIMEDOUT => 60,
            ELOOP => 62,
            ENAMETOOLONG => 63,
            ENOTEMPTY => 66,
            ENOSYS => 78,
            EOVERFLOW => 84,
            ERESTART => 200,
            ENOTREADY => 201,
            EDEADSRCDST(_) => 202,
            EDONTREPLY => 203,
            EGENERIC => 204,
            ELOCKED => 208,
            EBADCALL => 209,
            EDEADEPT => 215,
            EBADEPT => 216,
        }
    }

    /// Decode a positive code; `None` for numbers this system does not use.
    /// `EDEADSRCDST` decodes without a new endpoint (the wire carries none).
    pub const fn from_code(code: i32) -> Option<Errno> {
        use Errno::*;
        Some(match code {
            1 => EPERM,
            2 => ENOENT,
            3 => ESRCH,
            4 => EINTR,
            5 => EIO,
            6 => ENXIO,
            7 => E2BIG,
            8 => ENOEXEC,
            9 => EBADF,
            10 => ECHILD,
            12 => ENOMEM,
            13 => EACCES,
            14 => EFAULT,
            16 => EBUSY,
            17 => EEXIST,
            18 => EXDEV,
            19 => ENODEV,
            20 => ENOTDIR,
            21 => EISDIR,
            22 => EINVAL,
            23 => ENFILE,
            24 => EMFILE,
            25 => ENOTTY,
            27 => EFBIG,
            28 => ENOSPC,
            29 => ESPIPE,
            30 => EROFS,
            31 => EMLINK,
            32 => EPIPE,
            34 => ERANGE,
            35 => EAGAIN,
            60 => ETIMEDOUT,
            62 => ELOOP,
            63 => ENAMETOOLONG,
            66 => ENOTEMPTY,
            78 => ENOSYS,
            84 => EOVERFLOW,
            200 => ERESTART,
            201 => ENOTREADY,
            202 => EDEADSRCDST(None),
            203 => EDONTREPLY,
            204 => EGENERIC,
            208 => ELOCKED,
            209 => EBADCALL,
            215 => EDEADEPT,
            216 => EBADEPT,
            _ => return None,
        })
    }

    /// Wire form of a result: `0` for success, `-code` for an error.
    pub const fn to_status(r: Result<(), Errno>) -> i32 {
        match r {
            Ok(()) => 0,
            Err(e) => -e.code(),
        }
    }

    /// Decode a wire status; unknown negative numbers become `EGENERIC`,
    /// positive ones are a protocol error (`EBADCALL`).
    pub const fn from_status(status: i32) -> Result<(), Errno> {
        if status == 0 {
            Ok(())
        } else if status > 0 {
            Err(Errno::EBADCALL)
        } else {
            match Errno::from_code(status.wrapping_neg()) {
                Some(e) => Err(e),
                None => Err(Errno::EGENERIC),
            }
        }
    }

    /// Whether this is the dead-peer error (any new-endpoint payload).
    pub const fn is_dead_peer(self) -> bool {
        matches!(self, Errno::EDEADSRCDST(_))
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?} ({})", self, self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_roundtrip() {
        for code in 0..300 {
            if let Some(e) = Errno::from_code(code) {
                assert_eq!(e.code(), code);
                assert_eq!(Errno::from_status(Errno::to_status(Err(e))), Err(e));
            }
        }
        assert_eq!(Errno::ERESTART.code(), 200);
        assert_eq!(Errno::EDEADSRCDST(Some(Endpoint::new(5, 1))).code(), 202);
        assert_eq!(Errno::EDONTREPLY.code(), 203);
        assert_eq!(Errno::from_status(0), Ok(()));
        assert_eq!(Errno::from_status(-9999), Err(Errno::EGENERIC));
        assert_eq!(Errno::from_status(5), Err(Errno::EBADCALL));
    }
}
