//! `mfs mount` through the Linux kernel's FUSE: these tests need /dev/fuse
//! and the right to mount (root, or fusermount3). Outside CI they skip
//! with a note when FUSE is missing; under CI=true that is a failure.
//!
//! A POSIX behaviour suite against the mount, every MFS format, the mount
//! options, unclean images, signals, and a random-operation checker against
//! a model. Every mount ends with `mfs fsck` clean, and `fsck.minix -f`
//! clean on 1 KiB-block images.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use system_tests::mfs;
use system_tests::qemu::in_ci;

/// The `mfs` binary, built once.
fn mfs_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = images::build::workspace_root();
        let st = Command::new(env!("CARGO"))
            .current_dir(&root)
            .args(["build", "-q", "-p", "images", "--bin", "mfs"])
            .status()
            .expect("running cargo build");
        assert!(st.success(), "building the mfs binary failed");
        // This test runs from <target>/debug/deps/.
        let exe = std::env::current_exe().expect("test binary path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target directory");
        let bin = dir.join("mfs");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
}

/// Whether FUSE can be used here: `false` (after a note) outside CI when
/// /dev/fuse or the right to mount is missing; under CI that panics.
fn fuse_or_skip() -> bool {
    let dev = Path::new("/dev/fuse").exists();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let helper = ["fusermount3", "fusermount"].iter().any(|b| {
        Command::new(b)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    if dev && (root || helper) {
        return true;
    }
    let why = if dev {
        "neither root nor fusermount3 (apt install fuse3)"
    } else {
        "/dev/fuse is missing"
    };
    if in_ci() {
        panic!("CI is set but FUSE cannot be used: {why}");
    }
    eprintln!("note: FUSE unavailable ({why}); skipping FUSE test");
    false
}

fn is_mounted(dir: &Path) -> bool {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let want = dir.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_str()) && l.contains(" - fuse"))
}

/// Waits (up to a minute, for a loaded machine) until `cond` holds.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "gave up waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A foreground `mfs mount -f` server; dropping it unmounts and waits.
struct Mount {
    child: Option<Child>,
    dir: PathBuf,
    stderr: PathBuf,
}

impl Mount {
    fn start(img: &Path, dir: &Path, extra: &[&str]) -> Mount {
        fs::create_dir_all(dir).unwrap();
        let stderr = dir.with_extension("stderr");
        let mut cmd = Command::new(mfs_bin());
        cmd.args(extra.iter().filter(|a| **a == "--force"));
        cmd.args(["mount", "-f"]);
        cmd.args(extra.iter().filter(|a| **a != "--force"));
        cmd.arg(img).arg(dir);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap());
        let mut child = cmd.spawn().expect("starting mfs mount");
        wait_until("the mount to appear", || {
            if let Ok(Some(st)) = child.try_wait() {
                panic!(
                    "mfs mount exited with {st}: {}",
                    fs::read_to_string(&stderr).unwrap_or_default()
                );
            }
            is_mounted(dir)
        });
        Mount {
            child: Some(child),
            dir: dir.to_path_buf(),
            stderr,
        }
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Unmounts with fusermount3 -u (umount(8) if it is missing) and
    /// checks the server exits 0.
    fn unmount(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let ok = Command::new("fusermount3")
            .arg("-u")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success())
            || Command::new("umount")
                .arg(&self.dir)
                .status()
                .is_ok_and(|s| s.success());
        assert!(ok, "could not unmount {}", self.dir.display());
        let st = child.wait().unwrap();
        assert!(st.success(), "mfs mount ended with {st}: {}", self.stderr());
    }

    fn signal(mut self, sig: &str) {
        let mut child = self.child.take().unwrap();
        // The shell's kill: /bin/kill (procps) may not be installed.
        let st = Command::new("sh")
            .args(["-c", &format!("kill -s {sig} {}", child.id())])
            .status()
            .unwrap();
        assert!(st.success());
        let st = child.wait().unwrap();
        assert!(
            st.success(),
            "mfs mount ended with {st} after {sig}: {}",
            self.stderr()
        );
        assert!(!is_mounted(&self.dir), "still mounted after {sig}");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(mut c) = self.child.take() {
                let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
                let _ = c.kill();
                let _ = c.wait();
            }
        } else {
            self.stop();
        }
    }
}

/// A fresh image: `mfs mkfs ARGS`.
fn mkfs(img: &Path, args: &[&str]) {
    let mut a = vec!["mkfs"];
    a.extend_from_slice(args);
    a.push(img.to_str().unwrap());
    mfs::ok(&a);
}

/// The image passes `mfs fsck`, and `fsck.minix -f` when its blocks are 1 KiB.
fn assert_clean(img: &Path) {
    let (code, out, err) = mfs::run(&["fsck", img.to_str().unwrap()]);
    assert_eq!(code, 0, "mfs fsck: {out}{err}");
    let out = mfs::ok(&["df", img.to_str().unwrap()]);
    if out.contains(" 1024-byte blocks") {
        let o = Command::new("fsck.minix")
            .arg("-f")
            .arg(img)
            .env("PATH", "/usr/sbin:/sbin:/usr/bin:/bin")
            .output()
            .expect("running fsck.minix (util-linux)");
        assert!(
            o.status.success(),
            "fsck.minix -f: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

fn errno_of(r: std::io::Result<impl Sized>) -> i32 {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.raw_os_error().expect("an OS error"),
    }
}

// Linux errno values.
const EEXIST: i32 = 17;
const EINVAL: i32 = 22;
const EFBIG: i32 = 27;
const ENOSPC: i32 = 28;
const EROFS: i32 = 30;
const ENAMETOOLONG: i32 = 36;
const ENOTEMPTY: i32 = 39;
const EISDIR: i32 = 21;
const ENOTDIR: i32 = 20;

/// Runs `sh -c SCRIPT` as user `nobody`; returns (success, stderr).
fn as_nobody(script: &str) -> (bool, String) {
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .output()
        .expect("running setpriv (util-linux)");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn fuse_mfs_posix_suite() {
    if !fuse_or_skip() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("posix.img");
    mkfs(&img, &["--size", "32M", "--block-size", "1024"]);
    let m = Mount::start(&img, &t.path().join("mnt"), &["-o", "allow_other"]);
    let d = m.dir.clone();

    // Rename over a file: the target's inode goes, the name stays.
    fs::write(d.join("a"), b"from a").unwrap();
    fs::write(d.join("b"), b"old b").unwrap();
    fs::rename(d.join("a"), d.join("b")).unwrap();
    assert_eq!(fs::read(d.join("b")).unwrap(), b"from a");
    assert!(!d.join("a").exists());
    // Over an empty directory, not over a non-empty one.
    fs::create_dir_all(d.join("src/inner")).unwrap();
    fs::create_dir(d.join("empty")).unwrap();
    fs::create_dir_all(d.join("full/x")).unwrap();
    assert_eq!(
        errno_of(fs::rename(d.join("src"), d.join("full"))),
        ENOTEMPTY
    );
    fs::rename(d.join("src"), d.join("empty")).unwrap();
    assert!(d.join("empty/inner").is_dir());
    // Into its own subtree, and dir over file / file over dir.
    assert_eq!(
        errno_of(fs::rename(d.join("empty"), d.join("empty/inner/x"))),
        EINVAL
    );
    assert_eq!(errno_of(fs::rename(d.join("empty"), d.join("b"))), ENOTDIR);
    assert_eq!(errno_of(fs::rename(d.join("b"), d.join("full"))), EISDIR);
    // Across directories, with ".." and link counts following.
    let root_links = fs::metadata(&d).unwrap().nlink();
    fs::rename(d.join("empty/inner"), d.join("full/inner")).unwrap();
    assert_eq!(fs::metadata(d.join("empty")).unwrap().nlink(), 2);
    assert_eq!(fs::metadata(d.join("full")).unwrap().nlink(), 4);
    assert_eq!(fs::metadata(&d).unwrap().nlink(), root_links);
    fs::rename(d.join("b"), d.join("full/inner/b")).unwrap();
    assert_eq!(fs::read(d.join("full/inner/b")).unwrap(), b"from a");

    // Hard links.
    fs::hard_link(d.join("full/inner/b"), d.join("b2")).unwrap();
    assert_eq!(fs::metadata(d.join("b2")).unwrap().nlink(), 2);
    let ino = fs::metadata(d.join("b2")).unwrap().ino();
    assert_eq!(fs::metadata(d.join("full/inner/b")).unwrap().ino(), ino);
    fs::remove_file(d.join("full/inner/b")).unwrap();
    assert_eq!(fs::metadata(d.join("b2")).unwrap().nlink(), 1);
    fs::create_dir(d.join("full/second")).unwrap();
    assert_eq!(fs::metadata(d.join("full")).unwrap().nlink(), 5);
    fs::remove_dir(d.join("full/second")).unwrap();
    assert_eq!(fs::metadata(d.join("full")).unwrap().nlink(), 4);

    // O_EXCL, O_TRUNC, O_APPEND.
    let p = d.join("flags");
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&p)
        .unwrap()
        .write_all(b"0123456789")
        .unwrap();
    assert_eq!(
        errno_of(OpenOptions::new().write(true).create_new(true).open(&p)),
        EEXIST
    );
    let mut f = OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(b"ab").unwrap();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.write_all(b"cd").unwrap();
    drop(f);
    assert_eq!(fs::read(&p).unwrap(), b"0123456789abcd");
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&p)
        .unwrap()
        .write_all(b"x")
        .unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"x");

    // Long names: 60 bytes is V3's limit.
    let ok_name = "n".repeat(60);
    fs::write(d.join(&ok_name), b"").unwrap();
    assert_eq!(
        errno_of(fs::write(d.join("n".repeat(61)), b"")),
        ENAMETOOLONG
    );
    assert_eq!(errno_of(fs::metadata(d.join("m".repeat(61)))), ENAMETOOLONG);

    // Timestamps: a write changes mtime and ctime, chmod only ctime,
    // utimens sets them; a new name changes the directory's.
    let p = d.join("times");
    fs::write(&p, b"1").unwrap();
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_times(fs::FileTimes::new().set_accessed(old).set_modified(old))
        .unwrap();
    let m0 = fs::metadata(&p).unwrap();
    assert_eq!((m0.mtime(), m0.atime()), (1_000_000, 1_000_000));
    assert!(m0.ctime() > 1_000_000);
    let mut f = OpenOptions::new().write(true).open(&p).unwrap();
    f.write_all(b"2").unwrap();
    drop(f);
    let m1 = fs::metadata(&p).unwrap();
    assert!(m1.mtime() > 1_000_000 && m1.ctime() >= m0.ctime());
    File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_times(fs::FileTimes::new().set_accessed(old).set_modified(old))
        .unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    let m2 = fs::metadata(&p).unwrap();
    assert_eq!(m2.mtime(), 1_000_000);
    assert!(m2.ctime() > 1_000_000);
    assert_eq!(m2.mode() & 0o7777, 0o600);
    let dir_t = d.join("tdir");
    fs::create_dir(&dir_t).unwrap();
    File::options()
        .read(true)
        .open(&dir_t)
        .unwrap()
        .set_times(fs::FileTimes::new().set_accessed(old).set_modified(old))
        .unwrap();
    fs::write(dir_t.join("new"), b"").unwrap();
    assert!(fs::metadata(&dir_t).unwrap().mtime() > 1_000_000);

    // Symlinks, FIFOs, device nodes, directory listing.
    std::os::unix::fs::symlink("flags", d.join("link")).unwrap();
    assert_eq!(fs::read_link(d.join("link")).unwrap(), Path::new("flags"));
    assert_eq!(fs::read(d.join("link")).unwrap(), b"x");
    assert!(
        Command::new("mkfifo")
            .arg(d.join("fifo"))
            .status()
            .unwrap()
            .success()
    );
    assert!(
        Command::new("mknod")
            .arg(d.join("tty0"))
            .args(["c", "4", "0"])
            .status()
            .unwrap()
            .success()
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(
        fs::symlink_metadata(d.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let md = fs::symlink_metadata(d.join("tty0")).unwrap();
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), 4 << 8);
    fs::create_dir(d.join("many")).unwrap();
    for i in 0..300 {
        fs::write(d.join(format!("many/f{i:03}")), i.to_string()).unwrap();
    }
    let mut names: Vec<String> = fs::read_dir(d.join("many"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let want: Vec<String> = (0..300).map(|i| format!("f{i:03}")).collect();
    assert_eq!(names, want);
    // An unlinked file stays readable while open.
    let mut f = File::open(d.join("many/f007")).unwrap();
    fs::remove_file(d.join("many/f007")).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "7");
    drop(f);

    // EFBIG: past MINIX's largest file (V3: 4 GiB - 1).
    let f = File::create(d.join("big")).unwrap();
    assert_eq!(errno_of(f.write_at(b"z", 5 << 30)), EFBIG);
    drop(f);

    // Statistics.
    let out = Command::new("stat")
        .args(["-f", "-c", "%S %l"])
        .arg(&d)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1024 60");

    // Permissions as an ordinary user (the kernel checks mode bits and
    // owners: default_permissions).
    fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(d.join("roots"), b"r").unwrap();
    fs::set_permissions(d.join("roots"), fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, _) = as_nobody(&format!("echo no > {}/roots", d.display()));
    assert!(!ok, "nobody wrote root's 0644 file");
    let (ok, _) = as_nobody(&format!("touch {}/mine", d.display()));
    assert!(!ok, "nobody created a file in root's 0755 directory");
    let (ok, err) = as_nobody(&format!("cat {}/roots", d.display()));
    assert!(ok, "nobody could not read a 0644 file: {err}");
    fs::create_dir(d.join("tmp")).unwrap();
    fs::set_permissions(d.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(d.join("tmp/rootfile"), b"").unwrap();
    let (ok, err) = as_nobody(&format!(
        "touch {0}/tmp/mine && chmod 600 {0}/tmp/mine",
        d.display()
    ));
    assert!(ok, "nobody could not create in a 1777 directory: {err}");
    let md = fs::metadata(d.join("tmp/mine")).unwrap();
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o777),
        (65534, 65534, 0o600)
    );
    // The sticky bit: nobody cannot remove or rename root's file there.
    let (ok, _) = as_nobody(&format!("rm -f {}/tmp/rootfile", d.display()));
    assert!(!ok && d.join("tmp/rootfile").exists(), "sticky bit ignored");
    let (ok, _) = as_nobody(&format!("mv {0}/tmp/rootfile {0}/tmp/x", d.display()));
    assert!(!ok, "sticky bit ignored by rename");
    let (ok, _) = as_nobody(&format!("chown 0 {}/tmp/mine", d.display()));
    assert!(!ok, "nobody gave a file away");
    let (ok, err) = as_nobody(&format!("rm {}/tmp/mine", d.display()));
    assert!(ok, "nobody could not remove its own file: {err}");

    m.unmount();
    assert_clean(&img);
}

#[test]
fn fuse_mfs_every_format() {
    if !fuse_or_skip() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    for (i, args) in [
        &["--version", "1", "--size", "8M"][..],
        &["--version", "2", "--size", "8M", "--namelen", "14"],
        &["--version", "3", "--size", "8M", "--block-size", "1024"],
        &["--version", "3", "--size", "16M", "--block-size", "4096"],
        &["--version", "3", "--size", "32M", "--block-size", "32768"],
    ]
    .into_iter()
    .enumerate()
    {
        let img = t.path().join(format!("fmt{i}.img"));
        mkfs(&img, args);
        let dir = t.path().join(format!("mnt{i}"));
        let m = Mount::start(&img, &dir, &[]);
        let data: Vec<u8> = (0..3_000_000u32).map(|x| (x * 7 % 253) as u8).collect();
        fs::create_dir_all(dir.join("a/b")).unwrap();
        fs::write(dir.join("a/b/data"), &data).unwrap();
        std::os::unix::fs::symlink("b/data", dir.join("a/ln")).unwrap();
        assert_eq!(fs::read(dir.join("a/ln")).unwrap(), data);
        m.unmount();
        assert_clean(&img);
        // What went in through FUSE reads back through the core.
        let got = mfs::ok(&["stat", img.to_str().unwrap(), "/a/b/data"]);
        assert!(got.contains("Size: 3000000"), "{got}");
        // And through a read-only mount.
        let m = Mount::start(&img, &dir, &["-o", "ro"]);
        assert_eq!(fs::read(dir.join("a/b/data")).unwrap(), data);
        assert_eq!(errno_of(fs::write(dir.join("new"), b"")), EROFS);
        m.unmount();
        assert_clean(&img);
    }
}

#[test]
fn fuse_mfs_enospc() {
    if !fuse_or_skip() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("small.img");
    mkfs(&img, &["--size", "2M", "--block-size", "1024"]);
    let m = Mount::start(&img, &t.path().join("mnt"), &[]);
    let mut f = File::create(m.dir.join("fill")).unwrap();
    let chunk = vec![1u8; 64 << 10];
    let e = loop {
        if let Err(e) = f.write_all(&chunk) {
            break e;
        }
    };
    assert_eq!(e.raw_os_error(), Some(ENOSPC));
    drop(f);
    // Freeing space makes room again.
    fs::remove_file(m.dir.join("fill")).unwrap();
    fs::write(m.dir.join("after"), vec![2u8; 1 << 20]).unwrap();
    m.unmount();
    assert_clean(&img);
}

#[test]
fn fuse_mfs_unclean_image_mounts_read_only() {
    if !fuse_or_skip() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("unclean.img");
    mkfs(&img, &["--version", "2", "--size", "4M"]);
    // A read-write mount that is never unmounted leaves the image unclean.
    drop(images::mfstool::mount(&img, true).unwrap());
    let m = Mount::start(&img, &t.path().join("mnt"), &[]);
    assert!(m.stderr().contains("mounting read-only"), "{}", m.stderr());
    assert_eq!(errno_of(fs::write(m.dir.join("x"), b"")), EROFS);
    m.unmount();
    let m = Mount::start(&img, &t.path().join("mnt"), &["--force"]);
    assert!(
        m.stderr()
            .contains("unclean, mounted read-write as requested"),
        "{}",
        m.stderr()
    );
    fs::write(m.dir.join("x"), b"forced").unwrap();
    m.unmount();
    // The forced read-write mount unmounted cleanly.
    assert_clean(&img);

    // A V3 superblock without flags, as util-linux writes it, is judged by
    // the check: read-write, and no warning of an unclean file system.
    let v3 = t.path().join("flagless.img");
    mkfs(&v3, &["--size", "4M"]);
    let mut sb = fs::read(&v3).unwrap();
    sb[1024 + 14..1024 + 16].copy_from_slice(&[0, 0]); // s_flags
    fs::write(&v3, &sb).unwrap();
    let m = Mount::start(&v3, &t.path().join("mnt"), &[]);
    fs::write(m.dir.join("y"), b"written").unwrap();
    assert!(!m.stderr().contains("unclean"), "{}", m.stderr());
    m.unmount();
    assert_clean(&v3);
}

#[test]
fn fuse_mfs_signals_and_background() {
    if !fuse_or_skip() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("sig.img");
    mkfs(&img, &["--size", "8M", "--block-size", "1024"]);
    let dir = t.path().join("mnt");
    for sig in ["INT", "TERM"] {
        let m = Mount::start(&img, &dir, &[]);
        fs::write(dir.join(format!("by-{sig}")), sig).unwrap();
        m.signal(sig);
        assert_clean(&img);
    }
    // Background (the default): returns once mounted; fusermount3 -u ends it.
    let st = Command::new(mfs_bin())
        .arg("mount")
        .arg(&img)
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert!(is_mounted(&dir));
    assert_eq!(fs::read(dir.join("by-TERM")).unwrap(), b"TERM");
    fs::write(dir.join("bg"), b"bg").unwrap();
    assert!(
        Command::new("fusermount3")
            .arg("-u")
            .arg(&dir)
            .status()
            .unwrap()
            .success()
    );
    // The server writes the image back after the unmount: wait until it
    // has exited.
    wait_until("the background server to finish", || !server_running(&dir));
    assert_clean(&img);
    assert_eq!(mfs::ok(&["cat", img.to_str().unwrap(), "/bg"]), "bg");
    // uid=/gid= mapping: the image's owner 0 shows as the mapped user.
    let m = Mount::start(&img, &dir, &["-o", "uid=4242,gid=4343"]);
    let md = fs::metadata(&dir).unwrap();
    assert_eq!((md.uid(), md.gid()), (4242, 4343));
    m.unmount();
    // Errors are reported: a missing image, a bad option.
    let (code, _, err) = mfs::run(&["mount", "-f", "/nonexistent.img", dir.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent.img"), "{err}");
    let (code, _, err) = mfs::run(&[
        "mount",
        "-o",
        "bogus",
        img.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown mount option"), "{err}");
}

/// Whether an `mfs mount` process serving `dir` is still running.
fn server_running(dir: &Path) -> bool {
    let want = dir.to_string_lossy().into_owned();
    fs::read_dir("/proc").unwrap().any(|e| {
        let Ok(e) = e else { return false };
        let cmd = fs::read(e.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmd.split(|&b| b == 0).collect();
        args.contains(&&b"mount"[..]) && args.contains(&want.as_bytes())
    })
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// fsx-style: random writes, truncates, reads and reopenings on a few
/// files through the mount, each checked against an in-memory model; then
/// a remount must show the same contents.
#[test]
fn fuse_mfs_random_operations_match_a_model() {
    if !fuse_or_skip() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("fsx.img");
    mkfs(&img, &["--size", "64M", "--block-size", "1024"]);
    let dir = t.path().join("mnt");
    let m = Mount::start(&img, &dir, &[]);
    const FILES: usize = 4;
    const MAX: u64 = 600_000;
    let mut model: Vec<Vec<u8>> = vec![Vec::new(); FILES];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let path = |i: usize| dir.join(format!("fsx{i}"));
    let mut files: Vec<File> = (0..FILES)
        .map(|i| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(path(i))
                .unwrap()
        })
        .collect();
    for step in 0..3000 {
        let i = rng.below(FILES as u64) as usize;
        match rng.below(10) {
            0..=3 => {
                let off = rng.below(MAX);
                let len = 1 + rng.below(70_000) as usize;
                let len = len.min((MAX - off) as usize);
                let b = (step % 251) as u8;
                let data = vec![b; len];
                files[i].write_all_at(&data, off).unwrap();
                let end = off as usize + len;
                if model[i].len() < end {
                    model[i].resize(end, 0);
                }
                model[i][off as usize..end].copy_from_slice(&data);
            }
            4 => {
                let size = rng.below(MAX);
                files[i].set_len(size).unwrap();
                model[i].resize(size as usize, 0);
            }
            5 => {
                files[i] = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path(i))
                    .unwrap();
            }
            6 => files[i].sync_all().unwrap(),
            _ => {
                let off = rng.below(MAX);
                let len = 1 + rng.below(100_000) as usize;
                let mut buf = vec![0u8; len];
                let mut got = 0;
                loop {
                    match files[i].read_at(&mut buf[got..], off + got as u64) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => panic!("read: {e}"),
                    }
                    if got == len {
                        break;
                    }
                }
                let m = &model[i];
                let want = if (off as usize) < m.len() {
                    &m[off as usize..(off as usize + len).min(m.len())]
                } else {
                    &[][..]
                };
                assert_eq!(&buf[..got], want, "step {step}: file {i} at {off}+{len}");
            }
        }
        assert_eq!(
            files[i].metadata().unwrap().len(),
            model[i].len() as u64,
            "step {step}"
        );
    }
    drop(files);
    m.unmount();
    assert_clean(&img);
    let m = Mount::start(&img, &dir, &[]);
    for (i, want) in model.iter().enumerate() {
        assert!(
            fs::read(path(i)).unwrap() == *want,
            "file {i} differs after remount"
        );
    }
    m.unmount();
    assert_clean(&img);
}

/// Several processes' worth of requests at once: the mount's FUSE
/// threads (one polling by default; one blocking; two, one of them
/// polling; four blocking) take turns on the core.
/// Four client threads each create, write, read back, rename and remove
/// files, half in a directory they share; every byte and name must come
/// out as each thread left it, in the mount, after a remount, and with
/// the image clean.
#[test]
fn fuse_mfs_parallel_clients() {
    if !fuse_or_skip() {
        return;
    }
    for opts in [
        &[][..],
        &["-o", "nopoll"],
        &["-o", "threads=2"],
        &["-o", "threads=4,nopoll"],
    ] {
        parallel_clients(opts);
    }
}

fn parallel_clients(mount_opts: &[&str]) {
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("par.img");
    mkfs(&img, &["--size", "96M"]);
    let dir = t.path().join("mnt");
    let m = Mount::start(&img, &dir, mount_opts);
    fs::create_dir(dir.join("shared")).unwrap();
    const CLIENTS: usize = 4;
    const FILES: usize = 60;
    // The bytes client `c` leaves in its file `i` (sizes up to 300 KiB,
    // none a multiple of the block size).
    let content = |c: usize, i: usize| -> Vec<u8> {
        let len = 1 + (c * 7919 + i * 104_729) % 300_000;
        (0..len)
            .map(|k| (k as u32 ^ (c * 31 + i) as u32) as u8)
            .collect()
    };
    let name = |c: usize, i: usize| {
        let sub = if i.is_multiple_of(2) {
            "shared".to_string()
        } else {
            format!("own{c}")
        };
        dir.join(sub).join(format!("c{c}-f{i}"))
    };
    std::thread::scope(|s| {
        for c in 0..CLIENTS {
            let (content, name, dir) = (&content, &name, &dir);
            s.spawn(move || {
                fs::create_dir(dir.join(format!("own{c}"))).unwrap();
                for i in 0..FILES {
                    let p = name(c, i);
                    let want = content(c, i);
                    let mut f = OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&p)
                        .unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
                    // Uneven pieces, so writes of different clients interleave.
                    for piece in want.chunks(40_000 + c * 1_000) {
                        f.write_all(piece).unwrap();
                    }
                    drop(f);
                    assert!(fs::read(&p).unwrap() == want, "{} read back", p.display());
                    if i.is_multiple_of(3) {
                        let tmp = p.with_extension("tmp");
                        fs::rename(&p, &tmp).unwrap();
                        fs::rename(&tmp, &p).unwrap();
                    }
                    if i % 5 == 4 {
                        fs::remove_file(&p).unwrap();
                    }
                }
            });
        }
    });
    let check = |when: &str| {
        let mut want_shared = Vec::new();
        for c in 0..CLIENTS {
            for i in 0..FILES {
                let p = name(c, i);
                if i % 5 == 4 {
                    assert!(!p.exists(), "{when}: {} should be gone", p.display());
                    continue;
                }
                assert!(
                    fs::read(&p).unwrap() == content(c, i),
                    "{when}: {}",
                    p.display()
                );
                if i.is_multiple_of(2) {
                    want_shared.push(format!("c{c}-f{i}"));
                }
            }
        }
        let mut got: Vec<String> = fs::read_dir(dir.join("shared"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        got.sort();
        want_shared.sort();
        assert_eq!(
            got, want_shared,
            "{when} ({mount_opts:?}): the shared directory"
        );
    };
    check("mounted");
    m.unmount();
    assert_clean(&img);
    let m = Mount::start(&img, &dir, &["-o", "ro"]);
    check("remounted");
    m.unmount();
    assert_clean(&img);
}

/// kill -9 of the server in the middle of writes (`-o nobarrier`): the
/// image needs at most a leak-only repair (write ordering), and a file
/// fsync'd before is whole.
#[test]
fn fuse_mfs_killed_mid_workload() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    if !fuse_or_skip() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let img = t.path().join("kill.img");
    mkfs(&img, &["--size", "64M", "--block-size", "1024"]);
    // Without barriers: the write order must still hold against the
    // server's death (the host keeps what it was given).
    let mut m = Mount::start(&img, &t.path().join("mnt"), &["-o", "nobarrier"]);
    let d = m.dir.clone();
    let kept: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    fs::create_dir(d.join("safe")).unwrap();
    let mut f = File::create(d.join("safe/kept")).unwrap();
    f.write_all(&kept).unwrap();
    f.sync_all().unwrap();
    drop(f);
    // A writer that goes on until the server is gone.
    let done = Arc::new(AtomicUsize::new(0));
    let (dw, done_w) = (d.clone(), done.clone());
    let writer = std::thread::spawn(move || {
        let chunk = vec![0x5au8; 48 << 10];
        for i in 0usize.. {
            let dir = dw.join(format!("w{}", i % 16));
            if i < 16 && fs::create_dir(&dir).is_err() {
                return;
            }
            let r = File::create(dir.join(format!("f{i}"))).and_then(|mut f| f.write_all(&chunk));
            if r.is_err() {
                return;
            }
            // Keep the image from filling: the writer frees as it goes.
            if i >= 40
                && fs::remove_file(dw.join(format!("w{}/f{}", (i - 40) % 16, i - 40))).is_err()
            {
                return;
            }
            done_w.store(i + 1, Ordering::SeqCst);
        }
    });
    wait_until("the writer to get going", || {
        done.load(Ordering::SeqCst) >= 200
    });
    let mut child = m.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = Command::new("umount").arg("-l").arg(&d).status();
    writer.join().unwrap();
    assert!(!is_mounted(&d));
    // Only leaks before the repair, nothing after it.
    let mut dev = images::mfstool::HostFile::open(&img, false).unwrap();
    let r = ::mfs::fsck::fsck(&mut dev, ::mfs::fsck::Options::default());
    assert!(r.fatal.is_none(), "{:?}", r.fatal);
    let bad: Vec<String> = r
        .errors()
        .filter(|f| !f.leak)
        .map(|f| f.to_string())
        .collect();
    assert!(bad.is_empty(), "damage beyond leaks after kill -9: {bad:?}");
    drop(dev);
    let (code, out, err) = mfs::run(&["fsck", "--repair", img.to_str().unwrap()]);
    assert!(code <= 1, "repair: {out}{err}");
    assert_clean(&img);
    let (code, _, err) = mfs::run(&[
        "get",
        img.to_str().unwrap(),
        "/safe/kept",
        t.path().join("kept").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        fs::read(t.path().join("kept")).unwrap() == kept,
        "the fsync'd file changed"
    );
}

/// The fsx version the tests and scripts/fsx-fuse.sh use.
const FSX_VERSION: &str = "0.3.2";

/// fsx, the Rust port: $FSX if set, else the per-user cache that
/// scripts/setup.sh's ensure_fsx fills
/// (`${XDG_CACHE_HOME:-~/.cache}/mfs-tools/fsx-VERSION/bin/fsx`), installed
/// there with `cargo install --locked` when missing. `None` (after a note)
/// only outside CI when the install fails; under CI=true that panics.
fn fsx_or_install() -> Option<PathBuf> {
    if let Some(f) = std::env::var_os("FSX") {
        let f = PathBuf::from(f);
        assert!(f.is_file(), "FSX={} does not exist", f.display());
        return Some(f);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .expect("neither XDG_CACHE_HOME nor HOME is set");
    let root = cache.join("mfs-tools").join(format!("fsx-{FSX_VERSION}"));
    let bin = root.join("bin").join("fsx");
    if bin.is_file() {
        return Some(bin);
    }
    eprintln!(
        "note: installing fsx {FSX_VERSION} into {} (cargo install --locked)",
        root.display()
    );
    let o = Command::new(env!("CARGO"))
        .args([
            "install",
            "--quiet",
            "--locked",
            "--version",
            FSX_VERSION,
            "--root",
        ])
        .arg(&root)
        .arg("fsx")
        .output();
    let why = match o {
        Ok(o) if o.status.success() && bin.is_file() => return Some(bin),
        Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
        Err(e) => e.to_string(),
    };
    if in_ci() {
        panic!("CI is set but fsx {FSX_VERSION} could not be installed: {why}");
    }
    eprintln!("note: fsx could not be installed ({why}); skipping the fsx run");
    None
}

/// A short run of fsx (the Rust port, 3,000 operations) on the mount with
/// scripts/fsx-mfs.toml (every fsx operation a FUSE mount of MFS supports:
/// pread/pwrite, mmap reads and writes, truncate, close/reopen,
/// msync(MS_INVALIDATE), fsync, fdatasync, sendfile, posix_fadvise,
/// copy_file_range, posix_fallocate; a 1 MiB file, so double-indirect
/// blocks on 1 KiB blocks), then mfs fsck and fsck.minix -f clean; once
/// write-through (the default) and once with `-o writeback`. The long run
/// (100,000 operations per format) is scripts/fsx-fuse.sh.
#[test]
fn fuse_mfs_fsx_short_run() {
    if !fuse_or_skip() {
        return;
    }
    let Some(fsx) = fsx_or_install() else {
        return;
    };
    let conf = images::build::workspace_root().join("scripts/fsx-mfs.toml");
    // Write-through (the default) and the kernel's writeback cache.
    for (opts, seed) in [(&[][..], "11"), (&["-o", "writeback"][..], "12")] {
        let t = tempfile::tempdir().unwrap();
        let img = t.path().join("fsx.img");
        mkfs(&img, &["--size", "64M", "--block-size", "1024"]);
        let m = Mount::start(&img, &t.path().join("mnt"), opts);
        let o = Command::new(&fsx)
            .args(["-N", "3000", "-S", seed, "-f"])
            .arg(&conf)
            .arg("-P")
            .arg(t.path())
            .arg(m.dir.join("fsx.dat"))
            .output()
            .unwrap();
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "fsx {opts:?} failed: {out}");
        assert!(
            out.contains("All operations completed A-OK!"),
            "{opts:?}: {out}"
        );
        m.unmount();
        assert_clean(&img);
    }
}
