"""Conversion between Python values and wasmtime-py's component values.

wasmtime-py 50 represents a WIT record as ``wasmtime.component.Record`` (attributes named
with the WIT ``kebab-case`` names), a variant as ``Variant(tag, payload)``, an enum as its
case name, an ``option`` as the value or ``None``, and a ``result`` either as the bare
payload or, when the ``ok`` and ``err`` payloads would be indistinguishable, as
``Variant("ok"|"err", payload)``. Nothing of that leaves this module:

* :func:`lower` walks the parameter's wasmtime ``ValType`` and builds the value wasmtime
  expects from dataclasses / mappings / enums, checking types and integer ranges (wasmtime-py
  passes integers to ctypes, which would silently truncate out-of-range values).
* :func:`lift` rebuilds dataclasses and enums, directed by the Python type hint. The open
  protobuf enums (``vm-state``, ``network-mode``: known cases plus ``unknown(s32)``) lift to
  their member, or to the plain ``int`` of a number this SDK does not know.
* :func:`split_result` decides ok/err with the same rule wasmtime-py uses to tag results.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Union

from wasmtime.component import (
    F32,
    F64,
    S8,
    S16,
    S32,
    S64,
    U8,
    U16,
    U32,
    U64,
    Bool,
    BorrowType,
    Char,
    EnumType,
    ListType,
    OptionType,
    OwnType,
    Record,
    RecordType,
    ResourceAny,
    ResultType,
    String,
    TupleType,
    ValType,
    Variant,
    VariantType,
)

from .errors import (
    ConnectError,
    InvalidConfigError,
    MetaldError,
    OtherError,
    TransportError,
)
from .types import ErrorCode, ErrorDetail, OpenWitEnum, ValidationIssue, WitEnum

_INT_RANGES: dict[type, tuple[int, int]] = {
    S8: (-(2**7), 2**7 - 1),
    S16: (-(2**15), 2**15 - 1),
    S32: (-(2**31), 2**31 - 1),
    S64: (-(2**63), 2**63 - 1),
    U8: (0, 2**8 - 1),
    U16: (0, 2**16 - 1),
    U32: (0, 2**32 - 1),
    U64: (0, 2**64 - 1),
}


def _snake(name: str) -> str:
    return name.replace("-", "_")


def _describe(value: Any) -> str:
    return type(value).__name__


def _get_field(value: Any, wit_name: str, path: str, optional: bool) -> Any:
    attr = _snake(wit_name)
    if isinstance(value, Mapping):
        if attr in value:
            return value[attr]
        if wit_name in value:
            return value[wit_name]
        if optional:
            return None
        raise TypeError(f"{path}: missing field {attr!r}")
    try:
        return getattr(value, attr)
    except AttributeError:
        if optional:
            return None
        raise TypeError(f"{path}: {_describe(value)} has no field {attr!r}") from None


def _case_classes(ty: ValType | None) -> set[type]:
    classes: set[type] = set()
    if ty is None:
        classes.add(object)
    else:
        ty.add_classes(classes)
    return classes


def is_tagged(cases: list[tuple[str, ValType | None]]) -> bool:
    """Whether wasmtime-py represents this variant-like type as ``Variant(tag, payload)``.

    Mirrors ``VariantLikeType._tagged`` of wasmtime-py 50: tagged when two cases could hold
    values of the same Python class.
    """
    seen: set[type] = set()
    for _, ty in cases:
        classes = _case_classes(ty)
        if classes & seen:
            return True
        seen |= classes
    return False


def is_open_enum(cases: list[tuple[str, ValType | None]]) -> bool:
    """Whether a variant is an open protobuf enum: payload-less known cases, in wire-number
    order from 0, then ``unknown(s32)`` (``vm-state``, ``network-mode``)."""
    *known, last = cases
    return (
        bool(known)
        and last[0] == "unknown"
        and isinstance(last[1], S32)
        and all(case_ty is None for _, case_ty in known)
    )


def _open_enum_case(cases: list[tuple[str, ValType | None]], value: Any, path: str) -> Variant:
    """The ``Variant`` of an open enum for a member, a case name or a protobuf number."""
    known = [name for name, _ in cases[:-1]]
    if isinstance(value, int) and not isinstance(value, (bool, WitEnum)):
        low, high = _INT_RANGES[S32]
        if not low <= value <= high:
            raise ValueError(f"{path}: {value} is out of range [{low}, {high}]")
        return Variant(known[value], None) if 0 <= value < len(known) else Variant("unknown", value)
    if isinstance(value, WitEnum):
        name = value.wit_name
    elif isinstance(value, str):
        name = value.strip().lower().replace("_", "-")
    else:
        raise TypeError(f"{path}: expected one of {known} or a number, got {_describe(value)}")
    if name not in known:
        raise ValueError(f"{path}: {value!r} is not one of {', '.join(known)} (or a number)")
    return Variant(name, None)


def lower(ty: ValType, value: Any, path: str) -> Any:
    """Converts ``value`` into what wasmtime-py expects for the WIT type ``ty``.

    Raises ``TypeError``/``ValueError`` naming ``path`` (``config.storage[0].read_only``) on a
    value that does not fit.
    """
    if isinstance(ty, Bool):
        if not isinstance(value, bool):
            raise TypeError(f"{path}: expected bool, got {_describe(value)}")
        return value
    int_range = _INT_RANGES.get(type(ty))
    if int_range is not None:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, WitEnum) or not hasattr(value, "__index__"):
                raise TypeError(f"{path}: expected int, got {_describe(value)}")
            value = value.__index__()
        low, high = int_range
        if not low <= value <= high:
            raise ValueError(f"{path}: {value} is out of range [{low}, {high}]")
        return int(value)
    if isinstance(ty, (F32, F64)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{path}: expected float, got {_describe(value)}")
        return float(value)
    if isinstance(ty, String):
        if not isinstance(value, str):
            raise TypeError(f"{path}: expected str, got {_describe(value)}")
        return str(value)
    if isinstance(ty, Char):
        if not isinstance(value, str) or len(value) != 1:
            raise TypeError(f"{path}: expected a one-character str")
        return value
    if isinstance(ty, EnumType):
        names = ty.names
        if isinstance(value, WitEnum):
            name = value.wit_name
        elif isinstance(value, str):
            name = value.strip().lower().replace("_", "-")
        else:
            raise TypeError(f"{path}: expected one of {names}, got {_describe(value)}")
        if name not in names:
            raise ValueError(f"{path}: {value!r} is not one of {', '.join(names)}")
        return name
    if isinstance(ty, ListType):
        element = ty.element
        if isinstance(element, U8):
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise TypeError(f"{path}: expected bytes, got {_describe(value)}")
            return bytes(value)
        if isinstance(value, Mapping):
            if not isinstance(element, TupleType):
                raise TypeError(f"{path}: expected a list, got {_describe(value)}")
            value = list(value.items())
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise TypeError(f"{path}: expected a list, got {_describe(value)}")
        return [lower(element, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(ty, TupleType):
        elements = ty.elements
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
            raise TypeError(f"{path}: expected a tuple, got {_describe(value)}")
        items = tuple(value)
        if len(items) != len(elements):
            raise TypeError(f"{path}: expected {len(elements)} items, got {len(items)}")
        return tuple(
            lower(t, v, f"{path}[{i}]")
            for i, (t, v) in enumerate(zip(elements, items, strict=True))
        )
    if isinstance(ty, OptionType):
        if value is None:
            return None
        return lower(ty.payload, value, path)
    if isinstance(ty, VariantType):
        cases = ty.cases
        if not isinstance(value, Variant) and is_open_enum(cases):
            value = _open_enum_case(cases, value, path)
        if not isinstance(value, Variant):
            raise TypeError(f"{path}: expected a variant, got {_describe(value)}")
        for name, case_ty in cases:
            if name == value.tag:
                payload = None if case_ty is None else lower(case_ty, value.payload, path)
                return Variant(name, payload) if is_tagged(cases) else payload
        raise ValueError(f"{path}: unknown case {value.tag!r}")
    if isinstance(ty, (OwnType, BorrowType)):
        if not isinstance(value, ResourceAny):
            raise TypeError(f"{path}: expected a resource")
        return value
    if isinstance(ty, RecordType):
        record = Record()
        for name, field_ty in ty.fields:
            item = _get_field(value, name, path, isinstance(field_ty, OptionType))
            setattr(record, name, lower(field_ty, item, f"{path}.{_snake(name)}"))
        return record
    raise TypeError(f"{path}: unsupported WIT type {type(ty).__name__}")


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def lift(hint: Any, value: Any) -> Any:
    """Converts a wasmtime-py value into the Python type ``hint`` (dataclass, enum, ...)."""
    if hint is Any:
        return value
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        if value is None:
            return None
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return lift(args[0], value)
    if origin is list:
        (element,) = typing.get_args(hint)
        return [lift(element, item) for item in value]
    if origin is dict:
        return {key: item for key, item in value}
    if origin is tuple:
        return tuple(
            lift(arg, item) for arg, item in zip(typing.get_args(hint), value, strict=True)
        )
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            hints = _hints(hint)
            kwargs = {
                f.name: lift(hints[f.name], getattr(value, f.name.replace("_", "-")))
                for f in dataclasses.fields(hint)
            }
            return hint(**kwargs)
        if issubclass(hint, OpenWitEnum) and isinstance(value, Variant):
            # A number this SDK does not know stays that number (protobuf enums are open).
            return int(value.payload) if value.tag == "unknown" else hint(value.tag)
        if issubclass(hint, WitEnum):
            return hint(value)
        if hint is bytes:
            return bytes(value)
        if hint is float:
            return float(value)
        if hint in (int, str, bool):
            return value
    raise TypeError(f"cannot convert a component value to {hint!r}")


def split_result(ty: ResultType, raw: Any) -> tuple[bool, Any]:
    """Returns ``(is_ok, payload)`` for a value of the WIT ``result`` type ``ty``."""
    ok_ty, err_ty = ty.ok, ty.err
    if is_tagged([("ok", ok_ty), ("err", err_ty)]):
        if not isinstance(raw, Variant) or raw.tag not in ("ok", "err"):
            raise TypeError(f"unexpected result value {raw!r}")
        return raw.tag == "ok", raw.payload
    if ok_ty is None:
        return raw is None, raw
    if err_ty is None:
        return raw is not None, raw
    classes = _case_classes(err_ty)
    if object in classes:
        classes.discard(object)
        if raw is None:
            return False, raw
    return not isinstance(raw, tuple(classes)), raw


def _issues(raw: Any) -> list[ValidationIssue]:
    issues: list[ValidationIssue] = lift(list[ValidationIssue], raw)
    return issues


def error_from_wit(raw: Any) -> MetaldError:
    """The exception for an ``err`` payload: the ``error`` variant or ``list<validation-issue>``."""
    if isinstance(raw, list):
        return InvalidConfigError(_issues(raw))
    if isinstance(raw, Variant):
        payload: Any = raw.payload
        if raw.tag == "connect":
            return ConnectError(
                lift(ErrorCode, payload.code),
                payload.message,
                http_status=getattr(payload, "http-status"),
                details=lift(list[ErrorDetail], payload.details),
            )
        if raw.tag == "transport":
            return TransportError(
                lift(ErrorCode, payload.code),
                payload.message,
                outcome_unknown=getattr(payload, "outcome-unknown"),
            )
        if raw.tag == "invalid-config":
            return InvalidConfigError(_issues(payload))
        if raw.tag == "other":
            return OtherError(str(payload))
    return OtherError(f"unexpected error value from the component: {raw!r}")
