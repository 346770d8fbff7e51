//! POSIX behaviour of the VFS + MFS stack in the simulator, including the
//! error cases.

mod common;

use common::*;
use mfs::server::MfsConfig;
use sys::Errno::*;
use sys::proto::service::Policy;
use sys::proto::vfs::{mode, oflag::*, whence::*};

fn w1() -> World {
    let mut w = world(1, 1, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    w
}

#[test]
fn create_write_read_back() {
    let mut w = w1();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        let fd = c.open(s, "/hello", O_CREAT | O_RDWR, 0o644).unwrap();
        assert_eq!(fd, 0);
        assert_eq!(c.write(s, fd, b"hello, world").unwrap(), 12);
        assert_eq!(c.lseek(s, fd, 0, SEEK_SET).unwrap(), 0);
        assert_eq!(c.read(s, fd, 100).unwrap(), b"hello, world");
        assert_eq!(c.read(s, fd, 100).unwrap(), b"");
        assert_eq!(c.lseek(s, fd, -5, SEEK_END).unwrap(), 7);
        assert_eq!(c.read(s, fd, 3).unwrap(), b"wor");
        assert_eq!(c.lseek(s, fd, 1, SEEK_CUR).unwrap(), 11);
        let st = c.fstat(s, fd).unwrap();
        assert_eq!(st.size, 12);
        assert_eq!(st.mode, mode::S_IFREG | 0o644);
        c.close(s, fd).unwrap();
        assert_eq!(c.close(s, fd), Err(EBADF));
        let st2 = c.stat(s, "/hello").unwrap();
        assert_eq!(st2.ino, st.ino);
        // Large write spanning many blocks.
        let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let fd = c
            .open(s, "/big", O_CREAT | O_WRONLY | O_TRUNC, 0o600)
            .unwrap();
        assert_eq!(c.write(s, fd, &big).unwrap(), big.len());
        c.close(s, fd).unwrap();
        let fd = c.open(s, "/big", O_RDONLY, 0).unwrap();
        let mut back = Vec::new();
        loop {
            let d = c.read(s, fd, 8192).unwrap();
            if d.is_empty() {
                break;
            }
            back.extend(d);
        }
        assert_eq!(back, big);
        c.close(s, fd).unwrap();
        *d2.borrow_mut() = Some(true);
    });
    assert_eq!(*done.borrow(), Some(true));
}

#[test]
fn open_flags() {
    let mut w = w1();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        assert_eq!(c.open(s, "/nope", O_RDONLY, 0), Err(ENOENT));
        let fd = c.open(s, "/f", O_CREAT | O_EXCL | O_WRONLY, 0o644).unwrap();
        assert_eq!(
            c.open(s, "/f", O_CREAT | O_EXCL | O_WRONLY, 0o644),
            Err(EEXIST)
        );
        c.write(s, fd, b"0123456789").unwrap();
        c.close(s, fd).unwrap();
        // O_CREAT without O_EXCL opens the existing file.
        let fd = c.open(s, "/f", O_CREAT | O_RDONLY, 0o644).unwrap();
        assert_eq!(c.read(s, fd, 4).unwrap(), b"0123");
        assert_eq!(c.write(s, fd, b"x"), Err(EBADF));
        c.close(s, fd).unwrap();
        // O_APPEND writes at the end whatever the position.
        let fd = c.open(s, "/f", O_WRONLY | O_APPEND, 0).unwrap();
        c.write(s, fd, b"ab").unwrap();
        assert_eq!(c.read(s, fd, 1), Err(EBADF));
        c.close(s, fd).unwrap();
        assert_eq!(c.stat(s, "/f").unwrap().size, 12);
        // O_TRUNC empties it.
        let fd = c.open(s, "/f", O_RDWR | O_TRUNC, 0).unwrap();
        assert_eq!(c.fstat(s, fd).unwrap().size, 0);
        c.close(s, fd).unwrap();
        // Directories: read-only opens only.
        c.mkdir(s, "/d", 0o755).unwrap();
        assert_eq!(c.open(s, "/d", O_WRONLY, 0), Err(EISDIR));
        let fd = c.open(s, "/d", O_RDONLY, 0).unwrap();
        assert_eq!(c.read(s, fd, 10), Err(EISDIR));
        c.close(s, fd).unwrap();
        assert_eq!(c.open(s, "/f", O_RDONLY | O_DIRECTORY, 0), Err(ENOTDIR));
        assert_eq!(c.open(s, "/f/x", O_RDONLY, 0), Err(ENOTDIR));
        assert_eq!(c.open(s, "/f", 3, 0), Err(EINVAL));
        // Bad descriptors.
        assert_eq!(c.read(s, 17, 1), Err(EBADF));
        assert_eq!(c.read(s, -1, 1), Err(EBADF));
        assert_eq!(c.lseek(s, 40, 0, SEEK_SET), Err(EBADF));
        let fd = c.open(s, "/f", O_RDONLY, 0).unwrap();
        assert_eq!(c.lseek(s, fd, -1, SEEK_SET), Err(EINVAL));
        assert_eq!(c.lseek(s, fd, 0, 7), Err(EINVAL));
        c.close(s, fd).unwrap();
        *d2.borrow_mut() = Some(true);
    });
    assert_eq!(*done.borrow(), Some(true));
}

#[test]
fn dup_and_dup2_share_the_position() {
    let mut w = w1();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        let fd = c.open(s, "/f", O_CREAT | O_RDWR, 0o644).unwrap();
        c.write(s, fd, b"abcdef").unwrap();
        c.lseek(s, fd, 0, SEEK_SET).unwrap();
        let d = c.dup(s, fd).unwrap();
        assert_eq!(d, fd + 1);
        assert_eq!(c.read(s, fd, 2).unwrap(), b"ab");
        assert_eq!(c.read(s, d, 2).unwrap(), b"cd");
        let g = c.open(s, "/f", O_RDONLY, 0).unwrap();
        // dup2 onto an open descriptor closes it first.
        assert_eq!(c.dup2(s, fd, g).unwrap(), g);
        assert_eq!(c.read(s, g, 2).unwrap(), b"ef");
        assert_eq!(c.dup2(s, fd, fd).unwrap(), fd);
        assert_eq!(c.dup2(s, 30, 5), Err(EBADF));
        assert_eq!(c.dup2(s, fd, 1000), Err(EBADF));
        c.close(s, fd).unwrap();
        // The open file lives on through the duplicates.
        assert_eq!(c.lseek(s, d, 0, SEEK_CUR).unwrap(), 6);
        c.close(s, d).unwrap();
        c.close(s, g).unwrap();
        // Descriptor table limit.
        let mut fds = Vec::new();
        loop {
            match c.open(s, "/f", O_RDONLY, 0) {
                Ok(x) => fds.push(x),
                Err(e) => {
                    assert_eq!(e, EMFILE);
                    break;
                }
            }
        }
        assert_eq!(fds.len(), vfs::OPEN_MAX);
        for x in fds {
            c.close(s, x).unwrap();
        }
        *d2.borrow_mut() = Some(true);
    });
    assert_eq!(*done.borrow(), Some(true));
}

#[test]
fn directories_links_rename() {
    let mut w = w1();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        c.mkdir(s, "/a", 0o755).unwrap();
        assert_eq!(c.mkdir(s, "/a", 0o755), Err(EEXIST));
        assert_eq!(c.mkdir(s, "/", 0o755), Err(EEXIST));
        assert_eq!(c.mkdir(s, "/x/y", 0o755), Err(ENOENT));
        c.mkdir(s, "/a/b", 0o700).unwrap();
        let fd = c.open(s, "/a/b/file", O_CREAT | O_WRONLY, 0o644).unwrap();
        c.write(s, fd, b"data").unwrap();
        c.close(s, fd).unwrap();
        assert_eq!(c.rmdir(s, "/a/b"), Err(ENOTEMPTY));
        assert_eq!(c.rmdir(s, "/a/b/file"), Err(ENOTDIR));
        assert_eq!(c.rmdir(s, "/a/b/."), Err(EINVAL));
        let mut names = c.list_dir(s, "/a/b").unwrap();
        names.sort();
        assert_eq!(names, vec![b".".to_vec(), b"..".to_vec(), b"file".to_vec()]);
        // Hard links.
        c.link(s, "/a/b/file", "/a/hard").unwrap();
        assert_eq!(c.stat(s, "/a/hard").unwrap().nlinks, 2);
        assert_eq!(c.link(s, "/a/b/file", "/a/hard"), Err(EEXIST));
        assert_eq!(c.link(s, "/a/b", "/a/dirlink"), Err(EPERM));
        assert_eq!(c.link(s, "/nope", "/a/x"), Err(ENOENT));
        // Rename over directories and files.
        c.rename(s, "/a/b/file", "/a/moved").unwrap();
        assert_eq!(c.stat(s, "/a/b/file"), Err(ENOENT));
        assert_eq!(c.stat(s, "/a/moved").unwrap().size, 4);
        c.rename(s, "/a/b", "/c").unwrap();
        assert_eq!(c.stat(s, "/c").unwrap().mode & mode::S_IFMT, mode::S_IFDIR);
        c.mkdir(s, "/c/sub", 0o755).unwrap();
        c.mkdir(s, "/e", 0o755).unwrap();
        c.mkdir(s, "/e/full", 0o755).unwrap();
        c.mkdir(s, "/e/full/x", 0o755).unwrap();
        assert_eq!(c.rename(s, "/c", "/e/full"), Err(ENOTEMPTY));
        assert_eq!(c.rename(s, "/a/moved", "/e"), Err(EISDIR));
        assert_eq!(c.rename(s, "/c", "/a/moved"), Err(ENOTDIR));
        assert_eq!(c.rename(s, "/c", "/c/sub/inside"), Err(EINVAL));
        // Unlink.
        c.unlink(s, "/a/moved").unwrap();
        assert_eq!(c.stat(s, "/a/hard").unwrap().nlinks, 1);
        assert_eq!(c.unlink(s, "/a/moved"), Err(ENOENT));
        assert!(c.unlink(s, "/c").is_err());
        c.rmdir(s, "/c/sub").unwrap();
        c.rmdir(s, "/c").unwrap();
        assert_eq!(c.stat(s, "/c"), Err(ENOENT));
        // Unlinked while open: still readable through the descriptor.
        let fd = c.open(s, "/a/hard", O_RDONLY, 0).unwrap();
        c.unlink(s, "/a/hard").unwrap();
        assert_eq!(c.read(s, fd, 10).unwrap(), b"data");
        c.close(s, fd).unwrap();
        // Name length.
        let long = format!("/{}", "n".repeat(61));
        assert_eq!(c.mkdir(s, &long, 0o755), Err(ENAMETOOLONG));
        let ok = format!("/{}", "n".repeat(60));
        c.mkdir(s, &ok, 0o755).unwrap();
        let huge = "/x".repeat(3000);
        assert_eq!(c.stat(s, &huge), Err(ENAMETOOLONG));
        *d2.borrow_mut() = Some(true);
    });
    assert_eq!(*done.borrow(), Some(true));
}

#[test]
fn symlinks_and_eloop() {
    let mut w = w1();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        c.mkdir(s, "/dir", 0o755).unwrap();
        let fd = c.open(s, "/dir/target", O_CREAT | O_WRONLY, 0o644).unwrap();
        c.write(s, fd, b"through the link").unwrap();
        c.close(s, fd).unwrap();
        c.symlink(s, "/dir/target", "/abs").unwrap();
        c.symlink(s, "target", "/dir/rel").unwrap();
        c.symlink(s, "dir", "/dl").unwrap();
        assert_eq!(c.readlink(s, "/abs").unwrap(), b"/dir/target");
        assert_eq!(c.readlink(s, "/dir/target"), Err(EINVAL));
        assert_eq!(c.stat(s, "/abs").unwrap().size, 16);
        assert_eq!(
            c.lstat(s, "/abs").unwrap().mode & mode::S_IFMT,
            mode::S_IFLNK
        );
        let fd = c.open(s, "/dir/rel", O_RDONLY, 0).unwrap();
        assert_eq!(c.read(s, fd, 100).unwrap(), b"through the link");
        c.close(s, fd).unwrap();
        // A symlink in the middle of a path.
        assert_eq!(c.stat(s, "/dl/target").unwrap().size, 16);
        assert_eq!(c.stat(s, "/dl/rel").unwrap().size, 16);
        // Loops.
        c.symlink(s, "/loop2", "/loop1").unwrap();
        c.symlink(s, "/loop1", "/loop2").unwrap();
        assert_eq!(c.stat(s, "/loop1"), Err(ELOOP));
        assert_eq!(c.open(s, "/loop1", O_RDONLY, 0), Err(ELOOP));
        assert!(c.lstat(s, "/loop1").is_ok());
        // Dangling.
        c.symlink(s, "/nowhere", "/dangle").unwrap();
        assert_eq!(c.stat(s, "/dangle"), Err(ENOENT));
        // A chain of 16 links resolves, 17 does not.
        c.symlink(s, "/dir/target", "/l0").unwrap();
        for i in 1..=16 {
            c.symlink(s, &format!("/l{}", i - 1), &format!("/l{i}"))
                .unwrap();
        }
        assert!(c.stat(s, "/l15").is_ok());
        assert_eq!(c.stat(s, "/l16"), Err(ELOOP));
        // unlink removes the link, not the target.
        c.unlink(s, "/abs").unwrap();
        assert!(c.stat(s, "/dir/target").is_ok());
        *d2.borrow_mut() = Some(true);
    });
    assert_eq!(*done.borrow(), Some(true));
}

#[test]
fn attributes_truncate_statvfs_mknod() {
    let mut w = w1();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        let fd = c.open(s, "/f", O_CREAT | O_RDWR, 0o644).unwrap();
        c.write(s, fd, &[7u8; 5000]).unwrap();
        c.ftruncate(s, fd, 100).unwrap();
        assert_eq!(c.fstat(s, fd).unwrap().size, 100);
        c.truncate(s, "/f", 9000).unwrap();
        c.lseek(s, fd, 100, SEEK_SET).unwrap();
        assert_eq!(c.read(s, fd, 10).unwrap(), vec![0u8; 10]);
        c.fsync(s, fd).unwrap();
        c.close(s, fd).unwrap();
        let fd = c.open(s, "/f", O_RDONLY, 0).unwrap();
        assert_eq!(c.ftruncate(s, fd, 0), Err(EINVAL));
        c.close(s, fd).unwrap();
        c.mkdir(s, "/d", 0o755).unwrap();
        assert_eq!(c.truncate(s, "/d", 0), Err(EISDIR));
        c.chmod(s, "/f", 0o600).unwrap();
        assert_eq!(c.stat(s, "/f").unwrap().mode, mode::S_IFREG | 0o600);
        c.chown(s, "/f", 12, 34).unwrap();
        let st = c.stat(s, "/f").unwrap();
        assert_eq!((st.uid, st.gid), (12, 34));
        c.utimes(s, "/f", 1000, 2000).unwrap();
        let st = c.stat(s, "/f").unwrap();
        assert_eq!((st.atime, st.mtime), (1000, 2000));
        let v = c.statvfs(s, "/").unwrap();
        assert_eq!(v.bsize, 4096);
        assert_eq!(v.blocks, BLOCKS);
        assert!(v.bfree > 0 && v.bfree < v.blocks);
        assert!(v.ffree > 0 && v.ffree < v.files);
        let fd = c.open(s, "/g", O_CREAT | O_WRONLY, 0o644).unwrap();
        c.write(s, fd, &[1u8; 40960]).unwrap();
        c.close(s, fd).unwrap();
        let v2 = c.statvfs(s, "/g").unwrap();
        assert!(v2.bfree <= v.bfree - 10, "{} vs {}", v2.bfree, v.bfree);
        c.mknod(s, "/blk", mode::S_IFBLK | 0o600, 0x0301).unwrap();
        let st = c.stat(s, "/blk").unwrap();
        assert_eq!(st.mode & mode::S_IFMT, mode::S_IFBLK);
        assert_eq!(st.rdev, 0x0301);
        c.mknod(s, "/fifo", mode::S_IFIFO | 0o600, 0).unwrap();
        assert_eq!(
            c.stat(s, "/fifo").unwrap().mode & mode::S_IFMT,
            mode::S_IFIFO
        );
        assert_eq!(c.mknod(s, "/fifo", mode::S_IFIFO | 0o600, 0), Err(EEXIST));
        c.sync(s).unwrap();
        *d2.borrow_mut() = Some(true);
    });
    assert_eq!(*done.borrow(), Some(true));
}

#[test]
fn permissions_for_ordinary_users() {
    let mut w = w1();
    let done = slot::<bool>();
    let d2 = done.clone();
    // Root prepares the tree.
    w.run(move |s, c| {
        c.mkdir(s, "/pub", 0o777).unwrap();
        c.mkdir(s, "/priv", 0o700).unwrap();
        let fd = c
            .open(s, "/priv/secret", O_CREAT | O_WRONLY, 0o600)
            .unwrap();
        c.close(s, fd).unwrap();
        let fd = c.open(s, "/ro", O_CREAT | O_WRONLY, 0o644).unwrap();
        c.write(s, fd, b"readable").unwrap();
        c.close(s, fd).unwrap();
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
    // The user's process must exist for VFS to know its credentials: a
    // parked process receives them, then runs its script on a kick.
    let done = slot::<bool>();
    let d2 = done.clone();
    let vfs_ep = w.vfs;
    let user = w
        .sim
        .spawn_user(
            "user",
            Box::new(Kicked {
                f: Some(Box::new(move |s: &mut dyn sys::Sys| {
                    let mut c = vfs::client::Client::new(vfs_ep);
                    let c = &mut c;
                    assert_eq!(c.stat(s, "/priv/secret"), Err(EACCES));
                    assert_eq!(
                        c.open(s, "/priv/new", O_CREAT | O_WRONLY, 0o644),
                        Err(EACCES)
                    );
                    assert_eq!(c.mkdir(s, "/newdir", 0o755), Err(EACCES));
                    assert_eq!(c.open(s, "/ro", O_WRONLY, 0), Err(EACCES));
                    assert_eq!(c.truncate(s, "/ro", 0), Err(EACCES));
                    let fd = c.open(s, "/ro", O_RDONLY, 0).unwrap();
                    assert_eq!(c.read(s, fd, 100).unwrap(), b"readable");
                    c.close(s, fd).unwrap();
                    assert_eq!(c.unlink(s, "/ro"), Err(EACCES));
                    assert_eq!(c.chmod(s, "/ro", 0o777), Err(EPERM));
                    assert_eq!(c.chown(s, "/ro", 100, 100), Err(EPERM));
                    // In a world-writable directory the user creates and owns.
                    let fd = c.open(s, "/pub/mine", O_CREAT | O_WRONLY, 0o600).unwrap();
                    c.close(s, fd).unwrap();
                    let st = c.stat(s, "/pub/mine").unwrap();
                    assert_eq!((st.uid, st.gid), (100, 100));
                    c.chmod(s, "/pub/mine", 0o000).unwrap();
                    // Mode 000: even the owner cannot open it.
                    assert_eq!(c.open(s, "/pub/mine", O_RDONLY, 0), Err(EACCES));
                    c.unlink(s, "/pub/mine").unwrap();
                    d2.borrow_mut().replace(true);
                })),
            }),
        )
        .unwrap();
    w.set_cred(user, 100, 100);
    w.sim.with_process_mut::<Kicked, _>("user", |_| ());
    let _ = w.sim.call(user, sys::Message::new(1));
    assert_eq!(*done.borrow(), Some(true));
}

/// A process that runs its script when it receives a message.
type KickFn = Box<dyn FnOnce(&mut dyn sys::Sys)>;

struct Kicked {
    f: Option<KickFn>,
}

impl sys::Process for Kicked {
    fn receive(&mut self, s: &mut dyn sys::Sys, msg: sys::Message) {
        if let Some(f) = self.f.take() {
            f(s);
            let _ = s.send(msg.source(), sys::Message::new(2));
        }
    }
}

#[test]
fn two_mounts_cross_device_and_busy() {
    let mut w = world(3, 2, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        let a = c.stat(s, "/").unwrap();
        let b = c.stat(s, "/mnt2").unwrap();
        // The mounted root, not the covered directory.
        assert_eq!(b.ino, 1);
        assert_eq!(a.ino, 1);
        let fd = c.open(s, "/mnt2/file", O_CREAT | O_WRONLY, 0o644).unwrap();
        c.write(s, fd, b"second fs").unwrap();
        c.close(s, fd).unwrap();
        let fd = c.open(s, "/rootfile", O_CREAT | O_WRONLY, 0o644).unwrap();
        c.close(s, fd).unwrap();
        assert_eq!(c.rename(s, "/rootfile", "/mnt2/moved"), Err(EXDEV));
        assert_eq!(c.link(s, "/mnt2/file", "/hard"), Err(EXDEV));
        assert_eq!(c.rmdir(s, "/mnt2"), Err(EBUSY));
        // ".." leaves the mounted file system.
        assert_eq!(c.stat(s, "/mnt2/../rootfile").unwrap().size, 0);
        c.mkdir(s, "/mnt2/sub", 0o755).unwrap();
        assert!(c.stat(s, "/mnt2/sub/../../rootfile").is_ok());
        // A symlink on one FS into the other.
        c.symlink(s, "/mnt2/file", "/tosecond").unwrap();
        let fd = c.open(s, "/tosecond", O_RDONLY, 0).unwrap();
        assert_eq!(c.read(s, fd, 100).unwrap(), b"second fs");
        c.close(s, fd).unwrap();
        let v1 = c.statvfs(s, "/").unwrap();
        let v2 = c.statvfs(s, "/mnt2/file").unwrap();
        assert!(v1.ffree != v2.ffree || v1.bfree != v2.bfree);
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
}

#[test]
fn fcntl_basics() {
    use sys::proto::vfs::fcntl::*;
    let mut w = w1();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        let fd = c.open(s, "/f", O_CREAT | O_RDWR, 0o644).unwrap();
        assert_eq!(c.fcntl(s, fd, F_GETFL, 0).unwrap(), i64::from(O_RDWR));
        c.fcntl(s, fd, F_SETFL, i64::from(O_APPEND | O_NONBLOCK | O_TRUNC))
            .unwrap();
        // Only O_APPEND and O_NONBLOCK change.
        assert_eq!(
            c.fcntl(s, fd, F_GETFL, 0).unwrap(),
            i64::from(O_RDWR | O_APPEND | O_NONBLOCK)
        );
        c.write(s, fd, b"ab").unwrap();
        c.lseek(s, fd, 0, SEEK_SET).unwrap();
        c.write(s, fd, b"cd").unwrap();
        assert_eq!(c.stat(s, "/f").unwrap().size, 4, "O_APPEND set by fcntl");
        assert_eq!(c.fcntl(s, fd, F_GETFD, 0).unwrap(), 0);
        c.fcntl(s, fd, F_SETFD, FD_CLOEXEC).unwrap();
        assert_eq!(c.fcntl(s, fd, F_GETFD, 0).unwrap(), FD_CLOEXEC);
        // F_DUPFD: lowest free at or above arg; the copy has no FD_CLOEXEC.
        let d = c.fcntl(s, fd, F_DUPFD, 10).unwrap();
        assert_eq!(d, 10);
        assert_eq!(c.fcntl(s, d as i32, F_GETFD, 0).unwrap(), 0);
        assert_eq!(c.fcntl(s, fd, F_DUPFD, 10).unwrap(), 11);
        assert_eq!(c.fcntl(s, fd, F_DUPFD, -1), Err(EINVAL));
        assert_eq!(c.fcntl(s, fd, F_DUPFD, 64), Err(EINVAL));
        assert_eq!(c.fcntl(s, fd, 99, 0), Err(EINVAL));
        assert_eq!(c.fcntl(s, 50, F_GETFL, 0), Err(EBADF));
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
}

#[test]
fn umount_and_mount_at_run_time() {
    let mut w = world(4, 2, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        let fd = c
            .open(s, "/mnt2/on-second", O_CREAT | O_WRONLY, 0o644)
            .unwrap();
        assert_eq!(c.umount(s, "/mnt2"), Err(EBUSY));
        c.close(s, fd).unwrap();
        // The root is busy while another file system is mounted on it.
        assert_eq!(c.umount(s, "/"), Err(EBUSY));
        c.mkdir(s, "/plain", 0o755).unwrap();
        assert_eq!(c.umount(s, "/plain"), Err(EINVAL));
        c.umount(s, "/mnt2").unwrap();
        // The covered directory of the root FS is back (empty).
        assert_eq!(c.stat(s, "/mnt2/on-second"), Err(ENOENT));
        assert_eq!(
            c.stat(s, "/mnt2").unwrap().ino,
            c.stat(s, "/mnt2/.").unwrap().ino
        );
        assert_ne!(c.stat(s, "/mnt2").unwrap().ino, 1);
        // Mount it again elsewhere.
        let f = c.open(s, "/file", O_CREAT | O_WRONLY, 0o644).unwrap();
        c.close(s, f).unwrap();
        assert_eq!(c.mount(s, "/file", "mfs2"), Err(ENOTDIR));
        assert_eq!(c.mount(s, "/plain", "nosuchfs"), Err(ENODEV));
        c.mount(s, "/plain", "mfs2").unwrap();
        assert_eq!(c.mount(s, "/mnt2", "mfs2"), Err(EBUSY));
        assert!(c.stat(s, "/plain/on-second").is_ok());
        assert!(c.stat(s, "/plain/../file").is_ok());
        assert_eq!(c.rename(s, "/file", "/plain/file"), Err(EXDEV));
        c.umount(s, "/plain").unwrap();
        assert_eq!(c.stat(s, "/plain/on-second"), Err(ENOENT));
        // Shutdown: with nothing else mounted or open, the root unmounts,
        // and from then on every call fails with ENXIO.
        let f = c.open(s, "/file", O_RDONLY, 0).unwrap();
        assert_eq!(c.umount(s, "/"), Err(EBUSY), "a file is open");
        c.close(s, f).unwrap();
        c.umount(s, "/").unwrap();
        assert_eq!(c.stat(s, "/file"), Err(ENXIO));
        assert_eq!(c.open(s, "/file", O_RDONLY, 0), Err(ENXIO));
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
    // Unmounted for good: both file systems are marked clean on disk.
    use libminixfs::BlockDevice;
    for fs in &w.fss {
        let mut dev =
            libbdev::BdevDevice::open_new(fs.drv.clone(), 0, libbdev::Access::RW).unwrap();
        let mut area = [0u8; 64];
        dev.read_vectored(1024, &mut [&mut area[..]]).unwrap();
        assert!(mfs::format::SuperBlock::parse(&area).unwrap().is_clean());
    }
}

#[test]
fn working_directory() {
    let mut w = world(5, 2, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        c.mkdir(s, "/a", 0o755).unwrap();
        c.mkdir(s, "/a/b", 0o755).unwrap();
        c.chdir(s, "/a").unwrap();
        let fd = c.open(s, "b/f", O_CREAT | O_WRONLY, 0o644).unwrap();
        c.write(s, fd, b"rel").unwrap();
        c.close(s, fd).unwrap();
        assert_eq!(c.stat(s, "/a/b/f").unwrap().size, 3);
        assert_eq!(c.stat(s, "../a/b/f").unwrap().size, 3);
        c.chdir(s, "b").unwrap();
        assert_eq!(c.stat(s, "f").unwrap().size, 3);
        assert_eq!(c.stat(s, "./f").unwrap().size, 3);
        // Relative names in name-changing calls.
        c.rename(s, "f", "g").unwrap();
        c.symlink(s, "g", "link").unwrap();
        assert_eq!(c.stat(s, "link").unwrap().size, 3);
        c.mkdir(s, "sub", 0o755).unwrap();
        c.rmdir(s, "sub").unwrap();
        assert_eq!(c.rmdir(s, "."), Err(EINVAL));
        assert_eq!(c.chdir(s, "g"), Err(ENOTDIR));
        assert_eq!(c.chdir(s, "nope"), Err(ENOENT));
        // Absolute paths ignore the working directory.
        assert!(c.stat(s, "/a").is_ok());
        // fchdir, and into a mounted file system: it is busy then.
        let d = c.open(s, "/mnt2", O_RDONLY, 0).unwrap();
        c.fchdir(s, d).unwrap();
        c.close(s, d).unwrap();
        let fd = c.open(s, "here", O_CREAT | O_WRONLY, 0o644).unwrap();
        c.close(s, fd).unwrap();
        assert!(c.stat(s, "/mnt2/here").is_ok());
        assert!(c.stat(s, "../a/b/g").is_ok());
        assert_eq!(c.umount(s, "/mnt2"), Err(EBUSY));
        c.chdir(s, "/").unwrap();
        c.umount(s, "/mnt2").unwrap();
        assert_eq!(c.fchdir(s, 40), Err(EBADF));
        let f = c.open(s, "/a/b/g", O_RDONLY, 0).unwrap();
        assert_eq!(c.fchdir(s, f), Err(ENOTDIR));
        c.close(s, f).unwrap();
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
    // close(2) of a regular file answers before MFS drops the reference:
    // let the last one arrive.
    w.sim.run_for(10);
    // Only the working directory's reference remains (root FS).
    let refs: usize = w.fss[0]
        .mem
        .borrow()
        .durable
        .refs()
        .values()
        .map(|&n| n as usize)
        .sum();
    assert_eq!(refs, 1);
}

#[test]
fn a_write_longer_than_max_io_is_partial_and_write_all_finishes_it() {
    let mut w = world(6, 1, MfsConfig::default(), Policy::Stateful);
    w.wait_ready();
    let done = slot::<bool>();
    let d2 = done.clone();
    w.run(move |s, c| {
        let big: Vec<u8> = (0..(vfs::MAX_IO * 2 + 1000))
            .map(|i| (i % 251) as u8)
            .collect();
        let fd = c.open(s, "/big", O_CREAT | O_RDWR, 0o644).unwrap();
        // One call moves at most MAX_IO bytes; the count says so.
        assert_eq!(c.write(s, fd, &big).unwrap(), vfs::MAX_IO);
        assert_eq!(c.fstat(s, fd).unwrap().size, vfs::MAX_IO as u64);
        c.lseek(s, fd, 0, SEEK_SET).unwrap();
        assert_eq!(c.write_all(s, fd, &big).unwrap(), big.len());
        c.lseek(s, fd, 0, SEEK_SET).unwrap();
        let mut back = Vec::new();
        loop {
            let d = c.read(s, fd, 1 << 20).unwrap();
            if d.is_empty() {
                break;
            }
            back.extend_from_slice(&d);
        }
        assert!(back == big, "read back differs");
        c.close(s, fd).unwrap();
        d2.borrow_mut().replace(true);
    });
    assert_eq!(*done.borrow(), Some(true));
}
