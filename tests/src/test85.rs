//! Host side of the in-guest test85 runs (`qemu_fs_test85` with the boot
//! program `fstest`, `qemu_proc_test85` with the disk program
//! `/bin/test85`): the disks' initial contents and the check that replays
//! the guest's write reports.

use test85_cases::fill;

/// The initial contents of disk `minor` (`size` bytes of its pattern).
pub fn initial(minor: u32, size: u64) -> Vec<u8> {
    (0..size).map(|o| fill(minor << 16, o)).collect()
}

/// Replays the guest's `{tag} w c0dN TAG POS COUNT` reports on the initial
/// contents of disks of `sizes` and compares the result with `imgs` byte
/// for byte; checks the guest's `{tag} c0dN: L bytes, crc32 X` lines and
/// that `write_passes` passes over the three disks reported between 3 and
/// 4 accepted writes each (BEFORE_EOF, UPTO_EOF and ACROSS_EOF always
/// write something, ONEPAST_EOF only if its length is over 1).
pub fn check_disks(log: &str, tag: &str, sizes: &[u64], imgs: &[Vec<u8>], write_passes: usize) {
    let mut want: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &s)| initial(i as u32 + 1, s))
        .collect();
    let marker = format!("{tag} w c0d");
    let mut writes = 0;
    for line in log.lines() {
        let Some(at) = line.find(&marker) else {
            continue;
        };
        let f: Vec<u64> = line[at + marker.len()..]
            .split_whitespace()
            .map(|w| w.parse().expect("number in a write report"))
            .collect();
        let (minor, tag, pos, n) = (f[0] as usize, f[1] as u32, f[2], f[3]);
        let d = &mut want[minor - 1];
        assert!(pos + n <= d.len() as u64, "a write past the end: {line}");
        for i in pos..pos + n {
            d[i as usize] = fill(tag, i);
        }
        writes += 1;
    }
    let disks = sizes.len();
    assert!(
        (disks * write_passes * 3..=disks * write_passes * 4).contains(&writes),
        "{writes} accepted writes reported"
    );
    for (i, (img, w)) in imgs.iter().zip(&want).enumerate() {
        let minor = i + 1;
        assert_eq!(img.len(), w.len(), "c0d{minor} changed size");
        if let Some(at) = img.iter().zip(w).position(|(a, b)| a != b) {
            panic!("c0d{minor}: byte {at} differs from what the guest wrote");
        }
        let crc = format!(
            "{tag} c0d{minor}: {} bytes, crc32 {:08x}",
            img.len(),
            crc32fast::hash(img)
        );
        assert!(log.contains(&crc), "guest's crc32 line {crc:?} missing");
    }
}
