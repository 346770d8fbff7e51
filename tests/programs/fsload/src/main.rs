//! `fsload`: file-system load under crashes, in QEMU. One program, two
//! roles chosen by the first argument word:
//!
//! - `client K` (boot modules `fsload:fsload1 client 1`, ...): works in
//!   `/tmp/cK` through VFS (`vfs::client`) with the load of `fsload-core`
//!   (shared with `/bin/crashload`), a seeded mix of operations — O_EXCL
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
use alloc::vec::Vec;
use fsload_core::{Counts, Fs, Load, Rng, arg};
use native::NativeSys;
use sys::proto::service::{RunState, ServiceReply, ServiceRequest, ServiceStatus};
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
/// Ticks between a client's `stat` lines.
const STAT_EVERY: Ticks = HZ;
/// A client silent for this long is hung.
const HANG_TICKS: Ticks = 60 * HZ;

/// A client's counts as the payload of `FINAL` (or `PROGRESS`: client
/// and ops only).
fn counts_message(c: Counts, mtype: u32) -> Message {
    let mut m = Message::new(mtype);
    for (i, w) in c.to_words().iter().enumerate() {
        m.payload_mut()[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    m
}

/// The counts of a `FINAL` or `PROGRESS` message.
fn message_counts(m: &Message) -> Counts {
    Counts::from_bytes(&m.payload()[..8 * Counts::WORDS])
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

/// The file system as a client reaches it: VFS through `vfs::client`;
/// report lines go to the kernel console (`[fsloadK] ...`).
struct Vfs<'a> {
    sys: &'a mut NativeSys,
    c: Client,
}

impl Fs for Vfs<'_> {
    fn open(&mut self, path: &str, flags: u32, mode: u16) -> Result<i32, Errno> {
        self.c.open(self.sys, path, flags, mode)
    }
    fn read(&mut self, fd: i32, max: usize) -> Result<Vec<u8>, Errno> {
        self.c.read(self.sys, fd, max)
    }
    fn write(&mut self, fd: i32, data: &[u8]) -> Result<usize, Errno> {
        self.c.write(self.sys, fd, data)
    }
    fn fsync(&mut self, fd: i32) -> Result<(), Errno> {
        self.c.fsync(self.sys, fd)
    }
    fn close(&mut self, fd: i32) -> Result<(), Errno> {
        self.c.close(self.sys, fd)
    }
    fn unlink(&mut self, path: &str) -> Result<(), Errno> {
        self.c.unlink(self.sys, path)
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), Errno> {
        self.c.rename(self.sys, from, to)
    }
    fn exists(&mut self, path: &str) -> bool {
        self.c.stat(self.sys, path).is_ok()
    }
    fn mkdir(&mut self, path: &str, mode: u16) -> Result<(), Errno> {
        self.c.mkdir(self.sys, path, mode)
    }
    fn rmdir(&mut self, path: &str) -> Result<(), Errno> {
        self.c.rmdir(self.sys, path)
    }
    fn pipe(&mut self) -> Result<(i32, i32), Errno> {
        self.c.pipe(self.sys)
    }
    fn list_dir(&mut self, path: &str) -> Result<Vec<String>, Errno> {
        Ok(self
            .c
            .list_dir(self.sys, path)?
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect())
    }
    fn say(&mut self, line: &str) {
        rt::println!("{line}");
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
    let mut load = Load::new(k, format!("/tmp/c{k}"), Rng::for_client(seed, k), 0);
    let mut fs = Vfs {
        sys,
        c: Client::new(vfs),
    };
    load.start(&mut fs);
    rt::println!("client {k} working in {}", load.dir());
    let mut last_stat: Ticks = 0;
    loop {
        load.step(&mut fs);
        let ops = load.n.ops;
        let now = fs.sys.now();
        if now.saturating_sub(last_stat) >= STAT_EVERY {
            last_stat = now;
            rt::println!("stat t={now} ops={ops}");
        }
        let progress = Counts {
            client: k,
            ops,
            ..Counts::default()
        };
        let go_on = match fs.sys.sendrec(coord, counts_message(progress, PROGRESS)) {
            Ok(r) => r.mtype() != STOP,
            // No coordinator: run a fixed number of operations.
            Err(_) => ops < 2000,
        };
        if !go_on {
            break;
        }
    }
    load.finish(&mut fs);
    if coord != Endpoint::NONE {
        let _ = fs.sys.sendrec(coord, counts_message(load.n, FINAL));
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

fn coordinator(sys: &mut NativeSys, args: &str) -> i32 {
    let nclients: usize = arg(args.split_ascii_whitespace(), "clients", 3);
    let total: u64 = arg(args.split_ascii_whitespace(), "crashes", 1000);
    let gap: u64 = arg(args.split_ascii_whitespace(), "gap", 3);
    let mut rng = Rng(arg(args.split_ascii_whitespace(), "seed", 1));
    let target_list: String = arg(
        args.split_ascii_whitespace(),
        "targets",
        String::from("mfs,pfs,virtio-blk"),
    );
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
                let c = message_counts(&m);
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
            let seed = arg(args.split_ascii_whitespace(), "seed", 1);
            client(&mut sys, k, seed)
        }
        Some("crasher") | None => coordinator(&mut sys, args),
        Some(other) => {
            rt::println!("unknown role '{other}' (client K | crasher ...)");
            1
        }
    }
}
