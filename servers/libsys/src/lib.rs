//! `sys`: libsys + SEF for the system servers.
//!
//! What every server links: the 64-byte [`Message`], [`Endpoint`]s
//! (`generation << 16 | slot`), the [`Errno`] type, one typed module per
//! protocol in [`proto`] (the only place raw message numbers appear), the
//! transport trait [`Sys`] and process trait [`Process`] that both runtimes
//! implement (the native kernel loop, and the `sim` crate's deterministic
//! simulator), DS client calls in [`ds`], disk names in [`devname`], and
//! SEF in [`sef`] (init kinds, automatic ping replies, signals,
//! crc-checked state save/restore).
//!
//! `no_std` + `alloc`; no `unsafe`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod devname;
pub mod ds;
pub mod endpoint;
pub mod errno;
pub mod fsserver;
pub mod ipc;
pub mod message;
pub mod proto;
pub mod sef;

pub use endpoint::Endpoint;
pub use errno::Errno;
pub use ipc::{
    GrantAccess, GrantId, HZ, IpcTargets, Privileges, Process, SpawnAt, SpawnSpec, Sys, Ticks,
};
pub use message::Message;
pub use sef::{Ctx, InitInfo, Sef, Service, StateStore};
