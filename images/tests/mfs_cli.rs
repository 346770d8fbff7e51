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

// ---- commands through the file-system core ---------------------------------

fn ok(args: &[&str]) -> String {
    let o = mfs(args);
    assert!(
        o.status.success(),
        "mfs {args:?} failed ({:?}): {}",
        o.status.code(),
        text(&o.stderr)
    );
    assert!(
        o.stderr.is_empty(),
        "mfs {args:?} wrote to stderr: {}",
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// Fails with exactly one `mfs: IMAGE: ...` line on stderr; returns it.
fn fails(args: &[&str], image: &Path) -> String {
    let o = mfs(args);
    assert!(!o.status.success(), "mfs {args:?} succeeded");
    assert_ne!(
        o.status.code(),
        Some(101),
        "mfs {args:?} panicked: {}",
        text(&o.stderr)
    );
    let err = text(&o.stderr);
    assert_eq!(err.lines().count(), 1, "mfs {args:?}: {err}");
    assert!(
        err.starts_with(&format!("mfs: {}: ", image.display())),
        "{err}"
    );
    err
}

fn util_linux() -> bool {
    let ok =
        Path::new("/usr/sbin/fsck.minix").exists() && Path::new("/usr/sbin/mkfs.minix").exists();
    if !ok {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but util-linux mkfs.minix/fsck.minix is missing"
        );
        eprintln!("skipping util-linux part: mkfs.minix/fsck.minix not installed");
    }
    ok
}

fn fsck_minix(p: &Path) -> (i32, String) {
    let o = Command::new("/usr/sbin/fsck.minix")
        .arg("-f")
        .arg(p)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        format!("{}{}", text(&o.stdout), text(&o.stderr)),
    )
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// mkdir, put (one file needing double-indirect zones), ln -s, ln, then
/// read everything back and check with both checkers.
fn fill_and_check(dir: &tempfile::TempDir, img: &Path, label: &str) {
    let big = pattern(600_000, 7);
    let small = b"small file\n".to_vec();
    let hb = dir.path().join("big.bin");
    let hs = dir.path().join("small.txt");
    std::fs::write(&hb, &big).unwrap();
    std::fs::write(&hs, &small).unwrap();
    ok(&["mkdir", s(img), "/d"]);
    ok(&["mkdir", s(img), "/d/e"]);
    ok(&["put", s(img), s(&hb), "/d/e/big"]);
    ok(&["put", s(img), s(&hs), "/d"]); // into a directory: keeps the name
    ok(&["ln", "-s", s(img), "e/big", "/d/to-big"]);
    ok(&["ln", s(img), "/d/small.txt", "/hard"]);
    let listing = ok(&["ls", s(img), "/d"]);
    assert_eq!(listing, "e\nsmall.txt\nto-big\n", "{label}");
    ok(&["ln", "-s", s(img), "d/e", "/dir-link"]);
    assert_eq!(ok(&["ls", s(img), "/dir-link"]), "big\n", "{label}");
    let l = ok(&["ls", "-l", s(img), "/dir-link"]);
    assert!(
        l.starts_with("lrwxrwxrwx") && l.trim_end().ends_with("/dir-link -> d/e"),
        "{label}: {l}"
    );
    let out = dir.path().join("back.bin");
    ok(&["get", s(img), "/d/to-big", s(&out)]);
    assert!(
        std::fs::read(&out).unwrap() == big,
        "{label}: big file differs"
    );
    assert_eq!(
        ok(&["cat", s(img), "/hard"]).as_bytes(),
        &small[..],
        "{label}"
    );
    let st = ok(&["stat", s(img), "/hard"]);
    assert!(
        st.contains("Links: 2") && st.contains("Size: 11"),
        "{label}: {st}"
    );
    let o = mfs(&["fsck", s(img)]);
    assert_eq!(o.status.code(), Some(0), "{label}: {}", text(&o.stdout));
    // fsck.minix reads only 1 KiB-block images.
    if superblock(img).block_size == 1024 && util_linux() {
        let (code, out) = fsck_minix(img);
        assert_eq!(code, 0, "{label}: fsck.minix: {out}");
    }
}

#[test]
fn our_images_filled_by_the_tool_pass_fsck_minix() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--version", "1", "--namelen", "14"][..],
        &["--version", "1", "--namelen", "30"][..],
        &["--version", "2", "--namelen", "14"][..],
        &["--version", "2", "--namelen", "30"][..],
        &["--version", "3", "--block-size", "1024"][..],
        &["--version", "3"][..],
    ] {
        let p = img_path(&dir, "fill.img");
        let _ = std::fs::remove_file(&p);
        let mut a = vec!["mkfs"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["--size", "8M", s(&p)]);
        ok(&a);
        fill_and_check(&dir, &p, &format!("{args:?}"));
    }
}

#[test]
fn util_linux_images_filled_by_the_tool_pass_fsck_minix() {
    if !util_linux() {
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
        let p = img_path(&dir, "ul.img");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(8 << 20).unwrap();
        drop(f);
        let o = Command::new("/usr/sbin/mkfs.minix")
            .args(flags)
            .arg(&p)
            .output()
            .unwrap();
        assert!(o.status.success(), "{flags:?}");
        assert_eq!(
            ok(&["ls", s(&p), "/"]),
            "",
            "{flags:?}: fresh root lists empty"
        );
        fill_and_check(&dir, &p, &format!("mkfs.minix {flags:?}"));
    }
}

#[test]
fn rm_mv_and_listing() {
    let dir = tempfile::tempdir().unwrap();
    let p = img_path(&dir, "e.img");
    ok(&["mkfs", "--size", "4M", s(&p)]);
    let h = dir.path().join("f.txt");
    std::fs::write(&h, b"x").unwrap();
    ok(&["mkdir", s(&p), "/a"]);
    ok(&["mkdir", s(&p), "/a/b"]);
    ok(&["put", s(&p), s(&h), "/a/b/f"]);
    ok(&["mkdir", s(&p), "/c"]);
    ok(&["mv", s(&p), "/a/b", "/c"]); // into a directory
    assert_eq!(ok(&["ls", s(&p), "/c/b"]), "f\n");
    ok(&["mv", s(&p), "/c/b/f", "/c/g"]); // plain rename
    assert_eq!(ok(&["ls", s(&p), "/c"]), "b\ng\n");
    let long = ok(&["ls", "-l", s(&p), "/c"]);
    let lines: Vec<_> = long.lines().collect();
    assert_eq!(lines.len(), 2, "{long}");
    assert!(
        lines[0].starts_with("drwxr-xr-x   2 ") && lines[0].ends_with(" b"),
        "{long}"
    );
    assert!(
        lines[1].starts_with("-rw-") && lines[1].ends_with(" g"),
        "{long}"
    );
    fails(&["rm", s(&p), "/c"], &p); // a directory without -r
    ok(&["rm", "-r", s(&p), "/c"]);
    ok(&["rm", "-r", s(&p), "/a"]);
    assert_eq!(ok(&["ls", s(&p), "/"]), "");
    let df = ok(&["df", s(&p)]);
    assert!(
        df.contains("MINIX V3, 4096-byte blocks")
            && df.contains("inodes: 2048 total, 1 used, 2047 free"),
        "{df}"
    );
    assert_eq!(mfs(&["fsck", s(&p)]).status.code(), Some(0));
}

#[test]
fn errors_are_one_line_naming_image_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let p = img_path(&dir, "e.img");
    ok(&["mkfs", "--size", "2M", s(&p)]);
    let h = dir.path().join("f.txt");
    std::fs::write(&h, b"x").unwrap();
    ok(&["mkdir", s(&p), "/d"]);
    let e = fails(&["cat", s(&p), "/nope"], &p);
    assert!(e.contains("/nope: ") && e.contains("ENOENT"), "{e}");
    let e = fails(&["cat", s(&p), "/d"], &p);
    assert!(e.contains("EISDIR"), "{e}");
    fails(&["put", s(&p), s(&h), "/missing/dir/f"], &p);
    let e = fails(&["mkdir", s(&p), "/d"], &p);
    assert!(e.contains("EEXIST"), "{e}");
    fails(&["mv", s(&p), "/d", "/d/inside"], &p);
    fails(&["ln", s(&p), "/d", "/dlink"], &p); // hard link to a directory
    fails(&["get", s(&p), "/nope", s(&dir.path().join("out"))], &p);
    fails(&["stat", s(&p), "/nope"], &p);
    fails(&["ls", s(&p), "/nope"], &p);
    let long = "n".repeat(61);
    let e = fails(&["mkdir", s(&p), &format!("/{long}")], &p);
    assert!(e.contains("ENAMETOOLONG"), "{e}");
    // The image is still consistent after all the failures.
    assert_eq!(mfs(&["fsck", s(&p)]).status.code(), Some(0));

    // Out of space: the errno comes through, the image stays consistent.
    let tiny = img_path(&dir, "tiny.img");
    ok(&["mkfs", "--version", "2", "--blocks", "128", s(&tiny)]);
    let big = dir.path().join("big.bin");
    std::fs::write(&big, pattern(200_000, 5)).unwrap();
    let e = fails(&["put", s(&tiny), s(&big), "/big"], &tiny);
    assert!(e.contains("/big: ") && e.contains("ENOSPC"), "{e}");
    assert_eq!(mfs(&["fsck", s(&tiny)]).status.code(), Some(0));
}

#[test]
fn corrupt_and_foreign_images_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let junk = img_path(&dir, "junk.img");
    std::fs::write(&junk, pattern(1 << 20, 3)).unwrap();
    let h = dir.path().join("f.txt");
    std::fs::write(&h, b"x").unwrap();
    let out = dir.path().join("out");
    let cmds: Vec<Vec<&str>> = vec![
        vec!["ls", "-l", "IMG", "/"],
        vec!["cat", "IMG", "/f"],
        vec!["stat", "IMG", "/"],
        vec!["df", "IMG"],
        vec!["get", "IMG", "/f", s(&out)],
        vec!["put", "IMG", s(&h), "/g"],
        vec!["mkdir", "IMG", "/m"],
        vec!["rm", "-r", "IMG", "/d"],
    ];
    for c in &cmds {
        let a: Vec<&str> = c
            .iter()
            .map(|x| if *x == "IMG" { s(&junk) } else { x })
            .collect();
        fails(&a, &junk);
    }
    // A real image with its metadata scrambled: errors or output, no panic.
    for seed in 0..8u32 {
        let p = img_path(&dir, "c.img");
        let _ = std::fs::remove_file(&p);
        ok(&["mkfs", "--version", "2", "--blocks", "1024", s(&p)]);
        ok(&["mkdir", s(&p), "/d"]);
        ok(&["put", s(&p), s(&h), "/d/f"]);
        let mut data = std::fs::read(&p).unwrap();
        let noise = pattern(64, seed + 100);
        for (i, b) in noise.iter().enumerate() {
            let at = 2048 + (usize::from(*b) * 37 + i * 211) % (30 * 1024);
            data[at] ^= b | 1;
        }
        std::fs::write(&p, &data).unwrap();
        for c in &cmds {
            let a: Vec<&str> = c
                .iter()
                .map(|x| if *x == "IMG" { s(&p) } else { x })
                .collect();
            let o = mfs(&a);
            assert_ne!(
                o.status.code(),
                Some(101),
                "seed {seed} {a:?} panicked: {}",
                text(&o.stderr)
            );
            assert!(o.status.code().is_some(), "killed by a signal");
        }
        let o = mfs(&["fsck", "--repair", s(&p)]);
        assert!(
            matches!(o.status.code(), Some(0 | 1 | 4 | 8)),
            "seed {seed}: {:?}",
            o.status
        );
    }
}

#[test]
fn mkfs_from_a_host_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sub/deep")).unwrap();
    std::fs::write(src.join("a"), b"alpha\n").unwrap();
    std::fs::set_permissions(src.join("a"), std::fs::Permissions::from_mode(0o4750)).unwrap();
    let big = pattern(300_000, 9);
    std::fs::write(src.join("sub/big"), &big).unwrap();
    std::os::unix::fs::symlink("../a", src.join("sub/lnk")).unwrap();
    std::fs::hard_link(src.join("a"), src.join("hard")).unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(981_173_106);
    std::fs::File::options()
        .write(true)
        .open(src.join("sub/big"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    // Directory times too (set last: creating entries changes them).
    let older = std::time::UNIX_EPOCH + std::time::Duration::from_secs(946_684_800);
    for d in [src.join("sub"), src.clone()] {
        std::fs::File::open(&d)
            .unwrap()
            .set_modified(older)
            .unwrap();
    }
    let p = img_path(&dir, "from.img");
    ok(&[
        "mkfs",
        "--version",
        "3",
        "--block-size",
        "1024",
        "--from",
        s(&src),
        "--size",
        "4M",
        s(&p),
    ]);
    assert_eq!(ok(&["ls", s(&p), "/"]), "a\nhard\nsub\n");
    assert_eq!(ok(&["ls", s(&p), "/sub"]), "big\ndeep\nlnk\n");
    assert_eq!(ok(&["cat", s(&p), "/sub/lnk"]), "alpha\n");
    let st = ok(&["stat", s(&p), "/a"]);
    assert!(
        st.contains("(4750/-rwsr-x---)") && st.contains("Links: 2"),
        "{st}"
    );
    let st = ok(&["stat", s(&p), "/sub/big"]);
    assert!(st.contains("Modify: 2001-02-03 04:05:06"), "{st}");
    for d in ["/sub", "/"] {
        let st = ok(&["stat", s(&p), d]);
        assert!(st.contains("Modify: 2000-01-01 00:00:00"), "{d}: {st}");
    }
    let out = dir.path().join("big.out");
    ok(&["get", s(&p), "/sub/big", s(&out)]);
    assert!(std::fs::read(&out).unwrap() == big);
    assert_eq!(mfs(&["fsck", s(&p)]).status.code(), Some(0));
    if util_linux() {
        let (code, o) = fsck_minix(&p);
        assert_eq!(code, 0, "{o}");
    }
    // Too small for the tree: a clean error, no panic.
    let q = img_path(&dir, "small.img");
    let e = fails(
        &[
            "mkfs",
            "--from",
            s(&src),
            "--blocks",
            "64",
            "--block-size",
            "1024",
            s(&q),
        ],
        &q,
    );
    assert!(e.contains("ENOSPC"), "{e}");
}

#[test]
fn mkfs_from_a_proto_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(50_000, 11);
    let host = dir.path().join("payload");
    std::fs::write(&host, &data).unwrap();
    let proto = dir.path().join("p.proto");
    std::fs::write(
        &proto,
        format!(
            "boot\n2000 100\nd--755 0 0\n  bin d--755 2 3\n    payload -u-711 0 0 {}\n  $\n  dev d--755 0 0\n    tty c--666 0 0 4 1\n    hd b--600 0 0 3 0 100\n    fifo p--644 0 0\n  $\n  lnk s--777 0 0 bin/payload\n  a-name-longer-than-fourteen ---644 0 0 {}\n$\n",
            host.display(),
            host.display()
        ),
    )
    .unwrap();
    let p = img_path(&dir, "proto.img");
    ok(&[
        "mkfs",
        "--version",
        "2",
        "--namelen",
        "14",
        "--proto",
        s(&proto),
        "--blocks",
        "4000",
        s(&p),
    ]);
    // The proto's inode count applies.
    let sb = superblock(&p);
    assert_eq!(sb.ninodes, 100);
    assert_eq!(
        ok(&["ls", s(&p), "/"]),
        "a-name-longer-\nbin\ndev\nlnk\n",
        "names truncated to 14 as MINIX does"
    );
    let l = ok(&["ls", "-l", s(&p), "/dev"]);
    assert!(
        l.contains("crw-rw-rw-")
            && l.contains("4, 1 ")
            && l.contains("brw-------")
            && l.contains("prw-r--r--"),
        "{l}"
    );
    let st = ok(&["stat", s(&p), "/bin/payload"]);
    assert!(st.contains("(4711/-rws--x--x)"), "{st}");
    let st = ok(&["stat", s(&p), "/bin"]);
    assert!(st.contains("Uid: 2  Gid: 3"), "{st}");
    let out = dir.path().join("o");
    ok(&["get", s(&p), "/lnk", s(&out)]);
    assert!(std::fs::read(&out).unwrap() == data);
    assert_eq!(mfs(&["fsck", s(&p)]).status.code(), Some(0));
    if util_linux() {
        let (code, o) = fsck_minix(&p);
        assert_eq!(code, 0, "{o}");
    }
    // Proto asks for more blocks than given.
    let q = img_path(&dir, "q.img");
    let e = fails(
        &[
            "mkfs",
            "--proto",
            s(&proto),
            "--blocks",
            "100",
            "--block-size",
            "1024",
            s(&q),
        ],
        &q,
    );
    assert!(e.contains("2000 blocks"), "{e}");
    // Syntax error names the line.
    std::fs::write(&proto, "boot\n10 10\nd--755 0 0\n x q--755 0 0\n$\n").unwrap();
    let e = fails(
        &["mkfs", "--proto", s(&proto), "--blocks", "100", s(&q)],
        &q,
    );
    assert!(e.contains("line 4"), "{e}");
}
