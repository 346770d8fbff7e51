//! The command lines of `mkfs.mfs` and `fsck.mfs`, and the size probe
//! for block devices (whose `st_size` is 0).

use alloc::string::String;
use mfs::format::Version;
use mfs::mkfs::MkfsOptions;

/// Largest byte count `readable` says exists: `readable(pos)` tells
/// whether a byte at `pos` can be read. Doubling, then bisection: about
/// 2 log2(size) probes.
pub fn probe_size(mut readable: impl FnMut(u64) -> bool) -> u64 {
    if !readable(0) {
        return 0;
    }
    // Invariant: a byte at `lo` exists; none at `hi` (once found).
    let mut lo = 0u64;
    let mut hi = 1u64;
    while readable(hi) {
        lo = hi;
        if hi >= 1 << 50 {
            return hi + 1;
        }
        hi *= 2;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if readable(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo + 1
}

/// Where `/etc/mtab` (`device directory type options` lines, as `mount`
/// writes them) says `device` is mounted, if it is.
pub fn mount_point<'a>(mtab: &'a str, device: &str) -> Option<&'a str> {
    mtab.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next() == Some(device)).then(|| w.next().unwrap_or("?"))
    })
}

/// A parsed `mkfs.mfs` command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MkfsCmd {
    /// The device or image.
    pub device: String,
    /// The layout; `blocks` 0 means the whole device.
    pub opts: MkfsOptions,
}

/// `mkfs.mfs` synopsis.
pub const MKFS_USAGE: &str =
    "mkfs.mfs [-V 1|2|3] [-B blocksize] [-b blocks] [-i inodes] [-n namelen] device [blocks]";

/// The host tool's long options as the short ones.
fn long_to_short(words: &[String]) -> alloc::vec::Vec<String> {
    words
        .iter()
        .map(|w| {
            let (name, val) = w.split_once('=').unwrap_or((w, ""));
            let short = match name {
                "--version" => "-V",
                "--block-size" => "-B",
                "--blocks" => "-b",
                "--inodes" => "-i",
                "--namelen" => "-n",
                _ => return w.clone(),
            };
            alloc::format!("{short}{val}")
        })
        .collect()
}

/// Parses `mkfs.mfs`'s arguments (without the program name). MINIX
/// letters: `-B` block size, `-b` blocks, `-i` inodes; `-V` the version
/// (3 by default) and `-n` the V1/V2 name length; the host tool's long
/// forms (`--block-size N`, `--version 2`, ...) work too.
pub fn parse_mkfs(words: &[String], time: u32) -> Result<MkfsCmd, String> {
    use ulib::cli::{Opts, parse_num};
    let words = long_to_short(words);
    let o = Opts::parse_words(&words, "V:B:b:i:n:").map_err(|e| alloc::format!("{e}"))?;
    let num = |c: char, what: &str| -> Result<Option<u64>, String> {
        match o.value(c) {
            None => Ok(None),
            Some(v) => parse_num(v, 10)
                .map(Some)
                .ok_or_else(|| alloc::format!("bad {what}: {v}")),
        }
    };
    let version = match o.value('V').unwrap_or("3") {
        "1" => Version::V1,
        "2" => Version::V2,
        "3" => Version::V3,
        v => return Err(alloc::format!("bad version: {v} (1, 2 or 3)")),
    };
    let mut opts = MkfsOptions::for_version(version, 0);
    if let Some(n) = num('n', "name length")? {
        if version == Version::V3 {
            return Err("-n applies to V1/V2 only (V3 names are up to 60 bytes)".into());
        }
        if n != 14 && n != 30 {
            return Err(alloc::format!("bad name length: {n} (14 or 30)"));
        }
        opts.name_len = n as usize;
    }
    if let Some(bs) = num('B', "block size")? {
        opts.block_size = u32::try_from(bs).map_err(|_| alloc::format!("bad block size: {bs}"))?;
    }
    if let Some(i) = num('i', "inode count")? {
        opts.inodes = Some(u32::try_from(i).map_err(|_| alloc::format!("bad inode count: {i}"))?);
    }
    opts.time = time;
    opts.root_perm = 0o755;
    let ops = o.operands();
    let (device, blocks) = match ops {
        [d] => (d.clone(), num('b', "block count")?),
        [d, b] => (
            d.clone(),
            Some(parse_num(b, 10).ok_or_else(|| alloc::format!("bad block count: {b}"))?),
        ),
        [] => return Err("missing device".into()),
        _ => return Err("too many operands".into()),
    };
    opts.blocks = blocks.unwrap_or(0);
    Ok(MkfsCmd { device, opts })
}

/// A parsed `fsck.mfs` command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsckCmd {
    /// The device or image.
    pub device: String,
    /// Repair (`-r`, `-a`, `-y`, `-p`, `--repair`).
    pub repair: bool,
}

/// `fsck.mfs` synopsis.
pub const FSCK_USAGE: &str = "fsck.mfs [-r] device";

/// Parses `fsck.mfs`'s arguments (without the program name); `-f`
/// (force: always check) and `-n` (no changes) are accepted.
pub fn parse_fsck(words: &[String]) -> Result<FsckCmd, String> {
    let words: alloc::vec::Vec<String> = words
        .iter()
        .map(|w| {
            if w == "--repair" {
                "-r".into()
            } else {
                w.clone()
            }
        })
        .collect();
    let o = ulib::cli::Opts::parse_words(&words, "rayfnp").map_err(|e| alloc::format!("{e}"))?;
    let repair = ['r', 'a', 'y', 'p'].iter().any(|&c| o.has(c));
    if repair && o.has('n') {
        return Err("-n and a repair option exclude each other".into());
    }
    match o.operands() {
        [d] => Ok(FsckCmd {
            device: d.clone(),
            repair,
        }),
        [] => Err("missing device".into()),
        _ => Err("too many operands".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec::Vec;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(|x| x.to_string()).collect()
    }

    #[test]
    fn size_probe_finds_every_size() {
        for size in [
            0u64,
            1,
            2,
            3,
            511,
            512,
            513,
            4096,
            8 << 20,
            (8 << 20) + 1,
            12_345_678,
        ] {
            let mut probes = 0;
            let got = probe_size(|p| {
                probes += 1;
                p < size
            });
            assert_eq!(got, size);
            assert!(probes <= 2 * 64, "{probes} probes for {size}");
        }
    }

    #[test]
    fn mkfs_command_lines() {
        let c = parse_mkfs(&w("/dev/c0d1"), 7).unwrap();
        assert_eq!(c.device, "/dev/c0d1");
        assert_eq!(c.opts.version, Version::V3);
        assert_eq!(c.opts.block_size, 4096);
        assert_eq!((c.opts.blocks, c.opts.inodes, c.opts.time), (0, None, 7));
        let c = parse_mkfs(&w("-B 1024 -i 96 -b 2048 img"), 0).unwrap();
        assert_eq!(c.opts.block_size, 1024);
        assert_eq!(c.opts.inodes, Some(96));
        assert_eq!(c.opts.blocks, 2048);
        let c = parse_mkfs(&w("-V2 -n 14 /dev/c0d2 1440"), 0).unwrap();
        assert_eq!(c.opts.version, Version::V2);
        assert_eq!(
            (c.opts.name_len, c.opts.block_size, c.opts.blocks),
            (14, 1024, 1440)
        );
        let c = parse_mkfs(&w("--version 1 --inodes=32 --blocks 360 f"), 0).unwrap();
        assert_eq!(c.opts.version, Version::V1);
        assert_eq!((c.opts.inodes, c.opts.blocks), (Some(32), 360));
        let c = parse_mkfs(&w("--block-size 8192 f"), 0).unwrap();
        assert_eq!(c.opts.block_size, 8192);
        for bad in [
            "",
            "-V 4 d",
            "-n 14 d",
            "-V1 -n 20 d",
            "-B x d",
            "a b c",
            "-i -1 d",
            "-q d",
            "d 1x",
        ] {
            assert!(parse_mkfs(&w(bad), 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn mounted_devices_are_found_in_mtab() {
        let mtab = "/dev/c0d0 / mfs rw\n/dev/c0d1 /mnt mfs rw\n\n";
        assert_eq!(mount_point(mtab, "/dev/c0d1"), Some("/mnt"));
        assert_eq!(mount_point(mtab, "/dev/c0d0"), Some("/"));
        assert_eq!(mount_point(mtab, "/dev/c0d2"), None);
        assert_eq!(mount_point("", "/dev/c0d1"), None);
        assert_eq!(mount_point("/dev/c0d1", "/dev/c0d1"), Some("?"));
    }

    #[test]
    fn fsck_command_lines() {
        assert_eq!(
            parse_fsck(&w("/dev/c0d1")),
            Ok(FsckCmd {
                device: "/dev/c0d1".into(),
                repair: false
            })
        );
        for rep in ["-r d", "-a d", "-y d", "-fp d", "--repair d"] {
            assert!(parse_fsck(&w(rep)).unwrap().repair, "{rep}");
        }
        assert!(!parse_fsck(&w("-fn d")).unwrap().repair);
        for bad in ["", "-rn d", "a b", "-x d"] {
            assert!(parse_fsck(&w(bad)).is_err(), "{bad}");
        }
    }
}
