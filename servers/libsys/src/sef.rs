//! SEF (system event framework): the start-up and control layer every
//! supervised service runs under.
//!
//! [`Sef`] wraps a [`Service`] and implements [`Process`]. It
//! - waits for RS's init request, deferring every other message until init
//!   is done (MINIX blocks receiving only from RS), and ignores spurious
//!   later init requests;
//! - answers RS pings (a notify from RS) with a notify, never bothering the
//!   service;
//! - delivers signals to [`Service::signal`] (default: SIGTERM exits);
//! - crashes on a fault-injection request (`service fi`);
//! - saves the service's state blob on request ([`Ctx::save_state`]) and
//!   hands it back on a restart or live update, sealed with a crc32: a
//!   corrupted blob is refused and the service starts fresh instead (so a bad
//!   blob cannot cause a crash loop). Blobs live in DS (key
//!   `sef.st.<label>`), or for DS itself in preserved memory.

use crate::ds;
use crate::endpoint::Endpoint;
use crate::errno::Errno;
use crate::ipc::{Process, Sys};
use crate::message::Message;
use crate::proto::ds::{DsFlags, DsType};
use crate::proto::kernel::{is_notify, sig};
use crate::proto::rs::{InitKind, RsToService, ServiceToRs, is_control};
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Largest state blob SEF will store or load (bytes, before sealing).
pub const MAX_STATE: usize = 64 * 1024;

const SEAL_MAGIC: u32 = 0x5346_4553; // "SEFS"
const SEAL_HEADER: usize = 12;

/// Wrap `data` with magic, length and crc32.
pub fn seal(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + SEAL_HEADER);
    v.extend_from_slice(&SEAL_MAGIC.to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    v.extend_from_slice(data);
    v
}

/// Check a sealed blob; `None` if the magic, length or checksum is wrong.
pub fn unseal(blob: &[u8]) -> Option<&[u8]> {
    if blob.len() < SEAL_HEADER {
        return None;
    }
    let word = |i: usize| u32::from_le_bytes([blob[i], blob[i + 1], blob[i + 2], blob[i + 3]]);
    let data = &blob[SEAL_HEADER..];
    (word(0) == SEAL_MAGIC && word(4) as usize == data.len() && word(8) == crc32fast::hash(data))
        .then_some(data)
}

/// Where a service's state blob is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateStore {
    /// The service keeps no state across restarts.
    None,
    /// In DS under `sef.st.<label>` (owner-only).
    Ds,
    /// In preserved memory ([`Sys::preserve`]); for DS itself.
    Preserved,
}

/// The DS key of a service's state blob.
pub fn state_key(label: &str) -> String {
    format!("sef.st.{label}")
}

/// What a service learns at init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitInfo {
    /// Start kind. A refused (corrupted) blob turns Restart/LiveUpdate into Fresh.
    pub kind: InitKind,
    /// How many times RS restarted this service so far.
    pub restarts: u32,
    /// The service's label.
    pub label: String,
    /// The saved state (already checked), for Restart / LiveUpdate.
    pub state: Option<Vec<u8>>,
    /// A saved blob existed but failed its checksum and was discarded.
    pub state_refused: bool,
}

/// What a service handler sees: the transport plus SEF services.
pub struct Ctx<'a> {
    /// The transport.
    pub sys: &'a mut dyn Sys,
    label: &'a str,
    store: StateStore,
}

impl Ctx<'_> {
    /// This service's label.
    pub fn label(&self) -> &str {
        self.label
    }

    /// Save `data` as this service's state (sealed with crc32). Errors:
    /// `E2BIG` above [`MAX_STATE`], `EDEADSRCDST` if DS is down, `EINVAL`
    /// if the service has no state store. A service must not acknowledge a
    /// change whose save failed.
    pub fn save_state(&mut self, data: &[u8]) -> Result<(), Errno> {
        if data.len() > MAX_STATE {
            return Err(Errno::E2BIG);
        }
        match self.store {
            StateStore::None => Err(Errno::EINVAL),
            StateStore::Preserved => {
                self.sys.preserve(seal(data));
                Ok(())
            }
            StateStore::Ds => ds::publish_mem(
                self.sys,
                &state_key(self.label),
                &seal(data),
                DsFlags::OVERWRITE
                    .with(DsFlags::PRIV_OVERWRITE)
                    .with(DsFlags::PRIV_RETRIEVE),
            ),
        }
    }
}

/// A supervised service: a message-driven state machine.
pub trait Service: 'static {
    /// Initialise. Return `Err(ERESTART)` from a Restart init to ask RS for
    /// a fresh instance with a new endpoint (MINIX reset); other errors make
    /// RS give up on this instance.
    fn init(&mut self, cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno>;

    /// Handle one message. `Some(reply)` is sent to the message's source;
    /// `None` means no reply now (notifications, or a request that will be
    /// answered later with `cx.sys.send` — MINIX `EDONTREPLY`).
    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message>;

    /// A signal from RS. Default: SIGTERM exits cleanly.
    fn signal(&mut self, cx: &mut Ctx<'_>, signo: u32) {
        if signo == sig::SIGTERM {
            cx.sys.exit(0);
        }
    }

    /// Live update: return the state to hand to the new version (saved by
    /// SEF before RS swaps instances). Default: no state.
    fn prepare_update(&mut self, cx: &mut Ctx<'_>) -> Result<Option<Vec<u8>>, Errno> {
        let _ = cx;
        Ok(None)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitInit,
    Running,
}

/// Counters SEF keeps (for tests and status).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SefStats {
    /// Pings answered.
    pub pings: u64,
    /// State blobs refused because of a bad checksum.
    pub refused: u64,
    /// Messages deferred while waiting for init.
    pub deferred: u64,
}

/// A [`Service`] under SEF; this is the [`Process`] runtimes run.
pub struct Sef<S: Service> {
    svc: S,
    store: StateStore,
    phase: Phase,
    deferred: VecDeque<Message>,
    label: String,
    init: Option<InitInfo>,
    stats: SefStats,
}

enum Loaded {
    Absent,
    Good(Vec<u8>),
    Corrupt,
}

impl<S: Service> Sef<S> {
    /// Wrap `svc`, keeping its state in `store`.
    pub fn new(svc: S, store: StateStore) -> Self {
        Sef {
            svc,
            store,
            phase: Phase::AwaitInit,
            deferred: VecDeque::new(),
            label: String::new(),
            init: None,
            stats: SefStats::default(),
        }
    }

    /// The wrapped service.
    pub fn service(&self) -> &S {
        &self.svc
    }

    /// The wrapped service, mutable.
    pub fn service_mut(&mut self) -> &mut S {
        &mut self.svc
    }

    /// SEF counters.
    pub fn stats(&self) -> SefStats {
        self.stats
    }

    /// The info the service was initialised with (without the state blob).
    pub fn init_info(&self) -> Option<&InitInfo> {
        self.init.as_ref()
    }

    /// Whether init completed.
    pub fn is_running(&self) -> bool {
        self.phase == Phase::Running
    }

    fn load(&mut self, sys: &mut dyn Sys) -> Result<Loaded, Errno> {
        let blob = match self.store {
            StateStore::None => return Ok(Loaded::Absent),
            StateStore::Preserved => match sys.preserved() {
                Some(b) if !b.is_empty() => b,
                _ => return Ok(Loaded::Absent),
            },
            StateStore::Ds => {
                match ds::retrieve_mem(sys, &state_key(&self.label), MAX_STATE + 64) {
                    Ok(b) => b,
                    Err(Errno::ESRCH) => return Ok(Loaded::Absent),
                    Err(Errno::EOVERFLOW) => return Ok(Loaded::Corrupt),
                    Err(e) => return Err(e),
                }
            }
        };
        Ok(match unseal(&blob) {
            Some(d) => Loaded::Good(d.to_vec()),
            None => Loaded::Corrupt,
        })
    }

    fn discard(&mut self, sys: &mut dyn Sys) {
        // Best effort: a refused blob is only dropped so that it is not
        // offered again; failing to drop it is harmless (refused again).
        match self.store {
            StateStore::None => {}
            StateStore::Preserved => sys.preserve(Vec::new()),
            StateStore::Ds => {
                let _ = ds::delete(sys, &state_key(&self.label), DsType::Mem);
            }
        }
    }

    fn do_init(&mut self, sys: &mut dyn Sys, kind: InitKind, restarts: u32, label: String) {
        self.label = label;
        let (kind, state, refused) = match kind {
            InitKind::Fresh => (InitKind::Fresh, None, false),
            k => match self.load(sys) {
                Ok(Loaded::Absent) => (k, None, false),
                Ok(Loaded::Good(d)) => (k, Some(d), false),
                Ok(Loaded::Corrupt) => {
                    self.discard(sys);
                    self.stats.refused += 1;
                    sys.log("sef: saved state failed its checksum; starting fresh");
                    (InitKind::Fresh, None, true)
                }
                Err(e) => {
                    // The store is unreachable (DS restarting): ask RS to try
                    // again later rather than start without the state.
                    let _ = e;
                    let done = ServiceToRs::InitDone {
                        result: Err(Errno::EAGAIN),
                        state_refused: false,
                    };
                    let _ = sys.send(Endpoint::RS, done.to_message());
                    return;
                }
            },
        };
        let info = InitInfo {
            kind,
            restarts,
            label: self.label.clone(),
            state,
            state_refused: refused,
        };
        let mut kept = info.clone();
        kept.state = None;
        self.init = Some(kept);
        let label = self.label.clone();
        let mut cx = Ctx {
            sys,
            label: &label,
            store: self.store,
        };
        let result = self.svc.init(&mut cx, info);
        let _ = cx.sys.send(
            Endpoint::RS,
            ServiceToRs::InitDone {
                result,
                state_refused: refused,
            }
            .to_message(),
        );
        if result.is_ok() {
            self.phase = Phase::Running;
            while let Some(m) = self.deferred.pop_front() {
                self.dispatch(sys, m);
            }
        }
    }

    fn dispatch(&mut self, sys: &mut dyn Sys, msg: Message) {
        let src = msg.source();
        let label = core::mem::take(&mut self.label);
        let mut cx = Ctx {
            sys,
            label: &label,
            store: self.store,
        };
        let reply = self.svc.handle(&mut cx, msg);
        if let Some(r) = reply {
            // The caller may have died meanwhile; nothing to do then.
            let _ = cx.sys.send(src, r);
        }
        self.label = label;
    }

    fn control(&mut self, sys: &mut dyn Sys, msg: &Message) {
        let Ok(req) = RsToService::try_from(msg) else {
            return;
        };
        match req {
            RsToService::Init {
                kind,
                restarts,
                label,
            } => {
                if self.phase == Phase::AwaitInit {
                    self.do_init(sys, kind, restarts, label);
                }
            }
            RsToService::Signal { sig: s } => {
                if self.phase == Phase::Running {
                    let label = core::mem::take(&mut self.label);
                    let mut cx = Ctx {
                        sys,
                        label: &label,
                        store: self.store,
                    };
                    self.svc.signal(&mut cx, s);
                    self.label = label;
                } else if s == sig::SIGTERM {
                    sys.exit(0);
                }
            }
            RsToService::FiCrash => sys.panic("controlled crash (fault injection)"),
            RsToService::LuPrepare => {
                let label = core::mem::take(&mut self.label);
                let mut cx = Ctx {
                    sys,
                    label: &label,
                    store: self.store,
                };
                let result = match self.svc.prepare_update(&mut cx) {
                    Ok(Some(state)) => cx.save_state(&state),
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                };
                let _ = cx
                    .sys
                    .send(Endpoint::RS, ServiceToRs::LuReady { result }.to_message());
                self.label = label;
            }
        }
    }
}

impl<S: Service> Process for Sef<S> {
    fn receive(&mut self, sys: &mut dyn Sys, msg: Message) {
        if msg.source() == Endpoint::RS {
            if is_notify(&msg) {
                self.stats.pings += 1;
                let _ = sys.notify(Endpoint::RS);
                return;
            }
            if is_control(msg.mtype()) {
                self.control(sys, &msg);
                return;
            }
        }
        if self.phase == Phase::AwaitInit {
            self.stats.deferred += 1;
            self.deferred.push_back(msg);
            return;
        }
        self.dispatch(sys, msg);
    }
}

/// A plain [`Process`] (one that sends its own replies) as a [`Service`],
/// so RS can start, ping and restart it under SEF: init runs the
/// process's `start`, and every other message goes to its `receive`. It
/// keeps no state across restarts.
pub struct ProcessService<P: Process>(pub P);

impl<P: Process> Service for ProcessService<P> {
    fn init(&mut self, cx: &mut Ctx<'_>, _info: InitInfo) -> Result<(), Errno> {
        self.0.start(cx.sys);
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        self.0.receive(cx.sys, msg);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_detects_corruption() {
        let data = b"counter=42".to_vec();
        let s = seal(&data);
        assert_eq!(unseal(&s), Some(&data[..]));
        for i in 0..s.len() {
            let mut bad = s.clone();
            bad[i] ^= 0x40;
            assert_eq!(unseal(&bad), None, "flip at {i} not detected");
        }
        assert_eq!(unseal(&s[..s.len() - 1]), None);
        assert_eq!(unseal(&[]), None);
        assert_eq!(unseal(&seal(&[])), Some(&[][..]));
    }

    #[test]
    fn state_key_fits_ds_key() {
        assert!(state_key("0123456789abcdef").len() <= crate::proto::ds::KEY_LEN);
    }
}
