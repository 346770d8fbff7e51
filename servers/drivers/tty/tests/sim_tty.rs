//! The TTY driver in the simulator under RS, with DS (its state store), a
//! fake PM that records `SigGroup` calls, and a fake UART whose "interrupt"
//! is a notification from the harness. The harness plays VFS: it opens,
//! reads, writes, selects and sends ioctls over `sys::proto::cdev`.

use sim::system::{boot_rs, ds_service, service};
use sim::{Sim, SimConfig};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use sys::proto::cdev::{CdevReply, CdevRequest, access, sel};
use sys::proto::kernel::notify_message;
use sys::proto::pm::{PmCall, PmReply, sig};
use sys::proto::service::{Policy, RunState};
use sys::proto::tty::{Termios, Winsize, cc, lflag, req};
use sys::{Ctx, Endpoint, Errno, GrantAccess, HZ, InitInfo, Message, Sef, Service, StateStore};
use tty::{Serial, Tty};

const CONSOLE: u32 = 0;
const SLAVE0: u32 = 128;
const MASTER0: u32 = 192;
const SLAVE1: u32 = 129;
const MASTER1: u32 = 193;

#[derive(Default)]
struct Uart {
    rx: VecDeque<u8>,
    tx: Vec<u8>,
    /// Bytes the transmitter takes per call (none: all).
    room: Option<usize>,
    started: u32,
}

#[derive(Clone, Default)]
struct FakeSerial(Rc<RefCell<Uart>>);

impl Serial for FakeSerial {
    fn start(&mut self) -> Result<(), Errno> {
        self.0.borrow_mut().started += 1;
        Ok(())
    }
    fn receive(&mut self) -> Vec<u8> {
        self.0.borrow_mut().rx.drain(..).collect()
    }
    fn transmit(&mut self, bytes: &[u8]) -> usize {
        let mut u = self.0.borrow_mut();
        let n = u.room.map_or(bytes.len(), |r| r.min(bytes.len()));
        u.tx.extend_from_slice(&bytes[..n]);
        n
    }
}

type Sigs = Rc<RefCell<Vec<(i32, u32)>>>;

/// PM as far as the terminal needs it: records group signals.
struct FakePm(Sigs);

impl Service for FakePm {
    fn init(&mut self, _cx: &mut Ctx<'_>, _info: InitInfo) -> Result<(), Errno> {
        Ok(())
    }
    fn handle(&mut self, _cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        match PmCall::try_from(&msg) {
            Ok(PmCall::SigGroup { id, pgrp, sig }) => {
                self.0.borrow_mut().push((pgrp, sig));
                Some(PmReply::value(id, 1).to_message())
            }
            // The pid of a session leader: its endpoint's low bits + 1000
            // here; ESRCH for endpoint 0.
            Ok(PmCall::GetCred { id, ep }) if ep != 0 => {
                Some(PmReply::value(id, i64::from(ep & 0xffff) + 1000).to_message())
            }
            Ok(PmCall::GetCred { id, .. }) => Some(PmReply::error(id, Errno::ESRCH).to_message()),
            _ => None,
        }
    }
}

struct T {
    sim: Sim,
    ep: Endpoint,
    uart: FakeSerial,
    sigs: Sigs,
    /// Harness messages taken while looking for another.
    stash: Vec<Message>,
    next_id: u64,
}

fn setup() -> T {
    let mut sim = Sim::new(SimConfig::new(12));
    sim::system::register_programs(&mut sim);
    let uart = FakeSerial::default();
    let u = uart.clone();
    sim.register("tty", move || {
        Box::new(Sef::new(Tty::new(u.clone()), StateStore::Ds))
    });
    let sigs: Sigs = Rc::default();
    let s = sigs.clone();
    sim.register("pm", move || {
        Box::new(Sef::new(FakePm(s.clone()), StateStore::None))
    });
    let table = vec![
        ds_service(),
        service("pm", "pm", Policy::Restart, HZ),
        service("tty", "tty", Policy::Stateful, HZ),
    ];
    boot_rs(&mut sim, rs::RsConfig::with_table(table));
    let ep = sim.endpoint_of("tty").unwrap();
    T {
        sim,
        ep,
        uart,
        sigs,
        stash: Vec::new(),
        next_id: 1000,
    }
}

fn done(m: &Message) -> Result<u32, Errno> {
    match CdevReply::try_from(m).unwrap() {
        CdevReply::Done { result, .. } => result,
        other => panic!("unexpected {other:?}"),
    }
}

impl T {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn call(&mut self, r: CdevRequest) -> Message {
        self.sim.call(self.ep, r.to_message()).unwrap()
    }

    fn open(&mut self, minor: u32) -> Result<u32, Errno> {
        let id = self.id();
        let m = self.call(CdevRequest::Open {
            id,
            minor,
            access: access::READ | access::WRITE,
        });
        done(&m)
    }

    fn close(&mut self, minor: u32) {
        let id = self.id();
        let m = self.call(CdevRequest::Close { id, minor });
        assert_eq!(done(&m), Ok(0));
    }

    fn write(&mut self, minor: u32, bytes: &[u8]) -> Result<u32, Errno> {
        let g = self
            .sim
            .harness_grant(self.ep, GrantAccess::READ, bytes.to_vec())
            .unwrap();
        let id = self.id();
        let m = self.call(CdevRequest::Write {
            id,
            minor,
            grant: g,
            size: bytes.len() as u32,
            nonblock: false,
        });
        self.sim.harness_revoke(g).unwrap();
        done(&m)
    }

    /// A read answered at once (nonblocking: EAGAIN if it would wait).
    fn read_now(&mut self, minor: u32, n: usize) -> Result<Vec<u8>, Errno> {
        let g = self
            .sim
            .harness_grant(self.ep, GrantAccess::WRITE, vec![0; n])
            .unwrap();
        let id = self.id();
        let m = self.call(CdevRequest::Read {
            id,
            minor,
            grant: g,
            size: n as u32,
            nonblock: true,
        });
        let buf = self.sim.harness_revoke(g).unwrap();
        done(&m).map(|k| buf[..k as usize].to_vec())
    }

    /// Start a blocking read; returns (id, grant) for [`T::finish_read`].
    fn start_read(&mut self, minor: u32, n: usize) -> (u64, sys::GrantId) {
        let g = self
            .sim
            .harness_grant(self.ep, GrantAccess::WRITE, vec![0; n])
            .unwrap();
        let id = self.id();
        let r = CdevRequest::Read {
            id,
            minor,
            grant: g,
            size: n as u32,
            nonblock: false,
        };
        self.sim.send_request(self.ep, r.to_message()).unwrap();
        (id, g)
    }

    /// The answer to request `id` if it has come (after running a while).
    fn answer(&mut self, id: u64) -> Option<Message> {
        self.sim.run_for(5);
        self.stash.extend(self.sim.harness_inbox());
        let i = self
            .stash
            .iter()
            .position(|m| m.source() == self.ep && m.request_id() == id)?;
        Some(self.stash.remove(i))
    }

    fn finish_read(&mut self, (id, g): (u64, sys::GrantId)) -> Option<Result<Vec<u8>, Errno>> {
        let m = self.answer(id)?;
        let buf = self.sim.harness_revoke(g).unwrap();
        Some(done(&m).map(|k| buf[..k as usize].to_vec()))
    }

    fn ioctl(
        &mut self,
        minor: u32,
        r: u32,
        arg: Vec<u8>,
        write: bool,
    ) -> (Result<u32, Errno>, Vec<u8>) {
        let access = if write {
            GrantAccess::WRITE
        } else {
            GrantAccess::READ
        };
        let len = arg.len() as u32;
        let g = self.sim.harness_grant(self.ep, access, arg).unwrap();
        let id = self.id();
        let m = self.call(CdevRequest::Ioctl {
            id,
            minor,
            req: r,
            grant: g,
            len,
        });
        let buf = self.sim.harness_revoke(g).unwrap();
        (done(&m), buf)
    }

    fn tcgets(&mut self, minor: u32) -> Termios {
        let (r, b) = self.ioctl(minor, req::TCGETS, vec![0; 44], true);
        assert_eq!(r, Ok(0));
        Termios::from_bytes(&b).unwrap()
    }

    fn tcsets(&mut self, minor: u32, t: Termios) {
        let (r, _) = self.ioctl(minor, req::TCSETS, t.to_bytes().to_vec(), false);
        assert_eq!(r, Ok(0));
    }

    fn set_pgrp(&mut self, minor: u32, pgrp: u32) {
        let (r, _) = self.ioctl(minor, req::TIOCSPGRP, pgrp.to_le_bytes().to_vec(), false);
        assert_eq!(r, Ok(0));
    }

    fn select(&mut self, minor: u32, ops: u32, notify: bool) -> Result<u32, Errno> {
        let id = self.id();
        let m = self.call(CdevRequest::Select {
            id,
            minor,
            ops,
            notify,
        });
        match CdevReply::try_from(&m).unwrap() {
            CdevReply::Select { result, .. } => result,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// SelectReady notices for `minor` received so far.
    fn ready_notices(&mut self, minor: u32) -> Vec<u32> {
        self.sim.run_for(5);
        self.stash.extend(self.sim.harness_inbox());
        let mut got = Vec::new();
        self.stash.retain(|m| match CdevReply::try_from(m) {
            Ok(CdevReply::SelectReady { minor: mi, ops }) if mi == minor => {
                got.push(ops);
                false
            }
            _ => true,
        });
        got
    }

    /// Bytes typed on the console, then the interrupt.
    fn type_in(&mut self, bytes: &[u8]) {
        self.uart.0.borrow_mut().rx.extend(bytes);
        let now = self.sim.now();
        self.sim.send_plain(self.ep, notify_message(now)).unwrap();
        self.sim.run_for(5);
    }

    fn screen(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.uart.0.borrow_mut().tx)
    }

    fn signals(&mut self) -> Vec<(i32, u32)> {
        self.sim.run_for(5);
        std::mem::take(&mut self.sigs.borrow_mut())
    }

    fn restart(&mut self) {
        let before = self
            .sim
            .with_process::<rs::Rs, _>("rs", |rs| rs.service("tty").map_or(0, |i| i.restarts))
            .unwrap();
        assert!(self.sim.crash_now("tty"));
        let ok = self.sim.run_until(self.sim.now() + 20 * HZ, |s| {
            s.with_process::<rs::Rs, _>("rs", |rs| {
                rs.service("tty")
                    .is_some_and(|i| i.restarts > before && i.state == RunState::Running)
            })
            .unwrap_or(false)
        });
        assert!(ok, "RS restarted tty");
        self.ep = self.sim.endpoint_of("tty").unwrap();
    }
}

#[test]
fn console_canonical_input_echo_and_output() {
    let mut t = setup();
    assert_eq!(t.uart.0.borrow().started, 1);
    assert_eq!(t.open(CONSOLE), Ok(0));
    // A read waits for a whole line; typing is echoed.
    let rd = t.start_read(CONSOLE, 100);
    t.type_in(b"ecko");
    assert!(t.finish_read(rd).is_none(), "no line yet");
    t.type_in(b"\x7f\x7fho hi\r");
    assert_eq!(t.finish_read(rd), Some(Ok(b"echo hi\n".to_vec())));
    assert_eq!(t.screen(), b"ecko\x08 \x08\x08 \x08ho hi\r\n");
    // Output: NL becomes CR NL.
    assert_eq!(t.write(CONSOLE, b"hi\nthere\n"), Ok(9));
    assert_eq!(t.screen(), b"hi\r\nthere\r\n");
    // ^D at the start of a line: a read of 0; mid-line it ends the line.
    t.type_in(b"\x04");
    assert_eq!(t.read_now(CONSOLE, 10), Ok(Vec::new()));
    t.type_in(b"ab\x04");
    assert_eq!(t.read_now(CONSOLE, 10), Ok(b"ab".to_vec()));
    assert_eq!(t.read_now(CONSOLE, 10), Err(Errno::EAGAIN));
    // Unknown minors.
    assert_eq!(t.open(7), Err(Errno::ENXIO));
    assert_eq!(t.select(300, sel::READ, false), Err(Errno::ENXIO));
}

#[test]
fn console_output_waits_for_a_slow_transmitter() {
    let mut t = setup();
    t.uart.0.borrow_mut().room = Some(0);
    let big = vec![b'x'; tty::line::OUT_CAP + 100];
    let g = t
        .sim
        .harness_grant(t.ep, GrantAccess::READ, big.clone())
        .unwrap();
    let id = t.id();
    let w = CdevRequest::Write {
        id,
        minor: CONSOLE,
        grant: g,
        size: big.len() as u32,
        nonblock: false,
    };
    t.sim.send_request(t.ep, w.to_message()).unwrap();
    assert!(t.answer(id).is_none(), "the queue is full: the write waits");
    assert_eq!(t.select(CONSOLE, sel::WRITE, false), Ok(0));
    // The transmitter drains at its interrupt.
    t.uart.0.borrow_mut().room = None;
    t.type_in(b"");
    let m = t.answer(id).expect("answered once the queue drained");
    assert_eq!(done(&m), Ok(big.len() as u32));
    assert_eq!(t.screen(), big);
}

#[test]
fn intr_and_quit_signal_the_foreground_group_and_flush() {
    let mut t = setup();
    t.open(CONSOLE).unwrap();
    // No foreground group: no signal.
    t.type_in(b"\x03");
    assert_eq!(t.signals(), vec![]);
    t.set_pgrp(CONSOLE, 42);
    let (r, b) = t.ioctl(CONSOLE, req::TIOCGPGRP, vec![0; 4], true);
    assert_eq!((r, b), (Ok(0), 42u32.to_le_bytes().to_vec()));
    let rd = t.start_read(CONSOLE, 100);
    t.type_in(b"sleep 100\x03");
    assert_eq!(t.signals(), vec![(42, sig::SIGINT)]);
    assert!(t.screen().ends_with(b"^C\r\n"));
    // The input was flushed: the read still waits; VFS cancels it (the
    // signal interrupted the reader) and it answers EINTR.
    assert!(t.finish_read(rd).is_none());
    let c = CdevRequest::Cancel {
        id: rd.0,
        minor: CONSOLE,
    };
    t.sim.send_request(t.ep, c.to_message()).unwrap();
    assert_eq!(t.finish_read(rd), Some(Err(Errno::EINTR)));
    t.type_in(b"\x1c");
    assert_eq!(t.signals(), vec![(42, sig::SIGQUIT)]);
    t.type_in(b"ls\r");
    assert_eq!(t.read_now(CONSOLE, 100), Ok(b"ls\n".to_vec()));
}

#[test]
fn raw_mode_vmin_vtime_through_ioctl() {
    let mut t = setup();
    t.open(CONSOLE).unwrap();
    let mut tm = t.tcgets(CONSOLE);
    assert_eq!(tm, Termios::default());
    tm.make_raw();
    tm.cc[cc::VMIN] = 0;
    tm.cc[cc::VTIME] = 10; // one second
    t.tcsets(CONSOLE, tm);
    assert_eq!(t.tcgets(CONSOLE), tm);
    // Nothing typed: the read ends with 0 bytes after VTIME.
    let rd = t.start_read(CONSOLE, 10);
    assert!(t.finish_read(rd).is_none());
    t.sim.run_for(2 * HZ);
    assert_eq!(t.finish_read(rd), Some(Ok(Vec::new())));
    // A byte ends it at once, unprocessed and unechoed.
    let rd = t.start_read(CONSOLE, 10);
    t.type_in(b"\r");
    assert_eq!(t.finish_read(rd), Some(Ok(b"\r".to_vec())));
    assert_eq!(t.screen(), b"");
    // FIONREAD counts raw bytes.
    t.type_in(b"abc");
    let (r, b) = t.ioctl(CONSOLE, req::FIONREAD, vec![0; 4], true);
    assert_eq!((r, b), (Ok(0), 3u32.to_le_bytes().to_vec()));
    // TCSETSF flushes them.
    let (r, _) = t.ioctl(
        CONSOLE,
        req::TCSETSF,
        Termios::default().to_bytes().to_vec(),
        false,
    );
    assert_eq!(r, Ok(0));
    assert_eq!(t.read_now(CONSOLE, 10), Err(Errno::EAGAIN));
    // Bad ioctls.
    assert_eq!(t.ioctl(CONSOLE, 99, vec![0; 4], true).0, Err(Errno::ENOTTY));
    assert_eq!(
        t.ioctl(CONSOLE, req::TCGETS, vec![0; 8], true).0,
        Err(Errno::EINVAL)
    );
}

#[test]
fn select_reports_readiness_now_and_later() {
    let mut t = setup();
    t.open(CONSOLE).unwrap();
    assert_eq!(
        t.select(CONSOLE, sel::READ | sel::WRITE, true),
        Ok(sel::WRITE)
    );
    assert_eq!(t.select(CONSOLE, sel::READ, true), Ok(0));
    t.type_in(b"partial");
    assert_eq!(
        t.ready_notices(CONSOLE),
        Vec::<u32>::new(),
        "no whole line yet"
    );
    t.type_in(b"\r");
    assert_eq!(t.ready_notices(CONSOLE), vec![sel::READ]);
    assert_eq!(t.select(CONSOLE, sel::READ, false), Ok(sel::READ));
    // Once told, not again.
    t.type_in(b"more\r");
    assert_eq!(t.ready_notices(CONSOLE), Vec::<u32>::new());
}

#[test]
fn pty_master_and_slave_talk_both_ways() {
    let mut t = setup();
    assert_eq!(t.open(MASTER0), Ok(0));
    assert_eq!(t.open(MASTER0), Err(Errno::EIO), "one master per pair");
    assert_eq!(t.open(SLAVE0), Ok(0));
    // Master -> slave: through the line discipline (the master sees the
    // echo).
    let rd = t.start_read(SLAVE0, 100);
    assert_eq!(t.write(MASTER0, b"hello\r"), Ok(6));
    assert_eq!(t.finish_read(rd), Some(Ok(b"hello\n".to_vec())));
    assert_eq!(t.read_now(MASTER0, 100), Ok(b"hello\r\n".to_vec()));
    // Slave -> master, with ONLCR.
    let rd = t.start_read(MASTER0, 100);
    assert!(t.finish_read(rd).is_none());
    assert_eq!(t.write(SLAVE0, b"out\n"), Ok(4));
    assert_eq!(t.finish_read(rd), Some(Ok(b"out\r\n".to_vec())));
    // Raw slave: bytes pass unchanged; termios set through the master.
    let mut raw = t.tcgets(MASTER0);
    raw.make_raw();
    t.tcsets(MASTER0, raw);
    assert_eq!(t.tcgets(SLAVE0), raw);
    t.write(MASTER0, b"\x03\r\x00").unwrap();
    assert_eq!(t.read_now(SLAVE0, 10), Ok(b"\x03\r\x00".to_vec()));
    t.write(SLAVE0, b"a\nb").unwrap();
    assert_eq!(t.read_now(MASTER0, 10), Ok(b"a\nb".to_vec()));
    // Select on both sides.
    assert_eq!(t.select(MASTER0, sel::READ, true), Ok(0));
    assert_eq!(
        t.select(SLAVE0, sel::READ | sel::WRITE, true),
        Ok(sel::WRITE)
    );
    t.write(SLAVE0, b"x").unwrap();
    assert_eq!(t.ready_notices(MASTER0), vec![sel::READ]);
    t.write(MASTER0, b"y").unwrap();
    assert_eq!(t.ready_notices(SLAVE0), vec![sel::READ]);
    // The other pairs are separate.
    assert_eq!(t.open(MASTER1), Ok(0));
    assert_eq!(t.open(SLAVE1), Ok(0));
    assert_eq!(t.read_now(SLAVE1, 10), Err(Errno::EAGAIN));
    assert_eq!(t.read_now(MASTER1, 10), Err(Errno::EAGAIN));
}

/// MINIX's old-style pairs (test77 a, c): the slave opens without its
/// master and what it writes waits for one; once the slave is closed under
/// an open master, master writes fail with EIO and reads see EOF until the
/// slave is opened again; a master closed with no slave open leaves the
/// pair fresh.
#[test]
fn old_style_pairs_open_in_either_order() {
    let mut t = setup();
    // The slave first: its raw settings and its output wait for the master.
    assert_eq!(t.open(SLAVE0), Ok(0));
    let mut raw = t.tcgets(SLAVE0);
    raw.make_raw();
    t.tcsets(SLAVE0, raw);
    assert_eq!(t.write(SLAVE0, b"F"), Ok(1));
    assert_eq!(t.open(MASTER0), Ok(0));
    assert_eq!(t.read_now(MASTER0, 10), Ok(b"F".to_vec()));
    assert_eq!(t.tcgets(MASTER0), raw);
    assert_eq!(t.write(MASTER0, b"A"), Ok(1));
    assert_eq!(t.read_now(SLAVE0, 10), Ok(b"A".to_vec()));
    // The slave closed under the open master: EOF and EIO, both "ready".
    t.close(SLAVE0);
    assert_eq!(t.read_now(MASTER0, 10), Ok(Vec::new()));
    assert_eq!(t.write(MASTER0, b"E"), Err(Errno::EIO));
    assert_eq!(
        t.select(MASTER0, sel::READ | sel::WRITE, false),
        Ok(sel::READ | sel::WRITE)
    );
    // Reopened, it talks again.
    assert_eq!(t.open(SLAVE0), Ok(0));
    assert_eq!(t.write(MASTER0, b"B"), Ok(1));
    assert_eq!(t.read_now(SLAVE0, 10), Ok(b"B".to_vec()));
    assert_eq!(t.select(MASTER0, sel::READ, false), Ok(0));
    // Closed in order slave, master: no hang-up is left behind; a slave
    // alone opens and closes; the next master starts fresh.
    t.close(SLAVE0);
    t.close(MASTER0);
    assert_eq!(t.open(SLAVE0), Ok(0));
    t.close(SLAVE0);
    assert_eq!(t.open(MASTER0), Ok(0));
    assert_eq!(t.tcgets(MASTER0), Termios::default());
    // Master writes before any slave wait for it (not EIO).
    assert_eq!(t.write(MASTER0, b"w"), Ok(1));
    assert_eq!(t.open(SLAVE0), Ok(0));
    let mut raw = t.tcgets(SLAVE0);
    raw.make_raw();
    t.tcsets(SLAVE0, raw);
    assert_eq!(t.read_now(SLAVE0, 10), Ok(b"w".to_vec()));
    assert_eq!(t.signals(), vec![]);
}

#[test]
fn pty_signals_and_hangup() {
    let mut t = setup();
    t.open(MASTER0).unwrap();
    t.open(SLAVE0).unwrap();
    t.set_pgrp(SLAVE0, 77);
    t.write(MASTER0, b"x\x03").unwrap();
    assert_eq!(t.signals(), vec![(77, sig::SIGINT)]);
    // A window size change: SIGWINCH.
    let w = Winsize {
        row: 50,
        col: 132,
        xpixel: 0,
        ypixel: 0,
    };
    let (r, _) = t.ioctl(MASTER0, req::TIOCSWINSZ, w.to_bytes().to_vec(), false);
    assert_eq!(r, Ok(0));
    assert_eq!(t.signals(), vec![(77, sig::SIGWINCH)]);
    let (r, b) = t.ioctl(SLAVE0, req::TIOCGWINSZ, vec![0; 8], true);
    assert_eq!((r, Winsize::from_bytes(&b)), (Ok(0), Some(w)));
    // Master closes while a slave read waits: EOF, then writes fail, the
    // foreground group gets SIGHUP.
    let rd = t.start_read(SLAVE0, 10);
    assert!(t.finish_read(rd).is_none());
    t.close(MASTER0);
    assert_eq!(t.finish_read(rd), Some(Ok(Vec::new())));
    assert_eq!(t.signals(), vec![(77, sig::SIGHUP)]);
    assert_eq!(t.read_now(SLAVE0, 10), Ok(Vec::new()));
    assert_eq!(t.write(SLAVE0, b"late"), Err(Errno::EIO));
    assert_eq!(
        t.select(SLAVE0, sel::READ | sel::WRITE, false),
        Ok(sel::READ | sel::WRITE)
    );
    // The pair can be opened again, fresh.
    t.close(SLAVE0);
    assert_eq!(t.open(MASTER0), Ok(0));
    assert_eq!(t.open(SLAVE0), Ok(0));
    assert_eq!(t.tcgets(SLAVE0), Termios::default());
    assert_eq!(t.read_now(SLAVE0, 10), Err(Errno::EAGAIN));
}

#[test]
fn a_restart_keeps_settings_group_window_and_unread_input() {
    let mut t = setup();
    t.open(CONSOLE).unwrap();
    let mut tm = t.tcgets(CONSOLE);
    tm.lflag &= !lflag::ECHO;
    t.tcsets(CONSOLE, tm);
    t.set_pgrp(CONSOLE, 9);
    t.type_in(b"typed before\rhalf");
    t.open(MASTER0).unwrap();
    t.open(SLAVE0).unwrap();
    t.set_pgrp(SLAVE0, 11);
    t.write(MASTER0, b"pty line\n").unwrap();
    t.restart();
    assert_eq!(t.uart.0.borrow().started, 2);
    // Settings and group kept.
    assert_eq!(t.tcgets(CONSOLE), tm);
    t.type_in(b"\x03");
    assert_eq!(t.signals(), vec![(9, sig::SIGINT)]);
    // (^C flushed the console input; the pty's is still there.)
    assert_eq!(t.read_now(SLAVE0, 100), Ok(b"pty line\n".to_vec()));
    // The master is still open (a second open fails), its group kept.
    assert_eq!(t.open(MASTER0), Err(Errno::EIO));
    let (r, b) = t.ioctl(SLAVE0, req::TIOCGPGRP, vec![0; 4], true);
    assert_eq!((r, b), (Ok(0), 11u32.to_le_bytes().to_vec()));
}

#[test]
fn a_restart_keeps_unread_console_input() {
    let mut t = setup();
    t.open(CONSOLE).unwrap();
    t.type_in(b"first\rsecond\rhal");
    t.restart();
    assert_eq!(t.read_now(CONSOLE, 100), Ok(b"first\n".to_vec()));
    assert_eq!(t.read_now(CONSOLE, 100), Ok(b"second\n".to_vec()));
    t.type_in(b"f\r");
    assert_eq!(t.read_now(CONSOLE, 100), Ok(b"half\n".to_vec()));
}

#[test]
fn garbage_gets_errors_not_a_crash() {
    let mut t = setup();
    let mut m = Message::new(0x8ff);
    m.payload_mut()[..8].copy_from_slice(&5u64.to_le_bytes());
    let r = t.sim.call(t.ep, m).unwrap();
    assert_eq!(done(&r), Err(Errno::ENOSYS));
    // A grant that is not there.
    let id = t.id();
    let r = t.call(CdevRequest::Write {
        id,
        minor: CONSOLE,
        grant: sys::GrantId(999),
        size: 10,
        nonblock: false,
    });
    assert!(done(&r).is_err());
    let r = t.call(CdevRequest::Ioctl {
        id: 3,
        minor: CONSOLE,
        req: req::TCSETS,
        grant: sys::GrantId(999),
        len: 44,
    });
    assert!(done(&r).is_err());
    assert!(t.sim.is_alive("tty"));
    assert_eq!(t.open(CONSOLE), Ok(0));
}

/// VFS's TIOCSCTTY after a session leader acquired the slave: the
/// leader's pid (from PM) becomes the foreground group, so closing the
/// master sends SIGHUP to that session (test77 e); an explicit TIOCSPGRP
/// still rules, and an unknown endpoint changes nothing.
#[test]
fn acquiring_a_controlling_terminal_makes_its_session_the_foreground() {
    let mut t = setup();
    t.open(MASTER0).unwrap();
    t.open(SLAVE0).unwrap();
    let pgrp = |t: &mut T, minor| {
        let (r, b) = t.ioctl(minor, req::TIOCGPGRP, vec![0; 4], true);
        assert_eq!(r, Ok(0));
        u32::from_le_bytes(b.try_into().unwrap())
    };
    assert_eq!(pgrp(&mut t, SLAVE0), 0);
    let leader = 0x0003_0017u32;
    let (r, _) = t.ioctl(SLAVE0, req::TIOCSCTTY, leader.to_le_bytes().to_vec(), false);
    assert_eq!(r, Ok(0));
    t.sim.run_for(5);
    assert_eq!(pgrp(&mut t, SLAVE0), 0x17 + 1000);
    // Unknown to PM: the group stays.
    let (r, _) = t.ioctl(SLAVE0, req::TIOCSCTTY, 0u32.to_le_bytes().to_vec(), false);
    assert_eq!(r, Ok(0));
    t.sim.run_for(5);
    assert_eq!(pgrp(&mut t, SLAVE0), 0x17 + 1000);
    t.close(MASTER0);
    assert_eq!(t.signals(), vec![(0x17 + 1000, sig::SIGHUP)]);
    // The console: a later TIOCSPGRP wins.
    t.open(CONSOLE).unwrap();
    let (r, _) = t.ioctl(
        CONSOLE,
        req::TIOCSCTTY,
        leader.to_le_bytes().to_vec(),
        false,
    );
    assert_eq!(r, Ok(0));
    t.sim.run_for(5);
    t.set_pgrp(CONSOLE, 5);
    assert_eq!(pgrp(&mut t, CONSOLE), 5);
    // A short argument is refused.
    let (r, _) = t.ioctl(CONSOLE, req::TIOCSCTTY, vec![0; 2], false);
    assert_eq!(r, Err(Errno::EINVAL));
}

/// A missed interrupt edge does not hang the console: while a read waits,
/// the driver looks at the device every `POLL_TICKS`.
#[test]
fn a_missed_interrupt_is_covered_by_the_clock_poll() {
    let mut t = setup();
    t.open(CONSOLE).unwrap();
    let rd = t.start_read(CONSOLE, 100);
    assert!(t.finish_read(rd).is_none());
    // Bytes arrive but no interrupt is delivered.
    t.uart.0.borrow_mut().rx.extend(b"quiet\r");
    t.sim.run_for(2 * tty::driver::POLL_TICKS);
    assert_eq!(t.finish_read(rd), Some(Ok(b"quiet\n".to_vec())));
    let found = t
        .sim
        .with_process::<Sef<Tty<FakeSerial>>, _>("tty", |s| s.service().stats().polls_found)
        .unwrap();
    assert_eq!(found, 1);
}
