//! Throughput of the pipe core alone, and of pipe I/O through the PFS server
//! in the simulator (stateful: the state is sealed and preserved after every
//! request; stateless: nothing is saved), so the cost of keeping pipe
//! contents across restarts is visible.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pfs::proto::S_IFIFO;
use pfs::server::Config;
use pfs::{Done, Outcome, Pipes};
use rs::{Rs, RsConfig};
use sim::system::{ds_service, register_programs, service};
use sim::{Sim, SimConfig};
use std::hint::black_box;
use sys::proto::fs::{Buf, Cred, FsAnswer, FsReply, FsRequest};
use sys::proto::service::Policy;
use sys::{GrantAccess, HZ};

fn core(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipe_core");
    for chunk in [64usize, 512, 4096] {
        g.throughput(Throughput::Bytes(chunk as u64));
        g.bench_function(format!("write_read_{chunk}"), |b| {
            let mut t = Pipes::new(8192, 4);
            let p = t.create().unwrap();
            let data = vec![0xa5u8; chunk];
            let mut tok = 0u64;
            b.iter(|| {
                tok += 2;
                let w = t.write(p, tok, data.clone(), true).unwrap();
                let r = t.read(p, tok + 1, chunk, true).unwrap();
                assert!(matches!(w, Outcome::Done(Done::Written(_))));
                black_box(r);
            });
        });
    }
    g.finish();
}

fn boot(stateful: bool) -> Sim {
    let mut sim = Sim::new(SimConfig::new(1));
    register_programs(&mut sim);
    let cfg = Config {
        stateful,
        ..Config::default()
    };
    sim.register("pfs", move || pfs::server::program(cfg));
    let policy = if stateful {
        Policy::Stateful
    } else {
        Policy::Restart
    };
    let table = vec![ds_service(), service("pfs", "pfs", policy, HZ)];
    sim.start_rs(Box::new(Rs::new(RsConfig::with_table(table))))
        .unwrap();
    assert!(sim.run_until(100 * HZ, |s| {
        s.with_process::<Rs, _>("rs", |rs| rs.booted())
            .unwrap_or(false)
    }));
    sim
}

fn server(c: &mut Criterion) {
    let mut g = c.benchmark_group("pfs_server");
    for (name, stateful, backlog) in [
        ("stateless", false, 0usize),
        ("stateful", true, 0),
        ("stateful_3k_buffered", true, 3000),
    ] {
        let chunk = 512usize;
        g.throughput(Throughput::Bytes(chunk as u64));
        g.bench_function(format!("write_read_512_{name}"), |b| {
            let mut sim = boot(stateful);
            let ep = sim.endpoint_of("pfs").unwrap();
            let m = FsRequest::NewNode {
                id: 1,
                mode: S_IFIFO | 0o600,
                rdev: 0,
                cred: Cred::ROOT,
            }
            .to_message();
            let Ok(FsAnswer::Node(n)) =
                FsReply::try_from(&sim.call(ep, m).unwrap()).unwrap().result
            else {
                panic!("newnode");
            };
            let wg = sim
                .harness_grant(ep, GrantAccess::READ, vec![1; chunk.max(backlog)])
                .unwrap();
            let rg = sim
                .harness_grant(ep, GrantAccess::WRITE, vec![0; chunk])
                .unwrap();
            let mut id = 10u64;
            if backlog > 0 {
                let w = FsRequest::Write {
                    id,
                    ino: n.ino,
                    pos: 0,
                    buf: Buf {
                        grant: wg,
                        len: backlog as u32,
                    },
                    flags: 0,
                };
                sim.call(ep, w.to_message()).unwrap();
            }
            b.iter(|| {
                id += 2;
                let w = FsRequest::Write {
                    id,
                    ino: n.ino,
                    pos: 0,
                    buf: Buf {
                        grant: wg,
                        len: chunk as u32,
                    },
                    flags: 0,
                };
                let r = FsRequest::Read {
                    id: id + 1,
                    ino: n.ino,
                    pos: 0,
                    buf: Buf {
                        grant: rg,
                        len: chunk as u32,
                    },
                    flags: 0,
                };
                black_box(sim.call(ep, w.to_message()).unwrap());
                black_box(sim.call(ep, r.to_message()).unwrap());
            });
        });
    }
    g.finish();
}

criterion_group!(benches, core, server);
criterion_main!(benches);
