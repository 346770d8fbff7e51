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

/// How a file's zone tree is damaged.
#[derive(Debug, Clone, Copy)]
enum Damage {
    /// An entry of its indirect block points past the device.
    PointerOutOfRange,
    /// Its first data zone is marked free in the zone bitmap.
    ZoneMarkedFree,
}

/// An image with /big (20 KiB: direct and indirect blocks) and /other,
/// damaged as `damage` says; and /big's inode number.
fn damaged_big(version: Version, damage: Damage) -> (Vec<u8>, u32) {
    let (img, _, _) = image(version);
    let mut fs = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
    let big = fs.write_path(b"/big", &[7u8; 20 * 1024], 0o644, 1).unwrap();
    fs.write_path(b"/other", b"other\n", 0o644, 1).unwrap();
    let g = *fs.geometry();
    let first = fs.zone_of(big, 0).unwrap();
    let mut img = fs.unmount().unwrap().into_image();
    let bs = g.block_size as usize;
    match damage {
        Damage::PointerOutOfRange => {
            // V2/V3 inode: 24 bytes of fields, then 32-bit zones; zone 7
            // is the single-indirect block.
            let (b, o) = g.inode_location(big);
            let at = b as usize * bs + o + 24 + 7 * 4;
            let ind = u32::from_le_bytes(img[at..at + 4].try_into().unwrap()) as usize;
            img[ind * bs + 8..ind * bs + 12].copy_from_slice(&999_999u32.to_le_bytes());
        }
        Damage::ZoneMarkedFree => {
            let zmap = g.zmap_start as usize * bs;
            bit_set(&mut img[zmap..], g.bit_of_zone(first) as usize, false);
        }
    }
    (img, big)
}

#[test]
fn unlink_rename_and_truncate_that_meet_a_damaged_file_change_nothing() {
    for v in [Version::V2, Version::V3] {
        for damage in [Damage::PointerOutOfRange, Damage::ZoneMarkedFree] {
            for op in ["unlink", "rename over", "truncate"] {
                let (img, big) = damaged_big(v, damage);
                let before = img.clone();
                let mut fs = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
                let free = fs.statvfs().unwrap();
                let r = match op {
                    "unlink" => fs.unlink(fs.root(), b"big", 2),
                    "rename over" => fs.rename(fs.root(), b"other", fs.root(), b"big", 2),
                    _ => fs.truncate(big, 0, 2),
                };
                let what = format!("{v:?} {damage:?} {op}");
                assert_eq!(r, Err(Errno::EIO), "{what}");
                // Both names as they were, the file whole, nothing freed.
                assert_eq!(fs.resolve(b"/big", true), Ok(big), "{what}");
                assert!(fs.resolve(b"/other", true).is_ok(), "{what}");
                assert_eq!(fs.stat(big).unwrap().size, 20 * 1024, "{what}");
                let now = fs.statvfs().unwrap();
                assert_eq!((now.bfree, now.ffree), (free.bfree, free.ffree), "{what}");
                went_read_only(&mut fs);
                let after = fs.unmount().unwrap().into_image();
                assert!(after[2048..] == before[2048..], "{what}: blocks changed");
            }
        }
    }
}

#[test]
fn rmdir_of_a_directory_whose_block_is_marked_free_changes_nothing() {
    for v in [Version::V1, Version::V2, Version::V3] {
        let (img, _, _) = image(v);
        let mut fs = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
        let d = fs.resolve(b"/d", true).unwrap();
        let g = *fs.geometry();
        let zone = fs.zone_of(d, 0).unwrap();
        let mut img = fs.unmount().unwrap().into_image();
        let zmap = g.zmap_start as usize * g.block_size as usize;
        bit_set(&mut img[zmap..], g.bit_of_zone(zone) as usize, false);
        let before = img.clone();
        let mut fs = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
        assert_eq!(fs.rmdir(fs.root(), b"d", 2), Err(Errno::EIO), "{v:?}");
        assert_eq!(fs.resolve(b"/d", true), Ok(d), "{v:?}");
        went_read_only(&mut fs);
        let after = fs.unmount().unwrap().into_image();
        assert!(after[2048..] == before[2048..], "{v:?}: blocks changed");
    }
}
