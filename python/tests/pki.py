"""Test certificates, made per test with ``cryptography`` (never committed): a CA and leaves
with SPIFFE URI SANs, DNS/IP SANs, key usages, validity windows."""

from __future__ import annotations

import datetime
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_NOW = datetime.datetime.now(datetime.timezone.utc)

_USAGES = {
    "digitalSignature": "digital_signature",
    "keyEncipherment": "key_encipherment",
    "keyCertSign": "key_cert_sign",
    "cRLSign": "crl_sign",
}


@dataclass
class Issued:
    """A certificate and its key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def serial(self) -> int:
        return self.cert.serial_number

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        """Writes ``name.pem`` and ``name.key``; returns their paths."""
        cert, key = directory / f"{name}.pem", directory / f"{name}.key"
        cert.write_bytes(self.cert_pem())
        key.write_bytes(self.key_pem())
        return cert, key


class Ca:
    """A self-signed CA that issues leaves."""

    def __init__(self, name: str = "test CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_NOW - datetime.timedelta(hours=1))
            .not_valid_after(_NOW + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, directory: Path, name: str = "ca") -> Path:
        path = directory / f"{name}.pem"
        path.write_bytes(self.pem())
        return path

    def issue(
        self,
        *,
        uris: list[str] = (),  # type: ignore[assignment]
        dns: list[str] = (),  # type: ignore[assignment]
        ips: list[str] = (),  # type: ignore[assignment]
        is_ca: bool = False,
        key_usage: list[str] = ("digitalSignature",),  # type: ignore[assignment]
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or _NOW - datetime.timedelta(hours=1))
            .not_valid_after(not_after or _NOW + datetime.timedelta(hours=12))
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        )
        names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in uris]
        names += [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=True)
        flags = {v: False for v in _USAGES.values()}
        for usage in key_usage:
            flags[_USAGES[usage]] = True
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=flags["digital_signature"],
                content_commitment=False,
                key_encipherment=flags["key_encipherment"],
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=flags["key_cert_sign"],
                crl_sign=flags["crl_sign"],
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        return Issued(builder.sign(self.key, hashes.SHA256()), key)


def peer_log(path: Path) -> list[dict[str, object]]:
    """The dev server's ``--peer-log`` lines: one handshake each."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def serial_of(entry: dict[str, object]) -> int:
    """The serial number of a peer-log line, as an int."""
    return int(str(entry["serial"]), 16)
