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

/// Label of the disk driver.
const DRIVER: &str = "virtio-blk";
/// Label of the memory driver (RAM disk at its block minor 0).
const MEMORY: &str = "memory";
/// Device numbers (major << 8 | minor) of block-special nodes: the disk
/// driver is major 3 (`/dev/c0dN`), the RAM disk major 1 minor 0
/// (`/dev/ram`), as in MINIX.
const DISK_MAJOR: u32 = 3;
const MEMORY_MAJOR: u32 = 1;
/// Disks reachable through `/dev/c0d0` .. `/dev/c0d3`.
const DISK_NODES: u32 = 4;

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

fn open(driver: &str, minor: Minor) -> Result<Box<dyn BlockDevice>, Errno> {
    let client = Bdev::shared(native::bdev::IpcDriver::new(driver));
    BdevDevice::open(&client, minor, Access::RW)
        .map(|d| Box::new(d) as Box<dyn BlockDevice>)
        .map_err(|e| Errno::from_code(e.errno()).unwrap_or(Errno::EIO))
}

/// Whether the boot image has a program (RS starts the drivers it has).
fn in_boot_image(program: &str) -> bool {
    let mut buf = alloc::vec![0u8; 8192];
    let n = rt::sys::boot_modules(&mut buf).unwrap_or(0).min(buf.len());
    core::str::from_utf8(&buf[..n])
        .unwrap_or("")
        .lines()
        .any(|l| l.split_ascii_whitespace().next() == Some(program))
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
    // The root comes from the first disk, or from the RAM disk when the
    // machine has no disk driver (booted without a disk). Chosen once, so
    // a driver restart never switches devices under the file system.
    let driver = if minor == 0 && !in_boot_image(DRIVER) && in_boot_image(MEMORY) {
        MEMORY
    } else {
        DRIVER
    };
    let opener: DeviceOpener = Rc::new(move || open(driver, minor));
    let cfg = MfsConfig {
        client_label: Some("vfs"),
        ..MfsConfig::default()
    };
    let mut server = MfsServer::new(cfg, MfsMemory::default(), opener)
        .with_device_name(&format!("{driver} minor {minor}"));
    for n in 0..DISK_NODES {
        server = server.with_block_device(DISK_MAJOR << 8 | n, Rc::new(move || open(DRIVER, n)));
    }
    server = server.with_block_device(MEMORY_MAJOR << 8, Rc::new(|| open(MEMORY, 0)));
    native::run(sys::Sef::new(server, sys::StateStore::None))
}
