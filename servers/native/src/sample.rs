//! Crash hooks of the native echo sample (`servers/echo`), shared with its
//! test client (`servers/echoclient`): an echo request whose data starts
//! with one of these prefixes makes echo fail in a real way instead of
//! answering, so QEMU tests can show how RS copes with each kind of death.
//! (`service fi` covers the SEF-level crash, a panic.)

/// Echo reads an unmapped address: a page fault (SIGSEGV for RS).
pub const FAULT_PREFIX: &[u8] = b"fault:pf";
/// Echo spins forever without answering anyone: RS's pings go unanswered
/// and RS kills it after two periods.
pub const HANG_PREFIX: &[u8] = b"hang";
