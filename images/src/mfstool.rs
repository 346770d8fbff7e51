//! The `mfs` host tool: make, check, inspect and edit MINIX file-system
//! images (the logic behind `images/src/bin/mfs.rs`, callable from tests).
//!
//! `mkfs` and `fsck` use the `mfs` crate's own `mkfs`/`fsck` modules over a
//! host file; every other command (and populating a new image from a host
//! directory or a proto file) goes through the MFS core's file-system
//! operations. Errors are one line, `mfs: IMAGE: PATH: what is wrong`, and
//! a nonzero exit; a corrupt or foreign image is an error, never a panic.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use libbdev::{BdevError, BlockDevice};
use mfs::format::Version;
use mfs::fsck;
use mfs::mkfs::{self, MkfsOptions};

/// Command line of the `mfs` tool.
#[derive(Debug, Parser)]
#[command(
    name = "mfs",
    about = "Make, check, inspect and edit MINIX file-system images (V1, V2, V3)"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a new file system (MINIX mkfs.mfs defaults: V3, 4096-byte blocks).
    Mkfs(MkfsArgs),
    /// Check a file system; exit 0 clean, 1 errors corrected, 4 errors left, 8 could not check.
    Fsck {
        /// Fix what can safely be fixed, then re-check.
        #[arg(long)]
        repair: bool,
        /// The image file.
        image: PathBuf,
    },
}

/// Arguments of `mfs mkfs`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("sizing").required(true).args(["size", "blocks"])))]
pub struct MkfsArgs {
    /// File-system version: 1, 2 or 3.
    #[arg(long = "version", default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub fs_version: u8,
    /// Longest file name for V1/V2: 14 or 30 (default 30; V3 always uses 60).
    #[arg(long, value_parser = clap::value_parser!(u8).range(14..=30))]
    pub namelen: Option<u8>,
    /// Block size in bytes: V3 a power of two 1024..=32768 (default 4096); V1/V2 only 1024.
    #[arg(long)]
    pub block_size: Option<u32>,
    /// Number of inodes (default: MINIX mkfs.mfs's rule, one per 2 KiB on small devices).
    #[arg(long)]
    pub inodes: Option<u32>,
    /// File-system size in bytes (suffixes K, M, G allowed); the image is grown to it.
    #[arg(long, value_parser = parse_size)]
    pub size: Option<u64>,
    /// File-system size in blocks.
    #[arg(long)]
    pub blocks: Option<u64>,
    /// The image file (created if missing).
    pub image: PathBuf,
}

/// A size in bytes with an optional K/M/G (binary) suffix.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(format!("unknown size suffix in {s:?} (use K, M or G)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: u64 = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    n.checked_mul(mul)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// A failed command: printed as `mfs: IMAGE: PATH: message`.
#[derive(Debug, thiserror::Error)]
#[error("mfs: {}{}{}", image.display(), path.as_ref().map(|p| format!(": {p}")).unwrap_or_default(), format!(": {message}"))]
pub struct ToolError {
    /// The image concerned.
    pub image: PathBuf,
    /// The path inside the image, if any.
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
    /// Exit code to end with.
    pub code: i32,
}

impl ToolError {
    fn new(image: &Path, path: Option<&str>, message: impl std::fmt::Display) -> Self {
        ToolError {
            image: image.to_path_buf(),
            path: path.map(str::to_string),
            message: message.to_string(),
            code: 1,
        }
    }
}

/// A host file as a block device (plain positioned reads and writes).
#[derive(Debug)]
pub struct HostFile {
    file: File,
}

impl HostFile {
    /// Open `path` for reading, and for writing if `write`.
    pub fn open(path: &Path, write: bool) -> std::io::Result<Self> {
        let file = OpenOptions::new().read(true).write(write).open(path)?;
        Ok(HostFile { file })
    }
}

impl BlockDevice for HostFile {
    fn read_vectored(&mut self, pos: u64, bufs: &mut [&mut [u8]]) -> libbdev::Result<usize> {
        let mut p = pos;
        let mut total = 0;
        for b in bufs.iter_mut() {
            let mut done = 0;
            while done < b.len() {
                match self.file.read_at(&mut b[done..], p) {
                    Ok(0) => return Ok(total + done),
                    Ok(n) => {
                        done += n;
                        p += n as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return Err(BdevError::Io),
                }
            }
            total += done;
        }
        Ok(total)
    }

    fn write_vectored(&mut self, pos: u64, bufs: &[&[u8]]) -> libbdev::Result<usize> {
        let mut p = pos;
        let mut total = 0;
        for b in bufs {
            self.file.write_all_at(b, p).map_err(|_| BdevError::Io)?;
            p += b.len() as u64;
            total += b.len();
        }
        Ok(total)
    }

    fn size(&mut self) -> libbdev::Result<u64> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|_| BdevError::Io)
    }

    fn flush(&mut self) -> libbdev::Result<()> {
        self.file.sync_data().map_err(|_| BdevError::Io)
    }
}

/// Seconds since the epoch, for new inodes (0 if the clock is unusable).
fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

/// Parse `args` (program name first), run, print to `out`/`err`; returns the
/// exit code.
pub fn run_with<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let text = e.render().to_string();
            if code == 0 {
                let _ = out.write_all(text.as_bytes());
            } else {
                let _ = err.write_all(text.as_bytes());
            }
            return code;
        }
    };
    match execute(cli, out) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            e.code
        }
    }
}

/// Run a parsed command; `Ok(code)` for commands with a meaningful exit code.
pub fn execute(cli: Cli, out: &mut dyn Write) -> Result<i32, ToolError> {
    match cli.command {
        Command::Mkfs(a) => cmd_mkfs(&a, out).map(|()| 0),
        Command::Fsck { repair, image } => cmd_fsck(&image, repair, out),
    }
}

fn io_err(image: &Path, e: impl std::fmt::Display) -> ToolError {
    ToolError::new(image, None, e)
}

/// Options for `mkfs` from the command line.
pub fn mkfs_options(a: &MkfsArgs) -> Result<MkfsOptions, ToolError> {
    let version = match a.fs_version {
        1 => Version::V1,
        2 => Version::V2,
        _ => Version::V3,
    };
    let mut o = MkfsOptions::for_version(version, 0);
    if let Some(n) = a.namelen {
        if version == Version::V3 && n != 60 {
            return Err(ToolError::new(
                &a.image,
                None,
                "--namelen applies to V1/V2 only (V3 names are up to 60 bytes)",
            ));
        }
        o.name_len = usize::from(n);
    }
    if let Some(bs) = a.block_size {
        o.block_size = bs;
    }
    o.inodes = a.inodes;
    o.time = now();
    o.blocks = match (a.size, a.blocks) {
        (_, Some(b)) => b,
        (Some(s), None) => s / u64::from(o.block_size.max(1)),
        (None, None) => return Err(ToolError::new(&a.image, None, "give --size or --blocks")),
    };
    Ok(o)
}

fn cmd_mkfs(a: &MkfsArgs, out: &mut dyn Write) -> Result<(), ToolError> {
    let o = mkfs_options(a)?;
    // Refuse impossible layouts before touching the file.
    mkfs::plan(&o).map_err(|e| io_err(&a.image, e))?;
    let need = o.blocks * u64::from(o.block_size);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&a.image)
        .map_err(|e| io_err(&a.image, e))?;
    let len = file.metadata().map_err(|e| io_err(&a.image, e))?.len();
    if len < need {
        file.set_len(need).map_err(|e| io_err(&a.image, e))?;
    }
    let mut dev = HostFile { file };
    let sb = mkfs::mkfs(&mut dev, &o).map_err(|e| io_err(&a.image, e))?;
    let g = sb.geometry();
    let _ = writeln!(
        out,
        "{}: MINIX V{} file system, {} blocks of {} bytes, {} inodes, first data zone {}, names up to {} bytes",
        a.image.display(),
        g.version.number(),
        g.zones,
        g.block_size,
        g.ninodes,
        g.first_data_zone,
        g.name_len
    );
    Ok(())
}

fn cmd_fsck(image: &Path, repair: bool, out: &mut dyn Write) -> Result<i32, ToolError> {
    let mut dev = HostFile::open(image, repair).map_err(|e| {
        let mut t = io_err(image, e);
        t.code = fsck::EXIT_CANNOT_CHECK;
        t
    })?;
    let report = fsck::fsck(&mut dev, fsck::Options { repair });
    if let Some(f) = &report.fatal {
        return Err(ToolError {
            image: image.to_path_buf(),
            path: None,
            message: format!("cannot check: {f}"),
            code: fsck::EXIT_CANNOT_CHECK,
        });
    }
    for f in &report.findings {
        let _ = writeln!(out, "{}: {f}", image.display());
    }
    let code = report.exit_code();
    let summary = match code {
        fsck::EXIT_CLEAN => "clean".to_string(),
        fsck::EXIT_CORRECTED => "errors corrected".to_string(),
        _ => format!("{} errors left uncorrected", report.remaining_errors),
    };
    let _ = writeln!(out, "{}: {summary}", image.display());
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_suffixes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("x").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn error_line_format() {
        let e = ToolError::new(
            Path::new("a.img"),
            Some("/x/y"),
            "No such file or directory",
        );
        assert_eq!(e.to_string(), "mfs: a.img: /x/y: No such file or directory");
        let e = ToolError::new(Path::new("a.img"), None, "bad magic");
        assert_eq!(e.to_string(), "mfs: a.img: bad magic");
    }
}
