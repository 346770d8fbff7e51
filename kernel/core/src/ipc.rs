//! The IPC state machine: rendezvous message passing between process
//! slots, MINIX style, independent of the hardware.
//!
//! Operations (`send`, `sendnb`, `sendrec`, `receive`, `notify`) take the
//! caller's slot and return what happens to the caller ([`Completion`] or an
//! [`IpcError`]) and push a [`Wake`] for every *other* process whose blocked
//! call finished as a side effect. The kernel's arch layer turns those into
//! register values and copies messages into user buffers; this module never
//! touches memory.
//!
//! Rules:
//! * Messages are 64 bytes; the kernel stamps the source endpoint (bytes
//!   0..4), so a sender cannot forge it.
//! * An endpoint is `(generation, slot)`. A stale or empty one fails with
//!   [`IpcError::DeadPeer`], which names the endpoint now in the slot if any.
//! * A blocked send is queued on the receiver in arrival order; `receive`
//!   prefers pending notifications, then the oldest matching sender.
//! * `sendnb` fails with [`IpcError::NotReady`] unless the receiver waits.
//! * `senda` never blocks: the message is delivered at once or queued on
//!   the receiver (bounded) and received after blocked senders; if the
//!   receiver dies first the sender gets a dead-peer bounce from SYSTEM
//!   (slot 0).
//! * `senda_request` is a `senda` that owes an answer: when it is delivered
//!   the receiver records that it owes the sender one reply; the first
//!   non-notify message the receiver delivers to that sender afterwards
//!   (by any send call) clears the oldest such record. If the receiver dies
//!   first, every sender it still owes gets the same dead-peer bounce as an
//!   undelivered request. `sendrec` messages are recorded too (without a
//!   bounce: the blocked caller is woken with `DeadPeer` instead), so
//!   answers clear records oldest first, as in the simulator. At most
//!   [`MAX_OWED_REPLIES`] records per receiver: a request that could
//!   exceed it (records plus requests queued) fails with `NotReady`.
//! * `notify` never blocks; repeated notifications from one source to one
//!   receiver coalesce into one pending bit.
//! * A send that would close a cycle of blocked processes fails with
//!   [`IpcError::Deadlock`] instead of hanging.
//! * When a process dies, everyone blocked sending to it or receiving from
//!   it specifically wakes with [`IpcError::DeadPeer`].
//! * Every send and notify is checked against the caller's
//!   [`Privileges::send_to`] mask, and for a plain user
//!   ([`Privileges::servers`]) also against the kernel's current set of
//!   user-facing server slots ([`Ipc::set_server_slots`]); a denial is
//!   [`IpcError::Denied`].

use crate::process::{Endpoint, NR_PROCS, SYSTEM_SLOT};
use abi::{
    BOUNCE_HEAD, DEAD_PEER_MTYPE, DeadPeerPayload, ENDPOINT_NONE, Errno, MAX_ASYNC_QUEUE,
    MAX_OWED_REPLIES, MESSAGE_SIZE, MSG_PAYLOAD_OFFSET, MSG_SOURCE_OFFSET, MSG_TYPE_OFFSET,
    NOTIFY_MTYPE, NotifyPayload,
};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use zerocopy::IntoBytes;
use zerocopy::little_endian::{U32, U64};

/// A raw 64-byte message (layout in `abi`).
pub type Message = [u8; MESSAGE_SIZE];

/// Slot bit sets fit in one word because there are at most 64 slots.
const _: () = assert!(NR_PROCS <= 64);

/// Builds a message of type `mtype` with `payload` (truncated to 56 bytes).
pub fn message(mtype: u32, payload: &[u8]) -> Message {
    let mut m = [0u8; MESSAGE_SIZE];
    m[MSG_TYPE_OFFSET..MSG_TYPE_OFFSET + 4].copy_from_slice(&mtype.to_le_bytes());
    let n = payload.len().min(MESSAGE_SIZE - MSG_PAYLOAD_OFFSET);
    m[MSG_PAYLOAD_OFFSET..MSG_PAYLOAD_OFFSET + n].copy_from_slice(&payload[..n]);
    m
}

/// The source endpoint stamped in `m`.
pub fn source_of(m: &Message) -> Endpoint {
    let mut b = [0u8; 4];
    b.copy_from_slice(&m[MSG_SOURCE_OFFSET..MSG_SOURCE_OFFSET + 4]);
    Endpoint(u32::from_le_bytes(b))
}

/// The type of `m`.
pub fn type_of(m: &Message) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&m[MSG_TYPE_OFFSET..MSG_TYPE_OFFSET + 4]);
    u32::from_le_bytes(b)
}

fn stamp(m: &mut Message, from: Endpoint) {
    m[MSG_SOURCE_OFFSET..MSG_SOURCE_OFFSET + 4].copy_from_slice(&from.0.to_le_bytes());
}

/// The `u64` at payload offset `off` of `m`.
pub fn payload_u64(m: &Message, off: usize) -> u64 {
    let at = MSG_PAYLOAD_OFFSET + off;
    let mut b = [0u8; 8];
    b.copy_from_slice(&m[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Whom a receive accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Anyone.
    Any,
    /// Only this endpoint.
    Ep(Endpoint),
}

/// Why an IPC operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpcError {
    /// The peer is dead or the endpoint is stale. `now` is the endpoint that
    /// currently occupies the slot, if any, so the caller can retry there.
    DeadPeer {
        /// Current occupant of the peer's slot.
        now: Option<Endpoint>,
    },
    /// `sendnb`: the destination is not waiting for this sender.
    NotReady,
    /// The call would close a cycle of blocked processes.
    Deadlock,
    /// The caller's privileges do not allow this destination.
    Denied,
    /// The endpoint names no slot (out of range, or the caller itself).
    BadEndpoint,
}

impl IpcError {
    /// The code returned to user space.
    pub fn errno(self) -> Errno {
        match self {
            Self::DeadPeer { .. } => Errno::DeadSrcDst,
            Self::NotReady => Errno::NotReady,
            Self::Deadlock => Errno::Locked,
            Self::Denied => Errno::Perm,
            Self::BadEndpoint => Errno::BadEndpoint,
        }
    }
}

/// What happened to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// The send was delivered (the caller continues).
    Sent,
    /// The receive got this message at once.
    Received(Message),
    /// The caller is blocked; a later [`Wake`] finishes its call.
    Blocked,
}

/// A blocked process whose call has finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wake {
    /// Its slot.
    pub slot: usize,
    /// `Ok(Some(m))`: it received `m` (a receive, or a sendrec's reply);
    /// `Ok(None)`: its send was delivered; `Err`: the call failed.
    pub result: Result<Option<Message>, IpcError>,
}

/// Per-process IPC permissions (part of the privilege record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Privileges {
    /// Bit `s` set: may send to and notify slot `s`.
    pub send_to: u64,
    /// Bit `n` set: may make kernel call number `n` (checked by the
    /// kernel-call dispatcher with [`Privileges::may_call`]).
    pub calls: u64,
    /// A plain user: may also send to the slots the kernel currently names
    /// as the user-facing servers (PM, VFS, VM, RS; [`Ipc::set_server_slots`]),
    /// so services started or replaced later are reachable.
    pub servers: bool,
}

impl Privileges {
    /// May send anywhere and make every kernel call.
    pub const ALL: Privileges = Privileges {
        send_to: u64::MAX,
        calls: u64::MAX,
        servers: false,
    };

    /// A plain user process: may send only to the user-facing servers and
    /// make only the kernel calls in `abi::USER_CALLS`.
    pub const fn user() -> Self {
        Self {
            send_to: 0,
            calls: abi::USER_CALLS,
            servers: true,
        }
    }

    /// Whether sending to `slot` is allowed.
    pub fn may_send(&self, slot: usize) -> bool {
        slot < 64 && self.send_to & (1 << slot) != 0
    }

    /// Whether kernel call `n` is allowed.
    pub fn may_call(&self, n: u32) -> bool {
        n < 64 && self.calls & (1 << n) != 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Ready,
    /// Blocked in send (or the send half of sendrec when `then_receive`).
    Sending {
        to: usize,
        msg: Message,
        then_receive: bool,
    },
    Receiving(Source),
}

#[derive(Debug)]
struct Proc {
    ep: Endpoint,
    state: State,
    privileges: Privileges,
    /// Slots blocked sending to this process, oldest first.
    senders: VecDeque<usize>,
    /// Bit `s`: slot `s` notified this process and it has not received it.
    pending: u64,
    /// Asynchronous messages waiting for this process: (sender slot,
    /// stamped message, is a request), oldest first. Bounces come from
    /// slot 0.
    async_in: VecDeque<(usize, Message, bool)>,
    /// Requests received and not yet answered, oldest first (at most
    /// [`MAX_OWED_REPLIES`]).
    owed: VecDeque<Owed>,
}

/// One answer a process owes.
#[derive(Clone, Copy, Debug)]
struct Owed {
    /// The requester's slot and endpoint (the record is dropped when the
    /// requester dies, so the slot always names that endpoint).
    requester: usize,
    /// The bounce it gets if the owing process dies (`None` for a
    /// `sendrec`, whose caller is woken with `DeadPeer` instead).
    bounce: Option<Message>,
}

/// How a delivered message was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// No answer owed.
    Plain,
    /// `senda_request`: an answer owed, bounced if never given.
    Request,
    /// `sendrec`: an answer owed; the blocked caller covers a death.
    SyncRequest,
}

/// The IPC state of every slot. The kernel keeps it in step with the
/// process table (`add` when a process starts, `remove` when it dies).
#[derive(Debug)]
pub struct Ipc {
    procs: Vec<Option<Proc>>,
    /// Slots of the user-facing servers (plain users may send there).
    server_slots: u64,
}

impl Default for Ipc {
    fn default() -> Self {
        Self::new()
    }
}

impl Ipc {
    /// No processes.
    pub fn new() -> Self {
        let mut procs = Vec::with_capacity(NR_PROCS);
        procs.resize_with(NR_PROCS, || None);
        Self {
            procs,
            server_slots: 0,
        }
    }

    /// Sets the slots plain users ([`Privileges::servers`]) may send to.
    pub fn set_server_slots(&mut self, slots: u64) {
        self.server_slots = slots;
    }

    /// Whom `slot` is blocked on in IPC: the destination of a send (or of
    /// the send half of a sendrec), or the source a receive waits for.
    /// `None` when it is not blocked.
    pub fn blocked_on(&self, slot: usize) -> Option<Source> {
        match self.proc(slot).ok()?.state {
            State::Ready => None,
            State::Sending { to, .. } => Some(Source::Ep(self.proc(to).ok()?.ep)),
            State::Receiving(src) => Some(src),
        }
    }

    /// Registers the process `ep` (in slot `ep.slot()`).
    pub fn add(&mut self, ep: Endpoint, privileges: Privileges) -> Result<(), IpcError> {
        let slot = self.procs.get_mut(ep.slot()).ok_or(IpcError::BadEndpoint)?;
        *slot = Some(Proc {
            ep,
            state: State::Ready,
            privileges,
            senders: VecDeque::new(),
            pending: 0,
            async_in: VecDeque::new(),
            owed: VecDeque::new(),
        });
        Ok(())
    }

    /// Replaces a process's privileges.
    pub fn set_privileges(&mut self, slot: usize, p: Privileges) -> Result<(), IpcError> {
        self.proc_mut(slot)?.privileges = p;
        Ok(())
    }

    /// The privileges of `slot`.
    pub fn privileges(&self, slot: usize) -> Option<Privileges> {
        self.proc(slot).ok().map(|p| p.privileges)
    }

    /// True when `slot` is blocked in IPC.
    pub fn is_blocked(&self, slot: usize) -> bool {
        self.proc(slot).is_ok_and(|p| p.state != State::Ready)
    }

    /// Abandons `slot`'s blocked send, sendrec or receive (the process is
    /// being started afresh by `SetEntry`): it leaves its receiver's queue
    /// and is ready again. Returns whether it was blocked.
    pub fn cancel(&mut self, slot: usize) -> Result<bool, IpcError> {
        let state = core::mem::replace(&mut self.proc_mut(slot)?.state, State::Ready);
        if let State::Sending { to, .. } = state
            && let Ok(dest) = self.proc_mut(to)
        {
            dest.senders.retain(|&s| s != slot);
        }
        Ok(state != State::Ready)
    }

    fn proc(&self, slot: usize) -> Result<&Proc, IpcError> {
        self.procs
            .get(slot)
            .and_then(Option::as_ref)
            .ok_or(IpcError::BadEndpoint)
    }

    fn proc_mut(&mut self, slot: usize) -> Result<&mut Proc, IpcError> {
        self.procs
            .get_mut(slot)
            .and_then(Option::as_mut)
            .ok_or(IpcError::BadEndpoint)
    }

    /// Resolves a live endpoint to its slot.
    fn resolve(&self, ep: Endpoint) -> Result<usize, IpcError> {
        let slot = ep.slot();
        match self.procs.get(slot) {
            None => Err(IpcError::BadEndpoint),
            Some(None) => Err(IpcError::DeadPeer { now: None }),
            Some(Some(p)) if p.ep != ep => Err(IpcError::DeadPeer { now: Some(p.ep) }),
            Some(Some(_)) => Ok(slot),
        }
    }

    fn accepts(&self, receiver: usize, sender: usize) -> bool {
        let (Ok(r), Ok(s)) = (self.proc(receiver), self.proc(sender)) else {
            return false;
        };
        match r.state {
            State::Receiving(Source::Any) => true,
            State::Receiving(Source::Ep(e)) => e == s.ep,
            _ => false,
        }
    }

    /// Checks the destination of a send from `caller`.
    fn check_dest(&self, caller: usize, to: Endpoint) -> Result<usize, IpcError> {
        let me = self.proc(caller)?;
        if to.slot() >= self.procs.len() || to.slot() == caller {
            return Err(IpcError::BadEndpoint);
        }
        // Privileges first, so a process cannot probe which of the
        // endpoints it may not use are alive.
        let server = me.privileges.servers && self.server_slots & (1u64 << to.slot()) != 0;
        if !me.privileges.may_send(to.slot()) && !server {
            return Err(IpcError::Denied);
        }
        self.resolve(to)
    }

    /// Would `caller` blocking on `dest` close a cycle?
    fn would_deadlock(&self, caller: usize, dest: usize) -> bool {
        let mut cur = dest;
        for _ in 0..NR_PROCS {
            let next = match self.proc(cur).map(|p| p.state) {
                Ok(State::Sending { to, .. }) => to,
                Ok(State::Receiving(Source::Ep(e))) => e.slot(),
                _ => return false,
            };
            if next == caller {
                return true;
            }
            cur = next;
        }
        false
    }

    /// Blocking send of `msg` to `to`.
    pub fn send(
        &mut self,
        caller: usize,
        to: Endpoint,
        msg: Message,
        wakes: &mut Vec<Wake>,
    ) -> Result<Completion, IpcError> {
        self.do_send(caller, to, msg, false, false, wakes)
    }

    /// Non-blocking send: fails with `NotReady` unless `to` is waiting.
    pub fn sendnb(
        &mut self,
        caller: usize,
        to: Endpoint,
        msg: Message,
        wakes: &mut Vec<Wake>,
    ) -> Result<Completion, IpcError> {
        self.do_send(caller, to, msg, false, true, wakes)
    }

    /// Send, then receive the reply from the same endpoint. Completes (with
    /// the reply) only through a later [`Wake`].
    pub fn sendrec(
        &mut self,
        caller: usize,
        to: Endpoint,
        msg: Message,
        wakes: &mut Vec<Wake>,
    ) -> Result<Completion, IpcError> {
        self.do_send(caller, to, msg, true, false, wakes)
    }

    /// Asynchronous send: delivered now if `to` waits for the caller,
    /// otherwise queued on `to` (`NotReady` when its queue is full).
    pub fn senda(
        &mut self,
        caller: usize,
        to: Endpoint,
        msg: Message,
        wakes: &mut Vec<Wake>,
    ) -> Result<Completion, IpcError> {
        self.senda_kind(caller, to, msg, false, wakes)
    }

    /// Asynchronous request: a [`Ipc::senda`] whose receiver, once it has
    /// the message, owes the caller one answer (see the module rules).
    /// `NotReady` also when `to` already owes [`MAX_OWED_REPLIES`] answers
    /// (counting requests queued for it).
    pub fn senda_request(
        &mut self,
        caller: usize,
        to: Endpoint,
        msg: Message,
        wakes: &mut Vec<Wake>,
    ) -> Result<Completion, IpcError> {
        self.senda_kind(caller, to, msg, true, wakes)
    }

    fn senda_kind(
        &mut self,
        caller: usize,
        to: Endpoint,
        mut msg: Message,
        request: bool,
        wakes: &mut Vec<Wake>,
    ) -> Result<Completion, IpcError> {
        let dest = self.check_dest(caller, to)?;
        if request && self.owed_load(dest)? >= MAX_OWED_REPLIES {
            return Err(IpcError::NotReady);
        }
        stamp(&mut msg, self.proc(caller)?.ep);
        self.deliver_async(dest, caller, msg, request, wakes)
    }

    /// Answers to asynchronous requests `dest` owes or will owe once it
    /// receives its queued requests. `sendrec` callers it has not answered
    /// do not count: their records make room for requests (see
    /// `delivered`), so any number of processes may wait on a server (in
    /// PM's `wait`, or an `exec` PM answers by restarting the caller)
    /// without shutting out the services that send it requests.
    fn owed_load(&self, dest: usize) -> Result<usize, IpcError> {
        let p = self.proc(dest)?;
        let requests = p.owed.iter().filter(|o| o.bounce.is_some()).count();
        Ok(requests + p.async_in.iter().filter(|(_, _, r)| *r).count())
    }

    fn deliver_async(
        &mut self,
        dest: usize,
        from: usize,
        msg: Message,
        request: bool,
        wakes: &mut Vec<Wake>,
    ) -> Result<Completion, IpcError> {
        if self.accepts_slot(dest, from) {
            self.proc_mut(dest)?.state = State::Ready;
            wakes.push(Wake {
                slot: dest,
                result: Ok(Some(msg)),
            });
            let kind = if request { Kind::Request } else { Kind::Plain };
            self.delivered(from, dest, &msg, kind);
            return Ok(Completion::Sent);
        }
        // Bounces from SYSTEM may use room beyond the normal bound, so a
        // requester with many requests out still learns of each death.
        let room = if from == SYSTEM_SLOT {
            MAX_ASYNC_QUEUE + MAX_OWED_REPLIES
        } else {
            MAX_ASYNC_QUEUE
        };
        let q = &mut self.proc_mut(dest)?.async_in;
        if q.len() >= room {
            return Err(IpcError::NotReady);
        }
        q.push_back((from, msg, request));
        Ok(Completion::Sent)
    }

    /// Bookkeeping of owed answers when `msg` from `from` reaches `to`:
    /// it answers the oldest request `to` made of `from`, and a request
    /// makes `to` owe `from` an answer.
    fn delivered(&mut self, from: usize, to: usize, msg: &Message, kind: Kind) {
        if from == SYSTEM_SLOT {
            return;
        }
        if let Ok(f) = self.proc_mut(from)
            && let Some(pos) = f.owed.iter().position(|o| o.requester == to)
        {
            f.owed.remove(pos);
        }
        if kind == Kind::Plain {
            return;
        }
        let Ok(dest_ep) = self.proc(to).map(|p| p.ep) else {
            return;
        };
        let Ok(t) = self.proc_mut(to) else { return };
        if t.owed.len() >= MAX_OWED_REPLIES {
            // Admission keeps room for every request (`owed_load`); only
            // `sendrec` records can fill it, and those are covered by the
            // caller's wake-up, so the oldest of them makes room. With
            // none (not reachable) the new record is not kept.
            match t.owed.iter().position(|o| o.bounce.is_none()) {
                Some(pos) => {
                    t.owed.remove(pos);
                }
                None => return,
            }
        }
        t.owed.push_back(Owed {
            requester: from,
            bounce: (kind == Kind::Request).then(|| dead_peer_bounce(dest_ep, msg)),
        });
    }

    /// Like `accepts`, by sender slot (which may be a kernel task).
    fn accepts_slot(&self, receiver: usize, sender: usize) -> bool {
        let Ok(r) = self.proc(receiver) else {
            return false;
        };
        match r.state {
            State::Receiving(Source::Any) => true,
            State::Receiving(Source::Ep(e)) => {
                e.slot() == sender && self.proc(sender).is_ok_and(|s| s.ep == e)
            }
            _ => false,
        }
    }

    fn do_send(
        &mut self,
        caller: usize,
        to: Endpoint,
        mut msg: Message,
        then_receive: bool,
        nonblocking: bool,
        wakes: &mut Vec<Wake>,
    ) -> Result<Completion, IpcError> {
        let dest = self.check_dest(caller, to)?;
        let me = self.proc(caller)?.ep;
        stamp(&mut msg, me);
        if self.accepts(dest, caller) {
            self.proc_mut(dest)?.state = State::Ready;
            wakes.push(Wake {
                slot: dest,
                result: Ok(Some(msg)),
            });
            let kind = if then_receive {
                Kind::SyncRequest
            } else {
                Kind::Plain
            };
            self.delivered(caller, dest, &msg, kind);
            if then_receive {
                self.proc_mut(caller)?.state = State::Receiving(Source::Ep(to));
                return Ok(Completion::Blocked);
            }
            return Ok(Completion::Sent);
        }
        if nonblocking {
            return Err(IpcError::NotReady);
        }
        if self.would_deadlock(caller, dest) {
            return Err(IpcError::Deadlock);
        }
        self.proc_mut(caller)?.state = State::Sending {
            to: dest,
            msg,
            then_receive,
        };
        self.proc_mut(dest)?.senders.push_back(caller);
        Ok(Completion::Blocked)
    }

    /// Receive from `from`. `now` stamps a delivered notification.
    pub fn receive(
        &mut self,
        caller: usize,
        from: Source,
        now: u64,
        wakes: &mut Vec<Wake>,
    ) -> Result<Completion, IpcError> {
        let want = match from {
            Source::Any => None,
            Source::Ep(ep) => Some(self.resolve(ep)?),
        };
        // Pending notifications first (lowest slot first).
        let pending = self.proc(caller)?.pending;
        let mask = want.map_or(u64::MAX, |s| 1u64 << s);
        if pending & mask != 0 {
            let src = (pending & mask).trailing_zeros() as usize;
            let src_ep = self.proc(src).map(|p| p.ep).unwrap_or(Endpoint(u32::MAX));
            self.proc_mut(caller)?.pending &= !(1 << src);
            return Ok(Completion::Received(notification(src_ep, now, pending)));
        }
        // Then the oldest matching blocked sender.
        let senders = &self.proc(caller)?.senders;
        let pos = senders.iter().position(|&s| want.is_none_or(|w| w == s));
        if let Some(pos) = pos {
            let me = self.proc(caller)?.ep;
            let sender = self
                .proc_mut(caller)?
                .senders
                .remove(pos)
                .expect("position is in range");
            let State::Sending {
                msg, then_receive, ..
            } = self.proc(sender)?.state
            else {
                // Queue and states are updated together; a queued slot is
                // always sending.
                return Err(IpcError::BadEndpoint);
            };
            if then_receive {
                self.proc_mut(sender)?.state = State::Receiving(Source::Ep(me));
            } else {
                self.proc_mut(sender)?.state = State::Ready;
                wakes.push(Wake {
                    slot: sender,
                    result: Ok(None),
                });
            }
            let kind = if then_receive {
                Kind::SyncRequest
            } else {
                Kind::Plain
            };
            self.delivered(sender, caller, &msg, kind);
            return Ok(Completion::Received(msg));
        }
        // Then the oldest matching asynchronous message.
        let q = &self.proc(caller)?.async_in;
        if let Some(pos) = q.iter().position(|(s, _, _)| want.is_none_or(|w| w == *s)) {
            let (from, msg, request) = self
                .proc_mut(caller)?
                .async_in
                .remove(pos)
                .expect("position is in range");
            let kind = if request { Kind::Request } else { Kind::Plain };
            self.delivered(from, caller, &msg, kind);
            return Ok(Completion::Received(msg));
        }
        self.proc_mut(caller)?.state = State::Receiving(from);
        Ok(Completion::Blocked)
    }

    /// Non-blocking notification of `to`: delivered at once if `to` waits
    /// for the caller, otherwise recorded as a pending bit (coalesced).
    pub fn notify(
        &mut self,
        caller: usize,
        to: Endpoint,
        now: u64,
        wakes: &mut Vec<Wake>,
    ) -> Result<(), IpcError> {
        let dest = self.check_dest(caller, to)?;
        let me = self.proc(caller)?.ep;
        let bit = 1u64 << caller;
        if self.accepts(dest, caller) {
            let pending = self.proc(dest)?.pending | bit;
            self.proc_mut(dest)?.state = State::Ready;
            wakes.push(Wake {
                slot: dest,
                result: Ok(Some(notification(me, now, pending))),
            });
        } else {
            self.proc_mut(dest)?.pending |= bit;
        }
        Ok(())
    }

    /// Removes the process in `slot` (it died or was killed): everyone
    /// blocked on it wakes with `DeadPeer`, its queued sends vanish, its
    /// pending notifications to others are dropped, and every request it
    /// had not received or not answered bounces to its sender.
    pub fn remove(&mut self, slot: usize, wakes: &mut Vec<Wake>) -> Result<(), IpcError> {
        let dead = self.proc(slot)?.ep;
        let (undelivered, owed) = self
            .procs
            .get_mut(slot)
            .and_then(Option::take)
            .map(|p| (p.async_in, p.owed))
            .unwrap_or_default();
        let bit = 1u64 << slot;
        for (i, p) in self.procs.iter_mut().enumerate() {
            let Some(p) = p else { continue };
            p.pending &= !bit;
            p.senders.retain(|&s| s != slot);
            let blocked_on_dead = match p.state {
                State::Sending { to, .. } => to == slot,
                State::Receiving(Source::Ep(e)) => e == dead,
                _ => false,
            };
            if blocked_on_dead {
                p.state = State::Ready;
                wakes.push(Wake {
                    slot: i,
                    result: Err(IpcError::DeadPeer { now: None }),
                });
            }
            // Asynchronous messages from the dead process are dropped (an
            // answer among them leaves its owed record, so it bounces).
            p.async_in.retain(|(s, _, _)| *s != slot);
            // It will never be answered: nothing to bounce to it.
            p.owed.retain(|o| o.requester != slot);
        }
        // Asynchronous messages it never received bounce to their senders,
        // then the requests it received and did not answer.
        let bounces = undelivered
            .into_iter()
            .map(|(sender, msg, _)| (sender, dead_peer_bounce(dead, &msg)))
            .chain(
                owed.into_iter()
                    .filter_map(|o| o.bounce.map(|b| (o.requester, b))),
            );
        for (sender, bounce) in bounces {
            if sender == SYSTEM_SLOT || self.proc(sender).is_err() {
                continue;
            }
            // A full queue (beyond the extra room bounces get) loses the
            // bounce; the sender's own timeout handling covers that.
            let _ = self.deliver_async(sender, SYSTEM_SLOT, bounce, false, wakes);
        }
        Ok(())
    }
}

/// The bounce for `lost`, an asynchronous message to `dead`.
fn dead_peer_bounce(dead: Endpoint, lost: &Message) -> Message {
    let mut head = [0u8; BOUNCE_HEAD];
    head.copy_from_slice(&lost[MSG_PAYLOAD_OFFSET..MSG_PAYLOAD_OFFSET + BOUNCE_HEAD]);
    let payload = DeadPeerPayload {
        dead: U32::new(dead.0),
        new: U32::new(ENDPOINT_NONE),
        mtype: U32::new(type_of(lost)),
        head,
    };
    let mut m = message(DEAD_PEER_MTYPE, payload.as_bytes());
    stamp(&mut m, Endpoint::new(SYSTEM_SLOT as u16, 0));
    m
}

fn notification(source: Endpoint, now: u64, pending: u64) -> Message {
    let payload = NotifyPayload {
        time: U64::new(now),
        pending: U64::new(pending),
    };
    let mut m = message(NOTIFY_MTYPE, payload.as_bytes());
    stamp(&mut m, source);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(slot: u16) -> Endpoint {
        Endpoint::new(slot, 0)
    }

    /// An IPC table with `n` fully privileged processes in slots 0..n.
    fn table(n: u16) -> Ipc {
        let mut ipc = Ipc::new();
        for s in 0..n {
            ipc.add(ep(s), Privileges::ALL).unwrap();
        }
        ipc
    }

    fn msg(t: u32, byte: u8) -> Message {
        message(t, &[byte; 56])
    }

    /// `m` as `source:type:payload` hex, trailing zero payload bytes
    /// dropped.
    fn hex(m: &Message) -> String {
        let n = m.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1).max(8);
        let h: String = m[..n].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}:{}:{}", &h[..8], &h[8..16], &h[16..])
    }

    /// The kernel's own messages byte for byte: a notification and a
    /// dead-peer bounce (layouts in `abi`; `sys::proto::kernel` decodes
    /// them).
    #[test]
    fn kernel_messages_golden_bytes() {
        let mut lost = message(0x777, &core::array::from_fn::<u8, 56, _>(|i| i as u8));
        stamp(&mut lost, ep(3));
        assert_eq!(
            hex(&notification(
                Endpoint::new(1, 0),
                0x1122_3344_5566_7788,
                0b101
            )),
            "01000000:00010000:887766554433221105"
        );
        assert_eq!(
            hex(&dead_peer_bounce(Endpoint::new(6, 1), &lost)),
            "00000000:01010000:06000100feffffff77070000\
             000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
             202122232425262728292a2b"
        );
    }

    #[test]
    fn ping_pong_with_sendrec() {
        let mut ipc = table(2);
        let mut w = Vec::new();
        // Server 1 waits; client 0 sendrecs.
        assert_eq!(
            ipc.receive(1, Source::Any, 0, &mut w),
            Ok(Completion::Blocked)
        );
        assert_eq!(
            ipc.sendrec(0, ep(1), msg(7, 0xaa), &mut w),
            Ok(Completion::Blocked)
        );
        let delivered = w.pop().unwrap();
        assert_eq!(delivered.slot, 1);
        let req = delivered.result.unwrap().unwrap();
        assert_eq!(source_of(&req), ep(0), "source stamped by the kernel");
        assert_eq!(type_of(&req), 7);
        assert_eq!(req[8..], [0xaa; 56]);
        // The reply wakes the client with the reply message.
        assert_eq!(
            ipc.send(1, ep(0), msg(8, 0x55), &mut w),
            Ok(Completion::Sent)
        );
        let reply = w.pop().unwrap();
        assert_eq!(reply.slot, 0);
        let r = reply.result.unwrap().unwrap();
        assert_eq!((type_of(&r), source_of(&r), r[63]), (8, ep(1), 0x55));
        assert!(!ipc.is_blocked(0) && !ipc.is_blocked(1));
    }

    #[test]
    fn cancelled_send_is_never_delivered() {
        let mut ipc = table(3);
        let mut w = Vec::new();
        assert_eq!(
            ipc.sendrec(0, ep(2), msg(1, 1), &mut w),
            Ok(Completion::Blocked)
        );
        assert_eq!(
            ipc.send(1, ep(2), msg(2, 2), &mut w),
            Ok(Completion::Blocked)
        );
        assert_eq!(ipc.cancel(0), Ok(true));
        assert_eq!(ipc.cancel(0), Ok(false));
        assert!(!ipc.is_blocked(0));
        // The receiver sees only the sender that is still waiting.
        let got = ipc.receive(2, Source::Any, 0, &mut w);
        let Ok(Completion::Received(m)) = got else {
            panic!("expected a message, got {got:?}");
        };
        assert_eq!(type_of(&m), 2);
        assert_eq!(
            ipc.receive(2, Source::Any, 0, &mut w),
            Ok(Completion::Blocked)
        );
        // A cancelled receive no longer takes messages.
        assert_eq!(ipc.cancel(2), Ok(true));
        assert_eq!(
            ipc.sendnb(0, ep(2), msg(3, 3), &mut w),
            Err(IpcError::NotReady)
        );
        assert_eq!(ipc.cancel(9), Err(IpcError::BadEndpoint));
    }

    #[test]
    fn queued_senders_are_received_in_order() {
        let mut ipc = table(3);
        let mut w = Vec::new();
        assert_eq!(
            ipc.send(0, ep(2), msg(1, 0), &mut w),
            Ok(Completion::Blocked)
        );
        assert_eq!(
            ipc.send(1, ep(2), msg(2, 0), &mut w),
            Ok(Completion::Blocked)
        );
        let Ok(Completion::Received(m)) = ipc.receive(2, Source::Any, 0, &mut w) else {
            panic!()
        };
        assert_eq!(type_of(&m), 1);
        assert_eq!(
            w.pop(),
            Some(Wake {
                slot: 0,
                result: Ok(None)
            })
        );
        let Ok(Completion::Received(m)) = ipc.receive(2, Source::Any, 0, &mut w) else {
            panic!()
        };
        assert_eq!(type_of(&m), 2);
    }

    #[test]
    fn receive_from_a_specific_endpoint() {
        let mut ipc = table(3);
        let mut w = Vec::new();
        ipc.send(0, ep(2), msg(1, 0), &mut w).unwrap();
        ipc.send(1, ep(2), msg(2, 0), &mut w).unwrap();
        let Ok(Completion::Received(m)) = ipc.receive(2, Source::Ep(ep(1)), 0, &mut w) else {
            panic!()
        };
        assert_eq!(source_of(&m), ep(1));
        // Waiting for 1 again: 0's queued message does not satisfy it.
        assert_eq!(
            ipc.receive(2, Source::Ep(ep(1)), 0, &mut w),
            Ok(Completion::Blocked)
        );
        // A direct send from 0 while 2 waits for 1 also queues.
        assert!(ipc.is_blocked(0));
    }

    #[test]
    fn sendnb_to_busy_peer_fails() {
        let mut ipc = table(2);
        let mut w = Vec::new();
        assert_eq!(
            ipc.sendnb(0, ep(1), msg(1, 0), &mut w),
            Err(IpcError::NotReady)
        );
        assert!(!ipc.is_blocked(0));
        ipc.receive(1, Source::Any, 0, &mut w).unwrap();
        assert_eq!(
            ipc.sendnb(0, ep(1), msg(1, 0), &mut w),
            Ok(Completion::Sent)
        );
    }

    #[test]
    fn notifications_coalesce_and_carry_a_bitmap() {
        let mut ipc = table(3);
        let mut w = Vec::new();
        for _ in 0..3 {
            ipc.notify(0, ep(2), 10, &mut w).unwrap();
        }
        ipc.notify(1, ep(2), 11, &mut w).unwrap();
        assert!(w.is_empty(), "notify never blocks and 2 was not waiting");
        let Ok(Completion::Received(m)) = ipc.receive(2, Source::Any, 42, &mut w) else {
            panic!()
        };
        assert_eq!((type_of(&m), source_of(&m)), (NOTIFY_MTYPE, ep(0)));
        assert_eq!(payload_u64(&m, 0), 42);
        assert_eq!(payload_u64(&m, 8), 0b11);
        let Ok(Completion::Received(m)) = ipc.receive(2, Source::Any, 43, &mut w) else {
            panic!()
        };
        assert_eq!(source_of(&m), ep(1));
        // Three notifies from 0 coalesced into one message.
        assert_eq!(
            ipc.receive(2, Source::Any, 44, &mut w),
            Ok(Completion::Blocked)
        );
        // Waiting receiver gets a notification at once.
        ipc.notify(0, ep(2), 50, &mut w).unwrap();
        let wake = w.pop().unwrap();
        let m = wake.result.unwrap().unwrap();
        assert_eq!(
            (wake.slot, type_of(&m), payload_u64(&m, 0)),
            (2, NOTIFY_MTYPE, 50)
        );
    }

    #[test]
    fn notification_before_queued_message() {
        let mut ipc = table(3);
        let mut w = Vec::new();
        ipc.send(0, ep(2), msg(5, 0), &mut w).unwrap();
        ipc.notify(1, ep(2), 1, &mut w).unwrap();
        let Ok(Completion::Received(m)) = ipc.receive(2, Source::Any, 1, &mut w) else {
            panic!()
        };
        assert_eq!(type_of(&m), NOTIFY_MTYPE);
        let Ok(Completion::Received(m)) = ipc.receive(2, Source::Any, 1, &mut w) else {
            panic!()
        };
        assert_eq!(type_of(&m), 5);
    }

    #[test]
    fn sendrec_cycle_is_detected() {
        let mut ipc = table(3);
        let mut w = Vec::new();
        assert_eq!(
            ipc.sendrec(0, ep(1), msg(1, 0), &mut w),
            Ok(Completion::Blocked)
        );
        assert_eq!(
            ipc.sendrec(1, ep(2), msg(1, 0), &mut w),
            Ok(Completion::Blocked)
        );
        assert_eq!(
            ipc.sendrec(2, ep(0), msg(1, 0), &mut w),
            Err(IpcError::Deadlock)
        );
        assert!(!ipc.is_blocked(2), "the refused caller is not blocked");
        // Two-party cycle.
        let mut ipc = table(2);
        ipc.sendrec(0, ep(1), msg(1, 0), &mut w).unwrap();
        assert_eq!(
            ipc.sendrec(1, ep(0), msg(1, 0), &mut w),
            Err(IpcError::Deadlock)
        );
    }

    #[test]
    fn privileges_deny_sends_and_notifies() {
        let mut ipc = table(3);
        let mut w = Vec::new();
        let only_1 = Privileges {
            send_to: 1 << 1,
            calls: 0,
            servers: false,
        };
        ipc.set_privileges(0, only_1).unwrap();
        assert_eq!(ipc.send(0, ep(2), msg(1, 0), &mut w), Err(IpcError::Denied));
        assert_eq!(ipc.notify(0, ep(2), 0, &mut w), Err(IpcError::Denied));
        // Denied even when the endpoint is dead: liveness is not revealed.
        ipc.remove(2, &mut w).unwrap();
        assert_eq!(ipc.send(0, ep(2), msg(1, 0), &mut w), Err(IpcError::Denied));
        assert_eq!(
            ipc.send(0, ep(1), msg(1, 0), &mut w),
            Ok(Completion::Blocked)
        );
        let p = ipc.privileges(0).unwrap();
        assert!(!p.may_call(3) && Privileges::ALL.may_call(3) && !Privileges::ALL.may_call(64));
    }

    #[test]
    fn plain_users_reach_the_current_server_slots() {
        let mut ipc = table(4);
        let mut w = Vec::new();
        ipc.set_privileges(0, Privileges::user()).unwrap();
        assert_eq!(ipc.notify(0, ep(2), 0, &mut w), Err(IpcError::Denied));
        // A server appears in slot 2 (say RS started PM): reachable now.
        ipc.set_server_slots(1 << 2);
        assert_eq!(ipc.notify(0, ep(2), 0, &mut w), Ok(()));
        assert_eq!(ipc.notify(0, ep(3), 0, &mut w), Err(IpcError::Denied));
        // Moved to slot 3: slot 2 is out of reach again.
        ipc.set_server_slots(1 << 3);
        assert_eq!(ipc.notify(0, ep(2), 0, &mut w), Err(IpcError::Denied));
        assert_eq!(ipc.notify(0, ep(3), 0, &mut w), Ok(()));
        // Others never use the server set.
        ipc.set_privileges(
            1,
            Privileges {
                send_to: 0,
                calls: 0,
                servers: false,
            },
        )
        .unwrap();
        assert_eq!(ipc.notify(1, ep(3), 0, &mut w), Err(IpcError::Denied));
        let u = Privileges::user();
        assert!(u.may_call(abi::Syscall::MemStats as u32));
        assert!(u.may_call(abi::Syscall::GrantCreate as u32));
        assert!(!u.may_call(abi::Syscall::SafeCopyTo as u32));
        assert!(!u.may_call(abi::Syscall::ProcFork as u32));
    }

    #[test]
    fn blocked_on_names_the_peer() {
        let mut ipc = table(4);
        let mut w = Vec::new();
        assert_eq!(ipc.blocked_on(0), None);
        ipc.sendrec(0, ep(3), msg(1, 0), &mut w).unwrap();
        assert_eq!(ipc.blocked_on(0), Some(Source::Ep(ep(3))));
        ipc.receive(1, Source::Any, 0, &mut w).unwrap();
        assert_eq!(ipc.blocked_on(1), Some(Source::Any));
        ipc.receive(2, Source::Ep(ep(0)), 0, &mut w).unwrap();
        assert_eq!(ipc.blocked_on(2), Some(Source::Ep(ep(0))));
        // The sendrec's receive half waits for the server.
        assert!(matches!(
            ipc.receive(3, Source::Any, 0, &mut w),
            Ok(Completion::Received(_))
        ));
        assert_eq!(ipc.blocked_on(0), Some(Source::Ep(ep(3))));
        assert_eq!(ipc.cancel(0), Ok(true));
        assert_eq!(ipc.blocked_on(0), None);
        assert_eq!(ipc.blocked_on(40), None);
    }

    #[test]
    fn death_wakes_blocked_peers_with_dead_peer() {
        let mut ipc = table(4);
        let mut w = Vec::new();
        ipc.sendrec(0, ep(3), msg(1, 0), &mut w).unwrap(); // queued on 3
        ipc.receive(1, Source::Ep(ep(3)), 0, &mut w).unwrap(); // waits for 3
        ipc.receive(2, Source::Any, 0, &mut w).unwrap(); // unrelated
        ipc.notify(3, ep(1), 0, &mut w).unwrap_or(()); // 1 waits for 3: delivered
        assert_eq!(w.len(), 1);
        w.clear();
        ipc.receive(1, Source::Ep(ep(3)), 0, &mut w).unwrap();
        ipc.remove(3, &mut w).unwrap();
        let mut slots: Vec<_> = w.iter().map(|x| (x.slot, x.result)).collect();
        slots.sort_by_key(|x| x.0);
        assert_eq!(
            slots,
            [
                (0, Err(IpcError::DeadPeer { now: None })),
                (1, Err(IpcError::DeadPeer { now: None }))
            ]
        );
        assert!(ipc.is_blocked(2));
        // Sending to the dead endpoint fails; after a restart in the same
        // slot the error names the new endpoint.
        assert_eq!(
            ipc.send(0, ep(3), msg(1, 0), &mut w),
            Err(IpcError::DeadPeer { now: None })
        );
        ipc.add(Endpoint::new(3, 1), Privileges::ALL).unwrap();
        assert_eq!(
            ipc.send(0, ep(3), msg(1, 0), &mut w),
            Err(IpcError::DeadPeer {
                now: Some(Endpoint::new(3, 1))
            })
        );
        assert_eq!(
            ipc.send(0, Endpoint::new(3, 1), msg(1, 0), &mut w),
            Ok(Completion::Blocked)
        );
    }

    #[test]
    fn dead_sender_leaves_no_queued_message_or_notification() {
        let mut ipc = table(3);
        let mut w = Vec::new();
        ipc.send(0, ep(2), msg(1, 0), &mut w).unwrap();
        ipc.notify(1, ep(2), 0, &mut w).unwrap();
        ipc.remove(0, &mut w).unwrap();
        ipc.remove(1, &mut w).unwrap();
        assert!(w.is_empty());
        assert_eq!(
            ipc.receive(2, Source::Any, 0, &mut w),
            Ok(Completion::Blocked)
        );
    }

    #[test]
    fn senda_queues_without_blocking_and_is_received_in_order() {
        let mut ipc = table(3);
        let mut w = Vec::new();
        assert_eq!(ipc.senda(1, ep(2), msg(1, 0), &mut w), Ok(Completion::Sent));
        assert_eq!(ipc.senda(1, ep(2), msg(2, 0), &mut w), Ok(Completion::Sent));
        assert!(!ipc.is_blocked(1) && w.is_empty());
        // A blocked synchronous sender goes before queued async messages.
        ipc.send(0, ep(2), msg(9, 0), &mut w).unwrap();
        let types: Vec<u32> = (0..3)
            .map(|_| match ipc.receive(2, Source::Any, 0, &mut w) {
                Ok(Completion::Received(m)) => type_of(&m),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(types, [9, 1, 2]);
        // A waiting receiver gets it at once.
        ipc.receive(2, Source::Any, 0, &mut w).unwrap();
        w.clear();
        ipc.senda(1, ep(2), msg(3, 0), &mut w).unwrap();
        assert_eq!(w[0].slot, 2);
        // The queue is bounded.
        for _ in 0..MAX_ASYNC_QUEUE {
            ipc.senda(1, ep(2), msg(4, 0), &mut w).unwrap();
        }
        assert_eq!(
            ipc.senda(1, ep(2), msg(4, 0), &mut w),
            Err(IpcError::NotReady)
        );
    }

    #[test]
    fn senda_to_a_dying_receiver_bounces() {
        let mut ipc = table(4);
        let mut w = Vec::new();
        let mut lost = msg(0x42, 0);
        lost[8..16].copy_from_slice(&77u64.to_le_bytes()); // request id
        ipc.senda(2, ep(3), lost, &mut w).unwrap();
        ipc.remove(3, &mut w).unwrap();
        assert!(w.is_empty(), "sender 2 was not waiting");
        let Ok(Completion::Received(b)) = ipc.receive(2, Source::Any, 0, &mut w) else {
            panic!("no bounce")
        };
        assert_eq!((type_of(&b), source_of(&b)), (DEAD_PEER_MTYPE, ep(0)));
        assert_eq!(payload_u64(&b, 0) as u32, ep(3).0, "dead endpoint");
        assert_eq!((payload_u64(&b, 0) >> 32) as u32, ENDPOINT_NONE);
        assert_eq!(payload_u64(&b, 8) as u32, 0x42, "lost message type");
        assert_eq!(payload_u64(&b, 12), 77, "request id in the head");
        // A sender waiting in receive gets the bounce at once.
        ipc.senda(1, ep(2), msg(1, 0), &mut w).unwrap(); // 2 not waiting: queued
        ipc.receive(1, Source::Any, 0, &mut w).unwrap();
        w.clear();
        ipc.remove(2, &mut w).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(type_of(&w[0].result.unwrap().unwrap()), DEAD_PEER_MTYPE);
    }

    /// Receives one message for `slot` at once (panics otherwise).
    fn recv(ipc: &mut Ipc, slot: usize) -> Message {
        let mut w = Vec::new();
        match ipc.receive(slot, Source::Any, 0, &mut w) {
            Ok(Completion::Received(m)) => m,
            other => panic!("slot {slot}: {other:?}"),
        }
    }

    fn request_with_id(id: u64) -> Message {
        let mut m = msg(0x42, 0);
        m[8..16].copy_from_slice(&id.to_le_bytes());
        m
    }

    #[test]
    fn received_request_bounces_when_the_receiver_dies_unanswered() {
        let mut ipc = table(4);
        let mut w = Vec::new();
        ipc.senda_request(2, ep(3), request_with_id(77), &mut w)
            .unwrap();
        // A plain senda received and left unanswered does not bounce.
        ipc.senda(2, ep(3), msg(0x43, 0), &mut w).unwrap();
        assert_eq!(type_of(&recv(&mut ipc, 3)), 0x42);
        assert_eq!(type_of(&recv(&mut ipc, 3)), 0x43);
        // A notification back is no answer.
        ipc.notify(3, ep(2), 0, &mut w).unwrap();
        assert_eq!(type_of(&recv(&mut ipc, 2)), NOTIFY_MTYPE);
        ipc.remove(3, &mut w).unwrap();
        let b = recv(&mut ipc, 2);
        assert_eq!((type_of(&b), source_of(&b)), (DEAD_PEER_MTYPE, ep(0)));
        assert_eq!(payload_u64(&b, 0) as u32, ep(3).0, "dead endpoint");
        assert_eq!(payload_u64(&b, 8) as u32, 0x42, "lost request type");
        assert_eq!(payload_u64(&b, 12), 77, "request id in the head");
        // Exactly one bounce.
        assert_eq!(
            ipc.receive(2, Source::Any, 0, &mut w),
            Ok(Completion::Blocked)
        );
    }

    #[test]
    fn any_send_back_answers_the_oldest_request() {
        // Each kind of send from the owing process clears one record.
        for how in 0..4 {
            let mut ipc = table(4);
            let mut w = Vec::new();
            ipc.senda_request(2, ep(3), request_with_id(1), &mut w)
                .unwrap();
            ipc.senda_request(2, ep(3), request_with_id(2), &mut w)
                .unwrap();
            recv(&mut ipc, 3);
            recv(&mut ipc, 3);
            // 2 waits, so even sendnb gets through.
            ipc.receive(2, Source::Any, 0, &mut w).unwrap();
            let r = match how {
                0 => ipc.send(3, ep(2), msg(9, 0), &mut w),
                1 => ipc.sendnb(3, ep(2), msg(9, 0), &mut w),
                2 => ipc.senda(3, ep(2), msg(9, 0), &mut w),
                _ => ipc.senda_request(3, ep(2), msg(9, 0), &mut w),
            };
            assert_eq!(r, Ok(Completion::Sent), "kind {how}");
            w.clear();
            ipc.remove(3, &mut w).unwrap();
            let b = recv(&mut ipc, 2);
            assert_eq!(type_of(&b), DEAD_PEER_MTYPE, "kind {how}");
            assert_eq!(payload_u64(&b, 12), 2, "the newer request bounces");
            assert_eq!(
                ipc.receive(2, Source::Any, 0, &mut w),
                Ok(Completion::Blocked),
                "kind {how}: one answer, one bounce"
            );
        }
        // A sendrec from the owing process answers too.
        let mut ipc = table(4);
        let mut w = Vec::new();
        ipc.senda_request(2, ep(3), request_with_id(5), &mut w)
            .unwrap();
        recv(&mut ipc, 3);
        ipc.receive(2, Source::Any, 0, &mut w).unwrap();
        assert_eq!(
            ipc.sendrec(3, ep(2), msg(9, 0), &mut w),
            Ok(Completion::Blocked)
        );
        w.clear();
        ipc.remove(3, &mut w).unwrap();
        assert_eq!(
            ipc.receive(2, Source::Any, 0, &mut w),
            Ok(Completion::Blocked)
        );
    }

    #[test]
    fn an_answer_still_queued_when_the_server_dies_bounces() {
        let mut ipc = table(4);
        let mut w = Vec::new();
        ipc.senda_request(2, ep(3), request_with_id(8), &mut w)
            .unwrap();
        recv(&mut ipc, 3);
        // Queued on 2 (not waiting), so not delivered: still owed.
        ipc.senda(3, ep(2), msg(9, 0), &mut w).unwrap();
        ipc.remove(3, &mut w).unwrap();
        let b = recv(&mut ipc, 2);
        assert_eq!((type_of(&b), payload_u64(&b, 12)), (DEAD_PEER_MTYPE, 8));
        // A blocked Send that was taken answers when it is received.
        let mut ipc = table(4);
        ipc.senda_request(2, ep(3), request_with_id(8), &mut w)
            .unwrap();
        recv(&mut ipc, 3);
        assert_eq!(
            ipc.send(3, ep(2), msg(9, 0), &mut w),
            Ok(Completion::Blocked)
        );
        assert_eq!(type_of(&recv(&mut ipc, 2)), 9);
        w.clear();
        ipc.remove(3, &mut w).unwrap();
        assert_eq!(
            ipc.receive(2, Source::Any, 0, &mut w),
            Ok(Completion::Blocked)
        );
    }

    #[test]
    fn sendrec_records_keep_answers_in_order_without_bounces() {
        let mut ipc = table(4);
        let mut w = Vec::new();
        // 2 requests asynchronously, then sendrecs: 3 owes two answers.
        ipc.senda_request(2, ep(3), request_with_id(1), &mut w)
            .unwrap();
        recv(&mut ipc, 3);
        ipc.sendrec(2, ep(3), msg(0x50, 0), &mut w).unwrap();
        recv(&mut ipc, 3);
        // The first answer answers the older (asynchronous) request, as in
        // the simulator; it also ends the sendrec.
        w.clear();
        ipc.send(3, ep(2), msg(9, 0), &mut w).unwrap();
        assert_eq!(w.len(), 1);
        // Dying now: the remaining record is the sendrec's, no bounce.
        ipc.remove(3, &mut w).unwrap();
        assert_eq!(
            ipc.receive(2, Source::Any, 0, &mut w),
            Ok(Completion::Blocked)
        );
        // A sendrec left unanswered wakes its caller, no bounce message.
        let mut ipc = table(4);
        w.clear();
        ipc.sendrec(2, ep(3), msg(0x50, 0), &mut w).unwrap();
        recv(&mut ipc, 3);
        ipc.remove(3, &mut w).unwrap();
        assert_eq!(
            w,
            [Wake {
                slot: 2,
                result: Err(IpcError::DeadPeer { now: None })
            }]
        );
        assert_eq!(
            ipc.receive(2, Source::Any, 0, &mut w),
            Ok(Completion::Blocked)
        );
    }

    #[test]
    fn records_of_a_dead_requester_are_dropped() {
        let mut ipc = table(4);
        let mut w = Vec::new();
        ipc.senda_request(2, ep(3), request_with_id(1), &mut w)
            .unwrap();
        recv(&mut ipc, 3);
        ipc.remove(2, &mut w).unwrap();
        // A new process in slot 2 gets no bounce meant for the old one.
        ipc.add(Endpoint::new(2, 1), Privileges::ALL).unwrap();
        ipc.remove(3, &mut w).unwrap();
        assert!(w.is_empty());
        assert_eq!(
            ipc.receive(2, Source::Any, 0, &mut w),
            Ok(Completion::Blocked)
        );
    }

    #[test]
    fn owed_answers_are_bounded() {
        let mut ipc = table(5);
        let mut w = Vec::new();
        // Requests queued and received count alike.
        for i in 0..MAX_OWED_REPLIES as u64 {
            let from = 2 + (i % 2) as usize;
            ipc.senda_request(from, ep(4), request_with_id(i), &mut w)
                .unwrap();
            if i % 3 == 0 {
                recv(&mut ipc, 4);
            }
        }
        assert_eq!(
            ipc.senda_request(2, ep(4), request_with_id(99), &mut w),
            Err(IpcError::NotReady)
        );
        // Plain messages are not limited by it (only by the queue).
        while ipc.senda(2, ep(4), msg(1, 0), &mut w).is_ok() {}
        // An answer makes room.
        while let Ok(Completion::Received(_)) = ipc.receive(4, Source::Any, 0, &mut w) {}
        ipc.cancel(4).unwrap();
        ipc.senda(4, ep(3), msg(9, 0), &mut w).unwrap();
        assert_eq!(
            ipc.senda_request(2, ep(4), request_with_id(100), &mut w),
            Err(IpcError::NotReady),
            "an answer counts once it is delivered"
        );
        assert_eq!(type_of(&recv(&mut ipc, 3)), 9);
        ipc.senda_request(2, ep(4), request_with_id(100), &mut w)
            .unwrap();
        recv(&mut ipc, 4);
        // At death every owed requester gets a bounce, beyond the normal
        // queue bound if need be.
        w.clear();
        ipc.remove(4, &mut w).unwrap();
        let count = |ipc: &mut Ipc, slot| {
            let mut n = 0;
            while let Ok(Completion::Received(m)) =
                ipc.receive(slot, Source::Any, 0, &mut Vec::new())
            {
                if type_of(&m) == DEAD_PEER_MTYPE {
                    n += 1;
                }
            }
            n
        };
        assert_eq!(count(&mut ipc, 2) + count(&mut ipc, 3), MAX_OWED_REPLIES);
    }

    #[test]
    fn unanswered_sendrecs_never_shut_out_requests() {
        // Slot 3 is the server; 40 callers (slots 4..44) wait on it in
        // sendrec, received and not answered (PM's waiters).
        let mut ipc = table(45);
        let mut w = Vec::new();
        for caller in 4..44usize {
            assert_eq!(
                ipc.sendrec(caller, ep(3), msg(1, 0), &mut w),
                Ok(Completion::Blocked)
            );
            recv(&mut ipc, 3);
        }
        // A service's request still gets in, and its answer is owed (it
        // bounces if the server dies without giving it).
        ipc.senda_request(2, ep(3), request_with_id(7), &mut w)
            .unwrap();
        recv(&mut ipc, 3);
        w.clear();
        ipc.remove(3, &mut w).unwrap();
        let m = recv(&mut ipc, 2);
        assert_eq!(type_of(&m), DEAD_PEER_MTYPE);
    }

    #[test]
    fn bad_endpoints_are_errors() {
        let mut ipc = table(2);
        let mut w = Vec::new();
        assert_eq!(
            ipc.send(0, ep(0), msg(1, 0), &mut w),
            Err(IpcError::BadEndpoint)
        );
        assert_eq!(
            ipc.send(0, Endpoint(0xffff), msg(1, 0), &mut w),
            Err(IpcError::BadEndpoint)
        );
        assert_eq!(
            ipc.send(0, ep(5), msg(1, 0), &mut w),
            Err(IpcError::DeadPeer { now: None })
        );
        assert_eq!(
            ipc.receive(0, Source::Ep(ep(9)), 0, &mut w),
            Err(IpcError::DeadPeer { now: None })
        );
        assert_eq!(IpcError::Deadlock.errno(), Errno::Locked);
        assert_eq!(
            ipc.send(40, ep(0), msg(1, 0), &mut w),
            Err(IpcError::BadEndpoint)
        );
    }
}
