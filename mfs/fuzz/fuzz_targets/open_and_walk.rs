//! Fuzz target: open an arbitrary image and walk it. `fsck` reads every
//! structure it can reach (superblock, bitmaps, inodes, directories,
//! indirect blocks) and must return a report, never panic; repair must
//! not panic either, and a repaired image must check the same or better.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfs::fsck::{self, Options};
use mfs::mkfs::VecDevice;

fuzz_target!(|data: &[u8]| {
    let report = fsck::check_bytes(data);
    let _ = report.exit_code();
    let mut dev = VecDevice::new(data.to_vec());
    let repaired = fsck::fsck(&mut dev, Options { repair: true });
    let _ = repaired.exit_code();
});
