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
//!   block cache) and its block device is not `Send`, so it lives on one
//!   core thread that owns it and runs requests in the order the kernel sent
//!   them; the FUSE loop hands each request over (with its reply) and goes
//!   straight back to reading the next one, so decoding requests and
//!   sending replies overlap the core's work, but no two operations ever
//!   run at once.
//!
//! Permission checks are the kernel's (`default_permissions`: mode bits,
//! owners, the sticky bit, who may chown or set times), against the owners
//! [`Ops`] reports. The core never updates access times (a `noatime`
//! mount). MINIX keeps whole seconds.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::mpsc;
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

/// A job for the core thread.
type Job = Box<dyn FnOnce(&mut Ops) + Send>;

/// `fuser::Filesystem` over [`Ops`] on its core thread (see the module
/// documentation).
#[derive(Debug)]
pub struct MfsFuse {
    tx: mpsc::Sender<Job>,
    /// Ask for the kernel's writeback cache (`-o writeback`).
    writeback: bool,
}

impl MfsFuse {
    /// Starts the core thread: it builds the operation layer with `make`
    /// (the core and its block device stay on that thread; `None` ends it
    /// at once), serves requests until the adapter is dropped (at the end
    /// of the FUSE session), then hands the layer to `end` and returns what
    /// that gives.
    pub fn start<R: Send + 'static>(
        make: impl FnOnce() -> Option<Ops> + Send + 'static,
        end: impl FnOnce(Ops) -> R + Send + 'static,
    ) -> std::io::Result<(MfsFuse, std::thread::JoinHandle<Option<R>>)> {
        let (tx, rx) = mpsc::channel::<Job>();
        let h = std::thread::Builder::new()
            .name("mfs-core".into())
            .spawn(move || {
                let mut ops = make()?;
                while let Ok(job) = rx.recv() {
                    job(&mut ops);
                }
                Some(end(ops))
            })?;
        Ok((
            MfsFuse {
                tx,
                writeback: false,
            },
            h,
        ))
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

    fn run(&self, job: impl FnOnce(&mut Ops) + Send + 'static) {
        // The core thread outlives every request (it stops only when this
        // adapter is dropped); a send failure would mean it died, and the
        // dropped reply then answers EIO.
        let _ = self.tx.send(Box::new(job));
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

fn name_bytes(n: &OsStr) -> Vec<u8> {
    n.as_bytes().to_vec()
}

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
        self.run(|ops| {
            let _ = ops.sync();
        });
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let name = name_bytes(name);
        self.run(move |ops| reply_entry(ops.lookup(parent.0, &name), reply));
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.run(move |ops| match ops.getattr(ino.0) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        });
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
        self.run(move |ops| match ops.setattr(ino.0, &set) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        });
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        self.run(move |ops| match ops.readlink(ino.0) {
            Ok(t) => reply.data(&t),
            Err(e) => reply.error(e),
        });
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
        let (name, who) = (name_bytes(name), caller(req));
        self.run(move |ops| reply_entry(ops.mknod(parent.0, &name, mode, rdev, who), reply));
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
        let (name, who) = (name_bytes(name), caller(req));
        self.run(move |ops| reply_entry(ops.mkdir(parent.0, &name, mode, who), reply));
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name_bytes(name);
        self.run(move |ops| reply_empty(ops.unlink(parent.0, &name), reply));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name_bytes(name);
        self.run(move |ops| reply_empty(ops.rmdir(parent.0, &name), reply));
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let (name, who) = (name_bytes(link_name), caller(req));
        let target = target.as_os_str().as_bytes().to_vec();
        self.run(move |ops| reply_entry(ops.symlink(parent.0, &name, &target, who), reply));
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
        let (name, newname) = (name_bytes(name), name_bytes(newname));
        let flags = flags.bits();
        self.run(move |ops| {
            reply_empty(
                ops.rename(parent.0, &name, newparent.0, &newname, flags),
                reply,
            )
        });
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let newname = name_bytes(newname);
        self.run(move |ops| reply_entry(ops.link(ino.0, newparent.0, &newname), reply));
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.run(move |ops| match ops.open(ino.0) {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        });
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
        self.run(move |ops| match ops.read(ino.0, offset, size) {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(e),
        });
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
        let data = data.to_vec();
        self.run(move |ops| match ops.write(ino.0, offset, &data) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        });
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
        // push further (fsync makes them durable).
        reply.ok();
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
        self.run(move |ops| reply_empty(ops.release(ino.0), reply));
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.run(move |ops| reply_empty(ops.fsync(ino.0), reply));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.run(move |ops| match ops.opendir(ino.0) {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        });
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        self.run(move |ops| match ops.readdir(ino.0, offset) {
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
        });
    }

    fn releasedir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.run(move |ops| reply_empty(ops.release(ino.0), reply));
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.run(move |ops| reply_empty(ops.sync(), reply));
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.run(move |ops| match ops.statfs() {
            Ok(s) => reply.statfs(
                s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namemax, s.frsize,
            ),
            Err(e) => reply.error(e),
        });
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        let who = caller(req);
        let mask = mask.bits();
        self.run(move |ops| reply_empty(ops.access(ino.0, mask, who), reply));
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
        let (name, who) = (name_bytes(name), caller(req));
        self.run(move |ops| match ops.create(parent.0, &name, mode, who) {
            Ok(a) => reply.created(&TTL, &a, Generation(0), FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        });
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
}
