//! The VM server's logic over a [`Kernel`] trait (the memory kernel
//! calls), so that everything but the calls themselves runs in host
//! tests against a fake kernel; `main.rs` implements the trait with
//! `rt::sys`. Every request is answered with a value or an `Errno`: no
//! input from another process makes VM panic.

use crate::exec::{self, ExecPlan};
use crate::regions::{BrkPlan, FaultAction, PAGE, Region, Space};
use crate::textcache::{self, TextCache};
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use sys::ds::OnlyClient;
use sys::proto::fs::Buf;
use sys::proto::kernel::{DeadPeer, is_notify};
use sys::proto::vfs::{VfsAnswer, VfsReply, VfsVmCall};
use sys::proto::vm::{
    ExecImage, GrantRef, MAX_FILE_MAP, MemInfo, VmAnswer, VmCall, VmPmCall, VmReply, prot,
};
use sys::{Ctx, Endpoint, Errno, GrantAccess, GrantId, InitInfo, Message, Service, Sys};

/// Most address spaces VM keeps (the kernel has far fewer slots); beyond
/// it, after forgetting dead processes, `Fork` and adoptions get `EAGAIN`.
pub const MAX_SPACES: usize = 1024;
/// Page faults resolved per SYSTEM notification at most (the rest wait
/// for the next round; the kernel notifies again for new ones).
pub const FAULTS_PER_ROUND: usize = 256;
/// Pages per `MapPages` / `Unmap` call (the kernel's bound).
pub const MAP_CHUNK: u64 = abi::MAX_MAP_PAGES;

/// How a held page fault is resolved (kernel `PageFix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix {
    /// Resume (the page was mapped).
    Retry,
    /// Break copy-on-write at the address, then resume.
    Cow,
    /// Stop the process as an ordinary page fault.
    Fail,
}

/// One page fault held for VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The faulting process.
    pub ep: Endpoint,
    /// The address.
    pub addr: u64,
    /// CPU error code.
    pub error: u64,
    /// The faulting instruction.
    pub rip: u64,
}

/// The kernel calls VM makes. Errors are `sys` errnos (`ENOMEM` when the
/// kernel runs out of frames).
pub trait Kernel {
    /// VM's own endpoint.
    fn me(&self) -> Endpoint;
    /// Fresh zeroed pages (at most [`MAP_CHUNK`]); pages already mapped
    /// stay as they are (made writable if asked).
    fn map_pages(
        &mut self,
        ep: Endpoint,
        addr: u64,
        count: u64,
        writable: bool,
    ) -> Result<(), Errno>;
    /// Unmaps pages (at most [`MAP_CHUNK`]), freeing their frames.
    fn unmap(&mut self, ep: Endpoint, addr: u64, count: u64) -> Result<(), Errno>;
    /// Makes mapped pages (at most [`MAP_CHUNK`]) read-only (`writable`
    /// false) or writable (a page still shared after a fork becomes
    /// copy-on-write); `EFAULT` if one is not mapped.
    fn protect(&mut self, ep: Endpoint, addr: u64, count: u64, writable: bool)
    -> Result<(), Errno>;
    /// Tears down the whole user space of `ep`.
    fn clear_space(&mut self, ep: Endpoint) -> Result<(), Errno>;
    /// Maps the frames of `src`'s `count` (at most [`MAP_CHUNK`]) mapped
    /// pages at `addr` read-only at `dst`'s unmapped pages at `dst_addr`,
    /// each frame gaining a reference (`EFAULT` if a source page is not
    /// mapped or a destination page is, nothing changed).
    fn share_pages(
        &mut self,
        src: Endpoint,
        addr: u64,
        dst: Endpoint,
        dst_addr: u64,
        count: u64,
    ) -> Result<(), Errno>;
    /// Copies `data` to `addr` in `ep`'s space (VirCopy from VM).
    fn copy_to(&mut self, ep: Endpoint, addr: u64, data: &[u8]) -> Result<(), Errno>;
    /// Copies the first `dst.len()` bytes of a grant made to VM.
    fn copy_from_grant(&mut self, g: &GrantRef, dst: &mut [u8]) -> Result<(), Errno>;
    /// Copy-on-write clone of `parent`; the child is stopped.
    fn proc_fork(&mut self, parent: Endpoint) -> Result<Endpoint, Errno>;
    /// Makes VM the pager of `ep`.
    fn set_pager(&mut self, ep: Endpoint) -> Result<(), Errno>;
    /// The next page fault held for VM, if any.
    fn next_fault(&mut self) -> Option<Fault>;
    /// Resolves a held fault.
    fn page_fix(&mut self, ep: Endpoint, addr: u64, fix: Fix) -> Result<(), Errno>;
    /// Memory figures.
    fn mem_stats(&mut self) -> Result<MemInfo, Errno>;
    /// Stops `ep` (killed; its signal manager, PM, is told).
    fn kill(&mut self, ep: Endpoint) -> Result<(), Errno>;
    /// Whether `ep` is a live process (not a stale endpoint).
    fn alive(&mut self, ep: Endpoint) -> bool;
}

/// Counters (for logs and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Copy-on-write faults resolved.
    pub cow: u64,
    /// Faults answered with a fresh page.
    pub zero: u64,
    /// Faults failed (the process was stopped).
    pub failed: u64,
    /// Forks.
    pub forks: u64,
    /// Execs built.
    pub execs: u64,
    /// Execs refused before the old image was touched.
    pub exec_refused: u64,
    /// Execs that failed after the old image was torn down (process
    /// killed).
    pub exec_lost: u64,
}

/// VM's state: every known address space. Lives in the preserved heap
/// natively, so a restarted VM takes it back.
#[derive(Debug, Default)]
pub struct Table {
    spaces: BTreeMap<u32, Space>,
    /// Read-only image pages kept for the next exec of the same program
    /// (in VM's own space, which a restart at the same endpoint keeps,
    /// like this table).
    text: TextCache,
    /// Counters.
    pub stats: Stats,
}

impl Table {
    /// The space of `ep`, if known.
    pub fn space(&self, ep: Endpoint) -> Option<&Space> {
        self.spaces.get(&ep.0)
    }

    /// Known spaces.
    pub fn len(&self) -> usize {
        self.spaces.len()
    }

    /// Whether none is known.
    pub fn is_empty(&self) -> bool {
        self.spaces.is_empty()
    }
}

/// The label of the file system server VM asks for the bytes of a
/// block-device mapping.
pub const VFS_LABEL: &str = "vfs";

/// A block-device mapping waiting for VFS's bytes.
#[derive(Debug, Clone, Copy)]
struct FileMapWait {
    /// The caller, and its request id.
    user: Endpoint,
    id: u64,
    /// Where the PeekDev went.
    vfs: Endpoint,
    /// VM's buffer, granted to VFS.
    grant: GrantId,
    /// Bytes asked (whole pages).
    len: u64,
    /// The caller's `prot`.
    prot: u32,
}

/// The VM logic.
pub struct Vm<K: Kernel> {
    /// The kernel calls.
    pub kernel: K,
    table: Rc<RefCell<Table>>,
    pm: OnlyClient,
    /// VFS's endpoint, once looked up.
    vfs: Option<Endpoint>,
    /// Block-device mappings waiting for VFS, by PeekDev request id.
    file_maps: BTreeMap<u64, FileMapWait>,
    next_peek: u64,
    /// Free frames as VM last read them, less what it handed out since.
    free_est: exec::FreeEstimate,
}

impl<K: Kernel> Vm<K> {
    /// VM over `kernel` with `table` (a fresh one, or the one a previous
    /// instance left). PM is the process DS names `pm`.
    pub fn new(kernel: K, table: Rc<RefCell<Table>>) -> Self {
        Vm {
            kernel,
            table,
            pm: OnlyClient::new(Some("pm")),
            vfs: None,
            file_maps: BTreeMap::new(),
            next_peek: 1,
            free_est: exec::FreeEstimate::default(),
        }
    }

    /// Read-only image regions kept for later execs.
    pub fn text_kept(&self) -> usize {
        self.table.borrow().text.len()
    }

    /// Block-device mappings waiting for VFS.
    pub fn file_maps_waiting(&self) -> usize {
        self.file_maps.len()
    }

    /// The state.
    pub fn table(&self) -> &Rc<RefCell<Table>> {
        &self.table
    }

    /// Room for one more space: forgets dead processes when full.
    fn make_room(&mut self, t: &mut Table) -> Result<(), Errno> {
        if t.spaces.len() < MAX_SPACES {
            return Ok(());
        }
        let k = &mut self.kernel;
        t.spaces.retain(|&ep, _| k.alive(Endpoint(ep)));
        if t.spaces.len() < MAX_SPACES {
            Ok(())
        } else {
            Err(Errno::EAGAIN)
        }
    }

    /// The space of `ep`, adopting it (conservatively) if unknown.
    fn space_of<'t>(&mut self, t: &'t mut Table, ep: Endpoint) -> Result<&'t mut Space, Errno> {
        if !t.spaces.contains_key(&ep.0) {
            self.make_room(t)?;
        }
        Ok(t.spaces.entry(ep.0).or_insert_with(Space::adopted))
    }

    fn free_frames(&mut self) -> Result<u64, Errno> {
        Ok(self.kernel.mem_stats()?.free)
    }

    /// `ENOMEM` unless `need` frames fit with [`exec::RESERVE_FRAMES`]
    /// to spare: from the estimate while it leaves plenty, else from the
    /// kernel's count.
    fn check_memory(&mut self, need: u64) -> Result<(), Errno> {
        if self.free_est.take(need) {
            return Ok(());
        }
        let free = self.free_frames()?;
        let r = exec::check_memory(need, free);
        self.free_est.reset(free, if r.is_ok() { need } else { 0 });
        r
    }

    /// Maps `count` pages from `addr` in chunks; on an error unmaps what
    /// this call mapped and returns it.
    fn map_range(
        &mut self,
        ep: Endpoint,
        addr: u64,
        count: u64,
        writable: bool,
    ) -> Result<(), Errno> {
        let mut done = 0;
        while done < count {
            let n = (count - done).min(MAP_CHUNK);
            if let Err(e) = self.kernel.map_pages(ep, addr + done * PAGE, n, writable) {
                // The failed call may have mapped part of its chunk.
                let _ = self.unmap_range(ep, addr, done + n);
                return Err(e);
            }
            done += n;
        }
        Ok(())
    }

    fn unmap_range(&mut self, ep: Endpoint, addr: u64, count: u64) -> Result<(), Errno> {
        let mut done = 0;
        while done < count {
            let n = (count - done).min(MAP_CHUNK);
            self.kernel.unmap(ep, addr + done * PAGE, n)?;
            done += n;
        }
        Ok(())
    }

    fn protect_range(
        &mut self,
        ep: Endpoint,
        addr: u64,
        count: u64,
        writable: bool,
    ) -> Result<(), Errno> {
        let mut done = 0;
        while done < count {
            let n = (count - done).min(MAP_CHUNK);
            self.kernel.protect(ep, addr + done * PAGE, n, writable)?;
            done += n;
        }
        Ok(())
    }

    /// Maps `count` fresh pages if memory allows (`ENOMEM` otherwise).
    fn grow(&mut self, ep: Endpoint, addr: u64, count: u64, writable: bool) -> Result<(), Errno> {
        // Page tables: at most one per 2 MiB touched, plus one.
        let tables = count / 512 + 2;
        self.check_memory(count + tables)?;
        self.map_range(ep, addr, count, writable)
            .map_err(|e| if e == Errno::EFAULT { e } else { Errno::ENOMEM })
    }

    // ---- user calls ---------------------------------------------------------

    /// Answers a user's call about its own space.
    pub fn user_call(&mut self, from: Endpoint, call: VmCall) -> VmReply {
        let id = call.id();
        let result = self.user_call_inner(from, call);
        VmReply { id, result }
    }

    fn user_call_inner(&mut self, from: Endpoint, call: VmCall) -> Result<VmAnswer, Errno> {
        let table = self.table.clone();
        let mut t = table.try_borrow_mut().map_err(|_| Errno::EAGAIN)?;
        match call {
            VmCall::Info { .. } => Ok(VmAnswer::Info(self.kernel.mem_stats()?)),
            VmCall::Brk { addr, .. } => {
                let plan: BrkPlan = self.space_of(&mut t, from)?.plan_brk(addr)?;
                if plan.count > 0 {
                    if plan.grow {
                        self.grow(from, plan.from, plan.count, true)?;
                    } else {
                        self.unmap_range(from, plan.from, plan.count)?;
                    }
                }
                self.space_of(&mut t, from)?.commit_brk(&plan);
                Ok(VmAnswer::Value(plan.brk))
            }
            VmCall::Mmap { len, prot, .. } => {
                let (addr, pages) = self.space_of(&mut t, from)?.plan_mmap(len, prot)?;
                let writable = prot & sys::proto::vm::prot::WRITE != 0;
                self.grow(from, addr, pages, writable)?;
                self.space_of(&mut t, from)?.commit_mmap(addr, pages, prot);
                Ok(VmAnswer::Value(addr))
            }
            VmCall::Munmap { addr, len, .. } => {
                let pieces = self.space_of(&mut t, from)?.plan_munmap(addr, len)?;
                for (s, e) in pieces {
                    self.unmap_range(from, s, (e - s) / PAGE)?;
                }
                self.space_of(&mut t, from)?.commit_munmap(addr, len);
                Ok(VmAnswer::Value(0))
            }
            // Needs VFS: started and answered by `handle_message`
            // (`mmap_file_start` / `mmap_file_done`).
            VmCall::MmapFile { .. } => Err(Errno::ENOSYS),
            VmCall::Mprotect {
                addr, len, prot, ..
            } => {
                let (gain, lose) = self
                    .space_of(&mut t, from)?
                    .plan_mprotect(addr, len, prot)?;
                let changes = lose.iter().map(|&r| (r, false));
                for ((s, e), writable) in changes.chain(gain.iter().map(|&r| (r, true))) {
                    self.protect_range(from, s, (e - s) / PAGE, writable)?;
                }
                self.space_of(&mut t, from)?
                    .commit_mprotect(addr, len, prot);
                Ok(VmAnswer::Value(0))
            }
        }
    }

    // ---- block-device mappings ------------------------------------------------

    /// Starts `MmapFile`: checks what can be checked here, then asks VFS
    /// for the bytes with an asynchronous PeekDev into a buffer granted to
    /// it. `Ok` means the caller is answered later (by
    /// [`Vm::mmap_file_done`] or a bounce); an error is the answer now.
    fn mmap_file_start(
        &mut self,
        sys: &mut dyn Sys,
        from: Endpoint,
        call: VmCall,
    ) -> Result<(), Errno> {
        let VmCall::MmapFile {
            id,
            fd,
            offset,
            len,
            prot: p,
        } = call
        else {
            return Err(Errno::EINVAL);
        };
        if p & prot::WRITE != 0 {
            return Err(Errno::EACCES);
        }
        if p & !prot::ALL != 0 || len == 0 || !offset.is_multiple_of(PAGE) {
            return Err(Errno::EINVAL);
        }
        if len > MAX_FILE_MAP {
            return Err(Errno::ENOMEM);
        }
        let size = crate::regions::page_up(len);
        let pages = size / PAGE;
        {
            let table = self.table.clone();
            let mut t = table.try_borrow_mut().map_err(|_| Errno::EAGAIN)?;
            // Room in the mmap area and memory, before VFS is bothered.
            self.space_of(&mut t, from)?.plan_mmap(size, p)?;
        }
        self.check_memory(pages + pages / 512 + 2)?;
        let mut tries = 0;
        loop {
            let vfs = match self.vfs {
                Some(v) => v,
                None => {
                    let v = sys::ds::retrieve_label(sys, VFS_LABEL).map_err(|_| Errno::EIO)?;
                    self.vfs = Some(v);
                    v
                }
            };
            let grant = sys.grant_create(vfs, GrantAccess::WRITE, alloc::vec![0; size as usize])?;
            let peek = self.next_peek;
            self.next_peek += 1;
            let req = VfsVmCall::PeekDev {
                id: peek,
                ep: from,
                fd,
                pos: offset,
                buf: Buf {
                    grant,
                    len: size as u32,
                },
            };
            match sys.request(vfs, req.to_message()) {
                Ok(()) => {
                    self.file_maps.insert(
                        peek,
                        FileMapWait {
                            user: from,
                            id,
                            vfs,
                            grant,
                            len: size,
                            prot: p,
                        },
                    );
                    return Ok(());
                }
                Err(e) => {
                    let _ = sys.grant_revoke(grant);
                    // A restarted VFS is looked up again, once.
                    self.vfs = None;
                    tries += 1;
                    if tries > 1 || !matches!(e, Errno::EDEADSRCDST(_)) {
                        return Err(Errno::EIO);
                    }
                }
            }
        }
    }

    /// VFS answered the PeekDev of `w` with `result` (bytes read into the
    /// buffer `bytes`): maps the pages holding device bytes, fills them,
    /// makes them read-only and records the whole mapping; the rest of the
    /// last such page stays zero (fresh pages), pages after it stay
    /// unmapped. `ENXIO` when the offset was at or past the device end
    /// (no page would hold device bytes).
    fn mmap_file_done(
        &mut self,
        w: &FileMapWait,
        result: Result<VfsAnswer, Errno>,
        bytes: &[u8],
    ) -> Result<VmAnswer, Errno> {
        let n = match result? {
            VfsAnswer::Value(n) => u64::try_from(n).map_err(|_| Errno::EIO)?,
            _ => return Err(Errno::EIO),
        };
        if n > w.len || n > bytes.len() as u64 {
            return Err(Errno::EIO);
        }
        if n == 0 {
            return Err(Errno::ENXIO);
        }
        let table = self.table.clone();
        let mut t = table.try_borrow_mut().map_err(|_| Errno::EAGAIN)?;
        let (addr, pages) = self.space_of(&mut t, w.user)?.plan_mmap(w.len, w.prot)?;
        let readable = crate::regions::page_up(n) / PAGE;
        self.grow(w.user, addr, readable, true)?;
        let filled = self
            .kernel
            .copy_to(w.user, addr, &bytes[..n as usize])
            .and_then(|()| self.protect_range(w.user, addr, readable, false));
        if let Err(e) = filled {
            let _ = self.unmap_range(w.user, addr, readable);
            return Err(e);
        }
        self.space_of(&mut t, w.user)?
            .commit_file(addr, pages, w.prot);
        Ok(VmAnswer::Mapped {
            addr,
            readable: readable * PAGE,
        })
    }

    /// VFS's answer to PeekDev `id` (or its bounce: `result` EIO): the
    /// waiting caller is answered, unless it is gone.
    fn file_map_answer(&mut self, sys: &mut dyn Sys, peek: u64, result: Result<VfsAnswer, Errno>) {
        let Some(w) = self.file_maps.remove(&peek) else {
            return;
        };
        let bytes = sys.grant_revoke(w.grant).unwrap_or_default();
        if !self.kernel.alive(w.user) {
            return;
        }
        let result = self.mmap_file_done(&w, result, &bytes);
        let reply = VmReply { id: w.id, result };
        // The caller may have died meanwhile; nothing to do then.
        let _ = sys.send(w.user, reply.to_message());
    }

    // ---- PM calls -----------------------------------------------------------

    /// Answers PM (the caller has been checked).
    pub fn pm_call(&mut self, call: VmPmCall) -> VmReply {
        let id = call.id();
        let result = self.pm_call_inner(call);
        VmReply { id, result }
    }

    fn pm_call_inner(&mut self, call: VmPmCall) -> Result<VmAnswer, Errno> {
        let table = self.table.clone();
        let mut t = table.try_borrow_mut().map_err(|_| Errno::EAGAIN)?;
        match call {
            VmPmCall::Fork { parent, .. } => {
                if !self.kernel.alive(parent) {
                    return Err(Errno::ESRCH);
                }
                self.make_room(&mut t)?;
                let space = t.spaces.get(&parent.0).cloned();
                if space.is_none() {
                    // Unknown to VM until now: adopt it, and page it, so
                    // the copy-on-write pages ProcFork makes in the parent
                    // come to VM too.
                    self.kernel.set_pager(parent)?;
                    t.spaces.insert(parent.0, Space::adopted());
                }
                let child = self.kernel.proc_fork(parent)?;
                t.spaces
                    .insert(child.0, space.unwrap_or_else(Space::adopted));
                // Inherited from the parent; set again in case it had none.
                let _ = self.kernel.set_pager(child);
                t.stats.forks += 1;
                Ok(VmAnswer::Value(u64::from(child.0)))
            }
            VmPmCall::Exec {
                ep, image, block, ..
            } => {
                let r = self.exec(&mut t, ep, &image, &block);
                match r {
                    Ok(_) => t.stats.execs += 1,
                    Err((_, false)) => t.stats.exec_refused += 1,
                    Err((_, true)) => t.stats.exec_lost += 1,
                }
                r.map(VmAnswer::Exec).map_err(|(e, _)| e)
            }
            VmPmCall::Exit { ep, .. } => {
                t.spaces.remove(&ep.0);
                Ok(VmAnswer::Value(0))
            }
            VmPmCall::NewProc { ep, .. } => {
                if !self.kernel.alive(ep) {
                    return Err(Errno::ESRCH);
                }
                if !t.spaces.contains_key(&ep.0) {
                    self.make_room(&mut t)?;
                }
                self.kernel.set_pager(ep)?;
                // A boot process may have called VM (brk) before PM
                // adopted it: keep the space that built, or its next brk
                // would map fresh pages over its live heap.
                t.spaces.entry(ep.0).or_insert_with(Space::adopted);
                Ok(VmAnswer::Value(0))
            }
        }
    }

    /// Copies `g` (exactly `g.len` bytes) into a new buffer.
    fn fetch(&mut self, g: &GrantRef) -> Result<Vec<u8>, Errno> {
        let len = usize::try_from(g.len).map_err(|_| Errno::ENOMEM)?;
        let mut buf = Vec::new();
        buf.try_reserve_exact(len).map_err(|_| Errno::ENOMEM)?;
        buf.resize(len, 0);
        if len > 0 {
            self.kernel
                .copy_from_grant(g, &mut buf)
                .map_err(|_| Errno::EFAULT)?;
        }
        Ok(buf)
    }

    /// Exec; the error says whether the old image was lost (the process
    /// is then killed).
    fn exec(
        &mut self,
        t: &mut Table,
        ep: Endpoint,
        image: &GrantRef,
        block: &GrantRef,
    ) -> Result<ExecImage, (Errno, bool)> {
        let refuse = |e| (e, false);
        exec::check_sizes(image.len, block.len).map_err(refuse)?;
        if !self.kernel.alive(ep) {
            return Err((Errno::ESRCH, false));
        }
        if !t.spaces.contains_key(&ep.0) {
            self.make_room(t).map_err(refuse)?;
        }
        let bytes = self.fetch(image).map_err(refuse)?;
        let args = self.fetch(block).map_err(refuse)?;
        let plan = exec::plan(&bytes, block.len).map_err(refuse)?;
        self.check_memory(plan.frames).map_err(refuse)?;
        // The point of no return.
        self.kernel.clear_space(ep).map_err(refuse)?;
        t.spaces.remove(&ep.0);
        match self.build(t, ep, &plan, &bytes, &args) {
            Ok(()) => {
                t.spaces.insert(ep.0, plan.space.clone());
                Ok(ExecImage {
                    entry: plan.entry,
                    rsp: plan.rsp,
                    block_addr: plan.block_addr,
                    block_len: plan.block_len,
                })
            }
            Err(e) => {
                // Nothing to go back to: the old image is gone.
                let _ = self.kernel.kill(ep);
                Err((e, true))
            }
        }
    }

    /// Builds the planned image in `ep`'s empty space.
    fn build(
        &mut self,
        t: &mut Table,
        ep: Endpoint,
        plan: &ExecPlan,
        bytes: &[u8],
        args: &[u8],
    ) -> Result<(), Errno> {
        let image_regions = plan
            .space
            .regions()
            .iter()
            .filter(|r| r.kind == crate::regions::Kind::Image);
        for r in image_regions {
            if r.prot & prot::WRITE == 0 {
                self.build_read_only(&mut t.text, ep, r, plan, bytes)?;
                continue;
            }
            self.map_range(ep, r.start, r.pages(), true)?;
            for s in plan.segments.iter().filter(|s| r.contains(s.vaddr)) {
                self.kernel.copy_to(ep, s.vaddr, s.file_bytes(bytes))?;
            }
        }
        let stack_pages = abi::EXEC_STACK_SIZE / PAGE;
        self.map_range(
            ep,
            abi::USER_STACK_TOP - abi::EXEC_STACK_SIZE,
            stack_pages,
            true,
        )?;
        if !args.is_empty() {
            self.kernel.copy_to(ep, plan.block_addr, args)?;
        }
        self.kernel.set_pager(ep)
    }

    /// Builds read-only image region `r` of `ep`: the frames kept for the
    /// same bytes if there are (shared, read-only), else fresh pages
    /// filled with them (writable while the bytes go in: VirCopy needs
    /// writable pages), made read-only and then kept.
    fn build_read_only(
        &mut self,
        text: &mut TextCache,
        ep: Endpoint,
        r: &Region,
        plan: &ExecPlan,
        bytes: &[u8],
    ) -> Result<(), Errno> {
        let content = exec::region_bytes(r, &plan.segments, bytes);
        let (me, pages) = (self.kernel.me(), r.pages());
        if let Some(at) = text.find(r.start, &content) {
            if self.kernel.share_pages(me, at, ep, r.start, pages).is_ok() {
                return Ok(());
            }
            // Gone from VM's space (or no memory for page tables): built
            // afresh below (over any page shared before the failure).
            text.remove(at);
        }
        self.map_range(ep, r.start, pages, true)?;
        self.kernel.copy_to(ep, r.start, &content)?;
        self.protect_range(ep, r.start, pages, false)?;
        if let Some(at) = text.insert(r.start, content) {
            // Whatever the slot held (an evicted region, or pages a
            // previous instance left) goes first.
            let kept = self.unmap_range(me, at, textcache::SLOT_PAGES).is_ok()
                && self.kernel.share_pages(ep, r.start, me, at, pages).is_ok();
            if !kept {
                let _ = self.unmap_range(me, at, textcache::SLOT_PAGES);
                text.remove(at);
            }
        }
        Ok(())
    }

    // ---- page faults ----------------------------------------------------------

    /// Resolves the page faults held for VM (on a SYSTEM notification).
    /// Returns how many were handled.
    pub fn page_faults(&mut self) -> usize {
        let table = self.table.clone();
        let Ok(mut t) = table.try_borrow_mut() else {
            return 0;
        };
        let mut n = 0;
        while n < FAULTS_PER_ROUND {
            let Some(f) = self.kernel.next_fault() else {
                break;
            };
            n += 1;
            let action = match t.spaces.get(&f.ep.0) {
                Some(s) => s.fault(f.addr, f.error),
                // A process VM pages but does not know (its state was lost
                // with a previous VM instance): the conservative view.
                None => Space::adopted().fault(f.addr, f.error),
            };
            let ok = match action {
                FaultAction::Cow => self.kernel.page_fix(f.ep, f.addr, Fix::Cow).is_ok(),
                FaultAction::MapZero { page, writable } => {
                    self.kernel.map_pages(f.ep, page, 1, writable).is_ok()
                        && self.kernel.page_fix(f.ep, f.addr, Fix::Retry).is_ok()
                }
                FaultAction::Fail => false,
            };
            if ok {
                match action {
                    FaultAction::Cow => t.stats.cow += 1,
                    _ => t.stats.zero += 1,
                }
            } else {
                t.stats.failed += 1;
                // Fails only if the process is gone already.
                let _ = self.kernel.page_fix(f.ep, f.addr, Fix::Fail);
            }
        }
        n
    }

    /// Dispatches one message; `Some(reply)` goes back to its source.
    pub fn handle_message(&mut self, sys: &mut dyn sys::Sys, msg: &Message) -> Option<Message> {
        let src = msg.source();
        if src == Endpoint::SYSTEM {
            // Page faults are announced by a notification; a bounced
            // PeekDev (VFS died before answering) fails its mapping;
            // anything else from SYSTEM (a bounced reply to a caller that
            // died) needs nothing.
            if is_notify(msg) {
                self.page_faults();
            } else if let Ok(b) = DeadPeer::try_from(msg)
                && self
                    .file_maps
                    .get(&b.request_id())
                    .is_some_and(|w| w.vfs == b.dead)
            {
                self.vfs = None;
                self.file_map_answer(sys, b.request_id(), Err(Errno::EIO));
            }
            return None;
        }
        if is_notify(msg) {
            return None;
        }
        if self
            .file_maps
            .get(&msg.request_id())
            .is_some_and(|w| w.vfs == src)
            && let Ok(r) = VfsReply::try_from(msg)
        {
            self.file_map_answer(sys, r.id, r.result);
            return None;
        }
        if VmCall::is_vm_call(msg) {
            if let Ok(c @ VmCall::MmapFile { id, .. }) = VmCall::try_from(msg) {
                return self
                    .mmap_file_start(sys, src, c)
                    .err()
                    .map(|e| VmReply { id, result: Err(e) }.to_message());
            }
            return Some(
                match VmCall::try_from(msg) {
                    Ok(c) => self.user_call(src, c),
                    Err(e) => VmReply {
                        id: msg.request_id(),
                        result: Err(e),
                    },
                }
                .to_message(),
            );
        }
        if VmPmCall::is_vm_pm_call(msg) {
            let reply = if !self.pm.allows(sys, src) {
                VmReply {
                    id: msg.request_id(),
                    result: Err(Errno::EPERM),
                }
            } else {
                match VmPmCall::try_from(msg) {
                    Ok(c) => self.pm_call(c),
                    Err(e) => VmReply {
                        id: msg.request_id(),
                        result: Err(e),
                    },
                }
            };
            return Some(reply.to_message());
        }
        Some(
            VmReply {
                id: msg.request_id(),
                result: Err(Errno::ENOSYS),
            }
            .to_message(),
        )
    }
}

impl<K: Kernel + 'static> Service for Vm<K> {
    fn init(&mut self, cx: &mut Ctx<'_>, info: InitInfo) -> Result<(), Errno> {
        let known = self.table.try_borrow().map_or(0, |t| t.len());
        cx.sys.log(&alloc::format!(
            "vm: {:?} start (restart {}), {} address spaces known",
            info.kind,
            info.restarts,
            known
        ));
        // Faults held while no instance was there to be notified.
        self.page_faults();
        // PeekDev ids of this instance start past any a predecessor may
        // have had answered to the same endpoint.
        self.next_peek = (cx.sys.now() << 24) | 1;
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        self.handle_message(cx.sys, &msg)
    }
}

#[cfg(test)]
mod tests;
