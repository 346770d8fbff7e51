//! The directory name index (`mfs::dirindex`) against the linear scan.
//!
//! - `indexed_equals_linear_*` (proptest, per format): the same random
//!   sequence of name operations (create, mkdir, link, unlink, rmdir,
//!   rename within, into, out of and over, symlink, lookup, remount,
//!   indexes dropped) on two copies of one image, one with every directory
//!   indexed under tight memory limits (so indexes are evicted and rebuilt
//!   midway) and one with the index off: every result is the same, the
//!   index answered searches, and the final images are byte for byte
//!   identical (the index picks the slot the scan picks) and check clean.
//! - `damaged_directory_gives_the_same_errors` (proptest): byte damage in a
//!   large directory's blocks or its inode, then the same operations on
//!   both: the same results, inconsistency state and final image.
//! - unit cases: hash collisions, stale index after changes behind the
//!   core, eviction within the limits, duplicate names in a damaged
//!   directory, an index across an fsck repair.

use mfs::format::{ROOT_INO, Version};
use mfs::fsck::{Options, fsck};
use mfs::mkfs::{MkfsOptions, VecDevice, mkfs_to_vec};
use mfs::{BlockAccess, DirIndexLimits, Errno, FileSystem, MemBlocks, MountOptions};
use proptest::prelude::*;

/// Index every directory, with room for only a few at a time.
fn tight(max_slots: usize, max_dirs: usize) -> DirIndexLimits {
    DirIndexLimits {
        min_slots: 0,
        max_slots,
        max_dirs,
    }
}

fn image(version: Version, name_len: usize, bs: u32) -> Vec<u8> {
    let mut o = MkfsOptions::for_version(version, 4096);
    o.name_len = name_len;
    o.block_size = bs;
    o.inodes = Some(1024);
    mkfs_to_vec(&o).unwrap()
}

const DIRS: [&[u8]; 4] = [b"/", b"/a", b"/b", b"/a/c"];

#[derive(Debug, Clone)]
enum Op {
    /// Several files at once (directories grow past a block).
    CreateMany(usize, usize, usize),
    Create(usize, usize),
    Mkdir(usize, usize),
    Link(usize, usize, usize, usize),
    Unlink(usize, usize),
    Rmdir(usize, usize),
    Rename(usize, usize, usize, usize),
    Symlink(usize, usize),
    Lookup(usize, usize),
    Remount,
    Forget,
}

fn name(n: usize) -> Vec<u8> {
    format!("n{n}").into_bytes()
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let d = 0usize..DIRS.len();
    let n = 0usize..300;
    prop_oneof![
        2 => (d.clone(), n.clone(), 1usize..120).prop_map(|(d, n, k)| Op::CreateMany(d, n, k)),
        4 => (d.clone(), n.clone()).prop_map(|(d, n)| Op::Create(d, n)),
        1 => (d.clone(), n.clone()).prop_map(|(d, n)| Op::Mkdir(d, n)),
        2 => (d.clone(), n.clone(), d.clone(), n.clone()).prop_map(|(a, b, c, e)| Op::Link(a, b, c, e)),
        5 => (d.clone(), n.clone()).prop_map(|(d, n)| Op::Unlink(d, n)),
        1 => (d.clone(), n.clone()).prop_map(|(d, n)| Op::Rmdir(d, n)),
        4 => (d.clone(), n.clone(), d.clone(), n.clone()).prop_map(|(a, b, c, e)| Op::Rename(a, b, c, e)),
        1 => (d.clone(), n.clone()).prop_map(|(d, n)| Op::Symlink(d, n)),
        4 => (d.clone(), n.clone()).prop_map(|(d, n)| Op::Lookup(d, n)),
        1 => Just(Op::Remount),
        1 => Just(Op::Forget),
    ]
}

/// What an operation returned, comparable across the two runs.
type Outcome = Result<u32, Errno>;

fn dir(fs: &mut FileSystem<MemBlocks>, d: usize) -> Result<u32, Errno> {
    fs.resolve(DIRS[d], true)
}

fn apply(fs: &mut FileSystem<MemBlocks>, op: &Op, now: u32) -> Vec<Outcome> {
    let mut out = Vec::new();
    match *op {
        Op::CreateMany(d, n, k) => match dir(fs, d) {
            Ok(di) => {
                for i in 0..k {
                    out.push(fs.create(di, &name(n + i * 7), 0o644, 0, 0, now));
                }
            }
            Err(e) => out.push(Err(e)),
        },
        Op::Create(d, n) => {
            out.push(dir(fs, d).and_then(|di| fs.create(di, &name(n), 0o644, 1, 1, now)))
        }
        Op::Mkdir(d, n) => {
            out.push(dir(fs, d).and_then(|di| fs.mkdir(di, &name(n), 0o755, 0, 0, now)))
        }
        Op::Link(d1, n1, d2, n2) => out.push((|| {
            let a = dir(fs, d1)?;
            let ino = fs.lookup(a, &name(n1))?;
            let b = dir(fs, d2)?;
            fs.link(b, &name(n2), ino, now).map(|_| ino)
        })()),
        Op::Unlink(d, n) => {
            out.push(dir(fs, d).and_then(|di| fs.unlink(di, &name(n), now).map(|_| 0)))
        }
        Op::Rmdir(d, n) => {
            out.push(dir(fs, d).and_then(|di| fs.rmdir(di, &name(n), now).map(|_| 0)))
        }
        Op::Rename(d1, n1, d2, n2) => out.push((|| {
            let a = dir(fs, d1)?;
            let b = dir(fs, d2)?;
            fs.rename(a, &name(n1), b, &name(n2), now).map(|_| 0)
        })()),
        Op::Symlink(d, n) => {
            out.push(dir(fs, d).and_then(|di| fs.symlink(di, &name(n), b"target", 0, 0, now)))
        }
        Op::Lookup(d, n) => out.push(dir(fs, d).and_then(|di| fs.lookup(di, &name(n)))),
        Op::Remount | Op::Forget => {}
    }
    out
}

/// Every name of every directory reachable from the root, in slot order.
fn listing(fs: &mut FileSystem<MemBlocks>) -> Vec<(Vec<u8>, u32, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![ROOT_INO];
    while let Some(d) = stack.pop() {
        for e in fs.read_dir(d).unwrap() {
            if e.name != b"."
                && e.name != b".."
                && fs.stat(e.ino).unwrap().mode & 0o170000 == 0o040000
            {
                stack.push(e.ino);
            }
            out.push((e.name, e.ino, e.next_pos));
        }
    }
    out
}

fn remount(fs: FileSystem<MemBlocks>, limits: DirIndexLimits) -> FileSystem<MemBlocks> {
    let mut fs = FileSystem::mount_rw(fs.unmount().unwrap()).unwrap();
    fs.set_dir_index_limits(limits);
    fs
}

fn run_pair(version: Version, name_len: usize, bs: u32, limits: DirIndexLimits, ops: &[Op]) {
    let img = image(version, name_len, bs);
    let mut a = FileSystem::mount_rw(MemBlocks::new(img.clone())).unwrap();
    let mut b = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
    a.set_dir_index_limits(limits);
    b.set_dir_index_limits(DirIndexLimits::OFF);
    for fs in [&mut a, &mut b] {
        fs.mkdir(ROOT_INO, b"a", 0o755, 0, 0, 1).unwrap();
        fs.mkdir(ROOT_INO, b"b", 0o755, 0, 0, 1).unwrap();
        let ai = fs.resolve(b"/a", true).unwrap();
        fs.mkdir(ai, b"c", 0o755, 0, 0, 1).unwrap();
    }
    let mut finds = 0;
    for (k, op) in ops.iter().enumerate() {
        let now = 10 + k as u32;
        match op {
            Op::Remount => {
                finds += a.dir_index_stats().indexed_finds;
                a = remount(a, limits);
                b = remount(b, DirIndexLimits::OFF);
            }
            Op::Forget => a.forget_dir_indexes(),
            _ => {
                let ra = apply(&mut a, op, now);
                let rb = apply(&mut b, op, now);
                assert_eq!(ra, rb, "op {k}: {op:?}");
            }
        }
    }
    finds += a.dir_index_stats().indexed_finds;
    assert_eq!(b.dir_index_stats().indexed_finds, 0);
    if ops.iter().any(|o| !matches!(o, Op::Remount | Op::Forget)) {
        assert!(finds > 0, "the index answered nothing");
    }
    let st = a.dir_index_stats();
    assert!(
        st.dirs <= limits.max_dirs && st.slots <= limits.max_slots,
        "{st:?}"
    );
    assert_eq!(listing(&mut a), listing(&mut b));
    let ia = a.unmount().unwrap().into_image();
    let ib = b.unmount().unwrap().into_image();
    assert!(ia == ib, "images differ");
    let report = mfs::fsck::check_bytes(&ia);
    assert_eq!(report.exit_code(), 0, "{:?}", report.findings);
}

fn limits_strategy() -> impl Strategy<Value = DirIndexLimits> {
    (20usize..1000, 1usize..5).prop_map(|(s, d)| tight(s, d))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn indexed_equals_linear_v1_14(l in limits_strategy(), ops in prop::collection::vec(op_strategy(), 1..80)) {
        run_pair(Version::V1, 14, 1024, l, &ops);
    }

    #[test]
    fn indexed_equals_linear_v2_30(l in limits_strategy(), ops in prop::collection::vec(op_strategy(), 1..80)) {
        run_pair(Version::V2, 30, 1024, l, &ops);
    }

    #[test]
    fn indexed_equals_linear_v3_4k(l in limits_strategy(), ops in prop::collection::vec(op_strategy(), 1..80)) {
        run_pair(Version::V3, 60, 4096, l, &ops);
    }
}

/// A V2 image with /big holding 400 files less every ninth (13 blocks of
/// 32-byte entries, six through the indirect block): the image, the
/// directory's inode number and its zones.
fn big_dir_image() -> (Vec<u8>, u32, Vec<u32>) {
    let img = image(Version::V2, 30, 1024);
    let mut fs = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
    fs.set_dir_index_limits(DirIndexLimits::OFF);
    let d = fs.mkdir(ROOT_INO, b"big", 0o755, 0, 0, 1).unwrap();
    for i in 0..400 {
        fs.create(d, &name(i), 0o644, 0, 0, 1).unwrap();
    }
    for i in (0..400).step_by(9) {
        fs.unlink(d, &name(i), 1).unwrap();
    }
    let size = fs.stat(d).unwrap().size;
    let zones: Vec<u32> = (0..u64::from(size).div_ceil(1024))
        .map(|b| fs.zone_of(d, b).unwrap())
        .collect();
    (fs.unmount().unwrap().into_image(), d, zones)
}

#[derive(Debug, Clone)]
enum Damage {
    /// A byte in one of the directory's blocks.
    Block(usize, usize, u8),
    /// A byte of the directory's inode.
    Inode(usize, u8),
}

fn damage_strategy() -> impl Strategy<Value = Vec<Damage>> {
    prop::collection::vec(
        prop_oneof![
            3 => (any::<usize>(), 0usize..1024, any::<u8>()).prop_map(|(b, o, v)| Damage::Block(b, o, v)),
            1 => (0usize..64, any::<u8>()).prop_map(|(o, v)| Damage::Inode(o, v)),
        ],
        1..4,
    )
}

fn damaged_ops(fs: &mut FileSystem<MemBlocks>, d: u32) -> Vec<String> {
    let mut out = Vec::new();
    for i in [1usize, 9, 200, 399, 450, 1000] {
        out.push(format!("{:?}", fs.lookup(d, &name(i))));
    }
    out.push(format!("{:?}", fs.create(d, b"new", 0o644, 0, 0, 5)));
    out.push(format!("{:?}", fs.unlink(d, &name(398), 5)));
    out.push(format!("{:?}", fs.rename(d, &name(397), d, b"renamed", 5)));
    out.push(format!(
        "{:?}",
        fs.rename(d, &name(396), ROOT_INO, b"out", 5)
    ));
    out.push(format!("{:?}", fs.link(d, b"in", 1, 5)));
    out.push(format!("{:?}", fs.lookup(d, b"renamed")));
    out.push(format!("{:?}", fs.lookup(d, b"new")));
    out.push(format!("{:?} {}", fs.inconsistency(), fs.is_read_only()));
    out
}

fn damaged_pair(damage: &[Damage]) {
    let (mut img, d, zones) = big_dir_image();
    let geo = {
        let mut fs = FileSystem::mount_rw(MemBlocks::new(img.clone())).unwrap();
        let g = *fs.geometry();
        let _ = fs.stat(d);
        g
    };
    let (iblock, ioff) = geo.inode_location(d);
    for dm in damage {
        match *dm {
            Damage::Block(b, o, v) => img[zones[b % zones.len()] as usize * 1024 + o] = v,
            Damage::Inode(o, v) => img[iblock as usize * 1024 + ioff + o] = v,
        }
    }
    let opts = MountOptions {
        read_only: false,
        force_rw_unclean: true,
    };
    let mut a = FileSystem::mount(MemBlocks::new(img.clone()), opts).unwrap();
    let mut b = FileSystem::mount(MemBlocks::new(img), opts).unwrap();
    a.set_dir_index_limits(tight(10_000, 4));
    b.set_dir_index_limits(DirIndexLimits::OFF);
    assert_eq!(damaged_ops(&mut a, d), damaged_ops(&mut b, d));
    assert!(a.io().image() == b.io().image(), "images differ");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn damaged_directory_gives_the_same_errors(damage in damage_strategy()) {
        damaged_pair(&damage);
    }
}

#[test]
fn a_hole_in_a_large_directory_is_eio_as_before_and_the_build_is_not_retried() {
    let (mut img, d, zones) = big_dir_image();
    // Block 3 of the directory becomes a hole: the inode's zone 3 is 0.
    let geo = *FileSystem::mount_rw(MemBlocks::new(img.clone()))
        .unwrap()
        .geometry();
    let (iblock, ioff) = geo.inode_location(d);
    // V2 inode: zones start at byte 24.
    img[iblock as usize * 1024 + ioff + 24 + 3 * 4..][..4].fill(0);
    let _ = zones;
    let mut fs = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
    fs.set_dir_index_limits(tight(10_000, 4));
    // A name in block 0 is found (the scan stops before the hole) ...
    assert!(fs.lookup(d, &name(1)).is_ok());
    // ... one past it is EIO, a missing one too.
    assert_eq!(fs.lookup(d, &name(399)), Err(Errno::EIO));
    assert_eq!(fs.lookup(d, b"absent"), Err(Errno::EIO));
    let st = fs.dir_index_stats();
    assert_eq!((st.dirs, st.builds, st.failed_builds), (0, 0, 1), "{st:?}");
}

#[test]
fn names_with_one_hash_are_told_apart() {
    // FNV-1a 32 of both is 0xeb03b14b.
    let (x, y): (&[u8], &[u8]) = (b"n512789", b"n749192");
    let img = image(Version::V3, 60, 4096);
    let mut fs = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
    fs.set_dir_index_limits(tight(10_000, 4));
    let d = fs.mkdir(ROOT_INO, b"d", 0o755, 0, 0, 1).unwrap();
    let ix = fs.create(d, x, 0o644, 0, 0, 1).unwrap();
    assert_eq!(fs.lookup(d, y), Err(Errno::ENOENT));
    let iy = fs.create(d, y, 0o644, 0, 0, 1).unwrap();
    assert_eq!(fs.lookup(d, x), Ok(ix));
    assert_eq!(fs.lookup(d, y), Ok(iy));
    assert_eq!(fs.create(d, x, 0o644, 0, 0, 1), Err(Errno::EEXIST));
    fs.unlink(d, x, 2).unwrap();
    assert_eq!(fs.lookup(d, x), Err(Errno::ENOENT));
    assert_eq!(fs.lookup(d, y), Ok(iy));
    let st = fs.dir_index_stats();
    // Built once each: the root (for the mkdir) and /d.
    assert_eq!((st.stale, st.builds), (0, 2), "{st:?}");
    assert!(st.indexed_finds >= 7, "{st:?}");
}

#[test]
fn a_change_behind_the_core_is_caught_or_forgotten() {
    let (img, d, zones) = big_dir_image();
    let mut fs = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
    fs.set_dir_index_limits(tight(10_000, 4));
    let i1 = fs.lookup(d, &name(1)).unwrap();
    assert_eq!(fs.dir_index_stats().builds, 1);
    // Entry 2 of block 0 (".", "..", n0 deleted? n0 is unlinked: slot 2
    // is free, n1 at slot 3) loses its inode number behind the core.
    let slot = 3 * 32;
    let named = fs
        .io_mut()
        .read(zones[0], |b| b[slot + 2..slot + 4].to_vec())
        .unwrap();
    assert_eq!(named, b"n1");
    fs.io_mut()
        .modify(zones[0], |b| b[slot..slot + 2].fill(0))
        .unwrap();
    // The hit is checked on disk: stale, the scan answers.
    assert_eq!(fs.lookup(d, &name(1)), Err(Errno::ENOENT));
    let st = fs.dir_index_stats();
    assert_eq!(st.stale, 1, "{st:?}");
    // A name added behind the core: the index (rebuilt) does not know it
    // until told to forget.
    fs.lookup(d, &name(2)).unwrap();
    fs.io_mut()
        .modify(zones[0], |b| {
            b[slot..slot + 2].copy_from_slice(&(i1 as u16).to_le_bytes());
            b[slot + 2..slot + 8].copy_from_slice(b"hidden");
        })
        .unwrap();
    assert_eq!(fs.lookup(d, b"hidden"), Err(Errno::ENOENT));
    fs.forget_dir_indexes();
    assert_eq!(fs.lookup(d, b"hidden"), Ok(i1));
    // A directory inode changed behind the core (its size) is rebuilt.
    let builds = fs.dir_index_stats().builds;
    let size = fs.stat(d).unwrap().size;
    let new = fs.create(d, b"appended", 0o644, 0, 0, 3).unwrap();
    assert_eq!(fs.stat(d).unwrap().size, size, "a free slot was used");
    assert_eq!(fs.lookup(d, b"appended"), Ok(new));
    assert_eq!(fs.dir_index_stats().builds, builds);
}

#[test]
fn eviction_keeps_within_the_limits_and_answers_stay_right() {
    let img = image(Version::V3, 60, 1024);
    let mut fs = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
    fs.set_dir_index_limits(tight(300, 2));
    let dirs: Vec<u32> = (0..5)
        .map(|i| fs.mkdir(ROOT_INO, &name(i), 0o755, 0, 0, 1).unwrap())
        .collect();
    let mut inos = Vec::new();
    for i in 0..150 {
        for (k, &d) in dirs.iter().enumerate() {
            inos.push((d, i, fs.create(d, &name(i + k), 0o644, 0, 0, 1).unwrap()));
            let st = fs.dir_index_stats();
            assert!(st.dirs <= 2 && st.slots <= 300, "{st:?}");
        }
    }
    for (d, i, ino) in inos.iter().copied().step_by(7) {
        let k = dirs.iter().position(|&x| x == d).unwrap();
        assert_eq!(fs.lookup(d, &name(i + k)), Ok(ino));
    }
    let st = fs.dir_index_stats();
    assert!(st.evictions > 0 && st.indexed_finds > 0, "{st:?}");
    // One directory larger than the whole budget is never indexed.
    for i in 150..400 {
        fs.create(dirs[0], &name(i), 0o644, 0, 0, 1).unwrap();
    }
    fs.forget_dir_indexes();
    let builds = fs.dir_index_stats().builds;
    assert_eq!(fs.lookup(dirs[0], &name(399)).map(|_| ()), Ok(()));
    assert_eq!(fs.dir_index_stats().builds, builds);
    assert_eq!(fs.dir_index_stats().dirs, 0);
}

#[test]
fn duplicate_names_in_a_damaged_directory_resolve_as_the_scan() {
    let (mut img, d, zones) = big_dir_image();
    // Slot 3 of block 0 holds n1; slot 5 of block 1 gets that name too.
    let b1 = zones[1] as usize * 1024 + 5 * 32;
    img[b1 + 2..b1 + 32].fill(0);
    img[b1 + 2..b1 + 4].copy_from_slice(b"n1");
    let run = |limits| {
        let mut fs = FileSystem::mount_rw(MemBlocks::new(img.clone())).unwrap();
        fs.set_dir_index_limits(limits);
        let mut out = vec![fs.lookup(d, b"n1")];
        out.push(fs.unlink(d, b"n1", 3).map(|_| 0));
        out.push(fs.lookup(d, b"n1"));
        out.push(fs.unlink(d, b"n1", 3).map(|_| 0));
        out.push(fs.lookup(d, b"n1"));
        (out, fs.unmount().unwrap().into_image())
    };
    let (ra, ia) = run(tight(10_000, 4));
    let (rb, ib) = run(DirIndexLimits::OFF);
    assert_eq!(ra, rb);
    assert!(
        ra[0].is_ok() && ra[2].is_ok() && ra[4] == Err(Errno::ENOENT),
        "{ra:?}"
    );
    assert!(ia == ib);
}

#[test]
fn an_index_is_rebuilt_after_an_fsck_repair() {
    let (img, d, zones) = big_dir_image();
    let mut fs = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
    fs.set_dir_index_limits(tight(10_000, 4));
    let victim = fs.lookup(d, &name(10)).unwrap();
    assert_eq!(fs.dir_index_stats().builds, 1);
    let mut img = fs.unmount().unwrap().into_image();
    // n10's inode is marked free: fsck removes the entry naming it.
    let geo = *FileSystem::mount_rw(MemBlocks::new(img.clone()))
        .unwrap()
        .geometry();
    let imap = geo.imap_start as usize * 1024;
    img[imap + victim as usize / 8] &= !(1 << (victim % 8));
    let (iblock, ioff) = geo.inode_location(victim);
    img[iblock as usize * 1024 + ioff..][..64].fill(0);
    let mut dev = VecDevice::new(img);
    let report = fsck(&mut dev, Options { repair: true });
    assert_eq!(report.exit_code(), 1, "{:?}", report.findings);
    let img = dev.into_inner();
    let _ = zones;
    let mut fs = FileSystem::mount_rw(MemBlocks::new(img)).unwrap();
    fs.set_dir_index_limits(tight(10_000, 4));
    assert_eq!(fs.lookup(d, &name(10)), Err(Errno::ENOENT));
    let n = fs.create(d, &name(10), 0o644, 0, 0, 4).unwrap();
    assert_eq!(fs.lookup(d, &name(10)), Ok(n));
    assert_eq!(fs.dir_index_stats().builds, 1);
    let report = mfs::fsck::check_bytes(fs.unmount().unwrap().image());
    assert_eq!(report.exit_code(), 0, "{:?}", report.findings);
}
