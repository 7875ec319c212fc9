"""TLS for connections to metald: the ``spiffe``, ``file`` and ``disabled`` modes.

The modes, their defaults and their rules are the Rust host's (README, "TLS";
host/src/tls/{spiffe,files,authorize,x509}.rs), as the Go (go/tlsmode) and JS
(js/src/tls-policy.js) hosts have them:

* ``spiffe`` (the default): the X.509-SVID and trust bundle come from the SPIFFE Workload API
  (the PyPI ``spiffe`` package's :class:`spiffe.X509Source`, which keeps its stream open for
  rotation). The server is authorized as any SPIFFE ID of our trust domain, or exactly
  ``server_spiffe_id``. A missing socket or no identity is a :class:`TlsError` naming the socket
  and the cause, never a plain-text fallback.
* ``file``: ``cert_file``/``key_file`` are presented as the client certificate, ``ca_file``
  (else the system roots) is trusted. A server certificate with DNS or IP SANs is verified by
  host name; one with only a SPIFFE URI SAN is verified as an X509-SVID and authorized as
  exactly ``server_spiffe_id``, else any ID of our certificate's trust domain, else refused.
  Renewed files are picked up by the next connection.
* ``disabled``: no client certificate; ``http://`` in plain text, ``https://`` with ordinary
  server authentication (``ca_file`` or the system roots).

Every new connection asks its :class:`TlsProvider` for an :class:`Identity`; connections are
pooled by :attr:`Identity.key` (who we are and a digest of what we trust), so a rotated SVID, a
renewed certificate or a changed CA is never served by a connection made with the old material.

The server authorization rules are one function, :func:`authorize_server`, checked against
the shared vectors in testdata/spiffe-authorization.json.
"""

from __future__ import annotations

import contextlib
import datetime
import enum
import hashlib
import ipaddress
import logging
import os
import re
import ssl
import stat
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

if TYPE_CHECKING:
    from spiffe import X509Source

__all__ = [
    "DEFAULT_SPIFFE_SOCKET",
    "DEFAULT_SPIFFE_TIMEOUT",
    "ENV_METALD_SPIFFE_SOCKET",
    "ENV_SPIFFE_ENDPOINT_SOCKET",
    "Identity",
    "LeafFacts",
    "ServerIdentityError",
    "SpiffeId",
    "TlsError",
    "TlsMode",
    "TlsOptions",
    "TlsProvider",
    "authorize_server",
    "leaf_facts",
    "open_provider",
    "parse_mode",
    "parse_spiffe_id",
    "select_svid",
    "uses_spiffe_verification",
]

_log = logging.getLogger("metald_client.tls")

DEFAULT_SPIFFE_SOCKET = "/var/lib/spire/agent/agent.sock"
"""The SPIRE agent's socket, metald-cli's default."""
DEFAULT_SPIFFE_TIMEOUT = 10.0
"""Seconds to wait for the first X.509-SVID."""
ENV_METALD_SPIFFE_SOCKET = "UNKEY_METALD_SPIFFE_SOCKET"
"""metald's own setting for the Workload API socket, consulted first."""
ENV_SPIFFE_ENDPOINT_SOCKET = "SPIFFE_ENDPOINT_SOCKET"
"""The SPIFFE standard's setting for the Workload API socket, consulted second."""


ALPN = ["h2", "http/1.1"]
"""The protocols offered over TLS, HTTP/2 first (:mod:`metald_client._h2`)."""


class TlsMode(str, enum.Enum):
    """How connections to metald are authenticated (metald-cli's ``-tls-mode``)."""

    SPIFFE = "spiffe"
    FILE = "file"
    DISABLED = "disabled"


class TlsError(Exception):
    """A TLS setting that cannot be used: an unreadable, expired or mismatched file, a
    Workload API socket that is missing or offers no identity, a malformed SPIFFE ID.

    Attributes:
        setting: The :class:`TlsOptions` field to change (``cert_file``, ``spiffe_socket``, ...).
    """

    def __init__(self, setting: str, message: str) -> None:
        self.setting = setting
        super().__init__(message)


@dataclass(frozen=True)
class TlsOptions:
    """The TLS mode of a :class:`~metald_client.Client` and its settings.

    Fields a mode does not use are ignored. Examples::

        TlsOptions()                                    # spiffe, default socket
        TlsOptions(mode="spiffe", spiffe_socket="unix:/run/spire/agent.sock",
                   server_spiffe_id="spiffe://prod.example/metald")
        TlsOptions(mode="file", cert_file="client.pem", key_file="client.key", ca_file="ca.pem")
        TlsOptions(mode="disabled")                     # plain http:// (dev server)
    """

    mode: TlsMode | str = TlsMode.SPIFFE
    """``spiffe`` (default), ``file`` or ``disabled``."""
    spiffe_socket: str | None = None
    """Workload API socket: a path, ``unix:PATH`` or ``unix://PATH``. Default:
    ``$UNKEY_METALD_SPIFFE_SOCKET``, else ``$SPIFFE_ENDPOINT_SOCKET``, else
    :data:`DEFAULT_SPIFFE_SOCKET`."""
    spiffe_timeout: float = DEFAULT_SPIFFE_TIMEOUT
    """Seconds to wait for the first X.509-SVID."""
    client_spiffe_id: str | None = None
    """Picks, among several SVIDs the Workload API offers, the one with this SPIFFE ID (default:
    the first). An ID not offered is an error naming it and listing those offered."""
    server_spiffe_id: str | None = None
    """The only SPIFFE ID the server may have. Default: any ID of our trust domain."""
    cert_file: str | os.PathLike[str] | None = None
    """File mode: client certificate chain (PEM). Needs ``key_file``."""
    key_file: str | os.PathLike[str] | None = None
    """File mode: the private key of ``cert_file`` (PEM)."""
    ca_file: str | os.PathLike[str] | None = None
    """File and disabled modes: CA certificates trusted for the server (PEM); default the
    system roots."""

    @classmethod
    def disabled(cls, ca_file: str | os.PathLike[str] | None = None) -> TlsOptions:
        """No client certificate: plain ``http://``, or ``https://`` trusting ``ca_file``."""
        return cls(mode=TlsMode.DISABLED, ca_file=ca_file)


# ---------------------------------------------------------------------------------------
# SPIFFE IDs and the server authorization rules.


@dataclass(frozen=True)
class SpiffeId:
    """A parsed SPIFFE ID (``spiffe://trust-domain/path``); ``path`` is ``""`` for a bare
    trust domain."""

    id: str
    trust_domain: str
    path: str


_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


def parse_spiffe_id(text: str) -> SpiffeId:
    """Parses a SPIFFE ID per the SPIFFE ID specification.

    Raises:
        ValueError: The text is not a SPIFFE ID; the message says why.
    """

    def fail(reason: str) -> ValueError:
        return ValueError(f"SPIFFE ID {text!r}: {reason}")

    if not text.startswith("spiffe://"):
        raise fail("the scheme must be spiffe://")
    rest = text[len("spiffe://") :]
    trust_domain, slash, path = rest.partition("/")
    path = slash + path
    if not trust_domain:
        raise fail("the trust domain is empty")
    if not _TRUST_DOMAIN.fullmatch(trust_domain):
        raise fail('the trust domain may only contain lower-case letters, digits, ".", "-" and "_"')
    if path:
        for segment in path[1:].split("/"):
            if segment == "":
                raise fail('the path has an empty segment or a trailing "/"')
            if segment in (".", ".."):
                raise fail('the path has a "." or ".." segment')
            if not _SEGMENT.fullmatch(segment):
                raise fail('path segments may only contain letters, digits, ".", "-" and "_"')
    return SpiffeId(text, trust_domain, path)


@dataclass(frozen=True)
class LeafFacts:
    """What the SPIFFE rules look at in a leaf certificate."""

    uris: tuple[str, ...] = ()
    dns_or_ip: bool = False
    is_ca: bool = False
    key_cert_sign: bool = False
    crl_sign: bool = False


def leaf_facts(cert: x509.Certificate) -> LeafFacts:
    """The :class:`LeafFacts` of a certificate."""
    uris: tuple[str, ...] = ()
    dns_or_ip = False
    is_ca = False
    key_cert_sign = crl_sign = False
    with contextlib.suppress(x509.ExtensionNotFound):
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = tuple(san.get_values_for_type(x509.UniformResourceIdentifier))
        dns_or_ip = bool(san.get_values_for_type(x509.DNSName)) or bool(
            san.get_values_for_type(x509.IPAddress)
        )
    with contextlib.suppress(x509.ExtensionNotFound):
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    with contextlib.suppress(x509.ExtensionNotFound):
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        key_cert_sign, crl_sign = usage.key_cert_sign, usage.crl_sign
    return LeafFacts(uris, dns_or_ip, is_ca, key_cert_sign, crl_sign)


def uses_spiffe_verification(facts: LeafFacts) -> bool:
    """Whether file mode verifies a server leaf the SPIFFE way (no DNS or IP SAN, a
    ``spiffe://`` URI SAN) rather than by host name."""
    return not facts.dns_or_ip and any(u.startswith("spiffe://") for u in facts.uris)


class ServerIdentityError(Exception):
    """A server certificate refused by the SPIFFE rules.

    Attributes:
        reason: The shared vectors' keyword (``trust-domain-mismatch``, ``id-mismatch``, ...).
    """

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"server certificate refused ({reason}): {detail}")


def authorize_server(
    facts: LeafFacts, *, server_spiffe_id: str | None, trust_domain: str | None
) -> str:
    """The X509-SVID leaf rules and the policy, applied to a server leaf whose chain was
    verified; returns its SPIFFE ID.

    Args:
        facts: The server leaf's facts.
        server_spiffe_id: The exact ID the server must have, or ``None``.
        trust_domain: Our trust domain (any member is accepted when ``server_spiffe_id`` is
            ``None``), or ``None``.

    Raises:
        ServerIdentityError: The leaf is refused; ``reason`` says why.
    """
    if len(facts.uris) != 1:
        listed = f" ({', '.join(facts.uris)})" if facts.uris else ""
        raise ServerIdentityError(
            "uri-san-count",
            "an X509-SVID has exactly one URI SAN, the server's certificate has "
            f"{len(facts.uris)}{listed}",
        )
    uri = facts.uris[0]
    if not uri.startswith("spiffe://"):
        raise ServerIdentityError(
            "not-spiffe-uri", f"the server's URI SAN {uri!r} is not a SPIFFE ID"
        )
    try:
        parsed = parse_spiffe_id(uri)
    except ValueError as exc:
        raise ServerIdentityError(
            "malformed-id", f"the server's SPIFFE ID {uri!r} is malformed: {exc}"
        ) from None
    if facts.is_ca:
        raise ServerIdentityError("ca-leaf", f"the server's leaf certificate ({uri}) is a CA")
    if facts.key_cert_sign:
        raise ServerIdentityError(
            "key-cert-sign", f"the server's leaf certificate ({uri}) has the keyCertSign key usage"
        )
    if facts.crl_sign:
        raise ServerIdentityError(
            "crl-sign", f"the server's leaf certificate ({uri}) has the cRLSign key usage"
        )
    if not parsed.path:
        raise ServerIdentityError(
            "no-path", f"the server's SPIFFE ID {uri} is a bare trust domain, not a workload"
        )
    if server_spiffe_id:
        if parsed.id != server_spiffe_id:
            raise ServerIdentityError(
                "id-mismatch",
                f"the server's SPIFFE ID {uri} is not the expected {server_spiffe_id} "
                "(server_spiffe_id)",
            )
    elif trust_domain:
        if parsed.trust_domain != trust_domain:
            raise ServerIdentityError(
                "trust-domain-mismatch",
                f"the server's SPIFFE ID {uri} is outside our trust domain {trust_domain} "
                "(set server_spiffe_id to accept it)",
            )
    else:
        raise ServerIdentityError(
            "no-policy",
            f"no way to authorize the server's SPIFFE ID {uri}: set server_spiffe_id to the "
            "ID the server must have, or present a client certificate with a SPIFFE ID, "
            "whose trust domain is then accepted",
        )
    return parsed.id


def _workload_id(setting: str, value: str | None) -> str | None:
    """A SPIFFE ID option that must name a workload, or ``None``."""
    if not value:
        return None
    try:
        parsed = parse_spiffe_id(value)
    except ValueError as exc:
        raise TlsError(setting, f"{setting}: {exc}") from None
    if not parsed.path:
        raise TlsError(
            setting,
            f"{setting} {value!r} is a bare trust domain; name the workload "
            f"(spiffe://{parsed.trust_domain}/...)",
        )
    return parsed.id


def _single_spiffe_id(cert: x509.Certificate) -> SpiffeId | None:
    facts = leaf_facts(cert)
    if len(facts.uris) != 1:
        return None
    try:
        return parse_spiffe_id(facts.uris[0])
    except ValueError:
        return None


def _hostname_matches(cert: x509.Certificate, host: str) -> bool:
    """RFC 6125 matching of ``host`` against the DNS and IP SANs: exact (case-insensitive),
    or a wildcard as the whole left-most label."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is not None:
        return address in san.get_values_for_type(x509.IPAddress)
    host = host.lower().rstrip(".")
    for name in san.get_values_for_type(x509.DNSName):
        name = name.lower().rstrip(".")
        if name == host:
            return True
        if name.startswith("*.") and "." in host:
            label, rest = host.split(".", 1)
            if label and rest == name[2:]:
                return True
    return False


# ---------------------------------------------------------------------------------------
# Providers: the material for new connections.


@dataclass
class Identity:
    """What a new connection presents and trusts.

    Attributes:
        key: Names the client identity and a digest of the trusted CAs: the pool key.
        context: The client context for ``https://``, ``None`` when TLS is not possible
            (only in ``disabled`` mode, for ``http://``).
        verify: Checks the server's leaf certificate (DER) after the handshake, given the
            host name that was dialed; raises on refusal.
    """

    key: str
    context: ssl.SSLContext
    verify: Callable[[bytes, str], None] = field(repr=False)


class TlsProvider:
    """The TLS material of one mode. :meth:`identity` is called for every new connection."""

    mode: TlsMode

    def identity(self) -> Identity:
        """The material for a new connection.

        Raises:
            TlsError: The material is not usable now (a CA file that became unreadable).
        """
        raise NotImplementedError

    def close(self) -> None:
        """Releases the provider (the Workload API stream)."""


def _new_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # Verification of the name or SPIFFE ID is ours (Identity.verify), after the chain.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(ALPN)
    return ctx


def _load_chain(ctx: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    """Loads an in-memory certificate chain and key: ``ssl`` reads them from files only, so
    they pass through a private temporary directory (mode 0700), removed at once."""
    with tempfile.TemporaryDirectory(prefix="metald-tls-") as tmp:
        os.chmod(tmp, stat.S_IRWXU)
        cert_path = Path(tmp) / "cert.pem"
        key_path = Path(tmp) / "key.pem"
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        cert_path.write_bytes(cert_pem)
        ctx.load_cert_chain(str(cert_path), str(key_path))


class _DisabledProvider(TlsProvider):
    mode = TlsMode.DISABLED

    def __init__(self, ca_file: Path | None) -> None:
        self._ca_file = ca_file
        # Ordinary server authentication: the chain and the host name, by ssl itself.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(ALPN)
        if ca_file is None:
            ctx.load_default_certs()
        else:
            try:
                ctx.load_verify_locations(cafile=str(ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise TlsError("ca_file", f"the CA file {ca_file}: {exc}") from exc
        digest = hashlib.sha256(ca_file.read_bytes()).hexdigest()[:16] if ca_file else "system"
        self._identity = Identity(f"disabled;ca:{digest}", ctx, lambda _der, _host: None)

    def identity(self) -> Identity:
        return self._identity


def _read(setting: str, role: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsError(setting, f"the {role} file {path}: cannot read: {exc.strerror}") from exc


def _parse_cert_chain(setting: str, path: Path, data: bytes) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise TlsError(setting, f"the certificate file {path}: no PEM certificate: {exc}") from exc
    return certs


def _check_client_pair(
    cert_path: Path, cert_pem: bytes, key_path: Path, key_pem: bytes
) -> x509.Certificate:
    """Parses a client certificate and key; refuses an expired or not yet valid certificate
    and a key that is not the certificate's, naming the file."""
    chain = _parse_cert_chain("cert_file", cert_path, cert_pem)
    leaf = chain[0]
    now = datetime.datetime.now(datetime.timezone.utc)
    if leaf.not_valid_after_utc < now:
        raise TlsError(
            "cert_file",
            f"the certificate file {cert_path}: the certificate expired at "
            f"{leaf.not_valid_after_utc.isoformat()}",
        )
    if leaf.not_valid_before_utc > now:
        raise TlsError(
            "cert_file",
            f"the certificate file {cert_path}: the certificate is not valid before "
            f"{leaf.not_valid_before_utc.isoformat()}",
        )
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise TlsError(
            "key_file", f"the key file {key_path}: no usable PEM private key: {exc}"
        ) from exc
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, pub) != leaf.public_key().public_bytes(der, pub):
        raise TlsError(
            "key_file",
            f"the key file {key_path}: the key does not match the certificate in {cert_path}",
        )
    return leaf


def _server_verifier(
    server_spiffe_id: str | None, trust_domain: str | None, *, hostname_allowed: bool
) -> Callable[[bytes, str], None]:
    def verify(der: bytes, host: str) -> None:
        cert = x509.load_der_x509_certificate(der)
        facts = leaf_facts(cert)
        if hostname_allowed and not uses_spiffe_verification(facts):
            if not _hostname_matches(cert, host):
                raise ssl.SSLCertVerificationError(
                    f"the server's certificate is not valid for {host!r}"
                )
            return
        authorize_server(facts, server_spiffe_id=server_spiffe_id, trust_domain=trust_domain)

    return verify


class _FileProvider(TlsProvider):
    mode = TlsMode.FILE

    def __init__(
        self,
        cert_file: Path | None,
        key_file: Path | None,
        ca_file: Path | None,
        server_spiffe_id: str | None,
    ) -> None:
        if cert_file is not None and key_file is None:
            raise TlsError(
                "key_file",
                f"the certificate file {cert_file} needs its private key: set key_file",
            )
        if key_file is not None and cert_file is None:
            raise TlsError(
                "cert_file", f"the key file {key_file} needs its certificate: set cert_file"
            )
        self._cert_file, self._key_file, self._ca_file = cert_file, key_file, ca_file
        self._server_id = server_spiffe_id
        self._lock = threading.Lock()
        self._stamp: tuple[Any, ...] | None = None
        self._identity: Identity | None = None
        self._load()

    def _file_stamp(self) -> tuple[Any, ...]:
        stamp: list[Any] = []
        for path in (self._cert_file, self._key_file, self._ca_file):
            if path is None:
                stamp.append(None)
                continue
            try:
                st = path.stat()
                stamp.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                stamp.append("missing")
        return tuple(stamp)

    def _load(self) -> None:
        stamp = self._file_stamp()
        ctx = _new_context()
        key = "anonymous"
        trust_domain: str | None = None
        if self._cert_file is not None and self._key_file is not None:
            cert_pem = _read("cert_file", "certificate", self._cert_file)
            key_pem = _read("key_file", "key", self._key_file)
            leaf = _check_client_pair(self._cert_file, cert_pem, self._key_file, key_pem)
            try:
                _load_chain(ctx, cert_pem, key_pem)
            except ssl.SSLError as exc:
                raise TlsError(
                    "key_file", f"the key file {self._key_file}: {exc.reason or exc}"
                ) from exc
            spiffe_id = _single_spiffe_id(leaf)
            trust_domain = spiffe_id.trust_domain if spiffe_id else None
            key = "file:" + hashlib.sha256(cert_pem + b"\0" + key_pem).hexdigest()[:16]
        if self._ca_file is not None:
            ca_pem = _read("ca_file", "CA", self._ca_file)
            try:
                ctx.load_verify_locations(cadata=ca_pem.decode("ascii", "replace"))
            except ssl.SSLError as exc:
                raise TlsError(
                    "ca_file", f"the CA file {self._ca_file}: no usable PEM certificate: {exc}"
                ) from exc
            key += ";ca:" + hashlib.sha256(ca_pem).hexdigest()[:16]
        else:
            ctx.load_default_certs()
            key += ";ca:system"
        verify = _server_verifier(self._server_id, trust_domain, hostname_allowed=True)
        self._identity = Identity(key, ctx, verify)
        self._stamp = stamp

    def identity(self) -> Identity:
        with self._lock:
            if self._file_stamp() != self._stamp:
                # Renewed files: the next connection uses them (and its own pool).
                try:
                    self._load()
                except TlsError as exc:
                    # A CA file that became unusable trusts nothing any more; a certificate or
                    # key caught mid-renewal keeps the previous pair in use until it is whole
                    # (as the Go host's file mode does, go/tlsmode/file.go).
                    if exc.setting == "ca_file" or self._identity is None:
                        raise
                    _log.warning("keeping the previous client certificate: %s", exc)
            assert self._identity is not None
            return self._identity


def select_svid(offered: Sequence[str], requested: str | None) -> int | None:
    """Which of the SVIDs the Workload API offers (their SPIFFE IDs, in its order) is presented:
    the one with the ``requested`` ID, else the first (the Workload API's default); ``None``
    when none is offered or none has the ID asked for. The rule of every host
    (``testdata/spiffe-workload-api.json``)."""
    if requested is None:
        return 0 if offered else None
    return next((i for i, spiffe_id in enumerate(offered) if spiffe_id == requested), None)


def _not_offered(requested: str, offered: Sequence[str]) -> str:
    return (
        f"client_spiffe_id {requested} is not among the X.509-SVIDs of the Workload API; "
        f"offered: {', '.join(offered) or 'none'}"
    )


def _socket_path(value: str | None) -> Path:
    raw = (
        value
        or os.environ.get(ENV_METALD_SPIFFE_SOCKET)
        or os.environ.get(ENV_SPIFFE_ENDPOINT_SOCKET)
        or DEFAULT_SPIFFE_SOCKET
    )
    if raw.startswith("unix://"):
        raw = raw[len("unix://") :]
    elif raw.startswith("unix:"):
        raw = raw[len("unix:") :]
    if not raw:
        raise TlsError("spiffe_socket", f"the SPIFFE Workload API socket {value!r} has no path")
    return Path(raw).expanduser().absolute()


def _pem(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


class _SpiffeProvider(TlsProvider):
    mode = TlsMode.SPIFFE

    def __init__(
        self,
        socket: Path,
        timeout: float,
        client_spiffe_id: str | None,
        server_spiffe_id: str | None,
    ) -> None:
        self._socket = socket
        self._server_id = server_spiffe_id
        self._client_id = client_spiffe_id
        self._lock = threading.Lock()
        self._cache: dict[str, Identity] = {}
        where = f"the SPIFFE Workload API socket {socket}"
        try:
            st = socket.stat()
        except OSError as exc:
            raise TlsError(
                "spiffe_socket",
                f"{where} does not exist ({exc.strerror}); is the SPIRE agent running? "
                "(no plain-text fallback)",
            ) from exc
        if not stat.S_ISSOCK(st.st_mode):
            raise TlsError("spiffe_socket", f"{where} is not a unix socket")
        from spiffe import X509Source, X509Svid  # noqa: PLC0415 - only spiffe mode needs grpc

        def pick(svids: list[X509Svid]) -> X509Svid:
            if not svids:
                raise LookupError("the Workload API offered no X.509-SVID")
            ids = [str(s.spiffe_id) for s in svids]
            chosen = select_svid(ids, self._client_id)
            if chosen is None:
                raise LookupError(_not_offered(self._client_id or "", ids))
            return svids[chosen]

        try:
            self._client = _workload_api_client(socket)
            # One fetch first: the stream below retries what the agent refuses (no identity:
            # PermissionDenied) until the timeout, and then reports no cause.
            pick(self._client.fetch_x509_context(timeout=timeout).x509_svids)
            self._source: X509Source = X509Source(
                workload_api_client=self._client, timeout_in_seconds=timeout, svid_picker=pick
            )
        except Exception as exc:  # noqa: BLE001 - every cause is reported with the socket
            cause = exc.__cause__ or exc
            with contextlib.suppress(Exception):
                self._client.close()
            raise TlsError(
                "spiffe_socket", f"{where}: no X.509-SVID within {timeout:g} s: {cause}"
            ) from exc

    def identity(self) -> Identity:
        try:
            context = self._source.get_x509_context()
        except Exception as exc:  # noqa: BLE001 - the source reports its stream's failure
            raise TlsError(
                "spiffe_socket", f"the SPIFFE Workload API socket {self._socket}: {exc}"
            ) from exc
        with self._lock:
            svid = self._pick(context.x509_svids)
            our = svid.spiffe_id.trust_domain
            wanted = parse_spiffe_id(self._server_id).trust_domain if self._server_id else str(our)
            bundle = context.x509_bundle_set.get_bundle_for_trust_domain(_trust_domain(wanted))
            if bundle is None or not bundle.x509_authorities:
                raise TlsError(
                    "server_spiffe_id",
                    f"the Workload API at {self._socket} has no trust bundle for {wanted}",
                )
            chain_pem = _pem(svid.cert_chain)
            roots_pem = _pem(
                sorted(bundle.x509_authorities, key=lambda c: c.fingerprint(hashes.SHA256()))
            )
            key = (
                "spiffe:"
                + hashlib.sha256(chain_pem).hexdigest()[:16]
                + ";bundle:"
                + hashlib.sha256(roots_pem).hexdigest()[:16]
            )
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            ctx = _new_context()
            key_pem = svid.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            _load_chain(ctx, chain_pem, key_pem)
            ctx.load_verify_locations(cadata=roots_pem.decode("ascii"))
            verify = _server_verifier(self._server_id, str(our), hostname_allowed=False)
            identity = Identity(key, ctx, verify)
            self._cache = {key: identity}
            return identity

    def _pick(self, svids: Sequence[Any]) -> Any:
        ids = [str(s.spiffe_id) for s in svids]
        chosen = select_svid(ids, self._client_id)
        if chosen is None:
            raise TlsError("client_spiffe_id", _not_offered(self._client_id or "", ids))
        return svids[chosen]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._source.close()
        with contextlib.suppress(Exception):
            self._client.close()


def _workload_api_client(socket: Path) -> Any:
    """A ``spiffe.WorkloadApiClient`` on ``socket`` whose gRPC channel sends ``:authority
    localhost``, as go-spiffe's does. By default grpc-core sends the socket path, which is not
    a valid HTTP/2 authority (RFC 9113 section 8.3.1, RFC 3986 section 3.2): a Go server
    (the SPIRE agent) accepts it, but a strict one (hyper's h2, as in
    ``metald-fake-workload-api``) resets the stream with PROTOCOL_ERROR."""
    import grpc  # type: ignore[import-untyped]  # noqa: PLC0415 - grpcio ships no stubs
    from spiffe import WorkloadApiClient  # noqa: PLC0415
    from spiffe.workloadapi.grpc import header_manipulator_client_interceptor  # noqa: PLC0415

    class _Client(WorkloadApiClient):
        def _get_spiffe_grpc_channel(self) -> Any:
            channel = grpc.insecure_channel(
                f"unix:{socket}", options=[("grpc.default_authority", "localhost")]
            )
            # The Workload API requires this header (SPIFFE Workload Endpoint, section 6.2).
            header = header_manipulator_client_interceptor.header_adder_interceptor(
                "workload.spiffe.io", "true"
            )
            return grpc.intercept_channel(channel, header)

    return _Client(f"unix://{socket}")


def _trust_domain(name: str) -> Any:
    from spiffe import TrustDomain  # noqa: PLC0415

    return TrustDomain(name)


def _optional_path(value: str | os.PathLike[str] | None) -> Path | None:
    return Path(value).expanduser() if value is not None and str(value) != "" else None


def parse_mode(value: TlsMode | str) -> TlsMode:
    """A TLS mode from its name.

    Raises:
        TlsError: Not ``spiffe``, ``file`` or ``disabled``.
    """
    try:
        return TlsMode(value)
    except ValueError:
        raise TlsError(
            "mode", f"TLS mode {value!r}: expected one of spiffe, file, disabled"
        ) from None


def open_provider(options: TlsOptions) -> TlsProvider:
    """The provider of ``options``' mode; checks every setting before any request.

    Raises:
        TlsError: A setting is unusable; the message names the file or socket and the cause.
    """
    mode = parse_mode(options.mode)
    server_id = _workload_id("server_spiffe_id", options.server_spiffe_id)
    if mode is TlsMode.DISABLED:
        return _DisabledProvider(_optional_path(options.ca_file))
    if mode is TlsMode.FILE:
        return _FileProvider(
            _optional_path(options.cert_file),
            _optional_path(options.key_file),
            _optional_path(options.ca_file),
            server_id,
        )
    client_id = _workload_id("client_spiffe_id", options.client_spiffe_id)
    if options.spiffe_timeout <= 0:
        raise TlsError("spiffe_timeout", f"spiffe_timeout {options.spiffe_timeout}: must be > 0")
    return _SpiffeProvider(
        _socket_path(options.spiffe_socket), options.spiffe_timeout, client_id, server_id
    )
