"""Exceptions: the component's ``error`` variant as a class hierarchy.

====================  ============================  =========================================
WIT ``error`` case    exception                     ``code``
====================  ============================  =========================================
``connect``           :class:`ConnectError`         the server's Connect code
``transport``         :class:`TransportError`       ``unavailable``, ``deadline_exceeded``, ...
``invalid-config``    :class:`InvalidConfigError`   ``invalid_argument``
``other``             :class:`OtherError`           ``unknown``
(a wasm trap)         :class:`ComponentTrapError`   ``internal``
====================  ============================  =========================================

Every exception derives from :class:`MetaldError` and has a ``code``: an
:class:`~metald_client.types.ErrorCode`, a ``str`` enum whose value is the Connect name, so
``err.code == "not_found"`` works.

The text of an exception the component reported (``str(err)``) is the component's own
description, from ``errors.describe`` of the instance that returned the error, so every host
(Rust, Go, JS, Python) words it the same way: ``not_found: VM not found: ud-…``,
``deadline_exceeded: …``, ``invalid config: cpu: …; boot: …``, or the ``other`` text itself.
Only exceptions constructed directly, with no component at hand, and
:class:`ComponentTrapError` (the host's own) fall back to a text worded here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import _marshal as _m
from ._bindings import (
    Error,
    ErrorCode,
    ErrorConnect,
    ErrorDetail,
    ErrorInvalidConfig,
    ErrorOther,
    ErrorTransport,
    ValidationIssue,
    errors_describe,
    errors_describe_issues,
)

__all__ = [
    "ComponentTrapError",
    "ConnectError",
    "InvalidConfigError",
    "MetaldError",
    "OtherError",
    "TransportError",
]


class MetaldError(Exception):
    """Base of every error of the metald client.

    ``str(err)`` is one line for people: the component's ``errors.describe`` of the error
    when the component reported it (see the module documentation).

    Args:
        code: The Connect code (an :class:`ErrorCode` or its name).
        message: Human-readable text (not for parsing).
        description: The whole line ``str(err)`` returns; ``None`` (an exception made
            without a component) falls back to ``<code>: <message>``, the component's
            wording for ``connect`` and ``transport`` errors, kept here only for that case.

    Attributes:
        code: The Connect code of the failure.
        message: Human-readable text (not for parsing).
    """

    code: ErrorCode
    message: str

    def __init__(
        self, code: ErrorCode | str, message: str, *, description: str | None = None
    ) -> None:
        self.code = ErrorCode(code)
        self.message = message
        super().__init__(self._fallback_description() if description is None else description)

    def _fallback_description(self) -> str:
        """``str(self)`` when no description was given (no component at hand)."""
        return f"{self.code.value}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Copies and pickles keep the text as it is (the component's line) and every
        # attribute; the default would call __init__ with the text alone.
        return (_rebuild, (type(self), str(self), self.__dict__.copy()))


def _rebuild(cls: type[MetaldError], text: str, state: dict[str, Any]) -> MetaldError:
    """An exception of ``cls`` with ``text`` and attributes ``state``, without ``__init__``."""
    error = cls.__new__(cls)
    Exception.__init__(error, text)
    error.__dict__.update(state)
    return error


class ConnectError(MetaldError):
    """The server (or a proxy in front of it) answered with a Connect error.

    ``str(err)`` is ``<code>: <message>`` (``not_found: VM not found: ud-…``), as the
    component describes it.

    Attributes:
        code: The Connect code (inferred from the HTTP status when the body carries none).
        message: The server's message.
        http_status: HTTP status of the response.
        details: Error details (protobuf messages with their type names).
    """

    http_status: int
    details: list[ErrorDetail]

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        http_status: int = 0,
        details: Sequence[ErrorDetail] = (),
        *,
        description: str | None = None,
    ) -> None:
        super().__init__(code, message, description=description)
        self.http_status = http_status
        self.details = list(details)


class TransportError(MetaldError):
    """The call got no valid answer: connection, TLS, deadline, or a malformed response.

    ``str(err)`` is ``<code>: <message>``, as the component describes it.

    Attributes:
        code: ``unavailable``, ``deadline_exceeded``, ``unauthenticated`` (TLS identity),
            ``resource_exhausted`` (over a limit), ``internal`` (malformed response) or
            ``unknown``.
        message: What happened, with the cause.
        outcome_unknown: True when a write may have reached the server.
    """

    outcome_unknown: bool

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        outcome_unknown: bool = False,
        *,
        description: str | None = None,
    ) -> None:
        super().__init__(code, message, description=description)
        self.outcome_unknown = outcome_unknown


class InvalidConfigError(MetaldError, ValueError):
    """Input failed validation; nothing was sent.

    ``str(err)`` is ``invalid config: <field>: <message>; …``, the component's description,
    and ``message`` the issues alone (``<field>: <message>; …``, the component's
    ``errors.describe-issues``).

    Args:
        issues: The problems.
        message: The issues as text; ``None`` joins them here (``<field>: <message>`` with
            ``; ``), a copy of the component's wording used only without a component.
        description: The whole line ``str(err)`` returns; ``None`` falls back to
            ``invalid config: `` and ``message``, likewise a copy for that case only.

    Attributes:
        issues: Every problem found, each with its field path (``storage[1].path``).
    """

    issues: list[ValidationIssue]

    def __init__(
        self,
        issues: Sequence[ValidationIssue],
        *,
        message: str | None = None,
        description: str | None = None,
    ) -> None:
        self.issues = list(issues)
        if message is None:
            message = "; ".join(f"{issue.field}: {issue.message}" for issue in self.issues)
        super().__init__(ErrorCode.INVALID_ARGUMENT, message, description=description)

    def _fallback_description(self) -> str:
        return f"invalid config: {self.message}"

    @property
    def fields(self) -> list[str]:
        """The field paths of the issues, in order (``["cpu.vcpu_count", "storage[0].path"]``)."""
        return [issue.field for issue in self.issues]


class OtherError(MetaldError):
    """Any other failure reported by the component. The text is for people.

    ``str(err)`` is the text itself (the component's description of an ``other`` error).
    """

    def __init__(self, message: str, *, description: str | None = None) -> None:
        super().__init__(ErrorCode.UNKNOWN, message, description=description)

    def _fallback_description(self) -> str:
        return self.message


class ComponentTrapError(MetaldError):
    """The WebAssembly component trapped (a bug) or could not be entered.

    This failure is the host's own, not a value of the component's ``error`` variant, so its
    text is worded here: ``internal: <what wasmtime reported>``.

    The instance that trapped is discarded: a :class:`~metald_client.Client` continues on a
    fresh instance with its next call, while a
    :class:`~metald_client.VmConfigBuilder` loses its state and must be recreated.
    """

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.INTERNAL, message)


def error_from_wit(error: Any, caller: _m.Caller | None = None) -> MetaldError:
    """The exception for an ``err`` payload the component returned: a case of the ``error``
    variant (:data:`~metald_client.types.Error`) or a ``list<validation-issue>``.

    ``caller`` is the instance that returned it: its ``errors.describe`` (and, for invalid
    configs, ``errors.describe-issues``) words the exception. Without one, or if the
    component cannot describe it (it lacks the ``errors`` interface, or traps), the
    exception keeps the fallback text of its class.
    """
    wit: Error
    if isinstance(error, list):
        wit = ErrorInvalidConfig(error)
    elif isinstance(error, (ErrorConnect, ErrorTransport, ErrorInvalidConfig, ErrorOther)):
        wit = error
    else:
        return OtherError(f"unexpected error value from the component: {error!r}")
    description = _describe(caller, wit)
    if isinstance(wit, ErrorConnect):
        connect = wit.value
        return ConnectError(
            connect.code,
            connect.message,
            http_status=connect.http_status,
            details=connect.details,
            description=description,
        )
    if isinstance(wit, ErrorTransport):
        transport = wit.value
        return TransportError(
            transport.code,
            transport.message,
            outcome_unknown=transport.outcome_unknown,
            description=description,
        )
    if isinstance(wit, ErrorInvalidConfig):
        message = None
        if caller is not None and description is not None:
            message = _call_or_none(errors_describe_issues, caller, wit.value)
        return InvalidConfigError(wit.value, message=message, description=description)
    return OtherError(wit.value, description=description)


def _describe(caller: _m.Caller | None, error: Error) -> str | None:
    """The component's ``errors.describe`` of ``error``; ``None`` without a component."""
    return None if caller is None else _call_or_none(errors_describe, caller, error)


def _call_or_none(function: Any, caller: _m.Caller, argument: Any) -> str | None:
    # A component without the ``errors`` interface raises LookupError; a trap (a bug, and the
    # instance is replaced) ComponentTrapError. Either way the error being reported matters
    # more than its wording: keep it, with the fallback text.
    try:
        text: str = function(caller, argument)
    except (LookupError, MetaldError):
        return None
    return text
