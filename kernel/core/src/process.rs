//! The process table: fixed slots, endpoints with generations, states and
//! the round-robin choice of the next process to run.
//!
//! The table is generic over the architecture's saved context `C` (register
//! frame, page-table root, owned frames), so the bookkeeping is tested on the
//! host. Endpoints are `generation << 16 | slot` as planned for IPC: when a
//! slot is reused its generation grows, so a stale endpoint never names the
//! new occupant.

use crate::fault::Fault;
use alloc::string::String;
use alloc::vec::Vec;

/// Number of process slots.
pub const NR_PROCS: usize = 64;
/// Slot of the kernel's SYSTEM task (source of IRQ notifications and
/// kernel-generated messages; `sys::Endpoint::SYSTEM`).
pub const SYSTEM_SLOT: usize = 0;
/// Slot of the kernel's CLOCK task (source of alarm notifications;
/// `sys::Endpoint::CLOCK`).
pub const CLOCK_SLOT: usize = 1;
/// First slot for processes; boot modules fill slots from here in module
/// order, so with MINIX's order RS is slot 2 and DS slot 3 as `sys`
/// expects.
pub const FIRST_USER_SLOT: usize = 2;

/// Servers a plain user process may talk to (MINIX: PM, VFS and VM; and
/// RS, which serves `service` requests of root users only, asking PM who
/// the caller is), found by name ([`ProcessTable::find_preferring`], plain
/// users never count).
pub const USER_SERVERS: [&str; 4] = ["pm", "vfs", "vm", "rs"];

/// A name `SetName` accepts: 1 to [`abi::MAX_PROC_NAME`] bytes of
/// printable ASCII without spaces (it shows in `[name]` console prefixes
/// and kernel messages).
pub fn valid_name(bytes: &[u8]) -> Option<&str> {
    if bytes.is_empty() || bytes.len() > abi::MAX_PROC_NAME {
        return None;
    }
    if !bytes.iter().all(u8::is_ascii_graphic) {
        return None;
    }
    core::str::from_utf8(bytes).ok()
}

/// Whether a plain user process may be named `name`: not after a server
/// plain users reach ([`USER_SERVERS`]: IPC rights follow those names) nor
/// after a process whose death is fatal (`critical`).
pub fn plain_user_may_take(name: &str, critical: &[String]) -> bool {
    !USER_SERVERS.contains(&name) && !critical.iter().any(|c| c == name)
}

/// A process's identity for IPC: slot index plus generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint(pub u32);

impl Endpoint {
    /// The endpoint for `slot` in its `generation`.
    pub const fn new(slot: u16, generation: u16) -> Self {
        Self(((generation as u32) << 16) | slot as u32)
    }
    /// The slot index.
    pub const fn slot(self) -> usize {
        (self.0 & 0xffff) as usize
    }
    /// The generation.
    pub const fn generation(self) -> u16 {
        (self.0 >> 16) as u16
    }
}

/// Life-cycle state of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcState {
    /// Ready to run (or running).
    Runnable,
    /// Waiting in IPC; not scheduled until woken.
    Blocked,
    /// Called exit with this code.
    Exited(i32),
    /// Stopped by the kernel after a fault.
    Killed(Fault),
}

/// One process slot's contents.
#[derive(Debug)]
pub struct Process<C> {
    /// Name from the boot module command line.
    pub name: String,
    /// IPC identity.
    pub endpoint: Endpoint,
    /// Current state.
    pub state: ProcState,
    /// Architecture context (registers, address space).
    pub ctx: C,
}

/// Why a process could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// Every slot is in use.
    Full,
    /// No process in that slot.
    NoSuchProcess(usize),
    /// The slot's process is still alive (take-over needs a dead one).
    StillAlive(usize),
    /// The process is dead (take-over needs a live new instance).
    NotAlive(usize),
}

/// Counts of how processes ended, for the final summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Processes that called exit.
    pub exited: usize,
    /// Of those, how many with a nonzero code.
    pub nonzero: usize,
    /// Processes stopped after a fault.
    pub killed: usize,
}

impl<C> Process<C> {
    /// True until the process exits or is killed.
    pub fn is_alive(&self) -> bool {
        matches!(self.state, ProcState::Runnable | ProcState::Blocked)
    }
}

/// The process table.
#[derive(Debug)]
pub struct ProcessTable<C> {
    slots: Vec<Option<Process<C>>>,
    generations: Vec<u16>,
    current: Option<usize>,
    summary: Summary,
}

impl<C> Default for ProcessTable<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C> ProcessTable<C> {
    /// An empty table with [`NR_PROCS`] slots.
    pub fn new() -> Self {
        let mut slots = Vec::with_capacity(NR_PROCS);
        slots.resize_with(NR_PROCS, || None);
        Self {
            slots,
            generations: alloc::vec![0; NR_PROCS],
            current: None,
            summary: Summary::default(),
        }
    }

    /// Puts a new runnable process in the lowest free slot at or above
    /// [`FIRST_USER_SLOT`] (lower slots belong to kernel tasks).
    pub fn spawn(&mut self, name: &str, ctx: C) -> Result<Endpoint, TableError> {
        let slot = (FIRST_USER_SLOT..self.slots.len())
            .find(|&s| self.slots[s].is_none())
            .ok_or(TableError::Full)?;
        let endpoint = Endpoint::new(slot as u16, self.generations[slot]);
        self.slots[slot] = Some(Process {
            name: String::from(name),
            endpoint,
            state: ProcState::Runnable,
            ctx,
        });
        Ok(endpoint)
    }

    /// The process in `slot`.
    pub fn get(&self, slot: usize) -> Option<&Process<C>> {
        self.slots.get(slot)?.as_ref()
    }

    /// The process in `slot`, mutably.
    pub fn get_mut(&mut self, slot: usize) -> Option<&mut Process<C>> {
        self.slots.get_mut(slot)?.as_mut()
    }

    /// True when [`Self::spawn`] would find a slot.
    pub fn has_free_slot(&self) -> bool {
        self.slots[FIRST_USER_SLOT..].iter().any(Option::is_none)
    }

    /// Moves the live process in slot `new` into slot `old`, whose process
    /// has died but was kept for its manager, so the new instance answers
    /// to the old endpoint (MINIX `update`). Returns the dead process so
    /// the caller can free it; slot `new` becomes free (generation bumped).
    pub fn take_over(&mut self, old: usize, new: usize) -> Result<Process<C>, TableError> {
        match (self.get(old), self.get(new)) {
            (None, _) => return Err(TableError::NoSuchProcess(old)),
            (_, None) => return Err(TableError::NoSuchProcess(new)),
            (Some(o), _) if o.is_alive() => return Err(TableError::StillAlive(old)),
            (_, Some(n)) if !n.is_alive() => return Err(TableError::NotAlive(new)),
            _ if old == new => return Err(TableError::StillAlive(old)),
            _ => {}
        }
        let mut incoming = self.release(new).ok_or(TableError::NoSuchProcess(new))?;
        let dead = self.slots[old]
            .take()
            .ok_or(TableError::NoSuchProcess(old))?;
        incoming.endpoint = dead.endpoint;
        self.slots[old] = Some(incoming);
        if self.current == Some(old) {
            self.current = None;
        }
        Ok(dead)
    }

    /// The slot of the running process.
    pub fn current(&self) -> Option<usize> {
        self.current
    }

    /// Records which slot runs now.
    pub fn set_current(&mut self, slot: Option<usize>) {
        self.current = slot;
    }

    /// Marks the process in `slot` as exited with `code`.
    pub fn exit(&mut self, slot: usize, code: i32) -> Result<(), TableError> {
        self.finish(slot, ProcState::Exited(code))
    }

    /// Marks the process in `slot` as killed by `fault`.
    pub fn kill(&mut self, slot: usize, fault: Fault) -> Result<(), TableError> {
        self.finish(slot, ProcState::Killed(fault))
    }

    /// Marks a live process blocked (`blocked`) or runnable again.
    pub fn set_blocked(&mut self, slot: usize, blocked: bool) -> Result<(), TableError> {
        let p = self.get_mut(slot).ok_or(TableError::NoSuchProcess(slot))?;
        if p.is_alive() {
            p.state = if blocked {
                ProcState::Blocked
            } else {
                ProcState::Runnable
            };
        }
        Ok(())
    }

    /// Number of processes blocked in IPC.
    pub fn blocked(&self) -> usize {
        self.slots
            .iter()
            .flatten()
            .filter(|p| p.state == ProcState::Blocked)
            .count()
    }

    /// The live process named `name` (lowest slot first).
    pub fn find(&self, name: &str) -> Option<&Process<C>> {
        self.slots
            .iter()
            .flatten()
            .find(|p| p.is_alive() && p.name == name)
    }

    /// The live process named `name`, preferring one for whose slot
    /// `lesser` is false (the kernel: not a plain user process), then the
    /// lowest slot. So a user program that took a service's name never
    /// hides the service from a lookup.
    pub fn find_preferring(
        &self,
        name: &str,
        lesser: impl Fn(usize) -> bool,
    ) -> Option<&Process<C>> {
        self.slots
            .iter()
            .flatten()
            .filter(|p| p.is_alive() && p.name == name)
            .min_by_key(|p| lesser(p.endpoint.slot()))
    }

    /// Renames the process in `slot` (live or kept).
    pub fn rename(&mut self, slot: usize, name: &str) -> Result<(), TableError> {
        let p = self.get_mut(slot).ok_or(TableError::NoSuchProcess(slot))?;
        p.name = String::from(name);
        Ok(())
    }

    fn finish(&mut self, slot: usize, state: ProcState) -> Result<(), TableError> {
        let p = self.get_mut(slot).ok_or(TableError::NoSuchProcess(slot))?;
        if !p.is_alive() {
            return Ok(());
        }
        p.state = state;
        match state {
            ProcState::Exited(code) => {
                self.summary.exited += 1;
                if code != 0 {
                    self.summary.nonzero += 1;
                }
            }
            ProcState::Killed(_) => self.summary.killed += 1,
            ProcState::Runnable | ProcState::Blocked => {}
        }
        Ok(())
    }

    /// Empties `slot` (its process must have finished), returning the
    /// process so the caller can free its resources. The slot's generation
    /// grows so its old endpoint stays dead.
    pub fn release(&mut self, slot: usize) -> Option<Process<C>> {
        let p = self.slots.get_mut(slot)?.take()?;
        self.generations[slot] = self.generations[slot].wrapping_add(1);
        if self.current == Some(slot) {
            self.current = None;
        }
        Some(p)
    }

    /// The next runnable slot after `after` in round-robin order (wrapping,
    /// `after` itself last), or `None` when nothing can run.
    pub fn next_runnable(&self, after: Option<usize>) -> Option<usize> {
        let n = self.slots.len();
        let start = after.map_or(0, |a| a + 1);
        (0..n).map(|i| (start + i) % n).find(|&s| {
            self.slots[s]
                .as_ref()
                .is_some_and(|p| p.state == ProcState::Runnable)
        })
    }

    /// How processes have ended so far.
    pub fn summary(&self) -> Summary {
        self.summary
    }

    /// Number of occupied slots.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// True when no slot is occupied.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FaultKind;

    fn gp() -> Fault {
        Fault {
            kind: FaultKind::GeneralProtection,
            error_code: 0,
            rip: 0x4000_0000,
            addr: None,
        }
    }

    #[test]
    fn round_robin_skips_finished() {
        let mut t = ProcessTable::new();
        for name in ["a", "b", "c"] {
            t.spawn(name, ()).unwrap();
        }
        let (a, b, c) = (FIRST_USER_SLOT, FIRST_USER_SLOT + 1, FIRST_USER_SLOT + 2);
        assert_eq!(t.next_runnable(None), Some(a));
        assert_eq!(t.next_runnable(Some(a)), Some(b));
        assert_eq!(t.next_runnable(Some(c)), Some(a));
        t.exit(b, 0).unwrap();
        assert_eq!(t.next_runnable(Some(a)), Some(c));
        t.kill(c, gp()).unwrap();
        assert_eq!(t.next_runnable(Some(a)), Some(a), "only a left");
        t.exit(a, 3).unwrap();
        assert_eq!(t.next_runnable(Some(a)), None);
        assert_eq!(
            t.summary(),
            Summary {
                exited: 2,
                nonzero: 1,
                killed: 1
            }
        );
    }

    #[test]
    fn blocked_processes_are_not_scheduled_but_can_die() {
        let mut t = ProcessTable::new();
        let srv = t.spawn("srv", ()).unwrap().slot();
        let cli = t.spawn("cli", ()).unwrap().slot();
        t.set_blocked(srv, true).unwrap();
        assert_eq!(t.next_runnable(None), Some(cli));
        assert_eq!(t.next_runnable(Some(cli)), Some(cli));
        assert_eq!(t.blocked(), 1);
        assert_eq!(t.find("srv").unwrap().endpoint.slot(), srv);
        t.set_blocked(srv, false).unwrap();
        assert_eq!(t.next_runnable(Some(cli)), Some(srv));
        t.set_blocked(srv, true).unwrap();
        t.kill(srv, gp()).unwrap();
        assert_eq!(t.summary().killed, 1);
        t.set_blocked(srv, false).unwrap();
        assert!(
            matches!(t.get(srv).unwrap().state, ProcState::Killed(_)),
            "dead stays dead"
        );
        assert!(t.find("srv").is_none());
    }

    #[test]
    fn take_over_keeps_the_old_endpoint() {
        let mut t = ProcessTable::new();
        let old = t.spawn("srv", 1).unwrap();
        let other = t.spawn("cli", 2).unwrap();
        assert_eq!(
            t.take_over(old.slot(), other.slot()).unwrap_err(),
            TableError::StillAlive(old.slot())
        );
        t.kill(old.slot(), gp()).unwrap();
        let new = t.spawn("srv", 3).unwrap();
        let dead = t.take_over(old.slot(), new.slot()).unwrap();
        assert_eq!(dead.ctx, 1);
        let p = t.get(old.slot()).unwrap();
        assert_eq!((p.endpoint, p.ctx, p.is_alive()), (old, 3, true));
        assert!(t.get(new.slot()).is_none());
        // The vacated slot's next occupant gets a new generation.
        let again = t.spawn("x", 4).unwrap();
        assert_eq!(again.slot(), new.slot());
        assert_ne!(again, new);
        t.exit(other.slot(), 0).unwrap();
        assert_eq!(
            t.take_over(old.slot(), other.slot()).unwrap_err(),
            TableError::StillAlive(old.slot())
        );
        assert!(t.has_free_slot());
    }

    #[test]
    fn finishing_twice_counts_once() {
        let mut t = ProcessTable::new();
        let a = t.spawn("a", ()).unwrap().slot();
        t.exit(a, 0).unwrap();
        t.kill(a, gp()).unwrap();
        assert_eq!(t.get(a).unwrap().state, ProcState::Exited(0));
        assert_eq!(t.summary().exited, 1);
        assert_eq!(t.summary().killed, 0);
        assert_eq!(t.exit(5, 0), Err(TableError::NoSuchProcess(5)));
    }

    #[test]
    fn slots_fill_up_and_reuse_bumps_generation() {
        let mut t = ProcessTable::new();
        for i in FIRST_USER_SLOT..NR_PROCS {
            assert_eq!(t.spawn("p", ()).unwrap().slot(), i);
        }
        assert_eq!(t.spawn("p", ()), Err(TableError::Full));
        assert!(t.get(SYSTEM_SLOT).is_none() && t.get(CLOCK_SLOT).is_none());
        t.exit(5, 0).unwrap();
        let old = t.get(5).unwrap().endpoint;
        assert!(t.release(5).is_some());
        let new = t.spawn("q", ()).unwrap();
        assert_eq!(new.slot(), 5);
        assert_eq!(new.generation(), old.generation() + 1);
        assert_ne!(new, old);
        assert_eq!(t.len(), NR_PROCS - FIRST_USER_SLOT);
    }

    #[test]
    fn names_for_set_name() {
        assert_eq!(valid_name(b"init"), Some("init"));
        assert_eq!(valid_name(b"a-b_c.d+1~!"), Some("a-b_c.d+1~!"));
        assert_eq!(valid_name(b"fifteen-bytes.."), Some("fifteen-bytes.."));
        assert_eq!(valid_name(b"sixteen-bytes..."), None);
        assert_eq!(valid_name(b""), None);
        for bad in [
            &b"a b"[..],
            b"a\nb",
            b"tab\t",
            b"\0",
            b"nul\0",
            b"\x7f",
            b"\xc3\xa9",
        ] {
            assert_eq!(valid_name(bad), None, "{bad:?}");
        }
        let critical = [String::from("rs"), String::from("ds")];
        for reserved in ["pm", "vfs", "vm", "rs", "ds"] {
            assert!(!plain_user_may_take(reserved, &critical), "{reserved}");
        }
        // The servers plain users reach are reserved even when not critical.
        for server in USER_SERVERS {
            assert!(!plain_user_may_take(server, &[]), "{server}");
        }
        assert!(plain_user_may_take("ds", &[]));
        for fine in ["init", "sh", "pmx", "vms", "PM", "mfs"] {
            assert!(plain_user_may_take(fine, &critical), "{fine}");
        }
    }

    #[test]
    fn lookups_prefer_system_processes_and_follow_renames() {
        let mut t = ProcessTable::new();
        let user = t.spawn("sh", ()).unwrap().slot();
        let vfs = t.spawn("vfs", ()).unwrap().slot();
        let is_user = |s: usize| s == user;
        // A user renamed after a service in a lower slot: the service wins.
        t.rename(user, "vfs").unwrap();
        assert_eq!(t.find("vfs").unwrap().endpoint.slot(), user);
        let found = t.find_preferring("vfs", is_user).unwrap();
        assert_eq!(found.endpoint.slot(), vfs);
        // The new name is found, the old one is gone.
        t.rename(user, "init").unwrap();
        assert_eq!(
            t.find_preferring("init", is_user).unwrap().endpoint.slot(),
            user
        );
        assert!(t.find_preferring("sh", is_user).is_none());
        // With only plain users of that name, the lowest slot.
        let other = t.spawn("init", ()).unwrap().slot();
        let both = |s: usize| s == user || s == other;
        assert_eq!(
            t.find_preferring("init", both).unwrap().endpoint.slot(),
            user
        );
        // Dead processes are never found.
        t.exit(vfs, 0).unwrap();
        assert!(t.find_preferring("vfs", is_user).is_none());
        assert_eq!(t.rename(40, "x"), Err(TableError::NoSuchProcess(40)));
    }
}
