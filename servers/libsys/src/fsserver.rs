//! What every file server does the same way when it serves the
//! `proto::fs` requests that only read: walking a path ([`walk`] over a
//! [`DirTree`]), the permission rule ([`permitted`]), fetching a name from
//! the caller's grant ([`fetch`]) and packing directory entries and link
//! targets into the caller's buffer ([`reply_dirents`], [`reply_bytes`]).
//! MFS and ISOFS both serve through these, so a fix to a lookup rule is
//! made once.

use crate::endpoint::Endpoint;
use crate::errno::Errno;
use crate::ipc::Sys;
use crate::proto::fs::{Buf, Cred, FsAnswer, LookupFlags, NodeAttr, WalkOutcome, put_dirent};
use crate::proto::vfs::mode::{S_IFDIR, S_IFLNK, S_IFMT};
use alloc::vec;
use alloc::vec::Vec;

/// The part of a file system a path walk needs. Errors are already the
/// file server's answers (its own error type mapped to an [`Errno`]).
pub trait DirTree {
    /// The root directory's inode.
    fn root(&self) -> u32;
    /// The attributes of `ino`.
    fn node(&mut self, ino: u32) -> Result<NodeAttr, Errno>;
    /// The inode `name` names in directory `dir`.
    fn lookup(&mut self, dir: u32, name: &[u8]) -> Result<u32, Errno>;
}

/// Whether `cred` has all of `want` (4 read, 2 write, 1 search/exec) on
/// a file with mode `st_mode` owned by `st_uid`/`st_gid`. Root passes
/// everything.
pub fn permitted(st_mode: u16, st_uid: u16, st_gid: u16, cred: Cred, want: u16) -> bool {
    if cred.uid == 0 {
        return true;
    }
    let bits = if cred.uid == st_uid {
        st_mode >> 6
    } else if cred.gid == st_gid {
        st_mode >> 3
    } else {
        st_mode
    };
    bits & want & 7 == want
}

fn is_type(n: &NodeAttr, t: u16) -> bool {
    n.mode & S_IFMT == t
}

/// Walk `path` from directory `dir` (MINIX `req_lookup`): each directory
/// on the way must be searchable by `cred`; the walk stops at a symbolic
/// link it must follow (not the last component unless `follow_last`, or a
/// trailing slash), at a mount point (`is_mountpoint`, except through `.`
/// and `..`), and at `..` of the root when `leave_at_root`, saying how many
/// path bytes it consumed; else it finds the node and its parent.
pub fn walk<T: DirTree + ?Sized>(
    fs: &mut T,
    dir: u32,
    path: &[u8],
    flags: LookupFlags,
    cred: Cred,
    is_mountpoint: impl Fn(u32) -> bool,
) -> Result<WalkOutcome, Errno> {
    let root = fs.root();
    let mut comps: Vec<(usize, &[u8])> = Vec::new();
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'/' {
            i += 1;
            continue;
        }
        let s = i;
        while i < path.len() && path[i] != b'/' {
            i += 1;
        }
        comps.push((s, &path[s..i]));
    }
    let trailing_slash = path.last() == Some(&b'/');
    let mut cur = dir;
    let mut parent = dir;
    for (k, &(off, comp)) in comps.iter().enumerate() {
        let last = k + 1 == comps.len();
        let st = fs.node(cur)?;
        if !is_type(&st, S_IFDIR) {
            return Err(Errno::ENOTDIR);
        }
        if !permitted(st.mode, st.uid, st.gid, cred, 1) {
            return Err(Errno::EACCES);
        }
        if comp == b".." && cur == root && flags.leave_at_root {
            return Ok(WalkOutcome::LeaveRoot {
                consumed: off as u32,
            });
        }
        let child = fs.lookup(cur, comp)?;
        let cst = fs.node(child)?;
        let end = (off + comp.len()) as u32;
        if is_type(&cst, S_IFLNK) && (!last || flags.follow_last || trailing_slash) {
            return Ok(WalkOutcome::Symlink {
                ino: child,
                dir: cur,
                consumed: end,
            });
        }
        if is_mountpoint(child) && comp != b"." && comp != b".." {
            return Ok(WalkOutcome::MountPoint {
                ino: child,
                consumed: end,
            });
        }
        parent = cur;
        cur = child;
    }
    let st = fs.node(cur)?;
    if trailing_slash && !comps.is_empty() && !is_type(&st, S_IFDIR) {
        return Err(Errno::ENOTDIR);
    }
    Ok(WalkOutcome::Found { node: st, parent })
}

/// The `b.len` bytes of the caller's grant (a name or data to write):
/// `ENAMETOOLONG` above `limit`, `EFAULT` if the copy fails.
pub fn fetch(sys: &mut dyn Sys, from: Endpoint, b: Buf, limit: usize) -> Result<Vec<u8>, Errno> {
    let n = b.len as usize;
    if n > limit {
        return Err(Errno::ENAMETOOLONG);
    }
    let mut v = vec![0u8; n];
    sys.safecopy_from(from, b.grant, 0, &mut v)
        .map_err(|_| Errno::EFAULT)?;
    Ok(v)
}

/// Copy as much of `bytes` as fits into the caller's buffer (a link
/// target): `Count` of the bytes copied.
pub fn reply_bytes(
    sys: &mut dyn Sys,
    from: Endpoint,
    buf: Buf,
    bytes: &[u8],
) -> Result<FsAnswer, Errno> {
    let n = bytes.len().min(buf.len as usize);
    sys.safecopy_to(from, buf.grant, 0, &bytes[..n])
        .map_err(|_| Errno::EFAULT)?;
    Ok(FsAnswer::Count {
        n: n as u64,
        pos: 0,
    })
}

/// Pack directory entries `(ino, next_pos, name)` read from position `pos`
/// into at most `cap` bytes of the caller's buffer: `Count` of the bytes
/// and the position after the last entry that fitted; `EINVAL` if there
/// were entries and not even the first fitted.
pub fn reply_dirents<'a>(
    sys: &mut dyn Sys,
    from: Endpoint,
    buf: Buf,
    cap: usize,
    pos: u64,
    ents: impl IntoIterator<Item = (u32, u64, &'a [u8])>,
) -> Result<FsAnswer, Errno> {
    let mut out = vec![0u8; cap];
    let mut at = 0;
    let mut next = pos;
    let mut any = false;
    for (ino, next_pos, name) in ents {
        any = true;
        match put_dirent(&mut out, at, ino, next_pos, name) {
            Some(n) => {
                at += n;
                next = next_pos;
            }
            None => break,
        }
    }
    if at == 0 && any {
        return Err(Errno::EINVAL);
    }
    sys.safecopy_to(from, buf.grant, 0, &out[..at])
        .map_err(|_| Errno::EFAULT)?;
    Ok(FsAnswer::Count {
        n: at as u64,
        pos: next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;

    /// A tree: 1 = / (0755, root), 2 = /d (0700, uid 5), 3 = /d/f, 4 =
    /// /l -> symlink, 5 = /m (a mount point).
    struct Tree(BTreeMap<u32, (NodeAttr, Entries)>);

    /// A directory's (name, inode) pairs.
    type Entries = Vec<(&'static [u8], u32)>;

    fn node(ino: u32, mode: u16, uid: u16) -> NodeAttr {
        NodeAttr {
            ino,
            mode,
            uid,
            gid: 0,
            nlinks: 1,
            size: 0,
            rdev: 0,
        }
    }

    fn tree() -> Tree {
        let mut t = BTreeMap::new();
        t.insert(
            1,
            (
                node(1, S_IFDIR | 0o755, 0),
                vec![
                    (&b"."[..], 1),
                    (&b".."[..], 1),
                    (&b"d"[..], 2),
                    (&b"l"[..], 4),
                    (&b"m"[..], 5),
                ],
            ),
        );
        t.insert(
            2,
            (
                node(2, S_IFDIR | 0o700, 5),
                vec![(&b".."[..], 1), (&b"f"[..], 3)],
            ),
        );
        t.insert(3, (node(3, 0o100644, 5), vec![]));
        t.insert(4, (node(4, S_IFLNK | 0o777, 0), vec![]));
        t.insert(5, (node(5, S_IFDIR | 0o755, 0), vec![]));
        Tree(t)
    }

    impl DirTree for Tree {
        fn root(&self) -> u32 {
            1
        }
        fn node(&mut self, ino: u32) -> Result<NodeAttr, Errno> {
            self.0.get(&ino).map(|n| n.0).ok_or(Errno::ENOENT)
        }
        fn lookup(&mut self, dir: u32, name: &[u8]) -> Result<u32, Errno> {
            let d = self.0.get(&dir).ok_or(Errno::ENOENT)?;
            d.1.iter()
                .find(|(n, _)| *n == name)
                .map(|&(_, i)| i)
                .ok_or(Errno::ENOENT)
        }
    }

    const U5: Cred = Cred { uid: 5, gid: 1 };
    const U6: Cred = Cred { uid: 6, gid: 1 };

    fn go(path: &[u8], flags: LookupFlags, cred: Cred) -> Result<WalkOutcome, Errno> {
        walk(&mut tree(), 1, path, flags, cred, |i| i == 5)
    }

    #[test]
    fn walks_find_stop_and_refuse() {
        let plain = LookupFlags::default();
        assert_eq!(
            go(b"d/f", plain, U5),
            Ok(WalkOutcome::Found {
                node: node(3, 0o100644, 5),
                parent: 2
            })
        );
        // Search permission on /d (0700, uid 5).
        assert_eq!(go(b"d/f", plain, U6), Err(Errno::EACCES));
        assert!(go(b"d/f", plain, Cred::ROOT).is_ok());
        assert_eq!(go(b"d/f/", plain, U5), Err(Errno::ENOTDIR));
        assert_eq!(go(b"d/f/x", plain, U5), Err(Errno::ENOTDIR));
        assert_eq!(go(b"d/nope", plain, U5), Err(Errno::ENOENT));
        // A last-component symlink is found unless followed.
        assert!(matches!(
            go(b"l", plain, U5),
            Ok(WalkOutcome::Found { node, .. }) if node.ino == 4
        ));
        let follow = LookupFlags {
            follow_last: true,
            ..plain
        };
        assert_eq!(
            go(b"/l", follow, U5),
            Ok(WalkOutcome::Symlink {
                ino: 4,
                dir: 1,
                consumed: 2
            })
        );
        assert_eq!(
            go(b"m/x", plain, U5),
            Ok(WalkOutcome::MountPoint {
                ino: 5,
                consumed: 1
            })
        );
        let leave = LookupFlags {
            leave_at_root: true,
            ..plain
        };
        assert_eq!(
            go(b"d/../../x", leave, U5),
            Ok(WalkOutcome::LeaveRoot { consumed: 5 })
        );
        // Without leave_at_root, `..` of the root is the root.
        assert!(matches!(
            go(b"..", plain, U5),
            Ok(WalkOutcome::Found { node, .. }) if node.ino == 1
        ));
    }

    #[test]
    fn permission_bits() {
        let u = Cred { uid: 5, gid: 7 };
        assert!(permitted(0o700, 5, 1, u, 7));
        // The owner class wins even when the group class would allow.
        assert!(!permitted(0o070, 5, 7, u, 4));
        assert!(permitted(0o070, 6, 7, u, 6));
        assert!(!permitted(0o005, 1, 1, u, 2));
        assert!(!permitted(0o775, 6, 8, u, 2));
        assert!(permitted(0o555, 1, 1, u, 5));
        assert!(permitted(0, 1, 1, Cred::ROOT, 7));
    }
}
