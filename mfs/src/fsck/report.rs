//! What a check finds: typed findings and the exit-code contract.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// The class of a problem, so tests and tools can match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    /// The superblock is damaged or describes an impossible layout.
    Superblock,
    /// The image is shorter than the file system it holds.
    ShortImage,
    /// The root inode is missing or not a directory.
    Root,
    /// An inode-bitmap bit disagrees with reachability.
    InodeBitmap,
    /// A zone-bitmap bit disagrees with what files use.
    ZoneBitmap,
    /// A zone pointer lies outside the data area.
    ZoneOutOfRange,
    /// A zone is referenced more than once.
    DuplicateZone,
    /// An inode's link count differs from the directory entries naming it.
    LinkCount,
    /// A directory lacks `.`/`..` where they belong, or has a bad size or hole.
    DirStructure,
    /// A directory's `..` does not name its real parent.
    BadParent,
    /// A directory is reachable twice (a loop or a hard link to a directory).
    DirectoryLoop,
    /// A directory entry is malformed or names an invalid or free inode.
    BadEntry,
    /// A file's size disagrees with its zones.
    FileSize,
    /// An allocated inode no directory entry names.
    Orphan,
    /// An inode with a mode of no known file type.
    UnknownMode,
    /// A block could not be read.
    Io,
}

impl FindingKind {
    /// A short, stable name for output and tests.
    pub const fn name(self) -> &'static str {
        match self {
            FindingKind::Superblock => "superblock",
            FindingKind::ShortImage => "short-image",
            FindingKind::Root => "root",
            FindingKind::InodeBitmap => "inode-bitmap",
            FindingKind::ZoneBitmap => "zone-bitmap",
            FindingKind::ZoneOutOfRange => "zone-out-of-range",
            FindingKind::DuplicateZone => "duplicate-zone",
            FindingKind::LinkCount => "link-count",
            FindingKind::DirStructure => "dir-structure",
            FindingKind::BadParent => "bad-parent",
            FindingKind::DirectoryLoop => "directory-loop",
            FindingKind::BadEntry => "bad-entry",
            FindingKind::FileSize => "file-size",
            FindingKind::Orphan => "orphan-inode",
            FindingKind::UnknownMode => "unknown-mode",
            FindingKind::Io => "io",
        }
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Worth mentioning; does not make the file system unclean.
    Warning,
    /// The file system is inconsistent.
    Error,
}

/// One problem found by a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The class of problem.
    pub kind: FindingKind,
    /// How serious it is.
    pub severity: Severity,
    /// The inode concerned, if any.
    pub ino: Option<u32>,
    /// The path concerned, if known.
    pub path: Option<String>,
    /// What is wrong, in words.
    pub message: String,
    /// Whether `--repair` fixed it.
    pub repaired: bool,
    /// Whether the problem is only a leak: a block or inode marked in use
    /// that nothing references (an allocated inode no entry names
    /// included), or a link count above the entries that name the inode.
    /// Nothing is lost or shared by it; a power cut on a file system with
    /// write ordering leaves no other kind.
    pub leak: bool,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if let Some(p) = &self.path {
            write!(f, "{p}: ")?;
        }
        if let Some(i) = self.ino {
            write!(f, "inode {i}: ")?;
        }
        write!(f, "{} [{}]", self.message, self.kind.name())?;
        if self.repaired {
            f.write_str(" (repaired)")?;
        }
        Ok(())
    }
}

/// Exit code: no errors.
pub const EXIT_CLEAN: i32 = 0;
/// Exit code: errors were found and all corrected.
pub const EXIT_CORRECTED: i32 = 1;
/// Exit code: errors remain.
pub const EXIT_UNCORRECTED: i32 = 4;
/// Exit code: the image could not be checked at all.
pub const EXIT_CANNOT_CHECK: i32 = 8;

/// The outcome of `fsck`.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Everything found, in the order found (repaired ones flagged).
    pub findings: Vec<Finding>,
    /// Why the image could not be checked at all, if it could not.
    pub fatal: Option<String>,
    /// Errors still present after the final pass.
    pub remaining_errors: usize,
    /// Whether anything was written to the image.
    pub modified: bool,
}

impl Report {
    /// Error findings (not warnings).
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }

    /// Error findings that are not leaks ([`Finding::leak`]).
    pub fn non_leak_errors(&self) -> impl Iterator<Item = &Finding> {
        self.errors().filter(|f| !f.leak)
    }

    /// Whether some finding of `kind` was reported.
    pub fn has(&self, kind: FindingKind) -> bool {
        self.findings.iter().any(|f| f.kind == kind)
    }

    /// The exit code: 0 clean, 1 errors corrected, 4 errors left, 8 could not check.
    pub fn exit_code(&self) -> i32 {
        if self.fatal.is_some() {
            EXIT_CANNOT_CHECK
        } else if self.remaining_errors > 0 {
            EXIT_UNCORRECTED
        } else if self.errors().next().is_some() {
            EXIT_CORRECTED
        } else {
            EXIT_CLEAN
        }
    }
}
