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
use crate::proto::wire::{Codec, StatusValue, messages};
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

/// A size in a signed 64-bit slot; negative is `EINVAL`.
struct NonNeg;

impl Codec<u64, I64> for NonNeg {
    fn enc(v: u64) -> I64 {
        I64::new(v as i64)
    }
    fn dec(w: I64) -> Result<u64, Errno> {
        u64::try_from(w.get()).map_err(|_| Errno::EINVAL)
    }
}

/// A select timeout: bit 0 of `flags` says there is one, (seconds,
/// microseconds) in `off` and `fd2`. Out-of-range microseconds stay out of
/// range (-1, `EINVAL` at VFS).
struct Timeout;

impl Codec<Option<(i64, i64)>, (U32, I64, I32)> for Timeout {
    fn enc(v: Option<(i64, i64)>) -> (U32, I64, I32) {
        match v {
            None => (U32::new(0), I64::new(0), I32::new(0)),
            Some((sec, usec)) => (
                U32::new(1),
                I64::new(sec),
                I32::new(i32::try_from(usec).unwrap_or(-1)),
            ),
        }
    }
    fn dec((flags, sec, usec): (U32, I64, I32)) -> Result<Option<(i64, i64)>, Errno> {
        Ok((flags.get() & 1 != 0).then(|| (sec.get(), i64::from(usec.get()))))
    }
}

messages! {
    /// A POSIX file call.
    #[allow(missing_docs)] // field names are the POSIX argument names
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum VfsCall in CallP, unknown ENOSYS {
        /// open(path, flags, mode) -> fd.
        Open = OPEN {
            id: u64 => id,
            path: Buf => (grant, len),
            flags: u32 => flags,
            mode: u16 => mode,
        },
        /// close(fd) -> 0.
        Close = CLOSE {
            id: u64 => id,
            fd: i32 => fd,
        },
        /// read(fd, buf) -> bytes.
        Read = READ {
            id: u64 => id,
            fd: i32 => fd,
            buf: Buf => (grant, len),
        },
        /// write(fd, buf) -> bytes.
        Write = WRITE {
            id: u64 => id,
            fd: i32 => fd,
            buf: Buf => (grant, len),
        },
        /// lseek(fd, off, whence) -> new offset.
        Lseek = LSEEK {
            id: u64 => id,
            fd: i32 => fd,
            off: i64 => off,
            whence: u32 => flags,
        },
        /// dup(fd) -> new fd.
        Dup = DUP {
            id: u64 => id,
            fd: i32 => fd,
        },
        /// dup2(fd, fd2) -> fd2.
        Dup2 = DUP2 {
            id: u64 => id,
            fd: i32 => fd,
            fd2: i32 => fd2,
        },
        /// stat(path) -> stat.
        Stat = STAT {
            id: u64 => id,
            path: Buf => (grant, len),
        },
        /// fstat(fd) -> stat.
        Fstat = FSTAT {
            id: u64 => id,
            fd: i32 => fd,
        },
        /// lstat(path) -> stat.
        Lstat = LSTAT {
            id: u64 => id,
            path: Buf => (grant, len),
        },
        /// mkdir(path, mode) -> 0.
        Mkdir = MKDIR {
            id: u64 => id,
            path: Buf => (grant, len),
            mode: u16 => mode,
        },
        /// rmdir(path) -> 0.
        Rmdir = RMDIR {
            id: u64 => id,
            path: Buf => (grant, len),
        },
        /// unlink(path) -> 0.
        Unlink = UNLINK {
            id: u64 => id,
            path: Buf => (grant, len),
        },
        /// link(old, new) -> 0.
        Link = LINK {
            id: u64 => id,
            old: Buf => (grant, len),
            new: Buf => (grant2, len2),
        },
        /// rename(old, new) -> 0.
        Rename = RENAME {
            id: u64 => id,
            old: Buf => (grant, len),
            new: Buf => (grant2, len2),
        },
        /// symlink(target, path) -> 0.
        Symlink = SYMLINK {
            id: u64 => id,
            target: Buf => (grant, len),
            path: Buf => (grant2, len2),
        },
        /// readlink(path, buf) -> bytes.
        Readlink = READLINK {
            id: u64 => id,
            path: Buf => (grant, len),
            buf: Buf => (grant2, len2),
        },
        /// chmod(path, mode) -> 0.
        Chmod = CHMOD {
            id: u64 => id,
            path: Buf => (grant, len),
            mode: u16 => mode,
        },
        /// chown(path, uid, gid) -> 0.
        Chown = CHOWN {
            id: u64 => id,
            path: Buf => (grant, len),
            uid: u16 => uid,
            gid: u16 => gid,
        },
        /// utimes(path, atime, mtime) -> 0.
        Utimes = UTIMES {
            id: u64 => id,
            path: Buf => (grant, len),
            atime: u32 => flags,
            mtime: u32 => mode,
        },
        /// getdents(fd, buf) -> bytes (0 at the end).
        Getdents = GETDENTS {
            id: u64 => id,
            fd: i32 => fd,
            buf: Buf => (grant, len),
        },
        /// truncate(path, size) -> 0.
        Truncate = TRUNCATE {
            id: u64 => id,
            path: Buf => (grant, len),
            size: u64 => off via NonNeg,
        },
        /// ftruncate(fd, size) -> 0.
        Ftruncate = FTRUNCATE {
            id: u64 => id,
            fd: i32 => fd,
            size: u64 => off via NonNeg,
        },
        /// fsync(fd) -> 0.
        Fsync = FSYNC {
            id: u64 => id,
            fd: i32 => fd,
        },
        /// sync() -> 0.
        Sync = SYNC {
            id: u64 => id,
        },
        /// statvfs(path) -> statvfs.
        Statvfs = STATVFS {
            id: u64 => id,
            path: Buf => (grant, len),
        },
        /// mknod(path, mode, dev) -> 0.
        Mknod = MKNOD {
            id: u64 => id,
            path: Buf => (grant, len),
            mode: u16 => mode,
            rdev: u32 => flags,
        },
        /// pipe() -> read fd | write fd << 32 (see [`split_pipe_fds`]).
        Pipe = PIPE {
            id: u64 => id,
        },
        /// fcntl(fd, cmd, arg) -> per command ([`fcntl`]).
        Fcntl = FCNTL {
            id: u64 => id,
            fd: i32 => fd,
            cmd: u32 => flags,
            arg: i64 => off,
        },
        /// select(nfds, sets, timeout) -> ready (fd, set) pairs; `sets` is a
        /// read/write grant of [`SELECT_SETS_LEN`] bytes ([`encode_sets`]),
        /// updated in place; `timeout` = (seconds, microseconds), `None` waits
        /// for ever.
        Select = SELECT {
            id: u64 => id,
            nfds: i32 => fd,
            sets: Buf => (grant, len),
            timeout: Option<(i64, i64)> => (flags, off, fd2) via Timeout,
        },
        /// mount(path, label) -> 0: mount the file server published under
        /// `label` (service label) on directory `path`.
        Mount = MOUNT {
            id: u64 => id,
            path: Buf => (grant, len),
            label: Buf => (grant2, len2),
        },
        /// umount(path) -> 0: `path` is the root of a mounted file system.
        Umount = UMOUNT {
            id: u64 => id,
            path: Buf => (grant, len),
        },
        /// chdir(path) -> 0: relative paths resolve from there.
        Chdir = CHDIR {
            id: u64 => id,
            path: Buf => (grant, len),
        },
        /// fchdir(fd) -> 0.
        Fchdir = FCHDIR {
            id: u64 => id,
            fd: i32 => fd,
        },
        /// umask(mask) -> the previous mask (permission bits only).
        Umask = UMASK {
            id: u64 => id,
            mask: u16 => mode,
        },
        /// chroot(path) -> 0 (effective uid 0 only): absolute paths, absolute
        /// symlinks and `..` resolve within `path` from then on.
        Chroot = CHROOT {
            id: u64 => id,
            path: Buf => (grant, len),
        },
        /// ioctl(fd, req, buf) -> the driver's result (0 for most requests):
        /// `req` is a device request (for terminals [`crate::proto::tty`]
        /// codes); `grant` (`len` bytes; 0 for none) carries its argument in
        /// and its result out: VFS passes it on readable for a request
        /// [`crate::proto::tty::ioctl_dir`] calls `In`, writable for `Out`,
        /// both for a request it does not list. Character devices only
        /// (`ENOTTY` for anything else).
        Ioctl = IOCTL {
            id: u64 => id,
            fd: i32 => fd,
            req: u32 => flags,
            grant: GrantId => grant,
            len: u32 => len,
        },
    }
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

    /// Whether `m` carries a VFS call number.
    pub fn is_vfs_call(m: &Message) -> bool {
        (OPEN..=IOCTL).contains(&m.mtype())
    }
}

messages! {
    /// A call of PM (the process manager) telling VFS about processes. VFS
    /// accepts these only from the process DS names `pm` (others: `EPERM`).
    /// Answers are [`VfsReply`]s: [`VfsAnswer::Value`], except `ExecCheck`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum VfsPmCall in PmCallP, unknown ENOSYS {
        /// `child` was forked from `parent`: it gets a copy of the parent's
        /// descriptor table (sharing the open files and their positions), its
        /// working and root directories, umask and credentials. -> 0.
        Fork = PM_FORK {
            /// Request id.
            id: u64 => id,
            /// The forking process.
            parent: Endpoint => ep,
            /// The new process.
            child: Endpoint => ep2,
        },
        /// `ep` exited: every descriptor is closed, a call it had in progress
        /// is dropped without an answer, and VFS forgets it. -> 0 (after the
        /// closes).
        Exit = PM_EXIT {
            /// Request id.
            id: u64 => id,
            /// The process.
            ep: Endpoint => ep,
        },
        /// May `ep` execute the file open on its descriptor `fd`? It must be
        /// a regular file (`EACCES`) with an x bit for `ep`'s effective ids
        /// (root: any x bit; `EACCES`). -> [`VfsAnswer::Stat`] of the file
        /// (PM applies its set-uid / set-gid bits and owner).
        ExecCheck = PM_EXEC_CHECK {
            /// Request id.
            id: u64 => id,
            /// The process.
            ep: Endpoint => ep,
            /// Its descriptor of the program file.
            fd: i32 => fd,
        },
        /// `ep` now runs a new image: its close-on-exec descriptors are closed.
        /// -> 0 (after the closes).
        ExecDone = PM_EXEC_DONE {
            /// Request id.
            id: u64 => id,
            /// The process.
            ep: Endpoint => ep,
        },
        /// `ep`'s real and effective ids (permission checks use the effective
        /// ones); ids above 65535 are `EINVAL`. -> 0.
        SetCred = PM_SETCRED {
            /// Request id.
            id: u64 => id,
            /// The process.
            ep: Endpoint => ep,
            /// Real user id.
            uid: u32 => uid,
            /// Real group id.
            gid: u32 => gid,
            /// Effective user id.
            euid: u32 => euid,
            /// Effective group id.
            egid: u32 => egid,
        },
        /// A signal for `ep`: a call of it suspended in VFS (pipe or FIFO read,
        /// write or open, select, device read or write, ...) is answered
        /// `EINTR` before this answer. -> 1 if there was one, 0 if not.
        Unpause = PM_UNPAUSE {
            /// Request id.
            id: u64 => id,
            /// The process.
            ep: Endpoint => ep,
        },
        /// `ep` became a session leader (a successful setsid): it loses its
        /// controlling terminal; the next terminal it opens without
        /// `O_NOCTTY` becomes its new one. -> 0.
        SetSid = PM_SETSID {
            /// Request id.
            id: u64 => id,
            /// The process.
            ep: Endpoint => ep,
        },
    }
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

    /// Whether `m` carries a PM -> VFS call number.
    pub fn is_pm_call(m: &Message) -> bool {
        (PM_FORK..=PM_SETSID).contains(&m.mtype())
    }
}

messages! {
    /// A call of VM (the memory manager) asking VFS for file bytes to map
    /// (MINIX's `VMVFSREQ_FDIO`). VFS accepts these only from the process DS
    /// names `vm` (others: `EPERM`). VM sends them as asynchronous requests
    /// and answers its own caller when VFS has answered (neither blocks on the
    /// other). Answers are [`VfsReply`]s with [`VfsAnswer::Value`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum VfsVmCall in VmCallP, unknown ENOSYS {
        /// Read up to `buf.len` bytes from byte `pos` of the block device open
        /// on `ep`'s descriptor `fd` into `buf` (a grant VM made to VFS,
        /// passed on to the file server): the same path as a read(2) of the
        /// device (the file server's `bio`, so served from its cache), without
        /// moving the descriptor's offset. -> the bytes read: `min(size - pos,
        /// len)`, 0 at or after the end of the device. `EBADF` if `fd` is not
        /// open, `EACCES` if it is open write-only, `ENODEV` if it is not a
        /// block device.
        PeekDev = VM_PEEK_DEV {
            /// Request id.
            id: u64 => id,
            /// The process whose descriptor it is (VM's caller).
            ep: Endpoint => ep,
            /// Its descriptor.
            fd: i32 => fd,
            /// Device offset.
            pos: u64 => pos,
            /// VM's buffer (writable by VFS and the file server).
            buf: Buf => (grant, len),
        },
    }
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

    /// Whether `m` carries a VM -> VFS call number.
    pub fn is_vm_call(m: &Message) -> bool {
        m.mtype() == VM_PEEK_DEV
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

messages! {
    /// The wire form of [`VfsReply`]: a value (or error), or a structure.
    #[derive(Clone, Copy)]
    enum Rep in ValueP, unknown EBADCALL {
        Value = R_VALUE {
            id: u64 => id,
            result: Result<i64, Errno> => (status, value) via StatusValue,
        },
        Stat = R_STAT [StatP] {
            id: u64 => id,
            s: FsStat => (ino, mode, nlinks, uid, gid, size, atime, mtime, ctime, rdev, blksize),
        },
        StatVfs = R_STATVFS [StatVfsP] {
            id: u64 => id,
            s: FsStatVfs => (bsize, namemax, blocks, bfree, files, ffree),
        },
    }
}

impl VfsReply {
    /// Encode.
    pub fn to_message(&self) -> Message {
        let id = self.id;
        match self.result {
            Err(e) => Rep::Value { id, result: Err(e) },
            Ok(VfsAnswer::Value(v)) => Rep::Value { id, result: Ok(v) },
            Ok(VfsAnswer::Stat(s)) => Rep::Stat { id, s },
            Ok(VfsAnswer::StatVfs(s)) => Rep::StatVfs { id, s },
        }
        .to_message()
    }
}

impl TryFrom<&Message> for VfsReply {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        Ok(match Rep::try_from(m)? {
            Rep::Value { id, result } => VfsReply {
                id,
                result: result.map(VfsAnswer::Value),
            },
            Rep::Stat { id, s } => VfsReply {
                id,
                result: Ok(VfsAnswer::Stat(s)),
            },
            Rep::StatVfs { id, s } => VfsReply {
                id,
                result: Ok(VfsAnswer::StatVfs(s)),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::hex;
    use alloc::string::String;
    use alloc::vec::Vec;

    const GOLDEN: &[&str] = &[
        "a00:0100000000000000000000000000000001000000050000000000000000000000000000000000000002020000a401",
        "a01:020000000000000003",
        "a02:030000000000000003000000000000000200000064",
        "a03:040000000000000003000000000000000200000064",
        "a04:0500000000000000030000000000000000000000000000000000000000000000fbffffffffffffff02",
        "a05:060000000000000003",
        "a06:07000000000000000300000009",
        "a07:080000000000000000000000000000000100000002",
        "a08:090000000000000001",
        "a09:0a0000000000000000000000000000000100000002",
        "a0a:0b00000000000000000000000000000001000000020000000000000000000000000000000000000000000000ed01",
        "a0b:0c0000000000000000000000000000000100000002",
        "a0c:0d0000000000000000000000000000000100000002",
        "a0d:0e00000000000000000000000000000001000000020000000300000004",
        "a0e:0f00000000000000000000000000000001000000020000000300000004",
        "a0f:1000000000000000000000000000000001000000020000000300000004",
        "a10:1100000000000000000000000000000001000000020000000300000004",
        "a11:12000000000000000000000000000000010000000200000000000000000000000000000000000000000000008001",
        "a12:130000000000000000000000000000000100000002000000000000000000000000000000000000000000000000000000050006",
        "a13:140000000000000000000000000000000100000002000000000000000000000000000000000000000700000008",
        "a14:15000000000000000400000000000000010000000010",
        "a15:16000000000000000000000000000000010000000200000000000000000000000000000002",
        "a16:17000000000000000400000000000000000000000000000000000000000000000a",
        "a17:180000000000000004",
        "a18:19",
        "a19:1a0000000000000000000000000000000100000001",
        "a1a:1b000000000000000000000000000000010000000200000000000000000000000000000000000000010300008061",
        "a1b:1c",
        "a1d:1e00000000000000050000003f420f0001000000180000000000000000000000020000000000000001",
        "a1e:2000000000000000000000000000000001000000040000000200000004",
        "a1f:210000000000000000000000000000000100000004",
        "a20:220000000000000000000000000000000100000004",
        "a21:230000000000000007",
        "a22:240000000000000000000000000000000000000000000000000000000000000000000000000000000000000017",
        "a23:250000000000000000000000000000000400000009",
        "a1d:1f0000000000000001000000000000000100000018",
        "a1c:1d00000000000000030000000000000000000000000000000000000000000000feffffffffffffff04",
        "a24:260000000000000000000000000000000b0000002c0000000000000000000000000000000000000002",
        "a40:010000000000000020000100310002",
        "a41:0200000000000000200001",
        "a42:03000000000000004000000000000000ffffffff",
        "a43:040000000000000041",
        "a44:050000000000000042000000000000000000000001000000020000000000010004",
        "a45:ffffffffffffffff43",
        "a46:060000000000000044",
        "a60:070000000000000044000300050000000030000000000000090000000050",
        "a80:0100000000000000000000000000000000fdffff",
        "a80:0200000000000000f7ffffff",
        "a81:030000000000000002000000a48100000000000005",
        "a82:040000000000000000100000000000000a",
    ];

    fn b(g: u32, l: u32) -> Buf {
        Buf {
            grant: GrantId(g),
            len: l,
        }
    }

    /// One instance of each call: the round trip and the golden wire
    /// bytes use the same list.
    fn sample_calls() -> Vec<VfsCall> {
        use VfsCall::*;
        alloc::vec![
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
        ]
    }

    #[test]
    fn calls_roundtrip() {
        let calls = sample_calls();
        for c in calls {
            let m = c.to_message();
            assert!(VfsCall::is_vfs_call(&m));
            assert_eq!(VfsCall::try_from(&m).unwrap(), c);
        }
        assert_eq!(VfsCall::try_from(&Message::new(0xaff)), Err(Errno::ENOSYS));
        // A umask wider than a mode is refused, not truncated.
        let mut m = VfsCall::Umask { id: 1, mask: 0 }.to_message();
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

    /// The wire bytes of one instance of each message, fixed from the
    /// hand-written encoder this module had before it was declared with
    /// `messages!`.
    #[test]
    fn golden_wire_bytes() {
        let calls = sample_calls();
        let pm_calls = {
            use VfsPmCall::*;
            let e = |n: u32| Endpoint(n);
            [
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
            ]
        };
        let vm_call = VfsVmCall::PeekDev {
            id: 7,
            ep: Endpoint(0x3_0044),
            fd: 5,
            pos: 3 * 4096,
            buf: Buf {
                grant: GrantId(9),
                len: 20_480,
            },
        };
        let replies = [
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
        ];
        let got: Vec<String> = calls
            .iter()
            .map(|c| hex(&c.to_message()))
            .chain(pm_calls.iter().map(|c| hex(&c.to_message())))
            .chain([hex(&vm_call.to_message())])
            .chain(replies.iter().map(|r| hex(&r.to_message())))
            .collect();
        assert_eq!(got, GOLDEN);
    }
}
