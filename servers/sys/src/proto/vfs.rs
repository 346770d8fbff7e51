//! The user <-> VFS protocol (POSIX file calls), numbers 0xAxx.
//!
//! Every call starts with a `u64` request id (echoed in the reply). Path
//! names and data buffers travel in grants the *caller* creates for VFS
//! ([`Buf`], the same type as in the FS protocol): a path grant is readable,
//! a read/getdents/readlink buffer writable. Results: a number (fd, bytes,
//! offset, 0) or a stat / statvfs structure (types shared with
//! [`crate::proto::fs`]). Directory entries use the record format of
//! [`crate::proto::fs::put_dirent`].

use crate::endpoint::Endpoint;
use crate::errno::Errno;
use crate::ipc::GrantId;
use crate::message::Message;
use crate::proto::fs::{Buf, FsStat, FsStatVfs};
use zerocopy::little_endian::{I32, I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

const OPEN: u32 = 0xa00;
const CLOSE: u32 = 0xa01;
const READ: u32 = 0xa02;
const WRITE: u32 = 0xa03;
const LSEEK: u32 = 0xa04;
const DUP: u32 = 0xa05;
const DUP2: u32 = 0xa06;
const STAT: u32 = 0xa07;
const FSTAT: u32 = 0xa08;
const LSTAT: u32 = 0xa09;
const MKDIR: u32 = 0xa0a;
const RMDIR: u32 = 0xa0b;
const UNLINK: u32 = 0xa0c;
const LINK: u32 = 0xa0d;
const RENAME: u32 = 0xa0e;
const SYMLINK: u32 = 0xa0f;
const READLINK: u32 = 0xa10;
const CHMOD: u32 = 0xa11;
const CHOWN: u32 = 0xa12;
const UTIMES: u32 = 0xa13;
const GETDENTS: u32 = 0xa14;
const TRUNCATE: u32 = 0xa15;
const FTRUNCATE: u32 = 0xa16;
const FSYNC: u32 = 0xa17;
const SYNC: u32 = 0xa18;
const STATVFS: u32 = 0xa19;
const MKNOD: u32 = 0xa1a;
const PIPE: u32 = 0xa1b;
const FCNTL: u32 = 0xa1c;
const SELECT: u32 = 0xa1d;
const MOUNT: u32 = 0xa1e;
const UMOUNT: u32 = 0xa1f;
const CHDIR: u32 = 0xa20;
const FCHDIR: u32 = 0xa21;
const UMASK: u32 = 0xa22;
const CHROOT: u32 = 0xa23;
const IOCTL: u32 = 0xa24;

// PM -> VFS ([`VfsPmCall`]).
const PM_FORK: u32 = 0xa40;
const PM_EXIT: u32 = 0xa41;
const PM_EXEC_CHECK: u32 = 0xa42;
const PM_EXEC_DONE: u32 = 0xa43;
const PM_SETCRED: u32 = 0xa44;
const PM_UNPAUSE: u32 = 0xa45;
const PM_SETSID: u32 = 0xa46;

// VM -> VFS ([`VfsVmCall`]).
const VM_PEEK_DEV: u32 = 0xa60;

const R_VALUE: u32 = 0xa80;
const R_STAT: u32 = 0xa81;
const R_STATVFS: u32 = 0xa82;

/// Open flags (MINIX / NetBSD values).
pub mod oflag {
    /// Read only.
    pub const O_RDONLY: u32 = 0;
    /// Write only.
    pub const O_WRONLY: u32 = 1;
    /// Read and write.
    pub const O_RDWR: u32 = 2;
    /// Access-mode mask.
    pub const O_ACCMODE: u32 = 3;
    /// Non-blocking.
    pub const O_NONBLOCK: u32 = 0x4;
    /// Append.
    pub const O_APPEND: u32 = 0x8;
    /// Create if absent.
    pub const O_CREAT: u32 = 0x200;
    /// Truncate.
    pub const O_TRUNC: u32 = 0x400;
    /// With O_CREAT: fail if it exists.
    pub const O_EXCL: u32 = 0x800;
    /// Fail unless a directory.
    pub const O_DIRECTORY: u32 = 0x20_0000;
    /// Set close-on-exec (`FD_CLOEXEC`) on the new descriptor.
    pub const O_CLOEXEC: u32 = 0x40_0000;
    /// Opening a terminal does not make it the controlling terminal.
    pub const O_NOCTTY: u32 = 0x80_0000;
}

/// lseek whence values.
pub mod whence {
    /// From the start.
    pub const SEEK_SET: u32 = 0;
    /// From the current position.
    pub const SEEK_CUR: u32 = 1;
    /// From the end.
    pub const SEEK_END: u32 = 2;
}

/// File type bits of a mode.
pub mod mode {
    /// Type mask.
    pub const S_IFMT: u16 = 0o170000;
    /// Regular file.
    pub const S_IFREG: u16 = 0o100000;
    /// Directory.
    pub const S_IFDIR: u16 = 0o040000;
    /// Symbolic link.
    pub const S_IFLNK: u16 = 0o120000;
    /// Character special.
    pub const S_IFCHR: u16 = 0o020000;
    /// Block special.
    pub const S_IFBLK: u16 = 0o060000;
    /// FIFO.
    pub const S_IFIFO: u16 = 0o010000;
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
struct CallP {
    id: U64,
    fd: I32,
    fd2: I32,
    grant: U32,
    len: U32,
    grant2: U32,
    len2: U32,
    off: I64,
    flags: U32,
    mode: U32,
    uid: U16,
    gid: U16,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
struct ValueP {
    id: U64,
    status: I32,
    value: I64,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
struct StatP {
    id: U64,
    ino: U32,
    mode: U16,
    nlinks: U16,
    uid: U16,
    gid: U16,
    size: U64,
    atime: U32,
    mtime: U32,
    ctime: U32,
    rdev: U32,
    blksize: U32,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
struct StatVfsP {
    id: U64,
    bsize: U32,
    namemax: U32,
    blocks: U64,
    bfree: U64,
    files: U64,
    ffree: U64,
}

const _: () = assert!(core::mem::size_of::<CallP>() <= 56);
const _: () = assert!(core::mem::size_of::<StatP>() <= 56);
const _: () = assert!(core::mem::size_of::<StatVfsP>() <= 56);

/// A POSIX file call.
#[allow(missing_docs)] // field names are the POSIX argument names
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VfsCall {
    /// open(path, flags, mode) -> fd.
    Open {
        id: u64,
        path: Buf,
        flags: u32,
        mode: u16,
    },
    /// close(fd) -> 0.
    Close { id: u64, fd: i32 },
    /// read(fd, buf) -> bytes.
    Read { id: u64, fd: i32, buf: Buf },
    /// write(fd, buf) -> bytes.
    Write { id: u64, fd: i32, buf: Buf },
    /// lseek(fd, off, whence) -> new offset.
    Lseek {
        id: u64,
        fd: i32,
        off: i64,
        whence: u32,
    },
    /// dup(fd) -> new fd.
    Dup { id: u64, fd: i32 },
    /// dup2(fd, fd2) -> fd2.
    Dup2 { id: u64, fd: i32, fd2: i32 },
    /// stat(path) -> stat.
    Stat { id: u64, path: Buf },
    /// fstat(fd) -> stat.
    Fstat { id: u64, fd: i32 },
    /// lstat(path) -> stat.
    Lstat { id: u64, path: Buf },
    /// mkdir(path, mode) -> 0.
    Mkdir { id: u64, path: Buf, mode: u16 },
    /// rmdir(path) -> 0.
    Rmdir { id: u64, path: Buf },
    /// unlink(path) -> 0.
    Unlink { id: u64, path: Buf },
    /// link(old, new) -> 0.
    Link { id: u64, old: Buf, new: Buf },
    /// rename(old, new) -> 0.
    Rename { id: u64, old: Buf, new: Buf },
    /// symlink(target, path) -> 0.
    Symlink { id: u64, target: Buf, path: Buf },
    /// readlink(path, buf) -> bytes.
    Readlink { id: u64, path: Buf, buf: Buf },
    /// chmod(path, mode) -> 0.
    Chmod { id: u64, path: Buf, mode: u16 },
    /// chown(path, uid, gid) -> 0.
    Chown {
        id: u64,
        path: Buf,
        uid: u16,
        gid: u16,
    },
    /// utimes(path, atime, mtime) -> 0.
    Utimes {
        id: u64,
        path: Buf,
        atime: u32,
        mtime: u32,
    },
    /// getdents(fd, buf) -> bytes (0 at the end).
    Getdents { id: u64, fd: i32, buf: Buf },
    /// truncate(path, size) -> 0.
    Truncate { id: u64, path: Buf, size: u64 },
    /// ftruncate(fd, size) -> 0.
    Ftruncate { id: u64, fd: i32, size: u64 },
    /// fsync(fd) -> 0.
    Fsync { id: u64, fd: i32 },
    /// sync() -> 0.
    Sync { id: u64 },
    /// statvfs(path) -> statvfs.
    Statvfs { id: u64, path: Buf },
    /// mknod(path, mode, dev) -> 0.
    Mknod {
        id: u64,
        path: Buf,
        mode: u16,
        rdev: u32,
    },
    /// pipe() -> read fd | write fd << 32 (see [`split_pipe_fds`]).
    Pipe { id: u64 },
    /// fcntl(fd, cmd, arg) -> per command ([`fcntl`]).
    Fcntl {
        id: u64,
        fd: i32,
        cmd: u32,
        arg: i64,
    },
    /// select(nfds, sets, timeout) -> ready (fd, set) pairs; `sets` is a
    /// read/write grant of [`SELECT_SETS_LEN`] bytes ([`encode_sets`]),
    /// updated in place; `timeout` = (seconds, microseconds), `None` waits
    /// for ever.
    Select {
        id: u64,
        nfds: i32,
        sets: Buf,
        timeout: Option<(i64, i64)>,
    },
    /// mount(path, label) -> 0: mount the file server published under
    /// `label` (service label) on directory `path`.
    Mount { id: u64, path: Buf, label: Buf },
    /// umount(path) -> 0: `path` is the root of a mounted file system.
    Umount { id: u64, path: Buf },
    /// chdir(path) -> 0: relative paths resolve from there.
    Chdir { id: u64, path: Buf },
    /// fchdir(fd) -> 0.
    Fchdir { id: u64, fd: i32 },
    /// umask(mask) -> the previous mask (permission bits only).
    Umask { id: u64, mask: u16 },
    /// chroot(path) -> 0 (effective uid 0 only): absolute paths, absolute
    /// symlinks and `..` resolve within `path` from then on.
    Chroot { id: u64, path: Buf },
    /// ioctl(fd, req, buf) -> the driver's result (0 for most requests):
    /// `req` is a device request (for terminals [`crate::proto::tty`]
    /// codes); `grant` (`len` bytes; 0 for none) carries its argument in
    /// and its result out: VFS passes it on readable for a request
    /// [`crate::proto::tty::ioctl_dir`] calls `In`, writable for `Out`,
    /// both for a request it does not list. Character devices only
    /// (`ENOTTY` for anything else).
    Ioctl {
        id: u64,
        fd: i32,
        req: u32,
        grant: GrantId,
        len: u32,
    },
}

/// Bytes of the three select sets (read, write, except), one `u64` bit
/// mask each (descriptors 0..64), little-endian.
pub const SELECT_SETS_LEN: usize = 24;

/// Encode select sets.
pub fn encode_sets(sets: [u64; 3]) -> [u8; SELECT_SETS_LEN] {
    let mut b = [0u8; SELECT_SETS_LEN];
    for (i, s) in sets.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&s.to_le_bytes());
    }
    b
}

/// Decode select sets (missing bytes read as zero).
pub fn decode_sets(b: &[u8]) -> [u64; 3] {
    let mut out = [0u64; 3];
    for (i, o) in out.iter_mut().enumerate() {
        let mut w = [0u8; 8];
        for (k, x) in w.iter_mut().enumerate() {
            *x = b.get(i * 8 + k).copied().unwrap_or(0);
        }
        *o = u64::from_le_bytes(w);
    }
    out
}

/// fcntl commands (NetBSD / MINIX values) and the descriptor flag.
pub mod fcntl {
    /// Duplicate to the lowest free descriptor >= arg.
    pub const F_DUPFD: u32 = 0;
    /// Descriptor flags.
    pub const F_GETFD: u32 = 1;
    /// Set descriptor flags.
    pub const F_SETFD: u32 = 2;
    /// File status flags (access mode, O_APPEND, O_NONBLOCK).
    pub const F_GETFL: u32 = 3;
    /// Set O_APPEND / O_NONBLOCK.
    pub const F_SETFL: u32 = 4;
    /// Close on exec.
    pub const FD_CLOEXEC: i64 = 1;
}

/// The two descriptors of a `pipe()` answer: (read end, write end).
pub fn split_pipe_fds(v: i64) -> (i32, i32) {
    (v as u32 as i32, (v >> 32) as u32 as i32)
}

/// Pack the two descriptors of a `pipe()` answer.
pub fn join_pipe_fds(rd: i32, wr: i32) -> i64 {
    i64::from(rd as u32) | (i64::from(wr as u32) << 32)
}

impl VfsCall {
    /// The request id.
    pub fn id(&self) -> u64 {
        self.to_message().request_id()
    }

    /// Encode.
    pub fn to_message(&self) -> Message {
        use VfsCall::*;
        let mut p = CallP::default();
        let set1 = |p: &mut CallP, b: Buf| {
            p.grant = U32::new(b.grant.0);
            p.len = U32::new(b.len);
        };
        let set2 = |p: &mut CallP, b: Buf| {
            p.grant2 = U32::new(b.grant.0);
            p.len2 = U32::new(b.len);
        };
        let (t, id) = match *self {
            Open {
                id,
                path,
                flags,
                mode,
            } => {
                set1(&mut p, path);
                p.flags = U32::new(flags);
                p.mode = U32::new(u32::from(mode));
                (OPEN, id)
            }
            Close { id, fd } => {
                p.fd = I32::new(fd);
                (CLOSE, id)
            }
            Read { id, fd, buf } => {
                p.fd = I32::new(fd);
                set1(&mut p, buf);
                (READ, id)
            }
            Write { id, fd, buf } => {
                p.fd = I32::new(fd);
                set1(&mut p, buf);
                (WRITE, id)
            }
            Lseek {
                id,
                fd,
                off,
                whence,
            } => {
                p.fd = I32::new(fd);
                p.off = I64::new(off);
                p.flags = U32::new(whence);
                (LSEEK, id)
            }
            Dup { id, fd } => {
                p.fd = I32::new(fd);
                (DUP, id)
            }
            Dup2 { id, fd, fd2 } => {
                p.fd = I32::new(fd);
                p.fd2 = I32::new(fd2);
                (DUP2, id)
            }
            Stat { id, path } => {
                set1(&mut p, path);
                (STAT, id)
            }
            Fstat { id, fd } => {
                p.fd = I32::new(fd);
                (FSTAT, id)
            }
            Lstat { id, path } => {
                set1(&mut p, path);
                (LSTAT, id)
            }
            Mkdir { id, path, mode } => {
                set1(&mut p, path);
                p.mode = U32::new(u32::from(mode));
                (MKDIR, id)
            }
            Rmdir { id, path } => {
                set1(&mut p, path);
                (RMDIR, id)
            }
            Unlink { id, path } => {
                set1(&mut p, path);
                (UNLINK, id)
            }
            Link { id, old, new } => {
                set1(&mut p, old);
                set2(&mut p, new);
                (LINK, id)
            }
            Rename { id, old, new } => {
                set1(&mut p, old);
                set2(&mut p, new);
                (RENAME, id)
            }
            Symlink { id, target, path } => {
                set1(&mut p, target);
                set2(&mut p, path);
                (SYMLINK, id)
            }
            Readlink { id, path, buf } => {
                set1(&mut p, path);
                set2(&mut p, buf);
                (READLINK, id)
            }
            Chmod { id, path, mode } => {
                set1(&mut p, path);
                p.mode = U32::new(u32::from(mode));
                (CHMOD, id)
            }
            Chown { id, path, uid, gid } => {
                set1(&mut p, path);
                p.uid = U16::new(uid);
                p.gid = U16::new(gid);
                (CHOWN, id)
            }
            Utimes {
                id,
                path,
                atime,
                mtime,
            } => {
                set1(&mut p, path);
                p.flags = U32::new(atime);
                p.mode = U32::new(mtime);
                (UTIMES, id)
            }
            Getdents { id, fd, buf } => {
                p.fd = I32::new(fd);
                set1(&mut p, buf);
                (GETDENTS, id)
            }
            Truncate { id, path, size } => {
                set1(&mut p, path);
                p.off = I64::new(size as i64);
                (TRUNCATE, id)
            }
            Ftruncate { id, fd, size } => {
                p.fd = I32::new(fd);
                p.off = I64::new(size as i64);
                (FTRUNCATE, id)
            }
            Fsync { id, fd } => {
                p.fd = I32::new(fd);
                (FSYNC, id)
            }
            Sync { id } => (SYNC, id),
            Statvfs { id, path } => {
                set1(&mut p, path);
                (STATVFS, id)
            }
            Mknod {
                id,
                path,
                mode,
                rdev,
            } => {
                set1(&mut p, path);
                p.mode = U32::new(u32::from(mode));
                p.flags = U32::new(rdev);
                (MKNOD, id)
            }
            Pipe { id } => (PIPE, id),
            Fcntl { id, fd, cmd, arg } => {
                p.fd = I32::new(fd);
                p.flags = U32::new(cmd);
                p.off = I64::new(arg);
                (FCNTL, id)
            }
            Select {
                id,
                nfds,
                sets,
                timeout,
            } => {
                p.fd = I32::new(nfds);
                set1(&mut p, sets);
                if let Some((sec, usec)) = timeout {
                    p.flags = U32::new(1);
                    p.off = I64::new(sec);
                    // Out-of-range microseconds stay out of range (EINVAL).
                    p.fd2 = I32::new(i32::try_from(usec).unwrap_or(-1));
                }
                (SELECT, id)
            }
            Mount { id, path, label } => {
                set1(&mut p, path);
                set2(&mut p, label);
                (MOUNT, id)
            }
            Umount { id, path } => {
                set1(&mut p, path);
                (UMOUNT, id)
            }
            Chdir { id, path } => {
                set1(&mut p, path);
                (CHDIR, id)
            }
            Fchdir { id, fd } => {
                p.fd = I32::new(fd);
                (FCHDIR, id)
            }
            Umask { id, mask } => {
                p.mode = U32::new(u32::from(mask));
                (UMASK, id)
            }
            Chroot { id, path } => {
                set1(&mut p, path);
                (CHROOT, id)
            }
            Ioctl {
                id,
                fd,
                req,
                grant,
                len,
            } => {
                p.fd = I32::new(fd);
                p.flags = U32::new(req);
                p.grant = U32::new(grant.0);
                p.len = U32::new(len);
                (IOCTL, id)
            }
        };
        p.id = U64::new(id);
        Message::with(t, &p)
    }

    /// Whether `m` carries a VFS call number.
    pub fn is_vfs_call(m: &Message) -> bool {
        (OPEN..=IOCTL).contains(&m.mtype())
    }
}

impl TryFrom<&Message> for VfsCall {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        let p: CallP = m.payload_as()?;
        let id = p.id.get();
        let fd = p.fd.get();
        let b1 = Buf {
            grant: GrantId(p.grant.get()),
            len: p.len.get(),
        };
        let b2 = Buf {
            grant: GrantId(p.grant2.get()),
            len: p.len2.get(),
        };
        let mode = u16::try_from(p.mode.get()).map_err(|_| Errno::EINVAL);
        let size = u64::try_from(p.off.get()).map_err(|_| Errno::EINVAL);
        use VfsCall::*;
        Ok(match m.mtype() {
            OPEN => Open {
                id,
                path: b1,
                flags: p.flags.get(),
                mode: mode?,
            },
            CLOSE => Close { id, fd },
            READ => Read { id, fd, buf: b1 },
            WRITE => Write { id, fd, buf: b1 },
            LSEEK => Lseek {
                id,
                fd,
                off: p.off.get(),
                whence: p.flags.get(),
            },
            DUP => Dup { id, fd },
            DUP2 => Dup2 {
                id,
                fd,
                fd2: p.fd2.get(),
            },
            STAT => Stat { id, path: b1 },
            FSTAT => Fstat { id, fd },
            LSTAT => Lstat { id, path: b1 },
            MKDIR => Mkdir {
                id,
                path: b1,
                mode: mode?,
            },
            RMDIR => Rmdir { id, path: b1 },
            UNLINK => Unlink { id, path: b1 },
            LINK => Link {
                id,
                old: b1,
                new: b2,
            },
            RENAME => Rename {
                id,
                old: b1,
                new: b2,
            },
            SYMLINK => Symlink {
                id,
                target: b1,
                path: b2,
            },
            READLINK => Readlink {
                id,
                path: b1,
                buf: b2,
            },
            CHMOD => Chmod {
                id,
                path: b1,
                mode: mode?,
            },
            CHOWN => Chown {
                id,
                path: b1,
                uid: p.uid.get(),
                gid: p.gid.get(),
            },
            UTIMES => Utimes {
                id,
                path: b1,
                atime: p.flags.get(),
                mtime: p.mode.get(),
            },
            GETDENTS => Getdents { id, fd, buf: b1 },
            TRUNCATE => Truncate {
                id,
                path: b1,
                size: size?,
            },
            FTRUNCATE => Ftruncate {
                id,
                fd,
                size: size?,
            },
            FSYNC => Fsync { id, fd },
            SYNC => Sync { id },
            STATVFS => Statvfs { id, path: b1 },
            MKNOD => Mknod {
                id,
                path: b1,
                mode: mode?,
                rdev: p.flags.get(),
            },
            PIPE => Pipe { id },
            MOUNT => Mount {
                id,
                path: b1,
                label: b2,
            },
            UMOUNT => Umount { id, path: b1 },
            CHDIR => Chdir { id, path: b1 },
            FCHDIR => Fchdir { id, fd },
            UMASK => Umask { id, mask: mode? },
            CHROOT => Chroot { id, path: b1 },
            IOCTL => Ioctl {
                id,
                fd,
                req: p.flags.get(),
                grant: b1.grant,
                len: b1.len,
            },
            SELECT => Select {
                id,
                nfds: fd,
                sets: b1,
                timeout: (p.flags.get() & 1 != 0).then(|| (p.off.get(), i64::from(p.fd2.get()))),
            },
            FCNTL => Fcntl {
                id,
                fd,
                cmd: p.flags.get(),
                arg: p.off.get(),
            },
            // An unknown request type: the server answers ENOSYS.
            _ => return Err(Errno::ENOSYS),
        })
    }
}

/// A call of PM (the process manager) telling VFS about processes. VFS
/// accepts these only from the process DS names `pm` (others: `EPERM`).
/// Answers are [`VfsReply`]s: [`VfsAnswer::Value`], except `ExecCheck`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VfsPmCall {
    /// `child` was forked from `parent`: it gets a copy of the parent's
    /// descriptor table (sharing the open files and their positions), its
    /// working and root directories, umask and credentials. -> 0.
    Fork {
        /// Request id.
        id: u64,
        /// The forking process.
        parent: Endpoint,
        /// The new process.
        child: Endpoint,
    },
    /// `ep` exited: every descriptor is closed, a call it had in progress
    /// is dropped without an answer, and VFS forgets it. -> 0 (after the
    /// closes).
    Exit {
        /// Request id.
        id: u64,
        /// The process.
        ep: Endpoint,
    },
    /// May `ep` execute the file open on its descriptor `fd`? It must be
    /// a regular file (`EACCES`) with an x bit for `ep`'s effective ids
    /// (root: any x bit; `EACCES`). -> [`VfsAnswer::Stat`] of the file
    /// (PM applies its set-uid / set-gid bits and owner).
    ExecCheck {
        /// Request id.
        id: u64,
        /// The process.
        ep: Endpoint,
        /// Its descriptor of the program file.
        fd: i32,
    },
    /// `ep` now runs a new image: its close-on-exec descriptors are closed.
    /// -> 0 (after the closes).
    ExecDone {
        /// Request id.
        id: u64,
        /// The process.
        ep: Endpoint,
    },
    /// `ep`'s real and effective ids (permission checks use the effective
    /// ones); ids above 65535 are `EINVAL`. -> 0.
    SetCred {
        /// Request id.
        id: u64,
        /// The process.
        ep: Endpoint,
        /// Real user id.
        uid: u32,
        /// Real group id.
        gid: u32,
        /// Effective user id.
        euid: u32,
        /// Effective group id.
        egid: u32,
    },
    /// A signal for `ep`: a call of it suspended in VFS (pipe or FIFO read,
    /// write or open, select, device read or write, ...) is answered
    /// `EINTR` before this answer. -> 1 if there was one, 0 if not.
    Unpause {
        /// Request id.
        id: u64,
        /// The process.
        ep: Endpoint,
    },
    /// `ep` became a session leader (a successful setsid): it loses its
    /// controlling terminal; the next terminal it opens without
    /// `O_NOCTTY` becomes its new one. -> 0.
    SetSid {
        /// Request id.
        id: u64,
        /// The process.
        ep: Endpoint,
    },
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
struct PmCallP {
    id: U64,
    ep: U32,
    ep2: U32,
    fd: I32,
    uid: U32,
    gid: U32,
    euid: U32,
    egid: U32,
}

const _: () = assert!(core::mem::size_of::<PmCallP>() <= 56);

impl VfsPmCall {
    /// The request id.
    pub fn id(&self) -> u64 {
        use VfsPmCall::*;
        match *self {
            Fork { id, .. }
            | Exit { id, .. }
            | ExecCheck { id, .. }
            | ExecDone { id, .. }
            | SetCred { id, .. }
            | Unpause { id, .. }
            | SetSid { id, .. } => id,
        }
    }

    /// The process the call is about (the child of a fork).
    pub fn target(&self) -> Endpoint {
        use VfsPmCall::*;
        match *self {
            Fork { child, .. } => child,
            Exit { ep, .. }
            | ExecCheck { ep, .. }
            | ExecDone { ep, .. }
            | SetCred { ep, .. }
            | Unpause { ep, .. }
            | SetSid { ep, .. } => ep,
        }
    }

    /// Encode.
    pub fn to_message(&self) -> Message {
        use VfsPmCall::*;
        let mut p = PmCallP {
            id: U64::new(self.id()),
            ..PmCallP::default()
        };
        let t = match *self {
            Fork { parent, child, .. } => {
                p.ep = U32::new(parent.0);
                p.ep2 = U32::new(child.0);
                PM_FORK
            }
            Exit { ep, .. } => {
                p.ep = U32::new(ep.0);
                PM_EXIT
            }
            ExecCheck { ep, fd, .. } => {
                p.ep = U32::new(ep.0);
                p.fd = I32::new(fd);
                PM_EXEC_CHECK
            }
            ExecDone { ep, .. } => {
                p.ep = U32::new(ep.0);
                PM_EXEC_DONE
            }
            SetCred {
                ep,
                uid,
                gid,
                euid,
                egid,
                ..
            } => {
                p.ep = U32::new(ep.0);
                p.uid = U32::new(uid);
                p.gid = U32::new(gid);
                p.euid = U32::new(euid);
                p.egid = U32::new(egid);
                PM_SETCRED
            }
            Unpause { ep, .. } => {
                p.ep = U32::new(ep.0);
                PM_UNPAUSE
            }
            SetSid { ep, .. } => {
                p.ep = U32::new(ep.0);
                PM_SETSID
            }
        };
        Message::with(t, &p)
    }

    /// Whether `m` carries a PM -> VFS call number.
    pub fn is_pm_call(m: &Message) -> bool {
        (PM_FORK..=PM_SETSID).contains(&m.mtype())
    }
}

impl TryFrom<&Message> for VfsPmCall {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        let p: PmCallP = m.payload_as()?;
        let id = p.id.get();
        let ep = Endpoint(p.ep.get());
        use VfsPmCall::*;
        Ok(match m.mtype() {
            PM_FORK => Fork {
                id,
                parent: ep,
                child: Endpoint(p.ep2.get()),
            },
            PM_EXIT => Exit { id, ep },
            PM_EXEC_CHECK => ExecCheck {
                id,
                ep,
                fd: p.fd.get(),
            },
            PM_EXEC_DONE => ExecDone { id, ep },
            PM_SETCRED => SetCred {
                id,
                ep,
                uid: p.uid.get(),
                gid: p.gid.get(),
                euid: p.euid.get(),
                egid: p.egid.get(),
            },
            PM_UNPAUSE => Unpause { id, ep },
            PM_SETSID => SetSid { id, ep },
            _ => return Err(Errno::ENOSYS),
        })
    }
}

/// A call of VM (the memory manager) asking VFS for file bytes to map
/// (MINIX's `VMVFSREQ_FDIO`). VFS accepts these only from the process DS
/// names `vm` (others: `EPERM`). VM sends them as asynchronous requests
/// and answers its own caller when VFS has answered (neither blocks on the
/// other). Answers are [`VfsReply`]s with [`VfsAnswer::Value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VfsVmCall {
    /// Read up to `buf.len` bytes from byte `pos` of the block device open
    /// on `ep`'s descriptor `fd` into `buf` (a grant VM made to VFS,
    /// passed on to the file server): the same path as a read(2) of the
    /// device (the file server's `bio`, so served from its cache), without
    /// moving the descriptor's offset. -> the bytes read: `min(size - pos,
    /// len)`, 0 at or after the end of the device. `EBADF` if `fd` is not
    /// open, `EACCES` if it is open write-only, `ENODEV` if it is not a
    /// block device.
    PeekDev {
        /// Request id.
        id: u64,
        /// The process whose descriptor it is (VM's caller).
        ep: Endpoint,
        /// Its descriptor.
        fd: i32,
        /// Device offset.
        pos: u64,
        /// VM's buffer (writable by VFS and the file server).
        buf: Buf,
    },
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
struct VmCallP {
    id: U64,
    ep: U32,
    fd: I32,
    pos: U64,
    grant: U32,
    len: U32,
}

const _: () = assert!(core::mem::size_of::<VmCallP>() <= 56);

impl VfsVmCall {
    /// The request id.
    pub fn id(&self) -> u64 {
        match *self {
            VfsVmCall::PeekDev { id, .. } => id,
        }
    }

    /// Encode.
    pub fn to_message(&self) -> Message {
        match *self {
            VfsVmCall::PeekDev {
                id,
                ep,
                fd,
                pos,
                buf,
            } => Message::with(
                VM_PEEK_DEV,
                &VmCallP {
                    id: U64::new(id),
                    ep: U32::new(ep.0),
                    fd: I32::new(fd),
                    pos: U64::new(pos),
                    grant: U32::new(buf.grant.0),
                    len: U32::new(buf.len),
                },
            ),
        }
    }

    /// Whether `m` carries a VM -> VFS call number.
    pub fn is_vm_call(m: &Message) -> bool {
        m.mtype() == VM_PEEK_DEV
    }
}

impl TryFrom<&Message> for VfsVmCall {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        if m.mtype() != VM_PEEK_DEV {
            return Err(Errno::ENOSYS);
        }
        let p: VmCallP = m.payload_as()?;
        Ok(VfsVmCall::PeekDev {
            id: p.id.get(),
            ep: Endpoint(p.ep.get()),
            fd: p.fd.get(),
            pos: p.pos.get(),
            buf: Buf {
                grant: GrantId(p.grant.get()),
                len: p.len.get(),
            },
        })
    }
}

/// A successful VFS answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VfsAnswer {
    /// A number: fd, byte count, offset, or 0.
    Value(i64),
    /// stat/fstat/lstat.
    Stat(FsStat),
    /// statvfs.
    StatVfs(FsStatVfs),
}

/// VFS's reply to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VfsReply {
    /// The call's id.
    pub id: u64,
    /// Answer or error.
    pub result: Result<VfsAnswer, Errno>,
}

impl VfsReply {
    /// Encode.
    pub fn to_message(&self) -> Message {
        let id = U64::new(self.id);
        match self.result {
            Err(e) => Message::with(
                R_VALUE,
                &ValueP {
                    id,
                    status: I32::new(-e.code()),
                    value: I64::new(0),
                },
            ),
            Ok(VfsAnswer::Value(v)) => Message::with(
                R_VALUE,
                &ValueP {
                    id,
                    status: I32::new(0),
                    value: I64::new(v),
                },
            ),
            Ok(VfsAnswer::Stat(s)) => Message::with(
                R_STAT,
                &StatP {
                    id,
                    ino: U32::new(s.ino),
                    mode: U16::new(s.mode),
                    nlinks: U16::new(s.nlinks),
                    uid: U16::new(s.uid),
                    gid: U16::new(s.gid),
                    size: U64::new(s.size),
                    atime: U32::new(s.atime),
                    mtime: U32::new(s.mtime),
                    ctime: U32::new(s.ctime),
                    rdev: U32::new(s.rdev),
                    blksize: U32::new(s.blksize),
                },
            ),
            Ok(VfsAnswer::StatVfs(s)) => Message::with(
                R_STATVFS,
                &StatVfsP {
                    id,
                    bsize: U32::new(s.bsize),
                    namemax: U32::new(s.namemax),
                    blocks: U64::new(s.blocks),
                    bfree: U64::new(s.bfree),
                    files: U64::new(s.files),
                    ffree: U64::new(s.ffree),
                },
            ),
        }
    }
}

impl TryFrom<&Message> for VfsReply {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        match m.mtype() {
            R_VALUE => {
                let p: ValueP = m.payload_as()?;
                let result =
                    Errno::from_status(p.status.get()).map(|()| VfsAnswer::Value(p.value.get()));
                Ok(VfsReply {
                    id: p.id.get(),
                    result,
                })
            }
            R_STAT => {
                let s: StatP = m.payload_as()?;
                Ok(VfsReply {
                    id: s.id.get(),
                    result: Ok(VfsAnswer::Stat(FsStat {
                        ino: s.ino.get(),
                        mode: s.mode.get(),
                        nlinks: s.nlinks.get(),
                        uid: s.uid.get(),
                        gid: s.gid.get(),
                        size: s.size.get(),
                        atime: s.atime.get(),
                        mtime: s.mtime.get(),
                        ctime: s.ctime.get(),
                        rdev: s.rdev.get(),
                        blksize: s.blksize.get(),
                    })),
                })
            }
            R_STATVFS => {
                let s: StatVfsP = m.payload_as()?;
                Ok(VfsReply {
                    id: s.id.get(),
                    result: Ok(VfsAnswer::StatVfs(FsStatVfs {
                        bsize: s.bsize.get(),
                        namemax: s.namemax.get(),
                        blocks: s.blocks.get(),
                        bfree: s.bfree.get(),
                        files: s.files.get(),
                        ffree: s.ffree.get(),
                    })),
                })
            }
            _ => Err(Errno::EBADCALL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(g: u32, l: u32) -> Buf {
        Buf {
            grant: GrantId(g),
            len: l,
        }
    }

    #[test]
    fn calls_roundtrip() {
        use VfsCall::*;
        let calls = [
            Open {
                id: 1,
                path: b(1, 5),
                flags: oflag::O_CREAT | oflag::O_RDWR,
                mode: 0o644,
            },
            Close { id: 2, fd: 3 },
            Read {
                id: 3,
                fd: 3,
                buf: b(2, 100),
            },
            Write {
                id: 4,
                fd: 3,
                buf: b(2, 100),
            },
            Lseek {
                id: 5,
                fd: 3,
                off: -5,
                whence: whence::SEEK_END,
            },
            Dup { id: 6, fd: 3 },
            Dup2 {
                id: 7,
                fd: 3,
                fd2: 9,
            },
            Stat {
                id: 8,
                path: b(1, 2),
            },
            Fstat { id: 9, fd: 1 },
            Lstat {
                id: 10,
                path: b(1, 2),
            },
            Mkdir {
                id: 11,
                path: b(1, 2),
                mode: 0o755,
            },
            Rmdir {
                id: 12,
                path: b(1, 2),
            },
            Unlink {
                id: 13,
                path: b(1, 2),
            },
            Link {
                id: 14,
                old: b(1, 2),
                new: b(3, 4),
            },
            Rename {
                id: 15,
                old: b(1, 2),
                new: b(3, 4),
            },
            Symlink {
                id: 16,
                target: b(1, 2),
                path: b(3, 4),
            },
            Readlink {
                id: 17,
                path: b(1, 2),
                buf: b(3, 4),
            },
            Chmod {
                id: 18,
                path: b(1, 2),
                mode: 0o600,
            },
            Chown {
                id: 19,
                path: b(1, 2),
                uid: 5,
                gid: 6,
            },
            Utimes {
                id: 20,
                path: b(1, 2),
                atime: 7,
                mtime: 8,
            },
            Getdents {
                id: 21,
                fd: 4,
                buf: b(1, 4096),
            },
            Truncate {
                id: 22,
                path: b(1, 2),
                size: 1 << 33,
            },
            Ftruncate {
                id: 23,
                fd: 4,
                size: 10,
            },
            Fsync { id: 24, fd: 4 },
            Sync { id: 25 },
            Statvfs {
                id: 26,
                path: b(1, 1),
            },
            Mknod {
                id: 27,
                path: b(1, 2),
                mode: mode::S_IFBLK | 0o600,
                rdev: 0x301,
            },
            Pipe { id: 28 },
            Select {
                id: 30,
                nfds: 5,
                sets: b(1, 24),
                timeout: Some((2, 999_999)),
            },
            Mount {
                id: 32,
                path: b(1, 4),
                label: b(2, 4),
            },
            Umount {
                id: 33,
                path: b(1, 4),
            },
            Chdir {
                id: 34,
                path: b(1, 4),
            },
            Fchdir { id: 35, fd: 7 },
            Umask {
                id: 36,
                mask: 0o027,
            },
            Chroot {
                id: 37,
                path: b(4, 9),
            },
            Select {
                id: 31,
                nfds: 1,
                sets: b(1, 24),
                timeout: None,
            },
            Fcntl {
                id: 29,
                fd: 3,
                cmd: fcntl::F_SETFL,
                arg: -2,
            },
            Ioctl {
                id: 38,
                fd: 0,
                req: 2,
                grant: GrantId(11),
                len: 44,
            },
        ];
        for c in calls {
            let m = c.to_message();
            assert!(VfsCall::is_vfs_call(&m));
            assert_eq!(VfsCall::try_from(&m).unwrap(), c);
        }
        assert_eq!(VfsCall::try_from(&Message::new(0xaff)), Err(Errno::ENOSYS));
        // A umask wider than a mode is refused, not truncated.
        let mut m = Umask { id: 1, mask: 0 }.to_message();
        m.payload_mut()[44..48].copy_from_slice(&0x1_0000u32.to_le_bytes());
        assert_eq!(VfsCall::try_from(&m), Err(Errno::EINVAL));
    }

    #[test]
    fn pm_calls_roundtrip() {
        use VfsPmCall::*;
        let e = |n: u32| Endpoint(n);
        let calls = [
            Fork {
                id: 1,
                parent: e(0x1_0020),
                child: e(0x2_0031),
            },
            Exit {
                id: 2,
                ep: e(0x1_0020),
            },
            ExecCheck {
                id: 3,
                ep: e(0x40),
                fd: -1,
            },
            ExecDone { id: 4, ep: e(0x41) },
            SetCred {
                id: 5,
                ep: e(0x42),
                uid: 1,
                gid: 2,
                euid: 0x1_0000,
                egid: 4,
            },
            Unpause {
                id: u64::MAX,
                ep: e(0x43),
            },
            SetSid { id: 6, ep: e(0x44) },
        ];
        for c in calls {
            let m = c.to_message();
            assert!(VfsPmCall::is_pm_call(&m));
            assert!(!VfsCall::is_vfs_call(&m));
            assert_eq!(m.request_id(), c.id());
            assert_eq!(VfsPmCall::try_from(&m).unwrap(), c);
        }
        assert_eq!(calls[0].target(), e(0x2_0031));
        assert_eq!(calls[1].target(), e(0x1_0020));
        // User calls are not PM calls and the other way round.
        let open = VfsCall::Pipe { id: 9 }.to_message();
        assert!(!VfsPmCall::is_pm_call(&open));
        assert_eq!(VfsPmCall::try_from(&open), Err(Errno::ENOSYS));
        assert_eq!(
            VfsCall::try_from(&calls[0].to_message()),
            Err(Errno::ENOSYS)
        );
    }

    #[test]
    fn vm_calls_roundtrip() {
        let c = VfsVmCall::PeekDev {
            id: 7,
            ep: Endpoint(0x3_0044),
            fd: 5,
            pos: 3 * 4096,
            buf: Buf {
                grant: GrantId(9),
                len: 20_480,
            },
        };
        let m = c.to_message();
        assert!(VfsVmCall::is_vm_call(&m));
        assert!(!VfsPmCall::is_pm_call(&m) && !VfsCall::is_vfs_call(&m));
        assert_eq!(m.request_id(), 7);
        assert_eq!(VfsVmCall::try_from(&m), Ok(c));
        assert_eq!(VfsPmCall::try_from(&m), Err(Errno::ENOSYS));
        assert_eq!(VfsCall::try_from(&m), Err(Errno::ENOSYS));
        let other = VfsCall::Pipe { id: 9 }.to_message();
        assert_eq!(VfsVmCall::try_from(&other), Err(Errno::ENOSYS));
    }

    #[test]
    fn replies_roundtrip() {
        for r in [
            VfsReply {
                id: 1,
                result: Ok(VfsAnswer::Value(-3_i64.abs() << 40)),
            },
            VfsReply {
                id: 2,
                result: Err(Errno::EBADF),
            },
            VfsReply {
                id: 3,
                result: Ok(VfsAnswer::Stat(FsStat {
                    ino: 2,
                    mode: 0o100644,
                    size: 5,
                    ..FsStat::default()
                })),
            },
            VfsReply {
                id: 4,
                result: Ok(VfsAnswer::StatVfs(FsStatVfs {
                    bsize: 4096,
                    blocks: 10,
                    ..FsStatVfs::default()
                })),
            },
        ] {
            assert_eq!(VfsReply::try_from(&r.to_message()).unwrap(), r);
        }
    }
}
