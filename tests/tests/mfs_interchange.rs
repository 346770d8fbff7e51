//! Interchange with util-linux: images made by `mkfs.minix` are read and
//! checked by us; images made by our `mkfs` (and filled by hand through
//! `mfs::format`, independently of the file-system core) pass
//! `fsck.minix -f`. Under CI=true a missing mkfs.minix/fsck.minix fails.

mod mfs_common;

use mfs::format::{ROOT_INO, SUPER_AREA, SUPER_OFFSET, SuperBlock, Version};
use mfs::fsck;
use mfs::mkfs::{self, MkfsOptions, VecDevice};
use mfs_common::{Img, assert_fsck_minix_clean, fsck_minix, have_util_linux, mkfs_minix};

/// util-linux flags, and the version and name length they must give.
const UL_FORMATS: [(&[&str], Version, u32); 5] = [
    (&["-1", "-n", "14"], Version::V1, 14),
    (&["-1", "-n", "30"], Version::V1, 30),
    (&["-2", "-n", "14"], Version::V2, 14),
    (&["-2", "-n", "30"], Version::V2, 30),
    (&["-3"], Version::V3, 60),
];

fn checksum(data: &[u8]) -> u64 {
    // FNV-1a: enough to tell contents apart.
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn util_linux_images_are_read_and_clean() {
    if !have_util_linux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (flags, v, name_len) in UL_FORMATS {
        let p = dir.path().join("ul.img");
        mkfs_minix(&p, 16 << 20, flags);
        let data = std::fs::read(&p).unwrap();
        let sb = SuperBlock::parse(&data[SUPER_OFFSET..SUPER_OFFSET + SUPER_AREA]).unwrap();
        assert_eq!(sb.version, v, "{flags:?}");
        let g = sb.geometry();
        assert_eq!(g.name_len, name_len, "{flags:?}");
        assert_eq!(g.block_size, 1024);
        let r = fsck::check_bytes(&data);
        assert_eq!(r.exit_code(), 0, "{flags:?}: {:#?}", r.findings);
        // The root as util-linux makes it.
        let img = Img::from_bytes(data);
        let root = img.inode(ROOT_INO);
        assert!(root.is_dir());
        assert_eq!(root.nlinks, 2);
        assert!(img.find_entry(ROOT_INO, ".").is_some());
        assert!(img.find_entry(ROOT_INO, "..").is_some());
    }
}

#[test]
fn our_mkfs_passes_fsck_minix() {
    if !have_util_linux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (v, n) in [
        (Version::V1, 14),
        (Version::V1, 30),
        (Version::V2, 14),
        (Version::V2, 30),
        (Version::V3, 60),
    ] {
        for blocks in [64u64, 5000, 65_535] {
            let mut o = MkfsOptions::for_version(v, blocks);
            o.name_len = n;
            o.block_size = 1024;
            let img = mkfs::mkfs_to_vec(&o).unwrap();
            let p = dir.path().join("our.img");
            std::fs::write(&p, &img).unwrap();
            let (code, out) = fsck_minix(&p);
            assert_eq!(code, 0, "{v:?}/{n} {blocks} blocks: {out}");
        }
    }
}

/// Fill an image by hand with a tree and a file big enough for the double
/// indirect zone; both checkers must find it clean and the contents must
/// read back.
fn fill_and_verify(mut img: Img, label: &str) {
    let n = u64::from(img.g.ptrs_per_block);
    let bs = img.g.block_size as usize;
    // One block into the double-indirect range, plus a partial block.
    let big_len = (7 + n as usize + 3) * bs + 123;
    let big: Vec<u8> = (0..big_len).map(|i| (i * 31 % 253) as u8).collect();
    let d = img.mkdir(ROOT_INO, "dir");
    let sub = img.mkdir(d, "sub");
    let bi = img.mkfile(sub, "big", &big);
    let small = img.mkfile(d, "small", b"abc");
    img.symlink(ROOT_INO, "to-big", "dir/sub/big");
    assert_ne!(
        img.inode(bi).zone[mfs::format::ZONE_DIND],
        0,
        "{label}: no double indirect"
    );
    let r = fsck::check_bytes(&img.data);
    assert_eq!(r.exit_code(), 0, "{label}: {:#?}", r.findings);
    assert_eq!(checksum(&img.read_file(bi)), checksum(&big));
    assert_eq!(img.read_file(small), b"abc");
    assert_fsck_minix_clean(&img, label);
}

#[test]
fn hand_filled_util_linux_images_stay_clean() {
    if !have_util_linux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (flags, _, _) in UL_FORMATS {
        let p = dir.path().join("ul.img");
        mkfs_minix(&p, 8 << 20, flags);
        fill_and_verify(
            Img::from_bytes(std::fs::read(&p).unwrap()),
            &format!("{flags:?}"),
        );
    }
}

#[test]
fn hand_filled_images_of_our_mkfs_stay_clean() {
    for (v, n, bs) in [
        (Version::V1, 14, 1024),
        (Version::V1, 30, 1024),
        (Version::V2, 14, 1024),
        (Version::V2, 30, 1024),
        (Version::V3, 60, 1024),
        (Version::V3, 60, 4096),
    ] {
        let blocks = (8u64 << 20) / u64::from(bs);
        fill_and_verify(Img::new(v, n, bs, blocks), &format!("{v:?}/{n}/{bs}"));
    }
}

#[test]
fn repair_of_a_clean_util_linux_image_only_marks_it_clean() {
    if !have_util_linux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (flags, v, _) in UL_FORMATS {
        let p = dir.path().join("ul.img");
        mkfs_minix(&p, 4 << 20, flags);
        let data = std::fs::read(&p).unwrap();
        let mut dev = VecDevice::new(data.clone());
        let r = fsck::fsck(&mut dev, fsck::Options { repair: true });
        assert_eq!(r.exit_code(), 0, "{flags:?}");
        let mut expect = data.clone();
        if v == Version::V3 {
            // util-linux V3 superblocks have no clean flag; MINIX reads
            // byte 14 as s_flags and would mount read-only until it is set.
            assert!(r.modified, "{flags:?}");
            expect[SUPER_OFFSET + 14] = 1;
        } else {
            assert!(!r.modified, "{flags:?}: util-linux marks V1/V2 valid");
        }
        assert!(
            dev.bytes() == &expect[..],
            "{flags:?}: more than the clean flag changed"
        );
        let sb = SuperBlock::parse(&dev.bytes()[SUPER_OFFSET..SUPER_OFFSET + SUPER_AREA]).unwrap();
        assert!(sb.is_clean());
        // fsck.minix still accepts it.
        std::fs::write(&p, dev.bytes()).unwrap();
        assert_eq!(fsck_minix(&p).0, 0, "{flags:?}");
    }
}

#[test]
fn unclean_images_warn_and_repair_marks_them_clean() {
    for v in [Version::V1, Version::V2, Version::V3] {
        let mut o = MkfsOptions::for_version(v, 2048);
        o.block_size = 1024;
        let mut img = mkfs::mkfs_to_vec(&o).unwrap();
        let mut sb = SuperBlock::parse(&img[SUPER_OFFSET..SUPER_OFFSET + SUPER_AREA]).unwrap();
        sb.set_clean(false);
        sb.encode(&mut img[SUPER_OFFSET..]).unwrap();
        let r = fsck::check_bytes(&img);
        assert_eq!(r.exit_code(), 0, "{v:?}: a warning, not an error");
        assert!(
            r.findings
                .iter()
                .any(|f| f.kind == fsck::FindingKind::Superblock
                    && f.severity == fsck::Severity::Warning)
        );
        let mut dev = VecDevice::new(img);
        let r = fsck::fsck(&mut dev, fsck::Options { repair: true });
        assert_eq!(r.exit_code(), 0);
        assert!(r.modified);
        let after = fsck::check_bytes(dev.bytes());
        assert!(after.findings.is_empty(), "{v:?}: {:?}", after.findings);
    }
}

/// Through the MFS core: list a fresh image, write a tree with a file that
/// needs double-indirect zones, unmount; then read it back both through
/// the core and through the hand-written reader, and check with both
/// checkers (fsck.minix where it can read the block size).
fn write_through_core(data: Vec<u8>, label: &str) {
    use mfs::blockio::MemBlocks;
    use mfs::fs::{FileSystem, MountOptions};
    let opts = MountOptions {
        read_only: false,
        force_rw_unclean: true,
    };
    let mut fs = FileSystem::mount(MemBlocks::new(data), opts).unwrap();
    let root = fs.root();
    let mut names: Vec<Vec<u8>> = fs
        .read_dir(root)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    assert_eq!(names, [b".".to_vec(), b"..".to_vec()], "{label}");
    let g = *fs.geometry();
    let n = g.ptrs_per_block as usize;
    let bs = g.block_size as usize;
    let big: Vec<u8> = (0..(7 + n + 5) * bs + 77)
        .map(|i| (i * 13 % 241) as u8)
        .collect();
    fs.mkdir_path(b"/d", 0o755, 1_000).unwrap();
    fs.mkdir_path(b"/d/e", 0o700, 1_000).unwrap();
    let bi = fs.write_path(b"/d/e/big", &big, 0o644, 1_000).unwrap();
    fs.write_path(b"/small", b"tiny", 0o600, 1_000).unwrap();
    fs.symlink_path(b"d/e/big", b"/sym", 1_000).unwrap();
    fs.link_path(b"/small", b"/d/hard", 1_000).unwrap();
    assert_eq!(
        checksum(&fs.read_path(b"/sym").unwrap()),
        checksum(&big),
        "{label}"
    );
    let image = fs.unmount().unwrap().into_image();

    let img = Img::from_bytes(image);
    assert_ne!(
        img.inode(bi).zone[mfs::format::ZONE_DIND],
        0,
        "{label}: no double indirect"
    );
    assert_eq!(
        checksum(&img.read_file(bi)),
        checksum(&big),
        "{label}: independent read-back"
    );
    let r = fsck::check_bytes(&img.data);
    assert_eq!(r.exit_code(), 0, "{label}: {:#?}", r.findings);
    assert_fsck_minix_clean(&img, label);
}

#[test]
fn core_writes_on_util_linux_images_pass_fsck_minix() {
    if !have_util_linux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (flags, _, _) in UL_FORMATS {
        let p = dir.path().join("ul.img");
        mkfs_minix(&p, 8 << 20, flags);
        write_through_core(std::fs::read(&p).unwrap(), &format!("mkfs.minix {flags:?}"));
    }
}

#[test]
fn core_writes_on_our_images_pass_both_checkers() {
    for (v, n, bs) in [
        (Version::V1, 14, 1024),
        (Version::V1, 30, 1024),
        (Version::V2, 14, 1024),
        (Version::V2, 30, 1024),
        (Version::V3, 60, 1024),
        (Version::V3, 60, 4096),
    ] {
        let mut o = MkfsOptions::for_version(v, (8u64 << 20) / u64::from(bs));
        o.name_len = n;
        o.block_size = bs;
        write_through_core(mkfs::mkfs_to_vec(&o).unwrap(), &format!("{v:?}/{n}/{bs}"));
    }
}

mod agreement {
    //! Random damage to populated 1 KiB-block images: whenever util-linux
    //! `fsck.minix -f` finds a problem, our fsck must find one too (we
    //! check a superset), and whenever our repair says it fixed
    //! everything, `fsck.minix -f` must agree on the repaired image.
    use super::*;
    use proptest::prelude::*;

    fn bases() -> Vec<(String, Vec<u8>)> {
        [
            (Version::V1, 14),
            (Version::V1, 30),
            (Version::V2, 30),
            (Version::V3, 60),
        ]
        .into_iter()
        .map(|(v, n)| {
            (
                format!("{v:?}/{n}"),
                mfs_common::sample_sized(v, n, 1024, 1024).0.data,
            )
        })
        .collect()
    }

    fn ul_code(data: &[u8], dir: &std::path::Path) -> i32 {
        let p = dir.join("agree.img");
        std::fs::write(&p, data).unwrap();
        fsck_minix(&p).0
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn our_fsck_finds_what_fsck_minix_finds(
            which in 0usize..4,
            muts in prop::collection::vec((0usize..(1 << 20), any::<u8>()), 1..6),
        ) {
            if !have_util_linux() {
                return Ok(());
            }
            let dir = tempfile::tempdir().unwrap();
            let (label, base) = &bases()[which];
            let mut img = base.clone();
            // Leave the superblock alone (both tools just refuse a bad one):
            // hit bitmaps, inode table and the first directory/data zones.
            // Half the hits go to the bitmaps and the first inode blocks,
            // half to the first data zones (directories, indirect blocks).
            let g = Img::from_bytes(base.clone()).g;
            let itab = g.inode_table_start as usize * 1024;
            let data = g.first_data_zone as usize * 1024;
            for (pos, byte) in muts {
                let at = if pos % 2 == 0 {
                    2048 + pos / 2 % (itab + 4096 - 2048)
                } else {
                    data + pos / 2 % (40 * 1024)
                };
                img[at] = byte;
            }
            let ours = fsck::check_bytes(&img);
            let theirs = ul_code(&img, dir.path());
            if theirs != 0 {
                prop_assert!(
                    ours.exit_code() != 0,
                    "{label}: fsck.minix exit {theirs}, ours clean"
                );
            }
            let mut dev = VecDevice::new(img);
            let rep = fsck::fsck(&mut dev, fsck::Options { repair: true });
            if rep.exit_code() <= 1 && ours.fatal.is_none() {
                let after = ul_code(dev.bytes(), dir.path());
                prop_assert_eq!(
                    after, 0,
                    "{}: our repair claimed success (exit {}) but fsck.minix disagrees; findings {:#?}",
                    label, rep.exit_code(), rep.findings
                );
            }
        }
    }
}
