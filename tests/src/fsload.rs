//! Host side of the crash-under-load runs (`qemu_fs_crash_under_load` with
//! the boot program `fsload`, `qemu_shell_crashload` with the disk program
//! `/bin/crashload`, both on the client of `fsload-core`): the files the
//! guest reported keeping hold, on the disk image, what it wrote.

use crate::mfs;
use fsload_core::pattern;
use std::path::Path;

/// Checks every `kept PATH len=L seq=S client=K` line of `log` whose path
/// starts with `prefix` against the file in `root` (`mfs cat`): its length
/// and its contents, rebuilt with [`pattern`]. Returns the number checked.
pub fn check_kept_files(root: &Path, log: &str, prefix: &str) -> usize {
    let marker = format!("kept {prefix}");
    let mut n = 0;
    for line in log.lines() {
        let Some(at) = line.find(&marker) else {
            continue;
        };
        let words: Vec<&str> = line[at..].split_ascii_whitespace().collect();
        let path = words[1];
        let num = |key: &str| -> u64 {
            words
                .iter()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{key} in {line}"))
        };
        let (len, seq, k) = (num("len="), num("seq="), num("client="));
        let got = mfs::cat(root, path);
        assert_eq!(got.len() as u64, len, "{path}: length on the disk");
        let want: Vec<u8> = (0..len).map(|i| pattern(k, seq, i)).collect();
        assert!(got == want, "{path}: contents on the disk differ");
        n += 1;
    }
    n
}
