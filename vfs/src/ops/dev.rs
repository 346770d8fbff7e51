//! Pipes and character devices: requests to PFS and to drivers, and
//! waiting for a restarted driver.

use alloc::vec::Vec;

use pfs::pipe::Access;
use pfs::proto::PipeRequest;
use sys::Errno;
use sys::proto::cdev::CdevRequest;
use sys::proto::fs::{FsAnswer, FsRequest};
use sys::proto::vfs::{mode, oflag};

use crate::{Filp, FsFuture, FsOp, GSpec};

use super::requests::cdev_access;
use super::{DriverBack, R, V};

impl V {
    pub(super) async fn pipe_req(&self, mnt: usize, p: PipeRequest) -> R<FsAnswer> {
        let op = FsOp {
            mnt,
            req: FsRequest::Sync { id: 0 },
            g1: GSpec::None,
            g2: GSpec::None,
            pipe: Some(p),
            cdev: None,
            ds_label: None,
        };
        FsFuture::new(self.st.clone(), op).await.map(|r| r.0)
    }

    pub(super) fn pipe_mnt(&self) -> Option<usize> {
        self.st.borrow().mounts.iter().position(|m| m.pipes)
    }

    pub(super) fn is_pipe_mnt(&self, mnt: usize) -> bool {
        self.st.borrow().mounts.get(mnt).is_some_and(|m| m.pipes)
    }

    pub(super) fn is_cdev_mnt(&self, mnt: usize) -> bool {
        self.st
            .borrow()
            .mounts
            .get(mnt)
            .is_some_and(|m| m.cdev.is_some())
    }

    pub(super) fn cdev_generation(&self, mnt: usize) -> u32 {
        self.st
            .borrow()
            .mounts
            .get(mnt)
            .map(|m| m.generation)
            .unwrap_or(0)
    }

    /// A character-driver request; the answer's count and filled buffer
    /// (`EIO` if the driver is dead or died before answering).
    pub(super) async fn cdev_req(
        &self,
        mnt: usize,
        c: CdevRequest,
        g1: GSpec,
    ) -> R<(u64, Option<Vec<u8>>)> {
        match self.cdev_once(mnt, c, g1).await {
            Err(crate::DRIVER_DIED | crate::DRIVER_UNREACHED) => Err(Errno::EIO),
            r => r,
        }
    }

    /// [`Self::cdev_req`], but a driver that died before answering gives
    /// [`crate::DRIVER_DIED`], one that could not be sent to
    /// [`crate::DRIVER_UNREACHED`].
    pub(super) async fn cdev_once(
        &self,
        mnt: usize,
        c: CdevRequest,
        g1: GSpec,
    ) -> R<(u64, Option<Vec<u8>>)> {
        let op = FsOp {
            mnt,
            req: FsRequest::Sync { id: 0 },
            g1,
            g2: GSpec::None,
            pipe: None,
            cdev: Some(c),
            ds_label: None,
        };
        match FsFuture::new(self.st.clone(), op).await? {
            (FsAnswer::Count { n, .. }, d) => Ok((n, d)),
            _ => Err(Errno::EIO),
        }
    }

    /// Request `c` on open device file `idx`, sent when the driver is
    /// running (the file reopened on a new instance first). A request that
    /// could not be sent (the driver is dead) waits for the new instance.
    /// With `resend`, one the driver took and died before answering — a
    /// read, a select query, an ioctl: nothing the driver accepted is lost
    /// by asking again — goes to the new instance as well instead of
    /// failing; without (a write, which may have been taken in), `EIO`.
    /// `EIO` if the driver is down for good or the reopen fails.
    pub(super) async fn cdev_io(
        &self,
        idx: usize,
        f: &Filp,
        c: CdevRequest,
        g: GSpec,
        resend: bool,
    ) -> R<(u64, Option<Vec<u8>>)> {
        use crate::{DRIVER_DIED, DRIVER_UNREACHED};
        loop {
            DriverBack {
                st: self.st.clone(),
                mnt: f.mnt,
            }
            .await?;
            match self.cdev_usable(idx, f).await {
                // The reopen met the next death: wait for that one.
                Err(DRIVER_DIED | DRIVER_UNREACHED) => continue,
                Err(_) => return Err(Errno::EIO),
                Ok(()) => {}
            }
            match self.cdev_once(f.mnt, c, g.clone()).await {
                Err(DRIVER_UNREACHED) => continue,
                Err(DRIVER_DIED) if resend => continue,
                Err(DRIVER_DIED) => return Err(Errno::EIO),
                r => return r,
            }
        }
    }

    /// A device file whose driver restarted since it was opened is opened
    /// again on the new instance (MINIX reopen); the open's error (the
    /// driver-death markers as they are).
    async fn cdev_usable(&self, idx: usize, f: &Filp) -> R<()> {
        let generation = self.cdev_generation(f.mnt);
        // The open file's current generation (a resend reopened it already).
        let fgen = match self.st.borrow().filps.get(idx) {
            Some(Some(x)) if x.mnt == f.mnt && x.ino == f.ino => x.generation,
            _ => f.generation,
        };
        if fgen == generation {
            return Ok(());
        }
        let c = CdevRequest::Open {
            id: 0,
            minor: f.ino,
            access: cdev_access(f.flags),
        };
        self.cdev_once(f.mnt, c, GSpec::None).await?;
        // Opened on the instance of `generation` (a later restart makes
        // the next use reopen again).
        if let Some(Some(fp)) = self.st.borrow_mut().filps.get_mut(idx)
            && fp.mnt == f.mnt
            && fp.ino == f.ino
        {
            fp.generation = generation;
        }
        Ok(())
    }

    pub(super) async fn pipe(&self) -> R<i64> {
        let mnt = self.pipe_mnt().ok_or(Errno::ENOSYS)?;
        let req = FsRequest::NewNode {
            id: 0,
            mode: mode::S_IFIFO | 0o600,
            rdev: 0,
            cred: self.cred,
        };
        let FsAnswer::Node(n) = self.fs_simple(mnt, req).await? else {
            return Err(Errno::EIO);
        };
        let end = |flags| Filp {
            mnt,
            ino: n.ino,
            mode: mode::S_IFIFO | 0o600,
            flags,
            pos: 0,
            refs: 1,
            generation: 0,
            node: None,
        };
        let rd = match self.install(end(oflag::O_RDONLY)) {
            Ok(fd) => fd,
            Err(e) => {
                let req = FsRequest::Putnode {
                    id: 0,
                    ino: n.ino,
                    count: 1,
                };
                let _ = self.fs_simple(mnt, req).await;
                return Err(e);
            }
        };
        match self.install(end(oflag::O_WRONLY)) {
            Ok(wr) => Ok(sys::proto::vfs::join_pipe_fds(rd, wr)),
            Err(e) => {
                let _ = self.close_fd(rd).await;
                let p = PipeRequest::Close {
                    id: 0,
                    ino: n.ino,
                    access: Access::Write,
                };
                let _ = self.pipe_req(mnt, p).await;
                Err(e)
            }
        }
    }
}
