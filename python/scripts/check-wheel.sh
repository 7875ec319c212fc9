#!/usr/bin/env bash
# The package works outside this repository (issue 20): builds the wheel, installs it into a
# fresh venv in a temporary directory, and from another directory (no checkout in sight, no
# METALD_COMPONENT) runs a template call and a whole VM lifecycle against
# `metald-host dev-server` ($METALD_HOST_BIN, default target/debug/metald-host).
set -euo pipefail
cd "$(dirname "$0")/../.."

python="${PYTHON:-python3}"
host_bin="$(realpath "${METALD_HOST_BIN:-target/debug/metald-host}")"
[ -x "$host_bin" ] || { echo "check-wheel: metald-host not found at $host_bin" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$python" -m venv "$work/venv"
pip=("$work/venv/bin/pip" --quiet --disable-pip-version-check)
"${pip[@]}" wheel --no-deps -w "$work/dist" ./python
wheel="$(ls "$work"/dist/metald_client-*.whl)"
echo "check-wheel: built $(basename "$wheel") ($(wc -c <"$wheel") bytes)"
"${pip[@]}" install "$wheel"

mkdir "$work/elsewhere"
cd "$work/elsewhere"
env -u METALD_COMPONENT METALD_HOST_BIN="$host_bin" REPO="$OLDPWD" \
  "$work/venv/bin/python" - <<'PY'
import os
import subprocess
import sys
from pathlib import Path

import metald_client as m

repo = Path(os.environ["REPO"]).resolve()
component = m.default_component_path()
assert component.is_file(), component
assert repo not in component.parents, f"the component came from the checkout: {component}"
assert component.read_bytes() == (repo / "host/component/metald_guest.wasm").read_bytes()

config = m.VmConfigBuilder.from_template(m.Template.STANDARD).build()
assert config.cpu.vcpu_count > 0

server = subprocess.Popen(
    [os.environ["METALD_HOST_BIN"], "dev-server", "--listen", "127.0.0.1:0",
     "--tls-mode", "disabled"],
    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
)
try:
    assert server.stdout is not None
    url = server.stdout.readline().decode().strip()
    with m.Client(url, "alice", "acme", tls=m.TlsOptions.disabled()) as client:
        vm = client.create_vm(config)
        assert client.boot_vm(vm.vm_id).state == m.VmState.RUNNING
        assert client.get_vm_info(vm.vm_id).vm_id == vm.vm_id
        client.delete_vm(vm.vm_id)
finally:
    server.terminate()
    server.wait(timeout=15)
print(f"check-wheel: template and lifecycle OK from {os.getcwd()} with {component}",
      file=sys.stderr)
PY
