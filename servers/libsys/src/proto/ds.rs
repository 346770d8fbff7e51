//! DS (data store) protocol: publish / retrieve / delete / subscribe / check
//! on keys with typed values (u32, label->endpoint, string, byte blob).
//! Strings and blobs travel through grants (the caller grants DS its buffer);
//! u32 and endpoint values travel inline. Keys are at most [`KEY_LEN`] bytes
//! (MINIX allows 80; ours must fit a message next to the request id).

use crate::endpoint::Endpoint;
use crate::errno::Errno;
use crate::ipc::GrantId;
use crate::message::{Message, get_name, put_name};
use alloc::string::{String, ToString};
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

const PUBLISH: u32 = 0x400;
const RETRIEVE: u32 = 0x401;
const DELETE: u32 = 0x402;
const SUBSCRIBE: u32 = 0x403;
const CHECK: u32 = 0x404;
const LABEL_NAME: u32 = 0x405;
const REPLY: u32 = 0x480;

/// Longest key / pattern in bytes.
pub const KEY_LEN: usize = 32;

const T_U32: u16 = 0x010;
const T_STR: u16 = 0x020;
const T_MEM: u16 = 0x040;
const T_LABEL: u16 = 0x100;

/// Value types (MINIX DSF_TYPE_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DsType {
    /// A `u32`.
    U32,
    /// A UTF-8 string.
    Str,
    /// A byte blob.
    Mem,
    /// A label -> endpoint mapping (published by RS only).
    Label,
}

impl DsType {
    /// Bit used in subscription type masks.
    pub const fn bit(self) -> u16 {
        match self {
            DsType::U32 => T_U32,
            DsType::Str => T_STR,
            DsType::Mem => T_MEM,
            DsType::Label => T_LABEL,
        }
    }
    fn from_raw(v: u16) -> Result<Self, Errno> {
        Ok(match v {
            T_U32 => DsType::U32,
            T_STR => DsType::Str,
            T_MEM => DsType::Mem,
            T_LABEL => DsType::Label,
            _ => return Err(Errno::EINVAL),
        })
    }
}

/// Publish / subscribe flags (MINIX DSF_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct DsFlags(pub u16);

impl DsFlags {
    /// No flags.
    pub const NONE: DsFlags = DsFlags(0);
    /// Only the owner may retrieve.
    pub const PRIV_RETRIEVE: DsFlags = DsFlags(0x002);
    /// Only the owner may overwrite.
    pub const PRIV_OVERWRITE: DsFlags = DsFlags(0x004);
    /// Only the owner may be notified.
    pub const PRIV_SUBSCRIBE: DsFlags = DsFlags(0x008);
    /// Publish: replace an existing entry. Subscribe: replace an existing
    /// subscription with the same pattern.
    pub const OVERWRITE: DsFlags = DsFlags(0x1000);
    /// Subscribe: report every currently matching entry at once.
    pub const INITIAL: DsFlags = DsFlags(0x2000);

    /// Whether all bits of `other` are set.
    pub const fn has(self, other: DsFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Union.
    pub const fn with(self, other: DsFlags) -> DsFlags {
        DsFlags(self.0 | other.0)
    }
}

/// A value being published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubValue {
    /// Inline u32.
    U32(u32),
    /// Inline endpoint (RS only).
    Label(Endpoint),
    /// String of `len` bytes in the caller's grant.
    Str {
        /// Grant (read access for DS).
        grant: GrantId,
        /// Length in bytes.
        len: u32,
    },
    /// Blob of `len` bytes in the caller's grant.
    Mem {
        /// Grant (read access for DS).
        grant: GrantId,
        /// Length in bytes.
        len: u32,
    },
}

/// A DS request. The id is echoed in the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DsRequest {
    /// Publish `key`.
    Publish {
        /// Request id.
        id: u64,
        /// Key.
        key: String,
        /// Value.
        value: PubValue,
        /// Flags.
        flags: DsFlags,
    },
    /// Retrieve `key` of type `ty`. Str/Mem need a grant with write access
    /// and its capacity; the reply's `len` is the stored length (copied:
    /// min(len, cap)).
    Retrieve {
        /// Request id.
        id: u64,
        /// Key.
        key: String,
        /// Type.
        ty: DsType,
        /// Grant and capacity for Str/Mem.
        grant: Option<(GrantId, u32)>,
    },
    /// Delete `key` of type `ty` (owner only).
    Delete {
        /// Request id.
        id: u64,
        /// Key.
        key: String,
        /// Type.
        ty: DsType,
    },
    /// Subscribe to keys matching a glob `pattern` (`*`, `?`, anchored).
    /// `type_mask` is a union of [`DsType::bit`]s; 0 means all types.
    Subscribe {
        /// Request id.
        id: u64,
        /// Pattern.
        pattern: String,
        /// Type mask.
        type_mask: u16,
        /// Flags (OVERWRITE, INITIAL).
        flags: DsFlags,
    },
    /// Fetch one pending change (lowest key first); `ENOENT` when none.
    Check {
        /// Request id.
        id: u64,
    },
    /// Which label is `endpoint`?
    LabelName {
        /// Request id.
        id: u64,
        /// The endpoint.
        endpoint: Endpoint,
    },
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct P {
    id: U64,
    key: [u8; KEY_LEN],
    ty: U16,
    flags: U16,
    a: U32,
    b: U32,
    c: U32,
}

const _: () = assert!(core::mem::size_of::<P>() == 56);

impl P {
    fn new(id: u64) -> Self {
        P {
            id: U64::new(id),
            key: [0; KEY_LEN],
            ty: U16::new(0),
            flags: U16::new(0),
            a: U32::new(0),
            b: U32::new(0),
            c: U32::new(0),
        }
    }
}

// Value kinds in `a` of a Publish request carrying a grant.
const PUB_INLINE: u32 = 0;

impl DsRequest {
    /// Encode; key errors as errno.
    pub fn to_message(&self) -> Result<Message, Errno> {
        let (mtype, p) = match self {
            DsRequest::Publish {
                id,
                key,
                value,
                flags,
            } => {
                let mut p = P::new(*id);
                put_name(&mut p.key, key)?;
                p.flags = U16::new(flags.0);
                match *value {
                    PubValue::U32(v) => {
                        p.ty = U16::new(T_U32);
                        p.b = U32::new(v);
                        p.a = U32::new(PUB_INLINE);
                    }
                    PubValue::Label(ep) => {
                        p.ty = U16::new(T_LABEL);
                        p.b = U32::new(ep.0);
                    }
                    PubValue::Str { grant, len } => {
                        p.ty = U16::new(T_STR);
                        p.b = U32::new(grant.0);
                        p.c = U32::new(len);
                    }
                    PubValue::Mem { grant, len } => {
                        p.ty = U16::new(T_MEM);
                        p.b = U32::new(grant.0);
                        p.c = U32::new(len);
                    }
                }
                (PUBLISH, p)
            }
            DsRequest::Retrieve { id, key, ty, grant } => {
                let mut p = P::new(*id);
                put_name(&mut p.key, key)?;
                p.ty = U16::new(ty.bit());
                if let Some((g, cap)) = grant {
                    p.a = U32::new(1);
                    p.b = U32::new(g.0);
                    p.c = U32::new(*cap);
                }
                (RETRIEVE, p)
            }
            DsRequest::Delete { id, key, ty } => {
                let mut p = P::new(*id);
                put_name(&mut p.key, key)?;
                p.ty = U16::new(ty.bit());
                (DELETE, p)
            }
            DsRequest::Subscribe {
                id,
                pattern,
                type_mask,
                flags,
            } => {
                let mut p = P::new(*id);
                put_name(&mut p.key, pattern)?;
                p.ty = U16::new(*type_mask);
                p.flags = U16::new(flags.0);
                (SUBSCRIBE, p)
            }
            DsRequest::Check { id } => (CHECK, P::new(*id)),
            DsRequest::LabelName { id, endpoint } => {
                let mut p = P::new(*id);
                p.b = U32::new(endpoint.0);
                (LABEL_NAME, p)
            }
        };
        Ok(Message::with(mtype, &p))
    }
}

impl TryFrom<&Message> for DsRequest {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        let p: P = m.payload_as()?;
        let id = p.id.get();
        Ok(match m.mtype() {
            PUBLISH => {
                let key = get_name(&p.key)?.to_string();
                let b = p.b.get();
                let value = match p.ty.get() {
                    T_U32 => PubValue::U32(b),
                    T_LABEL => PubValue::Label(Endpoint(b)),
                    T_STR => PubValue::Str {
                        grant: GrantId(b),
                        len: p.c.get(),
                    },
                    T_MEM => PubValue::Mem {
                        grant: GrantId(b),
                        len: p.c.get(),
                    },
                    _ => return Err(Errno::EINVAL),
                };
                DsRequest::Publish {
                    id,
                    key,
                    value,
                    flags: DsFlags(p.flags.get()),
                }
            }
            RETRIEVE => DsRequest::Retrieve {
                id,
                key: get_name(&p.key)?.to_string(),
                ty: DsType::from_raw(p.ty.get())?,
                grant: (p.a.get() == 1).then(|| (GrantId(p.b.get()), p.c.get())),
            },
            DELETE => DsRequest::Delete {
                id,
                key: get_name(&p.key)?.to_string(),
                ty: DsType::from_raw(p.ty.get())?,
            },
            SUBSCRIBE => DsRequest::Subscribe {
                id,
                pattern: get_name(&p.key)?.to_string(),
                type_mask: p.ty.get(),
                flags: DsFlags(p.flags.get()),
            },
            CHECK => DsRequest::Check { id },
            LABEL_NAME => DsRequest::LabelName {
                id,
                endpoint: Endpoint(p.b.get()),
            },
            // An unknown request type: the server answers ENOSYS.
            _ => return Err(Errno::ENOSYS),
        })
    }
}

/// What changed, as reported by [`DsRequest::Check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Published (created or overwritten).
    Published,
    /// Deleted.
    Deleted,
}

/// A successful DS answer. Fields not meaningful for a request are empty/zero.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DsAnswer {
    /// Key (Check, LabelName).
    pub key: String,
    /// Type (Retrieve, Check).
    pub ty: Option<DsType>,
    /// Inline value: u32, or endpoint number for labels (Retrieve, Check of
    /// a published u32/label).
    pub value: u32,
    /// Stored length of a string/blob (Retrieve).
    pub len: u32,
    /// Check: the entry was deleted (else published).
    pub deleted: bool,
}

/// DS reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsReply {
    /// The request's id.
    pub id: u64,
    /// Outcome.
    pub result: Result<DsAnswer, Errno>,
}

impl DsReply {
    /// Encode.
    pub fn to_message(&self) -> Message {
        let mut p = P::new(self.id);
        match &self.result {
            Ok(a) => {
                if !a.key.is_empty() {
                    // Keys DS stores always fit; a failure here would be a DS bug.
                    let _ = put_name(&mut p.key, &a.key);
                }
                p.ty = U16::new(a.ty.map(|t| t.bit()).unwrap_or(0));
                p.flags = U16::new(u16::from(a.deleted));
                p.a = U32::new(a.value);
                p.b = U32::new(a.len);
            }
            Err(e) => p.c = U32::new(e.code().wrapping_neg() as u32),
        }
        Message::with(REPLY, &p)
    }
}

impl TryFrom<&Message> for DsReply {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        if m.mtype() != REPLY {
            return Err(Errno::EBADCALL);
        }
        let p: P = m.payload_as()?;
        let result = match Errno::from_status(p.c.get() as i32) {
            Err(e) => Err(e),
            Ok(()) => Ok(DsAnswer {
                key: if p.key[0] == 0 {
                    String::new()
                } else {
                    get_name(&p.key)?.to_string()
                },
                ty: match p.ty.get() {
                    0 => None,
                    t => Some(DsType::from_raw(t)?),
                },
                value: p.a.get(),
                len: p.b.get(),
                deleted: p.flags.get() != 0,
            }),
        };
        Ok(DsReply {
            id: p.id.get(),
            result,
        })
    }
}

/// Whether a DS message type is a request (DS uses this to tell its
/// protocol from others).
pub fn is_request(mtype: u32) -> bool {
    (PUBLISH..=LABEL_NAME).contains(&mtype)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::hex;
    use alloc::vec::Vec;

    const GOLDEN: &[&str] = &[
        "400:0100000000000000612e620000000000000000000000000000000000000000000000000000000000100000100000000007",
        "400:02000000000000006563686f000000000000000000000000000000000000000000000000000000000001000000000000050001",
        "400:0300000000000000730000000000000000000000000000000000000000000000000000000000000040000400000000000400000064",
        "400:0300000000000000730000000000000000000000000000000000000000000000000000000000000020000000000000000100000003",
        "401:0400000000000000730000000000000000000000000000000000000000000000000000000000000040000000010000000200000040",
        "401:0500000000000000730000000000000000000000000000000000000000000000000000000000000010",
        "402:060000000000000073000000000000000000000000000000000000000000000000000000000000000001",
        "403:07000000000000006472762e2a00000000000000000000000000000000000000000000000000000000000020",
        "404:08",
        "405:090000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000090009",
        "400:0a000000000000006b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b10000a0000000000ffffffff",
        "480:01",
        "480:02000000000000006b00000000000000000000000000000000000000000000000000000000000000000101004d",
        "480:03000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000fdffffff",
        "480:040000000000000000000000000000000000000000000000000000000000000000000000000000002000000000000000e803",
    ];

    /// One instance of each request shape: the round trip and the golden
    /// wire bytes use the same list.
    fn sample_requests() -> Vec<DsRequest> {
        alloc::vec![
            DsRequest::Publish {
                id: 1,
                key: "a.b".into(),
                value: PubValue::U32(7),
                flags: DsFlags::OVERWRITE,
            },
            DsRequest::Publish {
                id: 2,
                key: "echo".into(),
                value: PubValue::Label(Endpoint::new(5, 1)),
                flags: DsFlags::NONE,
            },
            DsRequest::Publish {
                id: 3,
                key: "s".into(),
                value: PubValue::Mem {
                    grant: GrantId(4),
                    len: 100,
                },
                flags: DsFlags::PRIV_OVERWRITE,
            },
            DsRequest::Publish {
                id: 3,
                key: "s".into(),
                value: PubValue::Str {
                    grant: GrantId(1),
                    len: 3,
                },
                flags: DsFlags::NONE,
            },
            DsRequest::Retrieve {
                id: 4,
                key: "s".into(),
                ty: DsType::Mem,
                grant: Some((GrantId(2), 64)),
            },
            DsRequest::Retrieve {
                id: 5,
                key: "s".into(),
                ty: DsType::U32,
                grant: None,
            },
            DsRequest::Delete {
                id: 6,
                key: "s".into(),
                ty: DsType::Label,
            },
            DsRequest::Subscribe {
                id: 7,
                pattern: "drv.*".into(),
                type_mask: 0,
                flags: DsFlags::INITIAL,
            },
            DsRequest::Check { id: 8 },
            DsRequest::LabelName {
                id: 9,
                endpoint: Endpoint::new(9, 9),
            },
            DsRequest::Publish {
                id: 10,
                key: "k".repeat(KEY_LEN),
                value: PubValue::U32(u32::MAX),
                flags: DsFlags::PRIV_RETRIEVE.with(DsFlags::PRIV_SUBSCRIBE),
            },
        ]
    }

    /// One reply of each shape (round trip and golden bytes).
    fn sample_replies() -> Vec<DsReply> {
        alloc::vec![
            DsReply {
                id: 1,
                result: Ok(DsAnswer::default()),
            },
            DsReply {
                id: 2,
                result: Ok(DsAnswer {
                    key: "k".into(),
                    ty: Some(DsType::Label),
                    value: 77,
                    len: 0,
                    deleted: true,
                }),
            },
            DsReply {
                id: 3,
                result: Err(Errno::ESRCH),
            },
            DsReply {
                id: 4,
                result: Ok(DsAnswer {
                    key: String::new(),
                    ty: Some(DsType::Str),
                    value: 0,
                    len: 1000,
                    deleted: false,
                }),
            },
        ]
    }

    #[test]
    fn requests_roundtrip() {
        for r in sample_requests() {
            let m = r.to_message().unwrap();
            assert!(is_request(m.mtype()));
            assert_eq!(DsRequest::try_from(&m).unwrap(), r);
        }
        let long = "k".repeat(KEY_LEN + 1);
        assert!(DsRequest::Check { id: 0 }.to_message().is_ok());
        assert_eq!(
            DsRequest::Delete {
                id: 0,
                key: long,
                ty: DsType::U32
            }
            .to_message(),
            Err(Errno::ENAMETOOLONG)
        );
        assert_eq!(
            DsRequest::Delete {
                id: 0,
                key: String::new(),
                ty: DsType::U32
            }
            .to_message(),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn replies_roundtrip() {
        for r in sample_replies() {
            let m = r.to_message();
            assert!(!is_request(m.mtype()));
            assert_eq!(m.request_id(), r.id);
            assert_eq!(DsReply::try_from(&m).unwrap(), r);
        }
    }

    /// Malformed messages decode to errors: an unknown type, a bad value
    /// type, a key that is not UTF-8 or is empty, a forged status.
    #[test]
    fn malformed_messages_are_errors() {
        assert_eq!(
            DsRequest::try_from(&Message::new(0x4ff)),
            Err(Errno::ENOSYS)
        );
        assert_eq!(
            DsReply::try_from(&Message::new(PUBLISH)),
            Err(Errno::EBADCALL)
        );
        let publish = sample_requests()[0].to_message().unwrap();
        // The value type (payload bytes 40..42) is not a DsType bit.
        let mut m = publish;
        m.payload_mut()[40] = 0x33;
        assert_eq!(DsRequest::try_from(&m), Err(Errno::EINVAL));
        // A key that is not UTF-8.
        let mut m = publish;
        m.payload_mut()[8] = 0xff;
        assert_eq!(DsRequest::try_from(&m), Err(Errno::EINVAL));
        // An empty key.
        let mut m = publish;
        m.payload_mut()[8] = 0;
        assert_eq!(DsRequest::try_from(&m), Err(Errno::EINVAL));
        // Retrieve of a type DS does not know.
        let mut m = sample_requests()[4].to_message().unwrap();
        m.payload_mut()[40] = 0x7;
        assert_eq!(DsRequest::try_from(&m), Err(Errno::EINVAL));
        // A reply with an unknown type, and with a positive status.
        let mut m = sample_replies()[1].to_message();
        m.payload_mut()[40] = 0x7;
        assert_eq!(DsReply::try_from(&m), Err(Errno::EINVAL));
        let mut m = sample_replies()[0].to_message();
        m.payload_mut()[52] = 5;
        assert_eq!(DsReply::try_from(&m).unwrap().result, Err(Errno::EBADCALL));
    }

    /// The wire bytes of one instance of each message, fixed from the
    /// hand-written encoder this module had before it was declared with
    /// `messages!`.
    #[test]
    fn golden_wire_bytes() {
        let got: Vec<String> = sample_requests()
            .iter()
            .map(|r| hex(&r.to_message().unwrap()))
            .chain(sample_replies().iter().map(|r| hex(&r.to_message())))
            .collect();
        assert_eq!(got, GOLDEN);
    }
}
