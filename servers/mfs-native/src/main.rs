//! `mfs`: the MINIX file-system server (`mfs::server`) on the kernel. RS
//! starts one instance per mounted disk from its service table; the label
//! names the disk: `mfs` serves minor 0 of the block driver `virtio-blk`,
//! `mfs2` minor 1, `mfsN` minor N-1. The device is reached through libbdev
//! (`Bdev`: retries, reopen and resend after a driver restart) over the
//! native block-driver transport (`native::bdev`).
//!
//! At init the server mounts the disk and logs what it mounted (device,
//! format, block size, size and free space); a disk it cannot mount is
//! reported with the reason and the server stays up unmounted, so VFS gets
//! the error and the system keeps running. Only VFS is answered (MFS checks
//! the sender of every request). Listed as a boot module with the argument
//! `image` so that `Spawn` finds its image.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use libbdev::{Access, Bdev, BdevDevice, Minor};
use libminixfs::BlockDevice;
use mfs::server::{DeviceOpener, MfsConfig, MfsMemory, MfsServer};
use sys::Errno;

rt::entry!(main);

/// Label of the block driver.
const DRIVER: &str = "virtio-blk";

/// The disk a label names: `mfs` → 0, `mfsN` → N-1.
fn minor_of(label: &str) -> Option<Minor> {
    let rest = label.strip_prefix("mfs")?;
    if rest.is_empty() {
        return Some(0);
    }
    rest.parse::<Minor>()
        .ok()
        .filter(|&n| n >= 1)
        .map(|n| n - 1)
}

fn main(args: &str) -> i32 {
    if native::is_image_only(args) {
        rt::println!("boot image only; RS starts the service");
        return 0;
    }
    let label = args.split_ascii_whitespace().next().unwrap_or("mfs");
    let Some(minor) = minor_of(label) else {
        rt::println!("label '{label}' names no disk (mfs, mfs2, ...)");
        return 1;
    };
    let opener: DeviceOpener = Rc::new(move || {
        let client = Bdev::shared(native::bdev::IpcDriver::new(DRIVER));
        BdevDevice::open(&client, minor, Access::RW)
            .map(|d| Box::new(d) as Box<dyn BlockDevice>)
            .map_err(|e| Errno::from_code(e.errno()).unwrap_or(Errno::EIO))
    });
    let cfg = MfsConfig {
        client_label: Some("vfs"),
        ..MfsConfig::default()
    };
    let server = MfsServer::new(cfg, MfsMemory::default(), opener)
        .with_device_name(&format!("{DRIVER} minor {minor}"));
    native::run(sys::Sef::new(server, sys::StateStore::None))
}
