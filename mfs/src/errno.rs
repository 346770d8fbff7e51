//! Errno-like error values of the file-system core, with MINIX numbers
//! (NetBSD numbering, positive as userland sees them; servers negate).

/// Why a file-system operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Errno {
    /// Operation not permitted (hard link to a directory).
    #[error("operation not permitted (EPERM)")]
    EPERM,
    /// No such file or directory.
    #[error("no such file or directory (ENOENT)")]
    ENOENT,
    /// I/O error, or on-disk data found corrupt (bad zone, bad directory size...).
    #[error("I/O error or corrupt file system (EIO)")]
    EIO,
    /// No such device.
    #[error("no such device (ENXIO)")]
    ENXIO,
    /// Out of memory (the block cache has no free buffer).
    #[error("out of memory (ENOMEM)")]
    ENOMEM,
    /// Resource busy (removing a mount point or the root).
    #[error("resource busy (EBUSY)")]
    EBUSY,
    /// File exists.
    #[error("file exists (EEXIST)")]
    EEXIST,
    /// Not a directory.
    #[error("not a directory (ENOTDIR)")]
    ENOTDIR,
    /// Is a directory.
    #[error("is a directory (EISDIR)")]
    EISDIR,
    /// Invalid argument.
    #[error("invalid argument (EINVAL)")]
    EINVAL,
    /// File too large.
    #[error("file too large (EFBIG)")]
    EFBIG,
    /// No space left (zones or inodes).
    #[error("no space left on device (ENOSPC)")]
    ENOSPC,
    /// Read-only file system.
    #[error("read-only file system (EROFS)")]
    EROFS,
    /// Too many links.
    #[error("too many links (EMLINK)")]
    EMLINK,
    /// Too many levels of symbolic links.
    #[error("too many levels of symbolic links (ELOOP)")]
    ELOOP,
    /// File name too long.
    #[error("file name too long (ENAMETOOLONG)")]
    ENAMETOOLONG,
    /// Directory not empty.
    #[error("directory not empty (ENOTEMPTY)")]
    ENOTEMPTY,
}

impl Errno {
    /// The MINIX errno value (positive).
    pub const fn code(self) -> i32 {
        match self {
            Errno::EPERM => 1,
            Errno::ENOENT => 2,
            Errno::EIO => 5,
            Errno::ENXIO => 6,
            Errno::ENOMEM => 12,
            Errno::EBUSY => 16,
            Errno::EEXIST => 17,
            Errno::ENOTDIR => 20,
            Errno::EISDIR => 21,
            Errno::EINVAL => 22,
            Errno::EFBIG => 27,
            Errno::ENOSPC => 28,
            Errno::EROFS => 30,
            Errno::EMLINK => 31,
            Errno::ELOOP => 62,
            Errno::ENAMETOOLONG => 63,
            Errno::ENOTEMPTY => 66,
        }
    }

    /// Maps a MINIX errno from a lower layer (cache, device) to a value;
    /// anything without a closer match is an I/O error.
    pub const fn from_code(code: i32) -> Errno {
        match code {
            2 => Errno::ENOENT,
            6 => Errno::ENXIO,
            12 => Errno::ENOMEM,
            16 => Errno::EBUSY,
            22 => Errno::EINVAL,
            28 => Errno::ENOSPC,
            30 => Errno::EROFS,
            _ => Errno::EIO,
        }
    }
}

/// Result of a file-system operation.
pub type Result<T> = core::result::Result<T, Errno>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_minix_numbers() {
        assert_eq!(Errno::ENOENT.code(), 2);
        assert_eq!(Errno::ENAMETOOLONG.code(), 63);
        assert_eq!(Errno::ENOTEMPTY.code(), 66);
        assert_eq!(Errno::ELOOP.code(), 62);
        assert_eq!(Errno::from_code(30), Errno::EROFS);
        assert_eq!(Errno::from_code(202), Errno::EIO);
    }
}
