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

step "benchmark harness smoke run (the full run is \`cargo bench -p metald-host --bench component\`)"
cargo test -p metald-host --bench component

step "JavaScript package (jco transpile of the same component, Node mTLS transport)"
(cd js && npm ci --no-audit --no-fund && npm test)

step "Python package (wasmtime-py)"
python3 -m venv target/python-venv
target/python-venv/bin/pip install --quiet --disable-pip-version-check -e 'python[test]'
target/python-venv/bin/pytest -q python/tests

step "the dev server driven by a Connect client this project did not write (buf curl)"
(cd devserver/interop && npm ci --no-audit --no-fund && npm test)
