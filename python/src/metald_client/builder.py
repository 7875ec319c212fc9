"""``VmConfigBuilder``: the component's ``vm-config-builder`` resource."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Concatenate, ParamSpec, TypeVar

from wasmtime.component import ResourceAny

from . import _bindings as _b
from ._marshal import Caller
from .runtime import RuntimeLike, _Instance, get_runtime
from .types import Ipv4Config, Ipv6Config, NetworkMode, Template, VmConfig

__all__ = ["VmConfigBuilder"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


class VmConfigBuilder:
    """Builds a :class:`~metald_client.types.VmConfig` step by step (the Go client's builder).

    ``VmConfigBuilder()`` starts from the Go client's defaults: 2 vCPUs (max 4); 1 GiB
    memory (max 4 GiB, hotplug on); kernel ``/opt/vm-assets/vmlinux`` with
    ``console=ttyS0 reboot=k panic=1 pci=off``; no disks; no network; serial console to
    ``/tmp/vm-console.log``; no metadata. :meth:`from_template` and :meth:`from_config`
    start elsewhere.

    Every ``with_*``/``add_*`` method returns the builder, so calls chain::

        config = (VmConfigBuilder.from_template("standard")
                  .with_cpu(4, 8)
                  .add_metadata("team", "infra")
                  .build())

    Methods that get an out-of-range value raise
    :class:`~metald_client.InvalidConfigError`. The builder owns a component instance;
    :meth:`close` (or a ``with`` block) releases it early, otherwise garbage collection does.

    Args:
        runtime: A :class:`~metald_client.Runtime` or a path to the component
            (default: :func:`~metald_client.default_component_path`).
    """

    def __init__(self, *, runtime: RuntimeLike = None) -> None:
        self._init(runtime, _b.vm_config_builder_new)

    def _init(
        self,
        runtime: RuntimeLike,
        make: Callable[Concatenate[Caller, _P], ResourceAny],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> None:
        instance = get_runtime(runtime).instantiate()
        self._instance: _Instance | None = instance
        self._handle: ResourceAny | None = make(instance, *args, **kwargs)

    @classmethod
    def from_template(
        cls, template: Template | str, *, runtime: RuntimeLike = None
    ) -> VmConfigBuilder:
        """A builder holding the config of a built-in template (``"high-cpu"`` or
        ``Template.HIGH_CPU``)."""
        builder = cls.__new__(cls)
        builder._init(runtime, _b.vm_config_builder_from_template, template)
        return builder

    @classmethod
    def from_config(cls, config: VmConfig, *, runtime: RuntimeLike = None) -> VmConfigBuilder:
        """A builder holding a copy of ``config``, to adjust it."""
        builder = cls.__new__(cls)
        builder._init(runtime, _b.vm_config_builder_from_config, config)
        return builder

    # ------------------------------------------------------------------ plumbing

    def _call(
        self,
        method: Callable[Concatenate[Caller, ResourceAny, _P], _R],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _R:
        """Runs a generated ``vm-config-builder`` method wrapper on this builder's resource."""
        if self._instance is None or self._handle is None:
            raise ValueError("the builder is closed")
        return method(self._instance, self._handle, *args, **kwargs)

    def _chain(
        self,
        method: Callable[Concatenate[Caller, ResourceAny, _P], None],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> VmConfigBuilder:
        self._call(method, *args, **kwargs)
        return self

    def close(self) -> None:
        """Drops the builder's resource and instance; later calls raise ``ValueError``."""
        instance, self._instance = self._instance, None
        if instance is not None:
            instance.drop(self._handle)
        self._handle = None

    def __enter__(self) -> VmConfigBuilder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ CPU and memory

    def with_cpu(self, vcpu_count: int, max_vcpu_count: int) -> VmConfigBuilder:
        """Replaces the CPU config (topology and features are cleared); values above
        2147483647 raise :class:`~metald_client.InvalidConfigError`."""
        return self._chain(_b.vm_config_builder_with_cpu, vcpu_count, max_vcpu_count)

    def with_memory(
        self, size_bytes: int, max_size_bytes: int, hotplug_enabled: bool = True
    ) -> VmConfigBuilder:
        """Replaces the memory config, in bytes (values above 2^63-1 are an error)."""
        return self._chain(
            _b.vm_config_builder_with_memory, size_bytes, max_size_bytes, hotplug_enabled
        )

    def with_memory_mb(
        self, size_mb: int, max_size_mb: int, hotplug_enabled: bool = True
    ) -> VmConfigBuilder:
        """Replaces the memory config, in MiB (overflow is an error)."""
        return self._chain(
            _b.vm_config_builder_with_memory_mb, size_mb, max_size_mb, hotplug_enabled
        )

    def with_memory_gb(
        self, size_gb: int, max_size_gb: int, hotplug_enabled: bool = True
    ) -> VmConfigBuilder:
        """Replaces the memory config, in GiB (overflow is an error)."""
        return self._chain(
            _b.vm_config_builder_with_memory_gb, size_gb, max_size_gb, hotplug_enabled
        )

    # ------------------------------------------------------------------ boot

    def with_boot(
        self, kernel_path: str, initrd_path: str = "", kernel_args: str = ""
    ) -> VmConfigBuilder:
        """Replaces the boot config."""
        return self._chain(_b.vm_config_builder_with_boot, kernel_path, initrd_path, kernel_args)

    def with_default_boot(self, kernel_args: str = "") -> VmConfigBuilder:
        """Boots ``/opt/vm-assets/vmlinux`` without initrd; empty ``kernel_args`` means
        ``console=ttyS0 reboot=k panic=1 pci=off``."""
        return self._chain(_b.vm_config_builder_with_default_boot, kernel_args)

    # ------------------------------------------------------------------ storage

    def add_storage(
        self,
        id: str,
        path: str,
        read_only: bool = False,
        is_root_device: bool = False,
        interface_type: str = "",
    ) -> VmConfigBuilder:
        """Appends a disk; empty ``interface_type`` means ``virtio-blk``."""
        return self._chain(
            _b.vm_config_builder_add_storage, id, path, read_only, is_root_device, interface_type
        )

    def add_root_storage(self, path: str) -> VmConfigBuilder:
        """Appends the root disk (id ``rootfs``, read-write, ``virtio-blk``). Templates already
        have one; a second root disk fails validation."""
        return self._chain(_b.vm_config_builder_add_root_storage, path)

    def add_data_storage(self, id: str, path: str, read_only: bool = False) -> VmConfigBuilder:
        """Appends a non-root ``virtio-blk`` disk."""
        return self._chain(_b.vm_config_builder_add_data_storage, id, path, read_only)

    def add_storage_with_options(
        self,
        id: str,
        path: str,
        read_only: bool = False,
        is_root_device: bool = False,
        interface_type: str = "",
        options: Mapping[str, str] | None = None,
    ) -> VmConfigBuilder:
        """Appends a disk with options; empty ``interface_type`` means ``virtio-blk``."""
        return self._chain(
            _b.vm_config_builder_add_storage_with_options,
            id,
            path,
            read_only,
            is_root_device,
            interface_type,
            dict(options or {}),
        )

    # ------------------------------------------------------------------ network

    def add_network(
        self,
        id: str,
        interface_type: str = "",
        mode: NetworkMode | str | int = NetworkMode.DUAL_STACK,
    ) -> VmConfigBuilder:
        """Appends an interface with DHCP and/or SLAAC as ``mode`` asks; empty
        ``interface_type`` means ``virtio-net``, ``unspecified`` mode means dual stack. A mode
        number this SDK does not know (an ``int``) is kept, with neither DHCP nor SLAAC."""
        return self._chain(_b.vm_config_builder_add_network, id, interface_type, mode)

    def add_default_network(self) -> VmConfigBuilder:
        """Appends ``eth0``, ``virtio-net``, dual stack."""
        return self._chain(_b.vm_config_builder_add_default_network)

    def add_ipv4_only_network(self, id: str) -> VmConfigBuilder:
        """Appends an IPv4-only ``virtio-net`` interface with DHCP."""
        return self._chain(_b.vm_config_builder_add_ipv4_only_network, id)

    def add_ipv6_only_network(self, id: str) -> VmConfigBuilder:
        """Appends an IPv6-only ``virtio-net`` interface with SLAAC and privacy extensions."""
        return self._chain(_b.vm_config_builder_add_ipv6_only_network, id)

    def add_network_with_custom_config(
        self,
        id: str,
        interface_type: str = "",
        mode: NetworkMode | str | int = NetworkMode.DUAL_STACK,
        ipv4: Ipv4Config | None = None,
        ipv6: Ipv6Config | None = None,
    ) -> VmConfigBuilder:
        """Appends an interface with explicit IPv4/IPv6 settings; the mode is taken as given."""
        return self._chain(
            _b.vm_config_builder_add_network_with_custom_config,
            id,
            interface_type,
            mode,
            ipv4,
            ipv6,
        )

    # ------------------------------------------------------------------ console

    def with_console(self, enabled: bool, output: str, console_type: str) -> VmConfigBuilder:
        """Replaces the console config (its input is cleared)."""
        return self._chain(_b.vm_config_builder_with_console, enabled, output, console_type)

    def with_default_console(self, output: str = "") -> VmConfigBuilder:
        """Enables a serial console writing to ``output`` (empty: ``/tmp/vm-console.log``)."""
        return self._chain(_b.vm_config_builder_with_default_console, output)

    def disable_console(self) -> VmConfigBuilder:
        """Disables the console."""
        return self._chain(_b.vm_config_builder_disable_console)

    # ------------------------------------------------------------------ metadata

    def add_metadata(self, key: str, value: str) -> VmConfigBuilder:
        """Sets one metadata key."""
        return self._chain(_b.vm_config_builder_add_metadata, key, value)

    def with_metadata(self, metadata: Mapping[str, str]) -> VmConfigBuilder:
        """Replaces all metadata."""
        return self._chain(_b.vm_config_builder_with_metadata, dict(metadata))

    def for_docker_image(self, image: str) -> VmConfigBuilder:
        """Prepares the VM for a Docker image: metadata ``docker_image`` and ``runtime=docker``,
        every root disk replaced by ``/opt/vm-assets/rootfs.ext4`` carrying the image."""
        return self._chain(_b.vm_config_builder_for_docker_image, image)

    def force_build(self, force: bool = True) -> VmConfigBuilder:
        """``True`` sets metadata ``force_rebuild=true``; ``False`` removes it."""
        return self._chain(_b.vm_config_builder_force_build, force)

    # ------------------------------------------------------------------ results

    def build(self) -> VmConfig:
        """The config as built so far (a copy; the builder stays usable)."""
        return self._call(_b.vm_config_builder_build)

    def validate(self) -> None:
        """Validates the config as built so far.

        Raises:
            InvalidConfigError: With every problem found, each naming its field path.
        """
        self._call(_b.vm_config_builder_validate)
