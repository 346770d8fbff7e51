//! `/bin/setup [-y] DISK`: the installer (MINIX's `setup`), run from the
//! installation ISO. It makes `DISK` (`/dev/c0d0`) a bootable copy of the
//! running system:
//!
//! 1. checks the disk (a block device that answers, not mounted, at least
//!    `setup_core::layout::MIN_DISK_SECTORS`) and GRUB's images on the ISO
//!    (`/boot/setup/boot.img`, `core.img`) before anything is written;
//! 2. asks for confirmation (unless `-y`);
//! 3. writes the MBR (boot.img's code, one active MINIX partition from
//!    sector 2048 to the end) and core.img into sectors 1..2048;
//! 4. makes an MFS V3 file system on the partition (`/sbin/mkfs.mfs
//!    DISKp0`) and mounts it on `/mnt` (`/bin/mount`);
//! 5. copies the system — every top-level directory of `/` (files,
//!    directories, symbolic links and the device nodes of `/dev`, with
//!    owners and modes) but the ISO's own `/etc/mtab` and GRUB's CD files
//!    — and writes the disk's `/boot/grub/grub.cfg` (`setup_core::
//!    DISK_MODULES`: MFS on `c0d0p0` as the root);
//! 6. unmounts and says what it did.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use setup_core::layout::{self, PART_START, SECTOR};
use sysutils::device::FileDevice;
use ulib::errno::strerror;
use ulib::{Errno, fs, print, println, process};

ulib::main!(main);

const USAGE: &str = "setup [-y] /dev/c0dN";
/// Where the new file system is mounted while the system is copied.
const TARGET: &str = "/mnt";
/// GRUB's images on the ISO (`images::iso`).
const BOOT_IMG: &str = "/boot/setup/boot.img";
const CORE_IMG: &str = "/boot/setup/core.img";

/// File-type bits of a mode.
const S_IFMT: u16 = 0o170_000;
const S_IFDIR: u16 = 0o040_000;
const S_IFREG: u16 = 0o100_000;
const S_IFLNK: u16 = 0o120_000;
const S_IFBLK: u16 = 0o060_000;

/// What was copied.
#[derive(Default)]
struct Counts {
    dirs: u32,
    files: u32,
    bytes: u64,
    links: u32,
    nodes: u32,
}

fn main(args: &[String]) -> i32 {
    let mut yes = false;
    let mut disk = None;
    for a in args.iter().skip(1) {
        match a.as_str() {
            "-y" => yes = true,
            s if s.starts_with('-') => return ulib::cli::usage(USAGE),
            s if disk.is_none() => disk = Some(String::from(s)),
            _ => return ulib::cli::usage(USAGE),
        }
    }
    let Some(disk) = disk else {
        return ulib::cli::usage(USAGE);
    };
    match install(&disk, yes) {
        Ok(()) => 0,
        Err(msg) => {
            ulib::eprintln!("setup: {msg}");
            1
        }
    }
}

fn errs(what: &str) -> impl Fn(Errno) -> String + '_ {
    move |e| format!("{what}: {}", strerror(e))
}

/// Runs a program and fails unless it exits 0.
fn run(path: &str, argv: &[&str]) -> Result<(), String> {
    let st = process::run(path, argv).map_err(errs(path))?;
    match st.code() {
        Some(0) => Ok(()),
        _ => Err(format!("{} failed", argv.join(" "))),
    }
}

fn install(disk: &str, yes: bool) -> Result<(), String> {
    // 1. Everything is checked before anything is written.
    let m = fs::stat(disk).map_err(errs(disk))?;
    if m.mode() & S_IFMT != S_IFBLK {
        return Err(format!(
            "{disk} is not a block device (a disk is /dev/c0dN)"
        ));
    }
    let part = format!("{disk}p0");
    if !fs::exists(&part) {
        return Err(format!("{disk} has no partition node {part}"));
    }
    for d in [disk, part.as_str()] {
        if let Some(dir) = sysutils::mounted_on(d) {
            return Err(format!("{d} is mounted on {dir}"));
        }
    }
    let size = FileDevice::open(disk, false)
        .and_then(|mut d| d.byte_size())
        .map_err(|e| format!("{disk}: no such disk ({})", strerror(e)))?;
    let sectors = size / SECTOR as u64;
    let boot = fs::read(BOOT_IMG).map_err(errs(BOOT_IMG))?;
    let core = fs::read(CORE_IMG).map_err(errs(CORE_IMG))?;
    let mbr = layout::mbr_sector(&boot, sectors).map_err(|e| format!("{disk}: {e}"))?;
    layout::check_core(&core).map_err(|e| format!("{CORE_IMG}: {e}"))?;
    let p = layout::partition(sectors).map_err(|e| format!("{disk}: {e}"))?;

    // 2. Confirmation.
    println!(
        "setup: installing on {disk} ({} MiB): GRUB in sectors 0..{PART_START}, MINIX partition {part} of {} MiB",
        size >> 20,
        p.size() >> 20
    );
    if !yes {
        print!("setup: everything on {disk} will be lost. Type 'yes' to go on: ");
        ulib::io::flush();
        let line = ulib::io::stdin()
            .read_line()
            .ok()
            .flatten()
            .unwrap_or_default();
        if line.trim() != "yes" {
            return Err(String::from("not confirmed; nothing was written"));
        }
    }

    // 3. The MBR and GRUB's core.img (one write of sectors 0..).
    let mut head = Vec::with_capacity(SECTOR + core.len().next_multiple_of(SECTOR));
    head.extend_from_slice(&mbr);
    head.extend_from_slice(&core);
    head.resize(head.len().next_multiple_of(SECTOR), 0);
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(disk)
        .map_err(errs(disk))?;
    f.write_all(&head).map_err(errs(disk))?;
    f.sync_all().map_err(errs(disk))?;
    f.close().map_err(errs(disk))?;
    println!(
        "setup: wrote the MBR (GRUB's boot code; partition 1: type 0x81, sectors {}..{}) and core.img (sectors 1..{})",
        p.start,
        p.start + p.sectors,
        head.len() / SECTOR
    );

    // 4. The file system.
    run("/sbin/mkfs.mfs", &["mkfs.mfs", &part])?;
    run("/bin/mount", &["mount", &part, TARGET])?;

    // 5. The system.
    let mut c = Counts::default();
    let copied = copy_system(&mut c).and_then(|()| write_grub_cfg());
    let _ = fs::sync();
    let unmounted = run("/bin/umount", &["umount", TARGET]);
    copied?;
    unmounted?;
    println!(
        "setup: copied {} directories, {} files ({} KiB), {} symbolic links, {} device nodes; wrote /boot/grub/grub.cfg (root: MFS on {part})",
        c.dirs,
        c.files,
        c.bytes >> 10,
        c.links,
        c.nodes
    );
    println!("setup: done; boot from {disk} (the system's first disk: c0d0p0 is its root)");
    Ok(())
}

/// Copies every top-level directory of `/` onto [`TARGET`].
fn copy_system(c: &mut Counts) -> Result<(), String> {
    let mut tops: Vec<String> = fs::read_dir("/")
        .map_err(errs("/"))?
        .into_iter()
        .map(|e| e.name)
        .filter(|n| n != "." && n != "..")
        .collect();
    tops.sort_unstable();
    for name in tops {
        let src = format!("/{name}");
        let m = fs::lstat(&src).map_err(errs(&src))?;
        // The ISO's El Torito catalog and plain files at the top are the
        // CD's, not the system's.
        if m.mode() & S_IFMT != S_IFDIR {
            continue;
        }
        let dst = format!("{TARGET}/{name}");
        if src == TARGET {
            // The mount point itself: an empty directory.
            make_dir(&dst, &m, c)?;
            continue;
        }
        copy_tree(&src, &dst, c)?;
    }
    Ok(())
}

/// Paths of the ISO that the disk does not get: its mount table (the
/// CD's root) and GRUB's CD files (the disk gets its own grub.cfg).
fn skipped(src: &str) -> bool {
    matches!(src, "/etc/mtab" | "/boot/grub")
}

fn make_dir(dst: &str, m: &fs::Metadata, c: &mut Counts) -> Result<(), String> {
    match fs::mkdir(dst, 0o700) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(format!("{dst}: {}", strerror(e))),
    }
    c.dirs += 1;
    owner_and_mode(dst, m)
}

fn owner_and_mode(dst: &str, m: &fs::Metadata) -> Result<(), String> {
    fs::chown(dst, m.0.uid, m.0.gid).map_err(errs(dst))?;
    fs::chmod(dst, m.permissions()).map_err(errs(dst))
}

fn copy_tree(src: &str, dst: &str, c: &mut Counts) -> Result<(), String> {
    if skipped(src) {
        return Ok(());
    }
    let m = fs::lstat(src).map_err(errs(src))?;
    match m.mode() & S_IFMT {
        S_IFDIR => {
            match fs::mkdir(dst, 0o700) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(format!("{dst}: {}", strerror(e))),
            }
            c.dirs += 1;
            let mut names: Vec<String> = fs::read_dir(src)
                .map_err(errs(src))?
                .into_iter()
                .map(|e| e.name)
                .filter(|n| n != "." && n != "..")
                .collect();
            names.sort_unstable();
            for n in names {
                copy_tree(&format!("{src}/{n}"), &format!("{dst}/{n}"), c)?;
            }
            owner_and_mode(dst, &m)
        }
        S_IFREG => {
            let data = fs::read(src).map_err(errs(src))?;
            fs::write(dst, &data).map_err(errs(dst))?;
            c.files += 1;
            c.bytes += data.len() as u64;
            owner_and_mode(dst, &m)
        }
        S_IFLNK => {
            let t = fs::readlink(src).map_err(errs(src))?;
            fs::symlink(&t, dst).map_err(errs(dst))?;
            c.links += 1;
            Ok(())
        }
        // Device nodes, FIFOs: made anew with the same number.
        _ => {
            fs::mknod(dst, m.mode(), m.0.rdev).map_err(errs(dst))?;
            c.nodes += 1;
            owner_and_mode(dst, &m)
        }
    }
}

/// The disk's GRUB configuration: the installed system's boot modules.
fn write_grub_cfg() -> Result<(), String> {
    let cfg = setup_core::grub_cfg(&setup_core::BootEntry {
        title: "MINIX-rs",
        append: setup_core::APPEND,
        modules: setup_core::DISK_MODULES,
    })
    .map_err(|e| format!("grub.cfg: {}", e.0))?;
    let dir = format!("{TARGET}/boot/grub");
    match fs::mkdir(&dir, 0o755) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(format!("{dir}: {}", strerror(e))),
    }
    let path = format!("{dir}/grub.cfg");
    fs::write(&path, cfg.as_bytes()).map_err(errs(&path))
}
