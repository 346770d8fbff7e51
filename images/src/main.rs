//! `images`: builds the kernel and boot modules and runs them in QEMU.
fn main() -> anyhow::Result<()> {
    anyhow::bail!("images: no command implemented yet")
}
