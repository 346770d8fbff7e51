//! vfs: the VFS server. It owns per-process file-descriptor tables, open
//! files (position, flags) and the mount table, resolves paths across mount
//! points and symlinks, checks open permissions, and routes every POSIX file
//! call (`sys::proto::vfs`) to the file servers (MFS, PFS) over the
//! VFS<->FS protocol (`sys::proto::fs`).
//!
//! Worker model. Each user call becomes a job: an `async` block that awaits
//! file-server answers ([`ops`]). A tiny executor ([`Vfs`]) polls a job
//! when its awaited answer arrives, so a call waiting on a file server never
//! blocks other processes' calls (MINIX's worker threads, without threads).
//! Jobs never touch the transport: an awaited FS request is queued with the
//! data it carries, and the executor creates the grants, sends the request
//! with `Sys::request`, and on the answer revokes the grants and hands the
//! data back.
//!
//! Crash handling. A request whose file server dies is bounced
//! (`DeadPeer`); the executor holds it and resends the *same message, same
//! id, same grants* once the server is back (retried on an alarm tick). A
//! stateful MFS answers a resent side-effecting request from its record, so
//! it is applied exactly once; the caller sees nothing but latency.
//!
//! Character drivers lose their state when they die: a request one held
//! fails with EIO and files opened on it are reopened at their next use.
//! Restarts are also learnt from DS (label republished), fetched with
//! asynchronous `check` requests: VFS never blocks while serving.
//!
//! Processes. PM reports forks, exits, execs and credentials
//! ([`sys::proto::vfs::VfsPmCall`], only from the process DS names `pm`) and
//! asks for a suspended call to be interrupted (Unpause: the call is
//! dropped, what it waits on in PFS or a driver cancelled, and the caller
//! answered `EINTR`). A write to a pipe without readers raises SIGPIPE with
//! [`Sys::sig_send`]. VM asks for the bytes of a block device it maps
//! ([`sys::proto::vfs::VfsVmCall`], only from the process DS names `vm`).
//!
//! Talks to: users (calls in, replies out), PM, file servers (MFS) and the pipe
//! server (PFS) over `sys::proto::fs` (+ `pfs::proto`), character drivers
//! over `sys::proto::cdev`, DS (restart notices, label look-ups), the
//! clock (retry and select timers). Runs as a plain `sys::Process`.
#![no_std]

extern crate alloc;

pub mod client;
pub mod ops;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use sys::proto::fs::{Buf, Cred, FsAnswer, FsReply, FsRequest};
use sys::proto::kernel::{DeadPeer, is_notify};
use sys::proto::vfs::{VfsCall, VfsPmCall, VfsReply, VfsVmCall};
use sys::{Endpoint, Errno, GrantAccess, GrantId, Message, Process, Sys};

/// Most open files per process (MINIX `OPEN_MAX`).
pub const OPEN_MAX: usize = 64;
/// Longest path (MINIX `PATH_MAX`).
pub const PATH_MAX: usize = 4096;
/// Most symlinks followed in one resolution (MINIX `SYMLOOP_MAX`).
pub const SYMLOOP_MAX: u32 = 16;
/// Largest single read/write.
pub const MAX_IO: usize = 1 << 20;
/// Ticks between attempts to resend held requests.
pub const RETRY_TICKS: u64 = 1;
/// The signal a writer to a pipe without readers gets (MINIX / POSIX
/// number, as in PM's table).
pub const SIGPIPE: u32 = 13;
/// The label of the process manager, the only sender of [`VfsPmCall`]s.
pub const PM_LABEL: &str = "pm";
/// The label of the memory manager, the only sender of [`VfsVmCall`]s.
pub const VM_LABEL: &str = "vm";
/// Major device number of the terminal driver (MINIX `TTY_MAJOR`): a
/// session leader without a controlling terminal that opens one of its
/// devices (without `O_NOCTTY`) acquires it.
pub const TTY_MAJOR: u32 = 4;
/// Major device number of `/dev/tty` (MINIX `CTTY_MAJOR`): opening it opens
/// the caller's controlling terminal instead (`ENXIO` without one).
pub const CTTY_MAJOR: u32 = 5;

/// A mounted file system.
#[derive(Debug, Clone)]
pub struct Mount {
    /// Service label of the file server.
    pub label: String,
    /// Its endpoint.
    pub ep: Endpoint,
    /// Root inode (from `ReadSuper`).
    pub root: u32,
    /// (mount index, inode) of the directory it covers; `None` for `/`
    /// and the pipe server.
    pub covered: Option<(usize, u32)>,
    /// The pipe server (PFS): not reachable by path; holds pipes and the
    /// FIFOs opened through file-system nodes.
    pub pipes: bool,
    /// A character driver serving this major device number (not reachable
    /// by path; files are opened through device nodes).
    pub cdev: Option<u32>,
    /// Incremented when the driver died: files opened before must be
    /// reopened.
    pub generation: u32,
    /// A death was already counted from a bounce; the coming DS restart
    /// notice is the same death.
    pub death_counted: bool,
    /// RS said the server is down for good (its label was deleted): its
    /// requests fail with EIO instead of being held, until the label comes
    /// back.
    pub down: bool,
}

/// An open file (`filp`).
#[derive(Debug, Clone)]
pub struct Filp {
    /// Mount index of the vnode.
    pub mnt: usize,
    /// Inode.
    pub ino: u32,
    /// Type and permission bits at open.
    pub mode: u16,
    /// Open flags.
    pub flags: u32,
    /// Driver generation at open (character devices).
    pub generation: u32,
    /// The file-system node a FIFO or device file was opened through
    /// (for fstat).
    pub node: Option<(usize, u32)>,
    /// Position.
    pub pos: u64,
    /// Descriptors referring to it.
    pub refs: u32,
}

/// Per-process state.
#[derive(Debug, Clone)]
pub struct ProcFs {
    /// Descriptor table: index into the open-file table.
    pub fds: Vec<Option<usize>>,
    /// Credentials.
    pub cred: Cred,
    /// Close-on-exec flags, one bit per descriptor.
    pub cloexec: u64,
    /// Working directory (mount, inode), referenced in its file server;
    /// `None` = `/`.
    pub cwd: Option<(usize, u32)>,
    /// Root directory set by chroot (mount, inode), referenced in its file
    /// server; `None` = the real `/`.
    pub root: Option<(usize, u32)>,
    /// File-mode creation mask (permission bits cleared at creation).
    pub umask: u16,
    /// Real user and group ids (`cred` holds the effective ones, which
    /// every permission check uses).
    pub real: (u16, u16),
    /// Controlling terminal (device number), inherited across fork.
    pub ctty: Option<u32>,
    /// A session leader (PM's SetSid; not inherited): the first terminal
    /// it opens without `O_NOCTTY` while it has none becomes its
    /// controlling terminal.
    pub session_leader: bool,
}

const _: () = assert!(OPEN_MAX <= 64);

impl Default for ProcFs {
    fn default() -> Self {
        ProcFs {
            fds: alloc::vec![None; OPEN_MAX],
            cred: Cred::ROOT,
            cloexec: 0,
            cwd: None,
            root: None,
            umask: 0,
            real: (0, 0),
            ctty: None,
            session_leader: false,
        }
    }
}

/// A grant to create for an FS request.
#[derive(Debug, Clone)]
pub enum GSpec {
    /// No grant.
    None,
    /// Bytes the file server reads (names, paths, write data).
    In(Vec<u8>),
    /// A buffer of this many bytes the file server fills.
    Out(usize),
    /// The first `len` bytes of the caller's own grant, passed on to the
    /// server (an indirect grant): the server copies straight from or to
    /// the caller's memory, and VFS copies nothing (MINIX's magic grants).
    Pass {
        /// The caller that made the grant.
        from: Endpoint,
        /// Its grant (to VFS).
        grant: GrantId,
        /// Bytes passed on.
        len: usize,
        /// What the server may do.
        access: GrantAccess,
    },
}

/// An FS request a job waits on.
#[derive(Debug)]
pub struct FsOp {
    /// Mount index.
    pub mnt: usize,
    /// The request; its `Buf` fields are filled in by the executor.
    pub req: FsRequest,
    /// First grant (path / name / data buffer).
    pub g1: GSpec,
    /// Second grant (second name / link target).
    pub g2: GSpec,
    /// A pipe-server request to send instead of `req` (its id is filled in).
    pub pipe: Option<pfs::proto::PipeRequest>,
    /// A character-driver request to send instead of `req` (id and grant
    /// filled in).
    pub cdev: Option<sys::proto::cdev::CdevRequest>,
    /// Look this label up in DS instead (answer: `Count { n: endpoint }`).
    pub ds_label: Option<String>,
}

/// `Pending::mnt` of a DS look-up.
const DS_MNT: usize = usize::MAX;

/// The result of a character-driver request whose driver died before
/// answering (never sent to a user: jobs turn it into a resend or `EIO`).
pub const DRIVER_DIED: Errno = Errno::EDEADSRCDST(None);

/// The result of a character-driver request that could not be sent (the
/// driver is dead): it never reached a driver, so any request may be sent
/// again once the driver is back (never sent to a user).
pub const DRIVER_UNREACHED: Errno = Errno::EDEADSRCDST(Some(Endpoint::NONE));

/// An FS answer plus the filled `Out` buffer, if any.
pub type FsResult = Result<(FsAnswer, Option<Vec<u8>>), Errno>;

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VfsStats {
    /// User calls answered.
    pub calls: u64,
    /// FS requests sent (first sends).
    pub fs_requests: u64,
    /// FS requests bounced by a dead server.
    pub bounced: u64,
    /// Resends of held requests that went out.
    pub resent: u64,
    /// Jobs suspended on an FS answer at the same time, maximum.
    pub max_concurrent: u64,
    /// Character-driver requests that could not be sent (the driver was
    /// dead: sent again once it is back).
    pub cdev_unreached: u64,
    /// Character-driver requests the driver died with (a bounce or its
    /// restart notice said so).
    pub cdev_lost: u64,
}

/// State shared between the executor and the jobs.
#[derive(Default)]
pub struct State {
    /// Mount table (index 0 is `/`).
    pub mounts: Vec<Mount>,
    /// Open-file table.
    pub filps: Vec<Option<Filp>>,
    /// Per-process tables, by endpoint number.
    pub procs: BTreeMap<u32, ProcFs>,
    next_id: u64,
    current_job: u64,
    outbox: Vec<(u64, u64, FsOp)>,
    results: BTreeMap<u64, FsResult>,
    /// Requests whose awaiting future was dropped: their answers are
    /// discarded.
    abandoned: alloc::collections::BTreeSet<u64>,
    /// Current time (ticks), updated whenever VFS runs.
    pub now: u64,
    /// Timers armed by jobs since the executor last looked: (deadline, job).
    new_timers: Vec<(u64, u64)>,
    /// Unprompted select readiness from character drivers: (mount, minor)
    /// -> ops.
    pub cdev_ready: BTreeMap<(usize, u32), u32>,
    /// Calls in progress per process (endpoint number): PM's Exit waits
    /// for them to end.
    pub busy: BTreeMap<u32, usize>,
    /// Signals jobs raised since the executor last looked: (process,
    /// signal).
    pub signals: Vec<(Endpoint, u32)>,
    /// Major device number whose devices can become controlling terminals
    /// ([`TTY_MAJOR`] unless [`Vfs::with_tty_major`] says otherwise).
    pub tty_major: u32,
}

impl State {
    /// A fresh request id.
    pub fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The process table entry of `ep` (created on first use).
    pub fn proc_mut(&mut self, ep: Endpoint) -> &mut ProcFs {
        self.procs.entry(ep.0).or_default()
    }
}

/// Shared state handle.
pub type Shared = Rc<RefCell<State>>;

/// Awaitable FS request (see [`FsOp`]).
pub struct FsFuture {
    st: Shared,
    op: Option<FsOp>,
    id: u64,
    done: bool,
}

impl FsFuture {
    /// Queue `op` when first polled.
    pub fn new(st: Shared, op: FsOp) -> Self {
        FsFuture {
            st,
            op: Some(op),
            id: 0,
            done: false,
        }
    }
}

impl FsFuture {
    /// The request id, once the request was queued (0 before).
    pub fn request_id(&self) -> u64 {
        self.id
    }
}

impl Drop for FsFuture {
    fn drop(&mut self) {
        if self.id != 0
            && !self.done
            && let Ok(mut st) = self.st.try_borrow_mut()
            && st.results.remove(&self.id).is_none()
        {
            st.abandoned.insert(self.id);
        }
    }
}

/// Completes at simulated time `deadline` (ticks).
pub struct Sleep {
    st: Shared,
    deadline: u64,
    armed: bool,
}

impl Sleep {
    /// Sleep until `deadline`.
    pub fn until(st: Shared, deadline: u64) -> Self {
        Sleep {
            st,
            deadline,
            armed: false,
        }
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut st = this.st.borrow_mut();
        if st.now >= this.deadline {
            return Poll::Ready(());
        }
        if !this.armed {
            this.armed = true;
            let job = st.current_job;
            st.new_timers.push((this.deadline, job));
        }
        Poll::Pending
    }
}

impl Future for FsFuture {
    type Output = FsResult;
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<FsResult> {
        let this = &mut *self;
        let mut st = this.st.borrow_mut();
        if let Some(op) = this.op.take() {
            this.id = st.new_id();
            let job = st.current_job;
            st.outbox.push((job, this.id, op));
            return Poll::Pending;
        }
        match st.results.remove(&this.id) {
            Some(r) => {
                this.done = true;
                Poll::Ready(r)
            }
            None => Poll::Pending,
        }
    }
}

/// What a finished job answers, plus data to copy into the caller's grant.
pub struct Outcome {
    /// The reply.
    pub reply: VfsReply,
    /// (caller's grant, bytes) to copy out before replying.
    pub copy_out: Option<(Buf, Vec<u8>)>,
}

type JobFuture = Pin<Box<dyn Future<Output = Outcome>>>;

struct Job {
    fut: JobFuture,
    /// Who gets the answer.
    caller: Endpoint,
    /// A process's own call (not PM's, not the mount job): the call's id.
    user_call: Option<u64>,
}

struct Pending {
    job: u64,
    mnt: usize,
    /// Where the request went last: its answer comes from there even if
    /// the mount was detached (umount) meanwhile.
    to: Endpoint,
    msg: Message,
    grants: Vec<(GrantId, bool)>,
    held: bool,
    /// It may wait for ever (pipe or FIFO read, write or open, blocking
    /// select query, device read or write): a signal interrupts it.
    interruptible: bool,
    /// The mount's (driver's) generation when it was sent.
    generation: u32,
}

/// What to mount at start-up: the first entry is `/`.
#[derive(Debug, Clone)]
pub struct MountSpec {
    /// Service label (for diagnostics).
    pub label: String,
    /// File server endpoint.
    pub ep: Endpoint,
    /// Mount point path (ignored for the root).
    pub path: String,
}

/// The VFS server process.
pub struct Vfs {
    st: Shared,
    jobs: BTreeMap<u64, Job>,
    next_job: u64,
    pending: BTreeMap<u64, Pending>,
    queued: VecDeque<Message>,
    specs: Vec<MountSpec>,
    pipe_spec: Option<MountSpec>,
    cdev_specs: Vec<(u32, MountSpec)>,
    ready: bool,
    mount_error: Option<Errno>,
    alarm_at: Option<u64>,
    timers: BTreeMap<u64, Vec<u64>>,
    ds_checking: bool,
    ds_again: bool,
    stats: VfsStats,
    /// Sender check of [`VfsPmCall`]s.
    pm: sys::ds::OnlyClient,
    /// Sender check of [`VfsVmCall`]s.
    vm: sys::ds::OnlyClient,
    /// Exit jobs per exiting process (endpoint number).
    exiting: BTreeMap<u32, Vec<u64>>,
}

/// Request id of VFS's own DS `check` requests (FS request ids count up
/// from 1 and never reach it).
const DS_CHECK_ID: u64 = u64::MAX;

const MOUNT_JOB_CALLER: Endpoint = Endpoint::NONE;

impl Vfs {
    /// A VFS that mounts `mounts` at start (the first is `/`).
    pub fn new(mounts: Vec<MountSpec>) -> Self {
        Vfs {
            st: Rc::new(RefCell::new(State {
                tty_major: TTY_MAJOR,
                ..State::default()
            })),
            jobs: BTreeMap::new(),
            next_job: 0,
            pending: BTreeMap::new(),
            queued: VecDeque::new(),
            specs: mounts,
            pipe_spec: None,
            cdev_specs: Vec::new(),
            ready: false,
            mount_error: None,
            alarm_at: None,
            timers: BTreeMap::new(),
            ds_checking: false,
            ds_again: false,
            stats: VfsStats::default(),
            pm: sys::ds::OnlyClient::new(Some(PM_LABEL)),
            vm: sys::ds::OnlyClient::new(Some(VM_LABEL)),
            exiting: BTreeMap::new(),
        }
    }

    /// Use the pipe server `ep` (PFS) for `pipe()` and FIFOs.
    pub fn with_pipe_server(mut self, label: &str, ep: Endpoint) -> Self {
        self.pipe_spec = Some(MountSpec {
            label: label.into(),
            ep,
            path: String::new(),
        });
        self
    }

    /// Use character driver `ep` for device nodes of major `major`.
    pub fn with_char_driver(mut self, major: u32, label: &str, ep: Endpoint) -> Self {
        self.cdev_specs.push((
            major,
            MountSpec {
                label: label.into(),
                ep,
                path: String::new(),
            },
        ));
        self
    }

    /// Devices of major `major` (instead of [`TTY_MAJOR`]) are the
    /// terminals that can become controlling terminals.
    pub fn with_tty_major(self, major: u32) -> Self {
        self.st.borrow_mut().tty_major = major;
        self
    }

    /// Whether start-up mounting finished.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Why mounting failed, if it did.
    pub fn mount_error(&self) -> Option<Errno> {
        self.mount_error
    }

    /// Set the credentials of process `ep` (PM's job in MINIX).
    pub fn set_cred(&mut self, ep: Endpoint, cred: Cred) {
        self.st.borrow_mut().proc_mut(ep).cred = cred;
    }

    /// Counters.
    pub fn stats(&self) -> VfsStats {
        self.stats
    }

    /// Calls and requests in flight (jobs, FS requests, held requests).
    pub fn in_flight(&self) -> (usize, usize, usize) {
        let held = self.pending.values().filter(|p| p.held).count();
        (self.jobs.len(), self.pending.len(), held)
    }

    /// The mount table.
    pub fn mounts(&self) -> Vec<Mount> {
        self.st.borrow().mounts.clone()
    }

    /// Whether VFS has per-process state for `ep` (PM's Exit forgets it).
    pub fn knows(&self, ep: Endpoint) -> bool {
        self.st.borrow().procs.contains_key(&ep.0)
    }

    /// The controlling terminal of `ep` (device number), if it has one.
    pub fn ctty(&self, ep: Endpoint) -> Option<u32> {
        self.st.borrow().procs.get(&ep.0).and_then(|p| p.ctty)
    }

    /// Open files of `ep` (descriptor count).
    pub fn open_fds(&self, ep: Endpoint) -> usize {
        self.st
            .borrow()
            .procs
            .get(&ep.0)
            .map(|p| p.fds.iter().filter(|f| f.is_some()).count())
            .unwrap_or(0)
    }

    fn spawn_job(
        &mut self,
        sys: &mut dyn Sys,
        caller: Endpoint,
        user_call: Option<u64>,
        fut: JobFuture,
    ) -> u64 {
        self.next_job += 1;
        let id = self.next_job;
        if user_call.is_some() {
            *self.st.borrow_mut().busy.entry(caller.0).or_insert(0) += 1;
        }
        self.jobs.insert(
            id,
            Job {
                fut,
                caller,
                user_call,
            },
        );
        self.poll_job(sys, id);
        id
    }

    /// Job `job` is gone (finished or dropped): a process's call no longer
    /// in progress lets its pending Exit go on.
    fn job_gone(&mut self, sys: &mut dyn Sys, caller: Endpoint, user_call: Option<u64>) {
        if user_call.is_none() {
            return;
        }
        {
            let mut st = self.st.borrow_mut();
            if let Some(n) = st.busy.get_mut(&caller.0) {
                *n -= 1;
                if *n == 0 {
                    st.busy.remove(&caller.0);
                }
            }
        }
        let waiting = self.exiting.get(&caller.0).cloned().unwrap_or_default();
        for j in waiting {
            self.poll_job(sys, j);
        }
    }

    fn poll_job(&mut self, sys: &mut dyn Sys, id: u64) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        {
            let mut st = self.st.borrow_mut();
            st.current_job = id;
            st.now = sys.now();
        }
        let mut cx = Context::from_waker(Waker::noop());
        let r = job.fut.as_mut().poll(&mut cx);
        // Signals first (MINIX raises SIGPIPE before answering EPIPE).
        let signals = core::mem::take(&mut self.st.borrow_mut().signals);
        for (ep, sig) in signals {
            // A process without a signal manager (a boot service) just
            // gets the error.
            let _ = sys.sig_send(ep, sig);
        }
        if let Poll::Ready(out) = r {
            let (caller, user_call) = (job.caller, job.user_call);
            self.jobs.remove(&id);
            self.finish(sys, caller, user_call.is_some(), out);
            self.job_gone(sys, caller, user_call);
            let exited = self
                .exiting
                .iter()
                .find(|(_, v)| v.contains(&id))
                .map(|(&k, _)| Endpoint(k));
            if let Some(ep) = exited {
                self.exit_done(ep, id);
            }
        }
        self.drain_outbox(sys);
        self.take_new_timers(sys);
        let waiting = self.jobs.len() as u64;
        self.stats.max_concurrent = self.stats.max_concurrent.max(waiting);
    }

    fn finish(&mut self, sys: &mut dyn Sys, caller: Endpoint, user: bool, out: Outcome) {
        if user && self.exiting.contains_key(&caller.0) {
            // It exited while the call was in progress: nobody to answer.
            return;
        }
        if caller == MOUNT_JOB_CALLER {
            match out.reply.result {
                Ok(_) => {
                    self.ready = true;
                    while let Some(m) = self.queued.pop_front() {
                        self.call(sys, m);
                    }
                }
                Err(e) => {
                    // No root: every call, queued or to come, fails with
                    // the mount's error instead of waiting forever.
                    self.mount_error = Some(e);
                    while let Some(m) = self.queued.pop_front() {
                        self.call(sys, m);
                    }
                }
            }
            return;
        }
        let mut reply = out.reply;
        if let Some((buf, data)) = out.copy_out
            && !data.is_empty()
            && sys.safecopy_to(caller, buf.grant, 0, &data).is_err()
        {
            reply.result = Err(Errno::EFAULT);
        }
        self.stats.calls += 1;
        // The caller may be gone; nothing to do then.
        let _ = sys.send(caller, reply.to_message());
    }

    fn drain_outbox(&mut self, sys: &mut dyn Sys) {
        let out = core::mem::take(&mut self.st.borrow_mut().outbox);
        for (job, id, op) in out {
            if let Some(key) = op.ds_label {
                use sys::proto::ds::{DsRequest, DsType};
                let req = DsRequest::Retrieve {
                    id,
                    key,
                    ty: DsType::Label,
                    grant: None,
                };
                let sent = req.to_message().and_then(|m| {
                    sys.request(Endpoint::DS, m)?;
                    Ok(m)
                });
                match sent {
                    Ok(msg) => {
                        self.pending.insert(
                            id,
                            Pending {
                                job,
                                mnt: DS_MNT,
                                to: Endpoint::DS,
                                msg,
                                grants: Vec::new(),
                                held: false,
                                interruptible: false,
                                generation: 0,
                            },
                        );
                    }
                    Err(e) => {
                        self.fail(sys, job, id, Err(e));
                    }
                }
                continue;
            }
            let ep = self.st.borrow().mounts.get(op.mnt).map(|m| (m.ep, m.down));
            let ep = match ep {
                None => {
                    self.fail(sys, job, id, Err(Errno::ENODEV));
                    continue;
                }
                Some((_, true)) => {
                    // Down for good: nothing to wait for.
                    self.fail(sys, job, id, Err(Errno::EIO));
                    continue;
                }
                Some((ep, false)) => ep,
            };
            let mut grants = Vec::new();
            let mut bufs = [None, None];
            let mut failed = false;
            for (k, g) in [op.g1, op.g2].into_iter().enumerate() {
                let (data, access, out) = match g {
                    GSpec::None => continue,
                    GSpec::In(v) => (v, GrantAccess::READ, false),
                    GSpec::Out(n) => (alloc::vec![0u8; n], GrantAccess::WRITE, true),
                    GSpec::Pass {
                        from,
                        grant,
                        len,
                        access,
                    } => {
                        match sys.grant_indirect(ep, access, from, grant, 0, len) {
                            Ok(gid) => {
                                grants.push((gid, false));
                                bufs[k] = Some(Buf {
                                    grant: gid,
                                    len: len as u32,
                                });
                            }
                            Err(_) => failed = true,
                        }
                        continue;
                    }
                };
                let len = data.len() as u32;
                match sys.grant_create(ep, access, data) {
                    Ok(gid) => {
                        grants.push((gid, out));
                        bufs[k] = Some(Buf { grant: gid, len });
                    }
                    Err(_) => failed = true,
                }
            }
            if failed {
                for (g, _) in grants {
                    let _ = sys.grant_revoke(g);
                }
                self.fail(sys, job, id, Err(Errno::ENOMEM));
                continue;
            }
            let interruptible = {
                use pfs::proto::PipeRequest as P;
                use sys::proto::cdev::CdevRequest as C;
                let to_pipes = self.st.borrow().mounts.get(op.mnt).is_some_and(|m| m.pipes);
                match (&op.pipe, &op.cdev) {
                    (Some(p), _) => matches!(p, P::Open { .. } | P::Select { block: true, .. }),
                    (None, Some(c)) => {
                        matches!(c, C::Read { .. } | C::Write { .. } | C::Ioctl { .. })
                    }
                    (None, None) => {
                        to_pipes
                            && matches!(op.req, FsRequest::Read { .. } | FsRequest::Write { .. })
                    }
                }
            };
            let msg = match (op.pipe, op.cdev) {
                (Some(p), _) => ops::pipe_with_id(p, id).to_message(),
                (None, Some(c)) => ops::cdev_with(c, id, bufs[0]).to_message(),
                (None, None) => ops::with_bufs(op.req, id, bufs[0], bufs[1]).to_message(),
            };
            let is_cdev = op.cdev.is_some();
            let generation = self
                .st
                .borrow()
                .mounts
                .get(op.mnt)
                .map_or(0, |m| m.generation);
            self.stats.fs_requests += 1;
            let sent = sys.request(ep, msg);
            let held = sent.is_err();
            if let (true, Err(e)) = (is_cdev, sent) {
                // Not delivered: a dead driver is waited for (the job
                // sends it again); anything else (the kernel's bound on
                // owed answers) fails the request.
                let r = if e.is_dead_peer() {
                    self.driver_died(op.mnt, generation);
                    self.stats.cdev_unreached += 1;
                    DRIVER_UNREACHED
                } else {
                    Errno::EIO
                };
                for (g, _) in grants {
                    let _ = sys.grant_revoke(g);
                }
                self.fail(sys, job, id, Err(r));
                continue;
            }
            if held {
                self.stats.bounced += 1;
                self.arm(sys);
            }
            self.pending.insert(
                id,
                Pending {
                    job,
                    mnt: op.mnt,
                    to: ep,
                    msg,
                    grants,
                    held,
                    interruptible,
                    generation,
                },
            );
        }
    }

    /// Retry held requests soon.
    fn arm(&mut self, sys: &mut dyn Sys) {
        let t = sys.now() + RETRY_TICKS;
        self.arm_at(sys, t);
    }

    /// Make sure the alarm goes off at `t` at the latest.
    fn arm_at(&mut self, sys: &mut dyn Sys, t: u64) {
        let now = sys.now();
        if self.alarm_at.is_none_or(|a| t < a || a <= now) {
            self.alarm_at = Some(t);
            sys.set_alarm(t.saturating_sub(now).max(1));
        }
    }

    fn take_new_timers(&mut self, sys: &mut dyn Sys) {
        let new = core::mem::take(&mut self.st.borrow_mut().new_timers);
        for (t, job) in new {
            self.timers.entry(t).or_default().push(job);
            self.arm_at(sys, t);
        }
    }

    fn fire_timers(&mut self, sys: &mut dyn Sys) {
        let now = sys.now();
        let later = self.timers.split_off(&(now + 1));
        let due = core::mem::replace(&mut self.timers, later);
        for job in due.into_values().flatten() {
            self.poll_job(sys, job);
        }
        if let Some((&t, _)) = self.timers.iter().next() {
            self.arm_at(sys, t);
        }
    }

    fn fs_reply(&mut self, sys: &mut dyn Sys, msg: &Message) {
        let Ok(rep) = FsReply::try_from(msg) else {
            return;
        };
        let Some(p) = self.pending.get(&rep.id) else {
            return;
        };
        let from_ok = p.to == msg.source()
            || self
                .st
                .borrow()
                .mounts
                .get(p.mnt)
                .is_some_and(|m| m.ep == msg.source());
        if !from_ok {
            return;
        }
        let Some(p) = self.pending.remove(&rep.id) else {
            return;
        };
        let mut data = None;
        for (g, out) in p.grants {
            if let Ok(v) = sys.grant_revoke(g)
                && out
            {
                data = Some(v);
            }
        }
        let res = rep.result.map(|a| (a, data));
        if self.st.borrow_mut().abandoned.remove(&rep.id) {
            return;
        }
        self.st.borrow_mut().results.insert(rep.id, res);
        self.poll_job(sys, p.job);
    }

    /// A request sent to the driver at `generation` bounced (or could not
    /// be sent): count the death once. If the generation moved on since
    /// it was sent, the death was counted already — by another bounce, or
    /// by DS telling of the new instance first (deliveries from different
    /// senders are not ordered) — and is not counted again: a second count
    /// would wait for a DS notice that never comes. (Had the moved-on
    /// generation been an earlier death, a resend to the dead instance
    /// fails at once and counts this one.)
    fn driver_died(&mut self, mnt: usize, generation: u32) {
        let mut st = self.st.borrow_mut();
        if let Some(m) = st.mounts.get_mut(mnt)
            && !m.death_counted
            && m.generation == generation
        {
            m.generation = m.generation.wrapping_add(1);
            m.death_counted = true;
        }
        st.cdev_ready.retain(|&(m, _), _| m != mnt);
    }

    /// The character drivers of mounts `mnts` were restarted: what they
    /// were asked and have not answered is lost with the old instance.
    /// A bounce does not always tell (a kernel counts a driver's answers
    /// per requester, oldest request first, so answers to later requests
    /// use up the bounces of held ones), so each such request ends with
    /// [`DRIVER_DIED`] (its job asks again or fails). A request that
    /// already reached the new instance (sent after the restart, before
    /// this notice) is cancelled there; a driver ignores the cancel of a
    /// request it does not know.
    fn driver_restarted(&mut self, sys: &mut dyn Sys, mnts: &[usize]) {
        use sys::proto::cdev::CdevRequest;
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| mnts.contains(&p.mnt))
            .map(|(&i, _)| i)
            .collect();
        for id in ids {
            let Some(p) = self.pending.remove(&id) else {
                continue;
            };
            for (g, _) in p.grants {
                let _ = sys.grant_revoke(g);
            }
            if let Ok(
                CdevRequest::Read { minor, .. }
                | CdevRequest::Write { minor, .. }
                | CdevRequest::Ioctl { minor, .. },
            ) = CdevRequest::try_from(&p.msg)
            {
                let _ = sys.send(p.to, CdevRequest::Cancel { id, minor }.to_message());
            }
            self.stats.cdev_lost += 1;
            if !self.st.borrow_mut().abandoned.remove(&id) {
                self.st.borrow_mut().results.insert(id, Err(DRIVER_DIED));
                self.poll_job(sys, p.job);
            }
        }
    }

    /// Fetch the next DS change without blocking (VFS never blocks: a
    /// caller's `sendrec` to a blocked VFS would deadlock).
    fn ds_check(&mut self, sys: &mut dyn Sys) {
        use sys::proto::ds::DsRequest;
        self.ds_checking = DsRequest::Check { id: DS_CHECK_ID }
            .to_message()
            .is_ok_and(|m| sys.request(Endpoint::DS, m).is_ok());
    }

    /// One DS change. RS republishes a label at every (re)start. A
    /// character driver that restarted without a bounce telling us
    /// (nothing was in flight) died too: count it, so its files are
    /// reopened and selects on them report ready. Held requests go out at
    /// once when the changes are all seen.
    fn ds_reply(&mut self, sys: &mut dyn Sys, rep: sys::proto::ds::DsReply) {
        use sys::proto::ds::DsType;
        match rep.result {
            Ok(c) => {
                if c.ty == Some(DsType::Label) && c.deleted {
                    self.server_down(sys, &c.key);
                }
                if c.ty == Some(DsType::Label) && !c.deleted {
                    let mut restarted = Vec::new();
                    let mut st = self.st.borrow_mut();
                    for (i, m) in st.mounts.iter_mut().enumerate() {
                        if m.label != c.key || m.ep == Endpoint::NONE {
                            continue;
                        }
                        m.down = false;
                        m.ep = Endpoint(c.value);
                        if m.cdev.is_some() {
                            if m.death_counted {
                                m.death_counted = false;
                            } else {
                                m.generation = m.generation.wrapping_add(1);
                            }
                            restarted.push(i);
                        }
                    }
                    drop(st);
                    self.driver_restarted(sys, &restarted);
                }
                self.ds_check(sys);
            }
            Err(_) => {
                self.ds_checking = false;
                if core::mem::take(&mut self.ds_again) {
                    self.ds_check(sys);
                }
                self.retry_held(sys);
                let jobs: Vec<u64> = self.jobs.keys().copied().collect();
                for j in jobs {
                    self.poll_job(sys, j);
                }
            }
        }
    }

    fn cdev_reply(&mut self, sys: &mut dyn Sys, msg: &Message) {
        use sys::proto::cdev::CdevReply;
        let Ok(rep) = CdevReply::try_from(msg) else {
            return;
        };
        let (id, res) = match rep {
            CdevReply::Done { id, result } => (id, result),
            CdevReply::Select { id, result, .. } => (id, result),
            CdevReply::SelectReady { minor, ops } => {
                let mnt = self
                    .st
                    .borrow()
                    .mounts
                    .iter()
                    .position(|m| m.cdev.is_some() && m.ep == msg.source());
                if let Some(mnt) = mnt {
                    *self
                        .st
                        .borrow_mut()
                        .cdev_ready
                        .entry((mnt, minor))
                        .or_insert(0) |= ops;
                    // Whoever waits on it re-checks.
                    let jobs: Vec<u64> = self.jobs.keys().copied().collect();
                    for j in jobs {
                        self.poll_job(sys, j);
                    }
                }
                return;
            }
        };
        // Only the server the request went to may answer it: a forged
        // answer would complete (and so lose) someone else's request. (A
        // driver answering a file-system request fails it: not a node.)
        let from_ok = self.pending.get(&id).is_some_and(|p| {
            p.to == msg.source()
                || self
                    .st
                    .borrow()
                    .mounts
                    .get(p.mnt)
                    .is_some_and(|m| m.ep == msg.source())
        });
        if !from_ok {
            return;
        }
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        let mut data = None;
        for (g, out) in p.grants {
            if let Ok(v) = sys.grant_revoke(g)
                && out
            {
                data = Some(v);
            }
        }
        if self.st.borrow_mut().abandoned.remove(&id) {
            return;
        }
        let r = res.map(|n| {
            (
                FsAnswer::Count {
                    n: u64::from(n),
                    pos: 0,
                },
                data,
            )
        });
        self.st.borrow_mut().results.insert(id, r);
        self.poll_job(sys, p.job);
    }

    /// Ends request `id` of `job` with `r` (a failure before any answer):
    /// the job is woken, unless nobody waits for it (a detached request).
    fn fail(&mut self, sys: &mut dyn Sys, job: u64, id: u64, r: FsResult) {
        if self.st.borrow_mut().abandoned.remove(&id) {
            return;
        }
        self.st.borrow_mut().results.insert(id, r);
        self.poll_job(sys, job);
    }

    /// RS took the server with `label` down for good: every request held
    /// for (or sent to) it fails with EIO, and so do later ones.
    fn server_down(&mut self, sys: &mut dyn Sys, label: &str) {
        let mnts: Vec<usize> = {
            let mut st = self.st.borrow_mut();
            st.mounts
                .iter_mut()
                .enumerate()
                .filter(|(_, m)| m.label == label && m.ep != Endpoint::NONE)
                .map(|(i, m)| {
                    m.down = true;
                    i
                })
                .collect()
        };
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| mnts.contains(&p.mnt))
            .map(|(&i, _)| i)
            .collect();
        for id in ids {
            if let Some(p) = self.pending.remove(&id) {
                for (g, _) in p.grants {
                    let _ = sys.grant_revoke(g);
                }
                if !self.st.borrow_mut().abandoned.remove(&id) {
                    self.st.borrow_mut().results.insert(id, Err(Errno::EIO));
                    self.poll_job(sys, p.job);
                }
            }
        }
    }

    fn bounce(&mut self, sys: &mut dyn Sys, b: &DeadPeer) {
        let id = b.request_id();
        if self.pending.get(&id).is_some_and(|p| p.mnt == DS_MNT) {
            if let Some(p) = self.pending.remove(&id) {
                self.st.borrow_mut().results.insert(id, Err(Errno::ESRCH));
                self.poll_job(sys, p.job);
            }
            return;
        }
        let cdev_mnt = self.pending.get(&id).and_then(|p| {
            let st = self.st.borrow();
            st.mounts
                .get(p.mnt)
                .and_then(|m| m.cdev.map(|_| (p.mnt, p.generation)))
        });
        if let Some((mnt, generation)) = cdev_mnt {
            // The driver died with the request: it ends with
            // [`DRIVER_DIED`] (the job asks the new instance again or fails
            // with EIO); files open on the driver are reopened on their
            // next use.
            self.driver_died(mnt, generation);
            self.stats.cdev_lost += 1;
            if let Some(p) = self.pending.remove(&id) {
                for (g, _) in p.grants {
                    let _ = sys.grant_revoke(g);
                }
                if !self.st.borrow_mut().abandoned.remove(&id) {
                    self.st.borrow_mut().results.insert(id, Err(DRIVER_DIED));
                    self.poll_job(sys, p.job);
                }
            }
            return;
        }
        if let Some(p) = self.pending.get_mut(&id) {
            p.held = true;
            self.stats.bounced += 1;
            if let Some(new) = b.new {
                let mut st = self.st.borrow_mut();
                if let Some(m) = st.mounts.get_mut(p.mnt)
                    && m.ep == b.dead
                {
                    m.ep = new;
                }
            }
            self.arm(sys);
        }
    }

    fn retry_held(&mut self, sys: &mut dyn Sys) {
        self.alarm_at = None;
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.held)
            .map(|(&i, _)| i)
            .collect();
        let mut still = false;
        for id in ids {
            let Some(p) = self.pending.get(&id) else {
                continue;
            };
            let (mnt, msg) = (p.mnt, p.msg);
            let ep = self.st.borrow().mounts.get(mnt).map(|m| m.ep);
            let Some(ep) = ep else { continue };
            match sys.request(ep, msg) {
                Ok(()) => {
                    self.stats.resent += 1;
                    if let Some(p) = self.pending.get_mut(&id) {
                        p.held = false;
                        p.to = ep;
                    }
                }
                Err(Errno::EDEADSRCDST(Some(new))) => {
                    if let Some(m) = self.st.borrow_mut().mounts.get_mut(mnt) {
                        m.ep = new;
                    }
                    still = true;
                }
                Err(_) => still = true,
            }
        }
        if still {
            self.arm(sys);
        }
    }

    fn call(&mut self, sys: &mut dyn Sys, msg: Message) {
        let caller = msg.source();
        let call = match VfsCall::try_from(&msg) {
            Ok(c) => c,
            Err(e) => {
                let _ = sys.send(
                    caller,
                    VfsReply {
                        id: msg.request_id(),
                        result: Err(e),
                    }
                    .to_message(),
                );
                return;
            }
        };
        if !self.ready {
            match self.mount_error {
                Some(e) => {
                    let _ = sys.send(
                        caller,
                        VfsReply {
                            id: msg.request_id(),
                            result: Err(e),
                        }
                        .to_message(),
                    );
                }
                None => self.queued.push_back(msg),
            }
            return;
        }
        if self
            .st
            .borrow()
            .mounts
            .first()
            .is_some_and(|m| m.ep == Endpoint::NONE)
        {
            // The root was unmounted (shutdown): no file system is left.
            let _ = sys.send(
                caller,
                VfsReply {
                    id: msg.request_id(),
                    result: Err(Errno::ENXIO),
                }
                .to_message(),
            );
            return;
        }
        let fut = ops::start_call(sys, self.st.clone(), caller, call);
        self.spawn_job(sys, caller, Some(call.id()), fut);
    }
}

impl Vfs {
    /// A call of PM (see [`VfsPmCall`]); only the process DS names
    /// [`PM_LABEL`] may make them.
    fn pm_call(&mut self, sys: &mut dyn Sys, msg: Message) {
        let from = msg.source();
        let answer = |sys: &mut dyn Sys, r: Result<i64, Errno>| {
            let rep = VfsReply {
                id: msg.request_id(),
                result: r.map(sys::proto::vfs::VfsAnswer::Value),
            };
            let _ = sys.send(from, rep.to_message());
        };
        if !self.pm.allows(sys, from) {
            answer(sys, Err(Errno::EPERM));
            return;
        }
        let call = match VfsPmCall::try_from(&msg) {
            Ok(c) => c,
            Err(e) => {
                answer(sys, Err(e));
                return;
            }
        };
        let st = self.st.clone();
        match call {
            VfsPmCall::SetCred {
                ep,
                uid,
                gid,
                euid,
                egid,
                ..
            } => {
                let id16 = |x: u32| u16::try_from(x).map_err(|_| Errno::EINVAL);
                let r = (|| {
                    let (uid, gid, euid, egid) = (id16(uid)?, id16(gid)?, id16(euid)?, id16(egid)?);
                    let mut st = self.st.borrow_mut();
                    let p = st.proc_mut(ep);
                    p.real = (uid, gid);
                    p.cred = Cred {
                        uid: euid,
                        gid: egid,
                    };
                    Ok(0)
                })();
                answer(sys, r);
            }
            VfsPmCall::Unpause { ep, .. } => {
                let n = self.unpause(sys, ep, true);
                answer(sys, Ok(i64::from(n)));
            }
            VfsPmCall::SetSid { ep, .. } => {
                let mut st = self.st.borrow_mut();
                let p = st.proc_mut(ep);
                p.session_leader = true;
                p.ctty = None;
                drop(st);
                answer(sys, Ok(0));
            }
            VfsPmCall::Fork {
                id, parent, child, ..
            } => {
                let fut = ops::pm_fork(st, id, parent, child);
                self.spawn_job(sys, from, None, fut);
            }
            VfsPmCall::Exit { id, ep } => {
                // Its calls: the suspended ones are dropped now, the others
                // end unanswered before its descriptors are closed.
                self.unpause(sys, ep, false);
                self.exiting.entry(ep.0).or_default();
                let fut = ops::pm_exit(st, id, ep);
                let job = self.spawn_job(sys, from, None, fut);
                if self.jobs.contains_key(&job) {
                    self.exiting.entry(ep.0).or_default().push(job);
                } else {
                    self.exit_done(ep, job);
                }
            }
            VfsPmCall::ExecCheck { id, ep, fd } => {
                let fut = ops::pm_exec_check(st, id, ep, fd);
                self.spawn_job(sys, from, None, fut);
            }
            VfsPmCall::ExecDone { id, ep } => {
                let fut = ops::pm_exec_done(st, id, ep);
                self.spawn_job(sys, from, None, fut);
            }
        }
    }

    /// A call of VM (see [`VfsVmCall`]); only the process DS names
    /// [`VM_LABEL`] may make them. Answered when the job ends, with a
    /// one-way send: VFS never waits for VM.
    fn vm_call(&mut self, sys: &mut dyn Sys, msg: Message) {
        let from = msg.source();
        let refuse = |sys: &mut dyn Sys, e: Errno| {
            let rep = VfsReply {
                id: msg.request_id(),
                result: Err(e),
            };
            let _ = sys.send(from, rep.to_message());
        };
        if !self.vm.allows(sys, from) {
            refuse(sys, Errno::EPERM);
            return;
        }
        match VfsVmCall::try_from(&msg) {
            Ok(VfsVmCall::PeekDev {
                id,
                ep,
                fd,
                pos,
                buf,
            }) => {
                let fut = ops::vm_peek_dev(self.st.clone(), id, from, ep, fd, pos, buf);
                self.spawn_job(sys, from, None, fut);
            }
            Err(e) => refuse(sys, e),
        }
    }

    /// Exit job `job` of `ep` finished.
    fn exit_done(&mut self, ep: Endpoint, job: u64) {
        if let Some(v) = self.exiting.get_mut(&ep.0) {
            v.retain(|&j| j != job);
            if v.is_empty() {
                self.exiting.remove(&ep.0);
            }
        }
    }

    /// Interrupt `ep`'s suspended calls (those waiting only on things that
    /// may never come): each is dropped, what it waits on in PFS or a
    /// driver is cancelled, and with `answer` the caller gets `EINTR`.
    /// Calls not yet started (VFS still mounting) count as suspended.
    /// Returns whether there was one.
    fn unpause(&mut self, sys: &mut dyn Sys, ep: Endpoint, answer: bool) -> bool {
        let mut found = false;
        let mut i = 0;
        while i < self.queued.len() {
            if self.queued[i].source() == ep {
                if let Some(m) = self.queued.remove(i)
                    && answer
                {
                    let rep = VfsReply {
                        id: m.request_id(),
                        result: Err(Errno::EINTR),
                    };
                    let _ = sys.send(ep, rep.to_message());
                }
                found = true;
            } else {
                i += 1;
            }
        }
        let jobs: Vec<u64> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.caller == ep && j.user_call.is_some())
            .map(|(&k, _)| k)
            .collect();
        for j in jobs {
            if !self.suspended(j) {
                continue;
            }
            found = true;
            let Some(job) = self.jobs.remove(&j) else {
                continue;
            };
            // Dropping the job abandons its requests: their answers (EINTR
            // after the cancels) are discarded.
            drop(job.fut);
            self.cancel_requests(sys, j);
            if answer && let Some(id) = job.user_call {
                let rep = VfsReply {
                    id,
                    result: Err(Errno::EINTR),
                };
                self.stats.calls += 1;
                let _ = sys.send(ep, rep.to_message());
            }
            self.job_gone(sys, ep, job.user_call);
        }
        self.drain_outbox(sys);
        found
    }

    /// Whether job `j` waits only on interruptible requests, timers or
    /// driver readiness (nothing a file server is working on).
    fn suspended(&self, j: u64) -> bool {
        let st = self.st.borrow();
        self.pending
            .iter()
            .filter(|(id, p)| p.job == j && !st.abandoned.contains(id))
            .all(|(_, p)| p.interruptible)
    }

    /// Cancel what dropped job `j` was suspended on: PFS gets a `Cancel`
    /// (queued and resent like any request), a driver a one-way `Cancel`;
    /// a held request is not resent.
    fn cancel_requests(&mut self, sys: &mut dyn Sys, j: u64) {
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.job == j && p.interruptible)
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            let Some(p) = self.pending.get(&id) else {
                continue;
            };
            let (pipes, cdev) = {
                let st = self.st.borrow();
                let m = st.mounts.get(p.mnt);
                (
                    m.is_some_and(|m| m.pipes),
                    m.is_some_and(|m| m.cdev.is_some()),
                )
            };
            let (mnt, to, msg, held) = (p.mnt, p.to, p.msg, p.held);
            if held && let Some(p) = self.pending.remove(&id) {
                for (g, _) in p.grants {
                    let _ = sys.grant_revoke(g);
                }
                self.st.borrow_mut().abandoned.remove(&id);
            }
            if pipes {
                let mut st = self.st.borrow_mut();
                let cid = st.new_id();
                st.outbox.push((
                    0,
                    cid,
                    FsOp {
                        mnt,
                        req: FsRequest::Sync { id: 0 },
                        g1: GSpec::None,
                        g2: GSpec::None,
                        pipe: Some(pfs::proto::PipeRequest::Cancel { id: 0, target: id }),
                        cdev: None,
                        ds_label: None,
                    },
                ));
                st.abandoned.insert(cid);
            } else if cdev && !held {
                use sys::proto::cdev::CdevRequest;
                if let Ok(
                    CdevRequest::Read { minor, .. }
                    | CdevRequest::Write { minor, .. }
                    | CdevRequest::Ioctl { minor, .. },
                ) = CdevRequest::try_from(&msg)
                {
                    let _ = sys.send(to, CdevRequest::Cancel { id, minor }.to_message());
                }
            }
        }
    }
}

impl Process for Vfs {
    fn start(&mut self, sys: &mut dyn Sys) {
        // Learn of restarts (labels republished); the initial values are
        // not asked for: the mount table is already current.
        let _ = sys::ds::subscribe(
            sys,
            "*",
            sys::proto::ds::DsType::Label.bit(),
            sys::proto::ds::DsFlags::NONE,
        );
        let specs = self.specs.clone();
        let fut = ops::mount_all(
            self.st.clone(),
            specs,
            self.pipe_spec.clone(),
            self.cdev_specs.clone(),
        );
        self.spawn_job(sys, MOUNT_JOB_CALLER, None, fut);
    }

    fn receive(&mut self, sys: &mut dyn Sys, msg: Message) {
        if is_notify(&msg) {
            if msg.source() == Endpoint::CLOCK {
                self.retry_held(sys);
                self.fire_timers(sys);
            }
            if msg.source() == Endpoint::DS {
                if self.ds_checking {
                    // A change may have come after the check in flight.
                    self.ds_again = true;
                } else {
                    self.ds_check(sys);
                }
            }
            return;
        }
        if msg.source() == Endpoint::DS
            && let Ok(rep) = sys::proto::ds::DsReply::try_from(&msg)
        {
            if rep.id == DS_CHECK_ID {
                self.ds_reply(sys, rep);
            } else if self.pending.get(&rep.id).is_some_and(|p| p.mnt == DS_MNT)
                && let Some(p) = self.pending.remove(&rep.id)
            {
                let r = rep.result.map(|a| {
                    (
                        FsAnswer::Count {
                            n: u64::from(a.value),
                            pos: 0,
                        },
                        None,
                    )
                });
                if !self.st.borrow_mut().abandoned.remove(&rep.id) {
                    self.st.borrow_mut().results.insert(rep.id, r);
                    self.poll_job(sys, p.job);
                }
            }
            return;
        }
        if let Ok(b) = DeadPeer::try_from(&msg)
            && b.request_id() == DS_CHECK_ID
        {
            self.ds_checking = false;
            return;
        }
        if let Ok(b) = DeadPeer::try_from(&msg) {
            self.bounce(sys, &b);
            return;
        }
        if FsReply::is_fs_reply(&msg) {
            self.fs_reply(sys, &msg);
            return;
        }
        if sys::proto::cdev::CdevReply::try_from(&msg).is_ok() {
            self.cdev_reply(sys, &msg);
            return;
        }
        if VfsPmCall::is_pm_call(&msg) {
            self.pm_call(sys, msg);
            return;
        }
        if VfsVmCall::is_vm_call(&msg) {
            self.vm_call(sys, msg);
            return;
        }
        self.call(sys, msg);
    }
}
