//! Fuzz target: open an arbitrary image and walk it, twice over.
//!
//! 1. `fsck` reads every structure it can reach (superblock, bitmaps,
//!    inodes, directories, indirect blocks) and must return a report; a
//!    repair must not panic either.
//! 2. The file-system core mounts the bytes read-only and walks every
//!    directory, stats every entry and reads every file and symlink;
//!    then mounts read-write and tries a few changes. Errors are fine,
//!    panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfs::blockio::MemBlocks;
use mfs::format::mode;
use mfs::fs::{FileSystem, MountOptions};
use mfs::fsck::{self, Options};
use mfs::mkfs::VecDevice;

fn walk(data: Vec<u8>) {
    let opts = MountOptions { read_only: true, force_rw_unclean: false };
    let Ok(mut fs) = FileSystem::mount(MemBlocks::new(data), opts) else { return };
    let mut seen = std::collections::BTreeSet::new();
    let mut stack = vec![fs.root()];
    let mut buf = vec![0u8; 1 << 16];
    while let Some(dir) = stack.pop() {
        if !seen.insert(dir) || seen.len() > 10_000 {
            continue;
        }
        let Ok(entries) = fs.read_dir(dir) else { continue };
        for e in entries {
            let Ok(st) = fs.stat(e.ino) else { continue };
            match st.mode & mode::S_IFMT {
                mode::S_IFDIR => stack.push(e.ino),
                mode::S_IFLNK => {
                    let _ = fs.readlink(e.ino);
                }
                mode::S_IFREG => {
                    let mut off = 0u64;
                    while off < u64::from(st.size).min(1 << 22) {
                        match fs.read(e.ino, off, &mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => off += n as u64,
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn modify(data: Vec<u8>) {
    let opts = MountOptions { read_only: false, force_rw_unclean: true };
    let Ok(mut fs) = FileSystem::mount(MemBlocks::new(data), opts) else { return };
    let _ = fs.write_path(b"/fuzz-file", &[1u8; 3000], 0o644, 1);
    let _ = fs.mkdir_path(b"/fuzz-dir", 0o755, 1);
    let _ = fs.rename_path(b"/fuzz-file", b"/fuzz-dir/f", 1);
    let _ = fs.remove_path(b"/fuzz-dir", true, 1);
    let _ = fs.unmount();
}

fuzz_target!(|data: &[u8]| {
    let _ = fsck::check_bytes(data).exit_code();
    let mut dev = VecDevice::new(data.to_vec());
    let _ = fsck::fsck(&mut dev, Options { repair: true }).exit_code();
    walk(data.to_vec());
    modify(data.to_vec());
});
