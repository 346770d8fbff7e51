//! Helpers shared by the system tests in `tests/tests/`.

pub mod fsload;
pub mod mfs;
pub mod proc;
pub mod qemu;
pub mod shell;
pub mod test85;
