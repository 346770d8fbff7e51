//! Helpers shared by the system tests in `tests/tests/`.

pub mod qemu;
