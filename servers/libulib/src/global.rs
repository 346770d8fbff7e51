//! Process-wide state of the library (environment, stdio buffers, the
//! working directory). Programs are single-threaded, but a signal handler
//! can run in the middle of any call: the state sits in a `RefCell`, so a
//! handler that reaches state the interrupted code is using gets `None`
//! from [`Global::with`] (callers fall back, e.g. to an unbuffered print)
//! instead of aliasing it.

use core::cell::RefCell;

/// A piece of process-wide state.
pub(crate) struct Global<T>(RefCell<T>);

// SAFETY: user programs have one thread; the only concurrency is a signal
// handler interrupting the program, and the `RefCell` borrow flag turns an
// overlapping use into a refused borrow (`with` returns `None`), never two
// live mutable references.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    /// State starting as `v`.
    pub(crate) const fn new(v: T) -> Self {
        Global(RefCell::new(v))
    }

    /// Runs `f` on the state, or returns `None` if it is in use (by the
    /// code a signal handler interrupted).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let mut g = self.0.try_borrow_mut().ok()?;
        Some(f(&mut g))
    }
}
