//! Path names: roots (global and chroot), working directories, the walk
//! through mounts and symlinks, and the permission rule for search.

use alloc::vec::Vec;

use sys::Errno;
use sys::fsserver::permitted;
use sys::proto::fs::{Cred, FsAnswer, FsRequest, LookupFlags, WalkOutcome};

use crate::{GSpec, PATH_MAX, SYMLOOP_MAX};

use super::{Node, R, V, is_dir, no_buf};

impl V {
    /// The real `/`.
    fn global_root(&self) -> (usize, u32) {
        let st = self.st.borrow();
        (0, st.mounts.first().map(|m| m.root).unwrap_or(1))
    }

    /// The caller's root directory if it called chroot.
    fn jail(&self) -> Option<(usize, u32)> {
        self.st
            .borrow()
            .procs
            .get(&self.caller.0)
            .and_then(|p| p.root)
    }

    /// Where absolute paths start for the caller.
    pub(super) fn root(&self) -> (usize, u32) {
        self.jail().unwrap_or_else(|| self.global_root())
    }

    pub(super) fn cwd(&self) -> (usize, u32) {
        let cwd = self
            .st
            .borrow()
            .procs
            .get(&self.caller.0)
            .and_then(|p| p.cwd);
        // chroot does not move the working directory (POSIX).
        cwd.unwrap_or_else(|| self.global_root())
    }

    /// chroot(2): root only; `path` must be a searchable directory.
    pub(super) async fn chroot(&self, path: &[u8]) -> R<()> {
        if self.cred.uid != 0 {
            return Err(Errno::EPERM);
        }
        let n = self.resolve(path, true, true).await?;
        let a = n.attr;
        if !is_dir(a.mode) {
            self.put(n.mnt, a.ino).await;
            return Err(Errno::ENOTDIR);
        }
        let old = {
            let mut st = self.st.borrow_mut();
            st.proc_mut(self.caller).root.replace((n.mnt, a.ino))
        };
        if let Some((m, i)) = old {
            self.put(m, i).await;
        }
        Ok(())
    }

    /// Make `(mnt, ino)` (referenced by the caller already) the working
    /// directory, dropping the old one's reference.
    async fn set_cwd(&self, mnt: usize, ino: u32) {
        let old = {
            let mut st = self.st.borrow_mut();
            let caller = self.caller;
            st.proc_mut(caller).cwd.replace((mnt, ino))
        };
        if let Some((m, i)) = old {
            self.put(m, i).await;
        }
    }

    pub(super) async fn chdir(&self, path: &[u8]) -> R<()> {
        let n = self.resolve(path, true, true).await?;
        let a = n.attr;
        let bad = if !is_dir(a.mode) {
            Some(Errno::ENOTDIR)
        } else if !permitted(a.mode, a.uid, a.gid, self.cred, 1) {
            Some(Errno::EACCES)
        } else {
            None
        };
        if let Some(e) = bad {
            self.put(n.mnt, a.ino).await;
            return Err(e);
        }
        self.set_cwd(n.mnt, a.ino).await;
        Ok(())
    }

    pub(super) async fn fchdir(&self, fd: i32) -> R<()> {
        let (_, f) = self.filp(fd)?;
        if !is_dir(f.mode) || self.is_pipe_mnt(f.mnt) || self.is_cdev_mnt(f.mnt) {
            return Err(Errno::ENOTDIR);
        }
        // Take a reference of its own: an empty-path open lookup.
        let req = FsRequest::Lookup {
            id: 0,
            dir: f.ino,
            path: no_buf(),
            flags: LookupFlags {
                follow_last: true,
                leave_at_root: false,
                open: true,
            },
            cred: self.cred,
        };
        self.fs(f.mnt, req, GSpec::In(Vec::new()), GSpec::None)
            .await?;
        self.set_cwd(f.mnt, f.ino).await;
        Ok(())
    }

    /// Resolve `path`; `open` takes a file-server reference on the result.
    pub(super) async fn resolve(&self, path: &[u8], follow_last: bool, open: bool) -> R<Node> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() > PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let (mut mnt, mut dir) = if path[0] == b'/' {
            self.root()
        } else {
            self.cwd()
        };
        let mut cur: Vec<u8> = path.to_vec();
        let mut links = 0;
        let jail = self.jail();
        loop {
            // In a chroot VFS walks each `..` itself (a file server would
            // walk it past the process root): the path up to a `..` is
            // looked up first, and a `..` at the process root stays there.
            let mut send = cur.len();
            if let Some(j) = jail
                && let Some((start, end)) = dotdot_at(&cur)
            {
                if cur[..start].iter().all(|&c| c == b'/') {
                    if (mnt, dir) == j {
                        let rest = &cur[end..];
                        let skip = rest.iter().take_while(|&&c| c == b'/').count();
                        cur = rest[skip..].to_vec();
                        if cur.is_empty() {
                            cur = b".".to_vec();
                        }
                        continue;
                    }
                    send = end;
                } else {
                    send = start;
                }
                if cur[send..].iter().all(|&c| c == b'/') {
                    send = cur.len();
                }
            }
            let partial = send < cur.len();
            let flags = LookupFlags {
                follow_last: follow_last || partial,
                leave_at_root: mnt != 0,
                open: open && !partial,
            };
            let req = FsRequest::Lookup {
                id: 0,
                dir,
                path: no_buf(),
                flags,
                cred: self.cred,
            };
            let (ans, _) = self
                .fs(mnt, req, GSpec::In(cur[..send].to_vec()), GSpec::None)
                .await?;
            let FsAnswer::Walk(w) = ans else {
                return Err(Errno::EIO);
            };
            match w {
                WalkOutcome::Found { node, .. } if partial => {
                    if !is_dir(node.mode) {
                        return Err(Errno::ENOTDIR);
                    }
                    dir = node.ino;
                    cur = cur[send..].to_vec();
                }
                WalkOutcome::Found { node, .. } => return Ok(Node { mnt, attr: node }),
                WalkOutcome::Symlink {
                    ino,
                    dir: d,
                    consumed,
                } => {
                    links += 1;
                    if links > SYMLOOP_MAX {
                        return Err(Errno::ELOOP);
                    }
                    let req = FsRequest::Readlink {
                        id: 0,
                        ino,
                        buf: no_buf(),
                    };
                    let (ans, data) = self.fs(mnt, req, GSpec::Out(PATH_MAX), GSpec::None).await?;
                    let n = match ans {
                        FsAnswer::Count { n, .. } => n as usize,
                        _ => return Err(Errno::EIO),
                    };
                    let mut target = data.unwrap_or_default();
                    target.truncate(n);
                    if target.is_empty() {
                        return Err(Errno::ENOENT);
                    }
                    let rest = cur.get(consumed as usize..).unwrap_or(&[]);
                    let mut next = target.clone();
                    if !rest.is_empty() {
                        next.push(b'/');
                        next.extend_from_slice(rest);
                    }
                    if next.len() > PATH_MAX {
                        return Err(Errno::ENAMETOOLONG);
                    }
                    if target[0] == b'/' {
                        (mnt, dir) = self.root();
                    } else {
                        dir = d;
                    }
                    cur = next;
                }
                WalkOutcome::MountPoint { ino, consumed } => {
                    let st = self.st.borrow();
                    let m = st
                        .mounts
                        .iter()
                        .position(|m| m.covered == Some((mnt, ino)))
                        .ok_or(Errno::EIO)?;
                    mnt = m;
                    dir = st.mounts[m].root;
                    cur = cur.get(consumed as usize..).unwrap_or(&[]).to_vec();
                }
                WalkOutcome::LeaveRoot { consumed } => {
                    let st = self.st.borrow();
                    let (pm, pino) = st
                        .mounts
                        .get(mnt)
                        .and_then(|m| m.covered)
                        .ok_or(Errno::EIO)?;
                    mnt = pm;
                    dir = pino;
                    cur = cur.get(consumed as usize..).unwrap_or(&[]).to_vec();
                }
            }
        }
    }

    /// Resolve everything but the last component: (mount, directory, name).
    pub(super) async fn resolve_parent(&self, path: &[u8]) -> R<(usize, u32, Vec<u8>)> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() > PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut end = path.len();
        while end > 1 && path[end - 1] == b'/' {
            end -= 1;
        }
        let p = &path[..end];
        let (dirpart, name): (&[u8], &[u8]) = match p.iter().rposition(|&c| c == b'/') {
            Some(0) => (b"/", &p[1..]),
            Some(i) => (&p[..i], &p[i + 1..]),
            None => (b".", p),
        };
        if name.is_empty() {
            // The path is "/" itself.
            return Err(Errno::EEXIST);
        }
        // A name in the working directory or in `/`: VFS knows that
        // directory already, so no lookup is needed (the file server checks
        // search and write permission on the operation itself).
        if dirpart == b"." || dirpart == b"/" {
            let (mnt, ino) = if dirpart == b"." {
                self.cwd()
            } else {
                self.root()
            };
            return Ok((mnt, ino, name.to_vec()));
        }
        let d = self.resolve(dirpart, true, false).await?;
        if !is_dir(d.attr.mode) {
            return Err(Errno::ENOTDIR);
        }
        Ok((d.mnt, d.attr.ino, name.to_vec()))
    }

    pub(super) async fn named(
        &self,
        path: &[u8],
        make: impl FnOnce(u32, Cred) -> FsRequest,
        g2: GSpec,
    ) -> R<FsAnswer> {
        let (mnt, dir, name) = self.resolve_parent(path).await?;
        let req = make(dir, self.cred);
        self.fs(mnt, req, GSpec::In(name), g2).await.map(|r| r.0)
    }
}

/// The first `..` component of `path`: (start, end) byte offsets.
fn dotdot_at(path: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < path.len() {
        if path[i] == b'/' {
            i += 1;
            continue;
        }
        let end = path[i..]
            .iter()
            .position(|&c| c == b'/')
            .map_or(path.len(), |k| i + k);
        if &path[i..end] == b".." {
            return Some((i, end));
        }
        i = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_rule() {
        let u = Cred { uid: 10, gid: 20 };
        assert!(permitted(0o600, 10, 0, u, 6));
        assert!(!permitted(0o060, 10, 20, u, 4));
        assert!(permitted(0o040, 1, 20, u, 4));
        assert!(permitted(0o004, 1, 1, u, 4));
        assert!(!permitted(0o004, 1, 1, u, 2));
        assert!(permitted(0, 1, 1, Cred::ROOT, 6));
    }
}
