"""Python host for the metald client WebAssembly component (``metald:client@0.1.0``).

The component (``metald_guest.wasm``) holds the whole metald SDK: the Go client's builder,
templates, validation and config files, and a ConnectRPC client. This package runs it with
wasmtime-py and exposes it with Python types:

* :class:`VmConfigBuilder`, :func:`template_config`, :func:`parse_template` -- build configs;
* :func:`validate_config` -- raises :class:`InvalidConfigError` with every field path;
* :func:`parse_config_file`, :func:`render_config_file`, :mod:`metald_client.config_file`;
* :class:`Client` -- ``create_vm``, ``boot_vm``, ``get_vm_info``, ``list_vms``,
  ``list_all_vms``, ``pause_vm``, ``resume_vm``, ``reboot_vm``, ``shutdown_vm``, ``delete_vm``;
* :mod:`metald_client.codec` -- Connect encoding/decoding for your own HTTP client;
* :func:`parse_server_url` -- a server URL taken apart as the client reads it;
* :class:`TlsOptions` -- the TLS mode of a client (:mod:`metald_client.tls`: ``spiffe``, the
  default, ``file``, ``disabled``); :mod:`metald_client.transport` implements the component's
  ``wasi:http`` imports with them, :mod:`metald_client.allow` is the outbound allow-list.

Values are the dataclasses and enums of :mod:`metald_client.types`; failures raise the
:class:`MetaldError` hierarchy of :mod:`metald_client.errors`.

Example::

    from metald_client import Client, VmConfigBuilder

    config = VmConfigBuilder.from_template("standard").with_cpu(4, 8).build()
    with Client("https://metald:8080", "alice", "acme") as client:  # SPIFFE mTLS
        ...
    with Client("http://127.0.0.1:8080", "alice", "acme", tls=TlsOptions.disabled()) as client:
        vm = client.create_vm(config)
        client.boot_vm(vm.vm_id)
"""

from . import allow, codec, config_file, endpoint, errors, tls, transport, types
from .allow import AllowListError
from .builder import VmConfigBuilder
from .client import Client
from .config_file import parse_config_file, render_config_file
from .endpoint import parse_server_url
from .errors import (
    ComponentTrapError,
    ConnectError,
    InvalidConfigError,
    MetaldError,
    OtherError,
    TransportError,
)
from .runtime import COMPONENT_ENV, Runtime, default_component_path, get_runtime
from .templates import all_templates, parse_template, template_config, template_name
from .tls import TlsError, TlsMode, TlsOptions
from .types import (
    BootConfig,
    ClientOptions,
    Codec,
    Compression,
    ConsoleConfig,
    CpuConfig,
    CpuTopology,
    CreateVmResponse,
    DeleteVmResponse,
    ErrorCode,
    ErrorDetail,
    GetVmInfoResponse,
    Ipv4Config,
    Ipv6Config,
    ListVmsResponse,
    MemoryConfig,
    NetworkInterface,
    NetworkMode,
    RateLimit,
    RpcMethod,
    Scheme,
    ServerUrl,
    StateChangeResponse,
    StorageDevice,
    Template,
    ValidationIssue,
    VmConfig,
    VmConfigFile,
    VmInfo,
    VmState,
)
from .validation import config_issues, validate_config, validate_identity

__version__ = "0.1.0"

__all__ = [
    "COMPONENT_ENV",
    "AllowListError",
    "BootConfig",
    "Client",
    "ClientOptions",
    "Codec",
    "ComponentTrapError",
    "Compression",
    "ConnectError",
    "ConsoleConfig",
    "CpuConfig",
    "CpuTopology",
    "CreateVmResponse",
    "DeleteVmResponse",
    "ErrorCode",
    "ErrorDetail",
    "GetVmInfoResponse",
    "InvalidConfigError",
    "Ipv4Config",
    "Ipv6Config",
    "ListVmsResponse",
    "MemoryConfig",
    "MetaldError",
    "NetworkInterface",
    "NetworkMode",
    "OtherError",
    "RateLimit",
    "RpcMethod",
    "Runtime",
    "Scheme",
    "ServerUrl",
    "StateChangeResponse",
    "StorageDevice",
    "Template",
    "TlsError",
    "TlsMode",
    "TlsOptions",
    "TransportError",
    "ValidationIssue",
    "VmConfig",
    "VmConfigBuilder",
    "VmConfigFile",
    "VmInfo",
    "VmState",
    "__version__",
    "all_templates",
    "allow",
    "codec",
    "config_file",
    "config_issues",
    "default_component_path",
    "endpoint",
    "errors",
    "get_runtime",
    "parse_config_file",
    "parse_server_url",
    "parse_template",
    "render_config_file",
    "template_config",
    "template_name",
    "tls",
    "transport",
    "types",
    "validate_config",
    "validate_identity",
]
