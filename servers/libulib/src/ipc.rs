//! Calls to the servers a user process talks to (VFS, PM, VM, and RS for
//! the `service` verbs): endpoint
//! look-up by name (cached), `sendrec` with the typed messages of
//! `sys::proto`, request ids, and grants over the caller's own buffers
//! (revoked when dropped). Nothing here allocates: the heap grows through
//! [`crate::mem`]'s break call from inside the allocator.

use crate::errno::{Errno, Result, from_kernel};
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use sys::GrantId;
use sys::message::Message;
use sys::proto::fs::Buf;
use zerocopy::{FromBytes, IntoBytes};

/// The servers of a user process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Server {
    /// The virtual file system.
    Vfs = 0,
    /// The process manager.
    Pm = 1,
    /// The memory manager.
    Vm = 2,
    /// The reincarnation server (`service` requests; root only).
    Rs = 3,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Vfs => "vfs",
            Server::Pm => "pm",
            Server::Vm => "vm",
            Server::Rs => "rs",
        }
    }
}

const UNKNOWN: u32 = u32::MAX;
static ENDPOINTS: [AtomicU32; 4] = [
    AtomicU32::new(UNKNOWN),
    AtomicU32::new(UNKNOWN),
    AtomicU32::new(UNKNOWN),
    AtomicU32::new(UNKNOWN),
];
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh request id.
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The endpoint of `s` (looked up by name once; `ENOSYS` when no such
/// process runs).
pub(crate) fn endpoint(s: Server) -> Result<u32> {
    let slot = &ENDPOINTS[s as usize];
    let e = slot.load(Ordering::Relaxed);
    if e != UNKNOWN {
        return Ok(e);
    }
    let e = rt::ipc::whois(s.name()).map_err(|_| Errno::ENOSYS)?;
    slot.store(e, Ordering::Relaxed);
    Ok(e)
}

fn forget(s: Server) {
    ENDPOINTS[s as usize].store(UNKNOWN, Ordering::Relaxed);
}

fn raw(m: &Message) -> rt::ipc::Message {
    let mut r = [0u8; rt::abi::MESSAGE_SIZE];
    r.copy_from_slice(m.as_bytes());
    r
}

fn cooked(r: &rt::ipc::Message) -> Message {
    Message::read_from_bytes(&r[..]).unwrap_or_else(|_| Message::new(0))
}

/// How many times a call to a dead server is tried again, a pause apart:
/// RS restarts PM, VM and VFS under their old endpoints within a few
/// ticks (more under a slow TCG guest), and PM and VM keep their tables,
/// so repeating the call reaches the new instance with the same effect.
const DEAD_SERVER_TRIES: u32 = 200;

/// Waits a little before asking a restarted server again: a 5 ms select
/// through VFS while it is not VFS that is down, else one clock tick.
fn pause_for(s: Server) {
    if s != Server::Vfs && crate::time::sleep_ms(5).is_ok() {
        return;
    }
    let start = rt::sys::uptime();
    while rt::sys::uptime() == start {
        core::hint::spin_loop();
    }
}

/// Sends `m` to `s` and waits for the answer. A notification from `s`
/// that arrives in place of the answer is skipped. A dead or restarting
/// server is looked up again and the call repeated, a pause apart, up to
/// [`DEAD_SERVER_TRIES`] times.
pub(crate) fn call(s: Server, m: &Message) -> Result<Message> {
    let mut tries = 0;
    loop {
        let ep = match endpoint(s) {
            Ok(ep) => ep,
            // Looked up again after a death: the name may be missing
            // while RS brings the server back.
            Err(_) if tries > 0 && tries < DEAD_SERVER_TRIES => {
                tries += 1;
                pause_for(s);
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut r = raw(m);
        match rt::ipc::sendrec(ep, &mut r) {
            Ok(()) => {
                let mut reply = cooked(&r);
                while reply.mtype() == rt::abi::NOTIFY_MTYPE && reply.source().0 == ep {
                    reply = cooked(&rt::ipc::receive(ep).map_err(from_kernel)?);
                }
                return Ok(reply);
            }
            // Perm too: while a dead server is replaced, the kernel may
            // not yet count the new instance among a user's servers.
            Err(
                rt::abi::Errno::DeadSrcDst | rt::abi::Errno::BadEndpoint | rt::abi::Errno::Perm,
            ) if tries < DEAD_SERVER_TRIES => {
                forget(s);
                // The first retry goes at once (the server may already be
                // back, or known under a new endpoint); later ones wait.
                if tries > 0 {
                    pause_for(s);
                }
                tries += 1;
            }
            Err(e) => return Err(from_kernel(e)),
        }
    }
}

/// A grant of one of the caller's buffers to a server, revoked on drop
/// (the borrow keeps the buffer alive and unmoved until then).
pub(crate) struct Grant<'a> {
    id: u32,
    len: usize,
    _buf: PhantomData<&'a [u8]>,
}

impl<'a> Grant<'a> {
    /// `buf` readable by `s`.
    pub(crate) fn read(s: Server, buf: &'a [u8]) -> Result<Grant<'a>> {
        let to = endpoint(s)?;
        let id =
            rt::grant::direct(to, buf.as_ptr(), buf.len(), rt::grant::READ).map_err(from_kernel)?;
        Ok(Grant {
            id,
            len: buf.len(),
            _buf: PhantomData,
        })
    }

    /// `buf` writable (and readable) by `s`.
    pub(crate) fn write(s: Server, buf: &'a mut [u8]) -> Result<Grant<'a>> {
        let to = endpoint(s)?;
        let id = rt::grant::direct(
            to,
            buf.as_ptr(),
            buf.len(),
            rt::grant::READ | rt::grant::WRITE,
        )
        .map_err(from_kernel)?;
        Ok(Grant {
            id,
            len: buf.len(),
            _buf: PhantomData,
        })
    }

    /// The grant as a protocol buffer (`EINVAL` above 4 GiB).
    pub(crate) fn buf(&self) -> Result<Buf> {
        Ok(Buf {
            grant: GrantId(self.id),
            len: u32::try_from(self.len).map_err(|_| Errno::EINVAL)?,
        })
    }
}

impl Drop for Grant<'_> {
    fn drop(&mut self) {
        // Fails only for an id that is not ours; nothing to do then.
        let _ = rt::grant::revoke(self.id);
    }
}
