#!/usr/bin/env bash
# Builds a statically linked baitech binary on the gnu target
# (`-C target-feature=+crt-static`): glibc linked in, rustls and bundled
# SQLite (no OpenSSL), so it runs on any x86_64 Linux with no shared
# libraries. The allocator it ships is glibc's own malloc, linked in; the
# tuning in main.rs and lib.rs is compiled for target_env = "gnu", so it
# applies to this build too (M_MMAP_THRESHOLD 1 MiB: argon2's 19 MiB
# buffers go back to the OS when freed; malloc_trim after start-up).
# DNS: glibc >= 2.34 has the files and dns lookups inside libc, so a
# static binary resolves names without any NSS library on the host.
# (musl is not used: its target cannot be installed on the build VM.)
#
#   packaging/build-static.sh            -> target/x86_64-unknown-linux-gnu/release/baitech
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --release --locked --target "$target"
bin="${CARGO_TARGET_DIR:-target}/$target/release/baitech"
if ldd "$bin" 2>&1 | grep -q "=>"; then
  echo "error: $bin is dynamically linked" >&2
  exit 1
fi
ls -l "$bin"
file "$bin" 2>/dev/null || true
