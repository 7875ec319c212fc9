"""The transport: transport failures mapped to wasi:http error codes as the Rust host maps
them (host/src/transport/errors.rs; the component's reading of each code is
testdata/transport-errors.json), what the component then reports, limits and pooling."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DISABLED, REPO, TENANT_ID, USER_ID, dev_server
from pki import Ca

import metald_client as m
from metald_client._h2 import HeaderListTooLarge, StreamRefused
from metald_client.tls import ServerIdentityError, TlsOptions
from metald_client.transport import CodeError, ErrorCode, _BodyReadError, _PhasedError, error_code

VECTORS = json.loads((REPO / "testdata" / "transport-errors.json").read_text())
KNOWN_CODES = {case["code"] for case in VECTORS["cases"]}


@pytest.mark.parametrize(
    ("exc", "tag"),
    [
        (ConnectionRefusedError(111, "refused"), "connection-refused"),
        (_PhasedError("connect", TimeoutError("timed out")), "connection-timeout"),
        (TimeoutError("timed out"), "connection-read-timeout"),
        (ConnectionResetError(104, "reset"), "connection-terminated"),
        (BrokenPipeError(32, "pipe"), "connection-terminated"),
        (http.client.RemoteDisconnected("closed"), "connection-terminated"),
        (_BodyReadError(ConnectionResetError(104, "reset")), "HTTP-response-incomplete"),
        (_BodyReadError(http.client.IncompleteRead(b"", 10)), "HTTP-response-incomplete"),
        (socket.gaierror(-2, "Name or service not known"), "DNS-error"),
        (OSError(113, "No route to host"), "destination-unavailable"),
        (ssl.SSLCertVerificationError("certificate verify failed"), "TLS-alert-received"),
        (_PhasedError("connect", ssl.SSLEOFError(8, "EOF")), "TLS-alert-received"),
        (ssl.SSLEOFError(8, "EOF in violation of protocol"), "connection-terminated"),
        (StreamRefused("RST_STREAM(REFUSED_STREAM)"), "connection-refused"),
        (HeaderListTooLarge("oversized"), "HTTP-response-header-section-size"),
        (ServerIdentityError("id-mismatch", "x"), "TLS-alert-received"),
        (http.client.LineTooLong("header line"), "HTTP-response-header-section-size"),
        (http.client.BadStatusLine("HTTP/9"), "HTTP-protocol-error"),
        (CodeError(ErrorCode("HTTP-request-denied"), "denied"), "HTTP-request-denied"),
        (RuntimeError("boom"), "internal-error"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v,
)
def test_a_transport_failure_maps_to_the_error_code_the_rust_host_reports(
    exc: BaseException, tag: str
) -> None:
    code = error_code(exc)
    assert code.tag == tag
    assert code.tag in KNOWN_CODES, "a code the shared vectors describe"


def test_tls_failures_carry_their_cause_in_the_alert_message() -> None:
    code = error_code(ServerIdentityError("trust-domain-mismatch", "spiffe://other.org/x"))
    assert code.payload["alert-message"].startswith("server certificate refused")


@pytest.fixture()
def faulty(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    with dev_server(tmp_path, "--fault", request.param) as url:
        yield url


@pytest.mark.parametrize(
    ("faulty", "code", "text"),
    [
        ("ListVms=reset", "unavailable", "connection closed by the server"),
        ("ListVms=reset-mid-body", "unavailable", "response ended early"),
        ("ListVms=oversized-headers:200000", "resource_exhausted", "response headers"),
    ],
    indirect=["faulty"],
)
def test_a_failing_server_is_reported_as_the_component_words_it(
    faulty: str, code: str, text: str, runtime: m.Runtime
) -> None:
    with m.Client(faulty, USER_ID, TENANT_ID, tls=DISABLED, retries=0, runtime=runtime) as c:
        with pytest.raises(m.MetaldError) as err:
            c.list_vms()
    assert err.value.code == code
    assert text in str(err.value)


@pytest.mark.parametrize("faulty", ["ListVms=unavailable:1"], indirect=True)
def test_a_read_is_retried_on_a_pooled_connection(faulty: str, runtime: m.Runtime) -> None:
    with m.Client(faulty, USER_ID, TENANT_ID, tls=DISABLED, retries=1, runtime=runtime) as c:
        c.list_vms()
        assert c.transport.stats["requests"] == 2
        assert c.transport.stats["connections"] == 1


def test_connections_are_reused_across_calls_and_closed_with_the_client(
    server_url: str, runtime: m.Runtime
) -> None:
    with m.Client(server_url, USER_ID, TENANT_ID, tls=DISABLED, runtime=runtime) as c:
        for _ in range(5):
            c.list_vms()
        transport = c.transport
        assert transport.stats == {"connections": 1, "requests": 5, "denied": 0}
    with pytest.raises(ValueError, match="closed"):
        c.list_vms()


FAULTS = [
    ("ListVms=reset", "unavailable", "connection closed by the server"),
    ("ListVms=reset-mid-body", "unavailable", "response ended early"),
    ("ListVms=oversized-headers:200000", "resource_exhausted", "response headers"),
    ("ListVms=latency:2s", "deadline_exceeded", "deadline"),
]


def test_a_failing_server_over_http2_and_mtls_is_reported_as_over_http1(
    tmp_path: Path, runtime: m.Runtime
) -> None:
    ca = Ca()
    cert, key = ca.issue(uris=["spiffe://example.org/metald"]).write(tmp_path, "server")
    ccert, ckey = ca.issue(uris=["spiffe://example.org/client"]).write(tmp_path, "client")
    ca_file = ca.write(tmp_path)
    tls = TlsOptions(mode="file", cert_file=ccert, key_file=ckey, ca_file=ca_file)
    for fault, code, text in FAULTS:
        log = tmp_path / "peers.jsonl"
        args = ["--tls-mode", "file", "--tls-cert", str(cert), "--tls-key", str(key)]
        args += ["--tls-client-ca", str(ca_file), "--fault", fault, "--peer-log", str(log)]
        with dev_server(tmp_path, *args) as url:
            with m.Client(url, USER_ID, TENANT_ID, tls=tls, retries=0, timeout_ms=1000,
                          runtime=runtime) as client:  # fmt: skip
                with pytest.raises(m.MetaldError) as err:
                    client.list_vms()
                assert err.value.code == code, (fault, str(err.value))
                assert text in str(err.value), (fault, str(err.value))
                # The client goes on, on a new connection where the old one is unusable.
                client.create_vm(m.VmConfigBuilder.from_template(m.Template.STANDARD).build())
        assert '"alpn":"h2"' in log.read_text().replace(" ", "")
