#!/usr/bin/env bash
# Builds the metald client component (crate metald-guest, wasm32-wasip2, profile `component`)
# reproducibly, and refreshes every committed copy of it:
#
#   host/component/metald_guest.wasm   embedded by the metald-host library (include_bytes!)
#   go/metald/metald_guest.wasm        embedded by the Go module (go:embed)
#
# The build is two steps: cargo builds $CARGO_TARGET_DIR/wasm32-wasip2/component/metald_guest.wasm
# (default target/), then Binaryen's wasm-opt shrinks its core modules (js/scripts/optimize-component.mjs:
# `jco opt`, both tools pinned in js/package-lock.json, installed here by `npm ci` in js/ when
# missing) into $CARGO_TARGET_DIR/wasm32-wasip2/component/optimized/metald_guest.wasm, the file the
# copies must equal and js/ reads. wasm-opt takes about 86 KB off the component, dropping the
# debug-only component-name section another 15 KB (README.md, "Benchmarks").
#
#   scripts/build-component.sh           build, then copy the fresh build over the copies
#   scripts/build-component.sh --check   build, then fail if a copy differs (scripts/test.sh)
#
# Reproducible: the component embeds panic locations, which name source paths. Paths in this
# workspace are already relative; the crate registry's are remapped to /cargo/registry/src
# (rustc's --remap-path-prefix), so the bytes do not depend on where CARGO_HOME is. The
# caller's flags and wrappers (RUSTFLAGS, clippy, coverage) are for native builds and are
# not passed on.
set -euo pipefail
cd "$(dirname "$0")/.."

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

copies=(host/component/metald_guest.wasm go/metald/metald_guest.wasm)

target_dir="${CARGO_TARGET_DIR:-target}"
registry="${CARGO_HOME:-$HOME/.cargo}/registry/src"
env -u RUSTFLAGS -u RUSTC_WRAPPER -u RUSTC_WORKSPACE_WRAPPER -u CARGO_BUILD_TARGET \
  -u CARGO_BUILD_RUSTFLAGS -u CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS \
  CARGO_ENCODED_RUSTFLAGS="--remap-path-prefix=$registry=/cargo/registry/src" \
  cargo build --package metald-guest --target wasm32-wasip2 --profile component
linked="$target_dir/wasm32-wasip2/component/metald_guest.wasm"
built="$target_dir/wasm32-wasip2/component/optimized/metald_guest.wasm"
if ! node js/scripts/optimize-component.mjs --check-tools 2>/dev/null; then
  (cd js && npm ci --no-audit --no-fund >&2)
fi
mkdir -p "$(dirname "$built")"
node js/scripts/optimize-component.mjs "$linked" "$built"

stale=()
for copy in "${copies[@]}"; do
  if ! cmp -s "$built" "$copy"; then
    stale+=("$copy")
  fi
done

if $check; then
  if [ "${#stale[@]}" -gt 0 ]; then
    for copy in "${stale[@]}"; do
      echo "$copy differs from a fresh build of the component ($built)" >&2
    done
    echo "fix: run scripts/build-component.sh, then cargo run -p metald-witgen -- go, -- python and -- js (the generated layers), and commit the result" >&2
    exit 1
  fi
  echo "every committed component is a fresh build ($(wc -c <"$built") bytes)"
  exit 0
fi

for copy in "${stale[@]}"; do
  cp "$built" "$copy"
  echo "updated $copy"
done
echo "component: $built ($(wc -c <"$built") bytes); committed copies: ${copies[*]}"
