"""The server URL of a client, taken apart as the component reads it (WIT interface
``endpoint``).

The client accepts ``http[s]://host[:port][/prefix]``; :func:`parse_server_url` is the
component's own parser (the one ``Client`` applies when it opens), so a URL that parses here
opens, and one that does not is refused with the same issue.
"""

from __future__ import annotations

from . import _bindings as _b
from .runtime import RuntimeLike, get_runtime
from .types import Scheme, ServerUrl

__all__ = ["Scheme", "ServerUrl", "parse_server_url"]


def parse_server_url(url: str, *, runtime: RuntimeLike = None) -> ServerUrl:
    """Parses a server URL: ``http://`` or ``https://`` (lower case), a host (letters, digits,
    ``-._%``, or a bracketed IPv6 address), an optional port from 1 to 65535 and an optional
    path prefix without query or fragment.

    Returns:
        The parts: ``scheme``, ``authority`` (``host[:port]`` as written), ``host`` (lower
        case), ``port`` (the written one, else 80 or 443) and ``path_prefix`` (no trailing
        ``/``; empty for none).

    Raises:
        InvalidConfigError: With one issue whose field is ``server``, the same issue
            :class:`~metald_client.Client` reports for that URL.
    """
    return _b.endpoint_parse_server_url(get_runtime(runtime), url)
