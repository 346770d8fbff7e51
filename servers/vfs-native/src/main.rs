//! `vfs`: the VFS server (`vfs`) on the kernel. RS starts it from its
//! service table after the file servers; at init it finds the root file
//! server (label `mfs`, or the label its boot module line names with
//! `root=LABEL`: `vfs-native:vfs image root=isofs` on the installation
//! ISO), the pipe server (`pfs`) and the character drivers
//! of its dmap table in DS, mounts the root
//! and logs what it mounted. User processes reach it by the label `vfs`
//! (DS) or by name. It keeps no state across a restart of its own (open
//! files are lost, as in MINIX). Listed as a boot module with the argument
//! `image` so that `Spawn` finds its image.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use sys::{Ctx, Errno, InitInfo, Message, Process, Service};
use vfs::{MountSpec, Vfs};

rt::entry!(main);

/// Label of the root file server unless the boot module line names one.
const ROOT_FS: &str = "mfs";
/// Longest root label accepted from the boot module line.
const MAX_LABEL: usize = 16;
/// Label of the pipe server.
const PIPE_FS: &str = "pfs";
/// Character drivers by major device number, used when RS runs them (the
/// MINIX dmap table): the memory driver (`/dev/null` 3, `/dev/zero` 5),
/// the terminal driver `tty` (console 0, pty slaves 128.., masters 192..)
/// and the test driver `slowdev`.
const CHAR_DRIVERS: &[(u32, &str)] = &[(1, "memory"), (4, "tty"), (7, "slowdev")];

/// VFS under SEF; built at init, once the servers' endpoints are known.
struct VfsService {
    vfs: Option<Vfs>,
    root_fs: String,
}

/// The root file server's label: `root=LABEL` on VFS's boot module line,
/// else [`ROOT_FS`].
fn root_label() -> String {
    rt::sys::boot_module_line("vfs", |l| {
        l.unwrap_or("")
            .split_ascii_whitespace()
            .skip(1)
            .filter_map(|w| w.strip_prefix("root="))
            .find(|v| !v.is_empty() && v.len() <= MAX_LABEL)
            .map(String::from)
    })
    .ok()
    .flatten()
    .unwrap_or_else(|| String::from(ROOT_FS))
}

impl Service for VfsService {
    fn init(&mut self, cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno> {
        let root_fs = root_label();
        let root = sys::ds::retrieve_label(cx.sys, &root_fs)?;
        let pipes = sys::ds::retrieve_label(cx.sys, PIPE_FS)?;
        rt::println!(
            "init {:?}: root file system from '{root_fs}' at {root}, pipes from '{PIPE_FS}' at {pipes}",
            info.kind
        );
        let mut v = Vfs::new(vec![MountSpec {
            label: root_fs.clone(),
            ep: root,
            path: String::from("/"),
        }])
        .with_pipe_server(PIPE_FS, pipes);
        self.root_fs = root_fs;
        // Character devices: the memory driver's /dev/null and /dev/zero.
        for (major, label) in CHAR_DRIVERS {
            if let Ok(ep) = sys::ds::retrieve_label(cx.sys, label) {
                v = v.with_char_driver(*major, label, ep);
            }
        }
        v.start(cx.sys);
        self.vfs = Some(v);
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        if let Some(v) = self.vfs.as_mut() {
            let had_error = v.mount_error();
            v.receive(cx.sys, msg);
            if had_error.is_none()
                && let Some(e) = v.mount_error()
            {
                rt::println!(
                    "mounting / from '{}' failed: {e}; no root file system",
                    self.root_fs
                );
            }
        }
        None
    }
}

fn main(args: &str) -> i32 {
    if native::is_image_only(args) {
        rt::println!("boot image only; RS starts the service");
        return 0;
    }
    native::run(sys::Sef::new(
        VfsService {
            vfs: None,
            root_fs: String::new(),
        },
        sys::StateStore::None,
    ))
}
