//! `isofs`: the ISO 9660 file server (`isofs::server`) on the kernel. RS
//! starts an instance on request (`service up`, the `isofs` row of its
//! table: stateful, not at boot); the label names the disk: `isofs`
//! serves minor 0 of the block driver `virtio-blk`, `isofsN` minor N-1.
//! The device is reached through libbdev (`Bdev`: retries, reopen and
//! resend after a driver restart) over the native block-driver transport
//! (`native::bdev`), read-only.
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

fn open(minor: Minor) -> Result<Box<dyn BlockDevice>, Errno> {
    let client = Rc::new(RefCell::new(
        Bdev::new(native::bdev::IpcDriver::new(DRIVER)).with_recover_tries(RECOVER_ROUNDS),
    ));
    BdevDevice::open(&client, minor, Access::R)
        .map(|d| Box::new(d) as Box<dyn BlockDevice>)
        .map_err(|e| Errno::from_code(e.errno()).unwrap_or(Errno::EIO))
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
    let opener: DeviceOpener = Rc::new(move || open(minor));
    let cfg = IsoConfig {
        client_label: Some("vfs"),
        nr_bufs: CACHE_BUFS,
        ..IsoConfig::default()
    };
    let server = IsoServer::new(cfg, opener).with_device_name(&format!("{DRIVER} minor {minor}"));
    native::run(sys::Sef::new(server, sys::StateStore::Ds))
}
