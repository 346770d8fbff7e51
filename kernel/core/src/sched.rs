//! Scheduling policy: priority run queues with round-robin and a quantum.
//!
//! Queue 0 is the highest priority. [`RunQueues::pick`] returns the head of
//! the highest non-empty queue; [`RunQueues::tick`] charges the running
//! process one clock tick and, when its quantum is used up, moves it to the
//! back of its queue with a fresh quantum, so equal-priority processes
//! share the CPU. A blocked process is simply not queued. The kernel idles
//! (`hlt`) when `pick` returns `None`.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Number of priority levels.
pub const NR_PRIORITIES: usize = 16;
/// Default quantum in clock ticks.
pub const DEFAULT_QUANTUM: u32 = 5;

/// Why a scheduling request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedError {
    /// Priority out of range.
    BadPriority(usize),
    /// Already queued.
    AlreadyQueued(usize),
    /// No such slot.
    BadSlot(usize),
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    priority: usize,
    quantum: u32,
    left: u32,
    queued: bool,
}

/// The run queues.
#[derive(Debug)]
pub struct RunQueues {
    queues: [VecDeque<usize>; NR_PRIORITIES],
    entries: Vec<Option<Entry>>,
}

impl RunQueues {
    /// Queues for `slots` process slots.
    pub fn new(slots: usize) -> Self {
        let mut entries = Vec::with_capacity(slots);
        entries.resize_with(slots, || None);
        Self {
            queues: core::array::from_fn(|_| VecDeque::new()),
            entries,
        }
    }

    /// Sets the priority and quantum of `slot` (takes effect when it is
    /// next queued).
    pub fn configure(
        &mut self,
        slot: usize,
        priority: usize,
        quantum: u32,
    ) -> Result<(), SchedError> {
        if slot >= self.entries.len() {
            return Err(SchedError::BadSlot(slot));
        }
        if priority >= NR_PRIORITIES {
            return Err(SchedError::BadPriority(priority));
        }
        let queued = self.entries[slot].is_some_and(|e| e.queued);
        if queued {
            self.dequeue(slot);
        }
        self.entries[slot] = Some(Entry {
            priority,
            quantum: quantum.max(1),
            left: quantum.max(1),
            queued: false,
        });
        if queued {
            self.enqueue(slot)?;
        }
        Ok(())
    }

    /// Makes `slot` runnable (at the back of its queue).
    pub fn enqueue(&mut self, slot: usize) -> Result<(), SchedError> {
        let e = self.entry(slot)?;
        if e.queued {
            return Err(SchedError::AlreadyQueued(slot));
        }
        self.queues[e.priority].push_back(slot);
        self.entries[slot] = Some(Entry { queued: true, ..e });
        Ok(())
    }

    /// Removes `slot` from the queues (it blocked or died). No effect when
    /// it is not queued.
    pub fn dequeue(&mut self, slot: usize) {
        let Some(Some(e)) = self.entries.get(slot).copied() else {
            return;
        };
        if e.queued {
            self.queues[e.priority].retain(|&s| s != slot);
            self.entries[slot] = Some(Entry { queued: false, ..e });
        }
    }

    /// Forgets `slot` entirely (its process is gone).
    pub fn remove(&mut self, slot: usize) {
        self.dequeue(slot);
        if let Some(e) = self.entries.get_mut(slot) {
            *e = None;
        }
    }

    /// The process that should run now.
    pub fn pick(&self) -> Option<usize> {
        self.queues.iter().find_map(|q| q.front().copied())
    }

    /// Charges `running` one tick; returns true when it used up its
    /// quantum and went to the back of its queue (the caller should then
    /// switch to [`Self::pick`]).
    pub fn tick(&mut self, running: usize) -> bool {
        let Some(Some(mut e)) = self.entries.get(running).copied() else {
            return false;
        };
        e.left = e.left.saturating_sub(1);
        let expired = e.left == 0;
        if expired {
            e.left = e.quantum;
            if e.queued {
                let q = &mut self.queues[e.priority];
                q.retain(|&s| s != running);
                q.push_back(running);
            }
        }
        self.entries[running] = Some(e);
        expired
    }

    fn entry(&mut self, slot: usize) -> Result<Entry, SchedError> {
        let e = self
            .entries
            .get_mut(slot)
            .ok_or(SchedError::BadSlot(slot))?;
        Ok(*e.get_or_insert(Entry {
            priority: NR_PRIORITIES - 1,
            quantum: DEFAULT_QUANTUM,
            left: DEFAULT_QUANTUM,
            queued: false,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_priority_runs_first() {
        let mut q = RunQueues::new(8);
        q.configure(1, 7, 3).unwrap();
        q.configure(2, 3, 3).unwrap();
        q.enqueue(1).unwrap();
        q.enqueue(2).unwrap();
        assert_eq!(q.pick(), Some(2));
        q.dequeue(2);
        assert_eq!(q.pick(), Some(1));
        q.dequeue(1);
        assert_eq!(q.pick(), None, "idle");
    }

    #[test]
    fn quantum_expiry_rotates_equal_priorities() {
        let mut q = RunQueues::new(8);
        for s in [3, 4, 5] {
            q.configure(s, 2, 2).unwrap();
            q.enqueue(s).unwrap();
        }
        let mut order = Vec::new();
        for _ in 0..6 {
            let running = q.pick().unwrap();
            order.push(running);
            assert!(!q.tick(running));
            assert!(q.tick(running), "second tick ends a 2-tick quantum");
        }
        assert_eq!(order, [3, 4, 5, 3, 4, 5]);
    }

    #[test]
    fn blocked_processes_are_skipped_and_requeued_at_the_back() {
        let mut q = RunQueues::new(4);
        for s in 0..3 {
            q.enqueue(s).unwrap();
        }
        q.dequeue(0);
        assert_eq!(q.pick(), Some(1));
        q.enqueue(0).unwrap();
        assert_eq!(q.enqueue(0), Err(SchedError::AlreadyQueued(0)));
        q.dequeue(1);
        q.dequeue(2);
        assert_eq!(q.pick(), Some(0));
        q.remove(0);
        assert_eq!(q.pick(), None);
        assert_eq!(
            q.configure(1, NR_PRIORITIES, 1),
            Err(SchedError::BadPriority(NR_PRIORITIES))
        );
        assert_eq!(q.enqueue(9), Err(SchedError::BadSlot(9)));
    }

    #[test]
    fn reconfiguring_a_queued_process_moves_it() {
        let mut q = RunQueues::new(4);
        q.enqueue(0).unwrap();
        q.enqueue(1).unwrap();
        q.configure(1, 0, 1).unwrap();
        assert_eq!(q.pick(), Some(1));
    }
}
