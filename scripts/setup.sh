# Sourced by boot.sh, test.sh and the FUSE scripts: installs what the build and the tests need
# and stops with a message naming anything it could not install.

die() {
    echo "setup: error: $*" >&2
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        return 1
    fi
}

apt_updated=0
# need_apt PACKAGE COMMAND: make COMMAND available, installing PACKAGE with apt.
need_apt() {
    local pkg=$1 cmd=$2
    if command -v "$cmd" >/dev/null 2>&1 || [ -x "/sbin/$cmd" ] || [ -x "/usr/sbin/$cmd" ]; then
        return 0
    fi
    echo "setup: installing $pkg (for $cmd)" >&2
    command -v apt-get >/dev/null 2>&1 || die "'$cmd' is missing and apt-get is not available to install package '$pkg'"
    apt_get_install "$pkg" " (needed for '$cmd')"
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/sbin/$cmd" ] || [ -x "/usr/sbin/$cmd" ] \
        || die "package '$pkg' installed but '$cmd' is still missing"
}

# need_apt_force PACKAGE: install PACKAGE with apt (for files, not commands).
need_apt_force() {
    local pkg=$1
    echo "setup: installing $pkg" >&2
    command -v apt-get >/dev/null 2>&1 || die "package '$pkg' is missing and apt-get is not available to install it"
    apt_get_install "$pkg" ""
}

# apt_get_install PACKAGE FOR: apt-get update (once per run), then install
# PACKAGE; FOR says in the error messages what it is needed for.
apt_get_install() {
    local pkg=$1 for=$2
    if [ "$apt_updated" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
            || die "'apt-get update' failed; cannot install '$pkg'$for"
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >&2 \
        || die "could not install package '$pkg'$for; install it by hand and retry"
}

ensure_tools() {
    command -v cargo >/dev/null 2>&1 || die "cargo is missing: install Rust with rustup (https://rustup.rs) first"
    command -v rustup >/dev/null 2>&1 || die "rustup is missing: it is needed to add the x86_64-unknown-none target"
    if ! rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-none; then
        echo "setup: adding Rust target x86_64-unknown-none" >&2
        rustup target add x86_64-unknown-none >&2 || die "could not add the Rust target x86_64-unknown-none (rustup target add failed)"
    fi
    for comp in rustfmt clippy; do
        if ! rustup component list --installed 2>/dev/null | grep -q "^$comp"; then
            rustup component add "$comp" >&2 || die "could not add the Rust component $comp"
        fi
    done
    need_apt qemu-system-x86 qemu-system-x86_64
    need_apt binutils objcopy
    need_apt util-linux mkfs.minix
    need_apt util-linux fsck.minix
    need_apt xorriso xorriso
    # The installation ISO (images iso): grub-mkrescue, GRUB's BIOS files
    # (grub-pc-bin: also boot.img and grub-mkimage's i386-pc modules for
    # the installer), mformat for grub-mkrescue, fakeroot for the ISO's
    # device nodes when not building as root.
    need_apt grub-common grub-mkrescue
    need_apt grub-pc-bin grub-mkimage
    [ -f /usr/lib/grub/i386-pc/boot.img ] || need_apt_force grub-pc-bin
    [ -f /usr/lib/grub/i386-pc/boot.img ] \
        || die "GRUB's BIOS files (/usr/lib/grub/i386-pc) are missing: install grub-pc-bin"
    need_apt fakeroot fakeroot
    # FAT interchange is cross-checked against dosfstools and mtools.
    need_apt dosfstools mkfs.fat
    need_apt mtools mcopy
    # fusermount3: `mfs mount` (FUSE) as an ordinary user, its tests and scripts/bench-fuse.sh.
    need_apt fuse3 fusermount3
    # mkfs.minix and fsck.minix live in /sbin, which is not on every user's PATH.
    export PATH="$PATH:/usr/sbin:/sbin"
}

# fsx, the Rust port (https://github.com/asomers/fsx-rs), for the FUSE
# mount's fsx runs (scripts/fsx-fuse.sh, tests/tests/fuse_mfs_mount.rs):
# built once with `cargo install --locked` into a per-user cache that the
# test looks in too. Sets FSX to the binary. $FSX set by the caller wins.
FSX_VERSION=0.3.2
fsx_cache_root() {
    echo "${XDG_CACHE_HOME:-$HOME/.cache}/mfs-tools/fsx-$FSX_VERSION"
}
ensure_fsx() {
    if [ -n "${FSX:-}" ]; then
        [ -x "$FSX" ] || die "FSX=$FSX is not an executable"
        return 0
    fi
    local root
    root=$(fsx_cache_root)
    if [ ! -x "$root/bin/fsx" ]; then
        echo "setup: installing fsx $FSX_VERSION into $root (cargo install --locked)" >&2
        cargo install --quiet --locked --version "$FSX_VERSION" --root "$root" fsx >&2 \
            || die "could not install fsx $FSX_VERSION with cargo install (network?)"
    fi
    FSX=$root/bin/fsx
    export FSX
}

# wait_unmounted MNT: waits until the background FUSE server mounted at MNT
# (scripts/fsx-fuse.sh, scripts/bench-fuse.sh) is unmounted and has written
# its image back.
wait_unmounted() {
    local mnt=$1 i
    for i in $(seq 1 600); do
        mountpoint -q "$mnt" || break
        sleep 0.1
    done
    mountpoint -q "$mnt" && die "$mnt still mounted"
    # The server writes the image back after the unmount: wait for it to
    # exit (its command line names the mount point) before using the image.
    for i in $(seq 1 600); do
        pgrep -f -- "--notify-ready .* $mnt\$" >/dev/null || return 0
        sleep 0.1
    done
    die "the mfs mount server for $mnt did not exit"
}

# release_bin PACKAGE BIN: builds BIN of the workspace package PACKAGE in
# release mode and prints its path (under CARGO_TARGET_DIR when set).
release_bin() {
    cargo build -q --release -p "$1" --bin "$2" || die "building $2 failed"
    echo "${CARGO_TARGET_DIR:-$(pwd)/target}/release/$2"
}
