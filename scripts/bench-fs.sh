#!/usr/bin/env bash
# The in-guest file-system benchmarks (tests/programs/fsbench), release build,
# under QEMU TCG: 64 MiB write+fsync, cold read, 2,000 creates, 2,000
# unlinks on a 4 KiB-block V3 disk made by `mfs mkfs`, each with its ratio
# to Linux 6.1's minix driver in the same QEMU (../shared/reference/anchors.md).
#   scripts/bench-fs.sh [extra kernel arguments, e.g. profile=mfs]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_tools

FS="rs-native:rs,ds-native:ds,vault,virtio-blk image,at_wini image,memory image,mfs-native:mfs image,pfs-native:pfs image,vfs-native:vfs image"
mfs() { cargo run -q -p images --bin mfs -- "$@"; }

mkdir -p out
rm -f out/bench-root.mfs out/bench-disk.mfs
mfs mkfs --size $((32 * 1024 * 1024)) --proto images/rootfs.proto out/bench-root.mfs >/dev/null
mfs mkfs --size $((128 * 1024 * 1024)) --block-size 4096 out/bench-disk.mfs >/dev/null
cargo run -q -p images -- run --release --timeout 900 --modules "$FS,fsbench" \
    --append "critical=rs ${*:-}" --disk out/bench-root.mfs --disk out/bench-disk.mfs \
    --log out/bench.log >/dev/null || { grep -E "fsbench|FAIL" out/bench.log >&2; die "the benchmark run failed (log out/bench.log)"; }
grep -E "fsbench:|kernel: profile" out/bench.log | sed 's/^\[fsbench\] //'
