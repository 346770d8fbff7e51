//! RS's `service` verbs for user programs (`/bin/service`): up, down,
//! restart, refresh, update, fi, status and list, as the typed messages of
//! `sys::proto::service`, sent to the process named `rs`.
//!
//! RS serves a user process only when PM says its effective uid is 0;
//! others get `EPERM`. Late replies (up, refresh, update, down) come when
//! RS is done, so these calls block until then.

use crate::errno::{Errno, Result};
use crate::ipc::{self, Server};
use alloc::vec::Vec;
use sys::proto::service::{
    ServiceEntry, ServiceListReply, ServiceReply, ServiceRequest, ServiceStatus,
};

/// Sends `req` to RS (its id replaced by a fresh one) and returns the
/// service's status after the verb, or RS's error (`ESRCH`: no such label,
/// `EBUSY`, `EPERM`: not root, ...).
pub fn request(mut req: ServiceRequest) -> Result<ServiceStatus> {
    set_id(&mut req, ipc::next_id());
    let m = req.to_message()?;
    let r = ipc::call(Server::Rs, &m)?;
    let r = ServiceReply::try_from(&r)?;
    if r.id != req.id() {
        return Err(Errno::EBADCALL);
    }
    r.result
}

/// The `index`-th entry of RS's table; `ESRCH` past the end.
pub fn entry(index: u32) -> Result<ServiceEntry> {
    let id = ipc::next_id();
    let m = ServiceRequest::List { id, index }.to_message()?;
    let r = ipc::call(Server::Rs, &m)?;
    // An error RS gives before it looks at the verb (EPERM) comes as a
    // plain service reply.
    if let Ok(plain) = ServiceReply::try_from(&r) {
        return Err(plain.result.err().unwrap_or(Errno::EBADCALL));
    }
    let r = ServiceListReply::try_from(&r)?;
    if r.id != id {
        return Err(Errno::EBADCALL);
    }
    r.result
}

/// Every entry of RS's table, in table order.
pub fn list() -> Result<Vec<ServiceEntry>> {
    let mut out = Vec::new();
    loop {
        let index = u32::try_from(out.len()).map_err(|_| Errno::EOVERFLOW)?;
        match entry(index) {
            Ok(e) => out.push(e),
            Err(Errno::ESRCH) => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}

fn set_id(req: &mut ServiceRequest, new: u64) {
    match req {
        ServiceRequest::Up { id, .. }
        | ServiceRequest::Down { id, .. }
        | ServiceRequest::Restart { id, .. }
        | ServiceRequest::Refresh { id, .. }
        | ServiceRequest::Update { id, .. }
        | ServiceRequest::Fi { id, .. }
        | ServiceRequest::Status { id, .. }
        | ServiceRequest::List { id, .. } => *id = new,
    }
}
