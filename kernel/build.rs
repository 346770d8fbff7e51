//! Passes the kernel's linker script (load address 1 MiB, multiboot header
//! first) to the kernel binary only, and rebuilds when it changes.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = format!("{dir}/linker.ld");
    if std::env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-none") {
        println!("cargo:rustc-link-arg-bins=-T{script}");
    }
    println!("cargo:rerun-if-changed={script}");
}
