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
use crate::proto::wire::{Codec, Le, NonZero, Split64, messages};
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

/// [`FsRequest::Chown`]'s payload: [`ReqP`] with the new owner and group
/// in the low and high halves of `mode`.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct ChownP {
    id: U64,
    ino: U32,
    /// `ino2` through `pos` of [`ReqP`], unused.
    unused: [u8; 28],
    new_uid: U16,
    new_gid: U16,
    uid: U16,
    gid: U16,
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

messages! {
    /// Requests from VFS to a file server.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum FsRequest in ReqP, unknown ENOSYS {
        /// Mount: answer the root inode ([`FsAnswer::Node`]).
        ReadSuper = READSUPER {
            /// Request id.
            id: u64 => id,
        },
        /// Unmount: flush everything; `EBUSY` while inodes other than the root
        /// are referenced.
        Unmount = UNMOUNT {
            /// Request id.
            id: u64 => id,
        },
        /// Walk `path` from directory `dir`: [`FsAnswer::Walk`].
        Lookup = LOOKUP {
            /// Request id.
            id: u64 => id,
            /// Start directory.
            dir: u32 => ino,
            /// The path (relative to `dir`; leading slashes are skipped).
            path: Buf => (grant, len),
            /// Options.
            flags: LookupFlags => flags,
            /// Caller.
            cred: Cred => (uid, gid),
        },
        /// Create a regular file (`EEXIST` if the name exists); the new inode is
        /// referenced ([`FsAnswer::Node`]).
        Create = CREATE {
            /// Request id.
            id: u64 => id,
            /// Directory.
            dir: u32 => ino,
            /// Name.
            name: Buf => (grant, len),
            /// Permission bits.
            mode: u16 => mode,
            /// Caller (owner of the new file).
            cred: Cred => (uid, gid),
        },
        /// Make a directory ([`FsAnswer::Node`], not referenced).
        Mkdir = MKDIR {
            /// Request id.
            id: u64 => id,
            /// Parent directory.
            dir: u32 => ino,
            /// Name.
            name: Buf => (grant, len),
            /// Permission bits.
            mode: u16 => mode,
            /// Caller.
            cred: Cred => (uid, gid),
        },
        /// Make a special file: `mode` includes the type bits (`S_IFCHR`,
        /// `S_IFBLK`, `S_IFIFO`, `S_IFSOCK`) ([`FsAnswer::Node`], not referenced).
        Mknod = MKNOD {
            /// Request id.
            id: u64 => id,
            /// Directory.
            dir: u32 => ino,
            /// Name.
            name: Buf => (grant, len),
            /// Type and permission bits.
            mode: u16 => mode,
            /// Device number.
            rdev: u32 => extra,
            /// Caller.
            cred: Cred => (uid, gid),
        },
        /// Remove a non-directory name.
        Unlink = UNLINK {
            /// Request id.
            id: u64 => id,
            /// Directory.
            dir: u32 => ino,
            /// Name.
            name: Buf => (grant, len),
            /// Caller.
            cred: Cred => (uid, gid),
        },
        /// Remove an empty directory.
        Rmdir = RMDIR {
            /// Request id.
            id: u64 => id,
            /// Parent directory.
            dir: u32 => ino,
            /// Name.
            name: Buf => (grant, len),
            /// Caller.
            cred: Cred => (uid, gid),
        },
        /// Rename within this file system.
        Rename = RENAME {
            /// Request id.
            id: u64 => id,
            /// Old directory.
            old_dir: u32 => ino,
            /// Old name.
            old_name: Buf => (grant, len),
            /// New directory.
            new_dir: u32 => ino2,
            /// New name.
            new_name: Buf => (grant2, len2),
            /// Caller.
            cred: Cred => (uid, gid),
        },
        /// Hard link `ino` as `name` in `dir`.
        Link = LINK {
            /// Request id.
            id: u64 => id,
            /// Directory.
            dir: u32 => ino,
            /// Name.
            name: Buf => (grant, len),
            /// Existing inode.
            ino: u32 => ino2,
            /// Caller.
            cred: Cred => (uid, gid),
        },
        /// Make a symbolic link `name` -> `target` ([`FsAnswer::Node`]).
        Symlink = SYMLINK {
            /// Request id.
            id: u64 => id,
            /// Directory.
            dir: u32 => ino,
            /// Name.
            name: Buf => (grant, len),
            /// Link contents.
            target: Buf => (grant2, len2),
            /// Caller.
            cred: Cred => (uid, gid),
        },
        /// Read a symlink's target into `buf` ([`FsAnswer::Count`]: bytes;
        /// truncated to the buffer).
        Readlink = READLINK {
            /// Request id.
            id: u64 => id,
            /// The link.
            ino: u32 => ino,
            /// Destination.
            buf: Buf => (grant, len),
        },
        /// Read up to `buf.len` bytes at `pos` ([`FsAnswer::Count`]).
        Read = READ {
            /// Request id.
            id: u64 => id,
            /// Inode.
            ino: u32 => ino,
            /// Byte position.
            pos: u64 => pos,
            /// Destination.
            buf: Buf => (grant, len),
            /// Open flags of the file (e.g. O_NONBLOCK for pipes).
            flags: u32 => flags,
        },
        /// Write `buf.len` bytes at `pos` ([`FsAnswer::Count`]: bytes written,
        /// `pos` = the file size after the write). With `O_APPEND` in `flags`
        /// (the open-flag value of `proto::vfs::oflag`), a file server writes
        /// at the end of a regular file as it is when the request is applied,
        /// ignoring `pos` (atomic append).
        Write = WRITE {
            /// Request id.
            id: u64 => id,
            /// Inode.
            ino: u32 => ino,
            /// Byte position.
            pos: u64 => pos,
            /// Source.
            buf: Buf => (grant, len),
            /// Open flags of the file.
            flags: u32 => flags,
        },
        /// Set the size.
        Truncate = TRUNCATE {
            /// Request id.
            id: u64 => id,
            /// Inode.
            ino: u32 => ino,
            /// New size.
            size: u64 => pos,
        },
        /// Attributes ([`FsAnswer::Stat`]).
        Stat = STAT {
            /// Request id.
            id: u64 => id,
            /// Inode.
            ino: u32 => ino,
        },
        /// Change permission bits (owner or root).
        Chmod = CHMOD {
            /// Request id.
            id: u64 => id,
            /// Inode.
            ino: u32 => ino,
            /// Permission bits.
            mode: u16 => mode,
            /// Caller.
            cred: Cred => (uid, gid),
        },
        /// Change owner (root only).
        Chown = CHOWN [ChownP] {
            /// Request id.
            id: u64 => id,
            /// Inode.
            ino: u32 => ino,
            /// New owner.
            uid: u16 => new_uid,
            /// New group.
            gid: u16 => new_gid,
            /// Caller.
            cred: Cred => (uid, gid),
        },
        /// Set access and modification times (owner or root).
        Utimes = UTIMES {
            /// Request id.
            id: u64 => id,
            /// Inode.
            ino: u32 => ino,
            /// Access time.
            atime: u32 => mode,
            /// Modification time.
            mtime: u32 => extra,
            /// Caller.
            cred: Cred => (uid, gid),
        },
        /// Directory entries from position `pos` into `buf`
        /// ([`FsAnswer::Count`]: bytes filled, `pos` = position to continue at;
        /// 0 bytes = end).
        Getdents = GETDENTS {
            /// Request id.
            id: u64 => id,
            /// Directory.
            ino: u32 => ino,
            /// Position.
            pos: u64 => pos,
            /// Destination.
            buf: Buf => (grant, len),
        },
        /// File-system statistics ([`FsAnswer::StatVfs`]).
        Statvfs = STATVFS {
            /// Request id.
            id: u64 => id,
        },
        /// Write back everything dirty.
        Sync = SYNC {
            /// Request id.
            id: u64 => id,
        },
        /// Drop `count` references to `ino`.
        Putnode = PUTNODE {
            /// Request id.
            id: u64 => id,
            /// Inode.
            ino: u32 => ino,
            /// References to drop.
            count: u32 => extra,
        },
        /// Mark (or unmark) `ino` as a mount point: lookups stop there.
        Mountpoint = MOUNTPOINT {
            /// Request id.
            id: u64 => id,
            /// Directory inode.
            ino: u32 => ino,
            /// Mark or unmark.
            on: bool => flags via NonZero,
        },
        /// Create a nameless, referenced inode (pipes) ([`FsAnswer::Node`]).
        NewNode = NEWNODE {
            /// Request id.
            id: u64 => id,
            /// Type and permission bits.
            mode: u16 => mode,
            /// Device number.
            rdev: u32 => extra,
            /// Owner.
            cred: Cred => (uid, gid),
        },
    }
}

fn buf(g: u32, l: u32) -> Buf {
    Buf {
        grant: GrantId(g),
        len: l,
    }
}

/// A [`Buf`] in a grant slot and a length slot.
impl Codec<Buf, (U32, U32)> for Le {
    fn enc(b: Buf) -> (U32, U32) {
        (U32::new(b.grant.0), U32::new(b.len))
    }
    fn dec((g, l): (U32, U32)) -> Result<Buf, Errno> {
        Ok(buf(g.get(), l.get()))
    }
}

/// [`Cred`] in a uid slot and a gid slot.
impl Codec<Cred, (U16, U16)> for Le {
    fn enc(c: Cred) -> (U16, U16) {
        (U16::new(c.uid), U16::new(c.gid))
    }
    fn dec((uid, gid): (U16, U16)) -> Result<Cred, Errno> {
        Ok(Cred {
            uid: uid.get(),
            gid: gid.get(),
        })
    }
}

/// [`LookupFlags`] as `LF_*` bits (unknown bits ignored).
impl Codec<LookupFlags, U32> for Le {
    fn enc(f: LookupFlags) -> U32 {
        U32::new(
            (u32::from(f.follow_last) * LF_FOLLOW)
                | (u32::from(f.leave_at_root) * LF_LEAVE_ROOT)
                | (u32::from(f.open) * LF_OPEN),
        )
    }
    fn dec(w: U32) -> Result<LookupFlags, Errno> {
        let f = w.get();
        Ok(LookupFlags {
            follow_last: f & LF_FOLLOW != 0,
            leave_at_root: f & LF_LEAVE_ROOT != 0,
            open: f & LF_OPEN != 0,
        })
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

    /// Whether `m` carries a file-system request number.
    pub fn is_fs_request(m: &Message) -> bool {
        (READSUPER..=NEWNODE).contains(&m.mtype())
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

/// [`NodeAttr`] in the node slots of [`RepP`].
type NodeSlots = (U32, U16, U16, U16, U16, U64, U32);

impl Codec<NodeAttr, NodeSlots> for Le {
    fn enc(n: NodeAttr) -> NodeSlots {
        (
            U32::new(n.ino),
            U16::new(n.mode),
            U16::new(n.uid),
            U16::new(n.gid),
            U16::new(n.nlinks),
            U64::new(n.size),
            U32::new(n.rdev),
        )
    }
    fn dec((ino, mode, uid, gid, nlinks, size, rdev): NodeSlots) -> Result<NodeAttr, Errno> {
        Ok(NodeAttr {
            ino: ino.get(),
            mode: mode.get(),
            uid: uid.get(),
            gid: gid.get(),
            nlinks: nlinks.get(),
            size: size.get(),
            rdev: rdev.get(),
        })
    }
}

/// The error of an error reply; a zero status there is malformed
/// (`EGENERIC`), a positive one `EBADCALL`.
struct ErrStatus;

impl Codec<Errno, I32> for ErrStatus {
    fn enc(e: Errno) -> I32 {
        I32::new(-e.code())
    }
    fn dec(w: I32) -> Result<Errno, Errno> {
        Ok(match Errno::from_status(w.get()) {
            Err(e) => e,
            Ok(()) => Errno::EGENERIC,
        })
    }
}

messages! {
    /// The wire form of [`FsReply`]: one message per answer kind.
    #[derive(Clone, Copy)]
    enum Rep in RepP, unknown EBADCALL {
        Error = R_ERROR {
            id: u64 => id,
            errno: Errno => status via ErrStatus,
        },
        Done = R_DONE {
            id: u64 => id,
        },
        Node = R_NODE {
            id: u64 => id,
            node: NodeAttr => (ino, mode, uid, gid, nlinks, size, rdev),
        },
        Found = R_FOUND {
            id: u64 => id,
            node: NodeAttr => (ino, mode, uid, gid, nlinks, size, rdev),
            parent: u32 => ino2,
        },
        Symlink = R_SYMLINK {
            id: u64 => id,
            ino: u32 => ino,
            dir: u32 => ino2,
            consumed: u32 => consumed,
        },
        MountPoint = R_MOUNTPOINT {
            id: u64 => id,
            ino: u32 => ino,
            consumed: u32 => consumed,
        },
        LeaveRoot = R_LEAVEROOT {
            id: u64 => id,
            consumed: u32 => consumed,
        },
        Count = R_COUNT {
            id: u64 => id,
            n: u64 => size,
            // The position rides in ino/ino2 (low/high halves).
            pos: u64 => (ino, ino2) via Split64,
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

/// [`FsStat`] in the slots of [`StatP`].
type StatSlots = (U32, U16, U16, U16, U16, U64, U32, U32, U32, U32, U32);

impl Codec<FsStat, StatSlots> for Le {
    fn enc(s: FsStat) -> StatSlots {
        (
            U32::new(s.ino),
            U16::new(s.mode),
            U16::new(s.nlinks),
            U16::new(s.uid),
            U16::new(s.gid),
            U64::new(s.size),
            U32::new(s.atime),
            U32::new(s.mtime),
            U32::new(s.ctime),
            U32::new(s.rdev),
            U32::new(s.blksize),
        )
    }
    fn dec(
        (ino, mode, nlinks, uid, gid, size, atime, mtime, ctime, rdev, blksize): StatSlots,
    ) -> Result<FsStat, Errno> {
        Ok(FsStat {
            ino: ino.get(),
            mode: mode.get(),
            nlinks: nlinks.get(),
            uid: uid.get(),
            gid: gid.get(),
            size: size.get(),
            atime: atime.get(),
            mtime: mtime.get(),
            ctime: ctime.get(),
            rdev: rdev.get(),
            blksize: blksize.get(),
        })
    }
}

/// [`FsStatVfs`] in the slots of [`StatVfsP`].
type StatVfsSlots = (U32, U32, U64, U64, U64, U64);

impl Codec<FsStatVfs, StatVfsSlots> for Le {
    fn enc(s: FsStatVfs) -> StatVfsSlots {
        (
            U32::new(s.bsize),
            U32::new(s.namemax),
            U64::new(s.blocks),
            U64::new(s.bfree),
            U64::new(s.files),
            U64::new(s.ffree),
        )
    }
    fn dec(
        (bsize, namemax, blocks, bfree, files, ffree): StatVfsSlots,
    ) -> Result<FsStatVfs, Errno> {
        Ok(FsStatVfs {
            bsize: bsize.get(),
            namemax: namemax.get(),
            blocks: blocks.get(),
            bfree: bfree.get(),
            files: files.get(),
            ffree: ffree.get(),
        })
    }
}

impl FsReply {
    /// Encode.
    pub fn to_message(&self) -> Message {
        let id = self.id;
        match self.result {
            Err(errno) => Rep::Error { id, errno },
            Ok(FsAnswer::Done) => Rep::Done { id },
            Ok(FsAnswer::Node(node)) => Rep::Node { id, node },
            Ok(FsAnswer::Walk(WalkOutcome::Found { node, parent })) => {
                Rep::Found { id, node, parent }
            }
            Ok(FsAnswer::Walk(WalkOutcome::Symlink { ino, dir, consumed })) => Rep::Symlink {
                id,
                ino,
                dir,
                consumed,
            },
            Ok(FsAnswer::Walk(WalkOutcome::MountPoint { ino, consumed })) => {
                Rep::MountPoint { id, ino, consumed }
            }
            Ok(FsAnswer::Walk(WalkOutcome::LeaveRoot { consumed })) => {
                Rep::LeaveRoot { id, consumed }
            }
            Ok(FsAnswer::Count { n, pos }) => Rep::Count { id, n, pos },
            Ok(FsAnswer::Stat(s)) => Rep::Stat { id, s },
            Ok(FsAnswer::StatVfs(s)) => Rep::StatVfs { id, s },
        }
        .to_message()
    }

    /// Whether `m` carries a file-system reply number.
    pub fn is_fs_reply(m: &Message) -> bool {
        (R_ERROR..=R_STATVFS).contains(&m.mtype())
    }
}

impl TryFrom<&Message> for FsReply {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        let (id, result) = match Rep::try_from(m)? {
            Rep::Error { id, errno } => (id, Err(errno)),
            Rep::Done { id } => (id, Ok(FsAnswer::Done)),
            Rep::Node { id, node } => (id, Ok(FsAnswer::Node(node))),
            Rep::Found { id, node, parent } => {
                (id, Ok(FsAnswer::Walk(WalkOutcome::Found { node, parent })))
            }
            Rep::Symlink {
                id,
                ino,
                dir,
                consumed,
            } => (
                id,
                Ok(FsAnswer::Walk(WalkOutcome::Symlink { ino, dir, consumed })),
            ),
            Rep::MountPoint { id, ino, consumed } => (
                id,
                Ok(FsAnswer::Walk(WalkOutcome::MountPoint { ino, consumed })),
            ),
            Rep::LeaveRoot { id, consumed } => {
                (id, Ok(FsAnswer::Walk(WalkOutcome::LeaveRoot { consumed })))
            }
            Rep::Count { id, n, pos } => (id, Ok(FsAnswer::Count { n, pos })),
            Rep::Stat { id, s } => (id, Ok(FsAnswer::Stat(s))),
            Rep::StatVfs { id, s } => (id, Ok(FsAnswer::StatVfs(s))),
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
    use crate::proto::wire::hex;
    use alloc::string::String;
    use alloc::vec::Vec;

    const GOLDEN: &[&str] = &[
        "600:01",
        "601:02",
        "602:03000000000000000100000000000000040000000a00000000000000000000000000000000000000000000000700090005",
        "603:04000000000000000200000000000000050000000300000000000000000000000000000000000000a4010000070009",
        "604:05000000000000000200000000000000050000000300000000000000000000000000000000000000ed010000070009",
        "605:06000000000000000200000000000000050000000300000000000000000000000000000000000000a461000007000900000000000103",
        "606:0700000000000000020000000000000001000000010000000000000000000000000000000000000000000000070009",
        "607:0800000000000000020000000000000001000000010000000000000000000000000000000000000000000000070009",
        "608:0900000000000000020000000300000001000000020000000400000005000000000000000000000000000000070009",
        "609:0a00000000000000020000002100000001000000020000000000000000000000000000000000000000000000070009",
        "60a:0b00000000000000020000000000000001000000020000000300000004000000000000000000000000000000070009",
        "60b:0c0000000000000005000000000000000100000064",
        "60c:0d000000000000000500000000000000010000006400000000000000000000000000000002000000000000000000000004",
        "60d:0e000000000000000500000000000000010000006400000000000000000000004d",
        "60e:0f000000000000000500000000000000000000000000000000000000000000000000000008",
        "60f:100000000000000005",
        "610:11000000000000000500000000000000000000000000000000000000000000000000000000000000ed090000070009",
        "611:12000000000000000500000000000000000000000000000000000000000000000000000000000000ffff0300070009",
        "612:13000000000000000500000000000000000000000000000000000000000000000000000000000000640000000700090000000000c8",
        "613:140000000000000001000000000000000200000000100000000000000000000080",
        "614:15",
        "615:16",
        "616:1700000000000000090000000000000000000000000000000000000000000000000000000000000000000000000000000000000002",
        "617:18000000000000000900000000000000000000000000000000000000000000000000000000000000000000000000000001",
        "618:1900000000000000000000000000000000000000000000000000000000000000000000000000000080110000070009",
        "680:0000000044332211feffffff",
        "680:0100000044332211beffffff",
        "681:0200000044332211",
        "682:030000004433221100000000050000000000000000000000a4810100020001000000000004",
        "683:040000004433221100000000050000000100000000000000a4810100020001000000000004",
        "684:050000004433221100000000040000000100000008",
        "685:060000004433221100000000040000000000000003",
        "686:0700000044332211",
        "687:08000000443322110000000003000000000100000000000000000000000000000010",
        "688:090000004433221103000000ed410200000000008000000000000000010000000200000003000000000000000010",
        "689:0a00000044332211001000003c0000006400000000000000320000000000000040000000000000003c",
    ];
    use alloc::vec;

    fn b(g: u32, l: u32) -> Buf {
        buf(g, l)
    }

    /// One instance of each request: the round trip and the golden
    /// wire bytes use the same list.
    fn sample_requests() -> Vec<FsRequest> {
        let c = Cred { uid: 7, gid: 9 };
        vec![
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
        ]
    }

    fn sample_node() -> NodeAttr {
        NodeAttr {
            ino: 5,
            mode: 0o100644,
            uid: 1,
            gid: 2,
            nlinks: 1,
            size: 1 << 34,
            rdev: 0,
        }
    }

    /// One answer of each kind (round trip and golden bytes).
    fn sample_answers(node: NodeAttr) -> Vec<Result<FsAnswer, Errno>> {
        vec![
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
        ]
    }

    #[test]
    fn requests_roundtrip() {
        let reqs = sample_requests();
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
        let node = sample_node();
        let answers = sample_answers(node);
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

    /// The wire bytes of one instance of each message, fixed from the
    /// hand-written encoder this module had before it was declared with
    /// `messages!`.
    #[test]
    fn golden_wire_bytes() {
        let reqs = sample_requests();
        let node = sample_node();
        let answers = sample_answers(node);
        let mut got: Vec<String> = reqs.iter().map(|r| hex(&r.to_message())).collect();
        for (i, result) in answers.into_iter().enumerate() {
            got.push(hex(&FsReply {
                id: 0x1122_3344_0000_0000 + i as u64,
                result,
            }
            .to_message()));
        }
        assert_eq!(got, GOLDEN);
    }
}
