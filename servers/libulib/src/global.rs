//! Process-wide state of the library (environment, stdio buffers, the
//! working directory). Programs are single-threaded, but a signal handler
//! can run in the middle of any call: the state sits behind a
//! `spin::Mutex` that is only ever *tried*, so a handler that reaches
//! state the interrupted code is using gets `None` from [`Global::with`]
//! (callers fall back, e.g. to an unbuffered print) instead of aliasing it
//! or spinning forever on a lock its own thread holds.

/// A piece of process-wide state.
pub(crate) struct Global<T>(spin::Mutex<T>);

impl<T> Global<T> {
    /// State starting as `v`.
    pub(crate) const fn new(v: T) -> Self {
        Global(spin::Mutex::new(v))
    }

    /// Runs `f` on the state, or returns `None` if it is in use (by the
    /// code a signal handler interrupted).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let mut g = self.0.try_lock()?;
        Some(f(&mut g))
    }
}
