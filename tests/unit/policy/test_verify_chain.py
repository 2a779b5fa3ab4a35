"""verify_chain: only certificates issued directly by a trusted, valid CA authenticate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hessra_core import pki
from hessra_core.errors import AuthenticationError
from hessra_core.x509_identity import verify_chain

NAMES = pki.SubjectNames(uris=["urn:svc:a"])


@pytest.fixture(scope="module")
def ca() -> pki.IssuedCert:
    return pki.create_ca("Trusted CA")


def test_good_certificate_returns_its_ca(ca: pki.IssuedCert):
    leaf = pki.issue_cert(ca, "a", NAMES)
    other = pki.create_ca("Other CA")
    anchors = other.cert_pem + ca.cert_pem
    assert verify_chain(leaf.cert_pem, anchors) == ca.cert
    assert verify_chain(leaf.cert, [other.cert, ca.cert]) == ca.cert


def _now_plus(days: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def _bad_cases(ca: pki.IssuedCert) -> list[tuple[str, bytes, bytes, str]]:
    stranger = pki.create_ca("Stranger CA")
    impostor = pki.create_ca("Trusted CA")  # same name as the trusted CA, different key
    not_ca = pki.create_ca("Not A CA", is_ca=False)
    expired_ca = pki.create_ca("Old CA", not_before=_now_plus(-30), not_after=_now_plus(-1))
    return [
        (
            "other-ca",
            pki.issue_cert(stranger, "a", NAMES).cert_pem,
            ca.cert_pem,
            "not issued by a trusted CA",
        ),
        (
            "forged-signature",
            pki.issue_cert(impostor, "a", NAMES).cert_pem,
            ca.cert_pem,
            "invalid signature",
        ),
        (
            "issuer-not-ca",
            pki.issue_cert(not_ca, "a", NAMES).cert_pem,
            not_ca.cert_pem,
            "is not a CA certificate",
        ),
        (
            "expired-leaf",
            pki.issue_cert(
                ca, "a", NAMES, not_before=_now_plus(-10), not_after=_now_plus(-1)
            ).cert_pem,
            ca.cert_pem,
            "expired or not yet valid",
        ),
        (
            "future-leaf",
            pki.issue_cert(
                ca, "a", NAMES, not_before=_now_plus(1), not_after=_now_plus(10)
            ).cert_pem,
            ca.cert_pem,
            "expired or not yet valid",
        ),
        (
            "expired-ca",
            pki.issue_cert(
                expired_ca, "a", NAMES, not_before=_now_plus(-10), not_after=_now_plus(10)
            ).cert_pem,
            expired_ca.cert_pem,
            "the CA that issued",
        ),
        (
            "server-only",
            pki.issue_cert(ca, "a", NAMES, server=True, client=False).cert_pem,
            ca.cert_pem,
            "not for client auth",
        ),
        ("no-anchors", pki.issue_cert(ca, "a", NAMES).cert_pem, b"", "no trusted CA"),
        (
            "garbage",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            ca.cert_pem,
            "cannot be parsed",
        ),
    ]


CASE_IDS = [
    "other-ca",
    "forged-signature",
    "issuer-not-ca",
    "expired-leaf",
    "future-leaf",
    "expired-ca",
    "server-only",
    "no-anchors",
    "garbage",
]


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
def test_untrusted_certificates_are_refused(index: int, ca: pki.IssuedCert):
    name, leaf, anchors, expected = _bad_cases(ca)[index]
    assert name == CASE_IDS[index]
    with pytest.raises(AuthenticationError, match=expected):
        verify_chain(leaf, anchors)


def test_leaf_whose_key_may_not_sign_is_refused(ca: pki.IssuedCert):
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "enc-only")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(usage, critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    with pytest.raises(AuthenticationError, match="not for client auth"):
        verify_chain(leaf, [ca.cert])
