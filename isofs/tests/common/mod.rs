//! Shared by the host tests: host trees, xorriso images, and a walker that
//! compares what isofs reads with the tree an image was made from.
#![allow(dead_code)]

pub mod builder;

use isofs::format::mode;
use isofs::{BlockAccess, IsoFs, Naming};
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Deterministic bytes (SplitMix64).
pub fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        v.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    v.truncate(n);
    v
}

/// Runs xorriso in mkisofs mode: `args` then `-o out src`.
pub fn xorriso(args: &[&str], src: &Path, out: &Path) {
    let o = Command::new("xorriso")
        .arg("-as")
        .arg("mkisofs")
        .args(args)
        .arg("-o")
        .arg(out)
        .arg(src)
        .output()
        .expect("xorriso runs (the setup script installs it)");
    assert!(
        o.status.success(),
        "xorriso {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

pub fn write(p: &Path, data: &[u8], perm: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(perm)).unwrap();
}

/// What a comparison expects of the attributes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Attrs {
    /// Rock Ridge: mode, owner, group, mtime, link targets, devices.
    Posix,
    /// Joliet and plain: r-x for all, owned by root.
    Default,
}

/// Counts of what a comparison checked.
#[derive(Debug, Default)]
pub struct Checked {
    pub dirs: usize,
    pub files: usize,
    pub bytes: u64,
    pub links: usize,
    pub devices: usize,
    pub max_depth: usize,
}

/// Compares directory `ino` of `fs` with host directory `host`, recursively.
pub fn compare<B: BlockAccess>(
    fs: &IsoFs<B>,
    ino: u32,
    host: &Path,
    attrs: Attrs,
    c: &mut Checked,
    depth: usize,
) {
    c.dirs += 1;
    c.max_depth = c.max_depth.max(depth);
    let mut want: BTreeMap<Vec<u8>, PathBuf> = BTreeMap::new();
    for e in std::fs::read_dir(host).unwrap() {
        let e = e.unwrap();
        use std::os::unix::ffi::OsStrExt;
        want.insert(e.file_name().as_bytes().to_vec(), e.path());
    }
    let got = fs
        .list(ino)
        .unwrap_or_else(|e| panic!("list {}: {e}", host.display()));
    let names: Vec<Vec<u8>> = got.iter().map(|e| e.name.clone()).collect();
    let wnames: Vec<Vec<u8>> = want.keys().cloned().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        sorted
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect::<Vec<_>>(),
        wnames
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect::<Vec<_>>(),
        "listing of {}",
        host.display()
    );
    // "." and ".." are there too, and ".." leads back here.
    let all = fs.getdents(ino, 0, usize::MAX).unwrap();
    assert_eq!(all[0].name, b".");
    assert_eq!(all[0].ino, ino);
    assert_eq!(all[1].name, b"..");
    for e in got {
        let hp = &want[&e.name];
        let md = std::fs::symlink_metadata(hp).unwrap();
        assert_eq!(
            fs.lookup(ino, &e.name).unwrap(),
            e.ino,
            "lookup {}",
            hp.display()
        );
        let st = fs.stat(e.ino).unwrap();
        let ft = md.file_type();
        let ty = u32::from(st.mode) & mode::S_IFMT;
        let want_ty = md.mode() & mode::S_IFMT;
        assert_eq!(ty, want_ty, "type of {}", hp.display());
        match attrs {
            Attrs::Posix => {
                assert_eq!(
                    u32::from(st.mode),
                    md.mode() & 0o177777,
                    "mode of {}",
                    hp.display()
                );
                assert_eq!(u32::from(st.uid), md.uid(), "uid of {}", hp.display());
                assert_eq!(u32::from(st.gid), md.gid(), "gid of {}", hp.display());
                assert_eq!(i64::from(st.mtime), md.mtime(), "mtime of {}", hp.display());
            }
            Attrs::Default => {
                assert_eq!(
                    u32::from(st.mode) & 0o7777,
                    0o555,
                    "mode of {}",
                    hp.display()
                );
                assert_eq!((st.uid, st.gid), (0, 0));
            }
        }
        if ft.is_dir() {
            assert_eq!(fs.parent(e.ino).unwrap(), ino, "parent of {}", hp.display());
            compare(fs, e.ino, hp, attrs, c, depth + 1);
        } else if ft.is_file() {
            let data = std::fs::read(hp).unwrap();
            assert_eq!(st.size, data.len() as u64, "size of {}", hp.display());
            let got = fs.read_all(e.ino).unwrap();
            assert!(got == data, "bytes of {}", hp.display());
            c.files += 1;
            c.bytes += data.len() as u64;
        } else if ft.is_symlink() {
            use std::os::unix::ffi::OsStrExt;
            let t = std::fs::read_link(hp).unwrap();
            assert_eq!(
                fs.readlink(e.ino).unwrap(),
                t.as_os_str().as_bytes(),
                "target of {}",
                hp.display()
            );
            assert_eq!(st.size, t.as_os_str().len() as u64);
            c.links += 1;
        } else if ft.is_char_device() || ft.is_block_device() {
            let r = md.rdev();
            let (maj, min) = (
                ((r >> 8) & 0xfff) as u32,
                ((r & 0xff) | ((r >> 12) & 0xfff00)) as u32,
            );
            assert_eq!(st.rdev, (maj << 8) | min, "rdev of {}", hp.display());
            c.devices += 1;
        }
    }
}

/// The naming scheme chosen.
pub fn naming<B: BlockAccess>(fs: &IsoFs<B>) -> Naming {
    fs.volume().naming
}
