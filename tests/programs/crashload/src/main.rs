//! `/bin/crashload [crashes=N] [clients=N] [seed=S] [gap=MS] [fsync=N]
//! [targets=a,b,..] [keep=1] [verbose=1]`: the crash-under-load run as a
//! disk program, started from the shell (root only: it asks RS to crash
//! services).
//!
//! It forks `clients` (default 3) client processes. Client K works in
//! `/tmp/crashload/cK` with the load of `fsload-core` (as the boot program
//! `fsload` does): O_EXCL creates of files with a known pattern (every
//! `fsync`-th one fsync'd before its close, default 4), read-backs,
//! renames, unlinks, mkdir/rmdir, append records with sequence numbers and
//! pipe round trips through PFS; every acknowledged change is remembered.
//! Meanwhile the parent, the crasher, asks RS to crash (`service fi`) one of
//! the `targets` (default MFS, PFS and virtio-blk) at random, waits until
//! RS reports it running again with its restart count up, pauses 0..=`gap`
//! ms (default 100: the clients get some work done between crashes), and
//! again, `crashes` times (default 100). Then it
//! closes the stop pipe; each client checks every file it keeps, its
//! directory (stray names) and its append log, prints a `kept` line per
//! file and a `final` line, and sends its counts to the parent through its
//! report pipe (64-byte records: progress about once a second, then the
//! final counts).
//!
//! The invariant is fsload's: every acknowledged change survives and none
//! is applied twice (no lost, dup, vanished, stray or error); also no
//! client hangs (silent for 60 s) or dies, every crash is followed by
//! exactly one restart (RS's restart count of each target grew by its
//! crashes), and each target comes back within 60 s. It prints the
//! operations, crashes and restarts, and MINIX's last line: `Test crashload
//! ... ok` (exit 0) or `Test crashload ... FAILED, N errors` (exit 1).
//! Usage errors exit 2. Leftovers of an earlier run are removed first; the
//! clients' files are removed at the end unless `keep=1` (the QEMU test
//! checks them on the host).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use fsload_core::{Counts, Fs, Load, Rng};
use sys::proto::service::{RunState, ServiceRequest, ServiceStatus};
use ulib::errno::strerror;
use ulib::fd::{self, Fd, FdSets};
use ulib::process::{self, Pid};
use ulib::time::{self, HZ};
use ulib::{Errno, eprintln, fs, println, signal};

ulib::main!(main);

/// The directory the clients work in.
const DIR: &str = "/tmp/crashload";
/// The settings `key=value` the program takes.
const KEYS: [&str; 8] = [
    "crashes", "clients", "seed", "gap", "fsync", "targets", "keep", "verbose",
];
const SYNOPSIS: &str = "crashload [crashes=N] [clients=N] [seed=S] [gap=MS] [fsync=N] \
                        [targets=mfs,pfs,virtio-blk] [keep=1] [verbose=1]";
/// Most clients (descriptors of the report pipes stay below 64).
const MAX_CLIENTS: u64 = 16;
/// A client silent for this long is hung.
const HANG_TICKS: u64 = 60 * HZ;
/// A crashed service not running again after this long is reported.
const RESTART_LIMIT: u64 = 60 * HZ;
/// Ticks between a client's progress records.
const PROGRESS_EVERY: u64 = HZ;
/// Bytes of a report record: a tag word and the counts.
const REC: usize = 8 + 8 * Counts::WORDS;
/// Report record tags.
const PROGRESS: u64 = 1;
const FINAL: u64 = 2;
/// A progress line every this many crashes.
const REPORT_EVERY: u64 = 25;

// ---- client -----------------------------------------------------------------

/// The file system through `ulib` (VFS); report lines on standard output.
struct Ulib {
    k: u64,
}

impl Fs for Ulib {
    fn open(&mut self, path: &str, flags: u32, mode: u16) -> Result<i32, Errno> {
        fs::open_fd(path, flags, mode)
    }
    fn read(&mut self, fd: i32, max: usize) -> Result<Vec<u8>, Errno> {
        let mut buf = vec![0u8; max];
        let n = fd::read(fd, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }
    fn write(&mut self, fd: i32, data: &[u8]) -> Result<usize, Errno> {
        fd::write(fd, data)
    }
    fn fsync(&mut self, fd: i32) -> Result<(), Errno> {
        fd::fsync(fd)
    }
    fn close(&mut self, fd: i32) -> Result<(), Errno> {
        fd::close(fd)
    }
    fn unlink(&mut self, path: &str) -> Result<(), Errno> {
        fs::unlink(path)
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), Errno> {
        fs::rename(from, to)
    }
    fn exists(&mut self, path: &str) -> bool {
        fs::stat(path).is_ok()
    }
    fn mkdir(&mut self, path: &str, mode: u16) -> Result<(), Errno> {
        fs::mkdir(path, mode)
    }
    fn rmdir(&mut self, path: &str) -> Result<(), Errno> {
        fs::rmdir(path)
    }
    fn pipe(&mut self) -> Result<(i32, i32), Errno> {
        fd::pipe()
    }
    fn list_dir(&mut self, path: &str) -> Result<Vec<String>, Errno> {
        Ok(fs::read_dir(path)?.into_iter().map(|e| e.name).collect())
    }
    fn say(&mut self, line: &str) {
        println!("crashload: client {}: {line}", self.k);
    }
}

/// Writes a report record.
fn report(out: Fd, tag: u64, c: Counts) -> Result<(), Errno> {
    let mut rec = [0u8; REC];
    rec[..8].copy_from_slice(&tag.to_le_bytes());
    rec[8..].copy_from_slice(&c.to_bytes());
    match fd::write(out, &rec)? {
        REC => Ok(()),
        _ => Err(Errno::EIO),
    }
}

/// Whether `fd` is readable now (the stop pipe: its writer closed it).
fn readable(fd: Fd) -> Result<bool, Errno> {
    let sets = FdSets {
        read: 1u64 << fd,
        ..FdSets::default()
    };
    Ok(fd::select(fd + 1, sets, Some((0, 0)))?.0 > 0)
}

/// Client `k`: the load until the stop pipe is closed, the checks, the
/// final report. Its exit code.
fn client(k: u64, set: &Settings, stop: Fd, out: Fd) -> i32 {
    let mut fs = Ulib { k };
    let mut load = Load::new(
        k,
        format!("{DIR}/c{k}"),
        Rng::for_client(set.seed, k),
        set.fsync,
    );
    load.start(&mut fs);
    let mut last = time::uptime();
    loop {
        match readable(stop) {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => load.error(&mut fs, "select on the stop pipe", e),
        }
        load.step(&mut fs);
        let now = time::uptime();
        if now.saturating_sub(last) >= PROGRESS_EVERY {
            last = now;
            if set.verbose {
                println!("crashload: client {k}: stat t={now} ops={}", load.n.ops);
            }
            if let Err(e) = report(out, PROGRESS, load.n) {
                load.error(&mut fs, "progress report", e);
            }
        }
    }
    load.finish(&mut fs);
    match report(out, FINAL, load.n) {
        Ok(()) => 0,
        Err(e) => {
            println!("crashload: client {k}: final report: {}", strerror(e));
            1
        }
    }
}

// ---- the crasher ------------------------------------------------------------

/// The command line.
struct Settings {
    crashes: u64,
    clients: u64,
    seed: u64,
    gap: u64,
    fsync: u64,
    targets: Vec<String>,
    keep: bool,
    verbose: bool,
}

fn settings(args: &[String]) -> Result<Settings, String> {
    let words = || args.iter().skip(1).map(String::as_str);
    for w in words() {
        match w.split_once('=') {
            Some((k, _)) if KEYS.contains(&k) => {}
            _ => return Err(format!("unknown argument '{w}'")),
        }
    }
    let value = |key: &str| {
        words()
            .filter_map(|w| w.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    };
    let num = |key: &str, default: u64| -> Result<u64, String> {
        match value(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("{key}={v}: not a number")),
        }
    };
    let clients = num("clients", 3)?;
    if !(1..=MAX_CLIENTS).contains(&clients) {
        return Err(format!("clients: 1 to {MAX_CLIENTS}"));
    }
    let targets: Vec<String> = value("targets")
        .unwrap_or("mfs,pfs,virtio-blk")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if targets.is_empty() {
        return Err(String::from("targets: no service named"));
    }
    Ok(Settings {
        crashes: num("crashes", 100)?,
        clients,
        seed: num("seed", 1)?,
        gap: num("gap", 100)?,
        fsync: num("fsync", 4)?,
        targets,
        keep: num("keep", 0)? != 0,
        verbose: num("verbose", 0)? != 0,
    })
}

/// A crash target and what happened to it.
struct Target {
    label: String,
    crashes: u64,
    /// RS's restart count before the run.
    restarts_before: u32,
    /// Ticks from each crash to RS reporting it running again.
    restart_ticks: Vec<u64>,
}

/// A client as the crasher sees it.
struct Kid {
    k: u64,
    pid: Pid,
    /// The read end of its report pipe (-1 once it reached the end).
    report: Fd,
    buf: Vec<u8>,
    last: u64,
    ops: u64,
    done: Option<Counts>,
    hung: bool,
}

fn status(label: &str) -> Result<ServiceStatus, Errno> {
    ulib::service::request(ServiceRequest::Status {
        id: 0,
        label: label.into(),
    })
}

/// Reads what the clients reported (waiting up to `wait` seconds for
/// something when given), and marks clients silent for too long as hung.
fn drain(kids: &mut [Kid], wait: Option<i64>) -> u64 {
    let mut errors = 0;
    let open: u64 = kids
        .iter()
        .filter(|k| k.report >= 0)
        .fold(0, |s, k| s | 1u64 << k.report);
    if open != 0 {
        let nfds = 64 - open.leading_zeros() as i32;
        let sets = FdSets {
            read: open,
            ..FdSets::default()
        };
        match fd::select(nfds, sets, Some((wait.unwrap_or(0), 0))) {
            Ok((n, ready)) if n > 0 => {
                for kid in kids.iter_mut() {
                    if kid.report >= 0 && ready.read & (1u64 << kid.report) != 0 {
                        errors += read_reports(kid);
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                println!("crashload: select on the report pipes: {}", strerror(e));
                errors += 1;
            }
        }
    }
    let now = time::uptime();
    for kid in kids.iter_mut() {
        if kid.done.is_none() && !kid.hung && now.saturating_sub(kid.last) > HANG_TICKS {
            println!(
                "crashload: client {} hung: silent since t={} ({} ops)",
                kid.k, kid.last, kid.ops
            );
            kid.hung = true;
        }
    }
    errors
}

/// Reads client `kid`'s report pipe once.
fn read_reports(kid: &mut Kid) -> u64 {
    let mut chunk = [0u8; 8 * REC];
    match fd::read(kid.report, &mut chunk) {
        Ok(0) => {
            let _ = fd::close(kid.report);
            kid.report = -1;
            0
        }
        Ok(n) => {
            kid.buf.extend_from_slice(&chunk[..n]);
            let whole = kid.buf.len() / REC * REC;
            for rec in kid.buf[..whole].chunks(REC) {
                let c = Counts::from_bytes(&rec[8..]);
                kid.last = time::uptime();
                kid.ops = c.ops;
                if rec[..8] == FINAL.to_le_bytes() {
                    kid.done = Some(c);
                }
            }
            kid.buf.drain(..whole);
            0
        }
        Err(e) => {
            println!("crashload: client {}: report pipe: {}", kid.k, strerror(e));
            let _ = fd::close(kid.report);
            kid.report = -1;
            1
        }
    }
}

/// Removes `path` and everything under it (leftovers of an earlier run).
fn remove_tree(path: &str) -> Result<(), Errno> {
    let meta = match fs::lstat(path) {
        Ok(m) => m,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.is_dir() {
        for e in fs::read_dir(path)? {
            if e.name != "." && e.name != ".." {
                remove_tree(&format!("{path}/{}", e.name))?;
            }
        }
        fs::rmdir(path)
    } else {
        fs::unlink(path)
    }
}

/// Forks client `k`; `others` are the report pipes of the clients forked
/// before (closed in the child).
fn fork_client(k: u64, set: &Settings, stop: (Fd, Fd), others: &[Kid]) -> Result<Kid, Errno> {
    let (report_r, report_w) = fd::pipe()?;
    match process::fork() {
        Ok(0) => {
            let _ = fd::close(stop.1);
            let _ = fd::close(report_r);
            for kid in others.iter().filter(|kid| kid.report >= 0) {
                let _ = fd::close(kid.report);
            }
            process::exit(client(k, set, stop.0, report_w))
        }
        Ok(pid) => {
            let _ = fd::close(report_w);
            Ok(Kid {
                k,
                pid,
                report: report_r,
                buf: Vec::new(),
                last: time::uptime(),
                ops: 0,
                done: None,
                hung: false,
            })
        }
        Err(e) => {
            let _ = fd::close(report_r);
            let _ = fd::close(report_w);
            Err(e)
        }
    }
}

/// Sleeps `ms` milliseconds (the crasher's pauses).
fn pause_ms(ms: u64) {
    if ms > 0 {
        let _ = time::sleep_ms(ms);
    }
}

/// The crashes: `set.crashes` of them, each followed by the restart. The
/// errors (a service that did not come back, an RS refusal other than
/// "not running") and the number of "not running" refusals.
fn crash(set: &Settings, targets: &mut [Target], kids: &mut [Kid]) -> (u64, u64, u64) {
    let mut rng = Rng(set.seed);
    let (mut done, mut busy, mut errors) = (0u64, 0u64, 0u64);
    while done < set.crashes {
        errors += drain(kids, None);
        let i = rng.below(targets.len() as u64) as usize;
        let label = targets[i].label.clone();
        let before = match status(&label) {
            Ok(st) if st.state == RunState::Running => st.restarts,
            Ok(_) => {
                busy += 1;
                pause_ms(10);
                continue;
            }
            Err(e) => {
                println!("crashload: status of {label}: {}", strerror(e));
                return (done, busy, errors + 1);
            }
        };
        match ulib::service::request(ServiceRequest::Fi {
            id: 0,
            label: label.clone(),
        }) {
            Ok(_) => {}
            Err(Errno::EBUSY) => {
                busy += 1;
                pause_ms(10);
                continue;
            }
            Err(e) => {
                println!("crashload: service fi {label}: {}", strerror(e));
                return (done, busy, errors + 1);
            }
        }
        done += 1;
        targets[i].crashes += 1;
        let since = time::uptime();
        if set.verbose {
            println!("crashload: crash t={since} svc={label}");
        }
        loop {
            pause_ms(10);
            errors += drain(kids, None);
            let now = time::uptime();
            match status(&label) {
                Ok(st) if st.state == RunState::Running && st.restarts > before => {
                    targets[i].restart_ticks.push(now - since);
                    if set.verbose {
                        println!(
                            "crashload: restarted t={now} svc={label} after={}",
                            now - since
                        );
                    }
                    break;
                }
                _ if now - since > RESTART_LIMIT => {
                    println!(
                        "crashload: {label} not running again {} s after crash {done}",
                        RESTART_LIMIT / HZ
                    );
                    return (done, busy, errors + 1);
                }
                _ => {}
            }
        }
        if done.is_multiple_of(REPORT_EVERY) || done == set.crashes {
            let per: Vec<String> = targets
                .iter()
                .map(|t| format!("{} {}", t.label, t.crashes))
                .collect();
            let ops: u64 = kids.iter().map(|k| k.ops).sum();
            println!(
                "crashload: {done} crashes ({}), {ops} operations so far",
                per.join(", ")
            );
        }
        pause_ms(rng.below(set.gap + 1));
    }
    (done, busy, errors)
}

fn main(args: &[String]) -> i32 {
    let set = match settings(args) {
        Ok(s) => s,
        Err(why) => {
            eprintln!("crashload: {why}");
            return ulib::cli::usage(SYNOPSIS);
        }
    };
    let mut errors = 0u64;
    let mut targets = Vec::new();
    for label in &set.targets {
        match status(label) {
            Ok(st) => targets.push(Target {
                label: label.clone(),
                crashes: 0,
                restarts_before: st.restarts,
                restart_ticks: Vec::new(),
            }),
            Err(e) => {
                println!("crashload: service {label}: {}", strerror(e));
                errors += 1;
            }
        }
    }
    if errors > 0 {
        println!("{}", minixtest::summary("crashload", errors as u32));
        return 1;
    }
    println!(
        "crashload: {} clients in {DIR}, {} crashes of {}, gap 0..={} ms, seed {}",
        set.clients,
        set.crashes,
        set.targets.join(","),
        set.gap,
        set.seed
    );
    if let Err(e) = remove_tree(DIR).and_then(|()| fs::mkdir(DIR, 0o755)) {
        println!("crashload: {DIR}: {}", strerror(e));
        println!("{}", minixtest::summary("crashload", 1));
        return 1;
    }
    let stop = match fd::pipe() {
        Ok(p) => p,
        Err(e) => {
            println!("crashload: pipe: {}", strerror(e));
            println!("{}", minixtest::summary("crashload", 1));
            return 1;
        }
    };
    let start = time::uptime();
    let mut kids: Vec<Kid> = Vec::new();
    for k in 1..=set.clients {
        match fork_client(k, &set, stop, &kids) {
            Ok(kid) => kids.push(kid),
            Err(e) => {
                println!("crashload: client {k}: fork: {}", strerror(e));
                errors += 1;
            }
        }
    }
    let (crashes, busy, crash_errors) = if kids.is_empty() {
        (0, 0, 0)
    } else {
        crash(&set, &mut targets, &mut kids)
    };
    errors += crash_errors;
    // Stop the clients and collect their reports.
    let _ = fd::close(stop.1);
    let _ = fd::close(stop.0);
    while kids
        .iter()
        .any(|k| k.report >= 0 && k.done.is_none() && !k.hung)
    {
        errors += drain(&mut kids, Some(1));
    }
    let mut total = Counts::default();
    let mut hung = 0u64;
    for kid in &mut kids {
        if kid.hung {
            hung += 1;
            let _ = process::kill(kid.pid, signal::SIGKILL);
        }
        let st = loop {
            match process::waitpid(kid.pid, 0) {
                Err(Errno::EINTR) => {}
                r => break r,
            }
        };
        match (st, kid.done) {
            (Ok((_, st)), Some(c)) if st.success() => total.add(&c),
            (Ok((_, st)), done) => {
                if let Some(c) = done {
                    total.add(&c);
                }
                if !kid.hung {
                    println!("crashload: client {} ended: {st}", kid.k);
                    errors += 1;
                }
            }
            (Err(e), _) => {
                println!("crashload: client {}: waitpid: {}", kid.k, strerror(e));
                errors += 1;
            }
        }
        if kid.report >= 0 {
            let _ = fd::close(kid.report);
        }
    }
    // Every crash was followed by exactly one restart.
    let mut restarts = 0u64;
    for t in &targets {
        restarts += t.restart_ticks.len() as u64;
        match status(&t.label) {
            Ok(st) => {
                let grew = u64::from(st.restarts.saturating_sub(t.restarts_before));
                if grew != t.crashes {
                    println!(
                        "crashload: RS restarted {} {grew} times for {} crashes",
                        t.label, t.crashes
                    );
                    errors += 1;
                }
            }
            Err(e) => {
                println!("crashload: status of {}: {}", t.label, strerror(e));
                errors += 1;
            }
        }
    }
    if let Err(e) = fs::sync() {
        println!("crashload: sync: {}", strerror(e));
        errors += 1;
    }
    let per: Vec<String> = targets
        .iter()
        .map(|t| format!("{}={}", t.label, t.crashes))
        .collect();
    println!(
        "crashload: summary crashes={crashes} {} restarts={restarts} busy={busy} ops={} bytes={} \
         dup={} vanished={} lost={} errors={} hung={hung} ticks={}",
        per.join(" "),
        total.ops,
        total.bytes,
        total.dup,
        total.vanished,
        total.lost,
        total.errors,
        time::uptime() - start
    );
    for t in &targets {
        if let (Some(min), Some(max)) = (t.restart_ticks.iter().min(), t.restart_ticks.iter().max())
        {
            let avg = t.restart_ticks.iter().sum::<u64>() / t.restart_ticks.len() as u64;
            println!(
                "crashload: restart of {}: n={} min={} ms avg={} ms max={} ms",
                t.label,
                t.restart_ticks.len(),
                min * 1000 / HZ,
                avg * 1000 / HZ,
                max * 1000 / HZ
            );
        }
    }
    if crashes < set.crashes {
        println!("crashload: only {crashes} of {} crashes done", set.crashes);
        errors += 1;
    }
    if !set.keep
        && let Err(e) = remove_tree(DIR)
    {
        println!("crashload: removing {DIR}: {}", strerror(e));
        errors += 1;
    }
    let errors = errors + total.failures() + hung;
    println!(
        "{}",
        minixtest::summary("crashload", u32::try_from(errors).unwrap_or(u32::MAX))
    );
    i32::from(errors != 0)
}
