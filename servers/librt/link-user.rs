//! The build script of every boot program (`build =
//! "<relative path>/servers/librt/link-user.rs"` in its Cargo.toml): links it with the shared user linker script
//! (`servers/librt/user.ld`) when building for the OS target. The script's
//! path comes from `USER_LD` in `.cargo/config.toml` (`[env]`, relative to
//! the workspace root), so a program links the same wherever its folder sits.
fn main() {
    println!("cargo:rerun-if-env-changed=USER_LD");
    let Ok(script) = std::env::var("USER_LD") else {
        // Host builds (`cargo test` of a workspace member) never link with
        // the script; an OS build without it would link at the wrong address.
        if std::env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-none") {
            panic!("USER_LD is unset: build from the workspace so .cargo/config.toml applies");
        }
        return;
    };
    if std::env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-none") {
        println!("cargo:rustc-link-arg-bins=-T{script}");
    }
    println!("cargo:rerun-if-changed={script}");
}
