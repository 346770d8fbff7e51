//! Power cuts at any point (issue 14 item 5), CrashMonkey style: seeded
//! workloads (creates, appends, overwrites, truncates, renames of files and
//! directories, unlinks, mkdir/rmdir, hard links, fsyncs and syncs) run on
//! the product configuration (libminixfs cache, small enough to evict at
//! random points, over a recording device); every barrier and random
//! reorderings inside each barrier epoch give crash states; each state is
//! checked with fsck (check, repair, re-check) and the files fsync'd before
//! the cut are read back.
//!
//! With write ordering on: every state needs at most a leak-only repair
//! and no fsync'd data is lost. With ordering off (the negative control)
//! the same harness finds states with worse damage or lost data.
//!
//! `MFS_POWERCUT_SEEDS` (default 16 workloads; the negative control uses
//! at most 6) and `MFS_POWERCUT_PER_EPOCH` (default 3 reordered states per
//! barrier epoch) make longer runs; `-- --nocapture` shows the summaries.

mod crash;

use std::collections::BTreeMap;

use crash::{Rng, Synced, Tally, crash_states, examine};
use mfs::format::Version;
use mfs::mkfs::{MkfsOptions, mkfs_to_vec};
use mfs::{FileSystem, MountOptions};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the workload believes is on the file system.
#[derive(Default)]
struct Model {
    /// Directories by path ("" is the root).
    dirs: Vec<String>,
    /// Files by path -> inode.
    files: BTreeMap<String, u32>,
    /// Contents by inode.
    data: BTreeMap<u32, Vec<u8>>,
}

impl Model {
    fn pick_dir(&self, rng: &mut Rng) -> String {
        self.dirs[rng.below(self.dirs.len())].clone()
    }
    fn pick_file(&self, rng: &mut Rng) -> Option<(String, u32)> {
        if self.files.is_empty() {
            return None;
        }
        let k = rng.below(self.files.len());
        self.files.iter().nth(k).map(|(p, i)| (p.clone(), *i))
    }
    fn exists(&self, p: &str) -> bool {
        self.files.contains_key(p) || self.dirs.iter().any(|d| d == p)
    }
    fn dir_empty(&self, d: &str) -> bool {
        let pre = format!("{d}/");
        !self.files.keys().any(|f| f.starts_with(&pre))
            && !self.dirs.iter().any(|x| x.starts_with(&pre))
    }
}

fn pattern(rng: &mut Rng, n: usize) -> Vec<u8> {
    let s = rng.next();
    (0..n)
        .map(|i| (s as usize + i * 31 + i / 7) as u8)
        .collect()
}

fn under(p: &str, top: &str) -> bool {
    p == top || p.starts_with(&format!("{top}/"))
}

/// One seeded workload; returns (base image, log, fsync records).
fn run_workload(seed: u64, ordered: bool) -> (Vec<u8>, Vec<crash::Op>, Vec<Synced>) {
    let mut rng = Rng::new(seed);
    // V1, V2, V3 with 1 KiB blocks, and V3 with 4 KiB blocks (more
    // inodes and entries share a block).
    let (version, bs) = [
        (Version::V1, 1024),
        (Version::V2, 1024),
        (Version::V3, 1024),
        (Version::V3, 4096),
    ][(seed % 4) as usize];
    let mut o = MkfsOptions::for_version(version, 768 * 1024 / u64::from(bs));
    o.block_size = bs;
    o.inodes = Some(96);
    let base = mkfs_to_vec(&o).expect("mkfs");
    let dev = crash::RecordingDevice::new(base.clone(), bs as usize);
    let bufs = 8 + rng.below(24);
    let mut fs = FileSystem::mount_device(Box::new(dev.clone()), bufs, MountOptions::default())
        .expect("mount");
    fs.set_write_ordering(ordered).expect("ordering");
    let mut m = Model {
        dirs: vec![String::new()],
        ..Model::default()
    };
    let mut synced: Vec<Synced> = Vec::new();
    let now = 1_700_000_000;
    let nops = 60 + rng.below(60);
    for _ in 0..nops {
        let at = dev.pos();
        // Paths and inodes whose durable state this operation may change.
        let mut touched_paths: Vec<String> = Vec::new();
        let mut touched_ino: Option<u32> = None;
        // Mostly a few names (renames over targets, reuse), sometimes many
        // (directories that grow past one block).
        let name = |rng: &mut Rng, f: bool| {
            let n = if f && rng.chance(40) { 40 } else { 6 };
            format!("{}{}", if f { "f" } else { "d" }, rng.below(n))
        };
        match rng.below(100) {
            // Create, with some data.
            0..=17 => {
                let p = format!("{}/{}", m.pick_dir(&mut rng), name(&mut rng, true));
                if !m.exists(&p) {
                    let n = [0, 100, 1500, 9000, 30000][rng.below(5)];
                    let d = pattern(&mut rng, n);
                    let (dir, nm) = fs.resolve_parent(p.as_bytes()).expect("parent");
                    if let Ok(ino) = fs.create(dir, nm, 0o644, 0, 0, now) {
                        m.files.insert(p.clone(), ino);
                        let w = fs.write(ino, 0, &d, now).unwrap_or(0);
                        m.data.insert(ino, d[..w].to_vec());
                    }
                }
            }
            // Append.
            18..=29 => {
                if let Some((_, ino)) = m.pick_file(&mut rng) {
                    let n = [10, 700, 4000, 20000][rng.below(4)];
                    let d = pattern(&mut rng, n);
                    let off = m.data[&ino].len() as u64;
                    touched_ino = Some(ino);
                    if let Ok(w) = fs.write(ino, off, &d, now) {
                        m.data.get_mut(&ino).unwrap().extend_from_slice(&d[..w]);
                    }
                }
            }
            // Overwrite inside the file.
            30..=37 => {
                if let Some((_, ino)) = m.pick_file(&mut rng) {
                    let len = m.data[&ino].len();
                    if len > 0 {
                        let off = rng.below(len);
                        let n = 1 + rng.below(3000);
                        let d = pattern(&mut rng, n);
                        touched_ino = Some(ino);
                        if let Ok(w) = fs.write(ino, off as u64, &d, now) {
                            let v = m.data.get_mut(&ino).unwrap();
                            if v.len() < off + w {
                                v.resize(off + w, 0);
                            }
                            v[off..off + w].copy_from_slice(&d[..w]);
                        }
                    }
                }
            }
            // Truncate (shrink mostly, sometimes grow).
            38..=43 => {
                if let Some((_, ino)) = m.pick_file(&mut rng) {
                    let len = m.data[&ino].len();
                    let to = if rng.chance(80) {
                        rng.below(len + 1)
                    } else {
                        len + rng.below(5000)
                    };
                    touched_ino = Some(ino);
                    if fs.truncate(ino, to as u64, now).is_ok() {
                        m.data.get_mut(&ino).unwrap().resize(to, 0);
                    }
                }
            }
            // Rename a file (maybe over another file).
            44..=53 => {
                if let Some((from, ino)) = m.pick_file(&mut rng) {
                    let to = format!("{}/{}", m.pick_dir(&mut rng), name(&mut rng, true));
                    let over_dir = m.dirs.contains(&to);
                    if !over_dir && to != from {
                        touched_paths.push(from.clone());
                        touched_paths.push(to.clone());
                        if fs.rename_path(from.as_bytes(), to.as_bytes(), now).is_ok() {
                            m.files.remove(&from);
                            if let Some(old) = m.files.insert(to, ino)
                                && !m.files.values().any(|&i| i == old)
                            {
                                m.data.remove(&old);
                            }
                        }
                    }
                }
            }
            // Rename a directory (maybe over an empty one).
            54..=58 => {
                if m.dirs.len() > 1 {
                    let from = m.dirs[1 + rng.below(m.dirs.len() - 1)].clone();
                    let to = format!("{}/{}", m.pick_dir(&mut rng), name(&mut rng, false));
                    let ok_target = !m.files.contains_key(&to)
                        && (!m.dirs.contains(&to) || m.dir_empty(&to))
                        && !under(&to, &from);
                    if ok_target {
                        touched_paths.push(from.clone());
                        touched_paths.push(to.clone());
                        if fs.rename_path(from.as_bytes(), to.as_bytes(), now).is_ok() {
                            m.dirs.retain(|d| *d != to);
                            let re = |p: &str| format!("{to}{}", &p[from.len()..]);
                            for d in m.dirs.iter_mut() {
                                if under(d, &from) {
                                    *d = re(d);
                                }
                            }
                            let files: Vec<(String, u32)> =
                                m.files.iter().map(|(p, i)| (p.clone(), *i)).collect();
                            m.files.clear();
                            for (p, i) in files {
                                let p = if under(&p, &from) { re(&p) } else { p };
                                m.files.insert(p, i);
                            }
                        }
                    }
                }
            }
            // Unlink.
            59..=66 => {
                if let Some((p, ino)) = m.pick_file(&mut rng) {
                    touched_paths.push(p.clone());
                    let (dir, nm) = fs.resolve_parent(p.as_bytes()).expect("parent");
                    if fs.unlink(dir, nm, now).is_ok() {
                        m.files.remove(&p);
                        if !m.files.values().any(|&i| i == ino) {
                            m.data.remove(&ino);
                        }
                    }
                }
            }
            // mkdir.
            67..=74 => {
                let p = format!("{}/{}", m.pick_dir(&mut rng), name(&mut rng, false));
                if !m.exists(&p) && p.matches('/').count() <= 3 {
                    touched_paths.push(p.clone());
                    if fs.mkdir_path(p.as_bytes(), 0o755, now).is_ok() {
                        m.dirs.push(p);
                    }
                }
            }
            // rmdir (of an empty directory).
            75..=79 => {
                if m.dirs.len() > 1 {
                    let p = m.dirs[1 + rng.below(m.dirs.len() - 1)].clone();
                    if m.dir_empty(&p) {
                        touched_paths.push(p.clone());
                        let (dir, nm) = fs.resolve_parent(p.as_bytes()).expect("parent");
                        if fs.rmdir(dir, nm, now).is_ok() {
                            m.dirs.retain(|d| *d != p);
                        }
                    }
                }
            }
            // Hard link.
            80..=84 => {
                if let Some((from, ino)) = m.pick_file(&mut rng) {
                    let to = format!("{}/{}", m.pick_dir(&mut rng), name(&mut rng, true));
                    if !m.exists(&to) && fs.link_path(from.as_bytes(), to.as_bytes(), now).is_ok() {
                        m.files.insert(to, ino);
                    }
                }
            }
            // fsync a file.
            85..=96 => {
                if let Some((p, ino)) = m.pick_file(&mut rng)
                    && fs.fsync(ino).is_ok()
                {
                    synced.push(Synced {
                        path: p,
                        data: m.data[&ino].clone(),
                        at: dev.pos(),
                        until: usize::MAX,
                    });
                }
            }
            // sync everything.
            _ => {
                fs.sync().expect("sync");
            }
        }
        for s in synced.iter_mut().filter(|s| s.until == usize::MAX) {
            let hit = touched_paths.iter().any(|t| under(&s.path, t))
                || touched_ino.is_some_and(|i| m.files.get(&s.path) == Some(&i));
            if hit {
                s.until = at;
            }
        }
        if let Some(w) = fs.take_inconsistency() {
            panic!("seed {seed}: the file system found an inconsistency: {w}");
        }
    }
    // The end of the workload is a cut too: nothing more is written.
    drop(fs);
    let ops = dev.0.borrow().ops.clone();
    (base, ops, synced)
}

fn run(ordered: bool, seeds: usize, per_epoch: usize) -> Tally {
    let mut tally = Tally::default();
    for seed in 0..seeds as u64 {
        let (base, ops, synced) = run_workload(seed, ordered);
        let mut rng = Rng::new(seed ^ 0x5eed);
        crash_states(&base, &ops, per_epoch, &mut rng, |state| {
            let o = examine(&state, &synced);
            tally.add(&state, &synced, &o);
        });
    }
    tally
}

#[test]
fn power_cuts_need_at_most_a_leak_repair_and_keep_fsynced_files() {
    let seeds = env("MFS_POWERCUT_SEEDS", 16);
    let per_epoch = env("MFS_POWERCUT_PER_EPOCH", 3);
    let t = run(true, seeds, per_epoch);
    println!("{}", t.summary("write ordering on"));
    assert!(t.states >= 1000, "too few crash states: {}", t.states);
    assert!(t.synced_checked > 0, "no fsync'd file was ever checked");
    assert_eq!(t.damaged, 0, "{}", t.summary("write ordering on"));
    assert_eq!(t.repair_failed, 0, "{}", t.summary("write ordering on"));
    assert_eq!(t.lost, 0, "{}", t.summary("write ordering on"));
}

#[test]
fn negative_control_without_ordering_the_harness_sees_damage() {
    let seeds = env("MFS_POWERCUT_SEEDS", 16).min(6);
    let per_epoch = env("MFS_POWERCUT_PER_EPOCH", 3);
    let t = run(false, seeds, per_epoch);
    println!("{}", t.summary("write ordering off"));
    assert!(
        t.damaged > 0,
        "without ordering no state was damaged beyond leaks: {}",
        t.summary("write ordering off")
    );
    assert!(
        t.lost > 0 || t.repair_failed > 0 || t.damaged > 0,
        "{}",
        t.summary("write ordering off")
    );
}

/// The seam at work: a create records its inode's block before the
/// directory block that names it; with ordering off nothing is recorded.
#[test]
fn a_create_orders_the_inode_before_the_name() {
    for ordered in [true, false] {
        let mut o = MkfsOptions::for_version(Version::V3, 512);
        o.block_size = 1024;
        let img = mkfs_to_vec(&o).expect("mkfs");
        let dev = mfs::mkfs::VecDevice::new(img);
        let mut fs =
            FileSystem::mount_device(Box::new(dev), 64, MountOptions::default()).expect("mount");
        fs.set_write_ordering(ordered).unwrap();
        let ino = fs.create(1, b"f", 0o644, 0, 0, 1).unwrap();
        let g = *fs.geometry();
        let iblk = u64::from(g.inode_location(ino).0);
        let dblk = u64::from(fs.zone_of(1, 0).unwrap());
        let c = fs.io().cache().order_constraints(mfs::cache::FS_DEV);
        assert_eq!(c.contains(&(iblk, dblk)), ordered, "{c:?}");
        assert_eq!(c.is_empty(), !ordered, "{c:?}");
        // No cycle: nothing was written early.
        assert_eq!(fs.io().cache().counters().order_flushes, 0);
        fs.sync().unwrap();
        assert!(
            fs.io()
                .cache()
                .order_constraints(mfs::cache::FS_DEV)
                .is_empty()
        );
    }
}
