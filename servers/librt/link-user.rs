//! The build script of every boot program (`build = "../rt/link-user.rs"`
//! in its Cargo.toml): links it with the shared user linker script
//! (`servers/rt/user.ld`) when building for the OS target.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = format!("{dir}/../rt/user.ld");
    if std::env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-none") {
        println!("cargo:rustc-link-arg-bins=-T{script}");
    }
    println!("cargo:rerun-if-changed={script}");
}
