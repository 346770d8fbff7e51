//! `images`: builds the kernel and boot modules and runs them in QEMU.
//!
//! * `images build [--release]`: kernel + boot programs for
//!   `x86_64-unknown-none` into `target/os`, `kernel32.elf` via objcopy,
//!   and the default module list `target/os/<profile>/modules.txt`.
//! * `images rootdisk [--release] [--rc FILE] [--size-mib N] IMAGE`: builds,
//!   then makes an MFS root disk: `images/rootfs.proto` plus the user
//!   programs (`/sbin/init`, `/bin/...`) and `/etc/rc` (FILE, or
//!   `images::rootdisk::DEFAULT_RC`).
//! * `images iso [--release] [--rc FILE] OUT.iso`: builds, then makes
//!   the bootable installation ISO (`images::iso`): the root disk's tree,
//!   `/boot` with the kernel, the modules and GRUB's configuration, made
//!   with `grub-mkrescue`; the root is the ISO itself (isofs).
//! * `images installed-disk [--size-mib N] DISK`: builds, then makes on
//!   the host what `/bin/setup` makes: GRUB (boot.img, core.img) and an
//!   MFS partition with the system, bootable by the firmware.
//! * `images clippy`: clippy with `-D warnings` on the OS crates for
//!   `x86_64-unknown-none`.
//! * `images ipc-bench [--rounds N] [--release] [--kvm]`: median `sendrec`
//!   round trip between `ping` and `pong` in QEMU, and a Linux pipe
//!   ping-pong on the host, both in TSC cycles.
//! * `images run [--release] [--kvm] [--timeout SECS] [--log FILE]
//!   [--modules "prog[:name] args,..."] [--append ARGS] [--disk IMAGE]...
//!   [--ramdisk IMAGE] [--interactive] [--firmware]`: builds, then boots in QEMU (TCG unless `--kvm`);
//!   `--firmware` boots the disks through SeaBIOS instead (an ISO, an installed disk).
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
    /// Build, then make an MFS root disk with the user programs and /etc/rc.
    Rootdisk {
        /// Use the release profile.
        #[arg(long)]
        release: bool,
        /// The commands init runs (default: a short demonstration).
        #[arg(long)]
        rc: Option<PathBuf>,
        /// Disk size in MiB.
        #[arg(long, default_value_t = 64)]
        size_mib: u64,
        /// The image file to make.
        image: PathBuf,
    },
    /// Build, then make the bootable installation ISO (GRUB, the kernel,
    /// the boot modules and the system tree; the root is the ISO).
    Iso {
        /// Use the release profile.
        #[arg(long)]
        release: bool,
        /// The ISO's /etc/rc (default: images::iso::ISO_RC).
        #[arg(long)]
        rc: Option<PathBuf>,
        /// The ISO file to make.
        iso: PathBuf,
    },
    /// Build, then make on the host what the installer makes: a disk
    /// with GRUB in its MBR gap and the system on an MFS partition.
    InstalledDisk {
        /// Use the release profile.
        #[arg(long)]
        release: bool,
        /// Disk size in MiB.
        #[arg(long, default_value_t = 128)]
        size_mib: u64,
        /// The disk image to make.
        image: PathBuf,
    },
    /// Run clippy (-D warnings) on the OS crates for x86_64-unknown-none.
    Clippy,
    /// Benchmark: sendrec round trip between two user processes in QEMU
    /// versus a Linux pipe ping-pong on the host, both in TSC cycles.
    IpcBench {
        /// Round trips to time (median reported).
        #[arg(long, default_value_t = 2000)]
        rounds: usize,
        /// Use the release profile.
        #[arg(long)]
        release: bool,
        /// Use KVM instead of TCG.
        #[arg(long)]
        kvm: bool,
    },
    /// Build, then boot in QEMU; exit status 0 only for a pass (QEMU 33).
    Run {
        /// Use the release profile.
        #[arg(long)]
        release: bool,
        /// Use KVM instead of TCG (slower on nested machines, and on this
        /// nested host system calls from user mode fail under KVM; see
        /// kernel/README.md).
        #[arg(long)]
        kvm: bool,
        /// Kill QEMU after this many seconds (0: never).
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
        /// Raw disk image to attach as a virtio-blk drive (repeatable: the
        /// driver's minors 0, 1, ... in order).
        #[arg(long = "disk")]
        disks: Vec<PathBuf>,
        /// CD image (ISO) on the IDE secondary master (`at_wini` drive 2,
        /// `/dev/c1d2`), on a PIIX3 IDE controller added to the machine.
        #[arg(long)]
        cdrom: Option<PathBuf>,
        /// Raw disk image on IDE drive N (0 primary master .. 3 secondary
        /// slave: `at_wini` minor N, `/dev/c1dN`), written `N:IMAGE`
        /// (repeatable).
        #[arg(long = "ide-disk", value_parser = parse_ide_disk)]
        ide_disks: Vec<(u8, PathBuf)>,
        /// Disk image loaded as the RAM disk (boot data module `ramdisk`,
        /// the memory driver's block minor 0; MFS mounts it as the root
        /// when the boot image has no virtio-blk driver).
        #[arg(long)]
        ramdisk: Option<PathBuf>,
        /// Show the serial console on the terminal while running.
        #[arg(long)]
        interactive: bool,
        /// Boot through the firmware from the disks (an installation ISO,
        /// an installed disk) instead of loading the kernel and modules
        /// (`--modules`, `--append`, `--ramdisk` are then not used).
        #[arg(long)]
        firmware: bool,
    },
}

/// `N:IMAGE` of `--ide-disk`: drive N (0-3) and the image.
fn parse_ide_disk(s: &str) -> Result<(u8, PathBuf), String> {
    let (n, path) = s
        .split_once(':')
        .ok_or_else(|| format!("'{s}': expected DRIVE:IMAGE (drive 0-3)"))?;
    match n.parse::<u8>() {
        Ok(n) if n < 4 && !path.is_empty() => Ok((n, PathBuf::from(path))),
        _ => Err(format!("'{s}': expected DRIVE:IMAGE (drive 0-3)")),
    }
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
        Cmd::Rootdisk {
            release,
            rc,
            size_mib,
            image,
        } => {
            let out = build::build(BuildOptions { release })?;
            let rc = match rc {
                Some(p) => std::fs::read_to_string(&p)
                    .with_context(|| format!("reading {}", p.display()))?,
                None => images::rootdisk::DEFAULT_RC.to_string(),
            };
            images::rootdisk::make_root_disk(
                &image,
                size_mib << 20,
                &images::rootdisk::user_programs(&out),
                &rc,
            )?;
            println!("root disk with the user programs: {}", image.display());
            Ok(())
        }
        Cmd::Iso { release, rc, iso } => {
            let out = build::build(BuildOptions { release })?;
            let rc = match rc {
                Some(p) => std::fs::read_to_string(&p)
                    .with_context(|| format!("reading {}", p.display()))?,
                None => images::iso::ISO_RC.to_string(),
            };
            images::iso::make_iso(&out, &iso, &rc, &[])?;
            println!("installation ISO: {}", iso.display());
            Ok(())
        }
        Cmd::InstalledDisk {
            release,
            size_mib,
            image,
        } => {
            let out = build::build(BuildOptions { release })?;
            let at = images::iso::make_installed_disk(
                &out,
                &image,
                size_mib << 20,
                images::rootdisk::DEFAULT_RC,
            )?;
            println!(
                "installed disk: {} (MFS partition at byte {at})",
                image.display()
            );
            Ok(())
        }
        Cmd::Clippy => Ok(build::clippy()?),
        Cmd::IpcBench {
            rounds,
            release,
            kvm,
        } => ipc_bench(rounds, release, kvm),
        Cmd::Run {
            release,
            kvm,
            timeout,
            log,
            modules,
            append,
            disks,
            cdrom,
            ide_disks,
            ramdisk,
            interactive,
            firmware,
        } => {
            let ide = ide_disks.iter().map(|(_, p)| p);
            if let Some(d) = disks.iter().chain(ide).chain(&cdrom).find(|d| !d.is_file()) {
                bail!("disk image {} does not exist", d.display());
            }
            let log = log.unwrap_or_else(|| build::os_target_dir().join("serial.log"));
            let mut cfg = if firmware {
                // GRUB on the CD or disk loads the kernel and modules.
                QemuConfig::firmware(log.clone())
            } else {
                let out = build::build(BuildOptions { release })?;
                let mut specs =
                    ModuleSpec::parse_list(modules.as_deref().unwrap_or(build::DEFAULT_MODULES))?;
                if let Some(r) = &ramdisk {
                    if !r.is_file() {
                        bail!("RAM-disk image {} does not exist", r.display());
                    }
                    specs.push(ModuleSpec::ramdisk(r));
                }
                let stage = out.kernel32.with_file_name("boot");
                let initrd = build::stage_modules(&out, &specs, &stage)?;
                let mut cfg = QemuConfig::new(out.kernel32.clone(), initrd, log.clone());
                cfg.append = append;
                cfg
            };
            cfg.kvm = kvm;
            cfg.timeout = Duration::from_secs(timeout);
            cfg.disks = disks;
            cfg.cdrom = cdrom;
            cfg.ide_disks = ide_disks;
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

fn ipc_bench(rounds: usize, release: bool, kvm: bool) -> anyhow::Result<()> {
    let out = build::build(BuildOptions { release })?;
    let specs = ModuleSpec::parse_list(&format!("pong,ping 1 bench {rounds}"))?;
    let stage = out.kernel32.with_file_name("boot");
    let initrd = build::stage_modules(&out, &specs, &stage)?;
    let log = build::os_target_dir().join("ipc-bench.log");
    let mut cfg = QemuConfig::new(out.kernel32.clone(), initrd, log);
    cfg.kvm = kvm;
    let result = qemu::run(&cfg).context("running QEMU")?;
    if !result.passed() {
        print!("{}", result.serial);
        bail!("benchmark run failed: {}", result.describe());
    }
    let line = result
        .serial
        .lines()
        .find(|l| l.contains("bench: sendrec round trip"))
        .context("the guest printed no benchmark line")?;
    let accel = if kvm { "KVM" } else { "TCG" };
    let profile = if release { "release" } else { "debug" };
    println!("QEMU ({accel}, {profile} build): {line}");
    let (median, min, max) = pipe_ping_pong(rounds)?;
    println!(
        "host Linux pipe ping-pong: round trip median {median} cycles over {rounds} rounds (min {min}, max {max})"
    );
    Ok(())
}

fn tsc() -> u64 {
    // SAFETY: `rdtsc` only reads the time-stamp counter; it is available
    // on every x86-64 CPU and has no memory effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Round trips of 8 bytes between two threads over two pipes.
fn pipe_ping_pong(rounds: usize) -> anyhow::Result<(u64, u64, u64)> {
    use std::io::{Read, Write};
    let (mut to_echo_r, mut to_echo_w) = std::io::pipe()?;
    let (mut back_r, mut back_w) = std::io::pipe()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let mut buf = [0u8; 8];
        for _ in 0..rounds {
            to_echo_r.read_exact(&mut buf)?;
            back_w.write_all(&buf)?;
        }
        Ok(())
    });
    let mut cycles = Vec::with_capacity(rounds);
    let mut buf = [0u8; 8];
    for i in 0..rounds as u64 {
        let t0 = tsc();
        to_echo_w.write_all(&i.to_le_bytes())?;
        back_r.read_exact(&mut buf)?;
        cycles.push(tsc().wrapping_sub(t0));
        anyhow::ensure!(
            u64::from_le_bytes(buf) == i,
            "pipe echo returned the wrong value"
        );
    }
    echo.join()
        .map_err(|_| anyhow::anyhow!("echo thread panicked"))??;
    cycles.sort_unstable();
    anyhow::ensure!(!cycles.is_empty(), "no rounds");
    Ok((cycles[rounds / 2], cycles[0], cycles[rounds - 1]))
}
