#!/usr/bin/env bash
# fsx (the Rust port, installed by setup.sh's ensure_fsx) against `mfs mount`:
# a long run on each MFS format, with every fsx operation a FUSE mount of MFS
# supports (scripts/fsx-mfs.toml); after each run the image must pass
# `mfs fsck` and, on 1 KiB-block images, `fsck.minix -f`. Prints one line per
# format and exits non-zero on the first failure (fsx's log and the image
# are kept under out/fsx-fuse/ then).
#   scripts/fsx-fuse.sh [OPERATIONS (default 100000)] [SEED (default 1)]
#   FSX_FORMATS="v3-1k v3-4k v2 v1" (default: all four)
#   FSX_MOUNT_OPTS=writeback (options for `mfs mount -o`; default barrier)
# Needs root (or fusermount3) and /dev/fuse.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_tools
ensure_fsx

OPS=${1:-100000}
SEED=${2:-1}
FORMATS=${FSX_FORMATS:-v3-1k v3-4k v2 v1}
WORK=out/fsx-fuse
CONF=$(pwd)/scripts/fsx-mfs.toml

MFS=$(release_bin images mfs)

rm -rf "$WORK"
mkdir -p "$WORK"
MNT=$WORK/mnt
mkdir -p "$MNT"
cleanup() {
    mountpoint -q "$MNT" && { fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"; }
    return 0
}
trap cleanup EXIT

echo "fsx $("$FSX" -V | awk '{print $2}') against mfs mount -o ${FSX_MOUNT_OPTS:-barrier}: $OPS operations per format, seed $SEED, $CONF"
for f in $FORMATS; do
    case $f in
        v3-1k) mk=(--version 3 --block-size 1024) ;;
        v3-4k) mk=(--version 3 --block-size 4096) ;;
        v2) mk=(--version 2) ;;
        v1) mk=(--version 1) ;;
        *) die "unknown format $f (v3-1k v3-4k v2 v1)" ;;
    esac
    img=$WORK/$f.img
    rm -f "$img"
    "$MFS" mkfs --size 32M "${mk[@]}" "$img" >/dev/null
    "$MFS" mount -o "${FSX_MOUNT_OPTS:-barrier}" "$img" "$MNT"
    start=$SECONDS
    if ! "$FSX" -N "$OPS" -S "$SEED" -f "$CONF" -P "$WORK" "$MNT/fsx.dat" >"$WORK/$f.log" 2>&1; then
        tail -40 "$WORK/$f.log" >&2
        die "$f: fsx failed (log $WORK/$f.log)"
    fi
    secs=$((SECONDS - start))
    fusermount3 -u "$MNT" 2>/dev/null || umount "$MNT"
    wait_unmounted "$MNT"
    "$MFS" fsck "$img" >"$WORK/$f.fsck" 2>&1 || die "$f: mfs fsck: $(cat "$WORK/$f.fsck")"
    extra=""
    if [ "$f" != v3-4k ]; then
        fsck.minix -f "$img" >"$WORK/$f.fsck-minix" 2>&1 || die "$f: fsck.minix -f: $(cat "$WORK/$f.fsck-minix")"
        extra=", fsck.minix -f clean"
    fi
    printf '%-6s %s (%s operations in %d s), mfs fsck clean%s\n' \
        "$f" "$(tail -1 "$WORK/$f.log")" "$OPS" "$secs" "$extra"
    rm -f "$img"
done
