//! `mfs`: the MINIX file-system server (`mfs::server`) on the kernel. RS
//! starts one instance per mounted disk from its service table; the label
//! names the disk (`sys::devname::instance_disk`): `mfs` serves minor 0 of
//! the block driver `virtio-blk`, `mfs2` minor 1, `mfsN` minor N-1, and
//! `mfs-c1d0` the disk `/dev/c1d0` (driver `at_wini`, drive 0); the boot
//! instance may name its disk with `dev=NAME` on its boot module line
//! (`mfs-native:mfs image dev=c1d0`). The device is reached through libbdev
//! (`Bdev`: retries, reopen and resend after a driver restart) over the
//! native block-driver transport (`native::bdev`).
//!
//! At init the server mounts the disk and logs what it mounted (device,
//! format, block size, size and free space); a disk it cannot mount is
//! reported with the reason and the server stays up unmounted, so VFS gets
//! the error and the system keeps running. Only VFS is answered (MFS checks
//! the sender of every request). Listed as a boot module with the argument
//! `image` so that `Spawn` finds its image.
//!
//! Stateful restart: the whole heap lives in the preserved window
//! (`rt::persist`, started first thing in `main`), whose pages RS moves to
//! the restarted instance (`mfs` is in `rs::services::KEEP_MEMORY`). The
//! new instance adopts the heap, takes back the [`MfsMemory`] its
//! predecessor registered as root — the block cache with its dirty blocks
//! and the exactly-once record — and `MfsServer` adopts the cache after
//! its crc32 checks. What else the dead instance had allocated leaks; when
//! the heap holds more than the limit after an init, the instance flushes
//! the cache, hands the durable state (record, open references) to its
//! successor as bytes and exits, and the successor starts the heap empty
//! (failover, logged). A heap left busy (killed inside an allocation), a
//! memory left borrowed or a server left inside a request (killed
//! mid-handler, not crashed between messages) is not trusted: the
//! successor starts stateless and says so.
//!
//! Options, as further words of the `mfs` boot module line (`mfs-native:mfs
//! image OPTION...`), read by every instance: `volatile` (private heap: a
//! restart keeps nothing, the negative control), `norecord` (no
//! exactly-once record), `die=PPM` (die after applying and recording a
//! side-effecting request with this probability per million, before the
//! reply: VFS resends it), `cache=MIB` (cache size in MiB of 4 KiB
//! blocks, default 16; buffers are allocated as they are used, and the
//! whole cache, dirty blocks included, survives a restart), `heaplimit=KIB`
//! (failover threshold, default the cache plus 24 MiB; the preserved
//! window is 128 MiB).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use core::cell::RefCell;
use libbdev::{Access, Bdev, BdevDevice, Minor};
use libminixfs::BlockDevice;
use mfs::server::{DeviceOpener, Durable, MfsConfig, MfsMemory, MfsMemoryInner, MfsServer};
use rt::persist::{FreshReason, Start};
use sys::devname::{self, DiskName};
use sys::{Ctx, Errno, InitInfo, Message, Service};

rt::entry!(main);

/// Label of the virtio-blk driver (the root disk's).
const DRIVER: &str = "virtio-blk";
/// Label of the memory driver (RAM disk at its block minor 0).
const MEMORY: &str = "memory";
/// Device number (major << 8 | minor) of the RAM disk's block-special node
/// (`/dev/ram`, major 1 minor 0, as in MINIX); the disks' majors are in
/// `sys::devname::CONTROLLERS` (`/dev/c0dN` 3, `/dev/c1dN` 8).
const MEMORY_MAJOR: u32 = 1;

/// Reconnect-and-reopen rounds per libbdev recovery.
const RECOVER_ROUNDS: u32 = 8;

fn open(driver: &'static str, minor: Minor) -> Result<Box<dyn BlockDevice>, Errno> {
    // RS restarts a crashed driver within ticks, and it may die again while
    // this client is still reopening: allow more rounds than MINIX's 2.
    let client = Rc::new(RefCell::new(
        Bdev::new(native::bdev::IpcDriver::new(driver)).with_recover_tries(RECOVER_ROUNDS),
    ));
    // A read-only disk (a CD behind a block-special node) opens read-only.
    BdevDevice::open(&client, minor, Access::RW)
        .or_else(|e| match e.errno() {
            c if Errno::from_code(c) == Some(Errno::EROFS) => {
                BdevDevice::open(&client, minor, Access::R)
            }
            _ => Err(e),
        })
        .map(|d| Box::new(d) as Box<dyn BlockDevice>)
        .map_err(|e| Errno::from_code(e.errno()).unwrap_or(Errno::EIO))
}

/// Options from the boot module line (see the module doc).
#[derive(Clone, Copy)]
struct Options {
    volatile: bool,
    norecord: bool,
    die_ppm: u32,
    heap_limit: usize,
    /// Cache buffers (`cache=MIB`: MiB of 4 KiB blocks).
    bufs: usize,
    /// `dev=NAME`: the boot instance's disk (`None` inside: a bad name).
    dev: Option<Option<DiskName>>,
}

/// Default cache: 16 MiB of 4 KiB blocks (buffers are allocated as used).
const DEFAULT_CACHE_MIB: usize = 16;
/// Heap kept above the cache before a failover to a fresh heap.
const HEAP_SLACK: usize = 24 << 20;

/// Exit code of an instance that hands over to a fresh heap.
const EXIT_FAILOVER: i32 = 75;

/// Reads the options of the `mfs` boot module line without allocating
/// (the heap must not be used before `rt::persist::start`).
fn options() -> Options {
    let mut o = Options {
        volatile: false,
        norecord: false,
        die_ppm: 0,
        heap_limit: (DEFAULT_CACHE_MIB << 20) + HEAP_SLACK,
        bufs: DEFAULT_CACHE_MIB * 256,
        dev: None,
    };
    let mut heap_limit_given = false;
    let _ = rt::sys::boot_module_line("mfs", |line| {
        for w in line.unwrap_or("").split_ascii_whitespace().skip(1) {
            match w.split_once('=') {
                None if w == "volatile" => o.volatile = true,
                None if w == "norecord" => o.norecord = true,
                Some(("die", v)) => o.die_ppm = v.parse().unwrap_or(0),
                Some(("heaplimit", v)) => {
                    heap_limit_given = true;
                    o.heap_limit = v.parse::<usize>().map_or(o.heap_limit, |k| k << 10)
                }
                Some(("dev", v)) => o.dev = Some(DiskName::parse(v)),
                Some(("cache", v)) => {
                    if let Ok(mib) = v.parse::<usize>() {
                        o.bufs = mib.max(1) * 256;
                    }
                }
                _ => {}
            }
        }
    });
    if !heap_limit_given {
        o.heap_limit = o.bufs * 4096 + HEAP_SLACK;
    }
    o
}

fn kib(b: usize) -> usize {
    b.div_ceil(1024)
}

/// A new memory registered as the preserved heap's root.
fn new_root(mem: MfsMemoryInner) -> MfsMemory {
    let m = Rc::new(RefCell::new(mem));
    if !rt::persist::register_root(&m) {
        rt::println!("preserved heap: cannot register the root; restarts will be stateless");
    }
    m
}

/// The memory this instance works with: the predecessor's, taken back
/// from the preserved heap, or a new one.
fn memory(o: &Options) -> MfsMemory {
    if o.volatile {
        rt::println!("volatile: private heap, a restart keeps nothing");
        return MfsMemory::default();
    }
    match rt::persist::start() {
        Ok(Start::Adopted(u)) => {
            rt::println!(
                "preserved heap adopted: generation {}, {} KiB in use at adoption, {} KiB mapped, {} resets",
                u.generation,
                kib(u.in_use_at_adoption),
                kib(u.mapped),
                u.resets
            );
            match rt::persist::take_root::<RefCell<MfsMemoryInner>>() {
                Some(m) if m.try_borrow_mut().is_ok() => m,
                Some(_) => {
                    rt::println!(
                        "preserved heap: the memory was in use when the previous instance died; starting stateless"
                    );
                    new_root(MfsMemoryInner::default())
                }
                None => {
                    rt::println!("preserved heap: no root; starting stateless");
                    new_root(MfsMemoryInner::default())
                }
            }
        }
        Ok(Start::Fresh(FreshReason::Requested)) => {
            let carried = rt::persist::take_carry().and_then(|b| Durable::from_bytes(&b));
            match carried {
                Some(d) => {
                    rt::println!(
                        "preserved heap started afresh (failover); took over {} records",
                        d.record_count()
                    );
                    new_root(MfsMemoryInner::with_durable(d))
                }
                None => {
                    rt::println!(
                        "preserved heap started afresh (failover) but the handed-over state is damaged; starting stateless"
                    );
                    new_root(MfsMemoryInner::default())
                }
            }
        }
        Ok(Start::Fresh(why)) => {
            match why {
                FreshReason::Empty => rt::println!("preserved heap: new"),
                FreshReason::Busy => rt::println!(
                    "preserved heap: the previous instance died inside an allocation; starting stateless"
                ),
                _ => rt::println!("preserved heap: not a heap of this program; starting stateless"),
            }
            new_root(MfsMemoryInner::default())
        }
        Err(e) => {
            rt::println!("preserved heap unavailable ({e:?}); restarts will be stateless");
            MfsMemory::default()
        }
    }
}

/// `MfsServer` plus the failover check after each init.
struct NativeMfs {
    server: MfsServer,
    heap_limit: usize,
}

impl Service for NativeMfs {
    fn init(&mut self, cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno> {
        let r = self.server.init(cx, info);
        if let Some(u) = rt::persist::usage()
            && u.in_use > self.heap_limit
        {
            match self.server.hand_over() {
                Ok(bytes) => {
                    rt::println!(
                        "preserved heap failover: {} KiB in use > limit {} KiB after {} generations; cache flushed, handing {} bytes of state to a fresh heap",
                        kib(u.in_use),
                        kib(self.heap_limit),
                        u.generation,
                        bytes.len()
                    );
                    let e = rt::persist::restart_fresh(&bytes, EXIT_FAILOVER);
                    rt::println!("preserved heap failover failed: {e:?}; going on");
                }
                Err(e) => rt::println!("preserved heap failover: flush failed ({e}); going on"),
            }
        }
        r
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        self.server.handle(cx, msg)
    }
}

fn main(args: &str) -> i32 {
    if native::is_image_only(args) {
        rt::println!("boot image only; RS starts the service");
        return 0;
    }
    let opts = options();
    let mem = memory(&opts);
    let label = args.split_ascii_whitespace().next().unwrap_or("mfs");
    let disk = match opts.dev {
        // The boot module line's `dev=` is the boot instance's.
        Some(d) if label == "mfs" => d,
        _ => devname::instance_disk("mfs", label, args),
    };
    let Some(disk) = disk else {
        rt::println!("label '{label}' names no disk (mfs, mfs2, mfs-c1d0, dev=c1d0, ...)");
        return 1;
    };
    let minor: Minor = disk.minor();
    // The root comes from the first disk, or from the RAM disk when the
    // machine has no disk driver (booted without a disk). Chosen once, so
    // a driver restart never switches devices under the file system.
    let first = disk.controller == 0 && minor == 0;
    let driver = if first && !rt::sys::in_boot_image(DRIVER) && rt::sys::in_boot_image(MEMORY) {
        MEMORY
    } else {
        disk.driver()
    };
    let opener: DeviceOpener = Rc::new(move || open(driver, minor));
    let cfg = MfsConfig {
        client_label: Some("vfs"),
        // Reads skip the crc32 (the guest has no fast crc); a restarted
        // instance rereads clean blocks, dirty ones are always checked.
        checksum_clean: false,
        // Checksums once per request; writes of 128 KiB and more stream to
        // the disk before they are answered (and so need none).
        defer_checksums: true,
        write_through: 128 * 1024,
        exactly_once: !opts.norecord,
        die_after_apply_ppm: opts.die_ppm,
        nr_bufs: opts.bufs,
        ..MfsConfig::default()
    };
    if opts.norecord || opts.die_ppm > 0 {
        rt::println!(
            "options: exactly-once record {}, injected deaths after apply {} ppm",
            if opts.norecord { "off" } else { "on" },
            opts.die_ppm
        );
    }
    let mut server =
        MfsServer::new(cfg, mem, opener).with_device_name(&format!("{driver} minor {minor}"));
    // Only drivers the boot image has: opening a device of one that is
    // not there waits for it in DS (libbdev's reconnect) at every mount.
    for &(controller, _, drv) in devname::CONTROLLERS {
        if !rt::sys::in_boot_image(drv) {
            continue;
        }
        for drive in 0..devname::DRIVES {
            let d = DiskName::disk(controller, drive);
            // The disk and its partitions (`/dev/c0d0`, `/dev/c0d0p0`...).
            let parts = (0..devname::PARTITIONS).filter_map(|p| d.with_partition(p));
            for d in core::iter::once(d).chain(parts) {
                let n = d.minor();
                server = server.with_block_device(d.rdev(), Rc::new(move || open(drv, n)));
            }
        }
    }
    if rt::sys::in_boot_image(MEMORY) {
        server = server.with_block_device(MEMORY_MAJOR << 8, Rc::new(|| open(MEMORY, 0)));
    }
    let svc = NativeMfs {
        server,
        heap_limit: opts.heap_limit,
    };
    native::run(sys::Sef::new(svc, sys::StateStore::None))
}
