//! The simulator core: process table, message pool, clock, timers, and the
//! [`Sys`] implementation a running process sees.
//!
//! Execution model. One process runs at a time. Delivering a message takes
//! the process object out of its slot and calls its `receive`; while it runs
//! it is "on the stack". A blocking call (`sendrec`, `receive`) runs a nested
//! scheduling loop that keeps delivering messages to processes *not* on the
//! stack until the awaited message arrives, so blocking is emulated without
//! threads. Every process on the stack is an ancestor of the running one, so
//! a `sendrec` to a process on the stack is a deadlock and fails `ELOCKED`.
//!
//! Crashes happen at message boundaries: an injected crash strikes a process
//! just as a message is delivered to it (the message counts as received, so a
//! request in it is bounced). A kill of a process that is on the stack takes
//! effect when its handler returns (what it sends until then goes out, so a
//! handler is never cut in half); a process that panics or exits sends
//! nothing more from that point.

use crate::rng::Rng;
use crate::trace::{Event, Tracer};
use std::collections::{BTreeMap, VecDeque};
use sys::proto::kernel::{Cause, DeadPeer, ProcDied, notify_message, sig};
use sys::{
    Endpoint, Errno, GrantAccess, GrantId, IpcTargets, Message, Privileges, Process, SpawnAt,
    SpawnSpec, Sys, Ticks,
};

/// Builds a fresh instance of a program.
pub type Factory = Box<dyn Fn() -> Box<dyn Process>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Plain,
    Notify,
    Request,
    SyncRequest,
}

pub(crate) struct Envelope {
    src: Endpoint,
    dst: Endpoint,
    msg: Message,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Reply(Endpoint),
    Receive(Endpoint),
}

struct Grant {
    grantee: Endpoint,
    access: GrantAccess,
    kind: GrantKind,
}

enum GrantKind {
    /// The granter's own bytes.
    Direct(Vec<u8>),
    /// Part of a grant the granter received: `len` bytes of `from`'s grant
    /// `gid`, starting at `offset`.
    Indirect {
        from: Endpoint,
        gid: u32,
        offset: usize,
        len: usize,
    },
}

/// Most indirect grants followed to reach the bytes (as a kernel bounds it).
const MAX_GRANT_CHAIN: usize = 8;

pub(crate) struct Slot {
    pub(crate) ep: Endpoint,
    pub(crate) alive: bool,
    pub(crate) label: String,
    label_id: usize,
    pub(crate) proc: Option<Box<dyn Process>>,
    running: bool,
    hung: bool,
    doomed: Option<Cause>,
    /// It panicked or exited: it runs no further, so nothing it still
    /// tries to send in the current handler goes out.
    halted: bool,
    waiting: Option<Wait>,
    reply: Option<Result<Message, Errno>>,
    owed: VecDeque<(Endpoint, Kind, Message)>,
    grants: BTreeMap<u32, Grant>,
    next_grant: u32,
    preserved: Option<Vec<u8>>,
    privileges: Privileges,
    /// Not supervised by RS: deaths are not reported.
    user: bool,
}

impl Slot {
    fn empty() -> Self {
        Slot {
            ep: Endpoint::NONE,
            alive: false,
            label: String::new(),
            label_id: 0,
            proc: None,
            running: false,
            hung: false,
            doomed: None,
            halted: false,
            waiting: None,
            reply: None,
            owed: VecDeque::new(),
            grants: BTreeMap::new(),
            next_grant: 1,
            preserved: None,
            privileges: Privileges::service(),
            user: true,
        }
    }
}

/// Counters of what happened in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages delivered to a process (including swallowed by a hung one).
    pub deliveries: u64,
    /// Crashes injected by the fault injector.
    pub crashes_injected: u64,
    /// Hangs injected.
    pub hangs_injected: u64,
    /// Process deaths of any cause.
    pub deaths: u64,
    /// Dead-peer bounces and failed blocking calls caused by deaths.
    pub bounces: u64,
    /// Processes created.
    pub spawns: u64,
}

/// Fault plans, by interned label id (labels are interned so the per-delivery
/// checks compare integers, not strings).
#[derive(Debug, Clone, Default)]
pub(crate) struct Faults {
    pub(crate) label_ids: BTreeMap<String, usize>,
    /// label id -> absolute delivery counts at which to crash / hang.
    pub(crate) crash_at: BTreeMap<usize, Vec<u64>>,
    pub(crate) hang_at: BTreeMap<usize, Vec<u64>>,
    /// label id -> random faults apply.
    pub(crate) random_targets: Vec<bool>,
    pub(crate) random_per_million: u32,
    pub(crate) random_hang_per_million: u32,
    /// label id -> messages delivered to processes with that label.
    pub(crate) delivered: Vec<u64>,
}

impl Faults {
    /// The id of `label`, allocating one if new.
    pub(crate) fn intern(&mut self, label: &str) -> usize {
        if let Some(&id) = self.label_ids.get(label) {
            return id;
        }
        let id = self.delivered.len();
        self.label_ids.insert(label.to_string(), id);
        self.delivered.push(0);
        self.random_targets.push(false);
        id
    }
}

/// Tunables of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// PRNG seed: the whole run is a function of it.
    pub seed: u64,
    /// On average one tick passes per this many deliveries.
    pub deliveries_per_tick: u32,
    /// Keep the full event list (the hash is always kept).
    pub keep_trace: bool,
    /// A blocking call waiting longer than this (simulated ticks) fails
    /// `ETIMEDOUT` (guards tests against a peer that never answers).
    pub block_timeout: Ticks,
}

impl SimConfig {
    /// Defaults with `seed`.
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            deliveries_per_tick: 8,
            keep_trace: true,
            block_timeout: 3600 * sys::HZ,
        }
    }
}

pub(crate) struct Core {
    pub(crate) cfg: SimConfig,
    pub(crate) rng: Rng,
    pub(crate) now: Ticks,
    pub(crate) slots: Vec<Slot>,
    pending: Vec<Envelope>,
    timers: BTreeMap<(Ticks, u64), u16>,
    alarms: BTreeMap<u16, (Ticks, u64)>,
    timer_seq: u64,
    pub(crate) programs: BTreeMap<String, Factory>,
    pub(crate) faults: Faults,
    pub(crate) tracer: Tracer,
    pub(crate) stats: Stats,
    pub(crate) fatal: Option<String>,
    scratch: Vec<usize>,
    /// Signals raised with `Sys::sig_send`: (sender, target, signal).
    pub(crate) signals: Vec<(Endpoint, Endpoint, u32)>,
}

fn dead(new: Option<Endpoint>) -> Errno {
    Errno::EDEADSRCDST(new)
}

impl Core {
    pub(crate) fn new(cfg: SimConfig) -> Self {
        let mut slots = Vec::new();
        for _ in 0..Endpoint::FIRST_DYNAMIC_SLOT {
            slots.push(Slot::empty());
        }
        Core {
            rng: Rng::new(cfg.seed),
            tracer: Tracer::new(cfg.keep_trace),
            cfg,
            now: 0,
            slots,
            pending: Vec::new(),
            timers: BTreeMap::new(),
            alarms: BTreeMap::new(),
            timer_seq: 0,
            programs: BTreeMap::new(),
            faults: Faults::default(),
            stats: Stats::default(),
            fatal: None,
            scratch: Vec::new(),
            signals: Vec::new(),
        }
    }

    fn event(&mut self, e: Event) {
        self.tracer.push(e);
    }

    /// The slot index of a live endpoint, or the dead-peer error.
    fn resolve(&self, ep: Endpoint) -> Result<usize, Errno> {
        let s = ep.slot() as usize;
        match self.slots.get(s) {
            Some(slot) if slot.alive && slot.ep == ep => Ok(s),
            Some(slot) if slot.alive => Err(dead(Some(slot.ep))),
            _ => Err(dead(None)),
        }
    }

    pub(crate) fn slot_of_label(&self, label: &str) -> Option<usize> {
        self.slots.iter().position(|s| s.alive && s.label == label)
    }

    // ---- process creation and death --------------------------------------------

    pub(crate) fn create(
        &mut self,
        at: SpawnAt,
        label: &str,
        proc: Box<dyn Process>,
        privileges: Privileges,
        user: bool,
    ) -> Result<Endpoint, Errno> {
        let ep = match at {
            SpawnAt::Exact(ep) | SpawnAt::NextGeneration(ep) => {
                if !ep.is_process() {
                    return Err(Errno::EINVAL);
                }
                let s = ep.slot() as usize;
                while self.slots.len() <= s {
                    self.slots.push(Slot::empty());
                }
                if self.slots[s].alive {
                    return Err(Errno::EBUSY);
                }
                match at {
                    SpawnAt::Exact(_) => ep,
                    _ => ep.next_generation(),
                }
            }
            SpawnAt::Fresh => {
                let s = self.slots.len();
                if s > Endpoint::MAX_SLOT as usize {
                    return Err(Errno::ENOMEM);
                }
                self.slots.push(Slot::empty());
                Endpoint::new(s as u16, 0)
            }
        };
        let s = ep.slot() as usize;
        let preserved = self.slots[s].preserved.take();
        let mut slot = Slot::empty();
        slot.ep = ep;
        slot.alive = true;
        slot.label = label.to_string();
        slot.label_id = self.faults.intern(label);
        slot.privileges = privileges;
        slot.user = user;
        slot.preserved = preserved;
        slot.proc = Some(proc);
        self.slots[s] = slot;
        self.stats.spawns += 1;
        self.event(Event::Spawn {
            t: self.now,
            label: label.to_string(),
            ep,
        });
        self.run_process(s, |p, sys| p.start(sys));
        Ok(ep)
    }

    /// Kill the process in slot `s` (deferred if it is on the stack).
    pub(crate) fn kill_slot(&mut self, s: usize, cause: Cause) {
        if !self.slots[s].alive {
            return;
        }
        if self.slots[s].running {
            if self.slots[s].doomed.is_none() {
                self.slots[s].doomed = Some(cause);
            }
            return;
        }
        let ep = self.slots[s].ep;
        let label = self.slots[s].label.clone();
        let user = self.slots[s].user;
        {
            let slot = &mut self.slots[s];
            slot.alive = false;
            slot.proc = None;
            slot.hung = false;
            slot.doomed = None;
            slot.waiting = None;
            slot.reply = None;
            slot.grants.clear();
        }
        if let Some(k) = self.alarms.remove(&(s as u16)) {
            self.timers.remove(&k);
        }
        self.stats.deaths += 1;
        self.event(Event::Died {
            t: self.now,
            label: label.clone(),
            ep,
            cause,
        });
        // Requests it will never answer: queued ones and received ones.
        let mut failed: Vec<(Endpoint, Kind, Message)> = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].dst == ep {
                let e = self.pending.remove(i);
                failed.push((e.src, e.kind, e.msg));
            } else {
                i += 1;
            }
        }
        failed.extend(self.slots[s].owed.drain(..));
        for (src, kind, msg) in failed {
            self.fail_request(ep, src, kind, &msg);
        }
        // Blocked receivers waiting for a message from it.
        for w in 0..self.slots.len() {
            let slot = &mut self.slots[w];
            if slot.alive && slot.reply.is_none() && slot.waiting == Some(Wait::Receive(ep)) {
                slot.reply = Some(Err(dead(None)));
                self.stats.bounces += 1;
            }
        }
        if ep == Endpoint::RS {
            self.fatal = Some(format!("RS died ({cause:?}): system failure"));
            return;
        }
        if !user {
            let mut m = ProcDied { ep, cause }.to_message();
            m.set_source(Endpoint::SYSTEM);
            if self.resolve(Endpoint::RS).is_ok() {
                self.enqueue(Endpoint::SYSTEM, Endpoint::RS, m, Kind::Plain);
            }
        }
    }

    fn fail_request(&mut self, dead_ep: Endpoint, src: Endpoint, kind: Kind, msg: &Message) {
        match kind {
            Kind::Request => {
                if self.resolve(src).is_ok() {
                    let mut b = DeadPeer::for_request(dead_ep, None, msg).to_message();
                    b.set_source(Endpoint::SYSTEM);
                    self.stats.bounces += 1;
                    self.enqueue(Endpoint::SYSTEM, src, b, Kind::Plain);
                }
            }
            Kind::SyncRequest => {
                if let Ok(w) = self.resolve(src) {
                    let slot = &mut self.slots[w];
                    if slot.waiting == Some(Wait::Reply(dead_ep)) && slot.reply.is_none() {
                        slot.reply = Some(Err(dead(None)));
                        self.stats.bounces += 1;
                    }
                }
            }
            Kind::Plain | Kind::Notify => {}
        }
    }

    // ---- message pool -------------------------------------------------------------

    /// Queue a message, or hand it straight to a matching blocked receiver.
    fn enqueue(&mut self, src: Endpoint, dst: Endpoint, mut msg: Message, kind: Kind) {
        msg.set_source(src);
        let d = dst.slot() as usize;
        if let Some(slot) = self.slots.get_mut(d)
            && slot.alive
            && slot.ep == dst
            && slot.reply.is_none()
        {
            let take = match slot.waiting {
                Some(Wait::Reply(from)) => from == src && kind != Kind::Notify,
                Some(Wait::Receive(from)) => from == src || from == Endpoint::ANY,
                None => false,
            };
            if take {
                if matches!(kind, Kind::Request | Kind::SyncRequest) {
                    slot.owed.push_back((src, kind, msg));
                }
                slot.reply = Some(Ok(msg));
                return;
            }
        }
        if kind == Kind::Notify
            && self
                .pending
                .iter()
                .any(|e| e.kind == Kind::Notify && e.src == src && e.dst == dst)
        {
            return;
        }
        self.pending.push(Envelope {
            src,
            dst,
            msg,
            kind,
        });
    }

    fn deliverable(&self, dst: Endpoint) -> bool {
        let d = dst.slot() as usize;
        self.slots
            .get(d)
            .map(|s| s.alive && !s.running && s.ep == dst)
            .unwrap_or(false)
    }

    /// Pick the next message to deliver: a random deliverable message, then
    /// the oldest one of the same sender->receiver pair (pairs stay FIFO).
    fn pick(&mut self) -> Option<usize> {
        let mut cands = std::mem::take(&mut self.scratch);
        cands.clear();
        for (i, e) in self.pending.iter().enumerate() {
            if self.deliverable(e.dst) {
                cands.push(i);
            }
        }
        let r = if cands.is_empty() {
            None
        } else {
            let c = cands[self.rng.below(cands.len() as u64) as usize];
            let (src, dst) = (self.pending[c].src, self.pending[c].dst);
            self.pending
                .iter()
                .position(|e| e.src == src && e.dst == dst)
        };
        self.scratch = cands;
        r
    }

    fn fire_due_timers(&mut self) {
        while let Some((&(t, seq), &s)) = self.timers.iter().next() {
            if t > self.now {
                break;
            }
            self.timers.remove(&(t, seq));
            self.alarms.remove(&s);
            let dst = self.slots[s as usize].ep;
            if self.slots[s as usize].alive {
                self.enqueue(Endpoint::CLOCK, dst, notify_message(self.now), Kind::Notify);
            }
        }
    }

    /// One scheduling step: deliver a message, or advance the clock to the
    /// next timer. `false` when nothing can ever happen again.
    pub(crate) fn step(&mut self) -> bool {
        if self.fatal.is_some() {
            return false;
        }
        self.fire_due_timers();
        if let Some(i) = self.pick() {
            let e = self.pending.remove(i);
            self.deliver(e);
            if self
                .rng
                .below(u64::from(self.cfg.deliveries_per_tick.max(1)))
                == 0
            {
                self.now += 1;
            }
            return true;
        }
        match self.timers.keys().next() {
            Some(&(t, _)) => {
                self.now = self.now.max(t);
                self.fire_due_timers();
                true
            }
            None => false,
        }
    }

    fn injected_cause(&mut self) -> Cause {
        match self.rng.below(3) {
            0 => Cause::Panic,
            1 => Cause::Fault(sig::SIGSEGV),
            _ => Cause::Fault(sig::SIGILL),
        }
    }

    fn deliver(&mut self, e: Envelope) {
        let s = e.dst.slot() as usize;
        self.stats.deliveries += 1;
        let lid = self.slots[s].label_id;
        self.faults.delivered[lid] += 1;
        let n = self.faults.delivered[lid];
        if matches!(e.kind, Kind::Request | Kind::SyncRequest) {
            self.slots[s].owed.push_back((e.src, e.kind, e.msg));
        }
        if self.slots[s].hung {
            self.event(Event::Deliver {
                t: self.now,
                src: e.src,
                dst: e.dst,
                mtype: e.msg.mtype(),
                swallowed: true,
            });
            return;
        }
        // Fault injection at this message boundary.
        let mut crash = false;
        let mut hang = false;
        if !self.faults.crash_at.is_empty()
            && let Some(v) = self.faults.crash_at.get_mut(&lid)
            && let Some(p) = v.iter().position(|&x| x == n)
        {
            v.swap_remove(p);
            crash = true;
        }
        if !self.faults.hang_at.is_empty()
            && let Some(v) = self.faults.hang_at.get_mut(&lid)
            && let Some(p) = v.iter().position(|&x| x == n)
        {
            v.swap_remove(p);
            hang = true;
        }
        if !crash
            && !hang
            && e.dst != Endpoint::RS
            && (self.faults.random_per_million > 0 || self.faults.random_hang_per_million > 0)
            && self.faults.random_targets[lid]
        {
            let r = self.rng.below(1_000_000) as u32;
            if r < self.faults.random_per_million {
                crash = true;
            } else if r < self.faults.random_per_million + self.faults.random_hang_per_million {
                hang = true;
            }
        }
        if crash && e.dst != Endpoint::RS {
            self.stats.crashes_injected += 1;
            let cause = self.injected_cause();
            self.kill_slot(s, cause);
            return;
        }
        if hang && e.dst != Endpoint::RS {
            self.stats.hangs_injected += 1;
            self.slots[s].hung = true;
            let label = self.slots[s].label.clone();
            self.event(Event::Hang {
                t: self.now,
                label,
                ep: e.dst,
            });
            return;
        }
        self.event(Event::Deliver {
            t: self.now,
            src: e.src,
            dst: e.dst,
            mtype: e.msg.mtype(),
            swallowed: false,
        });
        let msg = e.msg;
        self.run_process(s, |p, sys| p.receive(sys, msg));
    }

    /// Run `f` on the process in slot `s` with a [`Sys`] for it.
    fn run_process(&mut self, s: usize, f: impl FnOnce(&mut dyn Process, &mut dyn Sys)) {
        let Some(mut p) = self.slots[s].proc.take() else {
            return;
        };
        self.slots[s].running = true;
        {
            let mut cx = Ctx { core: self, me: s };
            f(p.as_mut(), &mut cx);
        }
        self.slots[s].running = false;
        if self.slots[s].alive {
            self.slots[s].proc = Some(p);
            if let Some(cause) = self.slots[s].doomed.take() {
                self.kill_slot(s, cause);
            }
        }
    }

    // ---- blocking -------------------------------------------------------------------

    fn block(&mut self, me: usize, wait: Wait) -> Result<Message, Errno> {
        self.slots[me].waiting = Some(wait);
        let deadline = self.now.saturating_add(self.cfg.block_timeout);
        let r = loop {
            if let Some(r) = self.slots[me].reply.take() {
                break r;
            }
            if self.now > deadline {
                break Err(Errno::ETIMEDOUT);
            }
            if !self.step() {
                break Err(Errno::ELOCKED);
            }
        };
        self.slots[me].waiting = None;
        self.slots[me].reply = None;
        r
    }

    fn may_send(&self, me: usize, dst: usize) -> bool {
        let from = &self.slots[me];
        match &from.privileges.ipc {
            IpcTargets::Any => true,
            IpcTargets::Labels(l) => {
                let to = &self.slots[dst];
                [
                    Endpoint::RS,
                    Endpoint::DS,
                    Endpoint::SYSTEM,
                    Endpoint::CLOCK,
                ]
                .contains(&to.ep)
                    || l.contains(&to.label)
                    || from.owed.iter().any(|(src, _, _)| *src == to.ep)
            }
        }
    }

    /// Create a grant owned by the process in slot `me`.
    pub(crate) fn grant_as(
        &mut self,
        me: usize,
        grantee: Endpoint,
        access: GrantAccess,
        buf: Vec<u8>,
    ) -> Result<GrantId, Errno> {
        self.insert_grant(
            me,
            Grant {
                grantee,
                access,
                kind: GrantKind::Direct(buf),
            },
        )
    }

    /// Give `grant` the next id of slot `me` (at most 1024 grants a slot).
    fn insert_grant(&mut self, me: usize, grant: Grant) -> Result<GrantId, Errno> {
        let slot = &mut self.slots[me];
        if slot.grants.len() >= 1024 {
            return Err(Errno::ENOMEM);
        }
        let id = slot.next_grant;
        slot.next_grant = slot.next_grant.wrapping_add(1).max(1);
        slot.grants.insert(id, grant);
        Ok(GrantId(id))
    }

    /// Create an indirect grant owned by slot `me` over `from`'s grant
    /// `gid`, which must be `me`'s with at least `access` and cover
    /// `offset .. offset + len`.
    pub(crate) fn grant_indirect_as(
        &mut self,
        me: usize,
        grantee: Endpoint,
        access: GrantAccess,
        (from, gid): (Endpoint, GrantId),
        (offset, len): (usize, usize),
    ) -> Result<GrantId, Errno> {
        let my_ep = self.slots[me].ep;
        let g = self.resolve(from)?;
        let under = self.slots[g].grants.get(&gid.0).ok_or(Errno::EPERM)?;
        if under.grantee != my_ep && under.grantee != Endpoint::ANY {
            return Err(Errno::EPERM);
        }
        if (access.read && !under.access.read) || (access.write && !under.access.write) {
            return Err(Errno::EPERM);
        }
        let end = offset.checked_add(len).ok_or(Errno::EINVAL)?;
        let under_len = match &under.kind {
            GrantKind::Direct(b) => b.len(),
            GrantKind::Indirect { len, .. } => *len,
        };
        if end > under_len {
            return Err(Errno::EINVAL);
        }
        self.insert_grant(
            me,
            Grant {
                grantee,
                access,
                kind: GrantKind::Indirect {
                    from,
                    gid: gid.0,
                    offset,
                    len,
                },
            },
        )
    }

    /// Follows grant `gid` of `granter`, used by `user` for `len` bytes at
    /// `offset` with access `write`, to the slot, grant id and offset of
    /// the bytes themselves, checking every grant on the way.
    fn grant_target(
        &self,
        mut granter: Endpoint,
        mut gid: u32,
        mut offset: usize,
        len: usize,
        mut user: Endpoint,
        write: bool,
    ) -> Result<(usize, u32, usize), Errno> {
        for _ in 0..MAX_GRANT_CHAIN {
            let g = self.resolve(granter)?;
            let grant = self.slots[g].grants.get(&gid).ok_or(Errno::EPERM)?;
            let allowed = if write {
                grant.access.write
            } else {
                grant.access.read
            };
            if !allowed || (grant.grantee != user && grant.grantee != Endpoint::ANY) {
                return Err(Errno::EPERM);
            }
            let end = offset.checked_add(len).ok_or(Errno::EINVAL)?;
            match &grant.kind {
                GrantKind::Direct(b) => {
                    if end > b.len() {
                        return Err(Errno::EINVAL);
                    }
                    return Ok((g, gid, offset));
                }
                GrantKind::Indirect {
                    from,
                    gid: under,
                    offset: off,
                    len: glen,
                } => {
                    if end > *glen {
                        return Err(Errno::EINVAL);
                    }
                    user = self.slots[g].ep;
                    offset = offset.checked_add(*off).ok_or(Errno::EINVAL)?;
                    granter = *from;
                    gid = *under;
                }
            }
        }
        Err(Errno::ELOOP)
    }

    /// Revoke a grant of the process in slot `me`.
    pub(crate) fn revoke_as(&mut self, me: usize, gid: GrantId) -> Result<Vec<u8>, Errno> {
        self.slots[me]
            .grants
            .remove(&gid.0)
            .map(|g| match g.kind {
                GrantKind::Direct(b) => b,
                GrantKind::Indirect { .. } => Vec::new(),
            })
            .ok_or(Errno::EINVAL)
    }

    /// Send as the process in slot `me` (used by the harness too).
    pub(crate) fn post_as(
        &mut self,
        me: usize,
        dest: Endpoint,
        msg: Message,
        kind: Kind,
    ) -> Result<(), Errno> {
        self.post(me, dest, msg, kind)
    }

    pub(crate) fn set_hung(&mut self, s: usize) {
        self.slots[s].hung = true;
        let (label, ep) = (self.slots[s].label.clone(), self.slots[s].ep);
        self.event(Event::Hang {
            t: self.now,
            label,
            ep,
        });
    }

    fn post(&mut self, me: usize, dest: Endpoint, msg: Message, kind: Kind) -> Result<(), Errno> {
        if self.slots[me].halted {
            return Ok(());
        }
        let d = self.resolve(dest)?;
        if !self.may_send(me, d) {
            return Err(Errno::EPERM);
        }
        let src = self.slots[me].ep;
        if kind != Kind::Notify {
            // Any non-notify message to a requester answers its oldest request.
            if let Some(p) = self.slots[me].owed.iter().position(|(r, _, _)| *r == dest) {
                self.slots[me].owed.remove(p);
            }
        }
        self.enqueue(src, dest, msg, kind);
        Ok(())
    }
}

/// The [`Sys`] a running simulated process sees.
pub(crate) struct Ctx<'a> {
    core: &'a mut Core,
    me: usize,
}

impl Sys for Ctx<'_> {
    fn self_endpoint(&self) -> Endpoint {
        self.core.slots[self.me].ep
    }

    fn now(&self) -> Ticks {
        self.core.now
    }

    fn send(&mut self, dest: Endpoint, msg: Message) -> Result<(), Errno> {
        self.core.post(self.me, dest, msg, Kind::Plain)
    }

    fn request(&mut self, dest: Endpoint, msg: Message) -> Result<(), Errno> {
        self.core.post(self.me, dest, msg, Kind::Request)
    }

    fn sendrec(&mut self, dest: Endpoint, msg: Message) -> Result<Message, Errno> {
        let d = self.core.resolve(dest)?;
        if self.core.slots[d].running {
            return Err(Errno::ELOCKED);
        }
        self.core.post(self.me, dest, msg, Kind::SyncRequest)?;
        self.core.block(self.me, Wait::Reply(dest))
    }

    fn receive(&mut self, from: Endpoint) -> Result<Message, Errno> {
        let me_ep = self.core.slots[self.me].ep;
        if from != Endpoint::ANY {
            self.core.resolve(from)?;
        }
        if let Some(i) = self
            .core
            .pending
            .iter()
            .position(|e| e.dst == me_ep && (from == Endpoint::ANY || e.src == from))
        {
            let e = self.core.pending.remove(i);
            if matches!(e.kind, Kind::Request | Kind::SyncRequest) {
                self.core.slots[self.me]
                    .owed
                    .push_back((e.src, e.kind, e.msg));
            }
            return Ok(e.msg);
        }
        self.core.block(self.me, Wait::Receive(from))
    }

    fn notify(&mut self, dest: Endpoint) -> Result<(), Errno> {
        let m = notify_message(self.core.now);
        self.core.post(self.me, dest, m, Kind::Notify)
    }

    fn set_alarm(&mut self, ticks: Ticks) {
        let s = self.me as u16;
        if let Some(k) = self.core.alarms.remove(&s) {
            self.core.timers.remove(&k);
        }
        if ticks > 0 {
            self.core.timer_seq += 1;
            let k = (self.core.now + ticks, self.core.timer_seq);
            self.core.timers.insert(k, s);
            self.core.alarms.insert(s, k);
        }
    }

    fn grant_create(
        &mut self,
        grantee: Endpoint,
        access: GrantAccess,
        buf: Vec<u8>,
    ) -> Result<GrantId, Errno> {
        self.core.grant_as(self.me, grantee, access, buf)
    }

    fn grant_revoke(&mut self, gid: GrantId) -> Result<Vec<u8>, Errno> {
        self.core.revoke_as(self.me, gid)
    }

    fn grant_indirect(
        &mut self,
        grantee: Endpoint,
        access: GrantAccess,
        from: Endpoint,
        gid: GrantId,
        offset: usize,
        len: usize,
    ) -> Result<GrantId, Errno> {
        self.core
            .grant_indirect_as(self.me, grantee, access, (from, gid), (offset, len))
    }

    fn safecopy_from(
        &mut self,
        granter: Endpoint,
        gid: GrantId,
        offset: usize,
        dst: &mut [u8],
    ) -> Result<(), Errno> {
        let me = self.core.slots[self.me].ep;
        let (g, id, off) = self
            .core
            .grant_target(granter, gid.0, offset, dst.len(), me, false)?;
        let Some(Grant {
            kind: GrantKind::Direct(buf),
            ..
        }) = self.core.slots[g].grants.get(&id)
        else {
            return Err(Errno::EPERM);
        };
        let src = buf.get(off..off + dst.len()).ok_or(Errno::EINVAL)?;
        dst.copy_from_slice(src);
        Ok(())
    }

    fn safecopy_to(
        &mut self,
        granter: Endpoint,
        gid: GrantId,
        offset: usize,
        src: &[u8],
    ) -> Result<(), Errno> {
        let me = self.core.slots[self.me].ep;
        let (g, id, off) = self
            .core
            .grant_target(granter, gid.0, offset, src.len(), me, true)?;
        let Some(Grant {
            kind: GrantKind::Direct(buf),
            ..
        }) = self.core.slots[g].grants.get_mut(&id)
        else {
            return Err(Errno::EPERM);
        };
        buf.get_mut(off..off + src.len())
            .ok_or(Errno::EINVAL)?
            .copy_from_slice(src);
        Ok(())
    }

    fn exit(&mut self, code: i32) {
        let slot = &mut self.core.slots[self.me];
        slot.halted = true;
        if slot.doomed.is_none() {
            slot.doomed = Some(Cause::Exit(code));
        }
    }

    fn panic(&mut self, why: &str) {
        let ep = self.core.slots[self.me].ep;
        let t = self.core.now;
        self.core.event(Event::Log {
            t,
            ep,
            text: format!("panic: {why}"),
        });
        let slot = &mut self.core.slots[self.me];
        slot.halted = true;
        if slot.doomed.is_none() {
            slot.doomed = Some(Cause::Panic);
        }
    }

    fn preserve(&mut self, blob: Vec<u8>) {
        self.core.slots[self.me].preserved = Some(blob);
    }

    fn preserved(&mut self) -> Option<Vec<u8>> {
        self.core.slots[self.me].preserved.clone()
    }

    fn spawn(&mut self, spec: &SpawnSpec<'_>) -> Result<Endpoint, Errno> {
        if !self.core.slots[self.me].privileges.process_mgmt {
            return Err(Errno::EPERM);
        }
        let proc = match self.core.programs.get(spec.program) {
            Some(f) => f(),
            None => return Err(Errno::ENOENT),
        };
        self.core
            .create(spec.at, spec.label, proc, spec.privileges.clone(), false)
    }

    fn kill(&mut self, ep: Endpoint) -> Result<(), Errno> {
        if !self.core.slots[self.me].privileges.process_mgmt {
            return Err(Errno::EPERM);
        }
        let s = self.core.resolve(ep)?;
        self.core.kill_slot(s, Cause::Killed);
        Ok(())
    }

    fn sig_send(&mut self, ep: Endpoint, sig: u32) -> Result<(), Errno> {
        if !(1..64).contains(&sig) {
            return Err(Errno::EINVAL);
        }
        self.core.resolve(ep)?;
        let from = self.core.slots[self.me].ep;
        let t = self.core.now;
        self.core.signals.push((from, ep, sig));
        self.core.event(Event::Log {
            t,
            ep: from,
            text: format!("signal {sig} -> {ep}"),
        });
        Ok(())
    }

    fn log(&mut self, text: &str) {
        let ep = self.core.slots[self.me].ep;
        let t = self.core.now;
        self.core.event(Event::Log {
            t,
            ep,
            text: text.to_string(),
        });
    }
}
