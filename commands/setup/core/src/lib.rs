//! What the installation ISO (`images iso`, on the host) and the
//! installer (`/bin/setup`, in the guest) share, as pure code tested on
//! the host: the boot module lists ([`ISO_MODULES`], [`DISK_MODULES`]),
//! the GRUB configuration that loads them ([`grub_cfg`]), and the
//! installed disk's layout ([`layout`]).
#![no_std]

extern crate alloc;

pub mod layout;

use alloc::format;
use alloc::string::String;

/// Where the boot files are, on the ISO and on an installed disk.
pub const KERNEL_PATH: &str = "/boot/kernel";
/// Directory of the boot modules, each named after its process.
pub const MODULE_DIR: &str = "/boot/modules";
/// GRUB's configuration file.
pub const GRUB_CFG: &str = "/boot/grub/grub.cfg";

/// The ISO's drive as the system sees it (`/dev/NAME`): the CD-ROM drive
/// on the secondary IDE channel (QEMU's `-cdrom`), driven by `at_wini`.
pub const ISO_DEVICE: &str = "c1d2";

/// The ISO's `/etc/mtab`: the root is the ISO, read-only, through isofs
/// (`mount` and `df` read it; nothing can write it there).
pub fn iso_mtab() -> String {
    format!("/dev/{ISO_DEVICE} / isofs ro,label=isofs\n")
}

/// Kernel options of every boot: RS is critical, bootinit a plain user.
pub const APPEND: &str = "critical=rs user=bootinit";

/// The boot image of the ISO (`program[:name] args`, as the QEMU tests'
/// `-initrd` lists): the root is the ISO through isofs (`root=isofs` for
/// VFS); MFS is in the image only for `mount` and the installer
/// (`noboot`: RS does not start it at boot).
pub const ISO_MODULES: &str = "rs-native:rs,ds-native:ds,vault,virtio-blk image,at_wini image,\
    memory image,tty image,isofs-native:isofs image dev=c1d2,mfs-native:mfs image noboot,pfs-native:pfs image,\
    vfs-native:vfs image root=isofs,pm image,vm image,bootinit";

/// The boot image of an installed disk: the root is MFS on the first
/// partition of the first disk; isofs is there for mounting a CD.
pub const DISK_MODULES: &str = "rs-native:rs,ds-native:ds,vault,virtio-blk image,at_wini image,\
    memory image,tty image,mfs-native:mfs image dev=c0d0p0,isofs-native:isofs image noboot,\
    pfs-native:pfs image,vfs-native:vfs image,pm image,vm image,bootinit";

/// One boot module of a list: the file's name under [`MODULE_DIR`] (the
/// process name) and its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Module<'a> {
    /// The program as built (`rs-native`).
    pub program: &'a str,
    /// The process name, which is the module's file name (`rs`).
    pub name: &'a str,
    /// The argument string (`image root=isofs`).
    pub args: &'a str,
}

/// The modules of a list like [`ISO_MODULES`], in order; entries with an
/// empty or slash-bearing name are skipped.
pub fn modules(list: &str) -> impl Iterator<Item = Module<'_>> {
    list.split([',', '\n']).filter_map(|spec| {
        let spec = spec.trim();
        let (head, args) = match spec.split_once(char::is_whitespace) {
            Some((h, a)) => (h, a.trim()),
            None => (spec, ""),
        };
        let (program, name) = head.split_once(':').unwrap_or((head, head));
        (!program.is_empty() && !name.is_empty() && !name.contains('/')).then_some(Module {
            program,
            name,
            args,
        })
    })
}

/// What a GRUB configuration boots.
#[derive(Clone, Copy, Debug)]
pub struct BootEntry<'a> {
    /// The menu entry's title.
    pub title: &'a str,
    /// Kernel options.
    pub append: &'a str,
    /// The module list ([`ISO_MODULES`], [`DISK_MODULES`]).
    pub modules: &'a str,
}

/// Characters GRUB's shell-like parser takes literally in an unquoted
/// word; anything else in a module's arguments is refused.
fn grub_word_ok(w: &str) -> bool {
    !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"=_-.,:/+@%".contains(&b))
}

/// Why a configuration cannot be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CfgError(pub String);

/// The `grub.cfg` that boots `entry` at once: the serial console as well
/// as the screen (so GRUB's errors reach a serial log), no menu delay,
/// `multiboot` with the kernel and one `module` line per boot module, the
/// file being the process name under [`MODULE_DIR`] (the kernel names a
/// process after the basename of the line's first word). GRUB's root is the device it
/// loaded the file from (the ISO, or the partition the installer's core
/// image names).
pub fn grub_cfg(entry: &BootEntry<'_>) -> Result<String, CfgError> {
    let mut s = String::from(
        "# Made by images iso / setup: boots the system at once.\n\
         serial --unit=0 --speed=115200\n\
         terminal_input serial console\n\
         terminal_output serial console\n\
         set timeout=0\n\
         set default=0\n",
    );
    for w in entry
        .append
        .split_ascii_whitespace()
        .chain(entry.title.split_ascii_whitespace())
    {
        if !grub_word_ok(w) {
            return Err(CfgError(format!("'{w}' needs quoting in grub.cfg")));
        }
    }
    s.push_str(&format!("menuentry \"{}\" {{\n", entry.title));
    // GRUB passes a multiboot command line without the file's name; the
    // kernel (like QEMU's loader) expects `path args`, so the path is
    // given twice: the file to load, then the first word of the line.
    let line = format!("    multiboot {KERNEL_PATH} {KERNEL_PATH} {}", entry.append);
    s.push_str(line.trim_end());
    s.push('\n');
    let mut any = false;
    for m in modules(entry.modules) {
        for w in m.args.split_ascii_whitespace() {
            if !grub_word_ok(w) {
                return Err(CfgError(format!(
                    "module {}: '{w}' needs quoting in grub.cfg",
                    m.name
                )));
            }
        }
        let path = format!("{MODULE_DIR}/{}", m.name);
        let line = format!("    module {path} {path} {}", m.args);
        s.push_str(line.trim_end());
        s.push('\n');
        any = true;
    }
    if !any {
        return Err(CfgError(String::from("no boot modules")));
    }
    s.push_str("    boot\n}\n");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn module_lists_parse_with_names_and_arguments() {
        let iso: Vec<Module<'_>> = modules(ISO_MODULES).collect();
        assert_eq!(iso.len(), 14);
        assert_eq!(
            iso[0],
            Module {
                program: "rs-native",
                name: "rs",
                args: ""
            }
        );
        assert_eq!(iso[2].name, "vault");
        let vfs = iso.iter().find(|m| m.name == "vfs").unwrap();
        assert_eq!(vfs.args, "image root=isofs");
        // The root: isofs on the CD drive (at_wini's secondary master).
        assert!(
            iso.iter()
                .any(|m| m.name == "isofs" && m.args == "image dev=c1d2")
        );
        assert!(iso.iter().any(|m| m.name == "at_wini" && m.args == "image"));
        assert_eq!(iso_mtab(), "/dev/c1d2 / isofs ro,label=isofs\n");
        let disk: Vec<Module<'_>> = modules(DISK_MODULES).collect();
        let mfs = disk.iter().find(|m| m.name == "mfs").unwrap();
        assert_eq!(mfs.args, "image dev=c0d0p0");
        // The same program files on both: the installer copies /boot.
        let mut a: Vec<&str> = iso.iter().map(|m| m.name).collect();
        let mut b: Vec<&str> = disk.iter().map(|m| m.name).collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
        assert_eq!(modules("x:a/b,,  ,y").count(), 1);
    }

    #[test]
    fn grub_cfg_lists_kernel_and_modules() {
        let cfg = grub_cfg(&BootEntry {
            title: "test",
            append: "critical=rs user=bootinit",
            modules: "rs-native:rs,vault,vfs-native:vfs image root=isofs",
        })
        .unwrap();
        let lines: Vec<&str> = cfg.lines().map(str::trim).collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("menuentry"))
            .unwrap();
        assert_eq!(lines[at], "menuentry \"test\" {");
        assert_eq!(
            &lines[at + 1..],
            [
                "multiboot /boot/kernel /boot/kernel critical=rs user=bootinit",
                "module /boot/modules/rs /boot/modules/rs",
                "module /boot/modules/vault /boot/modules/vault",
                "module /boot/modules/vfs /boot/modules/vfs image root=isofs",
                "boot",
                "}",
            ]
        );
        assert!(lines.contains(&"set timeout=0"));
        assert!(lines.contains(&"serial --unit=0 --speed=115200"));
    }

    #[test]
    fn grub_cfg_refuses_what_grub_would_misread() {
        let e = |append, modules| {
            grub_cfg(&BootEntry {
                title: "t",
                append,
                modules,
            })
        };
        assert!(e("a;b", "rs").is_err());
        assert!(e("", "vfs image root=$x").is_err());
        assert!(e("", "vfs 'q'").is_err());
        assert!(e("", "").is_err());
        assert!(e("", "rs").is_ok());
        let cfg = e("", "rs").unwrap();
        assert!(
            cfg.contains("    multiboot /boot/kernel /boot/kernel\n"),
            "{cfg}"
        );
    }
}
