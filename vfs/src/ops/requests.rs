//! Filling in a request's id and grants just before it is sent: file
//! server, pipe and character-device requests.

use pfs::pipe::Access;
use pfs::proto::PipeRequest;
use sys::proto::cdev::CdevRequest;
use sys::proto::fs::{Buf, FsRequest};
use sys::proto::vfs::oflag;

/// `req` with request id `id` and grants `b1`/`b2` filled in.
pub fn with_bufs(req: FsRequest, id: u64, b1: Option<Buf>, b2: Option<Buf>) -> FsRequest {
    use FsRequest::*;
    let z = Buf {
        grant: sys::GrantId(0),
        len: 0,
    };
    let b1 = b1.unwrap_or(z);
    let b2 = b2.unwrap_or(z);
    match req {
        ReadSuper { .. } => ReadSuper { id },
        Unmount { .. } => Unmount { id },
        Lookup {
            dir, flags, cred, ..
        } => Lookup {
            id,
            dir,
            path: b1,
            flags,
            cred,
        },
        Create {
            dir, mode, cred, ..
        } => Create {
            id,
            dir,
            name: b1,
            mode,
            cred,
        },
        Mkdir {
            dir, mode, cred, ..
        } => Mkdir {
            id,
            dir,
            name: b1,
            mode,
            cred,
        },
        Mknod {
            dir,
            mode,
            rdev,
            cred,
            ..
        } => Mknod {
            id,
            dir,
            name: b1,
            mode,
            rdev,
            cred,
        },
        Unlink { dir, cred, .. } => Unlink {
            id,
            dir,
            name: b1,
            cred,
        },
        Rmdir { dir, cred, .. } => Rmdir {
            id,
            dir,
            name: b1,
            cred,
        },
        Rename {
            old_dir,
            new_dir,
            cred,
            ..
        } => Rename {
            id,
            old_dir,
            old_name: b1,
            new_dir,
            new_name: b2,
            cred,
        },
        Link { dir, ino, cred, .. } => Link {
            id,
            dir,
            name: b1,
            ino,
            cred,
        },
        Symlink { dir, cred, .. } => Symlink {
            id,
            dir,
            name: b1,
            target: b2,
            cred,
        },
        Readlink { ino, .. } => Readlink { id, ino, buf: b1 },
        Read {
            ino, pos, flags, ..
        } => Read {
            id,
            ino,
            pos,
            buf: b1,
            flags,
        },
        Write {
            ino, pos, flags, ..
        } => Write {
            id,
            ino,
            pos,
            buf: b1,
            flags,
        },
        Truncate { ino, size, .. } => Truncate { id, ino, size },
        Stat { ino, .. } => Stat { id, ino },
        Chmod {
            ino, mode, cred, ..
        } => Chmod {
            id,
            ino,
            mode,
            cred,
        },
        Chown {
            ino,
            uid,
            gid,
            cred,
            ..
        } => Chown {
            id,
            ino,
            uid,
            gid,
            cred,
        },
        Utimes {
            ino,
            atime,
            mtime,
            cred,
            ..
        } => Utimes {
            id,
            ino,
            atime,
            mtime,
            cred,
        },
        Getdents { ino, pos, .. } => Getdents {
            id,
            ino,
            pos,
            buf: b1,
        },
        Statvfs { .. } => Statvfs { id },
        Sync { .. } => Sync { id },
        Putnode { ino, count, .. } => Putnode { id, ino, count },
        Mountpoint { ino, on, .. } => Mountpoint { id, ino, on },
        NewNode {
            mode, rdev, cred, ..
        } => NewNode {
            id,
            mode,
            rdev,
            cred,
        },
    }
}

/// `p` with request id `id`.
pub fn pipe_with_id(p: PipeRequest, id: u64) -> PipeRequest {
    match p {
        PipeRequest::Open {
            key,
            access,
            nonblock,
            ..
        } => PipeRequest::Open {
            id,
            key,
            access,
            nonblock,
        },
        PipeRequest::Close { ino, access, .. } => PipeRequest::Close { id, ino, access },
        PipeRequest::Select {
            ino, ops, block, ..
        } => PipeRequest::Select {
            id,
            ino,
            ops,
            block,
        },
        PipeRequest::Cancel { target, .. } => PipeRequest::Cancel { id, target },
    }
}

/// `c` with request id `id` and, for reads and writes, grant `b`.
pub fn cdev_with(c: CdevRequest, id: u64, b: Option<Buf>) -> CdevRequest {
    let g = b.map(|b| b.grant).unwrap_or(sys::GrantId(0));
    match c {
        CdevRequest::Open { minor, access, .. } => CdevRequest::Open { id, minor, access },
        CdevRequest::Close { minor, .. } => CdevRequest::Close { id, minor },
        CdevRequest::Read {
            minor,
            size,
            nonblock,
            ..
        } => CdevRequest::Read {
            id,
            minor,
            grant: g,
            size,
            nonblock,
        },
        CdevRequest::Write {
            minor,
            size,
            nonblock,
            ..
        } => CdevRequest::Write {
            id,
            minor,
            grant: g,
            size,
            nonblock,
        },
        // A cancel names the request it cancels: keep that id.
        CdevRequest::Cancel { id, minor } => CdevRequest::Cancel { id, minor },
        CdevRequest::Select {
            minor, ops, notify, ..
        } => CdevRequest::Select {
            id,
            minor,
            ops,
            notify,
        },
        CdevRequest::Ioctl {
            minor, req, len, ..
        } => CdevRequest::Ioctl {
            id,
            minor,
            req,
            grant: g,
            len,
        },
    }
}

pub(super) fn cdev_access(flags: u32) -> u32 {
    use sys::proto::cdev::access;
    match flags & oflag::O_ACCMODE {
        oflag::O_RDONLY => access::READ,
        oflag::O_WRONLY => access::WRITE,
        _ => access::READ | access::WRITE,
    }
}

pub(super) fn access_of(flags: u32) -> Access {
    match flags & oflag::O_ACCMODE {
        oflag::O_RDONLY => Access::Read,
        oflag::O_WRONLY => Access::Write,
        _ => Access::ReadWrite,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::no_buf;
    use sys::GrantId;
    use sys::proto::fs::Cred;

    fn b(g: u32, l: u32) -> Option<Buf> {
        Some(Buf {
            grant: GrantId(g),
            len: l,
        })
    }

    #[test]
    fn with_bufs_fills_id_and_grants_and_keeps_the_rest() {
        let cred = Cred { uid: 3, gid: 4 };
        let r = with_bufs(
            FsRequest::Rename {
                id: 0,
                old_dir: 5,
                old_name: no_buf(),
                new_dir: 6,
                new_name: no_buf(),
                cred,
            },
            77,
            b(1, 2),
            b(3, 4),
        );
        assert_eq!(
            r,
            FsRequest::Rename {
                id: 77,
                old_dir: 5,
                old_name: b(1, 2).unwrap(),
                new_dir: 6,
                new_name: b(3, 4).unwrap(),
                cred,
            }
        );
        let r = with_bufs(
            FsRequest::Write {
                id: 0,
                ino: 9,
                pos: 1 << 40,
                buf: no_buf(),
                flags: 8,
            },
            5,
            b(7, 100),
            None,
        );
        assert_eq!(r.id(), 5);
        assert!(
            matches!(r, FsRequest::Write { ino: 9, pos, buf, flags: 8, .. } if pos == 1 << 40 && buf.len == 100)
        );
        assert_eq!(with_bufs(FsRequest::Sync { id: 1 }, 9, None, None).id(), 9);
    }

    #[test]
    fn pipe_requests_get_their_id() {
        let p = pipe_with_id(
            PipeRequest::Close {
                id: 0,
                ino: 4,
                access: Access::Write,
            },
            12,
        );
        assert_eq!(p.id(), 12);
        assert_eq!(access_of(oflag::O_RDONLY), Access::Read);
        assert_eq!(access_of(oflag::O_WRONLY | oflag::O_APPEND), Access::Write);
        assert_eq!(access_of(oflag::O_RDWR), Access::ReadWrite);
    }
}
