//! `fsck`: checks (and optionally repairs) a MINIX V1/V2/V3 image.
//!
//! It reads the image block by block through a [`BlockDevice`], on its own
//! and independently of the file-system operations, so it can judge what
//! they wrote. It checks everything util-linux `fsck.minix` checks
//! (superblock sanity, both bitmaps against what is reachable from the
//! root, link counts, `.`/`..`, duplicate and out-of-range zones) plus some
//! cheap extras (`..` names the real parent, zones past end of file,
//! directory sizes and holes, orphan inodes).
//!
//! With `repair`, a first pass fixes what can be fixed without guessing
//! (bitmaps rebuilt from reachability, link counts, `.`/`..`, out-of-range
//! and past-EOF zone pointers cleared, entries naming free or invalid inodes
//! or a second parent removed, orphan inodes released), writes the changed
//! blocks, and a second pass re-checks. Nothing on any input panics: every
//! number read from disk is range-checked before use, the walk uses an
//! explicit stack, and memory is bounded by the image size.

mod check;
mod report;
mod view;

pub use report::{
    EXIT_CANNOT_CHECK, EXIT_CLEAN, EXIT_CORRECTED, EXIT_UNCORRECTED, Finding, FindingKind, Report,
    Severity,
};

use libbdev::BlockDevice;

/// What `fsck` should do.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Fix what can safely be fixed, then re-check.
    pub repair: bool,
}

/// Check the file system on `dev`; with `opts.repair`, repair it and re-check.
///
/// The report's [`Report::exit_code`] follows the fsck contract:
/// 0 clean, 1 errors corrected, 4 errors left, 8 could not check.
pub fn fsck<D: BlockDevice + ?Sized>(dev: &mut D, opts: Options) -> Report {
    let first = check::run(dev, opts.repair);
    if !opts.repair || first.fatal.is_some() {
        return first;
    }
    let again = check::run(dev, false);
    let mut report = first;
    // Whatever the re-check still finds is what is left; earlier findings
    // that were not repaired are already marked as such.
    report
        .findings
        .retain(|f| f.repaired || f.severity == Severity::Warning);
    report.remaining_errors = again.errors().count();
    report.fatal = again.fatal;
    report.findings.extend(
        again
            .findings
            .into_iter()
            .filter(|f| f.severity == Severity::Error),
    );
    if report.remaining_errors == 0
        && report.fatal.is_none()
        && let Some(f) = check::mark_clean(dev)
    {
        report.modified |= f.repaired;
        // The "not marked clean" warning no longer holds.
        if f.repaired {
            report.findings.retain(|x| {
                !(x.kind == FindingKind::Superblock && x.severity == Severity::Warning)
            });
        }
        report.findings.push(f);
    }
    report
}

/// Check an image held in memory (read-only). Used by the fuzz target and
/// property tests: it must return, never panic, whatever the bytes are.
pub fn check_bytes(image: &[u8]) -> Report {
    let mut dev = crate::mkfs::VecDevice::new(image.to_vec());
    fsck(&mut dev, Options { repair: false })
}
