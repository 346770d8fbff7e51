//! End-to-end tests of the `mfs` binary: exit codes, output and the
//! one-line error format, by spawning the built executable.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mfs::format::{self, SUPER_AREA, SUPER_OFFSET, SuperBlock, Version};

fn mfs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mfs"))
        .args(args)
        .output()
        .expect("spawn mfs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn img_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn superblock(p: &Path) -> SuperBlock {
    let data = std::fs::read(p).unwrap();
    SuperBlock::parse(&data[SUPER_OFFSET..SUPER_OFFSET + SUPER_AREA]).unwrap()
}

#[test]
fn mkfs_defaults_are_minix_v3_4k() {
    let dir = tempfile::tempdir().unwrap();
    let p = img_path(&dir, "d.img");
    let o = mfs(&["mkfs", "--size", "8M", s(&p)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 8 << 20);
    let sb = superblock(&p);
    assert_eq!(sb.version, Version::V3);
    assert_eq!(sb.block_size, 4096);
    // MINIX rule: 8192 KiB / 2 = 4096 inodes.
    assert_eq!(sb.ninodes, 4096);
    assert_eq!(sb.zones, 2048);
    let o = mfs(&["fsck", s(&p)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("clean"));
}

#[test]
fn mkfs_every_version_and_option() {
    let dir = tempfile::tempdir().unwrap();
    for (args, v, name_len, bs) in [
        (
            &["--version", "1", "--namelen", "14"][..],
            Version::V1,
            14,
            1024,
        ),
        (&["--version", "1"][..], Version::V1, 30, 1024),
        (
            &["--version", "2", "--namelen", "14"][..],
            Version::V2,
            14,
            1024,
        ),
        (
            &["--version", "2", "--namelen", "30"][..],
            Version::V2,
            30,
            1024,
        ),
        (
            &["--version", "3", "--block-size", "1024"][..],
            Version::V3,
            60,
            1024,
        ),
        (&["--block-size", "8192"][..], Version::V3, 60, 8192),
    ] {
        let p = img_path(&dir, "v.img");
        let _ = std::fs::remove_file(&p);
        let mut a = vec!["mkfs"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["--blocks", "3000", "--inodes", "200", s(&p)]);
        let o = mfs(&a);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
        let sb = superblock(&p);
        assert_eq!(sb.version, v);
        assert_eq!(sb.block_size, bs);
        assert_eq!(sb.zones, 3000);
        let ipb = bs / if v == Version::V1 { 32 } else { 64 };
        assert!(
            sb.ninodes >= 200 && sb.ninodes < 200 + ipb,
            "{}",
            sb.ninodes
        );
        assert_eq!(sb.geometry().name_len as usize, name_len);
        let o = mfs(&["fsck", s(&p)]);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stdout));
    }
}

#[test]
fn mkfs_refuses_bad_requests_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = img_path(&dir, "bad.img");
    for args in [
        &["--version", "1", "--block-size", "4096", "--blocks", "100"][..],
        &["--block-size", "3000", "--blocks", "100"][..],
        &["--version", "3", "--namelen", "14", "--blocks", "100"][..],
        &["--version", "2", "--namelen", "20", "--blocks", "1000"][..],
        &["--version", "1", "--blocks", "100000"][..],
        &["--blocks", "4"][..],
    ] {
        let mut a = vec!["mkfs"];
        a.extend_from_slice(args);
        a.push(s(&p));
        let o = mfs(&a);
        assert!(!o.status.success(), "{args:?} accepted");
        let err = text(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with(&format!("mfs: {}: ", p.display())), "{err}");
    }
    // Size is required; usage errors exit 2.
    let o = mfs(&["mkfs", s(&p)]);
    assert_eq!(o.status.code(), Some(2));
    let o = mfs(&["mkfs", "--version", "4", "--blocks", "100", s(&p)]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn help_mentions_name_length_option() {
    let o = mfs(&["mkfs", "--help"]);
    assert!(o.status.success());
    let h = text(&o.stdout);
    for opt in [
        "--version",
        "--namelen",
        "--block-size",
        "--inodes",
        "--size",
        "--blocks",
    ] {
        assert!(h.contains(opt), "{opt} missing from help:\n{h}");
    }
}

#[test]
fn fsck_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let p = img_path(&dir, "f.img");
    let o = mfs(&["mkfs", "--version", "2", "--blocks", "2048", s(&p)]);
    assert!(o.status.success());
    // An extra zone bit: "marked in use, no file uses it".
    let sb = superblock(&p);
    let g = sb.geometry();
    let mut data = std::fs::read(&p).unwrap();
    let zmap = g.zmap_start as usize * 1024;
    format::bit_set(&mut data[zmap..zmap + 1024], 5, true);
    std::fs::write(&p, &data).unwrap();

    let o = mfs(&["fsck", s(&p)]);
    assert_eq!(o.status.code(), Some(4));
    let out = text(&o.stdout);
    assert!(
        out.contains("zone-bitmap") && out.contains("no file uses it"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&p).unwrap(),
        data,
        "check-only must not write"
    );

    let o = mfs(&["fsck", "--repair", s(&p)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("(repaired)"));
    let o = mfs(&["fsck", s(&p)]);
    assert_eq!(o.status.code(), Some(0));

    // Not a MINIX image: could not check.
    let junk = img_path(&dir, "junk.img");
    std::fs::write(&junk, vec![0x5au8; 100_000]).unwrap();
    let o = mfs(&["fsck", s(&junk)]);
    assert_eq!(o.status.code(), Some(8));
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1);
    assert!(
        err.starts_with(&format!("mfs: {}: ", junk.display())) && err.contains("magic"),
        "{err}"
    );

    // Missing file: could not check either.
    let o = mfs(&["fsck", s(&img_path(&dir, "none.img"))]);
    assert_eq!(o.status.code(), Some(8));
    assert!(text(&o.stderr).starts_with("mfs: "));
}
