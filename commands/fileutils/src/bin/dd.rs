//! `dd [if=file] [of=file] [bs=n] [ibs=n] [obs=n] [count=n] [skip=n]
//! [seek=n] [conv=notrunc]`: copies blocks (standard input and output by
//! default) and reports `N+M records in` / `N+M records out` (whole +
//! partial blocks) on standard error.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use fileutils::dd::{Operands, Reblock, Records};
use fileutils::{Tool, write_out};
use ulib::fs::{File, OpenOptions, SeekFrom};
use ulib::{Errno, cli, eprintln, fd};

ulib::main!(main);

const USAGE: &str =
    "dd [if=file] [of=file] [bs=n] [ibs=n] [obs=n] [count=n] [skip=n] [seek=n] [conv=notrunc]";

enum Out {
    File(File),
    Stdout,
}

impl Out {
    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        match self {
            Out::File(f) => f.write_all(data),
            Out::Stdout => {
                write_out(data);
                Ok(())
            }
        }
    }
}

fn read(input: &mut Option<File>, buf: &mut [u8]) -> Result<usize, Errno> {
    match input {
        Some(f) => f.read(buf),
        None => fd::read(fd::STDIN, buf),
    }
}

fn main(args: &[String]) -> i32 {
    let mut tool = Tool::new(args, "dd");
    let o = match Operands::parse(args.get(1..).unwrap_or(&[])) {
        Ok(o) => o,
        Err(msg) => {
            cli::error(&tool.prog, &msg);
            return cli::usage(USAGE);
        }
    };
    let in_name = o.input.clone().unwrap_or_else(|| String::from("stdin"));
    let out_name = o.output.clone().unwrap_or_else(|| String::from("stdout"));
    let mut input = match &o.input {
        Some(p) => match File::open(p) {
            Ok(f) => Some(f),
            Err(e) => return cli::fail(&tool.prog, p, e),
        },
        None => None,
    };
    let mut out = match &o.output {
        Some(p) => match OpenOptions::new()
            .write(true)
            .create(true)
            .mode(0o666)
            .open(p)
        {
            Ok(f) => Out::File(f),
            Err(e) => return cli::fail(&tool.prog, p, e),
        },
        None => Out::Stdout,
    };
    let mut buf = alloc::vec![0u8; o.ibs];
    // Skip input blocks: seek, or read them where seeking fails (a pipe).
    if o.skip > 0 {
        let done = match (&mut input, o.skip_bytes()) {
            (Some(f), Some(b)) => f.seek(SeekFrom::Start(b)).is_ok(),
            _ => false,
        };
        if !done {
            for _ in 0..o.skip {
                match read(&mut input, &mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return cli::fail(&tool.prog, &in_name, e),
                }
            }
        }
    }
    if let Out::File(f) = &mut out {
        let Some(at) = o.seek_bytes() else {
            return cli::fail(&tool.prog, &out_name, Errno::EINVAL);
        };
        // Only a regular file is cut at the seek point (as GNU dd): a
        // device such as /dev/null has no length to set.
        if !o.notrunc
            && f.metadata().is_ok_and(|m| m.is_file())
            && let Err(e) = f.set_len(at)
        {
            return cli::fail(&tool.prog, &out_name, e);
        }
        if let Err(e) = f.seek(SeekFrom::Start(at)) {
            return cli::fail(&tool.prog, &out_name, e);
        }
    }
    let (mut rin, mut rout) = (Records::default(), Records::default());
    let mut reblock = Reblock::new(o.obs);
    let mut failed = false;
    while o.count.is_none_or(|c| rin.full + rin.partial < c) {
        let n = match read(&mut input, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                tool.fail(&in_name, e);
                failed = true;
                break;
            }
        };
        rin.add(n, o.ibs);
        let r = if o.ibs == o.obs {
            rout.add(n, o.obs);
            out.write(&buf[..n])
        } else {
            reblock.push(&buf[..n], |b| {
                rout.add(b.len(), o.obs);
                out.write(b)
            })
        };
        if let Err(e) = r {
            tool.fail(&out_name, e);
            failed = true;
            break;
        }
    }
    if !failed && !reblock.rest().is_empty() {
        rout.add(reblock.rest().len(), o.obs);
        if let Err(e) = out.write(reblock.rest()) {
            tool.fail(&out_name, e);
        }
    }
    ulib::io::flush();
    if let Out::File(f) = out
        && let Err(e) = f.close()
    {
        tool.fail(&out_name, e);
    }
    eprintln!("{rin} records in");
    eprintln!("{rout} records out");
    tool.status
}
