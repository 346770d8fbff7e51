//! Messages the kernel (or the simulator standing in for it) generates:
//! notifications, dead-peer bounces of asynchronous requests, and crash
//! reports to RS (RS is the signal manager of every system process).

use crate::endpoint::Endpoint;
use crate::errno::Errno;
use crate::message::Message;
use crate::proto::wire::{Codec, Le, messages};
use abi::{DeadPeerPayload, NotifyPayload};
use zerocopy::little_endian::{I32, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// A notification; the source says who notified (CLOCK = alarm).
pub const NOTIFY: u32 = abi::NOTIFY_MTYPE;
/// An asynchronous request could not be answered: the peer died.
pub const DEAD_PEER: u32 = abi::DEAD_PEER_MTYPE;
/// A process died (sent to RS only; the native runtime and the simulator
/// make it, not the kernel).
pub const PROC_DIED: u32 = 0x102;

/// Payload bytes of the failed request carried in a [`DeadPeer`] bounce.
pub const BOUNCE_HEAD: usize = abi::BOUNCE_HEAD;

/// Signal numbers (NetBSD/MINIX).
pub mod sig {
    /// Illegal instruction.
    pub const SIGILL: u32 = 4;
    /// Abort (panic).
    pub const SIGABRT: u32 = 6;
    /// Floating point exception.
    pub const SIGFPE: u32 = 8;
    /// Kill.
    pub const SIGKILL: u32 = 9;
    /// Bus error.
    pub const SIGBUS: u32 = 10;
    /// Segmentation fault.
    pub const SIGSEGV: u32 = 11;
    /// Polite termination request (`service down`).
    pub const SIGTERM: u32 = 15;
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
struct DiedP {
    ep: U32,
    kind: U32,
    value: I32,
}

messages! {
    /// A notification (layout [`abi::NotifyPayload`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Notify in NotifyPayload = NOTIFY, unknown EBADCALL {
        /// The time it was raised (clock ticks).
        time: u64 => time,
        /// The kernel's bitmap of slots with a notification pending for
        /// the receiver (0 from the simulator).
        pending: u64 => pending,
    }
}

/// Build a notification stamped with the time it was raised.
pub fn notify_message(now: u64) -> Message {
    Notify {
        time: now,
        pending: 0,
    }
    .to_message()
}

/// Whether `m` is a notification.
pub fn is_notify(m: &Message) -> bool {
    m.mtype() == NOTIFY
}

/// The time stamp of a notification.
pub fn notify_time(m: &Message) -> u64 {
    m.payload_as::<NotifyPayload>()
        .map(|p| p.time.get())
        .unwrap_or(0)
}

/// An endpoint slot where [`Endpoint::NONE`] means none.
struct OrNone;

impl Codec<Option<Endpoint>, U32> for OrNone {
    fn enc(e: Option<Endpoint>) -> U32 {
        U32::new(e.unwrap_or(Endpoint::NONE).0)
    }
    fn dec(w: U32) -> Result<Option<Endpoint>, Errno> {
        let e = Endpoint(w.get());
        Ok((e != Endpoint::NONE).then_some(e))
    }
}

messages! {
    /// Bounce of an asynchronous request whose destination died before
    /// answering (layout [`abi::DeadPeerPayload`]). Source is
    /// [`Endpoint::SYSTEM`]; from anyone else it does not decode.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct DeadPeer in DeadPeerPayload = DEAD_PEER, unknown EBADCALL from Endpoint::SYSTEM {
        /// The endpoint the request was sent to.
        dead: Endpoint => dead,
        /// The slot's new endpoint, if a new instance is already running there.
        new: Option<Endpoint> => new via OrNone,
        /// Type of the failed request.
        mtype: u32 => mtype,
        /// First [`BOUNCE_HEAD`] payload bytes of the failed request.
        head: [u8; BOUNCE_HEAD] => head,
    }
}

impl DeadPeer {
    /// Build the bounce for `req` sent to `dead`.
    pub fn for_request(dead: Endpoint, new: Option<Endpoint>, req: &Message) -> Self {
        let mut head = [0u8; BOUNCE_HEAD];
        head.copy_from_slice(&req.payload()[..BOUNCE_HEAD]);
        DeadPeer {
            dead,
            new,
            mtype: req.mtype(),
            head,
        }
    }

    /// The request id of the failed request (payload convention).
    pub fn request_id(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.head[..8]);
        u64::from_le_bytes(b)
    }

    /// The error this bounce stands for.
    pub fn errno(&self) -> Errno {
        Errno::EDEADSRCDST(self.new)
    }
}

/// Why a process died.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// It panicked (SIGABRT in MINIX terms).
    Panic,
    /// A CPU fault, with the signal the kernel raised (SIGSEGV, SIGILL, ...).
    Fault(u32),
    /// It exited on its own with this code.
    Exit(i32),
    /// It was killed (by RS: SIGKILL).
    Killed,
}

/// A cause as a kind and a value (the signal or exit code); an unknown
/// kind is `EINVAL`.
impl Codec<Cause, (U32, I32)> for Le {
    fn enc(c: Cause) -> (U32, I32) {
        let (kind, value) = match c {
            Cause::Panic => (0, 0),
            Cause::Fault(s) => (1, s as i32),
            Cause::Exit(c) => (2, c),
            Cause::Killed => (3, 0),
        };
        (U32::new(kind), I32::new(value))
    }
    fn dec((kind, value): (U32, I32)) -> Result<Cause, Errno> {
        let v = value.get();
        Ok(match kind.get() {
            0 => Cause::Panic,
            1 => Cause::Fault(v as u32),
            2 => Cause::Exit(v),
            3 => Cause::Killed,
            _ => return Err(Errno::EINVAL),
        })
    }
}

messages! {
    /// Crash report to RS (source [`Endpoint::SYSTEM`]; from anyone else
    /// it does not decode).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct ProcDied in DiedP = PROC_DIED, unknown EBADCALL from Endpoint::SYSTEM {
        /// The dead process.
        ep: Endpoint => ep,
        /// Why it died.
        cause: Cause => (kind, value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::hex;
    use alloc::string::String;
    use alloc::vec::Vec;

    const GOLDEN: &[&str] = &[
        "100:8877665544332211",
        "101:06000100feffffff77070000630000000000000008090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b",
        "101:060001000600020077070000630000000000000008090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b",
        "102:080002",
        "102:08000200010000000b",
        "102:0800020002000000fdffffff",
        "102:0800020003",
    ];

    /// A bounce of a request with id 99 and recognisable head bytes.
    fn sample_bounces() -> Vec<DeadPeer> {
        let mut req = Message::new(0x777);
        for (i, b) in req.payload_mut().iter_mut().enumerate() {
            *b = i as u8;
        }
        req.payload_mut()[..8].copy_from_slice(&99u64.to_le_bytes());
        alloc::vec![
            DeadPeer::for_request(Endpoint::new(6, 1), None, &req),
            DeadPeer::for_request(Endpoint::new(6, 1), Some(Endpoint::new(6, 2)), &req),
        ]
    }

    /// One crash report per cause.
    fn sample_deaths() -> Vec<ProcDied> {
        [
            Cause::Panic,
            Cause::Fault(sig::SIGSEGV),
            Cause::Exit(-3),
            Cause::Killed,
        ]
        .into_iter()
        .map(|cause| ProcDied {
            ep: Endpoint::new(8, 2),
            cause,
        })
        .collect()
    }

    fn from_system(mut m: Message) -> Message {
        m.set_source(Endpoint::SYSTEM);
        m
    }

    #[test]
    fn roundtrips() {
        for b in sample_bounces() {
            let m = from_system(b.to_message());
            let back = DeadPeer::try_from(&m).unwrap();
            assert_eq!(back, b);
            assert_eq!(back.request_id(), 99);
            assert_eq!(back.mtype, 0x777);
            assert_eq!(back.errno(), Errno::EDEADSRCDST(b.new));
        }
        for d in sample_deaths() {
            let m = from_system(d.to_message());
            assert_eq!(ProcDied::try_from(&m).unwrap(), d);
        }
        let mut n = notify_message(1234);
        n.set_source(Endpoint::CLOCK);
        assert!(is_notify(&n));
        assert_eq!(notify_time(&n), 1234);
    }

    /// Forged sources, unknown types and causes decode to errors.
    #[test]
    fn malformed_messages_are_errors() {
        let mut m = sample_bounces()[0].to_message();
        m.set_source(Endpoint::new(9, 0));
        assert_eq!(DeadPeer::try_from(&m), Err(Errno::EBADCALL));
        let mut m = sample_deaths()[0].to_message();
        m.set_source(Endpoint::new(9, 0));
        assert_eq!(ProcDied::try_from(&m), Err(Errno::EBADCALL));
        let mut m = from_system(sample_deaths()[0].to_message());
        m.payload_mut()[4] = 4;
        assert_eq!(ProcDied::try_from(&m), Err(Errno::EINVAL));
        let m = from_system(notify_message(1));
        assert_eq!(DeadPeer::try_from(&m), Err(Errno::EBADCALL));
        assert_eq!(ProcDied::try_from(&m), Err(Errno::EBADCALL));
        assert!(!is_notify(&from_system(sample_deaths()[0].to_message())));
    }

    /// The wire bytes of each message, fixed from the hand-written encoder
    /// this module had before it was declared with `messages!`.
    #[test]
    fn golden_wire_bytes() {
        let got: Vec<String> = [notify_message(0x1122_3344_5566_7788)]
            .into_iter()
            .chain(sample_bounces().iter().map(DeadPeer::to_message))
            .chain(sample_deaths().iter().map(ProcDied::to_message))
            .map(|m| hex(&m))
            .collect();
        assert_eq!(got, GOLDEN);
    }
}
