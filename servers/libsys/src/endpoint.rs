//! Endpoints: `(generation << 16) | slot`, as recommended in
//! `rust-os-notes.md` §3.4. A restarted service either keeps its endpoint
//! exactly (policies *restart* and *stateful*, MINIX's slot swap) or gets the
//! same slot with the next generation (*reset*), so a stale endpoint is
//! detectable and the dead-peer error can name the new one.

use core::fmt;

/// A process address for IPC.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint(pub u32);

impl Endpoint {
    /// Wildcard for "receive from anyone" (slot 0xFFFF is never a process).
    pub const ANY: Endpoint = Endpoint(0xFFFF_FFFF);
    /// "No process" (slot 0xFFFE is never a process).
    pub const NONE: Endpoint = Endpoint(0xFFFF_FFFE);
    /// The kernel's system task: source of crash reports and dead-peer bounces.
    pub const SYSTEM: Endpoint = Endpoint::new(0, 0);
    /// The clock: source of alarm notifications.
    pub const CLOCK: Endpoint = Endpoint::new(1, 0);
    /// The reincarnation server (fixed: it is never restarted).
    pub const RS: Endpoint = Endpoint::new(2, 0);
    /// The data store (fixed: its policy keeps the endpoint on restart).
    pub const DS: Endpoint = Endpoint::new(3, 0);
    /// First slot handed out to dynamically started processes.
    pub const FIRST_DYNAMIC_SLOT: u16 = 4;
    /// Highest usable slot number.
    pub const MAX_SLOT: u16 = 0xFFFD;

    /// Build an endpoint from a slot and a generation.
    pub const fn new(slot: u16, generation: u16) -> Self {
        Endpoint(((generation as u32) << 16) | slot as u32)
    }

    /// The process-table slot.
    pub const fn slot(self) -> u16 {
        (self.0 & 0xFFFF) as u16
    }

    /// The generation: bumped when a slot is reused for a new instance
    /// that must be told apart from its predecessor.
    pub const fn generation(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The same slot with the next generation (wrapping).
    pub const fn next_generation(self) -> Self {
        Endpoint::new(self.slot(), self.generation().wrapping_add(1))
    }

    /// Whether this names a real process slot (not ANY/NONE).
    pub const fn is_process(self) -> bool {
        self.slot() <= Self::MAX_SLOT
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Endpoint::ANY => f.write_str("ANY"),
            Endpoint::NONE => f.write_str("NONE"),
            ep => write!(f, "{}.{}", ep.slot(), ep.generation()),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_roundtrip() {
        let ep = Endpoint::new(7, 3);
        assert_eq!(ep.0, (3 << 16) | 7);
        assert_eq!(ep.slot(), 7);
        assert_eq!(ep.generation(), 3);
        assert_eq!(ep.next_generation(), Endpoint::new(7, 4));
        assert_eq!(
            Endpoint::new(9, u16::MAX).next_generation(),
            Endpoint::new(9, 0)
        );
        assert!(ep.is_process());
        assert!(!Endpoint::ANY.is_process());
        assert!(!Endpoint::NONE.is_process());
    }
}
