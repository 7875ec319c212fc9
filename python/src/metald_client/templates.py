"""The Go client's five built-in VM templates (WIT interface ``templates``)."""

from __future__ import annotations

from .runtime import RuntimeLike, get_runtime
from .types import Template, VmConfig

__all__ = ["all_templates", "parse_template", "template_config", "template_name"]


def template_config(template: Template | str, *, runtime: RuntimeLike = None) -> VmConfig:
    """The complete config of a template: the builder defaults plus the template's CPU, memory,
    kernel arguments, disks, console output and metadata, one dual-stack ``eth0``."""
    config: VmConfig = get_runtime(runtime).call(
        "templates", "template-config", template, returns=VmConfig
    )
    return config


def parse_template(name: str, *, runtime: RuntimeLike = None) -> Template:
    """Parses a template name (``minimal``, ``standard``, ``high-cpu``, ``high-memory``,
    ``development``).

    Raises:
        InvalidConfigError: An unknown name; the message lists the valid ones.
    """
    template: Template = get_runtime(runtime).call(
        "templates", "parse-template", name, returns=Template
    )
    return template


def template_name(template: Template | str, *, runtime: RuntimeLike = None) -> str:
    """The name of a template, as :func:`parse_template` reads it."""
    name: str = get_runtime(runtime).call("templates", "template-name", template, returns=str)
    return name


def all_templates(*, runtime: RuntimeLike = None) -> list[Template]:
    """Every template, in declaration order."""
    templates: list[Template] = get_runtime(runtime).call(
        "templates", "all-templates", returns=list[Template]
    )
    return templates
