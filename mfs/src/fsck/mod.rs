//! `fsck`: checks (and optionally repairs) a MINIX V1/V2/V3 image.
//!
//! It reads the image block by block through a [`BlockDevice`], on its own
//! and independently of the file-system operations, so it can judge what
//! they wrote. It checks everything util-linux `fsck.minix` checks
//! (superblock sanity, both bitmaps against what is reachable from the
//! root, link counts, `.`/`..`, duplicate and out-of-range zones) plus some
//! cheap extras (`..` names the real parent, zones past end of file,
//! directory sizes and holes, orphan inodes).
//!
//! With `repair`, a first pass fixes what can be fixed without guessing
//! (bitmaps rebuilt from reachability, link counts, `.`/`..`, out-of-range
//! and past-EOF zone pointers cleared, entries naming free or invalid inodes
//! or a second parent removed, a data zone shared by two files copied so
//! each has its own (directories claim their blocks before any file is
//! scanned, so a block a directory shares keeps its entries and the file
//! gets the copy; a second directory gets an empty block), a V1/V2
//! first-data-zone field of 0 restored, orphan files and lost directory subtrees reconnected
//! in the root as `#<inode>`, orphans with no links released), writes the
//! changed blocks, marks the superblock clean, and a second pass re-checks.
//! Duplicate indirect blocks, a root that is not a directory and a damaged
//! superblock are reported but left alone. Nothing on any input panics: every
//! number read from disk is range-checked before use, the walk uses an
//! explicit stack, and memory is bounded by the image size: per-inode
//! state is kept only for inodes the walk reaches, never sized from
//! `s_ninodes`.

mod check;
mod report;
mod view;

pub use report::{
    EXIT_CANNOT_CHECK, EXIT_CLEAN, EXIT_CORRECTED, EXIT_UNCORRECTED, Finding, FindingKind, Report,
    Severity,
};

use libbdev::BlockDevice;

/// What `fsck` should do.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Fix what can safely be fixed, then re-check.
    pub repair: bool,
}

/// Check the file system on `dev`; with `opts.repair`, repair it and re-check.
///
/// The report's [`Report::exit_code`] follows the fsck contract:
/// 0 clean, 1 errors corrected, 4 errors left, 8 could not check.
pub fn fsck<D: BlockDevice + ?Sized>(dev: &mut D, opts: Options) -> Report {
    let first = check::run(dev, opts.repair);
    if !opts.repair || first.fatal.is_some() {
        return first;
    }
    let again = check::run(dev, false);
    let mut report = first;
    // Whatever the re-check still finds is what is left; earlier findings
    // that were not repaired are already marked as such.
    report
        .findings
        .retain(|f| f.repaired || f.severity == Severity::Warning);
    report.remaining_errors = again.remaining_errors;
    report.fatal = again.fatal;
    report.findings.extend(
        again
            .findings
            .into_iter()
            .filter(|f| f.severity == Severity::Error),
    );
    if report.remaining_errors == 0
        && report.fatal.is_none()
        && let Some(f) = check::mark_clean(dev)
    {
        report.modified |= f.repaired;
        // The "not marked clean" warning no longer holds.
        if f.repaired {
            report.findings.retain(|x| {
                !(x.kind == FindingKind::Superblock && x.severity == Severity::Warning)
            });
        }
        report.findings.push(f);
    }
    report
}

/// Check an image held in memory (read-only). Used by the fuzz target and
/// property tests: it must return, never panic, whatever the bytes are.
pub fn check_bytes(image: &[u8]) -> Report {
    let mut dev = crate::mkfs::VecDevice::new(image.to_vec());
    fsck(&mut dev, Options { repair: false })
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::*;
    use crate::format::{self, SUPER_AREA, SUPER_OFFSET, SuperBlock, Version};
    use crate::mkfs::{MkfsOptions, VecDevice, mkfs_to_vec};

    fn fresh(v: Version) -> (Vec<u8>, format::Geometry) {
        let mut o = MkfsOptions::for_version(v, 1024);
        o.block_size = 1024;
        let img = mkfs_to_vec(&o).unwrap();
        let g = SuperBlock::parse(&img[SUPER_OFFSET..SUPER_OFFSET + SUPER_AREA])
            .unwrap()
            .geometry();
        (img, g)
    }

    fn repair(img: Vec<u8>) -> (Report, Vec<u8>) {
        let mut dev = VecDevice::new(img);
        let r = fsck(&mut dev, Options { repair: true });
        (r, dev.into_inner())
    }

    #[test]
    fn exit_code_contract() {
        let mut r = Report::default();
        assert_eq!(r.exit_code(), EXIT_CLEAN);
        let f = Finding {
            kind: FindingKind::LinkCount,
            severity: Severity::Error,
            ino: Some(3),
            path: Some("/x".into()),
            message: "m".into(),
            repaired: true,
            leak: false,
        };
        r.findings.push(f.clone());
        assert_eq!(r.exit_code(), EXIT_CORRECTED);
        r.remaining_errors = 1;
        assert_eq!(r.exit_code(), EXIT_UNCORRECTED);
        r.fatal = Some("bad".into());
        assert_eq!(r.exit_code(), EXIT_CANNOT_CHECK);
        let mut w = Report::default();
        w.findings.push(Finding {
            severity: Severity::Warning,
            ..f
        });
        assert_eq!(w.exit_code(), EXIT_CLEAN, "warnings do not count");
    }

    #[test]
    fn garbage_cannot_be_checked() {
        for img in [vec![], vec![0u8; 1500], vec![0xa5u8; 1 << 16]] {
            let r = check_bytes(&img);
            assert_eq!(r.exit_code(), EXIT_CANNOT_CHECK);
            assert!(r.fatal.is_some());
        }
    }

    #[test]
    fn fresh_images_are_clean_and_repair_writes_nothing() {
        for v in [Version::V1, Version::V2, Version::V3] {
            let (img, _) = fresh(v);
            assert_eq!(check_bytes(&img).exit_code(), EXIT_CLEAN);
            let (r, after) = repair(img.clone());
            assert_eq!(r.exit_code(), EXIT_CLEAN);
            assert!(!r.modified);
            assert_eq!(after, img);
        }
    }

    #[test]
    fn root_bitmap_bit_cleared_then_repaired() {
        let (mut img, g) = fresh(Version::V2);
        let imap = g.imap_start as usize * 1024;
        format::bit_set(&mut img[imap..imap + 1024], 1, false);
        let r = check_bytes(&img);
        assert!(r.has(FindingKind::InodeBitmap));
        assert_eq!(r.exit_code(), EXIT_UNCORRECTED);
        let (r, after) = repair(img);
        assert_eq!(r.exit_code(), EXIT_CORRECTED);
        assert!(format::bit_get(&after[imap..imap + 1024], 1));
        assert_eq!(check_bytes(&after).exit_code(), EXIT_CLEAN);
    }

    #[test]
    fn root_that_is_not_a_directory_stops_the_walk() {
        let (mut img, g) = fresh(Version::V3);
        let (blk, off) = g.inode_location(1);
        let p = blk as usize * 1024 + off;
        img[p] = 0;
        img[p + 1] = 0x80; // S_IFREG
        let r = check_bytes(&img);
        assert!(r.has(FindingKind::Root));
        assert_eq!(r.exit_code(), EXIT_UNCORRECTED);
        let (r, _) = repair(img);
        assert_eq!(r.exit_code(), EXIT_UNCORRECTED);
    }

    #[test]
    fn many_findings_are_summarised_but_all_counted() {
        let (mut img, g) = fresh(Version::V1);
        let zmap = g.zmap_start as usize * 1024;
        // Mark 200 free zones in use.
        for bit in 2..202 {
            format::bit_set(&mut img[zmap..zmap + 1024], bit, true);
        }
        let r = check_bytes(&img);
        let listed = r
            .findings
            .iter()
            .filter(|f| f.kind == FindingKind::ZoneBitmap)
            .count();
        assert!(listed <= 51, "{listed}");
        assert_eq!(r.remaining_errors, 200);
        let (r, after) = repair(img);
        assert_eq!(r.exit_code(), EXIT_CORRECTED);
        assert_eq!(check_bytes(&after).exit_code(), EXIT_CLEAN);
    }

    /// Issue 14 reproducer 5: V1/V2 have no "0 means computed" rule, so a
    /// zeroed first-data-zone field is reported, and repair restores it.
    #[test]
    fn zeroed_first_data_zone_is_reported_and_restored() {
        for v in [Version::V1, Version::V2] {
            let (mut img, g) = fresh(v);
            // s_firstdatazone is at byte 8 of the V1/V2 superblock.
            img[SUPER_OFFSET + 8..SUPER_OFFSET + 10].copy_from_slice(&[0, 0]);
            let r = check_bytes(&img);
            assert_eq!(r.exit_code(), EXIT_UNCORRECTED, "{v:?} {r:?}");
            assert!(r.has(FindingKind::Superblock));
            let (r, after) = repair(img);
            assert_eq!(r.exit_code(), EXIT_CORRECTED, "{v:?} {r:?}");
            let sb = SuperBlock::parse(&after[SUPER_OFFSET..SUPER_OFFSET + SUPER_AREA]).unwrap();
            assert_eq!(u32::from(sb.firstdatazone_field), g.first_data_zone);
            assert_eq!(check_bytes(&after).exit_code(), EXIT_CLEAN);
        }
    }

    /// `/d/e` (a directory of 40 files) and `/d/mid.bin` (300 kB) on `v`.
    fn populated(v: Version) -> Vec<u8> {
        let mut o = MkfsOptions::for_version(v, 4096);
        o.block_size = 1024;
        let img = mkfs_to_vec(&o).unwrap();
        let mut fs = crate::FileSystem::mount_rw(crate::MemBlocks::new(img)).unwrap();
        fs.write_path(b"/a.txt", b"hello\n", 0o644, 1).unwrap();
        fs.mkdir_path(b"/d", 0o755, 1).unwrap();
        fs.mkdir_path(b"/d/e", 0o755, 1).unwrap();
        for i in 1..=40 {
            let name = alloc::format!("/d/e/file_{i}");
            fs.write_path(
                name.as_bytes(),
                alloc::format!("{i}\n").as_bytes(),
                0o644,
                1,
            )
            .unwrap();
        }
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        fs.write_path(b"/d/mid.bin", &big, 0o644, 1).unwrap();
        fs.unmount().unwrap().into_image()
    }

    fn ino_of(img: &[u8], path: &[u8]) -> u32 {
        let mut fs = crate::FileSystem::mount_rw(crate::MemBlocks::new(img.to_vec())).unwrap();
        fs.resolve(path, false).unwrap()
    }

    fn inode_zone0(img: &mut [u8], g: &format::Geometry, ino: u32) -> (usize, u32) {
        let (blk, off) = g.inode_location(ino);
        let p = blk as usize * g.block_size as usize + off;
        let i = format::DiskInode::decode(g.version, &img[p..]).unwrap();
        (p, i.zone[0])
    }

    /// Points inode `to`'s first zone at inode `owner`'s, so both claim
    /// one block.
    fn share_zone0(img: &mut [u8], owner: u32, to: u32) {
        let g = SuperBlock::parse(&img[SUPER_OFFSET..SUPER_OFFSET + SUPER_AREA])
            .unwrap()
            .geometry();
        let (_, dz) = inode_zone0(img, &g, owner);
        let (p, _) = inode_zone0(img, &g, to);
        let mut i = format::DiskInode::decode(g.version, &img[p..]).unwrap();
        i.zone[0] = dz;
        i.encode(g.version, &mut img[p..]).unwrap();
    }

    /// Issue 14 reproducer 3: a file's first zone pointing at a directory's
    /// block. The directory keeps the block (and its entries); the file gets
    /// a copy; nothing reachable is reconnected as `/#N`; a second check is
    /// clean.
    #[test]
    fn block_shared_by_a_directory_and_a_file_stays_the_directorys() {
        for v in [Version::V1, Version::V2, Version::V3] {
            let mut img = populated(v);
            let dir = ino_of(&img, b"/d/e");
            let file = ino_of(&img, b"/d/mid.bin");
            share_zone0(&mut img, dir, file);
            assert_eq!(check_bytes(&img).exit_code(), EXIT_UNCORRECTED);
            let (r, after) = repair(img);
            assert_eq!(r.exit_code(), EXIT_CORRECTED, "{v:?} {r:?}");
            assert!(!r.has(FindingKind::Orphan), "{v:?} {r:?}");
            assert_eq!(check_bytes(&after).exit_code(), EXIT_CLEAN, "{v:?}");
            let mut fs = crate::FileSystem::mount_rw(crate::MemBlocks::new(after)).unwrap();
            let names: Vec<Vec<u8>> = fs
                .read_dir(1)
                .unwrap()
                .into_iter()
                .map(|e| e.name)
                .collect();
            assert_eq!(names.len(), 4, "{v:?} {names:?}");
            assert_eq!(fs.read_dir(dir).unwrap().len(), 42, "{v:?}");
            for k in 1..=40 {
                let name = alloc::format!("file_{k}");
                let ino = fs.lookup(dir, name.as_bytes()).unwrap();
                let mut buf = [0u8; 8];
                let n = fs.read(ino, 0, &mut buf).unwrap();
                assert_eq!(&buf[..n], alloc::format!("{k}\n").as_bytes());
            }
        }
    }

    /// Two directories claiming one block: the one reached first keeps it
    /// and its entries; the other gets a fresh block with `.` and `..`;
    /// repair exits 1 and a second check is clean.
    #[test]
    fn block_shared_by_two_directories_keeps_the_first_ones_entries() {
        for v in [Version::V1, Version::V2, Version::V3] {
            let mut img = populated(v);
            let d = ino_of(&img, b"/d");
            let e = ino_of(&img, b"/d/e");
            share_zone0(&mut img, d, e);
            assert_eq!(check_bytes(&img).exit_code(), EXIT_UNCORRECTED);
            let (r, after) = repair(img);
            assert_eq!(r.exit_code(), EXIT_CORRECTED, "{v:?} {r:?}");
            assert_eq!(check_bytes(&after).exit_code(), EXIT_CLEAN, "{v:?}");
            let mut fs = crate::FileSystem::mount_rw(crate::MemBlocks::new(after)).unwrap();
            assert_eq!(fs.lookup(d, b"e").unwrap(), e);
            assert!(fs.lookup(d, b"mid.bin").is_ok());
            assert_eq!(fs.lookup(e, b"..").unwrap(), d);
        }
    }

    /// Issue 14 item 4: after a repair that exits 0 or 1, a second check
    /// is clean, over named damage kinds and seeded random metadata flips.
    #[test]
    fn repair_that_succeeds_leaves_a_clean_image() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for v in [Version::V1, Version::V2, Version::V3] {
            let base = populated(v);
            let g = SuperBlock::parse(&base[SUPER_OFFSET..SUPER_OFFSET + SUPER_AREA])
                .unwrap()
                .geometry();
            let bs = g.block_size as usize;
            let itab = g.inode_table_start as usize * bs;
            let mut cases: Vec<(alloc::string::String, Vec<u8>)> = Vec::new();
            // Whole bitmaps zeroed.
            for (name, start) in [("imap", g.imap_start), ("zmap", g.zmap_start)] {
                let mut img = base.clone();
                img[start as usize * bs..(start as usize + 1) * bs].fill(0);
                cases.push((alloc::format!("{name} zeroed"), img));
            }
            // Random bit flips in the bitmaps and the inode table.
            for k in 0..60 {
                let mut img = base.clone();
                for _ in 0..(1 + k % 4) {
                    let r = rnd() as usize;
                    let at = match r % 4 {
                        0 => g.imap_start as usize * bs + (r >> 8) % 16,
                        1 => g.zmap_start as usize * bs + (r >> 8) % 64,
                        _ => itab + (r >> 8) % (50 * g.inode_size as usize),
                    };
                    img[at] ^= 1 << (rnd() % 8);
                }
                cases.push((alloc::format!("flips {k}"), img));
            }
            let mut corrected = 0;
            for (name, img) in cases {
                let (r, after) = repair(img);
                let code = r.exit_code();
                corrected += usize::from(code == EXIT_CORRECTED);
                if code == EXIT_CLEAN || code == EXIT_CORRECTED {
                    let again = check_bytes(&after);
                    assert_eq!(
                        again.exit_code(),
                        EXIT_CLEAN,
                        "{v:?} {name}: repair said {code}, then {again:?}"
                    );
                }
            }
            assert!(corrected >= 20, "{v:?}: only {corrected} repairs");
        }
    }

    /// Issue 14 item 5: findings say whether they are only leaks (what a
    /// power cut under write ordering may leave) or worse.
    #[test]
    fn findings_say_whether_they_are_leaks() {
        let (img, g) = fresh(Version::V2);
        let bs = 1024;
        // A zone marked in use that nothing uses: a leak.
        let mut a = img.clone();
        let zmap = g.zmap_start as usize * bs;
        format::bit_set(&mut a[zmap..zmap + bs], 5, true);
        let r = check_bytes(&a);
        assert!(r.errors().all(|f| f.leak), "{r:?}");
        assert_eq!(r.non_leak_errors().count(), 0);
        // The root marked free: not a leak.
        let mut b = img.clone();
        let imap = g.imap_start as usize * bs;
        format::bit_set(&mut b[imap..imap + bs], 1, false);
        let r = check_bytes(&b);
        assert!(
            r.non_leak_errors()
                .any(|f| f.kind == FindingKind::InodeBitmap)
        );
        // Link count above the names: a leak; below: not.
        for (nlinks, leak) in [(3u16, true), (1, false)] {
            let mut c = img.clone();
            let (blk, off) = g.inode_location(1);
            let p = blk as usize * bs + off;
            let mut i = format::DiskInode::decode(g.version, &c[p..]).unwrap();
            i.nlinks = nlinks;
            i.encode(g.version, &mut c[p..]).unwrap();
            let r = check_bytes(&c);
            let f = r
                .errors()
                .find(|f| f.kind == FindingKind::LinkCount)
                .unwrap();
            assert_eq!(f.leak, leak, "{f}");
        }
    }

    #[test]
    fn superblock_field_damage_is_fatal() {
        let (img, _) = fresh(Version::V3);
        // s_log_zone_size != 0: zones bigger than blocks.
        let mut bad = img.clone();
        bad[SUPER_OFFSET + 12] = 1;
        let r = check_bytes(&bad);
        assert_eq!(r.exit_code(), EXIT_CANNOT_CHECK);
        assert!(r.fatal.unwrap().contains("zone"));
        // Inode table past the end of the image.
        let r = check_bytes(&img[..4 * 1024]);
        assert_eq!(r.exit_code(), EXIT_CANNOT_CHECK);
    }
}
