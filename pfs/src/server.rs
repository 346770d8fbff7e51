//! The PFS server: a [`sys::Service`] over the pipe core.
//!
//! It answers the VFS<->FS requests pipes need (`NewNode`, `Read`, `Write`,
//! `Stat`, `Putnode`, from `sys::proto::fs`) and the pipe requests of
//! [`crate::proto`] (FIFO open, close of an end, select, cancel). A request
//! that must wait (read on an empty pipe, write to a full one, FIFO open
//! before the other side, blocking select) is not answered now: the core keeps
//! a pending record under a token, and when a later request unblocks it the
//! server answers the original caller with `Sys::send`. Nobody ever blocks.
//!
//! Stateful restart: after every request that changed anything, the whole
//! state — the core (pipe buffers, counts, pending records, watches), who
//! each pending record answers, and recent answers — is sealed and kept in
//! preserved memory (`Sys::preserve`; pipes may buffer more than the 64 KiB
//! a DS blob holds). A restarted instance adopts it, so no buffered byte is
//! lost. The requests it had suspended were bounced to their callers when
//! the old instance died; the new one keeps them as *orphans*: when VFS
//! resends one (same source and request id) it is re-attached, not applied
//! again, and if it completed in the meantime its answer is parked and handed
//! to the resend. VFS must therefore resend, after a PFS restart, every
//! request it still holds unanswered. Non-data answers of recent requests
//! are remembered too, so a resent request that was already answered is
//! answered from the record (exactly once).
//!
//! With the stateless configuration nothing is kept: a restart starts with
//! no pipes, and requests on old pipes fail with `EBADF` (VFS turns its pipe
//! files into EIO files, as MINIX does when a file server dies).

use crate::codec::{Dec, Enc};
use crate::pipe::{Done, Event, Outcome, PipeId, Pipes, Token};
use crate::proto::{O_NONBLOCK, PipeRequest, S_IFIFO, S_IFMT};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec;
use alloc::vec::Vec;
use sys::proto::fs::{Buf, FsAnswer, FsReply, FsRequest, FsStat, NodeAttr};
use sys::proto::kernel::is_notify;
use sys::{Ctx, Endpoint, Errno, GrantId, InitInfo, Message, Sef, Service, StateStore};
use zerocopy::{FromBytes, IntoBytes};

/// Largest number of bytes one read or write request moves (VFS loops for more).
pub const MAX_IO: usize = 128 * 1024;
/// How many recent non-data answers are remembered for resends. This only
/// has to cover the requests in flight at a crash whose caller cannot tell
/// whether they were answered — natively also answers already sent but
/// still queued for the caller, which the kernel drops with the dead
/// sender (bouncing the request, so VFS resends it); it is saved with
/// every request, so it is kept small.
pub const RECENT: usize = 16;
/// How many recent read answers are remembered with their data, for the
/// same reason: a read answered just before a crash whose answer never
/// reached VFS is resent, and the bytes it took from the pipe must come
/// back again rather than be lost (or the reader wait for ever). At most
/// a pipe's capacity each.
pub const RECENT_DATA: usize = 4;
/// Most parked orphan answers kept; beyond, the lowest (oldest) request ids
/// go first (their callers stopped resending, e.g. they died).
pub const PARKED: usize = 256;

/// Server configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Buffer capacity of each pipe.
    pub capacity: usize,
    /// Most pipes at once (`ENFILE` beyond).
    pub max_pipes: usize,
    /// Keep state across restarts.
    pub stateful: bool,
    /// The only process allowed to send requests, by its DS label (VFS on
    /// the native system); `None` accepts any sender (simulator tests).
    /// Others get `EPERM`.
    pub client_label: Option<&'static str>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            capacity: crate::pipe::DEFAULT_CAPACITY,
            max_pipes: 256,
            stateful: true,
            client_label: None,
        }
    }
}

/// The PFS program as a runtime runs it (SEF-wrapped).
pub fn program(cfg: Config) -> Box<dyn sys::Process> {
    let store = if cfg.stateful {
        StateStore::Preserved
    } else {
        StateStore::None
    };
    Box::new(Sef::new(Pfs::new(cfg), store))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Open,
    Select,
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::Read => 1,
            Kind::Write => 2,
            Kind::Open => 3,
            Kind::Select => 4,
        }
    }
    fn from_code(c: u8) -> Result<Self, Errno> {
        Ok(match c {
            1 => Kind::Read,
            2 => Kind::Write,
            3 => Kind::Open,
            4 => Kind::Select,
            _ => return Err(Errno::EINVAL),
        })
    }
}

/// Who a pending record answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Caller {
    ep: Endpoint,
    id: u64,
    kind: Kind,
    /// Where read data goes (the latest request's grant).
    grant: Option<Buf>,
    /// The caller got a dead-peer bounce for it (restored from saved state):
    /// park the answer until the caller resends.
    orphan: bool,
}

/// A finished request's answer, as stored for parking and resends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// Read data (copied into the caller's grant on delivery).
    Data(Vec<u8>),
    /// A complete reply message.
    Reply(Message),
}

/// Counters, for tests and status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PfsStats {
    /// Requests handled.
    pub requests: u64,
    /// Requests suspended.
    pub suspended: u64,
    /// Resends re-attached to a restored pending record.
    pub reattached: u64,
    /// Resends answered from a parked or recorded answer.
    pub replayed: u64,
    /// Restarts that adopted saved state.
    pub restored: u64,
    /// Bytes written into pipes / read out of them.
    pub bytes_in: u64,
    /// Bytes read out of pipes.
    pub bytes_out: u64,
    /// State saves (only after requests that changed something).
    pub saves: u64,
    /// Requests refused: an unknown type or a sender other than the client.
    pub refused: u64,
}

/// The pipe file server.
pub struct Pfs {
    cfg: Config,
    pipes: Pipes,
    next_token: Token,
    callers: BTreeMap<Token, Caller>,
    by_request: BTreeMap<(u32, u64), Token>,
    /// Answers of orphans that completed before their resend arrived.
    parked: BTreeMap<(u32, u64), Answer>,
    recent: VecDeque<((u32, u64), Message)>,
    /// Recent read answers with their data (see [`RECENT_DATA`]).
    recent_data: VecDeque<((u32, u64), Vec<u8>)>,
    /// Node attributes set at `NewNode` (pipe id → mode, uid, gid).
    attrs: BTreeMap<u32, (u16, u16, u16)>,
    stats: PfsStats,
    /// Answers to other callers produced while handling one message; sent
    /// after the state is saved.
    outbox: Vec<(Endpoint, Message)>,
    /// The server's own tables changed since the last save.
    touched: bool,
    /// The core's change counter at the last save.
    saved_at: u64,
    /// Who may send requests (`cfg.client_label`).
    client: sys::ds::OnlyClient,
}

impl Pfs {
    /// A server with no pipes.
    pub fn new(cfg: Config) -> Self {
        Pfs {
            cfg,
            pipes: Pipes::new(cfg.capacity, cfg.max_pipes),
            next_token: 1,
            callers: BTreeMap::new(),
            by_request: BTreeMap::new(),
            parked: BTreeMap::new(),
            recent: VecDeque::new(),
            recent_data: VecDeque::new(),
            attrs: BTreeMap::new(),
            stats: PfsStats::default(),
            outbox: Vec::new(),
            touched: false,
            saved_at: 0,
            client: sys::ds::OnlyClient::new(cfg.client_label),
        }
    }

    /// Counters.
    pub fn stats(&self) -> PfsStats {
        self.stats
    }

    /// The pipe core (read-only), for tests and status.
    pub fn pipes(&self) -> &Pipes {
        &self.pipes
    }

    /// Requests currently suspended.
    pub fn suspended(&self) -> usize {
        self.callers.len()
    }

    fn token(&mut self) -> Token {
        let t = self.next_token;
        self.next_token += 1;
        t
    }

    fn err(id: u64, e: Errno) -> Message {
        FsReply { id, result: Err(e) }.to_message()
    }

    fn ok(id: u64, a: FsAnswer) -> Message {
        FsReply { id, result: Ok(a) }.to_message()
    }

    fn count(id: u64, n: usize) -> Message {
        Self::ok(
            id,
            FsAnswer::Count {
                n: n as u64,
                pos: 0,
            },
        )
    }

    fn node(&self, id: u64, pipe: PipeId) -> Message {
        let (mode, uid, gid) = self
            .attrs
            .get(&pipe.0)
            .copied()
            .unwrap_or((S_IFIFO | 0o600, 0, 0));
        Self::ok(
            id,
            FsAnswer::Node(NodeAttr {
                ino: pipe.0,
                mode,
                uid,
                gid,
                nlinks: 0,
                size: self.pipes.stat(pipe).map_or(0, |s| s.buffered as u64),
                rdev: 0,
            }),
        )
    }

    /// The reply for a finished operation of `kind`.
    fn answer(&mut self, id: u64, kind: Kind, done: Done) -> Answer {
        match done {
            Done::Data(d) => {
                self.stats.bytes_out += d.len() as u64;
                Answer::Data(d)
            }
            Done::Written(n) => Answer::Reply(Self::count(id, n)),
            Done::Opened(p) => Answer::Reply(self.node(id, p)),
            Done::Failed { errno, .. } => {
                // A cancelled select answers "nothing ready", not EINTR.
                if kind == Kind::Select && errno == Errno::EINTR {
                    Answer::Reply(Self::count(id, 0))
                } else {
                    Answer::Reply(Self::err(id, errno))
                }
            }
        }
    }

    /// Turn an answer into the reply message, copying read data out.
    fn deliver(cx: &mut Ctx<'_>, ep: Endpoint, id: u64, grant: Option<Buf>, a: &Answer) -> Message {
        match a {
            Answer::Reply(m) => *m,
            Answer::Data(d) => match grant {
                Some(b) if d.len() <= b.len as usize => {
                    match cx.sys.safecopy_to(ep, b.grant, 0, d) {
                        Ok(()) => Self::count(id, d.len()),
                        Err(e) => Self::err(id, e),
                    }
                }
                _ => Self::err(id, Errno::EFAULT),
            },
        }
    }

    fn park(&mut self, key: (u32, u64), a: Answer) {
        self.touched = true;
        if self.parked.len() >= PARKED {
            self.parked.pop_first();
        }
        self.parked.insert(key, a);
    }

    /// Keeps a copy of a data answer given to a live caller (see
    /// [`RECENT_DATA`]).
    fn remember_data(&mut self, key: (u32, u64), a: &Answer) {
        if let Answer::Data(d) = a {
            self.touched = true;
            if self.recent_data.len() >= RECENT_DATA {
                self.recent_data.pop_front();
            }
            self.recent_data.push_back((key, d.clone()));
        }
    }

    fn remember(&mut self, key: (u32, u64), m: Message) {
        self.touched = true;
        if self.recent.len() >= RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((key, m));
    }

    /// Finish whatever the core completed: queue answers to live callers in
    /// the outbox, park the answers of orphans.
    fn collect(&mut self, cx: &mut Ctx<'_>) {
        for ev in self.pipes.take_events() {
            let (token, done) = match ev {
                Event::Complete { token, done } => (token, done),
                Event::SelectReady { token, ops, .. } => (token, Done::Written(usize::from(ops))),
            };
            let Some(c) = self.callers.remove(&token) else {
                continue;
            };
            let key = (c.ep.0, c.id);
            self.by_request.remove(&key);
            let a = self.answer(c.id, c.kind, done);
            if c.orphan {
                self.park(key, a);
            } else {
                let m = Self::deliver(cx, c.ep, c.id, c.grant, &a);
                match a {
                    Answer::Reply(r) => self.remember(key, r),
                    ref d => self.remember_data(key, d),
                }
                self.outbox.push((c.ep, m));
            }
        }
    }

    fn suspend(&mut self, token: Token, src: Endpoint, id: u64, kind: Kind, grant: Option<Buf>) {
        self.stats.suspended += 1;
        self.touched = true;
        self.callers.insert(
            token,
            Caller {
                ep: src,
                id,
                kind,
                grant,
                orphan: false,
            },
        );
        self.by_request.insert((src.0, id), token);
    }

    fn read(
        &mut self,
        cx: &mut Ctx<'_>,
        src: Endpoint,
        id: u64,
        ino: u32,
        buf: Buf,
        flags: u32,
    ) -> Option<Message> {
        let token = self.token();
        let n = (buf.len as usize).min(MAX_IO);
        let nonblock = flags & O_NONBLOCK != 0;
        match self.pipes.read(PipeId(ino), token, n, nonblock) {
            Err(e) => Some(Self::err(id, e)),
            Ok(Outcome::Suspended) => {
                self.suspend(token, src, id, Kind::Read, Some(buf));
                None
            }
            Ok(Outcome::Done(d)) => {
                let a = self.answer(id, Kind::Read, d);
                self.remember_data((src.0, id), &a);
                Some(Self::deliver(cx, src, id, Some(buf), &a))
            }
        }
    }

    fn write(
        &mut self,
        cx: &mut Ctx<'_>,
        src: Endpoint,
        id: u64,
        ino: u32,
        buf: Buf,
        flags: u32,
    ) -> Option<Message> {
        let n = (buf.len as usize).min(MAX_IO);
        let mut data = vec![0u8; n];
        if let Err(e) = cx.sys.safecopy_from(src, buf.grant, 0, &mut data) {
            return Some(Self::err(id, e));
        }
        let token = self.token();
        let nonblock = flags & O_NONBLOCK != 0;
        match self.pipes.write(PipeId(ino), token, data, nonblock) {
            Err(e) => Some(Self::err(id, e)),
            Ok(Outcome::Suspended) => {
                self.stats.bytes_in += n as u64;
                self.suspend(token, src, id, Kind::Write, None);
                None
            }
            Ok(Outcome::Done(d)) => {
                if let Done::Written(k) = d {
                    self.stats.bytes_in += k as u64;
                }
                match self.answer(id, Kind::Write, d) {
                    Answer::Reply(m) => Some(m),
                    Answer::Data(_) => Some(Self::err(id, Errno::EGENERIC)),
                }
            }
        }
    }

    fn fs_request(&mut self, cx: &mut Ctx<'_>, src: Endpoint, req: FsRequest) -> Option<Message> {
        match req {
            FsRequest::NewNode { id, mode, cred, .. } => {
                if mode & S_IFMT != S_IFIFO {
                    return Some(Self::err(id, Errno::EINVAL));
                }
                Some(match self.pipes.create() {
                    Ok(p) => {
                        self.attrs.insert(p.0, (mode, cred.uid, cred.gid));
                        self.node(id, p)
                    }
                    Err(e) => Self::err(id, e),
                })
            }
            FsRequest::Read {
                id,
                ino,
                buf,
                flags,
                ..
            } => self.read(cx, src, id, ino, buf, flags),
            FsRequest::Write {
                id,
                ino,
                buf,
                flags,
                ..
            } => self.write(cx, src, id, ino, buf, flags),
            FsRequest::Stat { id, ino } => {
                let p = PipeId(ino);
                Some(match self.pipes.stat(p) {
                    None => Self::err(id, Errno::EBADF),
                    Some(s) => {
                        let (mode, uid, gid) =
                            self.attrs
                                .get(&ino)
                                .copied()
                                .unwrap_or((S_IFIFO | 0o600, 0, 0));
                        Self::ok(
                            id,
                            FsAnswer::Stat(FsStat {
                                ino,
                                mode,
                                nlinks: 0,
                                uid,
                                gid,
                                size: s.buffered as u64,
                                atime: 0,
                                mtime: 0,
                                ctime: 0,
                                rdev: 0,
                                blksize: self.pipes.capacity() as u32,
                            }),
                        )
                    }
                })
            }
            FsRequest::Putnode { id, ino, .. } => Some(match self.pipes.release(PipeId(ino)) {
                Ok(()) => Self::ok(id, FsAnswer::Done),
                Err(e) => Self::err(id, e),
            }),
            // Pipes have no names, directories, sizes to set or disk.
            FsRequest::Truncate { id, .. } => Some(Self::err(id, Errno::EINVAL)),
            other => Some(Self::err(other.id(), Errno::ENOSYS)),
        }
    }

    fn pipe_request(&mut self, src: Endpoint, req: PipeRequest) -> Option<Message> {
        match req {
            PipeRequest::Open {
                id,
                key,
                access,
                nonblock,
            } => {
                let token = self.token();
                match self.pipes.open_fifo(key, token, access, nonblock) {
                    Err(e) => Some(Self::err(id, e)),
                    Ok((_, Outcome::Suspended)) => {
                        self.suspend(token, src, id, Kind::Open, None);
                        None
                    }
                    Ok((_, Outcome::Done(d))) => match self.answer(id, Kind::Open, d) {
                        Answer::Reply(m) => Some(m),
                        Answer::Data(_) => Some(Self::err(id, Errno::EGENERIC)),
                    },
                }
            }
            PipeRequest::Close { id, ino, access } => {
                Some(match self.pipes.close(PipeId(ino), access) {
                    Ok(()) => Self::ok(id, FsAnswer::Done),
                    Err(e) => Self::err(id, e),
                })
            }
            PipeRequest::Select {
                id,
                ino,
                ops,
                block,
            } => {
                let token = self.token();
                match self.pipes.select(PipeId(ino), ops, block.then_some(token)) {
                    Err(e) => Some(Self::err(id, e)),
                    Ok(0) if block && ops != 0 => {
                        self.suspend(token, src, id, Kind::Select, None);
                        None
                    }
                    Ok(r) => Some(Self::count(id, usize::from(r))),
                }
            }
            PipeRequest::Cancel { id, target } => {
                let Some(token) = self.by_request.remove(&(src.0, target)) else {
                    return Some(Self::err(id, Errno::ESRCH));
                };
                // A watch yields no result from the core; a select answers 0.
                let done = self.pipes.cancel(token).unwrap_or(Done::Failed {
                    errno: Errno::EINTR,
                    sigpipe: false,
                });
                if let Some(c) = self.callers.remove(&token) {
                    let key = (c.ep.0, c.id);
                    match self.answer(c.id, c.kind, done) {
                        a @ Answer::Data(_) => {
                            self.park(key, a);
                        }
                        Answer::Reply(m) if c.orphan => {
                            self.park(key, Answer::Reply(m));
                        }
                        Answer::Reply(m) => {
                            self.remember(key, m);
                            self.outbox.push((c.ep, m));
                        }
                    }
                }
                Some(Self::ok(id, FsAnswer::Done))
            }
        }
    }

    fn changed(&self) -> bool {
        self.touched || self.pipes.changes() != self.saved_at
    }

    fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.u32(SERVER_STATE_VERSION);
        e.bytes(&self.pipes.encode());
        e.u64(self.next_token);
        e.u32(self.callers.len() as u32);
        for (t, c) in &self.callers {
            e.u64(*t);
            e.u32(c.ep.0);
            e.u64(c.id);
            e.u8(c.kind.code());
            match c.grant {
                Some(b) => {
                    e.u8(1);
                    e.u32(b.grant.0);
                    e.u32(b.len);
                }
                None => e.u8(0),
            }
        }
        e.u32(self.parked.len() as u32);
        for (k, a) in &self.parked {
            e.u32(k.0);
            e.u64(k.1);
            encode_answer(&mut e, a);
        }
        e.u32(self.recent.len() as u32);
        for (k, m) in &self.recent {
            e.u32(k.0);
            e.u64(k.1);
            e.raw(m.as_bytes());
        }
        e.u32(self.recent_data.len() as u32);
        for (k, d) in &self.recent_data {
            e.u32(k.0);
            e.u64(k.1);
            e.bytes(d);
        }
        e.u32(self.attrs.len() as u32);
        for (ino, (mode, uid, gid)) in &self.attrs {
            e.u32(*ino);
            e.u32(u32::from(*mode));
            e.u32(u32::from(*uid) << 16 | u32::from(*gid));
        }
        e.finish()
    }

    /// Adopt a saved state. Every pending record becomes an orphan: its
    /// caller was sent a dead-peer bounce and will resend.
    fn restore(&mut self, blob: &[u8]) -> Result<(), Errno> {
        let mut d = Dec::new(blob);
        if d.u32()? != SERVER_STATE_VERSION {
            return Err(Errno::EINVAL);
        }
        let pipes = Pipes::decode(d.bytes()?)?;
        let next_token = d.u64()?;
        let mut callers = BTreeMap::new();
        let mut by_request = BTreeMap::new();
        for _ in 0..d.u32()? {
            let t = d.u64()?;
            let ep = Endpoint(d.u32()?);
            let id = d.u64()?;
            let kind = Kind::from_code(d.u8()?)?;
            let grant = match d.u8()? {
                0 => None,
                1 => Some(Buf {
                    grant: GrantId(d.u32()?),
                    len: d.u32()?,
                }),
                _ => return Err(Errno::EINVAL),
            };
            if !pipes.is_pending(t) || t >= next_token {
                return Err(Errno::EINVAL);
            }
            callers.insert(
                t,
                Caller {
                    ep,
                    id,
                    kind,
                    grant,
                    orphan: true,
                },
            );
            by_request.insert((ep.0, id), t);
        }
        let mut parked = BTreeMap::new();
        for _ in 0..d.u32()? {
            let k = (d.u32()?, d.u64()?);
            parked.insert(k, decode_answer(&mut d)?);
        }
        let mut recent = VecDeque::new();
        for _ in 0..d.u32()? {
            let k = (d.u32()?, d.u64()?);
            let m = Message::read_from_bytes(d.raw(64)?).map_err(|_| Errno::EINVAL)?;
            recent.push_back((k, m));
        }
        let mut recent_data = VecDeque::new();
        for _ in 0..d.u32()? {
            let k = (d.u32()?, d.u64()?);
            recent_data.push_back((k, d.bytes()?.to_vec()));
        }
        let mut attrs = BTreeMap::new();
        for _ in 0..d.u32()? {
            let ino = d.u32()?;
            let mode = u16::try_from(d.u32()?).map_err(|_| Errno::EINVAL)?;
            let ug = d.u32()?;
            attrs.insert(ino, (mode, (ug >> 16) as u16, ug as u16));
        }
        d.end()?;
        self.pipes = pipes;
        self.next_token = next_token;
        self.callers = callers;
        self.by_request = by_request;
        self.parked = parked;
        self.recent = recent;
        self.recent_data = recent_data;
        self.attrs = attrs;
        Ok(())
    }

    /// Save the state if anything changed since the last save.
    fn save(&mut self, cx: &mut Ctx<'_>) {
        if !self.cfg.stateful || !self.changed() {
            return;
        }
        self.touched = false;
        self.saved_at = self.pipes.changes();
        self.stats.saves += 1;
        // Forget attributes of pipes the core has freed.
        let pipes = &self.pipes;
        self.attrs
            .retain(|ino, _| pipes.stat(PipeId(*ino)).is_some());
        let blob = self.encode();
        cx.sys.preserve(sys::sef::seal(&blob));
    }
}

const SERVER_STATE_VERSION: u32 = 2;

fn encode_answer(e: &mut Enc, a: &Answer) {
    match a {
        Answer::Data(d) => {
            e.u8(0);
            e.bytes(d);
        }
        Answer::Reply(m) => {
            e.u8(1);
            e.raw(m.as_bytes());
        }
    }
}

fn decode_answer(d: &mut Dec<'_>) -> Result<Answer, Errno> {
    Ok(match d.u8()? {
        0 => Answer::Data(d.bytes()?.to_vec()),
        1 => Answer::Reply(Message::read_from_bytes(d.raw(64)?).map_err(|_| Errno::EINVAL)?),
        _ => return Err(Errno::EINVAL),
    })
}

impl Service for Pfs {
    fn init(&mut self, cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno> {
        *self = Pfs::new(self.cfg);
        if self.cfg.stateful
            && let Some(blob) = &info.state
        {
            match self.restore(blob) {
                Ok(()) => self.stats.restored += 1,
                Err(_) => {
                    // A blob that decodes badly despite its checksum: start
                    // empty rather than crash-loop.
                    *self = Pfs::new(self.cfg);
                    cx.sys
                        .log("pfs: saved state unusable; starting with no pipes");
                }
            }
        }
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        let src = msg.source();
        let is_pipe = PipeRequest::is_pipe_request(&msg);
        if is_notify(&msg) {
            return None;
        }
        if !is_pipe && !FsRequest::is_fs_request(&msg) {
            // Not a request of ours: say so (MINIX ENOSYS).
            self.stats.refused += 1;
            return Some(Self::err(msg.request_id(), Errno::ENOSYS));
        }
        if !self.client.allows(cx.sys, src) {
            self.stats.refused += 1;
            return Some(Self::err(msg.request_id(), Errno::EPERM));
        }
        self.stats.requests += 1;
        let id = msg.request_id();
        let key = (src.0, id);
        // A resend: answer from the record, or re-attach to the restored record.
        if let Some(a) = self.parked.remove(&key) {
            self.stats.replayed += 1;
            self.touched = true;
            let grant = match FsRequest::try_from(&msg) {
                Ok(FsRequest::Read { buf, .. }) => Some(buf),
                _ => None,
            };
            let m = Self::deliver(cx, src, id, grant, &a);
            match a {
                Answer::Reply(r) => self.remember(key, r),
                ref d => self.remember_data(key, d),
            }
            self.save(cx);
            return Some(m);
        }
        if let Some((_, m)) = self.recent.iter().find(|(k, _)| *k == key) {
            self.stats.replayed += 1;
            return Some(*m);
        }
        if let Some((_, d)) = self.recent_data.iter().find(|(k, _)| *k == key)
            && let Ok(FsRequest::Read { buf, .. }) = FsRequest::try_from(&msg)
        {
            self.stats.replayed += 1;
            let a = Answer::Data(d.clone());
            return Some(Self::deliver(cx, src, id, Some(buf), &a));
        }
        if let Some(&token) = self.by_request.get(&key)
            && let Some(c) = self.callers.get_mut(&token)
        {
            self.stats.reattached += 1;
            self.touched = true;
            c.orphan = false;
            if let Ok(FsRequest::Read { buf, .. }) = FsRequest::try_from(&msg) {
                c.grant = Some(buf);
            }
            self.save(cx);
            return None;
        }
        let reply = if is_pipe {
            match PipeRequest::try_from(&msg) {
                Ok(r) => self.pipe_request(src, r),
                Err(e) => Some(Self::err(id, e)),
            }
        } else {
            match FsRequest::try_from(&msg) {
                Ok(r) => self.fs_request(cx, src, r),
                Err(e) => Some(Self::err(id, e)),
            }
        };
        self.collect(cx);
        // Only requests that changed something need an answer on record: a
        // resend of one that changed nothing (EAGAIN, EBADF) may run again.
        if let Some(r) = &reply
            && self.changed()
            && is_side_effecting(&msg)
        {
            self.remember(key, *r);
        }
        self.save(cx);
        for (ep, m) in core::mem::take(&mut self.outbox) {
            // The caller may have died meanwhile: nothing to do then.
            let _ = cx.sys.send(ep, m);
        }
        reply
    }
}

/// Requests whose repetition would differ from a single application; their
/// answers are remembered for resends. Reads are excluded: their data is
/// large and an answered read is never resent (only suspended ones are,
/// which the parked answers cover).
fn is_side_effecting(m: &Message) -> bool {
    if PipeRequest::is_pipe_request(m) {
        return true;
    }
    match FsRequest::try_from(m) {
        Ok(FsRequest::Read { .. }) => false,
        Ok(r) => r.is_side_effecting(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn populated() -> Pfs {
        let mut s = Pfs::new(Config {
            capacity: 600,
            ..Config::default()
        });
        let p = s.pipes.create().unwrap();
        s.attrs.insert(p.0, (S_IFIFO | 0o640, 3, 4));
        s.pipes.write(p, 1, vec![7; 500], false).unwrap();
        s.pipes.write(p, 2, vec![8; 300], false).unwrap();
        let q = s.pipes.create().unwrap();
        s.pipes.read(q, 3, 10, false).unwrap();
        s.next_token = 4;
        s.suspend(2, Endpoint(0x10005), 77, Kind::Write, None);
        let buf = Buf {
            grant: GrantId(9),
            len: 10,
        };
        s.suspend(3, Endpoint(0x10005), 78, Kind::Read, Some(buf));
        s.park((5, 6), Answer::Data(vec![1, 2, 3]));
        s.park((5, 7), Answer::Reply(Pfs::count(7, 3)));
        s.remember((5, 8), Pfs::ok(8, FsAnswer::Done));
        s.remember_data((5, 9), &Answer::Data(vec![4, 5, 6, 7]));
        s
    }

    #[test]
    fn state_roundtrips_and_pending_become_orphans() {
        let s = populated();
        let blob = s.encode();
        let mut t = Pfs::new(s.cfg);
        t.restore(&blob).unwrap();
        assert_eq!(t.pipes, s.pipes);
        assert_eq!(t.next_token, s.next_token);
        assert_eq!(t.parked, s.parked);
        assert_eq!(t.recent, s.recent);
        assert_eq!(t.recent_data, s.recent_data);
        assert_eq!(t.attrs, s.attrs);
        assert_eq!(t.by_request, s.by_request);
        assert_eq!(t.callers.len(), 2);
        assert!(t.callers.values().all(|c| c.orphan));
        assert_eq!(t.callers[&3].grant, s.callers[&3].grant);
    }

    #[test]
    fn bad_state_is_refused_without_panic() {
        let blob = populated().encode();
        for cut in 0..blob.len() {
            let mut t = Pfs::new(Config::default());
            assert!(t.restore(&blob[..cut]).is_err(), "cut {cut}");
        }
        // A caller record naming a token the core does not hold is refused.
        let mut s = populated();
        s.callers.insert(
            3000,
            Caller {
                ep: Endpoint(1),
                id: 1,
                kind: Kind::Read,
                grant: None,
                orphan: false,
            },
        );
        let mut t = Pfs::new(Config::default());
        assert_eq!(t.restore(&s.encode()), Err(Errno::EINVAL));
        // Flipped bytes never panic (they may or may not decode).
        let blob = populated().encode();
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0xff;
            let _ = Pfs::new(Config::default()).restore(&bad);
        }
    }

    #[test]
    fn recent_read_answers_are_bounded_and_replies_are_not_kept_as_data() {
        let mut s = Pfs::new(Config::default());
        s.remember_data((1, 1), &Answer::Reply(Pfs::count(1, 0)));
        assert!(s.recent_data.is_empty());
        for id in 0..(RECENT_DATA as u64 + 3) {
            s.remember_data((1, id), &Answer::Data(vec![id as u8; 3]));
        }
        assert_eq!(s.recent_data.len(), RECENT_DATA);
        assert_eq!(
            s.recent_data.front().map(|e| e.0),
            Some((1, 3)),
            "oldest dropped"
        );
    }

    #[test]
    fn parked_answers_are_bounded() {
        let mut s = Pfs::new(Config::default());
        for id in 0..(PARKED as u64 + 10) {
            s.park((1, id), Answer::Reply(Pfs::count(id, 0)));
        }
        assert_eq!(s.parked.len(), PARKED);
        assert!(!s.parked.contains_key(&(1, 0)), "oldest dropped");
        assert!(s.parked.contains_key(&(1, PARKED as u64 + 9)));
    }
}
