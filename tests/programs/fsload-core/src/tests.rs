//! The client against an in-memory file system: a faithful one (no
//! failures, every kept file right), and ones told to apply a change
//! twice, lose or corrupt one, or grow a stray name — each caught as the
//! right kind of failure.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

enum Open {
    File {
        path: String,
        pos: usize,
        append: bool,
    },
    PipeRead(u32),
    PipeWrite(u32),
}

/// A file system in memory with fault knobs.
#[derive(Default)]
struct MemFs {
    files: BTreeMap<String, Vec<u8>>,
    dirs: BTreeSet<String>,
    open: BTreeMap<i32, Open>,
    pipes: BTreeMap<u32, Vec<u8>>,
    next_fd: i32,
    next_pipe: u32,
    lines: Vec<String>,
    /// Calls seen, by name.
    calls: BTreeMap<&'static str, u64>,
    /// The n-th (1-based) O_EXCL create is applied and answered EEXIST.
    create_applied_then_eexist: Option<u64>,
    /// The n-th append write is applied twice.
    append_twice: Option<u64>,
    /// The n-th write to a regular file stores its first byte flipped.
    corrupt_write: Option<u64>,
}

impl MemFs {
    fn new() -> MemFs {
        let mut m = MemFs {
            next_fd: 3,
            ..MemFs::default()
        };
        m.dirs.insert("/tmp".into());
        m
    }

    fn count(&mut self, call: &'static str) -> u64 {
        let c = self.calls.entry(call).or_default();
        *c += 1;
        *c
    }

    fn calls(&self, call: &str) -> u64 {
        self.calls.get(call).copied().unwrap_or(0)
    }

    fn parent_exists(&self, path: &str) -> bool {
        path.rsplit_once('/')
            .is_some_and(|(p, _)| p.is_empty() || self.dirs.contains(p))
    }

    fn fd(&mut self, open: Open) -> i32 {
        let fd = self.next_fd;
        self.next_fd += 1;
        self.open.insert(fd, open);
        fd
    }

    fn said(&self, prefix: &str) -> Vec<&String> {
        self.lines
            .iter()
            .filter(|l| l.starts_with(prefix))
            .collect()
    }
}

impl Fs for MemFs {
    fn open(&mut self, path: &str, flags: u32, _mode: u16) -> Result<i32, Errno> {
        let exists = self.files.contains_key(path);
        if flags & O_CREAT != 0 {
            if !self.parent_exists(path) {
                return Err(Errno::ENOENT);
            }
            if flags & O_EXCL != 0 {
                if exists {
                    return Err(Errno::EEXIST);
                }
                let n = self.count("create");
                if self.create_applied_then_eexist == Some(n) {
                    self.files.insert(path.into(), Vec::new());
                    return Err(Errno::EEXIST);
                }
            }
            self.files.entry(path.into()).or_default();
        } else if !exists {
            return Err(Errno::ENOENT);
        }
        Ok(self.fd(Open::File {
            path: path.into(),
            pos: 0,
            append: flags & O_APPEND != 0,
        }))
    }

    fn read(&mut self, fd: i32, max: usize) -> Result<Vec<u8>, Errno> {
        match self.open.get_mut(&fd) {
            Some(Open::File { path, pos, .. }) => {
                let data = &self.files[path.as_str()];
                let end = (*pos + max).min(data.len());
                let out = data[(*pos).min(end)..end].to_vec();
                *pos = end;
                Ok(out)
            }
            Some(Open::PipeRead(p)) => {
                let buf = self.pipes.get_mut(p).ok_or(Errno::EBADF)?;
                let n = max.min(buf.len());
                Ok(buf.drain(..n).collect())
            }
            _ => Err(Errno::EBADF),
        }
    }

    fn write(&mut self, fd: i32, data: &[u8]) -> Result<usize, Errno> {
        let (path, append) = match self.open.get(&fd) {
            Some(Open::File { path, append, .. }) => (path.clone(), *append),
            Some(Open::PipeWrite(p)) => {
                let p = *p;
                self.pipes.entry(p).or_default().extend_from_slice(data);
                return Ok(data.len());
            }
            _ => return Err(Errno::EBADF),
        };
        let mut data = data.to_vec();
        let mut times = 1;
        if append {
            let n = self.count("append");
            if self.append_twice == Some(n) {
                times = 2;
            }
        } else {
            let n = self.count("file write");
            if self.corrupt_write == Some(n) {
                data[0] ^= 1;
            }
        }
        let f = self.files.get_mut(&path).ok_or(Errno::ENOENT)?;
        for _ in 0..times {
            f.extend_from_slice(&data);
        }
        Ok(data.len())
    }

    fn fsync(&mut self, fd: i32) -> Result<(), Errno> {
        self.count("fsync");
        match self.open.get(&fd) {
            Some(Open::File { .. }) => Ok(()),
            _ => Err(Errno::EBADF),
        }
    }

    fn close(&mut self, fd: i32) -> Result<(), Errno> {
        self.open.remove(&fd).map(drop).ok_or(Errno::EBADF)
    }

    fn unlink(&mut self, path: &str) -> Result<(), Errno> {
        self.files.remove(path).map(drop).ok_or(Errno::ENOENT)
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<(), Errno> {
        self.count("rename");
        let data = self.files.remove(from).ok_or(Errno::ENOENT)?;
        self.files.insert(to.into(), data);
        Ok(())
    }

    fn exists(&mut self, path: &str) -> bool {
        self.files.contains_key(path) || self.dirs.contains(path)
    }

    fn mkdir(&mut self, path: &str, _mode: u16) -> Result<(), Errno> {
        if self.exists(path) {
            return Err(Errno::EEXIST);
        }
        if !self.parent_exists(path) {
            return Err(Errno::ENOENT);
        }
        self.count("mkdir");
        self.dirs.insert(path.into());
        Ok(())
    }

    fn rmdir(&mut self, path: &str) -> Result<(), Errno> {
        if self.dirs.remove(path) {
            Ok(())
        } else {
            Err(Errno::ENOENT)
        }
    }

    fn pipe(&mut self) -> Result<(i32, i32), Errno> {
        self.count("pipe");
        let p = self.next_pipe;
        self.next_pipe += 1;
        self.pipes.insert(p, Vec::new());
        Ok((self.fd(Open::PipeRead(p)), self.fd(Open::PipeWrite(p))))
    }

    fn list_dir(&mut self, path: &str) -> Result<Vec<String>, Errno> {
        if !self.dirs.contains(path) {
            return Err(Errno::ENOENT);
        }
        let prefix = format!("{path}/");
        let mut names = vec![".".to_string(), "..".to_string()];
        for p in self.files.keys().chain(self.dirs.iter()) {
            if let Some(name) = p.strip_prefix(&prefix)
                && !name.contains('/')
            {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }

    fn say(&mut self, line: &str) {
        self.lines.push(line.to_string());
    }
}

/// Client 2 in /tmp/c2 after `steps` operations and the final checks.
fn run(fs: &mut MemFs, steps: u64, fsync_every: u64) -> Load {
    let mut l = Load::new(2, "/tmp/c2".into(), Rng::for_client(7, 2), fsync_every);
    l.start(fs);
    for _ in 0..steps {
        l.step(fs);
    }
    l.finish(fs);
    l
}

#[test]
fn a_faithful_file_system_passes_and_every_kept_file_is_right() {
    let mut fs = MemFs::new();
    let l = run(&mut fs, 3000, 0);
    assert_eq!(l.n.failures(), 0, "{:#?}", fs.lines);
    assert_eq!(l.n.ops, 3000);
    assert!(l.n.bytes > 0);
    // Every kind of operation ran.
    for call in ["create", "append", "rename", "mkdir", "pipe"] {
        assert!(fs.calls(call) > 50, "{call}: {}", fs.calls(call));
    }
    assert_eq!(fs.calls("fsync"), 0);
    // A kept line per file, each naming contents the host can rebuild.
    let kept = fs.said("kept ");
    assert_eq!(kept.len(), l.files().len());
    assert!(!kept.is_empty());
    for line in kept {
        let w: Vec<&str> = line.split_whitespace().collect();
        let num = |key: &str| -> u64 {
            w.iter()
                .find_map(|x| x.strip_prefix(key))
                .and_then(|v| v.parse().ok())
                .expect(key)
        };
        let want: Vec<u8> = (0..num("len="))
            .map(|i| pattern(num("client="), num("seq="), i))
            .collect();
        assert_eq!(fs.files[w[1]], want, "{line}");
    }
    let log = &fs.files["/tmp/c2/log"];
    assert_eq!(log.len() as u64, l.log_records() * RECORD as u64);
    assert!(fs.lines.last().unwrap().starts_with("final ops=3000 "));
    assert!(
        fs.lines
            .last()
            .unwrap()
            .ends_with(" dup=0 vanished=0 lost=0 errors=0")
    );
}

#[test]
fn the_same_seed_makes_the_same_run() {
    let (mut a, mut b) = (MemFs::new(), MemFs::new());
    run(&mut a, 500, 0);
    run(&mut b, 500, 0);
    assert_eq!(a.lines, b.lines);
    assert_eq!(a.files, b.files);
}

#[test]
fn creates_are_fsynced_when_asked() {
    let mut fs = MemFs::new();
    let l = run(&mut fs, 1000, 4);
    assert_eq!(l.n.failures(), 0, "{:#?}", fs.lines);
    let creates = fs.calls("create");
    // Every 4th sequence number; sequence numbers also go to renames,
    // mkdirs and pipes, so about a quarter of the creates.
    assert!(
        fs.calls("fsync") > 0 && fs.calls("fsync") < creates,
        "{creates}"
    );
}

#[test]
fn a_create_applied_and_answered_eexist_is_applied_twice() {
    let mut fs = MemFs {
        create_applied_then_eexist: Some(10),
        ..MemFs::new()
    };
    let l = run(&mut fs, 1000, 0);
    assert_eq!(l.n.dup, 1, "{:#?}", fs.lines);
    assert_eq!(fs.said("applied twice: create /tmp/c2/f").len(), 1);
    // The file it never acknowledged is also a stray name.
    assert_eq!(l.n.errors, 1, "{:#?}", fs.lines);
    assert_eq!(fs.said("stray: /tmp/c2/f").len(), 1);
}

#[test]
fn an_append_applied_twice_is_caught_in_the_log() {
    let mut fs = MemFs {
        append_twice: Some(5),
        ..MemFs::new()
    };
    let l = run(&mut fs, 1000, 0);
    assert_eq!(l.n.dup, 1, "{:#?}", fs.lines);
    assert_eq!(
        fs.said("applied twice: /tmp/c2/log: a record appears twice")
            .len(),
        1
    );
    assert_eq!(l.n.lost + l.n.vanished + l.n.errors, 0);
}

#[test]
fn a_corrupted_write_is_lost() {
    let mut fs = MemFs {
        corrupt_write: Some(3),
        ..MemFs::new()
    };
    // Few enough operations that the third file is never unlinked.
    let l = run(&mut fs, 40, 0);
    assert!(l.n.lost > 0, "{:#?}", fs.lines);
    assert!(
        fs.said("lost: /tmp/c2/")
            .iter()
            .any(|l| l.ends_with("contents differ")),
        "{:#?}",
        fs.lines
    );
}

#[test]
fn files_removed_behind_the_clients_back_are_lost_or_vanished() {
    let mut fs = MemFs::new();
    let mut l = Load::new(2, "/tmp/c2".into(), Rng::for_client(7, 2), 0);
    l.start(&mut fs);
    for _ in 0..200 {
        l.step(&mut fs);
    }
    assert!(!l.files().is_empty());
    let victim = format!("/tmp/c2/{}", l.files()[0].name);
    fs.files.remove(&victim);
    // And a name the client never made.
    fs.files.insert("/tmp/c2/intruder".into(), vec![1]);
    l.finish(&mut fs);
    assert_eq!(l.n.lost, 1, "{:#?}", fs.lines);
    assert_eq!(fs.said(&format!("lost: {victim}: gone")).len(), 1);
    assert_eq!(l.n.errors, 1);
    assert_eq!(fs.said("stray: /tmp/c2/intruder").len(), 1);
}

#[test]
fn the_log_check_counts_missing_duplicated_and_misordered_records() {
    let rec = |k: u64, r: u64| {
        let mut v = k.to_le_bytes().to_vec();
        v.extend_from_slice(&r.to_le_bytes());
        v
    };
    let log = |rs: &[(u64, u64)]| -> Vec<u8> { rs.iter().flat_map(|&(k, r)| rec(k, r)).collect() };
    assert_eq!(
        check_log(&log(&[(1, 0), (1, 1), (1, 2)]), 1, 3),
        LogCheck::default()
    );
    assert_eq!(check_log(&[], 1, 0), LogCheck::default());
    let c = check_log(&log(&[(1, 0), (1, 2)]), 1, 3);
    assert_eq!((c.missing, c.twice), (1, 0));
    let c = check_log(&log(&[(1, 0), (1, 1), (1, 1)]), 1, 2);
    assert_eq!((c.missing, c.twice, c.out_of_order), (0, 1, true));
    let c = check_log(&log(&[(1, 1), (1, 0)]), 1, 2);
    assert_eq!(
        c,
        LogCheck {
            missing: 0,
            twice: 0,
            out_of_order: true
        }
    );
    // Another client's record, or a torn one, is out of order.
    assert!(check_log(&log(&[(2, 0)]), 1, 1).out_of_order);
    let mut torn = log(&[(1, 0)]);
    torn.extend_from_slice(&[1, 2, 3]);
    assert!(check_log(&torn, 1, 1).out_of_order);
}

#[test]
fn counts_travel_as_bytes_and_add_up() {
    let c = Counts {
        client: 3,
        ops: 100,
        bytes: 1 << 40,
        dup: 1,
        vanished: 2,
        lost: 3,
        errors: 4,
    };
    assert_eq!(Counts::from_bytes(&c.to_bytes()), c);
    assert_eq!(Counts::from_words(c.to_words()), c);
    assert_eq!(Counts::from_bytes(&[5]).client, 5);
    let mut t = Counts::default();
    t.add(&c);
    t.add(&c);
    assert_eq!((t.ops, t.failures()), (200, 20));
}

#[test]
fn settings_are_key_value_words() {
    let w = "crasher clients=4 crashes=x seed=9";
    assert_eq!(arg(w.split_whitespace(), "clients", 3u64), 4);
    assert_eq!(arg(w.split_whitespace(), "crashes", 100u64), 100);
    assert_eq!(arg(w.split_whitespace(), "gap", 3u64), 3);
    assert_eq!(
        arg(w.split_whitespace(), "seed", String::from("1")),
        "9".to_string()
    );
}

#[test]
fn the_generator_is_splitmix64() {
    // Reference values of SplitMix64 seeded with 0.
    let mut r = Rng(0);
    assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
    assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    assert_eq!(Rng::for_client(1, 0).0, 1);
    assert!(Rng(5).below(0) == 0);
}
