//! Protocols of the sample services used to exercise the framework: an echo
//! service (stateless) and a counter service (stateful: its value must survive
//! crashes exactly).

use crate::errno::Errno;
use crate::proto::wire::{StatusValue, messages};
use zerocopy::little_endian::{I32, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

const ECHO: u32 = 0x500;
const ADD: u32 = 0x501;
const GET: u32 = 0x502;
const ECHO_REPLY: u32 = 0x580;
const VALUE: u32 = 0x581;

/// Bytes echoed per request.
pub const ECHO_LEN: usize = 40;

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct EchoP {
    id: U64,
    data: [u8; ECHO_LEN],
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct CountP {
    id: U64,
    delta: U32,
    status: I32,
    value: U64,
}

messages! {
    /// Requests to the sample services.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SampleRequest in CountP, unknown ENOSYS {
        /// Echo `data` back.
        Echo = ECHO [EchoP] {
            /// Request id.
            id: u64 => id,
            /// Data.
            data: [u8; ECHO_LEN] => data,
        },
        /// Add `delta` to the counter; answers the new value.
        Add = ADD {
            /// Request id.
            id: u64 => id,
            /// Amount.
            delta: u32 => delta,
        },
        /// Read the counter.
        Get = GET {
            /// Request id.
            id: u64 => id,
        },
    }
}

messages! {
    /// Replies from the sample services.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SampleReply in CountP, unknown EBADCALL {
        /// Echoed data.
        Echo = ECHO_REPLY [EchoP] {
            /// Request id.
            id: u64 => id,
            /// Data.
            data: [u8; ECHO_LEN] => data,
        },
        /// Counter value after the request, or why it failed (the counter
        /// answers `EAGAIN` when it could not save its state and so did not
        /// apply the addition).
        Value = VALUE {
            /// Request id.
            id: u64 => id,
            /// Value or error.
            result: Result<u64, Errno> => (status, value) via StatusValue,
        },
    }
}

impl SampleReply {
    /// The request id answered.
    pub fn id(&self) -> u64 {
        match *self {
            SampleReply::Echo { id, .. } | SampleReply::Value { id, .. } => id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::proto::wire::hex;
    use alloc::string::String;
    use alloc::vec::Vec;

    const GOLDEN: &[&str] = &[
        "500:0100000000000000a500000000000000000000000000000000000000000000000000000000000000000000000000005a",
        "501:020000000000000004030201",
        "502:03",
        "580:0400000000000000a500000000000000000000000000000000000000000000000000000000000000000000000000005a",
        "581:05000000000000000000000000000000000000000001",
        "581:060000000000000000000000ddffffff",
    ];

    #[test]
    fn roundtrips() {
        let mut data = [0u8; ECHO_LEN];
        data[3] = 9;
        for r in [
            SampleRequest::Echo { id: 1, data },
            SampleRequest::Add { id: 2, delta: 5 },
            SampleRequest::Get { id: 3 },
        ] {
            let m = r.to_message();
            assert_eq!(SampleRequest::try_from(&m).unwrap(), r);
            assert_eq!(
                m.request_id(),
                match r {
                    SampleRequest::Echo { id, .. }
                    | SampleRequest::Add { id, .. }
                    | SampleRequest::Get { id } => id,
                }
            );
        }
        for r in [
            SampleReply::Echo { id: 1, data },
            SampleReply::Value {
                id: 2,
                result: Ok(1 << 40),
            },
            SampleReply::Value {
                id: 3,
                result: Err(Errno::EAGAIN),
            },
        ] {
            assert_eq!(SampleReply::try_from(&r.to_message()).unwrap(), r);
        }
        assert!(SampleRequest::try_from(&Message::new(0x599)).is_err());
    }

    /// The wire bytes of one instance of each message, fixed from the
    /// hand-written encoder this module had before it was declared with
    /// `messages!`.
    #[test]
    fn golden_wire_bytes() {
        let mut data = [0u8; ECHO_LEN];
        data[0] = 0xa5;
        data[ECHO_LEN - 1] = 0x5a;
        let reqs = [
            SampleRequest::Echo { id: 1, data },
            SampleRequest::Add {
                id: 2,
                delta: 0x0102_0304,
            },
            SampleRequest::Get { id: 3 },
        ];
        let reps = [
            SampleReply::Echo { id: 4, data },
            SampleReply::Value {
                id: 5,
                result: Ok(1 << 40),
            },
            SampleReply::Value {
                id: 6,
                result: Err(Errno::EAGAIN),
            },
        ];
        let got: Vec<String> = reqs
            .iter()
            .map(|r| hex(&r.to_message()))
            .chain(reps.iter().map(|r| hex(&r.to_message())))
            .collect();
        assert_eq!(got, GOLDEN);
    }
}
