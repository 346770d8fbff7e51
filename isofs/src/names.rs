//! File names as the three naming schemes present them, as Linux does:
//! Rock Ridge NM names as they are; Joliet UCS-2 names as UTF-8 with a
//! `;1` version and trailing dots dropped; plain ISO 9660 names lowercased
//! with `;1` (and `.;1`) dropped and other `;` made `.` (`map=normal`).

use alloc::vec::Vec;

/// A plain ISO 9660 identifier as Linux's `map=normal` shows it.
pub fn plain(id: &[u8]) -> Vec<u8> {
    let len = id.len();
    let mut out = Vec::with_capacity(len);
    for (i, &c) in id.iter().enumerate() {
        if c == 0 {
            break;
        }
        // A trailing ".;1" (the period ISO 9660 requires) and ";1" go.
        if c == b'.' && i + 3 == len && id[i + 1] == b';' && id[i + 2] == b'1' {
            break;
        }
        if c == b';' && i + 2 == len && id[i + 1] == b'1' {
            break;
        }
        let c = match c {
            b'A'..=b'Z' => c | 0x20,
            b';' | b'/' => b'.',
            c => c,
        };
        out.push(c);
    }
    out
}

/// A Joliet (UCS-2 big-endian) identifier as UTF-8; unpaired surrogates
/// and a `/` become U+FFFD and `_`.
pub fn joliet(id: &[u8]) -> Vec<u8> {
    let units = id.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
    let mut out = Vec::with_capacity(id.len());
    for ch in core::char::decode_utf16(units) {
        let ch = match ch {
            Ok('/') => '_',
            Ok('\0') => break,
            Ok(c) => c,
            Err(_) => char::REPLACEMENT_CHARACTER,
        };
        let mut b = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
    }
    if out.ends_with(b";1") && out.len() > 2 {
        out.truncate(out.len() - 2);
    }
    while out.len() >= 2 && out.last() == Some(&b'.') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_follow_linux_map_normal() {
        assert_eq!(plain(b"README.TXT;1"), b"readme.txt");
        assert_eq!(plain(b"MAKEFILE.;1"), b"makefile");
        assert_eq!(plain(b"DIR_A"), b"dir_a");
        assert_eq!(plain(b"A;2"), b"a.2");
        assert_eq!(plain(b"X/Y"), b"x.y");
        assert_eq!(plain(b"AB\0CD"), b"ab");
    }

    #[test]
    fn joliet_names() {
        let enc = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect() };
        assert_eq!(joliet(&enc("Long Name.txt;1")), "Long Name.txt".as_bytes());
        assert_eq!(joliet(&enc("Grüße")), "Grüße".as_bytes());
        assert_eq!(joliet(&enc("dots...")), b"dots");
        assert_eq!(joliet(&[0xd8, 0x00]), "\u{fffd}".as_bytes());
        assert_eq!(joliet(&enc("a/b")), b"a_b");
    }
}
