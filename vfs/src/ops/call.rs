//! The POSIX calls as jobs: [`start_call`] copies the caller's data in
//! and dispatches each call to its job.

use alloc::boxed::Box;
use alloc::vec::Vec;

use sys::proto::fs::{Buf, FsAnswer, FsRequest};
use sys::proto::vfs::{
    SELECT_SETS_LEN, VfsAnswer, VfsCall, VfsReply, decode_sets, encode_sets, mode, oflag,
};
use sys::{Endpoint, Errno, Sys};

use crate::{GSpec, Outcome, PATH_MAX, Shared};

use super::{JobFut, R, V, data_out, done, fetch, is_dir, job, no_buf, stat_out, value};
use sys::fsserver::permitted;

/// Copy the call's inputs from the caller and build its job.
pub fn start_call(sys: &mut dyn Sys, st: Shared, caller: Endpoint, call: VfsCall) -> JobFut {
    let (cred, umask) = {
        let mut s = st.borrow_mut();
        let p = s.proc_mut(caller);
        (p.cred, p.umask)
    };
    let v = V {
        st,
        caller,
        cred,
        umask,
    };
    let id = call.id();
    let path = |sys: &mut dyn Sys, b: Buf| fetch(sys, caller, b, PATH_MAX, Errno::ENAMETOOLONG);
    use VfsCall::*;
    // Inputs first: a bad grant fails the call before anything happens.
    let inputs: R<(Vec<u8>, Vec<u8>)> = match call {
        Open { path: p, .. }
        | Stat { path: p, .. }
        | Lstat { path: p, .. }
        | Mkdir { path: p, .. }
        | Rmdir { path: p, .. }
        | Unlink { path: p, .. }
        | Readlink { path: p, .. }
        | Chmod { path: p, .. }
        | Chown { path: p, .. }
        | Utimes { path: p, .. }
        | Truncate { path: p, .. }
        | Statvfs { path: p, .. }
        | Mknod { path: p, .. } => path(sys, p).map(|a| (a, Vec::new())),
        Umount { path: p, .. } | Chdir { path: p, .. } | Chroot { path: p, .. } => {
            path(sys, p).map(|a| (a, Vec::new()))
        }
        Mount { path: p, label, .. } => {
            path(sys, p).and_then(|a| fetch(sys, caller, label, 64, Errno::EINVAL).map(|b| (a, b)))
        }
        Link { old, new, .. } | Rename { old, new, .. } => {
            path(sys, old).and_then(|a| path(sys, new).map(|b| (a, b)))
        }
        Symlink {
            target, path: p, ..
        } => path(sys, target).and_then(|a| path(sys, p).map(|b| (a, b))),
        Select { sets, .. } => {
            fetch(sys, caller, sets, SELECT_SETS_LEN, Errno::EINVAL).map(|a| (a, Vec::new()))
        }
        _ => Ok((Vec::new(), Vec::new())),
    };
    let (a, b) = match inputs {
        Ok(x) => x,
        Err(e) => return Box::pin(async move { value(id, Err(e)) }),
    };
    match call {
        Open { flags, mode: m, .. } => job(async move {
            // O_CLOEXEC is a descriptor flag, not one of the open file.
            let r = v.open(&a, flags & !oflag::O_CLOEXEC, m).await;
            if let Ok(fd) = r
                && flags & oflag::O_CLOEXEC != 0
            {
                v.set_cloexec(fd);
            }
            value(id, r.map(i64::from))
        }),
        Close { fd, .. } => job(async move { value(id, done(v.close_fd(fd).await)) }),
        // Data moves between the caller and the server directly.
        Read { fd, buf, .. } => {
            job(async move { value(id, v.read(fd, buf).await.map(|n| n as i64)) })
        }
        Write { fd, buf, .. } => {
            job(async move { value(id, v.write(fd, buf).await.map(|n| n as i64)) })
        }
        Lseek {
            fd, off, whence, ..
        } => job(async move { value(id, v.lseek(fd, off, whence).await) }),
        Dup { fd, .. } => job(async move { value(id, v.dup(fd, None).map(|r| i64::from(r.0))) }),
        Dup2 { fd, fd2, .. } => job(async move {
            let r = match v.dup(fd, Some(fd2)) {
                Ok((t, Some(_))) => match v.close_fd(t).await {
                    Ok(()) => v.dup(fd, Some(fd2)).map(|r| r.0),
                    Err(e) => Err(e),
                },
                Ok((t, None)) => Ok(t),
                Err(e) => Err(e),
            };
            value(id, r.map(i64::from))
        }),
        Stat { .. } | Lstat { .. } => job(async move {
            let follow = matches!(call, Stat { .. });
            let r = match v.resolve(&a, follow, false).await {
                Ok(n) => v.stat_ino(n.mnt, n.attr.ino).await,
                Err(e) => Err(e),
            };
            stat_out(id, r)
        }),
        Fstat { fd, .. } => job(async move {
            let r = match v.filp(fd) {
                Ok((_, f)) => {
                    let (m, i) = f.node.unwrap_or((f.mnt, f.ino));
                    v.stat_ino(m, i).await
                }
                Err(e) => Err(e),
            };
            stat_out(id, r)
        }),
        Mkdir { mode: m, .. } => job(async move {
            let m = m & !v.umask;
            let r = v
                .named(
                    &a,
                    |dir, cred| FsRequest::Mkdir {
                        id: 0,
                        dir,
                        name: no_buf(),
                        mode: m & 0o7777,
                        cred,
                    },
                    GSpec::None,
                )
                .await;
            value(id, done(r))
        }),
        Mknod { mode: m, rdev, .. } => job(async move {
            let m = m & !v.umask;
            let r = v
                .named(
                    &a,
                    |dir, cred| FsRequest::Mknod {
                        id: 0,
                        dir,
                        name: no_buf(),
                        mode: m,
                        rdev,
                        cred,
                    },
                    GSpec::None,
                )
                .await;
            value(id, done(r))
        }),
        Rmdir { .. } | Unlink { .. } => job(async move {
            let rmdir = matches!(call, Rmdir { .. });
            let r = async {
                let (mnt, dir, name) = v.resolve_parent(&a).await?;
                if rmdir && name == b"." {
                    return Err(Errno::EINVAL);
                }
                if rmdir && name == b".." {
                    return Err(Errno::ENOTEMPTY);
                }
                // A mount point or a mounted root is busy.
                if rmdir {
                    let child = v.resolve(&a, false, false).await?;
                    let st = v.st.borrow();
                    let busy = st.mounts.iter().enumerate().any(|(i, m)| {
                        m.covered == Some((child.mnt, child.attr.ino))
                            || (i == child.mnt && m.root == child.attr.ino)
                    });
                    if busy {
                        return Err(Errno::EBUSY);
                    }
                }
                let req = if rmdir {
                    FsRequest::Rmdir {
                        id: 0,
                        dir,
                        name: no_buf(),
                        cred: v.cred,
                    }
                } else {
                    FsRequest::Unlink {
                        id: 0,
                        dir,
                        name: no_buf(),
                        cred: v.cred,
                    }
                };
                v.fs(mnt, req, GSpec::In(name), GSpec::None).await
            }
            .await;
            value(id, done(r))
        }),
        Link { .. } => job(async move {
            let r = async {
                let old = v.resolve(&a, false, false).await?;
                if is_dir(old.attr.mode) {
                    return Err(Errno::EPERM);
                }
                let (mnt, dir, name) = v.resolve_parent(&b).await?;
                if mnt != old.mnt {
                    return Err(Errno::EXDEV);
                }
                let req = FsRequest::Link {
                    id: 0,
                    dir,
                    name: no_buf(),
                    ino: old.attr.ino,
                    cred: v.cred,
                };
                v.fs(mnt, req, GSpec::In(name), GSpec::None).await
            }
            .await;
            value(id, done(r))
        }),
        Rename { .. } => job(async move {
            let r = async {
                let (m1, d1, n1) = v.resolve_parent(&a).await?;
                let (m2, d2, n2) = v.resolve_parent(&b).await?;
                if m1 != m2 {
                    return Err(Errno::EXDEV);
                }
                if n1 == b"." || n1 == b".." || n2 == b"." || n2 == b".." {
                    return Err(Errno::EINVAL);
                }
                let req = FsRequest::Rename {
                    id: 0,
                    old_dir: d1,
                    old_name: no_buf(),
                    new_dir: d2,
                    new_name: no_buf(),
                    cred: v.cred,
                };
                v.fs(m1, req, GSpec::In(n1), GSpec::In(n2)).await
            }
            .await;
            value(id, done(r))
        }),
        Symlink { .. } => job(async move {
            let target = a.clone();
            let r = v
                .named(
                    &b,
                    |dir, cred| FsRequest::Symlink {
                        id: 0,
                        dir,
                        name: no_buf(),
                        target: no_buf(),
                        cred,
                    },
                    GSpec::In(target),
                )
                .await;
            value(id, done(r))
        }),
        Readlink { buf, .. } => job(async move {
            let r = async {
                let n = v.resolve(&a, false, false).await?;
                if n.attr.mode & mode::S_IFMT != mode::S_IFLNK {
                    return Err(Errno::EINVAL);
                }
                let req = FsRequest::Readlink {
                    id: 0,
                    ino: n.attr.ino,
                    buf: no_buf(),
                };
                let cap = (buf.len as usize).min(PATH_MAX);
                let (ans, data) = v.fs(n.mnt, req, GSpec::Out(cap), GSpec::None).await?;
                let FsAnswer::Count { n: k, .. } = ans else {
                    return Err(Errno::EIO);
                };
                let mut d = data.unwrap_or_default();
                d.truncate(k as usize);
                Ok(d)
            }
            .await;
            data_out(id, buf, r)
        }),
        Chmod { mode: m, .. } => job(async move {
            let r = async {
                let n = v.resolve(&a, true, false).await?;
                let req = FsRequest::Chmod {
                    id: 0,
                    ino: n.attr.ino,
                    mode: m,
                    cred: v.cred,
                };
                v.fs_simple(n.mnt, req).await
            }
            .await;
            value(id, done(r))
        }),
        Chown { uid, gid, .. } => job(async move {
            let r = async {
                let n = v.resolve(&a, true, false).await?;
                let req = FsRequest::Chown {
                    id: 0,
                    ino: n.attr.ino,
                    uid,
                    gid,
                    cred: v.cred,
                };
                v.fs_simple(n.mnt, req).await
            }
            .await;
            value(id, done(r))
        }),
        Utimes { atime, mtime, .. } => job(async move {
            let r = async {
                let n = v.resolve(&a, true, false).await?;
                let req = FsRequest::Utimes {
                    id: 0,
                    ino: n.attr.ino,
                    atime,
                    mtime,
                    cred: v.cred,
                };
                v.fs_simple(n.mnt, req).await
            }
            .await;
            value(id, done(r))
        }),
        Getdents { fd, buf, .. } => {
            job(async move { data_out(id, buf, v.getdents(fd, buf.len as usize).await) })
        }
        Pipe { .. } => job(async move { value(id, v.pipe().await) }),
        Mount { .. } => job(async move { value(id, done(v.mount(&a, &b).await)) }),
        Umount { .. } => job(async move { value(id, done(v.umount(&a).await)) }),
        Chdir { .. } => job(async move { value(id, done(v.chdir(&a).await)) }),
        Fchdir { fd, .. } => job(async move { value(id, done(v.fchdir(fd).await)) }),
        Umask { mask, .. } => job(async move { value(id, Ok(v.set_umask(mask))) }),
        Chroot { .. } => job(async move { value(id, done(v.chroot(&a).await)) }),
        Fcntl { fd, cmd, arg, .. } => job(async move { value(id, v.fcntl(fd, cmd, arg)) }),
        Ioctl {
            fd,
            req,
            grant,
            len,
            ..
        } => job(async move { value(id, v.ioctl(fd, req, grant, len).await) }),
        Select {
            nfds,
            sets,
            timeout,
            ..
        } => job(async move {
            match v.select(nfds, decode_sets(&a), timeout).await {
                Ok((n, out)) => Outcome {
                    reply: VfsReply {
                        id,
                        result: Ok(VfsAnswer::Value(n)),
                    },
                    copy_out: Some((sets, encode_sets(out).to_vec())),
                },
                Err(e) => value(id, Err(e)),
            }
        }),
        Truncate { size, .. } => job(async move {
            let r = async {
                let n = v.resolve(&a, true, false).await?;
                if is_dir(n.attr.mode) {
                    return Err(Errno::EISDIR);
                }
                // As Linux: only a regular file has a length to set (a
                // device's driver was sent one and never answered).
                if n.attr.mode & mode::S_IFMT != mode::S_IFREG {
                    return Err(Errno::EINVAL);
                }
                if !permitted(n.attr.mode, n.attr.uid, n.attr.gid, v.cred, 2) {
                    return Err(Errno::EACCES);
                }
                let req = FsRequest::Truncate {
                    id: 0,
                    ino: n.attr.ino,
                    size,
                };
                v.fs_simple(n.mnt, req).await
            }
            .await;
            value(id, done(r))
        }),
        Ftruncate { fd, size, .. } => job(async move {
            let r = async {
                let (_, f) = v.filp(fd)?;
                if f.flags & oflag::O_ACCMODE == oflag::O_RDONLY
                    || f.mode & mode::S_IFMT != mode::S_IFREG
                {
                    return Err(Errno::EINVAL);
                }
                let req = FsRequest::Truncate {
                    id: 0,
                    ino: f.ino,
                    size,
                };
                v.fs_simple(f.mnt, req).await
            }
            .await;
            value(id, done(r))
        }),
        Fsync { fd, .. } => job(async move {
            let r = async {
                let (_, f) = v.filp(fd)?;
                v.fs_simple(f.mnt, FsRequest::Sync { id: 0 }).await
            }
            .await;
            value(id, done(r))
        }),
        Sync { .. } => job(async move {
            let n = v.st.borrow().mounts.len();
            let mut r = Ok(FsAnswer::Done);
            for m in 0..n {
                // An unmounted (or never attached) entry has no server:
                // a request to it would be held forever.
                let detached =
                    v.st.borrow()
                        .mounts
                        .get(m)
                        .is_none_or(|x| x.ep == Endpoint::NONE);
                if detached || v.is_pipe_mnt(m) || v.is_cdev_mnt(m) {
                    continue;
                }
                let x = v.fs_simple(m, FsRequest::Sync { id: 0 }).await;
                if r.is_ok() {
                    r = x;
                }
            }
            value(id, done(r))
        }),
        Statvfs { .. } => job(async move {
            let r = async {
                let n = v.resolve(&a, true, false).await?;
                match v.fs_simple(n.mnt, FsRequest::Statvfs { id: 0 }).await? {
                    FsAnswer::StatVfs(s) => Ok(s),
                    _ => Err(Errno::EIO),
                }
            }
            .await;
            Outcome {
                reply: VfsReply {
                    id,
                    result: r.map(VfsAnswer::StatVfs),
                },
                copy_out: None,
            }
        }),
    }
}
