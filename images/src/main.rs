//! `images`: builds the kernel and boot modules and runs them in QEMU.
//!
//! * `images build [--release]`: kernel + boot programs for
//!   `x86_64-unknown-none` into `target/os`, `kernel32.elf` via objcopy,
//!   and the default module list `target/os/<profile>/modules.txt`.
//! * `images clippy`: clippy with `-D warnings` on the OS crates for
//!   `x86_64-unknown-none`.
//! * `images run [--release] [--kvm] [--timeout SECS] [--log FILE]
//!   [--modules "prog[:name] args,..."] [--append ARGS] [--disk IMAGE]
//!   [--interactive]`: builds, then boots in QEMU (TCG unless `--kvm`).
//!   Exits 0 only when QEMU exits with status 33 (the kernel's pass code).
//!
//! The work is done by the library (`images::build`, `images::qemu`) so the
//! system tests use the same code.
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use images::build::{self, BuildOptions, ModuleSpec};
use images::qemu::{self, QemuConfig};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "images", about = "Build the OS and run it in QEMU")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the kernel and all boot programs.
    Build {
        /// Use the release profile.
        #[arg(long)]
        release: bool,
    },
    /// Run clippy (-D warnings) on the OS crates for x86_64-unknown-none.
    Clippy,
    /// Build, then boot in QEMU; exit status 0 only for a pass (QEMU 33).
    Run {
        /// Use the release profile.
        #[arg(long)]
        release: bool,
        /// Use KVM instead of TCG (slower on nested machines).
        #[arg(long)]
        kvm: bool,
        /// Kill QEMU after this many seconds.
        #[arg(long, default_value_t = qemu::DEFAULT_TIMEOUT.as_secs())]
        timeout: u64,
        /// Serial log file (default target/os/serial.log).
        #[arg(long)]
        log: Option<PathBuf>,
        /// Boot modules: "prog[:name] args,..." (default: the list in
        /// images::build::DEFAULT_MODULES).
        #[arg(long)]
        modules: Option<String>,
        /// Kernel command line (e.g. "strict").
        #[arg(long, default_value = "")]
        append: String,
        /// Raw disk image to attach as an IDE drive.
        #[arg(long)]
        disk: Option<PathBuf>,
        /// Show the serial console on the terminal while running.
        #[arg(long)]
        interactive: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Build { release } => {
            let out = build::build(BuildOptions { release })?;
            println!("kernel (multiboot): {}", out.kernel32.display());
            println!("programs: {}", out.bin_dir.display());
            println!("module list: {}", out.module_list.display());
            Ok(())
        }
        Cmd::Clippy => Ok(build::clippy()?),
        Cmd::Run {
            release,
            kvm,
            timeout,
            log,
            modules,
            append,
            disk,
            interactive,
        } => {
            let out = build::build(BuildOptions { release })?;
            let specs =
                ModuleSpec::parse_list(modules.as_deref().unwrap_or(build::DEFAULT_MODULES))?;
            let stage = out.kernel32.with_file_name("boot");
            let initrd = build::stage_modules(&out, &specs, &stage)?;
            if let Some(d) = &disk
                && !d.is_file()
            {
                bail!("disk image {} does not exist", d.display());
            }
            let log = log.unwrap_or_else(|| build::os_target_dir().join("serial.log"));
            let mut cfg = QemuConfig::new(out.kernel32.clone(), initrd, log.clone());
            cfg.kvm = kvm;
            cfg.timeout = Duration::from_secs(timeout);
            cfg.append = append;
            cfg.disk = disk;
            cfg.interactive = interactive;
            let result = qemu::run(&cfg).context("running QEMU")?;
            if !interactive {
                print!("{}", result.serial);
            }
            eprintln!(
                "images: {} (serial log: {})",
                result.describe(),
                log.display()
            );
            if result.passed() {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
    }
}
