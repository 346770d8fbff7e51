//! The pipe core: pipe objects with bounded buffers and POSIX semantics,
//! written as a pure state machine so that a server can answer suspended
//! requests asynchronously.
//!
//! Every operation that may block takes a caller-chosen [`Token`]. It either
//! finishes at once ([`Outcome::Done`]) or is kept as an explicit pending
//! record ([`Outcome::Suspended`]); whenever a later operation changes the
//! pipe, the records it unblocks are finished and reported as
//! [`Event::Complete`] (drain them with [`Pipes::take_events`]). Select
//! interest works the same way: [`Pipes::select`] answers the ready subset at
//! once, or registers a one-shot watch that later yields
//! [`Event::SelectReady`]. Nothing here blocks, allocates threads or knows
//! about messages, so VFS and PFS never wait on each other.
//!
//! Semantics (POSIX, as MINIX/NetBSD/Linux behave):
//! - read: data → up to `n` bytes at once; empty and no writers → 0 (EOF);
//!   empty with writers → suspend, or `EAGAIN` if non-blocking.
//! - write: no readers → `EPIPE` with a SIGPIPE indication. Writes of at most
//!   [`PIPE_BUF`] bytes are atomic: they wait until the whole write fits.
//!   Larger blocking writes may be split (what fits now, the rest later);
//!   larger non-blocking writes write what fits (`EAGAIN` if nothing does).
//!   Waiting writers are served in arrival order, and a later write never
//!   overtakes a waiting one (a non-blocking one gets `EAGAIN`), so the bytes
//!   of one write never interleave with another's unless it is > PIPE_BUF.
//! - FIFO open: a reader waits until a writer exists (unless non-blocking); a
//!   non-blocking writer with no reader gets `ENXIO`, a blocking one waits.
//!   A waiting opener already counts as present (readers meet writers).
//! - When a pipe has no openers and no pending records left it is freed.

use crate::codec::{Dec, Enc};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use sys::Errno;

/// Writes of at most this many bytes are atomic (POSIX minimum, NetBSD/MINIX value).
pub const PIPE_BUF: usize = 512;

/// Default buffer capacity of one pipe (MINIX PFS uses one 4 KiB page-sized buffer).
pub const DEFAULT_CAPACITY: usize = 4096;

/// Select op bit: readable.
pub const SEL_RD: u8 = 0x1;
/// Select op bit: writable.
pub const SEL_WR: u8 = 0x2;
/// Select op bit: exceptional condition (a write would fail: no readers).
pub const SEL_ERR: u8 = 0x4;
const SEL_ALL: u8 = SEL_RD | SEL_WR | SEL_ERR;

/// Identifies one suspended operation or select watch; chosen by the caller,
/// unique among everything pending in one [`Pipes`].
pub type Token = u64;

/// A pipe's identity inside one [`Pipes`] table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PipeId(pub u32);

/// Which end of a pipe an open or close concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read end.
    Read,
    /// Write end.
    Write,
    /// Both ends (FIFO opened `O_RDWR`; never blocks).
    ReadWrite,
}

impl Access {
    fn reads(self) -> bool {
        matches!(self, Access::Read | Access::ReadWrite)
    }
    fn writes(self) -> bool {
        matches!(self, Access::Write | Access::ReadWrite)
    }
    fn code(self) -> u8 {
        match self {
            Access::Read => 1,
            Access::Write => 2,
            Access::ReadWrite => 3,
        }
    }
    fn from_code(c: u8) -> Result<Self, Errno> {
        Ok(match c {
            1 => Access::Read,
            2 => Access::Write,
            3 => Access::ReadWrite,
            _ => return Err(Errno::EINVAL),
        })
    }
}

/// The result of a finished operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// A read: the bytes (empty = end of file).
    Data(Vec<u8>),
    /// A write: how many bytes were written.
    Written(usize),
    /// An open finished; the pipe's id.
    Opened(PipeId),
    /// Failed. `sigpipe`: the caller should get SIGPIPE (write with no readers).
    Failed {
        /// The error.
        errno: Errno,
        /// Deliver SIGPIPE to the writer.
        sigpipe: bool,
    },
}

impl Done {
    fn err(errno: Errno) -> Done {
        Done::Failed {
            errno,
            sigpipe: false,
        }
    }
    fn epipe() -> Done {
        Done::Failed {
            errno: Errno::EPIPE,
            sigpipe: true,
        }
    }
}

/// What an operation did right away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Finished now.
    Done(Done),
    /// Kept as a pending record; its result comes later as [`Event::Complete`].
    Suspended,
}

/// Something that happened to pending records or watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A suspended operation finished.
    Complete {
        /// Its token.
        token: Token,
        /// Its result.
        done: Done,
    },
    /// A select watch fired (it is removed).
    SelectReady {
        /// The watch's token.
        token: Token,
        /// The pipe.
        pipe: PipeId,
        /// Ready ops among those watched.
        ops: u8,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingRead {
    token: Token,
    n: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingWrite {
    token: Token,
    data: Vec<u8>,
    written: usize,
}

impl PendingWrite {
    fn atomic(&self) -> bool {
        self.data.len() <= PIPE_BUF
    }
    fn remaining(&self) -> usize {
        self.data.len() - self.written
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingOpen {
    token: Token,
    access: Access,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Watch {
    token: Token,
    ops: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pipe {
    buf: VecDeque<u8>,
    readers: u32,
    writers: u32,
    fifo_key: Option<u64>,
    reads: VecDeque<PendingRead>,
    writes: VecDeque<PendingWrite>,
    opens: VecDeque<PendingOpen>,
    watches: Vec<Watch>,
}

impl Pipe {
    fn new(readers: u32, writers: u32, fifo_key: Option<u64>) -> Self {
        Pipe {
            buf: VecDeque::new(),
            readers,
            writers,
            fifo_key,
            reads: VecDeque::new(),
            writes: VecDeque::new(),
            opens: VecDeque::new(),
            watches: Vec::new(),
        }
    }

    fn idle(&self) -> bool {
        self.readers == 0
            && self.writers == 0
            && self.reads.is_empty()
            && self.writes.is_empty()
            && self.opens.is_empty()
    }
}

/// Counters of one pipe, for status and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipeStat {
    /// Bytes buffered.
    pub buffered: usize,
    /// Open read ends (including waiting openers).
    pub readers: u32,
    /// Open write ends (including waiting openers).
    pub writers: u32,
    /// Suspended reads.
    pub pending_reads: usize,
    /// Suspended writes.
    pub pending_writes: usize,
    /// Suspended opens.
    pub pending_opens: usize,
}

/// A table of pipes and FIFOs.
#[derive(Debug, Clone)]
pub struct Pipes {
    capacity: usize,
    max_pipes: usize,
    next_id: u32,
    pipes: BTreeMap<PipeId, Pipe>,
    fifos: BTreeMap<u64, PipeId>,
    /// Token → pipe of every pending record and watch.
    owner: BTreeMap<Token, PipeId>,
    events: Vec<Event>,
    /// Bumped by every operation that changed the table (not saved).
    changes: u64,
}

/// Equal contents; the change counter is bookkeeping, not state.
impl PartialEq for Pipes {
    fn eq(&self, o: &Self) -> bool {
        self.capacity == o.capacity
            && self.max_pipes == o.max_pipes
            && self.next_id == o.next_id
            && self.pipes == o.pipes
            && self.fifos == o.fifos
            && self.owner == o.owner
            && self.events == o.events
    }
}

impl Eq for Pipes {}

impl Pipes {
    /// A table whose pipes buffer `capacity` bytes each (raised to at least
    /// [`PIPE_BUF`] so that atomic writes can always complete), with room
    /// for `max_pipes` pipes.
    pub fn new(capacity: usize, max_pipes: usize) -> Self {
        Pipes {
            capacity: capacity.max(PIPE_BUF),
            max_pipes,
            next_id: 1,
            pipes: BTreeMap::new(),
            fifos: BTreeMap::new(),
            owner: BTreeMap::new(),
            events: Vec::new(),
            changes: 0,
        }
    }

    /// Buffer capacity of each pipe.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of live pipes.
    pub fn len(&self) -> usize {
        self.pipes.len()
    }

    /// Whether no pipe exists.
    pub fn is_empty(&self) -> bool {
        self.pipes.is_empty()
    }

    /// Counters of `pipe`, if it exists.
    pub fn stat(&self, pipe: PipeId) -> Option<PipeStat> {
        self.pipes.get(&pipe).map(|p| PipeStat {
            buffered: p.buf.len(),
            readers: p.readers,
            writers: p.writers,
            pending_reads: p.reads.len(),
            pending_writes: p.writes.len(),
            pending_opens: p.opens.len(),
        })
    }

    /// Whether `token` names a pending record or watch.
    pub fn is_pending(&self, token: Token) -> bool {
        self.owner.contains_key(&token)
    }

    /// Tokens of every pending record and watch.
    pub fn pending_tokens(&self) -> impl Iterator<Item = Token> + '_ {
        self.owner.keys().copied()
    }

    /// A counter bumped by every operation that changed the table, so a
    /// server saves its state only when needed (a non-blocking read that
    /// found nothing, a stat or a poll change nothing).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Finished records and fired watches since the last call, in order.
    pub fn take_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.events)
    }

    fn alloc_id(&mut self) -> Result<PipeId, Errno> {
        if self.pipes.len() >= self.max_pipes {
            return Err(Errno::ENFILE);
        }
        // Ids are not reused soon, so a stale id held by a confused client
        // names no pipe rather than someone else's.
        loop {
            let id = PipeId(self.next_id);
            self.next_id = self.next_id.wrapping_add(1).max(1);
            if !self.pipes.contains_key(&id) {
                return Ok(id);
            }
        }
    }

    fn fresh_token(&self, token: Token) -> Result<(), Errno> {
        if self.owner.contains_key(&token) {
            Err(Errno::EBUSY)
        } else {
            Ok(())
        }
    }

    /// `pipe(2)`: a new anonymous pipe with one reader and one writer.
    /// `ENFILE` when the table is full.
    pub fn create(&mut self) -> Result<PipeId, Errno> {
        let id = self.alloc_id()?;
        self.pipes.insert(id, Pipe::new(1, 1, None));
        self.changes += 1;
        Ok(id)
    }

    /// The pipe of FIFO `key` (VFS's name for the FIFO inode), if open.
    pub fn fifo(&self, key: u64) -> Option<PipeId> {
        self.fifos.get(&key).copied()
    }

    /// `open(2)` of FIFO `key` (created on first open). Blocking read opens
    /// wait for a writer and blocking write opens for a reader; a
    /// non-blocking write open with no reader fails with `ENXIO`.
    pub fn open_fifo(
        &mut self,
        key: u64,
        token: Token,
        access: Access,
        nonblock: bool,
    ) -> Result<(PipeId, Outcome), Errno> {
        self.fresh_token(token)?;
        let id = match self.fifos.get(&key) {
            Some(&id) => id,
            None => {
                if access == Access::Write && nonblock {
                    // No pipe means no reader.
                    return Err(Errno::ENXIO);
                }
                let id = self.alloc_id()?;
                self.pipes.insert(id, Pipe::new(0, 0, Some(key)));
                self.fifos.insert(key, id);
                id
            }
        };
        let p = self.pipes.get_mut(&id).ok_or(Errno::EINVAL)?;
        if access == Access::Write && nonblock && p.readers == 0 {
            return Err(Errno::ENXIO);
        }
        if access.reads() {
            p.readers += 1;
        }
        if access.writes() {
            p.writers += 1;
        }
        let waits = match access {
            Access::Read => p.writers == 0,
            Access::Write => p.readers == 0,
            Access::ReadWrite => false,
        };
        let out = if waits && !nonblock {
            p.opens.push_back(PendingOpen { token, access });
            self.owner.insert(token, id);
            Outcome::Suspended
        } else {
            Outcome::Done(Done::Opened(id))
        };
        self.changes += 1;
        self.pump(id);
        Ok((id, out))
    }

    /// `read(2)` of up to `n` bytes.
    pub fn read(
        &mut self,
        pipe: PipeId,
        token: Token,
        n: usize,
        nonblock: bool,
    ) -> Result<Outcome, Errno> {
        self.fresh_token(token)?;
        let p = self.pipes.get_mut(&pipe).ok_or(Errno::EBADF)?;
        if p.readers == 0 {
            return Err(Errno::EBADF);
        }
        if n == 0 {
            return Ok(Outcome::Done(Done::Data(Vec::new())));
        }
        // Earlier waiting readers go first; there are some only while the
        // buffer is empty.
        if p.reads.is_empty() && !p.buf.is_empty() {
            let k = n.min(p.buf.len());
            let data = take(&mut p.buf, k);
            self.changes += 1;
            self.pump(pipe);
            return Ok(Outcome::Done(Done::Data(data)));
        }
        if p.writers == 0 {
            return Ok(Outcome::Done(Done::Data(Vec::new())));
        }
        if nonblock {
            return Ok(Outcome::Done(Done::err(Errno::EAGAIN)));
        }
        p.reads.push_back(PendingRead { token, n });
        self.owner.insert(token, pipe);
        self.changes += 1;
        Ok(Outcome::Suspended)
    }

    /// `write(2)` of `data`.
    pub fn write(
        &mut self,
        pipe: PipeId,
        token: Token,
        data: Vec<u8>,
        nonblock: bool,
    ) -> Result<Outcome, Errno> {
        self.fresh_token(token)?;
        let cap = self.capacity;
        let p = self.pipes.get_mut(&pipe).ok_or(Errno::EBADF)?;
        if p.writers == 0 {
            return Err(Errno::EBADF);
        }
        if p.readers == 0 {
            return Ok(Outcome::Done(Done::epipe()));
        }
        if data.is_empty() {
            return Ok(Outcome::Done(Done::Written(0)));
        }
        let space = cap - p.buf.len();
        let n = data.len();
        let queued = !p.writes.is_empty();
        let out = if nonblock {
            if queued {
                Outcome::Done(Done::err(Errno::EAGAIN))
            } else if n <= PIPE_BUF {
                if space >= n {
                    p.buf.extend(&data);
                    Outcome::Done(Done::Written(n))
                } else {
                    Outcome::Done(Done::err(Errno::EAGAIN))
                }
            } else if space == 0 {
                Outcome::Done(Done::err(Errno::EAGAIN))
            } else {
                let k = space.min(n);
                p.buf.extend(&data[..k]);
                Outcome::Done(Done::Written(k))
            }
        } else {
            let mut w = PendingWrite {
                token,
                data,
                written: 0,
            };
            if !queued {
                if w.atomic() {
                    if space >= n {
                        w.written = n;
                    }
                } else {
                    w.written = space.min(n);
                }
                p.buf.extend(&w.data[..w.written]);
            }
            if w.written == n {
                Outcome::Done(Done::Written(n))
            } else {
                p.writes.push_back(w);
                self.owner.insert(token, pipe);
                Outcome::Suspended
            }
        };
        if matches!(out, Outcome::Suspended | Outcome::Done(Done::Written(_))) {
            self.changes += 1;
        }
        self.pump(pipe);
        Ok(out)
    }

    /// Close one end (`close(2)` of a descriptor, or VFS dropping the last
    /// reference to an open file). `EBADF` if that end has no openers.
    pub fn close(&mut self, pipe: PipeId, access: Access) -> Result<(), Errno> {
        let p = self.pipes.get_mut(&pipe).ok_or(Errno::EBADF)?;
        if (access.reads() && p.readers == 0) || (access.writes() && p.writers == 0) {
            return Err(Errno::EBADF);
        }
        if access.reads() {
            p.readers -= 1;
        }
        if access.writes() {
            p.writers -= 1;
        }
        self.changes += 1;
        self.pump(pipe);
        Ok(())
    }

    /// Drop a pipe whatever its state (VFS released the node: nothing can
    /// use it any more). Pending records fail with `EBADF`, watches fire
    /// with every op they watched (the fd is dead: report it ready).
    pub fn release(&mut self, pipe: PipeId) -> Result<(), Errno> {
        let p = self.pipes.remove(&pipe).ok_or(Errno::EBADF)?;
        self.changes += 1;
        if let Some(k) = p.fifo_key {
            self.fifos.remove(&k);
        }
        let mut tokens: Vec<Token> = p.reads.iter().map(|r| r.token).collect();
        tokens.extend(p.writes.iter().map(|w| w.token));
        tokens.extend(p.opens.iter().map(|o| o.token));
        for token in tokens {
            self.owner.remove(&token);
            self.events.push(Event::Complete {
                token,
                done: Done::err(Errno::EBADF),
            });
        }
        for w in p.watches {
            self.owner.remove(&w.token);
            self.events.push(Event::SelectReady {
                token: w.token,
                pipe,
                ops: w.ops,
            });
        }
        Ok(())
    }

    /// Cancel a pending record (signal, caller gone) or watch. Returns what
    /// the caller should be answered: `EINTR`, or the byte count of a write
    /// that had partly happened; `None` for an unknown token or a watch.
    /// A cancelled open no longer counts as an opener.
    pub fn cancel(&mut self, token: Token) -> Option<Done> {
        let id = self.owner.remove(&token)?;
        self.changes += 1;
        let p = self.pipes.get_mut(&id)?;
        let mut done = None;
        if let Some(i) = p.reads.iter().position(|r| r.token == token) {
            p.reads.remove(i);
            done = Some(Done::err(Errno::EINTR));
        } else if let Some(i) = p.writes.iter().position(|w| w.token == token) {
            let w = p.writes.remove(i)?;
            done = Some(if w.written > 0 {
                Done::Written(w.written)
            } else {
                Done::err(Errno::EINTR)
            });
        } else if let Some(i) = p.opens.iter().position(|o| o.token == token) {
            let o = p.opens.remove(i)?;
            if o.access.reads() {
                p.readers = p.readers.saturating_sub(1);
            }
            if o.access.writes() {
                p.writers = p.writers.saturating_sub(1);
            }
            done = Some(Done::err(Errno::EINTR));
        } else {
            p.watches.retain(|w| w.token != token);
        }
        self.pump(id);
        done
    }

    /// Which of `ops` are ready on `pipe` right now: RD = a 1-byte read
    /// would not block (data or EOF); WR = a 1-byte write would not block
    /// (room and no waiting writer, or no readers: it fails at once);
    /// ERR = a write would fail (no readers).
    pub fn ready(&self, pipe: PipeId, ops: u8) -> Result<u8, Errno> {
        let p = self.pipes.get(&pipe).ok_or(Errno::EBADF)?;
        Ok(self.ready_of(p) & ops)
    }

    fn ready_of(&self, p: &Pipe) -> u8 {
        let mut r = 0;
        if !p.buf.is_empty() || p.writers == 0 {
            r |= SEL_RD;
        }
        if p.readers == 0 || (p.writes.is_empty() && p.buf.len() < self.capacity) {
            r |= SEL_WR;
        }
        if p.readers == 0 {
            r |= SEL_ERR;
        }
        r
    }

    /// select: the ready subset of `ops`. If none is ready and `watch` is
    /// given, a one-shot watch is registered under that token; it fires an
    /// [`Event::SelectReady`] as soon as any watched op becomes ready.
    pub fn select(&mut self, pipe: PipeId, ops: u8, watch: Option<Token>) -> Result<u8, Errno> {
        if ops & !SEL_ALL != 0 {
            return Err(Errno::EINVAL);
        }
        let ready = self.ready(pipe, ops)?;
        if ready == 0
            && ops != 0
            && let Some(token) = watch
        {
            self.fresh_token(token)?;
            let p = self.pipes.get_mut(&pipe).ok_or(Errno::EBADF)?;
            p.watches.push(Watch { token, ops });
            self.owner.insert(token, pipe);
            self.changes += 1;
        }
        Ok(ready)
    }

    /// Move data between the buffer and waiting records until nothing
    /// changes, finish opens, deliver EOF/EPIPE, fire watches, free an idle pipe.
    fn pump(&mut self, id: PipeId) {
        let cap = self.capacity;
        let Some(p) = self.pipes.get_mut(&id) else {
            return;
        };
        let mut done: Vec<(Token, Done)> = Vec::new();
        // Opens: a waiting reader is satisfied by a writer and vice versa.
        let (r, w) = (p.readers, p.writers);
        p.opens.retain(|o| {
            let ok = match o.access {
                Access::Read => w > 0,
                Access::Write => r > 0,
                Access::ReadWrite => true,
            };
            if ok {
                done.push((o.token, Done::Opened(id)));
            }
            !ok
        });
        loop {
            let mut progress = false;
            while !p.buf.is_empty()
                && let Some(rd) = p.reads.pop_front()
            {
                let k = rd.n.min(p.buf.len());
                done.push((rd.token, Done::Data(take(&mut p.buf, k))));
                progress = true;
            }
            while let Some(head) = p.writes.front_mut() {
                let space = cap - p.buf.len();
                let k = if head.atomic() {
                    if space >= head.remaining() {
                        head.remaining()
                    } else {
                        0
                    }
                } else {
                    space.min(head.remaining())
                };
                if k == 0 {
                    break;
                }
                p.buf.extend(&head.data[head.written..head.written + k]);
                head.written += k;
                progress = true;
                if head.remaining() == 0 {
                    let total = head.data.len();
                    let token = head.token;
                    p.writes.pop_front();
                    done.push((token, Done::Written(total)));
                }
            }
            if !progress {
                break;
            }
        }
        if p.buf.is_empty() && p.writers == 0 {
            for rd in p.reads.drain(..) {
                done.push((rd.token, Done::Data(Vec::new())));
            }
        }
        if p.readers == 0 {
            for w in p.writes.drain(..) {
                let d = if w.written > 0 {
                    Done::Written(w.written)
                } else {
                    Done::epipe()
                };
                done.push((w.token, d));
            }
        }
        for (token, d) in done {
            self.owner.remove(&token);
            self.events.push(Event::Complete { token, done: d });
        }
        // Watches.
        let Some(p) = self.pipes.get(&id) else {
            return;
        };
        let ready = self.ready_of(p);
        if p.watches.iter().any(|w| w.ops & ready != 0) {
            let p = match self.pipes.get_mut(&id) {
                Some(p) => p,
                None => return,
            };
            let mut fired = Vec::new();
            p.watches.retain(|w| {
                let hit = w.ops & ready;
                if hit != 0 {
                    fired.push((w.token, hit));
                }
                hit == 0
            });
            for (token, ops) in fired {
                self.owner.remove(&token);
                self.events.push(Event::SelectReady {
                    token,
                    pipe: id,
                    ops,
                });
            }
        }
        if self.pipes.get(&id).is_some_and(Pipe::idle)
            && let Some(p) = self.pipes.remove(&id)
        {
            for w in &p.watches {
                self.owner.remove(&w.token);
            }
            if let Some(k) = p.fifo_key {
                self.fifos.remove(&k);
            }
        }
    }

    /// Serialise the whole table (buffers, counts, pending records, watches)
    /// for a stateful restart. Undelivered events are not included: take
    /// and deliver them before saving.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.u32(STATE_VERSION);
        e.u64(self.capacity as u64);
        e.u64(self.max_pipes as u64);
        e.u32(self.next_id);
        e.u32(self.pipes.len() as u32);
        for (id, p) in &self.pipes {
            e.u32(id.0);
            e.u32(p.readers);
            e.u32(p.writers);
            match p.fifo_key {
                Some(k) => {
                    e.u8(1);
                    e.u64(k);
                }
                None => e.u8(0),
            }
            let (a, b) = p.buf.as_slices();
            e.u32((a.len() + b.len()) as u32);
            e.raw(a);
            e.raw(b);
            e.u32(p.reads.len() as u32);
            for r in &p.reads {
                e.u64(r.token);
                e.u64(r.n as u64);
            }
            e.u32(p.writes.len() as u32);
            for w in &p.writes {
                e.u64(w.token);
                e.u64(w.written as u64);
                e.bytes(&w.data);
            }
            e.u32(p.opens.len() as u32);
            for o in &p.opens {
                e.u64(o.token);
                e.u8(o.access.code());
            }
            e.u32(p.watches.len() as u32);
            for w in &p.watches {
                e.u64(w.token);
                e.u8(w.ops);
            }
        }
        e.finish()
    }

    /// Rebuild a table from [`Pipes::encode`] output. A malformed or
    /// inconsistent blob is `EINVAL`, never a panic.
    pub fn decode(blob: &[u8]) -> Result<Self, Errno> {
        let mut d = Dec::new(blob);
        if d.u32()? != STATE_VERSION {
            return Err(Errno::EINVAL);
        }
        let capacity = d.usize()?;
        let max_pipes = d.usize()?;
        let next_id = d.u32()?;
        if !(PIPE_BUF..=MAX_CAPACITY).contains(&capacity) {
            return Err(Errno::EINVAL);
        }
        let mut t = Pipes::new(capacity, max_pipes);
        t.next_id = next_id;
        let n = d.u32()?;
        for _ in 0..n {
            let id = PipeId(d.u32()?);
            let readers = d.u32()?;
            let writers = d.u32()?;
            let fifo_key = match d.u8()? {
                0 => None,
                1 => Some(d.u64()?),
                _ => return Err(Errno::EINVAL),
            };
            let mut p = Pipe::new(readers, writers, fifo_key);
            let blen = d.u32()? as usize;
            if blen > capacity {
                return Err(Errno::EINVAL);
            }
            p.buf.extend(d.raw(blen)?);
            let claim = |t: &mut Pipes, token: Token| -> Result<(), Errno> {
                if t.owner.insert(token, id).is_some() {
                    return Err(Errno::EINVAL);
                }
                Ok(())
            };
            for _ in 0..d.u32()? {
                let token = d.u64()?;
                let n = d.usize()?;
                claim(&mut t, token)?;
                p.reads.push_back(PendingRead { token, n });
            }
            for _ in 0..d.u32()? {
                let token = d.u64()?;
                let written = d.usize()?;
                let data = d.bytes()?.to_vec();
                if written >= data.len() {
                    return Err(Errno::EINVAL);
                }
                claim(&mut t, token)?;
                p.writes.push_back(PendingWrite {
                    token,
                    data,
                    written,
                });
            }
            for _ in 0..d.u32()? {
                let token = d.u64()?;
                let access = Access::from_code(d.u8()?)?;
                claim(&mut t, token)?;
                p.opens.push_back(PendingOpen { token, access });
            }
            for _ in 0..d.u32()? {
                let token = d.u64()?;
                let ops = d.u8()?;
                if ops & !SEL_ALL != 0 {
                    return Err(Errno::EINVAL);
                }
                claim(&mut t, token)?;
                p.watches.push(Watch { token, ops });
            }
            if let Some(k) = fifo_key
                && t.fifos.insert(k, id).is_some()
            {
                return Err(Errno::EINVAL);
            }
            if t.pipes.insert(id, p).is_some() {
                return Err(Errno::EINVAL);
            }
        }
        d.end()?;
        Ok(t)
    }
}

/// Remove the first `k` buffered bytes (k <= len) with two slice copies
/// rather than byte by byte.
fn take(buf: &mut VecDeque<u8>, k: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(k);
    let (a, b) = buf.as_slices();
    let na = a.len().min(k);
    v.extend_from_slice(&a[..na]);
    v.extend_from_slice(&b[..k - na]);
    buf.drain(..k);
    v
}

const STATE_VERSION: u32 = 1;
/// Largest per-pipe capacity a decoded state may claim (guards allocation).
const MAX_CAPACITY: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn table() -> Pipes {
        Pipes::new(1024, 16)
    }

    fn data(o: Outcome) -> Vec<u8> {
        match o {
            Outcome::Done(Done::Data(d)) => d,
            other => panic!("expected data, got {other:?}"),
        }
    }

    #[test]
    fn read_write_in_order_and_eof() {
        let mut t = table();
        let p = t.create().unwrap();
        assert_eq!(
            t.write(p, 1, b"hello".to_vec(), false).unwrap(),
            Outcome::Done(Done::Written(5))
        );
        assert_eq!(data(t.read(p, 2, 3, false).unwrap()), b"hel");
        assert_eq!(data(t.read(p, 3, 10, false).unwrap()), b"lo");
        // Empty with a writer: non-blocking → EAGAIN, blocking → suspend.
        assert_eq!(
            t.read(p, 4, 1, true).unwrap(),
            Outcome::Done(Done::err(Errno::EAGAIN))
        );
        assert_eq!(t.read(p, 5, 4, false).unwrap(), Outcome::Suspended);
        assert!(t.is_pending(5));
        t.close(p, Access::Write).unwrap();
        assert_eq!(
            t.take_events(),
            vec![Event::Complete {
                token: 5,
                done: Done::Data(vec![])
            }]
        );
        assert_eq!(data(t.read(p, 6, 1, false).unwrap()), b"");
        assert_eq!(data(t.read(p, 7, 1, true).unwrap()), b"");
        t.close(p, Access::Read).unwrap();
        assert!(t.is_empty(), "pipe freed after both ends closed");
    }

    #[test]
    fn suspended_read_resumes_on_write() {
        let mut t = table();
        let p = t.create().unwrap();
        assert_eq!(t.read(p, 1, 3, false).unwrap(), Outcome::Suspended);
        assert_eq!(t.read(p, 2, 3, false).unwrap(), Outcome::Suspended);
        t.write(p, 3, b"abcdefg".to_vec(), false).unwrap();
        assert_eq!(
            t.take_events(),
            vec![
                Event::Complete {
                    token: 1,
                    done: Done::Data(b"abc".to_vec())
                },
                Event::Complete {
                    token: 2,
                    done: Done::Data(b"def".to_vec())
                },
            ]
        );
        assert_eq!(t.stat(p).unwrap().buffered, 1);
    }

    #[test]
    fn write_without_readers_is_epipe_with_sigpipe() {
        let mut t = table();
        let p = t.create().unwrap();
        t.close(p, Access::Read).unwrap();
        assert_eq!(
            t.write(p, 1, b"x".to_vec(), false).unwrap(),
            Outcome::Done(Done::Failed {
                errno: Errno::EPIPE,
                sigpipe: true
            })
        );
        assert_eq!(t.read(p, 2, 1, false), Err(Errno::EBADF));
    }

    #[test]
    fn atomic_write_waits_for_whole_space() {
        let mut t = table();
        let p = t.create().unwrap();
        t.write(p, 1, vec![1; 1000], false).unwrap();
        // 24 bytes free: an atomic 100-byte write waits, non-blocking EAGAIN.
        assert_eq!(
            t.write(p, 2, vec![2; 100], true).unwrap(),
            Outcome::Done(Done::err(Errno::EAGAIN))
        );
        assert_eq!(
            t.write(p, 3, vec![3; 100], false).unwrap(),
            Outcome::Suspended
        );
        // A later small write may not overtake the waiting one.
        assert_eq!(
            t.write(p, 4, vec![4; 1], true).unwrap(),
            Outcome::Done(Done::err(Errno::EAGAIN))
        );
        assert_eq!(data(t.read(p, 5, 50, false).unwrap()), vec![1; 50]);
        assert!(t.take_events().is_empty(), "74 free < 100: still waiting");
        assert_eq!(data(t.read(p, 6, 50, false).unwrap()).len(), 50);
        assert_eq!(
            t.take_events(),
            vec![Event::Complete {
                token: 3,
                done: Done::Written(100)
            }]
        );
        let all = data(t.read(p, 7, 2000, false).unwrap());
        assert_eq!(all.len(), 1000);
        assert!(all[..900].iter().all(|&b| b == 1));
        assert!(all[900..].iter().all(|&b| b == 3));
    }

    #[test]
    fn large_writes_are_split_blocking_and_partial_nonblocking() {
        let mut t = table();
        let p = t.create().unwrap();
        let big: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        assert_eq!(
            t.write(p, 1, big.clone(), false).unwrap(),
            Outcome::Suspended
        );
        assert_eq!(t.stat(p).unwrap().buffered, 1024);
        let mut got = Vec::new();
        while got.len() < 3000 {
            got.extend(data(t.read(p, 10 + got.len() as u64, 700, false).unwrap()));
        }
        assert_eq!(got, big);
        assert_eq!(
            t.take_events(),
            vec![Event::Complete {
                token: 1,
                done: Done::Written(3000)
            }]
        );
        // Non-blocking: what fits, then EAGAIN when full.
        assert_eq!(
            t.write(p, 2, vec![9; 2000], true).unwrap(),
            Outcome::Done(Done::Written(1024))
        );
        assert_eq!(
            t.write(p, 3, vec![9; 2000], true).unwrap(),
            Outcome::Done(Done::err(Errno::EAGAIN))
        );
    }

    #[test]
    fn readers_closing_fails_waiting_writers() {
        let mut t = table();
        let p = t.create().unwrap();
        assert_eq!(
            t.write(p, 1, vec![0; 1500], false).unwrap(),
            Outcome::Suspended
        );
        assert_eq!(
            t.write(p, 2, vec![0; 10], false).unwrap(),
            Outcome::Suspended
        );
        t.close(p, Access::Read).unwrap();
        assert_eq!(
            t.take_events(),
            vec![
                Event::Complete {
                    token: 1,
                    done: Done::Written(1024)
                },
                Event::Complete {
                    token: 2,
                    done: Done::epipe()
                },
            ]
        );
    }

    #[test]
    fn fifo_open_rendezvous() {
        let mut t = table();
        // Non-blocking write open without a reader.
        assert_eq!(t.open_fifo(7, 1, Access::Write, true), Err(Errno::ENXIO));
        let (p, o) = t.open_fifo(7, 2, Access::Read, false).unwrap();
        assert_eq!(o, Outcome::Suspended);
        assert_eq!(t.fifo(7), Some(p));
        // A non-blocking reader opens at once.
        assert_eq!(
            t.open_fifo(7, 3, Access::Read, true).unwrap(),
            (p, Outcome::Done(Done::Opened(p)))
        );
        let (p2, o) = t.open_fifo(7, 4, Access::Write, true).unwrap();
        assert_eq!((p2, o), (p, Outcome::Done(Done::Opened(p))));
        assert_eq!(
            t.take_events(),
            vec![Event::Complete {
                token: 2,
                done: Done::Opened(p)
            }]
        );
        // Blocking writer on a fresh FIFO waits for a reader.
        let (q, o) = t.open_fifo(8, 5, Access::Write, false).unwrap();
        assert_eq!(o, Outcome::Suspended);
        t.open_fifo(8, 6, Access::Read, false).unwrap();
        assert_eq!(
            t.take_events(),
            vec![Event::Complete {
                token: 5,
                done: Done::Opened(q)
            }]
        );
        // O_RDWR never blocks.
        let (r, o) = t.open_fifo(9, 7, Access::ReadWrite, false).unwrap();
        assert_eq!(o, Outcome::Done(Done::Opened(r)));
        t.close(r, Access::ReadWrite).unwrap();
        assert_eq!(t.fifo(9), None, "last close frees the FIFO's pipe");
    }

    #[test]
    fn cancel_open_and_io() {
        let mut t = table();
        let (p, _) = t.open_fifo(1, 1, Access::Read, false).unwrap();
        assert_eq!(t.cancel(1), Some(Done::err(Errno::EINTR)));
        assert_eq!(t.fifo(1), None, "cancelled sole opener frees the FIFO");
        assert!(t.stat(p).is_none());
        let p = t.create().unwrap();
        t.read(p, 2, 5, false).unwrap();
        assert_eq!(t.cancel(2), Some(Done::err(Errno::EINTR)));
        t.write(p, 3, vec![1; 2000], false).unwrap();
        assert_eq!(t.cancel(3), Some(Done::Written(1024)));
        assert_eq!(t.cancel(3), None);
        assert!(t.take_events().is_empty());
    }

    #[test]
    fn duplicate_token_is_ebusy() {
        let mut t = table();
        let p = t.create().unwrap();
        t.read(p, 1, 5, false).unwrap();
        assert_eq!(t.read(p, 1, 5, false), Err(Errno::EBUSY));
    }

    #[test]
    fn select_readiness_and_watches() {
        let mut t = table();
        let p = t.create().unwrap();
        assert_eq!(
            t.select(p, SEL_RD | SEL_WR | SEL_ERR, None).unwrap(),
            SEL_WR
        );
        assert_eq!(t.select(p, SEL_RD, Some(10)).unwrap(), 0);
        t.write(p, 1, b"x".to_vec(), false).unwrap();
        assert_eq!(
            t.take_events(),
            vec![Event::SelectReady {
                token: 10,
                pipe: p,
                ops: SEL_RD
            }]
        );
        // Full pipe: not writable; a watch fires when a read makes room.
        t.write(p, 2, vec![0; 1023], false).unwrap();
        assert_eq!(t.select(p, SEL_WR, Some(11)).unwrap(), 0);
        t.read(p, 3, 1, false).unwrap();
        assert_eq!(
            t.take_events(),
            vec![Event::SelectReady {
                token: 11,
                pipe: p,
                ops: SEL_WR
            }]
        );
        // Readers gone: writable (fails at once) and error.
        t.close(p, Access::Read).unwrap();
        assert_eq!(t.ready(p, SEL_WR | SEL_ERR).unwrap(), SEL_WR | SEL_ERR);
        // EOF is readable.
        let q = t.create().unwrap();
        assert_eq!(t.select(q, SEL_RD, Some(12)).unwrap(), 0);
        assert!(t.cancel(12).is_none());
        assert!(!t.is_pending(12));
        assert_eq!(t.select(q, SEL_RD, Some(13)).unwrap(), 0);
        t.close(q, Access::Write).unwrap();
        assert_eq!(
            t.take_events(),
            vec![Event::SelectReady {
                token: 13,
                pipe: q,
                ops: SEL_RD
            }]
        );
        assert_eq!(t.select(q, 0x10, None), Err(Errno::EINVAL));
    }

    #[test]
    fn release_fails_pending_and_fires_watches() {
        let mut t = table();
        let p = t.create().unwrap();
        t.read(p, 1, 4, false).unwrap();
        t.select(p, SEL_RD, Some(2)).unwrap();
        t.release(p).unwrap();
        assert_eq!(
            t.take_events(),
            vec![
                Event::Complete {
                    token: 1,
                    done: Done::err(Errno::EBADF)
                },
                Event::SelectReady {
                    token: 2,
                    pipe: p,
                    ops: SEL_RD
                },
            ]
        );
        assert!(t.is_empty());
        assert_eq!(t.pending_tokens().count(), 0);
        assert_eq!(t.release(p), Err(Errno::EBADF));
    }

    #[test]
    fn table_full_is_enfile() {
        let mut t = Pipes::new(512, 2);
        t.create().unwrap();
        t.create().unwrap();
        assert_eq!(t.create(), Err(Errno::ENFILE));
    }

    #[test]
    fn encode_decode_roundtrip_with_pending() {
        let mut t = table();
        let p = t.create().unwrap();
        t.write(p, 1, vec![5; 1500], false).unwrap();
        t.write(p, 2, vec![6; 20], false).unwrap();
        let q = t.create().unwrap();
        t.read(q, 3, 9, false).unwrap();
        t.select(q, SEL_RD, Some(4)).unwrap();
        let (_f, _) = t.open_fifo(99, 5, Access::Read, false).unwrap();
        let blob = t.encode();
        let mut u = Pipes::decode(&blob).unwrap();
        assert_eq!(u, t);
        // The restored table carries on: draining p finishes both writes.
        let mut got = Vec::new();
        while got.len() < 1520 {
            got.extend(data(u.read(p, 100 + got.len() as u64, 600, false).unwrap()));
        }
        assert_eq!(&got[..1500], &[5; 1500][..]);
        assert_eq!(&got[1500..], &[6; 20][..]);
        assert_eq!(u.take_events().len(), 2);
        // Every truncation is refused, never a panic.
        for cut in 0..blob.len() {
            assert!(Pipes::decode(&blob[..cut]).is_err(), "cut {cut}");
        }
        let mut long = blob.clone();
        long.push(0);
        assert!(Pipes::decode(&long).is_err());
    }
}
