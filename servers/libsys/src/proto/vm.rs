//! The VM protocol (address spaces), numbers 0xBxx (0xAxx is VFS's).
//!
//! Two request families, answered with one [`VmReply`]:
//!
//! * [`VmCall`], from any user process about its *own* address space
//!   (the caller is the message's source): `brk`, anonymous `mmap`,
//!   `munmap`, `mprotect`, memory figures, and a read-only private
//!   mapping of a block device ([`VmCall::MmapFile`]: VM asks VFS with
//!   `sys::proto::vfs::VfsVmCall::PeekDev`, which reads through the file
//!   server's cache, and answers when VFS has answered).
//! * [`VmPmCall`], from PM only (VM checks the sender against the process
//!   DS names `pm`; anyone else gets `EPERM`): fork, exec, exit and the
//!   adoption of a boot-started user process.
//!
//! Every request starts with a `u64` request id, echoed in the reply.
//! Address-space layout (`abi`): brk heap `HEAP_BASE..HEAP_END`, anonymous
//! mappings `MMAP_BASE..MMAP_END`, stack under `USER_STACK_TOP`.

use crate::endpoint::Endpoint;
use crate::errno::Errno;
use crate::ipc::GrantId;
use crate::message::Message;
use crate::proto::wire::{Codec, Le, Status, StatusValue, messages};
use zerocopy::little_endian::{I32, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

const BRK: u32 = 0xb00;
const MMAP: u32 = 0xb01;
const MUNMAP: u32 = 0xb02;
const MPROTECT: u32 = 0xb03;
const INFO: u32 = 0xb04;
const MMAP_FILE: u32 = 0xb05;

const PM_FORK: u32 = 0xb40;
const PM_EXEC: u32 = 0xb41;
const PM_EXIT: u32 = 0xb42;
const PM_NEWPROC: u32 = 0xb43;

const R_VALUE: u32 = 0xb80;
const R_INFO: u32 = 0xb81;
const R_EXEC: u32 = 0xb82;
const R_MAPPED: u32 = 0xb83;

/// Most bytes one [`VmCall::MmapFile`] maps (VFS's largest single read);
/// longer is `ENOMEM`.
pub const MAX_FILE_MAP: u64 = 1 << 20;

/// Protection bits of [`VmCall::Mmap`] and [`VmCall::Mprotect`] (POSIX
/// values).
pub mod prot {
    /// Readable (every mapping is readable on x86-64 anyway).
    pub const READ: u32 = 1;
    /// Writable.
    pub const WRITE: u32 = 2;
    /// Executable.
    pub const EXEC: u32 = 4;
    /// All the bits this protocol knows.
    pub const ALL: u32 = READ | WRITE | EXEC;
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
struct CallP {
    id: U64,
    addr: U64,
    len: U64,
    prot: U32,
    fd: I32,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
struct PmP {
    id: U64,
    ep: U32,
    image_granter: U32,
    image_grant: U32,
    block_granter: U32,
    block_grant: U32,
    image_len: U64,
    block_len: U64,
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned, Default)]
#[repr(C)]
struct ReplyP {
    id: U64,
    status: I32,
    v0: U64,
    v1: U64,
    v2: U64,
    v3: U64,
    v4: U64,
}

const _: () = assert!(core::mem::size_of::<ReplyP>() <= 56);

messages! {
    /// A user process's request about its own address space.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum VmCall in CallP, unknown ENOSYS {
        /// Set the program break to `addr` (0: only ask) -> the break now.
        /// The break moves within `HEAP_BASE..=HEAP_END`; pages between the
        /// old and new break are mapped zeroed (growth) or unmapped (shrink).
        /// `ENOMEM` out of range or out of memory (the break stays).
        Brk = BRK {
            /// Request id.
            id: u64 => id,
            /// Wanted break.
            addr: u64 => addr,
        },
        /// Anonymous private zeroed mapping of `len` bytes (rounded up to
        /// pages) with protection `prot` -> its address, in
        /// `MMAP_BASE..MMAP_END`.
        Mmap = MMAP {
            /// Request id.
            id: u64 => id,
            /// Bytes.
            len: u64 => len,
            /// [`prot`] bits.
            prot: u32 => prot,
        },
        /// Unmap `addr..addr+len` (page-aligned `addr`) of the mmap area -> 0.
        Munmap = MUNMAP {
            /// Request id.
            id: u64 => id,
            /// First byte (page-aligned).
            addr: u64 => addr,
            /// Bytes (rounded up to pages).
            len: u64 => len,
        },
        /// Change the protection of mapped pages -> 0.
        Mprotect = MPROTECT {
            /// Request id.
            id: u64 => id,
            /// First byte (page-aligned).
            addr: u64 => addr,
            /// Bytes (rounded up to pages).
            len: u64 => len,
            /// [`prot`] bits.
            prot: u32 => prot,
        },
        /// Memory figures -> [`MemInfo`].
        Info = INFO {
            /// Request id.
            id: u64 => id,
        },
        /// Read-only private mapping (`mmap(PROT_READ, MAP_PRIVATE)`) of
        /// `len` bytes (rounded up to pages) of the block device open on the
        /// caller's descriptor `fd`, from byte `offset` (page-aligned) ->
        /// [`VmAnswer::Mapped`]. VM asks VFS for the bytes (read through the
        /// file server's cache), maps them in the mmap area and makes them
        /// read-only; the rest of the last page holding device bytes is zero,
        /// and pages wholly beyond the device end (beyond
        /// `roundup(size, page)`) are reserved but not mapped (an access
        /// faults; `munmap` releases them with the rest). Errors: `EACCES` if
        /// `prot` asks for write, `EINVAL` for a zero length, an unaligned
        /// offset or unknown `prot` bits, `ENOMEM` above [`MAX_FILE_MAP`] or
        /// without room, `EBADF` / `ENODEV` (not a block device) from VFS, and
        /// `ENXIO` when no page would hold device bytes (`offset` at or past
        /// the end: the mapping would lie wholly beyond it).
        MmapFile = MMAP_FILE {
            /// Request id.
            id: u64 => id,
            /// The caller's descriptor of a block device.
            fd: i32 => fd,
            /// Device offset (page-aligned).
            offset: u64 => addr,
            /// Bytes.
            len: u64 => len,
            /// [`prot`] bits (without [`prot::WRITE`]).
            prot: u32 => prot,
        },
    }
}

impl VmCall {
    /// The request id.
    pub fn id(&self) -> u64 {
        match *self {
            VmCall::Brk { id, .. }
            | VmCall::Mmap { id, .. }
            | VmCall::Munmap { id, .. }
            | VmCall::Mprotect { id, .. }
            | VmCall::MmapFile { id, .. }
            | VmCall::Info { id } => id,
        }
    }

    /// Whether `m` carries a [`VmCall`] number.
    pub fn is_vm_call(m: &Message) -> bool {
        (BRK..=MMAP_FILE).contains(&m.mtype())
    }

    /// Decode (the same as `TryFrom<&Message>`).
    pub fn from_message(m: &Message) -> Result<Self, Errno> {
        Self::try_from(m)
    }
}

/// Bytes another process granted to VM (read access): the grant's owner,
/// its id and the length VM is to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantRef {
    /// The process that created the grant.
    pub granter: Endpoint,
    /// The grant.
    pub grant: GrantId,
    /// Bytes to copy from offset 0.
    pub len: u64,
}

messages! {
    /// PM's requests (accepted only from the process DS names `pm`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum VmPmCall in PmP, unknown ENOSYS {
        /// Copy-on-write clone of `parent` (kernel `ProcFork`); the child is
        /// stopped, with the parent's regions and VM as its pager -> the
        /// child's endpoint ([`VmAnswer::Value`]).
        Fork = PM_FORK {
            /// Request id.
            id: u64 => id,
            /// The process to clone.
            parent: Endpoint => ep,
        },
        /// Replace `ep`'s address space with the ELF executable in `image`,
        /// with the exec block (argv strings each NUL-terminated, an empty
        /// string, then the environment strings) in `block` at the top of a
        /// fresh stack -> [`VmAnswer::Exec`]. The image is copied and
        /// validated and the memory checked before the old space is torn
        /// down: an error (`ENOEXEC`, `ENOMEM`, `E2BIG`, `EFAULT`) leaves `ep`
        /// as it was. PM then starts it with `SetEntry`.
        Exec = PM_EXEC {
            /// Request id.
            id: u64 => id,
            /// The process whose space is replaced.
            ep: Endpoint => ep,
            /// The executable's bytes.
            image: GrantRef => (image_granter, image_grant, image_len),
            /// The exec block.
            block: GrantRef => (block_granter, block_grant, block_len),
        },
        /// `ep` is gone: forget its regions -> 0.
        Exit = PM_EXIT {
            /// Request id.
            id: u64 => id,
            /// The process.
            ep: Endpoint => ep,
        },
        /// Adopt `ep`, a user process the kernel started from the boot image:
        /// record its regions and become its pager -> 0.
        NewProc = PM_NEWPROC {
            /// Request id.
            id: u64 => id,
            /// The process.
            ep: Endpoint => ep,
        },
    }
}

impl VmPmCall {
    /// The request id.
    pub fn id(&self) -> u64 {
        match *self {
            VmPmCall::Fork { id, .. }
            | VmPmCall::Exec { id, .. }
            | VmPmCall::Exit { id, .. }
            | VmPmCall::NewProc { id, .. } => id,
        }
    }

    /// Whether `m` carries a [`VmPmCall`] number.
    pub fn is_vm_pm_call(m: &Message) -> bool {
        (PM_FORK..=PM_NEWPROC).contains(&m.mtype())
    }

    /// Decode (the same as `TryFrom<&Message>`).
    pub fn from_message(m: &Message) -> Result<Self, Errno> {
        Self::try_from(m)
    }
}

/// A [`GrantRef`] in a granter, a grant and a length slot.
impl Codec<GrantRef, (U32, U32, U64)> for Le {
    fn enc(g: GrantRef) -> (U32, U32, U64) {
        (U32::new(g.granter.0), U32::new(g.grant.0), U64::new(g.len))
    }
    fn dec((granter, grant, len): (U32, U32, U64)) -> Result<GrantRef, Errno> {
        Ok(GrantRef {
            granter: Endpoint(granter.get()),
            grant: GrantId(grant.get()),
            len: len.get(),
        })
    }
}

/// Memory figures (kernel `MemStats`), in 4 KiB frames and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemInfo {
    /// Frames the kernel manages.
    pub total: u64,
    /// Free frames.
    pub free: u64,
    /// Frames shared by more than one mapping (copy-on-write).
    pub shared: u64,
    /// Copy-on-write faults that copied a frame.
    pub cow_copies: u64,
    /// Copy-on-write faults resolved without a copy (last sharer).
    pub cow_nocopy: u64,
}

/// Where a freshly built image starts (the answer to [`VmPmCall::Exec`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExecImage {
    /// Entry point (`rip`).
    pub entry: u64,
    /// Initial stack pointer (16-byte aligned, below the block).
    pub rsp: u64,
    /// Address of the exec block on the new stack (`rdi` at entry).
    pub block_addr: u64,
    /// Its length (`rsi` at entry).
    pub block_len: u64,
}

/// A successful VM answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmAnswer {
    /// A number: the break, an address, an endpoint (`Fork`), or 0.
    Value(u64),
    /// [`VmCall::Info`].
    Info(MemInfo),
    /// [`VmPmCall::Exec`].
    Exec(ExecImage),
    /// [`VmCall::MmapFile`]: the mapping's address, and how much of it is
    /// mapped (readable) from its start: the pages holding device bytes.
    Mapped {
        /// First byte of the mapping (`len` rounded up to pages long).
        addr: u64,
        /// Bytes mapped from `addr` (a multiple of the page size); the
        /// pages after them are reserved and not mapped.
        readable: u64,
    },
}

/// VM's reply to either request family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmReply {
    /// The request's id.
    pub id: u64,
    /// Answer or error.
    pub result: Result<VmAnswer, Errno>,
}

/// Four or five words.
type Words4 = (U64, U64, U64, U64);
type Words5 = (U64, U64, U64, U64, U64);

impl Codec<MemInfo, Words5> for Le {
    fn enc(i: MemInfo) -> Words5 {
        let w = U64::new;
        (
            w(i.total),
            w(i.free),
            w(i.shared),
            w(i.cow_copies),
            w(i.cow_nocopy),
        )
    }
    fn dec((total, free, shared, cow_copies, cow_nocopy): Words5) -> Result<MemInfo, Errno> {
        Ok(MemInfo {
            total: total.get(),
            free: free.get(),
            shared: shared.get(),
            cow_copies: cow_copies.get(),
            cow_nocopy: cow_nocopy.get(),
        })
    }
}

impl Codec<ExecImage, Words4> for Le {
    fn enc(x: ExecImage) -> Words4 {
        let w = U64::new;
        (w(x.entry), w(x.rsp), w(x.block_addr), w(x.block_len))
    }
    fn dec((entry, rsp, block_addr, block_len): Words4) -> Result<ExecImage, Errno> {
        Ok(ExecImage {
            entry: entry.get(),
            rsp: rsp.get(),
            block_addr: block_addr.get(),
            block_len: block_len.get(),
        })
    }
}

messages! {
    /// The wire form of [`VmReply`]: one message per answer kind, an error
    /// as a `Value` one. Every kind carries the status, so an error status
    /// wins whatever the kind.
    #[derive(Clone, Copy)]
    enum Rep in ReplyP, unknown EBADCALL {
        Value = R_VALUE {
            id: u64 => id,
            result: Result<u64, Errno> => (status, v0) via StatusValue,
        },
        Info = R_INFO {
            id: u64 => id,
            status: Result<(), Errno> => status via Status,
            info: MemInfo => (v0, v1, v2, v3, v4),
        },
        Exec = R_EXEC {
            id: u64 => id,
            status: Result<(), Errno> => status via Status,
            image: ExecImage => (v0, v1, v2, v3),
        },
        Mapped = R_MAPPED {
            id: u64 => id,
            status: Result<(), Errno> => status via Status,
            addr: u64 => v0,
            readable: u64 => v1,
        },
    }
}

impl VmReply {
    /// Encode.
    pub fn to_message(&self) -> Message {
        let (id, status) = (self.id, Ok(()));
        match self.result {
            Err(e) => Rep::Value { id, result: Err(e) },
            Ok(VmAnswer::Value(v)) => Rep::Value { id, result: Ok(v) },
            Ok(VmAnswer::Info(info)) => Rep::Info { id, status, info },
            Ok(VmAnswer::Exec(image)) => Rep::Exec { id, status, image },
            Ok(VmAnswer::Mapped { addr, readable }) => Rep::Mapped {
                id,
                status,
                addr,
                readable,
            },
        }
        .to_message()
    }

    /// Decode (the same as `TryFrom<&Message>`).
    pub fn from_message(m: &Message) -> Result<Self, Errno> {
        Self::try_from(m)
    }

    /// The answer as a number (`Value`), for callers that expect one;
    /// another answer kind is `EBADCALL`.
    pub fn value(&self) -> Result<u64, Errno> {
        match self.result? {
            VmAnswer::Value(v) => Ok(v),
            _ => Err(Errno::EBADCALL),
        }
    }
}

impl TryFrom<&Message> for VmReply {
    type Error = Errno;
    fn try_from(m: &Message) -> Result<Self, Errno> {
        let (id, result) = match Rep::try_from(m)? {
            Rep::Value { id, result } => (id, result.map(VmAnswer::Value)),
            Rep::Info { id, status, info } => (id, status.map(|()| VmAnswer::Info(info))),
            Rep::Exec { id, status, image } => (id, status.map(|()| VmAnswer::Exec(image))),
            Rep::Mapped {
                id,
                status,
                addr,
                readable,
            } => (id, status.map(|()| VmAnswer::Mapped { addr, readable })),
        };
        Ok(VmReply { id, result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::hex;
    use alloc::string::String;
    use alloc::vec::Vec;

    const GOLDEN: &[&str] = &[
        "b00:010000000000000000100048",
        "b00:02",
        "b01:03000000000000000000000000000000000010000000000003",
        "b02:040000000000000000000060000000000020",
        "b03:ffffffffffffffff0010006000000000001000000000000001",
        "b04:06",
        "b05:07000000000000000010000000000000005200000000000001000000fdffffff",
        "b40:0100000000000000030011",
        "b41:0200000000000000010014000100140007000000020015000800000000000001000000007b",
        "b42:030000000000000000001e",
        "b43:0400000000000000000009",
    ];

    const REPLY_GOLDEN: &[&str] = &[
        "b80:01000000000000000000000000200048",
        "b80:0200000000000000f4ffffff",
        "b80:0300000000000000f8ffffff",
        "b81:040000000000000000000000007d000000000000204e0000000000000c000000000000000500000000000000ffffffffffffffff",
        "b82:0500000000000000000000000000004000000000c0effe7f00000000d0effe7f000000001e",
        "b83:06000000000000000000000000300060000000000030",
    ];

    /// One instance of each call (round trip and golden wire bytes).
    fn sample_user_calls() -> alloc::vec::Vec<VmCall> {
        alloc::vec![
            VmCall::Brk {
                id: 1,
                addr: 0x4800_1000,
            },
            VmCall::Brk { id: 2, addr: 0 },
            VmCall::Mmap {
                id: 3,
                len: 1 << 20,
                prot: prot::READ | prot::WRITE,
            },
            VmCall::Munmap {
                id: 4,
                addr: 0x6000_0000,
                len: 8192,
            },
            VmCall::Mprotect {
                id: u64::MAX,
                addr: 0x6000_1000,
                len: 4096,
                prot: prot::READ,
            },
            VmCall::Info { id: 6 },
            VmCall::MmapFile {
                id: 7,
                fd: -3,
                offset: 0x1000,
                len: 20_992,
                prot: prot::READ,
            },
        ]
    }

    /// One instance of each PM call (round trip and golden wire bytes).
    fn sample_pm_calls() -> alloc::vec::Vec<VmPmCall> {
        alloc::vec![
            VmPmCall::Fork {
                id: 1,
                parent: Endpoint::new(3, 17),
            },
            VmPmCall::Exec {
                id: 2,
                ep: Endpoint::new(1, 20),
                image: GrantRef {
                    granter: Endpoint::new(1, 20),
                    grant: GrantId(7),
                    len: 16 << 20,
                },
                block: GrantRef {
                    granter: Endpoint::new(2, 21),
                    grant: GrantId(8),
                    len: 123,
                },
            },
            VmPmCall::Exit {
                id: 3,
                ep: Endpoint::new(0, 30),
            },
            VmPmCall::NewProc {
                id: 4,
                ep: Endpoint::new(0, 9),
            },
        ]
    }

    #[test]
    fn user_calls_roundtrip() {
        let calls = sample_user_calls();
        for c in calls {
            let m = c.to_message();
            assert!(VmCall::is_vm_call(&m) && !VmPmCall::is_vm_pm_call(&m));
            assert_eq!(VmCall::from_message(&m), Ok(c));
            assert_eq!(m.request_id(), c.id());
        }
    }

    #[test]
    fn pm_calls_roundtrip() {
        let calls = sample_pm_calls();
        for c in calls {
            let m = c.to_message();
            assert!(VmPmCall::is_vm_pm_call(&m) && !VmCall::is_vm_call(&m));
            assert_eq!(VmPmCall::from_message(&m), Ok(c));
            assert_eq!(m.request_id(), c.id());
        }
    }

    #[test]
    fn the_families_do_not_decode_each_other() {
        let user = VmCall::Info { id: 1 }.to_message();
        let pm = VmPmCall::Exit {
            id: 1,
            ep: Endpoint::new(0, 5),
        }
        .to_message();
        assert_eq!(VmPmCall::try_from(&user), Err(Errno::ENOSYS));
        assert_eq!(VmCall::try_from(&pm), Err(Errno::ENOSYS));
        assert_eq!(VmCall::try_from(&Message::new(0xbff)), Err(Errno::ENOSYS));
    }

    /// One reply of each answer kind (round trip and golden bytes).
    fn sample_replies() -> Vec<VmReply> {
        alloc::vec![
            VmReply {
                id: 1,
                result: Ok(VmAnswer::Value(0x4800_2000)),
            },
            VmReply {
                id: 2,
                result: Err(Errno::ENOMEM),
            },
            VmReply {
                id: 3,
                result: Err(Errno::ENOEXEC),
            },
            VmReply {
                id: 4,
                result: Ok(VmAnswer::Info(MemInfo {
                    total: 32_000,
                    free: 20_000,
                    shared: 12,
                    cow_copies: 5,
                    cow_nocopy: u64::MAX,
                })),
            },
            VmReply {
                id: 5,
                result: Ok(VmAnswer::Exec(ExecImage {
                    entry: 0x4000_0000,
                    rsp: 0x7ffe_efc0,
                    block_addr: 0x7ffe_efd0,
                    block_len: 30,
                })),
            },
            VmReply {
                id: 6,
                result: Ok(VmAnswer::Mapped {
                    addr: 0x6000_3000,
                    readable: 3 * 4096,
                }),
            },
        ]
    }

    #[test]
    fn replies_roundtrip() {
        for r in sample_replies() {
            let m = r.to_message();
            assert_eq!(m.request_id(), r.id);
            assert_eq!(VmReply::from_message(&m), Ok(r));
        }
        let v = VmReply {
            id: 9,
            result: Ok(VmAnswer::Value(5)),
        };
        assert_eq!(v.value(), Ok(5));
        let e = VmReply {
            id: 9,
            result: Err(Errno::EPERM),
        };
        assert_eq!(e.value(), Err(Errno::EPERM));
        assert_eq!(
            VmReply::try_from(&Message::new(0xb00)),
            Err(Errno::EBADCALL)
        );
    }

    /// A reply with a positive status is malformed (`EBADCALL` as the
    /// result), whatever its kind; an error status wins over the words.
    #[test]
    fn malformed_replies_are_errors() {
        for r in sample_replies() {
            let mut m = r.to_message();
            m.payload_mut()[8..12].copy_from_slice(&1i32.to_le_bytes());
            assert_eq!(
                VmReply::try_from(&m).map(|r| r.result),
                Ok(Err(Errno::EBADCALL))
            );
        }
        let mut m = sample_replies()[3].to_message();
        m.payload_mut()[8..12].copy_from_slice(&(-Errno::EFAULT.code()).to_le_bytes());
        assert_eq!(
            VmReply::try_from(&m).map(|r| r.result),
            Ok(Err(Errno::EFAULT))
        );
        assert_eq!(
            VmReply::try_from(&Message::new(R_MAPPED + 1)),
            Err(Errno::EBADCALL)
        );
    }

    /// The wire bytes of one reply of each kind, fixed from the
    /// hand-written encoder before [`VmReply`] was declared with
    /// `messages!`.
    #[test]
    fn golden_reply_wire_bytes() {
        let got: Vec<String> = sample_replies()
            .iter()
            .map(|r| hex(&r.to_message()))
            .collect();
        assert_eq!(got, REPLY_GOLDEN);
    }

    /// The wire bytes of one instance of each message, fixed from the
    /// hand-written encoder this module had before it was declared with
    /// `messages!`.
    #[test]
    fn golden_wire_bytes() {
        let user = sample_user_calls();
        let pm = sample_pm_calls();
        let got: Vec<String> = user
            .iter()
            .map(|c| hex(&c.to_message()))
            .chain(pm.iter().map(|c| hex(&c.to_message())))
            .collect();
        assert_eq!(got, GOLDEN);
    }
}
