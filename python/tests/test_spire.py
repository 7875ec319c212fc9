"""SPIFFE mode against a real SPIRE server and agent (tools/spire/spire.sh): the test process
is attested by its executable and gets its SVID from the agent, as in production; so does
the dev server (a copy of metald-host registered as spiffe://example.org/metald).

SPIRE must be built (``tools/spire/spire.sh build``, or ``METALD_SPIRE_DIR``): without it the
tests skip locally and fail under ``CI=true``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, TENANT_ID, USER_ID, dev_server, host_binary
from pki import peer_log
from test_tls import lifecycle

import metald_client as m
from metald_client.tls import TlsError, TlsOptions

SPIRE = REPO / "tools" / "spire" / "spire.sh"


@contextlib.contextmanager
def spire(*entries: str) -> Iterator[dict[str, Any]]:
    """A SPIRE server and agent with ``entries`` registered; yields spire.sh's JSON."""
    args = [str(SPIRE), "start"]
    for entry in entries:
        args += ["--entry", entry]
    started = subprocess.run(args, capture_output=True, text=True, timeout=180)
    if started.returncode == 3:
        if os.environ.get("CI") == "true":
            pytest.fail(started.stderr)
        pytest.skip(started.stderr.strip())
    if started.returncode != 0:
        pytest.fail(f"spire.sh start failed: {started.stderr[-3000:]}")
    info: dict[str, Any] = json.loads(started.stdout)
    try:
        yield info
    finally:
        subprocess.run([str(SPIRE), "stop", info["dir"]], check=True, timeout=60)


def test_spiffe_mode_against_real_spire_through_a_whole_lifecycle(
    tmp_path: Path, runtime: m.Runtime
) -> None:
    # The dev server is a distinct workload: a copy of metald-host at its own path.
    server_binary = tmp_path / "metald-server"
    shutil.copy2(host_binary(), server_binary)
    python = os.path.realpath(sys.executable)
    client_entry = f"id=/py-client,path={python}"
    server_entry = f"id=/metald,path={server_binary.resolve()}"
    with spire(client_entry, server_entry) as info:
        socket = info["workload_socket"]
        log = tmp_path / "peers.jsonl"
        with dev_server(
            tmp_path,
            "--tls-mode",
            "spiffe",
            "--spiffe-socket",
            socket,
            "--peer-log",
            str(log),
            binary=server_binary,
        ) as url:
            tls = TlsOptions(spiffe_socket=socket)
            with m.Client(url, USER_ID, TENANT_ID, tls=tls, runtime=runtime) as client:
                lifecycle(client)
            exact = TlsOptions(spiffe_socket=socket, server_spiffe_id="spiffe://example.org/other")
            with m.Client(url, USER_ID, TENANT_ID, tls=exact, retries=0, runtime=runtime) as client:
                with pytest.raises(m.MetaldError, match="id-mismatch"):
                    client.list_vms()
    peers = peer_log(log)
    assert peers
    assert {p["spiffe_id"] for p in peers} == {"spiffe://example.org/py-client"}
    assert {p["alpn"] for p in peers} == {"h2"}


def test_a_workload_spire_does_not_know_gets_an_error_with_the_cause(tmp_path: Path) -> None:
    with spire("id=/someone-else,path=/nonexistent/binary") as info:
        tls = TlsOptions(spiffe_socket=info["workload_endpoint"], spiffe_timeout=5)
        with pytest.raises(TlsError) as err:
            m.Client("https://127.0.0.1:1", USER_ID, TENANT_ID, tls=tls)
    assert info["workload_socket"] in str(err.value)
    assert "PermissionDenied" in str(err.value) or "PERMISSION_DENIED" in str(err.value)
