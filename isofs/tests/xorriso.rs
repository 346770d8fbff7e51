//! Images made by xorriso from host trees, read back by isofs: every
//! listing, type, mode, owner, time, link target, device number and byte
//! must match the tree (Rock Ridge), or the names and bytes with the
//! default attributes (Joliet, plain ISO 9660).

mod common;

use common::*;
use isofs::{CachedBlocks, IsoFs, MemImage, MountOptions, Naming};
use libbdev::file::FileDriver;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

/// A tree using everything Rock Ridge can say.
fn posix_tree(root: &Path) {
    write(&root.join("empty"), b"", 0o644);
    write(&root.join("one.txt"), b"1", 0o600);
    for (i, n) in [2047usize, 2048, 2049, 4096, 300_001]
        .into_iter()
        .enumerate()
    {
        write(
            &root.join(format!("size{n}.bin")),
            &bytes(i as u64, n),
            0o640,
        );
    }
    write(&root.join("setuid"), b"#!/bin/sh\n", 0o4755);
    write(&root.join("sticky/x"), b"x", 0o444);
    std::fs::set_permissions(root.join("sticky"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let owned = root.join("owned.txt");
    write(&owned, b"owned", 0o664);
    std::os::unix::fs::chown(&owned, Some(1000), Some(100)).unwrap();
    std::os::unix::fs::lchown(root.join("sticky"), Some(4242), Some(77)).unwrap();
    // Long names (NM in continuation areas).
    let long: String = "long-name-".repeat(24) + "end";
    write(&root.join(&long), b"long", 0o644);
    write(&root.join("Mixed Case & spaces.TXT"), b"mixed", 0o644);
    write(&root.join("dots.in.the.name.tar.gz"), b"dots", 0o644);
    // Deep tree (more than ISO 9660's 8 levels).
    let mut d = root.to_path_buf();
    for i in 1..=12 {
        d = d.join(format!("level{i}"));
    }
    write(&d.join("deep.txt"), b"deep", 0o644);
    // Symlinks: relative, absolute, dangling, to a directory, long.
    symlink("one.txt", root.join("ln-rel")).unwrap();
    symlink("/usr/lib/../lib/libc.so", root.join("ln-abs")).unwrap();
    symlink("../nowhere/at/all", root.join("ln-dangling")).unwrap();
    symlink("level1/level2", root.join("ln-dir")).unwrap();
    symlink(
        "./a/".to_string() + &"component/".repeat(30) + "end",
        root.join("ln-long"),
    )
    .unwrap();
    symlink("/", root.join("ln-root")).unwrap();
    // Device nodes and a FIFO.
    let mk = |name: &str, args: &[&str]| {
        let p = root.join(name);
        let st = std::process::Command::new("mknod")
            .arg(&p)
            .args(args)
            .status()
            .unwrap();
        assert!(st.success());
    };
    mk("tty01", &["c", "4", "1"]);
    mk("c0d1", &["b", "3", "1"]);
    mk("fifo", &["p"]);
    // A directory over several sectors.
    for i in 0..150 {
        write(
            &root.join(format!("many/file-with-a-longish-name-{i:04}")),
            &bytes(1000 + i, i as usize * 7),
            0o644,
        );
    }
}

#[test]
fn rock_ridge_image_matches_its_tree() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    posix_tree(&src);
    let iso = t.path().join("rr.iso");
    xorriso(&["-R", "-J", "-joliet-long"], &src, &iso);
    let fs = IsoFs::mount(
        MemImage::new(std::fs::read(&iso).unwrap()),
        MountOptions::default(),
    )
    .unwrap();
    assert_eq!(fs.volume().naming, Naming::RockRidge);
    assert!(fs.volume().has_joliet);
    let mut c = Checked::default();
    compare(&fs, fs.root(), &src, Attrs::Posix, &mut c, 0);
    assert!(c.max_depth >= 12, "{c:?}");
    assert_eq!(c.links, 6);
    assert_eq!(c.devices, 2);
    assert!(c.files >= 160, "{c:?}");
    // The root is its own parent; paths resolve through links.
    assert_eq!(fs.parent(fs.root()).unwrap(), fs.root());
    let deep = fs.resolve(b"ln-dir/level3/level4/level5/level6/level7/level8/level9/level10/level11/level12/deep.txt", true).unwrap();
    assert_eq!(fs.read_all(deep).unwrap(), b"deep");
    assert_eq!(
        fs.resolve(b"/ln-rel", true).unwrap(),
        fs.resolve(b"one.txt", true).unwrap()
    );
}

/// Names Joliet and plain ISO 9660 can carry, no links or devices.
fn joliet_tree(root: &Path) {
    write(&root.join("Grüße aus Köln.txt"), b"unicode", 0o644);
    write(
        &root.join("A Fairly Long Joliet Name With Spaces, Commas.data"),
        &bytes(7, 5000),
        0o644,
    );
    write(&root.join("UPPER and lower.TxT"), b"case", 0o644);
    let mut d = root.to_path_buf();
    for i in 1..=7 {
        d = d.join(format!("Level {i}"));
        write(
            &d.join(format!("file {i}.bin")),
            &bytes(i, 3000 * i as usize),
            0o644,
        );
    }
    for i in 0..120 {
        write(
            &root.join(format!("many/entry number {i:03}.txt")),
            &bytes(i, i as usize),
            0o644,
        );
    }
}

#[test]
fn joliet_image_matches_its_tree() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    joliet_tree(&src);
    let iso = t.path().join("j.iso");
    xorriso(&["--norock", "-J"], &src, &iso);
    let fs = IsoFs::mount(
        MemImage::new(std::fs::read(&iso).unwrap()),
        MountOptions::default(),
    )
    .unwrap();
    assert_eq!(fs.volume().naming, Naming::Joliet);
    let mut c = Checked::default();
    compare(&fs, fs.root(), &src, Attrs::Default, &mut c, 0);
    assert!(c.files >= 125 && c.max_depth >= 7, "{c:?}");
}

#[test]
fn rock_ridge_and_joliet_image_read_as_joliet_with_norock() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    joliet_tree(&src);
    let iso = t.path().join("rj.iso");
    xorriso(&["-R", "-J"], &src, &iso);
    let img = std::fs::read(&iso).unwrap();
    let rr = IsoFs::mount(MemImage::new(img.clone()), MountOptions::default()).unwrap();
    assert_eq!(rr.volume().naming, Naming::RockRidge);
    compare(
        &rr,
        rr.root(),
        &src,
        Attrs::Posix,
        &mut Checked::default(),
        0,
    );
    let opts = MountOptions {
        norock: true,
        nojoliet: false,
    };
    let j = IsoFs::mount(MemImage::new(img), opts).unwrap();
    assert_eq!(j.volume().naming, Naming::Joliet);
    compare(
        &j,
        j.root(),
        &src,
        Attrs::Default,
        &mut Checked::default(),
        0,
    );
}

/// 8.3 names in lower case: what plain ISO 9660 shows as Linux does.
fn plain_tree(root: &Path) {
    write(&root.join("readme.txt"), b"read me", 0o644);
    write(&root.join("makefile"), b"all:\n", 0o644);
    write(&root.join("data.bin"), &bytes(3, 70_000), 0o644);
    write(&root.join("src/main.c"), b"int main;", 0o644);
    let mut d = root.to_path_buf();
    for i in 1..=7 {
        d = d.join(format!("dir{i}"));
        write(
            &d.join(format!("f{i}.dat")),
            &bytes(i, 2048 * i as usize + 1),
            0o644,
        );
    }
}

#[test]
fn plain_iso9660_image_matches_its_tree() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    plain_tree(&src);
    let iso = t.path().join("p.iso");
    xorriso(&["--norock"], &src, &iso);
    let fs = IsoFs::mount(
        MemImage::new(std::fs::read(&iso).unwrap()),
        MountOptions::default(),
    )
    .unwrap();
    assert_eq!(fs.volume().naming, Naming::Plain);
    let mut c = Checked::default();
    compare(&fs, fs.root(), &src, Attrs::Default, &mut c, 0);
    assert_eq!(c.files, 11);
    // The same image with Rock Ridge and Joliet both refused stays plain.
    let iso2 = t.path().join("rj.iso");
    xorriso(&["-R", "-J"], &src, &iso2);
    let opts = MountOptions {
        norock: true,
        nojoliet: true,
    };
    let fs = IsoFs::mount(MemImage::new(std::fs::read(&iso2).unwrap()), opts).unwrap();
    assert_eq!(fs.volume().naming, Naming::Plain);
    compare(
        &fs,
        fs.root(),
        &src,
        Attrs::Default,
        &mut Checked::default(),
        0,
    );
}

#[test]
fn relocated_deep_directories_are_where_they_belong() {
    // ISO 9660 relocation (RRIP CL/PL/RE): deep directories moved to
    // rr_moved, shown at their real place, rr_moved's copies hidden.
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    let mut d = src.clone();
    for i in 1..=11 {
        d = d.join(format!("d{i}"));
        write(&d.join("f.txt"), format!("level {i}").as_bytes(), 0o644);
    }
    let iso = t.path().join("reloc.iso");
    xorriso(
        &["-R", "-rr_reloc_dir", "rr_moved", "-hide-rr-moved"],
        &src,
        &iso,
    );
    let fs = IsoFs::mount(
        MemImage::new(std::fs::read(&iso).unwrap()),
        MountOptions::default(),
    )
    .unwrap();
    let mut c = Checked::default();
    compare(&fs, fs.root(), &src, Attrs::Posix, &mut c, 0);
    assert!(c.max_depth >= 11, "{c:?}");
}

#[test]
fn cached_reads_prefetch_sequential_runs() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("tree");
    write(&src.join("big.bin"), &bytes(9, 1 << 20), 0o644);
    let iso = t.path().join("big.iso");
    xorriso(&["-R"], &src, &iso);
    let dev = Box::new(FileDriver::open(&iso).unwrap());
    let fs = IsoFs::mount(
        CachedBlocks::new(dev, 256).unwrap(),
        MountOptions::default(),
    )
    .unwrap();
    let ino = fs.resolve(b"big.bin", true).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = fs.read(ino, got.len() as u64, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got == bytes(9, 1 << 20));
    let k = fs.io().cache().counters();
    // 512 data blocks in far fewer device requests.
    assert!(k.prefetched > 0, "{k:?}");
    assert!(k.read_requests < 64, "{k:?}");
}
