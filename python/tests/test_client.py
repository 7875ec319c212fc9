"""The client against ``metald-host dev-server``: the whole VM lifecycle from Python."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import DISABLED, TENANT_ID, USER_ID, dev_server

import metald_client as m


def test_lifecycle(client: m.Client) -> None:
    # template -> builder adjustments -> validate -> create
    builder = (
        m.VmConfigBuilder.from_template(m.Template.MINIMAL)
        .with_cpu(2, 4)
        .with_memory_mb(1024, 2048)
        .add_metadata("suite", "python")
    )
    builder.validate()
    created = client.create_vm(builder)
    builder.close()
    vm_id = created.vm_id
    assert vm_id.startswith("ud-") and created.state is m.VmState.CREATED

    assert client.boot_vm(vm_id) == m.StateChangeResponse(True, m.VmState.RUNNING)

    info = client.get_vm_info(vm_id)
    assert info.vm_id == vm_id and info.state is m.VmState.RUNNING
    assert info.config is not None and info.config.cpu is not None
    assert info.config.cpu.vcpu_count == 2
    assert info.config.metadata["suite"] == "python"
    assert info.network_info is not None and info.network_info.ip_address

    assert vm_id in {vm.vm_id for vm in client.list_all_vms([m.VmState.RUNNING])}
    assert client.pause_vm(vm_id).state is m.VmState.PAUSED
    assert client.get_vm_info(vm_id).state is m.VmState.PAUSED
    assert client.resume_vm(vm_id).state is m.VmState.RUNNING
    assert client.reboot_vm(vm_id).state is m.VmState.RUNNING
    assert client.shutdown_vm(vm_id, timeout_seconds=5).state is m.VmState.SHUTDOWN
    assert client.delete_vm(vm_id).success

    with pytest.raises(m.ConnectError) as err:
        client.get_vm_info(vm_id)
    assert err.value.code == "not_found" and err.value.code is m.ErrorCode.NOT_FOUND
    assert err.value.http_status == 404
    # The text is the component's description, the same line every host shows.
    assert err.value.message == f"VM not found: {vm_id}"
    assert str(err.value) == f"not_found: VM not found: {vm_id}"


def test_pagination(client: m.Client) -> None:
    config = m.template_config("minimal")
    mine = {client.create_vm(config).vm_id for _ in range(5)}

    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = client.list_vms(page_size=2, page_token=token)
        assert len(page.vms) <= 2
        seen += [vm.vm_id for vm in page.vms]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages >= 3
    assert len(seen) == len(set(seen)) == page.total_count
    assert mine <= set(seen)

    assert [vm.vm_id for vm in client.iter_vms(page_size=2)] == seen
    everything = client.list_all_vms()
    assert [vm.vm_id for vm in everything] == seen
    assert all(vm.customer_id == USER_ID for vm in everything)
    created = client.list_all_vms(["created"])
    assert mine <= {vm.vm_id for vm in created}
    assert all(vm.state is m.VmState.CREATED for vm in created)

    for vm_id in mine:
        client.delete_vm(vm_id)


def test_not_found_everywhere(client: m.Client) -> None:
    missing = "ud-0000000000000000"
    calls: list[Callable[[], object]] = [
        lambda: client.get_vm_info(missing),
        lambda: client.boot_vm(missing),
        lambda: client.pause_vm(missing),
        lambda: client.delete_vm(missing),
    ]
    for call in calls:
        with pytest.raises(m.MetaldError) as err:
            call()
        assert isinstance(err.value, m.ConnectError)
        assert err.value.code == "not_found", err.value


def test_invalid_config_is_not_sent(client: m.Client) -> None:
    before = len(client.list_all_vms())
    config = m.template_config("minimal")
    config.storage[0].path = ""
    with pytest.raises(m.InvalidConfigError) as err:
        client.create_vm(config)
    assert "storage[0].path" in err.value.fields
    assert len(client.list_all_vms()) == before


def test_options_and_codecs(server_url: str, runtime: m.Runtime) -> None:
    with m.Client(
        server_url, USER_ID, TENANT_ID, codec="json", runtime=runtime, tls=DISABLED
    ) as client:
        options = client.options()
        assert options.codec is m.Codec.JSON
        assert options.timeout_ms == 30000 and options.route_prefix == "metal.vmprovisioner.v1"
        vm = client.create_vm(m.template_config("minimal"))
        assert client.get_vm_info(vm.vm_id).state is m.VmState.CREATED
        client.delete_vm(vm.vm_id)
    with pytest.raises(ValueError, match="closed"):
        client.list_vms()

    opts = m.ClientOptions(server_url, USER_ID, TENANT_ID, retries=0)
    with m.Client.from_options(opts, runtime=runtime, tls=DISABLED) as client:
        assert client.options().retries == 0


def test_open_rejects_bad_options(server_url: str) -> None:
    with pytest.raises(m.InvalidConfigError) as err:
        m.Client(server_url, "al ice", "")
    assert err.value.fields == ["user-id", "tenant-id"]
    with pytest.raises(m.InvalidConfigError):
        m.Client("ftp://example.com", USER_ID, TENANT_ID)


def test_other_identity_cannot_see_the_vm(client: m.Client, server_url: str) -> None:
    vm = client.create_vm(m.template_config("minimal"))
    with m.Client(server_url, "bob", TENANT_ID, tls=DISABLED) as bob:
        with pytest.raises(m.ConnectError) as err:
            bob.get_vm_info(vm.vm_id)
        assert err.value.code in ("not_found", "permission_denied")
    client.delete_vm(vm.vm_id)


def test_transport_error_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with m.Client(
        f"http://127.0.0.1:{port}", USER_ID, TENANT_ID, retries=0, tls=DISABLED
    ) as client:
        with pytest.raises(m.TransportError) as err:
            client.get_vm_info("ud-0000000000000000")
        assert err.value.code == "unavailable"
        assert err.value.outcome_unknown is False


def test_deadline_exceeded(tmp_path: Path) -> None:
    with dev_server(tmp_path, "--fault", "ListVms=latency:2s") as slow_url:
        with m.Client(slow_url, USER_ID, TENANT_ID, timeout_ms=200, tls=DISABLED) as client:
            started = time.monotonic()
            with pytest.raises(m.TransportError) as err:
                client.list_vms()
            assert err.value.code == "deadline_exceeded"
            assert time.monotonic() - started < 1.5
            # Other RPCs are not delayed, and the client is still usable.
            with pytest.raises(m.ConnectError, match="not_found"):
                client.get_vm_info("ud-0000000000000000")


def test_client_survives_a_trap(client: m.Client) -> None:
    # White-box: make the next call trap by dropping the guest resource behind the client's
    # back (wasmtime then reports an unknown handle), then check the client recovers.
    assert client._instance is not None
    client._instance.drop(client._handle)
    with pytest.raises(m.ComponentTrapError) as err:
        client.list_vms()
    assert err.value.code == "internal"
    assert isinstance(client.list_vms(), m.ListVmsResponse)


def _request_log(path: Path) -> list[dict[str, object]]:
    """The lines of ``metald-host dev-server --request-log``."""
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("compression", "accept", "encoding"),
    [(None, "gzip", "gzip"), ("gzip", "gzip", "gzip"), ("identity", "identity", None)],
)
def test_compression_is_what_the_server_sees_and_answers(
    tmp_path: Path,
    runtime: m.Runtime,
    compression: str | None,
    accept: str,
    encoding: str | None,
) -> None:
    # The dev server compresses every answer it may, as metald does.
    log = tmp_path / "requests.jsonl"
    with (
        dev_server(tmp_path, "--request-log", str(log)) as url,
        m.Client(
            url, USER_ID, TENANT_ID, compression=compression, runtime=runtime, tls=DISABLED
        ) as client,
    ):
        assert client.options().compression is m.Compression(accept)
        vm = client.create_vm(m.template_config("minimal"))
        assert client.get_vm_info(vm.vm_id).vm_id == vm.vm_id
    records = _request_log(log)
    assert [r["rpc"] for r in records] == ["CreateVm", "GetVmInfo"]
    for record in records:
        assert (record["status"], record["accept_encoding"], record["content_encoding"]) == (
            200,
            accept,
            encoding,
        ), record


def test_a_bad_compression_is_an_error_naming_the_argument(server_url: str) -> None:
    with pytest.raises(ValueError, match=r"^compression: 'br' is not one of gzip, identity$"):
        m.Client(server_url, USER_ID, TENANT_ID, compression="br", tls=DISABLED)
