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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._bindings import (
    ErrorCode,
    ErrorConnect,
    ErrorDetail,
    ErrorInvalidConfig,
    ErrorOther,
    ErrorTransport,
    ValidationIssue,
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

    Attributes:
        code: The Connect code of the failure.
        message: Human-readable text (not for parsing).
    """

    code: ErrorCode
    message: str

    def __init__(self, code: ErrorCode | str, message: str) -> None:
        self.code = ErrorCode(code)
        self.message = message
        super().__init__(f"{self.code.value}: {message}" if message else self.code.value)


class ConnectError(MetaldError):
    """The server (or a proxy in front of it) answered with a Connect error.

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
    ) -> None:
        super().__init__(code, message)
        self.http_status = http_status
        self.details = list(details)


class TransportError(MetaldError):
    """The call got no valid answer: connection, TLS, deadline, or a malformed response.

    Attributes:
        code: ``unavailable``, ``deadline_exceeded``, ``unauthenticated`` (TLS identity),
            ``resource_exhausted`` (over a limit), ``internal`` (malformed response) or
            ``unknown``.
        message: What happened, with the cause.
        outcome_unknown: True when a write may have reached the server.
    """

    outcome_unknown: bool

    def __init__(self, code: ErrorCode | str, message: str, outcome_unknown: bool = False) -> None:
        super().__init__(code, message)
        self.outcome_unknown = outcome_unknown


class InvalidConfigError(MetaldError, ValueError):
    """Input failed validation; nothing was sent.

    Attributes:
        issues: Every problem found, each with its field path (``storage[1].path``).
    """

    issues: list[ValidationIssue]

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        self.issues = list(issues)
        text = "; ".join(str(issue) for issue in self.issues) or "invalid input"
        super().__init__(ErrorCode.INVALID_ARGUMENT, text)

    @property
    def fields(self) -> list[str]:
        """The field paths of the issues, in order (``["cpu.vcpu_count", "storage[0].path"]``)."""
        return [issue.field for issue in self.issues]


class OtherError(MetaldError):
    """Any other failure reported by the component. The text is for people."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNKNOWN, message)


class ComponentTrapError(MetaldError):
    """The WebAssembly component trapped (a bug) or could not be entered.

    The instance that trapped is discarded: a :class:`~metald_client.Client` continues on a
    fresh instance with its next call, while a
    :class:`~metald_client.VmConfigBuilder` loses its state and must be recreated.
    """

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.INTERNAL, message)


def error_from_wit(error: Any) -> MetaldError:
    """The exception for an ``err`` payload the component returned: a case of the ``error``
    variant (:data:`~metald_client.types.Error`) or a ``list<validation-issue>``."""
    if isinstance(error, list):
        return InvalidConfigError(error)
    if isinstance(error, ErrorConnect):
        connect = error.value
        return ConnectError(
            connect.code, connect.message, http_status=connect.http_status, details=connect.details
        )
    if isinstance(error, ErrorTransport):
        transport = error.value
        return TransportError(
            transport.code, transport.message, outcome_unknown=transport.outcome_unknown
        )
    if isinstance(error, ErrorInvalidConfig):
        return InvalidConfigError(error.value)
    if isinstance(error, ErrorOther):
        return OtherError(error.value)
    return OtherError(f"unexpected error value from the component: {error!r}")
