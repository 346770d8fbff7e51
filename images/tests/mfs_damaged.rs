//! Issue 14: writes through the `mfs` tool never make a damaged image worse.
//! A damaged image is refused (unless `--force`); with `--force` the core
//! goes read-only at the first inconsistency and fails the write with EIO,
//! so `mfs fsck` finds no more errors than the damage itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mfs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mfs"))
        .args(args)
        .output()
        .expect("spawn mfs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The set-up: src/a.txt, src/d/e/file_1..40, src/d/mid.bin, n.bin.
fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("d/e")).unwrap();
    std::fs::write(src.join("a.txt"), b"hello\n").unwrap();
    for i in 1..=40 {
        std::fs::write(src.join(format!("d/e/file_{i}")), format!("{i}\n")).unwrap();
    }
    let noise = |len: usize, seed: u32| -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect()
    };
    std::fs::write(src.join("d/mid.bin"), noise(300_000, 1)).unwrap();
    let n = dir.join("n.bin");
    std::fs::write(&n, noise(20_000, 2)).unwrap();
    (src, n)
}

fn mkfs(img: &Path, src: &Path, extra: &[&str]) {
    let mut args = vec!["mkfs"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--size", "4M", "--from", s(src), s(img)]);
    let o = mfs(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// `mfs fsck` error count (0 when clean).
fn fsck_errors(img: &Path) -> usize {
    let o = mfs(&["fsck", s(img)]);
    let out = text(&o.stdout);
    match o.status.code() {
        Some(0) => 0,
        Some(4) => {
            let last = out.lines().last().unwrap_or("");
            last.rsplit(": ")
                .next()
                .and_then(|t| t.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no error count in {last:?}"))
        }
        c => panic!("fsck exit {c:?}: {out}"),
    }
}

fn patch(img: &Path, off: u64, f: impl FnOnce(&mut [u8])) {
    let mut d = std::fs::read(img).unwrap();
    f(&mut d[off as usize..]);
    std::fs::write(img, d).unwrap();
}

/// Refused without `--force`: fails, says why, leaves the image as it was.
fn refused(args: &[&str], img: &Path) {
    let before = std::fs::read(img).unwrap();
    let o = mfs(args);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "mfs {args:?}: {err}");
    assert!(err.contains("refusing to modify"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert!(
        std::fs::read(img).unwrap() == before,
        "mfs {args:?} changed the image"
    );
}

/// With `--force`: fails with EIO, names the inconsistency.
fn contained(args: &[&str]) {
    let o = mfs(args);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "mfs {args:?}: {err}");
    assert!(err.contains("EIO"), "{err}");
    assert!(err.contains("inconsistent"), "{err}");
}

#[test]
fn zeroed_zone_bitmap_put_never_overwrites_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let (src, n) = setup(dir.path());
    let img = dir.path().join("z.img");
    mkfs(&img, &src, &["--version", "2"]);
    patch(&img, 3 * 1024, |d| d[..1024].fill(0));
    let errors = fsck_errors(&img);
    assert!(errors > 0);

    refused(&["put", s(&img), s(&n), "/n"], &img);
    assert_eq!(fsck_errors(&img), errors);

    contained(&["put", "--force", s(&img), s(&n), "/n"]);
    assert!(fsck_errors(&img) <= errors, "put --force added fsck errors");
    let o = mfs(&["ls", s(&img), "/"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for name in text(&o.stdout).lines() {
        assert!(["a.txt", "d"].contains(&name), "root lists {name:?}");
    }
    let o = mfs(&["cat", s(&img), "/a.txt"]);
    assert_eq!(text(&o.stdout), "hello\n");
}

#[test]
fn cleared_inode_bit_put_and_mkdir_never_reuse_a_live_inode() {
    for cmd in ["put", "mkdir"] {
        let dir = tempfile::tempdir().unwrap();
        let (src, n) = setup(dir.path());
        let img = dir.path().join("i.img");
        mkfs(&img, &src, &["--version", "3", "--block-size", "1024"]);
        // Inode 2 (/a.txt) marked free in the inode bitmap (block 2).
        patch(&img, 2048, |d| d[0] &= !4);
        let errors = fsck_errors(&img);
        assert!(errors > 0);
        let args: Vec<&str> = if cmd == "put" {
            vec!["put", s(&img), s(&n), "/n"]
        } else {
            vec!["mkdir", s(&img), "/x"]
        };
        refused(&args, &img);
        let mut forced = args.clone();
        forced.insert(1, "--force");
        contained(&forced);
        let o = mfs(&["cat", s(&img), "/a.txt"]);
        assert!(o.status.success(), "{cmd}: {}", text(&o.stderr));
        assert_eq!(text(&o.stdout), "hello\n", "{cmd} changed /a.txt");
        assert!(
            fsck_errors(&img) <= errors,
            "{cmd} --force added fsck errors"
        );
        // Unclean now: even a harmless write is refused without --force.
        refused(&["mkdir", s(&img), "/y"], &img);
    }
}

/// The inode number `mfs stat` prints for `path`.
fn ino(img: &Path, path: &str) -> u64 {
    let o = mfs(&["stat", s(img), path]);
    let out = text(&o.stdout);
    let i = out.find("Inode: ").expect("inode line") + 7;
    out[i..].split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn file_sharing_a_directory_block_rm_and_put_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (src, n) = setup(dir.path());
    let img = dir.path().join("v2.img");
    mkfs(&img, &src, &["--version", "2"]);
    let (file, d) = (ino(&img, "/d/mid.bin"), ino(&img, "/d/e"));
    // V2 superblock: imap blocks at 4, zmap blocks at 6 (u16); inode
    // table after them, 64-byte inodes, zone[0] at offset 24.
    let data = std::fs::read(&img).unwrap();
    let u16at = |o: usize| u64::from(u16::from_le_bytes([data[o], data[o + 1]]));
    let table = (2 + u16at(1024 + 4) + u16at(1024 + 6)) * 1024;
    let zone_of = |i: u64| table + (i - 1) * 64 + 24;
    let dz = zone_of(d) as usize;
    let dir_zone = data[dz..dz + 4].to_vec();
    patch(&img, zone_of(file), |b| b[..4].copy_from_slice(&dir_zone));
    let errors = fsck_errors(&img);
    assert!(errors > 0);

    refused(&["rm", s(&img), "/d/mid.bin"], &img);
    refused(&["put", s(&img), s(&n), "/n"], &img);
    assert_eq!(fsck_errors(&img), errors);
    let o = mfs(&["ls", s(&img), "/d/e"]);
    assert_eq!(text(&o.stdout).lines().count(), 40, "{}", text(&o.stderr));
}
