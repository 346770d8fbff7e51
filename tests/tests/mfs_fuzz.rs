//! Proptest stand-in for the cargo-fuzz target `mfs/fuzz` (which needs
//! nightly): random byte mutations of valid, populated images of every
//! version are checked and repaired; neither may panic, a repair must
//! never make things worse than "errors left", and a repaired image checks
//! clean or reports only what repair said it could not fix: on exit 4 the
//! same number and kinds of error a re-check finds (damage repair cannot
//! undo is injected on purpose, so exit 4 is always exercised).

mod mfs_common;

use mfs::format::Version;
use mfs::fsck::{self, Options};
use mfs::mkfs::VecDevice;
use mfs_common::{mount_and_modify, mount_and_walk, sample};
use proptest::prelude::*;

/// Where mutations land: metadata (first blocks) is where it hurts most.
fn mutation() -> impl Strategy<Value = (usize, u8, bool)> {
    (0usize..1 << 20, any::<u8>(), any::<bool>())
}

fn images() -> Vec<(Version, Vec<u8>)> {
    [
        (Version::V1, 14, 1024),
        (Version::V2, 30, 1024),
        (Version::V3, 60, 1024),
        (Version::V3, 60, 4096),
    ]
    .into_iter()
    .map(|(v, n, bs)| (v, sample(v, n, bs).0.data))
    .collect()
}

fn mutate(base: &[u8], muts: &[(usize, u8, bool)]) -> Vec<u8> {
    let mut img = base.to_vec();
    // Confine most writes to the metadata and the first data zones.
    let hot = img.len().min(64 * 1024);
    for &(pos, byte, anywhere) in muts {
        let span = if anywhere { img.len() } else { hot };
        let p = pos % span;
        img[p] = byte;
    }
    img
}

/// Checks and repairs `img` with the contract's assertions; returns the
/// repair's exit code.
fn check_and_repair(img: &[u8]) -> i32 {
    // The core must cope with the same bytes: walk, then try changes.
    let _ = mount_and_walk(img.to_vec());
    mount_and_modify(img.to_vec());
    let r = fsck::check_bytes(img);
    let code = r.exit_code();
    assert!(matches!(code, 0 | 4 | 8), "check-only exit {code}");
    let mut dev = VecDevice::new(img.to_vec());
    let rr = fsck::fsck(&mut dev, Options { repair: true });
    let rcode = rr.exit_code();
    assert!(matches!(rcode, 0 | 1 | 4 | 8), "repair exit {rcode}");
    if code == 0 {
        assert_eq!(rcode, 0, "repair of a clean image found errors");
    }
    if code == 8 {
        assert_eq!(rcode, 8);
    }
    // A repaired image never checks worse than the repair said.
    let after = fsck::check_bytes(&dev.into_inner());
    if rcode == 1 || rcode == 0 {
        assert_eq!(
            after.exit_code(),
            0,
            "repair said fixed: {:#?}",
            after.findings
        );
    }
    // Exit 4: what the repair said it left is exactly what a fresh check
    // finds (the same count, and the same kinds of error).
    if rcode == 4 {
        let mut left: Vec<String> = rr
            .errors()
            .filter(|f| !f.repaired)
            .map(|f| format!("{:?}", f.kind))
            .collect();
        let mut found: Vec<String> = after.errors().map(|f| format!("{:?}", f.kind)).collect();
        assert_eq!(
            after.remaining_errors, rr.remaining_errors,
            "repair reported {} errors left, a re-check finds {:#?}",
            rr.remaining_errors, after.findings
        );
        left.sort();
        left.dedup();
        found.sort();
        found.dedup();
        assert_eq!(left, found, "kinds of error left vs found by a re-check");
    }
    rcode
}

/// `base` with its root inode's mode made a regular file's.
fn root_made_a_file(base: &[u8]) -> Vec<u8> {
    let mut img = base.to_vec();
    let g = mfs::format::SuperBlock::parse(&img[1024..1024 + 64])
        .expect("sample superblock")
        .geometry();
    let (b, o) = g.inode_location(1);
    let at = b as usize * g.block_size as usize + o;
    // The mode is the first field of every inode version.
    img[at..at + 2].copy_from_slice(&0o100644u16.to_le_bytes());
    img
}

#[test]
fn a_root_that_is_not_a_directory_exits_4_and_says_so() {
    for (v, base) in images() {
        let img = root_made_a_file(&base);
        assert_eq!(fsck::check_bytes(&img).exit_code(), 4, "{v:?}");
        let mut dev = VecDevice::new(img.clone());
        let rr = fsck::fsck(&mut dev, Options { repair: true });
        assert_eq!(rr.exit_code(), 4, "{v:?}");
        assert!(
            rr.errors()
                .any(|f| f.kind == fsck::FindingKind::Root && !f.repaired),
            "{v:?}: {:#?}",
            rr.findings
        );
        assert_eq!(check_and_repair(&img), 4, "{v:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn mutated_images_never_panic(which in 0usize..4, muts in prop::collection::vec(mutation(), 1..24)) {
        let imgs = images();
        let (_, base) = &imgs[which];
        check_and_repair(&mutate(base, &muts));
    }

    #[test]
    fn random_superblocks_never_panic(which in 0usize..4, sb in prop::collection::vec(any::<u8>(), 32)) {
        let imgs = images();
        let (_, base) = &imgs[which];
        let mut img = base.clone();
        img[1024..1056].copy_from_slice(&sb);
        check_and_repair(&img);
    }

    /// Damage repair cannot undo (the root inode made a regular file) plus
    /// random mutations: the repair exits 4 (or 8 when the superblock went
    /// too), and what it says is left is what a re-check finds.
    #[test]
    fn unrepairable_damage_exits_4_with_what_is_left(which in 0usize..4, muts in prop::collection::vec(mutation(), 0..12)) {
        let imgs = images();
        let (_, base) = &imgs[which];
        let img = mutate(&root_made_a_file(base), &muts);
        let rcode = check_and_repair(&img);
        prop_assert!(matches!(rcode, 4 | 8), "repair exit {}", rcode);
    }

    #[test]
    fn arbitrary_small_inputs_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..8192)) {
        let _ = fsck::check_bytes(&bytes).exit_code();
    }
}
