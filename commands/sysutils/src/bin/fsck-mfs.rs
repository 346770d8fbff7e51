//! `/sbin/fsck.mfs [-r] device`: checks (with `-r`, `-a`, `-y` or `-p`
//! repairs) the MINIX file system on a block device or image file with
//! the `mfs` crate the host tool uses; prints each finding and a summary
//! as `mfs fsck` does. Exit 0 clean, 1 errors corrected, 4 errors left, 8
//! could not check (16 for a bad command line, as fsck(8)). A device
//! `/etc/mtab` lists as mounted is checked but never repaired.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use mfs::fsck;
use sysutils::device::FileDevice;
use sysutils::disk::{FSCK_USAGE, parse_fsck};
use ulib::errno::strerror;
use ulib::{cli, println};

ulib::main!(main);

/// fsck(8)'s exit code for a usage error.
const EXIT_USAGE: i32 = 16;

fn main(args: &[String]) -> i32 {
    let prog = cli::prog_name(args, "fsck.mfs");
    let cmd = match parse_fsck(args.get(1..).unwrap_or(&[])) {
        Ok(c) => c,
        Err(e) => {
            ulib::eprintln!("{prog}: {e}");
            cli::usage(FSCK_USAGE);
            return EXIT_USAGE;
        }
    };
    let name = &cmd.device;
    if cmd.repair
        && let Some(dir) = sysutils::mounted_on(name)
    {
        ulib::eprintln!("{prog}: {name} is mounted on {dir}: not repairing it");
        return fsck::EXIT_CANNOT_CHECK;
    }
    let mut dev = match FileDevice::open(name, cmd.repair) {
        Ok(d) => d,
        Err(e) => {
            ulib::eprintln!("{prog}: {name}: {}", strerror(e));
            return fsck::EXIT_CANNOT_CHECK;
        }
    };
    let report = fsck::fsck(&mut dev, fsck::Options { repair: cmd.repair });
    if let Some(f) = &report.fatal {
        ulib::eprintln!("{prog}: {name}: cannot check: {f}");
        return fsck::EXIT_CANNOT_CHECK;
    }
    for f in &report.findings {
        println!("{name}: {f}");
    }
    let code = report.exit_code();
    match code {
        fsck::EXIT_CLEAN => println!("{name}: clean"),
        fsck::EXIT_CORRECTED => println!("{name}: errors corrected"),
        _ => println!(
            "{name}: {} errors left uncorrected",
            report.remaining_errors
        ),
    }
    code
}
