"""inspect_token: what a person needs to see in a token, JSON-friendly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from hessra_core import errors
from hessra_core.keys import KeyPair
from hessra_core.tokens import (
    SignerRef,
    add_signoff,
    attest_service_chain_token,
    delegate_identity_token,
    inspect_token,
    mint_identity_token,
    mint_token,
)

from .conftest import Chain

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_simple_token(root: KeyPair) -> None:
    token = mint_token(
        root, subject="alice", resource="orders", operation="read", domain="shop.example",
        revision="main@sha1:abc", now=NOW,
    ).token  # fmt: skip
    info = inspect_token(token, root.public_key)
    assert info.verified
    assert info.kind == "authorization"
    assert info.rights == [("alice", "orders", "read")]
    assert info.expires_at == NOW + timedelta(minutes=5)
    assert info.domain == "shop.example"
    assert info.policy_revision == "main@sha1:abc"
    assert info.root_key_id == root.public_key.key_id
    assert len(info.revocation_ids) == 1
    assert [b.kind for b in info.blocks] == ["authority"]
    assert 'right("alice", "orders", "read");' in info.blocks[0].source
    data = json.loads(json.dumps(info.to_dict()))
    assert data["expires_at"] == "2030-01-01T12:05:00+00:00"
    assert data["rights"] == [["alice", "orders", "read"]]


def test_chain_progress_and_order(root: KeyPair, chain: Chain) -> None:
    legal = KeyPair.generate()
    token = mint_token(
        root, subject="alice", resource="orders", operation="read", service_chain=chain.nodes,
        signers=[SignerRef("legal_dept", legal.public_key)], now=NOW,
    ).token  # fmt: skip
    token = attest_service_chain_token(
        token, chain.keys["gateway"], resource="orders", root_keys=root.public_key
    )
    info = inspect_token(token, root.public_key)
    assert info.attestation_order == ["gateway"]
    assert [(n.component, n.attested_at) for n in info.service_chain] == [
        ("gateway", 0),
        ("fraud_detection", None),
        ("payments", None),
    ]
    assert info.attestation_problem is None
    assert info.required_signoffs == ["legal_dept"]
    assert info.missing_signoffs == ["legal_dept"]

    token = add_signoff(token, legal, signer_name="legal_dept", root_keys=root.public_key, now=NOW)
    token = attest_service_chain_token(
        token, chain.keys["payments"], resource="orders", root_keys=root.public_key
    )
    info = inspect_token(token, root.public_key)
    assert [b.kind for b in info.blocks] == ["authority", "attestation", "signoff", "attestation"]
    assert info.blocks[1].external_key == chain.keys["gateway"].public_key.to_string()
    assert info.attestation_order == ["gateway", "payments"]
    assert info.attestation_problem == "Missing attestation from: fraud_detection"
    assert info.missing_signoffs == []


def test_identity_token(root: KeyPair) -> None:
    token = mint_identity_token(root, subject="urn:alice", ttl=600, now=NOW).token
    token = delegate_identity_token(token, child="bot", ttl=60, root_keys=root.public_key, now=NOW)
    info = inspect_token(token, root.public_key)
    assert info.kind == "identity"
    assert info.subject == "urn:alice"
    assert [b.kind for b in info.blocks] == ["authority", "delegation"]
    assert info.expires_at == NOW + timedelta(seconds=60)
    assert info.acts_as == "urn:alice:bot"
    assert info.to_dict()["acts_as"] == "urn:alice:bot"
    # Without keys the delegation is only a claim: nothing is said about who acts.
    assert inspect_token(token).acts_as is None
    undelegated = mint_identity_token(root, subject="urn:alice", ttl=600, now=NOW).token
    assert inspect_token(undelegated, root.public_key).acts_as == "urn:alice"


def test_without_keys_nothing_is_verified(root: KeyPair) -> None:
    token = mint_token(root, subject="alice", resource="orders", operation="read", now=NOW).token
    info = inspect_token(token)
    assert not info.verified
    assert info.notes
    assert info.rights == [("alice", "orders", "read")]
    assert info.root_key_id == root.public_key.key_id


def test_inspect_with_the_wrong_key_raises(root: KeyPair, other_root: KeyPair) -> None:
    token = mint_token(root, subject="a", resource="b", operation="c", now=NOW).token
    with pytest.raises(errors.SignatureError):
        inspect_token(token, other_root.public_key)
    with pytest.raises(errors.MalformedTokenError):
        inspect_token("not a token")
