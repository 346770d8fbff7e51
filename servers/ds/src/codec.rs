//! Byte encoding of the DS store for its state snapshot. Decoding never
//! panics; any inconsistency yields `None`.

use crate::{Entry, Store, Subscription, Value};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use sys::Endpoint;
use sys::proto::ds::{DsFlags, DsType};

const VERSION: u32 = 1;

fn ty_code(t: DsType) -> u16 {
    t.bit()
}

fn ty_from(c: u16) -> Option<DsType> {
    [DsType::U32, DsType::Str, DsType::Mem, DsType::Label]
        .into_iter()
        .find(|t| t.bit() == c)
}

struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
}

struct R<'a>(&'a [u8]);

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
}

/// Encode the store.
pub fn encode(s: &Store) -> Vec<u8> {
    let mut w = W(Vec::new());
    w.u32(VERSION);
    w.u32(s.entries.len() as u32);
    for ((k, t), e) in &s.entries {
        w.bytes(k.as_bytes());
        w.u16(ty_code(*t));
        w.u16(e.flags.0);
        w.bytes(e.owner.as_bytes());
        match &e.value {
            Value::U32(v) => {
                w.u8(0);
                w.u32(*v);
            }
            Value::Label(ep) => {
                w.u8(1);
                w.u32(ep.0);
            }
            Value::Str(st) => {
                w.u8(2);
                w.bytes(st.as_bytes());
            }
            Value::Mem(m) => {
                w.u8(3);
                w.bytes(m);
            }
        }
    }
    w.u32(s.subs.len() as u32);
    for sub in &s.subs {
        w.bytes(sub.owner.as_bytes());
        w.bytes(sub.pattern.as_bytes());
        w.u16(sub.type_mask);
    }
    w.u32(s.changes.len() as u32);
    for (owner, ch) in &s.changes {
        w.bytes(owner.as_bytes());
        w.u32(ch.len() as u32);
        for ((k, t), del) in ch {
            w.bytes(k.as_bytes());
            w.u16(ty_code(*t));
            w.u8(u8::from(*del));
        }
    }
    w.0
}

/// Decode a store; `None` if malformed.
pub fn decode(b: &[u8]) -> Option<Store> {
    let mut r = R(b);
    if r.u32()? != VERSION {
        return None;
    }
    let mut s = Store::default();
    for _ in 0..r.u32()? {
        let k = r.string()?;
        let t = ty_from(r.u16()?)?;
        let flags = DsFlags(r.u16()?);
        let owner = r.string()?;
        let value = match r.u8()? {
            0 => Value::U32(r.u32()?),
            1 => Value::Label(Endpoint(r.u32()?)),
            2 => Value::Str(r.string()?),
            3 => Value::Mem(r.bytes()?.to_vec()),
            _ => return None,
        };
        if value.ty() != t {
            return None;
        }
        s.entries.insert(
            (k, t),
            Entry {
                value,
                owner,
                flags,
            },
        );
    }
    for _ in 0..r.u32()? {
        let owner = r.string()?;
        let pattern = r.string()?;
        let type_mask = r.u16()?;
        s.subs.push(Subscription {
            owner,
            pattern,
            type_mask,
        });
    }
    for _ in 0..r.u32()? {
        let owner = r.string()?;
        let mut ch = BTreeMap::new();
        for _ in 0..r.u32()? {
            let k = r.string()?;
            let t = ty_from(r.u16()?)?;
            ch.insert((k, t), r.u8()? != 0);
        }
        s.changes.insert(owner, ch);
    }
    r.0.is_empty().then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn roundtrip_and_garbage() {
        let mut s = Store::default();
        s.entries.insert(
            ("echo".to_string(), DsType::Label),
            Entry {
                value: Value::Label(Endpoint::new(5, 2)),
                owner: "rs".into(),
                flags: DsFlags::NONE,
            },
        );
        s.entries.insert(
            ("sef.st.c".to_string(), DsType::Mem),
            Entry {
                value: Value::Mem(vec![1, 2, 3]),
                owner: "c".into(),
                flags: DsFlags::PRIV_OVERWRITE,
            },
        );
        s.entries.insert(
            ("k".to_string(), DsType::Str),
            Entry {
                value: Value::Str("hé".into()),
                owner: "c".into(),
                flags: DsFlags::NONE,
            },
        );
        s.subs.push(Subscription {
            owner: "w".into(),
            pattern: "e*".into(),
            type_mask: 0,
        });
        let mut ch = BTreeMap::new();
        ch.insert(("echo".to_string(), DsType::Label), true);
        s.changes.insert("w".into(), ch);
        let b = encode(&s);
        assert_eq!(decode(&b), Some(s));
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_none(), "truncation at {n} accepted");
        }
        let mut extra = b.clone();
        extra.push(0);
        assert!(decode(&extra).is_none());
    }
}
