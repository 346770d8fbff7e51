#!/usr/bin/env bash
# Builds the system and boots it in QEMU with an MFS disk image attached.
#   scripts/boot.sh            serial console on this terminal (Ctrl-A X quits QEMU)
#   scripts/boot.sh --batch    non-interactive: log to out/serial.log, exit 0 only on a pass
# Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_tools

mode=--interactive
case "${1:-}" in
    --batch) mode= ;;
    "") ;;
    *) die "usage: scripts/boot.sh [--batch]" ;;
esac

mkdir -p out
echo "==> building the OS" >&2
cargo run -q -p images -- build || die "building the OS failed"
echo "==> making the MFS disk image out/disk.mfs" >&2
rm -f out/disk.mfs
cargo run -q -p images --bin mfs -- mkfs --size $((32 * 1024 * 1024)) --from images/rootfs out/disk.mfs \
    || die "making the MFS disk image failed"
echo "==> booting in QEMU (TCG)" >&2
exec cargo run -q -p images -- run $mode --disk out/disk.mfs --log out/serial.log
