//! `nomount`: the machine booted with a root disk MFS could not mount
//! (random bytes, a truncated image, another format). Checks that the
//! system still works without a root: VFS answers every call with the
//! mount's error (the same one each time, not a hang and not ENOENT), the
//! memory driver answers character-device requests, and RS reports the
//! file-system services as running (MFS stayed up unmounted instead of
//! crashing into restarts).

use crate::{Check, ensure, err, find};
use alloc::format;
use alloc::string::String;
use native::NativeSys;
use sys::Sys;
use sys::proto::cdev::{CdevReply, CdevRequest, access, sel};
use sys::proto::service::{RunState, ServiceReply, ServiceRequest};
use sys::proto::vfs::oflag::O_RDONLY;
use vfs::client::Client;

fn vfs_calls(sys: &mut NativeSys, c: &mut Client) -> Check {
    let e = match c.stat(sys, "/") {
        Ok(st) => return Err(format!("stat / succeeded without a root: {st:?}")),
        Err(e) => e,
    };
    rt::println!("VFS answers stat / with {e}");
    let open = c.open(sys, "/etc/motd", O_RDONLY, 0);
    ensure(open == Err(e), || format!("open gave {open:?}, stat {e}"))?;
    let mkdir = c.mkdir(sys, "/x", 0o755);
    ensure(mkdir == Err(e), || {
        format!("mkdir gave {mkdir:?}, stat {e}")
    })?;
    let st = c.statvfs(sys, "/");
    ensure(st.as_ref().err() == Some(&e), || {
        format!("statvfs gave {st:?}, stat {e}")
    })?;
    ensure(e != sys::Errno::ENOENT, || {
        "the mount error is ENOENT".into()
    })?;
    rt::println!("VFS answers every call with the mount error {e}");
    Ok(())
}

fn memory_driver(sys: &mut NativeSys) -> Check {
    let mem = find(sys, "memory").ok_or("the memory driver is not in DS")?;
    let mut ask = |req: CdevRequest| -> Result<CdevReply, String> {
        let m = sys
            .sendrec(mem, req.to_message())
            .map_err(|e| err("memory driver", e))?;
        CdevReply::try_from(&m).map_err(|e| err("memory driver reply", e))
    };
    // /dev/null (minor 3): open and close; /dev/zero (minor 5): readable.
    let r = ask(CdevRequest::Open {
        id: 1,
        minor: 3,
        access: access::WRITE,
    })?;
    ensure(
        matches!(
            r,
            CdevReply::Done {
                id: 1,
                result: Ok(_)
            }
        ),
        || format!("open /dev/null: {r:?}"),
    )?;
    let r = ask(CdevRequest::Close { id: 2, minor: 3 })?;
    ensure(
        matches!(
            r,
            CdevReply::Done {
                id: 2,
                result: Ok(_)
            }
        ),
        || format!("close /dev/null: {r:?}"),
    )?;
    let r = ask(CdevRequest::Select {
        id: 3,
        minor: 5,
        ops: sel::READ,
        notify: false,
    })?;
    ensure(
        matches!(r, CdevReply::Select { id: 3, minor: 5, result: Ok(ops) } if ops & sel::READ != 0),
        || format!("select /dev/zero: {r:?}"),
    )?;
    rt::println!("the memory driver at {mem} answers: /dev/null opens, /dev/zero is readable");
    Ok(())
}

fn rs_status(sys: &mut NativeSys) -> Check {
    for (i, label) in ["mfs", "vfs", "memory"].into_iter().enumerate() {
        let req = ServiceRequest::Status {
            id: 100 + i as u64,
            label: label.into(),
        };
        let m = sys
            .sendrec(
                sys::Endpoint::RS,
                req.to_message().map_err(|e| err("status", e))?,
            )
            .map_err(|e| err("RS", e))?;
        let st = ServiceReply::try_from(&m)
            .map_err(|e| err("RS reply", e))?
            .result
            .map_err(|e| err(label, e))?;
        rt::println!(
            "RS: {label} at {} is {:?}, {} restarts",
            st.endpoint,
            st.state,
            st.restarts
        );
        ensure(st.state == RunState::Running && st.restarts == 0, || {
            format!("{label}: {st:?}")
        })?;
    }
    Ok(())
}

/// `nomount`.
pub fn run(sys: &mut NativeSys, c: &mut Client) -> Check {
    vfs_calls(sys, c)?;
    memory_driver(sys)?;
    rs_status(sys)?;
    rt::println!("verified: no root, the rest of the system works");
    Ok(())
}
