#!/usr/bin/env bash
# The project's test command: what CI runs on a clean clone (see README, "The two commands").
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain (rust-toolchain.toml: 1.95.0 with wasm32-wasip2)"
rustup toolchain install

step "formatting"
cargo fmt --all -- --check

step "clippy (native, all targets) and clippy (the guest for wasm32-wasip2)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p metald-guest --target wasm32-wasip2 -- -D warnings

step "Rust tests (unit and end to end)"
cargo test --workspace
