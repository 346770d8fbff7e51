//! File descriptors: the caller's table, install and close, dup and
//! fcntl, closing all of them at exec and exit.

use pfs::proto::PipeRequest;
use sys::Errno;
use sys::proto::cdev::CdevRequest;
use sys::proto::fs::FsRequest;
use sys::proto::vfs::{mode, oflag};

use crate::{Filp, GSpec, OPEN_MAX};

use super::requests::access_of;
use super::{R, V};

impl V {
    pub(super) fn filp(&self, fd: i32) -> R<(usize, Filp)> {
        let st = self.st.borrow();
        let p = st.procs.get(&self.caller.0).ok_or(Errno::EBADF)?;
        let idx = usize::try_from(fd)
            .ok()
            .and_then(|i| p.fds.get(i).copied().flatten())
            .ok_or(Errno::EBADF)?;
        let f = st.filps.get(idx).cloned().flatten().ok_or(Errno::EBADF)?;
        Ok((idx, f))
    }

    pub(super) fn set_pos(&self, idx: usize, pos: u64) {
        if let Some(Some(f)) = self.st.borrow_mut().filps.get_mut(idx) {
            f.pos = pos;
        }
    }

    /// Sets `FD_CLOEXEC` on the caller's descriptor `fd` (just opened).
    pub(super) fn set_cloexec(&self, fd: i32) {
        if let Ok(fd) = u32::try_from(fd)
            && fd < 64
        {
            let caller = self.caller;
            self.st.borrow_mut().proc_mut(caller).cloexec |= 1u64 << fd;
        }
    }

    pub(super) fn install(&self, filp: Filp) -> R<i32> {
        let mut st = self.st.borrow_mut();
        let caller = self.caller;
        let fd = st
            .proc_mut(caller)
            .fds
            .iter()
            .position(|f| f.is_none())
            .ok_or(Errno::EMFILE)?;
        let idx = match st.filps.iter().position(|f| f.is_none()) {
            Some(i) => {
                st.filps[i] = Some(filp);
                i
            }
            None => {
                st.filps.push(Some(filp));
                st.filps.len() - 1
            }
        };
        st.proc_mut(caller).fds[fd] = Some(idx);
        Ok(fd as i32)
    }

    /// Drop descriptor `fd`; the file server's reference goes with the
    /// last descriptor of the open file.
    pub(super) async fn close_fd(&self, fd: i32) -> R<()> {
        let (idx, _) = self.filp(fd)?;
        let last = {
            let mut st = self.st.borrow_mut();
            let caller = self.caller;
            st.proc_mut(caller).fds[fd as usize] = None;
            st.proc_mut(caller).cloexec &= !(1u64 << fd);
            let f = st.filps[idx].as_mut().ok_or(Errno::EBADF)?;
            f.refs -= 1;
            if f.refs == 0 {
                st.filps[idx].take()
            } else {
                None
            }
        };
        if let Some(f) = last {
            if self.is_cdev_mnt(f.mnt) {
                // A file the driver lost (restart) has nothing to close.
                if f.generation == self.cdev_generation(f.mnt) {
                    let c = CdevRequest::Close {
                        id: 0,
                        minor: f.ino,
                    };
                    let _ = self.cdev_req(f.mnt, c, GSpec::None).await;
                }
            } else if self.is_pipe_mnt(f.mnt) {
                let p = PipeRequest::Close {
                    id: 0,
                    ino: f.ino,
                    access: access_of(f.flags),
                };
                // The end is gone from the caller's view whatever PFS says.
                let _ = self.pipe_req(f.mnt, p).await;
            } else if f.mode & mode::S_IFMT != mode::S_IFREG {
                // A block device is written back on its last close, which
                // must be done when close returns.
                self.put(f.mnt, f.ino).await;
            } else {
                // A regular file's close(2) answers at once: the file
                // server drops the reference when it gets to it (before
                // any later request).
                self.fs_detached(
                    f.mnt,
                    FsRequest::Putnode {
                        id: 0,
                        ino: f.ino,
                        count: 1,
                    },
                );
            }
        }
        Ok(())
    }

    pub(super) fn dup(&self, fd: i32, to: Option<i32>) -> R<(i32, Option<i32>)> {
        let (idx, _) = self.filp(fd)?;
        let mut st = self.st.borrow_mut();
        let caller = self.caller;
        let target = match to {
            Some(t) => {
                if t < 0 || t as usize >= OPEN_MAX {
                    return Err(Errno::EBADF);
                }
                if t == fd {
                    return Ok((t, None));
                }
                t as usize
            }
            None => st
                .proc_mut(caller)
                .fds
                .iter()
                .position(|f| f.is_none())
                .ok_or(Errno::EMFILE)?,
        };
        // An open target is closed first (by the caller of dup2).
        let was_open = st.proc_mut(caller).fds[target].is_some();
        if was_open {
            return Ok((target as i32, Some(target as i32)));
        }
        st.proc_mut(caller).fds[target] = Some(idx);
        st.proc_mut(caller).cloexec &= !(1u64 << target);
        if let Some(Some(f)) = st.filps.get_mut(idx) {
            f.refs += 1;
        }
        Ok((target as i32, None))
    }

    pub(super) fn fcntl(&self, fd: i32, cmd: u32, arg: i64) -> R<i64> {
        use sys::proto::vfs::fcntl::*;
        let (idx, f) = self.filp(fd)?;
        let mut st = self.st.borrow_mut();
        let caller = self.caller;
        let p = st.proc_mut(caller);
        let bit = 1u64 << fd;
        match cmd {
            F_DUPFD => {
                let from = usize::try_from(arg)
                    .ok()
                    .filter(|&a| a < OPEN_MAX)
                    .ok_or(Errno::EINVAL)?;
                let t = (from..OPEN_MAX)
                    .find(|&i| p.fds[i].is_none())
                    .ok_or(Errno::EMFILE)?;
                p.fds[t] = Some(idx);
                p.cloexec &= !(1u64 << t);
                if let Some(Some(f)) = st.filps.get_mut(idx) {
                    f.refs += 1;
                }
                Ok(t as i64)
            }
            F_GETFD => Ok(i64::from(p.cloexec & bit != 0)),
            F_SETFD => {
                if arg & FD_CLOEXEC != 0 {
                    p.cloexec |= bit;
                } else {
                    p.cloexec &= !bit;
                }
                Ok(0)
            }
            F_GETFL => Ok(i64::from(
                f.flags & (oflag::O_ACCMODE | oflag::O_APPEND | oflag::O_NONBLOCK),
            )),
            F_SETFL => {
                let settable = oflag::O_APPEND | oflag::O_NONBLOCK;
                if let Some(Some(f)) = st.filps.get_mut(idx) {
                    f.flags = (f.flags & !settable) | (arg as u32 & settable);
                }
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        }
    }
}

impl V {
    /// Close the caller's descriptors (only the close-on-exec ones if
    /// `cloexec`) as close(2) does: pipe ends wake their peers, the last
    /// descriptor of a file drops its file-server reference.
    pub(super) async fn close_all(&self, cloexec: bool) {
        for fd in 0..OPEN_MAX {
            let open = self.st.borrow().procs.get(&self.caller.0).is_some_and(|p| {
                p.fds[fd].is_some() && (!cloexec || p.cloexec & (1u64 << fd) != 0)
            });
            if open {
                let _ = self.close_fd(fd as i32).await;
            }
        }
    }

    /// Forget the caller: every descriptor closed, its working and root
    /// directories released, its entry removed.
    pub(super) async fn forget(&self) {
        self.close_all(false).await;
        let dirs = self
            .st
            .borrow_mut()
            .procs
            .get_mut(&self.caller.0)
            .map(|p| (p.cwd.take(), p.root.take()));
        if let Some((cwd, root)) = dirs {
            for (m, i) in [cwd, root].into_iter().flatten() {
                self.put(m, i).await;
            }
        }
        self.st.borrow_mut().procs.remove(&self.caller.0);
    }
}
