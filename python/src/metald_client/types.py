"""Plain Python values for the records and enums of ``metald:client@0.1.0``.

Every WIT record is a :func:`dataclasses.dataclass` whose fields are the WIT fields in
``snake_case`` (``vcpu-count`` -> ``vcpu_count``); every WIT enum is a ``str``-valued
:class:`enum.Enum`. The mapping of the remaining WIT types:

=====================================  ==================================================
WIT                                    Python
=====================================  ==================================================
``string``, ``bool``                   ``str``, ``bool``
``s32``, ``s64``, ``u16``, ``u32`` ...  ``int`` (range-checked before the call)
``f64``                                ``float``
``option<T>``                          ``T | None``
``list<T>``                            ``list[T]``
``list<u8>``                           ``bytes``
``string-map``                         ``dict[str, str]`` (output is sorted by key)
``list<tuple<string, string>>``        ``list[tuple[str, str]]`` (HTTP headers)
=====================================  ==================================================

Fields that you may leave out default to the protobuf zero value (``""``, ``0``, ``False``,
empty collections, ``None``), exactly as an unset proto field reads on the server.

On input, enum-typed parameters also accept the plain string: ``"high-cpu"``,
``"high_cpu"`` and ``Template.HIGH_CPU`` are the same template.

``VmState`` and ``NetworkMode`` are protobuf enums, which are open: a number this SDK does not
know (a newer server's) is kept as a plain ``int`` in fields typed ``VmState | int``, and an
``int`` is accepted on input (``2`` is ``VmState.RUNNING``; ``5`` is sent as 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = [
    "BootConfig",
    "BootVmResponse",
    "ClientOptions",
    "Codec",
    "ConsoleConfig",
    "CpuConfig",
    "CpuTopology",
    "CreateVmRequest",
    "CreateVmResponse",
    "DeleteVmRequest",
    "DeleteVmResponse",
    "ErrorCode",
    "ErrorDetail",
    "FileBoot",
    "FileConsole",
    "FileCpu",
    "FileIpv4",
    "FileIpv6",
    "FileMemory",
    "FileNetwork",
    "FileStorage",
    "GetVmInfoResponse",
    "HttpRequest",
    "HttpResponse",
    "Ipv4Config",
    "Ipv6Config",
    "ListVmsRequest",
    "ListVmsResponse",
    "MemoryConfig",
    "NetworkInterface",
    "NetworkMode",
    "NetworkStats",
    "OpenWitEnum",
    "PauseVmResponse",
    "PortMapping",
    "RateLimit",
    "RebootVmRequest",
    "RebootVmResponse",
    "ResumeVmResponse",
    "RpcMethod",
    "ShutdownVmRequest",
    "ShutdownVmResponse",
    "StateChangeResponse",
    "StorageDevice",
    "StorageStats",
    "Template",
    "ValidationIssue",
    "VmConfig",
    "VmConfigFile",
    "VmInfo",
    "VmMetrics",
    "VmNetworkInfo",
    "VmState",
    "number_of",
]


class WitEnum(str, Enum):
    """Base of the WIT enums: a ``str`` enum that also parses other spellings.

    ``Template("high_cpu")``, ``Template("HIGH-CPU")`` and ``Template("high-cpu")`` all give
    ``Template.HIGH_CPU``. ``str()`` of a member is its value.
    """

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @property
    def wit_name(self) -> str:
        """The case name in the WIT contract (``high-cpu``)."""
        return self.name.lower().replace("_", "-")

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            wanted = value.strip().lower().replace("_", "-")
            for member in cls:
                if member.wit_name == wanted:
                    return member
        return None


class OpenWitEnum(WitEnum):
    """Base of the protobuf enums, which are open (WIT variants with an ``unknown(s32)`` case).

    The members are the numbers this SDK knows, declared in wire-number order from 0. A
    number it does not know (a newer server's) is kept as a plain ``int``: fields typed
    ``VmState | int`` hold either a member or that number, and an ``int`` given on input is
    sent as that number (a known one reads as its member).
    """

    @property
    def number(self) -> int:
        """The protobuf number of this case."""
        return list(type(self)).index(self)

    @classmethod
    def from_number(cls, number: int) -> Any:
        """The member with this protobuf number, or ``number`` itself when it is unknown."""
        members = list(cls)
        return members[number] if 0 <= number < len(members) else number

    @classmethod
    def of(cls, value: Any) -> Any:
        """A member from a member, a name or a number; an unknown number stays an ``int``."""
        if isinstance(value, int) and not isinstance(value, (bool, Enum)):
            return cls.from_number(value)
        return cls(value)


def number_of(value: OpenWitEnum | int) -> int:
    """The protobuf number of a ``VmState``/``NetworkMode`` member or of an unknown ``int``."""
    return value.number if isinstance(value, OpenWitEnum) else int(value)


class VmState(OpenWitEnum):
    """Lifecycle state of a VM (proto ``VmState``). A state number this SDK does not know is
    kept as an ``int`` (fields are ``VmState | int``), never read as ``UNSPECIFIED``."""

    UNSPECIFIED = "unspecified"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    SHUTDOWN = "shutdown"


class NetworkMode(OpenWitEnum):
    """Address families of a network interface (proto ``NetworkMode``). A mode number this SDK
    does not know is kept as an ``int`` (fields are ``NetworkMode | int``)."""

    UNSPECIFIED = "unspecified"
    DUAL_STACK = "dual-stack"
    IPV4_ONLY = "ipv4-only"
    IPV6_ONLY = "ipv6-only"


class Template(WitEnum):
    """The Go client's five built-in VM templates (names as ``parse_template`` reads them)."""

    MINIMAL = "minimal"
    STANDARD = "standard"
    HIGH_CPU = "high-cpu"
    HIGH_MEMORY = "high-memory"
    DEVELOPMENT = "development"


class Codec(WitEnum):
    """Wire codec of a client: ``application/proto`` (default) or ``application/json``."""

    PROTO = "proto"
    JSON = "json"


class ErrorCode(WitEnum):
    """Connect error codes; the values are the Connect names (``not_found``)."""

    CANCELED = "canceled"
    UNKNOWN = "unknown"
    INVALID_ARGUMENT = "invalid_argument"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    PERMISSION_DENIED = "permission_denied"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    FAILED_PRECONDITION = "failed_precondition"
    ABORTED = "aborted"
    OUT_OF_RANGE = "out_of_range"
    UNIMPLEMENTED = "unimplemented"
    INTERNAL = "internal"
    UNAVAILABLE = "unavailable"
    DATA_LOSS = "data_loss"
    UNAUTHENTICATED = "unauthenticated"


class RpcMethod(WitEnum):
    """The nine RPCs of ``VmService`` (used by :mod:`metald_client.codec`)."""

    CREATE_VM = "create-vm"
    DELETE_VM = "delete-vm"
    BOOT_VM = "boot-vm"
    SHUTDOWN_VM = "shutdown-vm"
    PAUSE_VM = "pause-vm"
    RESUME_VM = "resume-vm"
    REBOOT_VM = "reboot-vm"
    GET_VM_INFO = "get-vm-info"
    LIST_VMS = "list-vms"


# --------------------------------------------------------------------------- VM config


@dataclass
class CpuTopology:
    """CPU topology (proto ``CpuTopology``)."""

    sockets: int = 0
    cores_per_socket: int = 0
    threads_per_core: int = 0


@dataclass
class CpuConfig:
    """vCPUs of a VM (proto ``CpuConfig``)."""

    vcpu_count: int = 0
    max_vcpu_count: int = 0
    topology: CpuTopology | None = None
    features: dict[str, str] = field(default_factory=dict)


@dataclass
class MemoryConfig:
    """Memory of a VM (proto ``MemoryConfig``), in bytes."""

    size_bytes: int = 0
    hotplug_enabled: bool = False
    max_size_bytes: int = 0
    backing: dict[str, str] = field(default_factory=dict)


@dataclass
class BootConfig:
    """Kernel and boot arguments (proto ``BootConfig``)."""

    kernel_path: str = ""
    initrd_path: str = ""
    kernel_args: str = ""
    boot_options: dict[str, str] = field(default_factory=dict)


@dataclass
class StorageDevice:
    """One disk (proto ``StorageDevice``); ``options["docker_image"]`` is read by the server."""

    id: str
    path: str
    read_only: bool = False
    is_root_device: bool = False
    interface_type: str = ""
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Ipv4Config:
    """IPv4 settings of an interface (proto ``IPv4Config``)."""

    address: str = ""
    netmask: str = ""
    gateway: str = ""
    dns_servers: list[str] = field(default_factory=list)
    dhcp: bool = False


@dataclass
class Ipv6Config:
    """IPv6 settings of an interface (proto ``IPv6Config``)."""

    address: str = ""
    prefix_length: int = 0
    gateway: str = ""
    dns_servers: list[str] = field(default_factory=list)
    slaac: bool = False
    privacy_extensions: bool = False
    link_local: str = ""


@dataclass
class RateLimit:
    """A token-bucket rate limit (proto ``RateLimit``)."""

    bandwidth: int = 0
    refill_time: int = 0
    burst: int = 0


@dataclass
class NetworkInterface:
    """One network interface (proto ``NetworkInterface``)."""

    id: str
    mac_address: str = ""
    tap_device: str = ""
    interface_type: str = ""
    options: dict[str, str] = field(default_factory=dict)
    ipv4_config: Ipv4Config | None = None
    ipv6_config: Ipv6Config | None = None
    mode: NetworkMode | int = NetworkMode.UNSPECIFIED
    rx_rate_limit: RateLimit | None = None
    tx_rate_limit: RateLimit | None = None


@dataclass
class ConsoleConfig:
    """Serial console (proto ``ConsoleConfig``)."""

    enabled: bool = False
    output: str = ""
    input: str = ""
    console_type: str = ""


@dataclass
class VmConfig:
    """Complete description of a VM (proto ``VmConfig``).

    Build one with :class:`metald_client.VmConfigBuilder` or
    :func:`metald_client.template_config`; it is a plain mutable dataclass afterwards.
    """

    cpu: CpuConfig | None = None
    memory: MemoryConfig | None = None
    boot: BootConfig | None = None
    storage: list[StorageDevice] = field(default_factory=list)
    network: list[NetworkInterface] = field(default_factory=list)
    console: ConsoleConfig | None = None
    metadata: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- requests and responses


@dataclass
class CreateVmRequest:
    """CreateVm request; ``vm_id`` is ignored by the server (leave it empty)."""

    config: VmConfig
    vm_id: str = ""


@dataclass
class CreateVmResponse:
    """CreateVm response: use ``vm_id``, the id the server assigned."""

    vm_id: str
    state: VmState | int


@dataclass
class DeleteVmRequest:
    """DeleteVm request."""

    vm_id: str
    force: bool = False


@dataclass
class DeleteVmResponse:
    """DeleteVm response."""

    success: bool


@dataclass
class ShutdownVmRequest:
    """ShutdownVm request."""

    vm_id: str
    force: bool = False
    timeout_seconds: int = 0


@dataclass
class RebootVmRequest:
    """RebootVm request."""

    vm_id: str
    force: bool = False


@dataclass
class StateChangeResponse:
    """Result of BootVm, ShutdownVm, PauseVm, ResumeVm and RebootVm."""

    success: bool
    state: VmState | int


BootVmResponse = StateChangeResponse
ShutdownVmResponse = StateChangeResponse
PauseVmResponse = StateChangeResponse
ResumeVmResponse = StateChangeResponse
RebootVmResponse = StateChangeResponse


@dataclass
class PortMapping:
    """A host port forwarded into the VM."""

    container_port: int
    host_port: int
    protocol: str


@dataclass
class VmNetworkInfo:
    """Network details of a booted VM."""

    ip_address: str = ""
    mac_address: str = ""
    tap_device: str = ""
    network_namespace: str = ""
    gateway: str = ""
    dns_servers: list[str] = field(default_factory=list)
    port_mappings: list[PortMapping] = field(default_factory=list)


@dataclass
class NetworkStats:
    """Network counters."""

    bytes_received: int = 0
    bytes_transmitted: int = 0
    packets_received: int = 0
    packets_transmitted: int = 0


@dataclass
class StorageStats:
    """Disk counters."""

    bytes_read: int = 0
    bytes_written: int = 0
    read_operations: int = 0
    write_operations: int = 0


@dataclass
class VmMetrics:
    """Resource usage (the real server never fills it)."""

    cpu_usage_percent: float = 0.0
    memory_usage_bytes: int = 0
    network_stats: NetworkStats | None = None
    storage_stats: StorageStats | None = None
    uptime_seconds: int = 0


@dataclass
class GetVmInfoResponse:
    """GetVmInfo response: the stored config and the live state."""

    vm_id: str
    config: VmConfig | None
    state: VmState | int
    metrics: VmMetrics | None = None
    backend_info: dict[str, str] = field(default_factory=dict)
    network_info: VmNetworkInfo | None = None


@dataclass
class ListVmsRequest:
    """ListVms request: an empty ``state_filter`` means all states; ``page_size`` 0 lets the
    server choose."""

    state_filter: list[VmState | int] = field(default_factory=list)
    page_size: int = 0
    page_token: str = ""


@dataclass
class VmInfo:
    """One VM in a listing (proto ``VmInfo``); timestamps are Unix seconds."""

    vm_id: str
    state: VmState | int
    vcpu_count: int = 0
    memory_size_bytes: int = 0
    created_timestamp: int = 0
    modified_timestamp: int = 0
    metadata: dict[str, str] = field(default_factory=dict)
    customer_id: str = ""


@dataclass
class ListVmsResponse:
    """One page of VMs, newest first; ``next_page_token`` is empty on the last page."""

    vms: list[VmInfo]
    next_page_token: str
    total_count: int


@dataclass
class ClientOptions:
    """How a client reaches metald and who it acts as.

    ``None`` means the component's default: 30000 ms timeout, route prefix
    ``metal.vmprovisioner.v1``, codec ``proto``, 2 retries for reads, 16 MiB responses.
    """

    server: str
    user_id: str
    tenant_id: str
    timeout_ms: int | None = None
    route_prefix: str | None = None
    codec: Codec | None = None
    retries: int | None = None
    max_response_bytes: int | None = None


@dataclass
class ErrorDetail:
    """One entry of a Connect error's ``details``: a protobuf message and its type name."""

    type_name: str
    value: bytes


@dataclass
class ValidationIssue:
    """A problem found by validation, named by its field path (``storage[1].path``)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


# --------------------------------------------------------------------------- config files


@dataclass
class FileCpu:
    """``cpu`` section of a config file."""

    vcpu_count: int = 0
    max_vcpu_count: int = 0
    topology: CpuTopology | None = None
    features: dict[str, str] = field(default_factory=dict)


@dataclass
class FileMemory:
    """``memory`` section of a config file, in MiB."""

    size_mb: int = 0
    max_size_mb: int = 0
    hotplug_enabled: bool = False
    backing: dict[str, str] = field(default_factory=dict)


@dataclass
class FileBoot:
    """``boot`` section of a config file."""

    kernel_path: str = ""
    kernel_args: str = ""
    initrd_path: str = ""
    boot_options: dict[str, str] = field(default_factory=dict)


@dataclass
class FileStorage:
    """One ``storage[]`` entry of a config file."""

    id: str
    path: str
    read_only: bool = False
    is_root_device: bool = False
    interface_type: str = ""
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class FileIpv4:
    """``network[].ipv4`` of a config file."""

    dhcp: bool = False
    static_ip: str = ""
    gateway: str = ""
    dns_servers: list[str] = field(default_factory=list)
    netmask: str = ""


@dataclass
class FileIpv6:
    """``network[].ipv6`` of a config file."""

    slaac: bool = False
    privacy_extensions: bool = False
    static_ip: str = ""
    gateway: str = ""
    dns_servers: list[str] = field(default_factory=list)
    prefix_length: int = 0
    link_local: str = ""


@dataclass
class FileNetwork:
    """One ``network[]`` entry of a config file."""

    id: str
    interface_type: str = ""
    mode: NetworkMode | int = NetworkMode.DUAL_STACK
    ipv4: FileIpv4 | None = None
    ipv6: FileIpv6 | None = None
    mac_address: str = ""
    tap_device: str = ""
    options: dict[str, str] = field(default_factory=dict)
    rx_rate_limit: RateLimit | None = None
    tx_rate_limit: RateLimit | None = None


@dataclass
class FileConsole:
    """``console`` section of a config file."""

    enabled: bool = False
    output: str = ""
    console_type: str = ""
    input: str = ""


@dataclass
class VmConfigFile:
    """A whole config file in the Go client's JSON format (``metald-cli config-gen``).

    ``metadata`` ``None`` is JSON ``null``; with ``template`` set and ``metadata`` ``None``,
    the template's metadata is used.
    """

    name: str = ""
    description: str = ""
    template: str = ""
    cpu: FileCpu = field(default_factory=FileCpu)
    memory: FileMemory = field(default_factory=FileMemory)
    boot: FileBoot = field(default_factory=FileBoot)
    storage: list[FileStorage] = field(default_factory=list)
    network: list[FileNetwork] = field(default_factory=list)
    console: FileConsole = field(default_factory=FileConsole)
    metadata: dict[str, str] | None = None


# --------------------------------------------------------------------------- codec


@dataclass
class HttpRequest:
    """An HTTP request ready to send (always ``POST``); headers may repeat."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class HttpResponse:
    """An HTTP response as received; ``content-type`` and ``content-encoding`` are read."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
