//! `isofs`: look into ISO 9660 images (info, ls, cat, get).
//!
//! A thin wrapper: all logic is in `images::isotool`, so tests can call it.
fn main() {
    let code = images::isotool::run_with(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::exit(code);
}
