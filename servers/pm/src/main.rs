//! `pm`: the process manager ([`pm::server::Pm`]) on the kernel, started
//! by RS from its service table (label `pm`). Its kernel calls go through
//! `rt::sys` ([`Native`]). Listed as a boot module with the argument
//! `image` so that `Spawn` finds its image; `adopt=NAME[,NAME]` on that
//! line names the boot-started user processes to adopt (default
//! `bootinit`, which becomes pid 1).
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod os {
    use alloc::rc::Rc;
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::cell::RefCell;
    use pm::server::{Config, Kernel, Pm, Regs, Shared};
    use rt::abi;
    use rt::persist::{FreshReason, Start};
    use sys::Errno;

    rt::entry!(main);

    /// The kernel calls of PM over `rt::sys`.
    struct Native {
        me: u32,
    }

    fn e(x: abi::Errno) -> Errno {
        native::errno(x)
    }

    impl Kernel for Native {
        fn whois(&mut self, name: &str) -> Option<u32> {
            rt::ipc::whois(name).ok()
        }

        fn set_sigmgr(&mut self, ep: u32, mgr: u32) -> Result<(), Errno> {
            rt::sys::set_sigmgr(ep, mgr).map_err(e)
        }

        fn sig_pending(&mut self) -> Option<(u32, u64)> {
            rt::sys::sig_pending().ok().flatten()
        }

        fn proc_info(&mut self, ep: u32) -> Result<[u64; abi::PROCINFO_WORDS], Errno> {
            rt::sys::proc_info(ep).map_err(e)
        }

        fn kill(&mut self, ep: u32) -> Result<(), Errno> {
            rt::sys::kill(ep).map_err(e)
        }

        fn release(&mut self, ep: u32) -> Result<(), Errno> {
            rt::sys::release(ep).map_err(e)
        }

        fn stop(&mut self, ep: u32) -> Result<u32, Errno> {
            rt::sys::stop(ep).map_err(e)
        }

        fn resume(&mut self, ep: u32) -> Result<(), Errno> {
            rt::sys::resume(ep).map_err(e)
        }

        fn get_regs(&mut self, ep: u32) -> Result<Regs, Errno> {
            rt::sys::get_regs(ep).map_err(e)
        }

        fn set_regs(&mut self, ep: u32, regs: &Regs) -> Result<(), Errno> {
            rt::sys::set_regs(ep, regs).map_err(e)
        }

        fn copy_to(&mut self, ep: u32, addr: u64, bytes: &[u8]) -> Result<(), Errno> {
            let n = rt::sys::vircopy(self.me, bytes.as_ptr() as u64, ep, addr, bytes.len() as u64)
                .map_err(e)?;
            if n as usize == bytes.len() {
                Ok(())
            } else {
                Err(Errno::EFAULT)
            }
        }

        fn copy_from(&mut self, ep: u32, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
            let n = rt::sys::vircopy(ep, addr, self.me, buf.as_mut_ptr() as u64, buf.len() as u64)
                .map_err(e)?;
            if n as usize == buf.len() {
                Ok(())
            } else {
                Err(Errno::EFAULT)
            }
        }

        fn set_entry(
            &mut self,
            ep: u32,
            rip: u64,
            rsp: u64,
            rdi: u64,
            rsi: u64,
        ) -> Result<(), Errno> {
            rt::sys::set_entry(ep, rip, rsp, rdi, rsi).map_err(e)
        }

        fn set_name(&mut self, ep: u32, name: &str) -> Result<(), Errno> {
            rt::sys::set_name(ep, name).map_err(e)
        }

        fn times(&mut self, ep: u32) -> Result<[u64; abi::TIMES_WORDS], Errno> {
            rt::sys::times(ep).map_err(e)
        }

        fn shutdown(&mut self, verdict: u64) {
            rt::sys::shutdown(verdict)
        }
    }

    /// Boot option `volatile` (on the `pm` module line): the table lives
    /// in the ordinary heap and a restart forgets it. Read without
    /// allocating (before the preserved heap starts).
    fn volatile() -> bool {
        rt::sys::boot_module_line("pm", |l| {
            l.unwrap_or("")
                .split_ascii_whitespace()
                .any(|w| w == "volatile")
        })
        .unwrap_or(false)
    }

    /// `adopt=a,b` from PM's boot-module line, else the default.
    fn config() -> Config {
        let mut cfg = Config::default();
        let adopt: Option<Vec<String>> = rt::sys::boot_module_line("pm", |line| {
            line.unwrap_or("")
                .split_ascii_whitespace()
                .find_map(|w| w.strip_prefix("adopt="))
                .map(|v| {
                    v.split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
        })
        .ok()
        .flatten();
        if let Some(a) = adopt {
            cfg.adopt = a;
        }
        cfg
    }

    type Root = RefCell<Pm<Native>>;

    fn new_root(pm: Pm<Native>) -> Rc<Root> {
        let r = Rc::new(RefCell::new(pm));
        if !rt::persist::register_root(&r) {
            rt::println!("pm: preserved heap: cannot register the table; a restart forgets it");
        }
        r
    }

    /// The predecessor's PM from the preserved heap (the whole table), or
    /// a new one. One that is still borrowed died inside a message: its
    /// table may be half-changed, so it is not taken.
    fn root(
        start: Result<Start, rt::persist::PreserveError>,
        fresh: impl FnOnce() -> Pm<Native>,
    ) -> Rc<Root> {
        match start {
            Ok(Start::Adopted(u)) => match rt::persist::take_root::<Root>() {
                Some(r) if r.try_borrow_mut().is_ok() => {
                    rt::println!(
                        "pm: preserved heap adopted (generation {}): {} processes",
                        u.generation,
                        r.borrow().table().len()
                    );
                    r
                }
                Some(_) => {
                    rt::println!(
                        "pm: the previous instance died inside a message; starting with an empty process table"
                    );
                    new_root(fresh())
                }
                None => {
                    rt::println!("pm: preserved heap without a table; starting with an empty one");
                    new_root(fresh())
                }
            },
            Ok(Start::Fresh(FreshReason::Empty)) => new_root(fresh()),
            Ok(Start::Fresh(why)) => {
                rt::println!("pm: preserved heap started afresh ({why:?})");
                new_root(fresh())
            }
            Err(e) => {
                rt::println!("pm: preserved heap unavailable ({e:?}); a restart forgets the table");
                Rc::new(RefCell::new(fresh()))
            }
        }
    }

    fn main(args: &str) -> i32 {
        if native::is_image_only(args) {
            rt::println!("boot image only; RS starts the service");
            return 0;
        }
        // The preserved heap first: nothing may be allocated before.
        let start = (!volatile()).then(rt::persist::start);
        let me = rt::ipc::whois("").unwrap_or(abi::ENDPOINT_NONE);
        let fresh = || Pm::new(Native { me }, config());
        let pm = match start {
            Some(start) => root(start, fresh),
            None => {
                rt::println!("pm: volatile: a restart forgets the process table");
                Rc::new(RefCell::new(fresh()))
            }
        };
        native::run(sys::Sef::new(Shared(pm), sys::StateStore::None))
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
