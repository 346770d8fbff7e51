//! The select core: one `select(2)` call as a state machine VFS drives.
//!
//! MINIX semantics (`servers/vfs/select.c`), runtime-neutral and with no
//! knowledge of messages: VFS describes each descriptor ([`FdClass`]),
//! sends the queries this core asks for (to PFS for pipes, to a character
//! driver for devices), and feeds back initial replies, later readiness
//! notifications, the timer and driver deaths. Each input returns a
//! [`Step`]: keep waiting, or finish with the ready sets / an error.
//!
//! Rules kept from MINIX:
//! - `nfds` outside `0..=OPEN_MAX` → `EINVAL`; a bad descriptor → `EBADF`;
//!   a timeval with negative fields or `usec >= 1_000_000` → `EINVAL`.
//! - Timeout NULL blocks, `{0,0}` polls, anything else blocks at most
//!   `sec*HZ + ceil(usec*HZ/10^6)` ticks (saturating at `i32::MAX`).
//! - Regular files are always ready; an fd asked for reading but not open
//!   for reading (or writing, likewise) is ready at once (the call would
//!   fail immediately); a closed/invalidated file is ready for read and write.
//! - The call cannot finish while an initial query is unanswered.
//! - **Early alarm:** if the timer fires before every initial query was
//!   answered, the call continues as though non-blocking: it finishes as
//!   soon as the outstanding initial answers arrive (never hangs, never
//!   loses the alarm).
//! - A dead driver's descriptors report ready for read and write.
//! - The result counts (fd, set) pairs; only supplied sets are filled.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use sys::Errno;

pub use crate::pipe::{SEL_ERR, SEL_RD, SEL_WR};

/// Most descriptors a select may name (MINIX `OPEN_MAX`).
pub const OPEN_MAX: i32 = 255;

/// A `struct timeval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeval {
    /// Seconds.
    pub sec: i64,
    /// Microseconds.
    pub usec: i64,
}

/// A validated timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// NULL: wait until something is ready.
    Forever,
    /// `{0,0}`: do not block.
    Poll,
    /// Block at most this many clock ticks.
    Ticks(u64),
}

impl Timeout {
    /// Validate a timeval (`None` = NULL pointer) for a clock of `hz` ticks
    /// per second.
    pub fn from_timeval(tv: Option<Timeval>, hz: u64) -> Result<Timeout, Errno> {
        let Some(tv) = tv else {
            return Ok(Timeout::Forever);
        };
        if tv.sec < 0 || tv.usec < 0 || tv.usec >= 1_000_000 {
            return Err(Errno::EINVAL);
        }
        if tv.sec == 0 && tv.usec == 0 {
            return Ok(Timeout::Poll);
        }
        let max = i32::MAX as u64;
        let sec = tv.sec as u64;
        if hz == 0 || sec >= (max - 1) / hz {
            return Ok(Timeout::Ticks(max));
        }
        let usec = tv.usec as u64;
        let ticks = sec * hz + (usec * hz).div_ceil(1_000_000);
        Ok(Timeout::Ticks(ticks.max(1)))
    }
}

/// A descriptor set of `nfds` bits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FdSet {
    words: Vec<u32>,
}

impl FdSet {
    /// An empty set with room for `nfds` descriptors.
    pub fn new(nfds: usize) -> Self {
        FdSet {
            words: vec![0; nfds.div_ceil(32)],
        }
    }
    /// From the 32-bit words user space passed (`ceil(nfds/32)` of them).
    pub fn from_words(words: &[u32]) -> Self {
        FdSet {
            words: words.to_vec(),
        }
    }
    /// The words to copy back out.
    pub fn words(&self) -> &[u32] {
        &self.words
    }
    /// Add `fd` (grows as needed).
    pub fn set(&mut self, fd: usize) {
        let w = fd / 32;
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << (fd % 32);
    }
    /// Whether `fd` is in the set.
    pub fn is_set(&self, fd: usize) -> bool {
        self.words
            .get(fd / 32)
            .is_some_and(|w| w & (1 << (fd % 32)) != 0)
    }
}

/// What VFS knows about one descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdClass {
    /// Not an open descriptor: the call fails with `EBADF`.
    Bad,
    /// A type select does not handle (directory, block device): `EBADF`.
    Unsupported,
    /// The file was invalidated (its server or driver died): ready.
    Closed,
    /// A regular file: always ready.
    Regular {
        /// Open for reading.
        readable: bool,
        /// Open for writing.
        writable: bool,
    },
    /// A pipe/FIFO or character device: must be queried. `target` names
    /// whoever answers (a driver endpoint, PFS) so a death can be matched.
    Queried {
        /// Open for reading.
        readable: bool,
        /// Open for writing.
        writable: bool,
        /// The answering server or driver.
        target: u32,
    },
}

/// A query VFS must send: ask `target` which of `ops` are ready on `fd`
/// (blocking: keep a notification armed when nothing is ready).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Descriptor.
    pub fd: usize,
    /// Ops asked.
    pub ops: u8,
    /// Server or driver to ask.
    pub target: u32,
    /// Whether to arm a later notification.
    pub block: bool,
}

/// The finished call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectResult {
    /// Number of (fd, set) pairs ready.
    pub count: usize,
    /// Ready read set (if one was supplied).
    pub read: Option<FdSet>,
    /// Ready write set.
    pub write: Option<FdSet>,
    /// Ready except set.
    pub except: Option<FdSet>,
    /// Queries still armed that VFS should cancel (fd, target).
    pub cancel: Vec<(usize, u32)>,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Keep waiting (arm the timer with [`Select::timer_ticks`] if not yet).
    Wait,
    /// The call is over.
    Finish(Result<SelectResult, Errno>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Watched {
    ops: u8,
    target: u32,
    /// Initial answer outstanding.
    busy: bool,
    /// A notification is armed with the target.
    armed: bool,
}

/// One select call in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select {
    nfds: usize,
    want: [Option<FdSet>; 3],
    ready: [FdSet; 3],
    block: bool,
    timeout: Timeout,
    watched: BTreeMap<usize, Watched>,
    error: Option<Errno>,
    finished: bool,
}

const SETS: [u8; 3] = [SEL_RD, SEL_WR, SEL_ERR];

impl Select {
    /// Start a call. `classify` describes each requested descriptor.
    /// Returns the call and the queries to send; if the answer is already
    /// known the returned [`Step`] is `Finish`.
    pub fn start(
        nfds: i32,
        read: Option<FdSet>,
        write: Option<FdSet>,
        except: Option<FdSet>,
        timeout: Option<Timeval>,
        hz: u64,
        mut classify: impl FnMut(usize) -> FdClass,
    ) -> (Select, Vec<Query>, Step) {
        let mut s = Select {
            nfds: 0,
            want: [read, write, except],
            ready: [FdSet::new(0), FdSet::new(0), FdSet::new(0)],
            block: true,
            timeout: Timeout::Forever,
            watched: BTreeMap::new(),
            error: None,
            finished: false,
        };
        if !(0..=OPEN_MAX).contains(&nfds) {
            return s.fail(Errno::EINVAL);
        }
        s.nfds = nfds as usize;
        s.ready = [FdSet::new(s.nfds), FdSet::new(s.nfds), FdSet::new(s.nfds)];
        match Timeout::from_timeval(timeout, hz) {
            Ok(t) => {
                s.timeout = t;
                s.block = t != Timeout::Poll;
            }
            Err(e) => return s.fail(e),
        }
        let mut queries = Vec::new();
        for fd in 0..s.nfds {
            let ops = s.wanted(fd);
            if ops == 0 {
                continue;
            }
            match classify(fd) {
                FdClass::Bad | FdClass::Unsupported => return s.fail(Errno::EBADF),
                FdClass::Closed => s.mark(fd, ops & (SEL_RD | SEL_WR)),
                FdClass::Regular { .. } => s.mark(fd, ops),
                FdClass::Queried {
                    readable,
                    writable,
                    target,
                } => {
                    // Ops the descriptor cannot do are "ready": they fail at once.
                    let mut now = 0;
                    if ops & SEL_RD != 0 && !readable {
                        now |= SEL_RD;
                    }
                    if ops & SEL_WR != 0 && !writable {
                        now |= SEL_WR;
                    }
                    s.mark(fd, now);
                    let ask = ops & !now;
                    if ask != 0 {
                        s.watched.insert(
                            fd,
                            Watched {
                                ops: ask,
                                target,
                                busy: true,
                                armed: s.block,
                            },
                        );
                        queries.push(Query {
                            fd,
                            ops: ask,
                            target,
                            block: s.block,
                        });
                    }
                }
            }
        }
        let step = s.check();
        (s, queries, step)
    }

    fn fail(mut self, e: Errno) -> (Select, Vec<Query>, Step) {
        self.finished = true;
        (self, Vec::new(), Step::Finish(Err(e)))
    }

    fn wanted(&self, fd: usize) -> u8 {
        let mut ops = 0;
        for (i, w) in self.want.iter().enumerate() {
            if w.as_ref().is_some_and(|s| s.is_set(fd)) {
                ops |= SETS[i];
            }
        }
        ops
    }

    fn mark(&mut self, fd: usize, ops: u8) {
        let ops = ops & self.wanted(fd);
        for (i, bit) in SETS.iter().enumerate() {
            if ops & bit != 0 {
                self.ready[i].set(fd);
            }
        }
    }

    fn count(&self) -> usize {
        (0..self.nfds)
            .map(|fd| {
                (0..3)
                    .filter(|&i| self.want[i].is_some() && self.ready[i].is_set(fd))
                    .count()
            })
            .sum()
    }

    fn deferred(&self) -> bool {
        self.watched.values().any(|w| w.busy)
    }

    /// How long to arm the timer once the call waits (`None`: no timer).
    pub fn timer_ticks(&self) -> Option<u64> {
        match self.timeout {
            Timeout::Ticks(t) => Some(t),
            Timeout::Forever | Timeout::Poll => None,
        }
    }

    /// Whether the call is over.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    fn check(&mut self) -> Step {
        if self.finished {
            return Step::Wait;
        }
        let n = self.count();
        if (n > 0 || self.error.is_some() || !self.block) && !self.deferred() {
            self.finished = true;
            if let Some(e) = self.error {
                return Step::Finish(Err(e));
            }
            let cancel = self
                .watched
                .iter()
                .filter(|(_, w)| w.armed)
                .map(|(&fd, w)| (fd, w.target))
                .collect();
            let pick = |i: usize| self.want[i].as_ref().map(|_| self.ready[i].clone());
            return Step::Finish(Ok(SelectResult {
                count: n,
                read: pick(0),
                write: pick(1),
                except: pick(2),
                cancel,
            }));
        }
        Step::Wait
    }

    /// The initial answer to the query on `fd`: ready ops, or an error
    /// (which becomes the call's error).
    pub fn initial_reply(&mut self, fd: usize, result: Result<u8, Errno>) -> Step {
        let Some(w) = self.watched.get_mut(&fd) else {
            return Step::Wait;
        };
        if !w.busy {
            return Step::Wait;
        }
        w.busy = false;
        match result {
            Ok(ops) => {
                let ops = ops & w.ops;
                if ops != 0 {
                    // A query that found something ready leaves nothing armed.
                    w.armed = false;
                }
                self.mark(fd, ops);
            }
            Err(e) => {
                w.armed = false;
                self.error = Some(e);
            }
        }
        self.check()
    }

    /// A later notification: `ops` became ready on `fd` (or an error).
    pub fn notify(&mut self, fd: usize, result: Result<u8, Errno>) -> Step {
        let Some(w) = self.watched.get_mut(&fd) else {
            return Step::Wait;
        };
        w.armed = false;
        match result {
            Ok(ops) => {
                let ops = ops & w.ops;
                self.mark(fd, ops);
            }
            Err(e) => self.error = Some(e),
        }
        self.check()
    }

    /// The timer fired. If initial answers are still outstanding the call
    /// turns non-blocking and finishes when they arrive (early alarm).
    pub fn timer(&mut self) -> Step {
        self.block = false;
        self.check()
    }

    /// `target` died: its descriptors are ready for read and write, and
    /// their outstanding queries will never be answered.
    pub fn target_died(&mut self, target: u32) -> Step {
        let fds: Vec<usize> = self
            .watched
            .iter()
            .filter(|(_, w)| w.target == target)
            .map(|(&fd, _)| fd)
            .collect();
        for fd in fds {
            self.watched.remove(&fd);
            self.mark(fd, SEL_RD | SEL_WR);
        }
        self.check()
    }

    /// A signal interrupted the call: `EINTR`; returns the armed queries to cancel.
    pub fn interrupt(&mut self) -> Vec<(usize, u32)> {
        self.finished = true;
        self.watched
            .iter()
            .filter(|(_, w)| w.armed || w.busy)
            .map(|(&fd, w)| (fd, w.target))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HZ: u64 = 100;

    fn set(fds: &[usize]) -> Option<FdSet> {
        let mut s = FdSet::new(64);
        for &fd in fds {
            s.set(fd);
        }
        Some(s)
    }

    fn pipe(fd: usize) -> FdClass {
        let _ = fd;
        FdClass::Queried {
            readable: true,
            writable: true,
            target: 7,
        }
    }

    fn done(step: Step) -> SelectResult {
        match step {
            Step::Finish(Ok(r)) => r,
            other => panic!("expected a result, got {other:?}"),
        }
    }

    #[test]
    fn invalid_timevals_are_einval() {
        // t40f: usec 3,000,000, 1,000,000 and ~0; negative seconds.
        for (sec, usec) in [(0, 3_000_000), (0, 1_000_000), (0, -1), (-1, 0)] {
            let (_, q, st) = Select::start(
                1,
                set(&[0]),
                None,
                None,
                Some(Timeval { sec, usec }),
                HZ,
                pipe,
            );
            assert_eq!(st, Step::Finish(Err(Errno::EINVAL)), "{sec},{usec}");
            assert!(q.is_empty());
        }
        let (_, _, st) = Select::start(256, None, None, None, None, HZ, pipe);
        assert_eq!(st, Step::Finish(Err(Errno::EINVAL)));
        let (_, _, st) = Select::start(-1, None, None, None, None, HZ, pipe);
        assert_eq!(st, Step::Finish(Err(Errno::EINVAL)));
    }

    #[test]
    fn timeout_ticks() {
        let t = |sec, usec| Timeout::from_timeval(Some(Timeval { sec, usec }), HZ);
        assert_eq!(t(3, 0), Ok(Timeout::Ticks(300)));
        assert_eq!(t(2, 999_999), Ok(Timeout::Ticks(300)), "rounded up");
        assert_eq!(t(0, 10_000), Ok(Timeout::Ticks(1)));
        assert_eq!(t(0, 1), Ok(Timeout::Ticks(1)));
        assert_eq!(t(0, 0), Ok(Timeout::Poll));
        assert_eq!(t(i64::MAX, 0), Ok(Timeout::Ticks(i32::MAX as u64)));
        assert_eq!(Timeout::from_timeval(None, HZ), Ok(Timeout::Forever));
    }

    #[test]
    fn bad_fd_is_ebadf_and_regular_is_ready() {
        let (_, _, st) = Select::start(3, set(&[2]), None, None, None, HZ, |_| FdClass::Bad);
        assert_eq!(st, Step::Finish(Err(Errno::EBADF)));
        let (_, _, st) =
            Select::start(3, set(&[2]), None, None, None, HZ, |_| FdClass::Unsupported);
        assert_eq!(st, Step::Finish(Err(Errno::EBADF)));
        let (_, q, st) = Select::start(3, set(&[1]), set(&[1]), None, None, HZ, |_| {
            FdClass::Regular {
                readable: true,
                writable: false,
            }
        });
        assert!(q.is_empty());
        let r = done(st);
        assert_eq!(r.count, 2, "read + write of one fd count twice");
        assert!(r.read.unwrap().is_set(1) && r.write.unwrap().is_set(1));
        assert!(r.except.is_none(), "sets not supplied stay NULL");
    }

    #[test]
    fn poll_with_nothing_ready_returns_zero_after_answers() {
        let (mut s, q, st) = Select::start(
            2,
            set(&[1]),
            None,
            None,
            Some(Timeval { sec: 0, usec: 0 }),
            HZ,
            pipe,
        );
        assert_eq!(
            q,
            vec![Query {
                fd: 1,
                ops: SEL_RD,
                target: 7,
                block: false
            }]
        );
        assert_eq!(st, Step::Wait, "deferred until the query is answered");
        let r = done(s.initial_reply(1, Ok(0)));
        assert_eq!(r.count, 0);
        assert!(!r.read.unwrap().is_set(1));
        assert!(r.cancel.is_empty(), "poll arms nothing");
    }

    #[test]
    fn blocking_select_waits_for_notification_then_cancels_others() {
        let (mut s, q, st) = Select::start(3, set(&[1, 2]), None, None, None, HZ, pipe);
        assert_eq!(q.len(), 2);
        assert!(q.iter().all(|q| q.block));
        assert_eq!(st, Step::Wait);
        assert_eq!(s.initial_reply(1, Ok(0)), Step::Wait);
        assert_eq!(s.initial_reply(2, Ok(0)), Step::Wait);
        assert_eq!(s.timer_ticks(), None);
        let r = done(s.notify(2, Ok(SEL_RD)));
        assert_eq!(r.count, 1);
        assert!(r.read.as_ref().unwrap().is_set(2) && !r.read.unwrap().is_set(1));
        assert_eq!(r.cancel, vec![(1, 7)], "fd 1's armed query is cancelled");
    }

    #[test]
    fn timeout_returns_zero() {
        let (mut s, _, _) = Select::start(
            2,
            set(&[1]),
            None,
            None,
            Some(Timeval { sec: 3, usec: 0 }),
            HZ,
            pipe,
        );
        assert_eq!(s.initial_reply(1, Ok(0)), Step::Wait);
        assert_eq!(s.timer_ticks(), Some(300));
        let r = done(s.timer());
        assert_eq!(r.count, 0);
        assert_eq!(r.cancel, vec![(1, 7)]);
    }

    #[test]
    fn early_alarm_finishes_as_non_blocking_when_answers_arrive() {
        let (mut s, q, _) = Select::start(
            3,
            set(&[1, 2]),
            None,
            None,
            Some(Timeval {
                sec: 0,
                usec: 10_000,
            }),
            HZ,
            pipe,
        );
        assert_eq!(q.len(), 2);
        assert_eq!(s.initial_reply(1, Ok(0)), Step::Wait);
        // The alarm fires while fd 2's driver has not answered: no finish yet...
        assert_eq!(s.timer(), Step::Wait);
        // ...but as soon as it answers (even "nothing ready") the call ends.
        let r = done(s.initial_reply(2, Ok(0)));
        assert_eq!(r.count, 0);
        // And a late answer that is ready is reported.
        let (mut s, _, _) = Select::start(
            3,
            set(&[2]),
            None,
            None,
            Some(Timeval { sec: 1, usec: 0 }),
            HZ,
            pipe,
        );
        assert_eq!(s.timer(), Step::Wait);
        let r = done(s.initial_reply(2, Ok(SEL_RD)));
        assert_eq!(r.count, 1);
    }

    #[test]
    fn dead_driver_reports_ready() {
        let (mut s, _, _) = Select::start(3, set(&[1]), set(&[1]), None, None, HZ, pipe);
        // The driver dies before answering: ready for read and write.
        let r = done(s.target_died(7));
        assert_eq!(r.count, 2);
        assert!(r.cancel.is_empty());
    }

    #[test]
    fn closed_and_wrong_mode_fds_are_ready_at_once() {
        let (_, q, st) = Select::start(4, set(&[1, 2]), set(&[3]), None, None, HZ, |fd| match fd {
            1 => FdClass::Closed,
            2 => FdClass::Queried {
                readable: false,
                writable: true,
                target: 7,
            },
            _ => FdClass::Queried {
                readable: true,
                writable: false,
                target: 7,
            },
        });
        assert!(q.is_empty(), "nothing left to ask");
        let r = done(st);
        assert_eq!(r.count, 3);
    }

    #[test]
    fn errors_and_interrupts() {
        let (mut s, _, _) = Select::start(2, set(&[1]), None, None, None, HZ, pipe);
        assert_eq!(
            s.initial_reply(1, Err(Errno::EIO)),
            Step::Finish(Err(Errno::EIO))
        );
        let (mut s, _, _) = Select::start(2, set(&[1]), None, None, None, HZ, pipe);
        assert_eq!(s.interrupt(), vec![(1, 7)]);
        assert!(s.is_finished());
        assert_eq!(s.notify(1, Ok(SEL_RD)), Step::Wait, "nothing after the end");
    }

    #[test]
    fn fdset_words() {
        let mut s = FdSet::new(40);
        s.set(0);
        s.set(33);
        assert_eq!(s.words(), &[1, 2]);
        assert_eq!(FdSet::from_words(&[1, 2]), s);
        assert!(!s.is_set(200));
    }
}
