//! A blocking POSIX-style client of VFS (libc's file calls): each call
//! grants its buffers to VFS, does a `sendrec`, and revokes the grants.
//! For user processes and tests; VFS never blocks on its callers, so the
//! `sendrec` is safe.

use alloc::vec;
use alloc::vec::Vec;

use sys::proto::fs::{Buf, Dirents, FsStat, FsStatVfs};
use sys::proto::vfs::{VfsAnswer, VfsCall, VfsReply};
use sys::{Endpoint, Errno, GrantAccess, GrantId, Sys};

type R<T> = Result<T, Errno>;

/// A client bound to one VFS endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    /// VFS endpoint.
    pub vfs: Endpoint,
    next_id: u64,
}

struct Grants(Vec<GrantId>);

impl Client {
    /// A client of `vfs`.
    pub fn new(vfs: Endpoint) -> Self {
        Client { vfs, next_id: 0 }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn grant(
        sys: &mut dyn Sys,
        vfs: Endpoint,
        gs: &mut Grants,
        data: Vec<u8>,
        access: GrantAccess,
    ) -> R<Buf> {
        let len = u32::try_from(data.len()).map_err(|_| Errno::E2BIG)?;
        let g = sys.grant_create(vfs, access, data)?;
        gs.0.push(g);
        Ok(Buf { grant: g, len })
    }

    fn path(&self, sys: &mut dyn Sys, gs: &mut Grants, p: &str) -> R<Buf> {
        Self::grant(sys, self.vfs, gs, p.as_bytes().to_vec(), GrantAccess::READ)
    }

    fn exchange(
        &mut self,
        sys: &mut dyn Sys,
        gs: Grants,
        call: VfsCall,
    ) -> R<(VfsAnswer, Vec<Vec<u8>>)> {
        let r = sys.sendrec(self.vfs, call.to_message());
        let mut bufs = Vec::new();
        for g in gs.0 {
            bufs.push(sys.grant_revoke(g).unwrap_or_default());
        }
        let m = r?;
        let rep = VfsReply::try_from(&m)?;
        if rep.id != call.id() {
            return Err(Errno::EBADCALL);
        }
        Ok((rep.result?, bufs))
    }

    fn value(&mut self, sys: &mut dyn Sys, gs: Grants, call: VfsCall) -> R<i64> {
        match self.exchange(sys, gs, call)?.0 {
            VfsAnswer::Value(v) => Ok(v),
            _ => Err(Errno::EBADCALL),
        }
    }

    /// open(2).
    pub fn open(&mut self, sys: &mut dyn Sys, path: &str, flags: u32, mode: u16) -> R<i32> {
        let mut gs = Grants(Vec::new());
        let p = self.path(sys, &mut gs, path)?;
        let id = self.id();
        self.value(
            sys,
            gs,
            VfsCall::Open {
                id,
                path: p,
                flags,
                mode,
            },
        )
        .map(|v| v as i32)
    }

    /// close(2).
    pub fn close(&mut self, sys: &mut dyn Sys, fd: i32) -> R<()> {
        let id = self.id();
        self.value(sys, Grants(Vec::new()), VfsCall::Close { id, fd })
            .map(|_| ())
    }

    /// read(2): up to `len` bytes.
    pub fn read(&mut self, sys: &mut dyn Sys, fd: i32, len: usize) -> R<Vec<u8>> {
        let mut gs = Grants(Vec::new());
        let b = Self::grant(sys, self.vfs, &mut gs, vec![0u8; len], GrantAccess::WRITE)?;
        let id = self.id();
        let (a, mut bufs) = self.exchange(sys, gs, VfsCall::Read { id, fd, buf: b })?;
        let VfsAnswer::Value(n) = a else {
            return Err(Errno::EBADCALL);
        };
        let mut d = bufs.pop().unwrap_or_default();
        d.truncate(n as usize);
        Ok(d)
    }

    /// write(2).
    pub fn write(&mut self, sys: &mut dyn Sys, fd: i32, data: &[u8]) -> R<usize> {
        let mut gs = Grants(Vec::new());
        let b = Self::grant(sys, self.vfs, &mut gs, data.to_vec(), GrantAccess::READ)?;
        let id = self.id();
        self.value(sys, gs, VfsCall::Write { id, fd, buf: b })
            .map(|v| v as usize)
    }

    /// Writes all of `data`, calling write(2) again after a partial write
    /// (VFS moves at most `vfs::MAX_IO` bytes per call), like stdio's
    /// `fwrite`. Returns the bytes written: less than `data.len()` only if
    /// a call wrote nothing.
    pub fn write_all(&mut self, sys: &mut dyn Sys, fd: i32, data: &[u8]) -> R<usize> {
        let mut done = 0;
        while done < data.len() {
            let n = self.write(sys, fd, &data[done..])?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    /// lseek(2).
    pub fn lseek(&mut self, sys: &mut dyn Sys, fd: i32, off: i64, whence: u32) -> R<i64> {
        let id = self.id();
        self.value(
            sys,
            Grants(Vec::new()),
            VfsCall::Lseek {
                id,
                fd,
                off,
                whence,
            },
        )
    }

    /// dup(2).
    pub fn dup(&mut self, sys: &mut dyn Sys, fd: i32) -> R<i32> {
        let id = self.id();
        self.value(sys, Grants(Vec::new()), VfsCall::Dup { id, fd })
            .map(|v| v as i32)
    }

    /// dup2(2).
    pub fn dup2(&mut self, sys: &mut dyn Sys, fd: i32, fd2: i32) -> R<i32> {
        let id = self.id();
        self.value(sys, Grants(Vec::new()), VfsCall::Dup2 { id, fd, fd2 })
            .map(|v| v as i32)
    }

    fn stat_call(&mut self, sys: &mut dyn Sys, gs: Grants, call: VfsCall) -> R<FsStat> {
        match self.exchange(sys, gs, call)?.0 {
            VfsAnswer::Stat(s) => Ok(s),
            _ => Err(Errno::EBADCALL),
        }
    }

    /// stat(2).
    pub fn stat(&mut self, sys: &mut dyn Sys, path: &str) -> R<FsStat> {
        let mut gs = Grants(Vec::new());
        let p = self.path(sys, &mut gs, path)?;
        let id = self.id();
        self.stat_call(sys, gs, VfsCall::Stat { id, path: p })
    }

    /// lstat(2).
    pub fn lstat(&mut self, sys: &mut dyn Sys, path: &str) -> R<FsStat> {
        let mut gs = Grants(Vec::new());
        let p = self.path(sys, &mut gs, path)?;
        let id = self.id();
        self.stat_call(sys, gs, VfsCall::Lstat { id, path: p })
    }

    /// fstat(2).
    pub fn fstat(&mut self, sys: &mut dyn Sys, fd: i32) -> R<FsStat> {
        let id = self.id();
        self.stat_call(sys, Grants(Vec::new()), VfsCall::Fstat { id, fd })
    }

    fn path_call(
        &mut self,
        sys: &mut dyn Sys,
        path: &str,
        f: impl FnOnce(u64, Buf) -> VfsCall,
    ) -> R<()> {
        let mut gs = Grants(Vec::new());
        let p = self.path(sys, &mut gs, path)?;
        let id = self.id();
        self.value(sys, gs, f(id, p)).map(|_| ())
    }

    fn two_path_call(
        &mut self,
        sys: &mut dyn Sys,
        a: &str,
        b: &str,
        f: impl FnOnce(u64, Buf, Buf) -> VfsCall,
    ) -> R<()> {
        let mut gs = Grants(Vec::new());
        let pa = self.path(sys, &mut gs, a)?;
        let pb = self.path(sys, &mut gs, b)?;
        let id = self.id();
        self.value(sys, gs, f(id, pa, pb)).map(|_| ())
    }

    /// mkdir(2).
    pub fn mkdir(&mut self, sys: &mut dyn Sys, path: &str, mode: u16) -> R<()> {
        self.path_call(sys, path, |id, path| VfsCall::Mkdir { id, path, mode })
    }

    /// rmdir(2).
    pub fn rmdir(&mut self, sys: &mut dyn Sys, path: &str) -> R<()> {
        self.path_call(sys, path, |id, path| VfsCall::Rmdir { id, path })
    }

    /// unlink(2).
    pub fn unlink(&mut self, sys: &mut dyn Sys, path: &str) -> R<()> {
        self.path_call(sys, path, |id, path| VfsCall::Unlink { id, path })
    }

    /// link(2).
    pub fn link(&mut self, sys: &mut dyn Sys, old: &str, new: &str) -> R<()> {
        self.two_path_call(sys, old, new, |id, old, new| VfsCall::Link { id, old, new })
    }

    /// rename(2).
    pub fn rename(&mut self, sys: &mut dyn Sys, old: &str, new: &str) -> R<()> {
        self.two_path_call(sys, old, new, |id, old, new| VfsCall::Rename {
            id,
            old,
            new,
        })
    }

    /// symlink(2): `path` -> `target`.
    pub fn symlink(&mut self, sys: &mut dyn Sys, target: &str, path: &str) -> R<()> {
        self.two_path_call(sys, target, path, |id, target, path| VfsCall::Symlink {
            id,
            target,
            path,
        })
    }

    /// readlink(2).
    pub fn readlink(&mut self, sys: &mut dyn Sys, path: &str) -> R<Vec<u8>> {
        let mut gs = Grants(Vec::new());
        let p = self.path(sys, &mut gs, path)?;
        let b = Self::grant(sys, self.vfs, &mut gs, vec![0u8; 4096], GrantAccess::WRITE)?;
        let id = self.id();
        let (a, mut bufs) = self.exchange(
            sys,
            gs,
            VfsCall::Readlink {
                id,
                path: p,
                buf: b,
            },
        )?;
        let VfsAnswer::Value(n) = a else {
            return Err(Errno::EBADCALL);
        };
        let mut d = bufs.pop().unwrap_or_default();
        d.truncate(n as usize);
        Ok(d)
    }

    /// chmod(2).
    pub fn chmod(&mut self, sys: &mut dyn Sys, path: &str, mode: u16) -> R<()> {
        self.path_call(sys, path, |id, path| VfsCall::Chmod { id, path, mode })
    }

    /// chown(2).
    pub fn chown(&mut self, sys: &mut dyn Sys, path: &str, uid: u16, gid: u16) -> R<()> {
        self.path_call(sys, path, |id, path| VfsCall::Chown { id, path, uid, gid })
    }

    /// utimes(2).
    pub fn utimes(&mut self, sys: &mut dyn Sys, path: &str, atime: u32, mtime: u32) -> R<()> {
        self.path_call(sys, path, |id, path| VfsCall::Utimes {
            id,
            path,
            atime,
            mtime,
        })
    }

    /// truncate(2).
    pub fn truncate(&mut self, sys: &mut dyn Sys, path: &str, size: u64) -> R<()> {
        self.path_call(sys, path, |id, path| VfsCall::Truncate { id, path, size })
    }

    /// ftruncate(2).
    pub fn ftruncate(&mut self, sys: &mut dyn Sys, fd: i32, size: u64) -> R<()> {
        let id = self.id();
        self.value(sys, Grants(Vec::new()), VfsCall::Ftruncate { id, fd, size })
            .map(|_| ())
    }

    /// fsync(2).
    pub fn fsync(&mut self, sys: &mut dyn Sys, fd: i32) -> R<()> {
        let id = self.id();
        self.value(sys, Grants(Vec::new()), VfsCall::Fsync { id, fd })
            .map(|_| ())
    }

    /// sync(2).
    pub fn sync(&mut self, sys: &mut dyn Sys) -> R<()> {
        let id = self.id();
        self.value(sys, Grants(Vec::new()), VfsCall::Sync { id })
            .map(|_| ())
    }

    /// mknod(2).
    pub fn mknod(&mut self, sys: &mut dyn Sys, path: &str, mode: u16, rdev: u32) -> R<()> {
        self.path_call(sys, path, |id, path| VfsCall::Mknod {
            id,
            path,
            mode,
            rdev,
        })
    }

    /// statvfs(2).
    pub fn statvfs(&mut self, sys: &mut dyn Sys, path: &str) -> R<FsStatVfs> {
        let mut gs = Grants(Vec::new());
        let p = self.path(sys, &mut gs, path)?;
        let id = self.id();
        match self.exchange(sys, gs, VfsCall::Statvfs { id, path: p })?.0 {
            VfsAnswer::StatVfs(s) => Ok(s),
            _ => Err(Errno::EBADCALL),
        }
    }

    /// select(2) on descriptors below `nfds` with sets (read, write,
    /// except) as bit masks; returns the count and the ready sets.
    pub fn select(
        &mut self,
        sys: &mut dyn Sys,
        nfds: i32,
        sets: [u64; 3],
        timeout: Option<(i64, i64)>,
    ) -> R<(i64, [u64; 3])> {
        use sys::proto::vfs::{decode_sets, encode_sets};
        let mut gs = Grants(Vec::new());
        let b = Self::grant(
            sys,
            self.vfs,
            &mut gs,
            encode_sets(sets).to_vec(),
            GrantAccess::RW,
        )?;
        let id = self.id();
        let call = VfsCall::Select {
            id,
            nfds,
            sets: b,
            timeout,
        };
        let (a, bufs) = self.exchange(sys, gs, call)?;
        let VfsAnswer::Value(n) = a else {
            return Err(Errno::EBADCALL);
        };
        Ok((n, decode_sets(bufs.first().map(|v| &v[..]).unwrap_or(&[]))))
    }

    /// mount(2): the file server labelled `label` on `path`.
    pub fn mount(&mut self, sys: &mut dyn Sys, path: &str, label: &str) -> R<()> {
        self.two_path_call(sys, path, label, |id, path, label| VfsCall::Mount {
            id,
            path,
            label,
        })
    }

    /// umount(2).
    pub fn umount(&mut self, sys: &mut dyn Sys, path: &str) -> R<()> {
        self.path_call(sys, path, |id, path| VfsCall::Umount { id, path })
    }

    /// chdir(2).
    pub fn chdir(&mut self, sys: &mut dyn Sys, path: &str) -> R<()> {
        self.path_call(sys, path, |id, path| VfsCall::Chdir { id, path })
    }

    /// fchdir(2).
    pub fn fchdir(&mut self, sys: &mut dyn Sys, fd: i32) -> R<()> {
        let id = self.id();
        self.value(sys, Grants(Vec::new()), VfsCall::Fchdir { id, fd })
            .map(|_| ())
    }

    /// umask(2): sets the mask, returns the previous one.
    pub fn umask(&mut self, sys: &mut dyn Sys, mask: u16) -> R<u16> {
        let id = self.id();
        self.value(sys, Grants(Vec::new()), VfsCall::Umask { id, mask })
            .map(|v| v as u16)
    }

    /// chroot(2) (root only).
    pub fn chroot(&mut self, sys: &mut dyn Sys, path: &str) -> R<()> {
        self.path_call(sys, path, |id, path| VfsCall::Chroot { id, path })
    }

    /// fcntl(2).
    pub fn fcntl(&mut self, sys: &mut dyn Sys, fd: i32, cmd: u32, arg: i64) -> R<i64> {
        let id = self.id();
        self.value(sys, Grants(Vec::new()), VfsCall::Fcntl { id, fd, cmd, arg })
    }

    /// ioctl(2): request `req` with `arg` in a read-write grant (none if
    /// empty); the driver's value and the argument bytes after the call.
    pub fn ioctl(&mut self, sys: &mut dyn Sys, fd: i32, req: u32, arg: &[u8]) -> R<(i64, Vec<u8>)> {
        let mut gs = Grants(Vec::new());
        let b = if arg.is_empty() {
            Buf {
                grant: GrantId(0),
                len: 0,
            }
        } else {
            Self::grant(sys, self.vfs, &mut gs, arg.to_vec(), GrantAccess::RW)?
        };
        let id = self.id();
        let call = VfsCall::Ioctl {
            id,
            fd,
            req,
            grant: b.grant,
            len: b.len,
        };
        let (a, mut bufs) = self.exchange(sys, gs, call)?;
        let VfsAnswer::Value(v) = a else {
            return Err(Errno::EBADCALL);
        };
        Ok((v, bufs.pop().unwrap_or_default()))
    }

    /// pipe(2): (read end, write end).
    pub fn pipe(&mut self, sys: &mut dyn Sys) -> R<(i32, i32)> {
        let id = self.id();
        self.value(sys, Grants(Vec::new()), VfsCall::Pipe { id })
            .map(sys::proto::vfs::split_pipe_fds)
    }

    /// One getdents(2) call: raw records (decode with [`Dirents`]).
    pub fn getdents(&mut self, sys: &mut dyn Sys, fd: i32, len: usize) -> R<Vec<u8>> {
        let mut gs = Grants(Vec::new());
        let b = Self::grant(sys, self.vfs, &mut gs, vec![0u8; len], GrantAccess::WRITE)?;
        let id = self.id();
        let (a, mut bufs) = self.exchange(sys, gs, VfsCall::Getdents { id, fd, buf: b })?;
        let VfsAnswer::Value(n) = a else {
            return Err(Errno::EBADCALL);
        };
        let mut d = bufs.pop().unwrap_or_default();
        d.truncate(n as usize);
        Ok(d)
    }

    /// All names in directory `path` (opened, read to the end, closed).
    pub fn list_dir(&mut self, sys: &mut dyn Sys, path: &str) -> R<Vec<Vec<u8>>> {
        let fd = self.open(sys, path, sys::proto::vfs::oflag::O_RDONLY, 0)?;
        let mut names = Vec::new();
        loop {
            match self.getdents(sys, fd, 1024) {
                Ok(d) if d.is_empty() => break,
                Ok(d) => names.extend(Dirents::new(&d).map(|e| e.name.to_vec())),
                Err(e) => {
                    let _ = self.close(sys, fd);
                    return Err(e);
                }
            }
        }
        self.close(sys, fd)?;
        Ok(names)
    }
}
