//! `/bin/ttytest [CASE...]`: checks of the terminal driver through VFS
//! (see the crate README). Prints `ttytest <case>: ok` or
//! `ttytest <case>: FAILED: why`; exits 1 if a case failed.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use sys::proto::vfs::oflag::{O_CREAT, O_NOCTTY, O_NONBLOCK, O_RDWR, O_TRUNC};
use ulib::errno::strerror;
use ulib::fd::{self, Fd, FdSets};
use ulib::process::{self, Pid};
use ulib::signal::{SIGHUP, SIGINT};
use ulib::term::{self, Termios, Winsize, lflag};
use ulib::{Errno, fs, println, time};

ulib::main!(main);

const CASES: &[&str] = &["pty", "termios", "select", "intr", "hangup", "ctty"];

type R = Result<(), String>;

fn e(what: &str, err: Errno) -> String {
    format!("{what}: {}", strerror(err))
}

fn check(cond: bool, what: &str) -> R {
    if cond {
        Ok(())
    } else {
        Err(String::from(what))
    }
}

fn open(path: &str, flags: u32) -> Result<Fd, String> {
    fs::open_fd(path, flags, 0).map_err(|err| e(&format!("open {path}"), err))
}

fn write(fd: Fd, data: &[u8]) -> R {
    match fd::write(fd, data) {
        Ok(n) if n == data.len() => Ok(()),
        Ok(n) => Err(format!("short write: {n} of {}", data.len())),
        Err(err) => Err(e("write", err)),
    }
}

fn read(fd: Fd, n: usize) -> Result<Vec<u8>, String> {
    let mut b = alloc::vec![0u8; n];
    let k = fd::read(fd, &mut b).map_err(|err| e("read", err))?;
    b.truncate(k);
    Ok(b)
}

fn expect_read(fd: Fd, want: &[u8], what: &str) -> R {
    let got = read(fd, 256)?;
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: read {got:?}, wanted {want:?}"))
    }
}

/// Opens pair `n`: (master, slave), neither becoming a controlling
/// terminal.
fn pair(n: u32) -> Result<(Fd, Fd), String> {
    let m = open(&format!("/dev/ptyp{n}"), O_RDWR | O_NOCTTY)?;
    let s = open(&format!("/dev/ttyp{n}"), O_RDWR | O_NOCTTY)?;
    Ok((m, s))
}

fn close(fd: Fd) {
    let _ = fd::close(fd);
}

fn pty() -> R {
    // Old-style pairs: a slave opens without its master, and what it
    // writes waits for one.
    let early = open("/dev/ttyp0", O_RDWR | O_NOCTTY)?;
    write(early, b"early\n")?;
    let (m, s) = pair(0)?;
    expect_read(m, b"early\r\n", "slave output written before the master")?;
    close(early);
    // One master per pair.
    match fs::open_fd("/dev/ptyp0", O_RDWR | O_NOCTTY, 0) {
        Err(Errno::EIO) => {}
        other => return Err(format!("second master open: {other:?}, wanted EIO")),
    }
    write(m, b"hello\r")?;
    expect_read(s, b"hello\n", "slave")?;
    expect_read(m, b"hello\r\n", "master echo")?;
    write(s, b"out\nmore\n")?;
    expect_read(m, b"out\r\nmore\r\n", "master")?;
    // Erase and kill edit the line before the slave sees it.
    write(m, b"typo\x7f\x7f\x7fpe\x15again\r")?;
    expect_read(s, b"again\n", "slave after kill")?;
    close(s);
    close(m);
    // The pair opens again after its master closed.
    let (m, s) = pair(0)?;
    write(m, b"x\r")?;
    expect_read(s, b"x\n", "reopened slave")?;
    close(s);
    close(m);
    Ok(())
}

fn termios() -> R {
    let (m, s) = pair(1)?;
    check(term::isatty(s), "isatty(slave)")?;
    let t = term::tcgetattr(s).map_err(|err| e("tcgetattr", err))?;
    check(t == Termios::default(), "default termios")?;
    check(t.lflag & lflag::ICANON != 0, "canonical by default")?;
    let mut raw = t;
    term::cfmakeraw(&mut raw);
    term::tcsetattr(s, term::TCSANOW, &raw).map_err(|err| e("tcsetattr", err))?;
    let back = term::tcgetattr(m).map_err(|err| e("tcgetattr(master)", err))?;
    check(back == raw, "raw termios read back through the master")?;
    write(m, b"\x03ab\r")?;
    let n = term::pending_input(s).map_err(|err| e("FIONREAD", err))?;
    check(n == 4, &format!("FIONREAD {n}, wanted 4"))?;
    expect_read(s, b"\x03ab\r", "raw slave")?;
    expect_read_nothing(m, "no echo in raw mode")?;
    let w = Winsize {
        row: 40,
        col: 100,
        xpixel: 0,
        ypixel: 0,
    };
    term::set_winsize(s, &w).map_err(|err| e("TIOCSWINSZ", err))?;
    let got = term::get_winsize(m).map_err(|err| e("TIOCGWINSZ", err))?;
    check(got == w, "window size")?;
    write(m, b"junk")?;
    term::tcflush(s, term::TCIFLUSH).map_err(|err| e("tcflush", err))?;
    let n = term::pending_input(s).map_err(|err| e("FIONREAD", err))?;
    check(n == 0, "tcflush emptied the input")?;
    term::tcsetattr(s, term::TCSANOW, &t).map_err(|err| e("tcsetattr", err))?;
    // A plain file is not a terminal.
    let f = open("/tmp/ttytest.plain", O_RDWR | O_CREAT | O_TRUNC)?;
    let r = term::tcgetattr(f);
    close(f);
    check(r == Err(Errno::ENOTTY), &format!("tcgetattr(file): {r:?}"))?;
    check(!term::isatty(f), "isatty(closed file)")?;
    close(s);
    close(m);
    Ok(())
}

/// A nonblocking read finds nothing.
fn expect_read_nothing(fd: Fd, what: &str) -> R {
    let fl = fd::fcntl(fd, fd::F_GETFL, 0).map_err(|err| e("F_GETFL", err))?;
    fd::fcntl(fd, fd::F_SETFL, fl | i64::from(O_NONBLOCK)).map_err(|err| e("F_SETFL", err))?;
    let mut b = [0u8; 16];
    let r = fd::read(fd, &mut b);
    fd::fcntl(fd, fd::F_SETFL, fl).map_err(|err| e("F_SETFL", err))?;
    match r {
        Err(Errno::EAGAIN) => Ok(()),
        other => Err(format!("{what}: {other:?}, wanted EAGAIN")),
    }
}

fn readable(fd: Fd) -> Result<bool, String> {
    let sets = FdSets {
        read: 1 << fd,
        ..FdSets::default()
    };
    let (_, got) = fd::select(fd + 1, sets, Some((0, 0))).map_err(|err| e("select", err))?;
    Ok(got.read & (1 << fd) != 0)
}

fn select() -> R {
    let (m, s) = pair(2)?;
    check(!readable(m)?, "master readable with nothing written")?;
    check(!readable(s)?, "slave readable with no input")?;
    write(s, b"x")?;
    check(readable(m)?, "master readable after a slave write")?;
    expect_read(m, b"x", "master")?;
    write(m, b"par")?;
    let _ = read(m, 16)?; // the echo
    check(!readable(s)?, "slave readable before the line ends")?;
    // A blocking select is woken by the line's end from a child.
    let child = process::fork().map_err(|err| e("fork", err))?;
    if child == 0 {
        let _ = time::sleep_ms(200);
        let code = i32::from(fd::write(m, b"t\r").is_err());
        process::exit(code);
    }
    let sets = FdSets {
        read: 1 << s,
        ..FdSets::default()
    };
    let (n, got) = fd::select(s + 1, sets, Some((30, 0))).map_err(|err| e("select", err))?;
    check(
        n == 1 && got.read == 1 << s,
        &format!("blocking select: {n} {got:?}"),
    )?;
    expect_read(s, b"part\n", "slave")?;
    reap(child, None)?;
    close(s);
    close(m);
    Ok(())
}

/// Waits for `child`; it must be killed by `sig` (or exit 0 for `None`).
fn reap(child: Pid, sig: Option<u32>) -> R {
    let (_, st) = process::waitpid(child, 0).map_err(|err| e("waitpid", err))?;
    match sig {
        Some(s) if st.signal() == Some(s) => Ok(()),
        None if st.success() => Ok(()),
        _ => Err(format!("child ended with {st}, wanted {sig:?}")),
    }
}

/// Fork a child that makes its own process group the slave's foreground
/// group and then runs `body`; returns its pid once the group is set.
fn child_in_foreground(m: Fd, s: Fd, body: fn(Fd) -> i32) -> Result<Pid, String> {
    let child = process::fork().map_err(|err| e("fork", err))?;
    if child == 0 {
        close(m);
        let me = process::getpid();
        if process::setpgid(0, 0).is_err() || term::tcsetpgrp(s, me).is_err() {
            process::exit(9);
        }
        process::exit(body(s));
    }
    // Until the child has set the group (polled: no timing assumption).
    for _ in 0..1000 {
        if term::tcgetpgrp(m) == Ok(child) {
            return Ok(child);
        }
        let _ = time::sleep_ms(10);
    }
    Err(String::from("the child never became the foreground group"))
}

fn intr() -> R {
    let (m, s) = pair(3)?;
    let child = child_in_foreground(m, s, |s| {
        let mut b = [0u8; 16];
        // Killed by SIGINT while blocked here.
        let _ = fd::read(s, &mut b);
        5
    })?;
    // Let it block in the read, then ^C.
    let _ = time::sleep_ms(100);
    write(m, b"half a line\x03")?;
    reap(child, Some(SIGINT))?;
    // The input before ^C was flushed.
    write(m, b"\r")?;
    expect_read(s, b"\n", "input after ^C")?;
    close(s);
    close(m);
    Ok(())
}

fn hangup() -> R {
    let (m, s) = pair(0)?;
    let child = child_in_foreground(m, s, |s| {
        let mut b = [0u8; 16];
        // End of file once the master is gone (unless SIGHUP came first).
        if fd::read(s, &mut b) != Ok(0) {
            return 6;
        }
        if fd::write(s, b"late") != Err(Errno::EIO) {
            return 7;
        }
        // SIGHUP ends it.
        for _ in 0..3000 {
            let _ = time::sleep_ms(10);
        }
        8
    })?;
    let _ = time::sleep_ms(100);
    close(m);
    reap(child, Some(SIGHUP))?;
    let r = fd::write(s, b"x");
    check(r == Err(Errno::EIO), &format!("write after hangup: {r:?}"))?;
    let r = read(s, 16)?;
    check(r.is_empty(), "read after hangup is end of file")?;
    close(s);
    Ok(())
}

fn ctty() -> R {
    let m = open("/dev/ptyp1", O_RDWR | O_NOCTTY)?;
    let child = process::fork().map_err(|err| e("fork", err))?;
    if child == 0 {
        let code = (|| {
            process::setsid().map_err(|_| 2)?;
            // A session leader without a terminal acquires this one.
            let s = fs::open_fd("/dev/ttyp1", O_RDWR, 0).map_err(|_| 3)?;
            let t = fs::open_fd("/dev/tty", O_RDWR, 0).map_err(|_| 4)?;
            fd::write(t, b"via dev tty\n").map_err(|_| 5)?;
            let _ = (s, t);
            Ok::<i32, i32>(0)
        })()
        .unwrap_or_else(|c| c);
        process::exit(code);
    }
    reap(child, None)?;
    expect_read(m, b"via dev tty\r\n", "master")?;
    close(m);
    // A new session has no controlling terminal: /dev/tty is ENXIO.
    let child = process::fork().map_err(|err| e("fork", err))?;
    if child == 0 {
        let code = match process::setsid().map(|_| fs::open_fd("/dev/tty", O_RDWR, 0)) {
            Ok(Err(Errno::ENXIO)) => 0,
            _ => 1,
        };
        process::exit(code);
    }
    reap(child, None).map_err(|why| format!("/dev/tty in a new session: {why}"))
}

/// The console settings `keep-set` leaves for `keep-check` to find after
/// `service fi tty`.
const KEPT: Winsize = Winsize {
    row: 33,
    col: 77,
    xpixel: 0,
    ypixel: 0,
};

fn console() -> Result<Fd, String> {
    open("/dev/console", O_RDWR | O_NOCTTY)
}

fn keep_set() -> R {
    let c = console()?;
    term::set_winsize(c, &KEPT).map_err(|err| e("TIOCSWINSZ", err))?;
    let mut t = term::tcgetattr(c).map_err(|err| e("tcgetattr", err))?;
    t.lflag &= !lflag::ECHOK;
    term::tcsetattr(c, term::TCSANOW, &t).map_err(|err| e("tcsetattr", err))?;
    close(c);
    Ok(())
}

fn keep_check() -> R {
    // Until the restarted driver answers (polled, bounded).
    let mut c = Err(String::new());
    for _ in 0..600 {
        c = console();
        if c.is_ok() {
            break;
        }
        let _ = time::sleep_ms(50);
    }
    let c = c?;
    let w = term::get_winsize(c).map_err(|err| e("TIOCGWINSZ", err))?;
    check(w == KEPT, &format!("window size after the restart: {w:?}"))?;
    let mut t = term::tcgetattr(c).map_err(|err| e("tcgetattr", err))?;
    check(t.lflag & lflag::ECHOK == 0, "termios after the restart")?;
    t.lflag |= lflag::ECHOK;
    term::tcsetattr(c, term::TCSANOW, &t).map_err(|err| e("tcsetattr", err))?;
    term::set_winsize(c, &Winsize::default()).map_err(|err| e("TIOCSWINSZ", err))?;
    close(c);
    Ok(())
}

fn main(args: &[String]) -> i32 {
    let chosen: Vec<&str> = if args.len() > 1 {
        args[1..].iter().map(String::as_str).collect()
    } else {
        CASES.to_vec()
    };
    let mut failed = 0;
    for c in chosen {
        let r = match c {
            "pty" => pty(),
            "termios" => termios(),
            "select" => select(),
            "intr" => intr(),
            "hangup" => hangup(),
            "ctty" => ctty(),
            "keep-set" => keep_set(),
            "keep-check" => keep_check(),
            _ => Err(String::from("no such case")),
        };
        match r {
            Ok(()) => println!("ttytest {c}: ok"),
            Err(why) => {
                failed += 1;
                println!("ttytest {c}: FAILED: {why}");
            }
        }
    }
    i32::from(failed > 0)
}
