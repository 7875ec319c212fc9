"""The JSON config-file format of the Go client (``metald-cli config-gen``), read strictly
(WIT interface ``config-file``).

Files the Go client writes load unchanged and files written here load in the Go client.
"""

from __future__ import annotations

from . import _bindings as _b
from .runtime import RuntimeLike, get_runtime
from .types import VmConfig, VmConfigFile

__all__ = ["from_vm_config", "parse_config_file", "render_config_file", "to_vm_config"]


def parse_config_file(json: str, *, runtime: RuntimeLike = None) -> VmConfigFile:
    """Parses a config file.

    Keys match case-insensitively like Go's reader, but an unknown key, a wrong type or an
    out-of-range number is an error naming its path.

    Raises:
        InvalidConfigError: Every problem found, e.g. field ``network[0].mode``.
    """
    return _b.config_file_parse_config_file(get_runtime(runtime), json)


def render_config_file(file: VmConfigFile, *, runtime: RuntimeLike = None) -> str:
    """Renders a config file as Go writes it: fields in format order, 2-space indent, map keys
    sorted, no trailing newline."""
    return _b.config_file_render_config_file(get_runtime(runtime), file)


def from_vm_config(
    config: VmConfig, name: str = "", description: str = "", *, runtime: RuntimeLike = None
) -> VmConfigFile:
    """The file form of a config (memory must be whole MiB). file -> config -> file is lossless.

    Raises:
        InvalidConfigError: The config cannot be written in the file format.
    """
    return _b.config_file_from_vm_config(get_runtime(runtime), config, name, description)


def to_vm_config(file: VmConfigFile, *, runtime: RuntimeLike = None) -> VmConfig:
    """The config a file describes, as the Go client builds it (template or builder defaults,
    overwritten by every section; metadata gains ``config_name``/``config_description``).

    Raises:
        InvalidConfigError: An unknown template.
    """
    return _b.config_file_to_vm_config(get_runtime(runtime), file)
