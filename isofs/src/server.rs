//! The ISOFS server: serves the VFS<->FS protocol (`sys::proto::fs`),
//! read-only, over an [`IsoFs`] on a libminixfs [`Cache`] of 2 KiB blocks
//! over a block device (a libbdev client to a driver; in the simulator
//! libbdev's `SimDriver`).
//!
//! Served: READSUPER, LOOKUP (search permission on every directory, mount
//! points, symlinks and `..` at the root handed back to VFS), STAT, READ
//! (block by block straight from the cache into the client's grant, with
//! prefetch of sequential runs), GETDENTS, READLINK, STATVFS, MOUNTPOINT,
//! PUTNODE, SYNC and UNMOUNT. Every modifying call (create, mkdir, mknod,
//! unlink, rmdir, rename, link, symlink, write, truncate, chmod, chown,
//! utimes) is `EROFS`; NEWNODE (pipes) is `ENOSYS` as in MFS.
//!
//! Block-special nodes (the ISO's `/dev/c0d0`... when it is the root: the
//! installer writes disks through them) are served like MFS serves its
//! own: READ and WRITE go through libminixfs `bio` on a second cache of
//! 4 KiB blocks, on devices registered with
//! [`IsoServer::with_block_device`] and opened at their first use; a
//! PUTNODE of the node (VFS sends one at a device's last close) and SYNC
//! write its blocks back, and PUTNODE also closes the device, so the next
//! open sees a changed partition table. Their cached writes do not
//! survive a crash of the server (the CD's own blocks are all clean).
//!
//! Crash recovery (stateful restart). Inode numbers name directory records
//! on the medium (see [`crate::fs`]), so a restarted instance understands
//! every number VFS holds without any table. What must survive is small:
//! the mount ([`Volume`]: naming scheme, root, size) and the directories
//! other file systems are mounted on. It is saved through SEF (in DS,
//! crc32-sealed) after every mount and every MOUNTPOINT change, before the
//! answer goes out; a restarted instance remounts from it without reading
//! the volume descriptors again (checking the root) and keeps the mount
//! points, so lookups still stop where VFS mounted something. Nothing can
//! be half-applied: the file system never changes, and a resent request is
//! simply served again (no exactly-once record is needed; MOUNTPOINT on is
//! idempotent). The block cache holds only clean blocks and starts cold.
//! A stateless restart (no blob, or one refused by its checksum) mounts
//! from the volume descriptors and forgets the mount points.

use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use libminixfs::{BlockDevice, Cache};
use sys::fsserver::{self, DirTree};
use sys::proto::fs::{Buf, FsAnswer, FsReply, FsRequest, FsStat, FsStatVfs, NodeAttr};
use sys::proto::kernel::is_notify;
use sys::proto::rs::InitKind;
use sys::{Ctx, Endpoint, Errno as SysErrno, InitInfo, Message, Service};

use crate::block::{CachedBlocks, ISO_DEV};
use crate::error::IsoError;
use crate::format::{BLOCK, mode};
use crate::fs::{IsoFs, MountOptions, Naming, Stat, Volume};

/// Longest path a lookup accepts (MINIX `PATH_MAX`).
pub const PATH_MAX: usize = 4096;
/// Largest single read or getdents transfer.
pub const MAX_IO: usize = 1 << 20;

/// Opens the block device (a fresh libbdev handle each time: a new instance
/// cannot use the dead one's).
pub type DeviceOpener = Rc<dyn Fn() -> Result<Box<dyn BlockDevice>, SysErrno>>;

/// Server settings.
#[derive(Debug, Clone, Copy)]
pub struct IsoConfig {
    /// Cache buffers (2 KiB each).
    pub nr_bufs: usize,
    /// Keep the mount and mount points across a restart (SEF state).
    pub stateful: bool,
    /// The only process allowed to send requests, by DS label (`vfs` on
    /// the native system); `None` accepts any sender.
    pub client_label: Option<&'static str>,
    /// Mount options (ignore Rock Ridge or Joliet).
    pub mount: MountOptions,
}

impl Default for IsoConfig {
    fn default() -> Self {
        IsoConfig {
            nr_bufs: 512,
            stateful: true,
            client_label: None,
            mount: MountOptions::default(),
        }
    }
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IsoStats {
    /// Requests served.
    pub served: u64,
    /// Malformed or refused requests.
    pub bad: u64,
    /// Modifying requests refused with EROFS.
    pub erofs: u64,
}

/// What a restarted instance takes over (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoState {
    /// The mount.
    pub volume: Volume,
    /// Directories something is mounted on.
    pub mountpoints: BTreeSet<u32>,
}

/// Magic of [`IsoState::to_bytes`] ("ISOSTAT1").
const STATE_MAGIC: u64 = 0x3154_4154_534f_5349;

fn naming_code(n: Naming) -> u8 {
    match n {
        Naming::RockRidge => 1,
        Naming::Joliet => 2,
        Naming::Plain => 3,
    }
}

impl IsoState {
    /// The state as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let v = &self.volume;
        let mut out = Vec::new();
        out.extend_from_slice(&STATE_MAGIC.to_le_bytes());
        out.push(naming_code(v.naming));
        out.push(v.susp_skip);
        out.push(u8::from(v.has_joliet));
        out.push(u8::from(v.has_rock_ridge));
        for w in [
            v.blocks,
            v.root_extent,
            v.path_table,
            v.path_table_size,
            self.mountpoints.len() as u32,
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&v.volume_id);
        for &m in &self.mountpoints {
            out.extend_from_slice(&m.to_le_bytes());
        }
        out
    }

    /// Reads [`IsoState::to_bytes`]' output; `None` if malformed.
    pub fn from_bytes(b: &[u8]) -> Option<IsoState> {
        let magic = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
        if magic != STATE_MAGIC {
            return None;
        }
        let naming = match *b.get(8)? {
            1 => Naming::RockRidge,
            2 => Naming::Joliet,
            3 => Naming::Plain,
            _ => return None,
        };
        let word = |i: usize| -> Option<u32> {
            Some(u32::from_le_bytes(
                b.get(12 + 4 * i..16 + 4 * i)?.try_into().ok()?,
            ))
        };
        let n = word(4)? as usize;
        let mut volume_id = [0u8; 32];
        volume_id.copy_from_slice(b.get(32..64)?);
        let rest = b.get(64..)?;
        if rest.len() != n.checked_mul(4)? {
            return None;
        }
        let mountpoints = rest
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Some(IsoState {
            volume: Volume {
                naming,
                blocks: word(0)?,
                root_extent: word(1)?,
                susp_skip: b[9],
                has_joliet: b[10] != 0,
                has_rock_ridge: b[11] != 0,
                volume_id,
                path_table: word(2)?,
                path_table_size: word(3)?,
            },
            mountpoints,
        })
    }
}

/// The ISOFS server (run under `sys::Sef` with `StateStore::Ds`).
pub struct IsoServer {
    cfg: IsoConfig,
    opener: DeviceOpener,
    fs: Option<IsoFs<CachedBlocks>>,
    mountpoints: BTreeSet<u32>,
    stats: IsoStats,
    device_name: String,
    mount_problem: Option<String>,
    client: sys::ds::OnlyClient,
    restart_note: Option<String>,
    open_failed: bool,
    /// Block-special nodes served: (device number, opener); the device
    /// of index i is `FIRST_BDEV + i` in `bdev_cache`.
    bdevs: Vec<(u32, DeviceOpener)>,
    bdev_cache: Option<Rc<Cache>>,
    bdev_open: BTreeSet<libminixfs::Dev>,
}

/// Cache device number of the first block-special node's device.
const FIRST_BDEV: libminixfs::Dev = 1;
/// Block size and buffers of the block-device cache.
const BDEV_BLOCK: usize = 4096;
const BDEV_BUFS: usize = 256;

fn cache_err(e: libminixfs::CacheError) -> SysErrno {
    SysErrno::from_code(e.errno()).unwrap_or(SysErrno::EIO)
}

fn sys_err(e: IsoError) -> SysErrno {
    SysErrno::from_code(e.errno()).unwrap_or(SysErrno::EIO)
}

fn attr(st: &Stat) -> NodeAttr {
    NodeAttr {
        ino: st.ino,
        mode: st.mode,
        uid: st.uid,
        gid: st.gid,
        nlinks: st.nlinks,
        size: st.size,
        rdev: st.rdev,
    }
}

fn is_type(st: &Stat, t: u32) -> bool {
    u32::from(st.mode) & mode::S_IFMT == t
}

/// The permission rule every file server shares.
pub use sys::fsserver::permitted;

/// The path walk's view of the mounted volume.
impl DirTree for IsoFs<CachedBlocks> {
    fn root(&self) -> u32 {
        IsoFs::root(self)
    }
    fn node(&mut self, ino: u32) -> Result<NodeAttr, SysErrno> {
        self.stat(ino).map(|s| attr(&s)).map_err(sys_err)
    }
    fn lookup(&mut self, dir: u32, name: &[u8]) -> Result<u32, SysErrno> {
        IsoFs::lookup(self, dir, name).map_err(sys_err)
    }
}

impl IsoServer {
    /// A server with `cfg`, opening its device with `opener`.
    pub fn new(cfg: IsoConfig, opener: DeviceOpener) -> Self {
        IsoServer {
            cfg,
            opener,
            fs: None,
            mountpoints: BTreeSet::new(),
            stats: IsoStats::default(),
            device_name: String::from("device"),
            mount_problem: None,
            client: sys::ds::OnlyClient::new(cfg.client_label),
            restart_note: None,
            open_failed: false,
            bdevs: Vec::new(),
            bdev_cache: None,
            bdev_open: BTreeSet::new(),
        }
    }

    /// Serves block-special nodes of device number `rdev` (`major << 8 |
    /// minor`) through `opener`, opened at their first use.
    pub fn with_block_device(mut self, rdev: u32, opener: DeviceOpener) -> Self {
        self.bdevs.push((rdev, opener));
        self
    }

    /// The cache and device of a block-special node's `rdev`, the device
    /// opened and attached if it is not.
    fn bdev(&mut self, rdev: u32) -> Result<(Rc<Cache>, libminixfs::Dev), SysErrno> {
        let i = self
            .bdevs
            .iter()
            .position(|(r, _)| *r == rdev)
            .ok_or(SysErrno::ENXIO)?;
        let dev = FIRST_BDEV + i as libminixfs::Dev;
        let cache = self
            .bdev_cache
            .get_or_insert_with(|| Rc::new(Cache::new(BDEV_BUFS)))
            .clone();
        if !self.bdev_open.contains(&dev) {
            let d = (self.bdevs[i].1)()?;
            cache.attach(dev, d, BDEV_BLOCK).map_err(cache_err)?;
            self.bdev_open.insert(dev);
        }
        Ok((cache, dev))
    }

    /// Writes back a node's device and closes it.
    fn bdev_close(&mut self, rdev: u32) -> Result<(), SysErrno> {
        let Some(i) = self.bdevs.iter().position(|(r, _)| *r == rdev) else {
            return Ok(());
        };
        let dev = FIRST_BDEV + i as libminixfs::Dev;
        if let Some(cache) = &self.bdev_cache
            && self.bdev_open.contains(&dev)
        {
            // Dropping the device closes it.
            drop(cache.detach(dev).map_err(cache_err)?);
            self.bdev_open.remove(&dev);
        }
        Ok(())
    }

    /// WRITE to a block-special node; anything else on the CD is EROFS.
    fn write_bdev(
        &mut self,
        cx: &mut Ctx<'_>,
        from: Endpoint,
        ino: u32,
        pos: u64,
        buf: Buf,
    ) -> Result<FsAnswer, SysErrno> {
        let st = self.fs.as_ref().and_then(|fs| fs.stat(ino).ok());
        let Some(st) = st.filter(|st| is_type(st, mode::S_IFBLK)) else {
            self.stats.erofs += 1;
            return Err(SysErrno::EROFS);
        };
        let v = fsserver::fetch(cx.sys, from, buf, MAX_IO)?;
        let (cache, dev) = self.bdev(st.rdev)?;
        let n = libminixfs::bio::write(&cache, dev, pos, &v).map_err(cache_err)?;
        Ok(FsAnswer::Count {
            n: n as u64,
            pos: pos + n as u64,
        })
    }

    /// Name the device in log lines (e.g. `virtio-blk minor 1`).
    pub fn with_device_name(mut self, name: &str) -> Self {
        self.device_name = String::from(name);
        self
    }

    /// Counters.
    pub fn stats(&self) -> IsoStats {
        self.stats
    }

    /// Whether a volume is mounted.
    pub fn is_mounted(&self) -> bool {
        self.fs.is_some()
    }

    /// The cache of the mounted volume (counters in tests and benchmarks).
    pub fn cache(&self) -> Option<Rc<Cache>> {
        self.fs.as_ref().map(|f| f.io().cache().clone())
    }

    /// How the last init treated the previous instance's state.
    pub fn restart_note(&self) -> Option<&str> {
        self.restart_note.as_deref()
    }

    /// One line saying what is mounted (the boot log's mount line).
    pub fn mount_summary(&self) -> Option<String> {
        let fs = self.fs.as_ref()?;
        let v = fs.volume();
        let id = core::str::from_utf8(&v.volume_id).unwrap_or("?").trim_end();
        Some(format!(
            "{}: ISO 9660 volume \"{id}\", {:?} names, {} blocks of 2 KiB ({} KiB){}",
            self.device_name,
            v.naming,
            v.blocks,
            u64::from(v.blocks) * 2,
            if v.has_joliet && v.naming != Naming::Joliet {
                ", Joliet tree present"
            } else {
                ""
            }
        ))
    }

    fn state(&self) -> Option<IsoState> {
        Some(IsoState {
            volume: self.fs.as_ref()?.volume(),
            mountpoints: self.mountpoints.clone(),
        })
    }

    fn save(&self, cx: &mut Ctx<'_>) -> Result<(), SysErrno> {
        if !self.cfg.stateful {
            return Ok(());
        }
        match self.state() {
            Some(s) => cx.save_state(&s.to_bytes()),
            None => Ok(()),
        }
    }

    /// Mounts: from `saved` (a restart) or from the volume descriptors.
    fn mount(&mut self, saved: Option<&IsoState>) -> Result<(), SysErrno> {
        self.mount_problem = None;
        self.open_failed = false;
        self.fs = None;
        let device = match (self.opener)() {
            Ok(d) => d,
            Err(e) => {
                self.open_failed = true;
                self.mount_problem = Some(format!("cannot open the device: {e}"));
                return Err(e);
            }
        };
        let cache = Cache::new(self.cfg.nr_bufs);
        // Every block is clean and the cache is never handed to a
        // successor: a checksum of what is read would guard nothing.
        cache.set_checksum_clean(false);
        let io = CachedBlocks::attach(Rc::new(cache), ISO_DEV, device).map_err(sys_err)?;
        let r = match saved {
            Some(s) => IsoFs::remount(io, s.volume),
            None => IsoFs::mount(io, self.cfg.mount),
        };
        match r {
            Ok(fs) => {
                self.fs = Some(fs);
                Ok(())
            }
            Err(e) => {
                self.mount_problem = Some(format!("{e}"));
                Err(sys_err(e))
            }
        }
    }

    fn apply(
        &mut self,
        cx: &mut Ctx<'_>,
        from: Endpoint,
        req: &FsRequest,
    ) -> Result<FsAnswer, SysErrno> {
        use FsRequest::*;
        match *req {
            ReadSuper { .. } => {
                if self.fs.is_none() {
                    // Not mounted (failed at init, or unmounted): try now.
                    self.mount(None)?;
                    self.save(cx)?;
                }
                let fs = self.fs.as_ref().ok_or(SysErrno::EIO)?;
                return fs
                    .stat(fs.root())
                    .map(|s| FsAnswer::Node(attr(&s)))
                    .map_err(sys_err);
            }
            Unmount { .. } => {
                if self.fs.take().is_none() {
                    return Err(SysErrno::EINVAL);
                }
                self.mountpoints.clear();
                return Ok(FsAnswer::Done);
            }
            Create { .. }
            | Mkdir { .. }
            | Mknod { .. }
            | Unlink { .. }
            | Rmdir { .. }
            | Rename { .. }
            | Link { .. }
            | Symlink { .. }
            | Truncate { .. }
            | Chmod { .. }
            | Chown { .. }
            | Utimes { .. } => {
                self.stats.erofs += 1;
                return Err(SysErrno::EROFS);
            }
            NewNode { .. } => return Err(SysErrno::ENOSYS),
            Write { ino, pos, buf, .. } => return self.write_bdev(cx, from, ino, pos, buf),
            Read { ino, pos, buf, .. } => {
                let fs = self.fs.as_ref().ok_or(SysErrno::EIO)?;
                let st = fs.stat(ino).map_err(sys_err)?;
                if is_type(&st, mode::S_IFBLK) {
                    let len = (buf.len as usize).min(MAX_IO);
                    let mut v = vec![0u8; len];
                    let (cache, dev) = self.bdev(st.rdev)?;
                    let n = libminixfs::bio::read(&cache, dev, pos, &mut v).map_err(cache_err)?;
                    cx.sys
                        .safecopy_to(from, buf.grant, 0, &v[..n])
                        .map_err(|_| SysErrno::EFAULT)?;
                    return Ok(FsAnswer::Count {
                        n: n as u64,
                        pos: pos + n as u64,
                    });
                }
            }
            Putnode { ino, .. } => {
                let rdev = self
                    .fs
                    .as_ref()
                    .and_then(|fs| fs.stat(ino).ok())
                    .filter(|st| is_type(st, mode::S_IFBLK))
                    .map(|st| st.rdev);
                if let Some(rdev) = rdev {
                    self.bdev_close(rdev)?;
                }
                return Ok(FsAnswer::Done);
            }
            Sync { .. } => {
                if let Some(cache) = &self.bdev_cache {
                    for &dev in &self.bdev_open {
                        cache.flush_dev(dev).map_err(cache_err)?;
                    }
                }
                return Ok(FsAnswer::Done);
            }
            _ => {}
        }
        let fs = self.fs.as_ref().ok_or(SysErrno::EIO)?;
        let e = sys_err;
        Ok(match *req {
            Lookup {
                dir,
                path,
                flags,
                cred,
                ..
            } => {
                let p = fsserver::fetch(cx.sys, from, path, PATH_MAX)?;
                let fs = self.fs.as_mut().ok_or(SysErrno::EIO)?;
                let mounts = &self.mountpoints;
                FsAnswer::Walk(fsserver::walk(fs, dir, &p, flags, cred, |i| {
                    mounts.contains(&i)
                })?)
            }
            Mountpoint { ino, on, .. } => {
                let st = fs.stat(ino).map_err(e)?;
                if !is_type(&st, mode::S_IFDIR) {
                    return Err(SysErrno::ENOTDIR);
                }
                // Idempotent: a request resent after a crash finds it set.
                if on {
                    self.mountpoints.insert(ino);
                } else {
                    self.mountpoints.remove(&ino);
                }
                self.save(cx)?;
                FsAnswer::Done
            }
            Stat { ino, .. } => {
                let s = fs.stat(ino).map_err(e)?;
                FsAnswer::Stat(FsStat {
                    ino: s.ino,
                    mode: s.mode,
                    nlinks: s.nlinks,
                    uid: s.uid,
                    gid: s.gid,
                    size: s.size,
                    atime: s.atime,
                    mtime: s.mtime,
                    ctime: s.ctime,
                    rdev: s.rdev,
                    blksize: BLOCK as u32,
                })
            }
            Readlink { ino, buf, .. } => {
                let t = fs.readlink(ino).map_err(e)?;
                fsserver::reply_bytes(cx.sys, from, buf, &t)?
            }
            Read { ino, pos, buf, .. } => {
                let len = (buf.len as usize).min(MAX_IO);
                let mut copy_failed = false;
                let r = fs.read_with(ino, pos, len, |at, bytes| {
                    cx.sys.safecopy_to(from, buf.grant, at, bytes).map_err(|_| {
                        copy_failed = true;
                        IsoError::Device(5)
                    })
                });
                let n = match r {
                    Err(_) if copy_failed => return Err(SysErrno::EFAULT),
                    r => r.map_err(e)?,
                };
                FsAnswer::Count {
                    n: n as u64,
                    pos: pos + n as u64,
                }
            }
            Getdents { ino, pos, buf, .. } => {
                let cap = (buf.len as usize).min(MAX_IO);
                let ents = fs.getdents(ino, pos, cap / 16 + 1).map_err(e)?;
                let ents = ents.iter().map(|d| (d.ino, d.next_pos, &d.name[..]));
                fsserver::reply_dirents(cx.sys, from, buf, cap, pos, ents)?
            }
            Statvfs { .. } => {
                let s = fs.statvfs();
                FsAnswer::StatVfs(FsStatVfs {
                    bsize: s.bsize,
                    namemax: s.namemax,
                    blocks: s.blocks,
                    bfree: 0,
                    files: 0,
                    ffree: 0,
                })
            }
            _ => return Err(SysErrno::EINVAL),
        })
    }

    fn handle_request(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Message {
        let req = match FsRequest::try_from(&msg) {
            Ok(r) => r,
            Err(e) => {
                self.stats.bad += 1;
                return FsReply {
                    id: msg.request_id(),
                    result: Err(e),
                }
                .to_message();
            }
        };
        if !self.client.allows(cx.sys, msg.source()) {
            self.stats.bad += 1;
            return FsReply {
                id: msg.request_id(),
                result: Err(SysErrno::EPERM),
            }
            .to_message();
        }
        self.stats.served += 1;
        let result = self.apply(cx, msg.source(), &req);
        FsReply {
            id: req.id(),
            result,
        }
        .to_message()
    }
}

impl Service for IsoServer {
    fn init(&mut self, cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), SysErrno> {
        let restart = info.kind != InitKind::Fresh || info.restarts > 0;
        let saved = info
            .state
            .as_deref()
            .filter(|_| self.cfg.stateful)
            .and_then(IsoState::from_bytes);
        self.restart_note = None;
        let mounted = match &saved {
            Some(s) => match self.mount(Some(s)) {
                Ok(()) => {
                    self.mountpoints = s.mountpoints.clone();
                    self.restart_note = Some(format!(
                        "took over the mount and {} mount point(s)",
                        self.mountpoints.len()
                    ));
                    Ok(())
                }
                Err(_) if !self.open_failed => {
                    self.restart_note = Some(String::from(
                        "the saved mount no longer fits the volume; mounted afresh",
                    ));
                    self.mount(None)
                }
                Err(e) => Err(e),
            },
            None => {
                if restart {
                    self.restart_note = Some(String::from(
                        "no saved state; mounted afresh (mount points forgotten)",
                    ));
                }
                self.mount(None)
            }
        };
        if let Some(note) = &self.restart_note {
            cx.sys
                .log(&format!("isofs: {}: restart: {note}", cx.label()));
        }
        match mounted {
            Ok(()) => {
                if let Err(e) = self.save(cx) {
                    cx.sys.log(&format!(
                        "isofs: {}: cannot save the mount state: {e}",
                        cx.label()
                    ));
                }
                if let Some(line) = self.mount_summary() {
                    cx.sys.log(&format!("isofs: {} {line}", cx.label()));
                }
            }
            Err(e) if restart && self.open_failed => {
                cx.sys.log(&format!(
                    "isofs: {}: restart: {}: {e}; RS will try again",
                    cx.label(),
                    self.mount_problem.clone().unwrap_or_default()
                ));
                return Err(SysErrno::EAGAIN);
            }
            Err(e) => {
                // Stay up unmounted: VFS learns the error from READSUPER.
                cx.sys.log(&format!(
                    "isofs: {}: cannot mount {}: {e}: {}",
                    cx.label(),
                    self.device_name,
                    self.mount_problem.clone().unwrap_or_default()
                ));
            }
        }
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        if is_notify(&msg) {
            return None;
        }
        Some(self.handle_request(cx, msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_bytes() {
        let s = IsoState {
            volume: Volume {
                naming: Naming::Joliet,
                blocks: 12345,
                root_extent: 25,
                susp_skip: 0,
                has_joliet: true,
                has_rock_ridge: true,
                volume_id: *b"CDROM                           ",
                path_table: 20,
                path_table_size: 300,
            },
            mountpoints: [64 * 30, 64 * 31].into_iter().collect(),
        };
        let b = s.to_bytes();
        assert_eq!(IsoState::from_bytes(&b), Some(s.clone()));
        assert_eq!(IsoState::from_bytes(&b[..b.len() - 1]), None);
        let mut bad = b.clone();
        bad[8] = 9;
        assert_eq!(IsoState::from_bytes(&bad), None);
        assert_eq!(IsoState::from_bytes(&[]), None);
    }
}
