//! `mknod name p` / `mknod name c|b major minor`: makes a named pipe or a
//! character / block special file (mode 0666 less the umask).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use fileutils::{Tool, mode};
use ulib::{cli, fs};

ulib::main!(main);

const USAGE: &str = "mknod name p | mknod name c|b major minor";

fn main(args: &[String]) -> i32 {
    let mut tool = Tool::new(args, "mknod");
    let opts = match tool.options(args, "", USAGE) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let ops = opts.operands();
    let num = |s: &String| cli::parse_num(s, 10).and_then(|n| u32::try_from(n).ok());
    let (kind, rdev) = match (ops.len(), ops.get(1).map(String::as_str)) {
        (2, Some("p")) => (mode::S_IFIFO, 0),
        (4, Some(t @ ("c" | "b" | "u"))) => {
            let Some(rdev) = num(&ops[2])
                .zip(num(&ops[3]))
                .and_then(|(a, b)| mode::dev_make(a, b))
            else {
                cli::error(&tool.prog, "major and minor must be numbers 0..255");
                return cli::EXIT_USAGE;
            };
            (
                if t == "b" {
                    mode::S_IFBLK
                } else {
                    mode::S_IFCHR
                },
                rdev,
            )
        }
        _ => return cli::usage(USAGE),
    };
    if let Err(e) = fs::mknod(&ops[0], kind | 0o666, rdev) {
        tool.fail(&ops[0], e);
    }
    tool.status
}
