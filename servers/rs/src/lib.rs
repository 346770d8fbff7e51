//! RS, the reincarnation server (MINIX `rs`).
//!
//! RS starts every service of the [service table](services::SERVICES) at
//! boot (DS first), pings each service every `period` ticks and kills one
//! that has not answered for two periods, learns of every death from the
//! kernel (it is the signal manager of system processes: a
//! [`ProcDied`] message per fault, panic, exit
//! or kill), and restarts the service by its policy:
//!
//! - *restart*: same endpoint, init kind Restart, no state;
//! - *stateful*: same endpoint, init kind Restart, SEF hands the saved state
//!   to the new instance;
//! - *reset*: the slot's next generation (a visible new endpoint), init kind
//!   Fresh. A service whose Restart init answers `ERESTART` is reset too.
//!
//! Back-off (MINIX): the first crash restarts at once; each further one waits
//! 2, 4, 8, 16, 30, 30, ... RS ticks (`delta`). Unlike MINIX the back-off level
//! decays: a service that stayed up for [`BACKOFF_RESET_TICKS`]-worth of
//! ticks starts again from an immediate restart. Every death is kept as a
//! [`CrashRecord`] (label, cause, time, restart count).
//!
//! RS publishes label -> endpoint in DS on every (re)start (and deletes it on
//! `down`), and sends a service its init request only once DS has the label,
//! so the service's own DS calls identify it. RS never blocks: DS updates are
//! asynchronous requests, re-sent if DS dies.
//!
//! Verbs (`service` utility, [`ServiceRequest`]): up, down, restart,
//! refresh, update (live update with state hand-over), fi, status, list.
//!
//! Who may ask (MINIX: root only): a request from one of RS's own services
//! is served at once. From anyone else RS first asks PM (the service
//! labelled `pm` in its table) with an asynchronous `PmCall::GetCred`, and
//! answers the caller when PM's reply comes: a user process PM knows is
//! served only if its effective uid is 0 (`EPERM` otherwise); a sender PM
//! does not know (`ESRCH`: a boot program) is served as before. Without a
//! PM (none in the table, or it is down) everyone is served; while PM is
//! dead or restarting the caller gets `EAGAIN`.
//!
//! Talks to: the kernel/simulator (spawn, kill, crash reports, alarms), DS
//! (labels), PM (credentials of `service` callers), every service (init,
//! pings, signals), `service` callers.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod services;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use sys::proto::ds::{DsFlags, DsReply, DsRequest, DsType, PubValue};
use sys::proto::kernel::{Cause, DeadPeer, ProcDied, is_notify, sig};
use sys::proto::pm::{PmCall, PmReply};
use sys::proto::rs::{InitKind, RsToService, ServiceToRs};
use sys::proto::service::{
    Policy, RunState, ServiceEntry, ServiceListReply, ServiceReply, ServiceRequest, ServiceStatus,
    UP_NO_BACKOFF,
};
use sys::{Endpoint, Errno, HZ, Message, Privileges, Process, SpawnAt, SpawnSpec, Sys, Ticks};

/// A service whose back-off level is above 0 and that stays up this many
/// RS ticks gets its level reset to 0.
pub const BACKOFF_RESET_TICKS: u64 = 60;
/// Largest back-off, in RS ticks (MINIX caps at 30).
pub const MAX_BACKOFF: u64 = 30;
/// Consecutive failed inits (crash or timeout) before RS gives up on a
/// service that never completed an init.
pub const MAX_INIT_FAILURES: u32 = 10;
/// Crash records kept (older ones are dropped; the total is still counted).
pub const CRASH_LOG_LEN: usize = 4096;
/// The label of the process manager RS asks about `service` callers.
pub const PM_LABEL: &str = "pm";
/// `service` requests waiting for PM's answer at most (more: `EAGAIN`).
pub const MAX_CRED_CHECKS: usize = 256;

/// One service's configuration (a table row, owned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Label.
    pub label: String,
    /// Program.
    pub program: String,
    /// Restart policy.
    pub policy: Policy,
    /// Ping period in ticks (0: no pings).
    pub period: Ticks,
    /// Privileges.
    pub privileges: Privileges,
    /// Fixed endpoint, if any.
    pub endpoint: Option<Endpoint>,
    /// No exponential back-off.
    pub no_backoff: bool,
    /// Start at boot.
    pub boot: bool,
}

impl From<&services::ServiceSpec> for ServiceConfig {
    fn from(s: &services::ServiceSpec) -> Self {
        ServiceConfig {
            label: s.label.into(),
            program: s.program.into(),
            policy: s.policy,
            period: s.period,
            privileges: s.privileges(),
            endpoint: s.endpoint,
            no_backoff: s.no_backoff,
            boot: s.boot,
        }
    }
}

/// RS tunables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsConfig {
    /// The service table.
    pub services: Vec<ServiceConfig>,
    /// RS tick (MINIX RS_DELTA_T): heartbeat check and back-off unit.
    pub delta: Ticks,
    /// Init watchdog period (MINIX RS_INIT_T); killed after twice this.
    pub init_timeout: Ticks,
}

impl RsConfig {
    /// The system table with MINIX timings (1 s tick, 10 s init period).
    pub fn system() -> Self {
        RsConfig::with_table(services::SERVICES.iter().map(ServiceConfig::from).collect())
    }

    /// A given table with MINIX timings.
    pub fn with_table(services: Vec<ServiceConfig>) -> Self {
        RsConfig {
            services,
            delta: HZ,
            init_timeout: 10 * HZ,
        }
    }
}

/// Why a service instance ended, as RS records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashCause {
    /// Panicked.
    Panic,
    /// CPU fault with this signal.
    Fault(u32),
    /// Exited on its own.
    Exit(i32),
    /// Killed by someone other than RS's own logic.
    Killed,
    /// Killed by RS: no ping reply for two periods.
    NoPingReply,
    /// Killed by RS: no init reply in time.
    InitTimeout,
    /// Init answered with an error.
    InitFailed(Errno),
}

/// One crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashRecord {
    /// Service label.
    pub label: String,
    /// The dead instance's endpoint.
    pub endpoint: Endpoint,
    /// Cause.
    pub cause: CrashCause,
    /// When RS learned of it.
    pub time: Ticks,
    /// The restart count at the time of the crash.
    pub restarts: u32,
    /// Last time the instance answered a ping (or finished init).
    pub last_alive: Ticks,
    /// How long RS waits before restarting (0 = at once; `None` = never).
    pub backoff: Option<Ticks>,
}

/// What RS does when a service's current instance dies.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AfterDeath {
    /// Unexpected: record and restart per policy.
    Crash(Option<CrashCause>),
    /// `down`: stay down.
    Down,
    /// `refresh`: restart at once, no crash record.
    Refresh,
    /// Init asked for a reset: fresh instance, next generation.
    Reset,
    /// Live update: start this program with the old state.
    Update(String),
    /// A failed live update: start the old program again with the state.
    Rollback(String),
    /// Init failed for good: record and stay down.
    GiveUp(CrashCause),
}

/// Snapshot of one service, for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Configuration.
    pub config: ServiceConfig,
    /// Current (or last) endpoint.
    pub endpoint: Endpoint,
    /// Run state.
    pub state: RunState,
    /// Restart count.
    pub restarts: u32,
    /// Current back-off level.
    pub backoff_level: u32,
    /// Corrupted state blobs the service refused at init.
    pub state_refusals: u32,
    /// Last ping reply.
    pub last_alive: Ticks,
    /// Pings sent.
    pub pings_sent: u64,
}

#[derive(Debug)]
struct Svc {
    cfg: ServiceConfig,
    ep: Endpoint,
    state: RunState,
    restarts: u32,
    backoff_level: u32,
    restart_at: Ticks,
    started_at: Ticks,
    alive_tm: Ticks,
    check_tm: Ticks,
    ping_pending: bool,
    pings_sent: u64,
    init_kind: InitKind,
    /// Init request sent at (None: waiting for DS to confirm the label).
    init_sent: Option<Ticks>,
    spawned_at: Ticks,
    stop_started: Ticks,
    waiters: Vec<(Endpoint, u64)>,
    after_death: AfterDeath,
    state_refusals: u32,
    init_failures: u32,
    /// Some instance completed its init.
    ever_ran: bool,
    /// A controlled crash (`service fi`) was asked for: the death it causes
    /// is restarted at once and does not raise the back-off (a test's
    /// deliberate crashes are not a crash loop).
    fi_pending: bool,
}

impl Svc {
    fn new(cfg: ServiceConfig) -> Self {
        Svc {
            ep: cfg.endpoint.unwrap_or(Endpoint::NONE),
            cfg,
            state: RunState::Down,
            restarts: 0,
            backoff_level: 0,
            restart_at: 0,
            started_at: 0,
            alive_tm: 0,
            check_tm: 0,
            ping_pending: false,
            pings_sent: 0,
            init_kind: InitKind::Fresh,
            init_sent: None,
            spawned_at: 0,
            stop_started: 0,
            waiters: Vec::new(),
            after_death: AfterDeath::Crash(None),
            state_refusals: 0,
            init_failures: 0,
            ever_ran: false,
            fi_pending: false,
        }
    }
}

/// The reincarnation server.
#[derive(Debug)]
pub struct Rs {
    delta: Ticks,
    init_timeout: Ticks,
    svcs: Vec<Svc>,
    boot_queue: VecDeque<usize>,
    booting: Option<usize>,
    crashes: VecDeque<CrashRecord>,
    total_crashes: u64,
    // DS label bookkeeping: desired values not yet sent, and requests in flight.
    ds_dirty: BTreeMap<String, Option<Endpoint>>,
    ds_seq: BTreeMap<String, u64>,
    ds_inflight: BTreeMap<u64, (String, Option<Endpoint>, u64)>,
    next_id: u64,
    // Live update: program requested (before the old instance is gone), and
    // program the new instance runs (until its init answer).
    pending_update: BTreeMap<String, String>,
    pending_program: BTreeMap<String, String>,
    // `service` requests waiting for PM's GetCred answer, by its id.
    cred_checks: BTreeMap<u64, (Endpoint, ServiceRequest)>,
    log: Vec<String>,
}

impl Rs {
    /// RS with a configuration.
    pub fn new(cfg: RsConfig) -> Self {
        let svcs = cfg.services.into_iter().map(Svc::new).collect();
        Rs {
            delta: cfg.delta.max(1),
            init_timeout: cfg.init_timeout.max(1),
            svcs,
            boot_queue: VecDeque::new(),
            booting: None,
            crashes: VecDeque::new(),
            total_crashes: 0,
            ds_dirty: BTreeMap::new(),
            ds_seq: BTreeMap::new(),
            ds_inflight: BTreeMap::new(),
            next_id: 1,
            pending_update: BTreeMap::new(),
            pending_program: BTreeMap::new(),
            cred_checks: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    /// Snapshot of a service.
    pub fn service(&self, label: &str) -> Option<ServiceInfo> {
        self.find(label).map(|i| {
            let s = &self.svcs[i];
            ServiceInfo {
                config: s.cfg.clone(),
                endpoint: s.ep,
                state: s.state,
                restarts: s.restarts,
                backoff_level: s.backoff_level,
                state_refusals: s.state_refusals,
                last_alive: s.alive_tm,
                pings_sent: s.pings_sent,
            }
        })
    }

    /// Labels of all known services.
    pub fn labels(&self) -> Vec<String> {
        self.svcs.iter().map(|s| s.cfg.label.clone()).collect()
    }

    /// The most recent crash records (up to [`CRASH_LOG_LEN`]).
    pub fn crash_records(&self) -> impl Iterator<Item = &CrashRecord> {
        self.crashes.iter()
    }

    /// Crashes recorded since boot.
    pub fn total_crashes(&self) -> u64 {
        self.total_crashes
    }

    /// Whether boot has finished (every boot service got an init answer).
    pub fn booted(&self) -> bool {
        self.booting.is_none() && self.boot_queue.is_empty()
    }

    /// `service` requests waiting for PM's word on their sender.
    pub fn pending_cred_checks(&self) -> usize {
        self.cred_checks.len()
    }

    /// RS's own log lines.
    pub fn log_lines(&self) -> &[String] {
        &self.log
    }

    fn find(&self, label: &str) -> Option<usize> {
        self.svcs.iter().position(|s| s.cfg.label == label)
    }

    fn find_ep(&self, ep: Endpoint) -> Option<usize> {
        self.svcs.iter().position(|s| {
            s.ep == ep && s.state != RunState::Down && s.state != RunState::BackingOff
        })
    }

    fn status(&self, i: usize) -> ServiceStatus {
        let s = &self.svcs[i];
        ServiceStatus {
            endpoint: s.ep,
            restarts: s.restarts,
            state: s.state,
            policy: s.cfg.policy,
        }
    }

    fn note(&mut self, sys: &mut dyn Sys, text: String) {
        sys.log(&text);
        if self.log.len() < 10_000 {
            self.log.push(text);
        }
    }

    fn reply(sys: &mut dyn Sys, to: Endpoint, id: u64, result: Result<ServiceStatus, Errno>) {
        // A caller that died meanwhile needs no answer.
        let _ = sys.send(to, ServiceReply { id, result }.to_message());
    }

    /// Refuse `req` with `e`, in the reply type the verb expects.
    fn refuse(sys: &mut dyn Sys, to: Endpoint, req: &ServiceRequest, e: Errno) {
        match req {
            ServiceRequest::List { id, .. } => {
                let r = ServiceListReply {
                    id: *id,
                    result: Err(e),
                };
                if let Ok(m) = r.to_message() {
                    let _ = sys.send(to, m);
                }
            }
            _ => Rs::reply(sys, to, req.id(), Err(e)),
        }
    }

    fn answer_waiters(&mut self, sys: &mut dyn Sys, i: usize, result: Result<(), Errno>) {
        let st = self.status(i);
        for (ep, id) in core::mem::take(&mut self.svcs[i].waiters) {
            Rs::reply(sys, ep, id, result.map(|()| st));
        }
    }

    // ---- DS label publication -------------------------------------------------

    fn ds_up(&self) -> bool {
        self.svcs
            .iter()
            .any(|s| s.ep == Endpoint::DS && s.state == RunState::Running)
    }

    fn set_label(&mut self, sys: &mut dyn Sys, label: &str, ep: Option<Endpoint>) {
        self.ds_dirty.insert(label.to_string(), ep);
        self.flush_ds(sys);
    }

    fn flush_ds(&mut self, sys: &mut dyn Sys) {
        if !self.ds_up() {
            return;
        }
        while let Some((label, val)) = self.ds_dirty.pop_first() {
            let id = self.next_id;
            self.next_id += 1;
            let req = match val {
                Some(ep) => DsRequest::Publish {
                    id,
                    key: label.clone(),
                    value: PubValue::Label(ep),
                    flags: DsFlags::OVERWRITE,
                },
                None => DsRequest::Delete {
                    id,
                    key: label.clone(),
                    ty: DsType::Label,
                },
            };
            let Ok(msg) = req.to_message() else {
                continue;
            };
            match sys.request(Endpoint::DS, msg) {
                Ok(()) => {
                    let seq = self.ds_seq.entry(label.clone()).or_insert(0);
                    *seq += 1;
                    let seq = *seq;
                    self.ds_inflight.insert(id, (label, val, seq));
                }
                Err(_) => {
                    self.ds_dirty.insert(label, val);
                    return;
                }
            }
        }
    }

    fn on_ds_reply(&mut self, sys: &mut dyn Sys, reply: DsReply) {
        let Some((label, val, seq)) = self.ds_inflight.remove(&reply.id) else {
            return;
        };
        if let Err(e) = reply.result
            && !(val.is_none() && e == Errno::ESRCH)
        {
            self.note(sys, alloc::format!("rs: DS refused label {label}: {e}"));
        }
        // The label is in DS: a service waiting for it may now be initialised.
        if val.is_some()
            && self.ds_seq.get(&label) == Some(&seq)
            && !self.ds_dirty.contains_key(&label)
            && let Some(i) = self.find(&label)
            && matches!(
                self.svcs[i].state,
                RunState::Initializing | RunState::Updating
            )
            && self.svcs[i].init_sent.is_none()
            && Some(self.svcs[i].ep) == val
        {
            self.send_init(sys, i);
        }
    }

    fn on_ds_bounce(&mut self, sys: &mut dyn Sys, b: DeadPeer) {
        let Some((label, val, seq)) = self.ds_inflight.remove(&b.request_id()) else {
            return;
        };
        if self.ds_seq.get(&label) == Some(&seq) && !self.ds_dirty.contains_key(&label) {
            self.ds_dirty.insert(label, val);
        }
        self.flush_ds(sys);
    }

    // ---- starting instances -----------------------------------------------------

    fn spawn(
        &mut self,
        sys: &mut dyn Sys,
        i: usize,
        program: &str,
        at: SpawnAt,
        kind: InitKind,
    ) -> Result<(), Errno> {
        let label = self.svcs[i].cfg.label.clone();
        let privileges = self.svcs[i].cfg.privileges.clone();
        let ep = sys.spawn(&SpawnSpec {
            program,
            label: &label,
            at,
            privileges,
            keep_memory: crate::services::keeps_memory(&label),
        })?;
        let now = sys.now();
        let s = &mut self.svcs[i];
        s.ep = ep;
        s.state = RunState::Initializing;
        s.init_kind = kind;
        s.init_sent = None;
        s.spawned_at = now;
        s.after_death = AfterDeath::Crash(None);
        if ep == Endpoint::DS {
            // DS cannot wait for itself to publish its label.
            self.send_init(sys, i);
        } else {
            self.set_label(sys, &label, Some(ep));
        }
        Ok(())
    }

    fn send_init(&mut self, sys: &mut dyn Sys, i: usize) {
        let now = sys.now();
        let s = &mut self.svcs[i];
        s.init_sent = Some(now);
        let req = RsToService::Init {
            kind: s.init_kind,
            restarts: s.restarts,
            label: s.cfg.label.clone(),
        };
        if let Ok(m) = req.to_message() {
            // If it already died, its death report follows.
            let _ = sys.send(s.ep, m);
        }
    }

    fn start_fresh(&mut self, sys: &mut dyn Sys, i: usize) {
        let at = match self.svcs[i].cfg.endpoint {
            Some(ep) => SpawnAt::Exact(ep),
            None => SpawnAt::Fresh,
        };
        let program = self.svcs[i].cfg.program.clone();
        if let Err(e) = self.spawn(sys, i, &program, at, InitKind::Fresh) {
            self.note(
                sys,
                alloc::format!("rs: cannot start {}: {e}", self.svcs[i].cfg.label),
            );
            self.svcs[i].state = RunState::Down;
            self.answer_waiters(sys, i, Err(e));
            self.boot_next(sys, i);
        }
    }

    /// Restart the service now by its policy (counts as a restart).
    fn restart_now(&mut self, sys: &mut dyn Sys, i: usize) {
        self.svcs[i].restarts += 1;
        let ep = self.svcs[i].ep;
        let fixed = self.svcs[i].cfg.endpoint;
        let (at, kind) = match (self.svcs[i].cfg.policy, fixed) {
            (_, Some(f)) => (SpawnAt::Exact(f), InitKind::Restart),
            (Policy::Restart | Policy::Stateful, None) if ep.is_process() => {
                (SpawnAt::Exact(ep), InitKind::Restart)
            }
            (Policy::Reset, None) if ep.is_process() => {
                (SpawnAt::NextGeneration(ep), InitKind::Fresh)
            }
            _ => (SpawnAt::Fresh, InitKind::Fresh),
        };
        let program = self.svcs[i].cfg.program.clone();
        if let Err(e) = self.spawn(sys, i, &program, at, kind) {
            self.note(
                sys,
                alloc::format!("rs: cannot restart {}: {e}", self.svcs[i].cfg.label),
            );
            self.svcs[i].state = RunState::Down;
            self.answer_waiters(sys, i, Err(e));
        }
    }

    fn boot_next(&mut self, sys: &mut dyn Sys, finished: usize) {
        if self.booting == Some(finished) {
            self.booting = None;
            while let Some(n) = self.boot_queue.pop_front() {
                self.booting = Some(n);
                self.start_fresh(sys, n);
                if self.booting.is_some() {
                    break;
                }
            }
        }
    }

    // ---- deaths -----------------------------------------------------------------

    fn record(&mut self, sys: &mut dyn Sys, i: usize, cause: CrashCause, backoff: Option<Ticks>) {
        let s = &self.svcs[i];
        let rec = CrashRecord {
            label: s.cfg.label.clone(),
            endpoint: s.ep,
            cause,
            time: sys.now(),
            restarts: s.restarts,
            last_alive: s.alive_tm,
            backoff,
        };
        self.note(
            sys,
            alloc::format!(
                "rs: {} ({}) died: {:?}, restarts {}",
                rec.label,
                rec.endpoint,
                cause,
                rec.restarts
            ),
        );
        self.total_crashes += 1;
        if self.crashes.len() == CRASH_LOG_LEN {
            self.crashes.pop_front();
        }
        self.crashes.push_back(rec);
    }

    fn backoff_for(&mut self, i: usize, now: Ticks) -> Ticks {
        let delta = self.delta;
        let s = &mut self.svcs[i];
        if s.state == RunState::Running
            && now.saturating_sub(s.started_at) >= BACKOFF_RESET_TICKS * delta
        {
            s.backoff_level = 0;
        }
        let units = if s.backoff_level == 0 {
            0
        } else if s.cfg.no_backoff {
            1
        } else {
            (1u64 << s.backoff_level.min(30)).min(MAX_BACKOFF)
        };
        s.backoff_level = s.backoff_level.saturating_add(1);
        units * delta
    }

    fn on_death(&mut self, sys: &mut dyn Sys, d: ProcDied) {
        let Some(i) = self.find_ep(d.ep) else {
            return;
        };
        let now = sys.now();
        let after = core::mem::replace(&mut self.svcs[i].after_death, AfterDeath::Crash(None));
        let injected = core::mem::take(&mut self.svcs[i].fi_pending);
        let was = self.svcs[i].state;
        let label = self.svcs[i].cfg.label.clone();
        match after {
            AfterDeath::Down => {
                self.svcs[i].state = RunState::Down;
                self.set_label(sys, &label, None);
                self.answer_waiters(sys, i, Ok(()));
            }
            AfterDeath::Refresh => self.restart_now(sys, i),
            AfterDeath::Reset => {
                let ep = self.svcs[i].ep;
                let at = if self.svcs[i].cfg.endpoint.is_some() {
                    SpawnAt::Exact(ep)
                } else {
                    SpawnAt::NextGeneration(ep)
                };
                let program = self.svcs[i].cfg.program.clone();
                if let Err(e) = self.spawn(sys, i, &program, at, InitKind::Fresh) {
                    self.svcs[i].state = RunState::Down;
                    self.answer_waiters(sys, i, Err(e));
                }
            }
            AfterDeath::Update(program) | AfterDeath::Rollback(program) => {
                let ep = self.svcs[i].ep;
                if let Err(e) =
                    self.spawn(sys, i, &program, SpawnAt::Exact(ep), InitKind::LiveUpdate)
                {
                    self.svcs[i].state = RunState::Down;
                    self.answer_waiters(sys, i, Err(e));
                    return;
                }
                self.svcs[i].state = RunState::Updating;
                self.svcs[i].init_kind = InitKind::LiveUpdate;
                // Remember which program this instance runs, for the init answer.
                self.svcs[i].after_death = AfterDeath::Crash(None);
                self.pending_program.insert(label, program);
            }
            AfterDeath::GiveUp(cause) => {
                self.record(sys, i, cause, None);
                self.svcs[i].state = RunState::Down;
                self.answer_waiters(sys, i, Err(Errno::EGENERIC));
                self.boot_next(sys, i);
            }
            AfterDeath::Crash(why) => {
                if was == RunState::Updating {
                    // A crash aborts a live update (MINIX: ERESTART).
                    self.pending_update.remove(&label);
                    self.pending_program.remove(&label);
                    self.answer_waiters(sys, i, Err(Errno::ERESTART));
                }
                let cause = why.unwrap_or(match d.cause {
                    Cause::Panic => CrashCause::Panic,
                    Cause::Fault(s) => CrashCause::Fault(s),
                    Cause::Exit(c) => CrashCause::Exit(c),
                    Cause::Killed => CrashCause::Killed,
                });
                // A program that never completed an init is given up after
                // MAX_INIT_FAILURES tries (MINIX gives up at once); one that
                // has run before keeps being restarted with the capped
                // back-off. An unreachable state store (EAGAIN) is not the
                // service's fault and never counts.
                if matches!(was, RunState::Initializing | RunState::Updating)
                    && !self.svcs[i].ever_ran
                    && cause != CrashCause::InitFailed(Errno::EAGAIN)
                {
                    self.svcs[i].init_failures += 1;
                    if self.svcs[i].init_failures > MAX_INIT_FAILURES {
                        self.record(sys, i, cause, None);
                        self.svcs[i].state = RunState::Down;
                        self.set_label(sys, &label, None);
                        self.answer_waiters(sys, i, Err(Errno::EGENERIC));
                        self.boot_next(sys, i);
                        return;
                    }
                }
                if was == RunState::Stopping {
                    // Died on its own while being stopped: that is a stop.
                    self.svcs[i].state = RunState::Down;
                    self.set_label(sys, &label, None);
                    self.answer_waiters(sys, i, Ok(()));
                    return;
                }
                let delay = if injected {
                    0
                } else {
                    self.backoff_for(i, now)
                };
                self.record(sys, i, cause, Some(delay));
                if delay == 0 {
                    self.restart_now(sys, i);
                } else {
                    self.svcs[i].state = RunState::BackingOff;
                    self.svcs[i].restart_at = now + delay;
                }
            }
        }
    }

    // ---- init answers -----------------------------------------------------------

    fn on_init_done(
        &mut self,
        sys: &mut dyn Sys,
        i: usize,
        result: Result<(), Errno>,
        refused: bool,
    ) {
        let now = sys.now();
        if refused {
            self.svcs[i].state_refusals += 1;
        }
        let updating = self.svcs[i].state == RunState::Updating;
        match result {
            Ok(()) => {
                let s = &mut self.svcs[i];
                s.state = RunState::Running;
                s.started_at = now;
                s.alive_tm = now;
                s.check_tm = now;
                s.ping_pending = false;
                s.init_failures = 0;
                s.ever_ran = true;
                if let Some(p) = self.pending_program.remove(&s.cfg.label) {
                    s.cfg.program = p;
                }
                self.answer_waiters(sys, i, Ok(()));
                if self.svcs[i].ep == Endpoint::DS {
                    let label = self.svcs[i].cfg.label.clone();
                    self.ds_dirty.insert(label, Some(Endpoint::DS));
                    self.flush_ds(sys);
                }
                self.boot_next(sys, i);
            }
            Err(Errno::ERESTART) if !updating => {
                self.svcs[i].after_death = AfterDeath::Reset;
                let _ = sys.kill(self.svcs[i].ep);
            }
            Err(Errno::EAGAIN) if !updating => {
                // The state store was unreachable: try again after a back-off.
                self.svcs[i].after_death =
                    AfterDeath::Crash(Some(CrashCause::InitFailed(Errno::EAGAIN)));
                let _ = sys.kill(self.svcs[i].ep);
            }
            Err(e) if updating => {
                let label = self.svcs[i].cfg.label.clone();
                self.pending_program.remove(&label);
                self.answer_waiters(sys, i, Err(e));
                self.svcs[i].init_failures += 1;
                let old = self.svcs[i].cfg.program.clone();
                self.svcs[i].after_death = if self.svcs[i].init_failures > MAX_INIT_FAILURES {
                    AfterDeath::GiveUp(CrashCause::InitFailed(e))
                } else {
                    AfterDeath::Rollback(old)
                };
                let _ = sys.kill(self.svcs[i].ep);
            }
            Err(e) => {
                self.svcs[i].after_death = AfterDeath::GiveUp(CrashCause::InitFailed(e));
                let _ = sys.kill(self.svcs[i].ep);
            }
        }
    }

    // ---- heartbeats and timers --------------------------------------------------

    fn on_tick(&mut self, sys: &mut dyn Sys) {
        let now = sys.now();
        for i in 0..self.svcs.len() {
            let s = &mut self.svcs[i];
            match s.state {
                RunState::Running if s.cfg.period > 0 => {
                    if s.ping_pending && now.saturating_sub(s.alive_tm) > 2 * s.cfg.period {
                        s.after_death = AfterDeath::Crash(Some(CrashCause::NoPingReply));
                        s.ping_pending = false;
                        let _ = sys.kill(s.ep);
                    } else if now.saturating_sub(s.check_tm) >= s.cfg.period {
                        s.check_tm = now;
                        s.ping_pending = true;
                        s.pings_sent += 1;
                        let _ = sys.notify(s.ep);
                    }
                }
                RunState::Initializing | RunState::Updating => {
                    let since = s.init_sent.unwrap_or(s.spawned_at);
                    if now.saturating_sub(since) > 2 * self.init_timeout
                        && matches!(s.after_death, AfterDeath::Crash(None))
                    {
                        s.after_death = AfterDeath::Crash(Some(CrashCause::InitTimeout));
                        let _ = sys.kill(s.ep);
                    }
                }
                RunState::BackingOff if now >= s.restart_at => self.restart_now(sys, i),
                RunState::Stopping if now.saturating_sub(s.stop_started) > 2 * self.delta => {
                    let _ = sys.kill(s.ep);
                }
                _ => {}
            }
        }
        sys.set_alarm(self.delta);
    }

    // ---- who may ask ------------------------------------------------------------

    /// PM's endpoint, if RS runs one: `Ok(None)` without a PM (none in the
    /// table, or down), `Err(EAGAIN)` while it is dead and waiting for its
    /// restart.
    fn pm(&self) -> Result<Option<Endpoint>, Errno> {
        let Some(i) = self.find(PM_LABEL) else {
            return Ok(None);
        };
        let s = &self.svcs[i];
        match s.state {
            RunState::Down => Ok(None),
            RunState::BackingOff => Err(Errno::EAGAIN),
            _ if s.ep.is_process() => Ok(Some(s.ep)),
            _ => Ok(None),
        }
    }

    /// A `service` request arrived: serve it at once if it comes from one
    /// of RS's services or there is no PM to ask, else ask PM who sent it.
    fn authorise(&mut self, sys: &mut dyn Sys, src: Endpoint, req: ServiceRequest) {
        if self.find_ep(src).is_some() {
            return self.on_request(sys, src, req);
        }
        let pm = match self.pm() {
            Ok(None) => return self.on_request(sys, src, req),
            Ok(Some(pm)) => pm,
            Err(e) => return Rs::refuse(sys, src, &req, e),
        };
        if self.cred_checks.len() >= MAX_CRED_CHECKS {
            return Rs::refuse(sys, src, &req, Errno::EAGAIN);
        }
        let id = self.next_id;
        self.next_id += 1;
        let ask = PmCall::GetCred { id, ep: src.0 }.to_message();
        match sys.request(pm, ask) {
            Ok(()) => {
                self.cred_checks.insert(id, (src, req));
            }
            // Dead (being restarted): the caller may try again.
            Err(_) => Rs::refuse(sys, src, &req, Errno::EAGAIN),
        }
    }

    /// PM answered a `GetCred`: serve root and senders PM does not know.
    fn on_cred(&mut self, sys: &mut dyn Sys, r: PmReply) {
        let Some((src, req)) = self.cred_checks.remove(&r.id) else {
            return;
        };
        match r.result {
            // extra = [uid, euid, gid, egid].
            Ok(_) if r.extra[1] == 0 => self.on_request(sys, src, req),
            Ok(_) => Rs::refuse(sys, src, &req, Errno::EPERM),
            Err(Errno::ESRCH) => self.on_request(sys, src, req),
            Err(e) => Rs::refuse(sys, src, &req, e),
        }
    }

    /// PM died before it answered a `GetCred`.
    fn on_pm_bounce(&mut self, sys: &mut dyn Sys, b: DeadPeer) {
        if let Some((src, req)) = self.cred_checks.remove(&b.request_id()) {
            Rs::refuse(sys, src, &req, Errno::EAGAIN);
        }
    }

    // ---- service verbs ----------------------------------------------------------

    fn on_request(&mut self, sys: &mut dyn Sys, src: Endpoint, req: ServiceRequest) {
        let id = req.id();
        let now = sys.now();
        let r: Result<Option<usize>, Errno> = match req {
            ServiceRequest::Up {
                label,
                program,
                policy,
                period,
                flags,
                ..
            } => {
                let privileges = services::SERVICES
                    .iter()
                    .find(|s| s.program == program)
                    .map(|s| s.privileges())
                    .unwrap_or_else(Privileges::service);
                let cfg = ServiceConfig {
                    label: label.clone(),
                    program,
                    policy,
                    period: Ticks::from(period),
                    privileges,
                    endpoint: None,
                    no_backoff: flags & UP_NO_BACKOFF != 0,
                    boot: false,
                };
                match self.find(&label) {
                    Some(i) if self.svcs[i].state != RunState::Down => Err(Errno::EBUSY),
                    found => {
                        let i = match found {
                            Some(i) => {
                                self.svcs[i].cfg = cfg;
                                self.svcs[i].ep = Endpoint::NONE;
                                i
                            }
                            None => {
                                self.svcs.push(Svc::new(cfg));
                                self.svcs.len() - 1
                            }
                        };
                        self.svcs[i].waiters.push((src, id));
                        self.start_fresh(sys, i);
                        Ok(None)
                    }
                }
            }
            ServiceRequest::Down { label, .. } => match self.find(&label) {
                None => Err(Errno::ESRCH),
                Some(i) => match self.svcs[i].state {
                    RunState::Down => Ok(Some(i)),
                    RunState::BackingOff => {
                        self.svcs[i].state = RunState::Down;
                        self.set_label(sys, &label, None);
                        Ok(Some(i))
                    }
                    _ => {
                        let s = &mut self.svcs[i];
                        s.waiters.push((src, id));
                        s.after_death = AfterDeath::Down;
                        s.state = RunState::Stopping;
                        s.stop_started = now;
                        if let Ok(m) = (RsToService::Signal { sig: sig::SIGTERM }).to_message() {
                            let _ = sys.send(s.ep, m);
                        }
                        Ok(None)
                    }
                },
            },
            ServiceRequest::Restart { label, .. } => match self.find(&label) {
                None => Err(Errno::ESRCH),
                Some(i) => match self.svcs[i].state {
                    RunState::Down | RunState::BackingOff => {
                        self.svcs[i].waiters.push((src, id));
                        if self.svcs[i].state == RunState::Down && !self.svcs[i].ep.is_process() {
                            self.start_fresh(sys, i);
                        } else {
                            self.restart_now(sys, i);
                        }
                        Ok(None)
                    }
                    _ => Err(Errno::EBUSY),
                },
            },
            ServiceRequest::Refresh { label, .. } => match self.find(&label) {
                None => Err(Errno::ESRCH),
                Some(i) => match self.svcs[i].state {
                    RunState::Running => {
                        let s = &mut self.svcs[i];
                        s.waiters.push((src, id));
                        s.after_death = AfterDeath::Refresh;
                        s.state = RunState::Refreshing;
                        let _ = sys.kill(s.ep);
                        Ok(None)
                    }
                    RunState::BackingOff => {
                        self.svcs[i].waiters.push((src, id));
                        self.restart_now(sys, i);
                        Ok(None)
                    }
                    RunState::Down => Err(Errno::EINVAL),
                    _ => Err(Errno::EBUSY),
                },
            },
            ServiceRequest::Update { label, program, .. } => match self.find(&label) {
                None => Err(Errno::ESRCH),
                Some(i) if self.svcs[i].state == RunState::Running => {
                    let s = &mut self.svcs[i];
                    s.waiters.push((src, id));
                    s.state = RunState::Updating;
                    s.init_sent = Some(now);
                    self.pending_update.insert(label, program);
                    if let Ok(m) = RsToService::LuPrepare.to_message() {
                        let _ = sys.send(s.ep, m);
                    }
                    Ok(None)
                }
                Some(_) => Err(Errno::EBUSY),
            },
            ServiceRequest::Fi { label, .. } => match self.find(&label) {
                None => Err(Errno::ESRCH),
                Some(i) if self.svcs[i].state == RunState::Running => {
                    if let Ok(m) = RsToService::FiCrash.to_message() {
                        let _ = sys.send(self.svcs[i].ep, m);
                        self.svcs[i].fi_pending = true;
                    }
                    Ok(Some(i))
                }
                Some(_) => Err(Errno::EBUSY),
            },
            ServiceRequest::Status { label, .. } => self.find(&label).map(Some).ok_or(Errno::ESRCH),
            ServiceRequest::List { index, .. } => {
                let result = match usize::try_from(index).ok().and_then(|i| self.svcs.get(i)) {
                    None => Err(Errno::ESRCH),
                    Some(s) => Ok(ServiceEntry {
                        label: s.cfg.label.clone(),
                        program: s.cfg.program.clone(),
                        status: self.status(index as usize),
                    }),
                };
                match (ServiceListReply { id, result }).to_message() {
                    Ok(m) => {
                        let _ = sys.send(src, m);
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match r {
            Ok(Some(i)) => {
                let st = self.status(i);
                Rs::reply(sys, src, id, Ok(st));
            }
            Ok(None) => {}
            Err(e) => Rs::reply(sys, src, id, Err(e)),
        }
    }

    fn on_lu_ready(&mut self, sys: &mut dyn Sys, i: usize, result: Result<(), Errno>) {
        let label = self.svcs[i].cfg.label.clone();
        let Some(program) = self.pending_update.remove(&label) else {
            return;
        };
        match result {
            Ok(()) => {
                self.svcs[i].after_death = AfterDeath::Update(program);
                let _ = sys.kill(self.svcs[i].ep);
            }
            Err(e) => {
                self.svcs[i].state = RunState::Running;
                self.answer_waiters(sys, i, Err(e));
            }
        }
    }
}

impl Process for Rs {
    fn start(&mut self, sys: &mut dyn Sys) {
        self.boot_queue = (0..self.svcs.len())
            .filter(|&i| self.svcs[i].cfg.boot)
            .collect();
        if let Some(first) = self.boot_queue.pop_front() {
            self.booting = Some(first);
            self.start_fresh(sys, first);
        }
        sys.set_alarm(self.delta);
    }

    fn receive(&mut self, sys: &mut dyn Sys, msg: Message) {
        let src = msg.source();
        if src == Endpoint::SYSTEM {
            if let Ok(d) = ProcDied::try_from(&msg) {
                self.on_death(sys, d);
            } else if let Ok(b) = DeadPeer::try_from(&msg) {
                if b.dead == Endpoint::DS {
                    self.on_ds_bounce(sys, b);
                } else {
                    self.on_pm_bounce(sys, b);
                }
            }
            return;
        }
        if is_notify(&msg) {
            if src == Endpoint::CLOCK {
                self.on_tick(sys);
            } else if let Some(i) = self.find_ep(src) {
                let s = &mut self.svcs[i];
                s.alive_tm = sys.now();
                s.ping_pending = false;
            }
            return;
        }
        if let Ok(r) = ServiceToRs::try_from(&msg) {
            let Some(i) = self.find_ep(src) else {
                return;
            };
            match r {
                ServiceToRs::InitDone {
                    result,
                    state_refused,
                } => {
                    if matches!(
                        self.svcs[i].state,
                        RunState::Initializing | RunState::Updating
                    ) && self.svcs[i].init_sent.is_some()
                    {
                        self.on_init_done(sys, i, result, state_refused);
                    }
                }
                ServiceToRs::LuReady { result } => self.on_lu_ready(sys, i, result),
            }
            return;
        }
        if src == Endpoint::DS
            && let Ok(r) = DsReply::try_from(&msg)
        {
            self.on_ds_reply(sys, r);
            return;
        }
        if PmReply::is_pm_reply(&msg)
            && let Ok(Some(pm)) = self.pm()
            && src == pm
        {
            if let Ok(r) = PmReply::try_from(&msg) {
                self.on_cred(sys, r);
            }
            return;
        }
        match ServiceRequest::try_from(&msg) {
            Ok(req) => self.authorise(sys, src, req),
            Err(e) => Rs::reply(sys, src, msg.request_id(), Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use sys::proto::LABEL_LEN;

    #[test]
    fn service_table_is_well_formed() {
        let t = services::SERVICES;
        assert_eq!(t[0].label, "ds", "DS boots first");
        assert_eq!(t[0].endpoint, Some(Endpoint::DS));
        assert_ne!(
            t[0].policy,
            Policy::Reset,
            "DS must keep its well-known endpoint"
        );
        for (i, s) in t.iter().enumerate() {
            assert!(
                !s.label.is_empty() && s.label.len() <= LABEL_LEN,
                "{}",
                s.label
            );
            assert!(
                !s.program.is_empty() && s.program.len() <= LABEL_LEN,
                "{}",
                s.program
            );
            assert!(sys::proto::ds::KEY_LEN >= s.label.len());
            assert!(
                t[i + 1..].iter().all(|o| o.label != s.label),
                "duplicate label {}",
                s.label
            );
            assert!(
                !s.process_mgmt || matches!(s.label, "pm" | "vm"),
                "only RS, PM and VM manage processes"
            );
        }
        let cfg = RsConfig::system();
        assert_eq!(cfg.services.len(), t.len());
        assert_eq!(cfg.delta, HZ);
    }

    #[test]
    fn backoff_follows_minix_and_decays() {
        let mut rs = Rs::new(RsConfig::with_table(vec![ServiceConfig::from(
            &services::SERVICES[1],
        )]));
        let d = rs.delta;
        let seq: Vec<u64> = (0..8).map(|_| rs.backoff_for(0, 0) / d).collect();
        assert_eq!(seq, vec![0, 2, 4, 8, 16, 30, 30, 30]);
        // Up and running long enough: back to an immediate restart.
        rs.svcs[0].state = RunState::Running;
        rs.svcs[0].started_at = 0;
        assert_eq!(rs.backoff_for(0, BACKOFF_RESET_TICKS * d), 0);
        // Without exponential back-off: one tick after the first crash.
        rs.svcs[0].cfg.no_backoff = true;
        rs.svcs[0].state = RunState::BackingOff;
        assert_eq!(rs.backoff_for(0, 0), d);
    }
}
