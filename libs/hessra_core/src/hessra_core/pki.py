"""A small X.509 toolkit for development CAs and test certificates.

Used by ``make demo`` to generate a throwaway CA with server and client
certificates, and by the test suite for real mTLS on loopback. It is not a
production CA: keys are EC P-256, there is no revocation, and everything is
returned as PEM bytes for the caller to write where it wants.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class IssuedCert:
    """A certificate and its private key, both PEM. The key is hidden from repr."""

    cert_pem: bytes
    key_pem: bytes = field(repr=False)

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)


@dataclass(frozen=True)
class SubjectNames:
    """The subject alternative names to put in a certificate."""

    uris: Sequence[str] = ()
    dns: Sequence[str] = ()
    emails: Sequence[str] = ()
    ips: Sequence[str] = ()

    def extension(self) -> x509.SubjectAlternativeName | None:
        names: list[x509.GeneralName] = []
        names += [x509.UniformResourceIdentifier(u) for u in self.uris]
        names += [x509.DNSName(d) for d in self.dns]
        names += [x509.RFC822Name(e) for e in self.emails]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in self.ips]
        return x509.SubjectAlternativeName(names) if names else None


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def create_ca(
    common_name: str = "Hessra Development CA",
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    is_ca: bool = True,
) -> IssuedCert:
    """A self-signed CA certificate. ``is_ca=False`` makes a deliberately bad one for tests."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    start = not_before or now - timedelta(minutes=5)
    end = not_after or now + timedelta(days=365)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    cert = builder.sign(key, hashes.SHA256())
    return IssuedCert(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue_cert(
    ca: IssuedCert,
    common_name: str,
    names: SubjectNames,
    *,
    server: bool = False,
    client: bool = True,
    serial: int | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> IssuedCert:
    """A leaf certificate signed by ``ca``, for a server, a client, or both."""
    ca_cert = ca.cert
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TypeError("development CAs use EC P-256 keys")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(minutes=5))
        .not_valid_after(not_after or now + timedelta(days=90))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    san = names.extension()
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return IssuedCert(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


__all__ = ["IssuedCert", "SubjectNames", "create_ca", "issue_cert"]
