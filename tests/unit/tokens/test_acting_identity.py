"""``verify_acting_identity``: verify an identity token for whoever it acts as.

A service that takes identity tokens as credentials (the issuer's identity listener)
has no actor of its own to ask about: the token says who acts, and verification must
establish exactly that identity, never a wider one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hessra_core import errors
from hessra_core.keys import KeyPair
from hessra_core.tokens import (
    delegate_identity_token,
    mint_identity_token,
    mint_token,
    verify_acting_identity,
    verify_identity_token,
)

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ALICE = "urn:hessra:alice"


def _delegated(root: KeyPair, children: list[str], *, delegatable: bool = True) -> str:
    token = mint_identity_token(
        root, subject=ALICE, ttl=3600, delegatable=delegatable, now=NOW
    ).token
    for ttl, child in zip((600, 60), children, strict=False):
        token = delegate_identity_token(
            token, child=child, ttl=ttl, root_keys=root.public_key, now=NOW
        )
    return token


ACTORS = [
    ("plain", [], ALICE),
    ("delegated-once", ["agent"], f"{ALICE}:agent"),
    ("delegated-twice", ["agent", "task"], f"{ALICE}:agent:task"),
]


@pytest.mark.parametrize(("children", "actor"), [a[1:] for a in ACTORS], ids=[a[0] for a in ACTORS])
def test_the_narrowest_identity_acts(root: KeyPair, children: list[str], actor: str) -> None:
    token = _delegated(root, children)
    verified = verify_acting_identity(token, root.public_key, now=NOW)
    assert (verified.subject, verified.actor) == (ALICE, actor)
    # Exactly what verifying for that actor by hand establishes.
    by_hand = verify_identity_token(token, root.public_key, actor=actor, now=NOW)
    assert (by_hand.subject, by_hand.actor, by_hand.expires_at) == (
        verified.subject,
        verified.actor,
        verified.expires_at,
    )


def test_a_non_delegatable_identity_acts_as_itself(root: KeyPair) -> None:
    token = _delegated(root, [], delegatable=False)
    verified = verify_acting_identity(token, root.public_key, now=NOW)
    assert (verified.subject, verified.actor) == (ALICE, ALICE)


def test_an_expired_delegation_is_refused_not_widened(root: KeyPair) -> None:
    # The delegated block lives 600 s, the parent an hour: after the block expires the
    # token must not fall back to acting as the parent.
    token = _delegated(root, ["agent"])
    with pytest.raises(errors.TokenExpiredError):
        verify_acting_identity(token, root.public_key, now=NOW + timedelta(minutes=11))


def test_an_expired_identity_is_refused(root: KeyPair) -> None:
    token = _delegated(root, [])
    with pytest.raises(errors.TokenExpiredError):
        verify_acting_identity(token, root.public_key, now=NOW + timedelta(hours=2))


def test_the_domain_is_checked(root: KeyPair) -> None:
    token = mint_identity_token(root, subject=ALICE, ttl=60, domain="app.example", now=NOW).token
    verified = verify_acting_identity(token, root.public_key, domain="app.example", now=NOW)
    assert verified.actor == ALICE
    with pytest.raises(errors.DomainMismatchError):
        verify_acting_identity(token, root.public_key, domain="evil.example", now=NOW)


REFUSED = [
    ("other-root-key", lambda root, other: (_delegated(root, ["agent"]), other.public_key),
     errors.SignatureError),
    ("not-a-token", lambda root, other: ("not a token", root.public_key),
     errors.MalformedTokenError),
    ("capability-token", lambda root, other: (
        mint_token(root, subject=ALICE, resource="r", operation="o", now=NOW).token,
        root.public_key,
    ), errors.TokenError),
]  # fmt: skip


@pytest.mark.parametrize(("make", "error"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_what_is_not_a_valid_identity_token_is_refused(
    root: KeyPair, make: Callable[[KeyPair, KeyPair], tuple[str, Any]], error: type[Exception]
) -> None:
    token, keys = make(root, KeyPair.generate())
    with pytest.raises(error):
        verify_acting_identity(token, keys, now=NOW)
