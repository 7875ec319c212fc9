"""The component's ``errors`` interface: the code table and the wording of every exception."""

from __future__ import annotations

import copy
import pickle

import pytest

import metald_client as m
from metald_client import _bindings as _b
from metald_client import codec
from metald_client.errors import error_from_wit
from metald_client.types import HttpResponse

ISSUES = [m.ValidationIssue("cpu", "missing"), m.ValidationIssue("storage[1].path", "empty")]

# One value of every case of the WIT ``error`` variant.
WIT_ERRORS: list[_b.Error] = [
    _b.ErrorConnect(_b.ConnectError(m.ErrorCode.NOT_FOUND, "VM not found: ud-1", http_status=404)),
    _b.ErrorConnect(_b.ConnectError(m.ErrorCode.UNAVAILABLE, "", http_status=503)),
    _b.ErrorTransport(_b.TransportError(m.ErrorCode.DEADLINE_EXCEEDED, "after 200 ms", True)),
    _b.ErrorInvalidConfig(ISSUES),
    _b.ErrorInvalidConfig([m.ValidationIssue("", "no field")]),
    _b.ErrorOther("something else"),
]


def test_error_codes_are_the_components_table(runtime: m.Runtime) -> None:
    # The generated enum and the component's table cannot drift apart: same codes, same
    # order (gRPC numbers 1 to 16), and each member's value is the component's Connect name.
    table = _b.errors_codes(runtime)
    assert [info.code for info in table] == list(m.ErrorCode)
    for number, info in enumerate(table, start=1):
        assert info.number == number, info
        assert info.code.value == info.name, info
        assert _b.errors_code_name(runtime, info.code) == info.name
        assert _b.errors_code_from_name(runtime, info.name) is info.code
        assert m.ErrorCode(info.name) is info.code
    assert _b.errors_code_from_name(runtime, "NOT_FOUND") is None
    assert _b.errors_code_from_name(runtime, "ok") is None


@pytest.mark.parametrize("wit", WIT_ERRORS, ids=lambda e: type(e).__name__)
def test_exception_text_is_the_components_description(runtime: m.Runtime, wit: _b.Error) -> None:
    described = _b.errors_describe(runtime, wit)
    error = error_from_wit(wit, runtime)
    assert str(error) == described
    # Attributes stay as they were.
    if isinstance(wit, _b.ErrorConnect):
        assert isinstance(error, m.ConnectError)
        assert (error.code, error.message) == (wit.value.code, wit.value.message)
        assert error.http_status == wit.value.http_status
    elif isinstance(wit, _b.ErrorTransport):
        assert isinstance(error, m.TransportError)
        assert (error.code, error.message) == (wit.value.code, wit.value.message)
        assert error.outcome_unknown is wit.value.outcome_unknown
    elif isinstance(wit, _b.ErrorInvalidConfig):
        assert isinstance(error, m.InvalidConfigError)
        assert error.issues == wit.value and error.code is m.ErrorCode.INVALID_ARGUMENT
        assert error.message == _b.errors_describe_issues(runtime, wit.value)
    else:
        assert isinstance(error, m.OtherError)
        assert error.message == wit.value and error.code is m.ErrorCode.UNKNOWN


@pytest.mark.parametrize("wit", WIT_ERRORS, ids=lambda e: type(e).__name__)
def test_fallback_text_matches_the_component(runtime: m.Runtime, wit: _b.Error) -> None:
    # Exceptions made without a component word themselves; keep that copy in step.
    fallback = error_from_wit(wit)
    assert str(fallback) == _b.errors_describe(runtime, wit)


def test_describe_examples(runtime: m.Runtime) -> None:
    assert _b.errors_describe(runtime, WIT_ERRORS[0]) == "not_found: VM not found: ud-1"
    assert _b.errors_describe_issues(runtime, ISSUES) == "cpu: missing; storage[1].path: empty"
    assert str(error_from_wit(ISSUES, runtime)) == (
        "invalid config: cpu: missing; storage[1].path: empty"
    )
    assert str(error_from_wit(_b.ErrorOther("plain"), runtime)) == "plain"


def test_errors_raised_by_calls_carry_the_description() -> None:
    with pytest.raises(m.InvalidConfigError) as info:
        m.validate_identity("alice", "")
    assert str(info.value) == "invalid config: tenant-id: must not be empty"
    assert info.value.message == "tenant-id: must not be empty"

    options = m.ClientOptions("http://metald:8080", "alice", "acme", codec=m.Codec.JSON)
    json = [("content-type", "application/json")]
    with pytest.raises(m.ConnectError) as connect:
        body = b'{"code":"not_found","message":"VM not found: ud-9"}'
        codec.decode_response(options, "get-vm-info", HttpResponse(404, json, body))
    assert str(connect.value) == "not_found: VM not found: ud-9"


def test_user_constructed_exceptions() -> None:
    assert str(m.ConnectError("not_found", "gone", 404)) == "not_found: gone"
    assert str(m.TransportError(m.ErrorCode.UNAVAILABLE, "refused")) == "unavailable: refused"
    assert str(m.InvalidConfigError(ISSUES)) == (
        "invalid config: cpu: missing; storage[1].path: empty"
    )
    assert str(m.OtherError("text")) == "text"
    assert str(m.ConnectError("internal", "x", description="told")) == "told"
    assert str(m.ComponentTrapError("wasm trap")) == "internal: wasm trap"


def test_unexpected_error_value() -> None:
    error = error_from_wit(42, None)
    assert isinstance(error, m.OtherError) and "42" in str(error)


@pytest.mark.parametrize("wit", WIT_ERRORS, ids=lambda e: type(e).__name__)
def test_copies_and_pickles_keep_text_and_attributes(runtime: m.Runtime, wit: _b.Error) -> None:
    error = error_from_wit(wit, runtime)
    for twin in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
        assert type(twin) is type(error) and twin is not error
        assert str(twin) == str(error) and twin.args == error.args
        assert vars(twin) == vars(error)
    told = m.ConnectError("internal", "x", 500, description="told")
    assert str(pickle.loads(pickle.dumps(told))) == "told"


class _CannotDescribe:
    """A caller whose component cannot describe: no ``errors`` interface, or a trap."""

    def __init__(self, failure: Exception) -> None:
        self.failure = failure

    def call(self, func: object, *args: object) -> object:
        raise self.failure


@pytest.mark.parametrize(
    "failure", [LookupError("no errors export"), m.ComponentTrapError("trapped")]
)
def test_an_error_the_component_cannot_describe_keeps_the_fallback(failure: Exception) -> None:
    for wit in WIT_ERRORS:
        error = error_from_wit(wit, _CannotDescribe(failure))
        assert type(error) is type(error_from_wit(wit))
        assert str(error) == str(error_from_wit(wit))
