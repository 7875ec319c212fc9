"""The marshal engine: descriptors of WIT types, and conversion between Python values and
wasmtime-py's component values.

:mod:`metald_client._bindings` (generated from ``wit/`` by metald-witgen) describes every WIT
type with the classes below: a :class:`Record` names its dataclass and each field's WIT name,
attribute and type, a :class:`Variant` its case classes, and so on; a :class:`Func` describes
an export. Nothing here knows a particular WIT type.

wasmtime-py 50 represents a WIT record as ``wasmtime.component.Record`` (attributes named
with the WIT ``kebab-case`` names), an enum as its case name, an ``option`` as the value or
``None``, and a variant (or ``result``) either as the bare payload or, when two cases could
hold values of the same Python class, as ``Variant(tag, payload)``. :class:`VariantLike`
decides that with wasmtime-py's own rule (``VariantLikeType._tagged``), from the descriptors.

* :meth:`Type.lower` builds the value wasmtime expects from dataclasses / mappings / enums,
  checking types and integer ranges (wasmtime-py passes integers to ctypes, which would
  silently truncate out-of-range values). Errors name the path (``config.storage[0].id``).
* :meth:`Type.lift` rebuilds dataclasses, enums and variant cases. The open protobuf enums
  (``vm-state``, ``network-mode``: known cases plus ``unknown(s32)``) lift to their member, or
  to the plain ``int`` of a number this SDK does not know.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from enum import Enum as _PyEnum
from functools import cached_property
from typing import Any, Protocol

from wasmtime.component import Record as _WasmRecord
from wasmtime.component import ResourceAny, ResourceHost
from wasmtime.component import Variant as _WasmVariant

from ._enums import WitEnum

__all__ = [
    "BOOL",
    "BYTES",
    "CHAR",
    "F32",
    "F64",
    "S8",
    "S16",
    "S32",
    "S64",
    "STRING",
    "U8",
    "U16",
    "U32",
    "U64",
    "Caller",
    "Case",
    "Enum",
    "Field",
    "Func",
    "List",
    "Map",
    "OpenEnum",
    "Option",
    "Record",
    "Resource",
    "Result",
    "Tuple",
    "Type",
    "Variant",
    "VariantLike",
]


def _describe(value: Any) -> str:
    return type(value).__name__


def _case_name(value: str) -> str:
    """The WIT spelling of a case name given as ``HIGH_CPU``, ``high_cpu`` or ``high-cpu``."""
    return value.strip().lower().replace("_", "-")


class Type:
    """A WIT type: how its Python values become wasmtime-py's values and back."""

    wit: str
    """The WIT spelling, for messages (``vm-config``, ``list<string>``)."""

    def lower(self, value: Any, path: str) -> Any:
        """Converts ``value`` into what wasmtime-py expects for this type.

        Raises ``TypeError``/``ValueError`` naming ``path`` on a value that does not fit.
        """
        raise NotImplementedError

    def lift(self, raw: Any) -> Any:
        """Converts a wasmtime-py value of this type into its Python value."""
        raise NotImplementedError

    def classes(self) -> frozenset[type]:
        """The Python classes wasmtime-py uses for values of this type (its ``add_classes``)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.wit}>"


class _Bool(Type):
    wit = "bool"

    def lower(self, value: Any, path: str) -> Any:
        if not isinstance(value, bool):
            raise TypeError(f"{path}: expected bool, got {_describe(value)}")
        return value

    def lift(self, raw: Any) -> Any:
        return bool(raw)

    def classes(self) -> frozenset[type]:
        return frozenset({bool})


class _Int(Type):
    def __init__(self, wit: str, low: int, high: int) -> None:
        self.wit = wit
        self.low = low
        self.high = high

    def lower(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, _PyEnum) or not hasattr(value, "__index__"):
                raise TypeError(f"{path}: expected int, got {_describe(value)}")
            value = value.__index__()
        if not self.low <= value <= self.high:
            raise ValueError(f"{path}: {value} is out of range [{self.low}, {self.high}]")
        return int(value)

    def lift(self, raw: Any) -> Any:
        return int(raw)

    def classes(self) -> frozenset[type]:
        return frozenset({int})


class _Float(Type):
    def __init__(self, wit: str) -> None:
        self.wit = wit

    def lower(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{path}: expected float, got {_describe(value)}")
        return float(value)

    def lift(self, raw: Any) -> Any:
        return float(raw)

    def classes(self) -> frozenset[type]:
        return frozenset({float})


class _String(Type):
    wit = "string"

    def lower(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            raise TypeError(f"{path}: expected str, got {_describe(value)}")
        return str(value)

    def lift(self, raw: Any) -> Any:
        return str(raw)

    def classes(self) -> frozenset[type]:
        return frozenset({str})


class _Char(_String):
    wit = "char"

    def lower(self, value: Any, path: str) -> Any:
        if not isinstance(value, str) or len(value) != 1:
            raise TypeError(f"{path}: expected a one-character str")
        return str(value)


class _Bytes(Type):
    wit = "list<u8>"

    def lower(self, value: Any, path: str) -> Any:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"{path}: expected bytes, got {_describe(value)}")
        return bytes(value)

    def lift(self, raw: Any) -> Any:
        return bytes(raw)

    def classes(self) -> frozenset[type]:
        return frozenset({bytes})


BOOL: Type = _Bool()
"""``bool`` as ``bool``."""
S8: Type = _Int("s8", -(2**7), 2**7 - 1)
"""``s8`` as ``int``."""
S16: Type = _Int("s16", -(2**15), 2**15 - 1)
"""``s16`` as ``int``."""
S32: Type = _Int("s32", -(2**31), 2**31 - 1)
"""``s32`` as ``int``."""
S64: Type = _Int("s64", -(2**63), 2**63 - 1)
"""``s64`` as ``int``."""
U8: Type = _Int("u8", 0, 2**8 - 1)
"""``u8`` as ``int``."""
U16: Type = _Int("u16", 0, 2**16 - 1)
"""``u16`` as ``int``."""
U32: Type = _Int("u32", 0, 2**32 - 1)
"""``u32`` as ``int``."""
U64: Type = _Int("u64", 0, 2**64 - 1)
"""``u64`` as ``int``."""
F32: Type = _Float("f32")
"""``f32`` as ``float``."""
F64: Type = _Float("f64")
"""``f64`` as ``float``."""
CHAR: Type = _Char()
"""``char`` as a one-character ``str``."""
STRING: Type = _String()
"""``string`` as ``str``."""
BYTES: Type = _Bytes()
"""``list<u8>`` as ``bytes``."""


def _items(value: Any, path: str) -> list[Any]:
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{path}: expected a list, got {_describe(value)}")
    return list(value)


class List(Type):
    """``list<T>`` as ``list``."""

    def __init__(self, element: Type) -> None:
        self.element = element
        self.wit = f"list<{element.wit}>"

    def lower(self, value: Any, path: str) -> Any:
        return [
            self.element.lower(item, f"{path}[{i}]") for i, item in enumerate(_items(value, path))
        ]

    def lift(self, raw: Any) -> Any:
        return [self.element.lift(item) for item in raw]

    def classes(self) -> frozenset[type]:
        return frozenset({list})


class Map(Type):
    """A ``list<tuple<string, V>>`` named ``…-map`` (a protobuf map) as ``dict[str, V]``.

    Input may also be a list of pairs; output keeps the component's order (sorted by key).
    """

    def __init__(self, value: Type) -> None:
        self.value = value
        self.wit = f"list<tuple<string, {value.wit}>>"

    def lower(self, value: Any, path: str) -> Any:
        pairs = list(value.items()) if isinstance(value, Mapping) else _items(value, path)
        out = []
        for i, pair in enumerate(pairs):
            if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
                raise TypeError(f"{path}[{i}]: expected a (key, value) pair")
            key, item = pair
            out.append(
                (STRING.lower(key, f"{path}[{i}]"), self.value.lower(item, f"{path}[{key!r}]"))
            )
        return out

    def lift(self, raw: Any) -> Any:
        return {key: self.value.lift(item) for key, item in raw}

    def classes(self) -> frozenset[type]:
        return frozenset({list})


class Tuple(Type):
    """``tuple<…>`` as ``tuple``."""

    def __init__(self, elements: Sequence[Type]) -> None:
        self.elements = tuple(elements)
        self.wit = f"tuple<{', '.join(e.wit for e in self.elements)}>"

    def lower(self, value: Any, path: str) -> Any:
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
            raise TypeError(f"{path}: expected a tuple, got {_describe(value)}")
        items = tuple(value)
        if len(items) != len(self.elements):
            raise TypeError(f"{path}: expected {len(self.elements)} items, got {len(items)}")
        return tuple(
            t.lower(v, f"{path}[{i}]")
            for i, (t, v) in enumerate(zip(self.elements, items, strict=True))
        )

    def lift(self, raw: Any) -> Any:
        return tuple(t.lift(v) for t, v in zip(self.elements, raw, strict=True))

    def classes(self) -> frozenset[type]:
        return frozenset({tuple})


class Resource(Type):
    """``own<R>``/``borrow<R>``: the ``ResourceAny`` handle, passed through."""

    def __init__(self, wit: str) -> None:
        self.wit = wit

    def lower(self, value: Any, path: str) -> Any:
        if not isinstance(value, ResourceAny):
            raise TypeError(f"{path}: expected a {self.wit} resource, got {_describe(value)}")
        return value

    def lift(self, raw: Any) -> Any:
        return raw

    def classes(self) -> frozenset[type]:
        return frozenset({ResourceAny, ResourceHost})


class Enum(Type):
    """A WIT ``enum`` as a :class:`~metald_client.types.WitEnum`; input may be a case name."""

    def __init__(self, cls: type[WitEnum], wit: str, names: Sequence[str]) -> None:
        self.cls = cls
        self.wit = wit
        self.names = tuple(names)
        self._members = dict(zip(self.names, cls, strict=True))
        self._names = {member: name for name, member in self._members.items()}

    def lower(self, value: Any, path: str) -> Any:
        if isinstance(value, self.cls):
            return self._names[value]
        if isinstance(value, WitEnum):
            name = value.wit_name
        elif isinstance(value, str):
            name = _case_name(value)
        else:
            raise TypeError(f"{path}: expected one of {list(self.names)}, got {_describe(value)}")
        if name not in self._members:
            raise ValueError(f"{path}: {value!r} is not one of {', '.join(self.names)}")
        return name

    def lift(self, raw: Any) -> Any:
        return self._members[raw]

    def classes(self) -> frozenset[type]:
        return frozenset({str})


class VariantLike(Type):
    """What ``variant``, ``option``, ``result`` and the open enums share: wasmtime-py passes
    them as ``Variant(tag, payload)`` when two cases could hold values of one Python class
    (``tagged``), else as the bare payload (``None`` for a case without one)."""

    def cases(self) -> Sequence[tuple[str, Type | None]]:
        """``(WIT case name, payload type)`` in declaration order."""
        raise NotImplementedError

    @cached_property
    def tagged(self) -> bool:
        """Whether values are ``Variant(tag, payload)`` (wasmtime-py's ``_tagged``)."""
        seen: set[type] = set()
        for _, payload in self.cases():
            case = frozenset({object}) if payload is None else payload.classes()
            if case & seen:
                return True
            seen |= case
        return False

    def classes(self) -> frozenset[type]:
        if self.tagged:
            return frozenset({_WasmVariant})
        out: set[type] = set()
        for _, payload in self.cases():
            out |= {object} if payload is None else payload.classes()
        return frozenset(out)

    def wrap(self, tag: str, payload: Any, path: str) -> Any:
        """The wasmtime-py value of case ``tag`` holding the Python ``payload``."""
        for name, ty in self.cases():
            if name == tag:
                lowered = None if ty is None else ty.lower(payload, path)
                return _WasmVariant(tag, lowered) if self.tagged else lowered
        raise ValueError(f"{path}: {self.wit} has no case {tag!r}")

    def unwrap(self, raw: Any) -> tuple[str, Any]:
        """``(tag, lifted payload)`` of a wasmtime-py value."""
        if self.tagged:
            if not isinstance(raw, _WasmVariant):
                raise TypeError(f"{self.wit}: expected a Variant from the component, got {raw!r}")
            for name, ty in self.cases():
                if name == raw.tag:
                    return name, None if ty is None else ty.lift(raw.payload)
        else:
            for name, ty in self.cases():
                if ty is None:
                    if raw is None:
                        return name, None
                elif type(raw) in ty.classes():
                    return name, ty.lift(raw)
        raise TypeError(f"{self.wit}: unexpected value from the component: {raw!r}")


class Option(VariantLike):
    """``option<T>`` as ``T | None``."""

    def __init__(self, element: Type) -> None:
        self.element = element
        self.wit = f"option<{element.wit}>"

    def cases(self) -> Sequence[tuple[str, Type | None]]:
        return (("none", None), ("some", self.element))

    def lower(self, value: Any, path: str) -> Any:
        return self.wrap("none", None, path) if value is None else self.wrap("some", value, path)

    def lift(self, raw: Any) -> Any:
        return self.unwrap(raw)[1]


class Result(VariantLike):
    """``result<T, E>``, as a function result: :meth:`split` tells ``ok`` from ``err``."""

    def __init__(self, ok: Type | None, err: Type | None) -> None:
        self.ok = ok
        self.err = err
        self.wit = f"result<{ok.wit if ok else '_'}, {err.wit if err else '_'}>"

    def cases(self) -> Sequence[tuple[str, Type | None]]:
        return (("ok", self.ok), ("err", self.err))

    def split(self, raw: Any) -> tuple[bool, Any]:
        """``(is_ok, lifted payload)``."""
        tag, payload = self.unwrap(raw)
        return tag == "ok", payload

    def lower(self, value: Any, path: str) -> Any:
        raise TypeError(f"{path}: a result is only returned, never passed")

    def lift(self, raw: Any) -> Any:
        raise TypeError(f"{self.wit}: use split() to read a result")


class OpenEnum(VariantLike):
    """An open protobuf enum (a WIT variant of payload-less cases in wire-number order, then
    ``unknown(s32)``) as an :class:`~metald_client.types.OpenWitEnum` member or a plain
    ``int`` for a number the SDK does not know. Input may also be a case name or a number."""

    def __init__(self, cls: type[WitEnum], wit: str, names: Sequence[str]) -> None:
        self.cls = cls
        self.wit = wit
        self.names = tuple(names)
        self._members = list(cls)
        if len(self._members) != len(self.names):
            raise ValueError(f"{cls.__name__} does not have the cases of {wit}")

    def cases(self) -> Sequence[tuple[str, Type | None]]:
        return (*((name, None) for name in self.names), ("unknown", S32))

    def lower(self, value: Any, path: str) -> Any:
        if isinstance(value, int) and not isinstance(value, (bool, _PyEnum)):
            number = S32.lower(value, path)
            if 0 <= number < len(self.names):
                return self.wrap(self.names[number], None, path)
            return self.wrap("unknown", number, path)
        if isinstance(value, self.cls):
            return self.wrap(self.names[self._members.index(value)], None, path)
        if isinstance(value, WitEnum):
            name = value.wit_name
        elif isinstance(value, str):
            name = _case_name(value)
        else:
            raise TypeError(
                f"{path}: expected one of {list(self.names)} or a number, got {_describe(value)}"
            )
        if name not in self.names:
            raise ValueError(
                f"{path}: {value!r} is not one of {', '.join(self.names)} (or a number)"
            )
        return self.wrap(name, None, path)

    def lift(self, raw: Any) -> Any:
        tag, payload = self.unwrap(raw)
        # A number this SDK does not know stays that number (protobuf enums are open).
        return int(payload) if tag == "unknown" else self._members[self.names.index(tag)]


@dataclasses.dataclass(frozen=True)
class Case:
    """One case of a :class:`Variant`: its WIT name, its Python class (with a ``value``
    attribute when the case has a payload) and its payload type."""

    wit: str
    cls: type
    payload: Type | None


class Variant(VariantLike):
    """A WIT ``variant`` as an instance of one of its case classes (``ErrorConnect(value)``)."""

    def __init__(self, wit: str, cases: Sequence[Case]) -> None:
        self.wit = wit
        self.variant_cases = tuple(cases)
        self._by_class = {case.cls: case for case in self.variant_cases}
        self._by_name = {case.wit: case for case in self.variant_cases}

    def cases(self) -> Sequence[tuple[str, Type | None]]:
        return tuple((case.wit, case.payload) for case in self.variant_cases)

    def case(self, tag: str) -> Case:
        """The case named ``tag`` (its WIT name)."""
        return self._by_name[tag]

    def tag_of(self, value: Any) -> str:
        """The WIT case name of a case instance."""
        case = self._by_class.get(type(value))
        if case is None:
            raise TypeError(f"{_describe(value)} is not a case of {self.wit}")
        return case.wit

    def lower(self, value: Any, path: str) -> Any:
        case = self._by_class.get(type(value))
        if case is None:
            names = ", ".join(c.cls.__name__ for c in self.variant_cases)
            raise TypeError(f"{path}: expected one of {names}, got {_describe(value)}")
        payload = None if case.payload is None else value.value
        return self.wrap(case.wit, payload, path)

    def lift(self, raw: Any) -> Any:
        tag, payload = self.unwrap(raw)
        case = self._by_name[tag]
        return case.cls() if case.payload is None else case.cls(payload)


@dataclasses.dataclass(frozen=True)
class Field:
    """A record field or a function parameter: WIT name, Python name, type."""

    wit: str
    attr: str
    type: Type


class Record(Type):
    """A WIT ``record`` as its dataclass; input may also be a mapping with the same keys
    (Python or WIT names), where ``option`` fields may be left out."""

    def __init__(self, cls: type, wit: str, fields: Sequence[Field]) -> None:
        self.cls = cls
        self.wit = wit
        self.fields = tuple(fields)

    def _get(self, value: Any, field: Field, path: str) -> Any:
        if isinstance(value, Mapping):
            if field.attr in value:
                return value[field.attr]
            if field.wit in value:
                return value[field.wit]
            if isinstance(field.type, Option):
                return None
            raise TypeError(f"{path}: missing field {field.attr!r}")
        return getattr(value, field.attr)

    def lower(self, value: Any, path: str) -> Any:
        if not isinstance(value, (self.cls, Mapping)):
            raise TypeError(f"{path}: expected {self.cls.__name__}, got {_describe(value)}")
        record = _WasmRecord()
        for field in self.fields:
            item = self._get(value, field, path)
            setattr(record, field.wit, field.type.lower(item, f"{path}.{field.attr}"))
        return record

    def lift(self, raw: Any) -> Any:
        return self.cls(**{f.attr: f.type.lift(getattr(raw, f.wit)) for f in self.fields})

    def classes(self) -> frozenset[type]:
        return frozenset({_WasmRecord})


@dataclasses.dataclass(frozen=True)
class Func:
    """An exported function: the interface (``metald:client/client@0.1.0``), the name
    (``[method]client.create-vm``), the parameters and the result type."""

    interface: str
    name: str
    params: tuple[Field, ...]
    result: Type | None

    @property
    def qualified(self) -> str:
        """``interface#name``, for messages."""
        return f"{self.interface}#{self.name}"

    def lower_args(self, args: Sequence[Any]) -> list[Any]:
        """The wasmtime-py values of the arguments."""
        if len(args) != len(self.params):
            raise TypeError(f"{self.qualified} takes {len(self.params)} arguments")
        return [p.type.lower(arg, p.attr) for p, arg in zip(self.params, args, strict=True)]


class Caller(Protocol):
    """What the generated wrappers call exports through: an instance of the component."""

    def call(self, func: Func, *args: Any) -> Any:
        """Calls ``func`` with Python ``args``; returns the lifted result (of a ``result``,
        the ``ok`` payload: an ``err`` payload is raised as an exception)."""
        ...
