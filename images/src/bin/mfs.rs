//! `mfs`: make, check, inspect and edit MINIX file-system images.
//!
//! A thin wrapper: all logic is in `images::mfstool`, so tests can call it.
fn main() {
    let code = images::mfstool::run_with(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::exit(code);
}
