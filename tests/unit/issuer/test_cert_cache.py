"""The issuer's per-request certificate check, and what its cache may not outlive."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from hessra_core import pki
from hessra_core.errors import AuthenticationError
from hessra_core.service.snapshot_holder import ServingState
from hessra_issuer.authn import CertificateAuthenticator


@dataclass(frozen=True)
class _Snapshot:
    """What a serving state copies from a snapshot: its digest and revision."""

    digest: str
    revision: str = "test"


def _state(ca: pki.IssuedCert, digest: str = "sha256:aa") -> ServingState:
    return ServingState(_Snapshot(digest), (ca.cert,))


def test_a_cached_certificate_stops_authenticating_when_its_ca_expires() -> None:
    now = datetime.now(UTC)
    # The leaf outlives its CA; certificate dates have one-second resolution.
    ca = pki.create_ca(not_before=now - timedelta(minutes=1), not_after=now + timedelta(seconds=2))
    client = pki.issue_cert(ca, "alice", pki.SubjectNames(uris=["urn:alice"]))
    state = _state(ca)
    authn = CertificateAuthenticator()

    assert authn.authenticate(client.cert_pem, state).label == "CN=alice"
    time.sleep(3.1)
    with pytest.raises(AuthenticationError, match="expired"):
        authn.authenticate(client.cert_pem, state)


def test_a_new_snapshot_without_the_ca_refuses_a_cached_certificate() -> None:
    ca, other = pki.create_ca("CA one"), pki.create_ca("CA two")
    client = pki.issue_cert(ca, "alice", pki.SubjectNames(uris=["urn:alice"]))
    authn = CertificateAuthenticator()
    authn.authenticate(client.cert_pem, _state(ca, "sha256:01"))
    with pytest.raises(AuthenticationError, match="not issued by a trusted CA"):
        authn.authenticate(client.cert_pem, _state(other, "sha256:02"))


@pytest.mark.parametrize("pem", [None, b""], ids=["none", "empty"])
def test_no_certificate_is_refused(pem: bytes | None) -> None:
    with pytest.raises(AuthenticationError, match="required"):
        CertificateAuthenticator().authenticate(pem, _state(pki.create_ca()))
