//! Processes for VFS tests: a stand-in for PM (a service labelled "pm",
//! started through RS so DS names it, relaying the harness's
//! `VfsPmCall`s to VFS) and puppet user processes the test hands
//! closures to run (blocking client calls, or requests whose answers land
//! in their inbox).
#![allow(dead_code)]

use super::*;
use mfs::server::MfsConfig;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use sys::proto::fs::{Buf, FsStat};
use sys::proto::pm::{PmCall, PmReply};
use sys::proto::service::{Policy, ServiceRequest};
use sys::proto::vfs::{VfsAnswer, VfsCall, VfsPmCall, VfsReply, encode_sets};
use sys::{
    Ctx, Endpoint, Errno, GrantAccess, HZ, InitInfo, Message, Process, Sef, Service, StateStore,
    Sys,
};
use vfs::Vfs;
use vfs::client::Client;

/// The stand-in for PM: relays the VFS-PM calls the harness sends it.
pub struct PmRelay {
    pub vfs: Rc<Cell<Endpoint>>,
}

impl Service for PmRelay {
    fn init(&mut self, _cx: &mut Ctx<'_>, _info: InitInfo) -> Result<(), Errno> {
        Ok(())
    }
    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        if VfsPmCall::is_pm_call(&msg) {
            cx.sys.sendrec(self.vfs.get(), msg).ok()
        } else if let Ok(PmCall::GetCred { id, .. }) = PmCall::try_from(&msg) {
            // RS asks who sent it a request: nobody PM knows (served).
            Some(PmReply::error(id, Errno::ESRCH).to_message())
        } else {
            None
        }
    }
}

pub type Cmd = Box<dyn FnOnce(&mut dyn Sys, &mut Client)>;

pub const POKE: u32 = 0x7e57;

/// A user process run by the test: a poke from the harness runs the
/// queued closures; everything else it receives goes to its inbox.
pub struct Puppet {
    client: Client,
    todo: Rc<RefCell<VecDeque<Cmd>>>,
    ran: Rc<Cell<u32>>,
    inbox: Rc<RefCell<Vec<Message>>>,
}

impl Process for Puppet {
    fn receive(&mut self, s: &mut dyn Sys, msg: Message) {
        if msg.mtype() == POKE {
            loop {
                let next = self.todo.borrow_mut().pop_front();
                let Some(f) = next else { break };
                f(s, &mut self.client);
                self.ran.set(self.ran.get() + 1);
            }
        } else {
            self.inbox.borrow_mut().push(msg);
        }
    }
}

#[derive(Clone)]
pub struct P {
    pub ep: Endpoint,
    pub todo: Rc<RefCell<VecDeque<Cmd>>>,
    pub ran: Rc<Cell<u32>>,
    pub inbox: Rc<RefCell<Vec<Message>>>,
}

pub struct T {
    pub w: World,
    pub pm: Endpoint,
    pub next_id: u64,
}

impl T {
    pub fn new(seed: u64, n_fs: usize) -> T {
        let mut w = world(seed, n_fs, MfsConfig::default(), Policy::Stateful);
        w.wait_ready();
        T::with_world(w)
    }

    /// The harness around a world whose VFS is ready.
    pub fn with_world(mut w: World) -> T {
        let vfs = Rc::new(Cell::new(w.vfs));
        w.sim.register("pm", move || {
            Box::new(Sef::new(PmRelay { vfs: vfs.clone() }, StateStore::None))
        });
        let up = ServiceRequest::Up {
            id: 1,
            label: "pm".into(),
            program: "pm".into(),
            policy: Policy::Restart,
            period: 0,
            flags: 0,
        };
        w.sim.service_request(up).expect("pm up");
        let pm = w.sim.endpoint_of("pm").expect("pm running");
        T { w, pm, next_id: 0 }
    }

    pub fn puppet(&mut self, label: &str) -> P {
        let todo: Rc<RefCell<VecDeque<Cmd>>> = Rc::default();
        let ran: Rc<Cell<u32>> = Rc::default();
        let inbox: Rc<RefCell<Vec<Message>>> = Rc::default();
        let ep = self
            .w
            .sim
            .spawn_user(
                label,
                Box::new(Puppet {
                    client: Client::new(self.w.vfs),
                    todo: todo.clone(),
                    ran: ran.clone(),
                    inbox: inbox.clone(),
                }),
            )
            .unwrap();
        P {
            ep,
            todo,
            ran,
            inbox,
        }
    }

    /// Run `f` as `p` (to completion).
    pub fn on(&mut self, p: &P, f: impl FnOnce(&mut dyn Sys, &mut Client) + 'static) {
        let want = p.ran.get() + 1;
        p.todo.borrow_mut().push_back(Box::new(f));
        self.w.sim.send_plain(p.ep, Message::new(POKE)).unwrap();
        let ran = p.ran.clone();
        assert!(
            self.w.sim.run_until(100 * HZ, |_| ran.get() >= want),
            "puppet step finished"
        );
    }

    /// `f` as `p`, returning its value.
    pub fn get<X: 'static>(
        &mut self,
        p: &P,
        f: impl FnOnce(&mut dyn Sys, &mut Client) -> X + 'static,
    ) -> X {
        let out = slot::<X>();
        let o2 = out.clone();
        self.on(p, move |s, c| {
            o2.borrow_mut().replace(f(s, c));
        });
        out.borrow_mut().take().unwrap()
    }

    /// Start `call` (built with a request id and the VFS endpoint) as `p`
    /// without waiting for the answer, which lands in `p`'s inbox.
    pub fn start(
        &mut self,
        p: &P,
        call: impl FnOnce(&mut dyn Sys, Endpoint) -> VfsCall + 'static,
    ) -> u64 {
        let vfs = self.w.vfs;
        self.get(p, move |s, _| {
            let c = call(s, vfs);
            s.request(vfs, c.to_message()).unwrap();
            c.id()
        })
    }

    /// Run until `p` got the answer to `id`.
    pub fn answer(&mut self, p: &P, id: u64) -> Result<VfsAnswer, Errno> {
        let inbox = p.inbox.clone();
        let has = move || {
            inbox
                .borrow()
                .iter()
                .any(|m| VfsReply::try_from(m).is_ok_and(|r| r.id == id))
        };
        assert!(self.w.sim.run_until(100 * HZ, |_| has()), "answer {id}");
        let mut ib = p.inbox.borrow_mut();
        let i = ib
            .iter()
            .position(|m| VfsReply::try_from(m).is_ok_and(|r| r.id == id))
            .unwrap();
        VfsReply::try_from(&ib.remove(i)).unwrap().result
    }

    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        1000 + self.next_id
    }

    /// A PM call through the relay.
    pub fn pm(&mut self, f: impl FnOnce(u64) -> VfsPmCall) -> Result<VfsAnswer, Errno> {
        let call = f(self.id());
        let m = self.w.sim.call(self.pm, call.to_message()).expect("relay");
        let r = VfsReply::try_from(&m).unwrap();
        assert_eq!(r.id, call.id());
        r.result
    }

    pub fn pm_value(&mut self, f: impl FnOnce(u64) -> VfsPmCall) -> Result<i64, Errno> {
        match self.pm(f)? {
            VfsAnswer::Value(v) => Ok(v),
            a => panic!("not a value: {a:?}"),
        }
    }

    pub fn fork(&mut self, parent: &P, child: &P) {
        let (parent, child) = (parent.ep, child.ep);
        assert_eq!(
            self.pm_value(|id| VfsPmCall::Fork { id, parent, child }),
            Ok(0)
        );
    }

    pub fn exit(&mut self, p: &P) {
        let ep = p.ep;
        assert_eq!(self.pm_value(|id| VfsPmCall::Exit { id, ep }), Ok(0));
    }

    pub fn unpause(&mut self, p: &P) -> i64 {
        let ep = p.ep;
        self.pm_value(|id| VfsPmCall::Unpause { id, ep }).unwrap()
    }

    pub fn set_cred(&mut self, p: &P, uid: u32, gid: u32, euid: u32, egid: u32) {
        let ep = p.ep;
        let r = self.pm_value(|id| VfsPmCall::SetCred {
            id,
            ep,
            uid,
            gid,
            euid,
            egid,
        });
        assert_eq!(r, Ok(0));
    }

    pub fn exec_check(&mut self, p: &P, fd: i32) -> Result<FsStat, Errno> {
        let ep = p.ep;
        match self.pm(|id| VfsPmCall::ExecCheck { id, ep, fd })? {
            VfsAnswer::Stat(s) => Ok(s),
            a => panic!("not a stat: {a:?}"),
        }
    }

    pub fn vfs<X>(&self, f: impl FnOnce(&Vfs) -> X) -> X {
        self.w.sim.with_process::<Vfs, _>("vfs", f).unwrap()
    }

    pub fn pfs_suspended(&self) -> usize {
        self.w
            .sim
            .with_process::<Sef<pfs::server::Pfs>, _>("pfs", |p| p.service().suspended())
            .unwrap()
    }

    pub fn pfs_pipes(&self) -> usize {
        self.w
            .sim
            .with_process::<Sef<pfs::server::Pfs>, _>("pfs", |p| p.service().pipes().len())
            .unwrap()
    }
}

/// A read of `len` bytes from `fd` (answer in the inbox).
pub fn read_call(id: u64, fd: i32, len: usize) -> impl FnOnce(&mut dyn Sys, Endpoint) -> VfsCall {
    move |s, vfs| {
        let g = s
            .grant_create(vfs, GrantAccess::WRITE, vec![0; len])
            .unwrap();
        VfsCall::Read {
            id,
            fd,
            buf: Buf {
                grant: g,
                len: len as u32,
            },
        }
    }
}

/// A select for reading `fd`, waiting for ever or `timeout`.
pub fn select_call(
    id: u64,
    fd: i32,
    timeout: Option<(i64, i64)>,
) -> impl FnOnce(&mut dyn Sys, Endpoint) -> VfsCall {
    move |s, vfs| {
        let sets = encode_sets([1 << fd, 0, 0]).to_vec();
        let g = s.grant_create(vfs, GrantAccess::RW, sets).unwrap();
        VfsCall::Select {
            id,
            nfds: fd + 1,
            sets: Buf { grant: g, len: 24 },
            timeout,
        }
    }
}
