//! ISOFS under VFS in the simulator: RS, DS, an MFS root, ISOFS servers
//! on simulated disks holding xorriso images, and VFS; scripted clients
//! mount the images and read them through the VFS client. Every listing,
//! mode, owner, link target and byte matches the host tree; every
//! modifying call is EROFS; ISOFS crashes (at random messages, under
//! reading clients) never give a wrong byte, and a mount on a directory
//! of the ISO survives them (stateful restart).

mod common;

use common::*;
use isofs::server::{DeviceOpener, IsoConfig, IsoServer};
use libbdev::{Access, BdevDevice, SimDriver};
use libminixfs::BlockDevice;
use mfs::mkfs::{MkfsOptions, mkfs};
use mfs::server::{MfsConfig, MfsMemory, MfsServer};
use rs::{Rs, RsConfig, ServiceConfig};
use sim::devices::SharedDriver;
use sim::{Sim, SimConfig};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::rc::Rc;
use sys::proto::service::Policy;
use sys::proto::vfs::oflag::*;
use sys::{Endpoint, Errno, HZ, Message, Privileges, Process, Sef, StateStore, Sys};
use vfs::client::Client;
use vfs::{MountSpec, Vfs};

/// What a path should look like through VFS.
#[derive(Clone, Debug)]
enum Want {
    Dir(Vec<Vec<u8>>),
    File(Vec<u8>),
    Link(Vec<u8>),
    Other,
}

#[derive(Clone, Debug)]
struct Expect {
    mode: u16,
    uid: u16,
    gid: u16,
    rdev: u32,
    want: Want,
}

/// The host tree as VFS should show it, keyed by path below the mount.
fn expectations(root: &Path) -> BTreeMap<String, Expect> {
    let mut out = BTreeMap::new();
    fn go(p: &Path, rel: &str, out: &mut BTreeMap<String, Expect>) {
        use std::os::unix::ffi::OsStrExt;
        let md = std::fs::symlink_metadata(p).unwrap();
        let ft = md.file_type();
        let want = if ft.is_dir() {
            let mut names: Vec<Vec<u8>> = vec![b".".to_vec(), b"..".to_vec()];
            for e in std::fs::read_dir(p).unwrap() {
                let e = e.unwrap();
                names.push(e.file_name().as_bytes().to_vec());
                go(
                    &e.path(),
                    &format!("{rel}/{}", e.file_name().to_str().unwrap()),
                    out,
                );
            }
            names.sort();
            Want::Dir(names)
        } else if ft.is_file() {
            Want::File(std::fs::read(p).unwrap())
        } else if ft.is_symlink() {
            Want::Link(
                std::fs::read_link(p)
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec(),
            )
        } else {
            Want::Other
        };
        let r = md.rdev();
        let rdev = ((((r >> 8) & 0xfff) as u32) << 8) | (r & 0xff) as u32;
        out.insert(
            rel.to_string(),
            Expect {
                mode: md.mode() as u16,
                uid: md.uid() as u16,
                gid: md.gid() as u16,
                rdev,
                want,
            },
        );
    }
    go(root, "", &mut out);
    out
}

/// A tree with what Rock Ridge carries.
fn tree(root: &Path, seed: u64) {
    write(&root.join("one.txt"), b"1", 0o600);
    write(&root.join("big.bin"), &bytes(seed, 300_001), 0o644);
    write(&root.join("exact.bin"), &bytes(seed + 1, 8192), 0o755);
    let owned = root.join("owned");
    write(&owned, b"owned by someone", 0o640);
    std::os::unix::fs::chown(&owned, Some(1000), Some(100)).unwrap();
    let long = "name-".repeat(45) + "x";
    write(&root.join(&long), b"long name", 0o644);
    let mut d = root.to_path_buf();
    for i in 1..=10 {
        d = d.join(format!("level{i}"));
        write(
            &d.join(format!("f{i}")),
            &bytes(seed + i, 100 * i as usize),
            0o644,
        );
    }
    std::fs::create_dir_all(root.join("private")).unwrap();
    write(&root.join("private/secret"), b"secret", 0o600);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("private"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("one.txt", root.join("ln")).unwrap();
    std::os::unix::fs::symlink("/etc/motd", root.join("ln-abs")).unwrap();
    std::os::unix::fs::symlink("level1/level2", root.join("ln-dir")).unwrap();
    let st = std::process::Command::new("mknod")
        .args([root.join("tty").to_str().unwrap(), "c", "4", "1"])
        .status()
        .unwrap();
    assert!(st.success());
    for i in 0..80 {
        write(
            &root.join(format!("many/entry-{i:03}")),
            &bytes(seed + 100 + i, i as usize * 31),
            0o644,
        );
    }
}

fn iso_of(t: &Path, name: &str, seed: u64) -> (Vec<u8>, BTreeMap<String, Expect>) {
    let src = t.join(name);
    tree(&src, seed);
    let iso = t.join(format!("{name}.iso"));
    xorriso(&["-R", "-J"], &src, &iso);
    (std::fs::read(&iso).unwrap(), expectations(&src))
}

fn disk_with(bytes: &[u8]) -> SharedDriver {
    let drv = SharedDriver::new(SimDriver::disk(bytes.len() as u64));
    let mut d = BdevDevice::open_new(drv.clone(), 0, Access::RW).unwrap();
    d.write_vectored(0, &[bytes]).unwrap();
    drv
}

fn opener_of(drv: &SharedDriver) -> DeviceOpener {
    let d2 = drv.clone();
    Rc::new(move || {
        BdevDevice::open_new(d2.clone(), 0, Access::RW)
            .map(|d| Box::new(d) as Box<dyn BlockDevice>)
            .map_err(|_| Errno::EIO)
    })
}

fn svc(label: &str, policy: Policy) -> ServiceConfig {
    let mut c = sim::system::service(label, label, policy, HZ);
    c.no_backoff = true;
    c
}

struct World {
    sim: Sim,
    vfs: Endpoint,
}

/// RS, DS, an MFS root with /mnt and /mnt2, PFS, one ISOFS per image
/// ("isofs", "isofs2", ...), VFS.
fn world(seed: u64, isos: &[Vec<u8>], cfg: IsoConfig) -> World {
    let mut sim = Sim::new(SimConfig::new(seed));
    sim::system::register_programs(&mut sim);
    let mut table = vec![sim::system::ds_service()];
    let root = SharedDriver::new(SimDriver::disk(8 << 20));
    {
        let mut raw = BdevDevice::open_new(root.clone(), 0, Access::RW).unwrap();
        let mut o = MkfsOptions::new(2048);
        o.block_size = 4096;
        o.root_perm = 0o755;
        mkfs(&mut raw, &o).unwrap();
        let dev = Box::new(BdevDevice::open_new(root.clone(), 0, Access::RW).unwrap());
        let mut fs = mfs::FileSystem::mount_device(dev, 64, Default::default()).unwrap();
        fs.mkdir_path(b"/mnt", 0o755, 0).unwrap();
        fs.mkdir_path(b"/mnt2", 0o755, 0).unwrap();
        fs.unmount().unwrap();
    }
    let mem = MfsMemory::default();
    let ro = opener_of(&root);
    sim.register("mfs", move || {
        Box::new(Sef::new(
            MfsServer::new(MfsConfig::default(), mem.clone(), ro.clone()),
            StateStore::None,
        ))
    });
    table.push(svc("mfs", Policy::Stateful));
    for (i, img) in isos.iter().enumerate() {
        let label = if i == 0 {
            "isofs".to_string()
        } else {
            format!("isofs{}", i + 1)
        };
        let drv = disk_with(img);
        sim.add_device(&format!("cd{i}"), drv.handle());
        let op = opener_of(&drv);
        sim.register(&label, move || {
            Box::new(Sef::new(IsoServer::new(cfg, op.clone()), StateStore::Ds))
        });
        table.push(svc(&label, Policy::Stateful));
    }
    sim.register("pfs", || {
        pfs::server::program(pfs::server::Config::default())
    });
    table.push(svc("pfs", Policy::Stateful));
    assert!(
        sim.start_rs(Box::new(Rs::new(RsConfig::with_table(table))))
            .is_ok()
    );
    let ok = sim.run_until(100 * HZ, |s| {
        s.with_process::<Rs, _>("rs", |rs| rs.booted())
            .unwrap_or(false)
    });
    assert!(ok, "boot");
    let specs = vec![MountSpec {
        label: "mfs".into(),
        ep: sim.endpoint_of("mfs").unwrap(),
        path: "/".into(),
    }];
    let v = Vfs::new(specs).with_pipe_server("pfs", sim.endpoint_of("pfs").unwrap());
    let vfs = sim
        .spawn_user_with("vfs", Box::new(v), Privileges::service())
        .unwrap();
    let ok = sim.run_until(100 * HZ, |s| {
        s.with_process::<Vfs, _>("vfs", |v| v.is_ready())
            .unwrap_or(false)
    });
    assert!(ok, "vfs ready");
    World { sim, vfs }
}

type ScriptFn = Box<dyn FnOnce(&mut dyn Sys, &mut Client)>;

struct Script {
    f: Option<ScriptFn>,
    vfs: Endpoint,
}

impl Process for Script {
    fn start(&mut self, sys: &mut dyn Sys) {
        if let Some(f) = self.f.take() {
            let mut c = Client::new(self.vfs);
            f(sys, &mut c);
        }
    }
    fn receive(&mut self, _sys: &mut dyn Sys, _msg: Message) {}
}

/// A process that runs its script when it receives a message.
type KickFn = Box<dyn FnOnce(&mut dyn Sys)>;

struct Kicked {
    f: Option<KickFn>,
}

impl Process for Kicked {
    fn start(&mut self, _sys: &mut dyn Sys) {}
    fn receive(&mut self, sys: &mut dyn Sys, _msg: Message) {
        if let Some(f) = self.f.take() {
            f(sys);
        }
    }
}

impl World {
    fn run(&mut self, f: impl FnOnce(&mut dyn Sys, &mut Client) + 'static) {
        self.sim
            .spawn_user(
                "script",
                Box::new(Script {
                    f: Some(Box::new(f)),
                    vfs: self.vfs,
                }),
            )
            .unwrap();
    }
}

fn read_file(s: &mut dyn Sys, c: &mut Client, path: &str, chunk: usize) -> Result<Vec<u8>, Errno> {
    let fd = c.open(s, path, O_RDONLY, 0)?;
    let mut v = Vec::new();
    loop {
        let d = c.read(s, fd, chunk)?;
        if d.is_empty() {
            break;
        }
        v.extend_from_slice(&d);
    }
    c.close(s, fd)?;
    Ok(v)
}

/// Checks every path of `want` below `at` through VFS; returns problems.
fn check_all(
    s: &mut dyn Sys,
    c: &mut Client,
    at: &str,
    want: &BTreeMap<String, Expect>,
) -> Vec<String> {
    let mut bad = Vec::new();
    for (rel, e) in want {
        let path = format!("{at}{rel}");
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            path
        };
        let st = match c.lstat(s, &path) {
            Ok(st) => st,
            Err(err) => {
                bad.push(format!("lstat {path}: {err:?}"));
                continue;
            }
        };
        if rel.is_empty() {
            // The mount's root: the ISO's root directory.
            if st.mode != e.mode {
                bad.push(format!("{path}: mode {:o} want {:o}", st.mode, e.mode));
            }
        } else if (st.mode, st.uid, st.gid) != (e.mode, e.uid, e.gid) {
            bad.push(format!(
                "{path}: mode/uid/gid {:o}/{}/{} want {:o}/{}/{}",
                st.mode, st.uid, st.gid, e.mode, e.uid, e.gid
            ));
        }
        match &e.want {
            Want::Dir(names) => match c.list_dir(s, &path) {
                Ok(mut got) => {
                    got.sort();
                    if &got != names {
                        bad.push(format!("{path}: listing differs"));
                    }
                }
                Err(err) => bad.push(format!("list {path}: {err:?}")),
            },
            Want::File(data) => {
                if st.size != data.len() as u64 {
                    bad.push(format!("{path}: size {} want {}", st.size, data.len()));
                }
                match read_file(s, c, &path, 10_000) {
                    Ok(got) if &got == data => {}
                    Ok(_) => bad.push(format!("{path}: WRONG BYTES")),
                    Err(err) => bad.push(format!("read {path}: {err:?}")),
                }
            }
            Want::Link(t) => match c.readlink(s, &path) {
                Ok(got) if &got == t => {}
                other => bad.push(format!("readlink {path}: {other:?}")),
            },
            Want::Other => {
                if st.rdev != e.rdev {
                    bad.push(format!("{path}: rdev {:x} want {:x}", st.rdev, e.rdev));
                }
            }
        }
    }
    bad
}

#[test]
fn iso_mounted_under_vfs_reads_like_its_tree() {
    let t = tempfile::tempdir().unwrap();
    let (img, want) = iso_of(t.path(), "cd", 1);
    let mut w = world(1, &[img], IsoConfig::default());
    let out: Rc<RefCell<Option<Vec<String>>>> = Rc::new(RefCell::new(None));
    let o2 = out.clone();
    w.run(move |s, c| {
        let mut bad = Vec::new();
        c.mount(s, "/mnt", "isofs").unwrap();
        bad.extend(check_all(s, c, "/mnt", &want));
        // Paths through symlinks, "..", the mount point.
        match read_file(s, c, "/mnt/ln", 100) {
            Ok(d) if d == b"1" => {}
            other => bad.push(format!("/mnt/ln: {other:?}")),
        }
        match read_file(s, c, "/mnt/ln-dir/level3/../level3/f3", 1000) {
            Ok(d) if d.len() == 300 => {}
            other => bad.push(format!("through ln-dir: {other:?}")),
        }
        if c.list_dir(s, "/mnt/..")
            .map(|v| v.contains(&b"mnt2".to_vec()))
            != Ok(true)
        {
            bad.push("'..' at the ISO root does not leave it".into());
        }
        // Read-only.
        let ro = [
            (
                "create",
                c.open(s, "/mnt/new", O_CREAT | O_WRONLY, 0o644).map(|_| ()),
            ),
            ("mkdir", c.mkdir(s, "/mnt/dir", 0o755)),
            ("unlink", c.unlink(s, "/mnt/one.txt")),
            ("rmdir", c.rmdir(s, "/mnt/many")),
            ("rename", c.rename(s, "/mnt/one.txt", "/mnt/two.txt")),
            ("chmod", c.chmod(s, "/mnt/one.txt", 0o777)),
            ("chown", c.chown(s, "/mnt/one.txt", 1, 1)),
            ("symlink", c.symlink(s, "x", "/mnt/sl")),
            ("link", c.link(s, "/mnt/one.txt", "/mnt/hard")),
            ("truncate", c.truncate(s, "/mnt/one.txt", 0)),
            ("utimes", c.utimes(s, "/mnt/one.txt", 1, 2)),
            ("mknod", c.mknod(s, "/mnt/nod", 0o20644, 0x401)),
        ];
        for (what, r) in ro {
            if r != Err(Errno::EROFS) {
                bad.push(format!("{what}: {r:?}, want EROFS"));
            }
        }
        match c.open(s, "/mnt/one.txt", O_RDWR, 0) {
            Ok(fd) => {
                let r = c.write(s, fd, b"x");
                if r != Err(Errno::EROFS) {
                    bad.push(format!("write: {r:?}"));
                }
                c.close(s, fd).unwrap();
            }
            Err(Errno::EROFS) => {}
            Err(e) => bad.push(format!("open rw: {e:?}")),
        }
        match c.statvfs(s, "/mnt") {
            Ok(v) if v.bsize == 2048 && v.blocks > 0 && v.bfree == 0 => {}
            other => bad.push(format!("statvfs: {other:?}")),
        }
        o2.borrow_mut().replace(bad);
    });
    let done = w.sim.run_until(2000 * HZ, |_| out.borrow().is_some());
    assert!(done, "the script finished");
    let bad = out.borrow().clone().unwrap();
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn permissions_from_rock_ridge_apply_to_users() {
    let t = tempfile::tempdir().unwrap();
    let (img, _) = iso_of(t.path(), "cd", 2);
    let mut w = world(2, &[img], IsoConfig::default());
    let out: Rc<RefCell<Option<Vec<String>>>> = Rc::new(RefCell::new(None));
    let o2 = out.clone();
    w.run(move |s, c| {
        c.mount(s, "/mnt", "isofs").unwrap();
        o2.borrow_mut().replace(Vec::new());
    });
    assert!(w.sim.run_until(200 * HZ, |_| out.borrow().is_some()));
    let o3 = out.clone();
    *out.borrow_mut() = None;
    // The user's process must exist for VFS to know its credentials: it
    // is parked, given credentials, then kicked to run its script.
    let vfs_ep = w.vfs;
    let ep = w
        .sim
        .spawn_user(
            "user",
            Box::new(Kicked {
                f: Some(Box::new(move |s: &mut dyn Sys| {
                    let mut c = Client::new(vfs_ep);
                    let c = &mut c;
                    let mut bad = Vec::new();
                    if c.list_dir(s, "/mnt/private") != Err(Errno::EACCES) {
                        bad.push("a 0700 root directory was listable by a user".to_string());
                    }
                    if c.open(s, "/mnt/private/secret", O_RDONLY, 0) != Err(Errno::EACCES) {
                        bad.push("search permission not checked".into());
                    }
                    if c.open(s, "/mnt/one.txt", O_RDONLY, 0) != Err(Errno::EACCES) {
                        bad.push("a 0600 root file was readable by a user".into());
                    }
                    if read_file(s, c, "/mnt/many/entry-005", 100).map(|d| d.len()) != Ok(155) {
                        bad.push("a 0644 file was not readable".into());
                    }
                    o3.borrow_mut().replace(bad);
                })),
            }),
        )
        .unwrap();
    w.sim.with_process_mut::<Vfs, _>("vfs", |v| {
        v.set_cred(
            ep,
            sys::proto::fs::Cred {
                uid: 1000,
                gid: 1000,
            },
        )
    });
    let _ = w.sim.call(ep, Message::new(1));
    assert!(w.sim.run_until(500 * HZ, |_| out.borrow().is_some()));
    let bad = out.borrow().clone().unwrap();
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn isofs_crashes_under_reading_clients_never_give_wrong_bytes() {
    sim::seeded("isofs-crash", 5, |seed| {
        let t = tempfile::tempdir().unwrap();
        let (img, want) = iso_of(t.path(), "cd", 3);
        let (img2, want2) = iso_of(t.path(), "cd2", 4);
        let mut w = world(seed, &[img, img2], IsoConfig::default());
        let mounted: Rc<RefCell<Option<()>>> = Rc::new(RefCell::new(None));
        let m2 = mounted.clone();
        w.run(move |s, c| {
            c.mount(s, "/mnt", "isofs").unwrap();
            // A second ISO mounted on a directory of the first: the mount
            // point must survive the first one's restarts.
            c.mount(s, "/mnt/many", "isofs2").unwrap();
            m2.borrow_mut().replace(());
        });
        assert!(w.sim.run_until(500 * HZ, |_| mounted.borrow().is_some()));
        // Under the mount point, the second image's tree.
        let want_top: BTreeMap<String, Expect> = want
            .into_iter()
            .filter(|(k, _)| !k.starts_with("/many"))
            .collect();
        let results: Rc<RefCell<Vec<Vec<String>>>> = Rc::new(RefCell::new(Vec::new()));
        w.sim.faults_randomly(&["isofs", "isofs2"], 20_000, 0);
        for k in 0..3 {
            let r = results.clone();
            let (a, b) = (want_top.clone(), want2.clone());
            w.run(move |s, c| {
                let mut bad = Vec::new();
                for round in 0..2 {
                    if (round + k) % 2 == 0 {
                        bad.extend(check_all(s, c, "/mnt", &a));
                    } else {
                        bad.extend(check_all(s, c, "/mnt/many", &b));
                    }
                }
                r.borrow_mut().push(bad);
            });
        }
        let done = w
            .sim
            .run_until(20_000 * HZ, |_| results.borrow().len() == 3);
        w.sim.faults_randomly(&[], 0, 0);
        assert!(done, "clients finished");
        let crashes = w.sim.crash_records("isofs").len() + w.sim.crash_records("isofs2").len();
        let all: Vec<String> = results.borrow().iter().flatten().cloned().collect();
        // A read may fail while a server is down for good (never here:
        // RS restarts it), but never return wrong data.
        assert!(
            all.is_empty(),
            "seed {seed}, {crashes} crashes: {:#?}",
            &all[..all.len().min(20)]
        );
        assert!(crashes > 20, "crashes: {crashes}");
        eprintln!("seed {seed}: {crashes} ISOFS crashes under 3 reading clients, every byte right");
    });
}

#[test]
fn negative_control_a_stateless_isofs_forgets_the_mount_on_it() {
    // Without the saved state a restarted ISOFS no longer knows that
    // /mnt/many is covered: lookups walk into its own directory.
    let t = tempfile::tempdir().unwrap();
    let (img, _) = iso_of(t.path(), "cd", 3);
    let (img2, _) = iso_of(t.path(), "cd2", 4);
    let cfg = IsoConfig {
        stateful: false,
        ..IsoConfig::default()
    };
    let mut w = world(6, &[img, img2], cfg);
    let step: Rc<RefCell<Option<Vec<u8>>>> = Rc::new(RefCell::new(None));
    let s2 = step.clone();
    w.run(move |s, c| {
        c.mount(s, "/mnt", "isofs").unwrap();
        c.mount(s, "/mnt/many", "isofs2").unwrap();
        s2.borrow_mut()
            .replace(read_file(s, c, "/mnt/many/big.bin", 4096).unwrap());
    });
    assert!(w.sim.run_until(500 * HZ, |_| step.borrow().is_some()));
    let covered = step.borrow_mut().take().unwrap();
    assert!(covered == bytes(4, 300_001), "the second ISO is seen");
    assert!(w.sim.crash_now("isofs"));
    let s3 = step.clone();
    w.run(move |s, c| {
        // /mnt/many is now isofs's own directory, which has no big.bin.
        let r = read_file(s, c, "/mnt/many/big.bin", 4096);
        s3.borrow_mut()
            .replace(r.map(|_| b"found".to_vec()).unwrap_or_default());
    });
    assert!(w.sim.run_until(500 * HZ, |_| step.borrow().is_some()));
    assert_eq!(
        step.borrow().clone().unwrap(),
        b"",
        "the mount point was forgotten"
    );
}
