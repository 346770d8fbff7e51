//! Pipes and FIFOs through VFS and PFS: pipe(), EOF when the writers are
//! gone, EPIPE when the readers are, ESPIPE, a reader suspended in PFS while
//! another process's calls go on, and the FIFO open rendezvous between two
//! processes.

mod common;

use common::*;
use mfs::server::MfsConfig;
use std::cell::RefCell;
use std::rc::Rc;
use sys::Errno::*;
use sys::proto::service::Policy;
use sys::proto::vfs::{mode, oflag::*, whence::SEEK_SET};
use sys::{Endpoint, Message, Process, Sys};
use vfs::client::Client;

fn w() -> World {
    let mut w = world(31, 1, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    w
}

#[test]
fn pipe_basics() {
    let mut w = w();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        let (r, wr) = c.pipe(s).unwrap();
        assert_eq!((r, wr), (0, 1));
        assert_eq!(c.write(s, wr, b"through the pipe").unwrap(), 16);
        assert_eq!(c.read(s, r, 7).unwrap(), b"through");
        assert_eq!(c.read(s, r, 100).unwrap(), b" the pipe");
        assert_eq!(c.lseek(s, r, 0, SEEK_SET), Err(ESPIPE));
        assert_eq!(c.write(s, r, b"x"), Err(EBADF));
        assert_eq!(c.read(s, wr, 1), Err(EBADF));
        assert_eq!(c.fstat(s, r).unwrap().mode & mode::S_IFMT, mode::S_IFIFO);
        // A duplicate keeps the write end open; EOF only after both close.
        let wr2 = c.dup(s, wr).unwrap();
        c.write(s, wr2, b"last").unwrap();
        c.close(s, wr).unwrap();
        c.close(s, wr2).unwrap();
        assert_eq!(c.read(s, r, 100).unwrap(), b"last");
        assert_eq!(c.read(s, r, 100).unwrap(), b"");
        c.close(s, r).unwrap();
        // Readers gone: EPIPE.
        let (r, wr) = c.pipe(s).unwrap();
        c.close(s, r).unwrap();
        assert_eq!(c.write(s, wr, b"nobody"), Err(EPIPE));
        c.close(s, wr).unwrap();
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
}

/// Runs `script` on its first alarm (so it starts while another process
/// is blocked).
type LaterFn = Box<dyn FnOnce(&mut dyn Sys)>;

struct Later {
    f: Option<LaterFn>,
}

impl Process for Later {
    fn start(&mut self, s: &mut dyn Sys) {
        s.set_alarm(5);
    }
    fn receive(&mut self, s: &mut dyn Sys, msg: Message) {
        if msg.source() == Endpoint::CLOCK
            && let Some(f) = self.f.take()
        {
            f(s);
        }
    }
}

#[test]
fn fifo_rendezvous_and_blocking_read() {
    let mut w = w();
    let made = slot::<bool>();
    let m2 = made.clone();
    w.run(move |s, c| {
        c.mknod(s, "/fifo", mode::S_IFIFO | 0o666, 0).unwrap();
        // Non-blocking write open without a reader: ENXIO.
        assert_eq!(c.open(s, "/fifo", O_WRONLY | O_NONBLOCK, 0), Err(ENXIO));
        m2.borrow_mut().replace(true);
    });
    assert_eq!(*made.borrow(), Some(true));
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    let l2 = log.clone();
    let vfs = w.vfs;
    // The writer starts later, while the reader is blocked in open().
    w.sim
        .spawn_user(
            "writer",
            Box::new(Later {
                f: Some(Box::new(move |s: &mut dyn Sys| {
                    let mut c = Client::new(vfs);
                    l2.borrow_mut().push("writer opens".into());
                    let fd = c.open(s, "/fifo", O_WRONLY, 0).unwrap();
                    // Other calls proceed while the reader waits in PFS.
                    assert!(c.stat(s, "/").is_ok());
                    l2.borrow_mut().push("writer writes".into());
                    c.write(s, fd, b"hello fifo").unwrap();
                    c.close(s, fd).unwrap();
                    l2.borrow_mut().push("writer closed".into());
                })),
            }),
        )
        .unwrap();
    let got = slot::<(Vec<u8>, Vec<u8>)>();
    let g2 = got.clone();
    let l3 = log.clone();
    w.run(move |s, c| {
        l3.borrow_mut().push("reader opens".into());
        let fd = c.open(s, "/fifo", O_RDONLY, 0).unwrap();
        l3.borrow_mut().push("reader opened".into());
        let mut data = Vec::new();
        loop {
            let d = c.read(s, fd, 100).unwrap();
            if d.is_empty() {
                break;
            }
            data.extend(d);
        }
        c.close(s, fd).unwrap();
        g2.borrow_mut().replace((data, Vec::new()));
    });
    let (data, _) = got.borrow_mut().take().expect("reader finished");
    assert_eq!(data, b"hello fifo");
    let log = log.borrow();
    assert_eq!(log[0], "reader opens");
    assert_eq!(log[1], "writer opens");
    assert!(log.contains(&"writer closed".to_string()));
}
