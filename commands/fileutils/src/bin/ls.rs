//! `ls [-1adlR] [file ...]`: list directories (sorted by name) and files.
//! `-l` long form: mode, links, uid, gid, size (major, minor for
//! devices), name and `-> target` for symbolic links; `-a` also names
//! starting with `.`; `-d` directories themselves; `-R` recursively;
//! `-1` one name per line, the layout when standard output is not a
//! terminal (on one, names go down columns that fit its width).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use fileutils::{Tool, columns, mode, paths};
use ulib::fs::{self, Metadata};
use ulib::println;

ulib::main!(main);

struct Ls {
    tool: Tool,
    long: bool,
    all: bool,
    recursive: bool,
    headers: bool,
    first: bool,
    /// Terminal width for the column layout (`None`: one per line).
    width: Option<usize>,
}

impl Ls {
    /// One line for `name` (at `path`, attributes `m`).
    fn entry(&mut self, path: &str, name: &str, m: Option<&Metadata>) {
        if !self.long {
            println!("{name}");
            return;
        }
        let m = match m {
            Some(m) => *m,
            None => match fs::lstat(path) {
                Ok(m) => m,
                Err(e) => return self.tool.fail(path, e),
            },
        };
        let size = if mode::is_device(m.mode()) {
            let (maj, min) = mode::dev_split(m.0.rdev);
            alloc::format!("{maj:>3}, {min:>3}")
        } else {
            alloc::format!("{:>8}", m.len())
        };
        let link = if m.is_symlink() {
            match fs::readlink(path) {
                Ok(t) => alloc::format!(" -> {t}"),
                Err(e) => {
                    self.tool.fail(path, e);
                    String::new()
                }
            }
        } else {
            String::new()
        };
        println!(
            "{} {:>2} {:>4} {:>4} {size} {name}{link}",
            mode::mode_string(m.mode()),
            m.0.nlinks,
            m.uid(),
            m.gid()
        );
    }

    fn dir(&mut self, path: &str) {
        let mut names: Vec<String> = match fs::read_dir(path) {
            Ok(v) => v
                .into_iter()
                .map(|e| e.name)
                .filter(|n| self.all || !n.starts_with('.'))
                .collect(),
            Err(e) => return self.tool.fail(path, e),
        };
        names.sort();
        if self.headers {
            if !self.first {
                println!();
            }
            println!("{path}:");
        }
        self.first = false;
        if let Some(w) = self.width {
            for line in columns::columns(&names, w) {
                println!("{line}");
            }
        }
        let mut subdirs = Vec::new();
        for n in &names {
            let p = paths::join(path, n);
            let m = if self.long || self.recursive {
                fs::lstat(&p).ok()
            } else {
                None
            };
            if self.width.is_none() {
                self.entry(&p, n, m.as_ref());
            }
            if self.recursive && !paths::is_dot(n) && m.is_some_and(|m| m.is_dir()) {
                subdirs.push(p);
            }
        }
        for d in subdirs {
            self.dir(&d);
        }
    }
}

fn main(args: &[String]) -> i32 {
    let tool = Tool::new(args, "ls");
    let opts = match tool.options(args, "1adlR", "ls [-1adlR] [file ...]") {
        Ok(o) => o,
        Err(code) => return code,
    };
    let mut ls = Ls {
        tool,
        long: opts.has('l'),
        all: opts.has('a'),
        recursive: opts.has('R') && !opts.has('d'),
        headers: (opts.has('R') && !opts.has('d')) || opts.operands().len() > 1,
        first: true,
        width: None,
    };
    if !opts.has('1') && !ls.long && ulib::term::isatty(ulib::fd::STDOUT) {
        let cols = ulib::term::get_winsize(ulib::fd::STDOUT).map_or(0, |w| w.col);
        ls.width = Some(if cols == 0 { 80 } else { usize::from(cols) });
    }
    let mut operands: Vec<String> = opts.operands().to_vec();
    if operands.is_empty() {
        operands.push(String::from("."));
    }
    operands.sort();
    let mut dirs = Vec::new();
    let mut files: Vec<String> = Vec::new();
    for p in &operands {
        // Operands are followed when they are links (to a directory).
        let m = match fs::stat(p).or_else(|_| fs::lstat(p)) {
            Ok(m) => m,
            Err(e) => {
                ls.tool.fail(p, e);
                continue;
            }
        };
        if m.is_dir() && !opts.has('d') {
            dirs.push(p.clone());
        } else {
            let shown = if ls.long {
                fs::lstat(p).unwrap_or(m)
            } else {
                m
            };
            if ls.width.is_some() {
                files.push(p.clone());
            } else {
                ls.entry(p, p, Some(&shown));
            }
            ls.first = false;
        }
    }
    if let Some(w) = ls.width {
        for line in columns::columns(&files, w) {
            println!("{line}");
        }
    }
    for d in dirs {
        ls.dir(&d);
    }
    ls.tool.status
}
