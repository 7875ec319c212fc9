"""Connect unary encoding and decoding without I/O (WIT interface ``codec``).

For programs that bring their own HTTP client (for example one that does mTLS, which the
wasmtime-py transport cannot) and use the component as an encoder only::

    request = encode_request(options, RpcMethod.GET_VM_INFO, "ud-0123456789abcdef")
    reply = my_http_post(request.url, request.headers, request.body)   # your transport
    info = decode_response(options, RpcMethod.GET_VM_INFO,
                           HttpResponse(status=reply.status, headers=reply.headers,
                                        body=reply.body))
"""

from __future__ import annotations

from typing import Any

from wasmtime.component import Variant

from ._marshal import lift
from .runtime import RuntimeLike, get_runtime
from .types import (
    ClientOptions,
    CreateVmRequest,
    CreateVmResponse,
    DeleteVmRequest,
    DeleteVmResponse,
    GetVmInfoResponse,
    HttpRequest,
    HttpResponse,
    ListVmsRequest,
    ListVmsResponse,
    RebootVmRequest,
    RpcMethod,
    ShutdownVmRequest,
    StateChangeResponse,
    VmConfig,
)

__all__ = ["RpcRequest", "RpcResponse", "decode_response", "encode_request"]

RpcRequest = (
    CreateVmRequest | DeleteVmRequest | ShutdownVmRequest | RebootVmRequest | ListVmsRequest | str
)
"""The request of an RPC: its request dataclass, or the VM id for BootVm, PauseVm, ResumeVm
and GetVmInfo."""

RpcResponse = (
    CreateVmResponse | DeleteVmResponse | StateChangeResponse | GetVmInfoResponse | ListVmsResponse
)
"""The decoded response of an RPC."""

_REQUEST_TYPES: dict[RpcMethod, type] = {
    RpcMethod.CREATE_VM: CreateVmRequest,
    RpcMethod.DELETE_VM: DeleteVmRequest,
    RpcMethod.BOOT_VM: str,
    RpcMethod.SHUTDOWN_VM: ShutdownVmRequest,
    RpcMethod.PAUSE_VM: str,
    RpcMethod.RESUME_VM: str,
    RpcMethod.REBOOT_VM: RebootVmRequest,
    RpcMethod.GET_VM_INFO: str,
    RpcMethod.LIST_VMS: ListVmsRequest,
}

_RESPONSE_TYPES: dict[RpcMethod, type] = {
    RpcMethod.CREATE_VM: CreateVmResponse,
    RpcMethod.DELETE_VM: DeleteVmResponse,
    RpcMethod.BOOT_VM: StateChangeResponse,
    RpcMethod.SHUTDOWN_VM: StateChangeResponse,
    RpcMethod.PAUSE_VM: StateChangeResponse,
    RpcMethod.RESUME_VM: StateChangeResponse,
    RpcMethod.REBOOT_VM: StateChangeResponse,
    RpcMethod.GET_VM_INFO: GetVmInfoResponse,
    RpcMethod.LIST_VMS: ListVmsResponse,
}


def encode_request(
    options: ClientOptions,
    method: RpcMethod | str,
    request: RpcRequest | VmConfig,
    *,
    runtime: RuntimeLike = None,
) -> HttpRequest:
    """The HTTP request (always ``POST``) for ``request`` under ``options``.

    ``request`` is the request dataclass of ``method`` (a bare :class:`VmConfig` is accepted
    for CreateVm), or the VM id (``str``) for BootVm, PauseVm, ResumeVm and GetVmInfo.

    Raises:
        InvalidConfigError: Bad identities, an empty VM id, or (CreateVm) a config that fails
            validation.
        TypeError: ``request`` does not match ``method``.
    """
    method = RpcMethod(method)
    if method is RpcMethod.CREATE_VM and isinstance(request, VmConfig):
        request = CreateVmRequest(config=request)
    expected = _REQUEST_TYPES[method]
    if not isinstance(request, expected):
        raise TypeError(f"{method.value} takes a {expected.__name__}, got {type(request).__name__}")
    http: HttpRequest = get_runtime(runtime).call(
        "codec", "encode-request", options, Variant(method.wit_name, request), returns=HttpRequest
    )
    return http


def decode_response(
    options: ClientOptions,
    method: RpcMethod | str,
    response: HttpResponse,
    *,
    runtime: RuntimeLike = None,
) -> RpcResponse:
    """The typed response of ``method`` (see :data:`RpcResponse`), or the Connect error the
    response carries, raised (read from its JSON body, or inferred from the HTTP status).

    Raises:
        ConnectError: The response is a Connect error.
        TransportError: The response is malformed or too large.
    """
    method = RpcMethod(method)
    decoded = get_runtime(runtime).call(
        "codec", "decode-response", options, method, response, returns=Any
    )
    if not isinstance(decoded, Variant) or decoded.tag != method.wit_name:
        raise TypeError(f"unexpected response variant {decoded!r} for {method.value}")
    result: RpcResponse = lift(_RESPONSE_TYPES[method], decoded.payload)
    return result
