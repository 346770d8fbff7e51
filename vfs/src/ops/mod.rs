//! The POSIX calls as jobs: `async` code that awaits file-server answers
//! through [`FsFuture`]. User data is copied in before a job starts
//! ([`start_call`]) and out when it ends ([`Outcome::copy_out`]).
//!
//! PM's process calls are jobs too ([`pm_fork`], [`pm_exit`],
//! [`pm_exec_check`], [`pm_exec_done`]); they act on the named process's
//! tables and answer PM. So is VM's [`vm_peek_dev`] (the bytes of a block
//! device mapping), answered to VM.
//!
//! Simplifications (documented, not hidden): each open, working directory
//! and chroot directory holds its own file-server reference (no shared
//! vnode table).
//!
//! This file holds a job's handle on VFS state (`V`) with its file-server
//! requests and the job helpers; the rest is by concern: `call` (the
//! dispatch of each call to its job), `path` (roots, working directories,
//! the walk), `fd` (descriptor tables), `io` (open, read, write, ioctl,
//! lseek, getdents), `dev` (pipes and character devices), `select`,
//! `mount`, `pm` (PM's and VM's jobs) and `requests` (a request's id and
//! grants filled in at send time).

mod call;
mod dev;
mod fd;
mod io;
mod mount;
mod path;
mod pm;
mod requests;
mod select;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::pin::Pin;

use sys::proto::fs::{Buf, Cred, FsAnswer, FsRequest, FsStat, NodeAttr};
use sys::proto::vfs::{VfsAnswer, VfsReply, mode};
use sys::{Endpoint, Errno, Sys};

use crate::{FsFuture, FsOp, GSpec, Outcome, Shared};

pub use call::start_call;
pub use mount::mount_all;
pub use pm::{pm_exec_check, pm_exec_done, pm_exit, pm_fork, vm_peek_dev};
pub use requests::{cdev_with, pipe_with_id, with_bufs};

type R<T> = Result<T, Errno>;

/// A job's handle on VFS state for one caller.
#[derive(Clone)]
struct V {
    st: Shared,
    caller: Endpoint,
    cred: Cred,
    /// The caller's umask.
    umask: u16,
}

fn no_buf() -> Buf {
    Buf {
        grant: sys::GrantId(0),
        len: 0,
    }
}

fn is_dir(m: u16) -> bool {
    m & mode::S_IFMT == mode::S_IFDIR
}

/// A resolved path.
#[derive(Debug, Clone, Copy)]
struct Node {
    mnt: usize,
    attr: NodeAttr,
}

impl V {
    async fn fs(
        &self,
        mnt: usize,
        req: FsRequest,
        g1: GSpec,
        g2: GSpec,
    ) -> R<(FsAnswer, Option<Vec<u8>>)> {
        FsFuture::new(
            self.st.clone(),
            FsOp {
                mnt,
                req,
                g1,
                g2,
                pipe: None,
                cdev: None,
                ds_label: None,
            },
        )
        .await
    }

    async fn fs_simple(&self, mnt: usize, req: FsRequest) -> R<FsAnswer> {
        self.fs(mnt, req, GSpec::None, GSpec::None)
            .await
            .map(|r| r.0)
    }

    /// umask(2): the previous mask.
    fn set_umask(&self, mask: u16) -> i64 {
        let mut st = self.st.borrow_mut();
        let p = st.proc_mut(self.caller);
        let old = p.umask;
        p.umask = mask & 0o777;
        i64::from(old)
    }

    /// Sends `req` without waiting for its answer (it is discarded). It is
    /// still held and resent with its id if the server dies, and the
    /// server's queue keeps it ahead of anything sent later, so a
    /// detached PUTNODE cannot overtake the next request about the inode.
    fn fs_detached(&self, mnt: usize, req: FsRequest) {
        let mut st = self.st.borrow_mut();
        let id = st.new_id();
        let job = st.current_job;
        st.outbox.push((
            job,
            id,
            FsOp {
                mnt,
                req,
                g1: GSpec::None,
                g2: GSpec::None,
                pipe: None,
                cdev: None,
                ds_label: None,
            },
        ));
        st.abandoned.insert(id);
    }

    async fn put(&self, mnt: usize, ino: u32) {
        // A failed put only leaks a reference in the file server.
        let _ = self
            .fs_simple(
                mnt,
                FsRequest::Putnode {
                    id: 0,
                    ino,
                    count: 1,
                },
            )
            .await;
    }

    async fn stat_ino(&self, mnt: usize, ino: u32) -> R<FsStat> {
        match self.fs_simple(mnt, FsRequest::Stat { id: 0, ino }).await? {
            FsAnswer::Stat(s) => Ok(s),
            _ => Err(Errno::EIO),
        }
    }
}

impl V {
    /// The handle of process `ep` (as PM names it): its credentials and
    /// umask, without creating an entry for a process VFS never saw.
    fn of(st: Shared, ep: Endpoint) -> V {
        let (cred, umask) = st
            .borrow()
            .procs
            .get(&ep.0)
            .map_or((Cred::ROOT, 0), |p| (p.cred, p.umask));
        V {
            st,
            caller: ep,
            cred,
            umask,
        }
    }
}

/// Completes when the character driver of mount `mnt` is running: at
/// once unless a death was counted and DS has not yet told of the new
/// instance; `EIO` if RS took it down for good.
struct DriverBack {
    st: Shared,
    mnt: usize,
}

impl core::future::Future for DriverBack {
    type Output = R<()>;
    fn poll(self: Pin<&mut Self>, _cx: &mut core::task::Context<'_>) -> core::task::Poll<R<()>> {
        use core::task::Poll;
        let st = self.st.borrow();
        match st.mounts.get(self.mnt) {
            None => Poll::Ready(Err(Errno::ENXIO)),
            Some(m) if m.down || m.ep == Endpoint::NONE => Poll::Ready(Err(Errno::EIO)),
            // Jobs are polled again when a DS change has been taken in.
            Some(m) if m.death_counted => Poll::Pending,
            Some(_) => Poll::Ready(Ok(())),
        }
    }
}

fn value(id: u64, r: R<i64>) -> Outcome {
    Outcome {
        reply: VfsReply {
            id,
            result: r.map(VfsAnswer::Value),
        },
        copy_out: None,
    }
}

fn stat_out(id: u64, r: R<FsStat>) -> Outcome {
    Outcome {
        reply: VfsReply {
            id,
            result: r.map(VfsAnswer::Stat),
        },
        copy_out: None,
    }
}

fn data_out(id: u64, buf: Buf, r: R<Vec<u8>>) -> Outcome {
    match r {
        Ok(d) => Outcome {
            reply: VfsReply {
                id,
                result: Ok(VfsAnswer::Value(d.len() as i64)),
            },
            copy_out: Some((buf, d)),
        },
        Err(e) => value(id, Err(e)),
    }
}

fn fetch(sys: &mut dyn Sys, from: Endpoint, b: Buf, limit: usize, too_long: Errno) -> R<Vec<u8>> {
    let n = b.len as usize;
    if n > limit {
        return Err(too_long);
    }
    let mut v = alloc::vec![0u8; n];
    if n > 0 {
        sys.safecopy_from(from, b.grant, 0, &mut v)
            .map_err(|_| Errno::EFAULT)?;
    }
    Ok(v)
}

fn done<T>(r: R<T>) -> R<i64> {
    r.map(|_| 0)
}

/// A job.
pub type JobFut = Pin<Box<dyn core::future::Future<Output = Outcome>>>;

/// `f` as a job. Each call's job is its own future (not one `async` block
/// over every call): a state machine's poll function keeps every branch's
/// temporaries, and in an unoptimised build one for all the calls needed
/// more than half of a native service's 64 KiB stack.
fn job(f: impl core::future::Future<Output = Outcome> + 'static) -> JobFut {
    Box::pin(f)
}
