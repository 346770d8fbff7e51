//! RS <-> service control protocol, handled inside SEF: init (fresh /
//! live update / restart), signals, fault injection, live-update prepare.
//! Pings are plain notifications from RS, answered by a notification.

use crate::endpoint::Endpoint;
use crate::errno::Errno;
use crate::proto::LABEL_LEN;
use crate::proto::wire::{Bit, Codec, Le, Name, Status, messages};
use alloc::string::String;
use zerocopy::little_endian::{I32, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

const INIT: u32 = 0x200;
const INIT_DONE: u32 = 0x201;
const SIGNAL: u32 = 0x202;
const FI_CRASH: u32 = 0x203;
const LU_PREPARE: u32 = 0x204;
const LU_READY: u32 = 0x205;

/// Whether `mtype` belongs to this protocol (SEF intercepts these).
pub fn is_control(mtype: u32) -> bool {
    (INIT..=LU_READY).contains(&mtype)
}

/// How a service instance starts (MINIX SEF_INIT_*; same numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitKind {
    /// First start, or a reset (new endpoint, no state).
    Fresh,
    /// Live update: a new version takes over; the old one's state is handed over.
    LiveUpdate,
    /// Restart after a crash (endpoint kept; state handed over if stateful).
    Restart,
}

/// A start kind in its slot; an unknown kind is `EINVAL`.
impl Codec<InitKind, U32> for Le {
    fn enc(k: InitKind) -> U32 {
        U32::new(match k {
            InitKind::Fresh => 0,
            InitKind::LiveUpdate => 1,
            InitKind::Restart => 2,
        })
    }
    fn dec(w: U32) -> Result<InitKind, Errno> {
        Ok(match w.get() {
            0 => InitKind::Fresh,
            1 => InitKind::LiveUpdate,
            2 => InitKind::Restart,
            _ => return Err(Errno::EINVAL),
        })
    }
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct InitP {
    kind: U32,
    restarts: U32,
    label: [u8; LABEL_LEN],
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct StatusP {
    status: I32,
    flags: U32,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct SignalP {
    sig: U32,
}

/// Flag in [`ServiceToRs::InitDone`]: a saved state blob was refused
/// (checksum mismatch) and the service started fresh instead.
const FLAG_STATE_REFUSED: u32 = 1;

messages! {
    /// RS -> service.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum RsToService in InitP, unknown EBADCALL, fallible {
        /// Initialise (answered by [`ServiceToRs::InitDone`]).
        Init = INIT {
            /// Start kind.
            kind: InitKind => kind,
            /// How many times this service has been restarted.
            restarts: u32 => restarts,
            /// The service's label.
            label: String => label via Name,
        },
        /// A signal (SIGTERM on `service down`).
        Signal = SIGNAL [SignalP] {
            /// The signal number.
            sig: u32 => sig,
        },
        /// Fault injection: crash now (`service fi`).
        FiCrash = FI_CRASH,
        /// Live update: save state for a successor (answered by [`ServiceToRs::LuReady`]).
        LuPrepare = LU_PREPARE,
    }
}

messages! {
    /// Service -> RS.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ServiceToRs in StatusP, unknown EBADCALL {
        /// Result of initialisation. `Err(ERESTART)` asks RS for a fresh
        /// instance with a new endpoint (MINIX reset).
        InitDone = INIT_DONE {
            /// Init result.
            result: Result<(), Errno> => status via Status,
            /// A corrupted state blob was refused (fresh start instead).
            state_refused: bool => flags via Bit<FLAG_STATE_REFUSED>,
        },
        /// Live-update preparation result (state saved).
        LuReady = LU_READY {
            /// Preparation result.
            result: Result<(), Errno> => status via Status,
        },
    }
}

/// The endpoint SEF accepts control messages from.
pub const CONTROLLER: Endpoint = Endpoint::RS;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::proto::wire::hex;
    use alloc::vec::Vec;

    const GOLDEN: &[&str] = &[
        "200:02000000030000006563686f",
        "200:010000000000000078",
        "200:00000000ffffffff7369787465656e2d627974652d6c626c",
        "202:0f",
        "203:",
        "204:",
        "201:0000000001",
        "201:38ffffff",
        "205:",
        "205:ddffffff",
    ];

    /// One instance of each RS -> service message (round trip and golden
    /// bytes).
    fn sample_controls() -> Vec<RsToService> {
        alloc::vec![
            RsToService::Init {
                kind: InitKind::Restart,
                restarts: 3,
                label: "echo".into(),
            },
            RsToService::Init {
                kind: InitKind::LiveUpdate,
                restarts: 0,
                label: "x".into(),
            },
            RsToService::Init {
                kind: InitKind::Fresh,
                restarts: u32::MAX,
                label: "sixteen-byte-lbl".into(),
            },
            RsToService::Signal { sig: 15 },
            RsToService::FiCrash,
            RsToService::LuPrepare,
        ]
    }

    /// One instance of each service -> RS message.
    fn sample_answers() -> Vec<ServiceToRs> {
        alloc::vec![
            ServiceToRs::InitDone {
                result: Ok(()),
                state_refused: true,
            },
            ServiceToRs::InitDone {
                result: Err(Errno::ERESTART),
                state_refused: false,
            },
            ServiceToRs::LuReady { result: Ok(()) },
            ServiceToRs::LuReady {
                result: Err(Errno::EAGAIN),
            },
        ]
    }

    #[test]
    fn roundtrips() {
        for r in sample_controls() {
            let m = r.to_message().unwrap();
            assert!(is_control(m.mtype()));
            assert_eq!(RsToService::try_from(&m).unwrap(), r);
        }
        for s in sample_answers() {
            let m = s.to_message();
            assert!(is_control(m.mtype()));
            assert_eq!(ServiceToRs::try_from(&m).unwrap(), s);
        }
        // A label that does not fit, or is empty, is refused.
        for (label, e) in [
            ("seventeen-bytes-x", Errno::ENAMETOOLONG),
            ("", Errno::EINVAL),
        ] {
            let init = RsToService::Init {
                kind: InitKind::Fresh,
                restarts: 0,
                label: label.into(),
            };
            assert_eq!(init.to_message(), Err(e));
        }
    }

    /// Malformed messages decode to errors: an unknown type, a bad init
    /// kind, an empty label, a positive status.
    #[test]
    fn malformed_messages_are_errors() {
        let mut bad = Message::new(INIT);
        bad.payload_mut()[0] = 9;
        assert_eq!(RsToService::try_from(&bad), Err(Errno::EINVAL));
        // Kind 0 (fresh) but no label.
        assert_eq!(
            RsToService::try_from(&Message::new(INIT)),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            RsToService::try_from(&Message::new(0x2ff)),
            Err(Errno::EBADCALL)
        );
        assert_eq!(
            RsToService::try_from(&Message::new(INIT_DONE)),
            Err(Errno::EBADCALL)
        );
        assert_eq!(
            ServiceToRs::try_from(&Message::new(INIT)),
            Err(Errno::EBADCALL)
        );
        let mut m = sample_answers()[0].to_message();
        m.payload_mut()[0] = 3;
        assert_eq!(
            ServiceToRs::try_from(&m),
            Ok(ServiceToRs::InitDone {
                result: Err(Errno::EBADCALL),
                state_refused: true
            })
        );
    }

    /// The wire bytes of one instance of each message, fixed from the
    /// hand-written encoder this module had before it was declared with
    /// `messages!`.
    #[test]
    fn golden_wire_bytes() {
        let got: Vec<String> = sample_controls()
            .iter()
            .map(|r| hex(&r.to_message().unwrap()))
            .chain(sample_answers().iter().map(|s| hex(&s.to_message())))
            .collect();
        assert_eq!(got, GOLDEN);
    }
}
