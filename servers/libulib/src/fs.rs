//! Files and directories over VFS: [`File`] (closed when dropped),
//! [`OpenOptions`], [`read_dir`], [`stat`] / [`lstat`], and the path calls
//! (mkdir, rmdir, unlink, rename, link, symlink, readlink, chmod, chown,
//! truncate, chdir, ...). Path names travel in a read grant for the call.
//! The working directory is kept by VFS per process; [`getcwd`] answers
//! from this library's record of it (inherited by fork, passed to exec'd
//! programs as `PWD`).

use crate::errno::{Errno, Result};
use crate::fd::{self, Fd, vfs, vfs_stat, vfs_value};
use crate::global::Global;
use crate::ipc::{self, Grant, Server};
use alloc::string::String;
use alloc::vec::Vec;
use sys::proto::fs::{Buf, Dirents, FsStat, FsStatVfs};
use sys::proto::vfs::{VfsAnswer, VfsCall};

pub use sys::proto::vfs::mode::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG};
pub use sys::proto::vfs::oflag::{
    O_ACCMODE, O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOCTTY, O_NONBLOCK, O_RDONLY,
    O_RDWR, O_TRUNC, O_WRONLY,
};

/// Calls VFS with `path` granted (readable) as the call's path buffer.
fn with_path<T>(path: &str, f: impl FnOnce(u64, Buf) -> Result<T>) -> Result<T> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let g = Grant::read(Server::Vfs, path.as_bytes())?;
    f(ipc::next_id(), g.buf()?)
}

fn with_two_paths<T>(a: &str, b: &str, f: impl FnOnce(u64, Buf, Buf) -> Result<T>) -> Result<T> {
    if a.is_empty() || b.is_empty() {
        return Err(Errno::ENOENT);
    }
    let ga = Grant::read(Server::Vfs, a.as_bytes())?;
    let gb = Grant::read(Server::Vfs, b.as_bytes())?;
    f(ipc::next_id(), ga.buf()?, gb.buf()?)
}

/// open(2): a descriptor (see [`File`] for one that closes itself).
pub fn open_fd(path: &str, flags: u32, mode: u16) -> Result<Fd> {
    with_path(path, |id, p| {
        vfs_value(
            id,
            VfsCall::Open {
                id,
                path: p,
                flags,
                mode,
            },
        )
        .map(|v| v as Fd)
    })
}

/// File attributes (`stat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata(pub FsStat);

impl Metadata {
    /// Type and permission bits.
    pub fn mode(&self) -> u16 {
        self.0.mode
    }
    /// Permission bits (with set-uid, set-gid, sticky).
    pub fn permissions(&self) -> u16 {
        self.0.mode & 0o7777
    }
    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.0.size
    }
    /// Whether the size is 0.
    pub fn is_empty(&self) -> bool {
        self.0.size == 0
    }
    /// Inode number.
    pub fn ino(&self) -> u32 {
        self.0.ino
    }
    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.0.mode & S_IFMT == S_IFDIR
    }
    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.0.mode & S_IFMT == S_IFREG
    }
    /// A symbolic link (from [`lstat`]).
    pub fn is_symlink(&self) -> bool {
        self.0.mode & S_IFMT == S_IFLNK
    }
    /// Owner.
    pub fn uid(&self) -> u16 {
        self.0.uid
    }
    /// Group.
    pub fn gid(&self) -> u16 {
        self.0.gid
    }
}

/// Where [`File::seek`] counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeekFrom {
    /// From the start.
    Start(u64),
    /// From the end.
    End(i64),
    /// From the current position.
    Current(i64),
}

/// An open file, closed when dropped.
#[derive(Debug)]
pub struct File {
    fd: Fd,
}

impl File {
    /// Opens `path` for reading.
    pub fn open(path: &str) -> Result<File> {
        OpenOptions::new().read(true).open(path)
    }

    /// Creates (or truncates) `path` for writing, mode 0644.
    pub fn create(path: &str) -> Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    }

    /// Takes ownership of descriptor `fd` (closed on drop).
    pub fn from_fd(fd: Fd) -> File {
        File { fd }
    }

    /// The descriptor.
    pub fn fd(&self) -> Fd {
        self.fd
    }

    /// Gives up ownership: the descriptor stays open.
    pub fn into_fd(self) -> Fd {
        let fd = self.fd;
        core::mem::forget(self);
        fd
    }

    /// read(2).
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize> {
        fd::read(self.fd, buf)
    }

    /// Reads until `buf` is full or the file ends; the bytes read.
    pub fn read_full(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            let n = fd::read(self.fd, &mut buf[done..])?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    /// Appends the rest of the file to `out`; the bytes read.
    pub fn read_to_end(&mut self, out: &mut Vec<u8>) -> Result<usize> {
        let start = out.len();
        let mut chunk = 64 * 1024;
        if let Ok(st) = fd::fstat(self.fd) {
            // One read for a regular file of known size (plus one for the end).
            if st.mode & S_IFMT == S_IFREG {
                out.reserve(st.size as usize);
                chunk = (st.size as usize).clamp(4096, 1 << 20);
            }
        }
        loop {
            let at = out.len();
            out.resize(at + chunk, 0);
            match fd::read(self.fd, &mut out[at..]) {
                Ok(0) => {
                    out.truncate(at);
                    return Ok(out.len() - start);
                }
                Ok(n) => out.truncate(at + n),
                Err(e) => {
                    out.truncate(at);
                    return Err(e);
                }
            }
        }
    }

    /// Reads the rest of the file as UTF-8 text (`EINVAL` if it is not).
    pub fn read_to_string(&mut self) -> Result<String> {
        let mut v = Vec::new();
        self.read_to_end(&mut v)?;
        String::from_utf8(v).map_err(|_| Errno::EINVAL)
    }

    /// write(2).
    pub fn write(&mut self, data: &[u8]) -> Result<usize> {
        fd::write(self.fd, data)
    }

    /// Writes all of `data`.
    pub fn write_all(&mut self, data: &[u8]) -> Result<()> {
        fd::write_all(self.fd, data)
    }

    /// lseek(2): the new position.
    pub fn seek(&mut self, pos: SeekFrom) -> Result<u64> {
        let (off, whence) = match pos {
            SeekFrom::Start(o) => (i64::try_from(o).map_err(|_| Errno::EINVAL)?, fd::SEEK_SET),
            SeekFrom::End(o) => (o, fd::SEEK_END),
            SeekFrom::Current(o) => (o, fd::SEEK_CUR),
        };
        fd::lseek(self.fd, off, whence)
    }

    /// fstat(2).
    pub fn metadata(&self) -> Result<Metadata> {
        fd::fstat(self.fd).map(Metadata)
    }

    /// ftruncate(2).
    pub fn set_len(&self, size: u64) -> Result<()> {
        fd::ftruncate(self.fd, size)
    }

    /// fsync(2).
    pub fn sync_all(&self) -> Result<()> {
        fd::fsync(self.fd)
    }

    /// Sets or clears close-on-exec.
    pub fn set_cloexec(&self, on: bool) -> Result<()> {
        fd::set_cloexec(self.fd, on)
    }

    /// A second descriptor for the same open file (dup(2)).
    pub fn try_clone(&self) -> Result<File> {
        fd::dup(self.fd).map(File::from_fd)
    }

    /// Closes now, reporting the error drop would ignore.
    pub fn close(self) -> Result<()> {
        fd::close(self.into_fd())
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // Errors on close cannot be reported from drop; `File::close` does.
        let _ = fd::close(self.fd);
    }
}

/// Flags for opening a file (std's `OpenOptions`).
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    directory: bool,
    cloexec: bool,
    no_ctty: bool,
    mode: u16,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenOptions {
    /// Nothing set; mode 0644 for created files.
    pub fn new() -> Self {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            directory: false,
            cloexec: false,
            no_ctty: false,
            mode: 0o644,
        }
    }
    /// Open for reading.
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.read = on;
        self
    }
    /// Open for writing.
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.write = on;
        self
    }
    /// Writes go to the end (implies write).
    pub fn append(&mut self, on: bool) -> &mut Self {
        self.append = on;
        self
    }
    /// Truncate to 0 bytes.
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        self.truncate = on;
        self
    }
    /// Create if missing.
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.create = on;
        self
    }
    /// Create, failing with `EEXIST` if it exists.
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        self.create_new = on;
        self
    }
    /// Fail unless a directory.
    pub fn directory(&mut self, on: bool) -> &mut Self {
        self.directory = on;
        self
    }
    /// Close the descriptor on exec.
    pub fn cloexec(&mut self, on: bool) -> &mut Self {
        self.cloexec = on;
        self
    }
    /// A terminal opened by a session leader without one does not become
    /// its controlling terminal (`O_NOCTTY`).
    pub fn no_ctty(&mut self, on: bool) -> &mut Self {
        self.no_ctty = on;
        self
    }
    /// Permission bits of a created file (before the umask).
    pub fn mode(&mut self, mode: u16) -> &mut Self {
        self.mode = mode;
        self
    }

    /// The open(2) flags these options make.
    pub fn flags(&self) -> u32 {
        let write = self.write || self.append;
        let mut f = match (self.read, write) {
            (_, false) => O_RDONLY,
            (false, true) => O_WRONLY,
            (true, true) => O_RDWR,
        };
        if self.append {
            f |= O_APPEND;
        }
        if self.truncate {
            f |= O_TRUNC;
        }
        if self.create || self.create_new {
            f |= O_CREAT;
        }
        if self.create_new {
            f |= O_EXCL;
        }
        if self.directory {
            f |= O_DIRECTORY;
        }
        if self.cloexec {
            f |= O_CLOEXEC;
        }
        if self.no_ctty {
            f |= O_NOCTTY;
        }
        f
    }

    /// Opens `path`.
    pub fn open(&self, path: &str) -> Result<File> {
        Ok(File::from_fd(open_fd(path, self.flags(), self.mode)?))
    }
}

/// The whole contents of `path`.
pub fn read(path: &str) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    File::open(path)?.read_to_end(&mut v)?;
    Ok(v)
}

/// The contents of `path` as UTF-8 text.
pub fn read_to_string(path: &str) -> Result<String> {
    File::open(path)?.read_to_string()
}

/// Creates or truncates `path` and writes `data`.
pub fn write(path: &str, data: &[u8]) -> Result<()> {
    let mut f = File::create(path)?;
    f.write_all(data)?;
    f.close()
}

/// One directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// Inode number.
    pub ino: u32,
    /// Name (without the directory).
    pub name: String,
}

/// Every entry of directory `path` (including `.` and `..`).
pub fn read_dir(path: &str) -> Result<Vec<DirEntry>> {
    let f = OpenOptions::new().read(true).directory(true).open(path)?;
    let mut out = Vec::new();
    let mut buf = alloc::vec![0u8; 4096];
    loop {
        let n = fd::getdents(f.fd(), &mut buf)?;
        if n == 0 {
            break;
        }
        out.extend(Dirents::new(&buf[..n]).map(|e| DirEntry {
            ino: e.ino,
            name: String::from_utf8_lossy(e.name).into_owned(),
        }));
    }
    f.close()?;
    Ok(out)
}

/// stat(2).
pub fn stat(path: &str) -> Result<Metadata> {
    with_path(path, |id, p| vfs_stat(id, VfsCall::Stat { id, path: p })).map(Metadata)
}

/// lstat(2): a symbolic link itself.
pub fn lstat(path: &str) -> Result<Metadata> {
    with_path(path, |id, p| vfs_stat(id, VfsCall::Lstat { id, path: p })).map(Metadata)
}

/// Whether `path` exists.
pub fn exists(path: &str) -> bool {
    stat(path).is_ok()
}

/// mkdir(2).
pub fn mkdir(path: &str, mode: u16) -> Result<()> {
    with_path(path, |id, p| {
        vfs_value(id, VfsCall::Mkdir { id, path: p, mode })
    })
    .map(drop)
}

/// rmdir(2).
pub fn rmdir(path: &str) -> Result<()> {
    with_path(path, |id, p| vfs_value(id, VfsCall::Rmdir { id, path: p })).map(drop)
}

/// unlink(2).
pub fn unlink(path: &str) -> Result<()> {
    with_path(path, |id, p| vfs_value(id, VfsCall::Unlink { id, path: p })).map(drop)
}

/// rename(2).
pub fn rename(old: &str, new: &str) -> Result<()> {
    with_two_paths(old, new, |id, old, new| {
        vfs_value(id, VfsCall::Rename { id, old, new })
    })
    .map(drop)
}

/// link(2): `new` becomes another name of `old`.
pub fn link(old: &str, new: &str) -> Result<()> {
    with_two_paths(old, new, |id, old, new| {
        vfs_value(id, VfsCall::Link { id, old, new })
    })
    .map(drop)
}

/// symlink(2): `path` -> `target`.
pub fn symlink(target: &str, path: &str) -> Result<()> {
    with_two_paths(target, path, |id, target, path| {
        vfs_value(id, VfsCall::Symlink { id, target, path })
    })
    .map(drop)
}

/// readlink(2).
pub fn readlink(path: &str) -> Result<String> {
    let mut buf = alloc::vec![0u8; 4096];
    let n = {
        let gb = Grant::write(Server::Vfs, &mut buf)?;
        with_path(path, |id, p| {
            vfs_value(
                id,
                VfsCall::Readlink {
                    id,
                    path: p,
                    buf: gb.buf()?,
                },
            )
        })?
    };
    buf.truncate(usize::try_from(n).map_err(|_| Errno::EBADCALL)?);
    String::from_utf8(buf).map_err(|_| Errno::EINVAL)
}

/// chmod(2).
pub fn chmod(path: &str, mode: u16) -> Result<()> {
    with_path(path, |id, p| {
        vfs_value(id, VfsCall::Chmod { id, path: p, mode })
    })
    .map(drop)
}

/// chown(2).
pub fn chown(path: &str, uid: u16, gid: u16) -> Result<()> {
    with_path(path, |id, p| {
        vfs_value(
            id,
            VfsCall::Chown {
                id,
                path: p,
                uid,
                gid,
            },
        )
    })
    .map(drop)
}

/// truncate(2).
pub fn truncate(path: &str, size: u64) -> Result<()> {
    with_path(path, |id, p| {
        vfs_value(id, VfsCall::Truncate { id, path: p, size })
    })
    .map(drop)
}

/// utimes(2) (seconds).
pub fn utimes(path: &str, atime: u32, mtime: u32) -> Result<()> {
    with_path(path, |id, p| {
        vfs_value(
            id,
            VfsCall::Utimes {
                id,
                path: p,
                atime,
                mtime,
            },
        )
    })
    .map(drop)
}

/// mknod(2).
pub fn mknod(path: &str, mode: u16, rdev: u32) -> Result<()> {
    with_path(path, |id, p| {
        vfs_value(
            id,
            VfsCall::Mknod {
                id,
                path: p,
                mode,
                rdev,
            },
        )
    })
    .map(drop)
}

/// statvfs(2).
pub fn statvfs(path: &str) -> Result<FsStatVfs> {
    with_path(path, |id, p| {
        match vfs(id, VfsCall::Statvfs { id, path: p })? {
            VfsAnswer::StatVfs(s) => Ok(s),
            _ => Err(Errno::EBADCALL),
        }
    })
}

/// sync(2).
pub fn sync() -> Result<()> {
    let id = ipc::next_id();
    vfs_value(id, VfsCall::Sync { id }).map(drop)
}

/// mount(2): the file server published as `label` on directory `path`.
pub fn mount(path: &str, label: &str) -> Result<()> {
    with_two_paths(path, label, |id, path, label| {
        vfs_value(id, VfsCall::Mount { id, path, label })
    })
    .map(drop)
}

/// umount(2).
pub fn umount(path: &str) -> Result<()> {
    with_path(path, |id, p| vfs_value(id, VfsCall::Umount { id, path: p })).map(drop)
}

static CWD: Global<Option<String>> = Global::new(None);

/// The working directory as this library recorded it (`PWD` from the
/// environment at start, else `/`, then every successful [`chdir`]).
pub fn getcwd() -> String {
    CWD.with(|c| c.clone())
        .flatten()
        .or_else(|| crate::env::var("PWD").filter(|p| p.starts_with('/')))
        .unwrap_or_else(|| String::from("/"))
}

/// chdir(2).
pub fn chdir(path: &str) -> Result<()> {
    with_path(path, |id, p| vfs_value(id, VfsCall::Chdir { id, path: p }))?;
    let new = crate::path::resolve(&getcwd(), path);
    CWD.with(|c| *c = Some(new));
    Ok(())
}

/// fchdir(2). The recorded working directory ([`getcwd`]) is unknown
/// afterwards and reads as `/` until the next [`chdir`].
pub fn fchdir(fd: Fd) -> Result<()> {
    let id = ipc::next_id();
    vfs_value(id, VfsCall::Fchdir { id, fd })?;
    CWD.with(|c| *c = Some(String::from("/")));
    Ok(())
}

/// umask(2): sets the file-creation mask, returns the previous one.
pub fn umask(mask: u16) -> Result<u16> {
    let id = ipc::next_id();
    vfs_value(
        id,
        VfsCall::Umask {
            id,
            mask: mask & 0o777,
        },
    )
    .map(|v| v as u16)
}

/// chroot(2) (root only).
pub fn chroot(path: &str) -> Result<()> {
    with_path(path, |id, p| vfs_value(id, VfsCall::Chroot { id, path: p })).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_options_make_posix_flags() {
        assert_eq!(OpenOptions::new().read(true).flags(), O_RDONLY);
        assert_eq!(
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .flags(),
            O_WRONLY | O_CREAT | O_TRUNC
        );
        assert_eq!(
            OpenOptions::new().read(true).append(true).flags(),
            O_RDWR | O_APPEND
        );
        assert_eq!(
            OpenOptions::new().write(true).create_new(true).flags(),
            O_WRONLY | O_CREAT | O_EXCL
        );
        assert_eq!(
            OpenOptions::new().directory(true).flags(),
            O_RDONLY | O_DIRECTORY
        );
        assert_eq!(
            OpenOptions::new().read(true).cloexec(true).flags(),
            O_RDONLY | O_CLOEXEC
        );
        assert_eq!(
            OpenOptions::new()
                .read(true)
                .write(true)
                .no_ctty(true)
                .flags(),
            O_RDWR | O_NOCTTY
        );
    }
}
