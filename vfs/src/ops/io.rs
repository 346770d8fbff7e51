//! open(2) and the calls on an open file: read, write, ioctl, lseek and
//! getdents.

use alloc::vec::Vec;

use pfs::proto::PipeRequest;
use sys::proto::cdev::CdevRequest;
use sys::proto::fs::{Buf, FsAnswer, FsRequest};
use sys::proto::vfs::{mode, oflag, whence};
use sys::{Errno, GrantAccess};

use crate::{Filp, GSpec, MAX_IO};

use super::requests::{access_of, cdev_access};
use super::{DriverBack, Node, R, V, is_dir, no_buf};
use sys::fsserver::permitted;

impl V {
    pub(super) async fn open(&self, path: &[u8], flags: u32, perm: u16) -> R<i32> {
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
                if !permitted(a.mode, a.uid, a.gid, self.cred, want) {
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
    pub(super) async fn read(&self, fd: i32, buf: Buf) -> R<u64> {
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
    pub(super) async fn ioctl(&self, fd: i32, req: u32, grant: sys::GrantId, len: u32) -> R<i64> {
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
    pub(super) async fn write(&self, fd: i32, buf: Buf) -> R<u64> {
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

    pub(super) async fn lseek(&self, fd: i32, off: i64, wh: u32) -> R<i64> {
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

    pub(super) async fn getdents(&self, fd: i32, len: usize) -> R<Vec<u8>> {
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
}
