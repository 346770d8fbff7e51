//! The POSIX calls as jobs: `async` code that awaits file-server answers
//! through [`FsFuture`]. User data is copied in before a job starts
//! ([`start_call`]) and out when it ends ([`Outcome::copy_out`]).
//!
//! PM's process calls are jobs too ([`pm_fork`], [`pm_exit`],
//! [`pm_exec_check`], [`pm_exec_done`]); they act on the named process's
//! tables and answer PM. So is VM's [`vm_peek_dev`] (the bytes of a block
//! device mapping), answered to VM.
//!
//! Simplifications (documented, not hidden): each open, working directory
//! and chroot directory holds its own file-server reference (no shared
//! vnode table).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::pin::Pin;

use pfs::pipe::Access;
use pfs::proto::PipeRequest;
use sys::proto::cdev::CdevRequest;
use sys::proto::fs::{Buf, Cred, FsAnswer, FsRequest, FsStat, LookupFlags, NodeAttr, WalkOutcome};
use sys::proto::vfs::{
    SELECT_SETS_LEN, VfsAnswer, VfsCall, VfsReply, decode_sets, encode_sets, mode, oflag, whence,
};
use sys::{Endpoint, Errno, GrantAccess, Sys};

use crate::{
    Filp, FsFuture, FsOp, GSpec, MAX_IO, Mount, MountSpec, OPEN_MAX, Outcome, PATH_MAX,
    SYMLOOP_MAX, Shared, Sleep,
};

type R<T> = Result<T, Errno>;

/// `req` with request id `id` and grants `b1`/`b2` filled in.
pub fn with_bufs(req: FsRequest, id: u64, b1: Option<Buf>, b2: Option<Buf>) -> FsRequest {
    use FsRequest::*;
    let z = Buf {
        grant: sys::GrantId(0),
        len: 0,
    };
    let b1 = b1.unwrap_or(z);
    let b2 = b2.unwrap_or(z);
    match req {
        ReadSuper { .. } => ReadSuper { id },
        Unmount { .. } => Unmount { id },
        Lookup {
            dir, flags, cred, ..
        } => Lookup {
            id,
            dir,
            path: b1,
            flags,
            cred,
        },
        Create {
            dir, mode, cred, ..
        } => Create {
            id,
            dir,
            name: b1,
            mode,
            cred,
        },
        Mkdir {
            dir, mode, cred, ..
        } => Mkdir {
            id,
            dir,
            name: b1,
            mode,
            cred,
        },
        Mknod {
            dir,
            mode,
            rdev,
            cred,
            ..
        } => Mknod {
            id,
            dir,
            name: b1,
            mode,
            rdev,
            cred,
        },
        Unlink { dir, cred, .. } => Unlink {
            id,
            dir,
            name: b1,
            cred,
        },
        Rmdir { dir, cred, .. } => Rmdir {
            id,
            dir,
            name: b1,
            cred,
        },
        Rename {
            old_dir,
            new_dir,
            cred,
            ..
        } => Rename {
            id,
            old_dir,
            old_name: b1,
            new_dir,
            new_name: b2,
            cred,
        },
        Link { dir, ino, cred, .. } => Link {
            id,
            dir,
            name: b1,
            ino,
            cred,
        },
        Symlink { dir, cred, .. } => Symlink {
            id,
            dir,
            name: b1,
            target: b2,
            cred,
        },
        Readlink { ino, .. } => Readlink { id, ino, buf: b1 },
        Read {
            ino, pos, flags, ..
        } => Read {
            id,
            ino,
            pos,
            buf: b1,
            flags,
        },
        Write {
            ino, pos, flags, ..
        } => Write {
            id,
            ino,
            pos,
            buf: b1,
            flags,
        },
        Truncate { ino, size, .. } => Truncate { id, ino, size },
        Stat { ino, .. } => Stat { id, ino },
        Chmod {
            ino, mode, cred, ..
        } => Chmod {
            id,
            ino,
            mode,
            cred,
        },
        Chown {
            ino,
            uid,
            gid,
            cred,
            ..
        } => Chown {
            id,
            ino,
            uid,
            gid,
            cred,
        },
        Utimes {
            ino,
            atime,
            mtime,
            cred,
            ..
        } => Utimes {
            id,
            ino,
            atime,
            mtime,
            cred,
        },
        Getdents { ino, pos, .. } => Getdents {
            id,
            ino,
            pos,
            buf: b1,
        },
        Statvfs { .. } => Statvfs { id },
        Sync { .. } => Sync { id },
        Putnode { ino, count, .. } => Putnode { id, ino, count },
        Mountpoint { ino, on, .. } => Mountpoint { id, ino, on },
        NewNode {
            mode, rdev, cred, ..
        } => NewNode {
            id,
            mode,
            rdev,
            cred,
        },
    }
}

/// `p` with request id `id`.
pub fn pipe_with_id(p: PipeRequest, id: u64) -> PipeRequest {
    match p {
        PipeRequest::Open {
            key,
            access,
            nonblock,
            ..
        } => PipeRequest::Open {
            id,
            key,
            access,
            nonblock,
        },
        PipeRequest::Close { ino, access, .. } => PipeRequest::Close { id, ino, access },
        PipeRequest::Select {
            ino, ops, block, ..
        } => PipeRequest::Select {
            id,
            ino,
            ops,
            block,
        },
        PipeRequest::Cancel { target, .. } => PipeRequest::Cancel { id, target },
    }
}

/// `c` with request id `id` and, for reads and writes, grant `b`.
pub fn cdev_with(c: CdevRequest, id: u64, b: Option<Buf>) -> CdevRequest {
    let g = b.map(|b| b.grant).unwrap_or(sys::GrantId(0));
    match c {
        CdevRequest::Open { minor, access, .. } => CdevRequest::Open { id, minor, access },
        CdevRequest::Close { minor, .. } => CdevRequest::Close { id, minor },
        CdevRequest::Read {
            minor,
            size,
            nonblock,
            ..
        } => CdevRequest::Read {
            id,
            minor,
            grant: g,
            size,
            nonblock,
        },
        CdevRequest::Write {
            minor,
            size,
            nonblock,
            ..
        } => CdevRequest::Write {
            id,
            minor,
            grant: g,
            size,
            nonblock,
        },
        // A cancel names the request it cancels: keep that id.
        CdevRequest::Cancel { id, minor } => CdevRequest::Cancel { id, minor },
        CdevRequest::Select {
            minor, ops, notify, ..
        } => CdevRequest::Select {
            id,
            minor,
            ops,
            notify,
        },
        CdevRequest::Ioctl {
            minor, req, len, ..
        } => CdevRequest::Ioctl {
            id,
            minor,
            req,
            grant: g,
            len,
        },
    }
}

fn cdev_access(flags: u32) -> u32 {
    use sys::proto::cdev::access;
    match flags & oflag::O_ACCMODE {
        oflag::O_RDONLY => access::READ,
        oflag::O_WRONLY => access::WRITE,
        _ => access::READ | access::WRITE,
    }
}

fn access_of(flags: u32) -> Access {
    match flags & oflag::O_ACCMODE {
        oflag::O_RDONLY => Access::Read,
        oflag::O_WRONLY => Access::Write,
        _ => Access::ReadWrite,
    }
}

/// A job's handle on VFS state for one caller.
#[derive(Clone)]
struct V {
    st: Shared,
    caller: Endpoint,
    cred: Cred,
    /// The caller's umask.
    umask: u16,
}

fn no_buf() -> Buf {
    Buf {
        grant: sys::GrantId(0),
        len: 0,
    }
}

fn is_dir(m: u16) -> bool {
    m & mode::S_IFMT == mode::S_IFDIR
}

/// A resolved path.
#[derive(Debug, Clone, Copy)]
struct Node {
    mnt: usize,
    attr: NodeAttr,
}

impl V {
    async fn fs(
        &self,
        mnt: usize,
        req: FsRequest,
        g1: GSpec,
        g2: GSpec,
    ) -> R<(FsAnswer, Option<Vec<u8>>)> {
        FsFuture::new(
            self.st.clone(),
            FsOp {
                mnt,
                req,
                g1,
                g2,
                pipe: None,
                cdev: None,
                ds_label: None,
            },
        )
        .await
    }

    async fn pipe_req(&self, mnt: usize, p: PipeRequest) -> R<FsAnswer> {
        let op = FsOp {
            mnt,
            req: FsRequest::Sync { id: 0 },
            g1: GSpec::None,
            g2: GSpec::None,
            pipe: Some(p),
            cdev: None,
            ds_label: None,
        };
        FsFuture::new(self.st.clone(), op).await.map(|r| r.0)
    }

    fn pipe_mnt(&self) -> Option<usize> {
        self.st.borrow().mounts.iter().position(|m| m.pipes)
    }

    fn is_pipe_mnt(&self, mnt: usize) -> bool {
        self.st.borrow().mounts.get(mnt).is_some_and(|m| m.pipes)
    }

    fn is_cdev_mnt(&self, mnt: usize) -> bool {
        self.st
            .borrow()
            .mounts
            .get(mnt)
            .is_some_and(|m| m.cdev.is_some())
    }

    fn cdev_generation(&self, mnt: usize) -> u32 {
        self.st
            .borrow()
            .mounts
            .get(mnt)
            .map(|m| m.generation)
            .unwrap_or(0)
    }

    /// A character-driver request; the answer's count and filled buffer
    /// (`EIO` if the driver is dead or died before answering).
    async fn cdev_req(&self, mnt: usize, c: CdevRequest, g1: GSpec) -> R<(u64, Option<Vec<u8>>)> {
        match self.cdev_once(mnt, c, g1).await {
            Err(crate::DRIVER_DIED | crate::DRIVER_UNREACHED) => Err(Errno::EIO),
            r => r,
        }
    }

    /// [`Self::cdev_req`], but a driver that died before answering gives
    /// [`crate::DRIVER_DIED`], one that could not be sent to
    /// [`crate::DRIVER_UNREACHED`].
    async fn cdev_once(&self, mnt: usize, c: CdevRequest, g1: GSpec) -> R<(u64, Option<Vec<u8>>)> {
        let op = FsOp {
            mnt,
            req: FsRequest::Sync { id: 0 },
            g1,
            g2: GSpec::None,
            pipe: None,
            cdev: Some(c),
            ds_label: None,
        };
        match FsFuture::new(self.st.clone(), op).await? {
            (FsAnswer::Count { n, .. }, d) => Ok((n, d)),
            _ => Err(Errno::EIO),
        }
    }

    /// Request `c` on open device file `idx`, sent when the driver is
    /// running (the file reopened on a new instance first). A request that
    /// could not be sent (the driver is dead) waits for the new instance.
    /// With `resend`, one the driver took and died before answering — a
    /// read, a select query, an ioctl: nothing the driver accepted is lost
    /// by asking again — goes to the new instance as well instead of
    /// failing; without (a write, which may have been taken in), `EIO`.
    /// `EIO` if the driver is down for good or the reopen fails.
    async fn cdev_io(
        &self,
        idx: usize,
        f: &Filp,
        c: CdevRequest,
        g: GSpec,
        resend: bool,
    ) -> R<(u64, Option<Vec<u8>>)> {
        use crate::{DRIVER_DIED, DRIVER_UNREACHED};
        loop {
            DriverBack {
                st: self.st.clone(),
                mnt: f.mnt,
            }
            .await?;
            match self.cdev_usable(idx, f).await {
                // The reopen met the next death: wait for that one.
                Err(DRIVER_DIED | DRIVER_UNREACHED) => continue,
                Err(_) => return Err(Errno::EIO),
                Ok(()) => {}
            }
            match self.cdev_once(f.mnt, c, g.clone()).await {
                Err(DRIVER_UNREACHED) => continue,
                Err(DRIVER_DIED) if resend => continue,
                Err(DRIVER_DIED) => return Err(Errno::EIO),
                r => return r,
            }
        }
    }

    /// A device file whose driver restarted since it was opened is opened
    /// again on the new instance (MINIX reopen); the open's error (the
    /// driver-death markers as they are).
    async fn cdev_usable(&self, idx: usize, f: &Filp) -> R<()> {
        let generation = self.cdev_generation(f.mnt);
        // The open file's current generation (a resend reopened it already).
        let fgen = match self.st.borrow().filps.get(idx) {
            Some(Some(x)) if x.mnt == f.mnt && x.ino == f.ino => x.generation,
            _ => f.generation,
        };
        if fgen == generation {
            return Ok(());
        }
        let c = CdevRequest::Open {
            id: 0,
            minor: f.ino,
            access: cdev_access(f.flags),
        };
        self.cdev_once(f.mnt, c, GSpec::None).await?;
        // Opened on the instance of `generation` (a later restart makes
        // the next use reopen again).
        if let Some(Some(fp)) = self.st.borrow_mut().filps.get_mut(idx)
            && fp.mnt == f.mnt
            && fp.ino == f.ino
        {
            fp.generation = generation;
        }
        Ok(())
    }

    async fn pipe(&self) -> R<i64> {
        let mnt = self.pipe_mnt().ok_or(Errno::ENOSYS)?;
        let req = FsRequest::NewNode {
            id: 0,
            mode: mode::S_IFIFO | 0o600,
            rdev: 0,
            cred: self.cred,
        };
        let FsAnswer::Node(n) = self.fs_simple(mnt, req).await? else {
            return Err(Errno::EIO);
        };
        let end = |flags| Filp {
            mnt,
            ino: n.ino,
            mode: mode::S_IFIFO | 0o600,
            flags,
            pos: 0,
            refs: 1,
            generation: 0,
            node: None,
        };
        let rd = match self.install(end(oflag::O_RDONLY)) {
            Ok(fd) => fd,
            Err(e) => {
                let req = FsRequest::Putnode {
                    id: 0,
                    ino: n.ino,
                    count: 1,
                };
                let _ = self.fs_simple(mnt, req).await;
                return Err(e);
            }
        };
        match self.install(end(oflag::O_WRONLY)) {
            Ok(wr) => Ok(sys::proto::vfs::join_pipe_fds(rd, wr)),
            Err(e) => {
                let _ = self.close_fd(rd).await;
                let p = PipeRequest::Close {
                    id: 0,
                    ino: n.ino,
                    access: Access::Write,
                };
                let _ = self.pipe_req(mnt, p).await;
                Err(e)
            }
        }
    }

    async fn fs_simple(&self, mnt: usize, req: FsRequest) -> R<FsAnswer> {
        self.fs(mnt, req, GSpec::None, GSpec::None)
            .await
            .map(|r| r.0)
    }

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
    fn root(&self) -> (usize, u32) {
        self.jail().unwrap_or_else(|| self.global_root())
    }

    fn cwd(&self) -> (usize, u32) {
        let cwd = self
            .st
            .borrow()
            .procs
            .get(&self.caller.0)
            .and_then(|p| p.cwd);
        // chroot does not move the working directory (POSIX).
        cwd.unwrap_or_else(|| self.global_root())
    }

    /// umask(2): the previous mask.
    fn set_umask(&self, mask: u16) -> i64 {
        let mut st = self.st.borrow_mut();
        let p = st.proc_mut(self.caller);
        let old = p.umask;
        p.umask = mask & 0o777;
        i64::from(old)
    }

    /// chroot(2): root only; `path` must be a searchable directory.
    async fn chroot(&self, path: &[u8]) -> R<()> {
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

    async fn chdir(&self, path: &[u8]) -> R<()> {
        let n = self.resolve(path, true, true).await?;
        let a = n.attr;
        let bad = if !is_dir(a.mode) {
            Some(Errno::ENOTDIR)
        } else if !mfs_permitted(a.mode, a.uid, a.gid, self.cred, 1) {
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

    async fn fchdir(&self, fd: i32) -> R<()> {
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
    async fn resolve(&self, path: &[u8], follow_last: bool, open: bool) -> R<Node> {
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
    async fn resolve_parent(&self, path: &[u8]) -> R<(usize, u32, Vec<u8>)> {
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

    /// Sends `req` without waiting for its answer (it is discarded). It is
    /// still held and resent with its id if the server dies, and the
    /// server's queue keeps it ahead of anything sent later, so a
    /// detached PUTNODE cannot overtake the next request about the inode.
    fn fs_detached(&self, mnt: usize, req: FsRequest) {
        let mut st = self.st.borrow_mut();
        let id = st.new_id();
        let job = st.current_job;
        st.outbox.push((
            job,
            id,
            FsOp {
                mnt,
                req,
                g1: GSpec::None,
                g2: GSpec::None,
                pipe: None,
                cdev: None,
                ds_label: None,
            },
        ));
        st.abandoned.insert(id);
    }

    async fn put(&self, mnt: usize, ino: u32) {
        // A failed put only leaks a reference in the file server.
        let _ = self
            .fs_simple(
                mnt,
                FsRequest::Putnode {
                    id: 0,
                    ino,
                    count: 1,
                },
            )
            .await;
    }

    fn filp(&self, fd: i32) -> R<(usize, Filp)> {
        let st = self.st.borrow();
        let p = st.procs.get(&self.caller.0).ok_or(Errno::EBADF)?;
        let idx = usize::try_from(fd)
            .ok()
            .and_then(|i| p.fds.get(i).copied().flatten())
            .ok_or(Errno::EBADF)?;
        let f = st.filps.get(idx).cloned().flatten().ok_or(Errno::EBADF)?;
        Ok((idx, f))
    }

    fn set_pos(&self, idx: usize, pos: u64) {
        if let Some(Some(f)) = self.st.borrow_mut().filps.get_mut(idx) {
            f.pos = pos;
        }
    }

    /// Sets `FD_CLOEXEC` on the caller's descriptor `fd` (just opened).
    fn set_cloexec(&self, fd: i32) {
        if let Ok(fd) = u32::try_from(fd)
            && fd < 64
        {
            let caller = self.caller;
            self.st.borrow_mut().proc_mut(caller).cloexec |= 1u64 << fd;
        }
    }

    fn install(&self, filp: Filp) -> R<i32> {
        let mut st = self.st.borrow_mut();
        let caller = self.caller;
        let fd = st
            .proc_mut(caller)
            .fds
            .iter()
            .position(|f| f.is_none())
            .ok_or(Errno::EMFILE)?;
        let idx = match st.filps.iter().position(|f| f.is_none()) {
            Some(i) => {
                st.filps[i] = Some(filp);
                i
            }
            None => {
                st.filps.push(Some(filp));
                st.filps.len() - 1
            }
        };
        st.proc_mut(caller).fds[fd] = Some(idx);
        Ok(fd as i32)
    }

    /// Drop descriptor `fd`; the file server's reference goes with the
    /// last descriptor of the open file.
    async fn close_fd(&self, fd: i32) -> R<()> {
        let (idx, _) = self.filp(fd)?;
        let last = {
            let mut st = self.st.borrow_mut();
            let caller = self.caller;
            st.proc_mut(caller).fds[fd as usize] = None;
            st.proc_mut(caller).cloexec &= !(1u64 << fd);
            let f = st.filps[idx].as_mut().ok_or(Errno::EBADF)?;
            f.refs -= 1;
            if f.refs == 0 {
                st.filps[idx].take()
            } else {
                None
            }
        };
        if let Some(f) = last {
            if self.is_cdev_mnt(f.mnt) {
                // A file the driver lost (restart) has nothing to close.
                if f.generation == self.cdev_generation(f.mnt) {
                    let c = CdevRequest::Close {
                        id: 0,
                        minor: f.ino,
                    };
                    let _ = self.cdev_req(f.mnt, c, GSpec::None).await;
                }
            } else if self.is_pipe_mnt(f.mnt) {
                let p = PipeRequest::Close {
                    id: 0,
                    ino: f.ino,
                    access: access_of(f.flags),
                };
                // The end is gone from the caller's view whatever PFS says.
                let _ = self.pipe_req(f.mnt, p).await;
            } else if f.mode & mode::S_IFMT != mode::S_IFREG {
                // A block device is written back on its last close, which
                // must be done when close returns.
                self.put(f.mnt, f.ino).await;
            } else {
                // A regular file's close(2) answers at once: the file
                // server drops the reference when it gets to it (before
                // any later request).
                self.fs_detached(
                    f.mnt,
                    FsRequest::Putnode {
                        id: 0,
                        ino: f.ino,
                        count: 1,
                    },
                );
            }
        }
        Ok(())
    }

    async fn stat_ino(&self, mnt: usize, ino: u32) -> R<FsStat> {
        match self.fs_simple(mnt, FsRequest::Stat { id: 0, ino }).await? {
            FsAnswer::Stat(s) => Ok(s),
            _ => Err(Errno::EIO),
        }
    }

    async fn open(&self, path: &[u8], flags: u32, perm: u16) -> R<i32> {
        // O_NOCTTY concerns this call only, not the open file.
        let noctty = flags & oflag::O_NOCTTY != 0;
        let flags = flags & !oflag::O_NOCTTY;
        let acc = flags & oflag::O_ACCMODE;
        if acc == 3 {
            return Err(Errno::EINVAL);
        }
        let mut created = false;
        let node = if flags & oflag::O_CREAT != 0 {
            let (mnt, dir, name) = self.resolve_parent(path).await?;
            let req = FsRequest::Create {
                id: 0,
                dir,
                name: no_buf(),
                mode: perm & 0o7777 & !self.umask,
                cred: self.cred,
            };
            match self.fs(mnt, req, GSpec::In(name), GSpec::None).await {
                Ok((FsAnswer::Node(attr), _)) => {
                    created = true;
                    Node { mnt, attr }
                }
                Ok(_) => return Err(Errno::EIO),
                Err(Errno::EEXIST) if flags & oflag::O_EXCL == 0 => {
                    self.resolve(path, true, true).await?
                }
                Err(e) => return Err(e),
            }
        } else {
            self.resolve(path, true, true).await?
        };
        let a = node.attr;
        let check = || -> R<()> {
            if flags & oflag::O_DIRECTORY != 0 && !is_dir(a.mode) {
                return Err(Errno::ENOTDIR);
            }
            if is_dir(a.mode) && acc != oflag::O_RDONLY {
                return Err(Errno::EISDIR);
            }
            if !created {
                let want = match acc {
                    oflag::O_RDONLY => 4,
                    oflag::O_WRONLY => 2,
                    _ => 6,
                } | if flags & oflag::O_TRUNC != 0 { 2 } else { 0 };
                if !mfs_permitted(a.mode, a.uid, a.gid, self.cred, want) {
                    return Err(Errno::EACCES);
                }
            }
            Ok(())
        };
        if let Err(e) = check() {
            self.put(node.mnt, a.ino).await;
            return Err(e);
        }
        if flags & oflag::O_TRUNC != 0
            && acc != oflag::O_RDONLY
            && a.mode & mode::S_IFMT == mode::S_IFREG
            && a.size != 0
            && let Err(e) = self
                .fs_simple(
                    node.mnt,
                    FsRequest::Truncate {
                        id: 0,
                        ino: a.ino,
                        size: 0,
                    },
                )
                .await
        {
            self.put(node.mnt, a.ino).await;
            return Err(e);
        }
        if a.mode & mode::S_IFMT == mode::S_IFCHR {
            self.put(node.mnt, a.ino).await;
            let mut rdev = a.rdev;
            if rdev >> 8 == crate::CTTY_MAJOR {
                // /dev/tty: the caller's controlling terminal.
                rdev = self
                    .st
                    .borrow()
                    .procs
                    .get(&self.caller.0)
                    .and_then(|p| p.ctty)
                    .ok_or(Errno::ENXIO)?;
            }
            let major = rdev >> 8;
            let minor = rdev & 0xff;
            let dm = self
                .st
                .borrow()
                .mounts
                .iter()
                .position(|m| m.cdev == Some(major))
                .ok_or(Errno::ENXIO)?;
            let c = CdevRequest::Open {
                id: 0,
                minor,
                access: cdev_access(flags),
            };
            // A dead driver is waited for; an open it took with it fails.
            let generation = loop {
                DriverBack {
                    st: self.st.clone(),
                    mnt: dm,
                }
                .await?;
                let generation = self.cdev_generation(dm);
                match self.cdev_once(dm, c, GSpec::None).await {
                    Err(crate::DRIVER_UNREACHED) => continue,
                    Err(crate::DRIVER_DIED) => return Err(Errno::EIO),
                    Err(e) => return Err(e),
                    Ok(_) => break generation,
                }
            };
            let filp = Filp {
                mnt: dm,
                ino: minor,
                mode: a.mode,
                flags,
                pos: 0,
                refs: 1,
                generation,
                node: Some((node.mnt, a.ino)),
            };
            return match self.install(filp) {
                Ok(fd) => {
                    // A session leader's first terminal is its controlling
                    // terminal.
                    let acquired = {
                        let mut st = self.st.borrow_mut();
                        let tty = major == st.tty_major;
                        let p = st.proc_mut(self.caller);
                        let acquire = tty && !noctty && p.session_leader && p.ctty.is_none();
                        if acquire {
                            p.ctty = Some(rdev);
                        }
                        acquire
                    };
                    if acquired {
                        // The driver makes the leader's session its
                        // foreground group (it asks PM for the pid), so
                        // ^C and a hang-up reach it. Best effort: the
                        // terminal is acquired either way.
                        let c = CdevRequest::Ioctl {
                            id: 0,
                            minor,
                            req: sys::proto::tty::req::TIOCSCTTY,
                            grant: sys::GrantId(0),
                            len: 4,
                        };
                        let leader = self.caller.0.to_le_bytes().to_vec();
                        let _ = self.cdev_req(dm, c, GSpec::In(leader)).await;
                    }
                    Ok(fd)
                }
                Err(e) => {
                    let _ = self
                        .cdev_req(dm, CdevRequest::Close { id: 0, minor }, GSpec::None)
                        .await;
                    Err(e)
                }
            };
        }
        if a.mode & mode::S_IFMT == mode::S_IFIFO
            && let Some(pm) = self.pipe_mnt()
        {
            // The FIFO's data lives in PFS, keyed by the node's identity;
            // the file-server reference is not needed past the rendezvous.
            self.put(node.mnt, a.ino).await;
            let p = PipeRequest::Open {
                id: 0,
                key: ((node.mnt as u64) << 32) | u64::from(a.ino),
                access: access_of(flags),
                nonblock: flags & oflag::O_NONBLOCK != 0,
            };
            let FsAnswer::Node(n) = self.pipe_req(pm, p).await? else {
                return Err(Errno::EIO);
            };
            let filp = Filp {
                mnt: pm,
                ino: n.ino,
                mode: a.mode,
                flags,
                pos: 0,
                refs: 1,
                generation: 0,
                node: Some((node.mnt, a.ino)),
            };
            return match self.install(filp) {
                Ok(fd) => Ok(fd),
                Err(e) => {
                    let p = PipeRequest::Close {
                        id: 0,
                        ino: n.ino,
                        access: access_of(flags),
                    };
                    let _ = self.pipe_req(pm, p).await;
                    Err(e)
                }
            };
        }
        let filp = Filp {
            mnt: node.mnt,
            ino: a.ino,
            mode: a.mode,
            flags,
            pos: 0,
            refs: 1,
            generation: 0,
            node: None,
        };
        match self.install(filp) {
            Ok(fd) => Ok(fd),
            Err(e) => {
                self.put(node.mnt, a.ino).await;
                Err(e)
            }
        }
    }

    /// The caller's buffer `buf`, or its first `len` bytes, passed on to a
    /// server (see [`GSpec::Pass`]).
    fn pass(&self, buf: Buf, len: usize, access: GrantAccess) -> GSpec {
        GSpec::Pass {
            from: self.caller,
            grant: buf.grant,
            len: len.min(buf.len as usize),
            access,
        }
    }

    /// read(2) straight into the caller's buffer `buf` (the server copies
    /// into it); returns the bytes read.
    async fn read(&self, fd: i32, buf: Buf) -> R<u64> {
        let len = buf.len as usize;
        let (idx, f) = self.filp(fd)?;
        if f.flags & oflag::O_ACCMODE == oflag::O_WRONLY {
            return Err(Errno::EBADF);
        }
        if is_dir(f.mode) {
            return Err(Errno::EISDIR);
        }
        if self.is_cdev_mnt(f.mnt) {
            let c = CdevRequest::Read {
                id: 0,
                minor: f.ino,
                grant: sys::GrantId(0),
                size: len.min(MAX_IO) as u32,
                nonblock: f.flags & oflag::O_NONBLOCK != 0,
            };
            let into = self.pass(buf, len.min(MAX_IO), GrantAccess::WRITE);
            let (n, _) = self.cdev_io(idx, &f, c, into, true).await?;
            return Ok(n);
        }
        let req = FsRequest::Read {
            id: 0,
            ino: f.ino,
            pos: f.pos,
            buf: no_buf(),
            flags: f.flags,
        };
        let into = self.pass(buf, len.min(MAX_IO), GrantAccess::WRITE);
        let (ans, _) = self.fs(f.mnt, req, into, GSpec::None).await?;
        let FsAnswer::Count { n, .. } = ans else {
            return Err(Errno::EIO);
        };
        if n > len as u64 {
            // A server cannot have written more than it was given.
            return Err(Errno::EIO);
        }
        self.set_pos(idx, f.pos + n);
        Ok(n)
    }

    /// ioctl(2) on a character device: request `req` with the caller's
    /// `len`-byte grant passed on to the driver (readable for a request
    /// that sets, writable for one that gets, both for one VFS does not
    /// know); the driver's result. `ENOTTY` for anything else.
    async fn ioctl(&self, fd: i32, req: u32, grant: sys::GrantId, len: u32) -> R<i64> {
        use sys::proto::tty::{IoctlDir, ioctl_dir};
        let (idx, f) = self.filp(fd)?;
        if !self.is_cdev_mnt(f.mnt) {
            return Err(Errno::ENOTTY);
        }
        let len = len.min(MAX_IO as u32);
        let c = CdevRequest::Ioctl {
            id: 0,
            minor: f.ino,
            req,
            grant: sys::GrantId(0),
            len,
        };
        let g = if len == 0 {
            GSpec::None
        } else {
            let access = match ioctl_dir(req) {
                Some(IoctlDir::In) => GrantAccess::READ,
                Some(IoctlDir::Out) => GrantAccess::WRITE,
                None => GrantAccess::RW,
            };
            self.pass(Buf { grant, len }, len as usize, access)
        };
        let (n, _) = self.cdev_io(idx, &f, c, g, true).await?;
        Ok(n as i64)
    }

    /// write(2) straight from the caller's buffer `buf` (at most
    /// [`MAX_IO`] bytes of it: a longer write is partial, as POSIX allows).
    async fn write(&self, fd: i32, buf: Buf) -> R<u64> {
        let len = (buf.len as usize).min(MAX_IO);
        let (idx, f) = self.filp(fd)?;
        if f.flags & oflag::O_ACCMODE == oflag::O_RDONLY {
            return Err(Errno::EBADF);
        }
        if self.is_cdev_mnt(f.mnt) {
            let c = CdevRequest::Write {
                id: 0,
                minor: f.ino,
                grant: sys::GrantId(0),
                size: len as u32,
                nonblock: f.flags & oflag::O_NONBLOCK != 0,
            };
            let from = self.pass(buf, len, GrantAccess::READ);
            return Ok(self.cdev_io(idx, &f, c, from, false).await?.0);
        }
        // With O_APPEND the file server writes at the end (atomically) and
        // answers the size after the write: the new position.
        let append = f.flags & oflag::O_APPEND != 0 && f.mode & mode::S_IFMT == mode::S_IFREG;
        let pos = f.pos;
        let req = FsRequest::Write {
            id: 0,
            ino: f.ino,
            pos,
            buf: no_buf(),
            flags: f.flags,
        };
        let from = self.pass(buf, len, GrantAccess::READ);
        let r = self.fs(f.mnt, req, from, GSpec::None).await;
        if matches!(r, Err(Errno::EPIPE)) && self.is_pipe_mnt(f.mnt) {
            // No reader: the writer gets SIGPIPE as well as EPIPE.
            self.st
                .borrow_mut()
                .signals
                .push((self.caller, crate::SIGPIPE));
        }
        let (ans, _) = r?;
        let FsAnswer::Count { n, pos: size } = ans else {
            return Err(Errno::EIO);
        };
        if n > len as u64 {
            return Err(Errno::EIO);
        }
        self.set_pos(idx, if append { size } else { pos + n });
        Ok(n)
    }

    async fn lseek(&self, fd: i32, off: i64, wh: u32) -> R<i64> {
        let (idx, f) = self.filp(fd)?;
        if f.mode & mode::S_IFMT == mode::S_IFIFO {
            return Err(Errno::ESPIPE);
        }
        let base: i64 = match wh {
            whence::SEEK_SET => 0,
            whence::SEEK_CUR => f.pos as i64,
            whence::SEEK_END => self.stat_ino(f.mnt, f.ino).await?.size as i64,
            _ => return Err(Errno::EINVAL),
        };
        let new = base.checked_add(off).ok_or(Errno::EOVERFLOW)?;
        if new < 0 {
            return Err(Errno::EINVAL);
        }
        self.set_pos(idx, new as u64);
        Ok(new)
    }

    fn dup(&self, fd: i32, to: Option<i32>) -> R<(i32, Option<i32>)> {
        let (idx, _) = self.filp(fd)?;
        let mut st = self.st.borrow_mut();
        let caller = self.caller;
        let target = match to {
            Some(t) => {
                if t < 0 || t as usize >= OPEN_MAX {
                    return Err(Errno::EBADF);
                }
                if t == fd {
                    return Ok((t, None));
                }
                t as usize
            }
            None => st
                .proc_mut(caller)
                .fds
                .iter()
                .position(|f| f.is_none())
                .ok_or(Errno::EMFILE)?,
        };
        // An open target is closed first (by the caller of dup2).
        let was_open = st.proc_mut(caller).fds[target].is_some();
        if was_open {
            return Ok((target as i32, Some(target as i32)));
        }
        st.proc_mut(caller).fds[target] = Some(idx);
        st.proc_mut(caller).cloexec &= !(1u64 << target);
        if let Some(Some(f)) = st.filps.get_mut(idx) {
            f.refs += 1;
        }
        Ok((target as i32, None))
    }

    /// select(2) over regular files (always ready) and pipes/FIFOs (asked
    /// of PFS). Returns the count of ready (fd, set) pairs and the sets.
    async fn select(
        &self,
        nfds: i32,
        sets: [u64; 3],
        timeout: Option<(i64, i64)>,
    ) -> R<(i64, [u64; 3])> {
        use pfs::pipe::{SEL_ERR, SEL_RD, SEL_WR};
        let n = usize::try_from(nfds)
            .ok()
            .filter(|&n| n <= OPEN_MAX)
            .ok_or(Errno::EINVAL)?;
        let ticks = match timeout {
            None => None,
            Some((sec, usec)) => {
                if sec < 0 || !(0..1_000_000).contains(&usec) {
                    return Err(Errno::EINVAL);
                }
                let hz = sys::HZ as i64;
                let t = sec
                    .saturating_mul(hz)
                    .saturating_add((usec * hz + 999_999) / 1_000_000);
                Some(t as u64)
            }
        };
        let block = ticks != Some(0);
        let deadline = ticks.map(|t| self.st.borrow().now.saturating_add(t));
        // (fd, ops wanted, filp, is a pipe)
        let mut entries = Vec::new();
        for fd in 0..n {
            let bit = 1u64 << fd;
            let ops = (u8::from(sets[0] & bit != 0) * SEL_RD)
                | (u8::from(sets[1] & bit != 0) * SEL_WR)
                | (u8::from(sets[2] & bit != 0) * SEL_ERR);
            if ops == 0 {
                continue;
            }
            let (idx, f) = self.filp(fd as i32)?;
            let pipe = self.is_pipe_mnt(f.mnt);
            let cdev = self.is_cdev_mnt(f.mnt);
            if !pipe && !cdev && f.mode & mode::S_IFMT != mode::S_IFREG {
                // MINIX: no select type for directories and block devices.
                return Err(Errno::EBADF);
            }
            entries.push((fd, ops, f, pipe, cdev, idx));
        }
        loop {
            let mut ready = [0u64; 3];
            let mut count = 0i64;
            for &(fd, ops, ref f, pipe, cdev, idx) in &entries {
                let mut got = 0u8;
                // A device or pipe end not open for an op is "ready" for
                // it: the call would not block (it fails at once). MINIX
                // decides this without asking the driver.
                if cdev || pipe {
                    let acc = f.flags & oflag::O_ACCMODE;
                    if acc == oflag::O_WRONLY {
                        got |= ops & SEL_RD;
                    }
                    if acc == oflag::O_RDONLY {
                        got |= ops & SEL_WR;
                    }
                }
                if cdev {
                    // A device whose driver is down for good or cannot
                    // reopen it reports ready (its calls fail at once).
                    let ask = ops & !got;
                    if ask != 0 {
                        let c = CdevRequest::Select {
                            id: 0,
                            minor: f.ino,
                            ops: u32::from(ask),
                            notify: false,
                        };
                        got |= match self.cdev_io(idx, f, c, GSpec::None, true).await {
                            Ok((n, _)) => (n as u8) & ask,
                            Err(_) => ask,
                        };
                    }
                } else if pipe {
                    let ask = ops & !got;
                    if ask != 0 {
                        let p = PipeRequest::Select {
                            id: 0,
                            ino: f.ino,
                            ops: ask,
                            block: false,
                        };
                        match self.pipe_req(f.mnt, p).await {
                            Ok(FsAnswer::Count { n, .. }) => got |= (n as u8) & ask,
                            // A pipe that cannot be asked reports ready.
                            _ => got |= ask,
                        }
                    }
                } else {
                    got = ops;
                }
                for (k, op) in [SEL_RD, SEL_WR, SEL_ERR].into_iter().enumerate() {
                    if got & op != 0 {
                        ready[k] |= 1u64 << fd;
                        count += 1;
                    }
                }
            }
            if count > 0 || !block {
                return Ok((count, ready));
            }
            if deadline.is_some_and(|d| self.st.borrow().now >= d) {
                return Ok((0, [0; 3]));
            }
            // Wait for the first of: a pipe becoming ready, the timeout.
            let mut waiters: Vec<Waiter> = Vec::new();
            let mut early = false;
            for &(_, ops, ref f, pipe, cdev, idx) in &entries {
                if cdev {
                    let key = (f.mnt, f.ino);
                    self.st.borrow_mut().cdev_ready.remove(&key);
                    let c = CdevRequest::Select {
                        id: 0,
                        minor: f.ino,
                        ops: u32::from(ops),
                        notify: true,
                    };
                    match self.cdev_io(idx, f, c, GSpec::None, true).await {
                        Ok((n, _)) if (n as u8) & ops == 0 => {
                            let g = self.cdev_generation(f.mnt);
                            waiters.push(Waiter::Cdev(self.st.clone(), key, ops, g));
                        }
                        // Ready already, or the driver failed: rescan.
                        _ => early = true,
                    }
                }
                if pipe {
                    let p = PipeRequest::Select {
                        id: 0,
                        ino: f.ino,
                        ops,
                        block: true,
                    };
                    let op = FsOp {
                        mnt: f.mnt,
                        req: FsRequest::Sync { id: 0 },
                        g1: GSpec::None,
                        g2: GSpec::None,
                        pipe: Some(p),
                        cdev: None,
                        ds_label: None,
                    };
                    waiters.push(Waiter::Fs(f.mnt, FsFuture::new(self.st.clone(), op)));
                }
            }
            if let Some(d) = deadline {
                waiters.push(Waiter::Sleep(Sleep::until(self.st.clone(), d)));
            }
            if early {
                continue;
            }
            if waiters.is_empty() {
                // Nothing can ever become ready and no timeout: MINIX would
                // sleep for ever; report nothing instead of hanging.
                return Ok((0, [0; 3]));
            }
            let won = FirstOf(&mut waiters).await;
            // Cancel the blocking queries still outstanding in PFS.
            let mut cancels = Vec::new();
            for (i, w) in waiters.iter().enumerate() {
                if i != won
                    && let Waiter::Fs(mnt, f) = w
                    && f.request_id() != 0
                {
                    cancels.push((*mnt, f.request_id()));
                }
            }
            let timed_out = matches!(waiters[won], Waiter::Sleep(_));
            drop(waiters);
            for (mnt, target) in cancels {
                let _ = self
                    .pipe_req(mnt, PipeRequest::Cancel { id: 0, target })
                    .await;
            }
            if timed_out {
                return Ok((0, [0; 3]));
            }
            // Something became ready, or a driver died under the select
            // (it forgot the query): scan again; the new instance is asked
            // once it is back.
        }
    }

    /// mount(2): the file server `ep` (looked up by label) on `path`.
    async fn mount(&self, path: &[u8], label: &[u8]) -> R<()> {
        if self.cred.uid != 0 {
            return Err(Errno::EPERM);
        }
        // The file server is found by its label in DS, asked without
        // blocking VFS.
        let key = core::str::from_utf8(label).map_err(|_| Errno::EINVAL)?;
        let op = FsOp {
            mnt: 0,
            req: FsRequest::Sync { id: 0 },
            g1: GSpec::None,
            g2: GSpec::None,
            pipe: None,
            cdev: None,
            ds_label: Some(key.into()),
        };
        let ep = match FsFuture::new(self.st.clone(), op).await {
            Ok((FsAnswer::Count { n, .. }, _)) => Endpoint(n as u32),
            _ => return Err(Errno::ENODEV),
        };
        let busy = self
            .st
            .borrow()
            .mounts
            .iter()
            .any(|m| m.ep == ep && !m.pipes && m.cdev.is_none());
        if busy {
            return Err(Errno::EBUSY);
        }
        let n = self.resolve(path, true, false).await?;
        if !is_dir(n.attr.mode) {
            return Err(Errno::ENOTDIR);
        }
        let covers_root = self
            .st
            .borrow()
            .mounts
            .get(n.mnt)
            .is_some_and(|m| m.root == n.attr.ino);
        if covers_root {
            return Err(Errno::EBUSY);
        }
        let idx = {
            let mut st = self.st.borrow_mut();
            st.mounts.push(Mount {
                label: core::str::from_utf8(label).unwrap_or("?").into(),
                ep,
                root: 0,
                covered: None,
                pipes: false,
                cdev: None,
                generation: 0,
                death_counted: false,
                down: false,
            });
            st.mounts.len() - 1
        };
        let r = async {
            let root = match self.fs_simple(idx, FsRequest::ReadSuper { id: 0 }).await? {
                FsAnswer::Node(r) => r.ino,
                _ => return Err(Errno::EIO),
            };
            let req = FsRequest::Mountpoint {
                id: 0,
                ino: n.attr.ino,
                on: true,
            };
            self.fs_simple(n.mnt, req).await?;
            Ok(root)
        }
        .await;
        let mut st = self.st.borrow_mut();
        match r {
            Ok(root) => {
                st.mounts[idx].root = root;
                st.mounts[idx].covered = Some((n.mnt, n.attr.ino));
                Ok(())
            }
            Err(e) => {
                // Never reachable: not covering anything.
                st.mounts[idx].ep = Endpoint::NONE;
                Err(e)
            }
        }
    }

    /// umount(2): `path` names the root of a mounted file system; `/`
    /// itself only when nothing else is mounted or open (shutdown).
    async fn umount(&self, path: &[u8]) -> R<()> {
        if self.cred.uid != 0 {
            return Err(Errno::EPERM);
        }
        let n = self.resolve(path, true, false).await?;
        let (covered, busy) = {
            let st = self.st.borrow();
            let m = st.mounts.get(n.mnt).ok_or(Errno::EINVAL)?;
            if m.root != n.attr.ino || (n.mnt != 0 && m.covered.is_none()) {
                return Err(Errno::EINVAL);
            }
            let busy = st
                .filps
                .iter()
                .flatten()
                .any(|f| f.mnt == n.mnt || f.node.is_some_and(|(fm, _)| fm == n.mnt))
                || st
                    .mounts
                    .iter()
                    .any(|x| x.covered.is_some_and(|(pm, _)| pm == n.mnt))
                || st.procs.values().any(|p| {
                    p.cwd.is_some_and(|(cm, _)| cm == n.mnt)
                        || p.root.is_some_and(|(rm, _)| rm == n.mnt)
                });
            (m.covered, busy)
        };
        if busy {
            return Err(Errno::EBUSY);
        }
        if n.mnt == 0 {
            // The root, at shutdown: the file system is written back and
            // marked clean; every later call fails with ENXIO (see
            // `Vfs::call`).
            self.fs_simple(0, FsRequest::Unmount { id: 0 }).await?;
            self.st.borrow_mut().mounts[0].ep = Endpoint::NONE;
            return Ok(());
        }
        let Some((pm, pino)) = covered else {
            return Err(Errno::EINVAL);
        };
        self.fs_simple(n.mnt, FsRequest::Unmount { id: 0 }).await?;
        let req = FsRequest::Mountpoint {
            id: 0,
            ino: pino,
            on: false,
        };
        self.fs_simple(pm, req).await?;
        let mut st = self.st.borrow_mut();
        st.mounts[n.mnt].covered = None;
        st.mounts[n.mnt].ep = Endpoint::NONE;
        Ok(())
    }

    fn fcntl(&self, fd: i32, cmd: u32, arg: i64) -> R<i64> {
        use sys::proto::vfs::fcntl::*;
        let (idx, f) = self.filp(fd)?;
        let mut st = self.st.borrow_mut();
        let caller = self.caller;
        let p = st.proc_mut(caller);
        let bit = 1u64 << fd;
        match cmd {
            F_DUPFD => {
                let from = usize::try_from(arg)
                    .ok()
                    .filter(|&a| a < OPEN_MAX)
                    .ok_or(Errno::EINVAL)?;
                let t = (from..OPEN_MAX)
                    .find(|&i| p.fds[i].is_none())
                    .ok_or(Errno::EMFILE)?;
                p.fds[t] = Some(idx);
                p.cloexec &= !(1u64 << t);
                if let Some(Some(f)) = st.filps.get_mut(idx) {
                    f.refs += 1;
                }
                Ok(t as i64)
            }
            F_GETFD => Ok(i64::from(p.cloexec & bit != 0)),
            F_SETFD => {
                if arg & FD_CLOEXEC != 0 {
                    p.cloexec |= bit;
                } else {
                    p.cloexec &= !bit;
                }
                Ok(0)
            }
            F_GETFL => Ok(i64::from(
                f.flags & (oflag::O_ACCMODE | oflag::O_APPEND | oflag::O_NONBLOCK),
            )),
            F_SETFL => {
                let settable = oflag::O_APPEND | oflag::O_NONBLOCK;
                if let Some(Some(f)) = st.filps.get_mut(idx) {
                    f.flags = (f.flags & !settable) | (arg as u32 & settable);
                }
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    async fn getdents(&self, fd: i32, len: usize) -> R<Vec<u8>> {
        let (idx, f) = self.filp(fd)?;
        if !is_dir(f.mode) {
            return Err(Errno::ENOTDIR);
        }
        let req = FsRequest::Getdents {
            id: 0,
            ino: f.ino,
            pos: f.pos,
            buf: no_buf(),
        };
        let (ans, data) = self
            .fs(f.mnt, req, GSpec::Out(len.min(MAX_IO)), GSpec::None)
            .await?;
        let FsAnswer::Count { n, pos } = ans else {
            return Err(Errno::EIO);
        };
        let mut data = data.unwrap_or_default();
        data.truncate(n as usize);
        self.set_pos(idx, pos);
        Ok(data)
    }

    async fn named(
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

impl V {
    /// The handle of process `ep` (as PM names it): its credentials and
    /// umask, without creating an entry for a process VFS never saw.
    fn of(st: Shared, ep: Endpoint) -> V {
        let (cred, umask) = st
            .borrow()
            .procs
            .get(&ep.0)
            .map_or((Cred::ROOT, 0), |p| (p.cred, p.umask));
        V {
            st,
            caller: ep,
            cred,
            umask,
        }
    }

    /// One more file-server reference on directory `(mnt, ino)` (an
    /// empty-path open lookup).
    async fn reference(&self, (mnt, ino): (usize, u32)) -> R<()> {
        let req = FsRequest::Lookup {
            id: 0,
            dir: ino,
            path: no_buf(),
            flags: LookupFlags {
                follow_last: true,
                leave_at_root: false,
                open: true,
            },
            cred: Cred::ROOT,
        };
        self.fs(mnt, req, GSpec::In(Vec::new()), GSpec::None)
            .await
            .map(drop)
    }

    /// Close the caller's descriptors (only the close-on-exec ones if
    /// `cloexec`) as close(2) does: pipe ends wake their peers, the last
    /// descriptor of a file drops its file-server reference.
    async fn close_all(&self, cloexec: bool) {
        for fd in 0..OPEN_MAX {
            let open = self.st.borrow().procs.get(&self.caller.0).is_some_and(|p| {
                p.fds[fd].is_some() && (!cloexec || p.cloexec & (1u64 << fd) != 0)
            });
            if open {
                let _ = self.close_fd(fd as i32).await;
            }
        }
    }

    /// Forget the caller: every descriptor closed, its working and root
    /// directories released, its entry removed.
    async fn forget(&self) {
        self.close_all(false).await;
        let dirs = self
            .st
            .borrow_mut()
            .procs
            .get_mut(&self.caller.0)
            .map(|p| (p.cwd.take(), p.root.take()));
        if let Some((cwd, root)) = dirs {
            for (m, i) in [cwd, root].into_iter().flatten() {
                self.put(m, i).await;
            }
        }
        self.st.borrow_mut().procs.remove(&self.caller.0);
    }
}

/// Completes when process `ep` has no call in progress (see
/// [`crate::State::busy`]).
struct Drained {
    st: Shared,
    ep: Endpoint,
}

impl core::future::Future for Drained {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut core::task::Context<'_>) -> core::task::Poll<()> {
        if self.st.borrow().busy.get(&self.ep.0).copied().unwrap_or(0) == 0 {
            core::task::Poll::Ready(())
        } else {
            core::task::Poll::Pending
        }
    }
}

/// PM's Fork: `child` gets a copy of `parent`'s table (the same open
/// files, each one more descriptor), directories (one more reference
/// each), umask and credentials. `EEXIST` if VFS knows `child` already.
pub fn pm_fork(st: Shared, id: u64, parent: Endpoint, child: Endpoint) -> JobFut {
    let copied = {
        let mut s = st.borrow_mut();
        if s.procs.contains_key(&child.0) {
            Err(Errno::EEXIST)
        } else {
            let mut p = s.procs.get(&parent.0).cloned().unwrap_or_default();
            // The controlling terminal is inherited, session leadership
            // is not.
            p.session_leader = false;
            for idx in p.fds.iter().flatten() {
                if let Some(Some(f)) = s.filps.get_mut(*idx) {
                    f.refs += 1;
                }
            }
            // The directories are the child's once referenced for it.
            let dirs = (p.cwd.take(), p.root.take());
            s.procs.insert(child.0, p);
            Ok(dirs)
        }
    };
    let v = V::of(st, child);
    Box::pin(async move {
        let (cwd, root) = match copied {
            Ok(d) => d,
            Err(e) => return value(id, Err(e)),
        };
        let mut r = Ok(());
        for (d, is_root) in [(cwd, false), (root, true)] {
            let Some(d) = d else { continue };
            r = v.reference(d).await;
            if r.is_err() {
                break;
            }
            let mut s = v.st.borrow_mut();
            if let Some(p) = s.procs.get_mut(&child.0) {
                if is_root {
                    p.root = Some(d);
                } else {
                    p.cwd = Some(d);
                }
            }
        }
        if let Err(e) = r {
            // Undo: the child never existed for VFS.
            v.forget().await;
            return value(id, Err(e));
        }
        value(id, Ok(0))
    })
}

/// PM's Exit: once no call of `ep` is in progress (VFS dropped the
/// suspended ones and answers none of the others), its descriptors are
/// closed and it is forgotten.
pub fn pm_exit(st: Shared, id: u64, ep: Endpoint) -> JobFut {
    let v = V::of(st, ep);
    Box::pin(async move {
        Drained {
            st: v.st.clone(),
            ep,
        }
        .await;
        v.forget().await;
        value(id, Ok(0))
    })
}

/// PM's ExecCheck: `ep`'s descriptor `fd` is a regular file `ep` may
/// execute (effective ids; root needs one x bit); answers its stat.
pub fn pm_exec_check(st: Shared, id: u64, ep: Endpoint, fd: i32) -> JobFut {
    let v = V::of(st, ep);
    Box::pin(async move {
        let r = async {
            let (_, f) = v.filp(fd)?;
            if f.node.is_some() || v.is_pipe_mnt(f.mnt) || v.is_cdev_mnt(f.mnt) {
                return Err(Errno::EACCES);
            }
            // The attributes now, not at open (chmod since).
            let s = v.stat_ino(f.mnt, f.ino).await?;
            if s.mode & mode::S_IFMT != mode::S_IFREG {
                return Err(Errno::EACCES);
            }
            let x = if v.cred.uid == 0 {
                s.mode & 0o111 != 0
            } else {
                mfs_permitted(s.mode, s.uid, s.gid, v.cred, 1)
            };
            if !x {
                return Err(Errno::EACCES);
            }
            Ok(s)
        }
        .await;
        stat_out(id, r)
    })
}

/// VM's PeekDev: up to `buf.len` bytes from `pos` of the block device on
/// `ep`'s descriptor `fd`, read by the file server hosting the node (its
/// `bio`, through its cache) straight into VM's buffer `buf`; the
/// descriptor's offset does not move. Answers the bytes read.
pub fn vm_peek_dev(
    st: Shared,
    id: u64,
    vm: Endpoint,
    ep: Endpoint,
    fd: i32,
    pos: u64,
    buf: Buf,
) -> JobFut {
    let v = V::of(st, ep);
    Box::pin(async move { value(id, v.peek_dev(vm, fd, pos, buf).await.map(|n| n as i64)) })
}

impl V {
    async fn peek_dev(&self, vm: Endpoint, fd: i32, pos: u64, buf: Buf) -> R<u64> {
        let (_, f) = self.filp(fd)?;
        if f.mode & mode::S_IFMT != mode::S_IFBLK
            || self.is_cdev_mnt(f.mnt)
            || self.is_pipe_mnt(f.mnt)
        {
            return Err(Errno::ENODEV);
        }
        if f.flags & oflag::O_ACCMODE == oflag::O_WRONLY {
            return Err(Errno::EACCES);
        }
        let len = (buf.len as usize).min(MAX_IO);
        if len == 0 {
            return Ok(0);
        }
        let req = FsRequest::Read {
            id: 0,
            ino: f.ino,
            pos,
            buf: no_buf(),
            flags: f.flags,
        };
        // VM's grant passed on: the file server copies into VM's memory.
        let into = GSpec::Pass {
            from: vm,
            grant: buf.grant,
            len,
            access: GrantAccess::WRITE,
        };
        let (ans, _) = self.fs(f.mnt, req, into, GSpec::None).await?;
        let FsAnswer::Count { n, .. } = ans else {
            return Err(Errno::EIO);
        };
        if n > len as u64 {
            return Err(Errno::EIO);
        }
        Ok(n)
    }
}

/// PM's ExecDone: `ep`'s close-on-exec descriptors are closed.
pub fn pm_exec_done(st: Shared, id: u64, ep: Endpoint) -> JobFut {
    let v = V::of(st, ep);
    Box::pin(async move {
        v.close_all(true).await;
        value(id, Ok(0))
    })
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

/// Something a select waits on.
enum Waiter {
    Fs(usize, FsFuture),
    Sleep(Sleep),
    /// Unprompted readiness of (driver mount, minor) for these ops, or
    /// the death of the driver (generation at the query).
    Cdev(Shared, (usize, u32), u8, u32),
}

/// Completes when the character driver of mount `mnt` is running: at
/// once unless a death was counted and DS has not yet told of the new
/// instance; `EIO` if RS took it down for good.
struct DriverBack {
    st: Shared,
    mnt: usize,
}

impl core::future::Future for DriverBack {
    type Output = R<()>;
    fn poll(self: Pin<&mut Self>, _cx: &mut core::task::Context<'_>) -> core::task::Poll<R<()>> {
        use core::task::Poll;
        let st = self.st.borrow();
        match st.mounts.get(self.mnt) {
            None => Poll::Ready(Err(Errno::ENXIO)),
            Some(m) if m.down || m.ep == Endpoint::NONE => Poll::Ready(Err(Errno::EIO)),
            // Jobs are polled again when a DS change has been taken in.
            Some(m) if m.death_counted => Poll::Pending,
            Some(_) => Poll::Ready(Ok(())),
        }
    }
}

/// Completes with the index of the first waiter that completes.
struct FirstOf<'a>(&'a mut Vec<Waiter>);

impl core::future::Future for FirstOf<'_> {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut core::task::Context<'_>) -> core::task::Poll<usize> {
        use core::task::Poll;
        // Poll every waiter (the first poll of each queues its request).
        let mut done = None;
        for (i, w) in self.0.iter_mut().enumerate() {
            let ready = match w {
                Waiter::Fs(_, f) => Pin::new(f).poll(cx).is_ready(),
                Waiter::Sleep(s) => Pin::new(s).poll(cx).is_ready(),
                Waiter::Cdev(st, key, ops, generation) => {
                    let st = st.borrow();
                    // A driver that died since forgot the query: ready.
                    let gone = st
                        .mounts
                        .get(key.0)
                        .is_none_or(|m| m.generation != *generation);
                    st.cdev_ready
                        .get(key)
                        .is_some_and(|&r| r & u32::from(*ops) != 0)
                        || gone
                }
            };
            if ready && done.is_none() {
                done = Some(i);
            }
        }
        match done {
            Some(i) => Poll::Ready(i),
            None => Poll::Pending,
        }
    }
}

/// The permission rule shared with the file servers.
fn mfs_permitted(st_mode: u16, st_uid: u16, st_gid: u16, cred: Cred, want: u16) -> bool {
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

fn value(id: u64, r: R<i64>) -> Outcome {
    Outcome {
        reply: VfsReply {
            id,
            result: r.map(VfsAnswer::Value),
        },
        copy_out: None,
    }
}

fn stat_out(id: u64, r: R<FsStat>) -> Outcome {
    Outcome {
        reply: VfsReply {
            id,
            result: r.map(VfsAnswer::Stat),
        },
        copy_out: None,
    }
}

fn data_out(id: u64, buf: Buf, r: R<Vec<u8>>) -> Outcome {
    match r {
        Ok(d) => Outcome {
            reply: VfsReply {
                id,
                result: Ok(VfsAnswer::Value(d.len() as i64)),
            },
            copy_out: Some((buf, d)),
        },
        Err(e) => value(id, Err(e)),
    }
}

fn fetch(sys: &mut dyn Sys, from: Endpoint, b: Buf, limit: usize, too_long: Errno) -> R<Vec<u8>> {
    let n = b.len as usize;
    if n > limit {
        return Err(too_long);
    }
    let mut v = alloc::vec![0u8; n];
    if n > 0 {
        sys.safecopy_from(from, b.grant, 0, &mut v)
            .map_err(|_| Errno::EFAULT)?;
    }
    Ok(v)
}

fn done<T>(r: R<T>) -> R<i64> {
    r.map(|_| 0)
}

/// A job.
pub type JobFut = Pin<Box<dyn core::future::Future<Output = Outcome>>>;

/// `f` as a job. Each call's job is its own future (not one `async` block
/// over every call): a state machine's poll function keeps every branch's
/// temporaries, and in an unoptimised build one for all the calls needed
/// more than half of a native service's 64 KiB stack.
fn job(f: impl core::future::Future<Output = Outcome> + 'static) -> JobFut {
    Box::pin(f)
}

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
                if !mfs_permitted(n.attr.mode, n.attr.uid, n.attr.gid, v.cred, 2) {
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
                if f.flags & oflag::O_ACCMODE == oflag::O_RDONLY || is_dir(f.mode) {
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

/// The start-up job: read the root's superblock, then mount each further
/// file system on its mount point.
pub fn mount_all(
    st: Shared,
    specs: Vec<MountSpec>,
    pipes: Option<MountSpec>,
    cdevs: Vec<(u32, MountSpec)>,
) -> JobFut {
    let v = V {
        st,
        caller: Endpoint::NONE,
        cred: Cred::ROOT,
        umask: 0,
    };
    Box::pin(async move {
        let r: R<()> = async {
            for (i, s) in specs.iter().enumerate() {
                let covered = if i == 0 {
                    None
                } else {
                    let n = v.resolve(s.path.as_bytes(), true, false).await?;
                    if !is_dir(n.attr.mode) {
                        return Err(Errno::ENOTDIR);
                    }
                    Some((n.mnt, n.attr.ino))
                };
                // The new server must be in the table before it can be asked.
                v.st.borrow_mut().mounts.push(Mount {
                    label: s.label.clone(),
                    ep: s.ep,
                    root: 0,
                    covered: None,
                    pipes: false,
                    cdev: None,
                    generation: 0,
                    death_counted: false,
                    down: false,
                });
                let root = match v.fs_simple(i, FsRequest::ReadSuper { id: 0 }).await? {
                    FsAnswer::Node(n) => n.ino,
                    _ => return Err(Errno::EIO),
                };
                if let Some((pm, pino)) = covered {
                    v.fs_simple(
                        pm,
                        FsRequest::Mountpoint {
                            id: 0,
                            ino: pino,
                            on: true,
                        },
                    )
                    .await?;
                }
                let mut st = v.st.borrow_mut();
                st.mounts[i].root = root;
                st.mounts[i].covered = covered;
            }
            for (major, c) in cdevs {
                v.st.borrow_mut().mounts.push(Mount {
                    label: c.label,
                    ep: c.ep,
                    root: 0,
                    covered: None,
                    pipes: false,
                    cdev: Some(major),
                    generation: 0,
                    death_counted: false,
                    down: false,
                });
            }
            if let Some(p) = pipes {
                v.st.borrow_mut().mounts.push(Mount {
                    label: p.label,
                    ep: p.ep,
                    root: 0,
                    covered: None,
                    pipes: true,
                    cdev: None,
                    generation: 0,
                    death_counted: false,
                    down: false,
                });
            }
            Ok(())
        }
        .await;
        value(0, done(r))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::GrantId;

    fn b(g: u32, l: u32) -> Option<Buf> {
        Some(Buf {
            grant: GrantId(g),
            len: l,
        })
    }

    #[test]
    fn with_bufs_fills_id_and_grants_and_keeps_the_rest() {
        let cred = Cred { uid: 3, gid: 4 };
        let r = with_bufs(
            FsRequest::Rename {
                id: 0,
                old_dir: 5,
                old_name: no_buf(),
                new_dir: 6,
                new_name: no_buf(),
                cred,
            },
            77,
            b(1, 2),
            b(3, 4),
        );
        assert_eq!(
            r,
            FsRequest::Rename {
                id: 77,
                old_dir: 5,
                old_name: b(1, 2).unwrap(),
                new_dir: 6,
                new_name: b(3, 4).unwrap(),
                cred,
            }
        );
        let r = with_bufs(
            FsRequest::Write {
                id: 0,
                ino: 9,
                pos: 1 << 40,
                buf: no_buf(),
                flags: 8,
            },
            5,
            b(7, 100),
            None,
        );
        assert_eq!(r.id(), 5);
        assert!(
            matches!(r, FsRequest::Write { ino: 9, pos, buf, flags: 8, .. } if pos == 1 << 40 && buf.len == 100)
        );
        assert_eq!(with_bufs(FsRequest::Sync { id: 1 }, 9, None, None).id(), 9);
    }

    #[test]
    fn pipe_requests_get_their_id() {
        let p = pipe_with_id(
            PipeRequest::Close {
                id: 0,
                ino: 4,
                access: Access::Write,
            },
            12,
        );
        assert_eq!(p.id(), 12);
        assert_eq!(access_of(oflag::O_RDONLY), Access::Read);
        assert_eq!(access_of(oflag::O_WRONLY | oflag::O_APPEND), Access::Write);
        assert_eq!(access_of(oflag::O_RDWR), Access::ReadWrite);
    }

    #[test]
    fn permission_rule() {
        let u = Cred { uid: 10, gid: 20 };
        assert!(mfs_permitted(0o600, 10, 0, u, 6));
        assert!(!mfs_permitted(0o060, 10, 20, u, 4));
        assert!(mfs_permitted(0o040, 1, 20, u, 4));
        assert!(mfs_permitted(0o004, 1, 1, u, 4));
        assert!(!mfs_permitted(0o004, 1, 1, u, 2));
        assert!(mfs_permitted(0, 1, 1, Cred::ROOT, 6));
    }
}
