//! File descriptors: the raw POSIX calls on numbers (read, write, close,
//! lseek, dup, dup2, pipe, fcntl, ioctl, fstat, select), each one VFS request
//! with the caller's buffer granted to VFS for the call. [`crate::fs::File`]
//! wraps a descriptor that closes itself.

use crate::errno::{Errno, Result};
use crate::ipc::{self, Grant, Server};
use sys::proto::fs::FsStat;
use sys::proto::vfs::{VfsAnswer, VfsCall, VfsReply};

pub use sys::proto::vfs::fcntl::{F_DUPFD, F_GETFD, F_GETFL, F_SETFD, F_SETFL, FD_CLOEXEC};
pub use sys::proto::vfs::whence::{SEEK_CUR, SEEK_END, SEEK_SET};

/// A descriptor number.
pub type Fd = i32;

/// Standard input, output and error.
pub const STDIN: Fd = 0;
/// Standard output.
pub const STDOUT: Fd = 1;
/// Standard error.
pub const STDERR: Fd = 2;

/// Sends `call` (whose id is `id`) to VFS and returns its answer.
pub(crate) fn vfs(id: u64, call: VfsCall) -> Result<VfsAnswer> {
    let m = ipc::call(Server::Vfs, &call.to_message())?;
    let r = VfsReply::try_from(&m)?;
    if r.id != id {
        return Err(Errno::EBADCALL);
    }
    r.result
}

/// A VFS call answered with a number.
pub(crate) fn vfs_value(id: u64, call: VfsCall) -> Result<i64> {
    match vfs(id, call)? {
        VfsAnswer::Value(v) => Ok(v),
        _ => Err(Errno::EBADCALL),
    }
}

/// A VFS call answered with a stat structure.
pub(crate) fn vfs_stat(id: u64, call: VfsCall) -> Result<FsStat> {
    match vfs(id, call)? {
        VfsAnswer::Stat(s) => Ok(s),
        _ => Err(Errno::EBADCALL),
    }
}

/// read(2): up to `buf.len()` bytes (0 at the end of the file).
pub fn read(fd: Fd, buf: &mut [u8]) -> Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    let g = Grant::write(Server::Vfs, buf)?;
    let id = ipc::next_id();
    let n = vfs_value(
        id,
        VfsCall::Read {
            id,
            fd,
            buf: g.buf()?,
        },
    )?;
    usize::try_from(n).map_err(|_| Errno::EBADCALL)
}

/// write(2): returns the bytes written (VFS moves at most its `MAX_IO`
/// per call; see [`write_all`]).
pub fn write(fd: Fd, data: &[u8]) -> Result<usize> {
    if data.is_empty() {
        return Ok(0);
    }
    let g = Grant::read(Server::Vfs, data)?;
    let id = ipc::next_id();
    let n = vfs_value(
        id,
        VfsCall::Write {
            id,
            fd,
            buf: g.buf()?,
        },
    )?;
    usize::try_from(n).map_err(|_| Errno::EBADCALL)
}

/// Writes all of `data`, calling write(2) again after a partial write.
/// `EIO` if a call writes nothing.
pub fn write_all(fd: Fd, mut data: &[u8]) -> Result<()> {
    while !data.is_empty() {
        let n = write(fd, data)?;
        if n == 0 {
            return Err(Errno::EIO);
        }
        data = &data[n.min(data.len())..];
    }
    Ok(())
}

/// close(2).
pub fn close(fd: Fd) -> Result<()> {
    let id = ipc::next_id();
    let r = vfs_value(id, VfsCall::Close { id, fd }).map(drop);
    if r.is_ok() {
        crate::io::descriptor_changed(fd);
    }
    r
}

/// lseek(2): the new offset.
pub fn lseek(fd: Fd, off: i64, whence: u32) -> Result<u64> {
    let id = ipc::next_id();
    let v = vfs_value(
        id,
        VfsCall::Lseek {
            id,
            fd,
            off,
            whence,
        },
    )?;
    u64::try_from(v).map_err(|_| Errno::EBADCALL)
}

/// dup(2).
pub fn dup(fd: Fd) -> Result<Fd> {
    let id = ipc::next_id();
    vfs_value(id, VfsCall::Dup { id, fd }).map(|v| v as Fd)
}

/// dup2(2).
pub fn dup2(fd: Fd, fd2: Fd) -> Result<Fd> {
    let id = ipc::next_id();
    let r = vfs_value(id, VfsCall::Dup2 { id, fd, fd2 }).map(|v| v as Fd);
    if r.is_ok() {
        crate::io::descriptor_changed(fd2);
    }
    r
}

/// ioctl(2): device request `req` with `arg` as its argument buffer
/// (read by the driver for a request that sets something, written for one
/// that gets; empty for none); the driver's value. `ENOTTY` for a
/// descriptor that is not a character device. Terminal requests:
/// [`crate::term`].
pub fn ioctl(fd: Fd, req: u32, arg: &mut [u8]) -> Result<i64> {
    let id = ipc::next_id();
    if arg.is_empty() {
        let grant = sys::GrantId(0);
        return vfs_value(
            id,
            VfsCall::Ioctl {
                id,
                fd,
                req,
                grant,
                len: 0,
            },
        );
    }
    let g = Grant::write(Server::Vfs, arg)?;
    let b = g.buf()?;
    vfs_value(
        id,
        VfsCall::Ioctl {
            id,
            fd,
            req,
            grant: b.grant,
            len: b.len,
        },
    )
}

/// pipe(2): (read end, write end).
pub fn pipe() -> Result<(Fd, Fd)> {
    let id = ipc::next_id();
    vfs_value(id, VfsCall::Pipe { id }).map(sys::proto::vfs::split_pipe_fds)
}

/// fcntl(2).
pub fn fcntl(fd: Fd, cmd: u32, arg: i64) -> Result<i64> {
    let id = ipc::next_id();
    vfs_value(id, VfsCall::Fcntl { id, fd, cmd, arg })
}

/// Sets or clears `FD_CLOEXEC` (closed by exec).
pub fn set_cloexec(fd: Fd, on: bool) -> Result<()> {
    fcntl(fd, F_SETFD, if on { FD_CLOEXEC } else { 0 }).map(drop)
}

/// fstat(2).
pub fn fstat(fd: Fd) -> Result<FsStat> {
    let id = ipc::next_id();
    vfs_stat(id, VfsCall::Fstat { id, fd })
}

/// ftruncate(2).
pub fn ftruncate(fd: Fd, size: u64) -> Result<()> {
    let id = ipc::next_id();
    vfs_value(id, VfsCall::Ftruncate { id, fd, size }).map(drop)
}

/// fsync(2).
pub fn fsync(fd: Fd) -> Result<()> {
    let id = ipc::next_id();
    vfs_value(id, VfsCall::Fsync { id, fd }).map(drop)
}

/// One getdents(2) call into `buf`: the bytes of whole records (decode
/// with `sys::proto::fs::Dirents`), 0 at the end.
pub fn getdents(fd: Fd, buf: &mut [u8]) -> Result<usize> {
    let g = Grant::write(Server::Vfs, buf)?;
    let id = ipc::next_id();
    let n = vfs_value(
        id,
        VfsCall::Getdents {
            id,
            fd,
            buf: g.buf()?,
        },
    )?;
    usize::try_from(n).map_err(|_| Errno::EBADCALL)
}

/// Descriptor sets of [`select`]: bit `n` = descriptor `n` (0..64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FdSets {
    /// Ready to read.
    pub read: u64,
    /// Ready to write.
    pub write: u64,
    /// Exceptional condition.
    pub except: u64,
}

/// select(2) on descriptors below `nfds`: waits until one in `sets` is
/// ready or `timeout` (seconds, microseconds) passes (`None`: no time
/// limit); returns the count and the ready sets. `EINTR` when a signal
/// handler ran meanwhile.
pub fn select(nfds: i32, sets: FdSets, timeout: Option<(i64, i64)>) -> Result<(i64, FdSets)> {
    use sys::proto::vfs::{decode_sets, encode_sets};
    let mut b = encode_sets([sets.read, sets.write, sets.except]);
    let n = {
        let g = Grant::write(Server::Vfs, &mut b)?;
        let id = ipc::next_id();
        vfs_value(
            id,
            VfsCall::Select {
                id,
                nfds,
                sets: g.buf()?,
                timeout,
            },
        )?
    };
    let [read, write, except] = decode_sets(&b);
    Ok((
        n,
        FdSets {
            read,
            write,
            except,
        },
    ))
}
