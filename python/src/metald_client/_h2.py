"""HTTP/2 (RFC 9113) over a TLS connection that negotiated ``h2`` by ALPN, with the ``h2``
protocol library: one request at a time per connection (a client's calls are serialized),
pooled like HTTP/1.1 connections by :mod:`metald_client.transport`.

:class:`H2Response` offers what the transport reads from an ``http.client.HTTPResponse``
(``status``, ``getheaders``, ``read1``, ``length``, ``will_close``, ``close``), so the
response body is read the same way for both protocols.
"""

from __future__ import annotations

import http.client
import ssl
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

__all__ = ["H2Connection", "H2Response", "HeaderListTooLarge", "StreamRefused"]

_RECV = 64 << 10


class StreamRefused(Exception):
    """The server did not process the request: RST_STREAM(REFUSED_STREAM), or a stream above
    the last-stream-id of its GOAWAY (RFC 9113 section 8.7); safe to repeat."""


class HeaderListTooLarge(http.client.HTTPException):
    """A response header block over the decoder's limit (``h2``'s 64 KiB default)."""


class H2Connection:
    """An HTTP/2 client connection on ``sock`` (TLS, ALPN ``h2``)."""

    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock = sock
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.h2.initiate_connection()
        self.goaway = False
        self.closed = False
        self._flush()

    def _flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def _receive(self) -> list[h2.events.Event]:
        data = self.sock.recv(_RECV)
        if not data:
            raise http.client.RemoteDisconnected("the server closed the HTTP/2 connection")
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.DenialOfServiceError as exc:
            raise HeaderListTooLarge(f"the response headers are over the limit: {exc}") from exc
        except h2.exceptions.ProtocolError as exc:
            raise http.client.HTTPException(f"HTTP/2 protocol error: {exc}") from exc
        self._flush()
        return events

    def usable(self) -> bool:
        """Whether a new request may start here."""
        return not self.goaway and not self.closed and self.h2.open_outbound_streams == 0

    def request(
        self,
        method: str,
        authority: str,
        path: str,
        headers: list[tuple[str, bytes]],
        body: bytes | None,
    ) -> H2Response:
        """Sends a request and waits for its response head (bounded by the socket timeout)."""
        stream = self.h2.get_next_available_stream_id()
        fields: list[tuple[bytes, bytes]] = [
            (b":method", method.encode()),
            (b":scheme", b"https"),
            (b":authority", authority.encode()),
            (b":path", path.encode()),
        ]
        for name, value in headers:
            # Connection-specific fields are not HTTP/2 fields (RFC 9113 section 8.2.2); the
            # component's fields are checked against them already.
            fields.append((name.lower().encode(), value))
        if body is not None and not any(n == b"content-length" for n, _ in fields):
            fields.append((b"content-length", str(len(body)).encode()))
        self.h2.send_headers(stream, fields, end_stream=not body)
        self._flush()
        if body:
            self._send_body(stream, body)
        response = H2Response(self, stream)
        response.wait_head()
        return response

    def _send_body(self, stream: int, body: bytes) -> None:
        view = memoryview(body)
        while view:
            window = min(self.h2.local_flow_control_window(stream), self.h2.max_outbound_frame_size)
            if window <= 0:
                self._dispatch(self._receive(), None)
                continue
            chunk, view = view[:window], view[window:]
            self.h2.send_data(stream, bytes(chunk), end_stream=not view)
            self._flush()

    def _dispatch(self, events: list[h2.events.Event], response: H2Response | None) -> None:
        for event in events:
            if isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = True
                last = event.last_stream_id
                if (
                    response is not None
                    and not response.ended
                    and (last is None or response.stream > last)
                ):
                    response.failure = StreamRefused(
                        f"GOAWAY ({event.error_code!r}) before stream {response.stream}"
                    )
                elif response is not None and not response.ended:
                    response.failure = http.client.RemoteDisconnected(
                        f"the server closed the HTTP/2 connection ({event.error_code!r})"
                    )
                continue
            stream = getattr(event, "stream_id", None)
            if response is None or stream != response.stream:
                continue
            if isinstance(event, h2.events.ResponseReceived):
                response.set_head(event.headers or [])
            elif isinstance(event, h2.events.DataReceived):
                response.buffer += event.data or b""
                self.h2.acknowledge_received_data(event.flow_controlled_length or 0, stream)
                self._flush()
            elif isinstance(event, h2.events.StreamEnded):
                response.ended = True
            elif isinstance(event, h2.events.StreamReset):
                if event.error_code == h2.errors.ErrorCodes.REFUSED_STREAM:
                    response.failure = StreamRefused("RST_STREAM(REFUSED_STREAM)")
                else:
                    response.failure = ConnectionResetError(
                        f"the server reset the stream ({event.error_code!r})"
                    )
                response.ended = True

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.h2.close_connection()
            self._flush()
        except (OSError, h2.exceptions.ProtocolError):
            pass
        self.sock.close()


class H2Response:
    """The response of one stream; read like an ``http.client.HTTPResponse``."""

    length: int | None = None

    def __init__(self, conn: H2Connection, stream: int) -> None:
        self.conn = conn
        self.stream = stream
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.buffer = b""
        self.ended = False
        self.failure: BaseException | None = None
        self._has_head = False

    @property
    def will_close(self) -> bool:
        """Whether the connection cannot carry another request."""
        return self.conn.goaway or self.conn.closed

    def set_head(self, headers: Any) -> None:
        for raw_name, raw_value in headers:
            name = raw_name.decode("latin-1") if isinstance(raw_name, bytes) else raw_name
            value = raw_value.decode("latin-1") if isinstance(raw_value, bytes) else raw_value
            if name == ":status":
                self.status = int(value)
            elif not name.startswith(":"):
                self.headers.append((name, value))
        self._has_head = True

    def _step(self) -> None:
        if self.failure is not None:
            raise self.failure
        self.conn._dispatch(self.conn._receive(), self)
        if self.failure is not None:
            raise self.failure

    def wait_head(self) -> None:
        while not self._has_head:
            if self.ended:
                raise http.client.RemoteDisconnected("the stream ended without a response")
            self._step()

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self.headers)

    def read1(self, n: int) -> bytes:
        """Up to ``n`` bytes of the body, waiting for some; ``b""`` at its end."""
        while not self.buffer and not self.ended:
            try:
                self._step()
            except (http.client.RemoteDisconnected, StreamRefused) as exc:
                raise http.client.IncompleteRead(b"") from exc
        if self.failure is not None and not self.buffer:
            raise self.failure
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def close(self) -> None:
        """Ends the stream: a body not read to its end is cancelled (RST_STREAM CANCEL)."""
        if not self.ended and not self.conn.closed:
            try:
                self.conn.h2.reset_stream(self.stream, h2.errors.ErrorCodes.CANCEL)
                self.conn._flush()
            except (TimeoutError, OSError, h2.exceptions.ProtocolError):
                self.conn.close()
            self.ended = True
