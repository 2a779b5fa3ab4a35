"""A client certificate whose extensions cryptography cannot parse is refused cleanly.

BoringSSL accepts a certificate whose DNS SAN holds a byte outside IA5 in the TLS
handshake; cryptography parses extensions lazily and raised ValueError on first use,
which reached the caller as UNKNOWN "Unexpected <class 'ValueError'>: ..." without the
RPC's log line. Authentication must say UNAUTHENTICATED, and labelling the peer for
the log must not fail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from hessra_core import pki
from hessra_core.errors import AuthenticationError
from hessra_core.rpc.peer import pem_label
from hessra_core.service.snapshot_holder import ServingState
from hessra_core.x509_identity import identities_from_certificate, verify_chain
from hessra_issuer.authn import CertificateAuthenticator

# SubjectAlternativeName ::= SEQUENCE { dNSName [2] IA5String "a\xffb" }: 0xff is not IA5.
_BAD_SAN = b"\x30\x05\x82\x03a\xffb"


def bad_san_certificate(ca: pki.IssuedCert, common_name: str = "weird") -> x509.Certificate:
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.cert.subject)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, _BAD_SAN),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


class _Snapshot:
    digest = "sha256:01"
    revision = "test"


@pytest.fixture(scope="module")
def ca() -> pki.IssuedCert:
    return pki.create_ca("malformed-extension test CA")


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def test_the_issuer_refuses_it_as_unauthenticated(ca: pki.IssuedCert) -> None:
    state = ServingState(_Snapshot(), (ca.cert,))
    with pytest.raises(AuthenticationError, match="cannot be parsed"):
        CertificateAuthenticator().authenticate(_pem(bad_san_certificate(ca)), state)


@pytest.mark.parametrize("as_object", [True, False], ids=["object", "pem"])
def test_x509_identity_raises_authentication_errors_only(
    ca: pki.IssuedCert, as_object: bool
) -> None:
    cert = bad_san_certificate(ca)
    given: x509.Certificate | bytes = cert if as_object else _pem(cert)
    with pytest.raises(AuthenticationError, match="CN=weird"):
        verify_chain(given, (ca.cert,))
    with pytest.raises(AuthenticationError, match="CN=weird"):
        identities_from_certificate(given)


def test_the_log_label_falls_back_to_the_common_name(ca: pki.IssuedCert) -> None:
    assert pem_label(_pem(bad_san_certificate(ca, "odd-client"))) == "odd-client"
