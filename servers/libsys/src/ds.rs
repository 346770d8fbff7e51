//! DS client calls (blocking `sendrec` to [`Endpoint::DS`]). Strings and
//! blobs are passed through grants that are always revoked before return.

use crate::endpoint::Endpoint;
use crate::errno::Errno;
use crate::ipc::{GrantAccess, Sys};
use crate::proto::ds::{DsAnswer, DsFlags, DsReply, DsRequest, DsType, PubValue};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

fn call(sys: &mut dyn Sys, req: DsRequest) -> Result<DsAnswer, Errno> {
    let reply = sys.sendrec(Endpoint::DS, req.to_message()?)?;
    DsReply::try_from(&reply)?.result
}

fn with_grant<T>(
    sys: &mut dyn Sys,
    access: GrantAccess,
    buf: Vec<u8>,
    f: impl FnOnce(&mut dyn Sys, crate::ipc::GrantId) -> Result<T, Errno>,
) -> Result<(T, Vec<u8>), Errno> {
    let gid = sys.grant_create(Endpoint::DS, access, buf)?;
    let r = f(sys, gid);
    let buf = sys.grant_revoke(gid)?;
    r.map(|t| (t, buf))
}

/// Publish a u32.
pub fn publish_u32(sys: &mut dyn Sys, key: &str, v: u32, flags: DsFlags) -> Result<(), Errno> {
    call(
        sys,
        DsRequest::Publish {
            id: 0,
            key: key.into(),
            value: PubValue::U32(v),
            flags,
        },
    )
    .map(drop)
}

/// Publish a label -> endpoint mapping (RS only; others get `EPERM`).
pub fn publish_label(
    sys: &mut dyn Sys,
    key: &str,
    ep: Endpoint,
    flags: DsFlags,
) -> Result<(), Errno> {
    call(
        sys,
        DsRequest::Publish {
            id: 0,
            key: key.into(),
            value: PubValue::Label(ep),
            flags,
        },
    )
    .map(drop)
}

fn publish_bytes(
    sys: &mut dyn Sys,
    key: &str,
    data: &[u8],
    flags: DsFlags,
    string: bool,
) -> Result<(), Errno> {
    let len = u32::try_from(data.len()).map_err(|_| Errno::E2BIG)?;
    with_grant(sys, GrantAccess::READ, data.to_vec(), |sys, grant| {
        let value = if string {
            PubValue::Str { grant, len }
        } else {
            PubValue::Mem { grant, len }
        };
        call(
            sys,
            DsRequest::Publish {
                id: 0,
                key: key.into(),
                value,
                flags,
            },
        )
    })
    .map(drop)
}

/// Publish a string.
pub fn publish_str(sys: &mut dyn Sys, key: &str, s: &str, flags: DsFlags) -> Result<(), Errno> {
    publish_bytes(sys, key, s.as_bytes(), flags, true)
}

/// Publish a byte blob.
pub fn publish_mem(sys: &mut dyn Sys, key: &str, data: &[u8], flags: DsFlags) -> Result<(), Errno> {
    publish_bytes(sys, key, data, flags, false)
}

/// Retrieve a u32 (`ESRCH` if absent).
pub fn retrieve_u32(sys: &mut dyn Sys, key: &str) -> Result<u32, Errno> {
    call(
        sys,
        DsRequest::Retrieve {
            id: 0,
            key: key.into(),
            ty: DsType::U32,
            grant: None,
        },
    )
    .map(|a| a.value)
}

/// Retrieve a label's endpoint (`ESRCH` if absent).
pub fn retrieve_label(sys: &mut dyn Sys, key: &str) -> Result<Endpoint, Errno> {
    call(
        sys,
        DsRequest::Retrieve {
            id: 0,
            key: key.into(),
            ty: DsType::Label,
            grant: None,
        },
    )
    .map(|a| Endpoint(a.value))
}

fn retrieve_bytes(sys: &mut dyn Sys, key: &str, max: usize, ty: DsType) -> Result<Vec<u8>, Errno> {
    let cap = u32::try_from(max).map_err(|_| Errno::E2BIG)?;
    let (ans, mut buf) = with_grant(sys, GrantAccess::WRITE, vec![0; max], |sys, gid| {
        call(
            sys,
            DsRequest::Retrieve {
                id: 0,
                key: key.into(),
                ty,
                grant: Some((gid, cap)),
            },
        )
    })?;
    if ans.len > cap {
        return Err(Errno::EOVERFLOW);
    }
    buf.truncate(ans.len as usize);
    Ok(buf)
}

/// Retrieve a string of at most `max` bytes (`EOVERFLOW` if longer).
pub fn retrieve_str(sys: &mut dyn Sys, key: &str, max: usize) -> Result<String, Errno> {
    String::from_utf8(retrieve_bytes(sys, key, max, DsType::Str)?).map_err(|_| Errno::EINVAL)
}

/// Retrieve a blob of at most `max` bytes (`EOVERFLOW` if longer).
pub fn retrieve_mem(sys: &mut dyn Sys, key: &str, max: usize) -> Result<Vec<u8>, Errno> {
    retrieve_bytes(sys, key, max, DsType::Mem)
}

/// Delete an entry (owner only).
pub fn delete(sys: &mut dyn Sys, key: &str, ty: DsType) -> Result<(), Errno> {
    call(
        sys,
        DsRequest::Delete {
            id: 0,
            key: key.into(),
            ty,
        },
    )
    .map(drop)
}

/// Subscribe to a glob pattern; changes arrive as DS notifications, then
/// fetch them with [`check`].
pub fn subscribe(
    sys: &mut dyn Sys,
    pattern: &str,
    type_mask: u16,
    flags: DsFlags,
) -> Result<(), Errno> {
    call(
        sys,
        DsRequest::Subscribe {
            id: 0,
            pattern: pattern.into(),
            type_mask,
            flags,
        },
    )
    .map(drop)
}

/// One change reported by DS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Key.
    pub key: String,
    /// Type.
    pub ty: DsType,
    /// Deleted (else published).
    pub deleted: bool,
    /// Inline value after publish (u32, or endpoint number for labels).
    pub value: u32,
}

/// Fetch one pending change; `None` when there are no more.
pub fn check(sys: &mut dyn Sys) -> Result<Option<Change>, Errno> {
    match call(sys, DsRequest::Check { id: 0 }) {
        Ok(a) => Ok(Some(Change {
            key: a.key,
            ty: a.ty.ok_or(Errno::EBADCALL)?,
            deleted: a.deleted,
            value: a.value,
        })),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The label DS has for `ep`.
pub fn label_name(sys: &mut dyn Sys, ep: Endpoint) -> Result<String, Errno> {
    call(
        sys,
        DsRequest::LabelName {
            id: 0,
            endpoint: ep,
        },
    )
    .map(|a| a.key)
}

/// "Only the process labelled X may ask": a server's check of the sender
/// of each request against a label in DS (MFS and PFS answer only VFS).
/// The endpoint is remembered and looked up again whenever anyone else
/// sends, so a client restarted at a new endpoint is recognised.
#[derive(Debug, Clone, Default)]
pub struct OnlyClient {
    label: Option<&'static str>,
    ep: Option<Endpoint>,
}

impl OnlyClient {
    /// Accept only the process DS names `label`; `None` accepts anyone.
    pub fn new(label: Option<&'static str>) -> Self {
        OnlyClient { label, ep: None }
    }

    /// Whether `from` may send requests.
    pub fn allows(&mut self, sys: &mut dyn Sys, from: Endpoint) -> bool {
        let Some(label) = self.label else {
            return true;
        };
        if self.ep == Some(from) {
            return true;
        }
        match retrieve_label(sys, label) {
            Ok(ep) => {
                self.ep = Some(ep);
                ep == from
            }
            Err(_) => false,
        }
    }
}
