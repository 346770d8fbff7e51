//! Boots of the system with processes: the file-system stack plus PM, VM
//! and `bootinit` (a plain user process, `user=bootinit`), which execs
//! `/sbin/init` from an MFS root disk holding the user programs
//! (`images::rootdisk`); init runs the commands of the disk's `/etc/rc`.

use crate::qemu::{self, boot_with_disks};
use images::qemu::RunResult;
use std::path::PathBuf;
use std::time::Duration;

/// The boot image: RS, DS, the vault, the drivers (virtio-blk, the IDE
/// driver at_wini, memory, the terminal driver tty), MFS, ISOFS (started
/// by `mount -t isofs`), PFS, VFS (as `scripts/boot.sh`), PM and VM
/// (started by RS from their images) and `bootinit`.
pub const PROC_MODULES: &str = "rs-native:rs,ds-native:ds,vault,virtio-blk image,at_wini image,\
                                memory image,tty image,mfs-native:mfs image,\
                                isofs-native:isofs image noboot,pfs-native:pfs image,\
                                vfs-native:vfs image,pm image,vm image,bootinit";

/// Kernel options: RS is critical, bootinit a plain user process.
pub const PROC_APPEND: &str = "critical=rs user=bootinit";

/// A root disk (64 MiB, 4 KiB blocks) with the user programs and `rc` as
/// `/etc/rc`, in a temporary directory that lives as long as the returned
/// guard.
pub fn root_disk_with(rc: &str) -> (tempfile::TempDir, PathBuf) {
    let out = qemu::built();
    let dir = tempfile::tempdir().expect("temp dir");
    let img = dir.path().join("root.mfs");
    images::rootdisk::make_root_disk(&img, 64 << 20, &images::rootdisk::user_programs(out), rc)
        .expect("making the root disk");
    (dir, img)
}

/// Boots with a root disk whose `/etc/rc` is `rc`; `None` when QEMU is
/// missing outside CI (see [`qemu::boot`]).
pub fn boot_rc(rc: &str, timeout: Duration) -> Option<(tempfile::TempDir, RunResult)> {
    let (dir, img) = root_disk_with(rc);
    let r = boot_with_disks(PROC_MODULES, PROC_APPEND, &[&img], timeout)?;
    Some((dir, r))
}
