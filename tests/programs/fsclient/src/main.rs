//! `fsclient`: file-system checks run inside the OS, through the VFS client
//! library (`vfs::client`, the base of the user runtime's file calls). A
//! boot program: it waits for VFS (label `vfs` in DS), runs the checks its
//! argument names, prints what it saw, and shuts the machine down with a
//! pass only if every check held.
//!
//! Checks (argument words, run in order):
//! - `mount`: list `/`, read the file the host put in `/etc/motd`, write,
//!   rename, stat and unlink files, `df` of `/`.
//! - `mnt2`: start a second MFS instance (`service up mfs2`) for the second
//!   disk, mount it on `/mnt`, write and read a file there, unmount it.
//! - `hostile`: requests straight to the servers from a stranger: an
//!   UNMOUNT sent to MFS and PFS is refused (`EPERM`: only VFS may send
//!   them) and the root stays mounted; an unknown message type gets
//!   `ENOSYS` from MFS, PFS, VFS, the memory driver and virtio-blk.
//! - `persist`: write `/guest/written.txt` (checked on the host afterwards).
//! - `show`: what a user sees at boot: `ls -l /`, `ls -l /dev`, `/etc/motd`
//!   and `df /` (read-only).
//! - `bigcache=MIB`: write MIB MiB in 64 KiB writes without syncing (they
//!   stay dirty in MFS's cache), have RS crash MFS (`service fi`), and read
//!   every byte back from the restarted instance, which adopted the cache.
//! - `shutdown`: sync and unmount `/`, then power off with the verdict.
//! - `stay`: keep the system running afterwards instead of powering off
//!   (interactive boots; quit QEMU with Ctrl-A X).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use native::NativeSys;
use sys::proto::service::{Policy, ServiceReply, ServiceRequest};
use sys::proto::vfs::oflag::{O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY};
use sys::{Endpoint, Errno, Sys};
use vfs::client::Client;

rt::entry!(main);

/// Contents the host wrote into the image (`images/rootfs/etc/motd`
/// starts with this).
const MOTD_START: &[u8] = b"Welcome";
/// What the guest writes for the host to check.
pub const GUEST_TEXT: &str = "written by the guest through VFS, MFS and virtio-blk\n";

type Check = Result<(), String>;

fn err(what: &str, e: Errno) -> String {
    format!("{what}: {e}")
}

/// Polls DS for `label` (RS publishes it once the service is up).
fn find(sys: &mut NativeSys, label: &str) -> Option<Endpoint> {
    sys.wait_for_label(label, 2000)
}

fn mode_char(mode: u16) -> char {
    match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        _ => '-',
    }
}

fn ls(sys: &mut NativeSys, c: &mut Client, dir: &str) -> Result<Vec<String>, String> {
    let names = c.list_dir(sys, dir).map_err(|e| err("list", e))?;
    let mut out = Vec::new();
    rt::println!("ls -l {dir}");
    for n in names {
        let name = String::from_utf8_lossy(&n).into_owned();
        let path = if dir.ends_with('/') {
            format!("{dir}{name}")
        } else {
            format!("{dir}/{name}")
        };
        match c.lstat(sys, &path) {
            Ok(st) => rt::println!(
                "  {}{:o} {:>2} {:>4} {:>4} {:>8} {name}",
                mode_char(st.mode),
                st.mode & 0o7777,
                st.nlinks,
                st.uid,
                st.gid,
                st.size
            ),
            Err(e) => rt::println!("  ? {name} ({e})"),
        }
        out.push(name);
    }
    Ok(out)
}

fn df(sys: &mut NativeSys, c: &mut Client, path: &str) -> Check {
    let v = c.statvfs(sys, path).map_err(|e| err("statvfs", e))?;
    let kib = |b: u64| b * u64::from(v.bsize) / 1024;
    rt::println!(
        "df {path}: {} KiB total, {} KiB used, {} KiB free, block size {}, inodes {} ({} free)",
        kib(v.blocks),
        kib(v.blocks - v.bfree),
        kib(v.bfree),
        v.bsize,
        v.files,
        v.ffree
    );
    if v.blocks == 0 || v.bfree > v.blocks {
        return Err(format!("statvfs figures make no sense: {v:?}"));
    }
    Ok(())
}

fn read_all(sys: &mut NativeSys, c: &mut Client, path: &str) -> Result<Vec<u8>, String> {
    let fd = c.open(sys, path, O_RDONLY, 0).map_err(|e| err(path, e))?;
    let mut data = Vec::new();
    loop {
        let chunk = c.read(sys, fd, 4096).map_err(|e| err("read", e))?;
        if chunk.is_empty() {
            break;
        }
        data.extend_from_slice(&chunk);
    }
    c.close(sys, fd).map_err(|e| err("close", e))?;
    Ok(data)
}

fn write_file(sys: &mut NativeSys, c: &mut Client, path: &str, data: &[u8]) -> Check {
    let fd = c
        .open(sys, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        .map_err(|e| err(path, e))?;
    let n = c.write(sys, fd, data).map_err(|e| err("write", e))?;
    if n != data.len() {
        return Err(format!("short write {n} of {}", data.len()));
    }
    c.fsync(sys, fd).map_err(|e| err("fsync", e))?;
    c.close(sys, fd).map_err(|e| err("close", e))
}

fn check_mount(sys: &mut NativeSys, c: &mut Client) -> Check {
    let root = ls(sys, c, "/")?;
    for want in ["etc", "home"] {
        if !root.iter().any(|n| n == want) {
            return Err(format!("/{want} missing from the root listing"));
        }
    }
    let motd = read_all(sys, c, "/etc/motd")?;
    rt::println!(
        "/etc/motd ({} bytes): {}",
        motd.len(),
        String::from_utf8_lossy(&motd).trim_end()
    );
    if !motd.starts_with(MOTD_START) {
        return Err("/etc/motd does not hold what the host wrote".into());
    }
    ls(sys, c, "/home/user")?;
    // Write, read back, rename, stat, unlink.
    c.mkdir(sys, "/tmp", 0o777)
        .or_else(|e| if e == Errno::EEXIST { Ok(()) } else { Err(e) })
        .map_err(|e| err("mkdir /tmp", e))?;
    let pattern: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    write_file(sys, c, "/tmp/a", &pattern)?;
    c.rename(sys, "/tmp/a", "/tmp/b")
        .map_err(|e| err("rename", e))?;
    let back = read_all(sys, c, "/tmp/b")?;
    if back != pattern {
        return Err("file read back differs from what was written".into());
    }
    let st = c.stat(sys, "/tmp/b").map_err(|e| err("stat", e))?;
    if st.size != pattern.len() as u64 {
        return Err(format!("stat size {} != {}", st.size, pattern.len()));
    }
    match c.stat(sys, "/tmp/a") {
        Err(Errno::ENOENT) => {}
        other => return Err(format!("renamed-away name still there: {other:?}")),
    }
    c.unlink(sys, "/tmp/b").map_err(|e| err("unlink", e))?;
    match c.open(sys, "/no/such/file", O_RDONLY, 0) {
        Err(Errno::ENOENT) => {}
        other => return Err(format!("open of a bad path gave {other:?}")),
    }
    rt::println!("write / read back / rename / stat / unlink: ok");
    df(sys, c, "/")
}

fn check_persist(sys: &mut NativeSys, c: &mut Client) -> Check {
    c.mkdir(sys, "/guest", 0o755)
        .or_else(|e| if e == Errno::EEXIST { Ok(()) } else { Err(e) })
        .map_err(|e| err("mkdir /guest", e))?;
    write_file(sys, c, "/guest/written.txt", GUEST_TEXT.as_bytes())?;
    // A file of several blocks, with a pattern the host checks.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    write_file(sys, c, "/guest/pattern.bin", &big)?;
    rt::println!("wrote /guest/written.txt and /guest/pattern.bin");
    Ok(())
}

/// The error a server answered a raw request with (any protocol's reply
/// carries its status where `FsReply`, `BdevReply` and `VfsReply` do).
fn raw_call(sys: &mut NativeSys, label: &str, m: sys::Message) -> Result<Errno, String> {
    let ep = find(sys, label).ok_or(format!("{label} not in DS"))?;
    let r = sys
        .sendrec(ep, m)
        .map_err(|e| format!("sendrec to {label}: {e}"))?;
    let status = if label == "virtio-blk" || label == "memory" {
        sys::proto::bdev::BdevReply::try_from(&r).map(|b| b.result.err())
    } else if label == "vfs" {
        sys::proto::vfs::VfsReply::try_from(&r).map(|v| v.result.err())
    } else {
        sys::proto::fs::FsReply::try_from(&r).map(|f| f.result.err())
    };
    match status {
        Ok(Some(e)) => Ok(e),
        Ok(None) => Err(format!("{label} accepted the request")),
        Err(e) => Err(format!("{label} answered something else ({e})")),
    }
}

fn check_hostile(sys: &mut NativeSys, c: &mut Client) -> Check {
    use sys::proto::fs::FsRequest;
    for label in ["mfs", "pfs"] {
        let e = raw_call(sys, label, FsRequest::Unmount { id: 4242 }.to_message())?;
        if e != Errno::EPERM {
            return Err(format!("{label} answered a stranger's UNMOUNT with {e}"));
        }
        rt::println!("{label}: a stranger's UNMOUNT is refused ({e})");
    }
    for label in ["mfs", "pfs", "vfs", "memory", "virtio-blk"] {
        let mut m = sys::Message::new(0x7777);
        m.payload_mut()[..8].copy_from_slice(&77u64.to_le_bytes());
        let e = raw_call(sys, label, m)?;
        if e != Errno::ENOSYS {
            return Err(format!("{label} answered an unknown type with {e}"));
        }
        rt::println!("{label}: unknown message type -> {e}");
    }
    // Nothing was unmounted.
    read_all(sys, c, "/etc/motd")?;
    Ok(())
}

fn rs_call(sys: &mut NativeSys, req: ServiceRequest) -> Result<(), Errno> {
    let reply = sys.sendrec(Endpoint::RS, req.to_message()?)?;
    ServiceReply::try_from(&reply)?.result.map(drop)
}

fn check_mnt2(sys: &mut NativeSys, c: &mut Client) -> Check {
    rs_call(
        sys,
        ServiceRequest::Up {
            id: 1,
            label: "mfs2".into(),
            program: "mfs".into(),
            policy: Policy::Stateful,
            // As the table's file-system services (rs::services::FS_PING_PERIOD).
            period: 5 * sys::HZ as u32,
            flags: 0,
        },
    )
    .map_err(|e| err("service up mfs2", e))?;
    find(sys, "mfs2").ok_or("mfs2 never came up")?;
    c.mkdir(sys, "/mnt", 0o755)
        .or_else(|e| if e == Errno::EEXIST { Ok(()) } else { Err(e) })
        .map_err(|e| err("mkdir /mnt", e))?;
    c.mount(sys, "/mnt", "mfs2")
        .map_err(|e| err("mount /mnt", e))?;
    rt::println!("mounted mfs2 on /mnt");
    ls(sys, c, "/mnt")?;
    df(sys, c, "/mnt")?;
    write_file(sys, c, "/mnt/second.txt", b"on the second disk\n")?;
    if read_all(sys, c, "/mnt/second.txt")? != b"on the second disk\n" {
        return Err("second disk read back differs".into());
    }
    c.umount(sys, "/mnt").map_err(|e| err("umount /mnt", e))?;
    match c.stat(sys, "/mnt/second.txt") {
        Err(Errno::ENOENT) => {}
        other => return Err(format!("file still visible after umount: {other:?}")),
    }
    rt::println!("unmounted /mnt");
    Ok(())
}

fn show(sys: &mut NativeSys, c: &mut Client) -> Check {
    let motd = read_all(sys, c, "/etc/motd")?;
    rt::println!("{}", String::from_utf8_lossy(&motd).trim_end());
    ls(sys, c, "/")?;
    ls(sys, c, "/dev")?;
    df(sys, c, "/")
}

fn mfs_status(sys: &mut NativeSys) -> Result<sys::proto::service::ServiceStatus, String> {
    let req = ServiceRequest::Status {
        id: 2,
        label: "mfs".into(),
    };
    let reply = sys
        .sendrec(
            Endpoint::RS,
            req.to_message().map_err(|e| err("status", e))?,
        )
        .map_err(|e| err("status", e))?;
    ServiceReply::try_from(&reply)
        .and_then(|r| r.result)
        .map_err(|e| err("status of mfs", e))
}

fn check_bigcache(sys: &mut NativeSys, c: &mut Client, mib: usize) -> Check {
    const CHUNK: usize = 64 * 1024;
    let pat = |i: usize| (i as u8) ^ ((i >> 16) as u8).wrapping_mul(7);
    let fd = c
        .open(sys, "/bigcache.bin", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        .map_err(|e| err("create /bigcache.bin", e))?;
    let mut buf = alloc::vec![0u8; CHUNK];
    for k in 0..mib * (1 << 20) / CHUNK {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = pat(k * CHUNK + i);
        }
        let n = c.write(sys, fd, &buf).map_err(|e| err("write", e))?;
        if n != CHUNK {
            return Err(format!("short write {n}"));
        }
    }
    c.close(sys, fd).map_err(|e| err("close", e))?;
    let before = mfs_status(sys)?.restarts;
    rt::println!("wrote {mib} MiB without a sync; crashing mfs (restarts {before})");
    rs_call(
        sys,
        ServiceRequest::Fi {
            id: 3,
            label: "mfs".into(),
        },
    )
    .map_err(|e| err("service fi mfs", e))?;
    let mut back = false;
    for _ in 0..3000 {
        let s = mfs_status(sys)?;
        if s.restarts > before && s.state == sys::proto::service::RunState::Running {
            back = true;
            break;
        }
        sys.sleep(1);
    }
    if !back {
        return Err("mfs did not come back".into());
    }
    let fd = c
        .open(sys, "/bigcache.bin", O_RDONLY, 0)
        .map_err(|e| err("open after the crash", e))?;
    let mut at = 0usize;
    loop {
        let d = c.read(sys, fd, 1 << 20).map_err(|e| err("read", e))?;
        if d.is_empty() {
            break;
        }
        if let Some(i) = d.iter().enumerate().position(|(i, &b)| b != pat(at + i)) {
            return Err(format!("byte {} differs after the crash", at + i));
        }
        at += d.len();
    }
    c.close(sys, fd).map_err(|e| err("close", e))?;
    if at != mib << 20 {
        return Err(format!("read back {at} bytes of {}", mib << 20));
    }
    rt::println!("read all {mib} MiB back from the restarted mfs");
    Ok(())
}

fn check_shutdown(sys: &mut NativeSys, c: &mut Client) -> Check {
    c.sync(sys).map_err(|e| err("sync", e))?;
    c.umount(sys, "/").map_err(|e| err("umount /", e))?;
    rt::println!("synced and unmounted /");
    Ok(())
}

fn main(args: &str) -> i32 {
    let mut sys = NativeSys::new();
    let Some(vfs) = find(&mut sys, "vfs") else {
        rt::println!("FAIL: VFS never came up");
        rt::sys::shutdown(1);
    };
    rt::println!("VFS is at {vfs}");
    let mut c = Client::new(vfs);
    let mut failed = 0;
    for word in args.split_ascii_whitespace() {
        let r = match word {
            "mount" => check_mount(&mut sys, &mut c),
            "persist" => check_persist(&mut sys, &mut c),
            "hostile" => check_hostile(&mut sys, &mut c),
            "mnt2" => check_mnt2(&mut sys, &mut c),
            "show" => show(&mut sys, &mut c),
            "shutdown" => check_shutdown(&mut sys, &mut c),
            "stay" => Ok(()),
            w if w.starts_with("bigcache=") => match w["bigcache=".len()..].parse() {
                Ok(mib) => check_bigcache(&mut sys, &mut c, mib),
                Err(_) => Err(format!("bad size in '{w}'")),
            },
            other => Err(format!("unknown check '{other}'")),
        };
        match r {
            Ok(()) => rt::println!("check {word}: ok"),
            Err(e) => {
                failed += 1;
                rt::println!("check {word}: FAILED: {e}");
            }
        }
    }
    if args.split_ascii_whitespace().any(|w| w == "stay") {
        rt::println!(
            "{}; the system stays up (quit QEMU with Ctrl-A X)",
            if failed == 0 {
                "all checks passed"
            } else {
                "some checks FAILED"
            }
        );
        return i32::from(failed != 0);
    }
    if failed == 0 {
        rt::println!("all checks passed");
        rt::sys::shutdown(0)
    } else {
        rt::println!("FAIL: {failed} check(s) failed");
        rt::sys::shutdown(1)
    }
}
