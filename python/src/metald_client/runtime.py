"""Loading the component and calling its exports through wasmtime-py.

A :class:`Runtime` compiles ``metald_guest.wasm`` once (an ``Engine`` and a ``Component``).
The component's imports (``wasi:http``, ``wasi:io``, ``wasi:clocks/monotonic-clock``) are this
package's own (:mod:`metald_client._host`, over :mod:`metald_client.transport` and
:mod:`metald_client.tls`), defined per instance in a ``Linker`` bound to that instance's
:class:`~metald_client.transport.Transport`. Every :class:`~metald_client.Client` and
:class:`~metald_client.VmConfigBuilder` gets its own instance (its own ``Store``), so a trap
in one never affects another; the stateless functions (templates, validation, config files,
codec) share one instance per runtime, replaced after a trap. Instantiation is cheap
(about 0.5 ms, a Linker included); compilation takes about half a second, once per process
and path.

Where the component is found, first match wins:

1. the ``component_path`` argument (``Runtime(path)``, or ``runtime=path`` on the API);
2. the environment variable ``METALD_COMPONENT``;
3. ``metald_guest.wasm`` inside the installed package (the wheel carries it: the package build
   copies it from ``host/component/metald_guest.wasm``);
4. in a source checkout (an editable install), ``host/component/metald_guest.wasm``, the
   committed build.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from wasmtime import Engine, Store, WasmtimeError
from wasmtime.component import Component, ExportIndex, Instance, Linker
from wasmtime.component import Func as WasmFunc

from ._host import HostState, define, plan
from ._marshal import Func, Result
from .allow import AllowList
from .errors import ComponentTrapError, error_from_wit
from .transport import Transport

__all__ = [
    "COMPONENT_ENV",
    "PACKAGE_NAME",
    "Runtime",
    "RuntimeLike",
    "default_component_path",
    "get_runtime",
]

COMPONENT_ENV = "METALD_COMPONENT"
"""Environment variable naming the component file."""

PACKAGE_NAME = "metald:client"
PACKAGE_VERSION = "0.1.0"

_PACKAGED = Path(__file__).resolve().parent / "metald_guest.wasm"
# src/metald_client/runtime.py -> python/ -> the repository root (a source checkout).
_REPO_COMMITTED = (
    Path(__file__).resolve().parent.parent.parent.parent
    / "host"
    / "component"
    / "metald_guest.wasm"
)


def default_component_path() -> Path:
    """The component used when none is given: ``$METALD_COMPONENT``, else the one in the
    package, else (a source checkout) ``host/component/metald_guest.wasm``."""
    env = os.environ.get(COMPONENT_ENV)
    if env:
        return Path(env).expanduser().resolve()
    if _PACKAGED.is_file():
        return _PACKAGED
    return _REPO_COMMITTED


class Runtime:
    """A compiled metald component, ready to instantiate.

    Args:
        component_path: The ``.wasm`` file; see the module documentation for the default.

    Raises:
        FileNotFoundError: The component file does not exist.
        wasmtime.WasmtimeError: The file is not a valid component or does not link.
    """

    component_path: Path

    def __init__(self, component_path: str | os.PathLike[str] | None = None) -> None:
        path = (
            Path(component_path).expanduser().resolve()
            if component_path is not None
            else default_component_path()
        )
        if not path.is_file():
            raise FileNotFoundError(
                f"metald component not found at {path}: install the metald-client wheel "
                "(it carries the component), or point "
                f"{COMPONENT_ENV} (or the component_path argument) at metald_guest.wasm"
            )
        self.component_path = path
        self._engine = Engine()
        self._component = Component.from_file(self._engine, str(path))
        # Checks that every import is implemented here, and reads the types once.
        self._plan = plan(self._engine, self._component)
        # The stateless instances reach nothing: an empty allow-list.
        self._stateless_transport = Transport(AllowList())
        self._lock = threading.Lock()
        self._indices: dict[tuple[str, str], ExportIndex] = {}
        self._shared: _Instance | None = None
        # Fail early (and with wasmtime's message) if the component does not link.
        self._shared = self.instantiate()

    def __repr__(self) -> str:
        return f"Runtime({str(self.component_path)!r})"

    def instantiate(self, transport: Transport | None = None) -> _Instance:
        """A fresh instance of the component, in its own ``Store``, whose requests go
        through ``transport`` (default: one that allows no destination)."""
        state = HostState(transport or self._stateless_transport)
        linker = Linker(self._engine)
        define(linker, self._plan, state)
        store = Store(self._engine)
        instance = linker.instantiate(store, self._component)
        return _Instance(self, store, instance, state)

    def _export_index(self, func: Func) -> ExportIndex:
        key = (func.interface, func.name)
        index = self._indices.get(key)
        if index is None:
            with self._lock:
                parent = self._component.get_export_index(func.interface)
                found = (
                    self._component.get_export_index(func.name, parent)
                    if parent is not None
                    else None
                )
                if found is None:
                    raise LookupError(f"the component does not export {func.qualified}")
                self._indices[key] = index = found
        return index

    def call(self, func: Func, *args: Any) -> Any:
        """Calls a stateless export (a ``F_*`` of :mod:`metald_client._bindings`) on the
        shared instance (replaced after a trap).

        Returns the lifted result (of a ``result``, the ``ok`` payload); an ``err`` payload is
        raised as a :class:`~metald_client.MetaldError` whose text is the component's
        ``errors.describe`` of it (asked of the same instance).
        """
        shared = self._shared
        if shared is None or shared.poisoned:
            shared = self.instantiate()
            self._shared = shared
        return shared.call(func, *args)


class _Instance:
    """One instance of the component in its own store; calls are serialized by a lock."""

    def __init__(
        self, runtime: Runtime, store: Store, instance: Instance, state: HostState
    ) -> None:
        self.runtime = runtime
        self.store = store
        self.instance = instance
        self.state = state
        self.lock = threading.RLock()
        self.poisoned = False
        self._funcs: dict[tuple[str, str], WasmFunc] = {}

    def _func(self, func: Func) -> WasmFunc:
        key = (func.interface, func.name)
        found = self._funcs.get(key)
        if found is None:
            found = self.instance.get_func(self.store, self.runtime._export_index(func))
            if found is None:
                raise LookupError(f"{func.qualified} is not a function")
            self._funcs[key] = found
        return found

    def call(self, func: Func, *args: Any) -> Any:
        """Calls an export on this instance; see :meth:`Runtime.call`."""
        with self.lock:
            if self.poisoned:
                raise ComponentTrapError(
                    "this component instance trapped earlier and cannot be used any more"
                )
            wasm_func = self._func(func)
            lowered = func.lower_args(args)
            try:
                raw = wasm_func(self.store, *lowered)
            except WasmtimeError as exc:
                self.poisoned = True
                raise ComponentTrapError(f"{func.qualified}: {exc}") from exc
        result = func.result
        if isinstance(result, Result):
            ok, payload = result.split(raw)
            if not ok:
                # Worded by this instance's ``errors.describe``: the text every host shows.
                raise error_from_wit(payload, self)
            return payload
        return None if result is None else result.lift(raw)

    def drop(self, resource: Any) -> None:
        """Runs the guest destructor of ``resource``; errors are ignored (best effort)."""
        with self.lock:
            if self.poisoned:
                return
            try:
                resource.drop(self.store)
            except WasmtimeError:
                self.poisoned = True


RuntimeLike = Runtime | str | os.PathLike[str] | None
"""A :class:`Runtime`, a path to the component, or ``None`` for the default component."""

_RUNTIMES: dict[Path, Runtime] = {}
_RUNTIMES_LOCK = threading.Lock()


def get_runtime(runtime: RuntimeLike = None) -> Runtime:
    """The runtime for ``runtime``: itself if a :class:`Runtime`, else the cached runtime of the
    path (``None``: :func:`default_component_path`, looked up on every call so that
    ``METALD_COMPONENT`` may change)."""
    if isinstance(runtime, Runtime):
        return runtime
    path = Path(runtime).expanduser().resolve() if runtime is not None else default_component_path()
    with _RUNTIMES_LOCK:
        cached = _RUNTIMES.get(path)
        if cached is None:
            cached = Runtime(path)
            _RUNTIMES[path] = cached
        return cached
