//! `fsload-core`: the crash-under-load client, shared by the boot program
//! `fsload` (over `vfs::client`, `qemu_fs_crash_under_load`) and the disk
//! program `/bin/crashload` (over `ulib`, started from the shell,
//! `qemu_shell_crashload`). It is pure: it talks to the file system only
//! through the [`Fs`] trait each program implements, so the bookkeeping and
//! the checks are tested here on the host against an in-memory file system
//! that can be told to misbehave.
//!
//! A client ([`Load`]) works in its own directory with a seeded mix of
//! operations ([`Load::step`]): O_EXCL creates of files with a known
//! [`pattern`] (fsync'd before the close every `fsync_every`-th one, when
//! asked), read-backs, renames, unlinks, mkdir/rmdir, append records with
//! sequence numbers, and pipe round trips. Every acknowledged change is
//! remembered and checked:
//!
//! * *lost*: a read-back that differs, a file that vanished, a missing
//!   append record, pipe data that did not come back intact;
//! * *dup* (applied twice): an O_EXCL create or mkdir answered `EEXIST`, a
//!   rename answered `ENOENT` whose destination exists, an append record
//!   that appears twice;
//! * *vanished*: an unlink, rename or rmdir of a name it owns answered
//!   `ENOENT` otherwise;
//! * *errors*: unexpected errors, stray names in its directory (removed, or
//!   created without an acknowledgement), append records out of order.
//!
//! [`Load::finish`] checks every file it keeps, its directory listing and
//! its append log, prints a `kept PATH len=L seq=S client=K` line per file
//! (the host recomputes the contents with [`pattern`]) and a `final ...`
//! line with its [`Counts`].
#![cfg_attr(not(test), no_std)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use sys::Errno;
use sys::proto::vfs::oflag::{O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_WRONLY};

/// Files a client keeps at most.
pub const MAX_FILES: usize = 24;
/// Largest file a client writes.
pub const MAX_LEN: usize = 12 * 1024;
/// Lines of each kind of failure a client prints at most.
pub const MAX_ERROR_LINES: u64 = 20;
/// Bytes of one append record: the client number and the record's
/// sequence number, little-endian.
pub const RECORD: usize = 16;

/// Byte `i` of the file created with sequence number `seq` by client `k`
/// (the host tests compute the same).
pub fn pattern(k: u64, seq: u64, i: u64) -> u8 {
    ((i * 31 + seq * 7 + k * 13) % 251) as u8
}

/// SplitMix64: the seeded choices of clients and crashers.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 for `n` = 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// The generator of client `k` for run seed `seed`.
    pub fn for_client(seed: u64, k: u64) -> Rng {
        Rng(seed ^ k.wrapping_mul(0x5851_f42d_4c95_7f2d))
    }
}

/// The value of `key=value` among `words`, or `default` when it is
/// missing or does not parse.
pub fn arg<'a, T: core::str::FromStr>(
    words: impl IntoIterator<Item = &'a str>,
    key: &str,
    default: T,
) -> T {
    words
        .into_iter()
        .filter_map(|w| w.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(default)
}

/// A client's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// The client's number.
    pub client: u64,
    /// Operations done.
    pub ops: u64,
    /// Bytes read back and found intact.
    pub bytes: u64,
    /// Changes applied twice.
    pub dup: u64,
    /// Names it owned that disappeared without its doing.
    pub vanished: u64,
    /// Acknowledged changes lost.
    pub lost: u64,
    /// Stray names, records out of order and unexpected errors.
    pub errors: u64,
}

impl Counts {
    /// Number of words of [`Counts::to_words`].
    pub const WORDS: usize = 7;

    /// The counts as words (for a message or a pipe record).
    pub fn to_words(self) -> [u64; Self::WORDS] {
        [
            self.client,
            self.ops,
            self.bytes,
            self.dup,
            self.vanished,
            self.lost,
            self.errors,
        ]
    }

    /// The counts from [`Counts::to_words`]' words.
    pub fn from_words(w: [u64; Self::WORDS]) -> Counts {
        Counts {
            client: w[0],
            ops: w[1],
            bytes: w[2],
            dup: w[3],
            vanished: w[4],
            lost: w[5],
            errors: w[6],
        }
    }

    /// The counts as little-endian bytes.
    pub fn to_bytes(self) -> [u8; 8 * Self::WORDS] {
        let mut out = [0u8; 8 * Self::WORDS];
        for (i, w) in self.to_words().iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// The counts from [`Counts::to_bytes`]' bytes (missing bytes read as
    /// zero).
    pub fn from_bytes(b: &[u8]) -> Counts {
        let mut w = [0u64; Self::WORDS];
        for (i, x) in w.iter_mut().enumerate() {
            let mut le = [0u8; 8];
            for (j, byte) in le.iter_mut().enumerate() {
                *byte = b.get(i * 8 + j).copied().unwrap_or(0);
            }
            *x = u64::from_le_bytes(le);
        }
        Counts::from_words(w)
    }

    /// Adds `other`'s operation, byte and failure counts.
    pub fn add(&mut self, other: &Counts) {
        self.ops += other.ops;
        self.bytes += other.bytes;
        self.dup += other.dup;
        self.vanished += other.vanished;
        self.lost += other.lost;
        self.errors += other.errors;
    }

    /// The failures: dup + vanished + lost + errors.
    pub fn failures(&self) -> u64 {
        self.dup + self.vanished + self.lost + self.errors
    }
}

/// What a client needs of the file system (VFS as each program reaches
/// it), and where its report lines go.
pub trait Fs {
    /// open(2): a descriptor.
    fn open(&mut self, path: &str, flags: u32, mode: u16) -> Result<i32, Errno>;
    /// read(2) of at most `max` bytes (empty at the end).
    fn read(&mut self, fd: i32, max: usize) -> Result<Vec<u8>, Errno>;
    /// write(2): the bytes written.
    fn write(&mut self, fd: i32, data: &[u8]) -> Result<usize, Errno>;
    /// fsync(2).
    fn fsync(&mut self, fd: i32) -> Result<(), Errno>;
    /// close(2).
    fn close(&mut self, fd: i32) -> Result<(), Errno>;
    /// unlink(2).
    fn unlink(&mut self, path: &str) -> Result<(), Errno>;
    /// rename(2).
    fn rename(&mut self, from: &str, to: &str) -> Result<(), Errno>;
    /// Whether stat(2) of `path` succeeds.
    fn exists(&mut self, path: &str) -> bool;
    /// mkdir(2).
    fn mkdir(&mut self, path: &str, mode: u16) -> Result<(), Errno>;
    /// rmdir(2).
    fn rmdir(&mut self, path: &str) -> Result<(), Errno>;
    /// pipe(2): (read end, write end).
    fn pipe(&mut self) -> Result<(i32, i32), Errno>;
    /// The names in directory `path` (`.` and `..` may be among them).
    fn list_dir(&mut self, path: &str) -> Result<Vec<String>, Errno>;
    /// Prints one report line.
    fn say(&mut self, line: &str);
}

/// A file the client created and keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// Its name in the client's directory.
    pub name: String,
    /// The sequence number it was created with (its pattern).
    pub seq: u64,
    /// Its length.
    pub len: usize,
}

/// What a client's append log held ([`check_log`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogCheck {
    /// Acknowledged records missing.
    pub missing: u64,
    /// Records that appear more than once.
    pub twice: u64,
    /// Whether the records are not exactly 0, 1, 2, ... of client `k`.
    pub out_of_order: bool,
}

/// Checks the append log `data` of client `k`, which had `records`
/// appends acknowledged.
pub fn check_log(data: &[u8], k: u64, records: u64) -> LogCheck {
    let mut seen = vec![0u32; records as usize];
    let mut order_ok = true;
    for (i, c) in data.chunks(RECORD).enumerate() {
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0xff; 8]));
        let (ck, r) = if c.len() == RECORD {
            (word(&c[..8]), word(&c[8..]))
        } else {
            (u64::MAX, u64::MAX)
        };
        if ck != k || r >= records {
            order_ok = false;
            continue;
        }
        seen[r as usize] += 1;
        order_ok &= r == i as u64;
    }
    LogCheck {
        missing: seen.iter().filter(|&&s| s == 0).count() as u64,
        twice: seen.iter().filter(|&&s| s > 1).count() as u64,
        out_of_order: !order_ok,
    }
}

/// One client's load: its state, what it keeps, its counts.
pub struct Load {
    k: u64,
    dir: String,
    rng: Rng,
    fsync_every: u64,
    files: Vec<File>,
    seq: u64,
    log_records: u64,
    /// The counts so far.
    pub n: Counts,
}

impl Load {
    /// Client `k` working in `dir` with the choices of `rng`; every
    /// `fsync_every`-th create (by sequence number) is fsync'd before its
    /// close (0: never).
    pub fn new(k: u64, dir: String, rng: Rng, fsync_every: u64) -> Load {
        Load {
            k,
            dir,
            rng,
            fsync_every,
            files: Vec::new(),
            seq: 0,
            log_records: 0,
            n: Counts {
                client: k,
                ..Counts::default()
            },
        }
    }

    /// The client's directory.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// The files it keeps.
    pub fn files(&self) -> &[File] {
        &self.files
    }

    /// Append records acknowledged.
    pub fn log_records(&self) -> u64 {
        self.log_records
    }

    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.dir)
    }

    /// Records an unexpected error.
    pub fn error(&mut self, fs: &mut impl Fs, what: &str, e: Errno) {
        self.n.errors += 1;
        if self.n.errors <= MAX_ERROR_LINES {
            fs.say(&format!("error: {what}: {e}"));
        }
    }

    fn lost(&mut self, fs: &mut impl Fs, what: &str) {
        self.n.lost += 1;
        if self.n.lost <= MAX_ERROR_LINES {
            fs.say(&format!("lost: {what}"));
        }
    }

    fn dup(&mut self, fs: &mut impl Fs, what: &str) {
        self.n.dup += 1;
        if self.n.dup <= MAX_ERROR_LINES {
            fs.say(&format!("applied twice: {what}"));
        }
    }

    fn vanished(&mut self, fs: &mut impl Fs, what: &str) {
        self.n.vanished += 1;
        if self.n.vanished <= MAX_ERROR_LINES {
            fs.say(&format!("vanished: {what}"));
        }
    }

    fn read_all(&mut self, fs: &mut impl Fs, path: &str) -> Result<Vec<u8>, Errno> {
        let fd = fs.open(path, O_RDONLY, 0)?;
        let mut data = Vec::new();
        let r = loop {
            match fs.read(fd, 16 * 1024) {
                Ok(chunk) if chunk.is_empty() => break Ok(()),
                Ok(chunk) => data.extend_from_slice(&chunk),
                Err(e) => break Err(e),
            }
        };
        let closed = fs.close(fd);
        r.and(closed).map(|()| data)
    }

    fn create(&mut self, fs: &mut impl Fs) {
        if self.files.len() >= MAX_FILES {
            self.unlink(fs);
        }
        self.seq += 1;
        let seq = self.seq;
        let len = 1 + self.rng.below(MAX_LEN as u64) as usize;
        let name = format!("f{seq}");
        let path = self.path(&name);
        let fd = match fs.open(&path, O_WRONLY | O_CREAT | O_EXCL, 0o644) {
            Ok(fd) => fd,
            Err(Errno::EEXIST) => return self.dup(fs, &format!("create {path}: EEXIST")),
            Err(e) => return self.error(fs, &format!("create {path}"), e),
        };
        let data: Vec<u8> = (0..len as u64).map(|i| pattern(self.k, seq, i)).collect();
        let mut w = fs.write(fd, &data);
        if self.fsync_every > 0 && seq.is_multiple_of(self.fsync_every) && w.is_ok() {
            w = fs.fsync(fd).and(w);
        }
        let closed = fs.close(fd);
        match (w, closed) {
            (Ok(n), Ok(())) if n == len => self.files.push(File { name, seq, len }),
            (Ok(n), Ok(())) => {
                self.error(
                    fs,
                    &format!("short write {n} of {len} to {path}"),
                    Errno::EIO,
                );
                // Keep it out of the checks: its contents are unknown.
                let _ = fs.unlink(&path);
            }
            (Err(e), _) | (_, Err(e)) => {
                self.error(fs, &format!("write {path}"), e);
                let _ = fs.unlink(&path);
            }
        }
    }

    /// Reads file `i` back; true if it holds what was written.
    fn check_file(&mut self, fs: &mut impl Fs, i: usize) -> bool {
        let (path, seq, len) = {
            let f = &self.files[i];
            (self.path(&f.name), f.seq, f.len)
        };
        match self.read_all(fs, &path) {
            Ok(d) => {
                let good = d.len() == len
                    && d.iter()
                        .enumerate()
                        .all(|(j, &b)| b == pattern(self.k, seq, j as u64));
                if good {
                    self.n.bytes += len as u64;
                } else {
                    self.lost(
                        fs,
                        &format!(
                            "{path}: {} bytes read back, {len} written, contents {}",
                            d.len(),
                            if d.len() == len { "differ" } else { "-" }
                        ),
                    );
                }
                good
            }
            Err(Errno::ENOENT) => {
                self.lost(fs, &format!("{path}: gone"));
                false
            }
            Err(e) => {
                self.error(fs, &format!("read {path}"), e);
                false
            }
        }
    }

    fn read_back(&mut self, fs: &mut impl Fs) {
        if !self.files.is_empty() {
            let i = self.rng.below(self.files.len() as u64) as usize;
            self.check_file(fs, i);
        }
    }

    fn rename(&mut self, fs: &mut impl Fs) {
        if self.files.is_empty() {
            return;
        }
        let i = self.rng.below(self.files.len() as u64) as usize;
        self.seq += 1;
        let new = format!("r{}", self.seq);
        let (from, to) = (self.path(&self.files[i].name), self.path(&new));
        match fs.rename(&from, &to) {
            Ok(()) => self.files[i].name = new,
            Err(Errno::ENOENT) => {
                if fs.exists(&to) {
                    self.files[i].name = new;
                    self.dup(
                        fs,
                        &format!("rename {from} -> {to}: ENOENT, destination exists"),
                    );
                } else {
                    self.files.swap_remove(i);
                    self.vanished(fs, &format!("rename {from}: ENOENT"));
                }
            }
            Err(e) => self.error(fs, &format!("rename {from} -> {to}"), e),
        }
    }

    fn unlink(&mut self, fs: &mut impl Fs) {
        if self.files.is_empty() {
            return;
        }
        let i = self.rng.below(self.files.len() as u64) as usize;
        let path = self.path(&self.files[i].name);
        match fs.unlink(&path) {
            Ok(()) => {
                self.files.swap_remove(i);
            }
            Err(Errno::ENOENT) => {
                self.files.swap_remove(i);
                self.vanished(fs, &format!("unlink {path}: ENOENT"));
            }
            Err(e) => self.error(fs, &format!("unlink {path}"), e),
        }
    }

    fn mkdir(&mut self, fs: &mut impl Fs) {
        self.seq += 1;
        let path = self.path(&format!("d{}", self.seq));
        match fs.mkdir(&path, 0o755) {
            Ok(()) => {}
            Err(Errno::EEXIST) => return self.dup(fs, &format!("mkdir {path}: EEXIST")),
            Err(e) => return self.error(fs, &format!("mkdir {path}"), e),
        }
        match fs.rmdir(&path) {
            Ok(()) => {}
            Err(Errno::ENOENT) => self.vanished(fs, &format!("rmdir {path}: ENOENT")),
            Err(e) => self.error(fs, &format!("rmdir {path}"), e),
        }
    }

    fn append(&mut self, fs: &mut impl Fs) {
        let path = self.path("log");
        let fd = match fs.open(&path, O_WRONLY | O_APPEND | O_CREAT, 0o644) {
            Ok(fd) => fd,
            Err(e) => return self.error(fs, &format!("open {path}"), e),
        };
        let mut rec = [0u8; RECORD];
        rec[..8].copy_from_slice(&self.k.to_le_bytes());
        rec[8..].copy_from_slice(&self.log_records.to_le_bytes());
        let w = fs.write(fd, &rec);
        let closed = fs.close(fd);
        match (w, closed) {
            (Ok(RECORD), Ok(())) => self.log_records += 1,
            (Ok(n), Ok(())) => self.error(fs, &format!("short append {n}"), Errno::EIO),
            (Err(e), _) | (_, Err(e)) => self.error(fs, &format!("append {path}"), e),
        }
    }

    fn pipe(&mut self, fs: &mut impl Fs) {
        let (r, w) = match fs.pipe() {
            Ok(p) => p,
            Err(e) => return self.error(fs, "pipe", e),
        };
        self.seq += 1;
        let len = 1 + self.rng.below(4096) as usize;
        let data: Vec<u8> = (0..len as u64)
            .map(|i| pattern(self.k, self.seq, i))
            .collect();
        match fs.write(w, &data) {
            Ok(n) if n == len => {
                let mut got = Vec::new();
                while got.len() < len {
                    match fs.read(r, len - got.len()) {
                        Ok(d) if d.is_empty() => break,
                        Ok(d) => got.extend_from_slice(&d),
                        Err(e) => {
                            self.error(fs, "pipe read", e);
                            break;
                        }
                    }
                }
                if got == data {
                    self.n.bytes += len as u64;
                } else {
                    self.lost(
                        fs,
                        &format!("pipe: {} of {len} bytes came back intact", got.len()),
                    );
                }
            }
            Ok(n) => self.error(fs, &format!("pipe write {n} of {len}"), Errno::EIO),
            Err(e) => self.error(fs, "pipe write", e),
        }
        for fd in [w, r] {
            if let Err(e) = fs.close(fd) {
                self.error(fs, "pipe close", e);
            }
        }
    }

    /// Makes the client's directory (an error when that fails).
    pub fn start(&mut self, fs: &mut impl Fs) {
        let dir = self.dir.clone();
        if let Err(e) = fs.mkdir(&dir, 0o755) {
            self.error(fs, &format!("mkdir {dir}"), e);
        }
    }

    /// One operation of the seeded mix.
    pub fn step(&mut self, fs: &mut impl Fs) {
        match self.rng.below(100) {
            0..35 => self.create(fs),
            35..55 => self.read_back(fs),
            55..65 => self.rename(fs),
            65..73 => self.unlink(fs),
            73..80 => self.mkdir(fs),
            80..90 => self.pipe(fs),
            _ => self.append(fs),
        }
        self.n.ops += 1;
    }

    /// The checks after the run: every kept file (a `kept` line for each
    /// intact one), the directory listing (stray names) and the append log
    /// (every record once, in order); then the `final` line.
    pub fn finish(&mut self, fs: &mut impl Fs) {
        for i in 0..self.files.len() {
            if self.check_file(fs, i) {
                let f = &self.files[i];
                let line = format!(
                    "kept {} len={} seq={} client={}",
                    self.path(&f.name),
                    f.len,
                    f.seq,
                    self.k
                );
                fs.say(&line);
            }
        }
        let dir = self.dir.clone();
        match fs.list_dir(&dir) {
            Ok(names) => {
                for name in names {
                    if name == "." || name == ".." || name == "log" {
                        continue;
                    }
                    if !self.files.iter().any(|f| f.name == name) {
                        self.n.errors += 1;
                        fs.say(&format!(
                            "stray: {dir}/{name} (removed, or never acknowledged)"
                        ));
                    }
                }
            }
            Err(e) => self.error(fs, "list", e),
        }
        let log = self.path("log");
        match self.read_all(fs, &log) {
            Ok(d) => {
                let c = check_log(&d, self.k, self.log_records);
                for _ in 0..c.missing {
                    self.lost(fs, &format!("{log}: an acknowledged record is missing"));
                }
                for _ in 0..c.twice {
                    self.dup(fs, &format!("{log}: a record appears twice"));
                }
                if c.out_of_order && c.missing == 0 && c.twice == 0 {
                    self.error(fs, &format!("{log}: records out of order"), Errno::EIO);
                }
                self.n.bytes += d.len() as u64;
            }
            Err(Errno::ENOENT) if self.log_records == 0 => {}
            Err(e) => self.error(fs, &format!("read {log}"), e),
        }
        let line = format!(
            "final ops={} bytes={} files={} log_records={} dup={} vanished={} lost={} errors={}",
            self.n.ops,
            self.n.bytes,
            self.files.len(),
            self.log_records,
            self.n.dup,
            self.n.vanished,
            self.n.lost,
            self.n.errors
        );
        fs.say(&line);
    }
}

#[cfg(test)]
mod tests;
