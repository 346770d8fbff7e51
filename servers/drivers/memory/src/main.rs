//! `memory`: the memory driver (see the crate README) as a boot program.
//! RS starts it from its service table; it maps the RAM-disk data module
//! named by its argument (default `ramdisk`) if the boot image has one.
#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod os {
    /// Name of the RAM disk's data module.
    const RAMDISK_MODULE: &str = "ramdisk";

    rt::entry!(main);

    fn main(args: &str) -> i32 {
        if native::is_image_only(args) {
            rt::println!("boot image only; RS starts the service");
            return 0;
        }
        let disk: &'static mut [u8] = match rt::module::map(RAMDISK_MODULE) {
            Ok(d) => {
                rt::println!(
                    "RAM disk: data module '{RAMDISK_MODULE}', {} KiB",
                    d.len() / 1024
                );
                d
            }
            Err(_) => &mut [],
        };
        // A new number for every instance: the clock at start, plus one.
        let instance = rt::sys::uptime() + 1;
        native::run(sys::Sef::new(
            memory::Memory::new(disk, instance),
            sys::StateStore::None,
        ))
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
