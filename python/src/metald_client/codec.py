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

from . import _bindings as _b
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
    # The case of the WIT variant ``rpc-request`` named like the method, e.g. RpcRequestBootVm;
    # lowering it checks the payload's type.
    case: _b.RpcRequest = _b.T_RPC_REQUEST.case(method.wit_name).cls(request)
    return _b.codec_encode_request(get_runtime(runtime), options, case)


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
    decoded = _b.codec_decode_response(get_runtime(runtime), options, method, response)
    if _b.T_RPC_RESPONSE.tag_of(decoded) != method.wit_name:
        raise TypeError(f"unexpected response {decoded!r} for {method.value}")
    result: RpcResponse = decoded.value
    return result
