"""A client certificate whose extensions cryptography cannot parse is refused cleanly.

BoringSSL accepts a certificate whose DNS SAN holds a byte outside IA5 in the TLS
handshake; cryptography parses extensions lazily and raised ValueError on first use,
which reached the caller as UNKNOWN "Unexpected <class 'ValueError'>: ..." without the
RPC's log line. Authentication must say UNAUTHENTICATED, and labelling the peer for
the log must not fail.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hessra_core import pki
from hessra_core.errors import AuthenticationError
from hessra_core.rpc.peer import pem_label
from hessra_core.service.snapshot_holder import ServingState
from hessra_core.testing import malformed_san_client
from hessra_core.x509_identity import identities_from_certificate, verify_chain
from hessra_issuer.authn import CertificateAuthenticator


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
        CertificateAuthenticator().authenticate(malformed_san_client(ca).cert_pem, state)


@pytest.mark.parametrize("as_object", [True, False], ids=["object", "pem"])
def test_x509_identity_raises_authentication_errors_only(
    ca: pki.IssuedCert, as_object: bool
) -> None:
    cert = malformed_san_client(ca).cert
    given: x509.Certificate | bytes = cert if as_object else _pem(cert)
    with pytest.raises(AuthenticationError, match="CN=weird"):
        verify_chain(given, (ca.cert,))
    with pytest.raises(AuthenticationError, match="CN=weird"):
        identities_from_certificate(given)


def test_the_log_label_falls_back_to_the_common_name(ca: pki.IssuedCert) -> None:
    assert pem_label(malformed_san_client(ca, "odd-client").cert_pem) == "odd-client"
