"""A CA renewed in place (same name, same key, new dates) keeps its clients working.

Operators roll a CA by adding the renewed certificate to ``[cacerts]`` next to the old
one; the old one then expires while that snapshot is still served. Every client
certificate verifies against both, so the expired copy must not shadow the valid one,
whatever their order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hessra_core import pki
from hessra_core.errors import AuthenticationError
from hessra_core.service.snapshot_holder import ServingState
from hessra_core.x509_identity import verify_chain
from hessra_issuer.authn import CertificateAuthenticator


@dataclass(frozen=True)
class _Snapshot:
    digest: str
    revision: str = "test"


def _recertify(
    ca: pki.IssuedCert, not_before: datetime, not_after: datetime, *, is_ca: bool = True
) -> x509.Certificate:
    """``ca``'s name and key in a new self-signed certificate with other dates."""
    key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    old = ca.cert
    builder = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(old.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    return builder.sign(key, hashes.SHA256())


@dataclass(frozen=True)
class _Renewal:
    ca: pki.IssuedCert
    expired: x509.Certificate  # the old certificate, past its date
    renewed: x509.Certificate
    client: pki.IssuedCert


@pytest.fixture(scope="module")
def renewal() -> _Renewal:
    now = datetime.now(UTC)
    ca = pki.create_ca("Rolling CA", not_before=now - timedelta(days=400))
    expired = _recertify(ca, now - timedelta(days=400), now - timedelta(days=1))
    renewed = _recertify(ca, now - timedelta(days=2), now + timedelta(days=365))
    client = pki.issue_cert(ca, "alice", pki.SubjectNames(uris=["urn:alice"]))
    return _Renewal(ca, expired, renewed, client)


@pytest.mark.parametrize("expired_first", [True, False], ids=["expired-first", "renewed-first"])
def test_the_renewed_ca_authenticates_beside_its_expired_copy(
    renewal: _Renewal, expired_first: bool
) -> None:
    old, new = renewal.expired, renewal.renewed
    anchors = (old, new) if expired_first else (new, old)
    assert verify_chain(renewal.client.cert_pem, anchors) == new
    state = ServingState(_Snapshot("sha256:01"), anchors)
    caller = CertificateAuthenticator().authenticate(renewal.client.cert_pem, state)
    assert caller.label == "CN=alice"


def test_a_copy_without_the_ca_flag_does_not_shadow_the_ca(renewal: _Renewal) -> None:
    now = datetime.now(UTC)
    not_ca = _recertify(renewal.ca, now - timedelta(days=1), now + timedelta(days=30), is_ca=False)
    assert verify_chain(renewal.client.cert_pem, (not_ca, renewal.renewed)) == renewal.renewed


@pytest.mark.parametrize(
    ("which", "expected"),
    [("expired", "the CA that issued"), ("not-ca", "is not a CA certificate")],
    ids=["only-expired", "only-not-ca"],
)
def test_without_a_good_copy_the_specific_reason_is_reported(
    renewal: _Renewal, which: str, expected: str
) -> None:
    now = datetime.now(UTC)
    anchor = (
        renewal.expired
        if which == "expired"
        else _recertify(renewal.ca, now - timedelta(days=1), now + timedelta(days=30), is_ca=False)
    )
    with pytest.raises(AuthenticationError, match=expected):
        verify_chain(renewal.client.cert_pem, (anchor,))
