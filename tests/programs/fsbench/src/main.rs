//! `fsbench [MiB [files]]`: file-system benchmarks in the guest (see the
//! README; default 64 MiB and 2,000 files, as the anchors).
//! `fsbench isoread ISOFS MFS [ISOFS MFS ...]`: for each pair of labels,
//! the cold sequential read of `/big.bin` from the ISOFS instance and from
//! the MFS instance (the same file on the same kind of device), with the
//! ratio ISOFS / MFS. Prints
//! one `fsbench:` line per figure, with the ratio to the Linux anchor, and
//! powers off with a pass when every step worked (a failed step is a
//! failure, never a slow figure: nothing here is a timing threshold).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use native::NativeSys;
use sys::proto::service::{Policy, ServiceReply, ServiceRequest};
use sys::proto::vfs::oflag::{O_CREAT, O_EXCL, O_RDONLY, O_TRUNC, O_WRONLY};
use sys::{Endpoint, Errno, Sys};
use vfs::client::Client;

rt::entry!(main);

/// MiB of the sequential file (argument 1 may make it smaller or larger).
const FILE_MIB: usize = 64;
/// Bytes per read/write call.
const IO: usize = 1 << 20;
/// Files of the metadata steps (argument 2).
const FILES: usize = 2000;

/// The sizes of one run: the anchors' (64 MiB, 2,000 files) by default;
/// tests pass smaller ones (`fsbench 8 200`).
#[derive(Clone, Copy)]
struct Size {
    file_bytes: usize,
    files: usize,
}

/// The Linux 6.1 minix.ko figures in the same QEMU (anchors.md).
const LINUX_WRITE_MIBS: f64 = 70.8;
const LINUX_READ_MIBS: f64 = 255.0;
const LINUX_CREATES: f64 = 7033.0;
const LINUX_UNLINKS: f64 = 15813.0;

type Step = Result<(), String>;

fn err(what: &str, e: Errno) -> String {
    format!("{what}: {e}")
}

fn find(sys: &mut NativeSys, label: &str) -> Option<Endpoint> {
    sys.wait_for_label(label, 2000)
}

/// Seconds since `start` (clock ticks), at least one tick.
fn secs(start: u64) -> f64 {
    (rt::sys::uptime().saturating_sub(start)).max(1) as f64 / sys::HZ as f64
}

/// Where the time of a phase went: clock ticks each process of the data
/// path spent in user mode and in the kernel (`Times`), and the idle rest.
struct CpuSplit {
    labels: [&'static str; 4],
    eps: [u32; 4],
    start: [[u64; 4]; 4],
}

impl CpuSplit {
    fn begin(sys: &mut NativeSys) -> CpuSplit {
        let labels = ["vfs", "mfs2", "virtio-blk", "fsbench"];
        let mut eps = [0u32; 4];
        for (i, l) in labels.iter().enumerate() {
            eps[i] = if *l == "fsbench" {
                abi_self()
            } else {
                sys::ds::retrieve_label(sys, l).map_or(0, |e| e.0)
            };
        }
        let mut start = [[0u64; 4]; 4];
        for (i, &ep) in eps.iter().enumerate() {
            start[i] = rt::sys::times(ep).unwrap_or([0; 4]);
        }
        CpuSplit { labels, eps, start }
    }

    fn end(&self, what: &str) {
        let mut line = format!("fsbench: cpu ticks during {what}:");
        for (i, &ep) in self.eps.iter().enumerate() {
            let now = rt::sys::times(ep).unwrap_or([0; 4]);
            line.push_str(&format!(
                " {} user {} sys {};",
                self.labels[i],
                now[0].saturating_sub(self.start[i][0]),
                now[1].saturating_sub(self.start[i][1])
            ));
        }
        rt::println!("{line}");
    }
}

fn abi_self() -> u32 {
    rt::ipc::whois("").unwrap_or(0)
}

fn report(what: &str, value: f64, unit: &str, linux: f64, elapsed: f64) {
    // No floating-point formatting of ratios below 0.01 in core: scale.
    let ratio = value / linux;
    rt::println!(
        "fsbench: {what}: {}.{:02} {unit} in {}.{:02} s (Linux minix.ko in the same QEMU: {}; ratio {}.{:02})",
        value as u64,
        ((value * 100.0) as u64) % 100,
        elapsed as u64,
        ((elapsed * 100.0) as u64) % 100,
        linux as u64,
        ratio as u64,
        ((ratio * 100.0) as u64) % 100
    );
}

fn pattern(i: usize) -> u8 {
    (i as u8) ^ ((i >> 12) as u8)
}

fn sequential(sys: &mut NativeSys, c: &mut Client, size: Size) -> Step {
    let mut buf = vec![0u8; IO];
    let fd = c
        .open(sys, "/mnt/big", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        .map_err(|e| err("create /mnt/big", e))?;
    let cpu = CpuSplit::begin(sys);
    let t = rt::sys::uptime();
    for chunk in 0..size.file_bytes / IO {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = pattern(chunk * IO + i);
        }
        let n = c.write(sys, fd, &buf).map_err(|e| err("write", e))?;
        if n != IO {
            return Err(format!("short write {n}"));
        }
    }
    c.fsync(sys, fd).map_err(|e| err("fsync", e))?;
    let el = secs(t);
    cpu.end("the write");
    c.close(sys, fd).map_err(|e| err("close", e))?;
    report(
        &format!("sequential {} MiB write + fsync", size.file_bytes >> 20),
        (size.file_bytes >> 20) as f64 / el,
        "MiB/s",
        LINUX_WRITE_MIBS,
        el,
    );
    // Cold: unmount (MFS writes back and drops the device's blocks) and
    // mount again.
    c.umount(sys, "/mnt").map_err(|e| err("umount /mnt", e))?;
    c.mount(sys, "/mnt", "mfs2")
        .map_err(|e| err("mount /mnt", e))?;
    let fd = c
        .open(sys, "/mnt/big", O_RDONLY, 0)
        .map_err(|e| err("open /mnt/big", e))?;
    let cpu = CpuSplit::begin(sys);
    let t = rt::sys::uptime();
    let mut total = 0usize;
    let mut bad = 0usize;
    loop {
        let data = c.read(sys, fd, IO).map_err(|e| err("read", e))?;
        if data.is_empty() {
            break;
        }
        // Spot checks keep the measurement about the file system.
        for i in (0..data.len()).step_by(4093) {
            if data[i] != pattern(total + i) {
                bad += 1;
            }
        }
        total += data.len();
    }
    let el = secs(t);
    cpu.end("the read");
    c.close(sys, fd).map_err(|e| err("close", e))?;
    if total != size.file_bytes || bad != 0 {
        return Err(format!("read back {total} bytes, {bad} wrong"));
    }
    report(
        &format!("cold sequential {} MiB read", size.file_bytes >> 20),
        (size.file_bytes >> 20) as f64 / el,
        "MiB/s",
        LINUX_READ_MIBS,
        el,
    );
    c.unlink(sys, "/mnt/big")
        .map_err(|e| err("unlink /mnt/big", e))
}

fn metadata(sys: &mut NativeSys, c: &mut Client, size: Size) -> Step {
    c.mkdir(sys, "/mnt/d", 0o755).map_err(|e| err("mkdir", e))?;
    // Inside the directory, by relative names, as a shell loop there would.
    c.chdir(sys, "/mnt/d").map_err(|e| err("chdir", e))?;
    let data = [b'x'; 100];
    let cpu = CpuSplit::begin(sys);
    let t = rt::sys::uptime();
    for i in 0..size.files {
        let path = format!("f{i:05}");
        let fd = c
            .open(sys, &path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            .map_err(|e| err(&path, e))?;
        c.write(sys, fd, &data).map_err(|e| err("write", e))?;
        c.close(sys, fd).map_err(|e| err("close", e))?;
    }
    let el = secs(t);
    cpu.end("the creates");
    report(
        &format!(
            "create + 100-byte write, {} files in one directory",
            size.files
        ),
        size.files as f64 / el,
        "files/s",
        LINUX_CREATES,
        el,
    );
    let cpu = CpuSplit::begin(sys);
    let t = rt::sys::uptime();
    for i in 0..size.files {
        let path = format!("f{i:05}");
        c.unlink(sys, &path).map_err(|e| err(&path, e))?;
    }
    let el = secs(t);
    cpu.end("the unlinks");
    report(
        &format!("unlink of those {} files", size.files),
        size.files as f64 / el,
        "files/s",
        LINUX_UNLINKS,
        el,
    );
    c.chdir(sys, "/").map_err(|e| err("chdir /", e))?;
    c.rmdir(sys, "/mnt/d").map_err(|e| err("rmdir", e))
}

/// The price of the primitives the file calls are made of, in TSC cycles
/// (Linux's null system call in the same QEMU: about 1,000 cycles).
fn primitives(sys: &mut NativeSys, c: &mut Client, _size: Size) -> Step {
    const N: u64 = 2000;
    let t = rt::ipc::rdtsc();
    for _ in 0..N {
        let _ = rt::sys::uptime();
    }
    let null = (rt::ipc::rdtsc() - t) / N;
    let buf = [0u8; 64];
    let vfs = c.vfs;
    let t = rt::ipc::rdtsc();
    for _ in 0..N {
        let g = rt::grant::direct(vfs.0, buf.as_ptr(), buf.len(), abi_read())
            .map_err(|e| format!("grant: {e:?}"))?;
        let _ = rt::grant::revoke(g);
    }
    let grant = (rt::ipc::rdtsc() - t) / N;
    let t = rt::ipc::rdtsc();
    for _ in 0..N {
        c.fstat(sys, 999).err();
    }
    let vfs_call = (rt::ipc::rdtsc() - t) / N;
    rt::println!(
        "fsbench: cycles per call: null system call {null}, grant create+revoke {grant}, \
         VFS round trip (fstat of a bad descriptor) {vfs_call}"
    );
    Ok(())
}

fn abi_read() -> u64 {
    rt::abi::GRANT_READ
}

fn mount_second(sys: &mut NativeSys, c: &mut Client, _size: Size) -> Step {
    let up = ServiceRequest::Up {
        id: 1,
        label: "mfs2".into(),
        program: "mfs".into(),
        policy: Policy::Stateful,
        // As the table's file-system services (rs::services::FS_PING_PERIOD).
        period: 5 * sys::HZ as u32,
        flags: 0,
    };
    let reply = sys
        .sendrec(Endpoint::RS, up.to_message().map_err(|e| err("up", e))?)
        .map_err(|e| err("service up mfs2", e))?;
    ServiceReply::try_from(&reply)
        .and_then(|r| r.result)
        .map_err(|e| err("service up mfs2", e))?;
    find(sys, "mfs2").ok_or("mfs2 never came up")?;
    c.mount(sys, "/mnt", "mfs2")
        .map_err(|e| err("mount /mnt", e))
}

/// Has RS start `program` as `label` (as `mount` would) and waits for it.
fn start(sys: &mut NativeSys, program: &str, label: &str) -> Step {
    let up = ServiceRequest::Up {
        id: 1,
        label: label.into(),
        program: program.into(),
        policy: Policy::Stateful,
        period: 5 * sys::HZ as u32,
        flags: 0,
    };
    let what = format!("service up {label}");
    let reply = sys
        .sendrec(Endpoint::RS, up.to_message().map_err(|e| err(&what, e))?)
        .map_err(|e| err(&what, e))?;
    ServiceReply::try_from(&reply)
        .and_then(|r| r.result)
        .map_err(|e| err(&what, e))?;
    find(sys, label).ok_or(format!("{label} never came up"))?;
    Ok(())
}

/// Reads `path` to its end in 1 MiB reads: (bytes, a checksum, seconds).
fn read_all(sys: &mut NativeSys, c: &mut Client, path: &str) -> Result<(usize, u64, f64), String> {
    let fd = c.open(sys, path, O_RDONLY, 0).map_err(|e| err(path, e))?;
    let t = rt::sys::uptime();
    let (mut total, mut sum) = (0usize, 0u64);
    loop {
        let data = c.read(sys, fd, IO).map_err(|e| err("read", e))?;
        if data.is_empty() {
            break;
        }
        // A position-dependent sum of every 4 KiB's first word: both
        // copies must agree, at little cost to the measurement.
        for (k, w) in data.chunks(4096).enumerate() {
            let mut b = [0u8; 8];
            let n = w.len().min(8);
            b[..n].copy_from_slice(&w[..n]);
            sum = sum
                .rotate_left(7)
                .wrapping_add(u64::from_le_bytes(b) ^ (total / 4096 + k) as u64);
        }
        total += data.len();
    }
    let el = secs(t);
    c.close(sys, fd).map_err(|e| err("close", e))?;
    Ok((total, sum, el))
}

fn mibs(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64 / secs
}

fn hundredths(v: f64) -> String {
    format!("{}.{:02}", v as u64, ((v * 100.0) as u64) % 100)
}

/// ISOFS against MFS: the same file, cold, on the same kind of device.
fn isoread(sys: &mut NativeSys, c: &mut Client, pairs: &[&str]) -> Step {
    for pair in pairs.chunks(2) {
        let [iso, mfs] = pair else {
            return Err("labels come in pairs: ISOFS MFS".into());
        };
        start(sys, "isofs", iso)?;
        start(sys, "mfs", mfs)?;
        c.mount(sys, "/tmp", iso)
            .map_err(|e| err("mount /tmp", e))?;
        c.mount(sys, "/mnt", mfs)
            .map_err(|e| err("mount /mnt", e))?;
        let (n_iso, sum_iso, t_iso) = read_all(sys, c, "/tmp/big.bin")?;
        let (n_mfs, sum_mfs, t_mfs) = read_all(sys, c, "/mnt/big.bin")?;
        if n_iso != n_mfs || sum_iso != sum_mfs || n_iso == 0 {
            return Err(format!(
                "{iso} and {mfs} differ: {n_iso} bytes (sum {sum_iso:#x}) against {n_mfs} (sum {sum_mfs:#x})"
            ));
        }
        let (a, b) = (mibs(n_iso, t_iso), mibs(n_mfs, t_mfs));
        rt::println!(
            "fsbench: cold sequential read of {} MiB: isofs ({iso}) {} MiB/s in {} s, mfs ({mfs}) {} MiB/s in {} s; ratio isofs/mfs {}",
            n_iso >> 20,
            hundredths(a),
            hundredths(t_iso),
            hundredths(b),
            hundredths(t_mfs),
            hundredths(a / b)
        );
        c.umount(sys, "/tmp").map_err(|e| err("umount /tmp", e))?;
        c.umount(sys, "/mnt").map_err(|e| err("umount /mnt", e))?;
    }
    Ok(())
}

fn main(args: &str) -> i32 {
    let mut words = args
        .split_ascii_whitespace()
        .map(|w| w.parse::<usize>().ok());
    let size = Size {
        file_bytes: words.next().flatten().unwrap_or(FILE_MIB).max(1) << 20,
        files: words.next().flatten().unwrap_or(FILES).max(1),
    };
    let mut sys = NativeSys::new();
    let Some(vfs) = find(&mut sys, "vfs") else {
        rt::println!("FAIL: VFS never came up");
        rt::sys::shutdown(1);
    };
    let mut c = Client::new(vfs);
    if let Some(rest) = args.trim().strip_prefix("isoread") {
        let labels: alloc::vec::Vec<&str> = rest.split_ascii_whitespace().collect();
        if let Err(e) = isoread(&mut sys, &mut c, &labels) {
            rt::println!("FAIL: isoread: {e}");
            rt::sys::shutdown(1);
        }
        rt::println!("fsbench: done");
        rt::sys::shutdown(0)
    }
    type StepFn = fn(&mut NativeSys, &mut Client, Size) -> Step;
    let steps: [(&str, StepFn); 4] = [
        ("primitives", primitives),
        ("mount the benchmark disk", mount_second),
        ("sequential", sequential),
        ("metadata", metadata),
    ];
    for (name, step) in steps {
        if let Err(e) = step(&mut sys, &mut c, size) {
            rt::println!("FAIL: {name}: {e}");
            rt::sys::shutdown(1);
        }
    }
    let _ = c.umount(&mut sys, "/mnt");
    let _ = c.sync(&mut sys);
    rt::println!("fsbench: done");
    rt::sys::shutdown(0)
}
