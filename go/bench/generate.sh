#!/usr/bin/env bash
# Regenerates gen/ from proto/ with buf (npm @bufbuild/buf, installed by devserver/interop's
# `npm ci`) and the protoc-gen-go / protoc-gen-connect-go versions go.mod pins.
# With --check, fails when the committed gen/ differs from a fresh generation.
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd ../.. && pwd)"
bin="$root/target/go-bin"
buf="$root/devserver/interop/node_modules/.bin/buf"
[ -x "$buf" ] || (cd "$root/devserver/interop" && npm ci --no-audit --no-fund >/dev/null)
GOBIN="$bin" go install google.golang.org/protobuf/cmd/protoc-gen-go
GOBIN="$bin" go install connectrpc.com/connect/cmd/protoc-gen-connect-go
out="gen"
if [ "${1:-}" = "--check" ]; then
  out="$(mktemp -d)/gen"
  sed "s|out: gen|out: $out|" buf.gen.yaml > "$out.yaml"
  PATH="$bin:$PATH" "$buf" generate --template "$out.yaml"
  diff -r gen "$out" || { echo "go/bench/gen is stale: run go/bench/generate.sh" >&2; exit 1; }
  exit 0
fi
rm -rf gen
PATH="$bin:$PATH" "$buf" generate
