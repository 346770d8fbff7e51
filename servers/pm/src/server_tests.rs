//! The PM service against a fake kernel (processes with registers, a
//! stopped flag, the endpoint they are blocked on, and sparse memory) and
//! a fake transport that records what PM sends, so the tests check the
//! effects of each flow: answers, requests to VM and VFS, registers and
//! bytes written into processes.

use super::*;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use core::cell::RefCell;
use sys::proto::ds::{DsAnswer, DsReply, DsRequest};
use sys::proto::fs::FsStat;
use sys::proto::rs::RsToService;
use sys::proto::vm::VmReply;
use sys::{GrantAccess, GrantId, Process, Sef, SpawnSpec, StateStore, Sys, Ticks};

const PM: u32 = 5;
const VM: u32 = 30;
const VFS: u32 = 31;
const INIT_EP: u32 = 100;
/// The terminal driver (DS label `tty`).
const TTY: u32 = 32;
const TRAMP: u64 = 0x4000_0500;
const HANDLER: u64 = 0x4000_0600;

#[derive(Default, Clone)]
struct FakeProc {
    regs: Regs,
    stopped: bool,
    /// Held by the kernel's `SigSend` until PM resumes it.
    sig_held: bool,
    blocked_on: u32,
    mem: BTreeMap<u64, u8>,
    killed: bool,
    released: bool,
    exited: Option<i32>,
    fault: Option<u32>,
    entry: Option<(u64, u64, u64, u64)>,
    /// Set with `SetName`.
    name: Option<String>,
}

type Procs = Rc<RefCell<BTreeMap<u32, FakeProc>>>;

#[derive(Default)]
struct FakeKernel {
    procs: Procs,
    names: BTreeMap<String, u32>,
    pending: VecDeque<(u32, u64)>,
    sigmgr: BTreeMap<u32, u32>,
    shutdown: Option<u64>,
}

impl FakeKernel {
    fn with<R>(&self, ep: u32, f: impl FnOnce(&mut FakeProc) -> R) -> Result<R, Errno> {
        let mut procs = self.procs.borrow_mut();
        let p = procs
            .get_mut(&ep)
            .filter(|p| !p.released)
            .ok_or(Errno::EDEADSRCDST(None))?;
        Ok(f(p))
    }
}

impl Kernel for FakeKernel {
    fn whois(&mut self, name: &str) -> Option<u32> {
        self.names.get(name).copied()
    }
    fn set_sigmgr(&mut self, ep: u32, mgr: u32) -> Result<(), Errno> {
        self.with(ep, |_| ())?;
        self.sigmgr.insert(ep, mgr);
        Ok(())
    }
    fn sig_pending(&mut self) -> Option<(u32, u64)> {
        self.pending.pop_front()
    }
    fn proc_info(&mut self, ep: u32) -> Result<[u64; abi::PROCINFO_WORDS], Errno> {
        self.with(ep, |p| match (p.exited, p.fault) {
            (Some(c), _) => [abi::PROC_EXITED, 0, 0, 0, 0, c as i64 as u64],
            (_, Some(s)) => [abi::PROC_STOPPED, u64::from(s), 0x4000_1000, 0, 0, 4],
            _ => [abi::PROC_RUNNABLE, 0, 0, 0, 0, 0],
        })
    }
    fn kill(&mut self, ep: u32) -> Result<(), Errno> {
        self.with(ep, |p| p.killed = true)
    }
    fn release(&mut self, ep: u32) -> Result<(), Errno> {
        self.with(ep, |p| p.released = true)
    }
    fn stop(&mut self, ep: u32) -> Result<u32, Errno> {
        self.with(ep, |p| {
            p.stopped = true;
            p.blocked_on
        })
    }
    fn resume(&mut self, ep: u32) -> Result<(), Errno> {
        // As the kernel: a `SigSend` hold ends once the signals are taken.
        let untaken = self.pending.iter().any(|&(e, _)| e == ep);
        self.with(ep, |p| {
            p.stopped = false;
            p.sig_held &= untaken;
        })
    }
    fn get_regs(&mut self, ep: u32) -> Result<Regs, Errno> {
        self.with(ep, |p| p.regs)
    }
    fn set_regs(&mut self, ep: u32, regs: &Regs) -> Result<(), Errno> {
        self.with(ep, |p| {
            if !p.stopped || regs[reg::RIP] < abi::USER_BASE || regs[reg::RIP] >= abi::USER_END {
                return Err(Errno::EINVAL);
            }
            p.regs = *regs;
            p.blocked_on = abi::ENDPOINT_NONE;
            Ok(())
        })?
    }
    fn copy_to(&mut self, ep: u32, addr: u64, bytes: &[u8]) -> Result<(), Errno> {
        self.with(ep, |p| {
            if addr < abi::USER_BASE || addr + bytes.len() as u64 > abi::USER_END {
                return Err(Errno::EFAULT);
            }
            for (i, b) in bytes.iter().enumerate() {
                p.mem.insert(addr + i as u64, *b);
            }
            Ok(())
        })?
    }
    fn copy_from(&mut self, ep: u32, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        self.with(ep, |p| {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = *p.mem.get(&(addr + i as u64)).ok_or(Errno::EFAULT)?;
            }
            Ok(())
        })?
    }
    fn set_entry(&mut self, ep: u32, rip: u64, rsp: u64, rdi: u64, rsi: u64) -> Result<(), Errno> {
        self.with(ep, |p| {
            p.entry = Some((rip, rsp, rdi, rsi));
            p.blocked_on = abi::ENDPOINT_NONE;
        })
    }
    fn set_name(&mut self, ep: u32, name: &str) -> Result<(), Errno> {
        // The kernel's rules: 1..=15 printable bytes, no spaces; the user
        // servers' names refused.
        if name.is_empty()
            || name.len() > abi::MAX_PROC_NAME
            || !name.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Errno::EINVAL);
        }
        if ["pm", "vfs", "vm", "rs"].contains(&name) {
            return Err(Errno::EPERM);
        }
        self.with(ep, |p| p.name = Some(name.into()))
    }
    fn times(&mut self, ep: u32) -> Result<[u64; abi::TIMES_WORDS], Errno> {
        self.with(ep, |_| [u64::from(ep), 2, 0, 1000])
    }
    fn shutdown(&mut self, verdict: u64) {
        self.shutdown = Some(verdict);
    }
}

/// The transport: records messages, answers DS look-ups, and hands an
/// answer at once to a process blocked on PM (as the kernel does, even
/// to a stopped one).
struct FakeSys {
    now: Ticks,
    sent: Vec<(u32, Message)>,
    requests: Vec<(u32, Message)>,
    alarm: Option<Ticks>,
    copied: Vec<(u32, GrantId, Vec<u8>)>,
    procs: Procs,
    /// Requests one server may owe answers to (the kernel's bound).
    owed_limit: Option<usize>,
}

impl Sys for FakeSys {
    fn self_endpoint(&self) -> Endpoint {
        Endpoint(PM)
    }
    fn now(&self) -> Ticks {
        self.now
    }
    fn send(&mut self, dest: Endpoint, msg: Message) -> Result<(), Errno> {
        if let Some(p) = self.procs.borrow_mut().get_mut(&dest.0)
            && p.blocked_on == PM
        {
            p.blocked_on = abi::ENDPOINT_NONE;
        }
        self.sent.push((dest.0, msg));
        Ok(())
    }
    fn request(&mut self, dest: Endpoint, msg: Message) -> Result<(), Errno> {
        if dest.0 != VM && dest.0 != VFS {
            return Err(Errno::EDEADSRCDST(None));
        }
        let owed = self.requests.iter().filter(|(d, _)| *d == dest.0).count();
        if self.owed_limit.is_some_and(|l| owed >= l) {
            return Err(Errno::ENOTREADY);
        }
        self.requests.push((dest.0, msg));
        Ok(())
    }
    fn sendrec(&mut self, dest: Endpoint, msg: Message) -> Result<Message, Errno> {
        if dest != Endpoint::DS {
            return Err(Errno::ENOSYS);
        }
        let DsRequest::Retrieve { key, .. } = DsRequest::try_from(&msg)? else {
            return Err(Errno::ENOSYS);
        };
        let value = match key.as_str() {
            "vm" => VM,
            "vfs" => VFS,
            "tty" => TTY,
            _ => {
                return Ok(DsReply {
                    id: 0,
                    result: Err(Errno::ESRCH),
                }
                .to_message());
            }
        };
        Ok(DsReply {
            id: 0,
            result: Ok(DsAnswer {
                key: String::new(),
                ty: None,
                value,
                len: 0,
                deleted: false,
            }),
        }
        .to_message())
    }
    fn receive(&mut self, _: Endpoint) -> Result<Message, Errno> {
        Err(Errno::ENOSYS)
    }
    fn notify(&mut self, _: Endpoint) -> Result<(), Errno> {
        Ok(())
    }
    fn set_alarm(&mut self, ticks: Ticks) {
        self.alarm = Some(self.now + ticks);
    }
    fn grant_create(&mut self, _: Endpoint, _: GrantAccess, _: Vec<u8>) -> Result<GrantId, Errno> {
        Err(Errno::ENOSYS)
    }
    fn grant_revoke(&mut self, _: GrantId) -> Result<Vec<u8>, Errno> {
        Err(Errno::ENOSYS)
    }
    fn grant_indirect(
        &mut self,
        _: Endpoint,
        _: GrantAccess,
        _: Endpoint,
        _: GrantId,
        _: usize,
        _: usize,
    ) -> Result<GrantId, Errno> {
        Err(Errno::ENOSYS)
    }
    fn safecopy_from(
        &mut self,
        _: Endpoint,
        _: GrantId,
        _: usize,
        _: &mut [u8],
    ) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    fn safecopy_to(
        &mut self,
        granter: Endpoint,
        gid: GrantId,
        _: usize,
        src: &[u8],
    ) -> Result<(), Errno> {
        self.copied.push((granter.0, gid, src.to_vec()));
        Ok(())
    }
    fn exit(&mut self, _: i32) {}
    fn panic(&mut self, why: &str) {
        panic!("PM panicked: {why}");
    }
    fn preserve(&mut self, _: Vec<u8>) {}
    fn preserved(&mut self) -> Option<Vec<u8>> {
        None
    }
    fn spawn(&mut self, _: &SpawnSpec<'_>) -> Result<Endpoint, Errno> {
        Err(Errno::ENOSYS)
    }
    fn kill(&mut self, _: Endpoint) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    fn sig_send(&mut self, _: Endpoint, _: u32) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    fn log(&mut self, _: &str) {}
}

/// PM under SEF with the fakes.
struct World {
    rc: Rc<RefCell<Pm<FakeKernel>>>,
    pm: Sef<Shared<FakeKernel>>,
    sys: FakeSys,
}

impl World {
    fn new(limit: usize) -> World {
        let mut k = FakeKernel::default();
        k.names.insert("bootinit".into(), INIT_EP);
        let procs = k.procs.clone();
        procs.borrow_mut().insert(
            INIT_EP,
            FakeProc {
                blocked_on: abi::ENDPOINT_NONE,
                regs: running_regs(),
                ..FakeProc::default()
            },
        );
        let cfg = Config {
            limit,
            root_reserve: 2,
            ..Config::default()
        };
        let rc = Rc::new(RefCell::new(Pm::new(k, cfg)));
        let mut w = World {
            pm: Sef::new(Shared(rc.clone()), StateStore::None),
            rc,
            sys: FakeSys {
                now: 1000,
                sent: Vec::new(),
                requests: Vec::new(),
                alarm: None,
                copied: Vec::new(),
                procs,
                owed_limit: None,
            },
        };
        w.init(InitKind::Fresh);
        w
    }

    fn init(&mut self, kind: InitKind) {
        let mut init = RsToService::Init {
            kind,
            restarts: 0,
            label: "pm".into(),
        }
        .to_message()
        .unwrap();
        init.set_source(Endpoint::RS);
        self.pm.receive(&mut self.sys, init);
    }

    /// PM dies between messages and RS restarts it: the new instance
    /// takes the preserved PM back.
    fn crash_and_restart(&mut self) {
        self.pm = Sef::new(Shared(self.rc.clone()), StateStore::None);
        self.sys.requests.clear();
        self.init(InitKind::Restart);
    }

    fn stats(&self) -> Stats {
        self.rc.borrow().stats()
    }

    fn k(&mut self) -> core::cell::RefMut<'_, FakeKernel> {
        core::cell::RefMut::map(self.rc.borrow_mut(), |p| p.kernel())
    }

    fn procs(&self) -> core::cell::RefMut<'_, BTreeMap<u32, FakeProc>> {
        self.sys.procs.borrow_mut()
    }

    fn proc(&self, ep: u32) -> FakeProc {
        self.sys.procs.borrow()[&ep].clone()
    }

    fn t(&self) -> core::cell::Ref<'_, Table> {
        core::cell::Ref::map(self.rc.borrow(), |p| p.table())
    }

    fn deliver(&mut self, from: u32, mut m: Message) {
        m.set_source(Endpoint(from));
        // A process that sent PM a call is blocked on PM until answered.
        if let Some(p) = self.procs().get_mut(&from)
            && PmCall::is_pm_call(&m)
        {
            p.blocked_on = PM;
        }
        self.pm.receive(&mut self.sys, m);
    }

    /// `waitpid(pid, options)` from `from` with request id `id`.
    fn wait(&mut self, from: u32, id: u64, pid: i32, options: u32) -> Option<PmReply> {
        self.call(from, PmCall::Wait { id, pid, options })
    }

    fn call(&mut self, from: u32, c: PmCall) -> Option<PmReply> {
        self.sys.sent.clear();
        self.deliver(from, c.to_message());
        self.reply_to(from)
    }

    fn reply_to(&self, ep: u32) -> Option<PmReply> {
        self.sys
            .sent
            .iter()
            .rev()
            .find(|(d, m)| *d == ep && PmReply::is_pm_reply(m))
            .map(|(_, m)| PmReply::try_from(m).unwrap())
    }

    fn take_request(&mut self, to: u32) -> Message {
        let i = self
            .sys
            .requests
            .iter()
            .position(|(d, _)| *d == to)
            .unwrap_or_else(|| panic!("no request to {to} in {:?}", self.sys.requests));
        self.sys.requests.remove(i).1
    }

    fn vm_answer(&mut self, req: &Message, result: Result<VmAnswer, Errno>) {
        let m = VmReply {
            id: req.request_id(),
            result,
        }
        .to_message();
        self.deliver(VM, m);
    }

    fn vfs_answer(&mut self, req: &Message, result: Result<VfsAnswer, Errno>) {
        let m = VfsReply {
            id: req.request_id(),
            result,
        }
        .to_message();
        self.deliver(VFS, m);
    }

    /// Answer every outstanding VM/VFS request with success (value 0).
    fn answer_all_ok(&mut self) {
        while let Some((to, m)) = self.sys.requests.first().cloned() {
            self.sys.requests.remove(0);
            if to == VM {
                self.vm_answer(&m, Ok(VmAnswer::Value(0)));
            } else {
                self.vfs_answer(&m, Ok(VfsAnswer::Value(0)));
            }
        }
    }

    fn notify_from(&mut self, src: Endpoint) {
        let mut m = sys::proto::kernel::notify_message(self.sys.now);
        m.set_source(src);
        self.pm.receive(&mut self.sys, m);
    }

    /// Fork `parent` (endpoint) into a child at endpoint `child_ep`,
    /// answering VM and VFS; returns the child's pid.
    fn fork(&mut self, parent: u32, child_ep: u32) -> Pid {
        self.procs().get_mut(&parent).unwrap().regs[reg::RSI] = 0x7fff_0000;
        self.call(parent, PmCall::Fork { id: 77 });
        let vmreq = self.take_request(VM);
        assert!(matches!(
            VmPmCall::try_from(&vmreq),
            Ok(VmPmCall::Fork { parent: p, .. }) if p.0 == parent
        ));
        // ProcFork: a stopped copy with the parent's registers.
        let mut child = self.proc(parent);
        child.stopped = true;
        child.blocked_on = abi::ENDPOINT_NONE;
        child.mem.clear();
        self.procs().insert(child_ep, child);
        self.vm_answer(&vmreq, Ok(VmAnswer::Value(u64::from(child_ep))));
        let vfsreq = self.take_request(VFS);
        assert!(matches!(
            VfsPmCall::try_from(&vfsreq),
            Ok(VfsPmCall::Fork { parent: p, child: c, .. }) if p.0 == parent && c.0 == child_ep
        ));
        self.sys.sent.clear();
        self.vfs_answer(&vfsreq, Ok(VfsAnswer::Value(0)));
        let r = self.reply_to(parent).expect("the parent's answer");
        assert_eq!(r.id, 77);
        r.result.unwrap() as Pid
    }

    /// The kernel's `SigSend` (VFS raising SIGPIPE): pending, the user
    /// process held, PM notified.
    fn sig_send(&mut self, ep: u32, s: u32) {
        self.procs().get_mut(&ep).unwrap().sig_held = true;
        self.k().pending.push_back((ep, 1 << s));
        self.notify_from(Endpoint::SYSTEM);
    }

    fn exit(&mut self, ep: u32, code: i32) {
        self.procs().get_mut(&ep).unwrap().exited = Some(code);
        self.k().pending.push_back((ep, 1 << abi::SIG_EXIT));
        self.notify_from(Endpoint::SYSTEM);
    }
}

fn init_world() -> World {
    let mut w = World::new(10);
    // Adoption: VM NewProc and VFS SetCred for bootinit.
    let nr = w.take_request(VM);
    assert!(matches!(VmPmCall::try_from(&nr), Ok(VmPmCall::NewProc { ep, .. }) if ep.0 == INIT_EP));
    let cr = w.take_request(VFS);
    assert!(matches!(
        VfsPmCall::try_from(&cr),
        Ok(VfsPmCall::SetCred { ep, uid: 0, euid: 0, .. }) if ep.0 == INIT_EP
    ));
    w.vm_answer(&nr, Ok(VmAnswer::Value(0)));
    w.vfs_answer(&cr, Ok(VfsAnswer::Value(0)));
    w
}

#[test]
fn bootinit_is_adopted_as_pid_1() {
    let mut w = init_world();
    assert_eq!(w.k().sigmgr.get(&INIT_EP), Some(&PM));
    let p = w.t().get(INIT_PID).unwrap().clone();
    assert_eq!((p.ep, p.ppid, p.uid), (INIT_EP, 0, 0));
    let r = w.call(INIT_EP, PmCall::Getpid { id: 1 }).unwrap();
    assert_eq!((r.result, r.extra[0]), (Ok(1), 0));
}

#[test]
fn fork_writes_the_childs_answer_and_resumes_it() {
    let mut w = init_world();
    let child = w.fork(INIT_EP, 200);
    assert_eq!(child, 2);
    let c = w.proc(200);
    assert!(!c.stopped, "resumed");
    assert_eq!(c.regs[reg::RAX], 0, "sendrec succeeded");
    let bytes: Vec<u8> = (0..64).map(|i| c.mem[&(0x7fff_0000 + i)]).collect();
    let m = Message::read_from_bytes(&bytes).unwrap();
    assert_eq!(m.source(), Endpoint(PM));
    let r = PmReply::try_from(&m).unwrap();
    assert_eq!((r.id, r.result), (77, Ok(0)));
    let r = w.call(200, PmCall::Getpid { id: 2 }).unwrap();
    assert_eq!((r.result, r.extra[0]), (Ok(2), 1));
}

#[test]
fn a_failed_fork_in_vm_answers_the_parent_and_leaves_no_entry() {
    let mut w = init_world();
    w.call(INIT_EP, PmCall::Fork { id: 3 });
    let req = w.take_request(VM);
    w.sys.sent.clear();
    w.vm_answer(&req, Err(Errno::ENOMEM));
    assert_eq!(w.reply_to(INIT_EP).unwrap().result, Err(Errno::ENOMEM));
    assert_eq!(w.t().len(), 1);
    // The parent can fork again (no operation left pending).
    assert_eq!(w.fork(INIT_EP, 201), 2);
}

#[test]
fn exit_tears_down_through_vfs_and_vm_then_wait_reports_the_code() {
    let mut w = init_world();
    let child = w.fork(INIT_EP, 200);
    // The parent waits first: held, no answer.
    assert_eq!(w.wait(INIT_EP, 9, -1, 0), None);
    w.sys.sent.clear();
    w.exit(200, 7);
    let vfs = w.take_request(VFS);
    let vm = w.take_request(VM);
    assert!(matches!(VfsPmCall::try_from(&vfs), Ok(VfsPmCall::Exit { ep, .. }) if ep.0 == 200));
    assert!(matches!(VmPmCall::try_from(&vm), Ok(VmPmCall::Exit { ep, .. }) if ep.0 == 200));
    assert!(!w.proc(200).released, "not before VFS and VM are done");
    w.vfs_answer(&vfs, Ok(VfsAnswer::Value(0)));
    assert!(w.reply_to(INIT_EP).is_none());
    w.vm_answer(&vm, Ok(VmAnswer::Value(0)));
    assert!(w.proc(200).released);
    let r = w.reply_to(INIT_EP).unwrap();
    assert_eq!((r.id, r.result), (9, Ok(i64::from(child))));
    assert!(proto::wifexited(r.extra[0] as i32));
    assert_eq!(proto::wexitstatus(r.extra[0] as i32), 7);
    assert!(w.t().get(child).is_none(), "reaped");
    // Times of the child (user ticks = its endpoint in the fake) count.
    let t = w.call(INIT_EP, PmCall::Times { id: 4 }).unwrap();
    assert_eq!(t.extra[1], 200);
    assert_eq!(
        w.wait(INIT_EP, 10, -1, WNOHANG).unwrap().result,
        Err(Errno::ECHILD)
    );
}

#[test]
fn a_fault_kills_only_that_process_and_wait_says_the_signal() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    let b = w.fork(INIT_EP, 201);
    w.procs().get_mut(&200).unwrap().fault = Some(sig::SIGSEGV);
    w.k().pending.push_back((200, 1 << abi::SIGSEGV));
    w.notify_from(Endpoint::SYSTEM);
    w.answer_all_ok();
    let r = w.wait(INIT_EP, 1, -1, WNOHANG).unwrap();
    assert_eq!(r.result, Ok(i64::from(a)));
    assert!(proto::wifsignaled(r.extra[0] as i32));
    assert_eq!(proto::wtermsig(r.extra[0] as i32), sig::SIGSEGV);
    assert!(w.t().get(b).unwrap().alive());
    assert!(!w.proc(201).killed);
}

#[test]
fn orphans_go_to_init_which_gets_their_status() {
    let mut w = init_world();
    let p = w.fork(INIT_EP, 200);
    let c = w.fork(200, 201);
    w.exit(200, 0);
    w.answer_all_ok();
    assert_eq!(w.t().get(c).unwrap().ppid, INIT_PID);
    w.exit(201, 3);
    w.answer_all_ok();
    let mut got = Vec::new();
    for id in 0..3 {
        let r = w.wait(INIT_EP, id, -1, WNOHANG).unwrap();
        if let Ok(pid) = r.result
            && pid > 0
        {
            got.push((pid as Pid, proto::wexitstatus(r.extra[0] as i32)));
        }
    }
    got.sort();
    assert_eq!(got, vec![(p, 0), (c, 3)]);
}

fn with_handler(w: &mut World, ep: u32, s: u32) {
    let r = w
        .call(
            ep,
            PmCall::Sigaction {
                id: 50,
                sig: s,
                handler: HANDLER,
                trampoline: TRAMP,
                mask: sig::bit(sig::SIGUSR2),
                flags: 0,
            },
        )
        .unwrap();
    assert_eq!(r.result, Ok(sig::SIG_DFL as i64));
}

fn running_regs() -> Regs {
    let mut r = [0u64; reg::COUNT];
    r[reg::RIP] = 0x4000_2000;
    r[reg::RSP] = 0x7fff_e008;
    r[reg::RAX] = 0x1234;
    r
}

#[test]
fn a_handler_runs_on_a_frame_and_sigreturn_restores_everything() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    with_handler(&mut w, 200, sig::SIGUSR1);
    let regs = running_regs();
    w.procs().get_mut(&200).unwrap().regs = regs;
    let r = w.call(
        INIT_EP,
        PmCall::Kill {
            id: 1,
            pid: a,
            sig: sig::SIGUSR1,
        },
    );
    assert_eq!(r.unwrap().result, Ok(0));
    let p = w.proc(200);
    assert!(!p.stopped);
    let frame_at = p.regs[reg::RDX];
    assert_eq!(frame_at % 16, 0);
    assert!(frame_at + SIGFRAME_LEN as u64 + RED_ZONE <= regs[reg::RSP]);
    assert_eq!(p.regs[reg::RIP], TRAMP);
    assert_eq!(p.regs[reg::RDI], u64::from(sig::SIGUSR1));
    assert_eq!(p.regs[reg::RSI], HANDLER);
    assert_eq!(p.regs[reg::RSP], frame_at - 8);
    let bytes: Vec<u8> = (0..SIGFRAME_LEN as u64)
        .map(|i| p.mem[&(frame_at + i)])
        .collect();
    let f = SigFrame::read_from_bytes(&bytes).unwrap();
    assert_eq!(f.regs(), regs);
    assert_eq!((f.mask.get(), f.signo.get()), (0, u64::from(sig::SIGUSR1)));
    // While the handler runs, USR1 and the handler's mask are blocked.
    assert_eq!(
        w.t().get(a).unwrap().mask,
        sig::bit(sig::SIGUSR1) | sig::bit(sig::SIGUSR2)
    );
    // sigreturn: no answer; registers and mask back.
    assert_eq!(
        w.call(
            200,
            PmCall::Sigreturn {
                id: 2,
                frame: frame_at
            }
        ),
        None
    );
    let p = w.proc(200);
    assert_eq!(p.regs, regs);
    assert!(!p.stopped);
    assert_eq!(w.t().get(a).unwrap().mask, 0);
    assert_eq!(w.stats().deliveries, 1);
}

#[test]
fn a_bad_sigreturn_frame_is_a_sigsegv() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    w.call(200, PmCall::Sigreturn { id: 1, frame: 0x10 });
    assert!(w.proc(200).killed);
    w.answer_all_ok();
    let r = w.wait(INIT_EP, 1, a, 0).unwrap();
    assert_eq!(proto::wtermsig(r.extra[0] as i32), sig::SIGSEGV);
}

#[test]
fn a_signal_interrupts_a_wait_with_eintr_and_sigsuspend_restores_its_mask() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    let _grandchild = w.fork(200, 201);
    with_handler(&mut w, 200, sig::SIGUSR1);
    w.procs().get_mut(&200).unwrap().regs = running_regs();
    // a waits (held at PM, blocked on PM).
    assert_eq!(w.wait(200, 11, -1, 0), None);
    assert_eq!(w.proc(200).blocked_on, PM);
    w.call(
        INIT_EP,
        PmCall::Kill {
            id: 1,
            pid: a,
            sig: sig::SIGUSR1,
        },
    );
    let r = w.reply_to(200).unwrap();
    assert_eq!((r.id, r.result), (11, Err(Errno::EINTR)));
    assert_eq!(w.proc(200).regs[reg::RIP], TRAMP);
    assert_eq!(w.t().get(a).unwrap().held, Held::None);

    // sigsuspend with everything but USR1 blocked; the frame restores the
    // mask from before the call.
    let frame = w.proc(200).regs[reg::RDX];
    w.call(200, PmCall::Sigreturn { id: 3, frame });
    w.call(
        200,
        PmCall::Sigprocmask {
            id: 4,
            how: sig::SIG_SETMASK,
            set: sig::bit(sig::SIGUSR1) | sig::bit(sig::SIGUSR2),
        },
    );
    assert_eq!(
        w.call(
            200,
            PmCall::Sigsuspend {
                id: 5,
                mask: sig::ALL & !sig::bit(sig::SIGUSR1)
            }
        ),
        None
    );
    // USR2 is blocked by the suspend mask: nothing happens.
    w.call(
        INIT_EP,
        PmCall::Kill {
            id: 6,
            pid: a,
            sig: sig::SIGUSR2,
        },
    );
    assert!(w.reply_to(200).is_none());
    w.call(
        INIT_EP,
        PmCall::Kill {
            id: 7,
            pid: a,
            sig: sig::SIGUSR1,
        },
    );
    let r = w.reply_to(200).unwrap();
    assert_eq!((r.id, r.result), (5, Err(Errno::EINTR)));
    let p = w.proc(200);
    let frame = p.regs[reg::RDX];
    let bytes: Vec<u8> = (0..SIGFRAME_LEN as u64)
        .map(|i| p.mem[&(frame + i)])
        .collect();
    let f = SigFrame::read_from_bytes(&bytes).unwrap();
    let before = sig::bit(sig::SIGUSR1) | sig::bit(sig::SIGUSR2);
    assert_eq!(f.mask.get(), before, "the mask before sigsuspend");
    w.call(200, PmCall::Sigreturn { id: 8, frame });
    // Back to the old mask, USR2 still pending and blocked.
    let t = w.t().get(a).unwrap().clone();
    assert_eq!(t.mask, before);
    assert_eq!(t.pending, sig::bit(sig::SIGUSR2));
    assert!(t.alive());
}

#[test]
fn a_process_blocked_in_vfs_is_unpaused_first() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    with_handler(&mut w, 200, sig::SIGINT);
    w.procs().get_mut(&200).unwrap().regs = running_regs();
    w.procs().get_mut(&200).unwrap().blocked_on = VFS;
    w.call(
        INIT_EP,
        PmCall::Kill {
            id: 1,
            pid: a,
            sig: sig::SIGINT,
        },
    );
    let req = w.take_request(VFS);
    assert!(matches!(VfsPmCall::try_from(&req), Ok(VfsPmCall::Unpause { ep, .. }) if ep.0 == 200));
    assert!(w.proc(200).stopped, "held stopped meanwhile");
    // VFS answers the suspended call EINTR (the kernel hands it over),
    // then PM's Unpause.
    w.procs().get_mut(&200).unwrap().blocked_on = abi::ENDPOINT_NONE;
    w.vfs_answer(&req, Ok(VfsAnswer::Value(1)));
    let p = &w.proc(200);
    assert_eq!(p.regs[reg::RIP], TRAMP);
    assert!(!p.stopped);
}

#[test]
fn a_process_blocked_on_another_server_is_retried_a_tick_later() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    with_handler(&mut w, 200, sig::SIGUSR1);
    w.procs().get_mut(&200).unwrap().regs = running_regs();
    w.procs().get_mut(&200).unwrap().blocked_on = VM;
    w.call(
        INIT_EP,
        PmCall::Kill {
            id: 1,
            pid: a,
            sig: sig::SIGUSR1,
        },
    );
    let p = w.proc(200);
    assert!(!p.stopped, "resumed: its VM call goes on");
    assert_ne!(p.regs[reg::RIP], TRAMP);
    assert_eq!(w.sys.alarm, Some(w.sys.now + 1));
    // Still in VM at the next tick: again later.
    w.sys.now += 1;
    w.notify_from(Endpoint::CLOCK);
    assert_ne!(w.proc(200).regs[reg::RIP], TRAMP);
    // VM answered meanwhile: delivered.
    w.procs().get_mut(&200).unwrap().blocked_on = abi::ENDPOINT_NONE;
    w.sys.now += 1;
    w.notify_from(Endpoint::CLOCK);
    assert_eq!(w.proc(200).regs[reg::RIP], TRAMP);
    assert!(w.stats().retries >= 2);
}

#[test]
fn sigkill_cannot_be_caught_and_default_actions_apply() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    let r = w
        .call(
            200,
            PmCall::Sigaction {
                id: 1,
                sig: sig::SIGKILL,
                handler: HANDLER,
                trampoline: TRAMP,
                mask: 0,
                flags: 0,
            },
        )
        .unwrap();
    assert_eq!(r.result, Err(Errno::EINVAL));
    // SIGCHLD is ignored by default: nothing happens.
    w.call(
        INIT_EP,
        PmCall::Kill {
            id: 2,
            pid: a,
            sig: sig::SIGCHLD,
        },
    );
    assert!(!w.proc(200).killed);
    w.call(
        INIT_EP,
        PmCall::Kill {
            id: 3,
            pid: a,
            sig: sig::SIGKILL,
        },
    );
    assert!(w.proc(200).killed);
    w.answer_all_ok();
    let r = w.wait(INIT_EP, 4, a, 0).unwrap();
    assert_eq!(proto::wtermsig(r.extra[0] as i32), sig::SIGKILL);
}

#[test]
fn sigpipe_from_vfs_terminates_by_default() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    w.sig_send(200, sig::SIGPIPE);
    assert!(w.proc(200).killed);
    assert!(w.proc(200).sig_held, "killed while held, never resumed");
    w.answer_all_ok();
    let r = w.wait(INIT_EP, 4, a, 0).unwrap();
    assert_eq!(proto::wtermsig(r.extra[0] as i32), sig::SIGPIPE);
}

fn set_action(w: &mut World, ep: u32, s: u32, handler: u64) {
    let r = w
        .call(
            ep,
            PmCall::Sigaction {
                id: 51,
                sig: s,
                handler,
                trampoline: TRAMP,
                mask: 0,
                flags: 0,
            },
        )
        .unwrap();
    assert!(r.result.is_ok());
}

#[test]
fn an_ignored_or_blocked_sigpipe_from_vfs_resumes_the_held_process() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    set_action(&mut w, 200, sig::SIGPIPE, sig::SIG_IGN);
    w.sig_send(200, sig::SIGPIPE);
    let p = w.proc(200);
    assert!(!p.killed && !p.sig_held && !p.stopped, "ignored: runs on");
    assert!(w.t().get(a).unwrap().alive());
    // Default action but blocked: pending in PM, the process runs on.
    set_action(&mut w, 200, sig::SIGPIPE, sig::SIG_DFL);
    let r = w
        .call(
            200,
            PmCall::Sigprocmask {
                id: 52,
                how: sig::SIG_BLOCK,
                set: sig::bit(sig::SIGPIPE),
            },
        )
        .unwrap();
    assert!(r.result.is_ok());
    w.sig_send(200, sig::SIGPIPE);
    let p = w.proc(200);
    assert!(!p.killed && !p.sig_held && !p.stopped, "blocked: runs on");
    assert_eq!(w.t().get(a).unwrap().pending, sig::bit(sig::SIGPIPE));
}

#[test]
fn a_caught_sigpipe_from_vfs_resumes_the_process_in_its_handler() {
    let mut w = init_world();
    let _ = w.fork(INIT_EP, 200);
    set_action(&mut w, 200, sig::SIGPIPE, HANDLER);
    w.procs().get_mut(&200).unwrap().regs = running_regs();
    w.sig_send(200, sig::SIGPIPE);
    let p = w.proc(200);
    assert_eq!(p.regs[reg::RIP], TRAMP, "the handler comes first");
    assert_eq!(p.regs[reg::RDI], u64::from(sig::SIGPIPE));
    assert!(!p.killed && !p.sig_held && !p.stopped);
}

#[test]
fn a_sigpipe_raised_while_a_delivery_waits_for_vfs_is_resumed_by_that_delivery() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    with_handler(&mut w, 200, sig::SIGINT);
    set_action(&mut w, 200, sig::SIGPIPE, sig::SIG_IGN);
    w.procs().get_mut(&200).unwrap().regs = running_regs();
    w.procs().get_mut(&200).unwrap().blocked_on = VFS;
    w.call(
        INIT_EP,
        PmCall::Kill {
            id: 1,
            pid: a,
            sig: sig::SIGINT,
        },
    );
    let req = w.take_request(VFS);
    // VFS raises SIGPIPE meanwhile: PM must not resume it mid-delivery.
    w.sig_send(200, sig::SIGPIPE);
    assert!(w.proc(200).stopped, "still held for the delivery");
    w.procs().get_mut(&200).unwrap().blocked_on = abi::ENDPOINT_NONE;
    w.vfs_answer(&req, Ok(VfsAnswer::Value(1)));
    let p = w.proc(200);
    assert_eq!(p.regs[reg::RIP], TRAMP);
    assert!(!p.stopped && !p.sig_held && !p.killed);
}

#[test]
fn exec_applies_setuid_and_starts_the_image_after_vfs_is_done() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    w.call(200, PmCall::Setuid { id: 1, uid: 1000 });
    let c = w.take_request(VFS);
    w.vfs_answer(&c, Ok(VfsAnswer::Value(0)));
    assert_eq!(w.reply_to(200).unwrap().result, Ok(0));
    with_handler(&mut w, 200, sig::SIGUSR1);
    let buf = |g, l| Buf {
        grant: GrantId(g),
        len: l,
    };
    w.call(
        200,
        PmCall::Exec {
            id: 2,
            fd: 3,
            image: buf(4, 5000),
            block: buf(5, 20),
        },
    );
    let chk = w.take_request(VFS);
    assert!(matches!(
        VfsPmCall::try_from(&chk),
        Ok(VfsPmCall::ExecCheck { fd: 3, .. })
    ));
    let st = FsStat {
        mode: 0o104_755,
        uid: 0,
        gid: 9,
        ..FsStat::default()
    };
    w.vfs_answer(&chk, Ok(VfsAnswer::Stat(st)));
    let ex = w.take_request(VM);
    let Ok(VmPmCall::Exec {
        ep, image, block, ..
    }) = VmPmCall::try_from(&ex)
    else {
        panic!("not an exec")
    };
    assert_eq!(
        (ep.0, image.granter.0, image.grant, image.len),
        (200, 200, GrantId(4), 5000)
    );
    assert_eq!((block.grant, block.len), (GrantId(5), 20));
    // VM built the image: argv[0] on the new stack.
    for (i, b) in b"/bin/prog\0x\0\0".iter().enumerate() {
        w.procs()
            .get_mut(&200)
            .unwrap()
            .mem
            .insert(0x7fff_f000 + i as u64, *b);
    }
    let img = ExecImage {
        entry: 0x4000_0100,
        rsp: 0x7fff_efe0,
        block_addr: 0x7fff_f000,
        block_len: 13,
    };
    w.sys.sent.clear();
    w.vm_answer(&ex, Ok(VmAnswer::Exec(img)));
    let cred = w.take_request(VFS);
    assert!(matches!(
        VfsPmCall::try_from(&cred),
        Ok(VfsPmCall::SetCred {
            uid: 1000,
            euid: 0,
            ..
        })
    ));
    let done = w.take_request(VFS);
    assert!(matches!(
        VfsPmCall::try_from(&done),
        Ok(VfsPmCall::ExecDone { .. })
    ));
    w.vfs_answer(&cred, Ok(VfsAnswer::Value(0)));
    assert_eq!(w.proc(200).entry, None, "not before ExecDone");
    w.vfs_answer(&done, Ok(VfsAnswer::Value(0)));
    assert_eq!(
        w.proc(200).entry,
        Some((0x4000_0100, 0x7fff_efe0, 0x7fff_f000, 13))
    );
    assert!(w.reply_to(200).is_none(), "a successful exec has no answer");
    let p = w.t().get(a).unwrap().clone();
    assert_eq!((p.uid, p.euid), (1000, 0));
    assert_eq!(p.name(), "prog");
    assert_eq!(w.proc(200).name.as_deref(), Some("prog"), "kernel name");
    assert_eq!(p.actions[sig::SIGUSR1 as usize].handler, sig::SIG_DFL);
}

#[test]
fn kernel_names_are_cut_and_cleaned() {
    use crate::server::kernel_name;
    assert_eq!(kernel_name(b"init").as_deref(), Some("init"));
    assert_eq!(
        kernel_name(b"a-program-name-longer-than-15").as_deref(),
        Some("a-program-name-")
    );
    assert_eq!(
        kernel_name(b"two words\t\xff").as_deref(),
        Some("two?words??")
    );
    assert_eq!(kernel_name(b""), None);
}

#[test]
fn a_failed_exec_answers_the_intact_caller() {
    let mut w = init_world();
    w.fork(INIT_EP, 200);
    let b = Buf {
        grant: GrantId(1),
        len: 1,
    };
    w.call(
        200,
        PmCall::Exec {
            id: 2,
            fd: 3,
            image: b,
            block: b,
        },
    );
    let chk = w.take_request(VFS);
    w.vfs_answer(
        &chk,
        Ok(VfsAnswer::Stat(FsStat {
            mode: 0o100_755,
            ..FsStat::default()
        })),
    );
    let ex = w.take_request(VM);
    w.sys.sent.clear();
    w.vm_answer(&ex, Err(Errno::ENOEXEC));
    assert_eq!(w.reply_to(200).unwrap().result, Err(Errno::ENOEXEC));
    assert_eq!(w.proc(200).entry, None);
    // EACCES from VFS's check stops it before VM.
    w.call(
        200,
        PmCall::Exec {
            id: 3,
            fd: 3,
            image: b,
            block: b,
        },
    );
    let chk = w.take_request(VFS);
    w.sys.sent.clear();
    w.vfs_answer(&chk, Err(Errno::EACCES));
    assert_eq!(w.reply_to(200).unwrap().result, Err(Errno::EACCES));
    assert!(w.sys.requests.iter().all(|(d, _)| *d != VM));
}

#[test]
fn the_table_limit_refuses_forks_with_eagain() {
    let mut w = init_world();
    // limit 10, 2 reserved for root: root may fill all 10.
    for ep in 200..209 {
        w.fork(INIT_EP, ep);
    }
    assert_eq!(w.t().len(), 10);
    let r = w.call(INIT_EP, PmCall::Fork { id: 1 }).unwrap();
    assert_eq!(r.result, Err(Errno::EAGAIN));
    assert!(w.sys.requests.iter().all(|(d, _)| *d != VM), "VM not asked");
}

#[test]
fn alarm_raises_sigalrm_at_its_tick() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    assert_eq!(
        w.call(200, PmCall::Alarm { id: 1, seconds: 2 })
            .unwrap()
            .result,
        Ok(0)
    );
    assert_eq!(w.sys.alarm, Some(1000 + 2 * HZ));
    w.sys.now = 1000 + HZ;
    w.notify_from(Endpoint::CLOCK);
    assert!(!w.proc(200).killed);
    w.sys.now = 1000 + 2 * HZ;
    w.notify_from(Endpoint::CLOCK);
    assert!(w.proc(200).killed, "SIGALRM terminates by default");
    w.answer_all_ok();
    let r = w.wait(INIT_EP, 2, a, 0).unwrap();
    assert_eq!(proto::wtermsig(r.extra[0] as i32), sig::SIGALRM);
}

#[test]
fn strangers_and_garbage_get_errors_not_panics() {
    let mut w = init_world();
    w.procs().insert(999, FakeProc::default());
    let r = w.call(999, PmCall::Getpid { id: 1 }).unwrap();
    assert_eq!(r.result, Err(Errno::ESRCH));
    let r = w.call(999, PmCall::Times { id: 2 }).unwrap();
    assert_eq!(r.result, Ok(999));
    // Unknown message types answer ENOSYS with the request id.
    let mut m = Message::new(0xcff);
    m.payload_mut()[..8].copy_from_slice(&5u64.to_le_bytes());
    w.sys.sent.clear();
    w.deliver(INIT_EP, m);
    let r = w.reply_to(INIT_EP).unwrap();
    assert_eq!((r.id, r.result), (5, Err(Errno::ENOSYS)));
    // A forged VM answer from a user is not taken for VM's.
    w.call(INIT_EP, PmCall::Fork { id: 6 });
    let req = w.sys.requests.last().unwrap().1;
    let fake = VmReply {
        id: req.request_id(),
        result: Ok(VmAnswer::Value(4242)),
    }
    .to_message();
    w.deliver(INIT_EP, fake);
    assert_eq!(w.t().len(), 1, "no child from a forged answer");
    // An answer of VFS that PM does not wait for is not answered back.
    w.sys.sent.clear();
    let stale = VfsReply {
        id: 999_999,
        result: Ok(VfsAnswer::Value(0)),
    }
    .to_message();
    w.deliver(VFS, stale);
    assert!(w.sys.sent.iter().all(|(d, _)| *d != VFS));
    // Seeded garbage from users, VM and VFS.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..5000u32 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut m = Message::new(0xc00 + (x % 0x90) as u32);
        for (j, b) in m.payload_mut().iter_mut().enumerate() {
            *b = (x >> (j % 8 * 8)) as u8 ^ (i as u8);
        }
        let from = [INIT_EP, 999, VM, VFS][(x >> 40) as usize % 4];
        w.deliver(from, m);
    }
    assert!(w.t().get(INIT_PID).is_some());
}

#[test]
fn ps_lists_processes_in_pid_order() {
    let mut w = init_world();
    w.fork(INIT_EP, 200);
    w.fork(INIT_EP, 201);
    let r = w
        .call(
            INIT_EP,
            PmCall::ProcList {
                id: 1,
                buf: Buf {
                    grant: GrantId(3),
                    len: 2 * proto::PROC_RECORD_LEN as u32,
                },
                index: 0,
            },
        )
        .unwrap();
    assert_eq!((r.result, r.extra[0]), (Ok(2), 3));
    let (_, _, bytes) = w.sys.copied.last().unwrap().clone();
    let recs: Vec<Pid> = bytes
        .chunks_exact(proto::PROC_RECORD_LEN)
        .map(|c| proto::ProcRecord::read_from_bytes(c).unwrap().pid.get())
        .collect();
    assert_eq!(recs, vec![1, 2]);
}

#[test]
fn a_restarted_pm_takes_its_table_back() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    with_handler(&mut w, 200, sig::SIGUSR1);
    w.call(200, PmCall::Alarm { id: 1, seconds: 5 });
    w.crash_and_restart();
    // Not adopted again: no NewProc for bootinit, same pids and parents.
    assert!(w.sys.requests.iter().all(|(d, _)| *d != VM));
    let r = w.call(200, PmCall::Getpid { id: 2 }).unwrap();
    assert_eq!((r.result, r.extra[0]), (Ok(i64::from(a)), 1));
    // Handlers and the alarm survive.
    let r = w.call(200, PmCall::Alarm { id: 3, seconds: 0 }).unwrap();
    assert_eq!(r.result, Ok(5));
    w.procs().get_mut(&200).unwrap().regs = running_regs();
    w.call(
        INIT_EP,
        PmCall::Kill {
            id: 4,
            pid: a,
            sig: sig::SIGUSR1,
        },
    );
    assert_eq!(w.proc(200).regs[reg::RIP], TRAMP);
    // Exits while PM was down are collected at its init; the teardown is
    // then done as usual.
    let b = w.fork(INIT_EP, 201);
    w.procs().get_mut(&201).unwrap().exited = Some(4);
    w.k().pending.push_back((201, 1 << abi::SIG_EXIT));
    w.crash_and_restart();
    w.answer_all_ok();
    assert!(w.proc(201).released);
    let r = w.wait(INIT_EP, 5, b, WNOHANG).unwrap();
    assert_eq!(
        (r.result, proto::wexitstatus(r.extra[0] as i32)),
        (Ok(i64::from(b)), 4)
    );
}

#[test]
fn a_restart_redoes_teardowns_and_forgets_held_calls() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    // init waits; a exits; VFS and VM have not answered at the crash.
    assert_eq!(w.wait(INIT_EP, 9, -1, 0), None);
    w.exit(200, 6);
    assert!(!w.proc(200).released);
    w.crash_and_restart();
    assert_eq!(
        w.t().get(INIT_PID).unwrap().held,
        Held::None,
        "its caller retries"
    );
    // The teardown is asked for again; the old answers are not recognised.
    let vfs = w.take_request(VFS);
    let vm = w.take_request(VM);
    assert!(matches!(VfsPmCall::try_from(&vfs), Ok(VfsPmCall::Exit { ep, .. }) if ep.0 == 200));
    assert!(matches!(VmPmCall::try_from(&vm), Ok(VmPmCall::Exit { ep, .. }) if ep.0 == 200));
    w.vfs_answer(&vfs, Ok(VfsAnswer::Value(0)));
    w.vm_answer(&vm, Ok(VmAnswer::Value(0)));
    assert!(w.proc(200).released);
    // init's retried wait gets the status.
    let r = w.wait(INIT_EP, 10, -1, 0).unwrap();
    assert_eq!(
        (r.result, proto::wexitstatus(r.extra[0] as i32)),
        (Ok(i64::from(a)), 6)
    );
}

#[test]
fn a_restart_resumes_a_process_held_for_a_delivery_and_delivers_again() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    with_handler(&mut w, 200, sig::SIGINT);
    w.procs().get_mut(&200).unwrap().regs = running_regs();
    w.procs().get_mut(&200).unwrap().blocked_on = VFS;
    w.call(
        INIT_EP,
        PmCall::Kill {
            id: 1,
            pid: a,
            sig: sig::SIGINT,
        },
    );
    w.take_request(VFS);
    assert!(w.proc(200).stopped);
    w.crash_and_restart();
    // Delivered again: still blocked in VFS, so a new Unpause.
    let req = w.take_request(VFS);
    assert!(matches!(VfsPmCall::try_from(&req), Ok(VfsPmCall::Unpause { ep, .. }) if ep.0 == 200));
    w.procs().get_mut(&200).unwrap().blocked_on = abi::ENDPOINT_NONE;
    w.vfs_answer(&req, Ok(VfsAnswer::Value(1)));
    let p = w.proc(200);
    assert_eq!(p.regs[reg::RIP], TRAMP);
    assert!(!p.stopped);
}

#[test]
fn requests_beyond_the_kernels_bound_wait_for_room_in_order() {
    let mut w = init_world();
    let kids: Vec<Pid> = (200..206).map(|ep| w.fork(INIT_EP, ep)).collect();
    // VFS and VM may owe PM only two answers each.
    w.sys.owed_limit = Some(2);
    w.call(
        INIT_EP,
        PmCall::Kill {
            id: 1,
            pid: -1,
            sig: sig::SIGTERM,
        },
    );
    for ep in 200..206 {
        assert!(w.proc(ep).killed);
    }
    // Every teardown reaches VFS and VM, in rounds as answers make room.
    let mut exits = Vec::new();
    for _ in 0..100 {
        let Some((to, m)) = w.sys.requests.first().cloned() else {
            break;
        };
        w.sys.requests.remove(0);
        if to == VFS {
            if let Ok(VfsPmCall::Exit { ep, .. }) = VfsPmCall::try_from(&m) {
                exits.push(ep.0);
            }
            w.vfs_answer(&m, Ok(VfsAnswer::Value(0)));
        } else {
            w.vm_answer(&m, Ok(VmAnswer::Value(0)));
        }
    }
    assert_eq!(exits, vec![200, 201, 202, 203, 204, 205], "in order");
    for ep in 200..206 {
        assert!(w.proc(ep).released, "{ep}");
    }
    for _ in &kids {
        let r = w.wait(INIT_EP, 2, -1, WNOHANG).unwrap();
        assert_eq!(proto::wtermsig(r.extra[0] as i32), sig::SIGTERM);
    }
}

#[test]
fn the_first_reboot_decides_the_verdict() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    assert_eq!(
        w.call(
            200,
            PmCall::Reboot {
                id: 1,
                how: proto::REBOOT_HALT
            }
        )
        .unwrap()
        .result,
        Ok(0)
    );
    let sync = w.take_request(VFS);
    // A second reboot while VFS syncs does not change the verdict.
    w.call(
        INIT_EP,
        PmCall::Reboot {
            id: 2,
            how: proto::REBOOT_FAIL,
        },
    );
    assert!(w.sys.requests.is_empty(), "one sync");
    assert_eq!(w.k().shutdown, None, "not before VFS synced");
    w.vfs_answer(&sync, Ok(VfsAnswer::Value(0)));
    assert_eq!(w.k().shutdown, Some(0));
    // Not root: refused.
    w.call(200, PmCall::Setuid { id: 3, uid: 5 });
    let c = w.take_request(VFS);
    w.vfs_answer(&c, Ok(VfsAnswer::Value(0)));
    let r = w.call(200, PmCall::Reboot { id: 4, how: 0 }).unwrap();
    assert_eq!(r.result, Err(Errno::EPERM));
    let _ = a;
}

#[test]
fn get_cred_tells_system_processes_a_user_processes_ids() {
    let mut w = init_world();
    let child = w.fork(INIT_EP, 200);
    w.call(200, PmCall::Seteuid { id: 1, uid: 1000 });
    let c = w.take_request(VFS);
    w.vfs_answer(&c, Ok(VfsAnswer::Value(0)));
    assert_eq!(w.reply_to(200).unwrap().result, Ok(0));
    let rs = Endpoint::RS.0;
    // RS (a process PM does not know) asks: pid, then uid, euid, gid, egid.
    let r = w.call(rs, PmCall::GetCred { id: 5, ep: 200 }).unwrap();
    assert_eq!((r.id, r.result), (5, Ok(i64::from(child))));
    assert_eq!(r.extra, [0, 1000, 0, 0]);
    let r = w.call(rs, PmCall::GetCred { id: 6, ep: INIT_EP }).unwrap();
    assert_eq!((r.result, r.extra), (Ok(i64::from(INIT_PID)), [0; 4]));
    // An endpoint PM does not know (a service, a boot program).
    let r = w.call(rs, PmCall::GetCred { id: 7, ep: 4242 }).unwrap();
    assert_eq!(r.result, Err(Errno::ESRCH));
    // A user process may not ask.
    let r = w.call(200, PmCall::GetCred { id: 8, ep: INIT_EP }).unwrap();
    assert_eq!(r.result, Err(Errno::EPERM));
    // Once it has exited (a zombie, not yet reaped) PM no longer vouches
    // for it.
    w.exit(200, 0);
    let r = w.call(rs, PmCall::GetCred { id: 9, ep: 200 }).unwrap();
    assert_eq!(r.result, Err(Errno::ESRCH));
    assert!(w.t().get(child).is_some(), "still in the table");
}

#[test]
fn sig_group_from_the_terminal_driver_signals_the_whole_group() {
    let mut w = init_world();
    let a = w.fork(INIT_EP, 200);
    let b = w.fork(INIT_EP, 201);
    let c = w.fork(INIT_EP, 202);
    // 200 leads a new group and 201 joins it; 202 stays in init's group.
    let r = w
        .call(
            200,
            PmCall::Setpgid {
                id: 1,
                pid: 0,
                pgid: 0,
            },
        )
        .unwrap();
    assert_eq!(r.result, Ok(0));
    let r = w
        .call(
            201,
            PmCall::Setpgid {
                id: 2,
                pid: 0,
                pgid: a,
            },
        )
        .unwrap();
    assert_eq!(r.result, Ok(0));
    let sg = |id, pgrp, sig| PmCall::SigGroup { id, pgrp, sig };
    // Nobody but the process DS names `tty` may ask: not a user process
    // (even root's), not another system process.
    let r = w.call(200, sg(3, a, sig::SIGINT)).unwrap();
    assert_eq!(r.result, Err(Errno::EPERM));
    let r = w.call(Endpoint::RS.0, sg(4, a, sig::SIGINT)).unwrap();
    assert_eq!(r.result, Err(Errno::EPERM));
    assert!(!w.proc(200).killed && !w.proc(201).killed);
    // Bad arguments and an empty group.
    let r = w.call(TTY, sg(5, 0, sig::SIGINT)).unwrap();
    assert_eq!(r.result, Err(Errno::EINVAL));
    let r = w.call(TTY, sg(6, a, sig::NSIG)).unwrap();
    assert_eq!(r.result, Err(Errno::EINVAL));
    let r = w.call(TTY, sg(7, 4242, sig::SIGINT)).unwrap();
    assert_eq!(r.result, Err(Errno::ESRCH));
    // Signal 0 only counts the group.
    let r = w.call(TTY, sg(8, a, 0)).unwrap();
    assert_eq!((r.id, r.result), (8, Ok(2)));
    assert!(!w.proc(200).killed && !w.proc(201).killed);
    // ^C: SIGINT (default action: terminate) reaches both members and
    // no one else.
    let r = w.call(TTY, sg(9, a, sig::SIGINT)).unwrap();
    assert_eq!((r.id, r.result), (9, Ok(2)));
    assert!(w.proc(200).killed && w.proc(201).killed);
    assert!(!w.proc(202).killed && !w.proc(INIT_EP).killed);
    w.answer_all_ok();
    for child in [a, b] {
        let r = w.wait(INIT_EP, 10, child, 0).unwrap();
        assert_eq!(r.result, Ok(i64::from(child)));
        assert_eq!(proto::wtermsig(r.extra[0] as i32), sig::SIGINT);
    }
    // A caught SIGHUP (pty master closed) runs the handler instead of
    // terminating.
    let r = w
        .call(
            202,
            PmCall::Setpgid {
                id: 11,
                pid: 0,
                pgid: 0,
            },
        )
        .unwrap();
    assert_eq!(r.result, Ok(0));
    with_handler(&mut w, 202, sig::SIGHUP);
    w.procs().get_mut(&202).unwrap().regs = running_regs();
    let r = w.call(TTY, sg(12, c, sig::SIGHUP)).unwrap();
    assert_eq!(r.result, Ok(1));
    let p = w.proc(202);
    assert!(!p.killed);
    assert_eq!(p.regs[reg::RIP], TRAMP);
    assert_eq!(p.regs[reg::RDI], u64::from(sig::SIGHUP));
}

#[test]
fn setsid_tells_vfs_and_answers_the_new_session_after_it() {
    let mut w = init_world();
    let child = w.fork(INIT_EP, 200);
    w.sys.sent.clear();
    assert!(
        w.call(200, PmCall::Setsid { id: 4 }).is_none(),
        "waits for VFS"
    );
    let req = w.take_request(VFS);
    assert!(matches!(
        VfsPmCall::try_from(&req),
        Ok(VfsPmCall::SetSid { ep, .. }) if ep.0 == 200
    ));
    assert!(w.reply_to(200).is_none(), "not before VFS answered");
    w.vfs_answer(&req, Ok(VfsAnswer::Value(0)));
    let r = w.reply_to(200).unwrap();
    assert_eq!((r.id, r.result), (4, Ok(i64::from(child))));
    let p = w.t().get(child).unwrap().clone();
    assert_eq!((p.sid, p.pgrp), (child, child));
    // A failed setsid (already a group leader) tells VFS nothing.
    w.sys.sent.clear();
    let r = w.call(200, PmCall::Setsid { id: 5 }).unwrap();
    assert_eq!(r.result, Err(Errno::EPERM));
    assert!(w.sys.sent.iter().all(|(to, _)| *to != VFS));
}
