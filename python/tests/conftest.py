"""Fixtures: the metald component (via ``METALD_COMPONENT`` or the repo build) and a
``metald-host dev-server`` on a free loopback port (binary via ``METALD_HOST_BIN``)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from metald_client import Client, Runtime, default_component_path, get_runtime
from metald_client.tls import TlsOptions

REPO = Path(__file__).resolve().parents[2]
HOST_BIN_ENV = "METALD_HOST_BIN"
FAKE_WORKLOAD_API_BIN_ENV = "METALD_FAKE_WORKLOAD_API_BIN"
USER_ID = "alice"
TENANT_ID = "acme"
DISABLED = TlsOptions.disabled()
"""TLS mode disabled: the plain-text dev server of most tests."""


def host_binary() -> Path:
    env = os.environ.get(HOST_BIN_ENV)
    return Path(env) if env else REPO / "target" / "debug" / "metald-host"


def fake_workload_api_binary() -> Path:
    env = os.environ.get(FAKE_WORKLOAD_API_BIN_ENV)
    return Path(env) if env else REPO / "target" / "debug" / "metald-fake-workload-api"


def _ready_line(proc: subprocess.Popen[bytes], log: Path, what: str, prefix: str) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline().decode().strip() if ready else ""
    if not line.startswith(prefix):
        pytest.fail(
            f"{what} did not print its address (got {line!r}); stderr: "
            f"{log.read_text(errors='replace')[-2000:]}"
        )
    # Keep draining stdout so that the process never blocks on a full pipe.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return line


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class FakeWorkloadApi:
    """A running ``metald-fake-workload-api``; :meth:`rotate` re-reads its files (SIGHUP)."""

    def __init__(self, proc: subprocess.Popen[bytes], socket: str) -> None:
        self.proc = proc
        self.socket = socket

    def rotate(self) -> None:
        self.proc.send_signal(signal.SIGHUP)


@contextlib.contextmanager
def fake_workload_api(
    directory: Path, bundle: Path, *svids: tuple[Path, Path]
) -> Iterator[FakeWorkloadApi]:
    """Runs ``metald-fake-workload-api`` on ``directory/agent.sock`` serving ``svids``
    (certificate and key files; none: no identity) and the trust ``bundle``."""
    binary = fake_workload_api_binary()
    if not binary.is_file():
        pytest.fail(
            f"metald-fake-workload-api not found at {binary}: run `cargo build -p "
            f"metald-devserver` in {REPO} or set {FAKE_WORKLOAD_API_BIN_ENV}"
        )
    log = directory / "workload-api.log"
    args = [str(binary), "--socket", str(directory / "agent.sock"), "--bundle", str(bundle)]
    for cert, key in svids:
        args += ["--svid", f"{cert}:{key}"]
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr
        )
    try:
        line = _ready_line(proc, log, "metald-fake-workload-api", "unix:")
        yield FakeWorkloadApi(proc, line)
    finally:
        _stop(proc)


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
def dev_server(log_dir: Path, *extra_args: str, binary: Path | None = None) -> Iterator[str]:
    """Runs ``metald-host dev-server --listen 127.0.0.1:0 [extra_args]`` (``--tls-mode
    disabled`` unless ``extra_args`` name a TLS mode); yields its URL. ``binary`` replaces
    ``$METALD_HOST_BIN`` (a copy of it, as a distinct SPIRE workload)."""
    binary = binary or host_binary()
    if not binary.is_file():
        pytest.fail(
            f"metald-host not found at {binary}: run `cargo build -p metald-host-cli` in {REPO} "
            f"or set {HOST_BIN_ENV}"
        )
    log = log_dir / "stderr.log"
    args = [str(binary), "dev-server", "--listen", "127.0.0.1:0"]
    if "--tls-mode" not in extra_args:
        args += ["--tls-mode", "disabled"]
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(
            [*args, *extra_args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        yield _ready_line(proc, log, "dev server", "http")
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A dev server shared by the session's tests."""
    with dev_server(tmp_path_factory.mktemp("dev-server")) as url:
        yield url


@pytest.fixture()
def client(server_url: str, runtime: Runtime) -> Iterator[Client]:
    with Client(server_url, USER_ID, TENANT_ID, runtime=runtime, tls=DISABLED) as c:
        yield c
