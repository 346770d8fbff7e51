//! DS (data store) protocol: publish / retrieve / delete / subscribe / check
//! on keys with typed values (u32, label->endpoint, string, byte blob).
//! Strings and blobs travel through grants (the caller grants DS its buffer);
//! u32 and endpoint values travel inline. Keys are at most [`KEY_LEN`] bytes
//! (MINIX allows 80; ours must fit a message next to the request id).

use crate::endpoint::Endpoint;
use crate::errno::Errno;
use crate::ipc::GrantId;
use crate::message::{Message, get_name, put_name};
use crate::proto::wire::{Codec, Le, Name, NonZero, messages};
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

messages! {
    /// A DS request. The id is echoed in the reply.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum DsRequest in P, unknown ENOSYS, fallible {
        /// Publish `key`.
        Publish = PUBLISH {
            /// Request id.
            id: u64 => id,
            /// Key.
            key: String => key via Name,
            /// Value.
            value: PubValue => (ty, b, c),
            /// Flags.
            flags: DsFlags => flags,
        },
        /// Retrieve `key` of type `ty`. Str/Mem need a grant with write access
        /// and its capacity; the reply's `len` is the stored length (copied:
        /// min(len, cap)).
        Retrieve = RETRIEVE {
            /// Request id.
            id: u64 => id,
            /// Key.
            key: String => key via Name,
            /// Type.
            ty: DsType => ty,
            /// Grant and capacity for Str/Mem.
            grant: Option<(GrantId, u32)> => (a, b, c) via Granted,
        },
        /// Delete `key` of type `ty` (owner only).
        Delete = DELETE {
            /// Request id.
            id: u64 => id,
            /// Key.
            key: String => key via Name,
            /// Type.
            ty: DsType => ty,
        },
        /// Subscribe to keys matching a glob `pattern` (`*`, `?`, anchored).
        /// `type_mask` is a union of [`DsType::bit`]s; 0 means all types.
        Subscribe = SUBSCRIBE {
            /// Request id.
            id: u64 => id,
            /// Pattern.
            pattern: String => key via Name,
            /// Type mask.
            type_mask: u16 => ty,
            /// Flags (OVERWRITE, INITIAL).
            flags: DsFlags => flags,
        },
        /// Fetch one pending change (lowest key first); `ENOENT` when none.
        Check = CHECK {
            /// Request id.
            id: u64 => id,
        },
        /// Which label is `endpoint`?
        LabelName = LABEL_NAME {
            /// Request id.
            id: u64 => id,
            /// The endpoint.
            endpoint: Endpoint => b,
        },
    }
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

/// A value type in its type slot; an unknown type is `EINVAL`.
impl Codec<DsType, U16> for Le {
    fn enc(t: DsType) -> U16 {
        U16::new(t.bit())
    }
    fn dec(w: U16) -> Result<DsType, Errno> {
        DsType::from_raw(w.get())
    }
}

/// A reply's type slot: 0 for none.
impl Codec<Option<DsType>, U16> for Le {
    fn enc(t: Option<DsType>) -> U16 {
        U16::new(t.map_or(0, DsType::bit))
    }
    fn dec(w: U16) -> Result<Option<DsType>, Errno> {
        match w.get() {
            0 => Ok(None),
            t => DsType::from_raw(t).map(Some),
        }
    }
}

impl Codec<DsFlags, U16> for Le {
    fn enc(f: DsFlags) -> U16 {
        U16::new(f.0)
    }
    fn dec(w: U16) -> Result<DsFlags, Errno> {
        Ok(DsFlags(w.get()))
    }
}

/// A published value: its type, then an inline value or a grant in `b`
/// and a length in `c`.
impl Codec<PubValue, (U16, U32, U32)> for Le {
    fn enc(v: PubValue) -> (U16, U32, U32) {
        let (t, b, c) = match v {
            PubValue::U32(v) => (T_U32, v, 0),
            PubValue::Label(ep) => (T_LABEL, ep.0, 0),
            PubValue::Str { grant, len } => (T_STR, grant.0, len),
            PubValue::Mem { grant, len } => (T_MEM, grant.0, len),
        };
        (U16::new(t), U32::new(b), U32::new(c))
    }
    fn dec((t, b, c): (U16, U32, U32)) -> Result<PubValue, Errno> {
        let (b, len) = (b.get(), c.get());
        Ok(match DsType::from_raw(t.get())? {
            DsType::U32 => PubValue::U32(b),
            DsType::Label => PubValue::Label(Endpoint(b)),
            DsType::Str => PubValue::Str {
                grant: GrantId(b),
                len,
            },
            DsType::Mem => PubValue::Mem {
                grant: GrantId(b),
                len,
            },
        })
    }
}

/// An optional grant and capacity: `a` = 1 says there is one (grant in
/// `b`, capacity in `c`); any other `a` means none.
struct Granted;

impl Codec<Option<(GrantId, u32)>, (U32, U32, U32)> for Granted {
    fn enc(g: Option<(GrantId, u32)>) -> (U32, U32, U32) {
        let (a, b, c) = g.map_or((0, 0, 0), |(g, cap)| (1, g.0, cap));
        (U32::new(a), U32::new(b), U32::new(c))
    }
    fn dec((a, b, c): (U32, U32, U32)) -> Result<Option<(GrantId, u32)>, Errno> {
        Ok((a.get() == 1).then(|| (GrantId(b.get()), c.get())))
    }
}

/// A reply status in an unsigned slot: 0, or the errno negated.
struct UStatus;

impl Codec<Result<(), Errno>, U32> for UStatus {
    fn enc(r: Result<(), Errno>) -> U32 {
        U32::new(Errno::to_status(r) as u32)
    }
    fn dec(w: U32) -> Result<Result<(), Errno>, Errno> {
        Ok(Errno::from_status(w.get() as i32))
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

messages! {
    /// The wire form of [`DsReply`]: an error leaves the answer fields
    /// zero.
    #[derive(Clone, Copy)]
    struct Rep in P = REPLY, unknown EBADCALL {
        id: u64 => id,
        key: [u8; KEY_LEN] => key,
        ty: Option<DsType> => ty,
        deleted: bool => flags via NonZero,
        value: u32 => a,
        len: u32 => b,
        status: Result<(), Errno> => c via UStatus,
    }
}

impl DsReply {
    /// Encode.
    pub fn to_message(&self) -> Message {
        let mut rep = Rep {
            id: self.id,
            key: [0; KEY_LEN],
            ty: None,
            deleted: false,
            value: 0,
            len: 0,
            status: Ok(()),
        };
        match &self.result {
            Ok(a) => {
                if !a.key.is_empty() {
                    // Keys DS stores always fit; a failure here would be a DS bug.
                    let _ = put_name(&mut rep.key, &a.key);
                }
                rep.ty = a.ty;
                rep.deleted = a.deleted;
                rep.value = a.value;
                rep.len = a.len;
            }
            Err(e) => rep.status = Err(*e),
        }
        rep.to_message()
    }
}

impl TryFrom<&Message> for DsReply {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        let r = Rep::try_from(m)?;
        let answer = || {
            Ok(DsAnswer {
                key: if r.key[0] == 0 {
                    String::new()
                } else {
                    get_name(&r.key)?.to_string()
                },
                ty: r.ty,
                value: r.value,
                len: r.len,
                deleted: r.deleted,
            })
        };
        Ok(DsReply {
            id: r.id,
            result: match r.status {
                Err(e) => Err(e),
                Ok(()) => Ok(answer()?),
            },
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
