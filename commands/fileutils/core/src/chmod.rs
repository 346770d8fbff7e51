//! `chmod` modes: octal (`755`, `4755`) or symbolic clauses separated by
//! commas, each `[ugoa]*` followed by one or more `[+-=][rwxXst]*` or
//! `[+-=][ugo]` (copy another class's bits). Without `ugoa` a clause
//! applies to all classes except the bits set in the umask, as POSIX says.

/// Which bits each class letter covers (set-uid with `u`, set-gid with
/// `g`, the sticky bit with `o`).
fn class_bits(c: u8) -> Option<u16> {
    match c {
        b'u' => Some(0o4700),
        b'g' => Some(0o2070),
        b'o' => Some(0o1007),
        b'a' => Some(0o7777),
        _ => None,
    }
}

/// The new permission bits (`0o7777`) for `spec` applied to a file whose
/// permission bits are `old` (`is_dir` for `X`; `umask` for clauses
/// without a class). `None` when `spec` is not a mode.
pub fn apply(spec: &str, old: u16, is_dir: bool, umask: u16) -> Option<u16> {
    if !spec.is_empty() && spec.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return u16::from_str_radix(spec, 8).ok().filter(|m| *m <= 0o7777);
    }
    let mut mode = old & 0o7777;
    for clause in spec.split(',') {
        let b = clause.as_bytes();
        let mut i = 0;
        let mut who = 0u16;
        while let Some(bits) = b.get(i).and_then(|&c| class_bits(c)) {
            who |= bits;
            i += 1;
        }
        let (who, masked) = if who == 0 {
            (0o7777, 0o7777 & !(umask & 0o777))
        } else {
            (who, who)
        };
        if i == b.len() {
            return None;
        }
        while i < b.len() {
            let op = b[i];
            if !matches!(op, b'+' | b'-' | b'=') {
                return None;
            }
            i += 1;
            let mut perm = 0u16;
            while i < b.len() && !matches!(b[i], b'+' | b'-' | b'=') {
                perm |= match b[i] {
                    b'r' => 0o444,
                    b'w' => 0o222,
                    b'x' => 0o111,
                    b'X' if is_dir || mode & 0o111 != 0 => 0o111,
                    b'X' => 0,
                    b's' => 0o6000,
                    b't' => 0o1000,
                    b'u' => ((mode >> 6) & 7) * 0o111,
                    b'g' => ((mode >> 3) & 7) * 0o111,
                    b'o' => (mode & 7) * 0o111,
                    _ => return None,
                };
                i += 1;
            }
            match op {
                b'+' => mode |= perm & masked,
                b'-' => mode &= !(perm & masked),
                _ => mode = (mode & !who) | (perm & masked),
            }
        }
    }
    Some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_modes() {
        assert_eq!(apply("755", 0o644, false, 0o022), Some(0o755));
        assert_eq!(apply("4755", 0, false, 0), Some(0o4755));
        assert_eq!(apply("0", 0o777, false, 0), Some(0));
        assert_eq!(apply("17777", 0, false, 0), None);
        assert_eq!(apply("789", 0, false, 0), None);
        assert_eq!(apply("", 0o644, false, 0), None);
    }

    #[test]
    fn symbolic_add_remove_set() {
        assert_eq!(apply("u+x", 0o644, false, 0), Some(0o744));
        assert_eq!(apply("go-r", 0o644, false, 0), Some(0o600));
        assert_eq!(apply("a=r", 0o755, false, 0), Some(0o444));
        assert_eq!(apply("u=rwx,g=rx,o=", 0o000, false, 0), Some(0o750));
        assert_eq!(apply("ug+w,o-rwx", 0o444, false, 0), Some(0o660));
        assert_eq!(apply("u+x-w", 0o644, false, 0), Some(0o544));
        assert_eq!(apply("+x", 0o644, false, 0o022), Some(0o755));
        // Without a class the umask's bits are kept out.
        assert_eq!(apply("+w", 0o444, false, 0o022), Some(0o644));
        assert_eq!(apply("a+w", 0o444, false, 0o022), Some(0o666));
    }

    #[test]
    fn special_bits_copies_and_big_x() {
        assert_eq!(apply("u+s", 0o755, false, 0), Some(0o4755));
        assert_eq!(apply("g+s", 0o755, true, 0), Some(0o2755));
        assert_eq!(apply("+t", 0o777, true, 0), Some(0o1777));
        assert_eq!(apply("o+t", 0o777, true, 0), Some(0o1777));
        assert_eq!(apply("u+t", 0o777, true, 0), Some(0o777));
        assert_eq!(apply("a+X", 0o644, false, 0), Some(0o644));
        assert_eq!(apply("a+X", 0o744, false, 0), Some(0o755));
        assert_eq!(apply("a+X", 0o600, true, 0), Some(0o711));
        assert_eq!(apply("g=u", 0o640, false, 0), Some(0o660));
        assert_eq!(apply("o+g", 0o650, false, 0), Some(0o655));
    }

    #[test]
    fn bad_symbolic_modes() {
        for bad in ["u", "u+q", "x+r", "u+r,", ",", "uu", "a+rw*"] {
            assert_eq!(apply(bad, 0o644, false, 0), None, "{bad}");
        }
    }
}
