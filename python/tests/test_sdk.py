"""The component's offline exports: templates, builder, validation, config files, codec."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import metald_client as m
from metald_client import codec, config_file
from metald_client.types import HttpResponse, ListVmsRequest


def test_templates(runtime: m.Runtime) -> None:
    assert m.all_templates() == list(m.Template)
    assert m.parse_template("high-cpu") is m.Template.HIGH_CPU
    assert m.template_name(m.Template.HIGH_MEMORY) == "high-memory"
    assert m.Template("high_cpu") is m.Template.HIGH_CPU  # lenient Python-side parsing

    config = m.template_config("minimal")
    assert isinstance(config, m.VmConfig)
    assert config.cpu == m.CpuConfig(vcpu_count=1, max_vcpu_count=2)
    assert config.memory is not None and config.memory.size_bytes == 512 * 2**20
    assert [d.id for d in config.storage] == ["rootfs"] and config.storage[0].is_root_device
    assert config.network[0].mode is m.NetworkMode.DUAL_STACK
    assert config.metadata["template"] == "minimal"


def test_unknown_template_raises_with_field() -> None:
    with pytest.raises(m.InvalidConfigError) as info:
        m.parse_template("huge")
    assert info.value.code == "invalid_argument"
    assert info.value.fields == ["template"]
    assert "high-cpu" in info.value.issues[0].message


def test_builder_adjustments() -> None:
    with m.VmConfigBuilder.from_template(m.Template.STANDARD) as builder:
        same = (
            builder.with_cpu(4, 8)
            .with_memory_mb(4096, 8192, hotplug_enabled=False)
            .add_data_storage("scratch", "/var/lib/scratch.ext4")
            .add_metadata("team", "infra")
            .with_default_console("/tmp/py.log")
        )
        assert same is builder
        builder.validate()
        config = builder.build()
    assert config.cpu == m.CpuConfig(vcpu_count=4, max_vcpu_count=8)
    assert config.memory == m.MemoryConfig(
        size_bytes=4096 * 2**20, hotplug_enabled=False, max_size_bytes=8192 * 2**20
    )
    assert [d.id for d in config.storage] == ["rootfs", "scratch"]
    assert config.metadata["team"] == "infra" and config.metadata["template"] == "standard"
    assert config.console is not None and config.console.output == "/tmp/py.log"
    assert list(config.metadata) == sorted(config.metadata)  # string-maps come back sorted

    # The default builder and from_config.
    default = m.VmConfigBuilder().build()
    assert default.cpu == m.CpuConfig(vcpu_count=2, max_vcpu_count=4)
    copy = m.VmConfigBuilder.from_config(config).force_build().build()
    assert copy.metadata["force_rebuild"] == "true"
    assert dataclasses.replace(copy, metadata=config.metadata) == config


def test_builder_errors() -> None:
    builder = m.VmConfigBuilder()
    with pytest.raises(m.InvalidConfigError) as info:
        builder.with_cpu(2**31, 2**31)  # a u32 the component rejects
    assert info.value.fields and info.value.fields[0].startswith("vcpu")
    with pytest.raises(ValueError, match="out of range"):
        builder.with_cpu(2**32, 1)  # not a u32 at all: refused before the call
    with pytest.raises(TypeError, match="expected int"):
        builder.with_cpu("4", 8)  # type: ignore[arg-type]
    builder.with_cpu(1, 1)  # still usable
    builder.close()
    with pytest.raises(ValueError, match="closed"):
        builder.build()


def test_validation_reports_every_field_path() -> None:
    builder = (
        m.VmConfigBuilder.from_template("minimal")
        .add_storage("data", "", False, False, "")  # empty path
        .add_root_storage("/opt/second-root.ext4")  # a second root disk
    )
    with pytest.raises(m.InvalidConfigError) as info:
        builder.validate()
    fields = info.value.fields
    assert "storage[1].path" in fields
    first = info.value.issues[0]
    assert str(first) == f"{first.field}: {first.message}" and str(first) in str(info.value)
    assert any(f.startswith("storage[2].") for f in fields)
    assert isinstance(info.value, m.MetaldError) and isinstance(info.value, ValueError)

    config = builder.build()
    assert config.cpu is not None
    config.cpu.vcpu_count = 0
    with pytest.raises(m.InvalidConfigError) as info:
        m.validate_config(config)
    assert info.value.fields[0] == "cpu.vcpu-count"
    assert len(info.value.issues) == len(fields) + 1
    assert m.config_issues(config) == info.value.issues

    m.validate_config(m.template_config("standard"))
    assert m.config_issues(m.template_config("standard")) == []


def test_plain_dicts_are_accepted_as_records() -> None:
    as_dict = dataclasses.asdict(m.template_config("minimal"))
    m.validate_config(as_dict)  # type: ignore[arg-type]
    as_dict["cpu"]["vcpu_count"] = 0
    assert [i.field for i in m.config_issues(as_dict)] == ["cpu.vcpu-count"]  # type: ignore[arg-type]


def test_validate_identity() -> None:
    m.validate_identity("alice", "acme")
    with pytest.raises(m.InvalidConfigError) as info:
        m.validate_identity("al ice", "")
    assert info.value.fields == ["user-id", "tenant-id"]


def test_config_file_round_trip() -> None:
    config = m.VmConfigBuilder.from_template("development").add_metadata("team", "infra").build()
    file = config_file.from_vm_config(config, "dev-box", "a development VM")
    assert file.name == "dev-box" and file.cpu.vcpu_count == 4
    text = m.render_config_file(file)
    assert text.startswith('{\n  "name": "dev-box"') and not text.endswith("\n")
    parsed = m.parse_config_file(text)
    assert parsed == file
    assert m.render_config_file(parsed) == text

    back = config_file.to_vm_config(parsed)
    assert back.metadata.pop("config_name") == "dev-box"
    assert back.metadata.pop("config_description") == "a development VM"
    assert back == config


def test_config_file_parse_errors_name_paths() -> None:
    with pytest.raises(m.InvalidConfigError) as info:
        m.parse_config_file('{"cpu": {"vcpu_count": "four"}, "network": [{"mode": "x"}], "x": 1}')
    fields = info.value.fields
    assert "cpu.vcpu_count" in fields and "x" in fields
    assert any(f.startswith("network[0]") for f in fields)


def test_codec_encode_and_decode() -> None:
    options = m.ClientOptions("http://metald:8080/base", "alice", "acme", codec=m.Codec.JSON)
    request = codec.encode_request(options, m.RpcMethod.LIST_VMS, ListVmsRequest(page_size=3))
    assert request.method == "POST"
    assert request.url == "http://metald:8080/base/metal.vmprovisioner.v1.VmService/ListVms"
    headers = dict(request.headers)
    assert headers["authorization"] == "Bearer dev_user_alice"
    assert headers["x-tenant-id"] == "acme"
    assert request.body == b'{"pageSize":3}'

    with pytest.raises(TypeError):
        codec.encode_request(options, "boot-vm", ListVmsRequest())

    json = [("content-type", "application/json")]
    booted = codec.decode_response(
        options, "boot-vm", HttpResponse(200, json, b'{"success":true,"state":"VM_STATE_RUNNING"}')
    )
    assert booted == m.StateChangeResponse(success=True, state=m.VmState.RUNNING)
    with pytest.raises(m.ConnectError) as info:
        not_found = HttpResponse(404, json, b'{"code":"not_found","message":"gone"}')
        codec.decode_response(options, "get-vm-info", not_found)
    assert info.value.code == "not_found" and info.value.http_status == 404


def test_missing_component_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="METALD_COMPONENT"):
        m.Runtime(tmp_path / "nope.wasm")


def test_component_path_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(m.COMPONENT_ENV, str(tmp_path / "elsewhere.wasm"))
    assert m.default_component_path() == (tmp_path / "elsewhere.wasm").resolve()
    with pytest.raises(FileNotFoundError):
        m.template_config("minimal", runtime=None)
