//! The VM logic against a fake kernel that keeps every process's pages
//! as bytes, so tests check what ends up in memory, not only replies.

use super::*;
use crate::exec::testelf;
use crate::regions::{STACK_LOW, fault_bits};
use alloc::collections::{BTreeSet, VecDeque};
use alloc::vec;
use sys::GrantId;
use sys::proto::vm::prot;

#[derive(Clone)]
struct Page {
    bytes: Vec<u8>,
    writable: bool,
}

#[derive(Default)]
struct Fake {
    me: u32,
    pages: BTreeMap<(u32, u64), Page>,
    free: u64,
    live: BTreeSet<u32>,
    pagers: BTreeSet<u32>,
    killed: Vec<u32>,
    next_child: u32,
    grants: BTreeMap<(u32, u32), Vec<u8>>,
    faults: VecDeque<Fault>,
    fixes: Vec<(u32, u64, Fix)>,
    /// Pages that are copy-on-write (the parent/child share is not
    /// modelled beyond this flag).
    cow: BTreeSet<(u32, u64)>,
    /// MapPages calls left before they fail with ENOMEM.
    maps_left: Option<u32>,
    /// Pages mapped by SharePages (read-only, the frame of another).
    shared: BTreeSet<(u32, u64)>,
    /// SharePages calls that succeeded.
    shares: u32,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            me: 7,
            free: 10_000,
            live: [7, 20, 21].into_iter().collect(),
            next_child: 40,
            ..Fake::default()
        }
    }

    fn read(&self, ep: u32, addr: u64, len: usize) -> Option<Vec<u8>> {
        (0..len as u64)
            .map(|i| {
                let a = addr + i;
                self.pages
                    .get(&(ep, a & !(PAGE - 1)))
                    .map(|p| p.bytes[(a % PAGE) as usize])
            })
            .collect()
    }

    fn mapped(&self, ep: u32) -> usize {
        self.pages.keys().filter(|k| k.0 == ep).count()
    }
}

impl Kernel for Fake {
    fn me(&self) -> Endpoint {
        Endpoint(self.me)
    }
    fn map_pages(
        &mut self,
        ep: Endpoint,
        addr: u64,
        count: u64,
        writable: bool,
    ) -> Result<(), Errno> {
        if !self.live.contains(&ep.0) {
            return Err(Errno::EDEADSRCDST(None));
        }
        if let Some(n) = self.maps_left.as_mut() {
            if *n == 0 {
                return Err(Errno::ENOMEM);
            }
            *n -= 1;
        }
        assert!(count <= MAP_CHUNK && addr.is_multiple_of(PAGE));
        for i in 0..count {
            let page = self
                .pages
                .entry((ep.0, addr + i * PAGE))
                .or_insert_with(|| Page {
                    bytes: vec![0; PAGE as usize],
                    writable,
                });
            page.writable |= writable;
        }
        self.free -= count;
        Ok(())
    }
    fn unmap(&mut self, ep: Endpoint, addr: u64, count: u64) -> Result<(), Errno> {
        for i in 0..count {
            let k = (ep.0, addr + i * PAGE);
            if self.pages.remove(&k).is_some() && !self.shared.remove(&k) {
                self.free += 1;
            }
        }
        Ok(())
    }
    fn protect(
        &mut self,
        ep: Endpoint,
        addr: u64,
        count: u64,
        writable: bool,
    ) -> Result<(), Errno> {
        // Like the kernel: any unmapped page and nothing changes.
        if (0..count).any(|i| !self.pages.contains_key(&(ep.0, addr + i * PAGE))) {
            return Err(Errno::EFAULT);
        }
        for i in 0..count {
            if let Some(p) = self.pages.get_mut(&(ep.0, addr + i * PAGE)) {
                p.writable = writable;
            }
        }
        Ok(())
    }
    fn clear_space(&mut self, ep: Endpoint) -> Result<(), Errno> {
        if !self.live.contains(&ep.0) {
            return Err(Errno::EDEADSRCDST(None));
        }
        self.pages.retain(|k, _| k.0 != ep.0);
        self.shared.retain(|k| k.0 != ep.0);
        Ok(())
    }
    fn share_pages(
        &mut self,
        src: Endpoint,
        addr: u64,
        dst: Endpoint,
        dst_addr: u64,
        count: u64,
    ) -> Result<(), Errno> {
        // Like the kernel: every page checked first, the same endpoint
        // twice refused; the shared frame is modelled by a read-only copy
        // (neither side writes it in place).
        if src == dst || !self.live.contains(&src.0) || !self.live.contains(&dst.0) {
            return Err(Errno::EINVAL);
        }
        assert!(count <= MAP_CHUNK);
        let pages: Vec<Page> = (0..count)
            .map(|i| self.pages.get(&(src.0, addr + i * PAGE)).cloned())
            .collect::<Option<_>>()
            .ok_or(Errno::EFAULT)?;
        if (0..count).any(|i| self.pages.contains_key(&(dst.0, dst_addr + i * PAGE))) {
            return Err(Errno::EFAULT);
        }
        for (i, p) in pages.into_iter().enumerate() {
            let a = dst_addr + i as u64 * PAGE;
            self.pages.insert(
                (dst.0, a),
                Page {
                    writable: false,
                    ..p
                },
            );
            self.shared.insert((dst.0, a));
        }
        self.shares += 1;
        Ok(())
    }
    fn copy_to(&mut self, ep: Endpoint, addr: u64, data: &[u8]) -> Result<(), Errno> {
        for (i, b) in data.iter().enumerate() {
            let a = addr + i as u64;
            let p = self
                .pages
                .get_mut(&(ep.0, a & !(PAGE - 1)))
                .filter(|p| p.writable)
                .ok_or(Errno::EFAULT)?;
            p.bytes[(a % PAGE) as usize] = *b;
        }
        Ok(())
    }
    fn copy_from_grant(&mut self, g: &GrantRef, dst: &mut [u8]) -> Result<(), Errno> {
        let src = self
            .grants
            .get(&(g.granter.0, g.grant.0))
            .ok_or(Errno::EFAULT)?;
        if src.len() < dst.len() {
            return Err(Errno::EFAULT);
        }
        dst.copy_from_slice(&src[..dst.len()]);
        Ok(())
    }
    fn proc_fork(&mut self, parent: Endpoint) -> Result<Endpoint, Errno> {
        let child = self.next_child;
        self.next_child += 1;
        self.live.insert(child);
        let copies: Vec<_> = self
            .pages
            .iter()
            .filter(|(k, _)| k.0 == parent.0)
            .map(|(k, p)| (k.1, p.clone()))
            .collect();
        for (a, p) in copies {
            if p.writable {
                self.cow.insert((parent.0, a));
                self.cow.insert((child, a));
            }
            self.pages.insert((child, a), p);
        }
        if self.pagers.contains(&parent.0) {
            self.pagers.insert(child);
        }
        Ok(Endpoint(child))
    }
    fn set_pager(&mut self, ep: Endpoint) -> Result<(), Errno> {
        self.pagers.insert(ep.0);
        Ok(())
    }
    fn next_fault(&mut self) -> Option<Fault> {
        self.faults.pop_front()
    }
    fn page_fix(&mut self, ep: Endpoint, addr: u64, fix: Fix) -> Result<(), Errno> {
        self.fixes.push((ep.0, addr, fix));
        if fix == Fix::Cow && !self.cow.remove(&(ep.0, addr & !(PAGE - 1))) {
            return Err(Errno::EFAULT);
        }
        if fix == Fix::Fail {
            self.live.remove(&ep.0);
        }
        Ok(())
    }
    fn mem_stats(&mut self) -> Result<MemInfo, Errno> {
        Ok(MemInfo {
            total: 20_000,
            free: self.free,
            ..MemInfo::default()
        })
    }
    fn kill(&mut self, ep: Endpoint) -> Result<(), Errno> {
        self.killed.push(ep.0);
        self.live.remove(&ep.0);
        Ok(())
    }
    fn alive(&mut self, ep: Endpoint) -> bool {
        self.live.contains(&ep.0)
    }
}

const P: Endpoint = Endpoint(20);

fn vm() -> Vm<Fake> {
    Vm::new(Fake::new(), Rc::new(RefCell::new(Table::default())))
}

fn call(vm: &mut Vm<Fake>, c: VmCall) -> Result<u64, Errno> {
    vm.user_call(P, c).value()
}

fn brk(vm: &mut Vm<Fake>, addr: u64) -> Result<u64, Errno> {
    call(vm, VmCall::Brk { id: 1, addr })
}

#[test]
fn brk_maps_and_unmaps_zeroed_pages() {
    let mut vm = vm();
    let h = abi::HEAP_BASE;
    assert_eq!(brk(&mut vm, 0), Ok(h));
    assert_eq!(brk(&mut vm, h + 3 * PAGE + 1), Ok(h + 3 * PAGE + 1));
    assert_eq!(vm.kernel.mapped(20), 4);
    assert_eq!(vm.kernel.read(20, h + 4 * PAGE - 1, 1), Some(vec![0]));
    assert_eq!(brk(&mut vm, h + PAGE), Ok(h + PAGE));
    assert_eq!(vm.kernel.mapped(20), 1);
    // Out of the window: refused, nothing changes.
    assert_eq!(brk(&mut vm, abi::HEAP_END + PAGE), Err(Errno::ENOMEM));
    assert_eq!(brk(&mut vm, 5), Err(Errno::ENOMEM));
    assert_eq!(brk(&mut vm, 0), Ok(h + PAGE));
    // Out of frames: refused before anything is mapped.
    vm.kernel.free = 100;
    assert_eq!(brk(&mut vm, h + 200 * PAGE), Err(Errno::ENOMEM));
    assert_eq!((vm.kernel.mapped(20), brk(&mut vm, 0)), (1, Ok(h + PAGE)));
    // The kernel refusing half-way: what was mapped is unmapped again.
    vm.kernel.free = 100_000;
    vm.kernel.maps_left = Some(1);
    assert_eq!(brk(&mut vm, h + 3000 * PAGE), Err(Errno::ENOMEM));
    assert_eq!((vm.kernel.mapped(20), brk(&mut vm, 0)), (1, Ok(h + PAGE)));
    vm.kernel.maps_left = None;
    // Large growth goes in MapPages-sized chunks.
    assert!(brk(&mut vm, h + 3000 * PAGE).is_ok());
    assert_eq!(vm.kernel.mapped(20), 3000);
}

#[test]
fn mmap_munmap_and_mprotect_reach_the_kernel() {
    let mut vm = vm();
    let rw = prot::READ | prot::WRITE;
    let a = call(
        &mut vm,
        VmCall::Mmap {
            id: 1,
            len: 3 * PAGE,
            prot: rw,
        },
    )
    .unwrap();
    assert_eq!(a, abi::MMAP_BASE);
    assert_eq!(vm.kernel.mapped(20), 3);
    let unmap = VmCall::Munmap {
        id: 2,
        addr: a + PAGE,
        len: PAGE,
    };
    assert_eq!(call(&mut vm, unmap), Ok(0));
    assert_eq!(vm.kernel.read(20, a + PAGE, 1), None);
    assert_eq!(vm.kernel.read(20, a + 2 * PAGE, 1), Some(vec![0]));
    let ro = VmCall::Mprotect {
        id: 3,
        addr: a,
        len: PAGE,
        prot: prot::READ,
    };
    assert_eq!(call(&mut vm, ro), Ok(0));
    assert!(!vm.kernel.pages[&(20, a)].writable);
    // Over the hole: ENOMEM.
    let over = VmCall::Mprotect {
        id: 4,
        addr: a,
        len: 3 * PAGE,
        prot: rw,
    };
    assert_eq!(call(&mut vm, over), Err(Errno::ENOMEM));
    let back = VmCall::Mprotect {
        id: 5,
        addr: a,
        len: PAGE,
        prot: rw,
    };
    assert_eq!(call(&mut vm, back), Ok(0));
    assert!(vm.kernel.pages[&(20, a)].writable);
    // A read-only mapping is mapped read-only.
    let r = call(
        &mut vm,
        VmCall::Mmap {
            id: 6,
            len: 1,
            prot: prot::READ,
        },
    )
    .unwrap();
    assert!(!vm.kernel.pages[&(20, r)].writable);
    let info = vm.user_call(P, VmCall::Info { id: 9 });
    assert!(matches!(info.result, Ok(VmAnswer::Info(i)) if i.total == 20_000));
}

fn grant(vm: &mut Vm<Fake>, id: u32, bytes: Vec<u8>) -> GrantRef {
    let len = bytes.len() as u64;
    vm.kernel.grants.insert((P.0, id), bytes);
    GrantRef {
        granter: P,
        grant: GrantId(id),
        len,
    }
}

fn exec_call(vm: &mut Vm<Fake>, image: Vec<u8>, block: Vec<u8>) -> Result<VmAnswer, Errno> {
    let image = grant(vm, 1, image);
    let block = grant(vm, 2, block);
    vm.pm_call(VmPmCall::Exec {
        id: 5,
        ep: P,
        image,
        block,
    })
    .result
}

#[test]
fn exec_builds_the_image_stack_and_block() {
    let mut vm = vm();
    // Something of the old image that must go.
    assert!(brk(&mut vm, abi::HEAP_BASE + PAGE).is_ok());
    let elf = testelf::small();
    let block = b"prog\0arg\0\0HOME=/\0".to_vec();
    let Ok(VmAnswer::Exec(x)) = exec_call(&mut vm, elf.clone(), block.clone()) else {
        panic!("exec failed");
    };
    let k = &vm.kernel;
    assert_eq!(x.entry, abi::USER_BASE + 16);
    assert_eq!((x.block_addr % 16, x.block_len), (0, block.len() as u64));
    assert_eq!(x.rsp, x.block_addr - 8);
    assert_eq!(k.read(20, x.block_addr, block.len()), Some(block));
    // Code and data bytes from the file, bss zero, old heap gone.
    assert_eq!(
        k.read(20, abi::USER_BASE, 0x1800).unwrap(),
        elf[0x1000..0x2800]
    );
    assert_eq!(
        k.read(20, abi::USER_BASE + 0x2000, 0x800).unwrap(),
        elf[0x3000..0x3800]
    );
    assert!(
        k.read(20, abi::USER_BASE + 0x2800, 0x3800)
            .unwrap()
            .iter()
            .all(|&b| b == 0)
    );
    assert_eq!(k.read(20, abi::HEAP_BASE, 1), None);
    // 6 image pages + the exec stack.
    let stack = (abi::EXEC_STACK_SIZE / PAGE) as usize;
    assert_eq!(k.mapped(20), 6 + stack);
    assert!(k.pagers.contains(&20));
    // Code read-only once its bytes are in, data writable.
    assert!(!k.pages[&(20, abi::USER_BASE)].writable);
    assert!(!k.pages[&(20, abi::USER_BASE + PAGE)].writable);
    assert!(k.pages[&(20, abi::USER_BASE + 0x2000)].writable);
    assert!(exec_call(&mut vm, elf, vec![]).is_ok());
    // The new regions: brk starts at the heap base, the stack grows.
    let t = vm.table().borrow();
    let s = t.space(P).unwrap();
    assert_eq!(s.brk(), abi::HEAP_BASE);
    assert_eq!(t.stats.execs, 2);
}

#[test]
fn read_only_image_pages_are_kept_and_shared_by_the_next_exec() {
    let mut vm = vm();
    let elf = testelf::small();
    let code = abi::USER_BASE;
    assert!(exec_call(&mut vm, elf.clone(), vec![]).is_ok());
    // Built afresh, then kept: VM's slot maps the same bytes.
    assert!(!vm.kernel.shared.contains(&(20, code)));
    assert_eq!(vm.text_kept(), 1);
    let slot = crate::textcache::slot_addr(0);
    assert_eq!(
        vm.kernel.read(7, slot, 0x2000),
        vm.kernel.read(20, code, 0x2000)
    );
    // The same program again: the code pages are the kept frames,
    // read-only, with the file's bytes; data is built as before.
    assert!(exec_call(&mut vm, elf.clone(), vec![]).is_ok());
    let k = &vm.kernel;
    assert!(k.shared.contains(&(20, code)) && k.shared.contains(&(20, code + PAGE)));
    assert!(!k.pages[&(20, code)].writable);
    assert_eq!(k.read(20, code, 0x1800).unwrap(), elf[0x1000..0x2800]);
    assert!(
        k.read(20, code + 0x1800, 0x800)
            .unwrap()
            .iter()
            .all(|&b| b == 0)
    );
    assert!(!k.shared.contains(&(20, code + 0x2000)));
    assert!(k.pages[&(20, code + 0x2000)].writable);
    assert_eq!(
        k.read(20, code + 0x2000, 0x800).unwrap(),
        elf[0x3000..0x3800]
    );
    // Another process execs it too.
    vm.kernel.live.insert(21);
    let image = grant(&mut vm, 1, elf.clone());
    let block = grant(&mut vm, 2, vec![]);
    let r = vm.pm_call(VmPmCall::Exec {
        id: 6,
        ep: Endpoint(21),
        image,
        block,
    });
    assert!(r.result.is_ok());
    assert!(vm.kernel.shared.contains(&(21, code)));
    // Other code bytes: built afresh with their own bytes, and kept too.
    let mut other = elf.clone();
    other[0x1010] ^= 0xff;
    assert!(exec_call(&mut vm, other.clone(), vec![]).is_ok());
    let k = &vm.kernel;
    assert!(!k.shared.contains(&(20, code)));
    assert_eq!(k.read(20, code, 0x1800).unwrap(), other[0x1000..0x2800]);
    assert_eq!(vm.text_kept(), 2);
    // A kept slot VM lost: the exec still builds the right bytes.
    vm.kernel.unmap(Endpoint(7), slot, 2).unwrap();
    assert!(exec_call(&mut vm, elf.clone(), vec![]).is_ok());
    assert_eq!(
        vm.kernel.read(20, code, 0x1800).unwrap(),
        elf[0x1000..0x2800]
    );
    assert!(!vm.kernel.pages[&(20, code)].writable);
    assert_eq!(vm.text_kept(), 2);
}

#[test]
fn a_refused_exec_leaves_the_caller_intact() {
    let mut vm = vm();
    assert!(brk(&mut vm, abi::HEAP_BASE + PAGE).is_ok());
    let before = vm.kernel.pages.len();
    let mut bad = testelf::small();
    bad[0] = 0;
    assert_eq!(exec_call(&mut vm, bad, vec![]), Err(Errno::ENOEXEC));
    let small = testelf::small();
    assert_eq!(
        exec_call(&mut vm, small[..100].to_vec(), vec![]),
        Err(Errno::ENOEXEC)
    );
    assert_eq!(
        exec_call(
            &mut vm,
            small.clone(),
            vec![b'x'; exec::MAX_BLOCK as usize + 1]
        ),
        Err(Errno::E2BIG)
    );
    vm.kernel.free = 50;
    assert_eq!(
        exec_call(&mut vm, small.clone(), vec![]),
        Err(Errno::ENOMEM)
    );
    vm.kernel.free = 10_000;
    // A grant VM cannot read.
    let image = GrantRef {
        granter: P,
        grant: GrantId(99),
        len: 100,
    };
    let r = vm.pm_call(VmPmCall::Exec {
        id: 1,
        ep: P,
        image,
        block: image,
    });
    assert_eq!(r.result, Err(Errno::EFAULT));
    // A process that is gone.
    let image = grant(&mut vm, 1, small);
    let r = vm.pm_call(VmPmCall::Exec {
        id: 1,
        ep: Endpoint(99),
        image,
        block: image,
    });
    assert_eq!(r.result, Err(Errno::ESRCH));
    assert_eq!(vm.kernel.pages.len(), before);
    assert_eq!(brk(&mut vm, 0), Ok(abi::HEAP_BASE + PAGE));
    assert!(vm.kernel.killed.is_empty());
    assert_eq!(vm.table().borrow().stats.exec_refused, 6);
}

#[test]
fn an_exec_failing_after_the_teardown_kills_the_process() {
    let mut vm = vm();
    vm.kernel.maps_left = Some(1);
    assert_eq!(
        exec_call(&mut vm, testelf::small(), vec![]),
        Err(Errno::ENOMEM)
    );
    assert_eq!(vm.kernel.killed, vec![20]);
    assert!(vm.table().borrow().space(P).is_none());
    assert_eq!(vm.table().borrow().stats.exec_lost, 1);
}

#[test]
fn fork_copies_regions_and_faults_break_cow() {
    let mut vm = vm();
    assert!(exec_call(&mut vm, testelf::small(), b"a\0\0".to_vec()).is_ok());
    assert!(brk(&mut vm, abi::HEAP_BASE + PAGE).is_ok());
    let r = vm.pm_call(VmPmCall::Fork { id: 3, parent: P });
    let child = Endpoint(r.value().unwrap() as u32);
    {
        let t = vm.table().borrow();
        assert_eq!(t.space(child), t.space(P));
    }
    assert!(vm.kernel.pagers.contains(&child.0));
    let data = abi::USER_BASE + 0x2000;
    let deep = abi::USER_STACK_TOP - abi::EXEC_STACK_SIZE - 5;
    let write_present = fault_bits::PRESENT | fault_bits::WRITE;
    for f in [
        (child, data + 8, write_present),
        (P, data + 8, write_present),
        (child, deep, fault_bits::WRITE),
        (child, abi::USER_BASE, write_present),
        (P, STACK_LOW - 8, fault_bits::WRITE),
    ] {
        vm.kernel.faults.push_back(Fault {
            ep: f.0,
            addr: f.1,
            error: f.2,
            rip: 0,
        });
    }
    assert_eq!(vm.page_faults(), 5);
    let fixes: Vec<_> = vm.kernel.fixes.iter().map(|f| (f.0, f.2)).collect();
    assert_eq!(
        fixes,
        vec![
            (child.0, Fix::Cow),
            (P.0, Fix::Cow),
            (child.0, Fix::Retry),
            (child.0, Fix::Fail),
            (P.0, Fix::Fail),
        ]
    );
    assert!(vm.kernel.pages.contains_key(&(child.0, deep & !(PAGE - 1))));
    let s = vm.table().borrow().stats;
    assert_eq!((s.cow, s.zero, s.failed, s.forks), (2, 1, 2, 1));
    // A copy-on-write fix the kernel refuses fails the fault.
    vm.kernel.live.insert(P.0);
    vm.kernel.faults.push_back(Fault {
        ep: P,
        addr: data,
        error: write_present,
        rip: 0,
    });
    vm.page_faults();
    assert_eq!(vm.kernel.fixes.last().map(|f| f.2), Some(Fix::Fail));
    // Exit forgets the child.
    assert!(
        vm.pm_call(VmPmCall::Exit { id: 4, ep: child })
            .value()
            .is_ok()
    );
    assert!(vm.table().borrow().space(child).is_none());
}

#[test]
fn unknown_processes_are_adopted_conservatively() {
    let mut vm = vm();
    let other = Endpoint(21);
    // Fork of a process VM never saw: it becomes its pager first.
    let child = vm
        .pm_call(VmPmCall::Fork {
            id: 1,
            parent: other,
        })
        .value()
        .unwrap();
    assert!(vm.kernel.pagers.contains(&21) && vm.kernel.pagers.contains(&(child as u32)));
    assert_eq!(
        vm.pm_call(VmPmCall::Fork {
            id: 2,
            parent: Endpoint(99)
        })
        .result,
        Err(Errno::ESRCH)
    );
    assert_eq!(
        vm.pm_call(VmPmCall::NewProc { id: 3, ep: P }).value(),
        Ok(0)
    );
    assert!(vm.kernel.pagers.contains(&20));
    // Its heap works from HEAP_BASE; faults in its image area are not
    // answered with fresh pages.
    assert_eq!(brk(&mut vm, abi::HEAP_BASE + 10), Ok(abi::HEAP_BASE + 10));
    vm.kernel.faults.push_back(Fault {
        ep: P,
        addr: abi::USER_BASE + 0x5000,
        error: fault_bits::WRITE,
        rip: 0,
    });
    vm.page_faults();
    assert_eq!(vm.kernel.fixes.last().map(|f| f.2), Some(Fix::Fail));
    // A fault of a process VM pages but does not know (state lost).
    vm.kernel.faults.push_back(Fault {
        ep: Endpoint(33),
        addr: 0x10,
        error: 0,
        rip: 0,
    });
    vm.page_faults();
    assert_eq!(vm.kernel.fixes.last(), Some(&(33, 0x10, Fix::Fail)));
}

#[test]
fn adoption_keeps_the_heap_a_process_grew_before_it() {
    // bootinit grows its heap through VM before PM adopts it (NewProc):
    // the adoption must not reset its break, or the next brk maps fresh
    // zero pages over the live heap (bootinit then failed debug checks
    // in copy_nonoverlapping on the heap's corrupted contents).
    let mut vm = vm();
    let h = abi::HEAP_BASE;
    assert_eq!(brk(&mut vm, h + 2 * PAGE + 7), Ok(h + 2 * PAGE + 7));
    vm.kernel.copy_to(P, h + PAGE, b"live heap").unwrap();
    assert_eq!(
        vm.pm_call(VmPmCall::NewProc { id: 1, ep: P }).value(),
        Ok(0)
    );
    assert!(vm.kernel.pagers.contains(&20));
    assert_eq!(brk(&mut vm, 0), Ok(h + 2 * PAGE + 7));
    assert_eq!(brk(&mut vm, h + 5 * PAGE), Ok(h + 5 * PAGE));
    assert_eq!(vm.kernel.mapped(20), 5);
    assert_eq!(vm.kernel.read(20, h + PAGE, 9), Some(b"live heap".to_vec()));
}

#[test]
fn the_space_table_is_bounded() {
    let mut vm = vm();
    for ep in 1000..1000 + MAX_SPACES as u32 {
        vm.table().borrow_mut().spaces.insert(ep, Space::adopted());
    }
    // All dead: forgotten to make room.
    assert!(
        vm.pm_call(VmPmCall::NewProc { id: 1, ep: P })
            .value()
            .is_ok()
    );
    assert_eq!(vm.table().borrow().len(), 1);
    for ep in 1000..1000 + MAX_SPACES as u32 {
        vm.kernel.live.insert(ep);
        vm.table().borrow_mut().spaces.insert(ep, Space::adopted());
    }
    assert_eq!(
        brk(&mut Vm::new(Fake::new(), vm.table().clone()), 0),
        Ok(abi::HEAP_BASE)
    );
    let r = vm.pm_call(VmPmCall::Fork {
        id: 2,
        parent: Endpoint(21),
    });
    assert_eq!(r.result, Err(Errno::EAGAIN));
}

/// A stand-in PM for the simulator: passes every request it gets on to
/// VM and answers with VM's reply.
struct RelayPm;

impl Service for RelayPm {
    fn init(&mut self, _: &mut Ctx<'_>, _: InitInfo) -> Result<(), Errno> {
        Ok(())
    }

    fn handle(&mut self, cx: &mut Ctx<'_>, msg: Message) -> Option<Message> {
        let vm = sys::ds::retrieve_label(cx.sys, "vm").ok()?;
        cx.sys.sendrec(vm, msg).ok()
    }
}

#[test]
fn in_the_simulator_only_pm_may_make_pm_calls() {
    use sim::system::{ds_service, register_programs, service};
    use sim::{Sim, SimConfig};
    use sys::proto::service::Policy;
    use sys::{HZ, Sef, StateStore};

    let mut sim = Sim::new(SimConfig::new(11));
    register_programs(&mut sim);
    sim.register("vm", || {
        Box::new(Sef::new(
            Vm::new(Fake::new(), Rc::new(RefCell::new(Table::default()))),
            StateStore::None,
        ))
    });
    sim.register("pm", || Box::new(Sef::new(RelayPm, StateStore::None)));
    let table = vec![
        ds_service(),
        service("vm", "vm", Policy::Restart, HZ),
        service("pm", "pm", Policy::Restart, HZ),
    ];
    assert!(
        sim.start_rs(alloc::boxed::Box::new(rs::Rs::new(
            rs::RsConfig::with_table(table)
        )))
        .is_ok()
    );
    assert!(sim.run_until(100 * HZ, |s| {
        s.with_process::<rs::Rs, _>("rs", |rs| rs.booted())
            .unwrap_or(false)
    }));
    let vm = sim.endpoint_of("vm").unwrap();
    let pm = sim.endpoint_of("pm").unwrap();
    let exit = VmPmCall::Exit {
        id: 77,
        ep: Endpoint(20),
    };
    let direct = VmReply::try_from(&sim.call(vm, exit.to_message()).unwrap()).unwrap();
    assert_eq!((direct.id, direct.result), (77, Err(Errno::EPERM)));
    let relayed = VmReply::try_from(&sim.call(pm, exit.to_message()).unwrap()).unwrap();
    assert_eq!((relayed.id, relayed.result), (77, Ok(VmAnswer::Value(0))));
    // Users' calls act on the caller; unknown types get ENOSYS.
    let brk = VmCall::Brk { id: 78, addr: 0 };
    let r = VmReply::try_from(&sim.call(vm, brk.to_message()).unwrap()).unwrap();
    assert_eq!((r.id, r.value()), (78, Ok(abi::HEAP_BASE)));
    let mut junk = Message::new(0xbff);
    junk.payload_mut()[..8].copy_from_slice(&79u64.to_le_bytes());
    let r = VmReply::try_from(&sim.call(vm, junk).unwrap()).unwrap();
    assert_eq!((r.id, r.result), (79, Err(Errno::ENOSYS)));
}

// ---- block-device mappings (MmapFile -> PeekDev -> map) ----------------------

use sys::proto::ds::{DsAnswer, DsReply, DsRequest};
use sys::proto::kernel::DeadPeer;
use sys::proto::vfs::{VfsAnswer, VfsReply, VfsVmCall};
use sys::{GrantAccess, SpawnSpec, Ticks};

const VFS: u32 = 50;

/// The transport around VM: DS names VFS, grants keep their buffers (the
/// test writes into them as VFS's file server would), requests and sends
/// are recorded.
#[derive(Default)]
struct FakeSys {
    grants: BTreeMap<u32, Vec<u8>>,
    next_grant: u32,
    requests: Vec<(u32, Message)>,
    sent: Vec<(u32, Message)>,
    /// VFS refuses requests (dead).
    vfs_dead: bool,
}

impl sys::Sys for FakeSys {
    fn self_endpoint(&self) -> Endpoint {
        Endpoint(7)
    }
    fn now(&self) -> Ticks {
        5
    }
    fn send(&mut self, dest: Endpoint, msg: Message) -> Result<(), Errno> {
        self.sent.push((dest.0, msg));
        Ok(())
    }
    fn request(&mut self, dest: Endpoint, msg: Message) -> Result<(), Errno> {
        if self.vfs_dead {
            return Err(Errno::EDEADSRCDST(None));
        }
        self.requests.push((dest.0, msg));
        Ok(())
    }
    fn sendrec(&mut self, dest: Endpoint, msg: Message) -> Result<Message, Errno> {
        assert_eq!(dest, Endpoint::DS);
        let DsRequest::Retrieve { key, .. } = DsRequest::try_from(&msg)? else {
            return Err(Errno::ENOSYS);
        };
        assert_eq!(key, "vfs");
        Ok(DsReply {
            id: 0,
            result: Ok(DsAnswer {
                key: alloc::string::String::new(),
                ty: None,
                value: VFS,
                len: 0,
                deleted: false,
            }),
        }
        .to_message())
    }
    fn receive(&mut self, _: Endpoint) -> Result<Message, Errno> {
        Err(Errno::ENOSYS)
    }
    fn notify(&mut self, _: Endpoint) -> Result<(), Errno> {
        Ok(())
    }
    fn set_alarm(&mut self, _: Ticks) {}
    fn grant_create(
        &mut self,
        grantee: Endpoint,
        access: GrantAccess,
        buf: Vec<u8>,
    ) -> Result<GrantId, Errno> {
        assert_eq!((grantee.0, access), (VFS, GrantAccess::WRITE));
        self.next_grant += 1;
        self.grants.insert(self.next_grant, buf);
        Ok(GrantId(self.next_grant))
    }
    fn grant_revoke(&mut self, gid: GrantId) -> Result<Vec<u8>, Errno> {
        self.grants.remove(&gid.0).ok_or(Errno::EINVAL)
    }
    fn safecopy_from(
        &mut self,
        _: Endpoint,
        _: GrantId,
        _: usize,
        _: &mut [u8],
    ) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    fn safecopy_to(&mut self, _: Endpoint, _: GrantId, _: usize, _: &[u8]) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    fn exit(&mut self, _: i32) {}
    fn panic(&mut self, why: &str) {
        panic!("VM panicked: {why}");
    }
    fn preserve(&mut self, _: Vec<u8>) {}
    fn preserved(&mut self) -> Option<Vec<u8>> {
        None
    }
    fn spawn(&mut self, _: &SpawnSpec<'_>) -> Result<Endpoint, Errno> {
        Err(Errno::ENOSYS)
    }
    fn kill(&mut self, _: Endpoint) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    fn sig_send(&mut self, _: Endpoint, _: u32) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    fn log(&mut self, _: &str) {}
}

fn from(src: u32, mut m: Message) -> Message {
    m.set_source(Endpoint(src));
    m
}

/// `P` asks for a mapping; VM's PeekDev to VFS (if it sent one).
fn mmap_file(
    vm: &mut Vm<Fake>,
    s: &mut FakeSys,
    id: u64,
    offset: u64,
    len: u64,
) -> Option<VfsVmCall> {
    let c = VmCall::MmapFile {
        id,
        fd: 3,
        offset,
        len,
        prot: prot::READ,
    };
    let before = s.requests.len();
    if let Some(r) = vm.handle_message(s, &from(P.0, c.to_message())) {
        s.sent.push((P.0, r));
    }
    (s.requests.len() > before).then(|| {
        let (to, m) = s.requests.last().unwrap();
        assert_eq!(*to, VFS);
        VfsVmCall::try_from(m).unwrap()
    })
}

/// VFS's file server fills `data` into the PeekDev's buffer; VFS answers
/// `result`. Returns VM's answer to `P`.
fn vfs_answers(
    vm: &mut Vm<Fake>,
    s: &mut FakeSys,
    peek: VfsVmCall,
    data: &[u8],
    result: Result<i64, Errno>,
) -> VmReply {
    let VfsVmCall::PeekDev { id, buf, .. } = peek;
    s.grants.get_mut(&buf.grant.0).unwrap()[..data.len()].copy_from_slice(data);
    let r = VfsReply {
        id,
        result: result.map(VfsAnswer::Value),
    };
    assert!(vm.handle_message(s, &from(VFS, r.to_message())).is_none());
    last_answer(s)
}

fn last_answer(s: &mut FakeSys) -> VmReply {
    let (to, m) = s.sent.pop().expect("an answer");
    assert_eq!(to, P.0);
    VmReply::try_from(&m).unwrap()
}

fn device(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 + 1) as u8).collect()
}

#[test]
fn a_block_device_mapping_is_filled_from_vfs_read_only_and_ends_at_the_device_end() {
    let mut vm = vm();
    let mut s = FakeSys::default();
    // 4 pages asked at offset 8192 of a 3·4096−512-byte device: VFS gives
    // 3584 bytes: one page mapped (the rest of it zero), three reserved.
    let peek = mmap_file(&mut vm, &mut s, 1, 2 * PAGE, 4 * PAGE).expect("asked VFS");
    let VfsVmCall::PeekDev {
        ep, fd, pos, buf, ..
    } = peek;
    assert_eq!((ep, fd, pos, buf.len), (P, 3, 2 * PAGE, 4 * PAGE as u32));
    assert!(s.sent.is_empty(), "the caller waits for VFS");
    assert_eq!(vm.file_maps_waiting(), 1);
    let data = device(3584);
    let r = vfs_answers(&mut vm, &mut s, peek, &data, Ok(3584));
    assert_eq!(r.id, 1);
    let Ok(VmAnswer::Mapped { addr, readable }) = r.result else {
        panic!("{r:?}");
    };
    assert_eq!((addr, readable), (abi::MMAP_BASE, PAGE));
    assert_eq!(vm.kernel.read(20, addr, 3584), Some(data));
    assert_eq!(
        vm.kernel.read(20, addr + 3584, 512),
        Some(vec![0; 512]),
        "the rest of the last page is zero"
    );
    assert_eq!(
        vm.kernel.mapped(20),
        1,
        "pages past the device end are not mapped"
    );
    assert!(!vm.kernel.pages[&(20, addr)].writable, "read-only");
    assert!(s.grants.is_empty(), "the grant was revoked");
    assert_eq!(vm.file_maps_waiting(), 0);
    // Faults: a read past the mapped page and a write anywhere fail.
    let t = vm.table().borrow().space(P).unwrap().clone();
    assert_eq!(t.fault(addr + PAGE, 0), FaultAction::Fail);
    assert_eq!(t.fault(addr + 3 * PAGE + 8, 0), FaultAction::Fail);
    assert_eq!(
        t.fault(addr, fault_bits::PRESENT | fault_bits::WRITE),
        FaultAction::Fail
    );
    // The next anonymous mapping goes after the whole (4-page) mapping.
    let a2 = call(
        &mut vm,
        VmCall::Mmap {
            id: 2,
            len: PAGE,
            prot: prot::READ,
        },
    );
    assert_eq!(a2, Ok(addr + 4 * PAGE));
    // munmap releases it, reserved pages and all.
    assert_eq!(
        call(
            &mut vm,
            VmCall::Munmap {
                id: 3,
                addr,
                len: 4 * PAGE,
            }
        ),
        Ok(0)
    );
    assert_eq!(vm.kernel.mapped(20), 1, "only the anonymous page is left");
    let a3 = call(
        &mut vm,
        VmCall::Mmap {
            id: 4,
            len: 4 * PAGE,
            prot: prot::READ,
        },
    );
    assert_eq!(a3, Ok(addr), "the range is free again");
}

#[test]
fn whole_pages_inside_the_device_are_all_mapped() {
    let mut vm = vm();
    let mut s = FakeSys::default();
    let peek = mmap_file(&mut vm, &mut s, 1, 0, 2 * PAGE - 100).unwrap();
    let data = device(2 * PAGE as usize);
    let r = vfs_answers(&mut vm, &mut s, peek, &data, Ok(2 * PAGE as i64));
    assert_eq!(
        r.result,
        Ok(VmAnswer::Mapped {
            addr: abi::MMAP_BASE,
            readable: 2 * PAGE
        })
    );
    assert_eq!(vm.kernel.read(20, abi::MMAP_BASE, data.len()), Some(data));
}

#[test]
fn block_device_mapping_errors() {
    let mut vm = vm();
    let mut s = FakeSys::default();
    let refused = |vm: &mut Vm<Fake>, s: &mut FakeSys, offset, len, p| {
        let c = VmCall::MmapFile {
            id: 9,
            fd: 3,
            offset,
            len,
            prot: p,
        };
        let r = vm.handle_message(s, &from(P.0, c.to_message())).unwrap();
        assert!(s.requests.is_empty(), "VFS not asked");
        VmReply::try_from(&r).unwrap().result
    };
    let rw = prot::READ | prot::WRITE;
    assert_eq!(refused(&mut vm, &mut s, 0, PAGE, rw), Err(Errno::EACCES));
    assert_eq!(
        refused(&mut vm, &mut s, 0, 0, prot::READ),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        refused(&mut vm, &mut s, 100, PAGE, prot::READ),
        Err(Errno::EINVAL)
    );
    assert_eq!(refused(&mut vm, &mut s, 0, PAGE, 64), Err(Errno::EINVAL));
    assert_eq!(
        refused(&mut vm, &mut s, 0, MAX_FILE_MAP + 1, prot::READ),
        Err(Errno::ENOMEM)
    );
    vm.kernel.free = 10;
    assert_eq!(
        refused(&mut vm, &mut s, 0, 64 * PAGE, prot::READ),
        Err(Errno::ENOMEM)
    );
    vm.kernel.free = 10_000;

    // At or past the end of the device: VFS reads nothing -> ENXIO.
    let peek = mmap_file(&mut vm, &mut s, 2, 3 * PAGE, PAGE).unwrap();
    assert_eq!(
        vfs_answers(&mut vm, &mut s, peek, &[], Ok(0)).result,
        Err(Errno::ENXIO)
    );
    // VFS's errors come through (not a block device).
    let peek = mmap_file(&mut vm, &mut s, 3, 0, PAGE).unwrap();
    assert_eq!(
        vfs_answers(&mut vm, &mut s, peek, &[], Err(Errno::ENODEV)).result,
        Err(Errno::ENODEV)
    );
    // A count larger than asked is VFS's bug: EIO, nothing mapped.
    let peek = mmap_file(&mut vm, &mut s, 4, 0, PAGE).unwrap();
    assert_eq!(
        vfs_answers(&mut vm, &mut s, peek, &[], Ok(PAGE as i64 + 1)).result,
        Err(Errno::EIO)
    );
    assert_eq!(vm.kernel.mapped(20), 0);
    assert!(s.grants.is_empty());

    // An answer from someone else than VFS, or for no request, is ignored.
    let peek = mmap_file(&mut vm, &mut s, 5, 0, PAGE).unwrap();
    let VfsVmCall::PeekDev { id, .. } = peek;
    let fake = VfsReply {
        id,
        result: Ok(VfsAnswer::Value(5)),
    };
    let r = vm.handle_message(&mut s, &from(21, fake.to_message()));
    assert!(r.is_some_and(|m| VmReply::try_from(&m).unwrap().result == Err(Errno::ENOSYS)));
    assert_eq!(vm.file_maps_waiting(), 1);
    // VFS dies before answering: the bounce fails the mapping with EIO.
    let (_, req) = s.requests.last().copied().unwrap();
    let bounce = from(
        Endpoint::SYSTEM.0,
        DeadPeer::for_request(Endpoint(VFS), None, &req).to_message(),
    );
    assert!(vm.handle_message(&mut s, &bounce).is_none());
    assert_eq!(last_answer(&mut s).result, Err(Errno::EIO));
    assert_eq!(vm.file_maps_waiting(), 0);
    assert!(s.grants.is_empty());
    // VFS unreachable: EIO at once, no grant left behind.
    s.vfs_dead = true;
    assert_eq!(mmap_file(&mut vm, &mut s, 6, 0, PAGE), None);
    assert_eq!(last_answer(&mut s).result, Err(Errno::EIO));
    assert!(s.grants.is_empty());
}

#[test]
fn a_caller_gone_before_vfs_answers_gets_nothing_mapped() {
    let mut vm = vm();
    let mut s = FakeSys::default();
    let peek = mmap_file(&mut vm, &mut s, 1, 0, PAGE).unwrap();
    vm.kernel.live.remove(&20);
    let VfsVmCall::PeekDev { id, .. } = peek;
    let r = VfsReply {
        id,
        result: Ok(VfsAnswer::Value(PAGE as i64)),
    };
    assert!(
        vm.handle_message(&mut s, &from(VFS, r.to_message()))
            .is_none()
    );
    assert!(s.sent.is_empty());
    assert!(s.grants.is_empty());
    assert_eq!(vm.kernel.mapped(20), 0);
}
