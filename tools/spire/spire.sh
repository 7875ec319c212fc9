#!/usr/bin/env bash
# The SPIRE test fixture's entry point, for the Rust, Go, JS and Python tests and for people:
#
#   tools/spire/spire.sh build          builds spire-server and spire-agent (the version that
#                                       tools/spire/go.mod pins) once, into
#                                       target/spire/<version>/; later runs reuse them
#   tools/spire/spire.sh start [...]    starts a SPIRE server and agent on loopback, registers
#                                       workloads, waits until the agent serves SVIDs and
#                                       prints JSON (socket, trust domain, dir, PIDs)
#   tools/spire/spire.sh stop DIR       stops both by PID and removes DIR
#   tools/spire/spire.sh mint ...       an X.509-SVID from the server's CA, as PEM files
#   tools/spire/spire.sh help           every flag (tools/spire/fixture/main.go)
#
# Commands other than build exit with status 3, saying so on stderr, when SPIRE is not built:
# tests skip on that locally and fail under CI=true.
# METALD_SPIRE_DIR overrides where the binaries are (default target/spire/<version>).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
version="$(awk '$1 == "github.com/spiffe/spire" { print $2 }' "$here/go.mod")"
if [ -z "$version" ]; then
  echo "spire.sh: $here/go.mod requires no github.com/spiffe/spire version" >&2
  exit 1
fi
bin="${METALD_SPIRE_DIR:-$root/target/spire/$version}"

# The fixture binary is named after a digest of its sources, so an edited fixture is rebuilt
# (a second or so, stdlib only) and concurrent callers never overwrite a running binary.
fixture_binary() {
  local digest
  digest="$(cat "$here/go.mod" "$here"/fixture/*.go | sha256sum | cut -c1-16)"
  local path="$bin/spire-fixture-$digest"
  if [ ! -x "$path" ]; then
    mkdir -p "$bin"
    (cd "$here" && go build -o "$path.tmp.$$" ./fixture) >&2
    mv -f "$path.tmp.$$" "$path"
  fi
  printf '%s\n' "$path"
}

case "${1:-help}" in
  build)
    if [ -x "$bin/spire-server" ] && [ -x "$bin/spire-agent" ]; then
      echo "spire.sh: SPIRE $version is already built in $bin" >&2
    else
      echo "spire.sh: building SPIRE $version (spire-server, spire-agent) into $bin" >&2
      mkdir -p "$bin"
      (
        cd "$here"
        # Into a fresh directory, then moved: an interrupted build leaves no half binary
        # that a later run would take for a built one.
        tmp="$(mktemp -d "$bin/build.XXXXXX")"
        trap 'rm -rf "$tmp"' EXIT
        go build -ldflags="-s -w" -o "$tmp/" github.com/spiffe/spire/cmd/spire-server github.com/spiffe/spire/cmd/spire-agent
        mv -f "$tmp/spire-server" "$tmp/spire-agent" "$bin/"
      )
    fi
    fixture_binary >/dev/null
    ;;
  *)
    if [ ! -x "$bin/spire-server" ] || [ ! -x "$bin/spire-agent" ]; then
      echo "spire.sh: SPIRE $version is not built in $bin (run tools/spire/spire.sh build)" >&2
      exit 3
    fi
    fixture="$(fixture_binary)"
    exec "$fixture" "$@"
    ;;
esac
