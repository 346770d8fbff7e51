//! Protocols of the sample services used to exercise the framework: an echo
//! service (stateless) and a counter service (stateful: its value must survive
//! crashes exactly).

use crate::errno::Errno;
use crate::message::Message;
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

const _: () = assert!(core::mem::size_of::<EchoP>() <= 56);

/// Requests to the sample services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleRequest {
    /// Echo `data` back.
    Echo {
        /// Request id.
        id: u64,
        /// Data.
        data: [u8; ECHO_LEN],
    },
    /// Add `delta` to the counter; answers the new value.
    Add {
        /// Request id.
        id: u64,
        /// Amount.
        delta: u32,
    },
    /// Read the counter.
    Get {
        /// Request id.
        id: u64,
    },
}

impl SampleRequest {
    /// Encode.
    pub fn to_message(&self) -> Message {
        match *self {
            SampleRequest::Echo { id, data } => Message::with(
                ECHO,
                &EchoP {
                    id: U64::new(id),
                    data,
                },
            ),
            SampleRequest::Add { id, delta } => Message::with(
                ADD,
                &CountP {
                    id: U64::new(id),
                    delta: U32::new(delta),
                    status: I32::new(0),
                    value: U64::new(0),
                },
            ),
            SampleRequest::Get { id } => Message::with(
                GET,
                &CountP {
                    id: U64::new(id),
                    delta: U32::new(0),
                    status: I32::new(0),
                    value: U64::new(0),
                },
            ),
        }
    }
}

impl TryFrom<&Message> for SampleRequest {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        Ok(match m.mtype() {
            ECHO => {
                let p: EchoP = m.payload_as()?;
                SampleRequest::Echo {
                    id: p.id.get(),
                    data: p.data,
                }
            }
            ADD => {
                let p: CountP = m.payload_as()?;
                SampleRequest::Add {
                    id: p.id.get(),
                    delta: p.delta.get(),
                }
            }
            GET => SampleRequest::Get {
                id: m.payload_as::<CountP>()?.id.get(),
            },
            // An unknown request type: the server answers ENOSYS.
            _ => return Err(Errno::ENOSYS),
        })
    }
}

/// Replies from the sample services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleReply {
    /// Echoed data.
    Echo {
        /// Request id.
        id: u64,
        /// Data.
        data: [u8; ECHO_LEN],
    },
    /// Counter value after the request, or why it failed (the counter
    /// answers `EAGAIN` when it could not save its state and so did not
    /// apply the addition).
    Value {
        /// Request id.
        id: u64,
        /// Value or error.
        result: Result<u64, Errno>,
    },
}

impl SampleReply {
    /// Encode.
    pub fn to_message(&self) -> Message {
        match *self {
            SampleReply::Echo { id, data } => Message::with(
                ECHO_REPLY,
                &EchoP {
                    id: U64::new(id),
                    data,
                },
            ),
            SampleReply::Value { id, result } => {
                let (status, value) = match result {
                    Ok(v) => (0, v),
                    Err(e) => (-e.code(), 0),
                };
                Message::with(
                    VALUE,
                    &CountP {
                        id: U64::new(id),
                        delta: U32::new(0),
                        status: I32::new(status),
                        value: U64::new(value),
                    },
                )
            }
        }
    }

    /// The request id answered.
    pub fn id(&self) -> u64 {
        match *self {
            SampleReply::Echo { id, .. } | SampleReply::Value { id, .. } => id,
        }
    }
}

impl TryFrom<&Message> for SampleReply {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        Ok(match m.mtype() {
            ECHO_REPLY => {
                let p: EchoP = m.payload_as()?;
                SampleReply::Echo {
                    id: p.id.get(),
                    data: p.data,
                }
            }
            VALUE => {
                let p: CountP = m.payload_as()?;
                let result = Errno::from_status(p.status.get()).map(|()| p.value.get());
                SampleReply::Value {
                    id: p.id.get(),
                    result,
                }
            }
            _ => return Err(Errno::EBADCALL),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
