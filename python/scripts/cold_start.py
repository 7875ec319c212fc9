#!/usr/bin/env python3
"""Cold start of the metald component in wasmtime-py: prints a markdown table to stdout.

For each component given (default: the one ``metald_client`` loads), and for each of
``--samples`` fresh ``wasmtime.Engine`` objects (no compilation cache: wasmtime-py's default
``Config`` has none), times

- ``compile``: ``wasmtime.Component(engine, bytes)``, i.e. Cranelift compiling every core module;
- ``Runtime``: ``metald_client.Runtime(path)``, what a program's first use pays (compile,
  import plan, first instance).

and prints the median and the minimum. Run it from the repository with the package installed
(``target/python-venv/bin/python python/scripts/cold_start.py [COMPONENT.wasm ...]``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from wasmtime import Engine
from wasmtime.component import Component

from metald_client.runtime import Runtime, default_component_path


def _time_ms(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000.0


def _compile(data: bytes) -> Component:
    """Compiles the component in a fresh engine: nothing cached from an earlier sample."""
    return Component(Engine(), data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "components", nargs="*", type=Path, help="component files (default: the packaged one)"
    )
    parser.add_argument("--samples", type=int, default=5, help="samples per measurement")
    args = parser.parse_args()
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    paths: list[Path] = args.components or [default_component_path()]
    print(
        "| component | bytes | wasmtime-py Component compile, median (min) "
        "| Runtime() cold, median (min) |"
    )
    print("|---|---|---|---|")
    for path in paths:
        if not path.is_file():
            print(f"error: no component at {path}", file=sys.stderr)
            return 1
        data = path.read_bytes()
        compile_ms = [_time_ms(partial(_compile, data)) for _ in range(args.samples)]
        runtime_ms = [_time_ms(partial(Runtime, path)) for _ in range(args.samples)]
        print(
            f"| {path} | {len(data)} "
            f"| {statistics.median(compile_ms):.1f} ms ({min(compile_ms):.1f}) "
            f"| {statistics.median(runtime_ms):.1f} ms ({min(runtime_ms):.1f}) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
