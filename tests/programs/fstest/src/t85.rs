//! MINIX test85 (EOF handling on block devices) in the OS: `/dev/c0dN` is
//! a block-special node on the root MFS, so its reads and writes go VFS →
//! root MFS → libminixfs `bio` (blocks of the root file system's block
//! size) → libbdev → virtio-blk. For each disk (argument `MINOR:SIZE`, the
//! host made it SIZE bytes, filled with [`fill`] tag `MINOR << 16`):
//! sequence 0 runs reads, writes, reads; sequence 1 writes, reads; each
//! pass does the six cases around the end of the device once, in random
//! order, and every read and write must return exactly the expected count
//! (never an error). The device is closed after each sequence (the last
//! close writes the blocks back and drops them from the cache, so the next
//! reads come from the disk), and finally read whole in one call.
//!
//! Every accepted write is printed as `w c0dN TAG POS COUNT` (its bytes are
//! `fill(TAG, offset)`), and the final contents as a crc32, so the host
//! can rebuild the expected disk and compare it byte for byte. The cases,
//! the pattern and the generator are `test85_cases`'s (shared with
//! `/bin/test85`, which adds the peek sequences, and the host tests).

use crate::{Check, ensure, err};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use native::NativeSys;
use sys::proto::vfs::oflag::{O_RDONLY, O_RDWR};
use sys::proto::vfs::whence::SEEK_SET;
use test85_cases::{NAMES, Rng, case, fill, shuffle};
use vfs::client::Client;

struct Disk {
    name: String,
    size: u64,
    reference: Vec<u8>,
    next_tag: u32,
}

impl Disk {
    fn pass(
        &mut self,
        sys: &mut NativeSys,
        c: &mut Client,
        fd: i32,
        write: bool,
        rng: &mut Rng,
    ) -> Check {
        let order = shuffle(rng);
        let op = if write { "write" } else { "read" };
        for k in order {
            let (pos, len, want) = case(k, self.size, rng);
            let at = c
                .lseek(sys, fd, pos as i64, SEEK_SET)
                .map_err(|e| err("lseek", e))?;
            ensure(at == pos as i64, || format!("lseek to {pos} gave {at}"))?;
            let what = format!("{} {op} {} pos {pos} len {len}", self.name, NAMES[k]);
            let got = if write {
                let tag = self.next_tag;
                self.next_tag += 1;
                let data: Vec<u8> = (0..len).map(|i| fill(tag, pos + i)).collect();
                let n = c.write(sys, fd, &data).map_err(|e| err(&what, e))? as u64;
                if n > 0 && n <= want {
                    rt::println!("w {} {tag} {pos} {n}", self.name);
                    self.reference[pos as usize..(pos + n) as usize]
                        .copy_from_slice(&data[..n as usize]);
                }
                n
            } else {
                let d = c.read(sys, fd, len as usize).map_err(|e| err(&what, e))?;
                let n = d.len() as u64;
                if n == want && n > 0 && d[..] != self.reference[pos as usize..(pos + n) as usize] {
                    return Err(format!("{what}: the bytes read differ from the disk's"));
                }
                n
            };
            rt::println!("{what} -> {got}");
            ensure(got == want, || {
                format!("{what}: {got} bytes, expected {want}")
            })?;
        }
        Ok(())
    }
}

fn one_disk(sys: &mut NativeSys, c: &mut Client, minor: u32, size: u64, seed: u64) -> Check {
    let name = format!("c0d{minor}");
    let path = format!("/dev/{name}");
    let mut d = Disk {
        name: name.clone(),
        size,
        reference: (0..size).map(|o| fill(minor << 16, o)).collect(),
        next_tag: (minor << 16) + 1,
    };
    let mut rng = Rng(seed ^ (u64::from(minor) << 32) | 1);
    for (seq, passes) in [(0, &[false, true, false][..]), (1, &[true, false][..])] {
        let fd = c.open(sys, &path, O_RDWR, 0).map_err(|e| err(&path, e))?;
        for &write in passes {
            d.pass(sys, c, fd, write, &mut rng)?;
        }
        c.close(sys, fd).map_err(|e| err("close", e))?;
        rt::println!("{name}: sequence {seq} done, closed");
    }
    // Everything from the disk in one read after the last close.
    let fd = c.open(sys, &path, O_RDONLY, 0).map_err(|e| err(&path, e))?;
    let all = c
        .read(sys, fd, size as usize + 4096)
        .map_err(|e| err("whole-device read", e))?;
    c.close(sys, fd).map_err(|e| err("close", e))?;
    ensure(all.len() as u64 == size, || {
        format!(
            "{name}: whole-device read gave {} of {size} bytes",
            all.len()
        )
    })?;
    ensure(all == d.reference, || {
        format!("{name}: the disk differs from what was written")
    })?;
    rt::println!(
        "{name}: {size} bytes, crc32 {:08x}",
        crc32fast::hash(&d.reference)
    );
    Ok(())
}

/// `test85 seed=N MINOR:SIZE...`.
pub fn run(sys: &mut NativeSys, c: &mut Client, args: &[&str]) -> Check {
    let mut seed = 1u64;
    let mut disks = Vec::new();
    for a in args {
        if let Some(s) = a.strip_prefix("seed=") {
            seed = s.parse().map_err(|_| format!("bad seed '{s}'"))?;
        } else {
            let (m, s) = a.split_once(':').ok_or(format!("bad disk '{a}'"))?;
            let minor: u32 = m.parse().map_err(|_| format!("bad minor '{m}'"))?;
            let size: u64 = s.parse().map_err(|_| format!("bad size '{s}'"))?;
            ensure(size >= 2, || format!("disk '{a}' too small"))?;
            disks.push((minor, size));
        }
    }
    let v = c.statvfs(sys, "/").map_err(|e| err("statvfs /", e))?;
    rt::println!(
        "root block size {}: bio works in blocks of that size",
        v.bsize
    );
    for (minor, size) in disks {
        one_disk(sys, c, minor, size, seed)?;
    }
    crate::unmount_root(sys, c)
}
