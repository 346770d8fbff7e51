//! Property test of the select core: random descriptor tables, sets,
//! timeouts and random orders of driver answers, notifications, timer and
//! driver deaths. Whatever the order: the call finishes at most once; never
//! while an initial query of a live driver is unanswered; always once the
//! timer fired (or it polls) and every initial query was answered (no hang);
//! the result only reports requested bits, each justified by the descriptor
//! type or by an answer, and its count is the number of (fd, set) pairs.

use pfs::select::{FdClass, FdSet, SEL_ERR, SEL_RD, SEL_WR, Select, SelectResult, Step, Timeval};
use proptest::prelude::*;
use std::collections::BTreeMap;
use sys::Errno;

#[derive(Debug, Clone)]
enum Ev {
    Reply { pick: usize, ops: u8, fail: bool },
    Notify { pick: usize, ops: u8 },
    Timer,
    Die { target: u32 },
}

fn class() -> impl Strategy<Value = FdClass> {
    prop_oneof![
        1 => Just(FdClass::Closed),
        1 => (any::<bool>(), any::<bool>())
            .prop_map(|(readable, writable)| FdClass::Regular { readable, writable }),
        4 => (any::<bool>(), any::<bool>(), 0u32..3)
            .prop_map(|(readable, writable, target)| FdClass::Queried { readable, writable, target }),
    ]
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        6 => (any::<usize>(), 0u8..8, prop::bool::weighted(0.05))
            .prop_map(|(pick, ops, fail)| Ev::Reply { pick, ops, fail }),
        3 => (any::<usize>(), 1u8..8).prop_map(|(pick, ops)| Ev::Notify { pick, ops }),
        1 => Just(Ev::Timer),
        1 => (0u32..3).prop_map(|target| Ev::Die { target }),
    ]
}

fn timeout() -> impl Strategy<Value = Option<Timeval>> {
    prop_oneof![
        Just(None),
        Just(Some(Timeval { sec: 0, usec: 0 })),
        (0i64..5, 0i64..1_000_000).prop_map(|(sec, usec)| Some(Timeval { sec, usec })),
    ]
}

fn run(
    classes: Vec<FdClass>,
    want: [u8; 8],
    supplied: [bool; 3],
    tmo: Option<Timeval>,
    events: Vec<Ev>,
) -> Result<(), TestCaseError> {
    let nfds = classes.len();
    let mut sets: [Option<FdSet>; 3] = [None, None, None];
    for (i, bit) in [SEL_RD, SEL_WR, SEL_ERR].into_iter().enumerate() {
        if supplied[i] {
            let mut s = FdSet::new(nfds);
            for (fd, w) in want.iter().enumerate().take(nfds) {
                if w & bit != 0 {
                    s.set(fd);
                }
            }
            sets[i] = Some(s);
        }
    }
    let wanted = |fd: usize| -> u8 {
        [SEL_RD, SEL_WR, SEL_ERR]
            .into_iter()
            .enumerate()
            .filter(|(i, _)| supplied[*i])
            .map(|(_, b)| want[fd] & b)
            .fold(0, |a, b| a | b)
    };
    let [r, w, e] = sets.clone();
    let (mut call, queries, mut step) =
        Select::start(nfds as i32, r, w, e, tmo, 100, |fd| classes[fd]);
    let poll = tmo == Some(Timeval { sec: 0, usec: 0 });
    // Queries must be for queried fds, asking only wanted ops they can do.
    let mut outstanding: BTreeMap<usize, u32> = BTreeMap::new();
    let mut justified: BTreeMap<usize, u8> = BTreeMap::new();
    for q in &queries {
        let FdClass::Queried { target, .. } = classes[q.fd] else {
            return Err(TestCaseError::fail("query for an unqueried fd"));
        };
        prop_assert_eq!(q.target, target);
        prop_assert!(q.ops != 0 && q.ops & !wanted(q.fd) == 0);
        prop_assert_eq!(q.block, !poll);
        outstanding.insert(q.fd, target);
    }
    let mut dead: Vec<u32> = Vec::new();
    let mut timer_fired = false;
    let mut errored = false;
    let mut finished: Option<Result<SelectResult, Errno>> = None;
    let check = |step: Step,
                 outstanding: &BTreeMap<usize, u32>,
                 finished: &mut Option<Result<SelectResult, Errno>>|
     -> Result<(), TestCaseError> {
        if let Step::Finish(res) = step {
            prop_assert!(finished.is_none(), "finished twice");
            prop_assert!(outstanding.is_empty(), "finished with a query unanswered");
            *finished = Some(res);
        }
        Ok(())
    };
    check(step.clone(), &outstanding, &mut finished)?;
    for ev in events {
        if finished.is_some() {
            break;
        }
        let fds: Vec<usize> = queries.iter().map(|q| q.fd).collect();
        step = match ev {
            Ev::Reply { pick, ops, fail } => {
                let pending: Vec<usize> = outstanding.keys().copied().collect();
                if pending.is_empty() {
                    continue;
                }
                let fd = pending[pick % pending.len()];
                outstanding.remove(&fd);
                if fail {
                    errored = true;
                    call.initial_reply(fd, Err(Errno::EIO))
                } else {
                    *justified.entry(fd).or_default() |= ops;
                    call.initial_reply(fd, Ok(ops))
                }
            }
            Ev::Notify { pick, ops } => {
                if fds.is_empty() {
                    continue;
                }
                let fd = fds[pick % fds.len()];
                if outstanding.contains_key(&fd) {
                    continue; // a notification only follows the initial answer
                }
                *justified.entry(fd).or_default() |= ops;
                call.notify(fd, Ok(ops))
            }
            Ev::Timer => {
                timer_fired = true;
                call.timer()
            }
            Ev::Die { target } => {
                dead.push(target);
                for fd in &fds {
                    if matches!(classes[*fd], FdClass::Queried { target: t, .. } if t == target) {
                        *justified.entry(*fd).or_default() |= SEL_RD | SEL_WR;
                    }
                }
                outstanding.retain(|_, t| *t != target);
                call.target_died(target)
            }
        };
        check(step.clone(), &outstanding, &mut finished)?;
        // No hang: answers all in and (timer fired or polling or an error) → over.
        if finished.is_none() && outstanding.is_empty() && (timer_fired || poll || errored) {
            return Err(TestCaseError::fail(
                "answers in and timer fired, still waiting",
            ));
        }
    }
    if let Some(Ok(res)) = finished {
        let out = [&res.read, &res.write, &res.except];
        let mut count = 0;
        for (i, bit) in [SEL_RD, SEL_WR, SEL_ERR].into_iter().enumerate() {
            prop_assert_eq!(out[i].is_some(), supplied[i]);
            let Some(s) = out[i] else { continue };
            for (fd, class) in classes.iter().enumerate() {
                if !s.is_set(fd) {
                    continue;
                }
                count += 1;
                prop_assert!(wanted(fd) & bit != 0, "unrequested bit");
                let ok = match *class {
                    FdClass::Closed => bit != SEL_ERR,
                    FdClass::Regular { .. } => true,
                    FdClass::Queried {
                        readable, writable, ..
                    } => {
                        (bit == SEL_RD && !readable)
                            || (bit == SEL_WR && !writable)
                            || justified.get(&fd).is_some_and(|j| j & bit != 0)
                    }
                    FdClass::Bad | FdClass::Unsupported => false,
                };
                prop_assert!(ok, "bit {} of fd {} not justified", bit, fd);
            }
        }
        prop_assert_eq!(res.count, count);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn select_core_properties(
        classes in proptest::collection::vec(class(), 1..8),
        want in proptest::array::uniform8(0u8..8),
        supplied in proptest::array::uniform3(any::<bool>()),
        tmo in timeout(),
        events in proptest::collection::vec(ev(), 0..40),
    ) {
        run(classes, want, supplied, tmo, events)?;
    }
}
