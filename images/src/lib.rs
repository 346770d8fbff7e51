//! The `images` host tool's library: building the OS, boot module lists,
//! running QEMU (`qemu`), and the MFS image tool behind the `mfs` binary.

pub mod build;
pub mod mfstool;
pub mod qemu;
pub mod soakplot;
