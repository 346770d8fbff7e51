#!/usr/bin/env bash
# The in-guest process benchmarks (/bin/procbench), release build, under
# QEMU TCG: fork+exec+wait of /bin/true per second and fork+wait of a
# process with 16 MiB of touched heap per second, each with its ratio to
# Linux 6.1 in the same QEMU (../shared/reference/anchors.md: 374/s and
# 1,188/s). init runs procbench from /etc/rc on a root disk made by
# `images rootdisk`, then powers off.
#   scripts/bench-proc.sh [seconds per benchmark, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_tools

secs="${1:-10}"
FS="rs-native:rs,ds-native:ds,vault,virtio-blk image,memory image,mfs-native:mfs image,pfs-native:pfs image,vfs-native:vfs image"

mkdir -p out
printf '/bin/procbench secs=%s\nshutdown\n' "$secs" > out/bench-proc.rc
cargo run -q -p images -- rootdisk --release --rc out/bench-proc.rc out/bench-proc.mfs >/dev/null \
    || die "making the root disk failed"
cargo run -q -p images -- run --release --timeout 900 --modules "$FS,pm image,vm image,bootinit" \
    --append "critical=rs user=bootinit" --disk out/bench-proc.mfs \
    --log out/bench-proc.log >/dev/null || { grep -E "procbench|init:|FAIL|panic" out/bench-proc.log >&2; die "the benchmark run failed (log out/bench-proc.log)"; }
grep -E "procbench:" out/bench-proc.log | sed 's/^\[[^]]*\] //'
