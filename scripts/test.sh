#!/usr/bin/env bash
# The project's test command: what CI runs on a clean clone (see README, "The two commands").
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain (rust-toolchain.toml: 1.95.0 with wasm32-wasip2)"
rustup toolchain install

step "the committed components (host/component, go/metald) are a fresh, reproducible build"
./scripts/build-component.sh --check

step "the example plugin (examples/plugin, wasm32-wasip2): tests/plugin.rs and js/test/plugin.test.mjs run this fresh, incremental build"
cargo build -p metald-example-plugin --target wasm32-wasip2 --release

step "formatting"
cargo fmt --all -- --check

step "clippy (native, all targets) and clippy (the guest for wasm32-wasip2)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p metald-guest --target wasm32-wasip2 -- -D warnings
cargo clippy -p metald-example-plugin --target wasm32-wasip2 -- -D warnings

step "SPIRE $(awk '$1 == "github.com/spiffe/spire" { print $2 }' tools/spire/go.mod) for the SPIFFE tests (tools/spire: built once into target/spire, then reused)"
(
  cd tools/spire
  unformatted="$(gofmt -l fixture)"
  if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
  go vet ./fixture
)
time tools/spire/spire.sh build
# The fixture once by itself (start, stop), so that a broken SPIRE shows here and not as
# failures of the tests that use it (tests/spire.rs, go/client and go/tlsmode spire_test.go).
spire_dir="$(tools/spire/spire.sh start | python3 -c 'import json, sys; print(json.load(sys.stdin)["dir"])')"
tools/spire/spire.sh stop "$spire_dir"

step "Rust tests (unit and end to end)"
cargo test --workspace

step "benchmark harness smoke run (the full run is \`cargo bench -p metald-e2e --bench component\`)"
cargo test -p metald-e2e --bench component

step "Go module (wazero): gofmt, vet, tests under -race, benchmark smoke"
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

step "JavaScript package (jco transpile of the same component; Node transport: file mTLS, SPIFFE, HTTP/2; the packed tarball used outside the repo)"
# The tests drive target/debug/metald-host (dev server) and target/debug/metald-fake-workload-api,
# both built by `cargo test --workspace` above. test/package.test.mjs runs `npm pack` and installs
# the tarball into an empty directory under $TMPDIR (dependencies from npm's cache).
(cd js && npm ci --no-audit --no-fund && npm test)
# The cold-start table (README, "Benchmarks"), one sample: the script keeps working.
node js/scripts/cold-start.mjs --samples 1

step "Python package (wasmtime-py, its own wasi:http host): ruff, mypy --strict, pytest, the wheel"
python3 -m venv target/python-venv
target/python-venv/bin/pip install --quiet --disable-pip-version-check -e 'python[test]'
target/python-venv/bin/ruff check python/src python/tests python/setup.py
target/python-venv/bin/ruff format --check python/src python/tests python/setup.py
(cd python && ../target/python-venv/bin/mypy src tests)
METALD_HOST_BIN="$PWD/target/debug/metald-host" \
  METALD_FAKE_WORKLOAD_API_BIN="$PWD/target/debug/metald-fake-workload-api" \
  target/python-venv/bin/pytest -q python/tests
# The cold-start table (README, "Benchmarks"), one sample: the script keeps working.
target/python-venv/bin/python python/scripts/cold_start.py --samples 1
# The wheel carries the component and works outside the repository: built, installed into a
# fresh venv in a temporary directory, used from another directory.
METALD_HOST_BIN="$PWD/target/debug/metald-host" python/scripts/check-wheel.sh

step "the dev server driven by a Connect client this project did not write (buf curl)"
(cd devserver/interop && npm ci --no-audit --no-fund && npm test)

step "no SPIRE server or agent left running by the tests (tools/spire/spire.sh stops them)"
for _ in $(seq 50); do
  pgrep -f "^$(pwd -P)/target/spire/" >/dev/null || break
  sleep 0.2
done
if pgrep -af "^$(pwd -P)/target/spire/"; then
  echo "SPIRE processes are still running (listed above)" >&2
  exit 1
fi
