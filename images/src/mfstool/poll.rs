//! Adaptive polling of the FUSE device (`-o poll`, the default).
//!
//! A FUSE round trip wakes a server thread and then the caller. When the
//! two sleep on different CPUs each wake-up is an inter-processor
//! interrupt, and in a virtual machine those dominate: on the 2-CPU guest
//! this was measured on, a create loop ran 21,000 files/s with the caller
//! and the server pinned to one CPU and 4,400 files/s on two.
//!
//! So while requests come in a tight stream, one FUSE thread polls: its
//! `/dev/fuse` descriptor is switched to non-blocking, and fuser's read
//! loop, which retries on EAGAIN, picks each request up as it is queued,
//! with no wake-up. The stream ends on a quiet window (1 ms with
//! fewer than 4 requests, [`Tuning`]); then the descriptor blocks again and
//! an idle mount costs no CPU. Polling starts only for requests closer
//! together than 200 us, so occasional traffic never spins a CPU.
//!
//! Measured with `scripts/bench-fuse.sh` against `nopoll` (which keeps
//! two blocking threads): creates 13,300-13,900/s against 8,300-8,500/s,
//! 4 KiB random reads 28-29k against 25k IOPS, streaming within noise.
//! The cost is up to one CPU while a burst lasts (a create loop of
//! 10,000 files took 0.87 s of server CPU against 0.6 s); under two
//! CPU-bound processes creates ran as fast as without polling and the
//! two lost 5% of their work. `-o nopoll` turns it off.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

/// When polling starts and ends.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// Two requests closer together than this start polling.
    pub burst_gap: Duration,
    /// Polling ends after a window with fewer than `keep` requests.
    pub window: Duration,
    /// Requests per window that keep it going.
    pub keep: u64,
}

impl Default for Tuning {
    /// A tight loop of one caller sends a request every 10-50 us, dozens
    /// per millisecond; a compiler reading sources sends a few per
    /// millisecond at most.
    fn default() -> Self {
        Tuning {
            burst_gap: Duration::from_micros(200),
            window: Duration::from_millis(1),
            keep: 4,
        }
    }
}

/// Switches one `/dev/fuse` descriptor between polling and blocking.
#[derive(Debug)]
pub struct Poller {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// A duplicate of the polled descriptor: the same open file
    /// description, so its O_NONBLOCK flag is the FUSE thread's.
    fd: OwnedFd,
    tuning: Tuning,
    epoch: Instant,
    /// Nanoseconds since `epoch` of the latest request (`u64::MAX`: none
    /// yet).
    last: AtomicU64,
    requests: AtomicU64,
    polling: AtomicBool,
    stop: AtomicBool,
    /// Held while switching modes; the governor waits on `wake`.
    switch: Mutex<()>,
    wake: Condvar,
}

impl Inner {
    /// Sets or clears O_NONBLOCK; false if the descriptor refused.
    fn set_polling(&self, on: bool) -> bool {
        let Ok(bits) = fcntl(self.fd.as_fd(), FcntlArg::F_GETFL) else {
            return false;
        };
        let mut flags = OFlag::from_bits_retain(bits);
        flags.set(OFlag::O_NONBLOCK, on);
        fcntl(self.fd.as_fd(), FcntlArg::F_SETFL(flags)).is_ok()
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The governor: waits for polling to start, then ends it after a
    /// quiet window.
    fn govern(&self) {
        loop {
            {
                let mut guard = self.switch.lock().unwrap_or_else(|p| p.into_inner());
                while !self.polling.load(Relaxed) && !self.stop.load(Relaxed) {
                    guard = self.wake.wait(guard).unwrap_or_else(|p| p.into_inner());
                }
            }
            if self.stop.load(Relaxed) {
                return;
            }
            loop {
                let before = self.requests.load(Relaxed);
                std::thread::sleep(self.tuning.window);
                if self.stop.load(Relaxed) {
                    return;
                }
                if self.requests.load(Relaxed).wrapping_sub(before) < self.tuning.keep {
                    let _guard = self.switch.lock().unwrap_or_else(|p| p.into_inner());
                    self.set_polling(false);
                    self.polling.store(false, Relaxed);
                    break;
                }
            }
        }
    }
}

impl Poller {
    /// Polls `fd` (a FUSE session's descriptor) in bursts; a governor
    /// thread ends each burst. The descriptor is left blocking until then.
    pub fn start(fd: OwnedFd, tuning: Tuning) -> std::io::Result<Poller> {
        let inner = Arc::new(Inner {
            fd,
            tuning,
            epoch: Instant::now(),
            last: AtomicU64::new(u64::MAX),
            requests: AtomicU64::new(0),
            polling: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            switch: Mutex::new(()),
            wake: Condvar::new(),
        });
        let governor = inner.clone();
        std::thread::Builder::new()
            .name("mfs-poll".into())
            .spawn(move || governor.govern())?;
        Ok(Poller { inner })
    }

    /// Notes a request; polling starts if it follows the previous one
    /// within the burst gap.
    pub fn request(&self) {
        let i = &self.inner;
        let now = i.now();
        let prev = i.last.swap(now, Relaxed);
        i.requests.fetch_add(1, Relaxed);
        let burst = now
            .checked_sub(prev)
            .is_some_and(|gap| u128::from(gap) < i.tuning.burst_gap.as_nanos());
        if i.polling.load(Relaxed) || !burst {
            return;
        }
        let _guard = i.switch.lock().unwrap_or_else(|p| p.into_inner());
        if !i.polling.load(Relaxed) && !i.stop.load(Relaxed) && i.set_polling(true) {
            i.polling.store(true, Relaxed);
            i.wake.notify_one();
        }
    }

    /// True while the descriptor is non-blocking.
    pub fn is_polling(&self) -> bool {
        self.inner.polling.load(Relaxed)
    }
}

impl Drop for Poller {
    /// Stops the governor and leaves the descriptor blocking.
    fn drop(&mut self) {
        let i = &self.inner;
        let _guard = i.switch.lock().unwrap_or_else(|p| p.into_inner());
        i.stop.store(true, Relaxed);
        if i.polling.swap(false, Relaxed) {
            i.set_polling(false);
        }
        i.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonblocking(fd: &OwnedFd) -> bool {
        let bits = fcntl(fd.as_fd(), FcntlArg::F_GETFL).unwrap();
        OFlag::from_bits_retain(bits).contains(OFlag::O_NONBLOCK)
    }

    fn wait_for(what: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if what() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    /// Generous times: a descheduled test thread must not change the
    /// outcome.
    const SLOW: Tuning = Tuning {
        burst_gap: Duration::from_secs(5),
        window: Duration::from_millis(300),
        keep: 4,
    };

    #[test]
    fn a_burst_polls_and_a_quiet_window_blocks_again() {
        let (read, _write) = nix::unistd::pipe().unwrap();
        let watched = read.try_clone().unwrap();
        let poller = Poller::start(read, SLOW).unwrap();
        // One request alone (as from an idle mount) does not poll.
        poller.request();
        assert!(!poller.is_polling());
        assert!(!nonblocking(&watched));
        // Two in quick succession do: the shared description turns
        // non-blocking.
        poller.request();
        poller.request();
        assert!(poller.is_polling());
        assert!(nonblocking(&watched));
        // Silence: the governor switches back.
        assert!(wait_for(|| !poller.is_polling()), "polling never ended");
        assert!(!nonblocking(&watched));
        // A new burst polls again.
        poller.request();
        poller.request();
        assert!(nonblocking(&watched));
        drop(poller);
        assert!(
            !nonblocking(&watched),
            "dropping the poller leaves the descriptor blocking"
        );
    }

    #[test]
    fn spaced_requests_never_poll() {
        let (read, _write) = nix::unistd::pipe().unwrap();
        let watched = read.try_clone().unwrap();
        let tuning = Tuning {
            burst_gap: Duration::from_millis(1),
            ..SLOW
        };
        let poller = Poller::start(read, tuning).unwrap();
        for _ in 0..3 {
            poller.request();
            std::thread::sleep(tuning.burst_gap * 20);
        }
        assert!(!poller.is_polling());
        assert!(!nonblocking(&watched));
    }
}
