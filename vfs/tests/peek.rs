//! VM's PeekDev (the bytes of a block-device mapping, MINIX's
//! `VMVFSREQ_FDIO` + `REQ_BPEEK`), in the simulator: VM's grant is passed
//! on to the file server hosting the device node, which reads through its
//! `bio` and cache, so bytes written but not yet flushed are what VM gets;
//! counts follow the end of the device (`min(size - pos, len)`, 0 at or
//! past it); the descriptor must be a block device open for reading; only
//! the process DS names "vm" may ask.
//!
//! VM is stood in for by a service labelled "vm" (started through RS, so
//! DS names it) that turns the harness's pokes into asynchronous PeekDev
//! requests with a grant of its own buffer, and hands back VFS's answer
//! with the buffer's bytes.

mod common;

use common::*;
use libbdev::{Access, BdevDevice, SimDriver};
use libminixfs::BlockDevice;
use mfs::server::MfsConfig;
use sim::devices::SharedDriver;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use sys::proto::fs::Buf;
use sys::proto::service::{Policy, ServiceRequest};
use sys::proto::vfs::{VfsAnswer, VfsReply, VfsVmCall, mode, oflag::*, whence::SEEK_SET};
use sys::{
    Ctx, Endpoint, Errno, GrantAccess, GrantId, InitInfo, Message, Sef, Service, StateStore,
};

const RDEV: u32 = 0x0e00;
const PAGE: u64 = 4096;
/// `3 * 4096 - 512`: the last page holds 3584 device bytes.
const SIZE: u64 = 3 * PAGE - 512;
const POKE: u32 = 0x7e58;
const FILL: u8 = 0xee;

/// What the stand-in got back: (VFS's result, VM's buffer afterwards).
type Answers = Rc<RefCell<BTreeMap<u64, (Result<VfsAnswer, Errno>, Vec<u8>)>>>;

/// The stand-in for VM: a poke `(id, ep, fd, pos, len)` becomes an
/// asynchronous PeekDev into a buffer of `len` bytes of [`FILL`]; VFS's
/// answer is recorded with the buffer and relayed to the harness.
struct VmStandIn {
    vfs: Endpoint,
    waiting: BTreeMap<u64, (Endpoint, GrantId)>,
    answers: Answers,
}

impl Service for VmStandIn {
    fn init(&mut self, _cx: &mut Ctx<'_>, _info: InitInfo) -> Result<(), Errno> {
        Ok(())
    }
    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        let w = |i: usize| u64::from_le_bytes(msg.payload()[i * 8..i * 8 + 8].try_into().unwrap());
        if msg.mtype() == POKE {
            let (id, ep, fd, pos, len) = (w(0), w(1), w(2), w(3), w(4));
            let g = cx
                .sys
                .grant_create(self.vfs, GrantAccess::WRITE, vec![FILL; len as usize])
                .unwrap();
            let call = VfsVmCall::PeekDev {
                id,
                ep: Endpoint(ep as u32),
                fd: fd as i32,
                pos,
                buf: Buf {
                    grant: g,
                    len: len as u32,
                },
            };
            cx.sys.request(self.vfs, call.to_message()).unwrap();
            self.waiting.insert(id, (msg.source(), g));
            return None;
        }
        if msg.source() == self.vfs
            && let Ok(r) = VfsReply::try_from(&msg)
            && let Some((harness, g)) = self.waiting.remove(&r.id)
        {
            let bytes = cx.sys.grant_revoke(g).unwrap();
            self.answers.borrow_mut().insert(r.id, (r.result, bytes));
            let _ = cx.sys.send(harness, msg);
        }
        None
    }
}

struct T {
    w: World,
    vm: Endpoint,
    answers: Answers,
    drv: SharedDriver,
    reference: Vec<u8>,
}

fn device_bytes(drv: &SharedDriver) -> Vec<u8> {
    let mut d = BdevDevice::open_new(drv.clone(), 0, Access::RW).unwrap();
    let mut v = vec![0u8; SIZE as usize];
    assert_eq!(d.read_vectored(0, &mut [&mut v[..]]).unwrap() as u64, SIZE);
    v
}

impl T {
    fn new(seed: u64) -> T {
        let drv = SharedDriver::new(SimDriver::disk(SIZE));
        let reference: Vec<u8> = (0..SIZE).map(|i| (i * 7 + i / 4096) as u8).collect();
        {
            let mut d = BdevDevice::open_new(drv.clone(), 0, Access::RW).unwrap();
            d.write_vectored(0, &[&reference[..]]).unwrap();
        }
        let mut w = world_with(
            seed,
            1,
            MfsConfig::default(),
            Policy::Stateful,
            Some((RDEV, drv.clone())),
            4096,
        );
        w.wait_ready();
        let answers: Answers = Rc::default();
        let (vfs, a2) = (w.vfs, answers.clone());
        w.sim.register("vm", move || {
            Box::new(Sef::new(
                VmStandIn {
                    vfs,
                    waiting: BTreeMap::new(),
                    answers: a2.clone(),
                },
                StateStore::None,
            ))
        });
        let up = ServiceRequest::Up {
            id: 1,
            label: "vm".into(),
            program: "vm".into(),
            policy: Policy::Restart,
            period: 0,
            flags: 0,
        };
        w.sim.service_request(up).expect("vm up");
        let vm = w.sim.endpoint_of("vm").expect("vm running");
        T {
            w,
            vm,
            answers,
            drv,
            reference,
        }
    }

    /// PeekDev through the stand-in: VFS's result and VM's buffer.
    fn peek(
        &mut self,
        id: u64,
        ep: Endpoint,
        fd: i32,
        pos: u64,
        len: u64,
    ) -> (Result<i64, Errno>, Vec<u8>) {
        let mut m = Message::new(POKE);
        for (i, v) in [id, u64::from(ep.0), fd as u64, pos, len]
            .into_iter()
            .enumerate()
        {
            m.payload_mut()[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        let r = self.w.sim.call(self.vm, m).expect("stand-in answers");
        assert_eq!(VfsReply::try_from(&r).unwrap().id, id);
        let (res, bytes) = self.answers.borrow_mut().remove(&id).expect("recorded");
        let n = res.map(|a| match a {
            VfsAnswer::Value(n) => n,
            other => panic!("not a count: {other:?}"),
        });
        (n, bytes)
    }
}

/// A user process's descriptors: the device read-write (with a cached,
/// unflushed write at 4096), write-only, and a regular file.
struct Fds {
    rw: i32,
    wo: i32,
    reg: i32,
}

const WRITTEN: &[u8] = &[0x5a; 100];

fn user(t: &mut T) -> (Endpoint, Fds) {
    let fds = slot::<Fds>();
    let f2 = fds.clone();
    let ep = t.w.run_as("user", move |s, c| {
        c.mknod(s, "/vnd0", mode::S_IFBLK | 0o600, RDEV).unwrap();
        let rw = c.open(s, "/vnd0", O_RDWR, 0).unwrap();
        assert_eq!(c.lseek(s, rw, 4096, SEEK_SET).unwrap(), 4096);
        assert_eq!(c.write(s, rw, WRITTEN).unwrap(), WRITTEN.len());
        assert_eq!(c.lseek(s, rw, 77, SEEK_SET).unwrap(), 77);
        let wo = c.open(s, "/vnd0", O_WRONLY, 0).unwrap();
        let reg = c.open(s, "/f", O_RDWR | O_CREAT, 0o644).unwrap();
        *f2.borrow_mut() = Some(Fds { rw, wo, reg });
    });
    let ok = t.w.sim.run_until(10 * sys::HZ, |_| fds.borrow().is_some());
    assert!(ok, "the user opened its files");
    let f = fds.borrow_mut().take().unwrap();
    (ep, f)
}

#[test]
fn peeks_read_through_the_cache_and_stop_at_the_device_end() {
    let mut t = T::new(71);
    let (ep, fds) = user(&mut t);
    let mut want = t.reference.clone();
    want[4096..4096 + WRITTEN.len()].copy_from_slice(WRITTEN);
    // The write is only in MFS's cache: the device still has the old bytes.
    assert_eq!(device_bytes(&t.drv)[4096], t.reference[4096]);

    // Four pages from 0: the whole device, the write included; VM's
    // buffer is untouched past the device end.
    let (n, b) = t.peek(1, ep, fds.rw, 0, 4 * PAGE);
    assert_eq!(n, Ok(SIZE as i64));
    assert_eq!(&b[..SIZE as usize], &want[..]);
    assert!(b[SIZE as usize..].iter().all(|&x| x == FILL));
    // The last page: 3584 bytes.
    let (n, b) = t.peek(2, ep, fds.rw, 2 * PAGE, PAGE);
    assert_eq!(n, Ok(SIZE as i64 - 2 * PAGE as i64));
    assert_eq!(&b[..(SIZE - 2 * PAGE) as usize], &want[2 * PAGE as usize..]);
    // Inside: exactly what was asked.
    let (n, b) = t.peek(3, ep, fds.rw, PAGE, PAGE);
    assert_eq!(n, Ok(PAGE as i64));
    assert_eq!(&b[..], &want[PAGE as usize..2 * PAGE as usize]);
    // At and past the end: nothing, buffer untouched.
    for (id, pos) in [(4, SIZE), (5, 3 * PAGE), (6, 2 * SIZE + 1)] {
        let (n, b) = t.peek(id, ep, fds.rw, pos, PAGE);
        assert_eq!(n, Ok(0), "pos {pos}");
        assert!(b.iter().all(|&x| x == FILL));
    }

    // Not a block device, write-only, no such descriptor.
    assert_eq!(t.peek(7, ep, fds.reg, 0, PAGE).0, Err(Errno::ENODEV));
    assert_eq!(t.peek(8, ep, fds.wo, 0, PAGE).0, Err(Errno::EACCES));
    assert_eq!(t.peek(9, ep, 40, 0, PAGE).0, Err(Errno::EBADF));
    // Another process's descriptor numbers are its own.
    assert_eq!(t.peek(10, t.vm, fds.rw, 0, PAGE).0, Err(Errno::EBADF));

    // A read(2) of the same bytes agrees with what VM got.
    let got = slot::<Vec<u8>>();
    let g2 = got.clone();
    t.w.run(move |s, c| {
        let fd = c.open(s, "/vnd0", O_RDONLY, 0).unwrap();
        assert_eq!(c.lseek(s, fd, 4096, SEEK_SET).unwrap(), 4096);
        *g2.borrow_mut() = Some(c.read(s, fd, WRITTEN.len()).unwrap());
    });
    assert!(t.w.sim.run_until(10 * sys::HZ, |_| got.borrow().is_some()));
    assert_eq!(got.borrow().as_deref(), Some(WRITTEN));
}

#[test]
fn only_vm_may_peek() {
    let mut t = T::new(72);
    let (ep, fds) = user(&mut t);
    let vfs = t.w.vfs;
    let g =
        t.w.sim
            .harness_grant(vfs, GrantAccess::WRITE, vec![FILL; PAGE as usize])
            .unwrap();
    let call = VfsVmCall::PeekDev {
        id: 33,
        ep,
        fd: fds.rw,
        pos: 0,
        buf: Buf {
            grant: g,
            len: PAGE as u32,
        },
    };
    let r = VfsReply::try_from(&t.w.sim.call(vfs, call.to_message()).unwrap()).unwrap();
    assert_eq!((r.id, r.result), (33, Err(Errno::EPERM)));
    let untouched = t.w.sim.harness_revoke(g).unwrap();
    assert!(untouched.iter().all(|&x| x == FILL));
    // The stand-in labelled "vm" is answered.
    assert_eq!(t.peek(34, ep, fds.rw, 0, PAGE).0, Ok(PAGE as i64));
}
