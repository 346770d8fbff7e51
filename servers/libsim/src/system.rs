//! A booted system for tests: RS with DS and the sample services registered
//! as programs, plus helpers to speak the `service` protocol and query RS.

use crate::samples::{Broken, Counter, Echo, LoopDev, Watcher};
use crate::{Sim, SimConfig};
use ds::Ds;
use rs::{CrashRecord, Rs, RsConfig, ServiceConfig, ServiceInfo};
use sys::proto::service::{Policy, ServiceReply, ServiceRequest, ServiceStatus};
use sys::{Endpoint, Errno, HZ, Privileges, Sef, StateStore, Ticks};

/// Programs registered by [`boot`]: "ds", "echo", "echo_reset" (answers
/// ERESTART to a restart init), "counter" (stateful), "watcher" (watches
/// every label: pattern `*`), "broken_fail" / "broken_crash" (init fails /
/// panics every time), "loopdev" (loopback character device, 64-byte FIFO).
pub fn register_programs(sim: &mut Sim) {
    sim.register("ds", || {
        Box::new(Sef::new(Ds::new(), StateStore::Preserved))
    });
    sim.register("echo", || {
        Box::new(Sef::new(Echo::default(), StateStore::None))
    });
    sim.register("echo_reset", || {
        Box::new(Sef::new(
            Echo {
                reset_on_restart: true,
                ..Echo::default()
            },
            StateStore::None,
        ))
    });
    sim.register("counter", || {
        Box::new(Sef::new(Counter::default(), StateStore::Ds))
    });
    sim.register("watcher", || {
        Box::new(Sef::new(Watcher::new("*"), StateStore::None))
    });
    sim.register("loopdev", || {
        Box::new(Sef::new(LoopDev::new(64), StateStore::None))
    });
    sim.register("broken_fail", || {
        Box::new(Sef::new(Broken { crash: false }, StateStore::None))
    });
    sim.register("broken_crash", || {
        Box::new(Sef::new(Broken { crash: true }, StateStore::None))
    });
}

/// A table row for tests.
pub fn service(label: &str, program: &str, policy: Policy, period: Ticks) -> ServiceConfig {
    ServiceConfig {
        label: label.into(),
        program: program.into(),
        policy,
        period,
        privileges: Privileges::service(),
        endpoint: None,
        no_backoff: false,
        boot: true,
    }
}

/// The DS row (fixed endpoint, stateful, no back-off).
pub fn ds_service() -> ServiceConfig {
    ServiceConfig {
        label: "ds".into(),
        program: "ds".into(),
        policy: Policy::Stateful,
        period: HZ,
        privileges: Privileges::service(),
        endpoint: Some(Endpoint::DS),
        no_backoff: true,
        boot: true,
    }
}

/// Boot RS with `table` (DS should come first) and run until every boot
/// service answered its init. Panics if boot does not finish: only a bug
/// can cause that.
pub fn boot(cfg: SimConfig, table: Vec<ServiceConfig>) -> Sim {
    boot_with(cfg, RsConfig::with_table(table))
}

/// [`boot`] with explicit RS tunables.
pub fn boot_with(cfg: SimConfig, rs_cfg: RsConfig) -> Sim {
    let mut sim = Sim::new(cfg);
    register_programs(&mut sim);
    boot_rs(&mut sim, rs_cfg);
    sim
}

/// Start RS in `sim`, whose programs (the tested service's too) are
/// registered, and run until every boot service answered its init.
/// Panics if boot does not finish: only a bug can cause that.
pub fn boot_rs(sim: &mut Sim, rs_cfg: RsConfig) {
    let started = sim.start_rs(Box::new(Rs::new(rs_cfg)));
    assert!(started.is_ok(), "RS did not start: {started:?}");
    let ok = sim.run_until(100 * HZ, |s| {
        s.with_process::<Rs, _>("rs", |rs| rs.booted())
            .unwrap_or(false)
    });
    assert!(ok, "boot did not finish (seed {})", sim.seed());
}

impl Sim {
    /// RS's view of a service.
    pub fn rs_service(&self, label: &str) -> Option<ServiceInfo> {
        self.with_process::<Rs, _>("rs", |rs| rs.service(label))
            .flatten()
    }

    /// RS's crash records for `label`.
    pub fn crash_records(&self, label: &str) -> Vec<CrashRecord> {
        self.with_process::<Rs, _>("rs", |rs| {
            rs.crash_records()
                .filter(|r| r.label == label)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
    }

    /// Crashes RS recorded in total.
    pub fn total_crashes(&self) -> u64 {
        self.with_process::<Rs, _>("rs", |rs| rs.total_crashes())
            .unwrap_or(0)
    }

    /// Send a `service` request to RS from the harness and wait for the answer.
    pub fn service_request(&mut self, req: ServiceRequest) -> Result<ServiceStatus, Errno> {
        let msg = req.to_message()?;
        let rep = self.call(Endpoint::RS, msg)?;
        let rep = ServiceReply::try_from(&rep)?;
        if rep.id != req.id() {
            return Err(Errno::EBADCALL);
        }
        rep.result
    }
}
