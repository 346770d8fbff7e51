//! `sim`: a deterministic simulator for the system servers
//! (FoundationDB-style deterministic simulation testing).
//!
//! Every server is written once against [`sys::Sys`]; here any set of them
//! runs inside one host process. One seeded PRNG decides everything that
//! varies: which queued message is delivered next (sender->receiver pairs stay
//! FIFO, different pairs interleave freely), when simulated time advances,
//! and where injected faults strike. There are no threads and no wall clock,
//! so a seed replays a run exactly; [`Sim::trace_hash`] summarises a run and
//! [`Sim::trace`] lists it.
//!
//! What the simulator provides, standing in for the kernel:
//! - process slots and endpoints with generations, `spawn`/`kill` for RS,
//!   crash reports to RS ([`ProcDied`](sys::proto::kernel::ProcDied));
//! - asynchronous send / request / notify, blocking `sendrec` / `receive`
//!   (see [`core`](crate) docs: nested scheduling), dead-peer errors and
//!   bounces ([`DeadPeer`]) for every request a
//!   dying process leaves unanswered;
//! - grants and safecopy, alarms, preserved memory, IPC privilege checks;
//! - fault injection: crash a labelled process at its Nth message from now,
//!   crash or hang processes at random with a per-message probability, or
//!   hang one now (it swallows every message, pings included).
//!
//! A test harness process ("harness") lets tests talk to servers with
//! [`Sim::call`]. [`system::boot`] starts RS (with DS and the sample services
//! registered as programs) for system-level tests. [`seeded`] reads
//! `SIM_SEED` and prints the seed of a failing test so it can be replayed.
//!
//! Simulated block devices: a file server links libbdev's `SimDriver`
//! in-process; registered with [`Sim::add_device`], it is crashed by the same
//! seeded injector ([`Sim::device_faults_randomly`], [`Sim::crash_device_now`]).
#![forbid(unsafe_code)]

mod core;
pub mod devices;
pub mod rng;
pub mod samples;
pub mod soak;
pub mod system;
pub mod trace;

pub use crate::core::{Factory, SimConfig, Stats};
pub use trace::Event;

use crate::core::{Core, Kind};
use std::any::Any;
use std::collections::VecDeque;
use sys::proto::kernel::{DeadPeer, is_notify};
use sys::{Endpoint, Errno, Message, Privileges, Process, SpawnAt, Sys, Ticks};

/// The harness's process: a mailbox tests read.
#[derive(Debug, Default)]
pub struct Mailbox {
    /// Messages received, oldest first.
    pub inbox: VecDeque<Message>,
}

impl Process for Mailbox {
    fn receive(&mut self, _sys: &mut dyn Sys, msg: Message) {
        self.inbox.push_back(msg);
    }
}

/// A simulated system.
pub struct Sim {
    core: Core,
    harness: Endpoint,
    devices: devices::Devices,
}

impl Sim {
    /// An empty system with a harness process.
    pub fn new(cfg: SimConfig) -> Self {
        let mut core = Core::new(cfg);
        let harness = core
            .create(
                SpawnAt::Fresh,
                "harness",
                Box::new(Mailbox::default()),
                Privileges::service(),
                true,
            )
            .unwrap_or(Endpoint::NONE);
        Sim {
            core,
            harness,
            devices: devices::Devices::default(),
        }
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.core.cfg.seed
    }

    /// Register a program RS can spawn by name.
    pub fn register(&mut self, program: &str, factory: impl Fn() -> Box<dyn Process> + 'static) {
        self.core
            .programs
            .insert(program.to_string(), Box::new(factory));
    }

    /// Start RS at its well-known endpoint with process-management rights.
    pub fn start_rs(&mut self, rs: Box<dyn Process>) -> Result<Endpoint, Errno> {
        let privileges = Privileges {
            process_mgmt: true,
            ipc: sys::IpcTargets::Any,
            hardware: false,
        };
        self.core
            .create(SpawnAt::Exact(Endpoint::RS), "rs", rs, privileges, false)
    }

    /// Start an unsupervised user process (a client, a load generator).
    pub fn spawn_user(&mut self, label: &str, p: Box<dyn Process>) -> Result<Endpoint, Errno> {
        self.core
            .create(SpawnAt::Fresh, label, p, Privileges::service(), true)
    }

    /// Start an unsupervised process with explicit privileges.
    pub fn spawn_user_with(
        &mut self,
        label: &str,
        p: Box<dyn Process>,
        privileges: Privileges,
    ) -> Result<Endpoint, Errno> {
        self.core.create(SpawnAt::Fresh, label, p, privileges, true)
    }

    /// Simulated time.
    pub fn now(&self) -> Ticks {
        self.core.now
    }

    /// One scheduling step; `false` when nothing can happen any more.
    pub fn step(&mut self) -> bool {
        self.device_faults();
        self.core.step()
    }

    fn device_faults(&mut self) {
        if self.devices.crash_ppm == 0 || self.devices.list.is_empty() {
            return;
        }
        if (self.core.rng.below(1_000_000) as u32) < self.devices.crash_ppm {
            let i = self.core.rng.below(self.devices.list.len() as u64) as usize;
            let variant = self.core.rng.next_u64();
            let (label, dev) = &self.devices.list[i];
            if dev.borrow().alive() {
                dev.borrow_mut().inject_crash(variant);
                self.devices.crashes += 1;
                let t = self.core.now;
                self.core.tracer.push(Event::Log {
                    t,
                    ep: Endpoint::SYSTEM,
                    text: format!("device {label} crashed"),
                });
            }
        }
    }

    /// Register a device handle under `label` for fault injection.
    pub fn add_device(&mut self, label: &str, dev: devices::DeviceHandle) {
        self.devices.list.push((label.to_string(), dev));
    }

    /// Before every scheduling step, crash a random registered device with
    /// probability `ppm` / 10^6 (0 turns it off).
    pub fn device_faults_randomly(&mut self, ppm: u32) {
        self.devices.crash_ppm = ppm;
    }

    /// Crash the device `label` now; false if unknown or already dead.
    pub fn crash_device_now(&mut self, label: &str) -> bool {
        let v = self.core.rng.next_u64();
        match self.devices.list.iter().find(|(l, _)| l == label) {
            Some((_, d)) if d.borrow().alive() => {
                d.borrow_mut().inject_crash(v - v % 3);
                self.devices.crashes += 1;
                true
            }
            _ => false,
        }
    }

    /// Device crashes injected so far.
    pub fn device_crashes(&self) -> u64 {
        self.devices.crashes
    }

    /// Run for `ticks` of simulated time (or until nothing can happen).
    pub fn run_for(&mut self, ticks: Ticks) {
        let end = self.core.now.saturating_add(ticks);
        while self.core.now < end && self.step() {}
    }

    /// Run until `pred` holds (checked after every step) or `max_ticks`
    /// pass; returns whether `pred` held.
    pub fn run_until(&mut self, max_ticks: Ticks, mut pred: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.core.now.saturating_add(max_ticks);
        loop {
            if pred(self) {
                return true;
            }
            if self.core.now >= end || !self.step() {
                return pred(self);
            }
        }
    }

    /// The harness's endpoint.
    pub fn harness(&self) -> Endpoint {
        self.harness
    }

    /// Messages the harness received and no [`Sim::call`] consumed.
    pub fn harness_inbox(&mut self) -> VecDeque<Message> {
        self.with_process_mut::<Mailbox, _>("harness", |m| std::mem::take(&mut m.inbox))
            .unwrap_or_default()
    }

    /// Send `msg` from the harness as a request to `dest` and run until the
    /// answer (or a dead-peer bounce) arrives. `ETIMEDOUT` after the
    /// configured block timeout.
    pub fn call(&mut self, dest: Endpoint, msg: Message) -> Result<Message, Errno> {
        self.send_request(dest, msg)?;
        self.wait_reply(dest, msg.request_id())
    }

    /// Send `msg` from the harness as a request to `dest` without waiting.
    pub fn send_request(&mut self, dest: Endpoint, msg: Message) -> Result<(), Errno> {
        let h = self.harness.slot() as usize;
        self.core.post_as(h, dest, msg, Kind::Request)
    }

    /// Send `msg` from the harness one-way (no answer owed).
    pub fn send_plain(&mut self, dest: Endpoint, msg: Message) -> Result<(), Errno> {
        let h = self.harness.slot() as usize;
        self.core.post_as(h, dest, msg, Kind::Plain)
    }

    /// Grant `grantee` access to `buf` on behalf of the harness.
    pub fn harness_grant(
        &mut self,
        grantee: Endpoint,
        access: sys::GrantAccess,
        buf: Vec<u8>,
    ) -> Result<sys::GrantId, Errno> {
        let h = self.harness.slot() as usize;
        self.core.grant_as(h, grantee, access, buf)
    }

    /// Revoke a harness grant and take its buffer back.
    pub fn harness_revoke(&mut self, gid: sys::GrantId) -> Result<Vec<u8>, Errno> {
        let h = self.harness.slot() as usize;
        self.core.revoke_as(h, gid)
    }

    /// Run until the harness holds the answer from `dest` to request `id`
    /// (a non-notify message from `dest` whose payload starts with `id`, or
    /// a dead-peer bounce of it), and take it. `ETIMEDOUT` after the
    /// configured block timeout.
    pub fn wait_reply(&mut self, dest: Endpoint, id: u64) -> Result<Message, Errno> {
        let deadline = self.core.now.saturating_add(self.core.cfg.block_timeout);
        loop {
            let got = self.with_process_mut::<Mailbox, _>("harness", |m| {
                let i = m.inbox.iter().position(|r| {
                    (r.source() == dest && !is_notify(r) && r.request_id() == id)
                        || DeadPeer::try_from(r)
                            .map(|b| b.dead == dest && b.request_id() == id)
                            .unwrap_or(false)
                })?;
                m.inbox.remove(i)
            });
            match got {
                Some(Some(r)) => {
                    return match DeadPeer::try_from(&r) {
                        Ok(b) => Err(b.errno()),
                        Err(_) => Ok(r),
                    };
                }
                None => return Err(Errno::ESRCH),
                Some(None) => {}
            }
            if self.core.now > deadline {
                return Err(Errno::ETIMEDOUT);
            }
            if !self.step() {
                return Err(Errno::ELOCKED);
            }
        }
    }

    /// Signals raised so far with `Sys::sig_send`, oldest first:
    /// (sender, target, signal number).
    pub fn signals(&self) -> &[(Endpoint, Endpoint, u32)] {
        &self.core.signals
    }

    /// The endpoint of the live process labelled `label`.
    pub fn endpoint_of(&self, label: &str) -> Option<Endpoint> {
        self.core
            .slot_of_label(label)
            .map(|s| self.core.slots[s].ep)
    }

    /// Whether a process labelled `label` is alive.
    pub fn is_alive(&self, label: &str) -> bool {
        self.core.slot_of_label(label).is_some()
    }

    /// Inspect the live process labelled `label` as a `T`.
    pub fn with_process<T: Any, R>(&self, label: &str, f: impl FnOnce(&T) -> R) -> Option<R> {
        let s = self.core.slot_of_label(label)?;
        let p: &dyn Any = self.core.slots[s].proc.as_deref()?;
        p.downcast_ref::<T>().map(f)
    }

    /// Modify the live process labelled `label` as a `T` (fault injection
    /// into its state, e.g. corrupting a stored blob).
    pub fn with_process_mut<T: Any, R>(
        &mut self,
        label: &str,
        f: impl FnOnce(&mut T) -> R,
    ) -> Option<R> {
        let s = self.core.slot_of_label(label)?;
        let p: &mut dyn Any = self.core.slots[s].proc.as_deref_mut()?;
        p.downcast_mut::<T>().map(f)
    }

    /// Crash `label` when it receives its `nth` message from now (1 = next).
    pub fn crash_at(&mut self, label: &str, nth: u64) {
        let f = &mut self.core.faults;
        let id = f.intern(label);
        let at = f.delivered[id] + nth.max(1);
        f.crash_at.entry(id).or_default().push(at);
    }

    /// Make `label` hang (ignore everything) from its `nth` message from now.
    pub fn hang_at(&mut self, label: &str, nth: u64) {
        let f = &mut self.core.faults;
        let id = f.intern(label);
        let at = f.delivered[id] + nth.max(1);
        f.hang_at.entry(id).or_default().push(at);
    }

    /// Crash `label` now (a fault, SIGSEGV); false if it is not alive.
    pub fn crash_now(&mut self, label: &str) -> bool {
        match self.core.slot_of_label(label) {
            Some(s) if Endpoint::RS != self.core.slots[s].ep => {
                self.core.stats.crashes_injected += 1;
                self.core.kill_slot(
                    s,
                    sys::proto::kernel::Cause::Fault(sys::proto::kernel::sig::SIGSEGV),
                );
                true
            }
            _ => false,
        }
    }

    /// Make `label` hang now; false if it is not alive.
    pub fn hang_now(&mut self, label: &str) -> bool {
        match self.core.slot_of_label(label) {
            Some(s) if Endpoint::RS != self.core.slots[s].ep => {
                self.core.stats.hangs_injected += 1;
                self.core.set_hung(s);
                true
            }
            _ => false,
        }
    }

    /// Before every delivery to a process whose label is in `labels`, crash
    /// it with probability `crash_ppm` / 10^6, else hang it with probability
    /// `hang_ppm` / 10^6. Zero for both turns random faults off.
    pub fn faults_randomly(&mut self, labels: &[&str], crash_ppm: u32, hang_ppm: u32) {
        let f = &mut self.core.faults;
        f.random_targets.iter_mut().for_each(|t| *t = false);
        for l in labels {
            let id = f.intern(l);
            f.random_targets[id] = true;
        }
        self.core.faults.random_per_million = crash_ppm;
        self.core.faults.random_hang_per_million = hang_ppm;
    }

    /// Events so far (empty unless `keep_trace`).
    pub fn trace(&self) -> &[Event] {
        self.core.tracer.events()
    }

    /// The last `n` kept events, one per line (for failure messages).
    pub fn trace_tail(&self, n: usize) -> String {
        let ev = self.core.tracer.events();
        ev[ev.len().saturating_sub(n)..]
            .iter()
            .map(|e| format!("{e:?}\n"))
            .collect()
    }

    /// Hash of all events so far.
    pub fn trace_hash(&self) -> u64 {
        self.core.tracer.hash()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.core.stats
    }

    /// Set when RS died (a system failure): the run stops.
    pub fn fatal(&self) -> Option<&str> {
        self.core.fatal.as_deref()
    }
}

/// The seed to use: `SIM_SEED` from the environment if set (decimal or
/// 0x-hex), else `default`.
pub fn seed_from_env(default: u64) -> u64 {
    match std::env::var("SIM_SEED") {
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => v.parse().ok(),
            };
            parsed.unwrap_or(default)
        }
        Err(_) => default,
    }
}

/// Prints the seed if the test panics while it is alive.
#[derive(Debug)]
pub struct SeedGuard {
    name: String,
    seed: u64,
}

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "simulation '{}' failed with seed {}; replay with SIM_SEED={}",
                self.name, self.seed, self.seed
            );
        }
    }
}

/// Run `f` with the seed from `SIM_SEED` (or `default`), printing the seed
/// if it panics.
pub fn seeded<R>(name: &str, default: u64, f: impl FnOnce(u64) -> R) -> R {
    let seed = seed_from_env(default);
    let _guard = SeedGuard {
        name: name.to_string(),
        seed,
    };
    f(seed)
}
