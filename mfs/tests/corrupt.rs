//! Property test: the core never panics on a damaged image. A populated
//! image of each format gets random byte changes (mostly in the metadata
//! blocks), then is mounted, walked completely (stat, read, readlink,
//! getdents) and changed (create, write, truncate, rename, remove,
//! unmount); every outcome is allowed except a panic or a hang.

use mfs::format::{ROOT_INO, Version, mode};
use mfs::mkfs::{MkfsOptions, mkfs_to_vec};
use mfs::{FileSystem, MemBlocks, MountOptions};
use proptest::prelude::*;

fn populated(version: Version, name_len: usize, bs: u32) -> Vec<u8> {
    let mut o = MkfsOptions::for_version(version, 1024);
    o.name_len = name_len;
    o.block_size = bs;
    o.inodes = Some(128);
    let img = mkfs_to_vec(&o).unwrap();
    let mut fs = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
    fs.mkdir_path(b"/d", 0o755, 1).unwrap();
    fs.mkdir_path(b"/d/e", 0o755, 1).unwrap();
    let big: Vec<u8> = (0..(300 * bs as usize)).map(|i| i as u8).collect();
    fs.write_path(b"/d/big", &big, 0o644, 1).unwrap();
    for i in 0..20 {
        fs.write_path(
            format!("/d/e/f{i}").as_bytes(),
            &vec![i as u8; i * 100],
            0o644,
            1,
        )
        .unwrap();
    }
    fs.symlink_path(b"d/big", b"/ln", 1).unwrap();
    fs.mknod(ROOT_INO, b"dev", mode::S_IFBLK | 0o600, 0, 0, 0x0301, 1)
        .unwrap();
    fs.unmount().unwrap().into_image()
}

/// Walks every reachable inode (bounded), touching every read path.
fn walk(fs: &mut FileSystem<MemBlocks>) {
    let mut stack = vec![ROOT_INO];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(d) = stack.pop() {
        if !seen.insert(d) || seen.len() > 500 {
            continue;
        }
        let Ok(ents) = fs.read_dir(d) else { continue };
        for e in ents {
            if e.name == b"." || e.name == b".." {
                continue;
            }
            let _ = fs.lookup(d, &e.name);
            let Ok(st) = fs.stat(e.ino) else { continue };
            match st.mode & mode::S_IFMT {
                mode::S_IFDIR => stack.push(e.ino),
                mode::S_IFLNK => {
                    let _ = fs.readlink(e.ino);
                }
                _ => {
                    let mut buf = vec![0u8; 64 * 1024];
                    let _ = fs.read(e.ino, 0, &mut buf);
                    let _ = fs.read(e.ino, u64::from(st.size).saturating_sub(100), &mut buf);
                }
            }
        }
    }
    let _ = fs.statvfs();
    let _ = fs.read_path(b"/ln");
}

fn damage_and_use(base: &[u8], bs: usize, muts: &[(usize, u8, bool)]) {
    let mut img = base.to_vec();
    let meta = 40 * bs;
    for &(pos, val, in_meta) in muts {
        let p = if in_meta {
            1024 + pos % (meta - 1024)
        } else {
            pos % img.len()
        };
        img[p] = val;
    }
    let opts = MountOptions {
        read_only: false,
        force_rw_unclean: true,
    };
    let Ok(mut fs) = FileSystem::mount(MemBlocks::new(img), opts) else {
        return;
    };
    walk(&mut fs);
    let now = 2;
    let _ = fs.write_path(b"/new", &vec![7u8; 5 * bs], 0o644, now);
    let _ = fs.mkdir_path(b"/d/e/sub", 0o755, now);
    if let Ok(ino) = fs.resolve(b"/d/big", true) {
        let _ = fs.write(ino, 100 * bs as u64, b"overwrite", now);
        let _ = fs.truncate(ino, 10 * bs as u64 + 3, now);
    }
    let _ = fs.rename_path(b"/d/e", b"/moved", now);
    let _ = fs.remove_path(b"/moved", true, now);
    let _ = fs.remove_path(b"/d", true, now);
    walk(&mut fs);
    let _ = fs.unmount();
}

fn mutations() -> impl Strategy<Value = Vec<(usize, u8, bool)>> {
    prop::collection::vec(
        (any::<usize>(), any::<u8>(), prop::bool::weighted(0.8)),
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn damaged_v1_never_panics(muts in mutations()) {
        thread_local!(static BASE: Vec<u8> = populated(Version::V1, 14, 1024));
        BASE.with(|b| damage_and_use(b, 1024, &muts));
    }

    #[test]
    fn damaged_v2_never_panics(muts in mutations()) {
        thread_local!(static BASE: Vec<u8> = populated(Version::V2, 30, 1024));
        BASE.with(|b| damage_and_use(b, 1024, &muts));
    }

    #[test]
    fn damaged_v3_never_panics(muts in mutations()) {
        thread_local!(static BASE: Vec<u8> = populated(Version::V3, 60, 4096));
        BASE.with(|b| damage_and_use(b, 4096, &muts));
    }
}
