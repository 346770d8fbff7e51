//! mfs: the MINIX file system, V1, V2 and V3.
#![no_std]

extern crate alloc;
