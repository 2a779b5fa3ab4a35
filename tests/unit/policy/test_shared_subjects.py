"""Two clients may never carry the same token subject.

A token names its client by the identifier value as written, and an identity token is
matched back to its client by that subject. A ``serial`` and a ``san_dns`` both written
``1234`` would be one subject for two clients: the holder of the DNS client's identity
token would get the serial client's grants. The validator refuses such policies, and a
snapshot built without it treats the subject as ambiguous, never as the first client.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hessra_core.errors import PolicyError
from hessra_core.policy import DenyReason, Snapshot
from hessra_core.policy.identifiers import canonicalise
from hessra_core.policy.model import Client, Grant, Identifier, IdentifierType, Policy, Resource

from .helpers import client_block, snapshot_of

OTHER = '{ name = "other", operations = ["read"] }'
RESOURCES = "[resources.users]\n[resources.other]\n"

SHARED = [
    ("serial-and-dns", ("serial", "1234"), ("san_dns", "1234")),
    ("ip-and-dns", ("san_ip", "10.0.0.1"), ("san_dns", "10.0.0.1")),
    ("email-and-uri", ("san_email", "mailto:a@b.test"), ("san_uri", "mailto:a@b.test")),
]


@pytest.mark.parametrize(("first", "second"), [r[1:] for r in SHARED], ids=[r[0] for r in SHARED])
def test_validator_refuses_two_clients_with_one_subject(
    first: tuple[str, str], second: tuple[str, str], tmp_path: Path
) -> None:
    with pytest.raises(PolicyError) as info:
        snapshot_of(tmp_path, client_block(*first) + client_block(*second, OTHER), RESOURCES)
    assert "same token subject" in str(info.value)
    assert "clients.toml:" in str(info.value)


WILDCARDS = [
    ("numeric-tail", "*.0.0.1", False),
    ("partial-numeric-tail", "1*.0.0.1", False),
    ("numeric-middle", "*.10.example.com", True),
    ("name-tail", "*.internal.com", True),
]


@pytest.mark.parametrize(
    ("pattern", "valid"), [r[1:] for r in WILDCARDS], ids=[r[0] for r in WILDCARDS]
)
def test_wildcard_must_not_match_ip_address_text(pattern: str, valid: bool, tmp_path: Path) -> None:
    # `*.0.0.1` fits the DNS SAN `10.0.0.1`, whose subject is a san_ip client's subject.
    body = client_block("san_dns", pattern) + client_block("san_ip", "10.0.0.1", OTHER)
    if valid:
        snapshot = snapshot_of(tmp_path, body, RESOURCES)
        assert snapshot.decide_subject("10.0.0.1", "other", "read").allowed
        return
    with pytest.raises(PolicyError) as info:
        snapshot_of(tmp_path, body, RESOURCES)
    assert "ends in a number" in str(info.value)


def _client(kind: IdentifierType, value: str, resource: str) -> Client:
    return Client(Identifier(kind, value, canonicalise(kind, value)), (Grant(resource, ("read",)),))


SUBJECTS = [
    ("serial-first", IdentifierType.SERIAL, IdentifierType.SAN_DNS, "1234"),
    ("dns-first", IdentifierType.SAN_DNS, IdentifierType.SERIAL, "1234"),
    ("ip-first", IdentifierType.SAN_IP, IdentifierType.SAN_DNS, "10.0.0.1"),
]


@pytest.mark.parametrize(
    ("first", "second", "subject"), [r[1:] for r in SUBJECTS], ids=[r[0] for r in SUBJECTS]
)
def test_shared_subject_is_ambiguous_not_the_first_client(
    first: IdentifierType, second: IdentifierType, subject: str
) -> None:
    # Built without the validator, as a snapshot from elsewhere could be.
    policy = Policy(
        "0.2.0",
        "",
        (_client(first, subject, "users"), _client(second, subject, "other")),
        (Resource("other"), Resource("users")),
    )
    snapshot = Snapshot.build(policy, revision="test")
    for resource in ("users", "other"):
        decision = snapshot.decide_subject(subject, resource, "read")
        assert not decision.allowed
        assert decision.reason is DenyReason.AMBIGUOUS_CLIENT
        assert f"{first.value}:{subject}" in decision.message
        assert f"{second.value}:{subject}" in decision.message
    assert snapshot.match_subject(subject) is None
