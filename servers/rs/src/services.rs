//! The service table: every system service RS starts at boot, in order, in
//! one declarative list (MINIX `system.conf` + the boot image list; Hubris
//! `app.toml`). `service up` can start further instances of the programs
//! listed here under new labels; they inherit the program's privileges.

use sys::proto::service::Policy;
use sys::{Endpoint, HZ, IpcTargets, Privileges, Ticks};

/// IPC privilege as written in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipc {
    /// May send to anyone.
    Any,
    /// May send only to these labels (RS, DS, SYSTEM and CLOCK always).
    Only(&'static [&'static str]),
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Label: the service's name in DS, RS and `service` requests.
    pub label: &'static str,
    /// Program to run.
    pub program: &'static str,
    /// Restart policy.
    pub policy: Policy,
    /// Ping period in ticks; 0 disables heartbeats.
    pub period: Ticks,
    /// May create / kill processes.
    pub process_mgmt: bool,
    /// May drive hardware (I/O ports, IRQ lines, DMA memory): drivers.
    pub hardware: bool,
    /// IPC targets.
    pub ipc: Ipc,
    /// A well-known endpoint the service always runs at, or `None`.
    pub endpoint: Option<Endpoint>,
    /// Restart without binary exponential back-off (MINIX `-b`).
    pub no_backoff: bool,
    /// Start at boot (else only known for `service up`).
    pub boot: bool,
}

impl ServiceSpec {
    /// The privilege record this row grants.
    pub fn privileges(&self) -> Privileges {
        Privileges {
            process_mgmt: self.process_mgmt,
            hardware: self.hardware,
            ipc: match self.ipc {
                Ipc::Any => IpcTargets::Any,
                Ipc::Only(l) => IpcTargets::Labels(l.iter().map(|s| (*s).into()).collect()),
            },
        }
    }
}

/// Labels whose instances keep their preserved memory window across a
/// restart under the same endpoint (native: `Update` with
/// `UPDATE_KEEP_WINDOW`; the simulator keeps `preserve`d memory anyway).
/// A list beside the table rather than a column, so `service up` instances
/// choose it by label: `counter` keeps it, `counter-plain` (the same
/// program) does not, which the QEMU tests use as the negative control.
/// `mfs` keeps its whole heap there (block cache, exactly-once record:
/// `servers/mfs-native`); `mfs2`... are not listed and restart stateless.
/// `vm` keeps its address-space table there, `pm` its process table.
pub const KEEP_MEMORY: &[&str] = &["counter", "mfs", "vm", "pm"];

/// Whether the service labelled `label` keeps its preserved window.
pub fn keeps_memory(label: &str) -> bool {
    KEEP_MEMORY.contains(&label)
}

/// Ping period of the file-system stack's services: generous, because
/// under QEMU's TCG on a busy host the guest clock runs on while a server
/// gets little CPU, and RS kills a service after two missed periods (a
/// kill in the middle of a request costs MFS its unflushed writes).
pub const FS_PING_PERIOD: Ticks = 5 * HZ;

/// The system's service table. DS comes first: everyone else's label is
/// published there before it starts.
pub const SERVICES: &[ServiceSpec] = &[
    ServiceSpec {
        label: "ds",
        program: "ds",
        policy: Policy::Stateful,
        period: HZ,
        process_mgmt: false,
        hardware: false,
        ipc: Ipc::Any,
        endpoint: Some(Endpoint::DS),
        no_backoff: true,
        boot: true,
    },
    ServiceSpec {
        label: "echo",
        program: "echo",
        policy: Policy::Restart,
        period: HZ,
        process_mgmt: false,
        hardware: false,
        ipc: Ipc::Only(&[]),
        endpoint: None,
        no_backoff: false,
        boot: true,
    },
    // The file-system stack, in dependency order: the block drivers, the
    // file servers (each MFS instance serves the disk its label names:
    // `mfs` minor 0, `mfs2` minor 1, ...; `service up` starts more), then
    // VFS, which finds them in DS at its init. RS starts these only when
    // their images are in the boot image (see `rs-native`).
    ServiceSpec {
        // The virtio-blk block driver (`servers/drivers/virtio-blk`): takes the PCI
        // configuration ports, its devices' ports and IRQ lines and DMA
        // memory itself (the hardware calls).
        label: "virtio-blk",
        program: "virtio-blk",
        policy: Policy::Restart,
        period: FS_PING_PERIOD,
        process_mgmt: false,
        hardware: true,
        ipc: Ipc::Any,
        endpoint: None,
        no_backoff: false,
        boot: true,
    },
    ServiceSpec {
        // The IDE/ATA driver (`servers/drivers/at_wini`, MINIX's at_wini): the two
        // legacy IDE channels' ports and IRQ lines 14 and 15, taken by
        // itself (the hardware calls); ATA disks and ATAPI CD-ROMs.
        label: "at_wini",
        program: "at_wini",
        policy: Policy::Restart,
        period: FS_PING_PERIOD,
        process_mgmt: false,
        hardware: true,
        ipc: Ipc::Any,
        endpoint: None,
        no_backoff: false,
        boot: true,
    },
    ServiceSpec {
        // The memory driver (`servers/drivers/memory`): the RAM disk from a boot
        // data module, /dev/null and /dev/zero.
        label: "memory",
        program: "memory",
        policy: Policy::Restart,
        period: FS_PING_PERIOD,
        process_mgmt: false,
        hardware: true,
        ipc: Ipc::Any,
        endpoint: None,
        no_backoff: true,
        boot: true,
    },
    ServiceSpec {
        // The terminal driver (`servers/drivers/tty`): the COM1 console (its ports
        // and IRQ 4) and the pseudo-terminal pairs. Stateful: termios,
        // foreground group, window size and unread input of every line
        // survive a restart (SEF state in DS). Before VFS, which looks it
        // up at its init.
        label: "tty",
        program: "tty",
        policy: Policy::Stateful,
        period: FS_PING_PERIOD,
        process_mgmt: false,
        hardware: true,
        ipc: Ipc::Any,
        endpoint: None,
        no_backoff: true,
        boot: true,
    },
    ServiceSpec {
        // A test character driver that answers select late (the
        // early-alarm case); only in test boot images.
        label: "slowdev",
        program: "slowdev",
        policy: Policy::Restart,
        period: FS_PING_PERIOD,
        process_mgmt: false,
        hardware: false,
        ipc: Ipc::Any,
        endpoint: None,
        no_backoff: true,
        boot: true,
    },
    ServiceSpec {
        label: "mfs",
        program: "mfs",
        policy: Policy::Stateful,
        period: FS_PING_PERIOD,
        process_mgmt: false,
        hardware: false,
        ipc: Ipc::Any,
        endpoint: None,
        no_backoff: true,
        boot: true,
    },
    ServiceSpec {
        // The ISO 9660 file server (`servers/isofs-native`): started at
        // boot when its image is in the boot image without `noboot` (the
        // installation ISO's root), else on request (`service up
        // /sbin/isofs -label isofsN` serves minor N-1 of virtio-blk).
        // Stateful: the mount and the mount points on the ISO come back
        // through SEF state in DS.
        label: "isofs",
        program: "isofs",
        policy: Policy::Stateful,
        period: FS_PING_PERIOD,
        process_mgmt: false,
        hardware: false,
        ipc: Ipc::Any,
        endpoint: None,
        no_backoff: true,
        boot: true,
    },
    ServiceSpec {
        label: "pfs",
        program: "pfs",
        policy: Policy::Stateful,
        period: FS_PING_PERIOD,
        process_mgmt: false,
        hardware: false,
        ipc: Ipc::Any,
        endpoint: None,
        no_backoff: true,
        boot: true,
    },
    ServiceSpec {
        label: "vfs",
        program: "vfs",
        policy: Policy::Restart,
        period: FS_PING_PERIOD,
        process_mgmt: false,
        hardware: false,
        ipc: Ipc::Any,
        endpoint: None,
        no_backoff: true,
        boot: true,
    },
    ServiceSpec {
        // The VM server (`servers/vm`): address spaces of user processes
        // and their pager. The memory kernel calls on other processes
        // (MapPages, Unmap, ClearSpace, VirCopy, ProcFork, SetPager,
        // PageFix, Kill) need the full call mask. Restarted under the same
        // endpoint (the pager endpoint the kernel keeps), with its table
        // in the preserved window (KEEP_MEMORY).
        label: "vm",
        program: "vm",
        policy: Policy::Restart,
        period: FS_PING_PERIOD,
        process_mgmt: true,
        hardware: false,
        ipc: Ipc::Any,
        endpoint: None,
        no_backoff: true,
        boot: true,
    },
    ServiceSpec {
        // The process manager (`servers/pm`): pids, fork/exec/exit/wait,
        // signals of user processes (their kernel signal manager). Started
        // after VM and VFS, which it asks with asynchronous requests; the
        // process kernel calls (Stop, GetRegs, SetRegs, VirCopy, SetEntry,
        // Kill, Release, SetSigMgr, Shutdown...) need the full call mask.
        // Its process table lives in the preserved heap (KEEP_MEMORY), so
        // a restarted PM takes it back (see servers/pm/README.md).
        label: "pm",
        program: "pm",
        policy: Policy::Restart,
        period: FS_PING_PERIOD,
        process_mgmt: true,
        hardware: false,
        ipc: Ipc::Any,
        endpoint: None,
        no_backoff: true,
        boot: true,
    },
    ServiceSpec {
        label: "counter",
        program: "counter",
        policy: Policy::Stateful,
        period: HZ,
        process_mgmt: false,
        hardware: false,
        ipc: Ipc::Only(&[]),
        endpoint: None,
        no_backoff: false,
        boot: false,
    },
];
