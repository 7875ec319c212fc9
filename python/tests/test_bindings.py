"""The generated bindings (``_bindings.py``, from ``wit/``) against the component itself:
every named type and every function of every exported interface, as wasmtime-py reads them
from the component binary, has the shape its descriptor says, and each record's dataclass has
the descriptor's fields. A WIT change without regenerating (or a component built from other
WIT) fails here."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from wasmtime.component import (
    U8,
    BorrowType,
    ComponentInstanceType,
    EnumType,
    FuncType,
    ListType,
    OptionType,
    OwnType,
    RecordType,
    ResourceType,
    ResultType,
    TupleType,
    ValType,
    VariantType,
)

import metald_client as m
from metald_client import _bindings
from metald_client import _marshal as _m


def _wasmtime_classes(ty: ValType) -> frozenset[type]:
    classes: set[type] = set()
    ty.add_classes(classes)
    return frozenset(classes)


def _assert_same(desc: _m.Type, ty: ValType | None, path: str) -> None:
    """Fails with ``path`` unless ``desc`` describes the component's type ``ty``."""
    assert ty is not None, f"{path}: the component has no type here, the bindings have {desc!r}"
    # The Python classes decide how wasmtime-py tags variants, options and results.
    assert desc.classes() == _wasmtime_classes(ty), f"{path}: {desc!r} vs {ty!r}"
    if isinstance(desc, _m.Record):
        assert isinstance(ty, RecordType), f"{path}: {desc!r} vs {ty!r}"
        assert [f.wit for f in desc.fields] == [name for name, _ in ty.fields], path
        for field, (_, field_ty) in zip(desc.fields, ty.fields, strict=True):
            _assert_same(field.type, field_ty, f"{path}.{field.wit}")
        attrs = [f.name for f in dataclasses.fields(desc.cls)]
        assert attrs == [f.attr for f in desc.fields], f"{path}: dataclass {desc.cls.__name__}"
    elif isinstance(desc, _m.Enum):
        assert isinstance(ty, EnumType), f"{path}: {desc!r} vs {ty!r}"
        assert list(desc.names) == ty.names, path
        assert len(desc.cls) == len(desc.names), f"{path}: members of {desc.cls.__name__}"
    elif isinstance(desc, _m.OpenEnum):
        assert isinstance(ty, VariantType), f"{path}: {desc!r} vs {ty!r}"
        *known, (last, last_ty) = ty.cases
        assert [name for name, _ in known] == list(desc.names), path
        assert all(case_ty is None for _, case_ty in known), path
        assert last == "unknown", path
        _assert_same(_m.S32, last_ty, f"{path}.unknown")
        assert desc.tagged == ty._tagged(), path
    elif isinstance(desc, _m.Variant):
        assert isinstance(ty, VariantType), f"{path}: {desc!r} vs {ty!r}"
        assert [case.wit for case in desc.variant_cases] == [name for name, _ in ty.cases], path
        for case, (_, case_ty) in zip(desc.variant_cases, ty.cases, strict=True):
            if case.payload is None:
                assert case_ty is None, f"{path}.{case.wit}"
                assert not dataclasses.fields(case.cls), f"{path}.{case.wit}"
            else:
                _assert_same(case.payload, case_ty, f"{path}.{case.wit}")
                assert [f.name for f in dataclasses.fields(case.cls)] == ["value"], path
        assert desc.tagged == ty._tagged(), path
    elif isinstance(desc, _m.Option):
        assert isinstance(ty, OptionType), f"{path}: {desc!r} vs {ty!r}"
        _assert_same(desc.element, ty.payload, f"{path}?")
    elif isinstance(desc, _m.Result):
        assert isinstance(ty, ResultType), f"{path}: {desc!r} vs {ty!r}"
        for side, side_desc, side_ty in (("ok", desc.ok, ty.ok), ("err", desc.err, ty.err)):
            if side_desc is None:
                assert side_ty is None, f"{path}.{side}"
            else:
                _assert_same(side_desc, side_ty, f"{path}.{side}")
    elif isinstance(desc, _m.Map):
        assert isinstance(ty, ListType) and isinstance(ty.element, TupleType), path
        key_ty, value_ty = ty.element.elements
        _assert_same(_m.STRING, key_ty, f"{path}.key")
        _assert_same(desc.value, value_ty, f"{path}.value")
    elif isinstance(desc, _m.List):
        assert isinstance(ty, ListType), f"{path}: {desc!r} vs {ty!r}"
        _assert_same(desc.element, ty.element, f"{path}[]")
    elif isinstance(desc, _m.Tuple):
        assert isinstance(ty, TupleType), f"{path}: {desc!r} vs {ty!r}"
        assert len(desc.elements) == len(ty.elements), path
        for i, (element, element_ty) in enumerate(zip(desc.elements, ty.elements, strict=True)):
            _assert_same(element, element_ty, f"{path}.{i}")
    elif isinstance(desc, _m.Resource):
        assert isinstance(ty, (OwnType, BorrowType)), f"{path}: {desc!r} vs {ty!r}"
    elif desc is _m.BYTES:
        assert isinstance(ty, ListType) and isinstance(ty.element, U8), path
    else:
        # Primitives: the descriptor's WIT name is wasmtime-py's class name (S32 -> s32).
        assert desc.wit == type(ty).__name__.lower(), f"{path}: {desc!r} vs {ty!r}"


def _component_exports(runtime: m.Runtime) -> dict[str, dict[str, Any]]:
    engine = runtime._engine
    out: dict[str, dict[str, Any]] = {}
    for interface, extern in runtime._component.type.exports(engine).items():
        instance = extern.ty
        assert isinstance(instance, ComponentInstanceType), interface
        out[interface] = {name: item.ty for name, item in instance.exports(engine).items()}
    return out


def test_every_generated_type_matches_the_component(runtime: m.Runtime) -> None:
    exports = _component_exports(runtime)
    component_types = {
        (interface, name)
        for interface, items in exports.items()
        for name, ty in items.items()
        if not isinstance(ty, (FuncType, ResourceType))
    }
    assert set(_bindings.TYPES) == component_types
    for (interface, name), desc in _bindings.TYPES.items():
        _assert_same(desc, exports[interface][name], f"{interface}#{name}")


def test_every_generated_function_matches_the_component(runtime: m.Runtime) -> None:
    exports = _component_exports(runtime)
    component_funcs = {
        (interface, name)
        for interface, items in exports.items()
        for name, ty in items.items()
        if isinstance(ty, FuncType)
    }
    assert {(f.interface, f.name) for f in _bindings.FUNCS} == component_funcs
    for func in _bindings.FUNCS:
        ty = exports[func.interface][func.name]
        assert [p.wit for p in func.params] == [name for name, _ in ty.params], func.qualified
        for param, (_, param_ty) in zip(func.params, ty.params, strict=True):
            _assert_same(param.type, param_ty, f"{func.qualified}({param.wit})")
        if func.result is None:
            assert ty.result is None, func.qualified
        else:
            _assert_same(func.result, ty.result, f"{func.qualified} result")


def test_a_record_missing_a_field_is_a_mismatch(runtime: m.Runtime) -> None:
    vm_info = _component_exports(runtime)["metald:client/types@0.1.0"]["vm-info"]
    stale = _m.Record(m.VmInfo, "vm-info", _bindings.T_VM_INFO.fields[:-1])
    with pytest.raises(AssertionError, match="vm-info"):
        _assert_same(stale, vm_info, "vm-info")


def test_every_record_field_round_trips_through_the_engine() -> None:
    info = m.VmInfo(vm_id="ud-1", state=7, metadata={"a": "b"}, customer_id="alice")
    lowered = _bindings.T_VM_INFO.lower(info, "info")
    assert getattr(lowered, "customer-id") == "alice"
    assert _bindings.T_VM_INFO.lift(lowered) == info
