"""``pem_label`` caches one label per certificate for every RPC: the cache must stay
bounded in bytes per entry, whatever certificate a TLS client presents."""

from __future__ import annotations

import pytest

from hessra_core import pki
from hessra_core.rpc import peer
from hessra_core.rpc.peer import MAX_LABEL_CHARS, pem_label


@pytest.fixture(scope="module")
def ca() -> pki.IssuedCert:
    return pki.create_ca("label bounds CA")


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (pki.SubjectNames(uris=["urn:svc:short"]), "urn:svc:short"),
        (pki.SubjectNames(dns=["a.example"]), "a.example"),
    ],
    ids=["uri", "dns"],
)
def test_short_labels_are_kept(ca: pki.IssuedCert, names: pki.SubjectNames, expected: str) -> None:
    cert = pki.issue_cert(ca, "short", names)
    assert pem_label(cert.cert_pem) == expected
    assert pem_label(cert.cert_pem) == expected  # served from the cache


@pytest.mark.parametrize("length", [MAX_LABEL_CHARS + 1, 60_000], ids=["just-over", "60k"])
def test_huge_certificates_cache_bounded_entries(ca: pki.IssuedCert, length: int) -> None:
    uri = "urn:x:" + "a" * (length - 6)
    cert = pki.issue_cert(ca, "huge", pki.SubjectNames(uris=[uri]))
    assert len(cert.cert_pem) > length
    label = pem_label(cert.cert_pem)
    assert len(label) == MAX_LABEL_CHARS
    assert uri.startswith(label[:-3])
    assert label.endswith("...")
    # Neither the certificate bytes nor the whole SAN are kept in the cache.
    for key, value in peer._LABELS.items():
        assert len(key) <= 64
        assert len(value) <= MAX_LABEL_CHARS
    assert pem_label(cert.cert_pem) == label
