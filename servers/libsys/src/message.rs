//! The fixed 64-byte message: source endpoint, type, 56-byte payload.
//!
//! The transport stamps `source`; a sender cannot forge it. Payloads are
//! typed structs (one per message kind, in the `proto` modules) converted with
//! `zerocopy`, never pointer casts. Convention used by every request protocol
//! here: a request's payload starts with a `u64` request id, so a dead-peer
//! bounce (which carries the first [`BOUNCE_HEAD`](crate::proto::kernel::BOUNCE_HEAD)
//! payload bytes) can be matched to the request it failed.

use crate::endpoint::Endpoint;
use crate::errno::Errno;
use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Payload size in bytes.
pub const PAYLOAD_LEN: usize = 56;

/// One IPC message (64 bytes, little-endian fields).
#[derive(Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Message {
    source: U32,
    mtype: U32,
    payload: [u8; PAYLOAD_LEN],
}

const _: () = assert!(core::mem::size_of::<Message>() == 64);

impl Message {
    /// A message of type `mtype` with an all-zero payload.
    pub fn new(mtype: u32) -> Self {
        Message {
            source: U32::new(Endpoint::NONE.0),
            mtype: U32::new(mtype),
            payload: [0; PAYLOAD_LEN],
        }
    }

    /// A message whose payload starts with the bytes of `p` (at most 56).
    /// Payload structs are checked to fit by const assertions in their
    /// protocol modules; a longer one is truncated rather than panicking.
    pub fn with<P: IntoBytes + Immutable>(mtype: u32, p: &P) -> Self {
        let mut m = Message::new(mtype);
        let b = p.as_bytes();
        let n = b.len().min(PAYLOAD_LEN);
        m.payload[..n].copy_from_slice(&b[..n]);
        m
    }

    /// Decode the payload prefix as `P`; `EINVAL` if `P` is larger than 56 bytes.
    pub fn payload_as<P: FromBytes>(&self) -> Result<P, Errno> {
        P::read_from_prefix(&self.payload)
            .map(|(p, _)| p)
            .map_err(|_| Errno::EINVAL)
    }

    /// Who sent it (stamped by the transport).
    pub fn source(&self) -> Endpoint {
        Endpoint(self.source.get())
    }

    /// Set the source. Only transports call this: the kernel / simulator
    /// stamps every message it delivers.
    pub fn set_source(&mut self, ep: Endpoint) {
        self.source = U32::new(ep.0);
    }

    /// The message type number.
    pub fn mtype(&self) -> u32 {
        self.mtype.get()
    }

    /// The raw payload.
    pub fn payload(&self) -> &[u8; PAYLOAD_LEN] {
        &self.payload
    }

    /// The raw payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8; PAYLOAD_LEN] {
        &mut self.payload
    }

    /// The little-endian `u64` at payload offset 0 (the request id by convention).
    pub fn request_id(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.payload[..8]);
        u64::from_le_bytes(b)
    }
}

impl core::fmt::Debug for Message {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Message{{src: {:?}, type: {:#x}, payload: {:02x?}}}",
            self.source(),
            self.mtype(),
            &self.payload[..16]
        )
    }
}

/// Write `s` into a fixed, zero-padded name field. `ENAMETOOLONG` if it does
/// not fit; `EINVAL` for an empty name or one containing NUL.
pub fn put_name(field: &mut [u8], s: &str) -> Result<(), Errno> {
    let b = s.as_bytes();
    if b.is_empty() || b.contains(&0) {
        return Err(Errno::EINVAL);
    }
    if b.len() > field.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    field.fill(0);
    field[..b.len()].copy_from_slice(b);
    Ok(())
}

/// Read a zero-padded name field. `EINVAL` if empty or not UTF-8.
pub fn get_name(field: &[u8]) -> Result<&str, Errno> {
    let n = field.iter().position(|&c| c == 0).unwrap_or(field.len());
    if n == 0 {
        return Err(Errno::EINVAL);
    }
    core::str::from_utf8(&field[..n]).map_err(|_| Errno::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::little_endian::U64;

    #[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
    #[repr(C)]
    struct P {
        id: U64,
        x: U32,
    }

    #[test]
    fn encode_decode() {
        let mut m = Message::with(
            0x42,
            &P {
                id: U64::new(77),
                x: U32::new(9),
            },
        );
        m.set_source(Endpoint::new(5, 2));
        assert_eq!(m.mtype(), 0x42);
        assert_eq!(m.source(), Endpoint::new(5, 2));
        assert_eq!(m.request_id(), 77);
        let p: P = m.payload_as().unwrap();
        assert_eq!(p.x.get(), 9);
        let raw = m.as_bytes();
        assert_eq!(raw.len(), 64);
        let back = Message::read_from_bytes(raw).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn names() {
        let mut f = [0u8; 8];
        put_name(&mut f, "echo").unwrap();
        assert_eq!(get_name(&f).unwrap(), "echo");
        assert_eq!(put_name(&mut f, "toolongname"), Err(Errno::ENAMETOOLONG));
        assert_eq!(put_name(&mut f, ""), Err(Errno::EINVAL));
        assert_eq!(get_name(&[0u8; 4]), Err(Errno::EINVAL));
        assert_eq!(get_name(&[0xff, 0xfe]), Err(Errno::EINVAL));
    }
}
