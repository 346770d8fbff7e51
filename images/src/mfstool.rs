//! The `mfs` host tool: make, check, inspect and edit MINIX file-system
//! images (the logic behind `images/src/bin/mfs.rs`, callable from tests).
//!
//! `mkfs` and `fsck` use the `mfs` crate's own `mkfs`/`fsck` modules over a
//! host file; every other command (and populating a new image from a host
//! directory or a proto file) goes through the MFS core's file-system
//! operations ([`mfs::fs::FileSystem`] over libminixfs's block cache, as
//! in the MFS server, on a [`HostFile`] device). Errors
//! are one line, `mfs: IMAGE: PATH: what is wrong`, and a nonzero exit; a
//! corrupt or foreign image is an error, never a panic. Trees go to and
//! from FAT images (`mkfs --from-fat`, `export-fat`) through [`fat`].

pub mod fat;
pub mod fuse;
pub mod mount;
pub mod poll;
pub mod tree;

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use libbdev::{BdevError, BlockDevice};
use mfs::errno::Errno;
use mfs::format::{SuperBlock, Version, mode};
use mfs::fs::{FileSystem, MountOptions, Stat};
use mfs::fsck;
use mfs::mkfs::{self, MkfsOptions};

use mfs::cache::{CachedDevice, DEFAULT_BUFS};

/// Command line of the `mfs` tool.
#[derive(Debug, Parser)]
#[command(
    name = "mfs",
    about = "Make, check, inspect and edit MINIX file-system images (V1, V2, V3)"
)]
pub struct Cli {
    /// Modify an image even if it is unclean or fails the pre-write check
    /// (the file system still goes read-only at the first inconsistency).
    #[arg(long, global = true)]
    pub force: bool,
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
    /// List a directory (or show one file).
    Ls {
        /// Long format: mode, links, owner, group, size, time, name.
        #[arg(short = 'l')]
        long: bool,
        /// The image file.
        image: PathBuf,
        /// Path inside the image.
        path: String,
    },
    /// Write a file's contents to standard output.
    Cat {
        /// The image file.
        image: PathBuf,
        /// Path inside the image.
        path: String,
    },
    /// Copy a host file into the image (into PATH if it is a directory).
    Put {
        /// The image file.
        image: PathBuf,
        /// The host file to copy.
        host_file: PathBuf,
        /// Destination path inside the image.
        path: String,
    },
    /// Copy a file out of the image.
    Get {
        /// The image file.
        image: PathBuf,
        /// Path inside the image.
        path: String,
        /// Destination host file.
        host_file: PathBuf,
    },
    /// Make a directory (its parent must exist).
    Mkdir {
        /// The image file.
        image: PathBuf,
        /// Path inside the image.
        path: String,
    },
    /// Remove a file, symlink or (with -r) a directory tree.
    Rm {
        /// Remove directories and their contents.
        #[arg(short = 'r')]
        recursive: bool,
        /// The image file.
        image: PathBuf,
        /// Path inside the image.
        path: String,
    },
    /// Rename or move (into TO if it is a directory).
    Mv {
        /// The image file.
        image: PathBuf,
        /// Existing path.
        from: String,
        /// New path.
        to: String,
    },
    /// Make a hard link, or with -s a symbolic link, PATH -> TARGET.
    Ln {
        /// Make a symbolic link.
        #[arg(short = 's')]
        symbolic: bool,
        /// The image file.
        image: PathBuf,
        /// Existing file (hard link) or link text (symbolic).
        target: String,
        /// The new name.
        path: String,
    },
    /// Show an inode's attributes (symlinks are not followed).
    Stat {
        /// The image file.
        image: PathBuf,
        /// Path inside the image.
        path: String,
    },
    /// Show space and inode usage.
    Df {
        /// The image file.
        image: PathBuf,
    },
    /// Write the MFS tree (or the directory PATH in it) to a new FAT image;
    /// what FAT cannot hold is reported on standard error.
    ExportFat(fat::ExportArgs),
    /// Mount the image on a directory through FUSE (read-only with a
    /// warning if it is unclean, unless --force).
    Mount(mount::MountArgs),
}

/// Arguments of `mfs mkfs`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("sizing").required(true).args(["size", "blocks"])))]
pub struct MkfsArgs {
    /// File-system version: 1, 2 or 3.
    #[arg(long = "version", value_name = "1|2|3", default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub fs_version: u8,
    /// Longest file name for V1/V2: 14 or 30 (default 30; V3 always uses 60).
    #[arg(long, value_name = "14|30", value_parser = clap::value_parser!(u8).range(14..=30))]
    pub namelen: Option<u8>,
    /// Block size in bytes: V3 a power of two 1024..=32768 (default 4096); V1/V2 only 1024.
    #[arg(long, value_name = "N")]
    pub block_size: Option<u32>,
    /// Number of inodes (default: MINIX mkfs.mfs's rule, one per 2 KiB on small devices).
    #[arg(long, value_name = "N")]
    pub inodes: Option<u32>,
    /// File-system size in bytes (suffixes K, M, G allowed); the image is grown to it.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub size: Option<u64>,
    /// File-system size in blocks.
    #[arg(long, value_name = "N")]
    pub blocks: Option<u64>,
    /// Copy this host directory tree in (files, directories, symlinks, devices, modes, owners, times).
    #[arg(long, value_name = "DIR", conflicts_with = "proto")]
    pub from: Option<PathBuf>,
    /// Copy a FAT12/16/32 image's tree in (owned by root, directories 0755, files 0644).
    #[arg(long, value_name = "FAT_IMAGE", conflicts_with_all = ["from", "proto"])]
    pub from_fat: Option<PathBuf>,
    /// Build the tree a MINIX proto file describes.
    #[arg(long, value_name = "FILE")]
    pub proto: Option<PathBuf>,
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

/// Most buffers one `preadv`/`pwritev` takes (Linux's IOV_MAX).
const IOV_MAX: usize = 1024;

/// Moves `(i, off)`, a position in `bufs` (buffer, offset in it), `n`
/// bytes on.
fn advance(
    lens: impl Fn(usize) -> usize,
    (mut i, mut off): (usize, usize),
    mut n: usize,
) -> (usize, usize) {
    while n > 0 {
        let rest = lens(i) - off;
        if n < rest {
            return (i, off + n);
        }
        n -= rest;
        i += 1;
        off = 0;
    }
    (i, off)
}

// One system call per run of buffers (the cache reads and writes runs of
// blocks): a pread per block cost a third of the server's time.
impl BlockDevice for HostFile {
    fn read_vectored(&mut self, pos: u64, bufs: &mut [&mut [u8]]) -> libbdev::Result<usize> {
        let want: usize = bufs.iter().map(|b| b.len()).sum();
        let (mut total, mut at) = (0usize, (0usize, 0usize));
        while total < want {
            let (i, off) = at;
            let (first, rest) = bufs[i..].split_first_mut().ok_or(BdevError::Io)?;
            let mut iov = Vec::with_capacity(rest.len().min(IOV_MAX - 1) + 1);
            iov.push(std::io::IoSliceMut::new(&mut first[off..]));
            iov.extend(
                rest.iter_mut()
                    .take(IOV_MAX - 1)
                    .map(|b| std::io::IoSliceMut::new(b)),
            );
            let at_pos = i64::try_from(pos + total as u64).map_err(|_| BdevError::Io)?;
            match nix::sys::uio::preadv(&self.file, &mut iov, at_pos) {
                Ok(0) => break,
                Ok(n) => {
                    total += n;
                    at = advance(|k| bufs[k].len(), at, n);
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return Err(BdevError::Io),
            }
        }
        Ok(total)
    }

    fn write_vectored(&mut self, pos: u64, bufs: &[&[u8]]) -> libbdev::Result<usize> {
        let want: usize = bufs.iter().map(|b| b.len()).sum();
        let (mut total, mut at) = (0usize, (0usize, 0usize));
        while total < want {
            let (i, off) = at;
            let mut iov = Vec::with_capacity(bufs.len().saturating_sub(i).min(IOV_MAX));
            iov.push(std::io::IoSlice::new(&bufs[i][off..]));
            iov.extend(
                bufs[i + 1..]
                    .iter()
                    .take(IOV_MAX - 1)
                    .map(|b| std::io::IoSlice::new(b)),
            );
            let at_pos = i64::try_from(pos + total as u64).map_err(|_| BdevError::Io)?;
            match nix::sys::uio::pwritev(&self.file, &iov, at_pos) {
                // A regular file takes every byte or fails; 0 would loop.
                Ok(0) => return Err(BdevError::Io),
                Ok(n) => {
                    total += n;
                    at = advance(|k| bufs[k].len(), at, n);
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return Err(BdevError::Io),
            }
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
    match execute(cli, out, err) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            e.code
        }
    }
}

/// Run a parsed command; `Ok(code)` for commands with a meaningful exit
/// code. Warnings (what a copy left out) go to `err`.
pub fn execute(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<i32, ToolError> {
    FORCE.with(|f| f.set(cli.force));
    match cli.command {
        Command::Mkfs(a) => cmd_mkfs(&a, out, err).map(|()| 0),
        Command::Fsck { repair, image } => cmd_fsck(&image, repair, out),
        Command::Ls { long, image, path } => cmd_ls(&image, &path, long, out).map(|()| 0),
        Command::Cat { image, path } => cmd_cat(&image, &path, out).map(|()| 0),
        Command::Put {
            image,
            host_file,
            path,
        } => cmd_put(&image, &host_file, &path).map(|()| 0),
        Command::Get {
            image,
            path,
            host_file,
        } => cmd_get(&image, &path, &host_file).map(|()| 0),
        Command::Mkdir { image, path } => with_rw(&image, &path, |fs| {
            fs.mkdir_path(path.as_bytes(), 0o755, now()).map(|_| ())
        })
        .map(|()| 0),
        Command::Rm {
            recursive,
            image,
            path,
        } => cmd_rm(&image, &path, recursive).map(|()| 0),
        Command::Mv { image, from, to } => cmd_mv(&image, &from, &to).map(|()| 0),
        Command::Ln {
            symbolic,
            image,
            target,
            path,
        } => with_rw(&image, &path, |fs| {
            if symbolic {
                fs.symlink_path(target.as_bytes(), path.as_bytes(), now())
                    .map(|_| ())
            } else {
                fs.link_path(target.as_bytes(), path.as_bytes(), now())
            }
        })
        .map(|()| 0),
        Command::Stat { image, path } => cmd_stat(&image, &path, out).map(|()| 0),
        Command::Df { image } => cmd_df(&image, out).map(|()| 0),
        Command::ExportFat(a) => fat::cmd_export(&a, out, err),
        Command::Mount(a) => mount::cmd_mount(&a, FORCE.with(|f| f.get()), err),
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

/// What a new image is filled with.
#[derive(Debug, Clone, Copy)]
pub enum Contents<'a> {
    /// Just the root directory.
    Empty,
    /// A copy of this host directory tree.
    Dir(&'a Path),
    /// The tree this MINIX proto file describes.
    Proto(&'a Path),
}

/// Make (or overwrite) the file system in `image` and fill it: the library
/// form of `mfs mkfs`, for tools that build disk images. The file is created
/// if missing and grown to the file-system size. A proto file's inode count
/// applies when `opts.inodes` is `None`.
pub fn make_image(
    image: &Path,
    opts: &MkfsOptions,
    contents: Contents<'_>,
) -> Result<SuperBlock, ToolError> {
    let mut o = *opts;
    let proto = match contents {
        Contents::Proto(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| ToolError::new(image, None, format!("{}: {e}", p.display())))?;
            let proto = tree::parse_proto(&text)
                .map_err(|e| ToolError::new(image, None, format!("{}: {e}", p.display())))?;
            if proto.blocks > o.blocks {
                return Err(ToolError::new(
                    image,
                    None,
                    format!(
                        "{}: asks for {} blocks but the file system has only {}",
                        p.display(),
                        proto.blocks,
                        o.blocks
                    ),
                ));
            }
            if o.inodes.is_none() && proto.inodes > 0 {
                o.inodes = Some(proto.inodes);
            }
            Some(proto)
        }
        _ => None,
    };
    // Refuse impossible layouts before touching the file.
    mkfs::plan(&o).map_err(|e| io_err(image, e))?;
    let need = o.blocks * u64::from(o.block_size);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(image)
        .map_err(|e| io_err(image, e))?;
    let len = file.metadata().map_err(|e| io_err(image, e))?.len();
    if len < need {
        file.set_len(need).map_err(|e| io_err(image, e))?;
    }
    let mut dev = HostFile { file };
    let sb = mkfs::mkfs(&mut dev, &o).map_err(|e| io_err(image, e))?;
    if let Contents::Dir(dir) = contents {
        let (root, entries) = tree::tree_from_dir(dir)
            .map_err(|e| ToolError::new(image, None, format!("{}: {e}", dir.display())))?;
        populate(image, &root, &entries, false)?;
    }
    if let Some(p) = proto {
        populate(image, &p.root, &p.entries, true)?;
    }
    Ok(sb)
}

fn cmd_mkfs(a: &MkfsArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<(), ToolError> {
    let o = mkfs_options(a)?;
    // A bad FAT image is refused before the output image is touched.
    let fat_src = a
        .from_fat
        .as_deref()
        .map(fat::FatSource::open)
        .transpose()?;
    let contents = match (&a.from, &a.proto) {
        (Some(d), _) => Contents::Dir(d),
        (None, Some(p)) => Contents::Proto(p),
        (None, None) => Contents::Empty,
    };
    let sb = make_image(&a.image, &o, contents)?;
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
    if let Some(src) = fat_src {
        let s = src.import_into(&a.image, err)?;
        let _ = writeln!(
            out,
            "{}: {} files, {} directories, {} bytes from {} ({}){}",
            a.image.display(),
            s.files,
            s.dirs,
            s.bytes,
            src_name(a),
            fat::fat_type_name(src.fat_type()),
            if s.skipped > 0 {
                format!("; {} entries skipped (see above)", s.skipped)
            } else {
                String::new()
            }
        );
        if s.skipped > 0 {
            let _ = writeln!(
                err,
                "mfs: {}: {} entries of {} skipped",
                a.image.display(),
                s.skipped,
                src_name(a)
            );
        }
    }
    Ok(())
}

fn src_name(a: &MkfsArgs) -> String {
    a.from_fat
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
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

/// The core mounted on an image file.
pub type Fs = FileSystem<CachedDevice>;

std::thread_local! {
    /// `--force` of the command being run.
    static FORCE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Findings named in a refusal, at most.
const REFUSAL_FINDINGS: usize = 5;

/// Before a read-write mount: refuses (unless `--force`) an image that was
/// not cleanly unmounted or that fails a check, saying why. A V3 superblock
/// with no flags at all (util-linux mkfs.minix writes none) is judged by the
/// check alone.
pub fn precheck_for_write(image: &Path) -> Result<(), ToolError> {
    if FORCE.with(|f| f.get()) {
        return Ok(());
    }
    let refuse = |why: String| {
        ToolError::new(
            image,
            None,
            format!("refusing to modify: {why}; run `mfs fsck --repair` first, or use --force"),
        )
    };
    let mut dev = HostFile::open(image, false).map_err(|e| io_err(image, e))?;
    let mut area = [0u8; 64];
    {
        let mut bufs = [&mut area[..]];
        dev.read_vectored(1024, &mut bufs)
            .map_err(|e| io_err(image, format!("{e:?}")))?;
    }
    if let Ok(sb) = mfs::format::SuperBlock::parse(&area) {
        let no_flags = sb.version == mfs::format::Version::V3 && sb.flags == 0;
        if !sb.is_clean() && !no_flags {
            return Err(refuse("file system not cleanly unmounted".to_string()));
        }
    }
    let report = fsck::fsck(&mut dev, fsck::Options { repair: false });
    if let Some(f) = &report.fatal {
        return Err(refuse(format!("check failed: {f}")));
    }
    if report.remaining_errors > 0 {
        let first: Vec<String> = report
            .errors()
            .take(REFUSAL_FINDINGS)
            .map(|f| f.to_string())
            .collect();
        return Err(refuse(format!(
            "check finds {} errors ({}{})",
            report.remaining_errors,
            first.join("; "),
            if report.remaining_errors > first.len() {
                "; ..."
            } else {
                ""
            }
        )));
    }
    Ok(())
}

/// Mount `image`, read-only unless `write`. Unclean images are mounted
/// anyway (util-linux V3 images have no clean flag at all).
pub fn mount(image: &Path, write: bool) -> Result<Fs, ToolError> {
    if write {
        precheck_for_write(image)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(write)
        .open(image)
        .map_err(|e| io_err(image, e))?;
    let opts = MountOptions {
        read_only: !write,
        force_rw_unclean: true,
    };
    FileSystem::mount_device(Box::new(HostFile { file }), DEFAULT_BUFS, opts)
        .map_err(|e| io_err(image, e))
}

fn fs_err(image: &Path, path: &str, e: Errno) -> ToolError {
    ToolError::new(image, Some(path), e)
}

/// Run `f` on a read-only mount; errors name `path`.
pub fn with_ro<T>(
    image: &Path,
    path: &str,
    f: impl FnOnce(&mut Fs) -> Result<T, Errno>,
) -> Result<T, ToolError> {
    let mut fs = mount(image, false)?;
    f(&mut fs).map_err(|e| fs_err(image, path, e))
}

/// Run `f` on a read-write mount and unmount (marking the image clean)
/// whether or not it succeeded; errors name `path`.
pub fn with_rw<T>(
    image: &Path,
    path: &str,
    f: impl FnOnce(&mut Fs) -> Result<T, Errno>,
) -> Result<T, ToolError> {
    let mut fs = mount(image, true)?;
    let r = f(&mut fs);
    let what = fs.inconsistency();
    let u = fs.unmount();
    if let Some(what) = what {
        let e = r.err().unwrap_or(Errno::EIO);
        return Err(ToolError::new(
            image,
            Some(path),
            format!(
                "{e}: file system inconsistent ({what}); left read-only and unclean, run `mfs fsck`"
            ),
        ));
    }
    let v = r.map_err(|e| fs_err(image, path, e))?;
    u.map_err(|e| ToolError::new(image, None, format!("unmount: {e}")))?;
    Ok(v)
}

fn populate(
    image: &Path,
    root: &tree::Attr,
    entries: &[tree::Node],
    truncate_names: bool,
) -> Result<(), ToolError> {
    let mut fs = mount(image, true)?;
    let opts = tree::BuildOptions {
        truncate_names,
        now: now(),
    };
    let r = tree::build(&mut fs, root, entries, opts);
    let u = fs.unmount();
    r.map_err(|e| ToolError::new(image, Some(&e.path), e.msg))?;
    u.map_err(|e| ToolError::new(image, None, format!("unmount: {e}")))?;
    Ok(())
}

fn is_dir(st: &Stat) -> bool {
    st.mode & mode::S_IFMT == mode::S_IFDIR
}

/// `ls -l`-style mode string.
pub fn mode_string(m: u16) -> String {
    let t = match m & mode::S_IFMT {
        mode::S_IFDIR => 'd',
        mode::S_IFREG => '-',
        mode::S_IFLNK => 'l',
        mode::S_IFCHR => 'c',
        mode::S_IFBLK => 'b',
        mode::S_IFIFO => 'p',
        mode::S_IFSOCK => 's',
        _ => '?',
    };
    let mut s = String::from(t);
    for (shift, special, ch) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (m >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        s.push(match (m & special != 0, x) {
            (true, true) => ch,
            (true, false) => ch.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) for a MINIX timestamp.
pub fn format_time(t: u32) -> String {
    let days = i64::from(t / 86_400);
    let rem = t % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn long_line(fs: &mut Fs, ino: u32, name: &[u8]) -> Result<String, Errno> {
    let st = fs.stat(ino)?;
    let size = match st.mode & mode::S_IFMT {
        mode::S_IFCHR | mode::S_IFBLK => format!("{}, {}", st.rdev >> 8, st.rdev & 0xff),
        _ => st.size.to_string(),
    };
    let mut line = format!(
        "{} {:>3} {:>5} {:>5} {:>10} {} {}",
        mode_string(st.mode),
        st.nlinks,
        st.uid,
        st.gid,
        size,
        format_time(st.mtime),
        String::from_utf8_lossy(name)
    );
    if st.mode & mode::S_IFMT == mode::S_IFLNK {
        let t = fs.readlink(ino)?;
        line.push_str(" -> ");
        line.push_str(&String::from_utf8_lossy(&t));
    }
    Ok(line)
}

fn cmd_ls(image: &Path, path: &str, long: bool, out: &mut dyn Write) -> Result<(), ToolError> {
    let lines = with_ro(image, path, |fs| {
        // Like ls(1): `ls -l LINK` shows the link itself, `ls LINK` lists
        // what it points to.
        let own = fs.resolve(path.as_bytes(), false)?;
        let is_link = fs.stat(own)?.mode & mode::S_IFMT == mode::S_IFLNK;
        let ino = if is_link && long {
            own
        } else {
            fs.resolve(path.as_bytes(), true)?
        };
        let st = fs.stat(ino)?;
        let mut lines = Vec::new();
        if !is_dir(&st) {
            let name = path.as_bytes();
            lines.push(if long {
                long_line(fs, ino, name)?
            } else {
                path.to_string()
            });
            return Ok(lines);
        }
        let mut ents = fs.read_dir(ino)?;
        ents.retain(|e| e.name != b"." && e.name != b"..");
        ents.sort_by(|a, b| a.name.cmp(&b.name));
        for e in ents {
            lines.push(if long {
                long_line(fs, e.ino, &e.name)?
            } else {
                String::from_utf8_lossy(&e.name).into_owned()
            });
        }
        Ok(lines)
    })?;
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    Ok(())
}

/// Stream a regular file's contents to `sink` in chunks.
fn read_out(
    fs: &mut Fs,
    ino: u32,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(), Errno> {
    let st = fs.stat(ino)?;
    if is_dir(&st) {
        return Err(Errno::EISDIR);
    }
    let mut buf = vec![0u8; 1 << 16];
    let mut off = 0u64;
    while off < u64::from(st.size) {
        let n = fs.read(ino, off, &mut buf)?;
        if n == 0 {
            break;
        }
        sink(&buf[..n]).map_err(|_| Errno::EIO)?;
        off += n as u64;
    }
    Ok(())
}

fn cmd_cat(image: &Path, path: &str, out: &mut dyn Write) -> Result<(), ToolError> {
    with_ro(image, path, |fs| {
        let ino = fs.resolve(path.as_bytes(), true)?;
        read_out(fs, ino, &mut |b| out.write_all(b))
    })?;
    let _ = out.flush();
    Ok(())
}

fn cmd_get(image: &Path, path: &str, host: &Path) -> Result<(), ToolError> {
    let mut fs = mount(image, false)?;
    let ino = fs
        .resolve(path.as_bytes(), true)
        .map_err(|e| fs_err(image, path, e))?;
    let st = fs.stat(ino).map_err(|e| fs_err(image, path, e))?;
    if is_dir(&st) {
        return Err(fs_err(image, path, Errno::EISDIR));
    }
    let mut f = File::create(host)
        .map_err(|e| ToolError::new(image, Some(path), format!("{}: {e}", host.display())))?;
    let mut werr = None;
    let r = read_out(&mut fs, ino, &mut |b| {
        f.write_all(b).inspect_err(|e| werr = Some(e.to_string()))
    });
    if let Some(e) = werr {
        return Err(ToolError::new(
            image,
            Some(path),
            format!("{}: {e}", host.display()),
        ));
    }
    r.map_err(|e| fs_err(image, path, e))
}

/// Join `dir` and `name` as an image path.
fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn basename(p: &str) -> &str {
    p.trim_end_matches('/').rsplit('/').next().unwrap_or(p)
}

fn cmd_put(image: &Path, host: &Path, path: &str) -> Result<(), ToolError> {
    let md = std::fs::metadata(host)
        .map_err(|e| ToolError::new(image, Some(path), format!("{}: {e}", host.display())))?;
    if md.is_dir() {
        return Err(ToolError::new(
            image,
            Some(path),
            format!("{}: is a directory", host.display()),
        ));
    }
    let perm = {
        use std::os::unix::fs::PermissionsExt;
        (md.permissions().mode() & 0o7777) as u16
    };
    let hname = host
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut dest = path.to_string();
    with_rw(image, path, |fs| {
        let t = now();
        let ino = match fs.resolve(dest.as_bytes(), true) {
            Ok(ino) if is_dir(&fs.stat(ino)?) => {
                dest = join(&dest, &hname);
                match fs.resolve(dest.as_bytes(), true) {
                    Ok(i) => i,
                    Err(Errno::ENOENT) => {
                        let (dir, name) = fs.resolve_parent(dest.as_bytes())?;
                        fs.create(dir, name, perm, 0, 0, t)?
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(ino) => ino,
            Err(Errno::ENOENT) => {
                let (dir, name) = fs.resolve_parent(dest.as_bytes())?;
                fs.create(dir, name, perm, 0, 0, t)?
            }
            Err(e) => return Err(e),
        };
        if is_dir(&fs.stat(ino)?) {
            return Err(Errno::EISDIR);
        }
        fs.truncate(ino, 0, t)?;
        match tree::copy_in(fs, ino, host, t) {
            Ok(_) => {}
            Err(tree::CopyError::Fs(e)) => return Err(e),
            // The host file was readable a moment ago; treat a failure
            // now as an I/O error.
            Err(tree::CopyError::Host(_)) => return Err(Errno::EIO),
        }
        Ok(())
    })
}

fn cmd_rm(image: &Path, path: &str, recursive: bool) -> Result<(), ToolError> {
    with_rw(image, path, |fs| {
        let (dir, name) = fs.resolve_parent(path.as_bytes())?;
        let ino = fs.lookup(dir, name)?;
        if is_dir(&fs.stat(ino)?) && !recursive {
            return Err(Errno::EISDIR);
        }
        fs.remove_path(path.as_bytes(), recursive, now())
    })
}

fn cmd_mv(image: &Path, from: &str, to: &str) -> Result<(), ToolError> {
    with_rw(image, from, |fs| {
        let mut dest = to.to_string();
        if let Ok(ino) = fs.resolve(to.as_bytes(), true)
            && is_dir(&fs.stat(ino)?)
        {
            let src = fs.resolve(from.as_bytes(), false)?;
            if src != ino {
                dest = join(to, basename(from));
            }
        }
        fs.rename_path(from.as_bytes(), dest.as_bytes(), now())
    })
}

fn type_name(m: u16) -> &'static str {
    match m & mode::S_IFMT {
        mode::S_IFDIR => "directory",
        mode::S_IFREG => "regular file",
        mode::S_IFLNK => "symbolic link",
        mode::S_IFCHR => "character special file",
        mode::S_IFBLK => "block special file",
        mode::S_IFIFO => "fifo",
        mode::S_IFSOCK => "socket",
        _ => "unknown",
    }
}

fn cmd_stat(image: &Path, path: &str, out: &mut dyn Write) -> Result<(), ToolError> {
    let (st, target) = with_ro(image, path, |fs| {
        let ino = fs.resolve(path.as_bytes(), false)?;
        let st = fs.stat(ino)?;
        let target = if st.mode & mode::S_IFMT == mode::S_IFLNK {
            Some(fs.readlink(ino)?)
        } else {
            None
        };
        Ok((st, target))
    })?;
    let mut name = path.to_string();
    if let Some(t) = target {
        name = format!("{name} -> {}", String::from_utf8_lossy(&t));
    }
    let dev = match st.mode & mode::S_IFMT {
        mode::S_IFCHR | mode::S_IFBLK => format!("  Device: {},{}", st.rdev >> 8, st.rdev & 0xff),
        _ => String::new(),
    };
    let _ = writeln!(out, "  File: {name}");
    let _ = writeln!(
        out,
        "  Size: {}  Type: {}{dev}",
        st.size,
        type_name(st.mode)
    );
    let _ = writeln!(out, " Inode: {}  Links: {}", st.ino, st.nlinks);
    let _ = writeln!(
        out,
        "  Mode: ({:04o}/{})  Uid: {}  Gid: {}",
        st.mode & mode::PERM_MASK,
        mode_string(st.mode),
        st.uid,
        st.gid
    );
    let _ = writeln!(out, "Access: {}", format_time(st.atime));
    let _ = writeln!(out, "Modify: {}", format_time(st.mtime));
    let _ = writeln!(out, "Change: {}", format_time(st.ctime));
    Ok(())
}

fn cmd_df(image: &Path, out: &mut dyn Write) -> Result<(), ToolError> {
    let (v, st) = with_ro(image, "/", |fs| {
        let v = fs.geometry().version;
        Ok((v, fs.statvfs()?))
    })?;
    let _ = writeln!(
        out,
        "{}: MINIX V{}, {}-byte blocks, names up to {} bytes",
        image.display(),
        v.number(),
        st.bsize,
        st.namemax
    );
    let _ = writeln!(
        out,
        "blocks: {} total, {} used, {} free",
        st.blocks,
        st.blocks - st.bfree.min(st.blocks),
        st.bfree
    );
    let _ = writeln!(
        out,
        "inodes: {} total, {} used, {} free",
        st.files,
        st.files - st.ffree.min(st.files),
        st.ffree
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectored I/O on an image file: more buffers than one system call
    /// takes, uneven and empty ones, every byte where it belongs, and a
    /// read past the end short by exactly what is missing.
    #[test]
    fn host_file_vectored_io_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img");
        std::fs::write(&path, vec![0u8; 3 << 20]).unwrap();
        let mut f = HostFile::open(&path, true).unwrap();
        let lens: Vec<usize> = (0..2500).map(|k| [512, 0, 1024, 7, 4096][k % 5]).collect();
        let total: usize = lens.iter().sum();
        let data: Vec<Vec<u8>> = lens
            .iter()
            .enumerate()
            .map(|(k, &n)| (0..n).map(|j| (k * 31 + j) as u8).collect())
            .collect();
        let pos = 12_345;
        let srcs: Vec<&[u8]> = data.iter().map(|d| &d[..]).collect();
        assert_eq!(f.write_vectored(pos, &srcs), Ok(total));
        let flat: Vec<u8> = data.concat();
        let on_disk = std::fs::read(&path).unwrap();
        assert!(on_disk[pos as usize..pos as usize + total] == flat[..]);

        let mut back: Vec<Vec<u8>> = lens.iter().map(|&n| vec![0xEE; n]).collect();
        let mut dsts: Vec<&mut [u8]> = back.iter_mut().map(|d| &mut d[..]).collect();
        assert_eq!(f.read_vectored(pos, &mut dsts), Ok(total));
        assert!(back == data);

        // 1000 bytes before the end: a short count, the rest untouched.
        let end = on_disk.len() as u64;
        let mut a = vec![0xEE; 600];
        let mut b = vec![0xEE; 600];
        let mut dsts: Vec<&mut [u8]> = vec![&mut a, &mut b];
        assert_eq!(f.read_vectored(end - 1000, &mut dsts), Ok(1000));
        assert!(a[..] == on_disk[on_disk.len() - 1000..on_disk.len() - 400]);
        assert!(b[..400] == on_disk[on_disk.len() - 400..]);
        assert!(b[400..].iter().all(|&x| x == 0xEE));
    }

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
    fn mode_strings() {
        assert_eq!(mode_string(0o040755), "drwxr-xr-x");
        assert_eq!(mode_string(0o100644), "-rw-r--r--");
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o102644), "-rw-r-Sr--");
        assert_eq!(mode_string(0o041777), "drwxrwxrwt");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
        assert_eq!(mode_string(0o020600), "crw-------");
    }

    #[test]
    fn times_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(format_time(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(format_time(u32::MAX), "2106-02-07 06:28:15");
    }

    #[test]
    fn make_image_as_a_library_call() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("tree");
        std::fs::create_dir_all(src.join("etc")).unwrap();
        std::fs::write(src.join("etc/motd"), b"welcome\n").unwrap();
        let img = dir.path().join("disk.img");
        let mut o = MkfsOptions::new(512);
        o.block_size = 4096;
        let sb = make_image(&img, &o, Contents::Dir(&src)).unwrap();
        assert_eq!(sb.zones, 512);
        assert_eq!(std::fs::metadata(&img).unwrap().len(), 512 * 4096);
        let data = with_ro(&img, "/etc/motd", |fs| fs.read_path(b"/etc/motd")).unwrap();
        assert_eq!(data, b"welcome\n");
        let mut dev = HostFile::open(&img, false).unwrap();
        assert_eq!(
            fsck::fsck(&mut dev, fsck::Options::default()).exit_code(),
            0
        );
        // A missing source is an error naming the image.
        let e = make_image(&img, &o, Contents::Dir(&dir.path().join("nope"))).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("mfs: {}: ", img.display()))
        );
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
