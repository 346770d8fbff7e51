//! `pfs`: the pipe file server.
//!
//! - [`pipe`]: the runtime-neutral pipe core — bounded buffers, POSIX
//!   blocking / non-blocking semantics, FIFO open rendezvous, select
//!   readiness and watches — as a pure state machine whose suspended
//!   operations are explicit pending records, so the server answers them
//!   asynchronously and VFS never blocks on PFS.
//!
//! - [`proto`]: the pipe requests (FIFO open, close of an end, select,
//!   cancel) that extend the VFS<->FS protocol of `sys::proto::fs`.
//! - [`server`]: the PFS [`sys::Service`] over the core.
//! - [`select`]: the select core VFS drives — fd sets, timeouts, queries to
//!   drivers/PFS, the early-alarm rule, dead drivers reporting ready.
//!
//! The server speaks the VFS<->FS protocol subset pipes need and keeps pipe
//! contents across a stateful restart by saving the core's state blob.
//! `no_std` + `alloc`; talks only through [`sys::Sys`].
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod codec;
pub mod pipe;
pub mod proto;
pub mod select;
pub mod server;

pub use pipe::{Access, Done, Event, Outcome, PIPE_BUF, PipeId, Pipes, Token};
