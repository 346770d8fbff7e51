//! Property test: random sequences of file-system operations applied to our
//! MFS (on an in-memory image) and to a simple in-memory model agree on
//! every result (errno included), on the whole tree (names, types, contents,
//! symlink targets, modes, link counts, hard-link identity) after every
//! remount and at the end; the final image then checks clean with our fsck.
//! Run for V1 (14-char names), V2 (30), V3 with 1 KiB and with 4 KiB blocks,
//! each with the directory name index as by default (small directories
//! scanned) and with every directory indexed in room for two.

use std::collections::BTreeMap;

use mfs::format::{ROOT_INO, Version, mode};
use mfs::mkfs::{MkfsOptions, mkfs_to_vec};
use mfs::{DirIndexLimits, Errno, FileSystem, MemBlocks};
use proptest::prelude::*;

type Id = usize;

#[derive(Debug, Clone)]
enum Node {
    File {
        data: Vec<u8>,
        perm: u16,
        nlink: u16,
    },
    Dir {
        entries: BTreeMap<Vec<u8>, Id>,
        parent: Id,
        perm: u16,
    },
    Sym {
        target: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
struct Model {
    nodes: BTreeMap<Id, Node>,
    next: Id,
}

const ROOT: Id = 0;

impl Model {
    fn new() -> Model {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            ROOT,
            Node::Dir {
                entries: BTreeMap::new(),
                parent: ROOT,
                perm: 0o755,
            },
        );
        Model { nodes, next: 1 }
    }

    fn add(&mut self, n: Node) -> Id {
        let id = self.next;
        self.next += 1;
        self.nodes.insert(id, n);
        id
    }

    fn entries(&self, d: Id) -> &BTreeMap<Vec<u8>, Id> {
        match &self.nodes[&d] {
            Node::Dir { entries, .. } => entries,
            _ => unreachable!("not a dir"),
        }
    }

    fn entries_mut(&mut self, d: Id) -> &mut BTreeMap<Vec<u8>, Id> {
        match self.nodes.get_mut(&d) {
            Some(Node::Dir { entries, .. }) => entries,
            _ => unreachable!("not a dir"),
        }
    }

    fn is_dir(&self, id: Id) -> bool {
        matches!(self.nodes[&id], Node::Dir { .. })
    }

    /// Every directory, depth first, with its path.
    fn dirs(&self) -> Vec<(Id, Vec<u8>)> {
        let mut out = vec![(ROOT, b"/".to_vec())];
        let mut i = 0;
        while i < out.len() {
            let (d, p) = out[i].clone();
            for (name, &c) in self.entries(d) {
                if self.is_dir(c) {
                    let mut cp = p.clone();
                    if cp.len() > 1 {
                        cp.push(b'/');
                    }
                    cp.extend_from_slice(name);
                    out.push((c, cp));
                }
            }
            i += 1;
        }
        out
    }

    /// Every regular file as (dir, name).
    fn files(&self) -> Vec<(Id, Vec<u8>, Id)> {
        let mut out = Vec::new();
        for (d, _) in self.dirs() {
            for (name, &c) in self.entries(d) {
                if matches!(self.nodes[&c], Node::File { .. }) {
                    out.push((d, name.clone(), c));
                }
            }
        }
        out
    }

    fn drop_link(&mut self, id: Id) {
        let gone = match self.nodes.get_mut(&id) {
            Some(Node::File { nlink, .. }) => {
                *nlink -= 1;
                *nlink == 0
            }
            _ => true,
        };
        if gone {
            self.nodes.remove(&id);
        }
    }

    fn is_under(&self, mut d: Id, anc: Id) -> bool {
        loop {
            if d == anc {
                return true;
            }
            if d == ROOT {
                return false;
            }
            d = match &self.nodes[&d] {
                Node::Dir { parent, .. } => *parent,
                _ => return false,
            };
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Create(usize, usize),
    Mkdir(usize, usize),
    /// file, offset, length, seed, offset relative to the current size
    Write(usize, u64, usize, u8, bool),
    /// file, size, size relative to the current size
    Truncate(usize, u64, bool),
    Unlink(usize, usize),
    Rmdir(usize, usize),
    Rename(usize, usize, usize, usize),
    Link(usize, usize, usize),
    Symlink(usize, usize, usize),
    Chmod(usize, u16),
    Remount,
}

fn names(name_len: usize) -> Vec<Vec<u8>> {
    vec![
        b"a".to_vec(),
        b"b".to_vec(),
        b"dir".to_vec(),
        b"file.txt".to_vec(),
        vec![b'L'; name_len],
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let ix = 0usize..64;
    prop_oneof![
        3 => (ix.clone(), 0usize..5).prop_map(|(d, n)| Op::Create(d, n)),
        2 => (ix.clone(), 0usize..5).prop_map(|(d, n)| Op::Mkdir(d, n)),
        4 => (ix.clone(), 0u64..1_000_000, 1usize..9000, any::<u8>(), any::<bool>())
            .prop_map(|(f, o, l, s, r)| Op::Write(f, o, l, s, r)),
        2 => (ix.clone(), 0u64..1_200_000, any::<bool>()).prop_map(|(f, s, r)| Op::Truncate(f, s, r)),
        2 => (ix.clone(), 0usize..5).prop_map(|(d, n)| Op::Unlink(d, n)),
        1 => (ix.clone(), 0usize..5).prop_map(|(d, n)| Op::Rmdir(d, n)),
        2 => (ix.clone(), 0usize..5, ix.clone(), 0usize..5).prop_map(|(a, b, c, d)| Op::Rename(a, b, c, d)),
        1 => (ix.clone(), ix.clone(), 0usize..5).prop_map(|(f, d, n)| Op::Link(f, d, n)),
        1 => (ix.clone(), 0usize..5, 0usize..5).prop_map(|(d, n, t)| Op::Symlink(d, n, t)),
        1 => (ix.clone(), 0u16..0o7777).prop_map(|(f, p)| Op::Chmod(f, p)),
        1 => Just(Op::Remount),
    ]
}

struct Harness {
    fs: Option<FileSystem<MemBlocks>>,
    model: Model,
    /// Model node -> inode number, learned as nodes are created.
    ino: BTreeMap<Id, u32>,
    names: Vec<Vec<u8>>,
    now: u32,
    limits: DirIndexLimits,
}

impl Harness {
    fn fs(&mut self) -> &mut FileSystem<MemBlocks> {
        self.fs.as_mut().expect("mounted")
    }

    fn model_len(&self, id: Id) -> u64 {
        match &self.model.nodes[&id] {
            Node::File { data, .. } => data.len() as u64,
            _ => 0,
        }
    }

    fn dir_ino(&self, d: Id) -> u32 {
        if d == ROOT { ROOT_INO } else { self.ino[&d] }
    }

    fn apply(&mut self, op: &Op) {
        self.now += 1;
        let now = self.now;
        let dirs = self.model.dirs();
        let pick_dir = |i: usize| dirs[i % dirs.len()].0;
        match *op {
            Op::Create(d, n) | Op::Mkdir(d, n) | Op::Symlink(d, n, _) => {
                let d = pick_dir(d);
                let name = self.names[n].clone();
                let dino = self.dir_ino(d);
                let exists = self.model.entries(d).contains_key(&name);
                let r = match *op {
                    Op::Create(..) => self.fs().create(dino, &name, 0o644, 0, 0, now),
                    Op::Mkdir(..) => self.fs().mkdir(dino, &name, 0o755, 0, 0, now),
                    Op::Symlink(_, _, t) => {
                        let target = self.names[t].clone();
                        self.fs().symlink(dino, &name, &target, 0, 0, now)
                    }
                    _ => unreachable!(),
                };
                if exists {
                    assert_eq!(r, Err(Errno::EEXIST), "{op:?}");
                    return;
                }
                let ino = r.unwrap_or_else(|e| panic!("{op:?}: {e}"));
                let node = match *op {
                    Op::Create(..) => Node::File {
                        data: Vec::new(),
                        perm: 0o644,
                        nlink: 1,
                    },
                    Op::Mkdir(..) => Node::Dir {
                        entries: BTreeMap::new(),
                        parent: d,
                        perm: 0o755,
                    },
                    Op::Symlink(_, _, t) => Node::Sym {
                        target: self.names[t].clone(),
                    },
                    _ => unreachable!(),
                };
                let id = self.model.add(node);
                self.model.entries_mut(d).insert(name, id);
                self.ino.insert(id, ino);
            }
            Op::Write(f, off, len, seed, rel) => {
                let files = self.model.files();
                if files.is_empty() {
                    return;
                }
                let (_, _, id) = files[f % files.len()].clone();
                let off = if rel {
                    off % (self.model_len(id) + 1)
                } else {
                    off
                };
                let ino = self.ino[&id];
                let data: Vec<u8> = (0..len)
                    .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
                    .collect();
                assert_eq!(self.fs().write(ino, off, &data, now), Ok(len), "{op:?}");
                if let Some(Node::File { data: m, .. }) = self.model.nodes.get_mut(&id) {
                    let end = off as usize + len;
                    if m.len() < end {
                        m.resize(end, 0);
                    }
                    m[off as usize..end].copy_from_slice(&data);
                }
            }
            Op::Truncate(f, size, rel) => {
                let files = self.model.files();
                if files.is_empty() {
                    return;
                }
                let (_, _, id) = files[f % files.len()].clone();
                let size = if rel {
                    size % (self.model_len(id) + 1)
                } else {
                    size
                };
                let ino = self.ino[&id];
                assert_eq!(self.fs().truncate(ino, size, now), Ok(()), "{op:?}");
                if let Some(Node::File { data, .. }) = self.model.nodes.get_mut(&id) {
                    data.resize(size as usize, 0);
                }
            }
            Op::Unlink(d, n) | Op::Rmdir(d, n) => {
                let d = pick_dir(d);
                let name = self.names[n].clone();
                let dino = self.dir_ino(d);
                let rm = matches!(op, Op::Rmdir(..));
                let r = if rm {
                    self.fs().rmdir(dino, &name, now)
                } else {
                    self.fs().unlink(dino, &name, now)
                };
                let expect = match self.model.entries(d).get(&name).copied() {
                    None => Err(Errno::ENOENT),
                    Some(c) => {
                        let is_dir = self.model.is_dir(c);
                        if rm && !is_dir {
                            Err(Errno::ENOTDIR)
                        } else if !rm && is_dir {
                            Err(Errno::EISDIR)
                        } else if rm && !self.model.entries(c).is_empty() {
                            Err(Errno::ENOTEMPTY)
                        } else {
                            self.model.entries_mut(d).remove(&name);
                            self.model.drop_link(c);
                            Ok(())
                        }
                    }
                };
                assert_eq!(r, expect, "{op:?}");
            }
            Op::Rename(a, n1, b, n2) => {
                let (d1, d2) = (pick_dir(a), pick_dir(b));
                let (name1, name2) = (self.names[n1].clone(), self.names[n2].clone());
                let (i1, i2) = (self.dir_ino(d1), self.dir_ino(d2));
                let r = self.fs().rename(i1, &name1, i2, &name2, now);
                let expect = self.model_rename(d1, &name1, d2, &name2);
                assert_eq!(r, expect, "{op:?}");
            }
            Op::Link(f, d, n) => {
                let files = self.model.files();
                if files.is_empty() {
                    return;
                }
                let (_, _, id) = files[f % files.len()].clone();
                let d = pick_dir(d);
                let name = self.names[n].clone();
                let (ino, dino) = (self.ino[&id], self.dir_ino(d));
                let r = self.fs().link(dino, &name, ino, now);
                if self.model.entries(d).contains_key(&name) {
                    assert_eq!(r, Err(Errno::EEXIST), "{op:?}");
                } else {
                    assert_eq!(r, Ok(()), "{op:?}");
                    self.model.entries_mut(d).insert(name, id);
                    if let Some(Node::File { nlink, .. }) = self.model.nodes.get_mut(&id) {
                        *nlink += 1;
                    }
                }
            }
            Op::Chmod(i, perm) => {
                let ids: Vec<Id> = self
                    .model
                    .nodes
                    .keys()
                    .copied()
                    .filter(|&k| k != ROOT)
                    .collect();
                if ids.is_empty() {
                    return;
                }
                let id = ids[i % ids.len()];
                if matches!(self.model.nodes[&id], Node::Sym { .. }) {
                    return;
                }
                let ino = self.ino[&id];
                assert_eq!(self.fs().chmod(ino, perm, now), Ok(()));
                match self.model.nodes.get_mut(&id) {
                    Some(Node::File { perm: p, .. }) | Some(Node::Dir { perm: p, .. }) => *p = perm,
                    _ => {}
                }
            }
            Op::Remount => {
                let io = self.fs.take().expect("mounted").unmount().expect("unmount");
                let mut fs = FileSystem::mount_rw(io).expect("remount");
                fs.set_dir_index_limits(self.limits);
                self.fs = Some(fs);
                assert!(self.fs().warning().is_none());
                self.compare();
            }
        }
    }

    fn model_rename(&mut self, d1: Id, n1: &[u8], d2: Id, n2: &[u8]) -> Result<(), Errno> {
        let m = &mut self.model;
        let src = *m.entries(d1).get(n1).ok_or(Errno::ENOENT)?;
        let src_dir = m.is_dir(src);
        if src_dir && d1 != d2 && m.is_under(d2, src) {
            return Err(Errno::EINVAL);
        }
        if let Some(&t) = m.entries(d2).get(n2) {
            if t == src {
                return Ok(());
            }
            let t_dir = m.is_dir(t);
            if src_dir && !t_dir {
                return Err(Errno::ENOTDIR);
            }
            if src_dir && !m.entries(t).is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
            if !src_dir && t_dir {
                return Err(Errno::EISDIR);
            }
            m.entries_mut(d2).remove(n2);
            m.drop_link(t);
        }
        m.entries_mut(d1).remove(n1);
        m.entries_mut(d2).insert(n2.to_vec(), src);
        if let Some(Node::Dir { parent, .. }) = m.nodes.get_mut(&src) {
            *parent = d2;
        }
        Ok(())
    }

    /// The whole tree agrees: names, types, modes, sizes, contents, links,
    /// hard-link identity, "." and "..".
    fn compare(&mut self) {
        let model = self.model.clone();
        for (d, path) in model.dirs() {
            let dino = self.dir_ino(d);
            let listing = self.fs().read_dir(dino).unwrap();
            let mut got: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
            for e in listing {
                assert!(
                    got.insert(e.name.clone(), e.ino).is_none(),
                    "duplicate name in {path:?}"
                );
            }
            assert_eq!(got.remove(&b"."[..]), Some(dino));
            let parent = match &model.nodes[&d] {
                Node::Dir { parent, .. } => *parent,
                _ => unreachable!(),
            };
            assert_eq!(got.remove(&b".."[..]), Some(self.dir_ino(parent)));
            let want: Vec<&Vec<u8>> = model.entries(d).keys().collect();
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                want,
                "names in {}",
                String::from_utf8_lossy(&path)
            );
            for (name, &id) in model.entries(d) {
                let ino = got[name];
                assert_eq!(self.ino[&id], ino, "hard-link identity of {name:?}");
                let st = self.fs().stat(ino).unwrap();
                match &model.nodes[&id] {
                    Node::File { data, perm, nlink } => {
                        assert_eq!(st.mode, mode::S_IFREG | perm);
                        assert_eq!(st.nlinks, *nlink);
                        assert_eq!(st.size as usize, data.len());
                        let back = self.fs().read_all(ino).unwrap();
                        assert!(back == *data, "contents of {name:?} differ");
                    }
                    Node::Dir { entries, perm, .. } => {
                        assert_eq!(st.mode, mode::S_IFDIR | perm);
                        let subdirs = entries.values().filter(|&&c| model.is_dir(c)).count();
                        assert_eq!(st.nlinks as usize, 2 + subdirs);
                    }
                    Node::Sym { target } => {
                        assert_eq!(st.mode & mode::S_IFMT, mode::S_IFLNK);
                        assert_eq!(&self.fs().readlink(ino).unwrap(), target);
                    }
                }
            }
        }
        let live = model.nodes.len() as u64;
        let st = self.fs().statvfs().unwrap();
        assert_eq!(st.files - st.ffree, live, "inodes in use");
    }
}

/// Every directory indexed, at most two at a time.
const INDEX_ALL: DirIndexLimits = DirIndexLimits {
    min_slots: 0,
    max_slots: 1 << 16,
    max_dirs: 2,
};

fn run(version: Version, name_len: usize, block_size: u32, ops: &[Op]) {
    for limits in [DirIndexLimits::default(), INDEX_ALL] {
        run_with(version, name_len, block_size, ops, limits);
    }
}

fn run_with(
    version: Version,
    name_len: usize,
    block_size: u32,
    ops: &[Op],
    limits: DirIndexLimits,
) {
    let mut opts = MkfsOptions::for_version(version, 4096);
    opts.name_len = name_len;
    opts.block_size = block_size;
    opts.inodes = Some(512);
    let image = mkfs_to_vec(&opts).expect("mkfs");
    let mut fs = FileSystem::mount_rw(MemBlocks::new(image)).expect("mount");
    fs.set_dir_index_limits(limits);
    let mut h = Harness {
        fs: Some(fs),
        model: Model::new(),
        ino: BTreeMap::new(),
        names: names(name_len),
        now: 1000,
        limits,
    };
    for op in ops {
        h.apply(op);
    }
    h.compare();
    let io = h.fs.take().unwrap().unmount().unwrap();
    let report = mfs::fsck::check_bytes(io.image());
    assert_eq!(
        report.exit_code(),
        0,
        "fsck after the run: {:?}",
        report.findings
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn model_v1_14(ops in prop::collection::vec(op_strategy(), 1..50)) {
        run(Version::V1, 14, 1024, &ops);
    }

    #[test]
    fn model_v2_30(ops in prop::collection::vec(op_strategy(), 1..50)) {
        run(Version::V2, 30, 1024, &ops);
    }

    #[test]
    fn model_v3_1k(ops in prop::collection::vec(op_strategy(), 1..50)) {
        run(Version::V3, 60, 1024, &ops);
    }

    #[test]
    fn model_v3_4k(ops in prop::collection::vec(op_strategy(), 1..50)) {
        run(Version::V3, 60, 4096, &ops);
    }
}
