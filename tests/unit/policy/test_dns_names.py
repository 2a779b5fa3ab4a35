"""What a DNS identifier matches, from a certificate SAN and from a token subject alike.

A wildcard's ``*`` stands for part of one left-most label of a real host name (RFC 6125):
never a label with a colon, a space, a leading hyphen or a non-ASCII letter, never an empty
label, never two labels. The same name gets the same answer whether a certificate
presents it (``decide``) or an identity token carries it as its subject
(``decide_subject``), and an exact ``san_dns`` client beats a wildcard both ways.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hessra_core import pki
from hessra_core.errors import PolicyError
from hessra_core.policy import DenyReason
from hessra_core.x509_identity import PresentedIdentities, identities_from_certificate

from .helpers import client_block, snapshot_of

# (wildcard pattern, presented name, matches?)
NAMES = [
    ("*.partner.test", "a.partner.test", True),
    ("*.partner.test", "A.PARTNER.TEST", True),
    ("*.partner.test", "a.partner.test.", True),
    ("*.partner.test", "xn--bcher-kva.partner.test", True),
    ("*.partner.test", "123456789:x.partner.test", False),
    ("*.partner.test", "a b.partner.test", False),
    ("*.partner.test", "a/b.partner.test", False),
    ("*.partner.test", "-a.partner.test", False),
    ("*.partner.test", "a-.partner.test", False),
    ("*.partner.test", "a\n.partner.test", False),
    ("*.partner.test", "\u212a.partner.test", False),  # KELVIN SIGN lower-cases to "k"
    ("*.partner.test", "b\u00fccher.partner.test", False),
    ("*.partner.test", ".partner.test", False),
    ("*.partner.test", "a..partner.test", False),
    ("*.partner.test", "a.b.partner.test", False),
    ("*.partner.test", "partner.test", False),
    ("*.partner.test", "a.partner.test..", False),
    ("*.partner.test", "a" * 64 + ".partner.test", False),
    ("worker-*.internal.com", "worker-7.internal.com", True),
    ("worker-*.internal.com", "worker-:7.internal.com", False),
    ("worker-*.internal.com", "worker-7-.internal.com", False),
    ("worker-*.internal.com", "worker-.internal.com", False),
]
NAME_IDS = [f"{pattern}<-{name!r}" for pattern, name, _ in NAMES]


@pytest.mark.parametrize(("pattern", "name", "matches"), NAMES, ids=NAME_IDS)
def test_wildcard_matches_one_valid_label(
    pattern: str, name: str, matches: bool, tmp_path: Path
) -> None:
    snapshot = snapshot_of(tmp_path, client_block("san_dns", pattern))
    by_subject = snapshot.decide_subject(name, "users", "read")
    # Built directly, as callers that narrow a certificate's names do: the matcher itself
    # must check the name, not rely on PresentedIdentities.of having filtered it.
    by_names = snapshot.decide(PresentedIdentities(dns=(name,)), "users", "read")
    by_of = snapshot.decide(PresentedIdentities.of(dns=[name]), "users", "read")
    for decision in (by_subject, by_names, by_of):
        assert decision.allowed is matches, decision.message
        if not matches:
            assert decision.reason is DenyReason.UNKNOWN_CLIENT


CERT_NAMES = [
    ("a.partner.test", True),
    ("A.Partner.Test.", True),
    ("123456789:x.partner.test", False),
    ("a b.partner.test", False),
    ("-a.partner.test", False),
]


@pytest.mark.parametrize(("name", "matches"), CERT_NAMES, ids=[n for n, _ in CERT_NAMES])
def test_certificate_and_subject_get_the_same_answer(
    name: str, matches: bool, tmp_path: Path
) -> None:
    snapshot = snapshot_of(tmp_path, client_block("san_dns", "*.partner.test"))
    cert = pki.issue_cert(pki.create_ca(), "c", pki.SubjectNames(dns=[name])).cert
    from_cert = snapshot.decide(identities_from_certificate(cert), "users", "read")
    from_subject = snapshot.decide_subject(name, "users", "read")
    assert from_cert.allowed is matches, from_cert.message
    assert from_subject.allowed is matches, from_subject.message


# An exact client spelled with capitals beside a wildcard with more rights: the name
# `worker-1.internal.com`, however presented, is the exact client.
EXACT_FIRST = [
    "worker-1.internal.com",
    "WORKER-1.internal.com",
    "worker-1.internal.com.",
    "Worker-1.Internal.com",
]


@pytest.mark.parametrize("name", EXACT_FIRST, ids=EXACT_FIRST)
def test_exact_dns_client_beats_wildcard_for_subjects_too(name: str, tmp_path: Path) -> None:
    snapshot = snapshot_of(
        tmp_path,
        client_block("san_dns", "worker-*.internal.com", '{ name = "users", operations = ["*"] }')
        + client_block("san_dns", "Worker-1.Internal.com"),
    )
    for decision in (
        snapshot.decide(PresentedIdentities.of(dns=[name]), "users", "delete"),
        snapshot.decide_subject(name, "users", "delete"),
    ):
        assert not decision.allowed
        assert decision.reason is DenyReason.OPERATION_NOT_GRANTED
        assert decision.subject == "Worker-1.Internal.com"
    assert snapshot.decide_subject(name, "users", "read").allowed


PRESENTED = [
    ("trailing-newline", "a.internal.com\n", ()),
    ("kelvin-sign", "\u212a.internal.com", ()),
    ("upper-and-dot", "A.Internal.COM.", ("a.internal.com",)),
    ("wildcard-san", "*.internal.com", ()),
    ("colon", "a:b.internal.com", ()),
]


@pytest.mark.parametrize(
    ("raw", "expected"), [row[1:] for row in PRESENTED], ids=[row[0] for row in PRESENTED]
)
def test_presented_dns_names_are_host_names(raw: str, expected: tuple[str, ...]) -> None:
    assert PresentedIdentities.of(dns=[raw]).dns == expected


BAD_POLICY_NAMES = [
    ("newline-inside", "a\\n.internal.com"),
    ("kelvin-sign", "\u212a.internal.com"),
    ("wildcard-kelvin-tail", "*.\u212aelvin.com"),
    ("non-ascii", "b\u00fccher.internal.com"),
]


@pytest.mark.parametrize(
    "value", [row[1] for row in BAD_POLICY_NAMES], ids=[row[0] for row in BAD_POLICY_NAMES]
)
def test_policy_dns_names_must_be_ascii_host_names(value: str, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        snapshot_of(tmp_path, client_block("san_dns", value))
    assert "invalid san_dns" in str(info.value)
