//! `mfs mount IMAGE DIR`: an MFS image as a live Linux file system through
//! FUSE (the `fuser` crate, pure Rust, mounting with the mount system call
//! as root and through `fusermount3` otherwise).
//!
//! Two layers:
//!
//! - [`Ops`]: every operation the kernel asks for, in POSIX terms (host
//!   owner IDs, Linux errno values, [`fuser::FileAttr`]s), over the MFS
//!   core ([`mfs::fs::FileSystem`] on libminixfs's cache). It knows nothing
//!   of the FUSE channel, so unit tests call it directly.
//! - [`MfsFuse`]: `fuser::Filesystem`, a thin adapter. The core is
//!   single-threaded (every operation, reads included, takes `&mut` for the
//!   block cache), so it sits behind one lock ([`SharedCore`]) and the
//!   FUSE thread runs each request on it directly: no hand-over to another
//!   thread, whose wake-up cost as much as the operation itself.
//!
//! One FUSE thread by default reads requests and polls for them during
//! a burst ([`super::poll`]). With `-o threads=N` more threads read, each
//! with its own cloned /dev/fuse descriptor, and take turns on the core;
//! replies go out after the lock is released. Measured in interleaved
//! runs with the fio jobs of `scripts/bench-fuse.sh` (1 GiB file, 2-CPU
//! guest) and a loop creating 10,000 files:
//!
//! | | 1 thread, polling | 2 threads, polling | 2 threads, `nopoll` |
//! |---|---|---|---|
//! | cold sequential read | 947-955 MiB/s | 728-735 MiB/s | 675-794 MiB/s |
//! | 4 KiB random read | 31.5k IOPS | 32.4k IOPS | 20-21k IOPS |
//! | creates | 12.9-14.3k/s | 14.7k/s | 6.6-7.5k/s |
//!
//! Without polling two threads serve random reads about twice as fast as
//! one, so `nopoll` defaults to two.
//!
//! Permission checks are the kernel's (`default_permissions`: mode bits,
//! owners, the sticky bit, who may chown or set times), against the owners
//! [`Ops`] reports. The core never updates access times (a `noatime`
//! mount). MINIX keeps whole seconds.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, FopenFlags, Generation, INodeNo, OpenFlags,
    RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use mfs::errno::Errno as MfsErrno;
use mfs::format::mode;
use mfs::fs::{Stat, StatVfs};

use super::Fs;
use super::poll::Poller;

/// How long the kernel may keep names and attributes: the image changes
/// only through this mount.
const TTL: Duration = Duration::from_secs(1);

/// The set-group-ID bit.
const S_ISGID: u16 = 0o2000;

/// Directory entries handed to the kernel per readdir call at most (it
/// stops earlier when its buffer is full).
const READDIR_BATCH: usize = 256;

/// A core error as the Linux errno of the same name.
pub fn errno(e: MfsErrno) -> Errno {
    Errno::from_i32(match e {
        MfsErrno::EPERM => libc::EPERM,
        MfsErrno::ENOENT => libc::ENOENT,
        MfsErrno::EIO => libc::EIO,
        MfsErrno::ENXIO => libc::ENXIO,
        MfsErrno::ENOMEM => libc::ENOMEM,
        MfsErrno::EBUSY => libc::EBUSY,
        MfsErrno::EEXIST => libc::EEXIST,
        MfsErrno::ENOTDIR => libc::ENOTDIR,
        MfsErrno::EISDIR => libc::EISDIR,
        MfsErrno::EINVAL => libc::EINVAL,
        MfsErrno::EFBIG => libc::EFBIG,
        MfsErrno::ENOSPC => libc::ENOSPC,
        MfsErrno::EROFS => libc::EROFS,
        MfsErrno::EMLINK => libc::EMLINK,
        MfsErrno::ELOOP => libc::ELOOP,
        MfsErrno::ENAMETOOLONG => libc::ENAMETOOLONG,
        MfsErrno::ENOTEMPTY => libc::ENOTEMPTY,
    })
}

/// The result of an operation: a Linux errno on failure.
pub type OpResult<T> = Result<T, Errno>;

/// Owner mapping between the image and the host (`-o uid=N,gid=M`). With
/// `uid=N` the image's uid 0 (MINIX images are mostly root's) shows as host
/// uid N, and what host uid N creates or chowns is stored as 0; image uid N
/// and host uid 0 trade places, so the mapping stays one to one. Likewise
/// for groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdMap {
    /// Host uid standing for the image's uid 0.
    pub uid: Option<u32>,
    /// Host gid standing for the image's gid 0.
    pub gid: Option<u32>,
}

fn swap(map: Option<u32>, v: u32) -> u32 {
    match map {
        Some(n) if v == 0 => n,
        Some(n) if v == n => 0,
        _ => v,
    }
}

impl IdMap {
    /// Host uid of image uid `u`.
    pub fn host_uid(&self, u: u16) -> u32 {
        swap(self.uid, u32::from(u))
    }
    /// Host gid of image gid `g`.
    pub fn host_gid(&self, g: u16) -> u32 {
        swap(self.gid, u32::from(g))
    }
    /// Image uid of host uid `u` (EINVAL if MINIX's 16 bits cannot hold it).
    pub fn image_uid(&self, u: u32) -> OpResult<u16> {
        u16::try_from(swap(self.uid, u)).map_err(|_| Errno::EINVAL)
    }
    /// Image gid of host gid `g` (EINVAL if it does not fit).
    pub fn image_gid(&self, g: u32) -> OpResult<u16> {
        u16::try_from(swap(self.gid, g)).map_err(|_| Errno::EINVAL)
    }
}

/// Who is asking (host IDs, as the kernel passes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// User ID.
    pub uid: u32,
    /// Group ID.
    pub gid: u32,
}

/// What `setattr` changes.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetAttr {
    /// New permission bits (the type bits are ignored).
    pub mode: Option<u32>,
    /// New owner (host uid).
    pub uid: Option<u32>,
    /// New group (host gid).
    pub gid: Option<u32>,
    /// New size.
    pub size: Option<u64>,
    /// New access time.
    pub atime: Option<TimeOrNow>,
    /// New modification time.
    pub mtime: Option<TimeOrNow>,
}

/// One directory entry for readdir: the offset is where the next call
/// starts (a byte position in the directory, stable while it is open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Inode number.
    pub ino: u32,
    /// Offset of the entry after this one.
    pub next: u64,
    /// File type.
    pub kind: FileType,
    /// Name.
    pub name: Vec<u8>,
}

/// Seconds since the epoch as MINIX stores them.
fn secs(t: SystemTime) -> u32 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

fn time_of(s: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::from(s))
}

/// The FUSE file type of a MINIX mode.
pub fn kind_of(m: u16) -> FileType {
    match m & mode::S_IFMT {
        mode::S_IFDIR => FileType::Directory,
        mode::S_IFLNK => FileType::Symlink,
        mode::S_IFCHR => FileType::CharDevice,
        mode::S_IFBLK => FileType::BlockDevice,
        mode::S_IFIFO => FileType::NamedPipe,
        mode::S_IFSOCK => FileType::Socket,
        _ => FileType::RegularFile,
    }
}

/// Whether the image's device flushes reach the disk (`fdatasync`): always
/// with barriers (the default); without them (`-o nobarrier`) only while
/// [`Ops`] makes something durable (fsync, unmount).
pub type FlushGate = std::rc::Rc<std::cell::Cell<bool>>;

/// The operation layer: the MFS core answering in POSIX terms.
pub struct Ops {
    fs: Fs,
    ids: IdMap,
    clock: fn() -> u32,
    gate: Option<FlushGate>,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops").field("ids", &self.ids).finish()
    }
}

impl Ops {
    /// Serve `fs` with owner mapping `ids`.
    pub fn new(fs: Fs, ids: IdMap) -> Ops {
        Ops {
            fs,
            ids,
            clock: super::now,
            gate: None,
        }
    }

    /// Like [`Ops::new`] on a device whose flushes pass `gate`: opened for
    /// fsync, syncs and the final unmount.
    pub fn with_gate(fs: Fs, ids: IdMap, gate: FlushGate) -> Ops {
        let mut o = Ops::new(fs, ids);
        o.gate = Some(gate);
        o
    }

    /// Runs `f` with device flushes reaching the disk.
    fn durably<T>(&mut self, f: impl FnOnce(&mut Fs) -> T) -> T {
        let was = self.gate.as_ref().map(|g| g.replace(true));
        let r = f(&mut self.fs);
        if let (Some(g), Some(w)) = (&self.gate, was) {
            g.set(w);
        }
        r
    }

    /// The core (for unmounting and for tests).
    pub fn fs(&mut self) -> &mut Fs {
        &mut self.fs
    }

    /// Gives the core back (for unmounting: device flushes reach the
    /// disk from now on).
    pub fn into_fs(self) -> Fs {
        if let Some(g) = &self.gate {
            g.set(true);
        }
        self.fs
    }

    fn now(&self) -> u32 {
        (self.clock)()
    }

    fn ino(ino: u64) -> OpResult<u32> {
        u32::try_from(ino).map_err(|_| Errno::ENOENT)
    }

    fn attr_of(&self, st: &Stat) -> FileAttr {
        let t = |s| time_of(s);
        FileAttr {
            ino: INodeNo(u64::from(st.ino)),
            size: u64::from(st.size),
            blocks: u64::from(st.size).div_ceil(u64::from(st.blksize.max(512)))
                * u64::from(st.blksize.max(512) / 512),
            atime: t(st.atime),
            mtime: t(st.mtime),
            ctime: t(st.ctime),
            crtime: t(st.ctime),
            kind: kind_of(st.mode),
            perm: st.mode & mode::PERM_MASK,
            nlink: u32::from(st.nlinks),
            uid: self.ids.host_uid(st.uid),
            gid: self.ids.host_gid(st.gid),
            rdev: st.rdev,
            blksize: st.blksize,
            flags: 0,
        }
    }

    /// Attributes of `ino`.
    pub fn getattr(&mut self, ino: u64) -> OpResult<FileAttr> {
        let st = self.fs.stat(Self::ino(ino)?).map_err(errno)?;
        Ok(self.attr_of(&st))
    }

    fn dir(&mut self, ino: u64) -> OpResult<u32> {
        let i = Self::ino(ino)?;
        let st = self.fs.stat(i).map_err(errno)?;
        if st.mode & mode::S_IFMT != mode::S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        Ok(i)
    }

    /// Looks `name` up in directory `parent`.
    pub fn lookup(&mut self, parent: u64, name: &[u8]) -> OpResult<FileAttr> {
        let dir = self.dir(parent)?;
        let ino = self.fs.lookup(dir, name).map_err(errno)?;
        self.getattr(u64::from(ino))
    }

    /// Owner and group for a new node in `dir`: the caller's, or the
    /// directory's group when it has the set-group-ID bit (which new
    /// subdirectories inherit: returned as extra mode bits).
    fn new_owner(&mut self, dir: u32, who: Caller, is_dir: bool) -> OpResult<(u16, u16, u16)> {
        let st = self.fs.stat(dir).map_err(errno)?;
        let uid = self.ids.image_uid(who.uid)?;
        if st.mode & S_ISGID != 0 {
            let extra = if is_dir { S_ISGID } else { 0 };
            return Ok((uid, st.gid, extra));
        }
        Ok((uid, self.ids.image_gid(who.gid)?, 0))
    }

    /// Changes what `set` asks for; returns the new attributes.
    pub fn setattr(&mut self, ino: u64, set: &SetAttr) -> OpResult<FileAttr> {
        let i = Self::ino(ino)?;
        let now = self.now();
        if let Some(size) = set.size {
            let st = self.fs.stat(i).map_err(errno)?;
            if u64::from(st.size) != size || st.mode & mode::S_IFMT != mode::S_IFREG {
                self.fs.truncate(i, size, now).map_err(errno)?;
            } else {
                // POSIX: a truncate to the same size still changes the times.
                self.fs.utimes(i, st.atime, now, now).map_err(errno)?;
            }
        }
        if set.uid.is_some() || set.gid.is_some() {
            let st = self.fs.stat(i).map_err(errno)?;
            let uid = match set.uid {
                Some(u) => self.ids.image_uid(u)?,
                None => st.uid,
            };
            let gid = match set.gid {
                Some(g) => self.ids.image_gid(g)?,
                None => st.gid,
            };
            self.fs.chown(i, uid, gid, now).map_err(errno)?;
        }
        if let Some(m) = set.mode {
            self.fs
                .chmod(i, (m as u16) & mode::PERM_MASK, now)
                .map_err(errno)?;
        }
        if set.atime.is_some() || set.mtime.is_some() {
            let st = self.fs.stat(i).map_err(errno)?;
            let pick = |t: Option<TimeOrNow>, old: u32| match t {
                Some(TimeOrNow::Now) => now,
                Some(TimeOrNow::SpecificTime(s)) => secs(s),
                None => old,
            };
            let a = pick(set.atime, st.atime);
            let m = pick(set.mtime, st.mtime);
            self.fs.utimes(i, a, m, now).map_err(errno)?;
        }
        self.getattr(ino)
    }

    /// Target of symbolic link `ino`.
    pub fn readlink(&mut self, ino: u64) -> OpResult<Vec<u8>> {
        self.fs.readlink(Self::ino(ino)?).map_err(errno)
    }

    /// Makes a regular file, FIFO, socket or device node (`mode` carries the
    /// type; `rdev` the device number).
    pub fn mknod(
        &mut self,
        parent: u64,
        name: &[u8],
        mode_bits: u32,
        rdev: u32,
        who: Caller,
    ) -> OpResult<FileAttr> {
        let dir = self.dir(parent)?;
        let (uid, gid, _) = self.new_owner(dir, who, false)?;
        let m = u16::try_from(mode_bits).map_err(|_| Errno::EINVAL)?;
        let now = self.now();
        let kind = m & mode::S_IFMT;
        let ino = if kind == mode::S_IFREG || kind == 0 {
            self.fs
                .create(dir, name, m & mode::PERM_MASK, uid, gid, now)
                .map_err(errno)?
        } else {
            let rdev = if kind == mode::S_IFCHR || kind == mode::S_IFBLK {
                rdev
            } else {
                0
            };
            self.fs
                .mknod(dir, name, m, uid, gid, rdev, now)
                .map_err(errno)?
        };
        self.getattr(u64::from(ino))
    }

    /// Makes directory `name` in `parent`.
    pub fn mkdir(
        &mut self,
        parent: u64,
        name: &[u8],
        perm: u32,
        who: Caller,
    ) -> OpResult<FileAttr> {
        let dir = self.dir(parent)?;
        let (uid, gid, extra) = self.new_owner(dir, who, true)?;
        let now = self.now();
        let ino = self
            .fs
            .mkdir(
                dir,
                name,
                (perm as u16 & mode::PERM_MASK) | extra,
                uid,
                gid,
                now,
            )
            .map_err(errno)?;
        self.getattr(u64::from(ino))
    }

    /// Creates and opens regular file `name` in `parent` (EEXIST if it is
    /// there: the kernel asks only for a name it found missing, or with
    /// O_EXCL).
    pub fn create(
        &mut self,
        parent: u64,
        name: &[u8],
        perm: u32,
        who: Caller,
    ) -> OpResult<FileAttr> {
        let attr = self.mknod(parent, name, u32::from(mode::S_IFREG) | perm, 0, who)?;
        self.open(attr.ino.0)?;
        Ok(attr)
    }

    /// Removes non-directory `name` from `parent`.
    pub fn unlink(&mut self, parent: u64, name: &[u8]) -> OpResult<()> {
        let dir = self.dir(parent)?;
        let now = self.now();
        self.fs.unlink(dir, name, now).map_err(errno)
    }

    /// Removes empty directory `name` from `parent`.
    pub fn rmdir(&mut self, parent: u64, name: &[u8]) -> OpResult<()> {
        let dir = self.dir(parent)?;
        let now = self.now();
        self.fs.rmdir(dir, name, now).map_err(errno)
    }

    /// Makes symbolic link `name` -> `target` in `parent`.
    pub fn symlink(
        &mut self,
        parent: u64,
        name: &[u8],
        target: &[u8],
        who: Caller,
    ) -> OpResult<FileAttr> {
        let dir = self.dir(parent)?;
        let (uid, gid, _) = self.new_owner(dir, who, false)?;
        let now = self.now();
        let ino = self
            .fs
            .symlink(dir, name, target, uid, gid, now)
            .map_err(errno)?;
        self.getattr(u64::from(ino))
    }

    /// Adds hard link `newparent/newname` to `ino`.
    pub fn link(&mut self, ino: u64, newparent: u64, newname: &[u8]) -> OpResult<FileAttr> {
        let dir = self.dir(newparent)?;
        let now = self.now();
        self.fs
            .link(dir, newname, Self::ino(ino)?, now)
            .map_err(errno)?;
        self.getattr(ino)
    }

    /// Renames `parent/name` to `newparent/newname`. RENAME_NOREPLACE is
    /// honoured; RENAME_EXCHANGE and RENAME_WHITEOUT are EINVAL (not
    /// supported, as Linux answers for file systems without them).
    pub fn rename(
        &mut self,
        parent: u64,
        name: &[u8],
        newparent: u64,
        newname: &[u8],
        flags: u32,
    ) -> OpResult<()> {
        let from = self.dir(parent)?;
        let to = self.dir(newparent)?;
        if flags & !libc::RENAME_NOREPLACE != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & libc::RENAME_NOREPLACE != 0 {
            match self.fs.lookup(to, newname) {
                Ok(_) => return Err(Errno::EEXIST),
                Err(MfsErrno::ENOENT) => {}
                Err(e) => return Err(errno(e)),
            }
        }
        let now = self.now();
        self.fs.rename(from, name, to, newname, now).map_err(errno)
    }

    /// Opens `ino`: an open reference keeps it allocated after its last
    /// name goes, until [`Ops::release`].
    pub fn open(&mut self, ino: u64) -> OpResult<()> {
        self.fs.get(Self::ino(ino)?).map_err(errno)
    }

    /// Drops the reference [`Ops::open`] took.
    pub fn release(&mut self, ino: u64) -> OpResult<()> {
        self.fs.put(Self::ino(ino)?).map_err(errno)
    }

    /// Reads up to `size` bytes at `off` (fewer at the end of the file).
    pub fn read(&mut self, ino: u64, off: u64, size: u32) -> OpResult<Vec<u8>> {
        let i = Self::ino(ino)?;
        let mut buf = Vec::with_capacity(size as usize);
        self.fs
            .read_with(i, off, size as usize, |_, piece| {
                buf.extend_from_slice(piece);
                Ok(())
            })
            .map_err(|e| match e {
                MfsErrno::EINVAL => Errno::EISDIR,
                e => errno(e),
            })?;
        Ok(buf)
    }

    /// Writes `data` at `off`; returns the bytes written (ENOSPC when none
    /// fit, EFBIG past MINIX's largest file).
    pub fn write(&mut self, ino: u64, off: u64, data: &[u8]) -> OpResult<u32> {
        let i = Self::ino(ino)?;
        let now = self.now();
        let n = self.fs.write(i, off, data, now).map_err(errno)?;
        if n == 0 && !data.is_empty() {
            return Err(Errno::ENOSPC);
        }
        u32::try_from(n).map_err(|_| Errno::EINVAL)
    }

    /// Makes `ino` durable (its data, its inode and the names leading to it).
    pub fn fsync(&mut self, ino: u64) -> OpResult<()> {
        if self.fs.is_read_only() {
            return Ok(());
        }
        let i = Self::ino(ino)?;
        self.durably(|fs| fs.fsync(i)).map_err(errno)
    }

    /// Writes every dirty block back.
    pub fn sync(&mut self) -> OpResult<()> {
        if self.fs.is_read_only() {
            return Ok(());
        }
        self.durably(|fs| fs.sync()).map_err(errno)
    }

    /// Opens directory `ino` (held like a file, so readdir on a removed
    /// directory ends cleanly).
    pub fn opendir(&mut self, ino: u64) -> OpResult<()> {
        let i = self.dir(ino)?;
        self.fs.get(i).map_err(errno)
    }

    /// Entries of directory `ino` from offset `off` (0 at the start; then
    /// an [`Entry::next`] from an earlier call). Empty at the end.
    pub fn readdir(&mut self, ino: u64, off: u64) -> OpResult<Vec<Entry>> {
        let i = Self::ino(ino)?;
        let st = self.fs.stat(i).map_err(errno)?;
        if st.nlinks == 0 {
            // Removed while open: POSIX readdir finds nothing.
            return Ok(Vec::new());
        }
        let ents = self.fs.getdents(i, off, READDIR_BATCH).map_err(errno)?;
        let mut out = Vec::with_capacity(ents.len());
        for e in ents {
            let kind = kind_of(self.fs.stat(e.ino).map_err(errno)?.mode);
            out.push(Entry {
                ino: e.ino,
                next: e.next_pos,
                kind,
                name: e.name,
            });
        }
        Ok(out)
    }

    /// File-system statistics.
    pub fn statfs(&mut self) -> OpResult<StatVfs> {
        self.fs.statvfs().map_err(errno)
    }

    /// access(2) for `who` with `mask` (R_OK, W_OK, X_OK bits; F_OK is 0):
    /// owner, group, then other bits; root passes except for execute, which
    /// needs some execute bit on a non-directory. EROFS for W_OK on a
    /// read-only mount.
    pub fn access(&mut self, ino: u64, mask: i32, who: Caller) -> OpResult<()> {
        let st = self.fs.stat(Self::ino(ino)?).map_err(errno)?;
        if mask & libc::W_OK != 0 && self.fs.is_read_only() {
            return Err(Errno::EROFS);
        }
        let want = (mask & 7) as u16;
        if want == 0 {
            return Ok(());
        }
        let is_dir = st.mode & mode::S_IFMT == mode::S_IFDIR;
        if who.uid == 0 {
            if want & 1 != 0 && !is_dir && st.mode & 0o111 == 0 {
                return Err(Errno::EACCES);
            }
            return Ok(());
        }
        let bits = if who.uid == self.ids.host_uid(st.uid) {
            (st.mode >> 6) & 7
        } else if who.gid == self.ids.host_gid(st.gid) {
            (st.mode >> 3) & 7
        } else {
            st.mode & 7
        };
        if bits & want == want {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    }
}

/// The operation layer as the FUSE threads share it.
pub struct Core(Ops);

// SAFETY: `Ops` is not `Send` only because the block cache shares its
// buffers through `Rc` and the flush gate is an `Rc` shared by `Ops` and
// its own device. Every one of those `Rc`s is made inside the `Ops` that
// owns it and none leaves it (operations return owned data, and only
// [`MfsFuse::call`] reaches the inside), so moving the whole `Ops` to
// another thread moves every clone along; the `Mutex` in [`SharedCore`]
// lets one thread at a time touch it, ordered by the lock. The core is
// `no_std` code with no thread-local state.
unsafe impl Send for Core {}

/// The core behind its lock: the adapter holds one handle, the mount
/// command keeps another to write the image back when the session is over.
pub type SharedCore = std::sync::Arc<std::sync::Mutex<Option<Core>>>;

/// Puts `ops` behind a lock for [`MfsFuse::new`].
pub fn share(ops: Ops) -> SharedCore {
    std::sync::Arc::new(std::sync::Mutex::new(Some(Core(ops))))
}

/// Takes the core back once the session is over; `None` if an operation
/// panicked inside it (its state is not to be trusted, so nothing is
/// written back and the image stays unclean).
pub fn take(core: &SharedCore) -> Option<Ops> {
    core.lock().ok()?.take().map(|c| c.0)
}

/// `fuser::Filesystem` over [`Ops`] (see the module documentation).
#[derive(Debug)]
pub struct MfsFuse {
    core: SharedCore,
    /// Ask for the kernel's writeback cache (`-o writeback`).
    writeback: bool,
    /// Told of every request once the session has a descriptor to poll
    /// (`-o poll`, see [`super::poll`]).
    poller: Arc<OnceLock<Poller>>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl MfsFuse {
    /// Serves `core` (see [`share`]).
    pub fn new(core: SharedCore) -> MfsFuse {
        MfsFuse {
            core,
            writeback: false,
            poller: Arc::default(),
        }
    }

    /// Where the mount puts its [`Poller`] once the session exists (the
    /// adapter has moved into it by then).
    pub fn poller_slot(&self) -> Arc<OnceLock<Poller>> {
        self.poller.clone()
    }

    /// With `on`, the kernel keeps written pages in its page cache and
    /// sends them later in large writes (FUSE_WRITEBACK_CACHE): write(2)
    /// returns once the page cache has the data, as on a local file
    /// system; the kernel then owns file sizes and modification times
    /// while pages are dirty, and `fsync`, `close` and unmount push them.
    pub fn with_writeback_cache(mut self, on: bool) -> Self {
        self.writeback = on;
        self
    }

    /// Runs one operation on the core, on the calling FUSE thread (no
    /// hand-over: a create's round trips are its latency). EIO once an
    /// operation has panicked (the lock is poisoned then) or after the
    /// core was taken back.
    fn call<T>(&self, f: impl FnOnce(&mut Ops) -> OpResult<T>) -> OpResult<T> {
        if let Some(p) = self.poller.get() {
            p.request();
        }
        let run = std::panic::AssertUnwindSafe(|| {
            let mut core = self.core.lock().ok()?;
            Some(f(&mut core.as_mut()?.0))
        });
        match std::panic::catch_unwind(run) {
            Ok(Some(r)) => r,
            _ => Err(Errno::EIO),
        }
    }
}

fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
    }
}

fn reply_entry(r: OpResult<FileAttr>, reply: ReplyEntry) {
    match r {
        Ok(a) => reply.entry(&TTL, &a, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn reply_empty(r: OpResult<()>, reply: ReplyEmpty) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

fn reply_attr(r: OpResult<FileAttr>, reply: ReplyAttr) {
    match r {
        Ok(a) => reply.attr(&TTL, &a),
        Err(e) => reply.error(e),
    }
}

fn reply_open(r: OpResult<()>, reply: ReplyOpen) {
    match r {
        Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
        Err(e) => reply.error(e),
    }
}

// Replies go out after the core's lock is released.
impl fuser::Filesystem for MfsFuse {
    fn init(&mut self, _req: &Request, config: &mut fuser::KernelConfig) -> std::io::Result<()> {
        // Large requests: fewer round trips for sequential I/O.
        let _ = config.set_max_write(1 << 20);
        let _ = config.set_max_readahead(1 << 20);
        let _ = config.set_time_granularity(Duration::from_secs(1));
        if self.writeback {
            // A kernel without it: plain write-through.
            let _ = config.add_capabilities(fuser::InitFlags::FUSE_WRITEBACK_CACHE);
        }
        Ok(())
    }

    fn destroy(&mut self) {
        let _ = self.call(|ops| ops.sync());
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        reply_entry(
            self.call(|ops| ops.lookup(parent.0, name.as_bytes())),
            reply,
        );
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        reply_attr(self.call(|ops| ops.getattr(ino.0)), reply);
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let set = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
        };
        reply_attr(self.call(|ops| ops.setattr(ino.0, &set)), reply);
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.call(|ops| ops.readlink(ino.0)) {
            Ok(t) => reply.data(&t),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let who = caller(req);
        let r = self.call(|ops| ops.mknod(parent.0, name.as_bytes(), mode, rdev, who));
        reply_entry(r, reply);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let who = caller(req);
        let r = self.call(|ops| ops.mkdir(parent.0, name.as_bytes(), mode, who));
        reply_entry(r, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(
            self.call(|ops| ops.unlink(parent.0, name.as_bytes())),
            reply,
        );
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(self.call(|ops| ops.rmdir(parent.0, name.as_bytes())), reply);
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let who = caller(req);
        let target = target.as_os_str().as_bytes();
        let r = self.call(|ops| ops.symlink(parent.0, link_name.as_bytes(), target, who));
        reply_entry(r, reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let (name, newname, flags) = (name.as_bytes(), newname.as_bytes(), flags.bits());
        let r = self.call(|ops| ops.rename(parent.0, name, newparent.0, newname, flags));
        reply_empty(r, reply);
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let r = self.call(|ops| ops.link(ino.0, newparent.0, newname.as_bytes()));
        reply_entry(r, reply);
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply_open(self.call(|ops| ops.open(ino.0)), reply);
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        match self.call(|ops| ops.read(ino.0, offset, size)) {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.call(|ops| ops.write(ino.0, offset, data)) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        // Writes reach the core as they happen; close(2) has nothing to
        // push further (fsync makes them durable). ENOSYS tells the kernel
        // so once: it sends no more FLUSH, a round trip saved per close.
        reply.error(Errno::ENOSYS);
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(self.call(|ops| ops.release(ino.0)), reply);
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(self.call(|ops| ops.fsync(ino.0)), reply);
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply_open(self.call(|ops| ops.opendir(ino.0)), reply);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        match self.call(|ops| ops.readdir(ino.0, offset)) {
            Ok(ents) => {
                for e in ents {
                    if reply.add(
                        INodeNo(u64::from(e.ino)),
                        e.next,
                        e.kind,
                        OsStr::from_bytes(&e.name),
                    ) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        reply_empty(self.call(|ops| ops.release(ino.0)), reply);
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(self.call(|ops| ops.sync()), reply);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.call(|ops| ops.statfs()) {
            Ok(s) => reply.statfs(
                s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namemax, s.frsize,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        let who = caller(req);
        let mask = mask.bits();
        reply_empty(self.call(|ops| ops.access(ino.0, mask, who)), reply);
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let who = caller(req);
        match self.call(|ops| ops.create(parent.0, name.as_bytes(), mode, who)) {
            Ok(a) => reply.created(&TTL, &a, Generation(0), FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mfstool::{Contents, make_image, mount};
    use mfs::format::Version;
    use mfs::mkfs::MkfsOptions;

    const ROOT: u64 = 1;
    const ME: Caller = Caller { uid: 0, gid: 0 };

    fn image(dir: &Path, v: Version, bs: u32, blocks: u64) -> std::path::PathBuf {
        let img = dir.join(format!("v{}-{bs}.img", v.number()));
        let mut o = MkfsOptions::for_version(v, blocks);
        o.block_size = bs;
        make_image(&img, &o, Contents::Empty).expect("mkfs");
        img
    }

    fn ops_on(img: &Path, ids: IdMap) -> Ops {
        Ops::new(mount(img, true).expect("mount"), ids)
    }

    fn clean(img: &Path, ops: Ops) {
        ops.into_fs().unmount().expect("unmount");
        let mut dev = crate::mfstool::HostFile::open(img, false).unwrap();
        let r = mfs::fsck::fsck(&mut dev, mfs::fsck::Options::default());
        assert_eq!(r.exit_code(), 0, "{:?}", r.findings);
    }

    /// Every operation once, on every version and block size.
    #[test]
    fn every_operation_on_every_format() {
        let dir = tempfile::tempdir().unwrap();
        for (v, bs) in [
            (Version::V1, 1024),
            (Version::V2, 1024),
            (Version::V3, 1024),
            (Version::V3, 4096),
            (Version::V3, 8192),
            (Version::V3, 32768),
        ] {
            let img = image(dir.path(), v, bs, 4 << 20 >> bs.trailing_zeros());
            let mut o = ops_on(&img, IdMap::default());
            let d = o.mkdir(ROOT, b"d", 0o755, ME).unwrap();
            assert_eq!(d.kind, FileType::Directory);
            assert_eq!(d.nlink, 2);
            assert_eq!(o.getattr(ROOT).unwrap().nlink, 3);
            let f = o.create(d.ino.0, b"f", 0o644, ME).unwrap();
            let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
            assert_eq!(o.write(f.ino.0, 0, &data).unwrap(), data.len() as u32);
            assert_eq!(o.read(f.ino.0, 0, 200_000).unwrap(), data);
            assert_eq!(o.read(f.ino.0, 99_990, 100).unwrap(), &data[99_990..]);
            o.fsync(f.ino.0).unwrap();
            o.release(f.ino.0).unwrap();
            assert_eq!(o.lookup(d.ino.0, b"f").unwrap().size, 100_000);
            // setattr: truncate, chmod, chown, times.
            let set = SetAttr {
                size: Some(10),
                mode: Some(0o600),
                uid: Some(7),
                gid: Some(3),
                atime: Some(TimeOrNow::SpecificTime(time_of(1000))),
                mtime: Some(TimeOrNow::SpecificTime(time_of(2000))),
            };
            let a = o.setattr(f.ino.0, &set).unwrap();
            assert_eq!((a.size, a.perm, a.uid, a.gid), (10, 0o600, 7, 3));
            assert_eq!(a.mtime, time_of(2000));
            // Special files, symlinks, hard links.
            let p = o
                .mknod(ROOT, b"fifo", u32::from(mode::S_IFIFO) | 0o644, 0, ME)
                .unwrap();
            assert_eq!(p.kind, FileType::NamedPipe);
            let c = o
                .mknod(ROOT, b"null", u32::from(mode::S_IFCHR) | 0o666, 0x0103, ME)
                .unwrap();
            assert_eq!((c.kind, c.rdev), (FileType::CharDevice, 0x0103));
            let s = o.symlink(ROOT, b"ln", b"d/f", ME).unwrap();
            assert_eq!(o.readlink(s.ino.0).unwrap(), b"d/f");
            let l = o.link(f.ino.0, ROOT, b"hard").unwrap();
            assert_eq!(l.nlink, 2);
            // rename across directories, then over a file.
            o.rename(ROOT, b"hard", d.ino.0, b"moved", 0).unwrap();
            assert_eq!(
                o.rename(ROOT, b"fifo", d.ino.0, b"f", libc::RENAME_NOREPLACE),
                Err(Errno::EEXIST)
            );
            o.rename(ROOT, b"fifo", d.ino.0, b"f", 0).unwrap();
            assert_eq!(o.getattr(f.ino.0).unwrap().nlink, 1);
            // readdir with offsets: resuming after any entry gives the rest.
            let all = o.readdir(d.ino.0, 0).unwrap();
            let names: Vec<&[u8]> = all.iter().map(|e| e.name.as_slice()).collect();
            assert_eq!(names, [&b"."[..], b"..", b"f", b"moved"]);
            let rest = o.readdir(d.ino.0, all[1].next).unwrap();
            assert_eq!(rest, all[2..].to_vec());
            assert!(o.readdir(d.ino.0, all[3].next).unwrap().is_empty());
            // unlink, rmdir, statfs, access.
            assert_eq!(o.rmdir(ROOT, b"d"), Err(Errno::ENOTEMPTY));
            o.unlink(d.ino.0, b"f").unwrap();
            o.unlink(d.ino.0, b"moved").unwrap();
            o.rmdir(ROOT, b"d").unwrap();
            assert_eq!(o.lookup(ROOT, b"d").unwrap_err(), Errno::ENOENT);
            let st = o.statfs().unwrap();
            assert_eq!(st.bsize, bs);
            o.access(ROOT, libc::R_OK | libc::W_OK | libc::X_OK, ME)
                .unwrap();
            clean(&img, o);
        }
    }

    #[test]
    fn errors_are_linux_errno_values() {
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path(), Version::V2, 1024, 2048);
        let mut o = ops_on(&img, IdMap::default());
        let long = vec![b'n'; 31];
        assert_eq!(
            o.create(ROOT, &long, 0o644, ME).unwrap_err(),
            Errno::from_i32(libc::ENAMETOOLONG)
        );
        assert_eq!(
            o.lookup(ROOT, &long).unwrap_err(),
            Errno::from_i32(libc::ENAMETOOLONG)
        );
        let d = o.mkdir(ROOT, b"d", 0o755, ME).unwrap();
        o.mkdir(d.ino.0, b"sub", 0o755, ME).unwrap();
        let f0 = o.create(d.ino.0, b"f", 0o644, ME).unwrap().ino.0;
        o.release(f0).unwrap();
        assert_eq!(
            o.rmdir(ROOT, b"d").unwrap_err(),
            Errno::from_i32(libc::ENOTEMPTY)
        );
        let sub = o.lookup(d.ino.0, b"sub").unwrap().ino.0;
        assert_eq!(o.rename(ROOT, b"d", sub, b"x", 0), Err(Errno::EINVAL));
        assert_eq!(o.rename(d.ino.0, b"f", ROOT, b"d", 0), Err(Errno::EISDIR));
        assert_eq!(
            o.rename(d.ino.0, b"sub", d.ino.0, b"f", 0),
            Err(Errno::ENOTDIR)
        );
        assert_eq!(o.unlink(ROOT, b"d"), Err(Errno::EISDIR));
        assert_eq!(o.rmdir(d.ino.0, b"f"), Err(Errno::ENOTDIR));
        assert_eq!(
            o.create(d.ino.0, b"f", 0o644, ME).unwrap_err(),
            Errno::EEXIST
        );
        assert_eq!(
            o.rename(ROOT, b"d", ROOT, b"d", libc::RENAME_EXCHANGE),
            Err(Errno::EINVAL)
        );
        // A directory moved over an empty one replaces it.
        let e = o.mkdir(ROOT, b"empty", 0o755, ME).unwrap();
        o.rename(d.ino.0, b"sub", ROOT, b"empty", 0).unwrap();
        assert_eq!(o.getattr(e.ino.0).unwrap_err(), Errno::EIO);
        assert_eq!(o.getattr(ROOT).unwrap().nlink, 4);
        assert_eq!(o.getattr(d.ino.0).unwrap().nlink, 2);
        // ENOSPC: fill the device; the write that finds no room fails.
        let big = o.create(ROOT, b"big", 0o644, ME).unwrap().ino.0;
        let chunk = vec![7u8; 64 << 10];
        let mut off = 0u64;
        let err = loop {
            match o.write(big, off, &chunk) {
                Ok(n) => off += u64::from(n),
                Err(e) => break e,
            }
        };
        assert_eq!(err, Errno::ENOSPC);
        assert!(off > 1 << 20);
        o.release(big).unwrap();
        // Permission checks of access(2) for an ordinary user.
        let bob = Caller {
            uid: 1000,
            gid: 1000,
        };
        let f = o.lookup(d.ino.0, b"f").unwrap().ino.0;
        assert_eq!(o.access(f, libc::R_OK, bob), Ok(()));
        assert_eq!(o.access(f, libc::W_OK, bob), Err(Errno::EACCES));
        assert_eq!(o.access(f, libc::X_OK, ME), Err(Errno::EACCES));
        clean(&img, o);
    }

    #[test]
    fn owners_map_one_to_one() {
        let m = IdMap {
            uid: Some(1000),
            gid: Some(100),
        };
        assert_eq!(m.host_uid(0), 1000);
        assert_eq!(m.host_uid(1000), 0);
        assert_eq!(m.host_uid(2), 2);
        assert_eq!(m.image_uid(1000), Ok(0));
        assert_eq!(m.image_uid(0), Ok(1000));
        assert_eq!(m.image_uid(70_000), Err(Errno::EINVAL));
        assert_eq!(m.host_gid(0), 100);
        assert_eq!(m.image_gid(100), Ok(0));
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path(), Version::V3, 4096, 512);
        let mut o = ops_on(&img, m);
        // The root directory (owner 0 on the image) is the mapped user's.
        assert_eq!(o.getattr(ROOT).unwrap().uid, 1000);
        let who = Caller {
            uid: 1000,
            gid: 100,
        };
        let f = o.create(ROOT, b"mine", 0o644, who).unwrap();
        assert_eq!((f.uid, f.gid), (1000, 100));
        o.release(f.ino.0).unwrap();
        assert_eq!(o.fs().stat(f.ino.0 as u32).unwrap().uid, 0);
        // A set-group-ID directory passes its group (and the bit) down.
        let g = o.mkdir(ROOT, b"g", 0o2775, who).unwrap();
        o.setattr(
            g.ino.0,
            &SetAttr {
                gid: Some(5),
                ..SetAttr::default()
            },
        )
        .unwrap();
        let sub = o.mkdir(g.ino.0, b"s", 0o755, who).unwrap();
        assert_eq!(sub.gid, 5);
        assert_eq!(sub.perm & 0o2000, 0o2000);
        clean(&img, o);
    }

    #[test]
    fn open_unlinked_file_lives_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path(), Version::V3, 1024, 4096);
        let mut o = ops_on(&img, IdMap::default());
        let f = o.create(ROOT, b"tmp", 0o644, ME).unwrap().ino.0;
        o.write(f, 0, b"still here").unwrap();
        o.unlink(ROOT, b"tmp").unwrap();
        assert_eq!(o.read(f, 0, 100).unwrap(), b"still here");
        assert_eq!(o.getattr(f).unwrap().nlink, 0);
        o.release(f).unwrap();
        // Directory removed while open reads as empty.
        let d = o.mkdir(ROOT, b"gone", 0o755, ME).unwrap().ino.0;
        o.opendir(d).unwrap();
        o.rmdir(ROOT, b"gone").unwrap();
        assert!(o.readdir(d, 0).unwrap().is_empty());
        o.release(d).unwrap();
        clean(&img, o);
    }

    #[test]
    fn read_only_mount_refuses_changes() {
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path(), Version::V3, 4096, 512);
        let mut o = Ops::new(mount(&img, false).unwrap(), IdMap::default());
        assert_eq!(o.mkdir(ROOT, b"x", 0o755, ME).unwrap_err(), Errno::EROFS);
        assert_eq!(o.access(ROOT, libc::W_OK, ME), Err(Errno::EROFS));
        assert_eq!(o.fsync(ROOT), Ok(()));
    }

    /// A fresh image in `dir` served by an adapter (the core shared).
    fn adapter_on(dir: &Path) -> (std::path::PathBuf, SharedCore, MfsFuse) {
        let img = image(dir, Version::V3, 4096, 4096);
        let core = share(ops_on(&img, IdMap::default()));
        let fuse = MfsFuse::new(core.clone());
        (img, core, fuse)
    }

    /// The shared core serves calls from several threads, one at a time;
    /// an operation that panics leaves it poisoned: every later call is
    /// EIO and the mount command gets nothing back to write to the image.
    #[test]
    fn shared_core_serves_threads_and_a_panic_poisons_it() {
        let dir = tempfile::tempdir().unwrap();
        let (_img, core, fuse) = adapter_on(dir.path());
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let fuse = &fuse;
                s.spawn(move || {
                    for i in 0..50u8 {
                        let name = format!("f{t}-{i}").into_bytes();
                        let a = fuse.call(|ops| ops.create(ROOT, &name, 0o644, ME)).unwrap();
                        let ino = a.ino.0;
                        let n = fuse.call(|ops| ops.write(ino, 0, &name)).unwrap();
                        assert_eq!(n as usize, name.len());
                        fuse.call(|ops| ops.release(ino)).unwrap();
                    }
                });
            }
        });
        let names = fuse.call(|ops| ops.readdir(ROOT, 0)).unwrap();
        assert_eq!(names.len(), 2 + 4 * 50, "., .. and every file");

        let r: OpResult<()> = fuse.call(|_| panic!("injected into the core"));
        assert_eq!(r, Err(Errno::EIO));
        assert_eq!(fuse.call(|ops| ops.getattr(ROOT)).err(), Some(Errno::EIO));
        assert!(take(&core).is_none(), "a poisoned core is not handed back");
    }

    /// Once the mount command has taken the core back, late calls are EIO.
    #[test]
    fn calls_after_the_core_is_taken_are_eio() {
        let dir = tempfile::tempdir().unwrap();
        let (img, core, fuse) = adapter_on(dir.path());
        assert!(fuse.call(|ops| ops.getattr(ROOT)).is_ok());
        let ops = take(&core).expect("a healthy core comes back");
        assert_eq!(fuse.call(|ops| ops.getattr(ROOT)).err(), Some(Errno::EIO));
        clean(&img, ops);
    }
}
