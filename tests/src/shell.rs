//! Driving the system's shell over the serial console: boot the process
//! system with the TTY driver, wait for init's login shell to print its
//! `# ` prompt, type commands and read back their output and exit status.
//!
//! [`Shell::run`] types `CMD; echo @@N"":$?@@` as one line: the echoed
//! input shows `@@N"":`, the marker the shell prints is `@@N:status@@`, so
//! the two never match each other, and what lies between the echoed line
//! and the marker is the command's output.

use crate::proc::{PROC_APPEND, PROC_MODULES};
use crate::qemu::{self, Ide, keep_log, start_session_ide};
use images::qemu::RunResult;
use images::rootdisk::DiskFile;
use images::session::Session;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a booted system may take to reach its first prompt (TCG on a
/// shared 2-core machine).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(240);
/// Default time one command may take.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(120);

/// The process system's boot modules plus the TTY driver.
pub fn shell_modules() -> String {
    if PROC_MODULES.split(',').any(|m| m.trim().starts_with("tty")) {
        PROC_MODULES.to_string()
    } else {
        format!("{PROC_MODULES},tty image")
    }
}

/// The root shell's prompt.
pub const PROMPT: &str = "# ";

/// `text` without the lines the kernel and the servers print on the same
/// serial console (`kernel: ...`, `[name] ...`): they may come between a
/// command's output lines at any time.
pub fn without_console_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .filter(|l| !is_console_line(l))
        .collect()
}

fn is_console_line(l: &str) -> bool {
    if l.starts_with("kernel: ") {
        return true;
    }
    let Some(rest) = l.strip_prefix('[') else {
        return false;
    };
    match rest.split_once("] ") {
        Some((name, _)) => {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
        }
        None => false,
    }
}

/// A system that powered off: how the run ended, and its root disk.
pub struct Halted {
    /// The run.
    pub run: RunResult,
    /// The root disk image.
    pub root: PathBuf,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Halted {
    type Target = RunResult;
    fn deref(&self) -> &RunResult {
        &self.run
    }
}

/// A booted system at its shell prompt.
pub struct Shell {
    /// The QEMU session (for raw typing: ^C, unbalanced quotes...).
    pub session: Session,
    /// The root disk image (read it on the host after [`Shell::shutdown`]).
    pub root: PathBuf,
    marker: u32,
    _dir: tempfile::TempDir,
    _stage: tempfile::TempDir,
}

/// Boots with a root disk holding the user programs, `extra` files and an
/// `/etc/rc` of `rc`, plus `disks` as further virtio disks, and waits for
/// the first prompt. `None` when QEMU is missing outside CI.
pub fn boot_shell(rc: &str, extra: &[DiskFile], disks: &[&Path]) -> Option<Shell> {
    boot_shell_ide(rc, extra, disks, &Ide::default())
}

/// [`boot_shell`] with drives on the IDE channels too (`at_wini`).
pub fn boot_shell_ide(rc: &str, extra: &[DiskFile], disks: &[&Path], ide: &Ide) -> Option<Shell> {
    let out = qemu::built();
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root.mfs");
    let mut files = images::rootdisk::user_programs(out);
    files.extend_from_slice(extra);
    images::rootdisk::make_root_disk(&root, 64 << 20, &files, rc).expect("making the root disk");
    let mut all: Vec<&Path> = vec![&root];
    all.extend_from_slice(disks);
    let (stage, session) =
        start_session_ide(&shell_modules(), PROC_APPEND, &all, ide, BOOT_TIMEOUT)?;
    let mut sh = Shell {
        session,
        root: root.clone(),
        marker: 0,
        _dir: dir,
        _stage: stage,
    };
    sh.await_prompt();
    Some(sh)
}

/// Boots through the firmware as `cfg` says (no `-kernel`: the
/// installation ISO on the CD or as a disk, an installed disk; GRUB loads
/// the kernel and the modules) and waits for the first prompt; `root` is
/// the disk image [`Shell::shutdown`] hands back. `None` when QEMU is
/// missing outside CI.
pub fn boot_firmware_shell(mut cfg: images::qemu::QemuConfig, root: PathBuf) -> Option<Shell> {
    if !qemu::qemu_or_skip() {
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let stage = tempfile::tempdir().expect("temp dir");
    cfg.log = stage.path().join("serial.log");
    cfg.timeout = BOOT_TIMEOUT + CMD_TIMEOUT * 20;
    let session = Session::start(&cfg).expect("starting QEMU");
    let mut sh = Shell {
        session,
        root,
        marker: 0,
        _dir: dir,
        _stage: stage,
    };
    sh.await_prompt();
    Some(sh)
}

impl Shell {
    /// Waits for init to start the console shell and for its first prompt
    /// (the test fails with the serial log otherwise).
    fn await_prompt(&mut self) {
        if let Err(e) = self
            .session
            .expect("init: console shell", BOOT_TIMEOUT)
            .and_then(|_| self.session.expect(PROMPT, BOOT_TIMEOUT))
        {
            self.fail(&format!("no shell prompt after boot: {e}"));
        }
    }

    /// Types `cmd` and returns its output (CR LF turned into LF, without
    /// the echoed command line) and its exit status.
    pub fn run(&mut self, cmd: &str) -> (String, i32) {
        self.run_timeout(cmd, CMD_TIMEOUT)
    }

    /// [`Shell::run`] with its own time limit.
    pub fn run_timeout(&mut self, cmd: &str, timeout: Duration) -> (String, i32) {
        self.marker += 1;
        let n = self.marker;
        // One line, so the whole of it is echoed before the shell runs
        // anything and the output follows the echo.
        let sep = if cmd.trim_end().ends_with('&') {
            " "
        } else {
            "; "
        };
        let line = format!("{cmd}{sep}echo @@{n}\"\":$?@@");
        self.type_line(&line);
        let text = match self.session.expect(&format!("@@{n}:"), timeout) {
            Ok(t) => t,
            Err(e) => self.fail(&format!("command {cmd:?} did not finish: {e}")),
        };
        let status = match self.session.expect("@@", Duration::from_secs(30)) {
            Ok(s) => s.trim_end_matches("@@").trim().parse::<i32>().unwrap_or(-1),
            Err(e) => self.fail(&format!("marker of {cmd:?} incomplete: {e}")),
        };
        // The next prompt, so the next command is typed after it (and its
        // echo does not come before the prompt).
        if let Err(e) = self.session.expect(PROMPT, timeout) {
            self.fail(&format!("no prompt after {cmd:?}: {e}"));
        }
        let text = text.replace("\r\n", "\n");
        let echoed = format!("@@{n}\"\":$?@@\n");
        let body = match text.find(&echoed) {
            Some(at) => &text[at + echoed.len()..],
            None => &text[..],
        };
        let body = body.strip_suffix(&format!("@@{n}:")).unwrap_or(body);
        (without_console_lines(body), status)
    }

    /// Runs `cmd`, asserting that it exits 0, and returns its output.
    pub fn ok(&mut self, cmd: &str) -> String {
        let (out, st) = self.run(cmd);
        if st != 0 {
            self.fail(&format!("{cmd:?} exited {st}; output:\n{out}"));
        }
        out
    }

    /// Types `line` and Enter.
    pub fn type_line(&mut self, line: &str) {
        if let Err(e) = self.session.send_line(line) {
            self.fail(&format!("typing {line:?}: {e}"));
        }
    }

    /// Waits for `text` in the output.
    pub fn expect(&mut self, text: &str, timeout: Duration) -> String {
        match self.session.expect(text, timeout) {
            Ok(t) => t,
            Err(e) => self.fail(&format!("waiting for {text:?}: {e}")),
        }
    }

    /// Syncs and powers off with `halt`, and returns the run (a pass when
    /// the system shut down cleanly) with the root disk, kept for reading
    /// on the host as long as the returned value lives.
    pub fn shutdown(mut self) -> Halted {
        self.type_line("sync; halt");
        let r = self
            .session
            .finish(CMD_TIMEOUT)
            .expect("waiting for QEMU to end");
        eprintln!("---- serial ({}) ----\n{}", r.describe(), r.serial);
        keep_log(&r.serial);
        Halted {
            run: r,
            root: self.root,
            _dir: self._dir,
        }
    }

    /// Prints the serial log so far and fails the test.
    pub fn fail(&self, why: &str) -> ! {
        let log = self.session.output();
        keep_log(&log);
        panic!("{why}\n---- serial so far ----\n{log}");
    }
}

/// The restart count in a `service status LABEL` line
/// (`mfs: running, endpoint .., restarts N, ...`).
pub fn restarts(status: &str) -> u32 {
    let at = status.find("restarts ").expect("a restart count") + "restarts ".len();
    status[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

#[cfg(test)]
mod tests {
    use super::without_console_lines;

    #[test]
    fn console_lines_are_dropped_and_output_kept() {
        let t =
            "1143\n[virtio-blk] poll found 1\nkernel: process 'x' exited\n[not a tag\nx [y] z\n";
        assert_eq!(without_console_lines(t), "1143\n[not a tag\nx [y] z\n");
    }
}
