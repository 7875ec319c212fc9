"""The HTTP transport behind the component's ``wasi:http/outgoing-handler``.

A :class:`Transport` belongs to a client (or to a runtime's stateless instances, with an
empty allow-list): it holds the allow-list, the TLS provider (:mod:`metald_client.tls`) and
a pool of ``http.client`` connections keyed by destination and TLS identity (who we are and
a digest of what we trust), so a rotated SVID or renewed certificate is used by the next
connection and never served by an old one.

Requests are sent, and response bodies read, on the thread that calls the component, when the
component asks for the response and reads its body (:mod:`metald_client._host`); nothing is
read ahead of the component. Failures become the wasi:http ``error-code`` the Rust host
reports for them (host/src/transport/errors.rs; the component's reading of each code is
testdata/transport-errors.json): see :func:`error_code`.
"""

from __future__ import annotations

import errno
import http.client
import select
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

from ._h2 import H2Connection, H2Response, HeaderListTooLarge, StreamRefused
from .allow import AllowList
from .tls import Identity, ServerIdentityError, TlsError, TlsProvider

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_REQUEST_BODY_BYTES",
    "CodeError",
    "ErrorCode",
    "Transport",
    "error_code",
]

DEFAULT_TIMEOUT = 30.0
"""Seconds for connect, first byte and between bytes when the request options set none."""
MAX_REQUEST_BODY_BYTES = 16 << 20
"""Largest request body the host buffers."""
READ_CHUNK = 64 << 10
"""Bytes read from a response body at a time."""
MAX_IDLE_PER_KEY = 8
"""Idle connections kept per destination and identity."""


@dataclass(frozen=True)
class ErrorCode:
    """A wasi:http ``error-code``: the WIT case name and its payload (a string, an int, or a
    dict of the record's fields), ``None`` for none."""

    tag: str
    payload: Any = None

    def describe(self) -> str:
        """The code with its payload, for ``error.to-debug-string`` and logs."""
        if isinstance(self.payload, dict):
            text = self.payload.get("alert-message") or self.payload.get("rcode")
            return f"{self.tag}: {text}" if text else self.tag
        if self.payload is not None:
            return f"{self.tag}: {self.payload}"
        return self.tag


def internal_error(text: str) -> ErrorCode:
    return ErrorCode("internal-error", text)


def tls_alert(text: str) -> ErrorCode:
    return ErrorCode("TLS-alert-received", {"alert-id": None, "alert-message": text})


class CodeError(Exception):
    """A failure whose error code is known where it happens (limits, timeouts, allow-list)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        self.code = code
        super().__init__(message)


class _BodyReadError(Exception):
    """A failure while reading a response body."""

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(f"reading the response body: {cause}")


class _Phase:
    CONNECT = "connect"
    FIRST_BYTE = "first-byte"
    BODY = "body"


class _PhasedError(Exception):
    def __init__(self, phase: str, cause: BaseException) -> None:
        self.phase = phase
        self.cause = cause
        super().__init__(str(cause))


def error_code(exc: BaseException) -> ErrorCode:
    """The wasi:http error code of a failed request, as the Rust host maps it.

    Refused connection → ``connection-refused`` (the server did not process the request);
    connect or handshake timeout → ``connection-timeout``; no response or a stalled body within
    the timeouts → ``connection-read-timeout``; reset, EOF → ``connection-terminated`` (in a
    response body: ``HTTP-response-incomplete``); TLS failures and refused server identities →
    ``TLS-alert-received`` with the cause; DNS → ``DNS-error``; unreachable →
    ``destination-unavailable``; oversized header section →
    ``HTTP-response-header-section-size``; malformed response → ``HTTP-protocol-error``;
    anything else → ``internal-error`` with the text.
    """
    if isinstance(exc, CodeError):
        return exc.code
    if isinstance(exc, _BodyReadError):
        code = error_code(exc.cause)
        if code.tag in ("connection-terminated", "HTTP-protocol-error", "connection-refused"):
            return ErrorCode("HTTP-response-incomplete")
        return code
    phase = None
    if isinstance(exc, _PhasedError):
        phase, exc = exc.phase, exc.cause
    if isinstance(exc, StreamRefused):
        return ErrorCode("connection-refused")
    if isinstance(exc, TlsError):
        return tls_alert(str(exc))
    if isinstance(exc, ServerIdentityError | ssl.SSLCertVerificationError):
        return tls_alert(str(exc))
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError) and phase != _Phase.CONNECT:
        # After the handshake, a TLS connection that ends is a connection that ends.
        return ErrorCode("connection-terminated")
    if isinstance(exc, ssl.SSLError):
        return tls_alert(f"TLS: {exc}")
    if isinstance(exc, socket.gaierror):
        return ErrorCode("DNS-error", {"rcode": exc.strerror or str(exc), "info-code": None})
    if isinstance(exc, ConnectionRefusedError):
        return ErrorCode("connection-refused")
    if isinstance(exc, TimeoutError):
        if phase == _Phase.CONNECT:
            return ErrorCode("connection-timeout")
        return ErrorCode("connection-read-timeout")
    if isinstance(exc, http.client.RemoteDisconnected | http.client.IncompleteRead):
        return ErrorCode("connection-terminated")
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return ErrorCode("connection-terminated")
    if isinstance(exc, http.client.LineTooLong | HeaderListTooLarge) or (
        isinstance(exc, http.client.HTTPException) and "headers" in str(exc)
    ):
        return ErrorCode("HTTP-response-header-section-size", None)
    if isinstance(exc, http.client.HTTPException):
        return ErrorCode("HTTP-protocol-error")
    if isinstance(exc, OSError) and exc.errno in (
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EADDRNOTAVAIL,
    ):
        return ErrorCode("destination-unavailable")
    return internal_error(f"{type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------------------------
# Connections and the pool.


class _Connection(http.client.HTTPConnection):
    """A connection to one destination; over TLS, the server's identity is checked right
    after the handshake, before any request byte is sent."""

    def __init__(self, host: str, port: int, timeout: float, identity: Identity | None) -> None:
        super().__init__(host, port, timeout=timeout)
        self.identity = identity
        self.alpn: str | None = None
        self.h2: H2Connection | None = None
        self.pool_key: tuple[Any, ...] = ()

    def connect(self) -> None:
        try:
            super().connect()
            # http.client writes the head and the body separately: without TCP_NODELAY,
            # Nagle's algorithm holds the body for the server's delayed ACK (tens of ms).
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            raise _PhasedError(_Phase.CONNECT, exc) from exc
        if self.identity is None:
            return
        try:
            # An IP address is checked against IP SANs and not sent as SNI (ssl does both).
            sock = self.identity.context.wrap_socket(self.sock, server_hostname=self.host)
            self.sock = sock
            der = sock.getpeercert(binary_form=True)
            if der is None:
                raise ssl.SSLCertVerificationError("the server presented no certificate")
            self.identity.verify(der, self.host)
            self.alpn = sock.selected_alpn_protocol()
            if self.alpn == "h2":
                self.h2 = H2Connection(sock)
        except (OSError, ssl.SSLError) as exc:
            # The handshake (a TLS failure there is the server refusing us, or us it).
            self.close()
            raise _PhasedError(_Phase.CONNECT, exc) from exc
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.h2 is not None:
            self.h2.close()
        super().close()


def _dead(conn: _Connection) -> bool:
    """Whether an idle connection cannot be used: closed by the server (HTTP/1.1: readable
    while idle), or an HTTP/2 connection that got GOAWAY."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if conn.h2 is None:
            return bool(readable)
        if readable or (isinstance(sock, ssl.SSLSocket) and sock.pending()):
            # Frames that arrived while idle (SETTINGS, PING, GOAWAY).
            sock.settimeout(1.0)
            conn.h2._dispatch(conn.h2._receive(), None)
        return not conn.h2.usable()
    except (OSError, ValueError, http.client.HTTPException):
        return True


class Transport:
    """The outbound side of one client: allow-list, TLS and a connection pool.

    Args:
        allow: Destinations the component may reach; everything else is
            ``HTTP-request-denied``.
        tls: The TLS provider for ``https://``; ``None`` refuses ``https://``.
        max_request_body: Largest request body accepted.
    """

    def __init__(
        self,
        allow: AllowList,
        tls: TlsProvider | None = None,
        *,
        max_request_body: int = MAX_REQUEST_BODY_BYTES,
    ) -> None:
        self.allow = allow
        self.tls = tls
        self.max_request_body = max_request_body
        self._lock = threading.Lock()
        self._idle: dict[tuple[Any, ...], list[_Connection]] = {}
        self._closed = False
        self.stats = {"connections": 0, "requests": 0, "denied": 0}

    def acquire(
        self, scheme: str, host: str, port: int, connect_timeout: float
    ) -> tuple[_Connection, bool]:
        """A connection to ``scheme://host:port``: an idle pooled one of the current identity
        (``True``), or a new one (``False``, connected)."""
        identity: Identity | None = None
        if scheme == "https":
            if self.tls is None:
                raise CodeError(
                    ErrorCode("HTTP-request-URI-invalid"), "https:// needs a TLS provider"
                )
            identity = self.tls.identity()
        key = (scheme, host, port, identity.key if identity else None)
        with self._lock:
            if self._closed:
                raise CodeError(internal_error("the client was closed"), "closed")
            # Connections made with rotated or renewed material are never used again.
            retired = [k for k in self._idle if k[:3] == key[:3] and k != key]
            for old in retired:
                for stale in self._idle.pop(old):
                    stale.close()
            idle = self._idle.get(key, [])
            while idle:
                conn = idle.pop()
                if not _dead(conn):
                    return conn, True
                conn.close()
        conn = _Connection(host.strip("[]"), port, connect_timeout, identity)
        conn.pool_key = key
        conn.connect()
        with self._lock:
            self.stats["connections"] += 1
        return conn, False

    def release(self, conn: _Connection) -> None:
        """Returns a connection whose response was read to its end."""
        usable = conn.sock is not None and (conn.h2 is None or conn.h2.usable())
        with self._lock:
            idle = self._idle.setdefault(conn.pool_key, [])
            if not self._closed and len(idle) < MAX_IDLE_PER_KEY and usable:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Closes idle connections and the TLS provider; later requests fail."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()
        if self.tls is not None:
            self.tls.close()


@dataclass
class Request:
    """A request as ``outgoing-handler.handle`` took it."""

    method: str
    scheme: str
    authority: str
    host: str
    port: int
    path: str
    headers: list[tuple[str, bytes]]
    body: bytes | None
    connect_timeout: float
    first_byte_timeout: float
    between_bytes_timeout: float


@dataclass
class Response:
    """A response whose head arrived."""

    status: int
    headers: list[tuple[str, bytes]]
    raw: http.client.HTTPResponse | H2Response = field(repr=False)
    conn: _Connection = field(repr=False)
    between_bytes_timeout: float


def send(transport: Transport, req: Request) -> Response:
    """Sends a request and waits for the response head (bounded by the timeouts)."""
    with transport._lock:
        transport.stats["requests"] += 1
    conn, reused = transport.acquire(req.scheme, req.host, req.port, req.connect_timeout)
    try:
        return _exchange(conn, req)
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, StreamRefused):
        conn.close()
        if not reused:
            raise
        # The server closed an idle pooled connection as we sent on it (RFC 9112 section
        # 9.3.1 allows it at any time): nothing was processed, so send once more on a new one.
        conn, _ = transport.acquire(req.scheme, req.host, req.port, req.connect_timeout)
        try:
            return _exchange(conn, req)
        except BaseException:
            conn.close()
            raise
    except BaseException:
        conn.close()
        raise


def _exchange(conn: _Connection, req: Request) -> Response:
    assert conn.sock is not None
    conn.sock.settimeout(req.first_byte_timeout)
    if conn.h2 is not None:
        headers = [(n, v) for n, v in req.headers if n.lower() != "content-length"]
        try:
            h2_response = conn.h2.request(req.method, req.authority, req.path, headers, req.body)
        except TimeoutError as exc:
            raise CodeError(
                ErrorCode("connection-read-timeout"),
                "no response before the first-byte timeout",
            ) from exc
        conn.sock.settimeout(req.between_bytes_timeout)
        h2_headers = [(n.lower(), v.encode("latin-1")) for n, v in h2_response.getheaders()]
        return Response(
            h2_response.status, h2_headers, h2_response, conn, req.between_bytes_timeout
        )
    conn.putrequest(req.method, req.path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", req.authority)
    for name, value in req.headers:
        if name.lower() == "content-length":
            continue
        conn.putheader(name, value)
    body = req.body
    if body is not None or req.method in ("POST", "PUT", "PATCH"):
        conn.putheader("Content-Length", str(len(body or b"")))
    conn.endheaders(body or None)
    try:
        raw = conn.getresponse()
    except TimeoutError as exc:
        raise CodeError(
            ErrorCode("connection-read-timeout"), "no response before the first-byte timeout"
        ) from exc
    headers = [(name.lower(), value.encode("latin-1")) for name, value in raw.getheaders()]
    if conn.sock is not None:
        conn.sock.settimeout(req.between_bytes_timeout)
    return Response(raw.status, headers, raw, conn, req.between_bytes_timeout)
