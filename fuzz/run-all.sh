#!/usr/bin/env bash
# Runs every fuzz target for RUNS executions (default 1,000,000) with the committed seed
# corpus; new inputs go to target/work/, crashes to artifacts/. Needs a nightly toolchain
# and cargo-fuzz: `cargo install cargo-fuzz`.
set -euo pipefail
cd "$(dirname "$0")"
RUNS="${RUNS:-1000000}"
for target in config_file response_decode error_body script_parse; do
  mkdir -p "target/work/$target"
  echo "== $target ($RUNS runs)"
  cargo +nightly fuzz run "$target" "target/work/$target" "corpus/$target" -- -runs="$RUNS" -print_final_stats=1 2>&1 \
    | grep -E "^(stat::|Done|==|INFO: Seed|SUMMARY|.*ERROR)" || true
done
