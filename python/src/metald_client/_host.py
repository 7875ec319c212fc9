"""The component's imports, implemented here: ``wasi:http/{types,outgoing-handler}``,
``wasi:io/{poll,error,streams}`` and ``wasi:clocks/monotonic-clock`` (exactly what
metald_guest.wasm imports; :func:`plan` refuses a component that imports anything else).

Every resource is a host resource (``ResourceHost``) whose ``rep`` indexes the instance's
:class:`HostState` table, as the Go host's tables do over wazero (go/transport/tables.go).
The shapes follow the Go host: go/transport/{streams,poll,outgoing,incoming,handler}.go.
Requests are sent by :mod:`metald_client.transport`, on the calling thread: the exchange in
``future-incoming-response.get``, each body read in ``input-stream.read``.
"""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wasmtime import Engine, WasmtimeError
from wasmtime.component import (
    Component,
    ComponentInstanceType,
    Linker,
    ListType,
    OptionType,
    RecordType,
    ResourceAny,
    ResourceHost,
    ResourceType,
    ResultType,
    TupleType,
    ValType,
    Variant,
    VariantType,
)
from wasmtime.component import FuncType as WasmFuncType

from .transport import (
    DEFAULT_TIMEOUT,
    READ_CHUNK,
    CodeError,
    ErrorCode,
    Request,
    Response,
    Transport,
    _BodyReadError,
    error_code,
    internal_error,
    send,
)

__all__ = ["HostState", "Plan", "define", "plan"]

_log = logging.getLogger("metald_client.transport")

# Host resource type ids (ResourceType.host), one per WIT resource; aliases share one.
_RESOURCE_IDS = {
    "pollable": 1,
    "error": 2,
    "io-error": 2,
    "input-stream": 3,
    "output-stream": 4,
    "fields": 5,
    "headers": 5,
    "trailers": 5,
    "outgoing-request": 6,
    "request-options": 7,
    "outgoing-body": 8,
    "future-incoming-response": 9,
    "incoming-response": 10,
    "incoming-body": 11,
}
_RESOURCE_NAMES = {v: k for k, v in reversed(list(_RESOURCE_IDS.items()))}

_EPOCH_NS = time.monotonic_ns()
_WRITE_PERMIT = 1 << 20
# The most `blocking-write-and-flush` takes in one call (wasi:io/streams).
_BLOCKING_WRITE_MAX = 4096


@dataclass(frozen=True)
class Ok:
    """The ``ok`` case of a WIT ``result``."""

    value: Any = None


@dataclass(frozen=True)
class Err:
    """The ``err`` case of a WIT ``result``."""

    value: Any = None


class HostTrap(Exception):
    """A guest bug the canonical ABI traps on (an unknown handle, an empty poll list)."""


# ---------------------------------------------------------------------------------------
# Resources.


class _Source:
    """Something a pollable waits for."""

    def ready(self) -> bool:
        raise NotImplementedError

    def deadline_ns(self) -> int | None:
        """Monotonic nanoseconds at which it becomes ready by itself, if any."""
        return None


class _AlwaysReady(_Source):
    def ready(self) -> bool:
        return True


class _Instant(_Source):
    def __init__(self, when: int) -> None:
        self.at = _EPOCH_NS + when

    def ready(self) -> bool:
        return time.monotonic_ns() >= self.at

    def deadline_ns(self) -> int | None:
        return self.at


@dataclass
class _Pollable:
    source: _Source


@dataclass
class _Fields:
    entries: list[tuple[str, bytes]]


@dataclass
class _RequestOptions:
    connect: float | None = None
    first_byte: float | None = None
    between_bytes: float | None = None


class _OutgoingBody:
    def __init__(self, limit: int, declared: int | None) -> None:
        self.limit = limit
        self.declared = declared
        self.buf = bytearray()
        self.state = "open"  # open | finished | failed
        self.failure: CodeError | None = None
        self.stream_taken = False
        self.on_done: list[Callable[[], None]] = []

    def fail(self, failure: CodeError) -> None:
        if self.state != "open":
            return
        self.state, self.failure = "failed", failure
        self.buf = bytearray()
        self._done()

    def finish(self) -> None:
        self.state = "finished"
        self._done()

    def _done(self) -> None:
        callbacks, self.on_done = self.on_done, []
        for callback in callbacks:
            callback()


@dataclass
class _OutgoingRequest:
    headers: list[tuple[str, bytes]]
    method: str = "GET"
    scheme: str | None = None
    authority: str | None = None
    path_with_query: str | None = None
    body: _OutgoingBody | None = None


@dataclass
class _OutputStream:
    body: _OutgoingBody
    permit: int = 0


@dataclass
class _IoError:
    code: ErrorCode
    text: str


def _left(deadline_ns: int | None) -> float | None:
    """Seconds until the guest's deadline instant, if it subscribed to one."""
    return None if deadline_ns is None else (deadline_ns - time.monotonic_ns()) / 1e9


def _bounded(timeout: float, left: float | None) -> float:
    return timeout if left is None else max(0.001, min(timeout, left))


class _InBody(_Source):
    """A response body, read when the component reads its input stream: each read waits for
    some bytes at most the between-bytes timeout (and never past the guest's deadline)."""

    def __init__(self, state: HostState, response: Response) -> None:
        self.state = state
        self.response = response
        self.eof = False
        self.err: BaseException | None = None
        self.closed = False
        self.finished = False

    def ready(self) -> bool:
        # A read never answers "not yet": it waits (see _Impl._guest_deadline).
        return True

    def read(
        self, n: int, deadline_ns: int | None
    ) -> tuple[bytes | None, BaseException | None, bool]:
        """(data, the failure once, closed)."""
        if self.closed or self.eof or self.err is not None:
            return None, None, True
        if n == 0:
            return b"", None, False
        left = _left(deadline_ns)
        if left is not None and left <= 0:
            return (
                None,
                self._fail(
                    CodeError(
                        ErrorCode("connection-read-timeout"),
                        "the call's deadline passed while the response body was read",
                    )
                ),
                False,
            )
        raw = self.response.raw
        sock = self.response.conn.sock
        if sock is not None:
            sock.settimeout(_bounded(self.response.between_bytes_timeout, left))
        try:
            chunk = raw.read1(min(n, READ_CHUNK))
            if not chunk and raw.length:
                # read1 ends quietly where the connection did; the head promised more.
                raise http.client.IncompleteRead(b"", raw.length)
        except TimeoutError as exc:
            failure: BaseException = CodeError(
                ErrorCode("connection-read-timeout"),
                "the response body stalled past the between-bytes timeout",
            )
            failure.__cause__ = exc
            return None, self._fail(failure), False
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return None, self._fail(_BodyReadError(exc)), False
        if not chunk:
            self.eof = True
            self._finish(complete=True)
            return None, None, True
        return chunk, None, False

    def _fail(self, err: BaseException) -> BaseException:
        self.err = err
        self._finish(complete=False)
        return err

    def _finish(self, *, complete: bool) -> None:
        """Releases the connection: back to the pool after a whole body, else closed."""
        if self.finished:
            return
        self.finished = True
        raw, conn = self.response.raw, self.response.conn
        if complete and not raw.will_close:
            raw.close()
            self.state.transport.release(conn)
        else:
            raw.close()
            conn.close()

    def close(self) -> None:
        self.closed = True
        self._finish(complete=self.eof)


class _Exchange(_Source):
    """One request, from ``handle`` until its response head (or its failure). It is sent by
    ``future-incoming-response.get`` once its body is complete (see _Impl._guest_deadline)."""

    def __init__(self, state: HostState, request: Request) -> None:
        self.state = state
        self.request = request
        self.startable = False
        self.done = False
        self.response: Response | None = None
        self.code: ErrorCode | None = None
        self.taken = False

    def start(self) -> None:
        """The request is complete (its body finished): it may be sent."""
        self.startable = True

    def ready(self) -> bool:
        return self.done or self.startable

    def fail(self, code: ErrorCode) -> None:
        self.code, self.done = code, True

    def run(self, deadline_ns: int | None) -> None:
        """Sends the request and waits for the response head, within its timeouts and the
        guest's deadline."""
        if self.done:
            return
        request = self.request
        left = _left(deadline_ns)
        if left is not None:
            if left <= 0:
                self.fail(ErrorCode("connection-timeout"))
                return
            request.connect_timeout = _bounded(request.connect_timeout, left)
            request.first_byte_timeout = _bounded(request.first_byte_timeout, left)
        try:
            self.response = send(self.state.transport, request)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes an error code
            code = error_code(exc)
            _log.info(
                "outbound request failed: %s://%s%s: %s (%s)",
                request.scheme,
                request.authority,
                request.path,
                code.describe(),
                exc,
            )
            self.fail(code)
            return
        self.done = True

    def abandon(self) -> None:
        """The component let go of the request: a response it never took is closed."""
        if self.response is not None and not self.taken:
            self.response.raw.close()
            self.response.conn.close()


@dataclass
class _FutureResponse:
    exchange: _Exchange
    got: bool = False


@dataclass
class _IncomingResponse:
    response: Response
    body: _InBody
    consumed: bool = False


@dataclass
class _IncomingBody:
    body: _InBody
    stream_taken: bool = False


@dataclass
class _InputStream:
    body: _InBody


# ---------------------------------------------------------------------------------------
# The per-instance state.


@dataclass
class HostState:
    """The resources of one component instance, and the transport its requests use."""

    transport: Transport
    table: dict[int, Any] = field(default_factory=dict)
    next_rep: int = 1

    def push(self, value: Any, kind: str) -> ResourceHost:
        rep = self.next_rep
        self.next_rep += 1
        self.table[rep] = value
        return ResourceHost.own(rep, _RESOURCE_IDS[kind])

    def _host(self, store: Any, handle: Any, kind: str) -> int:
        if isinstance(handle, ResourceAny):
            handle = handle.to_host(store)
        if not isinstance(handle, ResourceHost) or handle.type != _RESOURCE_IDS[kind]:
            raise HostTrap(f"expected a {kind} handle, got {handle!r}")
        rep: int = handle.rep
        return rep

    def _lookup(self, store: Any, handle: Any, kind: str, cls: type[Any]) -> tuple[int, Any]:
        rep = self._host(store, handle, kind)
        value = self.table.get(rep)
        if not isinstance(value, cls):
            raise HostTrap(f"{rep} is not a live {kind} of this instance")
        return rep, value

    def get(self, store: Any, handle: Any, kind: str, cls: type[Any]) -> Any:
        """The resource of a borrowed handle."""
        return self._lookup(store, handle, kind, cls)[1]

    def take(self, store: Any, handle: Any, kind: str, cls: type[Any]) -> Any:
        """The resource of an owned handle passed to the host, removed from the table."""
        rep, value = self._lookup(store, handle, kind, cls)
        del self.table[rep]
        return value

    def drop(self, rep: int) -> None:
        value = self.table.pop(rep, None)
        _release(value)

    def close(self) -> None:
        """Ends what the instance still holds: pending requests, open bodies."""
        values, self.table = list(self.table.values()), {}
        for value in values:
            _release(value)


def _release(value: Any) -> None:
    if isinstance(value, _FutureResponse) and not value.got:
        value.exchange.abandon()
    elif isinstance(value, _IncomingResponse) and not value.consumed:
        value.body.close()
    elif isinstance(value, _IncomingBody):
        value.body.close()
    elif isinstance(value, _OutgoingBody):
        value.fail(
            CodeError(
                internal_error("the request body was dropped before outgoing-body.finish"),
                "request body dropped",
            )
        )


# ---------------------------------------------------------------------------------------
# The functions.

_METHODS = {
    "get": "GET",
    "head": "HEAD",
    "post": "POST",
    "put": "PUT",
    "delete": "DELETE",
    "connect": "CONNECT",
    "options": "OPTIONS",
    "trace": "TRACE",
    "patch": "PATCH",
}
_FORBIDDEN = frozenset(
    [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "host",
        "http2-settings",
    ]
)
_TOKEN_EXTRA = frozenset("!#$%&'*+-.^_`|~")


def _token(name: str) -> bool:
    return bool(name) and all(c.isascii() and (c.isalnum() or c in _TOKEN_EXTRA) for c in name)


def _valid_value(value: bytes) -> bool:
    return all(not ((c < 0x20 and c != 0x09) or c == 0x7F) for c in value)


def _seconds(ns: int | None) -> float | None:
    return None if not ns else ns / 1e9


class _Impl:
    """The host functions of one instance, by WIT interface and name."""

    def __init__(self, state: HostState) -> None:
        self.s = state

    # wasi:io/poll ---------------------------------------------------------------------
    def pollable_block(self, store: Any, this: Any) -> None:
        self._wait([self.s.get(store, this, "pollable", _Pollable).source])

    def poll(self, store: Any, handles: list[Any]) -> list[int]:
        if not handles:
            raise HostTrap("poll with an empty list")
        return self._wait([self.s.get(store, h, "pollable", _Pollable).source for h in handles])

    def _wait(self, sources: list[_Source]) -> list[int]:
        """The indexes of the ready sources, sleeping until the earliest instant if none is
        (every source but a clock instant is always ready)."""
        while True:
            ready = [i for i, source in enumerate(sources) if source.ready()]
            if ready:
                return ready
            deadlines = [d for source in sources if (d := source.deadline_ns()) is not None]
            if not deadlines:
                raise HostTrap("poll on pollables that can never become ready")
            time.sleep(max(0.0, (min(deadlines) - time.monotonic_ns()) / 1e9))

    # wasi:clocks/monotonic-clock --------------------------------------------------------
    def now(self, store: Any) -> int:
        return time.monotonic_ns() - _EPOCH_NS

    def subscribe_instant(self, store: Any, when: int) -> ResourceHost:
        return self.s.push(_Pollable(_Instant(when)), "pollable")

    # wasi:io/error ----------------------------------------------------------------------
    def error_to_debug_string(self, store: Any, this: Any) -> str:
        e = self.s.get(store, this, "error", _IoError)
        return f"{e.code.describe()} ({e.text})"

    # wasi:io/streams --------------------------------------------------------------------
    def _stream_failure(self, code: ErrorCode, text: str) -> Variant:
        handle = self.s.push(_IoError(code, text), "error")
        return Variant("last-operation-failed", handle)

    def input_stream_read(self, store: Any, this: Any, n: int) -> Ok | Err:
        stream = self.s.get(store, this, "input-stream", _InputStream)
        data, err, closed = stream.body.read(n, self._guest_deadline())
        if err is not None:
            return Err(self._stream_failure(error_code(err), str(err)))
        if closed or data is None:
            return Err(Variant("closed"))
        return Ok(data)

    def input_stream_subscribe(self, store: Any, this: Any) -> ResourceHost:
        stream = self.s.get(store, this, "input-stream", _InputStream)
        return self.s.push(_Pollable(stream.body), "pollable")

    def output_stream_check_write(self, store: Any, this: Any) -> Ok | Err:
        stream = self.s.get(store, this, "output-stream", _OutputStream)
        if stream.body.state != "open":
            return Err(Variant("closed"))
        stream.permit = _WRITE_PERMIT
        return Ok(_WRITE_PERMIT)

    def output_stream_write(self, store: Any, this: Any, contents: bytes) -> Ok | Err:
        return self._write(self.s.get(store, this, "output-stream", _OutputStream), contents)

    def _write(self, stream: _OutputStream, contents: bytes) -> Ok | Err:
        """A write within the stream's permit, the host's body limit and the declared
        Content-Length; anything else fails the stream and the request."""
        body = stream.body
        if body.state != "open":
            return Err(Variant("closed"))
        total = len(body.buf) + len(contents)
        failure: CodeError | None = None
        if len(contents) > stream.permit:
            failure = CodeError(
                internal_error(
                    f"a write of {len(contents)} bytes exceeds the {stream.permit} bytes "
                    "check-write permitted"
                ),
                "write beyond the check-write permit",
            )
        elif total > body.limit:
            failure = CodeError(
                ErrorCode("HTTP-request-body-size", body.limit),
                f"the request body is over the host's {body.limit}-byte limit",
            )
        elif body.declared is not None and total > body.declared:
            failure = CodeError(
                ErrorCode("HTTP-request-body-size", total),
                f"the request body is longer than its Content-Length ({body.declared} bytes)",
            )
        if failure is not None:
            body.fail(failure)
            return Err(self._stream_failure(failure.code, str(failure)))
        body.buf += contents
        stream.permit -= len(contents)
        return Ok(None)

    def output_stream_blocking_write_and_flush(
        self, store: Any, this: Any, contents: bytes
    ) -> Ok | Err:
        """check-write, write and flush in one call: the body is buffered, so nothing waits.
        More than the 4096 bytes wasi:io/streams allows fails like a write past the permit."""
        stream = self.s.get(store, this, "output-stream", _OutputStream)
        if stream.body.state == "open":
            stream.permit = _BLOCKING_WRITE_MAX
        return self._write(stream, contents)

    def output_stream_flush(self, store: Any, this: Any) -> Ok | Err:
        stream = self.s.get(store, this, "output-stream", _OutputStream)
        return Ok(None) if stream.body.state == "open" else Err(Variant("closed"))

    def output_stream_subscribe(self, store: Any, this: Any) -> ResourceHost:
        self.s.get(store, this, "output-stream", _OutputStream)
        return self.s.push(_Pollable(_AlwaysReady()), "pollable")

    # wasi:http/types --------------------------------------------------------------------
    def fields_from_list(self, store: Any, entries: list[tuple[str, bytes]]) -> Ok | Err:
        out: list[tuple[str, bytes]] = []
        for name, value in entries:
            if not _token(name) or not _valid_value(value):
                return Err(Variant("invalid-syntax"))
            if name.lower() in _FORBIDDEN:
                return Err(Variant("forbidden"))
            out.append((name, bytes(value)))
        return Ok(self.s.push(_Fields(out), "fields"))

    def fields_entries(self, store: Any, this: Any) -> list[tuple[str, bytes]]:
        return list(self.s.get(store, this, "fields", _Fields).entries)

    def outgoing_request_new(self, store: Any, headers: Any) -> ResourceHost:
        fields = self.s.take(store, headers, "fields", _Fields)
        return self.s.push(_OutgoingRequest(list(fields.entries)), "outgoing-request")

    def outgoing_request_body(self, store: Any, this: Any) -> Ok | Err:
        req = self.s.get(store, this, "outgoing-request", _OutgoingRequest)
        if req.body is not None:
            return Err(None)
        declared = None
        for name, value in req.headers:
            if name.lower() == "content-length" and value.strip().isdigit():
                declared = int(value.strip())
        req.body = _OutgoingBody(self.s.transport.max_request_body, declared)
        return Ok(self.s.push(req.body, "outgoing-body"))

    def outgoing_request_set_method(self, store: Any, this: Any, method: Variant) -> Ok | Err:
        req = self.s.get(store, this, "outgoing-request", _OutgoingRequest)
        if method.tag in _METHODS:
            req.method = _METHODS[method.tag]
        elif method.tag == "other" and isinstance(method.payload, str) and _token(method.payload):
            req.method = method.payload
        else:
            return Err(None)
        return Ok(None)

    def outgoing_request_set_path_with_query(
        self, store: Any, this: Any, path: str | None
    ) -> Ok | Err:
        req = self.s.get(store, this, "outgoing-request", _OutgoingRequest)
        if path:
            if path[0] not in "/?" or any(c <= " " or c in "\x7f#" for c in path):
                return Err(None)
        req.path_with_query = path
        return Ok(None)

    def outgoing_request_set_scheme(
        self, store: Any, this: Any, scheme: Variant | None
    ) -> Ok | Err:
        req = self.s.get(store, this, "outgoing-request", _OutgoingRequest)
        if scheme is None:
            req.scheme = None
        elif scheme.tag == "HTTP":
            req.scheme = "http"
        elif scheme.tag == "HTTPS":
            req.scheme = "https"
        elif scheme.tag == "other" and isinstance(scheme.payload, str) and scheme.payload:
            req.scheme = scheme.payload.lower()
        else:
            return Err(None)
        return Ok(None)

    def outgoing_request_set_authority(
        self, store: Any, this: Any, authority: str | None
    ) -> Ok | Err:
        req = self.s.get(store, this, "outgoing-request", _OutgoingRequest)
        if authority is not None and (
            not authority or "@" in authority or any(c <= " " for c in authority)
        ):
            return Err(None)
        req.authority = authority
        return Ok(None)

    def request_options_new(self, store: Any) -> ResourceHost:
        return self.s.push(_RequestOptions(), "request-options")

    def _set_option(self, store: Any, this: Any, name: str, ns: int | None) -> Ok:
        opts = self.s.get(store, this, "request-options", _RequestOptions)
        setattr(opts, name, _seconds(ns))
        return Ok(None)

    def set_connect_timeout(self, store: Any, this: Any, ns: int | None) -> Ok:
        return self._set_option(store, this, "connect", ns)

    def set_first_byte_timeout(self, store: Any, this: Any, ns: int | None) -> Ok:
        return self._set_option(store, this, "first_byte", ns)

    def set_between_bytes_timeout(self, store: Any, this: Any, ns: int | None) -> Ok:
        return self._set_option(store, this, "between_bytes", ns)

    def incoming_response_status(self, store: Any, this: Any) -> int:
        return int(self.s.get(store, this, "incoming-response", _IncomingResponse).response.status)

    def incoming_response_headers(self, store: Any, this: Any) -> ResourceHost:
        r = self.s.get(store, this, "incoming-response", _IncomingResponse)
        return self.s.push(_Fields(list(r.response.headers)), "fields")

    def incoming_response_consume(self, store: Any, this: Any) -> Ok | Err:
        r = self.s.get(store, this, "incoming-response", _IncomingResponse)
        if r.consumed:
            return Err(None)
        r.consumed = True
        return Ok(self.s.push(_IncomingBody(r.body), "incoming-body"))

    def incoming_body_stream(self, store: Any, this: Any) -> Ok | Err:
        b = self.s.get(store, this, "incoming-body", _IncomingBody)
        if b.stream_taken:
            return Err(None)
        b.stream_taken = True
        return Ok(self.s.push(_InputStream(b.body), "input-stream"))

    def outgoing_body_write(self, store: Any, this: Any) -> Ok | Err:
        b = self.s.get(store, this, "outgoing-body", _OutgoingBody)
        if b.stream_taken:
            return Err(None)
        b.stream_taken = True
        return Ok(self.s.push(_OutputStream(b), "output-stream"))

    def outgoing_body_finish(self, store: Any, this: Any, trailers: Any) -> Ok | Err:
        b = self.s.take(store, this, "outgoing-body", _OutgoingBody)
        if trailers is not None:
            entries = self.s.take(store, trailers, "fields", _Fields).entries
            if entries:
                b.fail(
                    CodeError(
                        internal_error("request trailers are not supported by this host"),
                        "request trailers",
                    )
                )
        if b.state == "open" and b.declared is not None and len(b.buf) != b.declared:
            b.fail(
                CodeError(
                    ErrorCode("HTTP-request-body-size", len(b.buf)),
                    f"the request body has {len(b.buf)} bytes; its Content-Length says "
                    f"{b.declared}",
                )
            )
        if b.state == "failed":
            assert b.failure is not None
            return Err(b.failure.code)
        b.finish()
        return Ok(None)

    def future_subscribe(self, store: Any, this: Any) -> ResourceHost:
        f = self.s.get(store, this, "future-incoming-response", _FutureResponse)
        return self.s.push(_Pollable(f.exchange), "pollable")

    def _guest_deadline(self) -> int | None:
        """The earliest instant the guest subscribed to and still holds: its call deadline.

        ``future-incoming-response.get`` and ``input-stream.read`` wait for their result
        instead of answering "not yet" (and the pollables of both are always ready):
        wasmtime-py 50 traps ("BUG: deferred host scope has no call context") while lifting the
        ``list<borrow<pollable>>`` argument of ``wasi:io/poll.poll``, before this host is
        entered, so the component must never need ``poll``. The waits are bounded as the
        component's own ``poll`` would bound them: by the request's timeouts and by this
        deadline.
        """
        instants = [
            v.source.at
            for v in self.s.table.values()
            if isinstance(v, _Pollable) and isinstance(v.source, _Instant)
        ]
        return min(instants) if instants else None

    def future_get(self, store: Any, this: Any) -> Ok | Err | None:
        f = self.s.get(store, this, "future-incoming-response", _FutureResponse)
        ex = f.exchange
        if not ex.done:
            if not ex.startable:
                return None  # its body is not finished yet
            ex.run(self._guest_deadline())
        if f.got:
            return Err(None)
        f.got = True
        ex.taken = True
        if ex.response is None:
            assert ex.code is not None
            return Ok(Err(ex.code))
        body = _InBody(self.s, ex.response)
        return Ok(Ok(self.s.push(_IncomingResponse(ex.response, body), "incoming-response")))

    def http_error_code(self, store: Any, err: Any) -> ErrorCode | None:
        error: _IoError = self.s.get(store, err, "io-error", _IoError)
        return error.code

    # wasi:http/outgoing-handler -----------------------------------------------------------
    def handle(self, store: Any, request: Any, options: Any) -> Ok | Err:
        req = self.s.take(store, request, "outgoing-request", _OutgoingRequest)
        opts = _RequestOptions()
        if options is not None:
            opts = self.s.take(store, options, "request-options", _RequestOptions)
        scheme = req.scheme or "https"
        if scheme not in ("http", "https") or not req.authority:
            return Err(ErrorCode("HTTP-request-URI-invalid"))
        transport = self.s.transport
        if not transport.allow.allows(scheme, req.authority):
            transport.stats["denied"] += 1
            _log.warning(
                "outbound request denied: %s://%s is not on the allow-list %s",
                scheme,
                req.authority,
                [str(o) for o in transport.allow.origins],
            )
            return Err(ErrorCode("HTTP-request-denied"))
        authority = req.authority
        if authority.startswith("["):
            end = authority.index("]")
            host, port_text = authority[: end + 1], authority[end + 2 :]
        else:
            host, _, port_text = authority.partition(":")
        port = int(port_text) if port_text else (443 if scheme == "https" else 80)
        path = req.path_with_query or "/"
        if path.startswith("?"):
            path = "/" + path
        request = Request(
            method=req.method,
            scheme=scheme,
            authority=authority,
            host=host,
            port=port,
            path=path,
            headers=req.headers,
            body=None,
            connect_timeout=opts.connect or DEFAULT_TIMEOUT,
            first_byte_timeout=opts.first_byte or DEFAULT_TIMEOUT,
            between_bytes_timeout=opts.between_bytes or DEFAULT_TIMEOUT,
        )
        exchange = _Exchange(self.s, request)
        body = req.body
        if body is None:
            exchange.start()
        else:

            def ready(body: _OutgoingBody = body) -> None:
                if body.state == "failed":
                    assert body.failure is not None
                    exchange.fail(body.failure.code)
                    return
                request.body = bytes(body.buf)
                exchange.start()

            if body.state == "open":
                body.on_done.append(ready)
            else:
                ready()
        return Ok(self.s.push(_FutureResponse(exchange), "future-incoming-response"))


_FUNCS: dict[tuple[str, str], str] = {
    ("wasi:io/poll", "[method]pollable.block"): "pollable_block",
    ("wasi:io/poll", "poll"): "poll",
    ("wasi:clocks/monotonic-clock", "now"): "now",
    ("wasi:clocks/monotonic-clock", "subscribe-instant"): "subscribe_instant",
    ("wasi:io/error", "[method]error.to-debug-string"): "error_to_debug_string",
    ("wasi:io/streams", "[method]input-stream.read"): "input_stream_read",
    ("wasi:io/streams", "[method]input-stream.subscribe"): "input_stream_subscribe",
    ("wasi:io/streams", "[method]output-stream.check-write"): "output_stream_check_write",
    ("wasi:io/streams", "[method]output-stream.write"): "output_stream_write",
    (
        "wasi:io/streams",
        "[method]output-stream.blocking-write-and-flush",
    ): "output_stream_blocking_write_and_flush",
    ("wasi:io/streams", "[method]output-stream.flush"): "output_stream_flush",
    ("wasi:io/streams", "[method]output-stream.subscribe"): "output_stream_subscribe",
    ("wasi:http/types", "[static]fields.from-list"): "fields_from_list",
    ("wasi:http/types", "[method]fields.entries"): "fields_entries",
    ("wasi:http/types", "[constructor]outgoing-request"): "outgoing_request_new",
    ("wasi:http/types", "[method]outgoing-request.body"): "outgoing_request_body",
    ("wasi:http/types", "[method]outgoing-request.set-method"): "outgoing_request_set_method",
    (
        "wasi:http/types",
        "[method]outgoing-request.set-path-with-query",
    ): "outgoing_request_set_path_with_query",
    ("wasi:http/types", "[method]outgoing-request.set-scheme"): "outgoing_request_set_scheme",
    (
        "wasi:http/types",
        "[method]outgoing-request.set-authority",
    ): "outgoing_request_set_authority",
    ("wasi:http/types", "[constructor]request-options"): "request_options_new",
    (
        "wasi:http/types",
        "[method]request-options.set-connect-timeout",
    ): "set_connect_timeout",
    (
        "wasi:http/types",
        "[method]request-options.set-first-byte-timeout",
    ): "set_first_byte_timeout",
    (
        "wasi:http/types",
        "[method]request-options.set-between-bytes-timeout",
    ): "set_between_bytes_timeout",
    ("wasi:http/types", "[method]incoming-response.status"): "incoming_response_status",
    ("wasi:http/types", "[method]incoming-response.headers"): "incoming_response_headers",
    ("wasi:http/types", "[method]incoming-response.consume"): "incoming_response_consume",
    ("wasi:http/types", "[method]incoming-body.stream"): "incoming_body_stream",
    ("wasi:http/types", "[method]outgoing-body.write"): "outgoing_body_write",
    ("wasi:http/types", "[static]outgoing-body.finish"): "outgoing_body_finish",
    ("wasi:http/types", "[method]future-incoming-response.subscribe"): "future_subscribe",
    ("wasi:http/types", "[method]future-incoming-response.get"): "future_get",
    ("wasi:http/types", "http-error-code"): "http_error_code",
    ("wasi:http/outgoing-handler", "handle"): "handle",
}


# ---------------------------------------------------------------------------------------
# Lowering host values to wasmtime-py's representation of a type.

Lower = Callable[[Any], Any]


def _lowering(ty: ValType | None) -> Lower:
    """A function from this module's values (``Ok``/``Err``, ``Variant``, ``ErrorCode``,
    dicts for records, ``None`` for an absent option) to what wasmtime-py expects for ``ty``:
    it leaves out the ``Variant`` wrapper of options, results and variants whose cases it can
    tell apart by Python type."""
    if ty is None:
        return lambda _v: None
    if isinstance(ty, OptionType):
        tagged = ty._tagged()
        payload = _lowering(ty.payload)

        def option(v: Any) -> Any:
            if v is None:
                return Variant("none") if tagged else None
            p = payload(v)
            return Variant("some", p) if tagged else p

        return option
    if isinstance(ty, ResultType):
        tagged = ty._tagged()
        ok, err = _lowering(ty.ok), _lowering(ty.err)

        def result(v: Any) -> Any:
            if isinstance(v, Ok):
                p, case = ok(v.value), "ok"
            elif isinstance(v, Err):
                p, case = err(v.value), "err"
            else:
                raise TypeError(f"expected Ok or Err, got {v!r}")
            return Variant(case, p) if tagged else p

        return result
    if isinstance(ty, VariantType):
        tagged = ty._tagged()
        cases = {name: _lowering(case) for name, case in ty.cases}

        def variant(v: Any) -> Any:
            tag, payload = (v.tag, v.payload)
            p = cases[tag](payload)
            return Variant(tag, p) if tagged else p

        return variant
    if isinstance(ty, RecordType):
        fields = [(name, _lowering(fty)) for name, fty in ty.fields]

        def record(v: Any) -> Any:
            from wasmtime.component import Record

            out = Record()
            for name, lower in fields:
                setattr(out, name, lower(v.get(name)))
            return out

        return record
    if isinstance(ty, ListType) and not ty._is_bytes():
        element = _lowering(ty.element)
        return lambda v: [element(x) for x in v]
    if isinstance(ty, TupleType):
        elements = [_lowering(t) for t in ty.elements]
        return lambda v: tuple(lower(x) for lower, x in zip(elements, v, strict=True))
    return lambda v: v


@dataclass(frozen=True)
class _Item:
    """One definition of an import: a resource (``rid``) or a function (``method``)."""

    name: str
    rid: int | None = None
    method: str | None = None
    lower: Lower | None = None


@dataclass(frozen=True)
class Plan:
    """What :func:`define` puts in a linker for one component, worked out once (reading
    the component's types through wasmtime-py is slow; defining is fast)."""

    instances: tuple[tuple[str, tuple[_Item, ...]], ...]


def plan(engine: Engine, component: Component) -> Plan:
    """The definitions of every import of ``component``.

    Raises:
        WasmtimeError: The component imports something this host does not implement.
    """
    instances = []
    for name, item in component.type.imports(engine).items():
        interface = name.split("@", 1)[0]
        instance_type = item.ty
        if not isinstance(instance_type, ComponentInstanceType):
            raise WasmtimeError(f"{name}: only imported instances are implemented")
        items: list[_Item] = []
        for export, extern in instance_type.exports(engine).items():
            kind = extern.ty
            if isinstance(kind, ResourceType):
                if export not in _RESOURCE_IDS:
                    raise WasmtimeError(f"{interface}: resource {export} is not implemented")
                items.append(_Item(export, rid=_RESOURCE_IDS[export]))
            elif isinstance(kind, WasmFuncType):
                method = _FUNCS.get((interface, export))
                if method is None:
                    raise WasmtimeError(f"{interface}: function {export} is not implemented")
                items.append(_Item(export, method=method, lower=_lowering(kind.result)))
        instances.append((name, tuple(items)))
    return Plan(tuple(instances))


def define(linker: Linker, plan: Plan, state: HostState) -> None:
    """Defines the imports of ``plan`` in ``linker``, backed by ``state``."""
    impl = _Impl(state)

    def drop(_store: Any, rep: int) -> None:
        state.drop(rep)

    with linker.root() as root:
        for name, items in plan.instances:
            with root.add_instance(name) as inst:
                for item in items:
                    if item.rid is not None:
                        inst.add_resource(item.name, ResourceType.host(item.rid), drop)
                    else:
                        assert item.method is not None and item.lower is not None
                        inst.add_func(item.name, _wrap(getattr(impl, item.method), item.lower))


def _wrap(func: Callable[..., Any], lower: Lower) -> Callable[..., Any]:
    def call(store: Any, *args: Any) -> Any:
        try:
            return lower(func(store, *args))
        except HostTrap:
            raise
        except Exception:
            _log.exception("host function %s failed", func.__name__)
            raise

    return call
