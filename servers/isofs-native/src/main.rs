//! `isofs`: the ISO 9660 file server (`isofs::server`) on the kernel. RS
//! starts an instance on request (`service up`, the `isofs` row of its
//! table: stateful, not at boot); the label names the disk: `isofs`
//! serves minor 0 of the block driver `virtio-blk`, `isofsN` minor N-1.
//! The device is reached through libbdev (`Bdev`: retries, reopen and
//! resend after a driver restart) over the native block-driver transport
//! (`native::bdev`), read-only. The ISO's block-special nodes of the
//! virtio-blk disks and their partitions (`/dev/c0dN`, `/dev/c0dNpP`)
//! are served read-write (the installer writes disks through them).
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

rt::entry!(main);

/// Label of the disk driver.
const DRIVER: &str = "virtio-blk";
/// Reconnect-and-reopen rounds per libbdev recovery.
const RECOVER_ROUNDS: u32 = 8;
/// Cache: 4 MiB of 2 KiB blocks (allocated as used).
const CACHE_BUFS: usize = 2048;

/// The disk a label names: `isofs` → 0, `isofsN` → N-1.
fn minor_of(label: &str) -> Option<Minor> {
    let rest = label.strip_prefix("isofs")?;
    if rest.is_empty() {
        return Some(0);
    }
    rest.parse::<Minor>()
        .ok()
        .filter(|&n| n >= 1)
        .map(|n| n - 1)
}

fn open(minor: Minor, access: Access) -> Result<Box<dyn BlockDevice>, Errno> {
    let client = Rc::new(RefCell::new(
        Bdev::new(native::bdev::IpcDriver::new(DRIVER)).with_recover_tries(RECOVER_ROUNDS),
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
/// of virtio-blk, major 3): (device number, driver minor).
fn disk_nodes() -> impl Iterator<Item = (u32, Minor)> {
    const DISK_MAJOR: u32 = 3;
    const DISKS: u32 = 4;
    (0..DISKS)
        .map(|n| (DISK_MAJOR << 8 | n, n))
        .chain((0..DISKS).flat_map(|n| {
            (0..libbdev::mbr::ENTRIES).filter_map(move |p| {
                libbdev::mbr::partition_minor(n, p).map(|m| (DISK_MAJOR << 8 | m, m))
            })
        }))
}

fn main(args: &str) -> i32 {
    if native::is_image_only(args) {
        rt::println!("boot image only; RS starts the service");
        return 0;
    }
    let label = args.split_ascii_whitespace().next().unwrap_or("isofs");
    let Some(minor) = minor_of(label) else {
        rt::println!("label '{label}' names no disk (isofs, isofs2, ...)");
        return 1;
    };
    let opener: DeviceOpener = Rc::new(move || open(minor, Access::R));
    let cfg = IsoConfig {
        client_label: Some("vfs"),
        nr_bufs: CACHE_BUFS,
        ..IsoConfig::default()
    };
    let mut server =
        IsoServer::new(cfg, opener).with_device_name(&format!("{DRIVER} minor {minor}"));
    // The disks' nodes, for an ISO that is the root (the installer).
    for (rdev, m) in disk_nodes() {
        server = server.with_block_device(rdev, Rc::new(move || open(m, Access::RW)));
    }
    native::run(sys::Sef::new(server, sys::StateStore::Ds))
}
