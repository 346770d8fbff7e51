//! Building the OS: the kernel and every boot program for
//! `x86_64-unknown-none`, the multiboot copy of the kernel, and boot module
//! lists.
//!
//! Builds go to `target/os` (a separate target dir, so a build started from
//! inside `cargo test` does not wait on the outer build's lock) with
//! `cargo build --target x86_64-unknown-none -p kernel -p <programs>`, then
//! GNU `objcopy -O elf32-i386` makes `kernel32.elf`, because QEMU's multiboot
//! loader refuses ELF64.
//!
//! A module list is written as `prog[:name] args, ...`: `prog` is a boot
//! program (see [`PROGRAMS`]), `name` the process name (default `prog`; the
//! binary is staged under that file name because the kernel names a process
//! after the basename of its module path), and `args` its argument string.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use thiserror::Error;

/// Target triple of every OS binary.
pub const OS_TARGET: &str = "x86_64-unknown-none";
/// Boot programs built with the kernel.
pub const PROGRAMS: &[&str] = &[
    "hello",
    "fault",
    "ping",
    "pong",
    "grants",
    "timer",
    "privs",
    "sigmgr",
    "rs-native",
    "ds-native",
    "echo",
    "echoclient",
    "vault",
    "counter",
    "sysfuzz",
    "mfs-native",
    "isofs-native",
    "vfs-native",
    "pfs-native",
    "fsclient",
    "fstest",
    "virtio-blk",
    "at_wini",
    "blkclient",
    "memory",
    "slowdev",
    "tty",
    "fsbench",
    "fsload",
    "vm",
    "vmtest",
    "pm",
    "bootinit",
];
/// User programs installed on the root disk rather than booted: (crate,
/// binary, path on the disk). Built with the boot programs; stripped
/// copies go to [`BuildOutput::disk_dir`] (see `images::rootdisk`).
pub const DISK_PROGRAMS: &[(&str, &str, &str)] = &[
    ("init", "init", "/sbin/init"),
    ("child", "child", "/bin/child"),
    ("proctest", "proctest", "/bin/proctest"),
    ("procbench", "procbench", "/bin/procbench"),
    ("sh", "sh", "/bin/sh"),
    ("sysutils", "true", "/bin/true"),
    ("sysutils", "false", "/bin/false"),
    ("sysutils", "wc", "/bin/wc"),
    ("sysutils", "head", "/bin/head"),
    ("sysutils", "tail", "/bin/tail"),
    ("sysutils", "grep", "/bin/grep"),
    ("sysutils", "sort", "/bin/sort"),
    ("sysutils", "cksum", "/bin/cksum"),
    ("sysutils", "od", "/bin/od"),
    ("sysutils", "hexdump", "/bin/hexdump"),
    ("sysutils", "ps", "/bin/ps"),
    ("sysutils", "kill", "/bin/kill"),
    ("sysutils", "sleep", "/bin/sleep"),
    ("sysutils", "date", "/bin/date"),
    ("sysutils", "uname", "/bin/uname"),
    ("sysutils", "env", "/bin/env"),
    ("sysutils", "halt", "/sbin/halt"),
    // One program under two names (it tells them apart by argv[0]).
    ("sysutils", "halt", "/sbin/poweroff"),
    ("sysutils", "mkfs-mfs", "/sbin/mkfs.mfs"),
    ("sysutils", "fsck-mfs", "/sbin/fsck.mfs"),
    ("pmcheck", "pmcheck", "/bin/pmcheck"),
    ("ttytest", "ttytest", "/bin/ttytest"),
    ("service", "service", "/bin/service"),
    ("test85", "test85", "/bin/test85"),
    ("fileutils", "ls", "/bin/ls"),
    ("fileutils", "cat", "/bin/cat"),
    ("fileutils", "echo-util", "/bin/echo"),
    ("fileutils", "cp", "/bin/cp"),
    ("fileutils", "mv", "/bin/mv"),
    ("fileutils", "rm", "/bin/rm"),
    ("fileutils", "mkdir", "/bin/mkdir"),
    ("fileutils", "rmdir", "/bin/rmdir"),
    ("fileutils", "ln", "/bin/ln"),
    ("fileutils", "stat", "/bin/stat"),
    ("fileutils", "touch", "/bin/touch"),
    ("fileutils", "chmod", "/bin/chmod"),
    ("fileutils", "chown", "/bin/chown"),
    ("fileutils", "df", "/bin/df"),
    ("fileutils", "du", "/bin/du"),
    ("fileutils", "mount", "/bin/mount"),
    ("fileutils", "umount", "/bin/umount"),
    ("fileutils", "sync", "/bin/sync"),
    ("fileutils", "dd", "/bin/dd"),
    ("fileutils", "mknod", "/bin/mknod"),
    ("test40", "test40", "/bin/test40"),
    ("test77", "test77", "/bin/test77"),
    ("crashload", "crashload", "/bin/crashload"),
    ("setup", "setup", "/bin/setup"),
];
/// Name of the RAM disk's data module (`servers/drivers/memory` maps it).
pub const RAMDISK_MODULE: &str = "ramdisk";
/// Argument that marks a boot module as data (`abi::DATA_MODULE_ARG`).
pub const DATA_MODULE_ARG: &str = "data";
/// Modules booted when none are given: two programs that exit normally and
/// three that fault in different ways.
pub const DEFAULT_MODULES: &str =
    "hello,hello:hello2 second instance,fault:fault_pf pf,fault:fault_gp gp,fault:fault_de de";

/// Errors from building or staging.
#[derive(Debug, Error)]
pub enum BuildError {
    /// A tool could not be started.
    #[error("cannot run `{tool}`: {source} (is it installed?)")]
    Spawn {
        /// The command.
        tool: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A tool ran and failed.
    #[error("`{tool}` failed with {status}")]
    Failed {
        /// The command line.
        tool: String,
        /// Its exit status.
        status: std::process::ExitStatus,
    },
    /// An expected output file is missing.
    #[error("build output {0} is missing")]
    Missing(PathBuf),
    /// A module specification could not be understood.
    #[error("bad module spec `{0}`: {1}")]
    BadModule(String, &'static str),
    /// File-system error while staging.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// Build settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildOptions {
    /// Release profile instead of dev.
    pub release: bool,
}

/// Files produced by [`build`].
#[derive(Clone, Debug)]
pub struct BuildOutput {
    /// The kernel as ELF64 (for gdb).
    pub kernel_elf64: PathBuf,
    /// The kernel as ELF32, for `-kernel`.
    pub kernel32: PathBuf,
    /// Directory holding the program binaries.
    pub bin_dir: PathBuf,
    /// The default module list file (`modules.txt`, one spec per line).
    pub module_list: PathBuf,
}

impl BuildOutput {
    /// Path of a built boot program.
    pub fn program(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// Directory of the stripped disk programs ([`DISK_PROGRAMS`], by
    /// binary name).
    pub fn disk_dir(&self) -> PathBuf {
        self.kernel32.with_file_name("disk")
    }
}

/// The workspace root (parent of the `images` crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `target/os` in the workspace.
pub fn os_target_dir() -> PathBuf {
    workspace_root().join("target").join("os")
}

/// Crates compiled only for the OS target besides the boot programs
/// (checked by [`clippy`] with [`PROGRAMS`]); the runtimes `rt` and
/// `native` are also host crates but are checked here for the target too.
pub const OS_LIBRARIES: &[&str] = &["kernel", "rt", "native", "ulib", "minixtest"];

/// Every crate [`clippy`] checks for the OS target: [`OS_LIBRARIES`], the
/// [`PROGRAMS`] and the [`DISK_PROGRAMS`].
pub fn os_crates() -> Vec<&'static str> {
    OS_LIBRARIES
        .iter()
        .chain(PROGRAMS)
        .copied()
        .chain(DISK_PROGRAMS.iter().map(|d| d.0))
        .collect()
}

/// `cargo <subcommand> --target x86_64-unknown-none --target-dir target/os
/// -p <crates>`, with the outer build's flags removed.
fn os_cargo(subcommand: &str, crates: &[&str]) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(workspace_root())
        .args([subcommand, "--target", OS_TARGET, "--target-dir"])
        .arg(os_target_dir());
    for p in crates {
        cmd.args(["-p", p]);
    }
    // Flags meant for an outer host build would replace the
    // `relocation-model=static` from .cargo/config.toml and break the link.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs clippy with `-D warnings` on every OS crate for the OS target.
pub fn clippy() -> Result<(), BuildError> {
    let mut cmd = os_cargo("clippy", &os_crates());
    cmd.args(["--", "-D", "warnings"]);
    run(&mut cmd, "cargo clippy (OS crates)")
}

/// Builds the kernel and all [`PROGRAMS`], converts the kernel, and writes
/// the default module list.
pub fn build(opts: BuildOptions) -> Result<BuildOutput, BuildError> {
    let target_dir = os_target_dir();
    let crates: Vec<&str> = std::iter::once("kernel")
        .chain(PROGRAMS.iter().copied())
        .chain(DISK_PROGRAMS.iter().map(|d| d.0))
        .collect();
    let mut cmd = os_cargo("build", &crates);
    if opts.release {
        cmd.arg("--release");
    }
    run(&mut cmd, "cargo build (OS)")?;

    let profile = if opts.release { "release" } else { "debug" };
    let bin_dir = target_dir.join(OS_TARGET).join(profile);
    let kernel_elf64 = bin_dir.join("kernel");
    for f in std::iter::once("kernel")
        .chain(PROGRAMS.iter().copied())
        .chain(DISK_PROGRAMS.iter().map(|d| d.1))
    {
        let p = bin_dir.join(f);
        if !p.is_file() {
            return Err(BuildError::Missing(p));
        }
    }
    let out_dir = target_dir.join(profile);
    std::fs::create_dir_all(&out_dir).map_err(|e| BuildError::Io(out_dir.clone(), e))?;
    let kernel32 = out_dir.join("kernel32.elf");
    // Parallel test processes each build the OS while others are already
    // booting it: write beside the target and rename, so a QEMU that is
    // loading the kernel never sees a half-written file.
    let staging = out_dir.join(format!("kernel32.elf.{}.tmp", std::process::id()));
    let mut objcopy = Command::new("objcopy");
    objcopy
        .args(["-O", "elf32-i386"])
        .arg(&kernel_elf64)
        .arg(&staging);
    run(&mut objcopy, "objcopy -O elf32-i386")?;
    std::fs::rename(&staging, &kernel32).map_err(|e| BuildError::Io(kernel32.clone(), e))?;

    // The disk programs, stripped (symbols and debug information are of no
    // use inside the guest and would make every exec read megabytes).
    let disk_dir = out_dir.join("disk");
    std::fs::create_dir_all(&disk_dir).map_err(|e| BuildError::Io(disk_dir.clone(), e))?;
    for (_, bin, _) in DISK_PROGRAMS {
        let dst = disk_dir.join(bin);
        let staging = disk_dir.join(format!("{bin}.{}.tmp", std::process::id()));
        let mut strip = Command::new("objcopy");
        strip
            .arg("--strip-all")
            .arg(bin_dir.join(bin))
            .arg(&staging);
        run(&mut strip, "objcopy --strip-all")?;
        std::fs::rename(&staging, &dst).map_err(|e| BuildError::Io(dst.clone(), e))?;
    }

    let module_list = out_dir.join("modules.txt");
    let list: String = DEFAULT_MODULES
        .split(',')
        .map(|m| format!("{m}\n"))
        .collect();
    let staging = out_dir.join(format!("modules.txt.{}.tmp", std::process::id()));
    std::fs::write(&staging, list).map_err(|e| BuildError::Io(staging.clone(), e))?;
    std::fs::rename(&staging, &module_list).map_err(|e| BuildError::Io(module_list.clone(), e))?;
    Ok(BuildOutput {
        kernel_elf64,
        kernel32,
        bin_dir,
        module_list,
    })
}

fn run(cmd: &mut Command, what: &str) -> Result<(), BuildError> {
    let status = cmd.status().map_err(|source| BuildError::Spawn {
        tool: what.to_string(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Failed {
            tool: what.to_string(),
            status,
        })
    }
}

/// One boot module: which program, under which process name, with which
/// arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSpec {
    /// Program binary name (one of [`PROGRAMS`], or a path to any file).
    pub program: String,
    /// Process name (file name the module is staged under).
    pub name: String,
    /// Argument string.
    pub args: String,
}

impl ModuleSpec {
    /// Parses `prog[:name] [args...]`.
    pub fn parse(spec: &str) -> Result<Self, BuildError> {
        let spec = spec.trim();
        let (head, args) = match spec.split_once(char::is_whitespace) {
            Some((h, a)) => (h, a.trim()),
            None => (spec, ""),
        };
        if head.is_empty() {
            return Err(BuildError::BadModule(
                spec.to_string(),
                "empty program name",
            ));
        }
        let (program, name) = match head.split_once(':') {
            Some((p, n)) => (p, n),
            None => (
                head,
                Path::new(head)
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or(head),
            ),
        };
        if program.is_empty() || name.is_empty() || name.contains('/') {
            return Err(BuildError::BadModule(
                spec.to_string(),
                "bad program or process name",
            ));
        }
        Ok(Self {
            program: program.to_string(),
            name: name.to_string(),
            args: args.to_string(),
        })
    }

    /// The RAM disk: host file `image` as the data module `ramdisk` (the
    /// argument `data` makes the kernel load it without starting it; the
    /// memory driver maps it as its block minor 0).
    pub fn ramdisk(image: &Path) -> Self {
        Self {
            program: image.to_string_lossy().into_owned(),
            name: RAMDISK_MODULE.to_string(),
            args: DATA_MODULE_ARG.to_string(),
        }
    }

    /// Parses a comma-separated list (or one spec per line).
    pub fn parse_list(list: &str) -> Result<Vec<Self>, BuildError> {
        list.split([',', '\n'])
            .filter(|s| !s.trim().is_empty())
            .map(Self::parse)
            .collect()
    }
}

/// Copies each module's binary into `dir` under its process name and
/// returns the QEMU `-initrd` string (`path args,path args`; commas inside
/// arguments are doubled as QEMU requires).
pub fn stage_modules(
    out: &BuildOutput,
    specs: &[ModuleSpec],
    dir: &Path,
) -> Result<String, BuildError> {
    std::fs::create_dir_all(dir).map_err(|e| BuildError::Io(dir.to_path_buf(), e))?;
    let mut parts = Vec::new();
    for spec in specs {
        let src = if PROGRAMS.contains(&spec.program.as_str()) {
            out.program(&spec.program)
        } else {
            PathBuf::from(&spec.program)
        };
        let dst = dir.join(&spec.name);
        std::fs::copy(&src, &dst).map_err(|e| BuildError::Io(src.clone(), e))?;
        let path = dst.to_string_lossy().into_owned();
        if path.contains([' ', ',']) {
            return Err(BuildError::BadModule(
                spec.name.clone(),
                "staging path contains a space or comma",
            ));
        }
        let mut part = path;
        if !spec.args.is_empty() {
            part.push(' ');
            part.push_str(&spec.args.replace(',', ",,"));
        }
        parts.push(part);
    }
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_module_specs() {
        let m = ModuleSpec::parse("fault:fault_pf pf extra").unwrap();
        assert_eq!(m.program, "fault");
        assert_eq!(m.name, "fault_pf");
        assert_eq!(m.args, "pf extra");
        let m = ModuleSpec::parse(" hello ").unwrap();
        assert_eq!((m.name.as_str(), m.args.as_str()), ("hello", ""));
        let m = ModuleSpec::parse("/tmp/x/data.bin").unwrap();
        assert_eq!(m.name, "data.bin");
        assert!(ModuleSpec::parse(":x").is_err());
        let m = ModuleSpec::ramdisk(Path::new("/tmp/x/root.mfs"));
        assert_eq!(
            (m.program.as_str(), m.name.as_str(), m.args.as_str()),
            ("/tmp/x/root.mfs", "ramdisk", "data")
        );
        assert!(ModuleSpec::parse("a:b/c").is_err());
        let l = ModuleSpec::parse_list(DEFAULT_MODULES).unwrap();
        assert_eq!(l.len(), 5);
        assert_eq!(l[1].name, "hello2");
    }

    #[test]
    fn stages_modules_with_names_and_escaped_args() {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("hello"), b"ELF").unwrap();
        let out = BuildOutput {
            kernel_elf64: src.path().join("kernel"),
            kernel32: src.path().join("kernel32.elf"),
            bin_dir: src.path().to_path_buf(),
            module_list: src.path().join("modules.txt"),
        };
        let stage = tempfile::tempdir().unwrap();
        let specs = ModuleSpec::parse_list("hello a\nhello:h2 x,,y").unwrap();
        // "x,,y" in a list splits at the comma; use a direct spec instead.
        assert_eq!(specs.len(), 3);
        let specs = [
            ModuleSpec::parse("hello a").unwrap(),
            ModuleSpec::parse("hello:h2 x,y").unwrap(),
        ];
        let initrd = stage_modules(&out, &specs, stage.path()).unwrap();
        let d = stage.path().display();
        assert_eq!(initrd, format!("{d}/hello a,{d}/h2 x,,y"));
        assert_eq!(std::fs::read(stage.path().join("h2")).unwrap(), b"ELF");
    }
}
