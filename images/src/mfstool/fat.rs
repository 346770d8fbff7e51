//! FAT images as the exchange format, through the `fatfs` crate:
//! `mfs mkfs --from-fat FAT_IMAGE` fills a new MFS image with a FAT
//! image's tree, and `mfs export-fat IMAGE FAT_IMAGE` writes an MFS tree to
//! a new FAT12/16/32 image for systems that cannot read MINIX images.
//!
//! What carries over, and the defaults where FAT has nothing to say:
//!
//! - **Names**: FAT long names (UTF-8 in MFS). FAT → MFS: a name longer
//!   than the MFS allows (14/30/60 bytes) is skipped with a warning.
//!   MFS → FAT: a name FAT refuses (not UTF-8, a control character or one
//!   of `"*/:<>?\|`, DEL, a character outside the Basic Multilingual
//!   Plane, a trailing dot or space, longer than 255 UTF-16 units) or one
//!   that equals an earlier name in the same directory when case is
//!   ignored (FAT names are case-insensitive) is skipped with a warning.
//! - **Times**: FAT stores local time without a zone; this tool reads and
//!   writes FAT times as UTC, so a round trip is exact whatever the host's
//!   zone. The modification time is kept to FAT's 2-second granularity
//!   (odd seconds round down); times before 1980 become 1980-01-01.
//!   FAT → MFS: mtime from the entry's modification time, atime from its
//!   access date (midnight UTC) but never before the mtime; an invalid FAT
//!   time becomes 1980-01-01 00:00:00. MFS → FAT: the modification and
//!   creation times and the access date are the mtime (MINIX has no birth
//!   time; `fatfs` stamps all three from one clock); directories get their
//!   mtime too.
//! - **Owners and modes** (FAT has none): FAT → MFS, everything belongs to
//!   uid 0, gid 0; directories are 0755, files 0644, or 0444 when the FAT
//!   read-only attribute is set. The hidden, system and archive attributes
//!   are ignored. MFS → FAT: owners, modes and set-id bits are dropped.
//! - **What FAT cannot hold** (MFS → FAT): symbolic links, device nodes,
//!   FIFOs and sockets are skipped; a file with several hard links is
//!   written once per name (duplicated). Each is a warning on standard
//!   error and counted in a closing line; nothing is dropped silently.
//!
//! A bad FAT image (no FAT boot sector, truncated, broken cluster chains,
//! cyclic directories) is an error naming the FAT image, never a panic:
//! reads from a FAT image are bounded (a correct walk reads each byte a
//! small number of times, so a cyclic cluster chain runs out of budget),
//! the tree is at most 255 directories deep, and a panic inside the
//! `fatfs` crate on hostile input is caught and reported as an error.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Once;

use fatfs::{Date, DateTime, FatType, FileAttributes, FormatVolumeOptions, FsOptions, Time};
use mfs::errno::Errno;
use mfs::format::mode;

use super::{Fs, ToolError, mount, now, parse_size};

/// 1980-01-01 00:00:00 UTC, the earliest time FAT can store.
pub const FAT_EPOCH: u32 = 315_532_800;

/// Deepest directory nesting walked in either direction.
const MAX_DEPTH: usize = 255;

/// Arguments of `mfs export-fat`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// FAT type; default chosen by size (FAT12 below 4 MiB, FAT16 below 512 MiB, else FAT32).
    #[arg(long = "fat", value_name = "12|16|32", value_parser = parse_fat_type)]
    pub fat_type: Option<FatKind>,
    /// Size of the FAT image in bytes (suffixes K, M, G); default: the tree's size with room to spare.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub size: Option<u64>,
    /// Volume label (up to 11 ASCII characters).
    #[arg(long, value_name = "LABEL")]
    pub label: Option<String>,
    /// The MFS image to read.
    pub image: PathBuf,
    /// The FAT image to create (overwritten if it exists).
    pub fat_image: PathBuf,
    /// The directory inside the MFS image to export.
    #[arg(default_value = "/")]
    pub path: String,
}

/// A FAT type named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatKind {
    /// FAT12.
    Fat12,
    /// FAT16.
    Fat16,
    /// FAT32.
    Fat32,
}

impl FatKind {
    fn to_fatfs(self) -> FatType {
        match self {
            FatKind::Fat12 => FatType::Fat12,
            FatKind::Fat16 => FatType::Fat16,
            FatKind::Fat32 => FatType::Fat32,
        }
    }
}

fn parse_fat_type(s: &str) -> Result<FatKind, String> {
    match s.trim() {
        "12" => Ok(FatKind::Fat12),
        "16" => Ok(FatKind::Fat16),
        "32" => Ok(FatKind::Fat32),
        _ => Err(format!("unknown FAT type {s:?} (use 12, 16 or 32)")),
    }
}

/// The name `mfs` prints for a FAT type.
pub fn fat_type_name(t: FatType) -> &'static str {
    match t {
        FatType::Fat12 => "FAT12",
        FatType::Fat16 => "FAT16",
        FatType::Fat32 => "FAT32",
    }
}

// ---------------------------------------------------------------------------
// Times: FAT date/time fields read and written as UTC.

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A MINIX time (seconds since 1970, UTC) as a FAT date and time; before
/// 1980 becomes 1980-01-01 00:00:00. FAT keeps even seconds only.
pub fn unix_to_fat(t: u32) -> DateTime {
    let t = t.max(FAT_EPOCH);
    let (y, m, d) = civil_from_days(i64::from(t / 86_400));
    let rem = t % 86_400;
    // Every u32 time falls in FAT's years 1980..=2107, so the casts hold.
    DateTime {
        date: Date {
            year: y as u16,
            month: m as u16,
            day: d as u16,
        },
        time: Time {
            hour: (rem / 3600) as u16,
            min: (rem % 3600 / 60) as u16,
            sec: (rem % 60) as u16,
            millis: 0,
        },
    }
}

/// A FAT date as a MINIX time (midnight UTC); `None` if the date is invalid.
pub fn fat_date_to_unix(d: Date) -> Option<u32> {
    let (y, m, day) = (i64::from(d.year), i64::from(d.month), i64::from(d.day));
    if !(1..=12).contains(&m) || day < 1 || day > days_in_month(y, m) {
        return None;
    }
    u32::try_from(days_from_civil(y, m, day) * 86_400).ok()
}

/// A FAT date and time as a MINIX time; `None` if either is invalid or the
/// time does not fit 32 bits (after 2106-02-07).
pub fn fat_to_unix(dt: DateTime) -> Option<u32> {
    let day = fat_date_to_unix(dt.date)?;
    let t = dt.time;
    if t.hour > 23 || t.min > 59 || t.sec > 59 {
        return None;
    }
    day.checked_add(u32::from(t.hour) * 3600 + u32::from(t.min) * 60 + u32::from(t.sec))
}

std::thread_local! {
    /// The time `fatfs` stamps new entries and writes with, while exporting.
    static STAMP: Cell<Option<u32>> = const { Cell::new(None) };
}

/// `fatfs`'s clock: the node being written's mtime while exporting, so new
/// entries (directories included, which `fatfs` cannot re-stamp) carry it.
#[derive(Debug)]
struct StampClock;

static STAMP_CLOCK: StampClock = StampClock;

impl fatfs::TimeProvider for StampClock {
    fn get_current_date(&self) -> Date {
        self.get_current_date_time().date
    }

    fn get_current_date_time(&self) -> DateTime {
        unix_to_fat(STAMP.with(Cell::get).unwrap_or_else(now))
    }
}

fn fat_options() -> FsOptions {
    FsOptions::new()
        .update_accessed_date(false)
        .time_provider(&STAMP_CLOCK)
}

// ---------------------------------------------------------------------------
// Panics inside fatfs on hostile input become errors.

std::thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

static QUIET_HOOK: Once = Once::new();

/// Run `f`; a panic inside it is returned as `Err(message)` instead of
/// unwinding further, and is not printed (other threads' panics are, as
/// before).
fn catch_panics<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    QUIET_HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) {
                let p = info.payload();
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                let at = info
                    .location()
                    .map(|l| format!(" ({}:{})", l.file(), l.line()))
                    .unwrap_or_default();
                CAUGHT.with(|c| *c.borrow_mut() = Some(format!("{msg}{at}")));
            } else {
                prev(info);
            }
        }));
    });
    let was = CATCHING.with(|c| c.replace(true));
    let r = std::panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(was));
    r.map_err(|_| {
        CAUGHT
            .with(|c| c.borrow_mut().take())
            .unwrap_or_else(|| "unknown panic".to_string())
    })
}

// ---------------------------------------------------------------------------
// The FAT image as fatfs's disk.

/// A FAT image file with a budget on bytes read (so cyclic cluster chains
/// in a corrupt image end in an error instead of running forever).
#[derive(Debug)]
pub struct Disk {
    file: File,
    read: u64,
    budget: u64,
    /// Where `fatfs` wrote the name of a new directory's "." entry.
    dots: Option<Rc<RefCell<Vec<u64>>>>,
}

/// The short name of a directory's "." entry.
const DOT: &[u8; 11] = b".          ";
/// The short name of a directory's ".." entry.
const DOTDOT: &[u8; 11] = b"..         ";
/// Size of a directory entry.
const ENTRY: usize = 32;
/// Attribute byte of a long-name entry.
const ATTR_LFN: u8 = 0x0f;
/// First byte of a deleted entry.
const DELETED: u8 = 0xe5;

/// `fatfs` 0.3 gives a new directory's "." and ".." entries long-name
/// entries too, so its first four slots are `LFN(.) . LFN(..) ..`; FAT
/// wants "." and ".." in the first two (dosfstools' fsck.fat renames and
/// deletes them otherwise). Rewrite each such directory start, found
/// through the positions `Disk` recorded, as `. .. deleted deleted`. On
/// FAT32 a ".." naming the root directory's cluster is made 0, as FAT
/// requires (`fatfs` writes the cluster number).
fn fix_dot_entries(file: &mut File, dots: &[u64], fat32_root: Option<u32>) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    for &p in dots {
        let Some(base) = p.checked_sub(ENTRY as u64) else {
            continue;
        };
        let mut b = [0u8; 4 * ENTRY];
        file.read_exact_at(&mut b, base)?;
        let slot = |i: usize| &b[i * ENTRY..(i + 1) * ENTRY];
        let expected = slot(0)[11] == ATTR_LFN
            && slot(1)[..11] == DOT[..]
            && slot(2)[11] == ATTR_LFN
            && slot(3)[..11] == DOTDOT[..];
        if !expected {
            return Err(io::Error::other(format!(
                "unexpected directory layout at byte {base}"
            )));
        }
        let mut fixed = [0u8; 4 * ENTRY];
        fixed[..ENTRY].copy_from_slice(slot(1));
        fixed[ENTRY..2 * ENTRY].copy_from_slice(slot(3));
        fixed[2 * ENTRY..3 * ENTRY].copy_from_slice(slot(0));
        fixed[3 * ENTRY..].copy_from_slice(slot(2));
        fixed[2 * ENTRY] = DELETED;
        fixed[3 * ENTRY] = DELETED;
        let dd = &mut fixed[ENTRY..2 * ENTRY];
        let cluster = u32::from(u16::from_le_bytes([dd[20], dd[21]])) << 16
            | u32::from(u16::from_le_bytes([dd[26], dd[27]]));
        if Some(cluster) == fat32_root {
            dd[20..22].fill(0);
            dd[26..28].fill(0);
        }
        file.write_all_at(&fixed, base)?;
    }
    Ok(())
}

/// The message a read past the budget fails with.
const BUDGET_MSG: &str =
    "read far more than the image holds: cyclic or cross-linked cluster chains";

impl Read for Disk {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read > self.budget {
            return Err(io::Error::other(BUDGET_MSG));
        }
        let n = self.file.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

impl Write for Disk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(d) = &self.dots
            && buf == DOT
        {
            d.borrow_mut().push(self.file.stream_position()?);
        }
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Disk {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

type FatFs = fatfs::FileSystem<Disk>;
type FatDir<'a> = fatfs::Dir<'a, Disk>;

// ---------------------------------------------------------------------------
// FAT → MFS.

/// What a copy moved, and what it left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Regular files written.
    pub files: u64,
    /// Directories made (the top one not counted).
    pub dirs: u64,
    /// Bytes of file data copied.
    pub bytes: u64,
    /// Entries skipped (with a warning each).
    pub skipped: u64,
    /// Hard-linked files written once more under another name.
    pub duplicated: u64,
}

/// An opened, validated FAT image to copy from.
pub struct FatSource {
    path: PathBuf,
    fs: FatFs,
    /// Most directory entries a valid tree on this volume can have.
    max_entries: u64,
    /// Bytes of the data area (no valid file is larger).
    capacity: u64,
}

impl std::fmt::Debug for FatSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FatSource")
            .field("path", &self.path)
            .field("fat_type", &self.fat_type())
            .finish()
    }
}

fn fat_err(fat: &Path, path: Option<&str>, e: impl std::fmt::Display) -> ToolError {
    ToolError::new(fat, path, e)
}

impl FatSource {
    /// Open and check a FAT image (read-only: the image is never written).
    pub fn open(path: &Path) -> Result<Self, ToolError> {
        let file = File::open(path).map_err(|e| fat_err(path, None, e))?;
        let len = file.metadata().map_err(|e| fat_err(path, None, e))?.len();
        if len < 512 {
            return Err(fat_err(
                path,
                None,
                format!("not a FAT file system: only {len} bytes, less than a boot sector"),
            ));
        }
        let disk = Disk {
            file,
            read: 0,
            budget: len.saturating_mul(4).saturating_add(16 << 20),
            dots: None,
        };
        let fs = catch_panics(|| FatFs::new(disk, fat_options()))
            .map_err(|p| fat_err(path, None, format!("not a usable FAT file system: {p}")))?
            .map_err(|e| fat_err(path, None, format!("not a FAT file system: {e}")))?;
        let stats = catch_panics(|| fs.stats())
            .map_err(|p| fat_err(path, None, format!("bad FAT: {p}")))?
            .map_err(|e| fat_err(path, None, format!("bad FAT: {e}")))?;
        let capacity = u64::from(stats.total_clusters()) * u64::from(stats.cluster_size());
        if capacity > len.saturating_mul(2).max(1 << 20) {
            return Err(fat_err(
                path,
                None,
                format!(
                    "bad boot sector: it describes {capacity} bytes of data in a {len}-byte image"
                ),
            ));
        }
        Ok(FatSource {
            path: path.to_path_buf(),
            fs,
            // 32 bytes an entry, plus a FAT12/16 root directory's own area.
            max_entries: capacity / 32 + 65_536,
            capacity,
        })
    }

    /// The image's FAT type.
    pub fn fat_type(&self) -> FatType {
        self.fs.fat_type()
    }

    /// Copy the whole tree into the (new, empty) MFS image `image`,
    /// warning on `warn` about each entry left out.
    pub fn import_into(&self, image: &Path, warn: &mut dyn Write) -> Result<Summary, ToolError> {
        let mut fs = mount(image, true)?;
        let mut ctx = Import {
            src: self,
            image,
            warn,
            entries: 0,
            sum: Summary::default(),
            now: now(),
            buf: vec![0u8; 1 << 16],
        };
        let root_ino = fs.root();
        let r = catch_panics(|| {
            let root = self.fs.root_dir();
            ctx.dir(&mut fs, &root, root_ino, "", 0)
        })
        .unwrap_or_else(|p| Err(fat_err(&self.path, None, format!("bad FAT image: {p}"))));
        let u = fs.unmount();
        r?;
        u.map_err(|e| ToolError::new(image, None, format!("unmount: {e}")))?;
        Ok(ctx.sum)
    }
}

struct Import<'a> {
    src: &'a FatSource,
    image: &'a Path,
    warn: &'a mut dyn Write,
    entries: u64,
    sum: Summary,
    now: u32,
    buf: Vec<u8>,
}

impl Import<'_> {
    fn fat(&self, path: &str, e: impl std::fmt::Display) -> ToolError {
        fat_err(
            &self.src.path,
            Some(if path.is_empty() { "/" } else { path }),
            e,
        )
    }

    fn mfs(&self, path: &str, e: Errno) -> ToolError {
        ToolError::new(self.image, Some(path), e)
    }

    fn skip(&mut self, path: &str, why: impl std::fmt::Display) {
        self.sum.skipped += 1;
        let _ = writeln!(
            self.warn,
            "mfs: {}: {path}: skipped: {why}",
            self.src.path.display()
        );
    }

    fn dir(
        &mut self,
        fs: &mut Fs,
        src: &FatDir<'_>,
        ino: u32,
        path: &str,
        depth: usize,
    ) -> Result<(), ToolError> {
        if depth > MAX_DEPTH {
            return Err(self.fat(
                path,
                format!("directories nested deeper than {MAX_DEPTH}: cyclic directory?"),
            ));
        }
        let max_name = fs.geometry().name_len as usize;
        let mut seen = HashSet::new();
        for e in src.iter() {
            let e = e.map_err(|e| self.fat(path, e))?;
            self.entries += 1;
            if self.entries > self.src.max_entries {
                return Err(self.fat(
                    path,
                    "more directory entries than the volume can hold: cyclic or cross-linked directories",
                ));
            }
            let name = e.file_name();
            if name == "." || name == ".." {
                continue;
            }
            // FAT forbids these in names: a damaged directory (and a name
            // that must not reach a one-line message as it is).
            if name.is_empty()
                || name
                    .chars()
                    .any(|c| c < ' ' || c == '\u{7f}' || "\"*/:<>?\\|".contains(c))
            {
                return Err(self.fat(
                    path,
                    format!("bad name {name:?} in a directory entry: damaged directory?"),
                ));
            }
            let child = format!("{path}/{name}");
            if name.len() > max_name {
                self.skip(
                    &child,
                    format!(
                        "name is {} bytes; this MINIX file system allows {max_name}",
                        name.len()
                    ),
                );
                continue;
            }
            if !seen.insert(name.to_uppercase()) {
                return Err(self.fat(
                    &child,
                    "listed twice in its directory: cyclic or cross-linked directory",
                ));
            }
            let mtime = fat_to_unix(e.modified()).unwrap_or(FAT_EPOCH);
            let atime = fat_date_to_unix(e.accessed()).map_or(mtime, |a| a.max(mtime));
            let now = self.now;
            if e.is_dir() {
                let new = fs
                    .mkdir(ino, name.as_bytes(), 0o755, 0, 0, now)
                    .map_err(|er| self.mfs(&child, er))?;
                self.dir(fs, &e.to_dir(), new, &child, depth + 1)?;
                fs.utimes(new, atime, mtime, now)
                    .map_err(|er| self.mfs(&child, er))?;
                self.sum.dirs += 1;
                continue;
            }
            let perm = if e.attributes().contains(FileAttributes::READ_ONLY) {
                0o444
            } else {
                0o644
            };
            let len = e.len();
            if len > self.src.capacity {
                return Err(self.fat(
                    &child,
                    format!(
                        "size {len} is more than the volume's {} bytes of data",
                        self.src.capacity
                    ),
                ));
            }
            let new = fs
                .create(ino, name.as_bytes(), 0o600, 0, 0, now)
                .map_err(|er| self.mfs(&child, er))?;
            let mut f = e.to_file();
            let mut off = 0u64;
            while off < len {
                let n = f.read(&mut self.buf).map_err(|er| self.fat(&child, er))?;
                if n == 0 {
                    break;
                }
                let w = fs
                    .write(new, off, &self.buf[..n], now)
                    .map_err(|er| self.mfs(&child, er))?;
                if w != n {
                    return Err(self.mfs(&child, Errno::ENOSPC));
                }
                off += n as u64;
            }
            if off != len {
                return Err(self.fat(
                    &child,
                    format!("file ends after {off} of its {len} bytes: broken cluster chain"),
                ));
            }
            fs.chmod(new, perm, now)
                .and_then(|()| fs.utimes(new, atime, mtime, now))
                .map_err(|er| self.mfs(&child, er))?;
            self.sum.files += 1;
            self.sum.bytes += len;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// MFS → FAT.

/// Why FAT cannot take `name`, if it cannot (the `fatfs` crate's rules for
/// long names, and what FAT file systems strip).
pub fn fat_name_problem(name: &[u8]) -> Option<String> {
    let Ok(s) = std::str::from_utf8(name) else {
        return Some("name is not UTF-8 (FAT long names are Unicode)".to_string());
    };
    if s.encode_utf16().count() > 255 {
        return Some("name longer than FAT's 255 characters".to_string());
    }
    for c in s.chars() {
        let ok = c.is_ascii_alphanumeric()
            || ('\u{80}'..='\u{FFFF}').contains(&c)
            || "$%'-_@~`!(){}. +,;=[]^#&".contains(c);
        if !ok {
            return Some(if c > '\u{FFFF}' {
                format!("name has {c:?}, outside what FAT long names can hold")
            } else {
                format!("name has {c:?}, which FAT forbids")
            });
        }
    }
    if s.ends_with('.') || s.ends_with(' ') {
        return Some("name ends in a dot or space, which FAT drops".to_string());
    }
    None
}

/// `s` with control characters escaped, for one-line messages.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A node of the tree to write.
#[derive(Debug)]
struct Plan {
    name: String,
    mtime: u32,
    kind: PlanKind,
}

#[derive(Debug)]
enum PlanKind {
    Dir(Vec<Plan>),
    File { ino: u32, size: u32 },
}

struct Planner<'a> {
    image: &'a Path,
    warn: &'a mut dyn Write,
    /// First exported path of each hard-linked inode.
    links: HashMap<u32, String>,
    skipped: u64,
    duplicated: u64,
}

impl Planner<'_> {
    fn note(&mut self, path: &str, what: impl std::fmt::Display) {
        let _ = writeln!(self.warn, "mfs: {}: {path}: {what}", self.image.display());
    }

    fn skip(&mut self, path: &str, why: impl std::fmt::Display) {
        self.skipped += 1;
        self.note(path, format_args!("skipped: {why}"));
    }

    fn dir(
        &mut self,
        fs: &mut Fs,
        ino: u32,
        path: &str,
        depth: usize,
    ) -> Result<Vec<Plan>, ToolError> {
        let err = |e: Errno| {
            ToolError::new(
                self.image,
                Some(if path.is_empty() { "/" } else { path }),
                e,
            )
        };
        if depth > MAX_DEPTH {
            return Err(ToolError::new(
                self.image,
                Some(path),
                format!("directories nested deeper than {MAX_DEPTH}"),
            ));
        }
        let mut ents = fs.read_dir(ino).map_err(err)?;
        ents.retain(|e| e.name != b"." && e.name != b"..");
        ents.sort_by(|a, b| a.name.cmp(&b.name));
        // Upper-cased names taken so far (FAT compares names ignoring case).
        let mut taken: HashMap<String, String> = HashMap::new();
        let mut out = Vec::new();
        for e in ents {
            let shown = String::from_utf8_lossy(&e.name).into_owned();
            let child = format!("{path}/{}", printable(&shown));
            let st = fs
                .stat(e.ino)
                .map_err(|er| ToolError::new(self.image, Some(&child), er))?;
            let what = match st.mode & mode::S_IFMT {
                mode::S_IFDIR | mode::S_IFREG => None,
                mode::S_IFLNK => Some("symbolic link (FAT has none)"),
                mode::S_IFCHR => Some("character device (FAT has none)"),
                mode::S_IFBLK => Some("block device (FAT has none)"),
                mode::S_IFIFO => Some("FIFO (FAT has none)"),
                mode::S_IFSOCK => Some("socket (FAT has none)"),
                _ => Some("unknown file type"),
            };
            if let Some(what) = what {
                self.skip(&child, what);
                continue;
            }
            let is_dir = st.mode & mode::S_IFMT == mode::S_IFDIR;
            let tail = if is_dir {
                " (with everything under it)"
            } else {
                ""
            };
            if let Some(why) = fat_name_problem(&e.name) {
                self.skip(&child, format_args!("{why}{tail}"));
                continue;
            }
            let upper: String = shown.chars().flat_map(char::to_uppercase).collect();
            if let Some(first) = taken.get(&upper) {
                let why = format!("same name as {path}/{first} to FAT, which ignores case{tail}");
                self.skip(&child, why);
                continue;
            }
            taken.insert(upper, shown.clone());
            let kind = if is_dir {
                PlanKind::Dir(self.dir(fs, e.ino, &child, depth + 1)?)
            } else {
                if st.nlinks > 1 {
                    if let Some(first) = self.links.get(&e.ino).cloned() {
                        self.duplicated += 1;
                        self.note(
                            &child,
                            format_args!(
                                "duplicated: a hard link to {first}; FAT gets a separate copy"
                            ),
                        );
                    } else {
                        self.links.insert(e.ino, child.clone());
                    }
                }
                PlanKind::File {
                    ino: e.ino,
                    size: st.size,
                }
            };
            out.push(Plan {
                name: shown,
                mtime: st.mtime,
                kind,
            });
        }
        Ok(out)
    }
}

/// Bytes the tree needs on a FAT volume with 4 KiB clusters, metadata
/// included, with room to spare.
fn estimate(plan: &[Plan]) -> u64 {
    fn walk(p: &[Plan]) -> u64 {
        const C: u64 = 4096;
        // Directory entries: a short entry plus one per 13 UTF-16 units.
        let dir_bytes: u64 = p
            .iter()
            .map(|n| 32 * (2 + n.name.encode_utf16().count() as u64 / 13))
            .sum::<u64>()
            + 64;
        let mut total = dir_bytes.div_ceil(C) * C;
        for n in p {
            total += match &n.kind {
                PlanKind::Dir(c) => walk(c),
                PlanKind::File { size, .. } => u64::from(*size).div_ceil(C) * C,
            };
        }
        total
    }
    let need = walk(plan);
    need + need / 8 + (512 << 10)
}

/// Smallest image `fatfs` formats as `t` (its cluster sizes for small
/// volumes: 1 KiB for FAT16 up to 16 MiB, 512 bytes for FAT32 up to
/// 260 MiB).
fn min_size(t: Option<FatKind>) -> u64 {
    match t {
        Some(FatKind::Fat16) => 5 << 20,
        Some(FatKind::Fat32) => 34 << 20,
        _ => 256 << 10,
    }
}

/// Why writing the FAT image failed.
enum WriteError {
    /// The volume is full (worth retrying larger when the size was ours).
    Full(String),
    /// Anything else.
    Other(ToolError),
}

fn is_full(e: &io::Error) -> bool {
    e.to_string().contains("No space left")
}

struct Writer<'a> {
    fat_image: &'a Path,
    image: &'a Path,
    buf: Vec<u8>,
    sum: Summary,
}

impl Writer<'_> {
    fn fat_io(&self, path: &str, e: io::Error) -> WriteError {
        if is_full(&e) {
            WriteError::Full(path.to_string())
        } else {
            WriteError::Other(fat_err(self.fat_image, Some(path), e))
        }
    }

    /// Write `plan` into `dst`, then (unless `dst` is the root, `mtime`
    /// `None`) stamp `dst`'s own entry with `mtime`.
    ///
    /// `fatfs` stamps a directory's entry with its clock at every write
    /// into the directory, and a new entry with the clock at creation; it
    /// has no call to set a directory's time. So each node is created
    /// under its own mtime, and a directory's last write is a scratch
    /// entry made and removed under the directory's mtime (leaving a
    /// deleted entry behind, as any FAT system's removals do).
    fn dir(
        &mut self,
        fs: &mut Fs,
        dst: &FatDir<'_>,
        plan: &[Plan],
        path: &str,
        mtime: Option<u32>,
    ) -> Result<(), WriteError> {
        for n in plan {
            let child = format!("{path}/{}", n.name);
            STAMP.with(|s| s.set(Some(n.mtime)));
            match &n.kind {
                PlanKind::Dir(children) => {
                    let d = dst
                        .create_dir(&n.name)
                        .map_err(|e| self.fat_io(&child, e))?;
                    self.dir(fs, &d, children, &child, Some(n.mtime))?;
                    self.sum.dirs += 1;
                }
                PlanKind::File { ino, size } => {
                    let mut f = dst
                        .create_file(&n.name)
                        .map_err(|e| self.fat_io(&child, e))?;
                    let mut off = 0u64;
                    while off < u64::from(*size) {
                        let r = fs.read(*ino, off, &mut self.buf).map_err(|e| {
                            WriteError::Other(ToolError::new(self.image, Some(&child), e))
                        })?;
                        if r == 0 {
                            break;
                        }
                        f.write_all(&self.buf[..r])
                            .map_err(|e| self.fat_io(&child, e))?;
                        off += r as u64;
                    }
                    // The times are the stamp's (see `StampClock`).
                    f.flush().map_err(|e| self.fat_io(&child, e))?;
                    self.sum.files += 1;
                    self.sum.bytes += off;
                }
            }
        }
        if let Some(t) = mtime {
            STAMP.with(|s| s.set(Some(t)));
            let taken: HashSet<String> = plan
                .iter()
                .map(|n| n.name.chars().flat_map(char::to_uppercase).collect())
                .collect();
            let scratch = (0..)
                .map(|i| format!("MFS-STAMP-{i}.TMP"))
                .find(|n| !taken.contains(n))
                .unwrap_or_default();
            let here = if path.is_empty() { "/" } else { path };
            dst.create_file(&scratch)
                .and_then(|f| {
                    drop(f);
                    dst.remove(&scratch)
                })
                .map_err(|e| self.fat_io(here, e))?;
        }
        Ok(())
    }
}

/// Format `fat_image` as a `size`-byte FAT volume and write `plan` to it.
fn write_image(
    a: &ExportArgs,
    size: u64,
    fs: &mut Fs,
    plan: &[Plan],
) -> Result<(FatType, Summary), WriteError> {
    let other = |e: &dyn std::fmt::Display| WriteError::Other(fat_err(&a.fat_image, None, e));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&a.fat_image)
        .map_err(|e| other(&e))?;
    file.set_len(size).map_err(|e| other(&e))?;
    let mut opts = FormatVolumeOptions::new();
    if let Some(t) = a.fat_type {
        opts = opts.fat_type(t.to_fatfs());
    }
    if let Some(l) = &a.label {
        let mut label = [b' '; 11];
        label[..l.len()].copy_from_slice(l.to_ascii_uppercase().as_bytes());
        opts = opts.volume_label(label);
    }
    match catch_panics(|| fatfs::format_volume(&mut file, opts)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let what = a.fat_type.map_or("a FAT", |t| fat_type_name(t.to_fatfs()));
            return Err(other(&format_args!(
                "cannot make {what} file system of {size} bytes: {e}"
            )));
        }
        Err(p) => return Err(other(&format_args!("formatting failed: {p}"))),
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| other(&e))?;
    let dots = Rc::new(RefCell::new(Vec::new()));
    let disk = Disk {
        file: file.try_clone().map_err(|e| other(&e))?,
        read: 0,
        budget: u64::MAX,
        dots: Some(Rc::clone(&dots)),
    };
    let fat = FatFs::new(disk, fat_options()).map_err(|e| other(&e))?;
    // fatfs 0.3 may quietly make another type than asked on a volume too
    // small or too large for it.
    if let Some(k) = a.fat_type
        && fat.fat_type() != k.to_fatfs()
    {
        return Err(other(&format_args!(
            "cannot make {} file system of {size} bytes (FAT12 holds up to 4084 clusters, FAT16 4085 to 65524, FAT32 more)",
            fat_type_name(k.to_fatfs())
        )));
    }
    let mut w = Writer {
        fat_image: &a.fat_image,
        image: &a.image,
        buf: vec![0u8; 1 << 16],
        sum: Summary::default(),
    };
    let r = catch_panics(|| {
        let root = fat.root_dir();
        w.dir(fs, &root, plan, "", None)
    });
    STAMP.with(|s| s.set(None));
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(p) => return Err(other(&format_args!("writing failed: {p}"))),
    }
    let t = fat.fat_type();
    // Counting the free clusters lets unmount record the count in FAT32's
    // FSInfo sector.
    fat.stats().map_err(|e| other(&e))?;
    fat.unmount().map_err(|e| other(&e))?;
    let fat32_root = if t == FatType::Fat32 {
        use std::os::unix::fs::FileExt;
        let mut b = [0u8; 4];
        file.read_exact_at(&mut b, 44).map_err(|e| other(&e))?;
        Some(u32::from_le_bytes(b))
    } else {
        None
    };
    fix_dot_entries(&mut file, &dots.borrow(), fat32_root).map_err(|e| other(&e))?;
    file.sync_all().map_err(|e| other(&e))?;
    Ok((t, w.sum))
}

/// `mfs export-fat`: write the tree under `a.path` in `a.image` to a new
/// FAT image; warnings about what FAT cannot hold go to `warn`.
pub fn cmd_export(
    a: &ExportArgs,
    out: &mut dyn Write,
    warn: &mut dyn Write,
) -> Result<i32, ToolError> {
    if let Some(l) = &a.label
        && (l.len() > 11 || !l.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
    {
        return Err(fat_err(
            &a.fat_image,
            None,
            format!("bad volume label {l:?}: up to 11 printable ASCII characters"),
        ));
    }
    if let (Ok(x), Ok(y)) = (a.image.canonicalize(), a.fat_image.canonicalize())
        && x == y
    {
        return Err(fat_err(
            &a.fat_image,
            None,
            "is the MFS image being exported",
        ));
    }
    let mut fs = mount(&a.image, false)?;
    let top = a.path.trim_end_matches('/');
    let ino = fs
        .resolve(a.path.as_bytes(), true)
        .map_err(|e| ToolError::new(&a.image, Some(&a.path), e))?;
    let st = fs
        .stat(ino)
        .map_err(|e| ToolError::new(&a.image, Some(&a.path), e))?;
    if st.mode & mode::S_IFMT != mode::S_IFDIR {
        return Err(ToolError::new(&a.image, Some(&a.path), Errno::ENOTDIR));
    }
    let mut p = Planner {
        image: &a.image,
        warn,
        links: HashMap::new(),
        skipped: 0,
        duplicated: 0,
    };
    let plan = p.dir(&mut fs, ino, top, 0)?;
    let (skipped, duplicated) = (p.skipped, p.duplicated);
    let mut size = a
        .size
        .unwrap_or_else(|| estimate(&plan).max(min_size(a.fat_type)));
    if a.size.is_none() {
        size = size.next_multiple_of(64 << 10);
    }
    let (t, mut sum) = loop {
        match write_image(a, size, &mut fs, &plan) {
            Ok(r) => break r,
            // Our own estimate was short (clusters larger than guessed):
            // try again, larger.
            Err(WriteError::Full(_)) if a.size.is_none() && size < (64 << 30) => size *= 2,
            Err(WriteError::Full(path)) => {
                return Err(fat_err(
                    &a.fat_image,
                    Some(&path),
                    format!("no space left on the {size}-byte FAT volume; give a larger --size"),
                ));
            }
            Err(WriteError::Other(e)) => return Err(e),
        }
    };
    sum.skipped = skipped;
    sum.duplicated = duplicated;
    let _ = writeln!(
        out,
        "{}: {} file system of {size} bytes: {} files, {} directories, {} bytes from {}:{}",
        a.fat_image.display(),
        fat_type_name(t),
        sum.files,
        sum.dirs,
        sum.bytes,
        a.image.display(),
        if top.is_empty() { "/" } else { top },
    );
    if skipped > 0 || duplicated > 0 {
        let _ = writeln!(
            warn,
            "mfs: {}: FAT cannot hold everything: {skipped} entries skipped, {duplicated} hard links duplicated",
            a.image.display()
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_convert_as_utc_with_fat_limits() {
        // 2023-11-14 22:13:20 UTC.
        let dt = unix_to_fat(1_700_000_000);
        assert_eq!((dt.date.year, dt.date.month, dt.date.day), (2023, 11, 14));
        assert_eq!((dt.time.hour, dt.time.min, dt.time.sec), (22, 13, 20));
        assert_eq!(fat_to_unix(dt), Some(1_700_000_000));
        // Before 1980: FAT's epoch.
        assert_eq!(fat_to_unix(unix_to_fat(0)), Some(FAT_EPOCH));
        // The last u32 second is still a FAT date (2106).
        assert_eq!(fat_to_unix(unix_to_fat(u32::MAX)), Some(u32::MAX));
        // Leap day.
        assert_eq!(fat_to_unix(unix_to_fat(951_782_400)), Some(951_782_400));
        // Invalid dates and times.
        let bad_day = DateTime {
            date: Date {
                year: 2001,
                month: 2,
                day: 29,
            },
            time: dt.time,
        };
        assert_eq!(fat_to_unix(bad_day), None);
        let zero = Date {
            year: 1980,
            month: 0,
            day: 0,
        };
        assert_eq!(fat_date_to_unix(zero), None);
        let bad_sec = DateTime {
            date: dt.date,
            time: Time { sec: 60, ..dt.time },
        };
        assert_eq!(fat_to_unix(bad_sec), None);
    }

    #[test]
    fn names_fat_refuses() {
        for ok in [
            "a",
            "Long name with spaces.txt",
            "ünïcødé",
            "a+b,c;d=e[f]^g#h&",
        ] {
            assert_eq!(fat_name_problem(ok.as_bytes()), None, "{ok}");
        }
        for bad in [
            &b"a:b"[..],
            b"what?",
            b"x*",
            b"pipe|",
            b"back\\slash",
            b"<>",
            b"q\"",
            b"ctl\x01",
            b"del\x7f",
            b"trailing.",
            b"trailing ",
            b"\xff\xfe",
            "emoji\u{1F600}".as_bytes(),
        ] {
            assert!(fat_name_problem(bad).is_some(), "{bad:?}");
        }
        assert!(fat_name_problem("x".repeat(256).as_bytes()).is_some());
    }

    #[test]
    fn caught_panics_are_errors() {
        assert_eq!(catch_panics(|| 7), Ok(7));
        let e = catch_panics(|| -> u32 { panic!("boom") }).unwrap_err();
        assert!(e.starts_with("boom"), "{e}");
    }

    #[test]
    fn fat_type_option() {
        assert_eq!(parse_fat_type("16"), Ok(FatKind::Fat16));
        assert!(parse_fat_type("64").is_err());
    }
}
