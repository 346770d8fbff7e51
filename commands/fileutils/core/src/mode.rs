//! File modes as `ls -l` and `stat` show them.

use alloc::string::String;

/// File type mask.
pub const S_IFMT: u16 = 0o170000;
/// Socket.
pub const S_IFSOCK: u16 = 0o140000;
/// Symbolic link.
pub const S_IFLNK: u16 = 0o120000;
/// Regular file.
pub const S_IFREG: u16 = 0o100000;
/// Block special.
pub const S_IFBLK: u16 = 0o060000;
/// Directory.
pub const S_IFDIR: u16 = 0o040000;
/// Character special.
pub const S_IFCHR: u16 = 0o020000;
/// Named pipe.
pub const S_IFIFO: u16 = 0o010000;

/// The type letter of `ls -l`: `d`, `l`, `c`, `b`, `p`, `s` or `-`.
pub fn type_char(mode: u16) -> char {
    match mode & S_IFMT {
        S_IFDIR => 'd',
        S_IFLNK => 'l',
        S_IFCHR => 'c',
        S_IFBLK => 'b',
        S_IFIFO => 'p',
        S_IFSOCK => 's',
        _ => '-',
    }
}

/// The type as `stat` names it.
pub fn type_name(mode: u16) -> &'static str {
    match mode & S_IFMT {
        S_IFDIR => "directory",
        S_IFLNK => "symbolic link",
        S_IFCHR => "character special file",
        S_IFBLK => "block special file",
        S_IFIFO => "fifo",
        S_IFSOCK => "socket",
        S_IFREG => "regular file",
        _ => "unknown",
    }
}

/// Whether `mode` is a character or block special file.
pub fn is_device(mode: u16) -> bool {
    matches!(mode & S_IFMT, S_IFCHR | S_IFBLK)
}

/// The ten-character mode of `ls -l`: type, then `rwx` for owner, group
/// and others, with set-uid/set-gid shown as `s` (`S` without `x`) and
/// the sticky bit as `t` (`T`).
pub fn mode_string(mode: u16) -> String {
    let mut s = String::with_capacity(10);
    s.push(type_char(mode));
    let triple = |s: &mut String, bits: u16, special: bool, letter: char| {
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(match (bits & 1 != 0, special) {
            (true, true) => letter,
            (false, true) => letter.to_ascii_uppercase(),
            (true, false) => 'x',
            (false, false) => '-',
        });
    };
    triple(&mut s, (mode >> 6) & 7, mode & 0o4000 != 0, 's');
    triple(&mut s, (mode >> 3) & 7, mode & 0o2000 != 0, 's');
    triple(&mut s, mode & 7, mode & 0o1000 != 0, 't');
    s
}

/// Major and minor of a device number (`major << 8 | minor`, as the MINIX
/// file servers store it).
pub fn dev_split(rdev: u32) -> (u32, u32) {
    ((rdev >> 8) & 0xff, rdev & 0xff)
}

/// A device number from its major and minor (`None` if either is above
/// 255).
pub fn dev_make(major: u32, minor: u32) -> Option<u32> {
    (major <= 0xff && minor <= 0xff).then_some(major << 8 | minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_strings_of_every_type_and_special_bit() {
        assert_eq!(mode_string(S_IFDIR | 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(S_IFREG | 0o644), "-rw-r--r--");
        assert_eq!(mode_string(S_IFLNK | 0o777), "lrwxrwxrwx");
        assert_eq!(mode_string(S_IFCHR | 0o600), "crw-------");
        assert_eq!(mode_string(S_IFBLK | 0o660), "brw-rw----");
        assert_eq!(mode_string(S_IFIFO | 0o644), "prw-r--r--");
        assert_eq!(mode_string(S_IFREG | 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(S_IFREG | 0o4644), "-rwSr--r--");
        assert_eq!(mode_string(S_IFDIR | 0o2775), "drwxrwsr-x");
        assert_eq!(mode_string(S_IFDIR | 0o2765), "drwxrwSr-x");
        assert_eq!(mode_string(S_IFDIR | 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(S_IFDIR | 0o1776), "drwxrwxrwT");
        assert_eq!(mode_string(0), "----------");
    }

    #[test]
    fn type_names_and_devices() {
        assert_eq!(type_name(S_IFREG), "regular file");
        assert_eq!(type_name(S_IFDIR | 0o755), "directory");
        assert_eq!(type_name(S_IFLNK), "symbolic link");
        assert!(is_device(S_IFCHR | 0o600) && is_device(S_IFBLK));
        assert!(!is_device(S_IFREG) && !is_device(S_IFIFO));
        assert_eq!(dev_split(3 << 8 | 1), (3, 1));
        assert_eq!(dev_make(4, 128), Some(0x480));
        assert_eq!(dev_make(256, 0), None);
        assert_eq!(dev_make(1, 256), None);
    }
}
