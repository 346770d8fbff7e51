#!/usr/bin/env bash
# `mfs mount` (MFS through FUSE) against fuse2fs (ext4 through FUSE, when
# installed) on this machine, side by side: fio sequential write (1 MiB
# blocks, fsync at the end), cold sequential read (remounted, host page
# cache dropped), 4 KiB random reads, and two create loops of 10,000 empty
# files over 100 directories: a compiled one (tests/src/bin/fs-creates.rs)
# and the shell's `: >file`, which itself costs about 43 us a file.
# Compare with ../shared/reference/anchors.md.
#   scripts/bench-fuse.sh [FILE_SIZE_MIB (default 1024)] [RANDREAD_SECONDS (default 15)]
#   MFS_MOUNT_OPTS=nobarrier scripts/bench-fuse.sh   # mount options for `mfs mount -o`
#   MFS_BIN=/path/to/mfs scripts/bench-fuse.sh        # that binary instead of a fresh release build
#   FUSE2FS=0 scripts/bench-fuse.sh                    # MFS only
# Needs root (or fusermount3) and /dev/fuse; installs fio and fuse3 with apt.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_tools
need_apt fio fio

SIZE_MIB=${1:-1024}
RAND_SECS=${2:-15}
DIRS=100
PER_DIR=100
WORK=out/bench-fuse
MNT=$WORK/mnt

if [ -n "${MFS_BIN:-}" ]; then
    MFS=$MFS_BIN
else
    MFS=$(release_bin images mfs)
fi
CREATES=$(release_bin system-tests fs-creates)

mkdir -p "$MNT"
cleanup() {
    mountpoint -q "$MNT" && { fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"; }
    rm -rf "$WORK"
}
trap cleanup EXIT

drop_caches() {
    sync
    if [ -w /proc/sys/vm/drop_caches ]; then echo 3 >/proc/sys/vm/drop_caches; fi
}

# fio JOB RW BS [extra args]: prints bandwidth in MiB/s and IOPS.
fio_run() {
    local name=$1 rw=$2 bs=$3
    shift 3
    fio --name="$name" --directory="$MNT" --filename=bench.dat --rw="$rw" --bs="$bs" \
        --size="${SIZE_MIB}M" --ioengine=psync --numjobs=1 --output-format=terse \
        --terse-version=3 "$@" 2>/dev/null |
        awk -F';' -v rw="$rw" '{
            if (rw ~ /write/) { bw = $48; iops = $49 } else { bw = $7; iops = $8 }
            printf "%.0f %.0f\n", bw / 1024, iops
        }'
}

# The shell loop: 10,000 `: >file` in DIR/s1 .. s100.
shell_creates() {
    local d i start end
    start=$(date +%s%N)
    for d in $(seq 1 $DIRS); do
        mkdir "$MNT/s$d"
        for i in $(seq 1 $PER_DIR); do
            : >"$MNT/s$d/f$i"
        done
    done
    sync -f "$MNT/s1"
    end=$(date +%s%N)
    echo $((DIRS * PER_DIR * 1000000000 / (end - start)))
}

# measure NAME MOUNT_CMD UNMOUNT_CMD: four figures for one file system.
declare -A R
measure() {
    local name=$1 mount_cmd=$2
    echo "bench-fuse: $name: sequential write of ${SIZE_MIB} MiB" >&2
    eval "$mount_cmd"
    read -r R[$name.w] _ < <(fio_run seqwrite write 1M --end_fsync=1)
    fusermount3 -u "$MNT"
    wait_unmounted "$MNT"
    drop_caches
    echo "bench-fuse: $name: cold sequential read, 4 KiB random reads" >&2
    eval "$mount_cmd"
    read -r R[$name.r] _ < <(fio_run seqread read 1M)
    read -r _ R[$name.rr] < <(fio_run randread randread 4k --runtime="$RAND_SECS" --time_based)
    rm -f "$MNT/bench.dat"
    echo "bench-fuse: $name: creating $((DIRS * PER_DIR)) files, twice" >&2
    R[$name.c]=$("$CREATES" "$MNT" $DIRS $PER_DIR)
    R[$name.cs]=$(shell_creates)
    fusermount3 -u "$MNT"
    wait_unmounted "$MNT"
}

IMG_MIB=$((SIZE_MIB * 3 / 2 + 256))
rm -f "$WORK/mfs.img"
"$MFS" mkfs --size "${IMG_MIB}M" --block-size 4096 --inodes 65536 "$WORK/mfs.img" >/dev/null
measure mfs "\"$MFS\" mount -o \"${MFS_MOUNT_OPTS:-barrier}\" \"$WORK/mfs.img\" \"$MNT\""
"$MFS" fsck "$WORK/mfs.img" >/dev/null || die "the MFS image is not clean after the benchmark"
# For scale, the disk without FUSE or a file system: the image file itself
# read cold by dd in the same 1 MiB requests (this virtual disk varies
# between 0.5 and 1.3 GiB/s from minute to minute).
drop_caches
start=$(date +%s%N)
dd if="$WORK/mfs.img" of=/dev/null bs=1M count="$SIZE_MIB" status=none
end=$(date +%s%N)
DISK_MIBS=$((SIZE_MIB * 1000000000 / (end - start)))
rm -f "$WORK/mfs.img"

names=(mfs)
if [ "${FUSE2FS:-1}" != 0 ] && command -v fuse2fs >/dev/null 2>&1; then
    rm -f "$WORK/ext4.img"
    truncate -s "${IMG_MIB}M" "$WORK/ext4.img"
    mkfs.ext4 -q -F "$WORK/ext4.img"
    measure fuse2fs "fuse2fs \"$WORK/ext4.img\" \"$MNT\" >/dev/null"
    rm -f "$WORK/ext4.img"
    names+=(fuse2fs)
else
    echo "bench-fuse: fuse2fs not installed (apt install fuse2fs): MFS figures only" >&2
fi

printf '%-22s' ""
for n in "${names[@]}"; do printf '%14s' "$n"; done
[ ${#names[@]} -gt 1 ] && printf '%14s' "mfs/fuse2fs"
echo
row() {
    local label=$1 key=$2 unit=$3
    printf '%-22s' "$label"
    for n in "${names[@]}"; do printf '%14s' "${R[$n.$key]} $unit"; done
    if [ ${#names[@]} -gt 1 ] && [ "${R[fuse2fs.$key]}" -gt 0 ]; then
        awk -v a="${R[mfs.$key]}" -v b="${R[fuse2fs.$key]}" 'BEGIN { printf "%13.2fx", a / b }'
    fi
    echo
}
row "seq write ${SIZE_MIB} MiB" w MiB/s
row "cold seq read" r MiB/s
row "4 KiB random read" rr IOPS
row "creates" c "/s"
row "creates, shell loop" cs "/s"
echo "(for scale: dd read the MFS image file itself cold at ${DISK_MIBS} MiB/s)"
