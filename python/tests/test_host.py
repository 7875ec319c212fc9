"""The host functions of metald_client._host called directly (as the component calls them),
for the rules the component's own requests never break: header validation, request-body
limits, Content-Length, the allow-list, handles of the wrong resource."""

from __future__ import annotations

import pytest
from wasmtime.component import Variant

from metald_client._host import Err, HostState, HostTrap, Ok, _Impl
from metald_client.allow import AllowList
from metald_client.transport import ErrorCode, Transport


def impl(allow: tuple[str, ...] = (), max_request_body: int = 1024) -> _Impl:
    return _Impl(HostState(Transport(AllowList(allow), max_request_body=max_request_body)))


def request(host: _Impl, headers: tuple[tuple[str, bytes], ...] = ()) -> object:
    fields = host.fields_from_list(None, list(headers))
    assert isinstance(fields, Ok)
    return host.outgoing_request_new(None, fields.value)


def test_connection_level_and_malformed_headers_are_refused() -> None:
    host = impl()
    assert host.fields_from_list(None, [("Host", b"x")]) == Err(Variant("forbidden"))
    assert host.fields_from_list(None, [("transfer-encoding", b"x")]) == Err(Variant("forbidden"))
    assert host.fields_from_list(None, [("bad name", b"x")]) == Err(Variant("invalid-syntax"))
    assert host.fields_from_list(None, [("x", b"a\r\nb")]) == Err(Variant("invalid-syntax"))
    ok = host.fields_from_list(None, [("content-type", b"application/proto")])
    assert isinstance(ok, Ok)
    assert host.fields_entries(None, ok.value) == [("content-type", b"application/proto")]


def test_request_parts_are_validated() -> None:
    host = impl()
    req = request(host)
    assert host.outgoing_request_set_method(None, req, Variant("other", "BAD METHOD")) == Err()
    assert host.outgoing_request_set_method(None, req, Variant("post")) == Ok()
    assert host.outgoing_request_set_path_with_query(None, req, "no-slash") == Err()
    assert host.outgoing_request_set_path_with_query(None, req, "/a#frag") == Err()
    assert host.outgoing_request_set_path_with_query(None, req, "/a?b=c") == Ok()
    assert host.outgoing_request_set_authority(None, req, "user@host") == Err()
    assert host.outgoing_request_set_authority(None, req, "host:80") == Ok()
    assert host.outgoing_request_set_scheme(None, req, Variant("HTTPS")) == Ok()


def test_a_request_body_over_the_limit_fails_its_stream_and_request() -> None:
    host = impl(max_request_body=8)
    req = request(host)
    body = host.outgoing_request_body(None, req)
    assert isinstance(body, Ok)
    assert host.outgoing_request_body(None, req) == Err(), "one body per request"
    stream = host.outgoing_body_write(None, body.value)
    assert isinstance(stream, Ok)
    assert host.output_stream_check_write(None, stream.value) == Ok(1 << 20)
    assert host.output_stream_write(None, stream.value, b"12345678") == Ok()
    failed = host.output_stream_write(None, stream.value, b"9")
    assert isinstance(failed, Err) and failed.value.tag == "last-operation-failed"
    code = host.http_error_code(None, failed.value.payload)
    assert code == ErrorCode("HTTP-request-body-size", 8)
    assert host.output_stream_check_write(None, stream.value) == Err(Variant("closed"))


def test_blocking_write_and_flush_takes_up_to_4096_bytes_without_check_write() -> None:
    host = impl(max_request_body=8192)
    body = host.outgoing_request_body(None, request(host))
    assert isinstance(body, Ok)
    stream = host.outgoing_body_write(None, body.value)
    assert isinstance(stream, Ok)
    assert host.output_stream_blocking_write_and_flush(None, stream.value, b"x" * 4096) == Ok()
    failed = host.output_stream_blocking_write_and_flush(None, stream.value, b"x" * 4097)
    assert isinstance(failed, Err) and failed.value.tag == "last-operation-failed"
    closed = host.output_stream_blocking_write_and_flush(None, stream.value, b"x")
    assert closed == Err(Variant("closed"))


def test_a_body_shorter_than_its_content_length_is_refused_at_finish() -> None:
    host = impl()
    req = request(host, (("content-length", b"10"),))
    body = host.outgoing_request_body(None, req)
    assert isinstance(body, Ok)
    stream = host.outgoing_body_write(None, body.value)
    assert isinstance(stream, Ok)
    host.output_stream_check_write(None, stream.value)
    assert host.output_stream_write(None, stream.value, b"12345") == Ok()
    assert host.outgoing_body_finish(None, body.value, None) == Err(
        ErrorCode("HTTP-request-body-size", 5)
    )


def test_handle_denies_what_the_allow_list_does_not_name() -> None:
    host = impl(("http://127.0.0.1:8080",))
    req = request(host)
    host.outgoing_request_set_scheme(None, req, Variant("HTTP"))
    host.outgoing_request_set_authority(None, req, "127.0.0.1:8081")
    assert host.handle(None, req, None) == Err(ErrorCode("HTTP-request-denied"))
    assert host.s.transport.stats["denied"] == 1
    unnamed = request(host)
    assert host.handle(None, unnamed, None) == Err(ErrorCode("HTTP-request-URI-invalid"))


def test_a_handle_of_another_resource_or_one_already_taken_traps() -> None:
    host = impl()
    req = request(host)
    with pytest.raises(HostTrap):
        host.fields_entries(None, req)
    opts = host.request_options_new(None)
    host.handle(None, req, opts)
    with pytest.raises(HostTrap):
        host.outgoing_request_body(None, req)
