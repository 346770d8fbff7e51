//! The file-system core on file-backed images (libbdev FileDriver under the
//! libminixfs cache): images made by util-linux `mkfs.minix` (V1/V2 with 14-
//! and 30-char names, V3) and by our mkfs with 1 KiB blocks get a workload
//! of every operation — deep directories, files needing double-indirect (and
//! on V2/V3 triple-indirect) zones, holes, truncates, hard and symbolic
//! links, device nodes, renames, removals — and then pass util-linux
//! `fsck.minix -f` (read-only) and read back identically after a remount.
//! Under CI=true missing util-linux tools fail the test.

mod mfs_common;

use std::path::Path;

use libbdev::file::FileDriver;
use mfs::format::{ROOT_INO, Version, mode};
use mfs::mkfs::{MkfsOptions, mkfs_to_vec};
use mfs::{CachedDevice, FileSystem, MountOptions};
use mfs_common::{fsck_minix, have_util_linux, mkfs_minix};

type Fs = FileSystem<CachedDevice>;

fn mount(p: &Path) -> Fs {
    let dev = Box::new(FileDriver::open(p).expect("open image"));
    // util-linux V3 superblocks have no clean flag (MINIX's s_flags is 0):
    // such a fresh image reads as unclean, so force read-write.
    let opts = MountOptions {
        read_only: false,
        force_rw_unclean: true,
    };
    FileSystem::mount_device(dev, 256, opts).expect("mount")
}

fn unmount(fs: Fs) {
    let io = fs.unmount().expect("unmount");
    drop(io.into_parts().expect("detach"));
}

fn pat(len: usize, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

/// Runs the workload; returns (path, expected contents) of surviving files.
fn workload(fs: &mut Fs) -> Vec<(String, Vec<u8>)> {
    let now = 1_700_000_000;
    let v = fs.geometry().version;
    let mut files = Vec::new();
    fs.mkdir_path(b"/d1", 0o755, now).unwrap();
    fs.mkdir_path(b"/d1/d2", 0o750, now).unwrap();
    fs.mkdir_path(b"/d1/d2/d3", 0o700, now).unwrap();
    // Double indirect on every version (V1 1 KiB: beyond 519 blocks).
    let big = pat(800 * 1024, 1);
    fs.write_path(b"/d1/d2/d3/big", &big, 0o644, now).unwrap();
    files.push(("/d1/d2/d3/big".to_string(), big.clone()));
    // A sparse file deep in the double-indirect range, and on V2/V3 (whose
    // util-linux max size is 2 GiB) beyond it, in the triple-indirect range.
    let sparse = fs.write_path(b"/sparse", b"", 0o600, now).unwrap();
    let far = if v == Version::V1 {
        200u64 << 20
    } else {
        70u64 << 20
    };
    fs.write(sparse, far, b"far away", now).unwrap();
    fs.write(sparse, 3000, b"near", now).unwrap();
    if v != Version::V1 {
        assert_ne!(fs.superblock().max_size, 0);
    }
    // Many files in one directory, half removed, some renamed across.
    fs.mkdir_path(b"/many", 0o755, now).unwrap();
    for i in 0..150u32 {
        let p = format!("/many/f{i}");
        fs.write_path(p.as_bytes(), &pat(i as usize * 37, i), 0o644, now)
            .unwrap();
    }
    for i in (0..150u32).step_by(2) {
        fs.remove_path(format!("/many/f{i}").as_bytes(), false, now)
            .unwrap();
    }
    for i in (1..150u32).step_by(10) {
        fs.rename_path(
            format!("/many/f{i}").as_bytes(),
            format!("/d1/r{i}").as_bytes(),
            now,
        )
        .unwrap();
    }
    for i in (1..150u32).step_by(2) {
        let p = if (i - 1) % 10 == 0 {
            format!("/d1/r{i}")
        } else {
            format!("/many/f{i}")
        };
        files.push((p, pat(i as usize * 37, i)));
    }
    // Truncate the big file into its single-indirect range, then regrow.
    let big_ino = fs.resolve(b"/d1/d2/d3/big", true).unwrap();
    fs.truncate(big_ino, 100 * 1024 + 5, now).unwrap();
    fs.truncate(big_ino, 120 * 1024, now).unwrap();
    let mut exp = big[..100 * 1024 + 5].to_vec();
    exp.resize(120 * 1024, 0);
    files[0].1 = exp;
    // Links, symlinks, special files, directory moves.
    fs.link_path(b"/d1/d2/d3/big", b"/hard", now).unwrap();
    fs.symlink_path(b"many/moved/d3/big", b"/soft", now)
        .unwrap();
    let dev = fs.resolve(b"/d1", true).unwrap();
    fs.mknod(dev, b"tty", mode::S_IFCHR | 0o620, 0, 0, 0x0401, now)
        .unwrap();
    fs.mknod(dev, b"fifo", mode::S_IFIFO | 0o644, 0, 0, 0, now)
        .unwrap();
    fs.rename_path(b"/d1/d2", b"/many/moved", now).unwrap();
    fs.mkdir_path(b"/empty", 0o755, now).unwrap();
    fs.mkdir_path(b"/gone", 0o755, now).unwrap();
    fs.rename_path(b"/empty", b"/gone", now).unwrap();
    fs.chmod(big_ino, 0o4755, now).unwrap();
    fs.chown(big_ino, 1000, 100, now).unwrap();
    files[0].0 = "/many/moved/d3/big".to_string();
    files.push(("/hard".to_string(), files[0].1.clone()));
    files.push(("/soft".to_string(), files[0].1.clone()));
    let mut sp = vec![0u8; far as usize + 8];
    sp[3000..3004].copy_from_slice(b"near");
    sp[far as usize..].copy_from_slice(b"far away");
    files.push(("/sparse".to_string(), sp));
    files
}

fn check_back(p: &Path, files: &[(String, Vec<u8>)]) {
    let mut fs = mount(p);
    assert!(fs.warning().is_none(), "clean after our unmount");
    for (path, data) in files {
        let got = fs
            .read_path(path.as_bytes())
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(got == *data, "{path} differs after remount");
    }
    assert_eq!(fs.stat_path(b"/hard", false).unwrap().nlinks, 2);
    assert_eq!(fs.readlink_path(b"/soft").unwrap(), b"many/moved/d3/big");
    assert_eq!(fs.stat_path(b"/d1/tty", false).unwrap().rdev, 0x0401);
    let many = fs.resolve(b"/many", true).unwrap();
    assert_eq!(fs.resolve(b"/many/moved/..", true).unwrap(), many);
    assert_eq!(
        fs.stat(ROOT_INO).unwrap().nlinks,
        5,
        "root: ., .., d1, many, gone"
    );
    unmount(fs);
}

fn run_on(p: &Path, what: &str) {
    let mut fs = mount(p);
    let files = workload(&mut fs);
    unmount(fs);
    let (code, out) = fsck_minix(p);
    assert_eq!(code, 0, "fsck.minix -f on {what}: {out}");
    check_back(p, &files);
    let (code, out) = fsck_minix(p);
    assert_eq!(code, 0, "fsck.minix -f on {what} after remount: {out}");
}

#[test]
fn core_on_util_linux_images_passes_fsck_minix() {
    if !have_util_linux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for flags in [
        &["-1", "-n", "14"][..],
        &["-1", "-n", "30"],
        &["-2", "-n", "14"],
        &["-2", "-n", "30"],
        &["-3"],
    ] {
        let p = dir.path().join("ul.img");
        mkfs_minix(&p, 16 << 20, flags);
        run_on(&p, &format!("mkfs.minix {flags:?}"));
    }
}

#[test]
fn core_on_our_1k_images_passes_fsck_minix() {
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
        let mut o = MkfsOptions::for_version(v, 16 * 1024);
        o.name_len = n;
        o.block_size = 1024;
        let p = dir.path().join("ours.img");
        std::fs::write(&p, mkfs_to_vec(&o).unwrap()).unwrap();
        run_on(&p, &format!("our mkfs {v:?}/{n}"));
    }
}

#[test]
fn core_on_our_4k_v3_image_passes_our_fsck() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v3-4k.img");
    std::fs::write(&p, mkfs_to_vec(&MkfsOptions::new(8192)).unwrap()).unwrap();
    let mut fs = mount(&p);
    let files = workload(&mut fs);
    unmount(fs);
    let report = mfs::fsck::check_bytes(&std::fs::read(&p).unwrap());
    assert_eq!(report.exit_code(), 0, "{:?}", report.findings);
    check_back(&p, &files);
}

/// A small deterministic generator (xorshift64*), so failures replay by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random operations (results ignored: errors are part of the mix) with
/// remounts; the structure must stay consistent for fsck.minix.
fn random_ops(p: &Path, seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let names: [&[u8]; 6] = [b"a", b"b", b"c", b"dd", b"eee", b"f"];
    let mut fs = mount(p);
    let mut dirs: Vec<Vec<u8>> = vec![b"".to_vec()];
    for step in 0..150u32 {
        let now = 1000 + step;
        let d = dirs[rng.below(dirs.len() as u64) as usize].clone();
        let name = names[rng.below(names.len() as u64) as usize];
        let mut path = d.clone();
        path.push(b'/');
        path.extend_from_slice(name);
        match rng.below(10) {
            0 => {
                if fs.mkdir_path(&path, 0o755, now).is_ok() {
                    dirs.push(path);
                }
            }
            1..=3 => {
                let ino = match fs.resolve(&path, false) {
                    Ok(i) => i,
                    Err(_) => match fs.write_path(&path, b"", 0o644, now) {
                        Ok(i) => i,
                        Err(_) => continue,
                    },
                };
                let off = rng.below(400 * 1024);
                let len = 1 + rng.below(20 * 1024) as usize;
                let _ = fs.write(ino, off, &pat(len, step), now);
            }
            4 => {
                if let Ok(ino) = fs.resolve(&path, false) {
                    let _ = fs.truncate(ino, rng.below(300 * 1024), now);
                }
            }
            5 => {
                let _ = fs.remove_path(&path, rng.below(2) == 0, now);
                dirs.retain(|x| !x.starts_with(&path));
                if dirs.is_empty() {
                    dirs.push(b"".to_vec());
                }
            }
            6 => {
                let to_dir = dirs[rng.below(dirs.len() as u64) as usize].clone();
                let mut to = to_dir;
                to.push(b'/');
                to.extend_from_slice(names[rng.below(names.len() as u64) as usize]);
                if fs.rename_path(&path, &to, now).is_ok() {
                    // Directory paths changed: rebuild the list from scratch.
                    dirs = vec![b"".to_vec()];
                    let mut i = 0;
                    while i < dirs.len() {
                        let base = dirs[i].clone();
                        let ino = fs
                            .resolve(if base.is_empty() { b"/" } else { &base }, true)
                            .unwrap();
                        for e in fs.read_dir(ino).unwrap() {
                            if e.name != b"." && e.name != b".." {
                                let st = fs.stat(e.ino).unwrap();
                                if st.mode & mode::S_IFMT == mode::S_IFDIR {
                                    let mut c = base.clone();
                                    c.push(b'/');
                                    c.extend_from_slice(&e.name);
                                    dirs.push(c);
                                }
                            }
                        }
                        i += 1;
                    }
                }
            }
            7 => {
                let other = names[rng.below(names.len() as u64) as usize];
                let _ = fs.link_path(&path, other, now);
                let _ = fs.symlink_path(other, &path, now);
            }
            8 => {
                let _ = fs.mknod(ROOT_INO, name, mode::S_IFIFO | 0o644, 0, 0, 0, now);
            }
            _ => {
                unmount(fs);
                fs = mount(p);
            }
        }
    }
    unmount(fs);
}

#[test]
fn random_operations_keep_images_fsck_minix_clean() {
    if !have_util_linux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for flags in [
        &["-1", "-n", "14"][..],
        &["-1", "-n", "30"],
        &["-2", "-n", "14"],
        &["-2", "-n", "30"],
        &["-3"],
    ] {
        for seed in 0..8u64 {
            let p = dir.path().join("rand.img");
            mkfs_minix(&p, 8 << 20, flags);
            random_ops(&p, seed);
            let (code, out) = fsck_minix(&p);
            assert_eq!(
                code, 0,
                "fsck.minix -f after random ops, mkfs.minix {flags:?}, seed {seed}: {out}"
            );
        }
    }
}
