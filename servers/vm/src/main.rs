//! `vm`: the VM server (see the crate README) as a boot program. RS starts
//! it from its service table (label `vm`, restarted under the same
//! endpoint, which stays the pager of every process it pages); its
//! address-space table lives in the preserved heap (`rt::persist`), so a
//! restarted instance takes it back. Listed as a boot module with the
//! argument `image` so that `Spawn` finds its image.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod os {
    extern crate alloc;

    use alloc::rc::Rc;
    use core::cell::RefCell;
    use native::errno;
    use rt::abi;
    use rt::persist::{FreshReason, Start};
    use sys::proto::vm::{GrantRef, MemInfo};
    use sys::{Endpoint, Errno};
    use vm::server::{Fault, Fix, Kernel, Table, Vm};

    rt::entry!(main);

    /// The memory kernel calls, through `rt::sys`.
    struct NativeKernel {
        me: Endpoint,
    }

    impl Kernel for NativeKernel {
        fn me(&self) -> Endpoint {
            self.me
        }

        fn map_pages(
            &mut self,
            ep: Endpoint,
            addr: u64,
            count: u64,
            writable: bool,
        ) -> Result<(), Errno> {
            rt::sys::map_pages(ep.0, addr, count, writable).map_err(errno)
        }

        fn unmap(&mut self, ep: Endpoint, addr: u64, count: u64) -> Result<(), Errno> {
            rt::sys::unmap(ep.0, addr, count).map(drop).map_err(errno)
        }

        fn protect(
            &mut self,
            ep: Endpoint,
            addr: u64,
            count: u64,
            writable: bool,
        ) -> Result<(), Errno> {
            rt::sys::protect(ep.0, addr, count, writable)
                .map(drop)
                .map_err(errno)
        }

        fn clear_space(&mut self, ep: Endpoint) -> Result<(), Errno> {
            rt::sys::clear_space(ep.0).map(drop).map_err(errno)
        }

        fn share_pages(
            &mut self,
            src: Endpoint,
            addr: u64,
            dst: Endpoint,
            dst_addr: u64,
            count: u64,
        ) -> Result<(), Errno> {
            rt::sys::share_pages(src.0, addr, dst.0, dst_addr, count)
                .map(drop)
                .map_err(errno)
        }

        fn copy_to(&mut self, ep: Endpoint, addr: u64, data: &[u8]) -> Result<(), Errno> {
            for (i, chunk) in data.chunks(abi::MAX_SAFECOPY as usize).enumerate() {
                let off = i as u64 * abi::MAX_SAFECOPY;
                let src = chunk.as_ptr() as u64;
                let n = chunk.len() as u64;
                let done = rt::sys::vircopy(self.me.0, src, ep.0, addr + off, n).map_err(errno)?;
                if done != n {
                    return Err(Errno::EFAULT);
                }
            }
            Ok(())
        }

        fn copy_from_grant(&mut self, g: &GrantRef, dst: &mut [u8]) -> Result<(), Errno> {
            let n = rt::grant::copy_from(g.granter.0, g.grant.0, 0, dst).map_err(errno)?;
            if n == dst.len() {
                Ok(())
            } else {
                Err(Errno::EFAULT)
            }
        }

        fn proc_fork(&mut self, parent: Endpoint) -> Result<Endpoint, Errno> {
            rt::sys::proc_fork(parent.0).map(Endpoint).map_err(errno)
        }

        fn set_pager(&mut self, ep: Endpoint) -> Result<(), Errno> {
            rt::sys::set_pager(ep.0, self.me.0).map_err(errno)
        }

        fn next_fault(&mut self) -> Option<Fault> {
            let f = rt::sys::page_faults().ok().flatten()?;
            Some(Fault {
                ep: Endpoint(f.endpoint),
                addr: f.addr,
                error: f.error,
                rip: f.rip,
            })
        }

        fn page_fix(&mut self, ep: Endpoint, addr: u64, fix: Fix) -> Result<(), Errno> {
            let action = match fix {
                Fix::Retry => abi::PAGEFIX_RETRY,
                Fix::Cow => abi::PAGEFIX_COW,
                Fix::Fail => abi::PAGEFIX_FAIL,
            };
            rt::sys::page_fix(ep.0, addr, action).map_err(errno)
        }

        fn mem_stats(&mut self) -> Result<MemInfo, Errno> {
            let s = rt::sys::mem_stats().map_err(errno)?;
            Ok(MemInfo {
                total: s.total,
                free: s.free,
                shared: s.shared,
                cow_copies: s.cow_copies,
                cow_nocopy: s.cow_reuses,
            })
        }

        fn kill(&mut self, ep: Endpoint) -> Result<(), Errno> {
            rt::sys::kill(ep.0).map_err(errno)
        }

        fn alive(&mut self, ep: Endpoint) -> bool {
            rt::sys::slot_owner(ep.0) == Ok(ep.0)
        }
    }

    /// A new table registered as the preserved heap's root.
    fn new_root() -> Rc<RefCell<Table>> {
        let t = Rc::new(RefCell::new(Table::default()));
        if !rt::persist::register_root(&t) {
            rt::println!("preserved heap: cannot register the table; a restart forgets it");
        }
        t
    }

    /// The predecessor's table from the preserved heap, or a new one.
    fn table() -> Rc<RefCell<Table>> {
        match rt::persist::start() {
            Ok(Start::Adopted(u)) => match rt::persist::take_root::<RefCell<Table>>() {
                Some(t) if t.try_borrow_mut().is_ok() => {
                    let n = t.borrow().len();
                    rt::println!(
                        "preserved heap adopted (generation {}): {n} address spaces",
                        u.generation
                    );
                    t
                }
                Some(_) => {
                    rt::println!(
                        "preserved heap: the previous instance died inside a request; starting with no address spaces"
                    );
                    new_root()
                }
                None => {
                    rt::println!("preserved heap: no table; starting with no address spaces");
                    new_root()
                }
            },
            Ok(Start::Fresh(FreshReason::Empty)) => new_root(),
            Ok(Start::Fresh(why)) => {
                rt::println!("preserved heap started afresh ({why:?})");
                new_root()
            }
            Err(e) => {
                rt::println!("preserved heap unavailable ({e:?}); a restart forgets the table");
                Rc::new(RefCell::new(Table::default()))
            }
        }
    }

    /// Boot option `volatile` (on the `vm` module line): the table lives
    /// in the ordinary heap and a restart forgets it (the negative control
    /// of the restart test).
    fn volatile() -> bool {
        rt::sys::boot_module_line("vm", |l| {
            l.unwrap_or("")
                .split_ascii_whitespace()
                .any(|w| w == "volatile")
        })
        .unwrap_or(false)
    }

    fn main(args: &str) -> i32 {
        if native::is_image_only(args) {
            rt::println!("boot image only; RS starts the service");
            return 0;
        }
        let table = if volatile() {
            rt::println!("volatile: a restart forgets the address spaces");
            Rc::new(RefCell::new(Table::default()))
        } else {
            table()
        };
        let me = rt::ipc::whois("").map_or(Endpoint::NONE, Endpoint);
        native::run(sys::Sef::new(
            Vm::new(NativeKernel { me }, table),
            sys::StateStore::None,
        ))
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
