//! `df [file ...]`: size, used and free space (KiB) and inodes of the
//! mounted file systems (`/` and those in `/etc/mtab`), or of the file
//! systems holding the files named.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use fileutils::{Tool, absolute, mtab, paths};
use ulib::{fs, println};

ulib::main!(main);

/// (device, mount point) of every mounted file system, `/` first.
fn mounts() -> Vec<(String, String)> {
    let table = mtab::parse(&fs::read_to_string(mtab::MTAB).unwrap_or_default());
    let root = table
        .iter()
        .find(|e| e.dir == "/")
        .map_or_else(|| String::from("root"), |e| e.dev.clone());
    let mut out = alloc::vec![(root, String::from("/"))];
    out.extend(
        table
            .into_iter()
            .filter(|e| e.dir != "/")
            .map(|e| (e.dev, e.dir)),
    );
    out
}

fn main(args: &[String]) -> i32 {
    let mut tool = Tool::new(args, "df");
    let opts = match tool.options(args, "k", "df [-k] [file ...]") {
        Ok(o) => o,
        Err(code) => return code,
    };
    let all = mounts();
    let shown: Vec<(String, String, String)> = if opts.operands().is_empty() {
        all.iter()
            .map(|(d, m)| (d.clone(), m.clone(), m.clone()))
            .collect()
    } else {
        opts.operands()
            .iter()
            .map(|p| {
                let a = absolute(p);
                // The longest mount point holding the file.
                let (d, m) = all
                    .iter()
                    .filter(|(_, m)| paths::is_within(m, &a))
                    .max_by_key(|(_, m)| m.len())
                    .cloned()
                    .unwrap_or_else(|| (String::from("root"), String::from("/")));
                (d, m, p.clone())
            })
            .collect()
    };
    println!(
        "{:<12} {:>10} {:>10} {:>10} {:>8} {:>8}  Mounted on",
        "Filesystem", "1K-blocks", "Used", "Free", "Inodes", "IFree"
    );
    for (dev, mnt, path) in shown {
        match fs::statvfs(&path) {
            Ok(s) => {
                let k = u64::from(s.bsize) / 1024;
                let (total, free) = if k > 0 {
                    (s.blocks * k, s.bfree * k)
                } else {
                    (
                        s.blocks * u64::from(s.bsize) / 1024,
                        s.bfree * u64::from(s.bsize) / 1024,
                    )
                };
                println!(
                    "{dev:<12} {total:>10} {:>10} {free:>10} {:>8} {:>8}  {mnt}",
                    total.saturating_sub(free),
                    s.files,
                    s.ffree
                );
            }
            Err(e) => tool.fail(&path, e),
        }
    }
    tool.status
}
