//! `vmtest`: VM's user calls from a plain user process (see README). The
//! bytes of pages VM maps are checked through the heap (rt's allocator
//! writes them); mmap regions are checked through VM's answers only
//! (touching them would need `unsafe` here).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;
use rt::abi;
use rt::ipc;
use sys::Sys;
use sys::proto::service::{RunState, ServiceReply, ServiceRequest, ServiceStatus};
use sys::proto::vm::{VmAnswer, VmCall, VmPmCall, VmReply, prot};
use sys::{Endpoint, Errno, Message};

rt::entry!(main);

/// Clock ticks to wait for VM at most.
const WAIT_TICKS: u64 = 60 * abi::CLOCK_HZ;

fn main(args: &str) -> i32 {
    let mut words = args.split_ascii_whitespace();
    match words.next() {
        Some("user") => match user() {
            Ok(()) => {
                rt::println!("PASS");
                0
            }
            Err(why) => {
                rt::println!("FAIL: {why}");
                1
            }
        },
        Some("driver") => driver(words.next().unwrap_or("vmuser")),
        Some("restart") => {
            match restart() {
                Ok(()) => rt::println!("PASS"),
                Err(why) => rt::println!("FAIL: {why}"),
            }
            rt::sys::shutdown(0)
        }
        _ => {
            rt::println!("usage: vmtest user | driver NAME | restart");
            2
        }
    }
}

/// Waits (one tick at a time) until `name` is gone, then ends the run.
fn driver(name: &str) -> i32 {
    while ipc::whois(name).is_ok() {
        let _ = rt::sys::set_alarm(1);
        let _ = ipc::receive(abi::CLOCK_ENDPOINT);
    }
    rt::println!("{name} is gone; shutting down");
    rt::sys::shutdown(0)
}

/// One call to VM and its reply.
fn vm_call(vm: u32, m: &Message) -> Result<VmReply, Errno> {
    let mut raw = ipc::message(m.mtype());
    raw[abi::MSG_PAYLOAD_OFFSET..].copy_from_slice(m.payload());
    ipc::sendrec(vm, &mut raw).map_err(|_| Errno::EDEADSRCDST(None))?;
    let mut reply = Message::new(ipc::mtype(&raw));
    reply
        .payload_mut()
        .copy_from_slice(&raw[abi::MSG_PAYLOAD_OFFSET..]);
    VmReply::try_from(&reply)
}

fn value(vm: u32, c: VmCall) -> Result<u64, Errno> {
    let r = vm_call(vm, &c.to_message())?;
    if r.id != c.id() {
        return Err(Errno::EBADCALL);
    }
    r.value()
}

fn check(ok: bool, what: &'static str) -> Result<(), &'static str> {
    if ok { Ok(()) } else { Err(what) }
}

/// The endpoint of VM once it answers (RS starts it after DS).
fn wait_for_vm() -> Option<u32> {
    let start = rt::sys::uptime();
    while rt::sys::uptime() - start < WAIT_TICKS {
        if let Ok(vm) = ipc::whois("vm")
            && value(vm, VmCall::Brk { id: 1, addr: 0 }).is_ok()
        {
            return Some(vm);
        }
        core::hint::spin_loop();
    }
    None
}

fn user() -> Result<(), &'static str> {
    // A plain user may not map pages itself.
    let me = ipc::whois("").map_err(|_| "whois self")?;
    check(
        rt::sys::map_pages(me, abi::HEAP_BASE, 1, true) == Err(abi::Errno::Perm),
        "MapPages allowed to a plain user",
    )?;
    let vm = wait_for_vm().ok_or("VM never answered")?;
    rt::println!("VM answers");

    // Heap growth through VM (rt's allocator: MapPages -> Perm -> Brk).
    let n = 4 << 20;
    let mut v: Vec<u8> = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| "4 MiB allocation refused")?;
    v.extend((0..n).map(|i| (i % 251) as u8));
    check(
        v.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8),
        "heap bytes changed",
    )?;
    let brk = value(vm, VmCall::Brk { id: 2, addr: 0 }).map_err(|_| "brk query")?;
    check(
        brk >= abi::HEAP_BASE + n as u64,
        "break below the grown heap",
    )?;
    rt::println!("heap grew by 4 MiB through VM (break {brk:#x})");
    drop(v);

    check(
        value(
            vm,
            VmCall::Brk {
                id: 3,
                addr: abi::HEAP_END + 4096,
            },
        ) == Err(Errno::ENOMEM),
        "brk beyond HEAP_END",
    )?;

    // mmap, write, munmap a page, mprotect.
    let rw = prot::READ | prot::WRITE;
    let len = 16 * 4096;
    let a = value(
        vm,
        VmCall::Mmap {
            id: 4,
            len,
            prot: rw,
        },
    )
    .map_err(|_| "mmap")?;
    check((abi::MMAP_BASE..abi::MMAP_END).contains(&a), "mmap address")?;
    rt::println!("mmap 64 KiB at {a:#x}");
    let unmap = VmCall::Munmap {
        id: 5,
        addr: a + 4096,
        len: 4096,
    };
    check(value(vm, unmap) == Ok(0), "munmap")?;
    let ro = VmCall::Mprotect {
        id: 6,
        addr: a,
        len: 4096,
        prot: prot::READ,
    };
    check(value(vm, ro) == Ok(0), "mprotect read-only")?;
    let hole = VmCall::Mprotect {
        id: 7,
        addr: a,
        len: 2 * 4096,
        prot: rw,
    };
    check(
        value(vm, hole) == Err(Errno::ENOMEM),
        "mprotect over a hole",
    )?;
    let b = value(
        vm,
        VmCall::Mmap {
            id: 8,
            len: 4096,
            prot: prot::READ,
        },
    )
    .map_err(|_| "read-only mmap")?;
    check(b == a + 4096, "first fit reuses the hole")?;
    let up = VmCall::Mprotect {
        id: 9,
        addr: b,
        len: 4096,
        prot: rw,
    };
    check(value(vm, up) == Ok(0), "mprotect adding write")?;
    rt::println!("munmap and mprotect done");

    // Bad requests.
    let bad = [
        (
            VmCall::Mmap {
                id: 10,
                len: 0,
                prot: rw,
            },
            Errno::EINVAL,
        ),
        (
            VmCall::Mmap {
                id: 11,
                len: abi::MMAP_END - abi::MMAP_BASE + 1,
                prot: rw,
            },
            Errno::ENOMEM,
        ),
        (
            VmCall::Munmap {
                id: 12,
                addr: a + 1,
                len: 4096,
            },
            Errno::EINVAL,
        ),
        (
            VmCall::Munmap {
                id: 13,
                addr: abi::USER_BASE,
                len: 4096,
            },
            Errno::EINVAL,
        ),
    ];
    for (c, e) in bad {
        check(value(vm, c) == Err(e), "bad request not refused")?;
    }
    let mut junk = Message::new(0xbff);
    junk.payload_mut()[..8].copy_from_slice(&14u64.to_le_bytes());
    check(
        vm_call(vm, &junk).map(|r| r.result) == Ok(Err(Errno::ENOSYS)),
        "unknown type",
    )?;
    let pm_only = VmPmCall::Exit {
        id: 15,
        ep: Endpoint(me),
    };
    check(
        vm_call(vm, &pm_only.to_message()).map(|r| r.result) == Ok(Err(Errno::EPERM)),
        "PM call from a user",
    )?;
    rt::println!("bad requests refused");

    let info = vm_call(vm, &VmCall::Info { id: 16 }.to_message()).map_err(|_| "info")?;
    match info.result {
        Ok(VmAnswer::Info(i)) if i.total > 0 && i.free > 0 && i.free <= i.total => {
            rt::println!("memory: {} of {} frames free", i.free, i.total);
            Ok(())
        }
        _ => Err("info"),
    }
}

fn rs_call(sys: &mut native::NativeSys, req: ServiceRequest) -> Result<ServiceStatus, Errno> {
    let reply = sys.sendrec(Endpoint::RS, req.to_message()?)?;
    ServiceReply::try_from(&reply)?.result
}

fn vm_status(sys: &mut native::NativeSys) -> Result<ServiceStatus, Errno> {
    let label = "vm".into();
    rs_call(sys, ServiceRequest::Status { id: 1, label })
}

/// VM's table across a crash: this process (boot privileges) gets a
/// break and an mmap region from VM, has RS crash VM (`service fi`),
/// waits for the restart and asks again: a VM that kept its table knows
/// the break and the region (a munmap'd page in it is the first fit),
/// one that lost it adopts this process afresh.
fn restart() -> Result<(), &'static str> {
    let mut sys = native::NativeSys::new();
    let vm = sys
        .wait_for_label("vm", WAIT_TICKS)
        .ok_or("VM never started")?
        .0;
    let brk = abi::HEAP_BASE + 3 * 4096 + 7;
    check(
        value(vm, VmCall::Brk { id: 1, addr: brk }) == Ok(brk),
        "brk before the crash",
    )?;
    let rw = prot::READ | prot::WRITE;
    let a = value(
        vm,
        VmCall::Mmap {
            id: 2,
            len: 3 * 4096,
            prot: rw,
        },
    )
    .map_err(|_| "mmap before the crash")?;
    let before = vm_status(&mut sys).map_err(|_| "status")?.restarts;
    let fi = ServiceRequest::Fi {
        id: 3,
        label: "vm".into(),
    };
    rs_call(&mut sys, fi).map_err(|_| "service fi vm")?;
    let mut waited = 0;
    loop {
        match vm_status(&mut sys) {
            Ok(st) if st.state == RunState::Running && st.restarts > before => break,
            _ if waited > WAIT_TICKS => return Err("VM did not come back"),
            _ => {}
        }
        sys.sleep(1);
        waited += 1;
    }
    rt::println!("VM restarted");
    let now = value(vm, VmCall::Brk { id: 4, addr: 0 }).map_err(|_| "brk after")?;
    let unmap = VmCall::Munmap {
        id: 5,
        addr: a + 4096,
        len: 4096,
    };
    check(value(vm, unmap) == Ok(0), "munmap after")?;
    let b = value(
        vm,
        VmCall::Mmap {
            id: 6,
            len: 4096,
            prot: rw,
        },
    )
    .map_err(|_| "mmap after")?;
    rt::println!(
        "after the restart: break {:#x} (was {brk:#x}), one page mmap'd at +{:#x} (region at +{:#x})",
        now,
        b - abi::MMAP_BASE,
        a - abi::MMAP_BASE
    );
    Ok(())
}
