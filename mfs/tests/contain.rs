//! Issue 14, detect and contain: what the core takes from a bitmap is
//! checked before anything is changed. On an inconsistency the operation
//! fails with EIO, the file system goes read-only (later changes fail with
//! EROFS, as ext4's errors=remount-ro) and says so once.

use mfs::format::{Version, bit_set};
use mfs::mkfs::{MkfsOptions, mkfs_to_vec};
use mfs::{Errno, FileSystem, MemBlocks};

/// An image with /a.txt ("hello\n") and /d, and its block size and
/// bitmap starts (imap, zmap) in bytes.
fn image(version: Version) -> (Vec<u8>, usize, usize) {
    let mut o = MkfsOptions::for_version(version, 1024);
    o.block_size = 1024;
    o.inodes = Some(128);
    let img = mkfs_to_vec(&o).unwrap();
    let mut fs = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
    fs.write_path(b"/a.txt", b"hello\n", 0o644, 1).unwrap();
    fs.mkdir_path(b"/d", 0o755, 1).unwrap();
    let g = *fs.geometry();
    let img = fs.unmount().unwrap().into_image();
    let bs = g.block_size as usize;
    (img, g.imap_start as usize * bs, g.zmap_start as usize * bs)
}

fn a_txt(fs: &mut FileSystem<MemBlocks>) -> Vec<u8> {
    let ino = fs.resolve(b"/a.txt", true).unwrap();
    let mut buf = vec![0u8; 64];
    let n = fs.read(ino, 0, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// The file system went read-only after an EIO and says so once.
fn went_read_only(fs: &mut FileSystem<MemBlocks>) {
    assert!(fs.is_read_only());
    assert!(fs.inconsistency().is_some());
    assert!(fs.take_inconsistency().is_some());
    assert_eq!(fs.take_inconsistency(), None, "said twice");
    assert_eq!(
        fs.mkdir_path(b"/later", 0o755, 2).map(|_| ()),
        Err(Errno::EROFS)
    );
    assert_eq!(
        fs.write_path(b"/later2", b"x", 0o644, 2).map(|_| ()),
        Err(Errno::EROFS)
    );
}

#[test]
fn a_live_inode_marked_free_is_never_reused() {
    for v in [Version::V1, Version::V2, Version::V3] {
        for op in ["create", "mkdir"] {
            let (mut img, imap, _) = image(v);
            // Inode 2 (/a.txt) marked free.
            bit_set(&mut img[imap..], 2, false);
            let before = img.clone();
            let mut fs = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
            let r = if op == "create" {
                fs.write_path(b"/n", b"new data", 0o644, 2).map(|_| ())
            } else {
                fs.mkdir_path(b"/n", 0o755, 2).map(|_| ())
            };
            assert_eq!(r, Err(Errno::EIO), "{v:?} {op}");
            assert_eq!(a_txt(&mut fs), b"hello\n", "{v:?} {op}");
            assert_eq!(fs.resolve(b"/n", true), Err(Errno::ENOENT), "{v:?} {op}");
            went_read_only(&mut fs);
            let after = fs.unmount().unwrap().into_image();
            // Nothing changed but the superblock's clean mark (left unclean).
            let bs = 1024;
            assert!(
                after[2 * bs..] == before[2 * bs..],
                "{v:?} {op}: blocks changed"
            );
        }
    }
}

#[test]
fn a_zeroed_zone_bitmap_is_never_trusted() {
    for v in [Version::V1, Version::V2, Version::V3] {
        let (mut img, _, zmap) = image(v);
        img[zmap..zmap + 1024].fill(0);
        let before = img.clone();
        let mut fs = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
        let data = vec![0xa5u8; 5000];
        let r = fs.write_path(b"/d/n", &data, 0o644, 2).map(|_| ());
        assert_eq!(r, Err(Errno::EIO), "{v:?}");
        assert_eq!(a_txt(&mut fs), b"hello\n", "{v:?}");
        // Refused before anything changed: not even an empty /d/n.
        assert_eq!(fs.resolve(b"/d/n", true), Err(Errno::ENOENT), "{v:?}");
        let names: Vec<Vec<u8>> = fs
            .getdents(fs.root(), 0, 1 << 16)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        for n in &names {
            assert!(
                [&b"."[..], b"..", b"a.txt", b"d"].contains(&n.as_slice()),
                "{v:?}: root lists {n:?}"
            );
        }
        went_read_only(&mut fs);
        let after = fs.unmount().unwrap().into_image();
        // The zone bitmap is as it was (nothing was allocated).
        assert_eq!(after[zmap..zmap + 1024], before[zmap..zmap + 1024]);
    }
}
