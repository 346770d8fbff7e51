//! `mfs`: make, check, inspect and edit MINIX file-system images.
fn main() -> anyhow::Result<()> {
    anyhow::bail!("mfs: no command implemented yet")
}
