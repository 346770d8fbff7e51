//! DS, the data store (MINIX `ds`), as a SEF [`Service`].
//!
//! Holds typed entries (u32, label -> endpoint, string, byte blob) under
//! keys, owned by the label of whoever published them; RS publishes every
//! service's label -> endpoint here on each (re)start, which also makes DS
//! the name service. Services keep their SEF state blobs here. Subscribers
//! register glob patterns (`*`, `?`, anchored) and get a `notify` when a
//! matching entry is published or deleted; they fetch the changes with
//! `check`, one key at a time, lowest first.
//!
//! Identity: a caller's name is its label (the label entry whose value is
//! the caller's endpoint; RS is "rs"). Unlabelled callers may retrieve,
//! subscribe and check (their subscription is keyed by endpoint) but not
//! publish or delete (`EPERM`).
//!
//! DS keeps its whole store across its own restart: after every change it
//! saves a snapshot through SEF into preserved memory (it cannot keep its
//! state in itself), and a restarted DS reloads it and re-notifies
//! subscribers that still have unread changes.
//!
//! Talks to: its callers (replies, notifications), the transport's grants
//! (string/blob values), SEF (state). Never sends requests itself.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod codec;
mod glob;

pub use glob::glob_match;

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use sys::proto::ds::{DsAnswer, DsFlags, DsReply, DsRequest, DsType, PubValue, is_request};
use sys::proto::rs::InitKind;
use sys::{Ctx, Endpoint, Errno, GrantId, InitInfo, Message, Service};

/// Most entries DS holds (MINIX: 128; ours also holds state blobs).
pub const MAX_KEYS: usize = 512;
/// Most subscriptions (MINIX NR_DS_SUBS).
pub const MAX_SUBS: usize = 256;
/// Largest string / blob value in bytes (a sealed SEF state blob must fit).
pub const MAX_VALUE: usize = sys::sef::MAX_STATE + 64;

/// A stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// u32.
    U32(u32),
    /// Label -> endpoint.
    Label(Endpoint),
    /// String.
    Str(String),
    /// Blob.
    Mem(Vec<u8>),
}

impl Value {
    /// Its type.
    pub fn ty(&self) -> DsType {
        match self {
            Value::U32(_) => DsType::U32,
            Value::Label(_) => DsType::Label,
            Value::Str(_) => DsType::Str,
            Value::Mem(_) => DsType::Mem,
        }
    }
}

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Value.
    pub value: Value,
    /// Owner's identity (label, or `#<endpoint>` for unlabelled callers).
    pub owner: String,
    /// Flags given at publish time.
    pub flags: DsFlags,
}

/// One subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Subscriber identity.
    pub owner: String,
    /// Glob pattern.
    pub pattern: String,
    /// Type mask (0 = all).
    pub type_mask: u16,
}

/// The store: everything DS saves across its restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Store {
    /// Entries by (key, type).
    pub entries: BTreeMap<(String, DsType), Entry>,
    /// Subscriptions.
    pub subs: Vec<Subscription>,
    /// Unread changes per subscriber: (key, type) -> deleted.
    pub changes: BTreeMap<String, BTreeMap<(String, DsType), bool>>,
}

/// The DS service.
#[derive(Debug, Default)]
pub struct Ds {
    store: Store,
    label_by_ep: BTreeMap<Endpoint, String>,
    /// Requests served (all kinds).
    pub served: u64,
}

fn anon(ep: Endpoint) -> String {
    alloc::format!("#{}", ep.0)
}

impl Ds {
    /// An empty store.
    pub fn new() -> Self {
        Ds::default()
    }

    /// The store (for inspection).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Look up an entry.
    pub fn entry(&self, key: &str, ty: DsType) -> Option<&Entry> {
        self.store.entries.get(&(key.to_string(), ty))
    }

    /// Mutable access to an entry's value, e.g. for fault injection in tests
    /// (corrupting a saved state blob). Does not notify anyone.
    pub fn entry_value_mut(&mut self, key: &str, ty: DsType) -> Option<&mut Value> {
        self.store
            .entries
            .get_mut(&(key.to_string(), ty))
            .map(|e| &mut e.value)
    }

    fn rebuild_index(&mut self) {
        self.label_by_ep.clear();
        for ((k, _), e) in &self.store.entries {
            if let Value::Label(ep) = e.value {
                self.label_by_ep.insert(ep, k.clone());
            }
        }
    }

    fn ident(&self, ep: Endpoint) -> (String, bool) {
        if ep == Endpoint::RS {
            return ("rs".to_string(), true);
        }
        match self.label_by_ep.get(&ep) {
            Some(l) => (l.clone(), true),
            None => (anon(ep), false),
        }
    }

    fn endpoint_of(&self, owner: &str) -> Option<Endpoint> {
        if owner == "rs" {
            return Some(Endpoint::RS);
        }
        if let Some(n) = owner.strip_prefix('#') {
            return n.parse::<u32>().ok().map(Endpoint);
        }
        match self.entry(owner, DsType::Label) {
            Some(Entry {
                value: Value::Label(ep),
                ..
            }) => Some(*ep),
            _ => None,
        }
    }

    /// Record a change for every matching subscriber; returns whom to notify.
    fn mark_change(
        &mut self,
        key: &str,
        ty: DsType,
        deleted: bool,
        entry_owner: &str,
        flags: DsFlags,
    ) -> Vec<String> {
        let mut who = Vec::new();
        for s in &self.store.subs {
            if s.type_mask != 0 && s.type_mask & ty.bit() == 0 {
                continue;
            }
            if flags.has(DsFlags::PRIV_SUBSCRIBE) && s.owner != entry_owner {
                continue;
            }
            if !glob_match(&s.pattern, key) {
                continue;
            }
            self.store
                .changes
                .entry(s.owner.clone())
                .or_default()
                .insert((key.to_string(), ty), deleted);
            if !who.contains(&s.owner) {
                who.push(s.owner.clone());
            }
        }
        who
    }

    fn notify_all(&self, cx: &mut Ctx<'_>, who: &[String]) {
        for o in who {
            if let Some(ep) = self.endpoint_of(o) {
                // A dead subscriber will check after its restart.
                let _ = cx.sys.notify(ep);
            }
        }
    }

    fn fetch(
        &self,
        cx: &mut Ctx<'_>,
        src: Endpoint,
        grant: GrantId,
        len: u32,
    ) -> Result<Vec<u8>, Errno> {
        let len = len as usize;
        if len > MAX_VALUE {
            return Err(Errno::E2BIG);
        }
        let mut buf = vec![0u8; len];
        cx.sys.safecopy_from(src, grant, 0, &mut buf)?;
        Ok(buf)
    }

    fn publish(
        &mut self,
        cx: &mut Ctx<'_>,
        src: Endpoint,
        key: String,
        value: PubValue,
        flags: DsFlags,
    ) -> Result<DsAnswer, Errno> {
        let (me, labelled) = self.ident(src);
        if !labelled {
            return Err(Errno::EPERM);
        }
        let value = match value {
            PubValue::U32(v) => Value::U32(v),
            PubValue::Label(ep) => {
                if src != Endpoint::RS {
                    return Err(Errno::EPERM);
                }
                Value::Label(ep)
            }
            PubValue::Str { grant, len } => Value::Str(
                String::from_utf8(self.fetch(cx, src, grant, len)?).map_err(|_| Errno::EINVAL)?,
            ),
            PubValue::Mem { grant, len } => Value::Mem(self.fetch(cx, src, grant, len)?),
        };
        let ty = value.ty();
        let k = (key.clone(), ty);
        match self.store.entries.get(&k) {
            Some(old) => {
                if !flags.has(DsFlags::OVERWRITE) {
                    return Err(Errno::EEXIST);
                }
                if old.flags.has(DsFlags::PRIV_OVERWRITE) && old.owner != me {
                    return Err(Errno::EPERM);
                }
            }
            None => {
                if self.store.entries.len() >= MAX_KEYS {
                    return Err(Errno::ENOMEM);
                }
            }
        }
        if let Value::Label(ep) = value {
            if let Some(Entry {
                value: Value::Label(old),
                ..
            }) = self.store.entries.get(&k)
            {
                self.label_by_ep.remove(old);
            }
            self.label_by_ep.insert(ep, key.clone());
        }
        self.store.entries.insert(
            k,
            Entry {
                value,
                owner: me.clone(),
                flags,
            },
        );
        let who = self.mark_change(&key, ty, false, &me, flags);
        self.commit(cx)?;
        self.notify_all(cx, &who);
        Ok(DsAnswer::default())
    }

    fn retrieve(
        &mut self,
        cx: &mut Ctx<'_>,
        src: Endpoint,
        key: String,
        ty: DsType,
        grant: Option<(GrantId, u32)>,
    ) -> Result<DsAnswer, Errno> {
        let (me, _) = self.ident(src);
        let e = self.store.entries.get(&(key, ty)).ok_or(Errno::ESRCH)?;
        if e.flags.has(DsFlags::PRIV_RETRIEVE) && e.owner != me {
            return Err(Errno::EPERM);
        }
        let mut a = DsAnswer {
            ty: Some(ty),
            ..DsAnswer::default()
        };
        let bytes: &[u8] = match &e.value {
            Value::U32(v) => {
                a.value = *v;
                return Ok(a);
            }
            Value::Label(ep) => {
                a.value = ep.0;
                return Ok(a);
            }
            Value::Str(s) => s.as_bytes(),
            Value::Mem(m) => m,
        };
        let (gid, cap) = grant.ok_or(Errno::EINVAL)?;
        let n = bytes.len().min(cap as usize);
        cx.sys.safecopy_to(src, gid, 0, &bytes[..n])?;
        a.len = bytes.len() as u32;
        Ok(a)
    }

    fn remove_entry(&mut self, key: &str, ty: DsType) -> Vec<String> {
        let Some(e) = self.store.entries.remove(&(key.to_string(), ty)) else {
            return Vec::new();
        };
        let mut who = self.mark_change(key, ty, true, &e.owner, e.flags);
        if let Value::Label(ep) = e.value {
            // A label going away (service down): drop what it owned and
            // its subscriptions, like MINIX.
            if self.label_by_ep.get(&ep).map(|l| l == key).unwrap_or(false) {
                self.label_by_ep.remove(&ep);
            }
            let owned: Vec<(String, DsType)> = self
                .store
                .entries
                .iter()
                .filter(|(_, v)| v.owner == key)
                .map(|(k, _)| k.clone())
                .collect();
            for (k, t) in owned {
                for w in self.remove_entry(&k, t) {
                    if !who.contains(&w) {
                        who.push(w);
                    }
                }
            }
            self.store.subs.retain(|s| s.owner != key);
            self.store.changes.remove(key);
            who.retain(|w| w != key);
        }
        who
    }

    fn delete(
        &mut self,
        cx: &mut Ctx<'_>,
        src: Endpoint,
        key: String,
        ty: DsType,
    ) -> Result<DsAnswer, Errno> {
        let (me, labelled) = self.ident(src);
        if !labelled {
            return Err(Errno::EPERM);
        }
        let e = self
            .store
            .entries
            .get(&(key.clone(), ty))
            .ok_or(Errno::ESRCH)?;
        if e.owner != me {
            return Err(Errno::EPERM);
        }
        let who = self.remove_entry(&key, ty);
        self.commit(cx)?;
        self.notify_all(cx, &who);
        Ok(DsAnswer::default())
    }

    fn subscribe(
        &mut self,
        cx: &mut Ctx<'_>,
        src: Endpoint,
        pattern: String,
        type_mask: u16,
        flags: DsFlags,
    ) -> Result<DsAnswer, Errno> {
        let (me, _) = self.ident(src);
        match self
            .store
            .subs
            .iter_mut()
            .find(|s| s.owner == me && s.pattern == pattern)
        {
            Some(s) => {
                if !flags.has(DsFlags::OVERWRITE) {
                    return Err(Errno::EEXIST);
                }
                s.type_mask = type_mask;
            }
            None => {
                if self.store.subs.len() >= MAX_SUBS {
                    return Err(Errno::EAGAIN);
                }
                self.store.subs.push(Subscription {
                    owner: me.clone(),
                    pattern: pattern.clone(),
                    type_mask,
                });
            }
        }
        let mut any = false;
        if flags.has(DsFlags::INITIAL) {
            let hits: Vec<(String, DsType)> = self
                .store
                .entries
                .iter()
                .filter(|((k, t), e)| {
                    (type_mask == 0 || type_mask & t.bit() != 0)
                        && glob_match(&pattern, k)
                        && (!e.flags.has(DsFlags::PRIV_SUBSCRIBE) || e.owner == me)
                })
                .map(|(k, _)| k.clone())
                .collect();
            any = !hits.is_empty();
            let ch = self.store.changes.entry(me.clone()).or_default();
            for k in hits {
                ch.insert(k, false);
            }
        }
        self.commit(cx)?;
        if any {
            let _ = cx.sys.notify(src);
        }
        Ok(DsAnswer::default())
    }

    fn check(&mut self, cx: &mut Ctx<'_>, src: Endpoint) -> Result<DsAnswer, Errno> {
        let (me, _) = self.ident(src);
        let ch = self.store.changes.get_mut(&me).ok_or(Errno::ENOENT)?;
        let ((key, ty), deleted) = ch.pop_first().ok_or(Errno::ENOENT)?;
        if ch.is_empty() {
            self.store.changes.remove(&me);
        }
        let value = match self.store.entries.get(&(key.clone(), ty)).map(|e| &e.value) {
            Some(Value::U32(v)) if !deleted => *v,
            Some(Value::Label(ep)) if !deleted => ep.0,
            _ => 0,
        };
        self.commit(cx)?;
        Ok(DsAnswer {
            key,
            ty: Some(ty),
            value,
            len: 0,
            deleted,
        })
    }

    /// Save the store; a failure (impossible with preserved memory) is
    /// reported to the caller rather than acknowledged.
    fn commit(&self, cx: &mut Ctx<'_>) -> Result<(), Errno> {
        cx.save_state(&codec::encode(&self.store))
    }

    fn request(&mut self, cx: &mut Ctx<'_>, src: Endpoint, req: DsRequest) -> DsReply {
        self.served += 1;
        let (id, result) = match req {
            DsRequest::Publish {
                id,
                key,
                value,
                flags,
            } => (id, self.publish(cx, src, key, value, flags)),
            DsRequest::Retrieve { id, key, ty, grant } => {
                (id, self.retrieve(cx, src, key, ty, grant))
            }
            DsRequest::Delete { id, key, ty } => (id, self.delete(cx, src, key, ty)),
            DsRequest::Subscribe {
                id,
                pattern,
                type_mask,
                flags,
            } => (id, self.subscribe(cx, src, pattern, type_mask, flags)),
            DsRequest::Check { id } => (id, self.check(cx, src)),
            DsRequest::LabelName { id, endpoint } => (
                id,
                self.label_by_ep
                    .get(&endpoint)
                    .map(|k| DsAnswer {
                        key: k.clone(),
                        ..DsAnswer::default()
                    })
                    .ok_or(Errno::ESRCH),
            ),
        };
        DsReply { id, result }
    }
}

impl Service for Ds {
    fn init(&mut self, cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno> {
        self.store = Store::default();
        if info.kind != InitKind::Fresh
            && let Some(st) = info.state.as_deref()
        {
            match codec::decode(st) {
                Some(s) => self.store = s,
                None => cx
                    .sys
                    .log("ds: saved store has an unknown layout; starting empty"),
            }
        }
        self.rebuild_index();
        self.commit(cx)?;
        // Subscribers may have missed a notify while DS was down.
        let who: Vec<String> = self.store.changes.keys().cloned().collect();
        self.notify_all(cx, &who);
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        if !is_request(msg.mtype()) {
            return None;
        }
        let src = msg.source();
        let reply = match DsRequest::try_from(&msg) {
            Ok(req) => self.request(cx, src, req),
            Err(e) => DsReply {
                id: msg.request_id(),
                result: Err(e),
            },
        };
        Some(reply.to_message())
    }
}
