//! Errors as values: every call returns `Result<_, Errno>` with the MINIX
//! (NetBSD-numbered) error codes servers use (`sys::Errno`), and
//! [`strerror`] gives the C library's text for them.

pub use sys::Errno;

/// The result type of every call in this library.
pub type Result<T> = core::result::Result<T, Errno>;

/// A kernel error (`rt`'s `abi::Errno`) as a library error (both use
/// MINIX numbers).
pub fn from_kernel(e: rt::abi::Errno) -> Errno {
    Errno::from_code(e as i64 as i32).unwrap_or(Errno::EGENERIC)
}

/// The C library's message for `e` (`strerror(3)`).
pub fn strerror(e: Errno) -> &'static str {
    match e.code() {
        1 => "Operation not permitted",
        2 => "No such file or directory",
        3 => "No such process",
        4 => "Interrupted system call",
        5 => "Input/output error",
        6 => "Device not configured",
        7 => "Argument list too long",
        8 => "Exec format error",
        9 => "Bad file descriptor",
        10 => "No child processes",
        12 => "Cannot allocate memory",
        13 => "Permission denied",
        14 => "Bad address",
        16 => "Device busy",
        17 => "File exists",
        18 => "Cross-device link",
        19 => "Operation not supported by device",
        20 => "Not a directory",
        21 => "Is a directory",
        22 => "Invalid argument",
        23 => "Too many open files in system",
        24 => "Too many open files",
        25 => "Inappropriate ioctl for device",
        27 => "File too large",
        28 => "No space left on device",
        29 => "Illegal seek",
        30 => "Read-only file system",
        31 => "Too many links",
        32 => "Broken pipe",
        34 => "Result too large",
        35 => "Resource temporarily unavailable",
        60 => "Operation timed out",
        62 => "Too many levels of symbolic links",
        63 => "File name too long",
        66 => "Directory not empty",
        78 => "Function not implemented",
        84 => "Value too large to be stored in data type",
        200 => "Service restarted",
        201 => "Not ready",
        202 => "Source or destination is not alive",
        204 => "Generic failure",
        208 => "Locking error",
        209 => "Bad call",
        215 => "Dead endpoint",
        216 => "Bad endpoint",
        _ => "Unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_names_the_common_errors() {
        assert_eq!(strerror(Errno::ENOENT), "No such file or directory");
        assert_eq!(strerror(Errno::ENOEXEC), "Exec format error");
        assert_eq!(strerror(Errno::EINTR), "Interrupted system call");
        assert_eq!(strerror(Errno::EDONTREPLY), "Unknown error");
    }

    #[test]
    fn kernel_errors_keep_their_numbers() {
        assert_eq!(from_kernel(rt::abi::Errno::Inval), Errno::EINVAL);
        assert_eq!(
            from_kernel(rt::abi::Errno::DeadSrcDst),
            Errno::EDEADSRCDST(None)
        );
    }
}
