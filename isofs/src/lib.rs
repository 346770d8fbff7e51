//! isofs: a read-only ISO 9660 file system, and its server.
//!
//! - [`format`]: every on-disk structure (volume descriptors, directory
//!   records, SUSP and Rock Ridge entries) as `zerocopy` types, and every
//!   offset and constant.
//! - [`fs`]: the core, [`IsoFs`]: mount (Rock Ridge, else Joliet, else
//!   plain ISO 9660 names, as Linux chooses), inode numbers that name
//!   directory records (so nothing but the mount must survive a restart),
//!   lookups, `getdents`, reads of single- and multi-extent files; [`path`]
//!   adds path resolution.
//! - [`rrip`]: Rock Ridge: PX, PN, NM, SL, TF, CL/PL/RE, continuation areas.
//! - [`names`]: Joliet and plain names as Linux shows them.
//! - [`block`]: the seam to the block cache ([`BlockAccess`]); the product
//!   runs on libminixfs's cache ([`CachedBlocks`]) with prefetch of
//!   sequential runs.
//! - [`server`]: the ISOFS server speaking `sys::proto::fs` to VFS.
//!
//! Corrupt images give [`IsoError::Corrupt`] (EIO), never a panic or a
//! hang: every loop over on-disk data is bounded (see [`fs`]).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod block;
pub mod error;
pub mod format;
pub mod fs;
pub mod names;
pub mod path;
pub mod rrip;
pub mod server;

pub use block::{BlockAccess, CachedBlocks, MemDevice, MemImage};
pub use error::{Corruption, IsoError, Result};
pub use fs::{DirEntry, IsoFs, MountOptions, Naming, Node, Stat, StatVfs, Volume};
