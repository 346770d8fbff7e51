//! The kernel/user ABI: the single place where raw system-call numbers, error
//! codes, exit codes and the user address-space layout are defined.
//!
//! Shared by the kernel (`kernel/`, which decodes calls with
//! [`Syscall::try_from`]) and the user runtime (`servers/librt`, which encodes
//! them). Decoding is hand-written `TryFrom`, so an unknown number is an error
//! value ([`Errno::NoSys`]) and never a crash.
//!
//! # Calling convention (`syscall`, or `int 0x80`)
//!
//! * `rax` = system-call number, arguments in `rdi`, `rsi`, `rdx`, `r10`,
//!   `r8`, `r9` (as Linux: `r10` because `syscall` overwrites `rcx`).
//! * Enter the kernel with the `syscall` instruction (which itself
//!   overwrites `rcx` and `r11`), or with `int 0x80` (vector
//!   [`SYSCALL_VECTOR`]), which preserves them.
//! * Result in `rax`: a non-negative value on success, or `-(errno)` (see
//!   [`Errno`]) on failure.
//! * All other general-purpose registers are preserved.
//! * A call that blocks (IPC) returns when it completes; its result is then
//!   in `rax` like any other.
//!
//! # Program start
//!
//! A program starts at its ELF entry point in ring 3 with
//! `rdi` = pointer to its argument string (UTF-8, the module command line
//! after the program name, without a trailing NUL) and `rsi` = its length in
//! bytes. The string lives at the top of the user stack; `rsp` is
//! `8 mod 16` as after a `call`, so the entry may be an ordinary
//! `extern "C" fn(*const u8, usize) -> !`.
#![no_std]

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Interrupt vector of the system-call gate (DPL 3).
pub const SYSCALL_VECTOR: u8 = 0x80;

/// Lowest user virtual address. User programs are linked here.
///
/// The kernel identity-maps physical memory in the first GiB (supervisor
/// only); user space is the second GiB, which still lies below 2 GiB as the
/// `x86_64-unknown-none` code model requires for statically linked code.
pub const USER_BASE: u64 = 0x4000_0000;
/// One past the highest user virtual address.
pub const USER_END: u64 = 0x8000_0000;
/// Top of the initial user stack (exclusive). One unmapped guard page sits
/// above it, before [`USER_END`].
pub const USER_STACK_TOP: u64 = USER_END - 0x1000;
/// Size of the initial user stack.
pub const USER_STACK_SIZE: u64 = 64 * 1024;
/// Lowest address of the user stack. Program segments must end below
/// `USER_STACK_BOTTOM - 0x1000` (a guard page).
pub const USER_STACK_BOTTOM: u64 = USER_STACK_TOP - USER_STACK_SIZE;
/// Longest argument string the kernel hands to a program; longer command
/// lines are refused at load time.
pub const MAX_ARGS_LEN: usize = 1024;
/// Start of the heap-growth window: the user runtime's allocator maps pages
/// here (`MapPages` on itself) once its static arena is used up. Program
/// images must end below it; other fixed windows (e.g. memory preserved
/// across restarts) must not overlap `HEAP_BASE..HEAP_END`.
pub const HEAP_BASE: u64 = 0x4800_0000;
/// One past the end of the heap-growth window (384 MiB).
pub const HEAP_END: u64 = 0x6000_0000;
/// The user runtime's fixed windows above the heap (none may overlap):
/// DMA memory (`rt::dma`) at `0x6800_0000..0x7000_0000`, and a mapped
/// data module (`rt::module`, the RAM disk) at
/// `DATA_MODULE_BASE..DATA_MODULE_END` (112 MiB).
pub const DATA_MODULE_BASE: u64 = 0x7800_0000;
/// One past the end of the data-module window.
pub const DATA_MODULE_END: u64 = 0x7f00_0000;

/// `Spawn` flag (`r8`): create the process stopped, for a later `Update`.
pub const SPAWN_STOPPED: u64 = 1;

/// Start of the preserved window (128 MiB: room for a 64 MiB block cache
/// plus its metadata): memory a service keeps across a restart. A process
/// maps pages here with [`Syscall::MapPages`] on itself, which needs no
/// call-mask bit inside this window; when its signal manager restarts it
/// with [`Syscall::Update`] and [`UPDATE_KEEP_WINDOW`], the pages mapped
/// here in the dead instance are moved (remapped, not copied) into the new
/// instance at the same addresses. Disjoint from the heap, DMA and
/// data-module windows.
pub const PRESERVE_BASE: u64 = 0x7000_0000;
/// One past the end of the preserved window.
pub const PRESERVE_END: u64 = 0x7800_0000;
/// [`Syscall::Update`] flag (`rdx`): move the dead instance's pages in
/// `PRESERVE_BASE..PRESERVE_END` into the new instance (which must have
/// nothing mapped there, else [`Errno::Inval`]) instead of freeing them.
pub const UPDATE_KEEP_WINDOW: u64 = 1;
/// Longest buffer accepted by [`Syscall::DebugPrint`] in one call.
pub const MAX_DEBUG_PRINT: usize = 4096;

/// System calls. The discriminant is the number passed in `rax`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Syscall {
    /// Print `rsi` bytes at `rdi` (UTF-8 text, one or more lines) on the
    /// kernel console, each line prefixed with `[name] `. Returns the number
    /// of bytes printed.
    DebugPrint = 1,
    /// Terminate the calling process with exit code `rdi` (as `i32`).
    /// Does not return. A process with a signal manager is kept for it
    /// (like a faulted one: `Update`, `Release`) and the manager is
    /// notified from [`SYSTEM_ENDPOINT`], with [`SIG_EXIT`] pending.
    Exit = 2,
    /// Send the 64-byte message at `rsi` to endpoint `rdi`; blocks until
    /// the receiver takes it. Returns 0.
    Send = 3,
    /// Receive into the 64-byte buffer at `rsi` from endpoint `rdi` (or
    /// [`ENDPOINT_ANY`]); blocks until a message or notification arrives.
    /// Returns 0.
    Receive = 4,
    /// Send the message at `rsi` to `rdi`, then receive the reply from it
    /// into the same buffer. Returns 0.
    SendRec = 5,
    /// Notify endpoint `rdi` (never blocks; coalesced). Returns 0.
    Notify = 6,
    /// Send without blocking: fails with [`Errno::NotReady`] unless the
    /// receiver is waiting. Returns 0.
    SendNb = 7,
    /// Endpoint of the live process named by the `rsi` bytes at `rdi`
    /// (the caller's own endpoint for an empty name). Names are current
    /// names ([`Syscall::SetName`] renames); of several processes with the
    /// name, a system process (not a plain user) wins, then the lowest
    /// slot, so a user program named like a service never hides it.
    WhoIs = 8,
    /// Create a grant: `rdi` = [`GRANT_DIRECT`] or [`GRANT_INDIRECT`],
    /// `rsi` = grantee endpoint (or [`ENDPOINT_ANY`]), `rdx` = access bits
    /// ([`GRANT_READ`] | [`GRANT_WRITE`]), `r10` = address (direct) or
    /// offset inside the passed-on grant (indirect), `r8` = length, `r9` =
    /// `from_endpoint << 32 | from_grant_id` (indirect only). Returns the
    /// grant id. At most [`MAX_GRANTS`] live grants per process
    /// ([`MAX_USER_GRANTS`] for plain users), then [`Errno::NoMem`].
    GrantCreate = 9,
    /// Revoke grant `rdi` of the caller.
    GrantRevoke = 10,
    /// Copy `r8` bytes from grant `rsi` of endpoint `rdi`, starting `rdx`
    /// bytes into the grant, to the caller's address `r10`.
    SafeCopyFrom = 11,
    /// Copy `r8` bytes from the caller's address `r10` into grant `rsi` of
    /// endpoint `rdi`, starting `rdx` bytes into the grant.
    SafeCopyTo = 12,
    /// Arm (or with 0, cancel) the caller's alarm `rdi` clock ticks from
    /// now; when it expires the caller gets a notification from
    /// [`CLOCK_ENDPOINT`]. Returns 0.
    SetAlarm = 13,
    /// Clock ticks since boot ([`CLOCK_HZ`] per second).
    Uptime = 14,
    /// Hook IRQ line `rdi` (0-15): each interrupt on it becomes a
    /// notification from [`SYSTEM_ENDPOINT`]. `rsi` = flags: 0, or
    /// [`IRQ_HOOK_MASK_ON_FIRE`] for a level-triggered line (not the
    /// clock); other bits are [`Errno::Inval`]. Returns 0.
    IrqHook = 15,
    /// Set the privileges of endpoint `rdi`: `rsi` = bit set of slots it
    /// may send to / notify, `rdx` = bit set of kernel calls it may make
    /// (bit `n` = call number `n`; see [`Syscall::is_kernel_call`]),
    /// `r10` = flags: 0, or [`PRIV_USER_SERVERS`] (also the live `pm`,
    /// `vfs` and `vm`, wherever they run); other bits are
    /// [`Errno::Inval`].
    SetPriv = 16,
    /// Start a new process from the boot module named by the `rsi` bytes at
    /// `rdi`, with the `r10` bytes at `rdx` as its argument string. Returns
    /// its endpoint. With [`SPAWN_STOPPED`] in `r8` the process is created
    /// but not scheduled: it first runs when [`Syscall::Update`] moves it
    /// into an old endpoint, so it cannot block in IPC before the takeover.
    Spawn = 17,
    /// Make endpoint `rsi` the signal manager of endpoint `rdi`: when `rdi`
    /// faults it is stopped and kept (not freed), and `rsi` gets a
    /// notification from [`SYSTEM_ENDPOINT`].
    SetSigMgr = 18,
    /// Let the live process `rsi` take over endpoint `rdi`, whose process
    /// died and was kept for its manager (MINIX `update`): afterwards `rdi`
    /// names the new instance and `rsi` is gone. `rdx` = flags: 0, or
    /// [`UPDATE_KEEP_WINDOW`] to move the dead instance's preserved window
    /// into the new one; other bits are [`Errno::Inval`].
    Update = 19,
    /// Power off: ends the run now with `rdi` as the verdict (0 = pass, so
    /// QEMU exits with status 33 unless the run was already marked failed;
    /// anything else = fail, status 35). For in-guest test drivers.
    Shutdown = 20,
    /// Set the scheduling priority of endpoint `rdi` to `rsi` (0 = highest,
    /// up to 15) and its quantum to `rdx` clock ticks.
    SetPriority = 21,
    /// Allow endpoint `rdi` port I/O on ports `rsi .. rsi + rdx` (adds a
    /// range; at most [`MAX_IO_RANGES`] per process).
    SetIoPriv = 22,
    /// Port I/O on port `rdi`: `rdx` = flags ([`DEVIO_WRITE`], width
    /// [`DEVIO_BYTE`] / [`DEVIO_WORD`] / [`DEVIO_LONG`]), `rsi` = value to
    /// write. Returns the value read (0 for a write). Only on ports the
    /// caller was given with [`Syscall::SetIoPriv`].
    DevIo = 23,
    /// String port I/O (MINIX `SYS_SDEVIO`): `r10` bytes between port
    /// `rdi` and the caller's buffer at `rsi`, one access of the width in
    /// `rdx` (flags as for [`Syscall::DevIo`]) per `width` bytes, so a
    /// driver moves a data block in one kernel call instead of one per
    /// word. `r10` must be a nonzero multiple of the width, at most
    /// [`DEVIO_REP_MAX`] ([`Errno::Inval`]); the port rule is DevIo's
    /// ([`Errno::Perm`]). The whole buffer is checked before the port is
    /// touched ([`Errno::Fault`]: no device data consumed, nothing
    /// written). Returns 0.
    DevIoRep = 30,
    /// Stop process `rdi` as if it had faulted: it is reported (and kept
    /// for its signal manager, if it has one) and its peers are woken with
    /// [`Errno::DeadSrcDst`].
    Kill = 24,
    /// Asynchronous send of the message at `rsi` to `rdi`: never blocks;
    /// delivered at once if the receiver waits, else queued for its next
    /// receive (at most [`MAX_ASYNC_QUEUE`] per receiver, then
    /// [`Errno::NotReady`]). If the receiver dies first, the sender gets a
    /// [`DEAD_PEER_MTYPE`] bounce. `rdx` = flags: 0, or [`SENDA_REQUEST`]:
    /// the message is a request that owes an answer, so the bounce also
    /// comes if the receiver dies after receiving it but before delivering
    /// any non-notify message back to the sender. Other bits are
    /// [`Errno::Inval`]. Returns 0.
    SendA = 25,
    /// Map `rdx` fresh zero-filled pages at page-aligned user address `rsi`
    /// in the address space of endpoint `rdi` (writable when `r10` is
    /// nonzero). Pages already mapped are kept (asked to be writable, an
    /// owned page is treated as by [`Syscall::Protect`]). For the VM
    /// server (heap growth, stacks); the range must lie in user space
    /// below [`USER_STACK_TOP`]. [`Errno::NoMem`] when the frames run
    /// out (the pages mapped before stay mapped). Returns 0.
    MapPages = 26,
    /// Undo [`Syscall::IrqHook`] for line `rdi`; a line nobody hooks is
    /// masked again (except the clock). Returns 0.
    IrqUnhook = 27,
    /// Write the boot module list (one `name args` line each, in boot
    /// order) into the `rsi`-byte buffer at `rdi`. Returns the full length
    /// (the text is cut off if the buffer is shorter).
    BootModules = 28,
    /// Process times of endpoint `rdi` (`ENDPOINT_SELF` for the caller):
    /// writes [`TIMES_WORDS`] little-endian `u64`s into the 32-byte buffer
    /// at `rsi`: user ticks, system ticks, system TSC cycles, uptime.
    /// User ticks are clock ticks that found the process running in ring 3;
    /// system time is the TSC time the kernel spent on its traps, in ticks
    /// of the measured TSC rate. Returns 0.
    Times = 32,
    /// Write the boot memory map into the `rsi`-byte buffer at `rdi` as
    /// records of [`MEMMAP_RECORD`] bytes (`start`, `end`, `kind`:
    /// little-endian `u64`s; kinds [`MEM_AVAILABLE`], [`MEM_RESERVED`],
    /// [`MEM_MODULE`], [`MEM_KERNEL`]). Returns the full length in bytes
    /// (the list is cut at a whole record if the buffer is shorter).
    MemMap = 33,
    /// Replace the IRQ lines endpoint `rdi` may hook: bit `n` of `rsi` =
    /// line `n` (0-15). `IrqHook` of any other line fails with
    /// [`Errno::Perm`]. Returns 0.
    SetIrqPriv = 34,
    /// Add physical memory `rsi .. rsi + rdx` (page-aligned) to the ranges
    /// endpoint `rdi` may have mapped with [`Syscall::MapPhys`]; `rdx` = 0
    /// clears its ranges. At most [`MAX_MEM_RANGES`]. Memory the kernel
    /// manages (RAM above 1 MiB, the kernel image, boot modules) is refused
    /// with [`Errno::Perm`]. Returns 0.
    SetMemPriv = 35,
    /// Map `r10` pages of physical memory from page-aligned `rdx` at
    /// page-aligned user address `rsi` of endpoint `rdi` (writable when
    /// `r8` is nonzero). The physical range must lie inside the target's
    /// memory ranges ([`Syscall::SetMemPriv`]; [`Errno::Perm`] otherwise)
    /// and the user range must be unmapped. The frames are not owned by the
    /// process (never freed or copied with it). Returns 0.
    MapPhys = 36,
    /// Unmap `rdx` pages at page-aligned user address `rsi` of endpoint
    /// `rdi`; owned frames are freed, unmapped pages skipped. Returns the
    /// number of pages unmapped.
    Unmap = 37,
    /// Tear down the whole user address space of endpoint `rdi` (VM, before
    /// an exec): every user page is unmapped and its owned frames freed.
    /// Returns the number of pages unmapped.
    ClearSpace = 38,
    /// Replace the user address space of endpoint `rsi` with a copy of
    /// `rdi`'s (VM, for fork): owned pages are copied into fresh frames,
    /// physical mappings shared. `rdi` and `rsi` must differ. Returns 0.
    CloneSpace = 39,
    /// Fork the caller: a new process slot with a copy of its address
    /// space (as [`Syscall::CloneSpace`]) and registers, the same name,
    /// privileges and signal manager, runnable. Returns the child's
    /// endpoint to the parent and 0 to the child.
    Fork = 40,
    /// Start endpoint `rdi` afresh (PM/VM, after loading a new image):
    /// `rip` = `rsi`, `rsp` = `rdx`, `rdi` = `r10`, `rsi` = `r8`, all other
    /// registers zero, and make it runnable (this also starts a process
    /// spawned with [`SPAWN_STOPPED`]). An IPC call the target is blocked
    /// in (an exec request to PM) is abandoned. Not for the caller
    /// ([`Errno::Inval`]). Returns 0.
    SetEntry = 41,
    /// Copy `r9` bytes from address `rsi` of endpoint `rdi` to address
    /// `r10` of endpoint `rdx` (either may be [`ENDPOINT_SELF`]), like
    /// MINIX `sys_vircopy`: no grant needed, so only for VM/PM. At most
    /// [`MAX_SAFECOPY`] bytes; both ranges must be mapped (the destination
    /// writable). Returns the byte count.
    VirCopy = 42,
    /// The endpoint that now holds the slot of endpoint `rdi` (which may be
    /// stale, e.g. after a [`Errno::DeadSrcDst`]); [`Errno::DeadSrcDst`] if
    /// the slot is empty or its process is dead. Open to every process,
    /// like [`Syscall::WhoIs`].
    SlotOwner = 43,
    /// Free endpoint `rdi`, a process that was stopped (fault or `Kill`)
    /// and kept for its signal manager, when the manager decides not to
    /// replace it (PM after reporting a user process's death): its memory
    /// is freed and its slot emptied. [`Errno::Inval`] for a live process.
    /// Returns 0.
    Release = 44,
    /// Raise signal `rsi` (1-63) for live endpoint `rdi`: it becomes
    /// pending and the process's signal manager gets a notification from
    /// [`SYSTEM_ENDPOINT`] (MINIX `sys_kill`). [`Errno::Inval`] if the
    /// process has no signal manager. Returns 0.
    SigSend = 45,
    /// For a signal manager: take the pending signals of one process it
    /// manages (live, or stopped and kept). Writes two little-endian `u64`s
    /// into the 16-byte buffer at `rdi`: endpoint, signal bit set (bit `n`
    /// = signal `n`), and returns 1; returns 0 when nothing is pending.
    /// A fault or `Kill` of a managed process is pending as a signal:
    /// [`SIGSEGV`], [`SIGFPE`], [`SIGILL`], [`SIGBUS`], [`SIGTRAP`] or
    /// [`SIGKILL`] (MINIX `sys_getksig`); an `Exit` as bit [`SIG_EXIT`]
    /// (0), the code from [`Syscall::ProcInfo`].
    SigPending = 46,
    /// Inspect endpoint `rdi` (live, or stopped and kept for its signal
    /// manager): writes [`PROCINFO_WORDS`] little-endian `u64`s into the
    /// buffer at `rsi`: state ([`PROC_RUNNABLE`], [`PROC_BLOCKED`],
    /// [`PROC_STOPPED`], [`PROC_EXITED`]), the signal of a stop (else 0),
    /// `rip`, `rsp`, the faulting address (page faults, else 0), the CPU
    /// error code (for [`PROC_EXITED`]: the exit code as `i64`).
    /// Returns 0.
    ProcInfo = 47,
    /// Disable (`rsi` = 0) or re-enable (`rsi` = 1) IRQ line `rdi`, which
    /// the caller has hooked: a disabled line is masked at the interrupt
    /// controller, so a device interrupt stays pending until the driver has
    /// dealt with the device and enables the line again. The clock (line
    /// 0) cannot be disabled. Returns 0.
    IrqCtl = 48,
    /// Map `rsi` (1 to [`MAX_DMA_PAGES`]) fresh zero-filled, physically
    /// contiguous frames, writable, at the page-aligned user address `rdi`
    /// of the caller (every page there must be unmapped, below the stack
    /// guard). The frames are owned like [`Syscall::MapPages`] pages (freed
    /// with the process or by [`Syscall::Unmap`]). For DMA memory such as
    /// virtqueues. Returns the physical address of the first frame.
    DmaAlloc = 49,
    /// The physical address of the caller's user address `rdi` (MINIX
    /// `sys_umap`), provided the `rsi` bytes from there (1 to 4 MiB) are
    /// mapped (writable too if `rdx` has [`GRANT_WRITE`]: a device will
    /// write them) and physically contiguous ([`Errno::Inval`] otherwise;
    /// [`Errno::Fault`] if unmapped). Callers split buffers at page
    /// boundaries.
    UMap = 50,
    /// The physical address of byte `rdx` of grant `rsi` of endpoint
    /// `rdi` (MINIX `sys_umap` on a grant), for DMA straight into a
    /// client's buffer: `r10` bytes from there (1 to 4 MiB) must be
    /// granted to the caller with the access in `r8` ([`GRANT_READ`]: the
    /// device reads the memory; [`GRANT_WRITE`]: it writes it), mapped,
    /// and physically contiguous. Checked as a safecopy would be (indirect
    /// grants followed). Returns the physical address.
    UMapGrant = 51,
    /// Map the data module named by the `rsi` bytes at `rdi` (a boot
    /// module whose argument string is [`DATA_MODULE_ARG`]: loaded, never
    /// started) writable at the page-aligned, unmapped user address `rdx`
    /// of the caller, by its physical pages, not owned (never freed or
    /// copied; a restarted caller maps the same bytes again). For the
    /// memory driver's RAM disk. Returns the module's size in bytes;
    /// [`Errno::Inval`] for an unknown or non-data module.
    ModuleMap = 60,
    /// Fork endpoint `rdi` copy-on-write (VM, for `fork`): a new process in
    /// a free slot whose user space shares every owned frame of the
    /// parent's (writable pages become read-only copy-on-write pages in
    /// both spaces; physical `MapPhys` mappings are shared as they are),
    /// with the parent's name, IPC and hardware privileges, I/O ranges,
    /// signal manager and pager, and the parent's saved registers
    /// unchanged (for a parent blocked in a `SendRec`: `rax` is the call
    /// number and `rip` follows the `syscall`). The child starts
    /// *stopped* (see [`Syscall::Stop`]); it has no grants and no alarm.
    /// Returns the child's endpoint; [`Errno::Again`] when no slot is
    /// free, [`Errno::NoMem`] when its page tables cannot be allocated
    /// (nothing is changed then).
    ProcFork = 52,
    /// Stop live endpoint `rdi` (not the caller: [`Errno::Inval`]): it is
    /// not scheduled until [`Syscall::Resume`]. An IPC call it is blocked
    /// in stays pending and may still complete (the reply is delivered and
    /// the result stored in its `rax`), but it does not run. Returns the
    /// endpoint it is blocked on in IPC (the destination of a send or
    /// `SendRec`, the source of a receive, [`ENDPOINT_ANY`] for a receive
    /// from anyone) or [`ENDPOINT_NONE`] when it is not in IPC.
    Stop = 53,
    /// Let a process stopped with [`Syscall::Stop`] (or a child of
    /// [`Syscall::ProcFork`]) run again (no effect if it is not stopped).
    /// Returns 0.
    Resume = 54,
    /// Saved registers of live endpoint `rdi` (the caller's own when it
    /// names the caller): [`REGS_WORDS`] little-endian `u64`s into the
    /// buffer at `rsi`, in the order `rax rbx rcx rdx rsi rdi rbp r8 r9
    /// r10 r11 r12 r13 r14 r15 rip rsp rflags`. Returns 0.
    GetRegs = 55,
    /// Replace the registers of endpoint `rdi`, which must be stopped
    /// ([`Errno::Inval`] otherwise, and for the caller), with the
    /// [`REGS_WORDS`] words at `rsi` (layout as [`Syscall::GetRegs`]).
    /// Sanitized: of `rflags` only the arithmetic flags and DF are taken
    /// (IF is set, IOPL 0); the segments are the user ones; `rip` must be
    /// a user address in `USER_BASE..USER_END` and `rsp` in
    /// `USER_BASE..=USER_END` ([`Errno::Inval`] otherwise). An IPC call the
    /// target is blocked in is abandoned (as with [`Syscall::SetEntry`]) and
    /// a page fault held for its pager is dropped. Returns 0.
    SetRegs = 56,
    /// Make live endpoint `rsi` the pager of live endpoint `rdi`
    /// ([`ENDPOINT_NONE`] removes it; a process cannot be its own pager):
    /// page faults of `rdi` in ring 3 are then held for the pager (see
    /// [`Syscall::PageFaults`]) instead of stopping the process. A fault
    /// held when the pager changes is failed ([`PAGEFIX_FAIL`]). Returns 0.
    SetPager = 57,
    /// For a pager: take one page fault held for it that it has not been
    /// given yet. Writes [`PAGEFAULT_WORDS`] little-endian `u64`s into the
    /// buffer at `rdi`: endpoint, fault address, CPU error code, `rip`, and
    /// returns 1; returns 0 when none is waiting. The pager is notified
    /// from [`SYSTEM_ENDPOINT`] when a fault is held for it.
    PageFaults = 58,
    /// For a pager: resolve the page fault held for endpoint `rdi` with
    /// action `rdx`: [`PAGEFIX_RETRY`] resumes it (the faulting
    /// instruction runs again), [`PAGEFIX_COW`] first breaks copy-on-write
    /// at user address `rsi` ([`Errno::Fault`] and the fault stays held if
    /// no writable or copy-on-write page is mapped there,
    /// [`Errno::NoMem`] without a free frame), [`PAGEFIX_FAIL`] stops it as
    /// an ordinary page fault (its signal manager gets `SIGSEGV`).
    /// [`Errno::Perm`] if the caller is not its pager, [`Errno::Inval`]
    /// if no fault is held. Returns 0.
    PageFix = 59,
    /// Memory statistics: [`MEMSTATS_WORDS`] little-endian `u64`s into the
    /// buffer at `rdi`: frames managed by the kernel, free frames, frames
    /// shared by more than one address space, copy-on-write breaks that
    /// copied a frame, breaks that only made the page writable (the last
    /// reference). Open to plain user processes. Returns 0.
    MemStats = 61,
    /// Change the write permission of the `rdx` (1..=[`MAX_MAP_PAGES`])
    /// mapped user pages at page-aligned address `rsi` of live endpoint
    /// `rdi` (in `USER_BASE..USER_STACK_TOP`, else [`Errno::Fault`]):
    /// read-only when `r10` is 0, writable otherwise (VM: `mprotect`,
    /// read-only program text). Read-only pages refuse writes by the
    /// process (a fault, held for its pager) and by kernel copies
    /// ([`Errno::Fault`]); a copy-on-write page made read-only is no longer
    /// copy-on-write but keeps sharing its frame. Made writable, a page
    /// whose frame other spaces still share becomes copy-on-write (the
    /// next write copies it), never writable in place; a page of a frame
    /// this space alone uses becomes writable. A physical (`MapPhys`)
    /// page can be made writable again only if it was mapped writable
    /// ([`Errno::Perm`]). Every page is checked first: one not mapped is
    /// [`Errno::Fault`] and nothing changes. Returns the number of pages
    /// whose mapping changed.
    Protect = 62,
    /// Rename live process `rdi` (not a kernel task): its name becomes the
    /// `rdx` (1..=[`MAX_PROC_NAME`]) bytes at `rsi`, printable ASCII
    /// without spaces (else [`Errno::Inval`]; an unreadable buffer is
    /// [`Errno::Fault`]). The name is the one `[name]` console prefixes,
    /// kernel messages and [`Syscall::WhoIs`] use (PM: the program name
    /// after an exec). A plain user process (`PRIV_USER_SERVERS`) may not
    /// be named `pm`, `vfs`, `vm` or `rs`, nor after a `critical=` process
    /// ([`Errno::Perm`]): those names pick the servers plain users reach and
    /// the processes whose death is fatal. Not open to plain users. Returns 0.
    SetName = 63,
    /// Share the frames of the `r8` (1..=[`MAX_MAP_PAGES`]) mapped user
    /// pages at page-aligned `rsi` of live endpoint `rdi` with live
    /// endpoint `rdx` (another process), mapped read-only at its unmapped
    /// pages at page-aligned `r10` (both ranges in
    /// `USER_BASE..USER_STACK_TOP`, else [`Errno::Fault`]). Each frame gains
    /// a reference, as after a fork: a writable source page becomes
    /// copy-on-write, and neither space writes the frame in place again
    /// (made writable, the destination's page is copy-on-write). VM: the
    /// read-only text of a program stays in frames it keeps and shares
    /// with every process that execs the same bytes. Every page is
    /// checked first: a source page not mapped or physical (`MapPhys`), or
    /// a destination page mapped, is [`Errno::Fault`] and nothing changes;
    /// the same endpoint twice is [`Errno::Inval`]; [`Errno::NoMem`] when
    /// frames for page tables run out (pages shared before stay shared).
    /// Returns the number of pages shared. (Numbered in the gap below
    /// `Times`: call masks have 64 bits.)
    SharePages = 29,
    /// The wall-clock time at boot: Unix seconds (UTC) the kernel read from
    /// the CMOS real-time clock when it started, 0 if the clock was
    /// unreadable. Not a kernel call (call masks have 64 bits): every
    /// process may make it, plain users included. The time now is this
    /// plus [`Syscall::Uptime`] / [`CLOCK_HZ`].
    BootTime = 64,
}

/// Longest process name [`Syscall::SetName`] accepts, in bytes.
pub const MAX_PROC_NAME: usize = 15;

/// [`Syscall::PageFix`] action: resume the process (the pager mapped the
/// page).
pub const PAGEFIX_RETRY: u64 = 0;
/// [`Syscall::PageFix`] action: break copy-on-write at the given address,
/// then resume.
pub const PAGEFIX_COW: u64 = 1;
/// [`Syscall::PageFix`] action: stop the process as an ordinary page fault.
pub const PAGEFIX_FAIL: u64 = 2;
/// Words of [`Syscall::GetRegs`] / [`Syscall::SetRegs`].
pub const REGS_WORDS: usize = 18;
/// Index of `rax` in the [`Syscall::GetRegs`] words.
pub const REG_RAX: usize = 0;
/// Index of `rdx` in the [`Syscall::GetRegs`] words.
pub const REG_RDX: usize = 3;
/// Index of `rsi` in the [`Syscall::GetRegs`] words.
pub const REG_RSI: usize = 4;
/// Index of `rdi` in the [`Syscall::GetRegs`] words.
pub const REG_RDI: usize = 5;
/// Index of `rip` in the [`Syscall::GetRegs`] words.
pub const REG_RIP: usize = 15;
/// Index of `rsp` in the [`Syscall::GetRegs`] words.
pub const REG_RSP: usize = 16;
/// Index of `rflags` in the [`Syscall::GetRegs`] words.
pub const REG_RFLAGS: usize = 17;
/// Words of one [`Syscall::PageFaults`] record.
pub const PAGEFAULT_WORDS: usize = 4;
/// Words of [`Syscall::MemStats`].
pub const MEMSTATS_WORDS: usize = 5;
/// [`Syscall::SetPriv`] flag (`r10`): the process may also send to the
/// live processes named `pm`, `vfs`, `vm` and `rs`, wherever and whenever they
/// run (the plain-user rule; the kernel follows those names as services
/// start, die and are replaced).
pub const PRIV_USER_SERVERS: u64 = 1;

/// Kernel calls a plain user process may make (bit `n` = call number
/// `n`): `GrantCreate`, `GrantRevoke`, `Uptime`, `Times` and `MemStats`.
pub const USER_CALLS: u64 = (1 << Syscall::GrantCreate as u64)
    | (1 << Syscall::GrantRevoke as u64)
    | (1 << Syscall::Uptime as u64)
    | (1 << Syscall::Times as u64)
    | (1 << Syscall::MemStats as u64);

/// Start of the anonymous `mmap` area of a user program (VM).
pub const MMAP_BASE: u64 = 0x6000_0000;
/// One past the end of the anonymous `mmap` area.
pub const MMAP_END: u64 = 0x6800_0000;
/// Stack size of a program started by exec (mapped eagerly by VM under
/// [`USER_STACK_TOP`]).
pub const EXEC_STACK_SIZE: u64 = 256 * 1024;

/// Argument string of a boot module that is data (e.g. a RAM-disk image),
/// not a program: the kernel lists it but does not start it.
pub const DATA_MODULE_ARG: &str = "data";

/// Words written by [`Syscall::ProcInfo`].
pub const PROCINFO_WORDS: usize = 6;
/// [`Syscall::ProcInfo`] state: ready to run (or running).
pub const PROC_RUNNABLE: u64 = 0;
/// [`Syscall::ProcInfo`] state: blocked in IPC.
pub const PROC_BLOCKED: u64 = 1;
/// [`Syscall::ProcInfo`] state: stopped by a fault or `Kill`, kept.
pub const PROC_STOPPED: u64 = 3;
/// [`Syscall::ProcInfo`] state: called `Exit` and kept for its signal
/// manager; the exit code (as `i64`) is in the last word (error code).
pub const PROC_EXITED: u64 = 4;
/// Pending-signal bit 0 (no real signal has number 0): the managed process
/// called `Exit`. It is kept for its manager like a faulted process and the
/// manager is notified from SYSTEM; [`Syscall::ProcInfo`] gives the code.
pub const SIG_EXIT: u64 = 0;

/// Signal numbers the kernel raises (POSIX / MINIX values).
pub const SIGILL: u64 = 4;
/// Breakpoint / debug traps.
pub const SIGTRAP: u64 = 5;
/// Other CPU exceptions (alignment, segment, machine check...).
pub const SIGBUS: u64 = 7;
/// Arithmetic faults (divide error, x87 / SIMD floating point, overflow).
pub const SIGFPE: u64 = 8;
/// Stopped by `Kill`.
pub const SIGKILL: u64 = 9;
/// Page faults and general protection faults.
pub const SIGSEGV: u64 = 11;

/// `Times` target meaning "the caller".
pub const ENDPOINT_SELF: u32 = 0xFFFF_FFFE;
/// Number of `u64` words [`Syscall::Times`] writes.
pub const TIMES_WORDS: usize = 4;
/// Bytes per [`Syscall::MemMap`] record.
pub const MEMMAP_RECORD: usize = 24;
/// [`Syscall::MemMap`] kind: usable RAM (as the boot loader reported it).
pub const MEM_AVAILABLE: u64 = 1;
/// [`Syscall::MemMap`] kind: memory the firmware reserved.
pub const MEM_RESERVED: u64 = 2;
/// [`Syscall::MemMap`] kind: a boot module's image.
pub const MEM_MODULE: u64 = 3;
/// [`Syscall::MemMap`] kind: the kernel image.
pub const MEM_KERNEL: u64 = 4;
/// Most physical memory ranges per process ([`Syscall::SetMemPriv`]).
pub const MAX_MEM_RANGES: usize = 8;

/// Most frames one [`Syscall::DmaAlloc`] call maps.
pub const MAX_DMA_PAGES: u64 = 256;
/// [`Syscall::IrqHook`] flag (`rsi`) for level-triggered (PCI) lines: the
/// kernel masks the line when it fires, before notifying, and leaves it
/// masked until the driver has cleared the device's interrupt status and
/// enables it again with [`Syscall::IrqCtl`] (MINIX: a hook without
/// `IRQ_REENABLE`). The line is also switched to level mode in the PIC's
/// edge/level control register. Without the flag (0) a hook keeps the
/// old behaviour: acknowledged at the PIC and left enabled.
pub const IRQ_HOOK_MASK_ON_FIRE: u64 = 1;

/// Most pages one [`Syscall::MapPages`] call maps.
pub const MAX_MAP_PAGES: u64 = 1024;

/// Most I/O port ranges per process.
pub const MAX_IO_RANGES: usize = 8;
/// [`Syscall::DevIo`] flag: write instead of read.
pub const DEVIO_WRITE: u64 = 1;
/// [`Syscall::DevIo`] width: 8 bits.
pub const DEVIO_BYTE: u64 = 0;
/// [`Syscall::DevIo`] width: 16 bits.
pub const DEVIO_WORD: u64 = 2;
/// [`Syscall::DevIo`] width: 32 bits.
pub const DEVIO_LONG: u64 = 4;
/// Most bytes one [`Syscall::DevIoRep`] call moves.
pub const DEVIO_REP_MAX: u64 = 4096;

impl Syscall {
    /// Kernel calls are checked against the caller's call mask; the others
    /// (debug print, exit, IPC, name lookup) are open to every process,
    /// IPC being checked against its send mask instead.
    pub const fn is_kernel_call(self) -> bool {
        (self as u64) >= Syscall::GrantCreate as u64
            && !matches!(
                self,
                Syscall::SendA | Syscall::SlotOwner | Syscall::BootTime
            )
    }
}

/// Endpoint of the kernel's SYSTEM task (slot 0, generation 0): source of
/// IRQ notifications. Same value as `sys::Endpoint::SYSTEM`.
pub const SYSTEM_ENDPOINT: u32 = 0;
/// Endpoint of the kernel's CLOCK task (slot 1): source of alarm
/// notifications. Same value as `sys::Endpoint::CLOCK`.
pub const CLOCK_ENDPOINT: u32 = 1;
/// Clock ticks per second.
pub const CLOCK_HZ: u64 = 100;

/// [`Syscall::GrantCreate`] kind: a range of the caller's own memory.
pub const GRANT_DIRECT: u64 = 0;
/// [`Syscall::GrantCreate`] kind: passes on part of a grant the caller holds.
pub const GRANT_INDIRECT: u64 = 1;
/// Grant access bit: the grantee may copy from the range.
pub const GRANT_READ: u64 = 1;
/// Grant access bit: the grantee may copy into the range.
pub const GRANT_WRITE: u64 = 2;
/// Most live grants per process ([`Syscall::GrantCreate`] fails with
/// [`Errno::NoMem`] beyond; revoked ids are reused).
pub const MAX_GRANTS: usize = 1024;
/// Most live grants of a plain user process.
pub const MAX_USER_GRANTS: usize = 64;
/// Longest single safecopy.
pub const MAX_SAFECOPY: u64 = 64 * 1024;

/// The "any sender" endpoint for [`Syscall::Receive`].
pub const ENDPOINT_ANY: u32 = 0xFFFF_FFFF;

impl TryFrom<u64> for Syscall {
    type Error = Errno;

    fn try_from(value: u64) -> Result<Self, Errno> {
        match value {
            1 => Ok(Self::DebugPrint),
            2 => Ok(Self::Exit),
            3 => Ok(Self::Send),
            4 => Ok(Self::Receive),
            5 => Ok(Self::SendRec),
            6 => Ok(Self::Notify),
            7 => Ok(Self::SendNb),
            8 => Ok(Self::WhoIs),
            9 => Ok(Self::GrantCreate),
            10 => Ok(Self::GrantRevoke),
            11 => Ok(Self::SafeCopyFrom),
            12 => Ok(Self::SafeCopyTo),
            13 => Ok(Self::SetAlarm),
            14 => Ok(Self::Uptime),
            15 => Ok(Self::IrqHook),
            16 => Ok(Self::SetPriv),
            17 => Ok(Self::Spawn),
            18 => Ok(Self::SetSigMgr),
            19 => Ok(Self::Update),
            20 => Ok(Self::Shutdown),
            21 => Ok(Self::SetPriority),
            22 => Ok(Self::SetIoPriv),
            23 => Ok(Self::DevIo),
            30 => Ok(Self::DevIoRep),
            24 => Ok(Self::Kill),
            25 => Ok(Self::SendA),
            26 => Ok(Self::MapPages),
            27 => Ok(Self::IrqUnhook),
            28 => Ok(Self::BootModules),
            32 => Ok(Self::Times),
            33 => Ok(Self::MemMap),
            34 => Ok(Self::SetIrqPriv),
            35 => Ok(Self::SetMemPriv),
            36 => Ok(Self::MapPhys),
            37 => Ok(Self::Unmap),
            38 => Ok(Self::ClearSpace),
            39 => Ok(Self::CloneSpace),
            40 => Ok(Self::Fork),
            41 => Ok(Self::SetEntry),
            42 => Ok(Self::VirCopy),
            43 => Ok(Self::SlotOwner),
            44 => Ok(Self::Release),
            45 => Ok(Self::SigSend),
            46 => Ok(Self::SigPending),
            47 => Ok(Self::ProcInfo),
            48 => Ok(Self::IrqCtl),
            49 => Ok(Self::DmaAlloc),
            50 => Ok(Self::UMap),
            51 => Ok(Self::UMapGrant),
            52 => Ok(Self::ProcFork),
            53 => Ok(Self::Stop),
            54 => Ok(Self::Resume),
            55 => Ok(Self::GetRegs),
            56 => Ok(Self::SetRegs),
            57 => Ok(Self::SetPager),
            58 => Ok(Self::PageFaults),
            59 => Ok(Self::PageFix),
            60 => Ok(Self::ModuleMap),
            61 => Ok(Self::MemStats),
            62 => Ok(Self::Protect),
            63 => Ok(Self::SetName),
            29 => Ok(Self::SharePages),
            64 => Ok(Self::BootTime),
            _ => Err(Errno::NoSys),
        }
    }
}

/// Errors returned by system calls, as `-(code)` in `rax`. The numbers are
/// the MINIX-style codes used by `servers/libsys` (`sys::errno`), so user
/// space decodes kernel errors with the same table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i64)]
pub enum Errno {
    /// Operation not permitted by the caller's privileges.
    Perm = 1,
    /// Out of memory (no free frame for page tables or a copy).
    NoMem = 12,
    /// A pointer argument does not lie in memory mapped for the caller.
    Fault = 14,
    /// An argument is out of range (e.g. a buffer longer than allowed).
    Inval = 22,
    /// Try again later (no free process slot).
    Again = 35,
    /// Unknown system-call number.
    NoSys = 78,
    /// Non-blocking send: the destination is not waiting.
    NotReady = 201,
    /// The peer is dead or the endpoint is stale.
    DeadSrcDst = 202,
    /// The call would deadlock (a send cycle).
    Locked = 208,
    /// The endpoint names no process slot at all.
    BadEndpoint = 216,
}

impl Errno {
    const ALL: [Errno; 10] = [
        Errno::Perm,
        Errno::NoMem,
        Errno::Fault,
        Errno::Inval,
        Errno::Again,
        Errno::NoSys,
        Errno::NotReady,
        Errno::DeadSrcDst,
        Errno::Locked,
        Errno::BadEndpoint,
    ];

    /// The value placed in `rax`.
    pub const fn to_return(self) -> u64 {
        (-(self as i64)) as u64
    }

    /// Decodes a system-call return value: `Ok(value)` for non-negative
    /// results, `Err` for a known error code, `Err(Inval)` for an unknown
    /// negative value.
    pub fn from_return(ret: u64) -> Result<u64, Errno> {
        let v = ret as i64;
        if v >= 0 {
            return Ok(ret);
        }
        Err(Self::ALL
            .into_iter()
            .find(|e| -(*e as i64) == v)
            .unwrap_or(Errno::Inval))
    }
}

/// Size of an IPC message in bytes (`sys::Message`).
pub const MESSAGE_SIZE: usize = 64;
/// Byte offset of the source endpoint (`u32` LE), stamped by the kernel.
pub const MSG_SOURCE_OFFSET: usize = 0;
/// Byte offset of the message type (`u32` LE).
pub const MSG_TYPE_OFFSET: usize = 4;
/// Byte offset of the 56-byte payload.
pub const MSG_PAYLOAD_OFFSET: usize = 8;
/// Message type of a dead-peer bounce (`sys::proto::kernel::DeadPeer`):
/// an asynchronous message ([`Syscall::SendA`]) whose destination died
/// before receiving it comes back from [`SYSTEM_ENDPOINT`] with a
/// [`DeadPeerPayload`].
pub const DEAD_PEER_MTYPE: u32 = 0x101;
/// Payload bytes of the lost message carried in a bounce.
pub const BOUNCE_HEAD: usize = 44;

/// The payload of a [`DEAD_PEER_MTYPE`] bounce (little-endian).
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct DeadPeerPayload {
    /// The endpoint the lost message was sent to.
    pub dead: U32,
    /// The endpoint now in its slot, or [`ENDPOINT_NONE`].
    pub new: U32,
    /// The type of the lost message.
    pub mtype: U32,
    /// Its first [`BOUNCE_HEAD`] payload bytes.
    pub head: [u8; BOUNCE_HEAD],
}

const _: () = assert!(size_of::<DeadPeerPayload>() == MESSAGE_SIZE - MSG_PAYLOAD_OFFSET);
/// "No process" (`sys::Endpoint::NONE`).
pub const ENDPOINT_NONE: u32 = 0xFFFF_FFFE;
/// Most asynchronous messages queued for one receiver.
pub const MAX_ASYNC_QUEUE: usize = 32;
/// [`Syscall::SendA`] flag (`rdx`): the message is a request; the receiver
/// owes the sender one answer from the moment it receives it. The first
/// non-notify message it delivers to the sender afterwards (`Send`,
/// `SendNb`, `SendRec` or `SendA`) answers the oldest such request; if it
/// dies (fault, `Kill`, `Exit`) first, the sender gets the
/// [`DEAD_PEER_MTYPE`] bounce it would have got before delivery.
pub const SENDA_REQUEST: u64 = 1;
/// Most answers one process may owe at once (requests received and not
/// answered, plus requests queued for it). A [`SENDA_REQUEST`] beyond that
/// fails with [`Errno::NotReady`] at the sender, like a full queue.
pub const MAX_OWED_REPLIES: usize = 32;

/// Message type of a notification (`sys::proto::kernel::Notify`), with a
/// [`NotifyPayload`].
pub const NOTIFY_MTYPE: u32 = 0x100;

/// The payload of a [`NOTIFY_MTYPE`] notification (little-endian).
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct NotifyPayload {
    /// Clock ticks when it was delivered.
    pub time: U64,
    /// Bitmap of the slots with a notification pending for the receiver.
    pub pending: U64,
}

/// Exit code of a program that returned normally.
pub const EXIT_SUCCESS: i32 = 0;
/// Exit code used by the user runtime when a program panics.
pub const EXIT_PANIC: i32 = 101;

/// Values the kernel writes to the QEMU `isa-debug-exit` device (port
/// [`QEMU_EXIT_PORT`]); QEMU exits with status `(value << 1) | 1`.
pub const QEMU_EXIT_PORT: u16 = 0xf4;
/// Written when every process has finished and nothing marked the run failed.
pub const QEMU_EXIT_PASS: u32 = 0x10;
/// Written after a kernel panic or when the run was marked failed.
pub const QEMU_EXIT_FAIL: u32 = 0x11;
/// QEMU's process exit status for [`QEMU_EXIT_PASS`].
pub const QEMU_STATUS_PASS: i32 = ((QEMU_EXIT_PASS << 1) | 1) as i32;
/// QEMU's process exit status for [`QEMU_EXIT_FAIL`].
pub const QEMU_STATUS_FAIL: i32 = ((QEMU_EXIT_FAIL << 1) | 1) as i32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_numbers_round_trip() {
        for call in [
            Syscall::DebugPrint,
            Syscall::Exit,
            Syscall::Send,
            Syscall::Receive,
            Syscall::SendRec,
            Syscall::Notify,
            Syscall::SendNb,
            Syscall::WhoIs,
            Syscall::GrantCreate,
            Syscall::GrantRevoke,
            Syscall::SafeCopyFrom,
            Syscall::SafeCopyTo,
            Syscall::SetAlarm,
            Syscall::Uptime,
            Syscall::IrqHook,
            Syscall::SetPriv,
            Syscall::Spawn,
            Syscall::SetSigMgr,
            Syscall::Update,
            Syscall::Shutdown,
            Syscall::SetPriority,
            Syscall::SetIoPriv,
            Syscall::DevIo,
            Syscall::DevIoRep,
            Syscall::Kill,
            Syscall::SendA,
            Syscall::MapPages,
            Syscall::IrqUnhook,
            Syscall::BootModules,
            Syscall::Times,
            Syscall::MemMap,
            Syscall::SetIrqPriv,
            Syscall::SetMemPriv,
            Syscall::MapPhys,
            Syscall::Unmap,
            Syscall::ClearSpace,
            Syscall::CloneSpace,
            Syscall::Fork,
            Syscall::SetEntry,
            Syscall::VirCopy,
            Syscall::SlotOwner,
            Syscall::Release,
            Syscall::SigSend,
            Syscall::SigPending,
            Syscall::ProcInfo,
            Syscall::IrqCtl,
            Syscall::DmaAlloc,
            Syscall::UMap,
            Syscall::UMapGrant,
            Syscall::ModuleMap,
            Syscall::ProcFork,
            Syscall::Stop,
            Syscall::Resume,
            Syscall::GetRegs,
            Syscall::SetRegs,
            Syscall::SetPager,
            Syscall::PageFaults,
            Syscall::PageFix,
            Syscall::MemStats,
            Syscall::Protect,
            Syscall::SetName,
            Syscall::SharePages,
            Syscall::BootTime,
        ] {
            assert_eq!(Syscall::try_from(call as u64), Ok(call));
        }
        assert_eq!(Syscall::try_from(0), Err(Errno::NoSys));
        assert_eq!(Syscall::try_from(u64::MAX), Err(Errno::NoSys));
        assert_eq!(Syscall::try_from(1000), Err(Errno::NoSys));
    }

    #[test]
    fn kernel_calls_are_marked() {
        assert!(!Syscall::SendRec.is_kernel_call());
        assert!(!Syscall::WhoIs.is_kernel_call());
        assert!(Syscall::SafeCopyTo.is_kernel_call());
        assert!(Syscall::SetPriv.is_kernel_call());
        assert!(!Syscall::SendA.is_kernel_call());
        assert!(Syscall::Fork.is_kernel_call());
        assert!(Syscall::MapPhys.is_kernel_call());
        assert!(Syscall::VirCopy.is_kernel_call());
        assert!(!Syscall::SlotOwner.is_kernel_call());
        assert!(Syscall::DmaAlloc.is_kernel_call());
        assert!(Syscall::UMap.is_kernel_call());
        assert!(Syscall::UMapGrant.is_kernel_call());
        assert!(Syscall::Protect.is_kernel_call());
        assert_eq!(USER_CALLS & (1 << Syscall::Protect as u64), 0);
        assert!(Syscall::SetName.is_kernel_call());
        assert_eq!(USER_CALLS & (1 << Syscall::SetName as u64), 0);
        assert!(Syscall::SharePages.is_kernel_call());
        assert_eq!(USER_CALLS & (1 << Syscall::SharePages as u64), 0);
        // Numbered past the 64-bit call mask: open to every process.
        assert!(!Syscall::BootTime.is_kernel_call());
    }

    #[test]
    fn errno_round_trip() {
        for e in Errno::ALL {
            assert_eq!(Errno::from_return(e.to_return()), Err(e));
        }
        assert_eq!(Errno::from_return(-3i64 as u64), Err(Errno::Inval));
        assert_eq!(Errno::from_return(5), Ok(5));
        assert_eq!(
            Errno::from_return(Errno::Inval.to_return()),
            Err(Errno::Inval)
        );
    }

    #[test]
    fn qemu_status_codes() {
        assert_eq!(QEMU_STATUS_PASS, 33);
        assert_eq!(QEMU_STATUS_FAIL, 35);
    }

    #[test]
    fn layout_is_consistent() {
        const { assert!(USER_BASE < USER_STACK_BOTTOM) };
        const { assert!(USER_STACK_TOP < USER_END) };
        const { assert!(USER_END <= 0x8000_0000) };
        assert_eq!(USER_BASE % 0x20_0000, 0);
        const { assert!(HEAP_END <= MMAP_BASE && MMAP_BASE < MMAP_END) };
        const { assert!(MMAP_END <= PRESERVE_BASE) };
        const { assert!(USER_STACK_TOP - EXEC_STACK_SIZE > PRESERVE_END) };
        const { assert!(REG_RFLAGS + 1 == REGS_WORDS) };
    }
}
