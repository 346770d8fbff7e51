//! The pure parts of the file utilities (`commands/fileutils`): everything
//! a utility computes without calling a server, so it is tested on the
//! host. See the README for the modules.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod chmod;
pub mod columns;
pub mod dd;
pub mod mode;
pub mod mtab;
pub mod owner;
pub mod paths;
pub mod size;
