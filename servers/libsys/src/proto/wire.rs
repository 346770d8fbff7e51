//! Declarative message codecs: each protocol declares every message once,
//! as a variant with its type number and, per field, the payload slot it
//! rides in ([`messages!`]); the macro derives the enum, `to_message()` and
//! `TryFrom<&Message>`, in the spirit of Hubris' Idol-generated IPC stubs.
//!
//! A slot is a field of the protocol's zerocopy payload struct (or a
//! parenthesised tuple of fields), so a misspelt or missing slot does not
//! compile, and a payload that outgrows the 56-byte message fails a const
//! assertion. A field converts to its slot through a [`Codec`]: [`Le`] (the
//! default) for plain little-endian values, or a named codec (`via Flag`)
//! for encodings that validate on decode. Decoding never panics: a bad
//! value is the codec's error, an unknown type number the protocol's.

use crate::endpoint::Endpoint;
use crate::errno::Errno;
use crate::ipc::GrantId;
use crate::message::{get_name, put_name};
use alloc::string::{String, ToString};
use zerocopy::little_endian::{I32, I64, U16, U32, U64};

/// How a field of type `T` is stored in a payload slot of type `W`.
pub trait Codec<T, W> {
    /// The slot value for `v`.
    fn enc(v: T) -> W;
    /// The field value of a slot, or why it is malformed.
    fn dec(w: W) -> Result<T, Errno>;
}

/// The default codec: little-endian integers and id newtypes, lossless.
pub struct Le;

macro_rules! le_codec {
    ($($t:ty => $w:ty),* $(,)?) => {$(
        impl Codec<$t, $w> for Le {
            fn enc(v: $t) -> $w {
                <$w>::new(v)
            }
            fn dec(w: $w) -> Result<$t, Errno> {
                Ok(w.get())
            }
        }
    )*};
}

le_codec!(u16 => U16, u32 => U32, u64 => U64, i32 => I32, i64 => I64);

impl Codec<GrantId, U32> for Le {
    fn enc(v: GrantId) -> U32 {
        U32::new(v.0)
    }
    fn dec(w: U32) -> Result<GrantId, Errno> {
        Ok(GrantId(w.get()))
    }
}

impl Codec<Endpoint, U32> for Le {
    fn enc(v: Endpoint) -> U32 {
        U32::new(v.0)
    }
    fn dec(w: U32) -> Result<Endpoint, Errno> {
        Ok(Endpoint(w.get()))
    }
}

/// A `u16` widened to a 32-bit slot; `EINVAL` if the slot holds more.
impl Codec<u16, U32> for Le {
    fn enc(v: u16) -> U32 {
        U32::new(u32::from(v))
    }
    fn dec(w: U32) -> Result<u16, Errno> {
        u16::try_from(w.get()).map_err(|_| Errno::EINVAL)
    }
}

/// A strict boolean: 0 or 1, anything else `EINVAL`.
pub struct Flag;

impl Codec<bool, U32> for Flag {
    fn enc(v: bool) -> U32 {
        U32::new(u32::from(v))
    }
    fn dec(w: U32) -> Result<bool, Errno> {
        match w.get() {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Errno::EINVAL),
        }
    }
}

/// A lenient boolean: any nonzero value is true.
pub struct NonZero;

impl Codec<bool, U32> for NonZero {
    fn enc(v: bool) -> U32 {
        U32::new(u32::from(v))
    }
    fn dec(w: U32) -> Result<bool, Errno> {
        Ok(w.get() != 0)
    }
}

impl Codec<bool, U16> for NonZero {
    fn enc(v: bool) -> U16 {
        U16::new(u16::from(v))
    }
    fn dec(w: U16) -> Result<bool, Errno> {
        Ok(w.get() != 0)
    }
}

/// A `u64` split over two 32-bit slots (low, high).
pub struct Split64;

impl Codec<u64, (U32, U32)> for Split64 {
    fn enc(v: u64) -> (U32, U32) {
        (U32::new(v as u32), U32::new((v >> 32) as u32))
    }
    fn dec((lo, hi): (U32, U32)) -> Result<u64, Errno> {
        Ok(u64::from(lo.get()) | (u64::from(hi.get()) << 32))
    }
}

/// A count or errno in one signed slot: `Ok(v)` as `v`, `Err(e)` as
/// `-e.code()`; a negative unknown code decodes as `EGENERIC`.
pub struct Status;

impl Codec<Result<u32, Errno>, I32> for Status {
    fn enc(v: Result<u32, Errno>) -> I32 {
        I32::new(match v {
            Ok(v) => v as i32,
            Err(e) => -e.code(),
        })
    }
    fn dec(w: I32) -> Result<Result<u32, Errno>, Errno> {
        let s = w.get();
        Ok(if s >= 0 {
            Ok(s as u32)
        } else {
            Err(Errno::from_code(s.wrapping_neg()).unwrap_or(Errno::EGENERIC))
        })
    }
}

/// An outcome without a value: 0, or the errno as a negative status (a
/// positive one is `EBADCALL`, an unknown negative one `EGENERIC`).
impl Codec<Result<(), Errno>, I32> for Status {
    fn enc(v: Result<(), Errno>) -> I32 {
        I32::new(Errno::to_status(v))
    }
    fn dec(w: I32) -> Result<Result<(), Errno>, Errno> {
        Ok(Errno::from_status(w.get()))
    }
}

/// A value reply: status 0 and the value, or the errno as a negative
/// status (a positive one is `EBADCALL`).
pub struct StatusValue;

impl Codec<Result<i64, Errno>, (I32, I64)> for StatusValue {
    fn enc(v: Result<i64, Errno>) -> (I32, I64) {
        match v {
            Ok(v) => (I32::new(0), I64::new(v)),
            Err(e) => (I32::new(-e.code()), I64::new(0)),
        }
    }
    fn dec((status, value): (I32, I64)) -> Result<Result<i64, Errno>, Errno> {
        Ok(Errno::from_status(status.get()).map(|()| value.get()))
    }
}

impl Codec<Result<u32, Errno>, (I32, U32)> for StatusValue {
    fn enc(v: Result<u32, Errno>) -> (I32, U32) {
        match v {
            Ok(v) => (I32::new(0), U32::new(v)),
            Err(e) => (I32::new(-e.code()), U32::new(0)),
        }
    }
    fn dec((status, value): (I32, U32)) -> Result<Result<u32, Errno>, Errno> {
        Ok(Errno::from_status(status.get()).map(|()| value.get()))
    }
}

impl Codec<Result<u64, Errno>, (I32, U64)> for StatusValue {
    fn enc(v: Result<u64, Errno>) -> (I32, U64) {
        match v {
            Ok(v) => (I32::new(0), U64::new(v)),
            Err(e) => (I32::new(-e.code()), U64::new(0)),
        }
    }
    fn dec((status, value): (I32, U64)) -> Result<Result<u64, Errno>, Errno> {
        Ok(Errno::from_status(status.get()).map(|()| value.get()))
    }
}

/// Byte arrays travel as they are.
impl<const N: usize> Codec<[u8; N], [u8; N]> for Le {
    fn enc(v: [u8; N]) -> [u8; N] {
        v
    }
    fn dec(w: [u8; N]) -> Result<[u8; N], Errno> {
        Ok(w)
    }
}

/// How a field of type `T` is stored in a slot of type `W` when encoding
/// may fail or `T` is not `Copy` (the `fallible` form of [`messages!`]).
/// Every [`Codec`] of a `Copy` type is one.
pub trait TryCodec<T, W> {
    /// The slot value for `v`, or why it does not fit.
    fn try_enc(v: &T) -> Result<W, Errno>;
    /// The field value of a slot, or why it is malformed.
    fn try_dec(w: W) -> Result<T, Errno>;
}

impl<C: Codec<T, W>, T: Copy, W> TryCodec<T, W> for C {
    fn try_enc(v: &T) -> Result<W, Errno> {
        Ok(C::enc(*v))
    }
    fn try_dec(w: W) -> Result<T, Errno> {
        C::dec(w)
    }
}

/// A name in a fixed, zero-padded field ([`put_name`], [`get_name`]):
/// `ENAMETOOLONG` if it does not fit, `EINVAL` if empty, with a NUL or not
/// UTF-8.
pub struct Name;

impl<const N: usize> TryCodec<String, [u8; N]> for Name {
    fn try_enc(v: &String) -> Result<[u8; N], Errno> {
        let mut f = [0; N];
        put_name(&mut f, v)?;
        Ok(f)
    }
    fn try_dec(w: [u8; N]) -> Result<String, Errno> {
        Ok(get_name(&w)?.to_string())
    }
}

/// A boolean as one bit (`MASK`) of a flag slot; other bits are ignored on
/// decode.
pub struct Bit<const MASK: u32>;

impl<const MASK: u32> Codec<bool, U32> for Bit<MASK> {
    fn enc(v: bool) -> U32 {
        U32::new(if v { MASK } else { 0 })
    }
    fn dec(w: U32) -> Result<bool, Errno> {
        Ok(w.get() & MASK != 0)
    }
}

/// In a byte slot, only the low eight bits of `MASK` count.
impl<const MASK: u32> Codec<bool, u8> for Bit<MASK> {
    fn enc(v: bool) -> u8 {
        if v { MASK as u8 } else { 0 }
    }
    fn dec(w: u8) -> Result<bool, Errno> {
        Ok(w & MASK as u8 != 0)
    }
}

/// Declare a protocol enum once; derive the enum, `to_message()` and
/// `TryFrom<&Message>`.
///
/// ```text
/// messages! {
///     /// Doc.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum Request in Payload, unknown ENOSYS {
///         /// Doc.
///         Open = OPEN {
///             /// Doc.
///             id: u64 => id,
///             /// A field in two slots, through a named codec.
///             pos: u64 => (lo, hi) via Split64,
///         },
///         /// A variant with its own payload struct.
///         Big = BIG [BigPayload] { /* ... */ },
///         /// A variant without fields (an all-zero payload).
///         Ping = PING,
///     }
/// }
/// ```
///
/// A single-message protocol is declared the same way as a struct:
/// `pub struct Reply in Payload = REPLY, unknown EBADCALL { ... }` (its
/// fields are public); `from Endpoint::SYSTEM` after the unknown errno
/// makes decoding refuse (with that errno) a message from anyone else.
///
/// `, fallible` after the header (enum or struct) is for messages with
/// fields that may not encode, such as names ([`Name`]): `to_message()`
/// returns `Result<Message, Errno>`, fields go through [`TryCodec`] by
/// reference, and they need not be `Copy`.
///
/// Slots a variant does not name are zero on the wire and ignored on
/// decode. The type numbers are constants matched as patterns, so a number
/// used twice is an unreachable-pattern warning (an error under
/// `-D warnings`).
#[macro_export]
macro_rules! messages {
    (
        $(#[$em:meta])*
        $vis:vis enum $name:ident in $payload:ty, unknown $unknown:ident {
            $(
                $(#[$vm:meta])*
                $variant:ident = $num:path $([$vpayload:ty])? $({
                    $(
                        $(#[$fm:meta])*
                        $field:ident : $fty:ty => $slot:tt $(via $codec:ty)?
                    ),* $(,)?
                })?
            ),* $(,)?
        }
    ) => {
        $(#[$em])*
        $vis enum $name {
            $(
                $(#[$vm])*
                $variant $({
                    $(
                        $(#[$fm])*
                        $field: $fty,
                    )*
                })?,
            )*
        }

        $(
            const _: () = assert!(
                core::mem::size_of::<$crate::proto::wire::payload_ty!($payload $(, $vpayload)?)>()
                    <= $crate::message::PAYLOAD_LEN
            );
        )*

        impl $name {
            /// Encode.
            // Public protocol enums keep `&self` (their callers' API); a
            // private wire enum that is `Copy` would trip this lint.
            #[allow(clippy::wrong_self_convention)]
            pub fn to_message(&self) -> $crate::message::Message {
                match *self {
                    $(
                        $name::$variant $({ $($field,)* })? => {
                            #[allow(unused_mut)]
                            let mut p = <$crate::proto::wire::payload_ty!($payload $(, $vpayload)?)
                                as $crate::proto::wire::FromZeros>::new_zeroed();
                            $($(
                                $crate::proto::wire::slot_put!(
                                    p,
                                    $slot,
                                    <$crate::proto::wire::codec_ty!($($codec)?)
                                        as $crate::proto::wire::Codec<$fty, _>>::enc($field)
                                );
                            )*)?
                            $crate::message::Message::with($num, &p)
                        }
                    )*
                }
            }
        }

        impl TryFrom<&$crate::message::Message> for $name {
            type Error = $crate::errno::Errno;
            fn try_from(
                m: &$crate::message::Message,
            ) -> Result<Self, $crate::errno::Errno> {
                match m.mtype() {
                    $(
                        $num => {
                            #[allow(unused_variables)]
                            let p: $crate::proto::wire::payload_ty!($payload $(, $vpayload)?) =
                                m.payload_as()?;
                            Ok($name::$variant $({
                                $(
                                    $field: <$crate::proto::wire::codec_ty!($($codec)?)
                                        as $crate::proto::wire::Codec<$fty, _>>::dec(
                                        $crate::proto::wire::slot_get!(p, $slot),
                                    )?,
                                )*
                            })?)
                        }
                    )*
                    _ => Err($crate::errno::Errno::$unknown),
                }
            }
        }
    };
    (
        $(#[$em:meta])*
        $vis:vis enum $name:ident in $payload:ty, unknown $unknown:ident, fallible {
            $(
                $(#[$vm:meta])*
                $variant:ident = $num:path $([$vpayload:ty])? $({
                    $(
                        $(#[$fm:meta])*
                        $field:ident : $fty:ty => $slot:tt $(via $codec:ty)?
                    ),* $(,)?
                })?
            ),* $(,)?
        }
    ) => {
        $(#[$em])*
        $vis enum $name {
            $(
                $(#[$vm])*
                $variant $({
                    $(
                        $(#[$fm])*
                        $field: $fty,
                    )*
                })?,
            )*
        }

        $(
            const _: () = assert!(
                core::mem::size_of::<$crate::proto::wire::payload_ty!($payload $(, $vpayload)?)>()
                    <= $crate::message::PAYLOAD_LEN
            );
        )*

        impl $name {
            /// Encode; a field that does not fit its slot is an error.
            pub fn to_message(
                &self,
            ) -> Result<$crate::message::Message, $crate::errno::Errno> {
                match self {
                    $(
                        $name::$variant $({ $($field,)* })? => {
                            #[allow(unused_mut)]
                            let mut p = <$crate::proto::wire::payload_ty!($payload $(, $vpayload)?)
                                as $crate::proto::wire::FromZeros>::new_zeroed();
                            $($(
                                $crate::proto::wire::slot_put!(
                                    p,
                                    $slot,
                                    <$crate::proto::wire::codec_ty!($($codec)?)
                                        as $crate::proto::wire::TryCodec<$fty, _>>::try_enc($field)?
                                );
                            )*)?
                            Ok($crate::message::Message::with($num, &p))
                        }
                    )*
                }
            }
        }

        impl TryFrom<&$crate::message::Message> for $name {
            type Error = $crate::errno::Errno;
            fn try_from(
                m: &$crate::message::Message,
            ) -> Result<Self, $crate::errno::Errno> {
                match m.mtype() {
                    $(
                        $num => {
                            #[allow(unused_variables)]
                            let p: $crate::proto::wire::payload_ty!($payload $(, $vpayload)?) =
                                m.payload_as()?;
                            Ok($name::$variant $({
                                $(
                                    $field: <$crate::proto::wire::codec_ty!($($codec)?)
                                        as $crate::proto::wire::TryCodec<$fty, _>>::try_dec(
                                        $crate::proto::wire::slot_get!(p, $slot),
                                    )?,
                                )*
                            })?)
                        }
                    )*
                    _ => Err($crate::errno::Errno::$unknown),
                }
            }
        }
    };
    (
        $(#[$sm:meta])*
        $vis:vis struct $name:ident in $payload:ty = $num:path, unknown $unknown:ident
            $(from $src:path)? {
            $(
                $(#[$fm:meta])*
                $field:ident : $fty:ty => $slot:tt $(via $codec:ty)?
            ),* $(,)?
        }
    ) => {
        $(#[$sm])*
        $vis struct $name {
            $(
                $(#[$fm])*
                pub $field: $fty,
            )*
        }

        const _: () = assert!(core::mem::size_of::<$payload>() <= $crate::message::PAYLOAD_LEN);

        impl $name {
            /// Encode.
            #[allow(clippy::wrong_self_convention)]
            pub fn to_message(&self) -> $crate::message::Message {
                let mut p = <$payload as $crate::proto::wire::FromZeros>::new_zeroed();
                $(
                    $crate::proto::wire::slot_put!(
                        p,
                        $slot,
                        <$crate::proto::wire::codec_ty!($($codec)?)
                            as $crate::proto::wire::Codec<$fty, _>>::enc(self.$field)
                    );
                )*
                $crate::message::Message::with($num, &p)
            }
        }

        impl TryFrom<&$crate::message::Message> for $name {
            type Error = $crate::errno::Errno;
            fn try_from(
                m: &$crate::message::Message,
            ) -> Result<Self, $crate::errno::Errno> {
                if m.mtype() != $num $(|| m.source() != $src)? {
                    return Err($crate::errno::Errno::$unknown);
                }
                let p: $payload = m.payload_as()?;
                Ok($name {
                    $(
                        $field: <$crate::proto::wire::codec_ty!($($codec)?)
                            as $crate::proto::wire::Codec<$fty, _>>::dec(
                            $crate::proto::wire::slot_get!(p, $slot),
                        )?,
                    )*
                })
            }
        }
    };
    (
        $(#[$sm:meta])*
        $vis:vis struct $name:ident in $payload:ty = $num:path, unknown $unknown:ident, fallible {
            $(
                $(#[$fm:meta])*
                $field:ident : $fty:ty => $slot:tt $(via $codec:ty)?
            ),* $(,)?
        }
    ) => {
        $(#[$sm])*
        $vis struct $name {
            $(
                $(#[$fm])*
                pub $field: $fty,
            )*
        }

        const _: () = assert!(core::mem::size_of::<$payload>() <= $crate::message::PAYLOAD_LEN);

        impl $name {
            /// Encode; a field that does not fit its slot is an error.
            pub fn to_message(
                &self,
            ) -> Result<$crate::message::Message, $crate::errno::Errno> {
                let mut p = <$payload as $crate::proto::wire::FromZeros>::new_zeroed();
                $(
                    $crate::proto::wire::slot_put!(
                        p,
                        $slot,
                        <$crate::proto::wire::codec_ty!($($codec)?)
                            as $crate::proto::wire::TryCodec<$fty, _>>::try_enc(&self.$field)?
                    );
                )*
                Ok($crate::message::Message::with($num, &p))
            }
        }

        impl TryFrom<&$crate::message::Message> for $name {
            type Error = $crate::errno::Errno;
            fn try_from(
                m: &$crate::message::Message,
            ) -> Result<Self, $crate::errno::Errno> {
                if m.mtype() != $num {
                    return Err($crate::errno::Errno::$unknown);
                }
                let p: $payload = m.payload_as()?;
                Ok($name {
                    $(
                        $field: <$crate::proto::wire::codec_ty!($($codec)?)
                            as $crate::proto::wire::TryCodec<$fty, _>>::try_dec(
                            $crate::proto::wire::slot_get!(p, $slot),
                        )?,
                    )*
                })
            }
        }
    };
}

/// The variant's own payload type if it names one, else the protocol's.
#[doc(hidden)]
#[macro_export]
macro_rules! payload_ty {
    ($d:ty) => {
        $d
    };
    ($d:ty, $o:ty) => {
        $o
    };
}

/// The named codec, else [`Le`].
#[doc(hidden)]
#[macro_export]
macro_rules! codec_ty {
    () => {
        $crate::proto::wire::Le
    };
    ($c:ty) => {
        $c
    };
}

/// Store a slot value (a tuple for a parenthesised slot list).
#[doc(hidden)]
#[macro_export]
macro_rules! slot_put {
    ($p:ident, ($($s:ident),+), $v:expr) => { ($($p.$s),+) = $v; };
    ($p:ident, $s:ident, $v:expr) => { $p.$s = $v; };
}

/// Load a slot value (a tuple for a parenthesised slot list).
#[doc(hidden)]
#[macro_export]
macro_rules! slot_get {
    ($p:ident, ($($s:ident),+)) => { ($($p.$s),+) };
    ($p:ident, $s:ident) => { $p.$s };
}

// `#[macro_export]` puts the macros at the crate root; they are used from
// here (and by other crates as `sys::proto::wire::messages`).
pub use crate::messages;
#[doc(hidden)]
pub use crate::{codec_ty, payload_ty, slot_get, slot_put};
#[doc(hidden)]
pub use zerocopy::FromZeros;

/// Test support: a message as `type:payload` hex, trailing zero bytes
/// dropped, for golden tests that pin the wire bytes (here and in the
/// crates that declare their own protocols).
pub fn hex(m: &crate::message::Message) -> alloc::string::String {
    use core::fmt::Write;
    let p = m.payload();
    let n = p.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let mut s = alloc::format!("{:x}:", m.mtype());
    for b in &p[..n] {
        let _ = write!(s, "{b:02x}");
    }
    s
}
