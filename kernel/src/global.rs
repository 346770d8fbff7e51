//! `Global<T>`: a kernel-wide value with a borrow flag.
//!
//! The kernel runs on one CPU with interrupts off, so no real lock is
//! needed, but a re-entrant use (a trap while the value is borrowed) would be
//! a kernel bug; the flag turns it into a clean kernel panic instead of
//! aliased `&mut`.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// A value shared by the whole kernel.
pub struct Global<T> {
    borrowed: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access goes through `with`, whose flag guarantees at most one
// `&mut T` exists at a time.
unsafe impl<T: Send> Sync for Global<T> {}

impl<T> Global<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        Self {
            borrowed: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` with exclusive access. Panics on re-entrant use. If `f`
    /// never returns (QEMU exit), the flag simply stays set.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        if self.borrowed.swap(true, Ordering::Acquire) {
            panic!("re-entrant use of a kernel global");
        }
        // SAFETY: the flag was clear, so no other reference exists until we
        // clear it again below.
        let r = f(unsafe { &mut *self.value.get() });
        self.borrowed.store(false, Ordering::Release);
        r
    }
}
