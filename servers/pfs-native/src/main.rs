//! `pfs`: the pipe file server (`pfs::server`) on the kernel. RS starts it
//! from its service table (stateful: pipe contents and waiting requests
//! are kept across a restart through preserved memory) and restarts it
//! under the same endpoint. Only VFS sends it requests. Listed as a boot
//! module with the argument `image` so that `Spawn` finds its image.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

rt::entry!(main);

fn main(args: &str) -> i32 {
    if native::is_image_only(args) {
        rt::println!("boot image only; RS starts the service");
        return 0;
    }
    let cfg = pfs::server::Config {
        // Only VFS may send it requests.
        client_label: Some("vfs"),
        ..pfs::server::Config::default()
    };
    native::run(sys::Sef::new(
        pfs::server::Pfs::new(cfg),
        sys::StateStore::Preserved,
    ))
}
