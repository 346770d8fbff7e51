//! The PM service: decodes calls, keeps the [`Table`], and drives the
//! multi-step operations (fork, exec, exit, signal delivery) as state
//! machines over asynchronous requests to VM and VFS.
//!
//! Deadlock rule: PM never waits for VM or VFS (both may be waiting for
//! PM's processes, and VM/VFS never `sendrec` to PM anyway): every request
//! to them is `Sys::request` (kernel `SendA` with an owed answer, bounced
//! if the server dies) and the answer arrives later as a message. The only
//! synchronous calls are to DS (label look-ups; DS never calls PM) and
//! kernel calls.

use crate::table::{Disposition, Held, INIT_PID, Pid, SigAction, Table};
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use sys::proto::fs::Buf;
use sys::proto::kernel::{DeadPeer, is_notify};
use sys::proto::pm::{
    self as proto, PmCall, PmReply, SIGACTION_QUERY, SIGFRAME_LEN, SigFrame, WNOHANG, reg, sig,
};
use sys::proto::rs::InitKind;
use sys::proto::vfs::{VfsAnswer, VfsCall, VfsPmCall, VfsReply};
use sys::proto::vm::{ExecImage, GrantRef, VmAnswer, VmPmCall, VmReply};
use sys::{Ctx, Endpoint, Errno, HZ, InitInfo, Message, Service};
use zerocopy::{FromBytes, IntoBytes};

/// The terminal driver's label: the only sender of `PmCall::SigGroup`.
pub const TTY_LABEL: &str = "tty";

/// Registers in GetRegs / SetRegs order ([`reg`]).
pub type Regs = [u64; reg::COUNT];

/// Bytes left untouched below the interrupted stack pointer (the SysV
/// red zone) when a signal frame is pushed.
pub const RED_ZONE: u64 = 128;

/// The kernel calls PM makes (natively `rt::sys`; tests may fake them).
pub trait Kernel {
    /// Endpoint of the live process named `name`.
    fn whois(&mut self, name: &str) -> Option<u32>;
    /// Make `mgr` the signal manager of `ep`.
    fn set_sigmgr(&mut self, ep: u32, mgr: u32) -> Result<(), Errno>;
    /// One managed process with pending signals: (endpoint, bit set).
    fn sig_pending(&mut self) -> Option<(u32, u64)>;
    /// `ProcInfo` words.
    fn proc_info(&mut self, ep: u32) -> Result<[u64; abi::PROCINFO_WORDS], Errno>;
    /// Stop a process for good (kept for its manager).
    fn kill(&mut self, ep: u32) -> Result<(), Errno>;
    /// Free a kept process's slot.
    fn release(&mut self, ep: u32) -> Result<(), Errno>;
    /// Stop; returns the endpoint it is blocked on in IPC.
    fn stop(&mut self, ep: u32) -> Result<u32, Errno>;
    /// Let a stopped process run.
    fn resume(&mut self, ep: u32) -> Result<(), Errno>;
    /// Saved registers.
    fn get_regs(&mut self, ep: u32) -> Result<Regs, Errno>;
    /// Replace the registers of a stopped process (cancels its IPC call).
    fn set_regs(&mut self, ep: u32, regs: &Regs) -> Result<(), Errno>;
    /// Copy bytes of PM into `ep`'s memory.
    fn copy_to(&mut self, ep: u32, addr: u64, bytes: &[u8]) -> Result<(), Errno>;
    /// Copy bytes of `ep`'s memory into PM.
    fn copy_from(&mut self, ep: u32, addr: u64, buf: &mut [u8]) -> Result<(), Errno>;
    /// Start a new image (abandons a pending IPC call).
    fn set_entry(&mut self, ep: u32, rip: u64, rsp: u64, rdi: u64, rsi: u64) -> Result<(), Errno>;
    /// Rename a process (kernel `SetName`: the name of its `[name]`
    /// console lines, kernel messages and `WhoIs`).
    fn set_name(&mut self, ep: u32, name: &str) -> Result<(), Errno>;
    /// `Times` words: user ticks, system ticks, system TSC, uptime.
    fn times(&mut self, ep: u32) -> Result<[u64; abi::TIMES_WORDS], Errno>;
    /// End the run (verdict 0 = pass). Returns only if not allowed.
    fn shutdown(&mut self, verdict: u64);
}

/// The kernel process name for a program file name (`SetName`): at most
/// `abi::MAX_PROC_NAME` bytes, anything but printable ASCII without
/// spaces shown as `?`; `None` for an empty name.
pub fn kernel_name(base: &[u8]) -> Option<String> {
    let name: String = base
        .iter()
        .take(abi::MAX_PROC_NAME)
        .map(|&b| {
            if b.is_ascii_graphic() {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect();
    (!name.is_empty()).then_some(name)
}

/// PM's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Boot-started user processes to adopt at init, by name; the first
    /// one found becomes init (pid 1), the others children of init.
    pub adopt: Vec<String>,
    /// Process-table size.
    pub limit: usize,
    /// Slots only root may fill.
    pub root_reserve: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            // bootinit at boot; after its exec the kernel names it `init`
            // (what a PM restarted without its table finds).
            adopt: alloc::vec!["bootinit".into(), "init".into()],
            limit: crate::table::DEFAULT_LIMIT,
            root_reserve: crate::table::DEFAULT_ROOT_RESERVE,
        }
    }
}

/// A request PM has out at VM or VFS.
#[derive(Debug, Clone, Copy)]
enum Req {
    ForkVm {
        parent: Pid,
        id: u64,
    },
    ForkVfs {
        parent: Pid,
        id: u64,
        child: Pid,
    },
    ExecCheck {
        pid: Pid,
        id: u64,
        image: Buf,
        block: Buf,
    },
    ExecVm {
        pid: Pid,
        id: u64,
        set_uid: Option<u32>,
        set_gid: Option<u32>,
    },
    ExecFinish {
        pid: Pid,
    },
    Cred {
        pid: Pid,
        id: Option<u64>,
    },
    /// VFS was told `pid` became a session leader (it loses its
    /// controlling terminal); its setsid `id` is answered after.
    SetSid {
        pid: Pid,
        id: u64,
    },
    Exit {
        pid: Pid,
    },
    ExitVm {
        pid: Pid,
    },
    Stray {
        ep: u32,
    },
    StrayVm {
        ep: u32,
    },
    NewProc {
        pid: Pid,
    },
    Unpause {
        pid: Pid,
    },
    Sync,
}

impl Req {
    fn to_vm(self) -> bool {
        matches!(
            self,
            Req::ForkVm { .. }
                | Req::ExecVm { .. }
                | Req::NewProc { .. }
                | Req::ExitVm { .. }
                | Req::StrayVm { .. }
        )
    }
}

/// An operation in progress for a process (at most one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Fork,
    Exec,
    ExecFinish { img: ExecImage, left: u32 },
    Cred,
    Deliver { signo: u32 },
    Teardown { left: u32 },
}

#[derive(Debug, Clone, Copy)]
enum Answer {
    Vm(VmAnswer),
    Vfs(VfsAnswer),
}

/// Counters (for logs and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Forks completed.
    pub forks: u64,
    /// Execs completed.
    pub execs: u64,
    /// Processes torn down.
    pub exits: u64,
    /// Handlers entered.
    pub deliveries: u64,
    /// Deliveries put off to a later tick (target busy in IPC elsewhere).
    pub retries: u64,
}

/// The process manager.
pub struct Pm<K: Kernel> {
    k: K,
    cfg: Config,
    t: Table,
    me: Endpoint,
    vm: Option<Endpoint>,
    vfs: Option<Endpoint>,
    next_req: u64,
    reqs: BTreeMap<u64, (Endpoint, Req)>,
    ops: BTreeMap<Pid, Op>,
    forks_in_flight: usize,
    dirty: BTreeSet<Pid>,
    retry: BTreeSet<Pid>,
    newproc: BTreeSet<Pid>,
    strays: BTreeMap<u32, u32>,
    reboot: Option<(u64, u64)>,
    armed: Option<u64>,
    stats: Stats,
    /// Requests waiting for room at their server (kernel bound on owed
    /// answers), in order.
    backlog: VecDeque<(Endpoint, Message)>,
    /// Initialised once: a PM taken back from the preserved heap by a
    /// restarted instance recovers instead of starting over.
    started: bool,
    /// The terminal driver, the only sender of `SigGroup`.
    tty: sys::ds::OnlyClient,
}

impl<K: Kernel> Pm<K> {
    /// A PM over kernel `k`.
    pub fn new(k: K, cfg: Config) -> Self {
        let t = Table::new(cfg.limit, cfg.root_reserve);
        Pm {
            k,
            cfg,
            t,
            me: Endpoint::NONE,
            vm: None,
            vfs: None,
            next_req: 1,
            reqs: BTreeMap::new(),
            ops: BTreeMap::new(),
            forks_in_flight: 0,
            dirty: BTreeSet::new(),
            retry: BTreeSet::new(),
            newproc: BTreeSet::new(),
            strays: BTreeMap::new(),
            reboot: None,
            armed: None,
            stats: Stats::default(),
            backlog: VecDeque::new(),
            started: false,
            tty: sys::ds::OnlyClient::new(Some(TTY_LABEL)),
        }
    }

    /// The process table.
    pub fn table(&self) -> &Table {
        &self.t
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The kernel binding.
    pub fn kernel(&mut self) -> &mut K {
        &mut self.k
    }

    // ---- servers ----

    fn server(&mut self, cx: &mut Ctx<'_>, vm: bool) -> Result<Endpoint, Errno> {
        let cached = if vm { self.vm } else { self.vfs };
        if let Some(e) = cached {
            return Ok(e);
        }
        let e = sys::ds::retrieve_label(cx.sys, if vm { "vm" } else { "vfs" })?;
        if vm {
            self.vm = Some(e);
        } else {
            self.vfs = Some(e);
        }
        Ok(e)
    }

    fn forget(&mut self, ep: Endpoint) {
        if self.vm == Some(ep) {
            self.vm = None;
        }
        if self.vfs == Some(ep) {
            self.vfs = None;
        }
    }

    fn request(
        &mut self,
        cx: &mut Ctx<'_>,
        msg: impl FnOnce(u64) -> Message,
        r: Req,
    ) -> Result<(), Errno> {
        let to = self.server(cx, r.to_vm())?;
        let id = self.next_req;
        self.next_req += 1;
        let m = msg(id);
        // In order behind requests already waiting for room.
        if self.backlog.iter().any(|(d, _)| *d == to) {
            self.backlog.push_back((to, m));
        } else {
            match cx.sys.request(to, m) {
                Ok(()) => {}
                // The kernel's bound on requests owed by one receiver (or
                // its queue) is reached: sent when answers make room.
                Err(Errno::ENOTREADY) => self.backlog.push_back((to, m)),
                Err(e) => {
                    self.forget(to);
                    return Err(e);
                }
            }
        }
        self.reqs.insert(id, (to, r));
        Ok(())
    }

    /// Send what waits for room, oldest first, per server.
    fn pump(&mut self, cx: &mut Ctx<'_>) {
        let mut full: Vec<Endpoint> = Vec::new();
        let mut kept = VecDeque::new();
        while let Some((to, m)) = self.backlog.pop_front() {
            if full.contains(&to) {
                kept.push_back((to, m));
                continue;
            }
            match cx.sys.request(to, m) {
                Ok(()) => {}
                Err(Errno::ENOTREADY) => {
                    full.push(to);
                    kept.push_back((to, m));
                }
                Err(e) => {
                    self.forget(to);
                    if let Some((_, req)) = self.reqs.remove(&m.request_id()) {
                        self.complete(cx, req, Err(e));
                    }
                }
            }
        }
        // Completions above may have queued more behind the kept ones.
        kept.extend(self.backlog.drain(..));
        self.backlog = kept;
    }

    fn vm(
        &mut self,
        cx: &mut Ctx<'_>,
        call: impl FnOnce(u64) -> VmPmCall,
        r: Req,
    ) -> Result<(), Errno> {
        self.request(cx, |id| call(id).to_message(), r)
    }

    fn vfs(
        &mut self,
        cx: &mut Ctx<'_>,
        call: impl FnOnce(u64) -> VfsPmCall,
        r: Req,
    ) -> Result<(), Errno> {
        self.request(cx, |id| call(id).to_message(), r)
    }

    fn reply(&mut self, cx: &mut Ctx<'_>, ep: u32, r: PmReply) {
        // The caller may be gone; nothing to do then.
        let _ = cx.sys.send(Endpoint(ep), r.to_message());
    }

    fn ep_of(&self, pid: Pid) -> Option<u32> {
        self.t.get(pid).map(|p| p.ep)
    }

    // ---- adoption ----

    fn adopt(&mut self, cx: &mut Ctx<'_>, ep: u32, name: &str, as_init: bool) {
        if let Err(e) = self.k.set_sigmgr(ep, self.me.0) {
            cx.sys.log(&format!("pm: cannot manage {name}: {e}"));
            return;
        }
        let pid = if as_init {
            self.t.add_init(ep, name)
        } else {
            self.t.adopt(ep, name)
        };
        let Ok(pid) = pid else {
            return;
        };
        cx.sys.log(&format!("pm: adopted {name} as pid {pid}"));
        self.newproc.insert(pid);
        self.send_newproc(cx, pid);
        let _ = self.vfs(
            cx,
            |id| VfsPmCall::SetCred {
                id,
                ep: Endpoint(ep),
                uid: 0,
                gid: 0,
                euid: 0,
                egid: 0,
            },
            Req::Cred { pid, id: None },
        );
    }

    fn send_newproc(&mut self, cx: &mut Ctx<'_>, pid: Pid) {
        let Some(ep) = self.ep_of(pid) else {
            self.newproc.remove(&pid);
            return;
        };
        if self
            .vm(
                cx,
                |id| VmPmCall::NewProc {
                    id,
                    ep: Endpoint(ep),
                },
                Req::NewProc { pid },
            )
            .is_ok()
        {
            self.newproc.remove(&pid);
        }
    }

    // ---- calls ----

    fn call(&mut self, cx: &mut Ctx<'_>, msg: &Message) {
        let src = msg.source();
        let id = msg.request_id();
        if Some(src) == self.vm || Some(src) == self.vfs {
            // An answer PM no longer waits for (a request of a previous
            // instance, or of an operation that ended): never answered.
            return;
        }
        let call = match PmCall::try_from(msg) {
            Ok(c) => c,
            Err(e) => {
                self.reply(cx, src.0, PmReply::error(id, e));
                return;
            }
        };
        let Some(pid) = self.t.pid_of(src.0) else {
            let r = self.stranger(cx, src, call);
            self.reply(cx, src.0, r);
            return;
        };
        let alive = self.t.get(pid).is_some_and(|p| p.alive());
        if !alive {
            return;
        }
        if self.ops.contains_key(&pid) {
            // Only a forged asynchronous message can get here.
            self.reply(cx, src.0, PmReply::error(id, Errno::EBUSY));
            return;
        }
        match self.dispatch(cx, pid, call) {
            Ok(Some(r)) => self.reply(cx, src.0, r),
            Ok(None) => {}
            Err(e) => self.reply(cx, src.0, PmReply::error(id, e)),
        }
        self.dirty.insert(pid);
    }

    /// A caller PM does not know (a system process, or one started before
    /// this PM instance).
    fn stranger(&mut self, cx: &mut Ctx<'_>, src: Endpoint, call: PmCall) -> PmReply {
        let id = call.id();
        match call {
            PmCall::Times { .. } => self.times_reply(id, src.0, (0, 0)),
            PmCall::ProcList { buf, index, .. } => self
                .proc_list(cx, src, id, buf, index)
                .unwrap_or_else(|e| PmReply::error(id, e)),
            PmCall::GetCred { ep, .. } => self.cred_of(id, ep),
            PmCall::SigGroup { pgrp, sig: s, .. } => {
                if !self.tty.allows(cx.sys, src) {
                    return PmReply::error(id, Errno::EPERM);
                }
                match self.signal_group(cx, pgrp, s) {
                    Ok(n) => PmReply::value(id, n as i64),
                    Err(e) => PmReply::error(id, e),
                }
            }
            _ => PmReply::error(id, Errno::ESRCH),
        }
    }

    /// `SigGroup` from the terminal driver: `s` to every live process of
    /// group `pgrp` (no permission check: the terminal speaks for its
    /// user), how many there were. Signal 0 only counts.
    fn signal_group(&mut self, cx: &mut Ctx<'_>, pgrp: i32, s: u32) -> Result<usize, Errno> {
        if pgrp <= 0 || s >= sig::NSIG {
            return Err(Errno::EINVAL);
        }
        let targets: Vec<Pid> = self
            .t
            .iter()
            .filter(|p| p.alive() && p.pgrp == pgrp)
            .map(|p| p.pid)
            .collect();
        if targets.is_empty() {
            return Err(Errno::ESRCH);
        }
        if s != 0 {
            for &t in &targets {
                self.raise(cx, t, s);
                self.dirty.insert(t);
            }
        }
        Ok(targets.len())
    }

    /// `GetCred`: the ids of the live user process at `ep` (RS asks before
    /// it serves a `service` request), `ESRCH` for one PM does not know.
    fn cred_of(&self, id: u64, ep: u32) -> PmReply {
        let p = self
            .t
            .pid_of(ep)
            .and_then(|pid| self.t.get(pid))
            .filter(|p| p.alive());
        match p {
            Some(p) => PmReply::with_extra(
                id,
                i64::from(p.pid),
                [
                    i64::from(p.uid),
                    i64::from(p.euid),
                    i64::from(p.gid),
                    i64::from(p.egid),
                ],
            ),
            None => PmReply::error(id, Errno::ESRCH),
        }
    }

    fn times_reply(&mut self, id: u64, ep: u32, children: (u64, u64)) -> PmReply {
        match self.k.times(ep) {
            Ok(t) => PmReply::with_extra(
                id,
                t[0] as i64,
                [
                    t[1] as i64,
                    children.0 as i64,
                    children.1 as i64,
                    t[3] as i64,
                ],
            ),
            Err(e) => PmReply::error(id, e),
        }
    }

    fn proc_list(
        &mut self,
        cx: &mut Ctx<'_>,
        src: Endpoint,
        id: u64,
        buf: Buf,
        index: u32,
    ) -> Result<PmReply, Errno> {
        let room = buf.len as usize / proto::PROC_RECORD_LEN;
        if room == 0 {
            return Err(Errno::EINVAL);
        }
        let from = i32::try_from(index).unwrap_or(i32::MAX);
        let mut bytes = Vec::new();
        let mut next = -1i64;
        let mut n = 0;
        for p in self.t.iter().filter(|p| p.pid >= from) {
            if n == room {
                next = i64::from(p.pid);
                break;
            }
            bytes.extend_from_slice(Table::record(p).as_bytes());
            n += 1;
        }
        if !bytes.is_empty() {
            cx.sys.safecopy_to(src, buf.grant, 0, &bytes)?;
        }
        Ok(PmReply::with_extra(id, n as i64, [next, 0, 0, 0]))
    }

    fn dispatch(
        &mut self,
        cx: &mut Ctx<'_>,
        pid: Pid,
        call: PmCall,
    ) -> Result<Option<PmReply>, Errno> {
        let ep = self.ep_of(pid).ok_or(Errno::ESRCH)?;
        let value = |id, v: i64| Ok(Some(PmReply::value(id, v)));
        match call {
            PmCall::Fork { id } => {
                self.t.can_fork(pid, self.forks_in_flight)?;
                self.vm(
                    cx,
                    |rid| VmPmCall::Fork {
                        id: rid,
                        parent: Endpoint(ep),
                    },
                    Req::ForkVm { parent: pid, id },
                )
                .map_err(|_| Errno::EAGAIN)?;
                self.forks_in_flight += 1;
                self.ops.insert(pid, Op::Fork);
                Ok(None)
            }
            PmCall::Exec {
                id,
                fd,
                image,
                block,
            } => {
                self.vfs(
                    cx,
                    |rid| VfsPmCall::ExecCheck {
                        id: rid,
                        ep: Endpoint(ep),
                        fd,
                    },
                    Req::ExecCheck {
                        pid,
                        id,
                        image,
                        block,
                    },
                )
                .map_err(|_| Errno::EIO)?;
                self.ops.insert(pid, Op::Exec);
                Ok(None)
            }
            PmCall::Wait {
                id,
                pid: which,
                options,
            } => match self.t.wait(pid, which, options)? {
                Some((c, st)) => Ok(Some(PmReply::with_extra(
                    id,
                    i64::from(c),
                    [i64::from(st), 0, 0, 0],
                ))),
                None if options & WNOHANG != 0 => value(id, 0),
                None => {
                    if let Some(p) = self.t.get_mut(pid) {
                        p.held = Held::Wait {
                            id,
                            pid: which,
                            options,
                        };
                    }
                    Ok(None)
                }
            },
            PmCall::Getpid { id } => {
                let ppid = self.t.get(pid).map_or(0, |p| p.ppid);
                Ok(Some(PmReply::with_extra(
                    id,
                    i64::from(pid),
                    [i64::from(ppid), 0, 0, 0],
                )))
            }
            PmCall::GetIds { id } => {
                let p = self.t.get(pid).ok_or(Errno::ESRCH)?;
                Ok(Some(PmReply::with_extra(
                    id,
                    i64::from(p.uid),
                    [i64::from(p.euid), i64::from(p.gid), i64::from(p.egid), 0],
                )))
            }
            PmCall::Setuid { id, uid } => {
                self.t.setuid(pid, uid)?;
                self.cred_changed(cx, pid, id)
            }
            PmCall::Setgid { id, gid } => {
                self.t.setgid(pid, gid)?;
                self.cred_changed(cx, pid, id)
            }
            PmCall::Seteuid { id, uid } => {
                self.t.seteuid(pid, uid)?;
                self.cred_changed(cx, pid, id)
            }
            PmCall::Setegid { id, gid } => {
                self.t.setegid(pid, gid)?;
                self.cred_changed(cx, pid, id)
            }
            PmCall::Setsid { id } => {
                let sid = self.t.setsid(pid)?;
                // VFS drops its controlling terminal before setsid returns.
                let e = Endpoint(ep);
                if self
                    .vfs(
                        cx,
                        |rid| VfsPmCall::SetSid { id: rid, ep: e },
                        Req::SetSid { pid, id },
                    )
                    .is_ok()
                {
                    self.ops.insert(pid, Op::Cred);
                    Ok(None)
                } else {
                    // No VFS to tell (a system without one).
                    value(id, i64::from(sid))
                }
            }
            PmCall::Getpgrp { id } => value(id, i64::from(self.t.get(pid).map_or(0, |p| p.pgrp))),
            PmCall::Setpgid {
                id,
                pid: target,
                pgid,
            } => {
                self.t.setpgid(pid, target, pgid)?;
                value(id, 0)
            }
            PmCall::Kill {
                id,
                pid: which,
                sig: s,
            } => {
                let targets = self.t.kill_targets(pid, which, s)?;
                // Answer first: the caller may be among the targets.
                self.reply(cx, ep, PmReply::value(id, 0));
                if s != 0 {
                    for t in targets {
                        self.raise(cx, t, s);
                    }
                }
                Ok(None)
            }
            PmCall::Sigaction {
                id,
                sig: s,
                handler,
                trampoline,
                mask,
                flags,
            } => {
                let new = (flags & SIGACTION_QUERY == 0).then_some(SigAction {
                    handler,
                    mask,
                    flags,
                });
                let old = self.t.sigaction(pid, s, new, trampoline)?;
                Ok(Some(PmReply::with_extra(
                    id,
                    old.handler as i64,
                    [old.mask as i64, i64::from(old.flags), 0, 0],
                )))
            }
            PmCall::Sigprocmask { id, how, set } => {
                value(id, self.t.sigprocmask(pid, how, set)? as i64)
            }
            PmCall::Sigsuspend { id, mask } => {
                let p = self.t.get_mut(pid).ok_or(Errno::ESRCH)?;
                p.held = Held::Suspend {
                    id,
                    old_mask: p.mask,
                };
                p.mask = mask & sig::ALL & !sig::UNCATCHABLE;
                Ok(None)
            }
            PmCall::Sigpending { id } => {
                let p = self.t.get(pid).ok_or(Errno::ESRCH)?;
                value(id, (p.pending & p.mask) as i64)
            }
            PmCall::Sigreturn { frame, .. } => {
                self.sigreturn(cx, pid, ep, frame);
                Ok(None)
            }
            PmCall::Alarm { id, seconds } => {
                let now = cx.sys.now();
                value(id, i64::from(self.t.set_alarm(pid, now, seconds, HZ)?))
            }
            PmCall::Times { id } => {
                let ct = self.t.get(pid).map_or((0, 0), |p| p.child_times);
                Ok(Some(self.times_reply(id, ep, ct)))
            }
            PmCall::ProcList { id, buf, index } => {
                self.proc_list(cx, Endpoint(ep), id, buf, index).map(Some)
            }
            PmCall::Reboot { id, how } => {
                let p = self.t.get(pid).ok_or(Errno::ESRCH)?;
                if p.euid != 0 {
                    return Err(Errno::EPERM);
                }
                if how > proto::REBOOT_FAIL {
                    return Err(Errno::EINVAL);
                }
                self.reply(cx, ep, PmReply::value(id, 0));
                self.start_reboot(cx, u64::from(how));
                Ok(None)
            }
            // For system processes (RS); a user process may not look up
            // another's credentials.
            PmCall::GetCred { .. } => Err(Errno::EPERM),
            // Only the terminal driver signals a group without a
            // permission check.
            PmCall::SigGroup { .. } => Err(Errno::EPERM),
        }
    }

    fn cred_changed(
        &mut self,
        cx: &mut Ctx<'_>,
        pid: Pid,
        id: u64,
    ) -> Result<Option<PmReply>, Errno> {
        if self.send_cred(cx, pid, Req::Cred { pid, id: Some(id) }) {
            self.ops.insert(pid, Op::Cred);
            Ok(None)
        } else {
            // No VFS to tell (a system without one).
            Ok(Some(PmReply::value(id, 0)))
        }
    }

    fn send_cred(&mut self, cx: &mut Ctx<'_>, pid: Pid, req: Req) -> bool {
        let Some(p) = self.t.get(pid) else {
            return false;
        };
        let (ep, uid, gid, euid, egid) = (p.ep, p.uid, p.gid, p.euid, p.egid);
        self.vfs(
            cx,
            |rid| VfsPmCall::SetCred {
                id: rid,
                ep: Endpoint(ep),
                uid,
                gid,
                euid,
                egid,
            },
            req,
        )
        .is_ok()
    }

    fn start_reboot(&mut self, cx: &mut Ctx<'_>, verdict: u64) {
        if self.reboot.is_some() {
            // The first reboot under way decides the verdict.
            return;
        }
        cx.sys.log("pm: reboot: syncing file systems");
        let deadline = cx.sys.now() + 3 * HZ;
        self.reboot = Some((deadline, verdict));
        if self
            .request(cx, |id| VfsCall::Sync { id }.to_message(), Req::Sync)
            .is_err()
        {
            self.finish_reboot(cx);
        }
    }

    fn finish_reboot(&mut self, cx: &mut Ctx<'_>) {
        if let Some((_, verdict)) = self.reboot.take() {
            cx.sys.log("pm: reboot: halting");
            self.k.shutdown(verdict);
        }
    }

    // ---- answers from VM and VFS ----

    fn answer(&mut self, cx: &mut Ctx<'_>, msg: &Message) -> bool {
        let id = msg.request_id();
        let Some(&(to, req)) = self.reqs.get(&id) else {
            return false;
        };
        if to != msg.source() {
            return false;
        }
        let result = if req.to_vm() {
            match VmReply::try_from(msg) {
                Ok(r) => r.result.map(Answer::Vm),
                Err(_) => return false,
            }
        } else {
            match VfsReply::try_from(msg) {
                Ok(r) => r.result.map(Answer::Vfs),
                Err(_) => return false,
            }
        };
        self.reqs.remove(&id);
        self.complete(cx, req, result);
        true
    }

    fn bounced(&mut self, cx: &mut Ctx<'_>, b: &DeadPeer) {
        if let Some((to, req)) = self.reqs.remove(&b.request_id()) {
            self.forget(to);
            self.complete(cx, req, Err(b.errno()));
        }
    }

    fn complete(&mut self, cx: &mut Ctx<'_>, req: Req, r: Result<Answer, Errno>) {
        match req {
            Req::ForkVm { parent, id } => {
                self.forks_in_flight = self.forks_in_flight.saturating_sub(1);
                self.fork_vm_done(cx, parent, id, r);
            }
            Req::ForkVfs { parent, id, child } => {
                self.fork_finish(cx, parent, id, child, r.map(drop))
            }
            Req::ExecCheck {
                pid,
                id,
                image,
                block,
            } => self.exec_checked(cx, pid, id, image, block, r),
            Req::ExecVm {
                pid,
                id,
                set_uid,
                set_gid,
            } => self.exec_built(cx, pid, id, set_uid, set_gid, r),
            Req::ExecFinish { pid } => {
                if let Some(Op::ExecFinish { img, left }) = self.ops.get(&pid).copied() {
                    if left <= 1 {
                        self.start_image(cx, pid, img);
                    } else {
                        self.ops.insert(
                            pid,
                            Op::ExecFinish {
                                img,
                                left: left - 1,
                            },
                        );
                    }
                }
            }
            Req::Cred { pid, id } => {
                if let Err(e) = r {
                    cx.sys
                        .log(&format!("pm: VFS refused the ids of pid {pid}: {e}"));
                }
                if let Some(id) = id
                    && self.ops.get(&pid) == Some(&Op::Cred)
                {
                    self.ops.remove(&pid);
                    if let Some(ep) = self.ep_of(pid) {
                        self.reply(cx, ep, PmReply::value(id, 0));
                    }
                    self.dirty.insert(pid);
                }
            }
            Req::SetSid { pid, id } => {
                if let Err(e) = r {
                    cx.sys.log(&format!(
                        "pm: VFS refused the new session of pid {pid}: {e}"
                    ));
                }
                if self.ops.get(&pid) == Some(&Op::Cred) {
                    self.ops.remove(&pid);
                    if let Some(ep) = self.ep_of(pid) {
                        // setsid's value: the new session id, the pid.
                        self.reply(cx, ep, PmReply::value(id, i64::from(pid)));
                    }
                    self.dirty.insert(pid);
                }
            }
            Req::Exit { pid } | Req::ExitVm { pid } => {
                if let Some(Op::Teardown { left }) = self.ops.get(&pid).copied() {
                    if left <= 1 {
                        self.torn_down(cx, pid);
                    } else {
                        self.ops.insert(pid, Op::Teardown { left: left - 1 });
                    }
                }
            }
            Req::Stray { ep } | Req::StrayVm { ep } => {
                let left = self.strays.get(&ep).copied().unwrap_or(1);
                if left <= 1 {
                    self.strays.remove(&ep);
                    let _ = self.k.release(ep);
                } else {
                    self.strays.insert(ep, left - 1);
                }
            }
            Req::NewProc { pid } => {
                if let Err(e) = r {
                    cx.sys.log(&format!("pm: VM did not adopt pid {pid}: {e}"));
                }
            }
            Req::Unpause { pid } => self.unpaused(cx, pid),
            Req::Sync => self.finish_reboot(cx),
        }
    }

    // ---- fork ----

    fn fork_vm_done(&mut self, cx: &mut Ctx<'_>, parent: Pid, id: u64, r: Result<Answer, Errno>) {
        let child_ep = match r {
            Ok(Answer::Vm(VmAnswer::Value(v))) => Ok(v as u32),
            Ok(_) => Err(Errno::EIO),
            Err(Errno::EDEADSRCDST(_)) => Err(Errno::EAGAIN),
            Err(e) => Err(e),
        };
        let parent_ok = self.ops.get(&parent) == Some(&Op::Fork)
            && self.t.get(parent).is_some_and(|p| p.alive());
        let child_ep = match (child_ep, parent_ok) {
            (Ok(c), true) => c,
            (Ok(c), false) => {
                // The parent died meanwhile: the child never runs.
                self.stray_teardown(cx, c);
                return;
            }
            (Err(_), false) => return,
            (Err(e), true) => {
                self.ops.remove(&parent);
                if let Some(ep) = self.ep_of(parent) {
                    self.reply(cx, ep, PmReply::error(id, e));
                }
                return;
            }
        };
        let child = match self.t.alloc_pid() {
            Some(c) if self.t.add_child(parent, c, child_ep).is_ok() => c,
            _ => {
                self.stray_teardown(cx, child_ep);
                self.ops.remove(&parent);
                if let Some(ep) = self.ep_of(parent) {
                    self.reply(cx, ep, PmReply::error(id, Errno::EAGAIN));
                }
                return;
            }
        };
        let parent_ep = self.ep_of(parent).unwrap_or(0);
        let sent = self.vfs(
            cx,
            |rid| VfsPmCall::Fork {
                id: rid,
                parent: Endpoint(parent_ep),
                child: Endpoint(child_ep),
            },
            Req::ForkVfs { parent, id, child },
        );
        if sent.is_err() {
            // No VFS: the child runs without descriptors.
            self.fork_finish(cx, parent, id, child, Ok(()));
        }
    }

    fn fork_finish(
        &mut self,
        cx: &mut Ctx<'_>,
        parent: Pid,
        id: u64,
        child: Pid,
        r: Result<(), Errno>,
    ) {
        let Some(child_ep) = self.ep_of(child) else {
            return;
        };
        let parent_ok = self.ops.get(&parent) == Some(&Op::Fork);
        let started = r.and_then(|()| {
            if !parent_ok {
                return Err(Errno::ESRCH);
            }
            self.start_child(child_ep, id)
        });
        if let Err(e) = started {
            // Take the child out of the parent's family, then down.
            if let Some(c) = self.t.get_mut(child) {
                c.ppid = 0;
            }
            self.terminate(cx, child, proto::w_signaled(sig::SIGKILL));
            if parent_ok {
                self.ops.remove(&parent);
                if let Some(ep) = self.ep_of(parent) {
                    let e = if e == Errno::ENOMEM { e } else { Errno::EAGAIN };
                    self.reply(cx, ep, PmReply::error(id, e));
                }
            }
            return;
        }
        self.ops.remove(&parent);
        self.stats.forks += 1;
        if let Some(ep) = self.ep_of(parent) {
            self.reply(cx, ep, PmReply::value(id, i64::from(child)));
        }
        self.dirty.insert(parent);
    }

    /// The child of a fork starts with its own answer: 0 from PM.
    fn start_child(&mut self, child_ep: u32, id: u64) -> Result<(), Errno> {
        let mut regs = self.k.get_regs(child_ep)?;
        let mut m = PmReply::value(id, 0).to_message();
        m.set_source(self.me);
        self.k.copy_to(child_ep, regs[reg::RSI], m.as_bytes())?;
        regs[reg::RAX] = 0;
        self.k.set_regs(child_ep, &regs)?;
        self.k.resume(child_ep)
    }

    // ---- exec ----

    fn exec_checked(
        &mut self,
        cx: &mut Ctx<'_>,
        pid: Pid,
        id: u64,
        image: Buf,
        block: Buf,
        r: Result<Answer, Errno>,
    ) {
        if self.ops.get(&pid) != Some(&Op::Exec) {
            return;
        }
        let Some(ep) = self.ep_of(pid) else {
            return;
        };
        let st = match r {
            Ok(Answer::Vfs(VfsAnswer::Stat(st))) => st,
            Ok(_) => return self.exec_failed(cx, pid, id, Errno::EIO),
            Err(e) => return self.exec_failed(cx, pid, id, e),
        };
        let set_uid = (st.mode & 0o4000 != 0).then_some(u32::from(st.uid));
        let set_gid = (st.mode & 0o2000 != 0).then_some(u32::from(st.gid));
        let granted = |b: Buf| GrantRef {
            granter: Endpoint(ep),
            grant: b.grant,
            len: u64::from(b.len),
        };
        let sent = self.vm(
            cx,
            |rid| VmPmCall::Exec {
                id: rid,
                ep: Endpoint(ep),
                image: granted(image),
                block: granted(block),
            },
            Req::ExecVm {
                pid,
                id,
                set_uid,
                set_gid,
            },
        );
        if sent.is_err() {
            self.exec_failed(cx, pid, id, Errno::ENOMEM);
        }
    }

    fn exec_failed(&mut self, cx: &mut Ctx<'_>, pid: Pid, id: u64, e: Errno) {
        self.ops.remove(&pid);
        let e = if e.is_dead_peer() { Errno::EIO } else { e };
        if let Some(ep) = self.ep_of(pid) {
            self.reply(cx, ep, PmReply::error(id, e));
        }
        self.dirty.insert(pid);
    }

    fn exec_built(
        &mut self,
        cx: &mut Ctx<'_>,
        pid: Pid,
        id: u64,
        set_uid: Option<u32>,
        set_gid: Option<u32>,
        r: Result<Answer, Errno>,
    ) {
        if self.ops.get(&pid) != Some(&Op::Exec) {
            return;
        }
        let Some(ep) = self.ep_of(pid) else {
            return;
        };
        let img = match r {
            Ok(Answer::Vm(VmAnswer::Exec(img))) => img,
            Ok(_) => return self.exec_failed(cx, pid, id, Errno::EIO),
            Err(e) => return self.exec_failed(cx, pid, id, e),
        };
        // The old image is gone. The program's name is argv[0]'s last
        // component, read from the new stack.
        let mut head = [0u8; 64];
        let n = (img.block_len as usize).min(head.len());
        let name = match self.k.copy_from(ep, img.block_addr, &mut head[..n]) {
            Ok(()) => {
                let arg0 = head[..n].split(|&b| b == 0).next().unwrap_or(&[]);
                let base = arg0.rsplit(|&b| b == b'/').next().unwrap_or(arg0);
                // The kernel's name too, so the program's console lines
                // carry it (refused for `pm`, `vfs`, `vm`: it keeps the
                // old one).
                if let Some(k) = kernel_name(base) {
                    let _ = self.k.set_name(ep, &k);
                }
                String::from(core::str::from_utf8(base).unwrap_or(""))
            }
            Err(_) => String::new(),
        };
        let _ = self.t.exec(pid, set_uid, set_gid, &name);
        let mut left = 0;
        if (set_uid.is_some() || set_gid.is_some())
            && self.send_cred(cx, pid, Req::ExecFinish { pid })
        {
            left += 1;
        }
        if self
            .vfs(
                cx,
                |rid| VfsPmCall::ExecDone {
                    id: rid,
                    ep: Endpoint(ep),
                },
                Req::ExecFinish { pid },
            )
            .is_ok()
        {
            left += 1;
        }
        if left == 0 {
            self.start_image(cx, pid, img);
        } else {
            self.ops.insert(pid, Op::ExecFinish { img, left });
        }
    }

    fn start_image(&mut self, cx: &mut Ctx<'_>, pid: Pid, img: ExecImage) {
        self.ops.remove(&pid);
        let Some(ep) = self.ep_of(pid) else {
            return;
        };
        match self
            .k
            .set_entry(ep, img.entry, img.rsp, img.block_addr, img.block_len)
        {
            Ok(()) => {
                self.stats.execs += 1;
                self.dirty.insert(pid);
            }
            Err(e) => {
                cx.sys
                    .log(&format!("pm: cannot start the new image of pid {pid}: {e}"));
                self.terminate(cx, pid, proto::w_signaled(sig::SIGSEGV));
            }
        }
    }

    // ---- exit ----

    fn kernel_signals(&mut self, cx: &mut Ctx<'_>) {
        // Bounded: one answer per process slot with signals.
        for _ in 0..256 {
            let Some((ep, bits)) = self.k.sig_pending() else {
                break;
            };
            match self.t.pid_of(ep) {
                Some(pid) => self.kernel_signal(cx, pid, ep, bits),
                None => self.stranger_signal(cx, ep),
            }
        }
    }

    fn kernel_signal(&mut self, cx: &mut Ctx<'_>, pid: Pid, ep: u32, bits: u64) {
        if !self.t.get(pid).is_some_and(|p| p.alive()) {
            return;
        }
        match self.k.proc_info(ep) {
            Ok(i) if i[0] == abi::PROC_EXITED => {
                self.end(cx, pid, proto::w_exited(i[5] as i64 as i32), false);
            }
            Ok(i) if i[0] == abi::PROC_STOPPED => {
                let s = match i[1] as u32 {
                    0 => sig::SIGKILL,
                    s => s,
                };
                let name = self
                    .t
                    .get(pid)
                    .map(|p| String::from(p.name()))
                    .unwrap_or_default();
                cx.sys.log(&format!(
                    "pm: pid {pid} ({name}) killed by {} at {:#x} (rip {:#x})",
                    sig::name(s),
                    i[4],
                    i[2]
                ));
                self.end(cx, pid, proto::w_signaled(s), false);
            }
            Ok(_) => {
                // Signals raised with SigSend (VFS's SIGPIPE...). The
                // kernel holds a user process until PM has acted on them:
                // act now, then resume it unless it ended, is stopped
                // (job control) or a delivery holds it (which resumes it).
                for s in 1..sig::NSIG {
                    if bits & (1 << s) != 0 {
                        self.raise(cx, pid, s);
                    }
                }
                self.deliver(cx, pid);
                let delivering = matches!(self.ops.get(&pid), Some(Op::Deliver { .. }));
                if !delivering
                    && self
                        .t
                        .get(pid)
                        .is_some_and(|p| p.alive() && p.stopped.is_none())
                {
                    let _ = self.k.resume(ep);
                }
            }
            Err(_) => self.terminate(cx, pid, proto::w_signaled(sig::SIGKILL)),
        }
    }

    /// A managed process PM does not know ended (one started before this
    /// PM instance): clean up after it.
    fn stranger_signal(&mut self, cx: &mut Ctx<'_>, ep: u32) {
        match self.k.proc_info(ep) {
            Ok(i) if i[0] == abi::PROC_EXITED || i[0] == abi::PROC_STOPPED => {
                self.stray_teardown(cx, ep);
            }
            _ => {}
        }
    }

    fn stray_teardown(&mut self, cx: &mut Ctx<'_>, ep: u32) {
        let _ = self.k.kill(ep);
        let mut left = 0;
        let e = Endpoint(ep);
        if self
            .vfs(cx, |id| VfsPmCall::Exit { id, ep: e }, Req::Stray { ep })
            .is_ok()
        {
            left += 1;
        }
        if self
            .vm(cx, |id| VmPmCall::Exit { id, ep: e }, Req::StrayVm { ep })
            .is_ok()
        {
            left += 1;
        }
        if left == 0 {
            let _ = self.k.release(ep);
        } else {
            self.strays.insert(ep, left);
        }
    }

    /// `pid` ends with wait status `status`: kernel kill, then VFS and VM
    /// forget it, then its slot is released and it becomes a zombie.
    fn terminate(&mut self, cx: &mut Ctx<'_>, pid: Pid, status: i32) {
        self.end(cx, pid, status, true);
    }

    /// [`Pm::terminate`]; `kill` false for a process the kernel already
    /// stopped (it exited or faulted).
    fn end(&mut self, cx: &mut Ctx<'_>, pid: Pid, status: i32, kill: bool) {
        let Some(ep) = self.ep_of(pid) else {
            return;
        };
        let times = self.k.times(ep).map_or((0, 0), |t| (t[0], t[1]));
        let Some(effects) = self.t.terminate(pid, status, times) else {
            return;
        };
        if kill {
            let _ = self.k.kill(ep);
        }
        // An operation in progress is dropped; its answers find no
        // matching operation (a fork's child is then torn down).
        self.ops.remove(&pid);
        self.retry.remove(&pid);
        self.dirty.remove(&pid);
        if pid == INIT_PID {
            cx.sys.log(&format!(
                "pm: init died (status {status:#x}); orphans are reaped by PM"
            ));
        }
        self.teardown(cx, pid, ep);
        // Zombies handed to init may be waited for now.
        if effects.reparented.iter().any(|c| {
            self.t
                .get(*c)
                .is_some_and(|c| matches!(c.life, crate::table::Life::Zombie { .. }))
        }) {
            self.check_wait(cx, INIT_PID);
        }
    }

    /// VFS and VM forget the dying `pid`; then [`Pm::torn_down`].
    fn teardown(&mut self, cx: &mut Ctx<'_>, pid: Pid, ep: u32) {
        let e = Endpoint(ep);
        let mut left = 0;
        if self
            .vfs(cx, |id| VfsPmCall::Exit { id, ep: e }, Req::Exit { pid })
            .is_ok()
        {
            left += 1;
        }
        if self
            .vm(cx, |id| VmPmCall::Exit { id, ep: e }, Req::ExitVm { pid })
            .is_ok()
        {
            left += 1;
        }
        self.ops.insert(pid, Op::Teardown { left });
        if left == 0 {
            self.torn_down(cx, pid);
        }
    }

    fn torn_down(&mut self, cx: &mut Ctx<'_>, pid: Pid) {
        self.ops.remove(&pid);
        let Some(p) = self.t.get(pid) else {
            return;
        };
        let (ep, ppid) = (p.ep, p.ppid);
        let _ = self.k.release(ep);
        self.stats.exits += 1;
        let reaped = self.t.dead(pid);
        if ppid != 0 {
            if !reaped {
                self.raise(cx, ppid, sig::SIGCHLD);
            }
            self.check_wait(cx, ppid);
        }
    }

    /// Answer `parent`'s held wait if a child can now be reported.
    fn check_wait(&mut self, cx: &mut Ctx<'_>, parent: Pid) {
        let Some(p) = self.t.get(parent) else {
            return;
        };
        let Held::Wait { id, pid, options } = p.held else {
            return;
        };
        let ep = p.ep;
        let r = match self.t.wait(parent, pid, options) {
            Ok(None) => return,
            Ok(Some((c, st))) => PmReply::with_extra(id, i64::from(c), [i64::from(st), 0, 0, 0]),
            Err(e) => PmReply::error(id, e),
        };
        if let Some(p) = self.t.get_mut(parent) {
            p.held = Held::None;
        }
        self.reply(cx, ep, r);
    }

    // ---- signals ----

    /// Signal `pid` with `s`.
    pub fn raise(&mut self, cx: &mut Ctx<'_>, pid: Pid, s: u32) {
        match self.t.post(pid, s) {
            Disposition::Discard | Disposition::Pending => {}
            Disposition::Terminate => self.terminate(cx, pid, proto::w_signaled(s)),
            Disposition::Stop => self.stop_job(cx, pid, s),
            Disposition::Continue => {
                self.continue_job(pid);
                self.dirty.insert(pid);
            }
            Disposition::Catch => {
                self.dirty.insert(pid);
            }
        }
    }

    fn stop_job(&mut self, cx: &mut Ctx<'_>, pid: Pid, s: u32) {
        let Some(p) = self.t.get(pid) else {
            return;
        };
        if p.stopped.is_some() || !p.alive() {
            return;
        }
        let (ep, ppid) = (p.ep, p.ppid);
        if self.k.stop(ep).is_err() {
            return;
        }
        if let Some(p) = self.t.get_mut(pid) {
            p.stopped = Some(s);
            p.stop_reported = false;
        }
        let notify = self
            .t
            .get(ppid)
            .is_some_and(|pp| pp.actions[sig::SIGCHLD as usize].flags & sig::SA_NOCLDSTOP == 0);
        if notify {
            self.raise(cx, ppid, sig::SIGCHLD);
        }
        self.check_wait(cx, ppid);
    }

    fn continue_job(&mut self, pid: Pid) {
        if let Some(p) = self.t.get_mut(pid)
            && p.stopped.take().is_some()
        {
            let ep = p.ep;
            // Unless PM itself holds it stopped for a delivery.
            if !matches!(self.ops.get(&pid), Some(Op::Deliver { .. })) {
                let _ = self.k.resume(ep);
            }
        }
    }

    /// Act on `pid`'s pending signals that are not blocked.
    fn deliver(&mut self, cx: &mut Ctx<'_>, pid: Pid) {
        for _ in 0..sig::NSIG {
            let Some(p) = self.t.get(pid) else {
                return;
            };
            if !p.alive() || p.stopped.is_some() || self.ops.contains_key(&pid) {
                return;
            }
            match self.t.next_pending(pid) {
                None => return,
                Some((s, Disposition::Terminate)) => {
                    return self.terminate(cx, pid, proto::w_signaled(s));
                }
                Some((s, Disposition::Stop)) => return self.stop_job(cx, pid, s),
                Some((s, Disposition::Catch)) => return self.catch(cx, pid, s),
                Some(_) => {}
            }
        }
    }

    /// Start running `pid`'s handler for `s`: stop it, get it out of the
    /// call it is blocked in (EINTR), push the frame.
    fn catch(&mut self, cx: &mut Ctx<'_>, pid: Pid, s: u32) {
        let Some(ep) = self.ep_of(pid) else {
            return;
        };
        let blocked = match self.k.stop(ep) {
            Ok(b) => b,
            // Gone: its exit report follows.
            Err(_) => return,
        };
        if blocked == abi::ENDPOINT_NONE {
            return self.push_frame(cx, pid, s, None);
        }
        if blocked == self.me.0 {
            let held = self.t.get(pid).map_or(Held::None, |p| p.held);
            let (id, restore) = match held {
                Held::Wait { id, .. } => (id, None),
                Held::Suspend { id, old_mask } => (id, Some(old_mask)),
                Held::None => {
                    // Its call is still in PM's queue: after that one.
                    return self.later(pid, ep);
                }
            };
            if let Some(p) = self.t.get_mut(pid) {
                p.held = Held::None;
            }
            // The process waits for this answer, so the kernel hands it
            // over at once (even though it is stopped).
            self.reply(cx, ep, PmReply::error(id, Errno::EINTR));
            match self.k.stop(ep) {
                Ok(b) if b == abi::ENDPOINT_NONE => self.push_frame(cx, pid, s, restore),
                _ => {
                    if let (Some(m), Some(p)) = (restore, self.t.get_mut(pid)) {
                        p.mask = m;
                    }
                    self.later(pid, ep);
                }
            }
            return;
        }
        let vfs = self.server(cx, false).ok();
        if Some(Endpoint(blocked)) == vfs {
            let e = Endpoint(ep);
            if self
                .vfs(
                    cx,
                    |id| VfsPmCall::Unpause { id, ep: e },
                    Req::Unpause { pid },
                )
                .is_ok()
            {
                self.ops.insert(pid, Op::Deliver { signo: s });
                return;
            }
        }
        // Blocked on someone else (VM, a driver...): interrupting its call
        // would corrupt it; try again a tick later.
        self.later(pid, ep);
    }

    fn later(&mut self, pid: Pid, ep: u32) {
        let _ = self.k.resume(ep);
        self.stats.retries += 1;
        self.retry.insert(pid);
    }

    fn unpaused(&mut self, cx: &mut Ctx<'_>, pid: Pid) {
        let Some(Op::Deliver { signo }) = self.ops.get(&pid).copied() else {
            return;
        };
        self.ops.remove(&pid);
        let Some(p) = self.t.get(pid) else {
            return;
        };
        let (ep, still) = (
            p.ep,
            p.alive()
                && p.pending & sig::bit(signo) != 0
                && p.actions[signo as usize].handler > sig::SIG_IGN,
        );
        match self.k.stop(ep) {
            Ok(b) if b == abi::ENDPOINT_NONE && still => self.push_frame(cx, pid, signo, None),
            Ok(_) => {
                if self.t.get(pid).is_some_and(|p| p.stopped.is_none()) {
                    let _ = self.k.resume(ep);
                }
                if still {
                    self.stats.retries += 1;
                    self.retry.insert(pid);
                } else {
                    self.dirty.insert(pid);
                }
            }
            Err(_) => {}
        }
    }

    fn push_frame(&mut self, cx: &mut Ctx<'_>, pid: Pid, s: u32, restore: Option<u64>) {
        let Some(p) = self.t.get(pid) else {
            return;
        };
        let (ep, action, trampoline, mask) = (p.ep, p.actions[s as usize], p.trampoline, p.mask);
        let regs = match self.k.get_regs(ep) {
            Ok(r) => r,
            Err(_) => return self.terminate(cx, pid, proto::w_signaled(sig::SIGKILL)),
        };
        let frame = SigFrame::new(regs, restore.unwrap_or(mask), s);
        let at = regs[reg::RSP]
            .checked_sub(RED_ZONE + SIGFRAME_LEN as u64)
            .map(|a| a & !15)
            .filter(|&a| a >= abi::USER_BASE + 8);
        let pushed = at.is_some_and(|a| {
            self.k.copy_to(ep, a, frame.as_bytes()).is_ok()
                && self.k.copy_to(ep, a - 8, &[0u8; 8]).is_ok()
        });
        let Some(at) = at.filter(|_| pushed) else {
            cx.sys.log(&format!(
                "pm: pid {pid}: no room for a signal frame; SIGSEGV"
            ));
            return self.terminate(cx, pid, proto::w_signaled(sig::SIGSEGV));
        };
        let mut r = regs;
        r[reg::RIP] = trampoline;
        r[reg::RDI] = u64::from(s);
        r[reg::RSI] = action.handler;
        r[reg::RDX] = at;
        r[reg::RSP] = at - 8;
        r[reg::RAX] = 0;
        if self.k.set_regs(ep, &r).is_err() {
            return self.terminate(cx, pid, proto::w_signaled(sig::SIGSEGV));
        }
        self.t.delivered(pid, s, restore);
        self.stats.deliveries += 1;
        if self.t.get(pid).is_some_and(|p| p.stopped.is_none()) {
            let _ = self.k.resume(ep);
        }
    }

    fn sigreturn(&mut self, cx: &mut Ctx<'_>, pid: Pid, ep: u32, frame: u64) {
        if self.k.stop(ep).is_err() {
            return;
        }
        let mut buf = [0u8; SIGFRAME_LEN];
        let f = self
            .k
            .copy_from(ep, frame, &mut buf)
            .ok()
            .and_then(|()| SigFrame::read_from_bytes(&buf).ok());
        let ok = f.is_some_and(|f| self.k.set_regs(ep, &f.regs()).is_ok());
        let Some(f) = f.filter(|_| ok) else {
            cx.sys.log(&format!(
                "pm: pid {pid}: bad signal frame at {frame:#x}; SIGSEGV"
            ));
            return self.terminate(cx, pid, proto::w_signaled(sig::SIGSEGV));
        };
        if let Some(p) = self.t.get_mut(pid) {
            p.mask = f.mask.get() & sig::ALL & !sig::UNCATCHABLE;
        }
        if self.t.get(pid).is_some_and(|p| p.stopped.is_none()) {
            let _ = self.k.resume(ep);
        }
    }

    // ---- time ----

    fn tick(&mut self, cx: &mut Ctx<'_>) {
        self.armed = None;
        let now = cx.sys.now();
        for pid in self.t.due_alarms(now) {
            self.raise(cx, pid, sig::SIGALRM);
        }
        let retry = core::mem::take(&mut self.retry);
        self.dirty.extend(retry);
        let waiting: Vec<Pid> = self.newproc.iter().copied().collect();
        for pid in waiting {
            self.send_newproc(cx, pid);
        }
        if self.reboot.is_some_and(|(d, _)| now >= d) {
            self.finish_reboot(cx);
        }
    }

    fn flush(&mut self, cx: &mut Ctx<'_>) {
        // Bounded: each round delivers or terminates.
        for _ in 0..64 {
            let Some(pid) = self.dirty.pop_first() else {
                break;
            };
            self.deliver(cx, pid);
        }
        self.pump(cx);
        let busy = !self.retry.is_empty() || !self.newproc.is_empty() || !self.backlog.is_empty();
        let fixed = [self.t.next_alarm(), self.reboot.map(|(d, _)| d)]
            .into_iter()
            .flatten()
            .min();
        if !busy && (fixed.is_none() || fixed == self.armed) {
            // Nothing new to time (and no clock read, a kernel call).
            return;
        }
        let now = cx.sys.now();
        let soon = busy.then_some(now + 1);
        let next = [fixed, soon].into_iter().flatten().min();
        if let Some(n) = next
            && self.armed != Some(n)
        {
            cx.sys.set_alarm(n.saturating_sub(now).max(1));
            self.armed = Some(n);
        }
    }
}

impl<K: Kernel> Pm<K> {
    /// A restarted instance took this PM back (preserved heap): what was
    /// in flight at the crash is gone — requests to VM and VFS (their
    /// answers are not recognised), held waits and sigsuspends (their
    /// callers woke with the dead-peer error and ulib asks again) — and is
    /// made good: teardowns are redone, processes stopped for a delivery
    /// resumed and their signals looked at again, an exec whose image VM
    /// had built is started, exits that happened meanwhile collected.
    fn recover(&mut self, cx: &mut Ctx<'_>) {
        self.reqs.clear();
        self.backlog.clear();
        self.armed = None;
        self.forks_in_flight = 0;
        // Looked up again (either may have restarted meanwhile), so that
        // late answers to the dead instance's requests are recognised as
        // theirs and dropped.
        self.vm = None;
        self.vfs = None;
        let _ = self.server(cx, true);
        let _ = self.server(cx, false);
        for (ep, _) in core::mem::take(&mut self.strays) {
            let _ = self.k.kill(ep);
            let _ = self.k.release(ep);
        }
        let ops = core::mem::take(&mut self.ops);
        let (mut redone, mut resumed) = (0, 0);
        for (pid, op) in ops {
            let Some(ep) = self.ep_of(pid) else {
                continue;
            };
            match op {
                Op::Teardown { .. } => {
                    redone += 1;
                    self.teardown(cx, pid, ep);
                }
                Op::Deliver { .. } => {
                    resumed += 1;
                    if self.t.get(pid).is_some_and(|p| p.stopped.is_none()) {
                        let _ = self.k.resume(ep);
                    }
                }
                Op::ExecFinish { img, .. } => self.start_image(cx, pid, img),
                Op::Fork | Op::Exec | Op::Cred => {}
            }
        }
        let pids = self.t.pids();
        for pid in &pids {
            if let Some(p) = self.t.get_mut(*pid) {
                p.held = Held::None;
                // One whose kernel signal the dead instance had taken but
                // not acted on is still held: resuming it is harmless
                // otherwise (job-stopped ones stay stopped).
                if p.alive() && p.stopped.is_none() {
                    let ep = p.ep;
                    let _ = self.k.resume(ep);
                }
            }
        }
        self.dirty.extend(pids.iter().copied());
        cx.sys.log(&format!(
            "pm: recovered the process table: {} processes ({} live), {redone} teardowns redone, {resumed} deliveries resumed; calls in progress at the crash were lost (their callers retry)",
            self.t.len(),
            self.t.live()
        ));
        self.kernel_signals(cx);
    }
}

impl<K: Kernel + 'static> Service for Pm<K> {
    fn init(&mut self, cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno> {
        self.me = cx.sys.self_endpoint();
        if self.started {
            self.recover(cx);
            self.flush(cx);
            return Ok(());
        }
        self.started = true;
        if info.kind != InitKind::Fresh {
            cx.sys.log(&format!(
                "pm: restarted (restart {}) without its table: the process table is lost; processes of the previous instance get ESRCH and are cleaned up when they end",
                info.restarts
            ));
        }
        let names = self.cfg.adopt.clone();
        let mut have_init = false;
        for name in names {
            if let Some(ep) = self.k.whois(&name) {
                self.adopt(cx, ep, &name, !have_init);
                have_init = true;
            }
        }
        self.flush(cx);
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        let src = msg.source();
        if is_notify(&msg) {
            if src == Endpoint::SYSTEM {
                self.kernel_signals(cx);
            } else if src == Endpoint::CLOCK {
                self.tick(cx);
            }
        } else if let Ok(b) = DeadPeer::try_from(&msg) {
            self.bounced(cx, &b);
        } else if !self.answer(cx, &msg) {
            self.call(cx, &msg);
        }
        self.flush(cx);
        None
    }
}

/// PM as the root of the preserved heap (`rt::persist`): the service
/// borrows it for the whole of each message, so a restarted instance that
/// takes it back finds it still borrowed if its predecessor died inside
/// one (and then starts with an empty table instead).
pub struct Shared<K: Kernel>(pub Rc<RefCell<Pm<K>>>);

impl<K: Kernel + 'static> Service for Shared<K> {
    fn init(&mut self, cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno> {
        self.0.borrow_mut().init(cx, info)
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        self.0.borrow_mut().handle(cx, msg)
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
