//! A QEMU run driven over its serial console, for tests that type at the
//! guest's shell: bytes go to QEMU's stdin (COM1's receive side, read by
//! the TTY driver), and everything the guest writes is collected so a test
//! can wait for a piece of text. QEMU's 16550 model takes input only while
//! its FIFO has room, so nothing typed is lost however fast it is sent.

use crate::qemu::{Outcome, QEMU, QemuConfig, QemuError, RunResult, wait_with_timeout};
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why [`Session::expect`] gave up.
#[derive(Debug, Error)]
pub enum ExpectError {
    /// The text did not appear in time.
    #[error(
        "timed out after {secs:.1} s waiting for {wanted:?}; output since the last match:\n{since}"
    )]
    Timeout {
        /// The text waited for.
        wanted: String,
        /// Seconds waited.
        secs: f64,
        /// What the guest wrote meanwhile.
        since: String,
    },
    /// QEMU ended first.
    #[error("QEMU ended while waiting for {wanted:?}; output since the last match:\n{since}")]
    Ended {
        /// The text waited for.
        wanted: String,
        /// What the guest wrote meanwhile.
        since: String,
    },
}

/// Output collected so far and whether QEMU's stdout has closed.
#[derive(Default)]
struct Collected {
    bytes: Vec<u8>,
    closed: bool,
}

type Shared = Arc<(Mutex<Collected>, Condvar)>;

/// A running QEMU whose serial console the caller drives.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Shared,
    /// Bytes of output already consumed by [`Session::expect`].
    cursor: usize,
    reader: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    start: Instant,
    timeout: Duration,
}

impl Session {
    /// Starts QEMU with `cfg` (its `interactive` flag is ignored: stdin is
    /// always a pipe here). The serial output is also written to `cfg.log`.
    pub fn start(cfg: &QemuConfig) -> Result<Self, QemuError> {
        if let Some(dir) = cfg.log.parent() {
            std::fs::create_dir_all(dir).map_err(|e| QemuError::Log(cfg.log.clone(), e))?;
        }
        let mut log =
            std::fs::File::create(&cfg.log).map_err(|e| QemuError::Log(cfg.log.clone(), e))?;
        let mut batch = cfg.clone();
        batch.interactive = false;
        let mut child = Command::new(QEMU)
            .args(batch.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(QemuError::Spawn)?;
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let out: Shared = Arc::default();
        let shared = Arc::clone(&out);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = stdout.read(&mut buf).unwrap_or(0);
                let (lock, cv) = &*shared;
                let mut c = lock.lock().unwrap_or_else(|p| p.into_inner());
                if n == 0 {
                    c.closed = true;
                    cv.notify_all();
                    break;
                }
                c.bytes.extend_from_slice(&buf[..n]);
                // The in-memory copy is what tests read; the log is a keepsake.
                let _ = log.write_all(&buf[..n]);
                cv.notify_all();
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            buf
        });
        Ok(Session {
            child,
            stdin,
            out,
            cursor: 0,
            reader: Some(reader),
            stderr: Some(stderr),
            start: Instant::now(),
            timeout: cfg.timeout,
        })
    }

    /// Types `bytes` (control characters included: `b"\x03"` is ^C).
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("stdin already closed"))?;
        stdin.write_all(bytes)?;
        stdin.flush()
    }

    /// Types `line` and Enter (a carriage return, as a terminal sends it).
    pub fn send_line(&mut self, line: &str) -> std::io::Result<()> {
        let mut b = line.as_bytes().to_vec();
        b.push(b'\r');
        self.send(&b)
    }

    /// Waits until `wanted` appears in the output after the last match and
    /// returns the output from there up to and including it; the next
    /// search starts after it.
    pub fn expect(&mut self, wanted: &str, timeout: Duration) -> Result<String, ExpectError> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.out;
        let mut c = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let tail = &c.bytes[self.cursor.min(c.bytes.len())..];
            if let Some(at) = find(tail, wanted.as_bytes()) {
                let end = self.cursor + at + wanted.len();
                let text = String::from_utf8_lossy(&c.bytes[self.cursor..end]).into_owned();
                self.cursor = end;
                return Ok(text);
            }
            let since = || String::from_utf8_lossy(tail).into_owned();
            if c.closed {
                return Err(ExpectError::Ended {
                    wanted: wanted.into(),
                    since: since(),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ExpectError::Timeout {
                    wanted: wanted.into(),
                    secs: timeout.as_secs_f64(),
                    since: since(),
                });
            }
            c = cv
                .wait_timeout(c, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Everything the guest has written so far.
    pub fn output(&self) -> String {
        let c = self.out.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&c.bytes).into_owned()
    }

    /// Waits for QEMU to end by itself (the guest powered off) within
    /// `timeout`, killing it after that, and classifies the run like
    /// [`crate::qemu::run`].
    pub fn finish(mut self, timeout: Duration) -> Result<RunResult, QemuError> {
        let (status, timed_out) = wait_with_timeout(&mut self.child, timeout)?;
        self.collect(status, timed_out)
    }

    /// Kills QEMU now and returns what was collected.
    pub fn kill(mut self) -> Result<RunResult, QemuError> {
        let _ = self.child.kill();
        let status = self.child.wait().map_err(QemuError::Wait)?;
        self.collect(status.code(), true)
    }

    /// The time limit the configuration asked for.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn collect(&mut self, status: Option<i32>, timed_out: bool) -> Result<RunResult, QemuError> {
        self.stdin.take();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        Ok(RunResult {
            outcome: if timed_out {
                Outcome::Timeout
            } else {
                Outcome::from_status(status)
            },
            status,
            serial: self.output(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            elapsed: self.start.elapsed(),
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A test that panicked mid-session must not leave QEMU running.
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn finds_text_anywhere() {
        assert_eq!(find(b"abc# ", b"# "), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"x", b""), Some(0));
    }
}
