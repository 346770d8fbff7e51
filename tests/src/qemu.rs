//! The QEMU harness every `qemu_*` test uses: build the OS once per test
//! binary (through `images::build`, into `target/os`), stage the boot
//! modules, boot, and hand back the serial log and outcome.
//!
//! Under `CI=true` (or `CI=1`) a missing QEMU is a failure; otherwise a test prints a
//! note and skips (its `boot` returns `None`).

use images::build::{self, BuildOptions, BuildOutput, ModuleSpec};
use images::qemu::{self, QemuConfig, RunResult};
use images::session::Session;
use std::sync::OnceLock;
use std::time::Duration;

/// Whether this is a CI run, where a missing tool fails instead of
/// skipping: `CI` set to `true` or `1` (any case), as CI services set it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| ci_value(&v))
}

/// Whether a value of `CI` means a CI run.
pub fn ci_value(v: &str) -> bool {
    v.eq_ignore_ascii_case("true") || v == "1"
}

/// The OS build, made once per test binary.
pub fn built() -> &'static BuildOutput {
    static OUT: OnceLock<Result<BuildOutput, String>> = OnceLock::new();
    match OUT.get_or_init(|| build::build(BuildOptions::default()).map_err(|e| e.to_string())) {
        Ok(out) => out,
        Err(e) => panic!("building the OS failed: {e}"),
    }
}

/// Boots `modules` (an `images run --modules` list) with kernel arguments
/// `append` under the default timeout; `None` when QEMU is missing outside CI.
pub fn boot(modules: &str, append: &str) -> Option<RunResult> {
    boot_with_timeout(modules, append, qemu::DEFAULT_TIMEOUT)
}

/// [`boot`] with an explicit timeout.
pub fn boot_with_timeout(modules: &str, append: &str, timeout: Duration) -> Option<RunResult> {
    boot_with_disks(modules, append, &[], timeout)
}

/// [`boot_with_timeout`] with raw disk images attached as virtio-blk
/// drives, in order (the `virtio-blk` driver's minors 0, 1, ...).
pub fn boot_with_disks(
    modules: &str,
    append: &str,
    disks: &[&std::path::Path],
    timeout: Duration,
) -> Option<RunResult> {
    boot_full(modules, append, disks, None, timeout)
}

/// [`boot_with_timeout`] with `ramdisk` loaded as the RAM disk (the data
/// module `ramdisk`, as `images run --ramdisk`) and no virtio disk.
pub fn boot_with_ramdisk(
    modules: &str,
    append: &str,
    ramdisk: &std::path::Path,
    timeout: Duration,
) -> Option<RunResult> {
    boot_full(modules, append, &[], Some(ramdisk), timeout)
}

/// Whether QEMU can run here: `false` (after a note) when it is missing
/// outside CI; under CI a missing QEMU panics.
pub fn qemu_or_skip() -> bool {
    if qemu::available() {
        return true;
    }
    if in_ci() {
        panic!(
            "CI is set ({}) but {} is not installed (apt install qemu-system-x86)",
            std::env::var("CI").unwrap_or_default(),
            qemu::QEMU
        );
    }
    eprintln!("note: {} not found; skipping QEMU test", qemu::QEMU);
    false
}

/// Starts a QEMU [`Session`] (serial console driven by the test) booting
/// `modules` with `append` and `disks`; `None` when QEMU is missing outside
/// CI. The staging directory lives as long as the returned guard.
pub fn start_session(
    modules: &str,
    append: &str,
    disks: &[&std::path::Path],
    timeout: Duration,
) -> Option<(tempfile::TempDir, Session)> {
    start_session_ide(modules, append, disks, &Ide::default(), timeout)
}

/// Drives on the IDE channels (a PIIX3 IDE function, `at_wini`): a CD on
/// the secondary master and disks by drive number (see
/// [`QemuConfig::ide_disks`]).
#[derive(Default, Clone, Debug)]
pub struct Ide {
    /// The CD image (`/dev/c1d2`).
    pub cdrom: Option<std::path::PathBuf>,
    /// (drive, image) pairs (`/dev/c1dN`).
    pub disks: Vec<(u8, std::path::PathBuf)>,
}

/// [`start_session`] with drives on the IDE channels too.
pub fn start_session_ide(
    modules: &str,
    append: &str,
    disks: &[&std::path::Path],
    ide: &Ide,
    timeout: Duration,
) -> Option<(tempfile::TempDir, Session)> {
    if !qemu_or_skip() {
        return None;
    }
    let out = built();
    let dir = tempfile::tempdir().expect("temp dir");
    let specs = ModuleSpec::parse_list(modules).expect("module specs");
    let initrd = build::stage_modules(out, &specs, dir.path()).expect("staging modules");
    let mut cfg = QemuConfig::new(out.kernel32.clone(), initrd, dir.path().join("serial.log"));
    cfg.append = append.to_string();
    cfg.timeout = timeout;
    cfg.disks = disks.iter().map(|d| d.to_path_buf()).collect();
    cfg.cdrom = ide.cdrom.clone();
    cfg.ide_disks = ide.disks.clone();
    let session = Session::start(&cfg).expect("starting QEMU");
    Some((dir, session))
}

fn boot_full(
    modules: &str,
    append: &str,
    disks: &[&std::path::Path],
    ramdisk: Option<&std::path::Path>,
    timeout: Duration,
) -> Option<RunResult> {
    if !qemu_or_skip() {
        return None;
    }
    let out = built();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut specs = ModuleSpec::parse_list(modules).expect("module specs");
    specs.extend(ramdisk.map(ModuleSpec::ramdisk));
    let initrd = build::stage_modules(out, &specs, dir.path()).expect("staging modules");
    let mut cfg = QemuConfig::new(out.kernel32.clone(), initrd, dir.path().join("serial.log"));
    cfg.append = append.to_string();
    cfg.timeout = timeout;
    cfg.disks = disks.iter().map(|d| d.to_path_buf()).collect();
    let result = qemu::run(&cfg).expect("running QEMU");
    // Lossy, as the captured serial text is: a fuzzing guest may print any byte.
    let log =
        String::from_utf8_lossy(&std::fs::read(&cfg.log).expect("serial log written")).into_owned();
    assert_eq!(
        log, result.serial,
        "serial log file matches captured output"
    );
    eprintln!(
        "---- serial ({}) ----\n{}",
        result.describe(),
        result.serial
    );
    keep_log(&result.serial);
    Some(result)
}

/// With `QEMU_LOG_DIR` set (as `scripts/boot.sh --batch` does), a copy of
/// each boot's serial log is kept there, named after the test (and a
/// number when one test boots more than once).
pub(crate) fn keep_log(serial: &str) {
    let Ok(dir) = std::env::var("QEMU_LOG_DIR") else {
        return;
    };
    let name = std::thread::current()
        .name()
        .unwrap_or("boot")
        .replace("::", "-");
    let _ = std::fs::create_dir_all(&dir);
    let mut path = std::path::Path::new(&dir).join(format!("{name}.log"));
    let mut n = 2;
    while path.exists() {
        path = std::path::Path::new(&dir).join(format!("{name}-{n}.log"));
        n += 1;
    }
    let _ = std::fs::write(path, serial);
}

/// Asserts that `lines` appear in `log` in this order.
pub fn assert_in_order<S: AsRef<str>>(log: &str, lines: &[S]) {
    let mut pos = 0;
    for line in lines {
        let line = line.as_ref();
        let at = log[pos..]
            .find(line)
            .unwrap_or_else(|| panic!("{line:?} missing or out of order"));
        pos += at + line.len();
    }
}

#[cfg(test)]
mod ci_tests {
    #[test]
    fn ci_one_counts_like_ci_true() {
        for v in ["true", "TRUE", "True", "1"] {
            assert!(super::ci_value(v), "{v}");
        }
        for v in ["", "0", "false", "no"] {
            assert!(!super::ci_value(v), "{v}");
        }
    }
}
