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

step "Go module (wazero): the embedded component is a fresh build; gofmt, vet, tests under -race, benchmark smoke"
cmp target/wasm32-wasip2/component/metald_guest.wasm go/metald/metald_guest.wasm \
  || { echo "go/metald/metald_guest.wasm differs from a fresh build: cp target/wasm32-wasip2/component/metald_guest.wasm go/metald/ and run cargo run -p metald-witgen -- go" >&2; exit 1; }
(
  cd go
  unformatted="$(gofmt -l .)"
  if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
  go vet ./...
  METALD_HOST_BIN="$PWD/../target/debug/metald-host" go test -race -count=1 ./...
  go test -run '^$' -bench . -benchtime 3x ./metald
  # The side-by-side benchmark with connect-go: its generated client is fresh, and it runs.
  cd bench
  ./generate.sh --check
  go vet ./...
  METALD_HOST_BIN="$PWD/../../target/debug/metald-host" go test -run '^$' -bench . -benchtime 20x
)

step "JavaScript package (jco transpile of the same component, Node mTLS transport)"
(cd js && npm ci --no-audit --no-fund && npm test)

step "Python package (wasmtime-py)"
python3 -m venv target/python-venv
target/python-venv/bin/pip install --quiet --disable-pip-version-check -e 'python[test]'
target/python-venv/bin/pytest -q python/tests

step "the dev server driven by a Connect client this project did not write (buf curl)"
(cd devserver/interop && npm ci --no-audit --no-fund && npm test)
