//! `umount directory|device`: unmounts the file system mounted on the
//! directory (or from the device, as `/etc/mtab` lists it), removes it
//! from `/etc/mtab` and has RS stop its file server (as MINIX's umount
//! does; the root's `mfs` is never stopped).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use fileutils::{Tool, absolute, mtab, rs};
use ulib::{Errno, cli, fs, println};

ulib::main!(main);

const USAGE: &str = "umount directory|device";

fn main(args: &[String]) -> i32 {
    let mut tool = Tool::new(args, "umount");
    let opts = match tool.options(args, "", USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let [what] = opts.operands() else {
        return cli::usage(USAGE);
    };
    let table = mtab::parse(&fs::read_to_string(mtab::MTAB).unwrap_or_default());
    let abs = absolute(what);
    let entry = table
        .iter()
        .rev()
        .find(|e| e.dir == abs || e.dev == *what)
        .cloned();
    let dir = entry.as_ref().map_or(abs, |e| e.dir.clone());
    if let Err(e) = fs::umount(&dir) {
        tool.fail(what, e);
        return tool.status;
    }
    if let Some(left) = mtab::remove(&table, &dir)
        && let Err(e) = fs::write(mtab::MTAB, mtab::format(&left).as_bytes())
    {
        // On a read-only root (the installation CD) mount could not list
        // it either.
        if e != Errno::EROFS {
            tool.fail(mtab::MTAB, e);
        }
    }
    let label: Option<String> = entry.as_ref().and_then(|e| {
        e.opts
            .split(',')
            .find_map(|o| o.strip_prefix("label="))
            .map(String::from)
    });
    if let Some(l) = label.filter(|l| l != "mfs")
        && let Err(e) = rs::stop(&l)
    {
        tool.fail(&format!("stopping file server {l}"), e);
    }
    let dev = entry.map_or_else(|| dir.clone(), |e| e.dev);
    println!("{dev} unmounted from {dir}");
    tool.status
}
