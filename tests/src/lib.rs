//! Helpers shared by the system tests in `tests/tests/`.

pub mod mfs;
pub mod qemu;
