"""Answers whose content used to be dropped without a word: states and network modes newer
than the schema (protobuf enums are open) and gzip bodies of several members."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from conftest import DISABLED, TENANT_ID, USER_ID, dev_server

import metald_client as m
from metald_client import codec
from metald_client.types import HttpResponse, ListVmsRequest, number_of

PROTO = [("content-type", "application/proto")]
JSON = [("content-type", "application/json")]


def test_a_state_unknown_to_the_sdk_is_kept_as_its_number() -> None:
    options = m.ClientOptions("http://metald:8080", "alice", "acme")
    # GetVmInfoResponse{vm_id: "ud-5", state: 5}
    response = HttpResponse(200, PROTO, b"\n\x04ud-5\x18\x05")
    info = codec.decode_response(options, "get-vm-info", response)
    assert isinstance(info, m.GetVmInfoResponse)
    assert info.state == 5 and type(info.state) is int
    assert info.state != m.VmState.UNSPECIFIED  # type: ignore[comparison-overlap]

    options = m.ClientOptions("http://metald:8080", "alice", "acme", codec=m.Codec.JSON)
    listed = codec.decode_response(
        options, "list-vms", HttpResponse(200, JSON, b'{"vms":[{"vmId":"ud-5","state":5}]}')
    )
    assert isinstance(listed, m.ListVmsResponse)
    assert listed.vms[0].state == 5
    known = codec.decode_response(
        options, "boot-vm", HttpResponse(200, JSON, b'{"success":true,"state":2}')
    )
    assert isinstance(known, m.StateChangeResponse)
    assert known.state is m.VmState.RUNNING

    # A name is accepted on input too, though the field is typed VmState | int.
    filter_: list[m.VmState | int] = [m.VmState.RUNNING, 5, "paused", 1]  # type: ignore[list-item]
    request = codec.encode_request(options, "list-vms", ListVmsRequest(state_filter=filter_))
    states = b'["VM_STATE_RUNNING",5,"VM_STATE_PAUSED","VM_STATE_CREATED"]'
    assert request.body == b'{"stateFilter":' + states + b"}"


def test_open_enum_helpers_and_unknown_network_modes() -> None:
    assert m.VmState.of(2) is m.VmState.RUNNING and m.VmState.of(5) == 5
    assert m.VmState.of("RUNNING") is m.VmState.RUNNING
    assert m.VmState.SHUTDOWN.number == 4 and number_of(5) == 5
    assert m.NetworkMode.from_number(3) is m.NetworkMode.IPV6_ONLY
    with m.VmConfigBuilder.from_template("minimal") as builder:
        config = builder.add_network("eth1", mode=9).build()
    assert config.network[-1].mode == 9
    assert config.network[-1].ipv4_config is None and config.network[-1].ipv6_config is None
    m.validate_config(config)
    text = m.render_config_file(m.config_file.from_vm_config(config, "n", "d"))
    assert '"mode": 9' in text
    assert m.config_file.to_vm_config(m.parse_config_file(text)).network[-1].mode == 9


def test_against_a_dev_server_answering_state_5(tmp_path: Path, runtime: m.Runtime) -> None:
    faults = ("--fault", "GetVmInfo=state:5", "--fault", "ListVms=state:5")
    with dev_server(tmp_path, *faults) as url:
        for wire in ("proto", "json"):
            with m.Client(
                url, USER_ID, TENANT_ID, codec=wire, runtime=runtime, tls=DISABLED
            ) as client:
                vm_id = client.create_vm(m.template_config("minimal")).vm_id
                client.boot_vm(vm_id)
                assert client.get_vm_info(vm_id).state == 5, wire
                assert {vm.vm_id: vm.state for vm in client.list_vms().vms}[vm_id] == 5, wire
                assert client.list_all_vms([m.VmState.RUNNING]) == [], wire
                assert vm_id in {vm.vm_id for vm in client.list_all_vms()}, wire


def test_against_a_dev_server_answering_in_two_gzip_members(
    tmp_path: Path, runtime: m.Runtime
) -> None:
    faults = ("--fault", "GetVmInfo=gzip-members", "--fault", "ListVms=gzip-members")
    with dev_server(tmp_path, *faults) as url:
        for wire in ("proto", "json"):
            with m.Client(
                url, USER_ID, TENANT_ID, codec=wire, runtime=runtime, tls=DISABLED
            ) as client:
                ids = [client.create_vm(m.template_config("minimal")).vm_id for _ in range(2)]
                client.boot_vm(ids[0])
                info = client.get_vm_info(ids[0])
                assert info.state is m.VmState.RUNNING and info.config is not None, wire
                listed = {vm.vm_id for vm in client.list_vms().vms}
                assert set(ids) <= listed, wire


def test_gzip_members_and_trailing_garbage_offline() -> None:
    options = m.ClientOptions("http://metald:8080", "alice", "acme")
    message = b"\n\x04ud-1\x18\x02"
    body = gzip.compress(message[:6], mtime=0) + gzip.compress(message[6:], mtime=0)
    headers = [*PROTO, ("content-encoding", "gzip")]
    info = codec.decode_response(options, "get-vm-info", HttpResponse(200, headers, body))
    assert isinstance(info, m.GetVmInfoResponse)
    assert (info.vm_id, info.state) == ("ud-1", m.VmState.RUNNING)
    with pytest.raises(m.TransportError) as error:
        codec.decode_response(
            options, "get-vm-info", HttpResponse(200, headers, gzip.compress(message) + b"junk")
        )
    assert error.value.code == "internal"
