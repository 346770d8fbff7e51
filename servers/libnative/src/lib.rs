//! The native runtime of the server framework: [`NativeSys`] implements
//! [`sys::Sys`] with the kernel's system calls (through `rt`), and [`run`]
//! drives a [`sys::Process`] — RS, DS, any SEF service — in the MINIX
//! `receive(ANY)` → dispatch loop. It talks only to the kernel.
//!
//! Where the kernel offers less than `Sys` promises, the nearest honest
//! behaviour is used and the gap is listed in this crate's README (crash
//! causes, `preserve`, exit reports, request bounces after receipt).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod bdev;
pub mod blockdriver;
pub mod sample;
pub mod vault;

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use rt::abi;
use sys::proto::kernel::{Cause, ProcDied, sig};
use sys::{
    Endpoint, Errno, GrantAccess, GrantId, Message, Privileges, Process, SpawnAt, SpawnSpec, Sys,
    Ticks,
};
use zerocopy::{FromBytes, IntoBytes};

/// Argument string a boot-module copy of a service gets when it is only
/// there as an image for `Spawn` (see [`is_image_only`]).
pub const IMAGE_ONLY_ARG: &str = "image";

/// The kernel starts every boot module; a service that RS must start itself
/// is listed with [`IMAGE_ONLY_ARG`] and that boot copy exits at once.
pub fn is_image_only(args: &str) -> bool {
    args.split_ascii_whitespace().next() == Some(IMAGE_ONLY_ARG)
}

/// Kernel error → framework error (both use MINIX numbers).
pub fn errno(e: abi::Errno) -> Errno {
    match e {
        abi::Errno::Perm => Errno::EPERM,
        abi::Errno::NoMem => Errno::ENOMEM,
        abi::Errno::Again => Errno::EAGAIN,
        abi::Errno::Fault => Errno::EFAULT,
        abi::Errno::Inval => Errno::EINVAL,
        abi::Errno::NoSys => Errno::ENOSYS,
        abi::Errno::NotReady => Errno::ENOTREADY,
        abi::Errno::DeadSrcDst => Errno::EDEADSRCDST(None),
        abi::Errno::Locked => Errno::ELOCKED,
        abi::Errno::BadEndpoint => Errno::EBADEPT,
    }
}

fn raw(m: &Message) -> rt::ipc::Message {
    let mut r = [0u8; abi::MESSAGE_SIZE];
    r.copy_from_slice(m.as_bytes());
    r
}

fn cooked(r: &rt::ipc::Message) -> Message {
    // Both are exactly 64 bytes with the same layout (source, type, payload).
    Message::read_from_bytes(&r[..]).unwrap_or_else(|_| Message::new(0))
}

/// `sys::Sys` over the kernel's system calls. One per process.
pub struct NativeSys {
    me: Endpoint,
    /// Granted buffers, kept alive and unmoved until revoked.
    grants: BTreeMap<u32, Vec<u8>>,
    /// Processes this one is the signal manager of.
    managed: BTreeSet<Endpoint>,
    /// Managed processes this one killed (their death is `Cause::Killed`).
    killed: BTreeSet<Endpoint>,
    /// Messages made up by the runtime (death reports), delivered first.
    pending: VecDeque<Message>,
    exit: Option<i32>,
    /// This instance's last preserved blob (a copy is also in the vault).
    preserved: Option<Vec<u8>>,
    /// The vault server, once found.
    vault: Option<Endpoint>,
    /// Signals the kernel reported for managed processes (bit n = signal n).
    signals: BTreeMap<Endpoint, u64>,
}

impl NativeSys {
    /// The runtime for the calling process.
    pub fn new() -> Self {
        let me = rt::ipc::whois("").map_or(Endpoint::NONE, Endpoint);
        NativeSys {
            me,
            grants: BTreeMap::new(),
            managed: BTreeSet::new(),
            killed: BTreeSet::new(),
            pending: VecDeque::new(),
            exit: None,
            preserved: None,
            vault: None,
            signals: BTreeMap::new(),
        }
    }

    /// The exit code asked for with [`Sys::exit`], if any.
    pub fn exit_requested(&self) -> Option<i32> {
        self.exit
    }

    /// Processes this one currently manages (for logs and tests).
    pub fn managed(&self) -> impl Iterator<Item = Endpoint> + '_ {
        self.managed.iter().copied()
    }

    /// Sleep for `ticks` clock ticks (the alarm is this process's only one).
    /// Other messages arriving meanwhile are dropped: only for simple clients.
    pub fn sleep(&mut self, ticks: Ticks) {
        self.set_alarm(ticks.max(1));
        let _ = rt::ipc::receive(abi::CLOCK_ENDPOINT);
    }

    /// The endpoint DS gives for `label`, asking once per clock tick until
    /// it is there (RS publishes a service's label when it starts it), at
    /// most `ticks` times. Messages other than the answers are dropped, as
    /// in [`NativeSys::sleep`]: for clients waiting for the system to come
    /// up.
    pub fn wait_for_label(&mut self, label: &str, ticks: u64) -> Option<Endpoint> {
        for _ in 0..ticks.max(1) {
            if let Ok(ep) = sys::ds::retrieve_label(self, label) {
                return Some(ep);
            }
            self.sleep(1);
        }
        None
    }

    /// The next message for the loop: runtime-made death reports first, then
    /// the kernel's. A notification from SYSTEM to a signal manager means one
    /// of its processes faulted, was killed or exited; which one is found by
    /// probing (see README). The managed processes are also probed at every
    /// alarm (RS's tick), as a safety net.
    pub fn next_message(&mut self) -> Result<Message, Errno> {
        let m = match self.pending.pop_front() {
            Some(m) => m,
            None => cooked(&rt::ipc::receive(abi::ENDPOINT_ANY).map_err(errno)?),
        };
        let notify = m.mtype() == abi::NOTIFY_MTYPE;
        if notify && !self.managed.is_empty() {
            if m.source() == Endpoint::SYSTEM {
                let before = self.pending.len();
                self.probe_managed();
                if self.pending.len() > before
                    && let Some(d) = self.pending.pop_front()
                {
                    // The notification itself carries nothing more.
                    return Ok(d);
                }
            } else if m.source() == Endpoint::CLOCK {
                // The tick still goes to the process; deaths follow it.
                self.probe_managed();
            }
        }
        Ok(m)
    }

    /// Reports every managed process that is no longer alive. The probe is a
    /// notification, which a SEF service answers as a ping. The cause comes
    /// from the signals the kernel kept pending for this manager.
    fn probe_managed(&mut self) {
        self.collect_signals();
        let dead: Vec<Endpoint> = self
            .managed
            .iter()
            .copied()
            .filter(|ep| {
                matches!(
                    rt::ipc::notify(ep.0),
                    Err(abi::Errno::DeadSrcDst | abi::Errno::BadEndpoint)
                )
            })
            .collect();
        for ep in dead {
            self.managed.remove(&ep);
            let sigs = self.signals.remove(&ep).unwrap_or(0);
            // An exit: the kernel keeps the process, with its code.
            let code = (sigs & (1 << abi::SIG_EXIT) != 0)
                .then(|| rt::sys::proc_info(ep.0).ok())
                .flatten()
                .filter(|i| i[0] == abi::PROC_EXITED)
                .map(|i| i[5] as i64 as i32);
            let cause = cause_of(self.killed.remove(&ep), sigs, code);
            let mut m = ProcDied { ep, cause }.to_message();
            m.set_source(Endpoint::SYSTEM);
            self.pending.push_back(m);
        }
    }

    /// Takes the pending signals of managed processes from the kernel
    /// (`SigPending`, one process per call).
    fn collect_signals(&mut self) {
        // Bounded: at most one answer per process slot holding signals.
        for _ in 0..256 {
            match rt::sys::sig_pending() {
                Ok(Some((ep, sigs))) => *self.signals.entry(Endpoint(ep)).or_insert(0) |= sigs,
                _ => break,
            }
        }
    }

    /// The vault server (`servers/vault`), if one runs; without it
    /// preserved memory lasts only as long as this instance.
    fn find_vault(&mut self) -> Option<Endpoint> {
        if self.vault.is_none() {
            self.vault = rt::ipc::whois(vault::NAME).ok().map(Endpoint);
        }
        self.vault
    }

    fn manage(&mut self, ep: Endpoint) -> Result<(), Errno> {
        rt::sys::set_sigmgr(ep.0, self.me.0).map_err(errno)?;
        self.managed.insert(ep);
        self.killed.remove(&ep);
        self.signals.remove(&ep);
        Ok(())
    }

    fn spawn_fresh(&mut self, program: &str, label: &str) -> Result<Endpoint, Errno> {
        let ep = Endpoint(rt::sys::spawn(program, label).map_err(errno)?);
        if let Err(e) = self.manage(ep) {
            // Unmanaged, it could die unseen: do not leave it running.
            let _ = rt::sys::kill(ep.0);
            return Err(e);
        }
        Ok(ep)
    }

    fn spawn_exact(
        &mut self,
        program: &str,
        label: &str,
        ep: Endpoint,
        keep_memory: bool,
    ) -> Result<Endpoint, Errno> {
        // A live boot process of this program already at `ep`: adopt it.
        if rt::ipc::whois(program) == Ok(ep.0) {
            self.manage(ep)?;
            return Ok(ep);
        }
        // Stopped until the update, so it cannot block in IPC before it
        // takes over the old endpoint.
        let new = rt::sys::spawn_stopped(program, label).map_err(errno)?;
        let taken = if keep_memory {
            rt::sys::update_keep_window(ep.0, new)
        } else {
            rt::sys::update(ep.0, new)
        };
        if let Err(e) = taken {
            let _ = rt::sys::kill(new);
            return Err(errno(e));
        }
        self.manage(ep)?;
        Ok(ep)
    }
}

impl Default for NativeSys {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a managed process died, from whether this runtime killed it, the
/// signals the kernel raised for it (kernel numbering, bit n = signal n;
/// bit `abi::SIG_EXIT` = it exited) and the exit code the kernel kept
/// (`ProcInfo`). A death with no signal and no code: `Fault(0)`, cause
/// unknown.
pub fn cause_of(killed_by_us: bool, sigs: u64, exit_code: Option<i32>) -> Cause {
    let has = |s: u64| sigs & (1 << s) != 0;
    if killed_by_us {
        return Cause::Killed;
    }
    if has(u64::from(sig::SIGABRT)) {
        // A native panic raises SIGABRT before it kills itself.
        return Cause::Panic;
    }
    if has(abi::SIGKILL) {
        return Cause::Killed;
    }
    if let Some(code) = exit_code {
        // Before other signals: a SIGTERM (`service down`) may be pending.
        return Cause::Exit(code);
    }
    match (1..64).find(|&s| has(s)) {
        // The kernel's SIGBUS is Linux's 7; the framework uses NetBSD's.
        Some(abi::SIGBUS) => Cause::Fault(sig::SIGBUS),
        Some(s) => Cause::Fault(s as u32),
        None => Cause::Fault(0),
    }
}

/// The kernel calls a service may make (bit n = `abi::Syscall` n). With
/// `process_mgmt`: all. Otherwise grants, safe copies, alarms and the clock,
/// `MapPages` for heap growth, plus `SigSend` and `Kill`, which a native
/// panic uses on itself (the kernel cannot limit these to the caller). The IPC targets are not mapped:
/// the kernel's send mask has no exception for replies to callers, which
/// `IpcTargets::Labels` relies on.
pub fn kernel_calls(p: &Privileges) -> u64 {
    use abi::Syscall as S;
    if p.process_mgmt {
        return u64::MAX;
    }
    [
        S::GrantCreate,
        S::GrantRevoke,
        S::SafeCopyFrom,
        S::SafeCopyTo,
        S::SetAlarm,
        S::Uptime,
        S::SigSend,
        S::Kill,
        // Heap growth into the process's own heap window (`rt::heap`).
        S::MapPages,
        // The boot module list (read-only): services read their own boot
        // line and which drivers the image has (MFS picks its root device
        // by it). Without it MFS raced RS's SetPriv and, losing, looked for
        // the root on a virtio disk the RAM-disk machine does not have.
        S::BootModules,
    ]
    .iter()
    .chain(if p.hardware { HARDWARE_CALLS } else { &[] })
    .fold(0, |m, &c| m | 1u64 << (c as u64))
}

/// The kernel calls a driver (`Privileges::hardware`) gets on top: port
/// I/O, IRQ hooks, DMA memory, physical addresses of grants and data
/// modules. `SetIoPriv`
/// is included because a driver takes its own ports after finding its
/// devices on the PCI bus (the kernel cannot limit it to the caller yet).
const HARDWARE_CALLS: &[abi::Syscall] = &[
    abi::Syscall::SetIoPriv,
    abi::Syscall::DevIo,
    abi::Syscall::DevIoRep,
    abi::Syscall::IrqHook,
    abi::Syscall::IrqUnhook,
    abi::Syscall::IrqCtl,
    abi::Syscall::DmaAlloc,
    abi::Syscall::UMap,
    abi::Syscall::UMapGrant,
    // The memory driver maps its RAM-disk data module.
    abi::Syscall::ModuleMap,
];

fn access_bits(a: GrantAccess) -> u64 {
    (if a.read { abi::GRANT_READ } else { 0 }) | (if a.write { abi::GRANT_WRITE } else { 0 })
}

impl Sys for NativeSys {
    fn self_endpoint(&self) -> Endpoint {
        self.me
    }

    fn now(&self) -> Ticks {
        rt::sys::uptime()
    }

    fn send(&mut self, dest: Endpoint, msg: Message) -> Result<(), Errno> {
        rt::ipc::senda(dest.0, &raw(&msg)).map_err(errno)
    }

    fn request(&mut self, dest: Endpoint, msg: Message) -> Result<(), Errno> {
        // The kernel records the owed answer once `dest` receives it and
        // bounces it if `dest` dies before answering.
        rt::ipc::senda_request(dest.0, &raw(&msg)).map_err(errno)
    }

    fn sendrec(&mut self, dest: Endpoint, msg: Message) -> Result<Message, Errno> {
        let mut m = raw(&msg);
        rt::ipc::sendrec(dest.0, &mut m).map_err(errno)?;
        let mut reply = cooked(&m);
        // The kernel hands a notification from `dest` to a caller waiting
        // for `dest`'s reply (MINIX does not). A reply is never a
        // notification: keep it for the loop and wait for the real answer.
        while reply.mtype() == abi::NOTIFY_MTYPE && reply.source() == dest {
            self.pending.push_back(reply);
            reply = cooked(&rt::ipc::receive(dest.0).map_err(errno)?);
        }
        Ok(reply)
    }

    fn receive(&mut self, from: Endpoint) -> Result<Message, Errno> {
        if from == Endpoint::ANY {
            return self.next_message();
        }
        Ok(cooked(&rt::ipc::receive(from.0).map_err(errno)?))
    }

    fn notify(&mut self, dest: Endpoint) -> Result<(), Errno> {
        rt::ipc::notify(dest.0).map_err(errno)
    }

    fn set_alarm(&mut self, ticks: Ticks) {
        // Only fails without the SetAlarm privilege; the alarm then never
        // comes, which the caller's own timeouts must cover anyway.
        let _ = rt::sys::set_alarm(ticks);
    }

    fn grant_create(
        &mut self,
        grantee: Endpoint,
        access: GrantAccess,
        buf: Vec<u8>,
    ) -> Result<GrantId, Errno> {
        // The Vec's heap block does not move when the Vec is moved into the
        // map, so the granted address stays valid until revoke.
        let id = rt::grant::direct(grantee.0, buf.as_ptr(), buf.len(), access_bits(access))
            .map_err(errno)?;
        self.grants.insert(id, buf);
        Ok(GrantId(id))
    }

    fn grant_revoke(&mut self, gid: GrantId) -> Result<Vec<u8>, Errno> {
        if !self.grants.contains_key(&gid.0) {
            return Err(Errno::EINVAL);
        }
        rt::grant::revoke(gid.0).map_err(errno)?;
        self.grants.remove(&gid.0).ok_or(Errno::EINVAL)
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
        let id = rt::grant::indirect(
            grantee.0,
            from.0,
            gid.0,
            offset as u64,
            len as u64,
            access_bits(access),
        )
        .map_err(errno)?;
        // Nothing of ours to keep: revoke hands back an empty buffer.
        self.grants.insert(id, Vec::new());
        Ok(GrantId(id))
    }

    fn safecopy_from(
        &mut self,
        granter: Endpoint,
        gid: GrantId,
        offset: usize,
        dst: &mut [u8],
    ) -> Result<(), Errno> {
        let n = rt::grant::copy_from(granter.0, gid.0, offset as u64, dst).map_err(errno)?;
        if n == dst.len() {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }

    fn safecopy_to(
        &mut self,
        granter: Endpoint,
        gid: GrantId,
        offset: usize,
        src: &[u8],
    ) -> Result<(), Errno> {
        let n = rt::grant::copy_to(granter.0, gid.0, offset as u64, src).map_err(errno)?;
        if n == src.len() {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }

    fn exit(&mut self, code: i32) {
        self.exit = Some(code);
    }

    fn panic(&mut self, why: &str) {
        rt::println!("panic: {why}");
        // SIGABRT tells the signal manager it was a panic (fails harmlessly
        // without a manager); killing itself is a death the kernel reports
        // (an exit is not). Only returns if those calls are not allowed.
        let _ = rt::sys::sig_send(self.me.0, u64::from(sig::SIGABRT));
        let _ = rt::sys::kill(self.me.0);
        rt::sys::exit(abi::EXIT_PANIC)
    }

    fn preserve(&mut self, blob: Vec<u8>) {
        let blob = match self.find_vault() {
            Some(v) => {
                let (blob, r) = vault::put(self, v, blob);
                if let Err(e) = r {
                    rt::println!("vault refused {} bytes: {e}", blob.len());
                }
                blob
            }
            None => blob,
        };
        self.preserved = Some(blob);
    }

    fn preserved(&mut self) -> Option<Vec<u8>> {
        if let Some(b) = &self.preserved {
            return Some(b.clone());
        }
        // A new instance: what its predecessor at this endpoint kept.
        let v = self.find_vault()?;
        vault::get(self, v).ok()
    }

    fn spawn(&mut self, spec: &SpawnSpec<'_>) -> Result<Endpoint, Errno> {
        let ep = match spec.at {
            SpawnAt::Fresh => self.spawn_fresh(spec.program, spec.label)?,
            SpawnAt::NextGeneration(old) => {
                // The old instance, kept for us, will not be taken over: free
                // it (fails harmlessly if it is not kept).
                let _ = rt::sys::release(old.0);
                self.spawn_fresh(spec.program, spec.label)?
            }
            SpawnAt::Exact(ep) => {
                self.spawn_exact(spec.program, spec.label, ep, spec.keep_memory)?
            }
        };
        // Before its init: RS sends that only after this returns.
        let calls = kernel_calls(&spec.privileges);

        if let Err(e) = rt::sys::set_priv(ep.0, u64::MAX, calls) {
            rt::println!("cannot restrict {}: {e:?}", spec.label);
        }
        Ok(ep)
    }

    fn kill(&mut self, ep: Endpoint) -> Result<(), Errno> {
        rt::sys::kill(ep.0).map_err(errno)?;
        // Only a kill that happened is the cause of the death the next
        // probe finds (one that failed found the process already gone).
        if self.managed.contains(&ep) {
            self.killed.insert(ep);
        }
        Ok(())
    }

    fn sig_send(&mut self, ep: Endpoint, sig: u32) -> Result<(), Errno> {
        rt::sys::sig_send(ep.0, u64::from(sig)).map_err(errno)
    }

    fn log(&mut self, text: &str) {
        rt::println!("{text}");
    }
}

/// Runs `p` natively: `start`, then every message to `receive`, until the
/// process asks to exit. Returns the exit code (for `rt::entry!`'s main).
pub fn run<P: Process>(mut p: P) -> i32 {
    let mut sys = NativeSys::new();
    p.start(&mut sys);
    loop {
        if let Some(code) = sys.exit_requested() {
            return code;
        }
        match sys.next_message() {
            Ok(m) => p.receive(&mut sys, m),
            Err(e) => {
                rt::println!("receive failed: {e}");
                return 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_their_bytes_both_ways() {
        let mut m = Message::new(0x123);
        m.set_source(Endpoint::new(7, 2));
        m.payload_mut()[..8].copy_from_slice(&42u64.to_le_bytes());
        let r = raw(&m);
        assert_eq!(rt::ipc::mtype(&r), 0x123);
        assert_eq!(rt::ipc::source(&r), Endpoint::new(7, 2).0);
        assert_eq!(rt::ipc::get(&r, 0), 42);
        assert!(cooked(&r) == m);
    }

    #[test]
    fn kernel_errors_map_to_the_same_minix_numbers() {
        for e in [
            abi::Errno::Perm,
            abi::Errno::NoMem,
            abi::Errno::Again,
            abi::Errno::Fault,
            abi::Errno::Inval,
            abi::Errno::NoSys,
            abi::Errno::NotReady,
            abi::Errno::DeadSrcDst,
            abi::Errno::Locked,
            abi::Errno::BadEndpoint,
        ] {
            assert_eq!(i64::from(errno(e).code()), e as i64, "{e:?}");
        }
    }

    #[test]
    fn death_causes_follow_the_kernel_signals() {
        let bit = |s: u64| 1u64 << s;
        assert_eq!(cause_of(true, bit(abi::SIGSEGV), None), Cause::Killed);
        assert_eq!(
            cause_of(false, bit(6) | bit(abi::SIGKILL), None),
            Cause::Panic,
            "SIGABRT then self-kill"
        );
        assert_eq!(cause_of(false, bit(abi::SIGKILL), None), Cause::Killed);
        assert_eq!(
            cause_of(false, bit(abi::SIGSEGV), None),
            Cause::Fault(sig::SIGSEGV)
        );
        assert_eq!(
            cause_of(false, bit(abi::SIGFPE), None),
            Cause::Fault(sig::SIGFPE)
        );
        assert_eq!(
            cause_of(false, bit(abi::SIGILL), None),
            Cause::Fault(sig::SIGILL)
        );
        assert_eq!(
            cause_of(false, bit(abi::SIGBUS), None),
            Cause::Fault(sig::SIGBUS)
        );
        assert_eq!(cause_of(false, 0, None), Cause::Fault(0));
        // Exits, with the code the kernel kept; a pending SIGTERM (service
        // down) does not hide them.
        let exited = bit(abi::SIG_EXIT);
        assert_eq!(cause_of(false, exited, Some(0)), Cause::Exit(0));
        assert_eq!(
            cause_of(false, exited | bit(u64::from(sig::SIGTERM)), Some(-3)),
            Cause::Exit(-3)
        );
        assert_eq!(cause_of(true, exited, Some(0)), Cause::Killed);
    }

    #[test]
    fn services_without_process_management_lose_the_process_calls() {
        let svc = kernel_calls(&Privileges::service());
        let has = |c: abi::Syscall| svc & (1 << c as u64) != 0;
        assert!(has(abi::Syscall::SafeCopyFrom) && has(abi::Syscall::SetAlarm));
        assert!(!has(abi::Syscall::Spawn) && !has(abi::Syscall::Update));
        assert!(!has(abi::Syscall::SetSigMgr) && !has(abi::Syscall::SetPriv));
        // Boot information every service may read (MFS's root choice).
        assert!(has(abi::Syscall::BootModules));
        let mut mgr = Privileges::service();
        mgr.process_mgmt = true;
        assert_eq!(kernel_calls(&mgr), u64::MAX);
    }

    #[test]
    fn image_only_argument_is_recognised() {
        assert!(is_image_only("image"));
        assert!(is_image_only(" image x"));
        assert!(!is_image_only("echo"));
        assert!(!is_image_only(""));
    }
}
