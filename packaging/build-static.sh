#!/usr/bin/env bash
# Builds a statically linked baitech binary (musl): no libc, no OpenSSL
# (rustls, bundled SQLite), so it runs on any x86_64 Linux.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add x86_64-unknown-linux-musl
if ! command -v musl-gcc >/dev/null; then
  apt-get update -qq && apt-get install -y -qq musl-tools
fi
cargo build --release --locked --target x86_64-unknown-linux-musl
ls -lh target/x86_64-unknown-linux-musl/release/baitech
