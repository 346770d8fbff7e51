//! What VFS learns from PM about processes (`VfsPmCall`), in the
//! simulator: fork copies the descriptor table (shared open files and
//! offsets), directories, umask and credentials; exit closes everything
//! (pipe peers see EOF) and drops a suspended call unanswered; exec checks
//! and close-on-exec; credentials; unpause answers a suspended call EINTR;
//! umask and chroot; SIGPIPE; only the process DS names "pm" may send them.
//!
//! PM is stood in for by a service labelled "pm" (started through RS, so
//! DS names it) that relays the harness's calls to VFS. User processes are
//! puppets: the test hands them closures to run (blocking client calls,
//! or requests whose answers land in their inbox).

mod common;

use common::puppets::*;
use sys::Errno::*;
use sys::proto::fs::Buf;
use sys::proto::vfs::fcntl::{F_SETFD, FD_CLOEXEC};
use sys::proto::vfs::{VfsAnswer, VfsCall, VfsPmCall, VfsReply, mode, oflag::*, whence::SEEK_CUR};
use sys::{GrantAccess, HZ, Sys};
use vfs::client::Client;

#[test]
fn fork_shares_open_files_and_offsets() {
    let mut t = T::new(61, 1);
    let parent = t.puppet("parent");
    let child = t.puppet("child");
    let fd = t.get(&parent, |s, c| {
        c.mkdir(s, "/home", 0o755).unwrap();
        c.chdir(s, "/home").unwrap();
        let fd = c.open(s, "f", O_CREAT | O_RDWR, 0o644).unwrap();
        assert_eq!(c.write(s, fd, b"ab").unwrap(), 2);
        c.umask(s, 0o077).unwrap();
        fd
    });
    t.fork(&parent, &child);
    assert_eq!(t.vfs(|v| v.open_fds(child.ep)), 1);
    t.on(&child, move |s, c| {
        // The same open file: the child's write moves the shared offset.
        assert_eq!(c.lseek(s, fd, 0, SEEK_CUR).unwrap(), 2);
        assert_eq!(c.write(s, fd, b"cd").unwrap(), 2);
        // Working directory and umask came along.
        let g = c.open(s, "g", O_CREAT | O_WRONLY, 0o666).unwrap();
        assert_eq!(c.fstat(s, g).unwrap().mode & 0o777, 0o600);
        assert_eq!(c.umask(s, 0).unwrap(), 0o077);
        // Closing its copy leaves the parent's descriptor open.
        c.close(s, fd).unwrap();
    });
    t.on(&parent, move |s, c| {
        assert_eq!(c.lseek(s, fd, 0, SEEK_CUR).unwrap(), 4, "offset shared");
        c.lseek(s, fd, 0, sys::proto::vfs::whence::SEEK_SET)
            .unwrap();
        assert_eq!(c.read(s, fd, 10).unwrap(), b"abcd");
        assert!(c.stat(s, "/home/g").is_ok());
        // The parent's umask is its own.
        assert_eq!(c.umask(s, 0o022).unwrap(), 0o077);
    });
    // A child VFS knows already is refused.
    let (pe, ce) = (parent.ep, child.ep);
    assert_eq!(
        t.pm_value(|id| VfsPmCall::Fork {
            id,
            parent: pe,
            child: ce
        }),
        Err(EEXIST)
    );
}

#[test]
fn fork_copies_credentials_and_chroot() {
    let mut t = T::new(62, 1);
    let parent = t.puppet("parent");
    let child = t.puppet("child");
    t.on(&parent, |s, c| {
        c.mkdir(s, "/jail", 0o755).unwrap();
        let f = c
            .open(s, "/jail/inside", O_CREAT | O_WRONLY, 0o600)
            .unwrap();
        c.close(s, f).unwrap();
        c.chroot(s, "/jail").unwrap();
    });
    t.set_cred(&parent, 9, 9, 9, 9);
    t.fork(&parent, &child);
    t.on(&child, |s, c| {
        // Still confined, still uid 9.
        assert_eq!(c.stat(s, "/jail"), Err(ENOENT));
        assert_eq!(c.open(s, "/inside", O_RDONLY, 0), Err(EACCES));
        assert!(c.stat(s, "/inside").is_ok());
    });
}

#[test]
fn exit_closes_the_write_end_and_the_reader_sees_eof() {
    let mut t = T::new(63, 1);
    let reader = t.puppet("reader");
    let writer = t.puppet("writer");
    let (r, wr) = t.get(&reader, |s, c| c.pipe(s).unwrap());
    t.fork(&reader, &writer);
    t.on(&reader, move |s, c| c.close(s, wr).unwrap());
    t.on(&writer, move |s, c| {
        c.close(s, r).unwrap();
        assert_eq!(c.write(s, wr, b"last words").unwrap(), 10);
    });
    let id = t.id();
    t.start(&reader, read_call(id, r, 100));
    assert_eq!(t.answer(&reader, id), Ok(VfsAnswer::Value(10)));
    // Empty, the writer still holds its end: the read waits.
    let id = t.id();
    t.start(&reader, read_call(id, r, 100));
    t.w.sim.run_for(HZ);
    assert!(reader.inbox.borrow().is_empty(), "the read waits");
    t.exit(&writer);
    assert_eq!(t.answer(&reader, id), Ok(VfsAnswer::Value(0)), "EOF");
    assert!(!t.vfs(|v| v.knows(writer.ep)));
    assert_eq!(t.vfs(|v| v.open_fds(writer.ep)), 0);
}

#[test]
fn exit_while_suspended_on_a_pipe_read_leaves_no_answer_and_no_leak() {
    let mut t = T::new(64, 1);
    let p = t.puppet("p");
    let pipes_before = t.pfs_pipes();
    let (r, _wr) = t.get(&p, |s, c| c.pipe(s).unwrap());
    let id = t.id();
    t.start(&p, read_call(id, r, 100));
    t.w.sim.run_for(HZ);
    assert_eq!(t.pfs_suspended(), 1, "the read waits in PFS");
    assert_eq!(t.vfs(|v| v.in_flight().0), 1);
    t.exit(&p);
    t.w.sim.run_for(5 * HZ);
    assert!(
        p.inbox.borrow().is_empty(),
        "no answer to an exited process"
    );
    assert_eq!(t.pfs_suspended(), 0, "the read was cancelled in PFS");
    assert_eq!(t.pfs_pipes(), pipes_before, "both ends closed: pipe freed");
    assert_eq!(t.vfs(|v| v.in_flight()), (0, 0, 0));
    assert!(!t.vfs(|v| v.knows(p.ep)));
}

#[test]
fn exit_releases_the_working_directory() {
    let mut t = T::new(65, 2);
    let p = t.puppet("p");
    t.on(&p, |s, c| {
        c.chdir(s, "/mnt2").unwrap();
        let f = c.open(s, "x", O_CREAT | O_WRONLY, 0o644).unwrap();
        c.write(s, f, b"x").unwrap();
    });
    let admin = t.puppet("admin");
    t.on(&admin, |s, c| assert_eq!(c.umount(s, "/mnt2"), Err(EBUSY)));
    t.exit(&p);
    t.on(&admin, |s, c| c.umount(s, "/mnt2").unwrap());
}

#[test]
fn exec_check_wants_a_regular_file_with_an_x_bit() {
    let mut t = T::new(66, 1);
    let p = t.puppet("p");
    let fds = t.get(&p, |s, c| {
        let mk = |s: &mut dyn Sys, c: &mut Client, path: &str, m: u16| {
            let f = c.open(s, path, O_CREAT | O_RDWR, m).unwrap();
            c.chmod(s, path, m).unwrap();
            f
        };
        let prog = mk(s, c, "/prog", 0o4755);
        let plain = mk(s, c, "/plain", 0o644);
        let own = mk(s, c, "/ownerx", 0o700);
        c.mkdir(s, "/d", 0o755).unwrap();
        let d = c.open(s, "/d", O_RDONLY, 0).unwrap();
        let (r, _) = c.pipe(s).unwrap();
        [prog, plain, own, d, r]
    });
    let [prog, plain, own, d, r] = fds;
    // Root: any x bit will do, none is EACCES.
    let st = t.exec_check(&p, prog).unwrap();
    assert_eq!(st.mode, mode::S_IFREG | 0o4755, "set-uid bit for PM");
    assert_eq!((st.uid, st.gid), (0, 0));
    assert!(t.exec_check(&p, own).is_ok());
    assert_eq!(t.exec_check(&p, plain), Err(EACCES));
    // Not regular files.
    assert_eq!(t.exec_check(&p, d), Err(EACCES));
    assert_eq!(t.exec_check(&p, r), Err(EACCES));
    assert_eq!(t.exec_check(&p, 40), Err(EBADF));
    // Another user: only the others' x bit counts.
    t.set_cred(&p, 5, 5, 5, 5);
    assert!(t.exec_check(&p, prog).is_ok());
    assert_eq!(t.exec_check(&p, own), Err(EACCES));
    // The mode now, not at open.
    t.set_cred(&p, 0, 0, 0, 0);
    t.on(&p, |s, c| c.chmod(s, "/prog", 0o644).unwrap());
    assert_eq!(t.exec_check(&p, prog), Err(EACCES));
}

#[test]
fn exec_done_closes_only_close_on_exec_descriptors() {
    let mut t = T::new(67, 1);
    let p = t.puppet("p");
    let (keep, gone, r, wr) = t.get(&p, |s, c| {
        let keep = c.open(s, "/keep", O_CREAT | O_RDWR, 0o644).unwrap();
        let gone = c.open(s, "/gone", O_CREAT | O_RDWR, 0o644).unwrap();
        let (r, wr) = c.pipe(s).unwrap();
        c.fcntl(s, gone, F_SETFD, FD_CLOEXEC).unwrap();
        c.fcntl(s, wr, F_SETFD, FD_CLOEXEC).unwrap();
        (keep, gone, r, wr)
    });
    let ep = p.ep;
    assert_eq!(t.pm_value(|id| VfsPmCall::ExecDone { id, ep }), Ok(0));
    assert_eq!(t.vfs(|v| v.open_fds(p.ep)), 2);
    t.on(&p, move |s, c| {
        assert!(c.fstat(s, keep).is_ok());
        assert_eq!(c.fstat(s, gone), Err(EBADF));
        assert_eq!(c.fstat(s, wr), Err(EBADF));
        // The write end was closed like close(2): the reader sees EOF.
        assert_eq!(c.read(s, r, 10).unwrap(), b"");
    });
}

#[test]
fn o_cloexec_marks_the_new_descriptor_close_on_exec() {
    use sys::proto::vfs::fcntl::{F_GETFD, F_GETFL};
    let mut t = T::new(77, 1);
    let p = t.puppet("p");
    let (keep, gone) = t.get(&p, |s, c| {
        let keep = c.open(s, "/keep", O_CREAT | O_RDWR, 0o644).unwrap();
        let gone = c.open(s, "/keep", O_RDONLY | O_CLOEXEC, 0).unwrap();
        assert_eq!(c.fcntl(s, keep, F_GETFD, 0).unwrap(), 0);
        assert_eq!(c.fcntl(s, gone, F_GETFD, 0).unwrap(), FD_CLOEXEC);
        // A descriptor flag, not a file status flag.
        assert_eq!(c.fcntl(s, gone, F_GETFL, 0).unwrap(), i64::from(O_RDONLY));
        // A failed open marks nothing: the next descriptor is plain.
        assert_eq!(c.open(s, "/none", O_RDONLY | O_CLOEXEC, 0), Err(ENOENT));
        let next = c.open(s, "/keep", O_RDONLY, 0).unwrap();
        assert_eq!(c.fcntl(s, next, F_GETFD, 0).unwrap(), 0);
        c.close(s, next).unwrap();
        (keep, gone)
    });
    let ep = p.ep;
    assert_eq!(t.pm_value(|id| VfsPmCall::ExecDone { id, ep }), Ok(0));
    t.on(&p, move |s, c| {
        assert!(c.fstat(s, keep).is_ok());
        assert_eq!(c.fstat(s, gone), Err(EBADF));
    });
}

#[test]
fn set_cred_changes_permission_outcomes() {
    let mut t = T::new(68, 1);
    let p = t.puppet("p");
    t.on(&p, |s, c| {
        let f = c.open(s, "/secret", O_CREAT | O_WRONLY, 0o600).unwrap();
        c.close(s, f).unwrap();
        c.mkdir(s, "/pub", 0o777).unwrap();
        // A process VFS never heard of is root.
        let f = c.open(s, "/secret", O_RDONLY, 0).unwrap();
        c.close(s, f).unwrap();
    });
    t.set_cred(&p, 5, 6, 5, 6);
    t.on(&p, |s, c| {
        assert_eq!(c.open(s, "/secret", O_RDONLY, 0), Err(EACCES));
        let f = c.open(s, "/pub/mine", O_CREAT | O_WRONLY, 0o644).unwrap();
        let st = c.fstat(s, f).unwrap();
        assert_eq!((st.uid, st.gid), (5, 6), "owner: the effective ids");
        assert_eq!(c.chroot(s, "/pub"), Err(EPERM));
    });
    // Effective root with a real uid of 5 (set-uid root): allowed.
    t.set_cred(&p, 5, 6, 0, 0);
    t.on(&p, |s, c| {
        let f = c.open(s, "/secret", O_RDONLY, 0).unwrap();
        c.close(s, f).unwrap();
    });
    // Real root, effective 5: refused.
    t.set_cred(&p, 0, 0, 5, 6);
    t.on(&p, |s, c| {
        assert_eq!(c.open(s, "/secret", O_RDONLY, 0), Err(EACCES));
    });
    let ep = p.ep;
    assert_eq!(
        t.pm_value(|id| VfsPmCall::SetCred {
            id,
            ep,
            uid: 70_000,
            gid: 0,
            euid: 0,
            egid: 0
        }),
        Err(EINVAL)
    );
}

#[test]
fn unpause_interrupts_a_pipe_read() {
    let mut t = T::new(69, 1);
    let p = t.puppet("p");
    assert_eq!(t.unpause(&p), 0, "nothing suspended");
    let (r, wr) = t.get(&p, |s, c| c.pipe(s).unwrap());
    let id = t.id();
    t.start(&p, read_call(id, r, 100));
    t.w.sim.run_for(HZ);
    assert!(p.inbox.borrow().is_empty());
    assert_eq!(t.unpause(&p), 1);
    assert_eq!(t.answer(&p, id), Err(EINTR));
    assert_eq!(t.unpause(&p), 0, "answered already");
    t.w.sim.run_for(HZ);
    assert_eq!(t.pfs_suspended(), 0, "cancelled in PFS");
    // The interrupted read is gone for good: data written now is the next
    // read's, not swallowed by it.
    t.on(&p, move |s, c| {
        c.write(s, wr, b"after").unwrap();
        assert_eq!(c.read(s, r, 100).unwrap(), b"after");
    });
    assert_eq!(t.vfs(|v| v.in_flight()), (0, 0, 0));
}

#[test]
fn unpause_interrupts_a_select() {
    let mut t = T::new(70, 1);
    let p = t.puppet("p");
    let (r, wr) = t.get(&p, |s, c| c.pipe(s).unwrap());
    // Waiting for ever, and with a long timeout (t40f's last case: a
    // select interrupted by a signal returns EINTR).
    for timeout in [None, Some((30, 0))] {
        let id = t.id();
        t.start(&p, select_call(id, r, timeout));
        t.w.sim.run_for(HZ);
        assert!(p.inbox.borrow().is_empty(), "select waits");
        assert_eq!(t.unpause(&p), 1);
        assert_eq!(t.answer(&p, id), Err(EINTR));
        assert_eq!(t.unpause(&p), 0);
    }
    t.w.sim.run_for(HZ);
    assert_eq!(t.pfs_suspended(), 0);
    assert_eq!(t.vfs(|v| v.in_flight()), (0, 0, 0));
    // A write still wakes a new select normally.
    let id = t.id();
    t.start(&p, select_call(id, r, None));
    t.on(&p, move |s, c| {
        c.write(s, wr, b"x").unwrap();
    });
    assert_eq!(t.answer(&p, id), Ok(VfsAnswer::Value(1)));
    // Nothing was suspended during a plain call.
    assert_eq!(t.unpause(&p), 0);
}

#[test]
fn umask_is_applied_to_creations() {
    let mut t = T::new(71, 1);
    let p = t.puppet("p");
    t.on(&p, |s, c| {
        assert_eq!(c.umask(s, 0o027).unwrap(), 0, "no mask by default");
        let f = c.open(s, "/f", O_CREAT | O_WRONLY, 0o666).unwrap();
        assert_eq!(c.fstat(s, f).unwrap().mode, mode::S_IFREG | 0o640);
        c.mkdir(s, "/d", 0o777).unwrap();
        assert_eq!(c.stat(s, "/d").unwrap().mode, mode::S_IFDIR | 0o750);
        c.mknod(s, "/fifo", mode::S_IFIFO | 0o666, 0).unwrap();
        assert_eq!(c.stat(s, "/fifo").unwrap().mode, mode::S_IFIFO | 0o640);
        // Only permission bits are kept.
        assert_eq!(c.umask(s, 0o7777).unwrap(), 0o027);
        assert_eq!(c.umask(s, 0).unwrap(), 0o777);
        // Opening an existing file does not change it.
        c.open(s, "/f", O_CREAT | O_WRONLY, 0o600).unwrap();
        assert_eq!(c.stat(s, "/f").unwrap().mode, mode::S_IFREG | 0o640);
    });
}

#[test]
fn chroot_confines_path_resolution() {
    let mut t = T::new(72, 1);
    let p = t.puppet("p");
    t.on(&p, |s, c| {
        c.mkdir(s, "/jail", 0o755).unwrap();
        c.mkdir(s, "/jail/sub", 0o755).unwrap();
        for f in ["/outside", "/jail/inside"] {
            let fd = c.open(s, f, O_CREAT | O_WRONLY, 0o644).unwrap();
            c.close(s, fd).unwrap();
        }
        c.symlink(s, "/inside", "/jail/sub/abs").unwrap();
        c.symlink(s, "../../../..", "/jail/sub/up").unwrap();
        assert_eq!(c.chroot(s, "/outside"), Err(ENOTDIR));
        c.chroot(s, "/jail").unwrap();
        let root = c.stat(s, "/").unwrap().ino;
        assert_eq!(c.stat(s, "/outside"), Err(ENOENT));
        assert!(c.stat(s, "/inside").is_ok());
        // `..` stops at the process root, however many there are.
        for up in [
            "/..",
            "/../..",
            "/sub/../..",
            "/sub/../../sub/..",
            "/sub/up",
        ] {
            assert_eq!(c.stat(s, up).unwrap().ino, root, "{up}");
        }
        assert_eq!(c.stat(s, "/../outside"), Err(ENOENT));
        assert_eq!(c.stat(s, "/sub/up/outside"), Err(ENOENT));
        assert!(c.stat(s, "/../../inside").is_ok());
        // Absolute symlinks resolve in the jail.
        assert!(c.stat(s, "/sub/abs").is_ok());
        // Relative to a working directory inside it too.
        c.chdir(s, "/sub").unwrap();
        assert_eq!(c.stat(s, "../../..").unwrap().ino, root);
        assert_eq!(c.open(s, "../../outside", O_RDONLY, 0), Err(ENOENT));
        let f = c.open(s, "../../new", O_CREAT | O_WRONLY, 0o644).unwrap();
        c.close(s, f).unwrap();
        assert!(c.stat(s, "/new").is_ok());
    });
    // The file landed in the jail, seen from outside.
    let other = t.puppet("other");
    t.on(&other, |s, c| {
        assert!(c.stat(s, "/jail/new").is_ok());
        assert_eq!(c.stat(s, "/new"), Err(ENOENT));
    });
}

#[test]
fn sigpipe_goes_with_epipe() {
    let mut t = T::new(73, 1);
    let p = t.puppet("p");
    t.on(&p, |s, c| {
        let (r, wr) = c.pipe(s).unwrap();
        c.write(s, wr, b"fine").unwrap();
        c.close(s, r).unwrap();
    });
    assert!(t.w.sim.signals().is_empty(), "no signal for a good write");
    t.on(&p, |s, c| {
        assert_eq!(c.write(s, 1, b"nobody reads"), Err(EPIPE));
    });
    assert_eq!(t.w.sim.signals(), &[(t.w.vfs, p.ep, vfs::SIGPIPE)]);
    assert_eq!(vfs::SIGPIPE, 13);
}

#[test]
fn only_pm_may_send_pm_calls() {
    let mut t = T::new(74, 1);
    let p = t.puppet("p");
    let ep = p.ep;
    // From the harness and from a user process: EPERM, nothing done.
    let m = VfsPmCall::SetCred {
        id: 5,
        ep,
        uid: 1,
        gid: 1,
        euid: 1,
        egid: 1,
    }
    .to_message();
    let rep = t.w.sim.call(t.w.vfs, m).unwrap();
    assert_eq!(VfsReply::try_from(&rep).unwrap().result, Err(EPERM));
    let vfs = t.w.vfs;
    let r = t.get(&p, move |s, _| {
        let rep = s.sendrec(vfs, VfsPmCall::Exit { id: 6, ep }.to_message());
        VfsReply::try_from(&rep.unwrap()).unwrap().result
    });
    assert_eq!(r, Err(EPERM));
    // Still root, still known.
    t.on(&p, |s, c| {
        let f = c.open(s, "/x", O_CREAT | O_WRONLY, 0o600).unwrap();
        c.close(s, f).unwrap();
        c.chmod(s, "/x", 0o000).unwrap();
        assert!(c.open(s, "/x", O_RDONLY, 0).is_ok());
    });
    // PM itself may.
    t.set_cred(&p, 1, 1, 1, 1);
    t.on(&p, |s, c| {
        assert_eq!(c.open(s, "/x", O_RDONLY, 0), Err(EACCES))
    });
}

#[test]
fn unpause_interrupts_a_fifo_open_and_a_device_read() {
    let mut t = T::new(75, 1);
    let p = t.puppet("p");
    let dev = t.get(&p, |s, c| {
        c.mknod(s, "/fifo", mode::S_IFIFO | 0o666, 0).unwrap();
        c.mknod(s, "/loop", mode::S_IFCHR | 0o666, 4 << 8).unwrap();
        c.open(s, "/loop", O_RDWR, 0).unwrap()
    });
    // A FIFO open waiting for a writer.
    let id = t.id();
    t.start(&p, move |s, vfs| {
        let g = s
            .grant_create(vfs, GrantAccess::READ, b"/fifo".to_vec())
            .unwrap();
        VfsCall::Open {
            id,
            path: Buf { grant: g, len: 5 },
            flags: O_RDONLY,
            mode: 0,
        }
    });
    t.w.sim.run_for(HZ);
    assert!(p.inbox.borrow().is_empty(), "open waits");
    assert_eq!(t.unpause(&p), 1);
    assert_eq!(t.answer(&p, id), Err(EINTR));
    t.w.sim.run_for(HZ);
    // The interrupted opener is no reader any more.
    t.on(&p, |s, c| {
        assert_eq!(c.open(s, "/fifo", O_WRONLY | O_NONBLOCK, 0), Err(ENXIO));
    });
    // A device read waiting for data.
    let id = t.id();
    t.start(&p, read_call(id, dev, 10));
    t.w.sim.run_for(HZ);
    assert!(p.inbox.borrow().is_empty(), "read waits");
    assert_eq!(t.unpause(&p), 1);
    assert_eq!(t.answer(&p, id), Err(EINTR));
    t.w.sim.run_for(HZ);
    // The driver dropped the read: the data goes to the next one.
    t.on(&p, move |s, c| {
        assert_eq!(c.write(s, dev, b"abc").unwrap(), 3);
        assert_eq!(c.read(s, dev, 10).unwrap(), b"abc");
    });
    assert_eq!(t.vfs(|v| v.in_flight()), (0, 0, 0));
}

#[test]
fn exit_during_a_file_server_call_waits_for_it_and_answers_nothing() {
    let mut t = T::new(76, 1);
    let p = t.puppet("p");
    t.on(&p, |s, c| {
        let f = c.open(s, "/f", O_CREAT | O_WRONLY, 0o644).unwrap();
        c.write(s, f, b"data").unwrap();
    });
    // MFS stops answering (RS restarts it after missed pings): a stat
    // waits on the file server, which is not a suspended call.
    assert!(t.w.sim.hang_now("mfs"));
    let id = t.id();
    t.start(&p, move |s, vfs| {
        let g = s
            .grant_create(vfs, GrantAccess::READ, b"/f".to_vec())
            .unwrap();
        VfsCall::Stat {
            id,
            path: Buf { grant: g, len: 2 },
        }
    });
    assert_eq!(t.unpause(&p), 0, "a file-server call is not interrupted");
    t.exit(&p);
    t.w.sim.run_for(5 * HZ);
    assert!(p.inbox.borrow().is_empty(), "no answer after exit");
    assert!(!t.vfs(|v| v.knows(p.ep)));
    assert_eq!(t.vfs(|v| v.in_flight()), (0, 0, 0));
    // The file is intact and closed.
    let q = t.puppet("q");
    t.on(&q, |s, c| assert_eq!(c.stat(s, "/f").unwrap().size, 4));
}
