//! Typed protocols. Each module owns its raw message-type numbers and
//! payload layouts; everything else uses the typed enums, converted with
//! `to_message()` and `TryFrom<&Message>` (a bad number is an error value).
//!
//! Number ranges: kernel 0x1xx, RS<->service control (SEF) 0x2xx, `service`
//! verbs 0x3xx, DS 0x4xx, sample echo/counter services 0x5xx, character
//! devices 0x8xx, block devices 0x9xx, VFS 0xaxx, VM 0xbxx, PM 0xcxx.

pub mod bdev;
pub mod cdev;
pub mod ds;
pub mod fs;
pub mod kernel;
pub mod pm;
pub mod rs;
pub mod sample;
pub mod service;
pub mod tty;
pub mod vfs;
pub mod vm;
pub mod wire;

/// A fixed-size label field (service labels, program names).
pub const LABEL_LEN: usize = 16;
