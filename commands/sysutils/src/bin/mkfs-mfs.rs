//! `/sbin/mkfs.mfs [-V 1|2|3] [-B blocksize] [-b blocks] [-i inodes] [-n
//! namelen] device [blocks]`: makes an empty MINIX file system on a block
//! device (or image file) with the `mfs` crate the host tool uses. The
//! size defaults to the whole device. A device `/etc/mtab` lists as
//! mounted is refused.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use sysutils::device::FileDevice;
use sysutils::disk::{MKFS_USAGE, parse_mkfs};
use ulib::cli;
use ulib::{println, time};

ulib::main!(main);

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "mkfs.mfs");
    let mut cmd = match parse_mkfs(args.get(1..).unwrap_or(&[]), time::now() as u32) {
        Ok(c) => c,
        Err(e) => {
            ulib::eprintln!("{prog}: {e}");
            return cli::usage(MKFS_USAGE);
        }
    };
    let dev_name = cmd.device.clone();
    if let Some(dir) = sysutils::mounted_on(&dev_name) {
        return cli::error(prog, &alloc::format!("{dev_name} is mounted on {dir}"));
    }
    let mut dev = match FileDevice::open(&dev_name, true) {
        Ok(d) => d,
        Err(e) => return cli::fail(prog, &dev_name, e),
    };
    if cmd.opts.blocks == 0 {
        match dev.byte_size() {
            Ok(bytes) => cmd.opts.blocks = bytes / u64::from(cmd.opts.block_size.max(1)),
            Err(e) => return cli::fail(prog, &dev_name, e),
        }
    }
    match mfs::mkfs::mkfs(&mut dev, &cmd.opts) {
        Ok(sb) => {
            let g = sb.geometry();
            println!(
                "{dev_name}: MINIX V{} file system, {} blocks of {} bytes, {} inodes, first data zone {}, names up to {} bytes",
                g.version.number(),
                g.zones,
                g.block_size,
                g.ninodes,
                g.first_data_zone,
                g.name_len
            );
            cli::EXIT_OK
        }
        Err(e) => cli::error(prog, &alloc::format!("{dev_name}: {e}")),
    }
}
