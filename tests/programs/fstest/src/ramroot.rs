//! `ramroot KIB`: the root file system is the RAM disk (the memory
//! driver's block minor 0, from the boot data module `ramdisk`), booted
//! without any virtio disk. Lists `/`, reads the host's `/etc/motd`,
//! writes a small file and a multi-megabyte one and reads both back,
//! checks `statvfs` covers the whole RAM disk, then unmounts.

use crate::{Check, ensure, err, read_all, write_file};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use native::NativeSys;
use vfs::client::Client;

/// `ramroot KIB`.
pub fn run(sys: &mut NativeSys, c: &mut Client, args: &[&str]) -> Check {
    let kib: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .ok_or("usage: ramroot KIB")?;
    ensure(sys::ds::retrieve_label(sys, "virtio-blk").is_err(), || {
        "a virtio-blk driver is running".into()
    })?;
    let names: Vec<String> = c
        .list_dir(sys, "/")
        .map_err(|e| err("ls /", e))?
        .into_iter()
        .map(|n| String::from_utf8_lossy(&n).into_owned())
        .collect();
    rt::println!("ls /: {}", names.join(" "));
    for want in ["etc", "home", "dev", "tmp"] {
        ensure(names.iter().any(|n| n == want), || {
            format!("/{want} missing from ls /")
        })?;
    }
    let motd = read_all(sys, c, "/etc/motd")?;
    ensure(motd.starts_with(b"Welcome"), || {
        "/etc/motd does not hold the host's text".into()
    })?;
    rt::println!(
        "/etc/motd: {}",
        String::from_utf8_lossy(&motd).lines().next().unwrap_or("")
    );
    let text = b"written to the RAM disk through VFS and MFS\n";
    write_file(sys, c, "/tmp/ram.txt", text)?;
    ensure(read_all(sys, c, "/tmp/ram.txt")? == text, || {
        "/tmp/ram.txt reads back wrong".into()
    })?;
    let big: Vec<u8> = (0..3u32 << 20).map(|i| (i * 31 % 251) as u8).collect();
    write_file(sys, c, "/tmp/big.bin", &big)?;
    ensure(read_all(sys, c, "/tmp/big.bin")? == big, || {
        "/tmp/big.bin reads back wrong".into()
    })?;
    rt::println!("wrote and read back /tmp/ram.txt and a 3 MiB /tmp/big.bin");
    let v = c.statvfs(sys, "/").map_err(|e| err("statvfs", e))?;
    let total = v.blocks * u64::from(v.bsize) / 1024;
    rt::println!(
        "df /: {total} KiB total, {} KiB free, block size {}",
        v.bfree * u64::from(v.bsize) / 1024,
        v.bsize
    );
    ensure(total == kib, || {
        format!("df says {total} KiB, the RAM disk has {kib}")
    })?;
    crate::unmount_root(sys, c)
}
