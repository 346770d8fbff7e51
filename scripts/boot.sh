#!/usr/bin/env bash
# Builds the system and boots it in QEMU with an MFS root disk attached.
#   scripts/boot.sh            boots to the root file system (listing, df) with
#                              the serial console on this terminal; Ctrl-A X quits
#   scripts/boot.sh --batch    non-interactive: runs the file-system checks in
#                              the guest (one QEMU boot each), logs to out/, and
#                              exits 0 only if every check passes
# Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_tools

mode=interactive
case "${1:-}" in
    --batch) mode=batch ;;
    "") ;;
    *) die "usage: scripts/boot.sh [--batch]" ;;
esac

# The boot image of the file-system system: RS, DS, the vault, the drivers,
# MFS, PFS and VFS (RS starts the services from its table).
FS="rs-native:rs,ds-native:ds,vault,virtio-blk image,memory image,mfs-native:mfs image,pfs-native:pfs image,vfs-native:vfs image"

mfs() { cargo run -q -p images --bin mfs -- "$@"; }

mkdir -p out
echo "==> building the OS" >&2
cargo run -q -p images -- build || die "building the OS failed"
echo "==> making the MFS root disk out/disk.mfs (images/rootfs.proto)" >&2
rm -f out/disk.mfs
mfs mkfs --size $((32 * 1024 * 1024)) --proto images/rootfs.proto out/disk.mfs >/dev/null \
    || die "making the MFS disk image failed"

if [ "$mode" = interactive ]; then
    echo "==> booting in QEMU (TCG); quit with Ctrl-A X" >&2
    exec cargo run -q -p images -- run --interactive --timeout 0 \
        --modules "$FS,fsclient show stay" --append "critical=rs" \
        --disk out/disk.mfs --log out/serial.log
fi

failed=0
# scenario NAME MODULES [images run options...]: one boot, log in out/NAME.log.
scenario() {
    local name=$1 modules=$2
    shift 2
    echo "==> $name" >&2
    if cargo run -q -p images -- run --timeout 600 --modules "$modules" --append "critical=rs" \
        --log "out/$name.log" "$@" >/dev/null; then
        echo "    $name: passed (log out/$name.log)" >&2
    else
        echo "    $name: FAILED (log out/$name.log)" >&2
        failed=$((failed + 1))
    fi
}

# Mount, write, a second disk on /mnt, clean shutdown; then check on the host.
rm -f out/second.mfs
mfs mkfs --size $((8 * 1024 * 1024)) out/second.mfs >/dev/null || die "making out/second.mfs failed"
scenario mount "$FS,fsclient mount hostile persist mnt2 shutdown" --disk out/disk.mfs --disk out/second.mfs
for img in out/disk.mfs out/second.mfs; do
    if mfs fsck "$img" >/dev/null; then
        echo "    host: mfs fsck $img: clean" >&2
    else
        echo "    host: mfs fsck $img: FAILED" >&2
        failed=$((failed + 1))
    fi
done

if [ "$failed" -ne 0 ]; then
    echo "boot.sh --batch: $failed check(s) failed" >&2
    exit 1
fi
echo "boot.sh --batch: all checks passed" >&2
