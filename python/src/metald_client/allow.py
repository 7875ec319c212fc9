"""The outbound allow-list: the only destinations the component may reach.

The rules and the error messages are the Rust host's (host/src/transport/allow.rs), shared
with the Go (go/transport/allow.go) and JS (js/src/allow.js) hosts through the vectors in
testdata/allow-list.json. An entry is ``scheme://host[:port]`` (scheme ``http`` or
``https``), ``host:port`` or ``host`` (either scheme); a missing port is the scheme's
default; paths, queries, user info and wildcards are refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["AllowList", "AllowListError", "Origin", "parse_allowed_host"]

_PROBLEM_SCHEME = "the scheme must be http or https"
_PROBLEM_SHAPE = (
    "expected scheme://host:port, host:port or host; paths and wildcards are not allowed"
)
_PROBLEM_PORT = "the port must be a number 1-65535"
_PROBLEM_EMPTY = "the host and port must not be empty or zero"

_REG_NAME_EXTRA = frozenset("-._~%")


class AllowListError(ValueError):
    """An allow-list entry that does not parse; the message names the entry and the problem."""

    def __init__(self, entry: str, problem: str) -> None:
        self.entry = entry
        self.problem = problem
        super().__init__(f"invalid allow-list entry {entry!r}: {problem}")


@dataclass(frozen=True)
class Origin:
    """One allowed destination.

    Attributes:
        scheme: ``"http"``, ``"https"`` or ``""`` (both).
        host: Lower-case host name or IP address (IPv6 without brackets).
        port: The port; ``0`` means the scheme's default (80 or 443).
    """

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        text = f"{self.scheme}://" if self.scheme else ""
        text += f"[{self.host}]" if ":" in self.host else self.host
        if self.port:
            text += f":{self.port}"
        return text

    def matches(self, scheme: str, host: str, port: int) -> bool:
        """Whether a request to ``scheme://host:port`` (host lower case) matches this entry."""
        if self.scheme and self.scheme != scheme:
            return False
        want = self.port or _default_port(scheme)
        return self.host == host and want == port


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _valid_reg_name(host: str) -> bool:
    return all(
        ("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9") or c in _REG_NAME_EXTRA
        for c in host
    )


def _is_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False


def parse_allowed_host(entry: str) -> Origin:
    """Parses one allow-list entry.

    Raises:
        AllowListError: The entry is malformed; the message ends with the problem, worded
            as the other hosts word it.
    """
    scheme = ""
    rest = entry
    if "://" in entry:
        scheme, rest = entry.split("://", 1)
        if scheme not in ("http", "https"):
            raise AllowListError(entry, _PROBLEM_SCHEME)
    rest = rest.removesuffix("/")
    if not rest or any(c in rest for c in "/?#@*"):
        raise AllowListError(entry, _PROBLEM_SHAPE)
    host = rest
    port = 0
    colon = rest.rfind(":")
    if colon >= 0 and "]" not in rest[colon + 1 :]:
        host = rest[:colon]
        text = rest[colon + 1 :]
        if not text.isascii() or not text.isdigit() or int(text) > 65535:
            raise AllowListError(entry, _PROBLEM_PORT)
        port = int(text)
        if port == 0:
            raise AllowListError(entry, _PROBLEM_EMPTY)
    if not host:
        raise AllowListError(entry, _PROBLEM_EMPTY)
    if host.startswith("["):
        if not host.endswith("]") or not _is_ipv6(host[1:-1]):
            raise AllowListError(entry, _PROBLEM_SHAPE)
        host = host[1:-1]
    elif not _valid_reg_name(host):
        raise AllowListError(entry, _PROBLEM_SHAPE)
    return Origin(scheme, host.lower(), port)


def _split_authority(authority: str) -> tuple[str, str] | None:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` → (host without brackets, port text)."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        host, rest = authority[1:end], authority[end + 1 :]
        if not _is_ipv6(host.split("%", 1)[0]):
            return None
        if rest == "":
            return host, ""
        if rest.startswith(":") and len(rest) > 1:
            return host, rest[1:]
        return None
    host, sep, port = authority.partition(":")
    if sep and (not port or ":" in port):
        return None
    if not _valid_reg_name(host):
        return None
    return host, port


class AllowList:
    """A parsed allow-list; deny by default.

    Args:
        entries: Entries as :func:`parse_allowed_host` reads them, or parsed origins.

    Raises:
        AllowListError: An entry is malformed.
    """

    def __init__(self, entries: Iterable[str | Origin] = ()) -> None:
        self.origins: tuple[Origin, ...] = tuple(
            e if isinstance(e, Origin) else parse_allowed_host(e) for e in entries
        )

    def __repr__(self) -> str:
        return f"AllowList({[str(o) for o in self.origins]!r})"

    def allows(self, scheme: str, authority: str) -> bool:
        """Whether a request to ``scheme://authority`` may go out."""
        scheme = scheme.lower()
        if scheme not in ("http", "https") or "@" in authority:
            return False
        split = _split_authority(authority)
        if split is None or not split[0]:
            return False
        host, port_text = split
        port = _default_port(scheme)
        if port_text:
            if not port_text.isascii() or not port_text.isdigit():
                return False
            port = int(port_text)
            if port == 0 or port > 65535:
                return False
        host = host.lower()
        return any(o.matches(scheme, host, port) for o in self.origins)
