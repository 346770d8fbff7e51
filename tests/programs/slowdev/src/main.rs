//! `slowdev`: the late-answering test character driver (see the README)
//! as a SEF service RS starts from its table.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod os {
    /// Ticks each select answer is late.
    const DELAY: u64 = 50;

    rt::entry!(main);

    fn main(args: &str) -> i32 {
        if native::is_image_only(args) {
            rt::println!("boot image only; RS starts the service");
            return 0;
        }
        native::run(sys::Sef::new(
            sys::sef::ProcessService(slowdev::SlowDev::new(DELAY)),
            sys::StateStore::None,
        ))
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
