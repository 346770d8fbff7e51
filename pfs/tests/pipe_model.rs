//! Property test: random sequences of pipe operations against a plain
//! `VecDeque` reference model. Checks every immediate outcome and every
//! later completion, select watch and the byte stream itself: bytes come out
//! in the order writes were submitted (each write contributing exactly the
//! prefix it reports as written), with no loss and no duplication, and EOF,
//! EPIPE and EAGAIN appear exactly where POSIX puts them.

use pfs::pipe::{PIPE_BUF, SEL_ERR, SEL_RD, SEL_WR};
use pfs::{Access, Done, Event, Outcome, Pipes, Token};
use proptest::prelude::*;
use std::collections::{BTreeMap, VecDeque};
use sys::Errno;

const CAP: usize = 1024;

#[derive(Debug, Clone)]
enum Op {
    Write { len: usize, nonblock: bool },
    Read { n: usize, nonblock: bool },
    Cancel { pick: usize },
    Select { ops: u8 },
    CloseRead,
    CloseWrite,
    Save,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0usize..1600, any::<bool>()).prop_map(|(len, nonblock)| Op::Write { len, nonblock }),
        8 => (0usize..1600, any::<bool>()).prop_map(|(n, nonblock)| Op::Read { n, nonblock }),
        2 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        2 => (1u8..8).prop_map(|ops| Op::Select { ops }),
        1 => Just(Op::CloseRead),
        1 => Just(Op::CloseWrite),
        1 => Just(Op::Save),
    ]
}

/// The reference: one pipe, written the obvious way.
#[derive(Default)]
struct Model {
    buf: VecDeque<u8>,
    readers: u32,
    writers: u32,
    reads: VecDeque<(Token, usize)>,
    writes: VecDeque<(Token, Vec<u8>, usize)>,
    watches: Vec<(Token, u8)>,
    done: BTreeMap<Token, Done>,
    fired: BTreeMap<Token, u8>,
}

fn fail(errno: Errno) -> Done {
    Done::Failed {
        errno,
        sigpipe: false,
    }
}

impl Model {
    fn ready(&self) -> u8 {
        let mut r = 0;
        if !self.buf.is_empty() || self.writers == 0 {
            r |= SEL_RD;
        }
        if self.readers == 0 || (self.writes.is_empty() && self.buf.len() < CAP) {
            r |= SEL_WR;
        }
        if self.readers == 0 {
            r |= SEL_ERR;
        }
        r
    }

    fn settle(&mut self) {
        loop {
            let mut moved = false;
            while !self.buf.is_empty() && !self.reads.is_empty() {
                let (t, n) = self.reads.pop_front().unwrap();
                let k = n.min(self.buf.len());
                let d: Vec<u8> = (0..k).map(|_| self.buf.pop_front().unwrap()).collect();
                self.done.insert(t, Done::Data(d));
                moved = true;
            }
            if let Some((t, data, written)) = self.writes.front_mut() {
                let space = CAP - self.buf.len();
                let rest = data.len() - *written;
                let k = if data.len() <= PIPE_BUF {
                    if space >= rest { rest } else { 0 }
                } else {
                    space.min(rest)
                };
                if k > 0 {
                    for &b in &data[*written..*written + k] {
                        self.buf.push_back(b);
                    }
                    *written += k;
                    moved = true;
                    if *written == data.len() {
                        self.done.insert(*t, Done::Written(data.len()));
                        self.writes.pop_front();
                    }
                }
            }
            if !moved {
                break;
            }
        }
        if self.buf.is_empty() && self.writers == 0 {
            for (t, _) in self.reads.drain(..) {
                self.done.insert(t, Done::Data(vec![]));
            }
        }
        if self.readers == 0 {
            for (t, data, written) in self.writes.drain(..) {
                let _ = data;
                self.done.insert(
                    t,
                    if written > 0 {
                        Done::Written(written)
                    } else {
                        Done::Failed {
                            errno: Errno::EPIPE,
                            sigpipe: true,
                        }
                    },
                );
            }
        }
        let ready = self.ready();
        let mut keep = Vec::new();
        for (t, ops) in self.watches.drain(..) {
            if ops & ready != 0 {
                self.fired.insert(t, ops & ready);
            } else {
                keep.push((t, ops));
            }
        }
        self.watches = keep;
    }

    fn read(&mut self, t: Token, n: usize, nonblock: bool) -> Result<Outcome, Errno> {
        if self.readers == 0 {
            return Err(Errno::EBADF);
        }
        let out = if n == 0 {
            Outcome::Done(Done::Data(vec![]))
        } else if self.reads.is_empty() && !self.buf.is_empty() {
            let k = n.min(self.buf.len());
            Outcome::Done(Done::Data(self.buf.drain(..k).collect()))
        } else if self.writers == 0 {
            Outcome::Done(Done::Data(vec![]))
        } else if nonblock {
            Outcome::Done(fail(Errno::EAGAIN))
        } else {
            self.reads.push_back((t, n));
            Outcome::Suspended
        };
        self.settle();
        Ok(out)
    }

    fn write(&mut self, t: Token, data: Vec<u8>, nonblock: bool) -> Result<Outcome, Errno> {
        if self.writers == 0 {
            return Err(Errno::EBADF);
        }
        if self.readers == 0 {
            return Ok(Outcome::Done(Done::Failed {
                errno: Errno::EPIPE,
                sigpipe: true,
            }));
        }
        let n = data.len();
        let space = CAP - self.buf.len();
        let out = if n == 0 {
            Outcome::Done(Done::Written(0))
        } else if nonblock {
            let k = if !self.writes.is_empty() {
                0
            } else if n <= PIPE_BUF {
                if space >= n { n } else { 0 }
            } else {
                space.min(n)
            };
            self.buf.extend(&data[..k]);
            if k == 0 {
                Outcome::Done(fail(Errno::EAGAIN))
            } else {
                Outcome::Done(Done::Written(k))
            }
        } else {
            let k = if !self.writes.is_empty() {
                0
            } else if n <= PIPE_BUF {
                if space >= n { n } else { 0 }
            } else {
                space.min(n)
            };
            self.buf.extend(&data[..k]);
            if k == n {
                Outcome::Done(Done::Written(n))
            } else {
                self.writes.push_back((t, data, k));
                Outcome::Suspended
            }
        };
        self.settle();
        Ok(out)
    }

    fn cancel(&mut self, t: Token) -> Option<Done> {
        let r = if let Some(i) = self.reads.iter().position(|r| r.0 == t) {
            self.reads.remove(i);
            Some(fail(Errno::EINTR))
        } else if let Some(i) = self.writes.iter().position(|w| w.0 == t) {
            let (_, _, written) = self.writes.remove(i).unwrap();
            Some(if written > 0 {
                Done::Written(written)
            } else {
                fail(Errno::EINTR)
            })
        } else {
            self.watches.retain(|w| w.0 != t);
            None
        };
        self.settle();
        r
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut t = Pipes::new(CAP, 4);
    let p = t.create().unwrap();
    let mut m = Model {
        readers: 1,
        writers: 1,
        ..Model::default()
    };
    let mut next: Token = 1;
    let mut seq: u8 = 0;
    // The stream every write submitted, and what it finally contributed.
    let mut submitted: Vec<(Token, Vec<u8>)> = Vec::new();
    let mut accepted: BTreeMap<Token, usize> = BTreeMap::new();
    // Bytes in the order reads returned them (immediate or completed).
    let mut out: Vec<u8> = Vec::new();
    let mut pending: Vec<Token> = Vec::new();
    let mut gone = false;
    let absorb = |t: &mut Pipes,
                  m: &mut Model,
                  out: &mut Vec<u8>,
                  accepted: &mut BTreeMap<Token, usize>,
                  pending: &mut Vec<Token>|
     -> Result<(), TestCaseError> {
        let mut done = BTreeMap::new();
        let mut fired = BTreeMap::new();
        for e in t.take_events() {
            match e {
                Event::Complete { token, done: d } => {
                    if let Done::Data(bytes) = &d {
                        out.extend(bytes);
                    }
                    if let Done::Written(k) = &d {
                        accepted.insert(token, *k);
                    }
                    prop_assert!(done.insert(token, d).is_none(), "completed twice");
                }
                Event::SelectReady { token, ops, .. } => {
                    prop_assert!(fired.insert(token, ops).is_none());
                }
            }
        }
        prop_assert_eq!(&done, &m.done);
        prop_assert_eq!(&fired, &m.fired);
        pending.retain(|tok| !done.contains_key(tok) && !fired.contains_key(tok));
        m.done.clear();
        m.fired.clear();
        Ok(())
    };
    for op in ops {
        if gone {
            break;
        }
        let tok = next;
        next += 1;
        match op {
            Op::Write { len, nonblock } => {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        seq = seq.wrapping_add(1);
                        seq
                    })
                    .collect();
                let got = t.write(p, tok, data.clone(), nonblock);
                let want = m.write(tok, data.clone(), nonblock);
                prop_assert_eq!(&got, &want);
                match got {
                    Ok(Outcome::Done(Done::Written(k))) => {
                        accepted.insert(tok, k);
                        submitted.push((tok, data));
                    }
                    Ok(Outcome::Suspended) => {
                        pending.push(tok);
                        submitted.push((tok, data));
                    }
                    _ => {}
                }
            }
            Op::Read { n, nonblock } => {
                let got = t.read(p, tok, n, nonblock);
                prop_assert_eq!(&got, &m.read(tok, n, nonblock));
                match got {
                    Ok(Outcome::Done(Done::Data(d))) => out.extend(d),
                    Ok(Outcome::Suspended) => pending.push(tok),
                    _ => {}
                }
            }
            Op::Cancel { pick } => {
                if !pending.is_empty() {
                    let victim = pending.remove(pick % pending.len());
                    let got = t.cancel(victim);
                    prop_assert_eq!(&got, &m.cancel(victim));
                    if let Some(Done::Written(k)) = got {
                        accepted.insert(victim, k);
                    }
                }
            }
            Op::Select { ops } => {
                let got = t.select(p, ops, Some(tok)).unwrap();
                prop_assert_eq!(got, m.ready() & ops);
                if got == 0 {
                    m.watches.push((tok, ops));
                    pending.push(tok);
                }
            }
            Op::CloseRead | Op::CloseWrite => {
                let (acc, cnt) = if matches!(op, Op::CloseRead) {
                    (Access::Read, &mut m.readers)
                } else {
                    (Access::Write, &mut m.writers)
                };
                let want = if *cnt == 0 {
                    Err(Errno::EBADF)
                } else {
                    *cnt -= 1;
                    Ok(())
                };
                prop_assert_eq!(t.close(p, acc), want);
                m.settle();
                gone = m.readers == 0 && m.writers == 0;
            }
            Op::Save => {
                // A stateful restart in the middle of anything changes nothing.
                let blob = t.encode();
                t = Pipes::decode(&blob).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            }
        }
        absorb(&mut t, &mut m, &mut out, &mut accepted, &mut pending)?;
        if !gone {
            prop_assert_eq!(t.stat(p).map(|s| s.buffered), Some(m.buf.len()));
        }
    }
    // Drain: whatever is buffered comes out (if a reader remains).
    if m.readers > 0 && !gone {
        // Interrupt whatever still waits, keeping partial write counts.
        for victim in std::mem::take(&mut pending) {
            let got = t.cancel(victim);
            prop_assert_eq!(&got, &m.cancel(victim));
            if let Some(Done::Written(k)) = got {
                accepted.insert(victim, k);
            }
        }
        absorb(&mut t, &mut m, &mut out, &mut accepted, &mut pending)?;
        if m.writers > 0 {
            t.close(p, Access::Write).unwrap();
            m.writers -= 1;
            m.settle();
            absorb(&mut t, &mut m, &mut out, &mut accepted, &mut pending)?;
        }
        loop {
            let tok = next;
            next += 1;
            match t.read(p, tok, 4096, false).unwrap() {
                Outcome::Done(Done::Data(d)) if d.is_empty() => break,
                Outcome::Done(Done::Data(d)) => out.extend(d),
                other => return Err(TestCaseError::fail(format!("drain: {other:?}"))),
            }
        }
        // The stream: submitted writes in order, each its accepted prefix.
        let mut want = Vec::new();
        for (tok, data) in &submitted {
            let k = accepted.get(tok).copied().unwrap_or(0);
            want.extend(&data[..k]);
        }
        prop_assert_eq!(out.len(), want.len(), "bytes lost or duplicated");
        prop_assert!(out == want, "bytes out of order");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn pipe_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops)?;
    }
}
