#!/usr/bin/env bash
# Runs the whole test suite: formatting and lint gates, the OS build, host
# unit and property tests, the simulator and QEMU system tests.
# Installs what is missing first. Output ends with the test runner's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_tools
# fsx for fuse_mfs_fsx_short_run, into the cache the test looks in (the
# test installs it itself when this fails, and under CI fails without it).
(ensure_fsx) || echo "setup: fsx not installed now; fuse_mfs_fsx_short_run tries again" >&2

step() { echo "==> $*" >&2; }

step "cargo fmt --check"
cargo fmt --all --check || die "code is not formatted: run 'cargo fmt --all'"

step "clippy (host crates)"
cargo clippy --all-targets -- -D warnings || die "clippy found problems in the host crates"

step "clippy (OS crates, x86_64-unknown-none)"
cargo run -q -p images -- clippy || die "clippy found problems in the OS crates"

step "build the OS (kernel and boot modules)"
cargo run -q -p images -- build || die "building the OS failed"

step "doc tests"
cargo test -q --doc 2>&1 | tail -n 3 >&2 || die "doc tests failed"

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
    exec cargo nextest run --no-fail-fast --cargo-quiet
fi
# Fallback without nextest: libtest per binary, then one total summary line.
log=$(mktemp)
status=0
cargo test --no-fail-fast 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { p += $4; f += $6; s += $8 } END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$status"
