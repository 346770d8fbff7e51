//! `fsload`: file-system load under crashes, in QEMU. One program, two
//! roles chosen by the first argument word:
//!
//! - `client K` (boot modules `fsload:fsload1 client 1`, ...): works in
//!   `/tmp/cK` through VFS with a seeded mix of operations — O_EXCL
//!   creates of files with a known pattern, read-backs, renames, unlinks,
//!   mkdir/rmdir, append records with sequence numbers, and pipe round
//!   trips (PFS). Every acknowledged change is remembered and checked:
//!   a read-back that differs or a file that vanished is *lost*; an
//!   O_EXCL create or mkdir answered `EEXIST`, or a rename answered
//!   `ENOENT` whose destination exists, is a change applied twice (*dup*);
//!   an unlink or rename of a file it owns answered `ENOENT` otherwise is
//!   *vanished*. After each operation it reports progress to the
//!   coordinator (`sendrec`), which answers continue or stop. On stop it
//!   checks every file it keeps, its directory listing (*stray* names) and
//!   its append log (every record once, in order), prints a `kept` line per
//!   file for the host to check, and sends its final counts.
//! - `crasher [clients=N] [crashes=M] [seed=S] [gap=T] [targets=a,b]`
//!   (boot module `fsload`, the coordinator): asks RS to crash (`service
//!   fi`) MFS, PFS and virtio-blk at random, one at a time: after each crash
//!   it waits until RS reports the service running again (restart count
//!   up), then 0..=T ticks. It answers the clients meanwhile, stops them
//!   after M crashes, collects their reports (a client silent for 60 s is
//!   *hung*), prints the totals, syncs, unmounts `/` and shuts the machine
//!   down with the verdict (pass: no lost, dup, vanished, stray, error or
//!   hung).
//!
//! Machine-readable lines (for `images soak-plot`): clients print `stat
//! t=<ticks> ops=<n>` about once a second; the coordinator prints `crash
//! t=<ticks> svc=<label>` and `restarted t=<ticks> svc=<label>
//! after=<ticks>`, and at the end `summary ...` and `kept` lines come from
//! the clients.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use native::NativeSys;
use sys::proto::service::{RunState, ServiceReply, ServiceRequest, ServiceStatus};
use sys::proto::vfs::oflag::{O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_WRONLY};
use sys::{Endpoint, Errno, HZ, Message, Sys, Ticks};
use vfs::client::Client;

rt::entry!(main);

/// Client → coordinator: progress (`[client, ops]`), answered `CONTINUE`
/// or `STOP`.
const PROGRESS: u32 = 0x7f00;
const CONTINUE: u32 = 0x7f01;
const STOP: u32 = 0x7f02;
/// Client → coordinator: final counts ([`Counts`]), answered `ACK`.
const FINAL: u32 = 0x7f03;
const ACK: u32 = 0x7f04;

/// Name of the coordinator process.
const COORDINATOR: &str = "fsload";
/// Files a client keeps at most.
const MAX_FILES: usize = 24;
/// Largest file a client writes.
const MAX_LEN: usize = 12 * 1024;
/// Ticks between a client's `stat` lines.
const STAT_EVERY: Ticks = HZ;
/// A client silent for this long is hung.
const HANG_TICKS: Ticks = 60 * HZ;
/// Error lines a client prints at most.
const MAX_ERROR_LINES: u64 = 20;

/// Byte `i` of the file created with sequence number `seq` by client `k`
/// (the host test computes the same).
pub fn pattern(k: u64, seq: u64, i: u64) -> u8 {
    ((i * 31 + seq * 7 + k * 13) % 251) as u8
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A client's counts (the payload of `FINAL`, 7 words).
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    client: u64,
    ops: u64,
    bytes: u64,
    dup: u64,
    vanished: u64,
    lost: u64,
    /// Stray names and unexpected errors.
    errors: u64,
}

impl Counts {
    fn to_message(self, mtype: u32) -> Message {
        let mut m = Message::new(mtype);
        let words = [
            self.client,
            self.ops,
            self.bytes,
            self.dup,
            self.vanished,
            self.lost,
            self.errors,
        ];
        for (i, w) in words.iter().enumerate() {
            m.payload_mut()[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        m
    }
    fn from_message(m: &Message) -> Counts {
        let w = |i: usize| {
            u64::from_le_bytes(m.payload()[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]))
        };
        Counts {
            client: w(0),
            ops: w(1),
            bytes: w(2),
            dup: w(3),
            vanished: w(4),
            lost: w(5),
            errors: w(6),
        }
    }
}

/// Polls DS for `label`.
fn find(sys: &mut NativeSys, label: &str) -> Option<Endpoint> {
    for _ in 0..3000 {
        if let Ok(ep) = sys::ds::retrieve_label(sys, label) {
            return Some(ep);
        }
        sys.sleep(1);
    }
    None
}

// ---- client -----------------------------------------------------------------

struct File {
    name: String,
    seq: u64,
    len: usize,
}

struct Load {
    k: u64,
    dir: String,
    c: Client,
    rng: Rng,
    coord: Endpoint,
    files: Vec<File>,
    seq: u64,
    log_records: u64,
    n: Counts,
    last_stat: Ticks,
}

impl Load {
    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.dir)
    }

    fn error(&mut self, what: &str, e: Errno) {
        self.n.errors += 1;
        if self.n.errors <= MAX_ERROR_LINES {
            rt::println!("error: {what}: {e}");
        }
    }

    fn lost(&mut self, what: &str) {
        self.n.lost += 1;
        if self.n.lost <= MAX_ERROR_LINES {
            rt::println!("lost: {what}");
        }
    }

    fn dup(&mut self, what: &str) {
        self.n.dup += 1;
        if self.n.dup <= MAX_ERROR_LINES {
            rt::println!("applied twice: {what}");
        }
    }

    fn vanished(&mut self, what: &str) {
        self.n.vanished += 1;
        if self.n.vanished <= MAX_ERROR_LINES {
            rt::println!("vanished: {what}");
        }
    }

    fn read_all(&mut self, sys: &mut NativeSys, path: &str) -> Result<Vec<u8>, Errno> {
        let fd = self.c.open(sys, path, O_RDONLY, 0)?;
        let mut data = Vec::new();
        let r = loop {
            match self.c.read(sys, fd, 16 * 1024) {
                Ok(chunk) if chunk.is_empty() => break Ok(()),
                Ok(chunk) => data.extend_from_slice(&chunk),
                Err(e) => break Err(e),
            }
        };
        let closed = self.c.close(sys, fd);
        r.and(closed).map(|()| data)
    }

    fn create(&mut self, sys: &mut NativeSys) {
        if self.files.len() >= MAX_FILES {
            self.unlink(sys);
        }
        self.seq += 1;
        let seq = self.seq;
        let len = 1 + self.rng.below(MAX_LEN as u64) as usize;
        let name = format!("f{seq}");
        let path = self.path(&name);
        let fd = match self.c.open(sys, &path, O_WRONLY | O_CREAT | O_EXCL, 0o644) {
            Ok(fd) => fd,
            Err(Errno::EEXIST) => return self.dup(&format!("create {path}: EEXIST")),
            Err(e) => return self.error(&format!("create {path}"), e),
        };
        let data: Vec<u8> = (0..len as u64).map(|i| pattern(self.k, seq, i)).collect();
        let w = self.c.write(sys, fd, &data);
        let closed = self.c.close(sys, fd);
        match (w, closed) {
            (Ok(n), Ok(())) if n == len => self.files.push(File { name, seq, len }),
            (Ok(n), Ok(())) => {
                self.error(&format!("short write {n} of {len} to {path}"), Errno::EIO);
                // Keep it out of the checks: its contents are unknown.
                let _ = self.c.unlink(sys, &path);
            }
            (Err(e), _) | (_, Err(e)) => {
                self.error(&format!("write {path}"), e);
                let _ = self.c.unlink(sys, &path);
            }
        }
    }

    /// Reads file `i` back; true if it holds what was written.
    fn check_file(&mut self, sys: &mut NativeSys, i: usize) -> bool {
        let (path, seq, len) = {
            let f = &self.files[i];
            (self.path(&f.name), f.seq, f.len)
        };
        match self.read_all(sys, &path) {
            Ok(d) => {
                let good = d.len() == len
                    && d.iter()
                        .enumerate()
                        .all(|(j, &b)| b == pattern(self.k, seq, j as u64));
                if good {
                    self.n.bytes += len as u64;
                } else {
                    self.lost(&format!(
                        "{path}: {} bytes read back, {len} written, contents {}",
                        d.len(),
                        if d.len() == len { "differ" } else { "-" }
                    ));
                }
                good
            }
            Err(Errno::ENOENT) => {
                self.lost(&format!("{path}: gone"));
                false
            }
            Err(e) => {
                self.error(&format!("read {path}"), e);
                false
            }
        }
    }

    fn read_back(&mut self, sys: &mut NativeSys) {
        if !self.files.is_empty() {
            let i = self.rng.below(self.files.len() as u64) as usize;
            self.check_file(sys, i);
        }
    }

    fn rename(&mut self, sys: &mut NativeSys) {
        if self.files.is_empty() {
            return;
        }
        let i = self.rng.below(self.files.len() as u64) as usize;
        self.seq += 1;
        let new = format!("r{}", self.seq);
        let (from, to) = (self.path(&self.files[i].name), self.path(&new));
        match self.c.rename(sys, &from, &to) {
            Ok(()) => self.files[i].name = new,
            Err(Errno::ENOENT) => {
                if self.c.stat(sys, &to).is_ok() {
                    self.files[i].name = new;
                    self.dup(&format!(
                        "rename {from} -> {to}: ENOENT, destination exists"
                    ));
                } else {
                    self.files.swap_remove(i);
                    self.vanished(&format!("rename {from}: ENOENT"));
                }
            }
            Err(e) => self.error(&format!("rename {from} -> {to}"), e),
        }
    }

    fn unlink(&mut self, sys: &mut NativeSys) {
        if self.files.is_empty() {
            return;
        }
        let i = self.rng.below(self.files.len() as u64) as usize;
        let path = self.path(&self.files[i].name);
        match self.c.unlink(sys, &path) {
            Ok(()) => {
                self.files.swap_remove(i);
            }
            Err(Errno::ENOENT) => {
                self.files.swap_remove(i);
                self.vanished(&format!("unlink {path}: ENOENT"));
            }
            Err(e) => self.error(&format!("unlink {path}"), e),
        }
    }

    fn mkdir(&mut self, sys: &mut NativeSys) {
        self.seq += 1;
        let path = self.path(&format!("d{}", self.seq));
        match self.c.mkdir(sys, &path, 0o755) {
            Ok(()) => {}
            Err(Errno::EEXIST) => return self.dup(&format!("mkdir {path}: EEXIST")),
            Err(e) => return self.error(&format!("mkdir {path}"), e),
        }
        match self.c.rmdir(sys, &path) {
            Ok(()) => {}
            Err(Errno::ENOENT) => self.vanished(&format!("rmdir {path}: ENOENT")),
            Err(e) => self.error(&format!("rmdir {path}"), e),
        }
    }

    fn append(&mut self, sys: &mut NativeSys) {
        let path = self.path("log");
        let fd = match self
            .c
            .open(sys, &path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        {
            Ok(fd) => fd,
            Err(e) => return self.error(&format!("open {path}"), e),
        };
        let mut rec = [0u8; 16];
        rec[..8].copy_from_slice(&self.k.to_le_bytes());
        rec[8..].copy_from_slice(&self.log_records.to_le_bytes());
        let w = self.c.write(sys, fd, &rec);
        let closed = self.c.close(sys, fd);
        match (w, closed) {
            (Ok(16), Ok(())) => self.log_records += 1,
            (Ok(n), Ok(())) => self.error(&format!("short append {n}"), Errno::EIO),
            (Err(e), _) | (_, Err(e)) => self.error(&format!("append {path}"), e),
        }
    }

    fn pipe(&mut self, sys: &mut NativeSys) {
        let (r, w) = match self.c.pipe(sys) {
            Ok(p) => p,
            Err(e) => return self.error("pipe", e),
        };
        self.seq += 1;
        let len = 1 + self.rng.below(4096) as usize;
        let data: Vec<u8> = (0..len as u64)
            .map(|i| pattern(self.k, self.seq, i))
            .collect();
        match self.c.write(sys, w, &data) {
            Ok(n) if n == len => {
                let mut got = Vec::new();
                while got.len() < len {
                    match self.c.read(sys, r, len - got.len()) {
                        Ok(d) if d.is_empty() => break,
                        Ok(d) => got.extend_from_slice(&d),
                        Err(e) => {
                            self.error("pipe read", e);
                            break;
                        }
                    }
                }
                if got == data {
                    self.n.bytes += len as u64;
                } else {
                    self.lost(&format!(
                        "pipe: {} of {len} bytes came back intact",
                        got.len()
                    ));
                }
            }
            Ok(n) => self.error(&format!("pipe write {n} of {len}"), Errno::EIO),
            Err(e) => self.error("pipe write", e),
        }
        for fd in [w, r] {
            if let Err(e) = self.c.close(sys, fd) {
                self.error("pipe close", e);
            }
        }
    }

    /// One operation; false once the coordinator says stop.
    fn step(&mut self, sys: &mut NativeSys) -> bool {
        match self.rng.below(100) {
            0..35 => self.create(sys),
            35..55 => self.read_back(sys),
            55..65 => self.rename(sys),
            65..73 => self.unlink(sys),
            73..80 => self.mkdir(sys),
            80..90 => self.pipe(sys),
            _ => self.append(sys),
        }
        self.n.ops += 1;
        let now = sys.now();
        if now.saturating_sub(self.last_stat) >= STAT_EVERY {
            self.last_stat = now;
            rt::println!("stat t={now} ops={}", self.n.ops);
        }
        let mut m = Message::new(PROGRESS);
        m.payload_mut()[..8].copy_from_slice(&self.k.to_le_bytes());
        m.payload_mut()[8..16].copy_from_slice(&self.n.ops.to_le_bytes());
        match sys.sendrec(self.coord, m) {
            Ok(r) => r.mtype() != STOP,
            // No coordinator: run a fixed number of operations.
            Err(_) => self.n.ops < 2000,
        }
    }

    /// The checks after the run.
    fn finish(&mut self, sys: &mut NativeSys) {
        for i in 0..self.files.len() {
            if self.check_file(sys, i) {
                let f = &self.files[i];
                rt::println!(
                    "kept {} len={} seq={} client={}",
                    self.path(&f.name),
                    f.len,
                    f.seq,
                    self.k
                );
            }
        }
        match self.c.list_dir(sys, &self.dir) {
            Ok(names) => {
                for n in names {
                    let name = String::from_utf8_lossy(&n).into_owned();
                    if name == "." || name == ".." || name == "log" {
                        continue;
                    }
                    if !self.files.iter().any(|f| f.name == name) {
                        self.n.errors += 1;
                        rt::println!(
                            "stray: {}/{name} (removed, or never acknowledged)",
                            self.dir
                        );
                    }
                }
            }
            Err(e) => self.error("list", e),
        }
        let log = self.path("log");
        match self.read_all(sys, &log) {
            Ok(d) => {
                let recs: Vec<(u64, u64)> = d
                    .chunks(16)
                    .map(|c| {
                        let w = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0xff; 8]));
                        if c.len() == 16 {
                            (w(&c[..8]), w(&c[8..]))
                        } else {
                            (u64::MAX, u64::MAX)
                        }
                    })
                    .collect();
                let mut seen = vec![0u32; self.log_records as usize];
                let mut order_ok = true;
                for (i, &(k, r)) in recs.iter().enumerate() {
                    if k != self.k || r >= self.log_records {
                        order_ok = false;
                        continue;
                    }
                    seen[r as usize] += 1;
                    order_ok &= r == i as u64;
                }
                let missing = seen.iter().filter(|&&s| s == 0).count() as u64;
                let twice = seen.iter().filter(|&&s| s > 1).count() as u64;
                for _ in 0..missing {
                    self.lost(&format!("{log}: an acknowledged record is missing"));
                }
                for _ in 0..twice {
                    self.dup(&format!("{log}: a record appears twice"));
                }
                if !order_ok && missing == 0 && twice == 0 {
                    self.error(&format!("{log}: records out of order"), Errno::EIO);
                }
                self.n.bytes += d.len() as u64;
            }
            Err(Errno::ENOENT) if self.log_records == 0 => {}
            Err(e) => self.error(&format!("read {log}"), e),
        }
        rt::println!(
            "final ops={} bytes={} files={} log_records={} dup={} vanished={} lost={} errors={}",
            self.n.ops,
            self.n.bytes,
            self.files.len(),
            self.log_records,
            self.n.dup,
            self.n.vanished,
            self.n.lost,
            self.n.errors
        );
    }
}

fn client(sys: &mut NativeSys, k: u64, seed: u64) -> i32 {
    let Some(vfs) = find(sys, "vfs") else {
        rt::println!("FAIL: VFS never came up");
        return 1;
    };
    let coord = match rt::ipc::whois(COORDINATOR) {
        Ok(ep) => Endpoint(ep),
        Err(_) => {
            rt::println!("no coordinator '{COORDINATOR}': running 2000 operations alone");
            Endpoint::NONE
        }
    };
    let mut l = Load {
        k,
        dir: format!("/tmp/c{k}"),
        c: Client::new(vfs),
        rng: Rng(seed ^ k.wrapping_mul(0x5851_f42d_4c95_7f2d)),
        coord,
        files: Vec::new(),
        seq: 0,
        log_records: 0,
        n: Counts {
            client: k,
            ..Counts::default()
        },
        last_stat: 0,
    };
    if let Err(e) = l.c.mkdir(sys, &l.dir.clone(), 0o755) {
        rt::println!("FAIL: mkdir {}: {e}", l.dir);
        l.n.errors += 1;
    }
    rt::println!("client {k} working in {}", l.dir);
    while l.step(sys) {}
    l.finish(sys);
    if coord != Endpoint::NONE {
        let _ = sys.sendrec(coord, l.n.to_message(FINAL));
    }
    0
}

// ---- coordinator ------------------------------------------------------------

fn rs_call(sys: &mut NativeSys, req: ServiceRequest) -> Result<ServiceStatus, Errno> {
    let reply = sys.sendrec(Endpoint::RS, req.to_message()?)?;
    ServiceReply::try_from(&reply)?.result
}

fn status(sys: &mut NativeSys, label: &str) -> Result<ServiceStatus, Errno> {
    rs_call(
        sys,
        ServiceRequest::Status {
            id: 1,
            label: label.into(),
        },
    )
}

struct Target {
    label: String,
    crashes: u64,
    /// Fi refused because the service was not running.
    busy: u64,
    restart_ticks: Vec<Ticks>,
}

enum Phase {
    /// Next crash at this time.
    Idle(Ticks),
    /// Crash of target `i` asked at `since`; restarted once its restart
    /// count exceeds `before`.
    Restarting { i: usize, since: Ticks, before: u32 },
    /// All crashes done: clients told to stop.
    Stopping,
}

struct ClientSeen {
    last: Ticks,
    ops: u64,
    done: Option<Counts>,
}

fn arg<T: core::str::FromStr>(args: &str, key: &str, default: T) -> T {
    args.split_ascii_whitespace()
        .filter_map(|w| w.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(default)
}

fn coordinator(sys: &mut NativeSys, args: &str) -> i32 {
    let nclients: usize = arg(args, "clients", 3);
    let total: u64 = arg(args, "crashes", 1000);
    let gap: u64 = arg(args, "gap", 3);
    let mut rng = Rng(arg(args, "seed", 1));
    let target_list: String = arg(args, "targets", String::from("mfs,pfs,virtio-blk"));
    let mut targets: Vec<Target> = target_list
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| Target {
            label: s.into(),
            crashes: 0,
            busy: 0,
            restart_ticks: Vec::new(),
        })
        .collect();
    let Some(vfs) = find(sys, "vfs") else {
        rt::println!("FAIL: VFS never came up");
        rt::sys::shutdown(1);
    };
    rt::println!(
        "coordinator: {nclients} clients, {total} crashes of {target_list}, gap 0..={gap} ticks"
    );
    let start = sys.now();
    let mut clients: Vec<ClientSeen> = (0..nclients)
        .map(|_| ClientSeen {
            last: start,
            ops: 0,
            done: None,
        })
        .collect();
    let mut done_crashes = 0u64;
    let mut phase = if total == 0 || targets.is_empty() {
        Phase::Idle(start + 30 * HZ)
    } else {
        Phase::Idle(start + HZ)
    };
    let mut hung = 0u64;
    sys.set_alarm(1);
    loop {
        let Ok(m) = sys.receive(Endpoint::ANY) else {
            continue;
        };
        let now = sys.now();
        match m.mtype() {
            PROGRESS | FINAL => {
                let c = Counts::from_message(&m);
                let k = c.client as usize;
                let stop = matches!(phase, Phase::Stopping);
                if let Some(seen) = k.checked_sub(1).and_then(|i| clients.get_mut(i)) {
                    seen.last = now;
                    if m.mtype() == FINAL {
                        seen.done = Some(c);
                    } else {
                        seen.ops = c.ops;
                    }
                }
                let reply = match m.mtype() {
                    FINAL => ACK,
                    _ if stop => STOP,
                    _ => CONTINUE,
                };
                let _ = sys.send(m.source(), Message::new(reply));
                continue;
            }
            _ if m.source() != Endpoint::CLOCK => continue,
            _ => {}
        }
        // A clock tick.
        sys.set_alarm(1);
        phase = match phase {
            Phase::Idle(at) if now >= at && done_crashes >= total => {
                rt::println!("all {done_crashes} crashes done at t={now}; stopping the clients");
                Phase::Stopping
            }
            Phase::Idle(at) if now >= at => {
                let i = rng.below(targets.len() as u64) as usize;
                let label = targets[i].label.clone();
                match status(sys, &label) {
                    Ok(st) if st.state == RunState::Running => {
                        match rs_call(
                            sys,
                            ServiceRequest::Fi {
                                id: done_crashes + 1,
                                label: label.clone(),
                            },
                        ) {
                            Ok(_) => {
                                done_crashes += 1;
                                targets[i].crashes += 1;
                                rt::println!("crash t={now} svc={label}");
                                Phase::Restarting {
                                    i,
                                    since: now,
                                    before: st.restarts,
                                }
                            }
                            Err(_) => {
                                targets[i].busy += 1;
                                Phase::Idle(now + 1)
                            }
                        }
                    }
                    _ => {
                        targets[i].busy += 1;
                        Phase::Idle(now + 1)
                    }
                }
            }
            Phase::Restarting { i, since, before } => match status(sys, &targets[i].label) {
                Ok(st) if st.state == RunState::Running && st.restarts > before => {
                    let after = now - since;
                    targets[i].restart_ticks.push(after);
                    rt::println!("restarted t={now} svc={} after={after}", targets[i].label);
                    Phase::Idle(now + rng.below(gap + 1))
                }
                _ => Phase::Restarting { i, since, before },
            },
            p => p,
        };
        for (k, c) in clients.iter_mut().enumerate() {
            if c.done.is_none() && c.last != Ticks::MAX && now.saturating_sub(c.last) > HANG_TICKS {
                rt::println!(
                    "client {} hung: silent since t={} ({} ops)",
                    k + 1,
                    c.last,
                    c.ops
                );
                hung += 1;
                c.last = Ticks::MAX;
            }
        }
        let finished = clients
            .iter()
            .all(|c| c.done.is_some() || c.last == Ticks::MAX);
        if matches!(phase, Phase::Stopping) && finished {
            break;
        }
    }
    sys.set_alarm(0);
    // Totals.
    let mut t = Counts::default();
    for c in clients.iter().filter_map(|c| c.done) {
        t.ops += c.ops;
        t.bytes += c.bytes;
        t.dup += c.dup;
        t.vanished += c.vanished;
        t.lost += c.lost;
        t.errors += c.errors;
    }
    let per: Vec<String> = targets
        .iter()
        .map(|x| format!("{}={}", x.label, x.crashes))
        .collect();
    let busy: u64 = targets.iter().map(|x| x.busy).sum();
    let elapsed = sys.now() - start;
    rt::println!(
        "summary crashes={done_crashes} {} busy={busy} ops={} bytes={} dup={} vanished={} lost={} errors={} hung={hung} ticks={elapsed}",
        per.join(" "),
        t.ops,
        t.bytes,
        t.dup,
        t.vanished,
        t.lost,
        t.errors
    );
    for x in &targets {
        if let (Some(min), Some(max)) = (x.restart_ticks.iter().min(), x.restart_ticks.iter().max())
        {
            let sum: Ticks = x.restart_ticks.iter().sum();
            rt::println!(
                "restart ticks {}: n={} min={min} avg={} max={max}",
                x.label,
                x.restart_ticks.len(),
                sum / x.restart_ticks.len() as Ticks
            );
        }
    }
    let mut c = Client::new(vfs);
    let mut failed = t.dup + t.vanished + t.lost + t.errors + hung > 0;
    match c.sync(sys).and_then(|()| c.umount(sys, "/")) {
        Ok(()) => rt::println!("synced and unmounted /"),
        Err(e) => {
            rt::println!("sync/umount /: {e}");
            failed = true;
        }
    }
    if failed {
        rt::println!("FAIL: see the counts above");
        rt::sys::shutdown(1)
    } else {
        rt::println!("PASS: {done_crashes} crashes, every acknowledged change checked");
        rt::sys::shutdown(0)
    }
}

fn main(args: &str) -> i32 {
    let mut sys = NativeSys::new();
    let mut words = args.split_ascii_whitespace();
    match words.next() {
        Some("client") => {
            let k = words.next().and_then(|w| w.parse().ok()).unwrap_or(1);
            let seed = arg(args, "seed", 1);
            client(&mut sys, k, seed)
        }
        Some("crasher") | None => coordinator(&mut sys, args),
        Some(other) => {
            rt::println!("unknown role '{other}' (client K | crasher ...)");
            1
        }
    }
}
