//! What goes into a new image: a tree read from a MINIX proto file or from
//! a host directory, and the code that builds it through the MFS core.
//!
//! Proto files follow MINIX `mkfs.mfs`: line 1 names a boot block (ignored),
//! line 2 is `<blocks> <inodes>` (either may be 0 = "not given"), line 3 the
//! root's `<mode> <uid> <gid>`, then one entry per line,
//! `name mode uid gid [extra]`, with `$` closing the current directory.
//! A mode is a type letter (`-` file, `d` directory, `b`/`c` block/char
//! device, `s` or `l` symlink, `p` FIFO), `u` or `-` (set-uid), `g` or `-`
//! (set-gid) and three octal digits. Extra: a file's host source path
//! (relative paths from the current directory, as MINIX does); a device's
//! `major minor [size]` (size ignored); a symlink's target. Names longer
//! than the file system allows are truncated, as MINIX does.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use mfs::blockio::BlockAccess;
use mfs::errno::Errno;
use mfs::format::mode;
use mfs::fs::FileSystem;

/// Owner, group and permission bits (set-id bits included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attr {
    /// Permission bits (07777).
    pub perm: u16,
    /// Owner.
    pub uid: u16,
    /// Group.
    pub gid: u16,
    /// (atime, mtime) to set, if known.
    pub times: Option<(u32, u32)>,
}

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Regular file copied from a host file.
    File(PathBuf),
    /// Directory with its entries.
    Dir(Vec<Node>),
    /// Symbolic link with its target.
    Symlink(Vec<u8>),
    /// Character device (major, minor).
    Char(u32, u32),
    /// Block device (major, minor).
    Block(u32, u32),
    /// Named pipe.
    Fifo,
    /// Socket.
    Socket,
    /// Another name for a file already placed at this image path.
    HardLink(Vec<u8>),
}

/// One entry of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Name in its directory.
    pub name: Vec<u8>,
    /// Attributes.
    pub attr: Attr,
    /// Type and contents.
    pub kind: Kind,
}

/// A parsed proto file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proto {
    /// Blocks from line 2 (0 = not given).
    pub blocks: u64,
    /// Inodes from line 2 (0 = not given).
    pub inodes: u32,
    /// The root directory's attributes.
    pub root: Attr,
    /// The root directory's entries.
    pub entries: Vec<Node>,
}

/// A proto-file syntax error, with its line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct ProtoError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub msg: String,
}

fn perr(line: usize, msg: impl Into<String>) -> ProtoError {
    ProtoError {
        line,
        msg: msg.into(),
    }
}

/// Parse a proto mode like `d--755` or `-u-4755`: (type bits, permission bits).
fn parse_mode(s: &str, line: usize) -> Result<(u16, u16), ProtoError> {
    let b = s.as_bytes();
    if b.len() != 6 {
        return Err(perr(line, format!("bad mode {s:?} (want e.g. d--755)")));
    }
    let ty = match b[0] {
        b'-' => mode::S_IFREG,
        b'd' => mode::S_IFDIR,
        b'b' => mode::S_IFBLK,
        b'c' => mode::S_IFCHR,
        b's' | b'l' => mode::S_IFLNK,
        b'p' => mode::S_IFIFO,
        _ => return Err(perr(line, format!("bad file type in mode {s:?}"))),
    };
    let mut perm = 0u16;
    match b[1] {
        b'u' => perm |= 0o4000,
        b'-' => {}
        _ => return Err(perr(line, format!("bad set-uid flag in mode {s:?}"))),
    }
    match b[2] {
        b'g' => perm |= 0o2000,
        b'-' => {}
        _ => return Err(perr(line, format!("bad set-gid flag in mode {s:?}"))),
    }
    let oct = u16::from_str_radix(&s[3..], 8)
        .map_err(|_| perr(line, format!("bad permissions in mode {s:?}")))?;
    Ok((ty, perm | oct))
}

fn num<T: std::str::FromStr>(tok: Option<&str>, what: &str, line: usize) -> Result<T, ProtoError> {
    let t = tok.ok_or_else(|| perr(line, format!("missing {what}")))?;
    t.parse()
        .map_err(|_| perr(line, format!("bad {what} {t:?}")))
}

/// Parse a proto file's text.
pub fn parse_proto(text: &str) -> Result<Proto, ProtoError> {
    // Tokens per non-empty line, with line numbers.
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split_whitespace().collect::<Vec<_>>()))
        .filter(|(_, t)| !t.is_empty());
    let (_, _boot) = lines.next().ok_or_else(|| perr(1, "empty proto file"))?;
    let (ln, size) = lines.next().ok_or_else(|| perr(2, "missing size line"))?;
    let blocks: u64 = num(size.first().copied(), "block count", ln)?;
    let inodes: u32 = match size.get(1) {
        Some(t) => num(Some(t), "inode count", ln)?,
        None => 0,
    };
    let (ln, r) = lines.next().ok_or_else(|| perr(3, "missing root line"))?;
    let (ty, perm) = parse_mode(r.first().copied().unwrap_or(""), ln)?;
    if ty != mode::S_IFDIR {
        return Err(perr(ln, "the root must be a directory (d...)"));
    }
    let root = Attr {
        perm,
        uid: num(r.get(1).copied(), "uid", ln)?,
        gid: num(r.get(2).copied(), "gid", ln)?,
        times: None,
    };
    // Directories being filled, innermost last.
    let mut stack: Vec<(Node, usize)> = Vec::new();
    let mut top: Vec<Node> = Vec::new();
    let mut closed_root = false;
    for (ln, t) in lines {
        if closed_root {
            return Err(perr(ln, "text after the root directory's closing $"));
        }
        if t[0] == "$" {
            match stack.pop() {
                Some((dir, _)) => match stack.last_mut() {
                    Some((parent, _)) => push_child(parent, dir),
                    None => top.push(dir),
                },
                None => closed_root = true,
            }
            continue;
        }
        let name = t[0].as_bytes().to_vec();
        if name.contains(&b'/') || t[0] == "." || t[0] == ".." {
            return Err(perr(ln, format!("bad name {:?}", t[0])));
        }
        let (ty, perm) = parse_mode(t.get(1).copied().unwrap_or(""), ln)?;
        let attr = Attr {
            perm,
            uid: num(t.get(2).copied(), "uid", ln)?,
            gid: num(t.get(3).copied(), "gid", ln)?,
            times: None,
        };
        let extra = t.get(4).copied();
        let kind = match ty {
            mode::S_IFDIR => {
                stack.push((
                    Node {
                        name,
                        attr,
                        kind: Kind::Dir(Vec::new()),
                    },
                    ln,
                ));
                continue;
            }
            mode::S_IFREG => Kind::File(PathBuf::from(
                extra.ok_or_else(|| perr(ln, "missing source file"))?,
            )),
            mode::S_IFLNK => Kind::Symlink(
                extra
                    .ok_or_else(|| perr(ln, "missing link target"))?
                    .as_bytes()
                    .to_vec(),
            ),
            mode::S_IFCHR => Kind::Char(
                num(extra, "major", ln)?,
                num(t.get(5).copied(), "minor", ln)?,
            ),
            mode::S_IFBLK => Kind::Block(
                num(extra, "major", ln)?,
                num(t.get(5).copied(), "minor", ln)?,
            ),
            _ => Kind::Fifo,
        };
        let node = Node { name, attr, kind };
        match stack.last_mut() {
            Some((parent, _)) => push_child(parent, node),
            None => top.push(node),
        }
    }
    if let Some((_, ln)) = stack.last() {
        return Err(perr(*ln, "directory not closed with $"));
    }
    Ok(Proto {
        blocks,
        inodes,
        root,
        entries: top,
    })
}

fn push_child(parent: &mut Node, child: Node) {
    if let Kind::Dir(v) = &mut parent.kind {
        v.push(child);
    }
}

/// MINIX device number from major and minor.
pub fn makedev(major: u32, minor: u32) -> u32 {
    (major << 8) | (minor & 0xff)
}

fn secs(t: i64) -> u32 {
    u32::try_from(t.max(0)).unwrap_or(u32::MAX)
}

fn attr_of(md: &std::fs::Metadata) -> Attr {
    Attr {
        perm: (md.mode() & 0o7777) as u16,
        uid: u16::try_from(md.uid()).unwrap_or(u16::MAX),
        gid: u16::try_from(md.gid()).unwrap_or(u16::MAX),
        times: Some((secs(md.atime()), secs(md.mtime()))),
    }
}

/// Read a host directory tree: (root attributes, entries). Hard-linked
/// files become [`Kind::HardLink`]s to their first name.
pub fn tree_from_dir(dir: &Path) -> std::io::Result<(Attr, Vec<Node>)> {
    let md = std::fs::metadata(dir)?;
    if !md.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a directory",
        ));
    }
    let mut seen = HashMap::new();
    let entries = read_host_dir(dir, b"", &mut seen, 0)?;
    Ok((attr_of(&md), entries))
}

fn read_host_dir(
    dir: &Path,
    image_path: &[u8],
    seen: &mut HashMap<(u64, u64), Vec<u8>>,
    depth: usize,
) -> std::io::Result<Vec<Node>> {
    if depth > 256 {
        return Err(std::io::Error::other("directory tree too deep"));
    }
    let mut names: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<Vec<_>>>()?;
    names.sort_by_key(|e| e.file_name());
    let mut out = Vec::new();
    for e in names {
        let path = e.path();
        let md = std::fs::symlink_metadata(&path)?;
        let name = std::os::unix::ffi::OsStrExt::as_bytes(e.file_name().as_os_str()).to_vec();
        let mut ipath = image_path.to_vec();
        ipath.push(b'/');
        ipath.extend_from_slice(&name);
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir(read_host_dir(&path, &ipath, seen, depth + 1)?)
        } else if ft.is_symlink() {
            Kind::Symlink(
                std::os::unix::ffi::OsStrExt::as_bytes(std::fs::read_link(&path)?.as_os_str())
                    .to_vec(),
            )
        } else if md.nlink() > 1
            && let Some(first) = seen.get(&(md.dev(), md.ino()))
        {
            Kind::HardLink(first.clone())
        } else if ft.is_file() {
            if md.nlink() > 1 {
                seen.insert((md.dev(), md.ino()), ipath.clone());
            }
            Kind::File(path.clone())
        } else if ft.is_char_device() || ft.is_block_device() {
            let r = md.rdev();
            let major = (((r >> 8) & 0xfff) | ((r >> 32) & !0xfff)) as u32;
            let minor = ((r & 0xff) | ((r >> 12) & !0xff)) as u32;
            if ft.is_char_device() {
                Kind::Char(major, minor)
            } else {
                Kind::Block(major, minor)
            }
        } else if ft.is_fifo() {
            Kind::Fifo
        } else {
            Kind::Socket
        };
        out.push(Node {
            name,
            attr: attr_of(&md),
            kind,
        });
    }
    Ok(out)
}

/// Why building the tree failed: the image path and the error.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {msg}")]
pub struct BuildError {
    /// Path inside the image.
    pub path: String,
    /// What went wrong.
    pub msg: String,
}

fn berr(path: &[u8], msg: impl std::fmt::Display) -> BuildError {
    BuildError {
        path: String::from_utf8_lossy(path).into_owned(),
        msg: msg.to_string(),
    }
}

/// Options for [`build`].
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    /// Truncate names longer than the file system allows (proto files, as
    /// MINIX does) instead of failing.
    pub truncate_names: bool,
    /// Timestamp for new inodes.
    pub now: u32,
}

/// Set the root's attributes, then create `entries` under it.
pub fn build<B: BlockAccess>(
    fs: &mut FileSystem<B>,
    root: &Attr,
    entries: &[Node],
    opts: BuildOptions,
) -> Result<(), BuildError> {
    let r = fs.root();
    build_dir(fs, r, b"", entries, opts)?;
    // Directory attributes last: adding entries changed the times.
    set_attr(fs, r, root, opts.now).map_err(|e| berr(b"/", e))
}

fn set_attr<B: BlockAccess>(
    fs: &mut FileSystem<B>,
    ino: u32,
    a: &Attr,
    now: u32,
) -> Result<(), Errno> {
    fs.chmod(ino, a.perm, now)?;
    fs.chown(ino, a.uid, a.gid, now)?;
    if let Some((at, mt)) = a.times {
        fs.utimes(ino, at, mt, now)?;
    }
    Ok(())
}

fn build_dir<B: BlockAccess>(
    fs: &mut FileSystem<B>,
    dir: u32,
    dir_path: &[u8],
    entries: &[Node],
    opts: BuildOptions,
) -> Result<(), BuildError> {
    let max = fs.geometry().name_len as usize;
    for n in entries {
        let mut name: &[u8] = &n.name;
        if name.len() > max && opts.truncate_names {
            name = &name[..max];
        }
        let mut path = dir_path.to_vec();
        path.push(b'/');
        path.extend_from_slice(name);
        let a = &n.attr;
        let now = opts.now;
        let ino = match &n.kind {
            Kind::Dir(children) => {
                let ino = fs
                    .mkdir(dir, name, a.perm, a.uid, a.gid, now)
                    .map_err(|e| berr(&path, e))?;
                build_dir(fs, ino, &path, children, opts)?;
                ino
            }
            Kind::File(src) => {
                let ino = fs
                    .create(dir, name, a.perm, a.uid, a.gid, now)
                    .map_err(|e| berr(&path, e))?;
                copy_in(fs, ino, src, now).map_err(|e| berr(&path, e))?;
                ino
            }
            Kind::Symlink(t) => fs
                .symlink(dir, name, t, a.uid, a.gid, now)
                .map_err(|e| berr(&path, e))?,
            Kind::Char(ma, mi) => fs
                .mknod(
                    dir,
                    name,
                    mode::S_IFCHR | a.perm,
                    a.uid,
                    a.gid,
                    makedev(*ma, *mi),
                    now,
                )
                .map_err(|e| berr(&path, e))?,
            Kind::Block(ma, mi) => fs
                .mknod(
                    dir,
                    name,
                    mode::S_IFBLK | a.perm,
                    a.uid,
                    a.gid,
                    makedev(*ma, *mi),
                    now,
                )
                .map_err(|e| berr(&path, e))?,
            Kind::Fifo => fs
                .mknod(dir, name, mode::S_IFIFO | a.perm, a.uid, a.gid, 0, now)
                .map_err(|e| berr(&path, e))?,
            Kind::Socket => fs
                .mknod(dir, name, mode::S_IFSOCK | a.perm, a.uid, a.gid, 0, now)
                .map_err(|e| berr(&path, e))?,
            Kind::HardLink(first) => {
                let target = fs.resolve(first, false).map_err(|e| berr(&path, e))?;
                fs.link(dir, name, target, now)
                    .map_err(|e| berr(&path, e))?;
                continue;
            }
        };
        if !matches!(n.kind, Kind::Symlink(_)) {
            set_attr(fs, ino, a, now).map_err(|e| berr(&path, e))?;
        } else if let Some((at, mt)) = a.times {
            fs.utimes(ino, at, mt, now).map_err(|e| berr(&path, e))?;
        }
    }
    Ok(())
}

/// Why copying a host file in failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// Reading the host file failed.
    #[error("{0}")]
    Host(String),
    /// The file system refused the write.
    #[error("{0}")]
    Fs(Errno),
}

/// Copy a host file into inode `ino` in chunks.
pub fn copy_in<B: BlockAccess>(
    fs: &mut FileSystem<B>,
    ino: u32,
    src: &Path,
    now: u32,
) -> Result<u64, CopyError> {
    let host = |e: std::io::Error| CopyError::Host(format!("{}: {e}", src.display()));
    let mut f = File::open(src).map_err(host)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut off = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(host)?;
        if n == 0 {
            return Ok(off);
        }
        let w = fs.write(ino, off, &buf[..n], now).map_err(CopyError::Fs)?;
        if w != n {
            return Err(CopyError::Fs(Errno::ENOSPC));
        }
        off += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "boot\n100 64\nd--755 0 0\n  bin d--755 2 0\n    sh ---755 0 0 /bin/sh\n  $\n  dev d--755 0 0\n    tty c--666 0 0 4 0\n    hd0 b--600 0 0 3 0 100\n  $\n  passwd -u-711 0 0 /etc/passwd\n  ln s--777 0 0 bin/sh\n  fifo p--644 0 0\n$\n";

    #[test]
    fn parses_minix_proto() {
        let p = parse_proto(SAMPLE).unwrap();
        assert_eq!((p.blocks, p.inodes), (100, 64));
        assert_eq!(
            p.root,
            Attr {
                perm: 0o755,
                uid: 0,
                gid: 0,
                times: None
            }
        );
        let names: Vec<_> = p
            .entries
            .iter()
            .map(|n| String::from_utf8_lossy(&n.name).into_owned())
            .collect();
        assert_eq!(names, ["bin", "dev", "passwd", "ln", "fifo"]);
        let Kind::Dir(bin) = &p.entries[0].kind else {
            panic!("bin not a dir")
        };
        assert_eq!(p.entries[0].attr.uid, 2);
        assert_eq!(bin[0].kind, Kind::File(PathBuf::from("/bin/sh")));
        let Kind::Dir(dev) = &p.entries[1].kind else {
            panic!("dev not a dir")
        };
        assert_eq!(dev[0].kind, Kind::Char(4, 0));
        assert_eq!(dev[1].kind, Kind::Block(3, 0));
        assert_eq!(dev[1].attr.perm, 0o600);
        assert_eq!(p.entries[2].attr.perm, 0o4711);
        assert_eq!(p.entries[3].kind, Kind::Symlink(b"bin/sh".to_vec()));
        assert_eq!(p.entries[4].kind, Kind::Fifo);
    }

    #[test]
    fn size_line_may_omit_inodes() {
        let p = parse_proto("boot\n0\nd--777 1 2\n$\n").unwrap();
        assert_eq!((p.blocks, p.inodes), (0, 0));
        assert_eq!(p.root.perm, 0o777);
        assert!(p.entries.is_empty());
    }

    #[test]
    fn rejects_bad_proto_files_with_line_numbers() {
        for (text, line) in [
            ("", 1),
            ("boot\n", 2),
            ("boot\nx 1\nd--755 0 0\n$\n", 2),
            ("boot\n10 10\n---755 0 0\n$\n", 3),
            ("boot\n10 10\nd--755 0 0\n a x--755 0 0\n$\n", 4),
            ("boot\n10 10\nd--755 0 0\n a ---75 0 0 f\n$\n", 4),
            ("boot\n10 10\nd--755 0 0\n a ---755 0 0\n$\n", 4),
            (
                "boot\n10 10\nd--755 0 0\n a d--755 0 0\n b d--755 0 0\n$\n",
                4,
            ),
            ("boot\n10 10\nd--755 0 0\n$\n b ---644 0 0 f\n", 5),
            ("boot\n10 10\nd--755 0 0\n a/b ---644 0 0 f\n$\n", 4),
            ("boot\n10 10\nd--755 0 0\n c c--644 0 0 4\n$\n", 4),
        ] {
            let e = parse_proto(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
    }

    #[test]
    fn device_numbers() {
        assert_eq!(makedev(4, 1), 0x0401);
        assert_eq!(makedev(3, 0x112), 0x0312);
    }
}
