//! PM's process calls (fork, exit, exec) and VM's block-device peek as
//! jobs.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::pin::Pin;

use sys::proto::fs::{Buf, Cred, FsAnswer, FsRequest, LookupFlags};
use sys::proto::vfs::{mode, oflag};
use sys::{Endpoint, Errno, GrantAccess};

use crate::{GSpec, MAX_IO, Shared};

use super::{JobFut, R, V, no_buf, stat_out, value};
use sys::fsserver::permitted;

impl V {
    /// One more file-server reference on directory `(mnt, ino)` (an
    /// empty-path open lookup).
    async fn reference(&self, (mnt, ino): (usize, u32)) -> R<()> {
        let req = FsRequest::Lookup {
            id: 0,
            dir: ino,
            path: no_buf(),
            flags: LookupFlags {
                follow_last: true,
                leave_at_root: false,
                open: true,
            },
            cred: Cred::ROOT,
        };
        self.fs(mnt, req, GSpec::In(Vec::new()), GSpec::None)
            .await
            .map(drop)
    }
}

/// Completes when process `ep` has no call in progress (see
/// [`crate::State::busy`]).
struct Drained {
    st: Shared,
    ep: Endpoint,
}

impl core::future::Future for Drained {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut core::task::Context<'_>) -> core::task::Poll<()> {
        if self.st.borrow().busy.get(&self.ep.0).copied().unwrap_or(0) == 0 {
            core::task::Poll::Ready(())
        } else {
            core::task::Poll::Pending
        }
    }
}

/// PM's Fork: `child` gets a copy of `parent`'s table (the same open
/// files, each one more descriptor), directories (one more reference
/// each), umask and credentials. `EEXIST` if VFS knows `child` already.
pub fn pm_fork(st: Shared, id: u64, parent: Endpoint, child: Endpoint) -> JobFut {
    let copied = {
        let mut s = st.borrow_mut();
        if s.procs.contains_key(&child.0) {
            Err(Errno::EEXIST)
        } else {
            let mut p = s.procs.get(&parent.0).cloned().unwrap_or_default();
            // The controlling terminal is inherited, session leadership
            // is not.
            p.session_leader = false;
            for idx in p.fds.iter().flatten() {
                if let Some(Some(f)) = s.filps.get_mut(*idx) {
                    f.refs += 1;
                }
            }
            // The directories are the child's once referenced for it.
            let dirs = (p.cwd.take(), p.root.take());
            s.procs.insert(child.0, p);
            Ok(dirs)
        }
    };
    let v = V::of(st, child);
    Box::pin(async move {
        let (cwd, root) = match copied {
            Ok(d) => d,
            Err(e) => return value(id, Err(e)),
        };
        let mut r = Ok(());
        for (d, is_root) in [(cwd, false), (root, true)] {
            let Some(d) = d else { continue };
            r = v.reference(d).await;
            if r.is_err() {
                break;
            }
            let mut s = v.st.borrow_mut();
            if let Some(p) = s.procs.get_mut(&child.0) {
                if is_root {
                    p.root = Some(d);
                } else {
                    p.cwd = Some(d);
                }
            }
        }
        if let Err(e) = r {
            // Undo: the child never existed for VFS.
            v.forget().await;
            return value(id, Err(e));
        }
        value(id, Ok(0))
    })
}

/// PM's Exit: once no call of `ep` is in progress (VFS dropped the
/// suspended ones and answers none of the others), its descriptors are
/// closed and it is forgotten.
pub fn pm_exit(st: Shared, id: u64, ep: Endpoint) -> JobFut {
    let v = V::of(st, ep);
    Box::pin(async move {
        Drained {
            st: v.st.clone(),
            ep,
        }
        .await;
        v.forget().await;
        value(id, Ok(0))
    })
}

/// PM's ExecCheck: `ep`'s descriptor `fd` is a regular file `ep` may
/// execute (effective ids; root needs one x bit); answers its stat.
pub fn pm_exec_check(st: Shared, id: u64, ep: Endpoint, fd: i32) -> JobFut {
    let v = V::of(st, ep);
    Box::pin(async move {
        let r = async {
            let (_, f) = v.filp(fd)?;
            if f.node.is_some() || v.is_pipe_mnt(f.mnt) || v.is_cdev_mnt(f.mnt) {
                return Err(Errno::EACCES);
            }
            // The attributes now, not at open (chmod since).
            let s = v.stat_ino(f.mnt, f.ino).await?;
            if s.mode & mode::S_IFMT != mode::S_IFREG {
                return Err(Errno::EACCES);
            }
            let x = if v.cred.uid == 0 {
                s.mode & 0o111 != 0
            } else {
                permitted(s.mode, s.uid, s.gid, v.cred, 1)
            };
            if !x {
                return Err(Errno::EACCES);
            }
            Ok(s)
        }
        .await;
        stat_out(id, r)
    })
}

/// VM's PeekDev: up to `buf.len` bytes from `pos` of the block device on
/// `ep`'s descriptor `fd`, read by the file server hosting the node (its
/// `bio`, through its cache) straight into VM's buffer `buf`; the
/// descriptor's offset does not move. Answers the bytes read.
pub fn vm_peek_dev(
    st: Shared,
    id: u64,
    vm: Endpoint,
    ep: Endpoint,
    fd: i32,
    pos: u64,
    buf: Buf,
) -> JobFut {
    let v = V::of(st, ep);
    Box::pin(async move { value(id, v.peek_dev(vm, fd, pos, buf).await.map(|n| n as i64)) })
}

impl V {
    async fn peek_dev(&self, vm: Endpoint, fd: i32, pos: u64, buf: Buf) -> R<u64> {
        let (_, f) = self.filp(fd)?;
        if f.mode & mode::S_IFMT != mode::S_IFBLK
            || self.is_cdev_mnt(f.mnt)
            || self.is_pipe_mnt(f.mnt)
        {
            return Err(Errno::ENODEV);
        }
        if f.flags & oflag::O_ACCMODE == oflag::O_WRONLY {
            return Err(Errno::EACCES);
        }
        let len = (buf.len as usize).min(MAX_IO);
        if len == 0 {
            return Ok(0);
        }
        let req = FsRequest::Read {
            id: 0,
            ino: f.ino,
            pos,
            buf: no_buf(),
            flags: f.flags,
        };
        // VM's grant passed on: the file server copies into VM's memory.
        let into = GSpec::Pass {
            from: vm,
            grant: buf.grant,
            len,
            access: GrantAccess::WRITE,
        };
        let (ans, _) = self.fs(f.mnt, req, into, GSpec::None).await?;
        let FsAnswer::Count { n, .. } = ans else {
            return Err(Errno::EIO);
        };
        if n > len as u64 {
            return Err(Errno::EIO);
        }
        Ok(n)
    }
}

/// PM's ExecDone: `ep`'s close-on-exec descriptors are closed.
pub fn pm_exec_done(st: Shared, id: u64, ep: Endpoint) -> JobFut {
    let v = V::of(st, ep);
    Box::pin(async move {
        v.close_all(true).await;
        value(id, Ok(0))
    })
}
