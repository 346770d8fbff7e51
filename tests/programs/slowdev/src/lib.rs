//! A test character driver that answers select queries late (see the
//! README). Talks only to its clients, over `sys::proto::cdev`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;
use sys::proto::cdev::{CdevReply, CdevRequest, sel};
use sys::proto::kernel::is_notify;
use sys::{Endpoint, Errno, Message, Process, Sys};

/// The minor that reports itself readable (others report nothing).
pub const READY_MINOR: u32 = 1;

/// Answers select queries `delay` ticks late, everything else at once.
#[derive(Debug)]
pub struct SlowDev {
    delay: u64,
    /// Ready ops reported for minors other than [`READY_MINOR`].
    ready_other: u32,
    queued: Vec<(Endpoint, u64, u32, u32)>,
    /// Select answers given, for logs.
    answered: u64,
}

impl SlowDev {
    /// A driver answering selects `delay` clock ticks late.
    pub fn new(delay: u64) -> Self {
        SlowDev {
            delay,
            ready_other: 0,
            queued: Vec::new(),
            answered: 0,
        }
    }

    /// Every minor reports `ready` (for simulator tests of both outcomes
    /// on one minor).
    pub fn reporting(mut self, ready: u32) -> Self {
        self.ready_other = ready;
        self
    }

    fn ready(&self, minor: u32, ops: u32) -> u32 {
        let r = if minor == READY_MINOR {
            sel::READ
        } else {
            self.ready_other
        };
        r & ops
    }

    /// Select answers given so far.
    pub fn answered(&self) -> u64 {
        self.answered
    }
}

impl Process for SlowDev {
    fn receive(&mut self, s: &mut dyn Sys, msg: Message) {
        if is_notify(&msg) {
            if msg.source() == Endpoint::CLOCK {
                for (to, id, minor, ops) in core::mem::take(&mut self.queued) {
                    let r = CdevReply::Select {
                        id,
                        minor,
                        result: Ok(self.ready(minor, ops)),
                    };
                    self.answered += 1;
                    s.log(&alloc::format!(
                        "slowdev: answered select of minor {minor} {} ticks late",
                        self.delay
                    ));
                    let _ = s.send(to, r.to_message());
                }
            }
            return;
        }
        let reply = match CdevRequest::try_from(&msg) {
            Ok(CdevRequest::Select { id, minor, ops, .. }) => {
                self.queued.push((msg.source(), id, minor, ops));
                s.set_alarm(self.delay);
                return;
            }
            Ok(CdevRequest::Open { id, .. } | CdevRequest::Close { id, .. }) => {
                CdevReply::Done { id, result: Ok(0) }
            }
            Ok(CdevRequest::Read { id, .. } | CdevRequest::Write { id, .. }) => CdevReply::Done {
                id,
                result: Err(Errno::EIO),
            },
            Ok(CdevRequest::Cancel { id, .. }) => CdevReply::Done {
                id,
                result: Err(Errno::EINTR),
            },
            Ok(CdevRequest::Ioctl { id, .. }) => CdevReply::Done {
                id,
                result: Err(Errno::ENOTTY),
            },
            Err(e) => CdevReply::Done {
                id: msg.request_id(),
                result: Err(e),
            },
        };
        let _ = s.send(msg.source(), reply.to_message());
    }
}
