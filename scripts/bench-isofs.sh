#!/usr/bin/env bash
# Sequential read throughput of ISOFS against MFS for the same file on the
# same kind of device (issue 13's benchmark), in the guest under QEMU TCG,
# release build: `fsbench isoread` reads /big.bin cold from an ISO (xorriso
# -R -J) and from an MFS image (4 KiB blocks) holding the same bytes, once
# with both on virtio-blk disks and once with both on IDE (the CD and an
# IDE disk, driver at_wini), and prints MiB/s and the ratio isofs/mfs.
#   scripts/bench-isofs.sh [MiB, default 32]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_tools

MIB=${1:-32}
FS="rs-native:rs,ds-native:ds,vault,virtio-blk image,at_wini image,memory image,mfs-native:mfs image,isofs-native:isofs image noboot,pfs-native:pfs image,vfs-native:vfs image"
mfs() { cargo run -q -p images --bin mfs -- "$@"; }

mkdir -p out/bench-isofs/tree
rm -f out/bench-isofs/*.mfs out/bench-isofs/*.iso
rm -rf out/bench-isofs/tree && mkdir -p out/bench-isofs/tree
head -c $((MIB * 1024 * 1024)) /dev/urandom > out/bench-isofs/tree/big.bin
xorriso -as mkisofs -R -J -quiet -V BENCH -o out/bench-isofs/cd.iso out/bench-isofs/tree
mfs mkfs --size $((32 * 1024 * 1024)) --proto images/rootfs.proto out/bench-isofs/root.mfs >/dev/null
mfs mkfs --size $(((MIB + 16) * 1024 * 1024)) --block-size 4096 out/bench-isofs/disk.mfs >/dev/null
mfs put out/bench-isofs/disk.mfs out/bench-isofs/tree/big.bin /big.bin
# Separate copies for the IDE drives (QEMU locks each image file).
cp out/bench-isofs/disk.mfs out/bench-isofs/ide.mfs
cp out/bench-isofs/cd.iso out/bench-isofs/ide-cd.iso
# virtio-blk: minor 1 the MFS disk (mfs2), minor 2 the ISO (isofs3);
# IDE: the CD is /dev/c1d2 (isofs-c1d2), the MFS disk /dev/c1d0 (mfs-c1d0).
cargo run -q -p images -- run --release --timeout 1800 \
    --modules "$FS,fsbench isoread isofs3 mfs2 isofs-c1d2 mfs-c1d0" --append "critical=rs" \
    --disk out/bench-isofs/root.mfs --disk out/bench-isofs/disk.mfs --disk out/bench-isofs/cd.iso \
    --cdrom out/bench-isofs/ide-cd.iso --ide-disk 0:out/bench-isofs/ide.mfs \
    --log out/bench-isofs.log >/dev/null || { grep -E "fsbench|FAIL" out/bench-isofs.log >&2; die "the benchmark run failed (log out/bench-isofs.log)"; }
grep -E "fsbench:" out/bench-isofs.log | sed 's/^\[fsbench\] //'
