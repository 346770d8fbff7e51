//! `mount`: lists the mounted file systems (`/etc/mtab`).
//! `mount [-t type] device directory`: mounts the disk `device` (a block
//! special file of a disk driver: `/dev/c0dN` virtio-blk, `/dev/c1dN` the
//! IDE driver at_wini) on `directory`, as file-system `type` (`mfs`, the
//! default, or `isofs`, read-only). The disk's file server is an instance
//! of that program labelled after the disk (`sys::devname`: `mfs2` for
//! `/dev/c0d1`, `isofs-c1d2` for `/dev/c1d2`; MINIX's one server per
//! mounted file system): when it is not running, RS starts it (`service
//! up`), then VFS mounts it and the mount is added to `/etc/mtab`.
//! `device` may also be a file server's label (`mfs2`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use fileutils::{Tool, mode, mtab, rs};
use ulib::{Errno, cli, fs, println};

ulib::main!(main);

const USAGE: &str = "mount [[-t mfs|isofs] device directory]";

fn list(tool: &mut Tool) -> i32 {
    let text = match fs::read_to_string(mtab::MTAB) {
        Ok(t) => t,
        Err(Errno::ENOENT) => String::new(),
        Err(e) => {
            tool.fail(mtab::MTAB, e);
            return tool.status;
        }
    };
    let table = mtab::parse(&text);
    if !table.iter().any(|e| e.dir == "/") {
        println!("root on / type mfs (rw)");
    }
    for e in table {
        println!("{}", e.describe());
    }
    tool.status
}

/// The label of the file server of type `fs` for `dev`.
fn label_of(tool: &mut Tool, fs: &str, dev: &str) -> Option<String> {
    if !dev.contains('/') {
        return Some(String::from(dev));
    }
    let m = match fs::stat(dev) {
        Ok(m) => m,
        Err(e) => {
            tool.fail(dev, e);
            return None;
        }
    };
    if m.mode() & mode::S_IFMT != mode::S_IFBLK {
        tool.error(&format!("{dev}: not a block special file"));
        return None;
    }
    let (major, minor) = mode::dev_split(m.0.rdev);
    let label = mtab::label_for_device(fs, major, minor);
    if label.is_none() {
        tool.error(&format!("{dev}: no file server for device {major},{minor}"));
    }
    label
}

fn main(args: &[String]) -> i32 {
    let mut tool = Tool::new(args, "mount");
    let opts = match tool.options(args, "t:", USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let fs = opts.value('t').unwrap_or("mfs");
    if !mtab::FS_TYPES.contains(&fs) {
        tool.error(&format!("unknown file-system type '{fs}' (mfs, isofs)"));
        return tool.status;
    }
    let ops = opts.operands();
    let (dev, dir) = match ops {
        [] => return list(&mut tool),
        [dev, dir] => (dev, dir),
        _ => return cli::usage(USAGE),
    };
    match fs::stat(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            tool.fail(dir, Errno::ENOTDIR);
            return tool.status;
        }
        Err(e) => {
            tool.fail(dir, e);
            return tool.status;
        }
    }
    let Some(label) = label_of(&mut tool, fs, dev) else {
        return tool.status;
    };
    if let Err(e) =
        rs::running(&label).and_then(|up| if up { Ok(()) } else { rs::start_fs(fs, &label) })
    {
        tool.fail(&format!("{dev}: cannot start file server {label}"), e);
        return tool.status;
    }
    if let Err(e) = fs::mount(dir, &label) {
        tool.fail(&format!("{dev} on {dir}"), e);
        return tool.status;
    }
    let mut table = mtab::parse(&fs::read_to_string(mtab::MTAB).unwrap_or_default());
    table.push(mtab::Entry {
        dev: dev.clone(),
        dir: fileutils::absolute(dir),
        fstype: fs.into(),
        opts: format!("{},label={label}", if fs == "isofs" { "ro" } else { "rw" }),
    });
    match fs::write(mtab::MTAB, mtab::format(&table).as_bytes()) {
        Ok(()) => {}
        // The installation CD's root is read-only: the mount stands, only
        // the table cannot list it.
        Err(Errno::EROFS) => println!("mount: {} is read-only; not listed there", mtab::MTAB),
        Err(e) => tool.fail(mtab::MTAB, e),
    }
    println!("{dev} is mounted on {dir}");
    tool.status
}
