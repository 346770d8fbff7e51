//! Crash hooks of the native echo sample (`tests/programs/echo`), shared with its
//! test client (`tests/programs/echoclient`): an echo request whose data starts
//! with one of these prefixes makes echo fail in a real way instead of
//! answering, so QEMU tests can show how RS copes with each kind of death.
//! (`service fi` covers the SEF-level crash, a panic.)

/// Echo reads an unmapped address: a page fault (SIGSEGV for RS).
pub const FAULT_PREFIX: &[u8] = b"fault:pf";
/// Echo spins forever without answering anyone: RS's pings go unanswered
/// and RS kills it after two periods.
pub const HANG_PREFIX: &[u8] = b"hang";
/// Echo calls `Exit` with [`EXIT_CODE`] without answering: the kernel
/// keeps it for RS and reports the exit with its code.
pub const EXIT_PREFIX: &[u8] = b"exit";
/// The exit code for [`EXIT_PREFIX`].
pub const EXIT_CODE: i32 = 7;
