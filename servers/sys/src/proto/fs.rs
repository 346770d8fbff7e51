//! The VFS <-> file-server protocol (MFS, PFS, any later FS), numbers 0x6xx.
//!
//! Inode-number based like MINIX's `req_*` calls: VFS resolves paths with
//! [`FsRequest::Lookup`], which walks as far as it can inside one file system
//! and hands back symlinks, mount points and `..` at the root (VFS follows
//! them, counting symlinks for `ELOOP`).
//!
//! Conventions:
//! - Every request starts with a `u64` request id; the reply echoes it. A
//!   file server records the results of recent *side-effecting* requests
//!   ([`FsRequest::is_side_effecting`]) by id, so a request VFS resends after
//!   a crash is answered from the record instead of being applied twice.
//! - Bulk data (path names, file data, directory entries, link targets) moves
//!   through grants the *VFS* creates for the file server (`Sys::grant_create`,
//!   `safecopy_from`/`safecopy_to`): a [`Buf`] names one. VFS keeps the grant
//!   until the reply arrives, so a resent request reuses it.
//! - Credentials ([`Cred`]) travel with every request that checks permissions;
//!   the file server checks search permission on each directory of a lookup
//!   and write+search permission on the directory of a name-changing call
//!   (`EACCES`), ownership for chmod/utimes and root for chown (`EPERM`).
//!   Open-mode permissions (read/write on the file itself) are VFS's job,
//!   from the attributes a lookup returns.
//! - References: a `Lookup` with `open` set, a `Create` and a `NewNode` take
//!   one reference on the inode they return; VFS drops references with
//!   [`FsRequest::Putnode`]. An unlinked inode lives until its last reference
//!   is dropped.
//! - Directory entries ([`FsRequest::Getdents`]) are written into the grant
//!   as records encoded by [`put_dirent`] and decoded by [`Dirents`].
//!
//! Wire layout: every request uses one 56-byte payload ([`ReqP`]); replies
//! use [`RepP`], [`StatP`] or [`StatVfsP`] by type number.

use crate::errno::Errno;
use crate::ipc::GrantId;
use crate::message::Message;
use zerocopy::little_endian::{I32, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

// Request numbers.
const READSUPER: u32 = 0x600;
const UNMOUNT: u32 = 0x601;
const LOOKUP: u32 = 0x602;
const CREATE: u32 = 0x603;
const MKDIR: u32 = 0x604;
const MKNOD: u32 = 0x605;
const UNLINK: u32 = 0x606;
const RMDIR: u32 = 0x607;
const RENAME: u32 = 0x608;
const LINK: u32 = 0x609;
const SYMLINK: u32 = 0x60a;
const READLINK: u32 = 0x60b;
const READ: u32 = 0x60c;
const WRITE: u32 = 0x60d;
const TRUNCATE: u32 = 0x60e;
const STAT: u32 = 0x60f;
const CHMOD: u32 = 0x610;
const CHOWN: u32 = 0x611;
const UTIMES: u32 = 0x612;
const GETDENTS: u32 = 0x613;
const STATVFS: u32 = 0x614;
const SYNC: u32 = 0x615;
const PUTNODE: u32 = 0x616;
const MOUNTPOINT: u32 = 0x617;
const NEWNODE: u32 = 0x618;

// Reply numbers.
const R_ERROR: u32 = 0x680;
const R_DONE: u32 = 0x681;
const R_NODE: u32 = 0x682;
const R_FOUND: u32 = 0x683;
const R_SYMLINK: u32 = 0x684;
const R_MOUNTPOINT: u32 = 0x685;
const R_LEAVEROOT: u32 = 0x686;
const R_COUNT: u32 = 0x687;
const R_STAT: u32 = 0x688;
const R_STATVFS: u32 = 0x689;

// Lookup flag bits.
const LF_FOLLOW: u32 = 1;
const LF_LEAVE_ROOT: u32 = 2;
const LF_OPEN: u32 = 4;

/// Request payload shared by every request (unused fields are zero).
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
pub struct ReqP {
    id: U64,
    ino: U32,
    ino2: U32,
    grant: U32,
    len: U32,
    grant2: U32,
    len2: U32,
    pos: U64,
    mode: U32,
    uid: U16,
    gid: U16,
    flags: U32,
    extra: U32,
}

/// Reply payload for status, node, walk and count answers.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
pub struct RepP {
    id: U64,
    status: I32,
    ino: U32,
    ino2: U32,
    consumed: U32,
    mode: U16,
    uid: U16,
    gid: U16,
    nlinks: U16,
    size: U64,
    rdev: U32,
}

/// Reply payload for [`FsAnswer::Stat`].
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
pub struct StatP {
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

/// Reply payload for [`FsAnswer::StatVfs`].
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
pub struct StatVfsP {
    id: U64,
    bsize: U32,
    namemax: U32,
    blocks: U64,
    bfree: U64,
    files: U64,
    ffree: U64,
}

const _: () = assert!(core::mem::size_of::<ReqP>() == 56);
const _: () = assert!(core::mem::size_of::<RepP>() <= 56);
const _: () = assert!(core::mem::size_of::<StatP>() <= 56);
const _: () = assert!(core::mem::size_of::<StatVfsP>() <= 56);

/// Caller credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cred {
    /// Effective user id.
    pub uid: u16,
    /// Effective group id.
    pub gid: u16,
}

impl Cred {
    /// The superuser.
    pub const ROOT: Cred = Cred { uid: 0, gid: 0 };
}

/// A grant the requester created for the file server, and its length in
/// bytes (a name's length, or a buffer's capacity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buf {
    /// The grant (owned by the requester, i.e. the message's source).
    pub grant: GrantId,
    /// Bytes.
    pub len: u32,
}

/// Options of [`FsRequest::Lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LookupFlags {
    /// Hand back a symlink even when it is the last component.
    pub follow_last: bool,
    /// `..` at this file system's root leaves it (a mounted, non-root FS).
    pub leave_at_root: bool,
    /// Take a reference on the inode found (VFS opens it).
    pub open: bool,
}

/// Requests from VFS to a file server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsRequest {
    /// Mount: answer the root inode ([`FsAnswer::Node`]).
    ReadSuper {
        /// Request id.
        id: u64,
    },
    /// Unmount: flush everything; `EBUSY` while inodes other than the root
    /// are referenced.
    Unmount {
        /// Request id.
        id: u64,
    },
    /// Walk `path` from directory `dir`: [`FsAnswer::Walk`].
    Lookup {
        /// Request id.
        id: u64,
        /// Start directory.
        dir: u32,
        /// The path (relative to `dir`; leading slashes are skipped).
        path: Buf,
        /// Options.
        flags: LookupFlags,
        /// Caller.
        cred: Cred,
    },
    /// Create a regular file (`EEXIST` if the name exists); the new inode is
    /// referenced ([`FsAnswer::Node`]).
    Create {
        /// Request id.
        id: u64,
        /// Directory.
        dir: u32,
        /// Name.
        name: Buf,
        /// Permission bits.
        mode: u16,
        /// Caller (owner of the new file).
        cred: Cred,
    },
    /// Make a directory ([`FsAnswer::Node`], not referenced).
    Mkdir {
        /// Request id.
        id: u64,
        /// Parent directory.
        dir: u32,
        /// Name.
        name: Buf,
        /// Permission bits.
        mode: u16,
        /// Caller.
        cred: Cred,
    },
    /// Make a special file: `mode` includes the type bits (`S_IFCHR`,
    /// `S_IFBLK`, `S_IFIFO`, `S_IFSOCK`) ([`FsAnswer::Node`], not referenced).
    Mknod {
        /// Request id.
        id: u64,
        /// Directory.
        dir: u32,
        /// Name.
        name: Buf,
        /// Type and permission bits.
        mode: u16,
        /// Device number.
        rdev: u32,
        /// Caller.
        cred: Cred,
    },
    /// Remove a non-directory name.
    Unlink {
        /// Request id.
        id: u64,
        /// Directory.
        dir: u32,
        /// Name.
        name: Buf,
        /// Caller.
        cred: Cred,
    },
    /// Remove an empty directory.
    Rmdir {
        /// Request id.
        id: u64,
        /// Parent directory.
        dir: u32,
        /// Name.
        name: Buf,
        /// Caller.
        cred: Cred,
    },
    /// Rename within this file system.
    Rename {
        /// Request id.
        id: u64,
        /// Old directory.
        old_dir: u32,
        /// Old name.
        old_name: Buf,
        /// New directory.
        new_dir: u32,
        /// New name.
        new_name: Buf,
        /// Caller.
        cred: Cred,
    },
    /// Hard link `ino` as `name` in `dir`.
    Link {
        /// Request id.
        id: u64,
        /// Directory.
        dir: u32,
        /// Name.
        name: Buf,
        /// Existing inode.
        ino: u32,
        /// Caller.
        cred: Cred,
    },
    /// Make a symbolic link `name` -> `target` ([`FsAnswer::Node`]).
    Symlink {
        /// Request id.
        id: u64,
        /// Directory.
        dir: u32,
        /// Name.
        name: Buf,
        /// Link contents.
        target: Buf,
        /// Caller.
        cred: Cred,
    },
    /// Read a symlink's target into `buf` ([`FsAnswer::Count`]: bytes;
    /// truncated to the buffer).
    Readlink {
        /// Request id.
        id: u64,
        /// The link.
        ino: u32,
        /// Destination.
        buf: Buf,
    },
    /// Read up to `buf.len` bytes at `pos` ([`FsAnswer::Count`]).
    Read {
        /// Request id.
        id: u64,
        /// Inode.
        ino: u32,
        /// Byte position.
        pos: u64,
        /// Destination.
        buf: Buf,
        /// Open flags of the file (e.g. O_NONBLOCK for pipes).
        flags: u32,
    },
    /// Write `buf.len` bytes at `pos` ([`FsAnswer::Count`]: bytes written,
    /// `pos` = the file size after the write). With `O_APPEND` in `flags`
    /// (the open-flag value of `proto::vfs::oflag`), a file server writes
    /// at the end of a regular file as it is when the request is applied,
    /// ignoring `pos` (atomic append).
    Write {
        /// Request id.
        id: u64,
        /// Inode.
        ino: u32,
        /// Byte position.
        pos: u64,
        /// Source.
        buf: Buf,
        /// Open flags of the file.
        flags: u32,
    },
    /// Set the size.
    Truncate {
        /// Request id.
        id: u64,
        /// Inode.
        ino: u32,
        /// New size.
        size: u64,
    },
    /// Attributes ([`FsAnswer::Stat`]).
    Stat {
        /// Request id.
        id: u64,
        /// Inode.
        ino: u32,
    },
    /// Change permission bits (owner or root).
    Chmod {
        /// Request id.
        id: u64,
        /// Inode.
        ino: u32,
        /// Permission bits.
        mode: u16,
        /// Caller.
        cred: Cred,
    },
    /// Change owner (root only).
    Chown {
        /// Request id.
        id: u64,
        /// Inode.
        ino: u32,
        /// New owner.
        uid: u16,
        /// New group.
        gid: u16,
        /// Caller.
        cred: Cred,
    },
    /// Set access and modification times (owner or root).
    Utimes {
        /// Request id.
        id: u64,
        /// Inode.
        ino: u32,
        /// Access time.
        atime: u32,
        /// Modification time.
        mtime: u32,
        /// Caller.
        cred: Cred,
    },
    /// Directory entries from position `pos` into `buf`
    /// ([`FsAnswer::Count`]: bytes filled, `pos` = position to continue at;
    /// 0 bytes = end).
    Getdents {
        /// Request id.
        id: u64,
        /// Directory.
        ino: u32,
        /// Position.
        pos: u64,
        /// Destination.
        buf: Buf,
    },
    /// File-system statistics ([`FsAnswer::StatVfs`]).
    Statvfs {
        /// Request id.
        id: u64,
    },
    /// Write back everything dirty.
    Sync {
        /// Request id.
        id: u64,
    },
    /// Drop `count` references to `ino`.
    Putnode {
        /// Request id.
        id: u64,
        /// Inode.
        ino: u32,
        /// References to drop.
        count: u32,
    },
    /// Mark (or unmark) `ino` as a mount point: lookups stop there.
    Mountpoint {
        /// Request id.
        id: u64,
        /// Directory inode.
        ino: u32,
        /// Mark or unmark.
        on: bool,
    },
    /// Create a nameless, referenced inode (pipes) ([`FsAnswer::Node`]).
    NewNode {
        /// Request id.
        id: u64,
        /// Type and permission bits.
        mode: u16,
        /// Device number.
        rdev: u32,
        /// Owner.
        cred: Cred,
    },
}

fn buf(g: u32, l: u32) -> Buf {
    Buf {
        grant: GrantId(g),
        len: l,
    }
}

impl FsRequest {
    /// The request id.
    pub fn id(&self) -> u64 {
        use FsRequest::*;
        match *self {
            ReadSuper { id }
            | Unmount { id }
            | Lookup { id, .. }
            | Create { id, .. }
            | Mkdir { id, .. }
            | Mknod { id, .. }
            | Unlink { id, .. }
            | Rmdir { id, .. }
            | Rename { id, .. }
            | Link { id, .. }
            | Symlink { id, .. }
            | Readlink { id, .. }
            | Read { id, .. }
            | Write { id, .. }
            | Truncate { id, .. }
            | Stat { id, .. }
            | Chmod { id, .. }
            | Chown { id, .. }
            | Utimes { id, .. }
            | Getdents { id, .. }
            | Statvfs { id }
            | Sync { id }
            | Putnode { id, .. }
            | Mountpoint { id, .. }
            | NewNode { id, .. } => id,
        }
    }

    /// Whether applying the request twice differs from applying it once:
    /// such requests are recorded by id for exactly-once answers.
    pub fn is_side_effecting(&self) -> bool {
        use FsRequest::*;
        match self {
            Lookup { flags, .. } => flags.open,
            Create { .. }
            | Mkdir { .. }
            | Mknod { .. }
            | Unlink { .. }
            | Rmdir { .. }
            | Rename { .. }
            | Link { .. }
            | Symlink { .. }
            | Write { .. }
            | Truncate { .. }
            | Chmod { .. }
            | Chown { .. }
            | Utimes { .. }
            | Putnode { .. }
            | Mountpoint { .. }
            | NewNode { .. } => true,
            ReadSuper { .. }
            | Unmount { .. }
            | Readlink { .. }
            | Read { .. }
            | Stat { .. }
            | Getdents { .. }
            | Statvfs { .. }
            | Sync { .. } => false,
        }
    }

    /// Encode.
    pub fn to_message(&self) -> Message {
        use FsRequest::*;
        let mut p = ReqP {
            id: U64::new(self.id()),
            ..ReqP::default()
        };
        let cred = |p: &mut ReqP, c: Cred| {
            p.uid = U16::new(c.uid);
            p.gid = U16::new(c.gid);
        };
        let name = |p: &mut ReqP, b: Buf| {
            p.grant = U32::new(b.grant.0);
            p.len = U32::new(b.len);
        };
        let mtype = match *self {
            ReadSuper { .. } => READSUPER,
            Unmount { .. } => UNMOUNT,
            Lookup {
                dir,
                path,
                flags,
                cred: c,
                ..
            } => {
                p.ino = U32::new(dir);
                name(&mut p, path);
                p.flags = U32::new(
                    (u32::from(flags.follow_last) * LF_FOLLOW)
                        | (u32::from(flags.leave_at_root) * LF_LEAVE_ROOT)
                        | (u32::from(flags.open) * LF_OPEN),
                );
                cred(&mut p, c);
                LOOKUP
            }
            Create {
                dir,
                name: n,
                mode,
                cred: c,
                ..
            } => {
                p.ino = U32::new(dir);
                name(&mut p, n);
                p.mode = U32::new(u32::from(mode));
                cred(&mut p, c);
                CREATE
            }
            Mkdir {
                dir,
                name: n,
                mode,
                cred: c,
                ..
            } => {
                p.ino = U32::new(dir);
                name(&mut p, n);
                p.mode = U32::new(u32::from(mode));
                cred(&mut p, c);
                MKDIR
            }
            Mknod {
                dir,
                name: n,
                mode,
                rdev,
                cred: c,
                ..
            } => {
                p.ino = U32::new(dir);
                name(&mut p, n);
                p.mode = U32::new(u32::from(mode));
                p.extra = U32::new(rdev);
                cred(&mut p, c);
                MKNOD
            }
            Unlink {
                dir,
                name: n,
                cred: c,
                ..
            } => {
                p.ino = U32::new(dir);
                name(&mut p, n);
                cred(&mut p, c);
                UNLINK
            }
            Rmdir {
                dir,
                name: n,
                cred: c,
                ..
            } => {
                p.ino = U32::new(dir);
                name(&mut p, n);
                cred(&mut p, c);
                RMDIR
            }
            Rename {
                old_dir,
                old_name,
                new_dir,
                new_name,
                cred: c,
                ..
            } => {
                p.ino = U32::new(old_dir);
                p.ino2 = U32::new(new_dir);
                name(&mut p, old_name);
                p.grant2 = U32::new(new_name.grant.0);
                p.len2 = U32::new(new_name.len);
                cred(&mut p, c);
                RENAME
            }
            Link {
                dir,
                name: n,
                ino,
                cred: c,
                ..
            } => {
                p.ino = U32::new(dir);
                p.ino2 = U32::new(ino);
                name(&mut p, n);
                cred(&mut p, c);
                LINK
            }
            Symlink {
                dir,
                name: n,
                target,
                cred: c,
                ..
            } => {
                p.ino = U32::new(dir);
                name(&mut p, n);
                p.grant2 = U32::new(target.grant.0);
                p.len2 = U32::new(target.len);
                cred(&mut p, c);
                SYMLINK
            }
            Readlink { ino, buf: b, .. } => {
                p.ino = U32::new(ino);
                name(&mut p, b);
                READLINK
            }
            Read {
                ino,
                pos,
                buf: b,
                flags,
                ..
            } => {
                p.ino = U32::new(ino);
                p.pos = U64::new(pos);
                name(&mut p, b);
                p.flags = U32::new(flags);
                READ
            }
            Write {
                ino,
                pos,
                buf: b,
                flags,
                ..
            } => {
                p.ino = U32::new(ino);
                p.pos = U64::new(pos);
                name(&mut p, b);
                p.flags = U32::new(flags);
                WRITE
            }
            Truncate { ino, size, .. } => {
                p.ino = U32::new(ino);
                p.pos = U64::new(size);
                TRUNCATE
            }
            Stat { ino, .. } => {
                p.ino = U32::new(ino);
                STAT
            }
            Chmod {
                ino, mode, cred: c, ..
            } => {
                p.ino = U32::new(ino);
                p.mode = U32::new(u32::from(mode));
                cred(&mut p, c);
                CHMOD
            }
            Chown {
                ino,
                uid,
                gid,
                cred: c,
                ..
            } => {
                p.ino = U32::new(ino);
                p.mode = U32::new(u32::from(uid) | (u32::from(gid) << 16));
                cred(&mut p, c);
                CHOWN
            }
            Utimes {
                ino,
                atime,
                mtime,
                cred: c,
                ..
            } => {
                p.ino = U32::new(ino);
                p.mode = U32::new(atime);
                p.extra = U32::new(mtime);
                cred(&mut p, c);
                UTIMES
            }
            Getdents {
                ino, pos, buf: b, ..
            } => {
                p.ino = U32::new(ino);
                p.pos = U64::new(pos);
                name(&mut p, b);
                GETDENTS
            }
            Statvfs { .. } => STATVFS,
            Sync { .. } => SYNC,
            Putnode { ino, count, .. } => {
                p.ino = U32::new(ino);
                p.extra = U32::new(count);
                PUTNODE
            }
            Mountpoint { ino, on, .. } => {
                p.ino = U32::new(ino);
                p.flags = U32::new(u32::from(on));
                MOUNTPOINT
            }
            NewNode {
                mode,
                rdev,
                cred: c,
                ..
            } => {
                p.mode = U32::new(u32::from(mode));
                p.extra = U32::new(rdev);
                cred(&mut p, c);
                NEWNODE
            }
        };
        Message::with(mtype, &p)
    }

    /// Whether `m` carries a file-system request number.
    pub fn is_fs_request(m: &Message) -> bool {
        (READSUPER..=NEWNODE).contains(&m.mtype())
    }
}

impl TryFrom<&Message> for FsRequest {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        let p: ReqP = m.payload_as()?;
        let id = p.id.get();
        let ino = p.ino.get();
        let b1 = buf(p.grant.get(), p.len.get());
        let b2 = buf(p.grant2.get(), p.len2.get());
        let cred = Cred {
            uid: p.uid.get(),
            gid: p.gid.get(),
        };
        let mode16 = || u16::try_from(p.mode.get()).map_err(|_| Errno::EINVAL);
        use FsRequest::*;
        Ok(match m.mtype() {
            READSUPER => ReadSuper { id },
            UNMOUNT => Unmount { id },
            LOOKUP => {
                let f = p.flags.get();
                Lookup {
                    id,
                    dir: ino,
                    path: b1,
                    flags: LookupFlags {
                        follow_last: f & LF_FOLLOW != 0,
                        leave_at_root: f & LF_LEAVE_ROOT != 0,
                        open: f & LF_OPEN != 0,
                    },
                    cred,
                }
            }
            CREATE => Create {
                id,
                dir: ino,
                name: b1,
                mode: mode16()?,
                cred,
            },
            MKDIR => Mkdir {
                id,
                dir: ino,
                name: b1,
                mode: mode16()?,
                cred,
            },
            MKNOD => Mknod {
                id,
                dir: ino,
                name: b1,
                mode: mode16()?,
                rdev: p.extra.get(),
                cred,
            },
            UNLINK => Unlink {
                id,
                dir: ino,
                name: b1,
                cred,
            },
            RMDIR => Rmdir {
                id,
                dir: ino,
                name: b1,
                cred,
            },
            RENAME => Rename {
                id,
                old_dir: ino,
                old_name: b1,
                new_dir: p.ino2.get(),
                new_name: b2,
                cred,
            },
            LINK => Link {
                id,
                dir: ino,
                name: b1,
                ino: p.ino2.get(),
                cred,
            },
            SYMLINK => Symlink {
                id,
                dir: ino,
                name: b1,
                target: b2,
                cred,
            },
            READLINK => Readlink { id, ino, buf: b1 },
            READ => Read {
                id,
                ino,
                pos: p.pos.get(),
                buf: b1,
                flags: p.flags.get(),
            },
            WRITE => Write {
                id,
                ino,
                pos: p.pos.get(),
                buf: b1,
                flags: p.flags.get(),
            },
            TRUNCATE => Truncate {
                id,
                ino,
                size: p.pos.get(),
            },
            STAT => Stat { id, ino },
            CHMOD => Chmod {
                id,
                ino,
                mode: mode16()?,
                cred,
            },
            CHOWN => Chown {
                id,
                ino,
                uid: p.mode.get() as u16,
                gid: (p.mode.get() >> 16) as u16,
                cred,
            },
            UTIMES => Utimes {
                id,
                ino,
                atime: p.mode.get(),
                mtime: p.extra.get(),
                cred,
            },
            GETDENTS => Getdents {
                id,
                ino,
                pos: p.pos.get(),
                buf: b1,
            },
            STATVFS => Statvfs { id },
            SYNC => Sync { id },
            PUTNODE => Putnode {
                id,
                ino,
                count: p.extra.get(),
            },
            MOUNTPOINT => Mountpoint {
                id,
                ino,
                on: p.flags.get() != 0,
            },
            NEWNODE => NewNode {
                id,
                mode: mode16()?,
                rdev: p.extra.get(),
                cred,
            },
            // An unknown request type: the server answers ENOSYS.
            _ => return Err(Errno::ENOSYS),
        })
    }
}

/// Attributes of an inode returned by create/lookup/mkdir/... .
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeAttr {
    /// Inode number.
    pub ino: u32,
    /// Type and permission bits.
    pub mode: u16,
    /// Owner.
    pub uid: u16,
    /// Group.
    pub gid: u16,
    /// Link count.
    pub nlinks: u16,
    /// Size in bytes.
    pub size: u64,
    /// Device number of a special file.
    pub rdev: u32,
}

/// Where a [`FsRequest::Lookup`] stopped. `consumed` counts the path bytes
/// (of the request's path) that were used up: the rest of the path is
/// `path[consumed..]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkOutcome {
    /// The whole path resolved.
    Found {
        /// The inode.
        node: NodeAttr,
        /// Directory holding the last component.
        parent: u32,
    },
    /// A symlink to follow: VFS reads it and continues with
    /// `target + "/" + path[consumed..]` from `dir` (or the root).
    Symlink {
        /// The link.
        ino: u32,
        /// Its directory.
        dir: u32,
        /// Bytes consumed (through the link's name).
        consumed: u32,
    },
    /// A mount point: continue with `path[consumed..]` at the root of the
    /// file system mounted on `ino`.
    MountPoint {
        /// The mount point.
        ino: u32,
        /// Bytes consumed (through the mount point's name).
        consumed: u32,
    },
    /// `..` at this file system's root: continue with `path[consumed..]`
    /// (which starts with that `..`) from the mount point's parent.
    LeaveRoot {
        /// Bytes consumed (up to the `..`).
        consumed: u32,
    },
}

/// File attributes (`stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FsStat {
    /// Inode number.
    pub ino: u32,
    /// Type and permission bits.
    pub mode: u16,
    /// Link count.
    pub nlinks: u16,
    /// Owner.
    pub uid: u16,
    /// Group.
    pub gid: u16,
    /// Size.
    pub size: u64,
    /// Access time.
    pub atime: u32,
    /// Modification time.
    pub mtime: u32,
    /// Status change time.
    pub ctime: u32,
    /// Device number of a special file.
    pub rdev: u32,
    /// Preferred I/O size.
    pub blksize: u32,
}

/// File-system statistics (`statvfs`); fragment size = block size, the
/// `avail` counts equal the `free` ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FsStatVfs {
    /// Block size.
    pub bsize: u32,
    /// Longest name.
    pub namemax: u32,
    /// Total blocks.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Total inodes.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
}

/// A successful answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsAnswer {
    /// Done, nothing to report.
    Done,
    /// An inode and its attributes.
    Node(NodeAttr),
    /// A lookup's outcome.
    Walk(WalkOutcome),
    /// Bytes transferred and a position (see each request).
    Count {
        /// Bytes.
        n: u64,
        /// Position / size.
        pos: u64,
    },
    /// Attributes.
    Stat(FsStat),
    /// File-system statistics.
    StatVfs(FsStatVfs),
}

/// A file server's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsReply {
    /// The request id answered.
    pub id: u64,
    /// Answer or error.
    pub result: Result<FsAnswer, Errno>,
}

fn node_into(p: &mut RepP, n: &NodeAttr) {
    p.ino = U32::new(n.ino);
    p.mode = U16::new(n.mode);
    p.uid = U16::new(n.uid);
    p.gid = U16::new(n.gid);
    p.nlinks = U16::new(n.nlinks);
    p.size = U64::new(n.size);
    p.rdev = U32::new(n.rdev);
}

fn node_from(p: &RepP) -> NodeAttr {
    NodeAttr {
        ino: p.ino.get(),
        mode: p.mode.get(),
        uid: p.uid.get(),
        gid: p.gid.get(),
        nlinks: p.nlinks.get(),
        size: p.size.get(),
        rdev: p.rdev.get(),
    }
}

impl FsReply {
    /// Encode.
    pub fn to_message(&self) -> Message {
        let id = U64::new(self.id);
        let mut p = RepP {
            id,
            ..RepP::default()
        };
        let ans = match self.result {
            Err(e) => {
                p.status = I32::new(-e.code());
                return Message::with(R_ERROR, &p);
            }
            Ok(a) => a,
        };
        let mtype = match ans {
            FsAnswer::Done => R_DONE,
            FsAnswer::Node(n) => {
                node_into(&mut p, &n);
                R_NODE
            }
            FsAnswer::Walk(WalkOutcome::Found { node, parent }) => {
                node_into(&mut p, &node);
                p.ino2 = U32::new(parent);
                R_FOUND
            }
            FsAnswer::Walk(WalkOutcome::Symlink { ino, dir, consumed }) => {
                p.ino = U32::new(ino);
                p.ino2 = U32::new(dir);
                p.consumed = U32::new(consumed);
                R_SYMLINK
            }
            FsAnswer::Walk(WalkOutcome::MountPoint { ino, consumed }) => {
                p.ino = U32::new(ino);
                p.consumed = U32::new(consumed);
                R_MOUNTPOINT
            }
            FsAnswer::Walk(WalkOutcome::LeaveRoot { consumed }) => {
                p.consumed = U32::new(consumed);
                R_LEAVEROOT
            }
            FsAnswer::Count { n, pos } => {
                p.size = U64::new(n);
                // The position rides in ino/ino2 (low/high halves).
                p.ino = U32::new(pos as u32);
                p.ino2 = U32::new((pos >> 32) as u32);
                R_COUNT
            }
            FsAnswer::Stat(s) => {
                return Message::with(
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
                );
            }
            FsAnswer::StatVfs(s) => {
                return Message::with(
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
                );
            }
        };
        Message::with(mtype, &p)
    }

    /// Whether `m` carries a file-system reply number.
    pub fn is_fs_reply(m: &Message) -> bool {
        (R_ERROR..=R_STATVFS).contains(&m.mtype())
    }
}

impl TryFrom<&Message> for FsReply {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        let t = m.mtype();
        if t == R_STAT {
            let s: StatP = m.payload_as()?;
            return Ok(FsReply {
                id: s.id.get(),
                result: Ok(FsAnswer::Stat(FsStat {
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
            });
        }
        if t == R_STATVFS {
            let s: StatVfsP = m.payload_as()?;
            return Ok(FsReply {
                id: s.id.get(),
                result: Ok(FsAnswer::StatVfs(FsStatVfs {
                    bsize: s.bsize.get(),
                    namemax: s.namemax.get(),
                    blocks: s.blocks.get(),
                    bfree: s.bfree.get(),
                    files: s.files.get(),
                    ffree: s.ffree.get(),
                })),
            });
        }
        let p: RepP = m.payload_as()?;
        let id = p.id.get();
        let result = match t {
            R_ERROR => Err(match Errno::from_status(p.status.get()) {
                Err(e) => e,
                // A zero status in an error reply is malformed.
                Ok(()) => Errno::EGENERIC,
            }),
            R_DONE => Ok(FsAnswer::Done),
            R_NODE => Ok(FsAnswer::Node(node_from(&p))),
            R_FOUND => Ok(FsAnswer::Walk(WalkOutcome::Found {
                node: node_from(&p),
                parent: p.ino2.get(),
            })),
            R_SYMLINK => Ok(FsAnswer::Walk(WalkOutcome::Symlink {
                ino: p.ino.get(),
                dir: p.ino2.get(),
                consumed: p.consumed.get(),
            })),
            R_MOUNTPOINT => Ok(FsAnswer::Walk(WalkOutcome::MountPoint {
                ino: p.ino.get(),
                consumed: p.consumed.get(),
            })),
            R_LEAVEROOT => Ok(FsAnswer::Walk(WalkOutcome::LeaveRoot {
                consumed: p.consumed.get(),
            })),
            R_COUNT => Ok(FsAnswer::Count {
                n: p.size.get(),
                pos: u64::from(p.ino.get()) | (u64::from(p.ino2.get()) << 32),
            }),
            _ => return Err(Errno::EBADCALL),
        };
        Ok(FsReply { id, result })
    }
}

/// Header of one directory record in a [`FsRequest::Getdents`] buffer,
/// followed by `namelen` name bytes.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct DirentHead {
    ino: U32,
    next_pos: U64,
    namelen: U16,
}

/// Bytes of a directory record's header.
pub const DIRENT_HEAD: usize = 14;
const _: () = assert!(core::mem::size_of::<DirentHead>() == DIRENT_HEAD);

/// Append a directory record to `out` at `at`; returns the bytes used, or
/// `None` if it does not fit (or the name is longer than 65535 bytes).
pub fn put_dirent(
    out: &mut [u8],
    at: usize,
    ino: u32,
    next_pos: u64,
    name: &[u8],
) -> Option<usize> {
    let namelen = u16::try_from(name.len()).ok()?;
    let n = DIRENT_HEAD + name.len();
    let dst = out.get_mut(at..at.checked_add(n)?)?;
    let h = DirentHead {
        ino: U32::new(ino),
        next_pos: U64::new(next_pos),
        namelen: U16::new(namelen),
    };
    dst[..DIRENT_HEAD].copy_from_slice(h.as_bytes());
    dst[DIRENT_HEAD..].copy_from_slice(name);
    Some(n)
}

/// One decoded directory record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirentRef<'a> {
    /// Inode number.
    pub ino: u32,
    /// Position to continue after this entry.
    pub next_pos: u64,
    /// Name bytes.
    pub name: &'a [u8],
}

/// Iterator over the records of a getdents buffer; stops at the first
/// malformed (truncated) record.
#[derive(Debug, Clone)]
pub struct Dirents<'a> {
    buf: &'a [u8],
}

impl<'a> Dirents<'a> {
    /// Decode `buf` (the filled part).
    pub fn new(buf: &'a [u8]) -> Self {
        Dirents { buf }
    }
}

impl<'a> Iterator for Dirents<'a> {
    type Item = DirentRef<'a>;
    fn next(&mut self) -> Option<DirentRef<'a>> {
        let (h, rest) = DirentHead::read_from_prefix(self.buf).ok()?;
        let n = usize::from(h.namelen.get());
        let name = rest.get(..n)?;
        self.buf = &rest[n..];
        Some(DirentRef {
            ino: h.ino.get(),
            next_pos: h.next_pos.get(),
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn b(g: u32, l: u32) -> Buf {
        buf(g, l)
    }

    #[test]
    fn requests_roundtrip() {
        let c = Cred { uid: 7, gid: 9 };
        let reqs = [
            FsRequest::ReadSuper { id: 1 },
            FsRequest::Unmount { id: 2 },
            FsRequest::Lookup {
                id: 3,
                dir: 1,
                path: b(4, 10),
                flags: LookupFlags {
                    follow_last: true,
                    leave_at_root: false,
                    open: true,
                },
                cred: c,
            },
            FsRequest::Create {
                id: 4,
                dir: 2,
                name: b(5, 3),
                mode: 0o644,
                cred: c,
            },
            FsRequest::Mkdir {
                id: 5,
                dir: 2,
                name: b(5, 3),
                mode: 0o755,
                cred: c,
            },
            FsRequest::Mknod {
                id: 6,
                dir: 2,
                name: b(5, 3),
                mode: 0o60644,
                rdev: 0x0301,
                cred: c,
            },
            FsRequest::Unlink {
                id: 7,
                dir: 2,
                name: b(1, 1),
                cred: c,
            },
            FsRequest::Rmdir {
                id: 8,
                dir: 2,
                name: b(1, 1),
                cred: c,
            },
            FsRequest::Rename {
                id: 9,
                old_dir: 2,
                old_name: b(1, 2),
                new_dir: 3,
                new_name: b(4, 5),
                cred: c,
            },
            FsRequest::Link {
                id: 10,
                dir: 2,
                name: b(1, 2),
                ino: 33,
                cred: c,
            },
            FsRequest::Symlink {
                id: 11,
                dir: 2,
                name: b(1, 2),
                target: b(3, 4),
                cred: c,
            },
            FsRequest::Readlink {
                id: 12,
                ino: 5,
                buf: b(1, 100),
            },
            FsRequest::Read {
                id: 13,
                ino: 5,
                pos: 1 << 33,
                buf: b(1, 100),
                flags: 4,
            },
            FsRequest::Write {
                id: 14,
                ino: 5,
                pos: 77,
                buf: b(1, 100),
                flags: 0,
            },
            FsRequest::Truncate {
                id: 15,
                ino: 5,
                size: 1 << 35,
            },
            FsRequest::Stat { id: 16, ino: 5 },
            FsRequest::Chmod {
                id: 17,
                ino: 5,
                mode: 0o4755,
                cred: c,
            },
            FsRequest::Chown {
                id: 18,
                ino: 5,
                uid: 65535,
                gid: 3,
                cred: c,
            },
            FsRequest::Utimes {
                id: 19,
                ino: 5,
                atime: 100,
                mtime: 200,
                cred: c,
            },
            FsRequest::Getdents {
                id: 20,
                ino: 1,
                pos: 128,
                buf: b(2, 4096),
            },
            FsRequest::Statvfs { id: 21 },
            FsRequest::Sync { id: 22 },
            FsRequest::Putnode {
                id: 23,
                ino: 9,
                count: 2,
            },
            FsRequest::Mountpoint {
                id: 24,
                ino: 9,
                on: true,
            },
            FsRequest::NewNode {
                id: 25,
                mode: 0o10600,
                rdev: 0,
                cred: c,
            },
        ];
        for r in reqs {
            let m = r.to_message();
            assert!(FsRequest::is_fs_request(&m));
            assert_eq!(m.request_id(), r.id());
            assert_eq!(FsRequest::try_from(&m).unwrap(), r);
        }
        assert_eq!(
            FsRequest::try_from(&Message::new(0x6ff)),
            Err(Errno::ENOSYS)
        );
    }

    #[test]
    fn replies_roundtrip() {
        let node = NodeAttr {
            ino: 5,
            mode: 0o100644,
            uid: 1,
            gid: 2,
            nlinks: 1,
            size: 1 << 34,
            rdev: 0,
        };
        let answers = [
            Err(Errno::ENOENT),
            Err(Errno::ENOTEMPTY),
            Ok(FsAnswer::Done),
            Ok(FsAnswer::Node(node)),
            Ok(FsAnswer::Walk(WalkOutcome::Found { node, parent: 1 })),
            Ok(FsAnswer::Walk(WalkOutcome::Symlink {
                ino: 4,
                dir: 1,
                consumed: 8,
            })),
            Ok(FsAnswer::Walk(WalkOutcome::MountPoint {
                ino: 4,
                consumed: 3,
            })),
            Ok(FsAnswer::Walk(WalkOutcome::LeaveRoot { consumed: 0 })),
            Ok(FsAnswer::Count {
                n: 4096,
                pos: (1 << 40) + 3,
            }),
            Ok(FsAnswer::Stat(FsStat {
                ino: 3,
                mode: 0o40755,
                nlinks: 2,
                uid: 0,
                gid: 0,
                size: 128,
                atime: 1,
                mtime: 2,
                ctime: 3,
                rdev: 0,
                blksize: 4096,
            })),
            Ok(FsAnswer::StatVfs(FsStatVfs {
                bsize: 4096,
                namemax: 60,
                blocks: 100,
                bfree: 50,
                files: 64,
                ffree: 60,
            })),
        ];
        for (i, result) in answers.into_iter().enumerate() {
            let r = FsReply {
                id: 100 + i as u64,
                result,
            };
            let m = r.to_message();
            assert!(FsReply::is_fs_reply(&m));
            assert_eq!(m.request_id(), r.id);
            assert_eq!(FsReply::try_from(&m).unwrap(), r);
        }
    }

    #[test]
    fn dirents() {
        let mut out = vec![0u8; 40];
        let a = put_dirent(&mut out, 0, 1, 64, b".").unwrap();
        let b2 = put_dirent(&mut out, a, 7, 128, b"hello").unwrap();
        assert_eq!(a + b2, 2 * DIRENT_HEAD + 6);
        assert!(put_dirent(&mut out, a + b2, 8, 192, b"x").is_none());
        let v: alloc::vec::Vec<_> = Dirents::new(&out[..a + b2]).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].name, b"hello");
        assert_eq!(v[1].ino, 7);
        assert_eq!(v[1].next_pos, 128);
        // A truncated record ends the iteration.
        assert_eq!(Dirents::new(&out[..a + 3]).count(), 1);
    }

    #[test]
    fn side_effects() {
        assert!(
            FsRequest::Write {
                id: 1,
                ino: 1,
                pos: 0,
                buf: b(1, 1),
                flags: 0
            }
            .is_side_effecting()
        );
        assert!(!FsRequest::Stat { id: 1, ino: 1 }.is_side_effecting());
        let mut l = FsRequest::Lookup {
            id: 1,
            dir: 1,
            path: b(1, 1),
            flags: LookupFlags::default(),
            cred: Cred::ROOT,
        };
        assert!(!l.is_side_effecting());
        if let FsRequest::Lookup { flags, .. } = &mut l {
            flags.open = true;
        }
        assert!(l.is_side_effecting());
    }
}
