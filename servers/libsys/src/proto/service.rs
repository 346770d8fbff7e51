//! The `service` utility's verbs as a typed protocol to RS: up, down,
//! restart, refresh, update, fi (fault injection), status and list. Replies
//! are late where MINIX's are (up/refresh/update answer when the instance
//! finished init, down when it is dead). `list` walks RS's table one entry
//! per request ([`ServiceRequest::List`] -> [`ServiceListReply`], `ESRCH`
//! past the end).
//!
//! RS serves these to system processes and boot programs, and to user
//! processes whose effective uid is 0 (it asks PM, `PmCall::GetCred`);
//! others get `EPERM`.

use crate::endpoint::Endpoint;
use crate::errno::Errno;
use crate::message::{Message, get_name, put_name};
use crate::proto::LABEL_LEN;
use alloc::string::{String, ToString};
use zerocopy::little_endian::{I32, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

const UP: u32 = 0x300;
const DOWN: u32 = 0x301;
const RESTART: u32 = 0x302;
const REFRESH: u32 = 0x303;
const UPDATE: u32 = 0x304;
const FI: u32 = 0x305;
const STATUS: u32 = 0x306;
const LIST: u32 = 0x307;
const REPLY: u32 = 0x380;
const LIST_REPLY: u32 = 0x381;

/// What RS does when a service dies unexpectedly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Restart in place: same endpoint, init kind Restart, no state.
    Restart,
    /// Fresh instance, visible new endpoint (next generation of the slot).
    Reset,
    /// Restart in place and hand the saved state to the new instance.
    Stateful,
}

impl Policy {
    fn to_raw(self) -> u32 {
        match self {
            Policy::Restart => 1,
            Policy::Reset => 2,
            Policy::Stateful => 3,
        }
    }
    fn from_raw(v: u32) -> Result<Self, Errno> {
        Ok(match v {
            1 => Policy::Restart,
            2 => Policy::Reset,
            3 => Policy::Stateful,
            _ => return Err(Errno::EINVAL),
        })
    }
}

/// A service's state as RS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunState {
    /// Spawned, waiting for its init reply.
    Initializing,
    /// Up and pinged.
    Running,
    /// Dead, waiting for its back-off to expire.
    BackingOff,
    /// Being stopped (`down`).
    Stopping,
    /// Stopped, or failed init; not restarted.
    Down,
    /// Being restarted on request (`refresh`).
    Refreshing,
    /// Being live-updated.
    Updating,
}

impl RunState {
    fn to_raw(self) -> u32 {
        match self {
            RunState::Initializing => 1,
            RunState::Running => 2,
            RunState::BackingOff => 3,
            RunState::Stopping => 4,
            RunState::Down => 5,
            RunState::Refreshing => 6,
            RunState::Updating => 7,
        }
    }
    fn from_raw(v: u32) -> Result<Self, Errno> {
        Ok(match v {
            1 => RunState::Initializing,
            2 => RunState::Running,
            3 => RunState::BackingOff,
            4 => RunState::Stopping,
            5 => RunState::Down,
            6 => RunState::Refreshing,
            7 => RunState::Updating,
            _ => return Err(Errno::EINVAL),
        })
    }
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct ReqP {
    id: U64,
    label: [u8; LABEL_LEN],
    program: [u8; LABEL_LEN],
    policy: U32,
    period: U32,
    flags: U32,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct ReplyP {
    id: U64,
    status: I32,
    endpoint: U32,
    restarts: U32,
    state: U32,
    policy: U32,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct ListReplyP {
    id: U64,
    status: I32,
    endpoint: U32,
    restarts: U32,
    state: u8,
    policy: u8,
    _pad: [u8; 2],
    label: [u8; LABEL_LEN],
    program: [u8; LABEL_LEN],
}

const _: () = assert!(core::mem::size_of::<ReqP>() <= 56);
const _: () = assert!(core::mem::size_of::<ListReplyP>() <= 56);

/// `up` flag: no binary exponential back-off (MINIX `-b`).
pub const UP_NO_BACKOFF: u32 = 1;

/// A `service` request to RS. Every request carries an id echoed in the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceRequest {
    /// Start a new service.
    Up {
        /// Request id.
        id: u64,
        /// Label (must be unused, else `EBUSY`).
        label: String,
        /// Program name.
        program: String,
        /// Restart policy.
        policy: Policy,
        /// Ping period in ticks (0: no pings).
        period: u32,
        /// `UP_*` flags.
        flags: u32,
    },
    /// Stop a service (SIGTERM, SIGKILL after 2 s); no further restarts.
    Down {
        /// Request id.
        id: u64,
        /// Label.
        label: String,
    },
    /// Start a stopped / backing-off service now (`EBUSY` if running).
    Restart {
        /// Request id.
        id: u64,
        /// Label.
        label: String,
    },
    /// Stop and restart a running service.
    Refresh {
        /// Request id.
        id: u64,
        /// Label.
        label: String,
    },
    /// Live update to `program` (may be the same), state handed over.
    Update {
        /// Request id.
        id: u64,
        /// Label.
        label: String,
        /// New program.
        program: String,
    },
    /// Controlled crash (`service fi`).
    Fi {
        /// Request id.
        id: u64,
        /// Label.
        label: String,
    },
    /// Query endpoint, restart count, state.
    Status {
        /// Request id.
        id: u64,
        /// Label.
        label: String,
    },
    /// The `index`-th entry of RS's table (from 0), answered with a
    /// [`ServiceListReply`]; `ESRCH` past the end.
    List {
        /// Request id.
        id: u64,
        /// Table position.
        index: u32,
    },
}

impl ServiceRequest {
    /// Encode; label/program errors as errno.
    pub fn to_message(&self) -> Result<Message, Errno> {
        let mut p = ReqP {
            id: U64::new(0),
            label: [0; LABEL_LEN],
            program: [0; LABEL_LEN],
            policy: U32::new(0),
            period: U32::new(0),
            flags: U32::new(0),
        };
        let mtype = match self {
            ServiceRequest::Up {
                id,
                label,
                program,
                policy,
                period,
                flags,
            } => {
                p.id = U64::new(*id);
                put_name(&mut p.label, label)?;
                put_name(&mut p.program, program)?;
                p.policy = U32::new(policy.to_raw());
                p.period = U32::new(*period);
                p.flags = U32::new(*flags);
                UP
            }
            ServiceRequest::Update { id, label, program } => {
                p.id = U64::new(*id);
                put_name(&mut p.label, label)?;
                put_name(&mut p.program, program)?;
                UPDATE
            }
            ServiceRequest::Down { id, label }
            | ServiceRequest::Restart { id, label }
            | ServiceRequest::Refresh { id, label }
            | ServiceRequest::Fi { id, label }
            | ServiceRequest::Status { id, label } => {
                p.id = U64::new(*id);
                put_name(&mut p.label, label)?;
                match self {
                    ServiceRequest::Down { .. } => DOWN,
                    ServiceRequest::Restart { .. } => RESTART,
                    ServiceRequest::Refresh { .. } => REFRESH,
                    ServiceRequest::Fi { .. } => FI,
                    _ => STATUS,
                }
            }
            ServiceRequest::List { id, index } => {
                p.id = U64::new(*id);
                // The index travels in the `period` field.
                p.period = U32::new(*index);
                LIST
            }
        };
        Ok(Message::with(mtype, &p))
    }

    /// The request id.
    pub fn id(&self) -> u64 {
        match self {
            ServiceRequest::Up { id, .. }
            | ServiceRequest::Down { id, .. }
            | ServiceRequest::Restart { id, .. }
            | ServiceRequest::Refresh { id, .. }
            | ServiceRequest::Update { id, .. }
            | ServiceRequest::Fi { id, .. }
            | ServiceRequest::Status { id, .. }
            | ServiceRequest::List { id, .. } => *id,
        }
    }
}

impl TryFrom<&Message> for ServiceRequest {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        if !(UP..=LIST).contains(&m.mtype()) {
            return Err(Errno::EBADCALL);
        }
        let p: ReqP = m.payload_as()?;
        let id = p.id.get();
        if m.mtype() == LIST {
            return Ok(ServiceRequest::List {
                id,
                index: p.period.get(),
            });
        }
        let label = get_name(&p.label)?.to_string();
        Ok(match m.mtype() {
            UP => ServiceRequest::Up {
                id,
                label,
                program: get_name(&p.program)?.to_string(),
                policy: Policy::from_raw(p.policy.get())?,
                period: p.period.get(),
                flags: p.flags.get(),
            },
            UPDATE => ServiceRequest::Update {
                id,
                label,
                program: get_name(&p.program)?.to_string(),
            },
            DOWN => ServiceRequest::Down { id, label },
            RESTART => ServiceRequest::Restart { id, label },
            REFRESH => ServiceRequest::Refresh { id, label },
            FI => ServiceRequest::Fi { id, label },
            _ => ServiceRequest::Status { id, label },
        })
    }
}

/// What RS knows about one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceStatus {
    /// Current endpoint.
    pub endpoint: Endpoint,
    /// Restart count.
    pub restarts: u32,
    /// Run state.
    pub state: RunState,
    /// Restart policy.
    pub policy: Policy,
}

/// RS's answer to a [`ServiceRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceReply {
    /// The request's id.
    pub id: u64,
    /// Outcome; the status is filled for every successful request.
    pub result: Result<ServiceStatus, Errno>,
}

impl ServiceReply {
    /// Encode.
    pub fn to_message(&self) -> Message {
        let mut p = ReplyP {
            id: U64::new(self.id),
            status: I32::new(0),
            endpoint: U32::new(Endpoint::NONE.0),
            restarts: U32::new(0),
            state: U32::new(0),
            policy: U32::new(0),
        };
        match self.result {
            Ok(s) => {
                p.endpoint = U32::new(s.endpoint.0);
                p.restarts = U32::new(s.restarts);
                p.state = U32::new(s.state.to_raw());
                p.policy = U32::new(s.policy.to_raw());
            }
            Err(e) => p.status = I32::new(-e.code()),
        }
        Message::with(REPLY, &p)
    }
}

impl TryFrom<&Message> for ServiceReply {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        if m.mtype() != REPLY {
            return Err(Errno::EBADCALL);
        }
        let p: ReplyP = m.payload_as()?;
        let result = match Errno::from_status(p.status.get()) {
            Ok(()) => Ok(ServiceStatus {
                endpoint: Endpoint(p.endpoint.get()),
                restarts: p.restarts.get(),
                state: RunState::from_raw(p.state.get())?,
                policy: Policy::from_raw(p.policy.get())?,
            }),
            Err(e) => Err(e),
        };
        Ok(ServiceReply {
            id: p.id.get(),
            result,
        })
    }
}

/// One entry of RS's table, as [`ServiceRequest::List`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    /// Label.
    pub label: String,
    /// Program the current (or last) instance runs.
    pub program: String,
    /// Endpoint, restarts, state and policy.
    pub status: ServiceStatus,
}

/// RS's answer to [`ServiceRequest::List`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceListReply {
    /// The request's id.
    pub id: u64,
    /// The entry, or `ESRCH` past the end of the table.
    pub result: Result<ServiceEntry, Errno>,
}

impl ServiceListReply {
    /// Encode; a label or program that does not fit a name field is an
    /// error.
    pub fn to_message(&self) -> Result<Message, Errno> {
        let mut p = ListReplyP {
            id: U64::new(self.id),
            status: I32::new(0),
            endpoint: U32::new(Endpoint::NONE.0),
            restarts: U32::new(0),
            state: 0,
            policy: 0,
            _pad: [0; 2],
            label: [0; LABEL_LEN],
            program: [0; LABEL_LEN],
        };
        match &self.result {
            Ok(e) => {
                put_name(&mut p.label, &e.label)?;
                put_name(&mut p.program, &e.program)?;
                p.endpoint = U32::new(e.status.endpoint.0);
                p.restarts = U32::new(e.status.restarts);
                // Both fit a byte (1..=7 and 1..=3).
                p.state = e.status.state.to_raw() as u8;
                p.policy = e.status.policy.to_raw() as u8;
            }
            Err(e) => p.status = I32::new(-e.code()),
        }
        Ok(Message::with(LIST_REPLY, &p))
    }
}

impl TryFrom<&Message> for ServiceListReply {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        if m.mtype() != LIST_REPLY {
            return Err(Errno::EBADCALL);
        }
        let p: ListReplyP = m.payload_as()?;
        let result = match Errno::from_status(p.status.get()) {
            Ok(()) => Ok(ServiceEntry {
                label: get_name(&p.label)?.to_string(),
                program: get_name(&p.program)?.to_string(),
                status: ServiceStatus {
                    endpoint: Endpoint(p.endpoint.get()),
                    restarts: p.restarts.get(),
                    state: RunState::from_raw(u32::from(p.state))?,
                    policy: Policy::from_raw(u32::from(p.policy))?,
                },
            }),
            Err(e) => Err(e),
        };
        Ok(ServiceListReply {
            id: p.id.get(),
            result,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::hex;
    use alloc::vec::Vec;

    const GOLDEN: &[&str] = &[
        "300:01000000000000006563686f3200000000000000000000006563686f000000000000000000000000020000006400000001",
        "301:020000000000000061",
        "302:030000000000000061",
        "303:040000000000000061",
        "304:05000000000000006100000000000000000000000000000062",
        "305:060000000000000061",
        "306:070000000000000061",
        "307:08",
        "307:0900000000000000000000000000000000000000000000000000000000000000000000000000000000000000ffffffff",
        "300:0a000000000000007369787465656e2d627974652d6c626c70726f6772616d2d31362d627974657303",
        "380:09000000000000000000000004000100020000000200000003",
        "380:0a00000000000000f0fffffffeffffff",
        "380:0b0000000000000000000000feffffff000000000500000001",
        "381:0b00000000000000000000000900030070110100070200007369787465656e2d627974652d6c626c6d6673",
        "381:0c00000000000000fdfffffffeffffff",
    ];

    /// One instance of each request (round trip and golden bytes).
    fn sample_requests() -> Vec<ServiceRequest> {
        alloc::vec![
            ServiceRequest::Up {
                id: 1,
                label: "echo2".into(),
                program: "echo".into(),
                policy: Policy::Reset,
                period: 100,
                flags: UP_NO_BACKOFF,
            },
            ServiceRequest::Down {
                id: 2,
                label: "a".into(),
            },
            ServiceRequest::Restart {
                id: 3,
                label: "a".into(),
            },
            ServiceRequest::Refresh {
                id: 4,
                label: "a".into(),
            },
            ServiceRequest::Update {
                id: 5,
                label: "a".into(),
                program: "b".into(),
            },
            ServiceRequest::Fi {
                id: 6,
                label: "a".into(),
            },
            ServiceRequest::Status {
                id: 7,
                label: "a".into(),
            },
            ServiceRequest::List { id: 8, index: 0 },
            ServiceRequest::List {
                id: 9,
                index: u32::MAX,
            },
            ServiceRequest::Up {
                id: 10,
                label: "sixteen-byte-lbl".into(),
                program: "program-16-bytes".into(),
                policy: Policy::Stateful,
                period: 0,
                flags: 0,
            },
        ]
    }

    /// One reply of each shape (round trip and golden bytes).
    fn sample_replies() -> Vec<ServiceReply> {
        alloc::vec![
            ServiceReply {
                id: 9,
                result: Ok(ServiceStatus {
                    endpoint: Endpoint::new(4, 1),
                    restarts: 2,
                    state: RunState::Running,
                    policy: Policy::Stateful,
                }),
            },
            ServiceReply {
                id: 10,
                result: Err(Errno::EBUSY),
            },
            ServiceReply {
                id: 11,
                result: Ok(ServiceStatus {
                    endpoint: Endpoint::NONE,
                    restarts: 0,
                    state: RunState::Down,
                    policy: Policy::Restart,
                }),
            },
        ]
    }

    fn sample_entry() -> ServiceEntry {
        ServiceEntry {
            label: "sixteen-byte-lbl".into(),
            program: "mfs".into(),
            status: ServiceStatus {
                endpoint: Endpoint::new(9, 3),
                restarts: 70_000,
                state: RunState::Updating,
                policy: Policy::Reset,
            },
        }
    }

    /// One list reply of each shape (round trip and golden bytes).
    fn sample_list_replies() -> Vec<ServiceListReply> {
        alloc::vec![
            ServiceListReply {
                id: 11,
                result: Ok(sample_entry()),
            },
            ServiceListReply {
                id: 12,
                result: Err(Errno::ESRCH),
            },
        ]
    }

    #[test]
    fn roundtrips() {
        for r in sample_requests() {
            let m = r.to_message().unwrap();
            assert_eq!(m.request_id(), r.id());
            assert_eq!(ServiceRequest::try_from(&m).unwrap(), r);
        }
        for r in sample_replies() {
            let m = r.to_message();
            assert_eq!(m.request_id(), r.id);
            assert_eq!(ServiceReply::try_from(&m).unwrap(), r);
        }
        assert_eq!(
            ServiceRequest::Down {
                id: 1,
                label: "a-very-long-label-x".into()
            }
            .to_message(),
            Err(Errno::ENAMETOOLONG)
        );
        assert_eq!(
            ServiceRequest::Update {
                id: 1,
                label: "a".into(),
                program: String::new(),
            }
            .to_message(),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn list_replies_roundtrip() {
        for r in sample_list_replies() {
            let m = r.to_message().unwrap();
            assert_eq!(m.request_id(), r.id);
            assert_eq!(ServiceListReply::try_from(&m).unwrap(), r);
        }
        // Not a plain service reply, and the other way round.
        let m = sample_list_replies()[0].to_message().unwrap();
        assert_eq!(ServiceReply::try_from(&m), Err(Errno::EBADCALL));
        let plain = sample_replies()[1].to_message();
        assert_eq!(ServiceListReply::try_from(&plain), Err(Errno::EBADCALL));
        // A name too long for the field is refused, not cut.
        let long = ServiceListReply {
            id: 13,
            result: Ok(ServiceEntry {
                label: "seventeen-bytes-x".into(),
                ..sample_entry()
            }),
        };
        assert_eq!(long.to_message(), Err(Errno::ENAMETOOLONG));
    }

    /// Malformed messages decode to errors: unknown types, bad policy and
    /// state numbers, empty or non-UTF-8 names.
    #[test]
    fn malformed_messages_are_errors() {
        assert_eq!(
            ServiceRequest::try_from(&Message::new(0x3ff)),
            Err(Errno::EBADCALL)
        );
        assert_eq!(
            ServiceRequest::try_from(&Message::new(REPLY)),
            Err(Errno::EBADCALL)
        );
        // An empty label.
        assert_eq!(
            ServiceRequest::try_from(&Message::new(DOWN)),
            Err(Errno::EINVAL)
        );
        let up = sample_requests()[0].to_message().unwrap();
        // Policy (payload bytes 40..44) out of range.
        let mut m = up;
        m.payload_mut()[40] = 4;
        assert_eq!(ServiceRequest::try_from(&m), Err(Errno::EINVAL));
        // A program name that is not UTF-8.
        let mut m = up;
        m.payload_mut()[24] = 0xc0;
        assert_eq!(ServiceRequest::try_from(&m), Err(Errno::EINVAL));
        // A reply with a state or policy RS does not have.
        let ok = sample_replies()[0].to_message();
        for (at, v) in [(20, 0), (20, 8), (24, 0), (24, 4)] {
            let mut m = ok;
            m.payload_mut()[at] = v;
            assert_eq!(ServiceReply::try_from(&m), Err(Errno::EINVAL), "{at} {v}");
        }
        // A forged state byte in a list reply is refused.
        let mut m = sample_list_replies()[0].to_message().unwrap();
        m.payload_mut()[20] = 99;
        assert_eq!(ServiceListReply::try_from(&m), Err(Errno::EINVAL));
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
            .chain(
                sample_list_replies()
                    .iter()
                    .map(|r| hex(&r.to_message().unwrap())),
            )
            .collect();
        assert_eq!(got, GOLDEN);
    }
}
