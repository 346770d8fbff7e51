//! The `images` host tool's library: building the OS, boot module lists,
//! running QEMU (`qemu`) and driving its serial console (`session`), the MFS image tool behind the `mfs` binary, the ISO 9660 viewer behind the `isofs` binary (`isotool`), and
//! root disks with the user programs (`rootdisk`), and the bootable
//! installation ISO (`iso`).

pub mod build;
pub mod iso;
pub mod isotool;
pub mod mfstool;
pub mod qemu;
pub mod rootdisk;
pub mod session;
pub mod soakplot;
