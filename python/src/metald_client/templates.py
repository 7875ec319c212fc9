"""The Go client's five built-in VM templates (WIT interface ``templates``)."""

from __future__ import annotations

from . import _bindings as _b
from .runtime import RuntimeLike, get_runtime
from .types import Template, VmConfig

__all__ = ["all_templates", "parse_template", "template_config", "template_name"]


def template_config(template: Template | str, *, runtime: RuntimeLike = None) -> VmConfig:
    """The complete config of a template: the builder defaults plus the template's CPU, memory,
    kernel arguments, disks, console output and metadata, one dual-stack ``eth0``."""
    return _b.templates_template_config(get_runtime(runtime), template)


def parse_template(name: str, *, runtime: RuntimeLike = None) -> Template:
    """Parses a template name (``minimal``, ``standard``, ``high-cpu``, ``high-memory``,
    ``development``).

    Raises:
        InvalidConfigError: An unknown name; the message lists the valid ones.
    """
    return _b.templates_parse_template(get_runtime(runtime), name)


def template_name(template: Template | str, *, runtime: RuntimeLike = None) -> str:
    """The name of a template, as :func:`parse_template` reads it."""
    return _b.templates_template_name(get_runtime(runtime), template)


def all_templates(*, runtime: RuntimeLike = None) -> list[Template]:
    """Every template, in declaration order."""
    return _b.templates_all_templates(get_runtime(runtime))
