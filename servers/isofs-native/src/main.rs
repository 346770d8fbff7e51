//! `isofs`: the ISO 9660 file server (`isofs::server`) on the kernel. RS
//! starts an instance on request (`service up`, the `isofs` row of its
//! table: stateful, not at boot); the label names the disk
//! (`sys::devname::instance_disk`): `isofs` serves minor 0 of the block
//! driver `virtio-blk`, `isofsN` minor N-1, `isofs-c1d2` the disk
//! `/dev/c1d2` (driver `at_wini`, drive 2: QEMU's `-cdrom`); the instance
//! labelled `isofs` may name its disk with `dev=NAME` on the `isofs` boot
//! module line (`isofs-native:isofs image dev=c1d2`).
//! The device is reached through libbdev (`Bdev`: retries, reopen and
//! resend after a driver restart) over the native block-driver transport
//! (`native::bdev`), read-only. The ISO's block-special nodes of the
//! virtio-blk disks and their partitions (`/dev/c0dN`, `/dev/c0dNpP`) and
//! of the IDE drives (`/dev/c1dN`) are served read-write (the installer writes disks through them).
//!
//! At init the server mounts the ISO and logs what it mounted (volume,
//! naming scheme, size); an image it cannot mount is reported with the
//! reason and the server stays up unmounted, so VFS gets the error. Only
//! VFS is answered. Stateful restart: the mount and the mount points on
//! the ISO go to DS through SEF after every change and come back to a
//! restarted instance (see `isofs::server`). Listed as a boot module with
//! the argument `image` so that `Spawn` finds its image.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use core::cell::RefCell;
use isofs::server::{DeviceOpener, IsoConfig, IsoServer};
use libbdev::{Access, Bdev, BdevDevice, Minor};
use libminixfs::BlockDevice;
use sys::Errno;
use sys::devname::{self, DiskName};

rt::entry!(main);

/// Reconnect-and-reopen rounds per libbdev recovery.
const RECOVER_ROUNDS: u32 = 8;
/// Cache: 4 MiB of 2 KiB blocks (allocated as used).
const CACHE_BUFS: usize = 2048;

/// `dev=NAME` on the `isofs` boot module line (`Some(None)`: a bad name).
fn boot_line_disk() -> Option<Option<DiskName>> {
    rt::sys::boot_module_line("isofs", |line| {
        line.unwrap_or("")
            .split_ascii_whitespace()
            .find_map(|w| w.strip_prefix("dev="))
            .map(DiskName::parse)
    })
    .ok()
    .flatten()
}

fn open(driver: &'static str, minor: Minor, access: Access) -> Result<Box<dyn BlockDevice>, Errno> {
    let client = Rc::new(RefCell::new(
        Bdev::new(native::bdev::IpcDriver::new(driver)).with_recover_tries(RECOVER_ROUNDS),
    ));
    BdevDevice::open(&client, minor, access)
        .or_else(|e| {
            // A read-only disk behind a node opens read-only.
            if access == Access::RW && Errno::from_code(e.errno()) == Some(Errno::EROFS) {
                BdevDevice::open(&client, minor, Access::R)
            } else {
                Err(e)
            }
        })
        .map(|d| Box::new(d) as Box<dyn BlockDevice>)
        .map_err(|e| Errno::from_code(e.errno()).unwrap_or(Errno::EIO))
}

/// The block-special nodes an ISO root serves (`/dev/c0dN`, `/dev/c0dNpP`
/// of virtio-blk, major 3; `/dev/c1dN` of at_wini, major 8), of the
/// drivers the boot image has: (device number, driver, driver minor).
fn disk_nodes() -> impl Iterator<Item = (u32, &'static str, Minor)> {
    const VIRTIO: DiskName = DiskName::disk(0, 0);
    let major = VIRTIO.major();
    let drives = u32::from(devname::DRIVES);
    let virtio = (0..drives)
        .map(move |n| (major << 8 | n, n))
        .chain((0..drives).flat_map(move |n| {
            (0..libbdev::mbr::ENTRIES).filter_map(move |p| {
                libbdev::mbr::partition_minor(n, p).map(|m| (major << 8 | m, m))
            })
        }))
        .filter(|_| rt::sys::in_boot_image(VIRTIO.driver()))
        .map(|(rdev, m)| (rdev, VIRTIO.driver(), m));
    // The IDE drives (`/dev/c1dN`) when the boot image has at_wini.
    let ide = (0..devname::DRIVES)
        .map(|drive| DiskName::disk(1, drive))
        .filter(|d| rt::sys::in_boot_image(d.driver()))
        .map(|d| (d.rdev(), d.driver(), d.minor()));
    virtio.chain(ide)
}

fn main(args: &str) -> i32 {
    if native::is_image_only(args) {
        rt::println!("boot image only; RS starts the service");
        return 0;
    }
    let label = args.split_ascii_whitespace().next().unwrap_or("isofs");
    let disk = match boot_line_disk() {
        // The boot module line's `dev=` is the instance labelled `isofs`.
        Some(d) if label == "isofs" => d,
        _ => devname::instance_disk("isofs", label, args),
    };
    let Some(disk) = disk else {
        rt::println!("label '{label}' names no disk (isofs, isofs2, isofs-c1d2, dev=c1d2, ...)");
        return 1;
    };
    let (driver, minor) = (disk.driver(), disk.minor());
    let opener: DeviceOpener = Rc::new(move || open(driver, minor, Access::R));
    let cfg = IsoConfig {
        client_label: Some("vfs"),
        nr_bufs: CACHE_BUFS,
        ..IsoConfig::default()
    };
    let mut server =
        IsoServer::new(cfg, opener).with_device_name(&format!("{driver} minor {minor}"));
    // The disks' nodes, for an ISO that is the root (the installer).
    for (rdev, drv, m) in disk_nodes() {
        server = server.with_block_device(rdev, Rc::new(move || open(drv, m, Access::RW)));
    }
    native::run(sys::Sef::new(server, sys::StateStore::Ds))
}
