"""The package build: setuptools with pyproject.toml, plus the component as package data.

The wheel carries ``metald_client/metald_guest.wasm`` so that an installed package works
anywhere. It is copied at build time from the committed component,
``host/component/metald_guest.wasm`` (a reproducible build, checked by
``scripts/build-component.sh --check``), so no second copy is committed; an sdist carries the
copy it was made with, for wheels built from the sdist.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
COMMITTED = HERE.parent / "host" / "component" / "metald_guest.wasm"
IN_SDIST = HERE / "src" / "metald_client" / "metald_guest.wasm"
NAME = "metald_guest.wasm"


def component() -> Path:
    """The component to package: the committed build, else (building from an sdist) its copy."""
    for path in (COMMITTED, IN_SDIST):
        if path.is_file():
            return path
    raise SystemExit(
        f"metald component not found at {COMMITTED} (nor {IN_SDIST}): build the package from "
        "the repository's python/ directory, or from an sdist made there"
    )


class BuildPy(build_py):
    """``build_py`` that puts the component into the built package."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "metald_client" / NAME
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(component(), target)


class Sdist(sdist):
    """``sdist`` that puts the component into the source archive."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        target = Path(base_dir) / "src" / "metald_client" / NAME
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(component(), target)


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
