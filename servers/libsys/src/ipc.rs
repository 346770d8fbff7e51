//! The transport trait every server is written against, and the process
//! trait a runtime drives.
//!
//! A server is a message-driven state machine. The runtime (native kernel
//! loop, or the simulator) owns the receive loop: it calls
//! [`Process::start`] once, then [`Process::receive`] for every message
//! (MINIX `receive(ANY)`). Inside a handler the process talks to the world
//! only through [`Sys`].
//!
//! Waiting on another server: either block ([`Sys::sendrec`], for servers that
//! always answer at once, e.g. DS), or — the way VFS waits on file servers —
//! fire an asynchronous [`Sys::request`], return to the loop, and pick up the
//! reply (or the dead-peer bounce, see [`crate::proto::kernel`]) as a later
//! message. A handler that cannot answer yet keeps the caller's endpoint and
//! request id and answers later with [`Sys::send`] (MINIX `EDONTREPLY`).

use crate::endpoint::Endpoint;
use crate::errno::Errno;
use crate::message::Message;
use alloc::string::String;
use alloc::vec::Vec;
use core::any::Any;

/// Simulated or real clock ticks.
pub type Ticks = u64;

/// Clock ticks per second (MINIX `HZ`-like; used to express periods).
pub const HZ: Ticks = 100;

/// A grant identifier, local to the granting process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantId(pub u32);

/// What a grantee may do with a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantAccess {
    /// Grantee may copy from the grant (`safecopy_from`).
    pub read: bool,
    /// Grantee may copy into the grant (`safecopy_to`).
    pub write: bool,
}

impl GrantAccess {
    /// Read-only for the grantee.
    pub const READ: GrantAccess = GrantAccess {
        read: true,
        write: false,
    };
    /// Write-only for the grantee.
    pub const WRITE: GrantAccess = GrantAccess {
        read: false,
        write: true,
    };
    /// Read and write.
    pub const RW: GrantAccess = GrantAccess {
        read: true,
        write: true,
    };
}

/// Who a process may send to (its `system.conf`-like IPC privilege).
/// RS, DS, SYSTEM and CLOCK are always reachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpcTargets {
    /// Any process.
    Any,
    /// Only processes with these labels (plus the always-reachable ones).
    Labels(Vec<String>),
}

/// A process's privilege record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privileges {
    /// May make process-management kernel calls ([`Sys::spawn`], [`Sys::kill`]).
    pub process_mgmt: bool,
    /// Allowed IPC destinations.
    pub ipc: IpcTargets,
    /// May drive hardware: I/O ports, IRQ lines, DMA memory (drivers; the
    /// simulator has no hardware and ignores it).
    pub hardware: bool,
}

impl Privileges {
    /// An ordinary service: any IPC target, no process management.
    pub fn service() -> Self {
        Privileges {
            process_mgmt: false,
            ipc: IpcTargets::Any,
            hardware: false,
        }
    }
}

/// Where a spawned process goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnAt {
    /// A free slot, next generation of whatever last used it.
    Fresh,
    /// Exactly this endpoint (slot must be free): the restarted instance
    /// keeps the dead one's endpoint (MINIX slot swap).
    Exact(Endpoint),
    /// This endpoint's slot with the next generation: a visible new endpoint
    /// (the *reset* policy) in the same slot.
    NextGeneration(Endpoint),
}

/// A process-creation request (RS only).
#[derive(Debug, Clone)]
pub struct SpawnSpec<'a> {
    /// Program (binary / registered factory) name.
    pub program: &'a str,
    /// Service label (for logs, traces and fault targeting).
    pub label: &'a str,
    /// Slot / endpoint placement.
    pub at: SpawnAt,
    /// Privileges of the new process.
    pub privileges: Privileges,
    /// When taking over a dead instance's endpoint (`Exact`), keep the
    /// memory it left in its preserved window (native: the kernel moves
    /// those pages into the new instance; the simulator ignores it).
    pub keep_memory: bool,
}

/// The services a runtime offers a process. See the module doc for the
/// blocking rules.
pub trait Sys {
    /// This process's endpoint.
    fn self_endpoint(&self) -> Endpoint;

    /// Current time in ticks since boot.
    fn now(&self) -> Ticks;

    /// One-way asynchronous send (replies go this way). Fails at once with
    /// `EDEADSRCDST` if `dest` is not alive, `EPERM` if not allowed. A
    /// message still queued when `dest` dies is dropped.
    fn send(&mut self, dest: Endpoint, msg: Message) -> Result<(), Errno>;

    /// Asynchronous request: like [`Sys::send`], but the transport remembers
    /// that exactly one answer is owed. The first non-notify message `dest`
    /// sends back answers it; if `dest` dies first, this process receives a
    /// [`crate::proto::kernel::DeadPeer`] bounce instead.
    fn request(&mut self, dest: Endpoint, msg: Message) -> Result<(), Errno>;

    /// Blocking request: send and wait for `dest`'s answer. Fails with
    /// `EDEADSRCDST` if `dest` is dead or dies before answering, `ELOCKED` if
    /// waiting would deadlock (a cycle of blocked callers).
    fn sendrec(&mut self, dest: Endpoint, msg: Message) -> Result<Message, Errno>;

    /// Blocking receive of the next message from `from` (or [`Endpoint::ANY`])
    /// inside a handler. Prefer returning to the loop; this exists for
    /// start-up code that must wait for one specific peer.
    fn receive(&mut self, from: Endpoint) -> Result<Message, Errno>;

    /// Non-blocking notification (coalesced per sender; type
    /// [`crate::proto::kernel::NOTIFY`]).
    fn notify(&mut self, dest: Endpoint) -> Result<(), Errno>;

    /// Arm this process's single alarm `ticks` from now (0 cancels). It
    /// arrives as a notify from [`Endpoint::CLOCK`].
    fn set_alarm(&mut self, ticks: Ticks);

    /// Grant `grantee` access to `buf`; the transport holds the buffer until
    /// [`Sys::grant_revoke`] gives it back (with the grantee's writes).
    fn grant_create(
        &mut self,
        grantee: Endpoint,
        access: GrantAccess,
        buf: Vec<u8>,
    ) -> Result<GrantId, Errno>;

    /// Revoke a grant and take its buffer back (an indirect grant has
    /// none: an empty `Vec`).
    fn grant_revoke(&mut self, gid: GrantId) -> Result<Vec<u8>, Errno>;

    /// Pass on part of a grant this process received (MINIX indirect
    /// grant): `grantee` may copy from / to `len` bytes of `from`'s grant
    /// `gid`, starting `offset` bytes into it, with at most the access this
    /// process has there. Copies through it go straight to the original
    /// granter's memory (VFS hands a user's buffer to a file server this
    /// way, without copying it). Revoke it like any other grant. The
    /// default, for transports without it, is `ENOSYS`.
    fn grant_indirect(
        &mut self,
        grantee: Endpoint,
        access: GrantAccess,
        from: Endpoint,
        gid: GrantId,
        offset: usize,
        len: usize,
    ) -> Result<GrantId, Errno> {
        let _ = (grantee, access, from, gid, offset, len);
        Err(Errno::ENOSYS)
    }

    /// Copy from `granter`'s grant `gid` at `offset` into `dst`.
    fn safecopy_from(
        &mut self,
        granter: Endpoint,
        gid: GrantId,
        offset: usize,
        dst: &mut [u8],
    ) -> Result<(), Errno>;

    /// Copy `src` into `granter`'s grant `gid` at `offset`.
    fn safecopy_to(
        &mut self,
        granter: Endpoint,
        gid: GrantId,
        offset: usize,
        src: &[u8],
    ) -> Result<(), Errno>;

    /// Terminate this process when the current handler returns (reported
    /// to RS as an exit with `code`).
    fn exit(&mut self, code: i32);

    /// Terminate this process as a panic (reported to RS as SIGABRT-like).
    fn panic(&mut self, why: &str);

    /// Keep `blob` in memory that outlives this instance: a successor in the
    /// same slot gets it from [`Sys::preserved`]. This is the analogue of
    /// MINIX's identity state transfer (the new instance reading the dead
    /// one's memory); DS uses it because it cannot store its state in itself.
    fn preserve(&mut self, blob: Vec<u8>);

    /// A copy of what this slot last kept with [`Sys::preserve`] (this
    /// instance or a predecessor); it stays until overwritten.
    fn preserved(&mut self) -> Option<Vec<u8>>;

    /// Create a process (needs `process_mgmt`).
    fn spawn(&mut self, spec: &SpawnSpec<'_>) -> Result<Endpoint, Errno>;

    /// Kill a process (needs `process_mgmt`); reported to RS as `Killed`.
    fn kill(&mut self, ep: Endpoint) -> Result<(), Errno>;

    /// Raise signal `sig` for process `ep` (its signal manager, PM, is
    /// told and acts on it): VFS's SIGPIPE to a writer whose pipe has no
    /// reader (MINIX VFS's `sys_kill`). Natively the kernel's `SigSend`;
    /// the simulator records it ([`Sys::sig_send`] callers cannot tell).
    fn sig_send(&mut self, ep: Endpoint, sig: u32) -> Result<(), Errno>;

    /// Diagnostic log line (the simulator records it in the trace).
    fn log(&mut self, text: &str);
}

/// A process as a runtime drives it. `Any` lets test harnesses inspect a
/// process's state (trait upcasting to `&dyn Any`).
pub trait Process: Any {
    /// Called once, right after the process is created.
    fn start(&mut self, sys: &mut dyn Sys) {
        let _ = sys;
    }

    /// Called for every message delivered to this process.
    fn receive(&mut self, sys: &mut dyn Sys, msg: Message);
}
