//! The `isofs` host tool: look into an ISO 9660 image with the same
//! reader the ISOFS server uses (the `isofs` crate over libminixfs's cache
//! on the image file).
//!
//! * `isofs info IMAGE`: volume identifier, size, naming scheme (Rock
//!   Ridge, Joliet, plain) and what else the image carries.
//! * `isofs ls [-l] [-R] IMAGE [PATH]`: a directory's entries (or one
//!   file), `-l` with mode, links, owner, group, size, modification time
//!   and link targets; `-R` recursively (each directory once, so a
//!   directory loop in a damaged image ends).
//! * `isofs cat IMAGE PATH`: a file's bytes to standard output.
//! * `isofs get IMAGE PATH [DEST]`: copy a file, or a directory tree with
//!   its symlinks and permission bits, to the host (DEST defaults to the
//!   last component of PATH).
//!
//! `--norock` and `--nojoliet` ignore Rock Ridge or Joliet, as the Linux
//! mount options do. Paths resolve symlinks inside the image. A corrupt
//! image is reported with what was wrong (exit status 1), never a panic.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use isofs::format::mode;
use isofs::{CachedBlocks, IsoError, IsoFs, MountOptions, Naming, Stat};
use libbdev::file::FileDriver;

/// Cache buffers (2 KiB each) the tool reads through.
const CACHE_BUFS: usize = 1024;

#[derive(Parser, Debug)]
#[command(name = "isofs", about = "Inspect ISO 9660 images (Rock Ridge, Joliet)")]
pub struct Cli {
    /// Ignore Rock Ridge (like Linux `-o norock`).
    #[arg(long, global = true)]
    norock: bool,
    /// Ignore Joliet (like Linux `-o nojoliet`).
    #[arg(long, global = true)]
    nojoliet: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// What the volume is and how it is read.
    Info {
        /// The image.
        image: PathBuf,
    },
    /// List a directory (or show one file).
    Ls {
        /// Long listing.
        #[arg(short = 'l')]
        long: bool,
        /// Recursive.
        #[arg(short = 'R')]
        recursive: bool,
        /// The image.
        image: PathBuf,
        /// Path inside the image (default: the root).
        #[arg(default_value = "/")]
        path: String,
    },
    /// Write a file's bytes to standard output.
    Cat {
        /// The image.
        image: PathBuf,
        /// Path inside the image.
        path: String,
    },
    /// Copy a file or a directory tree out of the image.
    Get {
        /// The image.
        image: PathBuf,
        /// Path inside the image.
        path: String,
        /// Destination on the host (default: the last path component).
        dest: Option<PathBuf>,
    },
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// Opening or writing host files.
    #[error("{0}: {1}")]
    Host(String, std::io::Error),
    /// The image, or a path in it.
    #[error("{0}: {1}")]
    Iso(String, IsoError),
}

type Fs = IsoFs<CachedBlocks>;

fn open(image: &Path, opts: MountOptions) -> Result<Fs, ToolError> {
    let name = image.display().to_string();
    let drv = FileDriver::open_read_only(image).map_err(|e| ToolError::Host(name.clone(), e))?;
    let io = CachedBlocks::new(Box::new(drv), CACHE_BUFS)
        .map_err(|e| ToolError::Iso(name.clone(), e))?;
    IsoFs::mount(io, opts).map_err(|e| ToolError::Iso(name, e))
}

fn resolve(fs: &Fs, path: &str, follow: bool) -> Result<u32, ToolError> {
    fs.resolve(path.as_bytes(), follow)
        .map_err(|e| ToolError::Iso(path.to_string(), e))
}

fn type_char(m: u16) -> char {
    match u32::from(m) & mode::S_IFMT {
        mode::S_IFDIR => 'd',
        mode::S_IFLNK => 'l',
        mode::S_IFCHR => 'c',
        mode::S_IFBLK => 'b',
        mode::S_IFIFO => 'p',
        mode::S_IFSOCK => 's',
        _ => '-',
    }
}

/// `ls -l` style mode string.
pub fn mode_string(m: u16) -> String {
    let mut s = String::new();
    s.push(type_char(m));
    let bits = [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ];
    for (i, (b, c)) in bits.iter().enumerate() {
        let set = m & b != 0;
        let special = match i {
            2 => m & 0o4000 != 0,
            5 => m & 0o2000 != 0,
            8 => m & 0o1000 != 0,
            _ => false,
        };
        s.push(match (special, set, i) {
            (true, true, 8) => 't',
            (true, false, 8) => 'T',
            (true, true, _) => 's',
            (true, false, _) => 'S',
            (false, true, _) => *c,
            (false, false, _) => '-',
        });
    }
    s
}

fn long_line(fs: &Fs, st: &Stat, name: &str) -> String {
    let size = if matches!(type_char(st.mode), 'c' | 'b') {
        format!("{}, {}", st.rdev >> 8, st.rdev & 0xff)
    } else {
        st.size.to_string()
    };
    let mut line = format!(
        "{} {:>3} {:>5} {:>5} {:>10} {:>10} {name}",
        mode_string(st.mode),
        st.nlinks,
        st.uid,
        st.gid,
        size,
        st.mtime
    );
    if type_char(st.mode) == 'l'
        && let Ok(t) = fs.readlink(st.ino)
    {
        line.push_str(" -> ");
        line.push_str(&String::from_utf8_lossy(&t));
    }
    line
}

fn ls(
    fs: &Fs,
    out: &mut dyn Write,
    path: &str,
    long: bool,
    recursive: bool,
) -> Result<(), ToolError> {
    let ino = resolve(fs, path, true)?;
    let st = fs.stat(ino).map_err(|e| ToolError::Iso(path.into(), e))?;
    let w = |out: &mut dyn Write, s: String| {
        writeln!(out, "{s}").map_err(|e| ToolError::Host("stdout".into(), e))
    };
    if type_char(st.mode) != 'd' {
        let line = if long {
            long_line(fs, &st, path)
        } else {
            path.to_string()
        };
        return w(out, line);
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = vec![(path.trim_end_matches('/').to_string(), ino)];
    while let Some((dir, ino)) = todo.pop() {
        if !seen.insert(ino) {
            continue;
        }
        if recursive {
            w(out, format!("{}:", if dir.is_empty() { "/" } else { &dir }))?;
        }
        let mut entries = fs.list(ino).map_err(|e| ToolError::Iso(dir.clone(), e))?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let mut subdirs = Vec::new();
        for e in &entries {
            let name = String::from_utf8_lossy(&e.name).into_owned();
            let st = fs
                .stat(e.ino)
                .map_err(|err| ToolError::Iso(format!("{dir}/{name}"), err))?;
            w(
                out,
                if long {
                    long_line(fs, &st, &name)
                } else {
                    name.clone()
                },
            )?;
            if type_char(st.mode) == 'd' {
                subdirs.push((format!("{dir}/{name}"), e.ino));
            }
        }
        if !recursive {
            break;
        }
        if !subdirs.is_empty() {
            w(out, String::new())?;
        }
        todo.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

fn copy_out(fs: &Fs, ino: u32, dest: &Path, depth: usize) -> Result<(), ToolError> {
    use std::os::unix::fs::PermissionsExt;
    let host = |e| ToolError::Host(dest.display().to_string(), e);
    let iso = |e| ToolError::Iso(dest.display().to_string(), e);
    let st = fs.stat(ino).map_err(iso)?;
    let perm = std::fs::Permissions::from_mode(u32::from(st.mode) & 0o7777);
    match type_char(st.mode) {
        'd' => {
            if depth > 256 {
                return Err(ToolError::Iso(dest.display().to_string(), IsoError::Loop));
            }
            std::fs::create_dir_all(dest).map_err(host)?;
            for e in fs.list(ino).map_err(iso)? {
                let name = String::from_utf8_lossy(&e.name).into_owned();
                copy_out(fs, e.ino, &dest.join(name), depth + 1)?;
            }
            std::fs::set_permissions(dest, perm).map_err(host)?;
        }
        'l' => {
            let t = fs.readlink(ino).map_err(iso)?;
            use std::os::unix::ffi::OsStrExt;
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&t), dest).map_err(host)?;
        }
        '-' => {
            let mut f = std::fs::File::create(dest).map_err(host)?;
            let mut pos = 0u64;
            loop {
                let mut err = None;
                let n = fs
                    .read_with(ino, pos, 1 << 20, |_, b| {
                        if let Err(e) = f.write_all(b) {
                            err = Some(e);
                            return Err(IsoError::Device(5));
                        }
                        Ok(())
                    })
                    .map_err(|e| match err.take() {
                        Some(h) => host(h),
                        None => iso(e),
                    })?;
                if n == 0 {
                    break;
                }
                pos += n as u64;
            }
            std::fs::set_permissions(dest, perm).map_err(host)?;
        }
        // Device nodes and FIFOs are not recreated on the host.
        _ => {}
    }
    Ok(())
}

/// Runs the tool with `args` (the program name first); returns the exit
/// status (0 ok, 1 an error, 2 bad usage).
pub fn run_with<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let text = e.render().to_string();
            let _ = if code == 0 {
                out.write_all(text.as_bytes())
            } else {
                err.write_all(text.as_bytes())
            };
            return code;
        }
    };
    match execute(cli, out) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "isofs: {e}");
            1
        }
    }
}

fn execute(cli: Cli, out: &mut dyn Write) -> Result<(), ToolError> {
    let opts = MountOptions {
        norock: cli.norock,
        nojoliet: cli.nojoliet,
    };
    let stdout = |e| ToolError::Host("stdout".into(), e);
    match cli.cmd {
        Cmd::Info { image } => {
            let fs = open(&image, opts)?;
            let v = fs.volume();
            let id = String::from_utf8_lossy(&v.volume_id).trim_end().to_string();
            writeln!(out, "volume: {id}").map_err(stdout)?;
            writeln!(
                out,
                "size: {} blocks of 2048 bytes ({} KiB)",
                v.blocks,
                u64::from(v.blocks) * 2
            )
            .map_err(stdout)?;
            let naming = match v.naming {
                Naming::RockRidge => "Rock Ridge",
                Naming::Joliet => "Joliet",
                Naming::Plain => "plain ISO 9660",
            };
            writeln!(out, "names: {naming}").map_err(stdout)?;
            writeln!(
                out,
                "rock ridge: {}, joliet: {}",
                if v.has_rock_ridge { "yes" } else { "no" },
                if v.has_joliet { "yes" } else { "no" }
            )
            .map_err(stdout)?;
        }
        Cmd::Ls {
            long,
            recursive,
            image,
            path,
        } => {
            let fs = open(&image, opts)?;
            ls(&fs, out, &path, long, recursive)?;
        }
        Cmd::Cat { image, path } => {
            let fs = open(&image, opts)?;
            let ino = resolve(&fs, &path, true)?;
            let mut pos = 0u64;
            loop {
                let mut werr = None;
                let n = fs
                    .read_with(ino, pos, 1 << 20, |_, b| {
                        if let Err(e) = out.write_all(b) {
                            werr = Some(e);
                            return Err(IsoError::Device(5));
                        }
                        Ok(())
                    })
                    .map_err(|e| match werr.take() {
                        Some(h) => stdout(h),
                        None => ToolError::Iso(path.clone(), e),
                    })?;
                if n == 0 {
                    break;
                }
                pos += n as u64;
            }
        }
        Cmd::Get { image, path, dest } => {
            let fs = open(&image, opts)?;
            let ino = resolve(&fs, &path, true)?;
            let dest = dest.unwrap_or_else(|| {
                PathBuf::from(
                    path.trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .filter(|s| !s.is_empty())
                        .unwrap_or("iso-root"),
                )
            });
            copy_out(&fs, ino, &dest, 0)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_strings() {
        assert_eq!(mode_string(0o100644), "-rw-r--r--");
        assert_eq!(mode_string(0o40755), "drwxr-xr-x");
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o41777), "drwxrwxrwt");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
        assert_eq!(mode_string(0o20620), "crw--w----");
    }
}
