//! The `mfs mount` command: options, foreground or background, signals,
//! and a clean unmount (see [`super::fuse`] for the file system itself).
//!
//! In the background (the default) the command starts itself again in the
//! foreground as a new process group, waits until that process has mounted
//! the image (it prints `ready`) and exits 0, or with the server's error.
//! The server ends when the mount goes: `fusermount3 -u DIR` (or `umount`),
//! SIGINT, SIGTERM or SIGHUP (which unmount DIR, lazily if it is busy).
//! Either way it then writes everything back and marks the image clean.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::sys::signal::{SigSet, Signal};

use libbdev::BlockDevice;

use super::fuse::{self, FlushGate, IdMap, MfsFuse, Ops};
use super::poll::{Poller, Tuning};
use super::{Fs, HostFile, ToolError, io_err};

/// Arguments of `mfs mount`.
#[derive(Debug, clap::Args)]
pub struct MountArgs {
    /// Mount options, comma separated (repeatable): ro, rw, allow_other,
    /// uid=N and gid=N (the image's owner 0 shows as host uid/gid N),
    /// nobarrier (flush the image to disk only at fsync and unmount:
    /// faster, safe against the server being killed but not against a
    /// host crash; the default, barrier, flushes at every ordering point),
    /// writeback (the kernel's writeback cache: writes return once in
    /// the page cache and reach the image in large batches; off by default),
    /// nopoll (no FUSE thread polls for requests during a burst of them;
    /// polling, the default, makes small requests 1.5 to 2 times as fast
    /// at the cost of up to a CPU while the burst lasts), threads=N (FUSE
    /// threads taking turns on the file system, 1 to 8; default 1, or 2
    /// with nopoll, where 2 serve small random reads twice as fast).
    #[arg(short = 'o', value_name = "OPTIONS")]
    pub options: Vec<String>,
    /// Stay in the foreground (default: detach once mounted).
    #[arg(short = 'f', long)]
    pub foreground: bool,
    /// Internal: print `ready` on standard output once mounted, then
    /// close standard output and error (used by the background start).
    #[arg(long, hide = true)]
    pub notify_ready: bool,
    /// The image file.
    pub image: PathBuf,
    /// The directory to mount it on.
    pub dir: PathBuf,
}

/// Parsed `-o` options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MountOpts {
    /// Read-only.
    pub ro: bool,
    /// Let every user in (not just the one who mounted).
    pub allow_other: bool,
    /// Owner mapping.
    pub ids: IdMap,
    /// No device flush at the core's ordering points, only at fsync and
    /// unmount (`nobarrier`): the write order still holds against the
    /// server being killed (the host's page cache keeps what was written),
    /// not against a host crash.
    pub nobarrier: bool,
    /// The kernel's writeback cache (`writeback`; `nowriteback`, the
    /// default, sends every write to the server as it happens).
    pub writeback: bool,
    /// FUSE threads (`threads=N`); `None` is [`MountOpts::threads`].
    pub threads: Option<usize>,
    /// No polling of the FUSE device during bursts of requests
    /// (`nopoll`; see [`super::poll`]).
    pub nopoll: bool,
}

impl MountOpts {
    /// FUSE threads: as given, else 1 with polling and 2 without. Measured
    /// (the fuse module documentation has the figures): a polling thread
    /// serves small requests as fast as two threads do, and one thread
    /// streams cold reads faster than two; without polling, two threads
    /// serve small random reads twice as fast as one.
    pub fn threads(&self) -> usize {
        self.threads.unwrap_or(if self.nopoll { 2 } else { 1 })
    }
}

/// Parses the `-o` lists.
pub fn parse_options(lists: &[String]) -> Result<MountOpts, String> {
    let mut o = MountOpts::default();
    for list in lists {
        for opt in list.split(',').filter(|s| !s.is_empty()) {
            let num = |v: &str| {
                v.parse::<u32>()
                    .map_err(|_| format!("bad number in mount option {opt:?}"))
            };
            match opt.split_once('=') {
                None if opt == "ro" => o.ro = true,
                None if opt == "rw" => o.ro = false,
                None if opt == "allow_other" => o.allow_other = true,
                None if opt == "barrier" => o.nobarrier = false,
                None if opt == "nobarrier" => o.nobarrier = true,
                None if opt == "writeback" => o.writeback = true,
                None if opt == "nowriteback" => o.writeback = false,
                None if opt == "poll" => o.nopoll = false,
                None if opt == "nopoll" => o.nopoll = true,
                // Always on: the kernel checks permissions.
                None if opt == "default_permissions" => {}
                Some(("uid", v)) => o.ids.uid = Some(num(v)?),
                Some(("gid", v)) => o.ids.gid = Some(num(v)?),
                Some(("threads", v)) => match num(v)? {
                    n @ 1..=8 => o.threads = Some(n as usize),
                    _ => return Err(format!("mount option {opt:?}: threads must be 1 to 8")),
                },
                _ => {
                    return Err(format!(
                        "unknown mount option {opt:?} (known: ro, rw, allow_other, uid=N, gid=N, barrier, nobarrier, writeback, nowriteback, threads=N, poll, nopoll)"
                    ));
                }
            }
        }
    }
    Ok(o)
}

/// True when the superblock says the image was not cleanly unmounted (a
/// V3 superblock without any flags, as util-linux writes, counts as clean).
pub fn is_unclean(image: &Path) -> Result<bool, ToolError> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(image).map_err(|e| io_err(image, e))?;
    let mut area = [0u8; 64];
    f.read_exact_at(&mut area, 1024)
        .map_err(|e| io_err(image, format!("reading the superblock: {e}")))?;
    match mfs::format::SuperBlock::parse(&area) {
        Ok(sb) => {
            let no_flags = sb.version == mfs::format::Version::V3 && sb.flags == 0;
            Ok(!sb.is_clean() && !no_flags)
        }
        Err(e) => Err(io_err(image, format!("bad superblock: {e}"))),
    }
}

/// Runs `mfs mount`; `force` is the global `--force`.
pub fn cmd_mount(a: &MountArgs, force: bool, err: &mut dyn Write) -> Result<i32, ToolError> {
    let opts = parse_options(&a.options).map_err(|e| io_err(&a.image, e))?;
    if !a.dir.is_dir() {
        return Err(io_err(
            &a.image,
            format!("{}: not a directory", a.dir.display()),
        ));
    }
    if a.foreground {
        serve(a, opts, force, err)
    } else {
        start_background(a, force)
    }
}

/// Starts `mfs mount -f` detached and waits until it has mounted.
fn start_background(a: &MountArgs, force: bool) -> Result<i32, ToolError> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| io_err(&a.image, e))?;
    let mut cmd = Command::new(exe);
    if force {
        cmd.arg("--force");
    }
    cmd.args(["mount", "-f", "--notify-ready"]);
    for o in &a.options {
        cmd.arg("-o").arg(o);
    }
    cmd.arg(&a.image).arg(&a.dir);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| io_err(&a.image, format!("starting the server: {e}")))?;
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    if line.trim() == "ready" {
        return Ok(0);
    }
    let st = child.wait().map_err(|e| io_err(&a.image, e))?;
    // The server has said why on standard error.
    Ok(st.code().filter(|&c| c != 0).unwrap_or(1))
}

/// Unmounts `dir` (lazily if it is busy; through fusermount3 when the
/// mount system call is not allowed).
fn unmount_dir(dir: &Path) {
    use nix::mount::{MntFlags, umount2};
    match umount2(dir, MntFlags::empty()) {
        Ok(()) => {}
        Err(nix::errno::Errno::EBUSY) => {
            let _ = umount2(dir, MntFlags::MNT_DETACH);
        }
        Err(_) => {
            for bin in ["fusermount3", "fusermount"] {
                let ok = Command::new(bin)
                    .args(["-u", "-z"])
                    .arg(dir)
                    .stdin(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    break;
                }
            }
        }
    }
}

/// Mounts and serves in this process until the mount goes.
fn serve(
    a: &MountArgs,
    opts: MountOpts,
    force: bool,
    err: &mut dyn Write,
) -> Result<i32, ToolError> {
    let image = &a.image;
    let mut write = !opts.ro;
    if write && !force {
        // Unclean, or failing the check (a V3 image without a clean flag,
        // as util-linux makes them, is judged by the check alone): read-only.
        let why = if is_unclean(image)? {
            Some("file system not cleanly unmounted".to_string())
        } else {
            super::precheck_for_write(image).err().map(|e| e.message)
        };
        if let Some(why) = why {
            let _ = writeln!(
                err,
                "mfs: {}: warning: {why}; mounting read-only (run `mfs fsck --repair`, or mount with --force)",
                image.display()
            );
            write = false;
        }
    }
    // Signals go to the thread that waits for them, never to a worker.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        signals.add(s);
    }
    signals
        .thread_block()
        .map_err(|e| io_err(image, format!("blocking signals: {e}")))?;
    let (fs, gate) = open_core(image, write, opts.nobarrier)?;
    match fs.warning() {
        // Not forced, yet read-write on an image not marked clean: a V3
        // superblock without flags (util-linux writes none), judged by the
        // check above. Nothing to warn of.
        Some(mfs::fs::MountWarning::UncleanForced) if !force => {}
        Some(w) => {
            let _ = writeln!(err, "mfs: {}: warning: {w}", image.display());
        }
        None => {}
    }
    let read_only = fs.is_read_only();
    let core = fuse::share(Ops::with_gate(fs, opts.ids, gate));
    let adapter = MfsFuse::new(core.clone()).with_writeback_cache(opts.writeback);
    let poller = adapter.poller_slot();

    let mut config = fuser::Config::default();
    config.mount_options = vec![
        fuser::MountOption::FSName(image.display().to_string()),
        fuser::MountOption::Subtype("mfs".into()),
        fuser::MountOption::DefaultPermissions,
        fuser::MountOption::NoAtime,
        if read_only {
            fuser::MountOption::RO
        } else {
            fuser::MountOption::RW
        },
    ];
    if opts.allow_other {
        config.acl = fuser::SessionACL::All;
    }
    // Each FUSE thread with its own /dev/fuse descriptor.
    let threads = opts.threads();
    config.n_threads = Some(threads);
    config.clone_fd = threads > 1;
    let session = fuser::Session::new(adapter, &a.dir, &config);
    let session = match session {
        Ok(s) => s,
        Err(e) => {
            // Nothing was served: the image is left as it was, clean.
            finish(image, &core)?;
            return Err(io_err(
                image,
                format!("mounting on {}: {e}", a.dir.display()),
            ));
        }
    };
    if !opts.nopoll {
        // The session's own descriptor: the last FUSE thread reads it (the
        // others read clones, each its own open file, so they keep
        // blocking). Without a poller the mount only loses speed.
        use std::os::fd::AsFd;
        if let Ok(fd) = session.as_fd().try_clone_to_owned()
            && let Ok(p) = Poller::start(fd, Tuning::default())
        {
            let _ = poller.set(p);
        }
    }
    if a.notify_ready {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ready");
        let _ = out.flush();
        drop(out);
        // Detached: nobody reads these any more (and holding the starter's
        // pipes open would keep it waiting).
        if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            let _ = nix::unistd::dup2_stdout(&null);
            let _ = nix::unistd::dup2_stderr(&null);
        }
    }
    let dir = a.dir.canonicalize().unwrap_or_else(|_| a.dir.clone());
    std::thread::Builder::new()
        .name("mfs-signals".into())
        .spawn(move || {
            if signals.wait().is_ok() {
                unmount_dir(&dir);
            }
        })
        .map_err(|e| io_err(image, format!("starting the signal thread: {e}")))?;
    let served = session.run();
    finish(image, &core)?;
    match served {
        // Now and then (about one unmount in ten after an fsx run, on
        // Linux 6.18) the last read of /dev/fuse at an unmount returns
        // ECONNABORTED rather than ENODEV. Either way the connection is
        // over and the core has written the image back (above): an end,
        // said so, not a failure.
        Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => {
            let _ = writeln!(
                err,
                "mfs: {}: note: the kernel ended the FUSE connection with ECONNABORTED; image written back",
                image.display()
            );
        }
        r => r.map_err(|e| io_err(image, format!("serving: {e}")))?,
    }
    Ok(0)
}

/// Block cache of a mount: 64 MiB (at least the tool's default count).
const CACHE_BYTES: usize = 64 << 20;

/// The image file under a mount: device flushes pass a [`FlushGate`].
struct ImageFile {
    inner: HostFile,
    gate: FlushGate,
}

impl BlockDevice for ImageFile {
    fn read_vectored(&mut self, pos: u64, bufs: &mut [&mut [u8]]) -> libbdev::Result<usize> {
        self.inner.read_vectored(pos, bufs)
    }
    fn write_vectored(&mut self, pos: u64, bufs: &[&[u8]]) -> libbdev::Result<usize> {
        self.inner.write_vectored(pos, bufs)
    }
    fn size(&mut self) -> libbdev::Result<u64> {
        self.inner.size()
    }
    fn flush(&mut self) -> libbdev::Result<()> {
        if self.gate.get() {
            self.inner.flush()
        } else {
            Ok(())
        }
    }
}

/// Mounts the core on the image (checked, or forced, already): read-only
/// unless `write`; device flushes always reach the disk unless
/// `nobarrier`.
fn open_core(image: &Path, write: bool, nobarrier: bool) -> Result<(Fs, FlushGate), ToolError> {
    let block_size = {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(image).map_err(|e| io_err(image, e))?;
        let mut area = [0u8; 64];
        f.read_exact_at(&mut area, 1024)
            .map_err(|e| io_err(image, format!("reading the superblock: {e}")))?;
        mfs::format::SuperBlock::parse(&area)
            .map_err(|e| io_err(image, format!("bad superblock: {e}")))?
            .block_size as usize
    };
    let bufs = (CACHE_BYTES / block_size.max(1024)).max(mfs::cache::DEFAULT_BUFS);
    let inner = HostFile::open(image, write).map_err(|e| io_err(image, e))?;
    let gate: FlushGate = std::rc::Rc::new(std::cell::Cell::new(!nobarrier));
    let dev = ImageFile {
        inner,
        gate: gate.clone(),
    };
    let opts = mfs::fs::MountOptions {
        read_only: !write,
        force_rw_unclean: true,
    };
    let fs = mfs::fs::FileSystem::mount_device(Box::new(dev), bufs, opts)
        .map_err(|e| io_err(image, e))?;
    // The cache's per-block crc32s exist for a restarted MFS server that
    // adopts the cache (the OS); a mount's cache dies with its process, so
    // none are computed: none for blocks read, and modified blocks are
    // checksummed only at a seal, which never comes. (They cost a third of
    // the server's time on a sequential write.)
    let cache = fs.io().cache();
    cache.set_checksum_clean(false);
    cache.set_deferred_checksums(true);
    Ok((fs, gate))
}

/// Unmounts the core once the session is over (writing everything back
/// and marking the image clean).
fn finish(image: &Path, core: &fuse::SharedCore) -> Result<(), ToolError> {
    let Some(ops) = fuse::take(core) else {
        return Err(io_err(
            image,
            "an operation panicked in the core; image left unclean",
        ));
    };
    let fs = ops.into_fs();
    if let Some(what) = fs.inconsistency() {
        return Err(io_err(
            image,
            format!("file system inconsistent ({what}); left unclean, run `mfs fsck`"),
        ));
    }
    fs.unmount()
        .map_err(|e| io_err(image, format!("unmount: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(s: &[&str]) -> Result<MountOpts, String> {
        parse_options(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn mount_options_parse() {
        assert_eq!(opts(&[]), Ok(MountOpts::default()));
        let o = opts(&["ro,allow_other", "uid=1000,gid=100"]).unwrap();
        assert!(o.ro && o.allow_other);
        assert_eq!(o.ids.uid, Some(1000));
        assert_eq!(o.ids.gid, Some(100));
        assert!(!opts(&["ro,rw"]).unwrap().ro);
        assert!(opts(&["nobarrier"]).unwrap().nobarrier);
        assert!(!opts(&["nobarrier,barrier"]).unwrap().nobarrier);
        assert!(opts(&["uid=x"]).is_err());
        assert!(opts(&["bogus"]).is_err());
        assert!(opts(&["uid"]).is_err());
        assert_eq!(opts(&["threads=1"]).unwrap().threads, Some(1));
        assert_eq!(opts(&[]).unwrap().threads, None);
        assert_eq!(opts(&[]).unwrap().threads(), 1);
        assert_eq!(opts(&["nopoll"]).unwrap().threads(), 2);
        assert_eq!(opts(&["nopoll,threads=3"]).unwrap().threads(), 3);
        assert!(opts(&["threads=0"]).is_err());
        assert!(opts(&["threads=9"]).is_err());
        assert!(!opts(&[]).unwrap().nopoll);
        assert!(opts(&["nopoll"]).unwrap().nopoll);
        assert!(!opts(&["nopoll,poll"]).unwrap().nopoll);
    }
}
