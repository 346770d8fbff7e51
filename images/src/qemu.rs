//! Running the OS in QEMU and judging the result.
//!
//! The kernel reports through two channels: serial lines (COM1, captured
//! from QEMU's stdout into a log file, and echoed to the terminal in
//! interactive mode) and the `isa-debug-exit` device, whose value `v` makes
//! QEMU exit with status `(v << 1) | 1`. Only status 33 (`0x10`, written by
//! the kernel when every process finished and nothing failed) is a pass;
//! 35 is the kernel's own failure report, 0 means a reset or triple fault
//! (`-no-reboot`), 1 means QEMU itself failed, and the tool's timeout kills
//! QEMU when the guest hangs.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";
/// Exit status of a passing run.
pub const STATUS_PASS: i32 = 33;
/// Exit status when the kernel reports failure.
pub const STATUS_FAIL: i32 = 35;
/// Default time limit for one run (TCG on a loaded 2-core machine).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Errors that prevent a run from happening at all.
#[derive(Debug, Error)]
pub enum QemuError {
    /// QEMU could not be started.
    #[error("cannot start {QEMU}: {0} (install the qemu-system-x86 package)")]
    Spawn(std::io::Error),
    /// The serial log could not be written.
    #[error("serial log {0}: {1}")]
    Log(PathBuf, std::io::Error),
    /// Waiting for QEMU failed.
    #[error("waiting for {QEMU}: {0}")]
    Wait(std::io::Error),
}

/// What to run and how.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    /// Kernel in ELF32 form (`-kernel`); `None` boots through the
    /// firmware (SeaBIOS) from the drives, as a PC would (the installation
    /// ISO, an installed disk).
    pub kernel: Option<PathBuf>,
    /// `-initrd` string (see `build::stage_modules`).
    pub initrd: String,
    /// Kernel command line (`-append`), may be empty.
    pub append: String,
    /// Use KVM instead of TCG.
    pub kvm: bool,
    /// Kill QEMU after this long.
    pub timeout: Duration,
    /// Where the serial output is saved.
    pub log: PathBuf,
    /// Raw disk images attached as virtio-blk drives, in order (the
    /// `virtio-blk` driver's minors 0, 1, ...).
    pub disks: Vec<PathBuf>,
    /// Raw images attached read-only as further virtio-blk drives, after
    /// `disks` (an ISO as a disk: grub-mkrescue's images are hybrid).
    pub readonly_disks: Vec<PathBuf>,
    /// A CD image (ISO) on the IDE secondary master (`at_wini` drive 2,
    /// `/dev/c1d2`), as on a PC's `-cdrom`.
    pub cdrom: Option<PathBuf>,
    /// Raw disk images on the IDE channels: (drive, image), drive 0
    /// primary master, 1 primary slave, 2 secondary master, 3 secondary
    /// slave (`at_wini` minors, `/dev/c1dN`).
    pub ide_disks: Vec<(u8, PathBuf)>,
    /// Echo the serial console to the terminal and connect stdin.
    pub interactive: bool,
    /// Guest memory (`-m`).
    pub memory: String,
}

impl QemuConfig {
    /// A TCG run of `kernel` with modules `initrd`, logging to `log`.
    pub fn new(kernel: PathBuf, initrd: String, log: PathBuf) -> Self {
        Self {
            kernel: Some(kernel),
            initrd,
            append: String::new(),
            kvm: false,
            timeout: DEFAULT_TIMEOUT,
            log,
            disks: Vec::new(),
            readonly_disks: Vec::new(),
            cdrom: None,
            ide_disks: Vec::new(),
            interactive: false,
            memory: "256M".to_string(),
        }
    }

    /// A TCG run that boots through the firmware (SeaBIOS) from the
    /// disks, logging to `log`.
    pub fn firmware(log: PathBuf) -> Self {
        let mut c = Self::new(PathBuf::new(), String::new(), log);
        c.kernel = None;
        c
    }

    /// The full QEMU argument list.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            "-machine",
            "q35",
            "-cpu",
            "qemu64",
            "-m",
            &self.memory,
            "-smp",
            "1",
            "-accel",
            if self.kvm { "kvm" } else { "tcg" },
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            // Interactive runs multiplex QEMU's monitor on the console so
            // Ctrl-A X quits and Ctrl-A C reaches the monitor.
            if self.interactive {
                "mon:stdio"
            } else {
                "stdio"
            },
            "-no-reboot",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(kernel) = &self.kernel {
            a.push("-kernel".into());
            a.push(kernel.to_string_lossy().into_owned());
            if !self.initrd.is_empty() {
                a.push("-initrd".into());
                a.push(self.initrd.clone());
            }
            if !self.append.is_empty() {
                a.push("-append".into());
                a.push(self.append.clone());
            }
        }
        let file = |p: &PathBuf| p.to_string_lossy().replace(',', ",,");
        for disk in &self.disks {
            a.push("-drive".into());
            a.push(format!("file={},format=raw,if=virtio", file(disk)));
        }
        for disk in &self.readonly_disks {
            a.push("-drive".into());
            a.push(format!(
                "file={},format=raw,if=virtio,readonly=on",
                file(disk)
            ));
        }
        a.extend(self.ide_args());
        a
    }

    /// The q35 machine's disk controller is AHCI; CDs and IDE disks go on
    /// a PIIX3 IDE function added to it, whose two channels sit at the
    /// legacy ports and IRQs 14 and 15 (what `at_wini` drives), bus
    /// `pata.0` the primary, `pata.1` the secondary channel.
    fn ide_args(&self) -> Vec<String> {
        if self.cdrom.is_none() && self.ide_disks.is_empty() {
            return Vec::new();
        }
        let mut a = vec!["-device".to_string(), "piix3-ide,id=pata".to_string()];
        let esc = |p: &PathBuf| p.to_string_lossy().replace(',', ",,");
        let mut drives: Vec<(u8, String, &str)> = self
            .ide_disks
            .iter()
            .map(|(n, p)| (*n, esc(p), "ide-hd"))
            .collect();
        if let Some(cd) = &self.cdrom {
            drives.push((2, esc(cd), "ide-cd"));
        }
        for (n, file, kind) in drives {
            let media = if kind == "ide-cd" {
                ",media=cdrom,readonly=on"
            } else {
                ""
            };
            a.push("-drive".into());
            a.push(format!("file={file},format=raw,if=none,id=ide{n}{media}"));
            a.push("-device".into());
            a.push(format!(
                "{kind},drive=ide{n},bus=pata.{},unit={}",
                n / 2,
                n % 2
            ));
        }
        a
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Status 33: the kernel reported success.
    Pass,
    /// Status 35: the kernel reported failure (panic or failed run).
    KernelFail,
    /// Status 0: the guest reset (triple fault) under `-no-reboot`.
    Reset,
    /// Status 1: QEMU failed (bad arguments, missing files, no KVM...).
    QemuFailed,
    /// Killed after the time limit.
    Timeout,
    /// Any other exit status.
    OtherStatus(i32),
    /// Killed by a signal.
    Signal,
}

impl Outcome {
    pub(crate) fn from_status(status: Option<i32>) -> Self {
        match status {
            Some(STATUS_PASS) => Self::Pass,
            Some(STATUS_FAIL) => Self::KernelFail,
            Some(0) => Self::Reset,
            Some(1) => Self::QemuFailed,
            Some(s) => Self::OtherStatus(s),
            None => Self::Signal,
        }
    }
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// How it ended.
    pub outcome: Outcome,
    /// QEMU's exit status, if it exited.
    pub status: Option<i32>,
    /// Everything the guest wrote to the serial port.
    pub serial: String,
    /// QEMU's own stderr.
    pub stderr: String,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

impl RunResult {
    /// True only for status 33.
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Pass
    }

    /// A one-line explanation of the outcome.
    pub fn describe(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        match self.outcome {
            Outcome::Pass => format!("PASS: QEMU exit status 33 after {secs:.2} s"),
            Outcome::KernelFail => {
                let why = if self.serial.contains("KERNEL PANIC") {
                    "kernel panic"
                } else {
                    "the kernel marked the run as failed"
                };
                format!("FAIL: QEMU exit status 35 ({why}) after {secs:.2} s")
            }
            Outcome::Reset => {
                format!(
                    "FAIL: QEMU exit status 0: guest reset or triple fault (or QEMU quit by hand) after {secs:.2} s"
                )
            }
            Outcome::QemuFailed => format!(
                "FAIL: QEMU failed to start or run (status 1): {}",
                self.stderr.trim()
            ),
            Outcome::Timeout => format!("FAIL: timed out after {secs:.2} s; QEMU was killed"),
            Outcome::OtherStatus(s) => format!("FAIL: unexpected QEMU exit status {s}"),
            Outcome::Signal => "FAIL: QEMU was killed by a signal".to_string(),
        }
    }
}

/// True when the QEMU binary can be started.
pub fn available() -> bool {
    Command::new(QEMU)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs QEMU once and classifies the result. Errors only when QEMU cannot
/// be run at all; a failing guest is an [`Outcome`].
pub fn run(cfg: &QemuConfig) -> Result<RunResult, QemuError> {
    if let Some(dir) = cfg.log.parent() {
        std::fs::create_dir_all(dir).map_err(|e| QemuError::Log(cfg.log.clone(), e))?;
    }
    let log = std::fs::File::create(&cfg.log).map_err(|e| QemuError::Log(cfg.log.clone(), e))?;
    let start = Instant::now();
    let mut child = Command::new(QEMU)
        .args(cfg.args())
        .stdin(if cfg.interactive {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(QemuError::Spawn)?;

    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let echo = cfg.interactive;
    let serial_thread = std::thread::spawn(move || tee(stdout, log, echo));
    let stderr_thread: JoinHandle<Vec<u8>> = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut stderr = stderr;
        // A read error just truncates the captured stderr.
        let _ = stderr.read_to_end(&mut buf);
        buf
    });

    let (status, timed_out) = wait_with_timeout(&mut child, cfg.timeout)?;
    let elapsed = start.elapsed();
    let serial = serial_thread.join().unwrap_or_default();
    let stderr = stderr_thread.join().unwrap_or_default();
    let outcome = if timed_out {
        Outcome::Timeout
    } else {
        Outcome::from_status(status)
    };
    Ok(RunResult {
        outcome,
        status,
        serial: String::from_utf8_lossy(&serial).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        elapsed,
    })
}

/// Copies QEMU's stdout to the log (and the terminal) until EOF; returns
/// everything read.
fn tee(mut from: impl Read, mut log: std::fs::File, echo: bool) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    let mut out = std::io::stdout();
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                all.extend_from_slice(&buf[..n]);
                // The in-memory copy is authoritative; log/terminal write
                // errors must not stop the capture.
                let _ = log.write_all(&buf[..n]);
                if echo {
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.flush();
                }
            }
        }
    }
    let _ = log.flush();
    all
}

pub(crate) fn wait_with_timeout(
    child: &mut Child,
    timeout: Duration,
) -> Result<(Option<i32>, bool), QemuError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().map_err(QemuError::Wait)? {
            return Ok((status.code(), false));
        }
        // A zero timeout waits for ever (interactive sessions).
        if !timeout.is_zero() && Instant::now() >= deadline {
            // Already exited between the checks is fine: kill errors are
            // then irrelevant.
            let _ = child.kill();
            let status = child.wait().map_err(QemuError::Wait)?;
            return Ok((status.code(), true));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_33_passes() {
        assert_eq!(Outcome::from_status(Some(33)), Outcome::Pass);
        assert_eq!(Outcome::from_status(Some(35)), Outcome::KernelFail);
        assert_eq!(Outcome::from_status(Some(0)), Outcome::Reset);
        assert_eq!(Outcome::from_status(Some(1)), Outcome::QemuFailed);
        assert_eq!(Outcome::from_status(Some(124)), Outcome::OtherStatus(124));
        assert_eq!(Outcome::from_status(None), Outcome::Signal);
    }

    #[test]
    fn builds_expected_command_line() {
        let mut c = QemuConfig::new("k32.elf".into(), "a x,b".into(), "log".into());
        c.disks = vec!["root.mfs".into(), "b,c.img".into()];
        c.append = "strict".into();
        let a = c.args().join(" ");
        assert!(a.contains("-accel tcg"));
        assert!(a.contains("-device isa-debug-exit,iobase=0xf4,iosize=0x04"));
        assert!(a.contains("-no-reboot"));
        assert!(a.contains("-kernel k32.elf -initrd a x,b -append strict"));
        assert!(a.ends_with(
            "-drive file=root.mfs,format=raw,if=virtio -drive file=b,,c.img,format=raw,if=virtio"
        ));
        assert!(
            !a.contains("piix3-ide"),
            "no IDE controller unless asked for"
        );
        c.kvm = true;
        assert!(c.args().join(" ").contains("-accel kvm"));
    }

    #[test]
    fn firmware_boot_has_no_kernel() {
        let mut c = QemuConfig::firmware("log".into());
        c.disks = vec!["blank.img".into()];
        c.readonly_disks = vec!["sys.iso".into()];
        let a = c.args().join(" ");
        assert!(!a.contains("-kernel") && !a.contains("-initrd"), "{a}");
        assert!(a.ends_with(
            "-drive file=blank.img,format=raw,if=virtio -drive file=sys.iso,format=raw,if=virtio,readonly=on"
        ));
    }

    #[test]
    fn ide_disks_and_cdrom_go_on_a_piix3_ide_function() {
        let mut c = QemuConfig::new("k32.elf".into(), String::new(), "log".into());
        c.cdrom = Some("x.iso".into());
        c.ide_disks = vec![(0, "d,0.img".into()), (3, "d3.img".into())];
        let a = c.args().join(" ");
        assert!(a.ends_with(
            "-device piix3-ide,id=pata \
             -drive file=d,,0.img,format=raw,if=none,id=ide0 -device ide-hd,drive=ide0,bus=pata.0,unit=0 \
             -drive file=d3.img,format=raw,if=none,id=ide3 -device ide-hd,drive=ide3,bus=pata.1,unit=1 \
             -drive file=x.iso,format=raw,if=none,id=ide2,media=cdrom,readonly=on \
             -device ide-cd,drive=ide2,bus=pata.1,unit=0"
        ));
    }
}
