"""``parse_server_url`` (the component's ``endpoint.parse-server-url``) against the shared
vectors of testdata/server-urls.json, which the Rust, Go and JS tests read too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import metald_client as m

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "testdata" / "server-urls.json").read_text("utf-8")
)


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["url"])
def test_parses_every_valid_vector_into_its_parts(vector: dict[str, Any]) -> None:
    parsed = m.parse_server_url(vector["url"])
    assert parsed == m.ServerUrl(
        scheme=m.Scheme(vector["scheme"]),
        authority=vector["authority"],
        host=vector["host"],
        port=vector["port"],
        path_prefix=vector["path_prefix"],
    )
    assert parsed.scheme.value == vector["scheme"]
    # The base URL the parts spell parses to the same parts.
    base = f"{parsed.scheme.value}://{parsed.authority}{parsed.path_prefix}"
    assert m.parse_server_url(base) == parsed


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: repr(v["url"]))
def test_rejects_every_invalid_vector_with_its_message(vector: dict[str, Any]) -> None:
    issue = m.ValidationIssue("server", vector["message"])
    with pytest.raises(m.InvalidConfigError) as info:
        m.parse_server_url(vector["url"])
    assert info.value.issues == [issue]
    assert str(info.value) == f"invalid config: server: {vector['message']}"
    # Opening a client reports the same issue for the URL.
    with pytest.raises(m.InvalidConfigError) as opened:
        m.Client(vector["url"], "alice", "acme")
    assert opened.value.issues == [issue]


def test_the_vectors_are_there() -> None:
    assert len(VECTORS["valid"]) >= 10 and len(VECTORS["invalid"]) >= 20
