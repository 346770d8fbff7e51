//! `mfs fsck` against images with one specific kind of damage each: the
//! class is reported with the right exit code, `--repair` fixes what it
//! claims (a re-check is clean and util-linux `fsck.minix -f` agrees where
//! it can read the image), and nothing panics.

mod mfs_common;

use mfs::format::{self, DiskInode, ROOT_INO, Version, mode};
use mfs::fsck::{self, FindingKind, Report};
use mfs::mkfs::VecDevice;
use mfs_common::{Img, fsck_minix, have_util_linux, mount_and_modify, mount_and_walk, sample};

/// The formats every case runs on: (version, name length, block size).
const FORMATS: [(Version, usize, u32); 5] = [
    (Version::V1, 14, 1024),
    (Version::V1, 30, 1024),
    (Version::V2, 30, 1024),
    (Version::V3, 60, 1024),
    (Version::V3, 60, 4096),
];

fn check(img: &Img) -> Report {
    let mut dev = VecDevice::new(img.data.clone());
    fsck::fsck(&mut dev, fsck::Options { repair: false })
}

fn repair(img: &Img) -> (Report, Img) {
    let mut dev = VecDevice::new(img.data.clone());
    let r = fsck::fsck(&mut dev, fsck::Options { repair: true });
    (r, Img::from_bytes(dev.into_inner()))
}

/// util-linux's verdict on `img`, if it can judge it (1 KiB blocks) and is installed.
fn util_linux(img: &Img) -> Option<i32> {
    if img.g.block_size != 1024 || !have_util_linux() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.img");
    img.write_to(&p);
    let (code, text) = fsck_minix(&p);
    // Never -a: check-only leaves the image alone.
    if code != 0 {
        eprintln!("fsck.minix: {text}");
    }
    Some(code)
}

/// Damage a sample image with `damage`, then: `kind` is reported with exit
/// 4; util-linux also finds an error if `ul_sees` (exit 4); repair gives
/// exit `repaired_code` and, when that is 1, a clean re-check that
/// util-linux agrees with.
fn case(
    name: &str,
    kind: FindingKind,
    ul_sees: bool,
    repaired_code: i32,
    damage: impl Fn(&mut Img, [u32; 5]),
) {
    for (v, n, bs) in FORMATS {
        let (mut img, inos) = sample(v, n, bs);
        assert_eq!(
            check(&img).exit_code(),
            0,
            "{name}: sample {v:?}/{n}/{bs} not clean"
        );
        damage(&mut img, inos);
        let r = check(&img);
        assert!(
            r.has(kind),
            "{name} {v:?}/{n}/{bs}: expected {kind:?}, got {:#?}",
            r.findings
        );
        assert_eq!(r.exit_code(), 4, "{name} {v:?}/{n}/{bs}: {:#?}", r.findings);
        assert!(!r.modified);
        // Mounting and walking the damaged image gives errors, not panics.
        let _ = mount_and_walk(img.data.clone());
        mount_and_modify(img.data.clone());
        if ul_sees && let Some(code) = util_linux(&img) {
            assert_eq!(code & 4, 4, "{name} {v:?}/{n}/{bs}: fsck.minix missed it");
        }
        let (rr, fixed) = repair(&img);
        assert_eq!(
            rr.exit_code(),
            repaired_code,
            "{name} {v:?}/{n}/{bs} repair: {:#?}",
            rr.findings
        );
        if repaired_code == 1 {
            assert!(rr.modified);
            assert!(rr.findings.iter().any(|f| f.kind == kind && f.repaired));
            let again = check(&fixed);
            assert_eq!(
                again.exit_code(),
                0,
                "{name} {v:?}/{n}/{bs} re-check: {:#?}",
                again.findings
            );
            // The repaired image is whole again for the core too.
            let walked = mount_and_walk(fixed.data.clone());
            assert!(
                walked.is_ok(),
                "{name} {v:?}/{n}/{bs}: core walk after repair: {walked:?}"
            );
            if let Some(code) = util_linux(&fixed) {
                assert_eq!(
                    code, 0,
                    "{name} {v:?}/{n}/{bs}: fsck.minix disagrees after repair"
                );
            }
        }
    }
}

#[test]
fn sample_images_are_clean_for_both_checkers() {
    for (v, n, bs) in FORMATS {
        let (img, [_, _, f1, big, _]) = sample(v, n, bs);
        let r = check(&img);
        assert_eq!(r.exit_code(), 0, "{v:?}/{n}/{bs}: {:#?}", r.findings);
        assert!(r.findings.is_empty());
        assert_eq!(img.read_file(f1), b"hello, minix\n");
        assert_eq!(img.read_file(big).len(), bs as usize * 12);
        if let Some(code) = util_linux(&img) {
            assert_eq!(code, 0, "{v:?}/{n}/{bs}");
        }
    }
}

#[test]
fn bad_magic_cannot_be_checked() {
    for (v, n, bs) in FORMATS {
        let (mut img, _) = sample(v, n, bs);
        let off = format::SUPER_OFFSET
            + if v == Version::V3 {
                format::V3_MAGIC_OFFSET
            } else {
                format::V1V2_MAGIC_OFFSET
            };
        img.data[off] ^= 0x55;
        let r = check(&img);
        assert_eq!(r.exit_code(), 8, "{v:?}");
        assert!(
            r.fatal.as_deref().is_some_and(|m| m.contains("magic")),
            "{:?}",
            r.fatal
        );
        let mut dev = VecDevice::new(img.data.clone());
        let rr = fsck::fsck(&mut dev, fsck::Options { repair: true });
        assert_eq!(rr.exit_code(), 8);
        assert_eq!(
            dev.bytes(),
            &img.data[..],
            "nothing written to an image it cannot read"
        );
        if let Some(code) = util_linux(&img) {
            assert_eq!(code, 8);
        }
    }
}

#[test]
fn foreign_and_tiny_images_cannot_be_checked() {
    for bytes in [vec![], vec![0u8; 100], vec![0u8; 8192], vec![0xffu8; 65536]] {
        assert_eq!(fsck::check_bytes(&bytes).exit_code(), 8);
    }
    // Metadata past the end of the image.
    let (img, _) = sample(Version::V3, 60, 1024);
    let cut = img.data[..3 * 1024].to_vec();
    assert_eq!(fsck::check_bytes(&cut).exit_code(), 8);
}

#[test]
fn truncated_data_area_is_reported() {
    let (img, _) = sample(Version::V2, 30, 1024);
    let cut = img.data[..img.data.len() / 2].to_vec();
    let r = fsck::check_bytes(&cut);
    assert!(r.has(FindingKind::ShortImage), "{:#?}", r.findings);
    assert_eq!(r.exit_code(), 4);
}

#[test]
fn inode_marked_free_but_used() {
    case(
        "imap-missing",
        FindingKind::InodeBitmap,
        true,
        1,
        |img, [_, _, f1, _, _]| {
            format::bit_set(img.imap_mut(), f1 as usize, false);
        },
    );
}

#[test]
fn inode_marked_used_but_free() {
    case(
        "imap-extra",
        FindingKind::InodeBitmap,
        false,
        1,
        |img, _| {
            let n = img.g.ninodes as usize;
            format::bit_set(img.imap_mut(), n - 1, true);
        },
    );
}

#[test]
fn zone_marked_used_but_free() {
    case("zmap-extra", FindingKind::ZoneBitmap, true, 1, |img, _| {
        let bits = img.g.zmap_bits() as usize;
        format::bit_set(img.zmap_mut(), bits - 2, true);
    });
}

#[test]
fn zone_used_but_marked_free() {
    case(
        "zmap-missing",
        FindingKind::ZoneBitmap,
        true,
        1,
        |img, [_, _, _, big, _]| {
            let z = img.inode(big).zone[3];
            let bit = img.g.bit_of_zone(z) as usize;
            format::bit_set(img.zmap_mut(), bit, false);
        },
    );
}

#[test]
fn direct_zone_out_of_range() {
    case(
        "zone-range",
        FindingKind::ZoneOutOfRange,
        true,
        1,
        |img, [_, _, _, big, _]| {
            let mut i = img.inode(big);
            i.zone[2] = img.g.zones + 3;
            img.set_inode(big, &i);
        },
    );
}

#[test]
fn zone_in_metadata_area() {
    case(
        "zone-meta",
        FindingKind::ZoneOutOfRange,
        true,
        1,
        |img, [_, _, f1, _, _]| {
            let mut i = img.inode(f1);
            // The zone is still marked in the bitmap, which repair then frees.
            i.zone[0] = img.g.inode_table_start;
            img.set_inode(f1, &i);
        },
    );
}

#[test]
fn indirect_entry_out_of_range() {
    case(
        "ind-range",
        FindingKind::ZoneOutOfRange,
        true,
        1,
        |img, [_, _, _, big, _]| {
            let ind = img.inode(big).zone[format::ZONE_IND];
            let g = img.g;
            let bad = g.zones + 100;
            format::ind_set(&g, img.block_mut(ind), 1, bad);
        },
    );
}

#[test]
fn wrong_link_count() {
    case(
        "nlinks",
        FindingKind::LinkCount,
        true,
        1,
        |img, [a, _, f1, _, _]| {
            let mut i = img.inode(f1);
            i.nlinks = 3;
            img.set_inode(f1, &i);
            let mut d = img.inode(a);
            d.nlinks = 7;
            img.set_inode(a, &d);
        },
    );
}

#[test]
fn directory_loop() {
    case(
        "loop",
        FindingKind::DirectoryLoop,
        true,
        1,
        |img, [a, b, _, _, _]| {
            // /a/b/up names /a again: a cycle a -> b -> a.
            img.add_entry(b, "up", a);
        },
    );
}

#[test]
fn hard_link_to_root_directory() {
    case(
        "root-link",
        FindingKind::DirectoryLoop,
        true,
        1,
        |img, [_, b, _, _, _]| {
            img.add_entry(b, "root", ROOT_INO);
        },
    );
}

#[test]
fn duplicate_zone_gets_a_private_copy() {
    // Two files sharing a data zone: repair gives the second one its own
    // copy, so both keep the contents they show now.
    case(
        "dup",
        FindingKind::DuplicateZone,
        true,
        1,
        |img, [_, _, f1, big, _]| {
            let z = img.inode(big).zone[0];
            let mut i = img.inode(f1);
            let old = i.zone[0];
            i.zone[0] = z;
            img.set_inode(f1, &i);
            let bit = img.g.bit_of_zone(old) as usize;
            format::bit_set(img.zmap_mut(), bit, false);
        },
    );
}

/// Issue 14 reproducer 3: a file's zone pointing at a directory's block.
/// The directory keeps its block and entries, the file gets a copy, and no
/// reachable inode is reconnected as `/#N`.
#[test]
fn zone_shared_by_a_directory_and_a_file_stays_the_directorys() {
    let damage = |img: &mut Img, [a, _, f1, _, _]: [u32; 5]| {
        let z = img.inode(a).zone[0];
        let mut i = img.inode(f1);
        let old = i.zone[0];
        i.zone[0] = z;
        img.set_inode(f1, &i);
        let bit = img.g.bit_of_zone(old) as usize;
        format::bit_set(img.zmap_mut(), bit, false);
    };
    case("dir+file", FindingKind::DuplicateZone, true, 1, damage);
    for (v, n, bs) in FORMATS {
        let (mut img, inos) = sample(v, n, bs);
        let [a, b, _, big, _] = inos;
        damage(&mut img, inos);
        let (r, fixed) = repair(&img);
        assert!(
            !r.has(FindingKind::Orphan),
            "{v:?}/{n}/{bs}: {:#?}",
            r.findings
        );
        for (name, ino) in [("b", b), ("big", big)] {
            let (z, off) = fixed.find_entry(a, name).expect(name);
            let e = &fixed.block(z)[off..off + fixed.g.dirent_size as usize];
            assert_eq!(
                format::dirent_ino(&fixed.g, e),
                ino,
                "{v:?}/{n}/{bs} {name}"
            );
        }
    }
}

/// Issue 14 reproducer 5: V1/V2 take `s_firstdatazone` literally (no "0
/// means computed"): a zeroed field is an error for both checkers, and
/// repair restores the layout's value.
#[test]
fn zeroed_first_data_zone_is_restored() {
    for (v, n, bs) in FORMATS {
        if v == Version::V3 {
            continue;
        }
        let (mut img, _) = sample(v, n, bs);
        let want = img.g.first_data_zone;
        img.data[1024 + 8..1024 + 10].fill(0);
        let r = check(&img);
        assert_eq!(r.exit_code(), 4, "{v:?}/{n}: {:#?}", r.findings);
        if let Some(code) = util_linux(&img) {
            assert_eq!(code & 4, 4, "{v:?}/{n}: fsck.minix missed it");
        }
        let (rr, fixed) = repair(&img);
        assert_eq!(rr.exit_code(), 1, "{v:?}/{n}: {:#?}", rr.findings);
        let field = u16::from_le_bytes([fixed.data[1024 + 8], fixed.data[1024 + 9]]);
        assert_eq!(u32::from(field), want);
        assert_eq!(check(&fixed).exit_code(), 0);
        if let Some(code) = util_linux(&fixed) {
            assert_eq!(code, 0, "{v:?}/{n}: fsck.minix disagrees after repair");
        }
    }
}

#[test]
fn duplicate_zone_repair_keeps_both_contents() {
    for (v, n, bs) in FORMATS {
        let (mut img, [_, _, f1, big, _]) = sample(v, n, bs);
        // f1 shares big's 9th block, reached through the single indirect.
        let z = img.bmap(big, 8);
        let mut i = img.inode(f1);
        let old = i.zone[0];
        i.zone[0] = z;
        img.set_inode(f1, &i);
        let bit = img.g.bit_of_zone(old) as usize;
        format::bit_set(img.zmap_mut(), bit, false);
        let before_big = img.read_file(big);
        let before_f1 = img.read_file(f1);
        let (r, fixed) = repair(&img);
        assert_eq!(r.exit_code(), 1, "{v:?}: {:#?}", r.findings);
        assert_eq!(fixed.read_file(big), before_big);
        assert_eq!(fixed.read_file(f1), before_f1);
        // Whichever was reached second now has its own zone.
        let (a, b) = (fixed.inode(f1).zone[0], fixed.bmap(big, 8));
        assert_ne!(a, b);
        assert!(a == z || b == z);
    }
}

#[test]
fn dotdot_names_the_wrong_directory() {
    case(
        "dotdot",
        FindingKind::BadParent,
        false,
        1,
        |img, [_, b, _, _, _]| {
            img.set_entry_ino(b, "..", ROOT_INO);
        },
    );
}

#[test]
fn dot_names_the_wrong_inode() {
    case(
        "dot",
        FindingKind::DirStructure,
        true,
        1,
        |img, [a, b, _, _, _]| {
            img.set_entry_ino(b, ".", a);
        },
    );
}

#[test]
fn orphan_inode() {
    case("orphan", FindingKind::Orphan, true, 1, |img, _| {
        let ino = img.alloc_inode();
        let z = img.alloc_zone();
        let i = DiskInode {
            mode: mode::S_IFREG | 0o600,
            nlinks: 1,
            size: 10,
            zone: [z, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ..DiskInode::default()
        };
        img.set_inode(ino, &i);
    });
}

#[test]
fn orphan_file_is_reconnected_with_its_contents() {
    for (v, n, bs) in FORMATS {
        let (mut img, [_, _, f1, _, _]) = sample(v, n, bs);
        // Lose /f1's only name.
        img.set_entry_ino(ROOT_INO, "f1", 0);
        let r = check(&img);
        assert!(r.has(FindingKind::Orphan), "{v:?}: {:#?}", r.findings);
        let (rr, fixed) = repair(&img);
        assert_eq!(rr.exit_code(), 1, "{v:?}: {:#?}", rr.findings);
        let name = format!("#{f1}");
        assert!(
            fixed.find_entry(ROOT_INO, &name).is_some(),
            "{v:?}: not reconnected"
        );
        assert_eq!(fixed.read_file(f1), b"hello, minix\n");
        assert_eq!(check(&fixed).exit_code(), 0);
        if let Some(code) = util_linux(&fixed) {
            assert_eq!(code, 0, "{v:?}");
        }
    }
}

#[test]
fn lost_directory_subtree_is_reconnected_whole() {
    for (v, n, bs) in FORMATS {
        let (mut img, [a, b, _, big, _]) = sample(v, n, bs);
        let before = img.read_file(big);
        // Lose /a: its subtree (a/b, a/big) hangs in the air.
        img.set_entry_ino(ROOT_INO, "a", 0);
        let r = check(&img);
        assert!(r.has(FindingKind::Orphan), "{v:?}: {:#?}", r.findings);
        let (rr, fixed) = repair(&img);
        assert_eq!(rr.exit_code(), 1, "{v:?}: {:#?}", rr.findings);
        let again = check(&fixed);
        assert_eq!(again.exit_code(), 0, "{v:?}: {:#?}", again.findings);
        // One new name in the root, for the top of the subtree only.
        assert!(fixed.find_entry(ROOT_INO, &format!("#{a}")).is_some());
        assert!(fixed.find_entry(ROOT_INO, &format!("#{b}")).is_none());
        assert_eq!(fixed.find_entry(a, "b").map(|_| ()), Some(()));
        assert_eq!(fixed.read_file(big), before, "{v:?}: contents kept");
        // /a/b/.. still names a, and a/.. now names the root.
        assert!(fixed.inode(a).is_dir());
        if let Some(code) = util_linux(&fixed) {
            assert_eq!(code, 0, "{v:?}");
        }
        // The core sees the reconnected tree.
        let mut fs = mfs::fs::FileSystem::mount(
            mfs::blockio::MemBlocks::new(fixed.data.clone()),
            mfs::fs::MountOptions {
                read_only: true,
                force_rw_unclean: false,
            },
        )
        .unwrap();
        let data = fs.read_path(format!("/#{a}/big").as_bytes()).unwrap();
        assert_eq!(data, before);
    }
}

#[test]
fn many_orphans_fill_new_root_blocks() {
    for (v, n, bs) in FORMATS {
        let (mut img, _) = sample(v, n, bs);
        // More orphans than fit in the root's first block.
        let count = (bs / img.g.dirent_size) as usize + 5;
        for _ in 0..count {
            let ino = img.alloc_inode();
            let i = DiskInode {
                mode: mode::S_IFREG | 0o644,
                nlinks: 1,
                ..DiskInode::default()
            };
            img.set_inode(ino, &i);
        }
        let (rr, fixed) = repair(&img);
        assert_eq!(rr.exit_code(), 1, "{v:?}: {:#?}", rr.findings);
        assert_eq!(check(&fixed).exit_code(), 0, "{v:?}");
        assert!(fixed.inode(ROOT_INO).zone[1] != 0, "{v:?}: root grew");
        if let Some(code) = util_linux(&fixed) {
            assert_eq!(code, 0, "{v:?}");
        }
    }
}

#[test]
fn entry_names_a_free_inode() {
    case(
        "free-entry",
        FindingKind::BadEntry,
        true,
        1,
        |img, [a, _, _, _, _]| {
            let n = img.g.ninodes - 1;
            img.add_entry(a, "ghost", n);
        },
    );
}

#[test]
fn entry_names_an_inode_beyond_the_table() {
    // V1/V2 entries hold u16 inode numbers; pick one they can store.
    case(
        "big-entry",
        FindingKind::BadEntry,
        true,
        1,
        |img, [a, _, _, _, _]| {
            let n = img.g.ninodes + 1;
            img.add_entry(a, "far", n);
        },
    );
}

#[test]
fn zones_past_end_of_file() {
    case(
        "past-eof",
        FindingKind::FileSize,
        false,
        1,
        |img, [_, _, f1, _, _]| {
            let z = img.alloc_zone();
            let mut i = img.inode(f1);
            i.zone[4] = z;
            img.set_inode(f1, &i);
        },
    );
}

#[test]
fn holes_in_regular_files_are_fine() {
    for (v, n, bs) in FORMATS {
        let (mut img, [_, _, _, big, _]) = sample(v, n, bs);
        // Punch holes: a direct zone and one entry of the single indirect.
        let mut i = img.inode(big);
        let freed = i.zone[2];
        i.zone[2] = 0;
        img.set_inode(big, &i);
        let ind = i.zone[format::ZONE_IND];
        let g = img.g;
        let freed2 = format::ind_get(&g, img.block(ind), 1);
        format::ind_set(&g, img.block_mut(ind), 1, 0);
        for z in [freed, freed2] {
            let bit = img.g.bit_of_zone(z) as usize;
            format::bit_set(img.zmap_mut(), bit, false);
        }
        let r = check(&img);
        assert_eq!(r.exit_code(), 0, "{v:?}: {:#?}", r.findings);
        let data = img.read_file(big);
        assert!(
            data[2 * bs as usize..3 * bs as usize]
                .iter()
                .all(|&b| b == 0)
        );
        if let Some(code) = util_linux(&img) {
            assert_eq!(code, 0);
        }
    }
}

#[test]
fn symlink_longer_than_a_block() {
    for (v, n, bs) in FORMATS {
        let (mut img, [_, _, _, _, link]) = sample(v, n, bs);
        let mut i = img.inode(link);
        i.size = bs + 5;
        img.set_inode(link, &i);
        let r = check(&img);
        assert!(r.has(FindingKind::FileSize), "{v:?}: {:#?}", r.findings);
        assert_eq!(r.exit_code(), 4);
        assert!(mount_and_walk(img.data.clone()).is_ok());
    }
}

#[test]
fn root_is_not_a_directory() {
    for (v, n, bs) in FORMATS {
        let (mut img, _) = sample(v, n, bs);
        let mut r = img.inode(ROOT_INO);
        r.mode = mode::S_IFREG | 0o644;
        img.set_inode(ROOT_INO, &r);
        let rep = check(&img);
        assert!(rep.has(FindingKind::Root));
        assert_eq!(rep.exit_code(), 4);
        let (rr, _) = repair(&img);
        assert_eq!(rr.exit_code(), 4, "cannot be repaired safely");
    }
}

#[test]
fn several_kinds_at_once_are_all_repaired() {
    case(
        "many",
        FindingKind::LinkCount,
        true,
        1,
        |img, [a, b, f1, big, _]| {
            let mut i = img.inode(f1);
            i.nlinks = 9;
            img.set_inode(f1, &i);
            img.set_entry_ino(b, "..", ROOT_INO);
            img.add_entry(b, "cycle", a);
            let mut i = img.inode(big);
            i.zone[1] = img.g.zones + 1;
            img.set_inode(big, &i);
            format::bit_set(img.imap_mut(), f1 as usize, false);
        },
    );
}

#[test]
fn findings_name_path_and_inode() {
    let (mut img, [_, _, f1, _, _]) = sample(Version::V3, 60, 1024);
    let mut i = img.inode(f1);
    i.zone[1] = img.g.zones + 9;
    img.set_inode(f1, &i);
    let r = check(&img);
    let f = r
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::ZoneOutOfRange)
        .unwrap();
    assert_eq!(f.ino, Some(f1));
    assert_eq!(f.path.as_deref(), Some("/f1"));
    let line = f.to_string();
    assert!(
        line.contains("/f1") && line.contains("zone-out-of-range"),
        "{line}"
    );
}
