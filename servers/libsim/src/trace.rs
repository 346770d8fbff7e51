//! The run's trace: every delivery, spawn, death, hang and log line, with
//! its simulated time. Always summarised in a running FNV-1a hash; the full
//! list is kept when [`crate::SimConfig::keep_trace`] is set.

use sys::Endpoint;
use sys::proto::kernel::Cause;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message was delivered (or swallowed by a hung process).
    Deliver {
        /// Time.
        t: u64,
        /// Sender.
        src: Endpoint,
        /// Receiver.
        dst: Endpoint,
        /// Message type.
        mtype: u32,
        /// The receiver was hung and ignored it.
        swallowed: bool,
    },
    /// A process was created.
    Spawn {
        /// Time.
        t: u64,
        /// Label.
        label: String,
        /// Endpoint.
        ep: Endpoint,
    },
    /// A process died.
    Died {
        /// Time.
        t: u64,
        /// Label.
        label: String,
        /// Endpoint.
        ep: Endpoint,
        /// Cause.
        cause: Cause,
    },
    /// A process was made to hang.
    Hang {
        /// Time.
        t: u64,
        /// Label.
        label: String,
        /// Endpoint.
        ep: Endpoint,
    },
    /// A log line.
    Log {
        /// Time.
        t: u64,
        /// Who.
        ep: Endpoint,
        /// Text.
        text: String,
    },
}

/// Collects events.
#[derive(Debug, Clone)]
pub struct Tracer {
    keep: bool,
    events: Vec<Event>,
    hash: u64,
    count: u64,
}

impl Tracer {
    /// New tracer; `keep` stores the events, else only the hash.
    pub fn new(keep: bool) -> Self {
        Tracer {
            keep,
            events: Vec::new(),
            hash: 0xcbf2_9ce4_8422_2325,
            count: 0,
        }
    }

    /// Mix one 64-bit word (fixed-width fields: cheaper than per byte).
    fn word(&mut self, v: u64) {
        self.hash = (self.hash ^ v)
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(29);
    }

    fn mix(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.hash ^= u64::from(b);
            self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Record one event.
    pub fn push(&mut self, e: Event) {
        self.count += 1;
        match &e {
            Event::Deliver {
                t,
                src,
                dst,
                mtype,
                swallowed,
            } => {
                self.word(*t);
                self.word((u64::from(src.0) << 32) | u64::from(dst.0));
                self.word((u64::from(*mtype) << 1) | u64::from(*swallowed));
            }
            Event::Spawn { t, label, ep } | Event::Hang { t, label, ep } => {
                self.mix(&[if matches!(e, Event::Spawn { .. }) {
                    1
                } else {
                    3
                }]);
                self.mix(&t.to_le_bytes());
                self.mix(label.as_bytes());
                self.mix(&ep.0.to_le_bytes());
            }
            Event::Died {
                t,
                label,
                ep,
                cause,
            } => {
                self.mix(&[2]);
                self.mix(&t.to_le_bytes());
                self.mix(label.as_bytes());
                self.mix(&ep.0.to_le_bytes());
                self.mix(format!("{cause:?}").as_bytes());
            }
            Event::Log { t, ep, text } => {
                self.mix(&[4]);
                self.mix(&t.to_le_bytes());
                self.mix(&ep.0.to_le_bytes());
                self.mix(text.as_bytes());
            }
        }
        if self.keep {
            self.events.push(e);
        }
    }

    /// Events kept so far.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Hash of every event so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Number of events so far.
    pub fn count(&self) -> u64 {
        self.count
    }
}
