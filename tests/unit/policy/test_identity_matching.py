"""The identifier-matching table, row by row, and identities read from real certificates."""

from __future__ import annotations

from pathlib import Path

import pytest

from hessra_core import pki
from hessra_core.policy import DenyReason
from hessra_core.x509_identity import PresentedIdentities, identities_from_certificate

from .helpers import client_block, snapshot_of

# (policy type, policy value, what the certificate presents, matches?, subject when it does)
ROWS = [
    (
        "san_dns",
        "worker-*.internal.com",
        {"dns": ["worker-3.internal.com"]},
        True,
        "worker-3.internal.com",
    ),
    (
        "san_dns",
        "worker-*.internal.com",
        {"dns": ["WORKER-3.Internal.COM"]},
        True,
        "worker-3.internal.com",
    ),
    (
        "san_dns",
        "worker-*.internal.com",
        {"dns": ["worker-3.internal.com."]},
        True,
        "worker-3.internal.com",
    ),
    ("san_dns", "worker-*.internal.com", {"dns": ["worker-.internal.com"]}, False, None),
    ("san_dns", "worker-*.internal.com", {"dns": ["worker-3.evil.internal.com"]}, False, None),
    ("san_dns", "worker-*.internal.com", {"dns": ["xworker-3.internal.com"]}, False, None),
    ("san_dns", "worker-*.internal.com", {"dns": ["worker-3.internal.com.evil"]}, False, None),
    ("san_dns", "worker-*.internal.com", {"dns": ["internal.com"]}, False, None),
    ("san_dns", "*.internal.com", {"dns": ["a.internal.com"]}, True, "a.internal.com"),
    ("san_dns", "*.internal.com", {"dns": ["a.b.internal.com"]}, False, None),
    ("san_dns", "*.internal.com", {"dns": ["*.internal.com"]}, False, None),
    ("san_dns", "api-*-v2.svc.local", {"dns": ["api-x-v2.svc.local"]}, True, "api-x-v2.svc.local"),
    ("san_dns", "api-*-v2.svc.local", {"dns": ["api--v2.svc.local"]}, False, None),
    ("san_dns", "Api.Internal", {"dns": ["api.internal"]}, True, "Api.Internal"),
    (
        "san_uri",
        "uri:urn:service:api-gateway",
        {"uris": ["urn:service:api-gateway"]},
        True,
        "uri:urn:service:api-gateway",
    ),
    (
        "san_uri",
        "uri:urn:service:api-gateway",
        {"uris": ["uri:urn:service:api-gateway"]},
        True,
        "uri:urn:service:api-gateway",
    ),
    (
        "san_uri",
        "urn:service:api-gateway",
        {"uris": ["urn:service:api-gateway"]},
        True,
        "urn:service:api-gateway",
    ),
    ("san_uri", "uri:urn:service:api-gateway", {"uris": ["urn:service:api-gateway2"]}, False, None),
    ("san_uri", "uri:urn:service:api-gateway", {"uris": ["URN:service:api-gateway"]}, False, None),
    ("san_uri", "spiffe://prod/ns/a", {"dns": ["spiffe://prod/ns/a"]}, False, None),
    (
        "san_email",
        "Alice@Example.COM",
        {"emails": ["Alice@example.com"]},
        True,
        "Alice@Example.COM",
    ),
    ("san_email", "Alice@Example.COM", {"emails": ["alice@example.com"]}, False, None),
    ("san_ip", "10.0.0.7", {"ips": ["10.0.0.7"]}, True, "10.0.0.7"),
    ("san_ip", "10.0.0.7", {"ips": ["::ffff:10.0.0.7"]}, True, "10.0.0.7"),
    ("san_ip", "10.0.0.7", {"ips": ["10.0.0.8"]}, False, None),
    ("san_ip", "::ffff:192.0.2.1", {"ips": ["192.0.2.1"]}, True, "::ffff:192.0.2.1"),
    (
        "san_ip",
        "2001:db8::1",
        {"ips": ["2001:0db8:0000:0000:0000:0000:0000:0001"]},
        True,
        "2001:db8::1",
    ),
    ("san_ip", "2001:DB8::1", {"ips": ["2001:db8::1"]}, True, "2001:DB8::1"),
    ("san_ip", "2001:db8::1", {"ips": ["2001:db8::2"]}, False, None),
    ("san_ip", "10.0.0.7", {"dns": ["10.0.0.7"]}, False, None),
    ("serial", "1234567890", {"serial": 1234567890}, True, "1234567890"),
    ("serial", "1234567890", {"serial": "0x499602d2"}, True, "1234567890"),
    ("serial", "0x499602D2", {"serial": 1234567890}, True, "1234567890"),
    ("serial", "1234567890", {"serial": 1234567891}, False, None),
    ("serial", "1234567890", {"ips": ["1234567890"]}, False, None),
]
IDS = [f"{kind}:{value}<-{sorted(p.items())}" for kind, value, p, _, _ in ROWS]


@pytest.mark.parametrize(("kind", "value", "presented", "matches", "subject"), ROWS, ids=IDS)
def test_matching_table(kind, value, presented, matches, subject, tmp_path: Path):
    snapshot = snapshot_of(tmp_path, client_block(kind, value))
    decision = snapshot.decide(PresentedIdentities.of(**presented), "users", "read")
    assert decision.allowed is matches, decision.message
    assert decision.subject == subject
    if not matches:
        assert decision.reason is DenyReason.UNKNOWN_CLIENT


def test_exact_beats_wildcard(tmp_path: Path):
    snapshot = snapshot_of(
        tmp_path,
        client_block("san_dns", "worker-*.internal.com")
        + client_block(
            "san_dns", "worker-1.internal.com", '{ name = "users", operations = ["write"] }'
        ),
    )
    one = snapshot.decide(PresentedIdentities.of(dns=["worker-1.internal.com"]), "users", "write")
    two = snapshot.decide(PresentedIdentities.of(dns=["worker-2.internal.com"]), "users", "write")
    assert one.allowed
    assert one.subject == "worker-1.internal.com"
    assert not two.allowed
    assert two.reason is DenyReason.OPERATION_NOT_GRANTED


@pytest.mark.parametrize(
    "presented",
    [
        {"uris": ["urn:svc:a"], "dns": ["b.internal"]},
        {"dns": ["a-1.fleet.example.com", "b-1.fleet.example.com"]},
    ],
    ids=["two-exact-clients", "two-wildcard-clients"],
)
def test_one_certificate_matching_two_clients_is_refused(presented, tmp_path: Path):
    snapshot = snapshot_of(
        tmp_path,
        client_block("san_uri", "urn:svc:a")
        + client_block("san_dns", "b.internal")
        + client_block("san_dns", "a-*.fleet.example.com")
        + client_block("san_dns", "b-*.fleet.example.com"),
    )
    decision = snapshot.decide(PresentedIdentities.of(**presented), "users", "read")
    assert not decision.allowed
    assert decision.reason is DenyReason.AMBIGUOUS_CLIENT
    assert "several clients" in decision.message


def test_two_names_of_the_same_client_are_not_ambiguous(tmp_path: Path):
    snapshot = snapshot_of(tmp_path, client_block("san_dns", "*.fleet.example.com"))
    presented = PresentedIdentities.of(dns=["a.fleet.example.com", "b.fleet.example.com"])
    assert snapshot.decide(presented, "users", "read").subject == "a.fleet.example.com"


def test_identities_from_certificate_reads_every_kind():
    ca = pki.create_ca()
    cert = pki.issue_cert(
        ca,
        "client",
        pki.SubjectNames(
            uris=["urn:service:api-gateway"],
            dns=["Worker-3.Internal.com", "*.wild.example.com"],
            emails=["ops@Example.COM"],
            ips=["10.1.2.3", "2001:0db8::0001", "::ffff:192.0.2.9"],
        ),
        serial=0x499602D2,
    )
    got = identities_from_certificate(cert.cert_pem)
    assert got.uris == ("urn:service:api-gateway",)
    assert got.dns == ("worker-3.internal.com",)  # the wildcard SAN identifies nobody
    assert got.emails == ("ops@example.com",)
    assert got.ips == ("10.1.2.3", "2001:db8::1", "192.0.2.9")
    assert got.serial == "1234567890"


def test_certificate_without_sans_is_known_by_serial():
    ca = pki.create_ca()
    cert = pki.issue_cert(ca, "client", pki.SubjectNames(), serial=42)
    assert identities_from_certificate(cert.cert) == PresentedIdentities(serial="42")
