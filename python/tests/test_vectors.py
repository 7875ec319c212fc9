"""The shared vectors under testdata/ that every host reads: the allow-list
(testdata/allow-list.json) and the SPIFFE server authorization and leaf rules
(testdata/spiffe-authorization.json), the Workload API socket and SVID selection
(testdata/spiffe-workload-api.json), and the allow-list applied to the component's requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, TENANT_ID, USER_ID
from pki import Ca

import metald_client as m
from metald_client import _bindings as _b
from metald_client.allow import AllowList, AllowListError, parse_allowed_host
from metald_client.tls import (
    LeafFacts,
    ServerIdentityError,
    TlsError,
    TlsOptions,
    _not_offered,
    _socket_path,
    authorize_server,
    leaf_facts,
    select_svid,
    uses_spiffe_verification,
)
from metald_client.transport import Transport

TESTDATA = REPO / "testdata"
ALLOW = json.loads((TESTDATA / "allow-list.json").read_text())
AUTHZ: list[dict[str, Any]] = json.loads((TESTDATA / "spiffe-authorization.json").read_text())
WORKLOAD_API = json.loads((TESTDATA / "spiffe-workload-api.json").read_text())
# This package speaks to the Workload API over its unix socket only (no tcp: endpoints).
UNIX_SOCKETS = [c for c in WORKLOAD_API["sockets"] if c["path"] is not None]


@pytest.mark.parametrize("case", UNIX_SOCKETS, ids=lambda c: f"{c['setting']!r} {c['env']}")
def test_spiffe_socket_resolves_as_the_other_hosts_resolve_it(
    case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("UNKEY_METALD_SPIFFE_SOCKET", "SPIFFE_ENDPOINT_SOCKET"):
        monkeypatch.delenv(name, raising=False)
    for name, value in case["env"].items():
        monkeypatch.setenv(name, value)
    assert _socket_path(case["setting"]) == Path(case["path"])


@pytest.mark.parametrize("case", WORKLOAD_API["svid_selection"], ids=lambda c: repr(c["requested"]))
def test_svid_selection_follows_the_shared_vectors(case: dict[str, Any]) -> None:
    chosen = select_svid(case["offered"], case["requested"])
    assert (None if chosen is None else case["offered"][chosen]) == case.get("selected")
    if chosen is None:
        message = _not_offered(case["requested"], case["offered"])
        for part in case["error_contains"]:
            assert part in message


@pytest.mark.parametrize("case", ALLOW["entries"], ids=lambda c: repr(c["entry"]))
def test_allow_list_entry_parses_as_the_other_hosts_parse_it(case: dict[str, str]) -> None:
    if "canonical" in case:
        assert str(parse_allowed_host(case["entry"])) == case["canonical"]
    else:
        with pytest.raises(AllowListError) as err:
            parse_allowed_host(case["entry"])
        assert str(err.value) == f"invalid allow-list entry {case['entry']!r}: {case['problem']}"
        assert str(err.value).endswith(case["problem"])


@pytest.mark.parametrize(
    "case",
    ALLOW["requests"],
    ids=lambda c: f"{c['allow']}-{c['scheme']}://{c['authority']}",
)
def test_allow_list_decides_requests_as_the_other_hosts_do(case: dict[str, Any]) -> None:
    assert AllowList(case["allow"]).allows(case["scheme"], case["authority"]) is case["allowed"]


def _facts(server: dict[str, Any]) -> LeafFacts:
    usage = set(server["key_usage"])
    return LeafFacts(
        uris=tuple(server["uri_sans"]),
        dns_or_ip=server["dns_or_ip_san"],
        is_ca=server["is_ca"],
        key_cert_sign="keyCertSign" in usage,
        crl_sign="cRLSign" in usage,
    )


def _check(vector: dict[str, Any], facts: LeafFacts) -> None:
    route = "spiffe" if uses_spiffe_verification(facts) else "hostname"
    assert route == vector["file_mode_verification"]
    policy = {
        "server_spiffe_id": vector["server_spiffe_id"] or None,
        "trust_domain": vector["trust_domain"] or None,
    }
    if vector["expect"] == "accept":
        assert authorize_server(facts, **policy) == vector["spiffe_id"]
    else:
        with pytest.raises(ServerIdentityError) as err:
            authorize_server(facts, **policy)
        assert err.value.reason == vector["reason"], str(err.value)


def test_the_authorization_vectors_cover_every_outcome() -> None:
    outcomes = {v["expect"] if v["expect"] == "accept" else v["reason"] for v in AUTHZ}
    for wanted in ["accept", "trust-domain-mismatch", "id-mismatch", "uri-san-count",
                   "not-spiffe-uri", "malformed-id", "ca-leaf", "key-cert-sign", "crl-sign",
                   "no-path", "no-policy"]:  # fmt: skip
        assert wanted in outcomes


@pytest.mark.parametrize("vector", AUTHZ, ids=lambda v: v["name"])
def test_server_authorization_vector(vector: dict[str, Any]) -> None:
    _check(vector, _facts(vector["server"]))


@pytest.mark.parametrize("vector", AUTHZ, ids=lambda v: v["name"])
def test_server_authorization_vector_read_from_a_real_certificate(
    vector: dict[str, Any],
) -> None:
    server = vector["server"]
    issued = Ca().issue(
        uris=server["uri_sans"],
        dns=["metald.example.org"] if server["dns_or_ip_san"] else [],
        is_ca=server["is_ca"],
        key_usage=server["key_usage"],
    )
    facts = leaf_facts(issued.cert)
    assert facts == _facts(server), "the certificate reads back as made"
    _check(vector, facts)


def test_an_allow_hosts_entry_that_does_not_parse_is_refused_naming_it() -> None:
    with pytest.raises(AllowListError, match="'ftp://x'"):
        m.Client("http://127.0.0.1:1", USER_ID, TENANT_ID, tls=TlsOptions.disabled(),
                 allow_hosts=["ftp://x"])  # fmt: skip


def test_a_request_off_the_allow_list_is_denied_before_it_leaves(
    server_url: str, runtime: m.Runtime
) -> None:
    # An instance whose transport allows another port: the component's request is refused
    # by the host (HTTP-request-denied), which the component reports as permission_denied.
    transport = Transport(AllowList(["http://127.0.0.1:1"]))
    instance = runtime.instantiate(transport)
    handle = _b.client_open(instance, m.ClientOptions(server_url, USER_ID, TENANT_ID, retries=0))
    with pytest.raises(m.MetaldError) as err:
        _b.client_list_vms(instance, handle, _b.ListVmsRequest())
    assert err.value.code == "permission_denied", str(err.value)
    assert transport.stats == {"connections": 0, "requests": 0, "denied": 1}


def test_the_servers_own_origin_is_allowed_and_nothing_else(server_url: str) -> None:
    with m.Client(server_url, USER_ID, TENANT_ID, tls=TlsOptions.disabled(),
                  allow_hosts=["example.org"]) as client:  # fmt: skip
        client.list_vms()
        origins = [str(o) for o in client.transport.allow.origins]
    host_port = server_url.removeprefix("http://")
    assert origins == [f"http://{host_port}", "example.org"]


def test_an_https_client_never_falls_back_to_plain_text(
    server_url: str, tmp_path: Path, runtime: m.Runtime
) -> None:
    # TLS mode disabled with https:// against the plain dev server: a TLS failure, not a
    # plain-text request.
    url = server_url.replace("http://", "https://")
    with m.Client(url, USER_ID, TENANT_ID, tls=TlsOptions.disabled(), retries=0,
                  runtime=runtime) as client:  # fmt: skip
        with pytest.raises(m.MetaldError) as err:
            client.list_vms()
    assert "TLS" in str(err.value) or "SSL" in str(err.value), str(err.value)


def test_tls_mode_names_are_checked() -> None:
    with pytest.raises(TlsError, match="expected one of spiffe, file, disabled"):
        m.Client("https://127.0.0.1:1", USER_ID, TENANT_ID, tls=TlsOptions(mode="mtls"))
