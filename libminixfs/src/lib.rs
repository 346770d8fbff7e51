//! libminixfs: the block cache every block-based file server stands on.
#![no_std]

extern crate alloc;
