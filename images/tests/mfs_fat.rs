//! FAT as the exchange format: `mfs mkfs --from-fat` and `mfs export-fat`,
//! by spawning the built `mfs` and reading both kinds of image back (MFS
//! through the tool's own core, FAT through the `fatfs` crate). Trees are
//! compared byte for byte: names, structure, contents, sizes, and mtimes
//! to FAT's 2-second granularity.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

use images::mfstool::fat::{FAT_EPOCH, fat_to_unix};
use mfs::format::mode;

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

/// Runs `mfs ARGS`, which must succeed; returns its standard error.
fn ok(args: &[&str]) -> String {
    let o = mfs(args);
    assert!(
        o.status.success(),
        "mfs {args:?}: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stderr)
}

/// One node of a tree, as compared: mtimes to FAT's 2 seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ent {
    Dir { mtime: u32 },
    File { data: Vec<u8>, mtime: u32 },
}

type Tree = BTreeMap<String, Ent>;

fn even(t: u32) -> u32 {
    t.max(FAT_EPOCH) & !1
}

/// The tree of an MFS image (paths from its root; the root itself left out).
fn mfs_tree(img: &Path) -> Tree {
    let mut fs = images::mfstool::mount(img, false).expect("mount");
    let mut t = Tree::new();
    let root = fs.root();
    walk_mfs(&mut fs, root, "", &mut t);
    t
}

fn walk_mfs(fs: &mut images::mfstool::Fs, ino: u32, path: &str, t: &mut Tree) {
    for e in fs.read_dir(ino).unwrap() {
        if e.name == b"." || e.name == b".." {
            continue;
        }
        let p = format!("{path}/{}", String::from_utf8(e.name.clone()).unwrap());
        let st = fs.stat(e.ino).unwrap();
        match st.mode & mode::S_IFMT {
            mode::S_IFDIR => {
                t.insert(
                    p.clone(),
                    Ent::Dir {
                        mtime: even(st.mtime),
                    },
                );
                walk_mfs(fs, e.ino, &p, t);
            }
            mode::S_IFREG => {
                let mut data = vec![0u8; st.size as usize];
                let mut off = 0;
                while off < data.len() {
                    let n = fs.read(e.ino, off as u64, &mut data[off..]).unwrap();
                    assert!(n > 0);
                    off += n;
                }
                t.insert(
                    p,
                    Ent::File {
                        data,
                        mtime: even(st.mtime),
                    },
                );
            }
            m => panic!("{p}: unexpected type {m:o}"),
        }
    }
}

fn open_fat(img: &Path) -> fatfs::FileSystem<File> {
    let f = OpenOptions::new().read(true).write(true).open(img).unwrap();
    fatfs::FileSystem::new(f, fatfs::FsOptions::new()).expect("a FAT image")
}

/// The tree of a FAT image.
fn fat_tree(img: &Path) -> Tree {
    let fs = open_fat(img);
    let mut t = Tree::new();
    walk_fat(&fs.root_dir(), "", &mut t);
    t
}

fn walk_fat(dir: &fatfs::Dir<'_, File>, path: &str, t: &mut Tree) {
    for e in dir.iter() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "." || name == ".." {
            continue;
        }
        let p = format!("{path}/{name}");
        let mtime = even(fat_to_unix(e.modified()).unwrap());
        if e.is_dir() {
            t.insert(p.clone(), Ent::Dir { mtime });
            walk_fat(&e.to_dir(), &p, t);
        } else {
            let mut data = Vec::new();
            e.to_file().read_to_end(&mut data).unwrap();
            assert_eq!(data.len() as u64, e.len(), "{p}");
            t.insert(p, Ent::File { data, mtime });
        }
    }
}

/// The tree of a host directory.
fn host_tree(dir: &Path) -> Tree {
    let mut t = Tree::new();
    walk_host(dir, "", &mut t);
    t
}

fn walk_host(dir: &Path, path: &str, t: &mut Tree) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = format!("{path}/{}", e.file_name().to_str().unwrap());
        let md = e.metadata().unwrap();
        let mtime = even(
            md.modified()
                .unwrap()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs() as u32,
        );
        if md.is_dir() {
            t.insert(p.clone(), Ent::Dir { mtime });
            walk_host(&e.path(), &p, t);
        } else {
            t.insert(
                p,
                Ent::File {
                    data: std::fs::read(e.path()).unwrap(),
                    mtime,
                },
            );
        }
    }
}

/// Asserts two trees are equal, naming the paths that differ (not the
/// megabytes of data).
#[track_caller]
fn same(a: &Tree, b: &Tree, what: &str) {
    if a == b {
        return;
    }
    let show = |e: Option<&Ent>| match e {
        None => "missing".to_string(),
        Some(Ent::Dir { mtime }) => format!("dir mtime {mtime}"),
        Some(Ent::File { data, mtime }) => format!(
            "file of {} bytes (crc {:08x}) mtime {mtime}",
            data.len(),
            data.iter()
                .fold(0u32, |h, &b| h.rotate_left(5) ^ u32::from(b))
        ),
    };
    let diffs: Vec<String> = a
        .keys()
        .chain(b.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .take(10)
        .map(|k| format!("  {k}: {} vs {}", show(a.get(k)), show(b.get(k))))
        .collect();
    panic!("{what}: trees differ:\n{}", diffs.join("\n"));
}

/// Deterministic bytes (xorshift), so failures reproduce.
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn set_mtime(p: &Path, t: u64) {
    let f = File::options()
        .write(true)
        .open(p)
        .or_else(|_| File::open(p))
        .unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(t)).unwrap();
}

/// A host tree with what the round trips must keep: a directory 40 deep,
/// long and Unicode names, empty files and directories, a 5 MiB file, a
/// directory of 300 entries (several clusters), odd-second mtimes.
/// `max_name` is the longest name the MFS version allows.
fn sample_tree(root: &Path, max_name: usize) {
    std::fs::create_dir_all(root).unwrap();
    let mut deep = root.join("deep");
    for i in 0..40 {
        deep = deep.join(format!("level{i}"));
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("bottom.txt"), b"at the bottom\n").unwrap();
    let long = "L".repeat(max_name - 4) + ".txt";
    std::fs::write(root.join(&long), b"long name\n").unwrap();
    std::fs::write(root.join("Mixed Case Name.Text"), b"mixed\n").unwrap();
    std::fs::write(root.join("ünïcødé ñame"), "ü\n".as_bytes()).unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::create_dir(root.join("empty dir")).unwrap();
    std::fs::write(root.join("big.bin"), bytes(5 << 20, 7)).unwrap();
    std::fs::write(root.join("odd.bin"), bytes(4097, 9)).unwrap();
    let many = root.join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..300 {
        std::fs::write(
            many.join(format!("file number {i:03}.dat")),
            bytes(i * 13, i as u64),
        )
        .unwrap();
    }
    // Odd seconds (FAT keeps even ones), and a time before FAT's 1980.
    set_mtime(&root.join("odd.bin"), 1_000_000_001);
    set_mtime(&root.join("empty"), 100);
    set_mtime(&many, 1_234_567_891);
}

#[test]
fn mfs_to_fat_to_mfs_keeps_the_tree_every_version() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args, max_name) in [
        ("v1", &["--version", "1"][..], 30),
        ("v2", &["--version", "2"][..], 30),
        ("v3", &["--version", "3", "--block-size", "4096"][..], 60),
    ] {
        let src = dir.path().join(format!("{name}-src"));
        sample_tree(&src, max_name);
        let img = dir.path().join(format!("{name}.img"));
        let mut a = vec!["mkfs", "--size", "32M"];
        a.extend_from_slice(args);
        a.extend(["--from", s(&src), s(&img)]);
        ok(&a);
        let original = mfs_tree(&img);
        same(&original, &host_tree(&src), &format!("{name}: mkfs --from"));
        assert!(original.len() > 340);

        let fat = dir.path().join(format!("{name}.fat"));
        let warnings = ok(&["export-fat", s(&img), s(&fat)]);
        assert_eq!(warnings, "", "{name}: nothing to skip");
        same(&fat_tree(&fat), &original, &format!("{name}: MFS -> FAT"));

        let back = dir.path().join(format!("{name}-back.img"));
        let mut a = vec!["mkfs", "--size", "32M"];
        a.extend_from_slice(args);
        a.extend(["--from-fat", s(&fat), s(&back)]);
        let warnings = ok(&a);
        assert_eq!(warnings, "", "{name}: nothing to skip");
        same(
            &mfs_tree(&back),
            &original,
            &format!("{name}: MFS -> FAT -> MFS"),
        );
        let o = mfs(&["fsck", s(&back)]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    }
}

/// `fatfs`'s clock for the FAT images the tests write: 2020-02-29 13:37:42 UTC.
#[derive(Debug)]
struct Leap;

impl fatfs::TimeProvider for Leap {
    fn get_current_date(&self) -> fatfs::Date {
        self.get_current_date_time().date
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        fatfs::DateTime {
            date: fatfs::Date {
                year: 2020,
                month: 2,
                day: 29,
            },
            time: fatfs::Time {
                hour: 13,
                min: 37,
                sec: 42,
                millis: 0,
            },
        }
    }
}

static LEAP: Leap = Leap;

/// A FAT image of `size` bytes made and filled by `fatfs` alone.
fn make_fat(img: &Path, size: u64, fat_type: Option<fatfs::FatType>) {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(img)
        .unwrap();
    f.set_len(size).unwrap();
    let mut o = fatfs::FormatVolumeOptions::new();
    if let Some(t) = fat_type {
        o = o.fat_type(t);
    }
    fatfs::format_volume(&mut f, o).unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    let fs = fatfs::FileSystem::new(f, fatfs::FsOptions::new().time_provider(&LEAP)).unwrap();
    fill_fat(&fs);
    fs.unmount().unwrap();
}

fn fill_fat(fs: &fatfs::FileSystem<File>) {
    let root = fs.root_dir();
    let mut d = root.create_dir("Deep").unwrap();
    for i in 0..30 {
        d = d.create_dir(&format!("Level {i}")).unwrap();
    }
    d.create_file("bottom.TXT")
        .unwrap()
        .write_all(b"bottom\n")
        .unwrap();
    root.create_file("A rather long file name, as FAT allows.txt")
        .unwrap()
        .write_all(b"long\n")
        .unwrap();
    root.create_file("EMPTY.DAT").unwrap();
    root.create_dir("no entries").unwrap();
    root.create_file("big.bin")
        .unwrap()
        .write_all(&bytes(3 << 20, 3))
        .unwrap();
    let many = root.create_dir("MANY").unwrap();
    for i in 0..200 {
        many.create_file(&format!("f{i}.bin"))
            .unwrap()
            .write_all(&bytes(i * 7, i as u64 + 1))
            .unwrap();
    }
}

#[test]
fn fat_to_mfs_to_fat_keeps_the_tree_for_fat12_16_32() {
    let dir = tempfile::tempdir().unwrap();
    for (name, size, t) in [
        ("fat12", 6u64 << 20, fatfs::FatType::Fat12),
        ("fat16", 24 << 20, fatfs::FatType::Fat16),
        ("fat32", 40 << 20, fatfs::FatType::Fat32),
    ] {
        let src = dir.path().join(format!("{name}.img"));
        make_fat(&src, size, Some(t));
        let original = fat_tree(&src);
        assert!(original.len() > 230);
        assert!(original.values().all(|e| match e {
            Ent::Dir { mtime } | Ent::File { mtime, .. } => *mtime == 1_582_983_462,
        }));
        for (v, args) in [("v2", &["--version", "2"][..]), ("v3", &[][..])] {
            let img = dir.path().join(format!("{name}-{v}.mfs"));
            let mut a = vec!["mkfs", "--size", "16M"];
            a.extend_from_slice(args);
            a.extend(["--from-fat", s(&src), s(&img)]);
            if v == "v2" {
                // The 42-byte name does not fit V2's 30.
                let w = ok(&a);
                assert!(w.contains("A rather long file name"), "{w}");
                assert!(w.contains("1 entries of"), "{w}");
                let mut expect = original.clone();
                expect.remove("/A rather long file name, as FAT allows.txt");
                same(&mfs_tree(&img), &expect, &format!("{name} -> MFS {v}"));
                continue;
            }
            assert_eq!(ok(&a), "");
            same(&mfs_tree(&img), &original, &format!("{name} -> MFS {v}"));
            let again = dir.path().join(format!("{name}-again.img"));
            let fat = match t {
                fatfs::FatType::Fat12 => "12",
                fatfs::FatType::Fat16 => "16",
                fatfs::FatType::Fat32 => "32",
            };
            assert_eq!(ok(&["export-fat", "--fat", fat, s(&img), s(&again)]), "");
            assert_eq!(open_fat(&again).fat_type(), t);
            same(
                &fat_tree(&again),
                &original,
                &format!("{name} -> MFS -> FAT"),
            );
        }
    }
}

#[test]
fn export_reports_what_fat_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("plain.txt"), b"plain\n").unwrap();
    std::fs::write(src.join("sub/linked"), b"two names\n").unwrap();
    std::fs::hard_link(src.join("sub/linked"), src.join("second name")).unwrap();
    std::os::unix::fs::symlink("plain.txt", src.join("a link")).unwrap();
    std::fs::write(src.join("what?"), b"x").unwrap();
    std::fs::write(src.join("colon:name"), b"x").unwrap();
    std::fs::write(src.join("trailing."), b"x").unwrap();
    std::fs::write(src.join("new\nline"), b"x").unwrap();
    std::fs::write(src.join("README"), b"upper").unwrap();
    std::fs::write(src.join("readme"), b"lower").unwrap();
    let raw = std::ffi::OsStr::from_bytes(b"latin1-\xe9t\xe9");
    std::fs::write(src.join(raw), b"x").unwrap();
    std::fs::create_dir_all(src.join("bad|dir/inner")).unwrap();
    std::fs::write(src.join("bad|dir/inner/f"), b"x").unwrap();
    let img = dir.path().join("m.img");
    ok(&["mkfs", "--size", "8M", "--from", s(&src), s(&img)]);
    // A FIFO and a device node, which only a proto file or `mfs` make.
    let proto = dir.path().join("p.proto");
    std::fs::write(
        &proto,
        "boot\n0 0\nd--755 0 0\n fifo p--644 0 0\n tty c--666 0 0 4 0\n disk b--600 0 0 3 0\n$\n",
    )
    .unwrap();
    let img2 = dir.path().join("nodes.img");
    ok(&["mkfs", "--size", "2M", "--proto", s(&proto), s(&img2)]);

    let fat = dir.path().join("f.img");
    let o = mfs(&["export-fat", s(&img), s(&fat)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    for (path, why) in [
        ("/a link", "skipped: symbolic link"),
        ("/what?", "skipped: name has '?'"),
        ("/colon:name", "skipped: name has ':'"),
        ("/trailing.", "skipped: name ends in a dot"),
        ("/new\\nline", "skipped: name has '\\n'"),
        ("/readme", "skipped: same name as /README"),
        ("/latin1-", "skipped: name is not UTF-8"),
        ("/bad|dir", "(with everything under it)"),
        ("/sub/linked", "duplicated: a hard link to /second name"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("mfs: {}: {path}", s(&img))) && l.contains(why)),
            "no warning for {path} ({why}) in:\n{err}"
        );
    }
    assert!(
        err.contains("FAT cannot hold everything: 8 entries skipped, 1 hard links duplicated"),
        "{err}"
    );
    let t = fat_tree(&fat);
    let names: Vec<&str> = t.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "/README",
            "/plain.txt",
            "/second name",
            "/sub",
            "/sub/linked"
        ]
    );
    let data = |p: &str| match &t[p] {
        Ent::File { data, .. } => data.clone(),
        Ent::Dir { .. } => panic!("{p} is a directory"),
    };
    assert_eq!(data("/second name"), b"two names\n");
    assert_eq!(data("/sub/linked"), b"two names\n");

    let o = mfs(&["export-fat", s(&img2), s(&fat)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("/fifo: skipped: FIFO"), "{err}");
    assert!(err.contains("/tty: skipped: character device"), "{err}");
    assert!(err.contains("/disk: skipped: block device"), "{err}");
    assert!(
        err.contains("3 entries skipped, 0 hard links duplicated"),
        "{err}"
    );
    assert!(fat_tree(&fat).is_empty());
}

#[test]
fn export_of_a_subdirectory_type_size_and_label() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("etc/conf.d")).unwrap();
    std::fs::write(src.join("etc/motd"), b"hi\n").unwrap();
    std::fs::write(src.join("etc/conf.d/x"), b"x\n").unwrap();
    std::fs::write(src.join("top"), b"t\n").unwrap();
    let img = dir.path().join("m.img");
    ok(&["mkfs", "--size", "4M", "--from", s(&src), s(&img)]);
    let fat = dir.path().join("f.img");
    // The default size fits the tree: a small FAT12 volume.
    ok(&["export-fat", s(&img), s(&fat), "/etc"]);
    let fs = open_fat(&fat);
    assert_eq!(fs.fat_type(), fatfs::FatType::Fat12);
    drop(fs);
    let names: Vec<String> = fat_tree(&fat).into_keys().collect();
    assert_eq!(names, ["/conf.d", "/conf.d/x", "/motd"]);
    // Size picks the type, as mkfs.fat does; --fat overrides it.
    ok(&[
        "export-fat",
        "--size",
        "64M",
        "--label",
        "Minix 3",
        s(&img),
        s(&fat),
    ]);
    assert_eq!(std::fs::metadata(&fat).unwrap().len(), 64 << 20);
    let fs = open_fat(&fat);
    assert_eq!(fs.fat_type(), fatfs::FatType::Fat16);
    assert_eq!(fs.volume_label(), "MINIX 3");
    drop(fs);
    ok(&["export-fat", "--fat", "32", s(&img), s(&fat)]);
    assert_eq!(open_fat(&fat).fat_type(), fatfs::FatType::Fat32);
    // Errors: an impossible type for the size, a file as the tree.
    let o = mfs(&[
        "export-fat",
        "--size",
        "300K",
        "--fat",
        "32",
        s(&img),
        s(&fat),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("cannot make FAT32"),
        "{}",
        text(&o.stderr)
    );
    let o = mfs(&["export-fat", s(&img), s(&fat), "/top"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).starts_with(&format!("mfs: {}: /top: ", s(&img))));
    let o = mfs(&[
        "export-fat",
        "--label",
        "much too long a label",
        s(&img),
        s(&fat),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let o = mfs(&["export-fat", "--fat", "64", s(&img), s(&fat)]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn export_fills_a_given_size_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("big"), bytes(3 << 20, 5)).unwrap();
    let img = dir.path().join("m.img");
    ok(&["mkfs", "--size", "8M", "--from", s(&src), s(&img)]);
    let fat = dir.path().join("f.img");
    let o = mfs(&["export-fat", "--size", "1M", s(&img), s(&fat)]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(
        e.contains("/big: no space left") && e.contains("--size"),
        "{e}"
    );
}

/// Little-endian u16/u32 of an image at `off`.
fn le(img: &Path, off: u64, n: usize) -> u32 {
    let mut b = [0u8; 4];
    File::open(img)
        .unwrap()
        .read_exact_at(&mut b[..n], off)
        .unwrap();
    u32::from_le_bytes(b)
}

fn poke(img: &Path, off: u64, data: &[u8]) {
    OpenOptions::new()
        .write(true)
        .open(img)
        .unwrap()
        .write_all_at(data, off)
        .unwrap();
}

/// The 11-byte short name `fatfs` gave `name` in directory `dir`.
fn short_name(img: &Path, dir: &str, name: &str) -> [u8; 11] {
    let fs = open_fat(img);
    let root = fs.root_dir();
    let d = if dir.is_empty() {
        root
    } else {
        root.open_dir(dir).unwrap()
    };
    let e = d
        .iter()
        .map(Result::unwrap)
        .find(|e| e.file_name() == name)
        .expect("entry");
    let short = e.short_file_name();
    let (base, ext) = short.split_once('.').unwrap_or((&short, ""));
    let mut out = [b' '; 11];
    out[..base.len()].copy_from_slice(base.as_bytes());
    out[8..8 + ext.len()].copy_from_slice(ext.as_bytes());
    out
}

/// Byte offset of the short entry named `name11` with attribute `attr`.
fn find_entry(img: &Path, name11: &[u8; 11], attr: u8) -> u64 {
    let data = std::fs::read(img).unwrap();
    (0..data.len() / 32)
        .map(|i| i * 32)
        .find(|&o| &data[o..o + 11] == name11 && data[o + 11] == attr)
        .expect("entry") as u64
}

/// A way to damage a FAT image in place.
type Corruption<'a> = Box<dyn Fn(&Path) + 'a>;

#[test]
fn corrupt_fat_images_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.img");
    make_fat(&good, 8 << 20, Some(fatfs::FatType::Fat16));
    // FAT16 layout from the boot sector.
    let bps = u64::from(le(&good, 11, 2));
    let reserved = u64::from(le(&good, 14, 2));
    let fats = u64::from(le(&good, 16, 1));
    let fat_sectors = u64::from(le(&good, 22, 2));
    let fat_at = move |n: u64| reserved * bps + n * fat_sectors * bps;
    let deep = find_entry(&good, &short_name(&good, "", "Deep"), 0x10);
    let deep_cluster = le(&good, deep + 26, 2);
    let level0 = find_entry(&good, &short_name(&good, "Deep", "Level 0"), 0x10);
    // fatfs sets no attribute bits on the files it makes.
    let many = find_entry(&good, &short_name(&good, "", "MANY"), 0x10);
    let many_cluster = le(&good, many + 26, 2);
    let big = find_entry(&good, &short_name(&good, "", "big.bin"), 0);

    let cases: Vec<(&str, Corruption, &str)> = vec![
        (
            "junk",
            Box::new(|p| std::fs::write(p, bytes(64 << 10, 1)).unwrap()),
            "not a FAT file system",
        ),
        (
            "empty",
            Box::new(|p| std::fs::write(p, b"").unwrap()),
            "not a FAT file system",
        ),
        (
            "zero sector size",
            Box::new(|p| poke(p, 11, &[0, 0])),
            "not a FAT file system",
        ),
        (
            "truncated",
            Box::new(|p| {
                OpenOptions::new()
                    .write(true)
                    .open(p)
                    .unwrap()
                    .set_len(200 << 10)
                    .unwrap()
            }),
            "bad boot sector",
        ),
        (
            // /Deep/Level 0 is /Deep again: an endless tree.
            "cyclic directory",
            Box::new(move |p| poke(p, level0 + 26, &(deep_cluster as u16).to_le_bytes())),
            "cyclic",
        ),
        (
            // /MANY (several clusters) has a chain that loops back on itself.
            "cyclic chain",
            Box::new(move |p| {
                for n in 0..fats {
                    poke(
                        p,
                        fat_at(n) + u64::from(many_cluster) * 2,
                        &(many_cluster as u16).to_le_bytes(),
                    );
                }
            }),
            "cyclic",
        ),
        (
            // big.bin claims more than the volume holds.
            "oversized file",
            Box::new(move |p| poke(p, big + 28, &u32::MAX.to_le_bytes())),
            "more than the volume",
        ),
        (
            // big.bin's chain ends after its first cluster.
            "short chain",
            Box::new(move |p| {
                let c = u64::from(le(p, big + 26, 2));
                for n in 0..fats {
                    poke(p, fat_at(n) + c * 2, &0xffffu16.to_le_bytes());
                }
            }),
            "",
        ),
    ];
    for (name, corrupt, what) in cases {
        let fat = dir.path().join(format!("{name}.fat"));
        std::fs::copy(&good, &fat).unwrap();
        corrupt(&fat);
        let img = dir.path().join(format!("{name}.img"));
        let o = mfs(&["mkfs", "--size", "16M", "--from-fat", s(&fat), s(&img)]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.starts_with(&format!("mfs: {}: ", s(&fat))) && err.contains(what),
            "{name}: {err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
    }
    // A missing FAT image: an error, and no MFS image made.
    let img = dir.path().join("none.img");
    let o = mfs(&[
        "mkfs",
        "--size",
        "4M",
        "--from-fat",
        "/nonexistent.fat",
        s(&img),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!img.exists());
    // --from-fat goes with neither --from nor --proto.
    let o = mfs(&[
        "mkfs",
        "--size",
        "4M",
        "--from-fat",
        s(&good),
        "--from",
        "/",
        s(&img),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// Where a host tool is installed, if it is (on PATH or in an sbin).
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn tool(name: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| PathBuf::from(name))
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd
        .env("TZ", "UTC")
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    o
}

/// With dosfstools and mtools on the machine: a FAT image they made and
/// filled is imported faithfully, and the exported image passes
/// `fsck.fat` and reads back through `mcopy` unchanged. (Skipped, saying
/// so, where they are not installed: the other tests check both
/// directions through `fatfs`.)
#[test]
fn cross_check_with_dosfstools_and_mtools() {
    if !["mkfs.fat", "fsck.fat", "mcopy"]
        .iter()
        .all(|t| find_tool(t).is_some())
    {
        // scripts/setup.sh installs them: under CI a missing tool fails.
        let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        assert!(
            !ci,
            "CI is set but mkfs.fat, fsck.fat or mcopy is missing (apt install dosfstools mtools)"
        );
        eprintln!("skipped: mkfs.fat, fsck.fat or mcopy is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("Sub Dir/deeper")).unwrap();
    std::fs::write(src.join("Sub Dir/deeper/leaf.txt"), b"leaf\n").unwrap();
    std::fs::write(src.join("A Long Name For FAT.txt"), b"long\n").unwrap();
    std::fs::write(src.join("empty"), b"").unwrap();
    std::fs::write(src.join("blob.bin"), bytes(2 << 20, 11)).unwrap();
    set_mtime(&src.join("blob.bin"), 1_600_000_001);
    set_mtime(&src.join("empty"), 1_500_000_000);

    let fat = dir.path().join("dos.img");
    run(Command::new(tool("mkfs.fat")).args(["-C", "-F", "16", s(&fat), "16384"]));
    for e in ["A Long Name For FAT.txt", "empty", "blob.bin", "Sub Dir"] {
        run(Command::new(tool("mcopy"))
            .args(["-s", "-m", "-i", s(&fat)])
            .arg(src.join(e))
            .arg("::/"));
    }
    let img = dir.path().join("m.img");
    assert_eq!(
        ok(&["mkfs", "--size", "16M", "--from-fat", s(&fat), s(&img)]),
        ""
    );
    // mcopy keeps file mtimes (-m) but not directories'.
    let files = |t: Tree| -> Tree {
        t.into_iter()
            .map(|(p, e)| match e {
                Ent::Dir { .. } => (p, Ent::Dir { mtime: 0 }),
                f => (p, f),
            })
            .collect()
    };
    assert_eq!(files(mfs_tree(&img)), files(host_tree(&src)));

    let out = dir.path().join("exported.img");
    assert_eq!(ok(&["export-fat", s(&img), s(&out)]), "");
    run(Command::new(tool("fsck.fat")).args(["-n", s(&out)]));
    let back = dir.path().join("back");
    std::fs::create_dir(&back).unwrap();
    run(Command::new(tool("mcopy"))
        .args(["-s", "-m", "-i", s(&out), "::/*"])
        .arg(&back));
    assert_eq!(files(host_tree(&back)), files(host_tree(&src)));
}

/// Seeded damage all over the metadata of a small FAT image (boot sector,
/// FATs, root directory, the first directory clusters): every import ends
/// with exit 0 or a one-line error, never a panic or a hang (reads are
/// bounded, so a cyclic chain runs out of budget).
#[test]
fn seeded_damage_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.fat");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&good)
        .unwrap();
    f.set_len(1 << 20).unwrap();
    fatfs::format_volume(&mut f, fatfs::FormatVolumeOptions::new()).unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    {
        let fs = fatfs::FileSystem::new(&mut f, fatfs::FsOptions::new()).unwrap();
        let root = fs.root_dir();
        let sub = root.create_dir("Some Directory").unwrap();
        for i in 0..40 {
            sub.create_file(&format!("a file called {i}.txt"))
                .unwrap()
                .write_all(&bytes(i * 100, i as u64 + 1))
                .unwrap();
        }
        root.create_file("top.bin")
            .unwrap()
            .write_all(&bytes(20_000, 5))
            .unwrap();
    }
    drop(f);
    let clean = std::fs::read(&good).unwrap();
    // Where the metadata is: the boot sector's parameters, the first FAT,
    // the root directory's used entries, the subdirectory's entries.
    let bps = le(&good, 11, 2) as usize;
    let spc = le(&good, 13, 1) as usize;
    let fat0 = le(&good, 14, 2) as usize * bps;
    let fat_bytes = le(&good, 22, 2) as usize * bps;
    let root = fat0 + le(&good, 16, 1) as usize * fat_bytes;
    let data = root + le(&good, 17, 2) as usize * 32;
    let sub = find_entry(&good, &short_name(&good, "", "Some Directory"), 0x10);
    let sub_at = data + (le(&good, sub + 26, 2) as usize - 2) * spc * bps;
    let regions = [(0, 64), (fat0, 128), (root, 32 * 8), (sub_at, 32 * 120)];
    let noise = bytes(4 * 250, 99);
    let (mut ok_runs, mut errors, mut caught) = (0, 0, 0);
    for i in 0..250 {
        let mut img = clean.clone();
        let r = &noise[i * 4..i * 4 + 4];
        let (start, len) = regions[usize::from(r[3] >> 1) % regions.len()];
        let at = start + (usize::from(r[0]) | usize::from(r[1]) << 8) % len;
        // One byte, or a 4-byte run, replaced.
        let n = if r[3] & 1 == 0 { 1 } else { 4 };
        for (k, b) in img[at..at + n].iter_mut().enumerate() {
            *b = r[(k + 3) % 4] ^ 0x5a;
        }
        let fat = dir.path().join("damaged.fat");
        std::fs::write(&fat, &img).unwrap();
        let out = dir.path().join("out.img");
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let code = images::mfstool::run_with(
            [
                "mfs",
                "mkfs",
                "--size",
                "2M",
                "--from-fat",
                s(&fat),
                s(&out),
            ],
            &mut o,
            &mut e,
        );
        let err = text(&e);
        assert!(!err.contains("panicked"), "damage at {at}: {err}");
        match code {
            0 => ok_runs += 1,
            1 => {
                errors += 1;
                // A panic inside fatfs, caught: its message names a source line.
                caught += usize::from(err.contains(".rs:"));
                assert!(
                    err.lines().last().is_some_and(|l| l.starts_with("mfs: ")),
                    "{err}"
                );
            }
            c => panic!("damage at {at}: exit {c}: {err}"),
        }
    }
    eprintln!("{ok_runs} imports, {errors} errors ({caught} of them caught panics)");
    // Both outcomes occur: damage in unused space is harmless.
    assert!(
        ok_runs > 0 && errors > 0,
        "{ok_runs} clean, {errors} errors"
    );
}
