//! mfs: the MINIX file system, V1, V2 and V3.
//!
//! - [`format`]: every on-disk structure and constant, superblock validation.
//! - [`fs`]: the file-system core, [`FileSystem`], with inode-number based
//!   operations like MINIX's VFS<->FS protocol; [`path`] adds path helpers.
//! - [`blockio`]: the seam to the block cache ([`BlockAccess`]); the product
//!   runs on libminixfs's cache over a libbdev device. The core orders its
//!   writes through it so that a power cut needs at most a leak-only fsck
//!   repair (see [`fs`], "Write ordering").
//! - `mkfs` and `fsck` (the tool helper's) make and check images.
//!
//! Used by the MFS server behind VFS and by the host `mfs` tool in `images/`.
#![no_std]

extern crate alloc;

pub mod blockio;
pub mod cache;
pub mod dirindex;
pub mod errno;
pub mod format;
pub mod fs;
pub mod path;
pub mod server;

#[cfg(test)]
mod core_tests;
#[cfg(test)]
mod testutil;

pub use blockio::{BlockAccess, MemBlocks};
pub use cache::CachedDevice;
pub use dirindex::{DirIndexLimits, DirIndexStats};
pub use errno::Errno;
pub use fs::{
    DirEntry, FileSystem, MountError, MountOptions, MountWarning, Stat, StatVfs, Walk, WalkFlags,
};
pub mod fsck;
pub mod mkfs;
