//! select(2): waits on file servers, drivers and a timeout, whichever
//! is first.

use alloc::vec::Vec;
use core::pin::Pin;

use pfs::proto::PipeRequest;
use sys::Errno;
use sys::proto::cdev::CdevRequest;
use sys::proto::fs::{FsAnswer, FsRequest};
use sys::proto::vfs::{mode, oflag};

use crate::{FsFuture, FsOp, GSpec, OPEN_MAX, Shared, Sleep};

use super::{R, V};

impl V {
    /// select(2) over regular files (always ready) and pipes/FIFOs (asked
    /// of PFS). Returns the count of ready (fd, set) pairs and the sets.
    pub(super) async fn select(
        &self,
        nfds: i32,
        sets: [u64; 3],
        timeout: Option<(i64, i64)>,
    ) -> R<(i64, [u64; 3])> {
        use pfs::pipe::{SEL_ERR, SEL_RD, SEL_WR};
        let n = usize::try_from(nfds)
            .ok()
            .filter(|&n| n <= OPEN_MAX)
            .ok_or(Errno::EINVAL)?;
        let ticks = match timeout {
            None => None,
            Some((sec, usec)) => {
                if sec < 0 || !(0..1_000_000).contains(&usec) {
                    return Err(Errno::EINVAL);
                }
                let hz = sys::HZ as i64;
                let t = sec
                    .saturating_mul(hz)
                    .saturating_add((usec * hz + 999_999) / 1_000_000);
                Some(t as u64)
            }
        };
        let block = ticks != Some(0);
        let deadline = ticks.map(|t| self.st.borrow().now.saturating_add(t));
        // (fd, ops wanted, filp, is a pipe)
        let mut entries = Vec::new();
        for fd in 0..n {
            let bit = 1u64 << fd;
            let ops = (u8::from(sets[0] & bit != 0) * SEL_RD)
                | (u8::from(sets[1] & bit != 0) * SEL_WR)
                | (u8::from(sets[2] & bit != 0) * SEL_ERR);
            if ops == 0 {
                continue;
            }
            let (idx, f) = self.filp(fd as i32)?;
            let pipe = self.is_pipe_mnt(f.mnt);
            let cdev = self.is_cdev_mnt(f.mnt);
            if !pipe && !cdev && f.mode & mode::S_IFMT != mode::S_IFREG {
                // MINIX: no select type for directories and block devices.
                return Err(Errno::EBADF);
            }
            entries.push((fd, ops, f, pipe, cdev, idx));
        }
        loop {
            let mut ready = [0u64; 3];
            let mut count = 0i64;
            for &(fd, ops, ref f, pipe, cdev, idx) in &entries {
                let mut got = 0u8;
                // A device or pipe end not open for an op is "ready" for
                // it: the call would not block (it fails at once). MINIX
                // decides this without asking the driver.
                if cdev || pipe {
                    let acc = f.flags & oflag::O_ACCMODE;
                    if acc == oflag::O_WRONLY {
                        got |= ops & SEL_RD;
                    }
                    if acc == oflag::O_RDONLY {
                        got |= ops & SEL_WR;
                    }
                }
                if cdev {
                    // A device whose driver is down for good or cannot
                    // reopen it reports ready (its calls fail at once).
                    let ask = ops & !got;
                    if ask != 0 {
                        let c = CdevRequest::Select {
                            id: 0,
                            minor: f.ino,
                            ops: u32::from(ask),
                            notify: false,
                        };
                        got |= match self.cdev_io(idx, f, c, GSpec::None, true).await {
                            Ok((n, _)) => (n as u8) & ask,
                            Err(_) => ask,
                        };
                    }
                } else if pipe {
                    let ask = ops & !got;
                    if ask != 0 {
                        let p = PipeRequest::Select {
                            id: 0,
                            ino: f.ino,
                            ops: ask,
                            block: false,
                        };
                        match self.pipe_req(f.mnt, p).await {
                            Ok(FsAnswer::Count { n, .. }) => got |= (n as u8) & ask,
                            // A pipe that cannot be asked reports ready.
                            _ => got |= ask,
                        }
                    }
                } else {
                    got = ops;
                }
                for (k, op) in [SEL_RD, SEL_WR, SEL_ERR].into_iter().enumerate() {
                    if got & op != 0 {
                        ready[k] |= 1u64 << fd;
                        count += 1;
                    }
                }
            }
            if count > 0 || !block {
                return Ok((count, ready));
            }
            if deadline.is_some_and(|d| self.st.borrow().now >= d) {
                return Ok((0, [0; 3]));
            }
            // Wait for the first of: a pipe becoming ready, the timeout.
            let mut waiters: Vec<Waiter> = Vec::new();
            let mut early = false;
            for &(_, ops, ref f, pipe, cdev, idx) in &entries {
                if cdev {
                    let key = (f.mnt, f.ino);
                    self.st.borrow_mut().cdev_ready.remove(&key);
                    let c = CdevRequest::Select {
                        id: 0,
                        minor: f.ino,
                        ops: u32::from(ops),
                        notify: true,
                    };
                    match self.cdev_io(idx, f, c, GSpec::None, true).await {
                        Ok((n, _)) if (n as u8) & ops == 0 => {
                            let g = self.cdev_generation(f.mnt);
                            waiters.push(Waiter::Cdev(self.st.clone(), key, ops, g));
                        }
                        // Ready already, or the driver failed: rescan.
                        _ => early = true,
                    }
                }
                if pipe {
                    let p = PipeRequest::Select {
                        id: 0,
                        ino: f.ino,
                        ops,
                        block: true,
                    };
                    let op = FsOp {
                        mnt: f.mnt,
                        req: FsRequest::Sync { id: 0 },
                        g1: GSpec::None,
                        g2: GSpec::None,
                        pipe: Some(p),
                        cdev: None,
                        ds_label: None,
                    };
                    waiters.push(Waiter::Fs(f.mnt, FsFuture::new(self.st.clone(), op)));
                }
            }
            if let Some(d) = deadline {
                waiters.push(Waiter::Sleep(Sleep::until(self.st.clone(), d)));
            }
            if early {
                continue;
            }
            if waiters.is_empty() {
                // Nothing can ever become ready and no timeout: MINIX would
                // sleep for ever; report nothing instead of hanging.
                return Ok((0, [0; 3]));
            }
            let won = FirstOf(&mut waiters).await;
            // Cancel the blocking queries still outstanding in PFS.
            let mut cancels = Vec::new();
            for (i, w) in waiters.iter().enumerate() {
                if i != won
                    && let Waiter::Fs(mnt, f) = w
                    && f.request_id() != 0
                {
                    cancels.push((*mnt, f.request_id()));
                }
            }
            let timed_out = matches!(waiters[won], Waiter::Sleep(_));
            drop(waiters);
            for (mnt, target) in cancels {
                let _ = self
                    .pipe_req(mnt, PipeRequest::Cancel { id: 0, target })
                    .await;
            }
            if timed_out {
                return Ok((0, [0; 3]));
            }
            // Something became ready, or a driver died under the select
            // (it forgot the query): scan again; the new instance is asked
            // once it is back.
        }
    }
}

/// Something a select waits on.
enum Waiter {
    Fs(usize, FsFuture),
    Sleep(Sleep),
    /// Unprompted readiness of (driver mount, minor) for these ops, or
    /// the death of the driver (generation at the query).
    Cdev(Shared, (usize, u32), u8, u32),
}

/// Completes with the index of the first waiter that completes.
struct FirstOf<'a>(&'a mut Vec<Waiter>);

impl core::future::Future for FirstOf<'_> {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut core::task::Context<'_>) -> core::task::Poll<usize> {
        use core::task::Poll;
        // Poll every waiter (the first poll of each queues its request).
        let mut done = None;
        for (i, w) in self.0.iter_mut().enumerate() {
            let ready = match w {
                Waiter::Fs(_, f) => Pin::new(f).poll(cx).is_ready(),
                Waiter::Sleep(s) => Pin::new(s).poll(cx).is_ready(),
                Waiter::Cdev(st, key, ops, generation) => {
                    let st = st.borrow();
                    // A driver that died since forgot the query: ready.
                    let gone = st
                        .mounts
                        .get(key.0)
                        .is_none_or(|m| m.generation != *generation);
                    st.cdev_ready
                        .get(key)
                        .is_some_and(|&r| r & u32::from(*ops) != 0)
                        || gone
                }
            };
            if ready && done.is_none() {
                done = Some(i);
            }
        }
        match done {
            Some(i) => Poll::Ready(i),
            None => Poll::Pending,
        }
    }
}
