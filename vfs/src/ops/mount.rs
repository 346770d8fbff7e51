//! mount and umount at run time, and the mounts at start-up.

use alloc::boxed::Box;
use alloc::vec::Vec;

use sys::proto::fs::{Cred, FsAnswer, FsRequest};
use sys::{Endpoint, Errno};

use crate::{FsFuture, FsOp, GSpec, Mount, MountSpec, Shared};

use super::{JobFut, R, V, done, is_dir, value};

impl V {
    /// mount(2): the file server `ep` (looked up by label) on `path`.
    pub(super) async fn mount(&self, path: &[u8], label: &[u8]) -> R<()> {
        if self.cred.uid != 0 {
            return Err(Errno::EPERM);
        }
        // The file server is found by its label in DS, asked without
        // blocking VFS.
        let key = core::str::from_utf8(label).map_err(|_| Errno::EINVAL)?;
        let op = FsOp {
            mnt: 0,
            req: FsRequest::Sync { id: 0 },
            g1: GSpec::None,
            g2: GSpec::None,
            pipe: None,
            cdev: None,
            ds_label: Some(key.into()),
        };
        let ep = match FsFuture::new(self.st.clone(), op).await {
            Ok((FsAnswer::Count { n, .. }, _)) => Endpoint(n as u32),
            _ => return Err(Errno::ENODEV),
        };
        let busy = self
            .st
            .borrow()
            .mounts
            .iter()
            .any(|m| m.ep == ep && !m.pipes && m.cdev.is_none());
        if busy {
            return Err(Errno::EBUSY);
        }
        let n = self.resolve(path, true, false).await?;
        if !is_dir(n.attr.mode) {
            return Err(Errno::ENOTDIR);
        }
        let covers_root = self
            .st
            .borrow()
            .mounts
            .get(n.mnt)
            .is_some_and(|m| m.root == n.attr.ino);
        if covers_root {
            return Err(Errno::EBUSY);
        }
        let idx = {
            let mut st = self.st.borrow_mut();
            st.mounts.push(Mount {
                label: core::str::from_utf8(label).unwrap_or("?").into(),
                ep,
                root: 0,
                covered: None,
                pipes: false,
                cdev: None,
                generation: 0,
                death_counted: false,
                down: false,
            });
            st.mounts.len() - 1
        };
        let r = async {
            let root = match self.fs_simple(idx, FsRequest::ReadSuper { id: 0 }).await? {
                FsAnswer::Node(r) => r.ino,
                _ => return Err(Errno::EIO),
            };
            let req = FsRequest::Mountpoint {
                id: 0,
                ino: n.attr.ino,
                on: true,
            };
            self.fs_simple(n.mnt, req).await?;
            Ok(root)
        }
        .await;
        let mut st = self.st.borrow_mut();
        match r {
            Ok(root) => {
                st.mounts[idx].root = root;
                st.mounts[idx].covered = Some((n.mnt, n.attr.ino));
                Ok(())
            }
            Err(e) => {
                // Never reachable: not covering anything.
                st.mounts[idx].ep = Endpoint::NONE;
                Err(e)
            }
        }
    }

    /// umount(2): `path` names the root of a mounted file system; `/`
    /// itself only when nothing else is mounted or open (shutdown).
    pub(super) async fn umount(&self, path: &[u8]) -> R<()> {
        if self.cred.uid != 0 {
            return Err(Errno::EPERM);
        }
        let n = self.resolve(path, true, false).await?;
        let (covered, busy) = {
            let st = self.st.borrow();
            let m = st.mounts.get(n.mnt).ok_or(Errno::EINVAL)?;
            if m.root != n.attr.ino || (n.mnt != 0 && m.covered.is_none()) {
                return Err(Errno::EINVAL);
            }
            let busy = st
                .filps
                .iter()
                .flatten()
                .any(|f| f.mnt == n.mnt || f.node.is_some_and(|(fm, _)| fm == n.mnt))
                || st
                    .mounts
                    .iter()
                    .any(|x| x.covered.is_some_and(|(pm, _)| pm == n.mnt))
                || st.procs.values().any(|p| {
                    p.cwd.is_some_and(|(cm, _)| cm == n.mnt)
                        || p.root.is_some_and(|(rm, _)| rm == n.mnt)
                });
            (m.covered, busy)
        };
        if busy {
            return Err(Errno::EBUSY);
        }
        if n.mnt == 0 {
            // The root, at shutdown: the file system is written back and
            // marked clean; every later call fails with ENXIO (see
            // `Vfs::call`).
            self.fs_simple(0, FsRequest::Unmount { id: 0 }).await?;
            self.st.borrow_mut().mounts[0].ep = Endpoint::NONE;
            return Ok(());
        }
        let Some((pm, pino)) = covered else {
            return Err(Errno::EINVAL);
        };
        self.fs_simple(n.mnt, FsRequest::Unmount { id: 0 }).await?;
        let req = FsRequest::Mountpoint {
            id: 0,
            ino: pino,
            on: false,
        };
        self.fs_simple(pm, req).await?;
        let mut st = self.st.borrow_mut();
        st.mounts[n.mnt].covered = None;
        st.mounts[n.mnt].ep = Endpoint::NONE;
        Ok(())
    }
}

/// The start-up job: read the root's superblock, then mount each further
/// file system on its mount point.
pub fn mount_all(
    st: Shared,
    specs: Vec<MountSpec>,
    pipes: Option<MountSpec>,
    cdevs: Vec<(u32, MountSpec)>,
) -> JobFut {
    let v = V {
        st,
        caller: Endpoint::NONE,
        cred: Cred::ROOT,
        umask: 0,
    };
    Box::pin(async move {
        let r: R<()> = async {
            for (i, s) in specs.iter().enumerate() {
                let covered = if i == 0 {
                    None
                } else {
                    let n = v.resolve(s.path.as_bytes(), true, false).await?;
                    if !is_dir(n.attr.mode) {
                        return Err(Errno::ENOTDIR);
                    }
                    Some((n.mnt, n.attr.ino))
                };
                // The new server must be in the table before it can be asked.
                v.st.borrow_mut().mounts.push(Mount {
                    label: s.label.clone(),
                    ep: s.ep,
                    root: 0,
                    covered: None,
                    pipes: false,
                    cdev: None,
                    generation: 0,
                    death_counted: false,
                    down: false,
                });
                let root = match v.fs_simple(i, FsRequest::ReadSuper { id: 0 }).await? {
                    FsAnswer::Node(n) => n.ino,
                    _ => return Err(Errno::EIO),
                };
                if let Some((pm, pino)) = covered {
                    v.fs_simple(
                        pm,
                        FsRequest::Mountpoint {
                            id: 0,
                            ino: pino,
                            on: true,
                        },
                    )
                    .await?;
                }
                let mut st = v.st.borrow_mut();
                st.mounts[i].root = root;
                st.mounts[i].covered = covered;
            }
            for (major, c) in cdevs {
                v.st.borrow_mut().mounts.push(Mount {
                    label: c.label,
                    ep: c.ep,
                    root: 0,
                    covered: None,
                    pipes: false,
                    cdev: Some(major),
                    generation: 0,
                    death_counted: false,
                    down: false,
                });
            }
            if let Some(p) = pipes {
                v.st.borrow_mut().mounts.push(Mount {
                    label: p.label,
                    ep: p.ep,
                    root: 0,
                    covered: None,
                    pipes: true,
                    cdev: None,
                    generation: 0,
                    death_counted: false,
                    down: false,
                });
            }
            Ok(())
        }
        .await;
        value(0, done(r))
    })
}
