//! IPC for user programs: 64-byte messages (layout in `abi`), send /
//! receive / sendrec / sendnb / notify, and name lookup of boot processes.
//! Endpoints are raw `u32` values (`generation << 16 | slot`).

use crate::sys::{raw_syscall, raw_syscall6};
use abi::{Errno, MESSAGE_SIZE, MSG_PAYLOAD_OFFSET, MSG_SOURCE_OFFSET, MSG_TYPE_OFFSET, Syscall};

/// A raw message.
pub type Message = [u8; MESSAGE_SIZE];

/// Receive from anyone.
pub const ANY: u32 = abi::ENDPOINT_ANY;

/// A zeroed message of type `mtype`.
pub fn message(mtype: u32) -> Message {
    let mut m = [0u8; MESSAGE_SIZE];
    m[MSG_TYPE_OFFSET..MSG_TYPE_OFFSET + 4].copy_from_slice(&mtype.to_le_bytes());
    m
}

fn get_u32(m: &Message, at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&m[at..at + 4]);
    u32::from_le_bytes(b)
}

/// The message type.
pub fn mtype(m: &Message) -> u32 {
    get_u32(m, MSG_TYPE_OFFSET)
}

/// The sender, stamped by the kernel.
pub fn source(m: &Message) -> u32 {
    get_u32(m, MSG_SOURCE_OFFSET)
}

/// The `u64` at payload offset `off` (0..=48).
pub fn get(m: &Message, off: usize) -> u64 {
    let at = MSG_PAYLOAD_OFFSET + off.min(48);
    let mut b = [0u8; 8];
    b.copy_from_slice(&m[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Sets the `u64` at payload offset `off` (0..=48).
pub fn set(m: &mut Message, off: usize, v: u64) {
    let at = MSG_PAYLOAD_OFFSET + off.min(48);
    m[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn call(c: Syscall, a0: u64, a1: u64) -> Result<u64, Errno> {
    Errno::from_return(raw_syscall(c as u64, a0, a1))
}

/// Sends `m` to `to`, blocking until it is received.
pub fn send(to: u32, m: &Message) -> Result<(), Errno> {
    call(Syscall::Send, u64::from(to), m.as_ptr() as u64).map(drop)
}

/// Sends `m` only if `to` is waiting for it.
pub fn sendnb(to: u32, m: &Message) -> Result<(), Errno> {
    call(Syscall::SendNb, u64::from(to), m.as_ptr() as u64).map(drop)
}

/// Asynchronous send: never blocks; if `to` dies before receiving it, a
/// dead-peer bounce (`abi::DEAD_PEER_MTYPE`) comes back from SYSTEM.
pub fn senda(to: u32, m: &Message) -> Result<(), Errno> {
    senda_flags(to, m, 0)
}

/// Asynchronous request (`SendA` with `abi::SENDA_REQUEST`): like
/// [`senda`], and `to` owes one answer once it has received it: if it
/// dies before delivering any non-notify message back, the dead-peer
/// bounce still comes. `NotReady` when `to` already owes
/// `abi::MAX_OWED_REPLIES` answers.
pub fn senda_request(to: u32, m: &Message) -> Result<(), Errno> {
    senda_flags(to, m, abi::SENDA_REQUEST)
}

fn senda_flags(to: u32, m: &Message, flags: u64) -> Result<(), Errno> {
    let a = [u64::from(to), m.as_ptr() as u64, flags, 0, 0, 0];
    Errno::from_return(raw_syscall6(Syscall::SendA as u64, a)).map(drop)
}

/// The `u32` at payload offset `off` (0..=52).
pub fn get32(m: &Message, off: usize) -> u32 {
    get_u32(m, MSG_PAYLOAD_OFFSET + off.min(52))
}

/// Receives from `from` (or [`ANY`]).
pub fn receive(from: u32) -> Result<Message, Errno> {
    let mut m = [0u8; MESSAGE_SIZE];
    call(Syscall::Receive, u64::from(from), m.as_mut_ptr() as u64)?;
    Ok(m)
}

/// Sends `m` to `to` and replaces it with the reply.
pub fn sendrec(to: u32, m: &mut Message) -> Result<(), Errno> {
    call(Syscall::SendRec, u64::from(to), m.as_mut_ptr() as u64).map(drop)
}

/// Notifies `to` (never blocks).
pub fn notify(to: u32) -> Result<(), Errno> {
    call(Syscall::Notify, u64::from(to), 0).map(drop)
}

/// The endpoint of the live process called `name`.
pub fn whois(name: &str) -> Result<u32, Errno> {
    call(Syscall::WhoIs, name.as_ptr() as u64, name.len() as u64).map(|e| e as u32)
}

/// The CPU time-stamp counter (for benchmarks).
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `rdtsc` only reads the time-stamp counter (allowed in ring 3
    // unless CR4.TSD is set, which our kernel never does).
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_fields_round_trip() {
        let mut m = message(0x42);
        set(&mut m, 0, 7);
        set(&mut m, 48, u64::MAX);
        assert_eq!(
            (mtype(&m), source(&m), get(&m, 0), get(&m, 48)),
            (0x42, 0, 7, u64::MAX)
        );
    }
}
