"""TLS modes against ``metald-host dev-server``: file mTLS and SPIFFE (the fake Workload API),
what the server saw (``--peer-log``), rotation and renewal, and every refusal."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TENANT_ID, USER_ID, dev_server, fake_workload_api
from pki import Ca, Issued, peer_log, serial_of

import metald_client as m
from metald_client import tls as tls_module
from metald_client.tls import TlsError, TlsOptions

CLIENT_ID = "spiffe://example.org/client"
SERVER_ID = "spiffe://example.org/metald"


def lifecycle(client: m.Client) -> None:
    """Create, boot, inspect, list, delete: the whole VM lifecycle."""
    config = m.VmConfigBuilder.from_template(m.Template.STANDARD).build()
    vm = client.create_vm(config)
    assert client.boot_vm(vm.vm_id).state == m.VmState.RUNNING
    assert client.get_vm_info(vm.vm_id).vm_id == vm.vm_id
    assert vm.vm_id in [v.vm_id for v in client.list_all_vms()]
    client.delete_vm(vm.vm_id)
    with pytest.raises(m.ConnectError) as err:
        client.get_vm_info(vm.vm_id)
    assert err.value.code == "not_found"


def drop_idle_connections(client: m.Client) -> None:
    """Closes the client's pooled connections, so that its next call connects anew."""
    transport = client.transport
    idle, transport._idle = transport._idle, {}
    for conns in idle.values():
        for conn in conns:
            conn.close()


@pytest.fixture()
def ca() -> Ca:
    return Ca("example.org CA")


@pytest.fixture()
def file_server(tmp_path: Path, ca: Ca) -> Iterator[tuple[str, Path]]:
    """A dev server in file mTLS mode with a SPIFFE-only certificate (spiffe://example.org/
    metald) requiring client certificates from ``ca``; yields its URL and peer log."""
    cert, key = ca.issue(uris=[SERVER_ID]).write(tmp_path, "server")
    log = tmp_path / "peers.jsonl"
    args = ["--tls-mode", "file", "--tls-cert", str(cert), "--tls-key", str(key)]
    args += ["--tls-client-ca", str(ca.write(tmp_path)), "--peer-log", str(log)]
    with dev_server(tmp_path, *args) as url:
        yield url, log


def test_file_mode_presents_the_client_certificate_through_a_whole_lifecycle(
    tmp_path: Path, ca: Ca, file_server: tuple[str, Path], runtime: m.Runtime
) -> None:
    url, log = file_server
    assert url.startswith("https://")
    client_cert = ca.issue(uris=[CLIENT_ID])
    cert, key = client_cert.write(tmp_path, "client")
    tls = TlsOptions(mode="file", cert_file=cert, key_file=key, ca_file=ca.write(tmp_path))
    with m.Client(url, USER_ID, TENANT_ID, tls=tls, runtime=runtime) as client:
        lifecycle(client)
        assert client.transport.stats["connections"] == 1, "one pooled connection for all calls"
    peers = peer_log(log)
    assert peers, "the server saw a handshake"
    assert all(serial_of(p) == client_cert.serial for p in peers)
    assert peers[-1]["spiffe_id"] == CLIENT_ID
    assert {p["alpn"] for p in peers} == {"h2"}, "HTTP/2 negotiated by ALPN"


def test_file_mode_picks_up_a_renewed_certificate_on_the_next_connection(
    tmp_path: Path, ca: Ca, file_server: tuple[str, Path], runtime: m.Runtime
) -> None:
    url, log = file_server
    first = ca.issue(uris=[CLIENT_ID])
    cert, key = first.write(tmp_path, "client")
    tls = TlsOptions(mode="file", cert_file=cert, key_file=key, ca_file=ca.write(tmp_path))
    with m.Client(url, USER_ID, TENANT_ID, tls=tls, runtime=runtime) as client:
        client.list_vms()
        renewed = ca.issue(uris=[CLIENT_ID])
        time.sleep(0.01)  # a new mtime even on coarse file systems
        renewed.write(tmp_path, "client")
        client.list_vms()
        client.list_vms()
    serials = [serial_of(p) for p in peer_log(log)]
    assert serials == [first.serial, renewed.serial], "the renewal made one new connection"


def test_file_mode_keeps_the_previous_certificate_while_a_renewal_is_half_written(
    tmp_path: Path, ca: Ca, file_server: tuple[str, Path], runtime: m.Runtime
) -> None:
    url, log = file_server
    first = ca.issue(uris=[CLIENT_ID])
    cert, key = first.write(tmp_path, "client")
    ca_file = ca.write(tmp_path)
    tls = TlsOptions(mode="file", cert_file=cert, key_file=key, ca_file=ca_file)
    with m.Client(url, USER_ID, TENANT_ID, tls=tls, runtime=runtime) as client:
        client.list_vms()
        renewed = ca.issue(uris=[CLIENT_ID])
        time.sleep(0.01)
        cert.write_bytes(renewed.cert_pem())  # the key is not written yet: a mismatch
        drop_idle_connections(client)  # the next call makes a new connection
        client.list_vms()
        key.write_bytes(renewed.key_pem())
        client.list_vms()
        # A CA file that becomes unusable is not kept: nothing is trusted.
        ca_file.write_text("not a certificate")
        drop_idle_connections(client)
        with pytest.raises(m.MetaldError, match=str(ca_file)):
            client.list_vms()
    serials = [serial_of(p) for p in peer_log(log)]
    assert serials == [first.serial, first.serial, renewed.serial]


def test_file_mode_verifies_a_server_by_ip_address_when_it_has_ip_sans(
    tmp_path: Path, ca: Ca, runtime: m.Runtime
) -> None:
    cert, key = ca.issue(ips=["127.0.0.1"], dns=["localhost"]).write(tmp_path, "server")
    ca_file = ca.write(tmp_path)
    args = ["--tls-mode", "file", "--tls-cert", str(cert), "--tls-key", str(key)]
    with dev_server(tmp_path, *args, "--tls-client-ca", str(ca_file)) as url:
        ccert, ckey = ca.issue(uris=[CLIENT_ID]).write(tmp_path, "client")
        tls = TlsOptions(mode="file", cert_file=ccert, key_file=ckey, ca_file=ca_file)
        with m.Client(url, USER_ID, TENANT_ID, tls=tls, runtime=runtime) as client:
            client.list_vms()


def test_file_mode_refuses_a_server_of_another_trust_domain_before_sending(
    tmp_path: Path, ca: Ca, runtime: m.Runtime
) -> None:
    cert, key = ca.issue(uris=["spiffe://other.org/metald"]).write(tmp_path, "server")
    ca_file = ca.write(tmp_path)
    args = ["--tls-mode", "file", "--tls-cert", str(cert), "--tls-key", str(key)]
    with dev_server(tmp_path, *args, "--tls-client-ca", str(ca_file)) as url:
        ccert, ckey = ca.issue(uris=[CLIENT_ID]).write(tmp_path, "client")
        tls = TlsOptions(mode="file", cert_file=ccert, key_file=ckey, ca_file=ca_file)
        with m.Client(url, USER_ID, TENANT_ID, tls=tls, retries=0, runtime=runtime) as client:
            with pytest.raises(m.MetaldError) as err:
                client.create_vm(m.VmConfigBuilder.from_template(m.Template.STANDARD).build())
    assert "trust-domain-mismatch" in str(err.value)
    assert "other.org" in str(err.value)


def test_file_mode_refuses_a_server_chained_to_another_ca(
    tmp_path: Path, ca: Ca, file_server: tuple[str, Path], runtime: m.Runtime
) -> None:
    url, _ = file_server
    ccert, ckey = ca.issue(uris=[CLIENT_ID]).write(tmp_path, "client")
    other = Ca("another CA").write(tmp_path, "other-ca")
    tls = TlsOptions(mode="file", cert_file=ccert, key_file=ckey, ca_file=other)
    with m.Client(url, USER_ID, TENANT_ID, tls=tls, retries=0, runtime=runtime) as client:
        with pytest.raises(m.MetaldError) as err:
            client.list_vms()
    assert "certificate verify failed" in str(err.value)


def test_expired_client_certificate_is_refused_naming_the_file(tmp_path: Path, ca: Ca) -> None:
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    expired = ca.issue(
        uris=[CLIENT_ID], not_before=past, not_after=past + datetime.timedelta(hours=1)
    )
    cert, key = expired.write(tmp_path, "client")
    tls = TlsOptions(mode="file", cert_file=cert, key_file=key)
    with pytest.raises(TlsError) as err:
        m.Client("https://127.0.0.1:1", USER_ID, TENANT_ID, tls=tls)
    assert str(cert) in str(err.value)
    assert "expired" in str(err.value)
    assert err.value.setting == "cert_file"


def test_mismatched_key_is_refused_naming_the_file(tmp_path: Path, ca: Ca) -> None:
    cert, _ = ca.issue(uris=[CLIENT_ID]).write(tmp_path, "client")
    _, key = ca.issue(uris=[CLIENT_ID]).write(tmp_path, "other")
    tls = TlsOptions(mode="file", cert_file=cert, key_file=key)
    with pytest.raises(TlsError) as err:
        m.Client("https://127.0.0.1:1", USER_ID, TENANT_ID, tls=tls)
    assert str(key) in str(err.value)
    assert "does not match" in str(err.value)
    assert err.value.setting == "key_file"


def test_unreadable_and_half_configured_files_are_refused_naming_them(
    tmp_path: Path, ca: Ca
) -> None:
    missing = tmp_path / "missing.pem"
    cert, key = ca.issue(uris=[CLIENT_ID]).write(tmp_path, "client")
    cases = [
        (TlsOptions(mode="file", cert_file=missing, key_file=key), str(missing)),
        (TlsOptions(mode="file", cert_file=cert), str(cert)),
        (TlsOptions(mode="file", ca_file=missing), str(missing)),
        (TlsOptions(mode="bogus"), "bogus"),
    ]
    for tls, named in cases:
        with pytest.raises(TlsError) as err:
            m.Client("https://127.0.0.1:1", USER_ID, TENANT_ID, tls=tls)
        assert named in str(err.value), str(err.value)


def test_plain_http_is_plain_in_every_mode_but_the_material_is_still_checked(
    tmp_path: Path, ca: Ca, server_url: str, runtime: m.Runtime
) -> None:
    # As the Rust (https_or_http) and Go (plain pool) hosts: http:// is plain text whatever
    # the mode, and the mode's material is checked when the client is made.
    cert, key = ca.issue(uris=[CLIENT_ID]).write(tmp_path, "client")
    tls = TlsOptions(mode="file", cert_file=cert, key_file=key)
    with m.Client(server_url, USER_ID, TENANT_ID, tls=tls, runtime=runtime) as client:
        client.list_vms()
    with pytest.raises(TlsError, match="does not exist"):
        m.Client(server_url, USER_ID, TENANT_ID, tls=TlsOptions(spiffe_socket=str(tmp_path / "x")))


# ---------------------------------------------------------------------------------------
# SPIFFE mode.


@pytest.fixture()
def spiffe_server(tmp_path: Path, ca: Ca) -> Iterator[tuple[str, Path]]:
    """A dev server in SPIFFE mode, its SVID (spiffe://example.org/metald) from its own fake
    Workload API; yields its URL and peer log."""
    directory = tmp_path / "server-agent"
    directory.mkdir()
    bundle = ca.write(directory)
    svid = ca.issue(uris=[SERVER_ID]).write(directory, "svid")
    log = tmp_path / "peers.jsonl"
    with fake_workload_api(directory, bundle, svid) as api:
        args = ["--tls-mode", "spiffe", "--spiffe-socket", api.socket, "--peer-log", str(log)]
        with dev_server(tmp_path, *args) as url:
            yield url, log


def _client_agent(tmp_path: Path, ca: Ca, *issued: Issued) -> tuple[Path, list[tuple[Path, Path]]]:
    directory = tmp_path / "client-agent"
    directory.mkdir(exist_ok=True)
    files = [svid.write(directory, f"svid{i}") for i, svid in enumerate(issued)]
    return directory, files


def test_spiffe_mode_presents_the_svid_through_a_whole_lifecycle(
    tmp_path: Path, ca: Ca, spiffe_server: tuple[str, Path], runtime: m.Runtime
) -> None:
    url, log = spiffe_server
    svid = ca.issue(uris=[CLIENT_ID])
    directory, files = _client_agent(tmp_path, ca, svid)
    with fake_workload_api(directory, ca.write(directory), *files) as api:
        tls = TlsOptions(spiffe_socket=api.socket)
        with m.Client(url, USER_ID, TENANT_ID, tls=tls, runtime=runtime) as client:
            lifecycle(client)
    peers = peer_log(log)
    assert peers and all(serial_of(p) == svid.serial for p in peers)
    assert {p["spiffe_id"] for p in peers} == {CLIENT_ID}
    assert {p["alpn"] for p in peers} == {"h2"}


def test_spiffe_mode_uses_a_rotated_svid_for_new_connections(
    tmp_path: Path, ca: Ca, spiffe_server: tuple[str, Path], runtime: m.Runtime
) -> None:
    url, log = spiffe_server
    first = ca.issue(uris=[CLIENT_ID])
    directory, files = _client_agent(tmp_path, ca, first)
    with fake_workload_api(directory, ca.write(directory), *files) as api:
        tls = TlsOptions(spiffe_socket=api.socket)
        with m.Client(url, USER_ID, TENANT_ID, tls=tls, runtime=runtime) as client:
            client.list_vms()
            key_before = client.transport.tls.identity().key  # type: ignore[union-attr]
            rotated = ca.issue(uris=[CLIENT_ID])
            rotated.write(directory, "svid0")
            api.rotate()
            deadline = time.monotonic() + 10
            while client.transport.tls.identity().key == key_before:  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the rotation never reached the client"
                time.sleep(0.05)
            client.list_vms()
            client.list_vms()
            # The connection made with the old SVID was closed, not kept idle.
            assert [len(v) for v in client.transport._idle.values()] == [1]
    serials = [serial_of(p) for p in peer_log(log)]
    assert serials == [first.serial, rotated.serial]


def test_spiffe_mode_selects_the_svid_by_spiffe_id(
    tmp_path: Path, ca: Ca, spiffe_server: tuple[str, Path], runtime: m.Runtime
) -> None:
    url, log = spiffe_server
    first = ca.issue(uris=[CLIENT_ID])
    second = ca.issue(uris=["spiffe://example.org/batch"])
    directory, files = _client_agent(tmp_path, ca, first, second)
    with fake_workload_api(directory, ca.write(directory), *files) as api:
        tls = TlsOptions(spiffe_socket=api.socket, client_spiffe_id="spiffe://example.org/batch")
        with m.Client(url, USER_ID, TENANT_ID, tls=tls, runtime=runtime) as client:
            client.list_vms()
        wrong = TlsOptions(spiffe_socket=api.socket, client_spiffe_id="spiffe://example.org/nope")
        with pytest.raises(TlsError) as err:
            m.Client(url, USER_ID, TENANT_ID, tls=wrong, runtime=runtime)
    assert [serial_of(p) for p in peer_log(log)] == [second.serial]
    assert "spiffe://example.org/nope" in str(err.value)
    assert CLIENT_ID in str(err.value) and "spiffe://example.org/batch" in str(err.value)


def test_spiffe_mode_refuses_a_server_outside_our_trust_domain(
    tmp_path: Path, ca: Ca, runtime: m.Runtime
) -> None:
    # The server's certificate chains to our bundle but names another trust domain.
    cert, key = ca.issue(uris=["spiffe://other.org/metald"]).write(tmp_path, "server")
    args = ["--tls-mode", "file", "--tls-cert", str(cert), "--tls-key", str(key)]
    with dev_server(tmp_path, *args, "--tls-client-ca", str(ca.write(tmp_path))) as url:
        directory, files = _client_agent(tmp_path, ca, ca.issue(uris=[CLIENT_ID]))
        with fake_workload_api(directory, ca.write(directory), *files) as api:
            tls = TlsOptions(spiffe_socket=api.socket)
            with m.Client(url, USER_ID, TENANT_ID, tls=tls, retries=0, runtime=runtime) as c:
                with pytest.raises(m.MetaldError) as err:
                    c.list_vms()
            exact = TlsOptions(spiffe_socket=api.socket, server_spiffe_id=SERVER_ID)
            with m.Client(url, USER_ID, TENANT_ID, tls=exact, retries=0, runtime=runtime) as c:
                with pytest.raises(m.MetaldError) as err2:
                    c.list_vms()
    assert "trust-domain-mismatch" in str(err.value)
    assert "id-mismatch" in str(err2.value)


def test_spiffe_mode_with_a_missing_socket_is_an_error_naming_it(tmp_path: Path) -> None:
    socket = tmp_path / "no-agent.sock"
    with pytest.raises(TlsError) as err:
        m.Client(
            "https://127.0.0.1:1",
            USER_ID,
            TENANT_ID,
            tls=TlsOptions(spiffe_socket=f"unix:{socket}"),
        )
    assert str(socket) in str(err.value)
    assert "does not exist" in str(err.value)
    assert err.value.setting == "spiffe_socket"


def test_spiffe_mode_without_an_identity_is_an_error_with_its_cause(tmp_path: Path, ca: Ca) -> None:
    with fake_workload_api(tmp_path, ca.write(tmp_path)) as api:
        tls = TlsOptions(spiffe_socket=api.socket, spiffe_timeout=5)
        started = time.monotonic()
        with pytest.raises(TlsError) as err:
            m.Client("https://127.0.0.1:1", USER_ID, TENANT_ID, tls=tls)
    assert time.monotonic() - started < 5, "PermissionDenied is reported, not waited out"
    assert str(tmp_path / "agent.sock") in str(err.value)
    assert "PermissionDenied" in str(err.value) or "PERMISSION_DENIED" in str(err.value)


def test_spiffe_ids_given_as_options_must_name_a_workload() -> None:
    for tls, setting in [
        (TlsOptions(server_spiffe_id="spiffe://example.org"), "server_spiffe_id"),
        (TlsOptions(server_spiffe_id="https://example.org/x"), "server_spiffe_id"),
        (TlsOptions(client_spiffe_id="spiffe://Example.org/x"), "client_spiffe_id"),
    ]:
        with pytest.raises(TlsError) as err:
            m.Client("https://127.0.0.1:1", USER_ID, TENANT_ID, tls=tls)
        assert err.value.setting == setting


def test_http1_over_tls_where_the_client_offers_only_http1(
    tmp_path: Path,
    ca: Ca,
    file_server: tuple[str, Path],
    runtime: m.Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The HTTP/1.1 path over TLS (http.client on the verified TLS socket), as with a server
    # that does not speak HTTP/2.
    monkeypatch.setattr(tls_module, "ALPN", ["http/1.1"])
    url, log = file_server
    cert, key = ca.issue(uris=[CLIENT_ID]).write(tmp_path, "client")
    tls = TlsOptions(mode="file", cert_file=cert, key_file=key, ca_file=ca.write(tmp_path))
    with m.Client(url, USER_ID, TENANT_ID, tls=tls, runtime=runtime) as client:
        lifecycle(client)
        assert client.transport.stats["connections"] == 1
    assert {p["alpn"] for p in peer_log(log)} == {"http/1.1"}
