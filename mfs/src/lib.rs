//! mfs: the MINIX file system, V1, V2 and V3.
//!
//! `format` holds every on-disk structure and constant; the file-system core
//! (built on `libminixfs`'s block cache over a `libbdev` device) is used by
//! the MFS server behind VFS and by the host `mfs` tool in `images/`.
#![no_std]

extern crate alloc;

pub mod format;
pub mod fsck;
pub mod mkfs;
