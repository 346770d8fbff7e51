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
use crate::proto::LABEL_LEN;
use crate::proto::wire::{Codec, Le, Name, TryCodec, messages};
use alloc::string::String;
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

messages! {
    /// A `service` request to RS. Every request carries an id echoed in the reply.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum ServiceRequest in ReqP, unknown EBADCALL, fallible {
        /// Start a new service.
        Up = UP {
            /// Request id.
            id: u64 => id,
            /// Label (must be unused, else `EBUSY`).
            label: String => label via Name,
            /// Program name.
            program: String => program via Name,
            /// Restart policy.
            policy: Policy => policy,
            /// Ping period in ticks (0: no pings).
            period: u32 => period,
            /// `UP_*` flags.
            flags: u32 => flags,
        },
        /// Stop a service (SIGTERM, SIGKILL after 2 s); no further restarts.
        Down = DOWN {
            /// Request id.
            id: u64 => id,
            /// Label.
            label: String => label via Name,
        },
        /// Start a stopped / backing-off service now (`EBUSY` if running).
        Restart = RESTART {
            /// Request id.
            id: u64 => id,
            /// Label.
            label: String => label via Name,
        },
        /// Stop and restart a running service.
        Refresh = REFRESH {
            /// Request id.
            id: u64 => id,
            /// Label.
            label: String => label via Name,
        },
        /// Live update to `program` (may be the same), state handed over.
        Update = UPDATE {
            /// Request id.
            id: u64 => id,
            /// Label.
            label: String => label via Name,
            /// New program.
            program: String => program via Name,
        },
        /// Controlled crash (`service fi`).
        Fi = FI {
            /// Request id.
            id: u64 => id,
            /// Label.
            label: String => label via Name,
        },
        /// Query endpoint, restart count, state.
        Status = STATUS {
            /// Request id.
            id: u64 => id,
            /// Label.
            label: String => label via Name,
        },
        /// The `index`-th entry of RS's table (from 0), answered with a
        /// [`ServiceListReply`]; `ESRCH` past the end.
        List = LIST {
            /// Request id.
            id: u64 => id,
            /// Table position (it travels in the `period` slot).
            index: u32 => period,
        },
    }
}

impl ServiceRequest {
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

messages! {
    /// RS's answer to a [`ServiceRequest`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct ServiceReply in ReplyP = REPLY, unknown EBADCALL {
        /// The request's id.
        id: u64 => id,
        /// Outcome; the status is filled for every successful request.
        result: Result<ServiceStatus, Errno> => (status, endpoint, restarts, state, policy)
            via Outcome,
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

messages! {
    /// RS's answer to [`ServiceRequest::List`]; a label or program that
    /// does not fit a name field does not encode.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ServiceListReply in ListReplyP = LIST_REPLY, unknown EBADCALL, fallible {
        /// The request's id.
        id: u64 => id,
        /// The entry, or `ESRCH` past the end of the table.
        result: Result<ServiceEntry, Errno>
            => (status, endpoint, restarts, state, policy, label, program) via Outcome,
    }
}

/// A policy in its slot (a word, or a byte in a list reply); an unknown
/// policy is `EINVAL`.
impl Codec<Policy, U32> for Le {
    fn enc(p: Policy) -> U32 {
        U32::new(p.to_raw())
    }
    fn dec(w: U32) -> Result<Policy, Errno> {
        Policy::from_raw(w.get())
    }
}

impl Codec<Policy, u8> for Le {
    fn enc(p: Policy) -> u8 {
        // 1..=3 fits a byte.
        p.to_raw() as u8
    }
    fn dec(w: u8) -> Result<Policy, Errno> {
        Policy::from_raw(u32::from(w))
    }
}

/// A run state in its slot; an unknown state is `EINVAL`.
impl Codec<RunState, U32> for Le {
    fn enc(s: RunState) -> U32 {
        U32::new(s.to_raw())
    }
    fn dec(w: U32) -> Result<RunState, Errno> {
        RunState::from_raw(w.get())
    }
}

impl Codec<RunState, u8> for Le {
    fn enc(s: RunState) -> u8 {
        // 1..=7 fits a byte.
        s.to_raw() as u8
    }
    fn dec(w: u8) -> Result<RunState, Errno> {
        RunState::from_raw(u32::from(w))
    }
}

/// A [`ServiceStatus`] in endpoint, restarts, state and policy slots.
impl<S: Copy> Codec<ServiceStatus, (U32, U32, S, S)> for Le
where
    Le: Codec<RunState, S> + Codec<Policy, S>,
{
    fn enc(s: ServiceStatus) -> (U32, U32, S, S) {
        (
            U32::new(s.endpoint.0),
            U32::new(s.restarts),
            Le::enc(s.state),
            Le::enc(s.policy),
        )
    }
    fn dec((endpoint, restarts, state, policy): (U32, U32, S, S)) -> Result<ServiceStatus, Errno> {
        Ok(ServiceStatus {
            endpoint: Endpoint(endpoint.get()),
            restarts: restarts.get(),
            state: Le::dec(state)?,
            policy: Le::dec(policy)?,
        })
    }
}

/// An outcome: status 0 and the status or entry, or the errno as a
/// negative status with the endpoint `NONE` and the rest zero (not
/// decoded).
struct Outcome;

/// A reply with no service: endpoint `NONE`, the rest zero.
fn no_service<S: zerocopy::FromZeros>() -> (U32, U32, S, S) {
    (
        U32::new(Endpoint::NONE.0),
        U32::new(0),
        S::new_zeroed(),
        S::new_zeroed(),
    )
}

impl Codec<Result<ServiceStatus, Errno>, (I32, U32, U32, U32, U32)> for Outcome {
    fn enc(r: Result<ServiceStatus, Errno>) -> (I32, U32, U32, U32, U32) {
        let (ep, restarts, state, policy) = match r {
            Ok(s) => Le::enc(s),
            Err(_) => no_service(),
        };
        (
            I32::new(Errno::to_status(r.map(|_| ()))),
            ep,
            restarts,
            state,
            policy,
        )
    }
    fn dec(
        (status, ep, restarts, state, policy): (I32, U32, U32, U32, U32),
    ) -> Result<Result<ServiceStatus, Errno>, Errno> {
        Ok(match Errno::from_status(status.get()) {
            Ok(()) => Ok(Le::dec((ep, restarts, state, policy))?),
            Err(e) => Err(e),
        })
    }
}

/// A list entry's slots.
type EntrySlots = (I32, U32, U32, u8, u8, [u8; LABEL_LEN], [u8; LABEL_LEN]);

impl TryCodec<Result<ServiceEntry, Errno>, EntrySlots> for Outcome {
    fn try_enc(r: &Result<ServiceEntry, Errno>) -> Result<EntrySlots, Errno> {
        Ok(match r {
            Ok(e) => {
                let (ep, restarts, state, policy) = Le::enc(e.status);
                (
                    I32::new(0),
                    ep,
                    restarts,
                    state,
                    policy,
                    Name::try_enc(&e.label)?,
                    Name::try_enc(&e.program)?,
                )
            }
            Err(e) => {
                let (ep, restarts, state, policy) = no_service();
                let status = I32::new(-e.code());
                (
                    status,
                    ep,
                    restarts,
                    state,
                    policy,
                    [0; LABEL_LEN],
                    [0; LABEL_LEN],
                )
            }
        })
    }
    fn try_dec(
        (status, ep, restarts, state, policy, label, program): EntrySlots,
    ) -> Result<Result<ServiceEntry, Errno>, Errno> {
        Ok(match Errno::from_status(status.get()) {
            Ok(()) => Ok(ServiceEntry {
                label: Name::try_dec(label)?,
                program: Name::try_dec(program)?,
                status: Le::dec((ep, restarts, state, policy))?,
            }),
            Err(e) => Err(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
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
