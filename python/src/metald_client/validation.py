"""Client-side checks, run before anything is sent (WIT interface ``validation``)."""

from __future__ import annotations

from . import _bindings as _b
from .errors import InvalidConfigError
from .runtime import RuntimeLike, get_runtime
from .types import ValidationIssue, VmConfig

__all__ = ["config_issues", "validate_config", "validate_identity"]


def validate_config(config: VmConfig, *, runtime: RuntimeLike = None) -> None:
    """Checks a config against the Go client's rules and the server's own.

    Raises:
        InvalidConfigError: With every problem at once, each with its field path
            (``storage[1].path``) in ``.issues`` / ``.fields``.
    """
    _b.validation_validate_config(get_runtime(runtime), config)


def config_issues(config: VmConfig, *, runtime: RuntimeLike = None) -> list[ValidationIssue]:
    """Like :func:`validate_config`, but returns the problems (empty when valid)."""
    try:
        validate_config(config, runtime=runtime)
    except InvalidConfigError as exc:
        return exc.issues
    return []


def validate_identity(user_id: str, tenant_id: str, *, runtime: RuntimeLike = None) -> None:
    """Checks a user id and tenant id: non-empty and only ``[A-Za-z0-9._-]``.

    Raises:
        InvalidConfigError: Naming ``user_id`` and/or ``tenant_id``.
    """
    _b.validation_validate_identity(get_runtime(runtime), user_id, tenant_id)
