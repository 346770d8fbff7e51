#!/usr/bin/env bash
# Builds the system and boots it in QEMU with an MFS root disk attached.
#   scripts/boot.sh            boots to a shell prompt (#) on the serial console
#                              (this terminal): init (/sbin/init from the disk)
#                              runs /etc/rc, then a login shell on /dev/console;
#                              a second disk (out/disk2.mfs, made from docs/)
#                              is attached for `mount /dev/c0d1 /mnt`;
#                              `halt` powers off, Ctrl-A X quits QEMU
#   scripts/boot.sh --iso      builds the installation ISO out/sys.iso
#                              (images iso: GRUB, the kernel, the modules,
#                              the system tree) and boots it the way a PC
#                              boots a CD (-cdrom): the firmware, GRUB, the root on
#                              the ISO (isofs, read-only); a blank disk
#                              out/target.img (256 MiB) is attached to
#                              install onto with 'setup /dev/c0d0';
#                              afterwards 'scripts/boot.sh --disk' boots
#                              the installed disk alone
#   scripts/boot.sh --disk     boots out/target.img alone (GRUB from its
#                              MBR, the system from its MFS partition)
#   scripts/boot.sh --batch    non-interactive: drives the same system's shell
#                              over the serial line (commands, pipelines,
#                              redirections, ^C, service fi during cp -r, the
#                              select suites) and runs the file-system checks
#                              in the guest (mount, test85, select, crash under
#                              load, bad disks, RAM-disk root, processes: one
#                              QEMU boot each, checked on the host too), keeps
#                              the serial logs in out/batch/, exits 0 only if
#                              all pass
# Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_tools

mode=interactive
case "${1:-}" in
    --batch) mode=batch ;;
    --iso) mode=iso ;;
    --disk) mode=disk ;;
    "") ;;
    *) die "usage: scripts/boot.sh [--batch | --iso | --disk]" ;;
esac

mkdir -p out
if [ "$mode" = iso ]; then
    echo "==> building the OS and the installation ISO out/sys.iso" >&2
    cargo run -q -p images -- iso out/sys.iso || die "making the ISO failed"
    echo "==> a blank 256 MiB disk out/target.img to install onto" >&2
    rm -f out/target.img
    truncate -s 256M out/target.img
    # The ISO goes in QEMU's CD-ROM drive (the secondary IDE master,
    # /dev/c1d2 through at_wini); the firmware boots GRUB from it.
    echo "==> booting the ISO in QEMU (TCG; the ISO is /dev/c1d2, the blank disk /dev/c0d0):" >&2
    echo "    install with 'setup /dev/c0d0', then 'halt' and 'scripts/boot.sh --disk'" >&2
    exec cargo run -q -p images -- run --interactive --timeout 0 --firmware \
        --cdrom out/sys.iso --disk out/target.img --log out/serial-iso.log
fi
if [ "$mode" = disk ]; then
    [ -f out/target.img ] || die "out/target.img does not exist: install onto it first (scripts/boot.sh --iso)"
    echo "==> booting out/target.img alone in QEMU (TCG): firmware, GRUB, the MFS partition" >&2
    exec cargo run -q -p images -- run --interactive --timeout 0 --firmware \
        --disk out/target.img --log out/serial-disk.log
fi

# The boot image of the file-system system: RS, DS, the vault, the drivers,
# MFS, PFS and VFS (RS starts the services from its table).
FS="rs-native:rs,ds-native:ds,vault,virtio-blk image,at_wini image,memory image,mfs-native:mfs image,isofs-native:isofs image noboot,pfs-native:pfs image,vfs-native:vfs image"
# Processes: PM and VM (started by RS), the TTY driver (the console) and
# bootinit, a plain user process that execs /sbin/init from the root disk.
PROC="pm image,vm image,tty image,bootinit"

echo "==> building the OS" >&2
cargo run -q -p images -- build || die "building the OS failed"
echo "==> making the MFS root disk out/disk.mfs (images/rootfs.proto, the user programs, /etc/rc)" >&2
rm -f out/disk.mfs
cargo run -q -p images -- rootdisk out/disk.mfs >/dev/null \
    || die "making the MFS disk image failed"
echo "==> making a second MFS disk out/disk2.mfs from docs/ (mount /dev/c0d1 /mnt)" >&2
rm -f out/disk2.mfs
cargo run -q -p images --bin mfs -- mkfs --size 32M --from docs out/disk2.mfs >/dev/null \
    || die "making the second MFS disk image failed"

if [ "$mode" = interactive ]; then
    echo "==> booting in QEMU (TCG); quit with Ctrl-A X" >&2
    exec cargo run -q -p images -- run --interactive --timeout 0 \
        --modules "$FS,$PROC" --append "critical=rs user=bootinit" \
        --disk out/disk.mfs --disk out/disk2.mfs --log out/serial.log
fi

# The in-guest checks, one QEMU boot each, with their host-side checks (disk
# images made and verified on the host): the QEMU system tests of the
# file-system stack. Serial logs are kept in out/batch/.
rm -rf out/batch
mkdir -p out/batch
echo "==> running the file-system checks in the guest (logs in out/batch/)" >&2
if QEMU_LOG_DIR="$PWD/out/batch" cargo test -q -p system-tests \
    --test qemu_shell --test qemu_shell_heal --test qemu_shell_tty --test qemu_select_suites \
    --test qemu_shell_crashload \
    --test qemu_fs_mount --test qemu_fs_test85 --test qemu_fs_select \
    --test qemu_fs_crash_under_load --test qemu_fs_bad_disks --test qemu_fs_ramdisk_root \
    --test qemu_proc; then
    echo "boot.sh --batch: all checks passed (the shell over the serial line, healing from the shell, test40/test77, crashload and test85 from the shell, mount, test85, select, crash under load, bad disks, RAM-disk root, processes)" >&2
else
    echo "boot.sh --batch: some checks FAILED (see above; serial logs in out/batch/)" >&2
    exit 1
fi
