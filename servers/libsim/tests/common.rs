//! Helpers shared by the simulator system tests.
#![allow(dead_code)]

use sim::Sim;
use sys::proto::ds::{DsAnswer, DsReply, DsRequest, DsType};
use sys::proto::sample::{SampleReply, SampleRequest};
use sys::proto::service::RunState;
use sys::{Endpoint, Errno, HZ};

pub fn counter_get(sim: &mut Sim, label: &str) -> Result<u64, Errno> {
    let ep = sim.endpoint_of(label).ok_or(Errno::ESRCH)?;
    let r = sim.call(ep, SampleRequest::Get { id: 1 }.to_message())?;
    match SampleReply::try_from(&r)? {
        SampleReply::Value { result, .. } => result,
        _ => Err(Errno::EBADCALL),
    }
}

pub fn counter_add(sim: &mut Sim, label: &str, delta: u32) -> Result<u64, Errno> {
    let ep = sim.endpoint_of(label).ok_or(Errno::ESRCH)?;
    let r = sim.call(ep, SampleRequest::Add { id: 2, delta }.to_message())?;
    match SampleReply::try_from(&r)? {
        SampleReply::Value { result, .. } => result,
        _ => Err(Errno::EBADCALL),
    }
}

pub fn echo(sim: &mut Sim, ep: Endpoint, id: u64) -> Result<(), Errno> {
    let mut data = [0u8; 40];
    data[..8].copy_from_slice(&id.to_le_bytes());
    let r = sim.call(ep, SampleRequest::Echo { id, data }.to_message())?;
    match SampleReply::try_from(&r)? {
        SampleReply::Echo { id: i, data: d } if i == id && d == data => Ok(()),
        _ => Err(Errno::EBADCALL),
    }
}

pub fn ds_call(sim: &mut Sim, req: DsRequest) -> Result<DsAnswer, Errno> {
    let r = sim.call(Endpoint::DS, req.to_message()?)?;
    DsReply::try_from(&r)?.result
}

pub fn ds_label(sim: &mut Sim, label: &str) -> Result<Endpoint, Errno> {
    ds_call(
        sim,
        DsRequest::Retrieve {
            id: 3,
            key: label.into(),
            ty: DsType::Label,
            grant: None,
        },
    )
    .map(|a| Endpoint(a.value))
}

/// Run until RS reports `label` running with at least `restarts` restarts.
pub fn wait_running(sim: &mut Sim, label: &str, restarts: u32, max_ticks: u64) -> bool {
    sim.run_until(max_ticks, |s| {
        s.rs_service(label)
            .map(|i| i.state == RunState::Running && i.restarts >= restarts)
            .unwrap_or(false)
    })
}

pub const TEN_S: u64 = 10 * HZ;
