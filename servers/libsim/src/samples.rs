//! Sample services and clients that exercise the framework: an echo service
//! (stateless), a counter (stateful through SEF), a DS watcher, and a load
//! generator for soak tests.

use std::collections::BTreeMap;
use sys::ds::{self, Change};
use sys::proto::ds::DsFlags;
use sys::proto::kernel::{DeadPeer, is_notify};
use sys::proto::rs::InitKind;
use sys::proto::sample::{ECHO_LEN, SampleReply, SampleRequest};
use sys::{Ctx, Endpoint, Errno, InitInfo, Message, Process, Service, Sys, Ticks};

/// Echo service. With `reset_on_restart` its Restart init answers
/// `ERESTART`, asking RS for a fresh instance (MINIX's default restart
/// callback).
#[derive(Debug, Default)]
pub struct Echo {
    /// Requests answered by this instance.
    pub handled: u64,
    /// Answer `ERESTART` to a Restart init.
    pub reset_on_restart: bool,
    /// Init kind this instance got.
    pub kind: Option<InitKind>,
}

impl Service for Echo {
    fn init(&mut self, _cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno> {
        self.kind = Some(info.kind);
        if self.reset_on_restart && info.kind == InitKind::Restart {
            return Err(Errno::ERESTART);
        }
        Ok(())
    }

    fn handle(&mut self, _cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        match SampleRequest::try_from(&msg) {
            Ok(SampleRequest::Echo { id, data }) => {
                self.handled += 1;
                Some(SampleReply::Echo { id, data }.to_message())
            }
            Ok(SampleRequest::Add { id, .. } | SampleRequest::Get { id }) => Some(
                SampleReply::Value {
                    id,
                    result: Err(Errno::ENOSYS),
                }
                .to_message(),
            ),
            Err(_) => None,
        }
    }
}

/// Stateful counter: its value is saved through SEF after every change and
/// restored on restart; an addition whose save failed is not applied and
/// answers `EAGAIN`.
#[derive(Debug, Default)]
pub struct Counter {
    /// Current value.
    pub value: u64,
    /// What init found.
    pub restored: Option<u64>,
    /// Init info of this instance.
    pub info: Option<InitInfo>,
}

impl Service for Counter {
    fn init(&mut self, _cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno> {
        self.value = 0;
        if let Some(st) = &info.state {
            let b: [u8; 8] = st.as_slice().try_into().map_err(|_| Errno::EINVAL)?;
            self.value = u64::from_le_bytes(b);
            self.restored = Some(self.value);
        }
        self.info = Some(InitInfo {
            state: None,
            ..info
        });
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        match SampleRequest::try_from(&msg) {
            Ok(SampleRequest::Add { id, delta }) => {
                let new = self.value.wrapping_add(u64::from(delta));
                let result = match cx.save_state(&new.to_le_bytes()) {
                    Ok(()) => {
                        self.value = new;
                        Ok(new)
                    }
                    Err(_) => Err(Errno::EAGAIN),
                };
                Some(SampleReply::Value { id, result }.to_message())
            }
            Ok(SampleRequest::Get { id }) => Some(
                SampleReply::Value {
                    id,
                    result: Ok(self.value),
                }
                .to_message(),
            ),
            Ok(SampleRequest::Echo { id, .. }) => Some(
                SampleReply::Value {
                    id,
                    result: Err(Errno::ENOSYS),
                }
                .to_message(),
            ),
            Err(_) => None,
        }
    }

    fn prepare_update(&mut self, _cx: &mut Ctx<'_>) -> Result<Option<Vec<u8>>, Errno> {
        Ok(Some(self.value.to_le_bytes().to_vec()))
    }
}

/// Subscribes to a DS pattern at init and records every change reported.
#[derive(Debug)]
pub struct Watcher {
    /// Pattern.
    pub pattern: String,
    /// Changes seen, in order, with the time they were fetched.
    pub seen: Vec<(Ticks, Change)>,
}

impl Watcher {
    /// Watch `pattern`.
    pub fn new(pattern: &str) -> Self {
        Watcher {
            pattern: pattern.to_string(),
            seen: Vec::new(),
        }
    }

    fn drain(&mut self, sys: &mut dyn Sys) {
        while let Ok(Some(c)) = ds::check(sys) {
            let t = sys.now();
            self.seen.push((t, c));
        }
    }
}

impl Service for Watcher {
    fn init(&mut self, cx: &mut Ctx<'_>, _info: InitInfo) -> Result<(), Errno> {
        match ds::subscribe(cx.sys, &self.pattern, 0, DsFlags::NONE) {
            Ok(()) | Err(Errno::EEXIST) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        if is_notify(&msg) && msg.source() == Endpoint::DS {
            self.drain(cx.sys);
        }
        None
    }
}

/// What a [`LoadClient`] targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Service label (looked up in DS; followed through DS notifications).
    pub label: String,
    /// Counter (else echo).
    pub counter: bool,
}

/// Outcome counters of a [`LoadClient`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Requests sent.
    pub sent: u64,
    /// Answered correctly.
    pub ok: u64,
    /// Failed with the documented errors: `EDEADSRCDST` (service dead, at
    /// send time or as a bounce) or `EAGAIN` (counter could not save).
    pub failed: u64,
    /// Wrong answers (must stay 0).
    pub wrong: u64,
    /// Answers to unknown request ids (must stay 0).
    pub unexpected: u64,
}

/// A user process that keeps up a steady load: every `period` ticks it sends
/// one request to each target with nothing outstanding. It verifies every
/// answer: echo data must come back unchanged; a counter it owns alone must
/// answer exactly the sum of its acknowledged additions.
#[derive(Debug)]
pub struct LoadClient {
    targets: Vec<Target>,
    eps: Vec<Option<Endpoint>>,
    period: Ticks,
    next_id: u64,
    outstanding: BTreeMap<u64, (usize, SampleRequest)>,
    busy: Vec<bool>,
    /// Acknowledged sum per counter target.
    pub acked: Vec<u64>,
    /// Stop sending new requests.
    pub stopped: bool,
    /// Counters.
    pub stats: LoadStats,
    seq: u64,
}

impl LoadClient {
    /// A client with `targets`, sending every `period` ticks.
    pub fn new(targets: Vec<Target>, period: Ticks, seed: u64) -> Self {
        let n = targets.len();
        LoadClient {
            targets,
            eps: vec![None; n],
            period: period.max(1),
            next_id: seed << 32,
            outstanding: BTreeMap::new(),
            busy: vec![false; n],
            acked: vec![0; n],
            stopped: false,
            stats: LoadStats::default(),
            seq: seed,
        }
    }

    /// Requests still waiting for an answer.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    fn lookup(&mut self, sys: &mut dyn Sys, t: usize) {
        self.eps[t] = ds::retrieve_label(sys, &self.targets[t].label).ok();
    }

    fn fire(&mut self, sys: &mut dyn Sys) {
        for t in 0..self.targets.len() {
            if self.busy[t] || self.stopped {
                continue;
            }
            if self.eps[t].is_none() {
                self.lookup(sys, t);
            }
            let Some(ep) = self.eps[t] else { continue };
            self.next_id += 1;
            self.seq = self
                .seq
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = self.next_id;
            let req = if self.targets[t].counter {
                SampleRequest::Add {
                    id,
                    delta: ((self.seq >> 33) % 1000) as u32 + 1,
                }
            } else {
                let mut data = [0u8; ECHO_LEN];
                data[..8].copy_from_slice(&self.seq.to_le_bytes());
                data[8..16].copy_from_slice(&id.to_le_bytes());
                SampleRequest::Echo { id, data }
            };
            self.stats.sent += 1;
            match sys.request(ep, req.to_message()) {
                Ok(()) => {
                    self.outstanding.insert(id, (t, req));
                    self.busy[t] = true;
                }
                Err(Errno::EDEADSRCDST(new)) => {
                    self.stats.failed += 1;
                    self.eps[t] = new;
                }
                Err(_) => self.stats.wrong += 1,
            }
        }
    }

    fn answer(&mut self, msg: &Message) {
        let Ok(rep) = SampleReply::try_from(msg) else {
            self.stats.unexpected += 1;
            return;
        };
        let Some((t, req)) = self.outstanding.remove(&rep.id()) else {
            self.stats.unexpected += 1;
            return;
        };
        self.busy[t] = false;
        match (req, rep) {
            (SampleRequest::Echo { data, .. }, SampleReply::Echo { data: back, .. })
                if data == back =>
            {
                self.stats.ok += 1
            }
            (SampleRequest::Add { delta, .. }, SampleReply::Value { result: Ok(v), .. }) => {
                if v == self.acked[t] + u64::from(delta) {
                    self.acked[t] = v;
                    self.stats.ok += 1;
                } else {
                    self.stats.wrong += 1;
                }
            }
            (
                SampleRequest::Add { .. },
                SampleReply::Value {
                    result: Err(Errno::EAGAIN),
                    ..
                },
            ) => self.stats.failed += 1,
            _ => self.stats.wrong += 1,
        }
    }
}

impl Process for LoadClient {
    fn start(&mut self, sys: &mut dyn Sys) {
        // Follow endpoint changes (reset policy) through DS.
        let _ = ds::subscribe(sys, "*", sys::proto::ds::DsType::Label.bit(), DsFlags::NONE);
        sys.set_alarm(self.period);
    }

    fn receive(&mut self, sys: &mut dyn Sys, msg: Message) {
        if msg.source() == Endpoint::CLOCK {
            self.fire(sys);
            sys.set_alarm(self.period);
            return;
        }
        if is_notify(&msg) && msg.source() == Endpoint::DS {
            while let Ok(Some(c)) = ds::check(sys) {
                if let Some(t) = self.targets.iter().position(|x| x.label == c.key) {
                    self.eps[t] = (!c.deleted).then_some(Endpoint(c.value));
                }
            }
            return;
        }
        if let Ok(b) = DeadPeer::try_from(&msg) {
            match self.outstanding.remove(&b.request_id()) {
                Some((t, _)) => {
                    self.busy[t] = false;
                    self.stats.failed += 1;
                }
                None => self.stats.unexpected += 1,
            }
            return;
        }
        self.answer(&msg);
    }
}

/// A service whose init always goes wrong: `crash` panics during init,
/// otherwise init answers `EINVAL`. Used to check that RS gives up instead
/// of restarting it forever, and that a live update to it rolls back.
#[derive(Debug, Default)]
pub struct Broken {
    /// Panic in init (else fail with EINVAL).
    pub crash: bool,
}

impl Service for Broken {
    fn init(&mut self, cx: &mut Ctx<'_>, _info: InitInfo) -> Result<(), Errno> {
        if self.crash {
            cx.sys.panic("broken: crash during init");
        }
        Err(Errno::EINVAL)
    }

    fn handle(&mut self, _cx: &mut Ctx<'_>, _msg: Message) -> Option<Message> {
        None
    }
}

/// A loopback character device (minor 0): bytes written can be read back,
/// through a FIFO of `capacity` bytes. Reads on an empty FIFO and writes to
/// a full one are suspended (or fail `EAGAIN` when non-blocking) and are
/// completed by later writes / reads; select reports readiness at once and,
/// when asked to, again later. Stateless across restarts (its FIFO is lost,
/// like a tty's input queue).
#[derive(Debug)]
pub struct LoopDev {
    capacity: usize,
    fifo: std::collections::VecDeque<u8>,
    readers: std::collections::VecDeque<Pending>,
    writers: std::collections::VecDeque<Pending>,
    selectors: Vec<(Endpoint, u32)>,
    /// Open count.
    pub opens: u32,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    src: Endpoint,
    id: u64,
    grant: sys::GrantId,
    size: u32,
}

impl LoopDev {
    /// A device with a FIFO of `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        LoopDev {
            capacity: capacity.max(1),
            fifo: Default::default(),
            readers: Default::default(),
            writers: Default::default(),
            selectors: Vec::new(),
            opens: 0,
        }
    }

    fn ready(&self) -> u32 {
        use sys::proto::cdev::sel;
        let mut r = 0;
        if !self.fifo.is_empty() {
            r |= sel::READ;
        }
        if self.fifo.len() < self.capacity {
            r |= sel::WRITE;
        }
        r
    }

    fn try_read(&mut self, sys: &mut dyn Sys, p: Pending) -> Option<Result<u32, Errno>> {
        if self.fifo.is_empty() {
            return None;
        }
        let n = (p.size as usize).min(self.fifo.len());
        let bytes: Vec<u8> = self.fifo.iter().take(n).copied().collect();
        if let Err(e) = sys.safecopy_to(p.src, p.grant, 0, &bytes) {
            return Some(Err(e));
        }
        self.fifo.drain(..n);
        Some(Ok(n as u32))
    }

    fn try_write(&mut self, sys: &mut dyn Sys, p: Pending) -> Option<Result<u32, Errno>> {
        let space = self.capacity - self.fifo.len();
        if space == 0 {
            return None;
        }
        let n = (p.size as usize).min(space);
        let mut bytes = vec![0u8; n];
        if let Err(e) = sys.safecopy_from(p.src, p.grant, 0, &mut bytes) {
            return Some(Err(e));
        }
        self.fifo.extend(bytes);
        Some(Ok(n as u32))
    }

    /// Complete suspended requests and notify selectors after a change.
    fn progress(&mut self, sys: &mut dyn Sys) {
        use sys::proto::cdev::CdevReply;
        loop {
            let mut moved = false;
            if let Some(&p) = self.readers.front()
                && let Some(r) = self.try_read(sys, p)
            {
                self.readers.pop_front();
                let _ = sys.send(
                    p.src,
                    CdevReply::Done {
                        id: p.id,
                        result: r,
                    }
                    .to_message(),
                );
                moved = true;
            }
            if let Some(&p) = self.writers.front()
                && let Some(r) = self.try_write(sys, p)
            {
                self.writers.pop_front();
                let _ = sys.send(
                    p.src,
                    CdevReply::Done {
                        id: p.id,
                        result: r,
                    }
                    .to_message(),
                );
                moved = true;
            }
            if !moved {
                break;
            }
        }
        let ready = self.ready();
        let mut keep = Vec::new();
        for (ep, ops) in std::mem::take(&mut self.selectors) {
            if ops & ready != 0 {
                let _ = sys.send(
                    ep,
                    CdevReply::SelectReady {
                        minor: 0,
                        ops: ops & ready,
                    }
                    .to_message(),
                );
            } else {
                keep.push((ep, ops));
            }
        }
        self.selectors = keep;
    }
}

impl Service for LoopDev {
    fn init(&mut self, _cx: &mut Ctx<'_>, _info: InitInfo) -> Result<(), Errno> {
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        use sys::proto::cdev::{CdevReply, CdevRequest};
        let src = msg.source();
        let req = match CdevRequest::try_from(&msg) {
            Ok(r) => r,
            Err(_) if is_notify(&msg) => return None,
            Err(e) => {
                return Some(
                    CdevReply::Done {
                        id: msg.request_id(),
                        result: Err(e),
                    }
                    .to_message(),
                );
            }
        };
        let minor = match req {
            CdevRequest::Open { minor, .. }
            | CdevRequest::Close { minor, .. }
            | CdevRequest::Read { minor, .. }
            | CdevRequest::Write { minor, .. }
            | CdevRequest::Cancel { minor, .. }
            | CdevRequest::Select { minor, .. }
            | CdevRequest::Ioctl { minor, .. } => minor,
        };
        if minor != 0 {
            return Some(
                CdevReply::Done {
                    id: msg.request_id(),
                    result: Err(Errno::ENXIO),
                }
                .to_message(),
            );
        }
        let done = |id, result| Some(CdevReply::Done { id, result }.to_message());
        match req {
            // Not a terminal: no device controls.
            CdevRequest::Ioctl { id, .. } => done(id, Err(Errno::ENOTTY)),
            CdevRequest::Open { id, .. } => {
                self.opens += 1;
                done(id, Ok(0))
            }
            CdevRequest::Close { id, .. } => {
                self.opens = self.opens.saturating_sub(1);
                done(id, Ok(0))
            }
            CdevRequest::Read {
                id,
                grant,
                size,
                nonblock,
                ..
            } => {
                let p = Pending {
                    src,
                    id,
                    grant,
                    size,
                };
                if !self.readers.is_empty() {
                    // Keep FIFO order among suspended readers.
                    if nonblock {
                        return done(id, Err(Errno::EAGAIN));
                    }
                    self.readers.push_back(p);
                    return None;
                }
                match self.try_read(cx.sys, p) {
                    Some(r) => {
                        self.progress(cx.sys);
                        done(id, r)
                    }
                    None if nonblock => done(id, Err(Errno::EAGAIN)),
                    None => {
                        self.readers.push_back(p);
                        None
                    }
                }
            }
            CdevRequest::Write {
                id,
                grant,
                size,
                nonblock,
                ..
            } => {
                let p = Pending {
                    src,
                    id,
                    grant,
                    size,
                };
                if !self.writers.is_empty() {
                    if nonblock {
                        return done(id, Err(Errno::EAGAIN));
                    }
                    self.writers.push_back(p);
                    return None;
                }
                match self.try_write(cx.sys, p) {
                    Some(r) => {
                        self.progress(cx.sys);
                        done(id, r)
                    }
                    None if nonblock => done(id, Err(Errno::EAGAIN)),
                    None => {
                        self.writers.push_back(p);
                        None
                    }
                }
            }
            CdevRequest::Cancel { id, .. } => {
                // Sent one-way: the answer is the cancelled request's EINTR.
                let before = self.readers.len() + self.writers.len();
                self.readers.retain(|p| !(p.src == src && p.id == id));
                self.writers.retain(|p| !(p.src == src && p.id == id));
                if self.readers.len() + self.writers.len() != before {
                    let _ = cx.sys.send(
                        src,
                        CdevReply::Done {
                            id,
                            result: Err(Errno::EINTR),
                        }
                        .to_message(),
                    );
                }
                None
            }
            CdevRequest::Select {
                id, ops, notify, ..
            } => {
                let ready = self.ready() & ops;
                if ready == 0 && notify {
                    self.selectors.retain(|(ep, _)| *ep != src);
                    self.selectors.push((src, ops));
                }
                Some(
                    CdevReply::Select {
                        id,
                        minor: 0,
                        result: Ok(ready),
                    }
                    .to_message(),
                )
            }
        }
    }
}
