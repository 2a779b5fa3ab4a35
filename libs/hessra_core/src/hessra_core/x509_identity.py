"""What a client certificate says about its holder, and whether to believe it.

``identities_from_certificate`` lists every identifier a certificate presents, in the
canonical forms policy matching uses (see ``hessra_core.policy.identifiers``):
URI SANs (a leading ``uri:`` removed), DNS SANs (lower case, no trailing dot; names that
are not plain host names, such as ``*.example.com``, are skipped: a client is never
identified by a wildcard), email SANs (domain lower case), IP SANs (IPv6 compressed,
IPv4-mapped IPv6 as IPv4) and the serial number in decimal.

``verify_chain`` trusts a certificate only when a CA certificate from the policy's
``[cacerts]`` signed it directly, both are within their validity dates, the CA has the CA
flag (and keyCertSign when it carries keyUsage), and the leaf allows client authentication
(clientAuth when it lists extended key usages, digitalSignature when it lists key usages).
When several ``[cacerts]`` entries could have signed it (a CA renewed with the same key),
any one that is valid will do. Every ``[cacerts]`` certificate is a trust anchor: put
intermediate CAs there too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

from hessra_core.errors import AuthenticationError
from hessra_core.policy.identifiers import PresentedIdentities


def load_certificate(cert: x509.Certificate | bytes | str) -> x509.Certificate:
    """A certificate object from PEM (or DER bytes); AuthenticationError if unreadable."""
    if isinstance(cert, x509.Certificate):
        return cert
    data = cert.encode("ascii", "replace") if isinstance(cert, str) else cert
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise AuthenticationError("client certificate cannot be parsed") from exc


def _subject(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string() or "(no subject)"
    except ValueError:
        return f"serial={cert.serial_number}"


def _extensions(cert: x509.Certificate) -> x509.Extensions:
    """The certificate's extensions; AuthenticationError if one is malformed.

    cryptography parses them on first use, and the TLS handshake accepts some it cannot
    parse (a DNS SAN with a byte outside IA5): refuse the certificate, not fail the call.
    """
    try:
        return cert.extensions
    except ValueError:
        raise AuthenticationError(
            f"client certificate {_subject(cert)} cannot be parsed (a malformed extension)"
        ) from None


def identities_from_certificate(cert: x509.Certificate | bytes | str) -> PresentedIdentities:
    certificate = load_certificate(cert)
    try:
        san = _extensions(certificate).get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return PresentedIdentities.of(serial=certificate.serial_number)
    ips: list[str] = []
    for address in san.get_values_for_type(x509.IPAddress):
        if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            ips.append(str(address))
    return PresentedIdentities.of(
        uris=san.get_values_for_type(x509.UniformResourceIdentifier),
        dns=san.get_values_for_type(x509.DNSName),
        emails=san.get_values_for_type(x509.RFC822Name),
        ips=ips,
        serial=certificate.serial_number,
    )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        if not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return False
    except (x509.ExtensionNotFound, ValueError):  # ValueError: unparseable extensions
        return False
    try:
        return bool(cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign)
    except x509.ExtensionNotFound:
        return True


def _within_dates(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _allows_client_auth(cert: x509.Certificate) -> bool:
    try:
        if not cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return False  # a TLS client proves its key with a signature
    except x509.ExtensionNotFound:
        pass
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return (
        ExtendedKeyUsageOID.CLIENT_AUTH in usages
        or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages
    )


def verify_chain(
    cert: x509.Certificate | bytes | str,
    ca_certs: Sequence[x509.Certificate] | bytes | str,
    now: datetime | None = None,
) -> x509.Certificate:
    """Check ``cert`` against the trust anchors; return the CA that issued it.

    Raises AuthenticationError saying what failed; the message names certificates by
    subject, never by anything secret.
    """
    now = now or datetime.now(UTC)
    leaf = load_certificate(cert)
    if isinstance(ca_certs, bytes | str):
        data = ca_certs.encode("ascii", "replace") if isinstance(ca_certs, str) else ca_certs
        try:
            anchors: Sequence[x509.Certificate] = x509.load_pem_x509_certificates(data)
        except ValueError:
            anchors = ()
    else:
        anchors = ca_certs
    subject = _subject(leaf)
    _extensions(leaf)  # parse them once here, so the checks below cannot fail half-way
    if not anchors:
        raise AuthenticationError("no trusted CA certificates are configured")
    if not _within_dates(leaf, now):
        raise AuthenticationError(f"client certificate {subject} is expired or not yet valid")
    if not _allows_client_auth(leaf):
        raise AuthenticationError(f"client certificate {subject} is not for client auth")
    issuer_seen = False
    # A CA renewed in place (same name and key, new dates) sits in [cacerts] beside its
    # old certificate until that one expires: an unusable copy must not shadow a good one.
    # Its reason is reported only when no anchor vouches for the leaf.
    unusable: str | None = None
    for ca in anchors:
        if ca.subject != leaf.issuer:
            continue
        issuer_seen = True
        try:
            leaf.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        if not _is_ca(ca):
            unusable = unusable or f"issuer of {subject} is not a CA certificate"
        elif not _within_dates(ca, now):
            unusable = unusable or f"the CA that issued {subject} is expired or not yet valid"
        else:
            return ca
    if unusable is not None:
        raise AuthenticationError(unusable)
    if issuer_seen:
        raise AuthenticationError(f"client certificate {subject} has an invalid signature")
    raise AuthenticationError(f"client certificate {subject} is not issued by a trusted CA")


__all__ = [
    "PresentedIdentities",
    "identities_from_certificate",
    "load_certificate",
    "verify_chain",
]
