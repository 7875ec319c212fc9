"""Plain Python values for the records, enums and variants of ``metald:client@0.1.0``.

They are generated from ``wit/`` (:mod:`metald_client._bindings`, by ``cargo run -p
metald-witgen -- python``), so every WIT field is here, under its ``snake_case`` name.

Every WIT record is a :func:`dataclasses.dataclass` whose fields are the WIT fields in
``snake_case`` (``vcpu-count`` -> ``vcpu_count``); every WIT enum is a ``str``-valued
:class:`enum.Enum`. The mapping of the remaining WIT types:

=====================================  ==================================================
WIT                                    Python
=====================================  ==================================================
``string``, ``bool``                   ``str``, ``bool``
``s32``, ``s64``, ``u16``, ``u32`` ...  ``int`` (range-checked before the call)
``f64``                                ``float``
``option<T>``                          ``T | None``
``list<T>``                            ``list[T]``
``list<u8>``                           ``bytes``
``string-map``                         ``dict[str, str]`` (output is sorted by key)
``list<tuple<string, string>>``        ``list[tuple[str, str]]`` (HTTP headers)
``variant`` (e.g. ``error``)           one dataclass per case, the payload in ``value``
                                       (``ErrorOther(value="...")``), and a union alias
                                       (``Error = ErrorConnect | ... | ErrorOther``)
=====================================  ==================================================

Every field defaults to the protobuf zero value (``""``, ``0``, ``False``, empty collections,
``None``, the first enum case, a nested record's own zero), exactly as an unset proto field
reads on the server.

On input, enum-typed parameters also accept the plain string: ``"high-cpu"``,
``"high_cpu"`` and ``Template.HIGH_CPU`` are the same template.

``VmState`` and ``NetworkMode`` are protobuf enums, which are open: a number this SDK does not
know (a newer server's) is kept as a plain ``int`` in fields typed ``VmState | int``, and an
``int`` is accepted on input (``2`` is ``VmState.RUNNING``; ``5`` is sent as 5).
"""

from __future__ import annotations

from . import _bindings
from ._bindings import *  # noqa: F403 -- every generated WIT type
from ._bindings import ValidationIssue
from ._enums import OpenWitEnum, WitEnum, number_of

__all__ = ["OpenWitEnum", "WitEnum", "number_of"]
__all__ += _bindings.__all__
# The records behind the ``connect`` and ``transport`` cases of the ``error`` variant share
# their names with the exceptions of :mod:`metald_client.errors`, which are what callers see;
# they stay reachable here, but ``import *`` does not bring them.
__all__.remove("ConnectError")
__all__.remove("TransportError")


def _issue_text(issue: ValidationIssue) -> str:
    """``field: message``, or the message alone when the issue names no field."""
    return f"{issue.field}: {issue.message}" if issue.field else issue.message


# An issue reads as ``storage[0].path: must not be empty``, as in the component's
# ``errors.describe-issues`` (which InvalidConfigError's text comes from); this one is worded
# here because an issue has no component at hand.
ValidationIssue.__str__ = _issue_text  # type: ignore[assignment,method-assign]
