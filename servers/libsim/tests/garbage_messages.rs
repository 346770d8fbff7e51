//! Malformed-message robustness of DS, RS and the sample services: thousands
//! of seeded random and near-valid requests (known types, random payloads,
//! bad/unterminated names, bad grant ids, grants too small or with the wrong
//! rights, huge lengths). No server may crash, every known-type request gets
//! an answer, and the system still serves normal requests afterwards.

mod common;

use common::{counter_add, counter_get, ds_label, echo};
use sim::system::{boot, ds_service, service};
use sim::{Sim, SimConfig, seeded};
use sys::proto::cdev::{CdevReply, CdevRequest};
use sys::proto::service::{Policy, RunState, ServiceRequest};
use sys::{Endpoint, GrantAccess, GrantId, HZ, Message};

/// Tiny SplitMix64 so the test's choices are independent of the simulator's.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn u32(&mut self) -> u32 {
        self.next() as u32
    }
    /// A length/offset value biased towards edge cases.
    fn len(&mut self) -> u32 {
        let r = self.u32();
        self.pick(&[0, 1, 3, 4, 5, 31, 32, 63, 64, 65, 4096, u32::MAX, r])
    }
}

// Raw request types (kept in one place; they mirror sys::proto's numbers).
const DS_TYPES: [u32; 6] = [0x400, 0x401, 0x402, 0x403, 0x404, 0x405];
const SAMPLE_TYPES: [u32; 3] = [0x500, 0x501, 0x502];
const SERVICE_TYPES: [u32; 7] = [0x300, 0x301, 0x302, 0x303, 0x304, 0x305, 0x306];
const RS_CONTROL_TYPES: [u32; 6] = [0x200, 0x201, 0x202, 0x203, 0x204, 0x205];
const CDEV_SAFE_TYPES: [u32; 4] = [0x800, 0x801, 0x805, 0x804];

fn random_payload(rng: &mut Rng, m: &mut Message) {
    for b in m.payload_mut().iter_mut() {
        *b = rng.next() as u8;
    }
}

/// A name field: valid short name, unterminated full field, empty, invalid
/// UTF-8, or random bytes.
fn name_field(rng: &mut Rng, field: &mut [u8]) {
    field.fill(0);
    match rng.below(5) {
        0 => {
            let n = 1 + rng.below(6) as usize;
            for b in field.iter_mut().take(n) {
                *b = b'a' + rng.below(4) as u8;
            }
        }
        1 => field.fill(b'Z'),
        2 => {}
        3 => {
            field[0] = 0xff;
            field[1] = 0xfe;
        }
        _ => field.iter_mut().for_each(|b| *b = rng.next() as u8),
    }
}

fn put32(m: &mut Message, off: usize, v: u32) {
    m.payload_mut()[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn put16(m: &mut Message, off: usize, v: u16) {
    m.payload_mut()[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

/// Grants the harness gave `grantee`: (id) with varied rights and sizes,
/// plus ids that were never granted.
fn grants_for(sim: &mut Sim, grantee: Endpoint) -> Vec<u32> {
    let mut v = Vec::new();
    for (acc, size) in [
        (GrantAccess::READ, 0usize),
        (GrantAccess::READ, 3),
        (GrantAccess::READ, 64),
        (GrantAccess::WRITE, 0),
        (GrantAccess::WRITE, 5),
        (GrantAccess::WRITE, 64),
        (GrantAccess::RW, 300),
    ] {
        let gid = sim
            .harness_grant(grantee, acc, vec![b'x'; size])
            .expect("grant");
        v.push(gid.0);
    }
    v.extend([0, 1, 999, u32::MAX, 0x8000_0000]);
    v
}

fn ds_msg(rng: &mut Rng, id: u64, grants: &[u32]) -> Message {
    let mut m = Message::new(rng.pick(&DS_TYPES));
    random_payload(rng, &mut m);
    m.payload_mut()[..8].copy_from_slice(&id.to_le_bytes());
    if rng.below(4) != 0 {
        let mut key = [0u8; 32];
        name_field(rng, &mut key);
        m.payload_mut()[8..40].copy_from_slice(&key);
        put16(&mut m, 40, rng.pick(&[0x10, 0x20, 0x40, 0x100, 0, 0xffff]));
        put16(
            &mut m,
            42,
            rng.pick(&[0, 0x2, 0x4, 0x8, 0x1000, 0x2000, 0xffff]),
        );
        let r = rng.u32();
        let a = rng.pick(&[0, 1, 2, r]);
        put32(&mut m, 44, a);
        let g = if rng.below(4) == 0 {
            rng.u32()
        } else {
            rng.pick(grants)
        };
        put32(&mut m, 48, g);
        let l = rng.len();
        put32(&mut m, 52, l);
    }
    m
}

fn service_msg(rng: &mut Rng, id: u64) -> Message {
    let mut m = Message::new(rng.pick(&SERVICE_TYPES));
    random_payload(rng, &mut m);
    m.payload_mut()[..8].copy_from_slice(&id.to_le_bytes());
    if rng.below(4) != 0 {
        // Labels stay garbage ("Z...", "a".."dddddd", random) so no real
        // service is taken down; Status may name a real one.
        let mut label = [0u8; 16];
        name_field(rng, &mut label);
        if m.mtype() == 0x306 && rng.below(2) == 0 {
            label.fill(0);
            let l = rng.pick(&["ds", "echo", "counter", "loopdev", "rs"]);
            label[..l.len()].copy_from_slice(l.as_bytes());
        }
        m.payload_mut()[8..24].copy_from_slice(&label);
        let mut prog = [0u8; 16];
        name_field(rng, &mut prog);
        m.payload_mut()[24..40].copy_from_slice(&prog);
        let r = rng.u32();
        let policy = rng.pick(&[0, 1, 2, 3, 4, 5, r]);
        put32(&mut m, 40, policy);
        let period = rng.len();
        put32(&mut m, 44, period);
        let flags = rng.u32();
        put32(&mut m, 48, flags);
    }
    m
}

fn sample_msg(rng: &mut Rng, id: u64) -> Message {
    let mut m = Message::new(rng.pick(&SAMPLE_TYPES));
    random_payload(rng, &mut m);
    m.payload_mut()[..8].copy_from_slice(&id.to_le_bytes());
    m
}

fn cdev_msg(rng: &mut Rng, id: u64, grants: &[u32]) -> Message {
    let r = rng.u32();
    let minor = rng.pick(&[0, 1, 7, u32::MAX, r]);
    let grant = GrantId(rng.pick(grants));
    let size = rng.len();
    match rng.below(6) {
        // Reads and writes never suspend here, so they owe an answer now.
        0 => CdevRequest::Read {
            id,
            minor,
            grant,
            size,
            nonblock: true,
        }
        .to_message(),
        1 => CdevRequest::Write {
            id,
            minor,
            grant,
            size,
            nonblock: true,
        }
        .to_message(),
        _ => {
            let mut m = Message::new(rng.pick(&CDEV_SAFE_TYPES));
            random_payload(rng, &mut m);
            m.payload_mut()[..8].copy_from_slice(&id.to_le_bytes());
            put32(&mut m, 8, minor);
            if rng.below(2) == 0 {
                put32(&mut m, 20, rng.below(3) as u32);
            }
            m
        }
    }
}

fn assert_healthy(sim: &Sim, what: &str) {
    assert!(sim.fatal().is_none(), "{what}: fatal {:?}", sim.fatal());
    assert_eq!(
        sim.total_crashes(),
        0,
        "{what}: a server crashed\n{}",
        sim.trace_tail(20)
    );
    for l in ["ds", "echo", "counter", "loopdev", "watcher"] {
        assert!(sim.is_alive(l), "{what}: {l} died");
        assert!(sim.crash_records(l).is_empty(), "{what}: {l} crashed");
    }
}

#[test]
fn garbage_to_ds_rs_and_samples() {
    seeded("garbage_messages", 0x6a5b_a6e5, |seed| {
        let mut sim = boot(
            SimConfig::new(seed),
            vec![
                ds_service(),
                service("echo", "echo", Policy::Restart, HZ),
                service("counter", "counter", Policy::Stateful, HZ),
                service("loopdev", "loopdev", Policy::Restart, HZ),
                service("watcher", "watcher", Policy::Restart, HZ),
            ],
        );
        let mut rng = Rng(seed);
        let ep_echo = sim.endpoint_of("echo").unwrap();
        let ep_counter = sim.endpoint_of("counter").unwrap();
        let ep_loop = sim.endpoint_of("loopdev").unwrap();
        let ep_watch = sim.endpoint_of("watcher").unwrap();
        let ds_grants = grants_for(&mut sim, Endpoint::DS);
        let cdev_grants = grants_for(&mut sim, ep_loop);
        let all = [
            Endpoint::DS,
            Endpoint::RS,
            ep_echo,
            ep_counter,
            ep_loop,
            ep_watch,
        ];

        const N: u64 = 4000;
        let (mut replied, mut plain) = (0u64, 0u64);
        for i in 0..N {
            let id = 1_000_000 + i;
            let (dest, msg) = match rng.below(6) {
                0 => (Endpoint::DS, ds_msg(&mut rng, id, &ds_grants)),
                1 => (Endpoint::RS, service_msg(&mut rng, id)),
                2 => (rng.pick(&[ep_echo, ep_counter]), sample_msg(&mut rng, id)),
                3 => (ep_loop, cdev_msg(&mut rng, id, &cdev_grants)),
                4 => {
                    // Control-looking or wholly random types, one-way, to anyone.
                    let mut m = Message::new(if rng.below(2) == 0 {
                        rng.pick(&RS_CONTROL_TYPES)
                    } else {
                        rng.u32()
                    });
                    random_payload(&mut rng, &mut m);
                    (rng.pick(&all), m)
                }
                _ => {
                    // Requests of another protocol's types: the answer (if
                    // any) is not owed, but nothing may break.
                    let mut m = Message::new(rng.pick(&[
                        0x400, 0x480, 0x500, 0x580, 0x300, 0x380, 0x800, 0x880, 0x882,
                    ]));
                    random_payload(&mut rng, &mut m);
                    (rng.pick(&all), m)
                }
            };
            let owes = (dest == Endpoint::DS && DS_TYPES.contains(&msg.mtype()))
                || (dest == Endpoint::RS && SERVICE_TYPES.contains(&msg.mtype()))
                || ((dest == ep_echo || dest == ep_counter) && SAMPLE_TYPES.contains(&msg.mtype()))
                || (dest == ep_loop && [0x800, 0x801, 0x802, 0x803, 0x805].contains(&msg.mtype()));
            if owes {
                let r = sim.call(dest, msg);
                let r = r.unwrap_or_else(|e| {
                    panic!(
                        "request #{i} {msg:?} to {dest:?}: no answer ({e:?})\n{}",
                        sim.trace_tail(10)
                    )
                });
                assert_eq!(
                    r.request_id(),
                    msg.request_id(),
                    "#{i}: answer to the wrong request"
                );
                replied += 1;
            } else {
                let _ = sim.send_plain(dest, msg);
                plain += 1;
                sim.run_for(1);
            }
            if i % 256 == 0 {
                assert_healthy(&sim, &format!("after #{i}"));
                sim.harness_inbox();
            }
        }
        sim.run_for(HZ);
        assert_healthy(&sim, "end");
        println!("garbage: {replied} answered requests, {plain} one-way messages");

        // Still serving normal requests.
        echo(&mut sim, ep_echo, 42).expect("echo after garbage");
        let before = counter_get(&mut sim, "counter").expect("counter get");
        assert_eq!(counter_add(&mut sim, "counter", 5), Ok(before + 5));
        assert_eq!(ds_label(&mut sim, "echo"), Ok(ep_echo), "DS after garbage");
        let st = sim
            .service_request(ServiceRequest::Status {
                id: 9,
                label: "echo".into(),
            })
            .expect("status");
        assert_eq!((st.state, st.restarts), (RunState::Running, 0));
        let r = sim
            .call(
                ep_loop,
                CdevRequest::Open {
                    id: 10,
                    minor: 0,
                    access: 3,
                }
                .to_message(),
            )
            .expect("loopdev open");
        assert!(CdevReply::try_from(&r).is_ok());
        assert_healthy(&sim, "after normal requests");
    });
}
