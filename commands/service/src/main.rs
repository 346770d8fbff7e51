//! `/bin/service`: MINIX's `service` utility (see the crate README). The
//! command line and output are the library's; this asks RS through
//! `ulib::service` and prints.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod os {
    extern crate alloc;

    use alloc::string::String;
    use service::{Command, SYNOPSIS, error_text, parse, status_line, table};
    use ulib::errno::strerror;
    use ulib::{cli, eprintln, print, println};

    ulib::main!(main);

    fn refused(cmd: &Command, e: ulib::Errno) -> i32 {
        eprintln!("service: {}", error_text(cmd, e, strerror));
        cli::EXIT_FAIL
    }

    fn main(args: &[String]) -> i32 {
        let mut cmd = match parse(args) {
            Ok(c) => c,
            Err(msg) => {
                eprintln!("service: {msg}");
                return cli::usage(SYNOPSIS);
            }
        };
        if cmd == Command::List || cmd.needs_list() {
            let entries = match ulib::service::list() {
                Ok(e) => e,
                Err(e) => return refused(&cmd, e),
            };
            if cmd == Command::List {
                print!("{}", table(&entries));
                return cli::EXIT_OK;
            }
            cmd.resolve(&entries);
        }
        let Some(req) = cmd.request(0) else {
            return cli::EXIT_OK;
        };
        match ulib::service::request(req) {
            Ok(st) => {
                if let Command::Status(label) = &cmd {
                    println!("{}", status_line(label, &st));
                }
                cli::EXIT_OK
            }
            Err(e) => refused(&cmd, e),
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
