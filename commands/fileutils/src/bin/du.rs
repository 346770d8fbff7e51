//! `du [-ks] [file ...]`: the space files and directories take (whole
//! blocks of their file system), in 512-byte units or KiB with `-k`; a
//! line per directory, only the totals with `-s`. Hard-linked files count
//! once.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;
use fileutils::{Tool, paths, size};
use ulib::{fs, println};

ulib::main!(main);

struct Du {
    tool: Tool,
    unit: u64,
    summary: bool,
    all: bool,
    seen: BTreeSet<u32>,
}

impl Du {
    /// Bytes under `path` (printing directory lines on the way).
    fn walk(&mut self, path: &str, top: bool) -> u64 {
        let m = match fs::lstat(path) {
            Ok(m) => m,
            Err(e) => {
                self.tool.fail(path, e);
                return 0;
            }
        };
        if !m.is_dir() && m.0.nlinks > 1 && !self.seen.insert(m.ino()) {
            return 0;
        }
        let mut bytes = size::allocated(m.len(), m.0.blksize);
        if m.is_dir() {
            let names: Vec<String> = match fs::read_dir(path) {
                Ok(v) => v
                    .into_iter()
                    .map(|e| e.name)
                    .filter(|n| !paths::is_dot(n))
                    .collect(),
                Err(e) => {
                    self.tool.fail(path, e);
                    Vec::new()
                }
            };
            for n in names {
                bytes += self.walk(&paths::join(path, &n), false);
            }
        }
        if top || (!self.summary && (m.is_dir() || self.all)) {
            println!("{}\t{path}", size::units(bytes, self.unit));
        }
        bytes
    }
}

fn main(args: &[String]) -> i32 {
    let tool = Tool::new(args, "du");
    let opts = match tool.options(args, "aks", "du [-aks] [file ...]") {
        Ok(o) => o,
        Err(code) => return code,
    };
    let mut du = Du {
        tool,
        unit: if opts.has('k') { 1024 } else { 512 },
        summary: opts.has('s'),
        all: opts.has('a'),
        seen: BTreeSet::new(),
    };
    let mut ops: Vec<String> = opts.operands().to_vec();
    if ops.is_empty() {
        ops.push(String::from("."));
    }
    for p in &ops {
        du.walk(p, true);
    }
    du.tool.status
}
