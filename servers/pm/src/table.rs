//! The process table: pids, parent/child links, process groups and
//! sessions, user and group ids, zombies and wait matching, signal
//! dispositions, masks and pending sets, alarms. Plain Rust with no kernel
//! or IPC: the server (`crate::server`) asks it what to do and does it.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use sys::Errno;
use sys::proto::pm::sig::{self, DefaultAction};
use sys::proto::pm::{self as proto, WNOHANG, WUNTRACED, state};

/// A process id.
pub type Pid = i32;

/// The pid of init, the parent of orphans.
pub const INIT_PID: Pid = 1;

/// Largest pid handed out before wrapping around.
pub const MAX_PID: Pid = 30_000;

/// Signal disposition: handler (`SIG_DFL`, `SIG_IGN` or an address), the
/// mask added while it runs, and `SA_*` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SigAction {
    /// Handler address or `SIG_DFL` / `SIG_IGN`.
    pub handler: u64,
    /// Signals blocked while the handler runs.
    pub mask: u64,
    /// `SA_*` flags.
    pub flags: u32,
}

/// Where a process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    /// Running (or blocked, or stopped).
    Alive,
    /// Terminated; PM is tearing it down (VFS, VM, kernel slot).
    Dying {
        /// Its wait status.
        status: i32,
    },
    /// Torn down; waits for its parent's wait.
    Zombie {
        /// Its wait status.
        status: i32,
    },
}

/// A call of the process that PM holds unanswered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Nothing.
    None,
    /// wait/waitpid.
    Wait {
        /// Request id.
        id: u64,
        /// Its pid argument.
        pid: Pid,
        /// Its options.
        options: u32,
    },
    /// sigsuspend: the mask to restore after the handler.
    Suspend {
        /// Request id.
        id: u64,
        /// The mask before the call.
        old_mask: u64,
    },
}

/// One process.
#[derive(Debug, Clone)]
pub struct Proc {
    /// Process id.
    pub pid: Pid,
    /// Parent's pid (0: none).
    pub ppid: Pid,
    /// Process group.
    pub pgrp: Pid,
    /// Session.
    pub sid: Pid,
    /// Kernel endpoint.
    pub ep: u32,
    /// Real user id.
    pub uid: u32,
    /// Effective user id.
    pub euid: u32,
    /// Saved set-user-id.
    pub suid: u32,
    /// Real group id.
    pub gid: u32,
    /// Effective group id.
    pub egid: u32,
    /// Saved set-group-id.
    pub sgid: u32,
    /// Program name (zero-padded).
    pub name: [u8; 16],
    /// Signal dispositions, index = signal number.
    pub actions: [SigAction; sig::NSIG as usize],
    /// Where handlers are entered (the program's trampoline).
    pub trampoline: u64,
    /// Blocked signals.
    pub mask: u64,
    /// Pending signals.
    pub pending: u64,
    /// Life state.
    pub life: Life,
    /// Stopped by this signal (job control), if stopped.
    pub stopped: Option<u32>,
    /// The stop was reported to a WUNTRACED wait.
    pub stop_reported: bool,
    /// A held call.
    pub held: Held,
    /// Alarm deadline (clock ticks), if set.
    pub alarm: Option<u64>,
    /// Own user and system ticks (final once dead).
    pub times: (u64, u64),
    /// Waited-for children's user and system ticks.
    pub child_times: (u64, u64),
}

impl Proc {
    /// The name as text.
    pub fn name(&self) -> &str {
        let n = self.name.iter().position(|&b| b == 0).unwrap_or(16);
        core::str::from_utf8(&self.name[..n]).unwrap_or("?")
    }

    /// Whether it is alive (not dying, not a zombie).
    pub fn alive(&self) -> bool {
        self.life == Life::Alive
    }

    /// [`proto::state`] value for `ps`.
    pub fn ps_state(&self) -> u32 {
        match (self.life, self.held) {
            (Life::Zombie { .. } | Life::Dying { .. }, _) => state::ZOMBIE,
            _ if self.stopped.is_some() => state::STOPPED,
            (_, Held::Wait { .. }) => state::WAITING,
            (_, Held::Suspend { .. }) => state::SIGSUSPENDED,
            _ => state::RUNNING,
        }
    }
}

/// Turn a name into the fixed field (cut at 16 bytes).
pub fn name_field(s: &str) -> [u8; 16] {
    let mut f = [0u8; 16];
    let b = s.as_bytes();
    let n = b.len().min(16);
    f[..n].copy_from_slice(&b[..n]);
    f
}

/// What a signal does to a process right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Nothing (ignored, or 0).
    Discard,
    /// Kept pending (blocked).
    Pending,
    /// Terminate the process; the wait status names the signal.
    Terminate,
    /// Stop the process (job control).
    Stop,
    /// Continue a stopped process (the signal may still be caught).
    Continue,
    /// Run the handler (the signal is pending until delivered).
    Catch,
}

/// What happened at an exit, for the server to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitEffects {
    /// The parent to send SIGCHLD to and whose held wait may now be answered.
    pub parent: Option<Pid>,
    /// Children handed to init.
    pub reparented: Vec<Pid>,
    /// The zombie was reaped at once (parent ignores SIGCHLD, or none).
    pub reaped: bool,
}

/// The process table.
#[derive(Debug, Clone)]
pub struct Table {
    procs: BTreeMap<Pid, Proc>,
    by_ep: BTreeMap<u32, Pid>,
    next_pid: Pid,
    limit: usize,
    root_reserve: usize,
}

/// Default number of processes that may hold a kernel slot at once (alive
/// or being torn down): the kernel has 64 slots; this leaves room for the
/// kernel tasks, the system services and their restarts.
pub const DEFAULT_LIMIT: usize = 44;
/// Entries including zombies (they hold no kernel slot, only PM memory).
pub const MAX_ENTRIES: usize = 256;
/// Slots only root may fill (MINIX keeps the last few for the superuser).
pub const DEFAULT_ROOT_RESERVE: usize = 4;

impl Default for Table {
    fn default() -> Self {
        Table::new(DEFAULT_LIMIT, DEFAULT_ROOT_RESERVE)
    }
}

impl Table {
    /// An empty table of at most `limit` processes holding kernel slots
    /// (zombies not counted; at most [`MAX_ENTRIES`] entries with them), of
    /// which the last `root_reserve` only for forks by root.
    pub fn new(limit: usize, root_reserve: usize) -> Self {
        Table {
            procs: BTreeMap::new(),
            by_ep: BTreeMap::new(),
            next_pid: INIT_PID + 1,
            limit,
            root_reserve: root_reserve.min(limit),
        }
    }

    /// Number of entries (zombies included).
    pub fn len(&self) -> usize {
        self.procs.len()
    }

    /// Processes holding a kernel slot (alive or being torn down).
    pub fn live(&self) -> usize {
        self.procs
            .values()
            .filter(|p| !matches!(p.life, Life::Zombie { .. }))
            .count()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    /// A process.
    pub fn get(&self, pid: Pid) -> Option<&Proc> {
        self.procs.get(&pid)
    }

    /// A process, mutable.
    pub fn get_mut(&mut self, pid: Pid) -> Option<&mut Proc> {
        self.procs.get_mut(&pid)
    }

    /// The live or dying process at kernel endpoint `ep`.
    pub fn pid_of(&self, ep: u32) -> Option<Pid> {
        self.by_ep.get(&ep).copied()
    }

    /// Every process, by pid.
    pub fn iter(&self) -> impl Iterator<Item = &Proc> {
        self.procs.values()
    }

    /// The pids of all processes.
    pub fn pids(&self) -> Vec<Pid> {
        self.procs.keys().copied().collect()
    }

    fn blank(pid: Pid, ep: u32) -> Proc {
        Proc {
            pid,
            ppid: 0,
            pgrp: pid,
            sid: pid,
            ep,
            uid: 0,
            euid: 0,
            suid: 0,
            gid: 0,
            egid: 0,
            sgid: 0,
            name: [0; 16],
            actions: [SigAction::default(); sig::NSIG as usize],
            trampoline: 0,
            mask: 0,
            pending: 0,
            life: Life::Alive,
            stopped: None,
            stop_reported: false,
            held: Held::None,
            alarm: None,
            times: (0, 0),
            child_times: (0, 0),
        }
    }

    /// Adopt init (pid 1, root, its own session), at endpoint `ep`.
    pub fn add_init(&mut self, ep: u32, name: &str) -> Result<Pid, Errno> {
        if self.procs.contains_key(&INIT_PID) || self.by_ep.contains_key(&ep) {
            return Err(Errno::EEXIST);
        }
        let mut p = Table::blank(INIT_PID, ep);
        p.name = name_field(name);
        self.procs.insert(INIT_PID, p);
        self.by_ep.insert(ep, INIT_PID);
        Ok(INIT_PID)
    }

    /// Adopt a process started outside PM as a child of init (root ids).
    pub fn adopt(&mut self, ep: u32, name: &str) -> Result<Pid, Errno> {
        if self.by_ep.contains_key(&ep) {
            return Err(Errno::EEXIST);
        }
        if self.live() >= self.limit || self.procs.len() >= MAX_ENTRIES {
            return Err(Errno::EAGAIN);
        }
        let pid = self.alloc_pid().ok_or(Errno::EAGAIN)?;
        let mut p = Table::blank(pid, ep);
        p.ppid = if self.procs.contains_key(&INIT_PID) {
            INIT_PID
        } else {
            0
        };
        p.name = name_field(name);
        self.procs.insert(pid, p);
        self.by_ep.insert(ep, pid);
        Ok(pid)
    }

    /// May `parent` fork now, with `in_flight` forks already asked for
    /// and not yet entered? `EAGAIN` when the live processes fill the
    /// limit (for non-root callers: when only the root reserve is left)
    /// or the entries fill [`MAX_ENTRIES`].
    pub fn can_fork(&self, parent: Pid, in_flight: usize) -> Result<(), Errno> {
        let p = self.procs.get(&parent).ok_or(Errno::ESRCH)?;
        let room = if p.euid == 0 || p.uid == 0 {
            self.limit
        } else {
            self.limit - self.root_reserve
        };
        if self.live() + in_flight >= room || self.procs.len() + in_flight >= MAX_ENTRIES {
            return Err(Errno::EAGAIN);
        }
        Ok(())
    }

    fn pid_in_use(&self, pid: Pid) -> bool {
        self.procs.contains_key(&pid) || self.procs.values().any(|p| p.pgrp == pid || p.sid == pid)
    }

    /// A free pid: not a process, process group or session id (POSIX).
    pub fn alloc_pid(&mut self) -> Option<Pid> {
        for _ in 0..MAX_PID {
            let pid = self.next_pid;
            self.next_pid = if pid >= MAX_PID {
                INIT_PID + 1
            } else {
                pid + 1
            };
            if !self.pid_in_use(pid) {
                return Some(pid);
            }
        }
        None
    }

    /// Enter the child of a fork: `pid` (from [`Table::alloc_pid`]) at
    /// endpoint `ep`, inheriting ids, group, session, dispositions,
    /// trampoline and mask; no pending signals, no alarm, no times.
    pub fn add_child(&mut self, parent: Pid, pid: Pid, ep: u32) -> Result<(), Errno> {
        if self.procs.contains_key(&pid) || self.by_ep.contains_key(&ep) {
            return Err(Errno::EEXIST);
        }
        let p = self.procs.get(&parent).ok_or(Errno::ESRCH)?;
        let mut c = p.clone();
        c.pid = pid;
        c.ppid = parent;
        c.ep = ep;
        c.pending = 0;
        c.life = Life::Alive;
        c.stopped = None;
        c.stop_reported = false;
        c.held = Held::None;
        c.alarm = None;
        c.times = (0, 0);
        c.child_times = (0, 0);
        self.procs.insert(pid, c);
        self.by_ep.insert(ep, pid);
        Ok(())
    }

    /// The image of `pid` was replaced by exec: caught signals go back to
    /// their default (ignored ones stay ignored, the mask and pending set
    /// stay), set-user-id / set-group-id ids apply, the name changes.
    pub fn exec(
        &mut self,
        pid: Pid,
        set_uid: Option<u32>,
        set_gid: Option<u32>,
        name: &str,
    ) -> Result<(), Errno> {
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        for a in p.actions.iter_mut() {
            if a.handler != sig::SIG_IGN {
                *a = SigAction::default();
            }
        }
        p.trampoline = 0;
        if let Some(u) = set_uid {
            p.euid = u;
        }
        if let Some(g) = set_gid {
            p.egid = g;
        }
        p.suid = p.euid;
        p.sgid = p.egid;
        if !name.is_empty() {
            p.name = name_field(name);
        }
        Ok(())
    }

    /// `pid` terminated with wait status `status` (own times `times`):
    /// it is *dying* until [`Table::dead`]. Its children go to init, its
    /// alarm and held call are dropped. Returns the effects.
    pub fn terminate(&mut self, pid: Pid, status: i32, times: (u64, u64)) -> Option<ExitEffects> {
        let p = self.procs.get_mut(&pid)?;
        if !p.alive() {
            return None;
        }
        p.life = Life::Dying { status };
        p.alarm = None;
        p.held = Held::None;
        p.pending = 0;
        p.stopped = None;
        p.times = times;
        let ppid = p.ppid;
        let reparented: Vec<Pid> = self
            .procs
            .values()
            .filter(|c| c.ppid == pid)
            .map(|c| c.pid)
            .collect();
        let new_parent = if pid != INIT_PID && self.procs.contains_key(&INIT_PID) {
            INIT_PID
        } else {
            0
        };
        for c in &reparented {
            if let Some(c) = self.procs.get_mut(c) {
                c.ppid = new_parent;
            }
        }
        Some(ExitEffects {
            parent: (ppid != 0 && self.procs.contains_key(&ppid)).then_some(ppid),
            reparented,
            reaped: false,
        })
    }

    /// The dying `pid` is torn down (kernel slot released): it becomes a
    /// zombie, or disappears at once if its parent does not want it
    /// (SIGCHLD set to `SIG_IGN`, or no parent). Returns whether it was
    /// reaped.
    pub fn dead(&mut self, pid: Pid) -> bool {
        let Some(p) = self.procs.get_mut(&pid) else {
            return false;
        };
        let Life::Dying { status } = p.life else {
            return false;
        };
        p.life = Life::Zombie { status };
        let ep = p.ep;
        let ppid = p.ppid;
        self.by_ep.remove(&ep);
        let unwanted = match self.procs.get(&ppid) {
            None => true,
            Some(parent) => parent.actions[sig::SIGCHLD as usize].handler == sig::SIG_IGN,
        };
        if unwanted {
            self.reap(pid);
        }
        unwanted
    }

    /// Remove zombie `pid`, adding its times to its parent's children
    /// times. Returns its status.
    pub fn reap(&mut self, pid: Pid) -> Option<i32> {
        let p = self.procs.get(&pid)?;
        let Life::Zombie { status } = p.life else {
            return None;
        };
        let (ppid, t, ct) = (p.ppid, p.times, p.child_times);
        self.procs.remove(&pid);
        if let Some(parent) = self.procs.get_mut(&ppid) {
            parent.child_times.0 += t.0 + ct.0;
            parent.child_times.1 += t.1 + ct.1;
        }
        Some(status)
    }

    fn matches(&self, parent: Pid, child: &Proc, pid_arg: Pid) -> bool {
        if child.ppid != parent {
            return false;
        }
        match pid_arg {
            -1 => true,
            0 => self
                .procs
                .get(&parent)
                .is_some_and(|p| p.pgrp == child.pgrp),
            p if p > 0 => child.pid == p,
            p => child.pgrp == p.wrapping_neg(),
        }
    }

    /// A wait of `parent` for `pid_arg` (POSIX meaning) with `options`:
    /// `Err(ECHILD)` if no child matches, `Ok(Some((pid, status)))` for a
    /// zombie (reaped) or, with `WUNTRACED`, an unreported stop,
    /// `Ok(None)` if it must wait (the caller answers `(0, 0)` for
    /// `WNOHANG`).
    pub fn wait(
        &mut self,
        parent: Pid,
        pid_arg: Pid,
        options: u32,
    ) -> Result<Option<(Pid, i32)>, Errno> {
        if options & !(WNOHANG | WUNTRACED) != 0 {
            return Err(Errno::EINVAL);
        }
        let mut any = false;
        let mut zombie = None;
        let mut stopped = None;
        for c in self.procs.values() {
            if !self.matches(parent, c, pid_arg) {
                continue;
            }
            any = true;
            match c.life {
                Life::Zombie { status } if zombie.is_none() => zombie = Some((c.pid, status)),
                Life::Alive if stopped.is_none() && options & WUNTRACED != 0 => {
                    if let (Some(s), false) = (c.stopped, c.stop_reported) {
                        stopped = Some((c.pid, proto::w_stopped(s)));
                    }
                }
                _ => {}
            }
        }
        if !any {
            return Err(Errno::ECHILD);
        }
        if let Some((pid, status)) = zombie {
            self.reap(pid);
            return Ok(Some((pid, status)));
        }
        if let Some((pid, status)) = stopped {
            if let Some(c) = self.procs.get_mut(&pid) {
                c.stop_reported = true;
            }
            return Ok(Some((pid, status)));
        }
        Ok(None)
    }

    // ---- ids, groups, sessions ----

    /// setuid: root sets real, effective and saved ids; others may set the
    /// effective id to their real or saved id.
    pub fn setuid(&mut self, pid: Pid, uid: u32) -> Result<(), Errno> {
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        if p.euid == 0 {
            (p.uid, p.euid, p.suid) = (uid, uid, uid);
        } else if uid == p.uid || uid == p.suid {
            p.euid = uid;
        } else {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    /// setgid: as [`Table::setuid`] for groups (root = effective uid 0).
    pub fn setgid(&mut self, pid: Pid, gid: u32) -> Result<(), Errno> {
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        if p.euid == 0 {
            (p.gid, p.egid, p.sgid) = (gid, gid, gid);
        } else if gid == p.gid || gid == p.sgid {
            p.egid = gid;
        } else {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    /// seteuid: root any, others their real or saved id.
    pub fn seteuid(&mut self, pid: Pid, uid: u32) -> Result<(), Errno> {
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        if p.euid == 0 || uid == p.uid || uid == p.suid {
            p.euid = uid;
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }

    /// setegid: root any, others their real or saved group.
    pub fn setegid(&mut self, pid: Pid, gid: u32) -> Result<(), Errno> {
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        if p.euid == 0 || gid == p.gid || gid == p.sgid {
            p.egid = gid;
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }

    /// setsid: a new session and group led by `pid` (`EPERM` for a group
    /// leader). Returns the session id.
    pub fn setsid(&mut self, pid: Pid) -> Result<Pid, Errno> {
        if self.procs.values().any(|p| p.pgrp == pid && p.pid != pid) {
            return Err(Errno::EPERM);
        }
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        if p.pgrp == pid {
            return Err(Errno::EPERM);
        }
        p.sid = pid;
        p.pgrp = pid;
        Ok(pid)
    }

    /// setpgid(target, pgid) called by `caller` (0s mean the caller / the
    /// target's pid): target is the caller or its child, in the same
    /// session, not a session leader; the group must exist in that session
    /// unless it is the target's own pid.
    pub fn setpgid(&mut self, caller: Pid, target: Pid, pgid: Pid) -> Result<(), Errno> {
        if target < 0 || pgid < 0 {
            return Err(Errno::EINVAL);
        }
        let target = if target == 0 { caller } else { target };
        let pgid = if pgid == 0 { target } else { pgid };
        let c = self.procs.get(&caller).ok_or(Errno::ESRCH)?;
        let t = self.procs.get(&target).ok_or(Errno::ESRCH)?;
        if !t.alive() || (target != caller && t.ppid != caller) {
            return Err(Errno::ESRCH);
        }
        if t.sid != c.sid || t.sid == target {
            return Err(Errno::EPERM);
        }
        if pgid != target
            && !self
                .procs
                .values()
                .any(|p| p.pgrp == pgid && p.sid == c.sid && p.alive())
        {
            return Err(Errno::EPERM);
        }
        if let Some(t) = self.procs.get_mut(&target) {
            t.pgrp = pgid;
        }
        Ok(())
    }

    // ---- signals ----

    /// May `sender` signal `target` (root, or real/effective uid matches
    /// the target's real or saved uid; SIGCONT within the session)?
    pub fn may_signal(&self, sender: &Proc, target: &Proc, signo: u32) -> bool {
        sender.euid == 0
            || sender.uid == target.uid
            || sender.uid == target.suid
            || sender.euid == target.uid
            || sender.euid == target.suid
            || (signo == sig::SIGCONT && sender.sid == target.sid)
    }

    /// The processes `kill(pid_arg, signo)` from `sender` reaches: `ESRCH`
    /// if none exists, `EPERM` if it may signal none of them, `EINVAL` for
    /// a bad signal number.
    pub fn kill_targets(&self, sender: Pid, pid_arg: Pid, signo: u32) -> Result<Vec<Pid>, Errno> {
        if signo >= sig::NSIG {
            return Err(Errno::EINVAL);
        }
        let s = self.procs.get(&sender).ok_or(Errno::ESRCH)?;
        let candidates: Vec<&Proc> = self
            .procs
            .values()
            .filter(|p| p.alive())
            .filter(|p| match pid_arg {
                -1 => p.pid != INIT_PID && p.pid != sender,
                0 => p.pgrp == s.pgrp,
                n if n > 0 => p.pid == n,
                n => p.pgrp == n.wrapping_neg(),
            })
            .collect();
        if candidates.is_empty() {
            return Err(Errno::ESRCH);
        }
        let allowed: Vec<Pid> = candidates
            .iter()
            .filter(|p| self.may_signal(s, p, signo))
            .map(|p| p.pid)
            .collect();
        if allowed.is_empty() {
            return Err(Errno::EPERM);
        }
        Ok(allowed)
    }

    /// sigaction: the old action. SIGKILL and SIGSTOP cannot be changed
    /// (`EINVAL`); `new = None` only reads. The trampoline is recorded
    /// with a handler.
    pub fn sigaction(
        &mut self,
        pid: Pid,
        signo: u32,
        new: Option<SigAction>,
        trampoline: u64,
    ) -> Result<SigAction, Errno> {
        if signo == 0 || signo >= sig::NSIG {
            return Err(Errno::EINVAL);
        }
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        let old = p.actions[signo as usize];
        if let Some(mut a) = new {
            if sig::bit(signo) & sig::UNCATCHABLE != 0 {
                return Err(Errno::EINVAL);
            }
            if a.handler > sig::SIG_IGN {
                if trampoline == 0 {
                    return Err(Errno::EINVAL);
                }
                p.trampoline = trampoline;
            }
            a.mask &= sig::ALL & !sig::UNCATCHABLE;
            p.actions[signo as usize] = a;
            // POSIX: setting SIG_IGN (or a default that ignores) discards a
            // pending instance.
            if a.handler == sig::SIG_IGN
                || (a.handler == sig::SIG_DFL
                    && sig::default_action(signo) == DefaultAction::Ignore)
            {
                p.pending &= !sig::bit(signo);
            }
        }
        Ok(old)
    }

    /// sigprocmask: the old mask. SIGKILL and SIGSTOP are never blocked.
    pub fn sigprocmask(&mut self, pid: Pid, how: u32, set: u64) -> Result<u64, Errno> {
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        let old = p.mask;
        let set = set & sig::ALL & !sig::UNCATCHABLE;
        p.mask = match how {
            sig::SIG_BLOCK => old | set,
            sig::SIG_UNBLOCK => old & !set,
            sig::SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        };
        Ok(old)
    }

    /// What `signo` does to `pid` now, recording it as pending when it is
    /// blocked or caught. Stopping and continuing clear each other's
    /// pending instances.
    pub fn post(&mut self, pid: Pid, signo: u32) -> Disposition {
        let Some(p) = self.procs.get_mut(&pid) else {
            return Disposition::Discard;
        };
        if !p.alive() || signo == 0 || signo >= sig::NSIG {
            return Disposition::Discard;
        }
        let bit = sig::bit(signo);
        let stops = sig::bit(sig::SIGSTOP)
            | sig::bit(sig::SIGTSTP)
            | sig::bit(sig::SIGTTIN)
            | sig::bit(sig::SIGTTOU);
        if signo == sig::SIGCONT {
            p.pending &= !stops;
        } else if bit & stops != 0 {
            p.pending &= !sig::bit(sig::SIGCONT);
        }
        if signo == sig::SIGKILL {
            return Disposition::Terminate;
        }
        if signo == sig::SIGSTOP {
            return Disposition::Stop;
        }
        let a = p.actions[signo as usize];
        let resumes = signo == sig::SIGCONT && p.stopped.is_some();
        if a.handler == sig::SIG_IGN {
            return if resumes {
                Disposition::Continue
            } else {
                Disposition::Discard
            };
        }
        if p.mask & bit != 0 {
            p.pending |= bit;
            return if resumes {
                Disposition::Continue
            } else {
                Disposition::Pending
            };
        }
        if resumes {
            if a.handler != sig::SIG_DFL {
                p.pending |= bit;
            }
            return Disposition::Continue;
        }
        Table::act(p, signo)
    }

    fn act(p: &mut Proc, signo: u32) -> Disposition {
        let a = p.actions[signo as usize];
        if a.handler == sig::SIG_DFL {
            match sig::default_action(signo) {
                DefaultAction::Terminate => Disposition::Terminate,
                DefaultAction::Stop => Disposition::Stop,
                DefaultAction::Ignore | DefaultAction::Continue => Disposition::Discard,
            }
        } else {
            p.pending |= sig::bit(signo);
            Disposition::Catch
        }
    }

    /// The next pending, unblocked signal of `pid` and what it does now
    /// (taking it off the pending set unless it is to be caught: it stays
    /// pending until [`Table::delivered`]).
    pub fn next_pending(&mut self, pid: Pid) -> Option<(u32, Disposition)> {
        let p = self.procs.get_mut(&pid)?;
        if !p.alive() {
            return None;
        }
        loop {
            let ready = p.pending & !p.mask;
            if ready == 0 {
                return None;
            }
            let signo = ready.trailing_zeros();
            p.pending &= !sig::bit(signo);
            match Table::act(p, signo) {
                Disposition::Discard => continue,
                d => return Some((signo, d)),
            }
        }
    }

    /// A handler for `signo` was entered: the mask the frame restores is
    /// returned (`restore`, or the current mask), the handler's mask is
    /// applied, the signal leaves the pending set, `SA_RESETHAND` resets
    /// the action.
    pub fn delivered(&mut self, pid: Pid, signo: u32, restore: Option<u64>) -> Option<u64> {
        let p = self.procs.get_mut(&pid)?;
        let a = p.actions[signo as usize];
        let saved = restore.unwrap_or(p.mask);
        p.pending &= !sig::bit(signo);
        let mut mask = p.mask | a.mask;
        if a.flags & sig::SA_NODEFER == 0 {
            mask |= sig::bit(signo);
        }
        p.mask = mask & !sig::UNCATCHABLE;
        if a.flags & sig::SA_RESETHAND != 0 {
            p.actions[signo as usize] = SigAction::default();
        }
        Some(saved)
    }

    // ---- alarms ----

    /// alarm(seconds) at clock tick `now`: the seconds left of the previous
    /// alarm (rounded up); 0 cancels.
    pub fn set_alarm(&mut self, pid: Pid, now: u64, seconds: u32, hz: u64) -> Result<u32, Errno> {
        let p = self.procs.get_mut(&pid).ok_or(Errno::ESRCH)?;
        let left = p
            .alarm
            .map_or(0, |d| d.saturating_sub(now).div_ceil(hz).max(1));
        p.alarm = (seconds > 0).then(|| now + u64::from(seconds) * hz);
        Ok(u32::try_from(left).unwrap_or(u32::MAX))
    }

    /// Processes whose alarm is due at `now` (their alarms are cleared).
    pub fn due_alarms(&mut self, now: u64) -> Vec<Pid> {
        let mut due = Vec::new();
        for p in self.procs.values_mut() {
            if p.alarm.is_some_and(|d| d <= now) {
                p.alarm = None;
                due.push(p.pid);
            }
        }
        due
    }

    /// The earliest alarm deadline.
    pub fn next_alarm(&self) -> Option<u64> {
        self.procs.values().filter_map(|p| p.alarm).min()
    }

    /// `ps` record of `p`.
    pub fn record(p: &Proc) -> proto::ProcRecord {
        use zerocopy::little_endian::{I32, U32, U64};
        proto::ProcRecord {
            pid: I32::new(p.pid),
            ppid: I32::new(p.ppid),
            pgrp: I32::new(p.pgrp),
            uid: U32::new(p.uid),
            euid: U32::new(p.euid),
            state: U32::new(p.ps_state()),
            user_ticks: U64::new(p.times.0),
            sys_ticks: U64::new(p.times.1),
            name: p.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::proto::pm::{w_exited, w_signaled, wexitstatus, wifsignaled, wtermsig};

    fn table_with_init() -> Table {
        let mut t = Table::default();
        t.add_init(100, "init").unwrap();
        t
    }

    fn fork(t: &mut Table, parent: Pid, ep: u32) -> Pid {
        t.can_fork(parent, 0).unwrap();
        let pid = t.alloc_pid().unwrap();
        t.add_child(parent, pid, ep).unwrap();
        pid
    }

    fn exit(t: &mut Table, pid: Pid, code: i32) -> ExitEffects {
        let e = t.terminate(pid, w_exited(code), (3, 4)).unwrap();
        t.dead(pid);
        e
    }

    #[test]
    fn pids_are_unique_and_children_link_to_parents() {
        let mut t = table_with_init();
        let a = fork(&mut t, INIT_PID, 200);
        let b = fork(&mut t, a, 201);
        assert_eq!((a, b), (2, 3));
        assert_eq!(t.get(b).unwrap().ppid, a);
        assert_eq!(t.pid_of(201), Some(b));
        assert_eq!(
            t.add_child(a, 9, 201),
            Err(Errno::EEXIST),
            "endpoint in use"
        );
        assert_eq!(t.add_init(300, "x"), Err(Errno::EEXIST));
    }

    #[test]
    fn pid_allocation_wraps_and_skips_used_pids_and_groups() {
        let mut t = table_with_init();
        t.next_pid = MAX_PID;
        let a = fork(&mut t, INIT_PID, 200);
        assert_eq!(a, MAX_PID);
        // Wraps around to 2.
        let b = fork(&mut t, INIT_PID, 201);
        assert_eq!(b, 2);
        // b leads a session and group 2; its child stays in group 2 after
        // b is gone, so pid 2 is not handed out again meanwhile.
        assert_eq!(t.setsid(b), Ok(2));
        let c = fork(&mut t, b, 202);
        exit(&mut t, b, 0);
        t.wait(INIT_PID, b, 0).unwrap();
        assert!(t.get(b).is_none());
        assert_eq!(t.get(c).unwrap().pgrp, 2, "inherited group 2");
        t.next_pid = 2;
        let d = t.alloc_pid().unwrap();
        assert_ne!(d, 2, "pid 2 is still a process group");
    }

    #[test]
    fn children_inherit_ids_groups_handlers_and_mask_but_not_pending_or_alarms() {
        let mut t = table_with_init();
        let a = fork(&mut t, INIT_PID, 200);
        t.setuid(a, 5).unwrap();
        let act = SigAction {
            handler: 0x4000_1000,
            mask: 0,
            flags: 0,
        };
        t.sigaction(a, sig::SIGUSR1, Some(act), 0x4000_2000)
            .unwrap();
        t.sigprocmask(a, sig::SIG_BLOCK, sig::bit(sig::SIGUSR2))
            .unwrap();
        assert_eq!(t.post(a, sig::SIGUSR2), Disposition::Pending);
        t.set_alarm(a, 0, 5, 100).unwrap();
        let c = fork(&mut t, a, 201);
        let cp = t.get(c).unwrap();
        assert_eq!((cp.uid, cp.euid), (5, 5));
        assert_eq!(cp.actions[sig::SIGUSR1 as usize], act);
        assert_eq!(cp.trampoline, 0x4000_2000);
        assert_eq!(cp.mask, sig::bit(sig::SIGUSR2));
        assert_eq!(cp.pending, 0);
        assert_eq!(cp.alarm, None);
        assert_eq!(t.get(a).unwrap().pending, sig::bit(sig::SIGUSR2));
    }

    #[test]
    fn zombies_wait_for_their_parent_and_wait_matches_pids_and_groups() {
        let mut t = table_with_init();
        let p = fork(&mut t, INIT_PID, 200);
        let c1 = fork(&mut t, p, 201);
        let c2 = fork(&mut t, p, 202);
        // No zombie yet: waiting is needed; WNOHANG callers answer 0.
        assert_eq!(t.wait(p, -1, WNOHANG), Ok(None));
        assert_eq!(t.wait(p, c1, 0), Ok(None));
        // Not its child / no such child.
        assert_eq!(t.wait(p, INIT_PID, 0), Err(Errno::ECHILD));
        assert_eq!(t.wait(c1, -1, 0), Err(Errno::ECHILD));
        assert_eq!(t.wait(p, -1, 0x100), Err(Errno::EINVAL));

        let e = exit(&mut t, c2, 7);
        assert_eq!(e.parent, Some(p));
        assert!(matches!(t.get(c2).unwrap().life, Life::Zombie { .. }));
        assert_eq!(t.pid_of(202), None, "the endpoint is forgotten");
        // waitpid for the other child still waits.
        assert_eq!(t.wait(p, c1, WNOHANG), Ok(None));
        let (pid, status) = t.wait(p, -1, 0).unwrap().unwrap();
        assert_eq!((pid, wexitstatus(status)), (c2, 7));
        assert!(t.get(c2).is_none(), "reaped");
        // Times of reaped children add up.
        assert_eq!(t.get(p).unwrap().child_times, (3, 4));

        // Groups: c1 moves to its own group; wait(0) (own group) no longer
        // matches it, wait(-group) does.
        t.setpgid(p, c1, 0).unwrap();
        assert_eq!(t.wait(p, 0, WNOHANG), Err(Errno::ECHILD));
        t.terminate(c1, w_signaled(sig::SIGSEGV), (0, 0)).unwrap();
        t.dead(c1);
        let (pid, status) = t.wait(p, -c1, 0).unwrap().unwrap();
        assert_eq!(pid, c1);
        assert!(wifsignaled(status));
        assert_eq!(wtermsig(status), sig::SIGSEGV);
        assert_eq!(t.wait(p, -1, WNOHANG), Err(Errno::ECHILD));
    }

    #[test]
    fn a_dying_process_is_not_yet_waitable() {
        let mut t = table_with_init();
        let c = fork(&mut t, INIT_PID, 200);
        t.terminate(c, w_exited(1), (0, 0)).unwrap();
        assert_eq!(t.wait(INIT_PID, -1, WNOHANG), Ok(None));
        assert!(t.terminate(c, w_exited(2), (0, 0)).is_none(), "only once");
        assert!(!t.dead(c) || t.get(c).is_none());
        assert_eq!(
            t.wait(INIT_PID, -1, 0)
                .unwrap()
                .map(|(p, s)| (p, wexitstatus(s))),
            Some((c, 1))
        );
    }

    #[test]
    fn orphans_go_to_init_and_their_zombies_are_inits_to_reap() {
        let mut t = table_with_init();
        let p = fork(&mut t, INIT_PID, 200);
        let c = fork(&mut t, p, 201);
        let z = fork(&mut t, p, 202);
        exit(&mut t, z, 3);
        let e = exit(&mut t, p, 0);
        assert_eq!(e.parent, Some(INIT_PID));
        let mut re = e.reparented.clone();
        re.sort();
        assert_eq!(re, vec![c, z]);
        assert_eq!(t.get(c).unwrap().ppid, INIT_PID);
        // init reaps both p and the orphaned zombie z.
        let mut got = Vec::new();
        while let Ok(Some((pid, _))) = t.wait(INIT_PID, -1, WNOHANG) {
            got.push(pid);
        }
        got.sort();
        assert_eq!(got, vec![p, z]);
        assert_eq!(t.get(c).unwrap().ppid, INIT_PID);
    }

    #[test]
    fn a_parent_ignoring_sigchld_leaves_no_zombies() {
        let mut t = table_with_init();
        let p = fork(&mut t, INIT_PID, 200);
        t.sigaction(
            p,
            sig::SIGCHLD,
            Some(SigAction {
                handler: sig::SIG_IGN,
                ..SigAction::default()
            }),
            0,
        )
        .unwrap();
        let c = fork(&mut t, p, 201);
        t.terminate(c, w_exited(0), (0, 0)).unwrap();
        assert!(t.dead(c));
        assert!(t.get(c).is_none());
        assert_eq!(t.wait(p, -1, 0), Err(Errno::ECHILD));
    }

    #[test]
    fn the_table_limit_stops_fork_bombs_and_keeps_a_reserve_for_root() {
        let mut t = Table::new(10, 3);
        t.add_init(100, "init").unwrap();
        let user = fork(&mut t, INIT_PID, 200);
        t.setuid(user, 1000).unwrap();
        let mut ep = 300;
        // An unprivileged bomb fills the table up to the reserve.
        while t.can_fork(user, 0).is_ok() {
            let pid = t.alloc_pid().unwrap();
            t.add_child(user, pid, ep).unwrap();
            ep += 1;
        }
        assert_eq!(t.live(), 7);
        assert_eq!(t.can_fork(user, 0), Err(Errno::EAGAIN));
        // Children of the bomb are refused too: they have its ids.
        let child = t.pids().into_iter().max().unwrap();
        assert_eq!(t.can_fork(child, 0), Err(Errno::EAGAIN));
        // Root can still fork (e.g. a shell to kill the bomb) ...
        assert_eq!(
            t.can_fork(INIT_PID, 3),
            Err(Errno::EAGAIN),
            "forks in flight count"
        );
        for _ in 0..3 {
            fork(&mut t, INIT_PID, ep);
            ep += 1;
        }
        // ... until the whole table is full.
        assert_eq!(t.can_fork(INIT_PID, 0), Err(Errno::EAGAIN));
        // A dying process still holds its kernel slot; a zombie does not.
        t.terminate(child, w_exited(0), (0, 0)).unwrap();
        assert_eq!(t.can_fork(INIT_PID, 0), Err(Errno::EAGAIN));
        t.dead(child);
        assert_eq!(t.live(), 9);
        assert_eq!(t.can_fork(INIT_PID, 0), Ok(()));
        assert_eq!(
            t.can_fork(user, 0),
            Err(Errno::EAGAIN),
            "still in the reserve"
        );
    }

    #[test]
    fn zombies_are_bounded_by_the_entry_limit() {
        let mut t = Table::new(10, 0);
        t.add_init(100, "init").unwrap();
        // A parent that never waits: its zombies hold no kernel slot, so
        // it may go on forking, up to MAX_ENTRIES entries.
        let mut ep = 200;
        while t.can_fork(INIT_PID, 0).is_ok() {
            let c = fork(&mut t, INIT_PID, ep);
            ep += 1;
            exit(&mut t, c, 0);
        }
        assert_eq!(t.len(), MAX_ENTRIES);
        assert_eq!(t.live(), 1);
        t.wait(INIT_PID, -1, 0).unwrap();
        assert_eq!(t.can_fork(INIT_PID, 0), Ok(()));
    }

    #[test]
    fn uid_rules() {
        let mut t = table_with_init();
        let a = fork(&mut t, INIT_PID, 200);
        t.setgid(a, 50).unwrap();
        t.setuid(a, 10).unwrap();
        let p = t.get(a).unwrap();
        assert_eq!((p.uid, p.euid, p.suid, p.gid, p.egid), (10, 10, 10, 50, 50));
        assert_eq!(t.setuid(a, 0), Err(Errno::EPERM));
        assert_eq!(t.seteuid(a, 11), Err(Errno::EPERM));
        assert_eq!(t.setgid(a, 0), Err(Errno::EPERM));
        assert_eq!(t.setegid(a, 51), Err(Errno::EPERM));
        // A set-uid-root exec: effective and saved ids become 0; it may
        // drop to the real id and come back.
        t.exec(a, Some(0), None, "su").unwrap();
        assert_eq!(t.get(a).unwrap().euid, 0);
        t.seteuid(a, 10).unwrap();
        assert_eq!(t.get(a).unwrap().euid, 10);
        t.seteuid(a, 0).unwrap();
        assert_eq!(t.get(a).unwrap().euid, 0);
        assert_eq!(t.get(a).unwrap().name(), "su");
    }

    #[test]
    fn sessions_and_groups() {
        let mut t = table_with_init();
        let sh = fork(&mut t, INIT_PID, 200);
        assert_eq!(
            t.setsid(INIT_PID),
            Err(Errno::EPERM),
            "init leads its group"
        );
        assert_eq!(t.setsid(sh), Ok(sh));
        assert_eq!(t.setsid(sh), Err(Errno::EPERM), "already a leader");
        let job = fork(&mut t, sh, 201);
        let job2 = fork(&mut t, sh, 202);
        // The shell puts the job in its own group, then a second process
        // into that group.
        t.setpgid(sh, job, job).unwrap();
        t.setpgid(sh, job2, job).unwrap();
        assert_eq!(t.get(job2).unwrap().pgrp, job);
        // A group that does not exist in the session.
        assert_eq!(t.setpgid(sh, job2, 999), Err(Errno::EPERM));
        // Not a child.
        assert_eq!(t.setpgid(job, sh, 0), Err(Errno::ESRCH));
        // A session leader cannot move.
        assert_eq!(t.setpgid(sh, 0, job), Err(Errno::EPERM));
        // Another session's process cannot be moved.
        let other = fork(&mut t, INIT_PID, 203);
        assert_eq!(t.setpgid(INIT_PID, other, INIT_PID), Ok(()));
        assert_eq!(t.setpgid(sh, other, 0), Err(Errno::ESRCH));
        assert_eq!(t.setpgid(sh, -1, 0), Err(Errno::EINVAL));
        // kill to the job's group reaches both members only.
        let mut g = t.kill_targets(sh, -job, sig::SIGINT).unwrap();
        g.sort();
        assert_eq!(g, vec![job, job2]);
    }

    #[test]
    fn kill_targets_and_permissions() {
        let mut t = table_with_init();
        let a = fork(&mut t, INIT_PID, 200);
        let b = fork(&mut t, INIT_PID, 201);
        t.setuid(b, 7).unwrap();
        let c = fork(&mut t, INIT_PID, 202);
        t.setuid(c, 8).unwrap();
        assert_eq!(t.kill_targets(b, c, sig::SIGTERM), Err(Errno::EPERM));
        assert_eq!(t.kill_targets(b, 999, sig::SIGTERM), Err(Errno::ESRCH));
        assert_eq!(t.kill_targets(b, c, sig::NSIG), Err(Errno::EINVAL));
        assert_eq!(t.kill_targets(a, c, 0), Ok(vec![c]));
        // -1: everyone but init and the sender (root may signal all).
        let mut all = t.kill_targets(a, -1, sig::SIGTERM).unwrap();
        all.sort();
        assert_eq!(all, vec![b, c]);
        // An unprivileged sender reaches only its own processes.
        assert_eq!(t.kill_targets(c, -1, sig::SIGTERM), Err(Errno::EPERM));
        // Zombies are not signalled.
        exit(&mut t, b, 0);
        assert_eq!(t.kill_targets(a, b, sig::SIGTERM), Err(Errno::ESRCH));
    }

    #[test]
    fn signal_dispositions_masks_and_pending() {
        let mut t = table_with_init();
        let a = fork(&mut t, INIT_PID, 200);
        // Defaults: terminate, ignore CHLD, stop/continue.
        assert_eq!(t.post(a, sig::SIGINT), Disposition::Terminate);
        assert_eq!(t.post(a, sig::SIGTERM), Disposition::Terminate);
        assert_eq!(t.post(a, sig::SIGPIPE), Disposition::Terminate);
        assert_eq!(t.post(a, sig::SIGCHLD), Disposition::Discard);
        assert_eq!(t.post(a, sig::SIGCONT), Disposition::Discard, "not stopped");
        assert_eq!(t.post(a, sig::SIGTSTP), Disposition::Stop);
        assert_eq!(t.post(a, 0), Disposition::Discard);
        assert_eq!(t.post(a, 77), Disposition::Discard);

        // SIGKILL / SIGSTOP: no handler, no ignoring, no blocking.
        let h = SigAction {
            handler: 0x4000_0100,
            mask: sig::bit(sig::SIGKILL) | sig::bit(sig::SIGUSR2),
            flags: 0,
        };
        assert_eq!(
            t.sigaction(a, sig::SIGKILL, Some(h), 0x4000_0200),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            t.sigaction(a, sig::SIGSTOP, Some(SigAction::default()), 0),
            Err(Errno::EINVAL)
        );
        t.sigprocmask(a, sig::SIG_SETMASK, u64::MAX).unwrap();
        assert_eq!(t.get(a).unwrap().mask & sig::UNCATCHABLE, 0);
        assert_eq!(t.post(a, sig::SIGKILL), Disposition::Terminate);
        assert_eq!(t.post(a, sig::SIGSTOP), Disposition::Stop);
        // Blocked: pending, even default-terminate ones.
        assert_eq!(t.post(a, sig::SIGTERM), Disposition::Pending);
        assert_eq!(t.get(a).unwrap().pending, sig::bit(sig::SIGTERM));
        assert_eq!(t.sigprocmask(a, 9, 0), Err(Errno::EINVAL));
        // Unblocking makes it act.
        t.sigprocmask(a, sig::SIG_UNBLOCK, sig::bit(sig::SIGTERM))
            .unwrap();
        assert_eq!(
            t.next_pending(a),
            Some((sig::SIGTERM, Disposition::Terminate))
        );
        assert_eq!(t.next_pending(a), None);
        t.sigprocmask(a, sig::SIG_SETMASK, 0).unwrap();

        // A handler: without a trampoline it is refused.
        assert_eq!(t.sigaction(a, sig::SIGUSR1, Some(h), 0), Err(Errno::EINVAL));
        let old = t.sigaction(a, sig::SIGUSR1, Some(h), 0x4000_0200).unwrap();
        assert_eq!(old, SigAction::default());
        assert_eq!(
            t.sigaction(a, sig::SIGUSR1, None, 0).unwrap().mask,
            sig::bit(sig::SIGUSR2),
            "SIGKILL dropped from the handler mask"
        );
        assert_eq!(t.post(a, sig::SIGUSR1), Disposition::Catch);
        assert_eq!(t.get(a).unwrap().pending, sig::bit(sig::SIGUSR1));
        // Delivery: handler mask + the signal itself are blocked; the frame
        // restores the old mask.
        assert_eq!(t.delivered(a, sig::SIGUSR1, None), Some(0));
        let p = t.get(a).unwrap();
        assert_eq!(p.pending, 0);
        assert_eq!(p.mask, sig::bit(sig::SIGUSR1) | sig::bit(sig::SIGUSR2));
        // While the handler runs, another USR1 stays pending.
        assert_eq!(t.post(a, sig::SIGUSR1), Disposition::Pending);
        // After sigreturn (mask restored) it is the next to deliver.
        t.get_mut(a).unwrap().mask = 0;
        assert_eq!(t.next_pending(a), Some((sig::SIGUSR1, Disposition::Catch)));
        assert_eq!(
            t.get(a).unwrap().pending,
            sig::bit(sig::SIGUSR1),
            "until delivered"
        );

        // SIG_IGN discards, also what was pending.
        t.sigprocmask(a, sig::SIG_BLOCK, sig::bit(sig::SIGUSR2))
            .unwrap();
        t.post(a, sig::SIGUSR2);
        let ign = SigAction {
            handler: sig::SIG_IGN,
            ..SigAction::default()
        };
        t.sigaction(a, sig::SIGUSR2, Some(ign), 0).unwrap();
        assert_eq!(t.get(a).unwrap().pending & sig::bit(sig::SIGUSR2), 0);
        assert_eq!(t.post(a, sig::SIGUSR2), Disposition::Discard);
    }

    #[test]
    fn resethand_and_nodefer() {
        let mut t = table_with_init();
        let a = fork(&mut t, INIT_PID, 200);
        let h = SigAction {
            handler: 0x4000_0100,
            mask: 0,
            flags: sig::SA_RESETHAND | sig::SA_NODEFER,
        };
        t.sigaction(a, sig::SIGINT, Some(h), 0x4000_0200).unwrap();
        assert_eq!(t.post(a, sig::SIGINT), Disposition::Catch);
        assert_eq!(t.delivered(a, sig::SIGINT, Some(0x30)), Some(0x30));
        assert_eq!(t.get(a).unwrap().mask, 0, "NODEFER: not blocked");
        assert_eq!(
            t.post(a, sig::SIGINT),
            Disposition::Terminate,
            "reset to default"
        );
    }

    #[test]
    fn exec_resets_caught_handlers_but_keeps_ignored_ones_and_the_mask() {
        let mut t = table_with_init();
        let a = fork(&mut t, INIT_PID, 200);
        let h = SigAction {
            handler: 0x4000_0100,
            ..SigAction::default()
        };
        let ign = SigAction {
            handler: sig::SIG_IGN,
            ..SigAction::default()
        };
        t.sigaction(a, sig::SIGUSR1, Some(h), 0x4000_0200).unwrap();
        t.sigaction(a, sig::SIGINT, Some(ign), 0).unwrap();
        t.sigprocmask(a, sig::SIG_BLOCK, sig::bit(sig::SIGTERM))
            .unwrap();
        t.exec(a, None, None, "prog").unwrap();
        let p = t.get(a).unwrap();
        assert_eq!(p.actions[sig::SIGUSR1 as usize], SigAction::default());
        assert_eq!(p.actions[sig::SIGINT as usize], ign);
        assert_eq!(p.mask, sig::bit(sig::SIGTERM));
        assert_eq!(p.trampoline, 0);
        assert_eq!(t.post(a, sig::SIGUSR1), Disposition::Terminate);
    }

    #[test]
    fn stop_and_continue() {
        let mut t = table_with_init();
        let a = fork(&mut t, INIT_PID, 200);
        assert_eq!(t.post(a, sig::SIGSTOP), Disposition::Stop);
        t.get_mut(a).unwrap().stopped = Some(sig::SIGSTOP);
        // WUNTRACED reports the stop once.
        assert_eq!(
            t.wait(INIT_PID, a, WUNTRACED | WNOHANG),
            Ok(Some((a, proto::w_stopped(sig::SIGSTOP))))
        );
        assert_eq!(t.wait(INIT_PID, a, WUNTRACED | WNOHANG), Ok(None));
        assert_eq!(t.wait(INIT_PID, a, WNOHANG), Ok(None));
        assert_eq!(t.post(a, sig::SIGCONT), Disposition::Continue);
        // Blocked SIGCONT still continues.
        t.sigprocmask(a, sig::SIG_BLOCK, sig::bit(sig::SIGCONT))
            .unwrap();
        assert_eq!(t.post(a, sig::SIGCONT), Disposition::Continue);
    }

    #[test]
    fn alarms() {
        let mut t = table_with_init();
        let a = fork(&mut t, INIT_PID, 200);
        let b = fork(&mut t, INIT_PID, 201);
        assert_eq!(t.set_alarm(a, 1000, 3, 100), Ok(0));
        assert_eq!(t.set_alarm(b, 1000, 1, 100), Ok(0));
        assert_eq!(t.next_alarm(), Some(1100));
        // 1.5 s left rounds up to 2.
        assert_eq!(t.set_alarm(a, 1150, 5, 100), Ok(2));
        assert_eq!(t.due_alarms(1099), Vec::<Pid>::new());
        assert_eq!(t.due_alarms(1100), vec![b]);
        assert_eq!(t.due_alarms(1100), Vec::<Pid>::new(), "fires once");
        assert_eq!(t.next_alarm(), Some(1650));
        // Cancel: returns what was left.
        assert_eq!(t.set_alarm(a, 1600, 0, 100), Ok(1));
        assert_eq!(t.next_alarm(), None);
        // Dying processes lose their alarm.
        t.set_alarm(b, 0, 10, 100).unwrap();
        t.terminate(b, 0, (0, 0));
        assert_eq!(t.next_alarm(), None);
    }

    #[test]
    fn records_for_ps() {
        let mut t = table_with_init();
        let a = fork(&mut t, INIT_PID, 200);
        t.get_mut(a).unwrap().held = Held::Wait {
            id: 1,
            pid: -1,
            options: 0,
        };
        let r = Table::record(t.get(a).unwrap());
        assert_eq!(r.pid.get(), a);
        assert_eq!(r.ppid.get(), INIT_PID);
        assert_eq!(r.state.get(), state::WAITING);
        assert_eq!(&r.name[..4], b"init");
        exit(&mut t, a, 0);
        assert_eq!(Table::record(t.get(a).unwrap()).state.get(), state::ZOMBIE);
    }
}
