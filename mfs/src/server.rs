//! The MFS server: serves the VFS<->FS protocol (`sys::proto::fs`) over a
//! [`FileSystem`] on a libminixfs [`Cache`] over a block device (a libbdev
//! client to a driver; in the simulator libbdev's `SimDriver`).
//!
//! Data moves through grants VFS creates (`safecopy_from`/`safecopy_to`).
//!
//! Crash recovery (stateful restart). The server keeps everything that must
//! outlive an instance in [`MfsMemory`], memory the runtime hands to every
//! instance of the program (in the simulator: an `Rc` the program factory
//! captures; natively: a preserved region). It holds
//! - the block cache itself: a new instance takes the dead one's cache,
//!   gives it up as a [`libminixfs::CacheRegion`] exactly as it was
//!   ([`Cache::crash`]) and validates and adopts it ([`Cache::adopt`]), so
//!   dirty (acknowledged but unflushed) blocks survive;
//! - the durable server state ([`Durable`]): open inode references, mount
//!   points, and the bounded record of recent side-effecting request ids and
//!   their replies. A request whose id is in the record is answered from it
//!   and not applied again (exactly-once across crashes: VFS resends held
//!   requests with the same id).
//!
//! The record is updated in place when a handler finishes, in the same
//! memory as the cache, so "applied" and "recorded" cannot diverge: crashes
//! strike between handlers (the simulator never cuts a handler in half; a
//! native server would keep the region in memory that survives it).
//!
//! Stateless restart ([`MfsConfig::stateful`] = false): the new instance
//! drops what the dead one left (dirty blocks are lost, as in MINIX when a
//! file server dies) and mounts from the device; the record is empty, so a
//! resent request is applied again.
//!
//! An inode unlinked while open and still open at a crash is freed after
//! the restart too: the new instance re-takes the open references, and the
//! core treats an inode with no links taken by `get` as an orphan.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use libminixfs::{BlockDevice, BlockNo, Cache, CacheError, Dev, How};
use sys::fsserver::{self, DirTree};
use sys::proto::fs::{
    Cred, FsAnswer, FsReply, FsRequest, FsStat, FsStatVfs, LookupFlags, NodeAttr, WalkOutcome,
};
use sys::proto::kernel::is_notify;
use sys::{Ctx, Endpoint, Errno as SysErrno, HZ, InitInfo, Message, Service};

use crate::blockio::BlockAccess;
use crate::errno::{Errno, Result};
use crate::format::{SUPER_OFFSET, SuperBlock, mode};
use crate::fs::{FileSystem, MountOptions, Stat};

/// Device number of the file system's device in the server's cache.
const DEV: Dev = 1;
/// Longest path a lookup accepts (MINIX `PATH_MAX`).
pub const PATH_MAX: usize = 4096;
/// Largest single read/write/getdents transfer.
pub const MAX_IO: usize = 1 << 20;

/// Opens the block device (a fresh libbdev handle each time: a new instance
/// cannot use the dead one's).
pub type DeviceOpener = Rc<dyn Fn() -> core::result::Result<Box<dyn BlockDevice>, SysErrno>>;

/// Server settings.
#[derive(Debug, Clone, Copy)]
pub struct MfsConfig {
    /// Cache buffers.
    pub nr_bufs: usize,
    /// Adopt the dead instance's cache and state on a restart.
    pub stateful: bool,
    /// Record side-effecting requests for exactly-once answers.
    pub exactly_once: bool,
    /// Records kept (oldest dropped first).
    pub record_limit: usize,
    /// Fault injection (tests): probability per million that the server
    /// dies right after applying and recording a side-effecting request,
    /// before its reply goes out (the case exactly-once exists for).
    pub die_after_apply_ppm: u32,
    /// The only process allowed to send requests, by its DS label (VFS on
    /// the native system); `None` accepts any sender (the simulator's
    /// tests drive MFS directly). Checked for every request, admin ones
    /// such as UNMOUNT included: others get `EPERM`.
    pub client_label: Option<&'static str>,
    /// Checksum cache blocks as they are read (libminixfs
    /// `Cache::set_checksum_clean`). Off, reads pay no crc32 and a restarted
    /// instance rereads clean blocks; modified blocks are always checked.
    pub checksum_clean: bool,
    /// Checksum modified cache blocks once per request, at its end
    /// (libminixfs `Cache::set_deferred_checksums` + `seal`), instead of at
    /// every release of a block.
    pub defer_checksums: bool,
    /// A write of at least this many bytes is written back to the device
    /// before it is answered (0: never): large sequential writes then
    /// stream to the disk instead of filling the cache with dirty blocks,
    /// and, with deferred checksums and `checksum_clean` off, pay no
    /// checksum at all.
    pub write_through: usize,
}

impl Default for MfsConfig {
    fn default() -> Self {
        MfsConfig {
            nr_bufs: 256,
            stateful: true,
            exactly_once: true,
            record_limit: 1024,
            die_after_apply_ppm: 0,
            client_label: None,
            checksum_clean: true,
            defer_checksums: false,
            write_through: 0,
        }
    }
}

/// Server state that must survive a crash (see the module doc).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Durable {
    /// Records in a ring indexed by `id % record_limit`: O(1) insert and
    /// look-up; a record lives until an id `record_limit` later (VFS ids
    /// increase) takes its slot. Keyed by requester too: another process's
    /// request with the same id must not be answered from VFS's record.
    records: Vec<Option<(Endpoint, u64, Message)>>,
    refs: BTreeMap<u32, u32>,
    mountpoints: BTreeSet<u32>,
    block_size: u32,
}

impl Durable {
    /// Open references per inode.
    pub fn refs(&self) -> &BTreeMap<u32, u32> {
        &self.refs
    }
    /// Recorded request ids.
    pub fn record_count(&self) -> usize {
        self.records.iter().filter(|r| r.is_some()).count()
    }

    fn insert(&mut self, from: Endpoint, id: u64, reply: Message, limit: usize) {
        let n = limit.max(1);
        if self.records.len() != n {
            self.records = alloc::vec![None; n];
        }
        self.records[(id % n as u64) as usize] = Some((from, id, reply));
    }

    /// The state as bytes ([`Durable::from_bytes`] reads them back): what
    /// an instance hands to a successor that starts with fresh memory.
    pub fn to_bytes(&self) -> Vec<u8> {
        use zerocopy::IntoBytes;
        let mut out = Vec::new();
        let mut put = |v: u64| out.extend_from_slice(&v.to_le_bytes());
        put(DURABLE_MAGIC);
        put(u64::from(self.block_size));
        put(self.records.len() as u64);
        put(self.refs.len() as u64);
        put(self.mountpoints.len() as u64);
        for (&ino, &n) in &self.refs {
            put(u64::from(ino) << 32 | u64::from(n));
        }
        for &ino in &self.mountpoints {
            put(u64::from(ino));
        }
        for (i, r) in self.records.iter().enumerate() {
            if let Some((ep, id, m)) = r {
                out.extend_from_slice(&(i as u64).to_le_bytes());
                out.extend_from_slice(&u64::from(ep.0).to_le_bytes());
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(m.as_bytes());
            }
        }
        out
    }

    /// Reads [`Durable::to_bytes`]' output; `None` if it is malformed.
    pub fn from_bytes(b: &[u8]) -> Option<Durable> {
        use zerocopy::FromBytes;
        let mut pos = 0usize;
        let mut get = |n: usize| -> Option<&[u8]> {
            let s = b.get(pos..pos + n)?;
            pos += n;
            Some(s)
        };
        let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or([0; 8]));
        if word(get(8)?) != DURABLE_MAGIC {
            return None;
        }
        let block_size = u32::try_from(word(get(8)?)).ok()?;
        let nrec = usize::try_from(word(get(8)?))
            .ok()
            .filter(|&n| n <= 1 << 20)?;
        let nrefs = word(get(8)?);
        let nmounts = word(get(8)?);
        let mut d = Durable {
            records: alloc::vec![None; nrec],
            block_size,
            ..Durable::default()
        };
        for _ in 0..nrefs {
            let v = word(get(8)?);
            d.refs.insert((v >> 32) as u32, v as u32);
        }
        for _ in 0..nmounts {
            d.mountpoints.insert(u32::try_from(word(get(8)?)).ok()?);
        }
        while let Some(head) = get(24) {
            let i = usize::try_from(word(&head[..8])).ok()?;
            let ep = Endpoint(u32::try_from(word(&head[8..16])).ok()?);
            let id = word(&head[16..24]);
            let m = Message::read_from_bytes(get(core::mem::size_of::<Message>())?).ok()?;
            *d.records.get_mut(i)? = Some((ep, id, m));
        }
        (pos == b.len()).then_some(d)
    }

    fn lookup(&self, from: Endpoint, id: u64) -> Option<Message> {
        let n = self.records.len() as u64;
        if n == 0 {
            return None;
        }
        match self.records[(id % n) as usize] {
            Some((rfrom, rid, m)) if rid == id && rfrom == from => Some(m),
            _ => None,
        }
    }
}

/// Magic number of [`Durable::to_bytes`] ("MFSDURA1").
const DURABLE_MAGIC: u64 = 0x3141_5255_4453_464d;

/// Memory handed from one instance to the next.
#[derive(Default)]
pub struct MfsMemoryInner {
    cache: Option<Rc<Cache>>,
    /// The durable state.
    pub durable: Durable,
    /// An instance is inside its init or a request handler. A successor
    /// that finds it set knows its predecessor was cut off in the middle
    /// (a kill, not a crash between messages) and trusts none of this
    /// memory: it starts stateless.
    pub busy: bool,
    /// Instances that adopted a predecessor's cache.
    pub adoptions: u64,
    /// Blocks dropped by adoption checks, summed.
    pub adopt_dropped: u64,
    /// State of the fault injector's generator (SplitMix64).
    pub fault_rng: u64,
    /// Deaths injected after an applied request.
    pub injected_deaths: u64,
    /// Resent requests answered from the record, over all instances.
    pub replayed: u64,
}

/// Shared handle to [`MfsMemoryInner`].
pub type MfsMemory = Rc<RefCell<MfsMemoryInner>>;

impl MfsMemoryInner {
    /// Memory with only the durable state (no cache): for an instance whose
    /// predecessor flushed its cache and handed the state over as bytes
    /// ([`MfsServer::hand_over`]).
    pub fn with_durable(durable: Durable) -> Self {
        MfsMemoryInner {
            durable,
            ..MfsMemoryInner::default()
        }
    }
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MfsStats {
    /// Requests applied.
    pub applied: u64,
    /// Requests answered from the record (resends).
    pub replayed: u64,
    /// Malformed requests answered with an error.
    pub bad: u64,
}

/// `BlockAccess` over a cache shared with [`MfsMemory`]. The device is
/// attached once at the file system's block size; the 1024-byte reads
/// `FileSystem::mount` does to find the superblock are served from the
/// containing block.
struct SharedCacheDevice {
    cache: Rc<Cache>,
    real_bs: u32,
    logical_bs: u32,
}

fn cerr(e: CacheError) -> Errno {
    Errno::from_code(e.errno())
}

impl SharedCacheDevice {
    fn map(&self, block: u32) -> (u64, usize, usize) {
        if self.logical_bs >= self.real_bs {
            (u64::from(block), 0, self.real_bs as usize)
        } else {
            let per = self.real_bs / self.logical_bs;
            (
                u64::from(block / per),
                ((block % per) * self.logical_bs) as usize,
                self.logical_bs as usize,
            )
        }
    }
}

impl BlockAccess for SharedCacheDevice {
    fn set_block_size(&mut self, block_size: u32) -> Result<()> {
        if block_size > self.real_bs || block_size == 0 || !self.real_bs.is_multiple_of(block_size)
        {
            return Err(Errno::EINVAL);
        }
        self.logical_bs = block_size;
        Ok(())
    }
    fn device_size(&mut self) -> Result<u64> {
        self.cache.device_size(DEV).map_err(cerr)
    }
    fn read<R>(&mut self, block: u32, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let (b, off, len) = self.map(block);
        let r = self
            .cache
            .get_block(DEV, BlockNo::from(b), How::Normal)
            .map_err(cerr)?;
        let d = r.data();
        Ok(f(&d[off..off + len]))
    }
    fn modify<R>(&mut self, block: u32, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        let (b, off, len) = self.map(block);
        let mut r = self
            .cache
            .get_block(DEV, BlockNo::from(b), How::Normal)
            .map_err(cerr)?;
        let mut d = r.data_mut();
        Ok(f(&mut d[off..off + len]))
    }
    fn overwrite<R>(&mut self, block: u32, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        if self.logical_bs != self.real_bs {
            // Only whole real blocks can be overwritten without a read.
            return self.modify(block, |d| {
                d.fill(0);
                f(d)
            });
        }
        let mut r = self
            .cache
            .zero_block(DEV, BlockNo::from(block))
            .map_err(cerr)?;
        let mut d = r.data_mut();
        Ok(f(&mut d))
    }
    fn prefetch(&mut self, blocks: &[u32]) {
        if self.logical_bs == self.real_bs {
            let v: Vec<BlockNo> = blocks.iter().map(|&b| BlockNo::from(b)).collect();
            // A failed prefetch only loses a hint.
            let _ = self.cache.prefetch(DEV, &v);
        }
    }
    fn set_usage(&mut self, total: u64, used: u64) {
        let _ = self.cache.set_blockusage(total, used);
    }
    fn change_usage(&mut self, delta: i64) {
        self.cache.change_blockusage(delta);
    }
    fn used_blocks(&self) -> Option<u64> {
        Some(self.cache.stats().used)
    }
    fn flush(&mut self) -> Result<()> {
        self.cache.flush_dev(DEV).map(|_| ()).map_err(cerr)
    }
    fn order(&mut self, before: u32, after: u32) -> Result<()> {
        let (b, _, _) = self.map(before);
        let (a, _, _) = self.map(after);
        self.cache.order(DEV, b, a).map(|_| ()).map_err(cerr)
    }
    fn write_epoch(&self) -> Option<u64> {
        Some(self.cache.counters().blocks_written)
    }
}

/// The MFS server (run under `sys::Sef`, state store `None`: its state
/// lives in [`MfsMemory`]).
pub struct MfsServer {
    cfg: MfsConfig,
    mem: MfsMemory,
    opener: DeviceOpener,
    fs: Option<FileSystem<SharedCacheDevice>>,
    stats: MfsStats,
    /// Block devices reachable through block-special nodes: device number
    /// -> opener; attached to the cache as device `FIRST_BDEV + index`.
    bdevs: Vec<(u32, DeviceOpener)>,
    /// Name of the device in log lines.
    device_name: String,
    /// Why the last mount attempt failed, in words.
    mount_problem: Option<String>,
    /// Who may send requests (`cfg.client_label`).
    client: sys::ds::OnlyClient,
    /// How the last mount treated the predecessor's memory (a log line).
    restart_note: Option<String>,
    /// The last mount failed because the device could not be opened.
    open_failed: bool,
}

/// Cache device number of the first block-special device.
const FIRST_BDEV: Dev = 2;

fn cache_err(e: CacheError) -> SysErrno {
    SysErrno::from_code(e.errno()).unwrap_or(SysErrno::EIO)
}

fn sys_err(e: Errno) -> SysErrno {
    SysErrno::from_code(e.code()).unwrap_or(SysErrno::EIO)
}

fn attr(st: &Stat) -> NodeAttr {
    NodeAttr {
        ino: st.ino,
        mode: st.mode,
        uid: st.uid,
        gid: st.gid,
        nlinks: st.nlinks,
        size: u64::from(st.size),
        rdev: st.rdev,
    }
}

/// The permission rule every file server shares.
pub use sys::fsserver::permitted;

/// The path walk's view of the mounted file system.
impl DirTree for FileSystem<SharedCacheDevice> {
    fn root(&self) -> u32 {
        FileSystem::root(self)
    }
    fn node(&mut self, ino: u32) -> core::result::Result<NodeAttr, SysErrno> {
        self.stat(ino).map(|s| attr(&s)).map_err(sys_err)
    }
    fn lookup(&mut self, dir: u32, name: &[u8]) -> core::result::Result<u32, SysErrno> {
        FileSystem::lookup(self, dir, name).map_err(sys_err)
    }
}

fn is_type(st: &Stat, t: u16) -> bool {
    st.mode & mode::S_IFMT == t
}

impl MfsServer {
    /// A server with `cfg`, keeping durable state in `mem`, opening its
    /// device with `opener`.
    pub fn new(cfg: MfsConfig, mem: MfsMemory, opener: DeviceOpener) -> Self {
        MfsServer {
            cfg,
            mem,
            opener,
            fs: None,
            stats: MfsStats::default(),
            bdevs: Vec::new(),
            device_name: String::from("device"),
            mount_problem: None,
            client: sys::ds::OnlyClient::new(cfg.client_label),
            restart_note: None,
            open_failed: false,
        }
    }

    /// How the last mount treated what the previous instance left (`None`
    /// on a fresh start): adopted, or why it was not.
    pub fn restart_note(&self) -> Option<&str> {
        self.restart_note.as_deref()
    }

    /// Flushes every dirty block to the device and returns the durable
    /// state as bytes ([`Durable::to_bytes`]), for a successor that starts
    /// with fresh memory (when the memory kept across restarts fills up).
    /// Errors: the flush failed (the blocks are still only in memory).
    pub fn hand_over(&mut self) -> core::result::Result<Vec<u8>, SysErrno> {
        if let Some(c) = self.cache() {
            c.flush_all().map_err(cache_err)?;
        }
        Ok(self.mem.borrow().durable.to_bytes())
    }

    /// Name the device in log lines (e.g. `virtio-blk minor 0`).
    pub fn with_device_name(mut self, name: &str) -> Self {
        self.device_name = String::from(name);
        self
    }

    /// One line saying what is mounted: device, format, block size, size
    /// and free space (the boot log's mount line).
    pub fn mount_summary(&mut self) -> Option<String> {
        let fs = self.fs.as_mut()?;
        let version = fs.superblock().version;
        let st = fs.statvfs().ok()?;
        let kib = |blocks: u64| blocks * u64::from(st.bsize) / 1024;
        Some(format!(
            "{}: MINIX {:?}, {}-byte blocks, {} blocks ({} KiB), {} free ({} KiB), {} of {} inodes free",
            self.device_name,
            version,
            st.bsize,
            st.blocks,
            kib(st.blocks),
            st.bfree,
            kib(st.bfree),
            st.ffree,
            st.files,
        ))
    }

    /// Serve block-special nodes with device number `rdev` from the device
    /// `opener` opens: byte I/O through libminixfs `bio` on this server's
    /// cache, written back when the node's last reference is dropped.
    pub fn with_block_device(mut self, rdev: u32, opener: DeviceOpener) -> Self {
        self.bdevs.push((rdev, opener));
        self
    }

    fn bdev_of(&self, rdev: u32) -> Option<Dev> {
        self.bdevs
            .iter()
            .position(|(r, _)| *r == rdev)
            .map(|i| FIRST_BDEV + i as Dev)
    }

    fn cache(&self) -> Option<Rc<Cache>> {
        self.mem.borrow().cache.clone()
    }

    /// Counters.
    pub fn stats(&self) -> MfsStats {
        self.stats
    }

    /// The directory name indexes' counters (`None` unmounted).
    pub fn dir_index_stats(&self) -> Option<crate::DirIndexStats> {
        self.fs.as_ref().map(|f| f.dir_index_stats())
    }

    /// The mounted file system (inspection in tests).
    pub fn is_mounted(&self) -> bool {
        self.fs.is_some()
    }

    fn mount(&mut self, restart: bool) -> core::result::Result<(), SysErrno> {
        self.mount_problem = None;
        self.open_failed = false;
        let mut device = match (self.opener)() {
            Ok(d) => d,
            Err(e) => {
                self.open_failed = true;
                self.mount_problem = Some(format!("cannot open the device: {e}"));
                return Err(e);
            }
        };
        self.restart_note = None;
        if self.mem.try_borrow_mut().is_err() {
            // The predecessor died holding it: nothing in it is trusted.
            self.mem = MfsMemory::default();
            self.restart_note = Some(String::from(
                "the previous instance died using its memory; starting stateless",
            ));
        }
        let mut m = self.mem.borrow_mut();
        let old = m.cache.take();
        let mut adopt = restart && self.cfg.stateful;
        if adopt && m.busy {
            adopt = false;
            self.restart_note = Some(String::from(
                "the previous instance died inside a request; its memory is not trusted, starting stateless (unflushed writes are lost)",
            ));
        }
        m.busy = true;
        let cache = match (adopt, old) {
            (true, Some(rc)) => {
                // The dead instance's own handles may never be dropped (a
                // heap kept across the restart): take the region out.
                let region = match Rc::try_unwrap(rc) {
                    Ok(c) => Some(c.crash()),
                    Err(rc) => rc.crash_shared(),
                };
                match region {
                    Some(region) => {
                        let (c, report) = Cache::adopt(region);
                        m.adoptions += 1;
                        m.adopt_dropped += report.dropped.len() as u64;
                        self.restart_note = Some(format!(
                            "adopted the cache ({} dirty, {} clean blocks kept, {} dropped) and {} records; {} resends answered from the record so far",
                            report.kept_dirty,
                            report.kept_clean,
                            report.dropped.len(),
                            m.durable.record_count(),
                            m.replayed
                        ));
                        c
                    }
                    None => {
                        adopt = false;
                        m.durable = Durable::default();
                        self.restart_note = Some(String::from(
                            "the cache was in use when the previous instance died; starting stateless",
                        ));
                        Cache::new(self.cfg.nr_bufs)
                    }
                }
            }
            (true, None) if m.durable.block_size != 0 => {
                // Handed over as bytes after a flush: the record and open
                // references are kept, the cache starts cold.
                self.restart_note = Some(format!(
                    "took over the state handed over by the previous instance ({} records), cache cold",
                    m.durable.record_count()
                ));
                Cache::new(self.cfg.nr_bufs)
            }
            _ => {
                if restart && self.restart_note.is_none() {
                    self.restart_note = Some(String::from(
                        "nothing kept from the previous instance; starting stateless",
                    ));
                }
                adopt = false;
                m.durable = Durable::default();
                Cache::new(self.cfg.nr_bufs)
            }
        };
        let bs = if adopt && m.durable.block_size != 0 {
            m.durable.block_size
        } else {
            // A whole 1 KiB: disk drivers transfer whole 512-byte sectors.
            let mut area = [0u8; 1024];
            if let Err(e) = device.read_vectored(SUPER_OFFSET as u64, &mut [&mut area[..]]) {
                self.mount_problem = Some(format!("reading the superblock: {e}"));
                return Err(SysErrno::EIO);
            }
            match SuperBlock::parse(&area) {
                Ok(sb) => sb.block_size,
                Err(e) => {
                    self.mount_problem = Some(format!("{e}"));
                    return Err(SysErrno::EINVAL);
                }
            }
        };
        cache.set_checksum_clean(self.cfg.checksum_clean);
        cache.set_deferred_checksums(self.cfg.defer_checksums);
        cache
            .attach(DEV, device, bs as usize)
            .map_err(|e| SysErrno::from_code(e.errno()).unwrap_or(SysErrno::EIO))?;
        for (i, (_, open)) in self.bdevs.iter().enumerate() {
            // A block device that cannot be opened now fails its I/O later.
            if let Ok(d) = open() {
                let _ = cache.attach(FIRST_BDEV + i as Dev, d, bs as usize);
            }
        }
        let cache = Rc::new(cache);
        m.cache = Some(cache.clone());
        m.durable.block_size = bs;
        let io = SharedCacheDevice {
            cache,
            real_bs: bs,
            logical_bs: bs,
        };
        let opts = MountOptions {
            read_only: false,
            // Our own previous instance left it unclean.
            force_rw_unclean: restart,
        };
        let mut fs = match FileSystem::mount(io, opts) {
            Ok(fs) => fs,
            Err(e) => {
                self.mount_problem = Some(format!("{e}"));
                return Err(SysErrno::EIO);
            }
        };
        let refs: Vec<(u32, u32)> = m.durable.refs.iter().map(|(&i, &n)| (i, n)).collect();
        for (ino, n) in refs {
            for _ in 0..n {
                if fs.get(ino).is_err() {
                    break;
                }
            }
        }
        self.fs = Some(fs);
        drop(m);
        // Mounting wrote the superblock (and may have freed orphans).
        if let Some(c) = self.cache() {
            c.seal();
        }
        Ok(())
    }

    /// The end of a request: a large write goes to the device now (see
    /// [`MfsConfig::write_through`]), then the blocks it modified get their
    /// checksums (deferred checksums), before the answer goes out.
    fn stable_point(&mut self, req: &FsRequest, ok: bool) {
        let Some(cache) = self.cache() else { return };
        if let FsRequest::Write { buf, .. } = *req
            && ok
            && self.cfg.write_through > 0
            && buf.len as usize >= self.cfg.write_through
        {
            // A failed write-back leaves the blocks dirty, to be written
            // later: nothing is lost by trying.
            let _ = cache.flush_dev(DEV);
        }
        cache.seal();
    }

    fn record(&mut self, from: Endpoint, id: u64, reply: Message) {
        let limit = self.cfg.record_limit;
        self.mem.borrow_mut().durable.insert(from, id, reply, limit);
    }

    fn add_ref(&mut self, ino: u32, n: i64) {
        let mut m = self.mem.borrow_mut();
        let e = m.durable.refs.entry(ino).or_insert(0);
        let v = (i64::from(*e) + n).max(0) as u32;
        if v == 0 {
            m.durable.refs.remove(&ino);
        } else {
            *e = v;
        }
    }

    fn now(cx: &Ctx<'_>) -> u32 {
        (cx.sys.now() / HZ) as u32
    }

    fn check_dir_write(
        fs: &mut FileSystem<SharedCacheDevice>,
        dir: u32,
        cred: Cred,
    ) -> core::result::Result<(), SysErrno> {
        let st = fs.stat(dir).map_err(sys_err)?;
        if !is_type(&st, mode::S_IFDIR) {
            return Err(SysErrno::ENOTDIR);
        }
        if !permitted(st.mode, st.uid, st.gid, cred, 3) {
            return Err(SysErrno::EACCES);
        }
        Ok(())
    }

    /// Walk a path (the shared walk); an open of the node found takes a
    /// reference to it.
    fn walk(
        &mut self,
        dir: u32,
        path: &[u8],
        flags: LookupFlags,
        cred: Cred,
    ) -> core::result::Result<WalkOutcome, SysErrno> {
        let mountpoints = self.mem.borrow().durable.mountpoints.clone();
        let fs = self.fs.as_mut().ok_or(SysErrno::EIO)?;
        let out = fsserver::walk(fs, dir, path, flags, cred, |i| mountpoints.contains(&i))?;
        if flags.open
            && let WalkOutcome::Found { node, .. } = out
        {
            fs.get(node.ino).map_err(sys_err)?;
            self.add_ref(node.ino, 1);
        }
        Ok(out)
    }

    fn apply(
        &mut self,
        cx: &mut Ctx<'_>,
        from: Endpoint,
        req: &FsRequest,
    ) -> core::result::Result<FsAnswer, SysErrno> {
        let now = Self::now(cx);
        use FsRequest::*;
        match *req {
            // Mount again after an unmount (same cache, same device).
            ReadSuper { .. } if self.fs.is_none() && self.cache().is_none() => {
                // The mount at init failed: try again (the device may have
                // been fixed), else answer with why.
                self.mount(false)?;
                let fs = self.fs.as_mut().ok_or(SysErrno::EIO)?;
                let root = fs.root();
                return fs
                    .stat(root)
                    .map(|s| FsAnswer::Node(attr(&s)))
                    .map_err(sys_err);
            }
            ReadSuper { .. } if self.fs.is_none() => {
                let cache = self.cache().ok_or(SysErrno::EIO)?;
                let bs = self.mem.borrow().durable.block_size;
                let io = SharedCacheDevice {
                    cache,
                    real_bs: bs,
                    logical_bs: bs,
                };
                let fs =
                    FileSystem::mount(io, MountOptions::default()).map_err(|_| SysErrno::EIO)?;
                let root = fs.root();
                self.fs = Some(fs);
                let fs = self.fs.as_mut().ok_or(SysErrno::EIO)?;
                return fs
                    .stat(root)
                    .map(|s| FsAnswer::Node(attr(&s)))
                    .map_err(sys_err);
            }
            // Unmount: free orphans, mark the file system clean, write
            // everything back. Busy while inodes other than the root are
            // referenced.
            Unmount { .. } => {
                let fs = self.fs.as_ref().ok_or(SysErrno::EINVAL)?;
                let root = fs.root();
                let busy = self.mem.borrow().durable.refs.keys().any(|&i| i != root);
                if busy {
                    return Err(SysErrno::EBUSY);
                }
                let fs = self.fs.take().ok_or(SysErrno::EINVAL)?;
                self.mem.borrow_mut().durable.refs.clear();
                self.mem.borrow_mut().durable.mountpoints.clear();
                fs.unmount().map_err(sys_err)?;
                if let Some(cache) = self.cache() {
                    cache.flush_all().map_err(cache_err)?;
                    // As MINIX: an unmounted device's blocks leave the
                    // cache, so a later mount reads the disk afresh.
                    cache.invalidate(DEV);
                }
                return Ok(FsAnswer::Done);
            }
            _ => {}
        }
        if self.fs.is_none() {
            return Err(SysErrno::EIO);
        }
        match *req {
            Lookup {
                dir,
                path,
                flags,
                cred,
                ..
            } => {
                let p = fsserver::fetch(cx.sys, from, path, PATH_MAX)?;
                return self.walk(dir, &p, flags, cred).map(FsAnswer::Walk);
            }
            Mountpoint { ino, on, .. } => {
                let fs = self.fs.as_mut().ok_or(SysErrno::EIO)?;
                let st = fs.stat(ino).map_err(sys_err)?;
                if !is_type(&st, mode::S_IFDIR) {
                    return Err(SysErrno::ENOTDIR);
                }
                let mut m = self.mem.borrow_mut();
                if on {
                    if !m.durable.mountpoints.insert(ino) {
                        return Err(SysErrno::EBUSY);
                    }
                } else {
                    m.durable.mountpoints.remove(&ino);
                }
                return Ok(FsAnswer::Done);
            }
            _ => {}
        }
        let fs = self.fs.as_mut().ok_or(SysErrno::EIO)?;
        let e = sys_err;
        let node = |fs: &mut FileSystem<SharedCacheDevice>, ino: u32| {
            fs.stat(ino).map(|s| FsAnswer::Node(attr(&s))).map_err(e)
        };
        let mut new_ref = None;
        let mut drop_ref = None;
        let ans = match *req {
            ReadSuper { .. } => node(fs, fs.root())?,
            Unmount { .. } => return Err(SysErrno::EINVAL),
            Sync { .. } => {
                fs.sync().map_err(e)?;
                if let Some(cache) = self.cache() {
                    cache.flush_all().map_err(cache_err)?;
                }
                FsAnswer::Done
            }
            Create {
                dir,
                name,
                mode: m,
                cred,
                ..
            } => {
                let n = fsserver::fetch(cx.sys, from, name, PATH_MAX)?;
                Self::check_dir_write(fs, dir, cred)?;
                let ino = fs
                    .create(dir, &n, m & 0o7777, cred.uid, cred.gid, now)
                    .map_err(e)?;
                fs.get(ino).map_err(e)?;
                new_ref = Some(ino);
                node(fs, ino)?
            }
            Mkdir {
                dir,
                name,
                mode: m,
                cred,
                ..
            } => {
                let n = fsserver::fetch(cx.sys, from, name, PATH_MAX)?;
                Self::check_dir_write(fs, dir, cred)?;
                let ino = fs
                    .mkdir(dir, &n, m & 0o7777, cred.uid, cred.gid, now)
                    .map_err(e)?;
                node(fs, ino)?
            }
            Mknod {
                dir,
                name,
                mode: m,
                rdev,
                cred,
                ..
            } => {
                let n = fsserver::fetch(cx.sys, from, name, PATH_MAX)?;
                Self::check_dir_write(fs, dir, cred)?;
                let ino = if m & mode::S_IFMT == mode::S_IFREG || m & mode::S_IFMT == 0 {
                    fs.create(dir, &n, m & 0o7777, cred.uid, cred.gid, now)
                } else {
                    fs.mknod(dir, &n, m, cred.uid, cred.gid, rdev, now)
                }
                .map_err(e)?;
                node(fs, ino)?
            }
            Unlink {
                dir, name, cred, ..
            } => {
                let n = fsserver::fetch(cx.sys, from, name, PATH_MAX)?;
                Self::check_dir_write(fs, dir, cred)?;
                fs.unlink(dir, &n, now).map_err(e)?;
                FsAnswer::Done
            }
            Rmdir {
                dir, name, cred, ..
            } => {
                let n = fsserver::fetch(cx.sys, from, name, PATH_MAX)?;
                Self::check_dir_write(fs, dir, cred)?;
                let child = fs.lookup(dir, &n).map_err(e)?;
                if self_mounted(&self.mem, child) {
                    return Err(SysErrno::EBUSY);
                }
                fs.rmdir(dir, &n, now).map_err(e)?;
                FsAnswer::Done
            }
            Rename {
                old_dir,
                old_name,
                new_dir,
                new_name,
                cred,
                ..
            } => {
                let a = fsserver::fetch(cx.sys, from, old_name, PATH_MAX)?;
                let b = fsserver::fetch(cx.sys, from, new_name, PATH_MAX)?;
                Self::check_dir_write(fs, old_dir, cred)?;
                Self::check_dir_write(fs, new_dir, cred)?;
                // Moving or replacing a mount point would detach the file
                // system mounted on it from the name space (MINIX: EBUSY).
                let old = fs.lookup(old_dir, &a).map_err(e)?;
                let new = fs.lookup(new_dir, &b).ok();
                if self_mounted(&self.mem, old) || new.is_some_and(|n| self_mounted(&self.mem, n)) {
                    return Err(SysErrno::EBUSY);
                }
                fs.rename(old_dir, &a, new_dir, &b, now).map_err(e)?;
                FsAnswer::Done
            }
            Link {
                dir,
                name,
                ino,
                cred,
                ..
            } => {
                let n = fsserver::fetch(cx.sys, from, name, PATH_MAX)?;
                Self::check_dir_write(fs, dir, cred)?;
                fs.link(dir, &n, ino, now).map_err(e)?;
                FsAnswer::Done
            }
            Symlink {
                dir,
                name,
                target,
                cred,
                ..
            } => {
                let n = fsserver::fetch(cx.sys, from, name, PATH_MAX)?;
                let t = fsserver::fetch(cx.sys, from, target, PATH_MAX)?;
                Self::check_dir_write(fs, dir, cred)?;
                let ino = fs
                    .symlink(dir, &n, &t, cred.uid, cred.gid, now)
                    .map_err(e)?;
                node(fs, ino)?
            }
            Readlink { ino, buf, .. } => {
                let t = fs.readlink(ino).map_err(e)?;
                fsserver::reply_bytes(cx.sys, from, buf, &t)?
            }
            Read { ino, pos, buf, .. } => {
                let len = (buf.len as usize).min(MAX_IO);
                let st = fs.stat(ino).map_err(e)?;
                let n = if is_type(&st, mode::S_IFBLK) {
                    let mut v = vec![0u8; len];
                    let dev = self.bdev_of(st.rdev).ok_or(SysErrno::ENXIO)?;
                    let cache = self.cache().ok_or(SysErrno::EIO)?;
                    let n = libminixfs::bio::read(&cache, dev, pos, &mut v).map_err(cache_err)?;
                    cx.sys
                        .safecopy_to(from, buf.grant, 0, &v[..n])
                        .map_err(|_| SysErrno::EFAULT)?;
                    n
                } else {
                    // Block by block, straight from the cache to the client.
                    let mut copy_failed = false;
                    let r = fs.read_with(ino, pos, len, |at, bytes| {
                        cx.sys.safecopy_to(from, buf.grant, at, bytes).map_err(|_| {
                            copy_failed = true;
                            Errno::EIO
                        })
                    });
                    match r {
                        Err(_) if copy_failed => return Err(SysErrno::EFAULT),
                        r => r.map_err(e)?,
                    }
                };
                FsAnswer::Count {
                    n: n as u64,
                    pos: pos + n as u64,
                }
            }
            Write {
                ino,
                pos,
                buf,
                flags,
                ..
            } => {
                let v = fsserver::fetch(cx.sys, from, buf, MAX_IO).map_err(|e| {
                    if e == SysErrno::ENAMETOOLONG {
                        SysErrno::EINVAL
                    } else {
                        e
                    }
                })?;
                let st = fs.stat(ino).map_err(e)?;
                if is_type(&st, mode::S_IFBLK) {
                    let dev = self.bdev_of(st.rdev).ok_or(SysErrno::ENXIO)?;
                    let cache = self.cache().ok_or(SysErrno::EIO)?;
                    let n = libminixfs::bio::write(&cache, dev, pos, &v).map_err(cache_err)?;
                    return Ok(FsAnswer::Count {
                        n: n as u64,
                        pos: pos + n as u64,
                    });
                }
                // Appends go to the end as it is now: atomic with respect
                // to other writers.
                let pos = if flags & sys::proto::vfs::oflag::O_APPEND != 0 {
                    u64::from(st.size)
                } else {
                    pos
                };
                let n = fs.write(ino, pos, &v, now).map_err(e)?;
                let size = fs.stat(ino).map_err(e)?.size;
                FsAnswer::Count {
                    n: n as u64,
                    pos: u64::from(size),
                }
            }
            Truncate { ino, size, .. } => {
                fs.truncate(ino, size, now).map_err(e)?;
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
                    size: u64::from(s.size),
                    atime: s.atime,
                    mtime: s.mtime,
                    ctime: s.ctime,
                    rdev: s.rdev,
                    blksize: s.blksize,
                })
            }
            Chmod {
                ino, mode: m, cred, ..
            } => {
                let s = fs.stat(ino).map_err(e)?;
                if cred.uid != 0 && cred.uid != s.uid {
                    return Err(SysErrno::EPERM);
                }
                fs.chmod(ino, m & 0o7777, now).map_err(e)?;
                FsAnswer::Done
            }
            Chown {
                ino,
                uid,
                gid,
                cred,
                ..
            } => {
                if cred.uid != 0 {
                    return Err(SysErrno::EPERM);
                }
                fs.chown(ino, uid, gid, now).map_err(e)?;
                FsAnswer::Done
            }
            Utimes {
                ino,
                atime,
                mtime,
                cred,
                ..
            } => {
                let s = fs.stat(ino).map_err(e)?;
                if cred.uid != 0 && cred.uid != s.uid {
                    return Err(SysErrno::EPERM);
                }
                fs.utimes(ino, atime, mtime, now).map_err(e)?;
                FsAnswer::Done
            }
            Getdents { ino, pos, buf, .. } => {
                let cap = (buf.len as usize).min(MAX_IO);
                let ents = fs.getdents(ino, pos, cap / 16 + 1).map_err(e)?;
                let ents = ents.iter().map(|d| (d.ino, d.next_pos, &d.name[..]));
                fsserver::reply_dirents(cx.sys, from, buf, cap, pos, ents)?
            }
            Statvfs { .. } => {
                let s = fs.statvfs().map_err(e)?;
                FsAnswer::StatVfs(FsStatVfs {
                    bsize: s.bsize,
                    namemax: s.namemax,
                    blocks: s.blocks,
                    bfree: s.bfree,
                    files: s.files,
                    ffree: s.ffree,
                })
            }
            Putnode { ino, count, .. } => {
                let st = fs.stat(ino).ok();
                for _ in 0..count {
                    fs.put(ino).map_err(e)?;
                }
                drop_ref = Some((ino, count));
                // Last close of a block-special node: write its blocks back.
                if fs.open_count(ino) == 0
                    && let Some(st) = st
                    && is_type(&st, mode::S_IFBLK)
                    && let Some(dev) = self.bdev_of(st.rdev)
                    && let Some(cache) = self.cache()
                {
                    libminixfs::bio::flush(&cache, dev).map_err(cache_err)?;
                }
                FsAnswer::Done
            }
            NewNode { .. } => return Err(SysErrno::ENOSYS),
            Lookup { .. } | Mountpoint { .. } => return Err(SysErrno::EINVAL),
        };
        if let Some(ino) = new_ref {
            self.add_ref(ino, 1);
        }
        if let Some((ino, n)) = drop_ref {
            self.add_ref(ino, -i64::from(n));
        }
        Ok(ans)
    }
}

impl MfsServer {
    fn roll(&mut self) -> bool {
        let mut m = self.mem.borrow_mut();
        m.fault_rng = m.fault_rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = m.fault_rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z % 1_000_000) < u64::from(self.cfg.die_after_apply_ppm)
    }
}

fn self_mounted(mem: &MfsMemory, ino: u32) -> bool {
    mem.borrow().durable.mountpoints.contains(&ino)
}

impl Service for MfsServer {
    fn init(&mut self, cx: &mut Ctx<'_>, info: InitInfo) -> core::result::Result<(), SysErrno> {
        let restart = info.kind != sys::proto::rs::InitKind::Fresh || info.restarts > 0;
        let mounted = self.mount(restart);
        if !self.open_failed {
            // (A mount that could not open the device looked at nothing,
            // so a mark left by a predecessor killed mid-request stays.)
            self.mem.borrow_mut().busy = false;
        }
        if let Some(note) = &self.restart_note {
            cx.sys.log(&format!("mfs: {}: restart: {note}", cx.label()));
        }
        match mounted {
            Ok(()) => {
                if let Some(line) = self.mount_summary() {
                    cx.sys.log(&format!("mfs: {} {line}", cx.label()));
                }
            }
            Err(e) if restart && self.open_failed => {
                // The driver is restarting too: nothing was touched, so ask
                // RS to try again shortly (EAGAIN never counts as a failed
                // init) rather than serve EIO until the next crash.
                let why = self.mount_problem.clone().unwrap_or_default();
                cx.sys.log(&format!(
                    "mfs: {}: restart: {why}: {e}; RS will try again",
                    cx.label()
                ));
                return Err(SysErrno::EAGAIN);
            }
            Err(e) => {
                // Stay up unmounted: VFS learns the error from READSUPER,
                // and the system keeps running without this file system.
                let why = self.mount_problem.clone().unwrap_or_default();
                cx.sys.log(&format!(
                    "mfs: {}: cannot mount {}: {e}: {why}",
                    cx.label(),
                    self.device_name
                ));
            }
        }
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        if is_notify(&msg) {
            return None;
        }
        self.mem.borrow_mut().busy = true;
        let reply = self.handle_request(cx, msg);
        if let Some(what) = self.fs.as_mut().and_then(|fs| fs.take_inconsistency()) {
            cx.sys.log(&format!(
                "mfs: {}: {} is inconsistent ({what}); remounted read-only, run fsck",
                cx.label(),
                self.device_name
            ));
        }
        self.mem.borrow_mut().busy = false;
        reply
    }
}

impl MfsServer {
    fn handle_request(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        // Decoded first, so an unknown type is ENOSYS for anyone; a known
        // request from anyone but the client is EPERM.
        let req = match FsRequest::try_from(&msg) {
            Ok(r) => r,
            Err(e) => {
                self.stats.bad += 1;
                return Some(
                    FsReply {
                        id: msg.request_id(),
                        result: Err(e),
                    }
                    .to_message(),
                );
            }
        };
        if !self.client.allows(cx.sys, msg.source()) {
            self.stats.bad += 1;
            return Some(
                FsReply {
                    id: msg.request_id(),
                    result: Err(SysErrno::EPERM),
                }
                .to_message(),
            );
        }
        let id = req.id();
        let record = self.cfg.exactly_once && req.is_side_effecting();
        let hit = if record {
            self.mem.borrow().durable.lookup(msg.source(), id)
        } else {
            None
        };
        if let Some(r) = hit {
            self.stats.replayed += 1;
            self.mem.borrow_mut().replayed += 1;
            return Some(r);
        }
        self.stats.applied += 1;
        let result = self.apply(cx, msg.source(), &req);
        self.stable_point(&req, result.is_ok());
        let reply = FsReply { id, result }.to_message();
        if record {
            self.record(msg.source(), id, reply);
        }
        if req.is_side_effecting() && self.cfg.die_after_apply_ppm > 0 && self.roll() {
            let mut m = self.mem.borrow_mut();
            m.injected_deaths += 1;
            // A death between "recorded" and "answered": the memory is
            // consistent, so the successor adopts it.
            m.busy = false;
            drop(m);
            cx.sys.panic("mfs: injected death after apply");
            return None;
        }
        Some(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ring_answers_recent_ids_only() {
        let mut d = Durable::default();
        let msg = |k: u32| Message::new(0x600 + k);
        for id in 1..=8u64 {
            d.insert(Endpoint(7), id, msg(id as u32), 4);
        }
        assert_eq!(d.record_count(), 4);
        // The last 4 ids are answered, older ones were overwritten.
        for id in 5..=8u64 {
            assert_eq!(
                d.lookup(Endpoint(7), id).map(|m| m.mtype()),
                Some(0x600 + id as u32)
            );
            assert_eq!(d.lookup(Endpoint(8), id), None, "another requester");
        }
        for id in 1..=4u64 {
            assert_eq!(d.lookup(Endpoint(7), id), None);
        }
        assert_eq!(d.lookup(Endpoint(7), 12), None, "same slot, different id");
        assert_eq!(Durable::default().lookup(Endpoint(7), 1), None);
    }

    #[test]
    fn durable_state_round_trips_through_bytes() {
        let mut d = Durable::default();
        for id in 1..=5u64 {
            let mut m = Message::new(0x700 + id as u32);
            m.payload_mut()[3] = id as u8;
            d.insert(Endpoint(9), id, m, 4);
        }
        d.refs.insert(1, 2);
        d.refs.insert(77, 1);
        d.mountpoints.insert(12);
        d.block_size = 4096;
        let b = d.to_bytes();
        let back = Durable::from_bytes(&b).expect("parses");
        assert_eq!(back, d);
        assert_eq!(back.lookup(Endpoint(9), 5).map(|m| m.payload()[3]), Some(5));
        assert_eq!(back.lookup(Endpoint(9), 1), None, "overwritten before");
        assert_eq!(Durable::from_bytes(&b[..b.len() - 1]), None, "truncated");
        let mut bad = b.clone();
        bad[0] ^= 1;
        assert_eq!(Durable::from_bytes(&bad), None, "bad magic");
        assert_eq!(
            Durable::from_bytes(&Durable::default().to_bytes()),
            Some(Durable::default())
        );
    }

    #[test]
    fn sub_block_reads_map_into_the_containing_block() {
        let dev = SharedCacheDevice {
            cache: Rc::new(Cache::new(8)),
            real_bs: 4096,
            logical_bs: 1024,
        };
        assert_eq!(dev.map(1), (0, 1024, 1024));
        assert_eq!(dev.map(5), (1, 1024, 1024));
        let same = SharedCacheDevice {
            logical_bs: 4096,
            ..dev
        };
        assert_eq!(same.map(7), (7, 0, 4096));
    }
}
