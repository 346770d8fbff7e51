//! Unit tests of the file-system core on in-memory images of every version.

use alloc::vec;
use alloc::vec::Vec;

use crate::blockio::{BlockAccess, MemBlocks};
use crate::errno::Errno;
use crate::format::{self, ROOT_INO, Version, mode};
use crate::fs::{FileSystem, MountError, MountOptions, MountWarning, Walk, WalkFlags};
use crate::testutil::{format_image, mem_fs};

type Fs = FileSystem<MemBlocks>;

const ALL: [(Version, usize, u32); 6] = [
    (Version::V1, 14, 1024),
    (Version::V1, 30, 1024),
    (Version::V2, 14, 1024),
    (Version::V2, 30, 1024),
    (Version::V3, 60, 1024),
    (Version::V3, 60, 4096),
];

fn fs(v: Version, n: usize, bs: u32, blocks: u32) -> Fs {
    FileSystem::mount_rw(mem_fs(v, n, bs, 256, blocks)).unwrap()
}

fn remount(f: Fs) -> Fs {
    let io = f.unmount().unwrap();
    FileSystem::mount_rw(io).unwrap()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn mount_fresh_images_of_every_version() {
    for (v, n, bs) in ALL {
        let mut f = fs(v, n, bs, 2048);
        assert!(f.warning().is_none());
        let ents = f.read_dir(ROOT_INO).unwrap();
        let names: Vec<&[u8]> = ents.iter().map(|e| e.name.as_slice()).collect();
        assert_eq!(names, vec![&b"."[..], &b".."[..]]);
        let st = f.statvfs().unwrap();
        assert_eq!(st.blocks, 2048);
        assert_eq!(st.files, 256);
        assert_eq!(st.ffree, 255);
        assert_eq!(st.namemax as usize, if v == Version::V3 { 60 } else { n });
        let meta = u64::from(f.geometry().first_data_zone);
        assert_eq!(st.bfree, 2048 - meta - 1);
        assert_eq!(f.io().used, meta + 1, "cache usage counter set at mount");
    }
}

#[test]
fn clean_flag_cycle_and_unclean_readonly() {
    let f = fs(Version::V3, 60, 4096, 512);
    // While mounted rw the superblock says unclean.
    let img = f.io().image().to_vec();
    let sb = format::SuperBlock::parse(&img[1024..]).unwrap();
    assert!(!sb.is_clean());
    // "Crash": mount the image as it is now.
    let crashed = MemBlocks::new(img);
    let mut ro = FileSystem::mount(crashed.clone(), MountOptions::default()).unwrap();
    assert_eq!(ro.warning(), Some(MountWarning::UncleanReadOnly));
    assert!(ro.is_read_only());
    assert_eq!(ro.create(ROOT_INO, b"x", 0o644, 0, 0, 1), Err(Errno::EROFS));
    let forced = FileSystem::mount(
        crashed,
        MountOptions {
            read_only: false,
            force_rw_unclean: true,
        },
    )
    .unwrap();
    assert_eq!(forced.warning(), Some(MountWarning::UncleanForced));
    // Clean unmount sets the flag again.
    let io = f.unmount().unwrap();
    assert!(
        format::SuperBlock::parse(&io.image()[1024..])
            .unwrap()
            .is_clean()
    );
    for v in [Version::V1, Version::V2] {
        let f = fs(v, 30, 1024, 512);
        let img = f.io().image().to_vec();
        let state = u16::from_le_bytes([img[1024 + 18], img[1024 + 19]]);
        assert_eq!(state & format::STATE_VALID, 0);
        let io = f.unmount().unwrap();
        let state = u16::from_le_bytes([io.image()[1024 + 18], io.image()[1024 + 19]]);
        assert_eq!(state & format::STATE_VALID, format::STATE_VALID);
    }
}

#[test]
fn mount_rejects_bad_images() {
    let mut img = format_image(Version::V3, 60, 1024, 64, 512);
    img[1024 + 24] = 0;
    assert!(matches!(
        FileSystem::mount_rw(MemBlocks::new(img)),
        Err(MountError::Super(_))
    ));
    // Zone size != block size.
    let mut img = format_image(Version::V2, 30, 1024, 64, 512);
    img[1024 + 10] = 1;
    assert!(matches!(
        FileSystem::mount_rw(MemBlocks::new(img)),
        Err(MountError::Super(format::SuperError::ZoneSizeMismatch(1)))
    ));
    // Device shorter than the superblock claims.
    let img = format_image(Version::V3, 60, 1024, 64, 512);
    let short = img[..300 * 1024].to_vec();
    assert!(matches!(
        FileSystem::mount_rw(MemBlocks::new(short)),
        Err(MountError::Super(_))
    ));
    // Root inode not a directory.
    let mut img = format_image(Version::V3, 60, 1024, 64, 512);
    let g = format::SuperBlock::parse(&img[1024..]).unwrap().geometry();
    let (b, o) = g.inode_location(ROOT_INO);
    let at = b as usize * 1024 + o;
    img[at..at + 2].copy_from_slice(&(mode::S_IFREG | 0o644).to_le_bytes());
    assert!(matches!(
        FileSystem::mount_rw(MemBlocks::new(img)),
        Err(MountError::BadRoot)
    ));
    // Too small to hold a superblock at all.
    assert!(matches!(
        FileSystem::mount_rw(MemBlocks::zeroed(1000)),
        Err(MountError::Io(_))
    ));
    assert!(matches!(
        FileSystem::mount_rw(MemBlocks::zeroed(4096)),
        Err(MountError::Super(_))
    ));
}

#[test]
fn create_write_read_across_indirect_levels() {
    for (v, n, bs) in ALL {
        let blocks = if bs == 1024 { 8192 } else { 4096 };
        let mut f = fs(v, n, bs, blocks);
        let ino = f.create(ROOT_INO, b"big", 0o644, 1, 2, 100).unwrap();
        // Far enough to need double-indirect zones (7 + ptrs) blocks.
        let ptrs = u64::from(f.geometry().ptrs_per_block);
        let off = (7 + ptrs + 3) * u64::from(bs) - 17;
        let data = pattern(3 * bs as usize + 100, 7);
        assert_eq!(f.write(ino, off, &data, 200).unwrap(), data.len());
        let head = pattern(5000, 1);
        assert_eq!(f.write(ino, 10, &head, 201).unwrap(), head.len());
        let mut f = remount(f);
        let st = f.stat(ino).unwrap();
        assert_eq!(u64::from(st.size), off + data.len() as u64);
        assert_eq!((st.uid, st.gid, st.nlinks), (1, 2, 1));
        assert_eq!(st.mtime, 201);
        let mut buf = vec![0u8; data.len()];
        assert_eq!(f.read(ino, off, &mut buf).unwrap(), data.len());
        assert_eq!(buf, data, "{v:?}");
        let mut buf = vec![0xAAu8; 6000];
        f.read(ino, 0, &mut buf).unwrap();
        assert!(buf[..10].iter().all(|&b| b == 0));
        assert_eq!(&buf[10..5010], &head[..]);
        assert!(buf[5010..].iter().all(|&b| b == 0), "hole reads as zeros");
        // Read past EOF.
        assert_eq!(f.read(ino, u64::from(st.size), &mut buf).unwrap(), 0);
    }
}

#[test]
fn truncate_frees_everything_and_zeroes_tails() {
    for (v, n, bs) in ALL {
        let mut f = fs(v, n, bs, 8192);
        let free0 = f.statvfs().unwrap().bfree;
        let ino = f.create(ROOT_INO, b"t", 0o644, 0, 0, 1).unwrap();
        let ptrs = u64::from(f.geometry().ptrs_per_block);
        let len = ((7 + ptrs + 2) * u64::from(bs)) as usize;
        let data = pattern(len, 3);
        f.write(ino, 0, &data, 2).unwrap();
        assert!(f.statvfs().unwrap().bfree < free0);
        // Shrink into the middle of a block, grow again: the tail is zero.
        f.truncate(ino, 100, 3).unwrap();
        f.truncate(ino, 3000, 4).unwrap();
        let mut buf = vec![0xffu8; 3000];
        assert_eq!(f.read(ino, 0, &mut buf).unwrap(), 3000);
        assert_eq!(&buf[..100], &data[..100]);
        assert!(buf[100..].iter().all(|&b| b == 0), "{v:?}");
        // Everything past block 0 was freed (only one data zone remains).
        assert_eq!(f.statvfs().unwrap().bfree, free0 - 1);
        f.truncate(ino, 0, 5).unwrap();
        assert_eq!(f.statvfs().unwrap().bfree, free0);
        // Truncate beyond the maximum.
        let max = f.geometry().max_file_size();
        assert_eq!(f.truncate(ino, max + 1, 6), Err(Errno::EFBIG));
        f.unlink(ROOT_INO, b"t", 7).unwrap();
        assert_eq!(f.statvfs().unwrap().ffree, 255);
    }
}

#[test]
fn efbig_past_maximum() {
    let mut f = fs(Version::V1, 30, 1024, 1024);
    let ino = f.create(ROOT_INO, b"f", 0o644, 0, 0, 1).unwrap();
    let max = f.geometry().max_file_size();
    assert_eq!(max, 268_966_912);
    assert_eq!(f.write(ino, max, b"x", 2), Err(Errno::EFBIG));
    assert_eq!(f.write(ino, max - 1, b"xy", 2), Err(Errno::EFBIG));
}

#[test]
fn enospc_when_full_and_partial_write() {
    let mut f = fs(Version::V3, 60, 1024, 300);
    let ino = f.create(ROOT_INO, b"fill", 0o644, 0, 0, 1).unwrap();
    let data = vec![1u8; 400 * 1024];
    let n = f.write(ino, 0, &data, 2).unwrap();
    assert!(n > 0 && n < data.len());
    assert_eq!(f.statvfs().unwrap().bfree, 0);
    assert_eq!(f.write(ino, n as u64, b"more", 3), Err(Errno::ENOSPC));
    assert_eq!(u64::from(f.stat(ino).unwrap().size), n as u64);
    // Freeing makes room again.
    f.truncate(ino, 0, 4).unwrap();
    assert_eq!(f.write(ino, 0, b"ok", 5).unwrap(), 2);
}

#[test]
fn inode_exhaustion() {
    let mut f = FileSystem::mount_rw(mem_fs(Version::V2, 30, 1024, 32, 512)).unwrap();
    let mut made = 0;
    loop {
        let name = alloc::format!("f{made}");
        match f.create(ROOT_INO, name.as_bytes(), 0o644, 0, 0, 1) {
            Ok(_) => made += 1,
            Err(e) => {
                assert_eq!(e, Errno::ENOSPC);
                break;
            }
        }
    }
    // 32 inodes per the layout rounded to full blocks; root takes one.
    let ninodes = f.superblock().ninodes;
    assert_eq!(made, ninodes - 1);
}

#[test]
fn directories_mkdir_rmdir_and_errors() {
    for (v, n, bs) in ALL {
        let mut f = fs(v, n, bs, 2048);
        let d = f.mkdir(ROOT_INO, b"d", 0o755, 0, 0, 1).unwrap();
        assert_eq!(f.stat(ROOT_INO).unwrap().nlinks, 3);
        assert_eq!(f.stat(d).unwrap().nlinks, 2);
        assert_eq!(f.lookup(d, b"..").unwrap(), ROOT_INO);
        assert_eq!(f.lookup(d, b".").unwrap(), d);
        assert_eq!(f.mkdir(ROOT_INO, b"d", 0o755, 0, 0, 1), Err(Errno::EEXIST));
        let file = f.create(d, b"f", 0o600, 0, 0, 1).unwrap();
        assert_eq!(f.rmdir(ROOT_INO, b"d", 2), Err(Errno::ENOTEMPTY));
        assert_eq!(f.rmdir(d, b"f", 2), Err(Errno::ENOTDIR));
        assert_eq!(f.unlink(ROOT_INO, b"d", 2), Err(Errno::EISDIR));
        assert_eq!(f.rmdir(d, b".", 2), Err(Errno::EINVAL));
        assert_eq!(f.rmdir(d, b"..", 2), Err(Errno::ENOTEMPTY));
        assert_eq!(f.create(file, b"x", 0o600, 0, 0, 1), Err(Errno::ENOTDIR));
        assert_eq!(f.lookup(d, b"nope"), Err(Errno::ENOENT));
        let long = vec![b'n'; f.geometry().name_len as usize + 1];
        assert_eq!(f.create(d, &long, 0o600, 0, 0, 1), Err(Errno::ENAMETOOLONG));
        let exact = vec![b'n'; f.geometry().name_len as usize];
        let e = f.create(d, &exact, 0o600, 0, 0, 1).unwrap();
        assert_eq!(f.lookup(d, &exact).unwrap(), e);
        assert_eq!(f.create(d, b"a/b", 0o600, 0, 0, 1), Err(Errno::EINVAL));
        f.unlink(d, &exact, 3).unwrap();
        f.unlink(d, b"f", 3).unwrap();
        f.rmdir(ROOT_INO, b"d", 4).unwrap();
        assert_eq!(f.stat(ROOT_INO).unwrap().nlinks, 2);
        assert_eq!(f.statvfs().unwrap().ffree, 255);
        // Slot reuse: the directory does not grow for a new name.
        let size = f.stat(ROOT_INO).unwrap().size;
        f.create(ROOT_INO, b"again", 0o600, 0, 0, 5).unwrap();
        assert_eq!(f.stat(ROOT_INO).unwrap().size, size);
    }
}

#[test]
fn many_entries_span_blocks_and_getdents_resumes() {
    for (v, n, bs) in ALL {
        let mut f = FileSystem::mount_rw(mem_fs(v, n, bs, 1024, 4096)).unwrap();
        let count = 300usize;
        for i in 0..count {
            f.create(
                ROOT_INO,
                alloc::format!("file{i:04}").as_bytes(),
                0o644,
                0,
                0,
                1,
            )
            .unwrap();
        }
        let mut f = remount(f);
        let mut pos = 0;
        let mut seen = Vec::new();
        loop {
            let batch = f.getdents(ROOT_INO, pos, 7).unwrap();
            if batch.is_empty() {
                break;
            }
            pos = batch.last().unwrap().next_pos;
            seen.extend(batch.into_iter().map(|e| e.name));
        }
        assert_eq!(seen.len(), count + 2, "{v:?}");
        for i in 0..count {
            assert!(seen.contains(&alloc::format!("file{i:04}").into_bytes()));
        }
        let es = u64::from(f.geometry().dirent_size);
        assert_eq!(f.getdents(ROOT_INO, es + 1, 1), Err(Errno::ENOENT));
    }
}

#[test]
fn links_and_open_after_unlink() {
    for (v, n, bs) in ALL {
        let mut f = fs(v, n, bs, 2048);
        let ino = f.create(ROOT_INO, b"a", 0o644, 0, 0, 1).unwrap();
        f.write(ino, 0, b"hello", 2).unwrap();
        f.link(ROOT_INO, b"b", ino, 3).unwrap();
        assert_eq!(f.stat(ino).unwrap().nlinks, 2);
        assert_eq!(f.link(ROOT_INO, b"b", ino, 3), Err(Errno::EEXIST));
        assert_eq!(f.link(ROOT_INO, b"c", ROOT_INO, 3), Err(Errno::EPERM));
        f.unlink(ROOT_INO, b"a", 4).unwrap();
        assert_eq!(f.read_path(b"/b").unwrap(), b"hello");
        f.get(ino).unwrap();
        let free_inodes = f.statvfs().unwrap().ffree;
        f.unlink(ROOT_INO, b"b", 5).unwrap();
        // Still open: still readable and writable, inode not freed.
        let mut buf = [0u8; 5];
        assert_eq!(f.read(ino, 0, &mut buf).unwrap(), 5);
        assert_eq!(&buf, b"hello");
        f.write(ino, 5, b" world", 6).unwrap();
        assert_eq!(f.statvfs().unwrap().ffree, free_inodes);
        assert_eq!(f.stat(ino).unwrap().nlinks, 0);
        f.put(ino).unwrap();
        assert_eq!(f.statvfs().unwrap().ffree, free_inodes + 1);
        assert_eq!(f.stat(ino), Err(Errno::EIO));
        assert_eq!(f.put(ino), Err(Errno::EINVAL));
    }
}

#[test]
fn orphans_freed_at_unmount() {
    let mut f = fs(Version::V3, 60, 1024, 1024);
    let ino = f.create(ROOT_INO, b"a", 0o644, 0, 0, 1).unwrap();
    f.write(ino, 0, &[5u8; 10_000], 2).unwrap();
    let free = f.statvfs().unwrap();
    f.get(ino).unwrap();
    f.unlink(ROOT_INO, b"a", 3).unwrap();
    let mut f = remount(f);
    let after = f.statvfs().unwrap();
    assert_eq!(after.ffree, free.ffree + 1);
    assert!(after.bfree > free.bfree);
}

#[test]
fn open_unlinked_inode_is_freed_after_a_crash_and_regets() {
    // The owner dies with an unlinked file still open; the next instance
    // mounts what it left and re-takes the open reference.
    let mut f = fs(Version::V3, 60, 1024, 1024);
    let ino = f.create(ROOT_INO, b"a", 0o644, 0, 0, 1).unwrap();
    f.write(ino, 0, &[7u8; 5000], 2).unwrap();
    let before = f.statvfs().unwrap();
    f.get(ino).unwrap();
    f.unlink(ROOT_INO, b"a", 3).unwrap();
    f.sync().unwrap();
    let left = f.io().clone();
    drop(f);
    let opts = MountOptions {
        read_only: false,
        force_rw_unclean: true,
    };
    let mut f = FileSystem::mount(left, opts).unwrap();
    f.get(ino).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(f.read(ino, 0, &mut buf).unwrap(), 4);
    assert_eq!(buf, [7u8; 4]);
    f.put(ino).unwrap();
    assert_eq!(f.stat(ino), Err(Errno::EIO));
    let after = f.statvfs().unwrap();
    assert_eq!(after.ffree, before.ffree + 1);
    assert!(after.bfree > before.bfree);
}

#[test]
fn emlink_limits() {
    let mut f = fs(Version::V1, 30, 1024, 4096);
    let ino = f.create(ROOT_INO, b"a", 0o644, 0, 0, 1).unwrap();
    for i in 1..format::V1_LINK_MAX {
        f.link(ROOT_INO, alloc::format!("l{i}").as_bytes(), ino, 1)
            .unwrap();
    }
    assert_eq!(f.stat(ino).unwrap().nlinks, 250);
    assert_eq!(f.link(ROOT_INO, b"over", ino, 1), Err(Errno::EMLINK));
}

#[test]
fn mkdir_emlink_on_parent() {
    let mut f = FileSystem::mount_rw(mem_fs(Version::V1, 14, 1024, 512, 4096)).unwrap();
    // Root starts with 2 links; each subdirectory adds one.
    let mut i = 0;
    loop {
        match f.mkdir(ROOT_INO, alloc::format!("d{i}").as_bytes(), 0o755, 0, 0, 1) {
            Ok(_) => i += 1,
            Err(e) => {
                assert_eq!(e, Errno::EMLINK);
                break;
            }
        }
    }
    assert_eq!(f.stat(ROOT_INO).unwrap().nlinks, format::V1_LINK_MAX);
}

#[test]
fn rename_files_and_directories() {
    for (v, n, bs) in ALL {
        let mut f = fs(v, n, bs, 2048);
        let a = f.mkdir(ROOT_INO, b"a", 0o755, 0, 0, 1).unwrap();
        let b = f.mkdir(ROOT_INO, b"b", 0o755, 0, 0, 1).unwrap();
        let x = f.create(a, b"x", 0o644, 0, 0, 1).unwrap();
        f.write(x, 0, b"xx", 1).unwrap();
        // Same directory.
        f.rename(a, b"x", a, b"y", 2).unwrap();
        assert_eq!(f.lookup(a, b"y").unwrap(), x);
        assert_eq!(f.lookup(a, b"x"), Err(Errno::ENOENT));
        // Across directories, replacing a file.
        let z = f.create(b, b"z", 0o644, 0, 0, 1).unwrap();
        f.rename(a, b"y", b, b"z", 3).unwrap();
        assert_eq!(f.lookup(b, b"z").unwrap(), x);
        assert_eq!(f.stat(z), Err(Errno::EIO), "replaced inode freed");
        // Move a directory across: link counts and "..".
        let c = f.mkdir(a, b"c", 0o755, 0, 0, 1).unwrap();
        assert_eq!(f.stat(a).unwrap().nlinks, 3);
        f.rename(a, b"c", b, b"c2", 4).unwrap();
        assert_eq!(f.stat(a).unwrap().nlinks, 2);
        assert_eq!(f.stat(b).unwrap().nlinks, 3);
        assert_eq!(f.lookup(c, b"..").unwrap(), b);
        // Into itself or its subtree.
        assert_eq!(f.rename(ROOT_INO, b"b", c, b"in", 5), Err(Errno::EINVAL));
        assert_eq!(f.rename(ROOT_INO, b"b", b, b"in", 5), Err(Errno::EINVAL));
        // Directory over a file / file over a directory / over a non-empty dir.
        assert_eq!(f.rename(b, b"c2", b, b"z", 5), Err(Errno::ENOTDIR));
        assert_eq!(f.rename(b, b"z", ROOT_INO, b"a", 5), Err(Errno::EISDIR));
        f.create(a, b"keep", 0o644, 0, 0, 5).unwrap();
        assert_eq!(f.rename(b, b"c2", ROOT_INO, b"a", 5), Err(Errno::ENOTEMPTY));
        // Directory over an empty directory in another parent.
        let e = f.mkdir(ROOT_INO, b"e", 0o755, 0, 0, 5).unwrap();
        let root_links = f.stat(ROOT_INO).unwrap().nlinks;
        f.rename(b, b"c2", ROOT_INO, b"e", 6).unwrap();
        assert_eq!(f.stat(e), Err(Errno::EIO));
        assert_eq!(f.lookup(ROOT_INO, b"e").unwrap(), c);
        assert_eq!(f.stat(ROOT_INO).unwrap().nlinks, root_links);
        assert_eq!(f.stat(b).unwrap().nlinks, 2);
        assert_eq!(f.lookup(c, b"..").unwrap(), ROOT_INO);
        // Renaming onto another name of the same inode does nothing.
        f.link(b, b"z2", x, 7).unwrap();
        f.rename(b, b"z", b, b"z2", 7).unwrap();
        assert_eq!(f.lookup(b, b"z").unwrap(), x);
        assert_eq!(f.rename(b, b".", a, b"q", 7), Err(Errno::EINVAL));
        assert_eq!(f.rename(b, b"missing", a, b"q", 7), Err(Errno::ENOENT));
        let mut f = remount(f);
        assert_eq!(f.read_path(b"/b/z").unwrap(), b"xx");
    }
}

#[test]
fn symlinks_and_walk_handbacks() {
    for (v, n, bs) in ALL {
        let mut f = fs(v, n, bs, 2048);
        let d = f.mkdir(ROOT_INO, b"d", 0o755, 0, 0, 1).unwrap();
        let file = f.write_path(b"/d/file", b"content", 0o644, 1).unwrap();
        let l = f.symlink(ROOT_INO, b"ln", b"d/file", 0, 0, 2).unwrap();
        let dl = f.symlink(ROOT_INO, b"dl", b"/d", 0, 0, 2).unwrap();
        assert_eq!(f.readlink(l).unwrap(), b"d/file");
        assert_eq!(f.readlink(file), Err(Errno::EINVAL));
        assert_eq!(f.stat(l).unwrap().mode & mode::S_IFMT, mode::S_IFLNK);
        assert_eq!(f.stat(l).unwrap().size, 6);
        // Walk hands back the link with the rest of the path.
        let w = f.walk(ROOT_INO, b"dl/file", WalkFlags::default()).unwrap();
        assert_eq!(
            w,
            Walk::Symlink {
                ino: dl,
                dir: ROOT_INO,
                component: 0,
                rest: b"file".to_vec()
            }
        );
        let w = f.walk(ROOT_INO, b"ln", WalkFlags::default()).unwrap();
        assert_eq!(
            w,
            Walk::Found {
                ino: l,
                parent: ROOT_INO
            }
        );
        let w = f
            .walk(
                ROOT_INO,
                b"ln",
                WalkFlags {
                    follow_last: true,
                    leave_at_root: false,
                },
            )
            .unwrap();
        assert!(matches!(w, Walk::Symlink { ino, .. } if ino == l));
        // Mount point and leaving the root.
        f.set_mountpoint(d, true).unwrap();
        let w = f.walk(ROOT_INO, b"/d/file", WalkFlags::default()).unwrap();
        assert_eq!(
            w,
            Walk::MountPoint {
                ino: d,
                component: 0,
                rest: b"file".to_vec()
            }
        );
        assert_eq!(f.rmdir(ROOT_INO, b"d", 3), Err(Errno::EBUSY));
        f.set_mountpoint(d, false).unwrap();
        let w = f
            .walk(
                ROOT_INO,
                b"../x",
                WalkFlags {
                    follow_last: false,
                    leave_at_root: true,
                },
            )
            .unwrap();
        assert_eq!(
            w,
            Walk::LeaveRoot {
                component: 0,
                rest: b"../x".to_vec()
            }
        );
        // Path helpers follow links.
        assert_eq!(f.read_path(b"/ln").unwrap(), b"content");
        assert_eq!(f.read_path(b"/dl/file").unwrap(), b"content");
        assert_eq!(f.resolve(b"/dl/", true).unwrap(), d);
        assert_eq!(
            f.walk(ROOT_INO, b"d/file/x", WalkFlags::default()),
            Err(Errno::ENOTDIR)
        );
        assert_eq!(
            f.walk(ROOT_INO, b"d/file/", WalkFlags::default()),
            Err(Errno::ENOTDIR)
        );
        // Loops.
        f.symlink(ROOT_INO, b"loop1", b"loop2", 0, 0, 4).unwrap();
        f.symlink(ROOT_INO, b"loop2", b"loop1", 0, 0, 4).unwrap();
        assert_eq!(f.read_path(b"/loop1"), Err(Errno::ELOOP));
        // Target limits.
        let long = vec![b'a'; bs as usize];
        assert_eq!(
            f.symlink(ROOT_INO, b"long", &long, 0, 0, 5),
            Err(Errno::ENAMETOOLONG)
        );
        assert_eq!(
            f.symlink(ROOT_INO, b"empty", b"", 0, 0, 5),
            Err(Errno::EINVAL)
        );
        f.unlink(ROOT_INO, b"ln", 6).unwrap();
        assert_eq!(f.read_path(b"/d/file").unwrap(), b"content");
    }
}

#[test]
fn walk_dotdot_from_subdir() {
    let mut f = fs(Version::V3, 60, 1024, 512);
    let d = f.mkdir(ROOT_INO, b"d", 0o755, 0, 0, 1).unwrap();
    let x = f.create(ROOT_INO, b"x", 0o644, 0, 0, 1).unwrap();
    let w = f
        .walk(
            d,
            b"../x",
            WalkFlags {
                follow_last: false,
                leave_at_root: true,
            },
        )
        .unwrap();
    assert_eq!(
        w,
        Walk::Found {
            ino: x,
            parent: ROOT_INO
        }
    );
}

#[test]
fn mknod_chmod_chown_utimes() {
    for (v, n, bs) in ALL {
        let mut f = fs(v, n, bs, 1024);
        let c = f
            .mknod(ROOT_INO, b"tty", mode::S_IFCHR | 0o620, 0, 5, 0x0401, 1)
            .unwrap();
        let b = f
            .mknod(ROOT_INO, b"disk", mode::S_IFBLK | 0o600, 0, 0, 0x0300, 1)
            .unwrap();
        let p = f
            .mknod(ROOT_INO, b"fifo", mode::S_IFIFO | 0o644, 0, 0, 0, 1)
            .unwrap();
        assert_eq!(
            f.mknod(ROOT_INO, b"bad", mode::S_IFDIR | 0o644, 0, 0, 0, 1),
            Err(Errno::EINVAL)
        );
        let free = f.statvfs().unwrap().bfree;
        let mut f = remount(f);
        assert_eq!(f.stat(c).unwrap().rdev, 0x0401);
        assert_eq!(f.stat(b).unwrap().rdev, 0x0300);
        assert_eq!(f.stat(p).unwrap().rdev, 0);
        assert_eq!(f.stat(p).unwrap().mode, mode::S_IFIFO | 0o644);
        assert_eq!(f.read(c, 0, &mut [0u8; 4]), Err(Errno::EINVAL));
        assert_eq!(f.write(c, 0, b"x", 1), Err(Errno::EINVAL));
        // Removing a device must not free "zone" rdev.
        f.unlink(ROOT_INO, b"tty", 2).unwrap();
        f.unlink(ROOT_INO, b"disk", 2).unwrap();
        assert_eq!(f.statvfs().unwrap().bfree, free);
        f.chmod(p, 0o4711, 3).unwrap();
        assert_eq!(f.stat(p).unwrap().mode, mode::S_IFIFO | 0o4711);
        f.chown(p, 1000, 100, 4).unwrap();
        let st = f.stat(p).unwrap();
        assert_eq!((st.uid, st.gid), (1000, 100));
        f.utimes(p, 11, 22, 33).unwrap();
        let st = f.stat(p).unwrap();
        assert_eq!(st.mtime, 22);
        if v == Version::V1 {
            assert_eq!(f.chown(p, 1, 300, 5), Err(Errno::EINVAL));
            assert_eq!(st.atime, 22, "V1 has one timestamp");
            assert_eq!(
                f.mknod(ROOT_INO, b"big", mode::S_IFCHR, 0, 0, 70_000, 1),
                Err(Errno::EINVAL)
            );
        } else {
            assert_eq!((st.atime, st.ctime), (11, 33));
        }
    }
}

#[test]
fn path_helpers_remove_recursive() {
    let mut f = fs(Version::V3, 60, 4096, 1024);
    f.mkdir_path(b"/a", 0o755, 1).unwrap();
    f.mkdir_path(b"/a/b", 0o755, 1).unwrap();
    f.write_path(b"/a/b/f", &pattern(20_000, 2), 0o644, 1)
        .unwrap();
    f.symlink_path(b"/a", b"/a/b/l", 1).unwrap();
    f.link_path(b"/a/b/f", b"/a/g", 1).unwrap();
    let before = f.statvfs().unwrap();
    assert_eq!(f.remove_path(b"/a", false, 2), Err(Errno::ENOTEMPTY));
    f.rename_path(b"/a/g", b"/g", 2).unwrap();
    f.remove_path(b"/a", true, 2).unwrap();
    assert_eq!(f.read_path(b"/g").unwrap(), pattern(20_000, 2));
    f.remove_path(b"/g", false, 3).unwrap();
    let after = f.statvfs().unwrap();
    assert_eq!(after.ffree, 255);
    assert!(after.bfree > before.bfree);
    assert_eq!(f.read_dir(ROOT_INO).unwrap().len(), 2);
    assert_eq!(f.remove_path(b"/", true, 4), Err(Errno::EINVAL));
}

#[test]
fn corrupt_zone_numbers_are_eio_not_panics() {
    let mut f = fs(Version::V3, 60, 1024, 1024);
    let ino = f.create(ROOT_INO, b"f", 0o644, 0, 0, 1).unwrap();
    f.write(ino, 0, &vec![9u8; 20 * 1024], 2).unwrap();
    let mut img = f.unmount().unwrap().into_image();
    let g = format::SuperBlock::parse(&img[1024..]).unwrap().geometry();
    let (b, o) = g.inode_location(ino);
    let at = b as usize * 1024 + o;
    // Direct zone 3 -> a metadata block; indirect zone -> beyond the device.
    img[at + 24 + 12..at + 24 + 16].copy_from_slice(&2u32.to_le_bytes());
    img[at + 24 + 28..at + 24 + 32].copy_from_slice(&999_999u32.to_le_bytes());
    let mut f = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
    let mut buf = vec![0u8; 20 * 1024];
    assert_eq!(f.read(ino, 0, &mut buf), Err(Errno::EIO));
    // The bad pointer made the file system read-only (issue 14): later
    // changes are refused before they touch anything.
    assert!(f.is_read_only());
    assert_eq!(f.write(ino, 3 * 1024, b"x", 3), Err(Errno::EROFS));
    assert_eq!(f.truncate(ino, 0, 3), Err(Errno::EROFS));
    // A fresh mount (forced: the image stayed unclean) that changes
    // first: the same pointers stop the truncate before anything is freed.
    let img = f.unmount().unwrap().into_image();
    let forced = crate::MountOptions {
        read_only: false,
        force_rw_unclean: true,
    };
    let mut f = FileSystem::mount(MemBlocks::new(img), forced).unwrap();
    let free = f.statvfs().unwrap().bfree;
    assert_eq!(f.truncate(ino, 0, 3), Err(Errno::EIO));
    assert!(f.is_read_only());
    assert_eq!(f.statvfs().unwrap().bfree, free, "nothing freed");
    assert_eq!(f.stat(ino).unwrap().size, 20 * 1024, "size unchanged");
    // Out-of-range inode numbers from the caller.
    assert_eq!(f.stat(0), Err(Errno::EINVAL));
    assert_eq!(f.stat(10_000), Err(Errno::EINVAL));
}

#[test]
fn corrupt_directories_are_eio() {
    let mut f = fs(Version::V2, 30, 1024, 1024);
    let d = f.mkdir(ROOT_INO, b"d", 0o755, 0, 0, 1).unwrap();
    f.create(d, b"x", 0o644, 0, 0, 1).unwrap();
    let mut img = f.unmount().unwrap().into_image();
    let g = format::SuperBlock::parse(&img[1024..]).unwrap().geometry();
    let (b, o) = g.inode_location(d);
    let at = b as usize * 1024 + o;
    // Size not a multiple of the entry size.
    img[at + 8..at + 12].copy_from_slice(&97u32.to_le_bytes());
    let mut f = FileSystem::mount_rw(MemBlocks::new(img.clone())).unwrap();
    assert_eq!(f.lookup(d, b"x"), Err(Errno::EIO));
    assert_eq!(f.getdents(d, 0, 10), Err(Errno::EIO));
    // Entry with an inode number beyond ninodes.
    img[at + 8..at + 12].copy_from_slice(&96u32.to_le_bytes());
    let z = u32::from_le_bytes(img[at + 24..at + 28].try_into().unwrap()) as usize;
    img[z * 1024 + 64..z * 1024 + 66].copy_from_slice(&60_000u16.to_le_bytes());
    let mut f = FileSystem::mount_rw(MemBlocks::new(img.clone())).unwrap();
    assert_eq!(f.lookup(d, b"x"), Err(Errno::EIO));
    // Directory with a hole.
    img[at + 24..at + 28].copy_from_slice(&0u32.to_le_bytes());
    let mut f = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
    assert_eq!(f.lookup(d, b"x"), Err(Errno::EIO));
    assert_eq!(f.create(d, b"y", 0o644, 0, 0, 2), Err(Errno::EIO));
}

#[test]
fn bitmap_accounting_matches_cache_counter() {
    let mut f = fs(Version::V3, 60, 1024, 2048);
    for i in 0..20u32 {
        let ino = f
            .create(ROOT_INO, alloc::format!("f{i}").as_bytes(), 0o644, 0, 0, 1)
            .unwrap();
        f.write(ino, u64::from(i) * 3000, &pattern(5000, i as u8), 2)
            .unwrap();
    }
    for i in (0..20u32).step_by(2) {
        f.unlink(ROOT_INO, alloc::format!("f{i}").as_bytes(), 3)
            .unwrap();
    }
    let st = f.statvfs().unwrap();
    assert_eq!(f.io().used, st.blocks - st.bfree);
    let mut f = remount(f);
    let st2 = f.statvfs().unwrap();
    assert_eq!(st, st2, "counts recomputed from the bitmap agree");
}

#[test]
fn read_only_mount_refuses_changes() {
    let io = mem_fs(Version::V3, 60, 1024, 64, 512);
    let mut f = FileSystem::mount(
        io,
        MountOptions {
            read_only: true,
            force_rw_unclean: false,
        },
    )
    .unwrap();
    assert!(f.warning().is_none());
    assert_eq!(f.mkdir(ROOT_INO, b"d", 0o755, 0, 0, 1), Err(Errno::EROFS));
    assert_eq!(f.chmod(ROOT_INO, 0o700, 1), Err(Errno::EROFS));
    assert_eq!(
        f.rename(ROOT_INO, b"a", ROOT_INO, b"b", 1),
        Err(Errno::EROFS)
    );
    let img_before = f.io().image().to_vec();
    let mut io = f.unmount().unwrap();
    assert_eq!(io.image(), &img_before[..]);
    io.flush().unwrap();
}

#[test]
fn runs_on_libminixfs_cache_with_eviction() {
    use crate::cache::{CachedDevice, FS_DEV};
    use libbdev::{MemDriver, RawDevice};
    for (v, n, bs) in ALL {
        let mut drv = MemDriver::new();
        drv.add_minor(0, format_image(v, n, bs, 256, 4096));
        let dev: alloc::boxed::Box<dyn libminixfs::BlockDevice> =
            alloc::boxed::Box::new(RawDevice::new(drv, 0));
        // A tiny cache forces evictions and write-back in the middle of operations.
        let mut f = FileSystem::mount_device(dev, 8, MountOptions::default()).unwrap();
        f.mkdir_path(b"/d", 0o755, 1).unwrap();
        let data = pattern(300 * bs as usize + 123, 9);
        f.write_path(b"/d/big", &data, 0o644, 2).unwrap();
        for i in 0..40 {
            f.write_path(
                alloc::format!("/d/f{i}").as_bytes(),
                &pattern(i * 100, i as u8),
                0o644,
                3,
            )
            .unwrap();
        }
        let st = f.statvfs().unwrap();
        assert_eq!(f.io().cache().stats().used, st.blocks - st.bfree);
        let io = f.unmount().unwrap();
        let (dev, cache) = io.into_parts().unwrap();
        cache.invalidate(FS_DEV);
        let io = CachedDevice::with_cache(cache, FS_DEV, dev).unwrap();
        let mut f = FileSystem::mount_rw(io).unwrap();
        assert!(f.warning().is_none(), "clean after unmount");
        assert_eq!(f.read_path(b"/d/big").unwrap(), data, "{v:?}");
        for i in 0..40 {
            assert_eq!(
                f.read_path(alloc::format!("/d/f{i}").as_bytes()).unwrap(),
                pattern(i * 100, i as u8)
            );
        }
        let c = f.io().cache().counters();
        assert!(c.prefetched > 0, "file reads hand blocks to prefetch");
        assert_eq!(f.statvfs().unwrap(), st);
    }
}

#[test]
fn recursive_remove_survives_directory_loop() {
    let mut f = fs(Version::V3, 60, 1024, 1024);
    let a = f.mkdir_path(b"/a", 0o755, 1).unwrap();
    f.mkdir_path(b"/a/b", 0o755, 1).unwrap();
    f.write_path(b"/a/b/loopname", b"x", 0o644, 1).unwrap();
    let mut img = f.unmount().unwrap().into_image();
    // Point /a/b/loopname at /a: a directory loop.
    let at = img.windows(8).position(|w| w == b"loopname").unwrap();
    img[at - 4..at].copy_from_slice(&a.to_le_bytes());
    let mut f = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
    assert_eq!(f.remove_path(b"/a", true, 2), Err(Errno::EIO));
    assert!(f.read_dir(a).is_ok());
}

/// MemBlocks that records prefetch hints.
struct Recording {
    inner: MemBlocks,
    hints: Vec<Vec<u32>>,
}

impl BlockAccess for Recording {
    fn set_block_size(&mut self, bs: u32) -> crate::errno::Result<()> {
        self.inner.set_block_size(bs)
    }
    fn device_size(&mut self) -> crate::errno::Result<u64> {
        self.inner.device_size()
    }
    fn read<R>(&mut self, b: u32, f: impl FnOnce(&[u8]) -> R) -> crate::errno::Result<R> {
        self.inner.read(b, f)
    }
    fn modify<R>(&mut self, b: u32, f: impl FnOnce(&mut [u8]) -> R) -> crate::errno::Result<R> {
        self.inner.modify(b, f)
    }
    fn overwrite<R>(&mut self, b: u32, f: impl FnOnce(&mut [u8]) -> R) -> crate::errno::Result<R> {
        self.inner.overwrite(b, f)
    }
    fn prefetch(&mut self, blocks: &[u32]) {
        self.hints.push(blocks.to_vec());
    }
    fn set_usage(&mut self, total: u64, used: u64) {
        self.inner.set_usage(total, used)
    }
    fn change_usage(&mut self, delta: i64) {
        self.inner.change_usage(delta)
    }
    fn flush(&mut self) -> crate::errno::Result<()> {
        self.inner.flush()
    }
}

#[test]
fn reads_hand_next_zones_to_prefetch() {
    let io = Recording {
        inner: mem_fs(Version::V3, 60, 1024, 64, 2048),
        hints: Vec::new(),
    };
    let mut f = FileSystem::mount_rw(io).unwrap();
    let ino = f.create(ROOT_INO, b"f", 0o644, 0, 0, 1).unwrap();
    f.write(ino, 0, &pattern(100 * 1024, 1), 2).unwrap();
    // A hole at blocks 100..110, then data again.
    f.write(ino, 110 * 1024, &pattern(1024, 2), 3).unwrap();
    f.io_mut().hints.clear();
    let mut buf = vec![0u8; 111 * 1024];
    assert_eq!(f.read(ino, 0, &mut buf).unwrap(), buf.len());
    let hints = core::mem::take(&mut f.io_mut().hints);
    assert_eq!(hints.len(), 2, "64 blocks, then the rest");
    assert_eq!(hints[0].len(), 64);
    // Second window: blocks 64..99 and 110 (holes left out).
    assert_eq!(hints[1].len(), 36 + 1);
    // Hints are the file's zones in file order, the needed block first.
    let mut inode_zones = Vec::new();
    for fb in 0..111u64 {
        let z = f.zone_of(ino, fb).unwrap();
        if z != 0 {
            inode_zones.push(z);
        }
    }
    let flat: Vec<u32> = hints.concat();
    assert_eq!(flat, inode_zones);
    // A one-block read gives no hint (nothing beyond the block asked for).
    f.read(ino, 5000, &mut [0u8; 10]).unwrap();
    assert!(f.io_mut().hints.is_empty());
}

#[test]
fn triple_indirect_write_read_truncate() {
    // V2 with 1 KiB blocks: double indirect ends at (7 + 256 + 65536) blocks.
    let mut f = fs(Version::V2, 30, 1024, 4096);
    let free0 = f.statvfs().unwrap().bfree;
    let ino = f.create(ROOT_INO, b"huge", 0o644, 0, 0, 1).unwrap();
    let tind_start = (7 + 256 + 256 * 256) * 1024u64;
    let far = tind_start + 300 * 1024 * 1024 + 17;
    f.write(ino, far, b"triple", 2).unwrap();
    f.write(ino, tind_start - 3, b"edge", 2).unwrap();
    let mut f = remount(f);
    let mut buf = [0u8; 6];
    f.read(ino, far, &mut buf).unwrap();
    assert_eq!(&buf, b"triple");
    let mut buf = [0u8; 4];
    f.read(ino, tind_start - 3, &mut buf).unwrap();
    assert_eq!(&buf, b"edge");
    let fb = far / 1024;
    assert_ne!(f.zone_of(ino, fb).unwrap(), 0);
    // data + ind + dind + tind-chain (tind, dind, ind) for the far block,
    // and the edge write's 2 data blocks, ind, dind and first tind chain.
    let used = free0 - f.statvfs().unwrap().bfree;
    assert!(
        used <= 12,
        "sparse file uses only its path of indirect blocks ({used})"
    );
    // Shrink into the double-indirect range: the triple tree goes.
    f.truncate(ino, tind_start - 1, 3).unwrap();
    assert_eq!(f.zone_of(ino, fb).unwrap(), 0);
    let mut buf = [0u8; 3];
    f.read(ino, tind_start - 4, &mut buf).unwrap();
    assert_eq!(&buf, &[0, b'e', b'd']);
    f.truncate(ino, 0, 4).unwrap();
    assert_eq!(f.statvfs().unwrap().bfree, free0);
    // V1 has no triple indirect: EFBIG at its double-indirect end.
    let mut f1 = fs(Version::V1, 30, 1024, 1024);
    let i1 = f1.create(ROOT_INO, b"x", 0o644, 0, 0, 1).unwrap();
    let end = (7 + 512 + 512 * 512) * 1024u64;
    assert_eq!(f1.write(i1, end, b"x", 2), Err(Errno::EFBIG));
}
