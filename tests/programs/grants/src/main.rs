//! `grants`: test program for memory grants and safe copies. The first
//! argument picks the role; run three instances named `gserver`, `gdriver`
//! and `gclient` (e.g. `--modules "grants:gserver server,grants:gdriver
//! driver,grants:gclient client"`).
//!
//! * client: grants the server its 64-byte buffer read-write and read-only,
//!   asks it to work on it, checks what the server and the driver wrote,
//!   revokes the grant and has the server confirm it no longer works.
//! * server: copies from and to the client's grant, checks that writing
//!   through the read-only grant and copying out of range are refused,
//!   passes bytes 32..48 on to the driver with an indirect grant.
//! * driver: writes through the indirect grant, and checks that it cannot
//!   use the client's grant meant for the server.
//!
//! Every check prints `check <name>: ok` or `check <name>: WRONG ...`; the
//! exit code is the number of wrong checks.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use rt::abi::Errno;
use rt::{grant, ipc};

const WORK: u32 = 10;
const DRIVE: u32 = 11;
const CHECK_REVOKED: u32 = 12;
const QUIT: u32 = 3;
const DONE: u32 = 20;

rt::entry!(main);

struct Checks(i32);

impl Checks {
    fn check<T: core::fmt::Debug + PartialEq>(&mut self, name: &str, got: T, want: T) {
        if got == want {
            rt::println!("check {name}: ok");
        } else {
            self.0 += 1;
            rt::println!("check {name}: WRONG, got {got:?}, want {want:?}");
        }
    }
}

fn main(args: &str) -> i32 {
    let mut c = Checks(0);
    match args.split_ascii_whitespace().next() {
        Some("client") => client(&mut c),
        Some("server") => server(&mut c),
        Some("driver") => driver(&mut c),
        _ => {
            rt::println!("usage: grants client|server|driver");
            return 2;
        }
    }
    rt::println!("{} wrong checks", c.0);
    c.0
}

fn lookup(name: &str) -> u32 {
    ipc::whois(name).unwrap_or(ipc::ANY)
}

fn client(c: &mut Checks) {
    let server = lookup("gserver");
    let mut buf = [0u8; 64];
    buf[..16].copy_from_slice(b"client says hi!!");
    let rw = grant::direct(server, buf.as_ptr(), buf.len(), grant::READ | grant::WRITE);
    let ro = grant::direct(server, buf.as_ptr(), buf.len(), grant::READ);
    c.check("create grants", (rw.is_ok(), ro.is_ok()), (true, true));
    let (rw, ro) = (rw.unwrap_or(0), ro.unwrap_or(0));
    let mut m = ipc::message(WORK);
    ipc::set(&mut m, 0, u64::from(rw));
    ipc::set(&mut m, 8, u64::from(ro));
    c.check("work request", ipc::sendrec(server, &mut m), Ok(()));
    // The kernel wrote into `buf` while we were blocked; read it afresh.
    let buf = core::hint::black_box(buf);
    c.check("server wrote", &buf[16..32], b"server was here!");
    c.check("driver wrote", &buf[32..48], b"driver wrote it!");
    c.check("revoke", grant::revoke(rw), Ok(()));
    let mut m = ipc::message(CHECK_REVOKED);
    ipc::set(&mut m, 0, u64::from(rw));
    c.check("revoked request", ipc::sendrec(server, &mut m), Ok(()));
    c.check("server saw revoked grant fail", ipc::get(&m, 0), 1);
    let mut q = ipc::message(QUIT);
    c.check("quit", ipc::sendrec(server, &mut q), Ok(()));
}

fn server(c: &mut Checks) {
    let driver = lookup("gdriver");
    loop {
        let Ok(m) = ipc::receive(ipc::ANY) else {
            c.check("receive", false, true);
            return;
        };
        let client = ipc::source(&m);
        let mut reply = ipc::message(DONE);
        match ipc::mtype(&m) {
            WORK => {
                let (rw, ro) = (ipc::get(&m, 0) as u32, ipc::get(&m, 8) as u32);
                let mut text = [0u8; 16];
                c.check(
                    "copy from client",
                    grant::copy_from(client, rw, 0, &mut text),
                    Ok(16),
                );
                c.check("client text", &text, b"client says hi!!");
                c.check(
                    "copy to client",
                    grant::copy_to(client, rw, 16, b"server was here!"),
                    Ok(16),
                );
                c.check(
                    "write via read-only grant refused",
                    grant::copy_to(client, ro, 0, b"x"),
                    Err(Errno::Perm),
                );
                let mut big = [0u8; 8];
                c.check(
                    "out-of-range copy refused",
                    grant::copy_from(client, rw, 60, &mut big),
                    Err(Errno::Inval),
                );
                let fwd = grant::indirect(driver, client, rw, 32, 16, grant::WRITE);
                c.check("indirect grant", fwd.is_ok(), true);
                let mut d = ipc::message(DRIVE);
                ipc::set(&mut d, 0, u64::from(fwd.unwrap_or(0)));
                ipc::set(&mut d, 8, u64::from(client));
                ipc::set(&mut d, 16, u64::from(rw));
                c.check("driver request", ipc::sendrec(driver, &mut d), Ok(()));
            }
            CHECK_REVOKED => {
                let mut b = [0u8; 1];
                let r = grant::copy_from(client, ipc::get(&m, 0) as u32, 0, &mut b);
                c.check("revoked grant refused", r, Err(Errno::Inval));
                ipc::set(&mut reply, 0, u64::from(r.is_err()));
            }
            QUIT => {
                let _ = ipc::send(client, &reply);
                return;
            }
            t => rt::println!("unexpected message {t:#x}"),
        }
        if let Err(e) = ipc::send(client, &reply) {
            rt::println!("reply failed: {e:?}");
        }
    }
}

fn driver(c: &mut Checks) {
    let Ok(m) = ipc::receive(ipc::ANY) else {
        c.check("receive", false, true);
        return;
    };
    let server = ipc::source(&m);
    let (fwd, client, rw) = (
        ipc::get(&m, 0) as u32,
        ipc::get(&m, 8) as u32,
        ipc::get(&m, 16) as u32,
    );
    c.check(
        "write via indirect grant",
        grant::copy_to(server, fwd, 0, b"driver wrote it!"),
        Ok(16),
    );
    c.check(
        "indirect grant is write-only",
        grant::copy_from(server, fwd, 0, &mut [0u8; 4]),
        Err(Errno::Perm),
    );
    c.check(
        "client grant is not for the driver",
        grant::copy_from(client, rw, 0, &mut [0u8; 4]),
        Err(Errno::Perm),
    );
    let _ = ipc::send(server, &ipc::message(DONE));
}
