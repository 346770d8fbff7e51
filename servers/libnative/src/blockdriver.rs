//! What every block driver does alike (MINIX libblockdriver's part): the
//! message dispatch of a `sys::proto::bdev` server and its `main`.
//!
//! A driver implements [`BlockDriver`] (its requests, interrupts and clock
//! polls) and its `Service::handle` is [`handle`]: a notification from
//! SYSTEM is an interrupt, one from CLOCK a poll; any other message is a
//! request, answered at once when [`BlockDriver::request`] returns a value
//! or an error (an unknown protocol gets `ENOSYS` with id 0, malformed
//! requests `EINVAL` from the decoder), later by the driver when it
//! returns `Ok(None)`.

use alloc::vec::Vec;
use sys::proto::bdev::{BdevReply, BdevRequest, IoVec, MAX_IOVEC, request_id};
use sys::proto::kernel::is_notify;
use sys::{Ctx, Endpoint, Errno, GrantId, Message, Service};
use zerocopy::FromBytes;

/// The device-specific part of a block driver.
pub trait BlockDriver {
    /// This instance's id, in every reply (clients notice a restart by it).
    fn instance(&self) -> u64;
    /// Decodes and starts one request of `client`; `Ok(Some)` is an
    /// immediate answer, `Ok(None)` one the driver sends later.
    fn request(
        &mut self,
        cx: &mut Ctx<'_>,
        client: Endpoint,
        req: BdevRequest,
    ) -> Result<Option<u64>, Errno>;
    /// An interrupt notification (from SYSTEM).
    fn interrupt(&mut self, cx: &mut Ctx<'_>);
    /// A clock alarm (from CLOCK): the poll that covers a missed interrupt.
    fn poll(&mut self, cx: &mut Ctx<'_>);

    /// The answer to request `id`.
    fn reply(&self, id: u64, result: Result<u64, Errno>) -> Message {
        BdevReply {
            id,
            instance: self.instance(),
            result,
        }
        .to_message()
    }
}

/// A block driver's `Service::handle`.
pub fn handle<D: BlockDriver>(d: &mut D, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
    if is_notify(&msg) {
        if msg.source() == Endpoint::SYSTEM {
            d.interrupt(cx);
        } else if msg.source() == Endpoint::CLOCK {
            d.poll(cx);
        }
        return None;
    }
    let Some(id) = request_id(&msg) else {
        // Not this protocol: answer in it anyway (the id is unknown).
        return Some(d.reply(0, Err(Errno::ENOSYS)));
    };
    let client = msg.source();
    match BdevRequest::try_from(&msg).and_then(|r| d.request(cx, client, r)) {
        Ok(Some(v)) => Some(d.reply(id, Ok(v))),
        Ok(None) => None,
        Err(err) => Some(d.reply(id, Err(err))),
    }
}

/// The (grant, length) segments of a gather/scatter request: `count` (at
/// most [`MAX_IOVEC`]) `IoVec` entries copied from the client's grant `iovec`.
pub fn segments(
    cx: &mut Ctx<'_>,
    client: Endpoint,
    iovec: GrantId,
    count: u32,
) -> Result<Vec<(GrantId, u32)>, Errno> {
    let count = count.min(MAX_IOVEC) as usize;
    let mut raw = alloc::vec![0u8; count * IoVec::SIZE];
    cx.sys.safecopy_from(client, iovec, 0, &mut raw)?;
    Ok(raw
        .chunks_exact(IoVec::SIZE)
        .filter_map(|c| IoVec::read_from_bytes(c).ok())
        .map(|v| (v.grant(), v.len()))
        .collect())
}

/// A block driver's `main`: the boot image's copy exits at once (RS starts
/// the service), otherwise the driver `make` builds runs as a SEF service.
pub fn main<D: BlockDriver + Service>(args: &str, make: impl FnOnce() -> D) -> i32 {
    if crate::is_image_only(args) {
        rt::println!("boot image only; RS starts the service");
        return 0;
    }
    crate::run(sys::Sef::new(make(), sys::StateStore::None))
}
