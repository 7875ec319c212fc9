"""``Client``: the component's ``client`` resource, a metald Connect client."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Concatenate, ParamSpec, TypeVar

from wasmtime.component import ResourceAny

from . import _bindings as _b
from ._marshal import Caller
from .allow import AllowList, Origin
from .builder import VmConfigBuilder
from .errors import ComponentTrapError
from .runtime import Runtime, RuntimeLike, _Instance, get_runtime
from .tls import TlsOptions, open_provider, parse_mode
from .transport import Transport
from .types import (
    ClientOptions,
    Codec,
    Compression,
    CreateVmResponse,
    DeleteVmRequest,
    DeleteVmResponse,
    GetVmInfoResponse,
    ListVmsRequest,
    ListVmsResponse,
    RebootVmRequest,
    ShutdownVmRequest,
    StateChangeResponse,
    VmConfig,
    VmInfo,
    VmState,
)

__all__ = ["Client"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _compression(value: Compression | str | None) -> Compression | None:
    """The ``compression`` argument as the enum; ``ValueError`` naming the argument otherwise."""
    if value is None:
        return None
    try:
        return Compression(value)
    except ValueError:
        cases = ", ".join(c.wit_name for c in Compression)
        raise ValueError(f"compression: {value!r} is not one of {cases}") from None


class Client:
    """A metald client bound to one server and identity.

    The component makes every call through ``wasi:http/outgoing-handler``, which this package
    implements (:mod:`metald_client.transport`): TLS per ``tls`` (a
    :class:`~metald_client.tls.TlsOptions`; SPIFFE by default, as ``metald-cli``), the
    allow-list (the server's scheme, host and port, plus ``allow_hosts``), pooled connections.

    Constructing a client checks the options (server URL, user and tenant ids) and the TLS
    material (the Workload API's first SVID, the certificate files) and sends nothing. Every
    call blocks until the answer (bounded by ``timeout_ms``) and raises a
    :class:`~metald_client.MetaldError` subclass on failure. Calls on one client are
    serialized; use one client per thread for parallel calls (each client has its own
    connections and, in SPIFFE mode, its own Workload API stream).

    Args:
        server: Base URL, e.g. ``http://127.0.0.1:8080``; a path prefix is kept.
        user_id: User id (``[A-Za-z0-9._-]+``), sent as ``Authorization: Bearer dev_user_<id>``.
        tenant_id: Tenant id (``[A-Za-z0-9._-]+``), sent as ``X-Tenant-ID``.
        timeout_ms: Per-call deadline (default 30000).
        route_prefix: Proto package of the routes (default ``metal.vmprovisioner.v1``).
        codec: Wire codec (default ``proto``).
        retries: Extra attempts for reads after ``unavailable`` (default 2).
        max_response_bytes: Largest response body accepted (default 16 MiB).
        compression: Response compression to ask for: ``gzip`` (default, as ``metald-cli``:
            ``Accept-Encoding: gzip``) or ``identity`` (``Accept-Encoding: identity``, an
            uncompressed answer; a gzip answer is still decoded).
        runtime: A :class:`~metald_client.Runtime` or a path to the component.
        tls: The TLS mode and its settings; default ``TlsOptions()``: SPIFFE, the Workload
            API socket from the environment. ``TlsOptions.disabled()`` needs nothing (a plain
            ``http://`` server, or ``https://`` with ordinary server authentication).
        allow_hosts: More destinations the component may reach (``scheme://host:port``,
            ``host:port`` or ``host``), beyond the server's own scheme, host and port.

    Raises:
        InvalidConfigError: The server URL or an identity is invalid.
        TlsError: A TLS setting is unusable (names the file or socket and the cause).
        AllowListError: An ``allow_hosts`` entry is malformed.
    """

    def __init__(
        self,
        server: str,
        user_id: str,
        tenant_id: str,
        *,
        timeout_ms: int | None = None,
        route_prefix: str | None = None,
        codec: Codec | str | None = None,
        retries: int | None = None,
        max_response_bytes: int | None = None,
        compression: Compression | str | None = None,
        runtime: RuntimeLike = None,
        tls: TlsOptions | None = None,
        allow_hosts: Iterable[str] = (),
    ) -> None:
        self._setup(
            ClientOptions(
                server=server,
                user_id=user_id,
                tenant_id=tenant_id,
                timeout_ms=timeout_ms,
                route_prefix=route_prefix,
                codec=Codec(codec) if codec is not None else None,
                retries=retries,
                max_response_bytes=max_response_bytes,
                compression=_compression(compression),
            ),
            runtime,
            tls,
            allow_hosts,
        )

    @classmethod
    def from_options(
        cls,
        options: ClientOptions,
        *,
        runtime: RuntimeLike = None,
        tls: TlsOptions | None = None,
        allow_hosts: Iterable[str] = (),
    ) -> Client:
        """A client opened with a :class:`~metald_client.types.ClientOptions`."""
        client = cls.__new__(cls)
        client._setup(options, runtime, tls, allow_hosts)
        return client

    def _setup(
        self,
        options: ClientOptions,
        runtime: RuntimeLike,
        tls: TlsOptions | None,
        allow_hosts: Iterable[str],
    ) -> None:
        self._runtime: Runtime = get_runtime(runtime)
        self._requested = options
        self._lock = threading.Lock()
        self._closed = False
        self._instance: _Instance | None = None
        self._handle: ResourceAny | None = None
        self._transport: Transport | None = None
        tls = tls if tls is not None else TlsOptions()
        # The server URL as the component reads it (InvalidConfigError as client.open words it).
        url = _b.endpoint_parse_server_url(self._runtime, options.server)
        server = Origin(url.scheme.value, url.host.strip("[]"), url.port)
        parse_mode(tls.mode)
        self._transport = Transport(AllowList([server, *allow_hosts]))
        try:
            self._open()  # checks the options; sends nothing
            # Opened for http:// servers too: a mode's material is checked when the client is
            # made, as the Rust and Go hosts do (http:// itself is plain text in every mode).
            self._transport.tls = open_provider(tls)
        except BaseException:
            self.close()
            raise

    def _open(self) -> _Instance:
        instance = self._runtime.instantiate(self._transport)
        self._handle = _b.client_open(instance, self._requested)
        self._instance = instance
        return instance

    @property
    def transport(self) -> Transport:
        """The client's transport: its allow-list, TLS provider and counters (``stats``)."""
        if self._transport is None:
            raise ValueError("the client is closed")
        return self._transport

    def _call(
        self,
        method: Callable[Concatenate[Caller, ResourceAny, _P], _R],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _R:
        """Runs a generated ``client`` method wrapper on this client's resource."""
        with self._lock:
            if self._closed:
                raise ValueError("the client is closed")
            instance = self._instance
            if instance is None or instance.poisoned:
                # A trap ended the previous instance: continue on a fresh one.
                instance = self._open()
            assert self._handle is not None
            try:
                return method(instance, self._handle, *args, **kwargs)
            except ComponentTrapError:
                self._instance = None
                raise

    def close(self) -> None:
        """Drops the client resource and its instance; later calls raise ``ValueError``."""
        with self._lock:
            self._closed = True
            instance, self._instance = self._instance, None
            if instance is not None:
                instance.drop(self._handle)
                instance.state.close()
            self._handle = None
            transport, self._transport = self._transport, None
            if transport is not None:
                transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        o = self._requested
        return f"Client(server={o.server!r}, user_id={o.user_id!r}, tenant_id={o.tenant_id!r})"

    def options(self) -> ClientOptions:
        """The options the client was opened with, defaults filled in."""
        return self._call(_b.client_options)

    # ------------------------------------------------------------------ the nine calls

    def create_vm(self, config: VmConfig | VmConfigBuilder) -> CreateVmResponse:
        """Validates ``config`` (a config or a builder), then creates a VM.

        Use the returned ``vm_id``: the server assigns it.

        Raises:
            InvalidConfigError: The config fails validation (nothing is sent).
        """
        if isinstance(config, VmConfigBuilder):
            config = config.build()
        return self._call(_b.client_create_vm, config)

    def delete_vm(self, vm_id: str, force: bool = False) -> DeleteVmResponse:
        """Deletes a VM."""
        return self._call(_b.client_delete_vm, DeleteVmRequest(vm_id=vm_id, force=force))

    def boot_vm(self, vm_id: str) -> StateChangeResponse:
        """Boots a VM (from ``created`` or ``shutdown``)."""
        return self._call(_b.client_boot_vm, vm_id)

    def shutdown_vm(
        self, vm_id: str, force: bool = False, timeout_seconds: int = 0
    ) -> StateChangeResponse:
        """Shuts a VM down (from ``running`` or ``paused``); ``force`` stops the VMM at once,
        ``timeout_seconds`` bounds a graceful shutdown."""
        request = ShutdownVmRequest(vm_id=vm_id, force=force, timeout_seconds=timeout_seconds)
        return self._call(_b.client_shutdown_vm, request)

    def pause_vm(self, vm_id: str) -> StateChangeResponse:
        """Pauses a running VM."""
        return self._call(_b.client_pause_vm, vm_id)

    def resume_vm(self, vm_id: str) -> StateChangeResponse:
        """Resumes a paused VM."""
        return self._call(_b.client_resume_vm, vm_id)

    def reboot_vm(self, vm_id: str, force: bool = False) -> StateChangeResponse:
        """Reboots a running VM."""
        return self._call(_b.client_reboot_vm, RebootVmRequest(vm_id=vm_id, force=force))

    def get_vm_info(self, vm_id: str) -> GetVmInfoResponse:
        """Config, live state and network details of a VM.

        Raises:
            ConnectError: ``code == "not_found"`` when the VM does not exist (or is not yours).
        """
        return self._call(_b.client_get_vm_info, vm_id)

    def list_vms(
        self,
        state_filter: Iterable[VmState | str | int] = (),
        page_size: int = 0,
        page_token: str = "",
    ) -> ListVmsResponse:
        """One page of the caller's VMs, newest first.

        Args:
            state_filter: Only VMs in these states (members, names or protobuf numbers);
                empty for all.
            page_size: Page size; 0 lets the server choose.
            page_token: ``next_page_token`` of the previous page; empty for the first page.
        """
        request = ListVmsRequest(
            state_filter=[VmState.of(s) for s in state_filter],
            page_size=page_size,
            page_token=page_token,
        )
        return self._call(_b.client_list_vms, request)

    def list_all_vms(self, state_filter: Iterable[VmState | str | int] = ()) -> list[VmInfo]:
        """All of the caller's VMs in ``state_filter`` (empty: all), every page fetched by the
        component, which also applies the filter to what comes back (the real metald ignores
        it): a state this SDK does not know, ``5``, matches only ``5``."""
        return self._call(_b.client_list_all_vms, [VmState.of(s) for s in state_filter])

    def iter_vms(
        self, state_filter: Iterable[VmState | str | int] = (), page_size: int = 0
    ) -> Iterator[VmInfo]:
        """Iterates over the caller's VMs page by page (one ``list_vms`` call per page)."""
        states = [VmState.of(s) for s in state_filter]
        token = ""
        while True:
            page = self.list_vms(states, page_size=page_size, page_token=token)
            yield from page.vms
            token = page.next_page_token
            if not token:
                return
