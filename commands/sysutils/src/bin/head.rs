//! `head [-n N] [file ...]` (also `-N`): the first N lines (10 by
//! default) of each file or standard input; `==> name <==` headers for
//! several files.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use sysutils::Input;
use ulib::cli::{self, Opts};
use ulib::{io, println};

ulib::main!(main);

const USAGE: &str = "head [-n lines] [file ...]";

fn head(input: &mut Input, mut lines: u64) -> Result<(), ulib::Errno> {
    let mut buf = alloc::vec![0u8; 4096];
    let out = io::stdout();
    while lines > 0 {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let mut end = n;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' {
                lines -= 1;
                if lines == 0 {
                    end = i + 1;
                    break;
                }
            }
        }
        out.write_all(&buf[..end]);
    }
    Ok(())
}

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "head");
    let args = sysutils::count_shorthand(args);
    let o = match Opts::parse(&args, "n:") {
        Ok(o) => o,
        Err(e) => return cli::usage_error(prog, &e, USAGE),
    };
    let lines = match o.value('n').map(|v| cli::parse_num(v, 10)) {
        None => 10,
        Some(Some(n)) => n,
        Some(None) => return cli::error(prog, "bad line count"),
    };
    let mut status = cli::EXIT_OK;
    let paths = sysutils::inputs(o.operands());
    for (i, path) in paths.iter().enumerate() {
        if paths.len() > 1 {
            if i > 0 {
                println!();
            }
            println!("==> {} <==", sysutils::display_name(path));
        }
        let r = Input::open(path).and_then(|mut inp| head(&mut inp, lines));
        if let Err(e) = r {
            cli::report(prog, sysutils::display_name(path), e);
            status = cli::EXIT_FAIL;
        }
    }
    io::flush();
    status
}
