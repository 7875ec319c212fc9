"""``Client``: the component's ``client`` resource, a metald Connect client."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any

from .builder import VmConfigBuilder
from .errors import ComponentTrapError
from .runtime import Runtime, RuntimeLike, _Instance, get_runtime
from .types import (
    ClientOptions,
    Codec,
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

_IFACE = "client"


class Client:
    """A metald client bound to one server and identity.

    The component makes every call through ``wasi:http/outgoing-handler``, which wasmtime-py
    serves with wasmtime's default transport: ``http://`` in plain text and ``https://`` with
    ordinary server authentication (webpki roots), no client certificate. For mTLS (SPIFFE or
    file certificates) use ``metald-host``.

    Constructing a client checks the options (server URL, user and tenant ids) and sends
    nothing. Every call blocks until the answer (bounded by ``timeout_ms``) and raises a
    :class:`~metald_client.MetaldError` subclass on failure. Calls on one client are
    serialized; use one client per thread for parallel calls (clients are cheap).

    Args:
        server: Base URL, e.g. ``http://127.0.0.1:8080``; a path prefix is kept.
        user_id: User id (``[A-Za-z0-9._-]+``), sent as ``Authorization: Bearer dev_user_<id>``.
        tenant_id: Tenant id (``[A-Za-z0-9._-]+``), sent as ``X-Tenant-ID``.
        timeout_ms: Per-call deadline (default 30000).
        route_prefix: Proto package of the routes (default ``metal.vmprovisioner.v1``).
        codec: Wire codec (default ``proto``).
        retries: Extra attempts for reads after ``unavailable`` (default 2).
        max_response_bytes: Largest response body accepted (default 16 MiB).
        runtime: A :class:`~metald_client.Runtime` or a path to the component.

    Raises:
        InvalidConfigError: The server URL or an identity is invalid.
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
        runtime: RuntimeLike = None,
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
            ),
            runtime,
        )

    @classmethod
    def from_options(cls, options: ClientOptions, *, runtime: RuntimeLike = None) -> Client:
        """A client opened with a :class:`~metald_client.types.ClientOptions`."""
        client = cls.__new__(cls)
        client._setup(options, runtime)
        return client

    def _setup(self, options: ClientOptions, runtime: RuntimeLike) -> None:
        self._runtime: Runtime = get_runtime(runtime)
        self._requested = options
        self._lock = threading.Lock()
        self._closed = False
        self._instance: _Instance | None = None
        self._handle: Any = None
        self._open()

    def _open(self) -> _Instance:
        instance = self._runtime.instantiate()
        self._handle = instance.call(_IFACE, "[static]client.open", self._requested, returns=Any)
        self._instance = instance
        return instance

    def _call(self, method: str, *args: Any, returns: Any) -> Any:
        with self._lock:
            if self._closed:
                raise ValueError("the client is closed")
            instance = self._instance
            if instance is None or instance.poisoned:
                # A trap ended the previous instance: continue on a fresh one.
                instance = self._open()
            try:
                return instance.call(
                    _IFACE, f"[method]client.{method}", self._handle, *args, returns=returns
                )
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
            self._handle = None

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
        options: ClientOptions = self._call("options", returns=ClientOptions)
        return options

    # ------------------------------------------------------------------ the nine calls

    def create_vm(self, config: VmConfig | VmConfigBuilder) -> CreateVmResponse:
        """Validates ``config`` (a config or a builder), then creates a VM.

        Use the returned ``vm_id``: the server assigns it.

        Raises:
            InvalidConfigError: The config fails validation (nothing is sent).
        """
        if isinstance(config, VmConfigBuilder):
            config = config.build()
        response: CreateVmResponse = self._call("create-vm", config, returns=CreateVmResponse)
        return response

    def delete_vm(self, vm_id: str, force: bool = False) -> DeleteVmResponse:
        """Deletes a VM."""
        response: DeleteVmResponse = self._call(
            "delete-vm", DeleteVmRequest(vm_id=vm_id, force=force), returns=DeleteVmResponse
        )
        return response

    def boot_vm(self, vm_id: str) -> StateChangeResponse:
        """Boots a VM (from ``created`` or ``shutdown``)."""
        return self._state_change("boot-vm", vm_id)

    def shutdown_vm(
        self, vm_id: str, force: bool = False, timeout_seconds: int = 0
    ) -> StateChangeResponse:
        """Shuts a VM down (from ``running`` or ``paused``); ``force`` stops the VMM at once,
        ``timeout_seconds`` bounds a graceful shutdown."""
        return self._state_change(
            "shutdown-vm",
            ShutdownVmRequest(vm_id=vm_id, force=force, timeout_seconds=timeout_seconds),
        )

    def pause_vm(self, vm_id: str) -> StateChangeResponse:
        """Pauses a running VM."""
        return self._state_change("pause-vm", vm_id)

    def resume_vm(self, vm_id: str) -> StateChangeResponse:
        """Resumes a paused VM."""
        return self._state_change("resume-vm", vm_id)

    def reboot_vm(self, vm_id: str, force: bool = False) -> StateChangeResponse:
        """Reboots a running VM."""
        return self._state_change("reboot-vm", RebootVmRequest(vm_id=vm_id, force=force))

    def get_vm_info(self, vm_id: str) -> GetVmInfoResponse:
        """Config, live state and network details of a VM.

        Raises:
            ConnectError: ``code == "not_found"`` when the VM does not exist (or is not yours).
        """
        response: GetVmInfoResponse = self._call("get-vm-info", vm_id, returns=GetVmInfoResponse)
        return response

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
        response: ListVmsResponse = self._call("list-vms", request, returns=ListVmsResponse)
        return response

    def list_all_vms(self, state_filter: Iterable[VmState | str | int] = ()) -> list[VmInfo]:
        """All of the caller's VMs in ``state_filter`` (empty: all), every page fetched by the
        component, which also applies the filter to what comes back (the real metald ignores
        it): a state this SDK does not know, ``5``, matches only ``5``."""
        vms: list[VmInfo] = self._call(
            "list-all-vms", [VmState.of(s) for s in state_filter], returns=list[VmInfo]
        )
        return vms

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

    def _state_change(self, method: str, request: Any) -> StateChangeResponse:
        response: StateChangeResponse = self._call(method, request, returns=StateChangeResponse)
        return response
