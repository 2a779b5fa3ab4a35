"""Identity tokens: who the holder is, delegation that only narrows, short-lived derivatives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hessra_core import errors
from hessra_core.keys import KeyPair
from hessra_core.tokens import (
    JIT_TTL,
    claimed_actor,
    delegate_identity_token,
    jit_identity_token,
    mint_identity_token,
    mint_token,
    verify_identity_token,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ALICE = "urn:hessra:alice"

COVERAGE = [
    # (id, delegatable, actor, covered)
    ("self", True, ALICE, True),
    ("child", True, f"{ALICE}:agent", True),
    ("grandchild", True, f"{ALICE}:agent:task", True),
    ("prefix-without-colon", True, f"{ALICE}x", False),
    ("parent", True, "urn:hessra", False),
    ("other", True, "urn:hessra:bob", False),
    ("exact-self", False, ALICE, True),
    ("exact-child", False, f"{ALICE}:agent", False),
]


@pytest.mark.parametrize(
    ("delegatable", "actor", "covered"), [c[1:] for c in COVERAGE], ids=[c[0] for c in COVERAGE]
)
def test_which_actors_an_identity_covers(
    root: KeyPair, delegatable: bool, actor: str, covered: bool
) -> None:
    token = mint_identity_token(
        root, subject=ALICE, ttl=3600, delegatable=delegatable, now=NOW
    ).token
    if covered:
        verified = verify_identity_token(token, root.public_key, actor=actor, now=NOW)
        assert (verified.subject, verified.actor) == (ALICE, actor)
        assert verified.expires_at == NOW + timedelta(hours=1)
    else:
        with pytest.raises(errors.IdentityMismatchError, match="does not cover"):
            verify_identity_token(token, root.public_key, actor=actor, now=NOW)


def test_identity_expires(root: KeyPair) -> None:
    token = mint_identity_token(root, subject=ALICE, ttl=60, now=NOW).token
    with pytest.raises(errors.TokenExpiredError):
        verify_identity_token(token, root.public_key, actor=ALICE, now=NOW + timedelta(minutes=2))


def test_domain_restricted_identity(root: KeyPair) -> None:
    token = mint_identity_token(root, subject=ALICE, ttl=60, domain="app.example", now=NOW).token
    verify_identity_token(token, root.public_key, actor=ALICE, domain="app.example", now=NOW)
    for domain in (None, "evil.example"):
        with pytest.raises(errors.DomainMismatchError):
            verify_identity_token(token, root.public_key, actor=ALICE, domain=domain, now=NOW)


def test_delegation_narrows_and_shortens(root: KeyPair) -> None:
    token = mint_identity_token(root, subject=ALICE, ttl=3600, now=NOW).token
    agent = delegate_identity_token(
        token, child="agent", ttl=60, root_keys=root.public_key, now=NOW
    )
    verify_identity_token(agent, root.public_key, actor=f"{ALICE}:agent", now=NOW)
    verify_identity_token(agent, root.public_key, actor=f"{ALICE}:agent:sub", now=NOW)
    for actor in (ALICE, f"{ALICE}:other", f"{ALICE}:agentx"):
        with pytest.raises(errors.IdentityMismatchError):
            verify_identity_token(agent, root.public_key, actor=actor, now=NOW)
    # The delegated block expires long before the parent.
    with pytest.raises(errors.TokenExpiredError) as info:
        verify_identity_token(
            agent, root.public_key, actor=f"{ALICE}:agent", now=NOW + timedelta(minutes=2)
        )
    assert info.value.expired_at == NOW + timedelta(seconds=60)
    verified = verify_identity_token(agent, root.public_key, actor=f"{ALICE}:agent", now=NOW)
    assert verified.expires_at == NOW + timedelta(seconds=60)


def test_delegation_chains_extend_the_narrowest_identity(root: KeyPair) -> None:
    token = mint_identity_token(root, subject=ALICE, ttl=3600, now=NOW).token
    once = delegate_identity_token(
        token, child="agent", ttl=600, root_keys=root.public_key, now=NOW
    )
    twice = delegate_identity_token(once, child="task", ttl=60, root_keys=root.public_key, now=NOW)
    assert claimed_actor(token, root.public_key) == ALICE
    assert claimed_actor(once, root.public_key) == f"{ALICE}:agent"
    assert claimed_actor(twice, root.public_key) == f"{ALICE}:agent:task"
    verify_identity_token(twice, root.public_key, actor=f"{ALICE}:agent:task", now=NOW)
    with pytest.raises(errors.IdentityMismatchError):
        verify_identity_token(twice, root.public_key, actor=f"{ALICE}:agent", now=NOW)


def test_non_delegatable_identity_cannot_be_delegated(root: KeyPair) -> None:
    token = mint_identity_token(root, subject=ALICE, ttl=60, delegatable=False, now=NOW).token
    with pytest.raises(errors.IdentityMismatchError):
        delegate_identity_token(token, child="agent", ttl=30, root_keys=root.public_key, now=NOW)


def test_jit_derivative_lives_seconds_and_keeps_the_identity(root: KeyPair) -> None:
    token = mint_identity_token(root, subject=ALICE, ttl=3600, now=NOW).token
    jit = jit_identity_token(token, root_keys=root.public_key, now=NOW)
    verify_identity_token(jit, root.public_key, actor=ALICE, now=NOW)
    with pytest.raises(errors.IdentityMismatchError):
        verify_identity_token(jit, root.public_key, actor="urn:hessra:bob", now=NOW)
    later = NOW + timedelta(seconds=JIT_TTL)
    with pytest.raises(errors.TokenExpiredError):
        verify_identity_token(jit, root.public_key, actor=ALICE, now=later)
    verify_identity_token(token, root.public_key, actor=ALICE, now=later)


def test_authorization_token_is_not_an_identity(root: KeyPair) -> None:
    token = mint_token(root, subject=ALICE, resource="r", operation="o", now=NOW).token
    with pytest.raises(errors.IdentityMismatchError):
        verify_identity_token(token, root.public_key, actor=ALICE, now=NOW)


def test_identity_lifetime_is_bounded(root: KeyPair) -> None:
    with pytest.raises(ValueError, match="ttl"):
        mint_identity_token(root, subject=ALICE, ttl=0)
    with pytest.raises(ValueError, match="ttl"):
        mint_identity_token(root, subject=ALICE, ttl=86_401)


def test_delegation_needs_the_trusted_root(root: KeyPair, other_root: KeyPair) -> None:
    token = mint_identity_token(other_root, subject=ALICE, ttl=60, now=NOW).token
    with pytest.raises(errors.SignatureError):
        delegate_identity_token(token, child="a", ttl=30, root_keys=root.public_key, now=NOW)
