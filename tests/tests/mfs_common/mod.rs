//! Helpers shared by the `mfs_*` system tests: a raw image builder that
//! lays out files and directories by hand with `mfs::format` (independent
//! of the file-system core, so damage can be made precisely), and runners
//! for util-linux's `mkfs.minix` / `fsck.minix`.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use mfs::format::{
    self, DiskInode, Geometry, ROOT_INO, SUPER_AREA, SUPER_OFFSET, SuperBlock, Version, mode,
};
use mfs::mkfs::{self, MkfsOptions};

/// An image in memory with helpers to add files by hand.
pub struct Img {
    pub data: Vec<u8>,
    pub g: Geometry,
}

impl Img {
    /// A fresh file system made by our mkfs.
    pub fn new(version: Version, name_len: usize, bs: u32, blocks: u64) -> Img {
        let mut o = MkfsOptions::for_version(version, blocks);
        o.name_len = name_len;
        o.block_size = bs;
        Img::from_bytes(mkfs::mkfs_to_vec(&o).expect("mkfs"))
    }

    /// Wrap an existing image.
    pub fn from_bytes(data: Vec<u8>) -> Img {
        let sb =
            SuperBlock::parse(&data[SUPER_OFFSET..SUPER_OFFSET + SUPER_AREA]).expect("superblock");
        Img {
            g: sb.geometry(),
            data,
        }
    }

    fn bs(&self) -> usize {
        self.g.block_size as usize
    }

    /// The bytes of block `b`.
    pub fn block(&self, b: u32) -> &[u8] {
        let bs = self.bs();
        &self.data[b as usize * bs..(b as usize + 1) * bs]
    }

    /// The bytes of block `b`, mutable.
    pub fn block_mut(&mut self, b: u32) -> &mut [u8] {
        let bs = self.bs();
        &mut self.data[b as usize * bs..(b as usize + 1) * bs]
    }

    /// The inode bitmap bytes.
    pub fn imap_mut(&mut self) -> &mut [u8] {
        let bs = self.bs();
        let s = self.g.imap_start as usize * bs;
        &mut self.data[s..s + self.g.imap_blocks as usize * bs]
    }

    /// The zone bitmap bytes.
    pub fn zmap_mut(&mut self) -> &mut [u8] {
        let bs = self.bs();
        let s = self.g.zmap_start as usize * bs;
        &mut self.data[s..s + self.g.zmap_blocks as usize * bs]
    }

    pub fn inode(&self, ino: u32) -> DiskInode {
        let (b, off) = self.g.inode_location(ino);
        DiskInode::decode(self.g.version, &self.block(b)[off..]).expect("inode")
    }

    pub fn set_inode(&mut self, ino: u32, i: &DiskInode) {
        let (b, off) = self.g.inode_location(ino);
        let v = self.g.version;
        i.encode(v, &mut self.block_mut(b)[off..])
            .expect("encode inode");
    }

    pub fn alloc_inode(&mut self) -> u32 {
        let bits = self.g.imap_bits() as usize;
        let map = self.imap_mut();
        let bit = format::bit_find_zero(map, 1, bits).expect("out of inodes");
        format::bit_set(map, bit, true);
        bit as u32
    }

    pub fn alloc_zone(&mut self) -> u32 {
        let bits = self.g.zmap_bits() as usize;
        let map = self.zmap_mut();
        let bit = format::bit_find_zero(map, 1, bits).expect("out of zones");
        format::bit_set(map, bit, true);
        let z = self.g.zone_of_bit(bit as u64);
        self.block_mut(z).fill(0);
        z
    }

    /// Zone holding file block `idx` of `ino` (0 = hole), following indirects.
    pub fn bmap(&self, ino: u32, idx: u64) -> u32 {
        let i = self.inode(ino);
        let n = u64::from(self.g.ptrs_per_block);
        if idx < 7 {
            return i.zone[idx as usize];
        }
        let e = idx - 7;
        if e < n {
            let ind = i.zone[format::ZONE_IND];
            return if ind == 0 {
                0
            } else {
                format::ind_get(&self.g, self.block(ind), e as usize)
            };
        }
        let e = e - n;
        let dind = i.zone[format::ZONE_DIND];
        if dind == 0 {
            return 0;
        }
        let ind = format::ind_get(&self.g, self.block(dind), (e / n) as usize);
        if ind == 0 {
            return 0;
        }
        format::ind_get(&self.g, self.block(ind), (e % n) as usize)
    }

    /// Map file block `idx` of inode `i` to a new zone (allocating indirect
    /// blocks as needed); returns the zone.
    fn map_new(&mut self, i: &mut DiskInode, idx: u64) -> u32 {
        let n = u64::from(self.g.ptrs_per_block);
        let z = self.alloc_zone();
        if idx < 7 {
            i.zone[idx as usize] = z;
            return z;
        }
        let e = idx - 7;
        if e < n {
            if i.zone[format::ZONE_IND] == 0 {
                i.zone[format::ZONE_IND] = self.alloc_zone();
            }
            let ind = i.zone[format::ZONE_IND];
            let g = self.g;
            format::ind_set(&g, self.block_mut(ind), e as usize, z);
            return z;
        }
        let e = e - n;
        if i.zone[format::ZONE_DIND] == 0 {
            i.zone[format::ZONE_DIND] = self.alloc_zone();
        }
        let dind = i.zone[format::ZONE_DIND];
        let g = self.g;
        let mut ind = format::ind_get(&g, self.block(dind), (e / n) as usize);
        if ind == 0 {
            ind = self.alloc_zone();
            format::ind_set(&g, self.block_mut(dind), (e / n) as usize, ind);
        }
        format::ind_set(&g, self.block_mut(ind), (e % n) as usize, z);
        z
    }

    /// Append an entry to directory `dir` (growing it by a zone if full).
    pub fn add_entry(&mut self, dir: u32, name: &str, ino: u32) {
        let mut d = self.inode(dir);
        let des = self.g.dirent_size as usize;
        let per = self.g.dirents_per_block() as u64;
        let slot = u64::from(d.size) / des as u64;
        let idx = slot / per;
        let z = if slot.is_multiple_of(per) {
            self.map_new(&mut d, idx)
        } else {
            self.bmap(dir, idx)
        };
        let off = (slot % per) as usize * des;
        let g = self.g;
        format::dirent_write(
            &g,
            &mut self.block_mut(z)[off..off + des],
            ino,
            name.as_bytes(),
        );
        d.size += des as u32;
        self.set_inode(dir, &d);
    }

    /// Make a directory `name` in `parent`; returns its inode.
    pub fn mkdir(&mut self, parent: u32, name: &str) -> u32 {
        let ino = self.alloc_inode();
        let mut d = DiskInode {
            mode: mode::S_IFDIR | 0o755,
            nlinks: 2,
            ..DiskInode::default()
        };
        self.set_inode(ino, &d);
        self.add_entry(ino, ".", ino);
        self.add_entry(ino, "..", parent);
        d = self.inode(ino);
        d.nlinks = 2;
        self.set_inode(ino, &d);
        self.add_entry(parent, name, ino);
        let mut p = self.inode(parent);
        p.nlinks += 1;
        self.set_inode(parent, &p);
        ino
    }

    /// Make a regular file `name` in `parent` holding `data`; returns its inode.
    pub fn mkfile(&mut self, parent: u32, name: &str, data: &[u8]) -> u32 {
        let ino = self.alloc_inode();
        let mut i = DiskInode {
            mode: mode::S_IFREG | 0o644,
            nlinks: 1,
            size: data.len() as u32,
            ..DiskInode::default()
        };
        let bs = self.bs();
        for (idx, chunk) in data.chunks(bs).enumerate() {
            let z = self.map_new(&mut i, idx as u64);
            self.block_mut(z)[..chunk.len()].copy_from_slice(chunk);
        }
        self.set_inode(ino, &i);
        self.add_entry(parent, name, ino);
        ino
    }

    /// Make a symlink `name` -> `target` in `parent`.
    pub fn symlink(&mut self, parent: u32, name: &str, target: &str) -> u32 {
        let ino = self.alloc_inode();
        let mut i = DiskInode {
            mode: mode::S_IFLNK | 0o777,
            nlinks: 1,
            size: target.len() as u32,
            ..DiskInode::default()
        };
        let z = self.map_new(&mut i, 0);
        self.block_mut(z)[..target.len()].copy_from_slice(target.as_bytes());
        self.set_inode(ino, &i);
        self.add_entry(parent, name, ino);
        ino
    }

    /// Locate directory entry `name` in `dir`: (zone, byte offset).
    pub fn find_entry(&self, dir: u32, name: &str) -> Option<(u32, usize)> {
        let d = self.inode(dir);
        let des = self.g.dirent_size as usize;
        let per = self.g.dirents_per_block() as u64;
        for slot in 0..u64::from(d.size) / des as u64 {
            let z = self.bmap(dir, slot / per);
            let off = (slot % per) as usize * des;
            let e = &self.block(z)[off..off + des];
            if format::dirent_ino(&self.g, e) != 0
                && format::dirent_name(&self.g, e) == name.as_bytes()
            {
                return Some((z, off));
            }
        }
        None
    }

    /// Point entry `name` of `dir` at `ino`.
    pub fn set_entry_ino(&mut self, dir: u32, name: &str, ino: u32) {
        let (z, off) = self.find_entry(dir, name).expect("entry");
        let des = self.g.dirent_size as usize;
        let g = self.g;
        format::dirent_write(
            &g,
            &mut self.block_mut(z)[off..off + des],
            ino,
            name.as_bytes(),
        );
    }

    /// Read a file's contents back through the block map.
    pub fn read_file(&self, ino: u32) -> Vec<u8> {
        let i = self.inode(ino);
        let bs = self.bs();
        let mut out = Vec::with_capacity(i.size as usize);
        let mut idx = 0;
        while out.len() < i.size as usize {
            let z = self.bmap(ino, idx);
            let take = (i.size as usize - out.len()).min(bs);
            if z == 0 {
                out.extend(std::iter::repeat_n(0, take));
            } else {
                out.extend_from_slice(&self.block(z)[..take]);
            }
            idx += 1;
        }
        out
    }

    pub fn write_to(&self, path: &Path) {
        std::fs::write(path, &self.data).expect("write image");
    }
}

/// A small populated image: /a (dir), /a/b (dir), /f1 (small), /a/big
/// (needs single indirect), /link -> a/big. Returns the image and the
/// inode numbers (a, b, f1, big, link).
pub fn sample(version: Version, name_len: usize, bs: u32) -> (Img, [u32; 5]) {
    sample_sized(version, name_len, bs, 4096)
}

/// [`sample`] on a file system of `blocks` blocks.
pub fn sample_sized(version: Version, name_len: usize, bs: u32, blocks: u64) -> (Img, [u32; 5]) {
    let mut img = Img::new(version, name_len, bs, blocks);
    let a = img.mkdir(ROOT_INO, "a");
    let b = img.mkdir(a, "b");
    let f1 = img.mkfile(ROOT_INO, "f1", b"hello, minix\n");
    let big: Vec<u8> = (0..(bs as usize * 12))
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let big = img.mkfile(a, "big", &big);
    let link = img.symlink(ROOT_INO, "link", "a/big");
    (img, [a, b, f1, big, link])
}

/// Whether util-linux's tools are usable. Under CI=true a missing tool is
/// a test failure, otherwise the caller skips with a message.
pub fn have_util_linux() -> bool {
    let ok =
        Path::new("/usr/sbin/fsck.minix").exists() && Path::new("/usr/sbin/mkfs.minix").exists();
    if !ok {
        if system_tests::qemu::in_ci() {
            panic!(
                "CI is set but /usr/sbin/mkfs.minix or /usr/sbin/fsck.minix is missing (install util-linux)"
            );
        }
        eprintln!("skipping: util-linux mkfs.minix/fsck.minix not installed");
    }
    ok
}

/// `fsck.minix -f IMG` (read-only); returns (exit code, output).
pub fn fsck_minix(img: &Path) -> (i32, String) {
    let o = Command::new("/usr/sbin/fsck.minix")
        .arg("-f")
        .arg(img)
        .output()
        .expect("run fsck.minix");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), text)
}

/// Asserts that util-linux `fsck.minix -f` finds `img` clean, where it can
/// check it (1 KiB blocks; util-linux present).
pub fn assert_fsck_minix_clean(img: &Img, label: &str) {
    if img.g.block_size != 1024 || !have_util_linux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("check.img");
    img.write_to(&p);
    let (code, out) = fsck_minix(&p);
    assert_eq!(code, 0, "{label}: {out}");
}

/// `mkfs.minix ARGS IMG` on a fresh file of `bytes` bytes.
pub fn mkfs_minix(img: &Path, bytes: u64, args: &[&str]) {
    let f = std::fs::File::create(img).expect("create image");
    f.set_len(bytes).expect("size image");
    drop(f);
    let o = Command::new("/usr/sbin/mkfs.minix")
        .args(args)
        .arg(img)
        .output()
        .expect("run mkfs.minix");
    assert!(
        o.status.success(),
        "mkfs.minix {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Mount `data` with the MFS core (read-only) and walk every reachable
/// directory, stat every entry, read every file (up to 4 MiB each) and
/// every symlink. Returns the number of entries seen, or the first error.
/// Used on damaged images: any outcome but a panic is acceptable.
pub fn mount_and_walk(data: Vec<u8>) -> Result<usize, String> {
    use mfs::blockio::MemBlocks;
    use mfs::fs::{FileSystem, MountOptions};
    let opts = MountOptions {
        read_only: true,
        force_rw_unclean: false,
    };
    let mut fs = FileSystem::mount(MemBlocks::new(data), opts).map_err(|e| e.to_string())?;
    let mut seen = std::collections::BTreeSet::new();
    let mut stack = vec![fs.root()];
    let mut count = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    while let Some(dir) = stack.pop() {
        if !seen.insert(dir) || count > 20_000 {
            continue;
        }
        let ents = fs.read_dir(dir).map_err(|e| e.to_string())?;
        for e in ents {
            count += 1;
            if e.name == b"." || e.name == b".." {
                continue;
            }
            let Ok(st) = fs.stat(e.ino) else { continue };
            match st.mode & mode::S_IFMT {
                mode::S_IFDIR => stack.push(e.ino),
                mode::S_IFLNK => {
                    let _ = fs.readlink(e.ino);
                }
                mode::S_IFREG => {
                    let mut off = 0u64;
                    while off < u64::from(st.size).min(4 << 20) {
                        match fs.read(e.ino, off, &mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => off += n as u64,
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(count)
}

/// Mount `data` read-write (even if unclean) and try a few changes:
/// create, write, mkdir, rename, unlink. Errors are fine; panics are not.
pub fn mount_and_modify(data: Vec<u8>) {
    use mfs::blockio::MemBlocks;
    use mfs::fs::{FileSystem, MountOptions};
    let opts = MountOptions {
        read_only: false,
        force_rw_unclean: true,
    };
    let before = mfs::fsck::check_bytes(&data);
    let Ok(mut fs) = FileSystem::mount(MemBlocks::new(data), opts) else {
        return;
    };
    let _ = fs.write_path(b"/new-file", &[7u8; 5000], 0o644, 1);
    let _ = fs.mkdir_path(b"/new-dir", 0o755, 1);
    let _ = fs.rename_path(b"/new-file", b"/new-dir/moved", 1);
    let _ = fs.remove_path(b"/new-dir", true, 1);
    let Ok(io) = fs.unmount() else { return };
    // Writes to a damaged image are refused or add no damage: a check
    // afterwards finds no more errors than before (issue 14).
    if before.fatal.is_none() {
        let after = mfs::fsck::check_bytes(&io.into_image());
        assert!(
            after.remaining_errors <= before.remaining_errors,
            "writes added damage: {} errors before, {} after: {:#?}",
            before.remaining_errors,
            after.remaining_errors,
            after.findings
        );
    }
}
