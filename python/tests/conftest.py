"""Fixtures: the metald component (via ``METALD_COMPONENT`` or the repo build) and a
``metald-host dev-server`` on a free loopback port (binary via ``METALD_HOST_BIN``)."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from metald_client import Client, Runtime, default_component_path, get_runtime
from metald_client.tls import TlsOptions

REPO = Path(__file__).resolve().parents[2]
HOST_BIN_ENV = "METALD_HOST_BIN"
USER_ID = "alice"
TENANT_ID = "acme"
DISABLED = TlsOptions.disabled()
"""TLS mode disabled: the plain-text dev server of most tests."""


def host_binary() -> Path:
    env = os.environ.get(HOST_BIN_ENV)
    return Path(env) if env else REPO / "target" / "debug" / "metald-host"


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    path = default_component_path()
    if not path.is_file():
        pytest.fail(
            f"component not found at {path}: run `./scripts/build-component.sh` in {REPO} "
            "or set METALD_COMPONENT"
        )
    return get_runtime(path)


@contextlib.contextmanager
def dev_server(log_dir: Path, *extra_args: str) -> Iterator[str]:
    """Runs ``metald-host dev-server --listen 127.0.0.1:0 [extra_args]``; yields its URL."""
    binary = host_binary()
    if not binary.is_file():
        pytest.fail(
            f"metald-host not found at {binary}: run `cargo build -p metald-host-cli` in {REPO} "
            f"or set {HOST_BIN_ENV}"
        )
    log = log_dir / "stderr.log"
    args = [str(binary), "dev-server", "--listen", "127.0.0.1:0", "--tls-mode", "disabled"]
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(
            [*args, *extra_args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("http"):
            pytest.fail(
                f"dev server did not print its URL (got {line!r}); stderr: "
                f"{log.read_text(errors='replace')[-2000:]}"
            )
        # Keep draining stdout so that the server never blocks on a full pipe.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield line
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A dev server shared by the session's tests."""
    with dev_server(tmp_path_factory.mktemp("dev-server")) as url:
        yield url


@pytest.fixture()
def client(server_url: str, runtime: Runtime) -> Iterator[Client]:
    with Client(server_url, USER_ID, TENANT_ID, runtime=runtime, tls=DISABLED) as c:
        yield c
